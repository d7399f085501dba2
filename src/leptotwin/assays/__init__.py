"""Virtual instruments: what a lab's instruments would record from the model.

Names are loaded lazily (see ``leptotwin._lazy``).
"""

from leptotwin._lazy import lazy_exports

_EXPORTS = {
    "READOUTS": "viability",
    "CurveSpec": "viability",
    "design_plates": "viability",
    "simulate_viability": "viability",
    "simulate_elisa": "elisa",
    "design_elisa": "elisa",
    "write_elisa": "elisa",
    "BLISettings": "bli",
    "simulate_bli": "bli",
    "write_bli": "bli",
    "harvest_counts": "harvest",
    "collect_conditioned_medium": "conditioned_medium",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
