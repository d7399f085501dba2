"""Drug-combination matrices on virtual A925L/AR cells (the synergy part of C6).

For each EGFR inhibitor: an 8 × 6 matrix (alectinib 0–1,000 nM × EGFR inhibitor, 0 + five
doses), one replicate per 96-well plate, three plates (wells outside the matrix are medium
blanks). The plates go through the virtual reader, the export and layout are read back,
normalised to each plate's blanks and vehicle (the 0 × 0 cell) and scored with
``analysis.synergy`` (ZIP and Bliss, bootstrap intervals over the replicate plates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leptotwin.analysis.synergy import SynergyResult, synergy_scores
from leptotwin.assays.viability import simulate_viability
from leptotwin.catalog import Catalog
from leptotwin.formats import (
    LAYOUT_COLUMNS,
    merge_plate,
    normalise_to_controls,
    read_layout,
    read_plate_reader,
    write_layout,
    write_plate_reader,
)
from leptotwin.model.pathway import PathwayModel
from leptotwin.study.protocol_schema import load_packaged_protocol
from leptotwin.study.reproduce import Context

__all__ = ["matrix_doses", "matrix_layout", "run_matrices", "synergy_long_table"]

AR = "A925L/AR"


def matrix_doses() -> tuple[tuple[float, ...], dict[str, tuple[float, ...]]]:
    """Alectinib doses and the partner doses per EGFR inhibitor (nM), from the protocol
    ``study/protocols/viability.yaml`` (``combination_matrix``)."""
    spec = load_packaged_protocol("viability")["combination_matrix"]
    alectinib = tuple(float(d) for d in spec["alectinib_nM"])
    partners = {p: tuple(float(d) for d in doses) for p, doses in spec["partner_nM"].items()}
    return alectinib, partners


def matrix_layout(replicates: int = 3) -> pd.DataFrame:
    """Layout rows (``formats`` layout columns, nM): rows B–G = partner doses, columns 2–9 =
    alectinib doses; one replicate per plate."""
    alectinib_nM, partner_nM = matrix_doses()
    rows = []
    letters = "ABCDEFGH"
    for partner, doses in partner_nM.items():
        for rep in range(1, replicates + 1):
            plate = f"M-{partner[:4]}-{rep}"
            for r, letter in enumerate(letters):
                for col in range(1, 13):
                    well = {
                        "plate": plate,
                        "well": f"{letter}{col:02d}",
                        "role": "blank",
                        "cell_line": "",
                        "drug_a": "",
                        "conc_a": 0.0,
                        "drug_b": "",
                        "conc_b": 0.0,
                        "conc_unit": "nM",
                        "perturbation": "",
                        "replicate": rep,
                    }
                    if 1 <= r <= 6 and 2 <= col <= 9:
                        a, b = alectinib_nM[col - 2], doses[r - 1]
                        well.update(
                            cell_line=AR,
                            drug_a="alectinib",
                            conc_a=a,
                            drug_b=partner,
                            conc_b=b,
                            role="vehicle" if a == 0 and b == 0 else "sample",
                        )
                    rows.append(well)
    return pd.DataFrame(rows)[list(LAYOUT_COLUMNS)]


def synergy_long_table(merged: pd.DataFrame) -> pd.DataFrame:
    """SynergyFinder's long table (% inhibition, nM) from a merged plate + layout of alectinib ×
    partner matrices (one block per partner; rows: alectinib, columns: the partner).

    ``merged`` is :func:`~leptotwin.formats.merge_plate`'s output; wells are normalised to the
    blanks and vehicles of their plate and cell line first.
    """
    data = normalise_to_controls(merged, group_by=("plate", "cell_line")).data
    cells = data[data["role"].isin(["sample", "vehicle"])]
    return pd.DataFrame(
        {
            "block_id": "alectinib x " + cells["drug_b"].astype(str),
            "drug_row": "alectinib",
            "drug_col": cells["drug_b"].astype(str),
            "conc_r": cells["conc_a_nM"].to_numpy(float),
            "conc_c": cells["conc_b_nM"].to_numpy(float),
            "response": 100.0 - cells["response"].to_numpy(float),  # % inhibition
            "conc_r_unit": "nM",
            "conc_c_unit": "nM",
        }
    )


def run_matrices(
    ctx: Context, *, catalog: Catalog | None = None, n_boot: int = 200
) -> tuple[pd.DataFrame, SynergyResult]:
    """Simulate, write, read back and score the matrices. Returns the SynergyFinder long table
    (% inhibition) and the synergy result."""
    layout = matrix_layout()
    sim_layout = layout.rename(columns={"conc_a": "conc_a_nM", "conc_b": "conc_b_nM"})
    model = PathwayModel.from_catalog(catalog) if catalog is not None else None
    wells = simulate_viability(sim_layout, rng=ctx.rng, model=model, catalog=catalog)
    folder = ctx.out_dir / "combination_plates"
    readings = wells[["plate", "well", "signal"]]
    write_plate_reader(
        folder / "plate_reader_export.csv",
        readings,
        metadata={"Read type": "Luminescence", "Units": "RLU", "Assay": "CellTiter-Glo, 72 h"},
    )
    write_layout(folder / "layout.csv", layout)
    merged = merge_plate(
        read_plate_reader(folder / "plate_reader_export.csv"), read_layout(folder / "layout.csv")
    )
    table = synergy_long_table(merged)
    result = synergy_scores(
        table,
        methods=("ZIP", "Bliss"),
        n_boot=n_boot,
        rng=np.random.default_rng(ctx.rng.integers(2**32)),
    )
    return table, result
