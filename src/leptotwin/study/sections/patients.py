"""Report section: AREG in patients' CSF (claim C9).

Chain: virtual patients (three groups of Arai 2020) → CSF samples → virtual DuoSet ELISA at 1:2,
samples above the ULOQ re-assayed at 1:20 → plate export + layout → standard-curve analysis →
group statistics (Kruskal–Wallis, Dunn). C9 is judged on the population effect (10,000 virtual
patients per group), on how often a study of the published size reproduces the finding (exact
Mann–Whitney with ties, Holm-adjusted; 1,000 repeats, 200 in quick mode), and on two
counterfactuals that must not reproduce it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from leptotwin.analysis.biomarker import (
    dunn_test,
    exact_mannwhitney,
    kruskal_wallis,
    plot_groups,
)
from leptotwin.analysis.survival import adjust_pvalues
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.patients import PatientGroup, simulate_csf_areg, study_groups
from leptotwin.study.claims import ClaimResult, ClaimStatus, Readout
from leptotwin.study.reproduce import Context, SectionResult, register_section
from leptotwin.study.schedule_sweep import wilson_interval
from leptotwin.study.sections.elisa_runs import assay_with_reruns

ALK = "ALK+ alectinib-refractory LMC"
# C9's criterion (CLAIMS.md): population effect, reproduction probability, counterfactuals
MIN_POPULATION = 10_000  # virtual patients per group for (a)
# in a claims-ensemble member: P(ALK > other) then has a Monte Carlo SE below 0.01
ENSEMBLE_POPULATION = 2_000
MIN_MEDIAN_RATIO = 3.0
MIN_P_HIGHER = 0.8  # P(ALK patient > other patient)
ALPHA = 0.05  # Holm-adjusted, one-sided exact Mann–Whitney
MIN_REPRODUCED = 0.5
MAX_COUNTERFACTUAL = 0.1
COUNTERFACTUALS = ("no AREG", "miR-449a restored")
BURDEN_SD = "patients.parameters.lmc_tumour_cells_sd"
BURDEN_SD_GRID = (0.5, 0.7, 1.0, 1.3, 2.0)


def measure_csf(
    ctx: Context,
    patients: pd.DataFrame,
    *,
    catalog: Catalog | None = None,
    folder: str | None = None,
) -> pd.DataFrame:
    """ELISA of CSF samples at the catalogue dilution, laid out and reported as a lab would.

    Each study's samples go on the plates together, in random order (groups are never assayed on
    plates of their own: a plate's standard-curve error would then shift one group only, and a
    study with no true difference would look like one). Samples above the ULOQ are re-assayed at
    10 × the dilution, up to three times, and a sample still above the range is reported at the
    ULOQ (right-censored, flagged). Below the range a study has one reporting limit, the highest
    LLOQ of its plates at the first dilution: every value below it is reported at it and flagged,
    so that censored values are ties whichever plate they were read on. With ``folder``, the
    first pass is written as files and read back."""
    cat = catalog or load_catalog()
    dilution = cat.in_vivo_value("patients", "csf_dilution")
    samples = patients.assign(sample_id=patients["study"].astype(str) + "-" + patients["patient"])
    order = np.lexsort((ctx.rng.permutation(len(samples)), samples["study"].to_numpy()))
    result, _ = assay_with_reruns(
        ctx, samples.iloc[order], dilution=dilution, folder=folder, stem="csf_areg_elisa"
    )
    keep = ["sample_id", "areg_pg_mL", "censored_below_lloq", "censored_above_uloq"]
    out = samples.merge(
        result[[*keep, "plate", "dilution", "flag", "lloq_pg_mL"]], on="sample_id", how="left"
    )
    first = out["dilution"] == dilution
    limit = out["lloq_pg_mL"].where(first).groupby(out["study"]).transform("max")
    below = (out["areg_pg_mL"] <= limit) & out["areg_pg_mL"].notna()
    out["areg_pg_mL"] = out["areg_pg_mL"].where(~below, limit)
    out["censored_below_lloq"] = out["censored_below_lloq"].fillna(False).astype(bool) | below
    return out.rename(columns={"lloq_pg_mL": "plate_lloq_pg_mL"}).assign(
        reporting_limit_pg_mL=limit
    )


def _groups(
    catalog: Catalog | None, counterfactual: str | None, sizes: dict[str, int] | None = None
) -> list[PatientGroup]:
    """The study's groups, or a counterfactual of them: ``"no AREG"`` (tumour cells secrete no
    AREG) or ``"miR-449a restored"`` (the ALK group's tumours at the miR-449a level of the
    EGFR-mutant group's, i.e. LMC without the loss; the parental level at the catalogue point)."""
    if counterfactual not in (None, *COUNTERFACTUALS):
        raise LeptotwinError(
            "unknown counterfactual",
            field="counterfactual",
            value=counterfactual,
            expected="one of " + ", ".join(COUNTERFACTUALS),
        )
    scale = 0.0 if counterfactual == "no AREG" else 1.0
    groups = study_groups(catalog, tumour_areg_scale=scale, sizes=sizes)
    if counterfactual == "miR-449a restored":
        # restored to the level of LMC without the loss: the EGFR-mutant group's tumours (the
        # parental level at the catalogue point; their own prior elsewhere, so the comparison
        # is with like, not with an A925L reference the other group need not share)
        other = (catalog or load_catalog()).in_vivo_value("patients", "egfr_mutant_mir449a")
        groups = [dataclasses.replace(g, mir449a=other) if g.name == ALK else g for g in groups]
    return groups


def _measured(
    ctx: Context,
    repeats: int,
    *,
    catalog: Catalog | None,
    counterfactual: str | None,
    sizes: dict[str, int] | None = None,
) -> pd.DataFrame:
    patients = simulate_csf_areg(
        _groups(catalog, counterfactual, sizes), rng=ctx.rng, repeats=repeats, catalog=catalog
    )
    return measure_csf(ctx, patients, catalog=catalog)


def population_effect(
    ctx: Context,
    n_per_group: int,
    *,
    catalog: Catalog | None = None,
    counterfactual: str | None = None,
) -> pd.DataFrame:
    """C9 (a): the effect in the virtual population, ``n_per_group`` patients per group measured
    through the virtual ELISA. One row per other group: ``group, n, median_ratio`` (ALK median /
    group median) and ``p_alk_higher`` = P(ALK patient > other patient) + ½ P(tie)."""
    sizes = {g.name: n_per_group for g in study_groups(catalog)}
    m = _measured(ctx, 1, catalog=catalog, counterfactual=counterfactual, sizes=sizes)
    # samples without a result (their plate's curve failed) are missing; n counts patients
    values = {g: v.to_numpy(float) for g, v in m.groupby("group")["areg_pg_mL"]}
    n_patients = {g: v.size for g, v in values.items()}
    values = {g: v[np.isfinite(v)] for g, v in values.items()}
    alk = values[ALK]
    rows = []
    for name, v in values.items():
        if name == ALK:
            continue
        if not (alk.size and v.size):
            rows.append(
                {
                    "group": name,
                    "n": n_patients[name],
                    "n_alk": n_patients[ALK],
                    "median_ratio": float("nan"),
                    "p_alk_higher": float("nan"),
                }
            )
            continue
        # P(X > Y) + ½ P(X = Y) from ranks: U / (n_x n_y)
        ranks = stats.rankdata(np.concatenate([alk, v]))
        u = ranks[: alk.size].sum() - alk.size * (alk.size + 1) / 2
        rows.append(
            {
                "group": name,
                "n": int(n_patients[name]),
                "n_alk": int(n_patients[ALK]),
                "n_missing": int(n_patients[name] - v.size + n_patients[ALK] - alk.size),
                "median_alk_pg_mL": float(np.median(alk)),
                "median_group_pg_mL": float(np.median(v)),
                "median_ratio": float(np.median(alk) / np.median(v)),
                "p_alk_higher": float(u / (alk.size * v.size)),
            }
        )
    return pd.DataFrame(rows)


def _values_by_study(measured: pd.DataFrame) -> dict[int, dict[str, np.ndarray]]:
    """``{study: {group: finite AREG values}}``, studies and groups sorted, each group's values in
    row order (what ``groupby("study")`` then ``groupby("group")`` give, in one sort). A sample
    without a result (its plate's standard curve failed) is missing, as in a lab."""
    if not len(measured):
        return {}
    s_code, studies = pd.factorize(measured["study"], sort=True)
    g_code, groups = pd.factorize(measured["group"], sort=True)
    order = np.lexsort((g_code, s_code))  # stable: row order within a cell
    cell = (s_code * len(groups) + g_code)[order]
    value = measured["areg_pg_mL"].to_numpy(float)[order]
    starts = np.r_[0, np.flatnonzero(np.diff(cell)) + 1]
    out: dict[int, dict[str, np.ndarray]] = {}
    for a, b in zip(starts, np.r_[starts[1:], cell.size], strict=True):
        s_i, g_i = divmod(int(cell[a]), len(groups))
        v = value[a:b]
        out.setdefault(int(studies[s_i]), {})[groups[g_i]] = v[np.isfinite(v)]
    return out


def repeated_studies(
    ctx: Context,
    repeats: int,
    *,
    catalog: Catalog | None = None,
    counterfactual: str | None = None,
) -> pd.DataFrame:
    """C9 (b): the 4 / 30 / 24 study repeated ``repeats`` times through the virtual ELISA.

    Per study and other group: the exact one-sided Mann–Whitney p of "ALK higher" (ties from
    censoring at the LLOQ/ULOQ counted exactly), Holm-adjusted over the two comparisons, and the
    ratio of medians; ``reproduced`` when both adjusted p < 0.05 and the ALK median is highest."""
    measured = _measured(ctx, repeats, catalog=catalog, counterfactual=counterfactual)
    rows = []
    for study, values in _values_by_study(measured).items():
        alk = values.pop(ALK)
        others = sorted(values)
        if not all(v.size for v in (alk, *values.values())):
            # a group without one readable sample: the study has no result
            rows.append({"study": int(study), "reproduced": False})
            continue
        p = [exact_mannwhitney(alk, values[o], alternative="greater")["p_value"] for o in others]
        p_adj = adjust_pvalues(np.array(p), "holm")
        ratios = [np.median(alk) / np.median(values[o]) for o in others]
        row: dict[str, float | bool | int] = {"study": int(study)}
        for o, pi, pa, r in zip(others, p, p_adj, ratios, strict=True):
            row[f"p_vs_{o}"] = float(pi)
            row[f"p_holm_vs_{o}"] = float(pa)
            row[f"ratio_vs_{o}"] = float(r)
        row["reproduced"] = bool((p_adj < ALPHA).all() and min(ratios) > 1.0)
        rows.append(row)
    return pd.DataFrame(rows)


def burden_grid(catalog: Catalog | None = None) -> pd.DataFrame:
    """The between-patient spreads of log LMC burden the reproduction table runs at: a fixed grid
    across the prior (``BURDEN_SD_GRID``) plus, where the calibration fitted the spread, its
    posterior median and central 95 % interval (``calibration``), so that (b) is read at the
    spread the calibration supports. Columns ``lmc_burden_sd_log, from`` (sorted)."""
    cat = catalog or load_catalog()
    rows = [{"lmc_burden_sd_log": sd, "from": "grid"} for sd in BURDEN_SD_GRID]
    post = cat.posterior_of(BURDEN_SD)
    if post is not None:
        rows += [
            {"lmc_burden_sd_log": float(post.low), "from": "posterior 2.5 %"},
            {"lmc_burden_sd_log": float(post.median), "from": "posterior median"},
            {"lmc_burden_sd_log": float(post.high), "from": "posterior 97.5 %"},
        ]
    return pd.DataFrame(rows).sort_values("lmc_burden_sd_log", kind="stable", ignore_index=True)


def burden_sensitivity(
    ctx: Context, repeats: int, *, catalog: Catalog | None = None
) -> pd.DataFrame:
    """Reproduction probability of the 4 / 30 / 24 study across the between-patient spread of
    LMC burden, the least known assumption of this section, at the spreads of
    :func:`burden_grid` (the prior grid and the calibrated posterior). 2.0 is the spread of CSF
    tumour-cell counts in LM (Nayak 2013, PMC3662321: median 20.7 CTC/mL, range 0.13 to > 150 in
    16 patients, so a log SD of at least ln(150 / 0.13) / 3.5 = 2.0), an upper bound for the
    spread of the secreting burden because a count adds shedding and sampling variance."""
    base = catalog or load_catalog()
    rows = []
    grid = burden_grid(base)
    label = f"C9: {repeats:,} studies at each burden spread"
    with ctx.task(label, total=len(grid)) as step:
        for sd, origin in zip(grid["lmc_burden_sd_log"].astype(float), grid["from"], strict=True):
            studies = repeated_studies(ctx, repeats, catalog=base.with_values({BURDEN_SD: sd}))
            k = int(studies["reproduced"].sum())
            low, high = wilson_interval(np.array([k]), np.array([repeats]))
            rows.append(
                {
                    "lmc_burden_sd_log": sd,
                    "from": origin,
                    "repeats": repeats,
                    "p_reproduced": k / repeats,
                    "lower": float(low[0]),
                    "upper": float(high[0]),
                }
            )
            step()
    return pd.DataFrame(rows)


def evaluate(
    population: pd.DataFrame,
    studies: pd.DataFrame,
    counterfactual_studies: dict[str, pd.DataFrame],
    *,
    min_population: int = MIN_POPULATION,
) -> ClaimResult:
    """C9 in three parts (CLAIMS.md): (a) in ≥ 10,000 virtual patients per group the ALK median
    is ≥ 3× each other group's and P(ALK patient > other patient) ≥ 0.8; (b) the 4 / 30 / 24
    study reproduces (exact one-sided Mann–Whitney, Holm-adjusted p < 0.05 against both groups)
    in ≥ 50 % of repeated studies; (c) each counterfactual reproduces it in ≤ 10 %.

    A degenerate run (no AREG anywhere: every value tied) gives FAIL, not an error."""
    pop_ok = bool(
        len(population) > 0
        and (population["n"] >= min_population).all()
        and (population["median_ratio"] >= MIN_MEDIAN_RATIO).all()
        and (population["p_alk_higher"] >= MIN_P_HIGHER).all()
    )
    rate = float(studies["reproduced"].mean()) if len(studies) else 0.0
    cf_rates = {
        name: float(cf["reproduced"].mean()) if len(cf) else 0.0
        for name, cf in counterfactual_studies.items()
    }
    parts = [
        pop_ok,
        rate >= MIN_REPRODUCED,
        all(r <= MAX_COUNTERFACTUAL for r in cf_rates.values()),
    ]
    measured = (
        "(a) "
        + "; ".join(
            f"vs {r.group}: median ratio {r.median_ratio:.1f}x, P(ALK > other) {r.p_alk_higher:.2f}"
            for r in population.itertuples()
        )
        + f" (n = {int(population['n'].min()) if len(population) else 0:,} per group)"
        + f"; (b) reproduced in {100 * rate:.0f} % of {len(studies)} virtual 4/30/24 studies"
        + "; (c) "
        + ", ".join(f"{name} {100 * r:.0f} %" for name, r in cf_rates.items())
    )
    if not all(parts):
        measured += " — FAIL on " + "; ".join(_reasons(population, rate, cf_rates, min_population))
    return ClaimResult(
        "C9",
        ClaimStatus.PASS if all(parts) else ClaimStatus.FAIL,
        measured,
        readouts=_readouts(population, studies, counterfactual_studies),
        data=[
            "csf_areg_population.csv",
            "csf_areg_repeated_studies.csv",
            "csf_areg_counterfactual_studies.csv",
            "csf_areg_patients.csv",
        ],
    )


def _fraction_readout(
    name: str, studies: pd.DataFrame, threshold: float, direction: str
) -> Readout:
    """The fraction of repeated studies that reproduce, with its 95 % Wilson interval."""
    n, k = len(studies), int(studies["reproduced"].sum()) if len(studies) else 0
    low, high = wilson_interval(np.array([k]), np.array([max(n, 1)]))
    return Readout(
        name,
        "probability; fraction of studies",
        k / n if n else np.nan,
        threshold,
        direction,
        float(low[0]) if n else np.nan,
        float(high[0]) if n else np.nan,
    )


def _readouts(
    population: pd.DataFrame,
    studies: pd.DataFrame,
    counterfactual_studies: dict[str, pd.DataFrame],
) -> list[Readout]:
    """C9's numbers against their thresholds, for the claims overview figure."""
    out = [
        Readout(
            f"vs {r.group}",
            "CSF AREG median ratio, ALK / other group (×)",
            r.median_ratio,
            MIN_MEDIAN_RATIO,
            "above",
            log=True,
        )
        for r in population.itertuples()
    ]
    out += [
        Readout(
            f"P(ALK > {r.group})",
            "probability; fraction of studies",
            r.p_alk_higher,
            MIN_P_HIGHER,
            "above",
        )
        for r in population.itertuples()
    ]
    out.append(_fraction_readout("4/30/24 studies reproduced", studies, MIN_REPRODUCED, "above"))
    out += [
        _fraction_readout(f"reproduced, {name}", cf, MAX_COUNTERFACTUAL, "below")
        for name, cf in counterfactual_studies.items()
    ]
    return out


def _reasons(
    population: pd.DataFrame, rate: float, cf_rates: dict[str, float], min_population: int
) -> list[str]:
    """Which parts of C9 failed, each against its threshold (for the claims table)."""
    out = []
    if not len(population):
        out.append("(a) no population result")
    for r in population.itertuples():
        if r.n < min_population:
            out.append(f"(a) {r.n:,} patients per group < {min_population:,}")
        if not r.median_ratio >= MIN_MEDIAN_RATIO:
            out.append(
                f"(a) median ratio vs {r.group} {r.median_ratio:.1f}x < {MIN_MEDIAN_RATIO:g}x"
            )
        if not r.p_alk_higher >= MIN_P_HIGHER:
            out.append(f"(a) P(ALK > {r.group}) {r.p_alk_higher:.2f} < {MIN_P_HIGHER:g}")
    if rate < MIN_REPRODUCED:
        out.append(f"(b) reproduced {100 * rate:.0f} % < {100 * MIN_REPRODUCED:.0f} %")
    out += [
        f"(c) {name} {100 * r:.0f} % > {100 * MAX_COUNTERFACTUAL:.0f} %"
        for name, r in cf_rates.items()
        if r > MAX_COUNTERFACTUAL
    ]
    return out


@register_section("patients", order=70)
def patients_csf(ctx: Context) -> SectionResult:
    """C9: CSF AREG in three patient groups, and the power of n = 4."""
    repeats = 200 if ctx.quick or ctx.ensemble else 1000
    cf_repeats = 200 if ctx.ensemble else 100 if ctx.quick else 300
    n_population = ENSEMBLE_POPULATION if ctx.ensemble else MIN_POPULATION
    # sub-steps for the progress display: each label names the step under way
    with ctx.task("C9: primary 4/30/24 study", total=3 + len(COUNTERFACTUALS)) as step:
        primary_patients = simulate_csf_areg(study_groups(), rng=ctx.rng)
        primary = measure_csf(ctx, primary_patients, folder="csf_elisa")
        step(what=f"C9: {n_population:,} virtual patients per group")
        population = population_effect(ctx, n_population)
        step(what=f"C9: {repeats:,} repeated 4/30/24 studies")
        studies = repeated_studies(ctx, repeats)
        counterfactual: dict[str, pd.DataFrame] = {}
        for name in COUNTERFACTUALS:
            step(what=f"C9: {cf_repeats:,} studies, counterfactual {name}")
            counterfactual[name] = repeated_studies(ctx, cf_repeats, counterfactual=name)
        step()
    claim = evaluate(population, studies, counterfactual, min_population=n_population)
    if ctx.ensemble:
        return SectionResult("AREG in the CSF of patients (C9)", claims=[claim])
    sensitivity = burden_sensitivity(ctx, 100 if ctx.quick else 300)
    data = primary.rename(columns={"areg_pg_mL": "value"})
    kw_p, dunn = float(kruskal_wallis(data)["p_value"]), dunn_test(data)
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    plot_groups(data, ax=ax1, ylabel="CSF AREG (pg/mL; below LLOQ plotted at LLOQ)")
    ax1.set_title(f"Primary virtual study (Kruskal–Wallis p = {kw_p:.2g})", fontsize=9)
    sd = sensitivity["lmc_burden_sd_log"]
    ax2.fill_between(sd, sensitivity["lower"], sensitivity["upper"], alpha=0.25, color="C0")
    ax2.plot(sd, sensitivity["p_reproduced"], "o-", color="C0", label="study as modelled")
    calibrated = sensitivity[sensitivity["from"].str.startswith("posterior")]
    if len(calibrated):
        ax2.axvspan(
            calibrated["lmc_burden_sd_log"].min(),
            calibrated["lmc_burden_sd_log"].max(),
            color="C0",
            alpha=0.08,
            label="calibrated spread (95 %)",
        )
    base_sd = load_catalog().in_vivo_value("patients", "lmc_tumour_cells_sd")
    for i, (name, cf) in enumerate(counterfactual.items()):
        ax2.plot(base_sd, cf["reproduced"].mean(), "s", color=f"C{i + 1}", label=name)
    ax2.axhline(MIN_REPRODUCED, color="k", ls=":", lw=1)
    ax2.axhline(MAX_COUNTERFACTUAL, color="grey", ls=":", lw=1)
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_xlabel("between-patient SD of log LMC burden")
    ax2.set_ylabel("P(study reproduces: Holm p < 0.05 vs both)")
    ax2.legend(fontsize=7)
    ax2.set_title("Reproduction probability of the 4 / 30 / 24 study (95 % Wilson CI)", fontsize=9)
    dilution = load_catalog().in_vivo_value("patients", "csf_dilution")
    text = (
        "Virtual patients in the three groups of the study (n = 4, 30, 24) have CSF AREG from a "
        "non-tumour baseline plus what their CSF-bathed tumour cells secrete (A925L/AR-like "
        "miR-449a loss in the ALK group; parental-like secretion in EGFR-mutant LMC), cleared "
        "with human CSF turnover. CSF was measured with the virtual DuoSet ELISA at "
        f"1:{dilution:g} (re-assayed at 1:{10 * dilution:g} above the ULOQ), read back from the "
        "plate export and analysed with weighted 4PL standard curves. C9 is judged in three "
        f"parts: (a) the effect in {MIN_POPULATION:,} virtual patients per group (median ratio "
        f"≥ {MIN_MEDIAN_RATIO:g}× and P(ALK patient > other patient) ≥ {MIN_P_HIGHER:g} against "
        "each group); (b) how often a study of the published size (4 / 30 / 24) shows the ALK "
        "group highest — exact one-sided Mann–Whitney (ties at the LLOQ counted exactly), "
        f"Holm-adjusted p < {ALPHA:g} against both groups — in ≥ {100 * MIN_REPRODUCED:.0f} % of "
        f"{repeats:,} repeated studies; (c) the counterfactuals (tumour cells secreting no AREG; "
        "the ALK group's miR-449a restored to the EGFR-mutant tumours' level, the parental "
        "level in the catalogue) reproduce it in ≤ "
        f"{100 * MAX_COUNTERFACTUAL:.0f} % of {cf_repeats:,} studies each. Baseline CSF AREG and "
        "LMC burden are assumptions (catalogue block `patients`); the reproduction probability "
        "depends strongly on how much LMC burden varies between patients, shown across its "
        "plausible range and at the calibrated posterior of the spread (shaded; "
        "`csf_areg_reproduction_by_burden_sd.csv`, column `from`)."
    )
    return SectionResult(
        title="AREG in the CSF of patients (C9)",
        text=text,
        figures=[
            (
                "CSF AREG by group (primary study) and the reproduction probability of the "
                "4 / 30 / 24 study across the burden spread, with the two counterfactuals.",
                fig,
            )
        ],
        tables={
            "csf_areg_patients.csv": primary,
            "csf_areg_dunn.csv": dunn,
            "csf_areg_population.csv": population,
            "csf_areg_repeated_studies.csv": studies,
            "csf_areg_counterfactual_studies.csv": pd.concat(
                [cf.assign(counterfactual=name) for name, cf in counterfactual.items()],
                ignore_index=True,
            ),
            "csf_areg_reproduction_by_burden_sd.csv": sensitivity,
        },
        claims=[claim],
    )
