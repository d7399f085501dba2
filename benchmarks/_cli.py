"""Time a ``leptotwin`` command as a user runs it: its own process, start-up included; and say
which machine the numbers come from."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def machine() -> str:
    """The machine in one line: cores, CPU model and load average (benchmarks print it, since
    only ratios measured side by side on one machine compare)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return (
        f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}; "
        f"load average (1, 5, 15 min) {load}; Python {platform.python_version()}"
    )


def time_cli(args: list[str], folder: Path) -> tuple[float, float, int]:
    """Wall seconds, peak memory (GB) and files written of ``leptotwin ARGS --out DIR`` run in
    its own process (start-up, reading and checking the input, the work, every output)."""
    out = Path(tempfile.mkdtemp(dir=folder)) / "out"
    cmd = [sys.executable, "-c", "from leptotwin.cli import main; main()", *args, "--out", str(out)]
    with open(folder / "stderr.txt", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env={**os.environ, "MPLBACKEND": "Agg"}, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("leptotwin failed: " + (folder / "stderr.txt").read_text())
    return wall, usage.ru_maxrss / 1e6, sum(1 for _ in out.iterdir())
