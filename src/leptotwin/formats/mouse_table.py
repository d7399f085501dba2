"""The tidy per-mouse, per-day table shared by the virtual imager and the growth analysis:
``mouse, arm, day, <value>`` — one row per mouse and day, one arm per mouse."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leptotwin._checks import plain
from leptotwin.errors import LeptotwinError

__all__ = ["check_mouse_day_table"]


def check_mouse_day_table(
    df: pd.DataFrame, value: str, *, source: str, what: str, allow_empty: bool = True
) -> pd.DataFrame:
    """Validate and return a clean copy (``mouse``, ``arm`` as str; ``day``, ``value`` float).

    Raises
    ------
    LeptotwinError
        Not a DataFrame, missing columns, no rows (unless ``allow_empty``), non-numeric or
        non-finite day/value, a missing label, duplicated mouse-day rows, a mouse in two arms.
    """
    columns = ("mouse", "arm", "day", value)
    if not isinstance(df, pd.DataFrame):
        raise LeptotwinError(f"{what} must be a DataFrame", source=source, value=type(df).__name__)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LeptotwinError(
            f"{what} lacks columns",
            source=source,
            field=", ".join(missing),
            expected="columns " + ", ".join(columns),
        )
    if len(df) == 0 and not allow_empty:
        raise LeptotwinError(f"{what} has no rows", source=source)
    out = df.loc[:, list(columns)].copy()
    for col in ("day", value):
        values = pd.to_numeric(out[col], errors="coerce").astype(float)
        bad = ~np.isfinite(values.to_numpy())
        if bad.any():
            raise LeptotwinError(
                "non-numeric or missing value",
                source=source,
                field=col,
                value=plain(df[col].iloc[int(np.flatnonzero(bad)[0])]),
                expected="finite numbers",
            )
        out[col] = values
    if out["mouse"].isna().any() or out["arm"].isna().any():
        raise LeptotwinError(
            "missing mouse or arm label", source=source, field="mouse/arm", expected="labels"
        )
    out["mouse"] = out["mouse"].astype(str)
    out["arm"] = out["arm"].astype(str)
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
