"""``leptotwin calibrate``: the catalogue values an experiment file names, estimated from its data.

The statistical model
---------------------
The likelihood is the one :func:`leptotwin.interop.petab.engine_nll` computes and the PEtab
export's test checks against libRoadRunner: the typical mouse of each arm simulated by the
cohort engine (deterministic) and the closed-form PK, the data around it with the noise model
the experiment file declares (log-normal or normal, ``sigma`` fixed). The prior of each
estimated value is its catalogue prior (:func:`leptotwin.catalog.priors.prior_distribution`);
the other values stay at the catalogue's. The posterior is sampled by the project's sampler
(:func:`leptotwin.calibration.calibrate.sample_posterior`: emcee in the priors' normal space,
diagnostics of :mod:`leptotwin.calibration.diagnostics`). The walkers start from an importance
sample around the best of a few maximum a posteriori searches (Powell,
:func:`~leptotwin.calibration.sampler.find_map`): one from the prior medians and the others
from prior draws (a *multistart*, so one poor local optimum does not set the start).

Subcutaneous tumours. With ``site: subcutaneous`` the engine simulates the flank tumour
(:mod:`leptotwin.model.tumor`) and its ``tumor_volume`` rows (caliper volumes, mm³) take the
place of BLI: the typical mouse's cells / the cell density, Richardson-extrapolated and batched
as the BLI burden is; ``sc_mouse.parameters.*`` values (Kp,uu,tumour, cell density, AREG
clearance, ...) can be estimated and are batched per parameter set.

In-vitro data. The ``viability`` rows of the experiment (its viability table) add their own
negative log-likelihood to the in-vivo one (normal noise, ``sigma`` in %: ``0.5 ln(2π σ²) +
0.5 ((y − h)/σ)²`` per well, as PEtab's, plus the normalisation error the wells of a plate
share: their vehicle mean's, relative SD ``plate_sigma``, in closed form per plate,
:func:`viability_nll`). Their model value ``h`` is the twin's noise-free 72 h
culture (:func:`viability_simulation`): :func:`leptotwin.model.culture.grow_culture` (the model
of the virtual plate reader and of the calibration readouts' IC50s) with the pathway model and
cell state of the catalogue at the estimated values, the catalogue's seeding and medium volume,
as 100 × live cells of the well / live cells of the vehicle well (no agent) of the same cell
line and perturbation. Pathway (``pathway.*``) and cell-line values (``<line>.mir449a``, ...)
may then be estimated; the in-vivo tumour shares them, so in-vitro and in-vivo data inform them
together.

ELISA and qPCR rows (``supernatant_areg``, ``relative_expression``) add their log-normal NLL
(:func:`leptotwin.study.experiment_invitro.invitro_nll`: the twin's conditioned medium and
cell-state levels, noise-free); fits.csv carries them with their model bands and fits.png a
panel of them.

Growth step. The engine's burden is Richardson-extrapolated from the steps ``dt_h`` and
``dt_h / 2`` (:func:`~leptotwin.interop.petab.engine_simulation`); the calibration uses the
coarsest of 4, 2, 1, 0.5 and 0.25 h whose half divides every BLI (or caliper) time. On
``examples/own-lab`` its NLL is within 1.2e-3 (absolute) of the one at 0.25 h, far below what
moves a posterior (a change of 1 in the NLL), at 1/12 of the cost.

Speed. With in-vivo rows (BLI or PK) many parameter sets cost about one pass of the cohort
engine (:class:`~leptotwin.interop.petab.EngineLikelihood`), so the calibration asks for them
in batches (:meth:`ExperimentLogLikelihood.batch`; ``batch=False`` turns it off): the MAP
searches run in lock-step (each round the next point of every search, :func:`_lockstep`), the
Laplace stencil and the importance candidates are one batch each, and emcee evaluates each
half-ensemble of walkers as one batch (``vectorize``). Every value is the one-at-a-time value
to the bit, so the MAP, the start points, the chain and every output are the same as without
batches (tested). The MAP searches stay Powell's: scipy's L-BFGS-B in lock-step
(:func:`~leptotwin.calibration.multistart.lockstep_lbfgsb`) would be another optimiser, with
another optimum to the last digits and so another chain, and a finite-difference gradient is
meaningless across the 1e12 penalty :func:`find_map` puts where the log posterior is ``-inf``.

Identifiability. A value is named *not identifiable* when its posterior is about as wide as its
prior: its posterior SD on the prior's normal scale (where the prior's SD is 1) is at least 0.8
(the data narrowed it by less than a fifth; the margin covers the Monte Carlo error of a short
chain, about 10 % for a prior-only value at the default settings); or when its posterior
correlation (Pearson, on the normal scale) with another estimated value exceeds 0.95 in
magnitude (the data inform a combination only).

Outputs (:func:`write_experiment_calibration`): ``overlay.yaml`` (the calibrated catalogue
overlay: each value's posterior median with its 95 % interval, prior and the data files as its
source; ``leptotwin simulate --catalog-overlay`` reads it), ``posterior_draws.csv``,
``diagnostics.csv`` (R-hat, bulk and tail ESS, emcee's tau, shrinkage, identifiability),
``correlations.csv``, ``identifiability.md``, ``fits.csv`` (every datum with the posterior
median and 95 % interval of the model at it; viability rows with their ``cell_line, drug,
dose_nM, partner, partner_nM`` and ``time_h`` 72) and ``fits.png`` (the fits over the data; a
viability panel of % of vehicle against dose).

Population fits. The typical-mouse likelihood treats mice as identical. When the experiment
file has a ``population`` block, each of its entries is also fitted as a nonlinear mixed-effects
model (:func:`fit_experiment_population`: FOCE-I, one compartment with first-order absorption,
between-subject variability, :func:`leptotwin.calibration.population.fit_population_pk`) on the
PK rows of its drug and matrix and the dose records of :func:`leptotwin.study.experiment.
population_doses`; before the sampler runs, so a fit that cannot start stops the command early.
Each writes ``population_<drug>_<matrix>.csv`` (θ, ω², σ with standard error, 95 % interval,
RSE and ω shrinkage; OFV and convergence on every row), ``population_<drug>_<matrix>_eta.csv``
(per mouse: empirical Bayes η̂ and individual parameters) and a section of ``population.md``.
They are apparent parameters of that model (CL/F, V/F), not catalogue values: ``overlay.yaml``
does not carry them. A ``population`` entry with ``observable: total_flux`` fits the population
growth model of the BLI table (a linear mixed model of ln flux with a rate per arm and
between-mouse variability of baseline and rate, REML by default,
:func:`leptotwin.calibration.population_growth.fit_population_growth`) and writes
``population_growth.csv`` (typical ln flux at the origin, each arm's rate per day with its
doubling time, Ω, σ: SE and 95 % intervals), ``population_growth_eta.csv`` (per mouse) and its
section of ``population.md``. At ``site: subcutaneous`` the entry's ``observable: tumor_volume``
fits ln caliper volume the same way (one code path: the value column and the labels differ;
units ln(mm^3), "log volume").

Population fits only. A file with a ``population`` block and no ``estimate`` list runs the
population fits alone: no maximum a posteriori search, no sampler. It writes the population
tables, their ``_eta.csv`` and ``population.md`` (which says so in a closing note), and no
``overlay.yaml``, ``posterior_draws.csv``, ``diagnostics.csv``, ``correlations.csv``,
``identifiability.md``, ``fits.csv`` or ``fits.png``; the summary lines end with
:data:`POPULATION_ONLY_NOTE`. A file with neither block is refused ("nothing to estimate").
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from leptotwin.calibration.calibrate import (
    PosteriorSample,
    _plain,
    parameter_specs,
    sample_posterior,
)
from leptotwin.calibration.multistart import run_lockstep
from leptotwin.calibration.sampler import (
    LogPosteriorZ,
    ZTransform,
    find_map,
    importance_start,
    laplace_scales,
)
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop.petab import (
    EngineLikelihood,
    engine_nll,
    engine_simulation,
    parameter_sets,
    simulation_nll,
)
from leptotwin.study.experiment import (
    BURDEN_OBSERVABLES,
    VIABILITY_HOURS,
    Experiment,
    GrowthPopulationEntry,
    PopulationEntry,
    population_growth_data,
    viability_groups,
    viability_plate_sigma,
)
from leptotwin.study.experiment_invitro import (
    INVITRO_ASSAY_OBSERVABLES,
    invitro_bands,
    invitro_nll,
    invitro_panel,
    invitro_virtual,
)

if TYPE_CHECKING:
    from leptotwin.calibration.population import PopulationFit
    from leptotwin.calibration.population_growth import GrowthPopulationFit

__all__ = [
    "OVERLAY_FORMAT",
    "POPULATION_ONLY_NOTE",
    "ExperimentCalibration",
    "ExperimentLogLikelihood",
    "GrowthPopulationResult",
    "PopulationResult",
    "calibrate_experiment",
    "fit_experiment_population",
    "growth_step",
    "identifiability",
    "load_overlay",
    "population_eta",
    "population_report",
    "population_table",
    "run_calibrate_experiment",
    "viability_nll",
    "viability_plate_terms",
    "viability_simulation",
    "virtual_data",
    "write_experiment_calibration",
]

OVERLAY_FORMAT = "leptotwin catalogue overlay 1"
"""The ``format`` line of ``overlay.yaml``."""

AS_WIDE_AS_PRIOR = 0.8
"""Posterior SD on the prior's normal scale (prior: 1) from which a value counts as not informed
by the data."""
MAX_CORRELATION = 0.95
"""|Posterior correlation| above which two values count as not separately identifiable."""
_STEPS_H = (4.0, 2.0, 1.0, 0.5, 0.25)


def growth_step(exp: Experiment) -> float:
    """The coarsest growth step (h) of 4, 2, 1, 0.5, 0.25 whose half divides every BLI (or
    caliper) time.

    Raises
    ------
    LeptotwinError
        A BLI time off the 0.125 h grid (the message names the first such row).
    """
    m = exp.measurements
    burden = m["observable"].isin(BURDEN_OBSERVABLES)
    t = m.loc[burden, "time_h"].to_numpy(float)
    for h in _STEPS_H:
        g = t / (h / 2)
        if np.allclose(g, np.round(g), rtol=0, atol=1e-9):
            return h
    bad = int(np.flatnonzero(~np.isclose(t * 8, np.round(t * 8)))[0])
    row = m.loc[burden, "source"].iloc[bad]
    what = "BLI" if m.loc[burden, "observable"].iloc[bad] == "total_flux" else "caliper"
    raise LeptotwinError(
        f"a {what} time off the 7.5-minute grid the engine can reach",
        source=str(row),
        field="day",
        value=float(t[bad] / 24.0),
        expected="days in multiples of 1/192",
    )


def viability_simulation(
    exp: Experiment,
    values: Mapping[str, float] | None = None,
    *,
    catalog: Catalog | None = None,
    table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The experiment's viability rows (or ``table``, same columns) with the twin's noise-free
    72 h viability (column ``simulation``, % of vehicle) at the catalogue values ``values``
    (path → value; the rest at the catalogue's).

    Each distinct well (cell line, perturbation, agents and doses) is grown once by
    :func:`leptotwin.model.culture.grow_culture` (RK4 at the calibration readouts' step,
    :data:`leptotwin.calibration.readouts.CULTURE_DT_H`) from the catalogue's seeding
    (``culture.seeding_cells``) in its medium volume, beside the vehicle well of its cell line
    and perturbation; ``AREG`` is recombinant amphiregulin added at the start (nM).
    """
    from leptotwin.assays.viability import LIGAND
    from leptotwin.calibration.readouts import CULTURE_DT_H
    from leptotwin.model.culture import grow_culture
    from leptotwin.model.pathway import PathwayModel, cell_state

    cat = (catalog or load_catalog()).with_values(dict(values or {}))
    v = (exp.viability if table is None else table).copy()
    sim = np.full(len(v), np.nan)
    if len(v):
        pm = PathwayModel.from_catalog(cat)
        cells0 = cat.assay_value("culture", "seeding_cells")
        volume_mL = cat.assay_value("culture", "medium_volume") * 1e-3
        wells = list(zip(v["drug"], v["dose_nM"], v["partner"], v["partner_nM"], strict=True))
        groups = v.groupby(["cell_line", "perturbation"], sort=False).indices
        for (line, pert), rows in groups.items():
            perts = [x.strip() for x in str(pert).split("+") if x.strip()]
            state = cell_state(str(line), perts, catalog=cat)
            keys = list(dict.fromkeys(wells[i] for i in rows))
            agents = sorted({a for k in keys for a in (k[0], k[2]) if a})
            conc = {a: np.zeros(len(keys) + 1) for a in agents}  # well 0: the vehicle
            for j, (drug, dose, partner, partner_nM) in enumerate(keys, start=1):
                conc[drug][j] += float(dose)
                if partner:
                    conc[partner][j] += float(partner_nM)
            areg0 = conc.pop(LIGAND, 0.0)
            live = grow_culture(
                pm,
                state,
                conc,
                cells0=np.full(len(keys) + 1, cells0),
                areg0_nM=areg0,
                volume_mL=volume_mL,
                hours=VIABILITY_HOURS,
                dt_h=CULTURE_DT_H,
            ).live_cells
            pct = dict(zip(keys, 100.0 * live[1:] / live[0], strict=True))
            sim[rows] = [pct[wells[i]] for i in rows]
    v["simulation"] = sim
    return v


def viability_plate_terms(exp: Experiment, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The normalisation groups of the viability rows ``table`` (group per row, -1 for a vehicle
    well: :func:`leptotwin.study.experiment.viability_groups`) and tau per group (relative SD of
    the group's vehicle mean: :func:`leptotwin.study.experiment.viability_plate_sigma`)."""
    codes, _, _ = viability_groups(table)
    tau = viability_plate_sigma(table, exp.observables["viability"], source=str(exp.path))
    return codes, tau


def viability_nll(
    exp: Experiment,
    sim: pd.DataFrame,
    *,
    plate: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """The negative log-likelihood of the viability rows ``sim`` (:func:`viability_simulation`'s
    table: ``value`` and ``simulation`` in %) under the ``viability`` observable's normal noise
    and the normalisation error shared by a group's wells (0 without rows).

    The wells of a group ``g`` (``plate``: :func:`viability_plate_terms` of ``sim``, computed
    when not given) are ``y = m (1 + delta_g) + eps``, ``delta_g ~ N(0, tau_g²)``, ``eps ~ N(0,
    σ² I)``: Gaussian with covariance ``σ² I + tau_g² m m'``. By the matrix determinant lemma and
    Sherman–Morrison its NLL is the independent wells' ``sum 0.5 ln(2π σ²) + 0.5 ((y − m)/σ)²``
    plus, per group, ``0.5 ln(1 + tau² m'm / σ²) − 0.5 tau² (m'r)² / (σ² (σ² + tau² m'm))``
    (``r = y − m``): O(n), no matrices. Vehicle wells stay independent. With every tau 0 the
    extra terms are exactly 0 (the independent wells' NLL, bit for bit)."""
    if len(sim) == 0:
        return 0.0
    obs = exp.observables["viability"]
    if obs.sigma_rel > 0:
        return _viability_nll_proportional(exp, sim, plate)
    s = obs.sigma
    r = (sim["value"].to_numpy(float) - sim["simulation"].to_numpy(float)) / s
    nll = float(np.sum(0.5 * np.log(2 * np.pi * s**2) + 0.5 * r**2))
    codes, tau = viability_plate_terms(exp, sim) if plate is None else plate
    if not np.any(tau > 0):
        return nll
    k = codes >= 0
    m = sim["simulation"].to_numpy(float)[k]
    res = (sim["value"].to_numpy(float) - sim["simulation"].to_numpy(float))[k]
    mm = np.bincount(codes[k], weights=m * m, minlength=len(tau))
    mr = np.bincount(codes[k], weights=m * res, minlength=len(tau))
    t2 = tau**2
    s2 = s**2
    extra = 0.5 * np.log1p(t2 * mm / s2) - 0.5 * t2 * mr**2 / (s2 * (s2 + t2 * mm))
    return nll + float(np.sum(extra))


def _viability_nll_proportional(
    exp: Experiment, sim: pd.DataFrame, plate: tuple[np.ndarray, np.ndarray] | None
) -> float:
    """:func:`viability_nll` with each well's own SD ``s_i = sqrt(sigma² + (sigma_rel m_i)²)``:
    a group's covariance ``D + tau² m m'`` (``D = diag(s_i²)``), by the determinant lemma and
    Sherman–Morrison with ``a = m'D⁻¹m``, ``b = m'D⁻¹r``: the independent wells' NLL plus
    ``0.5 ln(1 + tau² a) − 0.5 tau² b² / (1 + tau² a)``."""
    obs = exp.observables["viability"]
    m_all = sim["simulation"].to_numpy(float)
    res_all = sim["value"].to_numpy(float) - m_all
    var = obs.sigma**2 + (obs.sigma_rel * m_all) ** 2
    nll = float(np.sum(0.5 * np.log(2 * np.pi * var) + 0.5 * res_all**2 / var))
    codes, tau = viability_plate_terms(exp, sim) if plate is None else plate
    if not np.any(tau > 0):
        return nll
    k = codes >= 0
    m, res, v = m_all[k], res_all[k], var[k]
    a = np.bincount(codes[k], weights=m * m / v, minlength=len(tau))
    b = np.bincount(codes[k], weights=m * res / v, minlength=len(tau))
    t2 = tau**2
    return nll + float(np.sum(0.5 * np.log1p(t2 * a) - 0.5 * t2 * b**2 / (1.0 + t2 * a)))


_NOT_EVALUABLE = (LeptotwinError, ArithmeticError, ValueError)
"""What :class:`~leptotwin.calibration.sampler.LogPosteriorZ` counts as ``-inf`` (a region the
model cannot evaluate)."""


class ExperimentLogLikelihood:
    """``theta -> log likelihood`` of the experiment's data (minus
    :func:`~leptotwin.interop.petab.engine_nll` of the in-vivo data, minus :func:`viability_nll`
    of the in-vitro data) with the estimated values at ``theta``; :meth:`batch` gives the same
    values for many ``theta`` at once (the in-vivo part in one pass of the cohort engine).

    Parameters
    ----------
    exp : Experiment
    names : sequence of str
        Catalogue paths, in the order of ``theta``.
    catalog : Catalog, optional
    dt_h : float, optional
        Growth step (default :func:`growth_step`).
    """

    def __init__(
        self,
        exp: Experiment,
        names: Sequence[str],
        *,
        catalog: Catalog | None = None,
        dt_h: float | None = None,
    ) -> None:
        self.exp = exp
        self.names = list(names)
        self.catalog = catalog or load_catalog()
        self.dt_h = growth_step(exp) if dt_h is None else float(dt_h)
        self._plate = viability_plate_terms(exp, exp.viability) if exp.has_viability else None
        self._engine: EngineLikelihood | None = None  # built by the first batch
        self._engine_refused = False  # building it raised: every batch set by set

    def simulate(self, theta: np.ndarray, exp: Experiment | None = None) -> pd.DataFrame:
        """The measurements (of ``exp``, default the experiment's) with the model's value."""
        values = self._values(theta)
        return engine_simulation(exp or self.exp, values, catalog=self.catalog, dt_h=self.dt_h)

    def simulate_viability(
        self, theta: np.ndarray, table: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        """The viability rows (``table``, default the experiment's) with the model's value."""
        values = self._values(theta)
        return viability_simulation(self.exp, values, catalog=self.catalog, table=table)

    def __call__(self, theta: np.ndarray) -> float:
        # a model value of 0 under log-normal noise (far in a prior's tail): -inf, no warning
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = 0.0
            if len(self.exp.measurements):
                value -= simulation_nll(self.exp, self.simulate(theta))
            value = self._in_vitro(theta, value)
        return value if math.isfinite(value) else -math.inf

    def _in_vitro(self, theta: np.ndarray, value: float) -> float:
        """``value`` minus the viability and ELISA/qPCR NLLs at ``theta`` (in that order)."""
        if self.exp.has_viability:
            sim = self.simulate_viability(theta)
            value -= viability_nll(self.exp, sim, plate=self._plate)
        if self.exp.has_invitro_assays:
            values = self._values(theta)
            value -= invitro_nll(self.exp, values, catalog=self.catalog)
        return value

    def batch(self, thetas: np.ndarray) -> np.ndarray:
        """The log likelihood at each row of ``thetas`` (shape (K, len(names)), catalogue
        values), shape (K,): the in-vivo part of all rows in one pass of the cohort engine
        (:class:`~leptotwin.interop.petab.EngineLikelihood`), the viability and ELISA/qPCR
        parts row by row.

        Each value equals ``self(theta)`` of its row to the bit (the engine's batch gives
        :func:`~leptotwin.interop.petab.engine_nll`'s value per set), and a row whose
        one-at-a-time evaluation would raise :class:`LeptotwinError`, :class:`ArithmeticError`
        or :class:`ValueError` (what :class:`~leptotwin.calibration.sampler.LogPosteriorZ`
        counts as ``-inf``) is ``-inf`` here instead of stopping the batch. For a sampler's or
        optimiser's ``vectorized`` mode.

        Raises
        ------
        LeptotwinError
            ``thetas`` not of shape (K, len(names)).
        """
        th = parameter_sets(thetas, len(self.names))
        K = th.shape[0]
        ok = np.ones(K, dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            value = np.zeros(K)
            if len(self.exp.measurements) and K:
                nll = self._engine_batch(th, ok)
                value[ok] -= nll[ok]
            for k in np.flatnonzero(ok):
                try:
                    value[k] = self._in_vitro(th[k], float(value[k]))
                except _NOT_EVALUABLE:
                    ok[k] = False
        value[~ok] = -math.inf
        return np.where(np.isfinite(value), value, -math.inf)

    def _engine_batch(self, th: np.ndarray, ok: np.ndarray) -> np.ndarray:
        """engine_nll at each row of ``th`` (one EngineLikelihood pass); rows the catalogue or
        the engine refuses are marked False in ``ok`` (their value is NaN)."""
        nll = np.full(th.shape[0], np.nan)
        for k, row in enumerate(th):  # engine_simulation's first step, row by row (cheap)
            try:
                self.catalog.with_values(self._values(row))
            except _NOT_EVALUABLE:
                ok[k] = False
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return nll
        if self._engine is None and not self._engine_refused:
            try:  # once: a failure is remembered, not probed again at every batch
                self._engine = EngineLikelihood(
                    self.exp, self.names, catalog=self.catalog, dt_h=self.dt_h
                )
            except _NOT_EVALUABLE:
                self._engine_refused = True
        if self._engine is not None:
            try:
                nll[rows] = self._engine(th[rows])
                return nll
            except _NOT_EVALUABLE:  # one set the engine cannot take: each on its own
                pass
        for k in rows:
            try:
                nll[k] = engine_nll(
                    self.exp, self._values(th[k]), catalog=self.catalog, dt_h=self.dt_h
                )
            except _NOT_EVALUABLE:
                ok[k] = False
        return nll

    def _values(self, theta: np.ndarray) -> dict[str, float]:
        """Catalogue path → value of one parameter set (``theta``: len(names) values)."""
        return dict(zip(self.names, (float(v) for v in np.ravel(theta)), strict=True))


def virtual_data(
    exp: Experiment,
    truth: Mapping[str, float],
    *,
    rng: np.random.Generator,
    catalog: Catalog | None = None,
    dt_h: float | None = None,
) -> Experiment:
    """The experiment with its data replaced by virtual data from the calibration's own model:
    the engine's value at the catalogue values ``truth`` (the rest at the catalogue's), with
    the experiment's noise model (log-normal or normal, ``sigma``) drawn by ``rng``; viability
    rows: :func:`viability_simulation` ``m`` plus normal noise ``s ε`` (``s = σ``, or
    ``sqrt(σ² + (sigma_rel m)²)``; drawn after the in-vivo
    rows') plus, where tau > 0, each group's normalisation error ``m δ_g``, ``δ_g ~ N(0, tau_g²)``
    (drawn last, per group; not for vehicle wells: :func:`viability_nll`'s model). The
    round-trip check of :func:`calibrate_experiment` (its intervals should cover ``truth``)."""
    sim = engine_simulation(
        exp, dict(truth), catalog=catalog, dt_h=growth_step(exp) if dt_h is None else dt_h
    )
    h = sim["simulation"].to_numpy(float)
    y = np.empty_like(h)
    for oid, o in exp.observables.items():
        k = (sim["observable"] == oid).to_numpy()
        e = rng.standard_normal(int(k.sum()))
        y[k] = h[k] * np.exp(o.sigma * e) if o.noise == "lognormal" else h[k] + o.sigma * e
    meas = exp.measurements.copy()
    meas["value"] = y
    meas["source"] = [f"virtual:{s}" for s in exp.measurements["source"]]
    viability = exp.viability
    if exp.has_viability:
        vs = viability_simulation(exp, dict(truth), catalog=catalog)
        obs = exp.observables["viability"]
        viability = vs.drop(columns="simulation")
        m = vs["simulation"].to_numpy(float)
        sd = np.hypot(obs.sigma, obs.sigma_rel * m)  # exactly sigma where sigma_rel is 0
        y_v = m + sd * rng.standard_normal(len(vs))
        codes, tau = viability_plate_terms(exp, vs)
        if np.any(tau > 0):
            delta = tau * rng.standard_normal(len(tau))
            k = codes >= 0
            y_v[k] += m[k] * delta[codes[k]]
        viability["value"] = y_v
        viability["source"] = [f"virtual:{s}" for s in vs["source"]]
    assays = invitro_virtual(exp, truth, rng=rng, catalog=catalog)  # drawn last
    return replace(exp, measurements=meas, viability=viability, **assays)


# --- population fits (nonlinear mixed effects) -------------------------------------------------

#: What the population model's typical values are, for the written table and the report.
_MEANING = {
    "CL": "CL/F, apparent clearance",
    "V": "V/F, apparent volume",
    "ka": "ka, absorption rate constant",
}


@dataclass
class PopulationResult:
    """One population fit of :func:`fit_experiment_population`.

    Attributes
    ----------
    entry : PopulationEntry
        The ``population`` entry of the experiment file.
    fit : PopulationFit
        :func:`leptotwin.calibration.population.fit_population_pk`'s result (concentrations
        converted to mg/L: θ in L/h, L, 1/h; an additive σ in mg/L).
    data, doses : DataFrame
        The samples (``subject, time_h, concentration, source``; the observable's unit) and the
        dose records (``subject, time_h, dose_mg``) it was fitted to.
    unit : str
        The PK table's unit (nM or ng/mL).
    mw_g_mol : float
        The catalogue's molar mass of the drug (nM to mg/L).
    body_weight_kg : float
        The catalogue's mouse body weight the mg/kg doses were multiplied by.
    n_below_lloq : int
        Samples of this drug and matrix below their LLOQ: left out (``blq: m1``), or censored
        in the likelihood where the LLOQ was reported (``blq: m3``, ``fit.n_censored`` of them).
    warnings : list of str
        What the estimator warned about (no convergence, a failed covariance step).
    """

    entry: PopulationEntry
    fit: PopulationFit
    data: pd.DataFrame
    doses: pd.DataFrame
    unit: str
    mw_g_mol: float
    body_weight_kg: float
    n_below_lloq: int
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line: the typical values with their 95 % intervals, OFV, convergence."""
        th = self.fit.theta.set_index("parameter")
        parts = [
            f"{name} {th.loc[p, 'estimate']:.4g} [{th.loc[p, 'lower']:.4g}, "
            f"{th.loc[p, 'upper']:.4g}] {th.loc[p, 'unit']}"
            for p, name in (("CL", "CL/F"), ("V", "V/F"), ("ka", "ka"))
        ]
        flag = "" if self.fit.converged else "  NOT CONVERGED"
        if self.fit.converged and not self.fit.covariance_ok:
            flag = "  COVARIANCE STEP FAILED (no intervals)"
        return (
            f"population {self.entry.drug} {self.entry.matrix} (FOCE-I, {self.fit.n_subjects} "
            f"mice, {self.fit.n_observations} samples): {', '.join(parts)}; "
            f"OFV {self.fit.ofv:.2f}{flag}"
        )


@dataclass(frozen=True)
class _GrowthLabels:
    """How a population growth fit's tables and report name its measured value."""

    unit: str  # the value's unit (its log's unit is ln(<unit>))
    long: str  # the value's logarithm, in full
    short: str  # the same, short
    points: str  # what one measurement is


#: The labels of each tumour observable's population growth fit (BLI flux, caliper volume).
_GROWTH_LABELS = {
    "total_flux": _GrowthLabels("p/s", "ln total flux", "ln flux", "images"),
    "tumor_volume": _GrowthLabels("mm^3", "log tumour volume (ln mm^3)", "log volume", "volumes"),
}


@dataclass
class GrowthPopulationResult:
    """The population growth fit of :func:`fit_experiment_population`.

    Attributes
    ----------
    entry : GrowthPopulationEntry
    fit : GrowthPopulationFit
        :func:`leptotwin.calibration.population_growth.fit_population_growth`'s result.
    data : DataFrame
        The images fitted (:func:`leptotwin.study.experiment.population_growth_data`).
    left_out : dict
        ``before_origin``, ``at_background`` (images left out) and ``origin_day``.
    warnings : list of str
    """

    entry: GrowthPopulationEntry
    fit: GrowthPopulationFit
    data: pd.DataFrame
    left_out: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    @property
    def labels(self) -> _GrowthLabels:
        return _GROWTH_LABELS[self.entry.observable]

    def line(self) -> str:
        """One line: each arm's rate with its 95 % interval and doubling time."""
        f, lab = self.fit, self.labels
        parts = [
            f"{r.arm} {r.estimate:.4g} [{r.lower:.4g}, {r.upper:.4g}] /day"
            + (f" (doubling {r.doubling_time_d:.3g} d)" if r.estimate > 0 else "")
            for r in f.theta.iloc[1:].itertuples(index=False)
        ]
        flag = "" if f.converged else "  NOT CONVERGED"
        if f.converged and not f.covariance_ok:
            flag = "  NO INTERVALS FOR THE VARIANCES"
        return (
            f"population growth ({f.estimation.upper()}, {f.n_subjects} mice, "
            f"{f.n_observations} {lab.points}): rate of {lab.short} {', '.join(parts)}; "
            f"log-likelihood {f.loglik:.2f}{flag}"
        )


def fit_experiment_population(
    exp: Experiment,
    *,
    catalog: Catalog | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[PopulationResult | GrowthPopulationResult]:
    """Fit every ``population`` entry of the experiment (see the module docstring): the PK
    entries, then the growth entry.

    Concentrations go to the estimator in the PK table's unit with the catalogue's molar mass
    of the drug (nM) and are fitted in mg/L; doses are those of
    :func:`leptotwin.study.experiment.population_doses` (mg/kg times the catalogue's mouse body
    weight); the bioavailability is fixed at 1, so CL and V are the apparent CL/F and V/F.

    Raises
    ------
    LeptotwinError
        The data of an entry that the estimator cannot use (see
        :func:`leptotwin.study.experiment.population_data`).
    """
    from leptotwin.calibration.population import fit_population_pk
    from leptotwin.errors import ConvergenceWarning
    from leptotwin.study.experiment import population_data

    say = progress or (lambda _line: None)
    cat = catalog or load_catalog()
    out: list[PopulationResult | GrowthPopulationResult] = []
    for entry in exp.population:
        data, doses = population_data(exp, entry, catalog=cat)
        params = cat.pk_parameters(entry.drug, exp.species)
        unit = exp.observables[entry.observable].unit
        say(
            f"population fit of {entry.drug} in {entry.matrix}: "
            f"{data['subject'].nunique()} mice, {len(data)} samples"
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            cols = ["subject", "time_h", "concentration"]
            fit = fit_population_pk(
                data[[*cols, "lloq"]] if entry.blq == "m3" else data[cols],
                doses=doses,
                omega=entry.omega,
                iiv=entry.random_effects,
                error=entry.error,
                concentration_unit=unit,
                mw_g_mol=params.mw_g_mol,
                blq=entry.blq,
            )
        notes = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
        for w in caught:  # anything else is not ours to swallow
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        out.append(
            PopulationResult(
                entry=entry,
                fit=fit,
                data=data,
                doses=doses,
                unit=unit,
                mw_g_mol=params.mw_g_mol,
                body_weight_kg=params.body_weight_kg,
                n_below_lloq=int(exp.below_lloq.get(entry.observable, 0)),
                warnings=notes,
            )
        )
    for growth in exp.population_growth:
        out.append(_fit_growth(exp, growth, cat, say))
    return out


def _fit_growth(
    exp: Experiment, entry: GrowthPopulationEntry, cat: Catalog, say: Callable[[str], None]
) -> GrowthPopulationResult:
    from leptotwin.calibration.population_growth import fit_population_growth
    from leptotwin.study.experiment import GROWTH_VALUE_COLUMN

    data, left_out = population_growth_data(exp, entry, catalog=cat)
    labels = _GROWTH_LABELS[entry.observable]
    value = GROWTH_VALUE_COLUMN[entry.observable]
    say(
        f"population growth fit: {data['subject'].nunique()} mice, {len(data)} {labels.points} "
        f"({entry.estimation.upper()})"
    )
    fit = fit_population_growth(
        data[["subject", "arm", "time_d", value]],
        omega=entry.omega,
        estimation=entry.estimation,
        value_column=value,
        value_unit=labels.unit,
    )
    notes = list(fit.messages)
    if not fit.converged:
        notes.insert(0, "the mixed model did not converge")
    if not fit.covariance_ok:
        notes.append("the information matrix of the variances is not positive definite")
    return GrowthPopulationResult(entry, fit, data, left_out, notes)


def _growth_table(res: GrowthPopulationResult) -> pd.DataFrame:
    f, lab = res.fit, res.labels
    cols = ["parameter", "arm", "estimate", "se", "lower", "upper", "unit", "rse_pct"]
    theta = f.theta.assign(kind="theta", shrinkage=np.nan)
    theta["meaning"] = [
        f"typical {lab.long} at the time origin"
        if p == "intercept"
        else f"typical growth rate of {lab.short} in arm {a} (doubling time ln 2 / rate)"
        for p, a in zip(theta["parameter"], theta["arm"], strict=True)
    ]
    omega = f.omega.assign(kind="omega", arm=None)
    omega["meaning"] = [
        {
            "omega2_intercept": f"between-mouse variance of {lab.short} at the origin",
            "omega2_slope": "between-mouse variance of the growth rate",
            "omega_intercept_slope": f"between-mouse covariance of {lab.short} at the origin "
            "and rate",
        }[p]
        for p in omega["parameter"]
    ]
    sigma = f.sigma.assign(kind="sigma", arm=None, shrinkage=np.nan)
    sigma["meaning"] = f"residual SD of {lab.short} (log-normal measurement error)"
    doubling = ["doubling_time_d", "doubling_lower", "doubling_upper"]
    table = pd.concat([theta, omega, sigma], ignore_index=True)
    table = table[["kind", *cols, *doubling, "shrinkage", "meaning"]]
    for name, value in (
        ("loglik", float(f.loglik)),
        ("estimation", f.estimation),
        ("converged", bool(f.converged)),
        ("covariance_ok", bool(f.covariance_ok)),
        ("n_subjects", int(f.n_subjects)),
        ("n_observations", int(f.n_observations)),
        ("n_before_origin", int(res.left_out["before_origin"])),
        ("n_at_background", int(res.left_out["at_background"])),
        ("time_origin", res.entry.time_origin),
        ("origin_day", float(res.left_out["origin_day"])),
        ("background_p_s", res.entry.background_p_s),
        ("omega_structure", res.entry.omega),
    ):
        table[name] = value
    return table


def population_table(res: PopulationResult | GrowthPopulationResult) -> pd.DataFrame:
    """``population_<drug>_<matrix>.csv``: one row per θ (``kind`` theta), ω² or Ω covariance
    (omega) and residual parameter (sigma) with ``estimate, se, lower, upper`` (95 % Wald
    interval, log scale), ``unit``, ``rse_pct``, ``shrinkage`` (ω² only) and ``meaning``; the
    fit's ``ofv``, ``converged``, ``covariance_ok``, ``n_subjects``, ``n_observations``,
    ``n_below_lloq``, ``blq`` (m1: left out; m3: censored), ``n_censored``, ``error``,
    ``omega_structure`` and ``data_unit`` repeated on every row.

    ``population_growth.csv`` (a :class:`GrowthPopulationResult`): the same layout with an
    ``arm`` column and ``doubling_time_d, doubling_lower, doubling_upper`` (the rates'; days);
    θ ``intercept`` (ln p/s at the origin; ln mm^3 for caliper volumes) and ``slope_<arm>``
    (1/day), ω² ``omega2_intercept`` and ``omega2_slope`` (``omega_intercept_slope`` with full
    Ω), ``sigma`` (SD of ln flux or volume);
    repeated: ``loglik`` (restricted under REML, time in days), ``estimation``, ``converged``,
    ``covariance_ok``, ``n_subjects``, ``n_observations``, ``n_before_origin``,
    ``n_at_background``, ``time_origin``, ``origin_day``, ``background_p_s``,
    ``omega_structure``."""
    if isinstance(res, GrowthPopulationResult):
        return _growth_table(res)
    f = res.fit
    cols = ["parameter", "estimate", "se", "lower", "upper", "unit", "rse_pct"]
    theta = f.theta[cols].assign(kind="theta", shrinkage=np.nan)
    theta["meaning"] = [_MEANING[p] for p in theta["parameter"]]
    omega = f.omega.assign(kind="omega")
    omega["meaning"] = [
        "between-subject variance of ln " + p.removeprefix("omega2_")
        if p.startswith("omega2_")
        else "between-subject covariance of ln " + " and ln ".join(p.split("_")[1:])
        for p in omega["parameter"]
    ]
    sigma = f.sigma[cols].assign(kind="sigma", shrinkage=np.nan)
    sigma["meaning"] = [
        {
            "sigma": "residual SD of ln concentration (proportional error)",
            "sigma_prop": "proportional residual SD",
            "sigma_add": "additive residual SD",
        }[p]
        for p in sigma["parameter"]
    ]
    table = pd.concat([theta, omega, sigma], ignore_index=True)
    table = table[["kind", *cols, "shrinkage", "meaning"]]
    for name, value in (
        ("ofv", float(f.ofv)),
        ("converged", bool(f.converged)),
        ("covariance_ok", bool(f.covariance_ok)),
        ("n_subjects", int(f.n_subjects)),
        ("n_observations", int(f.n_observations)),
        ("n_below_lloq", int(res.n_below_lloq)),
        ("blq", res.entry.blq),
        ("n_censored", int(f.n_censored)),
        ("error", res.entry.error),
        ("omega_structure", res.entry.omega),
        ("data_unit", res.unit),
    ):
        table[name] = value
    return table


def population_eta(res: PopulationResult | GrowthPopulationResult) -> pd.DataFrame:
    """``population_<drug>_<matrix>_eta.csv``: per mouse the empirical Bayes estimates
    ``eta_<P>`` and the individual ``CL_F_L_h``, ``V_F_L``, ``ka_per_h``.
    ``population_growth_eta.csv``: ``subject, arm, n_images, eta_intercept, eta_slope,
    intercept`` (ln p/s at the origin) and ``slope`` (1/day)."""
    if isinstance(res, GrowthPopulationResult):
        return res.fit.eta.copy()
    return res.fit.eta.rename(columns={"CL": "CL_F_L_h", "V": "V_F_L", "ka": "ka_per_h"})


def _span(low: int, high: int) -> str:
    return f"{low}" if low == high else f"{low}-{high}"


def _growth_report(res: GrowthPopulationResult) -> list[str]:
    f, e, lab = res.fit, res.entry, res.labels
    files = sorted({str(s).split(":", 1)[0] for s in res.data["source"]})
    origin = (
        f"the treatment start (day {res.left_out['origin_day']:g} after inoculation)"
        if e.time_origin == "treatment_start"
        else f"the first {lab.points.removesuffix('s')} (day {res.left_out['origin_day']:g} "
        "after inoculation)"
    )
    left = [f"{int(res.left_out['before_origin'])} before the origin"]
    if e.background_p_s is not None:
        left.append(f"{int(res.left_out['at_background'])} at or below {e.background_p_s:g} p/s")
    elif e.observable == "total_flux":
        left.append("no background given: every image after the origin kept")
    else:
        left.append("caliper volumes have no background: every volume after the origin kept")
    why = (
        "REML (variances unbiased by the fixed effects' degrees of freedom with few mice)"
        if e.estimation == "reml"
        else "maximum likelihood"
    )
    lines = [
        f"## Population growth (`{e.stem}.csv`, `{e.stem}_eta.csv`)",
        "",
        f"Linear mixed model of {lab.long} (statsmodels `mixedlm`,",
        "`leptotwin.calibration.population_growth.fit_population_growth`): mouse i of arm a has",
        f"{lab.short} = (β0 + b0_i) + (β1_a + b1_i)·t + ε, (b0_i, b1_i) ~ N(0, Ω), ε ~ N(0, σ²), "
        "t in",
        f"days from {origin}. β1_a is the arm's typical growth rate (1/day; doubling time",
        "ln 2 / β1_a), ω² the between-mouse variances of baseline and rate, σ the residual SD of",
        f"{lab.short} (≈ its CV). Intervals: 95 % Wald; for ω² and σ on the log scale.",
        "",
        f"- Data: {', '.join(files)}; {f.n_subjects} mice, {f.n_observations} {lab.points} "
        f"(left out: {'; '.join(left)}).",
        f"- Estimation: {why}; Ω {e.omega}. Log-likelihood {f.loglik:.3f}; converged: "
        f"{'yes' if f.converged else 'NO'}; variance intervals: "
        f"{'yes' if f.covariance_ok else 'failed (no intervals)'}.",
    ]
    lines += [f"- Warning: {w}" for w in res.warnings]
    lines += [
        "",
        "| parameter | estimate (95 % CI) | RSE % | doubling time, days (95 % CI) |",
        "|---|---|---|---|",
    ]
    for r in f.theta.itertuples(index=False):
        name = f"{lab.short} at the origin" if r.parameter == "intercept" else f"rate, {r.arm}"
        dt = ""
        if r.parameter != "intercept" and r.estimate > 0:
            dt = f"{r.doubling_time_d:.3g} ({r.doubling_lower:.3g}-{r.doubling_upper:.3g})"
        lines.append(
            f"| {name} | {r.estimate:.4g} ({r.lower:.4g} to {r.upper:.4g}) {r.unit} | "
            f"{r.rse_pct:.1f} | {dt} |"
        )
    lines += ["", "| variability | estimate (95 % CI) | shrinkage |", "|---|---|---|"]
    for r in f.omega.itertuples(index=False):
        shrink = "" if math.isnan(r.shrinkage) else f"{r.shrinkage:.2f}"
        lines.append(
            f"| {r.parameter} ({r.unit}) | {r.estimate:.4g} ({r.lower:.4g} to {r.upper:.4g}) "
            f"| {shrink} |"
        )
    for r in f.sigma.itertuples(index=False):
        lines.append(
            f"| {r.parameter} ({r.unit}) | {r.estimate:.4g} ({r.lower:.4g}-{r.upper:.4g}) | |"
        )
    lines.append("")
    return lines


def population_report(
    results: Sequence[PopulationResult | GrowthPopulationResult],
    name: str,
    *,
    catalog: Catalog | None = None,
) -> str:
    """``population.md``: what was estimated, from which data and doses, in which units."""
    growth = [r for r in results if isinstance(r, GrowthPopulationResult)]
    pk = [r for r in results if isinstance(r, PopulationResult)]
    if not pk:
        lines = [f"# Population growth: {name}", ""]
        for res in growth:
            lines += _growth_report(res)
        return "\n".join(lines)
    cat = catalog or load_catalog()
    lines = [
        f"# Population PK{' and growth' if growth else ''}: {name}",
        "",
        "Nonlinear mixed-effects fits (FOCE-I, as NONMEM's METHOD=1 INTERACTION;",
        "`leptotwin.calibration.population.fit_population_pk`) of a one-compartment model with",
        "first-order absorption, one per drug and matrix of the `population` block. Each mouse",
        "has CL_i = CL·exp(η_CL), V_i = V·exp(η_V), ka_i = ka·exp(η_ka), η ~ N(0, Ω). The",
        "bioavailability F is fixed at 1, so the typical values are the *apparent* CL/F (L/h)",
        "and V/F (L) of a mouse, with ka in 1/h; concentrations are fitted in mg/L. ω² is the",
        "variance of η (log scale; CV ≈ √(exp(ω²) − 1)); shrinkage = 1 − SD(η̂)/ω. Intervals:",
        "95 % Wald from the covariance step (R matrix), on the log scale. These are not",
        "catalogue values: overlay.yaml does not carry them.",
        "",
    ]
    for res in pk:
        f, e, bw = res.fit, res.entry, res.body_weight_kg
        files = sorted({str(s).split(":", 1)[0] for s in res.data["source"]})
        doses = res.doses
        per_mouse = doses.groupby("subject").size()
        amounts = ", ".join(f"{x:.4g}" for x in sorted(set(doses["dose_mg"].round(12))))
        lines += [
            f"## {e.drug} in {e.matrix} (`{e.stem}.csv`, `{e.stem}_eta.csv`)",
            "",
            f"- Data: {', '.join(files)}; {f.n_subjects} mice, {f.n_observations} samples "
            + (
                f"({res.n_below_lloq} below the LLOQ left out), in {res.unit}"
                if e.blq == "m1"
                else f"and {f.n_censored} censored below their LLOQ (Beal M3, Laplace; "
                f"{res.n_below_lloq} below the LLOQ in all), in {res.unit}"
            )
            + (
                f", converted to mg/L with the catalogue's molar mass {res.mw_g_mol:g} g/mol."
                if res.unit == "nM"
                else " (= µg/L)."
            ),
            f"- Doses: each mouse's arm regimen of {e.drug}, oral, up to the end of follow-up: "
            f"{_span(per_mouse.min(), per_mouse.max())} administrations of {amounts} mg "
            f"(mg/kg × the catalogue's mouse body weight, mouse.body_weight = "
            f"{res.body_weight_kg * 1000:g} g).",
            f"- Model: random effects on {', '.join(e.random_effects)}, Ω {e.omega}, "
            f"{e.error} residual error. OFV {f.ofv:.3f}; converged: "
            f"{'yes' if f.converged else 'NO'}; covariance step: "
            f"{'yes' if f.covariance_ok else 'failed (no intervals)'}.",
        ]
        lines += [f"- Warning: {w}" for w in res.warnings]
        if e.matrix != "plasma":
            lines.append(
                f"- The {e.matrix} profile is fitted as if it were a plasma compartment: its CL/F "
                "and V/F describe that profile, not the drug's disposition."
            )
        lines += [
            "",
            f"| parameter | estimate (95 % CI) | RSE % | per kg (at {bw * 1000:g} g) "
            "| catalogue typical mouse (÷ F) |",
            "|---|---|---|---|---|",
        ]
        params = cat.pk_parameters(e.drug, "mouse")
        ka_cat, F_cat = params.routes.get("oral", (math.nan, math.nan))
        catalogue = {
            "CL": params.CL_L_h / F_cat,
            "V": params.V1_L / F_cat if params.model == "1cmt" else math.nan,
            "ka": ka_cat,
        }
        for r in f.theta.itertuples(index=False):
            per_kg = f"{r.estimate / bw:.4g} {r.unit}/kg" if r.parameter != "ka" else ""
            ref = catalogue[r.parameter]
            ref_text = ""
            if e.matrix == "plasma" and math.isfinite(ref):
                ref_text = f"{ref:.4g} {r.unit}"
                if r.parameter != "ka":
                    ref_text += f" ({ref / bw:.4g} {r.unit}/kg)"
            lines.append(
                f"| {_MEANING[r.parameter]} | {r.estimate:.4g} ({r.lower:.4g}-{r.upper:.4g}) "
                f"{r.unit} | {r.rse_pct:.1f} | {per_kg} | {ref_text} |"
            )
        lines += [
            "",
            "| variability | estimate (95 % CI) | CV % | shrinkage |",
            "|---|---|---|---|",
        ]
        for r in f.omega.itertuples(index=False):
            if str(r.parameter).startswith("omega2_"):
                cv = 100.0 * math.sqrt(math.expm1(r.estimate))
                lines.append(
                    f"| {r.parameter} | {r.estimate:.4g} ({r.lower:.4g}-{r.upper:.4g}) | "
                    f"{cv:.0f} | {r.shrinkage:.2f} |"
                )
            else:
                lines.append(
                    f"| {r.parameter} | {r.estimate:.4g} ({r.lower:.4g} to {r.upper:.4g}) | | |"
                )
        for r in f.sigma.itertuples(index=False):
            lines.append(
                f"| {r.parameter} ({r.unit}) | {r.estimate:.4g} ({r.lower:.4g}-{r.upper:.4g}) | | |"
            )
        lines.append("")
    for res in growth:
        lines += _growth_report(res)
    return "\n".join(lines)


@dataclass
class ExperimentCalibration:
    """What :func:`calibrate_experiment` returns.

    Attributes
    ----------
    experiment : Experiment
    sample : PosteriorSample or None
        Draws, diagnostics and the raw chains of the project's sampler; None for a file with a
        ``population`` block and no ``estimate`` (:attr:`population_only`: then ``summary``
        has no rows, ``correlations`` and ``curves`` are empty, ``fits`` is the data without
        model columns and ``map_theta`` has length 0).
    summary : DataFrame
        One row per estimated value: ``parameter, unit, prior_*, posterior_median,
        posterior_low, posterior_high, shrinkage, r_hat, ess_bulk, ess_tail, identifiable,
        reason``.
    correlations : DataFrame
        Posterior correlations (normal scale), parameters × parameters.
    fits : DataFrame
        Every datum with ``model_median, model_low, model_high`` (posterior of the model's value
        at it).
    curves : DataFrame
        The same on a dense time grid per arm and observable, for the figure.
    map_theta : ndarray
        The best maximum a posteriori point found.
    provenance : dict
    population : list of PopulationResult or GrowthPopulationResult
        The population fits of the file's ``population`` block (empty without one).
    viability_curves : DataFrame or None
        The model's viability (``model_median, model_low, model_high``) on a dense dose grid
        per curve (``curve, cell_line, perturbation, drug, dose_nM, partner, partner_nM``), for
        the figure; None without viability data.
    """

    experiment: Experiment
    sample: PosteriorSample | None
    summary: pd.DataFrame
    correlations: pd.DataFrame
    fits: pd.DataFrame
    curves: pd.DataFrame
    map_theta: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)
    population: list[PopulationResult | GrowthPopulationResult] = field(default_factory=list)
    viability_curves: pd.DataFrame | None = None

    @property
    def population_only(self) -> bool:
        """True for a file with a ``population`` block and no ``estimate``: the population
        fits alone, no posterior."""
        return self.sample is None

    @property
    def not_identifiable(self) -> list[str]:
        return list(self.summary.loc[~self.summary["identifiable"], "parameter"])

    def not_converged(self, *, r_hat_max: float = 1.05, ess_min: float = 100.0) -> list[str]:
        """Values whose R-hat exceeds ``r_hat_max`` or whose bulk ESS is below ``ess_min``
        (the thresholds of :meth:`leptotwin.calibration.calibrate.CalibrationResult.converged`)."""
        s = self.summary
        bad = ~((s["r_hat"] <= r_hat_max) & (s["ess_bulk"] >= ess_min))
        return list(s.loc[bad, "parameter"])

    def lines(self) -> list[str]:
        """A short text summary (one line per value; a population-only run: one line per
        population fit and :data:`POPULATION_ONLY_NOTE`)."""
        if self.population_only:
            return [*(p.line() for p in self.population), POPULATION_ONLY_NOTE]
        out = []
        for r in self.summary.itertuples():
            flag = "" if r.identifiable else f"  NOT IDENTIFIABLE ({r.reason})"
            out.append(
                f"{r.parameter}: {r.posterior_median:.4g} [{r.posterior_low:.4g}, "
                f"{r.posterior_high:.4g}] {r.unit} (prior {r.prior_median:.4g} "
                f"[{r.prior_low:.4g}, {r.prior_high:.4g}]; R-hat {r.r_hat:.3f}, "
                f"ESS {r.ess_bulk:.0f}){flag}"
            )
        slow = self.not_converged()
        if slow:
            out.append(
                f"not converged (R-hat > 1.05 or bulk ESS < 100): {', '.join(slow)}; "
                "rerun with more --steps"
            )
        notes = getattr(self.experiment, "caliper_notes", ())
        if notes:  # the caliper reader's: a width above the length, kept as measured
            more = f" (and {len(notes) - 1} more)" if len(notes) > 1 else ""
            out.append(f"note: {notes[0]}{more}")
        out.extend(p.line() for p in self.population)
        return out


def _data_files(exp: Experiment) -> list[str]:
    sources = list(exp.measurements["source"])
    for table in (exp.viability, exp.elisa, exp.qpcr):
        if table is not None:
            sources += list(table["source"])
    return sorted({str(s).split(":", 1)[0] for s in sources})


def identifiability(
    sample: PosteriorSample,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(diagnostics with ``identifiable`` and ``reason`` columns, correlation matrix).

    See the module docstring for the two criteria.
    """
    diag = sample.diagnostics.copy()
    z, _ = sample.run.kept()
    flat = z.reshape(-1, z.shape[-1])
    names = sample.names
    if len(names) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(flat, rowvar=False)
    else:
        corr = np.ones((1, 1))
    corr_df = pd.DataFrame(corr, index=names, columns=names)
    sd = flat.std(axis=0)
    diag["sd_ratio"] = sd
    reasons = []
    for i in range(len(names)):
        why = []
        if sd[i] >= AS_WIDE_AS_PRIOR:
            why.append(f"posterior about as wide as its prior (SD ratio {sd[i]:.2f})")
        for j, other in enumerate(names):
            if j != i and abs(corr[i, j]) > MAX_CORRELATION:
                why.append(f"correlation {corr[i, j]:+.2f} with {other}")
        reasons.append("; ".join(why))
    diag["identifiable"] = [not r for r in reasons]
    diag["reason"] = reasons
    return diag, corr_df


def _multistart_map(
    post: LogPosteriorZ,
    ndim: int,
    n_starts: int,
    seed: int,
    *,
    batch: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, list[float], int]:
    """The best of ``n_starts`` Powell searches (:func:`find_map`; the first from the prior
    medians, the others from prior draws): (z, each start's log posterior, evaluations).

    With ``batch`` (``post`` vectorised: (K, ndim) -> (K,), each row's value ``post``'s) the
    searches run in lock-step (:func:`_lockstep`): each round asks for the next point of every
    search that is still running, in one call; every search sees the values it would see on
    its own, so the result is the same to the bit."""
    rng = np.random.default_rng([seed, 17])
    starts = [np.zeros(ndim)] + [rng.standard_normal(ndim) for _ in range(n_starts - 1)]
    searches = [
        (lambda f, z0=z0: find_map(f, ndim, z0=z0, max_evaluations=80 * ndim)) for z0 in starts
    ]
    if batch is None or len(searches) == 1:
        runs = [search(post) for search in searches]
    else:
        runs = _lockstep(batch, searches)
    best, best_lp, values, n = None, -math.inf, [], 0
    for z, lp, k in runs:
        n += k
        values.append(lp)
        if lp > best_lp:
            best, best_lp = z, lp
    return (np.zeros(ndim) if best is None else best), values, n


def _lockstep(
    batch: Callable[[np.ndarray], np.ndarray],
    tasks: Sequence[Callable[[Callable[[np.ndarray], float]], Any]],
) -> list[Any]:
    """Run every ``task(f)`` (a search calling the scalar objective ``f(z)`` one point at a
    time) in lock-step: the points the running tasks ask for at one time go to ``batch``
    ((K, ndim) -> (K,)) in one call
    (:func:`~leptotwin.calibration.multistart.run_lockstep`). Returns the tasks' results in
    order; raises the first exception a task or ``batch`` raised, after every task stopped."""

    def scalar(task: Callable[[Callable[[np.ndarray], float]], Any]) -> Callable[..., Any]:
        def run(ask: Callable[[list[np.ndarray]], np.ndarray]) -> Any:
            return task(lambda z: float(ask([np.array(z, dtype=float)])[0]))

        return run

    return run_lockstep(batch, [scalar(t) for t in tasks])


def _plot_grid(exp: Experiment) -> Experiment:
    """The experiment with its measurements replaced by a dense grid (per arm and observable,
    from 0 or the first datum to the last), for the fit curves."""
    m = exp.measurements
    if m.empty:  # an in-vitro-only experiment
        return exp
    rows = []
    step = growth_step(exp) / 2
    first_dose_h = load_catalog().in_vivo_value("lmc_mouse", "treatment_start") * 24.0
    for (arm, oid), g in m.groupby(["arm", "observable"], sort=False):
        t = g["time_h"].to_numpy(float)
        if oid in BURDEN_OBSERVABLES:
            grid = np.arange(np.floor(t.min() / 24) * 24, t.max() + 1e-9, max(step, 6.0))
            grid = np.round(grid / step) * step
        else:  # from the first dose (the model's concentration is 0 before it)
            grid = np.linspace(max(t.min() - 12.0, first_dose_h + 0.05), t.max() + 12.0, 160)
        rows.append(pd.DataFrame({"arm": arm, "observable": oid, "time_h": np.unique(grid)}))
    grid = pd.concat(rows, ignore_index=True)
    grid["subject"] = "grid"
    grid["value"] = 1.0
    grid["source"] = "grid"
    return replace(exp, measurements=grid[list(m.columns)])


def _bands(
    loglik: ExperimentLogLikelihood, thetas: np.ndarray, exp: Experiment
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if exp.measurements.empty:
        return (np.zeros(0),) * 3  # type: ignore[return-value]
    sims = np.array([loglik.simulate(t, exp)["simulation"].to_numpy(float) for t in thetas])
    lo, med, hi = np.nanquantile(sims, [0.025, 0.5, 0.975], axis=0)
    return lo, med, hi


def _viability_bands(
    loglik: ExperimentLogLikelihood, thetas: np.ndarray, table: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(thetas) == 0:
        return (np.full(len(table), np.nan),) * 3  # type: ignore[return-value]
    sims = np.array(
        [loglik.simulate_viability(t, table)["simulation"].to_numpy(float) for t in thetas]
    )
    lo, med, hi = np.nanquantile(sims, [0.025, 0.5, 0.975], axis=0)
    return lo, med, hi


_CURVE_KEYS = ["curve", "cell_line", "perturbation", "drug", "partner", "partner_nM"]


def _viability_grid(table: pd.DataFrame) -> pd.DataFrame:
    """Per curve, 41 doses log-spaced from a third of its lowest positive dose to 3 × its
    highest (one decade around 1 nM for a curve of dose-0 rows only)."""
    rows = []
    for key, g in table.groupby(_CURVE_KEYS, sort=False):
        x = g["dose_nM"].to_numpy(float)
        x = x[x > 0]
        lo, hi = (x.min() / 3, x.max() * 3) if x.size else (0.1, 10.0)
        frame = pd.DataFrame({"dose_nM": np.logspace(np.log10(lo), np.log10(hi), 41)})
        for k, v in zip(_CURVE_KEYS, key, strict=True):
            frame[k] = v
        rows.append(frame)
    grid = pd.concat(rows, ignore_index=True)
    for c in ("observable", "plate", "replicate", "source"):
        grid[c] = "grid" if c != "observable" else "viability"
    grid["value"] = np.nan
    return grid[list(table.columns)]


def calibrate_experiment(
    exp: Experiment,
    *,
    draws: int = 1000,
    seed: int = 0,
    n_walkers: int | None = None,
    n_steps: int | None = None,
    burn: int | None = None,
    n_starts: int = 3,
    catalog: Catalog | None = None,
    dt_h: float | None = None,
    fit_draws: int = 40,
    progress: Callable[[str], None] | None = None,
    batch: bool | None = None,
) -> ExperimentCalibration:
    """Sample the posterior of the experiment's estimated values (see the module docstring).

    Parameters
    ----------
    exp : Experiment
        With ``estimate`` naming at least one catalogue value, or a ``population`` block: with
        the block alone (no ``estimate``) only its population fits run (no maximum a
        posteriori search, no sampler; the result's ``sample`` is None, see
        :attr:`ExperimentCalibration.population_only`) and the sampler settings are not used.
    draws : int
        Posterior draws kept (evenly spaced over the post-burn-in chain).
    seed : int
    n_walkers, n_steps, burn : int, optional
        emcee settings; defaults ``max(8, 4 d)`` walkers (d values), ``burn = 100`` and
        ``n_steps = burn + max(300, ceil(draws / walkers))`` (about 50 autocorrelation times
        kept on examples/own-lab, emcee's advice).
    n_starts : int
        Maximum a posteriori searches (the first from the prior medians).
    catalog : Catalog, optional
    dt_h : float, optional
        Growth step (default :func:`growth_step`).
    fit_draws : int
        Posterior draws simulated for the fits' bands (0: no fits, NaN bands).
    progress : callable, optional
        Called with a short line per stage.
    batch : bool, optional
        Evaluate many parameter sets in one pass of the cohort engine
        (:meth:`ExperimentLogLikelihood.batch`): the MAP searches in lock-step, the Laplace
        stencil, the importance candidates and each half-ensemble of walkers. Default: when
        the experiment has in-vivo rows (BLI or PK). The result is the same to the bit either
        way (the batch gives each set's value as one at a time); False evaluates one set at a
        time (slower).

    Raises
    ------
    LeptotwinError
        Neither ``estimate`` nor ``population`` in the file; a value without a prior; sampler
        settings that cannot run.
    """
    say = progress or (lambda _line: None)
    cat = catalog or load_catalog()
    if not exp.estimate and not (exp.population or exp.population_growth):
        raise LeptotwinError(
            "nothing to estimate",
            source=str(exp.path),
            field="estimate",
            expected="catalogue paths the data inform (e.g. pathway.birth_max), or a "
            "population: block (population fits only)",
        )
    for name, v in (("draws", draws), ("seed", seed), ("n_starts", n_starts)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < (name != "seed"):
            raise LeptotwinError("not a positive integer", source=f"--{name}", value=v)
    if not exp.estimate:  # a population block alone: its fits, no MAP search, no sampler
        return _population_only(exp, cat, say)
    specs = parameter_specs(cat, exp.estimate)
    ndim = len(specs)
    for option, v, low in (
        ("walkers", n_walkers, 2 * ndim),
        ("steps", n_steps, 2),
        ("burn", burn, 0),
    ):
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low
        ):
            raise LeptotwinError(
                "not an integer in range",
                source=f"--{option}",
                value=v,
                expected=f"an integer >= {low}"
                + (f" (2 x the {ndim} estimated values)" if option == "walkers" else ""),
            )
    walkers = n_walkers or max(8, 4 * ndim + (4 * ndim) % 2)
    burn_ = 100 if burn is None else burn
    steps = n_steps or burn_ + max(300, math.ceil(draws / walkers))
    if steps <= burn_:
        raise LeptotwinError(
            "no steps kept after the burn-in",
            source="--steps",
            value=steps,
            expected=f"more than --burn ({burn_})",
        )
    keep = min(draws, walkers * (steps - burn_))
    # the population fits first: quick, and a fit that cannot start stops the command early
    population = fit_experiment_population(exp, catalog=cat, progress=say)
    loglik = ExperimentLogLikelihood(exp, [s.name for s in specs], catalog=cat, dt_h=dt_h)
    transform = ZTransform(specs)
    post = LogPosteriorZ(transform, loglik)
    # with in-vivo rows, many parameter sets cost about one pass of the cohort engine: the
    # MAP searches in lock-step, the Laplace stencil, the importance candidates and each
    # half-ensemble of walkers go to the engine in batches (the same values to the bit, so the
    # same chain as one set at a time: tests/study/test_calibrate_experiment_batched.py)
    batched = len(exp.measurements) > 0 if batch is None else bool(batch)
    post_batch = LogPosteriorZ(transform, loglik.batch, vectorized=True) if batched else None
    say(f"maximum a posteriori: {n_starts} starts")
    z_map, map_values, n_map = _multistart_map(post, ndim, n_starts, seed, batch=post_batch)
    if post_batch is not None:
        scales, n_lap = laplace_scales(post_batch, z_map, vectorize=True)
        z_start, info = importance_start(
            post_batch, z_map, scales, walkers, seed=seed, vectorize=True
        )
    else:
        scales, n_lap = laplace_scales(post, z_map)
        z_start, info = importance_start(post, z_map, scales, walkers, seed=seed)
    say(f"sampling: {walkers} walkers x {steps} steps (burn-in {burn_})")
    sample = sample_posterior(
        specs,
        loglik.batch if batched else loglik,
        n_walkers=walkers,
        n_steps=steps,
        burn=burn_,
        seed=seed,
        n_draws=keep,
        theta_start=transform.to_theta(z_start),
        init_scale=None,
        vectorized=batched,
    )
    sample.settings.update(
        start="importance sample around the best of a MAP multistart",
        map_starts=n_starts,
        map_log_posteriors=[round(v, 4) for v in map_values],
        map_evaluations=n_map + n_lap + int(info["n_candidates"]),
        start_weight_ess=round(float(info["weight_ess"]), 2),
        dt_h=loglik.dt_h,
    )
    summary, corr = identifiability(sample)
    summary.insert(1, "unit", [cat.quantity(s.name).unit for s in specs])
    say("fits over the data")
    theta_all = sample.draws[sample.names].to_numpy(float)
    fits = exp.measurements.copy()
    grid_exp = _plot_grid(exp)
    curves = grid_exp.measurements[["arm", "observable", "time_h"]].copy()
    thetas = theta_all[:0]
    if fit_draws > 0:
        pick = np.linspace(0, len(theta_all) - 1, min(fit_draws, len(theta_all))).round()
        thetas = theta_all[pick.astype(int)]
        bands = _bands(loglik, thetas, exp), _bands(loglik, thetas, grid_exp)
    else:  # no fits asked for (a benchmark's replicates)
        bands = tuple((np.full(len(f), np.nan),) * 3 for f in (fits, curves))  # type: ignore[assignment]
    for frame, (lo, med, hi) in zip((fits, curves), bands, strict=True):
        frame["model_median"], frame["model_low"], frame["model_high"] = med, lo, hi
    viability_curves = None
    if exp.has_viability:
        assert exp.viability is not None
        vfits = exp.viability.copy()
        viability_curves = _viability_grid(vfits)
        for frame in (vfits, viability_curves):
            lo, med, hi = _viability_bands(loglik, thetas, frame)
            frame["model_median"], frame["model_low"], frame["model_high"] = med, lo, hi
        vfits.insert(1, "time_h", VIABILITY_HOURS)
        fits = pd.concat([fits, vfits], ignore_index=True) if len(fits) else vfits
    assay_fits = invitro_bands(exp, sample.names, thetas, catalog=cat)
    if assay_fits is not None:
        fits = pd.concat([fits, assay_fits], ignore_index=True) if len(fits) else assay_fits
    map_theta = transform.to_theta(z_map[None, :])[0]
    provenance = {
        **_data_provenance(exp),
        "likelihood": "leptotwin.interop.petab.engine_nll (typical mouse per arm, the "
        "experiment's noise model)"
        + (
            " + viability_nll (noise-free 72 h culture, plate normalisation error)"
            if exp.has_viability
            else ""
        )
        + (
            " + invitro_nll (ELISA and qPCR: conditioned medium, cell-state levels)"
            if exp.has_invitro_assays
            else ""
        )
        + " + catalogue priors",
        "sampler": {k: v for k, v in sample.settings.items() if k != "init_scale"},
    }
    return ExperimentCalibration(
        experiment=exp,
        sample=sample,
        summary=summary,
        correlations=corr,
        fits=fits,
        curves=curves,
        map_theta=map_theta,
        provenance=provenance,
        population=population,
        viability_curves=viability_curves,
    )


def _data_provenance(exp: Experiment) -> dict[str, Any]:
    """What a run read: the experiment, its data files and their counts, and when."""
    return {
        "experiment": str(exp.path),
        "name": exp.name,
        "data_files": _data_files(exp),
        "n_measurements": len(exp.measurements),
        "n_viability": 0 if exp.viability is None else len(exp.viability),
        "n_elisa": 0 if exp.elisa is None else len(exp.elisa),
        "n_qpcr": 0 if exp.qpcr is None else len(exp.qpcr),
        "n_below_lloq": exp.n_below_lloq,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


POPULATION_ONLY_NOTE = (
    "population fits only (the file has no estimate: list): no maximum a posteriori search "
    "or sampler ran; no overlay.yaml, posterior draws, diagnostics or fits written"
)
"""The line a population-only run adds to its summary and to ``population.md``."""


def _population_only(
    exp: Experiment, cat: Catalog, say: Callable[[str], None]
) -> ExperimentCalibration:
    """The :class:`ExperimentCalibration` of a file with a ``population`` block and no
    ``estimate``: the population fits, no posterior (``sample`` None, empty summary and
    correlations, the data without model columns in ``fits``, no curves)."""
    population = fit_experiment_population(exp, catalog=cat, progress=say)
    provenance = {**_data_provenance(exp), "population_only": True}
    summary = pd.DataFrame(
        columns=[
            "parameter", "unit", "posterior_median", "posterior_low", "posterior_high",
            "r_hat", "ess_bulk", "identifiable", "reason",
        ]
    )  # fmt: skip
    return ExperimentCalibration(
        experiment=exp,
        sample=None,
        summary=summary,
        correlations=pd.DataFrame(),
        fits=exp.measurements.copy(),
        curves=pd.DataFrame(columns=["arm", "observable", "time_h"]),
        map_theta=np.empty(0),
        provenance=provenance,
        population=population,
    )


# --- writing -----------------------------------------------------------------------------------


def overlay_yaml(result: ExperimentCalibration, *, catalog: Catalog | None = None) -> str:
    """The text of ``overlay.yaml`` (see :func:`load_overlay` for the format)."""
    cat = catalog or load_catalog()
    files = ", ".join(result.provenance["data_files"])
    values = {}
    for r in result.summary.itertuples():
        q = cat.quantity(r.parameter)
        values[r.parameter] = {
            "value": float(r.posterior_median),
            "unit": q.unit,
            "low": float(r.posterior_low),
            "high": float(r.posterior_high),
            "catalog_value": float(q.value),
            "prior": f"{q.prior.dist} {q.prior.low:g}-{q.prior.high:g}" if q.prior else None,
            "identifiable": bool(r.identifiable),
            "source": f"leptotwin calibrate of {result.experiment.name} "
            f"({result.experiment.path.name}) on {files}: posterior median and 95 % interval",
        }
    doc = {
        "format": OVERLAY_FORMAT,
        "draws": "posterior_draws.csv",
        "values": values,
        "provenance": result.provenance,
    }
    header = (
        "# Calibrated catalogue overlay (leptotwin calibrate): each value is the posterior\n"
        "# median of the catalogue value, with its 95 % credible interval and the data it came\n"
        "# from. Use: leptotwin simulate protocol.yaml --catalog-overlay overlay.yaml\n"
    )
    return header + yaml.safe_dump(_plain(doc), sort_keys=False, allow_unicode=True, width=100)


def identifiability_report(result: ExperimentCalibration) -> str:
    """``identifiability.md``: shrinkage, correlations and the values not identifiable."""
    s = result.summary
    lines = [
        f"# Identifiability: {result.experiment.name}",
        "",
        "SD ratio = posterior SD / prior SD on the prior's normal scale; shrinkage = 1 -",
        "(posterior 95 % width / prior 95 % width) on that scale. A value is not identifiable",
        f"when its SD ratio is {AS_WIDE_AS_PRIOR} or more (the data narrowed it by less than a",
        f"fifth) or its |posterior correlation| with another value exceeds {MAX_CORRELATION}.",
        "",
        "| value | posterior median (95 %) | prior median (95 %) | SD ratio | shrinkage "
        "| identifiable |",
        "|---|---|---|---|---|---|",
    ]
    for r in s.itertuples():
        lines.append(
            f"| {r.parameter} | {r.posterior_median:.4g} ({r.posterior_low:.4g}-"
            f"{r.posterior_high:.4g}) {r.unit} | {r.prior_median:.4g} ({r.prior_low:.4g}-"
            f"{r.prior_high:.4g}) | {r.sd_ratio:.2f} | {r.shrinkage:.2f} | "
            f"{'yes' if r.identifiable else 'NO: ' + r.reason} |"
        )
    lines += ["", "Posterior correlations (normal scale):", ""]
    c = result.correlations
    lines.append("| | " + " | ".join(c.columns) + " |")
    lines.append("|---" * (len(c.columns) + 1) + "|")
    for name, row in c.iterrows():
        lines.append(f"| {name} | " + " | ".join(f"{v:+.2f}" for v in row) + " |")
    bad = result.not_identifiable
    lines += [
        "",
        "Not identifiable from these data: " + (", ".join(bad) if bad else "none") + ".",
        "",
    ]
    return "\n".join(lines)


def fits_figure(result: ExperimentCalibration) -> Any:
    """The fits over the data: one panel per in-vivo observable, one colour per arm (data points
    by mouse, posterior median and 95 % band of the typical mouse); with viability data a panel
    of % of vehicle against dose, one colour per curve (dose 0 drawn left of the lowest dose)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vitro_ids = ("viability", *INVITRO_ASSAY_OBSERVABLES)
    vivo = result.fits[~result.fits["observable"].isin(vitro_ids)]
    obs = list(dict.fromkeys(vivo["observable"]))
    vitro = result.viability_curves is not None
    assays = result.experiment.has_invitro_assays
    n = len(obs) + vitro + assays
    width = 4.6 * n + 1.6 * vitro + 2.4 * assays
    fig, axes = plt.subplots(1, n, figsize=(width, 3.8), squeeze=False)
    arms = list(dict.fromkeys(result.experiment.measurements["arm"]))
    colours = {a: f"C{i}" for i, a in enumerate(arms)}
    t0_h = load_catalog().in_vivo_value("lmc_mouse", "treatment_start") * 24.0
    for ax, oid in zip(axes[0], obs, strict=False):
        o = result.experiment.observables[oid]
        for arm in arms:
            c = result.curves[(result.curves["observable"] == oid) & (result.curves["arm"] == arm)]
            d = vivo[(vivo["observable"] == oid) & (vivo["arm"] == arm)]
            if d.empty:
                continue
            # BLI in days after inoculation, PK in hours after treatment start (as in the files)
            scale, shift = (24.0, 0.0) if oid in BURDEN_OBSERVABLES else (1.0, t0_h)
            tc, td = (c["time_h"] - shift) / scale, (d["time_h"] - shift) / scale
            ax.fill_between(tc, c["model_low"], c["model_high"], color=colours[arm], alpha=0.2)
            ax.plot(tc, c["model_median"], color=colours[arm], label=arm)
            ax.plot(td, d["value"], "o", ms=4, color=colours[arm], alpha=0.8)
        if o.noise == "lognormal":
            ax.set_yscale("log")
            d = vivo[vivo["observable"] == oid]
            low = np.nanmin(np.r_[d["value"], d["model_low"]])
            ax.set_ylim(bottom=0.5 * low)
        ax.set_xlabel(
            "day after inoculation" if oid in BURDEN_OBSERVABLES else "h after treatment start"
        )
        ax.set_ylabel(f"{oid} ({o.unit})")
        ax.legend(fontsize=8)
    if vitro:
        _viability_panel(axes[0][len(obs)], result)
    if assays:
        invitro_panel(axes[0][-1], result.fits)
    fig.suptitle(f"{result.experiment.name}: posterior median and 95 % band over the data")
    fig.tight_layout()
    return fig


def _viability_panel(ax: Any, result: ExperimentCalibration) -> None:
    curves = result.viability_curves
    assert curves is not None
    d = result.fits[result.fits["observable"] == "viability"]
    positive = np.r_[d["dose_nM"][d["dose_nM"] > 0], curves["dose_nM"]]
    x0 = float(np.min(positive)) / 10  # where dose 0 is drawn
    for i, (label, c) in enumerate(curves.groupby("curve", sort=False)):
        colour = f"C{i % 10}"
        ax.fill_between(c["dose_nM"], c["model_low"], c["model_high"], color=colour, alpha=0.2)
        ax.plot(c["dose_nM"], c["model_median"], color=colour, label=str(label))
        g = d[d["curve"] == label]
        ax.plot(np.where(g["dose_nM"] > 0, g["dose_nM"], x0), g["value"], "o", ms=3, color=colour)
    ax.set_xscale("log")
    ax.axvline(x0 * 3, color="0.8", lw=0.8)
    ax.set_xlabel(f"dose (nM; dose 0 at {x0:.2g})")
    ax.set_ylabel(f"viability after {VIABILITY_HOURS:g} h (% of vehicle)")
    ax.legend(fontsize=6)


def write_experiment_calibration(
    result: ExperimentCalibration, out_dir: str | os.PathLike[str], *, force: bool = False
) -> dict[str, Path]:
    """Write the calibration's files into ``out_dir`` (see the module docstring), each file
    atomically; an existing non-empty folder only with ``force``. A population-only result
    (:attr:`ExperimentCalibration.population_only`) writes its population files alone.

    Returns
    -------
    dict
        Name → written path.
    """
    import matplotlib.pyplot as plt

    from leptotwin._fileio import prepare_out_dir, write_csv, write_figure, write_text

    out = prepare_out_dir(out_dir, force=force)
    paths: dict[str, Path] = {}
    if result.sample is not None:
        paths = {
            "posterior_draws": write_csv(out / "posterior_draws.csv", result.sample.draws),
            "diagnostics": write_csv(out / "diagnostics.csv", result.summary),
            "correlations": write_csv(
                out / "correlations.csv",
                result.correlations.rename_axis("parameter").reset_index(),
            ),
            "fits": write_csv(out / "fits.csv", result.fits),
            "identifiability": write_text(
                out / "identifiability.md", identifiability_report(result)
            ),
        }
    for res in result.population:
        stem = res.entry.stem
        if stem in paths:  # two entries whose names differ only in characters safe_name replaces
            raise LeptotwinError(
                "two population fits would write the same file",
                source=str(result.experiment.path),
                field=f"population.{res.entry.index}",
                value=f"{stem}.csv",
                expected="one entry per drug and matrix",
            )
        paths[stem] = write_csv(out / f"{stem}.csv", population_table(res))
        paths[f"{stem}_eta"] = write_csv(out / f"{stem}_eta.csv", population_eta(res))
    if result.population:
        report = population_report(result.population, result.experiment.name)
        if result.population_only:
            report = report.rstrip("\n") + f"\n\nNote: {POPULATION_ONLY_NOTE}.\n"
        paths["population"] = write_text(out / "population.md", report)
    if result.population_only:
        return paths
    fig = fits_figure(result)
    try:
        paths["figure"] = write_figure(out / "fits.png", fig)
    finally:
        plt.close(fig)
    # last: the overlay names the draws file, which is there by now
    paths["overlay"] = write_text(out / "overlay.yaml", overlay_yaml(result))
    return paths


# --- reading an overlay ------------------------------------------------------------------------


@dataclass(frozen=True)
class Overlay:
    """A calibrated catalogue overlay: ``values`` (path → posterior median) and, when its draws
    file is there, ``draws`` (one row per posterior draw, one column per path)."""

    path: Path
    values: dict[str, float]
    draws: pd.DataFrame | None


def load_overlay(path: str | os.PathLike[str], *, catalog: Catalog | None = None) -> Overlay:
    """Read ``overlay.yaml`` (written by :func:`write_experiment_calibration`) and check it
    against the catalogue.

    Format: ``format: leptotwin catalogue overlay 1``, ``values: {path: {value, unit, low, high,
    source, ...}}``, optional ``draws: <csv beside the file>`` and ``provenance``.

    Raises
    ------
    LeptotwinError
        An unreadable file, another format, an unknown catalogue path, a unit that differs from
        the catalogue's, a value outside its prior's range; naming the file and the field.
    """
    p = Path(path)
    src = str(p)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise LeptotwinError("cannot read the overlay", source=src, value=str(exc)) from None
    except yaml.YAMLError as exc:
        raise LeptotwinError("not valid YAML", source=src, value=str(exc).splitlines()[0]) from None
    if not isinstance(doc, dict) or doc.get("format") != OVERLAY_FORMAT:
        raise LeptotwinError(
            "not a catalogue overlay",
            source=src,
            field="format",
            value=doc.get("format") if isinstance(doc, dict) else None,
            expected=repr(OVERLAY_FORMAT) + " (an overlay.yaml of leptotwin calibrate)",
        )
    body = doc.get("values")
    if not isinstance(body, dict) or not body:
        raise LeptotwinError("no values", source=src, field="values", expected="path: {value}")
    cat = catalog or load_catalog()
    values: dict[str, float] = {}
    for name, entry in body.items():
        where = f"values.{name}"
        try:
            q = cat.quantity(str(name))
        except LeptotwinError:
            raise LeptotwinError(
                "not a catalogue value", source=src, field=where,
                expected="a path as `leptotwin catalog --csv` lists it",
            ) from None  # fmt: skip
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), int | float):
            raise LeptotwinError(
                "no number", source=src, field=f"{where}.value", value=entry,
                expected="value: <number in the catalogue unit>",
            )  # fmt: skip
        if entry.get("unit") is not None and entry["unit"] != q.unit:
            raise LeptotwinError(
                "unit differs from the catalogue", source=src, field=f"{where}.unit",
                value=entry["unit"], expected=repr(q.unit),
            )  # fmt: skip
        values[str(name)] = float(entry["value"])
    try:
        cat.with_values(values)
    except LeptotwinError as exc:
        raise LeptotwinError(exc.message, source=src, field="values", value=exc.value) from None
    draws = None
    if isinstance(doc.get("draws"), str) and (p.parent / doc["draws"]).is_file():
        table = pd.read_csv(p.parent / doc["draws"])
        missing = [v for v in values if v not in table.columns]
        if missing:
            raise LeptotwinError(
                "the draws file lacks a value of the overlay",
                source=str(p.parent / doc["draws"]),
                field=missing[0],
            )
        draws = table[list(values)]
    return Overlay(path=p, values=values, draws=draws)


# --- the job -----------------------------------------------------------------------------------


def run_calibrate_experiment(
    experiment: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str],
    petab: bool = False,
    draws: int = 1000,
    seed: int = 0,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    multistart: int = 0,
    **options: Any,
) -> tuple[ExperimentCalibration, dict[str, Path]]:
    """Load an experiment file (or, with ``petab``, a PEtab problem export-petab wrote),
    calibrate it and write the results into ``out``.

    ``out`` is checked before any work (an existing non-empty folder only with ``force``).
    ``multistart`` > 0 first runs that many maximum-likelihood starts
    (:func:`leptotwin.study.multistart_fit.fit_multistart`, seeded by ``seed``) and writes
    ``multistart.csv`` and ``multistart_waterfall.svg`` beside the calibration (its summary
    line goes to ``progress``).

    Raises
    ------
    LeptotwinError
        Bad input (file, row and field named), a foreign PEtab model, ``out`` taken.
    """
    from leptotwin._fileio import check_writable, prepare_out_dir

    if petab:
        from leptotwin.interop.petab import read_petab_problem

        exp = read_petab_problem(experiment)
    else:
        from leptotwin.study.experiment import load_experiment_file

        exp = load_experiment_file(experiment)
    check_writable(out)
    prepare_out_dir(out, force=force)  # refuse a taken --out before the long part
    fit = None
    if multistart:
        from leptotwin.study.multistart_fit import fit_multistart

        if progress is not None:
            progress(f"multistart: {multistart} maximum-likelihood starts (L-BFGS-B, no priors)")
        fit = fit_multistart(
            exp,
            n_starts=multistart,
            seed=seed,
            catalog=options.get("catalog"),
            dt_h=options.get("dt_h"),
        )
        if progress is not None:
            progress(fit.line())
    result = calibrate_experiment(exp, draws=draws, seed=seed, progress=progress, **options)
    files = write_experiment_calibration(result, out, force=True)
    from leptotwin.study.multistart_fit import MULTISTART_FILES, write_multistart

    if fit is not None:
        files.update(write_multistart(fit, out_dir=out))
    else:  # --force over an earlier run with --multistart: its starts are not this run's
        for name in MULTISTART_FILES:
            Path(out, name).unlink(missing_ok=True)
    return result, files
