"""Densitometry on virtual scans with known truth: band ratios, linearity, saturation, lanes,
polarity, RGB, arrays, an exact comparison with a direct pixel sum, and bad input.

The virtual film comes from :mod:`leptotwin.assays.blot` (the test may import it; the analysis
module itself never does)."""

from __future__ import annotations

import dataclasses

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import tifffile

from leptotwin.analysis.densitometry import (
    compare_arrays,
    detect_lanes,
    normalise_bands,
    quantify_array,
    quantify_bands,
    quantify_blot,
    read_array_layout,
    read_image,
    subtract_background,
    summarise_array,
    write_annotated,
)
from leptotwin.assays.blot import BlotSettings, simulate_array, simulate_blot, write_array
from leptotwin.errors import LeptotwinError

LABELS = ["A925L", "A925L + ALC", "A925L/AR", "A925L/AR + ALC", "A925L/AR + OSI", "A925L/AR"]


def _lanes(n: int) -> pd.DataFrame:
    return pd.DataFrame({"lane": range(1, n + 1), "label": LABELS[:n]})


def _arai_blot(rng, *, p_egfr=(0.2, 0.2, 0.8, 0.8), **kw):
    """pEGFR 4x higher in the resistant lanes, equal total EGFR and beta-actin."""
    rows = []
    for lane, pe in enumerate(p_egfr, start=1):
        rows += [(lane, "pEGFR", pe), (lane, "EGFR", 1.0), (lane, "beta-actin", 1.5)]
    bands = pd.DataFrame(rows, columns=["lane", "protein", "amount"])
    return simulate_blot(_lanes(len(p_egfr)), bands, rng=rng, **kw)


def _strips(blot) -> dict[str, tuple[int, int]]:
    return {p: (int(a), int(b)) for p, a, b in blot.strips.itertuples(index=False)}


def _with_truth(table: pd.DataFrame, blot) -> pd.DataFrame:
    truth = blot.truth.set_index(["protein", "lane"])["volume_true"]
    return table.assign(
        true=[truth[(t, ln)] for t, ln in zip(table.target, table.lane, strict=True)]
    )


def test_recovers_a_fourfold_pegfr_egfr_ratio_from_a_noisy_tiff(tmp_path):
    blot = _arai_blot(np.random.default_rng(2020))
    path = tmp_path / "blot.tif"
    tifffile.imwrite(path, blot.image)
    table = quantify_blot(path, 4, _strips(blot), labels=LABELS[:4])
    assert table["label"].tolist()[:4] == LABELS[:4]
    phospho_total = normalise_bands(table, "pEGFR", "EGFR", reference_lane=1)
    for lane in (3, 4):
        rel = phospho_total.set_index("lane").loc[lane, "relative"]
        assert rel == pytest.approx(4.0, rel=0.15)
    # normalised to beta-actin: loading differences cancel too
    loading = normalise_bands(table, "pEGFR", "beta-actin")
    assert loading.set_index("lane").loc[3, "relative"] == pytest.approx(4.0, rel=0.15)
    assert not phospho_total["saturated"].any() and phospho_total["ok"].all()
    # every background method recovers the ratio
    for method in ("lane", "rolling_ball"):
        t = quantify_blot(blot.image, 4, _strips(blot), background=method)
        rel = normalise_bands(t, "pEGFR", "EGFR").set_index("lane").loc[3, "relative"]
        assert rel == pytest.approx(4.0, rel=0.15), method


def test_volumes_are_linear_in_amount_below_saturation():
    amounts = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
    bands = pd.DataFrame({"lane": range(1, 7), "protein": "EGFR", "amount": amounts})
    blot = simulate_blot(_lanes(6), bands, rng=np.random.default_rng(11))
    assert not blot.truth["saturated_true"].any()
    t = _with_truth(quantify_bands(blot.image, 6).assign(target="EGFR"), blot)
    slope, intercept = np.polyfit(t["true"], t["volume_au"], 1)
    r = np.corrcoef(t["true"], t["volume_au"])[0, 1]
    assert r > 0.999
    assert slope == pytest.approx(1.0, abs=0.05)  # volumes in the film's own units
    assert abs(intercept) < 0.1 * t["true"].min()


def test_saturated_band_is_flagged():
    bands = pd.DataFrame({"lane": [1, 2, 3], "protein": "EGFR", "amount": [0.5, 1.0, 25.0]})
    blot = simulate_blot(_lanes(3), bands, rng=np.random.default_rng(12))
    t = quantify_bands(blot.image, 3)
    assert t["saturated"].tolist() == [False, False, True]
    assert t.loc[2, "n_saturated_px"] > 10
    # the saturated band is far below its true 25x of lane 2: why the flag matters
    assert t.loc[2, "volume_au"] / t.loc[1, "volume_au"] < 10


def test_lanes_found_on_a_jittered_smiling_blot():
    s = dataclasses.replace(BlotSettings.from_catalog(), lane_jitter_sd=3.0, smile=6.0)
    blot = _arai_blot(np.random.default_rng(13), p_egfr=(0.2, 0.5, 0.8, 0.8, 0.3, 1.0), settings=s)
    img = read_image(blot.image)
    corrected, _ = subtract_background(img.signal)
    lanes = detect_lanes(corrected, 6)
    # within 2.5 px of the truth for bands 32 px wide (lanes 1 and 2 almost touch here)
    np.testing.assert_allclose(lanes["center_px"], blot.lanes["center_px"], atol=2.5)
    offsets = blot.lanes["center_px"].to_numpy() - (s.margin + (np.arange(6) + 0.5) * s.lane_pitch)
    assert np.abs(offsets).max() > 2.0  # equal division would have been off
    equal = detect_lanes(corrected, 6, method="equal")
    assert equal["center_px"].iloc[0] == pytest.approx(img.shape[1] / 12)


def test_inverted_and_light_on_dark_images_give_the_same_volumes():
    s = dataclasses.replace(BlotSettings.from_catalog(), read_sd=0.0, counts_per_quantum=0.0)
    film = _arai_blot(np.random.default_rng(14), settings=s)
    chemi = _arai_blot(np.random.default_rng(14), settings=s, polarity="light-on-dark")
    a, b = read_image(film.image), read_image(chemi.image)
    assert a.inverted and not b.inverted
    np.testing.assert_array_equal(a.signal, b.signal)
    forced = read_image(film.image, polarity="light-on-dark")
    assert not forced.inverted
    ta = quantify_blot(film.image, 4, _strips(film))
    tb = quantify_blot(chemi.image, 4, _strips(chemi))
    np.testing.assert_allclose(ta["volume_au"], tb["volume_au"])


def test_rgb_8bit_png_input(tmp_path):
    blot = _arai_blot(np.random.default_rng(15))
    gray8 = np.rint(blot.image / 257.0).astype(np.uint8)
    rgb = np.stack([gray8, gray8, gray8], axis=-1)
    path = tmp_path / "scan.png"
    iio.imwrite(path, rgb)
    img = read_image(path)
    assert img.full_scale == 1.0 and img.inverted and img.signal.shape == blot.image.shape
    t = quantify_blot(path, 4, _strips(blot))
    rel = normalise_bands(t, "pEGFR", "EGFR").set_index("lane")["relative"]
    assert rel[3] == pytest.approx(4.0, rel=0.15) and rel[4] == pytest.approx(4.0, rel=0.15)
    jpg = tmp_path / "scan.jpg"
    iio.imwrite(jpg, rgb, quality=95)
    tj = quantify_blot(jpg, 4, _strips(blot))
    relj = normalise_bands(tj, "pEGFR", "EGFR").set_index("lane")["relative"]
    assert relj[3] == pytest.approx(4.0, rel=0.15)


def test_volume_equals_a_direct_pixel_sum_on_a_noise_free_image():
    """Two Gaussian bands of known volume on a zero background (light on dark, float)."""
    yy, xx = np.mgrid[0:80, 0:120].astype(float)
    truth = {1: 3000.0, 2: 12000.0}
    image = np.zeros((80, 120))
    for lane, cx in ((1, 30.0), (2, 90.0)):
        g = np.exp(-0.5 * ((xx - cx) / 6.0) ** 2 - 0.5 * ((yy - 40.0) / 3.0) ** 2)
        image += truth[lane] * g / g.sum()
    t = quantify_bands(image, 2, background="none", polarity="light-on-dark", edge_fraction=1e-4)
    for row in t.itertuples(index=False):
        naive = image[row.row0_px : row.row1_px + 1, row.col0_px : row.col1_px + 1].sum()
        assert row.volume_au == naive  # exact: the same pixels, nothing subtracted
        assert row.volume_au == pytest.approx(truth[row.lane], rel=0.01)
    assert t["volume_au"].iloc[1] / t["volume_au"].iloc[0] == pytest.approx(4.0, rel=1e-3)


def test_all_bands_mode_and_missing_band():
    yy, xx = np.mgrid[0:100, 0:100].astype(float)
    image = np.zeros((100, 100))
    for cx, cy, v in ((25.0, 30.0, 1000.0), (25.0, 70.0, 500.0), (75.0, 30.0, 800.0)):
        g = np.exp(-0.5 * ((xx - cx) / 8.0) ** 2 - 0.5 * ((yy - cy) / 3.0) ** 2)
        image += v * g / g.sum()
    both = quantify_bands(image, lane_centers=[25, 75], background="none", all_bands=True)
    assert both.groupby("lane").size().tolist() == [2, 1]
    assert both["center_row_px"].tolist() == [30, 70, 30]
    lower = quantify_bands(image, lane_centers=[25, 75], rows=(55, 90), background="none")
    assert lower["detected"].tolist() == [True, False]
    assert lower.loc[1, "volume_au"] == pytest.approx(0.0, abs=1.0)


def test_array_spots_with_duplicates_and_reference_normalisation(tmp_path):
    parental = simulate_array(
        pd.DataFrame({"receptor": ["EGFR", "ALK", "ErbB3"], "level": [0.3, 1.5, 0.4]}),
        rng=np.random.default_rng(21),
    )
    resistant = simulate_array(
        pd.DataFrame({"receptor": ["EGFR", "ALK", "ErbB3"], "level": [2.0, 1.5, 0.8]}),
        rng=np.random.default_rng(22),
    )
    pa = write_array(parental, tmp_path / "p")
    ra = write_array(resistant, tmp_path / "r")
    layout = read_array_layout(pa["layout"])
    assert layout.pitch_px == 24 and layout.spot_radius_px == pytest.approx(9.6)
    spots_p = quantify_array(pa["image"], layout)
    spots_r = quantify_array(ra["image"], ra["layout"])
    assert len(spots_p) == len(parental.layout)
    sp, sr = summarise_array(spots_p), summarise_array(spots_r)
    egfr = sr.set_index("receptor").loc["EGFR"]
    assert egfr["n_spots"] == 2 and egfr["kind"] == "receptor"

    def truth_relative(arr, receptor):
        t = arr.truth.groupby("receptor")["volume_true"].mean()
        return t[receptor] / t["Reference"]

    for receptor in ("EGFR", "ALK", "ErbB3"):
        got = sr.set_index("receptor").loc[receptor, "relative"]
        assert got == pytest.approx(truth_relative(resistant, receptor), rel=0.05), receptor
    s = resistant.settings
    nominal = (2.0 + s.array_nonspecific_level) / (
        s.array_reference_level + s.array_nonspecific_level
    )
    assert egfr["relative"] == pytest.approx(nominal, rel=0.15)  # spot CV 8 % on top
    assert sr.set_index("receptor").loc["Reference", "relative"] == pytest.approx(1.0)
    assert abs(sr.set_index("receptor").loc["PBS", "relative"]) < 0.05
    change = compare_arrays(sp, sr).set_index("receptor")
    fold = truth_relative(resistant, "EGFR") / truth_relative(parental, "EGFR")
    assert change.loc["EGFR", "fold_change"] == pytest.approx(fold, rel=0.10)
    assert change.loc["ALK", "fold_change"] == pytest.approx(
        truth_relative(resistant, "ALK") / truth_relative(parental, "ALK"), rel=0.10
    )
    assert change.loc["EGFR", "log2_fold_change"] > 2
    # the grid found from the reference spots alone (no pitch or origin given)
    bare = parental.layout[["receptor", "row", "col"]]
    found = quantify_array(parental.image, bare)
    np.testing.assert_allclose(found["x_px"], parental.layout["x_px"], atol=1.0)
    np.testing.assert_allclose(found["y_px"], parental.layout["y_px"], atol=1.0)
    out = write_annotated(parental.image, found, tmp_path / "array.png")
    assert iio.imread(out).shape == (*parental.image.shape, 3)


def test_annotated_blot_png(tmp_path):
    blot = _arai_blot(np.random.default_rng(23))
    img = read_image(blot.image)
    lanes = detect_lanes(subtract_background(img.signal)[0], 4)
    t = quantify_blot(img, 4, _strips(blot))
    path = write_annotated(img, t, tmp_path / "blot_annotated.png", lanes=lanes)
    rgb = iio.imread(path)
    assert rgb.shape == (*blot.image.shape, 3)
    green = (rgb[..., 0] == 20) & (rgb[..., 1] == 170) & (rgb[..., 2] == 40)
    assert green.sum() > 12 * 40  # twelve band boxes


def test_bad_input(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(LeptotwinError, match=r"broken.png: unreadable image file"):
        read_image(bad)
    with pytest.raises(LeptotwinError, match=r"image file not found"):
        read_image(tmp_path / "missing.tif")
    with pytest.raises(LeptotwinError, match=r"empty image \(no pixels\)"):
        read_image(np.zeros((0, 10), np.uint16))
    with pytest.raises(LeptotwinError, match=r"no lanes found: the image has no signal"):
        quantify_bands(np.full((50, 60), 1000, np.uint16), 3)
    image = np.zeros((40, 30))
    image[10:20, 5:10] = 1.0
    with pytest.raises(LeptotwinError, match=r"n_lanes: more lanes than the image is wide"):
        quantify_bands(image, 31)
    with pytest.raises(LeptotwinError, match=r"rows: row window outside the image"):
        quantify_bands(image, 1, rows=(30, 50))
    with pytest.raises(LeptotwinError, match=r"found only 1 lanes"):
        quantify_bands(image, 3)
    with pytest.raises(LeptotwinError, match=r"unknown background method"):
        quantify_bands(image, 1, background="median")
    with pytest.raises(LeptotwinError, match=r"image must be 2-D grey or RGB"):
        read_image(np.zeros((4, 5, 6, 7)))
    layout = pd.DataFrame(
        {"receptor": ["Reference", "Reference", "EGFR"], "row": [0, 1, 9], "col": [0, 1, 9]}
    )
    with pytest.raises(LeptotwinError, match=r"EGFR \(row 9, col 9\): layout spot outside"):
        quantify_array(np.zeros((100, 100)), layout, pitch_px=20, origin_px=(20, 20))
    with pytest.raises(LeptotwinError, match=r"layout has no reference spots"):
        read_array_layout(layout[layout["receptor"] == "EGFR"])
    with pytest.raises(LeptotwinError, match=r"layout misses columns"):
        read_array_layout(layout.drop(columns="col"))
    table = pd.DataFrame({"target": ["a"], "lane": [1], "band": [1], "volume_au": [1.0]})
    with pytest.raises(LeptotwinError, match=r"target not in the table.*'EGFR'"):
        normalise_bands(table, "a", "EGFR")


def test_array_layout_that_is_binary_or_empty_is_one_line(tmp_path):
    """Garbage to `blot --layout` ended in a UnicodeDecodeError traceback (issue 12)."""
    path = tmp_path / "layout.csv"
    for data, match in ((bytes(range(256)) * 4, "binary file"), (b"", "empty layout file")):
        path.write_bytes(data)
        with pytest.raises(LeptotwinError, match=match) as err:
            read_array_layout(path)
        assert str(err.value).startswith("layout.csv: ")
    path.write_bytes("receptor,row,col\nReference,0,0\nEGFR \xb5,0,1\n".encode("latin-1"))
    assert read_array_layout(path).spots["receptor"].tolist() == ["Reference", "EGFR µ"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        # found by the property test: an IntCastingNaNError from pandas
        ("receptor,row,col\nReference,INF,0\nEGFR,0,1\n", r"row, spot 1: layout row/col must"),
        ("receptor,row,col\nReference,-1,0\nEGFR,0,1\n", r"row, spot 1: layout row/col must"),
        ("receptor,row,col,x_px,y_px\nReference,0,0,nan,3\n", r"x_px, spot 1: spot position"),
        ("# pitch_px: nan\nreceptor,row,col\nReference,0,0\n", r"pitch_px: bad layout header"),
        ("# spot_radius_px: -2\nreceptor,row,col\nReference,0,0\n", "bad layout header value"),
    ],
)
def test_array_layout_numbers_are_checked(tmp_path, text, match):
    path = tmp_path / "layout.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LeptotwinError, match=match):
        read_array_layout(path)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_band_switched_off_is_below_detection_not_a_huge_ratio(seed):
    """Issue 13 (9): a phospho band that a drug switched off is noise; dividing two noise bands
    gave fold changes like 42x. Below its detection limit a band counts at that limit and the
    ratio says it is a bound."""
    blot = _arai_blot(np.random.default_rng(seed), p_egfr=(0.0, 0.8, 0.0, 0.8))
    table = quantify_blot(blot.image, 4, _strips(blot))
    assert (table["lod_au"] > 0).all()
    egfr = table[table["target"] == "EGFR"]
    assert (egfr["volume_au"] > 10 * egfr["lod_au"]).all()  # real bands far above it
    rel = normalise_bands(table, "pEGFR", "EGFR", reference_lane=1).set_index("lane")
    assert rel.loc[1, "target_below_lod"] and rel.loc[3, "target_below_lod"]
    assert not rel.loc[2, "target_below_lod"]
    # lane 2 against an undetectable reference: a lower bound, finite, not noise / noise
    assert rel.loc[2, "bound"] == "lower" and np.isfinite(rel.loc[2, "relative"])
    # lane 3 (noise) against lane 1 (noise): not a number at all
    assert rel.loc[3, "bound"] == "undetermined" and np.isnan(rel.loc[3, "relative"])
    # against a detectable reference, a switched-off band is an upper bound below 1
    rel2 = normalise_bands(table, "pEGFR", "EGFR", reference_lane=2).set_index("lane")
    assert rel2.loc[3, "bound"] == "upper" and rel2.loc[3, "relative"] < 0.3
    assert rel2.loc[4, "bound"] == "" and rel2.loc[4, "relative"] == pytest.approx(1, rel=0.2)


def test_known_lane_centres_quantify_a_blot_with_an_empty_lane():
    """A lane with nothing loaded cannot be found on the image (detection stops at 3 of 4);
    given the comb's centres, every lane is measured and the others' ratio is the one loaded."""
    rows = []
    for lane, pe in enumerate((0.2, 0.2, 0.8, 0.8), start=1):
        amount = 0.0 if lane == 2 else 1.0
        rows += [(lane, "pEGFR", pe * amount), (lane, "EGFR", amount)]
        rows += [(lane, "beta-actin", 1.5 * amount)]
    bands = pd.DataFrame(rows, columns=["lane", "protein", "amount"])
    blot = simulate_blot(_lanes(4), bands, rng=np.random.default_rng(5))
    with pytest.raises(LeptotwinError, match="found only"):
        quantify_blot(blot.image, 4, _strips(blot))
    s = blot.settings
    centres = [s.margin + (i + 0.5) * s.lane_pitch for i in range(4)]
    table = quantify_blot(blot.image, 4, _strips(blot), lane_centers=centres)
    assert sorted(table["lane"].unique()) == [1, 2, 3, 4]
    found = table.set_index(["target", "lane"])
    assert found.loc[("EGFR", 2), "volume_au"] < 0.1 * found.loc[("EGFR", 1), "volume_au"]
    rel = normalise_bands(table, "pEGFR", "EGFR", reference_lane=1).set_index("lane")
    assert rel.loc[3, "relative"] == pytest.approx(4.0, rel=0.2)
    with pytest.raises(LeptotwinError, match="one centre per lane"):
        quantify_blot(blot.image, 4, _strips(blot), lane_centers=centres[:3])
