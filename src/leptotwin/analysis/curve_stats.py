"""Statistics derived from fitted dose-response curves: pointwise bands and the dose at a
fraction of the fitted top, each with delta-method uncertainty from the fit's covariance."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from leptotwin.analysis._drfit import delta_method

__all__ = ["dose_at_top_fraction", "prediction_band"]


def dose_at_top_fraction(fitter: Any, *, fraction: float = 0.5) -> dict[str, np.ndarray]:
    """Dose at which each fitted curve falls to ``fraction`` of its fitted top (dose-0 level).

    This is the "absolute" IC50 when ``fraction`` is 0.5 and the data are % of vehicle, but
    measured against the *fitted* top instead of the fixed 100 %: the uncertainty of the vehicle
    mean, which the normalisation hides, is then part of the fit and of the interval. Solved in
    closed form (the model's inverse at the level ``fraction * top``); intervals by the delta
    method (t with the residual degrees of freedom). NaN where the curve never reaches that
    level, and for a flat curve (status ``flat``: no dose dependence, so no such dose).

    Returns
    -------
    dict with arrays of shape (n_curves,): ``estimate, se, lower, upper``.
    """
    model = fitter.model

    def dose(params: np.ndarray) -> np.ndarray:
        top = model.predict(params, np.zeros((len(params), 1)))[:, 0]
        return np.exp(model.log_dose_at_level(params, fraction * top))

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        est, se = delta_method(dose, fitter.params_.to_numpy(float), fitter.cov_)
    flat = fitter.qc_["flat"].to_numpy(bool)
    est, se = np.where(flat, np.nan, est), np.where(flat, np.nan, se)
    dof = fitter.df_resid_.to_numpy(float)
    t = np.where(dof > 0, stats.t.ppf(1 - fitter.alpha / 2, np.maximum(dof, 1)), np.nan)
    return {"estimate": est, "se": se, "lower": est - t * se, "upper": est + t * se}


def prediction_band(
    fitter: Any, curve: Any, dose: ArrayLike, *, alpha: float | None = None
) -> dict[str, np.ndarray]:
    """Fitted mean response of one curve over ``dose`` with a pointwise (1 − alpha) band.

    The variance of the fitted mean at each dose is ``g' Σ g`` with ``g`` the gradient of the
    model in its parameters (central differences, as in the effective-dose intervals) and ``Σ``
    the fit's covariance; the band uses the t quantile with the curve's residual degrees of
    freedom. A flat curve (status ``flat``) is the horizontal line at its mean response, with
    no band (``lower`` and ``upper`` NaN): there is no dose-response curve to be uncertain
    about.

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
    x = np.asarray(dose, dtype=float).reshape(-1, 1)
    if bool(fitter.qc_["flat"].iloc[i]):
        line = fitter.predict(x[:, 0]).iloc[i].to_numpy(float)
        none = np.full(line.shape, np.nan)
        return {"fit": line, "lower": none, "upper": none.copy()}
    theta = np.repeat(fitter.params_.to_numpy(float)[i : i + 1], len(x), axis=0)
    cov = np.repeat(fitter.cov_[i : i + 1], len(x), axis=0)
    fit, se = delta_method(lambda p: fitter.model.predict(p, x)[:, 0], theta, cov)
    dof = float(fitter.df_resid_.iloc[i])
    t = stats.t.ppf(1 - alpha / 2, dof) if dof > 0 else np.nan
    half = t * se
    return {"fit": fit, "lower": fit - half, "upper": fit + half}
