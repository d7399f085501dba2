"""Figure output of the lab commands (``fit-curves``, ``synergy``): which figures, and writing
them one at a time.

``--figures summary`` (the default) writes a few figures whatever the size of the input,
``all`` adds one figure per curve set or block, ``none`` writes tables only. Each figure is saved
and released as soon as it is drawn, so memory does not grow with the number of figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leptotwin._fileio import safe_name, write_figure
from leptotwin.errors import LeptotwinError

__all__ = ["FIGURE_MODES", "FigureWriter", "figure_mode"]

#: What ``--figures`` may ask for.
FIGURE_MODES = ("summary", "all", "none")


def figure_mode(figures: str | bool) -> str:
    """``figures`` checked: one of :data:`FIGURE_MODES` (True reads as ``summary``, False as
    ``none``, for callers of the former on/off flag)."""
    if figures is True or figures is False:
        return "summary" if figures else "none"
    if figures not in FIGURE_MODES:
        raise LeptotwinError(
            "unknown figure set",
            source="--figures",
            value=figures,
            expected=", ".join(FIGURE_MODES[:-1]) + " or " + FIGURE_MODES[-1],
        )
    return str(figures)


class FigureWriter:
    """Write figures into ``out`` and record them in ``paths`` (name -> path): a matplotlib
    figure as ``NAME.png``, a :class:`~leptotwin.study._svgfig.SvgFigure` (anything with a
    ``to_svg`` method and a ``write(path)``) as ``NAME.svg``.

    Each name becomes a file name by :func:`~leptotwin._fileio.safe_name`, made unique against
    the names already in ``paths`` (``_2``, ``_3`` ... appended), so a block or data set whose
    name reads like a summary figure or a table cannot overwrite it. After saving, the figure is
    cleared: its artists are freed at once, not when the garbage collector next runs.
    """

    def __init__(self, out: Path, paths: dict[str, Path], *, dpi: float = 110) -> None:
        self.out = out
        self.paths = paths
        self.dpi = dpi

    def write(self, name: str, figure: Any) -> Path:
        stem = safe_name(name)
        unique, k = stem, 1
        while unique in self.paths:
            k += 1
            unique = f"{stem}_{k}"
        try:
            if hasattr(figure, "to_svg"):  # written as text, no matplotlib
                self.paths[unique] = figure.write(self.out / f"{unique}.svg")
            else:
                self.paths[unique] = write_figure(self.out / f"{unique}.png", figure, dpi=self.dpi)
        finally:
            figure.clear()
        return self.paths[unique]
