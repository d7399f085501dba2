"""Write the example inputs of ``examples/`` with leptotwin's own virtual instruments.

Every file is made the way ``leptotwin reproduce`` makes its instrument files (same simulators,
same writers), cut down to one small run per command, each from its own fixed seed, so the
files are the same on every run of this script:

    .venv/bin/python examples/make_examples.py            # rewrites examples/
    .venv/bin/python examples/make_examples.py --out DIR  # writes them into DIR instead

What each file is and which command reads it: ``examples/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import uuid
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from leptotwin.assays.blot import simulate_array, simulate_blot, write_array, write_blot
from leptotwin.assays.conditioned_medium import collect_conditioned_medium
from leptotwin.assays.elisa import simulate_elisa, write_elisa
from leptotwin.assays.msi import simulate_msi, write_imzml, write_mask_png
from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr
from leptotwin.assays.viability import CurveSpec, design_plates, simulate_viability
from leptotwin.catalog import load_catalog
from leptotwin.formats import (
    LAYOUT_COLUMNS,
    merge_plate,
    normalise_to_controls,
    read_layout,
    read_plate_reader,
    to_dose_response,
    write_layout,
    write_plate_reader,
)
from leptotwin.model.pathway import PathwayModel, cell_state
from leptotwin.model.tissue import make_section, tissue_concentrations
from leptotwin.study.sections.combination_matrix import synergy_long_table

HERE = Path(__file__).resolve().parent
PARENTAL, AR = "A925LPE3", "A925L/AR"
#: the viability protocol's dose series (study/protocols/viability.yaml), nM
DOSES_NM = (1, 3, 10, 30, 100, 300, 1000, 3000, 10000)
READER = {"Read type": "Luminescence", "Units": "RLU", "Assay": "CellTiter-Glo, 72 h"}


def _plate(curves: list[CurveSpec], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One 96-well CellTiter-Glo plate (two curves, outer ring blank): the readings as the
    reader exports them and the layout file (nM)."""
    design = design_plates(curves, DOSES_NM)
    wells = simulate_viability(design, rng=np.random.default_rng(seed))
    readings = wells[["plate", "well", "signal"]].copy()
    readings["flag"] = np.where(np.isinf(readings["signal"]), "overflow", "")
    readings.loc[np.isinf(readings["signal"]), "signal"] = np.nan
    layout = design.rename(columns={"conc_a_nM": "conc_a", "conc_b_nM": "conc_b"})
    layout["conc_unit"] = "nM"
    layout["replicate"] = layout.groupby(["plate", "curve", "conc_a", "role"]).cumcount() + 1
    layout.loc[layout["role"] == "blank", "replicate"] = 0
    return readings, layout[list(LAYOUT_COLUMNS)]


def plate_export(out: Path) -> None:
    """fit-curves --plate/--layout: alectinib on parental and resistant cells (claim C1)."""
    readings, layout = _plate(
        [CurveSpec(PARENTAL, "alectinib"), CurveSpec(AR, "alectinib")], seed=101
    )
    write_plate_reader(out / "plate_export.csv", readings, metadata=READER)
    write_layout(out / "plate_layout.csv", layout)


def dose_response(out: Path) -> None:
    """fit-curves (tidy): alectinib on A925L/AR cells alone and on top of 1 µM osimertinib
    (claim C6), read back from a virtual plate and normalised to its blanks and vehicles."""
    readings, layout = _plate(
        [
            CurveSpec(AR, "alectinib"),
            CurveSpec(AR, "alectinib", partner="osimertinib", partner_nM=1000.0),
        ],
        seed=102,
    )
    with tempfile.TemporaryDirectory() as tmp:
        export, lay = Path(tmp) / "export.csv", Path(tmp) / "layout.csv"
        write_plate_reader(export, readings, metadata=READER)
        write_layout(lay, layout)
        merged = merge_plate(read_plate_reader(export), read_layout(lay))
    tidy = to_dose_response(normalise_to_controls(merged, group_by=("plate", "cell_line")).data)
    table = tidy[["curve", "dose", "response"]].copy()
    table["response"] = table["response"].round(2)
    table.to_csv(out / "dose_response.csv", index=False)


def elisa(out: Path) -> None:
    """elisa: AREG in conditioned medium of parental and resistant cells, 3 dishes each, on a
    DuoSet-like plate with its standard series (claim C4)."""
    rng = np.random.default_rng(103)
    groups = {
        PARENTAL: (PARENTAL, ""),
        AR: (AR, ""),
        "A925L/AR miR-449a mimic": (AR, "miR-449a mimic"),
    }
    dishes = pd.DataFrame(
        [
            {"sample_id": f"{g}-{k}", "group": g, "cell_line": line, "perturbation": pert}
            for g, (line, pert) in groups.items()
            for k in (1, 2, 3)
        ]
    )
    medium = collect_conditioned_medium(dishes, rng=rng, hours=48.0)
    wells = simulate_elisa(
        medium[["sample_id", "group", "true_pg_mL"]].assign(dilution=1.0), rng=rng
    )
    write_elisa(wells, out / "elisa_plate.csv", out / "elisa_layout.csv")


def qpcr(out: Path) -> None:
    """qpcr: miR-449a (vs U6) and AREG mRNA (vs GAPDH) in A925L/AR and parental cells, three
    biological replicates each, as a QuantStudio "Results" export (claim C4)."""
    rng = np.random.default_rng(104)
    cat = load_catalog()
    pm = PathwayModel.from_catalog(cat)
    parental_areg = pm.areg_secretion(cell_state(PARENTAL, catalog=cat))
    levels = {}
    for line in (PARENTAL, AR):
        st = cell_state(line, catalog=cat)
        areg = pm.areg_secretion(st) / parental_areg
        levels[line] = {"miR-449a": st.mir449a, "AREG": areg, "U6": 1.0, "GAPDH": 1.0}
    wells = simulate_qpcr(make_qpcr_samples(levels, rng=rng, catalog=cat), rng=rng, catalog=cat)
    write_qpcr(wells, out / "qpcr_quantstudio.csv")


#: western lanes (claims C4, C6): label, cell line, nominal drug concentrations in nM
BLOT_LANES = (
    (PARENTAL, PARENTAL, {}),
    (f"{PARENTAL} + alectinib", PARENTAL, {"alectinib": 100.0}),
    (AR, AR, {}),
    (f"{AR} + alectinib", AR, {"alectinib": 100.0}),
    (f"{AR} + osimertinib", AR, {"osimertinib": 1000.0}),
    (f"{AR} + alectinib + osimertinib", AR, {"alectinib": 100.0, "osimertinib": 1000.0}),
)
ANTIBODIES = ("p-EGFR", "EGFR", "p-ALK", "ALK", "beta-actin")


def western_blot(out: Path) -> None:
    """blot: a film scan of 5 antibody strips x 6 lanes (16-bit TIFF) and its layout (strip
    antibodies, lane samples). Band amounts from the pathway model after 4 h of drug."""
    cat = load_catalog()
    pm = PathwayModel.from_catalog(cat)
    gain = cat.assay_value("blot", "pegfr_signal_gain")
    lanes, bands = [], []
    for i, (label, line, drugs) in enumerate(BLOT_LANES, start=1):
        st = cell_state(line, catalog=cat)
        sig = pm.signals(st, pm.free_in_medium(drugs))
        lanes.append({"lane": i, "label": label})
        amounts = (float(sig.egfr) * gain, st.egfr_total, float(sig.alk), st.alk_fusion, 1.0)
        for protein, amount in zip(ANTIBODIES, amounts, strict=True):
            bands.append({"lane": i, "protein": protein, "amount": amount})
    blot = simulate_blot(pd.DataFrame(lanes), pd.DataFrame(bands), rng=np.random.default_rng(105))
    with tempfile.TemporaryDirectory() as tmp:
        written = write_blot(blot, tmp, name="western_blot")
        shutil.copyfile(written["image"], out / "western_blot.tif")
    text = "[strips]\nstrip,antibody\n"
    text += "".join(f"{k},{name}\n" for k, name in enumerate(ANTIBODIES, start=1))
    text += "[lanes]\nlane,sample\n"
    text += "".join(f"{k},{lane[0]}\n" for k, lane in enumerate(BLOT_LANES, start=1))
    (out / "western_blot_layout.csv").write_text(text, encoding="utf-8")


def rtk_array(out: Path) -> None:
    """blot --layout (membrane array): a phospho-RTK array of A925L/AR cells (EGFR, ErbB2/3
    and ALK phosphorylated), PNG, and the array's layout file."""
    phospho = pd.DataFrame(
        {"receptor": ["EGFR", "ErbB2", "ErbB3", "ALK"], "level": [1.0, 0.35, 0.25, 0.6]}
    )
    arr = simulate_array(phospho, rng=np.random.default_rng(106))
    with tempfile.TemporaryDirectory() as tmp:
        written = write_array(arr, tmp, name="rtk_array", fmt="png")
        shutil.copyfile(written["image"], out / "rtk_array.png")
        shutil.copyfile(written["layout"], out / "rtk_array_layout.csv")


BLANK_WELL = {
    "role": "blank",
    "cell_line": "",
    "drug_a": "",
    "conc_a": 0.0,
    "drug_b": "",
    "conc_b": 0.0,
    "conc_unit": "nM",
    "perturbation": "",
    "replicate": 1,
}


def synergy(out: Path) -> None:
    """synergy: alectinib x erlotinib and alectinib x osimertinib (8 x 6 each) on A925L/AR, one
    plate per combination, as a SynergyFinder long table in % inhibition (claim C6)."""
    alectinib = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
    partners = {
        "erlotinib": (0.0, 10.0, 30.0, 100.0, 300.0, 1000.0),
        "osimertinib": (0.0, 30.0, 100.0, 300.0, 1000.0, 3000.0),
    }
    rows = []
    for plate, (partner, doses) in enumerate(partners.items(), start=1):
        for r, letter in enumerate("ABCDEFGH"):
            for col in range(1, 13):
                well = dict(BLANK_WELL, plate=f"M{plate}", well=f"{letter}{col:02d}")
                if 1 <= r <= 6 and 2 <= col <= 9:
                    a, b = alectinib[col - 2], doses[r - 1]
                    role = "vehicle" if a == 0 and b == 0 else "sample"
                    well.update(role=role, cell_line=AR, drug_a="alectinib", conc_a=a)
                    well.update(drug_b=partner, conc_b=b)
                rows.append(well)
    layout = pd.DataFrame(rows)[list(LAYOUT_COLUMNS)]
    sim = layout.rename(columns={"conc_a": "conc_a_nM", "conc_b": "conc_b_nM"})
    wells = simulate_viability(sim, rng=np.random.default_rng(107))
    with tempfile.TemporaryDirectory() as tmp:
        export, lay = Path(tmp) / "export.csv", Path(tmp) / "layout.csv"
        write_plate_reader(export, wells[["plate", "well", "signal"]], metadata=READER)
        write_layout(lay, layout)
        merged = merge_plate(read_plate_reader(export), read_layout(lay))
    table = synergy_long_table(merged)
    table["response"] = table["response"].round(2)
    table.to_csv(out / "synergy_matrix.csv", index=False)


MSI_PIXEL_UM = 250.0
#: the imaged window of the 36 x 26-pixel raster (8 x 5.5 mm section and its slide margin): the
#: dorsolateral surface, 5.5 x 3 mm with four lesions; an imzML spectrum takes about 3 kB, the
#: whole raster would take 2.7 MB
MSI_ROWS, MSI_COLS = slice(0, 12), slice(14, 36)


def msi(out: Path) -> None:
    """msi: a MALDI imzML (processed, centroid; .ibd beside it) of the dorsolateral surface of a
    coronal brain section of an LMC mouse given erlotinib 50 mg/kg QD (claim C8), with its
    lesion mask and tissue mask. Twelve surface lesions (the catalogue prior allows 3-12), so
    that the small window holds a few."""
    rng = np.random.default_rng(108)
    whole = make_section(rng, pixel_um=MSI_PIXEL_UM, n_lesions=12)
    section = dataclasses.replace(
        whole, tissue=whole.tissue[MSI_ROWS, MSI_COLS], lesions=whole.lesions[MSI_ROWS, MSI_COLS]
    )
    drug = tissue_concentrations("erlotinib", section, regimen="50 mg/kg QD")
    run = simulate_msi(drug, section, rng=rng)
    # pyimzML stamps each file pair with a random UUID: a fixed one keeps the files identical
    fixed = uuid.UUID(int=int(rng.integers(2**63)))
    with mock.patch.object(uuid, "uuid4", return_value=fixed):
        write_imzml(out / "section.imzML", run, mode="processed")
    write_mask_png(out / "section_lesion_mask.png", section.lesion)
    write_mask_png(out / "section_tissue_mask.png", section.tissue)


PROTOCOL = """\
# An in-vivo protocol for `leptotwin simulate` (copy it and edit it). Same schema as the study's
# own src/leptotwin/study/protocols/lmc_mouse.yaml: `regimens` (drug -> regimen as people write
# it) and experiment blocks (any other key with an `inoculum`). A mistake is reported with this
# file's name, the line and the field.
regimens:
  alectinib: "20 mg/kg QD"
  osimertinib: "25 mg/kg QD"
combination:                     # intrathecal A925L/AR cells, four arms
  inoculum: A925L/AR             # A925LPE3 (parental) or A925L/AR (alectinib-resistant)
  mice_per_arm: 6
  follow_up_days: 60             # days after inoculation (at most 1095)
  imaging_weeks: 4               # weekly BLI from treatment start for 4 weeks
  arms:                          # arm name -> drugs, each with a regimen above
    vehicle: []
    alectinib: [alectinib]
    osimertinib: [osimertinib]
    alectinib + osimertinib: [alectinib, osimertinib]
"""


def protocol(out: Path) -> None:
    """simulate (and export-sbml): a small C7-like combination experiment to edit."""
    (out / "protocol.yaml").write_text(PROTOCOL, encoding="utf-8")


MAKERS = (plate_export, dose_response, elisa, qpcr, western_blot, rtk_array, synergy, msi, protocol)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder (default: examples/)")
    out = parser.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    for make in MAKERS:
        make(out)
    for path in sorted(out.iterdir()):
        if path.is_file() and path.name not in ("README.md", Path(__file__).name):
            print(f"{path.stat().st_size:>9,d}  {path}")


if __name__ == "__main__":
    main()
