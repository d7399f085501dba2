"""``leptotwin export-sbml``: one virtual subject of a protocol's arm as an SBML L3V2 file.

The subject is the one ``leptotwin simulate`` produces as subject ``subject`` of that arm with the
same seed (per-subject random streams), written deterministically (expected switching) for
libRoadRunner, COPASI, AMICI or any SBML tool; see :mod:`leptotwin.interop.sbml`. An experiment
block's ``species``, ``counterfactuals`` and ``parameters`` (the keys the explorer's protocols
carry) are honoured as ``simulate`` honours them: patients with the ``lmc_human`` tumour block,
the counterfactual clones, and the posterior median or the subject's own posterior parameter set.
"""

from __future__ import annotations

import os
from pathlib import Path

from leptotwin._fileio import safe_name
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.catalog.posterior import posterior_median_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop.sbml import export_sbml
from leptotwin.model._scenario import engine_options, parameter_set_of, posterior_values
from leptotwin.study.pk import warn_dose_range
from leptotwin.study.protocol_schema import MAX_FOLLOW_UP_DAYS
from leptotwin.study.simulate_job import load_experiment

__all__ = ["run_export_sbml"]


def run_export_sbml(
    protocol: str | os.PathLike[str],
    *,
    arm: str,
    subject: int = 0,
    seed: int = 0,
    experiment: str | None = None,
    days: float | None = None,
    out: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Path:
    """Export subject ``subject`` of ``arm`` and write it; returns the written path.

    Parameters
    ----------
    protocol : path-like
        Protocol YAML or a packaged name (``lmc_mouse``).
    arm : str
        Arm name as in the protocol (e.g. ``"alectinib + osimertinib"``).
    subject : int
        Index of the subject within the arm.
    seed : int
    experiment : str, optional
        Needed only when several experiments of the protocol have an arm of that name.
    days : float, optional
        Horizon for the dose events (default: the experiment's follow-up).
    out : path-like, optional
        Output file; default ``<arm>_subject<subject>.xml`` in the working folder.
    force : bool
        Replace an existing file.

    Raises
    ------
    LeptotwinError
        Unknown arm (the message lists the protocol's arms) or experiment, a subject or seed
        that is negative or not an integer, ``days`` out of range, ``out`` a folder, an
        existing file without ``force``.

    Warns
    -----
    DoseRangeWarning
        For a regimen far outside the doses studied in mice (see :mod:`leptotwin.study.pk`).
    """
    exp = load_experiment(protocol, experiment, arm=arm)
    if exp.site != "leptomeningeal":
        raise LeptotwinError(
            "the SBML export is the leptomeningeal twin; this experiment is a "
            f"{exp.site} xenograft",
            source=str(protocol),
            field=f"{exp.name}.site",
            value=exp.site,
            expected="an experiment at the leptomeningeal site (the default)",
        )
    chosen = exp.arm(arm)
    _check_index(subject, "--subject", "subject index within the arm", 2**63)
    _check_index(seed, "--seed", "seed", 2**64)
    horizon = exp.days if days is None else days
    if (
        isinstance(horizon, bool)
        or not isinstance(horizon, int | float)
        or not (0 < horizon <= MAX_FOLLOW_UP_DAYS)
    ):
        raise LeptotwinError(
            "days must be a number > 0 and at most the longest follow-up",
            source="days",
            value=horizon,
            expected=f"at most {MAX_FOLLOW_UP_DAYS:g} days (3 years)",
        )
    cat = _subject_catalog(exp, subject, seed)
    path = _out_path(out, arm, subject, force)
    for drug, regimen in chosen.regimens.items():
        warn_dose_range(drug, exp.species, str(regimen), stacklevel=2)
    opts = engine_options(
        exp.species, exp.inoculum, cat, counterfactuals=tuple(exp.counterfactuals)
    )
    result = export_sbml(
        chosen,
        subject=subject,
        seed=seed,
        days=float(horizon),
        inoculum=exp.inoculum,
        species=exp.species,
        catalog=cat,
        tumor=opts.get("tumor"),
        clones=opts.get("clones"),
    )
    return result.write(path)


def _subject_catalog(exp, subject: int, seed: int) -> Catalog:
    """The catalogue the subject is simulated with: packaged values, the posterior median, or
    (``parameters: posterior``) the posterior set ``simulate`` gives this subject when the arm has
    the protocol's own size (a run with ``--n-per-arm`` splits the sets over its own count)."""
    cat = load_catalog()
    if exp.parameters == "posterior-median":
        return posterior_median_catalog(cat)
    if exp.parameters != "posterior":
        return cat
    if subject >= exp.n_per_arm:
        raise LeptotwinError(
            "with parameters: posterior a subject has a parameter set only within the arm",
            source="--subject",
            value=subject,
            expected=f"an index below the arm's {exp.n_per_arm} subjects",
        )
    sets = posterior_values(min(exp.parameter_sets, exp.n_per_arm), seed)
    return cat.with_values(sets[int(parameter_set_of(subject, exp.n_per_arm, len(sets)))])


def _check_index(value: object, option: str, what: str, top: int) -> None:
    """An integer in ``[0, top)`` (the subject's index, the seed of the random streams)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LeptotwinError(f"{what} must be an integer", source=option, value=value)
    if not 0 <= value < top:
        raise LeptotwinError(f"{what} must be >= 0 and below {top:.3g}", source=option, value=value)


def _out_path(out: str | os.PathLike[str] | None, arm: str, subject: int, force: bool) -> Path:
    """The file to write: ``out``, or ``<arm>_subject<subject>.xml``; never a folder, and an
    existing file only with ``force``."""
    path = Path(out) if out is not None else Path(f"{safe_name(arm)}_subject{subject}.xml")
    if path.is_dir():
        raise LeptotwinError(
            "output path is a folder",
            source="--out",
            value=str(path),
            expected="a file path, e.g. " + str(path / f"{safe_name(arm)}_subject{subject}.xml"),
        )
    if path.exists() and not force:
        raise LeptotwinError(
            "output file exists; refusing to overwrite",
            source="--out",
            value=str(path),
            expected="a new file name, or --force",
        )
    return path
