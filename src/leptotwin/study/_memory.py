"""Up-front size checks: refuse a request whose arrays or files cannot fit before any work is
done.

A job estimates the bytes it will hold at its peak (subjects × time points × arrays × 8 bytes,
plus tables) and calls :func:`check_memory`, which compares the estimate with the memory the
operating system reports as available (``psutil.virtual_memory().available``), and the bytes its
tables will take on disk, which :func:`check_disk` compares with the free space where they go.
Both raise a :class:`~leptotwin.errors.LeptotwinError` that states the two numbers. A request that
would not fit is thus refused in a second with a line the user can act on, instead of a
MemoryError (or a machine driven into swap) or a full disk after minutes.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import psutil

from leptotwin._fileio import check_writable
from leptotwin.errors import LeptotwinError

__all__ = [
    "available_bytes",
    "check_disk",
    "check_memory",
    "format_bytes",
    "format_count",
    "free_disk_bytes",
]

_UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def available_bytes() -> int:
    """Memory (bytes) the operating system can give this process now without swapping."""
    return int(psutil.virtual_memory().available)


def free_disk_bytes(folder: str | os.PathLike[str]) -> int:
    """Free space (bytes) on the file system that holds ``folder`` (or its nearest existing
    parent, for a folder not created yet)."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return int(shutil.disk_usage(path).free)


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units with three significant digits (``"2.4 TiB"``)."""
    k = 0
    while n >= 1024.0 and k < len(_UNITS) - 1:
        n /= 1024.0
        k += 1
    return f"{n:,.0f} bytes" if k == 0 else f"{n:.3g} {_UNITS[k]}"


def format_count(n: float) -> str:
    """A count with thousands separators, or in ``1.2e+15`` form past 1e12 (``inf``: ``more
    than 1e+308``)."""
    if not math.isfinite(n):
        return "more than 1e+308"
    return f"{n:,.0f}" if n < 1e12 else f"{n:.3g}"


def check_memory(need_bytes: float, *, what: str, source: str, expected: str) -> None:
    """Raise unless ``need_bytes`` fits in the memory available now.

    Parameters
    ----------
    need_bytes : float
        Estimated peak memory of the request (bytes); may be ``inf`` for sizes that overflow.
    what : str
        The request in words, e.g. ``"1,000 subjects × 2,400,001 time points"``.
    source : str
        The options that set the size (``"--subjects/--days/--step-h"``).
    expected : str
        What to change, e.g. ``"fewer subjects, fewer days or a larger --step-h"``.

    Raises
    ------
    LeptotwinError
        ``<what> need about <need> of memory; <available> is available`` (past 2**90 bytes,
        or ``inf``: ``need more memory than any computer has``).
    """
    have = available_bytes()
    if need_bytes <= have:
        return
    need = (
        f"about {format_bytes(need_bytes)} of memory"
        if math.isfinite(need_bytes) and need_bytes < 2.0**90
        else "more memory than any computer has"
    )
    raise LeptotwinError(
        f"{what} need {need}; {format_bytes(have)} is available",
        source=source,
        expected=expected,
    )


def check_disk(
    need_bytes: float, folder: str | os.PathLike[str], *, what: str, source: str, expected: str
) -> None:
    """Raise unless ``need_bytes`` of output fit in the free space where ``folder`` is.

    Raises
    ------
    LeptotwinError
        ``<what> would write about <need>; <free> is free on the disk of <folder>``.
    """
    check_writable(folder)  # an unwritable --out is the problem to name, not its free space
    free = free_disk_bytes(folder)
    if need_bytes <= free:
        return
    raise LeptotwinError(
        f"{what} would write about {format_bytes(need_bytes)}; {format_bytes(free)} is free "
        f"on the disk of {folder}",
        source=source,
        expected=expected,
    )
