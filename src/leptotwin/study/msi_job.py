"""User-facing MSI job (``leptotwin msi FILE.imzML --mz … [--ppm] [--roi mask.png]
[--tissue mask.png] --out DIR``).

Writes, for each m/z, ``ion_image_<mz to 4 decimals>.csv`` (column ``y`` then one column per x,
rows y; a pixel without a spectrum is an empty cell) and ``ion_image_<mz>.png`` (with the ROI
outline), and ``roi_stats.csv`` with one block of rows per m/z (column ``image`` names its files):

* with an ROI mask: the ROI / adjacent ratio (ring of 3 pixels around the ROI, within tissue) and
  its 95 % interval (:func:`leptotwin.analysis.msi.roi_stats`), over pixels with a spectrum only,
  after clipping hot spots at the ``hotspot_quantile`` of the tissue pixels (as the study report
  does);
* without one: a summary of each image over pixels with a spectrum, and its mean over tissue.

Tissue is the ``--tissue`` mask PNG when given, else derived from the TIC by
:func:`leptotwin.analysis.msi.tissue_mask` (Otsu threshold of the 3 x 3-median-smoothed ln TIC;
pieces and holes under 1 % of the scan cleaned up; every measured pixel when the TIC shows no
bare slide); ROI pixels count as tissue. ``roi_stats.csv`` says which (``tissue_mask``) and how
many pixels it holds (``tissue_pixels``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin._fileio import prepare_out_dir, write_csv, write_figure
from leptotwin.analysis.msi import (
    ImzMLFile,
    ion_image,
    plot_ion_image,
    read_imzml,
    read_mask_png,
    roi_stats,
    suppress_hotspots,
    tissue_mask,
)
from leptotwin.errors import LeptotwinError

__all__ = ["MAX_MZ", "MAX_PPM", "image_stem", "run_msi_job"]

#: Largest m/z accepted (MALDI of intact proteins reaches a few 10^5).
MAX_MZ = 1_000_000.0
#: Widest tolerance accepted, ppm (± 1 % of the m/z; low-resolution TOF windows are ~0.1-0.3 %).
MAX_PPM = 10_000.0
_DECIMALS = 4  # m/z decimals in the file names


def _check_mz(mz_list: Sequence[float]) -> list[float]:
    mzs = [float(m) for m in mz_list]
    if not mzs:
        raise LeptotwinError("give at least one m/z", source="--mz")
    for m in mzs:
        if not (math.isfinite(m) and 0 < m <= MAX_MZ):
            raise LeptotwinError(
                f"m/z must be a positive number of at most {MAX_MZ:,.0f}", source="--mz", value=m
            )
    seen: dict[str, float] = {}
    for m in mzs:
        stem = image_stem(m)
        if stem in seen:
            raise LeptotwinError(
                f"{seen[stem]!r} and {m!r} are the same m/z to {_DECIMALS} decimals (both would "
                f"be written as {stem}.*); give each m/z once",
                source="--mz",
            )
        seen[stem] = m
    return mzs


def _check_numbers(ppm: float, hotspot_quantile: float) -> None:
    if not (math.isfinite(ppm) and 0 < ppm <= MAX_PPM):
        raise LeptotwinError(
            f"ppm must be > 0 and at most {MAX_PPM:g} (± 1 % of the m/z)", source="--ppm", value=ppm
        )
    if not (math.isfinite(hotspot_quantile) and 0 < hotspot_quantile <= 1):
        raise LeptotwinError(
            "the hot-spot quantile must lie in (0, 1] (1: no clipping)",
            source="--hotspot-quantile",
            value=hotspot_quantile,
        )


def image_stem(mz: float) -> str:
    """Name (without suffix) of the ion-image files of ``mz``: its value to 4 decimals."""
    return f"ion_image_{_mz_label(mz)}"


def _mz_label(mz: float) -> str:
    return f"{mz:.{_DECIMALS}f}"


def _check_in_range(data: ImzMLFile, mzs: list[float], ppm: float) -> None:
    """Refuse an m/z whose window misses the acquired m/z range (an empty image by typo)."""
    span = data.mz_range()
    for m in mzs:
        if span is None or m * (1 + ppm * 1e-6) < span[0] or m * (1 - ppm * 1e-6) > span[1]:
            have = "no m/z at all" if span is None else f"{span[0]:.4f}-{span[1]:.4f}"
            raise LeptotwinError(
                f"m/z {m:g} ± {ppm:g} ppm lies outside the m/z range of {data.path.name} ({have})",
                source="--mz",
                value=m,
            )


def _tissue(
    given: str | os.PathLike[str] | None, tic: np.ndarray, measured: np.ndarray
) -> tuple[np.ndarray, str]:
    """The tissue mask and how it was obtained."""
    if given is not None:
        mask = read_mask_png(given, shape=measured.shape) & measured
        if not mask.any():
            raise LeptotwinError(
                "the tissue mask holds no pixel with a spectrum",
                source=str(given),
                expected="non-zero pixels where the section lies",
            )
        return mask, f"given: {Path(given).name}"
    derived = tissue_mask(tic, measured)
    sep = f"separation {derived.separation:.2f}"
    if derived.split and derived.mask.any():
        return derived.mask, f"TIC-derived (Otsu on smoothed ln TIC, {sep})"
    return measured.copy(), f"TIC-derived: no bare slide found ({sep}), all measured pixels"


def run_msi_job(
    path: str | os.PathLike[str],
    mz_list: Sequence[float],
    ppm: float = 10.0,
    roi_mask: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "msi_out",
    force: bool = False,
    *,
    tissue: str | os.PathLike[str] | None = None,
    hotspot_quantile: float = 0.99,
) -> list[Path]:
    """Ion images and ROI statistics of an imzML file.

    Parameters
    ----------
    path : path to the ``.imzML`` (its ``.ibd`` beside it)
    mz_list : m/z values (at least one; positive, ≤ :data:`MAX_MZ`, distinct to 4 decimals,
        each window overlapping the file's m/z range)
    ppm : tolerance, parts per million (0 < ppm ≤ :data:`MAX_PPM`)
    roi_mask : PNG of the image's size (non-zero = ROI, e.g. lesions), optional
    out_dir : output folder; refused if it holds results unless ``force``
    tissue : PNG of the image's size (non-zero = tissue), optional; default: from the TIC
    hotspot_quantile : intensities above this quantile of the tissue pixels are clipped before
        the ROI statistics (0 < q ≤ 1; 1 = no clipping)

    Returns
    -------
    list of Path
        The files written (distinct; :func:`image_stem` names each m/z's images).

    Raises
    ------
    LeptotwinError
        Bad m/z, ppm or quantile; unreadable/truncated imzML; mask missing, of the wrong size or
        without a measured pixel; output folder not empty.
    """
    mzs = _check_mz(mz_list)
    _check_numbers(ppm, hotspot_quantile)
    with read_imzml(path) as data:
        _check_in_range(data, mzs, ppm)
        images = [ion_image(data, m, ppm=ppm) for m in mzs]
        measured = data.to_image(np.ones(data.n_spectra), fill=0.0) > 0
        tic = data.to_image(data.pixel_stats()["tic"]) if tissue is None else None
        pixel = data.pixel_size_um[0] if data.pixel_size_um else None
    if not measured.any():
        raise LeptotwinError("no spectrum lies in the plane z = 1", source=str(path))
    roi = read_mask_png(roi_mask, shape=measured.shape) if roi_mask is not None else None
    if roi is not None and not (roi & measured).any():
        raise LeptotwinError(
            "the ROI mask holds no pixel with a spectrum",
            source=str(roi_mask),
            expected="non-zero pixels inside the scanned area",
        )
    tis, how = _tissue(tissue, tic, measured)
    if roi is not None:
        tis = tis | (roi & measured)
    out = prepare_out_dir(out_dir, force=force)  # only once every input has been read
    written: list[Path] = []
    rows = []
    for mz, img in zip(mzs, images, strict=True):
        img = np.where(measured, img, np.nan)  # no spectrum: no value (empty cell, blank pixel)
        stem = image_stem(mz)
        written += _write_image(out, stem, img, roi, f"m/z {_mz_label(mz)} ± {ppm:g} ppm", pixel)
        if roi is not None:
            table = _roi_table(img, roi, tis, measured, hotspot_quantile)
        else:
            table = _summary(img, measured, tis)
        for k, (col, val) in enumerate((("mz", mz), ("ppm", ppm), ("image", stem))):
            table.insert(k, col, val)
        table["tissue_mask"] = how
        table["tissue_pixels"] = int(tis.sum())
        rows.append(table)
    written.append(write_csv(out / "roi_stats.csv", pd.concat(rows, ignore_index=True)))
    return written


def _write_image(
    out: Path, stem: str, img: np.ndarray, roi: np.ndarray | None, title: str, pixel: float | None
) -> list[Path]:
    """``stem``.csv (rows y, columns x, 1-based) and ``stem``.png (hot spots clipped)."""
    ny, nx = img.shape
    frame = pd.DataFrame(img, columns=[str(x) for x in range(1, nx + 1)])
    frame.insert(0, "y", np.arange(1, ny + 1))
    fig = Figure(figsize=(5, 4), layout="constrained")
    plot_ion_image(
        suppress_hotspots(img, mask=np.isfinite(img)),
        mask=roi,
        ax=fig.add_subplot(),
        title=title,
        pixel_um=pixel,
    )
    return [write_csv(out / f"{stem}.csv", frame), write_figure(out / f"{stem}.png", fig, dpi=120)]


def _roi_table(
    img: np.ndarray, roi: np.ndarray, tissue: np.ndarray, measured: np.ndarray, quantile: float
) -> pd.DataFrame:
    """ROI statistics on the image with hot spots clipped at ``quantile`` of the tissue."""
    clipped = suppress_hotspots(img, quantile=quantile, mask=tissue & measured)
    table = roi_stats(clipped, roi, tissue=tissue, measured=measured)
    table["hotspot_quantile"] = quantile
    on = clipped[tissue & measured]
    table["hotspot_clip"] = float(on.max()) if on.size else np.nan
    return table


def _summary(img: np.ndarray, measured: np.ndarray, tissue: np.ndarray) -> pd.DataFrame:
    """Summary of an image over its measured pixels, and its mean over tissue."""
    v = img[measured]
    on = img[tissue & measured]
    return pd.DataFrame(
        {
            "n_pixels": [v.size],
            "mean": [float(v.mean())],
            "median": [float(np.median(v))],
            "max": [float(v.max())],
            "fraction_nonzero": [float((v > 0).mean())],
            "tissue_mean": [float(on.mean()) if on.size else np.nan],
        }
    )
