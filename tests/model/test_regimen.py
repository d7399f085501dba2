"""Regimen text as people write it, and errors that point at the token."""

from __future__ import annotations

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
