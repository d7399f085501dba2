"""Unit conversion for catalogue values.

The catalogue keeps units as the sources state them (``L/h/kg``, ``µL/min``, ``ng/mL``); the model
works in one canonical unit per kind of quantity. Each kind lists the units it accepts and the
factor to the canonical one; per-body-weight and per-surface units need the species.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CANONICAL", "UnitKind", "convert"]


@dataclass(frozen=True)
class UnitKind:
    """A kind of quantity: its canonical unit and the accepted units with their factors.

    ``per`` marks units whose value is per kg body weight (``"kg"``) or per m² body surface
    (``"m2"``): they are multiplied by the species value before the factor is applied.
    """

    canonical: str
    factors: dict[str, tuple[float, str | None]]


CANONICAL: dict[str, UnitKind] = {
    "clearance": UnitKind(
        "L/h",
        {
            "L/h": (1.0, None),
            "mL/min": (0.06, None),
            "L/h/kg": (1.0, "kg"),
            "mL/min/kg": (0.06, "kg"),
            "L/h/m2": (1.0, "m2"),
        },
    ),
    "volume": UnitKind(
        "L", {"L": (1.0, None), "mL": (1e-3, None), "L/kg": (1.0, "kg"), "L/m2": (1.0, "m2")}
    ),
    "rate": UnitKind("1/h", {"1/h": (1.0, None), "1/min": (60.0, None), "1/d": (1 / 24, None)}),
    "fraction": UnitKind("1", {"1": (1.0, None), "%": (0.01, None)}),
    "molar_mass": UnitKind("g/mol", {"g/mol": (1.0, None), "Da": (1.0, None), "kDa": (1e3, None)}),
    "mass": UnitKind("kg", {"kg": (1.0, None), "g": (1e-3, None)}),
    "area": UnitKind("m2", {"m2": (1.0, None)}),
    "small_volume": UnitKind("mL", {"mL": (1.0, None), "µL": (1e-3, None), "L": (1e3, None)}),
    "flow": UnitKind("mL/h", {"mL/h": (1.0, None), "mL/min": (60.0, None), "µL/min": (0.06, None)}),
    "molar_conc": UnitKind("nM", {"nM": (1.0, None), "µM": (1e3, None), "pM": (1e-3, None)}),
}


def convert(
    value: float,
    unit: str,
    kind: str,
    *,
    body_weight_kg: float | None = None,
    body_surface_m2: float | None = None,
) -> float:
    """Convert ``value`` in ``unit`` to the canonical unit of ``kind``.

    Raises
    ------
    KeyError
        If ``unit`` is not accepted for ``kind`` (the loader turns this into a LeptotwinError).
    ValueError
        If a per-kg or per-m² unit is given without the species value.
    """
    factor, per = CANONICAL[kind].factors[unit]
    if per == "kg":
        if body_weight_kg is None:
            raise ValueError(f"unit {unit!r} needs a body weight")
        value = value * body_weight_kg
    elif per == "m2":
        if body_surface_m2 is None:
            raise ValueError(f"unit {unit!r} needs a body surface area")
        value = value * body_surface_m2
    return value * factor
