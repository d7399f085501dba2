"""Fast, validating imzML reader: header metadata through pyimzML, spectra through memory maps.

The imzML XML has one ``<spectrum>`` element per pixel; pyimzML walks them with ``iterparse`` and
reads the ``.ibd`` one spectrum per Python call. Here the header (everything before
``<spectrumList>``) is parsed with ElementTree and handed to :class:`pyimzml.metadata.Metadata`.
The spectrum list is read from a memory map of the XML by one regular expression learnt from the
first spectrum (``_imzml_template.py``: one C-level pass, nothing compiled at first use); files
whose spectra are not all laid out alike go to a general compiled (numba) tokenizer
(``_imzml_scan.py``), which also words the errors for broken files. The ``.ibd`` is a numpy view
of an ``mmap``; ion images are binary searches over every pixel at once in numpy (continuous
files: one ``searchsorted`` and a gather), so no Python code runs per pixel.

Every offset and length is checked against the ``.ibd`` size before anything is read: a truncated
or corrupt file raises :class:`~leptotwin.errors.LeptotwinError` naming the first bad spectrum
instead of giving empty spectra (pyimzML returns zero-length arrays there).
"""

from __future__ import annotations

import math
import mmap
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leptotwin.analysis._imzml_template import count_spectra, learn_template, scan_with_template
from leptotwin.errors import LeptotwinError

__all__ = ["ImzMLFile", "read_imzml"]

_NS = "{http://psi.hupo.org/ms/mzml}"
_DTYPES = {
    "32-bit float": np.dtype("<f4"),
    "64-bit float": np.dtype("<f8"),
    "32-bit integer": np.dtype("<i4"),
    "64-bit integer": np.dtype("<i8"),
}
_SPEC_START = re.compile(rb"<spectrum[\s>/]")
_COUNT = re.compile(rb'<spectrumList\s[^>]*?\bcount="(\d+)"')
_CHUNK_ELEMENTS = 1 << 22  # elements gathered per block when reading whole spectra
#: Largest image grid (ny x nx pixels) a file may declare: one float64 ion image of this size
#: takes 800 MB. Larger grids come from corrupt positions or scan settings.
MAX_GRID_PIXELS = 100_000_000


@dataclass(eq=False)
class ImzMLFile:
    """An opened imzML/ibd pair.

    Attributes
    ----------
    path, ibd_path : pathlib.Path
    mode : {"continuous", "processed"}
    spectrum_type : {"centroid", "profile"} or None
    polarity : {"positive", "negative", "mixed"} or None
    coords : ndarray of shape (n_spectra, 3)
        (x, y, z) as written, 1-based; a missing z is 1 (as pyimzML).
    mz_offsets, mz_lengths, int_offsets, int_lengths : ndarray of shape (n_spectra,)
        Byte offsets into the ``.ibd`` and array lengths (elements).
    mz_dtype, int_dtype : numpy.dtype
        Little-endian storage types.
    shape : tuple of int
        (ny, nx) of the image grid: the scan settings' pixel counts, or the largest coordinates.
    pixel_size_um : tuple of float or None
        (x, y) pixel size in µm when the file states it.
    metadata : pyimzml.metadata.Metadata
        Header metadata (scan settings, instrument, samples) as pyimzML parses it.
    uuid, ibd_uuid : str
        The UUID of the XML header and the first 16 bytes of the ``.ibd`` (hex, upper case).
    """

    path: Path
    ibd_path: Path
    mode: str
    spectrum_type: str | None
    polarity: str | None
    coords: np.ndarray
    mz_offsets: np.ndarray
    mz_lengths: np.ndarray
    int_offsets: np.ndarray
    int_lengths: np.ndarray
    mz_dtype: np.dtype
    int_dtype: np.dtype
    shape: tuple[int, int]
    pixel_size_um: tuple[float, float] | None
    metadata: Any
    uuid: str
    ibd_uuid: str
    _buf: mmap.mmap = field(repr=False)
    _views: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ basics
    @property
    def n_spectra(self) -> int:
        return int(self.coords.shape[0])

    @property
    def shared_mz(self) -> bool:
        """True when every spectrum points at the same m/z array (continuous storage)."""
        return bool(
            self.n_spectra > 0
            and np.all(self.mz_offsets == self.mz_offsets[0])
            and np.all(self.mz_lengths == self.mz_lengths[0])
        )

    def close(self) -> None:
        """Release the memory map (arrays returned earlier stay valid: they are copies)."""
        self._views.clear()
        self._buf.close()

    def __enter__(self) -> ImzMLFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _view(self, dtype: np.dtype, residue: int) -> np.ndarray:
        key = (dtype.str, residue)
        if key not in self._views:
            n = (len(self._buf) - residue) // dtype.itemsize
            self._views[key] = np.frombuffer(self._buf, dtype=dtype, count=n, offset=residue)
        return self._views[key]

    def _gather(self, byte_offsets: np.ndarray, dtype: np.dtype) -> np.ndarray:
        """Values of ``dtype`` at arbitrary (validated) byte offsets, any alignment."""
        off = np.asarray(byte_offsets, dtype=np.int64)
        s = dtype.itemsize
        res = off % s
        if off.size == 0 or not res.any():  # all aligned: one gather
            return self._view(dtype, 0)[off // s]
        out = np.empty(off.shape, dtype=dtype)
        for r in _residues(res, s):
            sel = res == r
            out[sel] = self._view(dtype, r)[(off[sel] - r) // s]
        return out

    def spectrum(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(m/z, intensity) of one spectrum (copies, native dtypes)."""
        if not 0 <= index < self.n_spectra:
            raise LeptotwinError(
                "spectrum index out of range",
                source=str(self.path),
                value=index,
                expected=f"0 <= index < {self.n_spectra}",
            )
        mz = self._gather(
            self.mz_offsets[index] + np.arange(self.mz_lengths[index]) * self.mz_dtype.itemsize,
            self.mz_dtype,
        )
        it = self._gather(
            self.int_offsets[index] + np.arange(self.int_lengths[index]) * self.int_dtype.itemsize,
            self.int_dtype,
        )
        return mz, it

    def mz_range(self) -> tuple[float, float] | None:
        """Smallest and largest m/z acquired: over the first and last value of every non-empty
        m/z array (imzML stores them sorted); None when no spectrum holds a finite m/z."""
        has = self.mz_lengths > 0
        first = self.mz_offsets[has]
        last = first + (self.mz_lengths[has] - 1) * self.mz_dtype.itemsize
        ends = self._gather(np.concatenate([first, last]), self.mz_dtype).astype(np.float64)
        ends = ends[np.isfinite(ends)]
        return (float(ends.min()), float(ends.max())) if ends.size else None

    def to_image(self, values: np.ndarray, *, z: int = 1, fill: float = 0.0) -> np.ndarray:
        """Place per-spectrum values (..., n_spectra) on the (..., ny, nx) grid (pixels of plane
        ``z`` only; pixels without a spectrum get ``fill``)."""
        values = np.asarray(values)
        ny, nx = self.shape
        out = np.full((*values.shape[:-1], ny, nx), fill, dtype=np.result_type(values, fill))
        sel = self.coords[:, 2] == z
        x, y = self.coords[sel, 0] - 1, self.coords[sel, 1] - 1
        out[..., y, x] = values[..., sel]
        return out

    # ------------------------------------------------------------------ ion images
    def _mz_groups(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Spectra grouped by the alignment of their m/z array in the ``.ibd``: per group the
        byte residue ``r`` (offset mod itemsize), the spectrum indices and each spectrum's first
        element index in the ``(dtype, r)`` view."""
        if "_mz_groups" not in self._views:
            s = self.mz_dtype.itemsize
            res = self.mz_offsets % s
            self._views["_mz_groups"] = [
                (int(r), np.flatnonzero(res == r), (self.mz_offsets[res == r] - r) // s)
                for r in _residues(res, s)
            ]
        return self._views["_mz_groups"]

    def _lower_bounds(self, targets: np.ndarray) -> np.ndarray:
        """Per spectrum and target: index of the first m/z >= target, shape (n_spectra, k).

        A branch-free binary search run for all spectra and targets at once with numpy: every
        step halves each search range with one gather from the memory map (``ceil(log2(longest
        spectrum))`` steps). m/z arrays must be sorted ascending, as imzML requires.
        """
        n, k = self.n_spectra, targets.size
        out = np.zeros((n, k), dtype=np.int64)
        t = targets[None, :]
        for r, rows, base in self._mz_groups():
            view = self._view(self.mz_dtype, r)
            it = np.int32 if view.size < 2**31 - 1 else np.int64
            lens = self.mz_lengths[rows]
            # pos: element index (in view) of the lower end of each search range; size: its length
            pos = np.repeat(np.where(lens > 0, base, 0).astype(it)[:, None], k, axis=1)
            size = np.repeat(lens.astype(it)[:, None], k, axis=1)
            for _ in range(max(int(lens.max(initial=1)) - 1, 0).bit_length()):
                half = size >> 1
                go = view[pos + half] < t
                pos += half * go
                size -= half
            found = pos - base.astype(it)[:, None] + (view[pos] < t)
            out[rows] = np.where(lens[:, None] > 0, found, 0)
        return out

    def _window_sums(self, lo_t: np.ndarray, hi_t: np.ndarray) -> np.ndarray:
        """Sum of intensities with ``lo_t <= m/z <= hi_t`` per spectrum and window, float64 of
        shape (n_spectra, k): the first peak at or above ``lo_t`` by binary search, then the
        peaks up to ``hi_t`` one step at a time for all windows together (a window of a few ppm
        holds a handful of peaks, so this loop runs a few times)."""
        n, k = self.n_spectra, lo_t.size
        first = self._lower_bounds(lo_t)
        lens = self.mz_lengths
        lane = np.flatnonzero((first < lens[:, None]).ravel())  # windows with a peak >= lo
        spec = lane // k
        pos = first.ravel()[lane]
        out = np.zeros(n * k)
        hi_lane = np.broadcast_to(hi_t[None, :], (n, k)).ravel()
        ms, isz = self.mz_dtype.itemsize, self.int_dtype.itemsize
        while lane.size:
            mz = self._gather(self.mz_offsets[spec] + pos * ms, self.mz_dtype)
            keep = mz <= hi_lane[lane]
            lane, spec, pos = lane[keep], spec[keep], pos[keep]
            if not lane.size:
                break
            vals = self._gather(self.int_offsets[spec] + pos * isz, self.int_dtype)
            out[lane] += vals.astype(np.float64)  # lanes are distinct within a step
            pos = pos + 1
            more = pos < lens[spec]
            lane, spec, pos = lane[more], spec[more], pos[more]
        return out.reshape(n, k)

    def ion_images(
        self,
        mz: np.ndarray | list[float] | float,
        *,
        ppm: float | None = None,
        tol: float | None = None,
        z: int = 1,
    ) -> np.ndarray:
        """Summed intensity within ``mz ± tol`` (inclusive), one image per m/z.

        Parameters
        ----------
        mz : float or array of shape (k,)
        ppm : float, optional
            Tolerance in parts per million of each m/z (``tol = mz · ppm · 1e-6``).
        tol : float, optional
            Absolute tolerance in m/z units (pyimzML's ``getionimage(tol=)``). Give one of the two.
        z : int
            Plane for 3-D files (default 1, as pyimzML).

        Returns
        -------
        ndarray of shape (k, ny, nx)
            float64; pixels without a spectrum or without a peak in the window are 0.
        """
        targets = np.atleast_1d(np.asarray(mz, dtype=float))
        lo_t, hi_t = _windows(targets, ppm, tol)
        n = self.n_spectra
        if n == 0:
            return np.zeros((targets.size, *self.shape))
        with np.errstate(all="ignore"):  # garbage in a corrupt .ibd: checked below
            if not self.shared_mz:
                sums = self._window_sums(lo_t, hi_t)
            else:
                mz0, _ = self.spectrum(0)
                first = np.broadcast_to(np.searchsorted(mz0, lo_t, side="left"), (n, targets.size))
                last = np.broadcast_to(np.searchsorted(mz0, hi_t, side="right"), (n, targets.size))
                sums = self._sum_ranges(first, np.clip(last - first, 0, None))
        self._check_finite(sums, "intensities in the m/z window")
        return self.to_image(sums.T, z=z)

    def _check_finite(self, values: np.ndarray, what: str) -> None:
        """Refuse NaN or infinite sums (values of shape (n_spectra, ...)): a corrupt ``.ibd``
        (or values beyond float64) must not give an image."""
        bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail(
                self.ibd_path,
                f"spectrum {i} (x={self.coords[i, 0]}, y={self.coords[i, 1]}): {what} are not "
                "finite numbers (NaN or infinite); the .ibd is corrupt",
            )

    def _sum_ranges(self, first: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Sum of intensities[first : first + count] per (spectrum, target), float64."""
        flat_counts = counts.ravel()
        total = int(flat_counts.sum())
        out = np.zeros(flat_counts.size)
        if total == 0:
            return out.reshape(counts.shape)
        seg = np.repeat(np.arange(flat_counts.size), flat_counts)
        starts = np.cumsum(flat_counts) - flat_counts
        within = np.arange(total) - np.repeat(starts, flat_counts)
        spec = seg // counts.shape[1]
        elem = np.repeat(first.ravel(), flat_counts) + within
        vals = self._gather(
            self.int_offsets[spec] + elem * self.int_dtype.itemsize, self.int_dtype
        ).astype(np.float64)
        out += np.bincount(seg, weights=vals, minlength=flat_counts.size)
        return out.reshape(counts.shape)

    # ------------------------------------------------------------------ whole spectra
    def pixel_stats(self) -> dict[str, np.ndarray]:
        """Per spectrum: ``tic`` (sum of intensities), ``rms`` (root mean square intensity),
        ``n_points`` and ``max``; arrays of shape (n_spectra,). Reads every intensity once, in
        blocks of ~4 M values."""
        n = self.n_spectra
        tic, sq, mx = np.zeros(n), np.zeros(n), np.zeros(n)
        lens = self.int_lengths
        with np.errstate(all="ignore"):  # garbage in a corrupt .ibd: checked below
            self._intensity_blocks(tic, sq, mx)
            rms = np.where(lens > 0, np.sqrt(sq / np.maximum(lens, 1)), 0.0)
        self._check_finite(
            np.column_stack([tic, rms, mx]), "the intensities (sum, sum of squares or maximum)"
        )
        return {"tic": tic, "rms": rms, "n_points": lens.astype(np.int64), "max": mx}

    def _intensity_blocks(self, tic: np.ndarray, sq: np.ndarray, mx: np.ndarray) -> None:
        """Fill per-spectrum sum, sum of squares and maximum of the intensities (in place)."""
        n, lens = self.n_spectra, self.int_lengths
        start = 0
        while start < n:
            cum = np.cumsum(lens[start:])
            stop = start + max(1, int(np.searchsorted(cum, _CHUNK_ELEMENTS, side="right")))
            cl = lens[start:stop]
            tot = int(cl.sum())
            if tot:
                seg = np.repeat(np.arange(stop - start), cl)
                within = np.arange(tot) - np.repeat(np.cumsum(cl) - cl, cl)
                vals = self._gather(
                    self.int_offsets[start:stop][seg] + within * self.int_dtype.itemsize,
                    self.int_dtype,
                ).astype(np.float64)
                tic[start:stop] = np.bincount(seg, weights=vals, minlength=stop - start)
                sq[start:stop] = np.bincount(seg, weights=vals * vals, minlength=stop - start)
                has = cl > 0
                bounds = (np.cumsum(cl) - cl)[has]
                mx[start:stop][has] = np.maximum.reduceat(vals, bounds)
            start = stop


def _windows(targets: np.ndarray, ppm: float | None, tol: float | None) -> tuple[np.ndarray, ...]:
    """Lower and upper m/z of each window ``mz ± ppm`` (or ``± tol``), checked."""
    if (ppm is None) == (tol is None):
        raise LeptotwinError(
            "give exactly one of ppm and tol", source="ion_images", field="ppm/tol"
        )
    if targets.size == 0 or not np.all(np.isfinite(targets) & (targets > 0)):
        bad = targets[~(np.isfinite(targets) & (targets > 0))] if targets.size else targets
        raise LeptotwinError(
            "m/z must be positive finite numbers",
            source="ion_images",
            field="mz",
            value=[float(v) for v in bad[:3]] if bad.size else "none",
        )
    name, value = ("ppm", ppm) if ppm is not None else ("tol", tol)
    if not (math.isfinite(value) and value >= 0):
        raise LeptotwinError(
            f"{name} must be a finite number >= 0", source="ion_images", field=name, value=value
        )
    with np.errstate(over="ignore"):
        width = targets * (ppm * 1e-6) if ppm is not None else np.full(targets.size, float(tol))
        lo_t, hi_t = targets - width, targets + width
    if not (np.all(np.isfinite(lo_t)) and np.all(np.isfinite(hi_t))):
        i = int(np.argmax(~(np.isfinite(lo_t) & np.isfinite(hi_t))))
        raise LeptotwinError(
            f"the window m/z {targets[i]:g} ± {name} {value:g} is beyond floating point",
            source="ion_images",
            field="mz",
            value=float(targets[i]),
        )
    return lo_t, hi_t


# ---------------------------------------------------------------------- opening a file
def _residues(res: np.ndarray, itemsize: int) -> list[int]:
    """The distinct values of ``res`` (byte offsets mod ``itemsize``), ascending."""
    return [int(r) for r in np.flatnonzero(np.bincount(res.ravel(), minlength=itemsize))]


def _fail(path: Path, message: str, **kw: Any) -> LeptotwinError:
    return LeptotwinError(message, source=str(path), **kw)


def _find_ibd(path: Path) -> Path:
    for cand in path.parent.glob("*"):
        if cand.stem == path.stem and cand.suffix.lower() == ".ibd":
            return cand
    raise _fail(
        path,
        "the binary .ibd file of this imzML was not found",
        expected=f"{path.with_suffix('.ibd').name} beside it",
    )


def _read_header(path: Path) -> ET.Element:
    """Parse the XML up to ``<spectrumList>``; the header elements are complete by then."""
    root = None
    try:
        for _event, elem in ET.iterparse(path, events=("start",)):
            if root is None:
                root = elem
            if elem.tag == _NS + "spectrumList":
                return root
    except (ET.ParseError, LookupError, UnicodeError) as exc:  # LookupError: unknown encoding
        raise _fail(path, f"not a readable imzML (XML error: {exc})") from None
    raise _fail(path, "no <spectrumList> in the file; not an imzML file or truncated")


def _params(group: Any) -> set[str]:
    return set(group.param_by_name) if group is not None else set()


def _parse_metadata(path: Path, root: ET.Element) -> Any:
    """The header as :class:`pyimzml.metadata.Metadata`. pyimzML's warnings about unknown
    accessions or names that disagree with their accession (it keeps the accession's name) are
    not shown: the accessions this reader relies on are checked here."""
    from pyimzml.metadata import Metadata  # the header: pyimzML's own parser

    if root.find(f"{_NS}fileDescription/{_NS}fileContent") is None:
        raise _fail(
            path,
            "no <fileDescription><fileContent> in the header; not an imzML file",
            expected="an imzML file (mzML 1.1 with the imaging extension)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Metadata(root)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise _fail(path, f"the imzML header could not be read ({exc})") from None


def _array_types(path: Path, meta: Any) -> tuple[str, np.dtype, str, np.dtype]:
    """Group ids and storage types of the m/z and intensity arrays."""
    found: dict[str, tuple[str, np.dtype | None]] = {}
    for gid, g in meta.referenceable_param_groups.items():
        names = _params(g)
        for kind in ("m/z array", "intensity array"):
            if kind not in names:
                continue
            if "zlib compression" in names:
                raise _fail(path, "compressed binary arrays are not supported", field=str(gid))
            dts = [d for name, d in _DTYPES.items() if name in names]
            found[kind] = (str(gid), dts[0] if dts else None)
    (mz_group, mz_dtype), (int_group, int_dtype) = (
        found.get(k, ("", None)) for k in ("m/z array", "intensity array")
    )
    if mz_dtype is None or int_dtype is None:
        raise _fail(
            path,
            "could not find the m/z and intensity array types in referenceableParamGroupList",
            expected="groups with 'm/z array' / 'intensity array' and a binary data type",
        )
    return mz_group, mz_dtype, int_group, int_dtype


def _header_number(params: dict[str, Any], *names: str) -> float | None:
    """The first of ``names`` in a header group as a positive finite number, else None (absent
    or not a number: the caller falls back to what the spectra say)."""
    for name in names:
        value = params.get(name)
        if value is None or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number) and number > 0:
            return number
    return None


def _grid(path: Path, coords: np.ndarray, meta: Any) -> tuple[tuple[int, int], Any]:
    """(ny, nx) of the image grid and the pixel size (x, y) in µm (or None)."""
    sc = next(iter(meta.scan_settings.values()), None)
    sp = sc.param_by_name if sc is not None else {}
    dims = []
    for col, axis in ((1, "y"), (0, "x")):
        declared = _header_number(sp, f"max count of pixels {axis}")
        declared = int(declared) if declared is not None and declared.is_integer() else 0
        from_spectra = int(coords[:, col].max(initial=0))
        if max(declared, from_spectra) > MAX_GRID_PIXELS:
            which = f"max count of pixels {axis}" if declared > from_spectra else f"position {axis}"
            raise _fail(
                path,
                f"{which} of {max(declared, from_spectra)} pixels: the grid would not fit in "
                "memory; the positions or scan settings are corrupt",
                expected=f"an image grid of at most {MAX_GRID_PIXELS:,} pixels",
            )
        dims.append(max(declared, from_spectra))
    ny, nx = dims
    if ny * nx > MAX_GRID_PIXELS:
        raise _fail(
            path,
            f"an image grid of {ny} x {nx} pixels (y, x) would not fit in memory "
            f"({ny * nx * 8 / 1e9:.3g} GB per float64 ion image); the positions or scan settings "
            "are corrupt",
            expected=f"an image grid of at most {MAX_GRID_PIXELS:,} pixels",
        )
    px = _header_number(sp, "pixel size (x)", "pixel size x")
    py = _header_number(sp, "pixel size y")
    return (ny, nx), ((px, py) if px is not None and py is not None else None)


def _check_ranges(
    ibd: Path, size: int, coords: np.ndarray, arrays: tuple[np.ndarray, ...], dtypes: tuple
) -> None:
    """Every array lies inside the ``.ibd`` after its UUID (no overflow in the test)."""
    mzo, mzl, ino, inl = arrays
    for what, off, ln, dt in (
        ("m/z", mzo, mzl, dtypes[0]),
        ("intensity", ino, inl, dtypes[1]),
    ):
        room = (size - np.clip(off, 0, size)) // dt.itemsize  # whole values from off to the end
        bad = (off < 16) | (off > size) | (ln < 0) | (ln > room)
        if bad.any():
            i = int(np.argmax(bad))
            raise _fail(
                ibd,
                f"spectrum {i} (x={coords[i, 0]}, y={coords[i, 1]}): {what} array at byte "
                f"{off[i]} with {ln[i]} values of {dt.itemsize} bytes reaches past the end of the "
                f"file ({size} bytes) or into its 16-byte UUID; the .ibd is truncated or does "
                "not belong to this imzML",
            )


def read_imzml(path: str | Path) -> ImzMLFile:
    """Open an imzML file (continuous or processed) and validate it against its ``.ibd``.

    Parameters
    ----------
    path : str or Path
        The ``.imzML`` file; the ``.ibd`` with the same stem must sit beside it.

    Returns
    -------
    ImzMLFile
        Use as a context manager (or call ``close()``) to release the memory map.

    Raises
    ------
    LeptotwinError
        Missing files; XML that is not imzML or is cut short (fewer spectra than the
        ``spectrumList`` count); compressed or unknown binary types; a spectrum without position
        or array references; m/z and intensity arrays of different length; any array reaching
        past the end of the ``.ibd`` (truncated file); an image grid larger than
        :data:`MAX_GRID_PIXELS`.
    """
    path = Path(path)
    if path.is_dir():
        raise _fail(path, "is a folder, not an imzML file", expected="the path of a .imzML file")
    if not path.is_file():
        raise _fail(path, "imzML file not found")
    ibd = _find_ibd(path)
    meta = _parse_metadata(path, _read_header(path))
    mz_group, mz_dtype, int_group, int_dtype = _array_types(path, meta)
    content = _params(meta.file_description)
    mode = "processed" if "processed" in content else "continuous"
    if "continuous" not in content and "processed" not in content:
        raise _fail(path, "the file does not say whether it is continuous or processed")
    all_params = set().union(*(_params(g) for g in meta.referenceable_param_groups.values()))
    all_params |= content
    spec_type = (
        "profile"
        if "profile spectrum" in all_params
        else ("centroid" if "centroid spectrum" in all_params else None)
    )
    pos, neg = "positive scan" in all_params, "negative scan" in all_params
    polarity = "mixed" if pos and neg else ("positive" if pos else ("negative" if neg else None))
    uuid = meta.file_description.param_by_name.get("universally unique identifier", "")
    uuid = uuid if isinstance(uuid, str) else ""

    size = ibd.stat().st_size
    if size < 16:
        raise _fail(ibd, "the .ibd file is empty or shorter than its 16-byte UUID", value=size)
    arrays = _spectrum_list(path, size, mz_group, int_group, (mz_dtype, int_dtype))
    coords, mzo, mzl, ino, inl = arrays
    _check_ranges(ibd, size, coords, (mzo, mzl, ino, inl), (mz_dtype, int_dtype))
    if np.any(mzl != inl):
        i = int(np.argmax(mzl != inl))
        raise _fail(
            path,
            f"spectrum {i}: m/z and intensity arrays differ in length ({mzl[i]} vs {inl[i]})",
        )
    shape, pixel = _grid(path, coords, meta)
    buf = _map(ibd, populate=False)
    return ImzMLFile(
        path=path,
        ibd_path=ibd,
        mode=mode,
        spectrum_type=spec_type,
        polarity=polarity,
        coords=coords,
        mz_offsets=mzo,
        mz_lengths=mzl,
        int_offsets=ino,
        int_lengths=inl,
        mz_dtype=mz_dtype,
        int_dtype=int_dtype,
        shape=shape,
        pixel_size_um=pixel,
        metadata=meta,
        uuid=uuid.strip("{}").replace("-", "").upper(),
        ibd_uuid=buf[:16].hex().upper(),
        _buf=buf,
    )


def _spectrum_list(
    path: Path, size: int, mz_group: str, int_group: str, dtypes: tuple[np.dtype, np.dtype]
) -> tuple[np.ndarray, ...]:
    """Positions, offsets and lengths of every spectrum: the template learnt from the first
    spectrum when it accounts for all of them, else the general tokenizer."""
    xml = _map(path, populate=True)  # read end to end: map every page at once
    try:
        start = xml.find(b"<spectrumList")
        mcount = _COUNT.search(xml, max(start, 0))
        declared = int(mcount.group(1)) if mcount else None
        fast = _scan_fast(xml, start, mz_group, int_group, declared)
        if fast is not None:
            arrays = _check_arrays(path, *fast)
            # every spectrum matched once: the arrays tile the .ibd, or the <spectrum> tags
            # number as many as the matches (one more pass over the XML)
            if _tiles(arrays[1:], size, *dtypes) or count_spectra(xml, start) == declared:
                return arrays
        return _check_arrays(path, *_scan_general(path, xml, start, mz_group, int_group, declared))
    finally:
        xml.close()


def _fix_offsets(v: np.ndarray) -> np.ndarray:
    """Undo signed 32-bit overflow of offsets written by some converters (as pyimzML does):
    each switch from a non-negative to a negative value adds 2**32 from there on."""
    if not np.any(v < 0):
        return v
    prev = np.concatenate([[np.int64(-1)], v[:-1]])
    return v + np.cumsum((v < 0) & (prev >= 0)) * (1 << 32)


def _map(path: Path, *, populate: bool) -> mmap.mmap:
    """Read-only memory map of a whole file; ``populate`` maps every page up front (Linux
    ``MAP_POPULATE``: one call instead of a page fault per 4 KiB page touched)."""
    with open(path, "rb") as fh:
        if populate and hasattr(mmap, "MAP_POPULATE"):
            return mmap.mmap(
                fh.fileno(), 0, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE, prot=mmap.PROT_READ
            )
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def _scan_fast(
    xml: mmap.mmap, start: int, mz_group: str, int_group: str, declared: int | None
) -> tuple[np.ndarray, ...] | None:
    """The spectrum list read with a template learnt from its first spectrum
    (``_imzml_template``); ``None`` when that does not apply to every spectrum."""
    if declared is None or start < 0:
        return None
    first = _SPEC_START.search(xml, start)
    if first is None:
        return None
    end = xml.find(b"</spectrum>", first.start())
    if end < 0:
        return None
    template = learn_template(xml[first.start() : end + 11], mz_group, int_group)
    if template is None:
        return None
    return scan_with_template(xml, start, template, declared)


def _scan_general(
    path: Path, xml: mmap.mmap, start: int, mz_group: str, int_group: str, declared: int | None
) -> tuple[np.ndarray, ...]:
    """The spectrum list read by the general compiled tokenizer (any attribute order, any
    layout per spectrum); raises for a truncated or corrupt list."""
    from leptotwin.analysis._imzml_scan import STATUS_MESSAGES, scan_spectrum_list

    if start < 0:
        raise _fail(path, "no <spectrumList> in the file; not an imzML file or truncated")
    # room for every <spectrum> tag there is (a declared count beyond that is reported below,
    # not allocated)
    n_tags = len(_SPEC_START.findall(xml, start))
    n_max = n_tags if declared is None else min(declared, n_tags)
    body = np.frombuffer(xml, dtype=np.uint8)[start:]
    try:
        pos, arrays, counts, n, status, where = scan_spectrum_list(body, mz_group, int_group, n_max)
    finally:
        del body
    if status:
        raise _fail(path, STATUS_MESSAGES[status].format(i=where) + "; the file is corrupt")
    if declared is not None and n != declared:
        raise _fail(
            path,
            f"the spectrum list declares {declared} spectra but holds {n}; the file is truncated "
            "or corrupt",
        )
    pos, arrays, counts = pos[:n], arrays[:n], counts[:n]
    if np.any(counts != 1):
        i, t = np.argwhere(counts != 1)[0]
        name = ("m/z", "intensity")[t]
        raise _fail(path, f"spectrum {i} has {counts[i, t]} {name} arrays (expected exactly 1)")
    return pos.copy(), arrays[:, 0, 0], arrays[:, 0, 1], arrays[:, 1, 0], arrays[:, 1, 1]


def _check_arrays(
    path: Path,
    coords: np.ndarray,
    mzo: np.ndarray,
    mzl: np.ndarray,
    ino: np.ndarray,
    inl: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Check positions and lengths; undo 32-bit offset overflow. Arrays of shape (n,) and
    (n, 3) for ``coords``."""
    if np.any(coords[:, :2] < 1):
        i = int(np.argmax(np.any(coords[:, :2] < 1, axis=1)))
        raise _fail(path, f"spectrum {i} has no valid position x/y (positions are 1-based)")
    if np.any(mzl < 0) | np.any(inl < 0):
        i = int(np.argmax((mzl < 0) | (inl < 0)))
        raise _fail(path, f"spectrum {i}: an array has no external length")
    return coords, _fix_offsets(mzo), mzl, _fix_offsets(ino), inl


def _tiles(
    arrays: tuple[np.ndarray, ...], size: int, mz_dtype: np.dtype, int_dtype: np.dtype
) -> bool:
    """True when the arrays (``mz_offsets, mz_lengths, int_offsets, int_lengths``) cover the
    ``.ibd`` after its 16-byte UUID exactly, end to end, without gaps or partial overlaps
    (identical ranges, such as the shared m/z array of a continuous file, count once)."""
    mzo, mzl, ino, inl = arrays
    # interleaved (m/z 0, intensity 0, m/z 1, ...): already sorted for the usual processed layout
    off = np.column_stack([mzo, ino]).ravel()
    nbytes = np.column_stack([mzl * mz_dtype.itemsize, inl * int_dtype.itemsize]).ravel()
    keep = nbytes > 0
    off, nbytes = off[keep], nbytes[keep]
    if off.size == 0:
        return size == 16
    if np.any(off[1:] < off[:-1]):  # not already in file order (a continuous file, say)
        order = np.lexsort((nbytes, off))
        off, nbytes = off[order], nbytes[order]
    same = np.concatenate([[False], (off[1:] == off[:-1]) & (nbytes[1:] == nbytes[:-1])])
    off, end = off[~same], (off + nbytes)[~same]
    return bool(off[0] == 16 and end[-1] == size and np.all(off[1:] == end[:-1]))
