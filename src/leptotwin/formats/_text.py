"""Text cells of the files people bring: decoding, records with their line numbers, numbers.

Private to :mod:`leptotwin.formats`: the plate-reader reader (:mod:`.plate`) and the layout
readers (:mod:`._layout_checks`) share these, so every file is decoded, split and read as numbers
the same way, and every error names the same line an editor shows.
"""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin.errors import LeptotwinError

_LINE_END = re.compile(r"(\r\n|\r|\n)")
_NUMBER = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
"""A decimal number in ASCII digits, optionally with an exponent. Python's ``float`` also takes
``inf``, ``nan``, ``1_000`` and digits of other scripts; a cell holding one of those is not a
reading a lab instrument or spreadsheet writes, so it is refused rather than guessed at."""


class Record(NamedTuple):
    """One line (or one quoted multi-line record) of a delimited text file."""

    line: int  # 1-based line on which the record starts, as an editor counts
    cells: list[str]  # stripped, trailing empty cells removed
    width: int  # number of cells before trailing empty ones were removed


def read_text(path: Path) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252.

    Undecodable bytes become U+FFFD, which no number or keyword matches, so a binary file is
    refused by the parser with the line it breaks on.

    Raises
    ------
    LeptotwinError
        If the file cannot be read (missing, a folder, no permission).
    """
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LeptotwinError(
            f"cannot read the file ({err.strerror or type(err).__name__})", source=str(path)
        ) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_xlsx(path: Path) -> list[Record]:
    """Cells of the first sheet as text records (needs the optional openpyxl package).

    Raises
    ------
    LeptotwinError
        If openpyxl is not installed or the file is not a readable workbook.
    """
    try:
        import openpyxl
    except ImportError:
        raise LeptotwinError(
            "reading .xlsx files needs the optional package openpyxl",
            source=str(path),
            expected="`pip install openpyxl`, or the sheet saved as CSV",
        ) from None
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles, data validation and the like: nothing about the cells
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
            finally:
                book.close()
    except LeptotwinError:
        raise
    except Exception as err:  # openpyxl, zipfile and XML parsers raise many kinds on bad bytes
        raise LeptotwinError(
            f"not a readable .xlsx workbook ({type(err).__name__}: {err})",
            source=str(path),
            expected="an Excel workbook whose first sheet holds the table, or the sheet as CSV",
        ) from None
    width = max((len(r) for r in rows), default=0)  # a sheet's rows are all as wide as it is
    records = [_record(n, ["" if v is None else str(v) for v in r]) for n, r in enumerate(rows, 1)]
    return [rec._replace(width=width) for rec in records]


def _record(line: int, raw: list[str]) -> Record:
    cells = [c.strip() for c in raw]
    width = len(cells)
    while cells and not cells[-1]:
        cells.pop()
    return Record(line, cells, width)


def split_records(text: str, sep: str, source: str) -> list[Record]:
    """Split delimited text into records, each with the line it starts on.

    Lines end at ``\\r\\n``, ``\\r`` or ``\\n`` only (not at the other characters
    :meth:`str.splitlines` breaks on), so line numbers match what an editor shows.

    Raises
    ------
    LeptotwinError
        If a quoted cell never closes (the csv module's field limit), naming its line.
    """
    parts = _LINE_END.split(text)
    lines = [a + b for a, b in zip(parts[0::2], [*parts[1::2], ""], strict=True)]
    if lines and not lines[-1]:
        lines.pop()
    reader = csv.reader(lines, delimiter=sep)
    out = []
    while True:
        start = reader.line_num + 1
        try:
            raw = next(reader)
        except StopIteration:
            return out
        except csv.Error as err:
            raise LeptotwinError(
                f"cannot split the line into cells ({err})",
                source=source,
                field=f"line {start}",
                expected='cells separated by the same mark; a quoted cell closed by a " on the '
                "same or a later line",
            ) from None
        out.append(_record(start, raw))


def parse_numbers(
    text: NDArray[np.object_] | pd.Series, decimal: str = "."
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Cells as numbers: (values, shape (n,), NaN where not a number; is_number, shape (n,)).

    A number is optional sign, ASCII digits with at most one decimal mark (``decimal``, or
    ``.`` when the mark is ``,``), and an optional exponent; surrounding spaces are ignored.
    Values are read with Python's correctly rounded ``float`` (a number beyond the float range
    reads as +-inf and still counts as a number; callers bound magnitudes).
    """
    s = pd.Series(np.asarray(text, dtype=object).ravel(), dtype=object)
    s = s.where(s.notna(), "").astype(str).str.strip()
    if decimal == ",":
        s = s.str.replace(",", ".", regex=False)
    is_number = s.str.fullmatch(_NUMBER).fillna(False).to_numpy(bool)
    values = np.full(len(s), np.nan)
    if is_number.any():
        values[is_number] = s[is_number].to_numpy(object).astype(np.float64)
    return values, is_number
