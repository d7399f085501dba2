"""A nearly inactive drug in a combination block: its monotherapy LL.4 fit must not run away.

Blocks as in the study's in-vitro matrices (8 x 6 doses, 3 replicates, % inhibition, the
untreated cell normalised to 0): a real row drug (LL.4, top 65 %) and a column drug flat at 5 %
with noise of sd 6 at every dose. With a free LL.4 the flat drug's fit ran away: seed 173 gave
``e = inf`` (fit failed, block ``fit_failed``, ZIP NaN); seed 6612 gave ``c = -1.1e6, e = 0``
and ``ok``, with a ZIP mean of -10.2 outside its own bootstrap interval [5.3, 12.9].
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis._synergy_core import _fit_ll4, _fit_mono_ll4, _mono_window
from leptotwin.analysis.synergy import synergy_scores

CONC_R = np.array([0, 1, 3, 10, 30, 100, 300, 1000.0])
CONC_C = np.array([0, 30, 100, 300, 1000, 3000.0])


def _block(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    with np.errstate(divide="ignore"):
        y_r = 65.0 / (1.0 + (40.0 / CONC_R) ** 1.2)
    y_c = np.where(CONC_C > 0, 5.0, 0.0)
    both = (CONC_R[:, None] > 0) & (CONC_C[None, :] > 0)
    mean = y_r[:, None] + y_c[None, :] - y_r[:, None] * y_c[None, :] / 100.0 + 8.0 * both
    rows = []
    for i, a in enumerate(CONC_R):
        for j, b in enumerate(CONC_C):
            for _ in range(3):
                v = 0.0 if i == j == 0 else mean[i, j] + rng.normal(0.0, 6.0)
                rows.append(("A x F", "A", "F", a, b, v, "nM", "nM"))
    cols = ["block_id", "drug_row", "drug_col", "conc_r", "conc_c", "response"]
    return pd.DataFrame(rows, columns=[*cols, "conc_r_unit", "conc_c_unit"])


def _flat_means(seed: int) -> np.ndarray:
    t = _block(seed)
    return t[t.conc_r == 0].groupby("conc_c").response.mean().to_numpy()


@pytest.mark.parametrize("seed", [173, 6612])
def test_flat_drug_free_fit_runs_away(seed):
    """The failure shapes the bounded fit replaces (guards that the seeds still reproduce)."""
    dose = np.where(CONC_C == 0, 1e-10, CONC_C)[None]
    p, _ = _fit_ll4(dose, _flat_means(seed)[None], None)
    b, c, d, e = p[0]
    assert abs(b) < 0.01
    assert max(abs(c), abs(d)) > 1e4
    assert not np.isfinite(e) or e == 0.0


@pytest.mark.parametrize("seed", [173, 6612])
def test_flat_drug_zip_is_computed(seed):
    res = synergy_scores(_block(seed), methods=("ZIP", "Bliss"), n_boot=50)
    assert (res.qc["status"] == "ok").all()
    mono = res.monotherapy.set_index("drug")
    assert mono["ok"].all()
    # the flat drug's parameters: finite and within the window of _fit_mono_ll4
    lo, hi = _mono_window(CONC_C[None], _flat_means(seed)[None])
    b, c, d, e = mono.loc["F", ["b", "c", "d", "e"]].to_numpy(float)
    q = np.array([b, c, d, np.log(e)])
    assert np.isfinite(q).all()
    assert (q >= lo[0] - 1e-9).all() and (q <= hi[0] + 1e-9).all()
    assert 30.0 / 1e3 * (1 - 1e-9) <= e <= 3000.0 * 1e3 * (1 + 1e-9)
    pb = res.per_block
    for method in ("ZIP", "Bliss"):
        row = pb[(pb["method"] == method) & (pb["statistic"] == "mean")].iloc[0]
        assert np.isfinite(row["score"])
        assert row["lower"] <= row["score"] <= row["upper"]


def test_well_behaved_fits_unchanged():
    """Where the free fit lies in the window it is returned as it is, bit for bit."""
    rng = np.random.default_rng(3)
    dose = np.tile(np.where(CONC_R == 0, 1e-10, CONC_R), (20, 1))
    top = rng.uniform(40, 100, (20, 1))
    ec50 = rng.uniform(5, 300, (20, 1))
    with np.errstate(divide="ignore"):
        y = top / (1.0 + (ec50 / CONC_R) ** rng.uniform(0.7, 3, (20, 1)))
    y = y + rng.normal(0, 3, y.shape)
    y[:, 0] = 0.0
    free, ok_free = _fit_ll4(dose, y, None)
    bounded, ok = _fit_mono_ll4(dose, y, np.tile(CONC_R, (20, 1)))
    assert ok_free.all() and ok.all()
    np.testing.assert_array_equal(bounded, free)
