"""Reading and checking SynergyFinder tables: every bad input of issue 12 with the exact file
that exposed it, SynergyFinder's column-name variants, units through pint."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis.synergy import read_synergy, synergy_scores
from leptotwin.errors import LeptotwinError
from refdata import SYNERGY

MATHEWS = SYNERGY / "mathews_screening_data.csv"
ONEIL = SYNERGY / "ONEIL_screening_data.csv"


@pytest.fixture(scope="module")
def mathews() -> pd.DataFrame:
    return pd.read_csv(MATHEWS)


def _write(tmp_path, frame: pd.DataFrame, name: str = "m.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


# ----------------------------------------------------------------------- issue 12, point 4
def test_unknown_unit_furlong_is_refused_with_file_line_and_what_is_accepted(tmp_path, mathews):
    """Issue 12: ``conc_c_unit=furlong`` was scored and exited 0."""
    bad = mathews.copy()
    bad.loc[4, "conc_c_unit"] = "furlong"
    path = _write(tmp_path, bad)
    with pytest.raises(LeptotwinError) as err:
        read_synergy(path)
    text = _one_line(err)
    assert text.startswith(f"{path}: line 6, column conc_c_unit: not a concentration unit")
    assert "'furlong'" in text and "nM" in text and "ng/mL" in text
    with pytest.raises(LeptotwinError, match="column conc_c_unit.*'furlong'"):
        synergy_scores(bad, methods=["Bliss"])


def test_negative_concentration_is_refused_naming_file_line_column_value(tmp_path, mathews):
    """Issue 12: a negative concentration only flagged its block in qc.csv."""
    bad = mathews.copy()
    bad.loc[6, "conc_r"] = -2500.0
    path = _write(tmp_path, bad)
    with pytest.raises(LeptotwinError) as err:
        read_synergy(path)
    assert _one_line(err) == (
        f"{path}: line 8, column conc_r: negative concentration (got '-2500.0'); "
        "expected a concentration >= 0"
    )
    with pytest.raises(LeptotwinError, match="row 6, column conc_r: negative concentration"):
        synergy_scores(bad, methods=["Bliss"])


def test_fractions_read_as_percent_are_refused_unless_said(tmp_path, mathews):
    """Issue 12: the Mathews responses divided by 100 (viability fractions up to 1.87) were
    scored as % (Bliss then near 0 whatever the data). They are refused, with the way out; said
    explicitly, fractions are scored as the same data in %."""
    frac = mathews.assign(response=mathews["response"] / 100)
    with pytest.raises(LeptotwinError) as err:
        synergy_scores(frac, methods=["Bliss"], scale="viability")
    text = _one_line(err)
    assert "look like fractions" in text and "multiply by 100" in text
    assert "--response-unit fraction" in text
    as_frac = synergy_scores(frac, methods=["Bliss"], scale="viability", response_unit="fraction")
    as_pct = synergy_scores(mathews, methods=["Bliss"], scale="viability")
    np.testing.assert_allclose(
        as_frac.per_dose["score"], as_pct.per_dose["score"], rtol=1e-12, atol=1e-12
    )
    assert as_frac.settings["response_unit"] == "fraction"
    # said to be % (a table where nothing happens), it is scored as given
    synergy_scores(frac, methods=["Bliss"], scale="viability", response_unit="percent")
    with pytest.raises(LeptotwinError, match="unknown response unit"):
        synergy_scores(mathews, methods=["Bliss"], response_unit="pct")


def test_percent_tables_with_many_inactive_wells_are_not_taken_for_fractions(mathews):
    """Most wells near 0 % but some effect (beyond 10 points): % data, scored as given."""
    quiet = mathews.assign(response=np.where(mathews.index % 4 == 0, mathews.response, 0.5))
    res = synergy_scores(quiet, methods=["Bliss"])
    assert (res.qc["status"] == "ok").all()


def test_mixed_units_in_a_block_are_converted_with_pint_and_noted_in_qc(mathews):
    """Issue 12: a block whose 2500 nM wells are written as 2.5 µM was only flagged. The wells
    are converted (pint: 1 µM = 1000 nM) to the unit most wells use; the scores equal those of
    the file in one unit, and qc says what was converted."""
    mixed = mathews.copy()
    at = mixed["conc_r"] == 2500
    mixed.loc[at, "conc_r"] = 2.5
    mixed.loc[at, "conc_r_unit"] = "µM"
    want = synergy_scores(mathews, methods=["Bliss", "ZIP"], scale="viability")
    got = synergy_scores(mixed, methods=["Bliss", "ZIP"], scale="viability")
    pd.testing.assert_frame_equal(got.per_dose, want.per_dose)
    assert list(got.qc["status"]) == ["ok", "ok"]
    assert list(got.qc["note"]) == ["conc_r converted to nM: 6 wells from µM"] * 2
    assert list(want.qc["note"]) == ["", ""]


def test_spellings_of_one_unit_are_one_unit(mathews):
    """uM, µM (U+00B5) and μM (U+03BC) in one block: one unit, no conversion, no note."""
    spelled = mathews.assign(
        conc_r=mathews["conc_r"] / 1000,
        conc_r_unit=np.array(["uM", "\u00b5M", "\u03bcM"])[mathews.index % 3],
    )
    res = synergy_scores(spelled, methods=["Bliss"], scale="viability")
    assert list(res.qc["status"]) == ["ok", "ok"] and list(res.qc["note"]) == ["", ""]
    assert set(res.per_dose["conc_r_unit"]) == {"µM"}


def test_molar_and_mass_units_for_one_drug_in_one_block_are_refused(tmp_path, mathews):
    mixed = mathews.copy()
    mixed.loc[3, "conc_c_unit"] = "ng/mL"
    path = _write(tmp_path, mixed)
    with pytest.raises(LeptotwinError) as err:
        read_synergy(path)
    text = _one_line(err)
    assert f"{path}: line 5, column conc_c_unit" in text and "nM and in ng/mL" in text


def test_a_1e308_response_is_refused_in_one_line_without_warnings(tmp_path, mathews):
    """Issue 12: 1e308 responses gave raw RuntimeWarnings (overflow in the fits)."""
    bad = mathews.copy()
    bad.loc[2, "response"] = 1e308
    path = _write(tmp_path, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(LeptotwinError) as err:
            read_synergy(path)
        text = _one_line(err)
        assert text.startswith(f"{path}: line 4, column response: response out of range")
        with pytest.raises(LeptotwinError, match="response out of range"):
            synergy_scores(bad)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("conc_c", "1e308", r"concentration too high for a dose \(a typo\?\)"),
        ("conc_c", "1e9", "concentration too high"),
        ("conc_c", "inf", "infinite value"),
        ("response", "high", "not a number"),
        ("conc_r", "2,5", "not a number"),
    ],
)
def test_bad_numbers_name_their_line(tmp_path, mathews, column, value, message):
    bad = mathews.astype({column: object})
    bad.loc[9, column] = value
    path = _write(tmp_path, bad)
    with pytest.raises(LeptotwinError, match=rf"line 11, column {column}: {message}"):
        read_synergy(path)


def test_nan_cells_flag_their_block_and_na_spellings_are_missing(tmp_path, mathews):
    bad = mathews.astype({"response": object})
    bad.loc[0, "response"] = "NA"
    res = synergy_scores(read_synergy(_write(tmp_path, bad)), methods=["Bliss"], scale="viability")
    assert list(res.qc["status"]) == ["missing_value", "ok"]


# ----------------------------------------------------------------------- issue 12, point 3
def test_empty_file(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(b"")
    with pytest.raises(LeptotwinError, match=r"e\.csv: empty file; expected SynergyFinder"):
        read_synergy(path)
    path.write_text("\n  \n")
    with pytest.raises(LeptotwinError, match="empty file"):
        read_synergy(path)


def test_header_only_file(tmp_path, mathews):
    path = _write(tmp_path, mathews.iloc[:0])
    with pytest.raises(LeptotwinError, match="no data rows"):
        read_synergy(path)


def test_binary_file(tmp_path):
    path = tmp_path / "b.csv"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(LeptotwinError, match=r"b\.csv: binary file, not a CSV table"):
        read_synergy(path)


def test_a_folder_or_a_missing_file(tmp_path):
    with pytest.raises(LeptotwinError, match="not a file"):
        read_synergy(tmp_path)
    with pytest.raises(LeptotwinError, match="file not found"):
        read_synergy(tmp_path / "none.csv")


def test_a_table_without_block_id_names_the_file_and_the_column(tmp_path, mathews):
    """Issue 12: ``KeyError: 'block_id'``."""
    path = _write(tmp_path, mathews.drop(columns="block_id"))
    with pytest.raises(LeptotwinError) as err:
        read_synergy(path)
    text = _one_line(err)
    assert text.startswith(f"{path}: block_id: missing column block_id (the table has: drug_row")
    assert "PairIndex" in text and "conc_unit" in text


def test_unknown_table_names_the_columns_it_needs(tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("foo,bar\n1,2\n3,4\n")
    with pytest.raises(LeptotwinError, match=r"missing column block_id \(the table has: foo, bar"):
        read_synergy(path)


# ----------------------------------------------------------------------- SynergyFinder's names
@pytest.mark.parametrize(
    "names",
    [
        # SynergyFinder 1.x (ReshapeData): BlockID/DrugRow/... with one ConcUnit
        ["BlockID", "DrugRow", "DrugCol", "ConcRow", "ConcCol", "Response", "ConcUnit", None],
        # SynergyFinder 2.x documentation: ConcRowUnit/ConcColUnit
        ["BlockId", "DrugRow", "DrugCol", "ConcRow", "ConcCol", "Response", "ConcRowUnit",
         "ConcColUnit"],
        # older still: PairIndex
        ["PairIndex", "DrugRow", "DrugCol", "ConcRow", "ConcCol", "Response", "ConcUnit", None],
        # SynergyFinder 3 (drug1, conc1, conc_unit1 ...)
        ["block_id", "drug1", "drug2", "conc1", "conc2", "response", "conc_unit1", "conc_unit2"],
        ["block_id", "drug1", "drug2", "conc1", "conc2", "Inhibition", "conc_unit", None],
        # issue 15 item 6: SynergyFinder's ReshapeData needs only conc_unit1 (it fills a missing
        # conc_unit2 from it); refused before with "missing column conc_c_unit"
        ["block_id", "drug1", "drug2", "conc1", "conc2", "response", "conc_unit1", None],
        ["block_id", "drug_row", "drug_col", "conc_r", "conc_c", "response", "conc_r_unit", None],
    ],
)  # fmt: skip
def test_synergyfinder_column_variants_read_alike(tmp_path, mathews, names):
    renamed = mathews.rename(columns=dict(zip(mathews.columns, names, strict=True)))
    renamed = renamed.drop(columns=[c for c in renamed.columns if c is None])
    got = read_synergy(_write(tmp_path, renamed))
    want = read_synergy(MATHEWS)
    pd.testing.assert_frame_equal(got, want)


def test_oneil_old_format_reads_with_its_extra_column():
    df = read_synergy(ONEIL)
    assert list(df.columns[:8]) == ["block_id", "drug_row", "drug_col", "conc_r", "conc_c",
                                    "response", "conc_r_unit", "conc_c_unit"]  # fmt: skip
    assert "cell_line_name" in df.columns and set(df["conc_c_unit"]) == {"uM"}


def test_a_repeated_column_name_in_a_frame_is_refused(mathews):
    twice = pd.concat([mathews, mathews[["response"]]], axis=1)
    with pytest.raises(LeptotwinError, match="response: repeated column name"):
        synergy_scores(twice)


def test_two_columns_for_one_meaning_refused_and_a_third_drug_never_dropped(tmp_path, mathews):
    with pytest.raises(LeptotwinError, match="two columns both give drug_row"):
        read_synergy(_write(tmp_path, mathews.assign(drug1="x")))
    # a third drug column is read as a third drug (never scored as two drugs with its doses
    # taken as replicates); given only at 0 it has too few doses and nothing is scored
    third = read_synergy(_write(tmp_path, mathews.assign(drug3="x", conc3=0.0)))
    assert {"drug3", "conc3", "conc_unit3"} <= set(third.columns)
    res = synergy_scores(third, methods=["Bliss"], scale="viability")
    assert set(res.qc["status"]) == {"too_few_doses"} and res.per_block.empty


# ----------------------------------------------------------------------- text formats
def test_semicolons_windows_1252_and_blank_lines(tmp_path, mathews):
    """Excel in many locales: semicolons, µ as byte 0xB5; blank lines keep line numbers."""
    frame = mathews.assign(conc_r=mathews["conc_r"] / 1000, conc_r_unit="µM")
    text = frame.to_csv(index=False, sep=";")
    lines = text.splitlines()
    path = tmp_path / "excel.csv"
    path.write_bytes("\n".join([lines[0], "", *lines[1:]]).encode("cp1252"))
    got = read_synergy(path)
    assert set(got["conc_r_unit"]) == {"µM"} and len(got) == len(mathews)
    bad = "\n".join([lines[0], "", *lines[1:3], lines[3].replace("µM", "furlong"), *lines[4:]])
    path.write_bytes(bad.encode("cp1252"))
    with pytest.raises(LeptotwinError, match="line 5, column conc_r_unit"):
        read_synergy(path)


def test_ragged_rows_are_one_line(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("block_id,drug_row\n1,a\n1,a,3,4,5\n")
    with pytest.raises(LeptotwinError, match="not a readable CSV table"):
        read_synergy(path)


@pytest.mark.parametrize("data", [b"\x1c", b"\x1e\n\x1d", b"block_id\x1c\n1"])
def test_control_characters_are_a_binary_file(tmp_path, data):
    """Found by the property test: a file of one byte 0x1C (file separator) is blank to
    ``str.strip`` but split as a line by ``str.splitlines``: StopIteration."""
    path = tmp_path / "c.csv"
    path.write_bytes(data)
    with pytest.raises(LeptotwinError, match="binary file"):
        read_synergy(path)


# ----------------------------------------------------------------------- issue 15, item 5
def test_viability_read_as_inhibition_is_flagged_and_needs_an_explicit_scale(mathews):
    """Issue 15 item 5: Mathews' data are % viability (untreated cells 123 and 115); read
    without a scale they scored Bliss -64.7 instead of +10.9 and every block was ``ok``."""
    implicit = synergy_scores(mathews, methods=["Bliss"])
    qc = implicit.qc.set_index(implicit.qc["block_id"].astype(str))
    assert list(qc["status"]) == ["scale_unconfirmed", "scale_unconfirmed"]
    assert qc["scale_suspect"].all() and implicit.settings["scale_given"] is False
    np.testing.assert_allclose(qc["untreated_response"], [122.956184, 115.03824])
    assert (
        "untreated cell reads 123 as inhibition, near full effect: viability?"
        in qc.loc["1", "note"]
    )
    assert "near full effect" in qc.loc["1", "message"]
    given = synergy_scores(mathews, methods=["Bliss"], scale="inhibition").qc
    assert list(given["status"]) == ["ok", "ok"] and given["scale_suspect"].all()
    assert given["note"].str.contains("scale='inhibition' as given").all()
    right = synergy_scores(mathews, methods=["Bliss"], scale="viability")
    assert list(right.qc["status"]) == ["ok", "ok"] and not right.qc["scale_suspect"].any()
    means = right.per_block.query("statistic == 'mean'")["score"]
    assert means.iloc[0] == pytest.approx(10.86, abs=0.01)
    # the reverse: % inhibition given as viability (untreated cell near 0 viability)
    inhib = mathews.assign(response=100 - mathews["response"])
    rev = synergy_scores(inhib, methods=["Bliss"], scale="viability").qc
    assert rev["scale_suspect"].all() and rev["note"].str.contains("inhibition?").all()
    assert not synergy_scores(inhib, methods=["Bliss"]).qc["scale_suspect"].any()
    with pytest.raises(LeptotwinError, match="block_id: the untreated cell reads near full"):
        synergy_scores(mathews, methods=["Bliss"], strict=True)


def test_the_common_units_are_those_pint_parses():
    """The spellings checked without pint (``_COMMON_UNITS``) give what
    ``concentration_unit`` gives, and the concentration limit is the catalogue's."""
    from leptotwin.analysis import _synergy_input as inp
    from leptotwin.catalog import units

    for text, (molar, factor) in inp._COMMON_UNITS.items():
        spec = units.concentration_unit(text)
        assert (spec.molar, spec.factor) == (molar, factor), text
        assert inp.unit_spec(f" {text} ", source="t", field="f") == (molar, factor)
    assert inp.CONCENTRATION_LIMIT == units.CONCENTRATION_LIMIT
    assert inp.unit_spec("nmol/L", source="t", field="f") == (True, 1.0)  # through pint
    with pytest.raises(LeptotwinError, match="furlong"):
        inp.unit_spec("furlong", source="t", field="f")
