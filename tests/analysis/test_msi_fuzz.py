"""Property tests of the imzML reader (issue 12): any mutation of a valid imzML/ibd pair gives a
valid :class:`ImzMLFile` (whose spectra, ion images and pixel statistics can be read) or one
LeptotwinError, never another exception (nor a warning: pytest turns warnings into errors).

Valid pairs are the imzML.org examples (``tests/data/imzml``: continuous and processed, another
writer's layout) and two small files pyimzML writes here. Hypothesis changes, drops, duplicates
and strips cvParams (header and spectra), puts other accessions on them, changes the spectrum
count, inserts bytes, cuts the XML short or replaces it with garbage, and truncates, extends or
overwrites the ``.ibd`` (NaN and infinity patterns included). ``make test`` runs 200 cases per
property, ``make fuzz`` 10,000.

The second half holds one test per crash these properties found in the old reader, with the
exact input (each failed on the old code with the exception named in its docstring).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyimzml.ImzMLWriter import ImzMLWriter

from leptotwin.analysis.msi import ImzMLFile, read_imzml
from leptotwin.errors import LeptotwinError
from refdata import IMZML

_VALUE = re.compile(rb'value="([^"]*)"')
_CVPARAM = re.compile(rb"<cvParam\b[^>]*/>")
_ACCESSION = re.compile(rb'accession="([^"]*)"')
_ATTRIBUTE = re.compile(rb'\s(?:value|accession|ref|id)="[^"]*"')
_COUNT = re.compile(rb'(<spectrumList\b[^>]*\bcount=")(\d+)')

# accessions the reader relies on (positions, offsets, lengths, array kinds and types, modes)
_ACCESSIONS = [
    "IMS:1000050", "IMS:1000051", "IMS:1000052", "IMS:1000102", "IMS:1000103", "IMS:1000042",
    "IMS:1000043", "IMS:1000046", "IMS:1000047", "IMS:1000030", "IMS:1000031", "IMS:1000080",
    "MS:1000514", "MS:1000515", "MS:1000521", "MS:1000523", "MS:1000519", "MS:1000522",
    "MS:1000574", "MS:1000576", "MS:1000127", "MS:1000128", "MS:1000129", "MS:1000130",
    "XX:0000000", "",
]  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(["", "0", "-1", "1", "16", "abc", "1e5", "3.5", "nan", "inf", "-inf",
                     "2147483648", "4294967296", str(2**62), str(2**63), "9" * 19, "9" * 40,
                     "-99999999999", "1 2", " 7 ", "&amp;", "true", "1" * 1000]),
    st.integers(-(2**70), 2**70).map(str),
    st.text(max_size=12).filter(lambda t: '"' not in t and "<" not in t and "&" not in t),
)  # fmt: skip
_IBD_PATCHES = st.one_of(
    st.binary(min_size=1, max_size=16),
    st.sampled_from(
        [b"\xff" * 8, b"\x00\x00\xc0\x7f" * 2, b"\x00\x00\x80\x7f" * 2, b"\x00" * 8,
         np.array([np.nan, np.inf], "<f8").tobytes(), np.array([1e308], "<f8").tobytes()]
    ),
)  # fmt: skip


def _write_small(path: Path, mode: str) -> None:
    """3 x 3 pixels of a few peaks each (float64 m/z, float32 intensities), pyimzML's layout."""
    rng = np.random.default_rng(5)
    shared = np.sort(rng.uniform(200, 800, 6))
    with ImzMLWriter(str(path), mode=mode, polarity="positive") as w:
        for i in range(9):
            mz = shared if mode == "continuous" else np.sort(rng.uniform(200, 800, 1 + i % 5))
            w.addSpectrum(mz, rng.exponential(100, mz.size), (i % 3 + 1, i // 3 + 1, 1))


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, tuple[bytes, Path]]:
    """name -> (the imzML's bytes, path of its unchanged .ibd)."""
    folder = tmp_path_factory.mktemp("imzml_originals")
    out = {}
    for name in ("Example_Continuous", "Example_Processed"):
        out[name] = ((IMZML / f"{name}.imzML").read_bytes(), IMZML / f"{name}.ibd")
    for mode in ("continuous", "processed"):
        _write_small(folder / mode, mode)
        out[mode] = ((folder / f"{mode}.imzML").read_bytes(), folder / f"{mode}.ibd")
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("imzml_fuzz")


# -- mutations of the XML ---------------------------------------------------------------------


def _pick(draw, matches: list[re.Match]) -> re.Match | None:
    return matches[draw(st.integers(0, len(matches) - 1))] if matches else None


@st.composite
def _xml_mutation(draw, xml: bytes) -> bytes:
    kind = draw(
        st.sampled_from(["value", "drop", "accession", "dup", "strip", "count", "insert",
                         "cut", "span", "self-closing"])
    )  # fmt: skip
    if kind == "value" and (m := _pick(draw, list(_VALUE.finditer(xml)))):
        return xml[: m.start(1)] + draw(_VALUES).encode("utf-8", "surrogatepass") + xml[m.end(1) :]
    if kind in ("drop", "dup") and (m := _pick(draw, list(_CVPARAM.finditer(xml)))):
        return xml[: m.start()] + (m.group() * 2 if kind == "dup" else b"") + xml[m.end() :]
    if kind == "accession" and (m := _pick(draw, list(_ACCESSION.finditer(xml)))):
        return xml[: m.start(1)] + draw(st.sampled_from(_ACCESSIONS)).encode() + xml[m.end(1) :]
    if kind == "strip" and (m := _pick(draw, list(_ATTRIBUTE.finditer(xml)))):
        return xml[: m.start()] + xml[m.end() :]
    if kind == "count" and (m := _COUNT.search(xml)):
        new = draw(st.one_of(st.integers(0, 20), st.integers(0, 10**15))).__str__().encode()
        return xml[: m.start(2)] + new + xml[m.end(2) :]
    if kind == "insert":
        at = draw(st.integers(0, len(xml)))
        return xml[:at] + draw(st.binary(min_size=1, max_size=24)) + xml[at:]
    if kind == "cut":
        return xml[: draw(st.integers(0, len(xml)))]
    if kind == "span":
        at = draw(st.integers(0, len(xml)))
        return xml[:at] + xml[at + draw(st.integers(1, 400)) :]
    if kind == "self-closing":
        at = xml.find(b"<spectrum ")
        return xml[:at] + b"<spectrum/>" + xml[at:] if at >= 0 else xml
    return xml


@st.composite
def _ibd_mutation(draw, ibd: bytes) -> bytes | None:
    """None: keep the original file (linked, not copied)."""
    kind = draw(st.sampled_from(["keep", "keep", "truncate", "extend", "patch", "empty"]))
    if kind == "keep":
        return None
    if kind == "truncate":
        return ibd[: draw(st.integers(0, len(ibd)))]
    if kind == "extend":
        return ibd + draw(st.binary(min_size=1, max_size=64))
    if kind == "empty":
        return b""
    out = bytearray(ibd)
    for patch in draw(st.lists(st.tuples(st.integers(0, len(ibd)), _IBD_PATCHES), max_size=20)):
        at, data = patch
        out[at : at + len(data)] = data
    return bytes(out[: len(ibd)])


@st.composite
def _pair(draw, originals: dict[str, tuple[bytes, Path]]) -> tuple[bytes, Path, bytes | None]:
    """A mutated (imzML bytes, original .ibd path, new .ibd bytes or None)."""
    xml, ibd = originals[draw(st.sampled_from(sorted(originals)))]
    for _ in range(draw(st.integers(0, 3))):
        xml = draw(_xml_mutation(xml))
    new_ibd = draw(_ibd_mutation(ibd.read_bytes())) if draw(st.booleans()) else None
    return xml, ibd, new_ibd


def _place(scratch: Path, xml: bytes, ibd: Path, new_ibd: bytes | None) -> Path:
    (scratch / "f.imzML").write_bytes(xml)
    target = scratch / "f.ibd"
    if target.exists() or target.is_symlink():
        target.unlink()
    if new_ibd is None:
        os.symlink(ibd.resolve(), target)
    else:
        target.write_bytes(new_ibd)
    return scratch / "f.imzML"


def _read_all(path: Path) -> None:
    """Open the file and use every reading entry point; check what comes back."""
    with read_imzml(path) as data:
        _check_valid(data)


def _check_valid(data: ImzMLFile) -> None:
    n = data.n_spectra
    ny, nx = data.shape
    assert data.coords.shape == (n, 3)
    if n:
        assert data.coords[:, 0].min() >= 1 and data.coords[:, 1].min() >= 1
        assert data.coords[:, 0].max() <= nx and data.coords[:, 1].max() <= ny
    assert np.array_equal(data.mz_lengths, data.int_lengths)
    for i in {0, n - 1} if n else ():
        mz, it = data.spectrum(i)
        assert mz.size == it.size == data.mz_lengths[i]
    images = data.ion_images([301.3, 555.12, 210.0], ppm=50)
    assert images.shape == (3, ny, nx) and np.all(np.isfinite(images))
    stats = data.pixel_stats()
    assert all(np.all(np.isfinite(v)) and v.shape == (n,) for v in stats.values())
    assert data.to_image(np.ones(n)).shape == (ny, nx)
    span = data.mz_range()
    assert span is None or (np.isfinite(span).all() and span[0] <= span[1])


@given(data=st.data())
@pytest.mark.fuzz
def test_mutated_files_read_or_raise_leptotwin_error(originals, scratch, data):
    path = _place(scratch, *data.draw(_pair(originals)))
    try:
        _read_all(path)
    except LeptotwinError:
        pass


@given(xml=st.one_of(st.binary(max_size=2000), st.text(max_size=300).map(str.encode)))
@pytest.mark.fuzz
def test_garbage_xml_is_a_leptotwin_error(originals, scratch, xml):
    path = _place(scratch, xml, originals["processed"][1], None)
    with pytest.raises(LeptotwinError):
        _read_all(path)


def test_the_originals_are_valid(originals, scratch):
    """The property's starting points read without error (else it would test little)."""
    for xml, ibd in originals.values():
        _read_all(_place(scratch, xml, ibd, None))


# -- the crashes the properties found in the old reader, with their exact inputs -----------------


def _processed(scratch: Path, edit) -> Path:
    """Example_Processed with ``edit(xml text) -> xml text``, its .ibd beside it."""
    text = (IMZML / "Example_Processed.imzML").read_text(encoding="ISO-8859-1")
    (scratch / "e.imzML").write_text(edit(text), encoding="ISO-8859-1")
    shutil.copy(IMZML / "Example_Processed.ibd", scratch / "e.ibd")
    return scratch / "e.imzML"


def test_a_folder_is_not_an_imzml_file(tmp_path):
    """Old: 'imzML file not found' for a folder that exists."""
    with pytest.raises(LeptotwinError, match="is a folder, not an imzML file"):
        read_imzml(tmp_path)


def test_unknown_xml_encoding(tmp_path):
    """Old: LookupError: unknown encoding: foo."""
    (tmp_path / "e.imzML").write_bytes(b"<?xml version='1.0' encoding='foo'?><a/>")
    (tmp_path / "e.ibd").write_bytes(b"\0" * 32)
    with pytest.raises(LeptotwinError, match="not a readable imzML"):
        read_imzml(tmp_path / "e.imzML")


def test_huge_spectrum_count_is_not_allocated(tmp_path):
    """``count="1000000000000"`` on a list that does not match the template. Old: MemoryError
    (then BufferError) allocating a trillion rows in the general tokenizer."""

    def edit(t: str) -> str:
        t = t.replace('<spectrumList count="9"', '<spectrumList count="1000000000000"')
        return t.replace("<spectrum ", "<spectrum  ", 1)

    with pytest.raises(LeptotwinError, match="declares 1000000000000 spectra but holds 9"):
        read_imzml(_processed(tmp_path, edit))


def test_a_typed_cvparam_without_value(tmp_path):
    """A cvParam made 'position x' (an integer term) with no value attribute. Old: TypeError
    in pyimzML's metadata parser (``int(None)``)."""

    def edit(t: str) -> str:
        return t.replace(
            'accession="MS:1000579" name="MS1 spectrum"', 'accession="IMS:1000050" name="x"', 1
        )

    with pytest.raises(LeptotwinError, match="header could not be read"):
        read_imzml(_processed(tmp_path, edit))


def test_a_cvparam_whose_name_disagrees_with_its_accession_warns_nothing(tmp_path):
    """pyimzML warns (UserWarning, an error under pytest, a multi-line message for a user)
    'Accession ... found with incorrect name'; the reader keeps the accession's meaning."""

    def edit(t: str) -> str:
        return t.replace('name="MS1 spectrum"', 'name="flyback"', 1)

    with read_imzml(_processed(tmp_path, edit)) as data:
        assert data.n_spectra == 9


def test_no_file_description(tmp_path):
    """Old: AttributeError: 'NoneType' object has no attribute 'find'."""

    def edit(t: str) -> str:
        return re.sub(r"<fileDescription>.*?</fileDescription>", "", t, flags=re.S)

    with pytest.raises(LeptotwinError, match="no <fileDescription><fileContent>"):
        read_imzml(_processed(tmp_path, edit))


def test_huge_position_is_refused_before_allocating_the_grid(tmp_path):
    """position x = 10**9 in one spectrum. Old: ValueError 'array is too big' (or MemoryError)
    making a 3 x 10**9 image."""

    def edit(t: str) -> str:
        return t.replace('name="position x" value="1"', 'name="position x" value="1000000000"', 1)

    with pytest.raises(LeptotwinError, match="position x of 1000000000 pixels"):
        read_imzml(_processed(tmp_path, edit))


def test_huge_scan_settings_grid_is_refused(tmp_path):
    """max count of pixels x and y of 200,000 each (4e10 pixels): refused, not allocated."""

    def edit(t: str) -> str:
        return re.sub(r'(name="max count of pixels [xy]" value=")\d+', r"\g<1>200000", t)

    with pytest.raises(LeptotwinError, match="200000 x 200000 pixels .* would not fit in memory"):
        read_imzml(_processed(tmp_path, edit))


def test_array_length_that_overflows_the_range_check(tmp_path):
    """external array length 2**61: offset + 8 * length wraps round in int64, so the old check
    passed and reading raised IndexError (index -2305843009213685761 is out of bounds)."""

    def edit(t: str) -> str:
        return re.sub(
            r'(accession="IMS:1000103" name="external array length" value=")\d+',
            r"\g<1>" + str(2**61),
            t,
            count=2,
        )

    with pytest.raises(LeptotwinError, match="reaches past the end of the file"):
        read_imzml(_processed(tmp_path, edit))


def test_a_value_beyond_64_bits_is_not_wrapped_round(tmp_path):
    """An offset of 20 digits: the compiled tokenizer wrapped it round to a plausible int64."""

    def edit(t: str) -> str:
        t = t.replace("<spectrum ", "<spectrum  ", 1)  # the general tokenizer
        return re.sub(
            r'(name="external offset" value=")16"', r"\g<1>" + str(2**64 + 16) + '"', t, count=1
        )

    with pytest.raises(LeptotwinError, match="not an integer"):
        read_imzml(_processed(tmp_path, edit))


def test_nan_intensities_are_an_error_not_a_nan_image(tmp_path):
    """NaN in the .ibd where an intensity array lies: the old reader gave NaN in the ion image
    and TIC (and a RuntimeWarning), the CLI wrote them to its CSV."""
    rng = np.random.default_rng(1)
    with ImzMLWriter(str(tmp_path / "n.imzML"), mode="processed") as w:
        for i in range(4):
            w.addSpectrum(np.array([300.0, 400.0]), rng.exponential(10, 2), (i + 1, 1, 1))
    raw = bytearray((tmp_path / "n.ibd").read_bytes())
    # processed layout: 16-byte UUID, then per spectrum m/z (2 x f8) and intensity (2 x f4)
    at = 16 + 16 + 2 * 4 + 16  # second spectrum's intensities
    raw[at : at + 4] = np.array([np.nan], "<f4").tobytes()
    (tmp_path / "n.ibd").write_bytes(bytes(raw))
    with read_imzml(tmp_path / "n.imzML") as data:
        with pytest.raises(LeptotwinError, match="spectrum 1 .*not finite numbers"):
            data.ion_images([300.0], ppm=10)
        with pytest.raises(LeptotwinError, match="spectrum 1 .*not finite numbers"):
            data.pixel_stats()
        assert data.ion_images([400.0], ppm=10)[0, 0, 1] > 0  # the other peak is fine


def test_ion_image_arguments_name_the_bad_value(tmp_path):
    """Old: ``ion_images(1e308, ppm=10)`` said 'tolerance must be finite (got 10.0)': it
    multiplied 1e308 by 10 first. Now 1e308 ± 10 ppm is a window (empty); one beyond floating
    point names the m/z."""
    _write_small(tmp_path / "s", "processed")
    with read_imzml(tmp_path / "s.imzML") as data:
        assert not data.ion_images([1e308], ppm=10).any()
        with pytest.raises(LeptotwinError, match=r"mz: the window m/z 1\.7e\+308 ± ppm 1e\+06"):
            data.ion_images([1.7e308], ppm=1e6)
        with pytest.raises(LeptotwinError, match=r"mz: m/z must be positive finite.*\[-5.0\]"):
            data.ion_images([500.0, -5.0], ppm=10)
        with pytest.raises(LeptotwinError, match=r"ppm: ppm must be a finite number >= 0"):
            data.ion_images([500.0], ppm=float("nan"))
