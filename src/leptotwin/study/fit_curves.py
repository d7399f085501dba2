"""``leptotwin fit-curves``: fit dose-response curves from a tidy CSV or a plate file + layout.

Writes ``fits.csv`` (drc's long format: ``curve, model, param, estimate, se, lower, upper, rss,
ok``), ``qc.csv`` (one row per curve: convergence, F-test for a flat curve, R², IC50 in range) and
figures (``figures``, ``--figures``): ``summary`` (default) writes three whatever the number of
curves, as SVG drawn without matplotlib (:mod:`leptotwin.study._svgfig`, milliseconds):
``summary_curves.svg`` (the first :data:`SUMMARY_SETS` curve sets, one panel each),
``summary_qc.svg`` (fit status counts and R²) and ``summary_ic50.svg`` (distribution of IC50s);
``all`` adds one PNG per curve set (matplotlib; per ``dataset`` column if present, else groups
of at most 8 curves); ``none`` writes the tables only. A flat curve (no dose dependence) has
status ``flat``, no IC50, and is drawn as the line at its mean. The input is read and checked
before the output folder is touched; each figure is written and released as soon as it is drawn.

Memory (issue 14): a tidy CSV is read through pyarrow (:mod:`leptotwin.analysis._drinput`); the
curves are fitted in chunks of :data:`LOCAL_CHUNK_CURVES` whole curves (the same numbers, bit for
bit, as one batch: curves are fitted independently) and each chunk's rows of drc's long table and
of the QC table are appended to ``fits.csv`` and ``qc.csv`` (temporary files renamed into place at
the end) as soon as they are made, so neither the fit's work arrays nor the long table are ever
held for all curves (two chunks at most: the one written and the next, fitted meanwhile), and of
the QC table only the columns the figures read; the summary grid refits its few curve sets on
their own. ``--figures all`` keeps one fitter of every curve (it draws them all). A ``.parquet``
input is read as Parquet and, unless ``tables`` says otherwise, the tables are then written as
``fits.parquet`` and ``qc.parquet`` (the QC table at the end, as one row group). Peak memory at
10^6 curves (27 million rows, a 1.2 GB CSV), default outputs: 1.33 GB.

Time (issue 14 item 2): the CSV tables are formatted through pyarrow's vectorised kernels, the
same bytes as pandas' ``to_csv`` (:func:`leptotwin._fileio.write_table_chunks`; pandas took
about 20 us a row of ``fits.csv``); the command imports neither scipy.stats nor, unless it draws
the per-set figures of ``--figures all``, matplotlib (its import and drawing of the three summary
figures as PNG took about 1.7 s of a 2.8 s run of 1,000 curves); the summary figures cost the
same whatever the number of curves. The next chunk of curves is fitted in a worker thread while
the rows of the current one are formatted and written (the kernel releases the GIL, and building
a chunk's tables and formatting its CSV text are largely numpy and pyarrow work): at 10^5 curves
on 2 cores this took 2.5-2.7 s instead of 3.1-3.7 s, the same bytes. Start-up at 10^3 curves
(where it is most of the run): the cached numba kernels are loaded without numba's
target-context refresh (:class:`leptotwin.analysis._kernels._LoadOnlyCache`: no lowering
modules, no scipy.linalg; 0.15-0.2 s), and the ``leptotwin`` process's exit skips the garbage
collector's passes over the objects alive then (:func:`leptotwin.cli.run`: ~0.3 s); whole
process 1.73 s -> 1.20 s at load ~2, the same bytes.

Scheduler (issue 14 item 5): the batched kernel already runs on every core of this machine, so a
Dask cluster on the same machine can only add its start-up and the transfer of the curves (a
LocalCluster of 2 workers started for the run measured 2.3x and 2.0x slower than this process
for 200 and 10^4 curves on a 2-core machine; a warm one given by address, 0.95-1.2x).
``scheduler="local"`` therefore fits here, with the same outputs (figures included) and the same
numbers; a scheduler address sends chunks of whole curves to the cluster's workers, in
:func:`auto_task_curves` curves per task unless ``chunk_curves`` is given, and fits here work of
one task or less (:data:`MIN_TASK_CURVES` curves). A cluster helps only when its workers together
fit curves much faster than this machine; reading the input and writing the tables stay here
either way.
"""

from __future__ import annotations

import contextlib
import gc
import math
import queue
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin._fileio import (
    is_parquet,
    need_file,
    prepare_out_dir,
    write_table,
    write_table_chunks,
)
from leptotwin.analysis._drinput import check_frame, read_tidy
from leptotwin.analysis.doseresponse import DoseResponseFitter
from leptotwin.errors import LeptotwinError
from leptotwin.study._figure_out import FigureWriter, figure_mode
from leptotwin.study.distributed import auto_chunk_size

if TYPE_CHECKING:  # matplotlib is imported where a per-set figure is drawn (0.5 s of start-up)
    from matplotlib.figure import Figure

    from leptotwin.study._svgfig import SvgFigure

__all__ = [
    "CHUNK_CURVES",
    "LOCAL_CHUNK_CURVES",
    "MIN_TASK_CURVES",
    "SUMMARY_SETS",
    "auto_task_curves",
    "curve_sets",
    "fit_tables",
    "ic50_figure",
    "qc_figure",
    "run_fit_curves",
    "set_figures",
    "summary_curves_figure",
]

_MODELS = ("LL.2", "LL.3", "LL.4", "LL.5", "W1.4")
#: Curve sets drawn in ``summary_curves.svg`` (the first ones, in order of appearance).
SUMMARY_SETS = 12
#: Most curves per Dask task when the chunk size is chosen for a cluster.
CHUNK_CURVES = 50_000
#: Curves per chunk fitted in this process when the size is chosen. The next chunk is fitted
#: while the rows of one are written, so two are held: at 10^6 curves 12,500 kept the peak
#: memory at 1.33 GB (25,000: 1.44 GB, 50,000: 1.48-1.59 GB), at the same speed (2 cores).
LOCAL_CHUNK_CURVES = 12_500
#: Fewest curves per Dask task when the chunk size is chosen automatically (≈ 0.1 s of fitting
#: on one core: the task's scheduling and transfer are then small beside its work).
MIN_TASK_CURVES = 5_000
_TABLE_FORMATS = ("csv", "parquet")


def curve_sets(data: pd.DataFrame, *, per_figure: int = 8) -> dict[str, list[str]]:
    """Group curve labels for figures: by ``dataset`` if that column exists, else in chunks."""
    if "dataset" in data.columns:
        groups = data.groupby("dataset", sort=False, observed=True)["curve"].unique()
        return {str(k): [str(c) for c in v] for k, v in groups.items()}
    labels = [str(c) for c in pd.unique(data["curve"])]
    return {
        f"curves_{i // per_figure + 1:02d}": labels[i : i + per_figure]
        for i in range(0, len(labels), per_figure)
    }


def _label_lookup(fitter: DoseResponseFitter) -> dict[str, Any]:
    """Fitted curve label by its text (the first label that reads so), built once."""
    lookup: dict[str, Any] = {}
    for label in fitter.curves_:
        lookup.setdefault(str(label), label)
    return lookup


def set_figures(
    fitter: DoseResponseFitter, sets: dict[str, list[str]]
) -> Iterator[tuple[str, Figure]]:
    """One figure per curve set, drawn only when the iterator reaches it (write each one before
    asking for the next: memory then does not grow with the number of sets)."""
    from matplotlib.figure import Figure

    lookup = _label_lookup(fitter)
    for name, labels in sets.items():
        fig = Figure(figsize=(6.5, 4.5), layout="constrained")
        ax = fig.add_subplot()
        fitter.plot(ax=ax, curves=[lookup[c] for c in labels])
        ax.set_title(f"{fitter.model.name} fits: {name}", fontsize=9)
        yield name, fig


def _summary_sets(
    frame: pd.DataFrame, codes: NDArray[np.intp], n_curves: int
) -> tuple[dict[str, list[str]], int, pd.DataFrame]:
    """The first :data:`SUMMARY_SETS` curve sets as :func:`curve_sets` gives them, how many sets
    there are in all, and the rows of ``frame`` of the curves in those first sets, without
    making every label text (``codes``: :func:`_curve_codes`, curves numbered in order of first
    appearance). The sets of 8 curves are the first curves; data sets, the first data sets."""
    if "dataset" in frame.columns:
        d_codes, d_uniques = pd.factorize(frame["dataset"], sort=False)  # missing: -1, no set
        n_sets = len(d_uniques)
        take = (d_codes >= 0) & (d_codes < SUMMARY_SETS)
    else:
        n_sets = math.ceil(n_curves / 8)
        take = codes < SUMMARY_SETS * 8
    rows = frame[take]
    shown = dict(list(curve_sets(rows).items())[:SUMMARY_SETS])
    return shown, n_sets, rows


def summary_curves_figure(
    fitter: DoseResponseFitter,
    data: pd.DataFrame,
    sets: dict[str, list[str]],
    *,
    n_sets: int = SUMMARY_SETS,
    n_curves: int | None = None,
    total_sets: int | None = None,
) -> SvgFigure:
    """The first ``n_sets`` curve sets, one panel each (titled with the set's name), in a grid of
    at most 4 columns: each curve's observations (``data``: columns ``curve``, ``dose``,
    ``response``; rows of other curves are ignored) as points and its fitted curve as a line, on
    a log dose axis where dose 0 is drawn a decade below the panel's smallest positive dose (as
    drc does); a flat curve is the line at its mean. A legend names the curves of a set of at
    most 10. The title says how many sets there are in all (``total_sets``, else ``len(sets)``:
    ``sets`` may hold only the sets drawn) and how many curves (``n_curves``, else the fitter's:
    ``fitter`` needs only the curves of the sets drawn, and is evaluated on 200 doses for all its
    curves). SVG (:mod:`leptotwin.study._svgfig`)."""
    from leptotwin.study._svgfig import TAB10, SvgFigure

    shown = list(sets.items())[:n_sets]
    ncols = max(1, min(4, len(shown)))
    nrows = max(1, math.ceil(len(shown) / ncols))
    all_sets = len(sets) if total_sets is None else total_sets
    which = "all" if len(shown) == all_sets else f"first {len(shown)} of"
    total = len(fitter.curves_) if n_curves is None else n_curves
    fig = SvgFigure(
        330 * ncols + 20,
        270 * nrows + 45,
        title=f"{fitter.model.name} fits: {which} {all_sets} curve sets ({total} curves)",
    )
    boxes = fig.grid(nrows, ncols, left=62, right=14, top=62, bottom=46, wgap=62, hgap=74)
    index = {str(c): i for i, c in enumerate(fitter.curves_)}
    by_curve = _grouped_xy(data["curve"], data["dose"], data["response"])
    qc = fitter.qc_
    dose_min = qc["dose_min"].to_numpy(float)
    dose_max = qc["dose_max"].to_numpy(float)
    for (name, labels), box in zip(shown, boxes, strict=False):
        rows = [index[c] for c in labels if c in index]
        pos_lo = np.nanmin(dose_min[rows]) if rows else np.nan
        pos_hi = np.nanmax(dose_max[rows]) if rows else np.nan
        if not (np.isfinite(pos_lo) and np.isfinite(pos_hi) and pos_lo > 0):
            pos_lo, pos_hi = 1.0, 10.0
        lo, hi = pos_lo / 10.0, max(pos_hi, pos_lo)
        grid = np.exp(np.linspace(np.log(lo), np.log(hi), 200))
        lines = fitter.predict(grid).to_numpy()[rows] if rows else np.empty((0, 200))
        by_set = []
        for c in labels:
            x, y = by_curve.get(c, (np.empty(0), np.empty(0)))
            keep = np.isfinite(y)
            by_set.append((x[keep], y[keep]))
        pts = [(np.where(x > 0, x, lo), y) for x, y in by_set]
        ys = np.concatenate([y for _, y in pts] + [lines[np.isfinite(lines)]])
        ylo, yhi = (float(ys.min()), float(ys.max())) if ys.size else (0.0, 1.0)
        pad = 0.06 * (yhi - ylo) if yhi > ylo else 1.0
        panel = fig.panel(
            box,
            (lo / 10**0.1, hi * 10**0.1),
            (ylo - pad, yhi + pad),
            xlog=True,
            title=name,
            xlabel="dose (unit of the input)",
            ylabel="response (unit of the input)",
            font=10.0,
            xzero=lo if any(bool((x <= 0).any()) for x, _ in by_set) else None,
        )
        entries = []
        for k, (c, (x, y)) in enumerate(zip(labels, pts, strict=True)):
            color = TAB10[k % len(TAB10)]
            panel.markers(x, y, color=color)
            if c in index:
                panel.polyline(grid, lines[rows.index(index[c])], color=color, label=c)
            entries.append((c, color, "line"))
        if len(labels) <= 10:
            every_x = np.concatenate([x for x, _ in pts] + [np.tile(grid[::10], len(rows))])
            every_y = np.concatenate([y for _, y in pts] + [lines[:, ::10].ravel()])
            panel.legend(entries, font=7.5, avoid=(every_x, every_y))
    return fig


def _grouped_xy(
    curve: pd.Series, dose: pd.Series, response: pd.Series
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Doses and responses of each curve label (as text), in row order (only the labels present
    are made text: a Categorical's other categories are not)."""
    codes, uniques = pd.factorize(curve, sort=False)
    order = np.argsort(codes, kind="stable")
    cuts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    x = dose.to_numpy(float)[order]
    y = response.to_numpy(float)[order]
    return {
        str(u): (x[cuts[i] : cuts[i + 1]], y[cuts[i] : cuts[i + 1]]) for i, u in enumerate(uniques)
    }


def qc_figure(qc: pd.DataFrame) -> SvgFigure:
    """Fit status counts (bars) and the R² of the fitted curves (histogram, 40 bins from
    min(0.9, smallest R²) to 1) of a QC table. SVG (:mod:`leptotwin.study._svgfig`)."""
    from leptotwin.study._svgfig import SvgFigure

    fig = SvgFigure(900, 380)
    (lbox, rbox) = fig.grid(1, 2, left=150, right=20, top=36, bottom=52, wgap=90)
    counts = qc["status"].astype(str).value_counts()
    names = [str(s) for s in counts.index]
    values = counts.to_numpy(float)
    left = fig.panel(
        lbox,
        (0.0, float(values.max()) * 1.18 if values.size else 1.0),
        (-0.5, max(len(names), 1) - 0.5),
        title=f"{len(qc)} curves, {int(qc['ok'].sum())} ok",
        xlabel="curves",
        font=11.0,
        xcounts=True,
    )
    left.hbars(names, values, color="#1f77b4")
    r2 = pd.to_numeric(qc["r2"], errors="coerce").to_numpy(float)
    r2 = r2[np.isfinite(r2)]
    if r2.size:
        r2 = np.clip(r2, 0.0, 1.0)
        low = min(float(r2.min()), 0.9)
        edges = np.linspace(low, 1.0, 41)
        counts_r2, _ = np.histogram(r2, bins=edges)
        right = fig.panel(
            rbox,
            (low, 1.0),
            (0.0, float(counts_r2.max()) * 1.05 or 1.0),
            title=f"R² of {r2.size} fitted curves",
            xlabel="R² (below 0 counted at 0)",
            ylabel="curves",
            font=11.0,
            ycounts=True,
        )
        right.bars(edges[:-1], edges[1:], counts_r2, color="#2ca02c")
    else:
        right = fig.panel(
            rbox,
            (0.0, 1.0),
            (0.0, 1.0),
            title="R² of 0 fitted curves",
            xlabel="R² (below 0 counted at 0)",
            ylabel="curves",
            font=11.0,
        )
        right.note("no curve fitted")
    return fig


def ic50_figure(qc: pd.DataFrame) -> SvgFigure:
    """Histogram of the IC50s of converged curves (log scale, 40 bins) over the tested doses and
    a decade either side, within and beyond the tested doses stacked; IC50s further out are
    drawn in the outermost bins. SVG (:mod:`leptotwin.study._svgfig`)."""
    from leptotwin.study._svgfig import SvgFigure

    fig = SvgFigure(660, 400)
    (box,) = fig.grid(1, 1, left=70, right=20, top=36, bottom=56)
    ic50 = pd.to_numeric(qc["ic50"], errors="coerce").to_numpy(float)
    use = qc["ok"].to_numpy(bool) & np.isfinite(ic50) & (ic50 > 0)
    inside = use & qc["ic50_in_range"].to_numpy(bool)
    outside = use & ~inside
    title = f"IC50 of {int(use.sum())} of {len(qc)} curves (converged, not flat)"
    xlabel = "IC50 (dose unit of the input; beyond a decade of the doses: at the edges)"
    if not use.any():
        panel = fig.panel(box, (0.1, 10.0), (0.0, 1.0), xlog=True, title=title, xlabel=xlabel,
                          ylabel="curves", font=11.0)  # fmt: skip
        panel.note("no IC50 estimated")
        return fig
    doses = qc.loc[use, ["dose_min", "dose_max"]].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = np.log10(doses[:, 0].min()) - 1.0, np.log10(doses[:, 1].max()) + 1.0
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        lo, hi = np.log10(ic50[use].min()) - 1.0, np.log10(ic50[use].max()) + 1.0
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    edges = np.logspace(lo, hi, 41)
    shown = np.log10(np.clip(ic50, 10.0**lo, 10.0**hi))
    log_edges = np.linspace(lo, hi, 41)
    n_in, _ = np.histogram(shown[inside], bins=log_edges)
    n_out, _ = np.histogram(shown[outside], bins=log_edges)
    top = float((n_in + n_out).max())
    panel = fig.panel(box, (edges[0], edges[-1]), (0.0, top * 1.15 or 1.0), xlog=True,
                      title=title, xlabel=xlabel, ylabel="curves", font=11.0,
                      ycounts=True)  # fmt: skip
    panel.bars(edges[:-1], edges[1:], n_in, color="#1f77b4", cls="bar-within")
    panel.bars(edges[:-1], edges[1:], n_out, bottom=n_in, color="#ff7f0e", cls="bar-beyond")
    panel.legend(
        [
            (f"within tested doses ({int(inside.sum())})", "#1f77b4", "patch"),
            (f"beyond ({int(outside.sum())})", "#ff7f0e", "patch"),
        ],
        font=10.0,
        avoid=(np.sqrt(edges[:-1] * edges[1:]), n_in + n_out),
        filled_below=True,
    )
    return fig


def _load(data: Path | None, plate: Path | None, layout: Path | None) -> pd.DataFrame:
    if data is not None and (plate is not None or layout is not None):
        raise LeptotwinError(
            "give either a tidy CSV or --plate with --layout, not both", source="fit-curves"
        )
    if data is not None:
        need_file(data, "data")
        frame = read_tidy(data, categorical=True)  # every cell checked; one-line errors
        if "dataset" in frame.columns:
            frame["curve"] = _joined_labels(frame["dataset"], frame["curve"])
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
    frame = to_dose_response(normalise_to_controls(merged).data)
    check_frame(frame, str(plate))  # checked whole before the output folder is touched
    return frame


def _joined_labels(dataset: pd.Series, curve: pd.Series) -> pd.Categorical:
    """``"dataset:curve"`` per row, one string per distinct pair (not one per row)."""
    d_codes, d_uniq = pd.factorize(dataset, sort=False)
    c_codes, c_uniq = pd.factorize(curve, sort=False)
    pair_codes, pairs = pd.factorize(d_codes * np.int64(len(c_uniq)) + c_codes, sort=False)
    names = pd.Index(
        [f"{d_uniq[p // len(c_uniq)]}:{c_uniq[p % len(c_uniq)]}" for p in pairs], dtype=object
    )
    return pd.Categorical.from_codes(pair_codes, categories=names)


def _curve_codes(frame: pd.DataFrame) -> tuple[NDArray[np.intp], int]:
    """Each row's curve number (in order of first appearance) and the number of curves.

    A Categorical's own codes when they already are that (the reader's, curves in runs: no
    second code array for millions of rows)."""
    curve = frame["curve"]
    if isinstance(curve.dtype, pd.CategoricalDtype) and len(curve):
        codes = curve.cat.codes.to_numpy()
        n = len(curve.cat.categories)
        steps_ok = all(
            bool(((step >= 0) & (step <= 1)).all())
            for step in (np.diff(codes[lo : lo + 1_000_001]) for lo in range(0, codes.size, 10**6))
        )
        if codes[0] == 0 and codes[-1] == n - 1 and steps_ok:
            return codes, n
    codes, uniques = pd.factorize(curve, sort=False)
    return codes, len(uniques)


def _chunks(
    frame: pd.DataFrame, codes: NDArray[np.intp], n_curves: int, size: int
) -> Iterator[pd.DataFrame]:
    """``frame`` in pieces of at most ``size`` whole curves (by ``codes``), one at a time: row
    slices when the curves come in runs (the usual layout), else the rows of each piece."""
    runs = codes.size == 0 or bool((np.diff(codes) >= 0).all())
    for lo in range(0, n_curves, size):
        if runs:
            start, stop = np.searchsorted(codes, [lo, lo + size])
            yield frame.iloc[start:stop]
        else:
            yield frame[(codes >= lo) & (codes < lo + size)]


def auto_task_curves(n_curves: int, n_threads: int) -> int:
    """Curves per Dask task for ``n_curves`` on ``n_threads`` worker threads: about 4 tasks per
    thread, at least :data:`MIN_TASK_CURVES` and at most :data:`CHUNK_CURVES` curves each."""
    return auto_chunk_size(
        n_curves, n_threads, smallest=MIN_TASK_CURVES, largest=CHUNK_CURVES, per_worker=4
    )


@contextlib.contextmanager
def _fit_place(
    scheduler: object, n_workers: int, n_curves: int, chunk_curves: int | None
) -> Iterator[tuple[Any, int]]:
    """Where the chunks are fitted (a Dask client, or None: here) and how many curves each.

    Here for no scheduler, for ``"local"`` (this machine: the kernel already uses every core)
    and, with an automatic chunk size, for work of one task or less; else on the cluster."""
    if scheduler is None or scheduler == "local":
        yield None, LOCAL_CHUNK_CURVES if chunk_curves is None else chunk_curves
        return
    if chunk_curves is None and n_curves <= MIN_TASK_CURVES:
        yield None, LOCAL_CHUNK_CURVES
        return
    from leptotwin.study.distributed import dask_client

    with dask_client(scheduler, n_workers) as client:
        threads = sum(client.nthreads().values()) or n_workers
        size = auto_task_curves(n_curves, threads) if chunk_curves is None else chunk_curves
        yield client, size


def _fit_stream(
    frame: pd.DataFrame,
    codes: NDArray[np.intp],
    n_curves: int,
    qc_parts: list[pd.DataFrame],
    *,
    model: str,
    match_drc: bool,
    chunk_curves: int,
    client: Any = None,
) -> Iterator[pd.DataFrame]:
    """drc's long table chunk by chunk, in curve order (``qc_parts`` gets each chunk's QC rows),
    fitted here or, given a Dask ``client``, on its workers (each result released once taken)."""
    pieces = _chunks(frame, codes, n_curves, chunk_curves)
    if client is None:
        for piece in pieces:
            results, qc = _fit_chunk(piece, model, match_drc)
            del piece
            qc_parts.append(qc)
            yield results
        return
    futures = [client.submit(_fit_chunk, p, model, match_drc, pure=False) for p in pieces]
    for k in range(len(futures)):
        results, qc = futures[k].result()
        futures[k].release()
        qc_parts.append(qc)
        yield results


_END = object()
_FAILED = object()


def _coded_curves(results: pd.DataFrame) -> pd.DataFrame:
    """drc's long table with its text ``curve`` column as a Categorical: the CSV writer then
    formats each label once, not once per row (7 rows a curve for LL.4; the same bytes)."""
    curve = results["curve"]
    if curve.dtype != object:
        return results
    codes, labels = pd.factorize(curve, sort=False)
    return results.assign(curve=pd.Categorical.from_codes(codes, labels))


#: The QC columns the summary figures read (:func:`qc_figure`, :func:`ic50_figure`).
_FIGURE_QC = ["status", "ok", "r2", "ic50", "ic50_in_range", "dose_min", "dose_max"]


class _StreamedParts(list):  # type: ignore[type-arg]
    """The QC parts of a run, each handed, as it is appended, to :meth:`feed`, which a writer in
    another thread consumes (the QC table is then written while the curves are still being
    fitted and their long table written); the list keeps only the columns the summary figures
    read (the curve labels and the rest are released once written: ~0.15 GB at 10^6 curves)."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: the writer's future: a writer that failed (disk full, permissions) stops the fit at
        #: the next part instead of after every curve, its parts piling up in the queue
        self.writer: Future[Any] | None = None

    def append(self, part: pd.DataFrame) -> None:
        if self.writer is not None and self.writer.done() and self.writer.exception():
            raise self.writer.exception()  # type: ignore[misc]
        super().append(part[_FIGURE_QC])
        self._queue.put(part)

    def close(self, *, failed: bool) -> None:
        """No more parts: :meth:`feed` ends, or raises if the run ``failed`` (so that the
        writer removes its unfinished file)."""
        self._queue.put(_FAILED if failed else _END)

    def feed(self) -> Iterator[pd.DataFrame]:
        """The parts in the order appended, until :meth:`close`."""
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _FAILED:
                raise RuntimeError("the fit stopped: the QC table is not written")
            yield item


def _ahead(items: Iterator[Any]) -> Iterator[Any]:
    """The items of ``items``, each next one computed in a worker thread while the caller works
    on the current one (at most one item ahead: memory stays that of two chunks). An exception
    raised by ``items`` is raised here, at its place in the sequence."""
    with ThreadPoolExecutor(1, thread_name_prefix="leptotwin-fit") as pool:
        future = pool.submit(next, items, _END)
        while True:
            item = future.result()
            if item is _END:
                return
            future = pool.submit(next, items, _END)
            yield item


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
    chunk_curves: int | None = None,
    match_drc: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """drc's long table and the QC table of every curve, here or on a Dask cluster
    (``match_drc``: see :class:`~leptotwin.analysis.doseresponse.DoseResponseFitter`).

    ``scheduler``: None or ``"local"`` fit here (the kernel already uses every core of this
    machine), an address or a ``distributed.Client`` on the cluster. ``chunk_curves``: curves per
    chunk; None chooses it (:data:`LOCAL_CHUNK_CURVES` here, :func:`auto_task_curves` on a cluster,
    whose work of :data:`MIN_TASK_CURVES` curves or less is fitted here).

    Curves are fitted independently (the batched solver never mixes curves), so cutting the
    table into chunks of whole curves and fitting them on different workers gives the same
    numbers, bit for bit, as one fit here (tested): which starts a curve gets is decided from
    that curve alone.

    Raises
    ------
    LeptotwinError
        If ``chunk_curves`` < 1, or the fitted curves lack or repeat a curve.
    """
    if chunk_curves is not None and chunk_curves < 1:
        raise LeptotwinError("chunk size must be >= 1", source="--chunk-curves", value=chunk_curves)
    codes, n_curves = _curve_codes(frame)
    qc_parts: list[pd.DataFrame] = []
    with _fit_place(scheduler, n_workers, n_curves, chunk_curves) as (client, size):
        stream = _fit_stream(
            frame,
            codes,
            n_curves,
            qc_parts,
            model=model,
            match_drc=match_drc,
            chunk_curves=size,
            client=client,
        )
        results = pd.concat(list(stream), ignore_index=True)
    qc = pd.concat(qc_parts, ignore_index=True)
    if qc["curve"].astype(str).duplicated().any() or len(qc) != n_curves:
        raise LeptotwinError(
            "the fitted curves lack or repeat a curve", value=f"{len(qc)} of {n_curves}"
        )
    return results, qc


def _table_suffix(tables: str | None, data: Path | None) -> str:
    """``.parquet`` or ``.csv`` for the tables: ``tables`` if given, else as the input file."""
    if tables is None:
        return ".parquet" if data is not None and is_parquet(data) else ".csv"
    if tables not in _TABLE_FORMATS:
        raise LeptotwinError(
            "unknown table format", source="tables", value=tables, expected="csv or parquet"
        )
    return f".{tables}"


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
    figures: str = "summary",
    tables: str | None = None,
    chunk_curves: int | None = None,
) -> dict[str, Path]:
    """Fit and write the tables and figures; returns the written paths by name. ``scheduler``:
    None or ``"local"`` fit in this process (the kernel already uses every core of this machine:
    a cluster on it would only add start-up and transfers), an address fits chunks of whole
    curves on that Dask cluster (not with ``figures="all"``, which draws every curve from one fit
    here), see :func:`fit_tables`. ``match_drc``: keep the sign of ``b`` that R drc's
    self-starter picks (drc 3.2-0's answer) instead of the lower RSS of both signs (W1.4, LL.5,
    LL.3, LL.2).
    ``figures``: ``summary`` (three figures), ``all`` (those and one per curve set) or
    ``none``. ``data`` ending in ``.parquet`` (or ``.pq``) is read as Parquet. ``tables``:
    ``csv`` or ``parquet`` (``fits.parquet``, ``qc.parquet``); by default Parquet for a Parquet
    input, else CSV. ``chunk_curves``: curves fitted and written at a time (the numbers do not
    depend on it); None chooses it (:func:`fit_tables`)."""
    with _frozen_gc():
        return _run(
            data=data,
            plate=plate,
            layout=layout,
            model=model,
            out_dir=out_dir,
            force=force,
            scheduler=scheduler,
            n_workers=n_workers,
            match_drc=match_drc,
            figures=figures,
            tables=tables,
            chunk_curves=chunk_curves,
        )


@contextlib.contextmanager
def _frozen_gc() -> Iterator[None]:
    """The objects that exist on entry (the imported modules: about 10^6 objects after pandas,
    numba and scipy.special) left out of the garbage collector's full passes until exit, which
    then scan only what the run makes (those passes took 0.08-0.09 s of a run; 0.01-0.04 s
    frozen). Reference counting frees objects as before; :func:`gc.unfreeze` on exit."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run(
    *,
    data: Path | None,
    plate: Path | None,
    layout: Path | None,
    model: str,
    out_dir: Path,
    force: bool,
    scheduler: object,
    n_workers: int,
    match_drc: bool,
    figures: str,
    tables: str | None,
    chunk_curves: int | None,
) -> dict[str, Path]:
    """:func:`run_fit_curves`'s work."""
    mode = figure_mode(figures)
    if model not in _MODELS:
        raise LeptotwinError(
            "unknown model", source="--model", value=model, expected="one of " + ", ".join(_MODELS)
        )
    suffix = _table_suffix(tables, data)
    if chunk_curves is not None and chunk_curves < 1:
        raise LeptotwinError("chunk size must be >= 1", source="chunk_curves", value=chunk_curves)
    if mode == "all" and scheduler not in (None, "local"):
        raise LeptotwinError(
            "--figures all draws every curve from one fit in this process",
            source="--scheduler",
            value=str(scheduler),
            expected="--figures summary or none with a scheduler address",
        )
    frame = _load(data, plate, layout)
    if mode == "all":  # every set is drawn: one fitter of every curve
        fitter = DoseResponseFitter(model=model, match_drc=match_drc)
        fitter.fit(frame)
        qc = fitter.qc_.reset_index()
        out = prepare_out_dir(out_dir, force=force)
        paths = {
            "fits": write_table(out / f"fits{suffix}", fitter.results_),
            "qc": write_table(out / f"qc{suffix}", qc),
        }
        codes, n_curves = _curve_codes(frame)
        shown, n_sets, rows = _summary_sets(frame, codes, n_curves)
        grid = DoseResponseFitter(model=model, match_drc=match_drc).fit(rows)
        writer = FigureWriter(out, paths)
        writer.write(
            "summary_curves",
            summary_curves_figure(grid, rows, shown, n_curves=n_curves, total_sets=n_sets),
        )
        del grid, rows, codes
        sets = curve_sets(frame)
        writer.write("summary_qc", qc_figure(qc))
        writer.write("summary_ic50", ic50_figure(qc))
        for name, fig in set_figures(fitter, sets):
            writer.write(name, fig)
        return paths
    codes, n_curves = _curve_codes(frame)
    summary = None
    if mode == "summary":  # the grid's curve sets, fitted on their own (the same numbers)
        shown, n_sets, rows = _summary_sets(frame, codes, n_curves)
        grid = DoseResponseFitter(model=model, match_drc=match_drc).fit(rows)
        summary = (grid, rows, shown, n_sets)
    # CSV: each chunk's QC rows are written (a thread) as they come; Parquet: at the end, as
    # one row group
    qc_parts = _StreamedParts() if suffix == ".csv" else []
    with (
        _fit_place(scheduler, n_workers, n_curves, chunk_curves) as (client, size),
        ThreadPoolExecutor(1, thread_name_prefix="leptotwin-qc") as pool,
    ):
        out = prepare_out_dir(out_dir, force=force)
        stream = _fit_stream(
            frame,
            codes,
            n_curves,
            qc_parts,
            model=model,
            match_drc=match_drc,
            chunk_curves=size,
            client=client,
        )
        qc_job = None
        if isinstance(qc_parts, _StreamedParts):
            qc_job = pool.submit(write_table_chunks, out / f"qc{suffix}", qc_parts.feed())
            qc_parts.writer = qc_job
        failed = True
        # the next chunk is fitted (a thread) while this one's rows are written; closing the
        # generator on the way out joins that thread before the fitting place (a Dask client)
        # is closed under it, also when the writing fails
        try:
            with contextlib.closing(_ahead(_coded_curves(r) for r in stream)) as ready:
                paths = {"fits": write_table_chunks(out / f"fits{suffix}", ready)}
            failed = False
        finally:
            if isinstance(qc_parts, _StreamedParts):
                qc_parts.close(failed=failed)  # a failed run leaves no qc.csv
        del frame, codes, stream
        qc = pd.concat(qc_parts, ignore_index=True) if len(qc_parts) > 1 else qc_parts[0]
        qc_parts.clear()
        if qc_job is None:
            paths["qc"] = write_table(out / f"qc{suffix}", qc)
        else:
            paths["qc"] = qc_job.result()
    if summary is None:
        return paths
    grid, rows, shown, n_sets = summary
    writer = FigureWriter(out, paths)
    writer.write(
        "summary_curves",
        summary_curves_figure(grid, rows, shown, n_curves=n_curves, total_sets=n_sets),
    )
    writer.write("summary_qc", qc_figure(qc))
    writer.write("summary_ic50", ic50_figure(qc))
    return paths
