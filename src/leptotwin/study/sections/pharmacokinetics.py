"""Report section: pharmacokinetics of the study's drugs, and the checks against published PK."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin.catalog import load_catalog
from leptotwin.model import parse_regimen, simulate_pk
from leptotwin.study.pk import exposure_summary, plot_pk
from leptotwin.study.protocol_schema import load_packaged_protocol
from leptotwin.study.reproduce import Context, SectionResult, register_section


def _check_value(drug: str, species: str, regimen: str, what: str) -> float:
    tau = parse_regimen(regimen)[0].interval_h  # the last dosing interval
    t = np.arange(0.0, 24.0 * 21 + 1e-9, 0.02)
    res = simulate_pk(drug, species, regimen, t_h=t, iiv=False)
    m = t >= t[-1] - tau
    ng = res.to_ng_per_mL
    if what == "Cmax,ss":
        return float(ng(res.plasma_nM[0, m]).max())
    if what == "AUC0-24,ss":
        return float(np.trapezoid(ng(res.plasma_nM[0, m]), t[m]))
    if what == "unbound Cmax,ss":
        return float(ng(res.unbound_nM[0, m]).max())
    if what == "unbound Cmin,ss":
        return float(ng(res.unbound_nM[0, m]).min())
    if what == "CSF / unbound plasma":
        return float(res.csf_nM[0, m].mean() / res.unbound_nM[0, m].mean())
    if what == "CSF / plasma":
        return float(res.csf_nM[0, m].mean() / res.plasma_nM[0, m].mean())
    raise KeyError(what)


def published_checks() -> pd.DataFrame:
    """Typical-subject model values next to the published ones (``published_checks`` of
    ``pk_exposure.yaml``, each with its unit, source and role)."""
    rows = []
    for c in _protocol()["published_checks"]:
        model = _check_value(c["drug"], c["species"], c["regimen"], c["quantity"])
        rows.append(
            {
                "drug": c["drug"],
                "species": c["species"],
                "regimen": c["regimen"],
                "quantity": c["quantity"],
                "unit": c["unit"],
                "published": c["value"],
                "model": model,
                "model_over_published": model / c["value"],
                "role": c["role"],
                "source": c["source"],
            }
        )
    return pd.DataFrame(rows)


def _protocol() -> dict:
    return load_packaged_protocol("pk_exposure")


@register_section("pharmacokinetics", order=10)
def pharmacokinetics(ctx: Context) -> SectionResult:
    """Cohort exposure for the study's regimens and the published-PK checks."""
    proto = _protocol()
    n = proto["quick_subjects"] if ctx.quick else proto["subjects"]
    t = np.arange(0.0, proto["days"] * 24.0 + 1e-9, proto["step_h"])
    summaries, results = [], []
    for item in proto["regimens"]:
        res = simulate_pk(
            item["drug"],
            item["species"],
            parse_regimen(item["regimen"]),
            t_h=t,
            n_subjects=n,
            rng=ctx.rng,
        )
        results.append(res)
        s = exposure_summary(res)
        s.insert(0, "regimen", item["regimen"])
        s.insert(0, "species", item["species"])
        s.insert(0, "drug", item["drug"])
        summaries.append(s)
    figures = []
    for species in ("mouse", "human"):
        chosen = [r for r in results if r.species == species]
        cols = 2
        rows = (len(chosen) + cols - 1) // cols
        fig = Figure(figsize=(11, 3.6 * rows), layout="constrained")
        for i, res in enumerate(chosen):
            plot_pk(res, ax=fig.add_subplot(rows, cols, i + 1))
        figures.append(
            (
                f"{species.capitalize()} regimens: median and 90 % band of {n} virtual "
                f"subjects per regimen; black dashed and dotted lines: cellular IC50s (legend).",
                fig,
            )
        )
    checks = published_checks()
    cat = load_catalog()
    turn_m, turn_h = cat.csf_turnover_per_h("mouse"), cat.csf_turnover_per_h("human")
    text = (
        "Linear one- or two-compartment disposition with first-order absorption, solved in closed "
        "form by superposition (exact to round-off; checked against an ODE solver in the tests). "
        "CSF and tumour-lesion interstitium follow unbound plasma through their own partition "
        f"coefficients and exchange rates (CSF turnover: mouse {turn_m:.2f}/h, human "
        f"{turn_h:.2f}/h). Mouse half-lives are hours, so once-daily dosing swings widely; human "
        "exposure at steady state is nearly flat.\n\n"
        "The table of published checks says for each number whether it set a parameter "
        "(calibrated / set from source) or was predicted without being used."
    )
    return SectionResult(
        title="Pharmacokinetics",
        text=text,
        figures=figures,
        tables={
            "pk_published_checks.csv": checks,
            "pk_exposure_summary.csv": pd.concat(summaries, ignore_index=True),
        },
    )
