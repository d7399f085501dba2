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

* **ours**: :func:`~leptotwin.interop.petab.engine_multistart`: every start runs
  ``scipy.optimize.minimize`` of :func:`~leptotwin.interop.petab.engine_nll`'s likelihood in
  lock-step with the others (:func:`~leptotwin.calibration.multistart.lockstep_lbfgsb`), and
  each round's points (every live start's point and its finite-difference stencil) are one
  call of :class:`~leptotwin.interop.petab.EngineLikelihood`: the cohort engine with the
  parameter sets as its mice (the typical mouse of each arm per set, closed-form PK; growth
  step ``--dt-h`` and half of it, Richardson-extrapolated). Each start's result is the one a
  single-start ``minimize`` of ``engine_nll`` gives (``--sequential`` times that too and
  counts the starts that end exactly alike);
* **pyPESTO** 0.7.0: ``pypesto.optimize.minimize`` (``ScipyOptimizer()``, its default
  L-BFGS-B; one core; all starts in one call, as ``x_guesses``) of the objective of
  ``PetabImporter(..., simulator_type="roadrunner")`` (libRoadRunner, CVODE, ``--rtol``,
  absolute tolerance 1e-12), without the problem's priors. Two repairs, both printed: pyPESTO
  0.7.0 pairs each condition's data (in the order the measurement table first names the
  conditions) with the parameter mapping of another (sorted conditions), so the data are
  reordered to the mapping's order; and libRoadRunner 2.10 stops with ``CV_TOO_CLOSE`` when an
  output time is repeated (the three mice of a BLI day) at a dose event, so each condition is
  simulated at its distinct times and the rows repeated.

The two whole multistarts alternate ``--repeats`` times (ours, then pyPESTO's; one core each,
BLAS threads set to 1 before numpy loads), so a shared machine's changing load falls on both
alike; medians are compared.

Prints the machine, the settings, per start (both sides): the start, the optimum, the NLL
and the function evaluations (pyPESTO's seconds per start too); then the best NLLs, how many
starts end within 1e-6 of their side's best, the best NLLs' relative difference (goal 1e-6),
each NLL at the other's optimum, the evaluations and our engine rounds, one evaluation's cost
on each side (ours alone and as one round's batch), the wall times of every repeat (ours: the
whole lock-step multistart, its set-up included; pyPESTO: its optimizer's times of the starts,
and its minimize call) and the ratio of the medians ours/pyPESTO (the issue's goal: ours at
least 10x faster, a ratio of 0.1 or less). Set-up (export, reading the problem, loading the
SBML into libRoadRunner) is timed apart.

Run (pyPESTO in its own environment; ``make bench`` installs it from
``benchmarks/requirements.txt``)::

    python3 -m venv /tmp/pp-venv && /tmp/pp-venv/bin/pip install -r requirements.lock
    /tmp/pp-venv/bin/pip install pypesto==0.7.0 && /tmp/pp-venv/bin/pip install --no-deps -e .
    /tmp/pp-venv/bin/python benchmarks/calibrate_pypesto.py [--problem own-lab] [--starts 20]
        [--seed 17] [--dt-h H] [--rtol 1e-10] [--repeats 3] [--sequential]
"""

# ruff: noqa: E402  (the BLAS thread count must be set before numpy is imported)
from __future__ import annotations

import argparse
import contextlib
import ctypes
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core each side (read when numpy loads BLAS)

import numpy as np
import scipy
import scipy.optimize

from _cli import machine  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.calibration.multistart import LockstepResult
from leptotwin.catalog import load_catalog
from leptotwin.interop.petab import (
    EngineLikelihood,
    ParameterScale,
    build_petab,
    engine_multistart,
    engine_nll,
)
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
    ap.add_argument("--repeats", type=int, default=3, help="alternating multistart runs per side")
    ap.add_argument(
        "--sequential",
        action="store_true",
        help="also time ours one start at a time (engine_nll per call, the unbatched path)",
    )
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
    print(
        f"ours: engine_multistart (engine_nll's likelihood batched: all starts and their "
        f"finite-difference stencils in one engine call per round), growth step {dt_h:g} h and "
        f"{dt_h / 2:g} h (Richardson)"
    )
    print(f"pyPESTO: libRoadRunner CVODE rtol {args.rtol:g}, atol 1e-12; " + "; ".join(repairs))
    print("optimizer (both): scipy L-BFGS-B, 2-point finite-difference gradient, maxfun 1000")
    print(
        f"set-up: export {setup_export:.2f} s; "
        f"pyPESTO import + libRoadRunner load {setup_pypesto:.2f} s"
    )

    scale = ParameterScale.of(exp, cat)
    if scale.paths != tuple(names) or not (
        np.array_equal(scale.lb, lb) and np.array_equal(scale.ub, ub)
    ):
        raise SystemExit("engine_multistart's parameter scale differs from the written problem")
    starts = np.random.default_rng(args.seed).uniform(lb, ub, size=(args.starts, lb.size))
    options = {"maxfun": 1000}

    def ours(x: np.ndarray) -> float:  # engine_multistart's objective, one point
        values = dict(zip(names, scale.unscale(x), strict=True))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return engine_nll(exp, values, catalog=cat, dt_h=dt_h)

    def theirs(x: np.ndarray) -> float:
        return float(problem.objective(np.asarray(x, float)))

    def ours_multistart() -> tuple[LockstepResult, float]:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # inf - inf in a finite difference
            result, _ = engine_multistart(exp, starts, catalog=cat, dt_h=dt_h, options=options)
        return result, time.perf_counter() - t

    def pypesto_multistart() -> tuple[list[tuple[np.ndarray, float, int, float]], float, float]:
        problem.set_x_guesses(np.array([problem.get_full_vector(x0) for x0 in starts]))
        t = time.perf_counter()
        with warnings.catch_warnings(), cvode_warnings(cvode):
            warnings.simplefilter("ignore")
            result = pypesto.optimize.minimize(
                problem,
                optimizer=pypesto.optimize.ScipyOptimizer(),
                n_starts=args.starts,
                progress_bar=False,
            )
        wall = time.perf_counter() - t
        rows: list = [None] * args.starts
        for r in result.optimize_result.list:
            x0 = np.asarray(r.x0)[pp.x_free_indices]
            k = [i for i, s in enumerate(starts) if np.allclose(s, x0, rtol=0, atol=1e-12)]
            if len(k) != 1 or rows[k[0]] is not None:
                raise SystemExit("pyPESTO did not start from the given points")
            rows[k[0]] = (np.asarray(r.x)[pp.x_free_indices], float(r.fval), int(r.n_fval), r.time)
        return rows, sum(r[3] for r in rows), wall

    # one evaluation's cost (warm), at the first start; ours also as one round's batch
    cost = {}
    cvode = [0]
    for label, f in (("ours", ours), ("pyPESTO", theirs)):
        with cvode_warnings(cvode):
            f(starts[0])
            t = time.perf_counter()
            for _ in range(3):
                f(starts[0])
            cost[label] = (time.perf_counter() - t) / 3
    like = EngineLikelihood(exp, names, catalog=cat, dt_h=dt_h)
    round_sets = np.repeat(scale.unscale(starts), lb.size + 1, axis=0)  # a full round
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        like(round_sets)
        t = time.perf_counter()
        for _ in range(3):
            like(round_sets)
    cost["round"] = (time.perf_counter() - t) / 3

    # whole multistarts, ours then pyPESTO's, repeated: a shared machine's load hits both
    walls_o, walls_p, calls_p = [], [], []
    for _ in range(args.repeats):
        res_o, w = ours_multistart()
        walls_o.append(w)
        rows_p, w, call = pypesto_multistart()
        walls_p.append(w)
        calls_p.append(call)
    rows_o = [(r.x, float(r.fun), int(r.nfev)) for r in res_o.results]

    print()
    print(
        "start  x0 (scaled)"
        + " " * 14
        + "| ours: x*, NLL, nfev"
        + " " * 19
        + "| pyPESTO: x*, NLL, nfev, s"
    )
    for k, x0 in enumerate(starts):
        a, b = rows_o[k], rows_p[k]
        print(
            f"{k:5d}  {np.array2string(x0, precision=4):24s} | "
            f"{np.array2string(a[0], precision=5):22s} {a[1]:14.8f} {a[2]:4d} | "
            f"{np.array2string(b[0], precision=5):22s} {b[1]:14.8f} {b[2]:4d} {b[3]:7.2f}"
        )
    best_o = min(rows_o, key=lambda r: r[1])
    best_p = min(rows_p, key=lambda r: r[1])
    rel = abs(best_o[1] - best_p[1]) / abs(best_p[1])
    reached_o = sum(r[1] <= best_o[1] * (1 + 1e-6) for r in rows_o)
    reached_p = sum(r[1] <= best_p[1] * (1 + 1e-6) for r in rows_p)
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
    print(f"CVODE warnings (t + h = t at dose events) hidden: {cvode[0]}")
    n_o = sum(r[2] for r in rows_o)
    n_p = sum(r[2] for r in rows_p)
    print(
        f"evaluations: ours {n_o} in {res_o.rounds} rounds of the engine (batches of "
        f"{min(res_o.batch_sizes)}-{max(res_o.batch_sizes)} parameter sets; "
        f"{res_o.points} sets computed), pyPESTO {n_p}"
    )
    print(
        f"one evaluation: ours {cost['ours'] * 1e3:.1f} ms alone, one round of "
        f"{round_sets.shape[0]} sets {cost['round'] * 1e3:.1f} ms "
        f"({cost['round'] / round_sets.shape[0] * 1e3:.2f} ms a set); "
        f"pyPESTO {cost['pyPESTO'] * 1e3:.1f} ms"
    )
    fmt = lambda v: ", ".join(f"{x:.2f}" for x in v)  # noqa: E731
    print(
        f"wall, {args.repeats} alternating repeats: ours [{fmt(walls_o)}] s (the whole "
        f"lock-step multistart, set-up included); pyPESTO [{fmt(walls_p)}] s (its optimizer's "
        f"times of the {args.starts} starts; its minimize calls [{fmt(calls_p)}] s)"
    )
    mo, mp = statistics.median(walls_o), statistics.median(walls_p)
    ratios = [o / p for o, p in zip(walls_o, walls_p, strict=True)]
    print(
        f"median: ours {mo:.2f} s, pyPESTO {mp:.2f} s; ratio ours/pyPESTO {mo / mp:.3f} "
        f"({mp / mo:.1f}x faster; per repeat [{', '.join(f'{r:.3f}' for r in ratios)}]; "
        f"goal <= 0.1)"
    )
    print(f"load average after: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")

    if args.sequential:  # ours one start at a time (engine_nll per call), as before batching
        t = time.perf_counter()
        same = 0
        for k, x0 in enumerate(starts):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = scipy.optimize.minimize(
                    ours,
                    x0,
                    method="L-BFGS-B",
                    bounds=list(zip(lb, ub, strict=True)),
                    options=options,
                )
            a = res_o.results[k]
            same += bool(np.array_equal(r.x, a.x) and r.fun == a.fun and r.nfev == a.nfev)
        wall = time.perf_counter() - t
        print(
            f"ours one start at a time (scipy L-BFGS-B on engine_nll): {wall:.1f} s; "
            f"{same} of {args.starts} starts end exactly where the lock-step run's do "
            f"(x, NLL, nfev); lock-step {wall / mo:.0f}x faster"
        )


if __name__ == "__main__":
    main()
