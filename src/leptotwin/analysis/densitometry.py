"""Densitometry of western blots and membrane (phospho-RTK) arrays, on real scans.

Scripted and reproducible where ImageJ's Gel Analyzer is manual: every lane box and band box is
returned in the result table and can be drawn on the image (:func:`write_annotated`).

Blots
-----
1. :func:`read_image` reads TIFF, PNG or JPEG (8- or 16-bit, grey or RGB/RGBA → luminance),
   decides whether the bands are dark on a light background (film scans, inverted
   chemiluminescence) or light on dark (raw chemiluminescence) and inverts the first kind so that
   signal is positive. Pixels at the end of the scale (0 on a film scan, the maximum on a raw
   image) are marked saturated.
2. :func:`subtract_background`: ``"tophat"`` (white top-hat: grey opening with a flat square of
   side ``2 x radius + 1`` px after a Gaussian smoothing of 1 px; removes everything narrower
   than the square in either direction, so ``radius`` must exceed the half-height of the tallest
   band; default 20 px), ``"rolling_ball"`` (scikit-image's rolling ball of ``radius`` px, as
   ImageJ's *Subtract Background*; slower), ``"lane"`` (per band, a straight baseline between
   the lane profile at the band's upper and lower edge, as drawn by hand in ImageJ) or ``"none"``.
3. :func:`detect_lanes`: peaks of the column profile (the ``n_lanes`` most prominent; lanes may
   be jittered, not evenly spaced) or ``method="equal"`` (equal division of the width).
4. :func:`quantify_bands`: per lane, the row profile (sum over the lane box) inside an optional
   row window; band = peak of the profile, band box = rows where the profile stays above
   ``edge_fraction`` of the peak height; volume = sum of the background-subtracted pixels in the
   band box (grey level x px, "au").
5. :func:`quantify_blot` does 3-4 for several antibody strips of one membrane with the same
   lanes; :func:`normalise_bands` divides a target by a loading control (β-actin) or by the total
   protein (pEGFR/EGFR) lane by lane and relative to a reference lane.

Arrays
------
:func:`read_array_layout` reads a layout CSV (``receptor, row, col`` and optionally ``kind``,
``x_px``, ``y_px``; ``# key: value`` header lines for ``pitch_px``, ``origin_x_px``,
``origin_y_px`` and ``spot_radius_px``). :func:`quantify_array` places the spots (from the
layout, from arguments, or by fitting the grid to the reference spots), integrates a circle of
``spot_radius_px`` around each spot minus the median of an annulus around it, and
:func:`summarise_array` averages duplicates and normalises to the mean reference spot;
:func:`compare_arrays` gives the relative change between two membranes.

This module never imports the model, the assays or the study.
"""

from __future__ import annotations

import io
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.signal import find_peaks

from leptotwin._fileio import atomic_write
from leptotwin.errors import LeptotwinError

__all__ = [
    "ArrayLayout",
    "BlotImage",
    "compare_arrays",
    "detect_lanes",
    "normalise_bands",
    "quantify_array",
    "quantify_bands",
    "quantify_blot",
    "read_array_layout",
    "read_image",
    "subtract_background",
    "summarise_array",
    "write_annotated",
]

BACKGROUND_METHODS = ("tophat", "rolling_ball", "lane", "none")
POLARITIES = ("auto", "dark-on-light", "light-on-dark")
LANE_COLUMNS = ("lane", "center_px", "col0_px", "col1_px")
BAND_COLUMNS = (
    "lane", "band", "detected", "center_row_px", "row0_px", "row1_px", "col0_px", "col1_px",
    "volume_au", "background_au", "peak_au", "n_saturated_px", "saturated",
)  # fmt: skip
_REF_NAMES = {"reference", "ref", "reference spots", "positive control", "pos"}
_NEG_NAMES = {"pbs", "negative", "negative control", "neg", "blank"}


@dataclass(frozen=True)
class BlotImage:
    """A scan ready for densitometry.

    Attributes
    ----------
    signal : ndarray of shape (M, N), float64
        Signal-positive intensities in grey levels of the file (for RGB input: fraction of full
        scale, 0-1).
    full_scale : float
        The grey level of a saturated pixel in ``signal`` (65535 for 16-bit, 255 for 8-bit, 1.0
        for RGB or float images in 0-1; ``inf`` for float images outside 0-1: no saturation).
    inverted : bool
        True when the file showed dark bands on a light background.
    saturated : ndarray of shape (M, N), bool
        Pixels at the end of the scale.
    source : str
        File name or ``"<array>"``.
    """

    signal: np.ndarray
    full_scale: float
    inverted: bool
    saturated: np.ndarray
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.signal.shape  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
# reading


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise LeptotwinError("image file not found", source=str(path))
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            return np.asarray(tifffile.imread(io.BytesIO(path.read_bytes())))
        import imageio.v3 as iio

        data = path.read_bytes()  # imageio leaves the file open when a plugin fails
        return np.asarray(iio.imread(data, extension=path.suffix.lower() or None))
    except LeptotwinError:
        raise
    except Exception as exc:
        raise LeptotwinError(
            f"unreadable image file ({type(exc).__name__})",
            source=str(path),
            expected="a TIFF, PNG or JPEG image",
        ) from exc


def read_image(
    image: str | os.PathLike[str] | np.ndarray | BlotImage,
    *,
    polarity: str = "auto",
    saturation_level: float | None = None,
) -> BlotImage:
    """Read a scan and make its signal positive.

    Parameters
    ----------
    image : path, ndarray of shape (M, N) or (M, N, 3|4), or BlotImage
        A TIFF/PNG/JPEG file or an array (uint8, uint16, other integers or float).
    polarity : {"auto", "dark-on-light", "light-on-dark"}
        ``"auto"``: the background is the majority of pixels, so an image whose median lies
        above the middle of its 1st-99th percentile range is dark-on-light and is inverted
        (``signal = full_scale - value``).
    saturation_level : float, optional
        Grey level (of the file, before inversion) at which the detector saturates; defaults to
        the end of the scale (0 for dark-on-light, the dtype maximum for light-on-dark).

    Returns
    -------
    BlotImage

    Raises
    ------
    LeptotwinError
        Missing or unreadable file, an image with no pixels, more than 2 dimensions (other
        than RGB/RGBA), non-finite values, an unknown polarity.
    """
    if isinstance(image, BlotImage):
        return image
    if polarity not in POLARITIES:
        raise LeptotwinError(
            "unknown polarity", source="read_image", field="polarity", value=polarity,
            expected="one of " + ", ".join(POLARITIES),
        )  # fmt: skip
    if isinstance(image, np.ndarray):
        raw, source = image, "<array>"
    else:
        path = Path(image)
        raw, source = _load(path), path.name
    if raw.size == 0:
        raise LeptotwinError("empty image (no pixels)", source=source, value=raw.shape)
    raw = np.squeeze(raw) if raw.ndim > 2 and 1 in raw.shape[:-1] else raw
    if raw.dtype == bool:
        raw = raw.astype(np.uint8) * 255
    if raw.ndim == 3 and raw.shape[-1] in (3, 4):
        if np.issubdtype(raw.dtype, np.integer):
            rgb = raw[..., :3].astype(float) / float(np.iinfo(raw.dtype).max)
        else:
            rgb = raw[..., :3].astype(float)
        gray = rgb @ np.array([0.2125, 0.7154, 0.0721])  # skimage.color.rgb2gray weights
        full = 1.0 if np.nanmax(gray) <= 1.0 else math.inf
    elif raw.ndim == 2:
        gray = raw.astype(float)
        if np.issubdtype(raw.dtype, np.integer):
            full = float(np.iinfo(raw.dtype).max)
        else:
            full = 1.0 if (np.nanmin(gray) >= 0 and np.nanmax(gray) <= 1.0) else math.inf
    else:
        raise LeptotwinError(
            "image must be 2-D grey or RGB/RGBA",
            source=source,
            value=raw.shape,
            expected="shape (M, N) or (M, N, 3|4)",
        )
    if gray.shape[0] == 0 or gray.shape[1] == 0:
        raise LeptotwinError("empty image (no pixels)", source=source, value=gray.shape)
    if not np.all(np.isfinite(gray)):
        raise LeptotwinError("image holds NaN or infinite values", source=source)
    if polarity == "auto":
        p1, p99 = np.percentile(gray, [1, 99])
        inverted = bool(np.median(gray) > 0.5 * (p1 + p99)) and p99 > p1
    else:
        inverted = polarity == "dark-on-light"
    top = full if math.isfinite(full) else float(gray.max())
    signal = top - gray if inverted else gray.copy()
    if saturation_level is not None:
        sat_level = (top - saturation_level) if inverted else float(saturation_level)
        saturated = signal >= sat_level
    elif math.isfinite(full):
        if raw.ndim == 3 and raw.shape[-1] in (3, 4):
            # RGB: saturated where every colour channel sits at the end of the scale
            lim = float(np.iinfo(raw.dtype).max) if np.issubdtype(raw.dtype, np.integer) else 1.0
            chan = raw[..., :3]
            saturated = np.all(chan <= 0, axis=-1) if inverted else np.all(chan >= lim, axis=-1)
        else:
            saturated = signal >= full
    else:
        saturated = np.zeros(gray.shape, bool)
    return BlotImage(
        signal=signal, full_scale=top, inverted=inverted, saturated=saturated, source=source
    )


# --------------------------------------------------------------------------------------------
# background


def subtract_background(
    signal: np.ndarray, *, method: str = "tophat", radius: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate and remove a smooth background.

    Parameters
    ----------
    signal : ndarray of shape (M, N)
        Signal-positive image (``BlotImage.signal``).
    method : {"tophat", "rolling_ball", "none"}
        See the module docstring (``"lane"`` is applied per band by :func:`quantify_bands`; here
        it behaves as ``"none"``).
    radius : float
        Half-side of the top-hat square or radius of the rolling ball, px.

    Returns
    -------
    corrected, background : ndarray of shape (M, N)
        ``corrected = signal - background``; the background never exceeds the signal's smooth
        floor (top-hat) or the signal (rolling ball).
    """
    if method not in BACKGROUND_METHODS:
        raise LeptotwinError(
            "unknown background method", source="subtract_background", field="method",
            value=method, expected="one of " + ", ".join(BACKGROUND_METHODS),
        )  # fmt: skip
    if method in ("tophat", "rolling_ball") and not (math.isfinite(radius) and radius >= 1):
        raise LeptotwinError(
            "background radius must be >= 1 px", source="subtract_background", field="radius",
            value=radius,
        )  # fmt: skip
    signal = np.asarray(signal, float)
    if method in ("none", "lane"):
        background = np.zeros_like(signal)
    else:
        smooth = ndimage.gaussian_filter(signal, 1.0, mode="nearest")
        if method == "tophat":
            side = 2 * round(radius) + 1
            background = ndimage.grey_opening(smooth, size=(side, side), mode="nearest")
            background = ndimage.uniform_filter(background, size=max(side // 4, 1), mode="nearest")
        else:
            from skimage.restoration import rolling_ball

            background = rolling_ball(smooth, radius=float(radius))
        background = background + _noise_floor_lift(signal - background)
    return signal - background, background


def _noise_floor_lift(residual: np.ndarray) -> float:
    """How far an opening of a noisy image sits below the mean of its background pixels.

    Pixels of bands (smoothed residual above 2 robust SDs, dilated by 3 px) are left out; the
    median of the rest is the lift (never negative)."""
    smooth = ndimage.gaussian_filter(residual, 2.0, mode="nearest")
    med = float(np.median(smooth))
    sd = 1.4826 * float(np.median(np.abs(smooth - med)))
    band = ndimage.binary_dilation(smooth > med + 2.0 * sd, iterations=3) if sd > 0 else None
    rest = residual if band is None or band.all() else residual[~band]
    return max(float(np.median(rest)), 0.0)


# --------------------------------------------------------------------------------------------
# lanes and bands


def _rows(rows: tuple[int, int] | None, n_rows: int, source: str) -> tuple[int, int]:
    if rows is None:
        return 0, n_rows - 1
    r0, r1 = int(rows[0]), int(rows[1])
    if not (0 <= r0 <= r1 < n_rows):
        raise LeptotwinError(
            "row window outside the image", source=source, field="rows", value=(r0, r1),
            expected=f"0 <= row0 <= row1 <= {n_rows - 1}",
        )  # fmt: skip
    return r0, r1


def detect_lanes(
    signal: np.ndarray,
    n_lanes: int,
    *,
    method: str = "auto",
    rows: tuple[int, int] | None = None,
    lane_width: float | None = None,
) -> pd.DataFrame:
    """Find ``n_lanes`` lanes.

    Parameters
    ----------
    signal : ndarray of shape (M, N)
        Background-subtracted, signal-positive image.
    n_lanes : int
    method : {"auto", "equal"}
        ``"auto"``: the ``n_lanes`` most prominent peaks of the column profile (mean over
        ``rows``, smoothed); lane width 0.8 x the median distance between neighbouring lanes.
        ``"equal"``: the width divided into ``n_lanes`` equal lanes.
    rows : (int, int), optional
        Inclusive row window for the profile.
    lane_width : float, optional
        Lane box width in px (overrides the default).

    Returns
    -------
    DataFrame
        ``lane`` (1-based, left to right), ``center_px``, ``col0_px``, ``col1_px`` (inclusive).

    Raises
    ------
    LeptotwinError
        ``n_lanes`` < 1 or wider than the image, fewer lanes found than asked for, unknown
        method.
    """
    src = "detect_lanes"
    n_rows, n_cols = signal.shape
    if isinstance(n_lanes, bool) or not isinstance(n_lanes, (int, np.integer)) or n_lanes < 1:
        raise LeptotwinError("n_lanes must be a positive integer", source=src, value=n_lanes)
    if n_lanes > n_cols // 2:
        raise LeptotwinError(
            "more lanes than the image is wide",
            source=src,
            field="n_lanes",
            value=int(n_lanes),
            expected=f"at most {n_cols // 2} lanes for an image {n_cols} px wide",
        )
    if method not in ("auto", "equal"):
        raise LeptotwinError(
            "unknown lane method", source=src, field="method", value=method,
            expected="auto or equal",
        )  # fmt: skip
    r0, r1 = _rows(rows, n_rows, src)
    if method == "equal":
        pitch = n_cols / n_lanes
        centers = (np.arange(n_lanes) + 0.5) * pitch
        width = lane_width if lane_width is not None else pitch
    else:
        profile = np.clip(signal[r0 : r1 + 1], 0, None).mean(axis=0)
        profile = ndimage.gaussian_filter1d(profile, max(1.0, n_cols / n_lanes / 8), mode="nearest")
        if not np.any(profile > 0) or np.ptp(profile) <= 0:
            raise LeptotwinError(
                "no lanes found: the image has no signal above background",
                source=src,
                expected="an image with bands, or method='equal'",
            )
        peaks, props = find_peaks(
            profile, distance=max(1.0, 0.35 * n_cols / n_lanes), prominence=0.02 * profile.max()
        )
        if len(peaks) < n_lanes:
            raise LeptotwinError(
                f"found only {len(peaks)} lanes",
                source=src,
                field="n_lanes",
                value=int(n_lanes),
                expected="method='equal', explicit lane_centers, or fewer lanes",
            )
        keep = np.sort(peaks[np.argsort(props["prominences"])[::-1][:n_lanes]])
        edges = [0] + [
            a + int(np.argmin(profile[a : b + 1])) for a, b in itertools.pairwise(keep)
        ] + [n_cols - 1]  # fmt: skip
        centers = np.array(
            [_half_max_centre(profile, int(p), edges[i], edges[i + 1]) for i, p in enumerate(keep)]
        )
        if lane_width is not None:
            width = lane_width
        elif n_lanes > 1:
            width = 0.8 * float(np.median(np.diff(centers)))
        else:
            width = 0.8 * n_cols
    return _lane_table(centers, width, n_cols, src)


def _half_max_centre(profile: np.ndarray, peak: int, left: int, right: int) -> float:
    """Midpoint of the contiguous run above half the peak height (robust for flat tops),
    searched between the valleys ``left`` and ``right`` towards the neighbouring lanes."""
    floor = float(profile[left : right + 1].min())
    half = floor + 0.5 * (profile[peak] - floor)
    lo = peak
    while lo > left and profile[lo - 1] > half:
        lo -= 1
    hi = peak
    while hi < right and profile[hi + 1] > half:
        hi += 1
    return 0.5 * (lo + hi)


def _lane_table(centers: np.ndarray, width: float, n_cols: int, src: str) -> pd.DataFrame:
    if not (math.isfinite(width) and width >= 1):
        raise LeptotwinError("lane width must be >= 1 px", source=src, value=width)
    half = (width - 1) / 2.0
    c0 = np.clip(np.floor(centers - half + 0.5), 0, n_cols - 1).astype(int)
    c1 = np.clip(np.floor(centers + half + 0.5), 0, n_cols - 1).astype(int)
    return pd.DataFrame(
        {"lane": np.arange(1, len(centers) + 1), "center_px": centers, "col0_px": c0, "col1_px": c1}
    )


def _extent(profile: np.ndarray, peak: int, level: float) -> tuple[int, int]:
    """Walk out from ``peak`` while the profile stays above ``level`` and keeps falling."""
    lo = peak
    while (
        lo > 0
        and profile[lo - 1] > level
        and profile[lo - 1] <= profile[lo] + 1e-12 * abs(profile[lo])
    ):
        lo -= 1
    hi = peak
    n = len(profile)
    while (
        hi < n - 1
        and profile[hi + 1] > level
        and profile[hi + 1] <= profile[hi] + 1e-12 * abs(profile[hi])
    ):
        hi += 1
    return lo, hi


def _lanes_at(
    lane_centers: Sequence[float], lane_width: float | None, n_cols: int, src: str
) -> pd.DataFrame:
    """The lane table for known lane centres (px); width ``lane_width`` or 0.8 x the median
    spacing of the centres."""
    centers = np.asarray(lane_centers, float)
    if centers.size == 0 or np.any(centers < 0) or np.any(centers > n_cols - 1):
        raise LeptotwinError(
            "lane centres outside the image", source=src, field="lane_centers",
            value=list(centers), expected=f"values in 0..{n_cols - 1}",
        )  # fmt: skip
    if lane_width is not None:
        width = lane_width
    elif len(centers) > 1:
        width = 0.8 * float(np.median(np.diff(np.sort(centers))))
    else:
        width = 0.8 * n_cols
    return _lane_table(centers, width, n_cols, src)


def quantify_bands(
    image: str | os.PathLike[str] | np.ndarray | BlotImage,
    n_lanes: int | None = None,
    *,
    rows: tuple[int, int] | None = None,
    lanes: pd.DataFrame | None = None,
    lane_method: str = "auto",
    lane_centers: list[float] | None = None,
    lane_width: float | None = None,
    background: str = "tophat",
    radius: float = 20.0,
    polarity: str = "auto",
    all_bands: bool = False,
    min_prominence: float = 0.05,
    edge_fraction: float = 0.05,
    pad: int = 1,
) -> pd.DataFrame:
    """Integrate the band(s) of each lane.

    Parameters
    ----------
    image : path, ndarray or BlotImage
        The scan (see :func:`read_image`).
    n_lanes : int, optional
        Number of lanes to detect (not needed with ``lanes`` or ``lane_centers``).
    rows : (int, int), optional
        Inclusive row window (one antibody strip); the whole height by default.
    lanes : DataFrame, optional
        A lane table from :func:`detect_lanes` (reused across strips).
    lane_method : {"auto", "equal"}
    lane_centers : list of float, optional
        Lane centres in px, when lanes are known.
    lane_width : float, optional
        Lane box width, px.
    background : {"tophat", "rolling_ball", "lane", "none"}
    radius : float
        Background radius, px (``"tophat"``, ``"rolling_ball"``).
    polarity : {"auto", "dark-on-light", "light-on-dark"}
    all_bands : bool
        False (default): one band per lane, the strongest peak; lanes without a peak above
        ``min_prominence`` get the median band position of the others (``detected`` False).
        True: every peak above ``min_prominence`` (band numbered from the top).
    min_prominence : float
        Fraction of the largest band peak (over all lanes) a peak must reach.
    edge_fraction : float
        The band box ends where the profile falls below this fraction of the peak height
        (or at a local minimum). In single-band mode every lane gets the median box height.
    pad : int
        Rows added on each side of the band box.

    Returns
    -------
    DataFrame
        One row per lane (and band): ``lane, band, detected, center_row_px, row0_px, row1_px,
        col0_px, col1_px`` (boxes inclusive, px), ``volume_au`` (background-subtracted sum over
        the box, grey level x px), ``background_au`` (the background removed from the box, grey
        level x px), ``peak_au`` (largest background-subtracted pixel, grey level),
        ``n_saturated_px`` and ``saturated`` (any pixel of the box at the end of the scale).

    Raises
    ------
    LeptotwinError
        Unreadable or empty image, a row window outside the image, bad lanes (see
        :func:`detect_lanes`), lane centres outside the image.
    """
    src = "quantify_bands"
    img = read_image(image, polarity=polarity)
    n_rows, n_cols = img.shape
    r0, r1 = _rows(rows, n_rows, src)
    corrected, bg = subtract_background(img.signal, method=background, radius=radius)
    # lanes and bands are found on a top-hat image whatever the quantification background
    if background == "tophat":
        found_on = corrected
    else:
        found_on = subtract_background(img.signal, method="tophat", radius=radius)[0]
    if lanes is None:
        if lane_centers is not None:
            lanes = _lanes_at(lane_centers, lane_width, n_cols, src)
        else:
            if n_lanes is None:
                raise LeptotwinError(
                    "give n_lanes, lanes or lane_centers", source=src, field="n_lanes"
                )
            lanes = detect_lanes(
                found_on, n_lanes, method=lane_method, rows=(r0, r1), lane_width=lane_width
            )
    profiles = []
    for c0, c1 in zip(lanes["col0_px"], lanes["col1_px"], strict=True):
        profiles.append(found_on[r0 : r1 + 1, c0 : c1 + 1].sum(axis=1))
    smooth = [ndimage.gaussian_filter1d(p, 1.0, mode="nearest") for p in profiles]
    top = max((float(s.max()) for s in smooth), default=0.0)
    thresh = min_prominence * top if top > 0 else math.inf
    found: list[list[tuple[int, int, int]]] = []  # per lane: (peak, lo, hi) in window rows
    for s in smooth:
        peaks, _props = find_peaks(s, prominence=thresh)
        bands = []
        for p in peaks:
            lo, hi = _extent(s, int(p), edge_fraction * s[p])
            bands.append((int(p), lo, hi))
        if not all_bands and bands:
            bands = [max(bands, key=lambda b: s[b[0]])]
        found.append(bands)
    if not all_bands:
        det = [b[0] for b in found if b]
        if det:
            up = round(np.median([p - lo for p, lo, _ in det]))
            down = round(np.median([hi - p for p, _, hi in det]))
            mid = round(np.median([p for p, _, _ in det]))
        else:
            up, down, mid = (r1 - r0) // 2, (r1 - r0) - (r1 - r0) // 2, (r1 - r0) // 2
        found = [[(b[0][0], b[0][0] - up, b[0][0] + down)] if b else [] for b in found]
        missing = [(mid, mid - up, mid + down)]
    out = []
    for k, lane in enumerate(lanes.itertuples(index=False)):
        bands = found[k]
        detected = bool(bands)
        if not bands and not all_bands:
            bands = missing
        c0, c1 = int(lane.col0_px), int(lane.col1_px)
        if background == "lane":  # the lane's raw profile, shared by its bands
            raw = img.signal[r0 : r1 + 1, c0 : c1 + 1].sum(axis=1)
            sm = ndimage.gaussian_filter1d(raw, 1.0, mode="nearest")
        for j, (p, lo, hi) in enumerate(bands, start=1):
            b0 = max(r0 + lo - pad, r0)
            b1 = min(r0 + hi + pad, r1)
            if background == "lane":
                # baseline between the profile's minima on either flank (within half a box)
                h = max((b1 - b0) // 2, 2)
                u0, u1 = max(b0 - r0 - h, 0), b0 - r0
                d0, d1 = b1 - r0, min(b1 - r0 + h, len(sm) - 1)
                i0 = u0 + int(np.argmin(sm[u0 : u1 + 1]))
                i1 = d0 + int(np.argmin(sm[d0 : d1 + 1]))
                b0, b1 = r0 + i0, r0 + i1
                prof = raw[i0 : i1 + 1]
                base = np.linspace(sm[i0], sm[i1], len(prof))
                volume = float((prof - base).sum())
                bg_au = float(base.sum())
                box = img.signal[b0 : b1 + 1, c0 : c1 + 1] - (base / (c1 - c0 + 1))[:, None]
            else:
                box = corrected[b0 : b1 + 1, c0 : c1 + 1]
                volume = float(box.sum())
                bg_au = float(bg[b0 : b1 + 1, c0 : c1 + 1].sum())
            n_sat = int(img.saturated[b0 : b1 + 1, c0 : c1 + 1].sum())
            out.append(
                (int(lane.lane), j, detected, r0 + p, b0, b1, c0, c1, volume, bg_au,
                 float(box.max()), n_sat, n_sat > 0)
            )  # fmt: skip
    table = pd.DataFrame(out, columns=list(BAND_COLUMNS))
    return table.astype(
        {"lane": int, "band": int, "detected": bool, "center_row_px": int, "row0_px": int,
         "row1_px": int, "col0_px": int, "col1_px": int, "volume_au": float,
         "background_au": float, "peak_au": float, "n_saturated_px": int, "saturated": bool}
    )  # fmt: skip


def quantify_blot(
    image: str | os.PathLike[str] | np.ndarray | BlotImage,
    n_lanes: int,
    strips: dict[str, tuple[int, int]],
    *,
    labels: list[str] | None = None,
    polarity: str = "auto",
    background: str = "tophat",
    radius: float = 20.0,
    lane_method: str = "auto",
    lane_width: float | None = None,
    lane_centers: Sequence[float] | None = None,
    **band_options: object,
) -> pd.DataFrame:
    """Quantify several antibody strips of one membrane with the same lanes.

    Parameters
    ----------
    image : path, ndarray or BlotImage
    n_lanes : int
    strips : dict of str to (int, int)
        Target name (``"pEGFR"``, ``"EGFR"``, ``"beta-actin"``) to its inclusive row window.
    labels : list of str, optional
        One label per lane (e.g. ``["A925L", "A925L/AR"]``), added as column ``label``.
    lane_centers : sequence of float, optional
        Known lane centres, px, left to right (one per lane): no lane detection (for a lane too
        faint to find, where the analyst places the lanes by the comb).
    band_options
        Passed on to :func:`quantify_bands` (``edge_fraction``, ``min_prominence``, ``pad``).

    Returns
    -------
    DataFrame
        :func:`quantify_bands` columns plus ``target`` (and ``label``), one row per target and
        lane, and ``lod_au``: the band's limit of detection (grey level × px), 3 σ √n with σ the
        robust (MAD) pixel noise of the strip outside the band boxes after background
        subtraction and n the pixels of the box. Lanes are detected once on the union of the
        strips.
    """
    src = "quantify_blot"
    img = read_image(image, polarity=polarity)
    if not strips:
        raise LeptotwinError("no strips given", source=src, field="strips")
    windows = {t: _rows(w, img.shape[0], src) for t, w in strips.items()}
    corrected, _ = subtract_background(img.signal, method="tophat", radius=radius)
    mask = np.zeros(img.shape[0], bool)
    for a, b in windows.values():
        mask[a : b + 1] = True
    if lane_centers is not None:  # known lanes (e.g. the comb's positions): nothing to detect
        if len(lane_centers) != n_lanes:
            raise LeptotwinError(
                "one centre per lane", source=src, field="lane_centers",
                value=len(lane_centers), expected=f"{n_lanes} centres",
            )  # fmt: skip
        lanes = _lanes_at(lane_centers, lane_width, img.shape[1], src)
    else:
        lanes = detect_lanes(corrected[mask], n_lanes, method=lane_method, lane_width=lane_width)
    if labels is not None and len(labels) != n_lanes:
        raise LeptotwinError(
            "one label per lane", source=src, field="labels", value=len(labels),
            expected=f"{n_lanes} labels",
        )  # fmt: skip
    parts = []
    for target, window in windows.items():
        t = quantify_bands(
            img, rows=window, lanes=lanes, background=background, radius=radius,
            **band_options,  # type: ignore[arg-type]
        )  # fmt: skip
        t["lod_au"] = _detection_limit(corrected, window, t)
        t.insert(0, "target", target)
        if labels is not None:
            t.insert(2, "label", [labels[i - 1] for i in t["lane"]])
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def _detection_limit(
    corrected: np.ndarray, window: tuple[int, int], bands: pd.DataFrame
) -> np.ndarray:
    """3 σ √n per band box: σ the robust pixel noise of the strip outside every band box.

    Film and CCD noise is not white, so this is a floor rather than a bound; what it prevents is
    a ratio of two bands that are both noise (a phospho band that a drug switched off)."""
    a, b = window
    strip = corrected[a : b + 1].astype(float)
    free = np.ones(strip.shape, bool)
    boxes = bands[["row0_px", "row1_px", "col0_px", "col1_px"]].to_numpy(int)
    for r0, r1, c0, c1 in boxes:
        free[max(r0 - a, 0) : max(r1 - a + 1, 0), c0 : c1 + 1] = False
    values = strip[free] if free.sum() >= 10 else strip.ravel()
    sigma = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    n_px = (boxes[:, 1] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 2] + 1)
    return 3.0 * sigma * np.sqrt(np.maximum(n_px, 1))


def normalise_bands(
    table: pd.DataFrame,
    target: str,
    control: str,
    *,
    reference_lane: int | None = None,
    column: str = "volume_au",
) -> pd.DataFrame:
    """Divide a target by a loading control or its total protein, lane by lane.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`quantify_blot` (columns ``target, lane, band, saturated`` and
        ``column``); only band 1 of each lane is used.
    target, control : str
        E.g. ``"pEGFR"`` and ``"EGFR"`` (phospho/total) or ``"pEGFR"`` and ``"beta-actin"``.
    reference_lane : int, optional
        Lane whose ratio is 1 in ``relative`` (default: the first lane).

    Returns
    -------
    DataFrame
        ``lane, target, control, target_au, control_au, ratio`` (target/control, unitless),
        ``relative`` (ratio / ratio of the reference lane), ``saturated`` (either band).
        A control at or below 0 gives NaN with ``ok`` False. When the table has ``lod_au``
        (:func:`quantify_blot`), a band below its detection limit is counted at that limit and
        flagged (``target_below_lod``, ``control_below_lod``): a control below it gives NaN
        (``ok`` False), a target below it makes ``ratio`` an upper bound, and a reference lane
        whose target is below it makes every ``relative`` a lower bound (``bound``: "upper",
        "lower" or "").
    """
    src = "normalise_bands"
    for name in ("target", "lane", column):
        if name not in table.columns:
            raise LeptotwinError("missing column", source=src, field=name)
    first = table[table["band"] == 1] if "band" in table.columns else table
    known = sorted(set(first["target"]))
    for name in (target, control):
        if name not in known:
            raise LeptotwinError(
                "target not in the table", source=src, field="target", value=name,
                expected="one of " + ", ".join(map(str, known)),
            )  # fmt: skip
    a = first[first["target"] == target].set_index("lane")
    b = first[first["target"] == control].set_index("lane")
    lanes = sorted(set(a.index) & set(b.index))
    out = pd.DataFrame({"lane": lanes, "target": target, "control": control})
    out["target_au"] = a.loc[lanes, column].to_numpy(float)
    out["control_au"] = b.loc[lanes, column].to_numpy(float)
    has_lod = "lod_au" in first.columns
    lod_t = a.loc[lanes, "lod_au"].to_numpy(float) if has_lod else np.zeros(len(lanes))
    lod_c = b.loc[lanes, "lod_au"].to_numpy(float) if has_lod else np.zeros(len(lanes))
    out["target_below_lod"] = out["target_au"] <= lod_t if has_lod else False
    out["control_below_lod"] = out["control_au"] <= lod_c if has_lod else False
    out["ok"] = (out["control_au"] > 0) & ~out["control_below_lod"]
    numerator = np.maximum(out["target_au"], lod_t) if has_lod else out["target_au"]
    out["ratio"] = np.where(out["ok"], numerator / out["control_au"].where(out["ok"]), np.nan)
    ref = lanes[0] if reference_lane is None else reference_lane
    if ref not in lanes:
        raise LeptotwinError("reference lane not in the table", source=src, value=ref)
    at_ref = out["lane"] == ref
    ref_ratio = float(out.loc[at_ref, "ratio"].iloc[0])
    out["relative"] = out["ratio"] / ref_ratio if ref_ratio and math.isfinite(ref_ratio) else np.nan
    ref_floor = bool(out.loc[at_ref, "target_below_lod"].iloc[0])
    out["bound"] = np.where(out["target_below_lod"], "upper", "lower" if ref_floor else "")
    out.loc[out["target_below_lod"] & ref_floor, "bound"] = "undetermined"
    out.loc[out["target_below_lod"] & ref_floor, "relative"] = np.nan
    sat_a = a.loc[lanes, "saturated"].to_numpy(bool) if "saturated" in a else np.zeros(len(lanes))
    sat_b = b.loc[lanes, "saturated"].to_numpy(bool) if "saturated" in b else np.zeros(len(lanes))
    out["saturated"] = np.logical_or(sat_a, sat_b)
    return out[
        ["lane", "target", "control", "target_au", "control_au", "ratio", "relative",
         "bound", "target_below_lod", "control_below_lod", "saturated", "ok"]
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# arrays


@dataclass(frozen=True)
class ArrayLayout:
    """Spot map of a membrane array.

    Attributes
    ----------
    spots : DataFrame
        ``receptor, kind, row, col`` (and ``x_px, y_px`` when the file gives them); kind is
        ``reference``, ``negative`` or ``receptor``.
    pitch_px, origin_x_px, origin_y_px, spot_radius_px : float or None
        From ``# key: value`` header lines when present.
    """

    spots: pd.DataFrame
    pitch_px: float | None = None
    origin_x_px: float | None = None
    origin_y_px: float | None = None
    spot_radius_px: float | None = None


def _kind(name: str) -> str:
    low = str(name).strip().lower()
    if low in _REF_NAMES or low.startswith("reference"):
        return "reference"
    if low in _NEG_NAMES:
        return "negative"
    return "receptor"


def read_array_layout(path: str | os.PathLike[str] | pd.DataFrame) -> ArrayLayout:
    """Read a layout CSV (format in the module docstring) or take a DataFrame.

    Raises
    ------
    LeptotwinError
        Missing, empty or binary file, missing columns, non-integer rows/cols, no reference
        spots, a bad header.
    """
    header: dict[str, float] = {}
    if isinstance(path, pd.DataFrame):
        frame, source = path.copy(), "<layout>"
    else:
        p = Path(path)
        source = p.name
        if not p.is_file():
            raise LeptotwinError("layout file not found", source=str(p))
        raw = p.read_bytes()
        if b"\x00" in raw or not raw.strip():
            raise LeptotwinError(
                "binary file, not a layout CSV" if raw.strip() else "empty layout file",
                source=source, expected="receptor, row, col (optional kind, x_px, y_px)",
            )  # fmt: skip
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:  # a layout saved by Excel in a Windows code page
            text = raw.decode("latin-1")
        body = []
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                key, sep, val = line.lstrip("# \t").partition(":")
                if sep and key.strip() in (
                    "pitch_px", "origin_x_px", "origin_y_px", "spot_radius_px"
                ):  # fmt: skip
                    header[key.strip()] = _header_number(key.strip(), val, source)
            elif line.strip():
                body.append(line)
        try:
            frame = pd.read_csv(io.StringIO("\n".join(body)), skipinitialspace=True)
        except Exception as exc:
            raise LeptotwinError("unreadable layout CSV", source=source) from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("receptor", "row", "col") if c not in frame.columns]
    if missing:
        raise LeptotwinError(
            "layout misses columns", source=source, value=missing,
            expected="receptor, row, col (optional kind, x_px, y_px)",
        )  # fmt: skip
    for c in ("row", "col"):
        v = pd.to_numeric(frame[c], errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(v) & (v >= 0) & (v == np.round(v)) & (v < 1e6))
        if bad.any():
            raise LeptotwinError(
                "layout row/col must be whole numbers >= 0", source=source,
                field=f"{c}, spot {int(np.argmax(bad)) + 1}",
                value=str(frame[c].iloc[int(np.argmax(bad))]),
            )  # fmt: skip
        frame[c] = v.astype(int)
    for c in ("x_px", "y_px"):
        if c in frame.columns:
            v = pd.to_numeric(frame[c], errors="coerce").to_numpy(float)
            if not np.isfinite(v).all():
                i = int(np.argmax(~np.isfinite(v)))
                raise LeptotwinError(
                    "spot position is not a number", source=source, field=f"{c}, spot {i + 1}",
                    value=str(frame[c].iloc[i]), expected="a finite number of px",
                )  # fmt: skip
            frame[c] = v
    if "kind" not in frame.columns:
        frame["kind"] = [_kind(r) for r in frame["receptor"]]
    if not (frame["kind"] == "reference").any():
        raise LeptotwinError(
            "layout has no reference spots", source=source, field="kind",
            expected="reference spots to normalise to",
        )  # fmt: skip
    return ArrayLayout(spots=frame.reset_index(drop=True), **header)


def _header_number(key: str, text: str, source: str) -> float:
    """A ``# key: value`` geometry value in px: finite, > 0 (pitch, radius) or >= 0 (origin)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    least = 0.0 if key.startswith("origin") else math.ulp(0.0)
    if not (math.isfinite(value) and value >= least):
        raise LeptotwinError(
            "bad layout header value", source=source, field=key, value=text.strip(),
            expected="a number of px, " + ("0 or more" if least == 0 else "above 0"),
        )  # fmt: skip
    return value


def _grid_from_references(
    signal: np.ndarray, spots: pd.DataFrame, radius: float | None
) -> tuple[float, float, float]:
    """Fit origin and pitch so that the reference spots land on the brightest blobs."""
    from skimage.feature import peak_local_max

    ref = spots[spots["kind"] == "reference"]
    n_rows, n_cols = signal.shape
    span_c = spots["col"].max() - spots["col"].min() + 2
    span_r = spots["row"].max() - spots["row"].min() + 2
    pitch_guess = min(n_cols / span_c, n_rows / span_r)
    smooth = ndimage.gaussian_filter(signal, max(pitch_guess / 8, 1.0))
    pk = peak_local_max(smooth, min_distance=max(int(pitch_guess / 2.5), 1), num_peaks=len(ref))
    if len(pk) < len(ref) or ref["col"].nunique() < 2 or ref["row"].nunique() < 2:
        raise LeptotwinError(
            "cannot find the grid from the reference spots",
            source="quantify_array",
            expected="pitch_px and origin_px, or a layout file with them",
        )
    ys, xs = pk[:, 0].astype(float), pk[:, 1].astype(float)
    px = (xs.max() - xs.min()) / (ref["col"].max() - ref["col"].min())
    py = (ys.max() - ys.min()) / (ref["row"].max() - ref["row"].min())
    pitch = 0.5 * (px + py)
    ox = xs.min() - pitch * ref["col"].min()
    oy = ys.min() - pitch * ref["row"].min()
    # refine: least squares on the nearest blob of each reference spot
    gx = ox + pitch * ref["col"].to_numpy(float)
    gy = oy + pitch * ref["row"].to_numpy(float)
    d = (gx[:, None] - xs[None, :]) ** 2 + (gy[:, None] - ys[None, :]) ** 2
    j = d.argmin(axis=1)
    a = np.column_stack(
        [
            np.r_[np.ones(len(j)), np.zeros(len(j))],
            np.r_[np.zeros(len(j)), np.ones(len(j))],
            np.r_[ref["col"].to_numpy(float), ref["row"].to_numpy(float)],
        ]
    )
    sol, *_ = np.linalg.lstsq(a, np.r_[xs[j], ys[j]], rcond=None)
    return float(sol[2]), float(sol[0]), float(sol[1])


def quantify_array(
    image: str | os.PathLike[str] | np.ndarray | BlotImage,
    layout: ArrayLayout | str | os.PathLike[str] | pd.DataFrame,
    *,
    pitch_px: float | None = None,
    origin_px: tuple[float, float] | None = None,
    spot_radius_px: float | None = None,
    polarity: str = "auto",
) -> pd.DataFrame:
    """Integrate every spot of a membrane array.

    Spot centres come from the layout's ``x_px, y_px`` columns, else from ``origin_px``
    (x, y of the spot at row 0, col 0) and ``pitch_px`` (arguments first, then the layout
    header), else from a grid fitted to the reference spots (assumed among the brightest blobs).
    Each spot: sum over a disc of ``spot_radius_px`` (default 0.4 x pitch) minus the disc's area
    times the median of an annulus from 1.2 to 1.5 radii (local background).

    Returns
    -------
    DataFrame
        One row per spot: ``receptor, kind, row, col, x_px, y_px, volume_au`` (grey level x
        px), ``background_au`` (local background per pixel, grey level), ``n_px``,
        ``n_saturated_px``, ``saturated``.

    Raises
    ------
    LeptotwinError
        Unreadable image or layout, a spot (with its radius) outside the image.
    """
    src = "quantify_array"
    img = read_image(image, polarity=polarity)
    lay = layout if isinstance(layout, ArrayLayout) else read_array_layout(layout)
    spots = lay.spots.copy()
    pitch = pitch_px if pitch_px is not None else lay.pitch_px
    if {"x_px", "y_px"} <= set(spots.columns):
        xs, ys = spots["x_px"].to_numpy(float), spots["y_px"].to_numpy(float)
        if pitch is None:
            pitch = float(np.median(np.abs(np.diff(np.sort(np.unique(xs))))))
    else:
        if origin_px is not None:
            ox, oy = float(origin_px[0]), float(origin_px[1])
        elif lay.origin_x_px is not None and lay.origin_y_px is not None:
            ox, oy = lay.origin_x_px, lay.origin_y_px
        else:
            ox = oy = None  # type: ignore[assignment]
        if ox is None or pitch is None:
            pitch, ox, oy = _grid_from_references(img.signal, spots, spot_radius_px)
        xs = ox + pitch * spots["col"].to_numpy(float)
        ys = oy + pitch * spots["row"].to_numpy(float)
    radius = spot_radius_px or lay.spot_radius_px or 0.4 * float(pitch)
    n_rows, n_cols = img.shape
    outside = (
        (xs - radius < 0)
        | (ys - radius < 0)
        | (xs + radius > n_cols - 1)
        | (ys + radius > n_rows - 1)
    )
    if outside.any():
        i = int(np.argmax(outside))
        raise LeptotwinError(
            "layout spot outside the image",
            source=src,
            field=f"{spots['receptor'].iloc[i]} (row {spots['row'].iloc[i]}, "
            f"col {spots['col'].iloc[i]})",
            value=(round(float(xs[i]), 1), round(float(ys[i]), 1)),
            expected=f"spot centres at least {radius:g} px inside a {n_cols} x {n_rows} image",
        )
    out = []
    r_out = 1.5 * radius
    h = math.ceil(r_out) + 1
    for x0, y0 in zip(xs, ys, strict=True):
        a0, a1 = max(int(y0) - h, 0), min(int(y0) + h + 1, n_rows)
        b0, b1 = max(int(x0) - h, 0), min(int(x0) + h + 1, n_cols)
        yy, xx = np.mgrid[a0:a1, b0:b1]
        d2 = (yy - y0) ** 2 + (xx - x0) ** 2
        disc = d2 <= radius**2
        ring = (d2 >= (1.2 * radius) ** 2) & (d2 <= r_out**2)
        patch = img.signal[a0:a1, b0:b1]
        bg = float(np.median(patch[ring])) if ring.any() else 0.0
        n_px = int(disc.sum())
        vol = float(patch[disc].sum() - n_px * bg)
        n_sat = int(img.saturated[a0:a1, b0:b1][disc].sum())
        out.append((vol, bg, n_px, n_sat))
    res = spots[["receptor", "kind", "row", "col"]].copy()
    res["x_px"], res["y_px"] = xs, ys
    vals = np.array(out, dtype=float).reshape(-1, 4)
    res["volume_au"] = vals[:, 0]
    res["background_au"] = vals[:, 1]
    res["n_px"] = vals[:, 2].astype(int)
    res["n_saturated_px"] = vals[:, 3].astype(int)
    res["saturated"] = res["n_saturated_px"] > 0
    res.attrs["spot_radius_px"] = float(radius)
    return res


def summarise_array(spots: pd.DataFrame) -> pd.DataFrame:
    """Average duplicate spots and normalise to the reference spots.

    Returns
    -------
    DataFrame
        One row per receptor (order of first appearance): ``receptor, kind, n_spots,
        mean_au, sd_au, cv`` (SD / mean of the duplicates), ``relative`` (mean / mean of all
        reference spots, unitless) and ``saturated`` (any spot).
    """
    need = ("receptor", "kind", "volume_au")
    missing = [c for c in need if c not in spots.columns]
    if missing:
        raise LeptotwinError("missing columns", source="summarise_array", value=missing)
    ref = spots.loc[spots["kind"] == "reference", "volume_au"]
    if ref.empty or not ref.mean() > 0:
        raise LeptotwinError(
            "reference spots give no signal", source="summarise_array",
            value=float(ref.mean()) if not ref.empty else None,
            expected="reference spots above the local background",
        )  # fmt: skip
    sat = spots["saturated"] if "saturated" in spots.columns else pd.Series(False, spots.index)
    g = spots.assign(_sat=sat).groupby("receptor", sort=False)
    out = pd.DataFrame(
        {
            "receptor": list(g.groups),
            "kind": g["kind"].first().to_numpy(),
            "n_spots": g.size().to_numpy(),
            "mean_au": g["volume_au"].mean().to_numpy(),
            "sd_au": g["volume_au"].std(ddof=1).fillna(0.0).to_numpy(),
            "saturated": g["_sat"].any().to_numpy(bool),
        }
    )
    out["cv"] = out["sd_au"] / out["mean_au"].abs().where(out["mean_au"] != 0)
    out["relative"] = out["mean_au"] / float(ref.mean())
    return out[["receptor", "kind", "n_spots", "mean_au", "sd_au", "cv", "relative", "saturated"]]


def compare_arrays(
    before: pd.DataFrame, after: pd.DataFrame, *, floor: float = 0.0
) -> pd.DataFrame:
    """Relative change between two membranes (outputs of :func:`summarise_array`).

    Returns
    -------
    DataFrame
        ``receptor, relative_before, relative_after, difference`` (after - before),
        ``fold_change`` (after / before) and ``log2_fold_change``; ``ok`` False (and NaN fold
        change) where the before value is at or below ``floor``.
    """
    for name, t in (("before", before), ("after", after)):
        if not {"receptor", "relative"} <= set(t.columns):
            raise LeptotwinError("not a summarise_array table", source="compare_arrays", field=name)
    m = before[["receptor", "kind", "relative"]].merge(
        after[["receptor", "relative"]], on="receptor", suffixes=("_before", "_after")
    )
    m["difference"] = m["relative_after"] - m["relative_before"]
    m["ok"] = (m["relative_before"] > floor) & (m["relative_after"] > 0)
    m["fold_change"] = (m["relative_after"] / m["relative_before"]).where(m["ok"])
    m["log2_fold_change"] = np.log2(m["fold_change"].where(m["ok"], 1.0)).where(m["ok"])
    return m


# --------------------------------------------------------------------------------------------
# annotated image


def write_annotated(
    image: str | os.PathLike[str] | np.ndarray | BlotImage,
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    lanes: pd.DataFrame | None = None,
    polarity: str = "auto",
) -> Path:
    """Draw lane boxes (blue), band boxes (green; red when saturated) or array spots (circles)
    on the scan as it looks (dark bands stay dark) and save a PNG atomically.

    ``table`` is the output of :func:`quantify_bands`/:func:`quantify_blot` (boxes) or of
    :func:`quantify_array` (circles, radius in ``table.attrs["spot_radius_px"]`` or 0.4 x the
    spot spacing).
    """
    import imageio.v3 as iio
    from skimage.draw import circle_perimeter, rectangle_perimeter

    img = read_image(image, polarity=polarity)
    s = img.signal
    lo, hi = np.percentile(s, [0.5, 99.9])
    gray = np.clip((s - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    if img.inverted:
        gray = 1.0 - gray
    rgb = np.repeat((gray * 255).astype(np.uint8)[..., None], 3, axis=2)
    shape = s.shape

    def box(r0: int, c0: int, r1: int, c1: int, colour: tuple[int, int, int]) -> None:
        rr, cc = rectangle_perimeter((r0, c0), end=(r1, c1), shape=shape, clip=True)
        rgb[rr, cc] = colour

    if {"col0_px", "row0_px"} <= set(table.columns):
        if lanes is not None:
            for ln in lanes.itertuples(index=False):
                box(0, int(ln.col0_px), shape[0] - 1, int(ln.col1_px), (40, 90, 255))
        for b in table.itertuples(index=False):
            colour = (230, 30, 30) if getattr(b, "saturated", False) else (20, 170, 40)
            box(int(b.row0_px), int(b.col0_px), int(b.row1_px), int(b.col1_px), colour)
    elif {"x_px", "y_px"} <= set(table.columns):
        r = table.attrs.get("spot_radius_px")
        if r is None:
            xs = np.sort(np.unique(table["x_px"].to_numpy(float)))
            r = 0.4 * float(np.median(np.diff(xs))) if len(xs) > 1 else 5.0
        for sp in table.itertuples(index=False):
            colour = (230, 30, 30) if getattr(sp, "saturated", False) else (20, 170, 40)
            rr, cc = circle_perimeter(round(sp.y_px), round(sp.x_px), round(r), shape=shape)
            rgb[rr, cc] = colour
    else:
        raise LeptotwinError(
            "table has neither band boxes nor spot centres", source="write_annotated",
            expected="output of quantify_bands, quantify_blot or quantify_array",
        )  # fmt: skip
    return atomic_write(path, lambda p: iio.imwrite(p, rgb, extension=".png"))
