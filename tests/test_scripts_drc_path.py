"""The research emulation of drc's fitting path (scripts/drc_path.py) reproduces R drc 3.2-0's
LL.4 fits of the reference curves iteration for iteration: parameters to 1e-8 relative."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from refdata import DOSE_RESPONSE

ROOT = Path(__file__).resolve().parents[1]
REF = DOSE_RESPONSE


def test_drc_path_emulation_matches_drc_reference_fits():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from drc_path import LLogistic, drm
    finally:
        sys.path.pop(0)
    ref = pd.read_csv(REF / "drc_reference_fits.csv", dtype={"curve": str})
    ref = ref[(ref["model"] == "LL.4") & ref["param"].isin(list("bcde"))]
    n = 0
    for (name, curve), g in ref.groupby(["dataset", "curve"], sort=False):
        data = pd.read_csv(REF / f"{name}.csv", dtype={"curve": str})
        data = data[data["curve"] == curve]
        fit = drm(data["dose"].to_numpy(), data["response"].to_numpy(), LLogistic([None] * 4),
                  strict=False)  # fmt: skip
        want = g.set_index("param")["estimate"]
        for k, value in zip("bcde", fit.par, strict=True):
            assert value == pytest.approx(want[k], rel=1e-8, abs=1e-10), (name, curve, k)
        assert fit.value == pytest.approx(g["rss"].iloc[0], rel=1e-8)
        n += 1
    assert n >= 10
