"""The calibration's importance stage: reweight posterior draws by what the sampler could not see.

The sampler scores every target on cheap readouts (one typical mouse per arm, ~25 ms for all of
them); C7's findings are about groups of 8 mice — a geometric mean over mice whose PK, engraftment
and switching differ, and a log-rank test between arms — which cost ~1 s per parameter set and so
cannot be in the sampler's loop. Importance sampling corrects the draws afterwards: a draw ``θ``
sampled from ``p_s(θ) ∝ prior(θ) L_s(θ)`` gets the weight

``w(θ) ∝ L(θ) / L_s(θ)``

where ``L`` is the likelihood with the ``cohort`` targets of ``targets.yaml`` in place of the
typical-mouse targets they replace (:attr:`~leptotwin.calibration.targets.Target.replaces`), and
``L_s`` is what the sampler scored (its targets, read back from the calibration's
``calibration_targets.csv`` so that a posterior calibrated against earlier targets is reweighted
to today's). A cohort target's likelihood is averaged over ``replicates`` independent cohorts (the
probability that the study's measurement falls where it did, over the mice's randomness too);
replicate ``r`` uses the same mice for every draw (common random numbers), so weights differ by
the parameters, not by the luck of the mice.

The weighted draws stand for the posterior under ``L``; the effective sample size
``(Σw)² / Σw²`` says how much of the ensemble is left. ``leptotwin calibrate-study`` runs this
stage after sampling and writes the weights into ``posterior_draws.csv`` (``log_weight``,
``weight``), where :func:`leptotwin.catalog.posterior.draw_parameters` resamples by them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leptotwin.errors import LeptotwinError

__all__ = ["ReweightResult", "reweight_draws"]


@dataclass
class ReweightResult:
    """What :func:`reweight_draws` returns.

    Attributes
    ----------
    draws : DataFrame
        The input draws (parameter columns) with ``log_weight`` and ``weight`` (sums to 1).
    table : DataFrame
        One row per draw: ``draw, loglik_sampler, loglik_kept, loglik_cohort, log_weight,
        weight`` and the cohort readouts' replicate means (``<readout>`` columns).
    ess : float
        Effective sample size ``(Σw)² / Σw²`` (between 1 and the number of draws).
    settings : dict
        ``replicates, seed, n_draws, seconds, replaced, cohort_targets``.
    """

    draws: pd.DataFrame
    table: pd.DataFrame
    ess: float
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        s = self.settings
        return (
            f"importance stage: {s['n_draws']} draws x {s['replicates']} cohorts of "
            f"{s['n_per_arm']} mice per arm, {s['seconds'] / 60:.1f} min; effective sample "
            f"size {self.ess:.0f} of {s['n_draws']}"
        )


def _score(args: tuple) -> tuple[float, float, float, dict[str, float]]:  # type: ignore[type-arg]
    """One draw: (sampler's log-likelihood, kept targets', cohort targets', readout means)."""
    from leptotwin.calibration.cohort_readouts import cohort_readouts
    from leptotwin.calibration.readouts import evaluate_readouts
    from leptotwin.calibration.targets import log_likelihood

    catalog, fitted, values, sampler_used, kept, cohort, replicates, n_per_arm, seed = args
    if values is None:  # only the sampler's values: one catalogue for both likelihoods
        cat = catalog.with_values(fitted)
        readouts = evaluate_readouts(cat, sorted({t.readout for t in (*sampler_used, *kept)}))
        ll_s = log_likelihood(readouts, sampler_used)
    else:  # the sampler held the unfitted values at the catalogue's
        cat = catalog.with_values(values)
        at_fit = evaluate_readouts(
            catalog.with_values(fitted), sorted({t.readout for t in sampler_used})
        )
        ll_s = log_likelihood(at_fit, sampler_used)
        readouts = evaluate_readouts(cat, sorted({t.readout for t in kept}))
    ll_k = log_likelihood(readouts, kept)
    reps = cohort_readouts(cat, replicates=replicates, n_per_arm=n_per_arm, seed=seed)
    per = np.zeros(replicates)
    for t in cohort:
        per += np.array([t.log_likelihood(float(x)) for x in reps[t.readout]])
    top = per.max()
    ll_c = -math.inf if not np.isfinite(top) else float(top + np.log(np.mean(np.exp(per - top))))
    means = {k: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for k, v in reps.items()}
    return ll_s, ll_k, ll_c, means


def reweight_draws(
    draws: pd.DataFrame,
    *,
    sampler_targets: Sequence[Any],
    targets: Sequence[Any] | None = None,
    catalog: Any = None,
    replicates: int = 2,
    n_per_arm: int | None = None,
    seed: int = 2020,
    n_jobs: int = 1,
    unfitted: str = "catalogue",
    progress: Callable[[int, int], None] | None = None,
) -> ReweightResult:
    """Importance weights of posterior ``draws`` under the cohort targets (module docstring).

    Parameters
    ----------
    draws : DataFrame
        One row per draw, one column per calibrated path (catalogue units); other columns
        (``log_posterior``, earlier weights) are ignored.
    sampler_targets : sequence of Target
        What the sampler scored (e.g. :func:`~leptotwin.calibration.targets.targets_from_table`
        of the run's ``calibration_targets.csv``); its ``used`` ones form ``L_s``.
    targets : sequence of Target, optional
        Today's targets (default :func:`~leptotwin.calibration.targets.load_targets`): the used
        ones not replaced by a cohort target, plus the cohort ones, form ``L``.
    catalog : Catalog, optional
        Values the draws do not set (the packaged catalogue by default).
    replicates : int
        Independent cohorts per draw (≥ 1).
    n_per_arm : int, optional
        Mice per arm (default: the protocol's quick cohort, 8).
    seed : int
    n_jobs : int
        Worker processes (spawned; guard a script's entry point).
    unfitted : {"catalogue", "prior"}
        The uncertain values the draws do not set. ``catalogue``: held at the catalogue's
        values, as the sampler held them. ``prior``: each draw gets its own prior draw of them
        (seed ``[seed, 1]``), scored in ``L`` but not in ``L_s`` — the weights then stand for
        the joint posterior of every uncertain value, and the returned draws carry every
        uncertain value (so the claims ensemble takes them all from the draw instead of
        drawing the unfitted ones from their priors again).
    progress : callable, optional
        ``progress(done, total)``.

    Raises
    ------
    LeptotwinError
        No cohort target, a draw column the catalogue does not know (from
        :meth:`~leptotwin.catalog.loader.Catalog.with_values`), or no draw with a finite weight.
    """
    from leptotwin.calibration.cohort_readouts import mice_per_arm
    from leptotwin.calibration.targets import load_targets
    from leptotwin.catalog.loader import load_catalog
    from leptotwin.catalog.posterior import _BOOKKEEPING

    t0 = time.perf_counter()
    cat = catalog if catalog is not None else load_catalog()
    targets = list(load_targets() if targets is None else targets)
    cohort = [t for t in targets if t.role == "cohort"]
    if not cohort:
        raise LeptotwinError(
            "no cohort target to reweight by", source="targets", expected="≥ 1 role: cohort"
        )
    if isinstance(replicates, bool) or not isinstance(replicates, int) or replicates < 1:
        raise LeptotwinError(
            "replicates must be a positive integer", field="replicates", value=replicates
        )
    replaced = {t.replaces for t in cohort if t.replaces}
    kept = [t for t in targets if t.role == "used" and t.name not in replaced]
    sampler_used = [t for t in sampler_targets if t.role == "used"]
    params = [c for c in draws.columns if c not in _BOOKKEEPING]
    if unfitted not in ("catalogue", "prior"):
        raise LeptotwinError(
            "unknown choice", field="unfitted", value=unfitted, expected="catalogue or prior"
        )
    n_per_arm = int(n_per_arm or mice_per_arm())
    fitted_rows = draws[params].astype(float).to_dict(orient="records")
    rows: list[Any] = [None] * len(fitted_rows)
    if unfitted == "prior":
        from leptotwin.catalog.posterior import draw_parameters

        full = draw_parameters(
            len(draws), rng=np.random.default_rng([seed, 1]), catalog=cat, source="prior"
        )
        for c in params:
            full[c] = draws[c].to_numpy(float)
        rows = full.to_dict(orient="records")
    tasks = [
        (cat, f, r, sampler_used, kept, cohort, replicates, n_per_arm, seed)
        for f, r in zip(fitted_rows, rows, strict=True)
    ]
    results: list[Any] = []
    if n_jobs > 1:
        from leptotwin.calibration.calibrate import _process_pool

        pool = _process_pool(n_jobs)
        try:
            chunk = max(1, n_jobs * 4)
            for i in range(0, len(tasks), chunk):
                results.extend(pool.map(_score, tasks[i : i + chunk]))
                if progress is not None:
                    progress(len(results), len(tasks))
        finally:
            pool.shutdown()
    else:
        for task in tasks:
            results.append(_score(task))
            if progress is not None:
                progress(len(results), len(tasks))
    ll_s = np.array([r[0] for r in results])
    ll_k = np.array([r[1] for r in results])
    ll_c = np.array([r[2] for r in results])
    with np.errstate(invalid="ignore"):
        log_w = ll_k + ll_c - ll_s
    log_w[~np.isfinite(log_w)] = -math.inf
    if not np.isfinite(log_w).any():
        raise LeptotwinError(
            "no draw keeps a finite weight",
            source="importance stage",
            expected="draws whose cohort readouts can be scored",
        )
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w**2))
    table = pd.DataFrame(
        {
            "draw": np.arange(len(fitted_rows)),
            "loglik_sampler": ll_s,
            "loglik_kept": ll_k,
            "loglik_cohort": ll_c,
            "log_weight": log_w,
            "weight": w,
        }
    )
    means = pd.DataFrame([r[3] for r in results])
    table = pd.concat([table, means], axis=1)
    out = pd.DataFrame(rows) if unfitted == "prior" else draws[params].copy()
    out = out.reset_index(drop=True)
    out["log_weight"] = log_w
    out["weight"] = w
    settings = {
        "replicates": replicates,
        "n_per_arm": n_per_arm,
        "seed": seed,
        "n_draws": len(fitted_rows),
        "seconds": time.perf_counter() - t0,
        "unfitted": unfitted,
        "replaced": sorted(replaced),
        "cohort_targets": [t.name for t in cohort],
    }
    return ReweightResult(draws=out, table=table, ess=ess, settings=settings)
