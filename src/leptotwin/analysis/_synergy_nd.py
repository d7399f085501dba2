"""Synergy scores of higher-order combinations (three or more drugs), batched over blocks.

A stack of ``n`` blocks of ``N`` drugs is ``inhib`` of shape ``(n, m_1, ..., m_N)`` in **%
inhibition** and ``conc``, a list of ``N`` arrays of shape ``(n, m_k)`` (ascending, first entry
0). The definitions are SynergyFinder+'s n-drug ones (SynergyFinder 3.7.4, Bioconductor commit
eb9ac5c, ``R/calculate_synergy_score.R``; Zheng et al. 2022, doi:10.1016/j.gpb.2022.01.004),
re-implemented:

* single-drug data of drug ``k`` (``ExtractSingleDrug``): the cells where every other drug is at
  0, the untreated cell included;
* ``Bliss`` and ``HSA``: at every cell, the product ``top (1 - prod_k (1 - I_k(x_k) / top))`` or
  the maximum of the *observed* single-drug responses at the cell's doses (a drug at dose 0
  contributes the untreated cell, as in SynergyFinder); cells with at most one drug present
  keep the observation (score 0);
* ``Loewe``: the response ``y`` with ``sum_k x_k / D_k(y) = 1`` (``D_k`` the inverse of drug
  ``k``'s fitted LL.4 curve), solved exactly by bisection as the two-drug Loewe does; where no
  root exists, the largest single-drug response at the total dose ``sum_k x_k``;
* ``ZIP``: the reference is the Bliss product of the *fitted* single-drug responses; the fit
  at each cell is the mean, over the drugs, of a dose-response curve of that drug fitted with
  every other drug held at the cell's doses. ``variant="synergyfinder"`` follows SynergyFinder's
  ``ZIP()`` literally (every condition, dose 0 included, the curve's lower limit fixed to the
  condition's observed response, the top free, R drc's fitting path, the mean over all ``N``
  drugs); ``variant="yadav"`` (default) uses the two-drug ``yadav`` slice (positive doses, lower
  limit fixed to the Bliss product of the fitted responses of the drugs present in the
  condition, top fixed to ``top``, global optimum) averaged over the drugs present in the cell,
  and a reference over the drugs present; for two drugs both reduce to the two-drug functions.

Block summaries run over the cells where every drug is present (SynergyFinder).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from leptotwin.analysis._synergy_core import (
    _SF_FAILED,
    _fit_mono_ll4,
    _inverse_ll4,
    _slice_fits,
    _synergyfinder_fits,
    ll4,
)

Array = NDArray[np.float64]

__all__ = [
    "bliss_nd",
    "combination_mask",
    "fit_single_drugs",
    "hsa_nd",
    "loewe_expected_nd",
    "loewe_nd",
    "single_drug",
    "zip_nd",
]


# --------------------------------------------------------------------------- helpers
def _along(values: Array, k: int, ndrug: int) -> Array:
    """``values`` (n, m_k) shaped to broadcast along drug ``k``'s axis of an (n, m_1..m_N) grid."""
    shape = [values.shape[0]] + [1] * ndrug
    shape[k + 1] = values.shape[1]
    return values.reshape(shape)


def single_drug(inhib: Array, k: int) -> Array:
    """Drug ``k``'s single-drug series (n, m_k): every other drug at dose 0 (index 0)."""
    ndrug = inhib.ndim - 1
    index = tuple([slice(None)] + [slice(None) if j == k else 0 for j in range(ndrug)])
    return inhib[index]


def _present(shape: tuple[int, ...]) -> list[Array]:
    """Per drug, a boolean grid (1, m_1..m_N) broadcastable: is the drug's dose positive?"""
    ndrug = len(shape) - 1
    out = []
    for k in range(ndrug):
        pos = np.ones((1, shape[k + 1]), bool)
        pos[0, 0] = False
        out.append(_along(pos, k, ndrug))
    return out


def _n_present(shape: tuple[int, ...]) -> NDArray[np.int64]:
    return sum(p.astype(np.int64) for p in _present(shape))  # type: ignore[return-value]


def combination_mask(shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """Cells (1, m_1..m_N) where every drug is present: those the block summaries average."""
    return _n_present(shape) == len(shape) - 1


def _keep_singles(inhib: Array, expected: Array) -> tuple[Array, Array]:
    """Cells with at most one drug present keep the observation: expected = observed, score 0."""
    single = np.broadcast_to(_n_present(inhib.shape) <= 1, inhib.shape)
    expected = np.where(single, inhib, expected)
    score = np.where(single, 0.0, inhib - expected)
    return score, expected


def _bliss_product(parts: list[Array], top: float) -> Array:
    rest = 1.0
    for p in parts:
        rest = rest * (1.0 - p / top)
    return top * (1.0 - rest)


# --------------------------------------------------------------------------- Bliss, HSA
def bliss_nd(inhib: Array, top: float = 100.0) -> tuple[Array, Array]:
    """Bliss independence on observed single drugs: ``(score, expected)`` (SynergyFinder
    ``Bliss``: ``(1 - prod(1 - x / 100)) * 100`` over every drug's single-drug response)."""
    ndrug = inhib.ndim - 1
    parts = [_along(single_drug(inhib, k), k, ndrug) for k in range(ndrug)]
    return _keep_singles(inhib, np.broadcast_to(_bliss_product(parts, top), inhib.shape))


def hsa_nd(inhib: Array) -> tuple[Array, Array]:
    """Highest single agent on observed single drugs: ``(score, expected)``."""
    ndrug = inhib.ndim - 1
    expected = _along(single_drug(inhib, 0), 0, ndrug)
    for k in range(1, ndrug):
        expected = np.maximum(expected, _along(single_drug(inhib, k), k, ndrug))
    return _keep_singles(inhib, np.broadcast_to(expected, inhib.shape))


# --------------------------------------------------------------------------- single drugs
def fit_single_drugs(
    conc: list[Array], inhib: Array, *, zero_dose: float = 1e-10
) -> tuple[Array, NDArray[np.bool_]]:
    """LL.4 fits (global least squares, within the window of
    :func:`_synergy_core._fit_mono_ll4`) of every drug's single-drug series, as the two-drug
    :func:`fit_monotherapies`: parameters ``(n, N, 4)`` as drc's
    ``b, c, d, e`` and ``ok`` (n, N). Series of equal length are fitted in one batch."""
    n, ndrug = inhib.shape[0], inhib.ndim - 1
    params = np.full((n, ndrug, 4), np.nan)
    ok = np.zeros((n, ndrug), bool)
    by_len: dict[int, list[int]] = {}
    for k in range(ndrug):
        by_len.setdefault(conc[k].shape[1], []).append(k)
    for ks in by_len.values():
        dose = np.concatenate([np.where(conc[k] == 0, zero_dose, conc[k]) for k in ks])
        resp = np.concatenate([single_drug(inhib, k) for k in ks])
        tested = np.concatenate([conc[k] for k in ks])
        p, good = _fit_mono_ll4(dose, resp, tested)
        for i, k in enumerate(ks):
            params[:, k] = p[i * n : (i + 1) * n]
            ok[:, k] = good[i * n : (i + 1) * n]
    return params, ok


# --------------------------------------------------------------------------- Loewe
def loewe_expected_nd(
    x: Array, p: Array, *, top: float | None = 100.0, n_iter: int = 200
) -> tuple[Array, NDArray[np.bool_]]:
    """Loewe-additive response at doses ``x`` (..., N) given LL.4 curves ``p`` (..., N, 4).

    Solves ``sum_k x_k / D_k(y) = 1`` by bisection over the response range every curve reaches
    (monotone there when all curves rise, or all fall, with dose); drugs at dose 0 add
    nothing. Without a root: the largest single-drug response at the total dose (SynergyFinder).
    For ``N = 2`` this is :func:`loewe_expected`. ``top`` caps the result (None: no cap).

    Returns
    -------
    expected, solved
    """
    x = np.asarray(x, float)
    shape = x.shape[:-1]
    p = np.broadcast_to(p, (*shape, x.shape[-1], 4))
    c, d = p[..., 1], p[..., 2]
    lo = np.max(np.minimum(c, d), axis=-1)
    hi = np.min(np.maximum(c, d), axis=-1)
    up = (d - c) * -p[..., 0] > 0
    same = np.all(up == up[..., :1], axis=-1)

    def g(y: Array) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(x > 0, x / _inverse_ll4(y[..., None], p), 0.0)
        return terms.sum(axis=-1) - 1.0

    width = hi - lo
    eps = 1e-12 * np.maximum(np.abs(width), 1.0)
    a, z = lo + eps, hi - eps
    sign = np.where(up[..., 0], 1.0, -1.0)
    ga, gz = g(a) * sign, g(z) * sign
    solved = same & (width > 0) & (ga > 0) & (gz < 0)
    for _ in range(n_iter):
        mid = 0.5 * (a + z)
        pos = g(mid) * sign > 0
        a = np.where(pos, mid, a)
        z = np.where(pos, z, mid)
        if np.all(~solved | (z - a <= 4e-16 * np.maximum(np.abs(a), 1.0))):
            break
    total = x.sum(axis=-1)
    fallback = np.max(ll4(total[..., None], *(p[..., j] for j in range(4))), axis=-1)
    expected = np.where(solved, 0.5 * (a + z), fallback)
    if top is not None:
        expected = np.minimum(expected, top)
    return expected, solved


def _dose_grid(conc: list[Array], shape: tuple[int, ...]) -> Array:
    """Doses of every cell: (n, m_1..m_N, N)."""
    ndrug = len(conc)
    return np.stack([np.broadcast_to(_along(conc[k], k, ndrug), shape) for k in range(ndrug)], -1)


def loewe_nd(
    conc: list[Array], inhib: Array, params: Array, top: float = 100.0
) -> tuple[Array, Array]:
    """Loewe additivity (SynergyFinder ``Loewe``) from fitted single drugs ``params`` (n, N, 4):
    ``(score, expected)``."""
    ndrug = inhib.ndim - 1
    p = params.reshape(params.shape[0], *([1] * ndrug), ndrug, 4)
    expected, _ = loewe_expected_nd(_dose_grid(conc, inhib.shape), p, top=top)
    return _keep_singles(inhib, expected)


# --------------------------------------------------------------------------- ZIP
def zip_nd(
    conc: list[Array],
    inhib: Array,
    params: Array | None = None,
    *,
    top: float = 100.0,
    variant: str = "yadav",
) -> tuple[Array, Array, NDArray[np.int64], NDArray[np.bool_]]:
    """ZIP delta scores of N-drug blocks: ``(score, expected, left_out, mono_ok)``.

    ``params`` (n, N, 4): the single-drug LL.4 fits (``variant="yadav"``; the
    ``"synergyfinder"`` variant fits them on R drc's path itself). ``left_out`` (n,) counts
    slice fits that failed (left out of the mean); ``mono_ok`` (n,) is False where a
    single-drug fit failed (scores NaN). See the module docstring for the definitions.
    """
    n, ndrug = inhib.shape[0], inhib.ndim - 1
    shape = inhib.shape
    present = _present(shape)
    sf = variant == "synergyfinder"
    if sf:
        fitted, mono_ok = [], np.ones(n, bool)
        for k in range(ndrug):
            f, _, path = _synergyfinder_fits(
                np.ascontiguousarray(conc[k]),
                np.ascontiguousarray(single_drug(inhib, k)),
                np.full(n, np.nan),
            )
            fitted.append(f)
            mono_ok &= path != _SF_FAILED
    else:
        assert params is not None
        fitted = [ll4(conc[k], *(params[:, k, j : j + 1] for j in range(4))) for k in range(ndrug)]
        mono_ok = np.isfinite(params).all(axis=(1, 2))
    parts = [_along(fitted[k], k, ndrug) for k in range(ndrug)]
    if sf:  # SynergyFinder: every drug's fitted value, at dose 0 too
        expected = np.broadcast_to(_bliss_product(parts, top), shape)
    else:  # the drugs present only (for two drugs: the two-drug yadav reference)
        expected = np.broadcast_to(
            _bliss_product([np.where(present[k], parts[k], 0.0) for k in range(ndrug)], top),
            shape,
        )
    total = np.zeros(shape)
    count = np.zeros(shape, np.int64)
    left_out = np.zeros(n, np.int64)
    for k in range(ndrug):
        pred, ok = _zip_slices(conc, inhib, fitted, k, top, sf)
        left_out += (~ok).reshape(n, -1).sum(axis=1) // shape[k + 1]
        use = ok & np.isfinite(pred)
        if not sf:  # a slice predicts where its drug is present
            use &= present[k]
        total += np.where(use, pred, 0.0)
        count += use
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = np.where(count > 0, total / np.maximum(count, 1), inhib)
    single = np.broadcast_to(_n_present(shape) <= 1, shape)
    fit = np.where(single, inhib, fit)
    expected = np.where(single, inhib, expected)
    score = fit - expected
    score[~mono_ok] = np.nan
    return score, expected, left_out, mono_ok


def _zip_slices(
    conc: list[Array], inhib: Array, fitted: list[Array], k: int, top: float, sf: bool
) -> tuple[Array, NDArray[np.bool_]]:
    """Drug ``k``'s dose-response slices at every condition of the other drugs: predictions
    on the grid (n, m_1..m_N) and whether each condition's fit is usable (broadcastable)."""
    n, ndrug = inhib.shape[0], inhib.ndim - 1
    m = inhib.shape[k + 1]
    moved = np.moveaxis(inhib, k + 1, -1)  # (n, others..., m)
    cond_shape = moved.shape[:-1]
    resp = moved.reshape(-1, m)
    dose = np.broadcast_to(conc[k][:, None, :], (n, resp.shape[0] // n, m)).reshape(-1, m)
    others = [j for j in range(ndrug) if j != k]
    pred = np.full(resp.shape, np.nan)
    ok = np.ones(resp.shape[0], bool)
    if sf:  # every condition; lower limit = the condition's observed response at dose 0
        f, _, path = _synergyfinder_fits(
            np.ascontiguousarray(dose), np.ascontiguousarray(resp), np.ascontiguousarray(resp[:, 0])
        )
        pred, ok = f, path != _SF_FAILED
    else:  # conditions with another drug present; start = Bliss of the present others' fits
        fit_o = [np.where(np.arange(f.shape[1]) > 0, f, 0.0) for f in (fitted[j] for j in others)]
        grids = [
            np.broadcast_to(_along(fit_o[i], i, ndrug - 1), cond_shape) for i in range(ndrug - 1)
        ]
        start = _bliss_product(grids, top).reshape(-1)
        any_other = np.zeros(cond_shape, bool)
        for i in range(ndrug - 1):
            idx = np.arange(inhib.shape[others[i] + 1]) > 0
            any_other |= np.broadcast_to(_along(idx[None].repeat(n, 0), i, ndrug - 1), cond_shape)
        rows = np.flatnonzero(any_other.reshape(-1))
        f, _, good = _slice_fits(dose[rows, 1:], resp[rows, 1:], start[rows], top, False)
        pred[rows, 1:] = f
        ok[rows] = good
    pred_grid = np.moveaxis(pred.reshape(*cond_shape, m), -1, k + 1)
    ok_grid = np.moveaxis(np.broadcast_to(ok.reshape(*cond_shape, 1), (*cond_shape, m)), -1, k + 1)
    return pred_grid, ok_grid
