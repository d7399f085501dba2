"""Benchmark: three-drug synergy scores (issue 15 item 2) against SynergyFinder's algorithm.

Simulates ``n`` three-drug 8 x 8 x 8 blocks (Bliss independence of three Hill curves, a random
interaction on the full-combination cells, % inhibition with noise sd 3) and scores all of
them with :func:`leptotwin.analysis.synergy.synergy_scores` (ZIP, Bliss, HSA, Loewe; DataFrame
in, tables out). The reference is SynergyFinder 3.7.4's n-drug algorithm as we emulate it in
plain numpy/scipy, one block at a time (``R/calculate_synergy_score.R``): Bliss and HSA on the
observed single drugs, single-drug LL.4 fits with ``scipy.optimize.curve_fit``, Loewe by its
100-step response grid (``.SolveLoewe``), ZIP by one ``curve_fit`` per drug and condition of
the other drugs (lower limit fixed to the condition's response at dose 0, top free), averaged.
The reference is timed on a sample of blocks and scaled to ``n``; prints both times and the
ratio.

Run: ``PYTHONPATH=src python benchmarks/synergy_higher_order.py [n_blocks] [--sample 5]``
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from leptotwin.analysis.synergy import synergy_scores

CONC = np.r_[0, np.logspace(-2, 1, 7)]


def simulate(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Long SynergyFinder+ table of ``n`` 8 x 8 x 8 three-drug blocks (% inhibition)."""
    grid = np.array(list(itertools.product(CONC, CONC, CONC)))
    ec = np.exp(rng.uniform(-3, 1.5, (n, 1, 3)))
    h = rng.uniform(0.7, 2.5, (n, 1, 3))
    surv = np.prod(1 / (1 + (grid[None] / ec) ** h), axis=2)
    bump = rng.normal(0, 5, (n, 1)) * (grid > 0).all(axis=1)[None]
    resp = 100 * (1 - surv) + bump + rng.normal(0, 3, surv.shape)
    return pd.DataFrame(
        {
            "block_id": np.repeat(np.arange(n), len(grid)),
            "drug1": "A",
            "drug2": "B",
            "drug3": "C",
            **{f"conc{k + 1}": np.tile(grid[:, k], n) for k in range(3)},
            "response": resp.ravel(),
            "conc_unit": "uM",
        }
    )


def _ll4(x, b, c, d, e):
    with np.errstate(all="ignore"):
        return c + (d - c) / (1 + np.exp(b * (np.log(x) - np.log(e))))


def _fit(dose, resp, emin=None):
    """LL.4 by curve_fit (dose 0 at 1e-10), ``c`` fixed to ``emin`` if given; params b,c,d,e."""
    x = np.where(dose == 0, 1e-10, dose)
    p0 = [-1.0, resp.min(), resp.max(), float(np.median(dose[dose > 0]))]
    try:
        if emin is None:
            p, _ = curve_fit(_ll4, x, resp, p0=p0, maxfev=5000)
            return p
        p, _ = curve_fit(lambda x, b, d, e: _ll4(x, b, emin, d, e), x, resp,
                         p0=[p0[0], p0[2], p0[3]], maxfev=5000)  # fmt: skip
        return np.array([p[0], emin, p[1], p[2]])
    except (RuntimeError, ValueError):
        return np.full(4, np.nan)


def _inv(y, p):
    with np.errstate(all="ignore"):
        return p[3] * ((y - p[2]) / (p[1] - y)) ** (1 / p[0])


def reference_block(y: np.ndarray) -> dict[str, float]:
    """SynergyFinder's four n-drug scores of one block ``y`` (8, 8, 8), mean over the cells
    where every drug is present."""
    nd = y.ndim
    single = [y[tuple(slice(None) if j == k else 0 for j in range(nd))] for k in range(nd)]
    cells = list(itertools.product(*(range(m) for m in y.shape)))
    combo = [c for c in cells if all(i > 0 for i in c)]
    out = {}
    out["Bliss"] = np.mean(
        [y[c] - 100 * (1 - np.prod([1 - single[k][c[k]] / 100 for k in range(nd)])) for c in combo]
    )
    out["HSA"] = np.mean([y[c] - max(single[k][c[k]] for k in range(nd)) for c in combo])
    par = [_fit(CONC, s) for s in single]
    lo = min(min(p[1], p[2]) for p in par)
    hi = max(max(p[1], p[2]) for p in par)
    ys = np.linspace(lo, hi, 100)
    xt = np.array([[_inv(v, p) for v in ys] for p in par])
    loewe = []
    for c in combo:
        x = np.array([CONC[i] for i in c])
        dist = np.abs((x[:, None] / xt).sum(axis=0) - 1)
        loewe.append(y[c] - ys[np.nanargmin(dist)] if np.isfinite(dist).any() else np.nan)
    out["Loewe"] = np.nanmean(loewe)
    pred = [_ll4(np.where(CONC == 0, 1e-10, CONC), *p) for p in par]
    fit = np.zeros(y.shape)
    for k in range(nd):
        moved = np.moveaxis(y, k, -1)
        res = np.empty_like(moved)
        for idx in itertools.product(*(range(m) for m in moved.shape[:-1])):
            series = moved[idx]
            p = _fit(CONC, series, emin=series[0])
            res[idx] = _ll4(np.where(CONC == 0, 1e-10, CONC), *p)
        fit += np.moveaxis(res, -1, k) / nd
    out["ZIP"] = np.nanmean(
        [fit[c] - 100 * (1 - np.prod([1 - pred[k][c[k]] / 100 for k in range(nd)])) for c in combo]
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n_blocks", nargs="?", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=5, help="blocks timed for the reference")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    df = simulate(args.n_blocks, rng)
    synergy_scores(simulate(2, rng), scale="inhibition")  # warm-up: compiled kernels
    t0 = time.perf_counter()
    res = synergy_scores(df, scale="inhibition")
    ours = time.perf_counter() - t0
    ok = int((res.qc["status"] == "ok").sum())
    print(f"leptotwin: {args.n_blocks} blocks 8x8x8, 4 scores: {ours:.2f} s ({ok} ok)")
    sample = df[df["block_id"] < args.sample]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, blk in sample.groupby("block_id"):
            y = blk.sort_values(["conc1", "conc2", "conc3"])["response"].to_numpy()
            reference_block(y.reshape(8, 8, 8))
    per_block = (time.perf_counter() - t0) / args.sample
    ref = per_block * args.n_blocks
    print(f"SynergyFinder algorithm (numpy/scipy, per block): {per_block:.3f} s/block, "
          f"{ref:.1f} s for {args.n_blocks} (from {args.sample} blocks)")  # fmt: skip
    print(f"ratio reference / leptotwin: {ref / ours:.1f}x")


if __name__ == "__main__":
    main()
