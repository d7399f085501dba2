"""Biomarker group statistics: a concentration measured in several patient groups.

Non-parametric, because biomarker concentrations are skewed and groups are small: Kruskal–Wallis
across groups, Dunn's post-hoc z-tests on mean ranks (tie-corrected, Holm-adjusted), pairwise
Mann–Whitney U (exact when small and untied), effect sizes (Cliff's delta; ratio of medians; the
ROC AUC of the biomarker separating two groups, with a Hanley–McNeil interval), and a
strip-and-box figure. Input: one row per sample with ``group`` and a value column.
"""

from __future__ import annotations

import textwrap
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from leptotwin.analysis.survival import adjust_pvalues
from leptotwin.errors import LeptotwinError

__all__ = [
    "compare_groups",
    "dunn_test",
    "exact_mannwhitney",
    "kruskal_wallis",
    "plot_groups",
    "roc_auc",
]


def _groups(df: pd.DataFrame, value: str, source: str) -> dict[str, np.ndarray]:
    for col in ("group", value):
        if col not in df.columns:
            raise LeptotwinError(
                "missing column", source=source, field=col, expected=f"columns group, {value}"
            )
    vals = pd.to_numeric(df[value], errors="coerce")
    if vals.isna().any():
        raise LeptotwinError(
            "non-numeric or missing value",
            source=source,
            field=value,
            value=df.loc[vals.isna(), value].iloc[0],
        )
    out = {
        str(g): vals[df["group"] == g].to_numpy(float) for g in pd.unique(df["group"].astype(str))
    }
    if len(out) < 2:
        raise LeptotwinError("need at least two groups", source=source, field="group")
    return out


def kruskal_wallis(df: pd.DataFrame, *, value: str = "value") -> dict[str, float]:
    """Kruskal–Wallis H test across all groups (tie-corrected; scipy). Returns ``H, df, p``."""
    g = _groups(df, value, "kruskal_wallis")
    if np.unique(np.concatenate(list(g.values()))).size < 2:
        return {"H": 0.0, "df": float(len(g) - 1), "p_value": 1.0}  # all tied: no evidence
    h, p = stats.kruskal(*g.values())
    return {"H": float(h), "df": float(len(g) - 1), "p_value": float(p)}


def dunn_test(df: pd.DataFrame, *, value: str = "value", adjust: str = "holm") -> pd.DataFrame:
    """Dunn's test: for each pair, z = (R̄_a − R̄_b) / sqrt(S² (1/n_a + 1/n_b)) with the pooled
    ranks of all groups and the tie-corrected variance S² = N(N+1)/12 − Σ(t³ − t)/(12(N − 1)).

    Returns ``group_a, group_b, mean_rank_a, mean_rank_b, z, p_value, p_adjusted`` (two-sided;
    ``adjust`` "holm", "bonferroni" or "none")."""
    g = _groups(df, value, "dunn_test")
    allv = np.concatenate(list(g.values()))
    ranks = stats.rankdata(allv)
    n_total = allv.size
    _, counts = np.unique(allv, return_counts=True)
    s2 = n_total * (n_total + 1) / 12.0 - (counts**3 - counts).sum() / (12.0 * (n_total - 1))
    mean_rank, start = {}, 0
    for name, v in g.items():
        mean_rank[name] = ranks[start : start + v.size].mean()
        start += v.size
    rows = []
    for a, b in combinations(g, 2):
        se = np.sqrt(s2 * (1 / g[a].size + 1 / g[b].size))
        # every value tied (s2 = 0): the ranks carry no information, z = 0 and p = 1
        z = (mean_rank[a] - mean_rank[b]) / se if se > 0 else 0.0
        rows.append(
            {
                "group_a": a,
                "group_b": b,
                "mean_rank_a": mean_rank[a],
                "mean_rank_b": mean_rank[b],
                "z": z,
                "p_value": 2 * stats.norm.sf(abs(z)),
            }
        )
    out = pd.DataFrame(rows)
    p = out["p_value"].to_numpy()
    out["p_adjusted"] = p if adjust == "none" else adjust_pvalues(p, adjust)
    return out


def exact_mannwhitney(
    x: np.ndarray, y: np.ndarray, *, alternative: str = "greater"
) -> dict[str, float]:
    """Mann–Whitney test with the exact permutation distribution, ties included.

    scipy's ``method="exact"`` assumes no ties; censored biomarker values (all samples below the
    LLOQ reported at the LLOQ) are full of them. Here the statistic is the sum of the mid-ranks of
    the smaller sample and its null distribution is counted over all C(N, k) ways to draw that
    sample from the pooled mid-ranks (a knapsack recursion over doubled mid-ranks, exact for any
    tie pattern; cost N · k · ΣR, trivial for the group sizes of a biomarker study).

    Parameters
    ----------
    x, y : ndarray of shape (n_x,), (n_y,)
        The two samples (any unit; only the order matters).
    alternative : {"greater", "less", "two-sided"}
        "greater": x tends to be larger than y.

    Returns
    -------
    dict
        ``U`` (of x: pairs x > y, ties ½), ``auc`` (= U / (n_x n_y), P(x > y) + ½ P(x = y)) and
        ``p_value``.
    """
    xs, ys = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if alternative not in ("greater", "less", "two-sided"):
        raise LeptotwinError(
            "unknown alternative",
            field="alternative",
            value=alternative,
            expected="greater, less or two-sided",
        )
    if xs.size == 0 or ys.size == 0 or not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise LeptotwinError(
            "both samples need at least one value, and only finite values",
            field="x, y",
            value=(xs.size, ys.size),
        )
    pooled = np.concatenate([xs, ys])
    doubled = np.rint(2 * stats.rankdata(pooled)).astype(np.int64)  # mid-ranks × 2: integers
    n_x, n_total = xs.size, pooled.size
    u = float(doubled[:n_x].sum() / 2 - n_x * (n_x + 1) / 2)
    # count subsets of the smaller size; the statistic of x follows from the complement
    k = min(n_x, n_total - n_x)
    total = int(doubled.sum())
    counts = np.zeros((k + 1, total + 1))
    counts[0, 0] = 1.0
    for r in doubled:
        counts[1:, r:] += counts[:-1, : total + 1 - r].copy()  # each pooled value used once
    dist = counts[k] / counts[k].sum()  # P(sum of k doubled ranks = s)
    sums = np.arange(total + 1)
    # doubled rank sum of x, as a sum over a k-subset (x itself, or the complement of x)
    s_obs = int(doubled[:n_x].sum()) if k == n_x else total - int(doubled[:n_x].sum())
    upper = dist[sums >= s_obs].sum()  # sum of the k-subset at least as large as observed
    lower = dist[sums <= s_obs].sum()
    x_large, x_small = (upper, lower) if k == n_x else (lower, upper)
    p = {
        "greater": x_large,
        "less": x_small,
        "two-sided": min(1.0, 2 * min(x_large, x_small)),
    }[alternative]
    return {"U": u, "auc": u / (n_x * ys.size), "p_value": float(min(p, 1.0))}


def roc_auc(positive: np.ndarray, negative: np.ndarray, *, alpha: float = 0.05) -> dict:
    """AUC of "higher value = positive group" (= U / (n_p n_n), ties count ½) with the
    Hanley–McNeil (1982) standard error and a Wald interval clipped to [0, 1]."""
    pos, neg = np.asarray(positive, float), np.asarray(negative, float)
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided", method="asymptotic").statistic
    auc = u / (pos.size * neg.size)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (pos.size - 1) * (q1 - auc**2) + (neg.size - 1) * (q2 - auc**2)) / (
        pos.size * neg.size
    )
    half = stats.norm.ppf(1 - alpha / 2) * np.sqrt(max(var, 0.0))
    return {
        "auc": float(auc),
        "lower": float(max(auc - half, 0.0)),
        "upper": float(min(auc + half, 1.0)),
    }


def compare_groups(
    df: pd.DataFrame, *, reference: str, value: str = "value", alpha: float = 0.05
) -> pd.DataFrame:
    """``reference`` against each other group: medians, ratio of medians, Mann–Whitney U and
    p (exact when both groups are small and untied, else asymptotic), Cliff's delta, ROC AUC
    with interval.

    Returns one row per comparison: ``group, reference, n_group, n_reference, median_group,
    median_reference, median_ratio, U, p_value, cliffs_delta, auc, auc_lower, auc_upper``."""
    g = _groups(df, value, "compare_groups")
    if reference not in g:
        raise LeptotwinError(
            "reference group not in the data",
            field="reference",
            value=reference,
            expected="one of " + ", ".join(g),
        )
    ref = g[reference]
    rows = []
    for name, v in g.items():
        if name == reference:
            continue
        res = stats.mannwhitneyu(ref, v, alternative="two-sided", method="auto")
        auc = roc_auc(ref, v, alpha=alpha)
        rows.append(
            {
                "group": name,
                "reference": reference,
                "n_group": v.size,
                "n_reference": ref.size,
                "median_group": float(np.median(v)),
                "median_reference": float(np.median(ref)),
                "median_ratio": float(np.median(ref) / np.median(v)),
                "U": float(res.statistic),
                "p_value": float(res.pvalue),
                "cliffs_delta": 2 * auc["auc"] - 1,
                "auc": auc["auc"],
                "auc_lower": auc["lower"],
                "auc_upper": auc["upper"],
            }
        )
    return pd.DataFrame(rows)


def plot_groups(
    df: pd.DataFrame,
    ax: Any = None,
    *,
    value: str = "value",
    log: bool = True,
    ylabel: str | None = None,
) -> Any:
    """Strip-and-box plot: one box per group, every sample as a jittered point."""
    import matplotlib.pyplot as plt

    g = _groups(df, value, "plot_groups")
    ax = ax if ax is not None else plt.gca()
    names = list(g)
    ax.boxplot([g[n] for n in names], showfliers=False, widths=0.5)
    rng = np.random.default_rng(0)  # jitter only: fixed for identical figures
    for i, n in enumerate(names, start=1):
        ax.scatter(
            i + rng.uniform(-0.12, 0.12, g[n].size), g[n], s=12, alpha=0.8, color=f"C{i - 1}"
        )
    # long group names wrapped (at spaces and hyphens) so neighbouring labels do not collide
    labels = [f"{textwrap.fill(str(n), 18)}\n(n = {g[n].size})" for n in names]
    ax.set_xticks(range(1, len(names) + 1), labels, fontsize=7)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel or value)
    return ax
