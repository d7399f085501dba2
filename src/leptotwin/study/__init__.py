"""The study: claims, report, the reproduce runner and its sections, user-facing jobs.

Names are loaded lazily (see ``leptotwin._lazy``).
"""

from leptotwin._lazy import lazy_exports

_EXPORTS = {
    "ClaimResult": "claims",
    "ClaimStatus": "claims",
    "Readout": "claims",
    "load_claims": "claims",
    "claims_table": "claims",
    "Report": "report",
    "Section": "report",
    "Context": "reproduce",
    "SectionResult": "reproduce",
    "register_section": "reproduce",
    "run_reproduce": "reproduce",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
