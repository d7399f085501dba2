"""Benchmark: virtual LMC mice, the batched cohort engine against libRoadRunner at matched accuracy.

The cohort is C7 (six arms of A925L/AR mice: vehicle, alectinib, erlotinib, osimertinib and the
two combinations; daily oral doses from day 7) followed for 8 weeks with weekly burden, every
mouse its own draw (PK, engraftment, growth scale) from its own random stream, deterministic
growth (``stochastic=False``, what the SBML export encodes).

* **Reference and comparator**: libRoadRunner 2.10 on the SBML export of each sampled mouse
  (:func:`leptotwin.interop.sbml.export_sbml`, the same mouse as subject j of its arm; one event
  per dose; CVODE at rtol 1e-6, atol 1e-12), ``--ref-mice`` mice per arm; its time per mouse
  (model loading excluded: the JIT compile is paid once per model) is scaled to the cohort. Its
  own error is printed too: the same mice at rtol 1e-10 against rtol 1e-6.
* **leptotwin**: :func:`leptotwin.model.streams.simulate_lmc_subjects` at each cohort step
  (``--steps``: 2, 1, 0.5, 0.25 and 1/16 h on the uniform grid; exact PK, Simpson's rule for
  growth; and the steps of at least 0.5 h with the ``--refine`` hours after every dose at 15 min,
  default 4 h: the mice's default grid, ``leptotwin.model.cohort.growth_grid``) for ``--mice``
  mice, one process, timed; the sampled mice are simulated at the same step and compared.

Prints, for each step, the largest relative error of the tumour burden against libRoadRunner
(``|N / N_rr - 1|`` at the weekly observations while the mouse is alive and the reference burden
is at least one cell; worst arm named) and the speed ratio libRoadRunner / leptotwin, then the
fastest setting within 0.5 % and the ratio there. The machine is printed first: take the ratios,
not the seconds. The model's default step is not chosen here (its calibration depends on it).

Run: ``make bench`` or ``.venv/bin/python benchmarks/cohort.py [--mice N] [--ref-mice K]
[--steps 2 1 0.5 0.25 0.0625] [--refine 4]``.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from _cli import machine  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.interop.sbml import export_sbml
from leptotwin.model.streams import simulate_lmc_subjects
from leptotwin.study.simulate_job import load_experiment

DAYS = 56
OBSERVE = list(range(0, DAYS + 1, 7))
SEED = 2020
RR_RTOL, RR_ATOL = 1e-6, 1e-12  # libRoadRunner's CVODE tolerances (the comparator)
GOAL = 0.005  # burden within 0.5 % of the reference (issue 14)


def roadrunner_reference(exp, k: int) -> tuple[pd.DataFrame, float, float]:  # type: ignore[no-untyped-def]
    """Burden of the first ``k`` mice of every arm by libRoadRunner at rtol 1e-6 (rows: arm,
    index in the arm, day), its seconds per mouse (mean of the arms, loading excluded) and its
    largest relative difference from the same mice at rtol 1e-10."""
    import roadrunner

    rows, per_arm, own_err = [], [], 0.0
    for arm in exp.arms:
        times = []
        for j in range(k):
            model = export_sbml(arm, subject=j, seed=SEED, days=DAYS, inoculum=exp.inoculum)
            rr = roadrunner.RoadRunner(model.sbml)
            runs = {}
            for rtol, atol in ((1e-10, 1e-14), (RR_RTOL, RR_ATOL)):  # the timed run last
                rr.resetAll()
                rr.integrator.relative_tolerance = rtol
                rr.integrator.absolute_tolerance = atol
                rr.integrator.maximum_num_steps = 100_000
                t0 = time.perf_counter()
                out = rr.simulate(0.0, DAYS * 24.0, len(OBSERVE), selections=["time", "N_total"])
                elapsed = time.perf_counter() - t0
                runs[rtol] = np.asarray(out)[:, 1]
            times.append(elapsed)
            fine, used = runs[1e-10], runs[RR_RTOL]
            ok = fine >= 1.0
            own_err = max(own_err, float(np.max(np.abs(used[ok] / fine[ok] - 1.0), initial=0.0)))
            rows += [(arm.name, j, d, n) for d, n in zip(OBSERVE, used, strict=True)]
        per_arm.append(float(np.mean(times)))
    ref = pd.DataFrame(rows, columns=["arm", "index", "day", "rr_cells"])
    return ref, float(np.mean(per_arm)), own_err


def leptotwin_error(
    exp, ref: pd.DataFrame, k: int, dt_h: float, refine_h: float = 0.0
) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    """Largest |N / N_rr - 1| over the sampled mice at step ``dt_h`` (the ``refine_h`` hours
    after each dose at 15 min; 0: the uniform grid), and the arm where it is."""
    res = simulate_lmc_subjects(
        exp.arms,
        n_per_arm=k,
        seed=SEED,
        days=DAYS,
        observe_days=OBSERVE,
        inoculum=exp.inoculum,
        stochastic=False,
        dt_h=dt_h,
        refine_after_dose_h=refine_h,
    )
    obs = res.observations.copy()
    obs["index"] = obs["subject"] % k
    both = obs.merge(ref, on=["arm", "index", "day"], validate="one_to_one")
    use = both["alive"].to_numpy(bool) & (both["rr_cells"].to_numpy() >= 1.0)
    err = np.abs(both["total_cells"].to_numpy()[use] / both["rr_cells"].to_numpy()[use] - 1.0)
    worst = int(np.argmax(err))
    return float(err[worst]), str(both["arm"].to_numpy()[use][worst])


def leptotwin_seconds(exp, n_per_arm: int, dt_h: float, refine_h: float = 0.0) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    simulate_lmc_subjects(
        exp.arms,
        n_per_arm=n_per_arm,
        seed=SEED,
        days=DAYS,
        observe_days=OBSERVE,
        inoculum=exp.inoculum,
        stochastic=False,
        dt_h=dt_h,
        refine_after_dose_h=refine_h,
    )
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mice", type=int, default=12_000, help="cohort size timed (all arms)")
    ap.add_argument("--ref-mice", type=int, default=5, help="libRoadRunner mice per arm")
    ap.add_argument("--steps", type=float, nargs="+", default=[2.0, 1.0, 0.5, 0.25, 0.0625])
    ap.add_argument(
        "--refine",
        type=float,
        nargs="*",
        default=[4.0],
        help="also each step with these hours after every dose at 15 min (4: the default grid)",
    )
    args = ap.parse_args()
    import roadrunner

    exp = load_experiment("lmc_mouse", "combination")
    n_per_arm = max(1, args.mice // len(exp.arms))
    print(machine())
    print(
        f"C7, {len(exp.arms)} arms x {n_per_arm:,d} mice, {DAYS} d, weekly burden, deterministic "
        f"growth; reference libRoadRunner {roadrunner.__version__} (CVODE, rtol {RR_RTOL:g}, "
        f"atol {RR_ATOL:g}) on {args.ref_mice} mice per arm"
    )
    simulate_lmc_subjects(  # warm-up: imports, catalogue, compiled kernels
        exp.arms[:1], n_per_arm=2, seed=SEED, days=8, observe_days=[7], stochastic=False
    )
    ref, rr_s, own_err = roadrunner_reference(exp, args.ref_mice)
    rr_total = rr_s * n_per_arm * len(exp.arms)
    print(
        f"libRoadRunner: {rr_s * 1e3:.1f} ms per mouse (mean of arms) -> {rr_total:.0f} s for "
        f"the cohort (scaled); its own error (rtol 1e-6 vs 1e-10) up to {100 * own_err:.3f} %\n"
    )
    rows = []
    for dt, refine in [(dt, 0.0) for dt in args.steps] + [
        (dt, r) for r in args.refine for dt in args.steps if dt >= 0.5
    ]:
        err, arm = leptotwin_error(exp, ref, args.ref_mice, dt, refine)
        seconds = leptotwin_seconds(exp, n_per_arm, dt, refine)
        label = f"{dt:g}" if dt >= 0.25 else f"1/{round(1 / dt)}"
        rows.append(
            {
                "step_h": label + (f" +{refine:g}h@15min" if refine else ""),
                "max_rel_burden_error_%": round(100 * err, 3),
                "worst_arm": arm,
                "leptotwin_s": round(seconds, 2),
                "ratio_vs_roadrunner": round(rr_total / seconds, 1),
                "within_0.5%": "yes" if err <= GOAL else "no",
            }
        )
        print(
            f"step {rows[-1]['step_h']:>5s} h: burden within {100 * err:.3f} % of libRoadRunner "
            f"(worst: {arm}); leptotwin {seconds:.2f} s, {rr_total / seconds:.1f}x",
            flush=True,
        )
    table = pd.DataFrame(rows)
    print("\nSummary")
    print(table.to_string(index=False))
    ok = table[table["within_0.5%"] == "yes"]
    if len(ok):
        best = ok.loc[ok["ratio_vs_roadrunner"].idxmax()]
        print(
            f"fastest step within 0.5 % of libRoadRunner: {best['step_h']} h, "
            f"{best['ratio_vs_roadrunner']}x libRoadRunner (goal >= 30x: "
            f"{'MET' if best['ratio_vs_roadrunner'] >= 30 else 'MISSED'})"
        )
    else:
        print("no step tried is within 0.5 % of libRoadRunner")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"peak memory (max RSS) {peak:.2f} GB")


if __name__ == "__main__":
    main()
