"""PK runs as a user sees them: cohort simulation, exposure summaries and the standard figure.

Used by ``leptotwin pk`` and by the pharmacokinetics section of ``leptotwin reproduce``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from leptotwin._fileio import prepare_out_dir, write_csv, write_figure
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model import PKResult, parse_regimen, simulate_pk

__all__ = ["PKJob", "exposure_summary", "pk_figure", "plot_pk", "run_pk_job"]

_LABELS = {
    "plasma_nM": "plasma (total)",
    "unbound_nM": "plasma (unbound)",
    "csf_nM": "CSF",
    "lesion_nM": "lesion (unbound)",
}
_COLOURS = {
    "plasma_nM": "#444444",
    "unbound_nM": "#1f77b4",
    "csf_nM": "#d62728",
    "lesion_nM": "#2ca02c",
}


@dataclass(frozen=True)
class PKJob:
    """A PK run: drug, species, regimen text, days, cohort size, output folder."""

    drug: str
    species: str
    regimen: str
    days: float
    subjects: int = 1000
    step_h: float = 0.25
    seed: int = 0


def simulate_job(job: PKJob, *, rng: np.random.Generator | None = None) -> PKResult:
    """Validate the job and simulate its cohort."""
    if not (np.isfinite(job.days) and job.days > 0):
        raise LeptotwinError("days must be positive", source="--days", value=job.days)
    if job.subjects < 1:
        raise LeptotwinError("need at least one subject", source="--subjects", value=job.subjects)
    if not (job.step_h > 0):
        raise LeptotwinError("time step must be positive", source="--step-h", value=job.step_h)
    t = np.arange(0.0, job.days * 24.0 + 1e-9, job.step_h)
    gen = rng if rng is not None else np.random.default_rng(job.seed)
    return simulate_pk(
        job.drug,
        job.species,
        parse_regimen(job.regimen),
        t_h=t,
        n_subjects=job.subjects,
        rng=gen,
        iiv=job.subjects > 1,
    )


def exposure_summary(res: PKResult, *, window_h: float = 24.0) -> pd.DataFrame:
    """Cmax, Cmin and Cavg per compartment over the last ``window_h`` hours.

    Returns one row per compartment with the cohort median and 5th/95th percentiles (nM);
    columns ``compartment, stat, median_nM, p05_nM, p95_nM``.
    """
    m = res.t_h >= res.t_h[-1] - window_h
    rows = []
    for col in _LABELS:
        conc = getattr(res, col)[:, m]
        stats = {
            "Cmax": conc.max(axis=1),
            "Cmin": conc.min(axis=1),
            "Cavg": np.trapezoid(conc, res.t_h[m], axis=1) / (res.t_h[m][-1] - res.t_h[m][0])
            if m.sum() > 1
            else conc[:, 0],
        }
        for stat, v in stats.items():
            p5, p50, p95 = np.percentile(v, [5, 50, 95])
            rows.append(
                {
                    "compartment": col.removesuffix("_nM"),
                    "stat": stat,
                    "median_nM": p50,
                    "p05_nM": p5,
                    "p95_nM": p95,
                }
            )
    return pd.DataFrame(rows)


def plot_pk(
    res: PKResult,
    *,
    ax: Axes,
    title: str | None = None,
    compartments: tuple[str, ...] = tuple(_LABELS),
) -> Axes:
    """Median and 90 % band per compartment on log scale, with the drug's cellular IC50s."""
    t_d = res.t_h / 24.0
    for col in compartments:
        conc = getattr(res, col)
        lo, med, hi = np.percentile(conc, [5, 50, 95], axis=0)
        ax.plot(t_d, med, color=_COLOURS[col], lw=1.4, label=_LABELS[col])
        if conc.shape[0] > 1:
            ax.fill_between(t_d, lo, hi, color=_COLOURS[col], alpha=0.18, lw=0)
    for target, assay, ic50 in load_catalog().potency_nM(res.drug):
        if assay in ("cellular phosphorylation", "cell growth", "binding"):
            ax.axhline(ic50, color="k", ls="--", lw=0.8)
            ax.annotate(
                f"{target} {assay} IC50 {ic50:g} nM",
                (t_d[-1], ic50),
                fontsize=7,
                ha="right",
                va="bottom",
            )
    ax.set_yscale("log")
    positive = np.concatenate(
        [getattr(res, c)[getattr(res, c) > 0].ravel()[:1000000] for c in compartments]
    )
    if positive.size:
        ax.set_ylim(max(positive.min(), positive.max() * 1e-6), positive.max() * 3)
    ax.set_xlabel("time (days)")
    ax.set_ylabel("concentration (nM)")
    regimen = "; ".join(r.text for r in res.regimens if r.text)
    ax.set_title(title or f"{res.drug}, {res.species}: {regimen}", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    return ax


def pk_figure(res: PKResult, *, title: str | None = None) -> Figure:
    """A standalone figure of :func:`plot_pk` (not attached to pyplot)."""
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    plot_pk(res, ax=fig.add_subplot(), title=title)
    return fig


def run_pk_job(job: PKJob, out_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Simulate and write ``pk.csv`` (tidy, one row per time × subject) and ``pk.png``.

    Everything is validated and simulated before the folder is touched, so a bad input leaves no
    partial files; each file is written atomically.
    """
    res = simulate_job(job)
    out = prepare_out_dir(out_dir, force=force)
    csv_path = write_csv(out / "pk.csv", res.to_frame())
    fig = pk_figure(res)
    png_path = write_figure(out / "pk.png", fig, dpi=120)
    return {"csv": csv_path, "png": png_path}
