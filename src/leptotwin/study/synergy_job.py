"""``leptotwin synergy``: score drug-combination matrices and write tables and figures.

Reads SynergyFinder's long format, scores every block (:func:`synergy_scores`), and writes
``per_dose.csv``, ``per_block.csv``, ``qc.csv`` (one row per block: ``ok`` or why it was left
out), ``monotherapy.csv``, ``sensitivity.csv`` (SynergyFinder's RI, CSS and S per block;
``sensitivity_stats.csv`` too where blocks have replicates) and figures
(``figures``, ``--figures``): ``summary`` (default) writes,
whatever the number of blocks, per method the heatmaps of the :data:`TOP_BLOCKS` most synergistic
blocks (``summary_top_<method>.svg``) and ``summary_scores.svg`` (the distribution of the blocks'
mean scores), written as SVG without matplotlib (:mod:`leptotwin.study._svgfig`: milliseconds,
where matplotlib took about 4 s at 10^4 blocks); ``all`` adds a heatmap and a 3-D surface per
block and method (``<block>_<method>.png``, matplotlib); ``none`` writes the tables only. Blocks
of three or more drugs (SynergyFinder+'s ``drug1..drugN`` layout) get ``summary_top.svg`` (bars
of the most synergistic blocks' mean scores) and ``summary_scores.svg``, no heatmaps and no
``sensitivity.csv``.
Everything is read and checked before the output folder is touched; each figure is written and
released as soon as it is drawn.

Time (issue 14: the command against the API doing the same work): ``per_dose.csv`` (64 rows a
block and method, 224 MB at 10^4 blocks, ~2.5 s of formatting) is written by a thread chunk by
chunk while the next chunk of blocks is scored (:func:`leptotwin._fileio.streamed_table`), the
other tables while it formats the last one; a run that then fails (no block can be scored, a
refused scale) removes what it wrote and the folder it made, as before nothing is kept. The
command imports no scipy.stats (0.4-0.5 s), and the ``leptotwin`` process's exit skips the
garbage collector's passes over the objects alive then (:func:`leptotwin.cli.run`). Same bytes.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leptotwin._fileio import (
    output_transaction,
    prepare_out_dir,
    streamed_table,
    write_table,
)
from leptotwin.analysis._synergy_input import (
    RESPONSE_UNITS,
    CheckedTable,
    check_table_keys,
    check_table_nd,
    count_drugs,
    first_rows,
    response_multiplier,
    value_codes,
)
from leptotwin.analysis.synergy import (
    METHODS,
    SynergyResult,
    plot_synergy_heatmap,
    plot_synergy_surface,
    read_checked,
    synergy_scores,
)
from leptotwin.errors import LeptotwinError
from leptotwin.study._figure_out import FigureWriter, figure_mode
from leptotwin.study.distributed import whole_group_chunks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from leptotwin.study._svgfig import SvgFigure

__all__ = [
    "TOP_BLOCKS",
    "block_figures",
    "run_synergy_job",
    "score_distribution_figure",
    "top_blocks",
    "top_blocks_figure",
]

#: Blocks drawn per method in ``summary_top_<method>.svg``.
TOP_BLOCKS = 6


def _block_means(result: SynergyResult, method: str) -> pd.DataFrame:
    """``per_block`` rows of the mean score of ``method`` of the scored (``ok``) blocks."""
    pb = result.per_block
    rows = pb[(pb["method"] == method) & (pb["statistic"] == "mean")]
    ok = result.qc.loc[result.qc["status"] == "ok", "block_id"].astype(str)
    return rows[rows["block_id"].astype(str).isin(set(ok))]


def top_blocks(result: SynergyResult, method: str, n: int = TOP_BLOCKS) -> list[Any]:
    """The ``n`` scored blocks with the highest mean ``method`` score, most synergistic first
    (ties in table order; blocks without a mean score are left out)."""
    means = _block_means(result, method)
    means = means[means["score"].notna()]
    return list(means.sort_values("score", ascending=False, kind="stable")["block_id"].head(n))


def _top_rows(result: SynergyResult, blocks: Sequence[Any], method: str) -> pd.DataFrame:
    """``per_dose`` rows of ``method`` for ``blocks``: one pass over the table (``isin`` on the
    block ids, no text per row, no per-block index of the whole table)."""
    pd_ = result.per_dose
    if not len(blocks):
        return pd_.iloc[:0]
    rows = pd_[pd_["block_id"].isin(list(blocks)).to_numpy()]
    return rows[(rows["method"] == method).to_numpy()]


def _drawn_rows(result: SynergyResult, methods: Sequence[str]) -> SynergyResult:
    """``result`` with ``per_dose`` cut to the rows of the blocks that the summary heatmaps of
    ``methods`` draw (:func:`top_blocks` of each): one pass over ``per_dose`` for every method
    instead of one per figure (0.1-0.2 s each at 10^4 blocks); the figures are the same."""
    blocks = {b for m in methods for b in top_blocks(result, m)}
    per_dose = result.per_dose
    keep = per_dose["block_id"].isin(list(blocks)).to_numpy()
    return dataclasses.replace(result, per_dose=per_dose[keep])


def _ticks(values: Iterable[float]) -> list[str]:
    """Dose labels of a heatmap: whole numbers as they are (``1000``, ``12345``), other plain
    numbers to four significant digits (``0.05``, ``0.3333``) from 1e-4 to 1e4, ``1e-05``-style
    beyond; where two distinct doses would share a label (or a non-whole dose of 1e4 or more
    would be rounded), every label is the dose's shortest exact text."""
    vals = [float(c) for c in values]
    out = []
    for c in vals:
        if not (c == 0 or 1e-4 <= abs(c) < 1e6):
            out.append(f"{c:.3g}")
        elif c.is_integer():
            out.append(str(int(c)))
        elif abs(c) < 1e4:
            out.append(np.format_float_positional(c, precision=4, fractional=False, trim="-"))
        else:
            out.append(np.format_float_positional(c, trim="-"))
    if len(set(out)) < len(set(vals)):
        out = [repr(c) if not c.is_integer() else str(int(c)) for c in vals]
    return out


def top_blocks_figure(result: SynergyResult, method: str, n: int = TOP_BLOCKS) -> SvgFigure:
    """Heatmaps of the ``n`` most synergistic blocks by ``method`` (see :func:`top_blocks`), in
    rows of three, as an SVG figure (no matplotlib; written as ``.svg``): per block the
    per-dose scores (rows: the row drug's concentrations rising upwards, columns: the column
    drug's; each cell annotated), a colour bar of its own on a diverging map centred at 0
    (red: synergy), titled with the block's mean score."""
    from leptotwin.study._svgfig import HeatmapPanel, heatmap_panels

    blocks = top_blocks(result, method, n)
    rows = _top_rows(result, blocks, method)
    means = _block_means(result, method).drop_duplicates("block_id").set_index("block_id")
    panels = []
    for block in blocks:
        sel = rows[(rows["block_id"] == block).to_numpy()]
        grid = sel.pivot(index="conc_r", columns="conc_c", values="score")
        first = sel.iloc[0]
        panels.append(
            HeatmapPanel(
                grid.to_numpy(float),
                _ticks(grid.index),
                _ticks(grid.columns),
                title=f"{method} block {block}: mean {float(means.loc[block, 'score']):.2f}",
                xlabel=f"{first['drug_col']} ({first['conc_c_unit']})",
                ylabel=f"{first['drug_row']} ({first['conc_r_unit']})",
            )
        )
    n_scored = int(means["score"].notna().sum())
    title = (
        f"{method}: the {len(blocks)} most synergistic of {n_scored} blocks (highest mean score)"
    )
    return heatmap_panels(
        panels,
        title=title if blocks else f"{method}: no block has a mean score",
        colorbar_label=f"{method} score (inhibition points)",
        ncols=3,
        origin="lower",
        value_format="{:.1f}",
        panel_size=(330.0, 260.0),
    )


#: matplotlib's ``tab:purple``, the colour of the former PNG summaries.
_PURPLE = "#9467bd"


def score_distribution_figure(result: SynergyResult, methods: Sequence[str]) -> SvgFigure:
    """Histogram of the scored blocks' mean score, one panel per method (dashed line at 0: no
    interaction), as an SVG figure (written as ``.svg``)."""
    from leptotwin.study._svgfig import SvgFigure

    ncols = max(1, min(3, len(methods)))
    nrows = max(1, math.ceil(len(methods) / ncols))
    fig = SvgFigure(400.0 * ncols, 320.0 * nrows)
    boxes = fig.grid(nrows, ncols, left=62, right=24, top=30, bottom=52, wgap=86, hgap=82)
    for box, method in zip(boxes, methods, strict=False):
        scores = _block_means(result, method)["score"].to_numpy(float)
        scores = scores[np.isfinite(scores)]
        xlabel = f"mean {method} score (> 0: synergy)"
        if not scores.size:
            panel = fig.panel(box, (0.0, 1.0), (0.0, 1.0), title=f"{method}: no block scored",
                              xlabel=xlabel, ylabel="blocks")  # fmt: skip
            panel.note("no score")
            continue
        counts, edges = np.histogram(scores, bins=min(40, max(5, scores.size // 5)))
        panel = fig.panel(
            box,
            (min(float(edges[0]), 0.0), max(float(edges[-1]), 0.0)),
            (0.0, float(counts.max()) * 1.05),
            title=f"{method}: {scores.size} blocks, median {np.median(scores):.2f}",
            xlabel=xlabel,
            ylabel="blocks",
            ycounts=True,  # whole numbers of blocks
        )
        panel.bars(edges[:-1], edges[1:], counts, color=_PURPLE)
        panel.vline(0.0)
    return fig


def top_blocks_bars_figure(result: SynergyResult, methods: Sequence[str]) -> SvgFigure:
    """Blocks of three or more drugs (no heatmap): per method, the mean scores of the
    :data:`TOP_BLOCKS` most synergistic blocks as bars, as an SVG figure (``.svg``)."""
    from leptotwin.study._svgfig import SvgFigure

    tops = {m: top_blocks(result, m) for m in methods}
    widest = max((len(str(b)) for bs in tops.values() for b in bs), default=1)
    left = 20.0 + 6.5 * widest
    n = max(1, len(methods))
    fig = SvgFigure((left + 300.0) * n, 300.0)
    boxes = fig.grid(1, n, left=left, right=24, top=30, bottom=52, wgap=left + 24)
    for box, method in zip(boxes, methods, strict=True):
        means = _block_means(result, method).drop_duplicates("block_id").set_index("block_id")
        blocks = tops[method]
        values = means.loc[blocks, "score"].to_numpy(float) if blocks else np.zeros(0)
        lo = min(0.0, float(values.min())) if values.size else 0.0
        hi = max(0.0, float(values.max())) if values.size else 1.0
        panel = fig.panel(
            box,
            (lo, hi + 0.15 * (hi - lo or 1.0)),
            (-0.5, max(len(blocks), 1) - 0.5),
            title=f"{method}: most synergistic blocks",
            xlabel=f"mean {method} score (all drugs present)",
        )
        if blocks:
            panel.hbars([str(b) for b in blocks], values, color=_PURPLE)
            panel.vline(0.0, dash=None)
        else:
            panel.note("no score")
    return fig


def block_figures(
    result: SynergyResult, blocks: Iterable[Any], methods: Sequence[str]
) -> Iterator[tuple[str, Figure]]:
    """Per block and method a heatmap and a 3-D surface, named ``<block>_<method>``; each is drawn
    only when the iterator reaches it (write it before asking for the next)."""
    from matplotlib.figure import Figure

    for block in blocks:
        for m in methods:
            fig = Figure(figsize=(11, 4.5), layout="constrained")
            plot_synergy_heatmap(result, block, m, ax=fig.add_subplot(1, 2, 1))
            plot_synergy_surface(result, block, m, ax=fig.add_subplot(1, 2, 2, projection="3d"))
            yield f"{block}_{m}", fig


def repeated_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column that repeats a few values (block ids, drug names, units,
    methods and doses of ``per_dose``; NaN bounds without replicates) as a categorical of the
    text ``to_csv`` writes for them, so that the CSV writer formats each distinct value once
    and takes the rest (issue 14 item 4: ``per_dose`` is 64 rows per block and method).

    Text columns: each distinct ``str`` (by value) is a category; floats: each distinct bit
    pattern is one, as ``repr`` writes it (``to_csv``'s digits; -0.0 keeps its sign), NaN the
    missing value (an empty field). Columns with more than one distinct value in
    :data:`_REPEATS` rows, missing text or other types are left as they are: the file holds
    the same bytes (tested against ``to_csv``)."""
    out = {}
    for name, column in frame.items():
        values = column.to_numpy()
        coded = None
        if not _repeats(values[:_SAMPLE]):
            pass  # many distinct values (scores): as they are
        elif values.dtype == object:
            codes = value_codes(values)
            if not (codes < 0).any():
                texts = values[first_rows(codes)]
                if all(isinstance(t, str) for t in texts):
                    coded = codes, texts
        elif values.dtype == np.float64:
            number = ~np.isnan(values)
            codes = np.full(values.size, -1, np.intp)
            codes[number], bits = pd.factorize(values[number].view(np.int64), sort=False)
            if len(bits) * _REPEATS <= len(values):
                texts = np.array([repr(x) for x in bits.view(np.float64).tolist()], object)
                coded = codes, texts
        if coded is None or len(coded[1]) * _REPEATS > len(values):
            out[name] = column
            continue
        categories = pd.Index(coded[1], dtype=object)
        out[name] = pd.Series(
            pd.Categorical.from_codes(coded[0], categories=categories),
            index=frame.index,
            name=name,
        )
    return pd.DataFrame(out, index=frame.index, copy=False)


#: A column of ``per_dose`` is written through categories when each distinct value repeats this
#: often on average (so formatting the distinct values once is worth the coding), judged first
#: on its first ``_SAMPLE`` rows (a column of scores is not coded at all).
_REPEATS = 8
_SAMPLE = 1 << 16


def _repeats(values: np.ndarray) -> bool:
    """Whether ``values`` (object or float64, not empty) repeat :data:`_REPEATS` times each on
    average (NaN not counted)."""
    if not len(values) or values.dtype not in (np.dtype(object), np.dtype(np.float64)):
        return False
    if values.dtype == object:
        return len(pd.unique(values)) * _REPEATS <= len(values)
    return len(pd.unique(values[~np.isnan(values)])) * _REPEATS <= len(values)


def _score_chunk(
    data: pd.DataFrame | CheckedTable,
    index: int,
    *,
    methods: list[str],
    scale: str | None,
    seed: int,
    zip_variant: str,
    response_unit: str,
    source: str,
) -> SynergyResult:
    rng = np.random.default_rng([seed, index])  # the chunk's own bootstrap stream
    two = isinstance(data, CheckedTable) or count_drugs(data) < 3
    return synergy_scores(data, methods=methods, scale=scale, rng=rng, zip_variant=zip_variant,
                          response_unit=response_unit, source=source, sensitivity=two)  # fmt: skip


def score_in_chunks(
    data: pd.DataFrame | CheckedTable,
    methods: list[str],
    *,
    scale: str | None = None,
    zip_variant: str = "yadav",
    chunk_blocks: int = 2000,
    seed: int = 0,
    scheduler: object = None,
    n_workers: int = 2,
    on_chunk: Callable[[int, int], None] | None = None,
    response_unit: str | None = None,
    source: str = "synergy_scores",
    on_part: Callable[[SynergyResult], None] | None = None,
) -> SynergyResult:
    """Score blocks in chunks of whole blocks, here or on a Dask cluster.

    Scores other than bootstrap intervals do not depend on the chunking. Each chunk draws its
    bootstrap from its own stream (seed, chunk number), so a run on a Dask cluster is
    bit-identical to a run here with the same seed and chunk size (tested). ``on_chunk(done,
    total)`` is called as chunks finish (for a progress bar); ``on_part(result)`` with each
    chunk's result, in chunk order, as it is scored here (or, on a cluster, once all are
    gathered): the command writes ``per_dose.csv`` from them while the next chunk is scored. The
    response unit is decided on
    the whole table (fractions read as % are refused here, never in one chunk only).

    The table is checked once, here (``data`` from :func:`read_checked`: not again), and each
    chunk handed on as checked (two drugs: a :class:`CheckedTable` with its codes; the units
    of each drug and block are unified in the chunk unless ``read_checked`` did it).
    """
    tick = on_chunk or (lambda _done, _total: None)
    if isinstance(data, CheckedTable):
        frame = data.frame
    elif count_drugs(data) < 3:
        data = check_table_keys(data, source)
        frame = data.frame
    else:
        frame = data = check_table_nd(data, count_drugs(data), source)
    unit, _ = response_multiplier(frame["response"].to_numpy(), response_unit, 100.0, source)
    chunks: Sequence[pd.DataFrame | CheckedTable]
    if isinstance(data, CheckedTable):
        if chunk_blocks < 1:  # as whole_group_chunks says it
            raise LeptotwinError(
                "chunk size must be >= 1", source="--chunk-blocks", value=chunk_blocks
            )
        chunks = data.chunks(chunk_blocks)  # the groups whole_group_chunks cuts (tested)
    else:
        chunks, _ = whole_group_chunks(data, "block_id", chunk_blocks, option="--chunk-blocks")
    kw = {"methods": methods, "scale": scale, "seed": seed, "zip_variant": zip_variant,
          "response_unit": unit, "source": source}  # fmt: skip
    tick(0, len(chunks))
    if scheduler is None:
        parts = []
        for i, c in enumerate(chunks):
            parts.append(_score_chunk(c, i, **kw))
            if on_part is not None:
                on_part(parts[-1])
            tick(i + 1, len(chunks))
    else:
        from distributed import as_completed

        from leptotwin.study.distributed import dask_client

        with dask_client(scheduler, n_workers) as client:
            futures = [
                client.submit(_score_chunk, c, i, pure=False, **kw) for i, c in enumerate(chunks)
            ]
            for done, _ in enumerate(as_completed(futures), start=1):
                tick(done, len(chunks))
            parts = client.gather(futures)
        for part in parts if on_part is not None else []:
            on_part(part)
    return SynergyResult(
        **{
            name: pd.concat([getattr(p, name) for p in parts], ignore_index=True)
            for name in (
                "per_dose",
                "per_block",
                "qc",
                "monotherapy",
                "musyc",
                "sensitivity",
                "sensitivity_stats",
            )
        },
        settings=parts[0].settings if parts else {},
    )


def _check_scale(
    qc: pd.DataFrame, scale: str | None, source: str, warn: Callable[[str], None]
) -> None:
    """Refuse a run without an explicit scale whose untreated cells read near full effect as
    inhibition (issue 15 item 5: Mathews' viability data as inhibition, Bliss -64.7 for +10.9);
    with one, tell ``warn`` in one line. The blocks' notes say the same in ``qc.csv``."""
    suspect = qc[qc["scale_suspect"].astype(bool)] if "scale_suspect" in qc else qc.iloc[:0]
    if suspect.empty:
        return
    first = suspect.iloc[0]
    what = (
        f"{len(suspect)} of {len(qc)} blocks have an untreated cell near full effect (block "
        f"{first['block_id']}: {first['untreated_response']:.4g} as {scale or 'inhibition'})"
    )
    if scale is None:
        raise LeptotwinError(
            f"{what}: viability data read as % inhibition?",
            source=source,
            field="--scale",
            expected="--scale viability, or --scale inhibition if the responses are % inhibition",
        )
    other = "inhibition" if scale == "viability" else "viability"
    warn(f"leptotwin: warning: {source}: {what}; scored as {scale} as given (--scale {other}?)")


def run_synergy_job(
    path: str | os.PathLike[str],
    methods: Sequence[str] = ("ZIP", "Bliss", "HSA", "Loewe"),
    out_dir: str | os.PathLike[str] = "synergy",
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    *,
    scale: str | None = None,
    zip_variant: str = "yadav",
    on_chunk: Callable[[int, int], None] | None = None,
    figures: str | bool = "summary",
    max_figure_blocks: int | None = None,
    scheduler: object = None,
    n_workers: int = 2,
    chunk_blocks: int = 2000,
    seed: int = 0,
    response_unit: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Score the blocks of ``path`` and write tables and figures; returns the paths by name.

    Parameters
    ----------
    path : path-like
        SynergyFinder long-format CSV.
    methods : sequence of str
        Any of ``ZIP, Bliss, HSA, Loewe, MuSyC`` (case-insensitive).
    out_dir : path-like
        Output folder (must be new or empty unless ``force``).
    force : bool
        Overwrite an output folder that already holds results.
    progress : callable, optional
        Called with a short message after each stage.
    scale : {None, "inhibition", "viability"}
        None reads % inhibition, but refuses a table in which a block's untreated cell reads
        near full effect (at least 50 % inhibition: viability data?): say which. Given
        explicitly, such blocks are scored, flagged in ``qc.csv`` (``scale_suspect``, note) and
        ``warn`` is told.
    zip_variant : {"yadav", "synergyfinder", "synergy"}
        Which ZIP definition (see :func:`leptotwin.analysis.synergy.synergy_scores`).
    on_chunk : callable, optional
        ``on_chunk(done, total)`` as chunks of blocks are scored.
    figures : {"summary", "all", "none"}
        ``summary``: per method the heatmaps of the :data:`TOP_BLOCKS` most synergistic blocks,
        and the distribution of the blocks' mean scores; ``all``: those and a heatmap and a
        surface per block and method; ``none``: tables only. True reads as ``summary``, False
        as ``none``.
    max_figure_blocks : int, optional
        With ``figures="all"``: per-block figures for at most this many scored blocks (the
        first ones); None: every scored block.
    response_unit : {None, "percent", "fraction"}
        ``--response-unit``: fractions (0-1) are multiplied by 100; None refuses a table that
        looks like fractions (median |response| at most 1.5, none beyond 10).
    warn : callable, optional
        Called with one line (``leptotwin: warning: ...``) when blocks were flagged
        ``scale_suspect`` under an explicit ``scale``.

    Raises
    ------
    LeptotwinError
        A missing, empty, binary or unreadable file, a missing column, a bad row (named by its
        line: text in numbers, negative or absurd values, unknown units ...), fractions read as
        %, no ``scale`` given while an untreated cell reads near full effect as inhibition, an
        unknown method, no block that can be scored (the message names the first block's
        problem), or an output folder that holds results.
    """
    say = progress or (lambda _msg: None)
    mode = figure_mode(figures)
    lookup = {m.lower(): m for m in METHODS}
    chosen = []
    for m in methods:
        if str(m).lower() not in lookup:
            raise LeptotwinError(
                "unknown method", source="--methods", value=m, expected=", ".join(METHODS)
            )
        chosen.append(lookup[str(m).lower()])
    if response_unit is not None and response_unit not in RESPONSE_UNITS:
        raise LeptotwinError(
            "unknown response unit",
            source="--response-unit",
            value=response_unit,
            expected=" or ".join(RESPONSE_UNITS),
        )
    data = read_checked(path)  # checked once: the chunks are not checked again
    say(f"read {len(data.frame if isinstance(data, CheckedTable) else data)} rows")
    # per_dose.csv (64 rows a block and method: ~2.5 s of formatting at 10^4 blocks, issue 14)
    # is written by a thread, chunk by chunk, while the next chunk is scored; a run that fails
    # (no block scored, a refused scale) removes it and the folder it made (the transaction)
    with (
        output_transaction(),
        streamed_table(
            Path(prepare_out_dir(out_dir, force=force)) / "per_dose.csv", repeated_as_text
        ) as per_dose,
    ):
        # always in chunks of whole blocks (here or on Dask): the same seed and chunk size give
        # the same numbers, bit for bit, wherever the chunks run
        result = score_in_chunks(
            data,
            chosen,
            scale=scale,
            zip_variant=zip_variant,
            chunk_blocks=chunk_blocks,
            seed=seed,
            scheduler=scheduler,
            n_workers=n_workers,
            on_chunk=on_chunk,
            response_unit=response_unit,
            source=str(path),
            on_part=lambda part: per_dose.put(part.per_dose),
        )
        _check_scale(result.qc, scale, str(path), warn or (lambda _line: None))
        ok = result.qc["status"] == "ok"
        if not ok.any():
            first = result.qc.iloc[0] if len(result.qc) else None
            raise LeptotwinError(
                "no block can be scored" + (f": {first['message']}" if first is not None else ""),
                source=str(path),
                field="block_id",
                value=None if first is None else str(first["block_id"]),
            )
        say(f"scored {int(ok.sum())} of {len(ok)} blocks")
        # the other tables while the writer formats per_dose's last chunk
        out = Path(out_dir)
        many = int(result.settings.get("n_drugs", 2)) >= 3
        tables = {
            "per_block": write_table(out / "per_block.csv", result.per_block),
            "qc": write_table(out / "qc.csv", result.qc),
            "monotherapy": write_table(out / "monotherapy.csv", result.monotherapy),
        }
        if not many:
            tables["sensitivity"] = write_table(out / "sensitivity.csv", result.sensitivity)
        if len(result.sensitivity_stats):
            tables["sensitivity_stats"] = write_table(
                out / "sensitivity_stats.csv", result.sensitivity_stats
            )
        if "MuSyC" in chosen:
            tables["musyc"] = write_table(out / "musyc.csv", result.musyc)
    paths = {"per_dose": per_dose.written(), **tables}
    if mode != "none":
        writer = FigureWriter(out, paths, dpi=100)
        if many:  # three or more drugs: a per-block summary, no heatmaps
            writer.write("summary_top", top_blocks_bars_figure(result, chosen))
        drawn = result if many else _drawn_rows(result, chosen)
        for m in [] if many else chosen:
            writer.write(f"summary_top_{m}", top_blocks_figure(drawn, m))
        writer.write("summary_scores", score_distribution_figure(result, chosen))
        say(f"wrote the summary figures to {out}")
    if mode == "all" and not many:
        blocks = result.qc.loc[ok, "block_id"]
        if max_figure_blocks is not None:
            blocks = blocks.head(max_figure_blocks)
        for done, (name, fig) in enumerate(block_figures(result, blocks, chosen), start=1):
            writer.write(name, fig)
            if done % 20 == 0:
                say(f"figures: {done} of {len(blocks) * len(chosen)}")
    say(f"wrote {len(paths)} files to {out}")
    return paths
