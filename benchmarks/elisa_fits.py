"""Benchmark: ELISA standard-curve fits of many plates, and the patients section (claim C9) that
runs them (issue 16 item 1).

* **Fits**: the 4PL of ``--plates`` simulated DuoSet plates (7 standards + blank in duplicate,
  1/y^2 weights), fitted plate by plate with ``scipy.optimize.least_squares`` (MINPACK; the
  former path, still the fallback and the 5PL's) and all at once by the batched
  Levenberg–Marquardt fit :class:`~leptotwin.analysis.standard_curve.StandardCurveFitter` uses;
  CPU seconds and the largest relative difference of the parameters.
* **Section**: ``patients`` (``leptotwin.study.sections.patients.patients_csf``) as one member of
  a claims ensemble (``--mode ensemble``: ``ctx.ensemble``, a posterior draw's catalogue) and/or
  in quick mode (``--mode quick``), CPU seconds of the section call after a warm-up call, each in
  its own process. With ``--baseline-src DIR`` (the ``src`` folder of another checkout, e.g.
  ``git archive <commit> src | tar x -C /tmp/base``) the two code versions are timed in
  alternation, ``--rounds`` times, so that both see the same machine load (``--current-src``
  times another folder in place of the installed package).
* **Draw** (``--mode draw``): one whole member of the claims ensemble (every claim section on one
  posterior draw, as ``reproduce --ensemble`` runs it in a worker), CPU seconds after a warm-up.

Run: ``.venv/bin/python benchmarks/elisa_fits.py [--plates N] [--mode ensemble quick]
[--baseline-src DIR --rounds R]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin.analysis import standard_curve as sc
from leptotwin.assays.elisa import simulate_elisa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cli import machine

_SECTION = """
import sys, tempfile, time
from pathlib import Path
import numpy as np
from leptotwin.catalog import load_catalog, using_catalog
from leptotwin.catalog.posterior import draw_parameters
from leptotwin.study.reproduce import Context, section_rng
from leptotwin.study.sections.patients import patients_csf

mode = sys.argv[1]
cat = None
if mode == "draw":  # one member of the claims ensemble: every claim section, as a worker runs it
    from leptotwin.study.ensemble import CLAIM_SECTIONS, _draw_seed, _evaluate_draw

    row = draw_parameters(1, rng=np.random.default_rng(7), source="posterior").iloc[0]
    values = {k: float(v) for k, v in row.items()}
    run = lambda: _evaluate_draw(0, values, _draw_seed(2020, 0), CLAIM_SECTIONS)  # noqa: E731
    run()
    cpu, wall = time.process_time(), time.perf_counter()
    rows = run()
    print(f"{time.process_time() - cpu:.3f} {time.perf_counter() - wall:.3f}")
    print("; ".join(f"{r['id']} {r['status']}" for r in rows))
    sys.exit()
if mode == "ensemble":
    row = draw_parameters(1, rng=np.random.default_rng(7), source="posterior").iloc[0]
    cat = load_catalog().with_values({k: float(v) for k, v in row.items()})

def run():
    ctx = Context(rng=section_rng(2020, "patients"), seed=2020, out_dir=Path(tempfile.mkdtemp()),
                  quick=True, name="patients", catalog=cat, ensemble=mode == "ensemble")
    if cat is None:
        return patients_csf(ctx)
    with using_catalog(cat):
        return patients_csf(ctx)

run()  # imports, compiled kernels, caches
cpu, wall = time.process_time(), time.perf_counter()
res = run()
print(f"{time.process_time() - cpu:.3f} {time.perf_counter() - wall:.3f}")
print(res.claims[0].measured)
"""


def _plates(n: int, seed: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    samples = pd.DataFrame({"sample_id": [f"s{i}" for i in range(40 * n)], "true_pg_mL": 100.0})
    wells = simulate_elisa(samples, rng=rng)
    cal = wells[wells["role"].isin(["standard", "blank"])]
    xs, ys = [], []
    for _, g in cal.groupby("plate", sort=False):
        ok = np.isfinite(g["signal"].to_numpy())
        xs.append(g["nominal_pg_mL"].to_numpy()[ok])
        ys.append(g["signal"].to_numpy()[ok])
    return xs, ys


def bench_fits(n: int) -> None:
    xs, ys = _plates(n)
    curve = sc.LogisticCurve("4PL")
    sc._fit_plates(curve, xs[:2], ys[:2], 1.0)  # warm-up
    start = time.process_time()
    old = [sc._fit_plate(curve, x, y, 1.0) for x, y in zip(xs, ys, strict=True)]
    t_old = time.process_time() - start
    start = time.process_time()
    new = sc._fit_plates(curve, xs, ys, 1.0)
    t_new = time.process_time() - start
    th_old = curve.to_theta(np.array([f.phi for f in old]))
    th_new = curve.to_theta(np.array([f.phi for f in new]))
    rel = float(np.nanmax(np.abs(th_new - th_old) / np.abs(th_old)))
    same = all(a.status is b.status for a, b in zip(old, new, strict=True))
    print(f"4PL fits of {len(xs)} plates (1/y^2), CPU s:")
    print(f"  per plate, scipy least_squares (MINPACK): {t_old:7.3f}")
    print(f"  batched Levenberg-Marquardt:              {t_new:7.3f}  ({t_old / t_new:.1f}x)")
    print(f"  largest relative parameter difference {rel:.1e}; statuses equal: {same}")


def _section(mode: str, src: str | None) -> tuple[float, float, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(Path(src).resolve())
    out = subprocess.run(
        [sys.executable, "-c", _SECTION, mode], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    cpu, wall = (float(v) for v in out[0].split())
    return cpu, wall, out[1]


def bench_section(
    modes: list[str], baseline: str | None, rounds: int, current: str | None = None
) -> None:
    versions = [("current", current)] + ([("baseline", baseline)] if baseline else [])
    for mode in modes:
        times: dict[str, list[float]] = {name: [] for name, _ in versions}
        claims = {}
        for r in range(rounds):
            order = versions if r % 2 == 0 else versions[::-1]
            for name, src in order:
                cpu, _, claim = _section(mode, src)
                times[name].append(cpu)
                claims[name] = claim
        what = "one ensemble draw, all claim sections" if mode == "draw" else "patients section"
        print(f"{what}, {mode} mode, CPU s ({rounds} rounds):")
        for name, _ in versions:
            t = times[name]
            print(
                f"  {name:9s} median {np.median(t):6.2f}  runs {', '.join(f'{v:.2f}' for v in t)}"
            )
        if baseline:
            ratio = np.median(times["baseline"]) / np.median(times["current"])
            same = claims["current"] == claims["baseline"]
            print(f"  speed-up {ratio:.1f}x; same claim results: {same}")
        print(f"  claims: {claims['current'][:160]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plates", type=int, default=1000)
    ap.add_argument(
        "--mode", nargs="*", default=["ensemble"], choices=["ensemble", "quick", "draw"]
    )
    ap.add_argument("--baseline-src", default=None)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--current-src", default=None, help="time this src folder as 'current'")
    args = ap.parse_args()
    print(machine())
    bench_fits(args.plates)
    bench_section(args.mode, args.baseline_src, args.rounds, args.current_src)
    print(machine())


if __name__ == "__main__":
    main()
