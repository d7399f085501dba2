"""Cheap, noise-free, deterministic readouts of the model, as functions of a catalogue.

The calibration (``leptotwin calibrate-study``) and the global sensitivity analysis call
:func:`evaluate_readouts` tens of thousands of times, once per parameter set. Each readout is the
noise-free equivalent of what a study section measures: the same model code (pathway, culture,
PK, tumour clones, barrier and tissue, patients), set up as the section sets up its experiment,
but with a typical subject (PK without between-subject variability, median engraftment and
growth-rate scale, expected instead of random switching) or the mean cell, and without the
virtual instruments' noise. Deterministic instrument properties that decide what the section
measures are kept where they matter: the BLI background (C2, C7) and the ELISA's lower limit of
quantification (C9).

Work is shared within one call of :func:`evaluate_readouts` (the in-vitro batch, each PK profile
and each virtual-mouse run are computed once and feed every readout that needs them) and never
kept across calls, so two catalogues never see each other's results.

A readout that the model cannot produce for a parameter set is NaN (never an exception); readouts
that are infinite by nature say so in their description (an IC50 beyond 1 mM, a relapse that does
not happen within the protocol's follow-up). Time grids are coarser than the sections' where a
test shows the value agrees (``tests/calibration/test_readouts.py``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from leptotwin.catalog import Catalog
from leptotwin.errors import LeptotwinError

__all__ = ["READOUTS", "Readout", "evaluate_readouts"]

PARENTAL, AR = "A925LPE3", "A925L/AR"
ALK_TKIS = ("alectinib", "crizotinib", "ceritinib", "lorlatinib")
EGFR_BLOCKERS = ("erlotinib", "osimertinib", "cetuximab")
C7_ARMS = (
    "vehicle",
    "alectinib",
    "erlotinib",
    "osimertinib",
    "alectinib + erlotinib",
    "alectinib + osimertinib",
)

#: Culture step (h) of the noise-free plates: RK4 at 6 h changes the 72 h cell number by < 2e-6
#: relative to the sections' 0.25 h (tested).
CULTURE_DT_H = 6.0
#: Dose range searched for an IC50 (nM); beyond the top the IC50 is ``inf``.
IC50_RANGE_NM = (1e-3, 1e6)
#: Growth step (h) of the virtual mouse, as :func:`~leptotwin.model.cohort.simulate_lmc`'s default.
MOUSE_DT_H = 1.0
#: Hours per window of the vectorised mouse integration (rates of a window are evaluated at once).
MOUSE_WINDOW_H = 24.0
#: Normal quantile points per dimension for the C9 population integrals.
C9_GRID = 64

_FAILURES = (LeptotwinError, ArithmeticError, ValueError, IndexError, KeyError, ZeroDivisionError)


@dataclass(frozen=True)
class Readout:
    """One model readout.

    Attributes
    ----------
    name : str
        ``"<claim or PK>.<what>"``, e.g. ``"C3.alectinib_fold"``.
    unit : str
        ``"1"`` for ratios and fractions, else the unit (``"nM"``, ``"d"``, ``"ng/mL"``, ``"h"``).
    description : str
        What it is, in one line, with how a missing value is reported.
    claims : tuple of str
        Claim ids it speaks to; ``()`` for a PK or human readout.
    func : callable
        ``func(catalog) -> float``. Called alone it computes what it needs; inside
        :func:`evaluate_readouts` it shares work with the other readouts of the same call.
    """

    name: str
    unit: str
    description: str
    claims: tuple[str, ...]
    func: Callable[[Catalog], float]


# --------------------------------------------------------------------------------------------
# per-call cache


class _Call:
    """Results shared by the readouts of one :func:`evaluate_readouts` call (one catalogue)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.results: dict[Any, Any] = {}

    def get(self, key: Any, compute: Callable[[Catalog], Any]) -> Any:
        if key not in self.results:
            try:
                self.results[key] = compute(self.catalog)
            except _FAILURES as exc:  # the model cannot produce it for this parameter set
                self.results[key] = exc
        value = self.results[key]
        if isinstance(value, Exception):
            raise _Unavailable from value
        return value


class _Unavailable(Exception):
    """A shared computation failed for this catalogue: its readouts are NaN."""


_CALL: ContextVar[_Call | None] = ContextVar("leptotwin_readout_call", default=None)


def _shared(catalog: Catalog, key: Any, compute: Callable[[Catalog], Any]) -> Any:
    """``compute(catalog)``, computed once per :func:`evaluate_readouts` call."""
    call = _CALL.get()
    if call is None or call.catalog is not catalog:
        call = _Call(catalog)
    return call.get(key, compute)


def _guarded(name: str, fn: Callable[[Catalog], float]) -> Callable[[Catalog], float]:
    def func(catalog: Catalog) -> float:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                value = float(fn(catalog))
            except (_Unavailable, *_FAILURES):
                return math.nan
        return value if not math.isnan(value) else math.nan

    func.__name__ = func.__qualname__ = f"readout[{name}]"
    return func


# --------------------------------------------------------------------------------------------
# protocols (package data, not parameters: cached across calls)


@cache
def _protocol(name: str) -> dict:
    from leptotwin.study.protocol_schema import load_packaged_protocol

    return load_packaged_protocol(name)


# --------------------------------------------------------------------------------------------
# in vitro: viability plates, conditioned medium, qPCR and blot levels


@dataclass(frozen=True)
class _Curve:
    key: str
    line: str
    perturbations: tuple[str, ...]
    drug: str
    fixed: tuple[tuple[str, float], ...] = ()
    areg0_nM: float = 0.0


def _curves() -> list[_Curve]:
    fixed = _protocol("viability")["fixed"]
    out = []
    for drug in ALK_TKIS:
        out += [
            _Curve(f"{PARENTAL}|{drug}", PARENTAL, (), drug),
            _Curve(f"{AR}|{drug}", AR, (), drug),
        ]
    for pert in ("siAREG", "siEGFR", "miR-449a mimic"):
        out.append(_Curve(f"{AR}|alectinib|{pert}", AR, (pert,), "alectinib"))
    for partner in EGFR_BLOCKERS:
        out.append(
            _Curve(
                f"{AR}|alectinib|+{partner}",
                AR,
                (),
                "alectinib",
                fixed=((partner, float(fixed[partner])),),
            )
        )
    out.append(
        _Curve(
            f"{PARENTAL}|alectinib|+AREG", PARENTAL, (), "alectinib", areg0_nM=float(fixed["AREG"])
        )
    )
    return out


def _probes() -> list[tuple[str, str, str, float]]:
    """Single wells: (key, cell line, drug, nM) against the line's vehicle (C1, C6 'alone')."""
    fixed = _protocol("viability")["fixed"]
    out = [(f"{PARENTAL}|{d}", PARENTAL, d, float(fixed[d])) for d in ("erlotinib", "osimertinib")]
    out += [(f"{AR}|{d}", AR, d, float(fixed[d])) for d in EGFR_BLOCKERS]
    return out


def _stack_states(states: list[Any]) -> Any:
    from leptotwin.model.pathway import CellState

    return CellState(
        name="wells",
        **{
            f: np.array([getattr(s, f) for s in states], dtype=float)
            for f in ("mir449a", "egfr_total", "alk_fusion", "areg_scale")
        },
    )


def _grow(pm: Any, states: list[Any], conc: dict[str, np.ndarray], areg0: np.ndarray, **kw: Any):
    from leptotwin.model.culture import grow_culture

    n = len(states)
    return grow_culture(
        pm,
        _stack_states(states),
        conc,
        cells0=np.full(n, kw["cells0"]),
        areg0_nM=areg0,
        volume_mL=kw["volume_mL"],
        hours=kw["hours"],
        dt_h=CULTURE_DT_H,
    ).live_cells


def _wells(specs: list[tuple[Any, dict[str, float], float]]) -> tuple[Any, dict, np.ndarray]:
    """Batched plate: one (cell state, drug → nominal nM, recombinant AREG nM) per well."""
    names = sorted({d for _, drugs, _ in specs for d in drugs})
    conc = {d: np.array([drugs.get(d, 0.0) for _, drugs, _ in specs]) for d in names}
    return _stack_states([s for s, _, _ in specs]), conc, np.array([a for _, _, a in specs])


def _curve_wells(
    curves: list[_Curve], doses: list[np.ndarray], cat: Catalog
) -> tuple[list[tuple[Any, dict[str, float], float]], list[slice]]:
    """Wells of each curve: its own vehicle (fixed partners, no varied drug), then ``doses``."""
    from leptotwin.model.pathway import cell_state

    specs: list[tuple[Any, dict[str, float], float]] = []
    slices = []
    for c, d in zip(curves, doses, strict=True):
        st = cell_state(c.line, c.perturbations, catalog=cat)
        start = len(specs)
        for x in np.concatenate([[0.0], d]):
            drugs = dict(c.fixed)
            drugs[c.drug] = drugs.get(c.drug, 0.0) + float(x)
            specs.append((st, drugs, c.areg0_nM))
        slices.append(slice(start, len(specs)))
    return specs, slices


def _grow(pm: Any, specs: list[tuple[Any, dict[str, float], float]], **kw: Any) -> np.ndarray:
    from leptotwin.model.culture import grow_culture

    state, conc, areg0 = _wells(specs)
    return grow_culture(
        pm,
        state,
        conc,
        cells0=np.full(len(specs), kw["cells0"]),
        areg0_nM=areg0,
        volume_mL=kw["volume_mL"],
        hours=kw["hours"],
        dt_h=CULTURE_DT_H,
    ).live_cells


def _invitro(cat: Catalog) -> dict[str, float]:
    """IC50s (nM) of every curve, single-well inhibitions, secreted-AREG and molecular ratios."""
    from leptotwin.model.culture import grow_culture
    from leptotwin.model.pathway import PathwayModel, cell_state

    pm = PathwayModel.from_catalog(cat)
    proto = _protocol("viability")
    kw = dict(
        cells0=cat.assay_value("culture", "seeding_cells"),
        volume_mL=cat.assay_value("culture", "medium_volume") * 1e-3,
        hours=float(proto["hours"]),
    )
    curves = _curves()
    lo, hi = np.log10(IC50_RANGE_NM[0]), np.log10(IC50_RANGE_NM[1])
    grid = np.logspace(lo, hi, round(4 * (hi - lo)) + 1)  # 4 per decade
    specs, slices = _curve_wells(curves, [grid] * len(curves), cat)
    # single-well probes ride along in the same batch: the line's vehicle, then the drug alone
    probes = _probes()
    first_probe = len(specs)
    for _, line, drug, nM in probes:
        st = cell_state(line, catalog=cat)
        specs += [(st, {}, 0.0), (st, {drug: nM}, 0.0)]
    live = _grow(pm, specs, **kw)
    out: dict[str, float] = {}
    for j, (key, *_rest) in enumerate(probes):
        veh, drug_well = live[first_probe + 2 * j], live[first_probe + 2 * j + 1]
        out[f"inhibition|{key}"] = float(1.0 - drug_well / veh)
    todo = []
    for c, s in zip(curves, slices, strict=True):
        rel = live[s][1:] / live[s][0]
        if not np.isfinite(rel).all():
            out[c.key] = math.nan
        elif rel[-1] >= 0.5:
            out[c.key] = math.inf
        elif rel[0] < 0.5:
            out[c.key] = math.nan  # below the searched range: no IC50 a plate could see
        else:
            i = int(np.flatnonzero(rel < 0.5)[0])
            todo.append((c, grid[i - 1], grid[i], rel[i - 1], rel[i]))
    # refine each bracket: 7 interior points, then log-linear interpolation of the crossing
    if todo:
        sub = [np.logspace(np.log10(a), np.log10(b), 9)[1:-1] for _, a, b, _, _ in todo]
        specs2, slices2 = _curve_wells([t[0] for t in todo], sub, cat)
        live2 = _grow(pm, specs2, **kw)
        for (c, a, b, r_a, r_b), d, s in zip(todo, sub, slices2, strict=True):
            doses = np.concatenate([[a], d, [b]])
            rel = np.concatenate([[r_a], live2[s][1:] / live2[s][0], [r_b]])
            j = int(np.flatnonzero(rel < 0.5)[0])
            x0, x1 = np.log(doses[j - 1]), np.log(doses[j])
            y0, y1 = np.log(rel[j - 1]), np.log(rel[j])
            out[c.key] = float(np.exp(x0 + (np.log(0.5) - y0) * (x1 - x0) / (y1 - y0)))

    # conditioned medium (C4, C5): AREG in the supernatant of each group
    med = [
        cell_state(PARENTAL, catalog=cat),
        cell_state(AR, catalog=cat),
        cell_state(AR, ("mimic control",), catalog=cat),
        cell_state(AR, ("miR-449a mimic",), catalog=cat),
    ]
    grown = grow_culture(
        pm,
        _stack_states(med),
        {},
        cells0=np.full(4, cat.assay_value("conditioned_medium", "seeding_cells")),
        volume_mL=cat.assay_value("conditioned_medium", "medium_volume"),
        hours=float(proto["medium_elisa"]["hours"]),
        dt_h=CULTURE_DT_H,
    )
    areg = grown.medium_areg_nM
    out["medium|AR/parental"] = float(areg[1] / areg[0])
    out["medium|mimic control/mimic"] = float(areg[2] / areg[3])
    # qPCR levels and the blot's p-EGFR/EGFR (4 h, no drug: quasi-steady state)
    par, ar = med[0], med[1]
    out["qpcr|miR-449a"] = float(ar.mir449a / par.mir449a)
    out["qpcr|AREG"] = float(pm.areg_secretion(ar) / pm.areg_secretion(par))
    e_par, e_ar = float(pm.signals(par).egfr), float(pm.signals(ar).egfr)
    out["blot|pEGFR/EGFR"] = float((e_ar / ar.egfr_total) / (e_par / par.egfr_total))
    return out


def _iv(key: str) -> Callable[[Catalog], float]:
    return lambda cat: _shared(cat, "invitro", _invitro)[key]


def _iv_ratio(num: str, den: str) -> Callable[[Catalog], float]:
    def f(cat: Catalog) -> float:
        v = _shared(cat, "invitro", _invitro)
        a, b = v[num], v[den]
        if math.isinf(a) and math.isinf(b):
            return math.nan
        return a / b

    return f


# --------------------------------------------------------------------------------------------
# registry


def _build() -> dict[str, Readout]:
    r: list[Readout] = []

    def add(name: str, unit: str, description: str, claims: tuple[str, ...], fn) -> None:  # type: ignore[no-untyped-def]
        r.append(Readout(name, unit, description, claims, _guarded(name, fn)))

    par_ic50 = f"{PARENTAL}|alectinib"
    inf_note = "inf when a curve stays above 50 % up to 1 mM"
    add(
        "C1.alectinib_ic50",
        "nM",
        "absolute 72 h alectinib IC50 of A925LPE3 (noise-free plate; NaN below 1 pM)",
        ("C1",),
        _iv(par_ic50),
    )
    add(
        "C1.erlotinib_inhibition",
        "1",
        "fraction of A925LPE3 growth (72 h, of vehicle) removed by erlotinib 1 µM alone",
        ("C1",),
        _iv(f"inhibition|{PARENTAL}|erlotinib"),
    )
    add(
        "C1.osimertinib_inhibition",
        "1",
        "fraction of A925LPE3 growth removed by osimertinib 1 µM alone",
        ("C1",),
        _iv(f"inhibition|{PARENTAL}|osimertinib"),
    )
    for drug in ALK_TKIS:
        add(
            f"C3.{drug}_fold",
            "1",
            f"{drug} IC50 A925L/AR / A925LPE3 (72 h, noise-free; {inf_note})",
            ("C3",),
            _iv_ratio(f"{AR}|{drug}", f"{PARENTAL}|{drug}"),
        )
    add(
        "C4.areg_secretion_fold",
        "1",
        "AREG in 48 h conditioned medium, A925L/AR / A925LPE3 (what the ELISA measures)",
        ("C4",),
        _iv("medium|AR/parental"),
    )
    add(
        "C4.areg_mrna_fold",
        "1",
        "AREG mRNA (proportional to secretion) A925L/AR / A925LPE3 (qPCR, noise-free)",
        ("C4",),
        _iv("qpcr|AREG"),
    )
    add(
        "C4.mir449a_fold",
        "1",
        "miR-449a A925L/AR / A925LPE3 (qPCR, noise-free)",
        ("C4", "C5"),
        _iv("qpcr|miR-449a"),
    )
    add(
        "C4.pegfr_fold",
        "1",
        "p-EGFR/EGFR A925L/AR / A925LPE3 without drug (true band ratio, no detection limit)",
        ("C4",),
        _iv("blot|pEGFR/EGFR"),
    )
    for pert, short in (("siAREG", "siareg"), ("siEGFR", "siegfr")):
        add(
            f"C4.{short}_ic50_ratio",
            "1",
            f"alectinib IC50 of A925L/AR + {pert} / A925LPE3 ({inf_note})",
            ("C4",),
            _iv_ratio(f"{AR}|alectinib|{pert}", par_ic50),
        )
    add(
        "C5.mimic_ic50_ratio",
        "1",
        f"alectinib IC50 of A925L/AR + miR-449a mimic / A925LPE3 ({inf_note})",
        ("C5",),
        _iv_ratio(f"{AR}|alectinib|miR-449a mimic", par_ic50),
    )
    add(
        "C5.mimic_areg_fold",
        "1",
        "AREG in conditioned medium, A925L/AR mimic control / miR-449a mimic",
        ("C5",),
        _iv("medium|mimic control/mimic"),
    )
    add(
        "C5.recombinant_areg_fold",
        "1",
        f"alectinib IC50 of A925LPE3 + AREG 50 ng/mL / A925LPE3 ({inf_note})",
        ("C5",),
        _iv_ratio(f"{PARENTAL}|alectinib|+AREG", par_ic50),
    )
    for partner in EGFR_BLOCKERS:
        dose = "10 µg/mL" if partner == "cetuximab" else "1 µM"
        add(
            f"C6.{partner}_ic50_ratio",
            "1",
            f"alectinib IC50 of A925L/AR with {partner} {dose} / A925LPE3 ({inf_note})",
            ("C6",),
            _iv_ratio(f"{AR}|alectinib|+{partner}", par_ic50),
        )
        add(
            f"C6.{partner}_inhibition",
            "1",
            f"fraction of A925L/AR growth (72 h) removed by {partner} {dose} alone",
            ("C6",),
            _iv(f"inhibition|{AR}|{partner}"),
        )
    return {x.name: x for x in r}


READOUTS: dict[str, Readout] = _build()
"""Every readout by name (see :class:`Readout`)."""


def evaluate_readouts(catalog: Catalog, names: Iterable[str] | None = None) -> dict[str, float]:
    """Evaluate readouts on one catalogue, sharing work between them.

    Parameters
    ----------
    catalog : Catalog
        The parameter set (e.g. a draw from :func:`leptotwin.catalog.posterior.draw_catalogs`).
    names : iterable of str, optional
        Readouts to evaluate (default: all of :data:`READOUTS`), in the order given.

    Returns
    -------
    dict of str to float
        Name → value; NaN where the model cannot produce the value for this parameter set.

    Raises
    ------
    LeptotwinError
        For a name that is not a readout.
    """
    wanted = list(READOUTS) if names is None else list(names)
    unknown = [n for n in wanted if n not in READOUTS]
    if unknown:
        raise LeptotwinError(
            "unknown readout",
            field="names",
            value=unknown[0],
            expected="one of " + ", ".join(sorted(READOUTS)),
        )
    token = _CALL.set(_Call(catalog))
    try:
        return {n: READOUTS[n].func(catalog) for n in wanted}
    finally:
        _CALL.reset(token)
