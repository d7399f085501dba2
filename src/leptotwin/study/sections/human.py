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
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin.analysis.survival import median_survival, plot_km
from leptotwin.model import parse_regimen, simulate_pk
from leptotwin.model.cohort import Arm
from leptotwin.model.pathway import PathwayModel
from leptotwin.study.reproduce import Context, SectionResult, register_section
from leptotwin.study.schedule_sweep import (
    SweepSpec,
    choose_regimens,
    control_at,
    load_protocol,
    progression,
    schedule_sweep,
    simulate_patients,
    sweep_figure,
    sweep_text,
)


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
    cohort = simulate_patients(
        arms,
        n_per_arm=n,
        follow_up_days=proto["follow_up_days"],
        observe_days=np.arange(0.0, proto["follow_up_days"] + 1e-9, proto["observe_every_days"]),
        rng=ctx.rng,
    )
    prog = progression(cohort.observations, fold)
    med = median_survival(prog)
    control = control_at(cohort.observations)
    # every (drug, regimen) of the arms, in arm order
    regimens = dict.fromkeys((d, r) for a in arms for d, r in a.regimens.items())
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
        f"tumour kinetics; {n} virtual patients per arm with AREG-driven LMC. Osimertinib is "
        "weak on wild-type EGFR and human AZ5104 exposure is ~10 % of the parent, so the twin "
        "predicts a dose dependence of osimertinib that erlotinib (potent on wild-type EGFR, "
        "unbound exposure far above its potency) does not show. Uncertainty here is the "
        "variability of PK and tumour parameters; the structural assumptions (catalogue block "
        "`lmc_human`) are larger and untested."
    )
    spec = SweepSpec.from_protocol(proto)
    sweep = schedule_sweep(
        spec,
        n_per_arm=spec.quick_patients_per_regimen if ctx.quick else spec.patients_per_regimen,
        rng=ctx.rng,
        follow_up_days=proto["follow_up_days"],
        observe_every_days=proto["observe_every_days"],
        progression_fold=proto["progression_fold"],
    )
    choice = choose_regimens(sweep, spec.control_margin, spec.min_control)
    sweep["chosen"] = sweep["label"].isin(choice.loc[choice["chosen_label"] != "", "chosen_label"])
    text += "\n\n" + sweep_text(sweep, choice, spec.control_margin, spec.min_control)
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
        ],
        tables={
            "human_exposure.csv": exposure,
            "human_progression.csv": prog,
            "human_median_pfs.csv": med,
            "human_control_week12.csv": control,
            "human_schedule_sweep.csv": sweep,
            "human_schedule_choice.csv": choice,
        },
    )
