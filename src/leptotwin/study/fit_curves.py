"""``leptotwin fit-curves``: fit dose-response curves from a tidy CSV or a plate file + layout.

Writes ``fits.csv`` (drc's long format: ``curve, model, param, estimate, se, lower, upper, rss,
ok``), ``qc.csv`` (one row per curve: convergence, F-test for a flat curve, R², IC50 in range) and
figures (``figures``, ``--figures``): ``summary`` (default) writes three whatever the number of
curves, ``summary_curves.png`` (the first :data:`SUMMARY_SETS` curve sets, one panel each),
``summary_qc.png`` (fit status counts and R²) and ``summary_ic50.png`` (distribution of IC50s);
``all`` adds one PNG per curve set (per ``dataset`` column if present, else groups of at most 8
curves); ``none`` writes the tables only. A flat curve (no dose dependence) has status ``flat``, no
IC50, and is drawn as the line at its mean. The input is read and checked before the output
folder is touched; each figure is written and released as soon as it is drawn.

Memory (issue 14): a tidy CSV is read through pyarrow (:mod:`leptotwin.analysis._drinput`); the
curves are fitted in chunks of :data:`CHUNK_CURVES` whole curves (the same numbers, bit for bit,
as one batch: curves are fitted independently) and each chunk's rows of drc's long table are
appended to ``fits.csv`` (a temporary file renamed into place at the end) as soon as they are
made, so neither the fit's work arrays nor the long table are ever held for all curves; the
summary grid refits its few curve sets on their own. ``--figures all`` keeps one fitter of every
curve (it draws them all). A ``.parquet`` input is read as Parquet and, unless ``tables`` says
otherwise, the tables are then written as ``fits.parquet`` and ``qc.parquet``.

Time (issue 14 item 2): the CSV tables are formatted through pyarrow's vectorised kernels, the
same bytes as pandas' ``to_csv`` (:func:`leptotwin._fileio.write_table_chunks`; pandas took
about 20 us a row of ``fits.csv``); the command imports neither scipy.stats nor, unless it draws
figures, matplotlib; the three summary figures have fixed margins (no constrained layout) and
cost the same whatever the number of curves.

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
import math
from collections.abc import Iterator
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

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn (0.5 s of start-up)
    from matplotlib.figure import Figure

__all__ = [
    "CHUNK_CURVES",
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
#: Curve sets drawn in ``summary_curves.png`` (the first ones, in order of appearance).
SUMMARY_SETS = 12
#: Curves fitted (and their rows of ``fits.csv`` written) at a time by ``fit-curves``.
CHUNK_CURVES = 50_000
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


def summary_curves_figure(
    fitter: DoseResponseFitter,
    sets: dict[str, list[str]],
    *,
    n_sets: int = SUMMARY_SETS,
    n_curves: int | None = None,
) -> Figure:
    """The first ``n_sets`` curve sets, one panel each (titled with the set's name), in a grid of
    at most 4 columns; the title says how many sets there are in all and how many curves
    (``n_curves``, else the fitter's: ``fitter`` needs only the curves of the sets drawn)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullLocator

    lookup = _label_lookup(fitter)
    shown = list(sets.items())[:n_sets]
    ncols = max(1, min(4, len(shown)))
    nrows = max(1, math.ceil(len(shown) / ncols))
    fig = Figure(figsize=(3.4 * ncols + 0.4, 2.9 * nrows + 0.5))
    _margins(
        fig, left=0.5, right=0.15, bottom=0.4, top=0.55, wgap=0.5, hgap=0.6, grid=(nrows, ncols)
    )
    for k, (name, labels) in enumerate(shown):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        fitter.plot(ax=ax, curves=[lookup[c] for c in labels])
        ax.set_title(name, fontsize=8, y=1.0)  # a given height: no search for a free one
        ax.xaxis.set_minor_locator(NullLocator())  # unlabelled; a third of the drawing time
        ax.xaxis.set_major_formatter(FuncFormatter(_dose_label))  # plain text, not mathtext
        ax.tick_params(labelsize=7)
        ax.xaxis.label.set_fontsize(7)
        ax.yaxis.label.set_fontsize(7)
        if ax.get_legend() is not None:
            ax.legend(fontsize=5, title=None)
    which = "all" if len(shown) == len(sets) else f"first {len(shown)} of"
    fig.suptitle(
        f"{fitter.model.name} fits: {which} {len(sets)} curve sets "
        f"({len(fitter.curves_) if n_curves is None else n_curves} curves)",
        fontsize=10,
    )
    return fig


def _dose_label(x: float, _pos: object = None) -> str:
    """A dose tick label as plain text (0.001, 10, 1e+06)."""
    return f"{x:g}"


def _margins(
    fig: Figure,
    *,
    left: float,
    right: float,
    bottom: float,
    top: float,
    wgap: float = 0.0,
    hgap: float = 0.0,
    grid: tuple[int, int] = (1, 1),
) -> None:
    """Fixed margins and gaps between panels, in inches (a summary figure's text is known in
    advance: matplotlib's constrained layout measured it again, drawing every panel twice, about
    half the time of saving a figure)."""
    width, height = fig.get_size_inches()
    nrows, ncols = grid
    panel_w = (width - left - right - wgap * (ncols - 1)) / ncols
    panel_h = (height - bottom - top - hgap * (nrows - 1)) / nrows
    fig.subplots_adjust(
        left=left / width,
        right=1.0 - right / width,
        bottom=bottom / height,
        top=1.0 - top / height,
        wspace=wgap / panel_w,
        hspace=hgap / panel_h,
    )


def qc_figure(qc: pd.DataFrame) -> Figure:
    """Fit status counts (bars) and the R² of the fitted curves (histogram) of a QC table."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8))
    _margins(fig, left=1.0, right=0.15, bottom=0.5, top=0.35, wgap=0.75, grid=(1, 2))
    left, right = fig.subplots(1, 2)
    counts = qc["status"].astype(str).value_counts()
    left.barh(counts.index[::-1], counts.to_numpy()[::-1], color="tab:blue")
    for y, v in enumerate(counts.to_numpy()[::-1]):
        left.annotate(f" {v}", (v, y), va="center", fontsize=8)
    left.margins(x=0.15)
    left.set_xlabel("curves")
    left.set_title(f"{len(qc)} curves, {int(qc['ok'].sum())} ok", fontsize=9)
    left.tick_params(labelsize=8)
    r2 = pd.to_numeric(qc["r2"], errors="coerce").to_numpy(float)
    r2 = r2[np.isfinite(r2)]
    if r2.size:
        r2 = np.clip(r2, 0.0, 1.0)
        low = min(float(r2.min()), 0.9)
        right.hist(r2, bins=np.linspace(low, 1.0, 41), color="tab:green")
    else:
        right.text(0.5, 0.5, "no curve fitted", ha="center", va="center")
    right.set_xlabel("R² (below 0 counted at 0)")
    right.set_ylabel("curves")
    right.set_title(f"R² of {r2.size} fitted curves", fontsize=9)
    return fig


def ic50_figure(qc: pd.DataFrame) -> Figure:
    """Histogram of the IC50s of converged curves (log scale) over the tested doses and a decade
    either side, within and beyond the tested doses stacked; IC50s further out are drawn in the
    outermost bins."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4))
    _margins(fig, left=0.7, right=0.15, bottom=0.5, top=0.35)
    ax = fig.add_subplot()
    ic50 = pd.to_numeric(qc["ic50"], errors="coerce").to_numpy(float)
    use = qc["ok"].to_numpy(bool) & np.isfinite(ic50) & (ic50 > 0)
    inside = use & qc["ic50_in_range"].to_numpy(bool)
    outside = use & ~inside
    if use.any():
        doses = qc.loc[use, ["dose_min", "dose_max"]].to_numpy(float)
        lo, hi = np.log10(doses[:, 0].min()) - 1.0, np.log10(doses[:, 1].max()) + 1.0
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            lo, hi = np.log10(ic50[use].min()) - 1.0, np.log10(ic50[use].max()) + 1.0
        shown = np.clip(ic50, 10.0**lo, 10.0**hi)
        ax.hist(
            [shown[inside], shown[outside]],
            bins=np.logspace(lo, hi, 41),
            stacked=True,
            color=["tab:blue", "tab:orange"],
            label=[f"within tested doses ({int(inside.sum())})", f"beyond ({int(outside.sum())})"],
        )
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no IC50 estimated", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("IC50 (dose unit of the input; beyond a decade of the doses: at the edges)")
    ax.set_ylabel("curves")
    ax.set_title(f"IC50 of {int(use.sum())} of {len(qc)} curves (converged, not flat)", fontsize=9)
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
        yield None, CHUNK_CURVES if chunk_curves is None else chunk_curves
        return
    if chunk_curves is None and n_curves <= MIN_TASK_CURVES:
        yield None, CHUNK_CURVES
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
    chunk; None chooses it (:data:`CHUNK_CURVES` here, :func:`auto_task_curves` on a cluster,
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
        sets = curve_sets(frame)
        writer = FigureWriter(out, paths)
        writer.write("summary_curves", summary_curves_figure(fitter, sets))
        writer.write("summary_qc", qc_figure(qc))
        writer.write("summary_ic50", ic50_figure(qc))
        for name, fig in set_figures(fitter, sets):
            writer.write(name, fig)
        return paths
    codes, n_curves = _curve_codes(frame)
    summary = None
    if mode == "summary":  # the grid's curve sets, fitted on their own (the same numbers)
        sets = curve_sets(frame)
        drawn = {c for labels in list(sets.values())[:SUMMARY_SETS] for c in labels}
        uniques = pd.unique(frame["curve"])
        wanted = np.flatnonzero(np.fromiter((str(c) in drawn for c in uniques), bool, n_curves))
        grid = DoseResponseFitter(model=model, match_drc=match_drc)
        grid.fit(frame[np.isin(codes, wanted)])
        del uniques
        summary = (grid, sets)
    qc_parts: list[pd.DataFrame] = []
    with _fit_place(scheduler, n_workers, n_curves, chunk_curves) as (client, size):
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
        paths = {"fits": write_table_chunks(out / f"fits{suffix}", stream)}
        del frame, codes, stream
    qc = pd.concat(qc_parts, ignore_index=True) if len(qc_parts) > 1 else qc_parts[0]
    qc_parts.clear()
    paths["qc"] = write_table(out / f"qc{suffix}", qc)
    if summary is None:
        return paths
    grid, sets = summary
    writer = FigureWriter(out, paths)
    writer.write("summary_curves", summary_curves_figure(grid, sets, n_curves=n_curves))
    writer.write("summary_qc", qc_figure(qc))
    writer.write("summary_ic50", ic50_figure(qc))
    return paths
