"""Human translation, dose/schedule sweep (a model prediction): the table holds the protocol's
regimens, control follows exposure, the chosen regimen obeys the stated rule, and without the
AREG bypass (miR-449a restored, or no AREG secreted) alectinib alone controls and the sweep adds
nothing. Small cohorts and a 14-week follow-up keep the module at a few seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.study.reproduce import Context
from leptotwin.study.schedule_sweep import (
    NO_TKI,
    SweepSpec,
    choose_regimens,
    load_protocol,
    schedule_sweep,
    sweep_text,
    wilson_interval,
)
from leptotwin.study.sections import human

N = 16  # virtual patients per regimen
FOLLOW_UP_D = 98.0  # past the week-12 control day
AR = "A925L/AR"


def _sweep(seed: int, catalog=None) -> tuple[SweepSpec, pd.DataFrame]:
    spec = SweepSpec.from_protocol(catalog=catalog)
    table = schedule_sweep(
        spec,
        n_per_arm=N,
        rng=np.random.default_rng(seed),
        follow_up_days=FOLLOW_UP_D,
        observe_every_days=14.0,
        progression_fold=load_protocol()["progression_fold"],
        exposure_subjects=24,
        catalog=catalog,
    )
    return spec, table


@pytest.fixture(scope="module")
def sweep() -> tuple[SweepSpec, pd.DataFrame]:
    return _sweep(5)


def _recompute_choice(table: pd.DataFrame, margin: float, least: float) -> dict[str, str]:
    """The rule of the docstring and the report text, written out again from the table."""
    ref = table[table["egfr_tki"] == NO_TKI].iloc[0]
    out = {}
    for drug in table.loc[table["egfr_tki"] != NO_TKI, "egfr_tki"].unique():
        g = table[table["egfr_tki"] == drug]
        f_best = g["fraction_controlled_wk12"].max()
        best = g[g["fraction_controlled_wk12"] == f_best].iloc[0]
        if not best["ci_low"] > ref["ci_high"] or f_best < least:
            out[drug] = ""
            continue
        keep = g[g["fraction_controlled_wk12"] >= max(f_best - margin, least) - 1e-12]
        out[drug] = keep.loc[keep["unbound_auc_week_uM_h"].idxmin(), "label"]
    return out


def test_wilson_interval_matches_r_prop_test():
    # R: prop.test(k, n, correct = FALSE)$conf.int
    lo, hi = wilson_interval([0, 5, 10, 81], [10, 10, 10, 263])
    np.testing.assert_allclose(lo, [0.0, 0.2365931, 0.7224672, 0.2552885], atol=1e-6)
    np.testing.assert_allclose(hi, [0.2775328, 0.7634069, 1.0, 0.3662096], atol=1e-6)
    with pytest.raises(LeptotwinError):
        wilson_interval(3, 2)


def test_table_has_the_protocol_regimens(sweep):
    _, table = sweep
    block = load_protocol()["schedule_sweep"]
    tki = table[table["egfr_tki"] != NO_TKI]
    assert table["label"].iloc[0] == block["reference"]
    assert list(zip(tki["egfr_tki"], tki["regimen"], strict=True)) == [
        (r["drug"], r["regimen"]) for r in block["regimens"]
    ]
    assert (tki["source"].str.len() > 10).all() and (table["n"] == N).all()
    # the brief's sweep: four daily doses and at least one other schedule per drug
    for drug in ("osimertinib", "erlotinib"):
        g = tki[tki["egfr_tki"] == drug]
        assert g["daily"].sum() >= 4 and (~g["daily"]).sum() >= 1
    # exposure: linear PK, one set of virtual patients per drug, so AUC per week ∝ weekly dose
    by = tki.set_index("label")
    for drug in ("osimertinib", "erlotinib"):
        g = tki[tki["egfr_tki"] == drug]
        ratio = g["unbound_auc_week_uM_h"] / g["weekly_dose_mg"]
        np.testing.assert_allclose(ratio, ratio.iloc[0], rtol=0.02)
    assert by.loc["osimertinib 80 mg every other day", "weekly_dose_mg"] == 280.0
    assert by.loc["erlotinib 1500 mg weekly pulse", "weekly_dose_mg"] == 1500.0
    assert by.loc["erlotinib 1200 mg d1-2 + 50 mg d3-7 weekly", "weekly_dose_mg"] == 2650.0
    # a weekly pulse swings: its lesion trough is far below its average, unlike daily dosing
    pulse = by.loc["erlotinib 1500 mg weekly pulse"]
    daily = by.loc["erlotinib 150 mg QD"]
    assert pulse["lesion_cmin_over_potency"] / pulse["lesion_cavg_over_potency"] < 0.5
    assert daily["lesion_cmin_over_potency"] / daily["lesion_cavg_over_potency"] > 0.7


def test_control_rises_with_dose(sweep):
    _, table = sweep
    ref = table[table["egfr_tki"] == NO_TKI].iloc[0]
    for drug in ("osimertinib", "erlotinib"):
        g = table[(table["egfr_tki"] == drug) & table["daily"]].sort_values("weekly_dose_mg")
        f, hi = g["fraction_controlled_wk12"].to_numpy(), g["ci_high"].to_numpy()
        # non-decreasing up to binomial noise: a higher dose's upper bound covers the lower dose
        assert np.all(hi[1:] >= f[:-1]), g[["label", "fraction_controlled_wk12", "ci_high"]]
    erl = table[(table["egfr_tki"] == "erlotinib") & table["daily"]]
    top = erl.loc[erl["weekly_dose_mg"].idxmax()]
    assert top["ci_low"] > ref["ci_high"]  # standard-dose erlotinib beats alectinib alone


def test_chosen_regimen_obeys_the_rule(sweep):
    spec, table = sweep
    choice = choose_regimens(table, spec.control_margin, spec.min_control).set_index("egfr_tki")
    expected = _recompute_choice(table, spec.control_margin, spec.min_control)
    assert choice["chosen_label"].to_dict() == expected
    assert expected["erlotinib"]  # the study's mechanism: some erlotinib dose controls
    for drug, label in expected.items():
        if not label:
            continue
        g = table[table["egfr_tki"] == drug]
        pick = g[g["label"] == label].iloc[0]
        assert pick["fraction_controlled_wk12"] >= g["fraction_controlled_wk12"].max() - 0.05
        lower = g[g["unbound_auc_week_uM_h"] < pick["unbound_auc_week_uM_h"]]
        assert (lower["fraction_controlled_wk12"] < choice.loc[drug, "threshold"]).all()
    text = sweep_text(table, choice.reset_index(), spec.control_margin, spec.min_control)
    assert "Model prediction" in text and "5 percentage points" in text
    for label in filter(None, expected.values()):
        row = table[table["label"] == label].iloc[0]
        assert f"**{label}** ({100 * row['fraction_controlled_wk12']:.0f} % controlled" in text


def test_rule_on_a_hand_made_table():
    """Drug a: best 0.92; 0.90 is within 5 points and cheaper, 0.80 is not → the 0.90 dose.
    Drug b: best 0.30 but its CI overlaps the background's → none."""
    rows = [(NO_TKI, "bg", np.nan, 20, 5)]
    rows += [("a", f"a{d}", d, 100, k) for d, k in ((1, 10), (2, 80), (3, 90), (4, 92))]
    rows += [("b", f"b{d}", d, 10, k) for d, k in ((1, 1), (2, 3))]
    t = pd.DataFrame(rows, columns=["egfr_tki", "label", "unbound_auc_week_uM_h", "n", "k"])
    t["fraction_controlled_wk12"] = t["k"] / t["n"]
    t["ci_low"], t["ci_high"] = wilson_interval(t["k"], t["n"])
    t["weekly_dose_mg"] = t["unbound_auc_week_uM_h"]
    choice = choose_regimens(t, 0.05).set_index("egfr_tki")
    assert choice.loc["a", "chosen_label"] == "a3" and choice.loc["a", "edge"] == ""
    assert choice.loc["b", "chosen_label"] == "" and not choice.loc["b", "beats_reference"]
    assert choose_regimens(t, 0.15).set_index("egfr_tki").loc["a", "chosen_label"] == "a2"
    # with "most patients controlled" required, a2 (0.80) still counts, a1 (0.10) never
    assert choose_regimens(t, 0.95, 0.5).set_index("egfr_tki").loc["a", "chosen_label"] == "a2"
    # a drug whose best controls fewer than min_control is not chosen even if it beats the
    # background
    tc = pd.DataFrame(
        [(NO_TKI, "bg", np.nan, 100, 0), ("c", "c1", 1, 100, 30), ("c", "c2", 2, 100, 40)],
        columns=["egfr_tki", "label", "unbound_auc_week_uM_h", "n", "k"],
    )
    tc["fraction_controlled_wk12"] = tc["k"] / tc["n"]
    tc["ci_low"], tc["ci_high"] = wilson_interval(tc["k"], tc["n"])
    tc["weekly_dose_mg"] = tc["unbound_auc_week_uM_h"]
    c_choice = choose_regimens(tc, 0.05, 0.5).set_index("egfr_tki").loc["c"]
    assert c_choice["beats_reference"] and not c_choice["keeps_control"]
    assert c_choice["chosen_label"] == ""


@pytest.mark.parametrize(
    "levels",
    [{"mir449a": 1.0}, {"areg_secretion": 0.0}],
    ids=["miR-449a restored", "no AREG secreted"],
)
def test_counterfactual_without_the_bypass_the_sweep_adds_nothing(sweep, levels):
    _, base = sweep
    reason = "counterfactual (test): no AREG bypass"
    cat = load_catalog().with_cell_line(AR, reason=reason, **levels)
    spec, table = _sweep(6, catalog=cat)
    ref = table[table["egfr_tki"] == NO_TKI].iloc[0]
    tki = table[table["egfr_tki"] != NO_TKI]
    base_ref = base.loc[base["egfr_tki"] == NO_TKI, "fraction_controlled_wk12"].iloc[0]
    base_gain = base["fraction_controlled_wk12"].max() - base_ref
    assert base_gain > 0.5  # with the bypass, an EGFR TKI is what brings control
    assert ref["fraction_controlled_wk12"] >= 0.9  # without it, alectinib alone controls ...
    assert (tki["fraction_controlled_wk12"] - ref["fraction_controlled_wk12"]).max() <= 0.1
    choice = choose_regimens(table, spec.control_margin)  # ... and no regimen is chosen
    assert (choice["chosen_label"] == "").all() and not choice["beats_reference"].any()


def test_protocol_mistakes_are_reported():
    proto = load_protocol()
    bad = {**proto, "schedule_sweep": {**proto["schedule_sweep"]}}
    bad["schedule_sweep"]["regimens"] = [{"drug": "aspirin", "regimen": "81 mg QD", "source": "x"}]
    with pytest.raises(LeptotwinError, match="drug"):
        SweepSpec.from_protocol(bad)
    bad["schedule_sweep"]["regimens"] = [
        {"drug": "erlotinib", "regimen": "150 mg QDD", "source": "x"}
    ]
    with pytest.raises(LeptotwinError, match="QDD"):
        SweepSpec.from_protocol(bad)


def test_section_writes_the_sweep(tmp_path, monkeypatch):
    """The registered section with a shrunken protocol: sweep table, choice, figure, text."""
    proto = load_protocol()
    small = {
        **proto,
        "quick_patients_per_arm": 6,
        "follow_up_days": FOLLOW_UP_D,
        "schedule_sweep": {
            **proto["schedule_sweep"],
            "quick_patients_per_regimen": 6,
            "exposure_subjects": 12,
        },
        "uncertainty": {
            **proto["uncertainty"],
            "quick_draws": 2,
            "quick_patients_per_draw": 5,
            "follow_up_days": FOLLOW_UP_D,
        },
    }
    monkeypatch.setattr(human, "load_protocol", lambda: small)
    ctx = Context(rng=np.random.default_rng(7), seed=7, out_dir=tmp_path, quick=True)
    res = human.human_translation(ctx)
    sweep, choice = res.tables["human_schedule_sweep.csv"], res.tables["human_schedule_choice.csv"]
    assert len(sweep) == len(proto["schedule_sweep"]["regimens"]) + 1 and (sweep["n"] == 6).all()
    assert set(sweep.loc[sweep["chosen"], "label"]) == set(choice["chosen_label"]) - {""}
    assert len(res.figures) == 3 and "dose and schedule" in res.text
    # credible intervals over parameter sets x patients, the dose bracket, the PK checks
    unc = res.tables["human_uncertainty.csv"]
    assert (unc["n_draws"] == 2).all() and (unc["patients_per_draw"] == 5).all()
    assert {"non-smokers", "smokers"} == set(unc["population"])
    assert set(res.tables["human_dose_bracket.csv"]["egfr_tki"]) == {"erlotinib", "osimertinib"}
    assert "credible intervals" in res.text and "Out-of-sample PK checks" in res.text
    assert len(res.tables["pk_out_of_sample.csv"]) >= 15
