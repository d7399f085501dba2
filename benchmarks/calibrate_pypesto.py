"""Benchmark: multistart maximum-likelihood calibration of ``examples/own-lab``, leptotwin's
engine against pyPESTO with libRoadRunner on the same PEtab problem (issue 17).

The problem is the experiment's PEtab export (:func:`leptotwin.interop.petab.build_petab`,
written to a temporary folder): BLI and osimertinib PK (``--problem own-lab``:
``examples/own-lab/experiment.yaml``, estimating ``pathway.birth_max`` and
``osimertinib.pk.mouse.CL``) or the PK only (``--problem pk-only``: ``pk_only.yaml``,
estimating the clearance). In-vitro viability data have no PEtab form (the export refuses them),
so the in-vitro part is not here. Maximum likelihood: PEtab's negative log-likelihood, no prior
terms, over the estimated values on the PEtab parameter scale (log10) within the PEtab bounds.

Both sides start from the same ``--starts`` points (seeded, uniform in the bounds on the
parameter scale) and use the same optimizer: scipy's L-BFGS-B with pyPESTO's defaults for it
(gradient by scipy's 2-point finite differences, step 1e-8 on the parameter scale; ``maxfun``
1000; scipy's default tolerances):

* **ours**: ``scipy.optimize.minimize`` of :func:`~leptotwin.interop.petab.engine_nll` (the
  cohort engine for the typical mouse of each arm, closed-form PK; growth step ``--dt-h`` and
  half of it, Richardson-extrapolated);
* **pyPESTO** 0.7.0: ``pypesto.optimize.minimize`` (``ScipyOptimizer()``, its default
  L-BFGS-B; one core) of the objective of ``PetabImporter(..., simulator_type="roadrunner")``
  (libRoadRunner, CVODE, ``--rtol``, absolute tolerance 1e-12), without the problem's priors.
  Two repairs, both printed: pyPESTO 0.7.0 pairs each condition's data (in the order the
  measurement table first names the conditions) with the parameter mapping of another (sorted
  conditions), so the data are reordered to the mapping's order; and libRoadRunner 2.10 stops
  with ``CV_TOO_CLOSE`` when an output time is repeated (the three mice of a BLI day) at a dose
  event, so each condition is simulated at its distinct times and the rows repeated.

The two sides alternate start by start (ours, then pyPESTO's from the same point; one core each
in turn), so a shared machine's changing load falls on both alike.

Prints the machine, the settings, per start (both sides): the start, the optimum, the NLL,
function evaluations and wall seconds (pyPESTO's: its optimizer's time for the start, as in a
multistart run; the set-up of each one-start ``minimize`` call is printed apart); then the best
NLLs, how many starts end within 1e-6 of their side's best, the best NLLs' relative difference
(goal 1e-6), each NLL at the other's optimum, one evaluation's cost on each side, and the wall
time ratio ours/pyPESTO (the issue's goal: ours at least 10× faster, a ratio of 0.1 or less).
Set-up (export, reading the problem, loading the SBML into libRoadRunner) is timed apart.

Run (pyPESTO in its own environment; ``make bench`` installs it from
``benchmarks/requirements.txt``)::

    python3 -m venv /tmp/pp-venv && /tmp/pp-venv/bin/pip install -r requirements.lock
    /tmp/pp-venv/bin/pip install pypesto==0.7.0 && /tmp/pp-venv/bin/pip install --no-deps -e .
    /tmp/pp-venv/bin/python benchmarks/calibrate_pypesto.py [--problem own-lab] [--starts 20]
        [--seed 17] [--dt-h H] [--rtol 1e-10]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.optimize

from _cli import machine  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.catalog import load_catalog
from leptotwin.interop.petab import build_petab, engine_nll
from leptotwin.study.calibrate_experiment import growth_step
from leptotwin.study.experiment import load_experiment_file

try:
    import petab.v1 as petab
    import pypesto
    import pypesto.optimize
    import pypesto.petab
    import roadrunner
    from pypesto.objective.roadrunner import SolverOptions
    from pypesto.objective.roadrunner.roadrunner_calculator import (
        RoadRunnerCalculator,
        calculate_llh,
    )
except ImportError as missing:  # pragma: no cover - a benchmark-only dependency
    raise SystemExit(
        f"calibrate_pypesto.py needs pyPESTO 0.7.0 and libRoadRunner ({missing}): "
        "pip install -r benchmarks/requirements.txt"
    ) from None

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = {
    "own-lab": ROOT / "examples" / "own-lab" / "experiment.yaml",
    "pk-only": ROOT / "examples" / "own-lab" / "pk_only.yaml",
}


class DistinctTimes(RoadRunnerCalculator):
    """pyPESTO's libRoadRunner calculator, simulating each condition at its distinct output
    times and repeating the rows for replicates (libRoadRunner 2.10 stops with
    ``CV_TOO_CLOSE`` at a repeated output time that coincides with an event)."""

    def simulate_per_condition(self, x_dct, roadrunner_instance, edata, parameter_mapping):
        if parameter_mapping[0] and parameter_mapping[2]:
            raise NotImplementedError("pre-equilibration (the exported problems have none)")
        times = np.concatenate([[0.0], edata.timepoints])
        distinct, back = np.unique(times, return_inverse=True)
        par_map = self.fill_in_parameters(x_dct, roadrunner_instance, parameter_mapping)
        out = roadrunner_instance.simulate(
            times=list(distinct), selections=["time", *edata.get_observable_ids()]
        )
        sim = np.asarray(out)[back]
        with np.errstate(divide="ignore", invalid="ignore"):  # log of NaN (no datum) rows
            llh = calculate_llh(sim, edata, par_map, roadrunner_instance)
        roadrunner_instance.reset()
        return sim, llh


@contextlib.contextmanager
def cvode_warnings(counter: list[int]):
    """Sends what C code writes to stdout and stderr (CVODE's "t + h = t" warning at dose
    events) to a file, and adds the number of such lines to ``counter``."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile() as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            libc.fflush(None)
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            counter[0] += sum(1 for line in sink if b"CVode" in line)


def unscale(x: np.ndarray, scales: list[str]) -> np.ndarray:
    """Values on the PEtab parameter scale → linear."""
    out = np.asarray(x, float).copy()
    for i, s in enumerate(scales):
        out[i] = 10.0 ** out[i] if s == "log10" else math.exp(out[i]) if s == "log" else out[i]
    return out


def pypesto_problem(pp: petab.Problem, rtol: float) -> tuple[pypesto.Problem, list[str]]:
    """pyPESTO's problem (libRoadRunner objective, no priors) and the repairs made."""
    importer = pypesto.petab.PetabImporter(pp, simulator_type="roadrunner")
    objective = importer.create_objective_creator(simulator_type="roadrunner").create_objective()
    objective.solver_options = SolverOptions(
        relative_tolerance=rtol, absolute_tolerance=1e-12, maximum_num_steps=1_000_000
    )
    repairs = []
    order = list(pp.get_simulation_conditions_from_measurement_df()["simulationConditionId"])
    given = [e.condition_id for e in objective.edatas]
    if given != order:
        by_id = {e.condition_id: e for e in objective.edatas}
        objective.edatas = [by_id[c] for c in order]
        repairs.append(
            f"data reordered to the parameter mapping's conditions: {given} -> {order} "
            "(pyPESTO 0.7.0 pairs them by position)"
        )
    objective.calculator = DistinctTimes()
    repairs.append("each condition simulated at its distinct times (libRoadRunner CV_TOO_CLOSE)")
    x_ids = pp.x_ids
    problem = pypesto.Problem(
        objective=objective,
        lb=pp.lb_scaled,
        ub=pp.ub_scaled,
        x_fixed_indices=pp.x_fixed_indices,
        x_fixed_vals=pp.x_nominal_fixed_scaled,
        x_names=x_ids,
        x_scales=[pp.parameter_df.loc[x, petab.PARAMETER_SCALE] for x in x_ids],
    )
    return problem, repairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", choices=tuple(PROBLEMS), default="own-lab")
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument(
        "--dt-h",
        type=float,
        default=None,
        help="our growth step, h (default: leptotwin calibrate's, growth_step)",
    )
    ap.add_argument("--rtol", type=float, default=1e-10, help="libRoadRunner's (pyPESTO: 1e-6)")
    args = ap.parse_args()
    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    print(machine())
    print(
        f"problem {args.problem}; {args.starts} starts, seed {args.seed}; "
        f"scipy {scipy.__version__}, pyPESTO {pypesto.__version__}, "
        f"libRoadRunner {roadrunner.__version__}"
    )

    t0 = time.perf_counter()
    exp = load_experiment_file(PROBLEMS[args.problem])
    cat = load_catalog()
    dt_h = growth_step(exp) if args.dt_h is None else args.dt_h
    folder = Path(tempfile.mkdtemp(prefix="calibrate_pypesto_"))
    files = build_petab(exp, catalog=cat).write(folder / "petab")
    setup_export = time.perf_counter() - t0
    pp = petab.Problem.from_yaml(files["problem"])
    free = pp.x_free_ids
    names = [pp.parameter_df.loc[x, "parameterName"] for x in free]
    scales = [pp.parameter_df.loc[x, petab.PARAMETER_SCALE] for x in free]
    lb = np.asarray(pp.lb_scaled)[pp.x_free_indices]
    ub = np.asarray(pp.ub_scaled)[pp.x_free_indices]
    t0 = time.perf_counter()
    problem, repairs = pypesto_problem(pp, args.rtol)
    setup_pypesto = time.perf_counter() - t0
    bounds = zip(names, scales, lb, ub, strict=True)
    print("estimated: " + ", ".join(f"{n} ({s}, [{a:.4g}, {b:.4g}])" for n, s, a, b in bounds))
    print(f"ours: engine_nll, growth step {dt_h:g} h and {dt_h / 2:g} h (Richardson)")
    print(f"pyPESTO: libRoadRunner CVODE rtol {args.rtol:g}, atol 1e-12; " + "; ".join(repairs))
    print("optimizer (both): scipy L-BFGS-B, 2-point finite-difference gradient, maxfun 1000")
    print(
        f"set-up: export {setup_export:.2f} s; "
        f"pyPESTO import + libRoadRunner load {setup_pypesto:.2f} s"
    )

    starts = np.random.default_rng(args.seed).uniform(lb, ub, size=(args.starts, lb.size))

    not_finite = [0]

    def ours(x: np.ndarray) -> float:
        values = dict(zip(names, unscale(x, scales), strict=True))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = engine_nll(exp, values, catalog=cat, dt_h=dt_h)
        not_finite[0] += not math.isfinite(value)
        return value

    def theirs(x: np.ndarray) -> float:
        return float(problem.objective(np.asarray(x, float)))

    # one evaluation's cost (warm), at the first start
    cost = {}
    cvode = [0]
    for label, f in (("ours", ours), ("pyPESTO", theirs)):
        with cvode_warnings(cvode):
            f(starts[0])
            t = time.perf_counter()
            for _ in range(3):
                f(starts[0])
            cost[label] = (time.perf_counter() - t) / 3

    # start by start, ours then pyPESTO's, so that the load of a shared machine hits both alike
    rows_ours, by_start = [], {}
    wall_ours = wall_pp = calls_pp = 0.0
    for k, x0 in enumerate(starts):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # inf - inf in a finite difference (counted)
            res = scipy.optimize.minimize(
                ours,
                x0,
                method="L-BFGS-B",
                bounds=list(zip(lb, ub, strict=True)),
                options={"maxfun": 1000},
            )
        dt = time.perf_counter() - t
        wall_ours += dt
        rows_ours.append((res.x, float(res.fun), int(res.nfev), dt))

        problem.set_x_guesses(problem.get_full_vector(x0)[None, :])
        t = time.perf_counter()
        with warnings.catch_warnings(), cvode_warnings(cvode):
            warnings.simplefilter("ignore")
            result = pypesto.optimize.minimize(
                problem,
                optimizer=pypesto.optimize.ScipyOptimizer(),
                n_starts=1,
                progress_bar=False,
            )
        calls_pp += time.perf_counter() - t
        r = result.optimize_result.list[0]
        if not np.allclose(np.asarray(r.x0)[pp.x_free_indices], x0, rtol=0, atol=1e-12):
            raise SystemExit("pyPESTO did not start from the given point")
        wall_pp += r.time  # its optimizer's time for the start, not minimize's set-up per call
        by_start[k] = (np.asarray(r.x)[pp.x_free_indices], float(r.fval), int(r.n_fval), r.time)

    print()
    head = (
        "start  x0 (scaled)"
        + " " * 14
        + "| ours: x*, NLL, nfev, s"
        + " " * 24
        + "| pyPESTO: x*, NLL, nfev, s"
    )
    print(head)
    for k, x0 in enumerate(starts):
        a, b = rows_ours[k], by_start[k]
        print(
            f"{k:5d}  {np.array2string(x0, precision=4):24s} | "
            f"{np.array2string(a[0], precision=5):22s} {a[1]:14.8f} {a[2]:4d} {a[3]:7.2f} | "
            f"{np.array2string(b[0], precision=5):22s} {b[1]:14.8f} {b[2]:4d} {b[3]:7.2f}"
        )
    best_o = min(rows_ours, key=lambda r: r[1])
    best_p = min(by_start.values(), key=lambda r: r[1])
    rel = abs(best_o[1] - best_p[1]) / abs(best_p[1])
    reached_o = sum(r[1] <= best_o[1] * (1 + 1e-6) for r in rows_ours)
    reached_p = sum(r[1] <= best_p[1] * (1 + 1e-6) for r in by_start.values())
    print()
    for label, best in (("ours", best_o), ("pyPESTO", best_p)):
        linear = ", ".join(f"{v:.6g}" for v in unscale(best[0], scales))
        print(f"best NLL {label} {best[1]:.10f} at {best[0]} (linear: {linear})")
    print(
        f"starts ending within 1e-6 (relative) of their side's best: ours {reached_o}, "
        f"pyPESTO {reached_p} of {args.starts}"
    )
    print(f"relative difference {rel:.2e} ({'within' if rel <= 1e-6 else 'NOT within'} 1e-6)")
    with cvode_warnings(cvode):
        cross_o, cross_p = ours(best_p[0]), theirs(best_o[0])
    print(
        f"at each other's optimum: ours at pyPESTO's x* {cross_o:.10f}, "
        f"pyPESTO at our x* {cross_p:.10f}"
    )
    print(
        f"CVODE warnings (t + h = t at dose events) hidden: {cvode[0]}; "
        f"evaluations where our NLL is not finite: {not_finite[0]}"
    )
    n_o = sum(r[2] for r in rows_ours)
    n_p = sum(r[2] for r in by_start.values())
    print(
        f"one evaluation: ours {cost['ours'] * 1e3:.1f} ms, "
        f"pyPESTO {cost['pyPESTO'] * 1e3:.1f} ms; "
        f"evaluations: ours {n_o}, pyPESTO {n_p}"
    )
    print(
        f"wall: ours {wall_ours:.1f} s ({wall_ours / args.starts:.2f} s a start), "
        f"pyPESTO {wall_pp:.1f} s ({wall_pp / args.starts:.2f} s a start; its optimizer's "
        f"time, the {args.starts} minimize calls took {calls_pp:.1f} s); "
        f"ratio ours/pyPESTO {wall_ours / wall_pp:.2f} (goal <= 0.1)"
    )


if __name__ == "__main__":
    main()
