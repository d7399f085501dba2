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
:func:`evaluate_readouts_many` evaluates K catalogues (a sampler's walkers) with the expensive
parts in one pass: the in-vitro plates and the typical mice of C2 and C7 of all K catalogues run
as the rows (wells, mice) of one array with per-row parameter values, by the same code that
evaluates one catalogue (its K = 1 case), so a catalogue's values do not depend on the batch.

A readout that the model cannot produce for a parameter set is NaN (never an exception); readouts
that are infinite by nature say so in their description (an IC50 beyond 1 mM, a relapse that does
not happen within the protocol's follow-up). Time grids are coarser than the sections' where a
test shows the value agrees (``tests/calibration/test_readouts.py``).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from leptotwin.catalog import Catalog
from leptotwin.errors import LeptotwinError

__all__ = ["READOUTS", "Readout", "evaluate_readouts", "evaluate_readouts_many"]

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
#: Hours per window of the vectorised mouse integration (rates of a window are evaluated at once,
#: iterated to the fixed point of the sequential scheme: relative change < MOUSE_RTOL).
MOUSE_WINDOW_H = 168.0
MOUSE_RTOL = 1e-7
MOUSE_MAX_ITERATIONS = 10
#: Normal quantile points per dimension for the C9 population integrals.
C9_GRID = 64

_FAILURES = (LeptotwinError, ArithmeticError, ValueError, IndexError, KeyError, ZeroDivisionError)
#: What a batch of several catalogues (plates, typical mice) may raise for one of them, so that
#: the batch is redone one catalogue at a time (each alone: ``_FAILURES``, as
#: :func:`evaluate_readouts`): the model refusing a parameter set, or a numerical failure.
#: Anything else from a batch of several (an IndexError, a KeyError: a programming error)
#: surfaces instead of silently running every catalogue alone.
_BATCH_FAILURES = (LeptotwinError, ArithmeticError)


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

    def __init__(self, catalog: Catalog, results: dict[Any, Any] | None = None) -> None:
        self.catalog = catalog
        # results computed beforehand (evaluate_readouts_many's batches); a failure is kept
        # as its exception, as get() keeps one
        self.results: dict[Any, Any] = dict(results or {})

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
        from leptotwin.catalog.loader import using_catalog

        # the catalogue is passed explicitly everywhere; using_catalog also covers any
        # X.from_catalog() default deeper in the model code
        with np.errstate(all="ignore"), warnings.catch_warnings(), using_catalog(catalog):
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


#: PathwayModel fields that are neither a number nor a per-drug dict, so not one value per row
#: of a batch: ``bypass`` (extra receptors; a catalogue with one grows its plates alone, and
#: the in-vivo model refuses it).
_NOT_PER_ROW = ("bypass",)


@cache
def _pathway_fields() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The :class:`~leptotwin.model.pathway.PathwayModel` fields that carry one value per row
    (per well, per catalogue) when several catalogues run as one batch: ``(floats, dicts)``,
    the dicts per drug. Derived from the dataclass, every float and dict field, so that a new
    field cannot be taken from the first catalogue for the whole batch (the culture and the
    in-vivo rates use them element by element; a field they do not read costs one array).

    Raises
    ------
    TypeError
        A field of another type not in ``_NOT_PER_ROW`` (a programming error: decide how a
        batch carries it).
    """
    from dataclasses import fields

    from leptotwin.model.pathway import PathwayModel

    floats, dicts = [], []
    for f in fields(PathwayModel):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if kind == "float":
            floats.append(f.name)
        elif kind.startswith("dict"):
            dicts.append(f.name)
        elif f.name not in _NOT_PER_ROW:
            raise TypeError(f"PathwayModel.{f.name} ({kind}): not batched per row")
    return tuple(floats), tuple(dicts)


_LEVELS = ("mir449a", "egfr_total", "alk_fusion", "areg_scale")


@dataclass
class _Plate:
    """One catalogue's constants of the noise-free plates (``_invitro_many``)."""

    pm: Any  # PathwayModel
    levels: np.ndarray  # (n state keys, 4): _LEVELS of each cell state of _plate_layout()
    cells0: float
    volume_mL: float


@dataclass(frozen=True)
class _Layout:
    """The wells of one catalogue's first plate (protocol only, the same for every catalogue)."""

    keys: tuple[tuple[str, tuple[str, ...]], ...]  # cell states: (line, perturbations)
    drugs: tuple[str, ...]  # every drug of every well (sorted)
    key: np.ndarray  # (n,) index into keys per well
    conc: np.ndarray  # (n, n_drugs) nominal nM
    areg0: np.ndarray  # (n,) recombinant AREG, nM
    curves: tuple[_Curve, ...]
    slices: tuple[slice, ...]  # wells of each curve: its vehicle, then the grid
    grid: np.ndarray  # doses of the first pass, nM
    first_probe: int  # then per probe: the line's vehicle, the drug alone


@cache
def _plate_layout() -> _Layout:
    curves = _curves()
    probes = _probes()
    keys = tuple(
        dict.fromkeys([(c.line, c.perturbations) for c in curves] + [(p[1], ()) for p in probes])
    )
    drugs = tuple(
        sorted(
            {c.drug for c in curves}
            | {d for c in curves for d, _ in c.fixed}
            | {p[2] for p in probes}
        )
    )
    lo, hi = np.log10(IC50_RANGE_NM[0]), np.log10(IC50_RANGE_NM[1])
    grid = np.logspace(lo, hi, round(4 * (hi - lo)) + 1)  # 4 per decade
    blocks = [_dose_wells(c, grid, keys, drugs) for c in curves]
    sizes = np.cumsum([0] + [b[0].size for b in blocks])
    slices = tuple(slice(int(i), int(j)) for i, j in itertools.pairwise(sizes))
    for _, line, drug, nM in probes:
        i = keys.index((line, ()))
        conc = np.zeros((2, len(drugs)))
        conc[1, drugs.index(drug)] = nM
        blocks.append((np.full(2, i), conc, np.zeros(2)))
    key, conc, areg0 = (np.concatenate([b[m] for b in blocks]) for m in range(3))
    for x in (key, conc, areg0, grid):
        x.flags.writeable = False
    return _Layout(keys, drugs, key, conc, areg0, tuple(curves), slices, grid, int(sizes[-1]))


def _dose_wells(
    c: _Curve, doses: np.ndarray, keys: tuple, drugs: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wells of a curve: its own vehicle (fixed partners, no varied drug), then ``doses``:
    cell-state index, nominal nM per drug (columns ``drugs``) and recombinant AREG (nM)."""
    x = np.concatenate([[0.0], doses])
    conc = np.zeros((x.size, len(drugs)))
    for d, v in c.fixed:
        conc[:, drugs.index(d)] = v
    j = drugs.index(c.drug)
    conc[:, j] = conc[:, j] + x
    return np.full(x.size, keys.index((c.line, c.perturbations))), conc, np.full(x.size, c.areg0_nM)


def _plate_setup(cat: Catalog) -> _Plate:
    from leptotwin.model.pathway import PathwayModel, cell_state

    layout = _plate_layout()
    states = [cell_state(line, perts, catalog=cat) for line, perts in layout.keys]
    return _Plate(
        pm=PathwayModel.from_catalog(cat),
        levels=np.array([[getattr(s, f) for f in _LEVELS] for s in states], dtype=float),
        cells0=cat.assay_value("culture", "seeding_cells"),
        volume_mL=cat.assay_value("culture", "medium_volume") * 1e-3,
    )


def _grow_many(
    plates: list[_Plate],
    rows: np.ndarray,
    key: np.ndarray,
    conc: np.ndarray,
    areg0: np.ndarray,
    hours: float,
) -> np.ndarray:
    """Live cells after ``hours`` of wells of several catalogues' plates grown as one batch:
    well i is catalogue ``plates[rows[i]]``'s, cell state ``key[i]``, nominal drugs ``conc[i]``
    (columns ``_plate_layout().drugs``) and recombinant AREG ``areg0[i]`` nM. The pathway's
    values are per well (the culture model's operations are element by element), so a well's
    numbers do not depend on the other wells."""
    from dataclasses import replace

    from leptotwin.model.culture import grow_culture
    from leptotwin.model.pathway import CellState

    pms = [p.pm for p in plates]
    base = pms[0]
    floats, dicts = _pathway_fields()
    model = replace(
        base,
        **{f: np.array([getattr(pm, f) for pm in pms])[rows] for f in floats},
        **{
            f: {d: np.array([getattr(pm, f)[d] for pm in pms])[rows] for d in getattr(base, f)}
            for f in dicts
        },
    )
    levels = np.stack([p.levels for p in plates])[rows, key]  # (n, 4)
    state = CellState(name="wells", **{f: levels[:, i] for i, f in enumerate(_LEVELS)})
    drugs = _plate_layout().drugs
    return grow_culture(
        model,
        state,
        {d: conc[:, j] for j, d in enumerate(drugs)},
        cells0=np.array([p.cells0 for p in plates])[rows],
        areg0_nM=areg0,
        volume_mL=np.array([p.volume_mL for p in plates])[rows],  # type: ignore[arg-type]
        hours=hours,
        dt_h=CULTURE_DT_H,
    ).live_cells


def _invitro(cat: Catalog) -> dict[str, float]:
    """IC50s (nM) of every curve and single-well inhibitions (:func:`_invitro_many` of one)."""
    return _one(_invitro_many([cat]))


def _invitro_many(cats: list[Catalog]) -> list[dict[str, float] | Exception]:
    """IC50s (nM) of every curve and single-well inhibitions of each catalogue, the plates of
    all of them grown as one batch (a catalogue with a bypass block alone)."""
    from leptotwin.catalog.loader import using_catalog

    out: list[Any] = [None] * len(cats)
    plates: dict[int, _Plate] = {}
    for k, cat in enumerate(cats):
        try:
            with using_catalog(cat):
                plates[k] = _plate_setup(cat)
        except _FAILURES as exc:
            out[k] = exc
    together = [k for k, p in plates.items() if not p.pm.bypass]
    groups = [together] if together else []
    groups += [[k] for k, p in plates.items() if p.pm.bypass]
    for ks in groups:
        values: list[Any]
        caught = _FAILURES if len(ks) == 1 else _BATCH_FAILURES
        try:
            values = _invitro_plates([plates[k] for k in ks])
        except caught as exc:
            values = [] if len(ks) > 1 else [exc]
        if not values:
            for k in ks:  # find which catalogue fails: each alone
                try:
                    values += _invitro_plates([plates[k]])
                except _FAILURES as exc:
                    values.append(exc)
        for k, v in zip(ks, values, strict=True):
            out[k] = v
    return out


def _invitro_plates(plates: list[_Plate]) -> list[dict[str, float]]:
    lay = _plate_layout()
    hours = float(_protocol("viability")["hours"])
    n_cat, n = len(plates), lay.key.size
    live = _grow_many(
        plates,
        np.repeat(np.arange(n_cat), n),
        np.tile(lay.key, n_cat),
        np.tile(lay.conc, (n_cat, 1)),
        np.tile(lay.areg0, n_cat),
        hours,
    ).reshape(n_cat, n)
    grid = lay.grid
    outs: list[dict[str, float]] = []
    todo = []
    for k in range(n_cat):
        out: dict[str, float] = {}
        for j, (key, *_rest) in enumerate(_probes()):
            veh, drug_well = live[k, lay.first_probe + 2 * j], live[k, lay.first_probe + 2 * j + 1]
            out[f"inhibition|{key}"] = float(1.0 - drug_well / veh)
        for c, s in zip(lay.curves, lay.slices, strict=True):
            rel = live[k, s][1:] / live[k, s][0]
            if not np.isfinite(rel).all():
                out[c.key] = math.nan
            elif rel[-1] >= 0.5:
                out[c.key] = math.inf
            elif rel[0] < 0.5:
                out[c.key] = math.nan  # below the searched range: no IC50 a plate could see
            else:
                i = int(np.flatnonzero(rel < 0.5)[0])
                todo.append((k, c, grid[i - 1], grid[i], rel[i - 1], rel[i]))
        outs.append(out)
    # refine each bracket: 7 interior points, then log-linear interpolation of the crossing
    if todo:
        sub = [np.logspace(np.log10(a), np.log10(b), 9)[1:-1] for _, _, a, b, _, _ in todo]
        blocks = [_dose_wells(t[1], d, lay.keys, lay.drugs) for t, d in zip(todo, sub, strict=True)]
        key, conc, areg0 = (np.concatenate([b[m] for b in blocks]) for m in range(3))
        rows = np.repeat([t[0] for t in todo], [b[0].size for b in blocks])
        live2 = _grow_many(plates, rows, key, conc, areg0, hours).reshape(len(todo), -1)
        for (k, c, a, b, r_a, r_b), d, lv in zip(todo, sub, live2, strict=True):
            doses = np.concatenate([[a], d, [b]])
            rel = np.concatenate([[r_a], lv[1:] / lv[0], [r_b]])
            j = int(np.flatnonzero(rel < 0.5)[0])
            x0, x1 = np.log(doses[j - 1]), np.log(doses[j])
            y0, y1 = np.log(rel[j - 1]), np.log(rel[j])
            outs[k][c.key] = float(np.exp(x0 + (np.log(0.5) - y0) * (x1 - x0) / (y1 - y0)))
    return outs


def _molecular(cat: Catalog) -> dict[str, float]:
    """Secreted AREG of conditioned medium, qPCR levels and the blot's p-EGFR/EGFR ratio."""
    from leptotwin.model.culture import grow_culture
    from leptotwin.model.pathway import PathwayModel, cell_state

    pm = PathwayModel.from_catalog(cat)
    proto = _protocol("viability")
    out: dict[str, float] = {}
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
    ratio = lambda a, b: float(np.float64(a) / np.float64(b))  # noqa: E731  (0/0 -> nan)
    out["qpcr|miR-449a"] = ratio(ar.mir449a, par.mir449a)
    out["qpcr|AREG"] = ratio(pm.areg_secretion(ar), pm.areg_secretion(par))
    e_par, e_ar = float(pm.signals(par).egfr), float(pm.signals(ar).egfr)
    out["blot|pEGFR/EGFR"] = ratio(ratio(e_ar, ar.egfr_total), ratio(e_par, par.egfr_total))
    return out


def _reads(key: str, fn: Callable[[Catalog], float]) -> Callable[[Catalog], float]:
    """Mark ``fn`` as reading the shared computation ``key`` (evaluate_readouts_many batches
    the keys of :data:`_BATCHED` that the readouts asked for read)."""
    fn.shared = key  # type: ignore[attr-defined]
    return fn


def _iv(key: str) -> Callable[[Catalog], float]:
    if key.split("|")[0] in ("medium", "qpcr", "blot"):
        return _reads("molecular", lambda cat: _shared(cat, "molecular", _molecular)[key])
    return _reads("invitro", lambda cat: _shared(cat, "invitro", _invitro)[key])


def _iv_ratio(num: str, den: str) -> Callable[[Catalog], float]:
    def f(cat: Catalog) -> float:
        v = _shared(cat, "invitro", _invitro)
        a, b = v[num], v[den]
        if math.isinf(a) and math.isinf(b):
            return math.nan
        return a / b

    return _reads("invitro", f)


# --------------------------------------------------------------------------------------------
# PK of a typical subject: the PK model's own poles and residues, superposed over the doses


_OUTPUT_ROW = {"plasma": 0, "csf": 1, "lesion": 2}


def _typical(cat: Catalog, drug: str, species: str) -> Any:
    from leptotwin.model.pk import draw_subjects

    return draw_subjects(cat.pk_parameters(drug, species), 1, iiv=False, catalog=cat)


def _metabolite(cat: Catalog, name: str, fraction: float, species: str) -> Any:
    from leptotwin.model.pk import Metabolite

    return Metabolite(cat.pk_parameters(name, species), fraction, catalog=cat)


def _concentrations(
    cat: Catalog,
    drug: str,
    species: str,
    regimens: Any,
    t_h: np.ndarray,
    output: str,
    metabolite: Any = None,
) -> np.ndarray:
    """Concentration (nM) of ``drug`` (or its ``metabolite``) in ``output`` at sorted times
    ``t_h`` for a typical subject: exact superposition of the PK model's closed form
    (:func:`leptotwin.model.pk._route_system`), vectorised over time."""
    from leptotwin.model.pk import _check_routes, _route_system
    from leptotwin.model.regimen import _as_regimens, doses_by_route

    subj = _typical(cat, drug, species)
    p = subj.typical
    regs = _as_regimens(regimens)
    _check_routes(p, regs)
    horizon = float(t_h[-1]) if t_h.size else 0.0
    mw = metabolite.params.mw_g_mol if metabolite is not None else p.mw_g_mol
    out = np.zeros(t_h.size)
    row = _OUTPUT_ROW[output]
    doses = doses_by_route(
        regs, horizon, body_weight_kg=p.body_weight_kg, body_surface_m2=p.body_surface_m2
    )
    for route, (dose_t, dose_mg) in doses.items():
        if dose_t.size == 0:
            continue
        poles, coef = _route_system(subj, route, metabolite)
        lam, c = poles[0], coef[0, row]
        # running sums M_k = sum_{d <= k} D_d exp(-lam (t_k - t_d)) at each dose time
        gaps = np.diff(dose_t, prepend=dose_t[0])
        running = np.empty((dose_t.size, lam.size))
        m = np.zeros(lam.size)
        decay = np.exp(-np.outer(gaps, lam))
        for k in range(dose_t.size):
            m = m * decay[k] + dose_mg[k]
            running[k] = m
        last = np.searchsorted(dose_t, t_h, side="right") - 1
        given = last >= 0
        k = np.maximum(last, 0)
        since = np.where(given, t_h - dose_t[k], 0.0)
        out += np.where(given, (running[k] * np.exp(-np.outer(since, lam))) @ c, 0.0)
    return np.maximum(out * 1e6 / mw, 0.0)


def _steady_state(
    cat: Catalog, drug: str, species: str, regimen: str, metabolite: str | None = None
) -> dict[str, np.ndarray]:
    """Plasma, unbound and CSF concentrations (nM) over one dosing interval at steady state
    (exact: the geometric sum of an infinite train of equal doses), 481 points."""
    from leptotwin.model.pk import _check_routes, _route_system
    from leptotwin.model.regimen import parse_regimen

    (reg,) = parse_regimen(regimen)
    subj = _typical(cat, drug, species)
    p = subj.typical
    _check_routes(p, (reg,))
    met = None
    if metabolite is not None:
        fraction = dict(cat.metabolites_of(p.drug, species))[metabolite]
        met = _metabolite(cat, metabolite, fraction, species)
    tau = float(reg.interval_h)  # type: ignore[arg-type]
    s = np.linspace(0.0, tau, 481)
    poles, coef = _route_system(subj, reg.route, met)
    lam = poles[0]
    dose = reg.dose_mg(body_weight_kg=p.body_weight_kg, body_surface_m2=p.body_surface_m2)
    basis = dose * np.exp(-np.outer(s, lam)) / (1.0 - np.exp(-lam * tau))
    mw = met.params.mw_g_mol if met is not None else p.mw_g_mol
    fu = met.params.fu if met is not None else p.fu
    plasma = np.maximum(basis @ coef[0, 0], 0.0) * 1e6 / mw
    return {
        "t_h": s,
        "plasma": plasma,
        "unbound": plasma * fu,
        "csf": np.maximum(basis @ coef[0, 1], 0.0) * 1e6 / mw,
        "mw": np.array(mw),
    }


def _pk(drug: str, species: str, regimen: str, what: str, metabolite: str | None = None):  # type: ignore[no-untyped-def]
    """A steady-state PK summary of a typical subject (ng/mL, ratios or h)."""

    def f(cat: Catalog) -> float:
        ss = _shared(
            cat,
            ("pk", drug, species, regimen, metabolite),
            lambda c: _steady_state(c, drug, species, regimen, metabolite),
        )
        ng = float(ss["mw"]) / 1000.0
        t, tau = ss["t_h"], float(ss["t_h"][-1])
        mean = lambda x: float(np.trapezoid(x, t) / tau)  # noqa: E731
        if what == "cmax":
            return float(ss["plasma"].max()) * ng
        if what == "cmin":
            return float(ss["plasma"].min()) * ng
        if what == "cav":
            return mean(ss["plasma"]) * ng
        if what == "unbound_cmax":
            return float(ss["unbound"].max()) * ng
        if what == "unbound_cmin":
            return float(ss["unbound"].min()) * ng
        if what == "unbound_cav":
            return mean(ss["unbound"]) * ng
        if what == "csf_cav":
            return mean(ss["csf"]) * ng
        if what == "csf_plasma":
            return mean(ss["csf"]) / mean(ss["plasma"])
        if what == "csf_unbound":
            return mean(ss["csf"]) / mean(ss["unbound"])
        if what == "peak_trough":
            return float(ss["plasma"].max() / ss["plasma"].min())
        raise KeyError(what)

    return f


def _pk_metabolite_ratio(drug: str, metabolite: str, species: str, regimen: str):  # type: ignore[no-untyped-def]
    def f(cat: Catalog) -> float:
        par = _shared(
            cat,
            ("pk", drug, species, regimen, None),
            lambda c: _steady_state(c, drug, species, regimen),
        )
        met = _shared(
            cat,
            ("pk", drug, species, regimen, metabolite),
            lambda c: _steady_state(c, drug, species, regimen, metabolite),
        )
        # exposure as mass (ng.h/mL), as the label's "% of parent exposure"
        auc = lambda ss: float(np.trapezoid(ss["plasma"], ss["t_h"])) * float(ss["mw"])  # noqa: E731
        return auc(met) / auc(par)

    return f


def _half_life(drug: str, species: str):  # type: ignore[no-untyped-def]
    return lambda cat: cat.pk_parameters(drug, species).half_life_h


# --------------------------------------------------------------------------------------------
# the typical virtual mouse (C2, C7): model/cohort.py's scheme, vectorised over time windows


def _lesion_drugs(
    cat: Catalog, arms: list[dict[str, str]], t_h: np.ndarray, t0_h: float, species: str
) -> dict[str, np.ndarray]:
    """Unbound lesion concentration (nM) of every drug and active metabolite, per arm, at
    ``t_h``: shape (n_arms, n_times) each (zeros in arms without the drug)."""
    from leptotwin.model.regimen import _as_regimens, _shifted

    conc: dict[str, np.ndarray] = {}
    done: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}  # a drug's regimen in many arms
    for a, arm in enumerate(arms):
        for drug, text in arm.items():
            name = cat.drug(drug).name
            if (name, repr(text)) not in done:
                regs = _shifted(_as_regimens(text), t0_h)
                parts = [(name, None)] + [
                    (met, _metabolite(cat, met, frac, species))
                    for met, frac in cat.metabolites_of(name, species)
                ]
                done[name, repr(text)] = [
                    (
                        label,
                        _concentrations(cat, name, species, regs, t_h, "lesion", metabolite=met),
                    )
                    for label, met in parts
                ]
            for label, c in done[name, repr(text)]:
                conc.setdefault(label, np.zeros((len(arms), t_h.size)))[a] += c
    return conc


@dataclass
class _MouseRun:
    """Step ends of typical virtual mice, one per arm (the cohort model's grid: hourly, finer in
    the hours after each dose)."""

    t_h: np.ndarray  # (n_steps + 1,)
    cells: np.ndarray  # (n_clones, n_arms, n_steps + 1)
    death_h: np.ndarray  # (n_arms,), nan while alive
    t0_h: float

    @property
    def total(self) -> np.ndarray:
        return self.cells.sum(0)


@dataclass
class _MouseSetup:
    """What one catalogue contributes to a batch of typical mice (``_simulate_mice_many``)."""

    pm: Any  # PathwayModel
    tp: Any  # TumorParameters
    columns: Any  # StateColumns of the clones, shape (n_clones,) each
    sec: np.ndarray  # (n_clones,) AREG one cell adds to the CSF (nM/h)
    conc: dict[str, np.ndarray]  # drug -> (n_arms, 2 n_steps + 1) unbound lesion nM
    ends: np.ndarray  # (n_steps,) step ends, h
    t0: float  # treatment start, h


def _mouse_setup(
    cat: Catalog, arms: list[dict[str, str]], *, inoculum: str, days: float
) -> tuple[_MouseSetup, list[str]]:
    """One catalogue's constants of the typical-mouse scheme (see :func:`_simulate_mice_many`)."""
    from leptotwin.model.cohort import growth_grid
    from leptotwin.model.pathway import PathwayModel
    from leptotwin.model.regimen import _as_regimens, _shifted
    from leptotwin.model.tumor import TumorParameters, default_clones

    if inoculum not in (PARENTAL, AR):
        raise LeptotwinError("unknown inoculum", field="inoculum", value=inoculum)
    pm = PathwayModel.from_catalog(cat)
    pm.refuse_bypass("the in-vivo tumour model")
    tp = TumorParameters.from_catalog(cat, species="mouse")
    clones = default_clones(cat)
    t_end = days * 24.0
    t0 = tp.treatment_start_d * 24.0
    # the cohort model's grid: hourly, finer after each dose (model.cohort.growth_grid)
    doses = [
        r.dose_times_h(t_end)
        for arm in arms
        for text in arm.values()
        for r in _shifted(_as_regimens(text), t0)
    ]
    ends = growth_grid(t_end, MOUSE_DT_H, np.concatenate([np.empty(0), *doses]))
    if ends is None:
        ends = np.minimum(np.arange(1, math.ceil(t_end / MOUSE_DT_H) + 1) * MOUSE_DT_H, t_end)
    steps = ends.size
    starts = np.concatenate([[0.0], ends[:-1]])
    hs = ends - starts
    t_fine = np.empty(2 * steps + 1)  # step starts, midpoints and ends
    t_fine[0], t_fine[1::2], t_fine[2::2] = 0.0, starts + 0.5 * hs, ends
    conc = _lesion_drugs(cat, arms, t_fine, t0, "mouse")
    sec = np.array([float(pm.secretion_nM_per_h(c.state, tp.csf_volume_mL)) for c in clones])
    columns = pm.state_columns([c.state for c in clones])
    setup = _MouseSetup(pm, tp, columns, sec, conc, ends, t0)
    return setup, [c.name for c in clones]


def _simulate_mice(
    cat: Catalog,
    arms: list[dict[str, str]],
    *,
    inoculum: str,
    days: float,
    stop: Callable[[_MouseRun, int], bool] | None = None,
) -> _MouseRun:
    """:func:`_simulate_mice_many` of one catalogue (raises what its setup raises)."""
    (run,) = _simulate_mice_many([cat], arms, inoculum=inoculum, days=days, stop=stop)
    if isinstance(run, Exception):
        raise run
    return run


def _simulate_mice_many(
    cats: list[Catalog],
    arms: list[dict[str, str]],
    *,
    inoculum: str,
    days: float,
    stop: Callable[[_MouseRun, int], bool] | None = None,
) -> list[_MouseRun | Exception]:
    """Typical mice (no PK variability, median engraftment and growth scale, expected switching)
    of :func:`leptotwin.model.cohort.simulate_lmc`, one per arm and catalogue, with its scheme:
    rates at the start, middle and end of each step (Simpson), room and CSF AREG from the start
    of the step, exponential growth, exact exponential CSF update. The step recursion is solved
    a window of steps at a time: the rates of a window are evaluated together on the state
    trajectory of the previous iterate, until the trajectory no longer changes (a fixed point of
    the sequential scheme). ``stop(run, step)`` may end a catalogue's run early (after a window).

    The catalogues run as rows of one array (per-row pathway, clone, tumour and PK values);
    every catalogue keeps its own window sizes and iterations (a window is solved for all the
    catalogues at the same step with the same window size at once), so each run is the one it
    would be alone, to the bit. Returns one run per catalogue, or the exception (of
    ``_FAILURES``) that its setup raised.
    """
    from leptotwin.catalog.loader import using_catalog

    out: list[_MouseRun | Exception | None] = [None] * len(cats)
    setups: dict[int, _MouseSetup] = {}
    names: list[str] = []
    for k, cat in enumerate(cats):
        try:
            with using_catalog(cat):
                setups[k], names = _mouse_setup(cat, arms, inoculum=inoculum, days=days)
        except _FAILURES as exc:
            out[k] = exc
    # catalogues on the same grid run together
    groups: dict[tuple[float, bytes], list[int]] = {}
    for k, s in setups.items():
        groups.setdefault((s.t0, s.ends.tobytes()), []).append(k)
    for ks in groups.values():
        runs: list[Any]
        caught = _FAILURES if len(ks) == 1 else _BATCH_FAILURES
        try:
            runs = _mice_batch([setups[k] for k in ks], names, len(arms), inoculum, stop)
        except caught as exc:
            runs = [] if len(ks) > 1 else [exc]
        if not runs:
            # the batch raised: find which catalogue fails, each alone (the same numbers for
            # the others; a catalogue that does not settle is already ended alone, no raise)
            for k in ks:
                try:
                    runs += _mice_batch([setups[k]], names, len(arms), inoculum, stop)
                except _FAILURES as exc:
                    runs.append(exc)
        for k, r in zip(ks, runs, strict=True):
            out[k] = r
    return out  # type: ignore[return-value]


def _mice_batch(
    setups: list[_MouseSetup],
    names: list[str],
    n_arms: int,
    inoculum: str,
    stop: Callable[[_MouseRun, int], bool] | None,
) -> list[_MouseRun | Exception]:
    """The scheme of :func:`_simulate_mice_many` for K catalogues on one grid: arrays of shape
    (n_clones, K, n_arms, ...). Returns one run per catalogue, or an :class:`ArithmeticError`
    for a catalogue whose one-step window does not settle (e.g. a NaN trajectory)."""
    from dataclasses import replace

    n_cat = len(setups)
    errors: dict[int, Exception] = {}  # catalogues whose scheme fails: ended alone
    i_p, i_r = names.index("P"), names.index("R")
    n_clones = len(names)
    first = setups[0]
    ends = first.ends
    steps = ends.size
    starts = np.concatenate([[0.0], ends[:-1]])
    hs = ends - starts  # (steps,) step lengths, h
    t_fine = np.empty(2 * steps + 1)
    t_fine[0], t_fine[1::2], t_fine[2::2] = 0.0, starts + 0.5 * hs, ends
    t0 = first.t0

    def col(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=float)

    tps = [s.tp for s in setups]
    k_csf = col([tp.csf_turnover_per_h for tp in tps])  # (K,)
    scale = col([tp.in_vivo_rate_scale for tp in tps])
    capacity = col([tp.carrying_capacity for tp in tps])
    switch = col([tp.switch_rate for tp in tps])
    endpoint = col([tp.endpoint_cells for tp in tps])
    qs = np.exp(-k_csf[:, None] * hs)  # (K, steps): CSF AREG kept over each step
    sec = np.stack([s.sec for s in setups], axis=1)  # (C, K)
    conc = {d: np.stack([s.conc[d] for s in setups]) for d in first.conc}  # (K, A, n)
    # per-row pathway values (K,) and clone constants (C, K)
    floats, dicts = _pathway_fields()
    path = {f: col([getattr(s.pm, f) for s in setups]) for f in floats}
    pots = {
        f: {d: col([getattr(s.pm, f)[d] for s in setups]) for d in getattr(first.pm, f)}
        for f in dicts
    }
    alk = np.stack([s.columns.alk_fusion for s in setups], axis=1)
    autocrine = np.stack([s.columns.autocrine_nM for s in setups], axis=1)
    drive = np.stack([s.columns.egfr_drive for s in setups], axis=1)

    cells = np.zeros((n_clones, n_cat, n_arms, steps + 1))
    for k, tp in enumerate(tps):
        if inoculum == PARENTAL:
            cells[i_p, k, :, 0] = tp.inoculum_cells
            cells[i_r, k, :, 0] = tp.inoculum_cells * tp.switch_rate * tp.culture_generations
        else:
            cells[i_r, k, :, 0] = tp.inoculum_cells
    csf = np.zeros((n_cat, n_arms))
    death = np.full((n_cat, n_arms), np.nan)

    def drugs(ks: np.ndarray, j0: int, n: int) -> Any:
        """What the drugs do to catalogues ``ks`` at fine nodes j0 .. j0 + n - 1 (it does not
        depend on the state: once per window)."""
        pm, alk_k = subset(ks)[:2]
        return pm._drug_action(alk_k, {d: c[ks, :, j0 : j0 + n] for d, c in conc.items()})

    def rates(ks: np.ndarray, action: Any, n: int, room: np.ndarray, areg: np.ndarray):  # type: ignore[no-untyped-def]
        """Birth, death, net rate of catalogues ``ks`` under the drugs' ``action`` at ``n`` fine
        nodes (state per node): shape (C, len(ks), A, n). The operations of
        tumor.clone_rates, element by element, with the catalogues' values on their own axis."""
        pm, _, autocrine_k, drive_k, s = subset(ks)
        b, d = pm.rates(pm._signal(action, autocrine_k, drive_k, areg)[3])
        shape = (n_clones, ks.size, n_arms, n)
        if b.shape != shape or d.shape != shape:  # rates that only broadcast to the shape
            b, d = np.broadcast_to(b, shape).copy(), np.broadcast_to(d, shape).copy()
        return b * s, d * s, (b * room - d) * s

    subsets: dict[bytes, tuple] = {}

    def subset(ks: np.ndarray) -> tuple:
        """The pathway, clone constants and rate scale of catalogues ``ks``, shaped for rates()
        (kept: a group of catalogues steps through many windows)."""
        if ks.tobytes() not in subsets:
            r3 = lambda x: x[ks, None, None]  # noqa: E731
            pm = replace(
                setups[0].pm,
                **{f: r3(v) for f, v in path.items()},
                **{f: {d: r3(v) for d, v in p.items()} for f, p in pots.items()},
            )
            c4 = lambda x: x[:, ks, None, None]  # noqa: E731
            subsets[ks.tobytes()] = (pm, c4(alk), c4(autocrine), c4(drive), r3(scale))
        return subsets[ks.tobytes()]

    every = np.arange(n_cat)
    room0 = np.clip(1.0 - cells[:, :, :, 0].sum(0) / capacity[:, None], 0.0, 1.0)
    b_prev, d_prev, g_prev = rates(every, drugs(every, 0, 1), 1, room0[:, :, None], csf[:, :, None])
    win = max(1, round(MOUSE_WINDOW_H / MOUSE_DT_H))
    runs = [_MouseRun(t_fine[::2], cells[:, k], death[k], t0) for k in range(n_cat)]
    simpson = lambda x: (x[..., 0:-2:2] + 4.0 * x[..., 1:-1:2] + x[..., 2::2]) / 6.0  # noqa: E731

    def window(ks: np.ndarray, j: int, w: int) -> dict[int, tuple]:
        """Steps j .. j + w - 1 of catalogues ``ks`` by fixed-point iteration: catalogue ->
        (cells, CSF AREG, birth, death, net rates) of those that settle (each at its own
        iterate, as alone)."""
        h = hs[j : j + w]  # (w,): the window's steps
        at = np.arange(ks.size)  # the catalogues still iterating, as positions in ks
        # the active catalogues' values (taken again only when some settle)
        st = cells[:, :, :, j][:, ks]  # (C, k, A)
        live = np.isnan(death[ks])  # (k, A)
        cap, csf0 = capacity[ks, None, None], csf[ks]
        q = qs[ks, None, j : j + w]  # (k, 1, w)
        sw, sec_k, kc = switch[ks, None, None], sec[:, ks, None, None], k_csf[ks, None, None]
        b0, d0, g0 = b_prev[:, ks], d_prev[:, ks], g_prev[:, ks]
        # first iterate: the state held at the window's start
        room0 = np.clip(1.0 - st.sum(0) / cap[..., 0], 0.0, 1.0)
        room_s = np.repeat(room0[..., None], w, -1)
        areg_s = np.repeat(csf0[..., None], w, -1)
        powers = np.cumprod(q, axis=-1)
        prev = None
        action = None
        settled: dict[int, tuple] = {}
        for _ in range(MOUSE_MAX_ITERATIONS):
            if action is None:  # first iterate, or some catalogues settled
                action = drugs(ks[at], 2 * j + 1, 2 * w)
            b, d, g = rates(
                ks[at], action, 2 * w, np.repeat(room_s, 2, -1), np.repeat(areg_s, 2, -1)
            )
            b = np.concatenate([b0, b], axis=3)
            d = np.concatenate([d0, d], axis=3)
            g = np.concatenate([g0, g], axis=3)
            g_avg, b_avg, d_avg = simpson(g), simpson(b), simpson(d)  # (C, k, A, w)
            p_surv = np.clip(1.0 - d_avg[i_r] / np.maximum(b_avg[i_r], 1e-12), 0.0, 1.0)
            # cells over the window: P grows alone, R grows and receives switched lineages
            log_growth = np.cumsum(g_avg * h, axis=-1)  # (C, k, A, w): growth to each step end
            traj = st[..., None] * np.exp(log_growth)
            n_p = np.concatenate([st[i_p][..., None], traj[i_p][..., :-1]], axis=-1)
            lam = np.nan_to_num(sw * b_avg[i_p] * n_p * h * p_surv)
            added = np.where(p_surv > 0, lam / np.maximum(p_surv, 1e-3), 0.0)
            # R_{m+1} = R_m e^{gR_m h} + added_m  ->  R_m = E_m (R_0 + sum added_k / E_{k+1})
            e_r = np.exp(log_growth[i_r])
            traj[i_r] = e_r * (st[i_r][..., None] + np.cumsum(added / e_r, axis=-1))
            # CSF AREG: exact exponential update with the mean source over each step
            src = (sec_k * 0.5 * (traj + traj * np.exp(-g_avg * h))).sum(0)
            csf_traj = powers * (csf0[..., None] + np.cumsum(src * (1 - q) / powers, axis=-1) / kc)
            if prev is not None:
                # arms past the endpoint no longer matter (nothing is read after it)
                close = np.isclose(traj, prev, rtol=MOUSE_RTOL, atol=1e-3)
                done = (close | ~live[None, :, :, None]).all(axis=(0, 2, 3))
                if done.any():
                    for i in np.flatnonzero(done):
                        settled[int(at[i])] = (traj[:, i], csf_traj[i], b[:, i], d[:, i], g[:, i])
                    keep = ~done
                    if not keep.any():
                        return settled
                    at, traj, csf_traj = at[keep], traj[:, keep], csf_traj[keep]
                    st, live, cap, csf0, room0 = (
                        st[:, keep],
                        live[keep],
                        cap[keep],
                        csf0[keep],
                        room0[keep],
                    )
                    q, powers, sw, sec_k, kc = (
                        q[keep],
                        powers[keep],
                        sw[keep],
                        sec_k[:, keep],
                        kc[keep],
                    )
                    b0, d0, g0 = b0[:, keep], d0[:, keep], g0[:, keep]
                    action = None
            prev = traj
            new_room = np.clip(1.0 - traj.sum(0) / cap, 0.0, 1.0)
            room_s = np.concatenate([room0[..., None], new_room[..., :-1]], axis=-1)
            areg_s = np.concatenate([csf0[..., None], csf_traj[..., :-1]], axis=-1)
        return settled

    # every catalogue at its own step j and window size; those at the same (j, size) together
    pos = np.zeros(n_cat, dtype=int)
    size = np.full(n_cat, win)
    running = np.ones(n_cat, dtype=bool)
    while running.any():
        k0 = int(np.flatnonzero(running)[np.argmin(pos[running])])
        j = int(pos[k0])
        ks = np.flatnonzero(running & (pos == j) & (size == size[k0]))
        w = min(int(size[k0]), steps - j)
        solved = window(ks, j, w)
        failed = np.array([k for i, k in enumerate(ks) if i not in solved], dtype=int)
        if failed.size and w == 1:
            # one step that does not settle (a retry would do the same again): a non-finite
            # trajectory on a live arm (NaN is close to nothing), or no fixed point within
            # MOUSE_MAX_ITERATIONS; that catalogue ends here, the others go on
            for k in failed:
                errors[int(k)] = ArithmeticError(
                    f"the typical mice's step {j} does not settle (non-finite or no fixed point)"
                )
                running[k] = False
        elif failed.size:  # strong feedback: shorter windows (one step settles when finite)
            size[failed] = max(1, w // 4)
        if not solved:
            continue
        at = np.array(sorted(solved))
        kk = ks[at]
        traj = np.stack([solved[i][0] for i in at], axis=1)  # (C, k, A, w)
        start = cells[:, :, :, j][:, kk]
        cells[:, kk, :, j + 1 : j + w + 1] = traj
        csf[kk] = np.stack([solved[i][1][:, -1] for i in at])
        for arr, m in ((b_prev, 2), (d_prev, 3), (g_prev, 4)):
            arr[:, kk] = np.stack([solved[i][m][..., -1:] for i in at], axis=1)
        size[kk] = min(win, 2 * w)  # and longer again once it settles
        # the endpoint: first step end at or above the endpoint burden (log-linear in the step)
        tot = np.concatenate([start.sum(0)[..., None], traj.sum(0)], axis=-1)  # (k, A, w + 1)
        for i, k in enumerate(kk):
            for a in np.flatnonzero(np.isnan(death[k])):
                hit = np.flatnonzero(tot[i, a, 1:] >= endpoint[k])
                if hit.size:
                    m = int(hit[0])
                    lo, hi = np.log(tot[i, a, m]), np.log(tot[i, a, m + 1])
                    frac = (np.log(endpoint[k]) - lo) / max(hi - lo, 1e-12)
                    death[k, a] = runs[k].t_h[j + m] + min(max(frac, 0.0), 1.0) * hs[j + m]
        pos[kk] = j + w
        for k in kk:
            jk = int(pos[k])
            if jk >= steps:
                running[k] = False
            elif stop is not None and stop(runs[k], jk):
                runs[k].t_h, runs[k].cells = runs[k].t_h[: jk + 1], runs[k].cells[:, :, : jk + 1]
                running[k] = False
    return [errors.get(k, run) for k, run in enumerate(runs)]


def _flux(cat: Catalog, cells: np.ndarray) -> np.ndarray:
    """Noise-free BLI of a typical mouse: cells x photons x median attenuation + background."""
    from leptotwin.assays.bli import BLISettings

    s = BLISettings.from_catalog(cat)
    return cells * s.photons_per_cell * s.attenuation + s.background_p_s


def _relapse(cat: Catalog) -> dict[str, float]:
    """C2 in a typical mouse: parental inoculum, the protocol's alectinib from treatment start."""
    return _one(_relapse_many([cat]))


def _one(results: list[Any]) -> Any:
    (value,) = results
    if isinstance(value, Exception):
        raise value
    return value


def _each(cats: list[Catalog], runs: list[Any], fn: Callable[[Catalog, Any], Any]) -> list[Any]:
    """``fn(catalog, run)`` per catalogue; a failure (of ``_FAILURES``) is returned, not raised."""
    from leptotwin.catalog.loader import using_catalog

    out: list[Any] = []
    for cat, run in zip(cats, runs, strict=True):
        if isinstance(run, Exception):
            out.append(run)
            continue
        try:
            with using_catalog(cat):
                out.append(fn(cat, run))
        except _FAILURES as exc:
            out.append(exc)
    return out


def _relapsed(run: _MouseRun, j: int) -> bool:
    """C2's early stop: relapse seen (or no fall two weeks into treatment) by step ``j``."""
    i0 = int(np.searchsorted(run.t_h, run.t0_h - 1e-9))
    tot = run.total[0, : j + 1]
    if j <= i0:
        return False
    after = tot[i0:]
    nadir = int(np.argmin(after))
    if nadir == 0:  # no fall at all: stop two weeks into treatment
        return bool(run.t_h[j] > run.t0_h + 14 * 24.0)
    return bool((after[nadir:] > tot[i0]).any())


def _relapse_many(cats: list[Catalog]) -> list[dict[str, float] | Exception]:
    """:func:`_relapse` of each catalogue, the mice of all of them in one batch."""
    proto = _protocol("lmc_mouse")
    reg = proto["regimens"]
    arm = {d: reg[d] for d in proto["relapse"]["arms"]["alectinib"]}
    days = float(proto["relapse"]["follow_up_days"])
    runs = _simulate_mice_many(cats, [arm], inoculum=PARENTAL, days=days, stop=_relapsed)
    return _each(cats, runs, _relapse_readouts)


def _relapse_readouts(cat: Catalog, run: _MouseRun) -> dict[str, float]:
    i0 = int(np.searchsorted(run.t_h, run.t0_h - 1e-9))
    tot = run.total[0]
    after = tot[i0:]
    nadir = int(np.argmin(after))
    pre = tot[i0]
    flux = _flux(cat, np.array([pre, after[nadir]]))
    nadir_day = (run.t_h[i0 + nadir] - run.t_h[i0]) / 24.0
    out = {"nadir_fold": float(flux[0] / flux[1]), "nadir_day": float(nadir_day)}
    back = np.flatnonzero(after[nadir:] > pre)
    if back.size == 0 or nadir == 0:
        out["relapse_day"] = math.inf if nadir > 0 else 0.0
        out["relapse_fraction_R"] = math.nan
        return out
    k = i0 + nadir + int(back[0])  # first step end above the pre-treatment burden
    lo, hi = np.log(tot[k - 1]), np.log(tot[k])
    frac = (np.log(pre) - lo) / (hi - lo) if hi > lo else 1.0
    t_cross = run.t_h[k - 1] + frac * (run.t_h[k] - run.t_h[k - 1])
    out["relapse_day"] = float((t_cross - run.t0_h) / 24.0)
    out["relapse_fraction_R"] = float(run.cells[1, 0, k] / tot[k])
    return out


def _combination(cat: Catalog) -> dict[str, float]:
    """C7 in typical mice: A925L/AR inoculum, six arms, week-k flux over baseline (LOCF after the
    endpoint, as the section)."""
    return _one(_combination_many([cat]))


def _combination_many(cats: list[Catalog]) -> list[dict[str, float] | Exception]:
    """:func:`_combination` of each catalogue, the mice of all of them in one batch
    (catalogues with another treatment start run as another batch)."""
    from leptotwin.model.tumor import TumorParameters

    proto = _protocol("lmc_mouse")
    reg = proto["regimens"]
    exp = proto["combination"]
    arms = [{d: reg[d] for d in exp["arms"][name]} for name in C7_ARMS]
    weeks = int(exp["imaging_weeks"])
    out: list[Any] = [None] * len(cats)
    by_days: dict[float, list[int]] = {}
    for k, cat in enumerate(cats):
        try:
            start_d = TumorParameters.from_catalog(cat, species="mouse").treatment_start_d
        except _FAILURES as exc:
            out[k] = exc
            continue
        by_days.setdefault(start_d + 7.0 * weeks, []).append(k)
    for days, ks in by_days.items():
        sub = [cats[k] for k in ks]
        runs = _simulate_mice_many(sub, arms, inoculum=AR, days=days)
        values = _each(sub, runs, lambda c, r: _combination_readouts(c, r, weeks))
        for k, v in zip(ks, values, strict=True):
            out[k] = v
    return out


def _combination_readouts(cat: Catalog, run: _MouseRun, weeks: int) -> dict[str, float]:
    image_h = run.t0_h + 24.0 * 7.0 * np.arange(weeks + 1)
    idx = np.clip(np.searchsorted(run.t_h, image_h - 1e-9), 0, run.t_h.size - 1)
    out = {}
    for a, name in enumerate(C7_ARMS):
        seen = idx if np.isnan(run.death_h[a]) else idx[run.t_h[idx] < run.death_h[a]]
        if seen.size == 0:
            out[name] = math.nan
            continue
        flux = _flux(cat, run.total[a, seen])
        out[name] = float(flux[-1] / flux[0])
    return out


# --------------------------------------------------------------------------------------------
# C8: lesion / brain exposure of the MSI section's typical lesion (tissue model, no imaging)


def _lesion_brain(drug: str):  # type: ignore[no-untyped-def]
    def f(cat: Catalog) -> float:
        from leptotwin.model.barrier import lesion_kp_uu
        from leptotwin.model.tissue import TissueParams

        p = TissueParams.from_catalog(drug, cat)
        days = cat.in_vivo_value("brain_section", "days_dosed")
        t = np.array(
            [(max(days, 1.0) - 1.0) * 24.0 + cat.in_vivo_value("brain_section", "sampling_time")]
        )
        regimen = _protocol("lmc_mouse")["regimens"][drug]
        plasma = _concentrations(cat, drug, "mouse", regimen, t, "plasma")[0]
        lesion = _concentrations(cat, drug, "mouse", regimen, t, "lesion")[0]
        unbound = plasma * cat.pk_parameters(drug, "mouse").fu
        # PK lesion compartment scaled to the tissue model's typical lesion (1 unless they differ)
        lesion_u = lesion * float(p.lesion_kp_uu()) / lesion_kp_uu(drug, "mouse", cat)
        b = p.brain_binding
        brain_total = p.kp_uu_brain * unbound * (1.0 + b)
        return float(lesion_u * (1.0 + p.lesion_binding_scale * b) / brain_total)

    return f


# --------------------------------------------------------------------------------------------
# C9: CSF AREG of the three patient groups, population integrals on a normal-quantile grid


def _csf_groups(cat: Catalog) -> dict[str, np.ndarray]:
    """What a perfect ELISA reports (values below its LLOQ at the LLOQ, as the section) for
    each group, on a grid of equally weighted normal quantiles of baseline and burden."""
    from scipy.stats import norm

    from leptotwin.model.pathway import PathwayModel, cell_state

    pm = PathwayModel.from_catalog(cat)
    v = lambda name: cat.in_vivo_value("patients", name)  # noqa: E731
    z = norm.ppf((np.arange(C9_GRID) + 0.5) / C9_GRID)
    base = v("csf_areg_baseline") * np.exp(v("csf_areg_baseline_sd") * z)
    cells = v("lmc_tumour_cells") * np.exp(v("lmc_tumour_cells_sd") * z)
    per_cell = 1e-6 / (cat.species_value("human", "csf_volume") * cat.csf_turnover_per_h("human"))
    state = cell_state(PARENTAL, catalog=cat)
    kit = lambda name: cat.assay_value("areg_elisa", name)  # noqa: E731
    lowest = kit("top_standard") / kit("dilution_step") ** (kit("n_standards") - 1)
    lloq = lowest * v("csf_dilution")

    def lmc(mir449a: float) -> np.ndarray:
        sigma = pm.areg_secretion(state.with_levels(mir449a=mir449a))
        return np.sort(
            np.maximum((base[:, None] + sigma * per_cell * cells[None, :]).ravel(), lloq)
        )

    return {
        "alk": lmc(v("alk_refractory_mir449a")),
        "egfr": lmc(v("egfr_mutant_mir449a")),
        "none": np.sort(np.maximum(base, lloq)),
    }


def _p_higher(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + ½ P(X = Y) for equally weighted sorted samples."""
    less = np.searchsorted(y, x, side="left")
    equal = np.searchsorted(y, x, side="right") - less
    return float(np.mean((less + 0.5 * equal) / y.size))


def _c9(what: str, other: str):  # type: ignore[no-untyped-def]
    def f(cat: Catalog) -> float:
        g = _shared(cat, "csf_groups", _csf_groups)
        if what == "median_ratio":
            return float(np.median(g["alk"]) / np.median(g[other]))
        return _p_higher(g["alk"], g[other])

    return f


# --------------------------------------------------------------------------------------------
# registry


#: Readout name -> the shared computation it reads (where it reads one; filled by _build).
_SHARED_BY: dict[str, str] = {}


def _build() -> dict[str, Readout]:
    r: list[Readout] = []

    def add(name: str, unit: str, description: str, claims: tuple[str, ...], fn) -> None:  # type: ignore[no-untyped-def]
        r.append(Readout(name, unit, description, claims, _guarded(name, fn)))
        if getattr(fn, "shared", None) is not None:
            _SHARED_BY[name] = fn.shared

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
    relapse = lambda key: _reads("relapse", lambda cat: _shared(cat, "relapse", _relapse)[key])  # noqa: E731
    add(
        "C2.nadir_fold",
        "1",
        "typical mouse, parental LMC on alectinib: BLI flux before treatment / at the nadir "
        "(noise-free flux with background, hourly burden)",
        ("C2",),
        relapse("nadir_fold"),
    )
    add(
        "C2.relapse_day",
        "d",
        "typical mouse: days from treatment start until the burden is back above its "
        "pre-treatment value after the nadir (continuous time; inf if not within the protocol's "
        "follow-up; 0 if it never falls)",
        ("C2",),
        relapse("relapse_day"),
    )
    add(
        "C2.relapse_areg_high_fraction",
        "1",
        "typical mouse: fraction of AREG-high (R) cells in the burden at relapse (NaN without one)",
        ("C2",),
        relapse("relapse_fraction_R"),
    )
    combo = lambda arm: _reads(  # noqa: E731
        "combination", lambda cat: _shared(cat, "combination", _combination)[arm]
    )
    for arm in C7_ARMS:
        key = arm.replace(" + ", "_").replace(" ", "_")
        add(
            f"C7.week4_fold_{key}",
            "1",
            f"typical mouse, A925L/AR LMC, arm {arm}: noise-free BLI flux at week 4 / at "
            "treatment start (last image before the endpoint if reached earlier, as the section: "
            "1 when the endpoint comes before the first weekly image; NaN before treatment)",
            ("C7",),
            combo(arm),
        )
    for drug in ("erlotinib", "osimertinib"):
        add(
            f"C8.{drug}_lesion_brain",
            "1",
            f"total {drug} in a typical lesion / adjacent brain at the MSI sampling time "
            "(barrier, efflux and tissue binding; no imaging)",
            ("C8",),
            _lesion_brain(drug),
        )
    for other, label in (("egfr", "EGFR-mutant LMC"), ("none", "no LMC")):
        add(
            f"C9.median_ratio_alk_{other}",
            "1",
            f"median CSF AREG, ALK+ alectinib-refractory LMC / {label} (population integral; "
            "values below the ELISA's LLOQ at the LLOQ)",
            ("C9",),
            _c9("median_ratio", other),
        )
        add(
            f"C9.p_alk_higher_{other}",
            "1",
            f"P(ALK patient's CSF AREG > {label} patient's) + half the ties (population integral)",
            ("C9",),
            _c9("p_higher", other),
        )
    pk = [
        ("mouse", "erlotinib", "50 mg/kg QD", "unbound_cmax", "ng/mL"),
        ("mouse", "erlotinib", "50 mg/kg QD", "unbound_cmin", "ng/mL"),
        ("mouse", "erlotinib", "50 mg/kg QD", "unbound_cav", "ng/mL"),
        ("mouse", "erlotinib", "25 mg/kg BID", "unbound_cmax", "ng/mL"),
        ("mouse", "erlotinib", "25 mg/kg BID", "unbound_cmin", "ng/mL"),
        ("human", "alectinib", "600 mg BID", "cmax", "ng/mL"),
        ("human", "alectinib", "600 mg BID", "cmin", "ng/mL"),
        ("human", "alectinib", "600 mg BID", "csf_unbound", "1"),
        ("human", "lorlatinib", "100 mg QD", "cmax", "ng/mL"),
        ("human", "lorlatinib", "100 mg QD", "cav", "ng/mL"),
        ("human", "lorlatinib", "100 mg QD", "csf_unbound", "1"),
        ("human", "erlotinib", "150 mg QD", "unbound_cmax", "ng/mL"),
        ("human", "erlotinib", "150 mg QD", "unbound_cav", "ng/mL"),
        ("human", "erlotinib", "150 mg QD", "csf_plasma", "1"),
        ("human", "erlotinib", "150 mg QD", "csf_cav", "ng/mL"),
        ("human", "gefitinib", "250 mg QD", "csf_plasma", "1"),
        ("human", "gefitinib", "250 mg QD", "cav", "ng/mL"),
        ("human", "crizotinib", "250 mg BID", "csf_plasma", "1"),
        ("human", "crizotinib", "250 mg BID", "cmin", "ng/mL"),
        ("human", "osimertinib", "80 mg QD", "peak_trough", "1"),
        ("human", "osimertinib", "80 mg QD", "cav", "ng/mL"),
    ]
    words = {
        "cmax": "Cmax,ss",
        "cmin": "Cmin,ss (trough)",
        "cav": "average steady-state concentration (AUC over the interval / interval)",
        "unbound_cmax": "unbound Cmax,ss",
        "unbound_cmin": "unbound Cmin,ss",
        "unbound_cav": "unbound Cav,ss",
        "csf_unbound": "CSF / unbound plasma (interval means)",
        "csf_plasma": "CSF / total plasma (interval means)",
        "csf_cav": "mean CSF concentration",
        "peak_trough": "peak / trough ratio",
    }
    for species, drug, regimen, what, unit in pk:
        tag = regimen.replace("/", "").replace(" ", "_").lower()
        add(
            f"PK.{species}.{drug}.{tag}.{what}",
            unit,
            f"{species} {drug} {regimen}, typical subject at steady state: {words[what]}",
            (),
            _pk(drug, species, regimen, what),
        )
    add(
        "PK.human.osimertinib.80_mg_qd.az5104_exposure_ratio",
        "1",
        "human osimertinib 80 mg QD, typical subject: AZ5104 / osimertinib plasma AUC,ss (mass)",
        (),
        _pk_metabolite_ratio("osimertinib", "AZ5104", "human", "80 mg QD"),
    )
    for species, drug in (
        ("human", "alectinib"),
        ("human", "erlotinib"),
        ("human", "lorlatinib"),
        ("human", "gefitinib"),
        ("human", "crizotinib"),
        ("human", "osimertinib"),
        ("mouse", "osimertinib"),
        ("mouse", "erlotinib"),
    ):
        add(
            f"PK.{species}.{drug}.half_life",
            "h",
            f"{species} {drug}: terminal half-life of the disposition model",
            (),
            _half_life(drug, species),
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
    return _evaluate(catalog, _checked_names(names), {})


def _checked_names(names: Iterable[str] | None) -> list[str]:
    wanted = list(READOUTS) if names is None else list(names)
    unknown = [n for n in wanted if n not in READOUTS]
    if unknown:
        raise LeptotwinError(
            "unknown readout",
            field="names",
            value=unknown[0],
            expected="one of " + ", ".join(sorted(READOUTS)),
        )
    return wanted


def _evaluate(catalog: Catalog, wanted: list[str], results: dict[Any, Any]) -> dict[str, float]:
    token = _CALL.set(_Call(catalog, results))
    try:
        return {n: READOUTS[n].func(catalog) for n in wanted}
    finally:
        _CALL.reset(token)


#: Shared computations that :func:`evaluate_readouts_many` runs for all its catalogues in one
#: batch: key of the per-call cache -> ``catalogues -> one result (or exception) each``.
_BATCHED: dict[str, Callable[[list[Catalog]], list[Any]]] = {
    "invitro": _invitro_many,
    "relapse": _relapse_many,
    "combination": _combination_many,
}


def evaluate_readouts_many(
    catalogs: Sequence[Catalog], names: Iterable[str] | None = None
) -> list[dict[str, float]]:
    """:func:`evaluate_readouts` of several catalogues, the expensive parts in one batch.

    The in-vitro plates (C1, C3-C6 IC50s and single wells: every well carries its catalogue's
    pathway values and cell-state levels) and the typical mice of C2 (relapse) and C7
    (combination) of every catalogue run as the rows of one array (per-row pathway, clone,
    tumour and PK values; each catalogue keeps its own window sizes and fixed-point
    iterations); the other readouts (conditioned medium, qPCR and blot levels, PK, C8, C9),
    and the per-catalogue set-up (lesion PK of the mice), one catalogue at a time. Each value
    is the one :func:`evaluate_readouts` gives for that catalogue alone, to the bit (tested).

    Parameters
    ----------
    catalogs : sequence of Catalog
        K parameter sets.
    names : iterable of str, optional
        Readouts to evaluate (default: all of :data:`READOUTS`), in the order given.

    Returns
    -------
    list of dict of str to float
        One ``name -> value`` per catalogue (length K), NaN where the model cannot produce a
        value for that parameter set.

    Raises
    ------
    LeptotwinError
        For a name that is not a readout.
    """
    wanted = _checked_names(names)
    cats = list(catalogs)
    pre: list[dict[Any, Any]] = [{} for _ in cats]
    asked = {_SHARED_BY.get(n) for n in wanted}
    for key, many in _BATCHED.items():
        if key not in asked:
            continue
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values = many(cats)
        for k, v in enumerate(values):
            pre[k][key] = v
    return [_evaluate(c, wanted, r) for c, r in zip(cats, pre, strict=True)]
