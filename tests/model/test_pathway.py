"""Pathway model: the mechanism's pieces, and counterfactuals that must remove resistance."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.culture import absolute_ic50, grow_culture
from leptotwin.model.pathway import PathwayModel, cell_state

CAT = load_catalog()
MODEL = PathwayModel.from_catalog(CAT)
CULTURE = dict(
    cells0=CAT.assay_value("culture", "seeding_cells"),
    volume_mL=CAT.assay_value("culture", "medium_volume") * 1e-3,
)


def ic50(state, drug="alectinib", model=MODEL, **kw):
    return absolute_ic50(model, state, drug, **CULTURE, **kw)


def test_alk_inhibition_is_competitive_occupancy():
    k = MODEL.alk_k_nM["alectinib"]
    sig = MODEL.signals(cell_state("A925LPE3"), {"alectinib": np.array([0.0, k, 9 * k])})
    np.testing.assert_allclose(sig.alk, [1.0, 0.5, 0.1])


def test_mir449a_loss_raises_areg_secretion():
    p = MODEL.areg_secretion(cell_state("A925LPE3"))
    ar = MODEL.areg_secretion(cell_state("A925L/AR"))
    assert ar / p == pytest.approx((1 + 1 / 0.05) / (1 + 0.2 / 0.05))  # 4.2x from m 1 -> 0.2


def test_egfr_activity_higher_in_ar_and_blocked_by_inhibitors():
    p = MODEL.signals(cell_state("A925LPE3")).egfr
    ar = MODEL.signals(cell_state("A925L/AR"))
    assert ar.egfr / p > 3.0
    erl = MODEL.signals(cell_state("A925L/AR"), {"erlotinib": 1000.0}).egfr
    cetux = MODEL.signals(cell_state("A925L/AR"), {"cetuximab": 66.0})
    assert erl < 0.05 * ar.egfr
    assert cetux.egfr_occupancy < 0.01 * ar.egfr_occupancy


def test_growth_rates_shape_and_bounds():
    s = np.linspace(0, 3, 31)
    b, d = MODEL.rates(s)
    assert b.shape == d.shape == (31,)
    assert np.all(np.diff(b) >= 0) and np.all(np.diff(d) <= 0)
    assert b[0] == 0 and d[0] == pytest.approx(MODEL.death_max)


def test_unknown_drug_and_negative_concentration():
    with pytest.raises(LeptotwinError, match="no pathway potency.*aspirin"):
        MODEL.signals(cell_state("A925LPE3"), {"aspirin": 1.0})
    with pytest.raises(LeptotwinError, match="concentration must be >= 0"):
        MODEL.signals(cell_state("A925LPE3"), {"alectinib": -1.0})


def test_culture_step_convergence():
    """RK4 at 0.25 h against 0.0625 h: 72 h live cells agree to 1e-6 relative."""
    state = cell_state("A925L/AR")
    conc = {"alectinib": np.array([0.0, 30.0, 300.0])}
    a = grow_culture(MODEL, state, conc, hours=72.0, dt_h=0.25, **CULTURE)
    b = grow_culture(MODEL, state, conc, hours=72.0, dt_h=0.0625, **CULTURE)
    np.testing.assert_allclose(a.live_cells, b.live_cells, rtol=1e-6)
    np.testing.assert_allclose(a.medium_areg_nM, b.medium_areg_nM, rtol=1e-6)


class TestMechanismModelLevel:
    """Noise-free versions of the claims' mechanism (the claims themselves run through the
    virtual assay and the analysis, in tests/study)."""

    def test_ar_moderately_resistant_to_all_alk_tkis(self):
        for drug in ("alectinib", "crizotinib", "ceritinib", "lorlatinib"):
            fold = ic50(cell_state("A925L/AR"), drug) / ic50(cell_state("A925LPE3"), drug)
            assert 3.0 < fold < 30.0, drug

    def test_counterfactual_mir449a_restored_removes_resistance(self):
        restored = cell_state("A925L/AR").with_levels(mir449a=1.0)
        fold = ic50(restored) / ic50(cell_state("A925LPE3"))
        assert fold == pytest.approx(1.0, rel=1e-6)

    def test_counterfactual_parental_with_ar_areg_secretion_is_resistant(self):
        parental = cell_state("A925LPE3")
        ar_secretion = MODEL.areg_secretion(cell_state("A925L/AR"))
        scaled = parental.with_levels(areg_scale=ar_secretion / MODEL.areg_secretion(parental))
        assert ic50(scaled) / ic50(parental) > 3.0

    def test_counterfactual_no_egfr(self):
        """Without EGFR, AR cells are not resistant and erlotinib adds nothing to alectinib."""
        no_egfr = cell_state("A925L/AR").with_levels(egfr_total=0.0)
        no_egfr_parental = cell_state("A925LPE3").with_levels(egfr_total=0.0)
        assert ic50(no_egfr) / ic50(cell_state("A925LPE3")) < 1.5
        alone = ic50(no_egfr)
        combo = ic50(no_egfr, fixed_nM={"erlotinib": 1000.0})
        assert combo == pytest.approx(alone, rel=1e-9)
        assert ic50(no_egfr) == pytest.approx(ic50(no_egfr_parental), rel=1e-9)

    def test_removing_areg_removes_resistance(self):
        no_areg = cell_state("A925L/AR").with_levels(areg_scale=0.0)
        assert ic50(no_areg) / ic50(cell_state("A925LPE3")) < 1.0


def test_state_rates_equal_signals_to_the_bit():
    """The in-vivo hot path (several states at once) gives :meth:`signals`' rates exactly, for
    every drug class, with and without bulk AREG, and checks drugs as :meth:`signals` does."""
    rng = np.random.default_rng(7)
    states = [
        cell_state("A925LPE3", catalog=CAT),
        cell_state("A925L/AR", catalog=CAT),
        cell_state("A925L/AR", ["siAREG"], catalog=CAT),
    ]
    conc = {
        "alectinib": rng.uniform(0, 500, 9),
        "osimertinib": rng.uniform(0, 900, 9),
        "erlotinib": rng.uniform(0, 2000, 9),
        "cetuximab": rng.uniform(0, 80, 9),
    }
    for bulk in (np.zeros(9), rng.uniform(0, 2, 9)):
        for drugs in ((), ("alectinib",), tuple(conc)):
            sub = {d: conc[d] for d in drugs}
            birth, death = MODEL.state_rates(MODEL.state_columns(states), sub, areg_bulk_nM=bulk)
            assert birth.shape == death.shape == (3, 9)
            for k, s in enumerate(states):
                sig = MODEL.signals(s, sub, areg_bulk_nM=bulk)
                np.testing.assert_array_equal(birth[k], np.broadcast_to(sig.birth_per_h, 9))
                np.testing.assert_array_equal(death[k], np.broadcast_to(sig.death_per_h, 9))
    columns = MODEL.state_columns(states)
    with pytest.raises(LeptotwinError, match="no pathway potency"):
        MODEL.state_rates(columns, {"aspirin": np.ones(9)}, areg_bulk_nM=np.zeros(9))
    with pytest.raises(LeptotwinError, match=">= 0"):
        MODEL.state_rates(columns, {"alectinib": -np.ones(9)}, areg_bulk_nM=np.zeros(9))


def test_rates_given_ligand_equal_signals_to_the_bit():
    """The culture's hot path (drugs' part once, then any bulk AREG) gives :meth:`signals`'
    rates exactly, for a well-stacked state."""
    state = cell_state("A925L/AR", catalog=CAT)
    conc = MODEL.free_in_medium({"alectinib": np.array([0.0, 30.0, 300.0]), "erlotinib": 100.0})
    rates = MODEL.rates_given_ligand(state, conc)
    for bulk in (0.0, np.array([0.0, 0.5, 3.0])):
        birth, death = rates(bulk)
        sig = MODEL.signals(state, conc, areg_bulk_nM=bulk)
        np.testing.assert_array_equal(birth, sig.birth_per_h)
        np.testing.assert_array_equal(death, sig.death_per_h)
