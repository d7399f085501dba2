"""The in-vivo engine against a stored reference cohort (tests/model/reference/
lmc_reference.csv, written by make_lmc_reference.py with the engine before its speed-ups,
ad1795f, and unchanged by them): guards the chunked PK, the batched drug action and the
per-subject values against drift. Compared to 1e-12 relative (exact on the machine that wrote
it; the margin only for another CPU's libm), burdens and CSF AREG alike."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

REF = Path(__file__).resolve().parent / "reference"


def test_cohort_equals_the_stored_reference():
    spec = importlib.util.spec_from_file_location(
        "make_lmc_reference", REF / "make_lmc_reference.py"
    )
    assert spec is not None and spec.loader is not None
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    got = maker.reference().reset_index(drop=True)
    want = pd.read_csv(REF / "lmc_reference.csv", float_precision="round_trip")
    assert list(got.columns) == list(want.columns) and len(got) == len(want) == 96
    for col in ("subject", "arm", "stochastic"):
        assert got[col].astype(str).tolist() == want[col].astype(str).tolist(), col
    assert np.array_equal(got["day"].to_numpy(float), want["day"].to_numpy(float))
    for col in [c for c in want.columns if c.startswith("cells_")] + [
        "total_cells",
        "csf_areg_pg_mL",
    ]:
        np.testing.assert_allclose(
            got[col].to_numpy(float), want[col].to_numpy(float), rtol=1e-12, atol=0, err_msg=col
        )
    assert want["total_cells"].nunique() > 30  # a cohort that varies, not a constant
