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

``make_viability.py --noise`` measures the reader's noise that ``viability.yaml`` declares, over
200 runs of the same plates (seeds 0-199) against the model at the truth: the SD of a well
within its plate (``sigma``), the vehicle wells' CV and the SD of each plate's normalisation
error (``plate_sigma``: the relative shift m'r / m'm of its wells, less its own sampling
variance sigma² / m'm). The experiment file itself is not needed to write the table.
"""

from __future__ import annotations

import sys
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


def plates(seed: int):
    """The tidy table of one run of the virtual plate reader (seed ``seed``)."""
    cat = load_catalog().with_values(TRUTH)
    layout = design_plates(CURVES, DOSES_NM, replicates=3)
    wells = simulate_viability(
        layout,
        rng=np.random.default_rng(seed),
        readout="celltiter_glo",
        hours=72.0,
        model=PathwayModel.from_catalog(cat),
        catalog=cat,
    )
    wells["flag"] = ""
    norm = normalise_to_controls(wells, group_by=("plate", "cell_line", "perturbation"))
    tidy = to_dose_response(norm.data)
    tidy["partner_conc_nM"] = tidy["partner_conc_nM"].where(tidy["partner_drug"] != "", np.nan)
    return tidy


def main() -> None:
    tidy = plates(29)
    tidy["response"] = tidy["response"].round(2)
    tidy[COLUMNS].to_csv(HERE / "viability.csv", index=False)
    print(f"wrote {len(tidy)} wells to {HERE / 'viability.csv'}")


def noise(runs: int = 200) -> None:
    """Print the reader's noise: within-plate SD, vehicle CV, plate normalisation error."""
    from leptotwin.study.calibrate_experiment import viability_simulation
    from leptotwin.study.experiment import load_experiment_file, viability_groups

    exp = load_experiment_file(HERE / "viability.yaml")
    m = viability_simulation(exp, TRUTH)["simulation"].to_numpy(float)
    codes, _, _ = viability_groups(exp.viability)
    shift, mms, ss_within, n_within, vehicle_var = [], [], 0.0, 0, []
    for seed in range(runs):
        tidy = plates(seed)
        assert list(tidy["dose"].astype(float)) == list(exp.viability["dose_nM"])
        r = tidy["response"].to_numpy(float) - m
        vehicle_var += list(_vehicle_var(r[codes == -1], tidy["plate"].to_numpy()[codes == -1]))
        for g in range(codes.max() + 1):
            k = codes == g
            mm = float(m[k] @ m[k])
            d = float(m[k] @ r[k]) / mm
            shift.append(d)
            e = r[k] - m[k] * d
            ss_within += float(e @ e)
            n_within += int(k.sum()) - 1
            mms.append(mm)
    sigma = np.sqrt(ss_within / n_within)
    plate_sd = np.sqrt(np.var(shift, ddof=1) - np.mean(sigma**2 / np.array(mms)))
    cv = np.sqrt(np.mean(vehicle_var))
    print(f"{runs} runs, {len(shift)} plates: well SD within a plate {sigma:.2f} %")
    print(f"vehicle CV {cv:.2f} % (3 wells: their mean {cv / np.sqrt(3):.2f} %)")
    mean = 100 * np.mean(shift)
    print(f"plate normalisation error: SD {100 * plate_sd:.2f} %, mean {mean:+.2f} %")


def _vehicle_var(r: np.ndarray, plate: np.ndarray) -> list[float]:
    """Per plate, the sample variance of the vehicle wells' responses (% of vehicle)."""
    return [float(np.var(r[plate == p], ddof=1)) for p in dict.fromkeys(plate)]


if __name__ == "__main__":
    noise() if sys.argv[1:] == ["--noise"] else main()
