"""What one view of the explorer shows: :class:`ViewSpec`, checked field by field.

A view is species, inoculum, up to :data:`MAX_ARMS` arms (name → drug → regimen text in the
grammar of :func:`leptotwin.model.parse_regimen`), counterfactuals, cohort size, follow-up,
observation days, seed and the kind of uncertainty band. :func:`parse_spec` checks a JSON-like
mapping and raises :class:`SpecError`, which carries one message per offending field (keyed as the
page names its inputs, e.g. ``arms.1.regimens.osimertinib``), so the page can show each message
beside its field.

Protocols: :func:`spec_from_protocol` (shipped) and :func:`spec_from_file` (uploaded) make views,
through the same reader and schema as ``leptotwin simulate`` (:func:`leptotwin.study.
simulate_job.load_experiment`: ``yaml.safe_load``, :mod:`leptotwin.study.protocol_schema`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model._scenario import SPECIES, SPECIES_PLURAL, STEP_H, treatment_start_d
from leptotwin.model.regimen import parse_regimen
from leptotwin.study.protocol_schema import MAX_FOLLOW_UP_DAYS

__all__ = [
    "DRUGS",
    "MAX_ARMS",
    "MAX_SUBJECTS_PER_ARM",
    "REFUSE_FOLD",
    "ArmSpec",
    "SpecError",
    "ViewSpec",
    "parse_spec",
]

#: Regimens compared side by side at most.
MAX_ARMS = 4
#: Largest cohort per arm the explorer simulates (``leptotwin simulate`` runs larger ones).
MAX_SUBJECTS_PER_ARM = 5000
#: Drugs the page offers: those the pathway model has a cellular potency for (metabolites such as
#: AZ5104 are formed by their parent; cetuximab has no cellular potency in the model).
DRUGS = ("alectinib", "crizotinib", "ceritinib", "lorlatinib", "osimertinib", "erlotinib",
         "gefitinib")  # fmt: skip
#: A dose this many times above the highest studied for the drug in the species (catalogue
#: ``studied_doses``) is refused, not simulated: the PK model is linear in dose and was never
#: checked there. Between 3-fold (the command line's warning) and this, the page warns.
REFUSE_FOLD = 30.0
INOCULA = ("A925L/AR", "A925LPE3")
#: Bands: over subjects of the packaged values (as ``simulate``), over subjects of the posterior
#: median (as ``reproduce``), or over parameter sets x subjects.
UNCERTAINTY = ("between-subject", "posterior-median", "posterior")


class SpecError(LeptotwinError):
    """A view that cannot be simulated; ``fields`` maps each offending field to its message."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)
        first = next(iter(self.fields.items()))
        super().__init__(first[1], field=first[0])


@dataclass(frozen=True)
class ArmSpec:
    """One regimen of the comparison: a name and drug → regimen text."""

    name: str
    regimens: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ViewSpec:
    """A checked view (see the module docstring). Days are after inoculation for mice and after
    the start of treatment for patients, as in the cohort model."""

    species: str
    arms: tuple[ArmSpec, ...]
    n_per_arm: int
    days: float
    observe_days: tuple[float, ...]
    seed: int = 0
    inoculum: str = "A925L/AR"
    mir449a_restored: bool = False
    no_areg: bool = False
    uncertainty: str = "between-subject"
    warnings: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def dt_h(self) -> float:
        return STEP_H[self.species]

    @property
    def counterfactual(self) -> bool:
        return self.mir449a_restored or self.no_areg

    def to_json(self) -> dict[str, Any]:
        """The view as the page sends it (input of :func:`parse_spec`)."""
        return {
            "species": self.species,
            "inoculum": self.inoculum,
            "arms": [{"name": a.name, "regimens": dict(a.regimens)} for a in self.arms],
            "n_per_arm": self.n_per_arm,
            "days": self.days,
            "observe_days": list(self.observe_days),
            "seed": self.seed,
            "mir449a_restored": self.mir449a_restored,
            "no_areg": self.no_areg,
            "uncertainty": self.uncertainty,
        }


def default_observe_days(species: str, days: float) -> tuple[float, ...]:
    """Weekly from the start of treatment up to the follow-up (and the start itself)."""
    start = treatment_start_d(species)
    out, k = [], 0
    while start + 7.0 * k <= days + 1e-9:
        out.append(start + 7.0 * k)
        k += 1
    return tuple(out)


def _int(raw: Any, lo: int, hi: int) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, not {str(raw).lower()}")
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw.lstrip("-").isdigit():
            raise ValueError(f"expected a whole number (got {raw!r})")
        raw = int(raw)
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if not isinstance(raw, int):
        raise ValueError(f"expected a whole number (got {raw!r})")
    if not lo <= int(raw) <= hi:
        raise ValueError(f"must be {lo:,} to {hi:,} (got {raw:,})")
    return int(raw)


def _float(raw: Any, lo: float, hi: float) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"expected a number, not {str(raw).lower()}")
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number (got {raw!r})") from None
    if not (math.isfinite(x) and lo < x <= hi):
        raise ValueError(f"must be > {lo:g} and at most {hi:g} (got {raw!r})")
    return x


def check_regimen(drug: str, text: str, species: str) -> tuple[str | None, str | None]:
    """(error, warning) for one regimen text of ``drug`` in ``species``; None where none.

    An error: text the grammar cannot read, a route the drug lacks in the species, a dose more
    than :data:`REFUSE_FOLD` × the highest studied dose. A warning: a dose more than 3-fold
    outside the studied doses (the command line's ``leptotwin: warning:``)."""
    from leptotwin.study.pk import _per_unit, _studied_range, dose_range_messages

    cat = load_catalog()
    try:
        regs = parse_regimen(text)
        params = cat.pk_parameters(drug, species)
        routes = ("iv", *params.routes)
        for reg in regs:
            if reg.route not in routes:
                return (
                    f"{drug} has no {reg.route} route in {SPECIES_PLURAL[species]}; use "
                    + " or ".join(routes),
                    None,
                )
        studied = _studied_range(cat, params.drug, params.species)
        if studied is not None:
            _, hi, unit = studied
            bw, bsa = params.body_weight_kg, params.body_surface_m2
            for reg in regs:
                dose = _per_unit(reg.dose_mg(body_weight_kg=bw, body_surface_m2=bsa), unit, bw, bsa)
                if dose > REFUSE_FOLD * hi:
                    return (
                        f"{reg.dose:g} {reg.dose_unit} per dose is {dose / hi:,.0f}-fold the "
                        f"highest dose of {drug} studied in {SPECIES_PLURAL[species]} "
                        f"({hi:g} {unit}); "
                        f"the explorer refuses more than {REFUSE_FOLD:g}-fold",
                        None,
                    )
        messages = dose_range_messages(drug, species, regs, catalog=cat)
    except LeptotwinError as exc:
        return str(exc), None
    return None, ("; ".join(messages) or None)


def parse_spec(raw: Any) -> ViewSpec:
    """Check a view sent by the page (a mapping as :meth:`ViewSpec.to_json` writes).

    Raises
    ------
    SpecError
        With one message per offending field; nothing is simulated.
    """
    errors: dict[str, str] = {}
    warns: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        raise SpecError({"view": "expected a JSON object with species, arms, n_per_arm, days"})
    species = raw.get("species", "mouse")
    if species not in SPECIES:
        errors["species"] = f"unknown species {species!r}; expected mouse or human"
        species = "mouse"
    inoculum = raw.get("inoculum", "A925L/AR")
    if species == "human":
        inoculum = "A925L/AR"  # patients: AREG-driven (A925L/AR-like) LMC, as in the study
    elif inoculum not in INOCULA:
        errors["inoculum"] = f"unknown inoculum {inoculum!r}; expected A925L/AR or A925LPE3"
    n = 0
    try:
        n = _int(raw.get("n_per_arm", 100), 1, MAX_SUBJECTS_PER_ARM)
    except ValueError as exc:
        errors["n_per_arm"] = str(exc)
    days = 0.0
    try:
        days = _float(raw.get("days", 84), 0.0, MAX_FOLLOW_UP_DAYS)
    except ValueError as exc:
        errors["days"] = str(exc)
    seed = 0
    try:
        seed = _int(raw.get("seed", 0), 0, 2**63 - 1)
    except ValueError as exc:
        errors["seed"] = str(exc)
    obs: tuple[float, ...] = ()
    if "days" not in errors:
        given = raw.get("observe_days")
        if given in (None, "", []):
            obs = default_observe_days(species, days)
        elif not isinstance(given, list) or len(given) > 2000:
            errors["observe_days"] = "expected a list of at most 2,000 days"
        else:
            try:
                obs = tuple(sorted({_float(x, -1e-12, days) for x in given}))
            except ValueError as exc:
                errors["observe_days"] = f"an observation day {exc}"
        start = treatment_start_d(species)
        if "observe_days" not in errors and start not in obs:
            obs = tuple(sorted({start, *obs}))
        if "observe_days" not in errors and len(obs) < 2:
            errors["days"] = "follow-up ends before the first week of treatment"
    arms_raw = raw.get("arms")
    arms: list[ArmSpec] = []
    if not isinstance(arms_raw, list) or not 1 <= len(arms_raw) <= MAX_ARMS:
        errors["arms"] = f"give 1 to {MAX_ARMS} regimens to compare"
        arms_raw = []
    names: set[str] = set()
    for i, arm in enumerate(arms_raw):
        key = f"arms.{i}"
        if not isinstance(arm, Mapping):
            errors[key] = "expected {name, regimens}"
            continue
        name = str(arm.get("name") or "").strip()
        if not name or len(name) > 80:
            errors[f"{key}.name"] = "an arm needs a name of 1 to 80 characters"
        elif name in names:
            errors[f"{key}.name"] = f"two arms are called {name!r} (names key the random streams)"
        names.add(name)
        regs_raw = arm.get("regimens") or {}
        if not isinstance(regs_raw, Mapping):
            errors[f"{key}.regimens"] = "expected drug → regimen"
            continue
        regs = []
        for drug, text in regs_raw.items():
            text = str(text or "").strip()
            if not text:
                continue  # an empty field: the drug is not given
            fkey = f"{key}.regimens.{drug}"
            if drug not in DRUGS:
                errors[fkey] = f"unknown drug {drug!r}; expected one of {', '.join(DRUGS)}"
                continue
            if len(text) > 200:
                errors[fkey] = "a regimen is at most 200 characters"
                continue
            err, warn = check_regimen(drug, text, species)
            if err:
                errors[fkey] = err
            elif warn:
                warns[fkey] = warn
            regs.append((drug, text))
        arms.append(ArmSpec(name, tuple(regs)))
    uncertainty = raw.get("uncertainty", "between-subject")
    if uncertainty not in UNCERTAINTY:
        errors["uncertainty"] = f"expected one of {', '.join(UNCERTAINTY)}"
    if errors:
        raise SpecError(errors)
    return ViewSpec(
        species=species,
        arms=tuple(arms),
        n_per_arm=n,
        days=days,
        observe_days=obs,
        seed=seed,
        inoculum=inoculum,
        mir449a_restored=bool(raw.get("mir449a_restored", False)),
        no_areg=bool(raw.get("no_areg", False)),
        uncertainty=uncertainty,
        warnings=warns,
    )
