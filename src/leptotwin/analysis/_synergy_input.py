"""Reading and checking SynergyFinder long tables (private to :mod:`leptotwin.analysis.synergy`).

Column names: SynergyFinder's own variants are accepted the way its ``.AdjustColumnName``
(SynergyFinder 3, ``R/Reshape_data.R``) reads them: CamelCase becomes snake_case (``BlockID``,
``BlockId`` -> ``block_id``, ``DrugRow`` -> ``drug_row``), ``PairIndex`` is ``block_id``,
``drug1/drug2/conc1/conc2`` are the row and column drug, ``conc_unit1/conc_unit2`` their units,
one ``conc_unit`` serves both (so does ``conc_unit1`` or ``conc_r_unit`` alone: SynergyFinder's
``ReshapeData`` fills a missing ``conc_unit2`` from ``conc_unit1``), and ``Inhibition`` is
``response``.

Every check that a user can act on raises a :class:`LeptotwinError` naming the file (or
``synergy_scores``), the line (or row label), the column and the value: text in numbers,
infinite values, negative concentrations or ones of 1 M (1 g/mL) and more, responses beyond
:data:`RESPONSE_LIMIT`, missing block ids, drug names or units, units that are not
concentrations (parsed with pint, :mod:`leptotwin.catalog.units`), and units that cannot be
converted into one per drug and block. Missing (NaN) concentrations or responses are not
errors: their block is left out and flagged in ``qc.csv``, as before.
"""

from __future__ import annotations

import ctypes
import io
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leptotwin.errors import LeptotwinError

if TYPE_CHECKING:
    from leptotwin.catalog.units import ConcUnit

REQUIRED = (
    "block_id",
    "drug_row",
    "drug_col",
    "conc_r",
    "conc_c",
    "response",
    "conc_r_unit",
    "conc_c_unit",
)
RESPONSE_LIMIT = 1000.0
"""Largest |response| accepted, in points of % (ten times full effect): beyond it a value is
not a percentage of a control (raw luminescence, a typo, 1e308)."""
FRACTION_MEDIAN = 1.5
FRACTION_MAX = 10.0
"""Responses read as % whose median |response| is at most FRACTION_MEDIAN and whose largest is
at most FRACTION_MAX are fractions (0-1; viability up to 1.9 in the Mathews data): % data with
any effect reach far beyond both, even where most wells are inactive."""
RESPONSE_UNITS = ("percent", "fraction")

_ALIASES = {
    "block_id": "block_id",
    "pair_index": "block_id",
    "drug_row": "drug_row",
    "drug1": "drug_row",
    "drug_col": "drug_col",
    "drug2": "drug_col",
    "conc_r": "conc_r",
    "conc1": "conc_r",
    "conc_row": "conc_r",
    "conc_c": "conc_c",
    "conc2": "conc_c",
    "conc_col": "conc_c",
    "response": "response",
    "inhibition": "response",
    "conc_r_unit": "conc_r_unit",
    "conc_unit1": "conc_r_unit",
    "conc_row_unit": "conc_r_unit",
    "conc_c_unit": "conc_c_unit",
    "conc_unit2": "conc_c_unit",
    "conc_col_unit": "conc_c_unit",
    "conc_unit": "conc_unit",
}
EXPECTED_COLUMNS = (
    "SynergyFinder's long format, one row per well: block_id (or PairIndex, BlockID), "
    "drug_row (drug1), drug_col (drug2), conc_r (conc1), conc_c (conc2), response, "
    "conc_r_unit (conc_unit1) and conc_c_unit (conc_unit2), or one conc_unit (or conc_unit1) "
    "for both"
)
_NUMBER = "a number (decimal point), or empty / NA for a missing well"

Locator = Callable[[Hashable], str]
_CONTROL = re.compile(
    rb"[\x00-\x08\x0e-\x19\x1b-\x1f]"
)  # in no text table (tab, CR, LF, FF, ^Z are)
#: Every byte :data:`_CONTROL` does not match (:func:`_has_control` deletes them).
_NOT_CONTROL = bytes(b for b in range(256) if not _CONTROL.match(bytes([b])))


def _has_control(data: bytes) -> bool:
    """Whether ``data`` holds a byte :data:`_CONTROL` matches: ``bytes.translate`` deleting every
    other byte (16 ms on a 34 MB table of 10^4 blocks; the regex's search took 0.10 s)."""
    return bool(data.translate(None, _NOT_CONTROL))


# --------------------------------------------------------------------------- files
def read_table(path: Path) -> tuple[pd.DataFrame, int]:
    """The CSV at ``path`` as text cells (NaN where empty) and the file line of row label 0.

    Comma, semicolon or tab separated (the one the header uses most); UTF-8 (with or without a
    byte-order mark) or Windows-1252 text, as Excel writes it. Blank lines are skipped but
    counted, so row label ``k`` is on line ``k + first``.

    Raises
    ------
    LeptotwinError
        Missing, empty, binary or undecodable file, or text that is not a table.
    """
    source = str(path)
    if not path.exists():
        raise LeptotwinError("file not found", source=source)
    if not path.is_file():
        raise LeptotwinError("not a file", source=source, expected="a CSV file")
    data = path.read_bytes()
    if _has_control(data):
        raise LeptotwinError("binary file, not a CSV table", source=source, expected="a CSV file")
    text = _decode(data, source)
    lines = [line if line.strip() else "" for line in re.split(r"\r\n|\r|\n", text)]
    if not any(lines):
        raise LeptotwinError("empty file", source=source, expected=EXPECTED_COLUMNS)
    skipped = next(i for i, line in enumerate(lines) if line)
    header = lines[skipped]
    sep = max((",", ";", "\t"), key=header.count)
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines[skipped:])),
            sep=sep,
            dtype=str,
            skip_blank_lines=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LeptotwinError(
            f"not a readable CSV table: {reason}", source=source, expected=EXPECTED_COLUMNS
        ) from None
    frame = frame[frame.notna().any(axis=1)]  # blank lines (their labels keep the numbering)
    return frame, skipped + 2


#: What pandas' ``read_csv`` reads as missing (its default ``na_values``): a text cell spelled so
#: is NaN on the pandas path, so the pyarrow path leaves such a table to it.
_PANDAS_NA = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)  # fmt: skip
_NUMBER_COLUMNS = frozenset({"conc_r", "conc_c", "response"})


def read_table_fast(path: Path) -> pd.DataFrame | None:
    """The cells :func:`read_table` reads, through pyarrow's CSV reader (several times faster),
    or None where this path cannot vouch for that (then :func:`read_table` reads the file and
    names any problem).

    Taken only for a UTF-8 table of two drugs whose first line is the header (names unique,
    not empty) and which holds no control character, quote, lone carriage return, blank after
    a separator or at a line start, and no empty or NA-spelled text cell. The concentration
    and response columns come back as float64, each number the double nearest its text (as
    ``float()`` reads it; an empty cell NaN), any cell that is not a number sends the table
    to the pandas path; the other columns as text (object), one ``str`` object per distinct
    value. Row labels 0, 1, ... (blank lines skipped): a table that fails a check is read again
    by :func:`read_table`, which names the line (``leptotwin.analysis.synergy.read_checked``)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    data = data.removeprefix(b"\xef\xbb\xbf")
    head, newline, _ = data.partition(b"\n")
    try:
        header = head.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError:
        return None
    if not newline or not header.strip():
        return None
    sep = max((",", ";", "\t"), key=header.count)
    b_sep = sep.encode()
    # the two-byte searches (~30 ms each at 34 MB) only where a one-byte one (~2 ms) finds the
    # byte they start with or end with
    if (
        _has_control(data)
        or b'"' in data
        or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n"))
        or (b" " in data and (b_sep + b" " in data or b"\n " in data or data.startswith(b" ")))
        or (sep != "\t" and b"\t" in data)
    ):
        return None
    names = header.split(sep)
    if (
        len(set(names)) != len(names)
        or not all(names)
        or count_drugs(pd.DataFrame(columns=names)) > 2
    ):
        return None
    numbers = {n for n in names if _ALIASES.get(_snake(n)) in _NUMBER_COLUMNS}
    types = {
        n: pa.float64() if n in numbers else pa.dictionary(pa.int32(), pa.string()) for n in names
    }
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows == 0:
        return None
    out: dict[str, np.ndarray] = {}
    for name, column in zip(names, table.columns, strict=True):
        if name in numbers:
            out[name] = column.to_numpy()  # nulls (empty cells) as NaN
            continue
        column = column.unify_dictionaries().combine_chunks()
        texts = column.dictionary.to_pylist()
        if any(t in _PANDAS_NA for t in texts):
            return None
        objects = np.empty(len(texts), dtype=object)
        objects[:] = texts
        out[name] = objects[column.indices.to_numpy()]
    return pd.DataFrame(out, copy=False)


def _decode(data: bytes, source: str) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LeptotwinError(
        "not a text file (neither UTF-8 nor Windows-1252)", source=source, expected="a CSV file"
    )


# --------------------------------------------------------------------------- columns
def _snake(name: object) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name).strip())
    return re.sub(r"[\s.\-]+", "_", text).lower()


def normalise_columns(df: pd.DataFrame, source: str, *, copy: bool = True) -> pd.DataFrame:
    """``df`` with SynergyFinder's column-name variants renamed to :data:`REQUIRED` (``copy``
    False: its columns' data shared, for a caller that only reads them).

    Raises
    ------
    LeptotwinError
        A missing column, two columns meaning the same one, or a third drug.
    """
    repeated = df.columns[df.columns.duplicated()]
    if len(repeated):
        raise LeptotwinError(
            "repeated column name", source=source, field=str(repeated[0]), expected="one of each"
        )
    found: dict[str, object] = {}
    for col in df.columns:
        key = _snake(col)
        if re.fullmatch(r"(drug|conc|conc_unit)([3-9]|\d\d+)", key):
            raise LeptotwinError(
                "combinations of three or more drugs are not supported",
                source=source,
                field=str(col),
                expected="one row drug and one column drug per block",
            )
        target = _ALIASES.get(key)
        if target is None:
            continue
        if target in found:
            raise LeptotwinError(
                f"two columns both give {target}",
                source=source,
                field=f"{found[target]}, {col}",
                expected="one of them",
            )
        found[target] = col
    unit = found.pop("conc_unit", None)
    if unit is not None:
        found.setdefault("conc_r_unit", unit)
        found.setdefault("conc_c_unit", unit)
    if "conc_r_unit" in found:  # SynergyFinder's ReshapeData: conc_unit1 serves a drug without one
        found.setdefault("conc_c_unit", found["conc_r_unit"])
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        have = ", ".join(str(c) for c in list(df.columns)[:10])
        raise LeptotwinError(
            f"missing column {missing[0]} (the table has: {have})",
            source=source,
            field=missing[0],
            expected=EXPECTED_COLUMNS,
        )
    out = pd.DataFrame({c: df[found[c]] for c in REQUIRED}, index=df.index, copy=copy)
    extra = [c for c in df.columns if c not in found.values() and str(c) not in REQUIRED]
    return pd.concat([out, df[extra]], axis=1, copy=copy) if extra else out


# --------------------------------------------------------------------------- n drugs
_ND_ALIASES = {
    "pair_index": "block_id",
    "inhibition": "response",
    "drug_row": "drug1",
    "drug_col": "drug2",
    "conc_r": "conc1",
    "conc_row": "conc1",
    "conc_c": "conc2",
    "conc_col": "conc2",
    "conc_unit": "conc_unit1",
    "conc_r_unit": "conc_unit1",
    "conc_row_unit": "conc_unit1",
    "conc_c_unit": "conc_unit2",
    "conc_col_unit": "conc_unit2",
}


def count_drugs(df: pd.DataFrame) -> int:
    """How many drugs a table names: the largest ``k`` of a ``drugk``/``conck``/``conc_unitk``
    column (SynergyFinder's spelling after :func:`_snake`), at least 2."""
    ks = [2]
    for col in df.columns:
        hit = re.fullmatch(r"(?:drug|conc|conc_unit)(\d+)", _snake(col))
        if hit:
            ks.append(int(hit.group(1)))
    return max(ks)


def check_table_nd(
    df: pd.DataFrame, ndrug: int, source: str, first_line: int | None = None
) -> pd.DataFrame:
    """Check SynergyFinder+'s long format of ``ndrug`` >= 3 drugs (``block_id, drug1..drugN,
    conc1..concN, response, conc_unit1..conc_unitN``; one ``conc_unit`` or ``conc_unit1``
    serves every drug without its own, as in ``ReshapeData``): returns ``block_id, drug1..N,
    conc1..N, response, conc_unit1..N`` (numbers as float) and any other columns.

    Raises
    ------
    LeptotwinError
        A missing or repeated column, and every bad cell :func:`check_table` refuses.
    """
    if not isinstance(df, pd.DataFrame):
        raise LeptotwinError(
            "expected a DataFrame", source=source, value=type(df).__name__, expected="pandas"
        )
    drugs = [f"drug{k}" for k in range(1, ndrug + 1)]
    concs = [f"conc{k}" for k in range(1, ndrug + 1)]
    units = [f"conc_unit{k}" for k in range(1, ndrug + 1)]
    expected = (
        f"SynergyFinder+'s long format for {ndrug} drugs: block_id, {', '.join(drugs)}, "
        f"{', '.join(concs)}, response and conc_unit1..conc_unit{ndrug} (or one conc_unit)"
    )
    found: dict[str, object] = {}
    for col in df.columns:
        key = _snake(col)
        key = _ND_ALIASES.get(key, key)
        if key not in ("block_id", "response", *drugs, *concs, *units):
            continue
        if key in found:
            raise LeptotwinError(
                f"two columns both give {key}",
                source=source,
                field=f"{found[key]}, {col}",
                expected="one of them",
            )
        found[key] = col
    if "conc_unit1" in found:
        for u in units[1:]:
            found.setdefault(u, found["conc_unit1"])
    required = ["block_id", *drugs, *concs, "response", *units]
    missing = [c for c in required if c not in found]
    if missing:
        have = ", ".join(str(c) for c in list(df.columns)[:12])
        raise LeptotwinError(
            f"missing column {missing[0]} (the table has: {have})",
            source=source,
            field=missing[0],
            expected=expected,
        )
    if len(df) == 0:
        raise LeptotwinError("no data rows", source=source, expected=expected)
    base = pd.DataFrame({c: df[found[c]] for c in required}, index=df.index)
    where = locator(first_line)
    out = base.copy()
    for col in ["block_id", *drugs]:
        what = "block_id" if col == "block_id" else "drug name"
        coded = _str_codes(base[col])
        miss = _missing(base[col], coded)
        _fail(base, miss, f"missing {what}", source=source, where=where, col=col,
              expected=f"a {what} in every row")  # fmt: skip
        if base[col].dtype == object:
            out[col] = _text_cells(base[col], _strip, coded)
    for col in [*concs, "response"]:
        out[col] = _numbers(base, col, source, where)
    for col in concs:
        _fail(base, out[col].to_numpy() < 0, "negative concentration", source=source,
              where=where, col=col, values=base[col], expected="a concentration >= 0")  # fmt: skip
    resp = out["response"].to_numpy()
    _fail(base, np.abs(resp) > RESPONSE_LIMIT, "response out of range", source=source,
          where=where, col="response", values=base["response"],
          expected=f"% inhibition or % viability normalised to controls, |response| <= "
          f"{RESPONSE_LIMIT:g}")  # fmt: skip
    for conc_col, unit_col in zip(concs, units, strict=True):
        factor, molar, out[unit_col] = _unit_specs(base, unit_col, source, where)
        _check_magnitude(base, out[conc_col].to_numpy(), (factor, molar), conc_col, source, where)
    extra = [c for c in df.columns if c not in found.values() and str(c) not in required]
    return pd.concat([out, df[extra]], axis=1) if extra else out


# --------------------------------------------------------------------------- rows
def locator(first_line: int | None) -> Locator:
    """Names a row: ``line N`` of a file (row label + ``first_line``) or ``row LABEL``."""
    if first_line is None:
        return lambda label: f"row {label}"
    return lambda label: f"line {int(label) + first_line}"  # type: ignore[call-overload]


def _fail(
    df: pd.DataFrame,
    bad: np.ndarray,
    message: str,
    *,
    source: str,
    where: Locator,
    col: str,
    values: pd.Series | None = None,
    expected: str | None = None,
) -> None:
    """Raise ``message`` for the first row flagged in ``bad``, naming its line and column."""
    if not bad.any():
        return
    i = int(np.argmax(bad))
    value = None if values is None else values.iloc[i]
    raise LeptotwinError(
        message,
        source=source,
        field=f"{where(df.index[i])}, column {col}",
        value=value,
        expected=expected,
    )


def _numbers(df: pd.DataFrame, col: str, source: str, where: Locator) -> np.ndarray:
    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if raw.dtype == np.float64:  # to_numpy may hand back the caller's array itself
        num = num.copy()
    elif raw.dtype == object:
        num = _nearest(raw.to_numpy(), num)
    nan = np.isnan(num)
    if nan.any():  # text that is neither a number nor a missing value: only NaN cells can be
        at = np.flatnonzero(nan)
        sub = raw.iloc[at]
        bad = np.zeros(num.size, bool)
        bad[at] = _cellwise(sub, _is_text, missing=False) & ~_missing(sub)
        _fail(df, bad, "not a number", source=source, where=where, col=col, values=raw,
              expected=_NUMBER)  # fmt: skip
    _fail(df, np.isinf(num), "infinite value", source=source, where=where, col=col, values=raw,
          expected="a finite number")  # fmt: skip
    return num


def _nearest(values: np.ndarray, num: np.ndarray) -> np.ndarray:
    """``num`` (``pd.to_numeric`` of the object array ``values``) with each number given as
    text replaced by the double nearest it, as ``float()`` reads it: pandas' parser is an ulp
    off for about one long decimal in five (a CSV of ``repr``-written doses read 25 % of them
    so), which the pyarrow reader is not. All text: one pyarrow cast (exactly rounded);
    otherwise the text cells that pandas read as numbers one by one."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pa.array(values, type=pa.string(), from_pandas=True)
        exact = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (ImportError, ValueError, TypeError, NotImplementedError, OverflowError):
        exact = None
    if exact is not None and exact.shape == num.shape:
        same_kind = np.isnan(exact) == np.isnan(num)
        if bool(same_kind.all()):
            return exact
    out = num.copy()
    for i in np.flatnonzero(~np.isnan(num)):
        if isinstance(values[i], str):
            try:
                out[i] = float(values[i])
            except ValueError:
                pass
    return out


_NA_TEXT = {"", "na", "nan", "n/a", "null", "none", "-"}


def _is_missing(value: object) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    return isinstance(value, str) and value.strip().lower() in _NA_TEXT


def _is_text(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _unit_text(value: object) -> str:
    return str(value).strip()


# Cell checks without a Python call per row (issue 14 item 4: at 1,000 blocks of 64 wells the
# per-cell ``Series.map`` calls were most of Bliss's and HSA's time). Each gives exactly what
# ``raw.map(func)`` gives: numeric columns are answered from their dtype (``map`` hands a float
# column's cells to ``func`` as Python floats, NaN where missing; an integer or boolean column's
# as ints / bools), an object column through ``func`` of each distinct object once (the cells
# coded by the objects' identity: one object, one result); text is rewritten that way only
# where every cell is a ``str``, any other column (mixed types, None, pd.NA, extension dtypes)
# cell by cell, as before.
def first_rows(codes: np.ndarray) -> np.ndarray:
    """Row of each code's first appearance (``codes`` from ``pd.factorize(sort=False)``: a new
    value is numbered one above the highest so far; no missing -1)."""
    new = np.empty(codes.size, bool)
    new[:1] = True
    top = np.maximum.accumulate(codes)
    new[1:] = top[1:] > top[:-1]
    return np.flatnonzero(new)


def object_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An object array coded by its objects' identity: codes (numbered in order of first
    appearance), the distinct objects in that order and the row of each one's first appearance.

    The objects' addresses are hashed, not their values (no ``__hash__`` or ``__eq__`` call per
    row): a CSV reader and ``check_table`` leave one object per distinct name or unit, so a
    column of 640,000 cells holds a handful of objects."""
    values = np.ascontiguousarray(values)
    if values.size == 0:
        return np.zeros(0, np.intp), values[:0], np.zeros(0, np.intp)
    # the addresses of the objects (read, never dereferenced; ``values`` holds the objects)
    address = np.ctypeslib.as_array(
        (ctypes.c_ssize_t * values.size).from_address(values.ctypes.data)
    ).copy()
    if bool((address == address[0]).all()):
        return np.zeros(values.size, np.intp), values[:1].copy(), np.zeros(1, np.intp)
    codes = pd.factorize(address, sort=False)[0]
    first = first_rows(codes)
    return codes, values[first], first


def value_codes(values: np.ndarray) -> np.ndarray:
    """``pd.factorize(values, sort=False)[0]`` (missing values -1): an object array through
    :func:`object_codes` first, then its few distinct objects by value."""
    if values.dtype != object or values.size < 4096:
        return pd.factorize(values, sort=False)[0]
    codes, objects, _ = object_codes(values)
    return pd.factorize(objects, sort=False)[0][codes]


_Coded = tuple[np.ndarray, np.ndarray, np.ndarray]


def _object_cells(raw: pd.Series) -> _Coded | None:
    """:func:`object_codes` of an object column, else None."""
    if raw.dtype != object or len(raw) == 0:
        return None
    return object_codes(raw.to_numpy())


def _str_codes(raw: pd.Series, coded: object = None) -> _Coded | None:
    """:func:`object_codes` of an object column whose every cell is a ``str``, else None
    (``coded``: its :func:`_object_cells` if known)."""
    coded = _object_cells(raw) if coded is None else coded
    if not isinstance(coded, tuple) or not all(isinstance(u, str) for u in coded[1]):
        return None
    return coded


_UNSET: object = object()


def _cellwise(
    raw: pd.Series, func: Callable[[object], bool], *, missing: bool, coded: object = _UNSET
) -> np.ndarray:
    """``raw.map(func).to_numpy(bool)`` for a boolean ``func`` that is False for every number
    except NaN, for which it is ``missing``; ``coded``: ``_object_cells(raw)`` (or
    ``_str_codes``) if known."""
    kind = raw.dtype.kind if isinstance(raw.dtype, np.dtype) else ""
    if kind == "f":
        nan = np.isnan(raw.to_numpy())
        return nan if missing else np.zeros(len(raw), bool)
    if kind and kind in "iub":
        return np.zeros(len(raw), bool)
    coded = _object_cells(raw) if coded is _UNSET or coded is None else coded
    if isinstance(coded, tuple):
        codes, objects, _ = coded
        return np.array([func(u) for u in objects], dtype=bool)[codes]
    return raw.map(func).to_numpy(bool)


def _missing(raw: pd.Series, coded: object = _UNSET) -> np.ndarray:
    """``raw.map(_is_missing).to_numpy(bool)``."""
    return _cellwise(raw, _is_missing, missing=True, coded=coded)


def _text_values(
    raw: pd.Series, func: Callable[[object], object], coded: object = _UNSET
) -> tuple[pd.Series, np.ndarray | None]:
    """:func:`_text_cells` and, where every cell is a ``str``, the value codes of the result
    (``pd.factorize``'s), else None."""
    coded = _str_codes(raw) if coded is _UNSET else coded
    if not isinstance(coded, tuple):
        return raw.map(func), None
    codes, objects, _ = coded
    done = np.empty(len(objects), dtype=object)
    done[:] = [func(u) for u in objects]
    by_value = pd.factorize(done, sort=False)[0]
    if all(d is o for d, o in zip(done, objects, strict=True)) and bool(
        (by_value == np.arange(by_value.size)).all()
    ):  # every cell kept as it is and one object per value: a copy, the object codes
        return pd.Series(raw.to_numpy().copy(), index=raw.index, name=raw.name, dtype=object,
                         copy=False), codes  # fmt: skip
    text = pd.Series(done[codes], index=raw.index, name=raw.name, dtype=object, copy=False)
    return text, by_value[codes]


def _text_cells(
    raw: pd.Series, func: Callable[[object], object], coded: object = _UNSET
) -> pd.Series:
    """``raw.map(func)`` for ``func`` = :func:`_strip` or :func:`_unit_text`: each distinct
    string once when every cell is a ``str``, else cell by cell."""
    return _text_values(raw, func, coded)[0]


@dataclass(frozen=True)
class CheckedTable:
    """A SynergyFinder table that :func:`check_table` has checked, passed on instead of the
    DataFrame so that it is not checked again (private: the command line reads and checks a
    file once, then scores it in chunks).

    ``frame``: :func:`check_table`'s table; ``keys``: ``pd.factorize`` codes (missing -1) of
    the columns named, ``block_id`` always; ``labels``: the distinct block ids (``factorize``'s
    uniques); ``notes``: None until :func:`unify_units` has brought each drug of each block to
    one unit (``frame`` then holds its table), then its notes per block."""

    frame: pd.DataFrame
    keys: dict[str, np.ndarray] = field(default_factory=dict)
    labels: pd.Index | None = None
    notes: dict[Hashable, str] | None = None

    def take(self, rows: np.ndarray) -> CheckedTable:
        """The table's ``rows`` (positions, ascending, whole blocks), their block codes numbered
        again in order of first appearance (``pd.factorize`` of the part's block ids)."""
        keys = {k: v[rows] for k, v in self.keys.items()}
        keys["block_id"], present = pd.factorize(keys["block_id"], sort=False)
        labels = None if self.labels is None else self.labels[present]
        return CheckedTable(self.frame.iloc[rows], keys, labels, self.notes)

    def chunks(self, size: int) -> list[CheckedTable]:
        """Chunks of at most ``size`` whole blocks, as
        :func:`leptotwin.study.distributed.whole_group_chunks` cuts the frame (blocks grouped
        by their ids as text, in order of first appearance; the helpers of
        :mod:`leptotwin.analysis._groups`): the distinct
        ids' text groups taken to every row through the block codes."""
        from leptotwin.analysis._groups import group_chunk_rows, text_group_codes

        if self.labels is None:
            by_text = text_group_codes(self.frame["block_id"])
        else:  # the few distinct ids (missing ids were refused), each row through its code
            labels = pd.Series(np.asarray(self.labels, dtype=object), dtype=object)
            by_text = text_group_codes(labels)[self.keys["block_id"]]
        return [self.take(r) for r in group_chunk_rows(by_text, size)]


def check_table(df: pd.DataFrame, source: str, first_line: int | None = None) -> pd.DataFrame:
    """Check a SynergyFinder long table; returns it with :data:`REQUIRED` columns first.

    Numbers become float (NaN where missing), unit cells stripped text; other columns are
    kept. ``first_line``: file line of row label 0 (errors then name lines, else row labels).

    Raises
    ------
    LeptotwinError
        See the module docstring.
    """
    return check_table_keys(df, source, first_line).frame


def check_table_keys(df: pd.DataFrame, source: str, first_line: int | None = None) -> CheckedTable:
    """:func:`check_table` with the codes of the block ids, drug names and units it found on
    the way (a :class:`CheckedTable`, units not yet unified).

    Column by column over the whole table, never block by block: each text column is coded by
    its objects once (:func:`object_codes`) and every check and rewrite of it runs on its few
    distinct objects; a number column's cells go through Python only where they did not parse.
    The first bad row of the first failing check is named, in the order of the checks before
    (block ids, drug names; concentrations and responses as numbers; negative concentrations;
    responses out of range; units and their magnitudes, row drug first)."""
    if not isinstance(df, pd.DataFrame):
        raise LeptotwinError(
            "expected a DataFrame", source=source, value=type(df).__name__, expected="pandas"
        )
    df = normalise_columns(df, source, copy=False)
    if len(df) == 0:
        raise LeptotwinError("no data rows", source=source, expected=EXPECTED_COLUMNS)
    where = locator(first_line)
    out: dict[Hashable, object] = {}
    keys: dict[str, np.ndarray] = {}
    labels = None
    for col, what in (
        ("block_id", "block_id"),
        ("drug_row", "drug name"),
        ("drug_col", "drug name"),
    ):
        raw = df[col]
        cells = _object_cells(raw)
        miss = _missing(raw, cells)
        _fail(df, miss, f"missing {what}", source=source, where=where, col=col,
              expected=f"a {what} in every row")  # fmt: skip
        if raw.dtype == object:
            text, codes = _text_values(raw, _strip, _str_codes(raw, cells))
            out[col] = _made(text)
            if codes is not None:
                keys[col] = codes
        else:
            out[col] = _own(raw)
    number = {col: _numbers(df, col, source, where) for col in ("conc_r", "conc_c", "response")}
    for col in ("conc_r", "conc_c"):
        _fail(df, number[col] < 0, "negative concentration", source=source, where=where,
              col=col, values=df[col], expected="a concentration >= 0")  # fmt: skip
    _fail(df, np.abs(number["response"]) > RESPONSE_LIMIT, "response out of range",
          source=source, where=where, col="response", values=df["response"],
          expected=f"% inhibition or % viability normalised to controls, |response| <= "
          f"{RESPONSE_LIMIT:g}")  # fmt: skip
    out.update(number)
    for axis in ("r", "c"):
        unit = f"conc_{axis}_unit"
        factor, molar, text, keys[unit] = _unit_codes(df, unit, source, where)
        out[unit] = _made(text)
        _check_magnitude(df, number[f"conc_{axis}"], (factor, molar), f"conc_{axis}", source,
                         where)  # fmt: skip
    for col in df.columns[len(REQUIRED) :]:
        out[col] = _own(df[col])
    frame = pd.DataFrame(out, index=df.index, copy=False)  # nothing shared with the caller's
    if "block_id" in keys:  # the distinct block ids: the first row of each code
        labels = pd.Index(frame["block_id"].to_numpy()[first_rows(keys["block_id"])], dtype=object)
    else:
        keys["block_id"], labels = pd.factorize(frame["block_id"], sort=False)
    return CheckedTable(frame, keys, labels)


def _made(column: pd.Series) -> object:
    """The data of a column made here (its dtype kept: ``map`` on a categorical column gives
    one)."""
    return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array


def _own(column: pd.Series) -> object:
    """A copy of a column's data that the checked table can hold as its own (an array, never
    aligned on the index, whose labels may repeat)."""
    if isinstance(column.dtype, np.dtype):
        return column.to_numpy(copy=True)
    return column.array.copy()


CONCENTRATION_LIMIT = 1e9
""":data:`leptotwin.catalog.units.CONCENTRATION_LIMIT` (1 M in nM, 1 g/mL in ng/mL; tested
equal), here so that checking a table imports neither the catalogue nor pint."""

#: Spellings most tables use, as :func:`leptotwin.catalog.units.concentration_unit` parses them
#: (whether molar, factor to nM or ng/mL; tested equal entry by entry): looked up here, so that a
#: table in these units is checked without importing pint and building its registry (about half
#: a second of the command line's start, issue 14 item 4). Any other spelling goes to pint.
_COMMON_UNITS: dict[str, tuple[bool, float]] = {
    "fM": (True, 1e-6), "pM": (True, 1e-3), "nM": (True, 1.0), "uM": (True, 1e3),
    "\u00b5M": (True, 1e3), "\u03bcM": (True, 1e3), "mM": (True, 1e6), "M": (True, 1e9),
    "pg/mL": (False, 1e-3), "ng/mL": (False, 1.0), "ug/mL": (False, 1e3),
    "\u00b5g/mL": (False, 1e3), "\u03bcg/mL": (False, 1e3), "mg/mL": (False, 1e6),
    "ng/L": (False, 1e-3), "ug/L": (False, 1.0), "\u00b5g/L": (False, 1.0),
    "\u03bcg/L": (False, 1.0), "mg/L": (False, 1e3), "g/L": (False, 1e6),
}  # fmt: skip


def unit_spec(text: object, *, source: str, field: str) -> tuple[bool, float]:
    """Whether the concentration unit ``text`` is molar, and its factor to nM (molar) or ng/mL
    (mass per volume): :data:`_COMMON_UNITS` for the usual spellings, else
    :func:`leptotwin.catalog.units.concentration_unit`.

    Raises
    ------
    LeptotwinError
        As ``concentration_unit``: empty, unknown to pint, or not a concentration.
    """
    if isinstance(text, str):
        hit = _COMMON_UNITS.get(text.strip())
        if hit is not None:
            return hit
    spec = concentration_unit(text, source=source, field=field)
    return spec.molar, spec.factor


def concentration_unit(text: object, *, source: str = "unit", field: str = "unit") -> ConcUnit:
    """:func:`leptotwin.catalog.units.concentration_unit`, imported on first use (pint)."""
    from leptotwin.catalog.units import concentration_unit as parse

    return parse(text, source=source, field=field)


def _check_magnitude(
    df: pd.DataFrame,
    conc: np.ndarray,
    units: tuple[np.ndarray, np.ndarray],
    col: str,
    source: str,
    where: Locator,
) -> None:
    factor, _ = units
    with np.errstate(over="ignore", invalid="ignore"):
        base = conc * factor  # nM or ng/mL
    _fail(df, base >= CONCENTRATION_LIMIT, "concentration too high for a dose (a typo?)",
          source=source, where=where, col=col, values=df[col],
          expected="below 1 M (molar) or 1 g/mL (mass per volume)")  # fmt: skip


def _unit_specs(
    df: pd.DataFrame, col: str, source: str, where: Locator
) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Per row: the unit's factor to nM or ng/mL and whether it is molar (each distinct
    spelling parsed once; the first row with a bad one is named), and the column as stripped
    text."""
    return _unit_codes(df, col, source, where)[:3]


def _unit_codes(
    df: pd.DataFrame, col: str, source: str, where: Locator
) -> tuple[np.ndarray, np.ndarray, pd.Series, np.ndarray]:
    """:func:`_unit_specs` and the ``pd.factorize`` codes of the stripped text."""
    raw = df[col]
    cells = _object_cells(raw)
    miss = _missing(raw, cells)
    _fail(df, miss, "missing concentration unit", source=source, where=where, col=col,
          expected="a unit in every row, e.g. nM or µM")  # fmt: skip
    coded = _str_codes(raw, cells)
    text, codes = _text_values(raw, _unit_text, coded)
    if codes is None:
        codes, _ = pd.factorize(text, sort=False)
        first = first_rows(codes)
    else:  # first row of each stripped spelling: that of its first object
        obj_first = coded[2]  # type: ignore[index]
        by_text = codes[obj_first]  # spelling of each object, numbered in order of appearance
        first = obj_first[first_rows(by_text)]
    specs = [
        unit_spec(raw.iloc[i], source=source, field=f"{where(df.index[i])}, column {col}")
        for i in first
    ]
    factor = np.array([f for _, f in specs])[codes]
    molar = np.array([m for m, _ in specs], dtype=bool)[codes]
    return factor, molar, text, codes


# --------------------------------------------------------------------------- units per block
def unify_units(
    df: pd.DataFrame,
    source: str,
    first_line: int | None = None,
    pairs: tuple[tuple[str, str], ...] = (("conc_r", "conc_r_unit"), ("conc_c", "conc_c_unit")),
    keys: dict[str, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, dict[Hashable, str]]:
    """One unit per drug and block: rows in another unit of the same kind are converted (pint
    factors) to the unit most rows of that drug in that block use; returns the table and a
    note per converted block (for ``qc.csv``). ``keys``: ``pd.factorize`` codes of
    ``block_id`` and of the unit columns where known (:class:`CheckedTable`).

    Which blocks mix spellings is found over the whole table at once (each row's spelling
    against its block's first); a block whose spellings are all one unit (``uM`` and ``µM``)
    takes that unit's name without a loop; only blocks that mix units are converted block by
    block. The table is returned as it is (not copied) when no block mixes spellings.

    Raises
    ------
    LeptotwinError
        A block mixing molar and mass units for one drug (no molecular weight to convert).
    """
    keys = keys or {}
    block = keys.get("block_id")
    if block is None:
        block = pd.factorize(df["block_id"], sort=False)[0]
    if (block < 0).any():  # a missing block id (pd.NA): groupby's rules
        return _unify_units_frames(df, source, first_line, pairs)
    where = locator(first_line)
    out = df
    notes: dict[Hashable, list[str]] = {}
    n_blocks = int(block.max()) + 1 if block.size else 0
    start = first_rows(block)
    rows_of: list[np.ndarray] | None = None
    for conc_col, unit_col in pairs:
        spelled = out[unit_col]
        code = keys.get(unit_col)
        if code is None:
            if _one_spelling(spelled):
                continue
            spelled = spelled.astype(str)
            code = value_codes(spelled.to_numpy())
        if code.size == 0 or int(code.max()) == 0:
            continue  # one spelling in the whole table
        mixed_rows = code != code[start][block]
        if not mixed_rows.any():
            continue
        mixed = np.flatnonzero(np.bincount(block[mixed_rows], minlength=n_blocks))
        distinct, first = np.unique(code, return_index=True)  # codes of a part: any numbers
        texts = spelled.to_numpy()[first].astype(str)
        specs = {t: concentration_unit(t) for t in texts}
        name_of = np.zeros(int(distinct[-1]) + 1, np.intp)
        name_of[distinct], names_u = pd.factorize(
            np.array([specs[t].name for t in texts], dtype=object), sort=False
        )
        name = name_of[code]
        # a block whose spellings all name one unit keeps its values and takes that name
        one_name = np.bincount(block[name != name[start][block]], minlength=n_blocks)[mixed] == 0
        if out is df:
            out = df.copy()
        if one_name.any():
            in_named = np.zeros(n_blocks, bool)
            in_named[mixed[one_name]] = True
            rows = np.flatnonzero(in_named[block])
            unit_at = out.columns.get_loc(unit_col)
            out.iloc[rows, unit_at] = np.asarray(names_u, dtype=object)[name[rows]]
        if one_name.all():
            continue
        if rows_of is None:
            order = np.argsort(block, kind="stable")
            rows_of = np.split(order, np.cumsum(np.bincount(block, minlength=n_blocks))[:-1])
        spelled_all = pd.Series(spelled.to_numpy(), index=out.index).astype(str)
        names_all = pd.Series(np.asarray(names_u, dtype=object)[name], index=out.index)
        for b in mixed[~one_name]:
            rows = rows_of[b]
            conc, (unit, note) = _convert_block(
                out[conc_col].iloc[rows], names_all.iloc[rows], specs, spelled_all.iloc[rows],
                source, where, unit_col, conc_col,
            )  # fmt: skip
            out.iloc[rows, out.columns.get_loc(conc_col)] = conc
            out.iloc[rows, out.columns.get_loc(unit_col)] = unit
            if note:
                notes.setdefault(_label(out, rows), []).append(note)
    return out, {b: "; ".join(v) for b, v in notes.items()}


def _label(df: pd.DataFrame, rows: np.ndarray) -> Hashable:
    """The block id of a block's rows as a groupby names it (its first row's, boxed as an
    Index's element)."""
    return next(iter(pd.Index(df["block_id"].to_numpy()[rows[:1]])))


def _unify_units_frames(
    df: pd.DataFrame,
    source: str,
    first_line: int | None,
    pairs: tuple[tuple[str, str], ...],
) -> tuple[pd.DataFrame, dict[Hashable, str]]:
    """:func:`unify_units` through pandas groupbys (a table with a missing block id)."""
    where = locator(first_line)
    out = df.copy()
    notes: dict[Hashable, list[str]] = {}
    for conc_col, unit_col in pairs:
        if _one_spelling(out[unit_col]):
            continue  # no block mixes spellings
        spelled = out[unit_col].astype(str)
        n_spell = spelled.groupby(out["block_id"], sort=False).nunique()
        mixed = n_spell.index[(n_spell > 1).to_numpy()]
        if len(mixed) == 0:
            continue
        specs = {t: concentration_unit(t) for t in spelled.unique()}
        names = spelled.map({t: spec.name for t, spec in specs.items()})
        rows_of = out.groupby("block_id", sort=False).indices
        for block in mixed:
            rows = rows_of[block]
            conc, (unit, note) = _convert_block(
                out[conc_col].iloc[rows], names.iloc[rows], specs, spelled.iloc[rows], source,
                where, unit_col, conc_col,
            )  # fmt: skip
            out.iloc[rows, out.columns.get_loc(conc_col)] = conc
            out.iloc[rows, out.columns.get_loc(unit_col)] = unit
            if note:
                notes.setdefault(block, []).append(note)
    return out, {b: "; ".join(v) for b, v in notes.items()}


def _one_spelling(units: pd.Series) -> bool:
    """Every cell is the same ``str`` (``astype(str)`` leaves such a column as it is)."""
    values = units.to_numpy()
    return (
        values.dtype == object
        and len(values) > 0
        and pd.api.types.infer_dtype(values, skipna=False) == "string"
        and bool((values == values[0]).all())
    )


def _convert_block(
    conc: pd.Series,
    names: pd.Series,
    specs: dict[str, ConcUnit],
    spelled: pd.Series,
    source: str,
    where: Locator,
    unit_col: str,
    col: str,
) -> tuple[np.ndarray, tuple[str, str]]:
    """One drug of one block into its most used unit: new values and (unit, note)."""
    counts = names.value_counts(sort=False)
    target_name = counts.index[int(np.argmax(counts.to_numpy()))]
    target = next(specs[t] for t, n in zip(spelled, names, strict=True) if n == target_name)
    values = conc.to_numpy(dtype=float).copy()
    keep = (names == target_name).to_numpy()
    parts = []
    for name in names[~keep].unique():
        rows = (names == name).to_numpy()
        spec = next(specs[t] for t, n in zip(spelled, names, strict=True) if n == name)
        factor = spec.factor_to(target)
        if factor is None:
            i = int(np.argmax(rows))
            raise LeptotwinError(
                f"one drug in one block is given in {target.name} and in {name}, which cannot "
                "be converted without a molecular weight",
                source=source,
                field=f"{where(conc.index[i])}, column {unit_col}",
                value=spelled.iloc[i],
                expected=f"one kind of unit per drug and block (molar or mass, here {target.name})",
            )
        values[rows] = _snap(values[rows] * factor, values[keep])
        parts.append(f"{int(rows.sum())} wells from {name}")
    note = f"{col} converted to {target.name}: " + ", ".join(parts) if parts else ""
    return values, (target.name, note)


def _snap(converted: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Converted values within 1e-9 (relative) of a value given in the target unit take that
    value, so 2.5 µM and 2500 nM are one dose of the grid."""
    ref = np.unique(given[np.isfinite(given)])
    if ref.size == 0:
        return converted
    idx = np.clip(np.searchsorted(ref, converted), 1, ref.size) - 1
    out = converted.copy()
    for cand in (ref[idx], ref[np.minimum(idx + 1, ref.size - 1)]):
        close = np.abs(cand - converted) <= 1e-9 * np.abs(cand)
        out = np.where(close, cand, out)
    return out


# --------------------------------------------------------------------------- response unit
def response_multiplier(
    response: np.ndarray, response_unit: str | None, top: float, source: str
) -> tuple[str, float]:
    """The response unit (given, or ``"percent"`` after checking) and the factor to %.

    Raises
    ------
    LeptotwinError
        An unknown unit; ``"fraction"`` with a ``top`` other than 100; or, with no unit given
        and ``top`` 100, responses that look like fractions (see :data:`FRACTION_MAX`): read
        as %, Bliss and ZIP would be near 0 whatever the data.
    """
    if response_unit is not None and response_unit not in RESPONSE_UNITS:
        raise LeptotwinError(
            "unknown response unit",
            source=source,
            field="response_unit",
            value=response_unit,
            expected="percent or fraction",
        )
    if response_unit == "fraction":
        if top != 100.0:
            raise LeptotwinError(
                "fraction responses are converted to % (top 100)",
                source=source,
                field="top",
                value=top,
                expected="top = 100 with response_unit 'fraction'",
            )
        return "fraction", 100.0
    if response_unit is None and top == 100.0:
        finite = np.abs(response[np.isfinite(response)])
        # the largest first: a median (a partition of every response) only for small values
        if finite.size and finite.max() <= FRACTION_MAX and np.median(finite) <= FRACTION_MEDIAN:
            raise LeptotwinError(
                f"the responses look like fractions (0-1), not %: median |response| "
                f"{np.median(finite):.3g}, largest {finite.max():.3g}",
                source=source,
                field="response",
                expected="% (multiply by 100), or say which: --response-unit fraction "
                "(or percent, if they really are %)",
            )
    return "percent", 1.0
