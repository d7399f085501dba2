"""Slice fits of the ``synergy`` package's ZIP, batched: a Hill curve from a fixed start with a
bounded top, at its global least-squares optimum.

The ``synergy`` package (1.0.0, ``synergy/combination/zero_interaction_potency.py``) fits each
slice with ``_Hill_3P``: ``E = E0 + (Emax - E0) d^h / (C^h + d^h)`` with ``E0`` fixed,
``Emax`` in ``[0, 1.5]`` (its ``Emax_bounds``), ``h > 0`` and ``C > 0`` (fitted as ``log h``,
``log C``), by one ``curve_fit`` (trf) from the single drug's parameters. That local search
can stop away from the optimum (``h`` drifting to 0 where a steep step fits better); here the
same model is fitted globally: a profiled grid over ``(log h, log C)`` (the top is linear, so
for each grid point its bounded least-squares value is a clipped projection), then a projected
Levenberg-Marquardt polish of all three parameters from the best grid point.

Shapes: ``k`` slices of ``m`` doses each; the curves are fitted to ``y - start`` (a curve from
0 at dose 0 to ``a = top - start``), so one code path serves every slice.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

#: The grid of the profiled search: Hill slopes and EC50s (decades beyond the tested doses).
_GRID_LOG_H = np.log(np.geomspace(0.05, 40.0, 20))
_GRID_DECADES, _GRID_N_C = 2.0, 31
#: Box of the polish: slopes in [1e-3, 1e3]; EC50s within this many decades of the doses. A fit
#: that ends on this box has its optimum at a limit (a step or a flat line): it has run away.
_LOG_H_BOX = (np.log(1e-3), np.log(1e3))
_BOX_DECADES = 40.0
_MAX_ITER = 200
_N_BANDS = 4
#: Starts whose RSS is this many times their slice's best after this many iterations stop.
_PRUNE_RATIO, _PRUNE_AFTER = 1.5, 15


def _curve(logx: Array, log_h: Array, log_c: Array) -> Array:
    """``u / (1 + u)`` with ``u = (x / C)^h``; 0 at dose 0 (``logx = -inf``)."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.exp(log_h) * (logx - log_c)
        g = 0.5 * (1.0 + np.tanh(0.5 * z))  # logistic without overflow
    return np.where(np.isneginf(logx), 0.0, g)


def fit_bounded_hill(
    dose: Array, shifted: Array, lo: Array, hi: Array, *, chunk: int = 512
) -> tuple[Array, NDArray[np.bool_], Array]:
    """Least-squares ``a d^h / (C^h + d^h)`` with ``lo <= a <= hi``, ``h > 0``, ``C > 0``.

    Parameters
    ----------
    dose : ndarray of shape (k, m)
        Doses (0 allowed: the curve is 0 there).
    shifted : ndarray of shape (k, m)
        Responses minus the fixed start; NaN cells are left out.
    lo, hi : ndarray of shape (k,)
        Bounds of the top ``a``.

    Returns
    -------
    params : ndarray of shape (k, 3)
        ``a, h, C`` at the lowest residual sum of squares found.
    at_limit : ndarray of bool, shape (k,)
        The slope or EC50 ended on the search box: the infimum lies at a limit of the model.
    rss : ndarray of shape (k,)
    """
    w = np.isfinite(shifted).astype(float)
    y = np.where(w > 0, shifted, 0.0)
    with np.errstate(divide="ignore"):
        logx = np.log(dose)
    pos = np.where(dose > 0, logx, np.nan)
    lx_lo, lx_hi = np.nanmin(pos, axis=1), np.nanmax(pos, axis=1)
    k, rows = len(y), np.arange(len(y))
    # the grid holds chunk x 20 x 31 x m values at a time: bound the memory
    theta = np.concatenate(
        [
            _grid_starts(
                logx[i : i + chunk],
                y[i : i + chunk],
                w[i : i + chunk],
                lo[i : i + chunk],
                hi[i : i + chunk],
                lx_lo[i : i + chunk],
                lx_hi[i : i + chunk],
            )
            for i in range(0, k, chunk)
        ],
        axis=1,
    ).reshape(-1, 3)  # band-major: _N_BANDS blocks of k starts
    ln10 = np.log(10.0)
    box_lo = np.column_stack([lo, np.full_like(lo, _LOG_H_BOX[0]), lx_lo - _BOX_DECADES * ln10])
    box_hi = np.column_stack([hi, np.full_like(hi, _LOG_H_BOX[1]), lx_hi + _BOX_DECADES * ln10])
    tile = (_N_BANDS, 1)
    theta, rss = _polish(
        np.tile(logx, tile), np.tile(y, tile), np.tile(w, tile), theta,
        np.tile(box_lo, tile), np.tile(box_hi, tile), n_groups=k,
    )  # fmt: skip
    pick = np.argmin(rss.reshape(_N_BANDS, k), axis=0)
    theta = theta.reshape(_N_BANDS, k, 3)[pick, rows]
    rss = rss.reshape(_N_BANDS, k)[pick, rows]
    # a top on (or next to) its bound: polish again with the top held there. The profiled
    # RSS has a kink in its curvature where the clipping starts, and Newton steps along it
    # converge slowly (hundreds of steps); with the top fixed the problem is smooth.
    near = 1e-3 * (hi - lo)
    pinned = np.flatnonzero((theta[:, 0] <= lo + near) | (theta[:, 0] >= hi - near))
    if pinned.size:
        fixed = np.where(theta[pinned, 0] <= lo[pinned] + near[pinned], lo[pinned], hi[pinned])
        box = (
            np.column_stack([fixed, box_lo[pinned, 1:]]),
            np.column_stack([fixed, box_hi[pinned, 1:]]),
        )
        t2, rss2 = _polish(logx[pinned], y[pinned], w[pinned], theta[pinned], *box, max_iter=40)
        better = rss2 < rss[pinned]
        theta[pinned[better]], rss[pinned[better]] = t2[better], rss2[better]
    tol = 1e-6
    at_limit = (theta[:, 1:] <= box_lo[:, 1:] + tol).any(axis=1) | (
        theta[:, 1:] >= box_hi[:, 1:] - tol
    ).any(axis=1)
    params = np.column_stack([theta[:, 0], np.exp(theta[:, 1]), np.exp(theta[:, 2])])
    return params, at_limit, rss


def _grid_starts(
    logx: Array, y: Array, w: Array, lo: Array, hi: Array, lx_lo: Array, lx_hi: Array
) -> Array:
    """The profiled grid search: for each band of slopes (shallow, moderate, steep, step) the
    best grid point, as ``(_N_BANDS, k, 3)`` starts ``(a, log h, log C)``. Ragged slices have
    a local optimum in more than one band, and the polish keeps to the basin it starts in."""
    k, rows = len(y), np.arange(len(y))
    span = _GRID_DECADES * np.log(10.0)
    frac = np.linspace(0.0, 1.0, _GRID_N_C)
    grid_c = (lx_lo - span)[:, None] + frac[None, :] * (lx_hi - lx_lo + 2 * span)[:, None]
    # u = (x / C)^h = exp(h log x) exp(-h log C): two small exponentials per slope instead of
    # one per grid point and dose (|h log| stays below 700 on this grid: no overflow)
    h = np.exp(_GRID_LOG_H)[None, :, None]
    with np.errstate(over="ignore", invalid="ignore"):
        ux = np.exp(h * logx[:, None, :])  # (k, n_h, m); 0 at dose 0
        uc = np.exp(-h * grid_c[:, None, :])  # (k, n_h, n_c)
        u = ux[:, :, None, :] * uc[:, :, :, None]  # (k, n_h, n_c, m)
        g = u / (1.0 + u)
    g = np.where(np.isfinite(g), g, 1.0)
    # the profiled, clipped top and its RSS from the sums alone: sum w (a g - y)^2
    gg = np.einsum("khcm,km->khc", g * g, w)
    gy = np.einsum("khcm,km->khc", g, w * y)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(gg > 0, gy / np.where(gg > 0, gg, 1.0), 0.0)
    a = np.clip(a, lo[:, None, None], hi[:, None, None])
    rss = np.sum(w * y * y, axis=1)[:, None, None] - 2 * a * gy + a * a * gg  # (k, n_h, n_c)
    starts = []
    for band in np.array_split(np.arange(len(_GRID_LOG_H)), _N_BANDS):
        best = np.argmin(rss[:, band, :].reshape(k, -1), axis=1)
        ih, ic = np.unravel_index(best, (band.size, _GRID_N_C))
        starts.append(
            np.column_stack([a[rows, band[ih], ic], _GRID_LOG_H[band[ih]], grid_c[rows, ic]])
        )
    return np.stack(starts)


def _profiled(
    logx: Array, y: Array, w: Array, theta: Array, lo: Array, hi: Array
) -> tuple[Array, Array, Array]:
    """Residuals, their exact Jacobian in ``(log h, log C)`` with the top profiled out (its
    bounded least-squares value, held at a bound where clipped), and that top."""
    lh, lc = theta[:, 0:1], theta[:, 1:2]
    g = _curve(logx, lh, lc)
    h = np.exp(lh)
    dg_dz = np.where(np.isneginf(logx), 0.0, g * (1 - g))
    with np.errstate(invalid="ignore"):
        dg = np.stack(
            [np.where(np.isneginf(logx), 0.0, dg_dz * h * (logx - lc)), -dg_dz * h], axis=-1
        )  # (k, m, 2)
    gg = np.sum(w * g * g, axis=1)
    gy = np.sum(w * g * y, axis=1)
    safe = np.where(gg > 0, gg, 1.0)
    raw = np.where(gg > 0, gy / safe, 0.0)
    a = np.clip(raw, lo, hi)
    free = (raw == a) & (gg > 0)
    # d a / d theta = (<dg, y> - 2 a <g, dg>) / <g, g> where the top is not clipped
    da = np.einsum("km,kmi->ki", w * y, dg) - 2 * a[:, None] * np.einsum("km,kmi->ki", w * g, dg)
    da = np.where(free[:, None], da / safe[:, None], 0.0)
    r = w * (a[:, None] * g - y)
    jac = w[..., None] * (a[:, None, None] * dg + g[..., None] * da[:, None, :])
    return r, jac, a


def _polish(
    logx: Array,
    y: Array,
    w: Array,
    theta: Array,
    box_lo: Array,
    box_hi: Array,
    n_groups: int = 0,
    max_iter: int = _MAX_ITER,
) -> tuple[Array, Array]:
    """Damped Newton on ``(log h, log C)`` with the top profiled out (variable projection),
    inside the box, all curves at once; a step is taken only where it lowers the RSS. The
    Hessian is the central difference of the exact gradient ``2 J' r``: Gauss-Newton's
    ``J' J`` alone zig-zags where the residuals are as large as the signal (noisy slices).
    ``theta`` and the box are ``(a, log h, log C)``; ``a`` is returned profiled."""
    lo, hi = box_lo[:, 0], box_hi[:, 0]
    blo, bhi = box_lo[:, 1:], box_hi[:, 1:]

    def state(t: Array, rows: NDArray[np.int64]) -> tuple[Array, Array, Array, Array]:
        r, jac, a = _profiled(logx[rows], y[rows], w[rows], t, lo[rows], hi[rows])
        return np.sum(r * r, axis=1), np.einsum("kmi,km->ki", jac, r), jac, a

    with np.errstate(all="ignore"):  # steep slopes and huge damping overflow harmlessly
        return _newton(state, theta[:, 1:].copy(), blo, bhi, n_groups, max_iter)


def _newton(
    state: Callable[[Array, NDArray[np.int64]], tuple[Array, Array, Array, Array]],
    t: Array,
    blo: Array,
    bhi: Array,
    n_groups: int = 0,
    max_iter: int = _MAX_ITER,
) -> tuple[Array, Array]:
    """The iterations of :func:`_polish`, on the curves still moving only. A curve stops when
    a step moves it by < 1e-10 or lowers its RSS by < 1e-13 of it (a flat valley: a step
    between two doses or a flat line, whose fitted values no longer change), or when no
    damping gives a lower RSS. With ``n_groups``, rows ``i`` and ``i + n_groups`` are starts of
    the same curve, and after ``_PRUNE_AFTER`` iterations a start whose RSS is above
    ``_PRUNE_RATIO`` times its curve's best is dropped (it is in a worse basin)."""
    k = len(t)
    rss, grad, jac, a = state(t, np.arange(k))
    lam = np.full(k, 1e-3)
    active = np.arange(k)
    eps = 1e-5
    for it in range(max_iter):
        if active.size == 0:
            break
        ta, ga, ja, la = t[active], grad[active], jac[active], lam[active]
        hess = np.empty((active.size, 2, 2))
        for i in range(2):
            d = np.zeros(2)
            d[i] = eps
            hess[:, :, i] = (state(ta + d, active)[1] - state(ta - d, active)[1]) / (2 * eps)
        hess = 0.5 * (hess + hess.transpose(0, 2, 1))
        scale = np.maximum(np.einsum("kmi,kmi->ki", ja, ja), 1e-12)
        lhs = hess + la[:, None, None] * scale[:, :, None] * np.eye(2)
        det = lhs[:, 0, 0] * lhs[:, 1, 1] - lhs[:, 0, 1] * lhs[:, 1, 0]
        pd = (lhs[:, 0, 0] > 0) & (det > 0) & np.isfinite(det)
        det = np.where(pd, det, 1.0)
        step = -np.stack(
            [
                (lhs[:, 1, 1] * ga[:, 0] - lhs[:, 0, 1] * ga[:, 1]) / det,
                (lhs[:, 0, 0] * ga[:, 1] - lhs[:, 1, 0] * ga[:, 0]) / det,
            ],
            axis=1,
        )
        new = np.clip(ta + np.where(pd[:, None], step, 0.0), blo[active], bhi[active])
        new_rss, new_grad, new_jac, new_a = state(new, active)
        old = rss[active]
        better = pd & np.isfinite(new_rss) & (new_rss <= old)
        moved = np.abs(new - ta).max(axis=1)
        take = active[better]
        t[take], grad[take], jac[take] = new[better], new_grad[better], new_jac[better]
        a[take], rss[take] = new_a[better], new_rss[better]
        lam[active] = np.where(better, np.maximum(la * 0.1, 1e-12), la * 10.0)
        flat = old - new_rss <= 1e-13 * old + 1e-300
        done = (better & ((moved < 1e-10) | flat)) | (lam[active] > 1e12)
        active = active[~done]
        if it >= _PRUNE_AFTER and n_groups:  # starts far behind another start of the slice
            best = rss.reshape(-1, n_groups).min(axis=0)
            active = active[rss[active] <= _PRUNE_RATIO * best[active % n_groups] + 1e-300]
    return np.column_stack([a, t]), rss
