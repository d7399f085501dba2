"""Benchmark: coverage of ``leptotwin calibrate``'s 95 % intervals over many round trips (issue 17).

Each replicate draws virtual data from the calibration's own model at a known parameter set
(:func:`leptotwin.study.calibrate_experiment.virtual_data`: the typical mouse of each arm, the
experiment's noise model), calibrates them with :func:`~leptotwin.study.calibrate_experiment.
calibrate_experiment` (the project's sampler, MAP multistart start) and records whether each
value's central 95 % posterior interval covers the truth. A well-calibrated posterior covers the
truth in about 95 % of replicates; the issue asks for at least 90 % over at least 100.

Problems (``--problem``):

``pk`` (default, ~4 ms per likelihood)
    One osimertinib arm of three mice, plasma and CSF 1, 4, 24 and 169 h after the first dose;
    estimated: the mouse clearance and central volume of osimertinib and its CSF partition;
    truth: 0.5x, 1.5x and 1.3x the catalogue values.
``own-lab`` (~19 s per replicate with the batched likelihood on a loaded 2-core machine: about half
    an hour for 100 replicates)
    The design of ``examples/own-lab`` (two arms, weekly BLI, plasma and CSF PK); truth: its
    ``make_data.py`` values (``pathway.birth_max`` 0.033 /h, mouse CL 1.5 L/h/kg).

Prints the machine, the settings, per-value coverage with its binomial standard error, the
median seconds per replicate, and R-hat/ESS ranges. Replicates stop at ``--budget-s`` (the
count done is printed).

Run: ``.venv/bin/python benchmarks/calibrate.py [--replicates 100] [--problem pk]
[--budget-s S] [--steps N]``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _cli import machine  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.catalog import load_catalog
from leptotwin.study.calibrate_experiment import calibrate_experiment, virtual_data
from leptotwin.study.experiment import load_experiment_file

ROOT = Path(__file__).resolve().parents[1]
PK_TIMES_H = (1.0, 4.0, 24.0, 169.0)
PK_EXPERIMENT = """\
name: coverage_pk
model: lmc_mouse
inoculum: A925L/AR
days: 10
arms:
  osimertinib:
    regimens: {osimertinib: "25 mg/kg QD"}
    subjects: [m1, m2, m3]
data:
  pk: pk.csv
observables:
  plasma:osimertinib: {unit: nM, noise: lognormal, sigma: 0.3}
  csf:osimertinib: {unit: nM, noise: lognormal, sigma: 0.3}
estimate: [osimertinib.pk.mouse.CL, osimertinib.pk.mouse.V1, osimertinib.pk.mouse.kp_uu_csf]
"""


def pk_problem(folder: Path):
    """The ``pk`` experiment (placeholder data) and its truth."""
    rows = [
        f"{m},{t},osimertinib,{matrix},1.0,nM,"
        for m in ("m1", "m2", "m3")
        for t in PK_TIMES_H
        for matrix in ("plasma", "csf")
    ]
    (folder / "pk.csv").write_text(
        "subject,time_h,drug,matrix,concentration,unit,lloq\n" + "\n".join(rows) + "\n"
    )
    (folder / "experiment.yaml").write_text(PK_EXPERIMENT)
    cat = load_catalog()
    factors = {
        "osimertinib.pk.mouse.CL": 0.5,
        "osimertinib.pk.mouse.V1": 1.5,
        "osimertinib.pk.mouse.kp_uu_csf": 1.3,
    }
    truth = {p: f * cat.quantity(p).value for p, f in factors.items()}
    return load_experiment_file(folder / "experiment.yaml"), truth


def own_lab_problem(_folder: Path):
    exp = load_experiment_file(ROOT / "examples" / "own-lab" / "experiment.yaml")
    return exp, {"pathway.birth_max": 0.033, "osimertinib.pk.mouse.CL": 1.5}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=100)
    ap.add_argument("--problem", choices=("pk", "own-lab"), default="pk")
    ap.add_argument("--budget-s", type=float, default=math.inf)
    ap.add_argument("--walkers", type=int, default=None)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--burn", type=int, default=60)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--csv", type=Path, default=None, help="write one row per replicate")
    args = ap.parse_args()
    print(machine())
    folder = Path(tempfile.mkdtemp(prefix="calibrate-bench-"))
    exp, truth = (pk_problem if args.problem == "pk" else own_lab_problem)(folder)
    names = list(exp.estimate)
    print(
        f"problem {args.problem}: {len(exp.measurements)} data, estimated {', '.join(names)}; "
        f"truth {', '.join(f'{k}={v:.4g}' for k, v in truth.items())}"
    )
    print(
        f"sampler: emcee (DE moves), walkers {args.walkers or 'default'}, steps {args.steps}, "
        f"burn-in {args.burn}, MAP multistart 2; replicates {args.replicates}, "
        f"budget {args.budget_s:g} s"
    )
    rows = []
    t_start = time.perf_counter()
    for r in range(args.replicates):
        if time.perf_counter() - t_start > args.budget_s:
            break
        rng = np.random.default_rng([args.seed, r])
        data = virtual_data(exp, truth, rng=rng)
        t0 = time.perf_counter()
        res = calibrate_experiment(
            data,
            seed=args.seed + r,
            n_walkers=args.walkers,
            n_steps=args.steps,
            burn=args.burn,
            n_starts=2,
            draws=1000,
            fit_draws=0,
        )
        seconds = time.perf_counter() - t0
        s = res.summary.set_index("parameter")
        row = {"replicate": r, "seconds": seconds}
        for p in names:
            t = truth.get(p, load_catalog().quantity(p).value)
            row[f"{p}:covered"] = bool(s.loc[p, "posterior_low"] <= t <= s.loc[p, "posterior_high"])
            row[f"{p}:median"] = s.loc[p, "posterior_median"]
            row[f"{p}:r_hat"] = s.loc[p, "r_hat"]
            row[f"{p}:ess_bulk"] = s.loc[p, "ess_bulk"]
        rows.append(row)
        print(
            f"  replicate {r}: {seconds:.1f} s, covered "
            + ", ".join(str(int(row[f"{p}:covered"])) for p in names),
            flush=True,
        )
    table = pd.DataFrame(rows)
    if args.csv is not None:
        table.to_csv(args.csv, index=False)
    n = len(table)
    print(f"\n{n} replicates ({time.perf_counter() - t_start:.0f} s in all)")
    for p in names:
        c = table[f"{p}:covered"].mean()
        se = math.sqrt(c * (1 - c) / n) if n else math.nan
        print(
            f"  {p}: 95 % interval covers the truth in {c:.1%} (SE {se:.1%}); R-hat "
            f"{table[f'{p}:r_hat'].min():.3f}-{table[f'{p}:r_hat'].max():.3f}, bulk ESS "
            f"{table[f'{p}:ess_bulk'].min():.0f}-{table[f'{p}:ess_bulk'].max():.0f}"
        )
    joint = table[[f"{p}:covered" for p in names]].all(axis=1).mean()
    print(f"  all values covered at once: {joint:.1%}")
    print(f"  median seconds per replicate: {table['seconds'].median():.2f}")


if __name__ == "__main__":
    main()
