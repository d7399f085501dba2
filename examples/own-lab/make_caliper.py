"""Regenerate the own-lab caliper example (``caliper.csv``) from a known parameter set.

A subcutaneous (flank) xenograft of the parental line A925LPE3: two arms of five mice, vehicle
and alectinib 6 mg/kg QD by gavage from the catalogue's treatment start (day 7), calipers twice
a week from day 7 to day 28.

Truth: the packaged catalogue with ``sc_mouse.parameters.kp_uu_tumour = 0.7`` (catalogue 1.0)
and ``pathway.birth_max = 0.033 /h`` (catalogue 0.030); every other value at the catalogue's.
Mice are drawn with between-subject variability (alectinib PK, engraftment, growth-rate scale)
by the cohort engine at ``site="subcutaneous"``; a mouse past the humane endpoint
(``sc_mouse.parameters.endpoint_volume``) is no longer measured. The calipers: the tumour is an
ellipsoid whose width is 0.7 of its length (volume = length x width^2 / 2), each diameter read
with a normal error of SD 0.5 mm and rounded to 0.1 mm (assumptions of this example, not
catalogue values). Seed 29.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin.catalog import load_catalog
from leptotwin.model.cohort import Arm, simulate_lmc

HERE = Path(__file__).resolve().parent
TRUTH = {"sc_mouse.parameters.kp_uu_tumour": 0.7, "pathway.birth_max": 0.033}
ARMS = {"vehicle": {}, "alectinib": {"alectinib": "6 mg/kg QD"}}
MICE = {"vehicle": [f"v{i}" for i in range(1, 6)], "alectinib": [f"a{i}" for i in range(1, 6)]}
DAYS = [7, 10, 14, 17, 21, 24, 28]
WIDTH_RATIO = 0.7  # width / length of the virtual tumours
CALIPER_SD_MM = 0.5  # reading error of one diameter


def caliper_table(seed: int = 29) -> pd.DataFrame:
    """The virtual caliper table: ``mouse, arm, day, length_mm, width_mm``."""
    rng = np.random.default_rng(seed)
    cat = load_catalog().with_values(TRUTH)
    arms = [Arm(name, regs) for name, regs in ARMS.items()]
    res = simulate_lmc(
        arms,
        n_per_arm=len(MICE["vehicle"]),
        days=max(DAYS),
        observe_days=DAYS,
        rng=rng,
        inoculum="A925LPE3",
        catalog=cat,
        site="subcutaneous",
    )
    obs = res.observations.dropna(subset=["tumor_volume_mm3"])  # past the endpoint: not measured
    names = [m for a in ARMS for m in MICE[a]]
    volume = obs["tumor_volume_mm3"].to_numpy()
    length = (2.0 * volume / WIDTH_RATIO**2) ** (1.0 / 3.0)  # V = L (rL)^2 / 2
    width = WIDTH_RATIO * length

    def read(d: np.ndarray) -> np.ndarray:
        return np.round(np.maximum(d + CALIPER_SD_MM * rng.standard_normal(d.size), 0.1), 1)

    return pd.DataFrame(
        {
            "mouse": [names[int(s)] for s in obs["subject"]],
            "arm": obs["arm"].to_numpy(),
            "day": obs["day"].to_numpy().astype(int),
            "length_mm": read(length),
            "width_mm": read(width),
        }
    ).sort_values(["mouse", "day"], kind="stable")


def main() -> None:
    caliper_table().to_csv(HERE / "caliper.csv", index=False)


if __name__ == "__main__":
    main()
