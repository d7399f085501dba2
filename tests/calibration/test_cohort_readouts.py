"""C7 read off cohorts of virtual mice (calibration/cohort_readouts.py)."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.calibration.cohort_readouts import COHORT_READOUTS, cohort_readouts
from leptotwin.catalog.posterior import posterior_median_catalog

ENDPOINT = "lmc_mouse.parameters.endpoint_cells"


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
