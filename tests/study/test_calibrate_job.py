"""``leptotwin calibrate-study`` as a job: options, files, refusal, determinism."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.catalog.loader import read_posterior
from leptotwin.catalog.posterior import load_posterior_draws
from leptotwin.errors import LeptotwinError
from leptotwin.study.calibrate_job import run_calibrate_study

PARAMS = ["pathway.egfr_weight", "A925L/AR.mir449a"]


def _target(name, readout, value, sd, role="used"):
    return SimpleNamespace(
        name=name,
        readout=readout,
        value=value,
        error=SimpleNamespace(scale="log", sd=sd),
        role=role,
        source="test",
    )


TARGETS = [
    _target("fold", "fold", 30.0, 0.1),
    _target("w", "w", 6.0, 0.05),
    _target("held", "held", 12.0, 0.1, role="held_out"),
]


def fake_readouts(catalog, names):
    w = catalog.pathway_value("egfr_weight")
    mir = catalog.cell_line("A925L/AR").mir449a.value
    values = {"fold": w / mir, "w": w, "held": 2 * w}
    return {n: values[n] for n in names}


def fake_loglik(values, targets):
    return sum(-0.5 * ((math.log(values[t.readout] / t.value)) / t.error.sd) ** 2 for t in targets)


def _run(out, **kw):
    args = {
        "out_dir": out,
        "parameters": PARAMS,
        "targets": TARGETS,
        "readouts_fn": fake_readouts,
        "log_likelihood_fn": fake_loglik,
        "quick": True,
    }
    args.update(kw)
    return run_calibrate_study(**args)


def test_quick_run_writes_files_the_catalogue_reads(tmp_path):
    lines: list[str] = []
    outcome = _run(tmp_path / "cal", progress=lines.append)
    names = {p.name for p in outcome.paths.values()}
    assert names == {
        "posterior_draws.csv",
        "posterior.yaml",
        "calibration_diagnostics.csv",
        "calibration_targets.csv",
        "calibration.md",
    }
    assert set(read_posterior(outcome.paths["posterior.yaml"], load_catalog())) == set(PARAMS)
    draws = load_posterior_draws(outcome.paths["posterior_draws.csv"])
    assert list(draws.columns) == PARAMS and len(draws) == 4 * 3  # 2 x dim walkers, 3 kept steps
    text = "\n".join(outcome.summary_lines())
    assert "pathway.egfr_weight: prior" in text and "R-hat" in text
    assert "wrote 5 files" in text
    assert outcome.result.provenance["command"]["quick"] is True
    assert any(line.startswith("calibrate: sample") for line in lines)
    # a folder holding results is refused unless --force
    with pytest.raises(LeptotwinError, match="already holds results"):
        _run(tmp_path / "cal")
    _run(tmp_path / "cal", force=True)


def test_full_settings_and_draws(tmp_path):
    outcome = _run(tmp_path / "cal", quick=False, walkers=8, steps=60, burn=20, draws=100, seed=3)
    s = outcome.result.provenance["sampler"]
    assert (s["n_walkers"], s["n_steps"], s["burn"], s["n_draws"]) == (8, 60, 20, 100)
    assert s["map_start"] is True
    d = outcome.result.diagnostics.set_index("parameter")
    assert d.loc["pathway.egfr_weight", "posterior_median"] == pytest.approx(6.0, rel=0.05)


@pytest.mark.parametrize(
    ("kw", "option"),
    [
        ({"walkers": 3}, "--walkers"),
        ({"steps": 1}, "--steps"),
        ({"steps": 10, "burn": 10}, "--burn"),
        ({"draws": 0}, "--draws"),
        ({"draws": 10_000}, "--draws"),
        ({"seed": -1}, "--seed"),
        ({"jobs": 0}, "--jobs"),
        ({"walkers": 8.5}, "--walkers"),
        ({"unfitted": "posterior"}, "--unfitted"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(tmp_path, kw, option):
    with pytest.raises(LeptotwinError, match=option):
        _run(tmp_path / "cal", **kw)
    assert not (tmp_path / "cal").exists()


def test_worker_processes_give_the_same_draws(tmp_path):
    one = _run(tmp_path / "a", walkers=4, steps=6, burn=2, draws=8, jobs=1)
    two = _run(tmp_path / "b", walkers=4, steps=6, burn=2, draws=8, jobs=2)
    pd.testing.assert_frame_equal(one.result.draws, two.result.draws)


def test_quick_run_on_the_real_readouts_and_targets(tmp_path, run_cli, monkeypatch):
    """End to end on the model: the packaged targets, the default parameters, ``--quick``, run
    through the command line (the valid run of tests/test_bad_input_matrix.py for
    calibrate-study, which does not run it again)."""
    from leptotwin.calibration.calibrate import DEFAULT_PARAMETERS
    from leptotwin.calibration.targets import load_targets
    from leptotwin.study import calibrate_job

    outcomes = []

    def recorded(**kw):
        outcomes.append(run_calibrate_study(**kw))
        return outcomes[-1]

    monkeypatch.setattr(calibrate_job, "run_calibrate_study", recorded)
    code, out, err = run_cli(
        "calibrate-study", "--quick", "--seed", "1", "--out", str(tmp_path / "cal")
    )
    assert code == 0, err
    (outcome,) = outcomes
    assert outcome.summary_lines()[0] in out  # what the command printed
    cat = load_catalog()
    assert set(read_posterior(outcome.paths["posterior.yaml"], cat)) == set(DEFAULT_PARAMETERS)
    draws = load_posterior_draws(outcome.paths["posterior_draws.csv"])
    assert list(draws.columns) == DEFAULT_PARAMETERS
    table = pd.read_csv(outcome.paths["calibration_targets.csv"])
    # --quick skips the importance stage, so no cohort target is scored
    assert outcome.reweighted is None and "importance_weights.csv" not in outcome.paths
    targets = [t for t in load_targets() if t.role != "cohort"]
    assert len(table) == len(targets)
    held = {t.name for t in targets if t.role == "held_out"}
    assert set(table.loc[table["label"] == "prediction", "name"]) == held
    assert table["n_evaluated"].min() > 0
    prov = outcome.result.provenance
    assert len(prov["targets_used"]) + len(prov["targets_held_out"]) == len(targets)
    assert all(t["source"] for t in prov["targets_used"])
    assert math.isfinite(outcome.result.provenance["sampler"]["seconds_per_evaluation"])


def test_start_from_an_earlier_posterior_is_recorded_and_a_bad_file_refused(tmp_path):
    first = _run(tmp_path / "a")
    csv = first.paths["posterior_draws.csv"]
    warm = _run(tmp_path / "b", start_from=csv)
    start = warm.result.provenance["command"]["start_from"]
    assert start["path"] == str(csv) and start["rows"] == 12 and len(start["sha256"]) == 64
    assert warm.result.provenance["sampler"]["warm_start"] is True
    with pytest.raises(LeptotwinError, match="start draws not found") as exc:
        _run(tmp_path / "c", start_from=tmp_path / "missing.csv")
    assert exc.value.source == "--start-from"
    bad = tmp_path / "bad.csv"
    bad.write_text("not.a.calibrated.value\n6.0\n")
    with pytest.raises(LeptotwinError, match="lack a calibrated value"):
        _run(tmp_path / "d", start_from=bad)
    assert not (tmp_path / "c").exists()


def test_a_cohort_target_sends_the_sampled_draws_through_the_importance_stage(
    tmp_path, monkeypatch
):
    """After sampling, the run's own folder is the stage's source (its calibration_targets.csv
    is what the sampler scored), the output folder is reused, and --install waits for the
    weights; without a cohort target, or with --replicates 0, there is no stage."""
    from leptotwin.study import reweight_job

    calls = []

    def fake_stage(**kw):
        calls.append(kw)
        return SimpleNamespace(paths={}, summary_lines=lambda: ["stage", "files"])

    monkeypatch.setattr(reweight_job, "reweight_calibration", fake_stage)
    cohort = _target("surv", "C7.cohort.logrank_p_max", 0.05, 0.3, role="cohort")
    out = _run(tmp_path / "a", targets=[*TARGETS, cohort], replicates=3)
    (kw,) = calls
    assert kw["source_dir"] == kw["out_dir"] == tmp_path / "a" and kw["out_ready"]
    assert kw["replicates"] == 3 and kw["install"] is False
    assert kw["unfitted"] == "prior"  # the posterior covers every uncertain value by default
    assert (tmp_path / "a" / "calibration_targets.csv").is_file()  # written before the stage
    assert out.reweighted is not None and "stage" in out.summary_lines()
    _run(tmp_path / "b", targets=[*TARGETS, cohort])  # --quick: 0 replicates by default
    _run(tmp_path / "c", targets=TARGETS, replicates=2)  # no cohort target
    assert len(calls) == 1
