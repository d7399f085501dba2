"""The calibration report section: priors against posteriors, targets, diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml

from leptotwin.study.reproduce import Context
from leptotwin.study.sections import calibration as section

W_E = "pathway.egfr_weight"


def _ctx(tmp_path):
    return Context(rng=np.random.default_rng(0), seed=0, out_dir=tmp_path, quick=True)


def test_without_a_calibration_it_says_so_and_lists_the_priors(tmp_path, monkeypatch):
    monkeypatch.setattr(section, "load_posterior_draws", lambda: None)
    res = section.calibration(_ctx(tmp_path))
    assert "No calibration is installed" in res.text
    assert len(res.tables["priors.csv"]) > 100


def test_an_installed_calibration_is_shown_as_it_is(tmp_path, monkeypatch):
    draws = pd.DataFrame({W_E: np.random.default_rng(1).lognormal(np.log(5.8), 0.05, 400)})
    diag = pd.DataFrame([{"parameter": W_E, "r_hat": 1.004, "ess_bulk": 812.0}])
    targets = pd.DataFrame(
        [
            {"name": "a", "role": "used", "inside_95": True},
            {"name": "b", "role": "held_out", "inside_95": True},
            {"name": "c", "role": "held_out", "inside_95": False},
        ]
    )
    diag.to_csv(tmp_path / section.DIAGNOSTICS_CSV, index=False)
    targets.to_csv(tmp_path / section.TARGETS_CSV, index=False)
    prov = {
        "method": "emcee",
        "seed": 3,
        "targets_used": [{"name": "a"}],
        "targets_held_out": [{"name": "b"}, {"name": "c"}],
        "diagnostics": {
            "r_hat_max": 1.004,
            "ess_bulk_min": 812.0,
            "ess_tail_min": 700.0,
            "tau_max": 40.0,
            "note": "walkers as chains",
        },
    }
    (tmp_path / "posterior.yaml").write_text(yaml.safe_dump({"provenance": prov}))
    monkeypatch.setattr(section, "load_posterior_draws", lambda: draws)
    monkeypatch.setattr(section, "_data_file", lambda name: tmp_path / name)
    res = section.calibration(_ctx(tmp_path))
    assert "fitted 1 of" in res.text
    assert "Held-out targets inside their 95 % posterior-predictive interval: 1 of 2" in res.text
    assert "converged by the usual thresholds" in res.text
    assert set(res.tables) == {"calibration_prior_posterior.csv", "calibration_targets_fit.csv"}
    assert len(res.figures) == 1


def test_an_importance_stage_is_reported_and_the_cohort_rows_are_not_held_out(
    tmp_path, monkeypatch
):
    other = "lmc_mouse.parameters.switch_rate"
    draws = pd.DataFrame({W_E: [5.0, 6.0, 7.0], other: [1e-6, 2e-6, 3e-6]})
    draws.attrs["weight"] = np.array([0.2, 0.3, 0.5])
    pd.DataFrame([{"parameter": W_E, "r_hat": 1.2, "ess_bulk": 90.0}]).to_csv(
        tmp_path / section.DIAGNOSTICS_CSV, index=False
    )
    pd.DataFrame(
        [
            {"name": "a", "role": "used", "inside_95": True, "p_met": 1.0},
            {"name": "b", "role": "held_out", "inside_95": False, "p_met": 0.5},
            {"name": "surv (8 mice)", "role": "cohort", "inside_95": np.nan, "p_met": 0.93},
        ]
    ).to_csv(tmp_path / section.TARGETS_CSV, index=False)
    stage = {"n_draws": 3, "replicates": 2, "mice_per_arm": 8, "effective_sample_size": 2.6}
    prov = {"targets_used": [{"name": "a"}], "importance_stage": stage}
    (tmp_path / "posterior.yaml").write_text(yaml.safe_dump({"provenance": prov}))
    monkeypatch.setattr(section, "load_posterior_draws", lambda: draws)
    monkeypatch.setattr(section, "_data_file", lambda name: tmp_path / name)
    res = section.calibration(_ctx(tmp_path))
    assert "fitted 1 of" in res.text  # the sampler's values, not every column of the draws
    assert "Effective sample size 3 of 3" in res.text
    assert "surv (8 mice) 0.93" in res.text
    assert "interval: 0 of 1" in res.text
