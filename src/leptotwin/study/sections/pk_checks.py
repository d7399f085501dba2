"""Out-of-sample checks of the human PK model against published numbers (issue 13, point 8).

Every human PK parameter of the catalogue comes from a label or a population-PK publication
(``drugs.yaml`` says which). The numbers below were **not** used to set those parameters: other
studies' steady-state troughs, peaks and AUCs, single-dose exposures in other cohorts, CSF
concentrations (whose CSF/plasma *ratios* did set Kp,uu, so a CSF concentration tests the plasma
PK and the ratio together), and the osimertinib metabolite ratio. Where a number was partly used,
the ``independence`` column says so. The twin value is the typical patient's (no
between-patient variability), on day 28 of dosing (steady state for half-lives up to 48 h).
``docs/pk_audit.md`` sets each catalogue parameter beside its primary population-PK source.

A ratio twin / published above 2 or below 0.5 is flagged; the section's text lists the flags.
Only what the source states is written here; values read from a secondary text carry "verify"
in ``source``.

This module registers no section; :mod:`leptotwin.study.sections.human` adds the table and text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.model import parse_regimen, simulate_pk
from leptotwin.model.pk import PKResult, draw_subjects

__all__ = ["CHECKS", "FLAG_HIGH", "FLAG_LOW", "PKCheck", "pk_checks_text", "pk_out_of_sample"]

#: Ratios twin / published outside [FLAG_LOW, FLAG_HIGH] are flagged.
FLAG_LOW, FLAG_HIGH = 0.5, 2.0

#: Days of dosing before a steady-state readout (five half-lives of the slowest drug, 48 h, are
#: 10 days; 28 leaves room for the metabolite and the CSF).
_SS_DAYS = 28.0


@dataclass(frozen=True)
class PKCheck:
    """One published number and how the twin computes the same quantity.

    ``quantity`` is one of ``cmin_ss``, ``cmax_ss``, ``auc_tau_ss`` (one dosing interval),
    ``cavg_ss``, ``unbound_cmax_ss``, ``csf_avg_ss`` (ng/mL or ng·h/mL, total plasma unless
    named), ``conc_ss`` (plasma ``t_h`` hours after a dose at steady state), ``tmax_ss`` (h after
    the dose, steady state), ``cmax_sd``, ``tmax_sd`` (h), ``auc_sd`` (0 to ``t_h`` after one
    dose), ``thalf_sd`` (terminal half-life after one dose, h: log-linear fit of the plasma curve
    from ``t_h``/2 to ``t_h``, as a non-compartmental analysis with sampling to ``t_h`` would
    estimate it), ``peak_trough_ss``, ``accumulation`` (AUC over a dosing interval at steady
    state over that after the first dose), ``auc_ratio_ss`` (average steady-state concentration
    of ``regimen`` over that of ``reference``, e.g. two doses or schedules) and
    ``metabolite_ratio`` (molar AUC of ``metabolite`` over the parent at steady state).
    """

    drug: str
    regimen: str
    quantity: str
    published: float
    unit: str
    source: str
    independence: str
    smoker: bool = False
    t_h: float = 0.0
    metabolite: str = ""
    reference: str = ""


CHECKS: tuple[PKCheck, ...] = (
    PKCheck(
        "erlotinib",
        "150 mg QD",
        "cmin_ss",
        1280.0,
        "ng/mL",
        "Tarceva SmPC 5.2 (pivotal NSCLC study BR.21: steady-state trough 1.28 ug/mL in former "
        "or never smokers, n = 108)",
        "not used: CL/F, V/F and ka are Lu 2006's popPK (PMID 16890575)",
    ),
    PKCheck(
        "erlotinib",
        "150 mg QD",
        "cmin_ss",
        650.0,
        "ng/mL",
        "Tarceva SmPC 5.2 (BR.21: steady-state trough 0.65 ug/mL in current smokers, n = 16)",
        "partly used: the smoking covariate (x2.0) was chosen between Lu 2006 (1.24) and "
        "Hamilton 2006 (2.8) with this ratio in view",
        smoker=True,
    ),
    PKCheck(
        "erlotinib",
        "150 mg once",
        "cmax_sd",
        1090.0,
        "ng/mL",
        "PMID 21938545 (Cancer Chemother Pharmacol 2012;69:605: median Cmax after one 150 mg "
        "dose, 21 non-smoking cancer patients with adequate hepatic function)",
        "not used",
    ),
    PKCheck(
        "erlotinib",
        "150 mg once",
        "auc_sd",
        29300.0,
        "ng*h/mL",
        "PMID 21938545 (median AUC0-t, 96 h of sampling, same 21 patients)",
        "not used",
        t_h=96.0,
    ),
    PKCheck(
        "erlotinib",
        "150 mg QD",
        "unbound_cmax_ss",
        166.0,
        "ng/mL",
        "Wong H et al. Clin Cancer Res 2012;18:3846, doi:10.1158/1078-0432.CCR-12-0738 "
        "(human row of the unbound-exposure table; attribution probable: verify)",
        "partly used: fu 0.08 was chosen inside the label's 0.05-0.08 to fit the same table's "
        "unbound/total Cav",
    ),
    PKCheck(
        "erlotinib",
        "150 mg QD",
        "csf_avg_ss",
        54.0,
        "ng/mL",
        "Togashi Y et al. J Thorac Oncol 2010;5:950, PMID 20479692 (CSF 54 +- 30 ng/mL, n = 4)",
        "partly used: the CSF/plasma ratios of Togashi 2010/2012 set Kp,uu,CSF; the "
        "concentration also tests the plasma PK",
    ),
    PKCheck(
        "erlotinib",
        "150 mg QD",
        "csf_avg_ss",
        28.7,
        "ng/mL",
        "Togashi Y et al. Cancer Chemother Pharmacol 2012 (CSF 28.7 +- 16.8 ng/mL, n ~ 10; from a "
        "secondary compilation: verify)",
        "partly used (as the row above)",
    ),
    PKCheck(
        "gefitinib",
        "250 mg once",
        "cmax_sd",
        85.0,
        "ng/mL",
        "Swaisland HC et al. Clin Pharmacokinet 2005;44:1165, PMID 16231967 (healthy "
        "volunteers, geometric mean Cmax 85 ng/mL at 5 h after 250 mg)",
        "partly used: the label's IV clearance and F come from the same programme",
    ),
    PKCheck(
        "gefitinib",
        "250 mg QD",
        "cavg_ss",
        492.0,
        "ng/mL",
        "Zhao J et al. Clin Lung Cancer 2013, doi:10.1016/j.cllc.2012.06.004 (mean plasma "
        "491.8 +- 184.2 ng/mL at steady state, 22 Chinese patients; sampling time not stated "
        "here, compared with the average)",
        "not used (its CSF/plasma ratio set Kp,uu,CSF, not the plasma PK)",
    ),
    PKCheck(
        "gefitinib",
        "250 mg QD",
        "auc_tau_ss",
        8918.0,
        "ng*h/mL",
        "Miura M et al. Ther Drug Monit 2014, doi:10.1097/FTD.0b013e31829dabbc (median AUC0-24 "
        "on day 14: 8918 ng.h/mL in 10 patients without diarrhoea, 15043 in 8 with)",
        "not used",
    ),
    PKCheck(
        "gefitinib",
        "250 mg QD",
        "csf_avg_ss",
        6.2,
        "ng/mL",
        "Zhao J et al. Clin Lung Cancer 2013, doi:10.1016/j.cllc.2012.06.004 (CSF 6.2 +- 4.6 "
        "ng/mL, n = 22)",
        "partly used: the CSF/plasma ratio of the same study set Kp,uu,CSF",
    ),
    PKCheck(
        "osimertinib",
        "80 mg QD",
        "peak_trough_ss",
        1.6,
        "1",
        "Planchard D et al. Cancer Chemother Pharmacol 2016;77:767, doi:10.1007/"
        "s00280-016-2992-z (peak-to-trough ratio 1.6 at steady state)",
        "not used: CL/F, V/F and ka are Brown 2017's popPK",
    ),
    PKCheck(
        "osimertinib",
        "80 mg QD",
        "accumulation",
        3.0,
        "1",
        "Planchard 2016; Tagrisso label (about 3-fold accumulation with once-daily dosing)",
        "not used",
    ),
    PKCheck(
        "osimertinib",
        "80 mg once",
        "tmax_sd",
        6.0,
        "h",
        "Planchard D et al. Cancer Chemother Pharmacol 2016;77:767, doi:10.1007/s00280-016-2992-z "
        "(median Tmax 6 h, range 3-24 h, after one dose of 20-240 mg)",
        "not used (was the basis of the previous ka 0.6/h, replaced by Brown 2017's 0.24/h)",
    ),
    PKCheck(
        "osimertinib",
        "80 mg QD",
        "metabolite_ratio",
        0.10,
        "1",
        "Tagrisso label (FDA 2015, NDA 208065); Planchard 2016 (AZ5104 circulates at about 10 % "
        "of osimertinib exposure)",
        "not used: AZ5104 CL/F and V/F are Brown 2017's popPK",
        metabolite="AZ5104",
    ),
    PKCheck(
        "osimertinib",
        "80 mg once",
        "thalf_sd",
        48.3,
        "h",
        "Planchard D et al. Cancer Chemother Pharmacol 2016;77:767, doi:10.1007/s00280-016-2992-z "
        "(mean half-life 48.3 h; quoted from the catalogue note, not re-read: verify)",
        "not used: CL/F and V/F are Brown 2017's popPK; this half-life was only compared",
        t_h=168.0,
    ),
    PKCheck(
        "alectinib",
        "600 mg BID",
        "cmin_ss",
        572.0,
        "ng/mL",
        "Swissmedic FI Alecensa (ch.oddb 65970; steady-state Cmin 572 ng/mL)",
        "not used: CL and V from the label's CL/F, V/F and F",
    ),
    PKCheck(
        "alectinib",
        "600 mg BID",
        "cmax_ss",
        665.0,
        "ng/mL",
        "Swissmedic FI Alecensa (ch.oddb 65970; steady-state Cmax 665 ng/mL)",
        "not used (ka was chosen for the label's Tmax 4-6 h)",
    ),
    PKCheck(
        "alectinib",
        "600 mg BID",
        "auc_tau_ss",
        7430.0,
        "ng*h/mL",
        "Swissmedic FI Alecensa (ch.oddb 65970; population-PK geometric mean steady-state "
        "AUC0-12 7430 ng.h/mL, CV 45.7 %)",
        "partly used: the label's CL/F (81.9 L/h), which sets CL, comes from the same "
        "population-PK analysis, so AUC = dose / (CL/F) nearly restates it",
    ),
    PKCheck(
        "alectinib",
        "600 mg BID",
        "accumulation",
        5.6,
        "1",
        "Swissmedic FI Alecensa (ch.oddb 65970; geometric mean accumulation ratio 5.6 at 600 mg "
        "BID, from the population-PK analysis)",
        "partly used: follows from the label's CL/F and V/F (the half-life), which set CL and V1",
    ),
    PKCheck(
        "crizotinib",
        "250 mg BID",
        "cmin_ss",
        455.0,
        "ng/mL",
        "Kurata Y et al. J Pharm Health Care Sci 2015;1:8 (day-14 troughs 244-848 ng/mL in 9 "
        "Japanese patients; 455 = geometric middle of the range)",
        "not used: CL from the label's steady-state CL/F and F",
    ),
    PKCheck(
        "crizotinib",
        "250 mg BID",
        "accumulation",
        4.8,
        "1",
        "Xalkori label (Swissmedic FI, ch.oddb 69467; US label 12.3: median accumulation ratio "
        "4.8 at 250 mg BID, steady state within 15 days)",
        "not used: CL is the label's steady-state CL/F x F, V1 the IV Vss",
    ),
    PKCheck(
        "crizotinib",
        "250 mg once",
        "thalf_sd",
        42.0,
        "h",
        "ASCO 2010 abstract e13065, J Clin Oncol 2010;28(15 suppl) (phase I, 167 patients: mean "
        "apparent terminal half-life 42 h after one 250 mg dose; authors not read: verify)",
        "not used: V1 (IV Vss 1772 L) and CL were taken from the label; this half-life was only "
        "compared in the catalogue note",
        t_h=96.0,
    ),
    PKCheck(
        "crizotinib",
        "250 mg once",
        "tmax_sd",
        4.0,
        "h",
        "ASCO 2010 abstract e13065, J Clin Oncol 2010;28(15 suppl) (median Tmax 4.0 h after one "
        "250 mg dose, 167 patients; authors not read: verify)",
        "partly used: ka was chosen for the label's Tmax of 4-6 h (the chosen 0.6/h gives 6.3 h)",
    ),
    PKCheck(
        "crizotinib",
        "250 mg BID",
        "conc_ss",
        237.0,
        "ng/mL",
        "Costa DB et al. J Clin Oncol 2011;29:e443, doi:10.1200/JCO.2010.34.1313 (one patient, "
        "plasma 237 ng/mL 5 h after a 250 mg dose, two weeks into 250 mg BID, after whole-brain "
        "radiotherapy)",
        "not used (its CSF/plasma ratio set Kp,uu,CSF, not the plasma PK)",
        t_h=5.0,
    ),
    PKCheck(
        "crizotinib",
        "250 mg BID",
        "csf_avg_ss",
        0.616,
        "ng/mL",
        "Costa DB et al. J Clin Oncol 2011;29:e443, doi:10.1200/JCO.2010.34.1313 (CSF 0.616 ng/mL "
        "in the same sample, 5 h after the dose; one patient, compared with the average)",
        "partly used: this CSF/plasma ratio (0.0026) set Kp,uu,CSF; the concentration also tests "
        "the plasma PK",
    ),
    PKCheck(
        "lorlatinib",
        "100 mg QD",
        "auc_tau_ss",
        5650.0,
        "ng*h/mL",
        "Swissmedic FI Lorviqua (steady-state AUC0-24 5650 ng.h/mL)",
        "held out of the calibration of V1 and ka (scripts/calibrate_pk.py)",
    ),
    PKCheck(
        "lorlatinib",
        "100 mg once",
        "thalf_sd",
        25.5,
        "h",
        "Hibma JE et al. Cancer Chemother Pharmacol 2022;89:71, doi:10.1007/s00280-021-04368-1 "
        "(11 healthy men, mean half-life 25.5 h after one 100 mg oral dose, sampling to 144 h)",
        "partly used: the same study's absolute bioavailability (80.8 %) is the catalogue's F; "
        "its half-life set nothing (CL is the auto-induced steady-state value)",
        t_h=144.0,
    ),
    PKCheck(
        "lorlatinib",
        "100 mg QD",
        "tmax_ss",
        2.0,
        "h",
        "Swissmedic FI Lorviqua (ch.oddb 66941; median Tmax 2.0 h after repeated 100 mg QD, "
        "1.2 h after one dose)",
        "not used (V1 and ka were calibrated to the single-dose Tmax 1.2 h)",
    ),
    PKCheck(
        "ceritinib",
        "450 mg QD",
        "auc_ratio_ss",
        1.0,
        "1",
        "ASCEND-8, Cho BC et al. J Thorac Oncol 2017;12:1357, doi:10.1016/j.jtho.2017.07.005, "
        "PMID 28729021; Zykadia SmPC 4.8 and Swissmedic FI (450 mg with a meal gives steady-state "
        "exposure comparable to 750 mg fasted, AUC only slightly higher; 1.0 stands for "
        "'comparable', the point estimate was not read: verify)",
        "not used: CL/F 33.2 L/h is the 750 mg fasted value and the catalogue has no food effect, "
        "so the twin reads 450 mg as fasted",
        reference="750 mg QD",
    ),
    PKCheck(
        "ceritinib",
        "750 mg once",
        "tmax_sd",
        5.0,
        "h",
        "Zykadia SmPC 5.2 and Swissmedic FI (peak 'approximately 4 to 6 hours' after one oral "
        "dose in patients; 5 h = middle of the range)",
        "partly used: ka was chosen for this range (the chosen 0.5/h gives 7.0 h)",
    ),
    PKCheck(
        "cetuximab",
        "400 mg/m2 iv once; 250 mg/m2 iv QW from day 8",
        "cmin_ss",
        49600.0,
        "ng/mL",
        "Ther Drug Monit 2009;31:597, doi:10.1097/FTD.0b013e3181b33da3, PMID 19730278 (median "
        "trough 49.6 mg/L, range 5.8-105.4, 16 patients on cetuximab-based chemotherapy; regimen "
        "not stated in the abstract, taken as the standard 400 then 250 mg/m2 weekly: verify)",
        "not used: CL and V are the Erbitux label's",
    ),
    PKCheck(
        "cetuximab",
        "400 mg/m2 iv once; 250 mg/m2 iv QW from day 8",
        "cmax_ss",
        177200.0,
        "ng/mL",
        "Ther Drug Monit 2009;31:597, doi:10.1097/FTD.0b013e3181b33da3, PMID 19730278 (median "
        "peak 177.2 mg/L, range 97.5-235, same patients; 1-2 h infusions against the twin's "
        "bolus)",
        "not used: CL and V are the Erbitux label's",
    ),
)


_SINGLE_DOSE = ("cmax_sd", "tmax_sd", "auc_sd", "thalf_sd")


def _interval_h(regimen: str) -> float:
    """The dosing interval of the regimen that repeats last (24 h for a single dose)."""
    repeats = [r.interval_h for r in parse_regimen(regimen) if r.interval_h]
    return float(repeats[-1]) if repeats else 24.0


def _profile(c: PKCheck, cat: Catalog, regimen: str) -> tuple[np.ndarray, np.ndarray, PKResult]:
    """Times (h), total plasma (ng/mL) and the simulation of the typical patient for ``c``."""
    params = cat.pk_parameters(c.drug, "human")
    subj = draw_subjects(params, 1, iiv=False, catalog=cat, smoker=c.smoker)
    single = c.quantity in _SINGLE_DOSE
    end_h = max(c.t_h, 96.0) if single else 24.0 * _SS_DAYS
    t = np.arange(0.0, end_h + 1e-9, 0.1 if single else 0.25)
    res = simulate_pk(c.drug, "human", regimen, t_h=t, subjects=subj, catalog=cat)
    return t, res.to_ng_per_mL(res.plasma_nM[0]), res


def _twin_value(c: PKCheck, cat: Catalog) -> float:
    params = cat.pk_parameters(c.drug, "human")
    if c.quantity == "metabolite_ratio":
        fm = dict(cat.metabolites_of(c.drug, "human"))[c.metabolite]
        return fm * params.CL_L_h / cat.pk_parameters(c.metabolite, "human").CL_L_h
    if c.quantity == "auc_ratio_ss":
        avg = [
            _twin_value(PKCheck(c.drug, r, "cavg_ss", 1.0, "", "", "", smoker=c.smoker), cat)
            for r in (c.regimen, c.reference)
        ]
        return avg[0] / avg[1]
    t, ng, res = _profile(c, cat, c.regimen)
    if c.quantity == "cmax_sd":
        return float(ng.max())
    if c.quantity == "tmax_sd":
        return float(t[np.argmax(ng)])
    if c.quantity == "auc_sd":
        keep = t <= c.t_h + 1e-9
        return float(trapezoid(ng[keep], t[keep]))
    if c.quantity == "thalf_sd":
        keep = (t >= c.t_h / 2.0 - 1e-9) & (t <= c.t_h + 1e-9)
        slope = np.polyfit(t[keep], np.log(ng[keep]), 1)[0]
        return float(np.log(2.0) / -slope)
    tau = _interval_h(c.regimen)
    if (24.0 * _SS_DAYS) % tau > 1e-9:
        raise ValueError(f"{c.regimen!r}: the interval must divide {_SS_DAYS:g} days")
    # The grid ends on a dose time, so [t_end - tau, t_end] is one dosing interval.
    last = t >= t[-1] - tau - 1e-9
    if c.quantity == "cmin_ss":
        return float(ng[last].min())
    if c.quantity == "cmax_ss":
        return float(ng[last].max())
    if c.quantity == "auc_tau_ss":
        return float(trapezoid(ng[last], t[last]))
    if c.quantity == "cavg_ss":
        return float(trapezoid(ng[last], t[last]) / tau)
    if c.quantity == "conc_ss":
        return float(np.interp(t[-1] - tau + c.t_h, t, ng))
    if c.quantity == "tmax_ss":
        return float(t[last][np.argmax(ng[last])] - (t[-1] - tau))
    if c.quantity == "unbound_cmax_ss":
        return float(res.to_ng_per_mL(res.unbound_nM[0])[last].max())
    if c.quantity == "csf_avg_ss":
        csf = res.to_ng_per_mL(res.csf_nM[0])
        return float(trapezoid(csf[last], t[last]) / tau)
    if c.quantity == "peak_trough_ss":
        return float(ng[last].max() / ng[last].min())
    if c.quantity == "accumulation":
        first = t <= tau + 1e-9
        return float(trapezoid(ng[last], t[last]) / trapezoid(ng[first], t[first]))
    raise ValueError(f"unknown quantity {c.quantity!r}")


def pk_out_of_sample(
    catalog: Catalog | None = None, checks: tuple[PKCheck, ...] = CHECKS
) -> pd.DataFrame:
    """The table ``pk_out_of_sample.csv``.

    Returns
    -------
    DataFrame
        One row per check: ``drug, regimen, population`` (``smokers`` or ``""``), ``quantity,
        published, twin, unit, ratio`` (twin / published), ``flag`` (ratio outside
        [:data:`FLAG_LOW`, :data:`FLAG_HIGH`]), ``source, independence``.
    """
    cat = catalog or load_catalog()
    rows = []
    for c in checks:
        twin = _twin_value(c, cat)
        ratio = twin / c.published
        rows.append(
            {
                "drug": c.drug,
                "regimen": f"{c.regimen} vs {c.reference}" if c.reference else c.regimen,
                "population": "smokers" if c.smoker else "",
                "quantity": c.quantity,
                "published": c.published,
                "twin": twin,
                "unit": c.unit,
                "ratio": ratio,
                "flag": bool(ratio > FLAG_HIGH or ratio < FLAG_LOW),
                "source": c.source,
                "independence": c.independence,
            }
        )
    return pd.DataFrame(rows)


def pk_checks_text(table: pd.DataFrame) -> str:
    """The report paragraph: how many checks, the ratio range, and every flagged row."""
    ratios = table["ratio"]
    out = [
        f"**Out-of-sample PK checks** (`pk_out_of_sample.csv`): {len(table)} published numbers "
        "not used to set the human PK parameters (or only partly, as the table says), against "
        "the twin's typical patient. Ratio twin / published: median "
        f"{ratios.median():.2f}, range {ratios.min():.2f}–{ratios.max():.2f}; "
        f"{int((~table['flag']).sum())} of {len(table)} within "
        f"{FLAG_LOW:g}–{FLAG_HIGH:g}."
    ]
    flagged = table[table["flag"]]
    if flagged.empty:
        out.append("None is flagged.")
    for r in flagged.itertuples(index=False):
        who = " in smokers" if r.population else ""
        out.append(
            f"Flagged: {r.drug} {r.regimen}{who}, {r.quantity} {r.twin:.3g} vs {r.published:g} "
            f"{r.unit} (ratio {r.ratio:.2f}; {r.source.split(' (')[0]})."
        )
    return " ".join(out)
