"""Report section: the calibration in the open — priors against posteriors, targets used and
held out, convergence.

Reads what ``leptotwin calibrate-study --install`` put in the catalogue folder
(``posterior.yaml``, ``posterior_draws.csv``, ``calibration_diagnostics.csv``,
``calibration_targets.csv``); it computes nothing of the calibration itself, so the report shows
exactly the posterior every other section runs with (their operating point is its median; the
claims ensemble resamples it). Without an installed calibration it says so and lists the priors.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from leptotwin.catalog import load_catalog, prior_distribution, uncertain_parameters
from leptotwin.catalog.loader import _default_catalog
from leptotwin.catalog.posterior import load_posterior_draws
from leptotwin.study._figures import legible_log_ticks
from leptotwin.study.reproduce import Context, SectionResult, register_section

DIAGNOSTICS_CSV = "calibration_diagnostics.csv"
TARGETS_CSV = "calibration_targets.csv"
#: Convergence thresholds the text reports against (Vehtari et al. 2021, Bayesian Anal 16:667).
R_HAT_OK = 1.01
ESS_OK = 400


def _data_file(name: str) -> Path:
    return Path(str(resources.files("leptotwin.catalog") / "data" / name))


def _read_csv(name: str) -> pd.DataFrame | None:
    path = _data_file(name)
    return pd.read_csv(path) if path.is_file() else None


def _provenance() -> dict:
    path = _data_file("posterior.yaml")
    if not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return doc.get("provenance", {}) or {}


def prior_posterior_figure(
    draws: pd.DataFrame, *, max_panels: int = 16, names: list[str] | None = None
) -> Figure:
    """One panel per fitted parameter (``names``, default every column): the prior density
    (line) and the posterior draws (histogram, weighted by the importance weights where the
    draws have them), on a log axis for positive parameters with lognormal/loguniform priors."""
    base = _default_catalog()
    names = list(draws.columns if names is None else names)[:max_panels]
    weights = draws.attrs.get("weight")
    cols = 4
    rows = max(1, int(np.ceil(len(names) / cols)))
    fig = Figure(figsize=(12, 2.4 * rows), layout="constrained")
    for k, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, k + 1)
        q = base.quantity(name)
        dist = prior_distribution(q)
        post = draws[name].to_numpy(float)
        lo = min(float(dist.ppf(0.005)), float(np.min(post)))
        hi = max(float(dist.ppf(0.995)), float(np.max(post)))
        log = q.prior is not None and q.prior.dist in ("lognormal", "loguniform") and lo > 0
        grid = np.geomspace(lo, hi, 300) if log else np.linspace(lo, hi, 300)
        bins = np.geomspace(lo, hi, 30) if log else np.linspace(lo, hi, 30)
        ax.hist(
            post,
            bins=bins,
            weights=weights,
            density=True,
            color="C0",
            alpha=0.5,
            label="posterior",
        )
        ax.plot(grid, dist.pdf(grid), color="k", lw=1, label="prior")
        if log:
            ax.set_xscale("log")
            legible_log_ticks(ax.xaxis)
        ax.set_yticks([])
        ax.set_title(f"{name} ({q.unit})", fontsize=7)
        if k == 0:
            ax.legend(fontsize=6)
    return fig


def _importance_text(stage: dict, targets: pd.DataFrame | None) -> str:
    """The importance stage in one paragraph: what it scored and what is left of the draws."""
    text = (
        f"Importance stage (`calibration/reweight.py`): the sampler scores C7 on one typical "
        f"mouse per arm; each of the {stage.get('n_draws', '?')} kept draws was then run as "
        f"the study ran it — {stage.get('replicates', '?')} cohorts of "
        f"{stage.get('mice_per_arm', '?')} mice per arm — and reweighted by how well the "
        f"group readouts and the survival comparison meet the study's findings, against the "
        f"typical-mouse targets they replace. Effective sample size "
        f"{stage.get('effective_sample_size', float('nan')):.0f} of "
        f"{stage.get('n_draws', '?')}."
    )
    if targets is not None and "role" in targets:
        rows = targets[targets["role"] == "cohort"]
        if len(rows):
            text += (
                " Weighted share of draws meeting each cohort target: "
                + "; ".join(f"{r.name} {r.p_met:.2f}" for r in rows.itertuples())
                + "."
            )
    return text


@register_section("calibration", order=5)
def calibration(ctx: Context) -> SectionResult:
    """Prior vs posterior of the calibrated parameters; targets; diagnostics."""
    cat = load_catalog()
    uncertain = uncertain_parameters(_default_catalog())
    draws = load_posterior_draws()
    title = "Calibration: what the targets taught the twin"
    if draws is None:
        text = (
            f"No calibration is installed: every one of the {len(uncertain)} uncertain "
            "parameters runs at its catalogue value (the median of its prior), and the claims "
            "ensemble draws them all from their priors. Run `leptotwin calibrate-study --install`."
        )
        return SectionResult(title, text=text, tables={"priors.csv": uncertain})
    prov = _provenance()
    diag = _read_csv(DIAGNOSTICS_CSV)
    targets = _read_csv(TARGETS_CSV)
    # the sampler's values (an importance stage may add every other uncertain value to the
    # draws, drawn from its prior)
    fitted = (
        [p for p in diag["parameter"] if p in draws.columns]
        if diag is not None and "parameter" in diag
        else list(draws.columns)
    )
    at = {p: cat.quantity(p).value for p in fitted}
    sampler = prov.get("sampler", {})
    d = prov.get("diagnostics", {})
    lines = [
        f"One joint calibration (`leptotwin calibrate-study`, {prov.get('date', 'date unknown')},"
        f" leptotwin {prov.get('versions', {}).get('leptotwin', '?')}) fitted {len(fitted)} of "
        f"the {len(uncertain)} uncertain parameters against "
        f"{len(prov.get('targets_used', []))} targets — published numbers (each citing its source) "
        "and the study's findings, each with its stated measurement error — and held "
        f"{len(prov.get('targets_held_out', []))} out as predictions. "
        f"Method: {prov.get('method', 'see posterior.yaml')}.",
        f"Sampler: {sampler.get('n_walkers', '?')} walkers × {sampler.get('n_steps', '?')} "
        f"steps (burn-in {sampler.get('burn', '?')}, thin {sampler.get('thin', '?')}), seed "
        f"{prov.get('seed', '?')}, {len(draws)} posterior draws kept, "
        f"{prov.get('wall_time_s', '?')} s.",
    ]
    if d:
        r_hat, ess = d.get("r_hat_max", float("nan")), d.get("ess_bulk_min", float("nan"))
        verdict = (
            "converged by the usual thresholds"
            if r_hat <= R_HAT_OK and ess >= ESS_OK
            else f"short of the usual thresholds (R-hat ≤ {R_HAT_OK}, ESS ≥ {ESS_OK}); "
            "treat the posterior's tails as rough"
        )
        lines.append(
            f"Convergence: largest R-hat {r_hat:.3f}, smallest bulk ESS {ess:.0f}, tail ESS "
            f"{d.get('ess_tail_min', float('nan')):.0f}, longest autocorrelation time "
            f"{d.get('tau_max', float('nan')):.0f} steps — {verdict} ({d.get('note', '')})."
        )
    if targets is not None and len(targets):
        held = targets[targets["role"] == "held_out"]
        inside = int(held["inside_95"].sum()) if len(held) else 0
        lines.append(
            f"Held-out targets inside their 95 % posterior-predictive interval: {inside} of "
            f"{len(held)} (`{TARGETS_CSV}`)."
        )
    stage = prov.get("importance_stage")
    if stage:
        lines.append(_importance_text(stage, targets))
    lines.append(
        "Every other section runs at the posterior median of the fitted parameters ("
        + ", ".join(f"`{p}` {v:.3g}" for p, v in list(at.items())[:8])
        + (", …" if len(at) > 8 else "")
        + "); the claims ensemble resamples the posterior jointly and draws the other "
        "parameters from their priors."
    )
    tables: dict[str, pd.DataFrame] = {}
    if diag is not None:
        tables["calibration_prior_posterior.csv"] = diag
    if targets is not None:
        tables["calibration_targets_fit.csv"] = targets
    return SectionResult(
        title,
        text="\n\n".join(lines),
        figures=[
            (
                "Prior (line) and posterior draws (histogram) of each calibrated parameter.",
                prior_posterior_figure(draws, names=fitted),
            )
        ],
        tables=tables,
    )
