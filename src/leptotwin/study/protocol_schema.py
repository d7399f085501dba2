"""Schema of in-vivo protocol files (``study/protocols/lmc_mouse.yaml`` and users' copies).

A protocol has ``regimens`` (drug → regimen text, checked by the regimen parser) and experiment
blocks (any other top-level key whose value has an ``inoculum``). A block's ``arms`` map arm names
to a list of drugs (given at ``regimens``) or to the arm's own regimens (drug → text, checked the
same way with the block's species), so two arms may give one drug two regimens. Unknown keys,
wrong types and unreadable regimens are errors that name the file, the field and the line, e.g.
``my.yaml: line 6, combination.mice_per_arm: Input should be a valid integer (got 'ten')``.

Optional keys of a block (the explorer writes them; absent, a block is what it always was: mice
on the packaged catalogue): ``species`` (``mouse``, or ``human``: virtual patients with
A925L/AR-like LMC, ``patients_per_arm``, days of treatment, 6 h step, regimens checked with human
PK), ``counterfactuals`` (a list of ``mir449a_restored``, ``no_areg``), ``parameters``
(``packaged``; ``posterior-median``: the calibrated posterior median; ``posterior``: each arm's
subjects split over ``parameter_sets`` draws, posterior where calibrated, prior elsewhere),
``site`` (``leptomeningeal``, the default; ``subcutaneous``: a flank xenograft, catalogue block
``sc_mouse``, tumour volume in mm^3 and interstitial AREG; mice only).
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model._scenario import HUMAN_INOCULUM, SPECIES_PLURAL
from leptotwin.model.regimen import parse_regimen

__all__ = [
    "MAX_FOLLOW_UP_DAYS",
    "ExperimentBlock",
    "load_packaged_protocol",
    "packaged_protocol_text",
    "validate_protocol",
]

MAX_FOLLOW_UP_DAYS = 1095.0
"""Longest follow-up (days after inoculation) a protocol or ``--days`` may ask for: 3 years, past
the median lifespan of every laboratory mouse strain (251-964 days in 31 inbred strains: Yuan R et
al. Aging Cell 2009;8:277; recalled, verify). The cohort model simulates mice; untreated ones reach
the tumour endpoint in weeks. A limit also keeps dose-event arrays and step counts finite."""
_MIN_IMAGING_DAYS = 1.0 / 24.0  # the growth step of the cohort model (1 h)


def _not_bool(value: Any) -> Any:
    """YAML reads yes/no/true/false as booleans, which pydantic would take as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, not {str(value).lower()}")
    return value


# Numbers may be written as YAML reads them ("1e3" is text to YAML 1.1 and is converted here).
_NotBool = BeforeValidator(_not_bool)
_Count = Annotated[int, _NotBool, Field(gt=0)]
_Days = Annotated[float, _NotBool, Field(gt=0, le=MAX_FOLLOW_UP_DAYS, allow_inf_nan=False)]
_Day = Annotated[float, _NotBool, Field(ge=0, le=MAX_FOLLOW_UP_DAYS, allow_inf_nan=False)]
_Every = Annotated[float, _NotBool, Field(ge=_MIN_IMAGING_DAYS, le=MAX_FOLLOW_UP_DAYS)]
_Weeks = Annotated[int, _NotBool, Field(gt=0, le=int(MAX_FOLLOW_UP_DAYS // 7))]


def _arm_drugs(value: Any) -> list[str] | dict[str, str]:
    """An arm: a list of drugs given at the protocol's ``regimens``, or a mapping of drugs to the
    arm's own regimen texts (two arms may then give one drug two regimens)."""
    if isinstance(value, list) and all(isinstance(d, str) for d in value):
        return value
    if isinstance(value, dict) and all(
        isinstance(d, str) and isinstance(t, str) for d, t in value.items()
    ):
        return value
    raise ValueError(
        "an arm is a list of drugs ([alectinib, erlotinib]: the protocol's regimens) or a "
        "mapping of drugs to regimen texts ({alectinib: '20 mg/kg QD'})"
    )


_ArmDrugs = Annotated[Any, AfterValidator(_arm_drugs)]


class ExperimentBlock(BaseModel):
    """One in-vivo experiment of a protocol.

    Counts are integers > 0; days are finite numbers within :data:`MAX_FOLLOW_UP_DAYS` (3
    years); imaging at most hourly (the model's growth step); ``true``/``false`` where a number
    belongs is refused rather than read as 1/0.
    """

    model_config = ConfigDict(extra="forbid")

    inoculum: Literal["A925LPE3", "A925L/AR"]
    mice: _Count | None = None
    mice_per_arm: _Count | None = None
    quick_mice: _Count | None = None
    quick_mice_per_arm: _Count | None = None
    follow_up_days: _Days
    imaging_every_days: _Every | None = None
    imaging_weeks: _Weeks | None = None
    observe_days: list[_Day] | None = None
    harvest_cells: _Count | None = None
    arms: dict[str, _ArmDrugs] | None = None
    species: Literal["mouse", "human"] | None = None
    patients_per_arm: _Count | None = None
    counterfactuals: list[Literal["mir449a_restored", "no_areg"]] | None = None
    parameters: Literal["packaged", "posterior-median", "posterior"] | None = None
    parameter_sets: _Count | None = None
    site: Literal["leptomeningeal", "subcutaneous"] | None = None


def packaged_protocol_text(name: str) -> str | None:
    """Text of the packaged protocol ``study/protocols/<name>.yaml``; None if there is none."""
    path = resources.files("leptotwin.study") / "protocols" / f"{name}.yaml"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def load_packaged_protocol(name: str) -> dict:
    """The packaged protocol ``study/protocols/<name>.yaml`` (``lmc_mouse``, ``viability``,
    ``pk_exposure``, ``human_translation``), parsed.

    Raises
    ------
    LeptotwinError
        If there is no such packaged protocol.
    """
    text = packaged_protocol_text(name)
    if text is None:
        raise LeptotwinError("no such packaged protocol", source="study/protocols", value=name)
    return yaml.safe_load(text)


def _lines(text: str) -> tuple[dict[tuple[str, ...], int], tuple[tuple[str, ...], int] | None]:
    """Key path → 1-based line of each mapping key in the YAML text, and the first key that
    appears twice in one mapping (PyYAML keeps the last silently) with its line, or None.

    Aliases are followed once (a node reached again is not walked again), so a file of nested
    aliases cannot make this exponential."""
    out: dict[tuple[str, ...], int] = {}
    duplicate: list[tuple[tuple[str, ...], int]] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[str, ...]]] = []
    try:
        stack.append((yaml.compose(text), ()))
    except (yaml.YAMLError, RecursionError):
        return out, None
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                p = (*path, str(key.value))
                if str(key.value) in keys and not duplicate:
                    duplicate.append((p, key.start_mark.line + 1))
                keys.add(str(key.value))
                out.setdefault(p, key.start_mark.line + 1)
                stack.append((value, p))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out.setdefault((*path, str(i)), item.start_mark.line + 1)
                stack.append((item, (*path, str(i))))
    return out, duplicate[0] if duplicate else None


def _error(
    source: str,
    lines: dict,
    path: tuple[str, ...],
    message: str,
    value: Any = None,
    expected: str | None = None,
) -> LeptotwinError:
    line = None
    for k in range(len(path), 0, -1):
        line = lines.get(path[:k])
        if line is not None:
            break
    where = f"line {line}, " if line is not None else ""
    return LeptotwinError(
        message, source=source, field=where + ".".join(path), value=value, expected=expected
    )


# What a field takes, for the messages of values out of range.
_EXPECTED = {
    "follow_up_days": f"days after inoculation, > 0 and at most {MAX_FOLLOW_UP_DAYS:g} "
    "(3 years: laboratory mice do not live longer)",
    "observe_days": f"days after inoculation, 0 to {MAX_FOLLOW_UP_DAYS:g}",
    "imaging_every_days": f"days between images, 1/24 (hourly) to {MAX_FOLLOW_UP_DAYS:g}",
    "imaging_weeks": f"weeks of weekly imaging, 1 to {int(MAX_FOLLOW_UP_DAYS // 7)}",
}


def _species_of_drugs(data: dict, regimens: dict) -> dict[Any, tuple[str, ...]]:
    """The species each drug of ``regimens`` is given to: those of the blocks whose arms name it
    (a block without arms gives every drug; a block without ``species``, mice), mice for a drug
    no block names. The blocks are checked afterwards; a malformed one counts as mice here."""
    used: dict[Any, dict[str, None]] = {d: {} for d in regimens}
    for key, body in data.items():
        if key == "regimens" or not isinstance(body, dict):
            continue
        species = body.get("species")
        species = species if species in SPECIES_PLURAL else "mouse"
        arms = body.get("arms")
        drugs: list = list(regimens)
        if isinstance(arms, dict) and all(isinstance(v, list | dict) for v in arms.values()):
            # a drug named by an arm (in a list, or with its own regimen) is given this species
            drugs = [d for v in arms.values() for d in v if isinstance(d, str | int | float)]
        for d in drugs:
            if d in used:
                used[d][species] = None
    return {d: tuple(s) or ("mouse",) for d, s in used.items()}


def _check_regimens(
    regimens: Any,
    source: str,
    lines: dict,
    species: dict[Any, tuple[str, ...]] | None = None,
    at: tuple[str, ...] = ("regimens",),
) -> None:
    """A non-empty mapping of catalogue drugs (with PK in each species given it: mice unless
    ``species`` says otherwise) to readable regimens whose routes the drug has there; ``at``:
    where the mapping is (the protocol's ``regimens``, or an arm's own)."""
    if not isinstance(regimens, dict) or not regimens:
        raise _error(
            source,
            lines,
            ("regimens",),
            "protocol needs a mapping of regimens",
            expected="regimens: {drug: '20 mg/kg QD'}",
        )
    cat = load_catalog()
    for drug, text_reg in regimens.items():
        where = (*at, str(drug))
        try:
            if not isinstance(drug, str):
                raise LeptotwinError("a drug name is text", value=drug)
            for sp in (species or {}).get(drug, ("mouse",)):
                params = cat.pk_parameters(drug, sp)
                routes = ("iv", *params.routes)
                for reg in parse_regimen(str(text_reg)):
                    if reg.route not in routes:
                        raise LeptotwinError(
                            f"{params.drug} has no {reg.route} route in {SPECIES_PLURAL[sp]}",
                            value=text_reg,
                            expected="one of " + ", ".join(routes),
                        )
        except LeptotwinError as exc:
            value = exc.value if exc.value is not None else text_reg
            raise _error(source, lines, where, exc.message, value, exc.expected) from None


def _check_block(key: str, body: Any, regimens: dict, source: str, lines: dict) -> ExperimentBlock:
    """One experiment block against :class:`ExperimentBlock` and the protocol's regimens."""
    try:
        block = ExperimentBlock.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        path = (key, *(str(p) for p in err["loc"]))
        extra = err["type"] == "extra_forbidden"
        raise _error(
            source,
            lines,
            path,
            "unknown field" if extra else err["msg"].removeprefix("Value error, "),
            value=None if extra else err.get("input"),
            expected=None if extra else _EXPECTED.get(str(err["loc"][0])),
        ) from None
    if block.species == "human" and block.site == "subcutaneous":
        raise _error(
            source,
            lines,
            (key, "site"),
            "the subcutaneous site is a mouse xenograft (catalogue block sc_mouse); patients "
            "have leptomeningeal disease",
            value=block.site,
            expected="leptomeningeal, or species: mouse",
        )
    if block.species == "human":
        mice = [
            f
            for f in ("mice", "mice_per_arm", "quick_mice", "quick_mice_per_arm", "harvest_cells")
            if getattr(block, f) is not None
        ]
        if mice:
            raise _error(
                source,
                lines,
                (key, mice[0]),
                "a patients' experiment (species: human) counts patients_per_arm",
                expected="patients_per_arm",
            )
        if block.patients_per_arm is None:
            raise _error(source, lines, (key,), "a patients' experiment needs patients_per_arm")
        if block.inoculum != HUMAN_INOCULUM:
            raise _error(
                source,
                lines,
                (key, "inoculum"),
                "patients have AREG-driven (A925L/AR-like) LMC",
                value=block.inoculum,
                expected=HUMAN_INOCULUM,
            )
    elif block.patients_per_arm is not None:
        raise _error(
            source,
            lines,
            (key, "patients_per_arm"),
            "patients_per_arm is for species: human; mice count mice_per_arm",
        )
    elif block.mice is None and block.mice_per_arm is None:
        raise _error(source, lines, (key,), "experiment needs mice or mice_per_arm")
    if block.parameter_sets is not None and block.parameters != "posterior":
        raise _error(
            source,
            lines,
            (key, "parameter_sets"),
            "parameter_sets is for parameters: posterior",
            value=block.parameter_sets,
            expected="parameters: posterior as well",
        )
    if block.arms is not None and not block.arms:
        raise _error(source, lines, (key, "arms"), "experiment needs at least one arm")
    if block.observe_days is not None and not block.observe_days:
        raise _error(source, lines, (key, "observe_days"), "no observation day given")
    for arm, drugs in (block.arms or {}).items():
        if not arm.strip():
            raise _error(source, lines, (key, "arms", arm), "an arm needs a name", value=arm)
        if isinstance(drugs, dict):  # the arm's own regimens, checked with its species' PK
            if drugs:
                given = {d: (block.species or "mouse",) for d in drugs}
                _check_regimens(drugs, source, lines, given, at=(key, "arms", arm))
            continue
        for i, drug in enumerate(drugs):
            if drug not in regimens:
                raise _error(
                    source,
                    lines,
                    (key, "arms", arm, str(i)),
                    "drug has no regimen in the protocol",
                    value=drug,
                    expected="one of " + ", ".join(map(str, regimens)),
                )
    return block


def validate_protocol(data: Any, text: str, source: str) -> dict[str, ExperimentBlock]:
    """Check a parsed protocol; returns its experiment blocks.

    Raises
    ------
    LeptotwinError
        Naming the file, the line and the field: a key given twice in one mapping, a missing or
        empty ``regimens`` mapping, a drug the catalogue has no mouse PK for, a regimen the
        parser cannot read or with a route the drug lacks, an unknown top-level key, an unknown,
        mistyped or out-of-range field of an experiment (an unknown ``site``), an empty ``arms``
        or ``observe_days``, an arm drug without a regimen, ``site: subcutaneous`` with
        ``species: human``.
    """
    lines, duplicate = _lines(text)
    if duplicate is not None:
        path, line = duplicate
        raise LeptotwinError(
            "key given twice in the same mapping (the first would be ignored)",
            source=source,
            field=f"line {line}, " + ".".join(path),
        )
    if not isinstance(data, dict):
        kind = {str: "text", list: "a list"}.get(type(data), "a single value")
        raise LeptotwinError(
            "protocol file is empty" if data is None else f"a protocol is a mapping, not {kind}",
            source=source,
            expected="regimens and experiment blocks, as in lmc_mouse.yaml",
        )
    regimens = data.get("regimens")
    species = _species_of_drugs(data, regimens) if isinstance(regimens, dict) else None
    _check_regimens(regimens, source, lines, species)
    blocks: dict[str, ExperimentBlock] = {}
    for key, body in data.items():
        if key == "regimens":
            continue
        if not isinstance(body, dict) or "inoculum" not in body:
            raise _error(
                source,
                lines,
                (str(key),),
                "unknown top-level key",
                expected="regimens, or an experiment block with an inoculum",
            )
        blocks[str(key)] = _check_block(str(key), body, regimens, source, lines)
    if not blocks:
        raise LeptotwinError(
            "protocol has no experiment (a block with an inoculum)", source=source, field="inoculum"
        )
    return blocks
