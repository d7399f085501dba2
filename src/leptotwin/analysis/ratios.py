"""Ratios of two independent estimates with delta-method intervals on the log scale."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["log_ratio_ci"]


def log_ratio_ci(
    num: ArrayLike,
    se_num: ArrayLike,
    den: ArrayLike,
    se_den: ArrayLike,
    *,
    df: ArrayLike,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Ratio ``num / den`` of independent positive estimates with a (1 − alpha) interval.

    On the log scale ``se(log R)² = (se_num / num)² + (se_den / den)²``; the interval
    ``R · exp(± t_{1−α/2, df} · se(log R))`` is asymmetric on the ratio scale and never crosses 0.
    Inputs broadcast; NaN or non-positive estimates give NaN.

    Returns
    -------
    dict with arrays ``estimate, lower, upper, log_se`` and ``p_value`` (two-sided t-test of
    log R = 0).
    """
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    se_num, se_den = np.asarray(se_num, dtype=float), np.asarray(se_den, dtype=float)
    ok = (num > 0) & (den > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ok, num / den, np.nan)
        log_se = np.where(ok, np.sqrt((se_num / num) ** 2 + (se_den / den) ** 2), np.nan)
        t = stats.t.ppf(1 - alpha / 2, np.asarray(df, dtype=float))
        lower, upper = ratio * np.exp(-t * log_se), ratio * np.exp(t * log_se)
        p = 2 * stats.t.sf(np.abs(np.log(ratio) / log_se), np.asarray(df, dtype=float))
    return {"estimate": ratio, "lower": lower, "upper": upper, "log_se": log_se, "p_value": p}
