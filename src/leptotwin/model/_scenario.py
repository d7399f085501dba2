"""What a cohort is simulated in, shared by ``leptotwin simulate`` and ``leptotwin explore``.

The species (engine options, growth step, inoculum rule), the counterfactuals on the tumour clones
and the split of a cohort over posterior parameter sets. Both commands build their cohorts through
these functions, so a view of the explorer and the protocol it downloads give the same subjects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.tumor import TumorParameters, check_site, default_clones

__all__ = [
    "COUNTERFACTUALS",
    "DEFAULT_PARAMETER_SETS",
    "HUMAN_INOCULUM",
    "SPECIES",
    "SPECIES_PLURAL",
    "STEP_H",
    "counterfactual_clones",
    "engine_options",
    "parameter_set_bounds",
    "parameter_set_of",
    "posterior_values",
    "treatment_start_d",
]

#: Species a cohort may be: virtual mice (days after inoculation) or patients (days of treatment).
SPECIES = ("mouse", "human")
#: The species' subjects in messages ("no oral route in mice").
SPECIES_PLURAL = {"mouse": "mice", "human": "humans"}
#: Growth step (h): the mouse default of ``simulate``; the human protocol's ``step_h`` (human
#: half-lives are 1-2 days: 6 h gives the fractions controlled of 1 h to one patient in 200).
STEP_H = {"mouse": 1.0, "human": 6.0}
#: Counterfactuals: miR-449a of every clone at the parental (A925LPE3) level; no AREG secreted.
COUNTERFACTUALS = ("mir449a_restored", "no_areg")
#: Posterior parameter sets each arm's subjects are split over (``parameters: posterior``).
DEFAULT_PARAMETER_SETS = 10
#: Patients: AREG-driven (A925L/AR-like) LMC, as in the human section; no other inoculum.
HUMAN_INOCULUM = "A925L/AR"


def counterfactual_clones(catalog: Catalog, mir449a_restored: bool, no_areg: bool) -> tuple | None:
    """The tumour clones of ``catalog`` with the counterfactuals applied (None: the model's own):
    miR-449a of every clone at the parental level; no AREG secreted by any clone."""
    if not (mir449a_restored or no_areg):
        return None
    parental = catalog.cell_line("A925LPE3").mir449a.value
    out = []
    for clone in default_clones(catalog):
        state = clone.state
        if mir449a_restored:
            state = state.with_levels(mir449a=parental)
        if no_areg:
            state = state.with_levels(areg_scale=0.0)
        out.append(type(clone)(clone.name, state))
    return tuple(out)


def engine_options(
    species: str,
    inoculum: str,
    catalog: Catalog,
    *,
    dt_h: float | None = None,
    stochastic: bool = True,
    counterfactuals: tuple[str, ...] | list[str] = (),
    site: str = "leptomeningeal",
) -> dict[str, Any]:
    """Keyword options of :func:`~leptotwin.model.streams.simulate_lmc_subjects` for a species:
    mice from ``inoculum`` (1 h step); patients from A925L/AR-like LMC with the tumour kinetics
    of the catalogue block ``lmc_human`` (6 h step); ``clones`` where a counterfactual is on;
    ``site`` (:data:`~leptotwin.model.tumor.SITES`) passed on for mice at the subcutaneous site
    (absent at the default leptomeningeal one, so those options are what they always were).

    Raises
    ------
    LeptotwinError
        An unknown species, site or counterfactual, patients from another inoculum or at the
        subcutaneous site.
    """
    if species not in SPECIES:
        raise LeptotwinError(
            "unknown species", field="species", value=species, expected="mouse or human"
        )
    unknown = [c for c in counterfactuals if c not in COUNTERFACTUALS]
    if unknown:
        raise LeptotwinError(
            "unknown counterfactual",
            field="counterfactuals",
            value=unknown[0],
            expected=" or ".join(COUNTERFACTUALS),
        )
    check_site(site)
    step = STEP_H[species] if dt_h is None else dt_h
    if species == "human" and site != "leptomeningeal":
        raise LeptotwinError(
            "patients have leptomeningeal disease; the subcutaneous site is a mouse xenograft",
            field="site",
            value=site,
            expected="leptomeningeal, or species: mouse",
        )
    if species == "human":
        if inoculum != HUMAN_INOCULUM:
            raise LeptotwinError(
                "patients have AREG-driven (A925L/AR-like) LMC",
                field="inoculum",
                value=inoculum,
                expected=HUMAN_INOCULUM,
            )
        tumor = TumorParameters.from_catalog(catalog, block="lmc_human", species="human")
        out: dict[str, Any] = {"inoculum": inoculum, "species": "human", "dt_h": step,
                               "stochastic": stochastic, "tumor": tumor}  # fmt: skip
    else:
        out = {"inoculum": inoculum, "species": "mouse", "dt_h": step, "stochastic": stochastic}
        if site != "leptomeningeal":
            out["site"] = site
    clones = counterfactual_clones(
        catalog, "mir449a_restored" in counterfactuals, "no_areg" in counterfactuals
    )
    if clones is not None:
        out["clones"] = clones
    return out


def treatment_start_d(species: str) -> float:
    """Day of the first dose (after inoculation; 0 for patients, whose days are of treatment)."""
    if species == "human":
        return 0.0
    return TumorParameters.from_catalog(load_catalog()).treatment_start_d


def posterior_values(k: int, seed: int) -> list[dict[str, float]]:
    """``k`` parameter sets (catalogue path → value, to set on the packaged catalogue), drawn
    from ``numpy.random.default_rng(seed)``: posterior where calibrated, prior elsewhere
    (:func:`leptotwin.catalog.posterior.draw_catalogs` draws the same)."""
    from leptotwin.catalog.posterior import draw_parameters

    table = draw_parameters(int(k), rng=np.random.default_rng(seed))
    return table.to_dict(orient="records")


def parameter_set_bounds(n_per_arm: int, k: int) -> np.ndarray:
    """Subjects ``bounds[i]`` to ``bounds[i + 1] - 1`` of each arm get parameter set ``i``
    (shape ``(k + 1,)``; a set may get no subject when ``k > n_per_arm``)."""
    return np.linspace(0, n_per_arm, k + 1).astype(int)


def parameter_set_of(subjects: np.ndarray | int, n_per_arm: int, k: int) -> np.ndarray:
    """The parameter set (0..k-1) of each subject index (``subjects % n_per_arm`` within its arm)
    under :func:`parameter_set_bounds`."""
    bounds = parameter_set_bounds(n_per_arm, k)
    return np.searchsorted(bounds, np.asarray(subjects) % n_per_arm, side="right") - 1
