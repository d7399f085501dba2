"""Atomic, non-clobbering output.

Results are first written to a temporary sibling and then renamed into place, so a reader never
sees a half-written file and an interrupted run leaves nothing behind. An output folder that
already holds results is refused unless ``force=True``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pandas as pd

from leptotwin.errors import LeptotwinError

__all__ = [
    "atomic_write",
    "need_file",
    "prepare_out_dir",
    "safe_name",
    "write_bytes",
    "write_csv",
    "write_figure",
    "write_text",
]


class _Figure(Protocol):
    def savefig(self, fname: Path, *, format: str, dpi: float) -> None: ...


def need_file(path: str | os.PathLike[str], option: str) -> Path:
    """``path`` as a Path if it is an existing file, else a LeptotwinError naming ``option``."""
    p = Path(path)
    if not p.is_file():
        raise LeptotwinError("file not found", source=option, value=str(p))
    return p


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``-``, ``_`` and ``.`` replaced by ``_``
    (for file names built from curve, block or arm names)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def prepare_out_dir(out_dir: str | os.PathLike[str], *, force: bool, option: str = "--out") -> Path:
    """Create ``out_dir`` or check that it may be used.

    Raises
    ------
    LeptotwinError
        If the folder exists and is not empty and ``force`` is false, or if the path is a file.
    """
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise LeptotwinError(
            "output path exists and is not a folder", source=option, value=str(path)
        )
    if path.is_dir() and any(path.iterdir()) and not force:
        raise LeptotwinError(
            "output folder already holds results; refusing to overwrite",
            source=option,
            value=str(path),
            expected="an empty or new folder, or --force",
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and rename the temporary file onto ``path``.

    The temporary file lives in the same folder so the rename is atomic on POSIX. If ``writer``
    raises, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        writer(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give results the usual mode
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` atomically."""
    return atomic_write(path, lambda p: p.write_bytes(data))


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame) -> Path:
    """Write a DataFrame as CSV (no index) atomically."""
    return atomic_write(path, lambda p: frame.to_csv(p, index=False))


def write_figure(path: str | os.PathLike[str], figure: _Figure, *, dpi: float = 110) -> Path:
    """Save a matplotlib figure as PNG atomically."""
    return atomic_write(path, lambda p: figure.savefig(p, format="png", dpi=dpi))
