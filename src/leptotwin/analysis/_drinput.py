"""Reading and checking tidy dose-response tables (``curve, dose, response``).

:func:`read_tidy_csv` reads a file as a lab writes it and refuses, in one line naming the file,
the column, the line and the value, everything that is not a curve label, a dose and a response
per row; :func:`check_frame` checks a table already in memory (the fitter's input). Both bound
magnitudes by :data:`MAX_ABS`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin.errors import LeptotwinError

__all__ = ["MAX_ABS", "REQUIRED", "check_frame", "read_tidy_csv"]

REQUIRED = ("curve", "dose", "response")
#: Largest accepted ``|dose|`` and ``|response|`` (dose unit, response unit): beyond any reading
#: or dose in any unit (plate readers stop near 1e9 counts; 10 µM is 1e10 fM), and it keeps
#: squares, sums of squares and plot axes finite in double precision. The plate-reader reader
#: (:mod:`leptotwin.formats`) uses the same bound for readings.
MAX_ABS = 1e15
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHOWN = 80  # characters of a header or cell quoted in a message
_NUL = b"\x00"
_Where = Callable[[int], str]


# --------------------------------------------------------------------------- files
def _decode(path: Path) -> str:
    """The file's text: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252.

    Raises LeptotwinError for an unreadable, empty or binary (NUL bytes) file.
    """
    src = str(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LeptotwinError(
            f"cannot read the file ({err.strerror or type(err).__name__})",
            source=src,
            expected="a readable CSV file",
        ) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16", errors="replace")
    elif b"\x00" in data:
        raise LeptotwinError(
            "binary file, not CSV text",
            source=src,
            value=f"NUL byte at offset {data.index(_NUL)}",
            expected="a text file with the header line curve,dose,response",
        )
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    if not text.strip():
        raise LeptotwinError(
            "empty file",
            source=src,
            expected="a header line curve,dose,response and one row per well",
        )
    return text


def _header(text: str, src: str) -> tuple[list[str], str, int]:
    """Stripped column names, the separator and the header's line number (blank lines skipped).

    The separator is ``,`` unless the header line has none and has ``;`` or a tab.
    """
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if line.strip())
    line = lines[k]
    sep = "," if "," in line else ";" if ";" in line else "\t" if "\t" in line else ","
    try:
        names = [h.strip() for h in next(csv.reader([line], delimiter=sep))]
    except csv.Error as err:
        raise LeptotwinError(
            f"cannot split the header line into columns ({err})",
            source=src,
            field=f"line {k + 1}",
            expected="curve,dose,response",
        ) from None
    dupes = sorted({h for h in names if names.count(h) > 1})
    if dupes:
        raise LeptotwinError(
            "duplicated column header", source=src, field=dupes[0], expected="unique names"
        )
    for col in REQUIRED:
        if col not in names:
            raise LeptotwinError(
                "missing column",
                source=src,
                field=col,
                value=line[:_SHOWN],
                expected="a header line with the columns curve, dose, response (comma-separated)",
            )
    return names, sep, k + 1


def _parse(text: str, names: list[str], sep: str, src: str) -> pd.DataFrame:
    """The table as pandas reads it: labels as text, numbers as floats where every cell is one,
    an empty dose or response cell as NaN (refused later, with its line)."""
    labels = {c: str for c in ("curve", "dataset") if c in names}
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=0,
            names=names,
            dtype=labels,  # type: ignore[arg-type]
            keep_default_na=False,
            na_values={"dose": [""], "response": [""]},
            decimal="," if sep == ";" else ".",
            skipinitialspace=True,
            low_memory=False,
        )
    except (pd.errors.ParserError, csv.Error, ValueError, OverflowError) as err:
        raise LeptotwinError(
            f"cannot read the table ({str(err).strip()[:200]})",
            source=src,
            expected=f"the same number of {sep!r}-separated cells on every line",
        ) from None
    if not isinstance(frame.index, pd.RangeIndex):  # pandas took a first column as the index
        raise LeptotwinError(
            "the data rows have more cells than the header line",
            source=src,
            expected=f"{len(names)} cells per line, as in the header",
        )
    return frame


def _line_finder(text: str, sep: str, header_line: int) -> _Where:
    """Maps a data row's position (0-based, as pandas counts: blank lines skipped) to the line
    an editor shows; computed only when a message needs it."""

    def line_of(row: int) -> str:
        reader = csv.reader(io.StringIO(text), delimiter=sep)
        seen = -1
        try:
            for record in reader:
                if reader.line_num <= header_line or not any(c.strip() for c in record):
                    continue
                seen += 1
                if seen == row:  # a quoted cell may span lines: the record's first line
                    return f"line {reader.line_num - sum(c.count(chr(10)) for c in record)}"
        except csv.Error:
            pass
        return f"data row {row + 1}"

    return line_of


def read_tidy_csv(path: str | Path) -> pd.DataFrame:
    """Read and check a tidy dose-response CSV; see
    :func:`leptotwin.analysis.doseresponse.read_dose_response`."""
    path = Path(path)
    src = str(path)
    text = _decode(path)
    names, sep, header_line = _header(text, src)
    frame = _parse(text, names, sep, src)
    if frame.empty:
        raise LeptotwinError(
            "no data rows under the header",
            source=src,
            expected="one row per well: curve, dose, response",
        )
    where = _line_finder(text, sep, header_line)
    out = frame.copy()
    for col in ("curve", "dataset"):
        if col in out.columns:
            _check_labels(out[col], col, src, where)
    for col in ("dose", "response"):
        out[col] = _numbers(frame[col], col, src, where, decimal_comma=sep != ",")
    _check_ranges(out["dose"].to_numpy(), out["response"].to_numpy(), src, where, missing=False)
    return out


def _check_labels(labels: pd.Series, col: str, src: str, where: _Where) -> None:
    blank = labels.isna().to_numpy() | (labels.astype(str).str.strip() == "").to_numpy()
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise LeptotwinError(
            f"missing {col} label at {where(i)}",
            source=src,
            field=col,
            expected=f"a {col} label in every row",
        )


def _numbers(
    raw: pd.Series, col: str, src: str, where: _Where, *, decimal_comma: bool
) -> NDArray[np.float64]:
    """A column as floats; a cell that is not a decimal number (or is empty) is an error."""
    if raw.dtype.kind in "fiu":
        values = raw.to_numpy(dtype=float)
        if np.isnan(values).any():
            i = int(np.flatnonzero(np.isnan(values))[0])
            raise LeptotwinError(
                f"empty {col} cell at {where(i)}",
                source=src,
                field=col,
                expected=f"a number in every row (leave out the row of an excluded well); {col}"
                " is never filled in or guessed",
            )
        return values
    text = raw.astype(str).str.strip()
    if decimal_comma:
        text = text.str.replace(",", ".", regex=False)
    ok = text.str.fullmatch(_NUMBER).fillna(False).to_numpy(bool)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        cell = str(raw.iloc[i])
        raise LeptotwinError(
            f"not a number at {where(i)}" if cell.strip() else f"empty {col} cell at {where(i)}",
            source=src,
            field=col,
            value=cell[:_SHOWN] if cell.strip() else None,
            expected="a decimal number such as 0.1 or 1e-3 in every row",
        )
    return text.to_numpy(object).astype(np.float64)


# --------------------------------------------------------------------------- ranges
def _check_ranges(
    dose: NDArray[np.float64],
    response: NDArray[np.float64],
    src: str,
    where: _Where,
    *,
    missing: bool,
) -> None:
    """Doses finite, ``0 <= dose <= MAX_ABS``; responses finite (NaN allowed if ``missing``)
    with ``|response| <= MAX_ABS``."""
    with np.errstate(invalid="ignore"):
        out = np.isinf(response) | (np.abs(response) > MAX_ABS)
        if not missing:
            out |= np.isnan(response)
    rules = (
        ("dose", ~np.isfinite(dose), "missing or infinite dose", "finite doses >= 0"),
        ("dose", dose < 0, "negative dose", "doses >= 0 (0 for controls)"),
        ("dose", dose > MAX_ABS, f"beyond {MAX_ABS:g}",
         f"doses from 0 to {MAX_ABS:g} in one unit (e.g. nM)"),
        ("response", out, f"not a finite number within ±{MAX_ABS:g}",
         f"finite responses from -{MAX_ABS:g} to {MAX_ABS:g} (e.g. % viability)"),
    )  # fmt: skip
    values = {"dose": dose, "response": response}
    for column, broken, what, expected in rules:  # in this order: the first rule broken is named
        if broken.any():
            i = int(np.flatnonzero(broken)[0])
            raise LeptotwinError(
                f"{what} at {where(i)}",
                source=src,
                field=column,
                value=float(values[column][i]),
                expected=expected,
            )


# --------------------------------------------------------------------------- tables in memory
def check_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a tidy dose-response table; returns curve/dose/response with float columns.

    NaN responses are kept (missing wells, dropped by the fitter); everything else must be a
    finite number within :data:`MAX_ABS`, doses >= 0.
    """
    if not isinstance(df, pd.DataFrame):
        raise LeptotwinError(
            "expected a DataFrame",
            source=source,
            value=type(df).__name__,
            expected="pandas.DataFrame with columns curve, dose, response",
        )
    dupes = df.columns[df.columns.duplicated()].tolist()
    if dupes:
        raise LeptotwinError(
            "duplicated column header",
            source=source,
            field=str(dupes[0]),
            expected="unique column names",
        )
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise LeptotwinError(
            "missing column",
            source=source,
            field=missing[0],
            expected=f"columns {', '.join(REQUIRED)}; got {', '.join(map(str, df.columns))}",
        )
    out = pd.DataFrame({"curve": df["curve"].to_numpy()})
    for col in ("dose", "response"):
        raw = df[col]
        if raw.dtype.kind in "fiu":  # already numeric: nothing to coerce
            out[col] = raw.to_numpy(dtype=float)
            continue
        num = pd.to_numeric(raw, errors="coerce").astype(float)
        bad = num.isna() & raw.notna()
        if bad.any():
            raise LeptotwinError(
                "non-numeric value",
                source=source,
                field=col,
                value=raw[bad].iloc[0],
                expected="numbers",
            )
        out[col] = num.to_numpy()

    def where(i: int) -> str:
        return f"row {df.index[i]!r}"

    _check_ranges(out["dose"].to_numpy(), out["response"].to_numpy(), source, where, missing=True)
    if out["curve"].isna().any():
        raise LeptotwinError("missing curve label", source=source, field="curve")
    if len(out) and out["response"].isna().all():
        raise LeptotwinError(
            "every response is missing",
            source=source,
            field="response",
            expected="at least one numeric response",
        )
    return out
