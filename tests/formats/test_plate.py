"""Tests of leptotwin.formats: plate geometry, reader exports, layouts, normalisation."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest

import leptotwin.formats as fm
from leptotwin.errors import LeptotwinError
from leptotwin.formats import (
    PLATE_96,
    PLATE_384,
    format_plate_reader,
    get_plate_format,
    merge_plate,
    normalise_to_controls,
    normalise_well,
    plate_wells,
    read_layout,
    read_plate_reader,
    to_dose_response,
    validate_layout,
    well_position,
    write_layout,
    write_plate_reader,
    z_prime,
)

HAS_OPENPYXL = importlib.util.find_spec("openpyxl") is not None


def _write(tmp_path, name, text, encoding="utf-8", newline="\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def _grid_96(sep=",", fill=lambda r, c: f"{(r + 1) * 100 + c + 1}"):
    lines = [sep + sep.join(str(c) for c in range(1, 13))]
    for r, letter in enumerate("ABCDEFGH"):
        lines.append(letter + sep + sep.join(fill(r, c) for c in range(12)))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- public surface
def test_all_names_exist():
    assert sorted(fm.__all__) == sorted(set(fm.__all__))
    for name in fm.__all__:
        assert hasattr(fm, name), name


# --------------------------------------------------------------------------- geometry
def test_normalise_well_forms():
    assert normalise_well("a1") == "A01"
    assert normalise_well(" B 7") == "B07"
    assert normalise_well("P24") == "P24"
    assert list(normalise_well(["A1", "A01", "h12"], plate_format=96)) == ["A01", "A01", "H12"]


@pytest.mark.parametrize(
    ("well", "fmt"), [("I01", 96), ("A13", 96), ("Q01", 384), ("A25", 384), ("", 96), ("1A", 96)]
)
def test_normalise_well_rejects_wells_off_the_plate(well, fmt):
    with pytest.raises(LeptotwinError, match="not a well of a"):
        normalise_well(well, plate_format=fmt)


def test_plate_format_lookup():
    assert get_plate_format(96) is PLATE_96
    assert get_plate_format("384") is PLATE_384
    assert PLATE_384.n_wells == 384 and PLATE_96.row_letters[-1] == "H"
    with pytest.raises(LeptotwinError, match="unsupported plate format"):
        get_plate_format(1536)


@pytest.mark.parametrize(("fmt", "n_edge"), [(96, 36), (384, 76)])
def test_plate_wells_edges(fmt, n_edge):
    wells = plate_wells(fmt)
    assert len(wells) == fmt and wells["edge"].sum() == n_edge
    assert wells["well"].iloc[0] == "A01" and wells["well"].iloc[-1] in ("H12", "P24")
    inner = wells.set_index("well")["edge"]
    assert inner["A05"] and inner["D01"] and not inner["B02"]


def test_well_position_zero_based():
    row, col = well_position(["A1", "H12", "P24"])
    np.testing.assert_array_equal(row, [0, 7, 15])
    np.testing.assert_array_equal(col, [0, 11, 23])


# --------------------------------------------------------------------------- reader round trip
@pytest.mark.parametrize(("fmt", "seed"), [(96, 11), (384, 12)])
def test_plate_reader_round_trip_exact(tmp_path, fmt, seed):
    rng = np.random.default_rng(seed)
    wells = plate_wells(fmt)["well"]
    frames = []
    for plate in ("P001", "P002"):
        signal = rng.lognormal(8, 1.5, fmt)
        signal[:5] = np.round(signal[:5])  # integral values are written without ".0"
        signal[7] = 1.0e-7
        flag = np.full(fmt, "ok", dtype=object)
        signal[10], flag[10] = np.nan, "overflow"
        signal[11], flag[11] = np.nan, "missing"
        frames.append(pd.DataFrame({"plate": plate, "well": wells, "signal": signal, "flag": flag}))
    readings = pd.concat(frames, ignore_index=True)
    path = write_plate_reader(
        tmp_path / "read.csv",
        readings,
        metadata={"Read type": "Absorbance 570 nm", "Units": "OD", "Date": "2024-05-01"},
    )
    back = read_plate_reader(path)
    pd.testing.assert_frame_equal(back, readings, check_dtype=False)
    assert back["signal"].dtype == np.float64
    meta = back.attrs["metadata"]
    assert list(meta) == ["P001", "P002"]
    assert meta["P002"]["Read type"] == "Absorbance 570 nm" and meta["P001"]["Units"] == "OD"


def test_plate_reader_round_trip_semicolon_decimal_comma(tmp_path):
    rng = np.random.default_rng(13)
    readings = pd.DataFrame(
        {"plate": "X", "well": plate_wells(96)["well"], "signal": rng.normal(0.5, 0.2, 96)}
    )
    path = write_plate_reader(tmp_path / "eu.csv", readings, sep=";", decimal=",")
    assert "0," in path.read_text(encoding="utf-8")
    back = read_plate_reader(path)
    np.testing.assert_array_equal(back["signal"], readings["signal"])


def test_written_format_layout():
    readings = pd.DataFrame({"plate": "P1", "well": ["A1", "B2"], "signal": [5.0, 2.5]})
    text = format_plate_reader(readings, metadata={"Units": "RLU", "Plate": "ignored"})
    lines = text.splitlines()
    assert lines[:5] == [
        "Instrument,leptotwin virtual plate reader",
        "Plate,P1",
        "Read type,Luminescence",
        "Units,RLU",
        "",
    ]
    assert lines[5] == ",1,2,3,4,5,6,7,8,9,10,11,12"
    assert lines[6] == "A,5" + "," * 11 and lines[7] == "B,,2.5" + "," * 10


# --------------------------------------------------------------------------- realistic exports
def test_read_semicolon_decimal_comma_bmg_style(tmp_path):
    text = (
        "User: USER;;\nTest name: CTG 72h;;\nDate: 01.05.2024;;\nID1: PL-7;;\n\n"
        + _grid_96(";", lambda r, c: f"{r},{c}5")
        + ";;\n"
    )
    path = _write(tmp_path, "bmg.csv", text)
    df = read_plate_reader(path)
    assert len(df) == 96 and set(df["plate"]) == {"bmg"}  # no Plate key: the file stem
    got = df.set_index("well")["signal"]
    assert got["A01"] == 0.05 and got["H12"] == 7.115
    assert df.attrs["metadata"]["bmg"]["Test name"] == "CTG 72h"


def test_read_tab_separated_with_overflow(tmp_path):
    grid = _grid_96("\t", lambda r, c: "OVER" if (r, c) == (0, 2) else str(1000 * r + c))
    text = "Plate\tTEC-1\nRead type\tLuminescence\n\n" + grid.replace("\t1\t", "<>\t1\t", 1)
    path = _write(tmp_path, "tecan.txt", text)
    df = read_plate_reader(path).set_index("well")
    assert np.isnan(df.loc["A03", "signal"]) and df.loc["A03", "flag"] == "overflow"
    assert df.loc["B04", "signal"] == 1003.0 and df.loc["B04", "flag"] == "ok"
    assert (df["flag"] == "overflow").sum() == 1


def test_read_bom_crlf_markers_empty_cells(tmp_path):
    def fill(r, c):
        return {(0, 0): "OVRFLW", (1, 1): "*", (2, 2): "", (3, 3): "<0.001"}.get((r, c), "7")

    text = "Plate,CR-1\nUnits,RLU\n\n\n" + _grid_96(",", fill)
    path = _write(tmp_path, "crlf.csv", "\ufeff" + text, newline="\r\n")
    df = read_plate_reader(path).set_index("well")
    assert list(df.loc[["A01", "B02", "C03", "D04", "E05"], "flag"]) == [
        "overflow",
        "overflow",
        "missing",
        "underflow",
        "ok",
    ]
    assert df["signal"].isna().sum() == 4 and df.loc["E05", "signal"] == 7.0
    assert df.attrs["metadata"]["CR-1"]["Units"] == "RLU"


def test_read_utf16_export(tmp_path):
    text = "Plate\tU16\n\n" + _grid_96("\t")
    path = _write(tmp_path, "u16.txt", "\ufeff" + text, encoding="utf-16-le")
    df = read_plate_reader(path)
    assert df["plate"].iloc[0] == "U16" and df["signal"].iloc[-1] == 812.0


def test_read_two_plates_and_trailing_metadata(tmp_path):
    text = (
        "Instrument,EnVision\nPlate,P1\n\n"
        + _grid_96()
        + "\n\n\nPlate,P2\nRead type,Luminescence\n\n"
        + _grid_96(",", lambda r, c: "1")
        + "End time,10:42\n"
    )
    df = read_plate_reader(_write(tmp_path, "two.csv", text))
    assert list(pd.unique(df["plate"])) == ["P1", "P2"]
    assert df.groupby("plate")["signal"].sum().to_dict() == {"P1": 43824.0, "P2": 96.0}
    assert df.attrs["metadata"]["P2"]["End time"] == "10:42"


def test_empty_cells_and_384_inference(tmp_path):
    header = "," + ",".join(str(c) for c in range(1, 25))
    rows = [letter + "," * 24 for letter in "ABCDEFGHIJKLMNOP"]
    rows[0], rows[-1] = "A,1,2" + "," * 22, f"P,{','.join(['3'] * 24)}"
    text = f"Plate,Q\n\n{header}\n" + "\n".join(rows) + "\n"
    df = read_plate_reader(_write(tmp_path, "q.csv", text))
    assert len(df) == 384
    assert df["flag"].eq("missing").sum() == 384 - 26
    assert df.set_index("well").loc["P24", "signal"] == 3.0


@pytest.mark.parametrize(
    ("cut", "match"),
    [
        (lambda t: t.replace("D,", "", 1), r"line 3: the grid has no row D, E, F, G, H \(it stops "
                                           r"at line 7\); expected one line for each row A-H of a "
                                           r"96-well plate"),
        (lambda t: t.replace("\nD,401,", "\n", 1), r"line 3: the grid has no row D"),
        (lambda t: t[: t.index("H,")], r"line 3: the grid has no row H"),
        (lambda t: t[: t.index("F,")], r"line 3: the grid has no row F, G, H"),
        (lambda t: t.rstrip("\n")[:-8], r"line 11: row H has 10 cells but the grid has 12 "
                                         r"columns \(a line cut short or broken in two\?\)"),
        (lambda t: t.replace("C,301,302,", "C,301,302\n", 1), r"line 6: row C has 2 cells"),
        (lambda t: t.replace(",12\n", "\n", 1), r"line 3: grid has 11 columns; a 96-well plate "
                                                 r"has 12"),
    ],
)  # fmt: skip
def test_grid_that_lost_lines_is_refused(tmp_path, cut, match):
    """A grid is a whole plate: a lost row or a file cut short is an error, not missing wells."""
    text = "Plate,P\n\n" + _grid_96()
    with pytest.raises(LeptotwinError, match=match):
        read_plate_reader(_write(tmp_path, "cut.csv", cut(text)))


def test_grid_of_384_with_rows_past_h_needs_24_columns(tmp_path):
    text = "Plate,P\n\n" + _grid_96() + "I,1\n"
    with pytest.raises(LeptotwinError, match=r"line 3: grid has 12 columns; a 384-well plate has "
                                             r"24 \(its rows past H make it one\)"):  # fmt: skip
        read_plate_reader(_write(tmp_path, "i.csv", text))


@pytest.mark.parametrize(
    ("text", "plates"),
    [
        ("well,value\nA1,10\nB2,OVER\nC3,3.5\n", ["long"] * 3),
        ("Plate,Well,Signal\nX1,A1,10\nX1,B2,OVER\nX2,C3,3.5\n", ["X1", "X1", "X2"]),
        ("Plate;Well;RLU\nX1;A1;10\nX1;B2;OVER\nX2;C3;3,5\n", ["X1", "X1", "X2"]),
    ],
)
def test_read_long_table(tmp_path, text, plates):
    df = read_plate_reader(_write(tmp_path, "long.csv", text))
    assert list(df["plate"]) == plates and list(df["well"]) == ["A01", "B02", "C03"]
    assert list(df["flag"]) == ["ok", "overflow", "ok"]
    assert df["signal"].iloc[2] == 3.5


# --------------------------------------------------------------------------- reader errors
def test_reader_error_non_numeric_names_line_and_well(tmp_path):
    text = "Plate,E\n\n" + _grid_96(",", lambda r, c: "abc" if (r, c) == (2, 4) else "1")
    with pytest.raises(LeptotwinError, match=r"bad\.csv: line 6, well C05: reading is not a"):
        read_plate_reader(_write(tmp_path, "bad.csv", text))


def test_reader_error_decimal_hint(tmp_path):
    text = "Plate;E\n\n" + _grid_96(";", lambda r, c: "1.234,5" if (r, c) == (0, 0) else "1")
    with pytest.raises(LeptotwinError, match="',' is the decimal mark"):
        read_plate_reader(_write(tmp_path, "eu.csv", text))


def test_reader_errors_structure(tmp_path):
    with pytest.raises(LeptotwinError, match="no plate grid and no well/value table"):
        read_plate_reader(_write(tmp_path, "x.csv", "hello,world\n1,2\n"))
    with pytest.raises(LeptotwinError, match="line 3: grid header without rows"):
        read_plate_reader(_write(tmp_path, "norows.csv", "Plate,P\n\n" + _grid_96()[:27]))
    twice = "Plate,P\n\n" + _grid_96() + "A,1,2\n"
    with pytest.raises(LeptotwinError, match="line 12: row A appears twice"):
        read_plate_reader(_write(tmp_path, "twice.csv", twice))
    orphan = "Plate,P1\nPlate,P2\n\n" + _grid_96()
    with pytest.raises(LeptotwinError, match="line 2: plate header without a readings grid"):
        read_plate_reader(_write(tmp_path, "orphan.csv", orphan))
    dup = "Plate,P\n\n" + _grid_96() + "Plate,P\n\n" + _grid_96()
    with pytest.raises(LeptotwinError, match="plate id appears twice"):
        read_plate_reader(_write(tmp_path, "dup.csv", dup))
    wide = "Plate,P\n\n" + _grid_96().replace("A,", "A,1,", 1)
    with pytest.raises(LeptotwinError, match="row A has 13 readings but the grid has 12"):
        read_plate_reader(_write(tmp_path, "wide.csv", wide))
    with pytest.raises(LeptotwinError, match="row I is not on a 96-well plate"):
        read_plate_reader(
            _write(tmp_path, "i.csv", "Plate,P\n\n" + _grid_96() + "I,1\n"), plate_format=96
        )
    with pytest.raises(LeptotwinError, match="file not found"):
        read_plate_reader(tmp_path / "nope.csv")
    with pytest.raises(LeptotwinError, match=r"line 3: not a well"):
        read_plate_reader(_write(tmp_path, "l.csv", "well,value\nA1,1\nZ9,2\n"))


def test_xlsx_without_openpyxl_says_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import fails, installed or not
    path = tmp_path / "plate.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(LeptotwinError, match="needs the optional package openpyxl"):
        read_plate_reader(path)
    with pytest.raises(LeptotwinError, match="pip install openpyxl"):
        read_layout(path)


@pytest.mark.skipif(not HAS_OPENPYXL, reason="openpyxl not installed")
def test_xlsx_read_with_openpyxl(tmp_path):  # pragma: no cover - optional dependency
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Plate", "XL"])
    sheet.append([])
    sheet.append([None, *range(1, 13)])
    for letter in "ABCDEFGH":
        sheet.append([letter, *[1.5] * 12])
    book.save(tmp_path / "p.xlsx")
    df = read_plate_reader(tmp_path / "p.xlsx")
    assert df["plate"].iloc[0] == "XL" and (df["signal"] == 1.5).all()


# --------------------------------------------------------------------------- layout
LAYOUT_CSV = (
    ",".join(fm.LAYOUT_COLUMNS)
    + """
P1,A1,blank,,,,,,,,
P1,B01,vehicle,H3122,,,,,,,1
P1,B2,sample,H3122,alectinib,10,,,nM,,1
P1,B3,sample,H3122,alectinib,1.5,,,uM,,1
P1,B4,sample,H3122,alectinib,0.1,crizotinib,100,µM,HGF,1
P1,B5,sample,H3122,alectinib,50,,,ng/mL,,2
P1,C1,positive,H3122,staurosporine,1,,,mM,,
"""
)


def test_read_layout_units(tmp_path):
    lay = read_layout(_write(tmp_path, "layout.csv", LAYOUT_CSV))
    assert list(lay.columns) == [*fm.LAYOUT_COLUMNS, "conc_a_nM", "conc_b_nM"]
    nm = lay.set_index("well")["conc_a_nM"]
    assert nm["B02"] == 10.0 and nm["B03"] == 1500.0 and nm["B04"] == 100.0
    assert nm["C01"] == 1e6 and np.isnan(nm["B05"]) and np.isnan(nm["A01"])
    assert lay.set_index("well").loc["B04", "conc_b_nM"] == 1e5
    assert list(lay["conc_unit"].iloc[2:5]) == ["nM", "µM", "µM"]
    with_mw = read_layout(tmp_path / "layout.csv", molecular_weights={"alectinib": 500.0})
    # 50 ng/mL / 500 g/mol = 1e-7 mol/L = 100 nM
    assert with_mw.set_index("well").loc["B05", "conc_a_nM"] == pytest.approx(100.0, rel=1e-12)


def test_layout_round_trip(tmp_path):
    lay = read_layout(_write(tmp_path, "in.csv", LAYOUT_CSV))
    write_layout(tmp_path / "out.csv", lay)
    again = read_layout(tmp_path / "out.csv")
    pd.testing.assert_frame_equal(again, lay, check_dtype=False)


def test_layout_semicolon_decimal_comma_and_comments(tmp_path):
    text = "# plate map v2\nwell;role;drug_a;conc_a\nA1;sample;x;0,5\n\nA2;VEHICLE;;\n"
    lay = read_layout(_write(tmp_path, "eu.csv", text), conc_unit="uM")
    assert lay["conc_a_nM"].iloc[0] == 500.0 and list(lay["role"]) == ["sample", "vehicle"]
    assert (lay["plate"] == "").all()


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("P1,B2,sample,H,d,ten,,,nM,,", r"bad\.csv: line 3, column conc_a: non-numeric conc"),
        ("P1,B2,sample,H,d,-1,,,nM,,", r"line 3, column conc_a: concentration is not a number >="),
        ("P1,B2,control,H,,,,,,,", r"line 3, column role: unknown role \(got 'control'\)"),
        ("P1,B2,sample,H,d,,,,nM,,", r"line 3, column conc_a: sample well without a concentration"),
        ("P1,B2,sample,H,d,1,e,,nM,,", r"line 3, column conc_b: partner drug without a conc"),
        (
            "P1,B2,sample,H,d,1,,,furlongs,,",
            r"line 3, column conc_unit: not a concentration unit "
            r"\(its dimension is \[length\]\)",
        ),
        (
            "P1,B2,sample,H,d,1,,,zorkmid,,",
            r"line 3, column conc_unit: unknown concentration unit "
            r"\(got 'zorkmid'\); expected a concentration unit",
        ),
        ("P1,B2,sample,H,d,1,,,,,", r"line 3, column conc_unit: concentration without a unit"),
        ("P1,A01,vehicle,H,,,,,,,", r"line 2 and line 3: duplicated well"),
        (",B2,vehicle,H,,,,,,,", r"line 3, column plate: empty plate id"),
        ("P1,Z2,vehicle,H,,,,,,,", r"line 3, column well: not a well"),
    ],
)
def test_layout_errors_name_file_line_column(tmp_path, row, match):
    text = f"{','.join(fm.LAYOUT_COLUMNS)}\nP1,A1,blank,,,,,,,,\n{row}\n"
    with pytest.raises(LeptotwinError, match=match):
        read_layout(_write(tmp_path, "bad.csv", text))


def test_layout_missing_role_column():
    with pytest.raises(LeptotwinError, match="layout: role: missing column"):
        validate_layout(pd.DataFrame({"well": ["A1"]}))


def test_layout_in_memory_errors_name_index():
    frame = pd.DataFrame({"well": ["A1", "A2"], "role": ["sample", "sample"], "conc_a": [1, "x"]})
    with pytest.raises(LeptotwinError, match="row 1, column conc_a: non-numeric"):
        validate_layout(frame, conc_unit="nM")


# --------------------------------------------------------------------------- merge
def _readings(plates=("P1",), fmt=96, seed=0):
    rng = np.random.default_rng(seed)
    wells = plate_wells(fmt)["well"]
    return pd.concat(
        [
            pd.DataFrame({"plate": p, "well": wells, "signal": rng.uniform(1, 2, fmt)})
            for p in plates
        ],
        ignore_index=True,
    )


def test_merge_plate_columns_and_roles(tmp_path):
    lay = read_layout(_write(tmp_path, "layout.csv", LAYOUT_CSV))
    reads = _readings(seed=1)
    merged = merge_plate(reads, lay)
    assert len(merged) == 96
    assert list(merged.columns[:15]) == [
        "plate", "well", "row", "col", "edge", "role", "cell_line", "drug_a", "conc_a_nM",
        "drug_b", "conc_b_nM", "perturbation", "replicate", "signal", "flag",
    ]  # fmt: skip
    by = merged.set_index("well")
    assert by.loc["B03", "role"] == "sample" and by.loc["B03", "conc_a_nM"] == 1500.0
    assert by.loc["D07", "role"] == "empty" and by.loc["D07", "cell_line"] == ""
    assert by.loc["B03", "row"] == "B" and by.loc["B03", "col"] == 3
    assert bool(by.loc["A05", "edge"]) and not bool(by.loc["B03", "edge"])
    np.testing.assert_array_equal(merged["signal"], reads["signal"])


def test_merge_template_layout_applies_to_every_plate():
    lay = pd.DataFrame({"well": ["A1", "B2"], "role": ["blank", "vehicle"]})
    merged = merge_plate(_readings(("P1", "P2"), seed=2), lay)
    assert len(merged) == 192
    assert (merged["role"] == "vehicle").groupby(merged["plate"]).sum().tolist() == [1, 1]


def test_merge_layout_well_without_reading_is_missing():
    reads = pd.DataFrame({"plate": "P1", "well": ["A1", "A2"], "signal": [1.0, 2.0]})
    lay = pd.DataFrame({"plate": "P1", "well": ["A1", "A3"], "role": ["vehicle", "blank"]})
    merged = merge_plate(reads, lay).set_index("well")
    assert merged.loc["A03", "flag"] == "missing" and np.isnan(merged.loc["A03", "signal"])
    assert merged.loc["A02", "role"] == "empty"


def test_merge_errors():
    reads = _readings(("P1",), seed=3)
    lay = pd.DataFrame({"plate": ["P1", "P9"], "well": ["A1", "A1"], "role": ["blank", "blank"]})
    with pytest.raises(LeptotwinError, match=r"plate in the layout has no readings \(got 'P9'\)"):
        merge_plate(reads, lay)
    with pytest.raises(LeptotwinError, match=r"plate has readings but no layout \(got 'P2'\)"):
        merge_plate(_readings(("P1", "P2"), seed=4), lay.iloc[:1])
    off = pd.DataFrame({"plate": "P1", "well": ["I01"], "role": ["blank"]})
    with pytest.raises(LeptotwinError, match="plate P1, well I01: layout well is not on the 96"):
        merge_plate(reads, off)
    dup = pd.concat([reads, reads.iloc[:1]], ignore_index=True)
    with pytest.raises(LeptotwinError, match="plate P1, well A01: duplicated well in the readings"):
        merge_plate(dup, lay.iloc[:1])
    bad_role = pd.DataFrame({"plate": "P1", "well": ["A1"], "role": ["ctrl"]})
    with pytest.raises(LeptotwinError, match="unknown role"):
        merge_plate(reads, bad_role)
    no_column = pd.DataFrame({"plate": "P1", "well": ["A1"], "role": ["sample"]})
    with pytest.raises(LeptotwinError, match="layout: conc_a: missing column; expected a conc_a"):
        merge_plate(reads, no_column)
    no_conc = no_column.assign(conc_a=[np.nan])
    with pytest.raises(LeptotwinError, match="sample well without a concentration"):
        merge_plate(reads, no_conc)


def test_merge_reads_files_and_names_them(tmp_path):
    write_plate_reader(tmp_path / "r.csv", _readings(("P1",), seed=5))
    lay_path = _write(tmp_path, "lay.csv", "plate,well,role\nP2,A1,blank\n")
    with pytest.raises(LeptotwinError, match=r"lay\.csv: plate: plate in the layout has no"):
        merge_plate(read_plate_reader(tmp_path / "r.csv"), read_layout(lay_path))


# --------------------------------------------------------------------------- normalisation
def _synthetic_plate():
    """Blank 100 (3 wells, no cell line), vehicle 1000/1100/1200, samples 600 and 350."""
    rows = [
        ("A01", "blank", "", np.nan, 100.0),
        ("A02", "blank", "", np.nan, 100.0),
        ("A03", "blank", "", np.nan, 100.0),
        ("B01", "vehicle", "L1", np.nan, 1000.0),
        ("B02", "vehicle", "L1", np.nan, 1100.0),
        ("B03", "vehicle", "L1", np.nan, 1200.0),
        ("B04", "sample", "L1", 10.0, 600.0),
        ("B05", "sample", "L1", 100.0, 350.0),
        ("B06", "positive", "L1", np.nan, 100.0),
        ("B07", "positive", "L1", np.nan, 140.0),
        ("B08", "positive", "L1", np.nan, 120.0),
    ]
    lay = pd.DataFrame(rows, columns=["well", "role", "cell_line", "conc_a", "signal"])
    lay["plate"], lay["drug_a"], lay["conc_unit"] = "P1", "drugX", "nM"
    reads = lay[["plate", "well", "signal"]]
    return merge_plate(reads, lay.drop(columns="signal"))


def test_normalise_exact_responses():
    data, qc = normalise_to_controls(_synthetic_plate())
    resp = data.set_index("well")["response"]
    assert resp["B04"] == 50.0 and resp["B05"] == 25.0
    assert resp["B02"] == 100.0 and np.isnan(resp["A01"])
    assert resp["B06"] == 0.0
    assert len(qc) == 1
    row = qc.iloc[0]
    assert (row["plate"], row["cell_line"]) == ("P1", "L1")
    assert (row["n_sample"], row["n_vehicle"], row["n_blank"], row["n_positive"]) == (2, 3, 3, 3)
    assert row["blank_mean"] == 100.0 and row["vehicle_mean"] == 1100.0
    assert row["vehicle_sd"] == 100.0
    assert row["vehicle_cv_pct"] == pytest.approx(100 / 11, rel=1e-14)
    assert row["signal_to_background"] == 11.0
    # Z' = 1 - 3 (20 + 100) / |120 - 1100| = 1 - 360 / 980
    assert row["z_prime"] == pytest.approx(1 - 360 / 980, rel=1e-14)
    assert row["n_overflow"] == 0


def test_normalise_fraction_and_overflow_count():
    merged = _synthetic_plate()
    over = merged["well"] == "B05"
    merged.loc[over, "signal"] = np.nan
    merged.loc[over, "flag"] = "overflow"
    data, qc = normalise_to_controls(merged, scale="fraction")
    assert data.set_index("well").loc["B04", "response"] == 0.5
    assert qc["n_overflow"].iloc[0] == 1 and qc["n_sample"].iloc[0] == 1


def test_normalise_groups_without_vehicle_raise():
    merged = _synthetic_plate()
    merged.loc[merged["well"] == "B05", "cell_line"] = "L2"
    with pytest.raises(LeptotwinError, match="plate='P1', cell_line='L2': group has no vehicle"):
        normalise_to_controls(merged)


def test_normalise_errors():
    merged = _synthetic_plate()
    with pytest.raises(LeptotwinError, match="unknown scale"):
        normalise_to_controls(merged, scale="log")
    with pytest.raises(LeptotwinError, match="donor: missing column"):
        normalise_to_controls(merged, group_by=("plate", "donor"))
    low = merged.copy()
    low.loc[low["role"] == "vehicle", "signal"] = 50.0
    with pytest.raises(LeptotwinError, match="vehicle mean does not exceed the blank mean"):
        normalise_to_controls(low)


def test_normalise_without_blank_uses_zero():
    merged = _synthetic_plate()
    merged = merged[merged["role"] != "blank"]
    data, qc = normalise_to_controls(merged)
    assert data.set_index("well").loc["B04", "response"] == pytest.approx(600 / 1100 * 100)
    assert qc["n_blank"].iloc[0] == 0 and np.isnan(qc["signal_to_background"].iloc[0])


def test_z_prime_zhang_1999_definition():
    positive = [10.0, 12.0, 14.0]  # mean 12, sd 2
    negative = [90.0, 100.0, 110.0]  # mean 100, sd 10
    assert z_prime(positive, negative) == pytest.approx(1 - 3 * 12 / 88, rel=1e-14)
    assert np.isnan(z_prime([1.0], negative)) and np.isnan(z_prime([5.0, 5.0], [5.0, 5.0]))
    assert z_prime([10.0, 12.0, 14.0, np.nan], negative) == z_prime(positive, negative)


# --------------------------------------------------------------------------- dose response
def test_to_dose_response_curves_and_vehicle():
    lay = pd.DataFrame(
        {
            "plate": "P1",
            "well": ["A1", "A2", "A3", "A4", "B1", "B2", "B3"],
            "role": ["vehicle", "sample", "sample", "sample", "blank", "sample", "sample"],
            "cell_line": ["H3122", "H3122", "H3122", "H3122", "", "H3122", "H3122"],
            "drug_a": ["", "ale", "ale", "ale", "", "ale", "ale"],
            "conc_a": [np.nan, 1, 10, 100, np.nan, 0, 10],
            "drug_b": ["", "", "", "", "", "criz", "criz"],
            "conc_b": [np.nan] * 5 + [0.1, 0.1],
            "conc_unit": "uM",
        }
    )
    reads = pd.DataFrame(
        {"plate": "P1", "well": lay["well"], "signal": [1100, 900, 600, 200, 100, 800, 300.0]}
    )
    data, _ = normalise_to_controls(merge_plate(reads, lay))
    dr = to_dose_response(data)
    assert list(dr.columns[:3]) == ["curve", "dose", "response"]
    single = dr[dr["curve"] == "H3122 | ale"]
    assert list(single["dose"]) == [0.0, 1000.0, 10000.0, 100000.0]
    assert list(single["response"]) == [100.0, 80.0, 50.0, 10.0]
    combo = dr[dr["curve"] == "H3122 | ale | + criz 100 nM"]
    assert list(combo["dose"]) == [0.0, 10000.0] and list(combo["well"]) == ["B02", "B03"]
    assert len(dr) == 6
    assert len(to_dose_response(data, include_vehicle=False)) == 5


def test_to_dose_response_errors_and_empty(tmp_path):
    with pytest.raises(LeptotwinError, match="response: missing column"):
        to_dose_response(_synthetic_plate())
    lay = read_layout(_write(tmp_path, "layout.csv", LAYOUT_CSV))
    reads = _readings(seed=6)
    reads["signal"] = np.where(reads["well"] == "A01", 0.1, reads["signal"])
    data, _ = normalise_to_controls(merge_plate(reads, lay))
    with pytest.raises(LeptotwinError, match="well B05, column conc_a_nM: sample without a conc"):
        to_dose_response(data)
    no_samples = data[data["role"] != "sample"]
    empty = to_dose_response(no_samples)
    assert len(empty) == 0 and empty["dose"].dtype == np.float64


# --------------------------------------------------------------------------- inputs that crashed
# Each case is the exact input that raised something other than LeptotwinError (or was read as a
# number) before the readers were hardened for issue 12.
@pytest.mark.parametrize(
    ("data", "match"),
    [
        (",1,²\nA,1,2\n", "no plate grid"),  # '²'.isdigit() but int('²') raised ValueError
        ('well,value\n"A1' + "x" * 200_000 + "\n", r"line 2: cannot split the line into cells"),
        (b"\xff\xfe" + "Plate\tX\n".encode("utf-16-le") + b"\x00", "no plate grid"),  # odd UTF-16
        ("well,value\nA1,inf\n", r"line 2, well A01: reading is not a number \(got 'inf'\)"),
        ("well,value\nA1,1_000\n", r"reading is not a number \(got '1_000'\)"),
        ("well,value\nA1,\u0661\u0662\n", r"reading is not a number"),  # Arabic-Indic 12
        ("well,value\nA1,1e400\n", r"line 2, well A01: reading is too large to be a measurement"),
        ("well,value\nA1,-1e15\n", r"reading is too large.*expected a magnitude below 1e\+15"),
        ("well,value\nA1,10,5\n", r"line 2: line has 3 cells but the header names 2 columns; "
                                  r"expected one cell per column \(a decimal comma"),
        ("Plate,P\nwell,value\n\n", r"line 2: a well/value header but no readings below it"),
    ],
)  # fmt: skip
def test_reader_refuses_what_used_to_crash_or_pass(tmp_path, data, match):
    path = tmp_path / "in.csv"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    with pytest.raises(LeptotwinError, match=match) as info:
        read_plate_reader(path)
    assert "\n" not in str(info.value)


def test_reader_keeps_large_negative_and_exponent_readings(tmp_path):
    path = _write(tmp_path, "ok.csv", "well,value\nA1,9.99e14\nA2,-0.05\nA3,1E3\nA4,+.5\n")
    assert read_plate_reader(path)["signal"].tolist() == [9.99e14, -0.05, 1000.0, 0.5]


@pytest.mark.skipif(not HAS_OPENPYXL, reason="openpyxl not installed")
@pytest.mark.parametrize("data", [b"PK\x03\x04garbage", b"", b"\x00" * 64, b"Plate,P\n"])
def test_xlsx_that_is_not_a_workbook(tmp_path, data):  # was BadZipFile / KeyError
    path = tmp_path / "plate.xlsx"
    path.write_bytes(data)
    with pytest.raises(LeptotwinError, match=r"plate\.xlsx: not a readable \.xlsx workbook"):
        read_plate_reader(path)
    with pytest.raises(LeptotwinError, match=r"plate\.xlsx: not a readable \.xlsx workbook"):
        read_layout(path)


def test_unreadable_path_is_one_line(tmp_path):
    with pytest.raises(LeptotwinError, match="file not found"):
        read_plate_reader(tmp_path)  # a folder
    with pytest.raises(LeptotwinError, match="file not found"):
        read_layout(tmp_path)


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("P1,B2,sample,H,d,inf,,,nM,,", r"line 3, column conc_a: non-numeric concentration \(got "
                                        r"'inf'\)"),
        ("P1,B2,sample,H,d,1_0,,,nM,,", r"line 3, column conc_a: non-numeric concentration"),
        ("P1,B2,sample,H,d,1e400,,,nM,,", r"line 3, column conc_a: concentration is beyond the "
                                          r"range of numbers"),
        ("P1,B2,sample,H,d,1e308,,,nM,,", r"line 3, column conc_a: concentration of 1 M \(or 1 "
                                          r"g/mL\) or more \(got '1e308'\)"),
        ("P1,B2,sample,H,d,1000,,,mM,,", r"line 3, column conc_a: concentration of 1 M"),
        ("P1,B2,sample,H,d,1,e,2e9,ng/mL,,", r"line 3, column conc_b: concentration of 1 M \(or "
                                             r"1 g/mL\)"),
        ("P1,B2,sample,H,d,1,e,0,5,nM,,1", r"line 3: cell 12 has no column name in the header on "
                                         r"line 1 \(got '1'\); expected one header name per "
                                         r"column \(a decimal comma"),
    ],
)  # fmt: skip
def test_layout_numbers_that_used_to_pass_silently(tmp_path, row, match):
    text = f"{','.join(fm.LAYOUT_COLUMNS)}\nP1,A1,blank,,,,,,,,\n{row}\n"
    with pytest.raises(LeptotwinError, match=r"bad\.csv: " + match):
        read_layout(_write(tmp_path, "bad.csv", text))


def test_layout_value_under_an_empty_header_name(tmp_path):
    text = "well,,role\nA1,5,blank\n"
    with pytest.raises(LeptotwinError, match=r"line 2: cell 2 has no column name"):
        read_layout(_write(tmp_path, "gap.csv", text))


def test_layout_text_in_conc_nm_column_and_bad_molecular_weight():  # were ValueError
    frame = pd.DataFrame({"well": ["A1"], "role": ["sample"], "drug_a": ["x"], "conc_a": [1.0],
                          "conc_unit": ["ng/mL"], "conc_a_nM": ["abc"]})  # fmt: skip
    with pytest.raises(LeptotwinError, match=r"row 0, column conc_a_nM: non-numeric"):
        validate_layout(frame)
    with pytest.raises(LeptotwinError, match=r"molecular_weights\['x'\]: molecular weight must"):
        validate_layout(frame.drop(columns="conc_a_nM"), molecular_weights={"x": "heavy"})


def test_layout_molar_units_written_per_litre(tmp_path):
    text = "well,role,drug_a,conc_a,conc_unit\nA1,sample,x,2,nmol/L\nA2,sample,x,3,µmol/l\n"
    lay = read_layout(_write(tmp_path, "molar.csv", text))
    assert lay["conc_a_nM"].tolist() == [2.0, 3000.0]
    assert lay["conc_unit"].tolist() == ["nmol/L", "µmol/L"]


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("A1,blank,-5", r"line 2, column conc_a_nM: concentration is not a number >= 0"),
        ("A1,vehicle,1e300", r"line 2, column conc_a_nM: concentration of 1 M or more"),
    ],
)
def test_layout_earlier_conversion_column_is_checked(tmp_path, row, match):
    """A conc_a_nM column kept from an earlier conversion was taken as it stood (found by
    test_layout_properties.py)."""
    with pytest.raises(LeptotwinError, match=match):
        read_layout(_write(tmp_path, "lay.csv", f"well,role,conc_a_nM\n{row}\n"))


def test_normalise_vehicle_barely_above_blank_is_refused():
    """Responses overflowed to inf with a RuntimeWarning (found by test_layout_properties.py)."""
    merged = pd.DataFrame({"plate": "P1", "role": ["blank", "vehicle", "sample"],
                           "cell_line": "L1", "signal": [0.0, 1e-300, 1e14]})  # fmt: skip
    with pytest.raises(LeptotwinError, match="vehicle mean exceeds the blank mean by too little"):
        normalise_to_controls(merged)
    merged["signal"] = [0.0, 0.0, 1.0]
    merged.loc[1, "role"] = "vehicle"
    zero = pd.concat([merged, merged.assign(role="vehicle", signal=0.0)], ignore_index=True)
    zero.loc[zero["role"] == "blank", "signal"] = -1.0
    _, qc = normalise_to_controls(zero)  # vehicle mean 0 > blank -1: CV undefined, no warning
    assert np.isnan(qc["vehicle_cv_pct"].iloc[0])
