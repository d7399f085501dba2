"""Covariates of the PK model: current smoking raises erlotinib clearance (CYP1A2 induction).

The catalogue's ``erlotinib.pk.human.covariates.smoking_CL`` (sourced: Hamilton 2006, Tarceva
SmPC) multiplies CL in smokers; drugs without the covariate are unchanged. Checked against the
published steady-state troughs of the pivotal NSCLC study (SmPC: 1.28 µg/mL in former or never
smokers, 0.65 µg/mL in current smokers at 150 mg QD)."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.model import simulate_pk
from leptotwin.model.pk import covariate_effect, draw_subjects, smoker_catalog

CAT = load_catalog()


def test_smoking_doubles_erlotinib_clearance_and_nothing_else():
    p = CAT.pk_parameters("erlotinib", "human")
    q = CAT.quantity("erlotinib.pk.human.covariates.smoking_CL")
    assert q.value == 2.0 and q.prior is not None and "16609030" in q.source
    assert (q.prior.low, q.prior.high) == (1.24, 2.8)
    non = draw_subjects(p, 50, rng=np.random.default_rng(3))
    smk = draw_subjects(p, 50, rng=np.random.default_rng(3), smoker=True)
    np.testing.assert_allclose(smk.CL / non.CL, 2.0)
    np.testing.assert_array_equal(smk.V1, non.V1)  # same patients apart from the covariate
    mixed = draw_subjects(p, 4, rng=np.random.default_rng(3), smoker=np.array([1, 0, 1, 0], bool))
    base = draw_subjects(p, 4, rng=np.random.default_rng(3))
    np.testing.assert_allclose(mixed.CL / base.CL, [2.0, 1.0, 2.0, 1.0])
    # no covariate given: no effect
    assert covariate_effect("osimertinib", "human", "smoking_CL", CAT) == 1.0
    osi = CAT.pk_parameters("osimertinib", "human")
    a = draw_subjects(osi, 3, rng=np.random.default_rng(1))
    b = draw_subjects(osi, 3, rng=np.random.default_rng(1), smoker=True)
    np.testing.assert_array_equal(a.CL, b.CL)


def test_smoker_catalog_changes_only_clearances_with_a_covariate():
    sc = smoker_catalog(CAT)
    assert sc.pk_parameters("erlotinib", "human").CL_L_h == pytest.approx(2 * 3.95)
    for drug in ("alectinib", "osimertinib", "gefitinib"):
        assert sc.pk_parameters(drug, "human") == CAT.pk_parameters(drug, "human")
    assert sc.pk_parameters("erlotinib", "mouse") == CAT.pk_parameters("erlotinib", "mouse")
    assert CAT.pk_parameters("erlotinib", "human").CL_L_h == 3.95  # the original is unchanged


def test_smokers_troughs_match_the_pivotal_study():
    """SmPC (BR.21 at 150 mg QD): steady-state trough 1.28 µg/mL in former/never smokers (n = 108),
    0.65 µg/mL in current smokers (n = 16). Not used to set any parameter: an out-of-sample check
    of CL/F, V/F, ka (Lu 2006) and the covariate (Hamilton 2006); within 1.5-fold each."""
    t = np.arange(0.0, 24.0 * 28 + 1e-9, 0.5)
    p = CAT.pk_parameters("erlotinib", "human")
    trough = {}
    for smoker in (False, True):
        subj = draw_subjects(p, 1, iiv=False, smoker=smoker)
        res = simulate_pk("erlotinib", "human", "150 mg QD", t_h=t, subjects=subj)
        trough[smoker] = res.to_ng_per_mL(res.plasma_nM[0, t >= t[-1] - 24]).min() / 1e3
    assert trough[False] == pytest.approx(1.28, rel=0.5)
    assert trough[True] == pytest.approx(0.65, rel=0.5)
    assert 1.5 < trough[False] / trough[True] < 3.5
