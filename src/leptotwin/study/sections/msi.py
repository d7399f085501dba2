"""Report section: mass-spectrometry imaging of EGFR TKIs in leptomeningeal lesions (claim C8).

The chain is the lab's: for each drug a virtual mouse is dosed daily (regimens of the LMC
protocol, ``lmc_mouse.yaml``) and sacrificed at the sampling time; its brain section (tissue
model: intact blood–brain barrier in parenchyma, leaky blood–tumour barrier and tissue binding in
lesions) goes through the virtual MALDI instrument, which writes imzML (processed mode; erlotinib
also continuous) and a lesion mask PNG under ``msi/``. The analysis reads those files back: ion
image of [M+H]⁺ at ± 10 ppm, hot-spot suppression, tissue from the phospholipid PC 34:1, lesion
mask from the PNG (and, as a check, from the tumour-marker lipid), lesion / adjacent-brain ratio
with a 95 % t interval over lesions. Nothing here reads the tissue model's internals for the
claim; its true ratio is shown beside the measured one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin.analysis.msi import (
    ion_image,
    marker_mask,
    normalise,
    plot_ion_image,
    read_imzml,
    read_mask_png,
    roi_stats,
    suppress_hotspots,
)
from leptotwin.assays.msi import FORMULAS, compound_ions, simulate_msi, write_imzml, write_mask_png
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.model.tissue import TissueParams, make_section, tissue_concentrations
from leptotwin.study.claims import ClaimResult, ClaimStatus
from leptotwin.study.protocol_schema import load_packaged_protocol
from leptotwin.study.reproduce import Context, SectionResult, register_section

DRUGS = ("erlotinib", "osimertinib", "alectinib")
CLAIM_DRUGS = ("erlotinib", "osimertinib")
PPM = 10.0
RATIO_MIN = 1.5
#: tissue from the base brain lipid, tumour from the marker lipid (assays.msi backgrounds)
TISSUE_ION = ("PC 34:1", "[M+H]+")
MARKER_ION = ("PC 32:0", "[M+H]+")
QUICK_PIXEL_UM = 200.0


def load_regimens() -> dict[str, str]:
    """Mouse regimens of the LMC protocol (``study/protocols/lmc_mouse.yaml``)."""
    return dict(load_packaged_protocol("lmc_mouse")["regimens"])


def _mz(compound: str, ion: str) -> float:
    from leptotwin.assays.msi import _ion_mz

    return _ion_mz(FORMULAS[compound], ion)


def analyse_file(path, mask_png, drug: str) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Read one imzML back and measure lesion vs adjacent brain for ``drug``'s [M+H]⁺.

    Returns the ROI table (rows: ROI source × normalisation × method) and the images."""
    mh = float(compound_ions(drug)["mz"].iloc[0])
    with read_imzml(path) as data:
        drug_img = ion_image(data, mh, ppm=PPM)
        tissue_img = ion_image(data, _mz(*TISSUE_ION), ppm=PPM)
        marker_img = ion_image(data, _mz(*MARKER_ION), ppm=PPM)
        tic = data.to_image(data.pixel_stats()["tic"])
        measured = data.to_image(np.ones(data.n_spectra), fill=0.0) > 0  # pixels with a spectrum
        shape = data.shape
    lesion = read_mask_png(mask_png, shape=shape)
    tissue = marker_mask(suppress_hotspots(tissue_img)) | lesion
    rel = marker_img / np.maximum(tissue_img, 1.0)  # hot spots cancel in the ratio
    lesion_marker = marker_mask(rel, within=tissue)
    raw = suppress_hotspots(drug_img, mask=tissue)
    tic_n = suppress_hotspots(normalise(drug_img, tic), mask=tissue)
    frames = []
    for roi_name, roi in (("mask PNG", lesion), ("marker ion", lesion_marker)):
        for norm, img in (("none", raw), ("TIC", tic_n)):
            if roi_name == "marker ion" and norm == "TIC":
                continue
            st = roi_stats(img, roi, tissue=tissue, measured=measured)
            st.insert(0, "normalisation", norm)
            st.insert(0, "roi", roi_name)
            frames.append(st)
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "mz", mh)
    table.insert(0, "drug", drug)
    images = {"drug": raw, "lesion": lesion, "tissue": tissue, "marker_lesion": lesion_marker}
    return table, images


def run_drug(
    ctx: Context,
    drug: str,
    regimen: str,
    *,
    params: TissueParams | None = None,
    catalog: Catalog | None = None,
    continuous: bool = False,
    tag: str = "",
) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, float]]:
    """One drug through the chain: mouse → section → instrument → files → analysis."""
    cat = catalog or load_catalog()
    section = make_section(ctx.rng, pixel_um=QUICK_PIXEL_UM if ctx.quick else None, catalog=cat)
    td = tissue_concentrations(drug, section, regimen=regimen, params=params, catalog=cat)
    run = simulate_msi(td, section, rng=ctx.rng, catalog=cat)
    out = ctx.out_dir / "msi"
    stem = f"{drug}{tag}"
    path = write_imzml(out / f"{stem}.imzML", run, mode="processed", catalog=cat)
    mask = write_mask_png(out / f"{stem}_lesion_mask.png", section.lesion)
    table, images = analyse_file(path, mask, drug)
    # the tissue mask the analysis used, so `leptotwin msi ... --tissue` reproduces this table
    write_mask_png(out / f"{stem}_tissue_mask.png", images["tissue"])
    table.insert(2, "storage", "processed")
    if continuous:
        cpath = write_imzml(out / f"{stem}_continuous.imzML", run, mode="continuous", catalog=cat)
        ct, _ = analyse_file(cpath, mask, drug)
        ct.insert(2, "storage", "continuous")
        table = pd.concat([table, ct], ignore_index=True)
    truth = {"drug": drug, "regimen": regimen, **td.summary}
    return table, images, truth


def claim_row(table: pd.DataFrame, drug: str) -> pd.Series:
    """The row the claim uses: processed file, mask PNG, raw intensities, lesion-level CI."""
    sel = (
        (table["drug"] == drug)
        & (table["storage"] == "processed")
        & (table["roi"] == "mask PNG")
        & (table["normalisation"] == "none")
        & (table["method"] == "lesions")
    )
    return table[sel].iloc[0]


def evaluate_c8(table: pd.DataFrame) -> ClaimResult:
    """C8: lesion / adjacent brain > 1.5 with the 95 % CI excluding 1, erlotinib and
    osimertinib (NOT_IMPLEMENTED when one of them was not imaged and the other holds)."""
    parts, texts = [], []
    missing = [d for d in CLAIM_DRUGS if d not in set(table["drug"])]
    for drug in CLAIM_DRUGS:
        if drug in missing:
            continue
        r = claim_row(table, drug)
        ok = bool(r["ratio"] > RATIO_MIN and r["lower"] > 1.0)
        parts.append(ok)
        texts.append(f"{drug} {r['ratio']:.2f} [{r['lower']:.2f}, {r['upper']:.2f}]")
    status = ClaimStatus.PASS if all(parts) else ClaimStatus.FAIL
    if missing and all(parts):
        status = ClaimStatus.NOT_IMPLEMENTED
        texts.append("not imaged: " + ", ".join(missing))
    return ClaimResult("C8", status, "lesion / adjacent brain: " + "; ".join(texts))


def run_experiment(
    ctx: Context,
    *,
    drugs: tuple[str, ...] = DRUGS,
    counterfactual: dict[str, bool] | None = None,
    catalog: Catalog | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict[str, np.ndarray]], ClaimResult]:
    """All drugs; ``counterfactual`` (``{"leaky": False, "binding": False}``) removes the leaky
    lesion barrier and/or tumour binding. Returns ROI table, truth table, images, C8."""
    cat = catalog or load_catalog()
    regs = load_regimens()
    tables, truths, images = [], [], {}
    for drug in drugs:
        params = None
        tag = ""
        if counterfactual is not None:
            params = TissueParams.from_catalog(drug, cat).counterfactual(**counterfactual)
            tag = "_counterfactual"
        t, im, tr = run_drug(
            ctx,
            drug,
            regs[drug],
            params=params,
            catalog=cat,
            continuous=(drug == "erlotinib" and not ctx.quick and counterfactual is None),
            tag=tag,
        )
        tables.append(t)
        truths.append(tr)
        images[drug] = im
    table = pd.concat(tables, ignore_index=True)
    return table, pd.DataFrame(truths), images, evaluate_c8(table)


def _figure_images(images: dict[str, dict[str, np.ndarray]], pixel_um: float) -> Figure:
    fig = Figure(figsize=(12, 3.4), layout="constrained")
    for k, (drug, im) in enumerate(images.items()):
        plot_ion_image(
            im["drug"],
            mask=im["lesion"],
            ax=fig.add_subplot(1, len(images), k + 1),
            title=f"{drug} [M+H]+ ± {PPM:g} ppm",
            pixel_um=pixel_um,
        )
    return fig


def _figure_ratios(table: pd.DataFrame, truth: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for k, drug in enumerate(truth["drug"]):
        r = claim_row(table, drug)
        ax.errorbar(
            k,
            r["ratio"],
            yerr=[[r["ratio"] - r["lower"]], [r["upper"] - r["ratio"]]],
            fmt="o",
            color="C0",
            capsize=4,
            label="measured (95 % CI)" if k == 0 else None,
        )
        tr = truth.set_index("drug").loc[drug, "true_ratio"]
        ax.plot(k, tr, "x", color="C3", label="tissue model (total drug)" if k == 0 else None)
    ax.axhline(RATIO_MIN, color="0.5", ls=":", lw=0.8)
    ax.axhline(1.0, color="0.7", lw=0.8)
    ax.set_xticks(range(len(truth)), list(truth["drug"]))
    ax.set_ylabel("lesion / adjacent brain")
    ax.legend(fontsize=8)
    return fig


@register_section("msi", order=60)
def msi(ctx: Context) -> SectionResult:
    """Drug distribution in leptomeningeal lesions by virtual MALDI-MSI (C8)."""
    cat = load_catalog()
    table, truth, images, c8 = run_experiment(ctx, catalog=cat)
    pixel = QUICK_PIXEL_UM if ctx.quick else cat.in_vivo_value("brain_section", "pixel_size")
    kp_brain = ", ".join(
        f"{d} {TissueParams.from_catalog(d, cat).kp_uu_brain:g}" for d in truth["drug"]
    )
    text = (
        "Each drug was given to a virtual mouse with leptomeningeal lesions at the LMC "
        "protocol's dose, daily for "
        f"{cat.in_vivo_value('brain_section', 'days_dosed'):g} days; the brain was sectioned "
        f"{cat.in_vivo_value('brain_section', 'sampling_time'):g} h after the last dose. In "
        "parenchyma the unbound drug is Kp,uu,brain × unbound plasma (intact blood–brain "
        f"barrier; {kp_brain}); in lesions it follows the "
        "PK lesion compartment (leaky blood–tumour barrier); total tissue drug is "
        "unbound × (1 + binding) with the same binding in tumour as in brain. The virtual MALDI "
        "instrument (CHCA, positive mode, centroided, ppm mass error, lipid ion suppression, "
        "Poisson and electronic noise, hot spots) wrote processed-mode imzML and a lesion mask "
        "PNG per drug (`msi/`; erlotinib also in continuous mode). The analysis read the files "
        f"back: [M+H]+ ion image at ± {PPM:g} ppm, 99th-percentile hot-spot suppression, tissue "
        "from PC 34:1, lesions from the mask PNG (and, as a check, from the tumour-marker "
        "lipid PC 32:0), each lesion against the brain within 3 pixels of it; the ratio is the "
        "geometric mean over lesions with a t interval. C8 uses raw intensities (TIC "
        "normalisation shown alongside: lesions carry less lipid, so TIC shifts the ratio).\n\n"
        "Counterfactual (tests): without the leaky barrier or without tumour binding the "
        "lesion/brain ratio falls to ≤ 1 and C8 fails."
    )
    return SectionResult(
        title="Mass-spectrometry imaging: TKIs in leptomeningeal lesions",
        text=text,
        figures=[
            (
                "Ion images of each drug's [M+H]+ (raw counts, hot spots clipped); white: lesion "
                "mask.",
                _figure_images(images, pixel),
            ),
            (
                "Lesion / adjacent-brain ratio (95 % CI over lesions) against the tissue model's "
                "total-drug ratio; dotted: the C8 threshold 1.5.",
                _figure_ratios(table, truth),
            ),
        ],
        tables={"msi_roi_stats.csv": table, "msi_tissue_truth.csv": truth},
        claims=[c8],
    )
