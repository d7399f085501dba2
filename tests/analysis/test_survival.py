"""Survival analysis: KM, medians, log-rank with Holm, Cox, degenerate cases, bad input."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_waltons
from lifelines.statistics import logrank_test
from scipy import stats
from statsmodels.stats.multitest import multipletests

from leptotwin.analysis.survival import (
    adjust_pvalues,
    cox_hazard_ratios,
    kaplan_meier,
    median_survival,
    multigroup_logrank,
    pairwise_logrank,
    plot_km,
)
from leptotwin.errors import LeptotwinError

matplotlib.use("Agg")


def _waltons() -> pd.DataFrame:
    w = load_waltons()
    return pd.DataFrame(
        {"mouse": np.arange(len(w)), "arm": w["group"], "time_days": w["T"], "event": w["E"]}
    )


def _hand() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mouse": ["a1", "a2", "a3", "b1", "b2", "b3"],
            "arm": ["A", "A", "A", "B", "B", "B"],
            "time_days": [1.0, 3.0, 5.0, 2.0, 4.0, 6.0],
            "event": [1, 1, 0, 1, 0, 0],
        }
    )


def test_hand_example():
    """Arm A: deaths on days 1 and 3, censored on 5; arm B: death on 2, censored on 4 and 6.

    KM A: S(1) = 2/3, S(3) = 2/3 x 1/2 = 1/3 -> median 3 days; Greenwood Var S(3) = S^2 x
    (1/(3 x 2) + 1/(2 x 1)) = 2/27. KM B: S(2) = 2/3, flat after -> median not reached.

    Log-rank (A vs B), per death time: observed in A, expected in A, variance
      t=1: N=6, nA=3, d=1 (A): E=3/6=0.5, V=(3/6)(3/6)(5/5)=0.25
      t=2: N=5, nA=2, d=1 (B): E=2/5=0.4, V=(2/5)(3/5)=0.24
      t=3: N=4, nA=2, d=1 (A): E=2/4=0.5, V=(2/4)(2/4)=0.25
    O - E = 2 - 1.4 = 0.6, V = 0.74, chi2 = 0.36 / 0.74 = 18/37 = 0.4865 (1 df).
    R: survdiff(Surv(t, e) ~ arm) gives Chisq = 0.5 (p = 0.5).
    """
    df = _hand()
    km = kaplan_meier(df)
    a = km[km["arm"] == "A"].set_index("time_days")
    assert list(a.index) == [0.0, 1.0, 3.0, 5.0]
    np.testing.assert_allclose(a["survival"], [1, 2 / 3, 1 / 3, 1 / 3])
    assert list(a["n_at_risk"]) == [3, 3, 2, 1]
    assert list(a["n_events"]) == [0, 1, 1, 0]
    assert list(a["n_censored"]) == [0, 0, 0, 1]
    # lifelines' log-log interval at t=3 from the Greenwood variance 2/27
    s, var = 1 / 3, 2 / 27
    se_loglog = math.sqrt(var) / (s * abs(math.log(s)))
    z = stats.norm.ppf(0.975)
    lower = s ** math.exp(z * se_loglog)
    assert a.loc[3.0, "lower"] == pytest.approx(lower, rel=1e-10)
    med = median_survival(df).set_index("arm")
    assert med.loc["A", "median_days"] == 3.0 and med.loc["A", "reached"]
    assert math.isinf(med.loc["B", "median_days"]) and not med.loc["B", "reached"]
    pw = pairwise_logrank(df)
    assert pw.loc[0, "test_statistic"] == pytest.approx(18 / 37, rel=1e-12)
    assert pw.loc[0, "p_value"] == pytest.approx(stats.chi2.sf(18 / 37, 1), rel=1e-12)
    assert (pw.loc[0, "events_a"], pw.loc[0, "events_b"]) == (2, 1)


def test_kaplan_meier_matches_lifelines_on_waltons():
    df = _waltons()
    km = kaplan_meier(df)
    med = median_survival(df).set_index("arm")
    for arm, g in df.groupby("arm"):
        kmf = KaplanMeierFitter().fit(g["time_days"], g["event"])
        ours = km[km["arm"] == arm]
        np.testing.assert_allclose(ours["survival"], kmf.survival_function_.iloc[:, 0], rtol=0)
        np.testing.assert_allclose(ours["lower"], kmf.confidence_interval_.iloc[:, 0], rtol=0)
        assert med.loc[arm, "median_days"] == kmf.median_survival_time_
    # medians published in lifelines' docs (Quickstart / survival analysis intro)
    assert med.loc["control", "median_days"] == 58.0
    assert med.loc["miR-137", "median_days"] == 26.0


def test_logrank_matches_lifelines_on_waltons():
    """lifelines docs: logrank_test on waltons, control vs miR-137: test_statistic 122.25."""
    df = _waltons()
    pw = pairwise_logrank(df, adjust=("holm", "bonferroni"))
    assert pw.loc[0, "test_statistic"] == pytest.approx(122.25, abs=0.005)
    c, m = df[df["arm"] == "control"], df[df["arm"] == "miR-137"]
    ref = logrank_test(c["time_days"], m["time_days"], c["event"], m["event"])
    assert pw.loc[0, "p_value"] == pytest.approx(ref.p_value, rel=1e-12)
    assert pw.loc[0, "p_holm"] == pw.loc[0, "p_value"]  # one comparison: nothing to adjust
    overall = multigroup_logrank(df)
    assert overall.loc[0, "test_statistic"] == pytest.approx(ref.test_statistic, rel=1e-10)
    assert overall.loc[0, "degrees_of_freedom"] == 1


def test_cox_matches_lifelines_on_waltons():
    df = _waltons()
    hr = cox_hazard_ratios(df, reference="control").set_index("arm")
    x = pd.DataFrame(
        {"T": df["time_days"], "E": df["event"], "mir": (df["arm"] == "miR-137").astype(float)}
    )
    ref = CoxPHFitter().fit(x, "T", "E").summary.loc["mir"]
    assert hr.loc["miR-137", "hazard_ratio"] == pytest.approx(ref["exp(coef)"], rel=1e-10)
    assert hr.loc["miR-137", "lower"] == pytest.approx(ref["exp(coef) lower 95%"], rel=1e-10)
    assert hr.loc["miR-137", "p_value"] == pytest.approx(ref["p"], rel=1e-8)
    assert hr.loc["miR-137", "converged"] and hr.loc["miR-137", "reference"] == "control"


def test_cox_recovers_a_known_hazard_ratio():
    """Exponential survival, hazard 0.05/day in the reference arm and 0.025/day (HR 0.5) and
    0.1/day (HR 2) in the others, administrative censoring at 60 days, 150 mice per arm."""
    rng = np.random.default_rng(752)
    truth = {"vehicle": 1.0, "combination": 0.5, "alectinib": 2.0}
    rows = []
    for arm, h in truth.items():
        t = rng.exponential(1 / (0.05 * h), 150)
        for i, ti in enumerate(t):
            rows.append((f"{arm}{i}", arm, min(ti, 60.0), int(ti <= 60.0)))
    df = pd.DataFrame(rows, columns=["mouse", "arm", "time_days", "event"])
    hr = cox_hazard_ratios(df).set_index("arm")
    assert list(hr.index) == ["combination", "alectinib"]
    for arm in ("combination", "alectinib"):
        assert hr.loc[arm, "lower"] < truth[arm] < hr.loc[arm, "upper"], arm


def test_holm_and_bonferroni_match_statsmodels():
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(0, 0.1, 12), [0.01, 0.01, 0.5, 1.0, 0.0]])
    for method in ("holm", "bonferroni"):
        expected = multipletests(p, method=method)[1]
        np.testing.assert_allclose(adjust_pvalues(p, method), expected, rtol=1e-14)
    assert adjust_pvalues([], "holm").size == 0
    with pytest.raises(LeptotwinError, match="unknown p-value adjustment.*holm or bonferroni"):
        adjust_pvalues(p, "fdr_bh")
    with pytest.raises(LeptotwinError, match=r"p-values must lie in \[0, 1\]"):
        adjust_pvalues([0.2, 1.5])


def test_pairwise_holm_over_all_pairs_matches_statsmodels():
    rng = np.random.default_rng(8)
    arms = {"vehicle": 0.1, "alectinib": 0.08, "osimertinib": 0.07, "combination": 0.02}
    rows = []
    for arm, h in arms.items():
        t = rng.exponential(1 / h, 10)
        rows += [(f"{arm}{i}", arm, min(ti, 50.0), int(ti <= 50)) for i, ti in enumerate(t)]
    df = pd.DataFrame(rows, columns=["mouse", "arm", "time_days", "event"])
    pw = pairwise_logrank(df, adjust=("holm", "bonferroni"))
    assert len(pw) == 6
    np.testing.assert_allclose(pw["p_holm"], multipletests(pw["p_value"], method="holm")[1])
    np.testing.assert_allclose(
        pw["p_bonferroni"], multipletests(pw["p_value"], method="bonferroni")[1]
    )
    sub = pairwise_logrank(df, arms=["combination", "alectinib", "osimertinib"])
    assert len(sub) == 3 and sub.loc[0, "arm_a"] == "combination"


# ---------------------------------------------------------------------------------------------
# degenerate inputs
# ---------------------------------------------------------------------------------------------
def test_arm_without_events():
    df = _hand()
    df.loc[df["arm"] == "B", "event"] = 0
    km = kaplan_meier(df)
    assert (km.loc[km["arm"] == "B", "survival"] == 1.0).all()
    med = median_survival(df).set_index("arm")
    assert med.loc["B", "median_days"] == math.inf and not med.loc["B", "reached"]
    assert med.loc["B", "upper"] == math.inf
    hr = cox_hazard_ratios(df, reference="A")
    assert not hr.loc[0, "converged"] and "arm 'B'" in hr.loc[0, "message"]
    assert hr.loc[0, "hazard_ratio"] < 1e-3  # MLE at the boundary (HR -> 0), flagged


def test_no_events_at_all():
    df = _hand().assign(event=0)
    pw = pairwise_logrank(df)
    assert (pw.loc[0, "test_statistic"], pw.loc[0, "p_value"]) == (0.0, 1.0)
    assert multigroup_logrank(df).loc[0, "p_value"] == 1.0
    hr = cox_hazard_ratios(df)
    assert not hr.loc[0, "converged"] and math.isnan(hr.loc[0, "hazard_ratio"])
    assert "no events" in hr.loc[0, "message"]


def test_identical_arms():
    one = _hand()[lambda d: d["arm"] == "A"]
    df = pd.concat([one, one.assign(arm="B", mouse=one["mouse"] + "b")], ignore_index=True)
    pw = pairwise_logrank(df)
    assert pw.loc[0, "test_statistic"] == pytest.approx(0.0, abs=1e-12)
    assert pw.loc[0, "p_value"] == pytest.approx(1.0)
    hr = cox_hazard_ratios(df)
    assert hr.loc[0, "hazard_ratio"] == pytest.approx(1.0, abs=1e-8)
    med = median_survival(df)
    assert med["median_days"].nunique() == 1


def test_single_arm_gives_empty_tables_with_columns():
    df = _hand()[lambda d: d["arm"] == "A"]
    pw = pairwise_logrank(df, adjust=("holm", "bonferroni"))
    assert len(pw) == 0
    assert list(pw.columns) == [
        "arm_a",
        "arm_b",
        "n_a",
        "n_b",
        "events_a",
        "events_b",
        "test_statistic",
        "p_value",
        "p_holm",
        "p_bonferroni",
    ]
    assert pw["p_value"].dtype == float
    hr = cox_hazard_ratios(df)
    assert len(hr) == 0 and "hazard_ratio" in hr.columns and hr["hazard_ratio"].dtype == float
    assert multigroup_logrank(df).loc[0, "p_value"] == 1.0
    assert len(median_survival(df)) == 1


# ---------------------------------------------------------------------------------------------
# bad input and the figure
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.drop(columns="event"), "survival table lacks columns.*event"),
        (lambda d: d.assign(time_days=[1, -3, 5, 2, 4, 6]), "negative time.*-3"),
        (lambda d: d.assign(event=[1, 2, 0, 1, 0, 0]), "event must be 0 or 1.*got 2"),
        (lambda d: d.assign(event=["yes"] * 6), "event must be 0 or 1"),
        (lambda d: d.assign(time_days="long"), "time_days: non-numeric or missing time"),
        (lambda d: d.assign(mouse="a1"), "duplicated mouse rows"),
        (lambda d: d.iloc[:0], "no rows"),
    ],
)
def test_bad_input_is_refused(mutate, match):
    bad = mutate(_hand())
    for fn in (kaplan_meier, median_survival, pairwise_logrank, cox_hazard_ratios):
        with pytest.raises(LeptotwinError, match=match):
            fn(bad)


def test_bad_options_are_refused():
    df = _hand()
    with pytest.raises(LeptotwinError, match="unknown reference arm.*one of A, B"):
        cox_hazard_ratios(df, reference="C")
    with pytest.raises(LeptotwinError, match="unknown p-value adjustment"):
        pairwise_logrank(df, adjust=("sidak",))
    with pytest.raises(LeptotwinError, match="unknown arm"):
        pairwise_logrank(df, arms=["A", "Z"])
    with pytest.raises(LeptotwinError, match="alpha must lie in"):
        kaplan_meier(df, alpha=0)


def test_plot_km_has_steps_censor_ticks_and_bands():
    ax = plot_km(_hand())
    assert len(ax.collections) == 2  # one CI band per arm
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["A (n=3)", "B (n=3)"]
    ticks = [line for line in ax.lines if line.get_marker() == "|"]
    assert len(ticks) == 2 and len(ticks[1].get_xdata()) == 2  # B censored on days 4 and 6
    matplotlib.pyplot.close("all")
