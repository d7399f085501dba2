"""imzML reading and MSI analysis against pyimzML on the imzML.org example files, on files
leptotwin writes, and on broken files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pyimzml.ImzMLParser import ImzMLParser, getionimage
from pyimzml.ImzMLWriter import ImzMLWriter

from leptotwin.analysis.msi import (
    adjacent_mask,
    ion_image,
    marker_mask,
    normalise,
    read_imzml,
    read_mask_png,
    roi_stats,
    suppress_hotspots,
)
from leptotwin.errors import LeptotwinError
from refdata import IMZML

REF = IMZML
EXAMPLES = ["Example_Continuous", "Example_Processed"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_files_read_like_pyimzml(name):
    """Every spectrum, the grid and the metadata equal pyimzML's reading of the imzML.org
    examples (3 x 3 pixels, 8399 points, m/z 100-800, profile, negative mode)."""
    path = REF / f"{name}.imzML"
    with read_imzml(path) as data, ImzMLParser(str(path)) as p:
        assert data.mode == name.split("_")[1].lower()
        assert data.shape == (3, 3)
        assert data.pixel_size_um == (100.0, 100.0)
        assert data.polarity == "negative" and data.spectrum_type == "profile"
        assert data.uuid == data.ibd_uuid
        assert [tuple(c) for c in data.coords] == list(p.coordinates)
        for i in range(data.n_spectra):
            mz, it = data.spectrum(i)
            mz_p, it_p = p.getspectrum(i)
            np.testing.assert_array_equal(mz, mz_p)
            np.testing.assert_array_equal(it, it_p)
        # TIC agrees with the value stored in the file for the first spectrum
        assert data.pixel_stats()["tic"][0] == pytest.approx(121.85039039868471, rel=1e-9)


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("mz", [150.0, 301.3, 555.12, 799.9])
@pytest.mark.parametrize("tol", [0.02, 0.1, 1.5])
def test_ion_images_equal_pyimzml_getionimage(name, mz, tol):
    """pyimzML sums in float32 one pixel at a time; we sum in float64: rtol 1e-6."""
    path = REF / f"{name}.imzML"
    with read_imzml(path) as data, ImzMLParser(str(path)) as p:
        ours = ion_image(data, mz, tol=tol)
        ref = getionimage(p, mz, tol=tol)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=0)


def _write_random(path, rng, *, mode, n=(7, 5), peaks=30):
    ny, nx = n
    spectra = []
    with ImzMLWriter(str(path), mode=mode, polarity="positive") as w:
        shared = np.sort(rng.uniform(100, 1000, peaks))
        for y in range(1, ny + 1):
            for x in range(1, nx + 1):
                k = peaks if mode == "continuous" else int(rng.integers(1, peaks))
                mz = shared if mode == "continuous" else np.sort(rng.uniform(100, 1000, k))
                it = rng.exponential(100, k).astype(np.float32)
                w.addSpectrum(mz, it, (x, y, 1))
                spectra.append((mz, it))
    return spectra


@pytest.mark.parametrize("mode", ["processed", "continuous"])
def test_ppm_images_on_random_files_match_brute_force(tmp_path, mode):
    rng = np.random.default_rng(11)
    spectra = _write_random(tmp_path / "r.imzML", rng, mode=mode)
    targets = [spectra[3][0][0], spectra[10][0][-1], 500.0]
    with read_imzml(tmp_path / "r.imzML") as data:
        imgs = data.ion_images(targets, ppm=20)
        assert imgs.shape == (3, 7, 5)
    for k, t in enumerate(targets):
        tol = t * 20e-6
        brute = np.array(
            [it[(mz >= t - tol) & (mz <= t + tol)].sum(dtype=float) for mz, it in spectra]
        ).reshape(7, 5)
        np.testing.assert_allclose(imgs[k], brute, rtol=1e-12)


def test_integer_mz_storage_uses_the_numpy_search(tmp_path):
    """Integer m/z arrays (allowed by imzML) take the vectorised numpy binary search."""
    rng = np.random.default_rng(12)
    spectra = []
    with ImzMLWriter(str(tmp_path / "i.imzML"), mode="processed", mz_dtype=np.int32) as w:
        for i in range(12):
            mz = np.unique(rng.integers(100, 1000, 40))
            it = rng.exponential(10, mz.size).astype(np.float32)
            w.addSpectrum(mz, it, (i % 4 + 1, i // 4 + 1, 1))
            spectra.append((mz, it))
    with read_imzml(tmp_path / "i.imzML") as data:
        assert data.mz_dtype == np.dtype("<i4")
        img = data.ion_images([500.0, 700.0], tol=3.0)
    for k, t in enumerate([500.0, 700.0]):
        brute = [it[(mz >= t - 3) & (mz <= t + 3)].sum(dtype=float) for mz, it in spectra]
        np.testing.assert_allclose(img[k].ravel(), brute, rtol=1e-12)


def test_truncated_ibd_is_an_error_not_empty_spectra(tmp_path):
    """pyimzML returns zero-length arrays past the end of a truncated .ibd (thyra PR#141)."""
    rng = np.random.default_rng(2)
    _write_random(tmp_path / "t.imzML", rng, mode="processed")
    ibd = tmp_path / "t.ibd"
    data = ibd.read_bytes()
    ibd.write_bytes(data[: len(data) // 2])
    with pytest.raises(LeptotwinError, match="reaches past the end of the file"):
        read_imzml(tmp_path / "t.imzML")


def test_missing_ibd_and_truncated_xml(tmp_path):
    rng = np.random.default_rng(3)
    _write_random(tmp_path / "m.imzML", rng, mode="processed")
    shutil.copy(tmp_path / "m.imzML", tmp_path / "lonely.imzML")
    with pytest.raises(LeptotwinError, match=r"\.ibd file of this imzML was not found"):
        read_imzml(tmp_path / "lonely.imzML")
    text = (tmp_path / "m.imzML").read_text(encoding="ISO-8859-1")
    cut = text[: text.rfind("<spectrum ", 0, len(text) // 2 + 4000)]
    (tmp_path / "c.imzML").write_text(cut, encoding="ISO-8859-1")
    shutil.copy(tmp_path / "m.ibd", tmp_path / "c.ibd")
    with pytest.raises(LeptotwinError, match="declares 35 spectra but holds"):
        read_imzml(tmp_path / "c.imzML")
    with pytest.raises(LeptotwinError, match="imzML file not found"):
        read_imzml(tmp_path / "nothing.imzML")


def test_corrupt_offset_and_length_mismatch(tmp_path):
    rng = np.random.default_rng(4)
    _write_random(tmp_path / "o.imzML", rng, mode="processed")
    text = (tmp_path / "o.imzML").read_text(encoding="ISO-8859-1")
    bad = text.replace('name="external offset" value="16"', 'name="external offset" value="9"')
    (tmp_path / "o.imzML").write_text(bad, encoding="ISO-8859-1")
    with pytest.raises(LeptotwinError, match="reaches past the end|truncated"):
        read_imzml(tmp_path / "o.imzML")


def test_tolerance_arguments_and_spectrum_index(tmp_path):
    rng = np.random.default_rng(5)
    _write_random(tmp_path / "a.imzML", rng, mode="processed")
    with read_imzml(tmp_path / "a.imzML") as data:
        with pytest.raises(LeptotwinError, match="exactly one of ppm and tol"):
            data.ion_images([500.0], ppm=5, tol=0.1)
        with pytest.raises(LeptotwinError, match="spectrum index out of range"):
            data.spectrum(999)


def test_normalise_hotspots_masks_and_degenerate_inputs():
    img = np.array([[1.0, 2.0], [3.0, 100.0]])
    tic = np.array([[1.0, 2.0], [0.0, 4.0]])
    n = normalise(img, tic)
    assert n[1, 0] == 0.0  # no spectrum: 0, not NaN
    np.testing.assert_allclose(n[0], [2.0, 2.0])
    assert suppress_hotspots(img, quantile=0.5).max() == pytest.approx(2.5)
    with pytest.raises(LeptotwinError, match="quantile must lie"):
        suppress_hotspots(img, quantile=0)
    assert not marker_mask(np.ones((3, 3))).any()
    with pytest.raises(LeptotwinError, match="differ in shape"):
        normalise(img, np.ones((3, 3)))


def test_roi_stats_recovers_a_known_ratio():
    """Six lesions at 3x the surrounding brain, Poisson counts: the lesion-level 95 % interval
    covers 3 and the pixel-level estimate is within 5 %."""
    rng = np.random.default_rng(7)
    ny, nx = 60, 80
    yy, xx = np.mgrid[:ny, :nx]
    lesion = np.zeros((ny, nx), bool)
    for cy, cx in [(10, 10), (10, 40), (10, 70), (45, 10), (45, 40), (45, 70)]:
        lesion |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 16
    mean = np.where(lesion, 300.0, 100.0)
    img = rng.poisson(mean).astype(float)
    st = roi_stats(img, lesion).set_index("method")
    assert st.loc["lesions", "n_lesion"] == 6
    assert st.loc["lesions", "lower"] < 3.0 < st.loc["lesions", "upper"]
    assert st.loc["pixels", "ratio"] == pytest.approx(3.0, rel=0.05)
    ring = adjacent_mask(lesion, width_px=2)
    assert not (ring & lesion).any() and ring.sum() > 0
    with pytest.raises(LeptotwinError, match="ROI mask and image differ"):
        roi_stats(img, lesion[:10])


def test_read_mask_png_errors(tmp_path):
    from PIL import Image

    Image.fromarray(np.eye(4, dtype=np.uint8) * 255).save(tmp_path / "m.png")
    assert read_mask_png(tmp_path / "m.png").sum() == 4
    with pytest.raises(LeptotwinError, match="mask size differs"):
        read_mask_png(tmp_path / "m.png", shape=(5, 5))
    (tmp_path / "x.png").write_text("not a png")
    with pytest.raises(LeptotwinError, match="not a readable image"):
        read_mask_png(tmp_path / "x.png")
    with pytest.raises(LeptotwinError, match="mask file not found"):
        read_mask_png(tmp_path / "none.png")
