"""ROI statistics over measured pixels only, and the tissue mask derived from the TIC
(issue 12, point 6)."""

from __future__ import annotations

import numpy as np
import pytest
from pyimzml.ImzMLWriter import ImzMLWriter
from scipy import ndimage, stats
from skimage.filters import threshold_otsu

from leptotwin.analysis.msi import (
    TISSUE_MIN_SEPARATION,
    read_imzml,
    roi_stats,
    tissue_mask,
)
from leptotwin.errors import LeptotwinError


def _lesions(ny: int = 40, nx: int = 50) -> np.ndarray:
    roi = np.zeros((ny, nx), bool)
    for y0, x0 in ((8, 8), (8, 30), (25, 18)):
        roi[y0 : y0 + 5, x0 : x0 + 5] = True
    return roi


def test_unmeasured_pixels_count_nowhere():
    """A NaN pixel (no spectrum) is left out of the lesions and of the ring; 0 is a value."""
    rng = np.random.default_rng(3)
    roi = _lesions()
    img = np.where(roi, 200.0, 100.0) * np.exp(rng.normal(0, 0.1, roi.shape))
    full = roi_stats(img, roi).set_index("method")
    holes = img.copy()
    holes[::2, ::3] = np.nan  # every third pixel of every other line was not scanned
    part = roi_stats(holes, roi).set_index("method")
    assert part.loc["pixels", "ratio"] == pytest.approx(full.loc["pixels", "ratio"], rel=0.03)
    assert part.loc["pixels", "roi_unmeasured"] == (roi & np.isnan(holes)).sum() > 0
    assert part.loc["pixels", "lesion_pixels"] == (roi & ~np.isnan(holes)).sum()
    assert part.loc["lesions", "n_lesion"] == 3 and part.loc["lesions", "n_reference"] == 3
    # the same through an explicit mask, the image holding 0 where nothing was measured
    zeros = np.nan_to_num(holes, nan=0.0)
    same = roi_stats(zeros, roi, measured=~np.isnan(holes)).set_index("method")
    np.testing.assert_allclose(same["ratio"], part["ratio"], rtol=1e-12)
    assert (same["reference_pixels"] == part["reference_pixels"]).all()


def test_a_lesion_without_any_spectrum_is_not_a_lesion():
    roi = _lesions()
    img = np.where(roi, 300.0, 100.0) + np.arange(roi.size).reshape(roi.shape) % 7
    img[8:13, 8:13] = np.nan  # the first lesion was never scanned
    st = roi_stats(img, roi).set_index("method")
    assert st.loc["lesions", "n_lesion"] == 2
    assert st.loc["pixels", "roi_unmeasured"] == 25


def test_masks_of_another_shape_are_refused():
    img = np.ones((5, 5))
    with pytest.raises(LeptotwinError, match="measured mask and image differ in shape"):
        roi_stats(img, img > 0, measured=np.ones((4, 5), bool))
    with pytest.raises(LeptotwinError, match="tissue mask and image differ in shape"):
        roi_stats(img, img > 0, tissue=np.ones((5, 4), bool))


def _section(rng: np.random.Generator, *, slide: float = 9600.0, tissue: float = 16800.0):
    """An elliptical section on a slide; TIC with 25 % log-normal shot noise (virtual MALDI:
    matrix alone off tissue, 9,600 counts; matrix and lipids on tissue, 16,800)."""
    ny, nx = 50, 70
    yy, xx = np.mgrid[:ny, :nx]
    inside = ((yy - 25) / 19) ** 2 + ((xx - 35) / 28) ** 2 <= 1
    tic = np.where(inside, tissue, slide) * np.exp(rng.normal(0, 0.25, (ny, nx)))
    return tic, inside


def test_tissue_from_tic_recovers_the_section():
    tic, inside = _section(np.random.default_rng(1))
    t = tissue_mask(tic)
    assert t.split and t.separation > TISSUE_MIN_SEPARATION
    wrong = t.mask ^ inside
    assert wrong.sum() <= 0.02 * inside.size
    grown = ndimage.binary_dilation(inside, iterations=2)
    edge = grown & ~ndimage.binary_erosion(inside, iterations=2)
    assert not (wrong & ~edge).any()  # only within 2 pixels of the section's edge
    # Otsu on the raw ln TIC (no 3 x 3 median) gets many pixels wrong everywhere
    raw = np.log(tic) > threshold_otsu(np.log(tic))
    assert (raw ^ inside).sum() > 5 * wrong.sum()


def test_one_population_means_all_measured_pixels():
    """No bare slide (a scan inside the tissue): shot noise alone must not be split."""
    rng = np.random.default_rng(2)
    tic = 12000 * np.exp(rng.normal(0, 0.25, (40, 40)))
    measured = np.ones((40, 40), bool)
    measured[5:8, :] = False
    t = tissue_mask(tic, measured)
    assert not t.split and np.array_equal(t.mask, measured)
    assert t.separation < TISSUE_MIN_SEPARATION
    flat = tissue_mask(np.full((6, 6), 100.0))
    assert not flat.split and flat.mask.all()


def test_small_pieces_dropped_and_small_holes_filled():
    tic, inside = _section(np.random.default_rng(4), slide=1000.0, tissue=20000.0)
    tic[2:4, 2:4] = 20000.0  # a 4-pixel speck of debris on the slide
    tic[24:26, 34:36] = 1000.0  # a 4-pixel tear inside the section
    t = tissue_mask(tic)
    assert not t.mask[2:4, 2:4].any()
    assert t.mask[24:26, 34:36].all()
    assert (t.mask ^ inside).sum() <= 0.02 * inside.size


def test_unmeasured_pixels_are_never_tissue():
    tic, inside = _section(np.random.default_rng(5))
    measured = np.ones(tic.shape, bool)
    measured[20:30, 30:40] = False
    tic[~measured] = np.nan
    t = tissue_mask(tic)
    assert not t.mask[~measured].any()
    assert (t.mask ^ (inside & measured)).sum() <= 0.02 * inside.size
    with pytest.raises(LeptotwinError, match="measured mask and signal differ"):
        tissue_mask(tic, np.ones((3, 3), bool))


def test_mz_range_of_a_file(tmp_path):
    with ImzMLWriter(str(tmp_path / "r.imzML"), mode="processed") as w:
        w.addSpectrum(np.array([210.5, 300.0]), np.array([1.0, 2.0]), (1, 1, 1))
        w.addSpectrum(np.array([250.0, 899.25]), np.array([1.0, 2.0]), (2, 1, 1))
    with read_imzml(tmp_path / "r.imzML") as data:
        assert data.mz_range() == (210.5, 899.25)


def test_a_ring_below_detection_keeps_its_lesion():
    """Lesion-level ratio = mean lesion / mean ring over paired lesions; a ring read as 0 (drug
    below the detection limit there) is a value, not a reason to drop the lesion."""
    roi = _lesions()
    labels, _ = ndimage.label(roi, structure=np.ones((3, 3)))
    ring_level = {1: 0.0, 2: 1.0, 3: 2.0}  # lesion k's surroundings
    lesion_level = {1: 9.0, 2: 10.0, 3: 11.0}
    img = np.zeros(roi.shape)
    for k, level in ring_level.items():
        near = ndimage.binary_dilation(labels == k, np.ones((3, 3)), iterations=3) & ~roi
        img[near] = level
        img[labels == k] = lesion_level[k]
    st = roi_stats(img, roi, width_px=3).set_index("method")
    row = st.loc["lesions"]
    assert row["n_lesion"] == 3 and row["n_reference"] == 3
    assert row["ratio"] == pytest.approx(10.0 / 1.0)  # mean(9, 10, 11) / mean(0, 1, 2)
    # delta-method t interval of a ratio of paired means, by hand
    les_m, ref_m = np.array([9.0, 10.0, 11.0]), np.array([0.0, 1.0, 2.0])
    c = np.cov(les_m, ref_m, ddof=1)
    var = (c[0, 0] / 100 + c[1, 1] / 1 - 2 * c[0, 1] / 10) / 3
    t = stats.t.ppf(0.975, 2)
    assert row["lower"] == pytest.approx(10 * np.exp(-t * np.sqrt(var)))
    assert row["upper"] == pytest.approx(10 * np.exp(t * np.sqrt(var)))
