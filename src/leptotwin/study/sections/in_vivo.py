"""Report sections: the LMC mouse experiments (claims C2 and C7).

Chain: virtual mice (PK with variability, tumour clones, stochastic switching) → virtual IVIS
imaging written as a Living-Image-like export → read back and analysed like real exports
(growth curves, fold change from baseline, Kaplan–Meier, log-rank) → claims. The relapsed tumours
of C2 are harvested (a sample of cells classified as AREG-high or not) and the recovered
population is taken to the virtual plate, where its cross-resistance is measured as in C3.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin.analysis.growth import (
    geometric_mean_ci,
    growth_curves,
    plot_growth,
    read_bli,
    relapse_times,
    summarize_growth,
)
from leptotwin.analysis.survival import median_survival, pairwise_logrank, plot_km
from leptotwin.assays.bli import simulate_bli, write_bli
from leptotwin.assays.harvest import harvest_counts
from leptotwin.model.cohort import CohortResult, simulate_lmc
from leptotwin.model.tumor import TumorParameters
from leptotwin.study.claims import ClaimResult, ClaimStatus, Readout
from leptotwin.study.protocol_schema import load_packaged_protocol
from leptotwin.study.reproduce import Context, SectionResult, register_section
from leptotwin.study.sections import viability as vb
from leptotwin.study.simulate_job import Experiment, load_experiment

AR, PARENTAL = vb.AR, vb.PARENTAL


def load_protocol() -> dict:
    """The mouse protocol (``study/protocols/lmc_mouse.yaml``)."""
    return load_packaged_protocol("lmc_mouse")


def image(ctx: Context, cohort: CohortResult, name: str) -> pd.DataFrame:
    """Image every living mouse on every observation day, write the IVIS-like export, and read it
    back as the lab's analysis would."""
    obs = cohort.observations
    alive = obs[obs["alive"]]
    burden = pd.DataFrame(
        {
            "mouse": "m" + alive["subject"].astype(str).str.zfill(3),
            "arm": alive["arm"],
            "day": alive["day"],
            "live_cells": alive["total_cells"],
        }
    )
    images = simulate_bli(burden, rng=ctx.rng)
    path = ctx.out_dir / "bli" / f"{name}_ivis_export.csv"
    write_bli(images, path, fmt="ivis")
    return read_bli(path)


def _survival_table(cohort: CohortResult, t0_days: float) -> pd.DataFrame:
    s = cohort.survival
    return pd.DataFrame(
        {
            "mouse": "m" + s["subject"].astype(str).str.zfill(3),
            "arm": s["arm"],
            "time_days": s["time_days"] - t0_days,
            "event": s["event"],
        }
    )


def _simulate(ctx: Context, experiment: str) -> tuple[Experiment, CohortResult, int]:
    """The protocol's ``experiment`` in virtual mice (the quick cohort size with ``ctx.quick``)."""
    exp = load_experiment("lmc_mouse", experiment)
    n = exp.quick_n_per_arm if ctx.quick and exp.quick_n_per_arm else exp.n_per_arm
    cohort = simulate_lmc(
        list(exp.arms),
        n_per_arm=n,
        days=exp.days,
        observe_days=exp.observe_days,
        rng=ctx.rng,
        inoculum=exp.inoculum,
    )
    return exp, cohort, n


@register_section("in_vivo_relapse", order=40)
def in_vivo_relapse(ctx: Context) -> SectionResult:
    """C2: continuous alectinib in the parental LMC model, response and AREG-high relapse."""
    proto = load_protocol()
    harvest_cells = proto["relapse"]["harvest_cells"]
    _, cohort, n = _simulate(ctx, "relapse")
    start = TumorParameters.from_catalog().treatment_start_d
    flux = image(ctx, cohort, "relapse")
    rel = relapse_times(flux, start)
    if rel.empty:  # no mouse imaged at and after the start of treatment (e.g. all died before)
        claim = ClaimResult(
            "C2", ClaimStatus.FAIL, "no mouse was imaged at and after the start of alectinib"
        )
        return SectionResult("LMC mouse model: alectinib and relapse (C2)", claims=[claim])
    med = median_survival(rel[["mouse", "arm", "time_days", "event"]]).iloc[0]

    # harvest each relapsed tumour at its last image (the endpoint) and classify cells
    obs = cohort.observations[cohort.observations["alive"]]
    last = obs.sort_values("day").groupby("subject").tail(1)
    relapsed_ids = {int(m[1:]) for m in rel.loc[rel["event"] == 1, "mouse"]}
    harvested = last[last["subject"].isin(relapsed_ids)]
    counts = harvest_counts(harvested, cohort.clones, n_cells=harvest_cells, rng=ctx.rng)
    frac_r = float(counts["fraction_R"].median()) if len(counts) else float("nan")

    # the harvested population on the virtual plate (pooled relapsed cells)
    pooled = [
        ("A925LPE3", float(counts["count_P"].sum())),
        ("A925L/AR", float(counts["count_R"].sum())),
    ]
    plate = cross_resistance_of(ctx, "relapsed (pooled)", pooled) if len(counts) else None

    parts = [
        float(rel["fold_fall"].median()) >= 10.0,
        bool(med["reached"]) and 60.0 <= float(med["median_days"]) <= 140.0,
        frac_r >= 0.8,
    ]
    measured = (
        f"median fall {rel['fold_fall'].median():.0f}x; median time to relapse "
        f"{med['median_days']:.0f} d [{med['lower']:.0f}, {med['upper']:.0f}] "
        f"({int(rel['event'].sum())}/{len(rel)} relapsed); AREG-high in relapsed "
        f"tumours {100 * frac_r:.0f} % (median of {len(counts)})"
    )
    readouts = [
        Readout(
            "mice (median)",
            "BLI fall from pre-treatment (×)",
            float(rel["fold_fall"].median()),
            10.0,
            "above",
            log=True,
        ),
        Readout(
            "Kaplan–Meier median",
            "time to relapse (days of alectinib)",
            float(med["median_days"]) if bool(med["reached"]) else np.nan,
            (60.0, 140.0),
            "between",
            float(med["lower"]),
            float(med["upper"]),
        ),
        Readout("relapsed tumours", "AREG-high cells (%, median)", 100 * frac_r, 80.0, "above"),
    ]
    data = ["relapse_per_mouse.csv", "relapse_bli.csv", "relapse_harvest.csv"]
    if plate is not None:
        parts.append(plate["pass"])
        measured += f"; harvested cells vs parental: {plate['text']}"
        readouts += plate["readouts"]
        data.append("relapse_plate_ic50.csv")
    claims = [
        ClaimResult(
            "C2",
            ClaimStatus.PASS if all(parts) else ClaimStatus.FAIL,
            measured,
            readouts=readouts,
            data=data,
        )
    ]
    if ctx.ensemble:
        return SectionResult("LMC mouse model: alectinib and relapse (C2)", claims=claims)

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    plot_growth(flux, ax=ax1)
    ax1.axvline(start, color="0.5", ls=":", lw=0.8)
    ax1.set_title("Parental LMC under daily alectinib: BLI", fontsize=9)
    plot_km(rel[["mouse", "arm", "time_days", "event"]].assign(arm="time to relapse"), ax=ax2)
    ax2.set_xlabel("days after the start of alectinib")
    ax2.set_ylabel("fraction not yet relapsed")
    ax2.set_title("Relapse: flux back above its pre-treatment value", fontsize=9)
    text = (
        f"{n} virtual nude mice were inoculated intrathecally with A925LPE3 cells (a few already "
        "in the miR-449a-low, AREG-high state) and given alectinib "
        f"{proto['regimens']['alectinib']} from day {start:g}; weekly IVIS images were written as "
        "a Living-Image-like export and read back. Relapse is the first image after the nadir "
        "whose flux exceeds the mouse's pre-treatment flux. Relapsed tumours were harvested at "
        f"the endpoint, {harvest_cells} cells classified per tumour, and the pooled population "
        "was tested on the virtual plate against parental cells."
    )
    tables = {"relapse_per_mouse.csv": rel, "relapse_bli.csv": flux, "relapse_harvest.csv": counts}
    if plate is not None:
        tables["relapse_plate_ic50.csv"] = plate["table"]
    return SectionResult(
        title="Resistance emerges in the LMC model (C2)",
        text=text,
        figures=[
            (
                "BLI of each mouse (thin) and geometric mean with 95 % CI; "
                "Kaplan–Meier of time to relapse.",
                fig,
            )
        ],
        tables=tables,
        claims=claims,
    )


def cross_resistance_of(ctx: Context, name: str, composition: list[tuple[str, float]]) -> dict:
    """Run the four ALK TKIs on parental cells and a harvested population (duplicate plates) and
    apply the C3 criteria to the population against parental."""
    proto = vb.load_protocol()
    curves = []
    for drug in vb.ALK_TKIS:
        for _ in range(2):
            curves += [vb.CurveSpec(PARENTAL, drug), vb.CurveSpec(name, drug)]
    sub = dict(proto, plates=[])
    layout = vb.design_plates(curves, proto["doses_nM"], plate_prefix="H")
    tidy, _ = vb.run_layout(ctx, sub, layout, folder="relapse_plates", mixtures={name: composition})
    _, ic = vb.analyse(tidy, proto)
    dmax = float(max(proto["doses_nM"]))
    parts, text = vb.cross_resistance(ic, name, dose_max=dmax)
    readouts = vb.cross_resistance_readouts(
        ic, name, dose_max=dmax, quantity="harvested cells: IC50 ratio to parental (×)"
    )
    return {"pass": all(parts), "text": text, "table": ic, "readouts": readouts}


@register_section("in_vivo_combination", order=50)
def in_vivo_combination(ctx: Context) -> SectionResult:
    """C7: six arms in the A925L/AR LMC model, weekly BLI and survival."""
    regs = load_protocol()["regimens"]
    exp, cohort, n = _simulate(ctx, "combination")
    start = TumorParameters.from_catalog().treatment_start_d
    flux = image(ctx, cohort, "combination")
    curves = growth_curves(flux)
    # fold change at the last imaging day; mice euthanised earlier keep their last image (LOCF:
    # a conservative lower bound of their burden)
    last = curves.sort_values("day").groupby("mouse").tail(1)
    fold = (
        last.groupby("arm", sort=False)["fold_change"]
        .agg(geomean=lambda x: float(np.exp(np.log(x).mean())), n="size")
        .reset_index()
    )
    surv = _survival_table(cohort, start)
    tests = pairwise_logrank(surv)
    combos = [a.name for a in exp.arms if "+" in a.name]
    singles = [a.name for a in exp.arms if "+" not in a.name]
    g = fold.set_index("arm")["geomean"]
    parts = [g[c] <= 2.0 for c in combos] + [g[s] >= 10.0 for s in singles]
    pvals = []
    for c in combos:
        for s in singles:
            row = tests[
                ((tests["arm_a"] == c) & (tests["arm_b"] == s))
                | ((tests["arm_a"] == s) & (tests["arm_b"] == c))
            ].iloc[0]
            pvals.append(float(row["p_holm"]))
    parts.append(max(pvals) < 0.05)
    measured = (
        "fold change at week 4: "
        + ", ".join(f"{a} {g[a]:.2g}x" for a in g.index)
        + f"; largest Holm-adjusted log-rank p, combination vs monotherapy/vehicle "
        f"{max(pvals):.2g}"
    )
    ci = last.groupby("arm", sort=False)["fold_change"].apply(geometric_mean_ci)
    readouts = [
        Readout(
            arm,
            "BLI fold change at week 4 (geometric mean, 95 % CI; ×)",
            g[arm],
            2.0 if arm in combos else 10.0,
            "below" if arm in combos else "above",
            ci[arm][0],
            ci[arm][1],
            log=True,
        )
        for arm in g.index
    ]
    readouts.append(
        Readout(
            "largest, combination vs other",
            "Holm-adjusted log-rank p",
            max(pvals),
            0.05,
            "below",
            log=True,
        )
    )
    claims = [
        ClaimResult(
            "C7",
            ClaimStatus.PASS if all(parts) else ClaimStatus.FAIL,
            measured,
            readouts=readouts,
            data=[
                "combination_fold_change.csv",
                "combination_bli.csv",
                "combination_survival.csv",
                "combination_logrank.csv",
            ],
        )
    ]
    if ctx.ensemble:
        return SectionResult("LMC mouse model: combination therapy (C7)", claims=claims)

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    plot_growth(flux, ax=ax1, value="fold_change")
    ax1.set_title("A925L/AR LMC: BLI fold change from treatment start", fontsize=9)
    plot_km(surv, ax=ax2)
    ax2.set_xlabel("days after treatment start")
    ax2.set_title("Survival to the neurological endpoint", fontsize=9)
    text = (
        f"{n} virtual mice per arm were inoculated intrathecally with A925L/AR cells and treated "
        f"from day {start:g} (alectinib {regs['alectinib']}, erlotinib {regs['erlotinib']}, "
        f"osimertinib {regs['osimertinib']}; osimertinib's active metabolite AZ5104 is formed in "
        "the mice). Weekly BLI for four weeks was exported, read back and analysed; mice reaching "
        "the neurological endpoint keep their last image for the week-4 fold change. Survival: "
        "Kaplan–Meier and pairwise log-rank tests with Holm adjustment."
    )
    return SectionResult(
        title="Combination therapy in the resistant LMC model (C7)",
        text=text,
        figures=[
            (
                "Fold change of BLI flux from treatment start (thin: mice; thick: geometric "
                "mean with 95 % CI) and Kaplan–Meier survival by arm.",
                fig,
            )
        ],
        tables={
            "combination_bli.csv": flux,
            "combination_fold_change.csv": fold,
            "combination_survival.csv": surv,
            "combination_logrank.csv": tests,
            "combination_median_survival.csv": median_survival(surv),
            "combination_growth_summary.csv": summarize_growth(flux),
        },
        claims=claims,
    )
