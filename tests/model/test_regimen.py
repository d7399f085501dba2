"""Regimen text as people write it, and errors that point at the token."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.model import Regimen, parse_regimen


@pytest.mark.parametrize(
    ("text", "dose", "unit", "interval", "route", "times_30d"),
    [
        ("600 mg BID", 600, "mg", 12, "oral", np.arange(0, 721, 12)),
        ("50 mg/kg QD x 28 d", 50, "mg/kg", 24, "oral", np.arange(0, 672, 24)),
        ("1 mg q3.5d ip", 1, "mg", 84, "ip", np.arange(0, 721, 84)),
        ("80 mg QD days 1-14", 80, "mg", 24, "oral", np.arange(0, 336, 24)),
        ("80 mg QD days 3-4", 80, "mg", 24, "oral", np.array([48, 72])),
        ("100 mg QD x 10 doses", 100, "mg", 24, "oral", np.arange(0, 240, 24)),
        ("25 mg/kg po q12h for 2 weeks", 25, "mg/kg", 12, "oral", np.arange(0, 336, 12)),
        ("250 mg/m2 iv QW from day 8", 250, "mg/m2", 168, "iv", np.arange(168, 721, 168)),
        ("0.5 g once", 500, "mg", None, "oral", np.array([0])),
        ("5 MG/KG Q2W IP", 5, "mg/kg", 336, "ip", np.array([0, 336, 672])),
        ("200 ug/kg sc biw x 3 w", 0.2, "mg/kg", 84, "sc", np.arange(0, 504, 84)),
    ],
)
def test_parse_common_forms(text, dose, unit, interval, route, times_30d):
    (reg,) = parse_regimen(text)
    assert reg.dose == pytest.approx(dose)
    assert reg.dose_unit == unit
    assert reg.interval_h == interval
    assert reg.route == route
    np.testing.assert_allclose(reg.dose_times_h(720.0), times_30d)


def test_loading_then_maintenance():
    load, maint = parse_regimen("400 mg/m2 iv once; 250 mg/m2 iv QW from day 8")
    assert load.dose_times_h(1000).tolist() == [0.0]
    assert maint.dose_times_h(500).tolist() == [168.0, 336.0]


def test_missed_doses_removed():
    reg = parse_regimen("10 mg QD")[0].with_missed({1, 3})
    assert reg.dose_times_h(5 * 24).tolist() == [0.0, 48.0, 96.0, 120.0]


def test_dose_scaling():
    (reg,) = parse_regimen("50 mg/kg QD")
    assert reg.dose_mg(body_weight_kg=0.025, body_surface_m2=0.0078) == pytest.approx(1.25)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("600 mg BIDD", r"token 'BIDD' \(position 7\): unknown word"),
        ("600 mgs BID", r"token 'mgs' .*needs a unit"),
        ("0 mg QD", r"token '0'.*dose must be positive"),
        ("-5 mg QD", r"token '-5'.*starts with the dose"),
        ("mg QD", r"token 'mg'.*starts with the dose"),
        ("600 mg", r"no dosing frequency"),
        ("50 mg/kg QD x -3 d", r"token '-3'.*must be positive"),
        ("50 mg/kg QD x 0 d", r"token '0'.*must be positive"),
        ("50 mg/kg QD x 3 fortnights", r"token 'fortnights'.*unknown duration unit"),
        ("80 mg QD days 14-1", r"runs backwards"),
        ("80 mg QD days 0-3", r"numbered from 1"),
        ("", r"empty regimen"),
    ],
)
def test_errors_point_at_the_token(text, pattern):
    with pytest.raises(LeptotwinError, match=pattern):
        parse_regimen(text)


def test_regimen_validation():
    with pytest.raises(LeptotwinError, match="dose must be positive"):
        Regimen(dose=-1.0)
    with pytest.raises(LeptotwinError, match="unknown route.*oral, iv, ip, sc"):
        Regimen(dose=1.0, route="intranasal")
    with pytest.raises(LeptotwinError, match="interval must be positive"):
        Regimen(dose=1.0, interval_h=0.0)


# --------------------------------------------------------------------------- issue 12
NINES = "9" * 400  # reads as float('inf')


@pytest.mark.parametrize(
    ("text", "pattern"),
    [  # each crashed (OverflowError, RuntimeWarning), was accepted, or blamed the wrong thing
        (f"1 mg QD x {NINES}doses", r"number of doses is out of range \(got .*at most 1e\+07"),
        (f"1 mg QD from day {NINES}", r"token '9{10}.*day out of range .*expected a day <= 36525"),
        (f"1 mg q{NINES}h", r"interval out of range"),
        ("1 mg q0.0000001h", r"token 'q0.0000001h' \(position 5\): interval out of range "
                             r"\(got .*\); expected 15 min to 100 years"),
        (f"{NINES} mg QD", r"dose of a kilogram or more"),
        ("1000 g QD", r"token '1000' \(position 0\): dose of a kilogram or more"),
        ("1 mg QD x 1e308 d", r"token '1e308'.*duration is not a number"),
        ("1 mg QD x 36526 d", r"token '36526'.*duration is out of range"),
        ("1 mg QD days 1-36526", r"day out of range"),
        ("100 mg QD BID", r"token 'BID' \(position 10\): a second dosing frequency \(the first "
                          r"is 'QD'\)"),
        ("100 mg po QD iv", r"token 'iv'.*a second route \(the first is 'po'\)"),
        ("100 mg QD x 2 w for 3 d", r"token 'for'.*a second duration"),
        ("80 mg QD days 1-14 from day 8", r"token 'from'.*a day window and a second start"),
        ("80 mg QD x 28 d days 1-14", r"token 'x'.*a day window and a second start or end"),
        ("400 mg/m2 iv once; 250 mg/m2 iv QWW", r"token 'QWW' \(position 32\)"),
        ("1 mg QD days 1 to", r"at the end: last day is missing"),
        ("50 mg/kg QD ×28 d zz", r"token 'zz' \(position 18\)"),  # was 20: '×' became ' x '
        ("50 mg/kg QD x 28 d; 1 mg QW qq", r"token 'qq' \(position 28\)"),  # was 10: in the part
    ],
)  # fmt: skip
def test_absurd_or_contradictory_regimens_point_at_the_token(text, pattern):
    with pytest.raises(LeptotwinError, match=pattern) as info:
        parse_regimen(text)
    assert "\n" not in str(info.value)


def test_duration_counts_from_the_first_day_wherever_written():
    """'x 28 d from day 8' stopped on day 28 (the duration was counted from t = 0)."""
    for text in ("250 mg QD x 28 d from day 8", "250 mg QD from day 8 x 28 d"):
        (reg,) = parse_regimen(text)
        assert (reg.start_h, reg.stop_h) == (168.0, 168.0 + 672.0)
        assert reg.dose_times_h(2000.0).tolist() == list(np.arange(168.0, 840.0, 24.0))


def test_dose_count_and_duration_are_both_kept():
    """'x 10 doses for 2 weeks' silently dropped the dose count."""
    (reg,) = parse_regimen("100 mg QD x 10 doses for 2 weeks")
    assert (reg.n_doses, reg.stop_h) == (10, 336.0)
    assert reg.dose_times_h(1000.0).size == 10


@pytest.mark.parametrize("text", ["80 mg QD days 1 - 14", "80 mg QD days 1 to 14"])
def test_spaced_day_ranges(text):
    (reg,) = parse_regimen(text)
    assert (reg.start_h, reg.stop_h) == (0.0, 336.0)


def test_regimen_object_refuses_non_finite_and_huge_values():
    with pytest.raises(LeptotwinError, match="stop must come after start"):
        Regimen(dose=1.0, start_h=float("inf"))
    with pytest.raises(LeptotwinError, match="interval out of range"):
        Regimen(dose=1.0, interval_h=float("inf"))
    with pytest.raises(LeptotwinError, match="interval out of range"):
        Regimen(dose=1.0, interval_h=1e-9)
    with pytest.raises(LeptotwinError, match="number of doses must be a whole number"):
        Regimen(dose=1.0, n_doses=2.5)  # type: ignore[arg-type]
    reg = Regimen(dose=1.0, interval_h=0.25)
    with pytest.raises(LeptotwinError, match=r"12,000,001 administrations before the horizon"):
        reg.dose_times_h(3e6)
    with pytest.raises(LeptotwinError, match="horizon must be a finite number"):
        reg.dose_times_h(float("nan"))


@pytest.mark.parametrize(
    "text",
    ["600 mg BID", "50 mg/kg QD x 28 d", "1 mg q3.5d ip", "80 mg QD days 1-14",
     "400 mg/m2 iv once", "250 mg/m2 iv QW from day 8", "100 mg QD x 10 doses for 2 weeks",
     "200 ug/kg sc biw x 3 w", "5 mg q7h days 3-9"],
)  # fmt: skip
def test_to_text_reads_back(text):
    (reg,) = parse_regimen(text)
    (back,) = parse_regimen(reg.to_text())
    assert back == replace(reg, text=back.text)
