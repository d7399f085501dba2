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

C2 likewise (the relapse experiment: parental inoculum, continuous alectinib, weekly images over
the protocol's follow-up), read as the C2 section reads it: each mouse's relapse is the first
weekly image after its nadir whose flux exceeds its pre-treatment flux
(:func:`leptotwin.analysis.growth.relapse_times`), so the random switching of each mouse, the
weekly imaging and the Kaplan–Meier median over the cohort replace the typical mouse's exact
crossing time and its chain offset:

- ``C2.cohort.nadir_fold``: median over mice of pre-treatment flux / nadir flux;
- ``C2.cohort.relapse_day``: Kaplan–Meier median time to relapse (days after the start of
  alectinib; ``inf`` when fewer than half the mice relapse within the follow-up);
- ``C2.cohort.relapse_areg_high_fraction``: median over relapsed mice of the AREG-high (A925L/AR
  state) fraction of the tumour at its last image, where the section harvests it (NaN when no
  mouse relapsed).

Each readout is returned per replicate cohort (independent mice, seeds ``[seed, r]`` for C7 and
``[seed, r, 2]`` for C2: the same mice for every parameter set, common random numbers), so a
likelihood can average over the mice's randomness (:mod:`leptotwin.calibration.reweight`). About
0.8 s (C7) + 0.3 s (C2) per replicate on one core.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from leptotwin.calibration.readouts import C7_ARMS
from leptotwin.catalog import Catalog

__all__ = ["COHORT_READOUTS", "COHORT_UNITS", "cohort_readouts", "mice_per_arm"]


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
    "C2.cohort.nadir_fold": "8 virtual mice, parental cells under alectinib: median of "
    "pre-treatment BLI flux / nadir flux (noise-free, weekly images)",
    "C2.cohort.relapse_day": "8 virtual mice, parental cells under alectinib: Kaplan–Meier median "
    "days from the start of alectinib to the first image above the pre-treatment flux after the "
    "nadir (inf: not reached)",
    "C2.cohort.relapse_areg_high_fraction": "8 virtual mice, parental cells under alectinib: "
    "median AREG-high fraction of the relapsed tumours at their last image",
}
"""Cohort readout name → description."""

COHORT_UNITS: dict[str, str] = {
    name: "d" if name.endswith("_day") else "1" for name in COHORT_READOUTS
}
"""Cohort readout name → unit (``d`` for days, ``1`` for ratios, fractions and p-values)."""


def _simulate(cat: Catalog, exp, n: int, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """The protocol experiment ``exp`` in ``n`` mice per arm, and the treatment start (day)."""
    from leptotwin.model.cohort import simulate_lmc
    from leptotwin.model.tumor import TumorParameters

    cohort = simulate_lmc(
        list(exp.arms),
        n_per_arm=n,
        days=exp.days,
        observe_days=exp.observe_days,
        rng=rng,
        inoculum=exp.inoculum,
        catalog=cat,
    )
    return cohort, TumorParameters.from_catalog(cat, species="mouse").treatment_start_d


def _one_cohort(cat: Catalog, exp, n_per_arm: int, rng: np.random.Generator) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from leptotwin.analysis.survival import pairwise_logrank
    from leptotwin.calibration.readouts import _flux, _protocol

    cohort, start = _simulate(cat, exp, n_per_arm, rng)
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


def _relapse_cohort(cat: Catalog, exp, n: int, rng: np.random.Generator) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from leptotwin.analysis.growth import relapse_times
    from leptotwin.analysis.survival import median_survival
    from leptotwin.calibration.readouts import _flux

    cohort, start = _simulate(cat, exp, n, rng)
    obs = cohort.observations
    alive = obs[obs["alive"]]
    flux = pd.DataFrame(
        {
            "mouse": alive["subject"].to_numpy(),
            "arm": alive["arm"].to_numpy(),
            "day": alive["day"].to_numpy(float),
            "total_flux_p_s": _flux(cat, alive["total_cells"].to_numpy(float)),
        }
    )
    rel = relapse_times(flux, start)
    out = {name: math.nan for name in COHORT_READOUTS if name.startswith("C2.")}
    if rel.empty:
        return out
    med = median_survival(rel[["mouse", "arm", "time_days", "event"]]).iloc[0]
    out["C2.cohort.nadir_fold"] = float(rel["fold_fall"].median())
    out["C2.cohort.relapse_day"] = float(med["median_days"]) if bool(med["reached"]) else math.inf
    last = alive.sort_values("day").groupby("subject").tail(1).set_index("subject")
    relapsed = rel.loc[rel["event"] == 1, "mouse"].to_numpy()
    if relapsed.size:
        frac = last.loc[relapsed, "cells_R"] / last.loc[relapsed, "total_cells"]
        out["C2.cohort.relapse_areg_high_fraction"] = float(frac.median())
    return out


def _experiment(name: str = "combination"):  # type: ignore[no-untyped-def]
    from leptotwin.study.simulate_job import load_experiment

    return load_experiment("lmc_mouse", name)


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
        Mice per arm of each experiment (default: the protocol's quick cohort, 8, as the claims
        ensemble runs C2 and C7).
    seed : int

    Returns
    -------
    dict of str to ndarray
        Readout name → values, shape ``(replicates,)``; NaN where a replicate could not be
        simulated or read.
    """
    from leptotwin.errors import LeptotwinError

    exp, relapse = _experiment(), _experiment("relapse")
    n = int(n_per_arm or mice_per_arm())
    n_relapse = int(n_per_arm or relapse.quick_n_per_arm or relapse.n_per_arm)
    out = {name: np.full(int(replicates), math.nan) for name in COHORT_READOUTS}
    for r in range(int(replicates)):
        for run, e, k, rng in (
            (_one_cohort, exp, n, np.random.default_rng([seed, r])),
            (_relapse_cohort, relapse, n_relapse, np.random.default_rng([seed, r, 2])),
        ):
            try:
                values = run(catalog, e, k, rng)
            except (LeptotwinError, ArithmeticError, ValueError, IndexError, KeyError):
                continue
            for name, v in values.items():
                out[name][r] = v
    return out
