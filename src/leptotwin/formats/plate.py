"""Microplate geometry and plate-reader export files.

Geometry
--------
96-well plates have rows ``A``-``H`` and columns 1-12, 384-well plates rows ``A``-``P`` and
columns 1-24. Well names are normalised to a letter and two digits (``"a1"``, ``"A1"`` and
``"A01"`` all become ``"A01"``). Edge wells are the outermost ring (first or last row or column).

Plate-reader export format
--------------------------
What BMG, Tecan and PerkinElmer readers export as CSV/TSV: per plate a few ``key,value``
metadata lines (one must be ``Plate,<id>``), a blank line, then a grid whose first row holds the
column numbers and whose next rows start with the row letter::

    Instrument,leptotwin virtual plate reader
    Plate,P001
    Read type,Luminescence
    Units,RLU

    ,1,2,3,4,5,6,7,8,9,10,11,12
    A,10234,9876,OVER,...
    ...
    H,...

Several plates follow each other as consecutive blocks, each with its own header. The reader
also accepts ``;`` or tab separators (then ``,`` is the decimal mark unless ``decimal="."`` is
passed), a UTF-8 or UTF-16 byte-order mark, CRLF line ends, extra blank lines, trailing empty
cells, any corner cell (``""``, ``"<>"``), overflow markers (``OVER``, ``OVRFLW``, ``*``,
``>3.5``...) and underflow markers (``UNDER``, ``<0.01``), which become NaN with a ``flag``,
and empty wells (NaN, flag ``"missing"``).

A grid lists every row and column of its plate, as instruments write it: a grid without row D,
or with rows A-G only, has lost lines and is refused rather than read with those wells missing.
Each row has one cell per column (empty for a well without a reading): a shorter row was cut
short or broken in two. Readings are decimal numbers (optionally with an exponent) of magnitude
below 1e15; ``inf``, ``1_000`` or ``1e400`` are refused. A file cut inside its very last number
cannot be told from a complete one. A plain long table with a header naming a ``well``
column and a ``signal``/``value``/``reading`` column (and optionally ``plate``) is read too.
``.xlsx`` files are read when the optional ``openpyxl`` package is installed.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin._fileio import write_text
from leptotwin.errors import LeptotwinError
from leptotwin.formats._text import (
    Record,
    parse_numbers,
    read_text,
    read_xlsx,
    split_records,
)

__all__ = [
    "PLATE_96",
    "PLATE_384",
    "PlateFormat",
    "WellFlag",
    "format_plate_reader",
    "get_plate_format",
    "normalise_well",
    "plate_wells",
    "read_plate_reader",
    "well_position",
    "write_plate_reader",
]

_LETTERS = "ABCDEFGHIJKLMNOP"
_WELL_RE = r"^\s*([A-Pa-p])\s*0*(\d{1,2})\s*$"


@dataclass(frozen=True)
class PlateFormat:
    """A rectangular microplate.

    Parameters
    ----------
    n_rows, n_cols : int
        Rows (lettered from ``A``) and columns (numbered from 1).
    """

    n_rows: int
    n_cols: int

    @property
    def n_wells(self) -> int:
        """Number of wells (``n_rows * n_cols``)."""
        return self.n_rows * self.n_cols

    @property
    def row_letters(self) -> tuple[str, ...]:
        """Row labels, ``("A", ..., "H")`` for a 96-well plate."""
        return tuple(_LETTERS[: self.n_rows])

    def __str__(self) -> str:
        return f"{self.n_wells}-well plate"


PLATE_96 = PlateFormat(8, 12)
PLATE_384 = PlateFormat(16, 24)
_FORMATS = {96: PLATE_96, 384: PLATE_384}


class WellFlag(StrEnum):
    """Status of one reading; the ``flag`` column holds these values as plain strings."""

    OK = "ok"
    OVERFLOW = "overflow"
    UNDERFLOW = "underflow"
    MISSING = "missing"


def get_plate_format(spec: int | str | PlateFormat) -> PlateFormat:
    """Return the :class:`PlateFormat` for ``96``, ``384`` (int or text) or a format.

    Raises
    ------
    LeptotwinError
        If ``spec`` is not 96 or 384.
    """
    if isinstance(spec, PlateFormat):
        return spec
    try:
        n = int(str(spec).strip().removesuffix("-well"))
    except ValueError:
        n = -1
    if n not in _FORMATS:
        raise LeptotwinError(
            "unsupported plate format", field="plate_format", value=spec, expected="96 or 384"
        )
    return _FORMATS[n]


def _parse_wells(
    wells: Any, fmt: PlateFormat | None, *, source: str | None, field: str = "well"
) -> tuple[NDArray[np.object_], NDArray[np.int64], NDArray[np.int64]]:
    """Vectorised well parsing: (names ``A01``, 0-based row index, 0-based column index).

    Only the distinct names are parsed (a plate batch repeats the same few hundred).
    """
    flat = np.asarray(wells, dtype=object).ravel()
    codes, uniq = pd.factorize(flat, use_na_sentinel=False)
    raw = pd.Series(uniq, dtype=object)
    parts = raw.where(raw.notna(), "").astype(str).str.extract(_WELL_RE)
    letter = parts[0].str.upper()
    col = pd.to_numeric(parts[1]).fillna(0).to_numpy(np.int64)
    row = letter.map({c: i for i, c in enumerate(_LETTERS)}).fillna(-1).to_numpy(np.int64)
    limit = fmt or PLATE_384
    bad = (row < 0) | (col < 1) | (row >= limit.n_rows) | (col > limit.n_cols)
    if bad.any():
        i = int(np.argmin(np.where(bad[codes], np.arange(len(codes)), len(codes))))
        where = str(limit) if fmt is not None else "96- or 384-well plate"
        raise LeptotwinError(
            f"not a well of a {where}",
            source=source,
            field=field,
            value=flat[i],
            expected=f"a letter A-{limit.row_letters[-1]} and a number 1-{limit.n_cols}, e.g. A01",
        )
    names = (letter + pd.Series(col).astype(str).str.zfill(2).to_numpy()).to_numpy(object)
    return names[codes], row[codes], col[codes] - 1


def normalise_well(
    wells: str | Any, *, plate_format: int | PlateFormat | None = None, source: str | None = None
) -> Any:
    """Normalise well names to ``A01`` form.

    Parameters
    ----------
    wells : str or array_like of str, shape (n_wells,)
        Names such as ``"A1"``, ``"a01"``, ``" B 12"``.
    plate_format : 96, 384 or PlateFormat, optional
        Check that every well lies on this plate. Default: any well of a 384-well plate.
    source : str, optional
        Named in the error message.

    Returns
    -------
    str or ndarray of str, shape (n_wells,)
        A string for a string input.

    Raises
    ------
    LeptotwinError
        If a name is not a well of the plate.

    Examples
    --------
    >>> normalise_well("b7")
    'B07'
    """
    fmt = None if plate_format is None else get_plate_format(plate_format)
    names, _, _ = _parse_wells([wells] if isinstance(wells, str) else wells, fmt, source=source)
    return str(names[0]) if isinstance(wells, str) else names


def well_position(
    wells: Any, *, plate_format: int | PlateFormat | None = None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Zero-based ``(row_index, col_index)`` arrays, each of shape (n_wells,), of well names.

    Raises
    ------
    LeptotwinError
        If a name is not a well of the plate.
    """
    fmt = None if plate_format is None else get_plate_format(plate_format)
    _, row, col = _parse_wells([wells] if isinstance(wells, str) else wells, fmt, source=None)
    return row, col


def plate_wells(plate_format: int | PlateFormat = 96) -> pd.DataFrame:
    """Every well of a plate, row-major.

    Returns
    -------
    DataFrame, one row per well (96 or 384 rows)
        ``well`` (``A01``), ``row`` (letter), ``col`` (1-based int) and ``edge`` (bool, outermost
        ring).
    """
    fmt = get_plate_format(plate_format)
    row, col = np.divmod(np.arange(fmt.n_wells), fmt.n_cols)
    letters = np.array(fmt.row_letters, dtype=object)[row]
    return pd.DataFrame(
        {
            "well": letters + pd.Series(col + 1).astype(str).str.zfill(2).to_numpy(object),
            "row": letters,
            "col": col + 1,
            "edge": (row == 0) | (col == 0) | (row == fmt.n_rows - 1) | (col == fmt.n_cols - 1),
        }
    )


# --------------------------------------------------------------------------- reading helpers
_OVER = frozenset({"over", "overflow", "ovrflw", "ovfl", "*", "sat", "saturated", "high"})
_UNDER = frozenset({"under", "underflow", "undrflw", "low"})
_MISSING = frozenset({"", "nan", "na", "n/a", "-", "--", "none", "empty"})
_PLATE_KEYS = frozenset({"plate", "plate id", "plate_id", "plateid", "plate name", "barcode"})
_VALUE_COLS = ("signal", "value", "reading", "raw", "rlu", "od")
_MAX_READING = 1e15
"""Readings of this magnitude or more are refused as corrupt cells: below it integers are exact
in float64 (2**53 is about 9.0e15) and sums and variances over a plate stay finite."""


def _header_columns(cells: list[str]) -> list[int] | None:
    """Column numbers if ``cells`` is a grid header (corner cell optional), else None."""
    if cells and _row_label(cells[0]) is not None:
        return None  # a grid row such as "A,1,2"
    corner = not (cells and cells[0].isascii() and cells[0].isdigit())
    nums = cells[1:] if corner else cells
    if len(nums) < (2 if corner else 12) or not all(c.isascii() and c.isdigit() for c in nums):
        return None
    cols = [int(c) for c in nums]
    return cols if cols == list(range(1, len(cols) + 1)) and len(cols) <= 24 else None


def _row_label(cell: str) -> str | None:
    """The row letter (``A``-``P``) if ``cell`` is one, else None."""
    label = cell.upper()
    return label if len(label) == 1 and label.isascii() and label in _LETTERS else None


def _long_header(cells: list[str]) -> bool:
    low = [c.lower() for c in cells]
    return "well" in low and any(v in low for v in _VALUE_COLS)


class _Table(NamedTuple):
    """A file split into records, as :func:`_records_and_decimal` returns it."""

    records: list[Record]
    decimal: str
    is_grid: bool  # grid blocks (else a long well/value table)


def _records_and_decimal(path: Path, decimal: str) -> _Table:
    """Split a file into records, detecting the separator (tab, then ``;``, then ``,``)."""
    source = str(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        candidates = [(read_xlsx(path), ".")]
    else:
        text = read_text(path)
        candidates = [
            (split_records(text, sep, source), "," if sep != "," else ".")
            for sep in ("\t", ";", ",")
        ]
    for records, mark in candidates:
        grid = any(_header_columns(r.cells) is not None for r in records)
        if grid or any(_long_header(r.cells) for r in records):
            return _Table(records, mark if decimal == "auto" else decimal, grid)
    raise LeptotwinError(
        "no plate grid and no well/value table found",
        source=source,
        expected=(
            "a grid header row with the column numbers (',1,2,...,12') followed by rows "
            "starting with the row letter, or a header with columns 'well' and 'signal'"
        ),
    )


class _Readings(NamedTuple):
    """Reading cells as :func:`_parse_values` returns them, each of shape (n_cells,)."""

    values: NDArray[np.float64]  # NaN for markers and empty cells
    flags: NDArray[np.object_]  # WellFlag values
    not_number: NDArray[np.bool_]  # text that is neither a number nor a marker
    too_large: NDArray[np.bool_]  # a number of magnitude >= _MAX_READING (or beyond float)


def _parse_values(cells: NDArray[np.object_], decimal: str) -> _Readings:
    """Readings as text -> values and flags; markers and empty cells become NaN."""
    s = pd.Series(cells, dtype=object).fillna("").astype(str).str.strip()
    low = s.str.lower()
    over = (low.isin(_OVER) | low.str.startswith(">")).to_numpy()
    under = (low.isin(_UNDER) | low.str.startswith("<")).to_numpy()
    missing = low.isin(_MISSING).to_numpy()
    values, is_number = parse_numbers(s.to_numpy(object), decimal)
    marker = over | under | missing
    values[marker] = np.nan
    flags = np.select(
        [over, under, missing],
        [WellFlag.OVERFLOW.value, WellFlag.UNDERFLOW.value, WellFlag.MISSING.value],
        WellFlag.OK.value,
    ).astype(object)
    with np.errstate(invalid="ignore"):
        too_large = ~marker & is_number & ~(np.abs(values) < _MAX_READING)
    return _Readings(values, flags, ~marker & ~is_number, too_large)


def _check_readings(read: _Readings, text: NDArray[np.object_], where: Any, source: str,
                    decimal: str) -> None:  # fmt: skip
    """Raise for the first cell that is not a number, or too large; ``where(i)`` names it."""
    for bad, message, expected in (
        (read.not_number, "reading is not a number",
         "a number, an empty cell or an overflow marker (OVER, *)"
         + ("; with ';' or tab separators ',' is the decimal mark" if decimal == "," else "")),
        (read.too_large, "reading is too large to be a measurement",
         f"a magnitude below {_MAX_READING:.0e}"),
    ):  # fmt: skip
        if bad.any():
            i = int(np.argmax(bad))
            raise LeptotwinError(
                message, source=source, field=where(i), value=text[i], expected=expected
            )


@dataclass
class _Block:
    meta: dict[str, str]
    header_line: int
    cols: list[int]
    rows: dict[str, Record]
    stop: int | None = None  # line of the first non-row line after the grid


def _plate_id(meta: Mapping[str, str]) -> str | None:
    for key, value in meta.items():
        if key.lower() in _PLATE_KEYS and value:
            return value
    return None


def _meta_item(cells: list[str]) -> tuple[str, str]:
    if len(cells) == 1 and ":" in cells[0]:
        key, _, value = cells[0].partition(":")
        return key.strip(), value.strip()
    value = next((c for c in cells[1:] if c), "")
    return cells[0].strip().rstrip(":").strip(), value


def _orphan_header(meta: Mapping[str, str], source: str, line: int | None) -> LeptotwinError:
    return LeptotwinError(
        "plate header without a readings grid",
        source=source,
        field=None if line is None else f"line {line}",
        value=_plate_id(meta),
        expected="a grid (column numbers, then one line per row) after each plate header",
    )


def _scan_blocks(table: _Table, source: str) -> list[_Block]:
    """Record-by-record state machine: metadata lines, grid headers and grid rows."""
    blocks: list[_Block] = []
    pending: dict[str, str] = {}
    grid: _Block | None = None
    for rec in table.records:
        if not rec.cells:
            continue
        cols = _header_columns(rec.cells)
        if cols is not None:
            grid = _Block(pending, rec.line, cols, {})
            blocks.append(grid)
            pending = {}
            continue
        label = _row_label(rec.cells[0])
        if grid is not None and label is not None:
            if label in grid.rows:
                raise LeptotwinError(
                    f"row {label} appears twice in the grid starting on line {grid.header_line}",
                    source=source,
                    field=f"line {rec.line}",
                )
            grid.rows[label] = rec
            continue
        if grid is not None:
            grid.stop, grid = rec.line, None
        key, value = _meta_item(rec.cells)
        if key.lower() in _PLATE_KEYS and _plate_id(pending) is not None:
            raise _orphan_header(pending, source, rec.line)
        pending.setdefault(key, value)
    if pending and _plate_id(pending) is not None:
        raise _orphan_header(pending, source, None)
    if blocks:  # trailing metadata (e.g. "End time") belongs to the last plate
        for key, value in pending.items():
            blocks[-1].meta.setdefault(key, value)
    return blocks


def _grid_format(block: _Block, fmt: PlateFormat | None, source: str) -> PlateFormat:
    """The plate a grid block covers (given, or inferred); its header lists every column."""
    n_cols = len(block.cols)
    if fmt is None:
        big = n_cols > PLATE_96.n_cols or any(_LETTERS.index(r) >= 8 for r in block.rows)
        fmt = PLATE_384 if big else PLATE_96
    for label, rec in block.rows.items():
        if _LETTERS.index(label) >= fmt.n_rows:
            raise LeptotwinError(
                f"row {label} is not on a {fmt}", source=source, field=f"line {rec.line}"
            )
    if n_cols != fmt.n_cols:
        why = " (its rows past H make it one)" if n_cols < fmt.n_cols else ""
        raise LeptotwinError(
            f"grid has {n_cols} columns; a {fmt} has {fmt.n_cols}{why}",
            source=source,
            field=f"line {block.header_line}",
            expected=f"column numbers 1-{fmt.n_cols} (an export lists every column of the plate)",
        )
    return fmt


def _check_rows(block: _Block, fmt: PlateFormat, source: str, decimal: str) -> None:
    """Every row of the plate is there, with one cell per column."""
    n_cols = fmt.n_cols
    for label, rec in block.rows.items():
        n_cells = rec.width - 1
        if len(rec.cells) - 1 > n_cols:
            raise LeptotwinError(
                f"row {label} has {len(rec.cells) - 1} readings but the grid has {n_cols} columns",
                source=source,
                field=f"line {rec.line}",
                expected="one cell per column (a decimal comma in a comma-separated file?)"
                if decimal == "."
                else None,
            )
        if n_cells < n_cols:
            raise LeptotwinError(
                f"row {label} has {n_cells} cells but the grid has {n_cols} columns "
                "(a line cut short or broken in two?)",
                source=source,
                field=f"line {rec.line}",
                expected="one cell per column, left empty for a well without a reading",
            )
    lost = [r for r in fmt.row_letters if r not in block.rows]
    if lost:
        raise LeptotwinError(
            f"the grid has no row {', '.join(lost)}"
            + (f" (it stops at line {block.stop})" if block.stop is not None else ""),
            source=source,
            field=f"line {block.header_line}",
            expected=f"one line for each row A-{fmt.row_letters[-1]} of a {fmt}; "
            "a line lost or the file cut short?",
        )


def _grid_frame(
    block: _Block, plate: str, fmt: PlateFormat | None, source: str, decimal: str
) -> pd.DataFrame:
    """One grid block -> tidy readings for every well of the plate."""
    if not block.rows:
        raise LeptotwinError(
            "grid header without rows",
            source=source,
            field=f"line {block.header_line}",
            expected="lines starting with the row letter (A, B, ...) after the column numbers",
        )
    fmt = _grid_format(block, fmt, source)
    _check_rows(block, fmt, source, decimal)
    cells = np.full((fmt.n_rows, fmt.n_cols), "", dtype=object)
    lines = np.full((fmt.n_rows, fmt.n_cols), block.header_line, dtype=np.int64)
    for label, rec in block.rows.items():
        r = _LETTERS.index(label)
        cells[r, : len(rec.cells) - 1] = rec.cells[1:]
        lines[r, :] = rec.line
    text = cells.ravel()
    read = _parse_values(text, decimal)
    wells = plate_wells(fmt)["well"].to_numpy()
    _check_readings(read, text, lambda i: f"line {lines.ravel()[i]}, well {wells[i]}", source,
                    decimal)  # fmt: skip
    return pd.DataFrame({"plate": plate, "well": wells, "signal": read.values, "flag": read.flags})


def _long_frame(
    table: _Table, fmt: PlateFormat | None, source: str, stem: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """A ``[plate,] well, signal`` table, optionally preceded by ``key,value`` lines."""
    recs = [r for r in table.records if r.cells]
    start = next(i for i, r in enumerate(recs) if _long_header(r.cells))
    meta = dict(_meta_item(r.cells) for r in recs[:start])
    header = [c.lower() for c in recs[start].cells]
    width = len(header)
    body = recs[start + 1 :]
    if not body:
        raise LeptotwinError(
            "a well/value header but no readings below it",
            source=source,
            field=f"line {recs[start].line}",
            expected="one line per well after the header",
        )
    wide = next((r for r in body if len(r.cells) > width), None)
    if wide is not None:
        raise LeptotwinError(
            f"line has {len(wide.cells)} cells but the header names {width} columns",
            source=source,
            field=f"line {wide.line}",
            expected="one cell per column"
            + (" (a decimal comma in a comma-separated file?)" if table.decimal == "." else ""),
        )
    i_well = header.index("well")
    i_val = next(header.index(v) for v in _VALUE_COLS if v in header)
    i_plate = next((header.index(k) for k in header if k in _PLATE_KEYS), None)
    grid = np.array([r.cells + [""] * (width - len(r.cells)) for r in body], dtype=object)
    grid = grid.reshape(len(body), width)
    line_no = np.array([r.line for r in body], dtype=np.int64)
    plate = grid[:, i_plate] if i_plate is not None else np.full(len(body), _plate_id(meta) or stem)
    empty_plate = plate == ""
    if empty_plate.any():
        raise LeptotwinError(
            "missing plate id", source=source, field=f"line {line_no[np.argmax(empty_plate)]}"
        )
    try:
        wells, _, _ = _parse_wells(grid[:, i_well], fmt, source=source)
    except LeptotwinError as err:
        i = int(np.flatnonzero(grid[:, i_well] == err.value)[0])
        raise LeptotwinError(
            err.message,
            source=source,
            field=f"line {line_no[i]}",
            value=err.value,
            expected=err.expected,
        ) from None
    read = _parse_values(grid[:, i_val], table.decimal)
    _check_readings(read, grid[:, i_val], lambda i: f"line {line_no[i]}, well {wells[i]}",
                    source, table.decimal)  # fmt: skip
    frame = pd.DataFrame({"plate": plate, "well": wells, "signal": read.values, "flag": read.flags})
    return frame, meta


def read_plate_reader(
    path: str | os.PathLike[str],
    *,
    plate_format: int | PlateFormat | None = None,
    decimal: str = "auto",
) -> pd.DataFrame:
    """Read a plate-reader export (grid blocks or a long ``well,signal`` table).

    Parameters
    ----------
    path : path-like
        ``.csv``, ``.tsv``, ``.txt`` (separator detected: tab, ``;`` or ``,``) or ``.xlsx``
        (needs ``openpyxl``).
    plate_format : 96, 384 or PlateFormat, optional
        Default: 384 if a grid has more than 12 columns or rows past ``H``, else 96.
    decimal : {"auto", ".", ","}
        ``"auto"``: ``,`` for ``;``- or tab-separated files, ``.`` for comma-separated ones.

    Returns
    -------
    DataFrame, one row per well
        ``plate`` (str), ``well`` (``A01``), ``signal`` (float, the instrument's unit; NaN for
        overflow, underflow and empty wells) and ``flag`` (a :class:`WellFlag` value). A grid
        gives every well of the plate, row-major, empty cells flagged ``"missing"``; a long
        table gives the wells it lists.
        ``attrs["metadata"]`` maps each plate id to its header (``{key: value}``) and
        ``attrs["source"]`` is the path. A plate
        without a ``Plate`` header line gets the file stem as id (``stem_2``, ``stem_3``... for
        later blocks).

    Raises
    ------
    LeptotwinError
        If no grid or long table is found; a reading is not a number, or its magnitude is
        1e15 or more (naming line and well); a grid lacks a row or column of its plate, or a
        row has fewer cells than the grid has columns (a lost line, a file cut short); a well or
        row is not on the plate or appears twice; a long-table line has more cells than its
        header; a plate header has no grid; a plate id appears twice; the file cannot be read;
        or a ``.xlsx`` file is not a workbook or is given without ``openpyxl``.
    """
    path = Path(path)
    source = str(path)
    if decimal not in ("auto", ".", ","):
        raise LeptotwinError(
            "bad decimal mark", field="decimal", value=decimal, expected="auto . ,"
        )
    fmt = None if plate_format is None else get_plate_format(plate_format)
    if not path.is_file():
        raise LeptotwinError("file not found", source=source)
    table = _records_and_decimal(path, decimal)
    metadata: dict[str, dict[str, str]] = {}
    if table.is_grid:
        frames = []
        for k, block in enumerate(_scan_blocks(table, source), start=1):
            plate = _plate_id(block.meta) or (path.stem if k == 1 else f"{path.stem}_{k}")
            if plate in metadata:
                raise LeptotwinError(
                    "plate id appears twice",
                    source=source,
                    field=f"line {block.header_line}",
                    value=plate,
                    expected="one block per plate",
                )
            metadata[plate] = block.meta
            frames.append(_grid_frame(block, plate, fmt, source, table.decimal))
        out = pd.concat(frames, ignore_index=True)
    else:
        out, meta = _long_frame(table, fmt, source, path.stem)
        metadata = {p: dict(meta) for p in pd.unique(out["plate"])}
        dup = out.duplicated(["plate", "well"])
        if dup.any():
            raise LeptotwinError(
                "duplicated well",
                source=source,
                value=f"{out.plate[dup].iloc[0]} {out.well[dup].iloc[0]}",
                expected="one reading per plate and well",
            )
    out["plate"] = out["plate"].astype(str)
    out.attrs = {"source": source, "metadata": metadata}
    return out


# --------------------------------------------------------------------------- writing
_DEFAULT_META = {"Instrument": "leptotwin virtual plate reader", "Read type": "Luminescence"}


def _format_values(values: NDArray[np.float64], flags: NDArray[np.object_], decimal: str) -> Any:
    """Shortest round-trip text for each value; integral values without ``.0``."""
    s = pd.Series(values)
    integral = np.isfinite(values) & (np.abs(values) < 1e15) & (np.floor(values) == values)
    text = s.astype(str).where(~integral, s.where(integral, 0).astype(np.int64).astype(str))
    if decimal == ",":
        text = text.str.replace(".", ",", regex=False)
    text = text.where(np.isfinite(values), "")
    text = text.where(flags != WellFlag.OVERFLOW.value, "OVER")
    text = text.where(flags != WellFlag.UNDERFLOW.value, "UNDER")
    return text.to_numpy(object)


def format_plate_reader(
    readings: pd.DataFrame,
    *,
    metadata: Mapping[str, Any] | None = None,
    plate_metadata: Mapping[str, Mapping[str, Any]] | None = None,
    plate_format: int | PlateFormat | None = None,
    sep: str = ",",
    decimal: str = ".",
) -> str:
    """The text :func:`write_plate_reader` writes (same parameters, without ``path``)."""
    source = "write_plate_reader"
    missing = [c for c in ("well", "signal") if c not in readings.columns]
    if missing:
        raise LeptotwinError(
            "missing column", source=source, field=missing[0], expected="plate, well, signal"
        )
    if sep not in (",", ";", "\t") or decimal not in (".", ",") or (sep == decimal):
        raise LeptotwinError(
            "bad separator or decimal mark",
            source=source,
            value=(sep, decimal),
            expected="sep one of , ; tab and decimal . or , different from sep",
        )
    plates = (
        readings["plate"].astype(str) if "plate" in readings else pd.Series("1", readings.index)
    )
    _, row, col = _parse_wells(readings["well"].to_numpy(), None, source=source)
    values = pd.to_numeric(readings["signal"], errors="raise").to_numpy(np.float64)
    if "flag" in readings:
        flags = readings["flag"].astype(str).to_numpy(object)
    else:
        flags = np.full(len(values), WellFlag.OK.value, dtype=object)
    given = None if plate_format is None else get_plate_format(plate_format)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    for plate, sel in plates.groupby(plates, sort=False).indices.items():
        if given is not None:
            fmt = given
        else:
            fmt = PLATE_384 if row[sel].max() >= 8 or col[sel].max() >= 12 else PLATE_96
        if row[sel].max() >= fmt.n_rows or col[sel].max() >= fmt.n_cols:
            raise LeptotwinError(f"well not on a {fmt}", source=source, field=f"plate {plate}")
        pos = row[sel] * fmt.n_cols + col[sel]
        if len(np.unique(pos)) != len(pos):
            raise LeptotwinError("duplicated well", source=source, field=f"plate {plate}")
        grid = np.full(fmt.n_wells, "", dtype=object)
        grid[pos] = _format_values(values[sel], flags[sel], decimal)
        meta = {**_DEFAULT_META, **(metadata or {}), **((plate_metadata or {}).get(plate, {}))}
        meta.pop("Plate", None)
        meta = {"Instrument": meta.pop("Instrument"), "Plate": plate, **meta}
        writer.writerows([k, "" if v is None else str(v)] for k, v in meta.items())
        writer.writerow([])
        writer.writerow(["", *range(1, fmt.n_cols + 1)])
        grid2 = grid.reshape(fmt.n_rows, fmt.n_cols)
        writer.writerows([letter, *grid2[i]] for i, letter in enumerate(fmt.row_letters))
        writer.writerow([])
    return buf.getvalue()


def write_plate_reader(
    path: str | os.PathLike[str],
    readings: pd.DataFrame,
    *,
    metadata: Mapping[str, Any] | None = None,
    plate_metadata: Mapping[str, Mapping[str, Any]] | None = None,
    plate_format: int | PlateFormat | None = None,
    sep: str = ",",
    decimal: str = ".",
) -> Path:
    """Write readings in the plate-reader export format (one grid block per plate).

    Parameters
    ----------
    path : path-like
        Written atomically.
    readings : DataFrame, one row per well
        ``plate`` (optional, default ``"1"``), ``well``, ``signal`` (float) and optionally
        ``flag`` (``"overflow"`` is written ``OVER``, ``"underflow"`` ``UNDER``; NaN is an
        empty cell). Wells absent from ``readings`` are written as empty cells.
    metadata : mapping, optional
        Header lines for every plate, e.g. ``{"Read type": "Absorbance 570 nm", "Units":
        "OD", "Date": "2024-05-01"}``. Defaults: ``Instrument`` (leptotwin virtual plate
        reader) and ``Read type`` (Luminescence). ``Plate`` is always the plate id.
    plate_metadata : mapping of plate id to mapping, optional
        Header lines for single plates; they override ``metadata``.
    plate_format : 96, 384 or PlateFormat, optional
        Default: 384 if a plate has a well past ``H12``, else 96.
    sep, decimal : str
        Separator (``","``, ``";"`` or ``"\\t"``) and decimal mark (``"."`` or ``","``). Values
        are written with the shortest text that reads back exactly.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    LeptotwinError
        If a column is missing, a well is not on the plate or appears twice, or ``sep`` and
        ``decimal`` clash.
    """
    return write_text(
        path,
        format_plate_reader(
            readings,
            metadata=metadata,
            plate_metadata=plate_metadata,
            plate_format=plate_format,
            sep=sep,
            decimal=decimal,
        ),
    )
