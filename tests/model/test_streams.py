"""Per-subject counter-based streams: a subject's draws depend only on (seed, arm, index), and a
cohort cut into chunks is bit-identical to one run (issue: Step 7, Dask)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.model.cohort import Arm
from leptotwin.model.streams import (
    SubjectStreams,
    chunk_bounds,
    concat_cohorts,
    simulate_lmc_subjects,
    subject_draws,
)

ALEC, ERL, OSI = "20 mg/kg QD", "50 mg/kg QD", "25 mg/kg QD"
ARMS = [
    Arm("vehicle", {}),
    Arm("alectinib", {"alectinib": ALEC}),
    Arm("alectinib + osimertinib", {"alectinib": ALEC, "osimertinib": OSI}),
]


def _frames_equal(a, b):
    pd.testing.assert_frame_equal(a.observations, b.observations, check_exact=True)
    pd.testing.assert_frame_equal(a.survival, b.survival, check_exact=True)
    pd.testing.assert_frame_equal(a.subjects, b.subjects, check_exact=True)


def test_a_subjects_draws_do_not_depend_on_the_others():
    many = SubjectStreams(11, "arm", np.arange(50))
    one = SubjectStreams(11, "arm", [37])
    for _ in range(3):
        np.testing.assert_array_equal(many.normal(0.0, 1.0, 50)[37:38], one.normal(0.0, 1.0, 1))
        lam_many, lam_one = np.full(50, 4.0), np.full(1, 4.0)
        np.testing.assert_array_equal(many.poisson(lam_many)[37:38], one.poisson(lam_one))
    # another key or seed gives another stream
    assert (
        SubjectStreams(11, "other", [37]).random()[0] != SubjectStreams(11, "arm", [37]).random()[0]
    )
    assert (
        SubjectStreams(12, "arm", [37]).random()[0] != SubjectStreams(11, "arm", [37]).random()[0]
    )


@pytest.mark.parametrize("lam", [0.0, 0.3, 4.0, 29.0, 31.0, 400.0])
def test_distributions(lam):
    """Means and variances within 5 standard errors (200,000 subjects, fixed seed)."""
    n = 200_000
    s = SubjectStreams(3, "dist", np.arange(n))
    x = s.normal(2.0, 3.0, n)
    assert abs(x.mean() - 2.0) < 5 * 3.0 / np.sqrt(n)
    assert abs(x.std() / 3.0 - 1.0) < 0.01
    u = s.random(n)
    assert 0.0 < u.min() and u.max() < 1.0
    k = s.poisson(np.full(n, lam))
    assert np.all(k == np.round(k)) and np.all(k >= 0)
    if lam == 0:
        assert not k.any()
    else:
        assert abs(k.mean() - lam) < 5 * np.sqrt(lam / n)
        assert abs(k.var() / lam - 1.0) < 0.03


@pytest.mark.parametrize("chunk", [1, 4, 13])
def test_chunked_cohort_is_bit_identical(chunk):
    """Parental inocula (Poisson founders and switching every step), PK with a metabolite:
    any chunking equals the whole run, bit for bit."""
    kw = dict(n_per_arm=5, days=30, observe_days=[0, 7, 14, 21, 28], seed=7, dt_h=1.0)
    whole = simulate_lmc_subjects(ARMS, **kw)
    parts = [simulate_lmc_subjects(ARMS, start=a, stop=b, **kw) for a, b in chunk_bounds(15, chunk)]
    _frames_equal(whole, concat_cohorts(parts[::-1]))
    assert whole.subjects["founders_R"].gt(0).all()


def test_subject_is_the_same_mouse_whatever_the_cohort():
    """Subject j of an arm does not change with the number of subjects or the other arms."""
    kw = dict(days=10, observe_days=[0, 7], seed=5, dt_h=1.0)
    small = simulate_lmc_subjects(ARMS[1:2], n_per_arm=3, **kw)
    big = simulate_lmc_subjects(ARMS[::-1], n_per_arm=6, **kw)
    rows = big.subjects[big.subjects["arm"] == "alectinib"].iloc[:3].reset_index(drop=True)
    cols = ["engrafted_cells", "rate_scale", "founders_R"]
    pd.testing.assert_frame_equal(small.subjects[cols], rows[cols], check_exact=True)
    draws = subject_draws(ARMS[1], subject=2, seed=5, inoculum="A925LPE3")
    assert draws.engrafted_cells == small.subjects["engrafted_cells"].iloc[2]
    assert draws.rate_scale == small.subjects["rate_scale"].iloc[2]


def test_bad_input():
    with pytest.raises(LeptotwinError, match="seed"):
        SubjectStreams(-1, "a", [0])
    with pytest.raises(LeptotwinError, match="subject indices"):
        SubjectStreams(0, "a", [-2])
    with pytest.raises(LeptotwinError, match="one value per subject"):
        SubjectStreams(0, "a", [0, 1]).normal(0.0, 1.0, 3)
    with pytest.raises(LeptotwinError, match="Poisson mean"):
        SubjectStreams(0, "a", [0]).poisson(np.array([np.nan]))
    kw = dict(n_per_arm=2, days=5, observe_days=[0], seed=0)
    with pytest.raises(LeptotwinError, match="replace the generator"):
        simulate_lmc_subjects(ARMS, rng=np.random.default_rng(0), **kw)
    with pytest.raises(LeptotwinError, match="outside the cohort"):
        simulate_lmc_subjects(ARMS, start=4, stop=9, **kw)
    with pytest.raises(LeptotwinError, match="unique"):
        simulate_lmc_subjects([ARMS[0], ARMS[0]], **kw)
    with pytest.raises(LeptotwinError, match="chunk size"):
        chunk_bounds(10, 0)
    part = simulate_lmc_subjects(ARMS, start=0, stop=2, **kw)
    with pytest.raises(LeptotwinError, match="more than one piece"):
        concat_cohorts([part, part])
    with pytest.raises(LeptotwinError, match="subject must be"):
        subject_draws(ARMS[0], subject=-1, seed=0)
    with pytest.raises(LeptotwinError, match="unknown inoculum"):
        subject_draws(ARMS[0], subject=0, seed=0, inoculum="A925L")
