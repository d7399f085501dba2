"""The importance stage as a job (study/reweight_job.py) and `calibrate-study --reweight-only`."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from leptotwin.calibration.targets import load_targets
from leptotwin.catalog import load_catalog
from leptotwin.catalog.loader import _data_dir, read_posterior
from leptotwin.catalog.posterior import load_posterior_draws, weighted_quantile
from leptotwin.errors import LeptotwinError
from leptotwin.study.reweight_job import reweight_calibration

FILES = (
    "posterior_draws.csv",
    "calibration_targets.csv",
    "posterior.yaml",
    "calibration_diagnostics.csv",
)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The installed calibration, cut to three draws."""
    d = tmp_path_factory.mktemp("installed")
    for name in FILES:
        shutil.copy(_data_dir() / name, d / name)
    draws = pd.read_csv(d / "posterior_draws.csv")
    draws.iloc[[0, 400, 800]].to_csv(d / "posterior_draws.csv", index=False)
    return d


def test_the_stage_writes_a_complete_reweighted_calibration(source, tmp_path):
    before = (_data_dir() / "posterior_draws.csv").read_bytes()
    out = reweight_calibration(
        out_dir=tmp_path / "rw", source_dir=source, replicates=1, jobs=1, unfitted="catalogue"
    )
    assert (_data_dir() / "posterior_draws.csv").read_bytes() == before  # nothing installed
    r = out.result
    assert set(FILES) | {"importance_weights.csv"} <= set(out.paths)
    draws = load_posterior_draws(out.paths["posterior_draws.csv"])
    w = draws.attrs["weight"]
    assert w.shape == (3,) and w.sum() == pytest.approx(1.0)
    assert np.allclose(w, r.table["weight"])
    table = pd.read_csv(out.paths["importance_weights.csv"])
    assert np.allclose(
        table["log_weight"],
        table["loglik_kept"] + table["loglik_cohort"] - table["loglik_sampler"],
    )
    # what the sampler scored is read back from the source's table, cohort rows appended
    targets = pd.read_csv(out.paths["calibration_targets.csv"])
    src_targets = pd.read_csv(source / "calibration_targets.csv")
    n_cohort = sum(t.role == "cohort" for t in load_targets())
    assert len(targets) == (src_targets["role"] != "cohort").sum() + n_cohort
    assert (targets["role"] == "cohort").sum() == n_cohort
    assert targets.loc[targets["role"] == "cohort", "p_met"].between(0, 1).all()
    doc = yaml.safe_load(out.paths["posterior.yaml"].read_text())
    stage = doc["provenance"]["importance_stage"]
    assert stage["n_draws"] == 3 and 1 <= stage["effective_sample_size"] <= 3
    summary = read_posterior(out.paths["posterior.yaml"], load_catalog())
    # only the sampler's values are reweighted, whatever an earlier stage added to the draws
    sampled = pd.read_csv(source / "calibration_diagnostics.csv")["parameter"]
    assert set(out.result.draws.columns) - {"log_weight", "weight", "log_posterior"} == set(sampled)
    raw = pd.read_csv(source / "posterior_draws.csv")
    for path, s in summary.items():
        assert s.median == weighted_quantile(raw[path].to_numpy(float), w, 0.5)
    text = "\n".join(out.summary_lines())
    assert "effective sample size" in text and "weighted share of draws meeting it" in text
    diag = pd.read_csv(out.paths["calibration_diagnostics.csv"]).set_index("parameter")
    src_diag = pd.read_csv(source / "calibration_diagnostics.csv").set_index("parameter")
    for path, s in summary.items():
        assert diag.loc[path, "posterior_median"] == pytest.approx(s.median)
        assert diag.loc[path, "r_hat"] == src_diag.loc[path, "r_hat"]  # the sampler's


def test_weighted_quantile_is_the_inverse_weighted_cdf():
    x = np.array([3.0, 1.0, 2.0, 4.0])
    assert weighted_quantile(x, np.ones(4), 0.5) == 2.0
    assert weighted_quantile(x, np.array([0, 0, 0, 1.0]), 0.5) == 4.0
    assert weighted_quantile(x, np.array([1, 1, 1, 7.0]), 0.025) == 1.0
    assert np.isnan(weighted_quantile(np.array([np.nan]), np.ones(1), 0.5))


def test_refusals(tmp_path, source, run_cli):
    with pytest.raises(LeptotwinError, match="calibration file not found"):
        reweight_calibration(out_dir=tmp_path / "a", source_dir=tmp_path)
    with pytest.raises(LeptotwinError, match="--replicates"):
        reweight_calibration(out_dir=tmp_path / "b", source_dir=source, replicates=0)
    assert not (tmp_path / "b").exists()
    code, _, err = run_cli(
        "calibrate-study", "--reweight-only", "--from", str(tmp_path), "--out", str(tmp_path / "c")
    )
    assert code == 2 and "calibration file not found" in err and len(err.splitlines()) == 1
    code, _, err = run_cli("calibrate-study", "--from", str(source), "--out", str(tmp_path / "d"))
    assert code == 2 and "--reweight-only" in err
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
