"""Sub-step progress of a section: ``ctx.task`` / ``ctx.progress``, the runner's second bar, and
no effect on what a section computes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from rich.progress import Progress

from leptotwin.catalog import using_catalog
from leptotwin.catalog.posterior import posterior_median_catalog
from leptotwin.study import reproduce
from leptotwin.study.reproduce import Context, SectionResult, SectionSpec, run_reproduce
from leptotwin.study.sections import patients
from leptotwin.study.sections.patients import COUNTERFACTUALS, burden_grid, patients_csf


def _ctx(tmp_path, on_progress=None, **kwargs) -> Context:
    return Context(
        rng=np.random.default_rng(5), seed=5, out_dir=tmp_path, on_progress=on_progress, **kwargs
    )


def _monotone_runs(seen: list[tuple[int, int | None, str]]) -> list[list[tuple]]:
    """The reports split into tasks (a new task starts where the total changes or 0 comes)."""
    runs: list[list[tuple]] = []
    for call in seen:
        if not runs or call[0] == 0 or call[1] != runs[-1][-1][1]:
            runs.append([])
        runs[-1].append(call)
    return runs


def test_task_reports_monotone_counts_up_to_the_total(tmp_path, monkeypatch):
    seen: list[tuple[int, int | None, str]] = []
    ctx = _ctx(tmp_path, lambda *a: seen.append(a))
    with ctx.task("studies", total=1000) as step:
        for _ in range(1000):
            step()
    assert seen[0] == (0, 1000, "studies") and seen[-1] == (1000, 1000, "studies")
    counts = [c[0] for c in seen]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    # throttled: a fast loop of 1000 steps reports a handful of times, not 1000
    assert len(seen) <= 10

    # unthrottled, every step is reported, in order
    monkeypatch.setattr(reproduce, "PROGRESS_INTERVAL_S", 0.0)
    seen.clear()
    with ctx.task("draws", total=5) as step:
        for k in range(5):
            step(what=f"draw {k + 1}")
    assert [c[0] for c in seen] == [0, 1, 2, 3, 4, 5]
    assert seen[-1] == (5, 5, "draw 5")


def test_relabel_is_shown_at_once_and_leaving_early_reports_the_count_reached(tmp_path):
    seen: list[tuple[int, int | None, str]] = []
    ctx = _ctx(tmp_path, lambda *a: seen.append(a))
    with pytest.raises(RuntimeError), ctx.task("phase A", total=4) as step:
        step()  # within the interval: not reported yet
        step(what="phase B")  # a new label goes at once
        step()
        raise RuntimeError("stop")
    assert seen[0] == (0, 4, "phase A")
    assert (2, 4, "phase B") in seen
    assert seen[-1] == (3, 4, "phase B")  # the count reached, reported on leaving
    ctx.progress(1, None, "unknown total")
    assert seen[-1] == (1, None, "unknown total")


def test_without_a_display_the_calls_are_harmless(tmp_path):
    ctx = _ctx(tmp_path)
    assert ctx.on_progress is None
    assert ctx.progress(3, 10, "x") is None
    with ctx.task("nothing shown", total=3) as step:
        for _ in range(3):
            assert step() is None
        step(2, what="relabelled")
    with ctx.task("no total") as step:
        step()


def test_the_runner_passes_a_display_only_when_one_is_drawn(tmp_path):
    got: list[object] = []

    def section(ctx: Context) -> SectionResult:
        got.append(ctx.on_progress)
        with ctx.task("inner", total=2) as step:
            step()
            step()
        return SectionResult("S")

    spec = SectionSpec("sub", 0, section)
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100)
    plain = Console(file=io.StringIO(), width=100)
    run_reproduce(out_dir=tmp_path / "a", sections=[spec], progress=True, console=terminal)
    run_reproduce(out_dir=tmp_path / "b", sections=[spec], progress=False, console=terminal)
    run_reproduce(out_dir=tmp_path / "c", sections=[spec], progress=True, console=plain)
    assert isinstance(got[0], reproduce._SubstepBar)
    assert got[1] is None and got[2] is None


def test_substep_bar_is_a_second_task_reset_per_subtask_and_removed_at_the_end():
    bar = Progress(console=Console(file=io.StringIO(), force_terminal=True), auto_refresh=False)
    main = bar.add_task("section patients", total=3)
    sub = reproduce._SubstepBar(bar)
    sub(0, 5, "studies")
    sub(3, 5, "studies")
    (task,) = [t for t in bar.tasks if t.id != main]
    assert (task.completed, task.total) == (3, 5) and "studies" in task.description
    sub(0, 8, "burden spread")  # the next sub-task of the section: same bar, restarted
    (task,) = [t for t in bar.tasks if t.id != main]
    assert (task.completed, task.total) == (0, 8) and "burden spread" in task.description
    sub.close()
    assert [t.id for t in bar.tasks] == [main]
    sub.close()  # twice is fine


def test_patients_section_gives_the_same_results_with_and_without_progress(tmp_path, monkeypatch):
    # a smaller population and burden grid keep the two quick runs short; the code path is the
    # section's own
    monkeypatch.setattr(patients, "MIN_POPULATION", 2_000)
    monkeypatch.setattr(patients, "BURDEN_SD_GRID", (1.0,))
    seen: list[tuple[int, int | None, str]] = []
    runs = []
    with using_catalog(posterior_median_catalog()):
        n_spreads = len(burden_grid())
        for i, callback in enumerate((None, lambda *a: seen.append(a))):
            out = tmp_path / str(i)
            out.mkdir()
            runs.append(patients_csf(_ctx(out, callback, quick=True, name="patients")))
    plain, shown = runs
    assert [(c.id, c.status, c.measured) for c in plain.claims] == [
        (c.id, c.status, c.measured) for c in shown.claims
    ]
    assert plain.tables.keys() == shown.tables.keys()
    for name, frame in plain.tables.items():
        pd.testing.assert_frame_equal(frame, shown.tables[name], obj=name)
    # two sub-tasks: the studies behind C9, then the burden spreads; each rises to its total
    tasks = _monotone_runs(seen)
    assert [t[-1][:2] for t in tasks] == [
        (3 + len(COUNTERFACTUALS), 3 + len(COUNTERFACTUALS)),
        (n_spreads, n_spreads),
    ]
    for t in tasks:
        counts = [c[0] for c in t]
        assert counts == sorted(counts)


def test_human_section_reports_its_phases_in_order(tmp_path, monkeypatch):
    """The human-translation section's phases (cohort, exposure, sweep, credible intervals)
    rise to their total, one label per phase."""
    from leptotwin.study.sections.human import human_translation

    monkeypatch.setattr(reproduce, "PROGRESS_INTERVAL_S", 0.0)
    seen: list[tuple[int, int | None, str]] = []
    with using_catalog(posterior_median_catalog()):
        human_translation(_ctx(tmp_path, lambda *a: seen.append(a), quick=True, name="human"))
    assert [c[0] for c in seen] == [0, 1, 2, 3, 4]
    assert all(c[1] == 4 for c in seen)
    labels = [c[2] for c in seen]
    assert labels[0].startswith("human:") and "sweep" in labels[2] and "parameter" in labels[3]
