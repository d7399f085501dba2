"""Virtual cell-viability assay: seeding, 72 h drug exposure, CellTiter-Glo or MTT readout.

Each well is a small population grown by :func:`leptotwin.model.culture.grow_culture` (birth and
death from the pathway at the well's drugs and AREG, medium AREG accumulating from secretion).
The readout turns live cells into what the reader writes: luminescence (RLU) or absorbance (OD),
with seeding variation, multiplicative well noise, additive read noise, blanks, saturation and,
optionally, an edge effect. The result is a tidy well table with the signal and the hidden truth
(live cells, medium AREG) kept in separate ``true_*`` columns for tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.formats import PLATE_96, PLATE_384, get_plate_format, plate_wells, well_position
from leptotwin.model.culture import grow_culture
from leptotwin.model.pathway import CellState, PathwayModel, cell_state

__all__ = ["READOUTS", "CurveSpec", "design_plates", "simulate_viability"]

READOUTS = ("celltiter_glo", "mtt")
LIGAND = "AREG"  # agent name for recombinant amphiregulin in a layout
_LAYOUT_COLUMNS = (
    "plate",
    "well",
    "role",
    "cell_line",
    "perturbation",
    "drug_a",
    "conc_a_nM",
    "drug_b",
    "conc_b_nM",
)


@dataclass(frozen=True)
class CurveSpec:
    """One dose-response curve on a plate: a cell line (and perturbation) exposed to a dose series
    of ``drug``, optionally on top of a fixed ``partner`` at ``partner_nM`` (also in the vehicle
    wells of that curve)."""

    cell_line: str
    drug: str
    perturbation: str = ""
    partner: str = ""
    partner_nM: float = 0.0

    @property
    def label(self) -> str:
        parts = [self.cell_line]
        if self.perturbation:
            parts.append(self.perturbation)
        parts.append(self.drug)
        if self.partner:
            parts.append(f"+ {self.partner} {self.partner_nM:g} nM")
        return " | ".join(parts)


def design_plates(
    curves: Sequence[CurveSpec],
    doses_nM: Sequence[float],
    *,
    replicates: int = 3,
    plate_format: int = 96,
    plate_prefix: str = "P",
) -> pd.DataFrame:
    """Lay curves out on 96- or 384-well plates.

    Each curve is a block of ``replicates`` rows × 10 columns: the vehicle, then the doses (so
    ``len(doses_nM)`` must be 9). The outer ring of the plate stays medium-only blanks, as labs do
    to keep evaporation out of the data, and so do wells no block uses. A 96-well plate holds two
    curves (rows B–D and E–G, columns 2–11); a 384-well plate holds eight (four row blocks from
    row B, two column blocks at columns 2–11 and 13–22). For a curve with a fixed partner drug,
    the first column is the partner alone (a sample at dose 0); such a curve should share its
    plate with the plain curve of the same cells, whose vehicle wells it is normalised to.

    Returns
    -------
    DataFrame
        One row per well: ``plate, well, role, cell_line, perturbation, drug_a, conc_a_nM,
        drug_b, conc_b_nM, curve`` (role: sample, vehicle, blank).
    """
    doses = [float(d) for d in doses_nM]
    if len(doses) != 9 or any(d <= 0 for d in doses) or replicates < 1:
        raise LeptotwinError(
            "a curve block takes 9 positive doses and at least one replicate",
            field="doses_nM",
            value=doses,
        )
    fmt = get_plate_format(plate_format)
    n_rows, n_cols = fmt.n_rows, fmt.n_cols
    row_blocks = (n_rows - 2) // replicates
    col_starts = [c for c in (2, 13) if c + 9 <= n_cols - 1]
    per_plate = row_blocks * len(col_starts)
    if per_plate == 0:
        raise LeptotwinError(
            "too many replicates for the plate", field="replicates", value=replicates
        )
    wells = plate_wells(fmt)  # row-major: A01, A02, ...
    well_rows = np.arange(fmt.n_wells) // n_cols
    well_cols = wells["col"].to_numpy()  # 1-based
    frames = []
    for first in range(0, len(curves), per_plate):
        chunk = list(curves[first : first + per_plate])
        frame = pd.DataFrame(
            {
                "plate": f"{plate_prefix}{first // per_plate + 1:02d}",
                "well": wells["well"].to_numpy(),
                "role": "blank",
                "cell_line": "",
                "perturbation": "",
                "drug_a": "",
                "conc_a_nM": 0.0,
                "drug_b": "",
                "conc_b_nM": 0.0,
                "curve": "",
            }
        )
        for k, spec in enumerate(chunk):
            rb, cb = k % row_blocks, k // row_blocks
            r0, c0 = 1 + rb * replicates, col_starts[cb]
            inside = (
                (well_rows >= r0)
                & (well_rows < r0 + replicates)
                & (well_cols >= c0)
                & (well_cols < c0 + 10)
            )
            offset = well_cols[inside] - c0
            frame.loc[inside, ["cell_line", "perturbation", "drug_a", "drug_b", "curve"]] = [
                spec.cell_line,
                spec.perturbation,
                spec.drug,
                spec.partner,
                spec.label,
            ]
            frame.loc[inside, "conc_b_nM"] = spec.partner_nM
            frame.loc[inside, "conc_a_nM"] = np.where(
                offset == 0, 0.0, np.asarray(doses)[np.maximum(offset - 1, 0)]
            )
            frame.loc[inside, "role"] = np.where(
                (offset == 0) & (not spec.partner), "vehicle", "sample"
            )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _states(cell_lines: pd.Series, perturbations: pd.Series, catalog: Catalog) -> CellState:
    """One :class:`CellState` whose levels are arrays over rows (signals broadcast over them).

    ``perturbations`` are joined by ``+``; each distinct line and perturbation is looked up
    once. Shared with :mod:`leptotwin.assays.conditioned_medium`.
    """
    keys = cell_lines.astype(str) + "@@" + perturbations.fillna("").astype(str)
    cache: dict[str, CellState] = {}
    for key in keys.unique():
        line, pert = key.split("@@")
        perts = [p.strip() for p in pert.split("+") if p.strip()]
        cache[key] = cell_state(line, perts, catalog=catalog)
    levels = {
        field: keys.map(lambda k, f=field: getattr(cache[k], f)).to_numpy(dtype=float)
        for field in ("mir449a", "egfr_total", "alk_fusion", "areg_scale")
    }
    bypass = None  # second bypass receptors (catalogue bypass.yaml): levels per row too
    first = next(iter(cache.values()), None)
    if first is not None and first.bypass is not None:
        bypass = tuple(
            (
                receptor,
                keys.map(lambda k, i=i: cache[k].bypass[i][1]).to_numpy(dtype=float),
                keys.map(lambda k, i=i: cache[k].bypass[i][2]).to_numpy(dtype=float),
            )
            for i, (receptor, _, _) in enumerate(first.bypass)
        )
    return CellState(name="rows", **levels, bypass=bypass)


def _concentrations(layout: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Drug → per-well nM, and recombinant AREG (nM) per well."""
    conc: dict[str, np.ndarray] = {}
    ligand = np.zeros(len(layout))
    for dcol, ccol in (("drug_a", "conc_a_nM"), ("drug_b", "conc_b_nM")):
        drugs = layout[dcol].fillna("").astype(str).to_numpy()
        values = layout[ccol].fillna(0.0).to_numpy(dtype=float)
        for drug in np.unique(drugs):
            if not drug:
                continue
            part = np.where(drugs == drug, values, 0.0)
            if drug == LIGAND:
                ligand += part
            else:
                conc[drug] = conc.get(drug, 0.0) + part
    return conc, ligand


def simulate_viability(
    layout: pd.DataFrame,
    *,
    rng: np.random.Generator,
    readout: str = "celltiter_glo",
    hours: float = 72.0,
    dt_h: float = 0.25,
    edge_effect: bool = False,
    model: PathwayModel | None = None,
    catalog: Catalog | None = None,
    mixtures: Mapping[str, Sequence[tuple[str, float]]] | None = None,
) -> pd.DataFrame:
    """Run the virtual assay on every well of ``layout``.

    Parameters
    ----------
    layout : DataFrame
        One row per well with ``plate, well, role, cell_line, perturbation, drug_a, conc_a_nM,
        drug_b, conc_b_nM`` (e.g. from :func:`design_plates`). The agent ``"AREG"`` is
        recombinant amphiregulin (nM) added to the medium.
    rng : numpy.random.Generator
        Source of seeding, well and read noise.
    readout : {"celltiter_glo", "mtt"}
    hours : float
        Exposure time.
    edge_effect : bool
        Lower growth in the outer ring of wells (evaporation).
    model : PathwayModel, optional
        The pathway model; built from the catalogue by default (pass one for counterfactuals).
    mixtures : mapping, optional
        Cell populations that are mixtures of catalogue lines, e.g. cells harvested from a
        relapsed tumour: ``{"relapse m3": [("A925LPE3", 0.1), ("A925L/AR", 0.9)]}``; a layout may
        then use ``"relapse m3"`` as a cell line. Components are seeded by fraction and grown side
        by side (their secreted AREG adds up in the read-out; cross-feeding between components
        through the medium is neglected).

    Returns
    -------
    DataFrame
        ``layout`` plus ``signal`` (RLU or OD), ``readout``, ``true_live_cells`` and
        ``true_medium_areg_pg_mL``.
    """
    missing = [c for c in _LAYOUT_COLUMNS if c not in layout.columns]
    if missing:
        raise LeptotwinError(
            "layout lacks columns", field=", ".join(missing), expected=", ".join(_LAYOUT_COLUMNS)
        )
    if readout not in READOUTS:
        raise LeptotwinError(
            "unknown readout",
            field="readout",
            value=readout,
            expected="one of " + ", ".join(READOUTS),
        )
    cat = catalog or load_catalog()
    pm = model or PathwayModel.from_catalog(cat)
    n_wells = len(layout)
    culture = "culture"
    n0_well = cat.assay_value(culture, "seeding_cells") * np.exp(
        rng.normal(0.0, cat.assay_value(culture, "seeding_cv"), n_wells)
    )
    well_of, parts = _expand_mixtures(layout, mixtures or {})
    has_cells = parts["role"].isin(["sample", "vehicle", "positive"]).to_numpy()
    # blanks (no cell line) get the first catalogue line's levels; they are seeded with N0 = 0
    lines = parts["cell_line"].where(
        parts["cell_line"].astype(str) != "", next(iter(cat.cell_lines))
    )
    state = _states(lines, parts["perturbation"], cat)
    conc, ligand0 = _concentrations(parts)
    n0 = np.where(has_cells, n0_well[well_of] * parts["_fraction"].to_numpy(float), 0.0)
    volume_mL = cat.assay_value(culture, "medium_volume") * 1e-3
    # per plate, as merge_plate: 384 wells if any well lies past H12, else 96
    rows, cols = well_position(parts["well"].astype(str).to_numpy())
    big = pd.Series((rows >= PLATE_96.n_rows) | (cols >= PLATE_96.n_cols))
    big = big.groupby(parts["plate"].astype(str).to_numpy()).transform("any").to_numpy(bool)
    n_rows = np.where(big, PLATE_384.n_rows, PLATE_96.n_rows)
    n_cols = np.where(big, PLATE_384.n_cols, PLATE_96.n_cols)
    edge = (rows == 0) | (rows == n_rows - 1) | (cols == 0) | (cols == n_cols - 1)
    birth_scale = np.where(
        edge & edge_effect, 1.0 - cat.assay_value(culture, "edge_growth_loss"), 1.0
    )
    grown = grow_culture(
        pm,
        state,
        conc,
        cells0=n0,
        areg0_nM=ligand0,
        volume_mL=volume_mL,
        hours=hours,
        dt_h=dt_h,
        birth_scale=birth_scale,
    )
    n = np.bincount(well_of, weights=grown.live_cells, minlength=n_wells)
    added = np.bincount(well_of, weights=ligand0, minlength=n_wells)
    counts = np.bincount(well_of, minlength=n_wells)
    medium = np.bincount(well_of, weights=grown.medium_areg_nM, minlength=n_wells)
    medium = medium - added * (counts - 1) / np.maximum(counts, 1)  # added AREG counted once
    out = layout.copy()
    out["readout"] = readout
    out["signal"] = _read(n, readout, rng, cat)
    out["true_live_cells"] = n
    # medium AREG in pg/mL (secreted plus any added); 1 nM = kDa x 1e3 pg/mL
    out["true_medium_areg_pg_mL"] = pm.nM_to_pg_per_mL(medium)
    return out


def _expand_mixtures(
    layout: pd.DataFrame, mixtures: Mapping[str, Sequence[tuple[str, float]]]
) -> tuple[np.ndarray, pd.DataFrame]:
    """One row per (well, component): returns the well index of each row and the rows, with the
    seeding fraction in ``_fraction``."""
    frame = layout.reset_index(drop=True).copy()
    frame["_well"] = np.arange(len(frame))
    frame["_fraction"] = 1.0
    if not mixtures:
        return frame["_well"].to_numpy(), frame
    pieces = [frame[~frame["cell_line"].isin(list(mixtures))]]
    for name, components in mixtures.items():
        total = sum(f for _, f in components)
        if not components or total <= 0 or any(f < 0 for _, f in components):
            raise LeptotwinError(
                "mixture fractions must be >= 0 and sum to > 0",
                field=f"mixtures.{name}",
                value=components,
            )
        rows = frame[frame["cell_line"] == name]
        for line, fraction in components:
            part = rows.copy()
            part["cell_line"] = line
            part["_fraction"] = fraction / total
            pieces.append(part)
    parts = pd.concat(pieces, ignore_index=True)
    return parts["_well"].to_numpy(), parts


def _read(live: np.ndarray, readout: str, rng: np.random.Generator, cat: Catalog) -> np.ndarray:
    """Instrument signal for ``live`` cells per well (array of shape (n_wells,))."""
    v = lambda name: cat.assay_value(readout, name)  # noqa: E731
    well_noise = np.exp(rng.normal(0.0, v("well_cv"), live.shape))
    if readout == "celltiter_glo":
        raw = live * v("rlu_per_cell") * well_noise + v("background_rlu")
        raw = np.round(raw + rng.normal(0.0, v("read_sd"), live.shape))  # readers report counts
        return np.where(raw > v("max_rlu"), np.inf, np.maximum(raw, 0.0))
    od_cells = v("od_max") * (1.0 - np.exp(-live * v("od_per_cell") / v("od_max")))
    raw = v("blank_od") + od_cells * well_noise + rng.normal(0.0, v("read_sd"), live.shape)
    return np.round(np.minimum(np.maximum(raw, 0.0), v("od_max")), 4)  # 4 decimals, like readers
