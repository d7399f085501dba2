"""Report section: human translation — model predictions, not a claim of the study.

Virtual ALK+ patients with AREG-driven (A925L/AR-like) LMC are treated with alectinib 600 mg BID
alone or with osimertinib 80 / 160 mg QD or erlotinib 150 mg QD. The same pathway and tumour
model as in the mice, with human PK (and AZ5104 formed at the human fraction), human CSF
physiology and slower human tumour kinetics (catalogue block ``lmc_human``). Reported: unbound
lesion and CSF exposure against the free cellular potencies, predicted control of LMC at 12 weeks
and time to progression (burden above twice its value at treatment start).

A dose/schedule sweep (protocol block ``schedule_sweep``, run by
:mod:`leptotwin.study.schedule_sweep`) answers CLAIMS.md's "which EGFR-TKI dose and schedule
keeps control at the lowest exposure" on top of alectinib 600 mg BID.

Uncertainty (protocol block ``uncertainty``): week-12 control and time to progression with 95 %
credible intervals from an outer loop over parameter sets (:func:`leptotwin.catalog.posterior.
draw_catalogs`: posterior where calibrated, prior elsewhere) and an inner loop over virtual
patients; the lowest controlling dose bracketed with the probability that each dose controls;
current smokers (erlotinib CL × the catalogue's smoking covariate) beside non-smokers. The
out-of-sample PK checks (:mod:`leptotwin.study.sections.pk_checks`) close the section.

Discussion (:func:`dose_discussion`): why the twin separates erlotinib from osimertinib — the
catalogue's wild-type EGFR potency, unbound fraction and CSF Kp,uu of each, with their sources,
and the resulting unbound lesion exposure over free potency (:func:`egfr_inhibition`) — and which
of those values, moved across its prior, changes that most; it points to the global sensitivity
section when the report has it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin.analysis.survival import median_survival, plot_km
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.model import parse_regimen, simulate_pk
from leptotwin.model.cohort import Arm
from leptotwin.model.pathway import PathwayModel
from leptotwin.model.pk import Metabolite, PKStream, draw_subjects
from leptotwin.study.reproduce import Context, SectionResult, register_section
from leptotwin.study.schedule_sweep import (
    NO_TKI,
    SMOKERS,
    SweepSpec,
    UncertaintySpec,
    choose_regimens,
    control_at,
    dose_bracket,
    load_protocol,
    progression,
    schedule_sweep,
    simulate_patients,
    summarise_uncertainty,
    sweep_figure,
    sweep_text,
    uncertainty_sweep,
)
from leptotwin.study.sections.pk_checks import pk_checks_text, pk_out_of_sample


def exposure_table(
    rng: np.random.Generator,
    regimens: Iterable[tuple[str, str]],
    n: int | None = None,
    days: float | None = None,
) -> pd.DataFrame:
    """Steady-state unbound lesion and CSF concentrations (median, 5–95 %) of each (drug,
    regimen text) against the free potency of the drug on its target (K_free = nominal cellular
    IC50 × fu in 10 % serum): average over the last day of ``days`` of dosing in ``n`` virtual
    patients (defaults: ``exposure_table`` of the human-translation protocol, 21 days, 200)."""
    design = load_protocol()["exposure_table"]
    n = int(design["subjects"]) if n is None else n
    days = float(design["days"]) if days is None else days
    pm = PathwayModel.from_catalog()
    k_free = {**pm.alk_k_nM, **pm.egfr_tki_k_nM}
    rows = []
    t = np.arange(0.0, 24.0 * days + 1e-9, 1.0)
    for drug, reg in regimens:
        res = simulate_pk(drug, "human", parse_regimen(reg), t_h=t, n_subjects=n, rng=rng)
        last = t >= t[-1] - 24
        for comp, arr in (("lesion (unbound)", res.lesion_nM), ("CSF", res.csf_nM)):
            avg = arr[:, last].mean(axis=1)
            p5, p50, p95 = np.percentile(avg, [5, 50, 95])
            rows.append(
                {
                    "drug": drug,
                    "regimen": reg,
                    "compartment": comp,
                    "median_nM": p50,
                    "p05_nM": p5,
                    "p95_nM": p95,
                    "free_potency_nM": k_free[drug],
                    "median_over_potency": p50 / k_free[drug],
                }
            )
    return pd.DataFrame(rows)


@register_section("human_translation", order=80)
def human_translation(ctx: Context) -> SectionResult:
    """Predicted LMC control in ALK+ patients with AREG-driven resistance."""
    proto = load_protocol()
    n = proto["quick_patients_per_arm"] if ctx.quick else proto["patients_per_arm"]
    fold = proto["progression_fold"]
    arms = [Arm(name, regs) for name, regs in proto["arms"].items()]
    uncertain = not getattr(ctx, "ensemble", False)  # an ensemble member needs no intervals
    with ctx.task(f"human: {n} virtual patients per arm", total=3 + uncertain) as step:
        return _human_translation(ctx, proto, n, fold, arms, uncertain, step)


def _human_translation(  # type: ignore[no-untyped-def]
    ctx: Context, proto: dict, n: int, fold: float, arms: list, uncertain: bool, step
) -> SectionResult:
    """The section's work; ``step`` reports its phases to the progress display."""
    cohort = simulate_patients(
        arms,
        n_per_arm=n,
        follow_up_days=proto["follow_up_days"],
        observe_days=np.arange(0.0, proto["follow_up_days"] + 1e-9, proto["observe_every_days"]),
        rng=ctx.rng,
        dt_h=float(proto.get("step_h", 1.0)),
    )
    prog = progression(cohort.observations, fold)
    med = median_survival(prog)
    control = control_at(cohort.observations)
    # every (drug, regimen) of the arms, in arm order
    regimens = dict.fromkeys((d, r) for a in arms for d, r in a.regimens.items())
    step(what="human: exposure at the lesion per regimen")
    exposure = exposure_table(ctx.rng, regimens)
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ex = exposure[exposure["compartment"] == "lesion (unbound)"]
    labels = [f"{d}\n{r}" for d, r in zip(ex["drug"], ex["regimen"], strict=True)]
    ax1.bar(range(len(ex)), ex["median_over_potency"], color="C0")
    ax1.errorbar(
        range(len(ex)),
        ex["median_over_potency"],
        yerr=[
            ex["median_over_potency"] - ex["p05_nM"] / ex["free_potency_nM"],
            ex["p95_nM"] / ex["free_potency_nM"] - ex["median_over_potency"],
        ],
        fmt="none",
        color="k",
        capsize=3,
    )
    ax1.axhline(1.0, color="k", ls=":")
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(ex)), labels, fontsize=7)
    ax1.set_ylabel("unbound lesion C_avg / free cellular potency")
    ax1.set_title("Exposure at the tumour vs potency (steady state)", fontsize=9)
    plot_km(prog, ax=ax2)
    ax2.set_xlabel("days from start of treatment")
    ax2.set_ylabel("progression-free")
    ax2.set_title(f"Predicted time to LMC progression (burden > {fold:g}x)", fontsize=9)
    text = (
        "**Model prediction, not a result of the study.** The twin's human arm uses the same "
        "pathway and tumour model as the mice with human PK, CSF physiology and slower human "
        f"tumour kinetics; {n} virtual patients per arm with AREG-driven LMC. Uncertainty here "
        "is the variability of PK and tumour parameters; the structural assumptions (catalogue "
        "block `lmc_human`) are larger and untested."
    )
    discussion, _ = dose_discussion(
        [(d, r) for d, r in regimens if d in EGFR_TKIS],
        sensitivity="sensitivity" in getattr(ctx, "sections", ()),
    )
    if discussion:
        text += "\n\n" + discussion
    spec = SweepSpec.from_protocol(proto)
    step(what="human: dose and schedule sweep")
    sweep = schedule_sweep(
        spec,
        n_per_arm=spec.quick_patients_per_regimen if ctx.quick else spec.patients_per_regimen,
        rng=ctx.rng,
        follow_up_days=proto["follow_up_days"],
        observe_every_days=proto["observe_every_days"],
        progression_fold=proto["progression_fold"],
        step_h=float(proto.get("step_h", 1.0)),
    )
    choice = choose_regimens(sweep, spec.control_margin, spec.min_control)
    sweep["chosen"] = sweep["label"].isin(choice.loc[choice["chosen_label"] != "", "chosen_label"])
    text += "\n\n" + sweep_text(sweep, choice, spec.control_margin, spec.min_control)
    tables: dict[str, pd.DataFrame] = {}
    figures: list[tuple[str, Figure]] = []
    if uncertain:
        step(what="human: the sweep over parameter sets (credible intervals)")
        usp = UncertaintySpec.from_protocol(proto)
        n_draws = usp.quick_draws if ctx.quick else usp.draws
        n_pat = usp.quick_patients_per_draw if ctx.quick else usp.patients_per_draw
        from leptotwin.catalog.posterior import draw_catalogs

        catalogs = draw_catalogs(n_draws, rng=ctx.rng)
        long = uncertainty_sweep(
            spec,
            usp,
            catalogs=catalogs,
            n_patients=n_pat,
            rng=ctx.rng,
            observe_every_days=proto["observe_every_days"],
            progression_fold=fold,
        )
        summary = summarise_uncertainty(long, usp.control_threshold)
        bracket = dose_bracket(long, usp.control_threshold)
        text += "\n\n" + uncertainty_text(summary, bracket, usp, n_draws, n_pat)
        figures.append(
            (
                "Credible intervals (model prediction): fraction of virtual patients controlled "
                f"at week 12, median and 95 % interval over {n_draws} parameter sets (posterior "
                f"where calibrated, prior elsewhere) x {n_pat} patients each; right: probability "
                "over parameter sets that a once-daily dose controls (at least "
                f"{100 * usp.control_threshold:.0f} % of patients), non-smokers and smokers.",
                uncertainty_figure(summary, bracket, usp.control_threshold),
            )
        )
        tables |= {
            "human_uncertainty_draws.csv": long,
            "human_uncertainty.csv": summary,
            "human_dose_bracket.csv": bracket,
        }
    checks = pk_out_of_sample()
    text += "\n\n" + pk_checks_text(checks)
    tables["pk_out_of_sample.csv"] = checks
    step()
    return SectionResult(
        title="Human translation (model predictions)",
        text=text,
        figures=[
            (
                "Unbound tumour-lesion exposure over free potency (median, 5–95 % of virtual "
                "patients), and predicted progression-free time by arm.",
                fig,
            ),
            (
                "Dose/schedule sweep (model prediction): fraction of virtual patients controlled "
                "at week 12 (Wilson 95 % CI) against steady-state unbound plasma AUC per week, "
                "EGFR TKI on top of alectinib 600 mg BID; grey band: alectinib alone; red ring: "
                "the regimen the stated rule chooses.",
                sweep_figure(sweep, choice),
            ),
            *figures,
        ],
        tables={
            "human_exposure.csv": exposure,
            "human_progression.csv": prog,
            "human_median_pfs.csv": med,
            "human_control_week12.csv": control,
            "human_schedule_sweep.csv": sweep,
            "human_schedule_choice.csv": choice,
            **tables,
        },
        views={"human_schedule_sweep.csv": sweep_view(sweep)},
    )


def _num(x: float) -> str:
    return f"{x:.3g}" if np.isfinite(x) else "—"


# -- why erlotinib and osimertinib differ (issue 16 item 6) -------------------------------------

#: The EGFR TKIs the discussion compares (those of the human arms).
EGFR_TKIS = ("erlotinib", "osimertinib")


@dataclass(frozen=True)
class Citation:
    """A catalogue value the discussion cites: its dotted path, the value of this run, unit,
    short source, whether it is an assumption, its prior range (NaN: none) and whether the
    calibration estimated it."""

    path: str
    value: float
    unit: str
    source: str
    assumption: bool
    low: float = float("nan")
    high: float = float("nan")
    calibrated: bool = False

    def text(self) -> str:
        """``0.05 (Tagrisso label; assumption, range 0.01-0.1)`` as the paragraph prints it."""
        unit = "" if self.unit == "1" else f" {self.unit}"
        notes = [self.source]
        if self.calibrated:
            notes.append("posterior median of the calibration")
        if self.assumption:
            notes.append("an assumption")
        if np.isfinite(self.low):
            notes.append(f"prior {self.low:.4g}–{self.high:.4g}{unit}")
        return f"{self.value:.3g}{unit} ({'; '.join(notes)})"


def short_source(source: str) -> str:
    """The reference of a catalogue source without its parenthesised detail."""
    head = source.split(" (", 1)[0].strip()
    return head if len(head) >= 8 else source


def cite(catalog: Catalog, path: str) -> Citation:
    """The :class:`Citation` of the catalogue value at ``path``."""
    q = catalog.quantity(path)
    prior = q.prior
    return Citation(
        path=path,
        value=float(q.value),
        unit=q.unit,
        source=short_source(q.source),
        assumption=bool(q.assumption),
        low=float(prior.low) if prior is not None else float("nan"),
        high=float(prior.high) if prior is not None else float("nan"),
        calibrated=catalog.posterior_of(path) is not None,
    )


def wild_type_potency_path(catalog: Catalog, drug: str) -> str:
    """Path of the potency the pathway model uses on (wild-type) EGFR for ``drug``."""
    for i, p in enumerate(catalog.drug(drug).potency):
        if p.model and p.target == "EGFR":
            return f"{catalog.drug(drug).name}.potency[{i}].ic50"
    raise KeyError(drug)


def egfr_inhibition(
    drug: str, regimen: str, catalog: Catalog | None = None, *, days: float = 21.0
) -> float:
    """What the pathway sees of an EGFR TKI: Σ unbound lesion concentration / free potency over
    the drug and its active metabolites (EGFR activity is divided by 1 + Σ), averaged over the
    last day of ``days`` of dosing in the typical patient (no variability)."""
    cat = catalog or load_catalog()
    pm = PathwayModel.from_catalog(cat)
    subj = draw_subjects(cat.pk_parameters(drug, "human"), 1, iiv=False, catalog=cat)
    regs = parse_regimen(regimen)
    t = np.arange(24.0 * (days - 1.0), 24.0 * days + 1e-9, 1.0)
    streams = [(drug, PKStream(subj, regs, horizon_h=float(t[-1]), outputs=("lesion",)))]
    for met, fraction in cat.metabolites_of(drug, "human"):
        m = Metabolite(cat.pk_parameters(met, "human"), fraction, catalog=cat)
        streams.append(
            (met, PKStream(subj, regs, horizon_h=float(t[-1]), metabolite=m, outputs=("lesion",)))
        )
    total = 0.0
    for name, stream in streams:
        lesion = np.array([stream.advance(float(tk))[0][0] for tk in t])
        total += float(lesion.mean()) / pm.egfr_tki_k_nM[name]
    return total


def _cited_paths(catalog: Catalog, drug: str) -> list[str]:
    """Wild-type potency, fu and CSF Kp,uu of the drug; potency and fraction formed of each
    active metabolite."""
    name = catalog.drug(drug).name
    paths = [
        wild_type_potency_path(catalog, name),
        f"{name}.pk.human.fu",
        f"{name}.pk.human.kp_uu_csf",
    ]
    for met, _ in catalog.metabolites_of(name, "human"):
        paths += [wild_type_potency_path(catalog, met), f"{met}.pk.human.fraction_formed"]
    return paths


def _prior_effects(catalog: Catalog, drug: str, regimen: str) -> list[tuple[str, float]]:
    """(path, fold change of :func:`egfr_inhibition` between the ends of the value's prior),
    one value at a time, for every cited value that has a prior; largest first."""
    out = []
    for path in _cited_paths(catalog, drug):
        q = catalog.quantity(path)
        if q.prior is None:
            continue
        ends = [
            egfr_inhibition(drug, regimen, catalog.with_values({path: v}))
            for v in (q.prior.low, q.prior.high)
        ]
        if min(ends) > 0:
            out.append((path, max(ends) / min(ends)))
    return sorted(out, key=lambda x: -x[1])


_WHAT = {
    "potency": "wild-type EGFR IC50",
    "fu": "unbound fraction in plasma (fu)",
    "kp_uu_csf": "CSF Kp,uu",
    "fraction_formed": "fraction of the parent's clearance that forms it",
}


def _what(path: str) -> str:
    key = "potency" if ".potency[" in path else path.rsplit(".", 1)[-1]
    return f"{path.split('.', 1)[0]} {_WHAT.get(key, key)}"


def dose_discussion(
    regimens: Iterable[tuple[str, str]],
    catalog: Catalog | None = None,
    *,
    sensitivity: bool = False,
) -> tuple[str, list[Citation]]:
    """The report's paragraph on why the twin predicts what it does for erlotinib and osimertinib
    at these doses, and what would change it. Every number is the run's catalogue value (with its
    source) or computed from it (:func:`egfr_inhibition`). ``sensitivity``: the report has the
    global sensitivity section, and the paragraph points to its ranking.

    Returns
    -------
    text : str
    citations : list of Citation
        The catalogue values the text cites, in order.
    """
    cat = catalog or load_catalog()
    pm = PathwayModel.from_catalog(cat)
    regimens = list(dict.fromkeys(regimens))
    if not regimens:
        return "", []
    drugs = list(dict.fromkeys(d for d, _ in regimens))
    citations: list[Citation] = []
    per_drug = []
    for drug in drugs:
        cs = [cite(cat, p) for p in _cited_paths(cat, drug)]
        citations += cs
        potency, fu, kp = cs[:3]
        part = (
            f"{drug}: wild-type EGFR IC50 {potency.text()}, free in the model "
            f"{pm.egfr_tki_k_nM[drug]:.3g} nM; fu {fu.text()}; CSF Kp,uu {kp.text()}"
        )
        for k in range(3, len(cs), 2):
            met = cs[k].path.split(".", 1)[0]
            part += (
                f"; its metabolite {met}: wild-type EGFR IC50 {cs[k].text()}, formed from a "
                f"fraction {cs[k + 1].text()} of the parent's clearance"
            )
        per_drug.append(part)
    inhibition = {(d, r): egfr_inhibition(d, r, cat) for d, r in regimens}
    levels = "; ".join(
        f"{d} {r}: Σ = {x:.2g}, EGFR activity × {1 / (1 + x):.2f}"
        for (d, r), x in inhibition.items()
    )
    text = (
        "**Why the twin ranks erlotinib and osimertinib as it does.** AREG-driven cells carry "
        "wild-type EGFR, so what counts is each drug's potency on wild-type EGFR, how much of "
        "it is unbound in plasma and how much of the unbound drug crosses into the CSF and the "
        "lesion (the lesion's Kp,uu follows from the CSF Kp,uu through the blood–tumour "
        "barrier). Catalogue values of this run: "
        + "; ".join(per_drug)
        + ". The free potency is the nominal IC50 times the drug's unbound fraction in the 10 % "
        "serum of the assay. At steady state in the typical patient, the unbound lesion "
        "concentration over the free potency, summed over parent and active metabolite (Σ; "
        "the model divides EGFR activity by 1 + Σ), is: " + levels + "."
    )
    changes = []
    for d in drugs:  # the PK is linear: the fold change is the same at every dose of a drug
        ranked = _prior_effects(cat, d, next(r for dd, r in regimens if dd == d))[:3]
        if ranked:
            changes.append(f"{d}: " + ", ".join(f"{_what(p)} {f:.2g}-fold" for p, f in ranked))
    text += (
        "\n\n**What would change the prediction.** A drug with Σ well above 1 keeps EGFR "
        "blocked across its dose range, one near or below 1 does not, so the dose dependence "
        "hinges on the values above. Moving one cited value across its prior range, the others "
        "held, changes Σ at any dose by (largest first): "
        + ("; ".join(changes) if changes else "none of the cited values has a prior range")
        + ". A measurement of the values at the top of this ranking would narrow the "
        "prediction most."
    )
    if sensitivity:
        text += (
            " The global sensitivity section below ranks every uncertain value by its effect "
            "on each human PK readout (tornado figures `PK.human.erlotinib` and "
            "`PK.human.osimertinib`, `sensitivity_morris.csv`)."
        )
    return text, citations


def sweep_view(sweep: pd.DataFrame) -> pd.DataFrame:
    """The schedule sweep as the report prints it: one row per regimen, short columns (the
    regimen's dosing events, exposure bands and sources stay in ``human_schedule_sweep.csv``)."""
    rows = []
    for r in sweep.itertuples(index=False):
        pfs = (
            f"{r.median_pfs_days:.0f} ({r.pfs_ci_low_days:.0f}–{r.pfs_ci_high_days:.0f})"
            if r.pfs_reached
            else "not reached"
        )
        rows.append(
            {
                "regimen": r.label,
                "mg/week": f"{r.weekly_dose_mg:g}",
                "unbound AUC/week (µM·h)": _num(r.unbound_auc_week_uM_h),
                "lesion Cavg / potency": _num(r.lesion_cavg_over_potency),
                "controlled at wk 12 (95 % CI)": (
                    f"{r.controlled}/{r.n} = {100 * r.fraction_controlled_wk12:.0f} % "
                    f"({100 * r.ci_low:.0f}–{100 * r.ci_high:.0f} %)"
                ),
                "median PFS, d (95 % CI)": pfs,
                "chosen": "yes" if r.chosen else "",
            }
        )
    return pd.DataFrame(rows)


def _days(x: float) -> str:
    return f"{x:.0f} d" if np.isfinite(x) else "not reached"


def _mg(x: float) -> str:
    return f"{x:g} mg" if np.isfinite(x) else "none of the sweep"


def uncertainty_text(
    summary: pd.DataFrame,
    bracket: pd.DataFrame,
    spec: UncertaintySpec,
    n_draws: int,
    n_patients: int,
) -> str:
    """The report paragraph on the credible intervals, the dose bracket and smokers; every
    number taken from the two tables."""
    follow = f"{spec.follow_up_days:g} d"
    out = [
        "**Model prediction with credible intervals.** Outer loop: "
        f"{n_draws} parameter sets (the calibration's posterior where it fitted a value, the "
        f"prior elsewhere); inner loop: {n_patients} virtual patients per regimen and set "
        f"(follow-up {follow}, `human_uncertainty.csv`, per set `human_uncertainty_draws.csv`). "
        "P(control) is the fraction controlled at week 12, given as its median over parameter "
        "sets with the central 95 % interval (which also holds the inner loop's binomial noise); "
        "TTP is the median time to progression (burden above twice its start) with its 95 % "
        f"interval over sets, 'not reached' beyond {follow}."
    ]
    for r in summary.itertuples(index=False):
        who = " (smokers)" if r.population == SMOKERS else ""
        out.append(
            f"{r.label}{who}: P(control) {100 * r.p_control_median:.0f} % "
            f"(95 % CrI {100 * r.p_control_low:.0f}–{100 * r.p_control_high:.0f} %), "
            f"TTP {_days(r.ttp_median_days)} ({_days(r.ttp_low_days)}–{_days(r.ttp_high_days)})."
        )
    thr = f"{100 * spec.control_threshold:.0f} %"
    for b in bracket.itertuples(index=False):
        who = f"{b.egfr_tki} ({b.population})"
        if b.bracketed:
            s = (
                f"Lowest controlling once-daily dose, {who}: between {b.lower_mg:g} mg "
                f"(controls at least {thr} of patients in {100 * b.p_lower_controls:.0f} % of "
                f"parameter sets) and {b.upper_mg:g} mg (in {100 * b.p_upper_controls:.0f} %)"
            )
        elif b.below_sweep:
            s = (
                f"Lowest controlling once-daily dose, {who}: at or below the lowest dose of the "
                f"sweep, {b.upper_mg:g} mg (controls in {100 * b.p_upper_controls:.0f} % of sets)"
            )
        else:
            s = (
                f"{who.capitalize()}: no once-daily dose of the sweep ({b.doses_mg} mg) controls "
                f"at least {thr} of patients in most parameter sets (P per dose {b.p_controls})"
            )
        s += (
            f"; per set, the lowest controlling dose has median {_mg(b.lowest_dose_median_mg)} "
            f"(95 % interval {_mg(b.lowest_dose_low_mg)} to {_mg(b.lowest_dose_high_mg)})."
        )
        out.append(s)
    erl = bracket[bracket["egfr_tki"] == "erlotinib"].set_index("population")
    if SMOKERS in erl.index and len(erl) > 1:
        out.append(
            "Smoking (erlotinib CL x the catalogue's `smoking_CL`, Hamilton 2006, PMID 16609030) "
            "moves the bracket up; the label's 25 mg tablet is the lowest clinical dose, so doses "
            "below it are what-ifs that locate the threshold, not recommendations."
        )
    return " ".join(out)


def uncertainty_figure(summary: pd.DataFrame, bracket: pd.DataFrame, threshold: float) -> Figure:
    """Left: P(control at week 12) per regimen and population, median with its 95 % credible
    interval. Right: probability over parameter sets that each once-daily dose controls, per drug
    and population, against the dose (log scale)."""
    fig = Figure(figsize=(12, 0.32 * len(summary) + 2.2), layout="constrained")
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    y = np.arange(len(summary))[::-1]
    colour = np.where(summary["population"] == SMOKERS, "C3", "C0")
    ax1.errorbar(
        summary["p_control_median"],
        y,
        xerr=np.clip(
            np.vstack(
                [
                    summary["p_control_median"] - summary["p_control_low"],
                    summary["p_control_high"] - summary["p_control_median"],
                ]
            ),
            0.0,
            None,
        ),
        fmt="none",
        ecolor="0.4",
        capsize=3,
    )
    ax1.scatter(summary["p_control_median"], y, c=list(colour), zorder=3)
    labels = [
        f"{lab} (smokers)" if pop == SMOKERS else lab
        for lab, pop in zip(summary["label"], summary["population"], strict=True)
    ]
    ax1.set_yticks(y, labels, fontsize=7)
    ax1.axvline(threshold, color="k", ls=":", lw=1)
    ax1.set_xlim(-0.03, 1.03)
    ax1.set_xlabel("controlled at week 12 (fraction; median, 95 % CrI)")
    ax1.set_title("Week-12 control over parameter sets x patients", fontsize=9)
    daily = summary[(summary["egfr_tki"] != NO_TKI) & summary["daily_dose_mg"].notna()]
    for k, ((drug, pop), g) in enumerate(daily.groupby(["egfr_tki", "population"], sort=False)):
        g = g.sort_values("daily_dose_mg")
        ax2.plot(
            g["daily_dose_mg"],
            g["p_regimen_controls"],
            marker="o",
            ls="--" if pop == SMOKERS else "-",
            color=f"C{k}",
            label=f"{drug}, {pop}",
        )
        b = bracket[(bracket["egfr_tki"] == drug) & (bracket["population"] == pop)]
        if not b.empty and bool(b["bracketed"].iloc[0]):
            ax2.axvspan(b["lower_mg"].iloc[0], b["upper_mg"].iloc[0], color=f"C{k}", alpha=0.12)
    ax2.axhline(0.5, color="k", ls=":", lw=1)
    ax2.set_xscale("log")
    ax2.set_ylim(-0.03, 1.03)
    ax2.set_xlabel("once-daily dose (mg)")
    ax2.set_ylabel(f"P(dose controls >= {100 * threshold:.0f} % of patients)")
    ax2.set_title("Dose bracket (shaded: lowest controlling dose)", fontsize=9)
    ax2.legend(fontsize=7)
    return fig
