"""The cohort engine's chunks (steps whose PK and drug action are computed together): fewer
steps per chunk in a large cohort bound the temporaries, and chunk boundaries do not change
any number (every step's PK is the same whichever chunk it falls in)."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.model import cohort
from leptotwin.model.cohort import Arm, simulate_lmc


def test_chunk_steps_shrink_with_the_cohort():
    assert cohort._chunk_steps(1) == cohort._chunk_steps(8192) == 64
    assert cohort._chunk_steps(10**5) == 5
    assert cohort._chunk_steps(10**7) == 1
    assert cohort._chunk_steps(0) == 64


def run(seed: int):
    arms = [
        Arm("vehicle", {}),
        Arm("osimertinib", {"osimertinib": "25 mg/kg QD"}),
        Arm("combo", {"osimertinib": "5 mg/kg QD", "alectinib": "20 mg/kg QD"}),
    ]
    return simulate_lmc(
        arms,
        n_per_arm=4,
        days=30.0,
        observe_days=[7.0, 14.0, 21.0, 30.0],
        rng=np.random.default_rng(seed),
        dt_h=1.0,
        catalog=load_catalog(),
    )


@pytest.mark.parametrize("elements", [12, 12 * 7, 12 * 1000])
def test_chunk_boundaries_do_not_change_results(monkeypatch, elements):
    """1, 7 and 64 steps per chunk (12 subjects; refined steps after doses, stochastic):
    observations and survival identical to the bit."""
    want = run(3)
    monkeypatch.setattr(cohort, "_CHUNK_ELEMENTS", elements)
    assert cohort._chunk_steps(12) == min(64, elements // 12)
    got = run(3)
    for name in ("observations", "survival", "subjects"):
        a, b = getattr(want, name), getattr(got, name)
        assert a.columns.equals(b.columns)
        for col in a.columns:
            x, y = a[col].to_numpy(), b[col].to_numpy()
            same = np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
            assert same, (name, col)
