"""Figures and tables a reader can trust (issue 16, item 5).

The figures of the report's sections are drawn (those of the session's one ``reproduce --quick``
run through the command line, tests/conftest.py, which tests/test_cli.py also checks) and checked
for text that overprints other text: tick labels of each axis against each other, and
text/annotation objects of a figure against each other. Boxes are the rotated rectangles of the
text as drawn (matplotlib's window extent is the axis-aligned box around a rotated text, which
would flag slanted labels that do not touch).

The report itself: a long table is linked as its CSV file, a short one printed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from leptotwin.errors import LeptotwinError
from leptotwin.study.claims import claims_table
from leptotwin.study.overview import claims_overview_figure
from leptotwin.study.report import Report, Section
from leptotwin.study.reproduce import (
    SectionResult,
    SectionSpec,
    registered_sections,
    run_reproduce,
)

#: Overlap (in pixels at 100 dpi) tolerated between two text boxes in both directions: glyph boxes
#: include some padding, so boxes that touch are not text printed over text.
TOLERANCE_PX = 1.0

#: Sections whose figures are checked, and the figures each must have (at least): every
#: registered section (the claims ensemble is not a section).
SECTIONS = {
    "introduction": 1,  # the model diagram
    "calibration": 0,
    "pharmacokinetics": 2,
    "viability": 6,  # dose-response panels, the qPCR + western blot figure, synergy, ELISA
    "in_vivo_relapse": 1,
    "in_vivo_combination": 1,
    "msi": 1,
    "patients": 1,
    "human_translation": 2,
    "sensitivity": 1,
}


# -- geometry -----------------------------------------------------------------------------------


def _corners(text: Text, renderer) -> np.ndarray | None:
    """The four corners (display pixels) of ``text``'s box as drawn, rotation included."""
    box = text.get_window_extent(renderer)
    if box.width <= 0 or box.height <= 0:
        return None
    angle = text.get_rotation() % 180.0
    if np.isclose(angle % 90.0, 0.0):
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]])
    # the unrotated size; a rotated rectangle has the centre of its axis-aligned bounding box
    text.set_rotation(0.0)
    try:
        flat = text.get_window_extent(renderer)
    finally:
        text.set_rotation(angle)
    w, h = flat.width / 2, flat.height / 2
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    return local @ np.array([[c, s], [-s, c]]) + [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]


def _overlap(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Separating-axis test of two convex quadrilaterals: True when they overlap by more than
    ``tol`` pixels along every edge normal."""
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            normal = np.array([-edge[1], edge[0]]) / np.hypot(*edge)
            pa, pb = a @ normal, b @ normal
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= tol:
                return False
    return True


def _collisions(texts: list[Text], renderer, tol: float = TOLERANCE_PX) -> list[str]:
    boxes = [(t, _corners(t, renderer)) for t in texts]
    boxes = [(t, q) for t, q in boxes if q is not None]
    return [
        f"{a.get_text()!r} overprints {b.get_text()!r}"
        for (a, qa), (b, qb) in itertools.combinations(boxes, 2)
        if _overlap(qa, qb, tol)
    ]


def _shown(text: Text) -> bool:
    return text.get_visible() and bool(text.get_text().strip())


def _tick_labels(axis: Axis) -> list[Text]:
    """The tick labels an axis draws: major and minor ticks inside the view, labels not empty."""
    lo, hi = sorted(axis.get_view_interval())
    slack = 1e-9 * max(abs(lo), abs(hi), 1.0)
    out = []
    for ticks in (
        axis.get_major_ticks(len(axis.get_majorticklocs())),
        axis.get_minor_ticks(len(axis.get_minorticklocs())),
    ):
        for tick in ticks:
            loc = tick.get_loc()
            if loc is None or not lo - slack <= loc <= hi + slack:
                continue
            out += [lab for lab in (tick.label1, tick.label2) if _shown(lab)]
    return out


def text_collisions(fig: Figure) -> list[str]:
    """Every place where text in ``fig`` overprints other text, as it is drawn."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    for i, ax in enumerate(fig.axes):
        where = f"axes {i} ({ax.get_title()[:40]!r})"
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            problems += [
                f"{where} {name} tick labels: {p}"
                for p in _collisions(_tick_labels(axis), renderer)
            ]
    texts = [t for ax in fig.axes for t in ax.texts if _shown(t)] + [
        t for t in fig.texts if _shown(t)
    ]
    problems += [f"text: {p}" for p in _collisions(texts, renderer)]
    return problems


# -- the checker itself -------------------------------------------------------------------------


def _fig_with(*labels: tuple[float, float, float]) -> Figure:
    fig = Figure(figsize=(4, 3), dpi=100)
    ax = fig.add_subplot()
    for x, y, rot in labels:
        ax.text(x, y, "IC50 11.4 nM", rotation=rot)
    return fig


def test_checker_finds_overprinted_text_and_spares_slanted_neighbours():
    assert text_collisions(_fig_with((0.2, 0.5, 0), (0.3, 0.52, 0)))
    assert not text_collisions(_fig_with((0.2, 0.2, 0), (0.2, 0.7, 0)))
    # parallel slanted labels: their axis-aligned boxes overlap, the labels do not
    assert not text_collisions(_fig_with((0.1, 0.1, 30), (0.1, 0.3, 30)))
    assert text_collisions(_fig_with((0.1, 0.1, 30), (0.12, 0.12, 30)))


def test_checker_finds_colliding_tick_labels():
    fig = Figure(figsize=(2, 2), dpi=100)
    ax = fig.add_subplot()
    ax.set_xticks([0, 0.5, 1], ["a long tick label", "another long one", "and a third"])
    assert any("x tick labels" in p for p in text_collisions(fig))
    ax.set_xticks([0, 0.5, 1], ["a", "b", "c"])
    assert not text_collisions(fig)


# -- the sections' figures ----------------------------------------------------------------------


def _result(reproduce_quick, name: str) -> SectionResult:
    """The section's result in the session's ``reproduce --quick`` run (tests/conftest.py):
    quick, the posterior-median catalogue, each section's seeded stream, as the report has it."""
    assert reproduce_quick.code == 0, reproduce_quick.stderr
    return reproduce_quick.sections[name]


def _figures(res: SectionResult) -> Iterator[tuple[str, Figure]]:
    for item in res.figures:
        yield (item if isinstance(item, tuple) else (item.get_suptitle(), item))


@pytest.mark.parametrize("name", list(SECTIONS))
def test_no_text_overprints_text_in_the_figures(name, reproduce_quick):
    res = _result(reproduce_quick, name)
    figures = list(_figures(res))
    assert len(figures) >= SECTIONS[name]
    problems = [f"{caption[:60]!r}: {p}" for caption, fig in figures for p in text_collisions(fig)]
    assert not problems, "\n".join(problems)
    if name == "viability":
        _check_blot_labels(figures, reproduce_quick.out)
    for claim in res.claims:  # the overview's numbers and the claims table's links
        assert claim.readouts, claim.id
        csv = {t if t.endswith(".csv") else f"{t}.csv" for t in res.tables}
        assert claim.data and set(claim.data) <= csv, (claim.id, claim.data)


def test_the_claims_overview_of_every_section_is_legible(reproduce_quick):
    runs = [_result(reproduce_quick, name) for name in SECTIONS]
    results = {c.id: c for res in runs for c in res.claims}
    assert set(results) == {f"C{k}" for k in range(1, 10)}
    fig = claims_overview_figure(claims_table(results), results)
    problems = text_collisions(fig)
    assert not problems, "\n".join(problems)


def _check_blot_labels(figures: list[tuple[str, Figure]], out: Path) -> None:
    """The western blot names each lane (sample) and each strip (antibody)."""
    import json

    (fig,) = [f for caption, f in figures if "western blot" in caption]
    ax = next(a for a in fig.axes if "Western blot" in a.get_title())
    sidecar = json.loads((out / "blot" / "western.json").read_text())
    lanes = [t.get_text().replace("\n", " ") for t in _tick_labels(ax.xaxis)]
    strips = [t.get_text() for t in _tick_labels(ax.yaxis)]
    assert lanes == [lane["label"] for lane in sidecar["lanes"]]
    assert strips == ["p-EGFR", "EGFR", "p-ALK", "ALK", "p-ERK", "ERK", "β-actin"]


# -- tables in the report -----------------------------------------------------------------------


def test_report_links_a_long_table_and_prints_a_short_one():
    long = pd.DataFrame({"curve": ["a"] * 966, "dose": np.arange(966.0), "response": 1.0})
    short = pd.DataFrame({"drug": ["alectinib", "lorlatinib"], "ic50_nM": [21.1, 2.3]})
    report = Report("T")
    report.add(
        Section("S", tables=[("tidy", long, "viability_tidy.csv"), ("ic50", short, "ic50.csv")])
    )
    html = report.render()
    assert '<a href="viability_tidy.csv"><code>viability_tidy.csv</code></a>' in html
    assert "966 rows" in html and "curve, dose, response" in html
    assert ">965<" not in html and "Showing the first" not in html  # no row of it printed
    assert ">lorlatinib<" in html and ">2.3<" in html  # the short one inline
    assert '<a href="ic50.csv">' in html
    # every table sits in a box that scrolls sideways instead of widening the page
    assert html.count('<div class="table-wrap">') == html.count("<table")
    assert re.search(r"\.table-wrap\s*\{[^}]*overflow-x:\s*auto", html)


def test_a_compact_view_is_printed_and_the_csv_keeps_every_column():
    full = pd.DataFrame({"label": ["x"], "regimen": ["1200 mg QW; " * 7], "source": ["s" * 300]})
    view = full[["label"]]
    report = Report("T")
    report.add(Section("S", tables=[("sweep", full, "sweep.csv", view)]))
    html = report.render()
    assert "<th>label</th>" in html and "<th>regimen</th>" not in html
    assert "all 3 columns" in html and '<a href="sweep.csv">' in html


def test_every_registered_section_is_checked():
    assert {s.name for s in registered_sections()} == set(SECTIONS)


def _section(views):
    table = pd.DataFrame({"label": ["a", "b"], "source": ["x" * 300, "y"]})

    def run(ctx):
        return SectionResult("S", tables={"t.csv": table}, views=views(table))

    return SectionSpec("s", 0, run)


def test_reproduce_prints_a_view_and_writes_the_full_table(tmp_path):
    import io

    from rich.console import Console

    res = run_reproduce(
        out_dir=tmp_path / "out",
        sections=[_section(lambda t: {"t.csv": t[["label"]]})],
        progress=False,
        console=Console(file=io.StringIO()),
    )
    html = res.report_path.read_text(encoding="utf-8")
    assert "<th>label</th>" in html and "<th>source</th>" not in html
    assert list(pd.read_csv(tmp_path / "out" / "t.csv").columns) == ["label", "source"]
    with pytest.raises(LeptotwinError, match="view"):
        run_reproduce(
            out_dir=tmp_path / "bad",
            sections=[_section(lambda t: {"other.csv": t})],
            progress=False,
            console=Console(file=io.StringIO()),
        )
