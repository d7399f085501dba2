"""Mass-spectrometry imaging (MSI) analysis on imzML files, real or virtual.

The steps a lab takes with a drug-imaging data set (METASPACE / Cardinal style), for one section:

1. :func:`read_imzml` — open and validate the imzML/ibd pair (continuous or processed);
2. :func:`ion_image` — summed intensity of an ion within ± ppm (or ± m/z);
3. :func:`normalise` — TIC or RMS normalisation (scaled by the median so units stay counts);
4. :func:`suppress_hotspots` — clip at the 99th percentile (METASPACE's hotspot removal);
5. :func:`tissue_mask` — tissue vs bare slide from the TIC (or a tissue ion), when no mask is given;
6. :func:`roi_stats` — lesion vs adjacent brain (ROI from a mask PNG or from a marker ion), over
   pixels with a spectrum only, with the ratio and its 95 % interval;
7. :func:`plot_ion_image` — the ion image with the ROI outline.

Examples
--------
>>> from leptotwin.analysis.msi import read_imzml, ion_image
>>> with read_imzml("Example_Continuous.imzML") as data:      # doctest: +SKIP
...     img = ion_image(data, 500.2768, ppm=10)                # (ny, nx)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leptotwin.analysis._imzml import ImzMLFile, read_imzml
from leptotwin.errors import LeptotwinError

if TYPE_CHECKING:  # imported where used: reading a file and making ion images needs none of them
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "ROI_COLUMNS",
    "TISSUE_MIN_SEPARATION",
    "ImzMLFile",
    "TissueMask",
    "adjacent_mask",
    "ion_image",
    "marker_mask",
    "normalise",
    "plot_ion_image",
    "read_imzml",
    "read_mask_png",
    "roi_stats",
    "suppress_hotspots",
    "tissue_mask",
]

#: Columns of :func:`roi_stats`.
ROI_COLUMNS: tuple[str, ...] = (
    "method",
    "n_lesion",
    "n_reference",
    "lesion_pixels",
    "reference_pixels",
    "roi_unmeasured",
    "lesion_mean",
    "reference_mean",
    "ratio",
    "lower",
    "upper",
    "p_value",
)


def ion_image(
    data: ImzMLFile, mz: float, *, ppm: float | None = 10.0, tol: float | None = None
) -> np.ndarray:
    """Ion image of one m/z: summed intensity within ``mz ± ppm`` (or ``± tol`` in m/z units).

    Returns an array of shape (ny, nx), float64. With ``tol`` it equals pyimzML's
    ``getionimage(p, mz, tol=tol)`` (except that a window below a spectrum's first peak gives 0,
    where pyimzML returns that first peak's intensity).
    """
    if tol is not None:
        ppm = None
    return data.ion_images([mz], ppm=ppm, tol=tol)[0]


def normalise(image: np.ndarray, per_pixel: np.ndarray) -> np.ndarray:
    """Divide an image by a per-pixel normaliser (TIC or RMS image of the same shape) and
    multiply by the normaliser's median over pixels where it is positive, so values stay on the
    scale of counts. Pixels whose normaliser is 0 (no spectrum) give 0."""
    image, per_pixel = np.asarray(image, float), np.asarray(per_pixel, float)
    if image.shape[-2:] != per_pixel.shape:
        raise LeptotwinError(
            "normaliser and image differ in shape",
            source="normalise",
            value=(image.shape, per_pixel.shape),
        )
    pos = per_pixel > 0
    if not pos.any():
        return np.zeros_like(image)
    scale = np.median(per_pixel[pos])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pos, image / np.where(pos, per_pixel, 1.0) * scale, 0.0)


def suppress_hotspots(
    image: np.ndarray, *, quantile: float = 0.99, mask: np.ndarray | None = None
) -> np.ndarray:
    """Clip intensities above the ``quantile`` of the image (of the pixels in ``mask`` when
    given), as METASPACE does before showing an ion image (hot spots from matrix crystals)."""
    if not 0.0 < quantile <= 1.0:
        raise LeptotwinError("quantile must lie in (0, 1]", field="quantile", value=quantile)
    image = np.asarray(image, float)
    sel = image[mask.astype(bool)] if mask is not None else image.ravel()
    if sel.size == 0:
        return image.copy()
    return np.minimum(image, np.quantile(sel, quantile))


def marker_mask(
    image: np.ndarray, *, threshold: float | None = None, within: np.ndarray | None = None
) -> np.ndarray:
    """Pixels where a marker ion's image exceeds ``threshold`` (default: Otsu's threshold of
    the image, or of the pixels in ``within``, e.g. tissue, when given; the mask is then
    limited to ``within``). A flat image gives an empty mask."""
    image = np.asarray(image, float)
    inside = np.ones(image.shape, bool) if within is None else np.asarray(within).astype(bool)
    if threshold is None:
        vals = image[inside]
        if vals.size == 0 or np.ptp(vals) == 0:
            return np.zeros(image.shape, bool)
        from skimage.filters import threshold_otsu

        threshold = float(threshold_otsu(vals))
    return (image > threshold) & inside


def adjacent_mask(
    lesion: np.ndarray, tissue: np.ndarray | None = None, *, width_px: int = 3
) -> np.ndarray:
    """Brain next to the lesions: pixels within ``width_px`` of a lesion pixel (8-connected),
    not in any lesion, and inside ``tissue`` when given."""
    from scipy import ndimage

    lesion = np.asarray(lesion).astype(bool)
    ring = ndimage.binary_dilation(lesion, structure=np.ones((3, 3)), iterations=width_px)
    ring &= ~lesion
    if tissue is not None:
        ring &= np.asarray(tissue).astype(bool)
    return ring


#: Least Otsu effectiveness (between-class / total variance of the smoothed log signal) for
#: :func:`tissue_mask` to split tissue from slide. Measured here: one normal population 0.64
#: (2/π, whatever its spread), a linear gradient across the scan 0.73, 24 virtual sections with
#: bare slide around them 0.80-0.85 on the TIC; two well separated populations approach 1.
TISSUE_MIN_SEPARATION = 0.75


@dataclass(frozen=True)
class TissueMask:
    """A tissue mask derived by :func:`tissue_mask`.

    Attributes
    ----------
    mask : ndarray of bool, shape (ny, nx)
    split : bool
        False when the signal shows one population (no bare slide told apart): ``mask`` is then
        every measured pixel.
    threshold : float
        Otsu threshold on ln(1 + signal) after smoothing (NaN when not split).
    separation : float
        Otsu effectiveness in [0, 1] (:data:`TISSUE_MIN_SEPARATION`).
    """

    mask: np.ndarray
    split: bool
    threshold: float
    separation: float


def tissue_mask(
    signal: np.ndarray,
    measured: np.ndarray | None = None,
    *,
    min_fraction: float = 0.01,
) -> TissueMask:
    """Tissue vs bare slide from a per-pixel signal: the TIC, or the image of an ion that only
    tissue gives (a phospholipid such as PC 34:1 [M+H]+ in positive mode).

    The rule, in order:

    1. ``v = ln(1 + signal)`` on measured pixels (negative signal counts as 0);
    2. a 3 x 3 median of ``v`` over the measured pixels of each neighbourhood (shot-to-shot
       noise of MALDI, ~25 % per pixel, would otherwise blur the two populations);
    3. Otsu's threshold of the smoothed values; tissue = pixels above it (tissue is assumed to
       give the higher signal). If the two classes are not clearly apart (Otsu effectiveness
       below :data:`TISSUE_MIN_SEPARATION`) or the signal is flat, there is no slide to tell
       apart: every measured pixel is tissue (``split`` False);
    4. clean-up: tissue pieces (8-connected) smaller than ``min_fraction`` of the measured
       pixels (at least 4 pixels) are dropped, and holes of that size enclosed by tissue are
       filled.

    Parameters
    ----------
    signal : ndarray of shape (ny, nx)
        TIC (``data.to_image(data.pixel_stats()["tic"])``) or an ion image, counts.
    measured : bool array, optional
        Pixels with a spectrum; default: where ``signal`` is finite.
    min_fraction : float
        Smallest tissue piece or hole kept as such, fraction of the measured pixels.

    Assumptions: the scan includes bare slide, and tissue gives more signal than slide. When
    either fails (a scan inside the tissue, or a matrix whose clusters off tissue outshine it),
    give the mask instead.
    """
    signal = np.asarray(signal, float)
    meas = np.isfinite(signal)
    if measured is not None:
        if np.shape(measured) != signal.shape:
            raise LeptotwinError(
                "measured mask and signal differ in shape",
                source="tissue_mask",
                value=(np.shape(measured), signal.shape),
            )
        meas &= np.asarray(measured).astype(bool)
    smooth = _median3(np.log1p(np.clip(np.where(meas, signal, 0.0), 0.0, None)), meas)
    vals = smooth[meas]
    if vals.size < 2 or np.ptp(vals) == 0:
        return TissueMask(meas.copy(), False, np.nan, 0.0)
    from skimage.filters import threshold_otsu

    t = float(threshold_otsu(vals))
    lo, hi = vals[vals <= t], vals[vals > t]
    eta = lo.size * hi.size / vals.size**2 * (hi.mean() - lo.mean()) ** 2 / vals.var()
    if eta < TISSUE_MIN_SEPARATION:
        return TissueMask(meas.copy(), False, np.nan, float(eta))
    min_px = max(4, int(np.ceil(min_fraction * vals.size)))
    mask = _drop_small(meas & (smooth > t), min_px)
    holes = _drop_small(~mask, min_px, keep_border=True)
    return TissueMask(~holes & meas, True, t, float(eta))


def _median3(v: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """3 x 3 median of ``v`` over the valid pixels of each neighbourhood, at valid pixels
    (others 0). Nine shifted copies: memory 9 x the image."""
    ny, nx = v.shape
    pad = np.pad(np.where(valid, v, np.nan), 1, constant_values=np.nan)
    stack = np.stack([pad[dy : dy + ny, dx : dx + nx] for dy in range(3) for dx in range(3)])
    out = np.zeros_like(v)
    out[valid] = np.nanmedian(stack[:, valid], axis=0)  # the centre itself is valid: no all-NaN
    return out


def _drop_small(mask: np.ndarray, min_px: int, *, keep_border: bool = False) -> np.ndarray:
    """``mask`` without its 8-connected pieces of fewer than ``min_px`` pixels (with
    ``keep_border``, pieces touching the image edge are kept whatever their size)."""
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return mask.copy()
    keep = np.bincount(labels.ravel(), minlength=n + 1) >= min_px
    if keep_border:
        edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        keep[edge] = True
    keep[0] = False
    return keep[labels]


def roi_stats(
    image: np.ndarray,
    lesion: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    tissue: np.ndarray | None = None,
    measured: np.ndarray | None = None,
    width_px: int = 3,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Mean intensity in lesions vs adjacent brain, with the ratio and its (1 − alpha) interval.

    Only measured pixels count, in the lesions and in the reference alike: a pixel without a
    spectrum (outside an irregular raster, a skipped line) has no intensity, not intensity 0.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
        Intensities (counts); NaN marks a pixel without a spectrum.
    lesion : bool or label array of shape (ny, nx)
        Lesion pixels; separate lesions are the connected components (8-connectivity).
    reference : bool array, optional
        The comparison region. Default: :func:`adjacent_mask` of the lesions (within ``tissue``).
    tissue : bool array, optional
        Passed to :func:`adjacent_mask` when ``reference`` is not given (the ring then holds
        tissue only: give it whenever the section does not fill the scanned area).
    measured : bool array, optional
        Pixels with a spectrum (``ImzMLFile.to_image(np.ones(n)) > 0``). Default: the pixels
        where ``image`` is finite. Both masks apply when given.
    width_px : int
        Width of the adjacent ring (pixels).
    alpha : float

    Returns
    -------
    DataFrame with columns :data:`ROI_COLUMNS` and two rows:

    * ``pixels`` — ratio of the mean over all measured lesion pixels to the mean over all
      measured reference pixels; delta-method interval on the log scale (pixels treated as
      independent, so the interval is too narrow when neighbouring pixels are correlated);
      ``n_lesion`` and ``n_reference`` are those pixel counts;
    * ``lesions`` — each lesion (with at least one measured pixel) paired with its own adjacent
      ring; the ratio of the mean lesion intensity to the mean ring intensity over lesions, t
      interval on the log scale from the delta-method variance of a ratio of paired means
      (lesions are the unit of replication; needs ≥ 2 lesions with a non-empty ring for the
      interval); a ring below the detection limit counts as 0, not as a missing lesion;
      ``n_lesion`` counts the lesions, ``n_reference`` those compared with a ring.

    In both rows ``lesion_pixels`` and ``reference_pixels`` are the measured pixels used and
    ``roi_unmeasured`` the lesion pixels left out for having no spectrum.
    """
    import pandas as pd

    image = np.asarray(image, float)
    les = np.asarray(lesion)
    masks = {"ROI": les, "reference": reference, "tissue": tissue, "measured": measured}
    for name, mask in masks.items():
        if mask is not None and np.shape(mask) != image.shape:
            raise LeptotwinError(
                f"{name} mask and image differ in shape",
                source="roi_stats",
                value=(np.shape(mask), image.shape),
                expected="a mask of the image's shape (rows y, columns x)",
            )
    meas = np.isfinite(image)
    if measured is not None:
        meas &= np.asarray(measured).astype(bool)
    les_all = les.astype(bool)
    les_b = les_all & meas
    if reference is None:
        ref = adjacent_mask(les_all, tissue, width_px=width_px) & meas
    else:
        ref = np.asarray(reference).astype(bool) & ~les_all & meas
    counts = (int(les_b.sum()), int(ref.sum()), int((les_all & ~meas).sum()))
    a, b = image[les_b], image[ref]
    rows = [("pixels", a.size, b.size, *counts, _mean(a), _mean(b), *_pixel_ratio(a, b, alpha))]
    given_ref = ref if reference is not None else None
    n_lesions, row = _lesion_ratio(image, les_all, meas, given_ref, tissue, width_px, alpha)
    rows.append(("lesions", *n_lesions, *counts, _mean(a), _mean(b), *row))
    out = pd.DataFrame(rows, columns=list(ROI_COLUMNS))
    ints = ["n_lesion", "n_reference", "lesion_pixels", "reference_pixels", "roi_unmeasured"]
    return out.astype(dict.fromkeys(ints, np.int64))


def _pixel_ratio(a: np.ndarray, b: np.ndarray, alpha: float) -> tuple[float, ...]:
    """Ratio of means of two pixel samples, its interval and p-value (NaN with < 2 each)."""
    from leptotwin.analysis.ratios import log_ratio_ci

    if a.size < 2 or b.size < 2:
        return (np.nan,) * 4
    r = log_ratio_ci(
        a.mean(),
        a.std(ddof=1) / np.sqrt(a.size),
        b.mean(),
        b.std(ddof=1) / np.sqrt(b.size),
        df=a.size + b.size - 2,
        alpha=alpha,
    )
    return tuple(float(r[k]) for k in ("estimate", "lower", "upper", "p_value"))


def _lesion_ratio(
    image: np.ndarray,
    lesion: np.ndarray,
    measured: np.ndarray,
    reference: np.ndarray | None,
    tissue: np.ndarray | None,
    width_px: int,
    alpha: float,
) -> tuple[tuple[int, int], tuple[float, ...]]:
    """((lesions with a measured pixel, lesions compared), (ratio, lower, upper, p)).

    Each lesion k gives its mean ``L_k`` and its own ring's mean ``B_k`` (a pair); the ratio is
    ``mean(L) / mean(B)`` over the lesions (each lesion weighted once), its interval a t interval
    on the log scale with the delta-method variance of a ratio of paired means,
    ``(s_L²/L̄² + s_B²/B̄² − 2 s_LB/(L̄ B̄)) / n``, lesions being the unit of replication. A ring
    whose drug signal is below the detection limit (mean 0) stays in as 0: dropping it, as a mean
    of per-lesion log ratios must, would leave out exactly the lesions with the highest contrast
    (on a virtual section with little drug in the brain, 8 of 9 lesions).
    """
    from scipy import ndimage, stats

    labels, n_lab = ndimage.label(lesion, structure=np.ones((3, 3)))
    pairs, n_measured = [], 0
    for k in range(1, n_lab + 1):
        one = labels == k
        inside = one & measured
        if not inside.any():
            continue
        n_measured += 1
        ring = adjacent_mask(one, tissue, width_px=width_px) & ~lesion & measured
        if reference is not None:
            ring &= reference
        if ring.any():
            pairs.append((image[inside].mean(), image[ring].mean()))
    n = len(pairs)
    row: tuple[float, ...] = (np.nan,) * 4
    if n:
        les_m, ref_m = np.asarray(pairs, dtype=float).T
        lbar, bbar = les_m.mean(), ref_m.mean()
        if lbar > 0 and bbar > 0:
            ratio = lbar / bbar
            row = (ratio, np.nan, np.nan, np.nan)
            if n >= 2:
                c = np.cov(les_m, ref_m, ddof=1)
                var = (c[0, 0] / lbar**2 + c[1, 1] / bbar**2 - 2 * c[0, 1] / (lbar * bbar)) / n
                se = float(np.sqrt(max(var, 0.0)))
                t = stats.t.ppf(1 - alpha / 2, n - 1)
                log_r = np.log(ratio)
                p_l = float(2 * stats.t.sf(abs(log_r / se), n - 1)) if se > 0 else 0.0
                row = (ratio, np.exp(log_r - t * se), np.exp(log_r + t * se), p_l)
    return (n_measured, n), tuple(float(v) for v in row)


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else np.nan


def read_mask_png(path: str | os.PathLike[str], *, shape: tuple[int, int] | None = None):
    """Read an ROI mask PNG (non-zero = inside; rows y, columns x) as a bool array.

    Raises
    ------
    LeptotwinError
        File missing or unreadable, or of a shape other than ``shape``.
    """
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise LeptotwinError("mask file not found", source=str(p))
    try:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise LeptotwinError(f"not a readable image ({exc})", source=str(p)) from None
    if shape is not None and arr.shape != tuple(shape):
        raise LeptotwinError(
            "mask size differs from the image grid",
            source=str(p),
            value=arr.shape,
            expected=f"{shape[0]} rows x {shape[1]} columns (y, x)",
        )
    return arr > 0


def plot_ion_image(
    image: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    ax: Axes | None = None,
    title: str = "",
    pixel_um: float | None = None,
    cmap: str = "viridis",
) -> Axes:
    """Show an ion image (rows y, columns x) with the outline of ``mask`` in white."""
    from matplotlib.figure import Figure

    if ax is None:
        ax = Figure(figsize=(4.5, 3.6), layout="constrained").add_subplot()
    ny, nx = np.shape(image)
    extent = None
    if pixel_um:
        extent = (0, nx * pixel_um / 1000, ny * pixel_um / 1000, 0)
    im = ax.imshow(image, cmap=cmap, interpolation="nearest", extent=extent)
    if mask is not None and np.any(mask):
        yy = np.arange(ny) if extent is None else (np.arange(ny) + 0.5) * pixel_um / 1000
        xx = np.arange(nx) if extent is None else (np.arange(nx) + 0.5) * pixel_um / 1000
        ax.contour(xx, yy, np.asarray(mask, float), levels=[0.5], colors="white", linewidths=0.8)
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label="intensity (counts)")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (mm)" if pixel_um else "x (pixel)")
    ax.set_ylabel("y (mm)" if pixel_um else "y (pixel)")
    return ax
