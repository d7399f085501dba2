"""The claims overview figure at the top of the report: one row per claim, its key readouts
against their thresholds, and its status.

Each row holds the claim's id and status (PASS green, FAIL red, NOT_IMPLEMENTED grey) and one
panel per measured quantity (:attr:`~leptotwin.study.claims.Readout.quantity`): a line per readout
with its estimate and 95 % interval, the threshold as a black tick and the passing region shaded
green, on a log axis where the readout is a ratio, fold or concentration. A dot is green when the
estimate meets its threshold and red when it does not; the claim's status is the section's
verdict, which may hold conditions a dot does not show (an interval that must exclude 1). The
numbers come from the sections' own :class:`~leptotwin.study.claims.ClaimResult` readouts, never
from the ``measured`` text. A claim without readouts is shown with its status only.

Examples
--------
>>> from leptotwin.study.claims import ClaimResult, Readout, claims_table
>>> r = ClaimResult("C8", "PASS", "ratio 2.1", readouts=[
...     Readout("erlotinib", "lesion / brain (×)", 2.1, 1.5, "above", 1.6, 2.8, log=True)])
>>> fig = claims_overview_figure(claims_table({"C8": r}), {"C8": r})
>>> [t.get_text() for t in fig.findobj(match=lambda a: a.get_gid() == "status-C8")]
['PASS']
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from leptotwin.study._figures import legible_log_ticks
from leptotwin.study.claims import ClaimResult, ClaimStatus, Readout

__all__ = ["STATUS_COLOUR", "claims_overview_figure", "readout_panels"]

#: Colour of a status (row label) and of a dot that meets / misses its threshold.
STATUS_COLOUR = {
    ClaimStatus.PASS: "#1a7f37",
    ClaimStatus.FAIL: "#cf222e",
    ClaimStatus.NOT_IMPLEMENTED: "#8c959f",
}
_MEETS, _MISSES = STATUS_COLOUR[ClaimStatus.PASS], STATUS_COLOUR[ClaimStatus.FAIL]
_LINE_IN = 0.2  # figure height per readout line (inches)
_ROW_IN = 0.72  # per claim row: panel title, x tick labels, padding (inches)
_EMPTY_ROW_IN = 0.55  # a row without readouts
_WIDTH_IN = 11.0
_TITLE_WIDTH = 38  # characters per line of a panel title


def readout_panels(readouts: Sequence[Readout]) -> list[tuple[str, list[Readout]]]:
    """The readouts of one claim grouped into panels by quantity, in order of first appearance."""
    panels: dict[str, list[Readout]] = {}
    for r in readouts:
        panels.setdefault(r.quantity, []).append(r)
    return list(panels.items())


def claims_overview_figure(
    summary: pd.DataFrame, results: Mapping[str, ClaimResult], *, width_in: float = _WIDTH_IN
) -> Figure:
    """One row per claim of ``summary`` (:func:`~leptotwin.study.claims.claims_table`) with its
    status and the readouts of its result in ``results`` (see the module docstring).

    Each status label is a text with gid ``status-<id>`` (for tests and tools reading the figure).
    """
    ids = list(summary["id"])
    statuses = [ClaimStatus(s) for s in summary["status"]]
    panels = [readout_panels(results[cid].readouts) if cid in results else [] for cid in ids]
    n_cols = max([1, *(len(p) for p in panels)])
    heights = [
        _ROW_IN + _LINE_IN * max(len(rs) for _, rs in p) if p else _EMPTY_ROW_IN for p in panels
    ]
    fig = Figure(figsize=(width_in, sum(heights) + 0.1), layout="constrained")
    subs = fig.subfigures(len(ids), 1, height_ratios=heights, squeeze=False).ravel()
    for sub, cid, status, row in zip(subs, ids, statuses, panels, strict=True):
        grid = sub.add_gridspec(1, n_cols + 1, width_ratios=[0.42] + [1.0] * n_cols)
        label = sub.add_subplot(grid[0, 0])
        label.axis("off")
        label.annotate(
            cid,
            (0.0, 0.5),
            xycoords="axes fraction",
            xytext=(0, 1),
            textcoords="offset points",
            fontsize=10,
            fontweight="bold",
            va="bottom",
        )
        label.annotate(
            status.value,
            (0.0, 0.5),
            xycoords="axes fraction",
            xytext=(0, -2),
            textcoords="offset points",
            fontsize=8 if status is not ClaimStatus.NOT_IMPLEMENTED else 6.5,
            fontweight="bold",
            va="top",
            color=STATUS_COLOUR[status],
            gid=f"status-{cid}",
        )
        if not row:
            note = sub.add_subplot(grid[0, 1:])
            note.axis("off")
            why = "no readouts from its section" if cid in results else "not checked in this run"
            note.text(0.0, 0.5, f"status only: {why}", fontsize=8, color="0.35", va="center")
            continue
        for k, (quantity, readouts) in enumerate(row):
            _panel(sub.add_subplot(grid[0, k + 1]), quantity, readouts)
    return fig


def _limits(readouts: Sequence[Readout], log: bool) -> tuple[float, float]:
    """x limits that hold every finite estimate, interval end and threshold, with a margin."""
    xs: list[float] = []
    for r in readouts:
        xs += [r.value, r.lower, r.upper]
        xs += list(r.threshold) if isinstance(r.threshold, tuple) else [r.threshold]
    arr = np.array([x for x in xs if math.isfinite(x) and (x > 0 or not log)], float)
    if arr.size == 0:
        return (0.1, 10.0) if log else (0.0, 1.0)
    lo, hi = float(arr.min()), float(arr.max())
    if log:
        if hi / lo < 10.0:  # at least a decade, centred
            mid = math.sqrt(lo * hi)
            lo, hi = min(lo, mid / math.sqrt(10.0)), max(hi, mid * math.sqrt(10.0))
        return lo / 1.6, hi * 1.6
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - 0.08 * span, hi + 0.08 * span


def _panel(ax: Axes, quantity: str, readouts: Sequence[Readout]) -> None:
    log = any(r.log for r in readouts)
    lo, hi = _limits(readouts, log)
    n = len(readouts)
    ys = np.arange(n)[::-1].astype(float)
    half = 0.36
    for y, r in zip(ys, readouts, strict=True):
        t = r.threshold
        if r.direction == "between":
            assert isinstance(t, tuple)
            region, ticks = (max(t[0], lo), min(t[1], hi)), list(t)
        elif r.direction == "above":
            assert isinstance(t, float)
            region, ticks = (max(t, lo), hi), [t]
        else:
            assert isinstance(t, float)
            region, ticks = (lo, min(t, hi)), [t]
        if region[1] > region[0]:
            ax.fill_betweenx([y - half, y + half], *region, color=_MEETS, alpha=0.13, lw=0)
        ax.vlines(
            [x for x in ticks if lo <= x <= hi], y - half, y + half, color="k", lw=1.0, zorder=2
        )
        colour = _MEETS if r.meets_threshold else _MISSES
        if not (math.isnan(r.lower) and math.isnan(r.upper)):
            a = _end(r.lower, r.value, lo, hi, log)
            b = _end(r.upper, r.value, lo, hi, log)
            ax.hlines(y, a, b, color=colour, lw=1.4, zorder=3)
            if r.upper == math.inf:  # an open upper bound (a censored ratio)
                ax.plot([hi], [y], marker=">", ms=5, color=colour, clip_on=False, zorder=4)
        if math.isfinite(r.value):
            x = r.value if (r.value > 0 or not log) else lo
            ax.plot([min(max(x, lo), hi)], [y], "o", ms=5, color=colour, zorder=4, clip_on=False)
    names = [r.name if math.isfinite(r.value) else f"{r.name} (n/a)" for r in readouts]
    ax.set_yticks(ys, names, fontsize=7)
    ax.set_ylim(-0.6, n - 0.4)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.tick_params(axis="x", labelsize=7)
    ax.tick_params(axis="y", length=0)
    if log:
        legible_log_ticks(ax.xaxis)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.set_title(textwrap.fill(quantity, _TITLE_WIDTH), fontsize=7.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _end(x: float, value: float, lo: float, hi: float, log: bool) -> float:
    """An interval end inside the axis: NaN (no interval on that side) is the estimate, an
    infinite or (on a log axis) non-positive end is the axis edge."""
    if math.isnan(x):
        x = value
    if math.isnan(x):
        return lo
    if x == math.inf:
        return hi
    if x == -math.inf or (log and x <= 0):
        return lo
    return min(max(x, lo), hi)
