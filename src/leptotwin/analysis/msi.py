"""Mass-spectrometry imaging (MSI) analysis on imzML files, real or virtual.

The steps a lab takes with a drug-imaging data set (METASPACE / Cardinal style), for one section:

1. :func:`read_imzml` — open and validate the imzML/ibd pair (continuous or processed);
2. :func:`ion_image` — summed intensity of an ion within ± ppm (or ± m/z);
3. :func:`normalise` — TIC or RMS normalisation (scaled by the median so units stay counts);
4. :func:`suppress_hotspots` — clip at the 99th percentile (METASPACE's hotspot removal);
5. :func:`roi_stats` — lesion vs adjacent brain (ROI from a mask PNG or from a marker ion), with
   the ratio and its 95 % interval;
6. :func:`plot_ion_image` — the ion image with the ROI outline.

Examples
--------
>>> from leptotwin.analysis.msi import read_imzml, ion_image
>>> with read_imzml("Example_Continuous.imzML") as data:      # doctest: +SKIP
...     img = ion_image(data, 500.2768, ppm=10)                # (ny, nx)
"""

from __future__ import annotations

import os
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
    "ImzMLFile",
    "adjacent_mask",
    "ion_image",
    "marker_mask",
    "normalise",
    "plot_ion_image",
    "read_imzml",
    "read_mask_png",
    "roi_stats",
    "suppress_hotspots",
]

#: Columns of :func:`roi_stats`.
ROI_COLUMNS: tuple[str, ...] = (
    "method",
    "n_lesion",
    "n_reference",
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


def roi_stats(
    image: np.ndarray,
    lesion: np.ndarray,
    reference: np.ndarray | None = None,
    *,
    tissue: np.ndarray | None = None,
    width_px: int = 3,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Mean intensity in lesions vs adjacent brain, with the ratio and its (1 − alpha) interval.

    Parameters
    ----------
    image : ndarray of shape (ny, nx)
    lesion : bool or label array of shape (ny, nx)
        Lesion pixels; separate lesions are the connected components (8-connectivity).
    reference : bool array, optional
        The comparison region. Default: :func:`adjacent_mask` of the lesions (within ``tissue``).
    tissue, width_px
        Passed to :func:`adjacent_mask` when ``reference`` is not given.
    alpha : float

    Returns
    -------
    DataFrame with columns :data:`ROI_COLUMNS` and two rows:

    * ``pixels`` — ratio of the mean over all lesion pixels to the mean over all reference
      pixels; delta-method interval on the log scale (pixels treated as independent, so the
      interval is too narrow when neighbouring pixels are correlated);
    * ``lesions`` — each lesion against its own adjacent ring, log ratios averaged over
      lesions, t interval over lesions (the unit of replication; needs ≥ 2 lesions with a
      non-empty ring, else NaN).
    """
    import pandas as pd
    from scipy import ndimage, stats

    from leptotwin.analysis.ratios import log_ratio_ci

    image = np.asarray(image, float)
    les = np.asarray(lesion)
    if les.shape != image.shape:
        raise LeptotwinError(
            "ROI mask and image differ in shape",
            source="roi_stats",
            value=(les.shape, image.shape),
            expected="a mask of the image's shape (rows y, columns x)",
        )
    les_b = les.astype(bool)
    if reference is None:
        ref = adjacent_mask(les_b, tissue, width_px=width_px)
    else:
        ref = np.asarray(reference).astype(bool) & ~les_b
    rows = []
    a, b = image[les_b], image[ref]
    if a.size >= 2 and b.size >= 2:
        r = log_ratio_ci(
            a.mean(),
            a.std(ddof=1) / np.sqrt(a.size),
            b.mean(),
            b.std(ddof=1) / np.sqrt(b.size),
            df=a.size + b.size - 2,
            alpha=alpha,
        )
        est, lo, hi, p = (float(r[k]) for k in ("estimate", "lower", "upper", "p_value"))
    else:
        est = lo = hi = p = np.nan
    rows.append(("pixels", a.size, b.size, _mean(a), _mean(b), est, lo, hi, p))
    labels, n_lab = ndimage.label(les_b, structure=np.ones((3, 3)))
    logs = []
    for k in range(1, n_lab + 1):
        one = labels == k
        ring = adjacent_mask(one, tissue, width_px=width_px) & ~les_b
        if reference is not None:
            ring &= ref
        m_les, m_ref = image[one].mean(), image[ring].mean() if ring.any() else np.nan
        if m_les > 0 and m_ref > 0:
            logs.append(np.log(m_les / m_ref))
    logs_a = np.asarray(logs)
    if logs_a.size >= 2:
        mean, se = logs_a.mean(), logs_a.std(ddof=1) / np.sqrt(logs_a.size)
        t = stats.t.ppf(1 - alpha / 2, logs_a.size - 1)
        p_l = float(2 * stats.t.sf(abs(mean / se), logs_a.size - 1)) if se > 0 else 0.0
        row = (np.exp(mean), np.exp(mean - t * se), np.exp(mean + t * se), p_l)
    else:
        row = (np.exp(logs_a.mean()) if logs_a.size else np.nan, np.nan, np.nan, np.nan)
    rows.append(("lesions", int(n_lab), int(logs_a.size), _mean(a), _mean(b), *row))
    out = pd.DataFrame(rows, columns=list(ROI_COLUMNS))
    return out.astype({"n_lesion": np.int64, "n_reference": np.int64})


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
