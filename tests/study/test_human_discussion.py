"""The human-translation discussion of erlotinib vs osimertinib doses (issue 16, item 6)."""

from __future__ import annotations

import pytest

from leptotwin.catalog import load_catalog
from leptotwin.study.sections.human import dose_discussion, egfr_inhibition

REGIMENS = [("osimertinib", "80 mg QD"), ("osimertinib", "160 mg QD"), ("erlotinib", "150 mg QD")]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def discussion(catalog):
    return dose_discussion(REGIMENS, catalog)


def test_the_text_names_every_catalogue_value_it_cites_with_its_source(discussion, catalog):
    text, cited = discussion
    paths = [c.path for c in cited]
    for drug in ("erlotinib", "osimertinib"):
        assert f"{drug}.pk.human.fu" in paths and f"{drug}.pk.human.kp_uu_csf" in paths
        assert any(p.startswith(f"{drug}.potency[") for p in paths)
    assert "AZ5104.pk.human.fraction_formed" in paths
    for c in cited:
        q = catalog.quantity(c.path)
        assert c.value == q.value and c.unit == q.unit
        assert q.source.startswith(c.source)
        assert c.text() in text, c.path
        assert f"{c.value:.3g}" in text and c.source in text
        if q.prior is not None:
            assert f"prior {q.prior.low:.4g}–{q.prior.high:.4g}" in c.text()
        if q.assumption:
            assert "an assumption" in c.text()


def test_the_potency_cited_is_the_one_the_pathway_uses(discussion, catalog):
    _, cited = discussion
    for c in cited:
        if ".potency[" in c.path:
            drug = c.path.split(".", 1)[0]
            assert catalog.model_potency_nM(drug)["EGFR"] == pytest.approx(c.value)


def test_the_exposure_over_potency_is_computed_and_linear_in_dose(discussion, catalog):
    text, _ = discussion
    low = egfr_inhibition("osimertinib", "80 mg QD", catalog)
    high = egfr_inhibition("osimertinib", "160 mg QD", catalog)
    assert high == pytest.approx(2 * low, rel=1e-6)
    erl = egfr_inhibition("erlotinib", "150 mg QD", catalog)
    assert f"erlotinib 150 mg QD: Σ = {erl:.2g}" in text
    assert f"osimertinib 80 mg QD: Σ = {low:.2g}" in text
    assert "What would change the prediction" in text


def test_the_sensitivity_ranking_is_pointed_to_only_when_it_is_in_the_report(catalog):
    with_it, _ = dose_discussion(REGIMENS[-1:], catalog, sensitivity=True)
    without, _ = dose_discussion(REGIMENS[-1:], catalog, sensitivity=False)
    assert "sensitivity_morris.csv" in with_it and "sensitivity_morris.csv" not in without
