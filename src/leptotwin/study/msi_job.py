"""User-facing MSI job (``leptotwin msi FILE.imzML --mz … [--ppm] [--roi mask.png] --out DIR``).

Writes, for each m/z, ``ion_image_<mz>.csv`` (column ``y`` then one column per x, rows y) and
``ion_image_<mz>.png`` (with the ROI outline), and ``roi_stats.csv``: with an ROI mask, the
ROI / adjacent ratio (ring of 3 pixels around the ROI, pixels with a spectrum) and its
95 % interval (:func:`leptotwin.analysis.msi.roi_stats`);
without one, a summary of each image over pixels with a spectrum.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin._fileio import prepare_out_dir, write_csv, write_figure
from leptotwin.analysis.msi import (
    ion_image,
    plot_ion_image,
    read_imzml,
    read_mask_png,
    roi_stats,
    suppress_hotspots,
)
from leptotwin.errors import LeptotwinError

__all__ = ["run_msi_job"]


def _mz_label(mz: float) -> str:
    return f"{mz:.4f}"


def run_msi_job(
    path: str | os.PathLike[str],
    mz_list: Sequence[float],
    ppm: float = 10.0,
    roi_mask: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "msi_out",
    force: bool = False,
) -> list[Path]:
    """Ion images and ROI statistics of an imzML file.

    Parameters
    ----------
    path : path to the ``.imzML`` (its ``.ibd`` beside it)
    mz_list : m/z values (at least one)
    ppm : tolerance, parts per million (> 0)
    roi_mask : PNG of the image's size (non-zero = ROI, e.g. lesions), optional
    out_dir : output folder; refused if it holds results unless ``force``

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    LeptotwinError
        No m/z, bad ppm, unreadable/truncated imzML, mask missing or of the wrong size, output
        folder not empty.
    """
    mzs = [float(m) for m in mz_list]
    if not mzs or any(not np.isfinite(m) or m <= 0 for m in mzs):
        raise LeptotwinError("give at least one positive m/z", source="--mz", value=mz_list)
    if not np.isfinite(ppm) or ppm <= 0:
        raise LeptotwinError("ppm must be > 0", source="--ppm", value=ppm)
    with read_imzml(path) as data:
        images = [ion_image(data, m, ppm=ppm) for m in mzs]
        has_spec = data.to_image(np.ones(data.n_spectra), fill=0.0) > 0
        pixel = data.pixel_size_um[0] if data.pixel_size_um else None
        shape = data.shape
    roi = read_mask_png(roi_mask, shape=shape) if roi_mask is not None else None
    out = prepare_out_dir(out_dir, force=force)  # only once every input has been read
    written: list[Path] = []
    rows = []
    for mz, img in zip(mzs, images, strict=True):
        label = _mz_label(mz)
        ny, nx = img.shape
        frame = pd.DataFrame(img, columns=[str(x) for x in range(1, nx + 1)])
        frame.insert(0, "y", np.arange(1, ny + 1))
        written.append(write_csv(out / f"ion_image_{label}.csv", frame))
        fig = Figure(figsize=(5, 4), layout="constrained")
        plot_ion_image(
            suppress_hotspots(img, mask=has_spec),
            mask=roi,
            ax=fig.add_subplot(),
            title=f"m/z {label} ± {ppm:g} ppm",
            pixel_um=pixel,
        )
        written.append(write_figure(out / f"ion_image_{label}.png", fig, dpi=120))
        if roi is not None:
            st = roi_stats(img, roi, tissue=has_spec)
            st.insert(0, "ppm", ppm)
            st.insert(0, "mz", mz)
            rows.append(st)
        else:
            v = img[has_spec]
            rows.append(
                pd.DataFrame(
                    {
                        "mz": [mz],
                        "ppm": [ppm],
                        "n_pixels": [v.size],
                        "mean": [float(v.mean()) if v.size else np.nan],
                        "median": [float(np.median(v)) if v.size else np.nan],
                        "max": [float(v.max()) if v.size else np.nan],
                        "fraction_nonzero": [float((v > 0).mean()) if v.size else np.nan],
                    }
                )
            )
    written.append(write_csv(out / "roi_stats.csv", pd.concat(rows, ignore_index=True)))
    return written
