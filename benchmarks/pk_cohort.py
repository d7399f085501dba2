"""Benchmark: PK of a large virtual cohort, closed form vs a per-subject ODE solver loop.

100,000 subjects x 56 days, hourly output, two drugs (human alectinib 600 mg BID and osimertinib
80 mg QD), plasma + unbound + CSF + lesion. The comparator is what a user would otherwise write:
scipy ``solve_ivp`` (LSODA, rtol 1e-8, atol 1e-14, output at the same hours) per subject,
integrating between doses; it is timed on the first ``--sample`` subjects (100 by default; fewer
if ``--budget-s`` seconds per drug run out first, never fewer than 10) and scaled to the cohort.
Prints the machine, the comparator's settings, both times, the ratio, the agreement on the sample
and the peak resident memory.

Run: ``make bench`` or ``.venv/bin/python benchmarks/pk_cohort.py [--subjects N] [--sample K]
[--budget-s S]``.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from scipy.integrate import solve_ivp

from _cli import machine  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.catalog import load_catalog
from leptotwin.model import draw_subjects, parse_regimen, simulate_pk

DRUGS = (("alectinib", "600 mg BID"), ("osimertinib", "80 mg QD"))
RTOL, ATOL = 1e-8, 1e-14  # the comparator's solve_ivp tolerances


def ode_subject(subj, i, regimen, t_eval, params):
    """One subject's plasma, CSF and lesion concentrations (mg/L) by solve_ivp between doses."""
    ka, F = subj.ka["oral"][i], subj.F["oral"][i]
    k10 = subj.CL[i] / subj.V1[i]
    two = params.model == "2cmt"
    k12 = subj.Q[i] / subj.V1[i] if two else 0.0
    k21 = subj.Q[i] / subj.V2[i] if two else 0.0
    fu, kpc, kc = subj.fu[i], subj.kp_uu_csf[i], subj.k_csf[i]
    kpl, kl, v1 = subj.kp_uu_lesion[i], subj.k_lesion[i], subj.V1[i]

    def rhs(_t, y):
        cp = y[1] / v1
        return [
            -ka * y[0],
            ka * y[0] - (k10 + k12) * y[1] + k21 * y[2],
            k12 * y[1] - k21 * y[2],
            kc * (kpc * fu * cp - y[3]),
            kl * (kpl * fu * cp - y[4]),
        ]

    dose = regimen.dose_mg(
        body_weight_kg=params.body_weight_kg, body_surface_m2=params.body_surface_m2
    )
    doses = regimen.dose_times_h(float(t_eval[-1]))
    y = np.zeros(5)
    out = np.zeros((3, t_eval.size))
    edges = [*doses.tolist(), float(t_eval[-1]) + 1e-9]
    for k, td in enumerate(edges[:-1]):
        y[0] += F * dose
        t1 = edges[k + 1]
        mask = (t_eval >= td) & (t_eval < t1)
        sol = solve_ivp(
            rhs,
            (td, t1),
            y,
            method="LSODA",
            rtol=RTOL,
            atol=ATOL,
            t_eval=np.append(t_eval[mask], t1),
        )
        out[0, mask] = sol.y[1, :-1] / v1
        out[1, mask] = sol.y[3, :-1]
        out[2, mask] = sol.y[4, :-1]
        y = sol.y[:, -1].copy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=56)
    ap.add_argument("--sample", type=int, default=100, help="subjects in the solve_ivp loop")
    ap.add_argument("--budget-s", type=float, default=60.0, help="loop seconds per drug (>= 10)")
    args = ap.parse_args()
    print(machine())
    print(
        f"comparator: scipy solve_ivp, LSODA, rtol {RTOL:g}, atol {ATOL:g}, one call per dosing "
        f"interval, output hourly; up to {args.sample} subjects per drug (budget "
        f"{args.budget_s:g} s, at least 10), scaled to {args.subjects:,d}"
    )
    t = np.arange(0.0, args.days * 24.0 + 1e-9, 1.0)
    cat = load_catalog()
    total_fast = 0.0
    total_ode = 0.0
    for drug, text in DRUGS:
        params = cat.pk_parameters(drug, "human")
        rng = np.random.default_rng(0)
        subj = draw_subjects(params, args.subjects, rng=rng)
        t0 = time.perf_counter()
        res = simulate_pk(drug, "human", text, t_h=t, subjects=subj, dtype=np.float32)
        fast = time.perf_counter() - t0
        total_fast += fast
        reg = parse_regimen(text)[0]
        t0 = time.perf_counter()
        worst = 0.0
        n_done = 0
        for i in range(min(args.sample, args.subjects)):
            if i >= 10 and time.perf_counter() - t0 > args.budget_s:
                break
            n_done += 1
            ref = ode_subject(subj, i, reg, t, params) * 1e6 / params.mw_g_mol
            got = np.stack([res.plasma_nM[i], res.csf_nM[i], res.lesion_nM[i]])
            sig = ref > 1e-6 * ref.max()
            worst = max(worst, float(np.max(np.abs(got[sig] - ref[sig]) / ref[sig])))
        per_subject = (time.perf_counter() - t0) / n_done
        ode = per_subject * args.subjects
        total_ode += ode
        print(
            f"{drug:12s} {text:12s} leptotwin {fast:7.2f} s | solve_ivp loop "
            f"{per_subject * 1e3:6.1f} ms/subject -> {ode:9.0f} s (scaled) | ratio "
            f"{ode / fast:8.0f}x | max rel. diff on {n_done} sampled subjects {worst:.1e} "
            "(float32 output)"
        )
        del res
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"TOTAL {args.subjects} subjects x {args.days} d hourly x {len(DRUGS)} drugs: "
        f"leptotwin {total_fast:.1f} s, solve_ivp loop {total_ode:.0f} s (scaled), "
        f"ratio {total_ode / total_fast:.0f}x, peak RSS {peak_gb:.2f} GB"
    )


if __name__ == "__main__":
    main()
