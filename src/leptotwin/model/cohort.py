"""Virtual cohorts: many mice (or patients) with LMC, treated by arm, simulated in one batch.

The tumour grows at one site (:data:`~leptotwin.model.tumor.SITES`): in the leptomeningeal space
(default, drug at the unbound lesion concentration, AREG in the CSF) or under the skin
(``site="subcutaneous"``: drug at unbound plasma × Kp,uu, AREG in the tumour interstitium, the
tumour volume reported; :mod:`leptotwin.model.tumor`).

Subjects are the batch axis. Per subject: PK parameters drawn with inter-individual variability
(catalogue), an engrafted inoculum (log-normal), an in-vivo growth-rate scale (log-normal) and, for
parental inocula, the AREG-high cells already present (Poisson). Time advances on a fixed grid:
the PK is exact at every grid point (closed form, :class:`~leptotwin.model.pk.PKStream`), growth
integrates the net rate with Simpson's rule (PK sampled at the step midpoint) and an exponential
update, CSF AREG an exact exponential update, and P → R switching Poisson draws per step.
Results are reduced on the fly to the observation days and survival times, so memory does not
grow with the number of steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.pathway import DrugAction, PathwayModel
from leptotwin.model.pk import Metabolite, PKStream, SubjectPK, draw_subjects
from leptotwin.model.regimen import Regimen, _as_regimens, _shifted
from leptotwin.model.tumor import Clone, TumorParameters, check_site, default_clones

__all__ = [
    "MAX_DAYS",
    "REFINE_AFTER_DOSE_H",
    "REFINE_DT_H",
    "Arm",
    "CohortResult",
    "SimulationCancelled",
    "growth_grid",
    "simulate_lmc",
]


class SimulationCancelled(Exception):
    """Raised by :func:`simulate_lmc` when its ``cancelled`` callback returns True."""


@dataclass(frozen=True)
class Arm:
    """A treatment arm: drug → regimen (text or Regimen objects), timed from treatment start."""

    name: str
    regimens: Mapping[str, str | tuple[Regimen, ...]]


@dataclass
class CohortResult:
    """What a cohort simulation keeps.

    observations : one row per subject and observation day: ``subject, arm, day, cells_<clone>
        ..., total_cells, csf_areg_pg_mL, alive`` (cells NaN after the endpoint); at the
        subcutaneous site ``interstitial_areg_pg_mL`` instead of ``csf_areg_pg_mL`` and a
        column ``tumor_volume_mm3`` (total cells / cell density) after ``total_cells``
    survival : one row per subject: ``subject, arm, time_days, event`` (event 1 = endpoint)
    subjects : one row per subject: ``subject, arm, engrafted_cells, rate_scale, founders_R``
    """

    observations: pd.DataFrame
    survival: pd.DataFrame
    subjects: pd.DataFrame
    clones: tuple[str, ...]


def _check_inoculum(inoculum: str) -> None:
    if inoculum not in ("A925LPE3", "A925L/AR"):
        raise LeptotwinError(
            "unknown inoculum", field="inoculum", value=inoculum, expected="A925LPE3 or A925L/AR"
        )


MAX_DAYS = 125 * 365.25
"""Longest simulated time (days): longer than any mouse or human lives (the oldest documented
human reached 122 years). Keeps the step count and the dose-event arrays finite."""


def _check_horizon(days: float, dt_h: float) -> None:
    """``days`` in (0, MAX_DAYS] and a finite step of at most a day (h)."""
    if not (isinstance(days, int | float | np.number) and 0 < days <= MAX_DAYS):
        raise LeptotwinError(
            "days must be a finite number > 0",
            field="days",
            value=days,
            expected=f"at most {MAX_DAYS:g} (125 years)",
        )
    if not (isinstance(dt_h, int | float | np.number) and 0 < dt_h <= 24.0):
        raise LeptotwinError("growth step must be > 0 and at most 24 h", field="dt_h", value=dt_h)


#: Hours after each dose stepped at :data:`REFINE_DT_H` by default, per species. Mice: drug
#: levels swing most in the hours after an oral dose, where Simpson's rule on an hour step errs
#: most; with 4 h refined to 15 min the C7 cohort's burden is within 0.4 % of libRoadRunner at
#: the hour step, for ~1.4x its steps, against 2.2 % on the uniform hour grid
#: (``benchmarks/cohort.py``). Patients (6 h step, slower human PK): none (the human section's
#: arms are within 0.6 % of a 0.25 h reference over 12 weeks; docs/model.md, Numerics).
REFINE_AFTER_DOSE_H = {"mouse": 4.0, "human": 0.0}
#: The refined step (h), or the growth step where that is finer.
REFINE_DT_H = 0.25
#: Steps whose PK and drug action are computed together, at most: the chunk's arrays are
#: 2 x steps times x subjects (concentrations, drug action), and PKStream.advance_many holds
#: 2 x steps times x poles x subjects per PK group. Chunk boundaries do not change results.
_CHUNK_STEPS = 64
#: Bound on (chunk steps x subjects): fewer steps per chunk in a large cohort (about 2**19
#: elements per times x subjects array, i.e. 8 MiB, times the poles for the PK's held moments).
_CHUNK_ELEMENTS = 2**19


def _chunk_steps(n_subjects: int) -> int:
    """Steps per chunk for ``n_subjects`` subjects: 64 up to 8192 subjects, then fewer (at
    least 1), so that the chunk's temporaries stay about the same size."""
    return min(_CHUNK_STEPS, max(1, _CHUNK_ELEMENTS // max(n_subjects, 1)))


def growth_grid(
    t_end_h: float,
    dt_h: float,
    dose_t_h: np.ndarray,
    *,
    species: str = "mouse",
    refine_after_dose_h: float | None = None,
    refine_dt_h: float | None = None,
) -> np.ndarray | None:
    """Step ends (h, increasing, the last ``t_end_h``) of the growth integration: every ``dt_h``,
    and every ``refine_dt_h`` (default :data:`REFINE_DT_H`) for ``refine_after_dose_h`` hours
    (default :data:`REFINE_AFTER_DOSE_H` of the species) after each dose time in ``dose_t_h``.
    None for the uniform grid (nothing refined, or a step already as fine).

    Raises
    ------
    LeptotwinError
        For refined hours outside [0, 24] or a refined step outside (0, ``dt_h``].
    """
    _check_refinement(refine_after_dose_h, refine_dt_h, dt_h)
    after = REFINE_AFTER_DOSE_H.get(species, 0.0)
    after = after if refine_after_dose_h is None else refine_after_dose_h
    fine = min(dt_h, REFINE_DT_H) if refine_dt_h is None else refine_dt_h
    if after <= 0 or fine >= dt_h:
        return None
    return _refined_grid(t_end_h, dt_h, np.asarray(dose_t_h, dtype=float), after, fine)


def _check_refinement(after_h: float | None, refine_dt_h: float | None, dt_h: float) -> None:
    if after_h is not None and not (
        isinstance(after_h, int | float | np.number) and 0 <= after_h <= 24.0
    ):
        raise LeptotwinError(
            "refined hours after a dose must be >= 0 and at most 24",
            field="refine_after_dose_h",
            value=after_h,
        )
    if refine_dt_h is not None and not (
        isinstance(refine_dt_h, int | float | np.number) and 0 < refine_dt_h <= dt_h
    ):
        raise LeptotwinError(
            "refined step must be > 0 and at most the growth step",
            field="refine_dt_h",
            value=refine_dt_h,
            expected=f"in (0, {dt_h:g}] h",
        )


def _refined_grid(
    t_end: float, dt_h: float, dose_t: np.ndarray, after_h: float, fine_h: float
) -> np.ndarray:
    """Step ends (h, increasing, the last ``t_end``): every ``dt_h``, and every ``fine_h`` for
    ``after_h`` hours after each dose time in ``dose_t``."""
    coarse = np.arange(1, int(np.ceil(t_end / dt_h)) + 1) * dt_h
    offsets = np.arange(int(np.ceil(after_h / fine_h)) + 1) * fine_h  # 0: the dose itself
    doses = np.unique(dose_t[(dose_t >= 0) & (dose_t < t_end)])
    fine = (doses[:, None] + offsets[offsets <= after_h + 1e-9]).ravel()
    grid = np.unique(np.minimum(np.concatenate([coarse, fine]), t_end))
    grid = grid[grid > 0]
    keep = np.diff(grid, prepend=0.0) > 1e-9  # no sliver steps from round-off
    return grid[keep]


def _check_pk_subjects(
    pk_subjects: Mapping[str, SubjectPK] | None, n: int
) -> Mapping[str, SubjectPK]:
    for drug, subj in (pk_subjects or {}).items():
        if subj.typical.drug != drug or subj.n_subjects != n:
            raise LeptotwinError(
                "PK subjects must be the drug's, one per subject of the cohort",
                field=f"pk_subjects.{drug}",
                value=f"{subj.typical.drug}, {subj.n_subjects} subjects",
                expected=f"{drug}, {n} subjects",
            )
    return pk_subjects or {}


def simulate_lmc(
    arms: Sequence[Arm],
    *,
    n_per_arm: int,
    days: float,
    observe_days: Sequence[float],
    rng: np.random.Generator,
    inoculum: str = "A925LPE3",
    species: str = "mouse",
    dt_h: float = 1.0,
    stochastic: bool = True,
    catalog: Catalog | None = None,
    model: PathwayModel | None = None,
    tumor: TumorParameters | None = None,
    clones: tuple[Clone, ...] | None = None,
    cancelled: Callable[[], bool] | None = None,
    refine_after_dose_h: float | None = None,
    refine_dt_h: float | None = None,
    pk_subjects: Mapping[str, SubjectPK] | None = None,
    site: str = "leptomeningeal",
) -> CohortResult:
    """Simulate LMC in ``len(arms) * n_per_arm`` subjects from inoculation (day 0) to ``days``.

    Parameters
    ----------
    arms : sequence of Arm
        Regimens start at the tumour model's treatment start (``in_vivo.yaml``).
    n_per_arm : int
    days : float
        Follow-up (days after inoculation).
    observe_days : sequence of float
        Days (after inoculation) at which burden is recorded.
    rng : numpy.random.Generator
        All randomness (PK variability, engraftment, switching).
    inoculum : {"A925LPE3", "A925L/AR"}
        Parental inocula carry Poisson(engrafted × switch rate × culture generations) R cells.
    dt_h : float
        Growth step (h), at most 24. The PK is exact at every step and the rates are integrated with
        Simpson's rule; at 1 h (with the mice's refinement after doses) the combination arms'
        burden is within 0.5 % of a 1/8 h reference, and the log burden within 1 % of a 1/32 h
        one on the uniform grid (tested).
    stochastic : bool
        False replaces the Poisson draws by their expectations (for step-error tests).
    refine_after_dose_h, refine_dt_h : float, optional
        Step ``refine_dt_h`` for ``refine_after_dose_h`` hours after every dose (of any drug of
        any arm), ``dt_h`` elsewhere (:func:`growth_grid`; defaults: mice 4 h at 15 min,
        patients none; 0: the uniform grid).
    pk_subjects : mapping of drug to SubjectPK, optional
        The PK parameters of every subject (``len(arms) * n_per_arm`` of them, in the cohort's
        order: arm by arm) for the drugs it names, used instead of drawing them (the drug's
        active metabolites follow these subjects); the other drugs are drawn as usual. For a
        batch of parameter sets simulated as subjects (:class:`~leptotwin.interop.petab.
        EngineLikelihood`). With a deterministic ``rng`` (random effects at their means, as
        that batch uses) each subject's numbers are the ones the same parameters give alone;
        with a Generator, skipping the PK draws shifts the engraftment and rate-scale draws
        that follow, so the cohort differs from one that drew its PK.
    site : {"leptomeningeal", "subcutaneous"}
        Where the tumour grows (:mod:`leptotwin.model.tumor`); the default tumour parameters
        are the site's (``TumorParameters.from_catalog(site=...)``) and a given ``tumor`` must
        be of the same site. Every per-subject value (arrays of the cohort's size in ``tumor``,
        ``model`` or ``pk_subjects``) works at both sites.
    cancelled : callable, optional
        Asked before every growth step; when it returns True the run stops at once with
        :class:`SimulationCancelled` (an interactive caller's stop button). Never changes results.

    Returns
    -------
    CohortResult

    Raises
    ------
    LeptotwinError
        No arm or subject, ``days`` not in (0, :data:`MAX_DAYS`], a step not in (0, 24] h, an
        unknown inoculum, drug, species or site, a ``tumor`` of another site; ``pk_subjects``
        for another drug or number of subjects.
    SimulationCancelled
        When ``cancelled()`` returns True.
    """
    cat = catalog or load_catalog()
    pm = model or PathwayModel.from_catalog(cat)
    check_site(site)
    tp = tumor or TumorParameters.from_catalog(cat, species=species, site=site)
    if tp.site != site:
        raise LeptotwinError(
            "tumour parameters of another site", field="tumor.site", value=tp.site, expected=site
        )
    subcutaneous = site == "subcutaneous"
    cl = clones or default_clones(cat)
    names = tuple(c.name for c in cl)
    if n_per_arm < 1 or not arms:
        raise LeptotwinError(
            "need at least one arm and one subject per arm", field="n_per_arm", value=n_per_arm
        )
    _check_horizon(days, dt_h)
    _check_inoculum(inoculum)
    n = len(arms) * n_per_arm
    arm_of = np.repeat(np.arange(len(arms)), n_per_arm)
    t_end = days * 24.0
    t0 = tp.treatment_start_d * 24.0

    # PK: one stream per (drug, regimen) group of subjects
    streams: list[tuple[str, np.ndarray, PKStream]] = []
    groups: dict[tuple[str, str], list[int]] = {}
    regs_of: dict[tuple[str, str], tuple[Regimen, ...]] = {}
    for a, arm in enumerate(arms):
        for drug, reg in arm.regimens.items():
            regs = _as_regimens(reg)
            key = (drug, repr(regs))
            groups.setdefault(key, []).append(a)
            regs_of[key] = regs
    given = _check_pk_subjects(pk_subjects, n)
    for (drug, key_r), arm_ids in groups.items():
        idx = np.flatnonzero(np.isin(arm_of, arm_ids))
        if drug in given:
            subj = given[drug].take(idx)
        else:
            subj = draw_subjects(cat.pk_parameters(drug, species), idx.size, rng=rng, catalog=cat)
        regs = _shifted(regs_of[(drug, key_r)], t0)
        # growth sees the unbound lesion concentration only (subcutaneous: total plasma,
        # made unbound tumour interstitium below)
        seen = ("plasma",) if subcutaneous else ("lesion",)
        streams.append((drug, idx, PKStream(subj, regs, horizon_h=t_end, outputs=seen)))
        for met, fraction in cat.metabolites_of(drug, species):  # active metabolites (AZ5104)
            m = Metabolite(cat.pk_parameters(met, species), fraction, catalog=cat)
            met_stream = PKStream(subj, regs, horizon_h=t_end, metabolite=m, outputs=seen)
            streams.append((met, idx, met_stream))
    drugs = sorted({d for d, _, _ in streams})

    # tumour initial state
    engrafted = tp.inoculum_cells * np.exp(rng.normal(0.0, tp.engraftment_sd, n))
    rate_scale = tp.in_vivo_rate_scale * np.exp(rng.normal(0.0, tp.rate_scale_sd, n))
    cells = np.zeros((len(cl), n))
    i_p, i_r = names.index("P"), names.index("R")
    if inoculum == "A925LPE3":
        expected_r = engrafted * tp.switch_rate * tp.culture_generations
        founders = rng.poisson(expected_r) if stochastic else expected_r
        cells[i_p] = engrafted
        cells[i_r] = founders
    else:
        founders = np.zeros(n)
        cells[i_r] = engrafted
    csf_areg = np.zeros(n)  # subcutaneous: the interstitial AREG (nM)
    if subcutaneous:
        # nM/h per cell into 1 mL; divided by the pool's volume (mL) at each step
        sec_nM_per_cell_h = np.array([pm.secretion_nM_per_h(c.state, 1.0) for c in cl])
        k_csf = tp.areg_clearance_per_h
        # unbound tumour / total plasma, per subject: fu (the stream's) x Kp,uu,tumour
        kp_tumour = np.broadcast_to(np.asarray(tp.kp_uu_tumour, dtype=float), (n,))
        # pool volume (mL) per cell: interstitial fraction / density (cells/mm^3) x 1e-3 mL/mm^3
        pool_mL_per_cell = tp.interstitial_fraction / tp.cell_density_per_mm3 * 1e-3
    else:
        sec_nM_per_cell_h = np.array([pm.secretion_nM_per_h(c.state, tp.csf_volume_mL) for c in cl])
        k_csf = tp.csf_turnover_per_h

    pm.refuse_bypass("the in-vivo tumour model")
    columns = pm.state_columns([c.state for c in cl])  # clone_rates' numbers, built once
    n_states = len(cl)

    def drug_actions(times: list[float]) -> DrugAction:
        """What the drugs do at ``times`` (the PK streams advanced through them in order),
        arrays of shape (states, times, n) and (times, n): :meth:`PathwayModel.drug_action`
        (:meth:`PathwayModel.state_rates`' drug part) for many times in one pass."""
        conc = {d: np.zeros((len(times), n)) for d in drugs}
        for drug, idx, stream in streams:
            if subcutaneous:  # unbound plasma x Kp,uu,tumour
                conc[drug][:, idx] += stream.advance_many(times)[0] * (stream.fu * kp_tumour[idx])
            else:
                conc[drug][:, idx] += stream.advance_many(times)[0]
        act = pm.drug_action(columns, conc, ndim=2)
        shape = (len(times), n)
        return DrugAction(
            alk=np.broadcast_to(act.alk, (n_states, *shape)),
            kd_apparent=np.broadcast_to(act.kd_apparent, shape),
            egfr_tki_divisor=np.broadcast_to(act.egfr_tki_divisor, shape),
        )

    def room_at(total: np.ndarray) -> np.ndarray:
        return np.clip(1.0 - total / tp.carrying_capacity, 0.0, 1.0)

    def net_rates(act: DrugAction, r: int, m: int, room: np.ndarray):  # type: ignore[no-untyped-def]
        """Birth, death and net rates (states, m, n) at the ``m`` times from row ``r`` of
        ``act``, all with the current CSF AREG and ``room``."""
        at = DrugAction(
            act.alk[:, r : r + m], act.kd_apparent[r : r + m], act.egfr_tki_divisor[r : r + m]
        )
        b, d = pm.rates_given_action(columns, at, areg_bulk_nM=csf_areg)
        return b * rate_scale, d * rate_scale, (b * room - d) * rate_scale

    obs_days = np.asarray(sorted(observe_days), dtype=float)
    obs_cells = np.full((obs_days.size, len(cl), n), np.nan)
    obs_areg = np.full((obs_days.size, n), np.nan)
    alive = np.ones(n, dtype=bool)
    death_t = np.full(n, np.nan)
    doses = [r.dose_times_h(t_end) for key in groups for r in _shifted(regs_of[key], t0)]
    step_ends = growth_grid(  # None: the uniform grid, stepped as it always was
        t_end,
        dt_h,
        np.concatenate([np.empty(0), *doses]),
        species=species,
        refine_after_dose_h=refine_after_dose_h,
        refine_dt_h=refine_dt_h,
    )
    steps = int(np.ceil(t_end / dt_h)) if step_ends is None else step_ends.size

    def step_of(i: int, t: float) -> float:
        return min(dt_h, t_end - t) if step_ends is None else step_ends[i] - t

    t = 0.0
    birth, death, g_now = (
        x[:, 0] for x in net_rates(drug_actions([0.0]), 0, 1, room_at(cells.sum(0)))
    )
    next_obs = 0
    while next_obs < obs_days.size and obs_days[next_obs] <= 0:
        obs_cells[next_obs] = cells
        obs_areg[next_obs] = csf_areg
        next_obs += 1
    chunk_end, act, row = 0, None, 0
    chunk_steps = _chunk_steps(n)
    for i in range(steps):
        if cancelled is not None and cancelled():
            raise SimulationCancelled(f"stopped at {t / 24.0:g} of {days:g} days")
        h = step_of(i, t)
        if h <= 0:
            break
        if i == chunk_end:  # the drugs' action over the next steps, in one pass
            times, tc = [], t
            for j in range(i, min(i + chunk_steps, steps)):
                hc = step_of(j, tc)
                if hc <= 0:
                    break
                times += [tc + 0.5 * hc, tc + hc]
                tc = tc + hc
            chunk_end, act, row = i + len(times) // 2, drug_actions(times), 0
        t_new = t + h
        total_before = cells.sum(0)
        # Simpson's rule on the rates over the step: drug levels swing within hours in mice,
        # the exact PK is cheap to sample at the midpoint, and the state-dependent parts
        # (room, CSF AREG) change slowly, so they are taken at the start of the step.
        # the midpoint and the end in one pass (rates of shape (states, 2, n))
        b_two, d_two, g_two = net_rates(act, row, 2, room_at(total_before))
        b_mid, d_mid, g_mid = b_two[:, 0], d_two[:, 0], g_two[:, 0]
        b_new, d_new, g_new = b_two[:, 1], d_two[:, 1], g_two[:, 1]
        row += 2
        g_avg = (g_now + 4.0 * g_mid + g_new) / 6.0
        # P -> R switching during the step (stochastic branching, surviving lineages only)
        b_avg_p = (birth[i_p] + 4.0 * b_mid[i_p] + b_new[i_p]) / 6.0
        b_r = (birth[i_r] + 4.0 * b_mid[i_r] + b_new[i_r]) / 6.0
        d_r = (death[i_r] + 4.0 * d_mid[i_r] + d_new[i_r]) / 6.0
        p_surv = np.clip(1.0 - d_r / np.maximum(b_r, 1e-12), 0.0, 1.0)
        lam = tp.switch_rate * b_avg_p * cells[i_p] * h * p_surv
        if not np.isfinite(lam).all():
            lam = np.nan_to_num(lam)  # dead: 0
        new_lineages = rng.poisson(lam) if stochastic else lam
        cells = cells * np.exp(g_avg * h)
        cells[i_r] += np.where(p_surv > 0, new_lineages / np.maximum(p_surv, 1e-3), 0.0)
        if not alive.all():
            cells[:, ~alive] = np.nan
        # CSF AREG: exact exponential update with the mean source over the step
        source = (sec_nM_per_cell_h[:, None] * 0.5 * (cells + cells * np.exp(-g_avg * h))).sum(0)
        total = cells.sum(0)
        if subcutaneous:  # into the interstitial pool of the mean tumour over the step
            pool = pool_mL_per_cell * (0.5 * (cells + cells * np.exp(-g_avg * h))).sum(0)
            source = np.divide(source, pool, out=np.zeros(n), where=pool > 0)
            # the pool grows (shrinks) with the tumour: dilution -L dV/dt / V, V ∝ N, at the
            # mean growth rate of the tumour over the step; exact for exponential growth
            ratio = np.divide(total, total_before, out=np.ones(n), where=total_before > 0)
            dilution = np.log(ratio, out=np.zeros(n), where=np.isfinite(ratio) & (ratio > 0)) / h
            loss_h = (k_csf + dilution) * h
            small = np.abs(loss_h) < 1e-8  # (1 - e^-x) / x -> 1
            gain = np.where(small, 1.0, -np.expm1(-loss_h) / np.where(small, 1.0, loss_h))
            csf_areg = csf_areg * np.exp(-loss_h) + source * h * gain
        else:
            decay = np.exp(-k_csf * h)
            csf_areg = csf_areg * decay + source / k_csf * (1.0 - decay)
        crossed = alive & (total >= tp.endpoint_cells)
        if crossed.any():
            frac = (np.log(tp.endpoint_cells) - np.log(total_before[crossed])) / np.maximum(
                np.log(total[crossed]) - np.log(total_before[crossed]), 1e-12
            )
            death_t[crossed] = t + np.clip(frac, 0.0, 1.0) * h
            alive &= ~crossed
        t = t_new
        birth, death, g_now = b_new, d_new, g_new
        while next_obs < obs_days.size and obs_days[next_obs] * 24.0 <= t + 1e-9:
            snap = cells.copy()
            snap[:, ~alive] = np.nan
            obs_cells[next_obs] = snap
            obs_areg[next_obs] = np.where(alive, csf_areg, np.nan)
            next_obs += 1

    arm_names = np.array([a.name for a in arms])[arm_of]
    rows = []
    for k, day in enumerate(obs_days):
        frame = {"subject": np.arange(n), "arm": arm_names, "day": day}
        for c, name in enumerate(names):
            frame[f"cells_{name}"] = obs_cells[k, c]
        frame["total_cells"] = obs_cells[k].sum(0)
        if subcutaneous:
            frame["tumor_volume_mm3"] = frame["total_cells"] / tp.cell_density_per_mm3
            frame["interstitial_areg_pg_mL"] = pm.nM_to_pg_per_mL(obs_areg[k])
        else:
            frame["csf_areg_pg_mL"] = pm.nM_to_pg_per_mL(obs_areg[k])
        frame["alive"] = np.isfinite(obs_cells[k, 0])
        rows.append(pd.DataFrame(frame))
    observations = pd.concat(rows, ignore_index=True)
    survival = pd.DataFrame(
        {
            "subject": np.arange(n),
            "arm": arm_names,
            "time_days": np.where(np.isnan(death_t), t_end, death_t) / 24.0,
            "event": (~np.isnan(death_t)).astype(int),
        }
    )
    subjects = pd.DataFrame(
        {
            "subject": np.arange(n),
            "arm": arm_names,
            "engrafted_cells": engrafted,
            "rate_scale": rate_scale,
            "founders_R": founders,
        }
    )
    return CohortResult(observations, survival, subjects, names)
