"""Time a ``leptotwin`` command as a user runs it: its own process, start-up included; and say
which machine the numbers come from."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
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


#: Runs a command and prints its wall seconds, peak memory (kB) and exit code. Started from this
#: small process, the command's peak memory is its own: Linux keeps a process's peak across
#: ``exec``, so a command started straight from a big benchmark process would report the
#: benchmark's memory at the fork whenever that is larger.
_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def time_cli(args: list[str], folder: Path) -> tuple[float, float, int]:
    """Wall seconds, peak memory (GB) and files written of ``leptotwin ARGS --out DIR`` run in
    its own process (start-up, reading and checking the input, the work, every output)."""
    out = Path(tempfile.mkdtemp(dir=folder)) / "out"
    cmd = [sys.executable, "-c", "from leptotwin.cli import main; main()", *args, "--out", str(out)]
    with open(folder / "stderr.txt", "wb") as err:
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, *cmd],
            env={**os.environ, "MPLBACKEND": "Agg"},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=False,
        )
    wall, peak_kb, code = done.stdout.split()
    if done.returncode != 0 or int(code) != 0:
        raise SystemExit("leptotwin failed: " + (folder / "stderr.txt").read_text())
    return float(wall), int(peak_kb) / 1e6, sum(1 for _ in out.iterdir())
