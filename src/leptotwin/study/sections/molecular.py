"""Molecular readouts of the in-vitro study: qPCR and immunoblot densitometry (part of C4).

Levels come from the model — miR-449a from the cell state, AREG mRNA in proportion to AREG
secretion (miR-449a acts on the AREG transcript), phospho-proteins from the steady-state pathway
after a few hours of drug — and go through the virtual instruments (QuantStudio-style Ct export,
scanned film) and the same analysis a lab would run on real files (ΔΔCt, band densitometry).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from leptotwin.analysis.densitometry import normalise_bands, quantify_blot, write_annotated
from leptotwin.analysis.qpcr import RelativeExpressionFitter, read_qpcr
from leptotwin.assays.blot import simulate_blot, write_blot
from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.pathway import PathwayModel, cell_state
from leptotwin.study.protocol_schema import load_packaged_protocol
from leptotwin.study.reproduce import Context

__all__ = ["blot_lanes", "run_blot", "run_qpcr"]

PARENTAL, AR = "A925LPE3", "A925L/AR"


def blot_lanes() -> list[tuple[str, str, dict[str, float]]]:
    """Western-blot lanes in order: (label, cell line, nominal drug concentrations in nM), from
    the protocol ``study/protocols/viability.yaml`` (``blot_lanes``); free medium concentrations
    are derived from the nominal ones."""
    return [
        (
            str(lane["label"]),
            str(lane["cell_line"]),
            {d: float(c) for d, c in lane["drugs_nM"].items()},
        )
        for lane in load_packaged_protocol("viability")["blot_lanes"]
    ]


def run_qpcr(ctx: Context, *, catalog: Catalog | None = None) -> pd.DataFrame:
    """miR-449a (vs U6) and AREG mRNA (vs GAPDH) in AR cells relative to parental: virtual
    QuantStudio run → Results export → ΔΔCt (Livak). Returns the fitter's summary."""
    cat = catalog or load_catalog()
    pm = PathwayModel.from_catalog(cat)
    levels = {}
    for line in (PARENTAL, AR):
        st = cell_state(line, catalog=cat)
        levels[line] = {
            "miR-449a": st.mir449a,
            "AREG": pm.areg_secretion(st) / pm.areg_secretion(cell_state(PARENTAL, catalog=cat)),
            "U6": 1.0,
            "GAPDH": 1.0,
        }
    samples = make_qpcr_samples(levels, rng=ctx.rng, catalog=cat)
    wells = simulate_qpcr(samples, rng=ctx.rng, catalog=cat)
    path = write_qpcr(wells, ctx.out_dir / "qpcr" / "quantstudio_results.csv")
    fitter = RelativeExpressionFitter(
        reference={"miR-449a": "U6", "AREG": "GAPDH"},
        calibrator=PARENTAL,
        targets=["miR-449a", "AREG"],
    )
    return fitter.fit(read_qpcr(path)).summary


def run_blot(ctx: Context, *, catalog: Catalog | None = None) -> pd.DataFrame:
    """Western blot after 4 h of drug: pEGFR, EGFR, pALK, ALK, pERK, ERK, β-actin. Writes the
    scan and its strip map, reads the scan back and returns pEGFR/EGFR and pALK/ALK per lane
    (``relative`` to the untreated parental lane)."""
    cat = catalog or load_catalog()
    pm = PathwayModel.from_catalog(cat)
    gain = cat.assay_value("blot", "pegfr_signal_gain")
    erk_half = cat.assay_value("blot", "perk_half_signal")
    lanes, bands = [], []
    for i, (label, line, drugs) in enumerate(blot_lanes(), start=1):
        st = cell_state(line, catalog=cat)
        sig = pm.signals(st, pm.free_in_medium(drugs))
        erk = float(sig.signal / (sig.signal + erk_half))  # downstream output saturates
        lanes.append({"lane": i, "label": label})
        for protein, amount in (
            ("pEGFR", float(sig.egfr) * gain),
            ("EGFR", st.egfr_total),
            ("pALK", float(sig.alk)),
            ("ALK", st.alk_fusion),
            ("pERK", erk),
            ("ERK", 1.0),
            ("beta-actin", 1.0),
        ):
            bands.append({"lane": i, "protein": protein, "amount": amount})
    blot = simulate_blot(pd.DataFrame(lanes), pd.DataFrame(bands), rng=ctx.rng)
    folder = ctx.out_dir / "blot"
    written = write_blot(blot, folder, name="western")
    sidecar = json.loads(written["sidecar"].read_text())
    windows = {s["protein"]: (int(s["row0_px"]), int(s["row1_px"])) for s in sidecar["strips"]}
    labels = [lane["label"] for lane in lanes]
    try:
        table = quantify_blot(written["image"], len(lanes), windows, labels=labels)
    except LeptotwinError as exc:
        if "found only" not in str(exc):
            raise
        # a lane too faint to find (low loading): the analyst places the lanes where the comb
        # put them (nominal centres, without the drawn jitter)
        geometry = sidecar["settings"]
        centers = geometry["margin"] + (np.arange(len(lanes)) + 0.5) * geometry["lane_pitch"]
        table = quantify_blot(
            written["image"], len(lanes), windows, labels=labels, lane_centers=list(centers)
        )
    write_annotated(written["image"], table, folder / "western_annotated.png")
    ratios = pd.concat(
        [normalise_bands(table, "pEGFR", "EGFR"), normalise_bands(table, "pALK", "ALK")],
        ignore_index=True,
    )
    ratios["label"] = ratios["lane"].map({lane["lane"]: lane["label"] for lane in lanes})
    return ratios
