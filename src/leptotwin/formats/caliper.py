"""Caliper tables of subcutaneous tumours: tidy, one row per mouse and day.

Columns: ``mouse``, ``day`` (days after inoculation), optional ``arm``, and either ``length_mm``
and ``width_mm`` (the longest diameter and the one perpendicular to it, mm) or ``volume_mm3``
(a volume the lab computed). From lengths and widths the volume is the modified ellipsoid
``V = length × width² / 2`` (mm³; Tomayko MM, Reynolds CP. Cancer Chemother Pharmacol
1989;24:148, doi:10.1007/BF00300234). A width above the length is kept as measured (the formula
is used as written, not with the two swapped) and noted: it is usually a swapped pair of columns
or a tumour measured across its long axis.

Bad input raises one :class:`~leptotwin.errors.LeptotwinError` naming the file, the row (1-based,
the header being row 1) and the field: a missing column, both ``volume_mm3`` and
``length_mm``/``width_mm``, a missing or empty mouse, a day, length, width or volume that is
missing, not a number, negative or out of range, a mouse measured twice on one day, a mouse in
two arms.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin._checks import plain
from leptotwin.errors import LeptotwinError
from leptotwin.formats.mouse_table import MAX_ABS_DAY, real_numbers

__all__ = [
    "CALIPER_LENGTH_COLUMNS",
    "CALIPER_VOLUME_COLUMN",
    "MAX_DIAMETER_MM",
    "MAX_VOLUME_MM3",
    "CaliperTable",
    "caliper_volume_mm3",
    "check_caliper_table",
    "read_caliper_table",
    "row_label",
]

CALIPER_LENGTH_COLUMNS = ("length_mm", "width_mm")
CALIPER_VOLUME_COLUMN = "volume_mm3"
#: Above this a diameter is a unit slip (cm or µm for mm), not a flank tumour of a mouse: a mouse
#: is about 100 mm long, and humane endpoints stop studies at 15-20 mm diameters.
MAX_DIAMETER_MM = 100.0
#: About a mouse's whole body (a 30 g mouse at ~1 g/mL is 3e4 mm³): no flank tumour is larger
#: (humane endpoints stop studies near 1,500-2,000 mm³, ~10 % of body weight), so a volume above
#: it is a unit slip (µL = mm³ is fine; cm³ would be smaller, µm³ far larger) or a typo.
MAX_VOLUME_MM3 = 3.0e4


def caliper_volume_mm3(length_mm: np.ndarray, width_mm: np.ndarray) -> np.ndarray:
    """Modified-ellipsoid tumour volume ``length × width² / 2`` (mm³; Tomayko & Reynolds 1989)
    of diameters in mm, arrays of the same shape (returned shape)."""
    length = np.asarray(length_mm, dtype=float)
    width = np.asarray(width_mm, dtype=float)
    return length * width**2 / 2.0


@dataclass(frozen=True)
class CaliperTable:
    """A checked caliper table.

    table : DataFrame
        One row per mouse and day, in the file's order: ``mouse`` (str), ``arm`` (str; empty
        when the file has no arm column), ``day`` (float, days after inoculation),
        ``volume_mm3`` (float), ``row`` (the file's row number, header = 1) and, when measured,
        ``length_mm`` and ``width_mm``.
    notes : list of str
        One line per row whose width exceeds its length (kept as measured).
    """

    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def row_label(i: int) -> str:
    """How errors name the ``i``-th (0-based) data row of a CSV table: ``"row <n>"``, 1-based
    with the header line as row 1."""
    return f"row {int(i) + 2}"


def _number_column(
    df: pd.DataFrame, col: str, source: str, *, limit: float, negative_ok: bool = False
) -> np.ndarray:
    """``df[col]`` as floats: every row a finite number in [0, limit] (or [-limit, limit])."""
    values, not_real = real_numbers(df[col])
    with np.errstate(invalid="ignore"):
        checks = (
            (not_real | np.isnan(values), "missing or non-numeric value", "a number in every row"),
            (~np.isfinite(values), "non-finite value", "a finite number"),
            (
                np.zeros(len(values), bool) if negative_ok else values < 0,
                "negative value",
                "a value >= 0",
            ),
            (
                np.abs(values) > limit,
                "value out of range",
                f"at most {limit:g} (a unit slip?)",
            ),
        )
        for bad, message, expected in checks:
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise LeptotwinError(
                    message,
                    source=source,
                    field=f"{row_label(i)}, {col}",
                    value=plain(df[col].iloc[i]),
                    expected=expected,
                )
    return values


def check_caliper_table(df: pd.DataFrame, *, source: str) -> CaliperTable:
    """Check a caliper table (see the module docstring) and compute its volumes.

    Parameters
    ----------
    df : DataFrame
        As read from the file (text or numbers).
    source : str
        The file's name, for errors and notes.

    Returns
    -------
    CaliperTable

    Raises
    ------
    LeptotwinError
        See the module docstring (one error, naming file, row and field).
    """
    if not isinstance(df, pd.DataFrame):
        raise LeptotwinError(
            "a caliper table must be a DataFrame", source=source, value=type(df).__name__
        )
    df = df.reset_index(drop=True)
    cols = [str(c).strip() for c in df.columns]
    df.columns = cols
    twice = [c for c in set(cols) if cols.count(c) > 1]
    if twice:
        raise LeptotwinError(
            "caliper table has a column twice", source=source, field=twice[0], expected="one"
        )
    has_volume = CALIPER_VOLUME_COLUMN in cols
    lengths = [c for c in CALIPER_LENGTH_COLUMNS if c in cols]
    missing = [c for c in ("mouse", "day") if c not in cols]
    if has_volume and lengths:
        raise LeptotwinError(
            "caliper table has both volumes and diameters",
            source=source,
            field=", ".join([*lengths, CALIPER_VOLUME_COLUMN]),
            expected="either length_mm and width_mm, or volume_mm3",
        )
    if not has_volume:
        missing += [c for c in CALIPER_LENGTH_COLUMNS if c not in cols]
    if missing:
        raise LeptotwinError(
            "caliper table lacks columns",
            source=source,
            field=", ".join(missing),
            expected="mouse, day and either length_mm + width_mm or volume_mm3 (arm optional)",
        )
    if len(df) == 0:
        raise LeptotwinError("caliper table has no rows", source=source)
    out = pd.DataFrame(index=df.index)
    for col in ("mouse", "arm"):
        if col not in cols:
            out[col] = ""
            continue
        labels = df[col]
        text = labels.astype(str).str.strip()
        empty = labels.isna().to_numpy() | (text == "").to_numpy()
        if col == "mouse" and empty.any():
            i = int(np.flatnonzero(empty)[0])
            raise LeptotwinError(
                "missing mouse label", source=source, field=f"{row_label(i)}, mouse"
            )
        out[col] = np.where(empty, "", text.to_numpy(object)).astype(object)
    out["day"] = _number_column(df, "day", source, limit=MAX_ABS_DAY, negative_ok=True)
    notes: list[str] = []
    if has_volume:
        out["volume_mm3"] = _number_column(df, CALIPER_VOLUME_COLUMN, source, limit=MAX_VOLUME_MM3)
    else:
        length = _number_column(df, "length_mm", source, limit=MAX_DIAMETER_MM)
        width = _number_column(df, "width_mm", source, limit=MAX_DIAMETER_MM)
        out["volume_mm3"] = caliper_volume_mm3(length, width)
        out["length_mm"] = length
        out["width_mm"] = width
        wider = np.flatnonzero(width > length)
        if wider.size:  # one note, however many rows (a swapped column would flag them all)
            i = int(wider[0])
            more = f" and {wider.size - 1} more rows" if wider.size > 1 else ""
            notes.append(
                f"{source}: {row_label(i)}{more}: width_mm {width[i]:g} > length_mm "
                f"{length[i]:g} (kept as measured: V = length x width^2 / 2)"
            )
    out["row"] = np.arange(len(out)) + 2
    dup = out.duplicated(["mouse", "day"], keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise LeptotwinError(
            "a mouse measured twice on one day",
            source=source,
            field=f"{row_label(i)}, mouse, day",
            value=f"{out['mouse'].iloc[i]} day {out['day'].iloc[i]:g}",
            expected="one row per mouse and day",
        )
    if "arm" in cols:
        first = out.groupby("mouse", sort=False)["arm"].transform("first")
        other = (out["arm"] != first).to_numpy()
        if other.any():
            i = int(np.flatnonzero(other)[0])
            raise LeptotwinError(
                "mouse appears in more than one arm",
                source=source,
                field=f"{row_label(i)}, arm",
                value=out["arm"].iloc[i],
                expected=f"{first.iloc[i]!r}, its arm in its first row",
            )
    return CaliperTable(out.reset_index(drop=True), notes)


def read_caliper_table(path: str | os.PathLike[str], *, name: str | None = None) -> CaliperTable:
    """Read and check a caliper CSV file (see the module docstring).

    ``name``: how errors name the file (default its path).

    Raises
    ------
    LeptotwinError
        An unreadable file, or a table :func:`check_caliper_table` refuses.
    """
    source = str(path) if name is None else name
    try:
        raw = pd.read_csv(Path(path), dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LeptotwinError(
            "cannot read the caliper table", source=source, value=str(exc)
        ) from None
    return check_caliper_table(raw, source=source)
