"""Benchmark: the first ``leptotwin reproduce`` after installation, and a later one (issue 16).

Every step is its own process, timed as a user waits for it (interpreter start and imports
included), with numba's cache in a fresh temporary folder (``NUMBA_CACHE_DIR``), so nothing a
previous run compiled is reused:

1. **install-time warm-up**: ``python -m leptotwin._warmup``, the last step of ``make venv``; it
   compiles the numba kernels ``reproduce`` uses into the cache (counted as installation);
2. **first run**: ``leptotwin reproduce`` straight after (the first ``make reproduce``);
3. **warm run**: ``leptotwin reproduce`` again (every later ``make reproduce``).

``--no-warmup`` skips step 1, so the first run compiles the kernels itself (what a user gets who
installs with plain ``pip install`` and never runs the warm-up). Each run's seconds per section
are read from its report, and the CPU seconds of all its processes (the ensemble's workers
included) are summed: on an idle machine with C cores a run takes at least CPU / C. The machine
(cores, load) is printed before and after: on a shared machine the load moves the wall times (not
much the CPU seconds), so compare only runs printed side by side.

Run: ``make bench`` or ``.venv/bin/python benchmarks/first_run.py [--no-warmup] [--goal-s 120]
[-- ARGS for reproduce, e.g. --quick]``.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _cli import machine  # benchmarks/_cli.py (run as a script: its folder is on sys.path)

_CLI = "from leptotwin.cli import main; main()"


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _tree_cpu(root: int, seen: dict[int, float]) -> None:
    """Record the CPU seconds (user + system) of ``root`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in cpu:
            seen[pid] = max(seen.get(pid, 0.0), cpu[pid])
        todo.extend(children.get(pid, ()))


def timed(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Wall seconds of ``cmd`` in its own process (output to ``log``), and the CPU seconds of it
    and every process it started (the ensemble's workers included; sampled every 0.5 s, so a
    lower bound): on an idle machine with C cores the wall time is at least CPU / C."""
    seen: dict[int, float] = {}
    start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            _tree_cpu(proc.pid, seen)
            time.sleep(0.5)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return wall, sum(seen.values())


def section_seconds(report: Path) -> str:
    """The report's ``sections (s)`` line (seconds per section, the ensemble last)."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", report.read_text(encoding="utf-8")))
    found = re.search(r"sections \(s\)\s+(.*?)\s{2,}", text)
    return found.group(1) if found else "(not in the report)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-warmup", action="store_true", help="Skip the warm-up: the first run compiles."
    )
    parser.add_argument("--goal-s", type=float, default=120.0, help="Goal for the first run.")
    parser.add_argument("args", nargs="*", help="Extra arguments of `leptotwin reproduce`.")
    opts = parser.parse_args()

    print(machine(), flush=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    with tempfile.TemporaryDirectory(prefix="leptotwin-first-run-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "NUMBA_CACHE_DIR": str(root / "numba"), "MPLBACKEND": "Agg"}
        print(f"numba cache: {root / 'numba'} (empty); reproduce {' '.join(opts.args)}".rstrip())
        if not opts.no_warmup:
            wall, cpu = timed([sys.executable, "-m", "leptotwin._warmup"], env, root / "warmup.log")
            print(
                f"install-time warm-up (python -m leptotwin._warmup): {wall:6.1f} s wall, "
                f"{cpu:6.1f} s CPU",
                flush=True,
            )
        rows = []
        for name in ("first run", "warm run"):
            out = root / name.replace(" ", "_")
            cmd = [sys.executable, "-c", _CLI, "reproduce", *opts.args, "--out", str(out)]
            wall, cpu = timed(cmd, env, root / f"{out.name}.log")
            rows.append((name, wall))
            print(
                f"{name:<10} (leptotwin reproduce): {wall:6.1f} s wall, {cpu:6.1f} s CPU "
                f"(all processes; {cpu / cores:.0f} s at least on {cores} idle cores)",
                flush=True,
            )
            print(f"    sections (s): {section_seconds(out / 'report.html')}", flush=True)
        first = rows[0][1]
        how = "no warm-up: it compiles" if opts.no_warmup else "after the warm-up"
        verdict = "met" if first <= opts.goal_s else "missed"
        print(f"goal: first run ({how}) <= {opts.goal_s:.0f} s: {verdict} ({first:.0f} s)")
    print(machine())


if __name__ == "__main__":
    main()
