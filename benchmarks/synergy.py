"""Benchmark: batched synergy scores against the ``synergy`` package (per-block loop).

Simulates ``n`` 8 x 8 blocks (MuSyC surfaces with random potencies and interactions, % viability
with noise sd 3), scores all of them with :func:`leptotwin.analysis.synergy.synergy_scores`
(DataFrame in, tables out), and times ``synergy`` 1.0.0's ``ZIP``, ``Bliss``, ``HSA`` and
``Loewe`` on a random sample of blocks (default 200), scaled to ``n``. Like is compared with
like: the package's ``ZIP`` against our ``zip_variant="synergy"`` (its definition, every slice
at the global optimum); our default ZIP (``"yadav"``) and the SynergyFinder 3.7.x emulation
(``"synergyfinder"``) have no counterpart in the package and are timed separately, labelled
so. On the sampled blocks the ZIP scores of both are compared too: the largest difference, and
how many blocks agree to 1e-6 (where they differ, the package's slice fit stopped short of the
optimum; see tests/analysis/test_synergy.py). A warm-up call loads the compiled kernels
first. Without the ``synergy`` package (1.0.0) installed the comparison is skipped, with a note.

Bliss alone and HSA alone (issue 14 item 4) are timed at 10^2, 10^3 and 10^4 blocks
(``--sizes``) against the package's loop over every block (its ``fit`` on each block's arrays,
the grouping into blocks not timed), ours and the package's interleaved, ``--repeats`` times
(default 5): medians and the ratio package / ours. Ours is the whole call (long table in:
input checks, unit check, packing, scores, tables out); the share of the input checks
(``check_table_keys`` and ``unify_units`` as ``synergy_scores`` runs them, timed interleaved
too) is printed beside it.

The command line is timed too, as a user runs it (issue 14): ``leptotwin synergy --scale
viability`` in its own process on the same blocks written as a CSV, with its default outputs
(tables, sensitivity scores and the summary figures, written as SVG: heatmaps of the top
blocks per method and the distribution of the block means), interleaved ``--cli-repeats``
times (default 3) with the API doing the same work (the default methods and
``sensitivity=True``, as the command does) and with the API's default call (all four scores, no
sensitivity scores); printed with the ratios CLI / API of wall and of CPU seconds (user +
system, every thread), its peak memory and the number of files written, and once more with
``--figures none``; ``--no-cli`` skips these. ``--bliss-hsa-only``
runs the Bliss/HSA sizes and the command line only.

Run: ``PYTHONPATH=src python benchmarks/synergy.py [n_blocks] [--sample 200] [--no-cli]
[--sizes 100,1000,10000] [--repeats 5] [--cli-repeats 3] [--bliss-hsa-only]``
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from _cli import machine, time_cli  # benchmarks/_cli.py (its folder is on sys.path)
from leptotwin.analysis._synergy_input import check_table_keys, unify_units
from leptotwin.analysis._synergy_musyc import simulate_blocks
from leptotwin.analysis.synergy import synergy_scores

CONC = np.r_[0, np.logspace(-2, 1, 7)]


def simulate(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Long SynergyFinder table of ``n`` 8 x 8 blocks (% viability)."""
    return simulate_blocks(n, rng=rng, conc=CONC)


def reference_seconds(
    df: pd.DataFrame, blocks: np.ndarray
) -> tuple[dict[str, float], dict[object, np.ndarray]]:
    """Seconds per block of the synergy package's models on ``blocks``, and its ZIP scores
    (fractions, in the order of each block's rows) with the fitted ZIP model."""
    HSA, ZIP, Bliss, Loewe = _package("HSA", "ZIP", "Bliss", "Loewe")

    out, zip_scores = {}, {}
    groups = {k: g for k, g in df[df["block_id"].isin(blocks)].groupby("block_id")}
    for name, cls in (("ZIP", ZIP), ("Bliss", Bliss), ("HSA", HSA), ("Loewe", Loewe)):
        start = time.perf_counter()
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for k in blocks:
                g = groups[k]
                model = cls(mode="delta_weakest") if name == "Loewe" else cls()
                try:
                    model.fit(g["conc_r"].to_numpy(), g["conc_c"].to_numpy(),
                              g["response"].to_numpy() / 100)  # fmt: skip
                except Exception:
                    continue
                if name == "ZIP":
                    zip_scores[k] = (np.asarray(model.synergy, float), model)
        out[name] = (time.perf_counter() - start) / blocks.size
    return out, zip_scores


def _slice_rss(g: pd.DataFrame, model: object) -> tuple[np.ndarray, np.ndarray]:
    """RSS of each ZIP slice fit (viability fractions): the package's and ours (the same model,
    ``_refit_slices`` of the ``synergy`` variant, at its global optimum)."""
    from leptotwin.analysis._synergy_core import _refit_slices

    d1, d2 = g["conc_r"].to_numpy(), g["conc_c"].to_numpy()
    e = g["response"].to_numpy() / 100
    xs, ys, e0s, theirs = [], [], [], []
    for fixed, varied, other, params in (
        (d2, d1, model.drug2_model, (model._Emax_21, model._h_21, model._C_21)),
        (d1, d2, model.drug1_model, (model._Emax_12, model._h_12, model._C_12)),
    ):
        for level in np.unique(fixed[fixed > 0]):
            cells = fixed == level
            order = np.argsort(varied[cells])
            x, y, e0 = varied[cells][order], e[cells][order], other.E(level)
            i = np.flatnonzero(cells)[0]
            emax, h, c = (p[i] for p in params)
            with np.errstate(all="ignore"):
                fit = e0 + (emax - e0) / (1 + np.exp(-h * (np.log(x) - np.log(c))))
            fit = np.where(x > 0, fit, e0)
            xs.append(x)
            ys.append(y)
            e0s.append(e0)
            theirs.append(np.sum((fit - y) ** 2))
    x, y = np.array(xs), np.array(ys)
    fitted, _, _ = _refit_slices(x, 1 - y, 1 - np.array(e0s), 1.0, True)
    return np.array(theirs), np.sum((1 - fitted - y) ** 2, axis=1)


def zip_agreement(df: pd.DataFrame, ours: pd.DataFrame, theirs: dict) -> str:
    """Largest |ours - package| ZIP difference (fractions), blocks agreeing to 1e-6 and 1e-4,
    and, for the others, whether a package slice fit has a higher RSS than ours (it stopped
    short of the optimum) or not."""
    per = ours.set_index(["block_id", "conc_r", "conc_c"])["score"] / 100
    diffs, short, ours_worse = [], 0, 0
    for k, (ref, model) in theirs.items():
        g = df[df["block_id"] == k]
        mine = per.loc[list(zip([k] * len(g), g["conc_r"], g["conc_c"], strict=True))]
        diffs.append(np.nanmax(np.abs(mine.to_numpy() - ref)))
        rss_pkg, rss_ours = _slice_rss(g, model)
        ours_worse += bool(np.any(rss_ours > rss_pkg * (1 + 1e-9)))
        if diffs[-1] > 1e-4:
            short += bool(np.any(rss_pkg > rss_ours * (1 + 1e-6)))
    d = np.asarray(diffs)
    return (
        f"ZIP synergy variant vs package on {d.size} blocks: max |diff| {d.max():.2e}, "
        f"median {np.median(d):.2e}; agree to 1e-6: {(d <= 1e-6).sum()}, to 1e-4: "
        f"{(d <= 1e-4).sum()}; of the {(d > 1e-4).sum()} others, {short} have a package "
        f"slice fit with an RSS above ours (it stopped short of the optimum); blocks with a "
        f"slice where ours has the higher RSS: {ours_worse}"
    )


def _package(*names: str) -> list[type]:
    """Classes of ``synergy.combination`` (ImportError without the package)."""
    # this file is called synergy.py: keep its folder from shadowing the package
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if "synergy" in sys.modules and not hasattr(sys.modules["synergy"], "combination"):
        sys.modules.pop("synergy", None)
    import synergy.combination as comb

    return [getattr(comb, name) for name in names]


def _seconds(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def bliss_hsa_sizes(sizes: list[int], repeats: int, rng: np.random.Generator) -> None:
    """Bliss alone and HSA alone: ours (the whole call) against the package's loop over every
    block, interleaved, ``repeats`` times per size; medians, ratio package / ours, and the
    share of our time spent in the input checks (``check_table_keys`` + ``unify_units``)."""
    try:
        classes = dict(zip(("Bliss", "HSA"), _package("Bliss", "HSA"), strict=True))
    except ImportError as exc:
        print(f"Bliss/HSA sizes skipped ({exc}): install synergy==1.0.0")
        return
    print(
        f"Bliss alone and HSA alone, medians of {repeats} interleaved repeats (ours: long "
        "table in, tables out; package: its fit per block on the block's arrays)"
    )
    for n in sizes:
        df = simulate(n, rng)
        blocks = [
            (g["conc_r"].to_numpy(), g["conc_c"].to_numpy(), g["response"].to_numpy() / 100)
            for _, g in df.groupby("block_id", sort=False)
        ]

        def package(cls: type, blocks: list = blocks) -> None:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                for d1, d2, e in blocks:
                    cls().fit(d1, d2, e)

        def checks(df: pd.DataFrame = df) -> None:  # what synergy_scores runs on a DataFrame
            table = check_table_keys(df, "bench")
            unify_units(table.frame, "bench", keys=table.keys)

        synergy_scores(df.head(64 * 4), methods=["Bliss"], scale="viability")  # warm
        times: dict[str, list[float]] = {}
        for _ in range(repeats):
            for m, cls in classes.items():
                ours = functools.partial(synergy_scores, df, methods=[m], scale="viability")
                times.setdefault(f"ours {m}", []).append(_seconds(ours))
                times.setdefault(f"package {m}", []).append(_seconds(lambda cls=cls: package(cls)))
            times.setdefault("checks", []).append(_seconds(checks))
        med = {k: float(np.median(v)) for k, v in times.items()}
        for m in classes:
            ours, theirs = med[f"ours {m}"], med[f"package {m}"]
            checked = med["checks"]
            print(
                f"  {m:5s} {n:>6d} blocks: ours {ours * 1e3:8.1f} ms "
                f"({ours / n * 1e6:6.1f} us/block)  package {theirs * 1e3:8.1f} ms "
                f"({theirs / n * 1e6:6.1f} us/block)  package / ours {theirs / ours:5.2f}x;  "
                f"input checks {checked * 1e3:6.1f} ms ({checked / ours:.0%} of ours)"
            )


#: Runs a command; prints its wall seconds, CPU seconds (user + system, all its threads), peak
#: memory (kB) and exit code (started from this small process, the peak is the command's own).
_CPU_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
      os.waitstatus_to_exitcode(status))
"""


def time_cli_cpu(args: list[str], folder: Path) -> tuple[float, float, float, int]:
    """As :func:`_cli.time_cli` (``leptotwin ARGS --out DIR`` in its own process): wall seconds,
    CPU seconds (every thread), peak memory (GB) and the number of files written."""
    out = Path(tempfile.mkdtemp(dir=folder)) / "out"
    cmd = [sys.executable, "-c", "from leptotwin.cli import main; main()", *args, "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", _CPU_LAUNCHER, *cmd],
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or done.stdout.split()[-1:] != ["0"]:
        raise SystemExit("leptotwin failed: " + done.stderr)
    wall, cpu, peak_kb, _ = done.stdout.split()
    return float(wall), float(cpu), int(peak_kb) / 1e6, sum(1 for _ in out.iterdir())


def _timed(fn: object) -> tuple[float, float]:
    """Wall and CPU seconds (this process, every thread) of ``fn()``."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start, time.process_time() - cpu


def cli_against_api(df: pd.DataFrame, repeats: int) -> None:
    """``leptotwin synergy`` in its own process (default outputs, then ``--figures none``)
    against the API doing the same work (default methods, sensitivity scores) and the API's
    default call, interleaved; medians of wall and of CPU seconds (user + system, every thread:
    on a machine shared with other jobs CPU time swings much less than wall time)."""
    times: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    peak, n_files = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "blocks.csv"
        df.to_csv(data, index=False)
        args_cli = ["synergy", str(data), "--scale", "viability"]
        for _ in range(repeats):
            wall, cpu, peak, n_files = time_cli_cpu(args_cli, Path(tmp))
            times.setdefault("cli", []).append(wall)
            cpus.setdefault("cli", []).append(cpu)
            wall, cpu = _timed(lambda: synergy_scores(df, scale="viability", sensitivity=True))
            times.setdefault("api same work", []).append(wall)
            cpus.setdefault("api same work", []).append(cpu)
            wall, cpu = _timed(lambda: synergy_scores(df, scale="viability"))
            times.setdefault("api", []).append(wall)
            cpus.setdefault("api", []).append(cpu)
        bare, _, _ = time_cli([*args_cli, "--figures", "none"], Path(tmp))
    med = {k: float(np.median(v)) for k, v in times.items()}
    cpu_med = {k: float(np.median(v)) for k, v in cpus.items()}
    n = df["block_id"].nunique()
    spread = f"{min(times['cli']):.2f}-{max(times['cli']):.2f}"
    print(
        f"CLI `leptotwin synergy` at {n} blocks (own process, default outputs: {n_files} files; "
        f"medians of {repeats} interleaved): {med['cli']:.2f} s [{spread}], peak memory "
        f"{peak:.2f} GB; API with the same work (all four, sensitivity scores) "
        f"{med['api same work']:.2f} s: CLI / API {med['cli'] / med['api same work']:.2f}x; API "
        f"default call (all four) {med['api']:.2f} s: CLI / API {med['cli'] / med['api']:.2f}x; "
        f"once with --figures none {bare:.2f} s ({bare / med['api same work']:.2f}x the API "
        f"with the same work)\n"
        f"  CPU seconds (user + system, every thread): CLI {cpu_med['cli']:.2f}, API with the "
        f"same work {cpu_med['api same work']:.2f} -> CLI / API "
        f"{cpu_med['cli'] / cpu_med['api same work']:.2f}x; API default call "
        f"{cpu_med['api']:.2f} -> {cpu_med['cli'] / cpu_med['api']:.2f}x"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n_blocks", nargs="?", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=200)
    ap.add_argument("--no-cli", action="store_true", help="do not time the command line")
    ap.add_argument("--sizes", default="100,1000,10000", help="block counts for Bliss/HSA")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats, Bliss/HSA")
    ap.add_argument("--cli-repeats", type=int, default=3, help="interleaved repeats, CLI/API")
    ap.add_argument("--bliss-hsa-only", action="store_true",
                    help="only Bliss/HSA at --sizes and the command line")  # fmt: skip
    args = ap.parse_args()
    print(machine())
    rng = np.random.default_rng(0)
    df = simulate(args.n_blocks, rng)
    other = np.random.default_rng(1)  # leaves ``rng`` to the blocks sampled below
    synergy_scores(simulate(20, other), scale="viability")  # warm-up (kernel load/compile)
    bliss_hsa_sizes([int(x) for x in args.sizes.split(",") if x], args.repeats, other)
    if not args.no_cli:
        cli_against_api(df, args.cli_repeats)
    if args.bliss_hsa_only:
        return
    t0 = time.perf_counter()
    synergy_scores(simulate(20, rng), scale="viability", zip_variant="synergy")
    print(f"warm-up (kernel load/compile): {time.perf_counter() - t0:.2f} s")
    ours = {}
    for m in ("ZIP", "Bliss", "HSA", "Loewe"):
        t0 = time.perf_counter()
        res_m = synergy_scores(df, methods=[m], scale="viability", zip_variant="synergy")
        ours[m] = time.perf_counter() - t0
        if m == "ZIP":
            zip_synergy = res_m.per_dose
    other_zip = {}
    for variant in ("yadav", "synergyfinder"):
        t0 = time.perf_counter()
        synergy_scores(df, methods=["ZIP"], scale="viability", zip_variant=variant)
        other_zip[variant] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = synergy_scores(df, scale="viability")
    all_four = time.perf_counter() - t0
    n_ok = int((res.qc["status"] == "ok").sum())
    print(f"leptotwin: {args.n_blocks} blocks, all four scores (default ZIP 'yadav') in "
          f"{all_four:.2f} s ({n_ok} ok)")  # fmt: skip
    print("leptotwin ZIP without a package counterpart: "
          + ", ".join(f"{v} {t:.2f} s" for v, t in other_zip.items()))  # fmt: skip
    sample = rng.choice(args.n_blocks, size=min(args.sample, args.n_blocks), replace=False)
    try:
        ref, zip_ref = reference_seconds(df, sample)
    except ImportError as exc:
        print(f"no comparison with the synergy package ({exc}): install synergy==1.0.0")
        return
    for m in ("ZIP", "Bliss", "HSA", "Loewe"):
        scaled = ref[m] * args.n_blocks
        label = "ZIP (synergy variant)" if m == "ZIP" else m
        print(
            f"{label:21s} leptotwin {ours[m]:8.2f} s   synergy (scaled from {sample.size}) "
            f"{scaled:9.2f} s   ratio {scaled / ours[m]:8.1f}x"
        )
    total = sum(ref.values()) * args.n_blocks
    mine = sum(ours.values())
    print(f"all four (like with like) leptotwin {mine:8.2f} s   synergy {total:9.2f} s   "
          f"ratio {total / mine:8.1f}x")  # fmt: skip
    print(zip_agreement(df, zip_synergy, zip_ref))


if __name__ == "__main__":
    main()
