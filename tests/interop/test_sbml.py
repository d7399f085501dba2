"""SBML export of one virtual mouse: libsbml's consistency checks, and libRoadRunner reproducing
leptotwin's deterministic trajectory for every arm of C7 (issue: Step 7, SBML export)."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop.sbml import check_sbml, export_sbml
from leptotwin.model.cohort import Arm
from leptotwin.model.pk import Metabolite, PKStream
from leptotwin.model.streams import simulate_lmc_subjects, subject_draws
from leptotwin.model.tumor import TumorParameters
from leptotwin.study.simulate_job import load_experiment

roadrunner = pytest.importorskip("roadrunner")

SEED = 2020


_C7 = load_experiment("lmc_mouse", "combination")  # the arms `simulate` and the report use
C7 = list(_C7.arms)
FOLLOW_UP = int(_C7.days)


def _roadrunner(sbml: str, selections: list[str], days: int) -> np.ndarray:
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    rr.integrator.maximum_num_steps = 100_000
    out = np.asarray(rr.simulate(0, days * 24.0, days + 1, selections=["time", *selections]))
    np.testing.assert_allclose(out[:, 0], np.arange(days + 1) * 24.0)
    return out[:, 1:]


@pytest.mark.parametrize("arm", C7, ids=[a.name for a in C7])
def test_roadrunner_reproduces_leptotwin_on_every_c7_arm(arm):
    """libRoadRunner 2.10 (CVODE, rtol 1e-10) on the export against leptotwin with the same
    subject (``simulate_lmc_subjects``, ``stochastic=False``, 1/16 h step; closed-form PK for the
    CSF), at every day of the 120-day C7 follow-up: |Δ ln N| ≤ 1e-3 on the burden while alive
    (a relative error ≤ 1e-3 on the burden, hence also on log burden wherever N ≥ e cells —
    in the combination arms the deterministic tumour falls below one cell, where a relative
    error of ln N is meaningless), and relative error ≤ 1e-3 on CSF AREG and on the CSF
    concentration of every drug and metabolite after the first dose.

    At the default 0.25 h step leptotwin's own step error (< 1 % of log burden, see
    tests/model/test_cohort.py) would dominate the comparison."""
    subject, days = 3, FOLLOW_UP
    exp = export_sbml(arm, subject=subject, seed=SEED, days=days, inoculum="A925L/AR")
    drugs = sorted(k.split(":", 1)[1] for k in exp.outputs if k.startswith("csf_nM:"))
    sel = [exp.outputs["log_burden"], exp.outputs["csf_areg_pg_mL"]]
    sel += [exp.outputs[f"csf_nM:{d}"] for d in drugs]
    rr = _roadrunner(exp.sbml, sel, days)

    ref = simulate_lmc_subjects(
        [arm],
        n_per_arm=subject + 1,
        start=subject,
        stop=subject + 1,
        seed=SEED,
        days=days,
        observe_days=np.arange(days + 1),
        inoculum="A925L/AR",
        stochastic=False,
        dt_h=1 / 16,
    )
    obs = ref.observations
    log_n = np.log(obs["total_cells"].to_numpy())
    alive = np.isfinite(log_n)
    assert alive.sum() >= 20
    assert np.max(np.abs(rr[alive, 0] - log_n[alive])) <= 1e-3
    areg = obs["csf_areg_pg_mL"].to_numpy()
    ok = alive & (areg > 0)
    assert np.max(np.abs(rr[ok, 1] / areg[ok] - 1.0)) <= 1e-3

    # CSF drug concentrations: leptotwin's closed form for the same subject and doses
    cat = load_catalog()
    draws = subject_draws(arm, subject=subject, seed=SEED, inoculum="A925L/AR")
    start_h = TumorParameters.from_catalog(cat).treatment_start_d * 24.0
    t = np.arange(days + 1) * 24.0
    after = t > start_h  # CSF is exactly 0 until the first dose
    parents = {
        met: (drug, frac) for drug in draws.pk for met, frac in cat.metabolites_of(drug, "mouse")
    }
    for j, name in enumerate(drugs):
        if name in draws.pk:
            stream = PKStream(draws.pk[name], draws.regimens[name], horizon_h=t[-1])
        else:
            parent, frac = parents[name]
            met = Metabolite(cat.pk_parameters(name, "mouse"), frac)
            stream = PKStream(
                draws.pk[parent], draws.regimens[parent], horizon_h=t[-1], metabolite=met
            )
        csf = np.array([stream.advance(tk)[1][0] for tk in t])
        assert np.all(csf[after] > 0)
        err = np.abs(np.log(rr[after, 2 + j]) - np.log(csf[after]))
        assert err.max() <= 1e-3, name


def test_export_passes_libsbml_checks_and_matches_the_cohort_subject(tmp_path):
    arm = Arm("alectinib + osimertinib", {"alectinib": "20 mg/kg QD", "osimertinib": "25 mg/kg QD"})
    exp = export_sbml(arm, subject=1, seed=SEED, days=30, inoculum="A925LPE3")
    assert check_sbml(exp.sbml) == []
    import libsbml

    doc = libsbml.readSBMLFromString(exp.sbml)
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    m = doc.getModel()
    # 23 daily doses per drug from day 7 to day 29 inclusive, plus the endpoint event
    assert m.getNumEvents() == 2 * 24 + 1
    assert set(exp.dose_times_h) == {"alectinib", "osimertinib", "AZ5104"}
    # the exported mouse is subject 1 of that arm in a cohort run with the same seed
    cohort = simulate_lmc_subjects(
        [arm],
        n_per_arm=4,
        seed=SEED,
        days=1,
        observe_days=[0],
        stochastic=False,
        inoculum="A925LPE3",
    )
    row = cohort.subjects.iloc[1]
    assert exp.parameters["engrafted_cells"] == row["engrafted_cells"]
    assert exp.parameters["rate_scale"] == row["rate_scale"]
    assert exp.parameters["founders_R"] == row["founders_R"]
    path = exp.write(tmp_path / "twin.xml")
    assert path.read_text(encoding="utf-8") == exp.sbml


def test_vehicle_endpoint_time_matches():
    """Untreated AR mice reach the endpoint; the export's endpoint event agrees with leptotwin's
    survival time (log-linear interpolation within its step) to 0.01 day."""
    arm = Arm("vehicle", {})
    exp = export_sbml(arm, subject=0, seed=SEED, days=60)
    rr = roadrunner.RoadRunner(exp.sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    rr.simulate(0, 60 * 24.0, 61)
    ref = simulate_lmc_subjects(
        [arm],
        n_per_arm=1,
        seed=SEED,
        days=60,
        observe_days=[0],
        stochastic=False,
        dt_h=0.125,
        inoculum="A925L/AR",
    )
    assert ref.survival["event"].iloc[0] == 1
    assert rr["t_endpoint_h"] / 24.0 == pytest.approx(ref.survival["time_days"].iloc[0], abs=0.01)


def test_bad_input():
    arm = Arm("alectinib", {"alectinib": "20 mg/kg QD"})
    with pytest.raises(LeptotwinError, match="subject"):
        export_sbml(arm, subject=-1, days=10)
    with pytest.raises(LeptotwinError, match="days must be positive"):
        export_sbml(arm, days=0)
    with pytest.raises(LeptotwinError, match="unknown drug|no .*PK|drug"):
        export_sbml(Arm("x", {"nodrug": "1 mg QD"}), days=10)
