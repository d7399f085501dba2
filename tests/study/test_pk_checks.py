"""Out-of-sample checks of the human PK model (issue 13, point 8): every row is a published
number with its source, the twin's value is computed the way the row says, and the flags follow
the stated rule (ratio outside 0.5-2)."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.study.sections.pk_checks import (
    CHECKS,
    FLAG_HIGH,
    FLAG_LOW,
    PKCheck,
    pk_checks_text,
    pk_out_of_sample,
)


@pytest.fixture(scope="module")
def table():
    return pk_out_of_sample()


def test_every_check_has_a_source_and_a_finite_ratio(table):
    assert len(table) == len(CHECKS)
    assert np.isfinite(table["twin"]).all() and (table["twin"] > 0).all()
    np.testing.assert_allclose(table["ratio"], table["twin"] / table["published"])
    assert table["source"].str.contains(r"PMID|doi|label|SmPC|FI |(?:19|20)\d\d", regex=True).all()
    assert (table["independence"].str.len() > 5).all()
    flag = (table["ratio"] > FLAG_HIGH) | (table["ratio"] < FLAG_LOW)
    assert (table["flag"] == flag).all()


def test_every_drug_with_human_pk_is_checked():
    """Each drug of the catalogue with human PK has at least one published number; a metabolite
    counts through a check that names it (the osimertinib/AZ5104 exposure ratio)."""
    cat = load_catalog()
    human = {name for name, d in cat.drugs.items() if "human" in d.pk}
    assert {"ceritinib", "cetuximab", "lorlatinib"} <= human  # the list is the catalogue's
    checked = {c.drug for c in CHECKS} | {c.metabolite for c in CHECKS if c.metabolite}
    assert human <= checked, sorted(human - checked)
    # and each parent drug has at least one check of its own, not only through a metabolite
    parents = {n for n in human if cat.drugs[n].pk["human"].formed_from is None}
    assert parents <= {c.drug for c in CHECKS}


def test_the_drugs_the_human_predictions_use_are_within_2_fold_in_plasma(table):
    """Erlotinib and osimertinib plasma exposure (the human section's EGFR TKIs) and alectinib
    (its background) agree with the out-of-sample numbers within 2-fold."""
    plasma = table[
        table["drug"].isin(["erlotinib", "osimertinib", "alectinib"])
        & ~table["quantity"].isin(["csf_avg_ss", "tmax_sd"])
    ]
    assert not plasma["flag"].any(), plasma[["drug", "quantity", "ratio"]]
    erl = table[(table["drug"] == "erlotinib") & (table["quantity"] == "cmin_ss")]
    non, smk = erl.set_index("population")["twin"].loc[["", "smokers"]]
    assert 1.5 < non / smk < 3.5  # smokers' trough about half (SmPC: 1.28 vs 0.65 ug/mL)


def test_twin_values_by_hand():
    cat = load_catalog()
    # AZ5104 / osimertinib molar exposure at steady state = fm x CL_parent / CL_metabolite
    (metab,) = [c for c in CHECKS if c.quantity == "metabolite_ratio"]
    ratio = pk_out_of_sample(checks=(metab,))["twin"].iloc[0]
    p, m = cat.pk_parameters("osimertinib", "human"), cat.pk_parameters("AZ5104", "human")
    assert ratio == pytest.approx(0.25 * p.CL_L_h / m.CL_L_h)
    # steady-state average of a one-compartment drug = F x dose / (CL x tau)
    check = PKCheck("erlotinib", "150 mg QD", "cavg_ss", 1.0, "ng/mL", "test", "test")
    cavg = pk_out_of_sample(checks=(check,))["twin"].iloc[0]
    e = cat.pk_parameters("erlotinib", "human")
    assert cavg == pytest.approx(150.0 / (e.CL_L_h * 24.0) * 1e3, rel=1e-3)


def test_text_names_every_flag(table):
    text = pk_checks_text(table)
    assert f"{len(table)} published numbers" in text
    assert text.count("Flagged:") == int(table["flag"].sum())


def _one(check: PKCheck) -> float:
    return float(pk_out_of_sample(checks=(check,))["twin"].iloc[0])


def test_new_quantity_kinds_against_closed_forms():
    """thalf_sd, conc_ss, tmax_ss and auc_ratio_ss on the one-compartment erlotinib model, whose
    profiles have closed forms (first-order absorption, linear elimination)."""
    cat = load_catalog()
    e = cat.pk_parameters("erlotinib", "human")
    ka, F = e.routes["oral"]
    k = e.CL_L_h / e.V1_L
    tau, dose_ug = 24.0, 150.0e3
    # terminal half-life after one dose: ln 2 / k once absorption is over (fit 48-96 h)
    thalf = _one(PKCheck("erlotinib", "150 mg once", "thalf_sd", 1.0, "h", "t", "t", t_h=96.0))
    assert thalf == pytest.approx(np.log(2) / k, rel=1e-3)
    assert thalf == pytest.approx(e.half_life_h, rel=1e-3)

    # steady-state concentration t hours after a dose (superposition of infinitely many doses)
    def c_ss(t: float) -> float:
        amp = F * dose_ug * ka / (e.V1_L * (ka - k))
        return amp * (
            np.exp(-k * t) / (1 - np.exp(-k * tau)) - np.exp(-ka * t) / (1 - np.exp(-ka * tau))
        )

    for t in (2.0, 5.0, 20.0):
        got = _one(PKCheck("erlotinib", "150 mg QD", "conc_ss", 1.0, "ng/mL", "t", "t", t_h=t))
        assert got == pytest.approx(c_ss(t), rel=2e-3)  # day 28 is 99.9 % of steady state
    # steady-state Tmax: d/dt of the sum above vanishes
    t_max = np.log(ka * (1 - np.exp(-k * tau)) / (k * (1 - np.exp(-ka * tau)))) / (ka - k)
    got = _one(PKCheck("erlotinib", "150 mg QD", "tmax_ss", 1.0, "h", "t", "t"))
    assert abs(got - t_max) <= 0.25  # the steady-state grid is 0.25 h
    # linear PK: the steady-state exposure ratio of two doses is the dose ratio, whatever the
    # schedule (QD vs BID of the same daily dose gives 1)
    ratio = _one(
        PKCheck("ceritinib", "450 mg QD", "auc_ratio_ss", 1.0, "1", "t", "t", reference="750 mg QD")
    )
    assert ratio == pytest.approx(450.0 / 750.0, rel=1e-4)
    same = _one(
        PKCheck("erlotinib", "75 mg BID", "auc_ratio_ss", 1.0, "1", "t", "t", reference="150 mg QD")
    )
    assert same == pytest.approx(1.0, rel=1e-3)
    # the table names both regimens of a ratio
    row = pk_out_of_sample(
        checks=(
            PKCheck(
                "ceritinib", "450 mg QD", "auc_ratio_ss", 1.0, "1", "t", "t", reference="750 mg QD"
            ),
        )
    )
    assert row["regimen"].iloc[0] == "450 mg QD vs 750 mg QD"


def test_steady_state_interval_must_divide_the_horizon():
    with pytest.raises(ValueError, match="interval"):
        _one(PKCheck("erlotinib", "150 mg q5d", "cmin_ss", 1.0, "ng/mL", "t", "t"))
