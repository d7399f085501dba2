"""Regenerate ``elisa.csv`` and ``qpcr.csv`` of the ELISA/qPCR example (``elisa_qpcr.yaml``).

Truth: the packaged catalogue with ``A925L/AR.mir449a = 0.3`` (catalogue 0.2) and
``pathway.areg_secretion_max = 300`` pg/1e6 cells/h (catalogue 210); every other value at the
catalogue's.

ELISA: conditioned medium of A925LPE3, A925L/AR, A925L/AR with siAREG and A925L/AR with the
miR-449a mimic, four 6-well dishes each, collected after 48 h
(:func:`leptotwin.assays.conditioned_medium.collect_conditioned_medium`: seeding variation),
assayed undiluted in duplicate on the virtual DuoSet ELISA (:func:`leptotwin.assays.elisa.
simulate_elisa`: plate, well and read noise), written as the plate-reader export and layout a
lab has, read back and analysed as ``leptotwin elisa`` does (:func:`leptotwin.analysis.
standard_curve.read_elisa`, 4PL, 1/y² weights). ``elisa.csv`` is its ``samples.csv`` with
the columns ``cell_line``, ``perturbation`` and ``hours`` added (samples below the LLOQ keep
their flag; the experiment file leaves them out).

qPCR: miR-449a (vs U6) and AREG mRNA (vs GAPDH) in A925LPE3 and A925L/AR, three biological
replicates each, levels from the twin's cell states as the study's virtual qPCR takes them
(:func:`leptotwin.study.sections.molecular.run_qpcr`), run in technical triplicates on the
virtual cycler (:func:`leptotwin.assays.qpcr.simulate_qpcr`), exported QuantStudio-style, read
back and analysed as ``leptotwin qpcr --reference miR-449a=U6,AREG=GAPDH --calibrator
A925LPE3`` does (Livak ΔΔCt). ``qpcr.csv`` is its ``samples.csv`` as written. Seed 17.

``make_elisa_qpcr.py --noise`` measures the SD of ln(measured / noise-free model value) of both
tables over 40 runs (seeds 0-39), the ``sigma`` that ``elisa_qpcr.yaml`` declares.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin.analysis.qpcr import RelativeExpressionFitter, read_qpcr
from leptotwin.analysis.standard_curve import StandardCurveFitter, read_elisa
from leptotwin.assays.conditioned_medium import collect_conditioned_medium
from leptotwin.assays.elisa import simulate_elisa, write_elisa
from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr
from leptotwin.catalog import load_catalog
from leptotwin.model.pathway import PathwayModel, cell_state

HERE = Path(__file__).resolve().parent
TRUTH = {"A925L/AR.mir449a": 0.3, "pathway.areg_secretion_max": 300.0}
HOURS = 48.0
DISHES = [
    ("A925LPE3", ""),
    ("A925L/AR", ""),
    ("A925L/AR", "siAREG"),
    ("A925L/AR", "miR-449a mimic"),
]
PER_GROUP = 4
LINES = ("A925LPE3", "A925L/AR")


def elisa(seed: int, folder: Path) -> pd.DataFrame:
    """``elisa.csv`` of one run (seed ``seed``; files written under ``folder``)."""
    rng = np.random.default_rng(seed)
    cat = load_catalog().with_values(TRUTH)
    rows = [
        {"sample_id": f"D{g + 1}-{k + 1}", "cell_line": line,
         "perturbation": pert, "group": f"{line} {pert}".strip()}
        for g, (line, pert) in enumerate(DISHES)
        for k in range(PER_GROUP)
    ]  # fmt: skip
    dishes = collect_conditioned_medium(
        pd.DataFrame(rows),
        rng=rng,
        hours=HOURS,
        model=PathwayModel.from_catalog(cat),
        catalog=cat,
    )
    wells = simulate_elisa(dishes[["sample_id", "group", "true_pg_mL"]], rng=rng)
    plate, layout = write_elisa(wells, folder / "elisa_export.csv", folder / "elisa_layout.csv")
    fitter = StandardCurveFitter(model="4PL", weights="1/y^2").fit(read_elisa(plate, layout))
    out = fitter.samples_.merge(dishes[["sample_id", "cell_line", "perturbation"]], on="sample_id")
    out["hours"] = HOURS
    return out


def qpcr(seed: int, folder: Path) -> pd.DataFrame:
    """``qpcr.csv`` of one run (seed ``seed``)."""
    rng = np.random.default_rng(seed)
    cat = load_catalog().with_values(TRUTH)
    pm = PathwayModel.from_catalog(cat)
    parental = pm.areg_secretion(cell_state("A925LPE3", catalog=cat))
    levels = {}
    for line in LINES:
        st = cell_state(line, catalog=cat)
        levels[line] = {
            "miR-449a": st.mir449a,
            "AREG": pm.areg_secretion(st) / parental,
            "U6": 1.0,
            "GAPDH": 1.0,
        }
    samples = make_qpcr_samples(levels, rng=rng, catalog=cat)
    path = write_qpcr(simulate_qpcr(samples, rng=rng, catalog=cat), folder / "results.csv")
    fitter = RelativeExpressionFitter(
        reference={"miR-449a": "U6", "AREG": "GAPDH"},
        calibrator="A925LPE3",
        targets=["miR-449a", "AREG"],
    )
    return fitter.fit(read_qpcr(path)).samples_


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        e = elisa(17, Path(tmp))
        q = qpcr(17, Path(tmp))
    e.to_csv(HERE / "elisa.csv", index=False, float_format="%.6g")
    q.to_csv(HERE / "qpcr.csv", index=False, float_format="%.6g")
    print(f"wrote {len(e)} samples to elisa.csv and {len(q)} to qpcr.csv")


def noise(runs: int = 40) -> None:
    """Print the SD of ln(measured / model) of both tables over ``runs`` runs."""
    from leptotwin.study.experiment import load_experiment_file
    from leptotwin.study.experiment_invitro import elisa_simulation, qpcr_simulation

    exp = load_experiment_file(HERE / "elisa_qpcr.yaml")
    res: dict[str, list[float]] = {"elisa": [], "qpcr": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(runs):
            e, q = elisa(seed, Path(tmp)), qpcr(seed, Path(tmp))
            e = e[e["flag"] == "ok"].rename(columns={"conc_pg_mL": "value"})
            e["perturbation"] = e["perturbation"].fillna("")
            for c, v in (("drug", ""), ("dose_nM", 0.0), ("seeding_cells", 2e5), ("volume_mL", 2)):
                e[c] = v
            m = elisa_simulation(exp, TRUTH, table=e)
            res["elisa"] += list(np.log(m["value"] / m["simulation"]))
            q = q.rename(columns={"group": "cell_line", "fold_change": "value"})
            q = q[q["value"].notna() & (q["cell_line"] != "A925LPE3")].assign(
                perturbation="", calibrator="A925LPE3"
            )
            m = qpcr_simulation(exp, TRUTH, table=q)
            res["qpcr"] += list(np.log(m["value"] / m["simulation"]))
    for k, r in res.items():
        print(f"{k}: {len(r)} values, SD of ln(measured/model) {np.std(r, ddof=1):.3f}, "
              f"mean {np.mean(r):+.3f}")  # fmt: skip


if __name__ == "__main__":
    noise() if sys.argv[1:] == ["--noise"] else main()
