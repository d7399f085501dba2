"""``leptotwin elisa``: standard-curve analysis of an ELISA plate-reader export and its layout.

Writes ``samples.csv`` (back-calculated concentrations with intervals, %CV and flags),
``standards.csv`` (back-fit recovery and CV of every standard), ``curves.csv`` (one row per plate:
parameters, LLOQ, ULOQ, status) and ``standard_curves.png``. Everything is read and fitted before
the output folder is touched.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from leptotwin._fileio import need_file, prepare_out_dir, write_csv, write_figure
from leptotwin.analysis.standard_curve import StandardCurveFitter, read_elisa

__all__ = ["run_elisa_job"]


def run_elisa_job(
    *,
    plate: Path,
    layout: Path,
    model: str = "4PL",
    weights: str = "1/y^2",
    out_dir: Path,
    force: bool = False,
) -> dict[str, Path]:
    """Fit every plate's standards and back-calculate the samples; returns the written paths."""
    need_file(plate, "plate")
    need_file(layout, "--layout")
    w = None if weights.lower() in ("none", "") else weights
    fitter = StandardCurveFitter(model=model, weights=w).fit(read_elisa(plate, layout))
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    fitter.plot(ax=fig.add_subplot())
    out = prepare_out_dir(out_dir, force=force)
    return {
        "samples": write_csv(out / "samples.csv", fitter.samples_),
        "standards": write_csv(out / "standards.csv", fitter.standards_),
        "curves": write_csv(out / "curves.csv", fitter.curves_),
        "figure": write_figure(out / "standard_curves.png", fig),
    }
