"""Report section: the in-vitro experiments (claims C1, C3, C4, C5, C6).

The chain is the lab's: the virtual plate reader writes plate-reader exports and a layout file;
the analysis reads those files back, normalises to the plate's blanks and vehicles, fits LL.4
curves (drc parameterisation, batched) and reports absolute IC50s (dose giving 50 % of vehicle)
with delta-method intervals, and IC50 ratios with log-scale intervals. Nothing here reads the
model's internals.

Besides the viability plates: conditioned-medium AREG ELISA, qPCR, western blot densitometry and
combination matrices with synergy scores, each through its instrument files. A claim is PASS only
when every part holds, FAIL as soon as one measured part fails.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from leptotwin.analysis.curve_stats import dose_at_top_fraction, prediction_band
from leptotwin.analysis.doseresponse import DoseResponseFitter
from leptotwin.analysis.ratios import log_ratio_ci
from leptotwin.analysis.standard_curve import StandardCurveFitter
from leptotwin.analysis.synergy import SynergyResult, plot_synergy_heatmap
from leptotwin.assays.conditioned_medium import collect_conditioned_medium
from leptotwin.assays.viability import CurveSpec, design_plates, simulate_viability
from leptotwin.catalog import Catalog
from leptotwin.formats import (
    LAYOUT_COLUMNS,
    merge_plate,
    normalise_to_controls,
    read_layout,
    read_plate_reader,
    to_dose_response,
    write_layout,
    write_plate_reader,
)
from leptotwin.model.pathway import PathwayModel
from leptotwin.study.claims import ClaimResult, ClaimStatus, Readout
from leptotwin.study.protocol_schema import load_packaged_protocol
from leptotwin.study.reproduce import Context, SectionResult, register_section
from leptotwin.study.sections.combination_matrix import run_matrices
from leptotwin.study.sections.elisa_runs import assay_with_reruns
from leptotwin.study.sections.molecular import run_blot, run_qpcr

ALK_TKIS = ("alectinib", "crizotinib", "ceritinib", "lorlatinib")
EGFR_BLOCKERS = ("erlotinib", "osimertinib", "cetuximab")
PARENTAL, AR = "A925LPE3", "A925L/AR"


def load_protocol() -> dict:
    """The viability protocol (``study/protocols/viability.yaml``)."""
    return load_packaged_protocol("viability")


def protocol_curves(proto: dict) -> list[CurveSpec]:
    """Curve specs in plate order (two per plate)."""
    specs = []
    for plate in proto["plates"]:
        for line, pert, drug, partner in plate:
            specs.append(
                CurveSpec(
                    line,
                    drug,
                    perturbation=pert,
                    partner=partner,
                    partner_nM=float(proto["fixed"][partner]) if partner else 0.0,
                )
            )
    return specs


def curve_label(
    line: str, drug: str, perturbation: str = "", partner: str = "", partner_nM: float = 0.0
) -> str:
    """The label the analysis gives a curve (formats.to_dose_response convention)."""
    parts = [line, drug] + ([perturbation] if perturbation else [])
    if partner:
        parts.append(f"+ {partner} {partner_nM:g} nM")
    return " | ".join(parts)


def _layout_file(layout: pd.DataFrame) -> pd.DataFrame:
    """The design as a layout file frame (concentrations in nM, replicate numbers)."""
    out = layout.rename(columns={"conc_a_nM": "conc_a", "conc_b_nM": "conc_b"}).copy()
    out["conc_unit"] = "nM"
    out["replicate"] = out.groupby(["plate", "curve", "conc_a", "role"]).cumcount() + 1
    out.loc[out["role"] == "blank", "replicate"] = 0
    return out[list(LAYOUT_COLUMNS)]


def run_plates(
    ctx: Context, proto: dict, *, catalog: Catalog | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the protocol's plates, write the instrument files, and read them back as the lab
    would. ``catalog`` replaces the packaged catalogue (counterfactual cell lines or parameters).
    Returns the tidy dose-response table (``curve, dose, response, ...``; response in % of
    vehicle) and the per-group plate QC."""
    layout = design_plates(protocol_curves(proto), proto["doses_nM"])
    return run_layout(ctx, proto, layout, folder="viability_plates", catalog=catalog)


def run_layout(
    ctx: Context,
    proto: dict,
    layout: pd.DataFrame,
    *,
    folder: str,
    catalog: Catalog | None = None,
    mixtures: dict[str, list[tuple[str, float]]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``layout`` on the virtual reader, write the export and layout into ``folder`` of the
    output, read them back, normalise to each plate's blanks and vehicles."""
    model = PathwayModel.from_catalog(catalog) if catalog is not None else None
    wells = simulate_viability(
        layout,
        rng=ctx.rng,
        readout=proto["readout"],
        hours=float(proto["hours"]),
        model=model,
        catalog=catalog,
        mixtures=mixtures,
    )
    out = ctx.out_dir / folder
    readings = wells[["plate", "well", "signal"]].copy()
    readings["flag"] = np.where(np.isinf(readings["signal"]), "overflow", "")
    readings.loc[np.isinf(readings["signal"]), "signal"] = np.nan
    write_plate_reader(
        out / "plate_reader_export.csv",
        readings,
        metadata={"Read type": "Luminescence", "Units": "RLU", "Assay": "CellTiter-Glo, 72 h"},
    )
    write_layout(out / "layout.csv", _layout_file(layout))
    merged = merge_plate(
        read_plate_reader(out / "plate_reader_export.csv"), read_layout(out / "layout.csv")
    )
    norm = normalise_to_controls(merged, group_by=("plate", "cell_line", "perturbation"))
    return to_dose_response(norm.data), norm.qc


def ic50_table(fitter: DoseResponseFitter) -> pd.DataFrame:
    """Absolute IC50 per curve — the dose giving half the fitted vehicle level — with its interval
    and degrees of freedom."""
    ed = pd.DataFrame(dose_at_top_fraction(fitter, fraction=0.5))
    qc = fitter.qc_
    return pd.DataFrame(
        {
            "curve": fitter.curves_.astype(str),
            "ic50_nM": ed["estimate"].to_numpy(float),
            "se_nM": ed["se"].to_numpy(float),
            "lower_nM": ed["lower"].to_numpy(float),
            "upper_nM": ed["upper"].to_numpy(float),
            "df": qc["df_resid"].to_numpy(float),
            "bottom_pct": fitter.params_["c"].to_numpy(float),
            "ok": qc["ok"].to_numpy(bool),
        }
    )


def ratio(ic: pd.DataFrame, num: str, den: str, *, dose_max: float) -> dict[str, float]:
    """IC50 ratio num/den with its 95 % interval; a curve that never falls to 50 % within the
    tested range gives a lower bound (``censored``)."""
    a, b = ic.set_index("curve").loc[num], ic.set_index("curve").loc[den]
    if not np.isfinite(a["ic50_nM"]) or a["ic50_nM"] > dose_max:
        return {
            "estimate": dose_max / b["ic50_nM"],
            "lower": dose_max / b["ic50_nM"],
            "upper": np.inf,
            "censored": True,
        }
    r = log_ratio_ci(a["ic50_nM"], a["se_nM"], b["ic50_nM"], b["se_nM"], df=a["df"] + b["df"])
    return {k: float(r[k]) for k in ("estimate", "lower", "upper")} | {"censored": False}


#: What C3's numbers are (issue 13): the EGFR weight was calibrated to alectinib's shift, and the
#: pathway model treats every ALK TKI as a competitive inhibitor of the same ALK signal, so the
#: other three folds follow from that calibration by structure, not as independent predictions.
C3_PROVENANCE = (
    " (alectinib: calibrated, the EGFR weight is fitted to its shift; crizotinib, ceritinib, "
    "lorlatinib: structural consequences of that calibration, not independent predictions)"
)


def cross_resistance(ic: pd.DataFrame, line: str, *, dose_max: float) -> tuple[list[bool], str]:
    """C3's test of ``line`` against parental for each ALK TKI: IC50 ratio between 3 and 30 with
    the 95 % interval above 1 (CLAIMS.md). Returns one verdict per drug and the measured text."""
    parts, texts = [], []
    for drug in ALK_TKIS:
        r = ratio(ic, curve_label(line, drug), curve_label(PARENTAL, drug), dose_max=dose_max)
        parts.append(3.0 <= r["estimate"] <= 30.0 and r["lower"] > 1.0)
        texts.append(f"{drug} {_fmt_ratio(r)}")
    return parts, "; ".join(texts) + C3_PROVENANCE


def response_at(tidy: pd.DataFrame, curve: str, dose: float) -> float:
    """Mean normalised response (% of vehicle) of a curve's wells at one dose."""
    rows = tidy[(tidy["curve"] == curve) & np.isclose(tidy["dose"], dose)]
    return float(rows["response"].mean())


def _plot_curves(
    ax: Axes,
    fitter: DoseResponseFitter,
    tidy: pd.DataFrame,
    curves: list[tuple[str, str]],
    title: str,
) -> None:
    pos = tidy.loc[tidy["dose"] > 0, "dose"]
    lo, hi = pos.min(), pos.max()
    zero_x = lo / 10
    grid = np.logspace(np.log10(lo / 3), np.log10(hi * 1.5), 120)
    for i, (curve, name) in enumerate(curves):
        colour = f"C{i}"
        pts = tidy[tidy["curve"] == curve]
        agg = pts.groupby("dose")["response"].agg(["mean", "std"]).reset_index()
        x = np.where(agg["dose"] > 0, agg["dose"], zero_x)
        ax.errorbar(
            x, agg["mean"], yerr=agg["std"], fmt="o", ms=3.5, color=colour, capsize=2, lw=0.8
        )
        if curve in set(fitter.curves_.astype(str)):
            band = prediction_band(
                fitter, fitter.curves_[fitter.curves_.astype(str) == curve][0], grid
            )
            ax.plot(grid, band["fit"], color=colour, lw=1.4, label=name)
            if np.isfinite(band["lower"]).any():  # a flat curve: the line at its mean, no band
                ax.fill_between(grid, band["lower"], band["upper"], color=colour, alpha=0.18, lw=0)
    ax.axhline(50, color="0.6", lw=0.7, ls=":")
    ax.set_xscale("log")
    ax.set_ylim(-5, 130)
    ax.set_xlabel("dose (nM); vehicle at the left edge")
    ax.set_ylabel("viability (% of vehicle)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")


#: Antibody names as a blot is labelled, by the protein names of the strips.
ANTIBODIES = {"pEGFR": "p-EGFR", "pALK": "p-ALK", "pERK": "p-ERK", "beta-actin": "β-actin"}


def label_blot(ax: Axes, sidecar: dict) -> None:
    """Name the lanes of a blot scan drawn by ``imshow`` (sample names above the lanes, at the
    nominal lane centres of the comb; long names on two lines) and its strips (antibody, left
    of each strip), from the scan's sidecar JSON (:func:`~leptotwin.assays.blot.write_blot`)."""
    settings = sidecar["settings"]
    lanes = [str(lane["label"]) for lane in sidecar["lanes"]]
    centres = [settings["margin"] + (i + 0.5) * settings["lane_pitch"] for i in range(len(lanes))]
    ax.set_xticks(centres, [textwrap.fill(lane, 20) for lane in lanes], rotation=90, fontsize=7)
    ax.set_yticks(
        [(s["row0_px"] + s["row1_px"]) / 2 for s in sidecar["strips"]],
        [ANTIBODIES.get(s["protein"], s["protein"]) for s in sidecar["strips"]],
        fontsize=7,
    )
    ax.tick_params(axis="both", length=0, top=False, bottom=False, labeltop=True, labelbottom=False)
    for spine in ax.spines.values():
        spine.set_visible(False)


def _molecular_figure(ctx: Context, qpcr: pd.DataFrame) -> Figure:
    import json

    from leptotwin.analysis.densitometry import read_image
    from leptotwin.analysis.qpcr import plot_fold_change

    fig = Figure(figsize=(11, 4.8), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=(1.5, 1.0))  # each panel laid out alone
    plot_fold_change(qpcr, ax=left.add_subplot())
    ax = right.add_subplot()
    folder = ctx.out_dir / "blot"
    img = read_image(folder / "western_annotated.png", polarity="light-on-dark")
    ax.imshow(img.signal, cmap="gray_r" if img.inverted else "gray")
    label_blot(ax, json.loads((folder / "western.json").read_text(encoding="utf-8")))
    ax.set_title("Western blot, 4 h of drug (virtual scan; densitometry boxes)", fontsize=9)
    return fig


def _synergy_figure(result: SynergyResult) -> Figure:
    fig = Figure(figsize=(14, 3.8), layout="constrained")
    for k, drug in enumerate(EGFR_BLOCKERS):
        ax = fig.add_subplot(1, 3, k + 1)
        plot_synergy_heatmap(result, f"alectinib x {drug}", "ZIP", ax=ax)
    return fig


def _medium_figure(medium: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    groups = list(MEDIUM_GROUPS)
    for i, g in enumerate(groups):
        rows = medium[medium["group"] == g]
        x = np.full(len(rows), i) + np.linspace(-0.08, 0.08, len(rows))
        cens = rows["censored_below_lloq"].to_numpy(bool)
        ax.scatter(x[~cens], rows["areg_pg_mL"][~cens], color=f"C{i}", s=20)
        ax.scatter(x[cens], rows["areg_pg_mL"][cens], facecolors="none", edgecolors=f"C{i}", s=20)
        gm = float(np.exp(np.log(rows["areg_pg_mL"]).mean()))
        ax.hlines(gm, i - 0.25, i + 0.25, color="k", lw=1.2)
    ax.set_xticks(range(len(groups)), [g.replace(" ", "\n", 1) for g in groups], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("AREG in conditioned medium (pg/mL)")
    return fig


def _status(parts: list[bool], pending: bool) -> ClaimStatus:
    if not all(parts):
        return ClaimStatus.FAIL
    return ClaimStatus.NOT_IMPLEMENTED if pending else ClaimStatus.PASS


def _fmt_ratio(r: dict[str, float]) -> str:
    if r["censored"]:
        return f"> {r['estimate']:.0f}x (curve stays above 50 %)"
    return f"{r['estimate']:.2f}x [{r['lower']:.2f}, {r['upper']:.2f}]"


#: Quantities of the claims overview figure (readouts with one quantity share a panel).
IC50_RATIO = "alectinib IC50 ratio to parental (×)"
C3_RATIO = "IC50 ratio to parental (×)"
AR_FOLD = "A925L/AR / parental (×)"


def ratio_readout(
    name: str,
    quantity: str,
    r: dict[str, float],
    threshold: float | tuple[float, float],
    direction: str,
) -> Readout:
    """A :class:`~leptotwin.study.claims.Readout` of a ratio (``ratio`` / ``areg_ratio``), log
    axis; a censored IC50 ratio is a lower bound with an open upper end."""
    return Readout(
        name, quantity, r["estimate"], threshold, direction, r["lower"], r["upper"], log=True
    )


def cross_resistance_readouts(
    ic: pd.DataFrame, line: str, *, dose_max: float, quantity: str = C3_RATIO
) -> list[Readout]:
    """The four IC50 ratios of :func:`cross_resistance` against C3's band of 3 to 30."""
    return [
        ratio_readout(
            drug,
            quantity,
            ratio(ic, curve_label(line, drug), curve_label(PARENTAL, drug), dose_max=dose_max),
            (3.0, 30.0),
            "between",
        )
        for drug in ALK_TKIS
    ]


MEDIUM_GROUPS = {  # conditioned-medium dishes: group -> (cell line, perturbation)
    "A925LPE3": (PARENTAL, ""),
    "A925L/AR": (AR, ""),
    "A925L/AR mimic control": (AR, "mimic control"),
    "A925L/AR miR-449a mimic": (AR, "miR-449a mimic"),
}


def run_medium_elisa(
    ctx: Context, *, dishes_per_group: int | None = None, catalog: Catalog | None = None
) -> tuple[pd.DataFrame, StandardCurveFitter]:
    """Secreted AREG: conditioned medium of each group (6-well dishes; dishes per group and
    collection time from ``medium_elisa`` of the viability protocol) → virtual DuoSet ELISA →
    plate export and layout → standard-curve analysis. Returns one row per dish with the
    measured concentration (:func:`~leptotwin.study.sections.elisa_runs.assay_with_reruns`:
    samples above the curve re-assayed at 10 × dilution; values below the LLOQ reported at the
    LLOQ, an upper bound, and flagged) and the first plate's fitter."""
    design = load_protocol()["medium_elisa"]
    if dishes_per_group is None:
        dishes_per_group = int(design["dishes_per_group"])
    rows = [
        {"sample_id": f"{g[:12]}-{k + 1}", "group": g, "cell_line": line, "perturbation": pert}
        for g, (line, pert) in MEDIUM_GROUPS.items()
        for k in range(dishes_per_group)
    ]
    model = PathwayModel.from_catalog(catalog) if catalog is not None else None
    dishes = collect_conditioned_medium(
        pd.DataFrame(rows),
        rng=ctx.rng,
        hours=float(design["hours"]),
        model=model,
        catalog=catalog,
    )
    return assay_with_reruns(ctx, dishes, dilution=1.0, folder="elisa", stem="areg_elisa")


def areg_ratio(medium: pd.DataFrame, num: str, den: str) -> dict[str, float]:
    """Ratio of geometric mean AREG (num/den) with a Welch t interval on the log scale; a
    ``num`` group below the LLOQ gives an upper bound of the ratio (``censored``)."""
    a = np.log(medium.loc[medium["group"] == num, "areg_pg_mL"].to_numpy(float))
    b = np.log(medium.loc[medium["group"] == den, "areg_pg_mL"].to_numpy(float))
    va, vb_ = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = a.mean() - b.mean()
    se = np.sqrt(va + vb_)
    dof = (va + vb_) ** 2 / (va**2 / (a.size - 1) + vb_**2 / (b.size - 1)) if se > 0 else 1.0
    from scipy import stats

    t = stats.t.ppf(0.975, dof)
    censored = bool(medium.loc[medium["group"].isin([num, den]), "censored_below_lloq"].any())
    return {
        "estimate": float(np.exp(diff)),
        "lower": float(np.exp(diff - t * se)),
        "upper": float(np.exp(diff + t * se)),
        "censored": censored,
    }


def evaluate_claims(
    tidy: pd.DataFrame,
    ic: pd.DataFrame,
    proto: dict,
    medium: pd.DataFrame | None = None,
    qpcr: pd.DataFrame | None = None,
    blot: pd.DataFrame | None = None,
    synergy: SynergyResult | None = None,
) -> list[ClaimResult]:
    """C1, C3, C4, C5 and C6 from the fitted tables (thresholds: shared/domain/CLAIMS.md).

    A claim whose readouts were not all run (``medium``, ``qpcr`` or ``blot`` None) stays
    NOT_IMPLEMENTED unless a measured part fails (C6 needs the synergy scores)."""
    dmax = float(max(proto["doses_nM"]))
    fixed = proto["fixed"]
    par = curve_label(PARENTAL, "alectinib")
    ics = ic.set_index("curve")["ic50_nM"]
    claims = []

    erl_inh = 100.0 - response_at(tidy, curve_label(PARENTAL, "erlotinib"), fixed["erlotinib"])
    c1 = [5.0 <= ics[par] <= 100.0, erl_inh < 25.0]
    par_row = ic.set_index("curve").loc[par]
    claims.append(
        ClaimResult(
            "C1",
            _status(c1, False),
            f"alectinib IC50 {ics[par]:.1f} nM; erlotinib 1 µM alone {erl_inh:.1f} % inhibition",
            readouts=[
                Readout(
                    "alectinib, parental",
                    "IC50 (nM)",
                    ics[par],
                    (5.0, 100.0),
                    "between",
                    par_row["lower_nM"],
                    par_row["upper_nM"],
                    log=True,
                ),
                Readout("erlotinib 1 µM alone", "inhibition (%)", erl_inh, 25.0, "below"),
            ],
            data=["viability_ic50.csv", "viability_tidy.csv"],
        )
    )

    parts, text = cross_resistance(ic, AR, dose_max=dmax)
    claims.append(
        ClaimResult(
            "C3",
            _status(parts, False),
            text,
            readouts=cross_resistance_readouts(ic, AR, dose_max=dmax),
            data=["viability_ic50.csv", "viability_tidy.csv"],
        )
    )

    si = {
        k: ratio(ic, curve_label(AR, "alectinib", k), par, dose_max=dmax)
        for k in ("siAREG", "siEGFR")
    }
    c4 = [r["estimate"] <= 3.0 for r in si.values()]
    c4_text = "; ".join(f"{k} IC50 {_fmt_ratio(r)} of parental" for k, r in si.items())
    c4_readouts = [
        ratio_readout(f"A925L/AR + {k}", IC50_RATIO, r, 3.0, "below") for k, r in si.items()
    ]
    c4_data = ["viability_ic50.csv"]
    if medium is not None:
        up = areg_ratio(medium, "A925L/AR", "A925LPE3")
        c4.append(up["estimate"] >= 3.0)
        c4_readouts.insert(0, ratio_readout("secreted AREG (ELISA)", AR_FOLD, up, 3.0, "above"))
        c4_data.insert(0, "areg_elisa_samples.csv")
        c4_text = (
            f"secreted AREG (ELISA) AR/parental {up['estimate']:.2f}x "
            f"[{up['lower']:.2f}, {up['upper']:.2f}]; " + c4_text
        )
    pending = qpcr is None or blot is None or medium is None
    if qpcr is not None:
        q = qpcr[qpcr["group"] == AR].set_index("target")
        mir, areg_m = q.loc["miR-449a"], q.loc["AREG"]
        c4 += [
            mir["fold_change"] <= 0.5 and mir["fold_change_upper"] < 1.0,
            areg_m["fold_change"] >= 3.0,
        ]
        c4_readouts[:0] = [
            Readout(
                label,
                AR_FOLD,
                row["fold_change"],
                threshold,
                direction,
                row.get("fold_change_lower", np.nan),
                row.get("fold_change_upper", np.nan),
                log=True,
            )
            for label, row, threshold, direction in (
                ("miR-449a (qPCR)", mir, 0.5, "below"),
                ("AREG mRNA (qPCR)", areg_m, 3.0, "above"),
            )
        ]
        c4_data.insert(0, "qpcr_relative_expression.csv")
        c4_text = (
            f"qPCR miR-449a {mir['fold_change']:.2f}x [{mir['fold_change_lower']:.2f}, "
            f"{mir['fold_change_upper']:.2f}], AREG mRNA {areg_m['fold_change']:.2f}x; " + c4_text
        )
    if blot is not None:
        pe = blot[(blot["target"] == "pEGFR") & (blot["label"] == AR)]["relative"].iloc[0]
        c4.append(pe >= 3.0)
        c4_text = f"p-EGFR/EGFR (blot) AR/parental {pe:.2f}x; " + c4_text
        c4_readouts.insert(0, Readout("p-EGFR/EGFR (blot)", AR_FOLD, pe, 3.0, "above", log=True))
        c4_data.insert(0, "western_ratios.csv")
    claims.append(
        ClaimResult("C4", _status(c4, pending), c4_text, readouts=c4_readouts, data=c4_data)
    )

    mimic = ratio(ic, curve_label(AR, "alectinib", "miR-449a mimic"), par, dose_max=dmax)
    areg = ratio(
        ic,
        curve_label(PARENTAL, "alectinib", partner="AREG", partner_nM=fixed["AREG"]),
        par,
        dose_max=dmax,
    )
    c5 = [mimic["estimate"] <= 3.0, areg["estimate"] >= 3.0]
    c5_text = (
        f"mimic IC50 {_fmt_ratio(mimic)} of parental; recombinant AREG 50 ng/mL {_fmt_ratio(areg)}"
    )
    c5_readouts = [
        ratio_readout("A925L/AR + miR-449a mimic", IC50_RATIO, mimic, 3.0, "below"),
        ratio_readout("A925LPE3 + AREG 50 ng/mL", IC50_RATIO, areg, 3.0, "above"),
    ]
    c5_data = ["viability_ic50.csv"]
    if medium is not None:
        down = areg_ratio(medium, "A925L/AR mimic control", "A925L/AR miR-449a mimic")
        c5.append(down["estimate"] >= 2.0)
        bound = " (mimic below LLOQ: a lower bound)" if down["censored"] else ""
        c5_text = f"mimic lowers secreted AREG {down['estimate']:.1f}x{bound}; " + c5_text
        c5_readouts.insert(
            0,
            ratio_readout(
                "mimic control / mimic",
                "secreted AREG, fall with the mimic (×)",
                down,
                2.0,
                "above",
            ),
        )
        c5_data.insert(0, "areg_elisa_samples.csv")
    claims.append(
        ClaimResult("C5", _status(c5, medium is None), c5_text, readouts=c5_readouts, data=c5_data)
    )

    parts, texts = [], []
    c6_readouts: list[Readout] = []
    c6_data = ["viability_ic50.csv", "viability_tidy.csv"]
    for drug in EGFR_BLOCKERS:
        combo = curve_label(AR, "alectinib", partner=drug, partner_nM=fixed[drug])
        r = ratio(ic, combo, par, dose_max=dmax)
        alone = 100.0 - response_at(tidy, combo, 0.0)
        parts += [r["estimate"] <= 3.0, alone < 25.0]
        texts.append(f"+{drug}: IC50 {_fmt_ratio(r)} of parental, alone {alone:.1f} % inh.")
        c6_readouts += [
            ratio_readout(f"A925L/AR + {drug}", IC50_RATIO, r, 3.0, "below"),
            Readout(f"{drug} alone", "inhibition alone (%)", alone, 25.0, "below"),
        ]
    if synergy is not None:
        blocks = synergy.per_block[synergy.per_block["statistic"] == "mean"]
        for drug in EGFR_BLOCKERS:
            rows = blocks[blocks["block_id"] == f"alectinib x {drug}"].set_index("method")
            for method in ("Bliss", "ZIP"):
                parts.append(rows.loc[method, "score"] > 0 and rows.loc[method, "lower"] > 0)
                c6_readouts.append(
                    Readout(
                        f"{method}, × {drug}",
                        "synergy score (mean, 95 % CI)",
                        rows.loc[method, "score"],
                        0.0,
                        "above",
                        rows.loc[method, "lower"],
                        rows.loc[method, "upper"],
                    )
                )
            texts.append(
                f"x {drug} Bliss {rows.loc['Bliss', 'score']:.1f} "
                f"[{rows.loc['Bliss', 'lower']:.1f}, {rows.loc['Bliss', 'upper']:.1f}], ZIP "
                f"{rows.loc['ZIP', 'score']:.1f} [{rows.loc['ZIP', 'lower']:.1f}, "
                f"{rows.loc['ZIP', 'upper']:.1f}]"
            )
        c6_data.append("synergy_per_block.csv")
    claims.append(
        ClaimResult(
            "C6",
            _status(parts, synergy is None),
            "; ".join(texts),
            readouts=c6_readouts,
            data=c6_data,
        )
    )
    return claims


def analyse(tidy: pd.DataFrame, proto: dict) -> tuple[DoseResponseFitter, pd.DataFrame]:
    """Fit every curve; IC50 table with the fold change against the parental curve of the same
    ALK TKI (EGFR inhibitors alone get no fold)."""
    fitter = DoseResponseFitter(model="LL.4").fit(tidy[["curve", "dose", "response"]])
    ic = ic50_table(fitter)
    dmax = float(max(proto["doses_nM"]))
    folds = []
    for curve in ic["curve"]:
        drug = curve.split(" | ")[1]
        ref = curve_label(PARENTAL, drug)
        r = ratio(ic, curve, ref, dose_max=dmax) if drug in ALK_TKIS and curve != ref else None
        folds.append(
            {
                "curve": curve,
                "reference": ref if r else "",
                "fold": r["estimate"] if r else np.nan,
                "fold_lower": r["lower"] if r else np.nan,
                "fold_upper": r["upper"] if r else np.nan,
            }
        )
    return fitter, ic.merge(pd.DataFrame(folds), on="curve")


def run_experiment(
    ctx: Context, *, catalog: Catalog | None = None, elisa: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame, DoseResponseFitter, pd.DataFrame, list[ClaimResult]]:
    """The whole chain: plates (and conditioned-medium ELISA) → files → analysis → claims.
    Returns tidy data, plate QC, the fitter, the IC50 table and the claim results; the ELISA
    table is in ``ic.attrs["medium"]`` when run."""
    proto = load_protocol()
    tidy, plate_qc = run_plates(ctx, proto, catalog=catalog)
    fitter, ic = analyse(tidy, proto)
    medium = run_medium_elisa(ctx, catalog=catalog)[0] if elisa else None
    qpcr = run_qpcr(ctx, catalog=catalog) if elisa else None
    blot = run_blot(ctx, catalog=catalog) if elisa else None
    synergy = run_matrices(ctx, catalog=catalog)[1] if elisa else None
    ic.attrs.update(medium=medium, qpcr=qpcr, blot=blot, synergy=synergy)
    claims = evaluate_claims(tidy, ic, proto, medium, qpcr, blot, synergy)
    return tidy, plate_qc, fitter, ic, claims


@register_section("viability", order=20)
def viability(ctx: Context) -> SectionResult:
    """Dose-response experiments of Arai 2020 on virtual plates."""
    proto = load_protocol()
    tidy, plate_qc, fitter, ic, claims = run_experiment(ctx)
    if ctx.ensemble:
        return SectionResult("Dose-response, mechanism and combinations in vitro", claims=claims)
    par_ic = ic.set_index("curve").loc[curve_label(PARENTAL, "alectinib")]

    medium = ic.attrs.get("medium")
    f1 = Figure(figsize=(10, 7.2), layout="constrained")
    for k, drug in enumerate(ALK_TKIS):
        _plot_curves(
            f1.add_subplot(2, 2, k + 1),
            fitter,
            tidy,
            [(curve_label(PARENTAL, drug), PARENTAL), (curve_label(AR, drug), AR)],
            f"{drug}: parental vs alectinib-resistant",
        )
    fixed = proto["fixed"]
    f2 = Figure(figsize=(10, 3.8), layout="constrained")
    _plot_curves(
        f2.add_subplot(1, 2, 1),
        fitter,
        tidy,
        [
            (curve_label(PARENTAL, "alectinib"), "A925LPE3 alectinib"),
            (curve_label(AR, "alectinib"), "A925L/AR alectinib"),
        ]
        + [
            (
                curve_label(AR, "alectinib", partner=d, partner_nM=fixed[d]),
                f"A925L/AR alectinib + {d}",
            )
            for d in EGFR_BLOCKERS
        ],
        "Resensitisation of A925L/AR (C6)",
    )
    _plot_curves(
        f2.add_subplot(1, 2, 2),
        fitter,
        tidy,
        [(curve_label(PARENTAL, e), f"A925LPE3 {e} alone") for e in ("erlotinib", "osimertinib")],
        "EGFR inhibitors alone (C1)",
    )
    f3 = Figure(figsize=(10, 3.8), layout="constrained")
    _plot_curves(
        f3.add_subplot(1, 2, 1),
        fitter,
        tidy,
        [
            (curve_label(AR, "alectinib", p), f"A925L/AR {p}")
            for p in ("siControl", "siAREG", "siEGFR", "mimic control", "miR-449a mimic")
        ],
        "Knockdown and miR-449a mimic in A925L/AR (C4, C5)",
    )
    _plot_curves(
        f3.add_subplot(1, 2, 2),
        fitter,
        tidy,
        [
            (curve_label(PARENTAL, "alectinib"), "A925LPE3"),
            (
                curve_label(PARENTAL, "alectinib", partner="AREG", partner_nM=fixed["AREG"]),
                "A925LPE3 + AREG 50 ng/mL",
            ),
        ],
        "Recombinant AREG in parental cells (C5)",
    )
    text = (
        f"{len(proto['plates'])} virtual 96-well plates ({proto['hours']:g} h CellTiter-Glo, "
        f"triplicate wells, {len(proto['doses_nM'])} doses and "
        "vehicle per curve; outer ring medium blanks) were written as a plate-reader export and a "
        "layout file (`viability_plates/`), read back, normalised to each plate's blanks and "
        "vehicles, and fitted with LL.4 (drc parameterisation). IC50 is absolute: the dose "
        "giving 50 % of vehicle viability, with a 95 % delta-method interval; fold resistance is "
        "the IC50 ratio with a log-scale interval. Curves pooled over plates where the same "
        f"condition was run more than once. Parental alectinib IC50 {par_ic['ic50_nM']:.1f} nM "
        f"[{par_ic['lower_nM']:.1f}, {par_ic['upper_nM']:.1f}].\n\n"
        "One weight of the model (w_E) was calibrated to a 6-fold alectinib shift "
        "(scripts/calibrate_cells.py); every other number here is a prediction."
    )
    return SectionResult(
        title="Cell viability: resistance, resensitisation and mechanism",
        text=text,
        figures=[
            (
                "ALK TKIs in A925LPE3 and A925L/AR: mean ± SD of triplicates, LL.4 fit and "
                "95 % band (C1, C3).",
                f1,
            ),
            (
                "Alectinib in A925L/AR with EGFR inhibitors; EGFR inhibitors alone in "
                "parental cells (C1, C6).",
                f2,
            ),
            ("Mechanism: AREG and EGFR knockdown, miR-449a mimic, recombinant AREG (C4, C5).", f3),
            (
                "qPCR (ΔΔCt, Livak; miR-449a vs U6, AREG vs GAPDH; mean and 95 % CI of 3 "
                "biological replicates) and the western blot scan with its densitometry "
                "boxes (C4).",
                _molecular_figure(ctx, ic.attrs["qpcr"]),
            ),
            (
                "Alectinib × EGFR inhibitor matrices in A925L/AR (8 × 6 doses, 3 plates): "
                "ZIP δ-scores per dose (red = synergy) (C6).",
                _synergy_figure(ic.attrs["synergy"]),
            ),
            (
                "Secreted AREG in conditioned medium (6-well, 48 h), virtual DuoSet ELISA: each "
                "dish, and the group geometric mean; open symbols are below the LLOQ, plotted at "
                "the LLOQ (C4, C5).",
                _medium_figure(medium),
            ),
        ],
        tables={
            "viability_ic50.csv": ic,
            "viability_tidy.csv": tidy,
            "areg_elisa_samples.csv": medium,
            "qpcr_relative_expression.csv": ic.attrs["qpcr"],
            "western_ratios.csv": ic.attrs["blot"],
            "synergy_per_block.csv": ic.attrs["synergy"].per_block,
            "synergy_per_dose.csv": ic.attrs["synergy"].per_dose,
            "viability_fits.csv": fitter.results_,
            "viability_qc.csv": fitter.qc_.reset_index(),
            "viability_plate_qc.csv": plate_qc.reset_index(drop=True),
        },
        claims=claims,
    )
