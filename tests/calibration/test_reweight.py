"""The importance stage (calibration/reweight.py): weights L / L_s over posterior draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration.reweight import reweight_draws
from leptotwin.calibration.targets import Target, load_targets
from leptotwin.catalog.loader import _data_dir
from leptotwin.catalog.posterior import load_posterior_draws
from leptotwin.errors import LeptotwinError

ENDPOINT = "lmc_mouse.parameters.endpoint_cells"


def _logrank_target(**change) -> Target:
    t = next(t for t in load_targets() if t.readout == "C7.cohort.logrank_p_max")
    return dataclasses.replace(t, **change)


@pytest.fixture(scope="module")
def two_draws():
    draws = load_posterior_draws()
    assert draws is not None
    # the sampler's values (an installed importance stage may carry every uncertain value)
    sampled = pd.read_csv(_data_dir() / "calibration_diagnostics.csv")["parameter"]
    rows = draws[list(sampled)].iloc[[0, 0]].reset_index(drop=True)
    rows[ENDPOINT] = [5e7, 1e13]  # the second: no mouse ever reaches the endpoint
    return rows


def test_weights_are_the_likelihood_ratio_and_punish_what_the_sampler_could_not_see(two_draws):
    targets = [t for t in load_targets() if t.role == "used"] + [_logrank_target()]
    r = reweight_draws(
        two_draws, sampler_targets=targets, targets=targets, replicates=1, n_per_arm=3
    )
    t = r.table
    # nothing replaced: the kept part is the sampler's, the weight is the cohort likelihood
    assert np.allclose(t["loglik_kept"], t["loglik_sampler"])
    assert np.allclose(t["log_weight"], t["loglik_kept"] + t["loglik_cohort"] - t["loglik_sampler"])
    assert t["weight"].sum() == pytest.approx(1.0)
    assert t["C7.cohort.logrank_p_max"].iloc[1] == 1.0
    assert t["weight"].iloc[1] < 1e-6 * t["weight"].iloc[0]
    assert 1.0 <= r.ess <= 1.01
    assert list(r.draws.columns[-2:]) == ["log_weight", "weight"]


def test_a_cohort_target_nobody_can_miss_leaves_the_weights_uniform(two_draws):
    targets = [t for t in load_targets() if t.role == "used"]
    loose = _logrank_target(high=10.0)
    r = reweight_draws(
        two_draws.iloc[[0, 0]],
        sampler_targets=targets,
        targets=[*targets, loose],
        replicates=1,
        n_per_arm=3,
    )
    assert np.allclose(r.table["weight"], 0.5)
    assert r.ess == pytest.approx(2.0)


def test_refusals_name_what_is_wrong(two_draws):
    used = [t for t in load_targets() if t.role == "used"]
    with pytest.raises(LeptotwinError, match="no cohort target"):
        reweight_draws(two_draws, sampler_targets=used, targets=used)
    with pytest.raises(LeptotwinError, match="replicates"):
        reweight_draws(two_draws, sampler_targets=used, replicates=0)
    with pytest.raises(LeptotwinError, match="pathway.nonsense"):
        reweight_draws(
            pd.DataFrame({"pathway.nonsense": [1.0]}),
            sampler_targets=used,
            replicates=1,
            n_per_arm=2,
        )


def test_unfitted_values_from_their_priors_are_scored_by_l_but_not_by_l_s(two_draws):
    """``unfitted="prior"``: every draw carries its own prior draw of the values the sampler
    held at the catalogue's, and the returned draws hold every uncertain value."""
    from leptotwin.catalog import load_catalog, uncertain_parameters

    same = two_draws.iloc[[0, 0]].reset_index(drop=True)
    targets = [t for t in load_targets() if t.role == "used"]
    r = reweight_draws(
        same,
        sampler_targets=targets,
        targets=[*targets, _logrank_target(high=10.0)],
        replicates=1,
        n_per_arm=3,
        unfitted="prior",
    )
    t = r.table
    assert t["loglik_sampler"].iloc[0] == t["loglik_sampler"].iloc[1]  # same fitted values
    assert t["loglik_kept"].iloc[0] != t["loglik_kept"].iloc[1]  # their own unfitted values
    paths = set(uncertain_parameters(load_catalog())["path"])
    assert paths <= set(r.draws.columns)
    other = sorted(paths - set(same.columns))[0]
    assert r.draws[other].iloc[0] != r.draws[other].iloc[1]
    for c in same.columns:
        assert (r.draws[c] == same[c]).all()
    with pytest.raises(LeptotwinError, match="catalogue or prior"):
        reweight_draws(same, sampler_targets=targets, unfitted="posterior")
