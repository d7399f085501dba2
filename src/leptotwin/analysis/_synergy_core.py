"""Array maths of the synergy scores, batched over blocks (no per-block Python loop).

Every function works on a stack of ``n`` blocks of the same shape: ``conc_r`` of shape
``(n, nr)`` and ``conc_c`` of shape ``(n, nc)`` (ascending, first entry 0) and mean responses
``inhib`` of shape ``(n, nr, nc)`` in **% inhibition** (0 = no effect, 100 = full effect), row 0
holding the column drug alone and column 0 the row drug alone. Scores are in inhibition points;
positive is synergy. Monotherapy cells get score 0, as in SynergyFinder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from leptotwin.analysis._drfit import fit_batch, make_batch
from leptotwin.analysis._kernels import _jit
from leptotwin.analysis._llmodels import get_model
from leptotwin.analysis._synergy_zipfit import fit_bounded_hill

Array = NDArray[np.float64]

__all__ = [
    "ZIP_VARIANTS",
    "MonoFits",
    "bliss",
    "fit_monotherapies",
    "hsa",
    "ll4",
    "loewe",
    "loewe_expected",
    "most_synergistic_area",
    "zip_delta",
    "zip_delta_synergyfinder",
]


# --------------------------------------------------------------------------- helpers
def _norm_sf(x: Array) -> Array:
    """``scipy.stats.norm.sf(x)``, bit for bit (``ndtr(-x)``, as scipy.stats computes it; 0 at
    inf, 1 at -inf, NaN at NaN; tested), without importing scipy.stats: its import was 0.4-0.5 s
    of ``leptotwin synergy``'s start-up (issue 14), for the bootstrap p-values alone."""
    from scipy import special

    return special.ndtr(-np.asarray(x, dtype=np.float64))


def ll4(x: Array, b: Array, c: Array, d: Array, e: Array) -> Array:
    """drc LL.4 ``c + (d - c) / (1 + exp(b (log x - log e)))``, with its limit at ``x = 0``."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        z = b * (np.log(x) - np.log(e))
        out = c + (d - c) / (1.0 + np.exp(z))
        at_zero = np.where(b > 0, d, c)
    return np.where(x == 0, at_zero, out)


def _fit_ll4(dose: Array, resp: Array, fixed: dict[str, float] | None) -> tuple[Array, Array]:
    """Least-squares LL.4 fits of many curves: ``dose, resp`` of shape (n_curves, m).

    Returns the full parameters ``(n_curves, 4)`` as ``b, c, d, e`` (fixed ones filled in) and a
    boolean ``ok`` per curve. NaN responses are left out.
    """
    n, m = resp.shape
    model = get_model("LL.4", fixed)
    keep = np.isfinite(resp).ravel()
    codes = np.repeat(np.arange(n, dtype=np.int64), m)[keep]
    batch = make_batch(codes, dose.ravel()[keep], resp.ravel()[keep], n)
    # every curve from all starts and the grid: a block's fits must not depend on how many
    # other blocks share the batch, and ragged single-drug series have local minima
    fit = fit_batch(model, batch, se="hessian", multistart=True, grid=True)
    full = np.empty((n, 4))
    for k, name in enumerate(("b", "c", "d", "e")):
        if name in model.names:
            full[:, k] = fit.params[:, model.names.index(name)]
        else:
            full[:, k] = model.fixed[name]
    ok = (fit.status == 0) & np.isfinite(full).all(axis=1)
    return full, ok


#: Window of a monotherapy LL.4 fit (:func:`_fit_mono_ll4`): the EC50 within this many decades
#: of the tested positive doses, each asymptote within this many observed response ranges of
#: the observed responses, and the slope within this bound.
_MONO_E_DECADES, _MONO_PAD_RANGES, _MONO_B_MAX = 3.0, 2.0, 50.0
_MONO_GRID_B = np.geomspace(0.05, _MONO_B_MAX, 16)
_MONO_GRID_N_E = 41


def _mono_window(dose: Array, resp: Array) -> tuple[Array, Array]:
    """Box ``(lo, hi)`` of shape (k, 4) on ``b, c, d, log e`` for each curve (see
    :func:`_fit_mono_ll4`); ``dose`` holds the tested doses, 0 (or a tiny stand-in) for none."""
    # (no nanmin: an all-NaN row must not warn; it gets an empty box and no refit)
    fin = np.isfinite(resp)
    y_lo = np.where(fin, resp, np.inf).min(axis=1)
    y_hi = np.where(fin, resp, -np.inf).max(axis=1)
    pos = dose > 1e-9 * np.max(dose, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        pad = _MONO_PAD_RANGES * (y_hi - y_lo) + 1e-9 * np.maximum(1.0, np.abs(y_hi))
        e_lo = np.log(np.where(pos, dose, np.inf).min(axis=1))
        e_hi = np.log(np.where(pos, dose, 0.0).max(axis=1))
    dec = _MONO_E_DECADES * np.log(10.0)
    b = np.full_like(y_lo, _MONO_B_MAX)
    lo = np.column_stack([-b, y_lo - pad, y_lo - pad, e_lo - dec])
    hi = np.column_stack([b, y_hi + pad, y_hi + pad, e_hi + dec])
    return lo, hi


def _ll4_log_e(x: Array, q: Array) -> Array:
    """LL.4 at doses ``x`` (k, m) for parameters ``b, c, d, log e`` (k, 4)."""
    b, c, d, le = (q[:, j : j + 1] for j in range(4))
    return ll4(x, b, c, d, np.exp(le))


def _box_ls_2(g: Array, y: Array, w: Array, lo: Array, hi: Array) -> tuple[Array, Array, Array]:
    """Least-squares ``c (1 - g) + d g`` with ``lo <= c, d <= hi``, exactly, over the last axis.

    A convex quadratic in two variables: its box minimum is the free minimum when inside, else
    on an edge, where the one-variable problem is solved by clipping. Returns ``c, d, rss``."""
    u = 1.0 - g
    suu, sgg, sug = (w * u * u).sum(-1), (w * g * g).sum(-1), (w * u * g).sum(-1)
    suy, sgy = (w * u * y).sum(-1), (w * g * y).sum(-1)
    det = suu * sgg - sug * sug
    with np.errstate(divide="ignore", invalid="ignore"):
        c0 = (sgg * suy - sug * sgy) / det
        d0 = (suu * sgy - sug * suy) / det
    cands = [(c0, d0)]
    for edge in (lo, hi):
        with np.errstate(divide="ignore", invalid="ignore"):
            cands.append((np.broadcast_to(edge, c0.shape), (sgy - sug * edge) / sgg))
            cands.append(((suy - sug * edge) / suu, np.broadcast_to(edge, c0.shape)))
    best_c = best_d = best = None
    for c, d in cands:
        c = np.clip(np.nan_to_num(c, nan=0.5 * (lo + hi)), lo, hi)
        d = np.clip(np.nan_to_num(d, nan=0.5 * (lo + hi)), lo, hi)
        r = (w * (y - c[..., None] * u - d[..., None] * g) ** 2).sum(-1)
        if best is None:
            best_c, best_d, best = c, d, r
        else:
            take = r < best
            best_c, best_d, best = (np.where(take, c, best_c), np.where(take, d, best_d),
                                    np.where(take, r, best))  # fmt: skip
    return best_c, best_d, best


def _fit_bounded_ll4(dose: Array, resp: Array, lo: Array, hi: Array) -> Array:
    """LL.4 least squares within the box ``lo, hi`` (k, 4) on ``b, c, d, log e``: a profiled
    grid over ``(b, log e)`` (``c, d`` solved exactly within their bounds), then a bounded
    trust-region polish from the best grid point. Returns ``b, c, d, e`` (k, 4)."""
    from scipy.optimize import least_squares

    w = np.isfinite(resp).astype(float)
    y = np.where(w > 0, resp, 0.0)
    out = np.empty((len(y), 4))
    signed_b = np.concatenate([-_MONO_GRID_B[::-1], _MONO_GRID_B])
    for i in range(len(y)):
        le = np.linspace(lo[i, 3], hi[i, 3], _MONO_GRID_N_E)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lx = np.log(dose[i])
            z = signed_b[:, None, None] * (lx[None, None, :] - le[None, :, None])
            g = 0.5 * (1.0 - np.tanh(0.5 * z))  # 1 / (1 + exp(z)), the weight of d
        if np.any(dose[i] == 0):  # LL.4's limit at dose 0: d for b > 0, c for b < 0
            g[..., dose[i] == 0] = (signed_b > 0).astype(float)[:, None, None]
        c, d, rss = _box_ls_2(g, y[i], w[i], lo[i, 1], hi[i, 1])
        j, k = np.unravel_index(np.argmin(rss), rss.shape)
        q0 = np.array([signed_b[j], c[j, k], d[j, k], le[k]])
        keep = w[i] > 0

        def res(q: Array, i: int = i, keep: NDArray[np.bool_] = keep) -> Array:
            return (_ll4_log_e(dose[i : i + 1, keep], q[None]) - y[i : i + 1, keep]).ravel()

        sol = least_squares(res, q0, bounds=(lo[i], hi[i]), method="trf", x_scale="jac")
        q = sol.x if 2.0 * sol.cost <= rss[j, k] else q0
        out[i] = [q[0], q[1], q[2], np.exp(q[3])]
    return out


def _fit_mono_ll4(dose: Array, resp: Array, tested: Array) -> tuple[Array, Array]:
    """Monotherapy LL.4 fits that never run away; ``tested``: the doses before 0 was replaced.

    A single drug that is nearly inactive (flat, noisy responses) has its free LL.4 least-squares
    infimum at a limit of the model: a slope ``b`` near 0 with asymptotes in the thousands or
    millions and ``e`` at 0 or infinity (a straight line in log dose over 30 decades). Such a fit
    either fails (``e`` infinite) or evaluates to values far from the data. The fit here is LL.4
    within a box: ``e`` within 10^3 of the tested positive doses, both asymptotes within two
    observed response ranges of the observed responses, ``|b| <= 50``. Where the free global fit
    lies inside that box it is also the boxed optimum and is kept unchanged (every well-behaved
    curve); otherwise (non-convergence, or a parameter outside the box) the curve is refitted
    within the box (not a series of 4 points or fewer, nor a constant one: those fail as
    before). Over the tested doses a boxed fit of a flat drug is flat (a step below the
    lowest dose, or a shallow curve between bounded asymptotes). The same rule runs in the point
    estimate and in every bootstrap replicate, which both call this function.
    """
    full, ok = _fit_ll4(dose, resp, None)
    lo, hi = _mono_window(tested, resp)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.column_stack([full[:, :3], np.log(full[:, 3])])
    inside = np.isfinite(q).all(axis=1) & (q[:, 1:] >= lo[:, 1:]).all(axis=1)
    inside &= (q[:, 1:] <= hi[:, 1:]).all(axis=1)
    # as before: no fit from 4 points or fewer (4 parameters) nor of a constant series
    fin = np.isfinite(resp)
    spread = np.where(fin, resp, -np.inf).max(axis=1) - np.where(fin, resp, np.inf).min(axis=1)
    fittable = (fin.sum(axis=1) > 4) & (spread > 0)
    redo = np.flatnonzero(~(ok & inside) & fittable)
    if redo.size:
        full = full.copy()
        full[redo] = _fit_bounded_ll4(dose[redo], resp[redo], lo[redo], hi[redo])
        ok = ok.copy()
        ok[redo] = np.isfinite(full[redo]).all(axis=1)
    return full, ok


@dataclass(frozen=True)
class MonoFits:
    """LL.4 fits of the two monotherapies of each block (% inhibition scale).

    ``row`` and ``col``: arrays of shape (n, 4) with drc's ``b, c, d, e`` (``e`` in the
    concentration unit); ``row_fitted`` (n, nr) and ``col_fitted`` (n, nc): fitted responses at
    the tested concentrations; ``row_ok``, ``col_ok``: convergence.
    """

    row: Array
    col: Array
    row_fitted: Array
    col_fitted: Array
    row_ok: NDArray[np.bool_]
    col_ok: NDArray[np.bool_]


def fit_monotherapies(
    conc_r: Array, conc_c: Array, inhib: Array, *, zero_dose: float = 0.0
) -> MonoFits:
    """Fit LL.4 (all four parameters free, drc least squares) to both single-drug series.

    SynergyFinder's ``FitDoseResponse`` with ``Emin = NA, Emax = NA``, kept within the window of
    :func:`_fit_mono_ll4` (a nearly inactive drug's free fit runs away): the zero-dose cell is
    part of the fit, at dose ``zero_dose`` (SynergyFinder: 1e-10 in the concentration unit;
    0 uses the model's limit at dose 0, which leaves ``e`` free below the lowest dose).
    """
    n = inhib.shape[0]
    tested_r, tested_c = conc_r, conc_c
    conc_r = np.where(conc_r == 0, zero_dose, conc_r)
    conc_c = np.where(conc_c == 0, zero_dose, conc_c)
    ragged = conc_r.shape[1] != conc_c.shape[1]
    if ragged:  # fit the two sets separately when the shapes differ (non-square matrices)
        pr, okr = _fit_mono_ll4(conc_r, inhib[:, :, 0], tested_r)
        pc, okc = _fit_mono_ll4(conc_c, inhib[:, 0, :], tested_c)
    else:
        dose = np.concatenate([conc_r, conc_c], axis=0)
        resp = np.concatenate([inhib[:, :, 0], inhib[:, 0, :]], axis=0)
        p, ok = _fit_mono_ll4(dose, resp, np.concatenate([tested_r, tested_c], axis=0))
        pr, pc, okr, okc = p[:n], p[n:], ok[:n], ok[n:]
    fr = ll4(conc_r, *(pr[:, k : k + 1] for k in range(4)))
    fc = ll4(conc_c, *(pc[:, k : k + 1] for k in range(4)))
    return MonoFits(pr, pc, fr, fc, okr, okc)


def _zero_monos(score: Array) -> Array:
    score[:, 0, :] = 0.0
    score[:, :, 0] = 0.0
    return score


# --------------------------------------------------------------------------- Bliss, HSA
def bliss(inhib: Array, top: float = 100.0) -> tuple[Array, Array]:
    """Bliss independence on observed monotherapies: ``(score, expected)``.

    Expected ``I_r + I_c - I_r I_c / top`` (SynergyFinder ``Bliss``; ``top`` is full effect).
    """
    ir = inhib[:, :, :1]
    ic = inhib[:, :1, :]
    expected = ir + ic - ir * ic / top
    return _zero_monos(inhib - expected), expected


def hsa(inhib: Array) -> tuple[Array, Array]:
    """Highest single agent on observed monotherapies: ``(score, expected)``."""
    expected = np.maximum(inhib[:, :, :1], inhib[:, :1, :])
    return _zero_monos(inhib - expected), expected


# --------------------------------------------------------------------------- Loewe
def _inverse_ll4(y: Array, p: Array) -> Array:
    """Dose at which an LL.4 curve (``p[..., 0:4] = b, c, d, e``) reaches ``y``; NaN outside."""
    b, c, d, e = (p[..., k] for k in range(4))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = (d - y) / (y - c)
        x = e * np.power(ratio, 1.0 / b)
    return np.where(ratio > 0, x, np.nan)


def loewe_expected(
    x_r: Array, x_c: Array, p_r: Array, p_c: Array, *, top: float | None = 100.0, n_iter: int = 200
) -> tuple[Array, NDArray[np.bool_]]:
    """Loewe-additive response at doses ``(x_r, x_c)`` given LL.4 curves of the two drugs.

    Solves ``x_r / D_r(y) + x_c / D_c(y) = 1`` for ``y`` (``D`` the inverse dose-response
    curve) by bisection over the response range both curves reach (the equation is monotone
    there). Where that range holds no root, falls back to SynergyFinder's choice: the larger of
    the two drugs' responses at the total dose ``x_r + x_c``. ``top`` caps the result (None: no
    cap). Arrays broadcast; ``p_*`` have a trailing axis ``b, c, d, e``.

    Returns
    -------
    expected, solved
        The Loewe response and whether the implicit equation had a root.
    """
    x_r, x_c = np.broadcast_arrays(np.asarray(x_r, float), np.asarray(x_c, float))
    shape = x_r.shape
    pr = np.broadcast_to(p_r, (*shape, 4))
    pc = np.broadcast_to(p_c, (*shape, 4))
    lo = np.maximum(np.minimum(pr[..., 1], pr[..., 2]), np.minimum(pc[..., 1], pc[..., 2]))
    hi = np.minimum(np.maximum(pr[..., 1], pr[..., 2]), np.maximum(pc[..., 1], pc[..., 2]))
    # both curves must rise with dose (or both fall) for the isobole equation to be monotone
    up_r = (pr[..., 2] - pr[..., 1]) * -pr[..., 0] > 0
    up_c = (pc[..., 2] - pc[..., 1]) * -pc[..., 0] > 0
    same = up_r == up_c

    def g(y: Array) -> Array:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return x_r / _inverse_ll4(y, pr) + x_c / _inverse_ll4(y, pc) - 1.0

    width = hi - lo
    eps = 1e-12 * np.maximum(np.abs(width), 1.0)
    a, z = lo + eps, hi - eps
    ga, gz = g(a), g(z)
    sign = np.where(up_r, 1.0, -1.0)  # g decreases in y for rising curves
    ga, gz = ga * sign, gz * sign
    solved = same & (width > 0) & (ga > 0) & (gz < 0)
    for _ in range(n_iter):
        mid = 0.5 * (a + z)
        gm = g(mid) * sign
        pos = gm > 0
        a = np.where(pos, mid, a)
        z = np.where(pos, z, mid)
        if np.all(~solved | (z - a <= 4e-16 * np.maximum(np.abs(a), 1.0))):
            break
    root = 0.5 * (a + z)
    total = x_r + x_c
    fallback = np.maximum(
        ll4(total, *(pr[..., k] for k in range(4))), ll4(total, *(pc[..., k] for k in range(4)))
    )
    expected = np.where(solved, root, fallback)
    if top is not None:
        expected = np.minimum(expected, top)
    return expected, solved


def loewe(
    conc_r: Array, conc_c: Array, inhib: Array, mono: MonoFits, top: float = 100.0
) -> tuple[Array, Array]:
    """Loewe additivity (SynergyFinder ``Loewe``): ``(score, expected)``."""
    xr = conc_r[:, :, None]
    xc = conc_c[:, None, :]
    expected, _ = loewe_expected(
        xr, xc, mono.row[:, None, None, :], mono.col[:, None, None, :], top=top
    )
    expected = expected.copy()
    expected[:, :, 0] = inhib[:, :, 0]
    expected[:, 0, :] = inhib[:, 0, :]
    return _zero_monos(inhib - expected), expected


# --------------------------------------------------------------------------- ZIP
def _refit_slices(
    dose: Array, resp: Array, start: Array, top: float, free_top: bool
) -> tuple[Array, NDArray[np.bool_], Array]:
    """Fit LL.4 curves that start at ``start`` (dose 0) and end at ``top`` (or a free top).

    ``dose, resp``: (k, m); ``start``: (k,). The fixed asymptotes differ per curve, so the data
    are mapped onto a common scale first: ``(y - start) / (top - start)`` for a fixed top (a
    per-curve factor on every residual, so the least-squares ``b, e`` are unchanged), or
    ``y - start`` with a free top. Returns fitted values (k, m), ``ok`` and parameters (k, 4)
    on the original scale.
    """
    start = start[:, None]
    if free_top:
        # the synergy package's _Hill_3P: slope > 0 (dose 0 at the start), top in
        # [top - 1.5 top, top] (its Emax_bounds (0, 1.5) on viability), at the global optimum
        s0 = start[:, 0]
        with np.errstate(invalid="ignore"):
            q, _, _ = fit_bounded_hill(dose, resp - start, -0.5 * top - s0, top - s0)
        # an optimum at a limit (a step between two doses, h -> inf; or a flat line) has
        # well-defined values with the top bounded: kept, as the package keeps it
        ok = np.isfinite(q).all(axis=1)
        full = np.column_stack([q[:, 1], s0 + q[:, 0], s0, q[:, 2]])
    else:
        span = top - start
        good = np.abs(span[:, 0]) > 1e-12
        scaled = np.where(good[:, None], (resp - start) / np.where(good[:, None], span, 1.0), 0.0)
        p, ok = _fit_ll4(dose, scaled, {"c": 0.0, "d": 1.0})
        ok &= good
        full = p.copy()
        full[:, 1] = start[:, 0]
        full[:, 2] = top
    fitted = ll4(dose, *(full[:, k : k + 1] for k in range(4)))
    return fitted, ok, full


#: ZIP definitions: ``"yadav"`` (default), ``"synergyfinder"`` (3.7.x), ``"synergy"`` (package).
ZIP_VARIANTS = ("yadav", "synergyfinder", "synergy")


def zip_delta(
    conc_r: Array,
    conc_c: Array,
    inhib: Array,
    mono: MonoFits,
    *,
    top: float = 100.0,
    variant: str = "yadav",
) -> tuple[Array, Array, NDArray[np.int64]]:
    """ZIP delta scores: ``(score, expected, left_out)``.

    ``expected`` is the Bliss surface of the monotherapy fits; ``left_out`` (n,) counts the
    fits of each block that failed or ran away (such a slice is never averaged in: its cells
    take the other direction's fit alone, or the observed response if that failed too).

    ``variant="yadav"`` (default; Yadav et al. 2015, SynergyFinder 2.x as documented): for
    each positive concentration of one drug, an LL.4 curve of the other drug is fitted to the
    combination cells only (positive doses), its dose-0 asymptote fixed to the first drug's
    *fitted* monotherapy response and its top fixed to ``top`` (100 %); every fit at its global
    least-squares optimum; the two fitted surfaces are averaged and the Bliss product of the
    fitted monotherapies is subtracted. A slice whose fit fails keeps its observed values (as
    SynergyFinder 2.x does); a slice with a single positive dose uses the observation.

    ``variant="synergyfinder"`` (SynergyFinder 3.7.x ``ZIP()``): see
    :func:`zip_delta_synergyfinder`; ``mono`` is not used.

    ``variant="synergy"`` (the ``synergy`` package's ``ZIP``): the slice fits include the
    zero-dose cell, start at the single drug's own fitted curve, have a Hill slope > 0 and a
    top free within the package's bound (``Emax`` in [0, 1.5] of viability: ``[-top / 2,
    top]`` here), each at its global optimum (:func:`_synergy_zipfit.fit_bounded_hill`); the
    Bliss surface and the slices' dose-0 level use monotherapy curves evaluated with the
    mean of the two fitted dose-0 asymptotes, as in the package.
    """
    if variant == "synergyfinder":
        return zip_delta_synergyfinder(conc_r, conc_c, inhib, top=top)
    n, nr, nc = inhib.shape
    free_top = variant == "synergy"
    first = 0 if free_top else 1
    br, bc = mono.row, mono.col
    if free_top:
        e0 = 0.5 * (_at_zero(br) + _at_zero(bc))
        fr = ll4(conc_r, *_with_start(br, e0))
        fc = ll4(conc_c, *_with_start(bc, e0))
    else:
        fr, fc = mono.row_fitted, mono.col_fitted
    # (a) row drug varies, column drug fixed at conc_c[j] (j >= 1)
    dose_a = np.broadcast_to(conc_r[:, None, first:], (n, nc - 1, nr - first)).reshape(
        -1, nr - first
    )
    resp_a = inhib[:, first:, 1:].transpose(0, 2, 1).reshape(-1, nr - first)
    start_a = mono.col_fitted[:, 1:].reshape(-1)
    # (b) column drug varies, row drug fixed at conc_r[i] (i >= 1)
    dose_b = np.broadcast_to(conc_c[:, None, first:], (n, nr - 1, nc - first)).reshape(
        -1, nc - first
    )
    resp_b = inhib[:, 1:, first:].reshape(-1, nc - first)
    start_b = mono.row_fitted[:, 1:].reshape(-1)
    surf_a = _slice_fits(dose_a, resp_a, start_a, top, free_top)
    surf_b = _slice_fits(dose_b, resp_b, start_b, top, free_top)
    if free_top:  # evaluate the slices from the averaged-E0 monotherapy values
        ok_a, ok_b = surf_a[2], surf_b[2]
        fit_a = _restart(surf_a, fc[:, 1:].reshape(-1), dose_a)[:, 1:]
        fit_b = _restart(surf_b, fr[:, 1:].reshape(-1), dose_b)[:, 1:]
    else:
        (fit_a, _, ok_a), (fit_b, _, ok_b) = surf_a, surf_b
    a = fit_a.reshape(n, nc - 1, nr - 1).transpose(0, 2, 1)
    b = fit_b.reshape(n, nr - 1, nc - 1)
    fitted, flagged = _average_slices(
        a,
        b,
        ok_a.reshape(n, nc - 1)[:, None, :],
        ok_b.reshape(n, nr - 1)[:, :, None],
        inhib[:, 1:, 1:],
    )
    expected = np.empty_like(inhib)
    frr = fr[:, :, None]
    fcc = fc[:, None, :]
    expected[:] = frr + fcc - frr * fcc / top
    score = np.zeros_like(inhib)
    score[:, 1:, 1:] = fitted - expected[:, 1:, 1:]
    return score, expected, flagged


def _average_slices(
    a: Array, b: Array, ok_a: NDArray[np.bool_], ok_b: NDArray[np.bool_], observed: Array
) -> tuple[Array, NDArray[np.int64]]:
    """Mean of the two directions' fits (n, r, c) over the directions whose slice fit is
    usable; the observed combination response where neither is. Also how many slices of each
    block were left out."""
    left_out = (~ok_a).reshape(a.shape[0], -1).sum(axis=1) + (~ok_b).reshape(a.shape[0], -1).sum(
        axis=1
    )
    ok_a = np.broadcast_to(ok_a, a.shape)
    ok_b = np.broadcast_to(ok_b, b.shape)
    total = np.where(ok_a, a, 0.0) + np.where(ok_b, b, 0.0)
    count = ok_a.astype(np.int64) + ok_b
    with np.errstate(invalid="ignore", divide="ignore"):
        fitted = np.where(count > 0, total / np.maximum(count, 1), observed)
    return fitted, left_out


def zip_delta_synergyfinder(
    conc_r: Array, conc_c: Array, inhib: Array, *, top: float = 100.0
) -> tuple[Array, Array, NDArray[np.int64]]:
    """SynergyFinder 3.7.x ``ZIP()`` (Bioconductor release of 2023): ``(score, expected,
    left_out)`` as in :func:`zip_delta`.

    Each single drug is fitted on its own (LL.4, all four parameters free, the zero-dose cell
    at the model's dose-0 limit); expected = Bliss product of those fits' predictions. For
    each positive concentration of one drug, the other drug's whole series, zero-dose cell
    included, is fitted with the lower limit ``c`` fixed to that cell's *observed* response and
    the top free. The two directions' predictions are averaged; monotherapy cells get score 0
    and expected = observed. Every fit follows R drc's own path (self-starter, scaling, BFGS,
    L.4 on log dose where drm fails), because the published means are where that path stops
    (some Mathews slices end at drc's 500-iteration limit, not at an optimum). A fit that fails
    on both paths (SynergyFinder stops with an error) is left out and the block flagged; a
    failed monotherapy fit makes the block's scores NaN.
    """
    n, nr, nc = inhib.shape
    free = np.full(n, np.nan)
    fr, _, path_r = _synergyfinder_fits(
        np.ascontiguousarray(conc_r), np.ascontiguousarray(inhib[:, :, 0]), free
    )
    fc, _, path_c = _synergyfinder_fits(
        np.ascontiguousarray(conc_c), np.ascontiguousarray(inhib[:, 0, :]), free
    )
    # (a) row drug varies at conc_c[j] (j >= 1), its lower limit the observed cell (0, j)
    fit_a, _, path_a = _synergyfinder_fits(
        np.repeat(conc_r, nc - 1, axis=0),
        np.ascontiguousarray(inhib[:, :, 1:].transpose(0, 2, 1).reshape(-1, nr)),
        np.ascontiguousarray(inhib[:, 0, 1:].reshape(-1)),
    )
    # (b) column drug varies at conc_r[i] (i >= 1), its lower limit the observed cell (i, 0)
    fit_b, _, path_b = _synergyfinder_fits(
        np.repeat(conc_c, nr - 1, axis=0),
        np.ascontiguousarray(inhib[:, 1:, :].reshape(-1, nc)),
        np.ascontiguousarray(inhib[:, 1:, 0].reshape(-1)),
    )
    a = fit_a.reshape(n, nc - 1, nr).transpose(0, 2, 1)[:, 1:, :]
    b = fit_b.reshape(n, nr - 1, nc)[:, :, 1:]
    ok_a = (path_a != _SF_FAILED).reshape(n, nc - 1)[:, None, :]
    ok_b = (path_b != _SF_FAILED).reshape(n, nr - 1)[:, :, None]
    fitted, flagged = _average_slices(a, b, ok_a, ok_b, inhib[:, 1:, 1:])
    frr = fr[:, :, None]
    fcc = fc[:, None, :]
    expected = frr + fcc - frr * fcc / top
    expected[:, 0, :] = inhib[:, 0, :]
    expected[:, :, 0] = inhib[:, :, 0]
    score = np.zeros_like(inhib)
    score[:, 1:, 1:] = fitted - expected[:, 1:, 1:]
    mono_failed = (path_r == _SF_FAILED) | (path_c == _SF_FAILED)
    score[mono_failed] = np.nan
    return score, expected, flagged + (path_r == _SF_FAILED) + (path_c == _SF_FAILED)


def _at_zero(p: Array) -> Array:
    return np.where(p[:, 0] > 0, p[:, 2], p[:, 1])


def _with_start(p: Array, e0: Array) -> tuple[Array, ...]:
    """LL.4 parameters with the dose-0 asymptote replaced by ``e0`` (columns for broadcasting)."""
    q = p.copy()
    zero_is_d = q[:, 0] > 0
    q[:, 2] = np.where(zero_is_d, e0, q[:, 2])
    q[:, 1] = np.where(zero_is_d, q[:, 1], e0)
    return tuple(q[:, k : k + 1] for k in range(4))


def _slice_fits(
    dose: Array, resp: Array, start: Array, top: float, free_top: bool
) -> tuple[Array, Array, NDArray[np.int64]]:
    """Fitted values (k, m), parameters (k, 4) and whether each slice fit is usable."""
    k, m = resp.shape
    if m == 1 and not free_top:  # SynergyFinder: one combination dose, no fit
        return resp - 1e-10, np.full((k, 4), np.nan), np.ones(k, bool)
    fitted, ok, full = _refit_slices(dose, resp, start, top, free_top)
    if free_top:
        return fitted, full, ok
    # SynergyFinder 2.x keeps the observed values of a slice whose fit fails
    return np.where(ok[:, None], fitted, resp), full, np.ones(k, bool)


def _restart(res: tuple[Array, Array, NDArray[np.bool_]], new_start: Array, dose: Array) -> Array:
    """Re-evaluate free-top slice fits with the dose-0 level moved to ``new_start``."""
    fitted, full, ok = res
    q = full.copy()
    q[:, 2] = new_start  # free-top slices: d is the dose-0 asymptote, c the top
    moved = ll4(dose, *(q[:, j : j + 1] for j in range(4)))
    return np.where(ok[:, None], moved, fitted)


# --------------------------------------------------------------------------- drc's own path
# SynergyFinder 3.x fits with R drc's drm(): a self-starter, scaling of dose and response,
# optim(method = "BFGS") with a central-difference gradient and parscale, then a Hessian. The
# ragged Mathews slices have several local minima, and the published ZIP means are where that
# path stops, not the global optimum; so the "synergyfinder" ZIP variant follows the path.
_DRC_NDEPS, _DRC_RELTOL, _DRC_MAXIT = 1e-3, 1e-7, 500
#: Outcome of one SynergyFinder dose-response fit.
_SF_LL4, _SF_L4, _SF_FAILED = 0, 1, 2


@_jit()
def _drc_curve(x: np.ndarray, p: np.ndarray, log_model: bool) -> np.ndarray:  # pragma: no cover
    """drc ``LL.4`` (``log_model=False``: ``c + (d - c) / (1 + exp(b log(x / e)))``) or ``L.4``
    (``x`` already a log dose: ``c + (d - c) / (1 + exp(b (x - e)))``) as R evaluates them:
    NaN where a logarithm is undefined, an overflowing exponential is Inf."""
    b, c, d, e = p[0], p[1], p[2], p[3]
    out = np.empty(x.size)
    for i in range(x.size):
        if log_model:
            z = b * (x[i] - e)
        else:
            q = x[i] / e if e != 0.0 else (np.inf if x[i] > 0.0 else np.nan)
            if not q >= 0.0:
                out[i] = np.nan
                continue
            z = b * (math.log(q) if q > 0.0 else -np.inf)
        if z != z:
            out[i] = np.nan
        else:
            out[i] = c + (d - c) / (1.0 + (math.exp(z) if z < 709.0 else np.inf))
    return out


@_jit()
def _drc_full(par: np.ndarray, fixed: np.ndarray) -> np.ndarray:  # pragma: no cover
    """The four LL.4 parameters: ``fixed`` with its NaN (free) entries filled from ``par`` in
    order."""
    full = fixed.copy()
    k = 0
    for j in range(4):
        if fixed[j] != fixed[j]:
            full[j] = par[k]
            k += 1
    return full


@_jit()
def _drc_rss(
    par: np.ndarray, x: np.ndarray, y: np.ndarray, fixed: np.ndarray, log_model: bool
) -> float:  # pragma: no cover
    """Residual sum of squares at the free parameters ``par`` (``fixed``: NaN = free), summed
    with compensation (R sums in extended precision)."""
    full = _drc_full(par, fixed)
    f = _drc_curve(x, full, log_model)
    s = 0.0
    comp = 0.0
    for i in range(x.size):
        r = (y[i] - f[i]) * (y[i] - f[i])
        t = s + r
        if abs(s) >= abs(r):
            comp += (s - t) + r
        else:
            comp += (r - t) + s
        s = t
    return s + comp


@_jit()
def _drc_grad(
    b: np.ndarray,
    ps: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    fixed: np.ndarray,
    log_model: bool,
) -> tuple[np.ndarray, bool]:  # pragma: no cover
    """optim's central-difference gradient in parscale units; False if a value is not finite."""
    n = b.size
    g = np.empty(n)
    xx = b * ps
    for i in range(n):
        xx[i] = (b[i] + _DRC_NDEPS) * ps[i]
        v1 = _drc_rss(xx, x, y, fixed, log_model)
        xx[i] = (b[i] - _DRC_NDEPS) * ps[i]
        v2 = _drc_rss(xx, x, y, fixed, log_model)
        xx[i] = b[i] * ps[i]
        g[i] = (v1 - v2) / (2.0 * _DRC_NDEPS)
        if not np.isfinite(g[i]):
            return g, False
    return g, True


@_jit()
def _drc_bfgs(
    start: np.ndarray,
    ps: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    fixed: np.ndarray,
    log_model: bool,
) -> tuple[np.ndarray, bool]:  # pragma: no cover
    """R's ``vmmin`` (optim BFGS) from ``start`` with parameter scales ``ps``, then optim's
    Hessian step. Returns the parameters and False where R would stop with an error (a
    non-finite start value or gradient): drm then reports that the fit failed."""
    n = start.size
    b = start / ps
    f = _drc_rss(b * ps, x, y, fixed, log_model)
    if not np.isfinite(f):
        return b * ps, False
    fmin = f
    g, good = _drc_grad(b, ps, x, y, fixed, log_model)
    if not good:
        return b * ps, False
    it = 1
    gradcount = 1
    ilast = gradcount
    hb = np.zeros((n, n))
    xs = np.zeros(n)
    cs = np.zeros(n)
    t = np.zeros(n)
    while True:
        if ilast == gradcount:
            hb[:] = 0.0
            for i in range(n):
                hb[i, i] = 1.0
        xs[:] = b
        cs[:] = g
        gradproj = 0.0
        for i in range(n):
            s = 0.0
            for j in range(i + 1):
                s -= hb[i, j] * g[j]
            for j in range(i + 1, n):
                s -= hb[j, i] * g[j]
            t[i] = s
            gradproj += s * g[i]
        if gradproj < 0.0:
            step = 1.0
            accepted = False
            while True:
                count = 0
                for i in range(n):
                    b[i] = xs[i] + step * t[i]
                    if 10.0 + xs[i] == 10.0 + b[i]:
                        count += 1
                if count < n:
                    f = _drc_rss(b * ps, x, y, fixed, log_model)
                    accepted = np.isfinite(f) and f <= fmin + gradproj * step * 1e-4
                    if not accepted:
                        step *= 0.2
                if count == n or accepted:
                    break
            if not abs(f - fmin) > _DRC_RELTOL * (abs(fmin) + _DRC_RELTOL):
                count = n
                fmin = f
            if count < n:
                fmin = f
                g, good = _drc_grad(b, ps, x, y, fixed, log_model)
                if not good:
                    return b * ps, False
                gradcount += 1
                it += 1
                d1 = 0.0
                for i in range(n):
                    t[i] = step * t[i]
                    cs[i] = g[i] - cs[i]
                    d1 += t[i] * cs[i]
                if d1 > 0.0:
                    d2 = 0.0
                    for i in range(n):
                        s = 0.0
                        for j in range(i + 1):
                            s += hb[i, j] * cs[j]
                        for j in range(i + 1, n):
                            s += hb[j, i] * cs[j]
                        xs[i] = s
                        d2 += s * cs[i]
                    d2 = 1.0 + d2 / d1
                    for i in range(n):
                        for j in range(i + 1):
                            hb[i, j] += (d2 * t[i] * t[j] - xs[i] * t[j] - t[i] * xs[j]) / d1
                else:
                    ilast = gradcount
            elif ilast < gradcount:
                count = 0
                ilast = gradcount
        else:
            count = 0
            if ilast == gradcount:
                count = n
            else:
                ilast = gradcount
        if it >= _DRC_MAXIT:
            break
        if gradcount - ilast > 2 * n:
            ilast = gradcount
        if count == n and ilast == gradcount:
            break
    par = b * ps
    # optim(hessian = TRUE): gradients at par +- ndeps / parscale must be finite
    for i in range(n):
        for sgn in (1.0, -1.0):
            q = b.copy()
            q[i] += sgn * _DRC_NDEPS / ps[i]
            _, good = _drc_grad(q, ps, x, y, fixed, log_model)
            if not good:
                return par, False
    return par, True


@_jit()
def _r_norm2(v: np.ndarray) -> float:  # pragma: no cover
    """Euclidean norm accumulated as the reference BLAS ``dnrm2`` does (running scale)."""
    scale = 0.0
    ssq = 1.0
    for x in v:
        if x != 0.0:
            a = abs(x)
            if scale < a:
                ssq = 1.0 + ssq * (scale / a) ** 2
                scale = a
            else:
                ssq += (a / scale) ** 2
    return scale * math.sqrt(ssq)


@_jit()
def _r_line(u: np.ndarray, v: np.ndarray) -> tuple[float, float]:  # pragma: no cover
    """Intercept and slope of ``lm(v ~ u)`` by R's Householder QR (LINPACK ``dqrdc2`` and
    ``dqrsl``, two columns, no pivoting needed). The BFGS paths that SynergyFinder's published
    means come from end after 500 iterations in flat valleys, where the last bit of a start
    value decides where they stop; so the start follows R's arithmetic, not a textbook one."""
    n = u.size
    x = np.empty((2, n))
    x[0] = 1.0
    x[1] = u
    qraux = np.array([_r_norm2(x[0]), _r_norm2(x[1])])
    for col in range(2):
        if col == n - 1:
            break
        nrm = _r_norm2(x[col, col:])
        if nrm == 0.0:
            continue
        if x[col, col] != 0.0:
            nrm = abs(nrm) if x[col, col] > 0.0 else -abs(nrm)
        inv = 1.0 / nrm
        for i in range(col, n):
            x[col, i] *= inv
        x[col, col] += 1.0
        if col == 0:
            dot = 0.0
            for i in range(n):
                dot += x[0, i] * x[1, i]
            t = -dot / x[0, 0]
            for i in range(n):
                x[1, i] += t * x[0, i]
            if qraux[1] != 0.0:
                tt = max(1.0 - (abs(x[1, 0]) / qraux[1]) ** 2, 0.0)
                if abs(tt) < 1e-6:
                    qraux[1] = _r_norm2(x[1, 1:])
                else:
                    qraux[1] *= math.sqrt(tt)
        qraux[col] = x[col, col]
        x[col, col] = -nrm
    qty = v.copy()
    for j in range(min(2, n - 1)):
        if qraux[j] != 0.0:
            keep = x[j, j]
            x[j, j] = qraux[j]
            dot = 0.0
            for i in range(j, n):
                dot += x[j, i] * qty[i]
            t = -dot / x[j, j]
            for i in range(j, n):
                qty[i] += t * x[j, i]
            x[j, j] = keep
    slope = qty[1] / x[1, 1]
    icpt = (qty[0] + -slope * x[1, 0]) / x[0, 0]
    return icpt, slope


@_jit()
def _drc_drm(
    dose: np.ndarray, resp: np.ndarray, emin: float, log_model: bool
) -> tuple[np.ndarray, bool]:  # pragma: no cover
    """``drm(resp ~ dose, fct = LL.4(fixed = c(NA, emin, NA, NA)))`` (``emin`` NaN: free) or
    ``L.4`` on a log dose: drc's scaling, self-starter and BFGS path. Returns ``b, c, d, e``
    (``e`` on the dose scale given) and whether drm returned a model."""
    m = dose.size
    ds = 1.0
    rs = 1.0
    if not log_model:  # LL.4 scales dose and response by powers of ten of their medians
        md = np.median(dose)
        if md > 0.0:
            ds = 10.0 ** math.floor(math.log10(md))
        mr = np.median(resp)
        if mr > 0.0:
            rs = 10.0 ** math.floor(math.log10(mr))
        if not ds >= 1e-15:
            ds = 1.0
        if not rs >= 1e-15:
            rs = 1.0
    x = dose / ds
    y = resp / rs
    # self-starter: c, d just outside the response range, then b, e from a straight line of
    # log((d - y) / (y - c)) against log dose (positive doses) or the log dose itself
    lo, hi = y.min(), y.max()
    c0 = lo - 0.001 * (hi - lo)
    d0 = hi + 0.001 * (hi - lo)
    k = 0
    for i in range(m):
        if log_model or (x[i] > 0.0 and np.isfinite(x[i])):
            k += 1
    if k < 2:
        return np.full(4, np.nan), False
    u = np.empty(k)
    v = np.empty(k)
    k = 0
    for i in range(m):
        if log_model or (x[i] > 0.0 and np.isfinite(x[i])):
            u[k] = x[i] if log_model else math.log(x[i])
            v[k] = math.log((d0 - y[i]) / (y[i] - c0))
            k += 1
    icpt, slope = _r_line(u, v)
    e0 = -icpt / slope if log_model else math.exp(-icpt / slope)
    fixed = np.array([np.nan, emin / rs, np.nan, np.nan])
    guess = np.array([slope, c0, d0, e0])
    n_free = 0
    for j in range(4):
        if fixed[j] != fixed[j]:
            n_free += 1
    start = np.empty(n_free)
    k = 0
    for j in range(4):
        if fixed[j] != fixed[j]:
            start[k] = guess[j]
            k += 1
    if not np.isfinite(start).all():
        return np.full(4, np.nan), False
    start = np.where(start == 0.0, start.mean(), start)
    ps = np.abs(start)
    ps = np.where(ps < 1e-4, 1.0, ps)
    par, good = _drc_bfgs(start, ps, x, y, fixed, log_model)
    full = _drc_full(par, fixed)
    full[1] *= rs
    full[2] *= rs
    if not log_model:
        full[3] *= ds
    return full, good


@_jit()
def _synergyfinder_fits(
    dose: np.ndarray, resp: np.ndarray, emin: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """SynergyFinder 3.x ``FitDoseResponse(data, Emin = emin, Emax = NA)`` of each row of
    ``dose, resp`` (k, m) and its ``predict()`` at the tested doses.

    LL.4 on the doses as given (dose 0 at the model's limit); where drm fails, L.4 on
    ``log(dose)`` with dose 0 at 1e-10. A constant series gets 1e-10 added to its last
    response first. Returns fitted values (k, m), LL.4 parameters ``b, c, d, e`` (k, 4) and
    the path taken (``_SF_LL4``, ``_SF_L4`` or ``_SF_FAILED``) per row.
    """
    k, m = resp.shape
    fitted = np.full((k, m), np.nan)
    params = np.full((k, 4), np.nan)
    path = np.full(k, _SF_FAILED, np.int64)
    for r in range(k):
        x = dose[r].copy()
        y = resp[r].copy()
        if m > 1 and y.max() == y.min():
            y[m - 1] += 1e-10
        p, good = _drc_drm(x, y, emin[r], False)
        if good:
            fitted[r] = _drc_curve(x, p, False)
            params[r] = p
            path[r] = _SF_LL4
            continue
        lx = np.log(np.where(x == 0.0, 1e-10, x))
        p, good = _drc_drm(lx, y, emin[r], True)
        if good:
            fitted[r] = _drc_curve(lx, p, True)
            params[r] = p
            params[r, 3] = math.exp(p[3])
            path[r] = _SF_L4
    return fitted, params, path


# --------------------------------------------------------------------------- summaries
def most_synergistic_area(score: Array, size: int = 3) -> tuple[Array, NDArray[np.int64]]:
    """Highest mean score over ``size`` x ``size`` windows of the combination cells.

    Returns the area's mean (n,) and its first row and column index in the full grid (n, 2).
    A combination grid smaller than the window gives the mean over all combination cells.
    """
    combo = score[:, 1:, 1:]
    n, r, c = combo.shape
    if r < size or c < size:
        return np.nanmean(combo.reshape(n, -1), axis=1), np.ones((n, 2), np.int64)
    cs = np.zeros((n, r + 1, c + 1))
    cs[:, 1:, 1:] = np.cumsum(np.cumsum(combo, axis=1), axis=2)
    win = (
        cs[:, size:, size:] - cs[:, :-size, size:] - cs[:, size:, :-size] + cs[:, :-size, :-size]
    ) / size**2
    flat = win.reshape(n, -1)
    best = np.argmax(np.where(np.isfinite(flat), flat, -np.inf), axis=1)
    i, j = np.divmod(best, win.shape[2])
    return flat[np.arange(n), best], np.stack([i + 1, j + 1], axis=1)
