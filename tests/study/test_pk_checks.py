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
    # every human drug of the model is checked at least once
    drugs = {"alectinib", "crizotinib", "lorlatinib", "erlotinib", "gefitinib", "osimertinib"}
    assert drugs <= set(table["drug"])


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
    ratio = pk_out_of_sample(checks=(CHECKS[14],))["twin"].iloc[0]
    assert CHECKS[14].quantity == "metabolite_ratio"
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
