"""Virtual instruments: what a lab's instruments would record from the model."""

from leptotwin.assays.viability import READOUTS, CurveSpec, design_plates, simulate_viability

__all__ = ["READOUTS", "CurveSpec", "design_plates", "simulate_viability"]
