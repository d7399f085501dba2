"""Pointwise confidence bands of fitted dose-response curves (delta method)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["prediction_band"]


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
