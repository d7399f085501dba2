"""The calibration's readouts: the noise-free equivalents of the sections' measurements.

Each readout is checked against the model code the sections use (without noise and variability),
the counterfactuals of CLAIMS.md break the readouts they should, and no prior draw makes a
readout raise.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration import readouts as R
from leptotwin.calibration.readouts import READOUTS, Readout, evaluate_readouts
from leptotwin.catalog import load_catalog
from leptotwin.catalog.posterior import draw_catalogs
from leptotwin.errors import LeptotwinError


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def values(cat):
    return evaluate_readouts(cat)


def culture_kw(cat):
    return dict(
        cells0=cat.assay_value("culture", "seeding_cells"),
        volume_mL=cat.assay_value("culture", "medium_volume") * 1e-3,
    )


# ------------------------------------------------------------------ registry and evaluation


def test_registry_is_well_formed():
    assert len(READOUTS) >= 40
    for name, r in READOUTS.items():
        assert isinstance(r, Readout) and r.name == name
        assert r.unit and r.description
        assert all(c.startswith("C") for c in r.claims)
        assert name.split(".")[0] in {"C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "PK"}
        if name.startswith("PK."):
            assert r.claims == ()
        else:
            assert name.split(".")[0] in r.claims


def test_every_readout_is_a_number_at_the_catalogue(values):
    assert set(values) == set(READOUTS)
    assert all(isinstance(v, float) for v in values.values())
    finite = {k for k, v in values.items() if math.isfinite(v)}
    # recombinant AREG makes parental cells fully resistant (the section's finding)
    assert set(values) - finite == {"C5.recombinant_areg_fold"}
    assert values["C5.recombinant_areg_fold"] == math.inf


def test_deterministic_subsets_and_no_sharing_across_catalogues(cat, values):
    names = ["C3.alectinib_fold", "C2.relapse_day", "PK.human.alectinib.600_mg_bid.cmax"]
    assert evaluate_readouts(cat, names) == {n: values[n] for n in names}
    other = cat.with_values({"pathway.egfr_weight": 5.5})
    shifted = evaluate_readouts(other, names)
    assert shifted["C3.alectinib_fold"] < values["C3.alectinib_fold"]
    assert evaluate_readouts(cat, names) == {n: values[n] for n in names}
    # a readout called on its own computes what it needs
    assert READOUTS["C3.alectinib_fold"].func(other) == shifted["C3.alectinib_fold"]


def test_unknown_readout_is_refused(cat):
    with pytest.raises(LeptotwinError, match="unknown readout"):
        evaluate_readouts(cat, ["C3.nope"])


def test_no_readout_raises_on_50_prior_draws():
    cats = draw_catalogs(50, rng=np.random.default_rng(13), source="prior")
    rows = [evaluate_readouts(c) for c in cats]
    table = pd.DataFrame(rows)
    assert table.shape == (50, len(READOUTS))
    assert all(isinstance(v, float) for row in rows for v in row.values())
    # the model produces most readouts for most draws (NaN only where a value does not exist:
    # the AREG-high fraction at relapse when there is no relapse; an IC50 fold when, at a prior
    # extreme, a curve never falls to 50 % — 7 of these 50 draws for the C3 folds)
    nan_share = table.drop(columns="C2.relapse_areg_high_fraction").isna().mean()
    assert (nan_share <= 0.2).all(), nan_share[nan_share > 0.2]
    assert (nan_share[[c for c in table if c.startswith(("PK.", "C8.", "C9."))]] == 0).all()
    no_relapse = ~np.isfinite(table["C2.relapse_day"]) | (table["C2.relapse_day"] == 0)
    assert table.loc[~no_relapse, "C2.relapse_areg_high_fraction"].notna().all()
    # and they move with the parameters (nothing is stuck at the catalogue's value)
    for name in (
        "C3.alectinib_fold",
        "C7.week4_fold_alectinib_osimertinib",
        "C9.p_alk_higher_egfr",
    ):
        finite = table[name][np.isfinite(table[name])]
        assert finite.nunique() > 30, name


# ------------------------------------------------------------------ in vitro


def test_ic50s_match_the_culture_model(cat, values):
    from leptotwin.model.culture import absolute_ic50
    from leptotwin.model.pathway import PathwayModel, cell_state

    pm = PathwayModel.from_catalog(cat)
    kw = culture_kw(cat)
    par = absolute_ic50(pm, cell_state("A925LPE3"), "alectinib", **kw)
    ar = absolute_ic50(pm, cell_state("A925L/AR"), "alectinib", **kw)
    erl = absolute_ic50(
        pm, cell_state("A925L/AR"), "alectinib", fixed_nM={"erlotinib": 1000.0}, **kw
    )
    assert values["C1.alectinib_ic50"] == pytest.approx(par, rel=2e-3)
    assert values["C3.alectinib_fold"] == pytest.approx(ar / par, rel=3e-3)
    assert values["C6.erlotinib_ic50_ratio"] == pytest.approx(erl / par, rel=3e-3)
    # the catalogue's EGFR weight was fitted to a 6-fold shift (scripts/calibrate_cells.py)
    assert values["C3.alectinib_fold"] == pytest.approx(6.0, rel=0.02)
    assert 5.0 <= values["C1.alectinib_ic50"] <= 100.0


def test_coarse_culture_step_agrees_with_the_sections(cat):
    from leptotwin.model.culture import grow_culture
    from leptotwin.model.pathway import PathwayModel, cell_state

    pm = PathwayModel.from_catalog(cat)
    doses = {"alectinib": np.logspace(-1, 4, 30)}
    kw = dict(cells0=np.full(30, 3000.0), volume_mL=0.1, hours=72.0)
    fine = grow_culture(pm, cell_state("A925L/AR"), doses, **kw).live_cells
    coarse = grow_culture(pm, cell_state("A925L/AR"), doses, dt_h=R.CULTURE_DT_H, **kw)
    assert np.max(np.abs(coarse.live_cells / fine - 1)) < 1e-5


def test_single_wells_and_molecular_ratios(cat, values):
    from leptotwin.assays.conditioned_medium import collect_conditioned_medium
    from leptotwin.model.pathway import PathwayModel, cell_state

    # C1 and C6: EGFR inhibitors alone barely touch either line (< 25 %)
    for name in ("C1.erlotinib_inhibition", "C6.erlotinib_inhibition", "C6.cetuximab_inhibition"):
        assert 0.0 <= values[name] < 0.25
    # conditioned medium: the assay's truth without seeding variation
    quiet = cat.with_values({"culture.parameters.seeding_cv": 1e-12})
    dishes = pd.DataFrame(
        {
            "sample_id": ["p", "r", "c", "m"],
            "cell_line": ["A925LPE3", "A925L/AR", "A925L/AR", "A925L/AR"],
            "perturbation": ["", "", "mimic control", "miR-449a mimic"],
        }
    )
    medium = collect_conditioned_medium(dishes, rng=np.random.default_rng(0), catalog=quiet)
    pg = medium.set_index("sample_id")["true_pg_mL"]
    hours_protocol = R._protocol("viability")["medium_elisa"]["hours"]
    assert hours_protocol == cat.assay_value("conditioned_medium", "collection_time")
    assert values["C4.areg_secretion_fold"] == pytest.approx(pg["r"] / pg["p"], rel=1e-4)
    assert values["C5.mimic_areg_fold"] == pytest.approx(pg["c"] / pg["m"], rel=1e-4)
    # qPCR and blot: the levels the virtual instruments are given
    pm = PathwayModel.from_catalog(cat)
    par, ar = cell_state("A925LPE3"), cell_state("A925L/AR")
    assert values["C4.mir449a_fold"] == pytest.approx(ar.mir449a / par.mir449a)
    assert values["C4.areg_mrna_fold"] == pytest.approx(
        pm.areg_secretion(ar) / pm.areg_secretion(par)
    )
    assert values["C4.pegfr_fold"] == pytest.approx(
        float(pm.signals(ar).egfr / pm.signals(par).egfr)
    )


def test_counterfactuals_break_the_in_vitro_readouts(cat):
    names = ["C3.alectinib_fold", "C3.lorlatinib_fold", "C6.erlotinib_ic50_ratio"]
    restored = cat.with_cell_line("A925L/AR", mir449a=1.0, reason="miR-449a restored")
    v = evaluate_readouts(restored, names)
    assert v["C3.alectinib_fold"] < 3.0 and v["C3.lorlatinib_fold"] < 3.0
    no_egfr = cat.with_cell_line("A925L/AR", egfr_total=0.0, reason="no EGFR")
    v = evaluate_readouts(no_egfr, names)
    assert v["C3.alectinib_fold"] < 1.5
    # EGFR inhibitors add nothing: the combination equals alectinib alone
    assert v["C6.erlotinib_ic50_ratio"] == pytest.approx(v["C3.alectinib_fold"], rel=1e-3)
    # parental cells given AR's AREG secretion behave as AR (C3 holds for them)
    areg_par = cat.with_cell_line("A925LPE3", mir449a=0.2, reason="AR's AREG secretion")
    ic50 = READOUTS["C1.alectinib_ic50"].func
    assert ic50(areg_par) / ic50(cat) == pytest.approx(6.0, rel=0.05)


# ------------------------------------------------------------------ virtual mice (C2, C7)


@pytest.fixture
def quiet_cohort(monkeypatch):
    """simulate_lmc for typical mice: no PK variability, median engraftment and growth scale,
    expected switching."""
    import leptotwin.model.cohort as cohort
    from leptotwin.model.pk import draw_subjects
    from leptotwin.model.tumor import TumorParameters

    monkeypatch.setattr(cohort, "draw_subjects", functools.partial(draw_subjects, iiv=False))
    tumor = TumorParameters.from_catalog(engraftment_sd=0.0, rate_scale_sd=0.0)
    return functools.partial(
        cohort.simulate_lmc,
        n_per_arm=1,
        rng=np.random.default_rng(0),
        stochastic=False,
        tumor=tumor,
    )


def _flux(cells):
    from leptotwin.assays.bli import BLISettings

    s = BLISettings.from_catalog()
    return cells * s.photons_per_cell * s.attenuation + s.background_p_s


def test_c7_matches_the_cohort_model_without_noise(cat, values, quiet_cohort):
    from leptotwin.model.cohort import Arm

    proto = R._protocol("lmc_mouse")
    reg, exp = proto["regimens"], proto["combination"]
    arms = [Arm(n, {d: reg[d] for d in exp["arms"][n]}) for n in R.C7_ARMS]
    t0 = cat.in_vivo_value("lmc_mouse", "treatment_start")
    days = np.arange(0.0, t0 + 28.0 + 1e-9, 1.0)
    res = quiet_cohort(arms, days=t0 + 28.0, observe_days=days, inoculum="A925L/AR")
    obs = res.observations
    run = R._simulate_mice(
        cat, [dict(a.regimens) for a in arms], inoculum="A925L/AR", days=t0 + 28.0
    )
    for a, arm in enumerate(arms):
        o = obs[(obs["arm"] == arm.name) & obs["alive"]].sort_values("day")
        mine = run.total[a, np.searchsorted(run.t_h, o["day"].to_numpy() * 24 - 1e-9)]
        assert np.max(np.abs(np.log(mine / o["total_cells"].to_numpy()))) < 1e-6, arm.name
        images = o[o["day"].isin(t0 + 7.0 * np.arange(5))]
        fold = _flux(images["total_cells"].iloc[-1]) / _flux(images["total_cells"].iloc[0])
        key = "C7.week4_fold_" + arm.name.replace(" + ", "_")
        assert values[key] == pytest.approx(fold, rel=1e-6), arm.name
    # the protocol's finding at the catalogue: combinations hold, monotherapies do not
    assert values["C7.week4_fold_alectinib_erlotinib"] <= 2.0
    for arm in ("vehicle", "alectinib", "erlotinib", "osimertinib"):
        assert values[f"C7.week4_fold_{arm}"] >= 10.0


def test_c2_matches_the_cohort_model_without_noise(cat, values, quiet_cohort):
    from leptotwin.model.cohort import Arm

    proto = R._protocol("lmc_mouse")
    days = float(proto["relapse"]["follow_up_days"])
    arm = Arm("alectinib", {"alectinib": proto["regimens"]["alectinib"]})
    grid = np.arange(0.0, days + 1e-9, 1.0)
    res = quiet_cohort([arm], days=days, observe_days=grid, inoculum="A925LPE3")
    o = res.observations.sort_values("day")
    o = o[o["alive"]]
    run = R._simulate_mice(cat, [dict(arm.regimens)], inoculum="A925LPE3", days=days)
    mine = run.total[0, np.searchsorted(run.t_h, o["day"].to_numpy() * 24 - 1e-9)]
    assert np.max(np.abs(np.log(mine / o["total_cells"].to_numpy()))) < 1e-6
    # the section's weekly imaging: relapse at the first image above the pre-treatment flux
    t0 = cat.in_vivo_value("lmc_mouse", "treatment_start")
    weekly = o[o["day"].isin(t0 + 7.0 * np.arange(40))].set_index("day")["total_cells"]
    after = weekly[weekly.index > t0]
    nadir_day = after.idxmin()
    back = after[(after.index > nadir_day) & (after > weekly[t0])]
    relapse_weekly = back.index[0] - t0
    assert relapse_weekly - 7.0 < values["C2.relapse_day"] <= relapse_weekly
    weekly_fold = _flux(weekly[t0]) / _flux(after.min())
    assert weekly_fold <= values["C2.nadir_fold"] <= 1.1 * weekly_fold
    # the study's course at the catalogue: a deep fall, relapse after months, AREG-high cells
    assert values["C2.nadir_fold"] >= 10.0
    assert 60.0 <= values["C2.relapse_day"] <= 140.0
    assert values["C2.relapse_areg_high_fraction"] >= 0.8


def test_mouse_runs_without_relapse_or_response(cat):
    # alectinib so potent that nothing relapses within the follow-up: relapse is inf
    potent = cat.with_values({"pathway.egfr_weight": 1.0})
    v = evaluate_readouts(potent, ["C2.relapse_day", "C2.relapse_areg_high_fraction"])
    assert v["C2.relapse_day"] == math.inf and math.isnan(v["C2.relapse_areg_high_fraction"])


# ------------------------------------------------------------------ C8, C9, PK


def test_c8_equals_the_tissue_model(cat, values):
    from leptotwin.model.tissue import make_section, tissue_concentrations

    section = make_section(np.random.default_rng(1), catalog=cat)
    regs = R._protocol("lmc_mouse")["regimens"]
    for drug in ("erlotinib", "osimertinib"):
        s = tissue_concentrations(drug, section, regimen=regs[drug], catalog=cat).summary
        assert values[f"C8.{drug}_lesion_brain"] == pytest.approx(
            s["lesion_total_nM"] / s["brain_total_nM"], rel=1e-9
        )


def test_c8_counterfactuals(cat):
    names = ["C8.erlotinib_lesion_brain", "C8.osimertinib_lesion_brain"]
    tight = evaluate_readouts(
        cat.with_values({"blood_tumour_barrier.parameters.leak_ratio": 1e-9}), names
    )
    unbound = evaluate_readouts(
        cat.with_values({"brain_section.parameters.lesion_binding_scale": 1e-9}), names
    )
    for name in names:
        assert tight[name] < 1.5 and unbound[name] < 1.0


def test_c9_matches_a_large_virtual_population(cat, values):
    from leptotwin.model.patients import simulate_csf_areg, study_groups

    n = 200_000
    groups = study_groups(
        cat,
        sizes=dict.fromkeys(
            ["ALK+ alectinib-refractory LMC", "EGFR-mutant TKI-resistant LMC", "no LMC"], n
        ),
    )
    pts = simulate_csf_areg(groups, rng=np.random.default_rng(3), catalog=cat)
    kit = lambda k: cat.assay_value("areg_elisa", k)  # noqa: E731
    lloq = kit("top_standard") / kit("dilution_step") ** (kit("n_standards") - 1) * 2
    g = {k: np.maximum(v.to_numpy(), lloq) for k, v in pts.groupby("group")["true_pg_mL"]}
    alk, egfr, none = (
        g["ALK+ alectinib-refractory LMC"],
        g["EGFR-mutant TKI-resistant LMC"],
        g["no LMC"],
    )
    assert values["C9.median_ratio_alk_egfr"] == pytest.approx(
        np.median(alk) / np.median(egfr), rel=0.03
    )
    assert values["C9.median_ratio_alk_none"] == pytest.approx(
        np.median(alk) / np.median(none), rel=0.03
    )
    sub = np.random.default_rng(4).choice(n, 20_000, replace=False)
    p = np.mean(alk[sub, None] > egfr[None, sub[:2000]]) + 0.5 * np.mean(
        alk[sub, None] == egfr[None, sub[:2000]]
    )
    assert values["C9.p_alk_higher_egfr"] == pytest.approx(p, abs=0.01)


def test_c9_without_areg_has_no_group_difference(cat):
    names = [n for n in READOUTS if n.startswith("C9.")]
    v = evaluate_readouts(cat.with_values({"pathway.areg_secretion_max": 1e-12}), names)
    assert v["C9.median_ratio_alk_egfr"] == pytest.approx(1.0)
    assert v["C9.median_ratio_alk_none"] == pytest.approx(1.0)
    assert v["C9.p_alk_higher_egfr"] == pytest.approx(0.5)
    restored = cat.with_values({"patients.parameters.alk_refractory_mir449a": 1.0})
    assert evaluate_readouts(restored, ["C9.median_ratio_alk_egfr"])[
        "C9.median_ratio_alk_egfr"
    ] == pytest.approx(1.0, rel=1e-9)


def test_pk_superposition_equals_the_pk_model(cat):
    from leptotwin.model.pk import simulate_pk

    t = np.sort(np.concatenate([np.linspace(0, 24 * 9, 97), [24.0, 48.0, 50.3]]))
    for drug, species, regimen in (
        ("erlotinib", "mouse", "50 mg/kg QD"),
        ("alectinib", "human", "600 mg BID"),
        ("osimertinib", "mouse", "25 mg/kg QD from day 3"),
    ):
        ref = simulate_pk(drug, species, regimen, t_h=t, iiv=False, catalog=cat)
        for out, arr in (("plasma", ref.plasma_nM), ("csf", ref.csf_nM), ("lesion", ref.lesion_nM)):
            mine = R._concentrations(cat, drug, species, regimen, t, out)
            np.testing.assert_allclose(mine, arr[0], rtol=1e-9, atol=1e-9 * arr.max())


def test_pk_matches_the_sections_published_checks(cat, values):
    from leptotwin.study.sections.pharmacokinetics import _check_value

    pairs = [
        ("alectinib", "human", "600 mg BID", "Cmax,ss", "PK.human.alectinib.600_mg_bid.cmax"),
        (
            "erlotinib",
            "mouse",
            "50 mg/kg QD",
            "unbound Cmin,ss",
            "PK.mouse.erlotinib.50_mgkg_qd.unbound_cmin",
        ),
        (
            "erlotinib",
            "human",
            "150 mg QD",
            "CSF / plasma",
            "PK.human.erlotinib.150_mg_qd.csf_plasma",
        ),
    ]
    for drug, species, regimen, what, name in pairs:
        assert values[name] == pytest.approx(_check_value(drug, species, regimen, what), rel=3e-3)
    assert values["PK.human.alectinib.half_life"] == pytest.approx(
        cat.pk_parameters("alectinib", "human").half_life_h
    )
