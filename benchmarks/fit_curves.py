"""Benchmark: ``leptotwin fit-curves`` as a user runs it, and the batched LL.4 kernel, against two
per-curve ``scipy.optimize.curve_fit`` loops a user might write (issue 14).

Simulates noisy 4-parameter log-logistic curves (9 doses x 3 replicates each, % viability, noise
sd 5) and, for each number of curves, times:

* **CLI**: ``leptotwin fit-curves curves.csv`` in its own process (interpreter start, imports,
  reading and checking the CSV, fitting, writing fits.csv and qc.csv and the default summary
  figures), with its peak memory (the process's maximum resident set size) and the number of files
  written; the curve labels in the CSV are text (``plate0001_A01``-style), as in a screen. Also
  with ``--figures none`` and, unless ``--no-scheduler`` (issue 14 item 5), with ``--scheduler
  local`` (fitted in that process) and with ``--scheduler ADDRESS`` of a Dask LocalCluster of two
  single-threaded worker processes on this machine, started and warmed up by this script before
  timing (chunks chosen automatically), both with ``--figures none``.
* **Start-up**: ``python -c "import leptotwin.cli, leptotwin.study.fit_curves"`` in its own
  process (the floor of any CLI run; median of 3).
* **API**: :class:`leptotwin.analysis.doseresponse.DoseResponseFitter` on the in-memory table with
  integer labels (the kernel: estimates and drc standard errors; then QC and drc's long table with
  ED10/50/90 intervals), and on the same CSV read with ``pandas.read_csv`` (text labels), warm.
* **Comparators**, in two forms: with bounds (trf: ``b`` in [-20, 20], ``e`` in [1e-12, inf),
  numeric Jacobian) and plain Levenberg-Marquardt without bounds (MINPACK, numeric Jacobian);
  both start from a drc-like guess, maxfev 2000, and estimate parameters and their covariance.

  - *in this process*: a loop of ``curve_fit`` over a random sample of ``--sample`` curves
    already in memory, timed and extrapolated per curve to all curves (the issue's comparator;
    it reads and writes nothing and starts no interpreter, so ratios against it are
    conservative);
  - *as a whole-process script* (:data:`LOOP_SCRIPT`, as a user runs it): interpreter start,
    imports of numpy, scipy and pandas, ``pandas.read_csv`` of the same CSV, a ``groupby`` +
    ``curve_fit`` loop, ``to_csv`` of one row per curve; it fits every curve up to
    ``--script-curves`` (1,000) and, beyond, a random sample of that many, its loop then
    extrapolated per curve (printed as such; reading and writing are always of all curves).

Whole-process runs (CLI default, the scripts, CLI ``--figures none``) and the in-process loops
are interleaved ``--repeat`` times (3) and reported as medians with their range; the CLI and the
scripts also with their CPU seconds (user + system, every thread: on a machine shared with other
jobs, wall time swings with their load, CPU time much less). Prints ratios
loop / leptotwin against both forms, labelled, the share of sampled curves where leptotwin's RSS
is <= the better loop's (1e-9 relative slack), and the issue-14 goals met or missed at each size
against each form: at 10^3 curves never slower than the LM loop with start-up < 1 s; at 5x10^4
>= 8x LM; at 10^5 >= 50x trf and >= 10x LM; at 10^6 >= 100x trf and >= 20x LM (CLI, whole
process, default outputs). Prints the machine first: only ratios measured on one machine
compare.

Run: ``PYTHONPATH=src python benchmarks/fit_curves.py [n_curves ...] [--sample 300]
[--repeat 3] [--script-curves 1000] [--no-scheduler]``; the default sizes (10^3, 10^4, 5x10^4)
take a few minutes on a busy 2-core machine; add ``100000 1000000`` for the large sizes (10^6:
about 1 GB of CSV in a temporary folder, several minutes a repeat).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

from _cli import (  # benchmarks/_cli.py (run as a script: its folder is on sys.path)
    machine,
    time_cli,
)
from leptotwin.analysis.doseresponse import DoseResponseFitter

DOSES = np.logspace(-3, 1, 9)  # dose unit, e.g. µM
N_REP = 3
#: issue 14 item 2 goals for the CLI (whole process, default outputs): n_curves -> (trf, LM)
GOALS = {1_000: (None, 1.0), 50_000: (None, 8.0), 100_000: (50.0, 10.0), 1_000_000: (100.0, 20.0)}
TRF_BOUNDS = ([-20.0, -np.inf, -np.inf, 1e-12], [20.0, np.inf, np.inf, np.inf])


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


def write_text_csv(df: pd.DataFrame, path: Path) -> None:
    """``df`` as a CSV whose curve labels are text (plate and well), written through pyarrow."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    k = df["curve"].to_numpy()
    names = np.array(
        [
            f"plate{p:04d}_{r}{w:02d}"
            for p in range(k.max() // 384 + 1)
            for r in "ABCDEFGHIJKLMNOP"
            for w in range(1, 25)
        ],
        dtype=object,
    )
    table = pa.table(
        {
            "curve": pa.DictionaryArray.from_arrays(pa.array(k, pa.int32()), pa.array(names)),
            "dose": df["dose"].to_numpy(),
            "response": df["response"].to_numpy(),
        }
    )
    pacsv.write_csv(
        table.cast(
            pa.schema([("curve", pa.string()), ("dose", pa.float64()), ("response", pa.float64())])
        ),
        path,
    )


def _ll4(x: np.ndarray, b: float, c: float, d: float, e: float) -> np.ndarray:
    return c + (d - c) / (1 + np.exp(b * (np.log(x) - np.log(e))))


def loop_fit(df: pd.DataFrame, curves: np.ndarray, *, bounded: bool) -> tuple[float, np.ndarray]:
    """Seconds per curve and RSS of a curve_fit loop over ``curves``: trf with bounds or plain
    Levenberg-Marquardt (numeric Jacobian either way)."""
    groups = {k: g for k, g in df[df["curve"].isin(curves)].groupby("curve")}
    rss = np.full(curves.size, np.nan)
    extra = {"bounds": TRF_BOUNDS, "method": "trf"} if bounded else {"method": "lm"}
    start = time.perf_counter()
    for i, k in enumerate(curves):
        x = groups[k]["dose"].to_numpy()
        y = groups[k]["response"].to_numpy()
        p0 = [1.0, y.min(), y.max(), np.exp(np.log(x).mean())]
        try:
            with np.errstate(all="ignore"):
                popt, _ = curve_fit(_ll4, x, y, p0=p0, maxfev=2000, **extra)
            rss[i] = np.sum((y - _ll4(x, *popt)) ** 2)
        except (RuntimeError, ValueError):
            rss[i] = np.inf
    return (time.perf_counter() - start) / curves.size, rss


#: The comparator as a user runs it: a script of its own (interpreter start, imports of numpy,
#: scipy and pandas, ``pandas.read_csv``, a groupby + ``curve_fit`` loop, ``to_csv`` of one row
#: per curve). Arguments: CSV in, CSV out, ``trf`` or ``lm``, curves to fit (all if >= the number
#: of curves, else a random sample, the loop then extrapolated by the caller), seed. Prints the
#: loop's seconds and the number of curves it fitted.
LOOP_SCRIPT = """
import sys, time
import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

path, out, method = sys.argv[1:4]
n_fit, seed = int(sys.argv[4]), int(sys.argv[5])


def ll4(x, b, c, d, e):
    return c + (d - c) / (1 + np.exp(b * (np.log(x) - np.log(e))))


df = pd.read_csv(path)
labels = df["curve"].unique()
if n_fit < len(labels):
    chosen = np.random.default_rng(seed).choice(labels, n_fit, replace=False)
    df = df[df["curve"].isin(chosen)]
extra = {"bounds": ([-20, -np.inf, -np.inf, 1e-12], [20, np.inf, np.inf, np.inf]),
         "method": "trf"} if method == "trf" else {"method": "lm"}
rows = []
start, cpu_start = time.perf_counter(), time.process_time()
for label, g in df.groupby("curve", sort=False):
    x, y = g["dose"].to_numpy(), g["response"].to_numpy()
    p0 = [1.0, y.min(), y.max(), np.exp(np.log(x).mean())]
    try:
        with np.errstate(all="ignore"):
            popt, pcov = curve_fit(ll4, x, y, p0=p0, maxfev=2000, **extra)
        se = np.sqrt(np.diag(pcov))
    except (RuntimeError, ValueError):
        popt = se = np.full(4, np.nan)
    rows.append((label, *popt, *se, float(np.sum((y - ll4(x, *popt)) ** 2))))
loop_s, loop_cpu = time.perf_counter() - start, time.process_time() - cpu_start
table = pd.DataFrame(rows, columns=["curve", "b", "c", "d", "e", "se_b", "se_c", "se_d", "se_e",
                                    "rss"])
if len(table) < len(labels):  # one row per curve, as if all were fitted (the same writing cost)
    table = table.iloc[np.arange(len(labels)) % len(table)].assign(curve=labels)
table.to_csv(out, index=False)
print(loop_s, loop_cpu, len(rows))
"""


#: Runs a command, prints its wall seconds, CPU seconds (user + system, all its threads), peak
#: memory (kB), exit code and its own output (the peak is the command's own, as in
#: ``_cli.time_cli``).
_SCRIPT_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, text=True)
said = proc.stdout.read()
_, status, usage = os.wait4(proc.pid, 0)
cpu = usage.ru_utime + usage.ru_stime
print(time.perf_counter() - start, cpu, usage.ru_maxrss, os.waitstatus_to_exitcode(status), said)
"""


def _measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak memory (GB) and output of ``cmd`` in its own process."""
    launched = subprocess.run(
        [sys.executable, "-c", _SCRIPT_LAUNCHER, *cmd],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if launched.returncode != 0:
        raise SystemExit(f"{cmd[1:3]} failed: " + launched.stderr)
    wall, cpu, peak_kb, code, said = [*launched.stdout.split(maxsplit=4), ""][:5]
    if int(code) != 0:
        raise SystemExit(f"{cmd[1:3]} failed: " + launched.stderr)
    return float(wall), float(cpu), int(peak_kb) / 1e6, said


def time_cli_cpu(args: list[str], folder: Path) -> tuple[float, float, float, int]:
    """As :func:`_cli.time_cli` (``leptotwin ARGS --out DIR`` in its own process: wall seconds,
    peak memory in GB, files written), with its CPU seconds (all threads) second."""
    out = Path(tempfile.mkdtemp(dir=folder)) / "out"
    cmd = [sys.executable, "-c", "from leptotwin.cli import main; main()", *args, "--out", str(out)]
    wall, cpu, peak, _ = _measured(cmd, env={**os.environ, "MPLBACKEND": "Agg"})
    return wall, cpu, peak, sum(1 for _ in out.iterdir())


def time_loop_script(
    data: Path, folder: Path, method: str, n_curves: int, n_fit: int
) -> tuple[float, float, float, float, int]:
    """The comparator loop as a whole process (:data:`LOOP_SCRIPT`): wall and CPU seconds with
    the loop extrapolated to all curves where only ``n_fit`` were fitted, the loop's own wall
    seconds per curve, peak memory (GB) and the curves fitted."""
    script = folder / "loop_script.py"
    script.write_text(LOOP_SCRIPT, encoding="utf-8")
    out = folder / f"loop_{method}.csv"
    cmd = [sys.executable, str(script), str(data), str(out), method, str(n_fit), "7"]
    wall, cpu, peak, said = _measured(cmd)
    loop_s, loop_cpu, fitted = said.split()
    per_curve = float(loop_s) / int(fitted)
    whole = wall - float(loop_s) + per_curve * n_curves
    whole_cpu = cpu - float(loop_cpu) + float(loop_cpu) / int(fitted) * n_curves
    return whole, whole_cpu, per_curve, peak, int(fitted)


def startup_s() -> float:
    """Median seconds (of 3) of a fresh interpreter importing what ``fit-curves`` needs."""
    code = "import leptotwin.cli, leptotwin.study.fit_curves"
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def warm_up() -> float:
    """Seconds to load (or compile) the numba kernels: one small fit."""
    start = time.perf_counter()
    DoseResponseFitter("LL.4").fit(simulate(20, np.random.default_rng(0))[0])
    return time.perf_counter() - start


def _goals(n: int, trf_total: float, lm_total: float, cli_s: float, start_s: float) -> str:
    """Met or missed, for the CLI's ``cli_s`` against loops taking ``trf_total``/``lm_total``."""
    if n not in GOALS:
        return "no issue-14 goal at this size"
    trf_goal, lm_goal = GOALS[n]
    trf_x, lm_x = trf_total / cli_s, lm_total / cli_s
    parts = []
    if trf_goal is not None:
        parts.append(f">= {trf_goal:g}x trf: {'MET' if trf_x >= trf_goal else 'MISSED'}")
    parts.append(f">= {lm_goal:g}x LM: {'MET' if lm_x >= lm_goal else 'MISSED'}")
    if n == 1_000:
        parts.append(f"start-up < 1 s: {'MET' if start_s < 1.0 else 'MISSED'} ({start_s:.2f} s)")
    return "; ".join(parts)


def run(
    n_curves: int,
    sample: int,
    address: str | None,
    start_s: float,
    *,
    repeat: int = 3,
    script_curves: int = 1_000,
    seed: int = 20240611,
) -> None:
    rng = np.random.default_rng(seed)
    df, _ = simulate(n_curves, rng)
    start = time.perf_counter()
    fitter = DoseResponseFitter("LL.4").fit(df)
    kernel_s = time.perf_counter() - start  # estimates + covariance: what curve_fit gives
    start = time.perf_counter()
    fitter.qc_, fitter.results_  # noqa: B018 (QC and drc's long table with ED intervals)
    tables_s = time.perf_counter() - start
    chosen = rng.choice(n_curves, size=min(sample, n_curves), replace=False)
    sampled = df[df["curve"].isin(chosen)]
    _, trf_rss = loop_fit(sampled, chosen, bounded=True)
    _, lm_rss = loop_fit(sampled, chosen, bounded=False)
    ours = fitter.rss_.to_numpy()[chosen]
    ok = ours <= np.minimum(trf_rss, lm_rss) * (1 + 1e-9) + 1e-12
    converged = fitter.qc_["ok"].mean()
    del fitter
    runs: dict[str, list[tuple[float, float]]] = {"cli": [], "none": [], "trf": [], "lm": []}
    cpu: dict[str, list[float]] = {"cli": [], "none": [], "trf": [], "lm": []}
    per_curve: dict[str, list[float]] = {"trf": [], "lm": []}
    in_process: dict[str, list[float]] = {"trf": [], "lm": []}  # s/curve
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "curves.csv"
        write_text_csv(df, data)
        del df
        start = time.perf_counter()
        read = pd.read_csv(data)
        fitter = DoseResponseFitter("LL.4").fit(read)
        fitter.qc_, fitter.results_  # noqa: B018
        csv_api_s = time.perf_counter() - start
        del read, fitter
        api_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        n_fit = min(script_curves, n_curves)
        for _ in range(repeat):  # interleaved: ours and the comparators in turn
            wall, used, peak, n_files = time_cli_cpu(["fit-curves", str(data)], Path(tmp))
            runs["cli"].append((wall, peak))
            cpu["cli"].append(used)
            in_process["trf"].append(loop_fit(sampled, chosen, bounded=True)[0])
            in_process["lm"].append(loop_fit(sampled, chosen, bounded=False)[0])
            for method in ("lm", "trf"):
                whole, used, each, peak, _ = time_loop_script(
                    data, Path(tmp), method, n_curves, n_fit
                )
                runs[method].append((whole, peak))
                cpu[method].append(used)
                per_curve[method].append(each)
            bare, used, bare_peak, _ = time_cli_cpu(
                ["fit-curves", str(data), "--figures", "none"], Path(tmp)
            )
            runs["none"].append((bare, bare_peak))
            cpu["none"].append(used)
        if address is not None:
            local, local_peak, _ = time_cli(
                ["fit-curves", str(data), "--figures", "none", "--scheduler", "local"], Path(tmp)
            )
            dask, dask_peak, _ = time_cli(
                ["fit-curves", str(data), "--figures", "none", "--scheduler", address], Path(tmp)
            )
    trf_s, lm_s = statistics.median(in_process["trf"]), statistics.median(in_process["lm"])
    trf_total, lm_total = trf_s * n_curves, lm_s * n_curves
    med = {k: statistics.median(t for t, _ in v) for k, v in runs.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    top = {k: max(m for _, m in v) for k, v in runs.items()}
    spread = {k: f"{min(t for t, _ in v):.2f}-{max(t for t, _ in v):.2f}" for k, v in runs.items()}
    how = (
        f"all {n_curves} curves fitted"
        if n_fit >= n_curves
        else f"{n_fit} random curves fitted, the loop extrapolated per curve to all {n_curves}"
    )
    wall, bare = med["cli"], med["none"]
    print(
        f"n={n_curves:,d} curves (27 points each); whole-process times are medians of {repeat} "
        f"interleaved runs (range in brackets)\n"
        f"  comparators in this process (interleaved with the runs below, median), timed on "
        f"{chosen.size} random curves and extrapolated per curve: curve_fit trf with bounds "
        f"{trf_s * 1e3:.2f} ms/curve -> {trf_total:.1f} s; "
        f"plain LM {lm_s * 1e3:.2f} ms/curve -> {lm_total:.1f} s; leptotwin's RSS <= the better "
        f"loop's on {100 * ok.mean():.1f}% of them; leptotwin converged on "
        f"{100 * converged:.2f}%\n"
        f"  comparators as a whole-process script (python start, numpy/scipy/pandas imports, "
        f"pandas.read_csv, groupby + curve_fit loop, to_csv of one row per curve; {how}): "
        f"trf {med['trf']:.2f} s [{spread['trf']}] (loop "
        f"{1e3 * statistics.median(per_curve['trf']):.2f} ms/curve), peak {top['trf']:.2f} GB; "
        f"LM {med['lm']:.2f} s [{spread['lm']}] (loop "
        f"{1e3 * statistics.median(per_curve['lm']):.2f} ms/curve), peak {top['lm']:.2f} GB\n"
        f"  API, in-memory integer labels: fit {kernel_s:.2f} s "
        f"({1e6 * kernel_s / n_curves:.1f} us/curve; {trf_total / kernel_s:.0f}x trf, "
        f"{lm_total / kernel_s:.0f}x LM, in-process loops), + QC and drc long table "
        f"{tables_s:.2f} s\n"
        f"  API from the CSV with text labels (pandas.read_csv, fit, tables): {csv_api_s:.2f} s "
        f"({trf_total / csv_api_s:.0f}x trf, {lm_total / csv_api_s:.1f}x LM, in-process loops); "
        f"this script's peak memory so far {api_peak:.2f} GB\n"
        f"  CLI `leptotwin fit-curves curves.csv` (own process, default outputs, {n_files} "
        f"files): {wall:.2f} s [{spread['cli']}], peak memory {top['cli']:.2f} GB\n"
        f"    vs the in-process loops: {trf_total / wall:.1f}x trf, {lm_total / wall:.2f}x LM; "
        f"vs the whole-process scripts: {med['trf'] / wall:.1f}x trf, {med['lm'] / wall:.2f}x LM"
        f"\n"
        f"    CPU seconds (user + system, every thread; less sensitive to other jobs than wall "
        f"time): CLI {med_cpu['cli']:.2f}, scripts trf {med_cpu['trf']:.1f} and LM "
        f"{med_cpu['lm']:.1f} (loops extrapolated) -> {med_cpu['trf'] / med_cpu['cli']:.1f}x trf, "
        f"{med_cpu['lm'] / med_cpu['cli']:.2f}x LM\n"
        f"    --figures none: {bare:.2f} s [{spread['none']}], peak {top['none']:.2f} GB -> "
        f"in-process loops {trf_total / bare:.1f}x trf, {lm_total / bare:.2f}x LM; "
        f"whole-process scripts {med['trf'] / bare:.1f}x trf, {med['lm'] / bare:.2f}x LM"
    )
    if address is not None:
        print(
            f"    --figures none --scheduler local: {local:.2f} s, peak {local_peak:.2f} GB "
            f"({local / bare:.2f}x the time without it); --scheduler ADDRESS (2 warm local "
            f"workers, automatic chunks): {dask:.2f} s, peak {dask_peak:.2f} GB in the client "
            f"({dask / bare:.2f}x)"
        )
    print(
        "  goals (CLI, default outputs) against the in-process loops (the issue's comparator): "
        + _goals(n_curves, trf_total, lm_total, wall, start_s)
        + "\n  goals (CLI, default outputs) against the loops as whole-process scripts: "
        + _goals(n_curves, med["trf"], med["lm"], wall, start_s),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_curves", nargs="*", type=int, default=[1_000, 10_000, 50_000])
    parser.add_argument("--sample", type=int, default=300, help="curves in each scipy loop")
    parser.add_argument(
        "--no-scheduler", action="store_true", help="skip the --scheduler local CLI run"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="interleaved whole-process runs per size (median)"
    )
    parser.add_argument(
        "--script-curves",
        type=int,
        default=1_000,
        help="curves the whole-process loop scripts fit (the loop extrapolated beyond)",
    )
    args = parser.parse_args()
    opts = {"repeat": args.repeat, "script_curves": args.script_curves}
    print(machine())
    start_s = startup_s()
    print(
        f"interpreter start + imports of fit-curves (fresh process, median of 3): {start_s:.2f} s"
    )
    print(f"warm-up (load or compile the kernels): {warm_up():.2f} s", flush=True)
    if args.no_scheduler:
        for n in args.n_curves:
            run(n, args.sample, None, start_s, **opts)
        return
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(warm_up)  # imports and kernels loaded on each worker before timing
        for n in args.n_curves:
            run(n, args.sample, cluster.scheduler_address, start_s, **opts)


if __name__ == "__main__":
    main()
