"""``leptotwin export-sbml``: one virtual mouse of a protocol's arm as an SBML L3V2 file.

The subject is the one ``leptotwin simulate`` produces as subject ``subject`` of that arm with the
same seed (per-subject random streams), written deterministically (expected switching) for
libRoadRunner, COPASI, AMICI or any SBML tool; see :mod:`leptotwin.interop.sbml`.
"""

from __future__ import annotations

import os
from pathlib import Path

from leptotwin._fileio import safe_name
from leptotwin.errors import LeptotwinError
from leptotwin.interop.sbml import export_sbml
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
        Unknown arm or experiment, a negative subject, an existing file without ``force``.
    """
    exp = load_experiment(protocol, experiment, arm=arm)
    chosen = exp.arm(arm)
    if isinstance(subject, bool) or not isinstance(subject, int) or subject < 0:
        raise LeptotwinError(
            "subject must be an index >= 0 within the arm", source="--subject", value=subject
        )
    path = Path(out) if out is not None else Path(f"{safe_name(arm)}_subject{subject}.xml")
    if path.exists() and not force:
        raise LeptotwinError(
            "output file exists; refusing to overwrite",
            source="--out",
            value=str(path),
            expected="a new file name, or --force",
        )
    result = export_sbml(
        chosen,
        subject=subject,
        seed=seed,
        days=exp.days if days is None else float(days),
        inoculum=exp.inoculum,
    )
    return result.write(path)
