"""The tidy per-mouse, per-day table shared by the virtual imager and the growth analysis:
``mouse, arm, day, <value>`` — one row per mouse and day, one arm per mouse."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from leptotwin._checks import plain
from leptotwin.errors import LeptotwinError
from leptotwin.formats._text import parse_numbers

__all__ = ["MAX_ABS_DAY", "MAX_ABS_VALUE", "check_mouse_day_table", "real_numbers"]

MAX_ABS_DAY = 36_525.0
"""Days lie within a century (36,525 days) either side of day 0; no animal study lasts longer."""
MAX_ABS_VALUE = 1e100
"""Values of this magnitude or more are refused as corrupt: a count of cells or photons per second
comes nowhere near, and statistics square them (squares of 1e154 and more overflow)."""


def real_numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values as float, shape (n,); not_real, shape (n,)): real numbers or decimal text only.

    Booleans, complex numbers, dates, durations and other objects are not real numbers here,
    though ``pd.to_numeric`` would turn them into 1.0, the real part or nanoseconds.
    """
    kind = column.dtype.kind
    if kind in "iuf":
        return column.to_numpy(float), np.zeros(len(column), bool)
    if kind != "O" and not isinstance(column.dtype, pd.StringDtype):
        return np.full(len(column), np.nan), np.ones(len(column), bool)
    items = column.to_numpy(object)
    values = np.full(len(items), np.nan)
    not_real = np.zeros(len(items), bool)
    text = np.array([isinstance(x, str) for x in items], dtype=bool)
    if text.any():
        values[text], is_number = parse_numbers(items[text])
        not_real[text] = ~is_number
    for i in np.flatnonzero(~text):
        x = items[i]
        if isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_):
            try:
                values[i] = float(x)
            except OverflowError:  # an int beyond the float range
                values[i] = np.inf
        elif x is not None and not (isinstance(x, float) and np.isnan(x)) and x is not pd.NA:
            not_real[i] = True
    return values, not_real


def _checked_column(df: pd.DataFrame, col: str, limit: float, source: str) -> np.ndarray:
    """Column ``col`` as finite floats of magnitude <= ``limit`` (else a LeptotwinError)."""
    values, not_real = real_numbers(df[col])
    with np.errstate(invalid="ignore"):
        for bad, message in (
            (not_real | ~np.isfinite(values), "non-numeric or missing value"),
            (np.abs(values) > limit, "value out of range"),
        ):
            if bad.any():
                raise LeptotwinError(
                    message,
                    source=source,
                    field=col,
                    value=plain(df[col].iloc[int(np.flatnonzero(bad)[0])]),
                    expected=f"finite real numbers of magnitude at most {limit:g}",
                )
    return values


def _check_columns(df: object, value: str, source: str, what: str) -> tuple[str, ...]:
    columns = ("mouse", "arm", "day", value)
    if not isinstance(df, pd.DataFrame):
        raise LeptotwinError(f"{what} must be a DataFrame", source=source, value=type(df).__name__)
    if isinstance(df.columns, pd.MultiIndex):
        raise LeptotwinError(
            f"{what} has multi-level column names",
            source=source,
            expected="one level of names: " + ", ".join(columns),
        )
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LeptotwinError(
            f"{what} lacks columns",
            source=source,
            field=", ".join(missing),
            expected="columns " + ", ".join(columns),
        )
    twice = [c for c in columns if (df.columns == c).sum() > 1]
    if twice:
        raise LeptotwinError(
            f"{what} has a column twice", source=source, field=twice[0], expected="one of each"
        )
    return columns


def check_mouse_day_table(
    df: pd.DataFrame, value: str, *, source: str, what: str, allow_empty: bool = True
) -> pd.DataFrame:
    """Validate and return a clean copy (``mouse``, ``arm`` as str; ``day``, ``value`` float).

    ``day`` must lie within :data:`MAX_ABS_DAY` of day 0 and ``value`` below
    :data:`MAX_ABS_VALUE` in magnitude; both must be real numbers (or decimal text), not
    booleans, complex numbers, dates or durations.

    Raises
    ------
    LeptotwinError
        Not a DataFrame, missing, repeated or multi-level columns, no rows (unless
        ``allow_empty``), a non-numeric, non-finite or out-of-range day/value, a missing or
        empty label, duplicated mouse-day rows, a mouse in two arms.
    """
    columns = _check_columns(df, value, source, what)
    if len(df) == 0 and not allow_empty:
        raise LeptotwinError(f"{what} has no rows", source=source)
    out = pd.DataFrame(index=df.index)
    for col in ("mouse", "arm"):
        labels = df[col]
        empty = labels.isna().to_numpy() | (labels.astype(str).str.strip() == "").to_numpy()
        if empty.any():
            raise LeptotwinError(
                "missing mouse or arm label",
                source=source,
                field=col,
                value=f"row {df.index[int(np.argmax(empty))]}",
                expected="a label in every row",
            )
        out[col] = labels.astype(str).to_numpy(object)
    out["day"] = _checked_column(df, "day", MAX_ABS_DAY, source)
    out[value] = _checked_column(df, value, MAX_ABS_VALUE, source)
    out = out[list(columns)]
    dup = out.duplicated(["mouse", "day"], keep=False)
    if dup.any():
        first = out.loc[dup].iloc[0]
        raise LeptotwinError(
            "duplicated mouse-day rows",
            source=source,
            field="mouse, day",
            value=f"{first['mouse']} day {first['day']:g}",
            expected="one row per mouse and day (sum or select ROIs first)",
        )
    arms = out.groupby("mouse", sort=False)["arm"].nunique()
    if (arms > 1).any():
        raise LeptotwinError(
            "mouse appears in more than one arm",
            source=source,
            field="arm",
            value=str(arms.index[arms > 1][0]),
            expected="one arm per mouse",
        )
    return out
