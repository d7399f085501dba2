"""Dosing regimens and a parser for the way people write them.

Accepted text (case-insensitive, tokens separated by spaces; several regimens joined by ``;``)::

    600 mg BID                   50 mg/kg QD x 28 d          1 mg q3.5d ip
    80 mg QD days 1-14           250 mg/m2 iv QW from day 8  400 mg/m2 iv once
    25 mg/kg po q12h for 2 weeks 100 mg QD x 10 doses

Dose units: ``mg``, ``g``, ``ug``/``µg`` optionally ``/kg`` or ``/m2``. Frequencies: ``once``,
``QD``/``OD``/``daily``, ``BID``, ``TID``, ``QID``, ``QOD``, ``QW``/``weekly``, ``BIW`` (twice
weekly, 3.5-day interval), ``Q2W``, ``q<N>h``, ``q<N>d``. Routes: ``po``/``oral``, ``iv``, ``ip``,
``sc``. Timing: ``x <N> d|w|doses``, ``for <N> days|weeks``, ``days A-B`` (day 1 starts at t = 0 h),
``day A``, ``from day A``. Missed doses are given as 0-based dose indices.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from leptotwin.errors import LeptotwinError

__all__ = ["ROUTES", "Regimen", "parse_regimen"]

ROUTES = ("oral", "iv", "ip", "sc")
_ROUTE_ALIASES = {
    "po": "oral",
    "p.o.": "oral",
    "oral": "oral",
    "orally": "oral",
    "gavage": "oral",
    "iv": "iv",
    "i.v.": "iv",
    "ip": "ip",
    "i.p.": "ip",
    "sc": "sc",
    "s.c.": "sc",
}
_FREQ_H = {
    "qd": 24.0,
    "od": 24.0,
    "daily": 24.0,
    "q24h": 24.0,
    "bid": 12.0,
    "tid": 8.0,
    "qid": 6.0,
    "qod": 48.0,
    "qw": 168.0,
    "weekly": 168.0,
    "biw": 84.0,
    "q2w": 336.0,
}
_MASS_MG = {"mg": 1.0, "g": 1000.0, "ug": 1e-3, "µg": 1e-3, "mcg": 1e-3}
_DOSE_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>mg|g|ug|µg|mcg)?(?:/(?P<per>kg|m2|m²))?$")
_UNIT_RE = re.compile(r"^(?P<unit>mg|g|ug|µg|mcg)(?:/(?P<per>kg|m2|m²))?$")
_QN_RE = re.compile(r"^q(?P<n>\d+(?:\.\d+)?)(?P<u>h|d|w)$")
_DUR_UNITS_H = {
    "h": 1.0,
    "hours": 1.0,
    "d": 24.0,
    "day": 24.0,
    "days": 24.0,
    "w": 168.0,
    "wk": 168.0,
    "week": 168.0,
    "weeks": 168.0,
}


@dataclass(frozen=True)
class Regimen:
    """One repeated dose.

    Attributes
    ----------
    dose : float
        Amount per administration in ``dose_unit``.
    dose_unit : {"mg", "mg/kg", "mg/m2"}
    interval_h : float or None
        Hours between doses; None for a single dose.
    route : {"oral", "iv", "ip", "sc"}
        ``iv`` is a bolus into the central compartment; the others are first-order absorption.
    start_h : float
        Time of the first dose (h).
    stop_h : float or None
        Doses are given at ``t < stop_h``; None means until the end of the simulation.
    n_doses : int or None
        At most this many administrations.
    missed : frozenset of int
        0-based indices of administrations that were skipped.
    text : str
        The text the regimen was parsed from, if any.
    """

    dose: float
    dose_unit: str = "mg"
    interval_h: float | None = 24.0
    route: str = "oral"
    start_h: float = 0.0
    stop_h: float | None = None
    n_doses: int | None = None
    missed: frozenset[int] = field(default_factory=frozenset)
    text: str = ""

    def __post_init__(self) -> None:
        src = f"regimen {self.text!r}" if self.text else "regimen"
        if not (math.isfinite(self.dose) and self.dose > 0):
            raise LeptotwinError("dose must be positive", source=src, field="dose", value=self.dose)
        if self.dose_unit not in ("mg", "mg/kg", "mg/m2"):
            raise LeptotwinError(
                "unknown dose unit",
                source=src,
                field="dose_unit",
                value=self.dose_unit,
                expected="mg, mg/kg or mg/m2",
            )
        if self.interval_h is not None and not (self.interval_h > 0):
            raise LeptotwinError(
                "interval must be positive", source=src, field="interval_h", value=self.interval_h
            )
        if self.route not in ROUTES:
            raise LeptotwinError(
                "unknown route",
                source=src,
                field="route",
                value=self.route,
                expected="one of " + ", ".join(ROUTES),
            )
        if self.start_h < 0 or (self.stop_h is not None and self.stop_h <= self.start_h):
            raise LeptotwinError(
                "stop must come after start, and start must be >= 0",
                source=src,
                field="start_h/stop_h",
                value=(self.start_h, self.stop_h),
            )
        if self.n_doses is not None and self.n_doses < 1:
            raise LeptotwinError(
                "number of doses must be at least 1",
                source=src,
                field="n_doses",
                value=self.n_doses,
            )

    def with_missed(self, missed: set[int] | frozenset[int] | list[int]) -> Regimen:
        """A copy with these 0-based administrations skipped (added to those already missed)."""
        return replace(self, missed=frozenset(self.missed) | frozenset(int(m) for m in missed))

    def dose_times_h(self, horizon_h: float) -> np.ndarray:
        """Times (h) of the administrations given before ``horizon_h`` (inclusive), missed ones
        removed. Returns an array of shape (n_doses,)."""
        if self.interval_h is None:
            times = np.array([self.start_h])
        else:
            end = horizon_h if self.stop_h is None else min(horizon_h, self.stop_h - 1e-9)
            n = math.floor((end - self.start_h) / self.interval_h + 1e-9) + 1
            times = self.start_h + self.interval_h * np.arange(max(n, 0))
        if self.n_doses is not None:
            times = times[: self.n_doses]
        if self.stop_h is not None:
            times = times[times < self.stop_h]
        if self.missed:
            times = times[~np.isin(np.arange(times.size), list(self.missed))]
        return times[times <= horizon_h]

    def dose_mg(self, *, body_weight_kg: float, body_surface_m2: float) -> float:
        """Amount per administration in mg for a subject of this size."""
        if self.dose_unit == "mg/kg":
            return self.dose * body_weight_kg
        if self.dose_unit == "mg/m2":
            return self.dose * body_surface_m2
        return self.dose


def _fail(text: str, token: str, pos: int, why: str, expected: str) -> LeptotwinError:
    pointer = f"at token {token!r} (position {pos})" if token else "at the end"
    return LeptotwinError(
        f"cannot read {pointer}: {why}", source="regimen", value=text, expected=expected
    )


def _tokens(text: str) -> list[tuple[str, int]]:
    norm = text.replace("×", " x ").replace("–", "-").replace(",", " ")
    return [(m.group(0), m.start()) for m in re.finditer(r"\S+", norm)]


def _parse_one(text: str) -> Regimen:
    toks = _tokens(text)
    if not toks:
        raise _fail(text, "", len(text), "empty regimen", "e.g. '600 mg BID'")
    tok, pos = toks[0]
    low = tok.lower()
    m = _DOSE_RE.match(low)
    if not m:
        raise _fail(text, tok, pos, "a regimen starts with the dose", "a number such as '600'")
    dose = float(m.group("num"))
    unit, per = m.group("unit"), m.group("per")
    i = 1
    if unit is None:
        if i < len(toks) and (mu := _UNIT_RE.match(toks[i][0].lower())):
            unit, per = mu.group("unit"), mu.group("per")
            i += 1
        else:
            t, p = toks[i] if i < len(toks) else ("", len(text))
            raise _fail(text, t, p, "the dose needs a unit", "mg, mg/kg or mg/m2")
    dose *= _MASS_MG[unit]
    if dose <= 0:
        raise _fail(text, toks[0][0], toks[0][1], "dose must be positive", "a dose > 0")
    dose_unit = "mg" if per is None else ("mg/kg" if per == "kg" else "mg/m2")

    interval: float | None = None
    freq_seen = False
    route = "oral"
    start_h, stop_h, n_doses = 0.0, None, None
    while i < len(toks):
        tok, pos = toks[i]
        low = tok.lower()
        nxt = toks[i + 1][0].lower() if i + 1 < len(toks) else ""
        if low in _FREQ_H:
            interval, freq_seen = _FREQ_H[low], True
        elif low in ("once", "single", "stat"):
            interval, freq_seen = None, True
        elif (mq := _QN_RE.match(low)) is not None:
            n = float(mq.group("n"))
            if n <= 0:
                raise _fail(text, tok, pos, "interval must be positive", "e.g. q12h or q3.5d")
            interval = n * _DUR_UNITS_H[mq.group("u")]
            freq_seen = True
        elif low in _ROUTE_ALIASES:
            route = _ROUTE_ALIASES[low]
        elif low in ("x", "for"):
            i, stop_h, n_doses = _parse_duration(text, toks, i, start_h)
            continue
        elif low in ("days", "day", "d") and i + 1 < len(toks):
            i, start_h, stop_h = _parse_days(text, toks, i)
            continue
        elif low == "from" and nxt == "day":
            i, start_h, _ = _parse_days(text, toks, i + 1, single_is_start=True)
            continue
        else:
            raise _fail(
                text,
                tok,
                pos,
                "unknown word",
                "a frequency (QD, BID, q12h, once), a route (po, iv, ip, sc) or timing "
                "(x 28 d, for 2 weeks, days 1-14, from day 8)",
            )
        i += 1
    if not freq_seen:
        raise _fail(
            text,
            "",
            len(text),
            "no dosing frequency",
            "a frequency such as QD, BID, q12h, QW or once",
        )
    if stop_h is not None and stop_h <= start_h:
        raise _fail(text, "", len(text), "the course ends before it starts", "a positive duration")
    return Regimen(
        dose=dose,
        dose_unit=dose_unit,
        interval_h=interval,
        route=route,
        start_h=start_h,
        stop_h=stop_h,
        n_doses=n_doses,
        text=text.strip(),
    )


def _number(text: str, toks: list[tuple[str, int]], j: int, what: str) -> float:
    if j >= len(toks):
        raise _fail(text, "", len(text), f"{what} is missing", "a number")
    tok, pos = toks[j]
    try:
        value = float(tok)
    except ValueError:
        raise _fail(text, tok, pos, f"{what} is not a number", "a number") from None
    if not math.isfinite(value) or value <= 0:
        raise _fail(text, tok, pos, f"{what} must be positive", "a number > 0")
    return value


def _parse_duration(text, toks, i, start_h):  # type: ignore[no-untyped-def]
    j = i + 1
    if j < len(toks) and (m := re.match(r"^(\d+(?:\.\d+)?)([a-z]+)$", toks[j][0].lower())):
        num, unit, j_next = float(m.group(1)), m.group(2), j + 1
        if num <= 0:
            raise _fail(text, toks[j][0], toks[j][1], "duration must be positive", "a number > 0")
    else:
        num = _number(text, toks, j, "duration")
        if j + 1 >= len(toks):
            raise _fail(text, "", len(text), "duration needs a unit", "d, days, w, weeks or doses")
        unit, j_next = toks[j + 1][0].lower(), j + 2
    if unit in ("dose", "doses"):
        if num != int(num):
            raise _fail(
                text, toks[j][0], toks[j][1], "a number of doses must be whole", "an integer"
            )
        return j_next, None, int(num)
    if unit not in _DUR_UNITS_H:
        tok, pos = toks[j_next - 1]
        raise _fail(text, tok, pos, "unknown duration unit", "h, d, days, w, weeks or doses")
    return j_next, start_h + num * _DUR_UNITS_H[unit], None


def _parse_days(text, toks, i, single_is_start=False):  # type: ignore[no-untyped-def]
    j = i + 1
    if j >= len(toks):
        raise _fail(text, "", len(text), "day number is missing", "e.g. 'days 1-14'")
    tok, pos = toks[j]
    m = re.match(r"^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$", tok)
    if not m:
        raise _fail(text, tok, pos, "cannot read the day range", "e.g. 'days 1-14' or 'day 8'")
    first = float(m.group(1))
    if first < 1:
        raise _fail(text, tok, pos, "days are numbered from 1", "a day >= 1")
    start_h = (first - 1) * 24.0
    if m.group(2) is not None:
        last = float(m.group(2))
        if last < first:
            raise _fail(text, tok, pos, "the day range runs backwards", "first <= last")
        return j + 1, start_h, last * 24.0
    if single_is_start:
        return j + 1, start_h, None
    return j + 1, start_h, start_h + 24.0


def parse_regimen(text: str) -> tuple[Regimen, ...]:
    """Parse one or more regimens (joined by ``;``) from text.

    Returns
    -------
    tuple of Regimen
        One entry per ``;``-separated part, e.g. a loading dose and a maintenance schedule.

    Raises
    ------
    LeptotwinError
        Naming the token that could not be read and what was expected there.

    Examples
    --------
    >>> parse_regimen("50 mg/kg QD x 28 d")[0].stop_h
    672.0
    """
    if not isinstance(text, str) or not text.strip():
        raise LeptotwinError(
            "empty regimen", source="regimen", value=text, expected="e.g. '600 mg BID'"
        )
    return tuple(_parse_one(part) for part in text.split(";") if part.strip())


def _as_regimens(regimen: str | Regimen | Sequence[Regimen]) -> tuple[Regimen, ...]:
    """Regimen text, one Regimen or a sequence of them, as a tuple of Regimen."""
    if isinstance(regimen, str):
        return parse_regimen(regimen)
    if isinstance(regimen, Regimen):
        return (regimen,)
    regs = tuple(regimen)
    if not regs or not all(isinstance(r, Regimen) for r in regs):
        raise LeptotwinError(
            "expected regimen text, a Regimen or a sequence of Regimen",
            field="regimen",
            value=regimen,
        )
    return regs


def _shifted(regs: tuple[Regimen, ...], hours: float) -> tuple[Regimen, ...]:
    """The regimens moved ``hours`` later (start and stop)."""
    return tuple(
        replace(r, start_h=r.start_h + hours, stop_h=None if r.stop_h is None else r.stop_h + hours)
        for r in regs
    )
