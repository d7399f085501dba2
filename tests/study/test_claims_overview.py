"""The claims overview figure and the per-claim CSV links of the report (issue 16, item 8a, 8c)."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console

from leptotwin.errors import LeptotwinError
from leptotwin.study import report as report_module
from leptotwin.study.claims import ClaimResult, ClaimStatus, Readout, claims_table, load_claims
from leptotwin.study.overview import claims_overview_figure, readout_panels
from leptotwin.study.reproduce import SectionResult, SectionSpec, run_reproduce


def _status_labels(fig: Figure) -> dict[str, str]:
    texts = fig.findobj(match=lambda a: str(a.get_gid() or "").startswith("status-"))
    return {t.get_gid().removeprefix("status-"): t.get_text() for t in texts}


def _fold(name: str, value: float, direction: str = "between") -> Readout:
    threshold = (3.0, 30.0) if direction == "between" else 3.0
    return Readout(name, "IC50 ratio (×)", value, threshold, direction, value / 2, value * 2, True)


# -- Readout ------------------------------------------------------------------------------------


def test_readout_checks_direction_and_threshold():
    with pytest.raises(LeptotwinError, match="direction"):
        Readout("x", "q", 1.0, 1.0, "sideways")
    with pytest.raises(LeptotwinError, match="band"):
        Readout("x", "q", 1.0, 1.0, "between")
    with pytest.raises(LeptotwinError, match="band"):
        Readout("x", "q", 1.0, (1.0, 2.0), "above")
    with pytest.raises(LeptotwinError, match="Readout"):
        ClaimResult("C1", "PASS", "x", readouts=["not a readout"])


@pytest.mark.parametrize(
    ("value", "threshold", "direction", "meets"),
    [
        (5.0, 3.0, "above", True),
        (3.0, 3.0, "above", True),
        (2.9, 3.0, "above", False),
        (0.4, 0.5, "below", True),
        (0.6, 0.5, "below", False),
        (10.0, (3.0, 30.0), "between", True),
        (31.0, (3.0, 30.0), "between", False),
        (math.nan, 3.0, "above", False),
    ],
)
def test_meets_threshold(value, threshold, direction, meets):
    assert Readout("x", "q", value, threshold, direction).meets_threshold is meets


def test_readouts_do_not_change_the_claims_table():
    plain = ClaimResult("C3", "FAIL", "ratios")
    rich = ClaimResult("C3", "FAIL", "ratios", readouts=[_fold("alectinib", 2.0)], data=["a.csv"])
    pd.testing.assert_frame_equal(claims_table({"C3": plain}), claims_table({"C3": rich}))
    assert rich.readouts == (_fold("alectinib", 2.0),) and rich.data == ("a.csv",)


# -- the figure ---------------------------------------------------------------------------------


def test_one_row_per_claim_with_its_status():
    results = {
        "C1": ClaimResult("C1", "PASS", "x", readouts=[_fold("alectinib", 6.0)]),
        "C3": ClaimResult("C3", "FAIL", "x", readouts=[_fold(d, 2.0) for d in "abcd"]),
        "C8": ClaimResult("C8", "PASS", "no readouts"),
    }
    summary = claims_table(results)
    labels = _status_labels(claims_overview_figure(summary, results))
    assert list(labels) == [c.id for c in load_claims()]
    assert labels == dict(zip(summary["id"], summary["status"], strict=True))


def test_readouts_share_a_panel_by_quantity():
    readouts = [
        _fold("a", 5.0),
        Readout("b", "inhibition (%)", 8.0, 25.0, "below"),
        _fold("c", 6.0, "above"),
    ]
    panels = readout_panels(readouts)
    assert [q for q, _ in panels] == ["IC50 ratio (×)", "inhibition (%)"]
    assert [r.name for r in panels[0][1]] == ["a", "c"]
    result = ClaimResult("C1", "PASS", "x", readouts=readouts)
    fig = claims_overview_figure(claims_table({"C1": result}), {"C1": result})
    titles = [ax.get_title() for ax in fig.findobj(match=lambda a: hasattr(a, "get_yscale"))]
    assert "IC50 ratio (×)" in titles and "inhibition (%)" in titles
    log_axes = [ax for ax in fig.axes if ax.get_title() == "IC50 ratio (×)"]
    assert log_axes[0].get_xscale() == "log"


def test_open_bounds_and_missing_values_are_drawn():
    results = {
        "C2": ClaimResult(
            "C2",
            "FAIL",
            "x",
            readouts=[
                Readout("median", "days", math.nan, (60.0, 140.0), "between", 70.0, math.inf),
                Readout(
                    "censored",
                    "ratio (×)",
                    100.0,
                    (3.0, 30.0),
                    "between",
                    100.0,
                    math.inf,
                    log=True,
                ),
                Readout("p", "p-value", 0.0, 0.05, "below", log=True),
            ],
        )
    }
    fig = claims_overview_figure(claims_table(results), results)
    FigureCanvasAgg(fig).draw()
    names = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert "median (n/a)" in names and "censored" in names


# -- the report ---------------------------------------------------------------------------------


def _section(name: str, claims: list[ClaimResult], tables: list[str]) -> SectionSpec:
    def run(ctx):
        return SectionResult(
            name.title(),
            tables={t: pd.DataFrame({"x": [1.0, 2.0]}) for t in tables},
            claims=claims,
        )

    return SectionSpec(name, len(tables), run)


def _run(out: Path, specs: list[SectionSpec]):
    return run_reproduce(
        out_dir=out, sections=specs, progress=False, console=Console(file=io.StringIO())
    )


def test_overview_status_matches_claims_csv(tmp_path, monkeypatch):
    drawn: list[Figure] = []

    def capture(summary, results):
        fig = claims_overview_figure(summary, results)
        drawn.append(fig)
        return fig

    monkeypatch.setattr(report_module, "claims_overview_figure", capture)
    specs = [
        _section(
            "cells",
            [
                ClaimResult("C1", "PASS", "x", readouts=[_fold("a", 5.0)]),
                ClaimResult("C3", "FAIL", "y", readouts=[_fold("b", 2.0)]),
            ],
            ["cells.csv"],
        ),
        _section("mice", [ClaimResult("C7", ClaimStatus.FAIL, "z")], ["mice.csv"]),
    ]
    res = _run(tmp_path / "out", specs)
    claims = pd.read_csv(res.claims_path, keep_default_na=False)
    (fig,) = drawn
    assert _status_labels(fig) == dict(zip(claims["id"], claims["status"], strict=True))
    html = res.report_path.read_text(encoding="utf-8")
    top = html.index('id="claims"')
    assert top < html.index('<figure class="claims-overview">') < html.index("<section")


def test_no_overview_without_readouts(tmp_path):
    res = _run(tmp_path / "out", [_section("s", [ClaimResult("C1", "PASS", "x")], ["s.csv"])])
    assert "claims-overview" not in res.report_path.read_text(encoding="utf-8")


def _data_cells(html: str) -> dict[str, list[str]]:
    """Claim id → the files linked in its ``data`` cell of the summary table at the top."""
    html = html[html.index('id="claims"') : html.index("<section")]
    rows = re.findall(r'<tr><td>(?:<a href="#[^"]*">)?(C\d)(?:</a>)?</td>.*?</tr>', html)
    cells = re.findall(r'<td class="data">(.*?)</td></tr>', html)
    assert len(rows) == len(cells) == 9
    return {cid: re.findall(r'href="([^"]+)"', cell) for cid, cell in zip(rows, cells, strict=True)}


def test_claims_table_links_the_csv_files_behind_each_claim(tmp_path):
    specs = [
        _section(
            "cells",
            [
                ClaimResult("C1", "PASS", "x", data=["ic50.csv", "tidy"]),
                ClaimResult("C3", "PASS", "y", data=["not_a_table.csv"]),
            ],
            ["ic50.csv", "tidy.csv", "qc.csv"],
        ),
        _section("mice", [ClaimResult("C7", "FAIL", "z")], ["bli.csv", "survival.csv"]),
    ]
    out = tmp_path / "out"
    res = _run(out, specs)
    links = _data_cells(res.report_path.read_text(encoding="utf-8"))
    assert links["C1"] == ["ic50.csv", "tidy.csv"]  # the files the claim names
    assert links["C3"] == ["ic50.csv", "tidy.csv", "qc.csv"]  # none of them exist: the section's
    assert links["C7"] == ["bli.csv", "survival.csv"]  # no names: every table of the section
    assert links["C2"] == []  # not checked in this run
    for files in links.values():
        for name in files:
            assert (out / name).is_file(), name
