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
import functools
import os
import queue
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

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
    "streamed_table",
    "write_bytes",
    "write_csv",
    "write_figure",
    "write_table",
    "write_table_chunks",
    "write_text",
]


@dataclass(eq=False)  # identity: _LOGS.remove must take this log, not an equal one
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
    no empty output folder and no partial set of result files. A nested transaction that ends
    well hands what it created to the one around it, so a later failure of the outer block
    undoes those paths too.
    """
    log = _OutputLog()
    _LOGS.append(log)
    try:
        yield
    except SystemExit:
        _LOGS.remove(log)
        _hand_over(log)
        raise  # a deliberate exit status (e.g. ``reproduce --strict``): the results stand
    except BaseException:
        _LOGS.remove(log)
        log.undo()
        raise
    else:
        _LOGS.remove(log)
        _hand_over(log)


def _hand_over(log: _OutputLog) -> None:
    """Add what a finished nested transaction created to the enclosing one (if any)."""
    if _LOGS:
        _LOGS[-1].folders.extend(log.folders)
        _LOGS[-1].files.extend(log.files)


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
    ``pd.concat(chunks).to_csv(path, index=False)`` (formatted through pyarrow where the
    block's columns allow it, see :func:`_write_csv_block`, else by pandas). Slices of
    :data:`_CSV_ROWS` rows are formatted in :data:`_CSV_THREADS` threads (pyarrow's kernels
    release the GIL) while the file is written in order and the next block is taken from
    ``chunks``: at most that many slices are formatted ahead of the file. Parquet (``path``
    ending in ``.parquet`` or ``.pq``): one row group per block, the first block's schema for all.

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
            with (
                open(tmp, "wb") as fh,
                ThreadPoolExecutor(_CSV_THREADS, thread_name_prefix="leptotwin-csv") as pool,
            ):
                pending: deque[Future[list[Any]]] = deque()
                try:
                    for chunk in chunks:
                        first = columns is None
                        columns = _same_columns(columns, chunk, path)
                        for lo in range(0, max(len(chunk), 1), _CSV_ROWS):
                            part = chunk.iloc[lo : lo + _CSV_ROWS]
                            pending.append(pool.submit(_csv_pieces, part, first and lo == 0))
                            while len(pending) > _CSV_THREADS:
                                _write_pieces(fh, pending.popleft().result())
                    while pending:
                        _write_pieces(fh, pending.popleft().result())
                finally:
                    for job in pending:
                        job.cancel()
        if columns is None:
            raise LeptotwinError("no table to write", value=str(path))

    return atomic_write(path, write)


_DONE = object()
_ABANDONED = object()


class TableFeed:
    """The blocks of one table handed to :func:`streamed_table`'s writer thread (:meth:`put`)."""

    def __init__(self, transform: Callable[[pd.DataFrame], pd.DataFrame] | None) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._transform = transform
        self.writer: Future[Path] | None = None

    def put(self, block: pd.DataFrame) -> None:
        """Hand the next block of rows to the writer (raises the writer's error, if it failed:
        a full disk stops the caller at its next block instead of at the end)."""
        if self.writer is not None and self.writer.done() and self.writer.exception():
            raise self.writer.exception()  # type: ignore[misc]
        self._queue.put(block)

    def written(self) -> Path:
        """The file written, once :func:`streamed_table`'s block has ended without an error."""
        if self.writer is None or not self.writer.done():
            raise RuntimeError("the table is still being written")
        return self.writer.result()

    def _blocks(self) -> Iterator[pd.DataFrame]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if item is _ABANDONED:
                raise RuntimeError("the table was abandoned: not written")
            yield item if self._transform is None else self._transform(item)


@contextmanager
def streamed_table(
    path: str | os.PathLike[str],
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> Iterator[TableFeed]:
    """Write one table, as :func:`write_table_chunks` does (the same bytes), from the blocks the
    block hands to ``feed.put`` while it goes on working: a writer thread transforms each block
    (``transform``, e.g. coding repeated values), formats and appends it. When the block ends the
    writer is waited for and ``feed.written()`` is the file; if the block raises, the writer stops,
    its temporary file is removed and nothing is written. The blocks are taken in the order put
    and each is released once written.

    Raises
    ------
    LeptotwinError
        As :func:`write_table_chunks` (no block, blocks with different columns).
    """
    feed = TableFeed(transform)
    with ThreadPoolExecutor(1, thread_name_prefix="leptotwin-table") as pool:
        feed.writer = pool.submit(write_table_chunks, path, feed._blocks())
        try:
            yield feed
        except BaseException:
            feed._queue.put(_ABANDONED)
            with suppress(Exception):  # the block's error is the one to report
                feed.writer.result()
            raise
        feed._queue.put(_DONE)
        feed.writer.result()


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


#: Rows formatted at a time by :func:`_write_csv_block` (bounds its memory and keeps the text of
#: one slice well under pyarrow's 2 GiB per string array).
_CSV_ROWS = 200_000
#: Threads formatting CSV slices in :func:`write_table_chunks` (and slices formatted ahead).
_CSV_THREADS = max(2, min(4, os.cpu_count() or 1))


def _write_csv_block(fh: BinaryIO, frame: pd.DataFrame, *, header: bool) -> None:
    """Append ``frame`` to the binary file ``fh`` as ``frame.to_csv(index=False, header=header)``
    would, byte for byte (UTF-8), formatting it through pyarrow's vectorised kernels.

    pandas formats each float with numpy's shortest round-trip repr and hands every row to
    Python's csv module: about 20 us a row of fits.csv. Here each column becomes text at once:
    floats through pyarrow's shortest round-trip formatting, laid out as Python's repr (fixed
    notation from 1e-4 to below 1e16 with at least one decimal, else ``1e-05``-style exponents;
    a value pyarrow lays out otherwise is formatted by ``repr``), NaN as an empty field;
    integers as digits; booleans as ``True``/``False``; strings quoted only when they hold a
    comma, a quote (doubled) or a line end, missing strings as empty fields. Blocks with other
    columns (nullable integers, dates, non-text objects or categories, a single column, text with
    a carriage return, names that are not text) are written by pandas itself.
    """
    _write_pieces(fh, _csv_pieces(frame, header=header))


def _csv_pieces(frame: pd.DataFrame, header: bool) -> list[Any]:
    """The bytes :func:`_write_csv_block` writes for ``frame``, as a list of buffers (memory
    views of pyarrow's text, or one ``bytes`` where pandas formats the block)."""
    if not header and frame.empty:
        return []
    text = None
    if not (frame.columns.duplicated().any() or frame.shape[1] < 2):
        try:
            import pyarrow as pa
            import pyarrow.compute as pc
        except ImportError:  # pragma: no cover - pyarrow is a dependency
            pass
        else:
            text = _arrow_csv_lines(frame, header, pa, pc)
    if text is None:
        return [frame.to_csv(index=False, header=header, lineterminator=os.linesep).encode()]
    pieces = []
    for lines in text:
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
        offsets = offsets[lines.offset : lines.offset + len(lines) + 1]
        data = lines.buffers()[2]
        if data is not None and offsets[-1] > offsets[0]:
            pieces.append(memoryview(data)[offsets[0] : offsets[-1]])
    return pieces


def _write_pieces(fh: BinaryIO, pieces: list[Any]) -> None:
    for piece in pieces:
        fh.write(piece)


def _arrow_csv_lines(frame: pd.DataFrame, header: bool, pa: Any, pc: Any) -> list[Any] | None:
    """The CSV lines of ``frame`` as pyarrow string arrays (each line ending in the line
    separator), or None where a column is not one :func:`_write_csv_block` formats."""
    names = list(frame.columns)
    if not all(isinstance(n, str) for n in names) or any("\r" in n for n in names):
        return None
    out = []
    if header:
        head = _quoted(pa.array(names, pa.string()), pc).to_pylist()
        out.append(pa.array([",".join(head) + os.linesep], pa.string()))
    for lo in range(0, len(frame), _CSV_ROWS):
        part = frame.iloc[lo : lo + _CSV_ROWS]
        columns = []
        group: _CategoryRun | None = None
        for name in range(part.shape[1]):
            column = part.iloc[:, name]
            if isinstance(column.dtype, pd.CategoricalDtype):
                coded = _category_fields(column, pa, pc)
                if coded is None:
                    return None
                if group is None or not group.extend(*coded):
                    if group is not None:
                        columns.append(group.text(pc))
                    group = _CategoryRun(*coded)
                continue
            if group is not None:
                columns.append(group.text(pc))
                group = None
            text = _column_text(column, pa, pc)
            if text is None:
                return None
            columns.append(text)
        if group is not None:
            columns.append(group.text(pc))
        columns[-1] = pc.binary_join_element_wise(columns[-1], "", os.linesep)  # + sep + ""
        out.append(pc.binary_join_element_wise(*columns, ","))
    return out


def _category_fields(column: pd.Series, pa: Any, pc: Any) -> tuple[Any, NDArray[np.intp]] | None:
    """A categorical column's fields: the text of each category and, last, the empty field of a
    missing value (a pyarrow string array), and each row's index into it; None unless every
    category is text (as :func:`_string_text`)."""
    dtype = column.dtype
    categories = _string_text(pd.Series(dtype.categories, dtype=object), pa, pc)
    if categories is None:
        return None
    codes = column.cat.codes.to_numpy()
    codes = np.where(codes < 0, len(dtype.categories), codes)  # missing: the empty field
    return pa.concat_arrays([categories, pa.array([""], pa.string())]), codes


class _CategoryRun:
    """Adjacent categorical columns written as one: each distinct combination of their fields
    (in a row) is joined once and taken for every row that holds it, while the combinations stay
    few (at most one in :data:`_RUN_REPEATS` rows: ``per_dose.csv``'s block id and drug names, or
    its units and method). The same text as joining each column's fields in every row, in
    fewer pyarrow passes over the rows."""

    def __init__(self, fields: Any, codes: NDArray[np.intp]) -> None:
        self.members = [(fields, codes)]
        self.codes, uniques = pd.factorize(codes, sort=False)
        self.n = len(uniques)

    def extend(self, fields: Any, codes: NDArray[np.intp]) -> bool:
        """Take in the next column if the combinations stay few (else False, unchanged)."""
        joint, uniques = pd.factorize(self.codes * np.int64(len(fields)) + codes, sort=False)
        if len(uniques) * _RUN_REPEATS > len(codes):
            return False
        self.members.append((fields, codes))
        self.codes, self.n = joint, len(uniques)
        return True

    def text(self, pc: Any) -> Any:
        """The run's fields of every row, joined by commas (a pyarrow string array)."""
        if len(self.members) == 1:
            fields, codes = self.members[0]
            return pc.take(fields, codes)
        first = np.empty(self.n, np.int64)  # the first row of each combination
        first[self.codes[::-1]] = np.arange(self.codes.size - 1, -1, -1)
        parts = [pc.take(fields, codes[first]) for fields, codes in self.members]
        return pc.take(pc.binary_join_element_wise(*parts, ","), self.codes)


#: :class:`_CategoryRun` joins adjacent categorical columns while each combination of their
#: values appears in this many rows on average.
_RUN_REPEATS = 8


def _column_text(column: pd.Series, pa: Any, pc: Any) -> Any:
    """One column as pandas' ``to_csv`` writes its fields (a pyarrow string array), or None."""
    dtype = column.dtype
    if dtype == np.float64:
        return _float_text(column.to_numpy(), pa, pc)
    if dtype == np.bool_:
        return pc.if_else(pa.array(column.to_numpy()), "True", "False")
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pc.cast(pa.array(column.to_numpy()), pa.string())
    if isinstance(dtype, pd.CategoricalDtype):
        categories = _string_text(pd.Series(dtype.categories, dtype=object), pa, pc)
        if categories is None:
            return None
        codes = column.cat.codes.to_numpy()
        codes = np.where(codes < 0, len(dtype.categories), codes)  # missing: the empty field
        return pc.take(pa.concat_arrays([categories, pa.array([""], pa.string())]), codes)
    if dtype == np.dtype(object) or isinstance(dtype, pd.StringDtype):
        return _string_text(column, pa, pc)
    return None


def _string_text(column: pd.Series, pa: Any, pc: Any) -> Any:
    """Text fields, quoted as Python's csv module quotes them (missing: empty), or None unless
    every value is a string (or missing) and none holds a carriage return."""
    if pd.api.types.infer_dtype(column, skipna=True) not in ("string", "empty"):
        return None
    values = pa.array(column.astype(object).to_numpy(), type=pa.string(), from_pandas=True)
    if pc.any(pc.match_substring(values, "\r")).as_py():
        return None  # whether "\r" is quoted depends on the Python version
    return _quoted(pc.fill_null(values, ""), pc)


def _quoted(values: Any, pc: Any) -> Any:
    """Fields holding a comma, a quote or a line feed in quotes (inner quotes doubled)."""
    needs = pc.match_substring_regex(values, '[,"\n]')
    if not pc.any(needs).as_py():
        return values
    doubled = pc.replace_substring(values, '"', '""')
    return pc.if_else(needs, pc.binary_join_element_wise('"', doubled, '"', ""), values)


def _float_text(values: NDArray[np.float64], pa: Any, pc: Any) -> Any:
    """Floats as :func:`_float_fields` writes them; a column made of runs of one value (fits.csv's
    ``rss``, one per parameter row of a curve; qc.csv's dose range) formats each run once."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    bits = x.view(np.int64)  # bit for bit: 0.0 and -0.0 are different runs
    starts = np.empty(x.size, np.bool_)
    starts[:1] = True
    np.not_equal(bits[1:], bits[:-1], out=starts[1:])
    runs = int(np.count_nonzero(starts))
    if runs * 2 > x.size:
        return _float_fields(x, pa, pc)
    run_of = np.cumsum(starts, dtype=np.int64) - 1
    return pc.take(_float_fields(x[starts], pa, pc), pa.array(run_of))


@functools.cache
def _arrow_exponent_bounds(pa: Any, pc: Any) -> bool:
    """Whether this pyarrow writes a finite float in exponent notation exactly when its
    magnitude is below 1e-6 or at least 1e10 (pyarrow 25 does; the notation follows the
    shortest digits' decimal point, so comparing the double with the double nearest the bound
    is exact); checked once on values at and around the bounds, else :func:`_float_fields`
    looks for the ``e`` in the text."""
    bounds = np.array([1e-6, 1e10, 1e-7, 1e9, 1.5e-6, 1.5e9, 1.5e10, 0.0, 5e-324, 1.7e308, 1.0])
    probe = np.concatenate([bounds, np.nextafter(bounds, 0.0), np.nextafter(bounds, np.inf)])
    probe = np.concatenate([probe, -probe])
    size = np.abs(probe)
    rule = (size != 0.0) & ((size < 1e-6) | (size >= 1e10))
    text = pc.cast(pa.array(probe), pa.string())
    return bool((pc.match_substring(text, "e").to_numpy(zero_copy_only=False) == rule).all())


def _float_fields(values: NDArray[np.float64], pa: Any, pc: Any) -> Any:
    """Floats as ``repr`` writes them (pandas' ``to_csv`` too: numpy's shortest round-trip
    digits in the same layout), NaN as the empty field.

    pyarrow gives the same shortest digits but its own layout (``1`` for 1.0, ``0.00001``,
    ``1.5e-7``); the digits are kept and laid out as ``repr``: ``.0`` added to an integral value
    in fixed notation, a one-digit exponent padded to two; a value pyarrow writes in the other
    notation than ``repr`` is formatted by ``repr`` itself."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    text = pc.cast(pa.array(x), pa.string())
    finite = np.isfinite(x)
    size = np.abs(np.where(finite, x, 1.0))
    fixed = finite & ((size == 0.0) | ((size >= 1e-4) & (size < 1e16)))
    if _arrow_exponent_bounds(pa, pc):  # pyarrow's notation, known from the magnitude
        exponent = finite & (size != 0.0) & ((size < 1e-6) | (size >= 1e10))
    else:
        exponent = pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
    # written without a decimal point in fixed notation: exactly the integral values
    integral = fixed & ~exponent & (np.trunc(np.where(finite, x, 0.5)) == x)
    short = finite & ~fixed & exponent  # 1.5e-7 -> 1.5e-07
    other = finite & (fixed == exponent)  # pyarrow chose the other notation
    nan = np.isnan(x)
    fix = integral | short | other | nan
    count = int(np.count_nonzero(fix))
    if count == 0:
        return text
    if count * 8 <= x.size:  # few: each by repr, the column rebuilt once
        fields = ["" if v != v else repr(v) for v in x[fix].tolist()]
        return pc.replace_with_mask(text, pa.array(fix), pa.array(fields, pa.string()))
    if integral.any():
        text = pc.replace_with_mask(
            text, pa.array(integral), pc.binary_join_element_wise(text.filter(integral), ".0", "")
        )
    if short.any():
        padded = pc.replace_substring_regex(text.filter(short), r"e([+-])(\d)$", r"e\10\2")
        text = pc.replace_with_mask(text, pa.array(short), padded)
    if other.any():
        text = pc.replace_with_mask(
            text, pa.array(other), pa.array([repr(v) for v in x[other].tolist()], pa.string())
        )
    if nan.any():
        text = pc.replace_with_mask(text, pa.array(nan), pa.array([""] * int(nan.sum())))
    return text
