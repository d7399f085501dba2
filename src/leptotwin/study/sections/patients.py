"""Report section: AREG in patients' CSF (claim C9).

Chain: virtual patients (three groups of Arai 2020) → CSF samples → virtual DuoSet ELISA at 1:2,
samples above the ULOQ re-assayed at 1:20 → plate export + layout → standard-curve analysis →
group statistics (Kruskal–Wallis, Dunn, Mann–Whitney, AUC). The whole study is then repeated
(1,000 times; 200 in quick mode) through the virtual ELISA to report the power of n = 4.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin.analysis.biomarker import compare_groups, dunn_test, kruskal_wallis, plot_groups
from leptotwin.analysis.standard_curve import StandardCurveFitter, read_elisa
from leptotwin.assays.elisa import simulate_elisa, write_elisa
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.model.patients import simulate_csf_areg, study_groups
from leptotwin.study.claims import ClaimResult, ClaimStatus
from leptotwin.study.reproduce import Context, SectionResult, register_section

ALK = "ALK+ alectinib-refractory LMC"
_ABOVE = ["above_uloq", "above_top", "overflow"]


def measure_csf(
    ctx: Context,
    patients: pd.DataFrame,
    *,
    catalog: Catalog | None = None,
    folder: str | None = None,
) -> pd.DataFrame:
    """ELISA of CSF samples at the catalogue dilution; samples above the ULOQ are re-assayed at
    10 × the dilution, up to three times (as a lab would), and a sample still above the range
    is reported at the ULOQ (right-censored, flagged). Values below the LLOQ are reported at the
    LLOQ (flagged). With ``folder``, the first pass is written as files and read back."""
    cat = catalog or load_catalog()
    dilution = cat.in_vivo_value("patients", "csf_dilution")
    samples = patients.assign(sample_id=patients["study"].astype(str) + "-" + patients["patient"])
    result = _elisa(ctx, samples, dilution, folder)
    for _ in range(3):
        high = result["flag"].isin(_ABOVE)
        if not high.any():
            break
        dilution *= 10
        again = _elisa(
            ctx, samples[samples["sample_id"].isin(result.loc[high, "sample_id"])], dilution, None
        )
        result = pd.concat([result[~high], again], ignore_index=True)
    below = result["flag"].isin(["below_lloq", "below_bottom"])
    above = result["flag"].isin(_ABOVE)
    result["areg_pg_mL"] = np.where(
        below, result["lloq_pg_mL"], np.where(above, result["uloq_pg_mL"], result["conc_pg_mL"])
    )
    result["censored_below_lloq"] = below
    result["censored_above_uloq"] = above
    keep = ["sample_id", "areg_pg_mL", "censored_below_lloq", "censored_above_uloq"]
    return samples.merge(result[[*keep, "dilution", "flag"]], on="sample_id", how="left")


def _elisa(
    ctx: Context, samples: pd.DataFrame, dilution: float, folder: str | None
) -> pd.DataFrame:
    wells = simulate_elisa(
        samples[["sample_id", "group", "true_pg_mL"]].assign(dilution=dilution), rng=ctx.rng
    )
    if folder is not None:
        out = ctx.out_dir / folder
        write_elisa(wells, out / "csf_areg_elisa_export.csv", out / "csf_areg_elisa_layout.csv")
        wells = read_elisa(out / "csf_areg_elisa_export.csv", out / "csf_areg_elisa_layout.csv")
    return StandardCurveFitter(model="4PL").fit(wells).samples_


def power(
    ctx: Context, repeats: int, *, catalog: Catalog | None = None, tumour_areg_scale: float = 1.0
) -> pd.DataFrame:
    """Repeat the whole study ``repeats`` times through the virtual ELISA; per study the
    Mann–Whitney p of the ALK group against each other group and the ratio of medians."""
    patients = simulate_csf_areg(
        study_groups(catalog, tumour_areg_scale=tumour_areg_scale),
        rng=ctx.rng,
        repeats=repeats,
        catalog=catalog,
    )
    measured = measure_csf(ctx, patients, catalog=catalog)
    rows = []
    for study, g in measured.groupby("study"):
        cmp = compare_groups(g.rename(columns={"areg_pg_mL": "value"}), reference=ALK)
        rows.append(
            {
                "study": study,
                **{f"p_vs_{r.group}": r.p_value for r in cmp.itertuples()},
                **{f"ratio_vs_{r.group}": r.median_ratio for r in cmp.itertuples()},
            }
        )
    return pd.DataFrame(rows)


def burden_sensitivity(ctx: Context, repeats: int) -> pd.DataFrame:
    """Power of the n = 4 study against the between-patient spread of LMC burden, the least
    known assumption of this section. 2.0 is the spread of CSF tumour-cell counts in LM
    (Nayak 2013, PMC3662321: median 20.7 CTC/mL, range 0.13 to > 150 in 16 patients, so a log
    SD of at least ln(150 / 0.13) / 3.5 = 2.0), an upper bound for the spread of the secreting
    burden because a count adds shedding and sampling variance."""
    base = load_catalog()
    rows = []
    for sd in (0.5, 0.7, 1.0, 1.3, 2.0):
        q = (
            base.in_vivo["patients"]
            .parameters["lmc_tumour_cells_sd"]
            .model_copy(update={"value": sd})
        )
        block = base.in_vivo["patients"].model_copy(
            update={"parameters": {**base.in_vivo["patients"].parameters, "lmc_tumour_cells_sd": q}}
        )
        cat = dataclasses.replace(base, in_vivo={**base.in_vivo, "patients": block})
        studies = power(ctx, repeats, catalog=cat)
        pcols = [c for c in studies.columns if c.startswith("p_vs_")]
        rows.append(
            {
                "lmc_burden_sd_log": sd,
                "repeats": repeats,
                "power_both_groups": float((studies[pcols] < 0.05).all(axis=1).mean()),
            }
        )
    return pd.DataFrame(rows)


def evaluate(primary: pd.DataFrame, studies: pd.DataFrame) -> ClaimResult:
    """C9: median AREG of the ALK group ≥ 3× each other group (primary study) and Mann–Whitney
    p < 0.05 against each group in ≥ 80 % of the repeated studies."""
    cmp = compare_groups(primary.rename(columns={"areg_pg_mL": "value"}), reference=ALK)
    pcols = [c for c in studies.columns if c.startswith("p_vs_")]
    both = (studies[pcols] < 0.05).all(axis=1).mean()
    parts = [bool((cmp["median_ratio"] >= 3.0).all()), both >= 0.8]
    measured = (
        "; ".join(
            f"vs {r.group}: median ratio {r.median_ratio:.1f}x, Mann–Whitney "
            f"p {r.p_value:.2g}, AUC {r.auc:.2f}"
            for r in cmp.itertuples()
        )
        + f"; power (p < 0.05 against both groups) {100 * both:.0f} % of "
        f"{len(studies)} repeated studies"
    )
    return ClaimResult("C9", ClaimStatus.PASS if all(parts) else ClaimStatus.FAIL, measured)


@register_section("patients", order=70)
def patients_csf(ctx: Context) -> SectionResult:
    """C9: CSF AREG in three patient groups, and the power of n = 4."""
    repeats = 200 if ctx.quick else 1000
    primary_patients = simulate_csf_areg(study_groups(), rng=ctx.rng)
    primary = measure_csf(ctx, primary_patients, folder="csf_elisa")
    studies = power(ctx, repeats)
    claim = evaluate(primary, studies)
    sensitivity = burden_sensitivity(ctx, 100 if ctx.quick else 300)
    data = primary.rename(columns={"areg_pg_mL": "value"})
    kw = kruskal_wallis(data)
    dunn = dunn_test(data)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    plot_groups(data, ax=ax1, ylabel="CSF AREG (pg/mL; below LLOQ plotted at LLOQ)")
    ax1.set_title(f"Primary virtual study (Kruskal–Wallis p = {kw['p_value']:.2g})", fontsize=9)
    pcols = [c for c in studies.columns if c.startswith("p_vs_")]
    for i, c in enumerate(pcols):
        ax2.hist(
            np.log10(studies[c].clip(lower=1e-12)),
            bins=40,
            alpha=0.5,
            color=f"C{i}",
            label=c.removeprefix("p_vs_"),
        )
    ax2.axvline(np.log10(0.05), color="k", ls=":")
    ax2.set_xlabel("log10 Mann–Whitney p, ALK group vs …")
    ax2.set_ylabel("repeated studies")
    ax2.legend(fontsize=7)
    ax2.set_title(f"{len(studies)} repeated studies: the power of n = 4", fontsize=9)
    dilution = load_catalog().in_vivo_value("patients", "csf_dilution")
    text = (
        "Virtual patients in the three groups of the study (n = 4, 30, 24) have CSF AREG from a "
        "non-tumour baseline plus what their CSF-bathed tumour cells secrete (A925L/AR-like "
        "miR-449a loss in the ALK group; parental-like secretion in EGFR-mutant LMC), cleared "
        "with human CSF turnover. CSF was measured with the virtual DuoSet ELISA at "
        f"1:{dilution:g} (re-assayed at 1:{10 * dilution:g} above the ULOQ), read back from the "
        "plate export and analysed with weighted 4PL standard curves. Baseline CSF AREG and LMC "
        "burden are assumptions (catalogue block `patients`); the power depends strongly on how "
        "much LMC burden varies between patients (table `csf_areg_power_sensitivity.csv`)."
    )
    return SectionResult(
        title="AREG in the CSF of patients (C9)",
        text=text,
        figures=[
            (
                "CSF AREG by group (primary study) and the distribution of Mann–Whitney p "
                "over repeated virtual studies.",
                fig,
            )
        ],
        tables={
            "csf_areg_patients.csv": primary,
            "csf_areg_dunn.csv": dunn,
            "csf_areg_power.csv": studies,
            "csf_areg_power_sensitivity.csv": sensitivity,
        },
        claims=[claim],
    )
