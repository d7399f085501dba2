"""C7 read off virtual mouse cohorts, as the study measured it: per-arm group readouts.

The sampler's C7 readouts (:mod:`leptotwin.calibration.readouts`) follow one typical mouse per arm
and add a constant chain offset for "a group of 8 mice with deaths carried forward". That offset
was measured at one operating point and changes sign between two (docs/model.md, session 8): a
typical mouse cannot see between-mouse PK and engraftment variability, which lets a few mice of a
combination arm escape, nor can it say anything about survival. Here the same experiment runs as
the section runs it — :func:`leptotwin.model.cohort.simulate_lmc` with the protocol's arms, the
quick cohort size (8 mice per arm), per-mouse PK, engraftment and growth scale, random switching —
and is read as the section reads it, without the instruments' noise (the targets' measurement
error stands for that):

- ``C7.cohort.week4_fold_<arm>``: geometric mean over the arm's mice of the noise-free BLI flux
  at the last image up to week 4 over the image at treatment start (a mouse that reached the
  endpoint keeps its last image, as the section's last-observation-carried-forward);
- ``C7.cohort.logrank_p_max``: the largest Holm-adjusted pairwise log-rank p of a combination arm
  against a monotherapy or vehicle arm (survival from treatment start, the section's test).

Each readout is returned per replicate cohort (independent mice, seeds ``[seed, r]``: the same
mice for every parameter set, common random numbers), so a likelihood can average over the
mice's randomness (:mod:`leptotwin.calibration.reweight`). About 0.8 s per replicate on one core.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from leptotwin.calibration.readouts import C7_ARMS
from leptotwin.catalog import Catalog

__all__ = ["COHORT_READOUTS", "cohort_readouts", "mice_per_arm"]


def _key(arm: str) -> str:
    return arm.replace(" + ", "_").replace(" ", "_")


COHORT_READOUTS: dict[str, str] = {
    **{
        f"C7.cohort.week4_fold_{_key(a)}": f"8 virtual mice, arm {a}: geometric mean of week-4 "
        "BLI flux / flux at treatment start (noise-free, LOCF after the endpoint)"
        for a in C7_ARMS
    },
    "C7.cohort.logrank_p_max": "largest Holm-adjusted log-rank p, combination vs monotherapy or "
    "vehicle (8 virtual mice per arm, survival from treatment start)",
}
"""Cohort readout name → description (all unit ``1``)."""


def _one_cohort(cat: Catalog, exp, n_per_arm: int, rng: np.random.Generator) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from leptotwin.analysis.survival import pairwise_logrank
    from leptotwin.calibration.readouts import _flux, _protocol
    from leptotwin.model.cohort import simulate_lmc
    from leptotwin.model.tumor import TumorParameters

    cohort = simulate_lmc(
        list(exp.arms),
        n_per_arm=n_per_arm,
        days=exp.days,
        observe_days=exp.observe_days,
        rng=rng,
        inoculum=exp.inoculum,
        catalog=cat,
    )
    start = TumorParameters.from_catalog(cat, species="mouse").treatment_start_d
    end = start + 7.0 * float(_protocol("lmc_mouse")["combination"]["imaging_weeks"])
    obs = cohort.observations
    window = (obs["day"] >= start - 1e-9) & (obs["day"] <= end + 1e-9)
    seen = obs[obs["alive"] & window].sort_values(["subject", "day"])
    seen = seen.assign(flux=_flux(cat, seen["total_cells"].to_numpy(float)))
    by = seen.groupby("subject", sort=False)
    log_fold = np.log(by["flux"].last() / by["flux"].first())
    arm = by["arm"].first()
    out: dict[str, float] = {}
    for a in C7_ARMS:
        vals = log_fold[arm == a]
        out[f"C7.cohort.week4_fold_{_key(a)}"] = (
            float(np.exp(vals.mean())) if len(vals) else math.nan
        )
    surv = cohort.survival
    table = pd.DataFrame(
        {
            "mouse": surv["subject"].astype(str),
            "arm": surv["arm"],
            "time_days": surv["time_days"] - start,
            "event": surv["event"],
        }
    )
    tests = pairwise_logrank(table)
    combos = [a for a in C7_ARMS if "+" in a]
    singles = [a for a in C7_ARMS if "+" not in a]
    pair = tests["arm_a"].isin(combos) & tests["arm_b"].isin(singles)
    pair |= tests["arm_b"].isin(combos) & tests["arm_a"].isin(singles)
    p = tests.loc[pair, "p_holm"].to_numpy(float)
    out["C7.cohort.logrank_p_max"] = float(p.max()) if p.size else math.nan
    return out


def _experiment():  # type: ignore[no-untyped-def]
    from leptotwin.study.simulate_job import load_experiment

    return load_experiment("lmc_mouse", "combination")


def mice_per_arm() -> int:
    """The cohort size the readouts use by default: the protocol's quick cohort (as the claims
    ensemble runs C7), else its full one."""
    exp = _experiment()
    return int(exp.quick_n_per_arm or exp.n_per_arm)


def cohort_readouts(
    catalog: Catalog, *, replicates: int = 2, n_per_arm: int | None = None, seed: int = 2020
) -> dict[str, np.ndarray]:
    """The cohort readouts of :data:`COHORT_READOUTS` on ``replicates`` independent cohorts.

    Parameters
    ----------
    catalog : Catalog
        The parameter set.
    replicates : int
        Independent cohorts (≥ 1); replicate ``r`` uses seed ``[seed, r]`` whatever the catalogue.
    n_per_arm : int, optional
        Mice per arm (default: the protocol's quick cohort, 8, as the claims ensemble runs C7).
    seed : int

    Returns
    -------
    dict of str to ndarray
        Readout name → values, shape ``(replicates,)``; NaN where a replicate could not be
        simulated or read.
    """
    from leptotwin.errors import LeptotwinError

    exp = _experiment()
    n = int(n_per_arm or mice_per_arm())
    out = {name: np.full(int(replicates), math.nan) for name in COHORT_READOUTS}
    for r in range(int(replicates)):
        try:
            values = _one_cohort(catalog, exp, n, np.random.default_rng([seed, r]))
        except (LeptotwinError, ArithmeticError, ValueError, IndexError, KeyError):
            continue
        for name, v in values.items():
            out[name][r] = v
    return out
