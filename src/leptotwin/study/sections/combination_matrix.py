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
from leptotwin.study.reproduce import Context

__all__ = ["ALECTINIB_nM", "PARTNER_nM", "matrix_layout", "run_matrices"]

AR = "A925L/AR"
ALECTINIB_nM = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
PARTNER_nM = {
    "erlotinib": (0.0, 10.0, 30.0, 100.0, 300.0, 1000.0),
    "osimertinib": (0.0, 30.0, 100.0, 300.0, 1000.0, 3000.0),
    "cetuximab": (0.0, 0.66, 2.0, 6.6, 20.0, 66.0),  # 0.1-10 µg/mL at 152 kDa
}


def matrix_layout(replicates: int = 3) -> pd.DataFrame:
    """Layout rows (``formats`` layout columns, nM): rows B–G = partner doses, columns 2–9 =
    alectinib doses; one replicate per plate."""
    rows = []
    letters = "ABCDEFGH"
    for partner, doses in PARTNER_nM.items():
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
                        a, b = ALECTINIB_nM[col - 2], doses[r - 1]
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
    data = normalise_to_controls(merged, group_by=("plate", "cell_line")).data
    cells = data[data["role"].isin(["sample", "vehicle"])]
    table = pd.DataFrame(
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
    result = synergy_scores(
        table,
        methods=("ZIP", "Bliss"),
        n_boot=n_boot,
        rng=np.random.default_rng(ctx.rng.integers(2**32)),
    )
    return table, result
