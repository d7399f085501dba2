"""``leptotwin synergy``: score drug-combination matrices and write tables and figures.

Reads SynergyFinder's long format, scores every block (:func:`synergy_scores`), and writes
``per_dose.csv``, ``per_block.csv``, ``qc.csv`` (one row per block: ``ok`` or why it was left
out), ``monotherapy.csv`` and, per block and method, a heatmap and a 3-D surface (PNG).
Everything is read, checked and scored before the output folder is touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin._fileio import prepare_out_dir, safe_name, write_csv, write_figure
from leptotwin.analysis._synergy_input import RESPONSE_UNITS, check_table, response_multiplier
from leptotwin.analysis.synergy import (
    METHODS,
    SynergyResult,
    plot_synergy_heatmap,
    plot_synergy_surface,
    read_synergy,
    synergy_scores,
)
from leptotwin.errors import LeptotwinError
from leptotwin.study.distributed import whole_group_chunks

__all__ = ["run_synergy_job"]


def _score_chunk(
    data: pd.DataFrame,
    index: int,
    *,
    methods: list[str],
    scale: str,
    seed: int,
    zip_variant: str,
    response_unit: str,
    source: str,
) -> SynergyResult:
    rng = np.random.default_rng([seed, index])  # the chunk's own bootstrap stream
    return synergy_scores(data, methods=methods, scale=scale, rng=rng, zip_variant=zip_variant,
                          response_unit=response_unit, source=source)  # fmt: skip


def score_in_chunks(
    data: pd.DataFrame,
    methods: list[str],
    *,
    scale: str = "inhibition",
    zip_variant: str = "synergyfinder",
    chunk_blocks: int = 2000,
    seed: int = 0,
    scheduler: object = None,
    n_workers: int = 2,
    on_chunk: Callable[[int, int], None] | None = None,
    response_unit: str | None = None,
    source: str = "synergy_scores",
) -> SynergyResult:
    """Score blocks in chunks of whole blocks, here or on a Dask cluster.

    Scores other than bootstrap intervals do not depend on the chunking. Each chunk draws its
    bootstrap from its own stream (seed, chunk number), so a run on a Dask cluster is
    bit-identical to a run here with the same seed and chunk size (tested). ``on_chunk(done,
    total)`` is called as chunks finish (for a progress bar). The response unit is decided on
    the whole table (fractions read as % are refused here, never in one chunk only).
    """
    tick = on_chunk or (lambda _done, _total: None)
    data = check_table(data, source)
    unit, _ = response_multiplier(data["response"].to_numpy(), response_unit, 100.0, source)
    chunks, _ = whole_group_chunks(data, "block_id", chunk_blocks, option="--chunk-blocks")
    kw = {"methods": methods, "scale": scale, "seed": seed, "zip_variant": zip_variant,
          "response_unit": unit, "source": source}  # fmt: skip
    tick(0, len(chunks))
    if scheduler is None:
        parts = []
        for i, c in enumerate(chunks):
            parts.append(_score_chunk(c, i, **kw))
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
    return SynergyResult(
        **{
            name: pd.concat([getattr(p, name) for p in parts], ignore_index=True)
            for name in ("per_dose", "per_block", "qc", "monotherapy", "musyc")
        },
        settings=parts[0].settings if parts else {},
    )


def run_synergy_job(
    path: str | os.PathLike[str],
    methods: Sequence[str] = ("ZIP", "Bliss", "HSA", "Loewe"),
    out_dir: str | os.PathLike[str] = "synergy",
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    *,
    scale: str = "inhibition",
    zip_variant: str = "synergyfinder",
    on_chunk: Callable[[int, int], None] | None = None,
    figures: bool = True,
    max_figure_blocks: int = 50,
    scheduler: object = None,
    n_workers: int = 2,
    chunk_blocks: int = 2000,
    seed: int = 0,
    response_unit: str | None = None,
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
    scale : {"inhibition", "viability"}
    zip_variant : {"synergyfinder", "synergy"}
        Which ZIP definition (see :func:`leptotwin.analysis.synergy.synergy_scores`).
    on_chunk : callable, optional
        ``on_chunk(done, total)`` as chunks of blocks are scored.
    figures : bool
        Write a heatmap and a surface per block and method.
    max_figure_blocks : int
        Figures for at most this many blocks (the first ones).
    response_unit : {None, "percent", "fraction"}
        ``--response-unit``: fractions (0-1) are multiplied by 100; None refuses a table that
        looks like fractions (median |response| at most 1.5, none beyond 10).

    Raises
    ------
    LeptotwinError
        A missing, empty, binary or unreadable file, a missing column, a bad row (named by its
        line: text in numbers, negative or absurd values, unknown units ...), fractions read as
        %, an unknown method, no block that can be scored (the message names the first block's
        problem), or an output folder that holds results.
    """
    say = progress or (lambda _msg: None)
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
    data = read_synergy(path)
    say(f"read {len(data)} rows")
    # always in chunks of whole blocks (here or on Dask): the same seed and chunk size give the
    # same numbers, bit for bit, wherever the chunks run
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
    )
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
    figs: dict[str, Figure] = {}
    if figures:
        for block in result.qc.loc[ok, "block_id"].head(max_figure_blocks):
            for m in chosen:
                fig = Figure(figsize=(11, 4.5), layout="constrained")
                plot_synergy_heatmap(result, block, m, ax=fig.add_subplot(1, 2, 1))
                plot_synergy_surface(result, block, m, ax=fig.add_subplot(1, 2, 2, projection="3d"))
                figs[f"{safe_name(str(block))}_{m}"] = fig
    out = prepare_out_dir(out_dir, force=force)
    paths = {
        "per_dose": write_csv(out / "per_dose.csv", result.per_dose),
        "per_block": write_csv(out / "per_block.csv", result.per_block),
        "qc": write_csv(out / "qc.csv", result.qc),
        "monotherapy": write_csv(out / "monotherapy.csv", result.monotherapy),
    }
    if "MuSyC" in chosen:
        paths["musyc"] = write_csv(out / "musyc.csv", result.musyc)
    for name, fig in figs.items():
        paths[name] = write_figure(out / f"{name}.png", fig, dpi=100)
    say(f"wrote {len(paths)} files to {out}")
    return paths
