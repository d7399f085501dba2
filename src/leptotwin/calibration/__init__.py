"""The study's calibration, in the open (issue 13): readouts, targets, sampler, sensitivity.

:mod:`~leptotwin.calibration.readouts` turns a catalogue into cheap, noise-free, deterministic
readouts of the model (a typical subject, the mean cell: the same model code as the study's
sections, without virtual-instrument noise or between-subject variability);
:mod:`~leptotwin.calibration.targets` states what the calibration fits (published numbers and the
study's findings, each with its measurement error) and what it holds out, and scores readouts
against them; the sampler (``sampler``, ``calibrate``) and the global sensitivity analysis
(``sensitivity``) are built on those two. Names are loaded lazily (see ``leptotwin._lazy``), so
importing the package loads no model code.
"""

from leptotwin._lazy import lazy_exports

_EXPORTS = {
    "READOUTS": "readouts",
    "Readout": "readouts",
    "evaluate_readouts": "readouts",
    "Target": "targets",
    "load_targets": "targets",
    "log_likelihood": "targets",
    "target_table": "targets",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
