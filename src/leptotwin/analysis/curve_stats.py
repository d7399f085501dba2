"""Statistics derived from fitted dose-response curves: pointwise bands and the dose at a
fraction of the fitted top, each with delta-method uncertainty from the fit's covariance."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["dose_at_top_fraction", "prediction_band"]


def _gradient(fun, theta: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Central-difference gradient of ``fun(theta) -> ndarray`` (relative step 1e-6)."""
    base = np.asarray(fun(theta), dtype=float)
    grads = np.empty((theta.size, *base.shape))
    for j in range(theta.size):
        h = 1e-6 * max(abs(theta[j]), 1e-3)
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        grads[j] = (np.asarray(fun(up)) - np.asarray(fun(dn))) / (2 * h)
    return grads


def dose_at_top_fraction(fitter: Any, *, fraction: float = 0.5) -> dict[str, np.ndarray]:
    """Dose at which each fitted curve falls to ``fraction`` of its fitted top (dose-0 level).

    This is the "absolute" IC50 when ``fraction`` is 0.5 and the data are % of vehicle, but
    measured against the *fitted* top instead of the fixed 100 %: the uncertainty of the vehicle
    mean, which the normalisation hides, is then part of the fit and of the interval. Solved on a
    log-dose grid refined by bisection on the fitted curve; intervals by the delta method (t with
    the residual degrees of freedom). NaN where the curve never reaches that level.

    Returns
    -------
    dict with arrays of shape (n_curves,): ``estimate, se, lower, upper``.
    """
    n = len(fitter.curves_)
    est, se = np.full(n, np.nan), np.full(n, np.nan)
    names = list(fitter.params_.columns)

    def solve(theta: np.ndarray) -> float:
        top = float(fitter.model.predict(theta[None, :], np.array([0.0]))[0, 0])
        lo, hi = np.log(1e-6), np.log(1e9)
        grid = np.linspace(lo, hi, 301)
        y = fitter.model.predict(theta[None, :], np.exp(grid))[0] - fraction * top
        sign = np.sign(y)
        cross = np.flatnonzero(sign[:-1] * sign[1:] < 0)
        if cross.size == 0:
            return np.nan
        a, b = grid[cross[0]], grid[cross[0] + 1]
        ya = y[cross[0]]
        for _ in range(60):
            m = 0.5 * (a + b)
            ym = fitter.model.predict(theta[None, :], np.array([np.exp(m)]))[0, 0] - fraction * top
            if np.sign(ym) == np.sign(ya):
                a, ya = m, ym
            else:
                b = m
        return float(np.exp(0.5 * (a + b)))

    for i in range(n):
        theta = fitter.params_.iloc[i].to_numpy(float)
        if not np.all(np.isfinite(theta)):
            continue
        est[i] = solve(theta)
        if np.isfinite(est[i]) and np.all(np.isfinite(fitter.cov_[i])):
            g = _gradient(lambda th: np.array(solve(th)), theta).reshape(len(names))
            se[i] = float(np.sqrt(max(g @ fitter.cov_[i] @ g, 0.0)))
    dof = fitter.qc_["df_resid"].to_numpy(float)
    t = np.where(dof > 0, stats.t.ppf(1 - fitter.alpha / 2, np.maximum(dof, 1)), np.nan)
    return {"estimate": est, "se": se, "lower": est - t * se, "upper": est + t * se}


def prediction_band(
    fitter: Any, curve: Any, dose: ArrayLike, *, alpha: float | None = None
) -> dict[str, np.ndarray]:
    """Fitted mean response of one curve over ``dose`` with a pointwise (1 − alpha) band.

    The variance of the fitted mean at each dose is ``g' Σ g`` with ``g`` the gradient of the
    model in its parameters (central differences, relative step 1e-6) and ``Σ`` the fit's
    covariance; the band uses the t quantile with the curve's residual degrees of freedom.

    Parameters
    ----------
    fitter : DoseResponseFitter
        A fitted fitter.
    curve : label
        One of ``fitter.curves_``.
    dose : array of shape (m,)

    Returns
    -------
    dict with arrays of shape (m,): ``fit, lower, upper``.
    """
    alpha = fitter.alpha if alpha is None else alpha
    i = fitter.curves_.get_loc(curve)
    theta = fitter.params_.iloc[i].to_numpy(float)
    cov = fitter.cov_[i]
    x = np.asarray(dose, dtype=float)
    fit = fitter.model.predict(theta[None, :], x)[0]
    grads = np.empty((theta.size, x.size))
    for j in range(theta.size):
        h = 1e-6 * max(abs(theta[j]), 1e-3)
        up, dn = theta.copy(), theta.copy()
        up[j] += h
        dn[j] -= h
        grads[j] = (
            fitter.model.predict(up[None, :], x)[0] - fitter.model.predict(dn[None, :], x)[0]
        ) / (2 * h)
    var = np.einsum("im,ij,jm->m", grads, cov, grads)
    dof = float(fitter.qc_.iloc[i]["df_resid"])
    t = stats.t.ppf(1 - alpha / 2, dof) if dof > 0 else np.nan
    half = t * np.sqrt(np.maximum(var, 0.0))
    return {"fit": fit, "lower": fit - half, "upper": fit + half}
