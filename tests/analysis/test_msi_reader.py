"""The imzML reader's two ways through a spectrum list (the template learnt from the first spectrum,
and the general compiled tokenizer for anything else), its certificates, and the numpy ion-image
search, against pyimzML and brute force."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyimzml.ImzMLParser import ImzMLParser
from pyimzml.ImzMLWriter import ImzMLWriter

from leptotwin.analysis import _imzml
from leptotwin.analysis.msi import read_imzml
from leptotwin.errors import LeptotwinError
from refdata import IMZML

REF = IMZML


@pytest.fixture
def general_calls(monkeypatch):
    """Counts the files read by the general tokenizer instead of the template."""
    calls = []
    real = _imzml._scan_general

    def spy(path, *args, **kw):
        calls.append(Path(path).name)
        return real(path, *args, **kw)

    monkeypatch.setattr(_imzml, "_scan_general", spy)
    return calls


def _write(path, rng, *, n=(5, 7), peaks=25, mode="processed", **kw):
    """A pyimzML file of ny x nx pixels; returns the spectra [(mz, intensity)] in file order."""
    ny, nx = n
    spectra = []
    with ImzMLWriter(str(path), mode=mode, polarity="positive", **kw) as w:
        shared = np.sort(rng.uniform(100, 1000, peaks))
        for y in range(1, ny + 1):
            for x in range(1, nx + 1):
                k = peaks if mode == "continuous" else int(rng.integers(1, peaks))
                mz = shared if mode == "continuous" else np.sort(rng.uniform(100, 1000, k))
                it = rng.exponential(100, k)
                w.addSpectrum(mz, it, (x, y, 1))
                spectra.append((mz, it))
    return spectra


def _spectrum_span(text: str, index: int) -> tuple[int, int]:
    starts = [m.start() for m in re.finditer(r"<spectrum[\s>]", text)]
    return starts[index], text.index("</spectrum>", starts[index]) + len("</spectrum>")


def _edit_spectrum(path: Path, index: int, edit) -> None:
    """Rewrite the ``index``-th <spectrum> element of an imzML with ``edit(text) -> text``."""
    text = path.read_text(encoding="ISO-8859-1")
    s, e = _spectrum_span(text, index)
    path.write_text(text[:s] + edit(text[s:e]) + text[e:], encoding="ISO-8859-1")


def _same_as_pyimzml(path: Path, targets, tol=0.05):
    """Coordinates and every spectrum as pyimzML reads them; ion images equal to a brute-force
    sum over pyimzML's spectra (pyimzML's own getionimage returns a spectrum's first peak for a
    window below it, see ``ion_image``)."""
    with read_imzml(path) as data, ImzMLParser(str(path)) as p:
        assert [tuple(c) for c in data.coords] == list(p.coordinates)
        ref = [p.getspectrum(i) for i in range(len(p.coordinates))]
        for i, (mz_p, it_p) in enumerate(ref):
            mz, it = data.spectrum(i)
            np.testing.assert_array_equal(mz, mz_p)
            np.testing.assert_array_equal(it, it_p)
        imgs = data.ion_images(targets, tol=tol)
        for k, t in enumerate(targets):
            brute = data.to_image(
                np.array([it[(mz >= t - tol) & (mz <= t + tol)].sum(dtype=float) for mz, it in ref])
            )
            np.testing.assert_allclose(imgs[k], brute, rtol=1e-12)


@pytest.mark.parametrize("mode", ["processed", "continuous"])
def test_pyimzml_files_take_the_template(tmp_path, general_calls, mode):
    rng = np.random.default_rng(21)
    spectra = _write(tmp_path / "f.imzML", rng, mode=mode)
    _same_as_pyimzml(tmp_path / "f.imzML", [spectra[4][0][0], spectra[9][0][-1], 555.5])
    assert general_calls == []


@pytest.mark.parametrize("name", ["Example_Continuous", "Example_Processed"])
def test_imzml_org_examples_take_the_template(general_calls, name):
    """Another writer's layout (cvRef before accession, no z, offset before length)."""
    _same_as_pyimzml(REF / f"{name}.imzML", [301.3, 555.12], tol=0.1)
    assert general_calls == []


def _indent(s: str) -> str:
    return s.replace("<binaryDataArrayList", " <binaryDataArrayList", 1)


def _extra_param(s: str) -> str:
    return s.replace(
        "</scan>",
        '  <cvParam cvRef="MS" accession="MS:1000511" name="ms level" value="1"/>\n'
        "          </scan>",
        1,
    )


def _arrays_swapped(s: str) -> str:
    a = [m.span() for m in re.finditer(r"<binaryDataArray\s.*?</binaryDataArray>", s, re.S)]
    (s1, e1), (s2, e2) = a
    return s[:s1] + s[s2:e2] + s[e1:s2] + s[s1:e1] + s[e2:]


def _value_first(s: str) -> str:
    return re.sub(
        r'<cvParam (accession="IMS:1000051") (cvRef="IMS") (name="position y") (value="\d+")',
        r"<cvParam \4 \2 \3 \1",
        s,
    )


@pytest.mark.parametrize("edit", [_indent, _extra_param, _arrays_swapped, _value_first])
def test_a_spectrum_laid_out_differently_goes_to_the_general_tokenizer(
    tmp_path, general_calls, edit
):
    """One spectrum (not the first) unlike the others: the template must not match it, and the
    general tokenizer reads the file exactly as pyimzML does."""
    rng = np.random.default_rng(22)
    spectra = _write(tmp_path / "g.imzML", rng)
    _edit_spectrum(tmp_path / "g.imzML", 12, edit)
    _same_as_pyimzml(tmp_path / "g.imzML", [spectra[12][0][0], spectra[12][0][-1], 500.0])
    assert general_calls == ["g.imzML"]


def test_layout_learnt_from_an_unusual_first_spectrum(tmp_path, general_calls):
    """Attributes in another order in every spectrum (value before accession): still one
    template, learnt from the first spectrum."""
    rng = np.random.default_rng(23)
    spectra = _write(tmp_path / "v.imzML", rng, n=(3, 4))
    for i in range(12):
        _edit_spectrum(tmp_path / "v.imzML", i, _value_first)
    _same_as_pyimzml(tmp_path / "v.imzML", [spectra[5][0][2], 400.0])
    assert general_calls == []


def test_ibd_not_tiled_uses_the_spectrum_count(tmp_path, general_calls):
    """Bytes after the last array, and an empty spectrum whose data stays unreferenced: the
    arrays no longer tile the .ibd, so the <spectrum> tags are counted instead (template kept)."""
    rng = np.random.default_rng(24)
    spectra = _write(tmp_path / "t.imzML", rng)
    with open(tmp_path / "t.ibd", "ab") as fh:
        fh.write(b"\0" * 100)
    _edit_spectrum(
        tmp_path / "t.imzML",
        3,
        lambda s: re.sub(r'(name="external array length" value=")\d+', r"\g<1>0", s),
    )
    with read_imzml(tmp_path / "t.imzML") as data:
        assert data.mz_lengths[3] == 0 and data.spectrum(3)[0].size == 0
        t = spectra[3][0][0]
        img = data.ion_images([t], tol=0.01)[0]
        assert img[0, 3] == 0.0  # empty spectrum: nothing in any window
        np.testing.assert_array_equal(data.spectrum(4)[0], spectra[4][0])
    assert general_calls == []


def test_wrong_count_and_an_odd_spectrum_are_not_silently_dropped(tmp_path, general_calls):
    """The count attribute one short and one spectrum laid out differently: the template finds
    as many matches as declared, but the skipped spectrum leaves a hole in the .ibd and the tags
    number one more, so the general tokenizer runs and reports the file as corrupt."""
    rng = np.random.default_rng(25)
    _write(tmp_path / "w.imzML", rng)
    _edit_spectrum(tmp_path / "w.imzML", 20, _indent)
    text = (tmp_path / "w.imzML").read_text(encoding="ISO-8859-1")
    (tmp_path / "w.imzML").write_text(
        text.replace('<spectrumList count="35"', '<spectrumList count="34"'), encoding="ISO-8859-1"
    )
    with pytest.raises(LeptotwinError, match="more spectra than the spectrumList count"):
        read_imzml(tmp_path / "w.imzML")
    assert general_calls == ["w.imzML"]


def test_length_mismatch_is_reported_from_the_template(tmp_path, general_calls):
    rng = np.random.default_rng(26)
    _write(tmp_path / "m.imzML", rng)

    def shorter_intensity(s: str) -> str:
        i = s.index("intensityArray")
        return s[:i] + re.sub(r'(array length" value=")(\d+)', r"\g<1>1", s[i:], count=1)

    _edit_spectrum(tmp_path / "m.imzML", 6, shorter_intensity)
    with pytest.raises(LeptotwinError, match="spectrum 6: m/z and intensity arrays differ"):
        read_imzml(tmp_path / "m.imzML")
    assert general_calls == []


@pytest.mark.parametrize(
    ("mz_dtype", "int_dtype"), [(np.float64, np.float32), (np.float32, np.float64)]
)
def test_numpy_window_search_matches_brute_force(tmp_path, mz_dtype, int_dtype):
    """Windows at, between, below and above the peaks, edges inclusive, odd lengths (m/z arrays
    at every alignment), against a brute-force sum over each spectrum."""
    rng = np.random.default_rng(27)
    spectra = []
    with ImzMLWriter(
        str(tmp_path / "b.imzML"), mode="processed", mz_dtype=mz_dtype, intensity_dtype=int_dtype
    ) as w:
        for i in range(60):
            k = int(rng.integers(1, 70))
            mz = np.sort(rng.choice(np.arange(100.0, 300.0, 0.25), k, replace=False))
            it = rng.exponential(10, k)
            w.addSpectrum(mz, it, (i % 10 + 1, i // 10 + 1, 1))
            spectra.append((mz.astype(mz_dtype), it.astype(int_dtype)))
    targets = np.array([50.0, 100.0, 100.25, 150.125, 199.5, 250.0, 299.75, 300.0, 400.0])
    with read_imzml(tmp_path / "b.imzML") as data:
        for tol in (0.0, 0.125, 0.25, 3.0):
            imgs = data.ion_images(targets, tol=tol)
            for k, t in enumerate(targets):
                brute = [
                    it[(mz >= t - tol) & (mz <= t + tol)].sum(dtype=float) for mz, it in spectra
                ]
                np.testing.assert_allclose(imgs[k].ravel(), brute, rtol=1e-12)


def test_planes_of_a_3d_file(tmp_path):
    with ImzMLWriter(str(tmp_path / "z.imzML"), mode="processed") as w:
        for z in (1, 2):
            for x in (1, 2):
                w.addSpectrum(np.array([200.0, 300.0]), np.array([z * 10.0 + x, 1.0]), (x, 1, z))
    with read_imzml(tmp_path / "z.imzML") as data:
        assert data.coords[:, 2].tolist() == [1, 1, 2, 2]
        assert data.ion_images([200.0], tol=0.1, z=2)[0].tolist() == [[21.0, 22.0]]
        assert data.ion_images([200.0], tol=0.1)[0].tolist() == [[11.0, 12.0]]


def test_reading_a_file_loads_no_heavy_module(tmp_path):
    """Importing the MSI module and reading a pyimzML file load neither numba (nothing to
    compile at first use) nor pandas, matplotlib, scipy or scikit-image."""
    rng = np.random.default_rng(29)
    _write(tmp_path / "l.imzML", rng, n=(2, 2))
    code = (
        "import sys\n"
        "from leptotwin.analysis.msi import read_imzml\n"
        f"with read_imzml({str(tmp_path / 'l.imzML')!r}) as d:\n"
        "    d.ion_images([500.0], ppm=10)\n"
        "heavy = [m for m in ('numba', 'pandas', 'matplotlib', 'scipy', 'skimage')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
