"""Writes lmc_reference.csv: a small cohort of the in-vivo engine (both drug classes, an
antibody, a metabolite, refined steps after doses, one stochastic and one deterministic run),
kept to guard the engine's speed-ups against drift. Run from the repository root:
``.venv/bin/python tests/model/reference/make_lmc_reference.py``. Written with the engine at
commit 71b12b9; the engine of ad1795f (before the chunked PK, advance_many and per-subject
values) writes the same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin.catalog import load_catalog
from leptotwin.model.cohort import Arm, simulate_lmc

HERE = Path(__file__).resolve().parent
ARMS = [
    Arm("vehicle", {}),
    Arm("osimertinib", {"osimertinib": "25 mg/kg QD"}),
    Arm("combo", {"osimertinib": "5 mg/kg QD", "alectinib": "20 mg/kg QD"}),
    Arm("cetuximab", {"cetuximab": "1 mg QW ip"}),
]


def reference() -> pd.DataFrame:
    frames = []
    for stochastic in (True, False):
        res = simulate_lmc(
            ARMS,
            n_per_arm=3,
            days=28.0,
            observe_days=[7.0, 14.0, 21.0, 28.0],
            rng=np.random.default_rng(2026),
            inoculum="A925L/AR",
            dt_h=2.0,
            stochastic=stochastic,
            catalog=load_catalog(),
        )
        obs = res.observations.drop(columns=["alive"], errors="ignore")
        frames.append(obs.assign(stochastic=stochastic))
    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    reference().to_csv(HERE / "lmc_reference.csv", index=False, float_format="%.17g")
