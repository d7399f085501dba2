"""Virtual MALDI mass-spectrometry imaging of a brain section, written as imzML.

Per pixel the instrument sees (settings in ``assays.yaml``, block ``msi``):

* the drug as [M+H]⁺ with its M+1 and M+2 isotope peaks (abundances from the molecular formula),
  [M+Na]⁺ and [M+K]⁺, and its main metabolite (OSI-420 for erlotinib, AZ5104 for osimertinib;
  masses from the molecular formulas); expected counts = total tissue drug (µM) ×
  ``counts_per_uM`` × share of the ion;
* CHCA matrix ions everywhere (weaker on tissue), phospholipids and cholesterol on tissue in
  proportion to the local lipid content, the marker lipid PC 32:0 raised in tumour, and a fixed
  set of chemical-noise peaks;
* ion suppression of analytes by lipids, ``1 / (1 + k · lipid)``; a per-pixel log-normal ionisation
  factor (shot-to-shot / crystal variability) common to all ions; rare matrix hot spots;
* Poisson counting noise, Gaussian electronic noise, and centroiding that keeps peaks above a
  threshold;
* m/z error: a per-pixel calibration offset plus per-peak scatter, in ppm.

:func:`write_imzml` writes processed (each pixel its own m/z array, measured m/z) or continuous
(one shared m/z axis: the theoretical m/z of every feature, as binned/peak-matched exports are)
imzML with pyimzML's ``ImzMLWriter``, then completes the metadata pyimzML leaves out (pixel size,
dimensions, MALDI source, analyser, detector, polarity, the IMS controlled vocabulary).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin._fileio import atomic_write
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.tissue import BrainSection, TissueDrug

__all__ = [
    "FORMULAS",
    "MSIRun",
    "compound_ions",
    "isotope_pattern",
    "monoisotopic_mass",
    "simulate_msi",
    "write_imzml",
    "write_mask_png",
]

#: Molecular formulas (PubChem). Lipids and matrix for the background.
FORMULAS: dict[str, str] = {
    "alectinib": "C30H34N4O2",
    "crizotinib": "C21H22Cl2FN5O",
    "ceritinib": "C28H36ClN5O3S",
    "lorlatinib": "C21H19FN6O2",
    "erlotinib": "C22H23N3O4",
    "OSI-420": "C21H21N3O4",
    "gefitinib": "C22H24ClFN4O3",
    "osimertinib": "C28H33N7O2",
    "AZ5104": "C27H31N7O2",
    "CHCA": "C10H7NO3",
    "PC 32:0": "C40H80NO8P",
    "PC 34:1": "C42H82NO8P",
    "PC 36:1": "C44H86NO8P",
    "PC 38:6": "C46H80NO8P",
    "PC 40:6": "C48H84NO8P",
    "PE 40:6": "C45H78NO8P",
    "SM 36:1": "C41H83N2O6P",
    "cholesterol": "C27H46O",
}

# monoisotopic masses (IUPAC / AME2016) and isotopes: (nominal shift, exact shift, abundance)
_MONO = {
    "C": 12.0,
    "H": 1.00782503207,
    "N": 14.0030740048,
    "O": 15.99491461956,
    "P": 30.97376163,
    "S": 31.97207100,
    "Cl": 34.96885268,
    "F": 18.99840322,
}
_ISOTOPES = {
    "C": [(1, 1.0033548378, 0.0107)],
    "H": [(1, 1.0062767, 0.000115)],
    "N": [(1, 0.9970349, 0.00364)],
    "O": [(1, 1.0042169, 0.00038), (2, 2.0042449, 0.00205)],
    "S": [(1, 0.9993877, 0.0075), (2, 1.9957959, 0.0425)],
    "Cl": [(2, 1.9970499, 0.2424)],
    "P": [],
    "F": [],
}
_PROTON = 1.007276467
_ELECTRON = 0.000548579909
_ADDUCTS = {
    "[M+H]+": _PROTON,
    "[M+Na]+": 22.9897692809 - _ELECTRON,
    "[M+K]+": 38.96370668 - _ELECTRON,
}
_WATER = 2 * _MONO["H"] + _MONO["O"]

# background ions: (name, formula, ion, relative intensity in its class)
_MATRIX = [
    ("CHCA", "[M+H]+", 1.0),
    ("CHCA", "[M+H-H2O]+", 0.5),
    ("CHCA", "[M+Na]+", 0.3),
    ("CHCA", "[M+K]+", 0.2),
    ("CHCA", "[2M+H]+", 0.4),
]
_LIPIDS = [
    ("PC 34:1", "[M+H]+", 1.0),
    ("PC 34:1", "[M+Na]+", 0.3),
    ("PC 34:1", "[M+K]+", 0.5),
    ("PC 32:0", "[M+H]+", 0.35),
    ("PC 36:1", "[M+H]+", 0.45),
    ("PC 38:6", "[M+H]+", 0.3),
    ("PC 40:6", "[M+H]+", 0.35),
    ("PE 40:6", "[M+H]+", 0.15),
    ("SM 36:1", "[M+H]+", 0.2),
    ("cholesterol", "[M+H-H2O]+", 0.4),
]
#: The lipid whose signal marks tumour (``tumour_marker_lesion`` in ``brain_section``).
MARKER_LIPID = ("PC 32:0", "[M+H]+")


def _parse(formula: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for el, n in re.findall(r"([A-Z][a-z]?)(\d*)", formula):
        if el not in _MONO:
            raise LeptotwinError("unknown element in formula", field="formula", value=formula)
        out[el] = out.get(el, 0) + (int(n) if n else 1)
    return out


def monoisotopic_mass(formula: str) -> float:
    """Monoisotopic neutral mass of a molecular formula (e.g. ``"C22H23N3O4"`` → 393.1689)."""
    return float(sum(_MONO[el] * n for el, n in _parse(formula).items()))


def isotope_pattern(formula: str, n_peaks: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Abundances of M, M+1, … relative to M, and their mass shifts from M (Da).

    Exact to the truncation at ``n_peaks`` (every isotope of C, H, N, O, S, Cl combined)."""
    p = np.zeros(n_peaks)
    pm = np.zeros(n_peaks)
    p[0] = 1.0
    for el, count in _parse(formula).items():
        q = np.zeros(n_peaks)
        qm = np.zeros(n_peaks)
        q[0] = 1.0 - sum(a for _, _, a in _ISOTOPES[el])
        for k, dm, a in _ISOTOPES[el]:
            if k < n_peaks:
                q[k] += a
                qm[k] += a * dm
        for _ in range(count):
            new_p, new_pm = np.zeros(n_peaks), np.zeros(n_peaks)
            for i in range(n_peaks):
                for j in range(n_peaks - i):
                    new_p[i + j] += p[i] * q[j]
                    new_pm[i + j] += pm[i] * q[j] + p[i] * qm[j]
            p, pm = new_p, new_pm
    shift = np.divide(pm, p, out=np.zeros(n_peaks), where=p > 0)
    return p / p[0], shift


def _ion_mz(formula: str, ion: str) -> float:
    m = monoisotopic_mass(formula)
    if ion == "[2M+H]+":
        return 2 * m + _PROTON
    if ion == "[M+H-H2O]+":
        return m - _WATER + _PROTON
    return m + _ADDUCTS[ion]


def compound_ions(
    compound: str, *, na_ratio: float | None = None, k_ratio: float | None = None
) -> pd.DataFrame:
    """The ions of a drug or metabolite: [M+H]⁺ with M+1 and M+2, [M+Na]⁺, [M+K]⁺.

    ``na_ratio`` and ``k_ratio`` (adduct counts relative to [M+H]⁺) default to the catalogue's
    ``msi.na_adduct_ratio`` and ``msi.k_adduct_ratio``. Returns a frame ``compound, ion, mz,
    share`` (share: expected counts relative to the monoisotopic [M+H]⁺)."""
    if compound not in FORMULAS:
        raise LeptotwinError(
            "no molecular formula for this compound",
            field="compound",
            value=compound,
            expected="one of " + ", ".join(FORMULAS),
        )
    if na_ratio is None or k_ratio is None:
        s = _settings(load_catalog())
        na_ratio = s["na_adduct_ratio"] if na_ratio is None else na_ratio
        k_ratio = s["k_adduct_ratio"] if k_ratio is None else k_ratio
    f = FORMULAS[compound]
    rel, shift = isotope_pattern(f, 3)
    mh = _ion_mz(f, "[M+H]+")
    rows = [(compound, "[M+H]+", mh, 1.0)]
    rows += [(compound, f"[M+H]+ M+{k}", mh + shift[k], rel[k]) for k in (1, 2)]
    rows += [
        (compound, "[M+Na]+", _ion_mz(f, "[M+Na]+"), na_ratio),
        (compound, "[M+K]+", _ion_mz(f, "[M+K]+"), k_ratio),
    ]
    return pd.DataFrame(rows, columns=["compound", "ion", "mz", "share"])


@dataclass(frozen=True)
class MSIRun:
    """One virtual acquisition.

    Attributes
    ----------
    features : DataFrame
        One row per feature, sorted by m/z: ``compound, ion, mz, kind`` (kind: analyte, matrix,
        lipid, noise); ``mz`` theoretical.
    coords : ndarray of shape (n_pixels, 2)
        1-based (x, y), row by row (top-down, left to right).
    intensities : ndarray of shape (n_pixels, n_features)
        Centroided counts (float32); 0 where no peak was picked.
    mz : ndarray of shape (n_pixels, n_features)
        Measured m/z (theoretical with the ppm error of that pixel and peak).
    shape : tuple of int
        (ny, nx).
    pixel_um : float
    """

    features: pd.DataFrame
    coords: np.ndarray
    intensities: np.ndarray
    mz: np.ndarray
    shape: tuple[int, int]
    pixel_um: float


def _settings(cat: Catalog) -> dict[str, float]:
    return {k: q.value for k, q in cat.assays["msi"].parameters.items()}


def simulate_msi(
    tissue: TissueDrug | list[TissueDrug],
    section: BrainSection,
    *,
    rng: np.random.Generator,
    catalog: Catalog | None = None,
    noise_peaks: int | None = None,
) -> MSIRun:
    """Acquire a section on the virtual MALDI instrument.

    Parameters
    ----------
    tissue : TissueDrug or list of TissueDrug
        Drug (and metabolite) per pixel from :func:`leptotwin.model.tissue.tissue_concentrations`.
    section : BrainSection
        Geometry: tissue and lesion masks.
    rng : numpy.random.Generator
    catalog : Catalog, optional
    noise_peaks : int, optional
        Number of chemical-noise features (default: ``msi.noise_peaks`` of the catalogue).
    """
    cat = catalog or load_catalog()
    s = _settings(cat)
    drugs = tissue if isinstance(tissue, list) else [tissue]
    ny, nx = section.shape
    n = ny * nx
    tis = section.tissue.ravel()
    les = section.lesion.ravel()
    lipid = np.where(les, cat.in_vivo_value("brain_section", "lipid_lesion"), tis.astype(float))
    marker = np.where(les, cat.in_vivo_value("brain_section", "tumour_marker_lesion"), 1.0)
    supp = 1.0 / (1.0 + s["suppression_k"] * lipid)

    feats: list[tuple[str, str, float, str]] = []
    cols: list[np.ndarray] = []
    for td in drugs:
        maps = [(td.drug, td.total_nM)]
        if td.metabolite is not None:
            maps.append((td.metabolite, td.metabolite_nM))
        for comp, conc in maps:
            ions = compound_ions(comp, na_ratio=s["na_adduct_ratio"], k_ratio=s["k_adduct_ratio"])
            base = conc.ravel() / 1000.0 * s["counts_per_uM"] * supp
            for row in ions.itertuples():
                feats.append((comp, row.ion, row.mz, "analyte"))
                cols.append(base * row.share)
    mat = s["matrix_counts"] * np.where(tis, s["matrix_on_tissue"], 1.0)
    for comp, ion, rel in _MATRIX:
        feats.append((comp, ion, _ion_mz(FORMULAS[comp], ion), "matrix"))
        cols.append(mat * rel)
    for comp, ion, rel in _LIPIDS:
        feats.append((comp, ion, _ion_mz(FORMULAS[comp], ion), "lipid"))
        extra = marker if (comp, ion) == MARKER_LIPID else 1.0
        cols.append(s["lipid_counts"] * rel * lipid * extra)
    known = np.array([f[2] for f in feats])
    k_noise = int(s["noise_peaks"] if noise_peaks is None else noise_peaks)
    noise_mz: list[float] = []
    exclusion = s["noise_exclusion_ppm"] / 1e6  # ppm -> relative m/z distance
    while len(noise_mz) < k_noise:
        cand = rng.uniform(s["mz_min"], s["mz_max"], size=2 * (k_noise - len(noise_mz)) + 8)
        ok = np.min(np.abs(cand[:, None] / known[None, :] - 1.0), axis=1) > exclusion
        noise_mz.extend(cand[ok][: k_noise - len(noise_mz)].tolist())
    noise_level = rng.exponential(s["noise_counts"], size=k_noise)
    for mz_i, lvl in zip(noise_mz, noise_level, strict=True):
        feats.append(("noise", "", float(mz_i), "noise"))
        cols.append(np.full(n, lvl))

    features = pd.DataFrame(feats, columns=["compound", "ion", "mz", "kind"])
    order = np.argsort(features["mz"].to_numpy(), kind="stable")
    features = features.iloc[order].reset_index(drop=True)
    expected = np.stack([cols[k] for k in order], axis=1).astype(np.float64, copy=False)
    shot = np.exp(rng.normal(0.0, s["shot_cv"], size=n))
    hot = np.where(rng.random(n) < s["hotspot_fraction"], s["hotspot_factor"], 1.0)
    expected *= (shot * hot)[:, None]
    counts = rng.poisson(expected).astype(np.float64)
    counts += rng.normal(0.0, s["electronic_noise_sd"], size=counts.shape)
    counts[counts <= s["centroid_threshold"]] = 0.0
    theo = features["mz"].to_numpy()
    err = rng.normal(0.0, s["mass_offset_sd"], size=(n, 1)) + rng.normal(
        0.0, s["mass_error_sd"], size=counts.shape
    )
    mz = theo[None, :] * (1.0 + err * 1e-6)
    yy, xx = np.divmod(np.arange(n), nx)
    coords = np.stack([xx + 1, yy + 1], axis=1)
    return MSIRun(
        features=features,
        coords=coords,
        intensities=counts.astype(np.float32),
        mz=mz,
        shape=(ny, nx),
        pixel_um=section.pixel_um,
    )


# ------------------------------------------------------------------------------ writing
_IMS_CV = (
    '    <cv uri="https://raw.githubusercontent.com/imzML/imzML/master/imagingMS.obo" '
    'fullName="Mass Spectrometry Imaging Ontology" id="IMS" version="1.1.0"/>\n'
)


def _instrument_xml(wavelength_nm: float) -> str:
    p = '        <cvParam cvRef="MS" accession="{}" name="{}" value="{}"{}/>\n'
    nm = ' unitCvRef="UO" unitAccession="UO:0000018" unitName="nanometer"'
    return (
        '      <cvParam cvRef="MS" accession="MS:1000031" name="instrument model" value=""/>\n'
        '      <componentList count="3">\n'
        '        <source order="1">\n'
        + p.format("MS:1000075", "matrix-assisted laser desorption ionization", "", "")
        + p.format("MS:1000843", "wavelength", f"{wavelength_nm:g}", nm)
        + p.format("MS:1000834", "matrix solution", "CHCA", "")
        + "        </source>\n"
        '        <analyzer order="2">\n'
        + p.format("MS:1000484", "orbitrap", "", "")
        + "        </analyzer>\n"
        '        <detector order="3">\n'
        + p.format("MS:1000624", "inductive detector", "", "")
        + "        </detector>\n"
        "      </componentList>\n"
    )


def _complete_metadata(xml_path: Path, run: MSIRun, stem: str, wavelength_nm: float) -> None:
    """Add what pyimzML's template leaves out (pixel size, dimensions, instrument, IMS cv)."""
    text = xml_path.read_text(encoding="ISO-8859-1")
    head, sep, body = text.partition("<spectrumList")
    ny, nx = run.shape
    um = ' unitCvRef="UO" unitAccession="UO:0000017" unitName="micrometer"'
    extra = (
        f'      <cvParam cvRef="IMS" accession="IMS:1000044" name="max dimension x" '
        f'value="{round(nx * run.pixel_um)}"{um}/>\n'
        f'      <cvParam cvRef="IMS" accession="IMS:1000045" name="max dimension y" '
        f'value="{round(ny * run.pixel_um)}"{um}/>\n'
        f'      <cvParam cvRef="IMS" accession="IMS:1000046" name="pixel size (x)" '
        f'value="{run.pixel_um:g}"{um}/>\n'
        f'      <cvParam cvRef="IMS" accession="IMS:1000047" name="pixel size y" '
        f'value="{run.pixel_um:g}"{um}/>\n'
    )
    head = re.sub(
        r'(<cvParam[^>]*accession="IMS:1000043"[^>]*/>\n)',
        lambda m: m.group(1) + extra,
        head,
        count=1,
    )
    head = head.replace('<cvList count="2">\n', '<cvList count="3">\n' + _IMS_CV, 1)
    head = re.sub(
        r'(<instrumentConfiguration id="IC1">\n)\s*(</instrumentConfiguration>)',
        lambda m: m.group(1) + _instrument_xml(wavelength_nm) + "    " + m.group(2),
        head,
        count=1,
    )
    head = re.sub(
        r'(<run defaultInstrumentConfigurationRef="IC1" id=")[^"]*(")',
        lambda m: m.group(1) + stem + m.group(2),
        head,
        count=1,
    )
    body = body.replace(
        'instrumentConfigurationRef="instrumentConfiguration0"', 'instrumentConfigurationRef="IC1"'
    )
    xml_path.write_text(head + sep + body, encoding="ISO-8859-1")


def write_imzml(
    path: str | os.PathLike[str],
    run: MSIRun,
    *,
    mode: str = "processed",
    catalog: Catalog | None = None,
) -> Path:
    """Write ``run`` as ``path`` (``.imzML``) and its ``.ibd`` with pyimzML's ``ImzMLWriter``.

    ``mode="processed"``: each pixel's picked peaks at their measured m/z (float64) with float32
    intensities. ``mode="continuous"``: every pixel on the shared axis of theoretical feature
    m/z (zeros where no peak was picked). Both files are written in a temporary sibling folder
    and renamed into place (``.ibd`` first), so an interrupted write leaves nothing behind.

    Returns the path of the ``.imzML``.
    """
    from pyimzml.ImzMLWriter import ImzMLWriter

    if mode not in ("processed", "continuous"):
        raise LeptotwinError(
            "unknown imzML mode", field="mode", value=mode, expected="processed or continuous"
        )
    target = Path(path)
    if target.suffix.lower() != ".imzml":
        target = target.with_suffix(".imzML")
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = target.stem
    s = _settings(catalog or load_catalog())
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=target.parent))
    try:
        theo = run.features["mz"].to_numpy()
        with ImzMLWriter(
            str(tmp / stem),
            mz_dtype=np.float64,
            intensity_dtype=np.float32,
            mode=mode,
            spec_type="centroid",
            polarity="positive",
        ) as w:
            for p in range(run.coords.shape[0]):
                xy = (int(run.coords[p, 0]), int(run.coords[p, 1]), 1)
                it = run.intensities[p]
                if mode == "continuous":
                    w.addSpectrum(theo, it, xy)
                    continue
                keep = np.flatnonzero(it > 0)
                if keep.size == 0:  # an empty spectrum: keep the largest feature at 0 counts
                    keep = np.array([int(np.argmax(it))])
                mz = run.mz[p, keep]
                o = np.argsort(mz, kind="stable")
                w.addSpectrum(mz[o], it[keep][o], xy)
        _complete_metadata(tmp / f"{stem}.imzML", run, stem, s["laser_wavelength"])
        os.replace(tmp / f"{stem}.ibd", target.with_suffix(".ibd"))
        os.replace(tmp / f"{stem}.imzML", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_mask_png(path: str | os.PathLike[str], mask: np.ndarray) -> Path:
    """Write a bool mask (rows y, columns x) as an 8-bit PNG: 255 inside, 0 outside."""
    from PIL import Image

    arr = np.asarray(mask).astype(bool).astype(np.uint8) * 255
    return atomic_write(path, lambda p: Image.fromarray(arr, mode="L").save(p, format="PNG"))
