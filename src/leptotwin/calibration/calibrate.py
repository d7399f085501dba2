"""One joint calibration of the uncertain catalogue values against stated targets.

:func:`calibrate` fits a chosen set of uncertain catalogue values (default
:data:`DEFAULT_PARAMETERS`) jointly against the calibration targets
(:mod:`leptotwin.calibration.targets`: published numbers and the study's findings, each with a
stated measurement error) and returns a :class:`CalibrationResult`: posterior draws, convergence
diagnostics, the targets with their posterior-predictive intervals, and the provenance of the run.
:func:`write_calibration` writes it (``posterior.yaml`` in the format
:func:`leptotwin.catalog.loader.read_posterior` reads, ``posterior_draws.csv`` in the format
:func:`leptotwin.catalog.posterior.load_posterior_draws` reads, and the tables) and, with
``install=True``, installs the posterior into the packaged catalogue.

The statistical model
---------------------
The readouts (:mod:`leptotwin.calibration.readouts`) are deterministic functions of the
catalogue. Each *used* target states how far a measurement of its readout may lie from the truth
(``error``: an SD on the log or the linear scale), which gives an explicit likelihood
(:func:`leptotwin.calibration.targets.log_likelihood`). With each calibrated value's prior
(:mod:`leptotwin.catalog.priors`) this is an ordinary Bayesian posterior, sampled with emcee in
the prior's normal space (:mod:`leptotwin.calibration.sampler`, where the choice of the method is
argued). *Held-out* targets take no part in the fit; the posterior predicts them, and their
interval is reported next to the published number (role ``prediction``).

Posterior-predictive intervals: for each kept draw the readouts are evaluated (``model_*``
columns: what the model says, the posterior of the readout itself) and a measurement is drawn
around it with the target's stated error (``predictive_*``: where a repeat of the published
measurement should fall). A target whose value lies outside its 95 % predictive interval (for a
finding stated as a range or a bound: whose range the predictive interval does not reach) is
flagged (``inside_95 = False``); ``p_met`` is the posterior probability that the model meets the
target (inside its range, or within 2 SD of its value).

Summaries (median, central 95 % interval) use every post-burn-in step of every walker; the draws
table holds every ``thin``-th step (all walkers), cut to ``n_draws`` evenly spaced rows when
asked.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import math
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from leptotwin.calibration import diagnostics as _diag
from leptotwin.calibration.sampler import (
    EnsembleRun,
    LogPosteriorZ,
    ParameterSpec,
    ZTransform,
    check_settings,
    find_map,
    importance_start,
    laplace_scales,
    run_ensemble,
)
from leptotwin.errors import LeptotwinError

__all__ = [
    "DEFAULT_PARAMETERS",
    "CalibrationResult",
    "PosteriorSample",
    "calibrate",
    "parameter_specs",
    "sample_posterior",
    "write_calibration",
]

DEFAULT_PARAMETERS: list[str] = [
    # in vitro (C1, C3-C6): the pathway's AREG/EGFR bypass and the resistant line's levels
    "pathway.egfr_weight",
    "pathway.areg_kd",
    "pathway.mir449a_km",
    "pathway.autocrine_gain",
    "pathway.signal_hill",
    "pathway.areg_secretion_max",
    "pathway.birth_half_signal",
    "A925L/AR.mir449a",
    "A925L/AR.egfr_total",
    "A925L/AR.alk_fusion",
    # growth and kill, in culture and in the mouse (C2, C7)
    "pathway.birth_max",
    "pathway.death_max",
    "pathway.death_min",
    "lmc_mouse.parameters.in_vivo_rate_scale",
    "alectinib.pk.mouse.CL",
    "AZ5104.pk.mouse.fraction_formed",
    "blood_tumour_barrier.parameters.leak_ratio",
    # patients (C9's P(ALK patient > other) targets)
    "patients.parameters.alk_refractory_mir449a",
    "patients.parameters.egfr_mutant_mir449a",
    "patients.parameters.lmc_tumour_cells",
    "patients.parameters.lmc_tumour_cells_sd",
    "human.csf_production",
    # found by the ungrouped Morris screen of every uncertain value (below)
    "pathway.death_half_signal",
    "miR-449a mimic.set",
    "alectinib.pk.human.fu",
    "alectinib.pk.mouse.fu",
    "osimertinib.pk.human.fu",
    "osimertinib.pk.mouse.fu",
    "AZ5104.pk.human.fu",
    "AZ5104.pk.mouse.fu",
    "AZ5104.potency[0].ic50",
    # found over the claims ensemble's own draws (scripts/unfitted_drivers.py, |Spearman rho|
    # >= 0.3 on a used readout): values the ensemble drew from their priors although a used
    # target speaks about them, so the ensemble left the posterior's region. First the claims'
    "bli.parameters.photons_per_cell",
    "bli.parameters.attenuation",
    "lmc_mouse.parameters.switch_rate",
    "lmc_mouse.parameters.endpoint_cells",
    "pathway.areg_medium_half_life",
    "osimertinib.potency[0].ic50",
    "alectinib.pk.human.kp_uu_lesion",
    "AZ5104.pk.mouse.CL",
    "osimertinib.pk.mouse.CL",
    "osimertinib.pk.mouse.V1",
    "erlotinib.pk.mouse.CL",
    "erlotinib.pk.mouse.V1",
    # then the human PK values the published PK targets pin (scripts/calibrate_pk.py's point
    # fits, now part of the joint posterior)
    "alectinib.pk.human.CL",
    "alectinib.pk.human.V1",
    "crizotinib.pk.human.CL",
    "crizotinib.pk.human.kp_uu_csf",
    "erlotinib.pk.human.fu",
    "erlotinib.pk.human.kp_uu_csf",
    "gefitinib.pk.human.kp_uu_csf",
    "lorlatinib.pk.human.CL",
    "lorlatinib.pk.human.V1",
    "lorlatinib.pk.human.Q",
    "lorlatinib.pk.human.V2",
    "AZ5104.pk.human.CL",
]
"""The values the calibration fits (55). First the two-stage Morris screen of the sensitivity
section (``reproduce --section sensitivity``, ``sensitivity_selected.csv``: the values that drive
the claim readouts over the priors) less those that drive only held-out readouts (C8's tissue
binding, section timing and brain Kp,uu — C8 stays a prediction), plus the mouse AZ5104
fraction and the barrier leak that C7's osimertinib arm turns on. Then the claim drivers that
an ungrouped Morris screen of all 224 uncertain values against the used readouts found (r = 6,
1,350 evaluations, top 5 per readout with μ* ≥ 0.2 × the readout's largest) and the first
screen had missed: C9's spread of tumour burden and the CSF turnover, C5's mimic and the death
half-signal, and the unbound fractions and the wild-type EGFR potency that set how much
osimertinib and its metabolite AZ5104 reach the cells in C7's combination arm (AZ5104's mouse
fu alone moves that arm's week-4 fold from 0.3× to 9× over its prior). Human PK values that
drive only the PK targets stay at their priors (they take no part in a claim). Every other
uncertain value keeps its prior in the claims ensemble. Last (session 7) the 24 values that
``scripts/unfitted_drivers.py`` found moving a used readout over the ensemble's own draws
(|Spearman rho| >= 0.3): the ensemble drew them from their priors while the calibration held them
fixed, so its draws missed targets the posterior meets (e.g. AZ5104's mouse clearance, rho 0.57
on C7's alectinib + osimertinib arm; the human PK values ``scripts/calibrate_pk.py`` had fixed as
point fits). :func:`calibrate` also takes a list of paths or a callable ``catalog -> list of
paths``."""

_PREDICTIVE_QUANTILES = (0.025, 0.5, 0.975)
_PREDICTIVE_SAMPLES = 4000  # simulated measurements per target for the predictive interval


# --------------------------------------------------------------------------------------------
# The catalogue-free core
# --------------------------------------------------------------------------------------------


@dataclass
class PosteriorSample:
    """What :func:`sample_posterior` returns (catalogue-free).

    Attributes
    ----------
    names : list of str
    draws : DataFrame
        Kept draws: one column per parameter (its own units) and ``log_posterior``.
    diagnostics : DataFrame
        One row per parameter (see :func:`diagnostics_table`).
    run : EnsembleRun
        The raw chains (normal space), acceptance and autocorrelation times.
    transform : ZTransform
    settings : dict
        Sampler settings and counts (walkers, steps, burn, thin, seed, evaluations, seconds).
    """

    names: list[str]
    draws: pd.DataFrame
    diagnostics: pd.DataFrame
    run: EnsembleRun
    transform: ZTransform
    settings: dict[str, Any]

    def theta_chain(self) -> np.ndarray:
        """Post-burn-in chain in parameter units, shape (steps, walkers, ndim)."""
        z, _ = self.run.kept()
        return self.transform.to_theta(z)


def sample_posterior(
    specs: Sequence[ParameterSpec],
    log_likelihood: Callable[[np.ndarray], Any],
    *,
    n_walkers: int,
    n_steps: int,
    burn: int,
    seed: int,
    thin: int = 1,
    n_draws: int | None = None,
    map_start: bool = True,
    map_evaluations: int | None = None,
    init_scale: float | None = None,
    moves: str = "de",
    vectorized: bool = False,
    pool: Any = None,
    theta_start: np.ndarray | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> PosteriorSample:
    """Sample the posterior of parameters with priors ``specs`` and a log likelihood.

    Parameters
    ----------
    specs : sequence of ParameterSpec
        Names and priors (any frozen scipy distribution with ``ppf/isf/cdf/sf``).
    log_likelihood : callable
        ``theta (1-D, in the order of specs) -> float`` (with ``vectorized``: 2-D -> 1-D).
    n_walkers, n_steps, burn, thin, seed : int
        emcee settings; ``n_walkers >= 2 len(specs)``, ``0 <= burn < n_steps``.
    n_draws : int, optional
        Keep this many evenly spaced draws of the thinned chain (default: all).
    map_start : bool
        Start the walkers from an importance sample around the maximum a posteriori point
        (Powell; :func:`~leptotwin.calibration.sampler.importance_start`), else at prior draws.
    init_scale : float, optional
        SD of the Laplace ball in normal space. Default: a diagonal Laplace approximation at
        the MAP (:func:`~leptotwin.calibration.sampler.laplace_scales`), or 1 (prior draws)
        without ``map_start``.
    moves : {"de", "stretch"}
        emcee's proposal (:func:`~leptotwin.calibration.sampler.run_ensemble`).
    theta_start : ndarray, shape (n_walkers, len(specs)), optional
        Start the walkers here (e.g. draws of an earlier posterior: a warm start) instead of
        the optimiser's importance sample; ``map_start`` is then ignored.
    progress : callable, optional
        ``progress(stage, done, total)`` with stage ``"map"`` or ``"sample"``.
    """
    transform = ZTransform(specs)
    ndim = transform.ndim
    check_settings(ndim=ndim, n_walkers=n_walkers, n_steps=n_steps, burn=burn, thin=thin)
    post = LogPosteriorZ(transform, log_likelihood, vectorized=vectorized)
    if vectorized:

        def scalar_post(z: np.ndarray) -> float:
            return float(np.asarray(post(np.asarray(z)[None, :]))[0])

    else:
        scalar_post = post
    t0 = time.perf_counter()
    z_center = None
    z_start = None
    start_info: dict[str, float] = {}
    map_evals = 0
    scales = np.ones(ndim) if init_scale is None else np.full(ndim, float(init_scale))
    if theta_start is not None:
        z_start = transform.to_z(np.asarray(theta_start, dtype=float))
        z_center = np.median(z_start, axis=0)
        if init_scale is None:
            scales = np.maximum(np.std(z_start, axis=0), 1e-3)
        # repeated rows (a walker that stayed put) would make the ensemble degenerate: move
        # the repeats by a hundredth of the draws' spread
        _, first = np.unique(z_start, axis=0, return_index=True)
        repeat = np.ones(len(z_start), dtype=bool)
        repeat[first] = False
        if repeat.any():
            jitter = np.random.default_rng([seed, 7]).standard_normal((int(repeat.sum()), ndim))
            z_start[repeat] += 0.01 * scales * jitter
        map_start = False
    if map_start:
        if progress is not None:
            progress("map", 0, 1)
        z_center, _, map_evals = find_map(scalar_post, ndim, max_evaluations=map_evaluations)
        if init_scale is None:
            scales, n_laplace = laplace_scales(scalar_post, z_center)
            map_evals += n_laplace
        z_start, start_info = importance_start(
            post, z_center, scales, n_walkers, seed=seed, pool=pool, vectorize=vectorized
        )
        map_evals += int(start_info["n_candidates"])
        if progress is not None:
            progress("map", 1, 1)
    run = run_ensemble(
        post,
        ndim,
        n_walkers=n_walkers,
        n_steps=n_steps,
        burn=burn,
        seed=seed,
        z_center=z_center,
        init_scale=scales,
        z_start=z_start,
        moves=moves,
        pool=pool,
        vectorize=vectorized,
        progress=None if progress is None else (lambda i, n: progress("sample", i, n)),
    )
    run.map_evaluations = map_evals
    run.n_evaluations += map_evals
    run.seconds = time.perf_counter() - t0
    names = transform.names
    z_kept, lp_kept = run.kept(thin)
    theta = transform.to_theta(z_kept).reshape(-1, ndim)
    lp = lp_kept.reshape(-1)
    available = theta.shape[0]
    if n_draws is not None:
        if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer) or n_draws < 1:
            raise LeptotwinError("not a positive integer", field="n_draws", value=n_draws)
        if n_draws > available:
            raise LeptotwinError(
                "more draws asked for than the thinned chain holds",
                field="n_draws",
                value=n_draws,
                expected=f"at most n_walkers x (n_steps - burn) / thin = {available}",
            )
        rows = np.linspace(0, available - 1, int(n_draws)).round().astype(int)
        theta, lp = theta[rows], lp[rows]
    draws = pd.DataFrame(theta, columns=names)
    draws["log_posterior"] = lp
    diag = diagnostics_table(transform, run)
    settings = {
        "n_walkers": int(n_walkers),
        "n_steps": int(n_steps),
        "burn": int(burn),
        "thin": int(thin),
        "seed": int(seed),
        "n_draws": len(draws),
        "map_start": bool(map_start),
        "warm_start": theta_start is not None,
        "init_scale": [round(float(v), 4) for v in scales],
        "start_weight_ess": round(float(start_info.get("weight_ess", math.nan)), 2),
        "start_from_prior": round(float(start_info.get("from_prior", math.nan)), 3),
        "moves": moves,
        "n_evaluations": int(run.n_evaluations),
        "map_evaluations": int(map_evals),
        "acceptance_fraction_mean": float(np.mean(run.acceptance)),
        "acceptance_fraction_min": float(np.min(run.acceptance)),
        "seconds": float(run.seconds),
        # measured in this process (the optimiser's serial evaluations; all of them without a
        # pool); with a pool, the wall time per evaluation otherwise
        "seconds_per_evaluation": (
            post.seconds / post.n_calls if post.n_calls else run.seconds / run.n_evaluations
        ),
    }
    return PosteriorSample(
        names=list(names),
        draws=draws,
        diagnostics=diag,
        run=run,
        transform=transform,
        settings=settings,
    )


def diagnostics_table(transform: ZTransform, run: EnsembleRun) -> pd.DataFrame:
    """Per parameter: prior median and 95 % range, posterior median and 95 % interval (all
    post-burn-in steps), R-hat, bulk and tail ESS (walkers as chains), emcee's tau (steps) and
    the post-burn-in steps per tau."""
    z, _ = run.kept()
    theta = transform.to_theta(z)  # (steps, walkers, ndim)
    steps = z.shape[0]
    rows = []
    for i, spec in enumerate(transform.specs):
        chains = theta[:, :, i].T  # walkers as chains
        flat = chains.reshape(-1)
        lo, med, hi = np.quantile(flat, [0.025, 0.5, 0.975])
        d = _diag.summarize_parameter(chains)
        tau = float(run.tau[i]) if i < len(run.tau) else math.nan
        rows.append(
            {
                "parameter": spec.name,
                "prior_dist": spec.kind,
                "prior_median": float(spec.dist.median()),
                "prior_low": float(spec.dist.ppf(0.025)),
                "prior_high": float(spec.dist.ppf(0.975)),
                "posterior_median": float(med),
                "posterior_low": float(lo),
                "posterior_high": float(hi),
                "shrinkage": _shrinkage(spec, lo, hi),
                "r_hat": d["r_hat"],
                "ess_bulk": d["ess_bulk"],
                "ess_tail": d["ess_tail"],
                "tau": tau,
                "steps_per_tau": steps / tau if tau > 0 else math.nan,
            }
        )
    return pd.DataFrame(rows)


def _shrinkage(spec: ParameterSpec, lo: float, hi: float) -> float:
    """1 - (posterior 95 % width / prior 95 % width), on the normal scale of the prior: 0 when
    the targets taught nothing about the value, near 1 when they pinned it."""
    z = ZTransform([spec]).to_z(np.array([[lo], [hi]]))[:, 0]
    return float(1.0 - (z[1] - z[0]) / (2 * 1.959963984540054))


# --------------------------------------------------------------------------------------------
# The catalogue calibration
# --------------------------------------------------------------------------------------------


def parameter_specs(catalog: Any, parameters: Iterable[str]) -> list[ParameterSpec]:
    """The priors of catalogue paths, checked: each a catalogue value with a prior, no value
    twice (tied values count as one).

    Raises
    ------
    LeptotwinError
        Unknown path, a value without a prior (fixed), a repeated or tied duplicate.
    """
    from leptotwin.catalog.priors import prior_distribution

    specs: list[ParameterSpec] = []
    seen: dict[str, str] = {}
    for path in parameters:
        if not isinstance(path, str):
            raise LeptotwinError("not a catalogue path", source="parameters", value=path)
        try:
            q = catalog.quantity(path)
        except LeptotwinError as exc:
            raise LeptotwinError(
                "not a catalogue value",
                source="parameters",
                field=path,
                expected="a path as `leptotwin catalog --csv` lists it",
            ) from exc
        if q.prior is None:
            raise LeptotwinError(
                "a fixed value cannot be calibrated (it has no prior)",
                source="parameters",
                field=path,
                expected="an uncertain value (one with a prior)",
            )
        for alias in catalog.tied.get(path, (path,)):
            if alias in seen:
                raise LeptotwinError(
                    "value given twice (directly or through a tied value)",
                    source="parameters",
                    field=path,
                    value=seen[alias],
                )
            seen[alias] = path
        specs.append(ParameterSpec(name=path, dist=prior_distribution(q), kind=q.prior.dist))
    if not specs:
        raise LeptotwinError("nothing to calibrate", source="parameters", expected="≥ 1 path")
    return specs


#: Catalogues per pass of :meth:`CatalogLogLikelihood.batch` (a pass holds every mouse's path and
#: lesion concentrations: about 2 MB per catalogue, measured; the values do not depend on it).
BATCH_ROWS = 64


class CatalogLogLikelihood:
    """``theta -> log likelihood`` of the used targets on ``catalog.with_values(theta)``
    (picklable, for a process pool). The readouts are evaluated with the drawn catalogue active
    (:func:`leptotwin.catalog.loader.using_catalog`)."""

    def __init__(
        self,
        catalog: Any,
        names: Sequence[str],
        targets: Sequence[Any],
        readouts_fn: Callable[..., Mapping[str, float]] | None = None,
        log_likelihood_fn: Callable[..., float] | None = None,
    ) -> None:
        self.catalog = catalog
        self.names = list(names)
        self.targets = list(targets)
        self.readout_names = sorted({t.readout for t in self.targets})
        self.readouts_fn = readouts_fn
        self.log_likelihood_fn = log_likelihood_fn

    def readouts(self, theta: np.ndarray, names: Sequence[str] | None = None) -> dict[str, float]:
        from leptotwin.catalog.loader import using_catalog

        fn = self.readouts_fn or _api("readouts", "evaluate_readouts")
        cat = self.catalog.with_values(dict(zip(self.names, map(float, theta), strict=True)))
        with using_catalog(cat):
            return dict(fn(cat, list(names if names is not None else self.readout_names)))

    def __call__(self, theta: np.ndarray) -> float:
        fn = self.log_likelihood_fn or _api("targets", "log_likelihood")
        return float(fn(self.readouts(theta), self.targets))

    def batch(self, thetas: np.ndarray) -> np.ndarray:
        """The log likelihood of K parameter sets at once: ``(K, len(names))`` -> ``(K,)``.

        The readouts of the K catalogues are evaluated by
        :func:`~leptotwin.calibration.readouts.evaluate_readouts_many` (the in-vitro plates
        and the typical mice of C2 and C7 in one batch), :data:`BATCH_ROWS` catalogues per
        pass, or with ``readouts_fn`` one catalogue at a time. Each value
        is :meth:`__call__`'s for that row, to the bit; a row whose catalogue or likelihood
        raises a :class:`LeptotwinError`, :class:`ArithmeticError` or :class:`ValueError`
        (what :class:`~leptotwin.calibration.sampler.LogPosteriorZ` counts as ``-inf`` for
        one set) is ``-inf``.

        Raises
        ------
        LeptotwinError
            ``thetas`` not of shape (K, len(names)).
        """
        from leptotwin.catalog.loader import using_catalog

        th = np.asarray(thetas, dtype=float)
        if th.ndim != 2 or th.shape[1] != len(self.names):
            raise LeptotwinError(
                "parameter sets must be a (K, number of values) array",
                field="thetas",
                value=str(th.shape),
                expected=f"(K, {len(self.names)})",
            )
        fail = (LeptotwinError, ArithmeticError, ValueError)
        out = np.full(th.shape[0], -math.inf)
        rows, cats = [], []
        for k, row in enumerate(th):
            try:
                cats.append(
                    self.catalog.with_values(dict(zip(self.names, map(float, row), strict=True)))
                )
            except fail:
                continue
            rows.append(k)
        names = list(self.readout_names)
        values: list[Mapping[str, float] | None]
        if self.readouts_fn is None:
            many = _api("readouts", "evaluate_readouts_many")
            values = []
            for i in range(0, len(cats), BATCH_ROWS):  # memory: a pass holds its mice's paths
                values += many(cats[i : i + BATCH_ROWS], names)
        else:
            values = []
            for cat in cats:
                try:
                    with using_catalog(cat):
                        values.append(dict(self.readouts_fn(cat, names)))
                except fail:
                    values.append(None)
        fn = self.log_likelihood_fn or _api("targets", "log_likelihood")
        for k, v in zip(rows, values, strict=True):
            if v is None:
                continue
            try:
                out[k] = float(fn(v, self.targets))
            except fail:
                pass
        return out


class _BatchLogLikelihood:
    """``(K, ndim) -> (K,)``: :meth:`CatalogLogLikelihood.batch`, each batch split into
    ``n_chunks`` chunks over ``pool`` (one chunk, or no pool: in this process). Picklable."""

    def __init__(self, loglik: CatalogLogLikelihood, pool: Any = None, n_chunks: int = 1) -> None:
        self.loglik = loglik
        self.pool = pool
        self.n_chunks = max(1, int(n_chunks))

    def __getstate__(self) -> dict[str, Any]:
        return {"loglik": self.loglik, "pool": None, "n_chunks": 1}

    def __call__(self, thetas: np.ndarray) -> np.ndarray:
        th = np.asarray(thetas, dtype=float)
        n = min(self.n_chunks, th.shape[0]) if self.pool is not None else 1
        if n <= 1:
            return self.loglik.batch(th)
        parts = self.pool.map(self.loglik.batch, np.array_split(th, n))
        return np.concatenate([np.asarray(p, dtype=float) for p in parts])


def _api(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f"leptotwin.calibration.{module}"), name)


@dataclass
class CalibrationResult:
    """The outcome of :func:`calibrate`.

    Attributes
    ----------
    draws : DataFrame
        Posterior draws: one column per calibrated path (catalogue units) and ``log_posterior``.
    diagnostics : DataFrame
        Per parameter: ``parameter, unit, prior_dist, prior_median, prior_low, prior_high,
        posterior_median, posterior_low, posterior_high, shrinkage, r_hat, ess_bulk, ess_tail,
        tau, steps_per_tau``.
    targets : DataFrame
        Per target: ``name, readout, role, label, kind, value, low, high, unit, error_scale,
        error_sd, chain_offset, source, model_median, model_low, model_high, predictive_median,
        predictive_low, predictive_high, inside_95, p_met, n_evaluated``. ``inside_95``: the
        value lies inside the 95 % predictive interval (an interval target: the predictive
        interval reaches into it); ``p_met``: the fraction of draws that meet the target
        (inside an interval, within 2 SD of a Gaussian value).
    provenance : dict
        Method, sampler settings, seed, counts, targets and priors, versions, date, wall time.
    sample : PosteriorSample
        The raw sampler output (chains, transform).
    """

    draws: pd.DataFrame
    diagnostics: pd.DataFrame
    targets: pd.DataFrame
    provenance: dict[str, Any]
    sample: PosteriorSample | None = field(default=None, repr=False)

    @property
    def parameters(self) -> list[str]:
        return [c for c in self.draws.columns if c != "log_posterior"]

    def posterior_summary(self) -> dict[str, dict[str, float | str]]:
        """``{path: {median, low, high, unit}}`` as ``posterior.yaml`` holds it."""
        out: dict[str, dict[str, float | str]] = {}
        for row in self.diagnostics.itertuples():
            entry: dict[str, float | str] = {
                "median": _num(row.posterior_median),
                "low": _num(row.posterior_low),
                "high": _num(row.posterior_high),
            }
            unit = getattr(row, "unit", None)
            if isinstance(unit, str) and unit:
                entry["unit"] = unit
            out[str(row.parameter)] = entry
        return out

    def converged(self, *, r_hat_max: float = 1.05, ess_min: float = 100.0) -> bool:
        """Every parameter's R-hat at most ``r_hat_max`` and bulk and tail ESS at least
        ``ess_min`` (indicative: walkers are not independent chains)."""
        d = self.diagnostics
        return bool(
            (d["r_hat"] <= r_hat_max).all()
            and (d["ess_bulk"] >= ess_min).all()
            and (d["ess_tail"] >= ess_min).all()
        )

    def summary(self) -> str:
        """A markdown summary: settings, parameters (prior vs posterior, diagnostics), targets."""
        p = self.provenance
        s = p.get("sampler", {})
        lines = [
            "# leptotwin calibration",
            "",
            f"{p.get('method', '')}",
            "",
            f"- walkers {s.get('n_walkers')}, steps {s.get('n_steps')}, burn-in {s.get('burn')},"
            f" thin {s.get('thin')}, seed {s.get('seed')}, draws kept {s.get('n_draws')}",
            f"- log-posterior evaluations {s.get('n_evaluations')}, "
            f"{s.get('seconds_per_evaluation', math.nan) * 1e3:.1f} ms each; "
            f"wall time {p.get('wall_time_s', math.nan):.1f} s",
            f"- acceptance fraction mean {s.get('acceptance_fraction_mean', math.nan):.2f} "
            f"(min {s.get('acceptance_fraction_min', math.nan):.2f})",
            "",
            "## Parameters",
            "",
            "| parameter | prior median (95 %) | posterior median (95 %) | R-hat | ESS bulk |"
            " ESS tail | tau | steps/tau |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.diagnostics.itertuples():
            lines.append(
                f"| {r.parameter} | {_g(r.prior_median)} ({_g(r.prior_low)}–{_g(r.prior_high)})"
                f" | {_g(r.posterior_median)} ({_g(r.posterior_low)}–{_g(r.posterior_high)})"
                f" | {r.r_hat:.3f} | {r.ess_bulk:.0f} | {r.ess_tail:.0f} | {r.tau:.1f}"
                f" | {r.steps_per_tau:.1f} |"
            )
        lines += [
            "",
            "R-hat and ESS treat emcee's walkers as chains; walkers are not independent, so "
            "they are indicative (see `leptotwin.calibration.diagnostics`).",
            "",
            "## Targets",
            "",
            "| target | role | value | model median (95 %) | predictive 95 % | inside | P(met) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.targets.itertuples():
            lines.append(
                f"| {r.name} | {r.label} | {_stated(r)} | {_g(r.model_median)} "
                f"({_g(r.model_low)}–{_g(r.model_high)}) | {_g(r.predictive_low)}–"
                f"{_g(r.predictive_high)} | {'yes' if r.inside_95 else 'no'} | {_g(r.p_met)} |"
            )
        return "\n".join(lines) + "\n"


def _stated(row: Any) -> str:
    """A target as stated: its value, or its range or bound (an interval target)."""
    if getattr(row, "kind", "gaussian") != "interval":
        return _g(row.value)
    low, high = float(row.low), float(row.high)
    if math.isfinite(low) and math.isfinite(high):
        return f"{_g(low)}–{_g(high)}"
    return f"≥ {_g(low)}" if math.isfinite(low) else f"≤ {_g(high)}"


def _g(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "nan" if not math.isfinite(v) else f"{v:.3g}"


def _num(x: Any) -> float:
    return float(f"{float(x):.6g}")


def _start_rows(start_draws: pd.DataFrame, n_walkers: int) -> np.ndarray:
    """Rows of the start draws for the walkers, shape ``(n_walkers,)``: evenly spaced, or, where
    a ``weight`` column holds importance weights, the draws at evenly spaced points of the
    cumulative weight (systematic resampling without a random offset: deterministic)."""
    if "weight" not in start_draws.columns:
        return np.linspace(0, len(start_draws) - 1, n_walkers).round().astype(int)
    w = pd.to_numeric(start_draws["weight"], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise LeptotwinError(
            "start draws' weights must be finite, non-negative and not all zero",
            source="start_draws",
            field="weight",
        )
    cum = np.cumsum(w / w.sum())
    points = (np.arange(n_walkers) + 0.5) / n_walkers
    return np.minimum(np.searchsorted(cum, points), len(w) - 1)


def calibrate(
    *,
    catalog: Any = None,
    targets: Sequence[Any] | None = None,
    parameters: Sequence[str] | Callable[[Any], Sequence[str]] | None = None,
    n_walkers: int | None = None,
    n_steps: int = 300,
    burn: int = 100,
    thin: int = 1,
    seed: int = 2020,
    n_draws: int | None = None,
    map_start: bool = True,
    map_evaluations: int | None = None,
    init_scale: float | None = None,
    moves: str = "de",
    n_predictive: int | None = 400,
    pool: Any = None,
    n_jobs: int = 1,
    start_draws: pd.DataFrame | None = None,
    readouts_fn: Callable[..., Mapping[str, float]] | None = None,
    log_likelihood_fn: Callable[..., float] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    vectorized: bool = True,
) -> CalibrationResult:
    """Fit ``parameters`` jointly against the used ``targets``; predict the held-out ones.

    Parameters
    ----------
    catalog : Catalog, optional
        The catalogue whose priors and other values are used (the packaged one by default).
    targets : sequence of Target, optional
        Default :func:`leptotwin.calibration.targets.load_targets`. Targets with ``role ==
        "used"`` enter the likelihood; ``"held_out"`` ones are predicted only; ``"cohort"`` ones
        are left to :func:`leptotwin.calibration.reweight.reweight_draws`.
    parameters : list of paths, or callable ``catalog -> list of paths``, optional
        The values to calibrate (default :data:`DEFAULT_PARAMETERS`).
    n_walkers : int, optional
        Default ``max(4 x dim, 16)``; at least ``2 x dim``.
    n_steps, burn, thin, seed : int
        emcee steps per walker, steps discarded, thinning of the kept chain, seed.
    n_draws : int, optional
        Keep this many evenly spaced draws (default: all thinned draws).
    map_start, map_evaluations, init_scale, moves :
        Start the walkers from an importance sample around the MAP found by Powell in at most
        ``map_evaluations`` evaluations, with a Laplace ball of SD ``init_scale`` (default: the
        diagonal Laplace SDs at the MAP), else at prior draws; emcee's proposal ``moves``
        (``de`` or ``stretch``); see :func:`sample_posterior`.
    n_predictive : int, optional
        Evaluate the posterior-predictive on this many evenly spaced draws (None: all).
    pool : object with ``map``, optional
        Evaluates walkers in parallel; or ``n_jobs > 1`` for a process pool made here
        (processes are spawned: a script that calls this must guard its entry point with
        ``if __name__ == "__main__":``, as the ``leptotwin`` command does). The draws are the
        same whatever the pool.
    start_draws : DataFrame, optional
        A warm start: draws of an earlier posterior (one column per calibrated path, e.g. a
        ``posterior_draws.csv``); ``n_walkers`` rows, evenly spaced, become the walkers' start
        points instead of the optimiser's (evenly spaced in cumulative weight where the draws
        carry importance weights, a ``weight`` column: the start then follows the reweighted
        posterior, not the sampler's). The burn-in still applies.
    readouts_fn, log_likelihood_fn : callable, optional
        Replace :func:`~leptotwin.calibration.readouts.evaluate_readouts` (``catalog, names ->
        {name: value}``) and :func:`~leptotwin.calibration.targets.log_likelihood`
        (``values, targets -> float``), e.g. in tests.
    progress : callable, optional
        ``progress(stage, done, total)``; stages ``map``, ``sample``, ``predict``.
    vectorized : bool
        Evaluate all the walkers of a step as one batch
        (:meth:`CatalogLogLikelihood.batch`: the typical mice of every walker in one pass;
        emcee's ``vectorize``), split into ``n_jobs`` chunks over the process pool when
        ``n_jobs > 1``; the draws are those of the walker-by-walker path (the same values).
        A ``pool`` without both a ``map`` method and an integer ``n_jobs`` (e.g. a
        ``multiprocessing.Pool``) is used walker by walker, as with ``vectorized=False``.

    Raises
    ------
    LeptotwinError
        Unknown parameter path, a value without a prior, a repeated value, too few walkers, no
        used target, bad sampler settings.
    """
    from leptotwin.catalog.loader import load_catalog

    t_start = time.perf_counter()
    cat = catalog if catalog is not None else load_catalog()
    if targets is None:
        targets = list(_api("targets", "load_targets")())
    targets = list(targets)
    used = [t for t in targets if _role(t) == "used"]
    # cohort targets are scored after sampling, by reweighting the draws (calibration/reweight.py)
    held = [t for t in targets if _role(t) == "held_out"]
    if not used:
        raise LeptotwinError(
            "no target is used for the calibration", source="targets", expected="≥ 1 used target"
        )
    if parameters is None:
        paths = list(DEFAULT_PARAMETERS)
    elif callable(parameters):
        paths = list(parameters(cat))
    else:
        paths = list(parameters)
    specs = parameter_specs(cat, paths)
    ndim = len(specs)
    if n_walkers is None:
        n_walkers = max(4 * ndim, 16)
        n_walkers += n_walkers % 2
    check_settings(ndim=ndim, n_walkers=n_walkers, n_steps=n_steps, burn=burn, thin=thin)
    loglik = CatalogLogLikelihood(
        cat, [s.name for s in specs], used, readouts_fn, log_likelihood_fn
    )
    theta_start = None
    if start_draws is not None:
        names = [sp.name for sp in specs]
        missing = [n for n in names if n not in start_draws.columns]
        if len(missing) == len(names):
            raise LeptotwinError(
                "the start draws lack a calibrated value",
                source="start_draws",
                field=missing[0],
                expected="one column per calibrated path (at least one of them)",
            )
        if len(start_draws) < n_walkers:
            raise LeptotwinError(
                "fewer start draws than walkers",
                source="start_draws",
                value=len(start_draws),
                expected=f"at least {n_walkers} rows",
            )
        rows = _start_rows(start_draws, n_walkers)
        given = start_draws.reindex(columns=names).iloc[rows]
        theta_start = _fill_start(cat, specs, given, missing, seed=seed)
        if not np.isfinite(theta_start).all():
            raise LeptotwinError(
                "start draws must be finite numbers", source="start_draws", field="values"
            )
    own_pool = None
    if pool is None and n_jobs > 1:
        own_pool = _process_pool(n_jobs)
        pool = own_pool
    # the batched likelihood where the pool can take chunks of a batch (or there is none)
    batched = vectorized and (pool is None or _takes_chunks(pool))
    if batched:
        n_chunks = int(pool.n_jobs) if pool is not None else 1
        likelihood: Callable[[np.ndarray], Any] = _BatchLogLikelihood(loglik, pool, n_chunks)
    else:
        likelihood = loglik
    try:
        sample = sample_posterior(
            specs,
            likelihood,
            n_walkers=n_walkers,
            n_steps=n_steps,
            burn=burn,
            thin=thin,
            seed=seed,
            n_draws=n_draws,
            map_start=map_start,
            map_evaluations=map_evaluations,
            init_scale=init_scale,
            moves=moves,
            vectorized=batched,
            pool=None if batched else pool,
            theta_start=theta_start,
            progress=progress,
        )
        table = _predictive_table(
            sample,
            loglik,
            used,
            held,
            n_predictive=n_predictive,
            seed=seed,
            pool=pool,
            progress=progress,
        )
    finally:
        if own_pool is not None:
            own_pool.shutdown()
    if start_draws is not None:
        sample.settings["warm_start_filled"] = list(missing)
    diag = sample.diagnostics.copy()
    diag.insert(1, "unit", [cat.quantity(s.name).unit for s in specs])
    wall = time.perf_counter() - t_start
    provenance = _provenance(cat, specs, used, held, sample, wall, n_jobs=n_jobs)
    return CalibrationResult(
        draws=sample.draws,
        diagnostics=diag,
        targets=table,
        provenance=provenance,
        sample=sample,
    )


_FILL_SPREAD_Z = 0.3  # SD, in the prior's normal space, of walkers started at a catalogue value


def _fill_start(
    cat: Any,
    specs: Sequence[ParameterSpec],
    given: pd.DataFrame,
    missing: Sequence[str],
    *,
    seed: int,
) -> np.ndarray:
    """Warm-start points, shape (n_walkers, len(specs)): the earlier draws, and for a value the
    earlier run did not calibrate (a column ``missing`` from them) the catalogue value moved by
    N(0, 0.3) in the prior's normal space, so the walkers differ in that direction too (emcee's
    differential-evolution proposal moves only along differences between walkers)."""
    theta = given.to_numpy(dtype=float)
    if not missing:
        return theta
    transform = ZTransform(specs)
    rng = np.random.default_rng([seed, 11])
    for name in missing:
        i = transform.names.index(name)
        z_at = np.zeros(transform.ndim)
        # a catalogue value at its prior's bound (a point fit at the edge) starts inside
        z_at[i] = float(np.clip(transform.to_z(_catalog_point(cat, specs, name))[i], -2.0, 2.0))
        z = np.tile(z_at, (len(theta), 1))
        z[:, i] += _FILL_SPREAD_Z * rng.standard_normal(len(theta))
        theta[:, i] = transform.to_theta(z)[:, i]
    return theta


def _catalog_point(cat: Any, specs: Sequence[ParameterSpec], name: str) -> np.ndarray:
    """A point (shape (len(specs),)) that holds the catalogue value of ``name`` in its slot and
    each other value's prior median elsewhere (only the slot of ``name`` is read)."""
    point = np.array([float(sp.dist.median()) for sp in specs])
    point[[sp.name for sp in specs].index(name)] = float(cat.quantity(name).value)
    return point


def _role(target: Any) -> str:
    role = str(getattr(target, "role", "used"))
    return role if role in ("used", "cohort") else "held_out"


def _error(target: Any) -> tuple[str, float]:
    err = getattr(target, "error", None)
    if isinstance(err, Mapping):
        return str(err.get("scale", "log")), float(err.get("sd", math.nan))
    return str(getattr(err, "scale", "log")), float(getattr(err, "sd", math.nan))


def _predictive_table(
    sample: PosteriorSample,
    loglik: CatalogLogLikelihood,
    used: Sequence[Any],
    held: Sequence[Any],
    *,
    n_predictive: int | None,
    seed: int,
    pool: Any,
    progress: Callable[[str, int, int], None] | None,
) -> pd.DataFrame:
    """Model and posterior-predictive intervals of every target's readout."""
    targets = [*used, *held]
    names = sorted({t.readout for t in targets})
    theta = sample.draws[sample.names].to_numpy(dtype=float)
    if n_predictive is not None and n_predictive < len(theta):
        rows = np.linspace(0, len(theta) - 1, int(n_predictive)).round().astype(int)
        theta = theta[rows]
    evaluate = _ReadoutsAt(loglik, names)
    mapper = pool.map if pool is not None else map
    values: list[dict[str, float]] = []
    for i, v in enumerate(mapper(evaluate, list(theta)), start=1):
        values.append(v)
        if progress is not None:
            progress("predict", i, len(theta))
    rng = np.random.default_rng([seed, 1])
    out = []
    for t in targets:
        model = np.array([v.get(t.readout, math.nan) for v in values], dtype=float)
        scale, sd = _error(t)
        # the measurement model of targets.Target: the full chain's offset and, where larger
        # than the stated error, its SD (scripts/chain_noise.py)
        offset = float(getattr(t, "chain_offset", 0.0))
        sd = float(getattr(t, "sd_effective", sd))
        # NaN: the model could not produce the readout for that draw; +-inf is a value (an
        # IC50 beyond the searched range), kept: quantiles without interpolation
        m = model[~np.isnan(model)]
        if m.size:
            # several measurements per draw, so the predictive quantiles are smooth even for a
            # few hundred draws
            reps = max(1, math.ceil(_PREDICTIVE_SAMPLES / m.size))
            mr = np.repeat(m, reps)
            noise = rng.standard_normal(mr.size) * (sd if math.isfinite(sd) else 0.0)
            with np.errstate(all="ignore"):
                pred = mr * np.exp(offset + noise) if scale == "log" else mr + offset + noise
                ml, mm, mh = _quantiles(m)
                pl, pm, ph = _quantiles(pred)
        else:
            ml = mm = mh = pl = pm = ph = math.nan
        value = float(t.value)
        role = _role(t)
        kind = str(getattr(t, "kind", "gaussian"))
        low, high = _bound(getattr(t, "low", None)), _bound(getattr(t, "high", None))
        if kind == "interval":
            # a finding stated as a range or a bound: consistent when the predictive interval
            # reaches into it
            lo_t = low if math.isfinite(low) else -math.inf
            hi_t = high if math.isfinite(high) else math.inf
            inside = bool(ph >= lo_t and pl <= hi_t) if not math.isnan(pl) else False
        else:
            inside = bool(pl <= value <= ph) if not math.isnan(pl) else False
        out.append(
            {
                "name": t.name,
                "readout": t.readout,
                "role": role,
                "label": "calibration target" if role == "used" else "prediction",
                "kind": kind,
                "value": value,
                "low": low,
                "high": high,
                "unit": str(getattr(t, "unit", "")),
                "error_scale": scale,
                "error_sd": sd,
                "chain_offset": offset,
                "source": str(getattr(t, "source", "")),
                "model_median": mm,
                "model_low": ml,
                "model_high": mh,
                "predictive_median": pm,
                "predictive_low": pl,
                "predictive_high": ph,
                "inside_95": inside,
                "p_met": _p_met(t, model),
                "n_evaluated": int(m.size),
            }
        )
    return pd.DataFrame(out)


def _quantiles(x: np.ndarray) -> tuple[float, float, float]:
    """2.5 %, 50 % and 97.5 % quantiles; no interpolation, so infinite values are allowed."""
    q = np.quantile(x, _PREDICTIVE_QUANTILES, method="inverted_cdf")
    return float(q[0]), float(q[1]), float(q[2])


def _bound(x: Any) -> float:
    return math.nan if x is None else float(x)


def _p_met(target: Any, model: np.ndarray) -> float:
    """Fraction of posterior draws whose readout meets the target: inside an interval target,
    within 2 SD of a Gaussian one (the rule of :func:`~leptotwin.calibration.targets.
    target_table`); NaN when the target cannot say (no ``z``) or no draw was evaluated."""
    z_of = getattr(target, "z", None)
    if not callable(z_of) or model.size == 0:
        return math.nan
    z = np.array([z_of(float(x)) for x in model], dtype=float)
    if str(getattr(target, "kind", "gaussian")) == "interval":
        return float(np.mean(z == 0.0))
    return float(np.mean(np.abs(z) <= 2.0))


class _ReadoutsAt:
    """Picklable ``theta -> {readout: value}`` (NaN for a draw the model cannot evaluate)."""

    def __init__(self, loglik: CatalogLogLikelihood, names: Sequence[str]) -> None:
        self.loglik = loglik
        self.names = list(names)

    def __call__(self, theta: np.ndarray) -> dict[str, float]:
        try:
            values = self.loglik.readouts(theta, self.names)
        except (LeptotwinError, ArithmeticError, ValueError):
            return {n: math.nan for n in self.names}
        return {n: float(values.get(n, math.nan)) for n in self.names}


def _takes_chunks(pool: Any) -> bool:
    """Whether ``pool`` can take a batch in chunks (:class:`_BatchLogLikelihood`): the
    protocol of :class:`_ProcessPool`, a callable ``map(fn, items) -> list`` (in order) and an
    integer ``n_jobs >= 1`` (the number of chunks). A ``joblib.Parallel`` (``n_jobs``, no
    ``map``) or a ``multiprocessing.Pool`` (``map``, no ``n_jobs``) does not: such a pool is
    used walker by walker."""
    n_jobs = getattr(pool, "n_jobs", None)
    return (
        callable(getattr(pool, "map", None))
        and isinstance(n_jobs, int | np.integer)
        and not isinstance(n_jobs, bool)
        and n_jobs >= 1
    )


class _ProcessPool:
    """A spawn-started process pool whose ``map`` sends one chunk per worker (the log
    likelihood, which holds the catalogue, is pickled once per chunk, not per walker) and keeps
    the order (deterministic)."""

    def __init__(self, n_jobs: int) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        self.n_jobs = int(n_jobs)
        self._executor = ProcessPoolExecutor(
            max_workers=self.n_jobs, mp_context=mp.get_context("spawn")
        )

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        items = list(items)
        chunk = max(1, math.ceil(len(items) / self.n_jobs))
        return list(self._executor.map(fn, items, chunksize=chunk))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _process_pool(n_jobs: int) -> _ProcessPool:
    return _ProcessPool(n_jobs)


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _provenance(
    cat: Any,
    specs: Sequence[ParameterSpec],
    used: Sequence[Any],
    held: Sequence[Any],
    sample: PosteriorSample,
    wall: float,
    *,
    n_jobs: int,
) -> dict[str, Any]:
    def target_entry(t: Any) -> dict[str, Any]:
        scale, sd = _error(t)
        return {
            "name": str(t.name),
            "readout": str(t.readout),
            "value": float(t.value),
            "error": {"scale": scale, "sd": sd},
            "source": str(getattr(t, "source", "")),
        }

    priors = {}
    for s in specs:
        q = cat.quantity(s.name)
        priors[s.name] = {
            "dist": q.prior.dist,
            "low": float(q.prior.low),
            "high": float(q.prior.high),
            "median": float(s.dist.median()),
            "unit": q.unit,
            "source": q.prior.source,
        }
    settings = dict(sample.settings)
    return {
        "method": (
            "Bayesian posterior: each used target's readout scored with its stated error (a "
            "Gaussian on the log or linear scale; a range or bound as an interval-censored "
            "measurement), "
            "catalogue priors; emcee ensemble sampler ("
            + (
                "differential-evolution moves (scale 2.38/sqrt(2d) 90 %, 1 10 %)"
                if settings.get("moves") == "de"
                else "stretch move"
            )
            + ") in the prior's normal space, walkers started "
            + (
                "from an importance sample around the MAP (Powell, diagonal Laplace)"
                if settings.get("map_start")
                else "at draws of an earlier posterior (warm start; values it did not fit at "
                "their catalogue values, spread 0.3 prior SD)"
                if settings.get("warm_start")
                else "at prior draws"
            )
        ),
        "sampler": {**settings, "n_jobs": int(n_jobs)},
        "seed": int(settings["seed"]),
        "n_draws": int(settings["n_draws"]),
        "parameters": [s.name for s in specs],
        "priors": priors,
        "targets_used": [target_entry(t) for t in used],
        "targets_held_out": [target_entry(t) for t in held],
        "diagnostics": {
            "r_hat_max": _finite_max(sample.diagnostics["r_hat"]),
            "ess_bulk_min": _finite_min(sample.diagnostics["ess_bulk"]),
            "ess_tail_min": _finite_min(sample.diagnostics["ess_tail"]),
            "tau_max": _finite_max(sample.diagnostics["tau"]),
            "note": "walkers treated as chains (indicative; walkers are not independent)",
        },
        "versions": {
            "leptotwin": _version("leptotwin"),
            "emcee": _version("emcee"),
            "numpy": _version("numpy"),
            "scipy": _version("scipy"),
            "python": platform.python_version(),
        },
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_time_s": round(float(wall), 2),
    }


def _finite_max(s: pd.Series) -> float:
    v = s.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else math.nan


def _finite_min(s: pd.Series) -> float:
    v = s.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return float(v.min()) if v.size else math.nan


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _plain(obj: Any) -> Any:
    """YAML-safe copy: numpy scalars to Python numbers, NaN to None, tuples to lists."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def posterior_yaml(result: CalibrationResult) -> str:
    """The text of ``posterior.yaml`` (``provenance:`` and ``parameters: {path: {median, low,
    high, unit}}``)."""
    doc = {
        "provenance": _plain(result.provenance),
        "parameters": _plain(result.posterior_summary()),
    }
    header = (
        "# Posterior summary of the joint calibration (leptotwin calibrate-study).\n"
        "# median and central 95 % credible interval per calibrated value, in its catalogue "
        "unit.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


_INSTALLED_TABLES = ("calibration_diagnostics.csv", "calibration_targets.csv")
_TABLE_OF: dict[str, Callable[[CalibrationResult], pd.DataFrame]] = {
    "posterior_draws.csv": lambda r: r.draws,
    "calibration_diagnostics.csv": lambda r: r.diagnostics,
    "calibration_targets.csv": lambda r: r.targets,
}


def write_calibration(
    result: CalibrationResult, out_dir: str | Path, *, install: bool = False
) -> dict[str, Path]:
    """Write a calibration's files into ``out_dir`` (atomically, each file on its own).

    ``posterior_draws.csv``, ``posterior.yaml``, ``calibration_diagnostics.csv``,
    ``calibration_targets.csv``, ``calibration.md``. With ``install`` also ``posterior.yaml``,
    ``posterior_draws.csv`` and the two tables into the packaged catalogue folder (replacing
    what is there; the report's calibration section reads them from there; the catalogue cache
    is cleared so the next :func:`load_catalog` sees the posterior).

    The caller checks ``out_dir`` (:func:`leptotwin._fileio.prepare_out_dir`).

    Returns
    -------
    dict
        Name → written path (installed files as ``installed_<name>``).
    """
    from leptotwin._fileio import write_csv, write_text
    from leptotwin.catalog.loader import POSTERIOR_FILE
    from leptotwin.catalog.posterior import POSTERIOR_DRAWS_FILE

    out = Path(out_dir)
    yaml_text = posterior_yaml(result)
    paths = {name: write_csv(out / name, table(result)) for name, table in _TABLE_OF.items()}
    paths[POSTERIOR_FILE] = write_text(out / POSTERIOR_FILE, yaml_text)
    paths["calibration.md"] = write_text(out / "calibration.md", result.summary())
    if install:
        from leptotwin.catalog.loader import _data_dir, _default_catalog, read_posterior

        data = _data_dir()
        # check before replacing what the catalogue reads: the summary must load
        read_posterior(paths[POSTERIOR_FILE], _default_catalog())
        for name in (POSTERIOR_DRAWS_FILE, *_INSTALLED_TABLES):
            paths["installed_" + name] = write_csv(data / name, _TABLE_OF[name](result))
        paths["installed_" + POSTERIOR_FILE] = write_text(data / POSTERIOR_FILE, yaml_text)
        _default_catalog.cache_clear()
    return paths
