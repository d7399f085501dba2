"""ELISA layouts in leptotwin.formats: the standard role, its columns, files, merge, errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.formats import (
    ELISA_LAYOUT_COLUMNS,
    ELISA_ROLES,
    merge_elisa_plate,
    plate_wells,
    read_elisa_layout,
    read_plate_reader,
    validate_elisa_layout,
    validate_layout,
    write_elisa_layout,
    write_plate_reader,
)

HEADER = ",".join(ELISA_LAYOUT_COLUMNS)
GOOD = f"""# AREG ELISA, plate E01
{HEADER}
E01,A1,standard,,,2000,
E01,A02,STD,,,1000,
E01,B01,calibrator,,,500,
E01,H01,blank,,,,
E01,H02,zero,,,,
E01,A03,sample,S001,AR,,4
E01,A04,unknown,S001,AR,,4
E01,C03,sample,S002,parental,,
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _readings(plates=("E01",), seed=0):
    """96-well readings (OD) for each plate id."""
    rng = np.random.default_rng(seed)
    wells = plate_wells(96)["well"]
    frames = [pd.DataFrame({"plate": p, "well": wells, "signal": rng.uniform(0, 3, 96)})
              for p in plates]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- good layouts
def test_read_elisa_layout_standard_blank_sample(tmp_path):
    lay = read_elisa_layout(_write(tmp_path, "layout.csv", GOOD))
    assert list(lay.columns) == list(ELISA_LAYOUT_COLUMNS)
    assert lay.attrs["source"].endswith("layout.csv")
    by = lay.set_index("well")
    assert list(by["role"]) == ["standard"] * 3 + ["blank"] * 2 + ["sample"] * 3
    assert set(lay["role"]) <= set(ELISA_ROLES)
    assert by.loc["A01", "nominal_pg_mL"] == 2000.0 and by.loc["B01", "nominal_pg_mL"] == 500.0
    assert (by.loc[["H01", "H02"], "nominal_pg_mL"] == 0.0).all()  # the zero standard
    assert np.isnan(by.loc["A03", "nominal_pg_mL"])
    assert by.loc["A03", "dilution"] == 4.0 and by.loc["C03", "dilution"] == 1.0  # default 1
    assert by.loc["A04", "sample_id"] == "S001" and by.loc["C03", "group"] == "parental"


def test_semicolons_decimal_comma_and_no_plate_column(tmp_path):
    text = "Well;Role;Sample_ID;Nominal_pg_mL;Dilution\nA1;std;;62,5;\nA3;unknown;u1;;2,5\n"
    lay = read_elisa_layout(_write(tmp_path, "eu.csv", text))
    assert lay["plate"].eq("").all()
    assert lay["nominal_pg_mL"].iloc[0] == 62.5 and lay["dilution"].iloc[1] == 2.5


def test_write_then_read_is_the_same_layout(tmp_path):
    lay = read_elisa_layout(_write(tmp_path, "in.csv", GOOD))
    path = write_elisa_layout(tmp_path / "out.csv", lay)
    text = path.read_text()
    assert text.splitlines()[0] == HEADER
    assert text.splitlines()[1] == "E01,A01,standard,,,2000.0,"  # dilution only for samples
    pd.testing.assert_frame_equal(read_elisa_layout(path), lay, check_dtype=False)


def test_well_table_without_wells_for_the_fitter():
    table = pd.DataFrame({"role": ["standard", "blank", "sample"], "nominal_pg_mL": [100, 0, None],
                          "sample_id": ["", "", "s"], "signal": [1.0, 0.1, 0.5]})  # fmt: skip
    lay = validate_elisa_layout(table, well_optional=True)
    assert lay["well"].eq("").all() and list(lay.columns)[-1] == "signal"
    with pytest.raises(LeptotwinError, match="layout: well: missing column"):
        validate_elisa_layout(table)


# --------------------------------------------------------------------------- bad layouts
@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("E01,B02,standard,,,,", r"line 3, column nominal_pg_mL: standard without a positive "
                                 r"nominal concentration; expected a concentration > 0 in pg/mL"),
        ("E01,B02,standard,,,-5,", r"line 3, column nominal_pg_mL: standard without a positive "
                                   r"nominal concentration \(got '-5'\)"),
        ("E01,B02,standard,,,1e3 pg,", r"line 3, column nominal_pg_mL: non-numeric concentration"),
        ("E01,B02,sample,,,,2", r"line 3, column sample_id: sample well without a sample_id"),
        ("E01,B02,sample,S1,,,0", r"line 3, column dilution: dilution factor must be > 0"),
        ("E01,B02,sample,S1,,,x4", r"line 3, column dilution: non-numeric dilution factor"),
        ("E01,B02,vehicle,,,,", r"line 3, column role: unknown well role \(got 'vehicle'\); "
                                r"expected one of standard, blank, sample, empty"),
        ("E01,A1,blank,,,,", r"line 2 and line 3: duplicated well \(got 'E01 A01'\)"),
        (",B02,blank,,,,", r"line 3, column plate: empty plate id"),
        ("E01,B13,blank,,,,", r"line 3, column well: not a well of a 96-well plate"),
    ],
)  # fmt: skip
def test_layout_errors_are_one_line_naming_file_line_and_column(tmp_path, row, match):
    path = _write(tmp_path, "bad.csv", f"{HEADER}\nE01,A01,standard,,,2000,\n{row}\n")
    with pytest.raises(LeptotwinError, match=r"bad\.csv: " + match) as info:
        read_elisa_layout(path, plate_format=96)
    assert "\n" not in str(info.value)
    assert info.value.source == str(path) and info.value.field.startswith("line")


def test_in_memory_errors_name_the_row():
    table = pd.DataFrame({"well": ["A1", "A2"], "role": ["standard", "std"],
                          "nominal_pg_mL": [100.0, np.nan]})  # fmt: skip
    with pytest.raises(LeptotwinError, match="table: row 1, column nominal_pg_mL: standard"):
        validate_elisa_layout(table, source="table")
    with pytest.raises(LeptotwinError, match="expected a table"):
        validate_elisa_layout([("A1", "standard")])  # type: ignore[arg-type]


def test_missing_empty_and_unreadable_files(tmp_path):
    with pytest.raises(LeptotwinError, match="file not found"):
        read_elisa_layout(tmp_path / "none.csv")
    with pytest.raises(LeptotwinError, match="empty layout file"):
        read_elisa_layout(_write(tmp_path, "empty.csv", "# only a comment\n"))
    with pytest.raises(LeptotwinError, match="duplicated column header"):
        read_elisa_layout(_write(tmp_path, "dup.csv", "well,role,Role\nA1,blank,blank\n"))
    with pytest.raises(LeptotwinError, match=r"missing\.csv: role: missing column"):
        read_elisa_layout(_write(tmp_path, "missing.csv", "well\nA1\n"))


# --------------------------------------------------------------------------- merge
def test_merge_elisa_plate_one_row_per_layout_well(tmp_path):
    reads = _readings(seed=1)
    lay = read_elisa_layout(_write(tmp_path, "layout.csv", GOOD))
    merged = merge_elisa_plate(reads.drop(index=[2]).reset_index(drop=True), lay)  # no A03
    assert list(merged.columns) == [*ELISA_LAYOUT_COLUMNS, "signal", "flag"]
    assert list(merged["well"]) == list(lay["well"])
    by = merged.set_index("well")
    signal = reads.set_index("well")["signal"]
    assert by.loc["A01", "signal"] == signal["A01"] and by.loc["A01", "flag"] == "ok"
    assert np.isnan(by.loc["A03", "signal"]) and by.loc["A03", "flag"] == "missing"


def test_layout_without_plate_applies_to_every_plate():
    lay = pd.DataFrame({"well": ["A1", "H1"], "role": ["standard", "blank"],
                        "nominal_pg_mL": [100.0, np.nan]})  # fmt: skip
    merged = merge_elisa_plate(_readings(("E01", "E02"), seed=2), lay)
    assert merged["plate"].tolist() == ["E01", "E01", "E02", "E02"]


def test_layout_that_does_not_match_the_plate_names_the_file(tmp_path):
    write_plate_reader(tmp_path / "export.csv", _readings(("E01",), seed=3))
    reads = read_plate_reader(tmp_path / "export.csv")
    other = _write(tmp_path, "other.csv", f"{HEADER}\nE02,A01,blank,,,,\n")
    with pytest.raises(LeptotwinError, match=r"other\.csv: plate: plate in the layout has no "
                                             r"readings \(got 'E02'\)"):  # fmt: skip
        merge_elisa_plate(reads, read_elisa_layout(other))
    off = _write(tmp_path, "off.csv", f"{HEADER}\nE01,A01,blank,,,,\nE01,I01,blank,,,,\n")
    with pytest.raises(LeptotwinError, match=r"off\.csv: plate E01, well I01: layout well is "
                                             r"not on the 96-well plate") as info:  # fmt: skip
        merge_elisa_plate(reads, read_elisa_layout(off))
    assert "\n" not in str(info.value)
    two = _write(tmp_path, "two.csv", f"{HEADER}\nE01,A01,blank,,,,\n")
    both = pd.concat([reads, reads.assign(plate="E03")], ignore_index=True)
    both.attrs["source"] = reads.attrs["source"]
    with pytest.raises(LeptotwinError, match=r"export\.csv: plate: plate has readings but no "
                                             r"layout \(got 'E03'\)"):  # fmt: skip
        merge_elisa_plate(both, read_elisa_layout(two))


def test_standard_role_check_does_not_change_dose_response_layouts():
    """``standard`` is an ELISA role only: the dose-response layout still refuses it."""
    with pytest.raises(LeptotwinError, match=re.escape("unknown role (got 'standard')")):
        validate_layout(pd.DataFrame({"well": ["A1"], "role": ["standard"]}))


# --------------------------------------------------------------------------- issue 12
@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("well,role\nA1,standard\nA2,blank\n", r"nominal_pg_mL: missing column; expected a "
                                               r"nominal_pg_mL column with each standard's"),
        ("well,role,nominal_pg_mL\nA1,standard,100\nA3,sample,\n", r"sample_id: missing column"),
    ],
)  # fmt: skip
def test_missing_column_is_named_not_blamed_on_the_rows(tmp_path, text, match):
    """Was 'standard without a positive nominal concentration' for a layout without the column."""
    with pytest.raises(LeptotwinError, match=r"lay\.csv: " + match):
        read_elisa_layout(_write(tmp_path, "lay.csv", text))


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("E01,B02,standard,,,1e308,", r"line 3, column nominal_pg_mL: concentration of 1 g/mL or "
                                      r"more \(got '1e308'\)"),
        ("E01,B02,standard,,,inf,", r"line 3, column nominal_pg_mL: non-numeric concentration"),
        ("E01,B02,sample,S1,,,1e308", r"line 3, column dilution: dilution factor of 1e9 or more"),
        ("E01,B02,sample,S1,,,1e999", r"line 3, column dilution: dilution factor is beyond the "
                                      r"range of numbers"),
        ("E01,B02,sample,S1,,,nan", r"line 3, column dilution: non-numeric dilution factor"),
    ],
)  # fmt: skip
def test_absurd_numbers_are_refused(tmp_path, row, match):
    """1e308 standards or dilutions were accepted and overflowed into RuntimeWarnings later."""
    path = _write(tmp_path, "bad.csv", f"{HEADER}\nE01,A01,standard,,,2000,\n{row}\n")
    with pytest.raises(LeptotwinError, match=r"bad\.csv: " + match):
        read_elisa_layout(path)
