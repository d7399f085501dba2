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
    "EXPORT_FLAVORS": "qpcr",
    "make_qpcr_samples": "qpcr",
    "simulate_qpcr": "qpcr",
    "write_qpcr": "qpcr",
    "simulate_array": "blot",
    "simulate_blot": "blot",
    "write_array": "blot",
    "write_blot": "blot",
    "simulate_msi": "msi",
    "write_imzml": "msi",
    "write_mask_png": "msi",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
