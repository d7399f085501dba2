"""Drug-combination synergy: Bliss, HSA, Loewe, ZIP and MuSyC for many dose matrices at once.

Input is SynergyFinder's long format, one row per well: ``block_id, drug_row, drug_col, conc_r,
conc_c, response, conc_r_unit, conc_c_unit`` (SynergyFinder's older ``drug1, drug2, conc1,
conc2, conc_unit`` is accepted too). Each block must be a full grid of concentrations that
includes 0 for both drugs (the monotherapies); repeated wells are replicates.

Scale: ``scale="inhibition"`` (the default) reads ``response`` as % inhibition;
``scale="viability"`` as % viability and converts ``inhibition = top - viability``. Every score
is reported on the inhibition scale in the response unit (points of %): **positive = synergy**.
A block whose untreated cell (both concentrations 0) reads at least half the full effect as
inhibition is flagged (``qc.scale_suspect`` and a note): viability read as inhibition, or the
reverse, turns every score around (Mathews' viability data as inhibition: Bliss −64.7 instead
of +10.9). Without an explicit ``scale`` such a block's status is ``scale_unconfirmed``.

Methods (per dose: observed − expected; monotherapy cells are 0):

``Bliss``
    expected ``I_r + I_c − I_r I_c / top`` from the observed monotherapies.
``HSA``
    expected ``max(I_r, I_c)`` from the observed monotherapies.
``Loewe``
    expected ``y`` solving ``x_r / D_r(y) + x_c / D_c(y) = 1`` with ``D`` the inverse of the
    LL.4 monotherapy fits; no root → the larger single-drug response at ``x_r + x_c``;
    capped at ``top`` (SynergyFinder).
``ZIP``
    the delta score (Yadav et al. 2015): row- and column-wise LL.4 re-fits of the
    combination cells, averaged, minus the Bliss surface of the fitted monotherapies.
    ``zip_variant="synergyfinder"`` follows SynergyFinder 3.7.x, ``"synergy"`` the
    ``synergy`` package (differences: docs/model.md (ZIP variants)).
``MuSyC``
    parametric surface (``gamma = 1``) separating potency (``alpha12``, ``alpha21``) from
    efficacy (``beta``) synergy; per dose, the fitted surface minus MuSyC's additive surface
    (``alpha = 1``, ``E3 = min(E1, E2)``).

Per block: the mean score over the combination cells (``statistic="mean"``, SynergyFinder's
summary score) and the most synergistic area (``"msa"``: best mean over 3 x 3 dose windows);
MuSyC adds ``log10_alpha12``, ``log10_alpha21``, ``beta`` and ``r2``. With replicates, scores
are computed on the replicate means and replicates are bootstrapped (wells resampled within each
dose cell) for percentile intervals and two-sided p-values ``2 Φ(−|score| / sd_boot)``.

Everything is computed for all blocks of one shape at once (numba LL.4 fits, vectorised
bisection, batched Levenberg–Marquardt); there is no per-block Python loop.

Example
-------
>>> import pandas as pd
>>> from leptotwin.analysis.synergy import read_synergy, synergy_scores
>>> df = read_synergy("mathews_screening_data.csv")  # doctest: +SKIP
>>> res = synergy_scores(df, methods=("ZIP", "Bliss"))  # doctest: +SKIP
>>> res.per_block.query("statistic == 'mean'")  # doctest: +SKIP
"""

from __future__ import annotations

import enum
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin._checks import check_alpha
from leptotwin.analysis._synergy_core import (
    ZIP_VARIANTS,
    MonoFits,
    _norm_sf,
    bliss,
    fit_monotherapies,
    hsa,
    loewe,
    loewe_expected,
    most_synergistic_area,
    zip_delta,
)
from leptotwin.analysis._synergy_input import (
    CheckedTable,
    check_table,  # noqa: F401 (tests reach it as synergy.check_table)
    check_table_keys,
    check_table_nd,
    count_drugs,
    first_rows,
    read_table,
    read_table_fast,
    response_multiplier,
    unify_units,
    value_codes,
)
from leptotwin.analysis._synergy_musyc import NAMES as MUSYC_NAMES
from leptotwin.analysis._synergy_musyc import MusycFit, fit_musyc, musyc_surface
from leptotwin.analysis._synergy_nd import (
    bliss_nd,
    combination_mask,
    fit_single_drugs,
    hsa_nd,
    loewe_nd,
    zip_nd,
)
from leptotwin.analysis._synergy_sensitivity import (
    block_sensitivity,
    concat_sensitivity,
    empty_tables,
)
from leptotwin.errors import LeptotwinError

__all__ = [
    "METHODS",
    "BlockStatus",
    "SynergyResult",
    "loewe_expected",
    "musyc_surface",
    "plot_synergy_heatmap",
    "plot_synergy_surface",
    "read_synergy",
    "synergy_scores",
]

Array = NDArray[np.float64]
METHODS = ("ZIP", "Bliss", "HSA", "Loewe", "MuSyC")
_SRC = "synergy_scores"
_MAX_STACK = 20_000  # blocks scored together (bounds memory of bootstrap stacks)
_DECIMALS = 11  # responses are rounded to 1e-11 of ``top`` (1e-9 points of %)


class BlockStatus(enum.Enum):
    """Outcome of one block; each value is the message shown to the user."""

    OK = "ok"
    SEVERAL_DRUGS = "more than one drug name per axis in the block; give each pair its own block_id"
    MISSING_VALUE = "missing (NaN) concentration or response; remove or impute the wells"
    NOT_GRID = "the concentrations do not form a full grid (every conc_r with every conc_c)"
    NO_MONOTHERAPY = "no monotherapy wells: conc_r = 0 and conc_c = 0 must both be tested"
    TOO_FEW_DOSES = "fewer than 3 positive concentrations of a drug (Bliss and HSA need 3)"
    FIT_FAILED = (
        "a monotherapy LL.4 fit failed or had too few doses (4 positive concentrations and 0 "
        "are needed); scores that need it (Loewe, ZIP, MuSyC) are NaN"
    )
    SCALE_UNCONFIRMED = (
        "the untreated cell reads near full effect on the default inhibition scale (viability "
        "data?); say scale='viability', or scale='inhibition' to confirm; scored as inhibition"
    )


# --------------------------------------------------------------------------- input
def read_synergy(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check a SynergyFinder long-format CSV (any of its column-name variants).

    Returns the table with the columns ``block_id, drug_row, drug_col, conc_r, conc_c,
    response, conc_r_unit, conc_c_unit`` first (``block_id`` and drug names as text,
    concentrations and responses as float, NaN where missing), then any other columns. Units
    are checked (pint) but not converted: :func:`synergy_scores` brings each drug of a block to
    one unit and says so in ``qc``. A table of ``N`` >= 3 drugs (SynergyFinder+'s
    ``drug1..drugN, conc1..concN, conc_unit1..conc_unitN`` or one ``conc_unit``) keeps those
    names: ``block_id, drug1..N, conc1..N, response, conc_unit1..N``.

    Raises
    ------
    LeptotwinError
        A missing, empty, binary or unreadable file, a missing column, or a bad row (named by
        its line): text in numbers, an infinite value, a negative concentration or one of 1 M
        (1 g/mL) or more, a response beyond ±1000 %, a missing block_id, drug or unit, a unit
        that is not a concentration, or one drug given in molar and mass units in one block.
    """
    return _read(path)[1]


def read_checked(path: str | os.PathLike[str]) -> pd.DataFrame | CheckedTable:
    """:func:`read_synergy` for the command line: the checked table (a :class:`CheckedTable`
    holding its codes, the units of each drug and block unified, the notes for ``qc``) that
    :func:`synergy_scores` and the chunks of ``leptotwin synergy`` take without checking it
    again (issue 14 item 4: the table was checked three times on that path); ``frame`` is
    :func:`read_synergy`'s table. A table of three or more drugs comes back as
    :func:`read_synergy` returns it.

    Raises
    ------
    LeptotwinError
        See :func:`read_synergy`.
    """
    return _read(path)[0]


def _read(path: str | os.PathLike[str]) -> tuple[pd.DataFrame | CheckedTable, pd.DataFrame]:
    """:func:`read_checked`'s table and :func:`read_synergy`'s."""
    path = Path(path)
    fast = read_table_fast(path)
    if fast is not None:
        try:
            table = check_table_keys(fast, str(path), 2)
            unified, notes = unify_units(table.frame, str(path), 2, keys=table.keys)
        except LeptotwinError:
            pass  # the pandas path reads the file again and names the problem as before
        else:
            return CheckedTable(unified, table.keys, table.labels, notes), table.frame
    raw, first_line = read_table(path)
    ndrug = count_drugs(raw)
    if ndrug >= 3:
        checked = check_table_nd(raw, ndrug, str(path), first_line)
        pairs = tuple((f"conc{k}", f"conc_unit{k}") for k in range(1, ndrug + 1))
        unify_units(checked, str(path), first_line, pairs)
        checked = checked.reset_index(drop=True)
        return checked, checked
    table = check_table_keys(raw, str(path), first_line)
    # refuses unconvertible mixtures early; the table as checked stays read_synergy's
    unified, notes = unify_units(table.frame, str(path), first_line, keys=table.keys)
    rows = pd.RangeIndex(len(unified))
    for frame in {id(f): f for f in (table.frame, unified)}.values():
        frame.index = rows  # both are this function's own frames (no copy)
    return CheckedTable(unified, table.keys, table.labels, notes), table.frame


@dataclass
class _Group:
    """Blocks of one shape: conc (n, nr), (n, nc); replicates (n, nr, nc, R) with NaN pad;
    ``qc_rows``: each block's row in the qc table (None: found by block_id)."""

    blocks: pd.Index
    conc_r: Array
    conc_c: Array
    reps: Array
    n_rep: NDArray[np.int64]
    qc_rows: NDArray[np.intp] | None = None

    @property
    def mean(self) -> Array:
        if self.reps.shape[3] == 1 and bool(self.n_rep.all()):
            # one well per cell: the well itself, -0.0 made 0.0 as nansum does (0.0 + x)
            return self.reps[..., 0] + 0.0
        with np.errstate(invalid="ignore"):
            return np.nansum(self.reps, axis=3) / np.maximum(self.n_rep, 1)

    def part(self, sl: slice) -> _Group:
        rows = None if self.qc_rows is None else self.qc_rows[sl]
        return _Group(
            self.blocks[sl], self.conc_r[sl], self.conc_c[sl], self.reps[sl], self.n_rep[sl], rows
        )


_FIRST = ("drug_row", "drug_col", "conc_r_unit", "conc_c_unit")
#: Presence tables (blocks x distinct values) of at most this many cells, or 4 per row of the
#: table, replace a sort in :func:`_dense_rank` and :func:`_distinct`.
_DENSE_CELLS = 1 << 22


def _dense(cells: int, rows: int) -> bool:
    """Whether a presence table of ``cells`` cells replaces a sort of ``rows`` rows."""
    return cells <= max(_DENSE_CELLS, 4 * rows)


def _validate(
    df: pd.DataFrame,
    notes: dict[Any, str] | None = None,
    response: Array | None = None,
    keys: dict[str, NDArray[np.intp]] | None = None,
    labels: pd.Index | None = None,
) -> tuple[pd.DataFrame, list[_Group]]:
    """Per-block QC table (``notes`` per block_id: unit conversions) and the valid blocks
    packed into groups of equal shape; ``response``: each row's response (None: ``df``'s).

    Array code over the rows (issue 14 item 4: the pandas groupbys, copies and Series
    assignments of :func:`_validate_frames` were most of what was left of Bliss's and HSA's
    time); it gives the same tables: concentrations are ranked and counted per block (through
    a table of which distinct values each block holds, or by sorting where that table would be
    large), with the equality pandas' ``rank``, ``nunique`` and ``drop_duplicates`` use
    (-0.0 == 0.0; NaN left out of the counts, one value for the dose-pair count), and drug
    names compared through ``pd.factorize``'s codes (:func:`_codes`). A table with a missing
    block_id, drug name or unit (pd.NA passes :func:`check_table`) goes through
    :func:`_validate_frames`, whose groupby rules for missing keys and ``first`` values it
    keeps. ``keys`` and ``labels``: the codes (``pd.factorize``'s) of the key columns and the
    distinct block ids where known (:class:`CheckedTable`), else computed here."""
    known = keys or {}
    if "block_id" in known and labels is not None:
        codes = known["block_id"]
    else:
        codes, labels = pd.factorize(df["block_id"], sort=False)
    drug_r, drug_c, *units = (
        known[c] if c in known else _codes(df[c])  # missing -> -1 (pd.isna's values)
        for c in _FIRST
    )
    if any((k < 0).any() for k in (codes, drug_r, drug_c, *units)):
        return _validate_frames(df if response is None else df.assign(response=response), notes)
    n_blocks = len(labels)
    conc_r = df["conc_r"].to_numpy(float)
    conc_c = df["conc_c"].to_numpy(float)
    resp_all = df["response"].to_numpy(float) if response is None else response
    cells = codes.size // max(n_blocks, 1)
    if _one_dose_layout(codes, n_blocks, cells, conc_r, conc_c):
        # every block holds the same doses in the same row order (a screen written block by
        # block): ranks and counts of the first block, repeated
        one = np.zeros(cells, np.intp)
        rank_r0, nr0 = _dense_rank(one, 1, conc_r[:cells])
        rank_c0, nc0 = _dense_rank(one, 1, conc_c[:cells])
        rank_r, rank_c = np.tile(rank_r0, n_blocks), np.tile(rank_c0, n_blocks)
        nr, nc = np.repeat(nr0, n_blocks), np.repeat(nc0, n_blocks)
        pairs = np.repeat(_distinct(one, 1, rank_r0, rank_c0), n_blocks)
        zero0 = _min_is_zero(one, 1, conc_r[:cells]) & _min_is_zero(one, 1, conc_c[:cells])
        zero = np.repeat(zero0, n_blocks)
        first_row = np.arange(n_blocks) * cells
        size = np.full(n_blocks, cells)
    else:
        # per row: dense rank of the concentration in its block (NaN -> -1); per block: how
        # many distinct ones (NaN left out, as nunique does; -0.0 == 0.0 as in factorize)
        rank_r, nr = _dense_rank(codes, n_blocks, conc_r)
        rank_c, nc = _dense_rank(codes, n_blocks, conc_c)
        pairs = _distinct(codes, n_blocks, rank_r, rank_c)  # NaN as one value (drop_duplicates)
        zero = _min_is_zero(codes, n_blocks, conc_r) & _min_is_zero(codes, n_blocks, conc_c)
        first_row = _first_rows(codes)
        size = np.bincount(codes, minlength=n_blocks)
    # more than one drug name in a block: one that differs from the block's first
    other = (drug_r != drug_r[first_row][codes]) | (drug_c != drug_c[first_row][codes])
    several = np.bincount(codes[other], minlength=n_blocks) > 0
    nan_rows = np.isnan(conc_r) | np.isnan(conc_c) | np.isnan(resp_all)
    nan_any = np.bincount(codes[nan_rows], minlength=n_blocks) > 0
    status = np.full(n_blocks, BlockStatus.OK, dtype=object)
    for mask, st in (
        (several, BlockStatus.SEVERAL_DRUGS),
        (nan_any, BlockStatus.MISSING_VALUE),
        (pairs != nr * nc, BlockStatus.NOT_GRID),
        (~zero, BlockStatus.NO_MONOTHERAPY),
        ((nr < 4) | (nc < 4), BlockStatus.TOO_FEW_DOSES),
    ):
        status[mask & (status == BlockStatus.OK)] = st
    block_ids = labels[np.arange(n_blocks)]
    qc = pd.DataFrame(
        {
            "block_id": block_ids,
            **{c: df[c].to_numpy()[first_row] for c in _FIRST},
            "n_conc_r": nr,
            "n_conc_c": nc,
            "n_rep_max": size // np.maximum(pairs, 1),
            "status": status,
            "note": [notes.get(b, "") for b in block_ids] if notes else "",
        }
    )
    is_good = status == BlockStatus.OK
    good = np.flatnonzero(is_good)
    groups: list[_Group] = []
    if good.size == 0:
        return qc, groups
    every = good.size == n_blocks
    rows = slice(None) if every else np.flatnonzero(is_good[codes])
    b_all, r_all, c_all = codes[rows], conc_r[rows], conc_c[rows]
    resp = resp_all[rows]
    i_all, j_all = rank_r[rows], rank_c[rows]
    if np.array_equal(size[good], pairs[good]):  # one well per dose cell: no replicates
        k_all = np.zeros(b_all.size, dtype=np.int64)
    else:
        k_all = _cumcount(b_all, i_all, j_all)
    # shapes (nr, nc) in sorted order, blocks of each in table order (groupby's groups)
    shape_key = nr[good] * (int(nc[good].max()) + 1) + nc[good]
    shapes = np.unique(shape_key)
    pos = np.full(n_blocks, -1, dtype=np.int64)
    for key in shapes:
        blocks = good if shapes.size == 1 else good[shape_key == key]
        r, c = int(nr[blocks[0]]), int(nc[blocks[0]])
        pos[blocks] = np.arange(len(blocks))
        if shapes.size == 1:  # every block ok: its position is its code
            b = b_all if every else pos[b_all]
            i, j, k, vals = i_all, j_all, k_all, resp
            cr, cc = r_all, c_all
        else:
            in_group = np.zeros(n_blocks, bool)
            in_group[blocks] = True
            sel = in_group[b_all]
            b, i, j, k, vals = pos[b_all[sel]], i_all[sel], j_all[sel], k_all[sel], resp[sel]
            cr, cc = r_all[sel], c_all[sel]
        reps = np.full((len(blocks), r, c, int(k.max()) + 1), np.nan)
        reps[b, i, j, k] = vals
        group_r = np.zeros((len(blocks), r))
        group_c = np.zeros((len(blocks), c))
        group_r[b, i] = cr
        group_c[b, j] = cc
        n_rep = np.isfinite(reps).sum(axis=3)
        groups.append(_Group(pd.Index(labels[blocks]), group_r, group_c, reps, n_rep, blocks))
    return qc, groups


def _one_dose_layout(
    codes: NDArray[np.intp], n_blocks: int, cells: int, conc_r: Array, conc_c: Array
) -> bool:
    """Whether the table is ``n_blocks`` runs of ``cells`` rows, block after block, each with
    the first block's concentrations row for row (``==``: no NaN; -0.0 == 0.0, which ranks
    alike)."""
    if n_blocks < 2 or cells * n_blocks != codes.size:
        return False
    return bool(
        (codes.reshape(n_blocks, cells) == np.arange(n_blocks)[:, None]).all()
        and (conc_r.reshape(n_blocks, cells) == conc_r[:cells]).all()
        and (conc_c.reshape(n_blocks, cells) == conc_c[:cells]).all()
    )


def _codes(column: pd.Series) -> NDArray[np.intp]:
    """``pd.factorize(column, sort=False)[0]`` (missing values -1), an object column through
    its objects' identity first (:func:`value_codes`): the same codes without hashing and
    comparing a string per row (``check_table`` leaves one object per distinct name or unit;
    at 10^4 blocks the per-row way cost 20-30 ms a column)."""
    return value_codes(column.to_numpy())


_first_rows = first_rows


def _distinct(codes: NDArray[np.intp], n_blocks: int, *keys: NDArray[np.intp]) -> NDArray[np.intp]:
    """Number of distinct ``keys`` tuples (integer codes >= -1) per block."""
    if len(keys) == 2 and codes.size:
        span = [int(k.max()) + 2 for k in keys]  # -1 .. max
        if _dense(n_blocks * span[0] * span[1], codes.size):
            seen = np.zeros((n_blocks, span[0] * span[1]), bool)
            seen[codes, (keys[0] + 1) * span[1] + keys[1] + 1] = True
            return seen.sum(axis=1)
    order = np.lexsort((*keys[::-1], codes))
    cols = [codes[order], *(k[order] for k in keys)]
    new = np.zeros(order.size, bool)
    new[:1] = True
    for col in cols:
        new[1:] |= col[1:] != col[:-1]
    return np.bincount(cols[0][new], minlength=n_blocks)


def _min_is_zero(codes: NDArray[np.intp], n_blocks: int, conc: Array) -> NDArray[np.bool_]:
    """Per block: the smallest non-NaN concentration is 0 (pandas' groupby ``min() == 0``)."""
    some = np.bincount(codes[conc == 0], minlength=n_blocks) > 0
    below = np.bincount(codes[conc < 0], minlength=n_blocks) > 0
    return some & ~below


def _dense_rank(
    block: NDArray[np.intp], n_blocks: int, value: Array
) -> tuple[NDArray[np.int64], NDArray[np.intp]]:
    """0-based dense rank of each row's ``value`` within its block (groupby ``rank("dense") -
    1``; NaN: -1) and the number of distinct non-NaN values per block (groupby ``nunique``).

    Few distinct values in the table (a dose series shared by the blocks): from a table of
    which of them each block holds (its running count is the rank); else by sorting."""
    uniq_code, uniq = pd.factorize(value, sort=True)  # NaN -> -1, -0.0 == 0.0
    n_uniq = len(uniq)
    if 0 < n_uniq and _dense(n_blocks * n_uniq, value.size):
        found = uniq_code >= 0
        if found.all():  # no NaN: one flat index per row into the table, no masks
            flat = block * n_uniq + uniq_code
            seen = np.zeros(n_blocks * n_uniq, bool)
            seen[flat] = True
            below = np.cumsum(seen.reshape(n_blocks, n_uniq), axis=1)
            rank = below.ravel()[flat]
            rank -= 1
            return rank.astype(np.int64, copy=False), below[:, -1].astype(np.intp)
        held = np.zeros((n_blocks, n_uniq), bool)
        held[block[found], uniq_code[found]] = True
        below = np.cumsum(held, axis=1)
        rank = np.where(found, below[block, uniq_code] - 1, -1).astype(np.int64)
        return rank, below[:, -1].astype(np.intp)
    order = np.lexsort((value, block))  # NaN last in its block
    b, v = block[order], value[order]
    start = np.ones(order.size, bool)
    start[1:] = b[1:] != b[:-1]
    new = start.copy()
    new[1:] |= v[1:] != v[:-1]
    nan = np.isnan(v)
    new &= ~nan
    run = np.cumsum(new)
    before = run[start] - new[start]  # distinct values of the blocks before
    rank = run - before[np.cumsum(start) - 1] - 1
    rank[nan] = -1
    out = np.empty(order.size, dtype=np.int64)
    out[order] = rank
    return out, np.bincount(b[new], minlength=n_blocks)


def _cumcount(*keys: NDArray[np.intp]) -> NDArray[np.int64]:
    """Occurrence number of each row's ``keys`` tuple in row order (groupby ``cumcount``)."""
    order = np.lexsort(keys[::-1])  # stable: rows of one tuple keep their order
    start = np.zeros(order.size, bool)
    start[:1] = True
    for key in keys:
        k = key[order]
        start[1:] |= k[1:] != k[:-1]
    at = np.arange(order.size)
    count = at - at[start][np.cumsum(start) - 1]
    out = np.empty(order.size, dtype=np.int64)
    out[order] = count
    return out


def _validate_frames(
    df: pd.DataFrame, notes: dict[Any, str] | None = None
) -> tuple[pd.DataFrame, list[_Group]]:
    """:func:`_validate` through pandas groupbys (tables with missing keys)."""
    codes, labels = pd.factorize(df["block_id"], sort=False)
    g = df.assign(_b=codes).groupby("_b", sort=True)
    nun = g[["drug_row", "drug_col"]].nunique(dropna=False)
    nan_rows = df[["conc_r", "conc_c", "response"]].isna().any(axis=1).to_numpy()
    nan_any = pd.Series(nan_rows).groupby(codes).any()
    nr = g["conc_r"].nunique()
    nc = g["conc_c"].nunique()
    pairs = df.assign(_b=codes).drop_duplicates(["_b", "conc_r", "conc_c"]).groupby("_b").size()
    zero = (g["conc_r"].min() == 0) & (g["conc_c"].min() == 0)
    first = g[["drug_row", "drug_col", "conc_r_unit", "conc_c_unit"]].first()
    status = pd.Series(BlockStatus.OK, index=nr.index, dtype=object)

    def flag(mask: pd.Series, st: BlockStatus) -> None:
        hit = mask.reindex(status.index, fill_value=False) & (status == BlockStatus.OK)
        status[hit] = st

    flag((nun[["drug_row", "drug_col"]] > 1).any(axis=1), BlockStatus.SEVERAL_DRUGS)
    flag(nan_any, BlockStatus.MISSING_VALUE)
    flag(pairs != nr * nc, BlockStatus.NOT_GRID)
    flag(~zero, BlockStatus.NO_MONOTHERAPY)
    flag((nr < 4) | (nc < 4), BlockStatus.TOO_FEW_DOSES)
    qc = pd.DataFrame(
        {
            "block_id": labels[status.index],
            "drug_row": first["drug_row"].to_numpy(),
            "drug_col": first["drug_col"].to_numpy(),
            "conc_r_unit": first["conc_r_unit"].to_numpy(),
            "conc_c_unit": first["conc_c_unit"].to_numpy(),
            "n_conc_r": nr.to_numpy(),
            "n_conc_c": nc.to_numpy(),
            "n_rep_max": g.size().to_numpy() // np.maximum(pairs.to_numpy(), 1),
            "status": status.to_numpy(),
            "note": [(notes or {}).get(b, "") for b in labels[status.index]],
        }
    )
    good = status.index[(status == BlockStatus.OK).to_numpy()]
    sub = df.assign(_b=codes)
    sub = sub[sub["_b"].isin(good)]
    groups: list[_Group] = []
    if len(sub) == 0:
        return qc, groups
    sub = sub.assign(
        _i=sub.groupby("_b")["conc_r"].rank(method="dense").astype(np.int64) - 1,
        _j=sub.groupby("_b")["conc_c"].rank(method="dense").astype(np.int64) - 1,
    )
    sub["_k"] = sub.groupby(["_b", "_i", "_j"]).cumcount()
    shape = pd.DataFrame({"nr": nr[good], "nc": nc[good]})
    for (r, c), blocks in shape.groupby(["nr", "nc"]).groups.items():
        part = sub[sub["_b"].isin(blocks)]
        pos = pd.Series(np.arange(len(blocks)), index=pd.Index(blocks))
        b = pos[part["_b"]].to_numpy()
        i, j, k = part["_i"].to_numpy(), part["_j"].to_numpy(), part["_k"].to_numpy()
        reps = np.full((len(blocks), int(r), int(c), int(k.max()) + 1), np.nan)
        reps[b, i, j, k] = part["response"].to_numpy()
        conc_r = np.zeros((len(blocks), int(r)))
        conc_c = np.zeros((len(blocks), int(c)))
        conc_r[b, i] = part["conc_r"].to_numpy()
        conc_c[b, j] = part["conc_c"].to_numpy()
        n_rep = np.isfinite(reps).sum(axis=3)
        blocks = np.asarray(blocks)
        groups.append(_Group(pd.Index(labels[blocks]), conc_r, conc_c, reps, n_rep, blocks))
    return qc, groups


# --------------------------------------------------------------------------- scoring
@dataclass
class _Scores:
    score: dict[str, Array]
    expected: dict[str, Array]
    mono_ok: NDArray[np.bool_]
    musyc: MusycFit | None = None
    musyc_r2: Array | None = None
    mono: MonoFits | None = None
    zip_left_out: NDArray[np.int64] | None = None


def _score_stack(
    conc_r: Array,
    conc_c: Array,
    inhib: Array,
    methods: Sequence[str],
    top: float,
    zip_variant: str,
) -> _Scores:
    score: dict[str, Array] = {}
    expected: dict[str, Array] = {}
    n = inhib.shape[0]
    if "Bliss" in methods:
        score["Bliss"], expected["Bliss"] = bliss(inhib, top)
    if "HSA" in methods:
        score["HSA"], expected["HSA"] = hsa(inhib)
    mono = None
    ok = np.ones(n, bool)
    if {"Loewe", "ZIP", "MuSyC"} & set(methods):
        zero = 0.0 if zip_variant == "synergy" else 1e-10  # SynergyFinder 2.x's dose for 0
        mono = fit_monotherapies(conc_r, conc_c, inhib, zero_dose=zero)
        ok = mono.row_ok & mono.col_ok
    if "Loewe" in methods and mono is not None:
        s, e = loewe(conc_r, conc_c, inhib, mono, top)
        s[~ok] = np.nan
        score["Loewe"], expected["Loewe"] = s, e
    flagged = None
    if "ZIP" in methods and mono is not None:
        s, e, flagged = zip_delta(conc_r, conc_c, inhib, mono, top=top, variant=zip_variant)
        s[~ok] = np.nan
        score["ZIP"], expected["ZIP"] = s, e
    out = _Scores(score, expected, ok, mono=mono, zip_left_out=flagged)
    if "MuSyC" in methods and mono is not None:
        _score_musyc(conc_r, conc_c, inhib, mono, top, out)
    return out


def _musyc_start(conc_r: Array, conc_c: Array, inhib: Array, mono: MonoFits, top: float) -> Array:
    n = inhib.shape[0]
    v = 1.0 - inhib / top  # viability-like fraction

    def drug(p: Array, conc: Array, observed_top: Array) -> tuple[Array, ...]:
        b, c, d, e = (p[:, k] for k in range(4))
        e0 = 1.0 - np.where(b > 0, d, c) / top
        emax = 1.0 - np.where(b > 0, c, d) / top
        pos = np.where(conc > 0, conc, np.nan)
        lo, hi = np.nanmin(pos, axis=1), np.nanmax(pos, axis=1)
        good = np.isfinite(p).all(axis=1) & (emax < e0)
        h = np.where(good, np.clip(np.abs(b), 0.3, 5.0), 1.0)
        cc = np.where(good, np.clip(e, lo / 100, hi * 100), np.sqrt(lo * hi))
        emax = np.where(good, np.clip(emax, -0.5, 1.5), observed_top)
        e0 = np.where(good, np.clip(e0, 0.5, 1.5), 1.0)
        return e0, emax, h, cc

    e01, e1, h1, c1 = drug(mono.row, conc_r, v[:, -1, 0])
    e02, e2, h2, c2 = drug(mono.col, conc_c, v[:, 0, -1])
    e3 = np.minimum(np.minimum(e1, e2), v[:, -1, -1])
    start = np.stack([0.5 * (e01 + e02), e1, e2, e3, h1, h2, c1, c2, np.ones(n), np.ones(n)], 1)
    return start


def _score_musyc(
    conc_r: Array, conc_c: Array, inhib: Array, mono: MonoFits, top: float, out: _Scores
) -> None:
    n, nr, nc = inhib.shape
    d1 = np.broadcast_to(conc_r[:, :, None], inhib.shape).reshape(n, -1)
    d2 = np.broadcast_to(conc_c[:, None, :], inhib.shape).reshape(n, -1)
    v = (1.0 - inhib / top).reshape(n, -1)
    fit = fit_musyc(d1, d2, v, _musyc_start(conc_r, conc_c, inhib, mono, top))
    p = fit.params
    cols = [p[:, k : k + 1] for k in range(10)]
    fitted = musyc_surface(d1, d2, *cols)
    null = cols.copy()
    null[3] = np.minimum(cols[1], cols[2])
    null[8] = np.ones_like(cols[8])
    null[9] = np.ones_like(cols[9])
    reference = musyc_surface(d1, d2, *null)
    score = ((reference - fitted) * top).reshape(n, nr, nc)
    score[:, 0, :] = 0.0
    score[:, :, 0] = 0.0
    score[~fit.ok] = np.nan
    out.score["MuSyC"] = score
    out.expected["MuSyC"] = ((1.0 - reference) * top).reshape(n, nr, nc)
    tss = np.sum((v - v.mean(axis=1, keepdims=True)) ** 2, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out.musyc_r2 = 1.0 - fit.rss / tss
    out.musyc = fit


def _summaries(
    sc: _Scores, area: int, windows: dict[str, NDArray[np.int64]] | None = None
) -> dict[tuple[str, str], Array]:
    """Per-block statistics (n,) keyed by (method, statistic); ``windows`` (if given) gets each
    method's most synergistic area (first row and column index, (n, 2))."""
    res: dict[tuple[str, str], Array] = {}
    for m, s in sc.score.items():
        n = s.shape[0]
        with np.errstate(invalid="ignore"):
            res[(m, "mean")] = np.mean(s[:, 1:, 1:].reshape(n, -1), axis=1)
        res[(m, "msa")], at = most_synergistic_area(s, area)
        if windows is not None:
            windows[m] = at
    if sc.musyc is not None:
        p = sc.musyc.params
        with np.errstate(divide="ignore", invalid="ignore"):
            res[("MuSyC", "log10_alpha12")] = np.log10(p[:, MUSYC_NAMES.index("alpha12")])
            res[("MuSyC", "log10_alpha21")] = np.log10(p[:, MUSYC_NAMES.index("alpha21")])
        res[("MuSyC", "beta")] = sc.musyc.beta
        res[("MuSyC", "r2")] = sc.musyc_r2  # type: ignore[assignment]
    return res


@dataclass
class SynergyResult:
    """Scores of every block.

    Attributes
    ----------
    per_dose : DataFrame
        One row per block, method and dose pair: ``block_id, drug_row, drug_col, conc_r,
        conc_c, conc_r_unit, conc_c_unit, method, response`` (mean % inhibition),
        ``expected`` (reference model, % inhibition), ``score, lower, upper, p_value``.
    per_block : DataFrame
        ``block_id, method, statistic, score, lower, upper, p_value`` and, for ``msa`` rows, the
        area's concentration range ``area_conc_r_low/high, area_conc_c_low/high``.
    qc : DataFrame
        One row per input block with its :class:`BlockStatus` in ``status`` and the message.
    monotherapy : DataFrame
        LL.4 fits (``b, c, d, e`` on the inhibition scale) of each block's two drugs.
    musyc : DataFrame
        MuSyC parameters per block (empty unless requested).
    sensitivity : DataFrame
        SynergyFinder's sensitivity scores, one row per block (empty unless requested):
        ``IC50_1, IC50_2`` (concentration units), ``RI_1, RI_2, CSS1, CSS2, CSS`` and the S
        scores ``S, S_mean, S_max`` (% inhibition), ``fallback_fits``; definitions in
        docs/model.md (Sensitivity scores).
    sensitivity_stats : DataFrame
        For blocks with replicates, one row per block and score: ``value``, our bootstrap
        (``lower, upper, p_value``) and SynergyFinder's iterations (``sf_mean, sf_sd, sf_sem,
        sf_lower, sf_upper, sf_p_value, sf_iterations``).

    Notes
    -----
    :meth:`grid` and the figures find a block's rows through an index of ``per_dose`` (and
    ``per_block``) by ``block_id`` (compared as text), built on first use and rebuilt when the
    table is replaced by another frame or changes length; edit a copy rather than the
    ``block_id`` column in place.
    """

    per_dose: pd.DataFrame
    per_block: pd.DataFrame
    qc: pd.DataFrame
    monotherapy: pd.DataFrame
    musyc: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    sensitivity: pd.DataFrame = field(default_factory=lambda: empty_tables()[0])
    sensitivity_stats: pd.DataFrame = field(default_factory=lambda: empty_tables()[1])
    _row_index: dict[str, tuple[pd.DataFrame, int, dict[str, NDArray[np.intp]]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def block_rows(self, block_id: Any, table: str = "per_dose") -> pd.DataFrame:
        """The rows of ``table`` (``per_dose`` or ``per_block``) whose ``block_id`` reads as
        ``str(block_id)``, in table order; empty if there are none. The table is grouped by block
        once, so looking up every block costs one pass over it, not one per block."""
        frame = getattr(self, table)
        cached = self._row_index.get(table)
        if cached is None or cached[0] is not frame or cached[1] != len(frame):
            keys = frame["block_id"].astype(str)
            cached = (frame, len(frame), keys.groupby(keys, sort=False).indices)
            self._row_index[table] = cached
        rows = cached[2].get(str(block_id))
        return frame.iloc[rows] if rows is not None else frame.iloc[:0]

    def grid(self, block_id: Any, method: str, column: str = "score") -> pd.DataFrame:
        """One block's per-dose ``column`` as a matrix (rows ``conc_r``, columns ``conc_c``)."""
        rows = self.block_rows(block_id)
        sel = rows[rows["method"] == method]
        if sel.empty:
            raise LeptotwinError(
                "no scores for this block and method",
                source="SynergyResult.grid",
                value=f"{block_id}/{method}",
                expected="a scored block_id and a computed method",
            )
        return sel.pivot(index="conc_r", columns="conc_c", values=column)


# --------------------------------------------------------------------------- main entry
def synergy_scores(
    df: pd.DataFrame,
    methods: Sequence[str] = ("ZIP", "Bliss", "HSA", "Loewe"),
    *,
    scale: str | None = None,
    top: float = 100.0,
    zip_variant: str = "yadav",
    n_boot: int | None = None,
    alpha: float = 0.05,
    rng: np.random.Generator | None = None,
    area: int = 3,
    strict: bool = False,
    response_unit: str | None = None,
    source: str = _SRC,
    sensitivity: bool = False,
) -> SynergyResult:
    """Score every block of a SynergyFinder long table.

    Parameters
    ----------
    df : DataFrame
        Columns ``block_id, drug_row, drug_col, conc_r, conc_c, response, conc_r_unit,
        conc_c_unit`` or any of SynergyFinder's variants (``PairIndex``/``BlockID``,
        ``drug1, drug2, conc1, conc2, conc_unit``; see :func:`read_synergy`). Concentration
        units are parsed with pint; where one drug of a block is given in several units of the
        same kind (nM and µM), its wells are converted to the unit most of them use and
        ``qc.note`` says so.
    methods : sequence of {"ZIP", "Bliss", "HSA", "Loewe", "MuSyC"}
    scale : {None, "inhibition", "viability"}
        What ``response`` measures; viability is converted to ``top - response``. None (default)
        reads inhibition, but a block whose untreated cell reads at least ``top / 2`` as
        inhibition (near full effect: viability data?) gets the status ``scale_unconfirmed``
        (scored as inhibition); given explicitly, such a block stays ``ok``. Either way
        ``qc.scale_suspect`` is True and ``qc.note`` says so.
    top : float
        Full effect in the response unit (100 for %, 1 for fractions).
    zip_variant : {"yadav", "synergyfinder", "synergy"}
        The ZIP definition (each difference in one table: docs/model.md (ZIP variants)). ``"yadav"``
        (default): the delta score as Yadav et al. 2015 and SynergyFinder 2.x define it (slices
        over the combination cells, fixed at the fitted monotherapy and at ``top``), every
        LL.4 fit at its global least-squares optimum (grid + multistart; tested against brute
        force). ``"synergyfinder"``: SynergyFinder 3.7.x's ``ZIP()``, with R drc's own fitting
        path emulated (its published Mathews tutorial means 19.57 / -2.98 are reproduced to
        0.01; tested). ``"synergy"``: the ``synergy`` package's definition (slices include the
        zero-dose cell and start at the single drug's fitted curve, Hill slope > 0, top free
        within its bound Emax in [0, 1.5] as a viability fraction, i.e. ``[-top / 2, top]``
        inhibition; Bliss surface from monotherapy curves with the mean dose-0 level), every
        slice at its global least-squares optimum; equal to that package (tested) wherever
        its single local ``curve_fit`` reaches that optimum; where it stops short (on
        simulated blocks most differences) ours has the lower RSS. A slice fit that fails is
        left out; ``qc.zip_fits_left_out`` counts such fits per block and ``qc.note`` says so
        (the block stays ``ok``: it is scored).
    n_boot : int or None
        Bootstrap resamples of the replicates; None: 200 if any block has replicates, else 0.
    alpha : float
        1 − level of the percentile intervals.
    rng : numpy.random.Generator, optional
        For the bootstrap; None uses ``default_rng(0)`` (reproducible).
    area : int
        Side of the dose window of the most synergistic area.
    strict : bool
        Raise on the first bad block instead of flagging it in ``qc`` (and leaving it out).
    response_unit : {None, "percent", "fraction"}
        ``"fraction"``: responses are fractions (0-1) and are multiplied by 100, so every score
        is in points of %. None (default): % when ``top`` is 100, and a table that looks like
        fractions (median |response| at most 1.5 and none beyond 10) is refused (say
        ``"percent"`` if it really is %).
    source : str
        Named in errors (the file the table came from).
    sensitivity : bool
        Also compute SynergyFinder's sensitivity scores (``sensitivity`` and, for replicated
        blocks, ``sensitivity_stats``: our bootstrap next to SynergyFinder's 10 iterations and
        p-values). Fits at the global optimum; with ``zip_variant="synergyfinder"`` R drc's
        path as SynergyFinder 3.7.x runs it.

    Returns
    -------
    SynergyResult

    Raises
    ------
    LeptotwinError
        Missing columns, bad rows (see :func:`read_synergy`), unknown method, scale, variant or
        response unit, fractions read as %; with ``strict=True`` also any block whose status is
        not OK (``scale_unconfirmed`` included).
    """
    scale_given = scale is not None
    scale = "inhibition" if scale is None else scale
    methods = _check_options(methods, scale, zip_variant, top, area, n_boot, source)
    alpha = check_alpha(alpha, source)
    ndrug = count_drugs(df) if isinstance(df, pd.DataFrame) else 2
    if ndrug >= 3:
        return _synergy_scores_nd(
            df, ndrug, methods, scale=scale, scale_given=scale_given, top=top,
            zip_variant=zip_variant, alpha=alpha, strict=strict, response_unit=response_unit,
            source=source, sensitivity=sensitivity, n_boot=n_boot,
        )  # fmt: skip
    table = df if isinstance(df, CheckedTable) else check_table_keys(df, source)
    if table.notes is None:
        df, notes = unify_units(table.frame, source, keys=table.keys)
    else:  # checked and unified already (read_checked)
        df, notes = table.frame, table.notes
    response, response_unit = _inhibition(df, response_unit, top, scale, source)
    qc, groups = _validate(df, notes, response, table.keys, table.labels)
    _check_scale(df, qc, scale, scale_given, top, response, table.keys.get("block_id"),
                 table.labels)  # fmt: skip
    bad = qc[qc["status"] != BlockStatus.OK]
    if strict and len(bad):
        row = bad.iloc[0]
        raise LeptotwinError(
            row["status"].value, source=source, field="block_id", value=str(row["block_id"])
        )
    rng = np.random.default_rng(0) if rng is None else rng
    has_reps = any(int(g.n_rep.max()) > 1 for g in groups)
    n_boot = (200 if has_reps else 0) if n_boot is None else int(n_boot)
    dose_parts, block_parts, mono_parts, musyc_parts = [], [], [], []
    sens_parts: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    zip_left_out: dict[Any, int] = {}
    stack = max(1, _MAX_STACK // max(n_boot, 1))
    for grp in groups:
        for lo in range(0, len(grp.blocks), stack):
            part = grp.part(slice(lo, lo + stack))
            d, b, mo, mu, flagged = _score_group(
                part, qc, methods, top, zip_variant, n_boot, alpha, rng, area
            )
            zip_left_out.update(flagged)
            dose_parts.append(d)
            block_parts.append(b)
            mono_parts.append(mo)
            musyc_parts.append(mu)
            if sensitivity:
                sens_parts.append(
                    block_sensitivity(
                        part.blocks, _meta(qc, part),
                        part.conc_r, part.conc_c, part.reps, part.n_rep, top=top,
                        engine="synergyfinder" if zip_variant == "synergyfinder" else "global",
                        n_boot=n_boot, alpha=alpha, rng=rng,
                    )
                )  # fmt: skip
    fit_failed = set()
    for mo in mono_parts:
        if len(mo):
            fit_failed |= set(mo.loc[~mo["ok"], "block_id"])
    if fit_failed:
        hit = qc["block_id"].isin(fit_failed) & (qc["status"] == BlockStatus.OK)
        qc.loc[hit, "status"] = BlockStatus.FIT_FAILED
        few = qc["block_id"].isin(fit_failed) & (qc[["n_conc_r", "n_conc_c"]].min(axis=1) < 5)
        qc.loc[few, "note"] = [
            "; ".join(x for x in (note, _few_doses(row)) if x)
            for note, (_, row) in zip(qc.loc[few, "note"], qc[few].iterrows(), strict=True)
        ]
    _finish_qc(qc, zip_left_out, "ZIP: {} fit(s) failed or ran away, left out")
    return SynergyResult(
        per_dose=_concat(dose_parts, _DOSE_COLUMNS),
        per_block=_concat(block_parts, _BLOCK_COLUMNS),
        qc=qc,
        monotherapy=_concat(mono_parts, _MONO_COLUMNS),
        musyc=_concat(musyc_parts, ["block_id", *MUSYC_NAMES, "r2", "ok"]),
        **(concat_sensitivity(sens_parts) if sens_parts else _empty_sensitivity()),
        settings={
            "methods": methods,
            "scale": scale,
            "scale_given": scale_given,
            "top": top,
            "zip_variant": zip_variant,
            "response_unit": response_unit,
            "n_boot": n_boot,
            "alpha": alpha,
            "area": area,
        },
    )


def _few_doses(row: pd.Series) -> str:
    """The qc note of a block whose LL.4 fits had 3 positive concentrations (4 parameters on 4
    points: no fit, no Loewe, ZIP or MuSyC; Bliss and HSA are scored)."""
    drugs = [row[f"drug_{a}"] for a, n in (("row", "n_conc_r"), ("col", "n_conc_c")) if row[n] < 5]
    return (
        f"{' and '.join(map(str, drugs))}: 3 positive concentrations, an LL.4 fit needs 4; "
        "Loewe, ZIP and MuSyC not scored"
    )


def _as_inhibition(
    df: pd.DataFrame, response_unit: str | None, top: float, scale: str | None, source: str
) -> tuple[pd.DataFrame, str]:
    """The table with :func:`_inhibition`'s responses (one copy of the table)."""
    response, response_unit = _inhibition(df, response_unit, top, scale, source)
    return df.assign(response=response), response_unit


def _inhibition(
    df: pd.DataFrame, response_unit: str | None, top: float, scale: str | None, source: str
) -> tuple[Array, str]:
    """Responses in percent (or the given top) of inhibition, on one grid for both scales.

    ``top - (top - x)`` differs from ``x`` by an ulp, and near-step LL.4 fits (|b| ~ 20: a flat
    RSS valley) stopped apart on such inputs, moving Loewe by up to 0.39 points between viability
    and inhibition inputs of the same data (issue 15 item 6); rounding to ``_DECIMALS``
    significant places of ``top`` puts both on the same numbers. Inhibition is first taken
    through viability and back (``top - (top - x)``), so that an input given as viability
    ``v = top - x`` lands on exactly the same floats before the rounding, even for a value
    within an ulp of a rounding boundary. Array code on the response column: the table is not
    copied (issue 14 item 4: three copies of a 640,000-row table were 10 % of Bliss's time)."""
    response = df["response"].to_numpy(float)
    response_unit, factor = response_multiplier(response, response_unit, top, source)
    if factor != 1.0:
        response = response * factor
    response = top - response if scale == "viability" else top - (top - response)
    return np.round(response, _DECIMALS - int(np.log10(top))), response_unit


def _check_scale(
    df: pd.DataFrame,
    qc: pd.DataFrame,
    scale: str,
    given: bool,
    top: float,
    response: Array | None = None,
    codes: NDArray[np.intp] | None = None,
    labels: pd.Index | None = None,
) -> None:
    """``qc.untreated_response`` (mean of the untreated wells, both concentrations 0, on the
    input's scale; NaN without one) and ``qc.scale_suspect`` (and a note) for blocks where it
    reads at least ``top / 2`` as inhibition; without an explicit scale their status becomes
    ``SCALE_UNCONFIRMED`` (issue 15 item 5). ``response``: inhibition of each row of ``df``
    (None: ``df.response`` holds inhibition already); ``codes`` and ``labels``: the rows' block
    codes and the distinct block ids (:class:`CheckedTable`'s), where known."""
    response = df["response"].to_numpy(float) if response is None else response
    untreated = (df["conc_r"].to_numpy() == 0) & (df["conc_c"].to_numpy() == 0)
    level = _untreated_level(df, qc, response, untreated, codes, labels)
    suspect = (level >= 0.5 * top).to_numpy()
    qc["untreated_response"] = level if scale == "inhibition" else top - level
    qc["scale_suspect"] = suspect
    other = "viability" if scale == "inhibition" else "inhibition"
    for i in np.flatnonzero(suspect):
        shown = qc["untreated_response"].iloc[i]
        tail = f"(scale='{scale}' as given)" if given else f"say scale='{other}' or '{scale}'"
        note = f"untreated cell reads {shown:.4g} as {scale}, near full effect: {other}? {tail}"
        qc.iloc[i, qc.columns.get_loc("note")] = "; ".join(
            x for x in (qc["note"].iloc[i], note) if x
        )
        if not given and qc["status"].iloc[i] == BlockStatus.OK:
            qc.iloc[i, qc.columns.get_loc("status")] = BlockStatus.SCALE_UNCONFIRMED


def _untreated_level(
    df: pd.DataFrame,
    qc: pd.DataFrame,
    response: Array,
    untreated: NDArray[np.bool_],
    codes: NDArray[np.intp] | None,
    labels: pd.Index | None,
) -> pd.Series:
    """Mean response of each qc block's untreated wells (NaN responses left out, NaN without
    one), as ``groupby(block_id).mean()`` mapped on ``qc.block_id``. With the block codes and
    ids, and at most one such well per block (a screen's usual layout), the well's response
    itself, placed by array code (issue 14 item 4: the groupby and map were ~0.4 ms a call);
    otherwise the groupby (its compensated sum for several wells kept)."""
    index = qc.index
    if codes is not None and labels is not None and len(qc) and codes.size == len(df):
        at = pd.Index(qc["block_id"].to_numpy()).get_indexer(labels)
        sel = untreated & ~np.isnan(response)
        rows = codes[sel]
        pos = at[rows] if not rows.size or int(rows.min()) >= 0 else np.full(1, -1)
        if pos.size == 0 or (
            int(pos.min()) >= 0 and int(np.bincount(pos, minlength=len(qc)).max()) <= 1
        ):
            level = np.full(len(qc), np.nan)
            level[pos] = response[sel]
            return pd.Series(level, index=index, name="block_id")
    means = (
        pd.Series(response[untreated])
        .groupby(df["block_id"].to_numpy()[untreated], sort=False)
        .mean()
    )
    return qc["block_id"].map(means)


def _check_options(
    methods: Sequence[str],
    scale: str,
    zip_variant: str,
    top: float,
    area: int,
    n_boot: int | None,
    source: str,
) -> tuple[str, ...]:
    """The methods as a tuple; a LeptotwinError for any option outside its range."""
    if isinstance(methods, str):
        methods = [methods]
    for m in methods:
        if m not in METHODS:
            raise LeptotwinError(
                "unknown method", source=source, field="methods", value=m,
                expected=", ".join(METHODS),
            )  # fmt: skip
    checks = [
        ("scale", scale, scale in ("inhibition", "viability"), "'inhibition' or 'viability'"),
        ("zip_variant", zip_variant, zip_variant in ZIP_VARIANTS,
         ", ".join(repr(v) for v in ZIP_VARIANTS)),
        ("top", top, isinstance(top, int | float) and np.isfinite(top) and top > 0,
         "a finite number > 0 (100 for %)"),
        ("area", area, isinstance(area, int | np.integer) and area >= 1, "an integer >= 1"),
        ("n_boot", n_boot, n_boot is None or (isinstance(n_boot, int | np.integer)
         and 0 <= n_boot <= 100_000), "None or an integer in [0, 100000]"),
    ]  # fmt: skip
    names = {"scale": "unknown scale", "zip_variant": "unknown ZIP variant"}
    for name, value, ok, expected in checks:
        if not ok:
            raise LeptotwinError(
                names.get(name, f"{name} out of range"), source=source, field=name,
                value=value, expected=expected,
            )  # fmt: skip
    return tuple(methods)


_DOSE_COLUMNS = [
    "block_id",
    "drug_row",
    "drug_col",
    "conc_r",
    "conc_c",
    "conc_r_unit",
    "conc_c_unit",
    "method",
    "response",
    "expected",
    "score",
    "lower",
    "upper",
    "p_value",
]
_BLOCK_COLUMNS = [
    "block_id",
    "method",
    "statistic",
    "score",
    "lower",
    "upper",
    "p_value",
    "area_conc_r_low",
    "area_conc_r_high",
    "area_conc_c_low",
    "area_conc_c_high",
]
_MONO_COLUMNS = ["block_id", "drug", "axis", "b", "c", "d", "e", "ok"]


#: What :func:`_score_group` gives for a table it does not fill (left out by :func:`_concat`).
_NO_ROWS = pd.DataFrame()


@functools.cache
def _empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float) for c in columns})


@functools.cache
def _empty_sensitivity_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return empty_tables()


def _empty_sensitivity() -> dict[str, pd.DataFrame]:
    """``concat_sensitivity([])``: copies of tables built once (a few ms a call)."""
    sens, stats = _empty_sensitivity_tables()
    return {"sensitivity": sens.copy(), "sensitivity_stats": stats.copy()}


def _finish_qc(qc: pd.DataFrame, zip_left_out: dict[Any, int], template: str) -> None:
    """``zip_fits_left_out`` and its note (``template`` of the count), ``message`` and
    ``status`` as text: Python only for the blocks with a note to add and once per status."""
    left = np.zeros(len(qc), dtype=np.int64)
    if zip_left_out:
        left = qc["block_id"].map(zip_left_out).fillna(0).astype(np.int64).to_numpy()
    qc["zip_fits_left_out"] = left
    if left.any():
        note = qc["note"].to_numpy(dtype=object).copy()
        for i in np.flatnonzero(left):
            msg = template.format(left[i])
            note[i] = f"{note[i]}; {msg}" if note[i] else msg
        qc["note"] = note
    status = qc["status"]
    codes = _codes(status)
    kinds = status.to_numpy()[_first_rows(codes)] if len(status) else status.to_numpy()
    qc["message"] = np.array([k.value for k in kinds], dtype=object)[codes]
    qc["status"] = np.array([k.name.lower() for k in kinds], dtype=object)[codes]


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty_frame(tuple(columns)).copy()
    if len(parts) == 1 and parts[0].index.equals(pd.RangeIndex(len(parts[0]))):
        return parts[0]  # what concat would copy (tables built here, not the caller's)
    return pd.concat(parts, ignore_index=True)


def _interval(est: Array, boot: Array, q: tuple[float, float]) -> tuple[Array, Array, Array]:
    """Percentile interval and two-sided p-value ``2 Φ(−|est| / sd)`` from bootstrap draws
    (axis 0). Cells with no finite draw (failed fits) get NaN, and cells with fewer than two
    a NaN p-value, without numpy's all-NaN warnings."""
    n_finite = np.isfinite(boot).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, up = np.nanpercentile(np.where(n_finite > 0, boot, 0.0), q, axis=0)
        sd = np.nanstd(np.where(n_finite > 1, boot, 0.0), axis=0, ddof=1)
        p = 2 * _norm_sf(np.abs(est) / sd)
    lo, up = (np.where(n_finite > 0, a, np.nan) for a in (lo, up))
    return lo, up, np.where((n_finite > 1) & (sd > 0), p, np.nan)


def _meta(qc: pd.DataFrame, grp: _Group) -> pd.DataFrame:
    """The qc rows of ``grp``'s blocks, indexed by block_id."""
    if grp.qc_rows is None:
        return qc.set_index("block_id").loc[grp.blocks]
    return qc.iloc[grp.qc_rows].set_index("block_id")


def _meta_arrays(qc: pd.DataFrame, grp: _Group) -> dict[str, Array]:
    """The drug names and units of ``grp``'s blocks (in its order) from their ``qc`` rows, as
    arrays: :func:`_meta`'s columns without its indexed frame."""
    names = ("drug_row", "drug_col", "conc_r_unit", "conc_c_unit")
    if grp.qc_rows is None:
        meta = _meta(qc, grp)
        return {c: meta[c].to_numpy() for c in names}
    return {c: qc[c].to_numpy()[grp.qc_rows] for c in names}


def _dose_table(
    grp: _Group,
    meta: dict[str, Array],
    methods: Sequence[str],
    inhib: Array,
    sc: _Scores,
    bounds: dict[str, tuple[Array, Array, Array]],
) -> pd.DataFrame:
    """``per_dose`` of one group: the rows of each method in turn (block by block, row-major
    cells), the columns of :data:`_DOSE_COLUMNS`; ``bounds``: lower, upper, p_value per method
    (NaN where absent). The same frame as ``pd.concat`` of one ``pd.DataFrame(dict)`` per
    method, built without their copies (issue 14 item 4: at 10^4 blocks they were a third of
    Bliss's time): each column is written once into its own array (each block's value over its
    cells; with one method, the scores, expected values and responses made in this call taken
    as they are) and the frame made from them without a copy (inserting the columns one by one
    copied each: ~10 ms at 10^4 blocks)."""
    n, nr, nc = inhib.shape
    n_m, cells = len(methods), nr * nc
    n_rows = n_m * n * cells
    ii, jj = np.meshgrid(np.arange(nr), np.arange(nc), indexing="ij")

    def each_block(values: Array) -> Array:  # a block's value over its cells, every method
        one = np.repeat(values, cells)
        return np.tile(one, n_m) if n_m > 1 else one

    def each_method(parts: list[Array]) -> Array:  # (n, nr, nc) arrays made in this call
        if len(parts) == 1:
            return parts[0].reshape(n_rows)
        return np.concatenate([p.reshape(-1) for p in parts])

    def bound(k: int) -> Array:  # a column of its own (NaN where no method has intervals)
        if not any(m in bounds for m in methods):
            return np.full(n_rows, np.nan)
        nan = np.full((n, nr, nc), np.nan)
        return each_method([bounds[m][k] if m in bounds else nan for m in methods])

    # every column written once, in table order; the frame made from them without a copy
    columns: dict[str, Array] = {
        "block_id": each_block(grp.blocks.to_numpy()),
        "drug_row": each_block(meta["drug_row"]),
        "drug_col": each_block(meta["drug_col"]),
        "conc_r": each_method([grp.conc_r[:, ii]] * n_m),
        "conc_c": each_method([grp.conc_c[:, jj]] * n_m),
        "conc_r_unit": each_block(meta["conc_r_unit"]),
        "conc_c_unit": each_block(meta["conc_c_unit"]),
        "method": np.repeat(np.array(list(methods), dtype=object), n * cells),
        "response": each_method([inhib] * n_m),
        "expected": each_method([sc.expected[m] for m in methods]),
        "score": each_method([sc.score[m] for m in methods]),
        "lower": bound(0),
        "upper": bound(1),
        "p_value": bound(2),
    }
    return pd.DataFrame(columns, copy=False)


def _block_table(
    grp: _Group,
    summ: dict[tuple[str, str], Array],
    boot_summ: dict[tuple[str, str], Array],
    windows: dict[str, NDArray[np.int64]],
    q: tuple[float, float],
    area: int,
) -> pd.DataFrame:
    """``per_block`` of one group: the rows of each (method, statistic) of ``summ`` in turn,
    block by block, the columns of :data:`_BLOCK_COLUMNS` (the area's concentration range on
    ``msa`` rows, NaN elsewhere). The frame ``pd.concat`` of one frame per (method, statistic)
    and ``reindex`` gave, built from one array per column (issue 14 item 4: their index and
    NaN-column handling were a millisecond a call)."""
    n, nr, nc = grp.conc_r.shape[0], grp.conc_r.shape[1], grp.conc_c.shape[1]
    keys = list(summ)
    k = len(keys)
    score = np.empty((k, n))
    bounds = np.full((3, k, n), np.nan)
    area_cols = np.full((4, k, n), np.nan)
    small = nr - 1 < area or nc - 1 < area  # window: area x area, or all combination cells
    w = (nr - 2, nc - 2) if small else (area - 1, area - 1)
    idx = np.arange(n)
    for at, (m, stat) in enumerate(keys):
        score[at] = summ[(m, stat)]
        if (m, stat) in boot_summ:
            bounds[:, at] = _interval(summ[(m, stat)], boot_summ[(m, stat)], q)
        if stat == "msa":
            first = windows[m]
            area_cols[0, at] = grp.conc_r[idx, first[:, 0]]
            area_cols[1, at] = grp.conc_r[idx, first[:, 0] + w[0]]
            area_cols[2, at] = grp.conc_c[idx, first[:, 1]]
            area_cols[3, at] = grp.conc_c[idx, first[:, 1] + w[1]]
    blocks = grp.blocks.to_numpy()
    block_col = np.empty((k, n), dtype=blocks.dtype)
    block_col[...] = blocks
    names = np.empty((2, k, n), dtype=object)
    names[0] = np.array([m for m, _ in keys], dtype=object)[:, None]
    names[1] = np.array([st for _, st in keys], dtype=object)[:, None]
    columns = {
        "block_id": block_col.reshape(-1),
        "method": names[0].reshape(-1),
        "statistic": names[1].reshape(-1),
        "score": score.reshape(-1),
        "lower": bounds[0].reshape(-1),
        "upper": bounds[1].reshape(-1),
        "p_value": bounds[2].reshape(-1),
        **{c: area_cols[a].reshape(-1) for a, c in enumerate(_BLOCK_COLUMNS[7:11])},
    }
    return pd.DataFrame(columns, copy=False)


def _score_group(
    grp: _Group,
    qc: pd.DataFrame,
    methods: Sequence[str],
    top: float,
    zip_variant: str,
    n_boot: int,
    alpha: float,
    rng: np.random.Generator,
    area: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[Any, int]]:
    n, nr, nc, n_r = grp.reps.shape
    inhib = grp.mean
    sc = _score_stack(grp.conc_r, grp.conc_c, inhib, methods, top, zip_variant)
    windows: dict[str, NDArray[np.int64]] = {}
    summ = _summaries(sc, area, windows)
    boot_scores: dict[str, Array] = {}
    boot_summ: dict[tuple[str, str], Array] = {}
    if n_boot > 0 and n_r > 1:
        # resample wells within each dose cell: index k < n_rep of the cell
        u = rng.random((n_boot, n, nr, nc, n_r))
        k = np.minimum((u * grp.n_rep[None, :, :, :, None]).astype(np.int64), n_r - 1)
        # compact replicates to the front so that k indexes observed wells
        order = np.argsort(~np.isfinite(grp.reps), axis=3, kind="stable")
        packed = np.take_along_axis(grp.reps, order, axis=3)
        draws = np.take_along_axis(packed[None], k, axis=4)
        mask = np.arange(n_r)[None, None, None, None, :] < grp.n_rep[None, :, :, :, None]
        means = np.where(mask, draws, 0.0).sum(axis=4) / np.maximum(grp.n_rep, 1)[None]
        stack = means.reshape(n_boot * n, nr, nc)
        bsc = _score_stack(
            np.tile(grp.conc_r, (n_boot, 1)),
            np.tile(grp.conc_c, (n_boot, 1)),
            stack,
            methods,
            top,
            zip_variant,
        )
        boot_scores = {m: s.reshape(n_boot, n, nr, nc) for m, s in bsc.score.items()}
        boot_summ = {key: v.reshape(n_boot, n) for key, v in _summaries(bsc, area).items()}
    q = (100 * alpha / 2, 100 * (1 - alpha / 2))
    meta = _meta_arrays(qc, grp)
    # ---------------- per dose
    bounds = {}
    for m in methods:
        if m in boot_scores:
            lo, up, pv = _interval(sc.score[m], boot_scores[m], q)
            for a in (lo, up, pv):
                a[:, 0, :] = np.nan
                a[:, :, 0] = np.nan
            bounds[m] = (lo, up, pv)
    per_dose = _dose_table(grp, meta, methods, inhib, sc, bounds)
    # ---------------- per block
    per_block = _block_table(grp, summ, boot_summ, windows, q, area)
    # ---------------- fits
    mono = _NO_ROWS
    if sc.mono is not None:
        mono = pd.concat(
            [
                pd.DataFrame(
                    {
                        "block_id": grp.blocks.to_numpy(),
                        "drug": meta[name],
                        "axis": axis,
                        **{p: par[:, k] for k, p in enumerate("bcde")},
                        "ok": ok,
                    }
                )
                for name, axis, par, ok in (
                    ("drug_row", "row", sc.mono.row, sc.mono.row_ok),
                    ("drug_col", "col", sc.mono.col, sc.mono.col_ok),
                )
            ],
            ignore_index=True,
        )
    musyc = _NO_ROWS
    if sc.musyc is not None:
        musyc = pd.DataFrame(sc.musyc.params, columns=list(MUSYC_NAMES))
        musyc.insert(0, "block_id", grp.blocks.to_numpy())
        musyc["r2"] = sc.musyc_r2
        musyc["ok"] = sc.musyc.ok
    left = (
        {}
        if sc.zip_left_out is None
        else dict(zip(grp.blocks, sc.zip_left_out.tolist(), strict=True))
    )
    return per_dose, per_block, mono, musyc, left


# --------------------------------------------------------------------------- figures
def _axis_positions(conc: NDArray[np.float64]) -> Array:
    """log10 concentrations with 0 placed one median step below the lowest positive one."""
    pos = conc[conc > 0]
    logs = np.log10(pos)
    step = float(np.median(np.diff(logs))) if logs.size > 1 else 1.0
    return np.where(conc > 0, np.log10(np.where(conc > 0, conc, 1.0)), logs.min() - step)


def plot_synergy_heatmap(
    result: SynergyResult, block_id: Any, method: str = "ZIP", *, ax: Any = None
) -> Any:
    """Heatmap of one block's per-dose scores (annotated), red = synergy; returns the Axes."""
    from matplotlib.figure import Figure

    grid = result.grid(block_id, method)
    if ax is None:
        ax = Figure(figsize=(5.5, 4.5), layout="constrained").add_subplot()
    vals = grid.to_numpy()
    lim = max(float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0, 1e-9)
    im = ax.imshow(vals, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for (i, j), v in np.ndenumerate(vals):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7, in_layout=False)
    ax.set_xticks(range(vals.shape[1]), [f"{c:.3g}" for c in grid.columns], fontsize=7)
    ax.set_yticks(range(vals.shape[0]), [f"{c:.3g}" for c in grid.index], fontsize=7)
    sel = result.block_rows(block_id).iloc[0]
    ax.set_xlabel(f"{sel['drug_col']} ({sel['conc_c_unit']})")
    ax.set_ylabel(f"{sel['drug_row']} ({sel['conc_r_unit']})")
    pb = result.block_rows(block_id, "per_block")
    mean = pb[(pb["method"] == method) & (pb["statistic"] == "mean")]["score"]
    title = f"{method} block {block_id}"
    if len(mean):
        title += f": mean {float(mean.iloc[0]):.2f}"
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(im, ax=ax, label=f"{method} score (inhibition points)")
    return ax


def plot_synergy_surface(
    result: SynergyResult, block_id: Any, method: str = "ZIP", *, ax: Any = None
) -> Any:
    """3-D surface of one block's per-dose scores over log10 concentrations; returns the Axes."""
    from matplotlib.figure import Figure

    grid = result.grid(block_id, method)
    if ax is None:
        ax = Figure(figsize=(6, 4.8), layout="constrained").add_subplot(projection="3d")
    x = _axis_positions(grid.columns.to_numpy(float))
    y = _axis_positions(grid.index.to_numpy(float))
    xx, yy = np.meshgrid(x, y)
    vals = grid.to_numpy()
    lim = max(float(np.nanmax(np.abs(vals))) if np.isfinite(vals).any() else 1.0, 1e-9)
    ax.plot_surface(xx, yy, vals, cmap="RdBu_r", vmin=-lim, vmax=lim, edgecolor="grey", lw=0.3)
    sel = result.block_rows(block_id).iloc[0]
    ax.set_xlabel(f"log10 {sel['drug_col']} ({sel['conc_c_unit']})", fontsize=8)
    ax.set_ylabel(f"log10 {sel['drug_row']} ({sel['conc_r_unit']})", fontsize=8)
    ax.set_zlabel(f"{method} score", fontsize=8)
    ax.set_title(f"{method} surface, block {block_id}", fontsize=9)
    return ax


# --------------------------------------------------------------------------- three or more drugs
def _synergy_scores_nd(
    df: pd.DataFrame,
    ndrug: int,
    methods: tuple[str, ...],
    *,
    scale: str,
    scale_given: bool,
    top: float,
    zip_variant: str,
    alpha: float,
    strict: bool,
    response_unit: str | None,
    source: str,
    sensitivity: bool,
    n_boot: int | None,
) -> SynergyResult:
    """:func:`synergy_scores` of a table of ``ndrug`` >= 3 drugs (SynergyFinder+'s n-drug
    definitions, :mod:`leptotwin.analysis._synergy_nd`). Replicates are averaged; intervals,
    p-values, most synergistic areas, MuSyC and sensitivity scores are two-drug only."""
    refuse = [
        ("methods", "MuSyC", "MuSyC" in methods, "ZIP, Bliss, HSA or Loewe"),
        ("zip_variant", zip_variant, zip_variant == "synergy" and "ZIP" in methods,
         "'yadav' or 'synergyfinder' (the synergy package scores two drugs)"),
        ("n_boot", n_boot, bool(n_boot), "None or 0 (replicates are averaged)"),
    ]  # fmt: skip
    for name, value, bad, expected in refuse:
        if bad:
            raise LeptotwinError(
                f"not defined for {ndrug}-drug combinations", source=source, field=name,
                value=value, expected=expected,
            )  # fmt: skip
    drugs = [f"drug{k}" for k in range(1, ndrug + 1)]
    concs = [f"conc{k}" for k in range(1, ndrug + 1)]
    units = [f"conc_unit{k}" for k in range(1, ndrug + 1)]
    df = check_table_nd(df, ndrug, source)
    df, notes = unify_units(df, source, pairs=tuple(zip(concs, units, strict=True)))
    df, response_unit = _as_inhibition(df, response_unit, top, scale, source)
    codes, labels = pd.factorize(df["block_id"], sort=False)
    g = df.assign(_b=codes).groupby("_b", sort=True)
    nun = g[drugs].nunique(dropna=False)
    nan_any = df[[*concs, "response"]].isna().any(axis=1).groupby(codes).any()
    counts = g[concs].nunique()
    cells = df.assign(_b=codes).drop_duplicates(["_b", *concs]).groupby("_b").size()
    zero = (g[concs].min() == 0).all(axis=1)
    first = g[[*drugs, *units]].first()
    status = pd.Series(BlockStatus.OK, index=counts.index, dtype=object)

    def flag(mask: pd.Series, st: BlockStatus) -> None:
        hit = mask.reindex(status.index, fill_value=False) & (status == BlockStatus.OK)
        status[hit] = st

    flag((nun > 1).any(axis=1), BlockStatus.SEVERAL_DRUGS)
    flag(nan_any, BlockStatus.MISSING_VALUE)
    flag(cells != counts.prod(axis=1), BlockStatus.NOT_GRID)
    flag(~zero, BlockStatus.NO_MONOTHERAPY)
    flag((counts < 4).any(axis=1), BlockStatus.TOO_FEW_DOSES)
    untreated = (df[concs] == 0).all(axis=1).to_numpy()
    level = pd.Series(df["response"].to_numpy()[untreated]).groupby(codes[untreated]).mean()
    level = level.reindex(status.index)
    suspect = (level >= 0.5 * top).to_numpy()
    note = [
        "; ".join(
            x
            for x in (
                (notes or {}).get(b, ""),
                f"untreated cell near full effect as {scale}" if sus else "",
                "sensitivity scores are defined for two drugs: not computed" if sensitivity else "",
            )
            if x
        )
        for b, sus in zip(labels[status.index], suspect, strict=True)
    ]
    if not scale_given:
        status[suspect & (status == BlockStatus.OK).to_numpy()] = BlockStatus.SCALE_UNCONFIRMED
    qc = pd.DataFrame(
        {
            "block_id": labels[status.index],
            **{c: first[c].to_numpy() for c in [*drugs, *units]},
            **{f"n_{c}": counts[c].to_numpy() for c in concs},
            "n_rep_max": g.size().to_numpy() // np.maximum(cells.to_numpy(), 1),
            "status": status.to_numpy(),
            "note": note,
            "untreated_response": (level if scale == "inhibition" else top - level).to_numpy(),
            "scale_suspect": suspect,
        }
    )
    bad = qc[qc["status"] != BlockStatus.OK]
    if strict and len(bad):
        row = bad.iloc[0]
        raise LeptotwinError(
            row["status"].value, source=source, field="block_id", value=str(row["block_id"])
        )
    good = status.index[(status == BlockStatus.OK).to_numpy()]
    sub = df.assign(_b=codes)
    sub = sub[sub["_b"].isin(good)]
    for k, c in enumerate(concs):
        sub[f"_i{k}"] = sub.groupby("_b")[c].rank(method="dense").astype(np.int64) - 1
    dose_parts, block_parts, mono_parts = [], [], []
    zip_left: dict[Any, int] = {}
    failed: set[Any] = set()
    shapes = counts.loc[good]
    for key, blocks in shapes.groupby(concs).groups.items():
        dims = tuple(int(v) for v in np.atleast_1d(key))
        blocks = np.asarray(blocks)
        part = sub[sub["_b"].isin(blocks)]
        pos = pd.Series(np.arange(len(blocks)), index=pd.Index(blocks))
        b = pos[part["_b"]].to_numpy()
        idx = tuple(part[f"_i{k}"].to_numpy() for k in range(ndrug))
        total = np.zeros((len(blocks), *dims))
        nrep = np.zeros((len(blocks), *dims))
        np.add.at(total, (b, *idx), part["response"].to_numpy())
        np.add.at(nrep, (b, *idx), 1.0)
        inhib = total / nrep
        conc = []
        for k, c in enumerate(concs):
            arr = np.zeros((len(blocks), dims[k]))
            arr[b, idx[k]] = part[c].to_numpy()
            conc.append(arr)
        ids = labels[blocks]
        d, bl, mo, left, bad_fit = _score_nd_group(
            ids, conc, inhib, methods, top, zip_variant, drugs, units,
            qc.set_index("block_id").loc[ids],
        )  # fmt: skip
        dose_parts.append(d)
        block_parts.append(bl)
        mono_parts.append(mo)
        zip_left.update(left)
        failed |= bad_fit
    hit = qc["block_id"].isin(failed) & (qc["status"] == BlockStatus.OK)
    qc.loc[hit, "status"] = BlockStatus.FIT_FAILED
    _finish_qc(qc, zip_left, "ZIP: {} fit(s) failed, left out")
    dose_cols = ["block_id", *drugs, *concs, *units, "method", "response", "expected", "score",
                 "lower", "upper", "p_value"]  # fmt: skip
    return SynergyResult(
        per_dose=_concat(dose_parts, dose_cols),
        per_block=_concat(block_parts, _BLOCK_COLUMNS[:7]),
        qc=qc,
        monotherapy=_concat(mono_parts, _MONO_COLUMNS),
        musyc=_concat([], ["block_id", *MUSYC_NAMES, "r2", "ok"]),
        settings={
            "methods": methods,
            "scale": scale,
            "scale_given": scale_given,
            "top": top,
            "zip_variant": zip_variant,
            "response_unit": response_unit,
            "n_boot": 0,
            "alpha": alpha,
            "n_drugs": ndrug,
        },
    )


def _score_nd_group(
    ids: NDArray[Any],
    conc: list[Array],
    inhib: Array,
    methods: Sequence[str],
    top: float,
    zip_variant: str,
    drugs: list[str],
    units: list[str],
    meta: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[Any, int], set[Any]]:
    """Scores of n-drug blocks of one shape: per-dose, per-block and single-drug fit tables,
    ZIP fits left out per block and the blocks whose single-drug fits failed."""
    n, ndrug = inhib.shape[0], inhib.ndim - 1
    score: dict[str, Array] = {}
    expected: dict[str, Array] = {}
    if "Bliss" in methods:
        score["Bliss"], expected["Bliss"] = bliss_nd(inhib, top)
    if "HSA" in methods:
        score["HSA"], expected["HSA"] = hsa_nd(inhib)
    params = np.full((n, ndrug, 4), np.nan)
    ok = np.ones((n, ndrug), bool)
    failed: set[Any] = set()
    left: dict[Any, int] = {}
    if {"Loewe", "ZIP"} & set(methods):
        params, ok = fit_single_drugs(conc, inhib)
        bad = ~ok.all(axis=1)
        failed |= set(ids[bad])
        if "Loewe" in methods:
            s, e = loewe_nd(conc, inhib, params, top)
            s[bad] = np.nan
            score["Loewe"], expected["Loewe"] = s, e
        if "ZIP" in methods:
            s, e, lo, mono_ok = zip_nd(conc, inhib, params, top=top, variant=zip_variant)
            s[bad] = np.nan
            failed |= set(ids[~mono_ok])
            score["ZIP"], expected["ZIP"] = s, e
            left = dict(zip(ids, lo.tolist(), strict=True))
    cells = int(np.prod(inhib.shape[1:]))
    grids = np.meshgrid(*[np.arange(m) for m in inhib.shape[1:]], indexing="ij")
    base: dict[str, Any] = {"block_id": np.repeat(ids, cells)}
    for d in drugs:
        base[d] = np.repeat(meta[d].to_numpy(), cells)
    for k in range(ndrug):
        base[f"conc{k + 1}"] = conc[k][:, grids[k].reshape(-1)].reshape(-1)
    for u in units:
        base[u] = np.repeat(meta[u].to_numpy(), cells)
    nan = np.full(n * cells, np.nan)
    per_dose = pd.concat(
        [
            pd.DataFrame(
                {
                    **base,
                    "method": m,
                    "response": inhib.reshape(-1),
                    "expected": expected[m].reshape(-1),
                    "score": score[m].reshape(-1),
                    "lower": nan,
                    "upper": nan,
                    "p_value": nan,
                }
            )
            for m in methods
        ],
        ignore_index=True,
    )
    combo = combination_mask(inhib.shape).reshape(-1)
    per_block = pd.concat(
        [
            pd.DataFrame(
                {
                    "block_id": ids,
                    "method": m,
                    "statistic": "mean",
                    "score": score[m].reshape(n, -1)[:, combo].mean(axis=1),
                    "lower": np.nan,
                    "upper": np.nan,
                    "p_value": np.nan,
                }
            )
            for m in methods
        ],
        ignore_index=True,
    )
    mono = pd.DataFrame(columns=_MONO_COLUMNS)
    if {"Loewe", "ZIP"} & set(methods):
        mono = pd.concat(
            [
                pd.DataFrame(
                    {
                        "block_id": ids,
                        "drug": meta[d].to_numpy(),
                        "axis": str(k + 1),
                        **{p: params[:, k, j] for j, p in enumerate("bcde")},
                        "ok": ok[:, k],
                    }
                )
                for k, d in enumerate(drugs)
            ],
            ignore_index=True,
        )
    return per_dose, per_block, mono, left, failed
