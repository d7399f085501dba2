"""Reading and checking tidy dose-response tables (``curve, dose, response``).

:func:`read_tidy_csv` reads a file as a lab writes it and refuses, in one line naming the file,
the column, the line and the value, everything that is not a curve label, a dose and a response
per row; :func:`read_tidy_parquet` does the same for a Parquet file and :func:`read_tidy` picks
one by the file's extension; :func:`check_frame` checks a table already in memory (the fitter's
input). All bound magnitudes by :data:`MAX_ABS`.

A UTF-8 CSV file with only the columns ``curve, dose, response`` (and ``dataset``) is read by
pyarrow's CSV reader (issue 14: a million curves in a fraction of the time and memory): labels
dictionary-encoded, so each distinct label is one string object, numbers parsed straight to
float64. Whatever that fast path cannot vouch for (another encoding or separator layout, extra
columns, a cell pyarrow refuses, a label with leading blanks, a value out of range) is read again
by the pandas path below, which gives the same table or the one-line error naming the line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin.errors import LeptotwinError

__all__ = ["MAX_ABS", "REQUIRED", "check_frame", "read_tidy", "read_tidy_csv", "read_tidy_parquet"]

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
_LABELS = ("curve", "dataset")
_FAST_COLUMNS = frozenset((*REQUIRED, "dataset"))
_HEAD_BYTES = 1 << 16  # the header line must end within this many bytes for the fast path
_PARQUET = (".parquet", ".pq")


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
    _check_header(
        names,
        src,
        shown=line,
        expected="a header line with the columns curve, dose, response (comma-separated)",
    )
    return names, sep, k + 1


def _check_header(names: list[str], src: str, *, shown: str, expected: str) -> None:
    """Refuse a repeated column name or a missing required column (``shown``: what the error
    quotes of the header)."""
    dupes = sorted({h for h in names if names.count(h) > 1})
    if dupes:
        raise LeptotwinError(
            "duplicated column header", source=src, field=dupes[0], expected="unique names"
        )
    for col in REQUIRED:
        if col not in names:
            raise LeptotwinError(
                "missing column", source=src, field=col, value=shown[:_SHOWN], expected=expected
            )


def _parse(text: str, names: list[str], sep: str, src: str) -> pd.DataFrame:
    """The table as pandas reads it: labels as text, numbers as floats where every cell is one,
    an empty dose or response cell as NaN (refused later, with its line).

    Numbers are read exactly (``float_precision="round_trip"``: the double nearest the decimal
    text, as the pyarrow path and Python's ``float`` read it); pandas' default parser is one
    unit in the last place off for some 17-digit numbers, as ``to_csv`` writes them (issue 14).
    """
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
            float_precision="round_trip",  # the double nearest each cell, as pyarrow and float()
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


def read_tidy(path: str | Path, *, categorical: bool = False) -> pd.DataFrame:
    """:func:`read_tidy_parquet` for a ``.parquet`` (or ``.pq``) file, else
    :func:`read_tidy_csv`; with ``categorical`` the label columns are Categoricals (a code per
    row, one string per distinct label: what ``fit-curves`` keeps for millions of rows)."""
    if Path(path).suffix.lower() in _PARQUET:
        frame = read_tidy_parquet(path)
    else:
        frame = read_tidy_csv(path, categorical=categorical)
    if categorical:
        for col in _LABELS:
            if col in frame.columns and not isinstance(frame[col].dtype, pd.CategoricalDtype):
                frame[col] = pd.Categorical(frame[col])
    return frame


def read_tidy_csv(path: str | Path, *, categorical: bool = False) -> pd.DataFrame:
    """Read and check a tidy dose-response CSV; see
    :func:`leptotwin.analysis.doseresponse.read_dose_response` (``categorical``: see
    :func:`read_tidy`)."""
    path = Path(path)
    src = str(path)
    fast = _read_arrow(path, categorical=categorical)
    if fast is not None:
        return fast
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


# --------------------------------------------------------------------------- the fast path
def _read_arrow(path: Path, *, categorical: bool = False) -> pd.DataFrame | None:
    """The table :func:`read_tidy_csv` would return, read by pyarrow, or None where this path
    cannot vouch for that (then the pandas path reads the file and names any error).

    Taken only for a UTF-8 file (BOM allowed) whose first line is the header, naming only
    ``curve, dose, response, dataset``, in which pyarrow parses every number as a finite
    float64 within :data:`MAX_ABS` (doses >= 0, no ``-0``) and every label is non-empty and
    starts with neither a blank (pandas' ``skipinitialspace`` strips those) nor holds a NUL or
    line break. Labels are kept as text (object dtype), each distinct label one string object,
    or with ``categorical`` as a Categorical whose categories are in order of first appearance.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError:
        return None
    head = head.removeprefix(b"\xef\xbb\xbf")
    first, newline, _ = head.partition(b"\n")
    try:
        line = first.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError:
        return None
    if (
        not newline
        or not line.strip()
        or line.splitlines() != [line]
        or "\x00" in line
        or line.count('"') % 2  # a quoted header cell going on to the next line
    ):
        return None
    try:
        names, sep, _ = _header(line, str(path))
    except LeptotwinError:
        return None
    if not set(names) <= _FAST_COLUMNS:
        return None
    labels = [c for c in names if c in _LABELS]
    types = {
        c: pa.dictionary(pa.int32(), pa.string()) if c in _LABELS else pa.float64() for c in names
    }
    try:
        size = path.stat().st_size
        reader = pacsv.open_csv(  # block by block: the whole-file reader parses ahead,
            path,  # holding about 2.5 bytes per byte of the file at once
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=_BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                decimal_point="," if sep == ";" else ".",
            ),
        )
        columns = _Columns(names, labels)
        for batch in reader:  # converted batch by batch: the Arrow table is never held whole
            rows = batch.num_rows
            if not columns.n and rows:  # rows in the file, from the first block's density
                columns.reserve(int(rows * size / min(size, _BLOCK_BYTES) * 1.05) + rows)
            for c, column in zip(names, batch.columns, strict=True):
                if c not in labels and not _fast_numbers_ok(column.to_numpy(), dose=c == "dose"):
                    return None
            columns.append(batch.columns, rows)
            del batch
        if columns.n == 0:
            return None
        return columns.frame(pa, categorical=categorical)
    except (pa.ArrowException, OSError, ValueError):
        return None


#: Bytes of the file the fast path's CSV reader parses at a time (each block one batch).
_BLOCK_BYTES = 1 << 22


class _Columns:
    """The fast path's columns, filled batch by batch into preallocated arrays (grown by copying
    where the first block's guess of the row count falls short; never concatenated from pieces).

    Label columns are held as codes into their batch's dictionary until :meth:`frame`, which
    maps all batch dictionaries onto one list of labels in order of first appearance (one
    vectorised pass, no Python work per label) and checks the labels.
    """

    def __init__(self, names: list[str], labels: list[str]) -> None:
        self.names = names
        self.labels = labels
        self.n = 0
        self.arrays = {c: np.empty(0, np.int32 if c in labels else np.float64) for c in names}
        self.dictionaries: dict[str, list[Any]] = {c: [] for c in labels}
        self.starts: list[int] = []  # first row of each batch

    def reserve(self, rows: int) -> None:
        """Room for at least ``rows`` rows (the filled part copied over)."""
        for c, old in self.arrays.items():
            if len(old) < rows:
                new = np.empty(rows, old.dtype)
                new[: self.n] = old[: self.n]
                self.arrays[c] = new

    def append(self, batch_columns: list[Any], rows: int) -> None:
        """Copy one batch's columns (labels: their dictionary codes) after the filled rows."""
        if self.n + rows > len(self.arrays[self.names[0]]):
            self.reserve(max(self.n + rows, int(self.n * 1.25)))
        self.starts.append(self.n)
        for c, column in zip(self.names, batch_columns, strict=True):
            if c in self.dictionaries:
                self.dictionaries[c].append(column.dictionary)
                piece = column.indices.to_numpy()
            else:
                piece = column.to_numpy()
            self.arrays[c][self.n : self.n + rows] = piece
        self.n += rows

    def frame(self, pa: Any, *, categorical: bool) -> pd.DataFrame | None:
        """The table (labels as text, or Categoricals with ``categorical``), or None where a
        label is empty, starts with a blank or holds a NUL or line break."""
        out: dict[str, Any] = {}
        bounds = [*self.starts, self.n]
        for c in self.names:
            values = self.arrays.pop(c)[: self.n]
            if c in self.dictionaries:
                text = _merge_codes(values, bounds, self.dictionaries.pop(c), pa)
                if text is None:
                    return None
                if categorical:
                    values = pd.Categorical.from_codes(
                        values, categories=pd.Index(text, dtype=object)
                    )
                else:
                    values = text[values]
            out[c] = values
        return pd.DataFrame(out, copy=False)


def _merge_codes(
    codes: NDArray[np.int32], bounds: list[int], dictionaries: list[Any], pa: Any
) -> NDArray[np.object_] | None:
    """Replace, in place, each batch's codes (rows ``bounds[k]:bounds[k + 1]``) into its
    dictionary ``dictionaries[k]`` by codes into the labels of all batches in order of first
    appearance; return those labels (object array of str), or None where a label is empty,
    starts with a blank or holds a NUL or line break."""
    import pyarrow.compute as pc

    every = pa.concat_arrays(dictionaries)
    if pc.any(pc.match_substring_regex(every, r"^$|^[ \t]|[\x00\n\r]")).as_py():
        return None
    merged = pc.dictionary_encode(every)  # first appearance first, as the batches run
    where = merged.indices.to_numpy()
    at = 0
    for k, dictionary in enumerate(dictionaries):
        lo, hi = bounds[k], bounds[k + 1]
        codes[lo:hi] = where[at : at + len(dictionary)][codes[lo:hi]]
        at += len(dictionary)
    return merged.dictionary.to_numpy(zero_copy_only=False)


def _fast_numbers_ok(values: NDArray[np.float64], *, dose: bool) -> bool:
    """Every value finite and within :data:`MAX_ABS` (doses >= 0, none ``-0``, which pandas reads
    as 0 from an integer column): else the pandas path decides (and names the line)."""
    with np.errstate(invalid="ignore"):
        if dose:
            good = (values >= 0) & (values <= MAX_ABS) & ~np.signbit(values)
        else:
            good = np.abs(values) <= MAX_ABS
            good &= ~((values == 0) & np.signbit(values))
    return bool(good.all())


# --------------------------------------------------------------------------- Parquet
def read_tidy_parquet(path: str | Path) -> pd.DataFrame:
    """Read and check a tidy dose-response Parquet file (columns ``curve, dose, response``,
    optionally ``dataset``; others are kept).

    Labels may be text, integers or dictionary-encoded; doses and responses numeric. The same
    rules as for CSV apply: no missing label or number (a missing well is a row left out),
    doses from 0 to :data:`MAX_ABS`, finite responses within ±:data:`MAX_ABS`.

    Returns
    -------
    DataFrame
        One row per row of the file; text labels as object dtype (integer labels stay
        integers), ``dose`` and ``response`` as float64.

    Raises
    ------
    LeptotwinError
        One line naming the file, the column, the row and the value: not a Parquet file, a
        missing or repeated column, a non-numeric dose or response column, no rows, a missing
        label or number, a negative, infinite or absurd value.
    """
    path = Path(path)
    src = str(path)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise LeptotwinError(
            "reading Parquet needs pyarrow", source=src, expected="pip install pyarrow"
        ) from None
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError, ValueError) as err:
        raise LeptotwinError(
            f"cannot read the Parquet file ({str(err).strip()[:200]})",
            source=src,
            expected="a Parquet file with the columns curve, dose, response",
        ) from None
    names = list(schema.names)
    _check_header(names, src, shown=", ".join(names), expected="the columns curve, dose, response")
    for col in ("dose", "response"):
        kind = schema.field(col).type
        if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            raise LeptotwinError(
                "not a numeric column",
                source=src,
                field=col,
                value=str(kind),
                expected="a floating-point or integer column",
            )
    label_cols = [c for c in _LABELS if c in names]
    try:
        table = pq.read_table(
            path,
            read_dictionary=[
                c
                for c in label_cols
                if pa.types.is_string(schema.field(c).type)
                or pa.types.is_large_string(schema.field(c).type)
            ],
        )
    except (pa.ArrowException, OSError, ValueError) as err:
        raise LeptotwinError(
            f"cannot read the Parquet file ({str(err).strip()[:200]})",
            source=src,
            expected="a Parquet file with the columns curve, dose, response",
        ) from None
    if table.num_rows == 0:
        raise LeptotwinError(
            "no data rows", source=src, expected="one row per well: curve, dose, response"
        )

    def where(i: int) -> str:
        return f"row {i + 1}"

    out: dict[str, Any] = {}
    for col in names:
        column = table.column(col)
        if column.null_count:
            i = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            what = f"missing {col} label" if col in label_cols else f"empty {col} cell"
            raise LeptotwinError(
                f"{what} at {where(i)}",
                source=src,
                field=col,
                expected=f"a {col} value in every row (leave out the row of an excluded well)",
            )
        if col in ("dose", "response"):
            out[col] = column.to_numpy().astype(np.float64, copy=False)
        elif col in label_cols and pa.types.is_dictionary(column.type):
            out[col] = np.asarray(column.to_pandas().array, dtype=object)
        else:
            out[col] = column.to_pandas().to_numpy()
    del table
    frame = pd.DataFrame(out, copy=False)
    for col in label_cols:
        if frame[col].dtype == object:
            _check_labels(frame[col], col, src, where)
    _check_ranges(frame["dose"].to_numpy(), frame["response"].to_numpy(), src, where, missing=False)
    return frame


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
