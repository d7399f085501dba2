"""Property tests of the plate-reader reader (issue 12): for any input, a plate that is right or
one LeptotwinError naming the file, never another exception and never a silently wrong plate.

Inputs are random bytes, random text, random grid-like text, and valid exports written by the
project's own writer (:func:`leptotwin.formats.format_plate_reader`, which the virtual
instruments use) in every separator/decimal combination, then damaged the ways files get
damaged: lines lost, repeated or swapped, the file cut short, separators swapped, a cell
replaced by text, NaN, inf, 1e308, a negative or junk, re-encoded (BOM, CRLF, UTF-16) or
sprinkled with binary junk. Where the damage leaves the readings recoverable the property is
exact: what is read equals what was written, except at the one cell that was changed (checked
against the format's own number rules). ``make test`` runs 200 cases per property, ``make fuzz``
10,000.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.errors import LeptotwinError
from leptotwin.formats import WellFlag, format_plate_reader, plate_wells, read_plate_reader

pytestmark = pytest.mark.fuzz

FLAGS = {f.value for f in WellFlag}
SEP_DECIMAL = [(",", "."), (";", ","), ("\t", ","), ("\t", "."), (";", ".")]
MAX_READING = 1e15
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
OVER = {"over", "overflow", "ovrflw", "ovfl", "*", "sat", "saturated", "high"}
UNDER = {"under", "underflow", "undrflw", "low"}
MISSING = {"", "nan", "na", "n/a", "-", "--", "none", "empty"}
SPECIAL = [
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e309", "1e15",
    "9.99e14", "-1e15", "-5", "0", "-0", "1e-320", "5e-324", ".5", "5.", "+7", "1.5e3", "1E+3",
    "0x10", "1_000", "\u0661\u0662", "\uff11\uff12", "12abc", "1.2.3", "1e", "e5", "--", "OVER",
    ">4.0", "<0.01", "*", "UNDER", "  7  ", "", "N/A", "1,5", "1.234,5", "\x00", "\ufffd", "½",
]  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("plate_properties")


def _read(path: Path) -> pd.DataFrame | None:
    """The reader's result, or None after a LeptotwinError that names the file on one line."""
    try:
        out = read_plate_reader(path)
    except LeptotwinError as err:
        assert err.source == str(path), str(err)
        assert "\n" not in str(err) and "\r" not in str(err)
        return None
    _check_valid(out)
    return out


def _check_valid(df: pd.DataFrame) -> None:
    """What every result must satisfy, whatever the input."""
    assert list(df.columns) == ["plate", "well", "signal", "flag"]
    assert len(df) > 0
    assert set(df["flag"]) <= FLAGS
    signal = df["signal"].to_numpy(float)
    ok = (df["flag"] == WellFlag.OK.value).to_numpy()
    assert np.isfinite(signal[ok]).all() and np.isnan(signal[~ok]).all()
    assert (np.abs(signal[ok]) < MAX_READING).all()
    assert not df.duplicated(["plate", "well"]).any()
    assert df["well"].str.fullmatch(r"[A-P](0[1-9]|1[0-9]|2[0-4])").all()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- random input
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".csv", ".txt", ".tsv", ".xlsx"]))
def test_random_bytes(folder, data, suffix):
    _read(_write(folder, "bytes" + suffix, data))


TEXT = st.lists(
    st.one_of(
        st.sampled_from([*",;\t\n\r\"'0123456789.-+eE ABCDHIPabcdh<>*:", "OVER", "Plate", ",1,2"]),
        st.characters(),
    ),
    max_size=800,
).map("".join)


@given(text=TEXT, encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
def test_random_text(folder, text, encoding):
    _read(_write(folder, "text.csv", text.encode(encoding, errors="replace")))


CELL = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)


@st.composite
def grid_like(draw) -> str:
    """Text made of the pieces of exports: headers, row lines, metadata, blank lines."""
    sep = draw(st.sampled_from([",", ";", "\t"]))
    lines = []
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["header", "row", "row", "row", "meta", "blank", "long"]))
        if kind == "header":
            n = draw(st.sampled_from([2, 11, 12, 13, 24, 25]))
            lines.append(
                draw(st.sampled_from(["", "<>", "1"])) + sep + sep.join(map(str, range(1, n + 1)))
            )
        elif kind == "row":
            label = draw(st.sampled_from([*"ABCDEFGHIJKLMNOPQZ", "a", "ı", "AA", ""]))
            cells = draw(st.lists(CELL, max_size=26))
            lines.append(sep.join([label, *cells]))
        elif kind == "meta":
            key = draw(st.sampled_from(["Plate", "Plate ID", "Barcode", "Units", "Date:", "x"]))
            lines.append(key + sep + draw(st.text(max_size=8)))
        elif kind == "long":
            lines.append(
                sep.join(
                    draw(
                        st.lists(
                            st.sampled_from(
                                ["plate", "well", "signal", "A1", "P24", "B2", "X", "1", "OVER"]
                            ),
                            max_size=4,
                        )
                    )
                )
            )
        else:
            lines.append("")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@given(text=grid_like())
def test_random_grid_like_text(folder, text):
    _read(_write(folder, "grid.csv", text.encode("utf-8", errors="surrogatepass")))


# --------------------------------------------------------------------------- valid exports
@st.composite
def exports(draw) -> tuple[pd.DataFrame, str, str, str]:
    """(readings as written, export text, separator, decimal mark) of a valid export."""
    fmt = draw(st.sampled_from([96, 96, 96, 384]))
    n_plates = draw(st.integers(1, 2))
    sep, decimal = draw(st.sampled_from(SEP_DECIMAL))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frames = []
    wells = plate_wells(fmt)["well"]
    for k in range(n_plates):
        kind = rng.integers(4, size=fmt)
        signal = np.select(
            [kind == 0, kind == 1, kind == 2],
            [rng.lognormal(8, 3, fmt), np.round(rng.uniform(-1e3, 1e6, fmt)),
             rng.normal(0, 1e-3, fmt)],
            rng.uniform(-9.9e14, 9.9e14, fmt),
        )  # fmt: skip
        flag = rng.choice(["ok"] * 12 + ["overflow", "underflow", "missing"], size=fmt)
        signal = np.where(flag == "ok", signal, np.nan)
        frames.append(pd.DataFrame({"plate": f"P{k + 1}", "well": wells, "signal": signal,
                                    "flag": flag.astype(object)}))  # fmt: skip
    readings = pd.concat(frames, ignore_index=True)
    text = format_plate_reader(readings, sep=sep, decimal=decimal, metadata={"Units": "RLU"})
    return readings, text, sep, decimal


def _same(got: pd.DataFrame, want: pd.DataFrame, *, plates: bool = True) -> None:
    cols = ["plate", "well", "signal", "flag"] if plates else ["well", "signal", "flag"]
    pd.testing.assert_frame_equal(
        got[cols].reset_index(drop=True), want[cols].reset_index(drop=True), check_dtype=False
    )


@given(export=exports(), how=st.sampled_from(["utf-8-sig", "utf-16", "crlf", "cr", "blank",
                                               "spaces", "none"]))  # fmt: skip
def test_export_reads_back_exactly_however_encoded(folder, export, how):
    readings, text, sep, _ = export
    if how == "crlf":
        text = text.replace("\n", "\r\n")
    elif how == "cr":
        text = text.replace("\n", "\r")
    elif how == "blank":
        text = "\n\n" + text.replace("\n\n", "\n\n\n") + "\n\n"
    elif how == "spaces":
        text = text.replace(sep, f" {sep} " if sep != "\t" else "\t ")
    encoding = how if how in ("utf-8-sig", "utf-16") else "utf-8"
    got = _read(_write(folder, "export.csv", text.encode(encoding)))
    assert got is not None
    _same(got, readings)


def _lines(text: str) -> list[str]:
    return text.split("\n")


@given(export=exports(), data=st.data())
def test_lost_repeated_or_swapped_lines(folder, export, data):
    """A line lost, repeated or moved: an error, or every reading as written (plate ids may
    fall back to the file name when their ``Plate`` line is lost)."""
    readings, text, _, _ = export
    lines = _lines(text)
    i = data.draw(st.integers(0, len(lines) - 1))
    how = data.draw(st.sampled_from(["delete", "duplicate", "swap"]))
    if how == "delete":
        del lines[i]
    elif how == "duplicate":
        lines.insert(i, lines[i])
    else:  # not two rows of the same letter (from two plates): that file is valid as it is
        j = data.draw(st.sampled_from([j for j, x in enumerate(lines) if x[:2] != lines[i][:2]]))
        lines[i], lines[j] = lines[j], lines[i]
    got = _read(_write(folder, "lines.csv", "\n".join(lines).encode()))
    if got is not None:
        assert got["plate"].nunique() == readings["plate"].nunique()
        _same(got, readings, plates=False)


@given(export=exports(), data=st.data())
def test_file_cut_short(folder, export, data):
    """Cut anywhere: an error, or whole plates as written, of which only the very last cell of
    the text may have lost digits (a file cut inside its last number reads like a whole one)."""
    readings, text, _, _ = export
    raw = text.encode()
    cut = raw[: data.draw(st.integers(0, len(raw)))]
    got = _read(_write(folder, "cut.csv", cut))
    if got is None:
        return
    want = readings[readings["plate"].isin(got["plate"].unique())]
    assert list(got["plate"].unique()) == list(readings["plate"].unique()[: got["plate"].nunique()])
    assert len(got) == len(want)
    differs = ~(
        (got["signal"].to_numpy() == want["signal"].to_numpy())
        | (np.isnan(got["signal"].to_numpy()) & np.isnan(want["signal"].to_numpy()))
    ) | (got["flag"].to_numpy() != want["flag"].to_numpy())
    assert not differs[:-1].any(), got[differs]


@given(export=exports(), data=st.data())
def test_separators_swapped(folder, export, data):
    """All separators (or those of one line) changed to another mark: an error, or the same
    readings (a garbled ``Plate`` line leaves the plate named after the file)."""
    readings, text, sep, _ = export
    other = data.draw(st.sampled_from([s for s in (",", ";", "\t") if s != sep]))
    every = data.draw(st.booleans())
    if every:
        text = text.replace(sep, other)
    else:
        lines = _lines(text)
        i = data.draw(st.integers(0, len(lines) - 1))
        lines[i] = lines[i].replace(sep, other)
        text = "\n".join(lines)
    got = _read(_write(folder, "seps.csv", text.encode()))
    if got is not None:
        assert got["plate"].nunique() == readings["plate"].nunique()
        _same(got, readings, plates=every)


def _expected_cell(token: str, decimal: str) -> tuple[float, str] | None:
    """(signal, flag) the format's rules give a cell, or None if the cell must be refused."""
    s = token.strip()
    low = s.lower()
    if low in OVER or low.startswith(">"):
        return np.nan, "overflow"
    if low in UNDER or low.startswith("<"):
        return np.nan, "underflow"
    if low in MISSING:
        return np.nan, "missing"
    text = s.replace(",", ".") if decimal == "," else s
    if not NUMBER.fullmatch(text) or not abs(float(text)) < MAX_READING:
        return None
    return float(text), "ok"


@given(export=exports(), data=st.data(),
       token=st.one_of(st.sampled_from(SPECIAL), CELL, st.text(max_size=12)))  # fmt: skip
def test_one_cell_changed(folder, export, data, token):
    """Text, NaN, inf, 1e308, a negative... in one cell: read as the format's rules say (the
    same value everywhere else), or refused naming that line and well."""
    readings, text, sep, _ = export
    token = re.sub(r"[\r\n\"]", "", token).replace(sep, "")
    lines = _lines(text)
    rows = [i for i, line in enumerate(lines) if re.match(rf"[A-P]{re.escape(sep)}", line)]
    i = data.draw(st.sampled_from(rows))
    cells = lines[i].split(sep)
    c = data.draw(st.integers(1, len(cells) - 1))
    cells[c] = token
    lines[i] = sep.join(cells)
    plate_index = sum(1 for k in rows if k <= i and lines[k].startswith("A" + sep)) - 1
    n_cols = len(cells) - 1
    n_wells = n_cols * n_cols * 2 // 3  # 12 -> 96, 24 -> 384
    target = plate_index * n_wells + "ABCDEFGHIJKLMNOP".index(cells[0]) * n_cols + c - 1
    expected = _expected_cell(token, "," if sep != "," else ".")  # the reader's decimal mark
    path = _write(folder, "cell.csv", "\n".join(lines).encode("utf-8", errors="surrogatepass"))
    got = _read(path)
    if expected is None:
        assert got is None, (token, got.iloc[target] if got is not None else None)
        return
    if got is None:  # the token was a well-formed cell: nothing else may be refused
        pytest.fail(f"{token!r} refused")
    want = readings.copy()
    want.loc[target, "signal"], want.loc[target, "flag"] = expected
    _same(got, want)


@given(export=exports(), junk=st.binary(min_size=1, max_size=40), data=st.data())
def test_binary_junk(folder, export, junk, data):
    """Binary junk anywhere: a valid result or one LeptotwinError (junk made of digits can turn
    one number into another, which no reader can notice; the exact properties are above)."""
    _, text, _, _ = export
    raw = text.encode()
    at = data.draw(st.integers(0, len(raw)))
    _read(_write(folder, "junk.csv", raw[:at] + junk + raw[at:]))


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("openpyxl") is None, reason="openpyxl not installed"
)
@given(cells=st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False),
                                st.integers(-(10**16), 10**16),
                                st.text(st.characters(blacklist_categories=("Cc", "Cs")),
                                        max_size=5),
                                st.booleans()), min_size=96, max_size=96),
       drop_row=st.booleans())  # fmt: skip
def test_xlsx_sheets(folder, cells, drop_row):
    """A workbook grid with any cell values (numbers of any size, text, booleans, blanks)."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["Plate", "X"])
    sheet.append([])
    sheet.append([None, *range(1, 13)])
    for r, letter in enumerate("ABCDEFGH"):
        if not (drop_row and letter == "D"):
            sheet.append([letter, *cells[r * 12 : r * 12 + 12]])
    path = folder / "sheet.xlsx"
    book.save(path)
    got = _read(path)
    if drop_row:
        assert got is None
