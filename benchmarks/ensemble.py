"""Benchmark: every claim on N parameter draws (``reproduce --ensemble N``), against the loop a
user would otherwise write.

The ensemble runs the claim-bearing sections of each draw in ensemble mode (full chain, report-only
grids and figures skipped) in worker processes. The comparator is what one would do without it:
``leptotwin reproduce --quick`` once per parameter set (every section, figures and report), timed
on a sample of draws and scaled to N. The issue's goal: 200 draws in minutes on 2 cores.

Run: ``make bench`` or ``.venv/bin/python benchmarks/ensemble.py [--draws N] [--sample K]``.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time

import numpy as np
from rich.console import Console

from leptotwin.catalog import using_catalog
from leptotwin.catalog.posterior import draw_catalogs
from leptotwin.study.ensemble import run_claims_ensemble
from leptotwin.study.reproduce import run_reproduce


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--sample", type=int, default=2, help="draws timed for the comparator")
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    cpus = len(os.sched_getaffinity(0))

    start = time.perf_counter()
    res = run_claims_ensemble(args.draws, seed=2020, jobs=args.jobs)
    ours = time.perf_counter() - start

    cats = draw_catalogs(args.sample, rng=np.random.default_rng(1))
    start = time.perf_counter()
    for k, cat in enumerate(cats):
        with tempfile.TemporaryDirectory() as tmp, using_catalog(cat):
            run_reproduce(
                out_dir=f"{tmp}/r{k}",
                quick=True,
                catalog=cat,
                progress=False,
                console=Console(file=io.StringIO()),
            )
    loop = (time.perf_counter() - start) / args.sample * args.draws

    print(f"claims ensemble, {args.draws} draws, {res.jobs} workers on {cpus} CPUs")
    print(f"  leptotwin reproduce --ensemble: {ours:8.1f} s ({ours / args.draws:.2f} s per draw)")
    print(f"  loop of reproduce --quick:      {loop:8.1f} s (timed on {args.sample}, scaled)")
    print(f"  speed-up: {loop / ours:.1f}x")
    print(res.summary.to_string(index=False))


if __name__ == "__main__":
    main()
