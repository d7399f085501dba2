"""``leptotwin fit-curves``: fit dose-response curves from a tidy CSV or a plate file + layout.

Writes ``fits.csv`` (drc's long format: ``curve, model, param, estimate, se, lower, upper, rss,
ok``), ``qc.csv`` (one row per curve: convergence, F-test for a flat curve, R², IC50 in range) and
one PNG per curve set (per ``dataset`` column if present, else groups of at most 8 curves). A flat
curve (no dose dependence) has status ``flat``, no IC50, and is drawn as the line at its mean.
Everything is read, checked and fitted before the output folder is touched.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from leptotwin._fileio import need_file, prepare_out_dir, safe_name, write_csv, write_figure
from leptotwin.analysis.doseresponse import DoseResponseFitter, read_dose_response
from leptotwin.errors import LeptotwinError
from leptotwin.study.distributed import whole_group_chunks

__all__ = ["curve_sets", "fit_tables", "run_fit_curves"]

_MODELS = ("LL.2", "LL.3", "LL.4", "LL.5", "W1.4")


def curve_sets(data: pd.DataFrame, *, per_figure: int = 8) -> dict[str, list[str]]:
    """Group curve labels for figures: by ``dataset`` if that column exists, else in chunks."""
    if "dataset" in data.columns:
        groups = data.groupby("dataset", sort=False)["curve"].unique()
        return {str(k): [str(c) for c in v] for k, v in groups.items()}
    labels = [str(c) for c in pd.unique(data["curve"])]
    return {
        f"curves_{i // per_figure + 1:02d}": labels[i : i + per_figure]
        for i in range(0, len(labels), per_figure)
    }


def _load(data: Path | None, plate: Path | None, layout: Path | None) -> pd.DataFrame:
    if data is not None and (plate is not None or layout is not None):
        raise LeptotwinError(
            "give either a tidy CSV or --plate with --layout, not both", source="fit-curves"
        )
    if data is not None:
        need_file(data, "data")
        frame = read_dose_response(data)  # every cell checked; one-line errors naming the line
        if "dataset" in frame.columns:
            frame["curve"] = frame["dataset"].astype(str) + ":" + frame["curve"].astype(str)
        return frame
    if plate is None or layout is None:
        raise LeptotwinError(
            "a plate file needs a layout file (and the reverse)",
            source="fit-curves",
            expected="--plate FILE --layout FILE",
        )
    from leptotwin.formats import (
        merge_plate,
        normalise_to_controls,
        read_layout,
        read_plate_reader,
        to_dose_response,
    )

    merged = merge_plate(read_plate_reader(plate), read_layout(layout))
    return to_dose_response(normalise_to_controls(merged).data)


def _fit_chunk(
    frame: pd.DataFrame, model: str, match_drc: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    fitter = DoseResponseFitter(model=model, match_drc=match_drc).fit(frame)
    return fitter.results_, fitter.qc_.reset_index()


def fit_tables(
    frame: pd.DataFrame,
    *,
    model: str = "LL.4",
    scheduler: object = None,
    n_workers: int = 2,
    chunk_curves: int = 50_000,
    match_drc: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """drc's long table and the QC table of every curve, here or on a Dask cluster
    (``match_drc``: see :class:`~leptotwin.analysis.doseresponse.DoseResponseFitter`).

    Curves are fitted independently (the batched solver never mixes curves), so cutting the
    table into chunks of whole curves and fitting them on different workers gives the same
    numbers, bit for bit, as one fit here (tested): which starts a curve gets is decided from
    that curve alone.
    """
    chunks, n_curves = whole_group_chunks(frame, "curve", chunk_curves, option="--chunk-curves")
    if scheduler is None:
        parts = [_fit_chunk(c, model, match_drc) for c in chunks]
    else:
        from leptotwin.study.distributed import dask_client

        with dask_client(scheduler, n_workers) as client:
            futures = [client.submit(_fit_chunk, c, model, match_drc, pure=False) for c in chunks]
            parts = client.gather(futures)
    results = pd.concat([p[0] for p in parts], ignore_index=True)
    qc = pd.concat([p[1] for p in parts], ignore_index=True)
    if qc["curve"].astype(str).duplicated().any() or len(qc) != n_curves:
        raise LeptotwinError(
            "the fitted curves lack or repeat a curve", value=f"{len(qc)} of {n_curves}"
        )
    return results, qc


def run_fit_curves(
    *,
    data: Path | None = None,
    plate: Path | None = None,
    layout: Path | None = None,
    model: str = "LL.4",
    out_dir: Path,
    force: bool = False,
    scheduler: object = None,
    n_workers: int = 2,
    match_drc: bool = False,
) -> dict[str, Path]:
    """Fit and write the tables and figures (figures only without ``scheduler``); returns the
    written paths by name. ``match_drc``: keep the sign of ``b`` that R drc's self-starter picks
    (drc 3.2-0's answer) instead of the lower RSS of both signs (W1.4, LL.5, LL.3, LL.2)."""
    if model not in _MODELS:
        raise LeptotwinError(
            "unknown model", source="--model", value=model, expected="one of " + ", ".join(_MODELS)
        )
    frame = _load(data, plate, layout)
    if scheduler is not None:
        results, qc = fit_tables(
            frame, model=model, scheduler=scheduler, n_workers=n_workers, match_drc=match_drc
        )
        out = prepare_out_dir(out_dir, force=force)
        return {"fits": write_csv(out / "fits.csv", results), "qc": write_csv(out / "qc.csv", qc)}
    fitter = DoseResponseFitter(model=model, match_drc=match_drc)
    fitter.fit(frame)
    sets = curve_sets(frame)
    figures = {}
    for name, labels in sets.items():
        fig = Figure(figsize=(6.5, 4.5), layout="constrained")
        ax = fig.add_subplot()
        fitter.plot(
            ax=ax, curves=[fitter.curves_[fitter.curves_.astype(str) == c][0] for c in labels]
        )
        ax.set_title(f"{model} fits: {name}", fontsize=9)
        figures[name] = fig
    out = prepare_out_dir(out_dir, force=force)
    paths = {
        "fits": write_csv(out / "fits.csv", fitter.results_),
        "qc": write_csv(out / "qc.csv", fitter.qc_.reset_index()),
    }
    for name, fig in figures.items():
        paths[name] = write_figure(out / f"{safe_name(name)}.png", fig)
    return paths
