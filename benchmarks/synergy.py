"""Benchmark: batched synergy scores against the ``synergy`` package (per-block loop).

Simulates ``n`` 8 x 8 blocks (MuSyC surfaces with random potencies and interactions, % viability
with noise sd 3), scores all of them with :func:`leptotwin.analysis.synergy.synergy_scores`
(DataFrame in, tables out), and times ``synergy`` 1.0.0's ``ZIP``, ``Bliss``, ``HSA`` and
``Loewe`` on a random sample of blocks (default 200), scaled to ``n``. Like is compared with
like: the package's ``ZIP`` against our ``zip_variant="synergy"`` (its definition, every slice
at the global optimum); our default ZIP (``"yadav"``) and the SynergyFinder 3.7.x emulation
(``"synergyfinder"``) have no counterpart in the package and are timed separately, labelled
so. On the sampled blocks the ZIP scores of both are compared too: the largest difference, and
how many blocks agree to 1e-6 (where they differ, the package's slice fit stopped short of the
optimum; see tests/analysis/test_synergy.py). A warm-up call loads the compiled kernels
first. Without the ``synergy`` package (1.0.0) installed the comparison is skipped, with a note.

The command line is timed too, as a user runs it (issue 14): ``leptotwin synergy --scale
viability`` in its own process on the same blocks written as a CSV, with its default outputs
(tables and the summary figures), next to the API's all-four time; printed with the ratio
CLI / API, its peak memory and the number of files written, and once more with ``--figures
none`` (what start-up and the CSVs cost without figures); ``--no-cli`` skips both.

Run: ``PYTHONPATH=src python benchmarks/synergy.py [n_blocks] [--sample 200] [--no-cli]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _cli import machine, time_cli  # benchmarks/_cli.py (its folder is on sys.path)
from leptotwin.analysis._synergy_musyc import simulate_blocks
from leptotwin.analysis.synergy import synergy_scores

CONC = np.r_[0, np.logspace(-2, 1, 7)]


def simulate(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Long SynergyFinder table of ``n`` 8 x 8 blocks (% viability)."""
    return simulate_blocks(n, rng=rng, conc=CONC)


def reference_seconds(
    df: pd.DataFrame, blocks: np.ndarray
) -> tuple[dict[str, float], dict[object, np.ndarray]]:
    """Seconds per block of the synergy package's models on ``blocks``, and its ZIP scores
    (fractions, in the order of each block's rows) with the fitted ZIP model."""
    # this file is called synergy.py: keep its folder from shadowing the package
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.modules.pop("synergy", None)
    from synergy.combination import HSA, ZIP, Bliss, Loewe

    out, zip_scores = {}, {}
    groups = {k: g for k, g in df[df["block_id"].isin(blocks)].groupby("block_id")}
    for name, cls in (("ZIP", ZIP), ("Bliss", Bliss), ("HSA", HSA), ("Loewe", Loewe)):
        start = time.perf_counter()
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for k in blocks:
                g = groups[k]
                model = cls(mode="delta_weakest") if name == "Loewe" else cls()
                try:
                    model.fit(g["conc_r"].to_numpy(), g["conc_c"].to_numpy(),
                              g["response"].to_numpy() / 100)  # fmt: skip
                except Exception:
                    continue
                if name == "ZIP":
                    zip_scores[k] = (np.asarray(model.synergy, float), model)
        out[name] = (time.perf_counter() - start) / blocks.size
    return out, zip_scores


def _slice_rss(g: pd.DataFrame, model: object) -> tuple[np.ndarray, np.ndarray]:
    """RSS of each ZIP slice fit (viability fractions): the package's and ours (the same model,
    ``_refit_slices`` of the ``synergy`` variant, at its global optimum)."""
    from leptotwin.analysis._synergy_core import _refit_slices

    d1, d2 = g["conc_r"].to_numpy(), g["conc_c"].to_numpy()
    e = g["response"].to_numpy() / 100
    xs, ys, e0s, theirs = [], [], [], []
    for fixed, varied, other, params in (
        (d2, d1, model.drug2_model, (model._Emax_21, model._h_21, model._C_21)),
        (d1, d2, model.drug1_model, (model._Emax_12, model._h_12, model._C_12)),
    ):
        for level in np.unique(fixed[fixed > 0]):
            cells = fixed == level
            order = np.argsort(varied[cells])
            x, y, e0 = varied[cells][order], e[cells][order], other.E(level)
            i = np.flatnonzero(cells)[0]
            emax, h, c = (p[i] for p in params)
            with np.errstate(all="ignore"):
                fit = e0 + (emax - e0) / (1 + np.exp(-h * (np.log(x) - np.log(c))))
            fit = np.where(x > 0, fit, e0)
            xs.append(x)
            ys.append(y)
            e0s.append(e0)
            theirs.append(np.sum((fit - y) ** 2))
    x, y = np.array(xs), np.array(ys)
    fitted, _, _ = _refit_slices(x, 1 - y, 1 - np.array(e0s), 1.0, True)
    return np.array(theirs), np.sum((1 - fitted - y) ** 2, axis=1)


def zip_agreement(df: pd.DataFrame, ours: pd.DataFrame, theirs: dict) -> str:
    """Largest |ours - package| ZIP difference (fractions), blocks agreeing to 1e-6 and 1e-4,
    and, for the others, whether a package slice fit has a higher RSS than ours (it stopped
    short of the optimum) or not."""
    per = ours.set_index(["block_id", "conc_r", "conc_c"])["score"] / 100
    diffs, short, ours_worse = [], 0, 0
    for k, (ref, model) in theirs.items():
        g = df[df["block_id"] == k]
        mine = per.loc[list(zip([k] * len(g), g["conc_r"], g["conc_c"], strict=True))]
        diffs.append(np.nanmax(np.abs(mine.to_numpy() - ref)))
        rss_pkg, rss_ours = _slice_rss(g, model)
        ours_worse += bool(np.any(rss_ours > rss_pkg * (1 + 1e-9)))
        if diffs[-1] > 1e-4:
            short += bool(np.any(rss_pkg > rss_ours * (1 + 1e-6)))
    d = np.asarray(diffs)
    return (
        f"ZIP synergy variant vs package on {d.size} blocks: max |diff| {d.max():.2e}, "
        f"median {np.median(d):.2e}; agree to 1e-6: {(d <= 1e-6).sum()}, to 1e-4: "
        f"{(d <= 1e-4).sum()}; of the {(d > 1e-4).sum()} others, {short} have a package "
        f"slice fit with an RSS above ours (it stopped short of the optimum); blocks with a "
        f"slice where ours has the higher RSS: {ours_worse}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n_blocks", nargs="?", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--no-cli", action="store_true", help="do not time the command line")
    args = ap.parse_args()
    print(machine())
    rng = np.random.default_rng(0)
    df = simulate(args.n_blocks, rng)
    t0 = time.perf_counter()
    synergy_scores(simulate(20, rng), scale="viability", zip_variant="synergy")
    print(f"warm-up (kernel load/compile): {time.perf_counter() - t0:.2f} s")
    ours = {}
    for m in ("ZIP", "Bliss", "HSA", "Loewe"):
        t0 = time.perf_counter()
        res_m = synergy_scores(df, methods=[m], scale="viability", zip_variant="synergy")
        ours[m] = time.perf_counter() - t0
        if m == "ZIP":
            zip_synergy = res_m.per_dose
    other_zip = {}
    for variant in ("yadav", "synergyfinder"):
        t0 = time.perf_counter()
        synergy_scores(df, methods=["ZIP"], scale="viability", zip_variant=variant)
        other_zip[variant] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = synergy_scores(df, scale="viability")
    all_four = time.perf_counter() - t0
    n_ok = int((res.qc["status"] == "ok").sum())
    print(f"leptotwin: {args.n_blocks} blocks, all four scores (default ZIP 'yadav') in "
          f"{all_four:.2f} s ({n_ok} ok)")  # fmt: skip
    print("leptotwin ZIP without a package counterpart: "
          + ", ".join(f"{v} {t:.2f} s" for v, t in other_zip.items()))  # fmt: skip
    if not args.no_cli:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "blocks.csv"
            df.to_csv(data, index=False)
            args_cli = ["synergy", str(data), "--scale", "viability"]
            wall, peak, n_files = time_cli(args_cli, Path(tmp))
            bare, _, _ = time_cli([*args_cli, "--figures", "none"], Path(tmp))
        print(
            f"CLI `leptotwin synergy` (own process, default outputs: {n_files} files): "
            f"{wall:.2f} s, peak memory {peak:.2f} GB; API all four {all_four:.2f} s; "
            f"CLI / API {wall / all_four:.1f}x; with --figures none {bare:.2f} s "
            f"(start-up, CSV in and out: {bare / all_four:.1f}x)"
        )
    sample = rng.choice(args.n_blocks, size=min(args.sample, args.n_blocks), replace=False)
    try:
        ref, zip_ref = reference_seconds(df, sample)
    except ImportError as exc:
        print(f"no comparison with the synergy package ({exc}): install synergy==1.0.0")
        return
    for m in ("ZIP", "Bliss", "HSA", "Loewe"):
        scaled = ref[m] * args.n_blocks
        label = "ZIP (synergy variant)" if m == "ZIP" else m
        print(
            f"{label:21s} leptotwin {ours[m]:8.2f} s   synergy (scaled from {sample.size}) "
            f"{scaled:9.2f} s   ratio {scaled / ours[m]:8.1f}x"
        )
    total = sum(ref.values()) * args.n_blocks
    mine = sum(ours.values())
    print(f"all four (like with like) leptotwin {mine:8.2f} s   synergy {total:9.2f} s   "
          f"ratio {total / mine:8.1f}x")  # fmt: skip
    print(zip_agreement(df, zip_synergy, zip_ref))


if __name__ == "__main__":
    main()
