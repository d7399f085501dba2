"""Small summary figures written straight to SVG text (no matplotlib: issue 14 item 2).

Importing and drawing with matplotlib costs about 1.7 s per run of a lab command; the summary
figures of ``fit-curves`` and ``synergy`` need only axes, lines, markers, bars and heatmaps, which
this module writes as SVG elements in milliseconds. Sizes are in SVG user units (pixels at 96 dpi),
fonts in pixels. Every drawn element carries a class (``curve``, ``point``, ``bar``, ``cell``,
``legend-entry``, ``xtick``, ``ytick``...) and each panel is a ``<g class="panel">`` with
``data-title``, ``data-xlim`` and ``data-ylim`` attributes, so that tests (and users) can read a
figure back with :mod:`xml.etree.ElementTree`.

Building blocks:

* :class:`SvgFigure`: the canvas (title, panels, :meth:`SvgFigure.grid` of panel boxes,
  :meth:`SvgFigure.write`).
* :class:`Panel`: one set of axes, linear or log10 x, with :meth:`Panel.polyline`,
  :meth:`Panel.markers`, :meth:`Panel.bars` (histograms, stacked with ``bottom``),
  :meth:`Panel.hbars` (labelled horizontal bars), :meth:`Panel.vline`, :meth:`Panel.note` and
  :meth:`Panel.legend`.
* :func:`heatmap_panels`: a grid of matrices of coloured cells (:class:`HeatmapPanel`) with row and
  column tick labels, optional value annotations and a colour bar per panel, on a diverging colour
  map centred at 0 (blue below, white at 0, red above; :func:`diverging_colors`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from leptotwin.errors import LeptotwinError

__all__ = [
    "DIVERGING",
    "TAB10",
    "HeatmapPanel",
    "Panel",
    "SvgFigure",
    "diverging_colors",
    "heatmap_panels",
    "linear_ticks",
    "log_ticks",
    "tick_label",
]

#: matplotlib's default colour cycle (curves are told apart as in the former PNG figures).
TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
#: The diverging colour map's anchors from -vmax to +vmax (ColorBrewer RdBu, reversed: blue
#: negative, near-white 0, red positive), interpolated linearly in sRGB.
DIVERGING = ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b")
_NAN_COLOR = "#d9d9d9"
_FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
_CHAR_W = 0.58  # mean glyph width / font size: text widths are estimated, not measured


#: Characters XML 1.0 does not allow (C0 controls other than tab, newline and return): a label
#: holding one would make the whole SVG unreadable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _esc(text: object) -> str:
    """``text`` safe inside an SVG element or a double-quoted attribute (characters XML does
    not allow become U+FFFD)."""
    return (
        _XML_INVALID.sub("\ufffd", str(text))
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _text_width(text: str, size: float) -> float:
    """Estimated width (px) of ``text`` at font ``size`` (px)."""
    return _CHAR_W * size * len(text)


def tick_label(value: float) -> str:
    """A tick label as plain text (``0.001``, ``10``, ``1e+06``, ``-0.5``)."""
    return f"{value:g}" if value != 0 else "0"


def linear_ticks(
    lo: float, hi: float, target: int = 5, *, integer: bool = False
) -> NDArray[np.float64]:
    """Round tick values (1, 2, 2.5 or 5 x 10^k apart) within ``[lo, hi]``, about ``target``;
    ``integer`` (an axis of counts): whole numbers only, at least 1 apart."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([lo], float) if math.isfinite(lo) else np.array([], float)
    raw = (hi - lo) / max(target, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw), 10.0 * mag)
    if integer:
        step = float(max(1, math.ceil(step)))
    first = math.ceil(lo / step - 1e-9)
    ticks = (first + np.arange(math.floor(hi / step + 1e-9) - first + 1)) * step
    ticks[np.abs(ticks) < step * 1e-9] = 0.0
    return np.round(ticks, 12)


def log_ticks(lo: float, hi: float, target: int = 7) -> NDArray[np.float64]:
    """Tick values for a log10 axis over ``[lo, hi]`` (data units, > 0): decades (every k-th
    when there are more than ``target``), with 2 and 5 x 10^k added when fewer than 2 decades
    show, and the ends' round values when not even one does."""
    if not (lo > 0 and hi > lo and math.isfinite(hi)):
        return np.array([], float)
    a, b = math.log10(lo), math.log10(hi)
    first, last = math.ceil(a - 1e-9), math.floor(b + 1e-9)
    n_dec = last - first + 1
    if n_dec >= 2:
        step = max(1, math.ceil(n_dec / target))
        return 10.0 ** np.arange(first, last + 1, step, dtype=float)
    vals = [m * 10.0**k for k in range(first - 1, last + 1) for m in (1.0, 2.0, 5.0)]
    ticks = np.array([v for v in vals if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)], float)
    if ticks.size >= 2:
        return ticks
    return np.array([float(f"{lo:.2g}"), float(f"{hi:.2g}")])


class Panel:
    """One set of axes in an :class:`SvgFigure`: a box (``x``, ``y``, ``w``, ``h`` px from the
    figure's top left) showing data within ``xlim`` and ``ylim`` (data units; ``xlog``: x on
    a log10 scale, limits > 0). Created by :meth:`SvgFigure.panel`; drawing outside the limits
    is clipped to the box."""

    def __init__(
        self,
        fig: SvgFigure,
        box: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        xlog: bool = False,
        title: str = "",
        xlabel: str = "",
        ylabel: str = "",
        font: float = 10.0,
        yticks: bool = True,
        xzero: float | None = None,
        xcounts: bool = False,
        ycounts: bool = False,
    ) -> None:
        x0, x1 = float(xlim[0]), float(xlim[1])
        y0, y1 = float(ylim[0]), float(ylim[1])
        if xlog and not (x0 > 0 and x1 > 0):
            raise LeptotwinError(
                "a log axis needs positive limits", source="svg figure", field="xlim", value=xlim
            )
        if not all(map(math.isfinite, (x0, x1, y0, y1))):
            raise LeptotwinError(
                "axis limits must be finite", source="svg figure", value=(xlim, ylim)
            )
        if x1 <= x0:
            x0, x1 = (x0 / 10, x0 * 10) if xlog else (x0 - 0.5, x0 + 0.5)
        if y1 <= y0:
            y0, y1 = y0 - 0.5, y0 + 0.5
        self.fig = fig
        self.x, self.y, self.w, self.h = box
        self.xlim, self.ylim, self.xlog = (x0, x1), (y0, y1), xlog
        self.title, self.xlabel, self.ylabel, self.font = title, xlabel, ylabel, font
        self._show_yticks = yticks
        self.xzero = xzero
        self.xcounts, self.ycounts = xcounts, ycounts
        self._lx = (math.log10(x0), math.log10(x1)) if xlog else (x0, x1)
        self._body: list[str] = []
        self._over: list[str] = []
        self._ylabels: list[tuple[float, str]] | None = None

    # ------------------------------------------------------------------ coordinates
    def sx(self, x: ArrayLike) -> NDArray[np.float64]:
        """Pixel x of data ``x`` (array)."""
        v = np.asarray(x, float)
        if self.xlog:
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.log10(v)
        a, b = self._lx
        return self.x + (v - a) / (b - a) * self.w

    def sy(self, y: ArrayLike) -> NDArray[np.float64]:
        """Pixel y of data ``y`` (array; up is larger)."""
        v = np.asarray(y, float)
        a, b = self.ylim
        return self.y + self.h - (v - a) / (b - a) * self.h

    # ------------------------------------------------------------------ content
    def polyline(
        self,
        x: ArrayLike,
        y: ArrayLike,
        *,
        color: str = TAB10[0],
        width: float = 1.4,
        dash: str | None = None,
        cls: str = "curve",
        label: str | None = None,
    ) -> None:
        """A line through the points (``x``, ``y``) (1-D, same length); non-finite points break
        it into pieces, drawn as one ``<path>`` of class ``cls``."""
        px, py = self.sx(x), self.sy(y)
        good = np.isfinite(px) & np.isfinite(py)
        parts: list[str] = []
        start = True
        for gx, gy, ok in zip(px.tolist(), py.tolist(), good.tolist(), strict=True):
            if not ok:
                start = True
                continue
            parts.append(f"{'M' if start else 'L'}{gx:.1f} {gy:.1f}")
            start = False
        if not parts:
            return
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        title = f"<title>{_esc(label)}</title>" if label else ""
        self._body.append(
            f'<path class="{cls}" d="{"".join(parts)}" fill="none" stroke="{color}" '
            f'stroke-width="{width}"{extra}>{title}</path>'
        )

    def markers(
        self,
        x: ArrayLike,
        y: ArrayLike,
        *,
        color: str = TAB10[0],
        radius: float = 2.4,
        cls: str = "point",
    ) -> None:
        """A filled circle (class ``cls``) at each finite point (``x``, ``y``)."""
        px, py = self.sx(x), self.sy(y)
        good = np.isfinite(px) & np.isfinite(py)
        self._body.append(
            f'<g class="{cls}s" fill="{color}">'
            + "".join(
                f'<circle class="{cls}" cx="{a:.1f}" cy="{b:.1f}" r="{radius}"/>'
                for a, b in zip(px[good].tolist(), py[good].tolist(), strict=True)
            )
            + "</g>"
        )

    def bars(
        self,
        left: ArrayLike,
        right: ArrayLike,
        height: ArrayLike,
        *,
        bottom: ArrayLike | None = None,
        color: str = TAB10[0],
        cls: str = "bar",
    ) -> None:
        """Vertical bars from ``bottom`` (default 0) up by ``height`` between ``left`` and
        ``right`` (data units, 1-D, same length): a histogram is ``bars(edges[:-1], edges[1:],
        counts)``, a stacked one adds ``bottom=`` the counts below. Bars of zero height are
        not drawn."""
        lo = np.asarray(left, float)
        hi = np.asarray(right, float)
        hgt = np.asarray(height, float)
        base = np.zeros_like(hgt) if bottom is None else np.asarray(bottom, float)
        keep = (hgt != 0) & np.isfinite(hgt)
        x0, x1 = self.sx(lo[keep]), self.sx(hi[keep])
        y0, y1 = self.sy(base[keep]), self.sy(base[keep] + hgt[keep])
        top, bot = np.minimum(y0, y1), np.maximum(y0, y1)
        self._body.append(
            f'<g class="{cls}s" fill="{color}" stroke="white" stroke-width="0.3">'
            + "".join(
                f'<rect class="{cls}" x="{a:.2f}" y="{t:.2f}" width="{max(b - a, 0.0):.2f}" '
                f'height="{bb - t:.2f}"/>'
                for a, b, t, bb in zip(
                    x0.tolist(), x1.tolist(), top.tolist(), bot.tolist(), strict=True
                )
            )
            + "</g>"
        )

    def hbars(
        self,
        labels: Sequence[str],
        values: ArrayLike,
        *,
        color: str = TAB10[0],
        annotate: bool = True,
        cls: str = "hbar",
    ) -> None:
        """Horizontal bars, one per label, the first at the top (y runs over the bar positions
        0 .. n-1 from the top: give ``ylim=(-0.5, n - 0.5)``); labels become the y tick labels,
        ``annotate`` writes each value beside its bar."""
        vals = np.asarray(values, float)
        n = len(labels)
        pos = n - 1 - np.arange(n)  # first label on top
        ys = self.sy(pos + 0.35)
        y2 = self.sy(pos - 0.35)
        x0 = self.sx(np.zeros(n))
        x1 = self.sx(vals)
        out = [f'<g class="{cls}s" fill="{color}">']
        for k in range(n):
            a, b = sorted((float(x0[k]), float(x1[k])))
            out.append(
                f'<rect class="{cls}" x="{a:.2f}" y="{ys[k]:.2f}" width="{b - a:.2f}" '
                f'height="{y2[k] - ys[k]:.2f}"><title>{_esc(labels[k])}</title></rect>'
            )
        out.append("</g>")
        self._body.extend(out)
        if annotate:
            for k in range(n):
                self._over.append(
                    _text(
                        float(x1[k]) + 3,
                        float((ys[k] + y2[k]) / 2) + self.font * 0.35,
                        f"{vals[k]:g}",
                        self.font * 0.9,
                        cls="value",
                    )
                )
        self._ylabels = [(float(p), str(lab)) for p, lab in zip(pos, labels, strict=True)]

    def vline(
        self, x: float, *, color: str = "black", width: float = 0.8, dash: str | None = "4 3"
    ) -> None:
        """A vertical line across the panel at data ``x`` (class ``vline``)."""
        px = float(self.sx([x])[0])
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self._body.append(
            f'<line class="vline" x1="{px:.1f}" y1="{self.y:.1f}" x2="{px:.1f}" '
            f'y2="{self.y + self.h:.1f}" stroke="{color}" stroke-width="{width}"{extra}/>'
        )

    def note(self, text: str) -> None:
        """``text`` centred in the panel (e.g. "no curve fitted"), class ``note``."""
        self._over.append(
            _text(
                self.x + self.w / 2,
                self.y + self.h / 2,
                text,
                self.font,
                anchor="middle",
                cls="note",
            )
        )

    def legend(
        self,
        entries: Sequence[tuple[str, str, str]],
        *,
        font: float | None = None,
        avoid: tuple[ArrayLike, ArrayLike] | None = None,
        filled_below: bool = False,
    ) -> None:
        """A legend in a corner of the panel: ``(label, colour, kind)`` per entry, kind
        ``line`` (a marker on a line), ``patch`` (a filled square) or ``point``. Each entry is a
        ``<g class="legend-entry">`` whose ``<text>`` is its label.

        The corner (top right, top left, bottom left, bottom right, in that order of
        preference) is the one that covers the fewest of the data points ``avoid`` (x, y);
        ``filled_below``: everything below each point is drawn (bars), so the bottom corners
        are not tried and a point covers the box if it lies above the box's lower edge."""
        if not entries:
            return
        size = font if font is not None else self.font * 0.8
        row = size * 1.35
        width = max(_text_width(lab, size) for lab, _, _ in entries) + size * 2.6
        height = row * len(entries) + size * 0.5
        corners = [
            (self.x + self.w - width - 4, self.y + 4),
            (self.x + 4, self.y + 4),
            (self.x + 4, self.y + self.h - height - 4),
            (self.x + self.w - width - 4, self.y + self.h - height - 4),
        ]
        if filled_below:
            corners = corners[:2]
        x0, y0 = corners[0]
        if avoid is not None and len(corners) > 1:
            px, py = self.sx(avoid[0]), self.sy(avoid[1])
            good = np.isfinite(px) & np.isfinite(py)
            px, py = px[good], py[good]

            def covered(corner: tuple[float, float]) -> int:
                cx, cy = corner
                inside = (px >= cx - 2) & (px <= cx + width + 2)
                if filled_below:
                    return int((inside & (py <= cy + height + 8)).sum())
                return int((inside & (py >= cy - 2) & (py <= cy + height + 2)).sum())

            x0, y0 = min(corners, key=covered)  # the first of the least covered
        out = [
            f'<g class="legend"><rect x="{x0:.1f}" y="{y0:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}" fill="white" fill-opacity="0.85" '
            f'stroke="#bbbbbb" stroke-width="0.5"/>'
        ]
        for k, (label, color, kind) in enumerate(entries):
            cy = y0 + size * 0.25 + row * (k + 0.5)
            sx = x0 + size * 0.3
            if kind == "patch":
                mark = (
                    f'<rect x="{sx:.1f}" y="{cy - size * 0.4:.1f}" width="{size * 1.4:.1f}" '
                    f'height="{size * 0.8:.1f}" fill="{color}"/>'
                )
            else:
                line = (
                    f'<line x1="{sx:.1f}" y1="{cy:.1f}" x2="{sx + size * 1.5:.1f}" '
                    f'y2="{cy:.1f}" stroke="{color}" stroke-width="1.4"/>'
                    if kind == "line"
                    else ""
                )
                mark = line + (
                    f'<circle cx="{sx + size * 0.75:.1f}" cy="{cy:.1f}" r="{size * 0.25:.1f}" '
                    f'fill="{color}"/>'
                )
            out.append(
                f'<g class="legend-entry">{mark}'
                + _text(sx + size * 1.9, cy + size * 0.35, label, size)
                + "</g>"
            )
        out.append("</g>")
        self._over.extend(out)

    # ------------------------------------------------------------------ axes
    def _axes(self, clip_id: str) -> tuple[str, str]:
        """The axes' SVG before and after the clipped content."""
        f = self.font
        x, y, w, h = self.x, self.y, self.w, self.h
        before = [
            f'<clipPath id="{clip_id}"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}"/></clipPath>',
            f'<rect class="frame" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            'fill="white" stroke="none"/>',
        ]
        after = [
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="none" '
            'stroke="#333333" stroke-width="0.8"/>'
        ]
        lo, hi = self.xlim
        xt = log_ticks(lo, hi) if self.xlog else linear_ticks(lo, hi, integer=self.xcounts)
        labels = [tick_label(v) for v in xt.tolist()]
        if self.xzero is not None:  # dose 0 drawn at xzero: its tick says 0, none crowds it
            gap = 0.06 * self.w
            zx = float(self.sx([self.xzero])[0])
            near = np.abs(self.sx(xt) - zx) < gap
            xt = np.concatenate([[self.xzero], xt[~near]])
            labels = ["0"] + [lab for lab, n in zip(labels, near.tolist(), strict=True) if not n]
        for v, px, lab in zip(xt.tolist(), self.sx(xt).tolist(), labels, strict=True):
            before.append(
                f'<line x1="{px:.1f}" y1="{y:.1f}" x2="{px:.1f}" y2="{y + h:.1f}" '
                'stroke="#e6e6e6" stroke-width="0.6"/>'
            )
            after.append(
                f'<g class="xtick" data-value="{float(v)!r}"><line x1="{px:.1f}" y1="{y + h:.1f}" '
                f'x2="{px:.1f}" y2="{y + h + 4:.1f}" stroke="#333333" stroke-width="0.8"/>'
                + _text(px, y + h + 5 + f * 0.9, lab, f * 0.9, anchor="middle")
                + "</g>"
            )
        if self._ylabels is not None:
            yt = [(p, lab) for p, lab in self._ylabels]
        elif self._show_yticks:
            yv = linear_ticks(*self.ylim, integer=self.ycounts)
            yt = [(v, tick_label(v)) for v in yv.tolist()]
        else:
            yt = []
        for v, lab in yt:
            py = float(self.sy([v])[0])
            if self._ylabels is None:
                before.append(
                    f'<line x1="{x:.1f}" y1="{py:.1f}" x2="{x + w:.1f}" y2="{py:.1f}" '
                    'stroke="#e6e6e6" stroke-width="0.6"/>'
                )
            after.append(
                f'<g class="ytick" data-value="{_esc(v)}"><line x1="{x - 4:.1f}" y1="{py:.1f}" '
                f'x2="{x:.1f}" y2="{py:.1f}" stroke="#333333" stroke-width="0.8"/>'
                + _text(x - 6, py + f * 0.32, lab, f * 0.9, anchor="end")
                + "</g>"
            )
        if self.xlabel:
            after.append(
                _text(x + w / 2, y + h + 8 + f * 2.0, self.xlabel, f, anchor="middle", cls="xlabel")
            )
        if self.ylabel:
            widest = max((_text_width(lab, f * 0.9) for _, lab in yt), default=0.0)
            cx, cy = x - 12 - widest - f * 0.4, y + h / 2
            after.append(
                f'<text class="ylabel" x="{cx:.1f}" y="{cy:.1f}" font-size="{f:g}" '
                f'text-anchor="middle" transform="rotate(-90 {cx:.1f} {cy:.1f})">'
                f"{_esc(self.ylabel)}</text>"
            )
        if self.title:
            after.append(
                _text(x + w / 2, y - f * 0.6, self.title, f * 1.05, anchor="middle", cls="title")
            )
        return "".join(before), "".join(after)

    def _svg(self, clip_id: str) -> str:
        before, after = self._axes(clip_id)
        xl = f"{self.xlim[0]!r} {self.xlim[1]!r}"
        yl = f"{self.ylim[0]!r} {self.ylim[1]!r}"
        return (
            f'<g class="panel" data-title="{_esc(self.title)}" data-xlim="{xl}" '
            f'data-ylim="{yl}" data-xscale="{"log" if self.xlog else "linear"}">'
            + before
            + f'<g clip-path="url(#{clip_id})">'
            + "".join(self._body)
            + "</g>"
            + after
            + "".join(self._over)
            + "</g>"
        )


def _text(
    x: float,
    y: float,
    text: str,
    size: float,
    *,
    anchor: str = "start",
    cls: str | None = None,
    color: str | None = None,
    weight: str | None = None,
) -> str:
    attrs = f' class="{cls}"' if cls else ""
    attrs += f' text-anchor="{anchor}"' if anchor != "start" else ""
    attrs += f' fill="{color}"' if color else ""
    attrs += f' font-weight="{weight}"' if weight else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.3g}"{attrs}>{_esc(text)}</text>'


class SvgFigure:
    """An SVG canvas of ``width`` x ``height`` px with an optional ``title`` at the top centre.

    Add axes with :meth:`panel` (boxes from :meth:`grid`), free text with :meth:`text`; get the
    document with :meth:`to_svg` or write it with :meth:`write`. :meth:`clear` drops the content
    (what :class:`~leptotwin.study._figure_out.FigureWriter` calls after writing)."""

    suffix = ".svg"

    def __init__(self, width: float, height: float, *, title: str = "", font: float = 13.0) -> None:
        self.width, self.height, self.title, self.font = float(width), float(height), title, font
        self._items: list[Panel | str] = []
        self._defs: dict[str, str] = {}

    def panel(
        self,
        box: tuple[float, float, float, float],
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        **options: Any,
    ) -> Panel:
        """New axes in ``box`` (x, y, w, h px) showing ``xlim`` x ``ylim`` (data units).

        ``options`` are :class:`Panel`'s keywords: ``xlog`` a log10 x axis; ``title``,
        ``xlabel``, ``ylabel`` (put the unit in the label); ``font`` the labels' size (px; tick
        labels 0.9 of it); ``yticks`` False leaves the y axis unticked; ``xzero`` the x where
        zero is drawn on a log axis (ticked ``0``, as drc draws dose 0 a decade below the
        smallest positive dose); ``xcounts`` / ``ycounts``: that linear axis counts things
        (curves, blocks), ticked at whole numbers only."""
        p = Panel(self, box, xlim, ylim, **options)
        self._items.append(p)
        return p

    def grid(
        self,
        nrows: int,
        ncols: int,
        *,
        left: float,
        right: float,
        top: float,
        bottom: float,
        wgap: float = 0.0,
        hgap: float = 0.0,
    ) -> list[tuple[float, float, float, float]]:
        """Boxes (x, y, w, h px) of an ``nrows`` x ``ncols`` grid of panels, row by row, within
        the given margins and gaps (px)."""
        w = (self.width - left - right - wgap * (ncols - 1)) / ncols
        h = (self.height - top - bottom - hgap * (nrows - 1)) / nrows
        return [
            (left + c * (w + wgap), top + r * (h + hgap), w, h)
            for r in range(nrows)
            for c in range(ncols)
        ]

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 11.0,
        anchor: str = "start",
        cls: str | None = None,
    ) -> None:
        """Free text at (``x``, ``y``) px (``anchor``: start, middle or end)."""
        self._items.append(_text(x, y, text, size, anchor=anchor, cls=cls))

    def raw(self, svg: str, *, defs: dict[str, str] | None = None) -> None:
        """Append SVG markup as is (and ``defs``: id -> definition, each written once)."""
        self._items.append(svg)
        if defs:
            self._defs.update(defs)

    def to_svg(self) -> str:
        """The whole SVG document as text (UTF-8, standalone)."""
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:g}" '
            f'height="{self.height:g}" viewBox="0 0 {self.width:g} {self.height:g}" '
            f'font-family="{_FONT}" fill="#222222">',
            f'<rect width="{self.width:g}" height="{self.height:g}" fill="white"/>',
        ]
        if self._defs:
            parts.append("<defs>" + "".join(self._defs.values()) + "</defs>")
        if self.title:
            parts.append(
                _text(
                    self.width / 2,
                    self.font * 1.5,
                    self.title,
                    self.font,
                    anchor="middle",
                    cls="suptitle",
                    weight="bold",
                )
            )
        n_panel = 0
        for item in self._items:
            if isinstance(item, Panel):
                n_panel += 1
                parts.append(item._svg(f"clip{n_panel}"))
            else:
                parts.append(item)
        parts.append("</svg>\n")
        return "\n".join(parts)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the document to ``path`` atomically; returns the path."""
        from leptotwin._fileio import atomic_write

        text = self.to_svg()
        return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))

    def clear(self) -> None:
        """Drop the content (panels, text, definitions)."""
        self._items.clear()
        self._defs.clear()


# --------------------------------------------------------------------------- heatmaps
def _hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


_DIV_RGB = np.array([_hex_rgb(c) for c in DIVERGING], float)


def diverging_colors(values: ArrayLike, vmax: float) -> NDArray[np.str_]:
    """``#rrggbb`` colour of each value on :data:`DIVERGING` from ``-vmax`` (blue) through 0
    (near-white) to ``+vmax`` (red); values beyond are drawn at the ends, NaN light grey.
    Same shape as ``values``."""
    v = np.asarray(values, float)
    lim = float(vmax) if vmax > 0 and math.isfinite(vmax) else 1.0
    pos = (np.clip(v, -lim, lim) / lim + 1.0) / 2.0 * (len(DIVERGING) - 1)
    pos = np.where(np.isfinite(pos), pos, 0.0)
    i = np.minimum(np.floor(pos).astype(int), len(DIVERGING) - 2)
    t = (pos - i)[..., None]
    rgb = np.rint(_DIV_RGB[i] * (1 - t) + _DIV_RGB[i + 1] * t).astype(int)
    flat = rgb.reshape(-1, 3)
    out = np.array([f"#{r:02x}{g:02x}{b:02x}" for r, g, b in flat.tolist()], dtype="<U7")
    out = out.reshape(v.shape)
    out[~np.isfinite(v)] = _NAN_COLOR
    return out


@dataclass(frozen=True)
class HeatmapPanel:
    """One matrix for :func:`heatmap_panels`.

    ``values``: (n_rows, n_cols) numbers (NaN: no value, a grey cell); ``row_labels`` (n_rows)
    and ``col_labels`` (n_cols): tick labels (e.g. concentrations as text); ``title``,
    ``xlabel`` (under the columns, e.g. ``"drug B (nM)"``), ``ylabel`` (beside the rows).
    """

    values: NDArray[np.float64]
    row_labels: Sequence[str]
    col_labels: Sequence[str]
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""


def heatmap_panels(
    panels: Sequence[HeatmapPanel],
    *,
    title: str = "",
    colorbar_label: str = "",
    vmax: float | None = None,
    ncols: int = 3,
    annotate: bool = True,
    value_format: str = "{:.1f}",
    origin: str = "lower",
    panel_size: tuple[float, float] = (300.0, 240.0),
    font: float = 10.0,
) -> SvgFigure:
    """A grid of heatmaps (at most ``ncols`` per row), each with its own colour bar, on the
    diverging map :data:`DIVERGING` centred at 0.

    Parameters
    ----------
    panels : sequence of HeatmapPanel
        The matrices, drawn row by row; none gives a figure saying "no data".
    title : str
        The figure's title.
    colorbar_label : str
        Beside each colour bar (e.g. ``"ZIP score (inhibition points)"``).
    vmax : float, optional
        The colour scale runs over ``[-vmax, vmax]`` in every panel; None: each panel's own
        largest ``|value|`` (1 if it has none).
    ncols : int
        Panels per row.
    annotate : bool
        Write each finite value in its cell (``value_format``), white on dark cells.
    origin : {"lower", "upper"}
        Where row 0 is drawn: at the bottom (concentrations rising upwards, as
        ``imshow(origin="lower")``) or at the top.
    panel_size : (float, float)
        Width and height (px) of each panel's cells area.
    font : float
        Font size of tick labels and axis labels (px).

    Returns
    -------
    SvgFigure
        Each panel a ``<g class="panel heatmap">`` with ``data-vmax``; each cell a
        ``<rect class="cell" data-row data-col data-value>``; each colour bar a
        ``<g class="colorbar">``.

    Raises
    ------
    LeptotwinError
        If a panel's values are not 2-D or its labels do not match its shape, or ``origin`` or
        ``ncols`` is invalid.
    """
    if origin not in ("lower", "upper"):
        raise LeptotwinError(
            "unknown origin", source="heatmap_panels", value=origin, expected="lower or upper"
        )
    if ncols < 1:
        raise LeptotwinError("ncols must be >= 1", source="heatmap_panels", value=ncols)
    mats = []
    for k, p in enumerate(panels):
        vals = np.asarray(p.values, float)
        if vals.ndim != 2 or vals.shape != (len(p.row_labels), len(p.col_labels)):
            raise LeptotwinError(
                "values must be a matrix of len(row_labels) x len(col_labels)",
                source="heatmap_panels",
                field=f"panels[{k}]",
                value=vals.shape,
                expected=f"({len(p.row_labels)}, {len(p.col_labels)})",
            )
        mats.append(vals)
    pw, ph = panel_size
    ncol = max(1, min(ncols, len(panels)))
    nrow = max(1, math.ceil(len(panels) / ncol))
    widest_row = max(
        (_text_width(str(s), font * 0.9) for p in panels for s in p.row_labels), default=0.0
    )
    left = widest_row + 14 + font * 1.8
    cbar = 14 + 10 + font * 0.9 * 6 + font * 1.6  # bar, gap, tick labels, label
    cell_w = left + pw + 10 + cbar + 18
    cell_h = 34 + ph + 14 + font * 2.6
    top = 34.0 if title else 8.0
    fig = SvgFigure(cell_w * ncol, top + cell_h * nrow, title=title)
    fig.raw("", defs={"divgrad": _gradient_def()})
    if not panels:
        fig.height = 120.0
        fig.text(fig.width / 2, 70, "no data", size=font * 1.2, anchor="middle", cls="note")
        return fig
    for k, (p, vals) in enumerate(zip(panels, mats, strict=True)):
        r, c = divmod(k, ncol)
        x0 = c * cell_w + left
        y0 = top + r * cell_h + 26
        finite = vals[np.isfinite(vals)]
        lim = vmax
        if lim is None:
            lim = float(np.abs(finite).max()) if finite.size else 1.0
        lim = lim if lim > 0 and math.isfinite(lim) else 1.0
        fig.raw(
            _heatmap_svg(
                p, vals, x0, y0, pw, ph, lim, annotate, value_format, origin == "lower", font
            )
            + _colorbar_svg(x0 + pw + 10, y0, 14, ph, lim, colorbar_label, font)
        )
    return fig


def _gradient_def() -> str:
    stops = "".join(
        f'<stop offset="{k / (len(DIVERGING) - 1):.4f}" stop-color="{c}"/>'
        for k, c in enumerate(reversed(DIVERGING))  # top of the bar: +vmax
    )
    return f'<linearGradient id="divgrad" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient>'


def _heatmap_svg(
    p: HeatmapPanel,
    vals: NDArray[np.float64],
    x0: float,
    y0: float,
    pw: float,
    ph: float,
    lim: float,
    annotate: bool,
    value_format: str,
    lower: bool,
    font: float,
) -> str:
    nr, nc = vals.shape
    cw, ch = pw / max(nc, 1), ph / max(nr, 1)
    colors = diverging_colors(vals, lim)
    out = [
        f'<g class="panel heatmap" data-title="{_esc(p.title)}" data-vmax="{float(lim)!r}" '
        f'data-shape="{nr} {nc}">'
    ]
    row_y = [y0 + ((nr - 1 - i) if lower else i) * ch for i in range(nr)]
    for i in range(nr):
        for j in range(nc):
            v = vals[i, j]
            out.append(
                f'<rect class="cell" data-row="{i}" data-col="{j}" data-value="{float(v)!r}" '
                f'x="{x0 + j * cw:.2f}" y="{row_y[i]:.2f}" width="{cw:.2f}" height="{ch:.2f}" '
                f'fill="{colors[i, j]}"/>'
            )
            if annotate and math.isfinite(v):
                dark = abs(v) > 0.6 * lim
                out.append(
                    _text(
                        x0 + (j + 0.5) * cw,
                        row_y[i] + ch / 2 + font * 0.32,
                        value_format.format(v),
                        min(font * 0.85, ch * 0.6, cw / 4),
                        anchor="middle",
                        cls="cell-value",
                        color="white" if dark else "#111111",
                    )
                )
    out.append(
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{pw:.1f}" height="{ph:.1f}" fill="none" '
        'stroke="#333333" stroke-width="0.8"/>'
    )
    for j, lab in enumerate(p.col_labels):
        cx = x0 + (j + 0.5) * cw
        out.append(
            '<g class="xtick">'
            + _text(cx, y0 + ph + 4 + font * 0.9, str(lab), font * 0.9, anchor="middle")
            + "</g>"
        )
    for i, lab in enumerate(p.row_labels):
        cy = row_y[i] + ch / 2 + font * 0.32
        out.append(
            '<g class="ytick">' + _text(x0 - 5, cy, str(lab), font * 0.9, anchor="end") + "</g>"
        )
    if p.xlabel:
        out.append(
            _text(
                x0 + pw / 2, y0 + ph + 8 + font * 2.0, p.xlabel, font, anchor="middle", cls="xlabel"
            )
        )
    if p.ylabel:
        widest = max((_text_width(str(s), font * 0.9) for s in p.row_labels), default=0.0)
        cx, cy = x0 - 10 - widest - font * 0.4, y0 + ph / 2
        out.append(
            f'<text class="ylabel" x="{cx:.1f}" y="{cy:.1f}" font-size="{font:g}" '
            f'text-anchor="middle" transform="rotate(-90 {cx:.1f} {cy:.1f})">{_esc(p.ylabel)}'
            "</text>"
        )
    if p.title:
        out.append(
            _text(x0 + pw / 2, y0 - font * 0.7, p.title, font * 1.05, anchor="middle", cls="title")
        )
    out.append("</g>")
    return "".join(out)


def _colorbar_svg(
    x: float, y: float, w: float, h: float, lim: float, label: str, font: float
) -> str:
    out = [
        f'<g class="colorbar" data-vmin="{-float(lim)!r}" data-vmax="{float(lim)!r}">'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
        'fill="url(#divgrad)" stroke="#333333" stroke-width="0.6"/>'
    ]
    ticks = linear_ticks(-lim, lim, 4).tolist()
    widest = max((_text_width(tick_label(v), font * 0.85) for v in ticks), default=0.0)
    for v in ticks:
        py = y + (lim - v) / (2 * lim) * h
        out.append(
            f'<line x1="{x + w:.1f}" y1="{py:.1f}" x2="{x + w + 3:.1f}" y2="{py:.1f}" '
            'stroke="#333333" stroke-width="0.6"/>'
            + _text(x + w + 5, py + font * 0.3, tick_label(v), font * 0.85)
        )
    if label:
        cx, cy = x + w + 8 + widest + font * 0.6, y + h / 2
        out.append(
            f'<text class="colorbar-label" x="{cx:.1f}" y="{cy:.1f}" font-size="{font * 0.9:g}" '
            f'text-anchor="middle" transform="rotate(90 {cx:.1f} {cy:.1f})">{_esc(label)}</text>'
        )
    out.append("</g>")
    return "".join(out)
