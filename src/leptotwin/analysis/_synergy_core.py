"""Array maths of the synergy scores, batched over blocks (no per-block Python loop).

Every function works on a stack of ``n`` blocks of the same shape: ``conc_r`` of shape
``(n, nr)`` and ``conc_c`` of shape ``(n, nc)`` (ascending, first entry 0) and mean responses
``inhib`` of shape ``(n, nr, nc)`` in **% inhibition** (0 = no effect, 100 = full effect), row 0
holding the column drug alone and column 0 the row drug alone. Scores are in inhibition points;
positive is synergy. Monotherapy cells get score 0, as in SynergyFinder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from leptotwin.analysis._drfit import fit_batch, make_batch
from leptotwin.analysis._llmodels import get_model

Array = NDArray[np.float64]

__all__ = [
    "MonoFits",
    "bliss",
    "fit_monotherapies",
    "hsa",
    "ll4",
    "loewe",
    "loewe_expected",
    "most_synergistic_area",
    "zip_delta",
]


# --------------------------------------------------------------------------- helpers
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

    SynergyFinder's ``FitDoseResponse`` with ``Emin = NA, Emax = NA``: the zero-dose cell is
    part of the fit, at dose ``zero_dose`` (SynergyFinder: 1e-10 in the concentration unit;
    0 uses the model's limit at dose 0, which leaves ``e`` free below the lowest dose).
    """
    n = inhib.shape[0]
    conc_r = np.where(conc_r == 0, zero_dose, conc_r)
    conc_c = np.where(conc_c == 0, zero_dose, conc_c)
    ragged = conc_r.shape[1] != conc_c.shape[1]
    if ragged:  # fit the two sets separately when the shapes differ (non-square matrices)
        pr, okr = _fit_ll4(conc_r, inhib[:, :, 0], None)
        pc, okc = _fit_ll4(conc_c, inhib[:, 0, :], None)
    else:
        dose = np.concatenate([conc_r, conc_c], axis=0)
        resp = np.concatenate([inhib[:, :, 0], inhib[:, 0, :]], axis=0)
        p, ok = _fit_ll4(dose, resp, None)
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
        with np.errstate(divide="ignore", invalid="ignore"):
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
        p, ok = _fit_ll4(dose, resp - start, {"d": 0.0})
        ok &= p[:, 0] > 0  # the dose-0 level must be the fixed asymptote (Hill slope > 0)
        full = p.copy()
        full[:, 1] += start[:, 0]
        full[:, 2] = start[:, 0]
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


def zip_delta(
    conc_r: Array,
    conc_c: Array,
    inhib: Array,
    mono: MonoFits,
    *,
    top: float = 100.0,
    variant: str = "synergyfinder",
) -> tuple[Array, Array]:
    """ZIP delta scores: ``(score, expected)`` with ``expected`` the Bliss surface of fits.

    ``variant="synergyfinder"`` (SynergyFinder ``ZIP``): for each positive concentration of one
    drug, an LL.4 curve of the other drug is fitted to the combination cells only (positive
    doses), its dose-0 asymptote fixed to the first drug's *fitted* monotherapy response and its
    top fixed to ``top`` (100 %); the two fitted surfaces are averaged and the Bliss product of
    the fitted monotherapies is subtracted. A slice whose fit fails keeps its observed values
    (as SynergyFinder does); a slice with a single positive dose uses the observation.

    ``variant="synergy"`` (the ``synergy`` package's ``ZIP``): the slice fits include the
    zero-dose cell, their top is a free parameter, and the Bliss surface uses monotherapy
    curves evaluated with the mean of the two fitted dose-0 asymptotes (in the package the
    slices start at each drug's own asymptote, which is reproduced here).
    """
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
        surf_a = _restart(surf_a, start_a, fc[:, 1:].reshape(-1), dose_a)
        surf_b = _restart(surf_b, start_b, fr[:, 1:].reshape(-1), dose_b)
        surf_a = surf_a[:, 1:]
        surf_b = surf_b[:, 1:]
    else:
        surf_a = surf_a[0]
        surf_b = surf_b[0]
    a = surf_a.reshape(n, nc - 1, nr - 1).transpose(0, 2, 1)
    b = surf_b.reshape(n, nr - 1, nc - 1)
    fitted = 0.5 * (a + b)
    expected = np.empty_like(inhib)
    frr = fr[:, :, None]
    fcc = fc[:, None, :]
    expected[:] = frr + fcc - frr * fcc / top
    score = np.zeros_like(inhib)
    score[:, 1:, 1:] = fitted - expected[:, 1:, 1:]
    return score, expected


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
) -> tuple[Array, Array]:
    k, m = resp.shape
    if m == 1 and not free_top:  # SynergyFinder: one combination dose, no fit
        return resp - 1e-10, np.full((k, 4), np.nan)
    fitted, ok, full = _refit_slices(dose, resp, start, top, free_top)
    fitted = np.where(ok[:, None], fitted, resp)
    return fitted, full


def _restart(res: tuple[Array, Array], start: Array, new_start: Array, dose: Array) -> Array:
    """Re-evaluate free-top slice fits with the dose-0 level moved to ``new_start``."""
    fitted, full = res
    q = full.copy()
    q[:, 2] = new_start  # free-top slices: d is the dose-0 asymptote, c the top
    ok = np.isfinite(full).all(axis=1)
    moved = ll4(dose, *(q[:, j : j + 1] for j in range(4)))
    return np.where(ok[:, None], moved, fitted)


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
