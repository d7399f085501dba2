"""The lab jobs' option grammar: --reference forms (one reference for all targets, or one per
target as the study does: miR-449a -> U6, AREG -> GAPDH)."""

from __future__ import annotations

import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study.lab_jobs import parse_references


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["GAPDH"], "GAPDH"),
        (["GAPDH", "ACTB"], ["GAPDH", "ACTB"]),
        (["GAPDH,ACTB"], ["GAPDH", "ACTB"]),
        (["GAPDH", "GAPDH"], "GAPDH"),
        (["miR-449a=U6", "AREG=GAPDH"], {"miR-449a": ["U6"], "AREG": ["GAPDH"]}),
        (["miR-449a=U6,AREG=GAPDH"], {"miR-449a": ["U6"], "AREG": ["GAPDH"]}),
        (["AREG=GAPDH+ACTB"], {"AREG": ["GAPDH", "ACTB"]}),
        (["AREG=GAPDH", "AREG=ACTB", " AREG = GAPDH "], {"AREG": ["GAPDH", "ACTB"]}),
    ],
)
def test_reference_forms(values, expected):
    assert parse_references(values) == expected


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([], "at least one reference gene is needed"),
        ([""], "at least one reference gene is needed"),
        (["GAPDH", "AREG=GAPDH"], "a plain reference mixed with TARGET=REFERENCE pairs"),
        (["=GAPDH"], "empty gene name"),
        (["AREG="], "empty gene name"),
        (["AREG=GAPDH+"], "empty gene name"),
        (["AREG=AREG"], "cannot be its own reference"),
        (["GAPDH,"], "empty reference gene name"),
    ],
)
def test_bad_references(values, match):
    with pytest.raises(LeptotwinError, match=match) as err:
        parse_references(values)
    assert str(err.value).startswith("--reference: ")
