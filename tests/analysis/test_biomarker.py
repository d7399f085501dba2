"""Biomarker group statistics against scipy/statsmodels and hand-computed examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from leptotwin.analysis.biomarker import compare_groups, dunn_test, kruskal_wallis, roc_auc
from leptotwin.errors import LeptotwinError


def _frame(groups):
    return pd.DataFrame([{"group": g, "value": v} for g, vs in groups.items() for v in vs])


def test_kruskal_matches_scipy():
    rng = np.random.default_rng(1)
    groups = {
        "a": rng.lognormal(0, 1, 8),
        "b": rng.lognormal(1, 1, 12),
        "c": rng.lognormal(0.5, 1, 5),
    }
    res = kruskal_wallis(_frame(groups))
    h, p = stats.kruskal(*groups.values())
    assert res["H"] == pytest.approx(h) and res["p_value"] == pytest.approx(p)


def test_dunn_by_hand():
    """Groups a = (1, 2, 3), b = (4, 5, 6), c = (7, 8, 9): ranks are the values, mean ranks 2, 5,
    8, N = 9, no ties: S² = 9·10/12 = 7.5; z(a, b) = (2 − 5) / sqrt(7.5 · (1/3 + 1/3)) = −3/√5;
    z(a, c) = −6/√5; z(b, c) = −3/√5."""
    res = dunn_test(_frame({"a": [1, 2, 3], "b": [4, 5, 6], "c": [7, 8, 9]}), adjust="none")
    z = np.array([-3, -6, -3]) / np.sqrt(5)
    np.testing.assert_allclose(res["z"], z)
    np.testing.assert_allclose(res["p_value"], 2 * stats.norm.sf(np.abs(z)))


def test_holm_matches_statsmodels():
    rng = np.random.default_rng(2)
    groups = {k: rng.lognormal(i * 0.4, 1, 10) for i, k in enumerate("abcd")}
    res = dunn_test(_frame(groups), adjust="holm")
    np.testing.assert_allclose(res["p_adjusted"], multipletests(res["p_value"], method="holm")[1])


def test_compare_groups_mann_whitney_and_auc():
    """Perfect separation of 4 vs 30: U = 120, exact two-sided p = 2 / C(34, 4), AUC 1."""
    groups = {"alk": [100, 110, 120, 130], "egfr": list(range(1, 31))}
    res = compare_groups(_frame(groups), reference="alk").iloc[0]
    assert res["U"] == 120 and res["auc"] == 1.0 and res["cliffs_delta"] == 1.0
    assert res["p_value"] == pytest.approx(2 / 46376)
    assert res["median_ratio"] == pytest.approx(115 / 15.5)


def test_roc_auc_ties_half():
    assert roc_auc(np.array([1.0, 2.0]), np.array([1.0, 0.0]))["auc"] == pytest.approx(0.875)


def test_bad_input():
    with pytest.raises(LeptotwinError, match="missing column"):
        kruskal_wallis(pd.DataFrame({"group": ["a"]}))
    with pytest.raises(LeptotwinError, match="non-numeric"):
        kruskal_wallis(pd.DataFrame({"group": ["a", "b"], "value": ["x", 1]}))
    with pytest.raises(LeptotwinError, match="at least two groups"):
        kruskal_wallis(pd.DataFrame({"group": ["a", "a"], "value": [1, 2]}))
    with pytest.raises(LeptotwinError, match="unknown p-value adjustment"):
        dunn_test(_frame({"a": [1, 2], "b": [3, 4]}), adjust="fdr")
    with pytest.raises(LeptotwinError, match="reference group"):
        compare_groups(_frame({"a": [1, 2], "b": [3, 4]}), reference="z")


def _brute_force_p(x, y, alternative):
    """Exhaustive permutation p of the mid-rank sum of x (every way to relabel the pool)."""
    from itertools import combinations

    from scipy import stats

    pooled = np.concatenate([x, y])
    ranks = stats.rankdata(pooled)
    obs = ranks[: len(x)].sum()
    sums = np.array([ranks[list(c)].sum() for c in combinations(range(len(pooled)), len(x))])
    ge, le = np.mean(sums >= obs - 1e-9), np.mean(sums <= obs + 1e-9)
    return {"greater": ge, "less": le, "two-sided": min(1.0, 2 * min(ge, le))}[alternative]


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize(("n_x", "n_y", "decimals"), [(4, 9, 1), (4, 9, 3), (7, 3, 0), (5, 5, 1)])
def test_exact_mannwhitney_equals_full_enumeration_with_ties(alternative, n_x, n_y, decimals):
    from leptotwin.analysis.biomarker import exact_mannwhitney

    rng = np.random.default_rng(n_x * 100 + n_y + decimals)
    x = np.round(rng.normal(0.8, 1, n_x), decimals)
    y = np.round(rng.normal(0.0, 1, n_y), decimals)
    got = exact_mannwhitney(x, y, alternative=alternative)
    assert got["p_value"] == pytest.approx(_brute_force_p(x, y, alternative), rel=1e-12)


def test_exact_mannwhitney_untied_equals_scipy_exact_and_ties_differ_from_it():
    from scipy import stats

    from leptotwin.analysis.biomarker import exact_mannwhitney

    x, y = np.array([5.1, 7.3, 9.9, 6.2]), np.array([1.0, 2.2, 3.1, 5.0, 6.0, 0.5, 2.9])
    ref = stats.mannwhitneyu(x, y, alternative="greater", method="exact")
    got = exact_mannwhitney(x, y)
    assert got["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert got["U"] == ref.statistic and got["auc"] == ref.statistic / 28
    # censored at the LLOQ: ties; scipy's "exact" ignores them, the enumeration does not
    x, y = np.array([31.0, 12.0, 12.0, 55.0]), np.array([12.0] * 20 + [13.0, 14.0, 40.0])
    got = exact_mannwhitney(x, y)["p_value"]
    assert got == pytest.approx(_brute_force_p(x, y, "greater"), rel=1e-12)
    assert got != pytest.approx(
        stats.mannwhitneyu(x, y, alternative="greater", method="exact").pvalue
    )


def test_exact_mannwhitney_all_tied_is_p_1_not_nan():
    from leptotwin.analysis.biomarker import exact_mannwhitney

    res = exact_mannwhitney(np.full(4, 12.0), np.full(30, 12.0))
    assert res["p_value"] == 1.0 and res["auc"] == 0.5
