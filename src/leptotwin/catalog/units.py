"""Units of measurement, parsed and converted with pint.

Every unit leptotwin reads, from the catalogue or from a user's file, is parsed here:

- **concentrations**: molar (pM, nM, µM, mM, M, or any other amount per volume) or mass per
  volume (pg/mL, ng/mL, µg/mL, mg/mL, mg/L, g/L ...); mass to molar with a molecular weight
  (:func:`concentration_unit`, :func:`to_nM`);
- **doses**: a mass (mg, µg, g), per kg body weight (mg/kg) or per m² body surface (mg/m2)
  (:func:`dose_unit`, :func:`dose_to_mg`);
- the catalogue's **kinds of quantity** (clearance, volume, rate ...), each with one canonical
  unit the model works in (:data:`CANONICAL`, :func:`convert`).

Parsing and conversion factors come from pint (https://pint.readthedocs.io) through one
``UnitRegistry`` built on first use (:func:`registry`): importing pint and building its
registry takes about half a second, which a command that converts no unit never pays.
Spellings: micro as ``µ`` (U+00B5), ``μ`` (U+03BC), ``u`` or pint's ``mc`` (``mcg``); square
metres as ``m2``, ``m²`` or ``m^2``. In a concentration, case is ignored when that leaves exactly
one common concentration unit (``nm`` is nM, never nanometres). A unit pint does not know, or
one of the wrong kind (``furlong`` for a concentration), raises a :class:`LeptotwinError` that
names the source, field and value and says what is accepted; nothing is guessed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from leptotwin.errors import LeptotwinError

if TYPE_CHECKING:
    import pint

__all__ = [
    "CANONICAL",
    "CONCENTRATION_LIMIT",
    "CONCENTRATION_UNITS",
    "ConcUnit",
    "DoseUnit",
    "UnitKind",
    "accepts",
    "concentration_unit",
    "convert",
    "dose_to_mg",
    "dose_unit",
    "registry",
    "to_nM",
]

_LOCK = threading.RLock()
_REGISTRY: list[pint.UnitRegistry] = []

CONCENTRATION_UNITS = (
    "fM", "pM", "nM", "µM", "mM", "M", "pg/mL", "ng/mL", "µg/mL", "mg/mL", "ng/L", "µg/L", "mg/L",
    "g/L",
)  # fmt: skip
"""Common concentration spellings: those matched case-insensitively and listed in messages."""

CONCENTRATION_LIMIT = 1e9
"""Concentrations of 1 M (1e9 nM) or 1 g/mL (1e9 ng/mL) and more are typos, not doses: a drug
of 500 g/mol at 1 M would be 500 g per litre of medium (the rule of the plate layouts)."""

_CONC_EXPECTED = (
    "a concentration unit: molar (pM, nM, µM or uM, mM, M) or mass per volume (pg/mL, ng/mL, "
    "µg/mL, mg/mL, mg/L, g/L)"
)
_DOSE_EXPECTED = (
    "a dose unit: a mass (mg, µg or ug, g), per kg body weight (mg/kg) or per m² (mg/m2)"
)
_PER = {"kg": "kg", "m2": "m2", "m²": "m2", "m^2": "m2", "m**2": "m2"}
_ALLOWED = re.compile(r"[\w µμ/.*^²³·()%+-]{1,40}")


# --------------------------------------------------------------------------- pint
def registry() -> pint.UnitRegistry:
    """The package's one pint ``UnitRegistry``, imported and built on the first call."""
    if not _REGISTRY:
        with _LOCK:
            if not _REGISTRY:
                import pint

                _REGISTRY.append(pint.UnitRegistry())
    return _REGISTRY[0]


def _spelled(text: str) -> str:
    """``text`` as pint reads it: trimmed, ``m2``/``m²`` as ``m^2``, ``·`` as a product."""
    s = text.strip().replace("²", "^2").replace("³", "^3").replace("·", "*")
    return re.sub(r"(?<=[A-Za-z])([23])\b", r"^\1", s)


@lru_cache(maxsize=4096)
def _parse(text: str) -> pint.Unit | None:
    """The pint unit ``text`` spells, or None when pint cannot read it as a unit."""
    if not _ALLOWED.fullmatch(text) or not text.strip():
        return None
    with _LOCK:
        try:
            return registry().parse_units(_spelled(text))
        except Exception:  # pint raises many types on malformed text
            return None


def _clean(factor: float) -> float:
    """A factor snapped to the nearest number of 9 significant digits when it lies within 1e-13
    of it: pint converts through base units, so 1 µM comes back as 999.9999999999999 nM, and
    that last bit would split equal doses apart. Other factors (1/24) are kept as they are."""
    f = float(factor)
    short = float(f"{f:.9g}")
    return short if abs(short - f) <= 1e-13 * abs(f) else f


def _factor(unit: pint.Unit, target: str) -> float:
    to = _parse(target)
    with _LOCK:
        return _clean(registry().Quantity(1.0, unit).to(to).magnitude)


def _same_dims(unit: pint.Unit, reference: str) -> bool:
    ref = _parse(reference)
    return ref is not None and unit.dimensionality == ref.dimensionality


def _display(unit: pint.Unit) -> str:
    """pint's short spelling with litres as ``L`` (``µg/mL``, ``mg/L``, ``nM``)."""
    with _LOCK:
        short = f"{unit:~C}"
    return re.sub(r"(?<![A-Za-z])([a-zµ]?)l\b", r"\1L", short)


def _fold(text: str) -> str:
    return text.strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")


def _missing(text: Any) -> bool:
    """None, NaN or blank: no unit given."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return True
    return not str(text).strip()


def _refuse(text: Any, *, source: str, field: str, expected: str, why: str) -> LeptotwinError:
    return LeptotwinError(why, source=source, field=field, value=text, expected=expected)


# --------------------------------------------------------------------------- concentrations
@dataclass(frozen=True)
class ConcUnit:
    """A concentration unit.

    Attributes
    ----------
    name : str
        Canonical spelling (``"µM"``, ``"ng/mL"``).
    molar : bool
        True for amount per volume, False for mass per volume.
    factor : float
        A value in this unit times ``factor`` is the value in nM (molar) or in ng/mL (mass).
    """

    name: str
    molar: bool
    factor: float

    @property
    def base(self) -> str:
        """``"nM"`` or ``"ng/mL"``: the unit :attr:`factor` converts to."""
        return "nM" if self.molar else "ng/mL"

    def factor_to(self, other: ConcUnit) -> float | None:
        """Factor from this unit to ``other``; None when one is molar and the other a mass."""
        if self.molar != other.molar:
            return None
        return _clean(self.factor / other.factor)


@lru_cache(maxsize=4096)
def _conc_lookup(text: str) -> ConcUnit | str:
    """The concentration unit ``text`` spells, or why it is not one."""
    unit = _parse(text)
    if unit is None or not _is_conc(unit):
        folded = [n for n in CONCENTRATION_UNITS if _fold(n) == _fold(text)]
        if len(folded) == 1:
            unit = _parse(folded[0])
    if unit is None:
        return "unknown unit"
    if not _is_conc(unit):
        return f"not a concentration unit (its dimension is {unit.dimensionality})"
    molar = _same_dims(unit, "M")
    return ConcUnit(_display(unit), molar, _factor(unit, "nM" if molar else "ng/mL"))


def _is_conc(unit: pint.Unit) -> bool:
    return _same_dims(unit, "M") or _same_dims(unit, "g/L")


def concentration_unit(text: Any, *, source: str = "unit", field: str = "unit") -> ConcUnit:
    """Parse a concentration unit (molar or mass per volume).

    Raises
    ------
    LeptotwinError
        Empty, unknown to pint, or not a concentration (``furlong``, ``mg/kg``, ``%``).
    """
    if _missing(text):
        why = "missing concentration unit"
        raise _refuse(text, source=source, field=field, expected=_CONC_EXPECTED, why=why)
    found = _conc_lookup(str(text).strip())
    if isinstance(found, str):
        raise _refuse(text, source=source, field=field, expected=_CONC_EXPECTED, why=found)
    return found


@lru_cache(maxsize=1)
def _ng_per_mL_to_nM_at_1_g_per_mol() -> float:
    with _LOCK:
        q = registry().Quantity(1.0, "ng/mL") / registry().Quantity(1.0, "g/mol")
        return _clean(q.to("nM").magnitude)


def to_nM(
    value: ArrayLike,
    unit: str,
    *,
    molecular_weight_g_mol: float | None = None,
    source: str = "unit",
    field: str = "unit",
) -> NDArray[np.float64] | float:
    """A concentration in ``unit`` as nM; a mass concentration needs the molecular weight.

    Examples: 2.5 µM is 2500 nM; 1 µg/mL of a 500 g/mol drug is 2000 nM.

    Raises
    ------
    LeptotwinError
        An unknown or non-concentration unit, a mass unit without a molecular weight, or a
        molecular weight that is not a positive finite number.
    """
    spec = concentration_unit(unit, source=source, field=field)
    arr = np.asarray(value, dtype=float)
    if spec.molar:
        out = arr * spec.factor
    else:
        mw = molecular_weight_g_mol
        if mw is None or not np.isfinite(mw) or mw <= 0:
            raise LeptotwinError(
                "a mass concentration needs the drug's molecular weight to be converted to nM",
                source=source,
                field=field,
                value=unit if mw is None else mw,
                expected="a molar unit (nM, µM ...) or a molecular weight > 0 g/mol",
            )
        out = arr * spec.factor * _ng_per_mL_to_nM_at_1_g_per_mol() / float(mw)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- doses
@dataclass(frozen=True)
class DoseUnit:
    """A dose unit: ``name`` (``"mg"``, ``"mg/kg"`` or ``"mg/m2"`` for any mass), ``factor``
    from its mass to mg, and ``per``: None, ``"kg"`` (body weight) or ``"m2"`` (body surface)."""

    name: str
    factor: float
    per: str | None


def _split_per(text: str) -> tuple[str, str | None]:
    """``"mg/kg"`` -> ``("mg", "kg")``; ``"L/h/m2"`` -> ``("L/h", "m2")``; else ``(text, None)``."""
    m = re.fullmatch(r"\s*(.+?)\s*/\s*(kg|m2|m²|m\^2|m\*\*2)\s*", text)
    return (m.group(1), _PER[m.group(2)]) if m else (text, None)


@lru_cache(maxsize=1024)
def _dose_lookup(text: str) -> DoseUnit | str:
    mass, per = _split_per(text)
    unit = _parse(mass)
    if unit is None:
        return "unknown unit"
    if not _same_dims(unit, "mg"):
        return f"not a dose unit (its dimension is {(_parse(text) or unit).dimensionality})"
    return DoseUnit("mg" if per is None else f"mg/{per}", _factor(unit, "mg"), per)


def dose_unit(text: Any, *, source: str = "dose", field: str = "unit") -> DoseUnit:
    """Parse a dose unit: a mass, a mass per kg body weight or a mass per m² body surface.

    Raises
    ------
    LeptotwinError
        Empty, unknown to pint, or not a mass (per kg or m²).
    """
    if _missing(text):
        raise _refuse(text, source=source, field=field, expected=_DOSE_EXPECTED, why="missing unit")
    found = _dose_lookup(str(text).strip())
    if isinstance(found, str):
        raise _refuse(text, source=source, field=field, expected=_DOSE_EXPECTED, why=found)
    return found


def dose_to_mg(
    value: float,
    unit: str,
    *,
    body_weight_kg: float | None = None,
    body_surface_m2: float | None = None,
    source: str = "dose",
    field: str = "unit",
) -> float:
    """A dose in mg per subject (mg/kg times body weight, mg/m2 times body surface).

    Raises
    ------
    LeptotwinError
        An unknown unit, or a per-kg / per-m² unit without the body weight / surface.
    """
    spec = dose_unit(unit, source=source, field=field)
    return float(value) * spec.factor * _per_value(spec.per, unit, body_weight_kg, body_surface_m2)


def _per_value(per: str | None, unit: str, bw: float | None, bsa: float | None) -> float:
    if per is None:
        return 1.0
    given, what = (bw, "a body weight (kg)") if per == "kg" else (bsa, "a body surface area (m²)")
    if given is None:
        raise LeptotwinError(f"unit needs {what}", field="unit", value=unit)
    return float(given)


# --------------------------------------------------------------------------- catalogue kinds
@dataclass(frozen=True)
class UnitKind:
    """A kind of quantity: the canonical unit the model uses and the units the catalogue accepts.

    ``factors`` maps each accepted unit to ``(factor, per)``: ``per`` marks units whose value is
    per kg body weight (``"kg"``) or per m² body surface (``"m2"``), multiplied by the species
    value before ``factor`` (from pint, computed when first looked up) is applied.
    """

    canonical: str
    units: tuple[str, ...]

    @property
    def factors(self) -> Mapping[str, tuple[float, str | None]]:
        return _Factors(self)


class _Factors(Mapping[str, tuple[float, str | None]]):
    """Accepted units of a kind (known without pint) and their factors (from pint, lazily)."""

    def __init__(self, kind: UnitKind) -> None:
        self._kind = kind

    def __iter__(self) -> Iterator[str]:
        return iter(self._kind.units)

    def __len__(self) -> int:
        return len(self._kind.units)

    def __getitem__(self, unit: str) -> tuple[float, str | None]:
        if unit not in self._kind.units:
            raise KeyError(unit)
        return _kind_factor(unit, self._kind.canonical)


CANONICAL: dict[str, UnitKind] = {
    "clearance": UnitKind("L/h", ("L/h", "mL/min", "L/h/kg", "mL/min/kg", "L/h/m2")),
    "volume": UnitKind("L", ("L", "mL", "L/kg", "L/m2")),
    "rate": UnitKind("1/h", ("1/h", "1/min", "1/d")),
    "fraction": UnitKind("1", ("1", "%")),
    "molar_mass": UnitKind("g/mol", ("g/mol", "Da", "kDa")),
    "mass": UnitKind("kg", ("kg", "g")),
    "area": UnitKind("m2", ("m2",)),
    "small_volume": UnitKind("mL", ("mL", "µL", "L")),
    "flow": UnitKind("mL/h", ("mL/h", "mL/min", "µL/min")),
    "molar_conc": UnitKind("nM", ("nM", "µM", "pM")),
}

# Da and kDa are read as g/mol and kg/mol, the biochemical convention (since the 2019 SI the
# molar mass constant is 0.99999999965 g/mol, a difference far below any stated precision).
_MOLAR_MASS_ALIASES = {"Da": "g/mol", "kDa": "kg/mol"}


@lru_cache(maxsize=1024)
def _kind_factor(unit: str, canonical: str) -> tuple[float, str | None]:
    """``(factor, per)`` of ``unit`` to ``canonical``; raises pint's errors if it cannot."""
    if canonical == "g/mol":
        unit = _MOLAR_MASS_ALIASES.get(unit, unit)
    target = _parse(canonical)
    number, per = _split_per(unit)
    parsed = _parse(number)
    if per is not None and (parsed is None or not _same_dims(parsed, canonical)):
        parsed, per = _parse(unit), None  # not "X per kg" after all: the unit as a whole
    if parsed is None or target is None or not _same_dims(parsed, canonical):
        raise KeyError(unit)
    return _factor(parsed, canonical), per


def accepts(unit: str, kind: str) -> bool:
    """Whether ``unit`` converts to ``kind``'s canonical unit (any unit pint can convert)."""
    try:
        _kind_factor(unit, CANONICAL[kind].canonical)
    except KeyError:
        return False
    return True


def convert(
    value: float,
    unit: str,
    kind: str,
    *,
    body_weight_kg: float | None = None,
    body_surface_m2: float | None = None,
) -> float:
    """Convert ``value`` in ``unit`` to the canonical unit of ``kind`` (see :data:`CANONICAL`).

    Any unit pint converts to the canonical one is accepted (``L/h/kg``, ``mL/min``,
    ``%``); per-kg and per-m² units are multiplied by the body weight or surface first.

    Raises
    ------
    KeyError
        An unknown ``kind``.
    LeptotwinError
        A unit that does not convert to ``kind``, or a per-kg / per-m² unit without the species
        value.
    """
    spec = CANONICAL[kind]
    try:
        factor, per = _kind_factor(unit, spec.canonical)
    except KeyError:
        raise LeptotwinError(
            "unit not accepted",
            field=kind,
            value=unit,
            expected=f"a unit convertible to {spec.canonical} (e.g. " + ", ".join(spec.units) + ")",
        ) from None
    return float(value) * _per_value(per, unit, body_weight_kg, body_surface_m2) * factor
