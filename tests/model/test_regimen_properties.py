"""Property tests of the regimen grammar (issue 12): any text gives regimens that are right or
one LeptotwinError pointing at a token of that text; never another exception.

Texts are random strings, random sequences of the grammar's own words with absurd numbers
(0, negatives, 1e308, nan, 400-digit numbers, q1e-9h, huge day ranges), and regimens composed
by the grammar, whose meaning the test computes from the documented rules. Regimens read back
from :meth:`Regimen.to_text`. ``make test`` runs 200 cases per property, ``make fuzz`` 10,000.
"""

from __future__ import annotations

import ast
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.errors import LeptotwinError
from leptotwin.model.regimen import (
    MAX_DAY,
    MAX_DOSE,
    MAX_DOSES,
    MAX_SPAN_H,
    MIN_INTERVAL_H,
    ROUTES,
    Regimen,
    parse_regimen,
)

pytestmark = pytest.mark.fuzz

POINTER = re.compile(  # the token as Python writes a string (repr), then its position
    r"cannot read at token (?P<tok>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r" \(position (?P<pos>\d+)\)"
)
FREQ_H = {
    "qd": 24.0, "od": 24.0, "daily": 24.0, "q24h": 24.0, "bid": 12.0, "tid": 8.0, "qid": 6.0,
    "qod": 48.0, "qw": 168.0, "weekly": 168.0, "biw": 84.0, "q2w": 336.0,
}  # fmt: skip
ROUTE_WORDS = {
    "po": "oral", "p.o.": "oral", "oral": "oral", "orally": "oral", "gavage": "oral", "iv": "iv",
    "i.v.": "iv", "ip": "ip", "i.p.": "ip", "sc": "sc", "s.c.": "sc",
}  # fmt: skip
MASS_MG = {"mg": 1.0, "g": 1000.0, "ug": 1e-3, "µg": 1e-3, "mcg": 1e-3}
NUMBER_TEXT = st.one_of(
    st.sampled_from(["0", "-1", "1", "1.5", "600", "0.5", "1e308", "nan", "inf", "9" * 400,
                     "0.0000001", "36525", "36526", "1e-9", "1_000", "½", "\u0663", "+2", "08"]),
    st.integers(-10, 10**7).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(min_value=0, max_value=10**6, places=3).map(str),
)  # fmt: skip
WORDS = st.one_of(
    NUMBER_TEXT,
    st.sampled_from([*FREQ_H, "once", "single", "stat", *ROUTE_WORDS, *MASS_MG, "mg/kg", "mg/m2",
                     "mg/m²", "g/kg", "kg", "x", "×", "for", "days", "day", "d", "from", "-", "–",
                     "to", "doses", "dose", "weeks", "w", "h", "hours", "wk", ";", ",", "1-14",
                     "14-1", "0-3", "3-3", "1-99999", "BID", "QD", "Q2W", "IV", "fortnights"]),
    st.builds(lambda n, u: f"q{n}{u}", NUMBER_TEXT, st.sampled_from(["h", "d", "w", "m", ""])),
    st.builds(lambda n, u: f"{n}{u}", NUMBER_TEXT, st.sampled_from(["mg", "mg/kg", "d", "doses"])),
    st.text(max_size=4),
)  # fmt: skip


def _norm(text: str) -> str:
    """The text with the same-length substitutions the tokenizer makes."""
    return text.replace("×", "x").replace("–", "-").replace(",", " ")


def _parse(text: str) -> tuple[Regimen, ...] | None:
    """parse_regimen's result (checked), or None after an error that points into the text."""
    try:
        regs = parse_regimen(text)
    except LeptotwinError as err:
        assert "\n" not in str(err) and err.source == "regimen"
        m = POINTER.search(err.message)
        if m is not None:  # a token: it is where the error says, in the text as given
            pos, tok = int(m.group("pos")), ast.literal_eval(m.group("tok"))
            assert _norm(text)[pos : pos + len(tok)] == tok, (text, pos, tok)
        else:
            assert "at the end" in err.message or err.message == "empty regimen", err.message
        return None
    for reg in regs:
        _check_valid(reg)
    return regs


def _check_valid(reg: Regimen) -> None:
    assert math.isfinite(reg.dose) and 0 < reg.dose < MAX_DOSE
    assert reg.dose_unit in ("mg", "mg/kg", "mg/m2") and reg.route in ROUTES
    assert reg.interval_h is None or MIN_INTERVAL_H <= reg.interval_h <= MAX_SPAN_H
    assert math.isfinite(reg.start_h) and reg.start_h >= 0
    assert reg.stop_h is None or (math.isfinite(reg.stop_h) and reg.stop_h > reg.start_h)
    assert reg.n_doses is None or 1 <= reg.n_doses <= MAX_DOSES
    times = reg.dose_times_h(24.0 * 60)
    assert (np.diff(times) > 0).all() and (times >= reg.start_h).all()
    if reg.stop_h is not None:
        assert (times < reg.stop_h).all()
    if reg.n_doses is not None:
        assert times.size <= reg.n_doses


def _close(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9)


def _same(a: Regimen, b: Regimen) -> bool:
    return (
        a.dose == b.dose and a.dose_unit == b.dose_unit and a.interval_h == b.interval_h
        and a.route == b.route and _close(a.start_h, b.start_h) and _close(a.stop_h, b.stop_h)
        and a.n_doses == b.n_doses
    )  # fmt: skip


@given(text=st.text(max_size=80))
def test_random_text(text):
    _parse(text)


@given(words=st.lists(WORDS, max_size=12), joiner=st.sampled_from([" ", "  ", ", ", " ; "]))
def test_random_words_of_the_grammar(words, joiner):
    """Words of the grammar in any order, with absurd numbers: valid regimens that read back
    from their text, or an error pointing at a token."""
    regs = _parse(joiner.join(words))
    for reg in regs or ():
        (back,) = parse_regimen(reg.to_text())
        assert _same(back, reg), (reg, reg.to_text(), back)


@st.composite
def composed(draw) -> tuple[str, dict]:
    """A regimen written by the grammar's rules, and what it means by them."""
    unit = draw(st.sampled_from(list(MASS_MG)))
    top = "999.999" if unit == "g" else "99999"  # doses stay below a kilogram
    amount = draw(st.decimals(min_value="0.001", max_value=top, places=3))
    per = draw(st.sampled_from(["", "/kg", "/m2"]))
    dose = float(str(amount)) * MASS_MG[unit]
    words = [draw(st.sampled_from([f"{amount} {unit}{per}", f"{amount}{unit}{per}"]))]
    clauses, want = [], {"dose": dose, "dose_unit": "mg" + per, "route": "oral", "start_h": 0.0,
                         "stop_h": None, "n_doses": None}  # fmt: skip
    kind = draw(st.sampled_from(["named", "qn", "once"]))
    if kind == "named":
        word = draw(st.sampled_from(list(FREQ_H)))
        clauses.append(draw(st.sampled_from([word, word.upper()])))
        want["interval_h"] = FREQ_H[word]
    elif kind == "qn":
        n, u = draw(st.sampled_from([(0.25, "h"), (1, "h"), (7, "h"), (3.5, "d"), (2, "w")]))
        clauses.append(f"q{n}{u}")
        want["interval_h"] = n * {"h": 1.0, "d": 24.0, "w": 168.0}[u]
    else:
        clauses.append("once")
        want["interval_h"] = None
    if draw(st.booleans()):
        word = draw(st.sampled_from(list(ROUTE_WORDS)))
        clauses.append(word)
        want["route"] = ROUTE_WORDS[word]
    timing = draw(st.sampled_from(["none", "window", "from", "from+for", "for", "count"]))
    first = draw(st.integers(1, 400))
    length = draw(st.integers(1, 400))
    if timing == "window":
        clauses.append(draw(st.sampled_from([f"days {first}-{first + length}",
                                             f"days {first} to {first + length}"])))  # fmt: skip
        want["start_h"], want["stop_h"] = (first - 1) * 24.0, (first + length) * 24.0
    if timing.startswith("from"):
        clauses.append(f"from day {first}")
        want["start_h"] = (first - 1) * 24.0
    if timing in ("from+for", "for"):
        clauses.append(draw(st.sampled_from([f"x {length} d", f"for {length} days",
                                             f"x {length}d", f"× {length} d"])))  # fmt: skip
        want["stop_h"] = want["start_h"] + length * 24.0
    if timing == "count":
        clauses.append(f"x {length} doses")
        want["n_doses"] = length
    order = draw(st.permutations(range(len(clauses))))
    return " ".join(words + [clauses[k] for k in order]), want


@given(regimen=composed())
def test_composed_regimens_mean_what_the_rules_say(regimen):
    """Any order of clauses: the same regimen, exactly as the documented rules give it."""
    text, want = regimen
    (reg,) = parse_regimen(text)
    for key, value in want.items():
        assert getattr(reg, key) == value, (text, key, getattr(reg, key), value)
    _check_valid(reg)


@given(
    dose=st.floats(min_value=1e-6, max_value=MAX_DOSE, exclude_max=True),
    unit=st.sampled_from(["mg", "mg/kg", "mg/m2"]),
    interval=st.one_of(st.none(), st.floats(MIN_INTERVAL_H, MAX_SPAN_H)),
    route=st.sampled_from(ROUTES),
    start_day=st.one_of(st.just(0.0), st.floats(0, MAX_DAY - 1)),
    span=st.one_of(st.none(), st.floats(1e-3, MAX_SPAN_H)),
    n_doses=st.one_of(st.none(), st.integers(1, MAX_DOSES)),
)
def test_to_text_reads_back(dose, unit, interval, route, start_day, span, n_doses):
    """Every Regimen (without missed doses) is written in words that read back as itself."""
    start = start_day * 24.0
    reg = Regimen(dose=dose, dose_unit=unit, interval_h=interval, route=route, start_h=start,
                  stop_h=None if span is None else start + span, n_doses=n_doses)  # fmt: skip
    (back,) = parse_regimen(reg.to_text())
    assert _same(back, reg), (reg, reg.to_text(), back)
