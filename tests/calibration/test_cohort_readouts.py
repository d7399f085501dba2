"""C2 and C7 read off cohorts of virtual mice (calibration/cohort_readouts.py)."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.calibration.cohort_readouts import COHORT_READOUTS, cohort_readouts
from leptotwin.catalog.posterior import posterior_median_catalog

ENDPOINT = "lmc_mouse.parameters.endpoint_cells"
SWITCH = "lmc_mouse.parameters.switch_rate"


@pytest.fixture(scope="module")
def median_catalog():
    return posterior_median_catalog()


def test_cohorts_read_c7_as_the_section_and_repeat_with_the_same_seed(median_catalog):
    a = cohort_readouts(median_catalog, replicates=2, n_per_arm=4, seed=7)
    assert set(a) == set(COHORT_READOUTS)
    assert all(v.shape == (2,) and np.isfinite(v).all() for v in a.values())
    # the study's picture at the posterior median: combinations far below every monotherapy
    combo = max(
        a["C7.cohort.week4_fold_alectinib_erlotinib"].max(),
        a["C7.cohort.week4_fold_alectinib_osimertinib"].max(),
    )
    for arm in ("vehicle", "alectinib", "erlotinib", "osimertinib"):
        assert a[f"C7.cohort.week4_fold_{arm}"].min() > 10 * combo
    assert (a["C7.cohort.logrank_p_max"] > 0).all() and (a["C7.cohort.logrank_p_max"] <= 1).all()
    b = cohort_readouts(median_catalog, replicates=1, n_per_arm=4, seed=7)
    for name in COHORT_READOUTS:  # replicate 0 is the same mice whatever else is asked
        assert b[name][0] == a[name][0]
    assert a["C7.cohort.week4_fold_vehicle"][0] != a["C7.cohort.week4_fold_vehicle"][1]


def test_mice_that_never_reach_the_endpoint_leave_the_log_rank_unmet(median_catalog):
    """Survival is what the typical-mouse readouts cannot see: with an endpoint no mouse
    reaches, no arm outlives another and the largest p is 1."""
    cat = median_catalog.with_values({ENDPOINT: 1e13})
    r = cohort_readouts(cat, replicates=1, n_per_arm=3)
    assert r["C7.cohort.logrank_p_max"][0] == 1.0
    assert np.isfinite(r["C7.cohort.week4_fold_vehicle"][0])


def test_c2_cohort_reads_relapse_as_the_section(median_catalog):
    """At the posterior median the relapse experiment shows the study's picture (a deep fall,
    relapse, AREG-high relapsed tumours); relapse is read off weekly images, so its median is a
    whole number of weeks after the start of alectinib."""
    from leptotwin.model.tumor import TumorParameters

    a = cohort_readouts(median_catalog, replicates=2, n_per_arm=6, seed=3)
    assert (a["C2.cohort.nadir_fold"] > 10).all()
    assert (a["C2.cohort.relapse_areg_high_fraction"] > 0.8).all()
    days = a["C2.cohort.relapse_day"]
    assert np.isfinite(days).all() and (days > 14).all()
    start = TumorParameters.from_catalog(median_catalog, species="mouse").treatment_start_d
    weeks = (days + start) / 7.0  # images are taken every 7 days from inoculation
    assert np.allclose(weeks, np.round(weeks), atol=1e-6)


def test_c2_relapse_comes_later_the_rarer_the_switch(median_catalog):
    """Mechanism, not bookkeeping: the relapse is grown from cells that switched to the
    AREG-high state, so 30x rarer switching (same mice) delays it."""
    often = cohort_readouts(median_catalog.with_values({SWITCH: 3e-5}), replicates=1, seed=5)
    rare = cohort_readouts(median_catalog.with_values({SWITCH: 1e-6}), replicates=1, seed=5)
    assert rare["C2.cohort.relapse_day"][0] > often["C2.cohort.relapse_day"][0]
