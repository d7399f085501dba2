"""Tissue model: geometry, the barrier / binding arithmetic, and the counterfactuals."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model import simulate_pk
from leptotwin.model.tissue import TissueParams, make_section, tissue_concentrations


def test_section_geometry():
    s = make_section(np.random.default_rng(1))
    assert s.shape == (65, 90)  # 8 x 5.5 mm + 0.5 mm margins at 100 µm
    assert set(np.unique(s.lesions)) == set(range(7))
    assert (s.lesion <= s.tissue).all()
    assert 0.02 < s.lesion.sum() / s.tissue.sum() < 0.2
    with pytest.raises(LeptotwinError, match="pixel size too large"):
        make_section(np.random.default_rng(1), pixel_um=5000)


@pytest.mark.parametrize(
    ("drug", "regimen"),
    [("erlotinib", "50 mg/kg QD"), ("osimertinib", "25 mg/kg QD"), ("alectinib", "20 mg/kg QD")],
)
def test_concentrations_follow_the_stated_equations(drug, regimen):
    cat = load_catalog()
    s = make_section(np.random.default_rng(2))
    td = tissue_concentrations(drug, s, regimen=regimen)
    t = np.array([6 * 24 + 2.0])
    pk = simulate_pk(drug, "mouse", regimen, t_h=t, n_subjects=1, iiv=False)
    kp = cat.in_vivo_value("brain_section", f"kp_uu_brain_{drug}")
    fu_b = cat.in_vivo_value("brain_section", f"fu_brain_{drug}")
    brain_total = kp * pk.unbound_nM[0, -1] / fu_b
    lesion_total = pk.lesion_nM[0, -1] / fu_b  # lesion binding = brain binding
    np.testing.assert_allclose(td.total_nM[s.parenchyma], brain_total, rtol=1e-12)
    np.testing.assert_allclose(td.total_nM[s.lesion], lesion_total, rtol=1e-12)
    assert (td.total_nM[~s.tissue] == 0).all()
    assert td.summary["true_ratio"] == pytest.approx(lesion_total / brain_total)


def test_counterfactuals_remove_accumulation():
    s = make_section(np.random.default_rng(3))
    for drug, reg in [("erlotinib", "50 mg/kg QD"), ("osimertinib", "25 mg/kg QD")]:
        p = TissueParams.from_catalog(drug)
        base = tissue_concentrations(drug, s, regimen=reg).summary["true_ratio"]
        tight = tissue_concentrations(drug, s, regimen=reg, params=p.counterfactual(binding=True))
        unbound = tissue_concentrations(drug, s, regimen=reg, params=p.counterfactual(leaky=True))
        assert base > 2.5
        assert tight.summary["true_ratio"] == pytest.approx(1.0)
        assert unbound.summary["true_ratio"] < 0.2
    with pytest.raises(LeptotwinError, match="no brain Kp,uu"):
        TissueParams.from_catalog("gefitinib")


def test_metabolites():
    s = make_section(np.random.default_rng(4))
    td = tissue_concentrations("osimertinib", s, regimen="25 mg/kg QD")
    assert td.metabolite == "AZ5104"
    np.testing.assert_allclose(td.metabolite_nM, 0.3 * td.total_nM)
    assert tissue_concentrations("alectinib", s, regimen="20 mg/kg QD").metabolite is None
