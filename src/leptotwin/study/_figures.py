"""Small helpers that keep the report's figure text legible (no label printed over another)."""

from __future__ import annotations

import numpy as np
from matplotlib.axis import Axis
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter


def _plain(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def legible_log_ticks(axis: Axis) -> None:
    """Label a log axis with a few plain numbers and leave its minor ticks unlabelled.

    On an axis spanning a decade or two matplotlib also labels minor ticks (2×10⁻¹, 3×10⁻¹,
    4×10⁻¹, 6×10⁻¹ ...), which print over each other on a narrow panel. Here the labelled ticks
    are 1 and 3 × 10ⁿ up to 2.5 decades, 1, 2 and 5 × 10ⁿ up to 1.5 decades (1, 2, 3, 5 × 10ⁿ
    below 0.7 decade; every integer × 10ⁿ below 0.35 decade), written as plain numbers (``0.2``,
    ``50``); a wider axis keeps matplotlib's decade labels. Call it once the data are drawn: it
    reads the view limits.
    """
    axis.set_minor_formatter(NullFormatter())
    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and np.isfinite(hi)):
        return
    decades = np.log10(hi / lo)
    if decades > 2.5:
        return
    if decades < 0.35:
        subs: tuple[float, ...] = tuple(float(k) for k in range(1, 10))
    elif decades < 0.7:
        subs = (1.0, 2.0, 3.0, 5.0)
    elif decades <= 1.5:
        subs = (1.0, 2.0, 5.0)
    else:
        subs = (1.0, 3.0)
    axis.set_major_locator(LogLocator(base=10.0, subs=subs))
    axis.set_major_formatter(FuncFormatter(_plain))
