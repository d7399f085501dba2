"""Protocols as views: the shipped ones and a user's own YAML, read as ``leptotwin simulate``
reads them (same reader, same schema), with the keys the explorer's downloads write (``species``,
``counterfactuals``, ``parameters``), so a downloaded protocol uploaded again is the same view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from leptotwin.errors import LeptotwinError
from leptotwin.explore._compute import POSTERIOR_DRAWS
from leptotwin.explore._spec import MAX_ARMS, MAX_SUBJECTS_PER_ARM, SpecError
from leptotwin.study.simulate_job import _read_protocol, load_experiment

__all__ = ["SHIPPED", "spec_from_file", "spec_from_protocol"]

#: A protocol's ``parameters`` → the view's band.
_UNCERTAINTY = {
    "packaged": "between-subject",
    "posterior-median": "posterior-median",
    "posterior": "posterior",
}

#: Shipped views: key → (protocol, experiment, label).
SHIPPED: dict[str, tuple[str, str | None, str]] = {
    "lmc_mouse:combination": ("lmc_mouse", "combination", "Mice: A925L/AR combination (C7)"),
    "lmc_mouse:relapse": ("lmc_mouse", "relapse", "Mice: parental, alectinib relapse"),
    "human_translation": ("human_translation", None, "Patients: alectinib ± EGFR TKI (12 weeks)"),
}


def _human() -> dict[str, Any]:
    from leptotwin.study.schedule_sweep import load_protocol

    proto = load_protocol()
    arms = [{"name": k, "regimens": dict(v)} for k, v in proto["arms"].items()][:MAX_ARMS]
    # 12 weeks, weekly (the protocol follows 365 days every 14): the control day, 4x faster to
    # simulate; the page's follow-up field extends it
    days = 84.0
    every = 7.0
    return {
        "species": "human",
        "inoculum": "A925L/AR",
        "arms": arms,
        "n_per_arm": int(proto["patients_per_arm"]),
        "days": days,
        "observe_days": np.arange(0.0, days + 1e-9, every).tolist(),
        "seed": 0,
        "mir449a_restored": False,
        "no_areg": False,
        "uncertainty": "posterior-median",
    }


def spec_from_protocol(name: str) -> dict[str, Any]:
    """A view (as the page sends it) from a shipped protocol, a key of :data:`SHIPPED`.

    Raises
    ------
    SpecError
        For a name that is not a key of :data:`SHIPPED` (no file is read for it).
    """
    if name not in SHIPPED:
        raise SpecError({"protocol": f"no shipped protocol {name!r}"})
    protocol, experiment, _ = SHIPPED[name]
    if protocol == "human_translation":
        return _human()
    return _view(protocol, experiment, protocol)


def spec_from_file(path: str | Path, experiment: str | None = None) -> dict[str, Any]:
    """A view from a protocol file (the server passes only its own upload files here).

    Raises
    ------
    SpecError
        Whatever ``leptotwin simulate`` would refuse in the file, as one message on the field
        ``protocol``, the file's path replaced by "uploaded protocol".
    """
    if not Path(path).is_file():
        raise SpecError({"protocol": "no such protocol file"})
    return _view(str(path), experiment, "uploaded protocol")


def _view(protocol: str, experiment: str | None, shown: str) -> dict[str, Any]:
    try:
        if experiment is None:
            experiment = next(iter(_read_protocol(protocol)[1]))
        exp = load_experiment(protocol, experiment)
    except LeptotwinError as exc:
        raise SpecError({"protocol": str(exc).replace(protocol, shown)}) from None
    if exp.site != "leptomeningeal":  # the explorer draws LMC burden and CSF AREG only
        raise SpecError(
            {
                "protocol": f"{shown}: {exp.name}.site: the explorer shows leptomeningeal "
                f"cohorts; run a {exp.site} protocol with leptotwin simulate"
            }
        )
    arms = [{"name": a.name, "regimens": {d: str(r) for d, r in a.regimens.items()}}
            for a in exp.arms][:MAX_ARMS]  # fmt: skip
    note = ""
    if exp.parameters == "posterior" and exp.parameter_sets != POSTERIOR_DRAWS:
        note = f"; {POSTERIOR_DRAWS} parameter sets (the protocol asks {exp.parameter_sets})"
    return {
        "species": exp.species,
        "inoculum": exp.inoculum,
        "arms": arms,
        "n_per_arm": min(exp.n_per_arm, MAX_SUBJECTS_PER_ARM),
        "days": exp.days,
        "observe_days": list(exp.observe_days),
        "seed": 0,
        "mir449a_restored": "mir449a_restored" in exp.counterfactuals,
        "no_areg": "no_areg" in exp.counterfactuals,
        "uncertainty": _UNCERTAINTY[exp.parameters],
        "note": (
            f"experiment {exp.name!r}"
            + (
                f"; its first {MAX_ARMS} of {len(exp.arms)} arms"
                if len(exp.arms) > MAX_ARMS
                else ""
            )
            + note
        ),
    }
