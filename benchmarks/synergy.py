"""Benchmark: batched synergy scores against the ``synergy`` package (per-block loop).

Simulates ``n`` 8 x 8 blocks (MuSyC surfaces with random potencies and interactions, % viability
with noise sd 3), scores all of them with :func:`leptotwin.analysis.synergy.synergy_scores`
(ZIP, Bliss, HSA, Loewe; DataFrame in, tables out), and times ``synergy`` 1.0.0's ``ZIP``,
``Bliss``, ``HSA`` and ``Loewe`` on a random sample of blocks, scaled to ``n``. Prints timings
and the speed-up ratios. A warm-up call loads the compiled kernels first. Without the
``synergy`` package (1.0.0) installed the comparison is skipped, with a note.

The command line is timed too, as a user runs it (issue 14): ``leptotwin synergy --scale
viability`` in its own process on the same blocks written as a CSV, with its default outputs
(tables and the summary figures), next to the API's all-four time; printed with the ratio
CLI / API, its peak memory and the number of files written, and once more with ``--figures
none`` (what start-up and the CSVs cost without figures); ``--no-cli`` skips both.

Run: ``PYTHONPATH=src python benchmarks/synergy.py [n_blocks] [--sample 20] [--no-cli]``
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

from _cli import time_cli  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.analysis._synergy_musyc import musyc_surface
from leptotwin.analysis.synergy import synergy_scores

CONC = np.r_[0, np.logspace(-2, 1, 7)]


def simulate(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Long SynergyFinder table of ``n`` 8 x 8 blocks (% viability)."""
    d1, d2 = (a.ravel() for a in np.meshgrid(CONC, CONC, indexing="ij"))
    p = {
        "E0": np.ones((n, 1)),
        "E1": rng.uniform(0.0, 0.5, (n, 1)),
        "E2": rng.uniform(0.0, 0.5, (n, 1)),
        "E3": rng.uniform(0.0, 0.3, (n, 1)),
        "h1": rng.uniform(0.7, 2.5, (n, 1)),
        "h2": rng.uniform(0.7, 2.5, (n, 1)),
        "C1": np.exp(rng.uniform(-3, 1.5, (n, 1))),
        "C2": np.exp(rng.uniform(-3, 1.5, (n, 1))),
        "alpha12": np.exp(rng.normal(0, 1, (n, 1))),
        "alpha21": np.exp(rng.normal(0, 1, (n, 1))),
    }
    v = 100 * musyc_surface(d1[None], d2[None], **p) + rng.normal(0, 3, (n, d1.size))
    return pd.DataFrame(
        {
            "block_id": np.repeat(np.arange(n), d1.size),
            "drug_row": "A",
            "drug_col": "B",
            "conc_r": np.tile(d1, n),
            "conc_c": np.tile(d2, n),
            "response": v.ravel(),
            "conc_r_unit": "uM",
            "conc_c_unit": "uM",
        }
    )


def reference_seconds(df: pd.DataFrame, blocks: np.ndarray) -> dict[str, float]:
    """Seconds per block of the synergy package's models on ``blocks``."""
    # this file is called synergy.py: keep its folder from shadowing the package
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.modules.pop("synergy", None)
    from synergy.combination import HSA, ZIP, Bliss, Loewe

    out = {}
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
                    pass
        out[name] = (time.perf_counter() - start) / blocks.size
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n_blocks", nargs="?", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--no-cli", action="store_true", help="do not time the command line")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    df = simulate(args.n_blocks, rng)
    t0 = time.perf_counter()
    synergy_scores(simulate(20, rng), scale="viability")
    print(f"warm-up (kernel load/compile): {time.perf_counter() - t0:.2f} s")
    ours = {}
    for m in ("ZIP", "Bliss", "HSA", "Loewe"):
        t0 = time.perf_counter()
        synergy_scores(df, methods=[m], scale="viability")
        ours[m] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = synergy_scores(df, scale="viability")
    all_four = time.perf_counter() - t0
    n_ok = int((res.qc["status"] == "ok").sum())
    print(f"leptotwin: {args.n_blocks} blocks, all four scores in {all_four:.2f} s ({n_ok} ok)")
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
        ref = reference_seconds(df, sample)
    except ImportError as exc:
        print(f"no comparison with the synergy package ({exc}): install synergy==1.0.0")
        return
    for m in ("ZIP", "Bliss", "HSA", "Loewe"):
        scaled = ref[m] * args.n_blocks
        print(
            f"{m:6s} leptotwin {ours[m]:8.2f} s   synergy (scaled from {sample.size}) "
            f"{scaled:9.1f} s   ratio {scaled / ours[m]:8.1f}x"
        )
    total = sum(ref.values()) * args.n_blocks
    print(f"all    leptotwin {all_four:8.2f} s   synergy {total:9.1f} s   ratio "
          f"{total / all_four:8.1f}x   (target: ZIP >= 100x, all four <= 30 s)")  # fmt: skip


if __name__ == "__main__":
    main()
