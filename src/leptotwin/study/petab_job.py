"""``leptotwin export-petab``: a lab's experiment (``experiment.yaml``) as a PEtab v1 problem.

See :mod:`leptotwin.study.experiment` for the experiment file and :mod:`leptotwin.interop.petab`
for the problem written.
"""

from __future__ import annotations

import os
from pathlib import Path

from leptotwin.interop.petab import build_petab
from leptotwin.study.experiment import Experiment, load_experiment_file

__all__ = ["run_export_petab"]


def run_export_petab(
    experiment: str | os.PathLike[str], *, out: str | os.PathLike[str], force: bool = False
) -> tuple[Experiment, dict[str, Path]]:
    """Load and check the experiment, write its PEtab problem into ``out``.

    Returns
    -------
    (Experiment, dict)
        The loaded experiment and the written files (``model``, ``conditions``,
        ``measurements``, ``observables``, ``parameters``, ``problem``).

    Raises
    ------
    LeptotwinError
        Bad experiment file or data (file, row, field named); an estimated value PEtab export
        cannot express; ``out`` an existing non-empty folder without ``force``, or a file.
    """
    exp = load_experiment_file(experiment)
    problem = build_petab(exp)
    return exp, problem.write(out, force=force)
