"""The tumour site of the cohort engine (issue 17): the leptomeningeal default unchanged, the
subcutaneous site's drug exposure, interstitial AREG, room and volume."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.cohort import Arm, simulate_lmc
from leptotwin.model.pathway import PathwayModel
from leptotwin.model.tumor import TumorParameters, default_clones

VEHICLE = Arm("vehicle", {})
ALECTINIB = Arm("alectinib", {"alectinib": "20 mg/kg QD"})


class _Typical:
    """Random effects at their means (normals at loc, Poisson at the expectation)."""

    def normal(self, loc=0.0, scale=1.0, size=None):
        return np.full(size if size is not None else (), loc, dtype=float)

    def poisson(self, lam):
        return np.asarray(lam, dtype=float)


def _run(arms, *, days=28.0, observe=(7, 14, 21, 28), **kw):
    return simulate_lmc(
        arms,
        n_per_arm=1,
        days=days,
        observe_days=list(observe),
        rng=_Typical(),
        stochastic=False,
        **kw,
    ).observations


def test_leptomeningeal_is_the_default_to_the_bit():
    kw = dict(n_per_arm=3, days=21, observe_days=[7, 14, 21])
    a = simulate_lmc([VEHICLE, ALECTINIB], rng=np.random.default_rng(5), **kw)
    b = simulate_lmc(
        [VEHICLE, ALECTINIB], rng=np.random.default_rng(5), site="leptomeningeal", **kw
    )
    pd.testing.assert_frame_equal(a.observations, b.observations, check_exact=True)
    assert "tumor_volume_mm3" not in a.observations
    assert TumorParameters.from_catalog() == TumorParameters.from_catalog(site="leptomeningeal")


def test_subcutaneous_parameters_come_from_the_sc_block():
    cat = load_catalog()
    tp = TumorParameters.from_catalog(cat, site="subcutaneous")
    rho = cat.in_vivo_value("sc_mouse", "cell_density")
    assert tp.site == "subcutaneous" and tp.cell_density_per_mm3 == rho
    assert tp.carrying_capacity == cat.in_vivo_value("sc_mouse", "carrying_capacity") * rho
    assert tp.endpoint_cells == cat.in_vivo_value("sc_mouse", "endpoint_volume") * rho
    assert tp.inoculum_cells == cat.in_vivo_value("sc_mouse", "inoculum_cells")
    # growth and treatment start shared with the leptomeningeal block
    lmc = TumorParameters.from_catalog(cat)
    assert tp.in_vivo_rate_scale == lmc.in_vivo_rate_scale
    assert tp.treatment_start_d == lmc.treatment_start_d


def test_volume_is_cells_over_density():
    obs = _run([VEHICLE], site="subcutaneous")
    rho = TumorParameters.from_catalog(site="subcutaneous").cell_density_per_mm3
    np.testing.assert_array_equal(obs["tumor_volume_mm3"], obs["total_cells"] / rho)
    assert "interstitial_areg_pg_mL" in obs and "csf_areg_pg_mL" not in obs


def test_drug_free_growth_approaches_the_room():
    tp = TumorParameters.from_catalog(site="subcutaneous")
    tp = replace(tp, endpoint_cells=np.inf)
    room = tp.carrying_capacity / tp.cell_density_per_mm3  # mm^3
    obs = _run([VEHICLE], days=120, observe=range(0, 121, 10), site="subcutaneous", tumor=tp)
    v = obs["tumor_volume_mm3"].to_numpy()
    assert np.all(np.diff(v) > 0) and v[-1] < room
    # a plateau below the room (births x (1 - N/K) = deaths) after 4 months, far above day 0
    assert v[-1] / v[-2] < 1.01 and v[-1] > 0.5 * room and v[0] < 0.05 * v[-1]


def test_alectinib_shrinks_a_parental_flank_tumour():
    obs = _run([VEHICLE, ALECTINIB], site="subcutaneous", inoculum="A925LPE3")
    v = obs.pivot(index="day", columns="arm", values="tumor_volume_mm3")
    assert v.loc[21, "alectinib"] < v.loc[7, "alectinib"]  # treatment starts on day 7
    assert v.loc[21, "vehicle"] > 3 * v.loc[7, "vehicle"]


def test_the_drug_is_unbound_plasma_times_kp_uu():
    """Kp,uu,tumour scales the drug the cells see: 0 is the vehicle's tumour, to the bit."""
    tp = TumorParameters.from_catalog(site="subcutaneous")
    uniform = dict(site="subcutaneous", refine_after_dose_h=0.0)  # the same grid for both
    none = _run([ALECTINIB], tumor=replace(tp, kp_uu_tumour=0.0), **uniform)
    veh = _run([Arm("alectinib", {})], tumor=tp, **uniform)
    np.testing.assert_array_equal(none["total_cells"], veh["total_cells"])
    low = _run([ALECTINIB], site="subcutaneous", tumor=replace(tp, kp_uu_tumour=0.2))
    full = _run([ALECTINIB], site="subcutaneous", tumor=tp)
    assert np.all(
        full["total_cells"].to_numpy()[1:] < low["total_cells"].to_numpy()[1:]
    )  # after day 7


def test_interstitial_areg_is_secretion_per_pool_volume_over_clearance_and_dilution():
    """A925L/AR only: at (quasi-)steady state L = s ρ 1e3 / (f (k + g)) whatever the tumour's
    size, g = d ln V / dt the tumour's growth rate (the pool grows with it and dilutes AREG)."""
    cat = load_catalog()
    tp = TumorParameters.from_catalog(cat, site="subcutaneous")
    pm = PathwayModel.from_catalog(cat)
    r_state = default_clones(cat)[1].state
    s1 = pm.secretion_nM_per_h(r_state, 1.0)  # nM/h per cell in 1 mL
    pool_per_cell = tp.interstitial_fraction / tp.cell_density_per_mm3 * 1e-3  # mL
    d = 2.0 / 24.0  # days either side: the growth rate by central difference
    days = (10.0, 20.0)
    observe = [day + e for day in days for e in (-d, 0.0, d)]
    # at the catalogue's clearance (1 /h) dilution is under 1 %, at the prior's low end
    # (0.1 /h) it is several %: leaving it out fails the second case by far
    for k, rtol in ((tp.areg_clearance_per_h, 1e-4), (0.1, 3e-3)):
        obs = _run(
            [VEHICLE],
            observe=observe,
            site="subcutaneous",
            inoculum="A925L/AR",
            tumor=replace(tp, areg_clearance_per_h=k),
        )
        n = obs["total_cells"].to_numpy().reshape(len(days), 3)
        g = np.log(n[:, 2] / n[:, 0]) / (2 * d * 24.0)  # 1/h
        assert np.all(g > 0.002)  # the vehicle's tumour grows
        want = pm.nM_to_pg_per_mL(s1 / pool_per_cell / (k + g))
        got = obs["interstitial_areg_pg_mL"].to_numpy().reshape(len(days), 3)[:, 1]
        np.testing.assert_allclose(got, want, rtol=rtol, err_msg=f"clearance {k} /h")
        undiluted = pm.nM_to_pg_per_mL(s1 / pool_per_cell / k)
        assert np.all(got < undiluted)
    assert got[0] / undiluted < 0.95  # k = 0.1 /h: day 10's dilution is > 5 %
    # the pool's volume: twice the interstitial fraction, half the concentration
    want = _run([VEHICLE], observe=(20,), site="subcutaneous", inoculum="A925L/AR")
    half = _run(
        [VEHICLE],
        observe=(20,),
        site="subcutaneous",
        inoculum="A925L/AR",
        tumor=replace(tp, interstitial_fraction=2 * tp.interstitial_fraction),
    )
    np.testing.assert_allclose(
        half["interstitial_areg_pg_mL"], want["interstitial_areg_pg_mL"] / 2, rtol=1e-3
    )


def test_subcutaneous_values_must_be_set():
    """The class defaults are placeholders: a subcutaneous tumour needs its own density,
    interstitial fraction and AREG clearance (finite, > 0), per subject too."""
    lmc = TumorParameters.from_catalog()
    with pytest.raises(LeptotwinError, match="areg_clearance_per_h") as err:
        replace(lmc, site="subcutaneous")
    assert err.value.field == "areg_clearance_per_h" and "> 0" in str(err.value)
    sc = TumorParameters.from_catalog(site="subcutaneous")
    for field in ("cell_density_per_mm3", "interstitial_fraction", "areg_clearance_per_h"):
        for bad in (0.0, -1.0, np.nan, np.inf, np.array([1.0, 0.0])):
            with pytest.raises(LeptotwinError, match=field) as err:
                replace(sc, **{field: bad})
            assert err.value.field == field
    # the leptomeningeal site does not read them
    assert replace(lmc, areg_clearance_per_h=0.0).site == "leptomeningeal"


def test_per_subject_values_equal_single_runs_at_both_sites():
    """Tumour values per subject (the batch of EngineLikelihood) give each subject the numbers
    of its own run."""
    for site in ("leptomeningeal", "subcutaneous"):
        base = TumorParameters.from_catalog(site=site)
        kps = np.array([0.5, 1.0, 1.7])
        dens = np.array([1.2e5, 2.0e5, 6.0e5])
        clear = np.array([0.3, 1.0, 3.0])
        per = replace(
            base,
            kp_uu_tumour=kps,
            cell_density_per_mm3=dens,
            areg_clearance_per_h=clear,
            carrying_capacity=base.carrying_capacity * np.array([0.5, 1.0, 2.0]),
        )
        batch = simulate_lmc(
            [ALECTINIB],
            n_per_arm=3,
            days=21,
            observe_days=[14, 21],
            rng=_Typical(),
            stochastic=False,
            site=site,
            tumor=per,
        ).observations
        for i in range(3):
            one = replace(
                base,
                kp_uu_tumour=float(kps[i]),
                cell_density_per_mm3=float(dens[i]),
                areg_clearance_per_h=float(clear[i]),
                carrying_capacity=float(per.carrying_capacity[i]),
            )
            alone = _run([ALECTINIB], days=21, observe=(14, 21), site=site, tumor=one)
            got = batch[batch["subject"] == i]
            cols = ["total_cells"] + (["tumor_volume_mm3"] if site == "subcutaneous" else [])
            for c in cols:
                np.testing.assert_allclose(got[c], alone[c], rtol=1e-12, err_msg=f"{site} {c}")


def test_site_errors():
    with pytest.raises(LeptotwinError, match="unknown tumour site"):
        _run([VEHICLE], site="intracranial")
    with pytest.raises(LeptotwinError, match="another site"):
        _run([VEHICLE], site="subcutaneous", tumor=TumorParameters.from_catalog())
    with pytest.raises(LeptotwinError, match="unknown tumour site"):
        TumorParameters.from_catalog(site="flank")
