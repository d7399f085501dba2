"""Compiled (numba) per-curve kernels behind the batched dose-response fitter.

* :func:`pack_curves` turns long-format observations into the padded arrays of a
  :class:`~leptotwin.analysis._drfit.CurveBatch` in one pass (no sort, no Python loop).
* :func:`fit_curves` fits the four-parameter families with a fixed asymmetry (``LL.2``,
  ``LL.3``, ``LL.4``, ``W1.4``, any of ``c``/``d`` fixed), one curve per task, in parallel
  (``numba.prange``), and returns drc's covariance ``2 s^2 H^{-1}`` as well.

The fit is a variable projection: ``c`` and ``d`` enter the model linearly, so for given
``(b, log e)`` they are the exact weighted least-squares solution, and a damped Newton
(Levenberg–Marquardt) iteration runs on the reduced RSS of ``(b, log e)`` alone, with the exact
reduced Hessian (Schur complement of the full observed Hessian) where it is positive definite
and the Gauss–Newton one otherwise. Replicates are pooled first (one model evaluation per
distinct dose; the within-dose sum of squares is added back), so an LL.4 curve of 9 doses x 3
replicates costs 9 exponentials per iteration.

Functions are compiled on first use and cached next to this file (or in numba's user-wide cache
directory); where neither is writable they are compiled without a cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba as nb
import numpy as np

__all__ = ["fit_curves", "pack_curves"]

_EXP_MAX = 700.0
#: Status codes, as in :class:`~leptotwin.analysis._lmsolver.FitStatus`.
_CONVERGED, _MAX_ITER, _FAILED = 0, 1, 2
_GRID_R2 = 0.1  # grid == 2: search when RSS > 10 % of the total sum of squares
_CHUNK = 64  # curves per parallel task (scratch arrays are allocated once per task)
#: Fast-math flags that keep NaN/inf semantics: reassociation lets LLVM vectorise sums.
_FAST = {"reassoc", "contract"}


class _LoadOnlyCache:
    """A dispatcher's numba cache that loads a cached kernel without refreshing numba's target
    context first (issue 14: start-up).

    numba's :meth:`FunctionCache.load_overload` refreshes the whole CPU target context before it
    reads a cache entry: it imports numba's ~40 lowering modules and, through ``numba.np.linalg``,
    scipy.linalg, and installs their registries (0.15-0.2 s, more than loading and running the
    kernels of 1,000 curves). A cache entry is machine code plus what rebuilds it; loading it
    needs numba's runtime (NRT) symbols, which this cache registers, and the entry's own
    ``reload_init`` (the threading layer of a parallel kernel), which numba runs as before; the
    lowering registries are needed only to compile. A miss (no entry, or a stale one) returns
    None and numba compiles as usual (its compiler refreshes the context itself); everything but
    :meth:`load_overload` is the wrapped cache's. The machine code run is the cached one either
    way: the same numbers, bit for bit (tested).
    """

    def __init__(self, cache: Any) -> None:
        self._wrapped = cache

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        """The cached overload of ``sig``, or None (then numba compiles it)."""
        from numba.core.runtime import rtsys

        rtsys.initialize(target_context)
        with self._wrapped._guard_against_spurious_io_errors():
            return self._wrapped._load_overload(sig, target_context)
        return None  # the guard swallowed an error: a miss

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


#: numba releases whose cache loading :class:`_LoadOnlyCache` was checked against (a later one
#: may need state of the target-context refresh when it loads: it gets numba's own loading).
_LOAD_ONLY_NUMBA = ((0, 60), (0, 68))


def _load_only(disp: Any, *, numba_version: tuple[int, int] | None = None) -> Any:
    """``disp`` with :class:`_LoadOnlyCache` around its cache, where numba is a release this
    was checked against (:data:`_LOAD_ONLY_NUMBA`) and its cache has ``_load_overload`` and its
    error guard; else ``disp`` unchanged (numba loads as it always does)."""
    version = numba_version or tuple(nb.version_info.short)
    low, high = _LOAD_ONLY_NUMBA
    cache = getattr(disp, "_cache", None)
    needed = ("_load_overload", "_guard_against_spurious_io_errors", "load_overload")
    if low <= version <= high and cache is not None and all(hasattr(cache, n) for n in needed):
        disp._cache = _LoadOnlyCache(cache)
    return disp


def _jit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit`` with an on-disk cache (loaded through :class:`_LoadOnlyCache`), or without
    one where no cache dir is writable."""

    def deco(fn: Callable[..., Any]) -> Any:
        try:
            disp = nb.njit(cache=True, nogil=True, error_model="numpy", **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return nb.njit(cache=False, nogil=True, error_model="numpy", **options)(fn)
        return _load_only(disp)

    return deco


# --------------------------------------------------------------------------- packing
@_jit(parallel=True)
def pack_curves(
    codes: np.ndarray, dose: np.ndarray, response: np.ndarray, n_curves: int
) -> tuple[np.ndarray, ...]:  # pragma: no cover
    """The arrays of a ``CurveBatch`` from long-format rows, in that field order.

    ``t`` (log dose; 0 at dose 0 and in padding), ``y``, ``w``, ``zero``, ``n_obs``,
    ``n_doses`` (distinct doses, 0 included), ``t_lo``/``t_hi`` (smallest and largest positive
    log dose, NaN if none) and ``tss`` (sum of squares about the curve's mean). Observations
    keep their order within a curve. One counting pass over the rows (plus a counting sort if
    they are not grouped by curve), then the curves in parallel.
    """
    N = codes.size
    n_obs = np.zeros(n_curves, np.int64)
    grouped = True
    for i in range(N):
        n_obs[codes[i]] += 1
        if i > 0 and codes[i] < codes[i - 1]:
            grouped = False
    starts = np.zeros(n_curves + 1, np.int64)
    m = 1
    for k in range(n_curves):
        starts[k + 1] = starts[k] + n_obs[k]
        m = max(m, n_obs[k])
    order = np.empty(0 if grouped else N, np.int64)
    if not grouped:  # counting sort by curve, stable
        fill = starts[:-1].copy()
        for i in range(N):
            k = codes[i]
            order[fill[k]] = i
            fill[k] += 1
    t = np.empty((n_curves, m))
    y = np.empty((n_curves, m))
    w = np.empty((n_curves, m))
    zero = np.empty((n_curves, m), np.bool_)
    n_doses = np.zeros(n_curves, np.int64)
    t_lo = np.full(n_curves, np.nan)
    t_hi = np.full(n_curves, np.nan)
    tss = np.full(n_curves, np.nan)
    for ch in nb.prange((n_curves + _CHUNK - 1) // _CHUNK):
        buf = np.empty(m)
        for k in range(ch * _CHUNK, min(n_curves, (ch + 1) * _CHUNK)):
            n_k = n_obs[k]
            npos = 0
            has_zero = False
            total = 0.0
            for j in range(m):
                if j >= n_k:
                    t[k, j] = 0.0
                    y[k, j] = 0.0
                    w[k, j] = 0.0
                    zero[k, j] = False
                    continue
                src = starts[k] + j if grouped else order[starts[k] + j]
                x = dose[src]
                yy = response[src]
                y[k, j] = yy
                w[k, j] = 1.0
                total += yy
                if x <= 0.0:
                    t[k, j] = 0.0
                    zero[k, j] = True
                    has_zero = True
                    continue
                v = math.log(x)
                t[k, j] = v
                zero[k, j] = False
                q = npos  # insertion into the sorted positive log doses
                while q > 0 and buf[q - 1] > v:
                    buf[q] = buf[q - 1]
                    q -= 1
                buf[q] = v
                npos += 1
            distinct = 1 if has_zero else 0
            for q in range(npos):
                if q == 0 or buf[q] != buf[q - 1]:
                    distinct += 1
            n_doses[k] = distinct
            if npos:
                t_lo[k] = buf[0]
                t_hi[k] = buf[npos - 1]
            if n_k:
                mean = total / n_k
                ss = 0.0
                for j in range(n_k):
                    ss += (y[k, j] - mean) ** 2
                tss[k] = ss
    return t, y, w, zero, n_obs, n_doses, t_lo, t_hi, tss


# --------------------------------------------------------------------------- model pieces
# Curve data inside the kernels: ``n_lev`` positive-dose levels (``tk`` log dose, ``nk``
# replicates, ``yk`` mean response) plus the pooled dose-0 level (``n0`` wells, mean ``y0``;
# ``n0 = 0`` if none) and ``ssw``, the within-level sum of squares.


@_jit(inline="always")
def _shape(
    weibull: bool,
    b: float,
    le: float,
    n_lev: int,
    tk: np.ndarray,
    g: np.ndarray,
    omg: np.ndarray,
    g1: np.ndarray,
    g2: np.ndarray,
) -> None:  # pragma: no cover
    """``g``, ``1 - g``, ``dg/du`` and ``d2g/du2`` at every positive dose, ``u = b (t - le)``."""
    for k in range(n_lev):
        ex = math.exp(min(b * (tk[k] - le), _EXP_MAX))
        if weibull:
            gk = math.exp(-ex)
            g[k] = gk
            omg[k] = -math.expm1(-ex)
            g1[k] = -ex * gk
            g2[k] = ex * gk * (ex - 1.0)
        else:
            gk = 1.0 / (1.0 + ex)
            om = ex * gk
            g[k] = gk
            omg[k] = om
            g1[k] = -gk * om
            g2[k] = g1[k] * (gk - om)


@_jit(inline="always")
def _linear_cd(
    positive: bool,
    n_lev: int,
    g: np.ndarray,
    omg: np.ndarray,
    nk: np.ndarray,
    yk: np.ndarray,
    n0: float,
    y0: float,
    c_free: bool,
    d_free: bool,
    c_val: float,
    d_val: float,
) -> tuple[float, float, float, float, float]:  # pragma: no cover
    """Weighted least squares for the free linear parameters given the curve's shape: ``(c, d,
    i11, i12, i22)`` with ``i`` the inverse Gram matrix of the free ones (0 where fixed).
    ``g, omg``: g and 1 - g at the positive doses; ``positive``: the sign of b (at dose 0, g is
    1 for b > 0, else 0). A shape constant over the doses gives a flat curve at the mean."""
    g0 = 1.0 if positive else 0.0
    om0 = 1.0 - g0
    # sums of n (1-g, g) (1-g, g, y)
    a11 = n0 * om0 * om0
    a12 = n0 * om0 * g0
    a22 = n0 * g0 * g0
    r1 = n0 * om0 * y0
    r2 = n0 * g0 * y0
    sw = n0
    sy = n0 * y0
    for k in range(n_lev):
        n_ = nk[k]
        a11 += n_ * omg[k] * omg[k]
        a12 += n_ * omg[k] * g[k]
        a22 += n_ * g[k] * g[k]
        r1 += n_ * omg[k] * yk[k]
        r2 += n_ * g[k] * yk[k]
        sw += n_
        sy += n_ * yk[k]
    c = c_val
    d = d_val
    i11 = 0.0
    i12 = 0.0
    i22 = 0.0
    if c_free and d_free:
        det = a11 * a22 - a12 * a12
        if det > 1e-13 * a11 * a22 and det > 0:
            i11 = a22 / det
            i22 = a11 / det
            i12 = -a12 / det
            c = i11 * r1 + i12 * r2
            d = i12 * r1 + i22 * r2
        else:
            c = sy / sw
            d = c
    elif c_free:
        if a11 > 0:
            i11 = 1.0 / a11
            c = (r1 - d * a12) * i11
    elif d_free:
        if a22 > 0:
            i22 = 1.0 / a22
            d = (r2 - c * a12) * i22
    return c, d, i11, i12, i22


@_jit(inline="always")
def _profile(
    weibull: bool,
    b: float,
    le: float,
    n_lev: int,
    tk: np.ndarray,
    nk: np.ndarray,
    yk: np.ndarray,
    n0: float,
    y0: float,
    ssw: float,
    c_free: bool,
    d_free: bool,
    c_val: float,
    d_val: float,
    g: np.ndarray,
    omg: np.ndarray,
    g1: np.ndarray,
    g2: np.ndarray,
    out: np.ndarray,
) -> None:  # pragma: no cover
    """Profile the linear parameters out at ``(b, le)``.

    ``out`` receives: 0 RSS, 1 c, 2 d, 3-4 ``G_b, G_le`` (minus half the RSS gradient),
    5-7 reduced half-Hessian ``(bb, bl, ll)`` (exact), 8-10 the same from Gauss–Newton,
    11 the larger cosine between the residuals and the b and log e Jacobian columns.
    """
    _shape(weibull, b, le, n_lev, tk, g, omg, g1, g2)
    g0 = 1.0 if b > 0 else 0.0  # dose 0: g is 1 (b > 0) or 0, its derivatives vanish
    om0 = 1.0 - g0
    c, d, i11, i12, i22 = _linear_cd(
        b > 0, n_lev, g, omg, nk, yk, n0, y0, c_free, d_free, c_val, d_val
    )
    s = d - c
    r0 = y0 - c * om0 - d * g0
    rss = ssw + n0 * r0 * r0
    # sums over the positive doses (dt = t - le, r = residual of the level mean)
    s_g1dt = 0.0
    s_g1 = 0.0
    s_11dt2 = 0.0
    s_11dt = 0.0
    s_11 = 0.0
    s_1gdt = 0.0
    s_1g = 0.0
    r_g1dt = 0.0
    r_g1 = 0.0
    r_g2dt2 = 0.0
    r_g2dt = 0.0
    r_g2 = 0.0
    for k in range(n_lev):
        n_ = nk[k]
        r = yk[k] - c * omg[k] - d * g[k]
        nr = n_ * r
        rss += nr * r
        dt = tk[k] - le
        a = n_ * g1[k]
        adt = a * dt
        s_g1dt += adt
        s_g1 += a
        s_1gdt += adt * g[k]
        s_1g += a * g[k]
        s_11dt2 += adt * g1[k] * dt
        s_11dt += adt * g1[k]
        s_11 += a * g1[k]
        q = nr * g1[k]
        r_g1dt += q * dt
        r_g1 += q
        q2 = nr * g2[k]
        r_g2dt += q2 * dt
        r_g2dt2 += q2 * dt * dt
        r_g2 += q2
    # Gram matrix of the Jacobian columns (b, le | c, d) and the residual terms R
    gbb = s * s * s_11dt2
    gbl = -s * s * b * s_11dt
    gll = s * s * b * b * s_11
    gbc = s * (s_g1dt - s_1gdt)
    gbd = s * s_1gdt
    glc = -s * b * (s_g1 - s_1g)
    gld = -s * b * s_1g
    grad_b = s * r_g1dt
    grad_l = -s * b * r_g1
    rbb = s * r_g2dt2
    rbl = -s * (b * r_g2dt + r_g1)
    rll = s * b * b * r_g2
    rbc = -r_g1dt
    rlc = b * r_g1
    hbb = gbb - rbb
    hbl = gbl - rbl
    hll = gll - rll
    hbc = gbc - rbc
    hbd = gbd + rbc
    hlc = glc - rlc
    hld = gld + rlc
    out[0] = rss
    out[1] = c
    out[2] = d
    out[3] = grad_b
    out[4] = grad_l
    # Schur complements X_aa - X_aB Ginv X_Ba (B: the free linear parameters)
    out[5] = hbb - (i11 * hbc * hbc + 2 * i12 * hbc * hbd + i22 * hbd * hbd)
    out[6] = hbl - (i11 * hbc * hlc + i12 * (hbc * hld + hbd * hlc) + i22 * hbd * hld)
    out[7] = hll - (i11 * hlc * hlc + 2 * i12 * hlc * hld + i22 * hld * hld)
    out[8] = gbb - (i11 * gbc * gbc + 2 * i12 * gbc * gbd + i22 * gbd * gbd)
    out[9] = gbl - (i11 * gbc * glc + i12 * (gbc * gld + gbd * glc) + i22 * gbd * gld)
    out[10] = gll - (i11 * glc * glc + 2 * i12 * glc * gld + i22 * gld * gld)
    cos = 0.0
    if rss > 0:
        if gbb > 0:
            cos = max(cos, abs(grad_b) / math.sqrt(gbb * rss))
        if gll > 0:
            cos = max(cos, abs(grad_l) / math.sqrt(gll * rss))
    out[11] = cos


@_jit(inline="always")
def _finite(x: np.ndarray) -> bool:  # pragma: no cover
    for v in x:
        if not math.isfinite(v):
            return False
    return True


@_jit(inline="always")
def _newton_decrement(cur: np.ndarray) -> float:  # pragma: no cover
    """``G^T H^{-1} G`` (half the RSS decrease a full Newton step predicts); inf unless the
    exact reduced Hessian is positive definite."""
    h11 = cur[5]
    h12 = cur[6]
    h22 = cur[7]
    det = h11 * h22 - h12 * h12
    if not (h11 > 0 and h22 > 0 and det > 1e-12 * h11 * h22):
        return np.inf
    gb = cur[3]
    gl = cur[4]
    return (h22 * gb * gb - 2.0 * h12 * gb * gl + h11 * gl * gl) / det


@_jit(inline="always")
def _saturated(b: float, le: float, n_lev: int, tk: np.ndarray) -> bool:  # pragma: no cover
    """True when ``|b (t - le)| >= 36`` at every positive dose: the curve is a step (or flat)
    there to machine precision, so no finite change of b or e lowers the RSS any further."""
    for k in range(n_lev):
        if abs(b * (tk[k] - le)) < 36.0:
            return False
    return True


@_jit(fastmath=_FAST)
def _solve_lm(
    weibull: bool,
    b0: float,
    le0: float,
    max_iter: int,
    n_lev: int,
    tk: np.ndarray,
    nk: np.ndarray,
    yk: np.ndarray,
    n0: float,
    y0: float,
    ssw: float,
    c_free: bool,
    d_free: bool,
    c_val: float,
    d_val: float,
    g: np.ndarray,
    omg: np.ndarray,
    g1: np.ndarray,
    g2: np.ndarray,
    cur: np.ndarray,
    new: np.ndarray,
) -> tuple[float, float, int, int]:  # pragma: no cover
    """Levenberg–Marquardt on the profiled RSS of ``(b, le)`` from ``(b0, le0)``.

    The step solves ``(H + lam D) delta = G`` with ``H`` the exact reduced half-Hessian where it
    is positive definite (Gauss–Newton's otherwise) and ``D`` the running maximum of
    Gauss–Newton's diagonal. Converged when the Newton decrement, an accepted step's actual and
    predicted decrease (``ftol``), the step (``xtol``) or the residual-Jacobian cosine
    (``gtol``) is negligible, as in MINPACK. Returns ``b, le, status, iterations``; ``cur``
    then holds the :func:`_profile` output at the returned point.
    """
    ftol = 1e-12
    xtol = 1e-10
    gtol = 1e-10
    b = b0
    le = le0
    tb = b0
    tl = le0
    kind = 2  # what the trial point is: 2 the start, 1 a doubled slope, 0 an LM step
    lam = 1e-3
    nu = 2.0
    d1 = 0.0
    d2 = 0.0
    db = 0.0
    dl = 0.0
    pred = 0.0
    it = 0
    while True:
        _profile(
            weibull,
            tb,
            tl,
            n_lev,
            tk,
            nk,
            yk,
            n0,
            y0,
            ssw,
            c_free,
            d_free,
            c_val,
            d_val,
            g,
            omg,
            g1,
            g2,
            new,
        )
        fin = _finite(new)
        outward = False
        if kind == 2:
            if not fin:
                return b, le, _FAILED, 0
            cur[:] = new
            if (
                2.0 * _newton_decrement(cur) <= ftol * cur[0]
                or cur[11] <= gtol
                or _saturated(b, le, n_lev, tk)
            ):
                return b, le, _CONVERGED, 0
        elif kind == 1:
            if fin and new[0] <= cur[0]:
                b = tb
                le = tl
                cur[:] = new
                if _saturated(b, le, n_lev, tk):
                    return b, le, _CONVERGED, it
                outward = True
                db *= 2.0
                dl *= 2.0
        else:
            rss = cur[0]
            if fin and new[0] <= rss:
                actual = rss - new[0]
                rho = actual / pred if pred > 0 else 0.0
                lam *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
                step = math.sqrt(db * db + dl * dl)
                size = math.sqrt(b * b + le * le)
                outward = abs(tb) > 10.0 and abs(tb) > abs(b)
                b = tb
                le = tl
                cur[:] = new
                if (
                    (actual <= ftol * rss and pred <= ftol * rss)
                    or step <= xtol * (size + xtol)
                    or cur[0] <= 1e-28 * max(rss, 1e-300)
                    or 2.0 * _newton_decrement(cur) <= ftol * cur[0]
                    or _saturated(b, le, n_lev, tk)
                ):
                    return b, le, _CONVERGED, it
            else:
                lam *= nu
                nu *= 2.0
            if cur[11] <= gtol:
                return b, le, _CONVERGED, it
            if lam > 1e16:
                return b, le, (_CONVERGED if cur[11] <= 1e-6 else _FAILED), it
        if outward:
            # a steep curve in the flat exponential tail of the RSS in b, where Newton steps
            # barely change: extrapolate along the last step, doubling it while the RSS falls
            kind = 1
            tb = b + 2.0 * db
            tl = le + 2.0 * dl
            continue
        # next Levenberg–Marquardt trial point: exact reduced Hessian where positive
        # definite, else Gauss–Newton; D = Gauss–Newton's diagonal
        kind = 0
        while True:
            if it >= max_iter:
                return b, le, _MAX_ITER, max_iter
            it += 1
            d1 = max(cur[8], 0.0)
            d2 = max(cur[10], 0.0)
            h11 = cur[5]
            h12 = cur[6]
            h22 = cur[7]
            if not (h11 > 0 and h22 > 0 and h11 * h22 - h12 * h12 > 1e-12 * h11 * h22):
                h11 = cur[8]
                h12 = cur[9]
                h22 = cur[10]
            floor = 1e-12 * max(d1, d2) + 1e-300
            m11 = h11 + lam * max(d1, floor)
            m22 = h22 + lam * max(d2, floor)
            det = m11 * m22 - h12 * h12
            gb = cur[3]
            gl = cur[4]
            if det > 0 and m11 > 0:
                db = (m22 * gb - h12 * gl) / det
                dl = (m11 * gl - h12 * gb) / det
                pred = 2.0 * (db * gb + dl * gl) - (
                    h11 * db * db + 2 * h12 * db * dl + h22 * dl * dl
                )
                if math.isfinite(db) and math.isfinite(dl):
                    break
            lam *= nu  # no usable step: damp harder
            nu *= 2.0
            if lam > 1e16:
                return b, le, (_CONVERGED if cur[11] <= 1e-6 else _FAILED), it
        tb = b + db
        tl = le + dl


@_jit(inline="always")
def _start(
    weibull: bool,
    n_lev: int,
    tk: np.ndarray,
    nk: np.ndarray,
    yk: np.ndarray,
    n0: float,
    y0: float,
    c_free: bool,
    d_free: bool,
    c_val: float,
    d_val: float,
    t_lo: float,
    t_hi: float,
) -> tuple[float, float]:  # pragma: no cover
    """Self-starter for ``(b, le)``: the weighted line of ``g^{-1}((y - c0) / (d0 - c0))`` on
    ``log x`` over the positive doses (drc's ``llogistic.ssf`` with ``c0``/``d0`` 0.1 % beyond
    the response range), weights ``n (q (1 - q))^2`` (the transform's variance is about
    ``1 / (q (1 - q))^2``, so levels near an asymptote count little)."""
    y_lo = y0 if n0 > 0 else np.inf
    y_hi = y0 if n0 > 0 else -np.inf
    for k in range(n_lev):
        y_lo = min(y_lo, yk[k])
        y_hi = max(y_hi, yk[k])
    pad = 1e-3 * max(y_hi - y_lo, 1e-12 * max(abs(y_hi), 1.0))
    c0 = c_val if not c_free else y_lo - pad
    d0 = d_val if not d_free else y_hi + pad
    sw = 0.0
    st = 0.0
    sz = 0.0
    stt = 0.0
    stz = 0.0
    for k in range(n_lev):
        q = (yk[k] - c0) / (d0 - c0)
        if not math.isfinite(q):
            q = 0.5
        q = min(max(q, 1e-3), 1.0 - 1e-3)
        z = math.log(-math.log(q)) if weibull else math.log(1.0 / q - 1.0)
        wt = nk[k] * (q * (1.0 - q)) ** 2
        sw += wt
        st += wt * tk[k]
        sz += wt * z
        stt += wt * tk[k] * tk[k]
        stz += wt * tk[k] * z
    mid = 0.5 * (t_lo + t_hi)
    if not sw > 0:
        return 1.0, mid
    vart = stt - st * st / sw
    slope = (stz - st * sz / sw) / vart if vart > 0 else np.nan
    le = st / sw - (sz / sw) / slope
    if not math.isfinite(slope) or abs(slope) < 1e-6 or not math.isfinite(le):
        return 1.0, mid
    return slope, min(max(le, t_lo - 2.0), t_hi + 2.0)


@_jit(inline="always")
def _rss_of_shape(
    positive: bool,
    n_lev: int,
    g: np.ndarray,
    omg: np.ndarray,
    nk: np.ndarray,
    yk: np.ndarray,
    n0: float,
    y0: float,
    ssw: float,
    c_free: bool,
    d_free: bool,
    c_val: float,
    d_val: float,
) -> float:  # pragma: no cover
    """The profiled RSS (``out[0]`` of :func:`_profile`) from ``g`` and ``1 - g`` at the doses;
    ``positive``: the sign of b (at dose 0, g is 1 for b > 0, else 0)."""
    g0 = 1.0 if positive else 0.0
    om0 = 1.0 - g0
    c, d, _, _, _ = _linear_cd(
        positive, n_lev, g, omg, nk, yk, n0, y0, c_free, d_free, c_val, d_val
    )
    r0 = y0 - c * om0 - d * g0
    rss = ssw + n0 * r0 * r0
    for k in range(n_lev):
        r = yk[k] - c * omg[k] - d * g[k]
        rss += nk[k] * r * r
    return rss


@_jit(inline="always")
def _grid_start(
    weibull: bool,
    n_lev: int,
    tk: np.ndarray,
    nk: np.ndarray,
    yk: np.ndarray,
    n0: float,
    y0: float,
    ssw: float,
    c_free: bool,
    d_free: bool,
    c_val: float,
    d_val: float,
    signs: int,
    n_mag: int,
    base: np.ndarray,
    g: np.ndarray,
    omg: np.ndarray,
    g1: np.ndarray,
    g2: np.ndarray,
) -> tuple[float, float, float]:  # pragma: no cover
    """Best ``(b, le, rss)`` of the profiled RSS on a grid: ``le`` at every tested dose, half-way
    between neighbours and one log unit beyond either end; ``b`` with the first ``n_mag`` of the
    slopes 0.5, 1, 2 and 4 per log unit, of both signs (``signs`` 0), only positive (1) or only
    negative (-1). ``c`` and
    ``d`` are profiled out exactly at each point, so the grid covers the whole 4-parameter
    surface. One ``exp`` per dose and ``le`` (log-logistic: the other slopes are powers of it
    and ``g(-b) = 1 - g(b)``), so the grid costs about as much as a few Levenberg–Marquardt
    iterations."""
    best_b = 1.0
    best_l = tk[0]
    best_rss = np.inf
    n_le = 2 * n_lev + 1
    for q in range(n_le):
        if q == 0:
            le = tk[0] - 1.0
        elif q == n_le - 1:
            le = tk[n_lev - 1] + 1.0
        elif q % 2 == 1:
            le = tk[(q - 1) // 2]
        else:
            le = 0.5 * (tk[q // 2 - 1] + tk[q // 2])
        for k in range(n_lev):
            base[k] = math.exp(min(max(tk[k] - le, -170.0), 170.0))
        for m in range(n_mag):
            mag = 0.5 * 2.0**m  # 0.5, 1, 2, 4
            for k in range(n_lev):
                if m == 0:
                    ex = math.sqrt(base[k])
                elif m == 1:
                    ex = base[k]
                elif m == 2:
                    ex = base[k] * base[k]
                else:
                    ex = base[k] * base[k]
                    ex = ex * ex
                if weibull:  # b > 0 in g, omg; b < 0 (exp(-1/ex)) in g1, g2
                    g[k] = math.exp(-ex)
                    omg[k] = -math.expm1(-ex)
                    g1[k] = math.exp(-1.0 / ex) if ex > 0 else 0.0
                    g2[k] = 1.0 - g1[k] if ex > 0 else 1.0
                else:
                    gk = 1.0 / (1.0 + ex)
                    g[k] = gk
                    omg[k] = ex * gk
            for sgn in range(2):
                positive = sgn == 1
                if (signs > 0 and not positive) or (signs < 0 and positive):
                    continue
                if weibull:
                    if positive:
                        rss = _rss_of_shape(
                            True, n_lev, g, omg, nk, yk, n0, y0, ssw, c_free, d_free, c_val, d_val
                        )
                    else:
                        rss = _rss_of_shape(
                            False, n_lev, g1, g2, nk, yk, n0, y0, ssw, c_free, d_free, c_val,
                            d_val,
                        )  # fmt: skip
                elif positive:
                    rss = _rss_of_shape(
                        True, n_lev, g, omg, nk, yk, n0, y0, ssw, c_free, d_free, c_val, d_val
                    )
                else:  # g(-b) = 1 - g(b)
                    rss = _rss_of_shape(
                        False, n_lev, omg, g, nk, yk, n0, y0, ssw, c_free, d_free, c_val, d_val
                    )
                if rss < best_rss:
                    best_rss = rss
                    best_b = mag if positive else -mag
                    best_l = le
    return best_b, best_l, best_rss


@_jit(inline="always")
def _covariance(
    weibull: bool,
    b: float,
    c: float,
    d: float,
    le: float,
    n_lev: int,
    tk: np.ndarray,
    nk: np.ndarray,
    yk: np.ndarray,
    n0: float,
    rss: float,
    dof: int,
    free: np.ndarray,
    g: np.ndarray,
    omg: np.ndarray,
    g1: np.ndarray,
    g2: np.ndarray,
    H: np.ndarray,
    A: np.ndarray,
    Li: np.ndarray,
    sc: np.ndarray,
    cov: np.ndarray,
) -> bool:  # pragma: no cover
    """drc's ``2 s^2 H^{-1}`` in natural parameters (``free`` indexes b, c, d, e) into ``cov``.

    Returns False (``cov`` unusable) unless the scaled Hessian ``S H S``,
    ``S = diag(H)^{-1/2}``, is safely positive definite (Cholesky succeeds and the trace of its
    inverse is at most 1e12, so every eigenvalue exceeds 1e-12); the caller then falls back to
    an eigen-decomposition.
    """
    _shape(weibull, b, le, n_lev, tk, g, omg, g1, g2)
    s = d - c
    H[:] = 0.0  # half Hessian in (b, c, d, le), upper triangle
    g0 = 1.0 if b > 0 else 0.0
    H[1, 1] = n0 * (1.0 - g0) ** 2
    H[1, 2] = n0 * (1.0 - g0) * g0
    H[2, 2] = n0 * g0 * g0
    gle = 0.0
    for k in range(n_lev):
        n_ = nk[k]
        r = yk[k] - c * omg[k] - d * g[k]
        nr = n_ * r
        dt = tk[k] - le
        j0 = s * g1[k] * dt
        j3 = -s * g1[k] * b
        j1 = omg[k]
        j2 = g[k]
        H[0, 0] += n_ * j0 * j0 - nr * s * g2[k] * dt * dt
        H[0, 1] += n_ * j0 * j1 + nr * g1[k] * dt
        H[0, 2] += n_ * j0 * j2 - nr * g1[k] * dt
        H[0, 3] += n_ * j0 * j3 + nr * s * (b * dt * g2[k] + g1[k])
        H[1, 1] += n_ * j1 * j1
        H[1, 2] += n_ * j1 * j2
        H[1, 3] += n_ * j1 * j3 - nr * g1[k] * b
        H[2, 2] += n_ * j2 * j2
        H[2, 3] += n_ * j2 * j3 + nr * g1[k] * b
        H[3, 3] += n_ * j3 * j3 - nr * s * g2[k] * b * b
        gle += nr * j3
    # log e -> e: H_ee = (H_ll + G_l) / e^2, H_ex = H_lx / e  (G = minus half the gradient)
    e = math.exp(le)
    for q in range(3):
        H[q, 3] /= e
    H[3, 3] = (H[3, 3] + gle) / (e * e)
    p = free.size
    for i in range(p):
        hii = H[free[i], free[i]]
        if not (hii > 0 and math.isfinite(hii)):
            return False
        sc[i] = 1.0 / math.sqrt(2.0 * hii)
    for i in range(p):
        for j in range(p):
            lo = min(free[i], free[j])
            hi = max(free[i], free[j])
            A[i, j] = 2.0 * H[lo, hi] * sc[i] * sc[j]
    # Cholesky A = L L^T (lower triangle of A overwritten)
    for j in range(p):
        sjj = A[j, j]
        for q in range(j):
            sjj -= A[j, q] * A[j, q]
        if not sjj > 1e-14:
            return False
        A[j, j] = math.sqrt(sjj)
        for i in range(j + 1, p):
            sij = A[i, j]
            for q in range(j):
                sij -= A[i, q] * A[j, q]
            A[i, j] = sij / A[j, j]
    # inverse of L, then A^{-1} = L^{-T} L^{-1}
    Li[:] = 0.0
    for i in range(p):
        Li[i, i] = 1.0 / A[i, i]
        for j in range(i):
            acc = 0.0
            for q in range(j, i):
                acc -= A[i, q] * Li[q, j]
            Li[i, j] = acc / A[i, i]
    trace = 0.0
    s2 = rss / dof
    for i in range(p):
        for j in range(i + 1):
            acc = 0.0
            for q in range(i, p):
                acc += Li[q, i] * Li[q, j]
            if i == j:
                trace += acc
            cov[i, j] = 2.0 * s2 * acc * sc[i] * sc[j]
            cov[j, i] = cov[i, j]
    return trace <= 1e12 and math.isfinite(trace * s2)


@_jit(fastmath=_FAST)
def _fit_range(
    lo_row: int,
    hi_row: int,
    t: np.ndarray,
    y: np.ndarray,
    zero: np.ndarray,
    n_obs: np.ndarray,
    rows: np.ndarray,
    t_lo: np.ndarray,
    t_hi: np.ndarray,
    weibull: bool,
    c_free: bool,
    d_free: bool,
    c_val: float,
    d_val: float,
    canonical: bool,
    free: np.ndarray,
    max_iter: int,
    multistart: bool,
    grid: int,
    sign_mode: int,
    params: np.ndarray,
    cov: np.ndarray,
    rss_out: np.ndarray,
    status: np.ndarray,
    n_iter: np.ndarray,
    fallback: np.ndarray,
) -> None:  # pragma: no cover
    """:func:`fit_curves` for ``rows[lo_row:hi_row]``, writing into the output arrays."""
    # the flip (b, c, d) -> (-b, d, c) maps an LL.4 curve onto itself: one sign covers both
    symmetric = c_free and d_free and not weibull
    m = t.shape[1]
    p = free.size
    key = np.empty(m)
    val = np.empty(m)
    tk = np.empty(m)
    nk = np.empty(m)
    yk = np.empty(m)
    g = np.empty(m)
    omg = np.empty(m)
    g1 = np.empty(m)
    g2 = np.empty(m)
    cur = np.empty(12)
    new = np.empty(12)
    best = np.empty(12)
    cv = np.empty((p, p))
    H = np.empty((4, 4))
    A = np.empty((p, p))
    Li = np.empty((p, p))
    sc = np.empty(p)
    natural = np.empty(4)
    for ii in range(lo_row, hi_row):
        i = rows[ii]
        k_obs = n_obs[i]
        # pool replicates: dose-0 wells into (n0, y0), positive doses sorted into levels
        n0 = 0.0
        y0 = 0.0
        n_pos = 0
        for j in range(k_obs):
            if zero[i, j]:
                n0 += 1.0
                y0 += y[i, j]
                continue
            v = t[i, j]
            q = n_pos
            while q > 0 and key[q - 1] > v:
                key[q] = key[q - 1]
                val[q] = val[q - 1]
                q -= 1
            key[q] = v
            val[q] = y[i, j]
            n_pos += 1
        ssw = 0.0
        if n0 > 0:
            y0 /= n0
            for j in range(k_obs):
                if zero[i, j]:
                    ssw += (y[i, j] - y0) ** 2
        n_lev = 0
        for j in range(n_pos):
            if j == 0 or key[j] != key[j - 1]:
                tk[n_lev] = key[j]
                nk[n_lev] = 0.0
                yk[n_lev] = 0.0
                n_lev += 1
            nk[n_lev - 1] += 1.0
            yk[n_lev - 1] += val[j]
        for k in range(n_lev):
            yk[k] /= nk[k]
        lev = -1
        for j in range(n_pos):
            if j == 0 or key[j] != key[j - 1]:
                lev += 1
            ssw += (val[j] - yk[lev]) ** 2
        lo = t_lo[i]
        hi = t_hi[i]
        # fit from the self-starter, then (if needed) from e at 1/3 and 2/3 of the doses
        b0, le0 = _start(weibull, n_lev, tk, nk, yk, n0, y0, c_free, d_free, c_val, d_val, lo, hi)
        sign = 1.0 if b0 >= 0 else -1.0
        best_b = b0
        best_l = le0
        best_st = _FAILED
        total = 0
        for start in range(3):
            if start == 0:
                bs, ls = b0, le0
            else:
                doubtful = (
                    best_st != _CONVERGED
                    or not math.isfinite(best_l)
                    or best_l < lo - 1.0
                    or best_l > hi + 1.0
                    or abs(best_b) > 10.0
                )
                if not (multistart or doubtful):
                    break
                bs, ls = sign, lo + start * (hi - lo) / 3.0
            bb, ll, st, its = _solve_lm(
                weibull,
                bs,
                ls,
                max_iter,
                n_lev,
                tk,
                nk,
                yk,
                n0,
                y0,
                ssw,
                c_free,
                d_free,
                c_val,
                d_val,
                g,
                omg,
                g1,
                g2,
                cur,
                new,
            )
            total += its
            best_rss = np.inf if best_st == _FAILED else best[0]
            new_rss = np.inf if st == _FAILED else cur[0]
            if start == 0 or new_rss < best_rss * (1 - 1e-12):
                best[:] = cur
                best_b = bb
                best_l = ll
                best_st = st
        if grid == 2 and n_lev >= 2:  # auto: only where the fit is poor or doubtful
            n_all = n0
            s_all = n0 * y0
            for k in range(n_lev):
                n_all += nk[k]
                s_all += nk[k] * yk[k]
            mean = s_all / n_all
            tss = ssw + n0 * (y0 - mean) ** 2
            for k in range(n_lev):
                tss += nk[k] * (yk[k] - mean) ** 2
            poor = (
                best_st != _CONVERGED
                or not math.isfinite(best_l)
                or best_l < lo - 1.0
                or best_l > hi + 1.0
                or abs(best_b) > 10.0
                or best[0] > _GRID_R2 * tss
            )
        else:
            poor = grid == 1
        # sign_mode 1 (drc): stay on the self-starter's side of b = 0, as drc's optimiser does
        own_side = 0 if sign_mode == 0 else (1 if sign > 0 else -1)
        if poor and n_lev >= 2:
            gb, gl, g_rss = _grid_start(
                weibull, n_lev, tk, nk, yk, n0, y0, ssw, c_free, d_free, c_val, d_val,
                own_side, 4, key, g, omg, g1, g2,
            )  # fmt: skip
            best_rss = np.inf if best_st == _FAILED else best[0]
            if g_rss < best_rss * (1 - 1e-9):
                bb, ll, st, its = _solve_lm(
                    weibull, gb, gl, max_iter, n_lev, tk, nk, yk, n0, y0, ssw,
                    c_free, d_free, c_val, d_val, g, omg, g1, g2, cur, new,
                )  # fmt: skip
                total += its
                if st != _FAILED and cur[0] < best_rss * (1 - 1e-12):
                    best[:] = cur
                    best_b = bb
                    best_l = ll
                    best_st = st
        if sign_mode == 0 and not symmetric and n_lev >= 2:
            # the other sign of b (c and d swapped) is a different curve family here: refit
            # from the best grid point on that side with a slope of at most 2 per log unit (a
            # steeper start can lead into a step-shaped local optimum), keep the lower RSS
            other = -1 if best_b > 0 else 1
            gb, gl, g_rss = _grid_start(
                weibull, n_lev, tk, nk, yk, n0, y0, ssw, c_free, d_free, c_val, d_val,
                other, 3, key, g, omg, g1, g2,
            )  # fmt: skip
            if math.isfinite(g_rss):
                bb, ll, st, its = _solve_lm(
                    weibull, gb, gl, max_iter, n_lev, tk, nk, yk, n0, y0, ssw,
                    c_free, d_free, c_val, d_val, g, omg, g1, g2, cur, new,
                )  # fmt: skip
                total += its
                best_rss = np.inf if best_st == _FAILED else best[0]
                if st != _FAILED and cur[0] < best_rss * (1 - 1e-12):
                    best[:] = cur
                    best_b = bb
                    best_l = ll
                    best_st = st
        status[ii] = best_st
        n_iter[ii] = total
        if best_st == _FAILED:
            continue
        b_ = best_b
        c_ = best[1]
        d_ = best[2]
        if canonical and c_ > d_:
            b_ = -b_
            c_, d_ = d_, c_
        rss_out[ii] = best[0]
        natural[0] = b_
        natural[1] = c_
        natural[2] = d_
        natural[3] = math.exp(best_l)
        for q in range(p):
            params[ii, q] = natural[free[q]]
        dof = k_obs - p
        if _covariance(
            weibull,
            b_,
            c_,
            d_,
            best_l,
            n_lev,
            tk,
            nk,
            yk,
            n0,
            best[0],
            dof,
            free,
            g,
            omg,
            g1,
            g2,
            H,
            A,
            Li,
            sc,
            cv,
        ):
            cov[ii] = cv
        else:
            fallback[ii] = True


@_jit(parallel=True)
def fit_curves(
    t: np.ndarray,
    y: np.ndarray,
    zero: np.ndarray,
    n_obs: np.ndarray,
    rows: np.ndarray,
    t_lo: np.ndarray,
    t_hi: np.ndarray,
    weibull: bool,
    c_free: bool,
    d_free: bool,
    c_val: float,
    d_val: float,
    canonical: bool,
    free: np.ndarray,
    max_iter: int,
    multistart: bool,
    grid: int = 0,
    sign_mode: int = 0,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:  # pragma: no cover
    """Fit the curves ``rows`` of a padded batch.

    Parameters: padded ``t``, ``y``, ``zero`` and ``n_obs`` as in ``CurveBatch``; the family
    (``weibull``: W1.4, else log-logistic with f = 1), which of c and d are free (the others
    fixed at ``c_val``/``d_val``), ``canonical`` (report the LL.4 form with c <= d), ``free``
    (indices into (b, c, d, e) of the reported parameters), ``max_iter`` (per start) and
    ``multistart`` (refit every curve from the alternative starts, not only doubtful ones) and
    ``grid`` (0: no; 1: every curve; 2: curves whose fit is doubtful or explains less than
    90 % of the variance — also search the profiled RSS on a grid of ``(b, log e)`` and refit
    from its best point when that beats the fit so far; ragged curves have local minima) and
    ``sign_mode`` (0: both signs of b — where the flip ``(b, c, d) -> (-b, d, c)`` is not a
    symmetry (W1.4, LL.3, LL.2, a fixed c or d) every curve is also refitted from the best grid
    point on the other side of b = 0 and the lower RSS kept; 1: R drc's answer — only the side
    of the self-starter's slope is searched, as drc's optimiser never leaves it).

    Returns ``params`` (len(rows), p), ``cov`` (len(rows), p, p), ``rss``, ``status``,
    ``n_iter`` and ``fallback`` (True where the covariance needs the eigen-decomposition path).
    """
    n = rows.size
    p = free.size
    params = np.full((n, p), np.nan)
    cov = np.full((n, p, p), np.nan)
    rss_out = np.full(n, np.nan)
    status = np.full(n, _FAILED, np.int8)
    n_iter = np.zeros(n, np.int64)
    fallback = np.zeros(n, np.bool_)
    for ch in nb.prange((n + _CHUNK - 1) // _CHUNK):
        _fit_range(
            ch * _CHUNK,
            min(n, (ch + 1) * _CHUNK),
            t,
            y,
            zero,
            n_obs,
            rows,
            t_lo,
            t_hi,
            weibull,
            c_free,
            d_free,
            c_val,
            d_val,
            canonical,
            free,
            max_iter,
            multistart,
            grid,
            sign_mode,
            params,
            cov,
            rss_out,
            status,
            n_iter,
            fallback,
        )
    return params, cov, rss_out, status, n_iter, fallback
