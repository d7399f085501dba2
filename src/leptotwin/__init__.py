"""leptotwin: a digital twin of ALK-TKI resistance in leptomeningeal carcinomatosis.

Layers (see docs/architecture.md): ``catalog`` (sourced parameters) → ``model`` (PK, pathway,
tumour) → ``assays`` (virtual instruments) → ``analysis`` (works on real data too) → ``study``
(claims and report). The command line lives in ``leptotwin.cli``.
"""

from leptotwin.errors import ConvergenceWarning, LeptotwinError

__version__ = "0.1.0"
__all__ = ["ConvergenceWarning", "LeptotwinError", "__version__"]
