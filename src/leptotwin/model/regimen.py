"""Dosing regimens and a parser for the way people write them.

Accepted text (case-insensitive, tokens separated by spaces; several regimens joined by ``;``)::

    600 mg BID                   50 mg/kg QD x 28 d          1 mg q3.5d ip
    80 mg QD days 1-14           250 mg/m2 iv QW from day 8  400 mg/m2 iv once
    25 mg/kg po q12h for 2 weeks 100 mg QD x 10 doses

Dose units: ``mg``, ``g``, ``ug``/``µg`` optionally ``/kg`` or ``/m2``. Frequencies: ``once``,
``QD``/``OD``/``daily``, ``BID``, ``TID``, ``QID``, ``QOD``, ``QW``/``weekly``, ``BIW`` (twice
weekly, 3.5-day interval), ``Q2W``, ``q<N>h``, ``q<N>d``. Routes: ``po``/``oral``, ``iv``, ``ip``,
``sc``. Timing: ``x <N> h|d|w|doses``, ``for <N> hours|days|weeks|doses``, ``days A-B`` (also
``days A - B``, ``days A to B``; day 1 starts at t = 0 h), ``day A``, ``from day A``. Missed doses
are given as 0-based dose indices.

Each kind of clause appears at most once (two frequencies or two routes are an error, not the
last one winning); a duration counts from the first day wherever it is written (``x 28 d from
day 8`` is days 8-35); a day window does not combine with ``from day`` or a duration. Numbers are
plain decimals within bounds that catch typos, not plausibility (:data:`MAX_DOSE`,
:data:`MIN_INTERVAL_H`, :data:`MAX_SPAN_H`, :data:`MAX_DAY`, :data:`MAX_DOSES`).
:meth:`Regimen.to_text` writes a regimen back in this grammar.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from leptotwin.errors import LeptotwinError

__all__ = [
    "MAX_DAY",
    "MAX_DOSE",
    "MAX_DOSES",
    "MAX_SPAN_H",
    "MIN_INTERVAL_H",
    "ROUTES",
    "Regimen",
    "doses_by_route",
    "parse_regimen",
]

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
_FREQ_NAMES = {24.0: "QD", 12.0: "BID", 8.0: "TID", 6.0: "QID", 48.0: "QOD", 168.0: "QW",
               84.0: "BIW", 336.0: "Q2W"}  # fmt: skip
_MASS_MG = {"mg": 1.0, "g": 1000.0, "ug": 1e-3, "µg": 1e-3, "mcg": 1e-3}
_DOSE_RE = re.compile(r"^(?P<num>\d+(?:\.\d+)?)(?P<unit>mg|g|ug|µg|mcg)?(?:/(?P<per>kg|m2|m²))?$")
_UNIT_RE = re.compile(r"^(?P<unit>mg|g|ug|µg|mcg)(?:/(?P<per>kg|m2|m²))?$")
_QN_RE = re.compile(r"^q(?P<n>\d+(?:\.\d+)?)(?P<u>h|d|w)$")
MIN_INTERVAL_H = 0.25
"""Shortest dosing interval (h): a dose more often than every 15 minutes is an infusion, which a
regimen here does not describe (and would make millions of doses of a long simulation)."""
MAX_SPAN_H = 100 * 8766.0
"""Longest interval, duration or start (h) a regimen may name: a century (8,766 h a year)."""
MAX_DAY = MAX_SPAN_H / 24.0
"""Highest day number a regimen may name (36,525)."""
MAX_DOSE = 1e6
"""Doses per administration must stay below this in their unit (mg, mg/kg or mg/m2): a kilogram
(per kilogram or per m2) is a typo, not a dose. Plausibility for a species is checked elsewhere."""
MAX_DOSES = 10_000_000
"""Most administrations a regimen may count (``x N doses``) or give before a horizon."""
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
        if not (math.isfinite(self.dose) and 0 < self.dose < MAX_DOSE):
            raise LeptotwinError(
                "dose must be positive and below a kilogram",
                source=src,
                field="dose",
                value=self.dose,
                expected=f"0 < dose < {MAX_DOSE:g} (in dose_unit)",
            )
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
        if self.interval_h is not None and not (MIN_INTERVAL_H <= self.interval_h <= MAX_SPAN_H):
            raise LeptotwinError(
                "interval out of range",
                source=src,
                field="interval_h",
                value=self.interval_h,
                expected=f"{MIN_INTERVAL_H:g} to {MAX_SPAN_H:g} h",
            )
        if self.route not in ROUTES:
            raise LeptotwinError(
                "unknown route",
                source=src,
                field="route",
                value=self.route,
                expected="one of " + ", ".join(ROUTES),
            )
        self._check_times(src)
        if self.n_doses is not None and not (
            isinstance(self.n_doses, int | np.integer) and 1 <= self.n_doses <= MAX_DOSES
        ):
            raise LeptotwinError(
                "number of doses must be a whole number from 1",
                source=src,
                field="n_doses",
                value=self.n_doses,
                expected=f"1 to {MAX_DOSES:,}",
            )

    def _check_times(self, src: str) -> None:
        stop = self.stop_h
        ok = math.isfinite(self.start_h) and (stop is None or math.isfinite(stop))
        if not ok or self.start_h < 0 or (stop is not None and stop <= self.start_h):
            raise LeptotwinError(
                "stop must come after start, and start must be >= 0",
                source=src,
                field="start_h/stop_h",
                value=(self.start_h, self.stop_h),
                expected="finite hours, 0 <= start_h < stop_h",
            )

    def with_missed(self, missed: set[int] | frozenset[int] | list[int]) -> Regimen:
        """A copy with these 0-based administrations skipped (added to those already missed)."""
        return replace(self, missed=frozenset(self.missed) | frozenset(int(m) for m in missed))

    def dose_times_h(self, horizon_h: float) -> np.ndarray:
        """Times (h) of the administrations given before ``horizon_h`` (inclusive), missed ones
        removed. Returns an array of shape (n_doses,).

        Raises
        ------
        LeptotwinError
            If ``horizon_h`` is not a finite number, or the regimen gives more than
            :data:`MAX_DOSES` administrations before it.
        """
        if not math.isfinite(horizon_h):
            raise LeptotwinError(
                "horizon must be a finite number of hours", field="horizon_h", value=horizon_h
            )
        if self.interval_h is None:
            times = np.array([self.start_h])
        else:
            end = horizon_h if self.stop_h is None else min(horizon_h, self.stop_h - 1e-9)
            n = math.floor((end - self.start_h) / self.interval_h + 1e-9) + 1
            if self.n_doses is not None:
                n = min(n, self.n_doses)
            if n > MAX_DOSES:
                raise LeptotwinError(
                    f"{n:,} administrations before the horizon, more than {MAX_DOSES:,}",
                    source=f"regimen {self.text!r}" if self.text else "regimen",
                    field="horizon_h",
                    value=horizon_h,
                    expected="a shorter horizon or a longer dosing interval",
                )
            times = self.start_h + self.interval_h * np.arange(max(n, 0))
        if self.n_doses is not None:
            times = times[: self.n_doses]
        if self.stop_h is not None:
            times = times[times < self.stop_h]
        if self.missed:
            times = times[~np.isin(np.arange(times.size), list(self.missed))]
        return times[times <= horizon_h]

    def to_text(self) -> str:
        """The regimen in the words :func:`parse_regimen` reads, e.g. ``"50 mg/kg QD po from day 8
        for 672 h"``.

        Parsing the text gives this regimen back (start and stop to about 1e-15 relative, as
        they pass through day numbers and durations), except ``text`` and ``missed``, which the
        grammar does not express.
        """
        parts = [f"{_plain(self.dose)} {self.dose_unit}"]
        if self.interval_h is None:
            parts.append("once")
        else:
            parts.append(_FREQ_NAMES.get(self.interval_h, f"q{_plain(self.interval_h)}h"))
        parts.append("po" if self.route == "oral" else self.route)
        if self.start_h:
            parts.append(f"from day {_plain(self.start_h / 24.0 + 1.0)}")
        if self.stop_h is not None:
            parts.append(f"for {_plain(self.stop_h - self.start_h)} h")
        if self.n_doses is not None:
            parts.append(f"x {self.n_doses} doses")
        return " ".join(parts)

    def dose_mg(self, *, body_weight_kg: float, body_surface_m2: float) -> float:
        """Amount per administration in mg for a subject of this size."""
        if self.dose_unit == "mg/kg":
            return self.dose * body_weight_kg
        if self.dose_unit == "mg/m2":
            return self.dose * body_surface_m2
        return self.dose


def _plain(x: float) -> str:
    """Shortest decimal text that reads back as ``x`` exactly, without an exponent."""
    return np.format_float_positional(x, trim="-")


def _fail(text: str, token: str, pos: int, why: str, expected: str) -> LeptotwinError:
    pointer = f"at token {token!r} (position {pos})" if token else "at the end"
    return LeptotwinError(
        f"cannot read {pointer}: {why}", source="regimen", value=text, expected=expected
    )


_Token = tuple[str, int]  # text and position in the whole regimen text
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$", re.ASCII)
_DAY_RANGE = re.compile(r"^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$", re.ASCII)
_TIMING = (
    "a frequency (QD, BID, q12h, once), a route (po, iv, ip, sc) or timing (x 28 d, "
    "for 2 weeks, days 1-14, from day 8)"
)


def _tokens(text: str, offset: int = 0) -> list[_Token]:
    """Words and their positions in the original text: spaces and commas separate them, ``×``
    is a word of its own (read as ``x``) and ``–`` reads as ``-``."""
    return [
        (m.group(0).replace("×", "x").replace("–", "-"), m.start() + offset)
        for m in re.finditer(r"×|[^\s,×]+", text)
    ]


class _Parser:
    """One ``;``-separated part of a regimen text, read token by token.

    Each kind of clause (frequency, route, duration, dose count, day window, first day) may
    appear once; a second one is an error, not a silent override. A duration counts from the
    first day however the clauses are ordered (``x 28 d from day 8`` is days 8-35).
    """

    def __init__(self, whole: str, part: str, offset: int) -> None:
        self.whole, self.part = whole, part
        self.toks = _tokens(part, offset)
        self.end = offset + len(part)
        self.i = 0
        self.seen: dict[str, _Token] = {}
        self.interval: float | None = None
        self.route = "oral"
        self.duration_h: float | None = None
        self.n_doses: int | None = None
        self.window: tuple[float, float] | None = None
        self.first_h: float | None = None

    # ----------------------------------------------------------------- helpers
    def fail(self, tok: _Token | None, why: str, expected: str) -> LeptotwinError:
        token, pos = tok if tok is not None else ("", self.end)
        return _fail(self.whole, token, pos, why, expected)

    def peek(self, k: int = 0) -> _Token | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self, what: str, expected: str) -> _Token:
        tok = self.peek()
        if tok is None:
            raise self.fail(None, f"{what} is missing", expected)
        self.i += 1
        return tok

    def once(self, kind: str, tok: _Token, what: str) -> None:
        if kind in self.seen:
            first = self.seen[kind][0]
            raise self.fail(tok, f"a second {what} (the first is {first!r})", f"one {what}")
        self.seen[kind] = tok

    def number(self, tok: _Token, what: str, high: float) -> float:
        """A plain decimal number in (0, high]."""
        if not _PLAIN_NUMBER.match(tok[0]):
            raise self.fail(tok, f"{what} is not a number", "a plain number such as 28")
        value = float(tok[0])
        if not value > 0:
            raise self.fail(tok, f"{what} must be positive", "a number > 0")
        if not value <= high:
            raise self.fail(tok, f"{what} is out of range", f"at most {high:g}")
        return value

    # ----------------------------------------------------------------- clauses
    def dose(self) -> tuple[float, str]:
        tok = self.take("dose", "e.g. '600 mg BID'")
        m = _DOSE_RE.match(tok[0].lower())
        if not m:
            raise self.fail(tok, "a regimen starts with the dose", "a number such as '600'")
        unit, per = m.group("unit"), m.group("per")
        if unit is None:
            nxt = self.peek()
            mu = _UNIT_RE.match(nxt[0].lower()) if nxt is not None else None
            if mu is None:
                raise self.fail(nxt, "the dose needs a unit", "mg, mg/kg or mg/m2")
            unit, per = mu.group("unit"), mu.group("per")
            self.i += 1
        dose = float(m.group("num")) * _MASS_MG[unit]
        if not dose > 0:
            raise self.fail(tok, "dose must be positive", "a dose > 0")
        if not dose < MAX_DOSE:
            raise self.fail(tok, "dose of a kilogram or more", f"a dose below {MAX_DOSE:g} mg")
        return dose, "mg" if per is None else ("mg/kg" if per == "kg" else "mg/m2")

    def clause(self) -> None:
        tok = self.take("clause", _TIMING)
        low = tok[0].lower()
        nxt = self.peek()
        if low in _FREQ_H or low in ("once", "single", "stat") or _QN_RE.match(low):
            self.once("frequency", tok, "dosing frequency")
            self.interval = self.frequency(tok)
        elif low in _ROUTE_ALIASES:
            self.once("route", tok, "route")
            self.route = _ROUTE_ALIASES[low]
        elif low in ("x", "for"):
            self.duration(tok)
        elif low in ("days", "day", "d") and nxt is not None:
            self.days(tok)
        elif low == "from" and nxt is not None and nxt[0].lower() == "day":
            self.first_day(tok)
        else:
            raise self.fail(tok, "unknown word", _TIMING)

    def frequency(self, tok: _Token) -> float | None:
        low = tok[0].lower()
        if low in _FREQ_H:
            return _FREQ_H[low]
        if low in ("once", "single", "stat"):
            return None
        mq = _QN_RE.match(low)
        assert mq is not None
        n = float(mq.group("n"))
        if not n > 0:
            raise self.fail(tok, "interval must be positive", "e.g. q12h or q3.5d")
        hours = n * _DUR_UNITS_H[mq.group("u")]
        if not (MIN_INTERVAL_H <= hours <= MAX_SPAN_H):
            raise self.fail(
                tok,
                "interval out of range",
                f"{MIN_INTERVAL_H * 60:g} min to {MAX_SPAN_H / 8766:g} years (a dose more often "
                "than every 15 min is an infusion, which regimens here do not describe)",
            )
        return hours

    def duration(self, word: _Token) -> None:
        tok = self.take("duration", "e.g. 'x 28 d', 'for 2 weeks' or 'x 10 doses'")
        m = re.match(r"^(\d+(?:\.\d+)?)([a-z]+)$", tok[0].lower(), re.ASCII)
        if m:  # "28d"
            num_tok, unit = (m.group(1), tok[1]), m.group(2)
        else:
            num_tok = tok
            unit_tok = self.take("duration unit", "d, days, w, weeks or doses")
            unit = unit_tok[0].lower()
        if unit in ("dose", "doses"):
            self.once("count", word, "number of doses")
            n = self.number(num_tok, "number of doses", MAX_DOSES)
            if n != int(n):
                raise self.fail(num_tok, "a number of doses must be whole", "an integer")
            self.n_doses = int(n)
            return
        if unit not in _DUR_UNITS_H:
            raise self.fail(tok if m else self.toks[self.i - 1], "unknown duration unit",
                            "h, d, days, w, weeks or doses")  # fmt: skip
        self.once("duration", word, "duration")
        factor = _DUR_UNITS_H[unit]
        self.duration_h = self.number(num_tok, "duration", MAX_SPAN_H / factor) * factor

    def day(self, tok: _Token) -> float:
        """A day number (day 1 starts at t = 0 h), 1 to :data:`MAX_DAY`."""
        if not _PLAIN_NUMBER.match(tok[0]):
            raise self.fail(tok, "cannot read the day number", "e.g. 'days 1-14' or 'day 8'")
        day = float(tok[0])
        if day < 1:
            raise self.fail(tok, "days are numbered from 1", "a day >= 1")
        if day > MAX_DAY:
            raise self.fail(tok, "day out of range", f"a day <= {MAX_DAY:g}")
        return day

    def first_day(self, word: _Token) -> None:
        """``from day A``."""
        self.i += 1  # "day"
        self.once("start", word, "first day ('from day')")
        self.first_h = (self.day(self.take("day number", "e.g. 'from day 8'")) - 1) * 24.0

    def days(self, word: _Token) -> None:
        """``days A-B`` (also ``days A - B``, ``days A to B``) or ``day A``."""
        tok = self.take("day number", "e.g. 'days 1-14' or 'day 8'")
        m = _DAY_RANGE.match(tok[0])
        if not m:
            raise self.fail(tok, "cannot read the day range", "e.g. 'days 1-14' or 'day 8'")
        first = self.day((m.group(1), tok[1]))
        last = first
        if m.group(2) is not None:
            last = self.day((m.group(2), tok[1] + len(m.group(1)) + 1))
        elif (sep := self.peek()) is not None and sep[0].lower() in ("-", "to"):
            self.i += 1
            last = self.day(self.take("last day", "e.g. 'days 1-14'"))
        if last < first:
            raise self.fail(tok, "the day range runs backwards", "first <= last")
        self.once("window", word, "day window ('days A-B' or 'day A')")
        self.window = ((first - 1) * 24.0, last * 24.0)

    # ----------------------------------------------------------------- whole part
    def regimen(self) -> Regimen:
        if not self.toks:
            raise self.fail(None, "empty regimen", "e.g. '600 mg BID'")
        dose, dose_unit = self.dose()
        while self.peek() is not None:
            self.clause()
        if "frequency" not in self.seen:
            raise self.fail(
                None, "no dosing frequency", "a frequency such as QD, BID, q12h, QW or once"
            )
        start_h, stop_h = 0.0, None
        if self.window is not None:
            for kind in ("start", "duration"):
                if kind in self.seen:
                    raise self.fail(self.seen[kind], "a day window and a second start or end",
                                    "either 'days A-B' or 'from day A' with 'x N d'")  # fmt: skip
            start_h, stop_h = self.window
        elif self.first_h is not None:
            start_h = self.first_h
        if self.duration_h is not None:
            stop_h = start_h + self.duration_h
        return Regimen(dose=dose, dose_unit=dose_unit, interval_h=self.interval, route=self.route,
                       start_h=start_h, stop_h=stop_h, n_doses=self.n_doses,
                       text=self.part.strip())  # fmt: skip


def parse_regimen(text: str) -> tuple[Regimen, ...]:
    """Parse one or more regimens (joined by ``;``) from text.

    Returns
    -------
    tuple of Regimen
        One entry per ``;``-separated part, e.g. a loading dose and a maintenance schedule.

    Raises
    ------
    LeptotwinError
        Naming the token that could not be read (its position in the whole text) and what was
        expected there: an unknown word, a number out of range (see :data:`MAX_DOSE`,
        :data:`MIN_INTERVAL_H`, :data:`MAX_SPAN_H`, :data:`MAX_DAY`, :data:`MAX_DOSES`), or a
        clause given twice (two frequencies, two routes, two durations...).

    Examples
    --------
    >>> parse_regimen("50 mg/kg QD x 28 d")[0].stop_h
    672.0
    """
    if not isinstance(text, str) or not text.strip():
        raise LeptotwinError(
            "empty regimen", source="regimen", value=text, expected="e.g. '600 mg BID'"
        )
    parts = [(m.group(0), m.start()) for m in re.finditer(r"[^;]+", text) if m.group(0).strip()]
    if not parts:
        raise LeptotwinError(
            "empty regimen", source="regimen", value=text, expected="e.g. '600 mg BID'"
        )
    return tuple(_Parser(text, part, offset).regimen() for part, offset in parts)


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


def doses_by_route(
    regimens: Sequence[Regimen],
    horizon_h: float,
    *,
    body_weight_kg: float,
    body_surface_m2: float,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every administration of ``regimens`` before ``horizon_h``, merged per route.

    Returns
    -------
    dict
        Route (sorted) → ``(times_h, mg)``, two arrays of shape (n_doses,) in time order (stable
        for simultaneous doses of different regimens).
    """
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for route in sorted({r.route for r in regimens}):
        times, amounts = [], []
        for r in regimens:
            if r.route == route:
                t = r.dose_times_h(horizon_h)
                mg = r.dose_mg(body_weight_kg=body_weight_kg, body_surface_m2=body_surface_m2)
                times.append(t)
                amounts.append(np.full(t.size, mg))
        t_all = np.concatenate(times)
        order = np.argsort(t_all, kind="stable")
        out[route] = (t_all[order], np.concatenate(amounts)[order])
    return out
