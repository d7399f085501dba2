"""Claims as probabilities: the ensemble over parameter draws."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from leptotwin.catalog.posterior import effective_draws
from leptotwin.errors import LeptotwinError
from leptotwin.study.ensemble import (
    CLAIMS_ENSEMBLE_CSV,
    ERROR,
    UNSHOWN,
    _summarise,
    failure_breakdown,
    jeffreys_interval,
    run_claims_ensemble,
)
from leptotwin.study.reproduce import run_reproduce


@pytest.mark.parametrize("k, n", [(0, 10), (1, 10), (5, 10), (9, 10), (10, 10), (160, 200)])
def test_jeffreys_interval_matches_statsmodels(k, n):
    lo, hi = jeffreys_interval(k, n)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="jeffreys")
    # Brown, Cai & DasGupta's boundary modification: 0 at k = 0, 1 at k = n
    assert lo == (0.0 if k == 0 else pytest.approx(ref_lo, abs=1e-9))
    assert hi == (1.0 if k == n else pytest.approx(ref_hi, abs=1e-9))


def test_summary_counts_a_crashed_section_as_not_passing():
    draws = pd.DataFrame(
        [
            {"draw": 0, "id": "C8", "status": "PASS", "measured": ""},
            {"draw": 1, "id": "C8", "status": "FAIL", "measured": ""},
            {"draw": 2, "id": "section:msi", "status": ERROR, "measured": "boom"},
            {"draw": 3, "id": "C8", "status": "PASS", "measured": ""},
        ]
    )
    summary = _summarise(draws, 4).set_index("id")
    assert list(summary.index) == ["C8"]  # claims of sections not run get no row
    row = summary.loc["C8"]
    assert (row["n_pass"], row["n_draws"], row["n_error"]) == (2, 4, 1)
    assert row["p_pass"] == 0.5
    assert row["lower"] < 0.5 < row["upper"]
    assert row["n_eff"] == 4
    wide = _summarise(draws, 4, 2.0).set_index("id").loc["C8"]  # two distinct parameter sets
    assert (wide["p_pass"], wide["n_eff"]) == (0.5, 2.0)
    assert wide["lower"] < row["lower"] and wide["upper"] > row["upper"]
    ref = proportion_confint(1, 2, alpha=0.05, method="jeffreys")
    assert (wide["lower"], wide["upper"]) == pytest.approx(ref, abs=1e-9)


def test_intervals_on_effective_draws_keep_their_coverage_over_a_weighted_posterior():
    """200 draws resampled from 1,000 importance-weighted ones (ESS ~260, as the installed
    posterior's 235): the Jeffreys interval on the effective number of draws covers the true
    P(PASS) at least nominally; on N = 200 it undercovers, as the ensemble's intervals did."""
    rng = np.random.default_rng(2020)
    cut = stats.norm.ppf(0.8)  # target N(0, 1): a claim passing for theta < cut has P = 0.8
    covered = {"effective": 0, "naive": 0}
    reps = 400
    for _ in range(reps):
        theta = rng.normal(1.5, 1.2, size=1000)  # the sampler's draws, off target
        log_w = -0.5 * theta**2 + 0.5 * ((theta - 1.5) / 1.2) ** 2
        w = np.exp(log_w - log_w.max())
        rows = rng.choice(1000, size=200, p=w / w.sum())
        status = np.where(theta[rows] < cut, "PASS", "FAIL")
        draws = pd.DataFrame({"draw": range(200), "id": "C8", "status": status, "measured": ""})
        for kind, n_eff in (("effective", effective_draws(rows, 200)), ("naive", None)):
            row = _summarise(draws, 200, n_eff).iloc[0]
            covered[kind] += row["lower"] <= 0.8 <= row["upper"]
    assert covered["effective"] / reps >= 0.94
    assert covered["naive"] / reps <= 0.92


def test_failure_breakdown_counts_the_readouts_that_missed():
    draws = pd.DataFrame(
        [
            {"draw": 0, "id": "C2", "status": "FAIL", "missed": "a: fold | b: day"},
            {"draw": 1, "id": "C2", "status": "FAIL", "missed": "a: fold"},
            {"draw": 2, "id": "C2", "status": "FAIL", "missed": ""},  # a CI reaching 1
            {"draw": 3, "id": "C2", "status": "PASS", "missed": ""},
            {"draw": 0, "id": "C8", "status": "PASS", "missed": ""},
            {"draw": 4, "id": "section:msi", "status": ERROR, "missed": ""},
        ]
    ).assign(measured="")
    table = failure_breakdown(draws)
    c2 = table[table["id"] == "C2"].set_index("part")
    assert list(c2.index) == ["a: fold", "b: day", UNSHOWN, "section error"]
    assert c2["n_fail"].tolist() == [2, 1, 1, 1]
    assert c2.loc["a: fold", "share"] == pytest.approx(2 / 4)  # 3 failing draws + 1 lost
    assert table[table["id"] == "C8"]["part"].tolist() == ["section error"]
    assert failure_breakdown(draws[draws["status"] == "PASS"]).empty


def test_ensemble_is_reproducible_and_the_same_with_two_workers():
    one = run_claims_ensemble(3, seed=7, sections=("msi",), jobs=1, source="prior")
    two = run_claims_ensemble(3, seed=7, sections=("msi",), jobs=2, source="prior")
    pd.testing.assert_frame_equal(one.draws, two.draws)
    pd.testing.assert_frame_equal(one.parameters, two.parameters)
    assert list(one.summary["id"]) == ["C8"]
    assert one.summary.loc[0, "n_draws"] == 3
    # each draw is its own parameter set
    assert one.parameters["pathway.egfr_weight"].nunique() == 3
    assert one.draws["measured"].nunique() == 3


def test_reproduce_writes_claims_ensemble_next_to_claims(tmp_path):
    res = run_reproduce(
        out_dir=tmp_path / "out",
        sections=["msi"],
        quick=True,
        ensemble=2,
        jobs=1,
        progress=False,
        console=Console(file=io.StringIO()),
    )
    table = pd.read_csv(res.out_dir / CLAIMS_ENSEMBLE_CSV)
    assert list(table.columns[:6]) == ["id", "p_pass", "lower", "upper", "n_draws", "n_eff"]
    assert table["id"].tolist() == ["C8"]
    assert np.isin(table["p_pass"], [0.0, 0.5, 1.0]).all()
    html = (res.out_dir / "report.html").read_text()
    assert "Claims as probabilities" in html
    assert (res.out_dir / "claims.csv").is_file()
    failures = pd.read_csv(res.out_dir / "claims_ensemble_failures.csv")
    assert list(failures.columns) == ["id", "part", "n_fail", "share"]
    assert "missed" in pd.read_csv(res.out_dir / "claims_ensemble_draws.csv").columns


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_bad_ensemble_size_is_refused(tmp_path, bad):
    with pytest.raises(LeptotwinError, match="ensemble"):
        run_reproduce(out_dir=tmp_path / "o", sections=["msi"], ensemble=bad, progress=False)
    with pytest.raises(LeptotwinError):
        run_claims_ensemble(0, seed=1)


def test_workers_start_after_openmp_kernels_have_run(tmp_path):
    """`reproduce` runs the ensemble after sections whose numba kernels started GNU OpenMP; a
    worker forked from such a process is killed by libgomp ("fork() called from a process
    already using GNU OpenMP"): `make reproduce` broke so on a fresh clone (this command exited
    1 in 5 s). The workers now start from a fork server."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "leptotwin"
    cmd = [str(exe), "reproduce", "--quick", "--section", "viability", "--ensemble", "2"]
    done = subprocess.run(
        [*cmd, "--jobs", "2", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OpenMP" not in done.stderr
    table = pd.read_csv(tmp_path / "r" / "claims_ensemble.csv")
    assert (table["n_draws"] == 2).all() and (table["n_error"] == 0).all()


def _die(batch):  # a worker killed mid-draw (out of memory, a signal)
    import os

    os._exit(9)


def test_a_dead_worker_is_a_named_error_not_a_traceback(monkeypatch):
    import leptotwin.study.ensemble as ens

    monkeypatch.setattr(ens, "_START_METHOD", "fork")  # the child sees the patched worker
    monkeypatch.setattr(ens, "_worker", _die)
    with pytest.raises(LeptotwinError, match="worker process of the claims ensemble died") as exc:
        ens.run_claims_ensemble(2, seed=1, sections=("msi",), jobs=2, source="prior")
    assert exc.value.source == "--jobs" and "draws finished: 0 of 2" in str(exc.value)
