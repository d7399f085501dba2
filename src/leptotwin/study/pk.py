"""PK runs as a user sees them: cohort simulation, exposure summaries and the standard figure.

Used by ``leptotwin pk`` and by the pharmacokinetics section of ``leptotwin reproduce``.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from leptotwin._fileio import prepare_out_dir, write_csv, write_figure
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model import PKResult, parse_regimen, simulate_pk
from leptotwin.model.regimen import Regimen
from leptotwin.study._memory import check_disk, check_memory, format_count

__all__ = [
    "DoseRangeWarning",
    "PKJob",
    "dose_range_messages",
    "dose_warnings_printed",
    "exposure_summary",
    "pk_figure",
    "plot_pk",
    "run_pk_job",
    "warn_dose_range",
]

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
    """A PK run: drug, species, regimen text, simulated days (d), cohort size, output step
    (h) and seed."""

    drug: str
    species: str
    regimen: str
    days: float
    subjects: int = 1000
    step_h: float = 0.25
    seed: int = 0


# Peak memory of a PK run per (subject, time point): the 4 result arrays, the simulation's
# (time, 3, subject) buffer, the 6-column tidy table and the CSV writer's text chunks (float64).
# Measured with tracemalloc: 22 arrays for 300-2,000 subjects × 337-13,441 time points.
_ARRAYS_PER_POINT = 28
_BYTES_PER_DOSE = 6 * 8  # dose time and amount, concatenated, sorted (index), reordered
_CSV_BYTES_PER_ROW = 96  # pk.csv: time, subject and four concentrations (measured 86.5 bytes)
# "far outside" the studied doses: more than this factor above the highest or below the lowest
_FAR_FACTOR = 3.0


class DoseRangeWarning(UserWarning):
    """A regimen's dose is far outside the doses studied for that drug in that species (the
    catalogue's ``studied_doses``): the simulation runs, but its PK was never checked there."""


def _positive_finite(value: float, option: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise LeptotwinError(f"{what} must be a number", source=option, value=value)
    if not (math.isfinite(value) and value > 0):
        raise LeptotwinError(f"{what} must be a finite number > 0", source=option, value=value)
    return float(value)


def _integer(value: object, option: str, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise LeptotwinError(f"{what} must be an integer", source=option, value=value)


def _check_job(job: PKJob) -> None:
    """Every option of ``job`` in range, before anything is simulated."""
    days = _positive_finite(job.days, "--days", "days")
    step = _positive_finite(job.step_h, "--step-h", "time step (h)")
    if step > days * 24.0:
        raise LeptotwinError(
            "time step is longer than the simulated time",
            source="--step-h",
            value=job.step_h,
            expected=f"at most --days × 24 = {days * 24.0:g} h",
        )
    _integer(job.subjects, "--subjects", "number of subjects")
    _integer(job.seed, "--seed", "seed")
    if job.subjects < 1:
        raise LeptotwinError("need at least one subject", source="--subjects", value=job.subjects)
    if job.seed < 0:
        raise LeptotwinError("seed must be >= 0", source="--seed", value=job.seed)


def _n_times(job: PKJob) -> float:
    """Output time points of ``job``: 0, step_h, ... up to days × 24 h (float; ``inf`` when the
    count overflows)."""
    steps = job.days * 24.0 / job.step_h
    return math.floor(steps + 1e-9) + 1.0 if math.isfinite(steps) else math.inf


def _n_doses(reg: Regimen, horizon_h: float) -> float:
    """Administrations of ``reg`` up to ``horizon_h`` (float, no arrays allocated)."""
    if reg.interval_h is None:
        return 1.0
    end = horizon_h if reg.stop_h is None else min(horizon_h, reg.stop_h)
    n = max((end - reg.start_h) / reg.interval_h + 1.0, 0.0)
    return min(n, float(reg.n_doses)) if reg.n_doses is not None else n


def _check_size(
    job: PKJob, regimens: Sequence[Regimen], out_dir: str | os.PathLike[str] | None
) -> None:
    """Refuse a run whose arrays would not fit in the memory available now, or whose pk.csv
    would not fit on the disk of ``out_dir``."""
    n_times = _n_times(job)
    horizon = job.days * 24.0
    doses = sum(_n_doses(r, horizon) for r in regimens)
    need = job.subjects * n_times * _ARRAYS_PER_POINT * 8.0 + doses * _BYTES_PER_DOSE
    what = f"{format_count(job.subjects)} subjects × {format_count(n_times)} time points"
    expected = "fewer subjects, fewer days or a larger --step-h"
    source = "--subjects/--days/--step-h"
    check_memory(
        need,
        what=f"{what} ({job.days:g} d every {job.step_h:g} h) and {format_count(doses)} doses",
        source=source,
        expected=expected,
    )
    if out_dir is not None:
        rows = job.subjects * n_times
        check_disk(rows * _CSV_BYTES_PER_ROW, out_dir, what=f"pk.csv of {what}", source=source,
                   expected=expected)  # fmt: skip


def simulate_job(
    job: PKJob,
    *,
    rng: np.random.Generator | None = None,
    out_dir: str | os.PathLike[str] | None = None,
) -> PKResult:
    """Validate the job and simulate its cohort.

    ``out_dir``, when given, is where ``pk.csv`` will be written: the free space there is
    checked against the table's size before anything is simulated.

    Raises
    ------
    LeptotwinError
        For a number out of range (days, step, subjects, seed), a bad regimen, an unknown drug
        or species, or a run that would need more memory than is available or more disk than
        is free (both numbers are stated).

    Warns
    -----
    DoseRangeWarning
        When a dose is far outside the doses studied for the drug in the species.
    """
    _check_job(job)
    regimens = parse_regimen(job.regimen)
    cat = load_catalog()
    cat.pk_parameters(job.drug, job.species)  # unknown drug or species: before the size check
    _check_size(job, regimens, out_dir)
    warn_dose_range(job.drug, job.species, regimens, catalog=cat)
    t = np.arange(_n_times(job)) * job.step_h
    gen = rng if rng is not None else np.random.default_rng(job.seed)
    return simulate_pk(
        job.drug,
        job.species,
        regimens,
        t_h=t,
        n_subjects=job.subjects,
        rng=gen,
        iiv=job.subjects > 1,
        catalog=cat,
    )


# ---------------------------------------------------------------------------------------------
# doses far outside the studied range


def _studied_range(cat: Catalog, drug: str, species: str) -> tuple[float, float, str] | None:
    """(lowest, highest, unit) of the doses per administration studied for ``drug`` in
    ``species`` (catalogue ``in_vivo.yaml: studied_doses``); None when the catalogue has none."""
    block = cat.in_vivo.get("studied_doses")
    if block is None:
        return None
    lo = block.parameters.get(f"{species}_min_{drug}")
    hi = block.parameters.get(f"{species}_max_{drug}")
    if lo is None or hi is None:
        return None
    if lo.unit != hi.unit or lo.unit not in ("mg", "mg/kg", "mg/m2"):
        raise LeptotwinError(
            "studied dose range needs one unit, mg, mg/kg or mg/m2",
            source=str(cat.files.get("in_vivo", "in_vivo.yaml")),
            field=f"studied_doses.{species}_min/max_{drug}",
            value=(lo.unit, hi.unit),
        )
    return lo.value, hi.value, lo.unit


def _per_unit(dose_mg: float, unit: str, body_weight_kg: float, body_surface_m2: float) -> float:
    """A dose in mg per administration expressed in ``unit`` for a subject of this size."""
    return {"mg": dose_mg, "mg/kg": dose_mg / body_weight_kg, "mg/m2": dose_mg / body_surface_m2}[
        unit
    ]


def _num(x: float) -> str:
    """``3,200`` for large numbers, three significant digits below 1,000."""
    return f"{x:,.0f}" if x >= 1000 else f"{x:.3g}"


def _weight(kg: float) -> str:
    return f"{kg * 1000:g} g" if kg < 1 else f"{kg:g} kg"


def dose_range_messages(
    drug: str,
    species: str,
    regimens: str | Sequence[Regimen],
    *,
    catalog: Catalog | None = None,
) -> list[str]:
    """One sentence per dose of ``regimens`` that is more than 3-fold outside the doses studied
    for ``drug`` in ``species`` (empty when all are inside, or the catalogue has no range).

    Doses are compared per administration for the catalogue's typical subject (mouse 25 g,
    human 70 kg and 1.73 m²): ``"80 mg QD"`` in a mouse is 3,200 mg/kg, which the sentence
    says, against 1-25 mg/kg studied for osimertinib.
    """
    cat = catalog or load_catalog()
    regs = parse_regimen(regimens) if isinstance(regimens, str) else tuple(regimens)
    params = cat.pk_parameters(drug, species)
    studied = _studied_range(cat, params.drug, params.species)
    if studied is None:
        return []
    lo, hi, unit = studied
    bw, bsa = params.body_weight_kg, params.body_surface_m2
    plural = {"mouse": "mice", "human": "humans"}.get(params.species, params.species)
    out = []
    for reg in regs:
        dose = _per_unit(reg.dose_mg(body_weight_kg=bw, body_surface_m2=bsa), unit, bw, bsa)
        if lo / _FAR_FACTOR <= dose <= hi * _FAR_FACTOR:
            continue
        text = f"{params.drug} {reg.dose:g} {reg.dose_unit} per dose is "
        if reg.dose_unit != unit:
            size = f"{bsa:g} m2" if unit == "mg/m2" else _weight(bw)
            text += f"{_num(dose)} {unit} in a {size} {params.species} (catalogue), "
        ratio = dose / hi if dose > hi else lo / dose
        side = "above the highest" if dose > hi else "below the lowest"
        out.append(
            f"{text}{_num(ratio)}-fold {side} dose studied in {plural} ({lo:g}-{hi:g} {unit}); "
            f"the PK model was not checked there (sources: leptotwin catalog --drug {params.drug})"
        )
    return out


def warn_dose_range(
    drug: str,
    species: str,
    regimens: str | Sequence[Regimen],
    *,
    catalog: Catalog | None = None,
    stacklevel: int = 3,
) -> None:
    """Issue a :class:`DoseRangeWarning` for each message of :func:`dose_range_messages`."""
    for message in dose_range_messages(drug, species, regimens, catalog=catalog):
        warnings.warn(message, DoseRangeWarning, stacklevel=stacklevel)


@contextlib.contextmanager
def dose_warnings_printed(say: Callable[[str], None]) -> Iterator[None]:
    """Inside the block, each :class:`DoseRangeWarning` is handed to ``say`` as one line
    (``leptotwin: warning: ...``) once the block has finished; other warnings go on as usual.

    Used by the command line, where a warning is one line on stderr and the exit status stays 0.
    Nothing is said when the block raises (the error is then the one line).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DoseRangeWarning)
        yield
    for w in caught:
        if issubclass(w.category, DoseRangeWarning):
            say(f"leptotwin: warning: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


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


#: Dash patterns of a drug's IC50 lines, in the order the catalogue lists its potencies.
_IC50_DASHES = ("--", ":", "-.", (0, (6, 1.5, 1, 1.5, 1, 1.5)))


def plot_pk(
    res: PKResult,
    *,
    ax: Axes,
    title: str | None = None,
    compartments: tuple[str, ...] = tuple(_LABELS),
) -> Axes:
    """Median and 90 % band per compartment on log scale, with the drug's cellular IC50s.

    Each IC50 is a black line with its own dash pattern, named in the legend beside the axes
    (not written on the plot, where two close IC50s, or an IC50 and a curve, would overprint).
    """
    t_d = res.t_h / 24.0
    for col in compartments:
        conc = getattr(res, col)
        lo, med, hi = np.percentile(conc, [5, 50, 95], axis=0)
        ax.plot(t_d, med, color=_COLOURS[col], lw=1.4, label=_LABELS[col])
        if conc.shape[0] > 1:
            ax.fill_between(t_d, lo, hi, color=_COLOURS[col], alpha=0.18, lw=0)
    potencies = [
        (target, assay, ic50)
        for target, assay, ic50 in load_catalog().potency_nM(res.drug)
        if assay in ("cellular phosphorylation", "cell growth", "binding")
    ]
    for k, (target, assay, ic50) in enumerate(potencies):
        ax.axhline(
            ic50,
            color="k",
            ls=_IC50_DASHES[k % len(_IC50_DASHES)],
            lw=0.9,
            label=f"IC50 {ic50:g} nM: {target}\n{assay}",
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
    ax.legend(
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        frameon=False,
        handlelength=2.6,
    )
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
    res = simulate_job(job, out_dir=out_dir)
    out = prepare_out_dir(out_dir, force=force)
    csv_path = write_csv(out / "pk.csv", res.to_frame())
    fig = pk_figure(res)
    png_path = write_figure(out / "pk.png", fig, dpi=120)
    return {"csv": csv_path, "png": png_path}
