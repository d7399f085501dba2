"""Out-of-sample checks of the human PK model against published numbers (issue 13, point 8).

Every human PK parameter of the catalogue comes from a label or a population-PK publication
(``drugs.yaml`` says which). The numbers below were **not** used to set those parameters: other
studies' steady-state troughs, peaks and AUCs, single-dose exposures in other cohorts, CSF
concentrations (whose CSF/plasma *ratios* did set Kp,uu, so a CSF concentration tests the plasma
PK and the ratio together), and the osimertinib metabolite ratio. Where a number was partly used,
the ``independence`` column says so. The twin value is the typical patient's (no
between-patient variability), on day 28 of dosing (steady state for half-lives up to 48 h).

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
from leptotwin.model.pk import draw_subjects

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
    named), ``cmax_sd``, ``tmax_sd`` (h), ``auc_sd`` (0 to ``t_h`` after one dose),
    ``peak_trough_ss``, ``accumulation`` (AUC over a dosing interval at steady state over that
    after the first dose) and ``metabolite_ratio`` (molar AUC of ``metabolite`` over the parent
    at steady state).
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
        "lorlatinib",
        "100 mg QD",
        "auc_tau_ss",
        5650.0,
        "ng*h/mL",
        "Swissmedic FI Lorviqua (steady-state AUC0-24 5650 ng.h/mL)",
        "held out of the calibration of V1 and ka (scripts/calibrate_pk.py)",
    ),
)


def _interval_h(regimen: str) -> float:
    return float(parse_regimen(regimen)[0].interval_h or 24.0)


def _twin_value(c: PKCheck, cat: Catalog) -> float:
    params = cat.pk_parameters(c.drug, "human")
    if c.quantity == "metabolite_ratio":
        fm = dict(cat.metabolites_of(c.drug, "human"))[c.metabolite]
        return fm * params.CL_L_h / cat.pk_parameters(c.metabolite, "human").CL_L_h
    subj = draw_subjects(params, 1, iiv=False, catalog=cat, smoker=c.smoker)
    single = c.quantity in ("cmax_sd", "tmax_sd", "auc_sd")
    end_h = max(c.t_h, 96.0) if single else 24.0 * _SS_DAYS
    t = np.arange(0.0, end_h + 1e-9, 0.1 if single else 0.25)
    res = simulate_pk(c.drug, "human", c.regimen, t_h=t, subjects=subj, catalog=cat)
    ng = res.to_ng_per_mL(res.plasma_nM[0])
    if c.quantity == "cmax_sd":
        return float(ng.max())
    if c.quantity == "tmax_sd":
        return float(t[np.argmax(ng)])
    if c.quantity == "auc_sd":
        keep = t <= c.t_h + 1e-9
        return float(trapezoid(ng[keep], t[keep]))
    tau = _interval_h(c.regimen)
    last = t >= t[-1] - tau - 1e-9
    if c.quantity == "cmin_ss":
        return float(ng[last].min())
    if c.quantity == "cmax_ss":
        return float(ng[last].max())
    if c.quantity == "auc_tau_ss":
        return float(trapezoid(ng[last], t[last]))
    if c.quantity == "cavg_ss":
        return float(trapezoid(ng[last], t[last]) / tau)
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
                "regimen": c.regimen,
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
