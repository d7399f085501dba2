"""A batched Levenberg–Marquardt least-squares solver in numpy.

Many small, independent problems (one per curve) are solved at once: every array has the curve
as its first axis, each curve has its own damping, and curves drop out of the working set as
they converge. There is no Python loop over curves. Ragged data are padded, with the padding
given zero residual and zero Jacobian by the residual function.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FitStatus", "LMResult", "levenberg_marquardt", "solve_spd"]

Array = NDArray[np.float64]
ResidualFn = Callable[..., tuple[Array, Array]]


class FitStatus(enum.Enum):
    """Outcome of one curve's fit; each value is the message shown to the user.

    The solvers set ``CONVERGED``, ``MAX_ITER``, ``FAILED`` and ``INSUFFICIENT_DATA``;
    ``FLAT`` is set afterwards by :class:`~leptotwin.analysis.doseresponse.DoseResponseFitter`
    for a fitted curve without dose dependence (codes are positions, so ``FLAT`` comes last).
    """

    CONVERGED = "converged"
    MAX_ITER = "reached max_iter before converging; raise max_iter or check the curve for outliers"
    FAILED = (
        "the fit failed (non-finite model values or no descent direction); check doses and "
        "responses, or try a model with fewer parameters"
    )
    INSUFFICIENT_DATA = (
        "too few observations or distinct doses for the model's parameters; add doses or fix "
        "parameters (e.g. LL.3 instead of LL.4)"
    )
    FLAT = (
        "flat: no dose dependence (the model fits no better than a constant mean: "
        "extra-sum-of-squares F-test not significant at the fitter's alpha, or every response "
        "equal); no IC50/ED is reported and the curve is the horizontal line at its mean"
    )

    @property
    def code(self) -> int:
        """Small integer used in per-curve status arrays."""
        return _CODES[self]


_CODES = {status: i for i, status in enumerate(FitStatus)}
STATUS_BY_CODE: tuple[FitStatus, ...] = tuple(FitStatus)


@dataclass(frozen=True)
class LMResult:
    """Result of :func:`levenberg_marquardt`.

    Attributes
    ----------
    theta : ndarray of shape (n, k)
        Parameters at the end (the best point visited).
    rss : ndarray of shape (n,)
        Residual sum of squares at ``theta``.
    status : ndarray of int8, shape (n,)
        ``FitStatus.code`` per problem.
    n_iter : ndarray of int, shape (n,)
        Iterations used.
    """

    theta: Array
    rss: Array
    status: NDArray[np.int8]
    n_iter: NDArray[np.int64]


def solve_spd(M: Array, rhs: Array) -> Array:
    """Solve ``M x = rhs`` for a stack of small symmetric positive-definite matrices.

    Written as a Cholesky factorisation over the (small) matrix axes, vectorised over the
    batch axis; rows whose matrix is not positive definite give NaN instead of raising.

    Parameters
    ----------
    M : ndarray of shape (n, k, k)
    rhs : ndarray of shape (n, k)

    Returns
    -------
    ndarray of shape (n, k)
    """
    n, k, _ = M.shape
    L = np.zeros_like(M)
    ok = np.ones(n, dtype=bool)
    for j in range(k):
        s = M[:, j, j] - np.einsum("ni,ni->n", L[:, j, :j], L[:, j, :j])
        ok &= s > 0
        L[:, j, j] = np.sqrt(np.where(s > 0, s, 1.0))
        for i in range(j + 1, k):
            dot = np.einsum("ni,ni->n", L[:, i, :j], L[:, j, :j])
            L[:, i, j] = (M[:, i, j] - dot) / L[:, j, j]
    z = np.empty_like(rhs)
    for i in range(k):
        z[:, i] = (rhs[:, i] - np.einsum("ni,ni->n", L[:, i, :i], z[:, :i])) / L[:, i, i]
    x = np.empty_like(rhs)
    for i in reversed(range(k)):
        tail = np.einsum("ni,ni->n", L[:, i + 1 :, i], x[:, i + 1 :])
        x[:, i] = (z[:, i] - tail) / L[:, i, i]
    x[~ok] = np.nan
    return x


def _normal_equations(r: Array, J: Array) -> tuple[Array, Array, Array]:
    """RSS (n,), ``J J^T`` (n, k, k) and ``J r`` (n, k) from residuals and Jacobian."""
    rss = np.einsum("nm,nm->n", r, r)
    A = J @ J.transpose(0, 2, 1)
    g = np.einsum("nkm,nm->nk", J, r)
    return rss, A, g


def levenberg_marquardt(
    fun: ResidualFn,
    theta0: Array,
    data: tuple[Array, ...],
    *,
    max_iter: int = 200,
    ftol: float = 1e-12,
    xtol: float = 1e-10,
    gtol: float = 1e-10,
) -> LMResult:
    """Minimise ``sum(r**2)`` for each of ``n`` independent problems.

    Parameters
    ----------
    fun : callable
        ``fun(theta, *data) -> (r, J)`` with ``theta`` (n', k), residuals ``r = y - f`` of
        shape (n', m) and Jacobian ``J = df/dtheta`` of shape (n', k, m), for any row subset
        of the problems (the solver passes matching rows of every ``data`` array).
    theta0 : ndarray of shape (n, k)
        Starting points.
    data : tuple of ndarray
        Per-problem arrays with ``n`` rows, passed on to ``fun``.
    max_iter : int
        Iterations per problem.
    ftol, xtol, gtol : float
        Converged when an accepted step lowers the RSS by at most ``ftol`` relative (actual
        and predicted), when the step is at most ``xtol`` relative to ``|theta|``, or when the
        cosine between residuals and every Jacobian column is at most ``gtol``
        (MINPACK's criteria).

    Returns
    -------
    LMResult
        Never raises for a bad problem: its status says what happened.
    """
    n, k = theta0.shape
    out_theta = np.array(theta0, dtype=float)
    out_rss = np.full(n, np.nan)
    out_status = np.full(n, FitStatus.MAX_ITER.code, dtype=np.int8)
    out_iter = np.full(n, max_iter, dtype=np.int64)

    idx = np.arange(n)
    theta = out_theta.copy()
    r, J = fun(theta, *data)
    rss, A, g = _normal_equations(r, J)
    finite = np.isfinite(rss) & np.isfinite(A).all(axis=(1, 2))
    out_rss[:] = rss
    out_status[~finite] = FitStatus.FAILED.code
    out_iter[~finite] = 0
    keep = finite
    idx, theta, rss, A, g = idx[keep], theta[keep], rss[keep], A[keep], g[keep]
    data = tuple(a[keep] for a in data)
    diag_idx = np.arange(k)
    D = A[:, diag_idx, diag_idx].copy()
    lam = np.full(idx.size, 1e-3)
    nu = np.full(idx.size, 2.0)
    live = np.ones(idx.size, dtype=bool)

    for it in range(1, max_iter + 1):
        if idx.size == 0:
            break
        scale = np.maximum(D, 1e-12 * D.max(axis=1, keepdims=True) + 1e-300)
        M = A.copy()
        M[:, diag_idx, diag_idx] += lam[:, None] * scale
        try:
            delta = np.linalg.solve(M, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular matrix somewhere in the stack
            delta = solve_spd(M, g)
        theta_new = theta + delta
        with np.errstate(over="ignore", invalid="ignore"):
            r_new, J_new = fun(theta_new, *data)
            rss_new, A_new, g_new = _normal_equations(r_new, J_new)
            pred = np.einsum("nk,nk->n", delta, g + lam[:, None] * scale * delta)
        ok = np.isfinite(rss_new) & (rss_new <= rss) & np.isfinite(A_new).all(axis=(1, 2))
        actual = rss - rss_new
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(ok, actual / pred, 0.0)
        lam = np.where(ok, lam * np.maximum(1 / 3, 1 - (2 * rho - 1) ** 3), lam * nu)
        nu = np.where(ok, 2.0, nu * 2.0)

        rss_old = rss
        step = np.sqrt(np.einsum("nk,nk->n", delta, delta))
        size = np.sqrt(np.einsum("nk,nk->n", theta, theta))
        theta = np.where(ok[:, None], theta_new, theta)
        rss = np.where(ok, rss_new, rss)
        A = np.where(ok[:, None, None], A_new, A)
        g = np.where(ok[:, None], g_new, g)
        D = np.where(ok[:, None], np.maximum(D, A[:, diag_idx, diag_idx]), D)

        with np.errstate(divide="ignore", invalid="ignore"):
            cos = np.abs(g) / np.sqrt(A[:, diag_idx, diag_idx] * rss[:, None])
            cos_max = np.nanmax(np.where(np.isfinite(cos), cos, 0.0), axis=1)
        small_f = ok & (actual <= ftol * rss_old) & (pred <= ftol * rss_old)
        small_x = ok & (step <= xtol * (size + xtol))
        exact = rss <= 1e-28 * np.maximum(rss_old, 1e-300)
        conv = small_f | small_x | (cos_max <= gtol) | exact
        stalled = ~conv & (lam > 1e16)
        conv |= stalled & (cos_max <= 1e-6)
        done = live & (conv | stalled)
        if done.any():
            gi = idx[done]
            out_theta[gi] = theta[done]
            out_rss[gi] = rss[done]
            out_status[gi] = np.where(conv[done], FitStatus.CONVERGED.code, FitStatus.FAILED.code)
            out_iter[gi] = it
            live &= ~done
        if live.sum() < 0.9 * live.size:
            idx, theta, rss, A, g, D, lam, nu = (
                a[live] for a in (idx, theta, rss, A, g, D, lam, nu)
            )
            data = tuple(a[live] for a in data)
            live = np.ones(idx.size, dtype=bool)

    gi = idx[live]
    out_theta[gi] = theta[live]
    out_rss[gi] = rss[live]
    return LMResult(out_theta, out_rss, out_status, out_iter)
