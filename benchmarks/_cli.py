"""Time a ``leptotwin`` command as a user runs it: its own process, start-up included."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


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
