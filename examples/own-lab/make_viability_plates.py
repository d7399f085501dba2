"""Write the raw files behind ``viability.csv``: ``viability_plates.csv`` and ``_layout.csv``.

The same virtual run as ``make_viability.py`` (seed 29, truth ``pathway.egfr_weight = 4.8`` and
``A925L/AR.mir449a = 0.3``; :func:`make_viability.plates` reads the wells back at once) stops
where a lab's reader does: the plate-reader export (two 96-well grids, P01 and P02, in RLU;
:func:`leptotwin.formats.plate.write_plate_reader`) and the plate layout
(:func:`leptotwin.formats.plate_layout.write_layout`, concentrations in nM). ``viability_plates.
yaml`` names them instead of the tidy table; ``leptotwin calibrate`` then normalises the wells
itself and gets the responses of ``viability.csv`` (there rounded to 0.01 %).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from make_viability import CURVES, DOSES_NM, TRUTH  # the same curves, doses and truth

from leptotwin.assays.viability import design_plates, simulate_viability
from leptotwin.catalog import load_catalog
from leptotwin.formats.plate import write_plate_reader
from leptotwin.formats.plate_layout import LAYOUT_COLUMNS, write_layout
from leptotwin.model.pathway import PathwayModel

HERE = Path(__file__).resolve().parent
SEED = 29  # as make_viability.py


def main() -> None:
    """Write ``viability_plates.csv`` and ``viability_layout.csv`` next to this script."""
    cat = load_catalog().with_values(TRUTH)
    layout = design_plates(CURVES, DOSES_NM, replicates=3)
    wells = simulate_viability(
        layout,
        rng=np.random.default_rng(SEED),
        readout="celltiter_glo",
        hours=72.0,
        model=PathwayModel.from_catalog(cat),
        catalog=cat,
    )
    write_plate_reader(
        HERE / "viability_plates.csv",
        wells[["plate", "well", "signal"]],
        metadata={"Read type": "Luminescence", "Units": "RLU", "Assay": "CellTiter-Glo, 72 h"},
    )
    out = layout.rename(columns={"conc_a_nM": "conc_a", "conc_b_nM": "conc_b"})
    used = out["role"] != "blank"
    partner = out["drug_b"] != ""
    out["conc_unit"] = np.where(used, "nM", "")
    out["conc_a"] = out["conc_a"].where(used, np.nan)
    out["conc_b"] = out["conc_b"].where(partner, np.nan)
    out["replicate"] = ""
    write_layout(HERE / "viability_layout.csv", out[list(LAYOUT_COLUMNS)])
    print(f"wrote {HERE / 'viability_plates.csv'} and {HERE / 'viability_layout.csv'}")


if __name__ == "__main__":
    main()
