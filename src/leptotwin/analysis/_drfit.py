"""The batched engine behind :class:`~leptotwin.analysis.doseresponse.DoseResponseFitter`.

Curves become padded arrays (:class:`CurveBatch`), are fitted together by the batched
Levenberg–Marquardt solver, and get drc's covariance matrix: ``2 s^2 H^{-1}`` with ``H`` the
observed Hessian of the RSS at the optimum (drc's ``vcov``; not Gauss–Newton's ``(J^T J)^{-1}``),
or a sandwich estimator on request. Nothing here loops over curves in Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from leptotwin.analysis import _kernels
from leptotwin.analysis._llmodels import DoseResponseModel, _LogLogistic, _Weibull1
from leptotwin.analysis._lmsolver import FitStatus, LMResult, levenberg_marquardt

__all__ = ["BatchFit", "CurveBatch", "delta_method", "fit_batch", "make_batch"]

Array = NDArray[np.float64]
_CONV = FitStatus.CONVERGED.code
_FAIL = FitStatus.FAILED.code


@dataclass(frozen=True)
class CurveBatch:
    """Ragged curves as padded arrays; ``n`` curves, at most ``m`` observations each.

    Attributes
    ----------
    t : ndarray of shape (n, m)
        Natural log of dose; 0 (a placeholder) at dose 0 and in padding.
    y : ndarray of shape (n, m)
        Response; 0 in padding.
    w : ndarray of shape (n, m)
        1.0 for an observation, 0.0 for padding.
    zero : ndarray of bool, shape (n, m)
        True where the dose is 0.
    n_obs, n_doses : ndarray of int, shape (n,)
        Observations and distinct doses (0 included) per curve.
    t_lo, t_hi : ndarray of shape (n,)
        Smallest and largest log of the positive doses (NaN if none).
    tss : ndarray of shape (n,)
        Total sum of squares about the curve's mean response.
    """

    t: Array
    y: Array
    w: Array
    zero: NDArray[np.bool_]
    n_obs: NDArray[np.int64]
    n_doses: NDArray[np.int64]
    t_lo: Array
    t_hi: Array
    tss: Array

    @property
    def n(self) -> int:
        """Number of curves."""
        return self.t.shape[0]

    def take(self, rows: NDArray[np.bool_] | NDArray[np.int64] | slice) -> CurveBatch:
        """The sub-batch of the given curves."""
        return CurveBatch(*(getattr(self, f.name)[rows] for f in fields(self)))


def make_batch(codes: NDArray[np.int64], dose: Array, response: Array, n_curves: int) -> CurveBatch:
    """Pad long-format observations into a :class:`CurveBatch`.

    Parameters
    ----------
    codes : ndarray of int, shape (N,)
        Curve number (0 .. n_curves-1) of each observation.
    dose : ndarray of shape (N,)
        Dose, >= 0 and finite.
    response : ndarray of shape (N,)
        Finite response.
    n_curves : int
        Number of curves (curves without observations get an empty row).
    """
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    dose = np.ascontiguousarray(dose, dtype=np.float64)
    response = np.ascontiguousarray(response, dtype=np.float64)
    with _numba_threads(None):
        return CurveBatch(*_kernels.pack_curves(codes, dose, response, int(n_curves)))


@dataclass(frozen=True)
class BatchFit:
    """Per-curve results of :func:`fit_batch` (``n`` curves, ``p`` free parameters).

    Attributes
    ----------
    params : ndarray of shape (n, p)
        drc-scale estimates (NaN where the fit failed).
    cov : ndarray of shape (n, p, p)
        Covariance of ``params`` (NaN where not available).
    rss : ndarray of shape (n,)
    status : ndarray of int8, shape (n,)
        :class:`FitStatus` codes.
    n_iter : ndarray of int, shape (n,)
    """

    params: Array
    cov: Array
    rss: Array
    status: NDArray[np.int8]
    n_iter: NDArray[np.int64]

    @staticmethod
    def concat(parts: list[BatchFit]) -> BatchFit:
        """Stack the results of consecutive chunks."""
        return BatchFit(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(BatchFit))
        )


# --------------------------------------------------------------------------- fitting
def _residual_fn(model: DoseResponseModel) -> Callable[..., tuple[Array, Array]]:
    def fun(theta: Array, t: Array, y: Array, w: Array, zero: Array) -> tuple[Array, Array]:
        f, J = model.evaluate(theta, t, zero)
        assert J is not None
        r = np.subtract(y, f, out=f)
        r *= w
        J *= w[:, None, :]
        return r, J

    return fun


def _solve(model: DoseResponseModel, theta0: Array, batch: CurveBatch, max_iter: int) -> LMResult:
    data = (batch.t, batch.y, batch.w, batch.zero)
    return levenberg_marquardt(_residual_fn(model), theta0, data, max_iter=max_iter)


def _needs_restart(
    model: DoseResponseModel, theta: Array, status: NDArray[np.int8], batch: CurveBatch
) -> NDArray[np.bool_]:
    """Curves whose first fit looks doubtful: not converged, e far outside the doses, steep b."""
    le = theta[:, model.names.index("e")]
    b = theta[:, model.names.index("b")]
    outside = (le < batch.t_lo - 1.0) | (le > batch.t_hi + 1.0)
    return (status != _CONV) | outside | (np.abs(b) > 10.0) | ~np.isfinite(le)


def _canonical(model: DoseResponseModel, params: Array) -> Array:
    """LL.4 is symmetric under (b, c, d) -> (-b, d, c); report the drc form with c <= d."""
    if not {"b", "c", "d"} <= set(model.names) or model.fixed.get("f", None) != 1.0:
        return params
    ib, ic, id_ = (model.names.index(k) for k in "bcd")
    flip = params[:, ic] > params[:, id_]
    out = params.copy()
    out[flip, ib] = -params[flip, ib]
    out[flip, ic] = params[flip, id_]
    out[flip, id_] = params[flip, ic]
    return out


def _parallel_map(fn: Callable[[Any], Any], items: list[Any], n_jobs: int | None) -> list[Any]:
    workers = min(n_jobs or os.cpu_count() or 1, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def _keep_better(
    state: tuple[Array, Array, NDArray[np.int8], NDArray[np.int64]],
    rows: NDArray[np.int64],
    alt: LMResult,
    *,
    always: bool = False,
) -> None:
    """Overwrite ``state`` rows where ``alt`` has a lower RSS (or ``always``), in place."""
    theta, rss, status, n_iter = state
    cur = np.where(status[rows] == _FAIL, np.inf, rss[rows])
    new = np.where(alt.status == _FAIL, np.inf, alt.rss)
    better = np.ones(rows.size, bool) if always else new < cur * (1 - 1e-12)
    sel = rows[better]
    theta[sel], rss[sel], status[sel] = alt.theta[better], alt.rss[better], alt.status[better]
    n_iter[sel] += alt.n_iter[better]


def _kernel_spec(model: DoseResponseModel) -> dict[str, Any] | None:
    """Arguments of :func:`_kernels.fit_curves` for ``model``, or None if it is not covered
    (a free or non-unit asymmetry ``f``, fixed ``b`` or ``e``, or a user-defined family)."""
    fixed = model.fixed
    if type(model)._g is _Weibull1._g and "f" not in model.family_names:
        weibull = True
    elif type(model)._g is _LogLogistic._g and fixed.get("f") == 1.0:
        weibull = False
    else:
        return None
    if "b" in fixed or "e" in fixed:
        return None
    c_free, d_free = "c" not in fixed, "d" not in fixed
    return {
        "weibull": weibull,
        "c_free": c_free,
        "d_free": d_free,
        "c_val": float(fixed.get("c", 0.0)),
        "d_val": float(fixed.get("d", 0.0)),
        "canonical": c_free and d_free and not weibull,
        "free": np.array(["bcde".index(name) for name in model.names], dtype=np.int64),
    }


class _numba_threads:
    """Context manager: run numba's parallel loops on ``n_jobs`` threads (None: all)."""

    def __init__(self, n_jobs: int | None) -> None:
        self.n_jobs = n_jobs
        self.saved = 0
        self.saved_chunk = 0

    def __enter__(self) -> None:
        self.saved = numba.get_num_threads()
        if self.n_jobs is not None:
            numba.set_num_threads(max(1, min(self.n_jobs, numba.config.NUMBA_NUM_THREADS)))
        # dynamic scheduling in small pieces (of 64 curves each), so that a core shared with
        # other work does not hold the whole batch back
        self.saved_chunk = numba.set_parallel_chunksize(4)

    def __exit__(self, *exc: object) -> None:
        numba.set_parallel_chunksize(self.saved_chunk)
        numba.set_num_threads(self.saved)


def fit_batch(
    model: DoseResponseModel,
    batch: CurveBatch,
    *,
    max_iter: int = 500,
    multistart: bool | None = None,
    grid: bool | None = False,
    se: str = "hessian",
    chunk_size: int = 20_000,
    n_jobs: int | None = None,
    match_drc: bool = False,
) -> BatchFit:
    """Fit ``model`` to every curve of ``batch``.

    ``LL.2``, ``LL.3``, ``LL.4`` and ``W1.4`` (with any of ``c``, ``d`` fixed) go to the compiled
    per-curve kernel (:func:`_kernels.fit_curves`: variable projection, damped Newton on
    ``(b, log e)``, self-starter plus two alternative starts for doubtful curves, and drc's
    covariance); other models (``LL.5``, fixed ``b``/``e``/``f``) to the batched numpy
    Levenberg–Marquardt solver (:func:`_fit_numpy`).

    Both signs of ``b`` are searched: where the flip ``(b, c, d) -> (-b, d, c)`` is not a
    symmetry of the model (every model but LL.4 with free ``c`` and ``d``), a decreasing curve
    can be fitted better with ``b < 0`` and ``c > d`` (and the reverse), so every curve is also
    fitted from starts on the other side of ``b = 0`` and the lower RSS is kept.
    ``match_drc=True`` searches only the side of the self-starter's slope, as R drc 3.2-0 does:
    its answer, a local optimum where the global one has the other sign.

    Parameters
    ----------
    model : DoseResponseModel
    batch : CurveBatch
    max_iter : int
        Iterations per start.
    multistart : bool or None
        Refit every curve from the alternative starts (True), or only doubtful ones (not
        converged, e more than one log unit beyond the tested doses, ``|b| > 10``; False).
        None: the compiled kernel refits doubtful curves and searches the grid for poor ones
        (``grid=None``); the numpy engine refits every curve. Both are per-curve rules, so a
        curve's fit never depends on the batch.
    match_drc : bool
        Keep the self-starter's sign of ``b`` (drc's answer) instead of the lower RSS of both
        signs.
    grid : bool or None
        Also start from the best point of a grid over ``(b, log e)`` with ``c, d`` profiled out
        (compiled kernel only; the numpy engine ignores it): every curve (True), or (None) only
        curves whose fit is doubtful or explains less than 90 % of the variance. Finds the
        global least-squares optimum on ragged curves where the self-starter lands in a local
        one.
    se : {"hessian", "sandwich"}
        Covariance estimator, see :func:`covariance`.
    chunk_size : int
        Curves per chunk of the numpy solver and of numpy covariance computations (bounds
        memory: about ``chunk_size * m * p * 8`` bytes per array).
    n_jobs : int or None
        Threads; None uses every core.

    Returns
    -------
    BatchFit
    """
    spec = _kernel_spec(model)
    if spec is None:
        return _fit_numpy(
            model,
            batch,
            max_iter=max_iter,
            multistart=multistart,
            se=se,
            chunk_size=chunk_size,
            n_jobs=n_jobs,
            both_signs=not match_drc,
        )
    n, p = batch.n, model.n_params
    enough = (batch.n_obs > p) & (batch.n_doses >= p) & np.isfinite(batch.t_lo)
    rows = np.flatnonzero(enough)
    if multistart is None:  # decided per curve, so a curve's fit never depends on the batch
        multistart, grid = False, None
    with _numba_threads(n_jobs):
        est, cov_r, rss_r, status_r, iter_r, fallback = _kernels.fit_curves(
            batch.t,
            batch.y,
            batch.zero,
            batch.n_obs,
            rows,
            batch.t_lo,
            batch.t_hi,
            max_iter=int(max_iter),
            multistart=bool(multistart),
            grid=2 if grid is None else int(bool(grid)),
            sign_mode=int(bool(match_drc)),
            **spec,
        )
    redo = np.arange(rows.size) if se == "sandwich" else np.flatnonzero(fallback)
    for i in range(0, redo.size, chunk_size):  # chunks of curves, not a loop over curves
        sel = redo[i : i + chunk_size]
        with np.errstate(all="ignore"):  # degenerate fits (e beyond float range) give NaN
            cov_r[sel] = covariance(model, est[sel], batch.take(rows[sel]), rss_r[sel], kind=se)
    if rows.size == n:
        return BatchFit(est, cov_r, rss_r, status_r, iter_r)
    params = np.full((n, p), np.nan)
    cov = np.full((n, p, p), np.nan)
    rss = np.full(n, np.nan)
    status = np.full(n, FitStatus.INSUFFICIENT_DATA.code, dtype=np.int8)
    n_iter = np.zeros(n, dtype=np.int64)
    params[rows], cov[rows], rss[rows], status[rows], n_iter[rows] = (
        est,
        cov_r,
        rss_r,
        status_r,
        iter_r,
    )
    return BatchFit(params, cov, rss, status, n_iter)


def _fit_numpy(
    model: DoseResponseModel,
    batch: CurveBatch,
    *,
    max_iter: int,
    multistart: bool | None,
    se: str,
    chunk_size: int,
    n_jobs: int | None,
    both_signs: bool = True,
) -> BatchFit:
    """The numpy engine: all curves of a chunk iterate together (:func:`levenberg_marquardt`).

    Stages: (1) self-starter and up to 50 Levenberg–Marquardt iterations, chunk by chunk in
    threads; (2) the curves still running, pooled, for up to ``max_iter`` in all;
    (3) refits from :meth:`DoseResponseModel.alternative_starts`, keeping the lowest RSS
    (with ``both_signs``, every curve also from the flipped starts, ``b`` of the other sign and
    ``c``, ``d`` swapped, unless the flip is a symmetry of the model);
    (4) covariance at the final estimates, chunk by chunk. Arguments as in :func:`fit_batch`.
    """
    n, p = batch.n, model.n_params
    enough = (batch.n_obs > p) & (batch.n_doses >= p) & np.isfinite(batch.t_lo)
    rows = np.flatnonzero(enough)
    sub = batch.take(rows)
    slices = [slice(i, i + chunk_size) for i in range(0, sub.n, chunk_size)]
    first_iter = min(50, max_iter)

    def first(sl: slice) -> tuple[Array, LMResult]:
        part = sub.take(sl)
        theta0 = model.start(part.t, part.y, part.w > 0, part.zero)
        return theta0, _solve(model, theta0, part, first_iter)

    parts = _parallel_map(first, slices, n_jobs)
    if parts:
        theta0 = np.concatenate([t0 for t0, _ in parts])
        res = LMResult(
            *(np.concatenate([getattr(r, f.name) for _, r in parts]) for f in fields(LMResult))
        )
    else:
        theta0 = np.zeros((0, p))
        res = LMResult(theta0, np.zeros(0), np.zeros(0, np.int8), np.zeros(0, np.int64))
    state = (res.theta.copy(), res.rss.copy(), res.status.copy(), res.n_iter.copy())

    running = np.flatnonzero(state[2] == FitStatus.MAX_ITER.code)
    if running.size and max_iter > first_iter:
        more = _solve(model, state[0][running], sub.take(running), max_iter - first_iter)
        _keep_better(state, running, more, always=True)

    if multistart is None:  # every curve: a per-curve rule, whatever the batch
        multistart = True
    redo = (
        np.arange(sub.n)
        if multistart
        else np.flatnonzero(_needs_restart(model, state[0], state[2], sub))
    )
    if redo.size:
        part = sub.take(redo)
        for alt0 in model.alternative_starts(theta0[redo], part.t, part.w > 0, part.zero):
            _keep_better(state, redo, _solve(model, alt0, part, max_iter))
    if both_signs and not model.flip_is_symmetry and sub.n:
        every = np.arange(sub.n)
        for alt0 in model.flipped_starts(theta0, sub.t, sub.w > 0, sub.zero):
            _keep_better(state, every, _solve(model, alt0, sub, max_iter))

    theta, s_rss, s_status, s_iter = state
    est = _canonical(model, model.to_natural(theta))
    failed = s_status == _FAIL
    est[failed] = np.nan

    def cov_of(sl: slice) -> Array:
        return covariance(model, est[sl], sub.take(sl), s_rss[sl], kind=se)

    params = np.full((n, p), np.nan)
    cov = np.full((n, p, p), np.nan)
    rss = np.full(n, np.nan)
    status = np.full(n, FitStatus.INSUFFICIENT_DATA.code, dtype=np.int8)
    n_iter = np.zeros(n, dtype=np.int64)
    params[rows] = est
    rss[rows] = np.where(failed, np.nan, s_rss)
    status[rows] = s_status
    n_iter[rows] = s_iter
    if slices:
        cov[rows] = np.concatenate(_parallel_map(cov_of, slices, n_jobs))
    return BatchFit(params, cov, rss, status, n_iter)


# --------------------------------------------------------------------------- covariance
def _natural_jacobian(
    model: DoseResponseModel, params: Array, batch: CurveBatch
) -> tuple[Array, Array]:
    """Residuals (n, m) and ``df/dparams`` (n, p, m) on drc's scale, padding zeroed."""
    theta = model.to_internal(params)
    f, J = model.evaluate(theta, batch.t, batch.zero)
    assert J is not None
    chain = np.where(model._log_scaled, 1.0 / params, 1.0)
    return (batch.y - f) * batch.w, J * chain[:, :, None] * batch.w[:, None, :]


def _rss_gradient(model: DoseResponseModel, params: Array, batch: CurveBatch) -> Array:
    r, J = _natural_jacobian(model, params, batch)
    return -2.0 * np.einsum("npm,nm->np", J, r)


def _fd_steps(model: DoseResponseModel, params: Array, batch: CurveBatch) -> Array:
    """Finite-difference steps (n, p): 1e-5 of each parameter's scale."""
    y_scale = np.sqrt(np.maximum(batch.tss / np.maximum(batch.n_obs, 1), 0))
    y_scale = np.maximum(y_scale, 1e-8 * np.abs(batch.y).max(axis=1) + 1e-300)
    floor = {"b": np.full(params.shape[0], 0.1), "c": y_scale, "d": y_scale}
    cols = [
        np.maximum(np.abs(params[:, i]), floor.get(name, 0.0)) for i, name in enumerate(model.names)
    ]
    return 1e-5 * np.stack(cols, axis=1)


def rss_hessian(model: DoseResponseModel, params: Array, batch: CurveBatch) -> Array:
    """Observed Hessian of the RSS in drc's parameters, shape (n, p, p).

    Central differences of the analytic gradient ``-2 J^T r`` (second-order accurate, so
    about 1e-10 relative), symmetrised.
    """
    h = _fd_steps(model, params, batch)
    p = params.shape[1]
    H = np.empty((*params.shape, p))
    for j in range(p):
        step = np.zeros_like(params)
        step[:, j] = h[:, j]
        up = _rss_gradient(model, params + step, batch)
        down = _rss_gradient(model, params - step, batch)
        H[:, :, j] = (up - down) / (2.0 * h[:, j : j + 1])
    return 0.5 * (H + H.transpose(0, 2, 1))


def _inverse_pd(H: Array) -> Array:
    """Inverse of each positive-definite matrix; NaN where singular, indefinite or NaN.

    The test is scale-free: eigenvalues of ``S H S`` with ``S = diag(H)^(-1/2)`` must exceed
    1e-12 (parameters in very different units do not look singular).
    """
    diag = np.diagonal(H, axis1=1, axis2=2)
    finite = np.isfinite(H).all(axis=(1, 2)) & (diag > 0).all(axis=1)
    scale = 1.0 / np.sqrt(np.where(finite[:, None], diag, 1.0))
    safe = np.where(finite[:, None, None], H * scale[:, :, None] * scale[:, None, :], 1.0)
    safe[~finite] = np.eye(H.shape[1])
    vals, vecs = np.linalg.eigh(safe)
    good = finite & (vals[:, 0] > 1e-12)
    inv_vals = np.where(good[:, None], 1.0 / np.where(vals > 0, vals, 1.0), np.nan)
    inv = (vecs * inv_vals[:, None, :]) @ vecs.transpose(0, 2, 1)
    return inv * scale[:, :, None] * scale[:, None, :]


def covariance(
    model: DoseResponseModel, params: Array, batch: CurveBatch, rss: Array, *, kind: str
) -> Array:
    """Covariance of the estimates, shape (n, p, p).

    ``kind="hessian"`` (drc's ``vcov``): ``2 s^2 H^{-1}``, ``s^2 = RSS / (n - p)`` and ``H``
    the observed Hessian of the RSS. ``kind="sandwich"``: the HC0 sandwich
    ``(H/2)^{-1} (sum_i r_i^2 J_i J_i^T) (H/2)^{-1}``, robust to unequal variances.
    """
    H = model.rss_hessian(params, batch.t, batch.zero, batch.y, batch.w)
    if H is None:  # no analytic second derivatives (LL.5): differences of the gradient
        H = rss_hessian(model, params, batch)
    H_inv = _inverse_pd(H)
    if kind == "sandwich":
        r, J = _natural_jacobian(model, params, batch)
        meat = np.einsum("npm,nqm,nm->npq", J, J, r * r)
        bread = 2.0 * H_inv
        return bread @ meat @ bread
    dof = batch.n_obs - params.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.where(dof > 0, rss / dof, np.nan)
    return 2.0 * s2[:, None, None] * H_inv


def delta_method(fun: Callable[[Array], Array], params: Array, cov: Array) -> tuple[Array, Array]:
    """Value and delta-method standard error of a function of the parameters.

    Parameters
    ----------
    fun : callable
        ``fun(params) -> (n,)``, vectorised over curves.
    params : ndarray of shape (n, p)
    cov : ndarray of shape (n, p, p)

    Returns
    -------
    value, se : ndarray of shape (n,)
        The gradient is taken by central differences (steps of 1e-6 of each parameter, at
        least 1e-8 of the parameter vector's norm).
    """
    value = fun(params)
    p = params.shape[1]
    grad = np.empty_like(params)
    floor = 1e-2 * np.sqrt(np.einsum("np,np->n", params, params)) + 1e-12
    for j in range(p):
        h = 1e-6 * np.maximum(np.abs(params[:, j]), floor)
        step = np.zeros_like(params)
        step[:, j] = h
        grad[:, j] = (fun(params + step) - fun(params - step)) / (2.0 * h)
    var = np.einsum("np,npq,nq->n", grad, cov, grad)
    with np.errstate(invalid="ignore"):
        return value, np.sqrt(np.where(var >= 0, var, np.nan))
