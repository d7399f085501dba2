"""Survival analysis of a mouse study: Kaplan–Meier, median survival, log-rank tests with
multiplicity adjustment, Cox proportional hazards, and the Kaplan–Meier figure.

Built on lifelines (``KaplanMeierFitter``, ``logrank_test``, ``multivariate_logrank_test``,
``CoxPHFitter``); the answers match R ``survival`` (``survfit`` with ``conf.type = "log-log"``,
``survdiff``, ``coxph`` with Efron ties).

Input table: one row per mouse with ``mouse, arm, time_days, event`` (event 1 = endpoint reached,
0 = censored at ``time_days``).

Degenerate inputs have defined answers: an arm without events has a flat KM curve at 1 and a
median of ``inf`` ("not reached", ``reached = False``); a pair of arms with no events at all has
log-rank statistic 0 and p = 1; a single arm gives empty pairwise and Cox tables with the right
columns; a Cox fit that does not converge (e.g. an arm without events, complete separation)
reports ``converged = False`` and the reason in ``message`` instead of raising.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from leptotwin._checks import check_alpha, check_reference, plain
from leptotwin.errors import LeptotwinError

__all__ = [
    "PAIRWISE_ADJUSTMENTS",
    "adjust_pvalues",
    "cox_hazard_ratios",
    "kaplan_meier",
    "median_survival",
    "multigroup_logrank",
    "pairwise_logrank",
    "plot_km",
]

PAIRWISE_ADJUSTMENTS = ("holm", "bonferroni")
_COLUMNS = ("mouse", "arm", "time_days", "event")


# ---------------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------------
def _check(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate the survival table; return a clean copy (arm as str, time float, event int)."""
    if not isinstance(df, pd.DataFrame):
        raise LeptotwinError(
            "survival data must be a DataFrame", source=source, value=type(df).__name__
        )
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise LeptotwinError(
            "survival table lacks columns",
            source=source,
            field=", ".join(missing),
            expected="columns " + ", ".join(_COLUMNS),
        )
    if len(df) == 0:
        raise LeptotwinError("survival table has no rows", source=source)
    out = df.loc[:, list(_COLUMNS)].copy()
    time = pd.to_numeric(out["time_days"], errors="coerce").astype(float).to_numpy()
    bad = ~np.isfinite(time)
    if bad.any():
        raise LeptotwinError(
            "non-numeric or missing time",
            source=source,
            field="time_days",
            value=plain(df["time_days"].iloc[int(np.flatnonzero(bad)[0])]),
            expected="finite numbers >= 0",
        )
    if (time < 0).any():
        raise LeptotwinError(
            "negative time",
            source=source,
            field="time_days",
            value=float(time.min()),
            expected="times >= 0 (days from inoculation or randomisation)",
        )
    event = pd.to_numeric(out["event"], errors="coerce").astype(float).to_numpy()
    bad = ~np.isin(event, (0.0, 1.0))
    if bad.any():
        raise LeptotwinError(
            "event must be 0 or 1",
            source=source,
            field="event",
            value=plain(df["event"].iloc[int(np.flatnonzero(bad)[0])]),
            expected="1 = endpoint reached, 0 = censored",
        )
    if out["mouse"].isna().any() or out["arm"].isna().any():
        raise LeptotwinError("missing mouse or arm label", source=source, field="mouse/arm")
    dup = out["mouse"].duplicated(keep=False)
    if dup.any():
        raise LeptotwinError(
            "duplicated mouse rows",
            source=source,
            field="mouse",
            value=str(out.loc[dup, "mouse"].iloc[0]),
            expected="one row per mouse",
        )
    out["time_days"] = time
    out["event"] = event.astype(int)
    out["arm"] = out["arm"].astype(str)
    return out.reset_index(drop=True)


def _arms(t: pd.DataFrame) -> list[str]:
    return list(pd.unique(t["arm"]))


def _kmf(g: pd.DataFrame, arm: str, alpha: float) -> Any:
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=alpha, label=arm).fit(
        g["time_days"].to_numpy(), g["event"].to_numpy()
    )


# ---------------------------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------------------------
def kaplan_meier(df: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan–Meier estimate per arm.

    Confidence intervals are lifelines' exponential Greenwood (log-log) intervals, the same as R
    ``survfit(..., conf.type = "log-log")``.

    Returns
    -------
    DataFrame
        One row per arm and distinct time (including time 0): ``arm, time_days, n_at_risk,
        n_events, n_censored, survival, lower, upper``; arms in order of first appearance.
        ``n_at_risk`` counts mice at risk just before ``time_days``.

    Raises
    ------
    LeptotwinError
        Missing columns, non-numeric or negative times, event not 0/1, duplicated mice, bad alpha.
    """
    a = check_alpha(alpha, "kaplan_meier")
    t = _check(df, "kaplan_meier")
    parts = []
    for arm in _arms(t):
        kmf = _kmf(t[t["arm"] == arm], arm, a)
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_
        et = kmf.event_table.reindex(sf.index)
        parts.append(
            pd.DataFrame(
                {
                    "arm": arm,
                    "time_days": sf.index.to_numpy(dtype=float),
                    "n_at_risk": et["at_risk"].fillna(0).to_numpy(dtype=int),
                    "n_events": et["observed"].fillna(0).to_numpy(dtype=int),
                    "n_censored": et["censored"].fillna(0).to_numpy(dtype=int),
                    "survival": sf.to_numpy(dtype=float),
                    "lower": ci.iloc[:, 0].to_numpy(dtype=float),
                    "upper": ci.iloc[:, 1].to_numpy(dtype=float),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def median_survival(df: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Median survival per arm with its (1 - alpha) confidence interval.

    The CI is where the KM confidence band crosses 0.5 (lifelines ``median_survival_times``, the
    construction R ``survfit`` uses). The median is the first time at which the KM estimate is
    <= 0.5 (lifelines' convention; R takes the midpoint when the curve sits exactly at 0.5 over
    an interval). A median that is not reached is
    ``inf`` with ``reached = False``; so is an upper bound that is not reached.

    Returns
    -------
    DataFrame
        ``arm, n, events, median_days, lower, upper, reached``.
    """
    from lifelines.utils import median_survival_times

    a = check_alpha(alpha, "median_survival")
    t = _check(df, "median_survival")
    rows = []
    for arm in _arms(t):
        g = t[t["arm"] == arm]
        kmf = _kmf(g, arm, a)
        med = float(kmf.median_survival_time_)
        ci = median_survival_times(kmf.confidence_interval_)
        lo, hi = (float(v) for v in np.asarray(ci, dtype=float).ravel()[:2])
        rows.append((arm, len(g), int(g["event"].sum()), med, lo, hi, math.isfinite(med)))
    out = pd.DataFrame(
        rows, columns=["arm", "n", "events", "median_days", "lower", "upper", "reached"]
    )
    return out.astype({"n": int, "events": int, "reached": bool})


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
def adjust_pvalues(p: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjust p-values for multiple comparisons (family-wise error rate).

    ``"holm"``: Holm's step-down method — sort ascending, multiply the i-th smallest (1-based) by
    ``m - i + 1``, take the running maximum and cap at 1. ``"bonferroni"``: ``min(1, m p)``.

    Parameters
    ----------
    p : sequence of float
        Raw p-values in [0, 1].
    method : {"holm", "bonferroni"}

    Returns
    -------
    ndarray
        Adjusted p-values in the input order.
    """
    if method not in PAIRWISE_ADJUSTMENTS:
        raise LeptotwinError(
            "unknown p-value adjustment",
            source="adjust_pvalues",
            field="method",
            value=method,
            expected=" or ".join(PAIRWISE_ADJUSTMENTS),
        )
    arr = np.asarray(p, dtype=float).ravel()
    if arr.size and not np.all((arr >= 0) & (arr <= 1)):
        raise LeptotwinError(
            "p-values must lie in [0, 1]",
            source="adjust_pvalues",
            field="p",
            value=arr[~((arr >= 0) & (arr <= 1))][0],
        )
    m = arr.size
    if method == "bonferroni":
        return np.minimum(1.0, arr * m)
    order = np.argsort(arr, kind="stable")
    scaled = arr[order] * (m - np.arange(m))
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m)
    out[order] = adjusted
    return out


def pairwise_logrank(
    df: pd.DataFrame, *, adjust: Sequence[str] = ("holm",), arms: Sequence[str] | None = None
) -> pd.DataFrame:
    """Log-rank test for every pair of arms, with multiplicity adjustment.

    Each pair is tested on its own mice (lifelines ``logrank_test``, identical to R
    ``survdiff``); the adjustment runs over all pairs tested. A pair without any event has
    statistic 0 and p = 1.

    Parameters
    ----------
    adjust : sequence of {"holm", "bonferroni"}
        Adjusted p-value columns to add (``p_holm``, ``p_bonferroni``).
    arms : sequence of str, optional
        Restrict to these arms (all arms by default), e.g. the arms of one claim.

    Returns
    -------
    DataFrame
        ``arm_a, arm_b, n_a, n_b, events_a, events_b, test_statistic, p_value`` and one
        ``p_<method>`` column per adjustment; zero rows (same columns) for fewer than two arms.
    """
    from lifelines.statistics import logrank_test

    source = "pairwise_logrank"
    methods = list(adjust)
    for m in methods:
        if m not in PAIRWISE_ADJUSTMENTS:
            raise LeptotwinError(
                "unknown p-value adjustment",
                source=source,
                field="adjust",
                value=m,
                expected="any of " + ", ".join(PAIRWISE_ADJUSTMENTS),
            )
    t = _check(df, source)
    names = _arms(t)
    if arms is not None:
        unknown = [a for a in arms if str(a) not in names]
        if unknown:
            raise LeptotwinError(
                "unknown arm",
                source=source,
                field="arms",
                value=unknown[0],
                expected="one of " + ", ".join(names),
            )
        names = [str(a) for a in arms]
    rows = []
    for a, b in combinations(names, 2):
        ga, gb = t[t["arm"] == a], t[t["arm"] == b]
        ea, eb = int(ga["event"].sum()), int(gb["event"].sum())
        if ea + eb == 0:
            stat, p = 0.0, 1.0
        else:
            r = logrank_test(
                ga["time_days"].to_numpy(),
                gb["time_days"].to_numpy(),
                event_observed_A=ga["event"].to_numpy(),
                event_observed_B=gb["event"].to_numpy(),
            )
            stat, p = float(r.test_statistic), float(r.p_value)
        rows.append((a, b, len(ga), len(gb), ea, eb, stat, p))
    cols = ["arm_a", "arm_b", "n_a", "n_b", "events_a", "events_b", "test_statistic", "p_value"]
    out = pd.DataFrame(rows, columns=cols).astype(
        {
            "arm_a": object,
            "arm_b": object,
            "n_a": int,
            "n_b": int,
            "events_a": int,
            "events_b": int,
            "test_statistic": float,
            "p_value": float,
        }
    )
    for m in methods:
        out[f"p_{m}"] = adjust_pvalues(out["p_value"].to_numpy(), m)
    return out


def multigroup_logrank(df: pd.DataFrame) -> pd.DataFrame:
    """k-group log-rank test of equal survival in all arms (R ``survdiff(Surv ~ arm)``).

    Returns
    -------
    DataFrame
        One row: ``n_arms, test_statistic, degrees_of_freedom, p_value``. With a single arm, or
        with no events at all, the statistic is 0 and p = 1.
    """
    from lifelines.statistics import multivariate_logrank_test

    t = _check(df, "multigroup_logrank")
    k = len(_arms(t))
    if k < 2 or t["event"].sum() == 0:
        stat, p = 0.0, 1.0
    else:
        r = multivariate_logrank_test(
            t["time_days"].to_numpy(), t["arm"].to_numpy(), t["event"].to_numpy()
        )
        stat, p = float(r.test_statistic), float(r.p_value)
    return pd.DataFrame(
        {
            "n_arms": [k],
            "test_statistic": [stat],
            "degrees_of_freedom": [max(k - 1, 0)],
            "p_value": [p],
        }
    )


# ---------------------------------------------------------------------------------------------
# Cox
# ---------------------------------------------------------------------------------------------
_COX_COLUMNS = [
    "arm",
    "reference",
    "hazard_ratio",
    "lower",
    "upper",
    "log_hr",
    "se_log_hr",
    "p_value",
    "converged",
    "message",
]


def cox_hazard_ratios(
    df: pd.DataFrame, *, reference: str | None = None, alpha: float = 0.05
) -> pd.DataFrame:
    """Cox proportional hazards with the arm as a categorical covariate.

    Fits ``h(t) = h0(t) exp(sum_k beta_k [arm = k])`` with treatment coding against ``reference``
    (lifelines ``CoxPHFitter``, Efron ties, no penaliser) and reports hazard ratios
    ``exp(beta_k)`` with Wald (1 - alpha) CIs and p-values.

    Parameters
    ----------
    reference : str, optional
        The comparator arm; the first arm in the data by default.

    Returns
    -------
    DataFrame
        One row per non-reference arm: ``arm, reference, hazard_ratio, lower, upper, log_hr,
        se_log_hr, p_value, converged, message``. Zero rows with these columns for a single arm.
        Without any event, or when the fit fails, the values are NaN and ``converged`` is False;
        when lifelines warns (e.g. an arm without events: complete separation, HR -> 0 with an
        unbounded CI) the estimates are kept, ``converged`` is False and ``message`` quotes the
        warning.
    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    source = "cox_hazard_ratios"
    a = check_alpha(alpha, source)
    t = _check(df, source)
    names = _arms(t)
    ref = check_reference(reference, names, source)
    others = [n for n in names if n != ref]
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in _COX_COLUMNS}).astype(
        {
            "hazard_ratio": float,
            "lower": float,
            "upper": float,
            "log_hr": float,
            "se_log_hr": float,
            "p_value": float,
            "converged": bool,
        }
    )
    if not others:
        return empty

    def failed(message: str) -> pd.DataFrame:
        nan = math.nan
        rows = [(arm, ref, nan, nan, nan, nan, nan, nan, False, message) for arm in others]
        return pd.DataFrame(rows, columns=_COX_COLUMNS)

    if t["event"].sum() == 0:
        return failed("no events: hazard ratios are not estimable")
    design = pd.DataFrame({"time_days": t["time_days"].to_numpy(), "event": t["event"].to_numpy()})
    cov_names = [f"arm_{i}" for i in range(len(others))]
    for name, arm in zip(cov_names, others, strict=True):
        design[name] = (t["arm"] == arm).to_numpy(dtype=float)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph = CoxPHFitter(alpha=a).fit(design, "time_days", "event")
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as exc:
            return failed(f"Cox fit failed: {str(exc).splitlines()[0]}")
    label = dict(zip(cov_names, others, strict=True))
    notes = [
        re.sub(r"\barm_\d+\b", lambda m: f"arm {label.get(m.group(0), m.group(0))!r}", first)
        for first in (_first_sentence(str(w.message)) for w in caught)
    ]
    summary = cph.summary
    lo_col = next(c for c in summary.columns if c.startswith("exp(coef) lower"))
    hi_col = next(c for c in summary.columns if c.startswith("exp(coef) upper"))
    rows = []
    for name, arm in zip(cov_names, others, strict=True):
        s = summary.loc[name]
        rows.append(
            (
                arm,
                ref,
                float(s["exp(coef)"]),
                float(s[lo_col]),
                float(s[hi_col]),
                float(s["coef"]),
                float(s["se(coef)"]),
                float(s["p"]),
                not notes,
                "; ".join(dict.fromkeys(notes)),
            )
        )
    return pd.DataFrame(rows, columns=_COX_COLUMNS)


def _first_sentence(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    head, dot, _ = line.partition(". ")
    return head + ("." if dot else "")


# ---------------------------------------------------------------------------------------------
# figure
# ---------------------------------------------------------------------------------------------
def plot_km(df: pd.DataFrame, ax: Any = None, *, alpha: float = 0.05, ci: bool = True) -> Any:
    """Kaplan–Meier step curves per arm with censoring ticks and (1 - alpha) CI bands.

    Parameters
    ----------
    df : DataFrame
        ``mouse, arm, time_days, event``.
    ax : matplotlib Axes, optional
        Drawn into a new figure when omitted.
    ci : bool
        Draw the confidence bands.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    a = check_alpha(alpha, "plot_km")
    t = _check(df, "plot_km")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for i, arm in enumerate(_arms(t)):
        color = colors[i % len(colors)]
        g = t[t["arm"] == arm]
        kmf = _kmf(g, arm, a)
        sf = kmf.survival_function_.iloc[:, 0]
        x, y = sf.index.to_numpy(dtype=float), sf.to_numpy(dtype=float)
        ax.step(x, y, where="post", color=color, lw=1.6, label=f"{arm} (n={len(g)})")
        if ci:
            band = kmf.confidence_interval_
            ax.fill_between(
                x,
                band.iloc[:, 0].to_numpy(dtype=float),
                band.iloc[:, 1].to_numpy(dtype=float),
                step="post",
                color=color,
                alpha=0.15,
                lw=0,
            )
        cens = g.loc[g["event"] == 0, "time_days"].to_numpy()
        if cens.size:
            ax.plot(
                cens,
                kmf.survival_function_at_times(cens).to_numpy(dtype=float),
                ls="none",
                marker="|",
                ms=8,
                mew=1.2,
                color=color,
            )
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("days")
    ax.set_ylabel("survival probability")
    ax.legend(frameon=False, fontsize="small")
    return ax
