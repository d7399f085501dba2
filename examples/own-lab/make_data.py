"""Regenerate the own-lab example data from a known parameter set (run from any folder).

Truth: the packaged catalogue with ``pathway.birth_max = 0.033 /h`` (catalogue 0.030) and
``osimertinib.pk.mouse.CL = 1.5 L/h/kg`` (see the catalogue for its value); every other value at
the catalogue's. Mice are drawn with between-subject variability (PK, engraftment, growth-rate
scale) by the cohort engine, imaged by the virtual IVIS, and sampled for PK with a 15 %
log-normal assay error and an LLOQ of 1 nM. Seed 17.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin.assays.bli import simulate_bli
from leptotwin.catalog import load_catalog
from leptotwin.model.cohort import Arm, simulate_lmc
from leptotwin.model.pk import simulate_pk

HERE = Path(__file__).resolve().parent
TRUTH = {"pathway.birth_max": 0.033, "osimertinib.pk.mouse.CL": 1.5}
ARMS = {"vehicle": {}, "osimertinib": {"osimertinib": "25 mg/kg QD"}}
MICE = {"vehicle": ["m01", "m02", "m03"], "osimertinib": ["m04", "m05", "m06"]}
BLI_DAYS = [7, 14, 21]
PK_TIMES_H = [1.0, 4.0, 24.0, 169.0]  # after treatment start: first dose, then day 7 + 1 h
LLOQ_NM = 1.0


def main(seed: int = 17) -> None:
    rng = np.random.default_rng(seed)
    cat = load_catalog().with_values(TRUTH)
    arms = [Arm(name, regs) for name, regs in ARMS.items()]
    n = len(MICE["vehicle"])
    res = simulate_lmc(
        arms,
        n_per_arm=n,
        days=max(BLI_DAYS),
        observe_days=BLI_DAYS,
        rng=rng,
        inoculum="A925L/AR",
        catalog=cat,
    )
    obs = res.observations
    names = [m for a in ARMS for m in MICE[a]]
    burden = pd.DataFrame(
        {
            "mouse": [names[int(s)] for s in obs["subject"]],
            "arm": obs["arm"],
            "day": obs["day"],
            "live_cells": obs["total_cells"],
        }
    ).dropna()
    bli = simulate_bli(burden, rng=rng, catalog=cat)
    bli[["mouse", "arm", "day", "total_flux_p_s"]].to_csv(HERE / "bli.csv", index=False)

    pk = simulate_pk(
        "osimertinib",
        "mouse",
        ARMS["osimertinib"]["osimertinib"],
        t_h=PK_TIMES_H,
        n_subjects=len(MICE["osimertinib"]),
        rng=rng,
        catalog=cat,
    )
    rows = []
    for i, mouse in enumerate(MICE["osimertinib"]):
        for j, t in enumerate(PK_TIMES_H):
            for matrix, conc in (("plasma", pk.plasma_nM), ("csf", pk.csf_nM)):
                measured = conc[i, j] * np.exp(0.15 * rng.standard_normal())
                rows.append(
                    {
                        "subject": mouse,
                        "time_h": t,
                        "drug": "osimertinib",
                        "matrix": matrix,
                        "concentration": round(float(measured), 4),
                        "unit": "nM",
                        "lloq": LLOQ_NM,
                    }
                )
    pd.DataFrame(rows).to_csv(HERE / "pk.csv", index=False)


if __name__ == "__main__":
    main()
