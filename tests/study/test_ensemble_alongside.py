"""`reproduce` starts the claims ensemble before its sections (issue 16: first run ≤ 2 min): the
draws run in worker processes while the sections run, and the results are those of an ensemble run
after the sections."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.console import Console

from leptotwin.study.ensemble import CLAIMS_ENSEMBLE_CSV, start_claims_ensemble
from leptotwin.study.reproduce import SectionResult, SectionSpec, run_reproduce


def _run(tmp_path, name, jobs):
    return run_reproduce(
        out_dir=tmp_path / name,
        sections=["msi"],
        quick=True,
        ensemble=2,
        jobs=jobs,
        progress=False,
        console=Console(file=io.StringIO()),
    )


def test_ensemble_alongside_the_sections_gives_the_same_draws(tmp_path):
    after = _run(tmp_path, "after", jobs=1)  # one job: in this process, after the sections
    alongside = _run(tmp_path, "alongside", jobs=2)  # two: started before the sections
    for name in (CLAIMS_ENSEMBLE_CSV, "claims_ensemble_draws.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(after.out_dir / name), pd.read_csv(alongside.out_dir / name)
        )
    assert "started with the other sections" in (alongside.out_dir / "report.html").read_text()
    assert "started with the other sections" not in (after.out_dir / "report.html").read_text()


def test_a_failing_section_stops_the_early_ensemble(tmp_path, monkeypatch):
    import leptotwin.study.reproduce as rp

    started = []
    real = rp._start_ensemble

    def spy(*args):
        pending = real(*args)
        started.append(pending)
        return pending

    def boom(ctx):
        raise RuntimeError("section failed")

    rp.registered_sections()  # discovered first, so the patched entry stays
    monkeypatch.setattr(rp, "_start_ensemble", spy)
    spec = SectionSpec("msi", 0, boom)
    monkeypatch.setitem(rp._REGISTRY, "msi", spec)
    with pytest.raises(RuntimeError, match="section failed"):
        run_reproduce(out_dir=tmp_path / "o", sections=["msi"], ensemble=2, jobs=2, progress=False)
    (pending,) = started
    assert pending is not None and not pending.background  # cancelled: workers gone
    assert not (tmp_path / "o" / CLAIMS_ENSEMBLE_CSV).exists()


def test_an_unregistered_section_runs_the_ensemble_after(tmp_path):
    import leptotwin.study.reproduce as rp

    spec = SectionSpec("demo", 0, lambda ctx: SectionResult("Demo"))
    assert rp._start_ensemble(2, 1, [spec], 2) is None


def test_cancel_ends_the_workers():
    pending = start_claims_ensemble(4, seed=1, sections=("msi",), jobs=2, source="prior")
    assert pending.background
    pending.cancel()
    assert not pending.background
    pending.cancel()  # twice is fine
