"""What every plate-layout kind shares: table checks and reading a layout file.

Private to :mod:`leptotwin.formats`: the dose-response layout (:mod:`.plate_layout`) and the
ELISA layout (:mod:`.elisa_layout`) build their validators and readers from these pieces, so
their error messages name files, lines and columns the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from leptotwin.errors import LeptotwinError
from leptotwin.formats._text import Record, parse_numbers, read_text, read_xlsx, split_records
from leptotwin.formats.plate import PlateFormat, _parse_wells, get_plate_format

# --------------------------------------------------------------------------- layout checks
_Locator = Callable[[int], str]
"""Row position -> ``"line N"`` (file line) or ``"row <index label>"``, for error messages."""


class _Checked(NamedTuple):
    """The part every layout kind shares, as :func:`_check_layout_table` returns it."""

    frame: pd.DataFrame  # the input, headers matched to the known names (case-insensitive)
    out: pd.DataFrame  # plate, well (A01 or ""), role (canonical); the input's index
    where: _Locator


def _locator(frame: pd.DataFrame, lines: Sequence[int] | None) -> _Locator:
    """Position -> ``"line N"`` (file line) or ``"row <index label>"``."""
    labels = list(lines) if lines is not None else list(frame.index)
    prefix = "line" if lines is not None else "row"
    return lambda i: f"{prefix} {labels[int(i)]}"


def _text_column(frame: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as stripped text, ``""`` for empty cells or a missing column."""
    if col not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    s = frame[col].astype(object).where(frame[col].notna(), "")
    return s.astype(str).str.strip().astype(object)


def _raise_first(
    bad: ArrayLike,
    message: str,
    *,
    source: str,
    where: _Locator,
    col: str,
    values: ArrayLike | None = None,
    expected: str | None = None,
) -> None:
    """Raise ``message`` for the first row flagged in ``bad`` (bool, shape (n_rows,)).

    The error names that row's line (or index label) and ``col``, and quotes ``values[i]``
    (shape (n_rows,); none when ``values`` is None or holds None there).
    """
    flags = np.asarray(bad, dtype=bool)
    if not flags.any():
        return
    i = int(np.argmax(flags))
    raise LeptotwinError(
        message,
        source=source,
        field=f"{where(i)}, column {col}",
        value=None if values is None else np.asarray(values, dtype=object)[i],
        expected=expected,
    )


def _numbers(
    frame: pd.DataFrame,
    col: str,
    what: str,
    *,
    source: str,
    where: _Locator,
    decimal: str,
    expected: str,
) -> NDArray[np.float64]:
    """Column ``col`` as float, shape (n_rows,), NaN where empty.

    Raises on text that is not a decimal number (``inf``, ``nan``, ``1_000`` included) and on
    numbers beyond the float range (``1e400``).
    """
    raw = _text_column(frame, col)
    num, is_number = parse_numbers(raw.to_numpy(object), decimal)
    for bad, message in (
        (~is_number & (raw != "").to_numpy(), f"non-numeric {what}"),
        (is_number & ~np.isfinite(num), f"{what} is beyond the range of numbers"),
    ):
        _raise_first(
            bad, message, source=source, where=where, col=col, values=raw, expected=expected
        )
    return num


def _at_most(
    values: NDArray[np.float64],
    limit: float,
    message: str,
    *,
    frame: pd.DataFrame,
    col: str,
    source: str,
    where: _Locator,
    expected: str,
) -> None:
    """Raise ``message`` for the first value of ``col`` at or above ``limit``."""
    with np.errstate(invalid="ignore"):
        bad = values >= limit
    _raise_first(bad, message, source=source, where=where, col=col,
                 values=_text_column(frame, col), expected=expected)  # fmt: skip


def _well_names(
    frame: pd.DataFrame,
    fmt: PlateFormat | None,
    *,
    source: str,
    where: _Locator,
    optional: bool,
) -> NDArray[np.object_]:
    """``well`` as ``A01`` names, shape (n_rows,); ``""`` for empty cells when ``optional``."""
    names = np.full(len(frame), "", dtype=object)
    if "well" not in frame:
        return names
    raw = frame["well"].to_numpy(object)
    given = (_text_column(frame, "well") != "").to_numpy() if optional else np.ones(len(raw), bool)
    try:
        names[given] = _parse_wells(raw[given], fmt, source=source)[0]
    except LeptotwinError as err:
        i = int(np.flatnonzero(pd.Series(raw).astype(str).eq(str(err.value)))[0])
        raise LeptotwinError(
            err.message,
            source=source,
            field=f"{where(i)}, column well",
            value=err.value,
            expected=err.expected,
        ) from None
    return names


def _check_layout_table(
    layout: pd.DataFrame,
    *,
    columns: Sequence[str],
    roles: Sequence[str],
    role_message: str,
    aliases: Mapping[str, str] | None = None,
    also: Sequence[str] = (),
    plate_format: int | PlateFormat | None,
    source: str,
    lines: Sequence[int] | None,
    well_optional: bool = False,
) -> _Checked:
    """Checks every layout kind shares: columns, plate ids, wells, roles, duplicates.

    ``columns`` (then ``also``) are the known headers, matched case-insensitively; ``roles``
    the allowed roles after lower-casing and mapping through ``aliases``. With
    ``well_optional`` the ``well`` column may be missing or have empty cells.
    """
    if not isinstance(layout, pd.DataFrame):
        raise LeptotwinError(
            "expected a table (DataFrame) of wells", source=source, value=type(layout).__name__
        )
    known = {c.lower(): c for c in (*columns, *also)}
    frame = layout.rename(columns=lambda c: known.get(str(c).strip().lower(), c))
    for col in ("role",) if well_optional else ("well", "role"):
        if col not in frame:
            raise LeptotwinError(
                "missing column", source=source, field=col, expected=", ".join(columns)
            )
    where = _locator(frame, lines)
    out = pd.DataFrame({"plate": _text_column(frame, "plate")}, index=frame.index)
    plate_empty = (out["plate"] == "").to_numpy()
    if not plate_empty.all():
        _raise_first(
            plate_empty,
            "empty plate id",
            source=source,
            where=where,
            col="plate",
            expected="a plate id in every row, or no plate column (layout for every plate)",
        )
    fmt = None if plate_format is None else get_plate_format(plate_format)
    out["well"] = _well_names(frame, fmt, source=source, where=where, optional=well_optional)
    role = _text_column(frame, "role").str.lower()
    if aliases:
        role = role.map(lambda r: aliases.get(r, r)).astype(object)
    _raise_first(
        ~role.isin(roles).to_numpy(),
        role_message,
        source=source,
        where=where,
        col="role",
        values=frame["role"],
        expected="one of " + ", ".join(roles),
    )
    out["role"] = role
    _check_unique_wells(out, source, where)
    return _Checked(frame, out, where)


def _check_unique_wells(out: pd.DataFrame, source: str, where: _Locator) -> None:
    """One row per plate and well (rows without a well name are not compared)."""
    dup = out.duplicated(["plate", "well"], keep=False).to_numpy() & (out["well"] != "").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        raise LeptotwinError(
            "duplicated well",
            source=source,
            field=" and ".join(where(j) for j in np.flatnonzero(dup)[:2]),
            value=f"{out['plate'].iloc[i]} {out['well'].iloc[i]}".strip(),
            expected="one row per plate and well",
        )


def _with_extras(out: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``out``, then the columns of ``frame`` it lacks; index reset to 0..n-1."""
    extra = [c for c in frame.columns if c not in out.columns]
    return pd.concat([out, frame[extra]], axis=1).reset_index(drop=True)


# --------------------------------------------------------------------------- layout files
def _table_rows(path: Path) -> tuple[list[Record], str]:
    """Records of a tidy table file (blank and ``#`` comment lines left out), decimal mark.

    The separator is the most frequent of tab, ``;`` and ``,`` on the first non-comment line.
    """
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        records, sep = read_xlsx(path), ","
    else:
        text = read_text(path)
        lines = text.splitlines()
        first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
        sep = max(("\t", ";", ","), key=first.count)
        records = split_records(text, sep, str(path))
    kept = [r for r in records if r.cells and not r.cells[0].startswith("#")]
    return kept, "," if sep != "," else "."


def _layout_table(path: Path) -> tuple[pd.DataFrame, list[int], str]:
    """A layout file as text cells (one row per listed well), their file lines, decimal mark."""
    source = str(path)
    if not path.is_file():
        raise LeptotwinError("file not found", source=source)
    records, decimal = _table_rows(path)
    if not records:
        raise LeptotwinError("empty layout file", source=source, expected="a header line")
    header = [c.lower() for c in records[0].cells]
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise LeptotwinError("duplicated column header", source=source, field=dupes[0])
    width = len(header)
    for rec in records[1:]:
        stray = [j for j, c in enumerate(rec.cells) if c and (j >= width or not header[j])]
        if stray:
            j = stray[0]
            raise LeptotwinError(
                f"cell {j + 1} has no column name in the header on line {records[0].line}",
                source=source,
                field=f"line {rec.line}",
                value=rec.cells[j],
                expected="one header name per column"
                + (" (a decimal comma in a comma-separated file?)" if decimal == "." else ""),
            )
    body = [r.cells + [""] * (width - len(r.cells)) for r in records[1:]]
    frame = pd.DataFrame(body, columns=header, dtype=object).drop(columns="", errors="ignore")
    return frame, [r.line for r in records[1:]], decimal


def _read_checked(
    path: str | os.PathLike[str], validate: Callable[..., pd.DataFrame], **options: Any
) -> pd.DataFrame:
    """Read a layout file and check it with ``validate`` (errors name file, line, column)."""
    path = Path(path)
    frame, lines, decimal = _layout_table(path)
    out = validate(frame, source=str(path), lines=lines, decimal=decimal, **options)
    out.attrs["source"] = str(path)
    return out
