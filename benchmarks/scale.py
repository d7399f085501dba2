"""Benchmark: cohort scale — leptotwin's chunked cohort engine vs libRoadRunner on the SBML export,
and the same engine on Dask with two local workers.

The cohort is the C7 design (six arms of A925L/AR mice: vehicle, alectinib, erlotinib,
osimertinib and the two combinations; daily oral doses from day 7), followed for 8 weeks with
weekly burden, at 1e5 and 1e6 mice.

* **leptotwin**: :func:`leptotwin.study.simulate_job.simulate_chunks` (per-subject random streams,
  chunks of consecutive mice, default 1 h step with exact PK; stochastic switching), one process.
* **libRoadRunner 2.10**: the exported SBML of each sampled mouse (its own PK, engraftment and
  growth scale; one event per dose; CVODE at rtol 1e-6, atol 1e-12, printed), timed per mouse on
  ``--sample`` mice per arm (17: 102 mice; fewer if ``--budget-s`` runs out, never fewer than 2
  per arm; model loading excluded: the JIT compile is paid once per model) and scaled to the
  cohort. The target is a speed-up of at least 30×.
* **Dask**: the same run on a ``LocalCluster`` of ``--workers`` single-threaded worker processes
  (started and warmed up before timing); speed-up = one-process time / Dask time, efficiency =
  speed-up / workers. The Dask result is checked to be bit-identical to the one-process result.

Prints the machine (cores, CPU model, load) first.

Run: ``make bench`` or ``.venv/bin/python benchmarks/scale.py [--subjects 1e5 1e6] [--sample K]
[--budget-s S]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from _cli import machine  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.interop.sbml import export_sbml
from leptotwin.study.simulate_job import load_experiment, simulate_chunks

DAYS = 56.0
OBSERVE = [7.0, 14.0, 21.0, 28.0, 35.0, 42.0, 49.0, 56.0]
SEED = 2020
RR_RTOL, RR_ATOL = 1e-6, 1e-12  # libRoadRunner's CVODE tolerances


def roadrunner_per_mouse(exp, sample: int, budget_s: float) -> tuple[float, dict[str, float], int]:  # type: ignore[no-untyped-def]
    """Mean seconds per mouse over the arms (each arm weighted equally, as in the cohort) and the
    number of mice timed (``sample`` per arm, fewer once ``budget_s`` wall seconds are spent)."""
    import roadrunner

    per_arm = {}
    n_timed = 0
    for arm in exp.arms:
        times: list[float] = []
        start = time.perf_counter()
        for j in range(sample):
            if j >= 2 and time.perf_counter() - start > budget_s / len(exp.arms):
                break
            model = export_sbml(arm, subject=j, seed=SEED, days=DAYS, inoculum=exp.inoculum)
            rr = roadrunner.RoadRunner(model.sbml)
            rr.integrator.relative_tolerance = RR_RTOL
            rr.integrator.absolute_tolerance = RR_ATOL
            t0 = time.perf_counter()
            rr.simulate(0.0, DAYS * 24.0, len(OBSERVE) + 1, selections=["time", "N_total"])
            times.append(time.perf_counter() - t0)
        per_arm[arm.name] = float(np.mean(times))
        n_timed += len(times)
    return float(np.mean(list(per_arm.values()))), per_arm, n_timed


def run_leptotwin(exp, n_total: int, chunk: int, scheduler=None):  # type: ignore[no-untyped-def]
    n_per_arm = max(1, n_total // len(exp.arms))
    t0 = time.perf_counter()
    res = simulate_chunks(
        exp.arms,
        n_per_arm=n_per_arm,
        days=DAYS,
        observe_days=OBSERVE,
        seed=SEED,
        chunk_size=chunk,
        scheduler=scheduler,
        inoculum=exp.inoculum,
    )
    return time.perf_counter() - t0, res, n_per_arm * len(exp.arms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=float, nargs="+", default=[1e5, 1e6])
    ap.add_argument("--sample", type=int, default=17, help="roadrunner mice per arm")
    ap.add_argument("--budget-s", type=float, default=90.0, help="roadrunner wall seconds")
    ap.add_argument("--chunk-size", type=int, default=5_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    exp = load_experiment("lmc_mouse", "combination")
    print(machine())
    print(f"C7 arms: {', '.join(a.name for a in exp.arms)}")
    print(f"8 weeks, weekly burden; chunk {args.chunk_size} mice\n")

    rr_s, per_arm, n_rr = roadrunner_per_mouse(exp, args.sample, args.budget_s)
    import roadrunner

    print(
        f"libRoadRunner {roadrunner.__version__} on the SBML export (CVODE, rtol {RR_RTOL:g}, "
        f"atol {RR_ATOL:g}; {n_rr} mice timed, model loading excluded): {rr_s * 1e3:.2f} ms "
        "per mouse (mean of arms; "
    )
    print("  " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in per_arm.items()) + ")\n")

    client = cluster = None
    if not args.no_dask:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        run_leptotwin(exp, 60, 10, scheduler=client)  # warm up: imports and catalogue per worker

    rows = []
    try:
        for n_req in args.subjects:
            t1, res1, n = run_leptotwin(exp, int(n_req), args.chunk_size)
            rr_total = rr_s * n
            row = {
                "mice": n,
                "leptotwin_s": round(t1, 1),
                "us_per_mouse": round(t1 / n * 1e6, 1),
                "roadrunner_s_scaled": round(rr_total, 0),
                "speedup_vs_roadrunner": round(rr_total / t1, 1),
                "target_30x": "PASS" if rr_total / t1 >= 30 else "FAIL",
            }
            if client is not None:
                t2, res2, _ = run_leptotwin(exp, int(n_req), args.chunk_size, scheduler=client)
                pd.testing.assert_frame_equal(res1.survival, res2.survival, check_exact=True)
                pd.testing.assert_frame_equal(
                    res1.observations, res2.observations, check_exact=True
                )
                row.update(
                    dask_s=round(t2, 1),
                    dask_speedup=round(t1 / t2, 2),
                    dask_efficiency=round(t1 / t2 / args.workers, 2),
                    bit_identical="yes",
                )
            rows.append(row)
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
            del res1
    finally:
        if client is not None:
            client.close()
            cluster.close()
    print("\nSummary")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
