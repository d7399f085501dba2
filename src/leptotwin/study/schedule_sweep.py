"""Dose/schedule sweep of the human translation: a model prediction, not a claim of the study.

The protocol block ``schedule_sweep`` of ``human_translation.yaml`` answers CLAIMS.md's "which
EGFR-TKI dose and schedule keeps control at the lowest exposure": each EGFR-TKI regimen of the
protocol on top of alectinib 600 mg BID, plus alectinib alone, with the steady-state unbound plasma
AUC per week, the fraction controlled at week 12 with a Wilson 95 % CI and the median
progression-free time. The rule (:func:`choose_regimens`): per drug, the regimen with the lowest
unbound plasma AUC per week whose fraction controlled is at least the drug's best fraction minus
``control_margin`` (0.05 in the protocol) and at least ``min_control`` (0.5: "keeps control" means
most patients are controlled), provided the drug's best regimen beats alectinib alone (its Wilson
lower bound above alectinib alone's upper bound); otherwise no regimen of that drug is chosen.

The report section that runs it is ``study/sections/human.py``; this module registers nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.integrate import trapezoid

from leptotwin.analysis.survival import median_survival
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.catalog.loader import using_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model import parse_regimen, simulate_pk
from leptotwin.model.cohort import Arm, CohortResult, simulate_lmc
from leptotwin.model.pathway import PathwayModel
from leptotwin.model.pk import draw_subjects, smoker_catalog
from leptotwin.model.tumor import TumorParameters
from leptotwin.study._figures import legible_log_ticks
from leptotwin.study.protocol_schema import load_packaged_protocol


def load_protocol() -> dict:
    return load_packaged_protocol("human_translation")


def progression(obs: pd.DataFrame, fold: float) -> pd.DataFrame:
    """Per patient: first observation day with burden above ``fold`` × its day-0 value (event),
    else censored at the last observation."""
    base = obs[obs["day"] == 0].set_index("subject")["total_cells"]
    over = (obs["day"] > 0) & (obs["total_cells"] / obs["subject"].map(base) > fold)
    first_over = obs["day"].where(over).groupby(obs["subject"]).min()
    last_alive = obs["day"].where(obs["alive"]).groupby(obs["subject"]).max()
    return pd.DataFrame(
        {
            "mouse": [f"p{s:04d}" for s in first_over.index],
            "arm": obs.groupby("subject")["arm"].first().to_numpy(),
            "time_days": first_over.fillna(last_alive).to_numpy(float),
            "event": first_over.notna().to_numpy(int),
        }
    )


def simulate_patients(
    arms: list[Arm],
    *,
    n_per_arm: int,
    follow_up_days: float,
    observe_days: np.ndarray,
    rng: np.random.Generator,
    catalog: Catalog | None = None,
    dt_h: float = 1.0,
) -> CohortResult:
    """Virtual ALK+ patients with AREG-driven (A925L/AR-like) LMC: human PK and CSF, tumour
    kinetics of the catalogue block ``lmc_human``, days from the start of treatment.

    ``dt_h`` is the growth step (h). Human half-lives are 1-2 days, so a 6 h step gives the same
    fractions controlled as 1 h to one patient in 200 (tests/study/test_human_uncertainty.py)."""
    cat = catalog or load_catalog()
    return simulate_lmc(
        arms,
        n_per_arm=n_per_arm,
        days=follow_up_days,
        observe_days=observe_days,
        rng=rng,
        inoculum="A925L/AR",
        species="human",
        dt_h=dt_h,
        tumor=TumorParameters.from_catalog(cat, block="lmc_human", species="human"),
        catalog=cat,
    )


#: Two-sided 95 % standard-normal quantile (Wilson interval).
Z95 = 1.959963984540054
#: Day from the start of treatment on which control is judged (week 12).
CONTROL_DAY = 84.0
#: Steady-state window of the exposure summary (h from the first dose): days 21-35, two whole
#: weeks, so every schedule with a period of 24, 48 or 168 h repeats a whole number of times.
SS_WINDOW_H = (504.0, 840.0)
#: ``egfr_tki`` value of the background-alone arm in the sweep table.
NO_TKI = "none"


def wilson_interval(
    k: np.ndarray | pd.Series | float, n: np.ndarray | pd.Series | float, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``k / n`` (Wilson 1927), computed by
    statsmodels ``proportion_confint(method="wilson")``; equal to R's ``prop.test(correct =
    FALSE)`` interval.

    Parameters
    ----------
    k, n : array_like of shape (m,), or scalars
        Successes and trials (0 ≤ k ≤ n, n ≥ 1).
    z : float
        Standard-normal quantile of the two-sided level (1.96 for 95 %).

    Returns
    -------
    lower, upper : ndarray of shape (m,) (0-d for scalars)
        Bounds as fractions in [0, 1].
    """
    from scipy.stats import norm
    from statsmodels.stats.proportion import proportion_confint

    k_ = np.asarray(k, dtype=float)
    n_ = np.asarray(n, dtype=float)
    if np.any(n_ < 1) or np.any(k_ < 0) or np.any(k_ > n_):
        raise LeptotwinError(
            "need 0 <= successes <= trials and trials >= 1", field="k/n", value=(k, n)
        )
    lower, upper = proportion_confint(k_, n_, alpha=2.0 * norm.sf(z), method="wilson")
    return np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)


def control_at(obs: pd.DataFrame, day: float = CONTROL_DAY) -> pd.DataFrame:
    """Control per arm on ``day``: alive and total burden ≤ its day-0 value (as in the section).

    Parameters
    ----------
    obs : DataFrame
        ``CohortResult.observations`` (``subject, arm, day, total_cells, alive``), with rows on
        day 0 and on ``day``.

    Returns
    -------
    DataFrame
        One row per arm (order kept): ``arm, n, controlled, fraction_controlled_wk12, ci_low,
        ci_high`` (Wilson 95 % CI, fractions).
    """
    base = obs[obs["day"] == 0].set_index("subject")["total_cells"]
    at = obs[obs["day"] == day]
    if at.empty:
        raise LeptotwinError("no observation on the control day", field="observe_days", value=day)
    ratio = at["total_cells"] / at["subject"].map(base)
    ok = (at["alive"] & (ratio <= 1.0)).astype(int)
    g = ok.groupby(at["arm"], sort=False)
    out = pd.DataFrame({"n": g.size(), "controlled": g.sum()}).reset_index()
    out["fraction_controlled_wk12"] = out["controlled"] / out["n"]
    out["ci_low"], out["ci_high"] = wilson_interval(out["controlled"], out["n"])
    return out


@dataclass(frozen=True)
class SweepRegimen:
    """One EGFR-TKI regimen of the sweep (given on top of the background).

    Attributes
    ----------
    drug : str
        Catalogue name of an EGFR TKI with human PK.
    regimen : str
        Text for :func:`~leptotwin.model.parse_regimen`, flat doses in mg.
    label : str
        Arm name in the report (unique).
    source : str
        Where the regimen comes from, or why it is an assumption.
    """

    drug: str
    regimen: str
    label: str
    source: str


@dataclass(frozen=True)
class SweepSpec:
    """The ``schedule_sweep`` block of ``human_translation.yaml``, checked.

    Attributes
    ----------
    background : mapping of drug to regimen text
        Given to every arm (alectinib 600 mg BID).
    reference : str
        Name of the background-alone arm.
    regimens : tuple of SweepRegimen
    patients_per_regimen, quick_patients_per_regimen : int
        Virtual patients per arm (default and ``--quick`` runs).
    exposure_subjects : int
        Virtual patients for the PK-only exposure summary.
    control_margin : float
        Fraction (0.05 = 5 percentage points) of the rule in :func:`choose_regimens`.
    min_control : float
        Least fraction controlled at week 12 for a regimen to count as keeping control.
    """

    background: Mapping[str, str]
    reference: str
    regimens: tuple[SweepRegimen, ...]
    patients_per_regimen: int
    quick_patients_per_regimen: int
    exposure_subjects: int
    control_margin: float
    min_control: float = 0.5

    @classmethod
    def from_protocol(
        cls, proto: Mapping | None = None, *, catalog: Catalog | None = None
    ) -> SweepSpec:
        """Read and check the block (unknown drug, bad regimen text, repeated label → error)."""
        src = "human_translation.yaml"
        block = (proto if proto is not None else load_protocol()).get("schedule_sweep")
        if not isinstance(block, Mapping):
            raise LeptotwinError("missing block", source=src, field="schedule_sweep")
        cat = catalog or load_catalog()
        tkis = PathwayModel.from_catalog(cat).egfr_tki_k_nM
        try:
            background = {str(d): str(r) for d, r in block["background"].items()}
            regimens = _read_regimens(block["regimens"])
            spec = cls(
                background=background,
                reference=str(block["reference"]),
                regimens=regimens,
                patients_per_regimen=int(block["patients_per_regimen"]),
                quick_patients_per_regimen=int(block["quick_patients_per_regimen"]),
                exposure_subjects=int(block["exposure_subjects"]),
                control_margin=float(block["control_margin"]),
                min_control=float(block.get("min_control", 0.5)),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise LeptotwinError(
                "malformed block", source=src, field="schedule_sweep", value=str(exc)
            ) from exc
        _check_regimens(spec.regimens, spec.background, tkis, cat, "schedule_sweep")
        _check_labels([spec.reference, *(r.label for r in spec.regimens)], "schedule_sweep")
        if not 0.0 <= spec.min_control <= 1.0:
            raise LeptotwinError(
                "must be a fraction in [0, 1]",
                source=src,
                field="schedule_sweep.min_control",
                value=spec.min_control,
            )
        if not 0.0 <= spec.control_margin < 1.0:
            raise LeptotwinError(
                "must be a fraction in [0, 1)",
                source=src,
                field="schedule_sweep.control_margin",
                value=spec.control_margin,
            )
        if min(spec.patients_per_regimen, spec.quick_patients_per_regimen) < 1:
            raise LeptotwinError("need >= 1 patient per regimen", source=src, field="patients")
        return spec


def _read_regimens(items: object) -> tuple[SweepRegimen, ...]:
    """Protocol entries ``{drug, regimen, label?, source}`` as :class:`SweepRegimen`."""
    return tuple(
        SweepRegimen(
            drug=str(r["drug"]),
            regimen=str(r["regimen"]),
            label=str(r.get("label") or f"{r['drug']} {r['regimen']}"),
            source=str(r["source"]),
        )
        for r in items  # type: ignore[attr-defined]
    )


def _check_regimens(
    regimens: tuple[SweepRegimen, ...],
    background: Mapping[str, str],
    tkis: Mapping[str, float],
    cat: Catalog,
    block: str,
) -> None:
    """Each regimen: an EGFR TKI of the pathway model with human PK, not in the background, a
    valid regimen text in flat mg doses."""
    for i, r in enumerate(regimens):
        where = f"{block}.regimens.{i}"
        if r.drug not in tkis or r.drug in background:
            raise LeptotwinError(
                "not an EGFR TKI of the pathway model, or already in the background",
                source=_PROTOCOL_FILE,
                field=f"{where}.drug",
                value=r.drug,
                expected="one of " + ", ".join(sorted(set(tkis) - set(background))),
            )
        cat.pk_parameters(r.drug, "human")
        if any(x.dose_unit != "mg" for x in parse_regimen(r.regimen)):
            raise LeptotwinError(
                "flat doses only", source=_PROTOCOL_FILE, field=f"{where}.regimen", value=r.regimen
            )


def _check_labels(labels: list[str], block: str) -> None:
    if len(set(labels)) != len(labels):
        raise LeptotwinError(
            "arm labels must be unique", source=_PROTOCOL_FILE, field=f"{block}.label"
        )


_PROTOCOL_FILE = "human_translation.yaml"


def _weekly_dose_mg(regimen: str) -> float:
    """Mean dose per week (mg) over :data:`SS_WINDOW_H`, a whole number of schedule periods."""
    lo, hi = SS_WINDOW_H
    total = 0.0
    for r in parse_regimen(regimen):
        times = r.dose_times_h(hi)
        total += r.dose * np.count_nonzero((times >= lo) & (times < hi))
    return total / ((hi - lo) / 168.0)


def sweep_exposure(
    spec: SweepSpec,
    *,
    rng: np.random.Generator,
    n_subjects: int,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Steady-state exposure of each sweep regimen (parent drug, human PK with variability).

    One set of ``n_subjects`` virtual patients per drug is drawn and shared by all of its
    regimens, so within a drug exposure orders exactly as the dose (linear PK). Exposure is taken
    over :data:`SS_WINDOW_H` (days 21-35 of dosing) on a 0.5 h grid.

    Returns
    -------
    DataFrame
        One row per regimen: ``label, weekly_dose_mg`` (mg/week), ``unbound_auc_week_uM_h``
        (median over patients of the unbound plasma AUC per week, µM·h), ``..._p05_uM_h``,
        ``..._p95_uM_h``, ``unbound_cavg_nM`` (median unbound plasma average, nM = AUC / 168 h)
        and the medians of the unbound lesion average and minimum over the free cellular potency
        on EGFR (``lesion_cavg_over_potency``, ``lesion_cmin_over_potency``, dimensionless).
    """
    cat = catalog or load_catalog()
    k_free = PathwayModel.from_catalog(cat).egfr_tki_k_nM
    t = np.arange(0.0, SS_WINDOW_H[1] + 1e-9, 0.5)
    win = t >= SS_WINDOW_H[0]
    span_h = SS_WINDOW_H[1] - SS_WINDOW_H[0]
    subjects = {}
    rows = []
    for r in spec.regimens:
        if r.drug not in subjects:
            params = cat.pk_parameters(r.drug, "human")
            subjects[r.drug] = draw_subjects(params, n_subjects, rng=rng, catalog=cat)
        res = simulate_pk(r.drug, "human", r.regimen, t_h=t, subjects=subjects[r.drug], catalog=cat)
        auc_week = trapezoid(res.unbound_nM[:, win], t[win], axis=1) * 168.0 / span_h / 1e3
        lesion = res.lesion_nM[:, win]
        lesion_avg = trapezoid(lesion, t[win], axis=1) / span_h
        p05, p50, p95 = np.percentile(auc_week, [5, 50, 95])
        rows.append(
            {
                "label": r.label,
                "weekly_dose_mg": _weekly_dose_mg(r.regimen),
                "unbound_auc_week_uM_h": p50,
                "unbound_auc_week_p05_uM_h": p05,
                "unbound_auc_week_p95_uM_h": p95,
                "unbound_cavg_nM": p50 * 1e3 / 168.0,
                "lesion_cavg_over_potency": float(np.median(lesion_avg)) / k_free[r.drug],
                "lesion_cmin_over_potency": float(np.median(lesion.min(axis=1))) / k_free[r.drug],
            }
        )
    return pd.DataFrame(rows)


def schedule_sweep(
    spec: SweepSpec,
    *,
    n_per_arm: int,
    rng: np.random.Generator,
    follow_up_days: float,
    observe_every_days: float,
    progression_fold: float,
    exposure_subjects: int | None = None,
    catalog: Catalog | None = None,
    step_h: float = 1.0,
) -> pd.DataFrame:
    """Simulate the sweep: the background alone and with each regimen, AREG-driven human LMC.

    Parameters
    ----------
    spec : SweepSpec
    n_per_arm : int
        Virtual patients per arm (``len(spec.regimens) + 1`` arms, one batch).
    rng : numpy.random.Generator
        All randomness (patients first, then the exposure summary).
    follow_up_days : float
        Follow-up from the start of treatment (d); at least :data:`CONTROL_DAY`.
    observe_every_days : float
        Burden is recorded every so many days (and on :data:`CONTROL_DAY`) for progression.
    progression_fold : float
        Progression: burden above this multiple of its day-0 value.
    exposure_subjects : int, optional
        Patients for :func:`sweep_exposure` (default ``spec.exposure_subjects``).
    catalog : Catalog, optional
        A counterfactual catalogue (e.g. ``with_cell_line("A925L/AR", mir449a=1.0, ...)``);
        used for the tumour, the pathway and the PK.
    step_h : float
        Growth step of the cohort simulation (h; the protocol's ``step_h``).

    Returns
    -------
    DataFrame
        One row per arm, the background alone first (``egfr_tki`` = ``"none"``, exposure NaN):
        ``egfr_tki, regimen, label, daily, weekly_dose_mg``, the exposure columns of
        :func:`sweep_exposure`, ``n, controlled, fraction_controlled_wk12, ci_low, ci_high``
        (Wilson 95 %), ``median_pfs_days, pfs_ci_low_days, pfs_ci_high_days, pfs_reached``
        (``inf`` when not reached) and ``source``.
    """
    if follow_up_days < CONTROL_DAY:
        raise LeptotwinError(
            "follow-up must reach the control day",
            field="follow_up_days",
            value=follow_up_days,
            expected=f">= {CONTROL_DAY:g}",
        )
    cat = catalog or load_catalog()
    arms = [Arm(spec.reference, dict(spec.background))] + [
        Arm(r.label, {**spec.background, r.drug: r.regimen}) for r in spec.regimens
    ]
    days = np.union1d(np.arange(0.0, follow_up_days + 1e-9, observe_every_days), [CONTROL_DAY])
    cohort = simulate_patients(
        arms,
        n_per_arm=n_per_arm,
        follow_up_days=follow_up_days,
        observe_days=days,
        rng=rng,
        catalog=cat,
        dt_h=step_h,
    )
    control = control_at(cohort.observations).set_index("arm")
    med = median_survival(progression(cohort.observations, progression_fold)).set_index("arm")
    exposure = sweep_exposure(
        spec, rng=rng, n_subjects=exposure_subjects or spec.exposure_subjects, catalog=cat
    ).set_index("label")
    meta = [(NO_TKI, "", spec.reference, False, "background alone")] + [
        (
            r.drug,
            r.regimen,
            r.label,
            all(x.interval_h == 24.0 for x in parse_regimen(r.regimen))
            and len(parse_regimen(r.regimen)) == 1,
            r.source,
        )
        for r in spec.regimens
    ]
    rows = []
    for drug, regimen, label, daily, source in meta:
        ex = exposure.loc[label] if label in exposure.index else None
        c, m = control.loc[label], med.loc[label]
        rows.append(
            {
                "egfr_tki": drug,
                "regimen": regimen,
                "label": label,
                "daily": daily,
                "weekly_dose_mg": 0.0 if ex is None else ex["weekly_dose_mg"],
                **{
                    col: np.nan if ex is None else ex[col]
                    for col in exposure.columns
                    if col != "weekly_dose_mg"
                },
                "n": int(c["n"]),
                "controlled": int(c["controlled"]),
                "fraction_controlled_wk12": c["fraction_controlled_wk12"],
                "ci_low": c["ci_low"],
                "ci_high": c["ci_high"],
                "median_pfs_days": m["median_days"],
                "pfs_ci_low_days": m["lower"],
                "pfs_ci_high_days": m["upper"],
                "pfs_reached": bool(m["reached"]),
                "source": source,
            }
        )
    return pd.DataFrame(rows)


def choose_regimens(table: pd.DataFrame, margin: float, min_control: float = 0.0) -> pd.DataFrame:
    """The model's answer: per drug, the lowest-exposure regimen that keeps control.

    Rule: among one drug's regimens, take the best fraction controlled at week 12, f_best. If the
    best regimen's Wilson lower bound is not above the background-alone arm's Wilson upper bound,
    or f_best < ``min_control``, no regimen is chosen (the drug adds nothing detectable, or no
    dose in the sweep keeps most patients controlled). Otherwise the chosen regimen is the one
    with the lowest median unbound plasma AUC per week among those with fraction ≥
    max(f_best − ``margin``, ``min_control``) (ties: lower weekly dose, then table order).

    Parameters
    ----------
    table : DataFrame
        :func:`schedule_sweep`'s table.
    margin : float
        Allowed loss of control, as a fraction (0.05 = 5 percentage points).
    min_control : float
        Least fraction controlled that counts as keeping control.

    Returns
    -------
    DataFrame
        One row per drug (table order): ``egfr_tki, best_label, best_fraction, best_ci_low,
        reference_fraction, reference_ci_high, beats_reference, keeps_control, threshold,
        chosen_label`` (``""``
        when none), ``chosen_fraction, chosen_ci_low, chosen_ci_high, chosen_auc_week_uM_h,
        chosen_weekly_dose_mg, edge`` (``"lowest"``/``"highest"`` when the chosen regimen has
        the lowest/highest exposure of its drug in the sweep, else ``""``).
    """
    ref = table[table["egfr_tki"] == NO_TKI].iloc[0]
    rows = []
    for drug, g in table[table["egfr_tki"] != NO_TKI].groupby("egfr_tki", sort=False):
        best = g.loc[g["fraction_controlled_wk12"].idxmax()]
        beats = bool(best["ci_low"] > ref["ci_high"])
        keeps = bool(best["fraction_controlled_wk12"] >= min_control)
        threshold = max(best["fraction_controlled_wk12"] - margin, min_control)
        row = {
            "egfr_tki": drug,
            "best_label": best["label"],
            "best_fraction": best["fraction_controlled_wk12"],
            "best_ci_low": best["ci_low"],
            "reference_fraction": ref["fraction_controlled_wk12"],
            "reference_ci_high": ref["ci_high"],
            "beats_reference": beats,
            "keeps_control": keeps,
            "threshold": threshold,
            "chosen_label": "",
            "chosen_fraction": np.nan,
            "chosen_ci_low": np.nan,
            "chosen_ci_high": np.nan,
            "chosen_auc_week_uM_h": np.nan,
            "chosen_weekly_dose_mg": np.nan,
            "edge": "",
        }
        if beats and keeps:
            ok = g[g["fraction_controlled_wk12"] >= threshold - 1e-12]
            pick = ok.sort_values(["unbound_auc_week_uM_h", "weekly_dose_mg"], kind="stable").iloc[
                0
            ]
            auc = g["unbound_auc_week_uM_h"]
            edge = ""
            if pick["unbound_auc_week_uM_h"] <= auc.min():
                edge = "lowest"
            elif pick["unbound_auc_week_uM_h"] >= auc.max():
                edge = "highest"
            row |= {
                "chosen_label": pick["label"],
                "chosen_fraction": pick["fraction_controlled_wk12"],
                "chosen_ci_low": pick["ci_low"],
                "chosen_ci_high": pick["ci_high"],
                "chosen_auc_week_uM_h": pick["unbound_auc_week_uM_h"],
                "chosen_weekly_dose_mg": pick["weekly_dose_mg"],
                "edge": edge,
            }
        rows.append(row)
    return pd.DataFrame(rows)


def _pct(x: float) -> str:
    return f"{100.0 * x:.0f} %"


def _ci(lo: float, hi: float) -> str:
    return f"95 % CI {100.0 * lo:.0f}–{100.0 * hi:.0f} %"


def _pfs(row: pd.Series) -> str:
    if not row["pfs_reached"]:
        return "median PFS not reached"
    return f"median PFS {row['median_pfs_days']:g} d"


def sweep_text(
    table: pd.DataFrame, choice: pd.DataFrame, margin: float, min_control: float = 0.0
) -> str:
    """The report paragraph on the sweep, every number taken from ``table`` and ``choice``."""
    ref = table[table["egfr_tki"] == NO_TKI].iloc[0]
    tki = table[table["egfr_tki"] != NO_TKI]
    out = [
        f"**Model prediction, not a result of the study: dose and schedule.** {len(tki)} "
        f"EGFR-TKI regimens on top of {ref['label'].removesuffix(' alone')}, "
        f"{int(ref['n'])} virtual patients per regimen (`human_schedule_sweep.csv`). Exposure is "
        "the median unbound plasma AUC per week at steady state (parent drug). Rule: for each "
        "drug, the regimen with the lowest exposure whose fraction controlled at week 12 is at "
        f"least that drug's best minus {100.0 * margin:g} percentage points and at least "
        f"{_pct(min_control)} (most patients controlled), provided the best beats alectinib "
        "alone (Wilson 95 % CIs apart); otherwise none. "
        f"{ref['label'][:1].upper()}{ref['label'][1:]}: "
        f"{_pct(ref['fraction_controlled_wk12'])} controlled "
        f"({_ci(ref['ci_low'], ref['ci_high'])}; {_pfs(ref)})."
    ]
    by_label = table.set_index("label")
    for c in choice.itertuples(index=False):
        best = f"the drug's best is {c.best_label}, {_pct(c.best_fraction)}"
        if not c.chosen_label:
            why = (
                "beats alectinib alone"
                if not c.beats_reference
                else f"controls at least {_pct(min_control)} of patients"
            )
            out.append(
                f"{c.egfr_tki.capitalize()}: no regimen in the sweep {why} ({best}); none is "
                "chosen."
            )
            continue
        if c.chosen_label == c.best_label:
            best = "also the drug's best"
        s = (
            f"{c.egfr_tki.capitalize()}: the model chooses **{c.chosen_label}** "
            f"({_pct(c.chosen_fraction)} controlled, {_ci(c.chosen_ci_low, c.chosen_ci_high)}; "
            f"{_pfs(by_label.loc[c.chosen_label])}; {c.chosen_auc_week_uM_h:.3g} µM·h per week "
            f"from {c.chosen_weekly_dose_mg:g} mg per week; {best})."
        )
        if c.edge == "lowest":
            s += " It is the lowest exposure in the sweep, so a lower dose might control as well."
        elif c.edge == "highest":
            s += " It is the highest exposure in the sweep; a higher one might control more."
        out.append(s)
    daily = tki[tki["daily"]]
    for r in tki[~tki["daily"]].itertuples(index=False):
        same = daily[
            (daily["egfr_tki"] == r.egfr_tki)
            & np.isclose(daily["weekly_dose_mg"], r.weekly_dose_mg)
        ]
        if not same.empty:
            d = same.iloc[0]
            out.append(
                f"Same weekly dose, other schedule: {r.label} {_pct(r.fraction_controlled_wk12)} "
                f"controlled (lesion trough {r.lesion_cmin_over_potency:.2g}x the free potency) "
                f"against {d['label']} {_pct(d['fraction_controlled_wk12'])} "
                f"({d['lesion_cmin_over_potency']:.2g}x)."
            )
    out.append(
        "The rule weighs LMC control only: toxicity, which limits high doses and pulses, is not "
        "modelled, and the PK is taken as linear up to the highest pulse doses."
    )
    return " ".join(out)


def sweep_figure(table: pd.DataFrame, choice: pd.DataFrame) -> Figure:
    """Fraction controlled at week 12 (Wilson 95 % CI) against unbound plasma AUC per week, one
    panel per drug: daily doses joined by a line, other schedules as squares, the chosen regimen
    ringed in red, alectinib alone as a grey band (its CI)."""
    ref = table[table["egfr_tki"] == NO_TKI].iloc[0]
    drugs = list(choice["egfr_tki"])
    fig = Figure(figsize=(5.5 * len(drugs), 4.2), layout="constrained")
    chosen = dict(zip(choice["egfr_tki"], choice["chosen_label"], strict=True))
    for k, drug in enumerate(drugs):
        ax = fig.add_subplot(1, len(drugs), k + 1)
        g = table[table["egfr_tki"] == drug].sort_values("unbound_auc_week_uM_h")
        ax.axhspan(ref["ci_low"], ref["ci_high"], color="0.85", zorder=0)
        ax.axhline(ref["fraction_controlled_wk12"], color="0.5", lw=1, label=ref["label"])
        for daily, marker, ls in ((True, "o", "-"), (False, "s", "none")):
            h = g[g["daily"] == daily]
            if h.empty:
                continue
            f = h["fraction_controlled_wk12"]
            ax.errorbar(
                h["unbound_auc_week_uM_h"],
                f,
                yerr=np.clip(np.vstack([f - h["ci_low"], h["ci_high"] - f]), 0.0, None),
                marker=marker,
                ls=ls,
                color=f"C{k}",
                capsize=3,
                label="daily" if daily else "other schedules",
            )
        for r in g.itertuples(index=False):
            ax.annotate(
                r.label.removeprefix(f"{drug} "),
                (r.unbound_auc_week_uM_h, r.fraction_controlled_wk12),
                xytext=(3, 7) if r.daily else (3, -7),
                textcoords="offset points",
                fontsize=6.5,
                rotation=30 if r.daily else -30,
                va="bottom" if r.daily else "top",
            )
            if r.label == chosen[drug]:
                ax.plot(
                    r.unbound_auc_week_uM_h,
                    r.fraction_controlled_wk12,
                    "o",
                    ms=14,
                    mfc="none",
                    mec="red",
                    mew=2,
                    label="chosen (rule in text)",
                )
        ax.set_xscale("log")
        legible_log_ticks(ax.xaxis)
        ax.set_ylim(-0.25, 1.32)
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
        ax.set_xlabel("unbound plasma AUC per week, steady state (µM·h)")
        ax.set_ylabel("controlled at week 12 (fraction, 95 % CI)")
        title = f"{drug} + {ref['label'].removesuffix(' alone')}"
        if not chosen[drug]:
            title += ": none chosen"
        ax.set_title(title, fontsize=9)
        if k == 0:
            ax.legend(fontsize=7, loc="center left")
    return fig


# ---------------------------------------------------------------------------------------------
# Uncertainty: an outer loop over parameter draws (posterior where calibrated, prior elsewhere)
# and an inner loop over virtual patients (between-patient variability)
# ---------------------------------------------------------------------------------------------

#: Populations of the uncertainty sweep: the catalogue's typical patients, and current smokers
#: (every drug's CL times its ``covariates.smoking_CL``; :func:`leptotwin.model.pk.smoker_catalog`).
NON_SMOKERS, SMOKERS = "non-smokers", "smokers"


@dataclass(frozen=True)
class UncertaintySpec:
    """The ``uncertainty`` block of ``human_translation.yaml``, checked.

    Attributes
    ----------
    draws, quick_draws : int
        Parameter sets (outer loop) in the default and ``--quick`` runs.
    patients_per_draw, quick_patients_per_draw : int
        Virtual patients per regimen and parameter set (inner loop).
    follow_up_days : float
        Follow-up (d) from the start of treatment; at least :data:`CONTROL_DAY`. Time to
        progression beyond it is reported as not reached.
    step_h : float
        Growth step of the cohort simulation (h).
    control_threshold : float
        A regimen *controls* in a parameter set when at least this fraction of its virtual
        patients is controlled at week 12.
    regimens : tuple of SweepRegimen
        Given on top of the sweep's background; the background alone is always run too.
    smokers : tuple of str
        Labels of regimens that are also run in current smokers.
    """

    draws: int
    quick_draws: int
    patients_per_draw: int
    quick_patients_per_draw: int
    follow_up_days: float
    step_h: float
    control_threshold: float
    regimens: tuple[SweepRegimen, ...]
    smokers: tuple[str, ...] = ()

    @classmethod
    def from_protocol(
        cls, proto: Mapping | None = None, *, catalog: Catalog | None = None
    ) -> UncertaintySpec:
        """Read and check the block (unknown drug or smoker label, bad sizes → error)."""
        proto = proto if proto is not None else load_protocol()
        block = proto.get("uncertainty")
        if not isinstance(block, Mapping):
            raise LeptotwinError("missing block", source=_PROTOCOL_FILE, field="uncertainty")
        cat = catalog or load_catalog()
        background = SweepSpec.from_protocol(proto, catalog=cat).background
        try:
            spec = cls(
                draws=int(block["draws"]),
                quick_draws=int(block["quick_draws"]),
                patients_per_draw=int(block["patients_per_draw"]),
                quick_patients_per_draw=int(block["quick_patients_per_draw"]),
                follow_up_days=float(block["follow_up_days"]),
                step_h=float(block["step_h"]),
                control_threshold=float(block["control_threshold"]),
                regimens=_read_regimens(block["regimens"]),
                smokers=tuple(str(x) for x in block.get("smokers", ())),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise LeptotwinError(
                "malformed block", source=_PROTOCOL_FILE, field="uncertainty", value=str(exc)
            ) from exc
        tkis = PathwayModel.from_catalog(cat).egfr_tki_k_nM
        _check_regimens(spec.regimens, background, tkis, cat, "uncertainty")
        _check_labels([r.label for r in spec.regimens], "uncertainty")
        unknown = set(spec.smokers) - {r.label for r in spec.regimens}
        if unknown:
            raise LeptotwinError(
                "smokers must name regimens of the block",
                source=_PROTOCOL_FILE,
                field="uncertainty.smokers",
                value=sorted(unknown),
            )
        sizes = (spec.draws, spec.quick_draws, spec.patients_per_draw, spec.quick_patients_per_draw)
        if min(sizes) < 1:
            raise LeptotwinError(
                "need >= 1 draw and patient", source=_PROTOCOL_FILE, field="uncertainty"
            )
        if spec.follow_up_days < CONTROL_DAY or not 0 < spec.step_h <= 24:
            raise LeptotwinError(
                "follow-up must reach the control day and the step lie in (0, 24] h",
                source=_PROTOCOL_FILE,
                field="uncertainty",
                value=(spec.follow_up_days, spec.step_h),
            )
        if not 0.0 < spec.control_threshold <= 1.0:
            raise LeptotwinError(
                "must be a fraction in (0, 1]",
                source=_PROTOCOL_FILE,
                field="uncertainty.control_threshold",
                value=spec.control_threshold,
            )
        return spec


def _daily_dose_mg(regimen: str) -> float:
    """The dose of a once-daily regimen (mg), NaN for any other schedule."""
    regs = parse_regimen(regimen)
    if len(regs) == 1 and regs[0].interval_h == 24.0:
        return float(regs[0].dose)
    return float("nan")


def km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan–Meier median: the first time at which the estimate is ≤ 0.5 (lifelines'
    convention, as :func:`~leptotwin.analysis.survival.median_survival`); ``inf`` when it is
    not reached. Censored times at an event time count as still at risk."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    s = 1.0
    for t in np.unique(time[event]):
        at_risk = np.count_nonzero(time >= t)
        s *= 1.0 - np.count_nonzero(event & (time == t)) / at_risk
        if s <= 0.5:
            return float(t)
    return float("inf")


def uncertainty_sweep(
    sweep: SweepSpec,
    spec: UncertaintySpec,
    *,
    catalogs: Sequence[Catalog],
    n_patients: int,
    rng: np.random.Generator,
    observe_every_days: float,
    progression_fold: float,
) -> pd.DataFrame:
    """Week-12 control and time to progression per regimen in every parameter set.

    Outer loop: ``catalogs`` (e.g. :func:`leptotwin.catalog.posterior.draw_catalogs`), each run
    inside :func:`~leptotwin.catalog.loader.using_catalog` so every model default sees it. Inner
    loop: ``n_patients`` virtual patients per regimen (between-patient variability of PK,
    burden and growth), the background alone and each regimen of ``spec``; the regimens named
    in ``spec.smokers`` are also run in current smokers (:func:`~leptotwin.model.pk.
    smoker_catalog` of the same parameter set).

    Returns
    -------
    DataFrame
        One row per parameter set, population and arm: ``draw, population, label, egfr_tki,
        regimen, daily_dose_mg`` (NaN unless once daily), ``weekly_dose_mg, n, controlled,
        fraction_controlled_wk12, median_ttp_days`` (Kaplan–Meier median time to progression
        over the draw's patients, ``inf`` when not reached within ``spec.follow_up_days``).
    """
    days = np.union1d(np.arange(0.0, spec.follow_up_days + 1e-9, observe_every_days), [CONTROL_DAY])
    meta = {sweep.reference: (NO_TKI, "", float("nan"), 0.0)} | {
        r.label: (r.drug, r.regimen, _daily_dose_mg(r.regimen), _weekly_dose_mg(r.regimen))
        for r in spec.regimens
    }
    all_arms = [Arm(sweep.reference, dict(sweep.background))] + [
        Arm(r.label, {**sweep.background, r.drug: r.regimen}) for r in spec.regimens
    ]
    smoker_arms = [a for a in all_arms if a.name in spec.smokers]
    rows = []
    for k, cat in enumerate(catalogs):
        runs = [(NON_SMOKERS, cat, all_arms)]
        if smoker_arms:
            runs.append((SMOKERS, smoker_catalog(cat), smoker_arms))
        for population, run_cat, arms in runs:
            with using_catalog(run_cat):
                cohort = simulate_patients(
                    arms,
                    n_per_arm=n_patients,
                    follow_up_days=spec.follow_up_days,
                    observe_days=days,
                    rng=rng,
                    catalog=run_cat,
                    dt_h=spec.step_h,
                )
            control = control_at(cohort.observations).set_index("arm")
            prog = progression(cohort.observations, progression_fold)
            for arm in arms:
                g = prog[prog["arm"] == arm.name]
                drug, regimen, daily, weekly = meta[arm.name]
                c = control.loc[arm.name]
                rows.append(
                    {
                        "draw": k,
                        "population": population,
                        "label": arm.name,
                        "egfr_tki": drug,
                        "regimen": regimen,
                        "daily_dose_mg": daily,
                        "weekly_dose_mg": weekly,
                        "n": int(c["n"]),
                        "controlled": int(c["controlled"]),
                        "fraction_controlled_wk12": float(c["fraction_controlled_wk12"]),
                        "median_ttp_days": km_median(g["time_days"], g["event"]),
                    }
                )
    return pd.DataFrame(rows)


def _quantiles(x: pd.Series, qs: tuple[float, ...]) -> list[float]:
    """Quantiles without interpolation (inverted CDF), so ``inf`` (not reached) stays ``inf``."""
    return [float(v) for v in np.quantile(x.to_numpy(float), qs, method="inverted_cdf")]


def summarise_uncertainty(long: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Credible intervals over parameter sets, per population and regimen.

    Returns
    -------
    DataFrame
        ``population, label, egfr_tki, regimen, daily_dose_mg, weekly_dose_mg, n_draws,
        patients_per_draw``; ``p_control_median, p_control_low, p_control_high``: median and
        central 95 % interval over parameter sets of the fraction controlled at week 12;
        ``p_control_mean``: the fraction over all draws and patients (marginal prediction);
        ``p_regimen_controls``: the share of parameter sets in which the regimen controls
        (fraction ≥ ``threshold``); ``ttp_median_days, ttp_low_days, ttp_high_days``: median and
        95 % interval over parameter sets of the median time to progression (``inf``: not reached
        within follow-up).
    """
    rows = []
    for (population, label), g in long.groupby(["population", "label"], sort=False):
        f = g["fraction_controlled_wk12"]
        lo, med, hi = _quantiles(f, (0.025, 0.5, 0.975))
        t_lo, t_med, t_hi = _quantiles(g["median_ttp_days"], (0.025, 0.5, 0.975))
        first = g.iloc[0]
        rows.append(
            {
                "population": population,
                "label": label,
                "egfr_tki": first["egfr_tki"],
                "regimen": first["regimen"],
                "daily_dose_mg": first["daily_dose_mg"],
                "weekly_dose_mg": first["weekly_dose_mg"],
                "n_draws": int(g["draw"].nunique()),
                "patients_per_draw": int(first["n"]),
                "p_control_median": med,
                "p_control_low": lo,
                "p_control_high": hi,
                "p_control_mean": float(g["controlled"].sum() / g["n"].sum()),
                "p_regimen_controls": float((f >= threshold - 1e-12).mean()),
                "ttp_median_days": t_med,
                "ttp_low_days": t_lo,
                "ttp_high_days": t_hi,
            }
        )
    return pd.DataFrame(rows)


def dose_bracket(long: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The lowest controlling once-daily dose per drug and population, with its uncertainty.

    In each parameter set, the lowest daily dose whose fraction controlled at week 12 is ≥
    ``threshold`` is that set's lowest controlling dose (none: above the sweep). Over parameter
    sets: P(dose controls) for every dose, and the bracket: ``upper`` = the lowest dose that
    controls in more than half of the parameter sets, ``lower`` = the next lower dose of the
    sweep (it controls in at most half). ``bracketed`` is true when both exist;
    ``below_sweep`` when the lowest dose already controls in most sets, ``above_sweep`` when no
    dose does.

    Returns
    -------
    DataFrame
        One row per (drug, population): ``egfr_tki, population, doses_mg`` (text), ``p_controls``
        (text, per dose), ``lower_mg, upper_mg, p_lower_controls, p_upper_controls, bracketed,
        below_sweep, above_sweep, lowest_dose_median_mg, lowest_dose_low_mg,
        lowest_dose_high_mg`` (median and 95 % interval over parameter sets of the per-set lowest
        controlling dose; ``inf``: no dose of the sweep controls in that set).
    """
    daily = long[(long["egfr_tki"] != NO_TKI) & long["daily_dose_mg"].notna()]
    rows = []
    for (drug, population), g in daily.groupby(["egfr_tki", "population"], sort=False):
        doses = np.sort(g["daily_dose_mg"].unique())
        wide = g.pivot_table(
            index="draw", columns="daily_dose_mg", values="fraction_controlled_wk12"
        )[doses]
        ok = wide.to_numpy() >= threshold - 1e-12
        p = ok.mean(axis=0)
        per_draw = np.where(ok.any(axis=1), doses[np.argmax(ok, axis=1)], np.inf)
        lo_q, med_q, hi_q = _quantiles(pd.Series(per_draw), (0.025, 0.5, 0.975))
        controls = np.flatnonzero(p > 0.5)
        upper = float(doses[controls[0]]) if controls.size else float("nan")
        idx = controls[0] if controls.size else None
        lower = float(doses[idx - 1]) if idx else float("nan")
        rows.append(
            {
                "egfr_tki": drug,
                "population": population,
                "doses_mg": ", ".join(f"{d:g}" for d in doses),
                "p_controls": ", ".join(f"{x:.2f}" for x in p),
                "lower_mg": lower,
                "upper_mg": upper,
                "p_lower_controls": float(p[idx - 1]) if idx else float("nan"),
                "p_upper_controls": float(p[idx]) if idx is not None else float("nan"),
                "bracketed": bool(idx),
                "below_sweep": idx == 0,
                "above_sweep": idx is None,
                "lowest_dose_median_mg": med_q,
                "lowest_dose_low_mg": lo_q,
                "lowest_dose_high_mg": hi_q,
            }
        )
    return pd.DataFrame(rows)
