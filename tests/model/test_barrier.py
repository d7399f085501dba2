"""Blood–tumour barrier: the clearance derivation, its limits, where its numbers come from, and
that the PK model uses it for every small molecule, metabolite and species."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.barrier import (
    BarrierParams,
    efflux_ratio,
    kp_uu_brain,
    kp_uu_lesion,
    lesion_kp_uu,
)
from leptotwin.model.pk import Metabolite, draw_subjects, simulate_pk

CAT = load_catalog()
LEAK = "blood_tumour_barrier.parameters.leak_ratio"


def test_steady_state_is_clearance_in_over_clearance_out():
    """Kp,uu = CL_in / CL_out with a leak PS_leak (no efflux) beside a passive path PS with
    efflux ratio ER: (PS_leak + PS) / (PS_leak + ER · PS)."""
    rng = np.random.default_rng(1)
    for _ in range(50):
        ps, ps_leak, er = rng.lognormal(0, 1, 3)
        kp_brain = 1 / er
        assert kp_uu_lesion(kp_brain, ps_leak / ps) == pytest.approx(
            (ps_leak + ps) / (ps_leak + er * ps)
        )


def test_limits_and_monotonicity():
    kp = np.array([0.03, 0.27, 0.75, 1.0, 1.5])
    assert np.allclose(kp_uu_lesion(kp, 0.0), kp)  # intact: the blood-brain barrier
    assert np.allclose(kp_uu_lesion(kp, 1e12), 1.0)  # no barrier: unbound plasma
    assert np.allclose(kp_uu_lesion(kp, 1e12, kp_uu_open=0.8), 0.8)
    assert kp_uu_lesion(1.0, 3.0) == pytest.approx(1.0)  # no efflux: the leak changes nothing
    leaks = np.logspace(-3, 4, 30)
    k = kp_uu_lesion(0.27, leaks)
    assert np.all(np.diff(k) > 0) and np.all((0.27 < k) & (k < 1))
    # lesion / brain between 1 and ER
    ratio = k / 0.27
    assert np.all((ratio > 1) & (ratio < 1 / 0.27))
    with pytest.raises(LeptotwinError, match="out of range"):
        kp_uu_lesion(0.0, 1.0)
    with pytest.raises(LeptotwinError, match="out of range"):
        kp_uu_lesion(0.3, -1.0)


def test_efflux_ratios_come_from_sourced_brain_kp_uu():
    # mouse: brain_section (Elmeliegy 2011; Colclough 2021; Kodama 2014)
    for drug, kp in (("erlotinib", 0.27), ("osimertinib", 0.3), ("alectinib", 0.75)):
        assert kp_uu_brain(drug, "mouse", CAT) == CAT.in_vivo_value(
            "brain_section", f"kp_uu_brain_{drug}"
        )
        assert efflux_ratio(drug, "Mouse", CAT) == pytest.approx(1 / kp)
    # otherwise the drug's CNS Kp,uu of the PK catalogue in that species
    assert (
        kp_uu_brain("erlotinib", "human", CAT) == CAT.pk_parameters("erlotinib", "human").kp_uu_csf
    )
    assert kp_uu_brain("AZ5104", "mouse", CAT) == CAT.pk_parameters("AZ5104", "mouse").kp_uu_csf
    with pytest.raises(LeptotwinError, match="unknown species"):
        kp_uu_brain("erlotinib", "rat", CAT)


def test_every_pk_drug_and_species_gets_the_barrier():
    leak = CAT.in_vivo_value("blood_tumour_barrier", "leak_ratio")
    for name, drug in CAT.drugs.items():
        for species in drug.pk:
            params = CAT.pk_parameters(name, species)
            subj = draw_subjects(params, 3, iiv=False)
            got = lesion_kp_uu(name, species, CAT)
            np.testing.assert_allclose(subj.kp_uu_lesion, got)
            if drug.kind == "antibody":  # IgG: the catalogue's slow extravasation as it stands
                assert got == params.kp_uu_lesion
            else:
                er = efflux_ratio(name, species, CAT)
                assert got == pytest.approx(params.kp_uu_lesion * (leak + 1) / (leak + er))
    m = Metabolite(CAT.pk_parameters("AZ5104", "mouse"), 0.5, catalog=CAT)
    assert m.lesion_kp_uu == pytest.approx(lesion_kp_uu("AZ5104", "mouse", CAT))


def test_a_catalogue_with_other_values_flows_into_the_pk():
    """Ensemble draws and the calibration pass catalogues built by ``with_values``."""
    tight = CAT.with_values({LEAK: 0.01})
    res = simulate_pk(
        "erlotinib", "mouse", "50 mg/kg QD", t_h=[24.0 * 10], iiv=False, catalog=tight
    )
    assert res.subjects.kp_uu_lesion[0] == pytest.approx(
        kp_uu_lesion(CAT.in_vivo_value("brain_section", "kp_uu_brain_erlotinib"), 0.01)
    )
    tighter_brain = CAT.with_values({"brain_section.parameters.kp_uu_brain_erlotinib": 0.12})
    assert lesion_kp_uu("erlotinib", "mouse", tighter_brain) < lesion_kp_uu("erlotinib", "mouse")
    # a draw far along the prior of the no-barrier value scales the lesion Kp,uu with it
    cat = CAT.with_values({"erlotinib.pk.mouse.kp_uu_lesion": 0.8})
    assert lesion_kp_uu("erlotinib", "mouse", cat) == pytest.approx(
        0.8 * lesion_kp_uu("erlotinib", "mouse")
    )
    assert lesion_kp_uu("erlotinib", "mouse", leak_ratio=0.0) == pytest.approx(0.27)


def test_per_lesion_leaks():
    b = BarrierParams.from_catalog(CAT)
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(b.lesion_leak_ratios(z), b.leak_ratio * np.exp(b.leak_sd_log * z))


def test_barrier_numbers_do_not_come_from_the_study_imaging():
    """C8 must be a prediction: no value that sets lesion exposure cites Arai 2020 or its MSI."""
    paths = [
        LEAK,
        "blood_tumour_barrier.parameters.leak_sd_log",
        "brain_section.parameters.lesion_binding_scale",
        "brain_section.parameters.kp_uu_brain_erlotinib",
        "brain_section.parameters.kp_uu_brain_osimertinib",
        "erlotinib.pk.mouse.kp_uu_lesion",
        "osimertinib.pk.mouse.kp_uu_lesion",
    ]
    for path in paths:
        q = CAT.quantity(path)
        text = " ".join([q.source, q.note, q.prior.source if q.prior else ""]).lower()
        assert "arai" not in text and "msi" not in text, path
        assert q.prior is not None, path


def test_the_leak_follows_from_its_sources():
    """L = (K · ER − 1) / (1 − K) with lapatinib's brain-metastasis Kp,uu K = 0.1-0.2 (Taskar
    2012: 10-20 % of peripheral metastases) and ER ≈ 40 (Polli 2009: 40-fold brain/plasma in
    Mdr1a/b;Bcrp1 knockouts); the catalogue value lies in that range, and with equal binding the
    same L gives lapatinib's brain-metastasis / brain ratio within 2-fold of the measured 7-9."""
    er = 40.0
    lo, hi = ((k * er - 1) / (1 - k) for k in (0.1, 0.2))
    leak = CAT.in_vivo_value("blood_tumour_barrier", "leak_ratio")
    assert lo <= leak <= hi
    assert kp_uu_lesion(1 / er, lo) == pytest.approx(0.1) and kp_uu_lesion(1 / er, hi) == (
        pytest.approx(0.2)
    )
    ratio = kp_uu_lesion(1 / er, leak) * er
    assert 7 / 2 < ratio < 9 * 2
    q = CAT.quantity(LEAK)
    assert q.prior.low <= lo and hi <= q.prior.high
