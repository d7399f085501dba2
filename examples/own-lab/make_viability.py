"""Regenerate ``viability.csv`` of the in-vitro example (``viability.yaml``; run from any folder).

Truth: the packaged catalogue with ``pathway.egfr_weight = 4.8`` (catalogue 6.1) and
``A925L/AR.mir449a = 0.3`` (catalogue 0.2); every other value at the catalogue's. Four curves of
alectinib (9 doses, 1 nM to 10 µM, triplicates, CellTiter-Glo after 72 h): A925LPE3 and
A925L/AR alone, A925LPE3 with recombinant AREG 5 nM and A925L/AR with erlotinib 1 µM, laid out
two per 96-well plate as the study's protocol does (:func:`leptotwin.assays.viability.
design_plates`), run on the virtual plate reader (:func:`leptotwin.assays.viability.
simulate_viability`: seeding variation, well and read noise, blanks) and read back as a lab
would: normalised to each plate's blanks and vehicle wells of the same cell line, then written
as the tidy dose-response table (:func:`leptotwin.formats.plate_layout.to_dose_response`).
Seed 29.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leptotwin.assays.viability import CurveSpec, design_plates, simulate_viability
from leptotwin.catalog import load_catalog
from leptotwin.formats.plate_layout import normalise_to_controls, to_dose_response
from leptotwin.model.pathway import PathwayModel

HERE = Path(__file__).resolve().parent
TRUTH = {"pathway.egfr_weight": 4.8, "A925L/AR.mir449a": 0.3}
DOSES_NM = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000]
CURVES = [
    CurveSpec("A925LPE3", "alectinib"),
    CurveSpec("A925LPE3", "alectinib", partner="AREG", partner_nM=5.0),
    CurveSpec("A925L/AR", "alectinib"),
    CurveSpec("A925L/AR", "alectinib", partner="erlotinib", partner_nM=1000.0),
]
COLUMNS = [
    "cell_line",
    "drug",
    "dose",
    "response",
    "partner_drug",
    "partner_conc_nM",
    "perturbation",
    "plate",
    "well",
    "replicate",
    "curve",
]


def main() -> None:
    cat = load_catalog().with_values(TRUTH)
    layout = design_plates(CURVES, DOSES_NM, replicates=3)
    wells = simulate_viability(
        layout,
        rng=np.random.default_rng(29),
        readout="celltiter_glo",
        hours=72.0,
        model=PathwayModel.from_catalog(cat),
        catalog=cat,
    )
    wells["flag"] = ""
    norm = normalise_to_controls(wells, group_by=("plate", "cell_line", "perturbation"))
    tidy = to_dose_response(norm.data)
    tidy["partner_conc_nM"] = tidy["partner_conc_nM"].where(tidy["partner_drug"] != "", np.nan)
    tidy["response"] = tidy["response"].round(2)
    tidy[COLUMNS].to_csv(HERE / "viability.csv", index=False)
    print(f"wrote {len(tidy)} wells to {HERE / 'viability.csv'}")


if __name__ == "__main__":
    main()
