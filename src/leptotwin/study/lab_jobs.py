"""Command-line jobs for real lab files: qPCR exports and blot / array images.

Each job reads and analyses everything before touching the output folder, writes its tables
atomically, and refuses a folder that already holds results unless ``force``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from leptotwin._fileio import need_file, prepare_out_dir, write_csv, write_figure
from leptotwin.errors import LeptotwinError

__all__ = ["run_blot_job", "run_qpcr_job"]


def run_qpcr_job(
    *,
    path: Path,
    reference: Sequence[str],
    calibrator: str,
    method: str = "livak",
    out_dir: Path,
    force: bool = False,
) -> dict[str, Path]:
    """Relative expression (ΔΔCt or Pfaffl) of every target against the reference gene(s):
    ``summary.csv`` (fold changes with CIs and Welch tests), ``samples.csv``, ``replicates.csv``
    and ``fold_change.png``."""
    from leptotwin.analysis.qpcr import RelativeExpressionFitter, read_qpcr

    need_file(path, "cts")
    if not reference:
        raise LeptotwinError(
            "at least one reference gene is needed",
            source="--reference",
            expected="e.g. --reference GAPDH",
        )
    refs: str | list[str] = reference[0] if len(reference) == 1 else list(reference)
    fitter = RelativeExpressionFitter(reference=refs, calibrator=calibrator, method=method)
    fitter.fit(read_qpcr(path))
    fig = Figure(figsize=(6, 4), layout="constrained")
    fitter.plot(ax=fig.add_subplot())
    out = prepare_out_dir(out_dir, force=force)
    return {
        "summary": write_csv(out / "summary.csv", fitter.summary),
        "samples": write_csv(out / "samples.csv", fitter.samples_),
        "replicates": write_csv(out / "replicates.csv", fitter.replicates_),
        "figure": write_figure(out / "fold_change.png", fig),
    }


def run_blot_job(
    *,
    image: Path,
    lanes: int | None = None,
    layout: Path | None = None,
    background: str = "tophat",
    out_dir: Path,
    force: bool = False,
) -> dict[str, Path]:
    """Densitometry of a western blot (``--lanes``) or a membrane array (``--layout``):
    ``bands.csv`` (one row per lane) or ``spots.csv`` + ``receptors.csv``, and an annotated
    ``annotated.png``."""
    from leptotwin.analysis.densitometry import (
        quantify_array,
        quantify_bands,
        summarise_array,
        write_annotated,
    )

    need_file(image, "image")
    if (lanes is None) == (layout is None):
        raise LeptotwinError(
            "give --lanes for a blot or --layout for an array",
            source="blot",
            expected="exactly one of --lanes, --layout",
        )
    out_name = "annotated.png"
    if layout is not None:
        need_file(layout, "--layout")
        spots = quantify_array(image, layout)
        tables = {"spots": spots, "receptors": summarise_array(spots)}
        annotate_with = spots
    else:
        bands = quantify_bands(image, lanes, background=background)
        tables = {"bands": bands}
        annotate_with = bands
    out = prepare_out_dir(out_dir, force=force)
    paths = {name: write_csv(out / f"{name}.csv", t) for name, t in tables.items()}
    paths["annotated"] = write_annotated(image, annotate_with, out / out_name)
    return paths
