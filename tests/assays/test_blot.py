"""Virtual immunoblot and phospho-RTK array: exact band volumes, loading, film saturation,
geometry, file formats and bad input."""

from __future__ import annotations

import dataclasses
import json

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile

from leptotwin.assays.blot import (
    ARRAY_RECEPTORS,
    BlotSettings,
    array_layout,
    simulate_array,
    simulate_blot,
    write_array,
    write_blot,
)
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError

LANES = pd.DataFrame({"lane": [1, 2, 3, 4], "label": ["A925L", "A925L", "A925L/AR", "A925L/AR"]})


def _bands(p_egfr=(0.2, 0.2, 0.8, 0.8)) -> pd.DataFrame:
    rows = []
    for lane, pe in zip(LANES["lane"], p_egfr, strict=True):
        rows += [(lane, "pEGFR", pe), (lane, "EGFR", 1.0), (lane, "beta-actin", 1.5)]
    return pd.DataFrame(rows, columns=["lane", "protein", "amount"])


def _quiet(**extra) -> BlotSettings:
    """Noise-free scan with a flat background."""
    base = dict(
        read_sd=0.0, counts_per_quantum=0.0, background_gradient=0.0, loading_cv=0.0,
        lane_jitter_sd=0.0, array_spot_cv=0.0,
    )  # fmt: skip
    base.update(extra)
    return dataclasses.replace(BlotSettings.from_catalog(), **base)


def test_settings_come_from_the_catalogue():
    s = BlotSettings.from_catalog()
    cat = load_catalog()
    assert s.smile == cat.assay_value("blot", "smile")
    assert s.linear_limit < s.background_level < s.max_response
    assert all(q.unit and q.source for q in cat.assays["blot"].parameters.values())
    with pytest.raises(LeptotwinError, match=r"BlotSettings: read_sd: invalid blot setting"):
        dataclasses.replace(s, read_sd=-1.0)
    with pytest.raises(LeptotwinError, match="max_response must exceed linear_limit"):
        dataclasses.replace(s, max_response=s.linear_limit)


def test_noise_free_darkening_sums_to_the_true_volumes():
    s = _quiet()
    blot = simulate_blot(LANES, _bands(), rng=np.random.default_rng(1), settings=s)
    dark = s.background_level - blot.image.astype(float)
    for protein, r0, r1 in blot.strips.itertuples(index=False):
        total = dark[r0 : r1 + 1].sum()
        truth = blot.truth.loc[blot.truth["protein"] == protein, "volume_true"].sum()
        assert total == pytest.approx(truth, rel=1e-3)
    # amounts map linearly onto volumes: volume_per_unit x amount (no loading variation here)
    t = blot.truth
    np.testing.assert_allclose(t["volume_true"], t["amount"] * s.volume_per_unit)
    assert not t["saturated_true"].any()


def test_loading_is_shared_by_the_proteins_of_a_lane_and_lanes_are_jittered():
    blot = simulate_blot(LANES, _bands(), rng=np.random.default_rng(2))
    t = blot.truth
    per_lane = t.groupby("lane")["loading"].nunique()
    assert (per_lane == 1).all()
    assert t.groupby("lane")["loading"].first().std() > 0
    nominal = blot.settings.margin + (np.arange(4) + 0.5) * blot.settings.lane_pitch
    offsets = blot.lanes["center_px"].to_numpy() - nominal
    assert np.all(np.abs(offsets) < 5 * blot.settings.lane_jitter_sd) and np.any(offsets != 0)
    # the smile: outer lanes sit lower than inner ones
    pe = t[t["protein"] == "pEGFR"].set_index("lane")["center_y_px"]
    assert pe[1] > pe[2] and pe[4] > pe[3]


def test_strong_bands_saturate_the_film():
    s = _quiet()
    bands = pd.DataFrame({"lane": [1, 2], "protein": "EGFR", "amount": [1.0, 20.0]})
    blot = simulate_blot(LANES.iloc[:2], bands, rng=np.random.default_rng(3), settings=s)
    assert blot.truth["saturated_true"].tolist() == [False, True]
    assert (blot.image == 0).any()  # black on the film
    dark = s.background_level - blot.image.astype(float)
    split = int(s.margin + s.lane_pitch)  # between lane 1 and lane 2
    ratio = dark[:, split:].sum() / dark[:, :split].sum()
    assert ratio < 0.5 * 20  # compressed far below the true 20-fold


def test_light_on_dark_is_the_inverse_of_the_film():
    s = _quiet()
    a = simulate_blot(LANES, _bands(), rng=np.random.default_rng(4), settings=s)
    b = simulate_blot(
        LANES, _bands(), rng=np.random.default_rng(4), settings=s, polarity="light-on-dark"
    )
    np.testing.assert_array_equal(b.image.astype(int), 65535 - a.image.astype(int))


def test_write_blot_files(tmp_path):
    blot = simulate_blot(LANES, _bands(), rng=np.random.default_rng(5))
    paths = write_blot(blot, tmp_path, name="wb")
    np.testing.assert_array_equal(tifffile.imread(paths["image"]), blot.image)
    truth = pd.read_csv(paths["truth"])
    assert len(truth) == 12 and {"lane", "protein", "volume_true"} <= set(truth.columns)
    side = json.loads(paths["sidecar"].read_text())
    assert side["polarity"] == "dark-on-light" and side["shape"] == list(blot.image.shape)
    assert len(side["truth"]) == 12 and side["settings"]["smile"] == blot.settings.smile
    strips = write_blot(blot, tmp_path / "png", name="wb", fmt="png", per_strip=True)
    img = iio.imread(strips["image:beta-actin"])
    assert img.dtype == np.uint16 and img.shape[0] == int(blot.settings.strip_height)
    with pytest.raises(LeptotwinError, match=r"write_blot: fmt: unknown image format"):
        write_blot(blot, tmp_path, fmt="bmp")


def test_array_layout_is_ary001b_like():
    lay = array_layout()
    assert len(ARRAY_RECEPTORS) == 49 == len(set(ARRAY_RECEPTORS))
    counts = lay.groupby("receptor").size()
    assert len(counts) == 51  # 49 RTKs + Reference + PBS
    assert counts["Reference"] == 6 and (counts.drop("Reference") == 2).all()
    ref = lay[lay["kind"] == "reference"]
    corners = {(r, c) for r, c in zip(ref["row"], ref["col"], strict=True)}
    assert {(0, 0), (0, 23), (4, 0)} <= corners and (4, 23) not in corners
    assert set(lay.loc[lay["kind"] == "negative", "col"]) == {22, 23}
    assert not lay.duplicated(["row", "col"]).any()


def test_array_spot_volumes_follow_levels(tmp_path):
    s = _quiet()
    arr = simulate_array(
        pd.DataFrame({"receptor": ["EGFR", "ALK"], "level": [2.0, 0.5]}),
        rng=np.random.default_rng(6),
        settings=s,
    )
    t = arr.truth.set_index("receptor")
    assert t.loc["EGFR", "volume_true"].iloc[0] == pytest.approx(
        (2.0 + s.array_nonspecific_level) * s.array_volume_per_unit
    )
    assert t.loc["Reference", "level"].iloc[0] == s.array_reference_level
    assert t.loc["PBS", "level"].iloc[0] == 0.0
    dark = s.background_level - arr.image.astype(float)
    assert dark.sum() == pytest.approx(arr.truth["volume_true"].sum(), rel=1e-3)
    paths = write_array(arr, tmp_path)
    text = paths["layout"].read_text()
    assert text.startswith("# leptotwin array layout v1") and "# pitch_px: 24" in text
    assert "receptor,kind,row,col" in text


def test_bad_input_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(LeptotwinError, match=r"bands: missing columns"):
        simulate_blot(LANES, pd.DataFrame({"lane": [1], "amount": [1]}), rng=rng)
    with pytest.raises(LeptotwinError, match=r"band in a lane that is not in the lanes table"):
        simulate_blot(LANES, pd.DataFrame({"lane": [9], "protein": "x", "amount": [1]}), rng=rng)
    with pytest.raises(LeptotwinError, match=r"bands.amount: band amounts must be finite"):
        simulate_blot(LANES, pd.DataFrame({"lane": [1], "protein": "x", "amount": [-1]}), rng=rng)
    with pytest.raises(LeptotwinError, match="no lanes"):
        simulate_blot(LANES.iloc[:0], _bands(), rng=rng)
    with pytest.raises(LeptotwinError, match="unknown polarity"):
        simulate_blot(LANES, _bands(), rng=rng, polarity="negative")
    with pytest.raises(LeptotwinError, match=r"receptor not on the membrane.*'EGFRvIII'"):
        simulate_array(pd.DataFrame({"receptor": ["EGFRvIII"], "level": [1.0]}), rng=rng)
    with pytest.raises(LeptotwinError, match="phospho levels must be finite"):
        simulate_array(pd.DataFrame({"receptor": ["EGFR"], "level": [np.nan]}), rng=rng)
