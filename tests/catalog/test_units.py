"""Tests of leptotwin.catalog.units: conversions by hand and by pint itself, spellings, refusals."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.catalog import units
from leptotwin.catalog.units import (
    CANONICAL,
    accepts,
    concentration_unit,
    convert,
    dose_to_mg,
    dose_unit,
    registry,
    to_nM,
)
from leptotwin.errors import LeptotwinError


# ----------------------------------------------------------------------- by hand
@pytest.mark.parametrize(
    ("value", "unit", "nM"),
    [
        (2.5, "µM", 2500.0),  # 2.5e-6 mol/L = 2500e-9 mol/L
        (7.0, "pM", 0.007),
        (3.0, "mM", 3e6),
        (0.5, "M", 5e8),
        (40.0, "nM", 40.0),
        (1.0, "mol/L", 1e9),
    ],
)
def test_molar_concentrations_by_hand(value, unit, nM):
    assert to_nM(value, unit) == pytest.approx(nM, rel=1e-15)


def test_mass_concentrations_need_and_use_the_molecular_weight():
    """1 µg/mL of a 500 g/mol drug: 1e-3 g/L / 500 g/mol = 2e-6 mol/L = 2000 nM; 50 ng/mL of
    alectinib (482.6 g/mol) is 50e-6 g/L / 482.6 = 103.6 nM; 1 mg/L = 1 µg/mL."""
    assert to_nM(1.0, "µg/mL", molecular_weight_g_mol=500.0) == pytest.approx(2000.0, rel=1e-15)
    assert to_nM(50.0, "ng/mL", molecular_weight_g_mol=482.6) == pytest.approx(
        50e-6 / 482.6 * 1e9, rel=1e-14
    )
    assert to_nM(1.0, "mg/L", molecular_weight_g_mol=500.0) == to_nM(
        1.0, "µg/mL", molecular_weight_g_mol=500.0
    )
    with pytest.raises(LeptotwinError, match="needs the drug's molecular weight"):
        to_nM(1.0, "ng/mL", source="layout.csv", field="conc_unit")
    with pytest.raises(LeptotwinError, match="molecular weight"):
        to_nM(1.0, "ng/mL", molecular_weight_g_mol=-3.0)


def test_arrays_convert_elementwise():
    np.testing.assert_array_equal(to_nM(np.array([0.0, 0.1, 2.5]), "uM"), [0.0, 100.0, 2500.0])


@pytest.mark.parametrize(
    ("value", "unit", "kw", "mg"),
    [
        (25.0, "mg/kg", {"body_weight_kg": 0.025}, 0.625),  # a 25 g mouse
        (400.0, "mg/m2", {"body_surface_m2": 1.8}, 720.0),
        (400.0, "mg/m²", {"body_surface_m2": 1.8}, 720.0),
        (500.0, "µg", {}, 0.5),
        (500.0, "mcg", {}, 0.5),
        (1.5, "g", {}, 1500.0),
        (80.0, "mg", {}, 80.0),
        (250.0, "ug/kg", {"body_weight_kg": 70.0}, 17.5),
    ],
)
def test_doses_by_hand(value, unit, kw, mg):
    assert dose_to_mg(value, unit, **kw) == pytest.approx(mg, rel=1e-15)


def test_dose_unit_names_and_needs_the_species_value():
    assert dose_unit("µg/kg") == units.DoseUnit("mg/kg", 1e-3, "kg")
    assert dose_unit("mg/m2").per == "m2"
    with pytest.raises(LeptotwinError, match="body weight"):
        dose_to_mg(25.0, "mg/kg")
    with pytest.raises(LeptotwinError, match="body surface"):
        dose_to_mg(25.0, "mg/m2")


@pytest.mark.parametrize(
    ("value", "unit", "kind", "kw", "expected"),
    [
        (1.0, "mL/min", "clearance", {}, 0.06),  # 1e-3 L x 60 /h
        (2.0, "L/h/kg", "clearance", {"body_weight_kg": 0.025}, 0.05),
        (3.0, "mL/min/kg", "clearance", {"body_weight_kg": 70.0}, 3 * 0.06 * 70),
        (12.0, "L/h/m2", "clearance", {"body_surface_m2": 1.8}, 21.6),
        (0.7, "L/kg", "volume", {"body_weight_kg": 70.0}, 49.0),
        (250.0, "mL", "volume", {}, 0.25),
        (0.5, "1/min", "rate", {}, 30.0),
        (2.4, "1/d", "rate", {}, 0.1),
        (35.0, "%", "fraction", {}, 0.35),
        (482.6, "g/mol", "molar_mass", {}, 482.6),
        (145.8, "kDa", "molar_mass", {}, 145_800.0),  # Da read as g/mol (biochemical convention)
        (25.0, "g", "mass", {}, 0.025),
        (35.0, "µL", "small_volume", {}, 0.035),
        (0.35, "µL/min", "flow", {}, 0.021),
        (2.0, "µM", "molar_conc", {}, 2000.0),
    ],
)
def test_catalogue_kinds_by_hand(value, unit, kind, kw, expected):
    assert convert(value, unit, kind, **kw) == pytest.approx(expected, rel=1e-14)


# ----------------------------------------------------------------------- against pint itself
@pytest.mark.parametrize(
    ("unit", "pint_unit"),
    [("pM", "pM"), ("nM", "nM"), ("uM", "uM"), ("mM", "mM"), ("M", "M"), ("fM", "fM")],
)
def test_molar_factors_equal_pint(unit, pint_unit):
    ureg = registry()
    want = ureg.Quantity(1.0, pint_unit).to("nM").magnitude
    assert concentration_unit(unit).factor == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("unit", ["pg/mL", "ng/mL", "ug/mL", "mg/mL", "mg/L", "g/L", "ng/L"])
def test_mass_factors_equal_pint(unit):
    ureg = registry()
    spec = concentration_unit(unit)
    assert not spec.molar
    assert spec.factor == pytest.approx(ureg.Quantity(1.0, unit).to("ng/mL").magnitude, rel=1e-15)
    mw = ureg.Quantity(321.0, "g/mol")
    want = (ureg.Quantity(7.0, unit) / mw).to("nM").magnitude
    assert to_nM(7.0, unit, molecular_weight_g_mol=321.0) == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize(("unit", "kind"), [(u, k) for k, v in CANONICAL.items() for u in v.units])
def test_every_catalogue_factor_equals_pint(unit, kind):
    """Each accepted unit's factor is pint's (Da and kDa as g/mol and kg/mol; m2 as m**2)."""
    ureg = registry()
    factor, per = CANONICAL[kind].factors[unit]
    spelled = {"Da": "g/mol", "kDa": "kg/mol"}.get(unit, unit).replace("m2", "m**2")
    canonical = CANONICAL[kind].canonical.replace("m2", "m**2")
    q = ureg.Quantity(1.0, spelled)
    if per is not None:
        q = q * ureg.Quantity(1.0, "kg" if per == "kg" else "m**2")
    assert factor == pytest.approx(q.to(canonical).magnitude, rel=1e-15)


def test_round_factors_are_exact():
    """pint goes through base units (1 µM is 999.9999999999999 nM there); the factors of round
    conversions are exact, so 2.5 µM and 2500 nM are the same dose."""
    assert concentration_unit("µM").factor == 1000.0
    assert 2.5 * concentration_unit("uM").factor == 2500.0
    assert concentration_unit("µM").factor_to(concentration_unit("nM")) == 1000.0
    assert concentration_unit("nM").factor_to(concentration_unit("µM")) == 0.001
    assert concentration_unit("nM").factor_to(concentration_unit("ng/mL")) is None
    assert CANONICAL["rate"].factors["1/d"][0] == pytest.approx(1 / 24, rel=1e-15)


# ----------------------------------------------------------------------- spellings
@pytest.mark.parametrize("micro", ["\u00b5", "\u03bc", "u"])
def test_every_micro_spelling(micro):
    assert concentration_unit(f"{micro}M") == units.ConcUnit("µM", True, 1000.0)
    assert concentration_unit(f"{micro}g/mL").name == "µg/mL"
    assert dose_to_mg(200.0, f"{micro}g") == pytest.approx(0.2)


@pytest.mark.parametrize(("text", "name"), [("nm", "nM"), ("UM", "µM"), ("mm", "mM"),
                                             ("NG/ML", "ng/mL"), (" nM ", "nM")])  # fmt: skip
def test_concentration_case_is_ignored_only_when_unambiguous(text, name):
    """``nm`` in a concentration column is nM (pint alone would read nanometres)."""
    assert concentration_unit(text).name == name


# ----------------------------------------------------------------------- refusals
def test_unknown_unit_furlong_is_refused_naming_where_and_what_is_accepted():
    with pytest.raises(LeptotwinError) as err:
        concentration_unit("furlong", source="matrix.csv", field="line 5, column conc_c_unit")
    text = str(err.value)
    assert text.startswith("matrix.csv: line 5, column conc_c_unit: not a concentration unit")
    assert "'furlong'" in text and "nM" in text and "ng/mL" in text
    with pytest.raises(LeptotwinError, match="not a dose unit.*'furlong/kg'"):
        dose_unit("furlong/kg", source="--regimen", field="dose")
    with pytest.raises(LeptotwinError, match="unit not accepted.*'furlong'.*convertible to L/h"):
        convert(1.0, "furlong", "clearance")
    assert not accepts("furlong", "clearance") and accepts("mL/h", "clearance")


@pytest.mark.parametrize(
    "text", ["", "   ", None, float("nan"), "xyz", "mg/kg", "%", "2*nM", "nM)", "\x00", "a" * 60]
)
def test_anything_not_a_concentration_is_refused(text):
    with pytest.raises(LeptotwinError, match="unit"):
        concentration_unit(text, source="s", field="f")


@pytest.mark.parametrize("text", ["mg/kg/day", "mg/mL", "kg/m", "", "m2"])
def test_anything_not_a_dose_is_refused(text):
    with pytest.raises(LeptotwinError, match="unit"):
        dose_unit(text)


# ----------------------------------------------------------------------- laziness
def test_pint_is_imported_and_built_only_on_first_use():
    """Importing the module, listing the catalogue's accepted units and the registry itself
    cost nothing until a unit is converted; then one registry serves every call."""
    code = (
        "import sys\n"
        "from leptotwin.catalog.units import CANONICAL, registry\n"
        "names = tuple(CANONICAL['clearance'].factors)\n"
        "assert 'pint' not in sys.modules, 'pint imported too early'\n"
        "from leptotwin.catalog.units import convert\n"
        "convert(1.0, 'mL/min', 'clearance')\n"
        "assert 'pint' in sys.modules and registry() is registry()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------- any text
_UNIT_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from(list("nµμumMgLlk/^*()2%. 1e-")), max_size=10),
)


@pytest.mark.fuzz
@given(text=_UNIT_TEXT)
def test_any_text_is_a_unit_or_refused(text):
    """pint raises many exception types on malformed text; users see only LeptotwinError."""
    for parse in (concentration_unit, dose_unit):
        try:
            spec = parse(text, source="s", field="f")
        except LeptotwinError as exc:
            assert "\n" not in str(exc)
            continue
        assert spec.factor > 0 and np.isfinite(spec.factor)
    try:
        convert(1.0, text, "clearance", body_weight_kg=1.0, body_surface_m2=1.0)
    except LeptotwinError:
        pass
