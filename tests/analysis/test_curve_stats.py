"""Curve statistics (``curve_stats``) and ratio intervals (``ratios``) against hand formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from leptotwin.analysis.curve_stats import dose_at_top_fraction, prediction_band
from leptotwin.analysis.doseresponse import DoseResponseFitter
from leptotwin.analysis.ratios import log_ratio_ci


def _ll4_fit(seed: int) -> DoseResponseFitter:
    """Three noisy LL.4 curves (b > 0, decreasing) with bottoms 5, 20 and 60 % of a 100 % top."""
    rng = np.random.default_rng(seed)
    dose = np.repeat(np.r_[0.0, np.logspace(-3, 2, 8)], 3)
    frames = []
    for label, (b, c, e) in {
        "A": (1.2, 5.0, 0.1),
        "B": (2.0, 20.0, 1.0),
        "C": (1.0, 60.0, 3.0),
    }.items():
        with np.errstate(divide="ignore"):
            y = c + (100.0 - c) / (1 + (dose / e) ** b)
        frames.append(
            pd.DataFrame({"curve": label, "dose": dose, "response": y + rng.normal(0, 2, y.size)})
        )
    return DoseResponseFitter("LL.4").fit(pd.concat(frames, ignore_index=True))


def _half_top_dose(par: np.ndarray, fraction: float) -> np.ndarray:
    """LL.4 solved by hand: c + (d - c) / (1 + (x/e)^b) = fraction * d."""
    b, c, d, e = par.T
    with np.errstate(invalid="ignore"):
        return e * ((d - c) / (fraction * d - c) - 1.0) ** (1.0 / b)


def test_dose_at_top_fraction_matches_the_hand_formula() -> None:
    fit = _ll4_fit(4)
    par = fit.params_[["b", "c", "d", "e"]].to_numpy()
    res = dose_at_top_fraction(fit, fraction=0.5)
    expected = _half_top_dose(par, 0.5)
    assert np.isnan(expected[2])  # curve C stops at 60 %: never reaches half the top
    np.testing.assert_allclose(res["estimate"], expected, rtol=1e-10, equal_nan=True)
    # delta method with a gradient of the hand formula (central differences, other step)
    se = np.full(3, np.nan)
    for i in range(2):
        grad = np.empty(4)
        for j in range(4):
            h = 1e-5 * abs(par[i, j])
            up, dn = par[i].copy(), par[i].copy()
            up[j] += h
            dn[j] -= h
            grad[j] = (_half_top_dose(up[None], 0.5) - _half_top_dose(dn[None], 0.5))[0] / (2 * h)
        se[i] = np.sqrt(grad @ fit.cov_[i] @ grad)
    np.testing.assert_allclose(res["se"], se, rtol=1e-5, equal_nan=True)
    t = stats.t.ppf(0.975, fit.df_resid_.to_numpy())
    np.testing.assert_allclose(res["upper"] - res["estimate"], t * se, rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(res["estimate"] - res["lower"], t * se, rtol=1e-5, equal_nan=True)


def test_prediction_band_at_dose_zero_and_at_the_ed50() -> None:
    """Dose 0: the fit is d and only d varies, so the half-width is t·se(d). Dose e: the fit is
    (c + d) / 2 with gradient (0, 1/2, 1/2, (d - c) b / (4 e)) in (b, c, d, e)."""
    fit = _ll4_fit(5)
    b, c, d, e = fit.params_.loc["B", ["b", "c", "d", "e"]]
    cov = fit.cov_[fit.curves_.get_loc("B")]
    t = stats.t.ppf(0.9, fit.df_resid_["B"])
    band = prediction_band(fit, "B", [0.0, e], alpha=0.2)
    np.testing.assert_allclose(band["fit"], [d, (c + d) / 2], rtol=1e-12)
    grad = np.array([0.0, 0.5, 0.5, (d - c) * b / (4 * e)])
    half = t * np.sqrt([cov[2, 2], grad @ cov @ grad])
    np.testing.assert_allclose(band["upper"] - band["fit"], half, rtol=1e-5)
    np.testing.assert_allclose(band["fit"] - band["lower"], half, rtol=1e-5)


def test_log_ratio_ci_by_hand() -> None:
    """10 ± 1 over 5 ± 0.5: R = 2, se(log R) = sqrt(0.1² + 0.1²); 12 df."""
    r = log_ratio_ci([10.0, -1.0], [1.0, 1.0], [5.0, 5.0], [0.5, 0.5], df=12, alpha=0.1)
    log_se = np.sqrt(0.02)
    t = stats.t.ppf(0.95, 12)
    assert r["estimate"][0] == pytest.approx(2.0)
    assert r["log_se"][0] == pytest.approx(log_se)
    assert r["lower"][0] == pytest.approx(2.0 * np.exp(-t * log_se))
    assert r["upper"][0] == pytest.approx(2.0 * np.exp(t * log_se))
    assert r["p_value"][0] == pytest.approx(2 * stats.t.sf(np.log(2.0) / log_se, 12))
    assert all(np.isnan(r[k][1]) for k in ("estimate", "lower", "upper", "log_se", "p_value"))
