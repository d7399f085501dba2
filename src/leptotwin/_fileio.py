"""Atomic, non-clobbering output.

Results are first written to a temporary sibling and then renamed into place, so a reader never
sees a half-written file and an interrupted run leaves nothing behind. An output folder that
already holds results is refused unless ``force=True``.

Inside :func:`output_transaction` (the command line wraps every command in one) each folder and
file that did not exist before is recorded; if the block does not finish (an error, Ctrl-C) they
are removed again, so a failed or interrupted command leaves the disk as it found it. Files that
``force`` replaced cannot be restored and are left as written.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from leptotwin.errors import LeptotwinError

__all__ = [
    "atomic_write",
    "check_writable",
    "is_parquet",
    "need_file",
    "os_error_message",
    "output_transaction",
    "prepare_out_dir",
    "safe_name",
    "write_bytes",
    "write_csv",
    "write_figure",
    "write_table",
    "write_table_chunks",
    "write_text",
]


@dataclass
class _OutputLog:
    """Paths created since the transaction began (folders: the top-most one created)."""

    folders: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def undo(self) -> None:
        for path in reversed(self.files):
            path.unlink(missing_ok=True)
        for folder in reversed(self.folders):
            shutil.rmtree(folder, ignore_errors=True)


_LOGS: list[_OutputLog] = []


@contextmanager
def output_transaction() -> Iterator[None]:
    """Remove every folder and file created inside the block if the block raises.

    Used by the command line around each command, so an error or an interrupt (Ctrl-C) leaves
    no empty output folder and no partial set of result files. Nested transactions are undone by
    the outermost one that fails.
    """
    log = _OutputLog()
    _LOGS.append(log)
    try:
        yield
    except SystemExit:
        raise  # a deliberate exit status (e.g. ``reproduce --strict``): the results stand
    except BaseException:
        log.undo()
        raise
    finally:
        _LOGS.remove(log)


def _record_new(path: Path, *, folder: bool) -> None:
    if not _LOGS:
        return
    (_LOGS[-1].folders if folder else _LOGS[-1].files).append(path)


def os_error_message(exc: OSError) -> str:
    """One line for an operating-system error on a path (permission, full disk, not a folder)."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    hint = {
        errno.EACCES: "a folder you may write to",
        errno.EPERM: "a folder you may write to",
        errno.EROFS: "a folder on a writable file system",
        errno.ENOSPC: "more free disk space",
        errno.EDQUOT: "more disk quota",
        errno.ENOTDIR: "a path whose parents are folders",
        errno.EISDIR: "a file path, not a folder",
    }.get(exc.errno or 0)
    text = f"{where}: {reason}" if where else reason
    return f"{text}; expected {hint}" if hint else text


def _first_missing(path: Path) -> Path | None:
    """The top-most folder of ``path`` that does not exist yet (None if ``path`` exists)."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


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


def check_writable(out_dir: str | os.PathLike[str], *, option: str = "--out") -> None:
    """Raise unless results could be written at ``out_dir``, without creating it.

    Probes the nearest folder that exists (a temporary file, removed at once), so a command can
    refuse an unwritable or blocked output path before it starts long work.
    """
    path = Path(out_dir)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
        fd, probe = tempfile.mkstemp(prefix=".leptotwin-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        exc.filename = str(existing)  # not the random name of the probe
        raise LeptotwinError(
            f"cannot write the output folder: {os_error_message(exc)}",
            source=option,
            value=str(path),
        ) from exc


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
        # under make (MAKELEVEL is set for its children) the flag goes through ARGS
        how = "--force (make ... ARGS=--force)" if os.environ.get("MAKELEVEL") else "--force"
        raise LeptotwinError(
            "output folder already holds results; refusing to overwrite",
            source=option,
            value=str(path),
            expected=f"an empty or new folder, or {how}",
        )
    created = _first_missing(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        # Prove the folder is writable now, not after the work is done (root ignores modes,
        # so os.access would not tell).
        fd, probe = tempfile.mkstemp(prefix=".leptotwin-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise LeptotwinError(
            f"cannot write the output folder: {os_error_message(exc)}",
            source=option,
            value=str(path),
        ) from exc
    if created is not None:
        _record_new(created, folder=True)
    return path


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and rename the temporary file onto ``path``.

    The temporary file lives in the same folder so the rename is atomic on POSIX. If ``writer``
    raises, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    if target.is_dir():
        raise LeptotwinError(
            "a folder is in the way of an output file", value=str(target), expected="a file path"
        )
    created = _first_missing(target.parent)
    existed = target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    if created is not None:
        _record_new(created, folder=True)
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
    if not existed:
        _record_new(target, folder=False)
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


def is_parquet(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a Parquet file (``.parquet`` or ``.pq``, any case)."""
    return Path(path).suffix.lower() in (".parquet", ".pq")


def write_table(path: str | os.PathLike[str], frame: pd.DataFrame) -> Path:
    """Write a DataFrame atomically: Parquet if ``path`` ends in ``.parquet`` (or ``.pq``), else
    CSV (no index, as :func:`write_csv`)."""
    return write_table_chunks(path, [frame])


def write_table_chunks(path: str | os.PathLike[str], chunks: Iterable[pd.DataFrame]) -> Path:
    """Write consecutive row blocks of one table atomically, each one released once written
    (a long table is never held whole: ``chunks`` may be a generator).

    CSV (no index): the header once, then each block appended; the bytes are those of
    ``pd.concat(chunks).to_csv(path, index=False)``. Parquet (``path`` ending in ``.parquet``
    or ``.pq``): one row group per block, the first block's schema for all.

    Raises
    ------
    LeptotwinError
        If ``chunks`` holds no block or the blocks' columns differ (nothing is written).
    """
    parquet = is_parquet(path)

    def write(tmp: Path) -> None:
        columns: list[str] | None = None
        if parquet:
            parquet_writer = None
            try:
                for chunk in chunks:
                    columns = _same_columns(columns, chunk, path)
                    parquet_writer = _parquet_block(tmp, parquet_writer, chunk)
            finally:
                if parquet_writer is not None:
                    parquet_writer.close()
        else:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                for chunk in chunks:
                    first = columns is None
                    columns = _same_columns(columns, chunk, path)
                    chunk.to_csv(fh, index=False, header=first)
        if columns is None:
            raise LeptotwinError("no table to write", value=str(path))

    return atomic_write(path, write)


def _same_columns(columns: list[str] | None, chunk: pd.DataFrame, path: object) -> list[str]:
    """The first block's column names; a later block with other names is an error."""
    names = [str(c) for c in chunk.columns]
    if columns is not None and names != columns:
        raise LeptotwinError(
            "table blocks with different columns",
            value=f"{path}: {', '.join(names)}",
            expected=", ".join(columns),
        )
    return names


def _parquet_block(tmp: Path, writer: Any, chunk: pd.DataFrame) -> Any:
    """Append ``chunk`` as a row group (the writer, a ``pyarrow.parquet.ParquetWriter``, is
    opened on ``tmp`` with the first block's schema)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(chunk, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(tmp, table.schema)
    elif not table.schema.equals(writer.schema, check_metadata=False):
        table = table.cast(writer.schema)
    writer.write_table(table)
    return writer
