"""Human translation with uncertainty (issue 13, point 8): the outer loop over parameter sets and
the inner loop over virtual patients, the credible-interval summary, the dose bracket, smokers,
and the coarse growth step the protocol uses. Small cohorts and short follow-up keep the module
at about half a minute."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis.survival import median_survival
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.cohort import Arm
from leptotwin.study.schedule_sweep import (
    NO_TKI,
    NON_SMOKERS,
    SMOKERS,
    SweepSpec,
    UncertaintySpec,
    control_at,
    dose_bracket,
    km_median,
    load_protocol,
    progression,
    simulate_patients,
    summarise_uncertainty,
    uncertainty_sweep,
)

CAT = load_catalog()
AR = "A925L/AR"


def test_protocol_block_is_read_and_checked():
    proto = load_protocol()
    spec = UncertaintySpec.from_protocol(proto)
    erl = sorted(float(r.regimen.split()[0]) for r in spec.regimens if r.drug == "erlotinib")
    assert erl[0] < 25.0 <= erl[1] or erl[0] < erl[1] < 25.0  # below the lowest tablet
    assert spec.smokers and set(spec.smokers) <= {r.label for r in spec.regimens}
    assert all(len(r.source) > 10 for r in spec.regimens)
    bad = {**proto, "uncertainty": {**proto["uncertainty"], "smokers": ["aspirin 81 mg QD"]}}
    with pytest.raises(LeptotwinError, match="smokers"):
        UncertaintySpec.from_protocol(bad)
    bad = {**proto, "uncertainty": {**proto["uncertainty"], "control_threshold": 0.0}}
    with pytest.raises(LeptotwinError, match="fraction"):
        UncertaintySpec.from_protocol(bad)
    bad = {**proto, "uncertainty": {**proto["uncertainty"], "follow_up_days": 30}}
    with pytest.raises(LeptotwinError, match="follow-up"):
        UncertaintySpec.from_protocol(bad)
    with pytest.raises(LeptotwinError, match="uncertainty"):
        UncertaintySpec.from_protocol({k: v for k, v in proto.items() if k != "uncertainty"})


@pytest.mark.parametrize("step_h", [6.0, 12.0])
def test_coarse_step_gives_the_same_control_as_one_hour(step_h):
    """Human half-lives are 1-2 days: the protocol's 6 h (cohorts) and 12 h (uncertainty loop)
    steps reproduce the 1 h step's week-12 control to a few patients in a hundred and its median
    progression-free time to one observation, with the same random patients."""
    arms = [
        Arm("alectinib alone", {"alectinib": "600 mg BID"}),
        Arm("+ erlotinib 10 mg", {"alectinib": "600 mg BID", "erlotinib": "10 mg QD"}),
        Arm("+ osimertinib 240 mg", {"alectinib": "600 mg BID", "osimertinib": "240 mg QD"}),
    ]
    days = np.arange(0.0, 99.0, 14.0)
    days = np.union1d(days, [84.0])
    out = {}
    for dt in (1.0, step_h):
        cohort = simulate_patients(
            arms,
            n_per_arm=60,
            follow_up_days=98.0,
            observe_days=days,
            rng=np.random.default_rng(11),
            dt_h=dt,
        )
        prog = progression(cohort.observations, 2.0)
        out[dt] = (
            control_at(cohort.observations).set_index("arm")["fraction_controlled_wk12"],
            prog.groupby("arm")["event"].mean(),
            prog.groupby("arm")["time_days"].median(),
        )
    (c1, p1, t1), (c2, p2, t2) = out[1.0], out[step_h]
    assert (c1 - c2).abs().max() <= 0.05  # week-12 control
    assert (p1 - p2).abs().max() <= 0.05  # progressed by the end of follow-up
    assert (t1 - t2).abs().max() <= 14.0  # median time to progression or censoring
    assert 0.3 < c1["+ erlotinib 10 mg"] < 1.0  # a dose near the threshold, where errors show


def test_km_median_matches_lifelines():
    rng = np.random.default_rng(4)
    for _ in range(20):
        n = int(rng.integers(3, 40))
        t = rng.choice(np.arange(14.0, 200.0, 14.0), n)
        e = rng.random(n) < 0.7
        frame = pd.DataFrame({"mouse": np.arange(n), "arm": "a", "time_days": t, "event": e})
        ref = median_survival(frame)["median_days"].iloc[0]
        got = km_median(t, e)
        assert (got == ref) or (np.isinf(got) and np.isinf(ref))
    assert km_median(np.array([10.0, 20.0]), np.array([False, False])) == np.inf


def _small_spec() -> tuple[SweepSpec, UncertaintySpec]:
    sweep = SweepSpec.from_protocol()
    spec = UncertaintySpec.from_protocol()
    keep = ("osimertinib 80 mg QD", "erlotinib 5 mg QD", "erlotinib 10 mg QD")
    spec = dataclasses.replace(
        spec,
        regimens=tuple(r for r in spec.regimens if r.label in keep),
        smokers=("erlotinib 10 mg QD",),
        follow_up_days=98.0,
    )
    return sweep, spec


@pytest.fixture(scope="module")
def loop() -> pd.DataFrame:
    """Two parameter sets: the packaged catalogue and a counterfactual without the AREG bypass
    (miR-449a restored in the AR cells), 40 patients each."""
    sweep, spec = _small_spec()
    no_bypass = CAT.with_cell_line(AR, reason="counterfactual (test)", mir449a=1.0)
    return uncertainty_sweep(
        sweep,
        spec,
        catalogs=[CAT, no_bypass],
        n_patients=40,
        rng=np.random.default_rng(3),
        observe_every_days=14.0,
        progression_fold=2.0,
    )


def test_loop_table_has_every_set_population_and_arm(loop):
    sweep, spec = _small_spec()
    n_arms = 1 + len(spec.regimens)
    assert len(loop) == 2 * (n_arms + len(spec.smokers))
    assert set(loop["population"]) == {NON_SMOKERS, SMOKERS}
    assert (loop.loc[loop["population"] == SMOKERS, "label"] == "erlotinib 10 mg QD").all()
    assert (loop["n"] == 40).all() and loop["fraction_controlled_wk12"].between(0, 1).all()
    ref = loop[loop["egfr_tki"] == NO_TKI]
    assert (ref["label"] == sweep.reference).all() and ref["daily_dose_mg"].isna().all()
    base = loop[(loop["draw"] == 0) & (loop["population"] == NON_SMOKERS)].set_index("label")
    cf = loop[(loop["draw"] == 1) & (loop["population"] == NON_SMOKERS)].set_index("label")
    # with the bypass alectinib alone fails and erlotinib 10 mg controls most patients ...
    assert base.loc[sweep.reference, "fraction_controlled_wk12"] <= 0.1
    assert base.loc["erlotinib 10 mg QD", "fraction_controlled_wk12"] >= 0.6
    # ... without it alectinib alone controls: the outer loop really changes the model
    assert cf.loc[sweep.reference, "fraction_controlled_wk12"] >= 0.9


def test_smokers_need_a_higher_erlotinib_dose(loop):
    """Smoking doubles erlotinib CL (catalogue covariate): at 10 mg QD, a dose near the
    threshold, fewer smokers than non-smokers are controlled."""
    d0 = loop[(loop["draw"] == 0) & (loop["label"] == "erlotinib 10 mg QD")]
    f = d0.set_index("population")["fraction_controlled_wk12"]
    assert f[SMOKERS] < f[NON_SMOKERS] - 0.2


def test_summary_intervals_and_marginal(loop):
    s = summarise_uncertainty(loop, 0.5)
    assert len(s) == loop.groupby(["population", "label"]).ngroups
    assert (s["p_control_low"] <= s["p_control_median"]).all()
    assert (s["p_control_median"] <= s["p_control_high"]).all()
    assert (s["n_draws"] == 2).all()
    g = loop.groupby(["population", "label"], sort=False)
    marginal = (g["controlled"].sum() / g["n"].sum()).to_numpy()
    np.testing.assert_allclose(s["p_control_mean"], marginal)


def _long(fractions: dict[float, list[float]], drug: str = "erlotinib") -> pd.DataFrame:
    rows = []
    for dose, fs in fractions.items():
        for k, f in enumerate(fs):
            rows.append(
                {
                    "draw": k,
                    "population": NON_SMOKERS,
                    "label": f"{drug} {dose:g} mg QD",
                    "egfr_tki": drug,
                    "regimen": f"{dose:g} mg QD",
                    "daily_dose_mg": dose,
                    "weekly_dose_mg": 7 * dose,
                    "n": 10,
                    "controlled": round(10 * f),
                    "fraction_controlled_wk12": f,
                    "median_ttp_days": np.inf if f >= 0.5 else 28.0 + k,
                }
            )
    return pd.DataFrame(rows)


def test_dose_bracket_on_hand_made_sets():
    # 5 mg controls in 1 of 4 sets, 10 mg in 3 of 4, 25 mg in all: bracket 5-10 mg
    long = _long({5.0: [0.2, 0.6, 0.1, 0.3], 10.0: [0.7, 0.9, 0.4, 0.8], 25.0: [1, 1, 1, 1]})
    b = dose_bracket(long, 0.5).iloc[0]
    assert (b["lower_mg"], b["upper_mg"]) == (5.0, 10.0) and b["bracketed"]
    assert (b["p_lower_controls"], b["p_upper_controls"]) == (0.25, 0.75)
    assert b["p_controls"] == "0.25, 0.75, 1.00" and b["doses_mg"] == "5, 10, 25"
    assert b["lowest_dose_median_mg"] == 10.0  # per set: 10, 5, 25, 10
    assert (b["lowest_dose_low_mg"], b["lowest_dose_high_mg"]) == (5.0, 25.0)
    # the lowest dose already controls in most sets: not bracketed, below the sweep
    b = dose_bracket(_long({5.0: [0.6, 0.7, 0.2], 10.0: [1, 1, 1]}), 0.5).iloc[0]
    assert b["below_sweep"] and not b["bracketed"] and b["upper_mg"] == 5.0
    # no dose controls in most sets: above the sweep, inf where a set has none
    b = dose_bracket(_long({80.0: [0.0, 0.1], 160.0: [0.2, 0.6]}, "osimertinib"), 0.5).iloc[0]
    assert b["above_sweep"] and not b["bracketed"] and np.isnan(b["upper_mg"])
    assert b["lowest_dose_high_mg"] == np.inf
    s = summarise_uncertainty(_long({5.0: [0.2, 0.6, 0.1, 0.3]}), 0.5).iloc[0]
    assert s["p_regimen_controls"] == 0.25
    assert s["ttp_high_days"] == np.inf  # not reached stays not reached (no interpolation)
