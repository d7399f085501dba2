"""Regenerate the own-lab example data from a known parameter set (run from any folder).

Truth: the packaged catalogue with ``pathway.birth_max = 0.033 /h`` (catalogue 0.030) and
``osimertinib.pk.mouse.CL = 1.5 L/h/kg`` (see the catalogue for its value); every other value at
the catalogue's. Mice are drawn with between-subject variability (PK, engraftment, growth-rate
scale) by the cohort engine, imaged by the virtual IVIS, and sampled for PK with a 15 %
log-normal assay error and an LLOQ of 1 nM. Seed 17.

``pk_population.csv`` (for ``pk_population.yaml``) is a population PK study of 20 mice given
osimertinib 25 mg/kg QD by gavage, plasma sampled 0.5, 1, 2, 4, 8 and 24 h after the first dose
and 1 h after the day-7 dose (169 h), drawn by
:func:`leptotwin.calibration.population.simulate_population_pk` from known values
(:data:`POPULATION_TRUTH`): typical CL/F = 0.0375 L/h (1.5 L/h/kg at the catalogue's 25 g
mouse), V/F = 0.5 L, ka = 1.5 /h; between-mouse variances ω² = 0.09 (CL), 0.0625 (V), 0.16 (ka);
15 % proportional residual error (SD of ln y 0.15); LLOQ 1 nM. Doses 25 mg/kg × 25 g = 0.625 mg
every 24 h. Seed 23.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin.assays.bli import simulate_bli
from leptotwin.calibration.population import simulate_population_pk
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

POPULATION_TRUTH = {
    "theta": {"CL": 0.0375, "V": 0.5, "ka": 1.5},  # L/h, L, 1/h (apparent: F = 1)
    "omega": {"CL": 0.09, "V": 0.0625, "ka": 0.16},  # variances of eta (log scale)
    "sigma": 0.15,  # SD of ln y
}
POPULATION_MICE = [f"p{i:02d}" for i in range(1, 21)]
POPULATION_TIMES_H = [0.5, 1.0, 2.0, 4.0, 8.0, 24.0, 169.0]
POPULATION_DOSE_MG = 25.0 * 0.025  # 25 mg/kg at the catalogue's mouse body weight (25 g)


def population(seed: int = 23) -> None:
    """Write ``pk_population.csv`` (see the module docstring)."""
    mw = load_catalog().pk_parameters("osimertinib", "mouse").mw_g_mol
    sim = simulate_population_pk(
        n_subjects=len(POPULATION_MICE),
        times_h=np.array(POPULATION_TIMES_H),
        dose_mg=POPULATION_DOSE_MG,
        theta=POPULATION_TRUTH["theta"],
        omega=POPULATION_TRUTH["omega"],
        sigma=POPULATION_TRUTH["sigma"],
        rng=np.random.default_rng(seed),
        dose_interval_h=24.0,
    )
    nM = sim["concentration"].to_numpy() * 1e6 / mw  # mg/L -> nM
    pd.DataFrame(
        {
            "subject": [POPULATION_MICE[int(i)] for i in sim["subject"]],
            "time_h": sim["time_h"],
            "drug": "osimertinib",
            "matrix": "plasma",
            "concentration": np.round(nM, 4),
            "unit": "nM",
            "lloq": LLOQ_NM,
        }
    ).to_csv(HERE / "pk_population.csv", index=False)


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
    population()
