"""``design_elisa`` lays out every plate at once; the layout is the one of the plate-by-plate
loop it replaced (kept here as the reference), cell for cell and dtype for dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.assays.elisa import _WELL_COLUMNS, _check_samples, design_elisa
from leptotwin.formats import get_plate_format


def _loop_design(samples, *, replicates=2, plate_format=96, plate_prefix="E"):
    """The former plate-by-plate layout (kit defaults: 2,000 pg/mL, 7 standards, 2-fold)."""
    smp = _check_samples(samples)
    fmt = get_plate_format(plate_format)
    reps = replicates
    blocks = fmt.n_cols // reps
    slots = blocks * fmt.n_rows
    levels = [2000.0 / 2.0**k for k in range(7)] + [0.0]
    per_plate = slots - len(levels)
    n_plates = max(1, -(-len(smp) // per_plate))
    slot = np.arange(slots)
    block, row = np.divmod(slot, fmt.n_rows)
    frames = []
    for p in range(n_plates):
        chunk = smp.iloc[p * per_plate : (p + 1) * per_plate]
        n_used = len(levels) + len(chunk)
        is_std = slot[:n_used] < len(levels)
        nominal = np.r_[levels, np.full(len(chunk), np.nan)]
        base = pd.DataFrame(
            {
                "plate": f"{plate_prefix}{p + 1:02d}",
                "role": np.where(is_std, np.where(nominal > 0, "standard", "blank"), "sample"),
                "sample_id": np.r_[[""] * len(levels), chunk["sample_id"]],
                "group": np.r_[[""] * len(levels), chunk["group"]],
                "nominal_pg_mL": nominal,
                "dilution": np.r_[np.full(len(levels), np.nan), chunk["dilution"]],
                "true_pg_mL": np.r_[levels, chunk["true_pg_mL"]],
                "_row": row[:n_used],
                "_block": block[:n_used],
            }
        )
        rep = base.loc[base.index.repeat(reps)].reset_index(drop=True)
        col = rep["_block"].to_numpy() * reps + np.tile(np.arange(reps), len(base)) + 1
        letters = np.array(fmt.row_letters, dtype=object)[rep["_row"].to_numpy()]
        rep["well"] = letters + pd.Series(col).astype(str).str.zfill(2).to_numpy(object)
        frames.append(rep)
    out = pd.concat(frames, ignore_index=True)
    out["true_in_well_pg_mL"] = out["true_pg_mL"] / out["dilution"].fillna(1.0)
    return out[[c for c in _WELL_COLUMNS if c not in ("signal", "flag")]]


@pytest.mark.parametrize(
    ("n", "replicates", "plate_format"),
    [(0, 2, 96), (1, 2, 96), (40, 2, 96), (41, 2, 96), (4100, 2, 96), (300, 3, 384), (17, 1, 96)],
)
def test_layout_equals_the_plate_by_plate_loop(n, replicates, plate_format):
    rng = np.random.default_rng(n)
    samples = pd.DataFrame(
        {
            "sample_id": [f" s{i}" for i in range(n)],
            "true_pg_mL": rng.uniform(0.0, 1e4, n),
            "dilution": rng.choice([1.0, 2.0, 20.0], n),
        }
    )
    if n % 2:
        samples["group"] = rng.choice(["ALK", "EGFR"], n)
    got = design_elisa(samples, replicates=replicates, plate_format=plate_format)
    want = _loop_design(samples, replicates=replicates, plate_format=plate_format)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
