"""One view of the explorer, computed: cohorts, exposure, burden, survival, week-12 control.

Cohorts are simulated exactly as ``leptotwin simulate`` simulates them (per-subject random
streams, :func:`leptotwin.model.streams.simulate_lmc_subjects`; the engine options, counterfactual
clones and parameter sets of :mod:`leptotwin.model._scenario`, which ``simulate`` uses too):
subject j of an arm called A is the same subject in the explorer and in ``simulate --seed S`` of
the protocol :func:`protocol_yaml` writes, so the tables are identical, for mice and patients,
with or without counterfactuals, for every band. Mice: 1 h growth step. Patients are the human
section's (:func:`leptotwin.study.schedule_sweep.simulate_patients`: catalogue block
``lmc_human``, 6 h step, AREG-driven LMC). Each arm is simulated and cached on its own, so
changing one regimen of four re-simulates one arm.

Uncertainty bands: ``between-subject`` — quantiles over virtual subjects of one parameter set
(the packaged catalogue; Wilson 95 % CI for control, Greenwood log-log for Kaplan-Meier).
``posterior`` — the arm's subjects are split over :data:`POSTERIOR_DRAWS` parameter sets
(:func:`leptotwin.model._scenario.posterior_values`: posterior where calibrated, prior
elsewhere), subject j keeping its own stream; control gets the 2.5-97.5 % interval over parameter
sets of the fraction controlled, the bands are over all subjects (posterior x between-subject).
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import yaml

from leptotwin.analysis.survival import kaplan_meier
from leptotwin.catalog import Catalog, load_catalog, using_catalog
from leptotwin.explore._spec import ArmSpec, ViewSpec, treatment_start_d
from leptotwin.model._scenario import (
    COUNTERFACTUALS,
    DEFAULT_PARAMETER_SETS,
    HUMAN_INOCULUM,
    engine_options,
    parameter_set_bounds,
    posterior_values,
)
from leptotwin.model.cohort import Arm, CohortResult, SimulationCancelled
from leptotwin.model.pathway import PathwayModel
from leptotwin.model.pk import Metabolite, PKStream, simulate_pk
from leptotwin.model.regimen import parse_regimen
from leptotwin.model.streams import chunk_bounds, concat_cohorts, simulate_lmc_subjects
from leptotwin.study.schedule_sweep import progression, wilson_interval

__all__ = [
    "CONTROL_WEEKS",
    "POSTERIOR_DRAWS",
    "ViewCancelled",
    "compute_view",
    "protocol_yaml",
    "sbml_text",
    "view_tables",
]

#: Control is judged this many weeks after the first dose (or at the last observation before).
CONTROL_WEEKS = 12
#: An arm is simulated in chunks of at most this many subjects, with progress reported between
#: them. Each call of the engine has a fixed cost, its time loop, so chunks are not made smaller
#: than the 1,000-patient goal needs; cancelling does not wait for a chunk: the engine asks
#: ``cancelled()`` at every growth step (:func:`~leptotwin.model.cohort.simulate_lmc`).
CHUNK_SUBJECTS = 2500
#: Parameter sets of the ``posterior`` bands.
POSTERIOR_DRAWS = DEFAULT_PARAMETER_SETS
#: Progression of patients: burden above this multiple of its value at the start of treatment
#: (the human protocol's ``progression_fold``).
PROGRESSION_FOLD = 2.0
#: Exposure curves: hours after the first dose shown (at most), and subjects simulated (at most).
EXPOSURE_H = 21 * 24.0
EXPOSURE_SUBJECTS = 200
_QUANTILES = (5, 25, 50, 75, 95)
_COMPARTMENTS = (
    ("plasma (unbound)", "unbound_nM"),
    ("CSF", "csf_nM"),
    ("lesion (unbound)", "lesion_nM"),
)


def _counterfactuals(mir449a_restored: bool, no_areg: bool) -> tuple[str, ...]:
    """The view's counterfactuals as a protocol names them."""
    return tuple(
        c for c, on in zip(COUNTERFACTUALS, (mir449a_restored, no_areg), strict=True) if on
    )


def _options(
    species: str, inoculum: str, catalog: Catalog, mir449a_restored: bool, no_areg: bool
) -> dict[str, Any]:
    """The engine options of ``leptotwin simulate`` for the view (shared code: the species'
    engine and step, the patients' inoculum, the counterfactual clones)."""
    if species == "human":
        inoculum = HUMAN_INOCULUM
    return engine_options(
        species, inoculum, catalog, counterfactuals=_counterfactuals(mir449a_restored, no_areg)
    )


@dataclasses.dataclass
class _Watch:
    """The view being computed in this thread: its callbacks and where its current arm starts."""

    progress: Callable[[int, int], None] | None
    cancelled: Callable[[], bool] | None
    done: int  # subjects of the view's earlier arms
    total: int  # subjects of the whole view


#: Set by :func:`compute_view` around each arm; :func:`_simulate_arm` asks it between chunks.
#: A context variable keeps the callbacks out of the cache keys of :func:`_arm_cohort` and
#: :func:`_arm_view`: an arm is cached only when it returns, so a cancelled arm caches nothing.
_WATCH: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar("_WATCH", default=None)


def _simulate_arm(
    a: Arm,
    pieces: list[tuple[Catalog, int, int]],
    n: int,
    days: float,
    observe_days: tuple[float, ...],
    seed: int,
    options: Callable[[Catalog], dict[str, Any]],
) -> CohortResult:
    """Subjects of one arm, each piece ``(catalogue, lo, hi)`` in chunks (as one call: per-subject
    streams), reporting the view's ``progress`` between chunks; the engine asks the view's
    ``cancelled()`` at every growth step."""
    watch = _WATCH.get()
    parts = []
    for cat, lo, hi in pieces:
        with using_catalog(cat):
            opts = options(cat)
            for c_lo, c_hi in ((lo + x, lo + y) for x, y in chunk_bounds(hi - lo, CHUNK_SUBJECTS)):
                if parts and watch is not None and watch.cancelled is not None:
                    if watch.cancelled():
                        raise ViewCancelled
                try:
                    parts.append(
                        simulate_lmc_subjects(
                            [a],
                            n_per_arm=n,
                            days=days,
                            observe_days=observe_days,
                            seed=seed,
                            start=c_lo,
                            stop=c_hi,
                            catalog=cat,
                            cancelled=watch.cancelled if watch is not None else None,
                            **opts,
                        )
                    )
                except SimulationCancelled:
                    raise ViewCancelled from None
                if watch is not None and watch.progress is not None:
                    watch.progress(watch.done + c_hi, watch.total)
    return concat_cohorts(parts)


@functools.lru_cache(maxsize=64)
def _arm_cohort(
    species: str,
    inoculum: str,
    arm: ArmSpec,
    n: int,
    days: float,
    observe_days: tuple[float, ...],
    seed: int,
    mir449a_restored: bool,
    no_areg: bool,
    uncertainty: str,
) -> tuple[CohortResult, np.ndarray]:
    """One arm (subjects 0..n-1 of its streams) and the parameter set of each subject (0 for
    between-subject bands). Simulated in chunks (:func:`_simulate_arm`); cached only when whole.
    """
    a = Arm(arm.name, dict(arm.regimens))

    def options(cat: Catalog) -> dict[str, Any]:
        return _options(species, inoculum, cat, mir449a_restored, no_areg)

    if uncertainty != "posterior":
        cat = _point_catalog(uncertainty)
        res = _simulate_arm(a, [(cat, 0, n)], n, days, observe_days, seed, options)
        return res, np.zeros(n, dtype=int)
    # as `leptotwin simulate` with `parameters: posterior` (leptotwin.model._scenario)
    k = min(POSTERIOR_DRAWS, n)
    bounds = parameter_set_bounds(n, k)
    pieces, which = [], np.zeros(n, dtype=int)
    for i, values in enumerate(posterior_values(k, seed)):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if hi <= lo:
            continue
        pieces.append((load_catalog().with_values(values), lo, hi))
        which[lo:hi] = i
    return _simulate_arm(a, pieces, n, days, observe_days, seed, options), which


def _point_catalog(uncertainty: str) -> Catalog:
    """``between-subject``: the packaged catalogue (as ``leptotwin simulate``);
    ``posterior-median``: the calibrated posterior median (as ``leptotwin reproduce``)."""
    if uncertainty == "posterior-median":
        return _posterior_median()
    return load_catalog()


@functools.cache
def _posterior_median() -> Catalog:
    from leptotwin.catalog.posterior import posterior_median_catalog

    return posterior_median_catalog()


def _shift(res: CohortResult, offset: int) -> CohortResult:
    def f(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["subject"] = frame["subject"] + offset
        return frame

    return CohortResult(f(res.observations), f(res.survival), f(res.subjects), res.clones)


def view_cohort(spec: ViewSpec) -> tuple[CohortResult, np.ndarray]:
    """The whole cohort of a view, numbered arm-major as ``leptotwin simulate`` numbers it, and
    each subject's parameter set."""
    parts, which = [], []
    for i, arm in enumerate(spec.arms):
        res, w = _arm_cohort(
            spec.species,
            spec.inoculum,
            arm,
            spec.n_per_arm,
            spec.days,
            spec.observe_days,
            spec.seed,
            spec.mir449a_restored,
            spec.no_areg,
            spec.uncertainty,
        )
        parts.append(_shift(res, i * spec.n_per_arm))
        which.append(w)
    return concat_cohorts(parts), np.concatenate(which)


# ---------------------------------------------------------------------------------------------
# summaries


def _control(spec: ViewSpec, obs: pd.DataFrame, which: np.ndarray) -> pd.DataFrame:
    """Per arm: alive with burden at or below its value at the first dose, on the control day."""
    start = treatment_start_d(spec.species)
    want = start + 7.0 * CONTROL_WEEKS
    day = max(d for d in spec.observe_days if d <= want + 1e-9)
    base = obs[obs["day"] == start].set_index("subject")["total_cells"]
    at = obs[obs["day"] == day]
    ok = (at["alive"] & (at["total_cells"] / at["subject"].map(base) <= 1.0)).astype(int)
    rows = []
    for arm in (a.name for a in spec.arms):
        m = (at["arm"] == arm).to_numpy()
        k, n = int(ok[m].sum()), int(m.sum())
        lo, hi = (float(x) for x in wilson_interval(k, n))
        row = {
            "arm": arm,
            "day": day,
            "weeks_of_treatment": (day - start) / 7.0,
            "n": n,
            "controlled": k,
            "fraction_controlled": k / n,
            "ci_low": lo,
            "ci_high": hi,
            "interval": "Wilson 95 % CI over subjects",
        }
        if spec.uncertainty == "posterior":
            sets = which[at.loc[m, "subject"].to_numpy()]
            fr = pd.Series(ok[m].to_numpy()).groupby(sets).mean().to_numpy()
            row["ci_low"], row["ci_high"] = (float(x) for x in np.percentile(fr, [2.5, 97.5]))
            row["interval"] = (
                f"2.5-97.5 % over {fr.size} parameter sets (posterior x between-subject)"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _burden(obs: pd.DataFrame) -> pd.DataFrame:
    """Quantiles of total tumour cells over living subjects, per arm and day."""
    alive = obs[obs["alive"]]
    q = alive.groupby(["arm", "day"], sort=False)["total_cells"].quantile(
        [p / 100 for p in _QUANTILES]
    )
    out = q.unstack()
    out.columns = [f"p{p:02d}_cells" for p in _QUANTILES]
    out["n_alive"] = alive.groupby(["arm", "day"], sort=False).size()
    return out.reset_index()


def _survival_table(spec: ViewSpec, cohort: CohortResult) -> tuple[pd.DataFrame, str]:
    if spec.species == "human":
        prog = progression(cohort.observations, PROGRESSION_FOLD)
        return (
            prog,
            f"progression-free (burden > {PROGRESSION_FOLD:g}x its value at treatment start)",
        )
    s = cohort.survival
    table = pd.DataFrame(
        {
            "mouse": s["subject"].map(lambda j: f"m{j:05d}"),
            "arm": s["arm"],
            "time_days": s["time_days"],
            "event": s["event"],
        }
    )
    return table, "survival (tumour endpoint)"


def _potency(species: str) -> dict[str, float]:
    pm = PathwayModel.from_catalog(load_catalog())
    return {**pm.alk_k_nM, **pm.egfr_tki_k_nM}


@functools.lru_cache(maxsize=128)
def _exposure(
    species: str, drug: str, text: str, n: int, horizon_h: float, seed: int, uncertainty: str
) -> tuple[dict, ...]:
    """Concentration bands of one drug and regimen (from the first dose) over free potency: the
    drug, then each active metabolite it forms (AZ5104 from osimertinib), in the same subjects."""
    t = np.arange(0.0, max(horizon_h, 24.0) + 1e-9, 1.0)
    rng = np.random.default_rng([seed, int.from_bytes(drug.encode()[:8], "little")])
    cat = _point_catalog("posterior-median" if uncertainty == "posterior" else uncertainty)
    regs = parse_regimen(text)
    res = simulate_pk(drug, species, regs, t_h=t, n_subjects=n, rng=rng, catalog=cat)
    potency = _potency(species)
    entries = [(drug, None, {"plasma (unbound)": res.unbound_nM, "CSF": res.csf_nM,
                             "lesion (unbound)": res.lesion_nM})]  # fmt: skip
    for met, fraction in cat.metabolites_of(drug, species):
        if met not in potency:
            continue
        m = Metabolite(cat.pk_parameters(met, species), fraction, catalog=cat)
        stream = PKStream(res.subjects, regs, horizon_h=float(t[-1]), metabolite=m)
        conc = np.stack([np.stack(stream.advance(x)) for x in t], axis=-1)  # (3, n, T)
        entries.append((met, drug, {"plasma (unbound)": conc[0] * np.asarray(stream.fu),
                                    "CSF": conc[1], "lesion (unbound)": conc[2]}))  # fmt: skip
    step = max(1, t.size // 240)
    keep = np.arange(0, t.size, step)
    last = t >= t[-1] - 24.0
    out = []
    for name, parent, arrays in entries:
        k = potency[name]
        one: dict[str, Any] = {
            "drug": name if parent is None else f"{name} (from {parent})",
            "regimen": text,
            "free_potency_nM": k,
            "t_days": (t[keep] / 24.0).round(4).tolist(),
            "compartments": {},
        }
        rows = []
        for label, arr in arrays.items():
            q = np.percentile(arr[:, keep], [5, 50, 95], axis=0)
            one["compartments"][label] = {
                f"p{p:02d}": (q[i] / k).tolist() for i, p in enumerate((5, 50, 95))
            }
            avg = arr[:, last].mean(axis=1)
            p5, p50, p95 = np.percentile(avg, [5, 50, 95])
            rows.append({"compartment": label, "median_nM": p50, "p05_nM": p5, "p95_nM": p95,
                         "median_over_potency": p50 / k})  # fmt: skip
        one["last_day"] = rows
        out.append(one)
    return tuple(out)


def _finite(x: Any) -> Any:
    """JSON has no inf or NaN: None in their place."""
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def kaplan_meier_arrays(
    time_days: Any, event: Any, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Kaplan-Meier estimate with lifelines' exponential Greenwood (log-log) interval, in numpy.

    The same numbers as :func:`leptotwin.analysis.survival.kaplan_meier` (lifelines) and its
    median (first time with S <= 0.5; inf if never), about 100x faster on a small arm (lifelines
    builds several DataFrames per fit): the page redraws on every changed dose. Tested against
    lifelines.

    Returns
    -------
    time_days, survival, lower, upper : ndarray of shape (m,)
        At time 0 and every distinct time.
    median_days : float
    """
    from scipy.stats import norm

    t = np.asarray(time_days, dtype=float)
    e = np.asarray(event).astype(bool)
    times = np.unique(np.concatenate([[0.0], t]))
    n = (t.size - np.searchsorted(np.sort(t), times, side="left")).astype(float)
    d = np.bincount(np.searchsorted(times, t[e]), minlength=times.size).astype(float)
    z = norm.ppf(1.0 - alpha / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.exp(np.cumsum(np.log(n - d) - np.log(n)))  # as lifelines sums it
        v = np.log(s)
        spread = z * np.sqrt(np.cumsum(d / (n * (n - d)))) / v
        a = np.exp(-np.exp(np.log(-v) + spread))
        b = np.exp(-np.exp(np.log(-v) - spread))
    lo = np.where(s == 0, 0.0, np.where(np.isnan(a) | np.isnan(b), 1.0, np.minimum(a, b)))
    hi = np.where(s == 0, 0.0, np.where(np.isnan(a) | np.isnan(b), 1.0, np.maximum(a, b)))
    below = np.flatnonzero(s <= 0.5)
    return times, s, lo, hi, float(times[below[0]]) if below.size else math.inf


@functools.lru_cache(maxsize=64)
def _arm_view(one: ViewSpec) -> dict[str, Any]:
    """The numbers of a one-arm view (cached: a changed regimen recomputes its arm only)."""
    cohort, which = view_cohort(one)
    control = _control(one, cohort.observations, which)
    b = _burden(cohort.observations)
    surv, _ = _survival_table(one, cohort)
    times, s, lo, hi, median = kaplan_meier_arrays(surv["time_days"], surv["event"])
    c = control.iloc[0]
    return {
        "control": {
            key: _finite(c[key].item() if hasattr(c[key], "item") else c[key])
            for key in control.columns
            if key != "arm"
        },
        "burden": {
            "day": b["day"].tolist(),
            **{col: b[col].tolist() for col in b.columns if col.startswith("p")},
            "n_alive": b["n_alive"].tolist(),
        },
        "survival": {"t": times.tolist(), "s": s.tolist(), "lo": lo.tolist(), "hi": hi.tolist()},
        "median_days": _finite(float(median)),
    }


class ViewCancelled(Exception):
    """Raised by :func:`compute_view` when its ``cancelled`` callback says so."""


def compute_view(
    spec: ViewSpec,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Everything the page draws, as JSON-ready numbers (see the module docstring).

    ``progress(done, total)`` is called with the subjects simulated so far of all the arms'
    subjects: before each arm and after each chunk of :data:`CHUNK_SUBJECTS` subjects (an arm
    already cached counts as done at once). ``cancelled()`` is asked before each arm and at
    every growth step of the engine.

    Raises
    ------
    ViewCancelled
        When ``cancelled()`` returns True; the simulation stops within one growth step, and the
        arm cut short is not cached (computing the view again simulates it whole).
    """
    start = treatment_start_d(spec.species)
    horizon = min(EXPOSURE_H, (spec.days - start) * 24.0)
    n_pk = min(spec.n_per_arm, EXPOSURE_SUBJECTS)
    total = len(spec.arms) * spec.n_per_arm
    arms = []
    for i, arm in enumerate(spec.arms):
        if cancelled is not None and cancelled():
            raise ViewCancelled
        if progress is not None:
            progress(i * spec.n_per_arm, total)
        token = _WATCH.set(_Watch(progress, cancelled, i * spec.n_per_arm, total))
        try:
            numbers = _arm_view(dataclasses.replace(spec, arms=(arm,), warnings={}))
        finally:
            _WATCH.reset(token)
        arms.append(
            {
                "name": arm.name,
                "regimens": dict(arm.regimens),
                **numbers,
                "exposure": [
                    entry
                    for d, r in arm.regimens
                    for entry in _exposure(
                        spec.species, d, r, n_pk, horizon, spec.seed, spec.uncertainty
                    )
                ],
            }
        )
    surv_label = (
        f"progression-free (burden > {PROGRESSION_FOLD:g}x its value at treatment start)"
        if spec.species == "human"
        else "survival (tumour endpoint)"
    )
    one = {
        "between-subject": "the packaged catalogue, as leptotwin simulate",
        "posterior-median": "the calibrated posterior median, as leptotwin reproduce",
    }
    bands = (
        f"between-subject: quantiles over {spec.n_per_arm} virtual subjects per arm of one "
        f"parameter set ({one.get(spec.uncertainty)}); parameter uncertainty not included"
        if spec.uncertainty != "posterior"
        else f"posterior x between-subject: each arm's {spec.n_per_arm} subjects split over "
        f"{min(POSTERIOR_DRAWS, spec.n_per_arm)} parameter sets (posterior where calibrated, "
        "prior elsewhere)"
    )
    return {
        "spec": spec.to_json(),
        "species": spec.species,
        "warnings": spec.warnings,
        "uncertainty": bands,
        "survival_label": surv_label,
        "day_label": "days after inoculation" if spec.species == "mouse" else "days of treatment",
        "treatment_start_day": start,
        "arms": arms,
    }


def view_tables(spec: ViewSpec) -> dict[str, pd.DataFrame]:
    """The CSV tables of a view: ``observations``, ``survival``, ``subjects`` (as ``leptotwin
    simulate`` writes them), ``control``, ``burden``, ``kaplan_meier``, ``exposure``."""
    cohort, which = view_cohort(spec)
    surv, _ = _survival_table(spec, cohort)
    subjects = cohort.subjects
    if spec.uncertainty == "posterior":
        subjects = subjects.assign(parameter_set=which[subjects["subject"].to_numpy()])
    start = treatment_start_d(spec.species)
    horizon = min(EXPOSURE_H, (spec.days - start) * 24.0)
    n_pk = min(spec.n_per_arm, EXPOSURE_SUBJECTS)
    ex = [
        {"arm": arm.name, "drug": e["drug"], "regimen": r, **row,
         "free_potency_nM": e["free_potency_nM"]}
        for arm in spec.arms
        for d, r in arm.regimens
        for e in _exposure(spec.species, d, r, n_pk, horizon, spec.seed, spec.uncertainty)
        for row in e["last_day"]
    ]  # fmt: skip
    return {
        "observations": cohort.observations,
        "survival": cohort.survival,
        "subjects": subjects,
        "control": _control(spec, cohort.observations, which),
        "burden": _burden(cohort.observations),
        "kaplan_meier": kaplan_meier(surv),
        "exposure": pd.DataFrame(ex),
    }


def protocol_yaml(spec: ViewSpec, arm: int | None = None) -> str:
    """A protocol for ``leptotwin simulate`` that reproduces the view (or its arm ``arm``).

    Arms list their drugs at the protocol's ``regimens``; where two arms give one drug two
    regimens, every arm carries its own (drug → regimen text), and ``regimens`` holds each
    drug's first.

    Raises
    ------
    LeptotwinError
        When no arm has a drug (a protocol needs at least one regimen).
    """
    from leptotwin.errors import LeptotwinError

    arms = spec.arms if arm is None else (spec.arms[arm],)
    regimens: dict[str, str] = {}
    own = False  # some drug has two regimens across the arms
    for a in arms:
        for d, t in a.regimens:
            own |= regimens.setdefault(d, t) != t
    if not regimens:
        raise LeptotwinError(
            "no arm has a drug; a protocol needs at least one regimen", field="protocol"
        )
    human = spec.species == "human"
    block: dict[str, Any] = {"species": "human"} if human else {}
    block["inoculum"] = HUMAN_INOCULUM if human else spec.inoculum
    block["patients_per_arm" if human else "mice_per_arm"] = spec.n_per_arm
    block["follow_up_days"] = spec.days
    block["observe_days"] = list(spec.observe_days)
    counterfactuals = _counterfactuals(spec.mir449a_restored, spec.no_areg)
    if counterfactuals:
        block["counterfactuals"] = list(counterfactuals)
    if spec.uncertainty == "posterior-median":
        block["parameters"] = "posterior-median"
    elif spec.uncertainty == "posterior":
        block["parameters"] = "posterior"
        block["parameter_sets"] = POSTERIOR_DRAWS
    block["arms"] = {a.name: dict(a.regimens) if own else [d for d, _ in a.regimens] for a in arms}
    head = (
        "# Written by `leptotwin explore`: reproduces the view's tables with\n"
        f"#   leptotwin simulate THIS_FILE.yaml --seed {spec.seed}\n"
    )
    body = yaml.safe_dump(
        {"regimens": regimens, "explorer": block}, sort_keys=False, allow_unicode=True
    )
    return head + body


def sbml_text(spec: ViewSpec, arm: int = 0, subject: int = 0) -> str:
    """Subject ``subject`` of arm ``arm`` of the view as SBML L3V2 (``leptotwin export-sbml``)."""
    from leptotwin.interop.sbml import export_sbml

    a = spec.arms[arm]
    cat = _point_catalog(spec.uncertainty)
    opts = _options(spec.species, spec.inoculum, cat, spec.mir449a_restored, spec.no_areg)
    return export_sbml(
        Arm(a.name, dict(a.regimens)),
        subject=subject,
        seed=spec.seed,
        days=spec.days,
        inoculum=opts["inoculum"],
        species=spec.species,
        catalog=cat,
        tumor=opts.get("tumor"),
        clones=opts.get("clones"),
    ).sbml
