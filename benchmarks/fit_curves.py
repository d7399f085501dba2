"""Benchmark: batched LL.4 fits against a per-curve ``scipy.optimize.curve_fit`` loop.

Simulates noisy 4-parameter log-logistic curves (9 doses x 3 replicates each), fits them all
with :class:`leptotwin.analysis.doseresponse.DoseResponseFitter` (end to end: DataFrame in,
parameters, drc standard errors, ED10/50/90 intervals and QC out), and times a loop of
``curve_fit`` (MINPACK Levenberg–Marquardt, analytic Jacobian, drc-like start) over a random
sample of curves, scaled to the full set. Prints timings, the speed-up, peak memory and the
share of sampled curves where the batched RSS is <= the loop's (1e-9 relative slack). The
speed-up compares like with like — estimates and their (drc, observed-Hessian) covariance, which
is what ``curve_fit`` returns; the cost of the per-curve QC table and drc's long results table,
which the loop does not produce, is printed on its own line.

The compiled kernels are loaded (or, on a fresh checkout, compiled and cached) once per process
by a warm-up fit of a few curves, timed and printed separately; the timings are for warm calls.

The command line is timed too, as a user runs it (issue 14): ``leptotwin fit-curves`` in its own
process on the same curves written as a CSV, with its default outputs (fits.csv, qc.csv and the
summary figures), next to the API's end-to-end time; printed with the ratio CLI / API, its peak
memory (the process's maximum resident set size) and the number of files written, once more
with ``--figures none`` (what start-up and the CSVs cost without figures) and once with the
curves as Parquet (``curves.parquet`` in, ``fits.parquet`` and ``qc.parquet`` out), each with
its peak memory; up to ``--cli-max-curves`` curves (0 skips it).

Run: ``PYTHONPATH=src python benchmarks/fit_curves.py [n_curves ...] [--sample 300]
[--cli-max-curves 100000]``
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from _cli import time_cli  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
from leptotwin.analysis.doseresponse import DoseResponseFitter

DOSES = np.logspace(-3, 1, 9)  # dose unit, e.g. µM
N_REP = 3


def simulate(n_curves: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Long table of ``n_curves`` LL.4 curves (% viability, noise sd 5) and true (b, c, d, e)."""
    b = rng.uniform(0.5, 3.0, n_curves)
    c = rng.uniform(0.0, 30.0, n_curves)
    d = rng.uniform(90.0, 110.0, n_curves)
    e = np.exp(rng.uniform(np.log(3e-3), np.log(3.0), n_curves))
    dose = np.tile(np.repeat(DOSES, N_REP), n_curves)
    curve = np.repeat(np.arange(n_curves), DOSES.size * N_REP)
    mean = c[curve] + (d - c)[curve] / (1 + np.exp(b[curve] * (np.log(dose) - np.log(e[curve]))))
    response = mean + rng.normal(0.0, 5.0, mean.size)
    df = pd.DataFrame({"curve": curve, "dose": dose, "response": response})
    return df, np.stack([b, c, d, e], axis=1)


def _ll4(x: np.ndarray, b: float, c: float, d: float, e: float) -> np.ndarray:
    return c + (d - c) / (1 + np.exp(b * (np.log(x) - np.log(e))))


def _ll4_jac(x: np.ndarray, b: float, c: float, d: float, e: float) -> np.ndarray:
    u = np.exp(np.clip(b * (np.log(x) - np.log(e)), -700, 700))
    g = 1 / (1 + u)
    gu = -g * (1 - g)
    return np.stack(
        [(d - c) * gu * (np.log(x) - np.log(e)), 1 - g, g, -(d - c) * gu * b / e], axis=1
    )


def loop_fit(df: pd.DataFrame, curves: np.ndarray, *, jac: bool) -> tuple[float, np.ndarray]:
    """Seconds per curve and RSS of a curve_fit loop over ``curves`` (numeric or exact jac)."""
    groups = {k: g for k, g in df[df["curve"].isin(curves)].groupby("curve")}
    rss = np.full(curves.size, np.nan)
    start = time.perf_counter()
    for i, k in enumerate(curves):
        x = groups[k]["dose"].to_numpy()
        y = groups[k]["response"].to_numpy()
        p0 = [1.0, y.min(), y.max(), np.exp(np.log(x).mean())]
        try:
            with np.errstate(all="ignore"):
                popt, _ = curve_fit(_ll4, x, y, p0=p0, jac=_ll4_jac if jac else None, maxfev=2000)
            rss[i] = np.sum((y - _ll4(x, *popt)) ** 2)
        except (RuntimeError, ValueError):
            rss[i] = np.inf
    return (time.perf_counter() - start) / curves.size, rss


def warm_up() -> float:
    """Seconds to load (or compile) the numba kernels: one small fit."""
    start = time.perf_counter()
    DoseResponseFitter("LL.4").fit(simulate(20, np.random.default_rng(0))[0])
    return time.perf_counter() - start


def run(n_curves: int, sample: int, cli_max: int, seed: int = 20240611) -> None:
    rng = np.random.default_rng(seed)
    df, _ = simulate(n_curves, rng)
    start = time.perf_counter()
    fitter = DoseResponseFitter("LL.4").fit(df)
    batched_s = time.perf_counter() - start  # what curve_fit gives: estimates + covariance
    fitter.params_, fitter.se_  # noqa: B018 (already built; listed for clarity)
    start = time.perf_counter()
    fitter.qc_, fitter.results_  # noqa: B018 (QC and drc's long table with ED intervals)
    tables_s = time.perf_counter() - start
    chosen = rng.choice(n_curves, size=min(sample, n_curves), replace=False)
    per_curve_s, loop_rss = loop_fit(df, chosen, jac=False)
    per_curve_jac_s, loop_jac_rss = loop_fit(df, chosen, jac=True)
    ours = fitter.rss_.to_numpy()[chosen]
    ok = ours <= np.minimum(loop_rss, loop_jac_rss) * (1 + 1e-9) + 1e-12
    loop_total = per_curve_s * n_curves
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        f"n={n_curves:,d}: batched {batched_s:.2f} s ({1e6 * batched_s / n_curves:.1f} us/curve); "
        f"curve_fit loop {per_curve_s * 1e3:.3f} ms/curve -> {loop_total:.0f} s scaled, "
        f"speed-up {loop_total / batched_s:.0f}x; with exact jac {per_curve_jac_s * 1e3:.3f} "
        f"ms/curve, speed-up {per_curve_jac_s * n_curves / batched_s:.0f}x; "
        f"RSS <= both loops on {100 * ok.mean():.2f}% of {ok.size} sampled curves; "
        f"converged {100 * fitter.qc_['ok'].mean():.3f}%; peak memory (max RSS) {peak_gb:.2f} GB"
    )
    print(
        f"    + QC and drc long table (ED10/50/90 with delta intervals, F-test, AUC): "
        f"{tables_s:.2f} s more; end to end {batched_s + tables_s:.2f} s, speed-up "
        f"{loop_total / (batched_s + tables_s):.0f}x over a loop that computes none of them"
    )
    if n_curves <= cli_max:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "curves.csv"
            df.to_csv(data, index=False)
            parquet = Path(tmp) / "curves.parquet"
            df.to_parquet(parquet, index=False)
            del df, fitter  # the CLI runs in its own process: free this one's copies first
            wall, peak, n_files = time_cli(["fit-curves", str(data)], Path(tmp))
            bare, bare_peak, _ = time_cli(["fit-curves", str(data), "--figures", "none"], Path(tmp))
            pq_wall, pq_peak, _ = time_cli(
                ["fit-curves", str(parquet), "--figures", "none"], Path(tmp)
            )
        api = batched_s + tables_s
        print(
            f"    CLI `leptotwin fit-curves` (own process, default outputs: {n_files} files): "
            f"{wall:.2f} s, peak memory {peak:.2f} GB; API end to end {api:.2f} s; "
            f"CLI / API {wall / api:.1f}x; with --figures none {bare:.2f} s, peak memory "
            f"{bare_peak:.2f} GB (start-up, CSV in and out: {bare / api:.1f}x); Parquet in and "
            f"out, --figures none: {pq_wall:.2f} s, peak memory {pq_peak:.2f} GB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_curves", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--sample", type=int, default=300, help="curves in the scipy loop")
    parser.add_argument(
        "--cli-max-curves", type=int, default=100_000, help="time the CLI up to this many curves"
    )
    args = parser.parse_args()
    print(f"warm-up (load or compile the kernels): {warm_up():.2f} s")
    for n in args.n_curves:
        run(n, args.sample, args.cli_max_curves)


if __name__ == "__main__":
    main()
