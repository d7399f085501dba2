"""ELISA and qPCR data of an experiment file (``data: elisa:`` and ``data: qpcr:``).

Two in-vitro observables beside ``viability`` (see :mod:`leptotwin.study.experiment` for the
rest of the file)::

    data:
      elisa: elisa.csv                 # supernatant AREG after a conditioning time
      qpcr: qpcr.csv                   # relative expression (2^-ddCt) vs a calibrator line
    observables:
      supernatant_areg: {unit: pg/mL, noise: lognormal, sigma: 0.15}
      relative_expression: {unit: fold, noise: lognormal, sigma: 0.25, calibrator: A925LPE3}

ELISA table. One row per sample (a dish's conditioned medium); the ``samples.csv`` that
``leptotwin elisa`` writes (:class:`leptotwin.analysis.standard_curve.StandardCurveFitter`'s
``samples_``) with a ``cell_line`` and an ``hours`` column added. Columns: ``cell_line`` (a
catalogue line; without the column, ``group`` is read as the cell line), ``hours``
(conditioning time: medium changed at 0, collected at ``hours``; h, > 0) and the concentration
in the undiluted supernatant, pg/mL, > 0: ``conc_pg_mL`` (``leptotwin elisa``) or
``areg_pg_mL``. Optional: ``perturbation`` (catalogue perturbations joined by ``+``, e.g.
``siAREG``), ``drug`` and ``dose_nM`` (a drug with a pathway potency held at a nominal
concentration in the medium over the conditioning), ``seeding_cells`` (cells per dish) and
``volume_mL`` (medium per dish; both default to the catalogue's ``conditioned_medium`` block:
2e5 cells, 2 mL), ``flag`` (``leptotwin elisa``'s: a sample flagged other than ``ok`` or empty,
e.g. ``below_lloq`` or ``overflow``, is left out of the likelihood and counted, as a PK sample
below its LLOQ is), ``sample_id``, ``plate``, ``dilution`` (kept, not used). The model value
(:func:`elisa_simulation`) is the twin's own conditioned medium: the culture of
:func:`leptotwin.model.culture.grow_culture` (the model of
:func:`leptotwin.assays.conditioned_medium.collect_conditioned_medium` and of the calibration
readouts' medium ratios, at their step :data:`leptotwin.calibration.readouts.CULTURE_DT_H`)
from the dish's seeding, without seeding noise, converted by
:meth:`leptotwin.model.pathway.PathwayModel.nM_to_pg_per_mL`. Secretion is
:meth:`~leptotwin.model.pathway.PathwayModel.areg_secretion`: ``pathway.areg_secretion_max``,
``pathway.mir449a_km``, the line's ``mir449a`` and ``areg_secretion`` inform it.

qPCR table. One row per biological sample and target (``leptotwin qpcr``'s ``samples.csv``,
:class:`leptotwin.analysis.qpcr.RelativeExpressionFitter`'s ``samples_``) or per group and
target (its ``summary.csv``). Columns: ``cell_line`` (or ``group``, as for ELISA), ``target``
(``miR-449a`` or ``AREG``, the names of :data:`leptotwin.assays.qpcr.QPCR_TARGETS`; reference
genes are not observables) and ``fold_change`` (2^-ddCt against the calibrator group, > 0; an
empty or NaN fold change, an undetermined sample, is left out and counted). Optional
``perturbation``, ``calibrator`` (summary.csv's: must be the observable's), ``sample``,
``flag``. The model value (:func:`qpcr_simulation`) is the level the virtual qPCR of the study
gives the instrument, noise-free (:func:`leptotwin.study.sections.molecular.run_qpcr`): miR-449a
is the cell state's ``mir449a``, AREG mRNA is in proportion to the state's AREG secretion (the
miRNA acts on the transcript); each divided by the same level of the calibrator line
(``calibrator``, unperturbed). Cell-line ``mir449a`` and ``pathway.mir449a_km`` (through
AREG) are informed; ``areg_secretion_max`` cancels in the ratio.

Noise. Both observables take ``lognormal`` noise (``sigma``: SD of ln y), PEtab's NLL
``0.5 ln(2π σ² y²) + 0.5 ((ln y − ln h)/σ)²`` per row (:func:`invitro_nll`). The fold changes
of one qPCR run share the calibrator's mean ΔCt; that shared error is not modelled (each row is
independent): declare a ``sigma`` that includes it.

Bad input: one :class:`~leptotwin.errors.LeptotwinError` naming the file, row and field: a
missing column, an unknown cell line, perturbation, drug or target, a non-positive or
implausible concentration or fold change, a non-positive time, seeding or volume, a negative
dose, a row whose ``calibrator`` differs from the observable's; in the experiment file a unit
other than ``pg/mL`` or ``fold``, noise other than ``lognormal``, a ``relative_expression``
without ``calibrator`` (or with an unknown one), a ``calibrator`` or ``plate_sigma`` on another
observable, a table without its observable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.study.experiment import (
    Observable,
    _line_and_perturbation,
    _number,
    _read_table,
)
from leptotwin.study.protocol_schema import _error

if TYPE_CHECKING:
    from leptotwin.study.experiment import Experiment

__all__ = [
    "ELISA_COLUMNS",
    "ELISA_OBSERVABLE",
    "INVITRO_ASSAY_OBSERVABLES",
    "QPCR_COLUMNS",
    "QPCR_MODEL_TARGETS",
    "QPCR_OBSERVABLE",
    "elisa_simulation",
    "invitro_bands",
    "invitro_nll",
    "invitro_observable",
    "invitro_panel",
    "invitro_virtual",
    "qpcr_simulation",
    "read_invitro_tables",
]

ELISA_OBSERVABLE = "supernatant_areg"
QPCR_OBSERVABLE = "relative_expression"
INVITRO_ASSAY_OBSERVABLES = (ELISA_OBSERVABLE, QPCR_OBSERVABLE)
_UNITS = {ELISA_OBSERVABLE: "pg/mL", QPCR_OBSERVABLE: "fold"}
#: qPCR targets with a model value: catalogue key of :data:`leptotwin.assays.qpcr.QPCR_TARGETS`
#: -> the name written in the tables.
QPCR_MODEL_TARGETS = {"mir449a": "miR-449a", "areg": "AREG"}
#: The columns of :attr:`Experiment.elisa` (one row per sample kept).
ELISA_COLUMNS = (
    "observable",
    "sample",
    "cell_line",
    "perturbation",
    "drug",
    "dose_nM",
    "hours",
    "seeding_cells",
    "volume_mL",
    "value",
    "source",
)
#: The columns of :attr:`Experiment.qpcr` (one row per sample or group and target kept).
QPCR_COLUMNS = (
    "observable",
    "sample",
    "cell_line",
    "perturbation",
    "target",
    "calibrator",
    "value",
    "source",
)
#: Above these a reading is a unit slip: 10 µg/mL of AREG (carcinoma lines secrete ng/mL per
#: day), a 10^6-fold change (20 cycles).
_MAX_PG_ML = 1e7
_MAX_FOLD = 1e6
_MAX_HOURS = 24.0 * 14


def invitro_observable(oid: str, body: Any, cat: Catalog, source: str, lines: dict) -> Observable:
    """The checked ``supernatant_areg`` or ``relative_expression`` observable (``body``: its
    parsed mapping: ``unit, noise, sigma``, optional ``calibrator``, ``plate_sigma``).

    Raises
    ------
    LeptotwinError
        A ``calibrator`` on another observable than ``relative_expression`` (or none on it, or
        an unknown cell line), a ``plate_sigma``, another unit or noise model.
    """
    where = ("observables", oid)
    if oid not in INVITRO_ASSAY_OBSERVABLES:  # a calibrator on another observable
        raise _error(
            source,
            lines,
            (*where, "calibrator"),
            "calibrator is the reference cell line of qPCR fold changes",
            body.calibrator,
            f"calibrator on the {QPCR_OBSERVABLE} observable only",
        )
    for key, what in (
        ("plate_sigma", "the normalisation error of viability wells"),
        ("sigma_rel", "the signal-proportional noise of viability wells"),
    ):
        if getattr(body, key) is not None:
            raise _error(
                source,
                lines,
                (*where, key),
                f"{key} is {what}",
                getattr(body, key),
                f"{key} on the viability observable only",
            )
    if body.unit != _UNITS[oid]:
        raise _error(source, lines, (*where, "unit"), "unit mismatch", body.unit, _UNITS[oid])
    if body.noise != "lognormal":
        raise _error(
            source,
            lines,
            (*where, "noise"),
            f"{oid} takes log-normal noise (a concentration or fold change is > 0)",
            body.noise,
            "lognormal, sigma the SD of ln y",
        )
    calibrator = body.calibrator
    if oid == ELISA_OBSERVABLE and calibrator is not None:
        raise _error(
            source,
            lines,
            (*where, "calibrator"),
            "calibrator is the reference cell line of qPCR fold changes",
            calibrator,
            f"calibrator on the {QPCR_OBSERVABLE} observable only",
        )
    if oid == QPCR_OBSERVABLE and calibrator not in cat.cell_lines:
        raise _error(
            source,
            lines,
            (*where, "calibrator"),
            "missing field" if calibrator is None else "unknown cell line",
            calibrator,
            "the calibrator group's cell line of the fold changes, one of "
            + ", ".join(sorted(cat.cell_lines)),
        )
    return Observable(
        oid,
        "elisa" if oid == ELISA_OBSERVABLE else "qpcr",
        None,
        _UNITS[oid],
        body.noise,
        body.sigma,
        calibrator=calibrator,
    )


def read_invitro_tables(
    folder: Path,
    elisa: str | None,
    qpcr: str | None,
    observables: Mapping[str, Observable],
    cat: Catalog,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None, dict[str, int]]:
    """The checked ELISA and qPCR tables (``elisa`` and ``qpcr``: file names relative to
    ``folder``, None when not given).

    Returns
    -------
    elisa, qpcr : DataFrame or None
        :data:`ELISA_COLUMNS` / :data:`QPCR_COLUMNS`; ``value`` in pg/mL / fold.
    left_out : dict
        Rows left out per observable (flagged ELISA samples, undetermined fold changes).
    """
    left: dict[str, int] = {}
    e = q = None
    if elisa is not None:
        e, left[ELISA_OBSERVABLE] = _elisa_rows(folder / elisa, elisa, observables, cat)
    if qpcr is not None:
        q, left[QPCR_OBSERVABLE] = _qpcr_rows(folder / qpcr, qpcr, observables, cat)
    return e, q, {k: v for k, v in left.items() if v}


def _table(path: Path, name: str, oid: str, observables: Mapping[str, Observable]) -> pd.DataFrame:
    if oid not in observables:
        raise LeptotwinError(
            f"unknown observable: the {'ELISA' if oid == ELISA_OBSERVABLE else 'qPCR'} table "
            "has no observable in the experiment file",
            source=name,
            expected=f"observables: {{{oid}: {{unit: {_UNITS[oid]}, noise: lognormal, "
            "sigma: ...}}",
        )
    raw = _read_table(path, name)
    raw.columns = [str(c).strip() for c in raw.columns]
    if "cell_line" not in raw.columns and "group" in raw.columns:
        raw = raw.rename(columns={"group": "cell_line"})
    return raw


def _missing(raw: pd.DataFrame, name: str, need: list[tuple[str, ...]], expected: str) -> None:
    for options in need:
        if not any(c in raw.columns for c in options):
            raise LeptotwinError(
                "missing column", source=name, field=" or ".join(options), expected=expected
            )
    if raw.empty:
        raise LeptotwinError("no rows", source=name, expected="one row per sample")


def _text(raw: pd.DataFrame, col: str) -> list[str]:
    return [str(x).strip() for x in raw[col]] if col in raw.columns else [""] * len(raw)


def _positive(text: str, name: str, where: str, what: str, high: float | None = None) -> float:
    x = _number(text, name, where)
    if x <= 0:
        raise LeptotwinError(f"non-positive {what}", source=name, field=where, value=x,
                             expected="> 0")  # fmt: skip
    if high is not None and x > high:
        raise LeptotwinError(
            f"implausible {what}",
            source=name,
            field=where,
            value=x,
            expected=f"at most {high:g} (a unit slip?)",
        )
    return x


def _elisa_rows(
    path: Path, name: str, observables: Mapping[str, Observable], cat: Catalog
) -> tuple[pd.DataFrame, int]:
    from leptotwin.model.pathway import PathwayModel

    raw = _table(path, name, ELISA_OBSERVABLE, observables)
    conc_col = next((c for c in ("conc_pg_mL", "areg_pg_mL") if c in raw.columns), "conc_pg_mL")
    _missing(
        raw,
        name,
        [("cell_line", "group"), ("hours",), ("conc_pg_mL", "areg_pg_mL")],
        "columns cell_line (or group), hours, conc_pg_mL (leptotwin elisa's samples.csv; or "
        "areg_pg_mL); optional perturbation, drug, dose_nM, seeding_cells, volume_mL, flag",
    )
    drugs = sorted(PathwayModel.from_catalog(cat).drugs)
    seed0 = cat.assay_value("conditioned_medium", "seeding_cells")
    vol0 = cat.assay_value("conditioned_medium", "medium_volume")
    rows, n_left = [], 0
    for i, (sid, line, pert, drug, dose, hours, cells, vol, conc, flag) in enumerate(
        zip(
            _text(raw, "sample_id"),
            _text(raw, "cell_line"),
            _text(raw, "perturbation"),
            _text(raw, "drug"),
            _text(raw, "dose_nM"),
            _text(raw, "hours"),
            _text(raw, "seeding_cells"),
            _text(raw, "volume_mL"),
            _text(raw, conc_col),
            _text(raw, "flag"),
            strict=True,
        )
    ):
        where = f"row {i + 2}"
        pert = _line_and_perturbation(line, pert, cat, name, where)
        if drug and drug not in drugs:
            raise LeptotwinError(
                "unknown drug",
                source=name,
                field=f"{where}, drug",
                value=drug,
                expected="a drug with a pathway potency: " + ", ".join(drugs),
            )
        x = _number(dose, name, f"{where}, dose_nM") if drug or dose else 0.0
        if x < 0 or (x > 0 and not drug):
            raise LeptotwinError(
                "negative dose" if x < 0 else "a dose without a drug",
                source=name,
                field=f"{where}, dose_nM",
                value=x,
                expected="nM, >= 0, with the drug named in the drug column",
            )
        h = _positive(hours, name, f"{where}, hours", "conditioning time", _MAX_HOURS)
        n0 = _positive(cells, name, f"{where}, seeding_cells", "seeding") if cells else seed0
        v = _positive(vol, name, f"{where}, volume_mL", "medium volume") if vol else vol0
        if flag.lower() not in ("", "ok"):
            n_left += 1  # flagged by the standard-curve analysis (below the LLOQ, overflow, ...)
            continue
        y = _positive(conc, name, f"{where}, {conc_col}", "concentration", _MAX_PG_ML)
        rows.append(
            (ELISA_OBSERVABLE, sid or line, line, pert, drug, x, h, n0, v, y, f"{name}:{where}")
        )
    frame = pd.DataFrame(rows, columns=list(ELISA_COLUMNS))
    for c in ("dose_nM", "hours", "seeding_cells", "volume_mL", "value"):
        frame[c] = frame[c].astype(float)
    return frame, n_left


def _qpcr_rows(
    path: Path, name: str, observables: Mapping[str, Observable], cat: Catalog
) -> tuple[pd.DataFrame, int]:
    from leptotwin.assays.qpcr import QPCR_TARGETS

    raw = _table(path, name, QPCR_OBSERVABLE, observables)
    _missing(
        raw,
        name,
        [("cell_line", "group"), ("target",), ("fold_change",)],
        "columns cell_line (or group), target, fold_change (leptotwin qpcr's samples.csv or "
        "summary.csv); optional perturbation, calibrator, sample",
    )
    calibrator = observables[QPCR_OBSERVABLE].calibrator
    rows, n_left = [], 0
    for i, (sample, line, pert, target, fold, cal) in enumerate(
        zip(
            _text(raw, "sample"),
            _text(raw, "cell_line"),
            _text(raw, "perturbation"),
            _text(raw, "target"),
            _text(raw, "fold_change"),
            _text(raw, "calibrator"),
            strict=True,
        )
    ):
        where = f"row {i + 2}"
        pert = _line_and_perturbation(line, pert, cat, name, where)
        key = QPCR_TARGETS.get(target.lower(), ("", ""))[0]
        if key not in QPCR_MODEL_TARGETS:
            raise LeptotwinError(
                "unknown target",
                source=name,
                field=f"{where}, target",
                value=target,
                expected="miR-449a or AREG (the targets the twin has a level of; reference "
                "genes such as U6 and GAPDH are not observables)",
            )
        if cal and cal != calibrator:
            raise LeptotwinError(
                "calibrator differs from the experiment file",
                source=name,
                field=f"{where}, calibrator",
                value=cal,
                expected=f"{calibrator} (observables.{QPCR_OBSERVABLE}.calibrator)",
            )
        if fold.lower() in ("", "nan"):
            n_left += 1  # an undetermined sample: no fold change
            continue
        y = _positive(fold, name, f"{where}, fold_change", "fold change", _MAX_FOLD)
        rows.append(
            (QPCR_OBSERVABLE, sample or line, line, pert, QPCR_MODEL_TARGETS[key], calibrator,
             y, f"{name}:{where}")
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(QPCR_COLUMNS))
    frame["value"] = frame["value"].astype(float)
    return frame, n_left


# --- model values ------------------------------------------------------------------------------


def _perts(text: object) -> list[str]:
    return [x.strip() for x in str(text).split("+") if x.strip()]


def elisa_simulation(
    exp: Experiment,
    values: Mapping[str, float] | None = None,
    *,
    catalog: Catalog | None = None,
    table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ELISA rows (``table``, default the experiment's) with the twin's noise-free
    supernatant AREG (column ``simulation``, pg/mL) at the catalogue values ``values``.

    Each distinct dish (cell line, perturbation, seeding, drug and dose) is grown once by
    :func:`leptotwin.model.culture.grow_culture` at :data:`leptotwin.calibration.readouts.
    CULTURE_DT_H` over its conditioning time in its volume, no seeding noise; the medium's AREG
    (nM) in pg/mL by :meth:`~leptotwin.model.pathway.PathwayModel.nM_to_pg_per_mL`.
    """
    v = (exp.elisa if table is None else table).copy()
    v["simulation"] = _elisa_values(v, *_model(values, catalog))
    return v


def qpcr_simulation(
    exp: Experiment,
    values: Mapping[str, float] | None = None,
    *,
    catalog: Catalog | None = None,
    table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The qPCR rows (``table``, default the experiment's) with the twin's noise-free fold
    change (column ``simulation``) at the catalogue values ``values``: the level of the row's
    cell state over the calibrator line's (miR-449a: ``mir449a``; AREG mRNA: AREG secretion,
    :meth:`~leptotwin.model.pathway.PathwayModel.areg_secretion`), the levels the study's virtual
    qPCR gives the instrument (:func:`leptotwin.study.sections.molecular.run_qpcr`)."""
    v = (exp.qpcr if table is None else table).copy()
    v["simulation"] = _qpcr_values(v, *_model(values, catalog))
    return v


def _model(values: Mapping[str, float] | None, catalog: Catalog | None) -> tuple[Catalog, Any]:
    from leptotwin.model.pathway import PathwayModel

    cat = (catalog or load_catalog()).with_values(dict(values or {}))
    return cat, PathwayModel.from_catalog(cat)


def _elisa_values(v: pd.DataFrame, cat: Catalog, pm: Any) -> np.ndarray:
    from leptotwin.calibration.readouts import CULTURE_DT_H
    from leptotwin.model.culture import grow_culture
    from leptotwin.model.pathway import CellState, cell_state

    sim = np.full(len(v), np.nan)
    if not len(v):
        return sim
    dishes = list(
        zip(v["cell_line"], v["perturbation"], v["seeding_cells"], v["drug"], v["dose_nM"],
            strict=True)
    )  # fmt: skip
    states = {d[:2]: cell_state(str(d[0]), _perts(d[1]), catalog=cat) for d in dishes}
    # one culture per conditioning time and volume, its dishes stacked (a state per dish; a
    # pathway with bypass receptors takes one state per call)
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(v["hours"], v["volume_mL"], strict=True)):
        groups.setdefault((*key, *(dishes[i][:2] if pm.bypass else ())), []).append(i)
    for key, rows in groups.items():
        hours, vol = float(key[0]), float(key[1])
        uniq = list(dict.fromkeys(dishes[i] for i in rows))
        if pm.bypass:
            state = states[uniq[0][:2]]
        else:
            state = CellState(
                name="dishes",
                **{
                    f: np.array([getattr(states[d[:2]], f) for d in uniq], dtype=float)
                    for f in ("mir449a", "egfr_total", "alk_fusion", "areg_scale")
                },
            )
        conc: dict[str, np.ndarray] = {}
        for j, d in enumerate(uniq):
            if d[3]:
                conc.setdefault(str(d[3]), np.zeros(len(uniq)))[j] = float(d[4])
        grown = grow_culture(
            pm,
            state,
            conc,
            cells0=np.array([float(d[2]) for d in uniq]),
            volume_mL=vol,
            hours=hours,
            dt_h=CULTURE_DT_H,
        )
        pg = dict(zip(uniq, pm.nM_to_pg_per_mL(grown.medium_areg_nM), strict=True))
        sim[rows] = [pg[dishes[i]] for i in rows]
    return sim


def _qpcr_values(v: pd.DataFrame, cat: Catalog, pm: Any) -> np.ndarray:
    from leptotwin.model.pathway import cell_state

    level: dict[tuple[str, str, str], float] = {}

    def of(line: str, pert: str, target: str) -> float:
        key = (line, pert, target)
        if key not in level:
            st = cell_state(line, _perts(pert), catalog=cat)
            level[key] = st.mir449a if target == "miR-449a" else pm.areg_secretion(st)
        return level[key]

    return np.array(
        [
            of(line, pert, t) / of(cal, "", t)
            for line, pert, t, cal in zip(
                v["cell_line"], v["perturbation"], v["target"], v["calibrator"], strict=True
            )
        ],
        dtype=float,
    )


def _simulations(
    exp: Experiment, values: Mapping[str, float], catalog: Catalog | None
) -> list[tuple[pd.DataFrame, np.ndarray]]:
    """(table, model values) of the ELISA and the qPCR rows (those the experiment has)."""
    out = []
    model = None
    for table, of in ((exp.elisa, _elisa_values), (exp.qpcr, _qpcr_values)):
        if table is not None and len(table):
            model = model or _model(values, catalog)
            out.append((table, of(table, *model)))
    return out


def invitro_nll(
    exp: Experiment, values: Mapping[str, float], *, catalog: Catalog | None = None
) -> float:
    """The negative log-likelihood of the ELISA and qPCR rows at the catalogue values
    ``values`` (0 without rows): log-normal noise, PEtab's ``0.5 ln(2π σ² y²) + 0.5 ((ln y −
    ln h)/σ)²`` per row, ``σ`` the observable's. ``inf`` where a model value is 0."""
    total = 0.0
    for table, h in _simulations(exp, values, catalog):
        s = exp.observables[str(table["observable"].iloc[0])].sigma
        y = table["value"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (np.log(y) - np.log(h)) / s
        total += float(np.sum(0.5 * np.log(2 * np.pi * s**2 * y**2) + 0.5 * r**2))
    return total if math.isfinite(total) else math.inf


def invitro_virtual(
    exp: Experiment,
    truth: Mapping[str, float],
    *,
    rng: np.random.Generator,
    catalog: Catalog | None = None,
) -> dict[str, pd.DataFrame]:
    """Virtual ELISA and qPCR rows: the model value at ``truth`` times ``exp(σ ε)`` (``rng``,
    ELISA rows first), sources ``virtual:<file:row>``; the keys of the experiment fields to
    replace (``elisa``, ``qpcr``; none without rows)."""
    out = {}
    for table, h in _simulations(exp, truth, catalog):
        oid = str(table["observable"].iloc[0])
        s = exp.observables[oid].sigma
        frame = table.copy()
        frame["value"] = h * np.exp(s * rng.standard_normal(len(h)))
        frame["source"] = [f"virtual:{x}" for x in table["source"]]
        out["elisa" if oid == ELISA_OBSERVABLE else "qpcr"] = frame
    return out


def invitro_bands(
    exp: Experiment,
    names: list[str],
    thetas: np.ndarray,
    *,
    catalog: Catalog | None = None,
) -> pd.DataFrame | None:
    """The ELISA and qPCR rows for ``fits.csv``: each with ``time_h`` (the conditioning time;
    NaN for qPCR) and the posterior median and 95 % interval of its model value over
    ``thetas`` (draws × ``names``; NaN bands without draws). None without rows."""
    frames = []
    per_theta = [
        [h for _, h in _simulations(exp, dict(zip(names, map(float, t), strict=True)), catalog)]
        for t in thetas
    ]
    tables = [t for t in (exp.elisa, exp.qpcr) if t is not None and len(t)]
    for k, table in enumerate(tables):
        frame = table.copy()
        if len(thetas):
            sims = np.array([hs[k] for hs in per_theta])
            lo, med, hi = np.nanquantile(sims, [0.025, 0.5, 0.975], axis=0)
        else:
            lo = med = hi = np.full(len(frame), np.nan)
        frame["model_median"], frame["model_low"], frame["model_high"] = med, lo, hi
        frame.insert(1, "time_h", frame.pop("hours") if "hours" in frame else np.nan)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def invitro_panel(ax: Any, fits: pd.DataFrame) -> None:
    """ELISA and qPCR rows of ``fits.csv`` on one log axis: one column per condition (cell line,
    perturbation, drug, target), data as points, the posterior median and 95 % interval as a
    bar beside them; supernatant AREG (pg/mL) in blue, fold changes in orange (right axis)."""
    d = fits[fits["observable"].isin(INVITRO_ASSAY_OBSERVABLES)].copy()
    label = d["cell_line"].astype(str)
    pert = d["perturbation"].fillna("").astype(str)
    label = label + np.where(pert != "", " " + pert, "")
    if "drug" in d:
        drug = d["drug"].fillna("").astype(str)
        dose = d["dose_nM"].fillna(0).astype(float)
        label = label + [f" + {a} {x:g} nM" if a else "" for a, x in zip(drug, dose, strict=True)]
    if "target" in d:
        label = label + [f" {t}" if isinstance(t, str) and t else "" for t in d["target"]]
    d["label"] = label
    twin = ax.twinx()
    for oid, axis, colour in ((ELISA_OBSERVABLE, ax, "C0"), (QPCR_OBSERVABLE, twin, "C1")):
        g = d[d["observable"] == oid]
        for k, (name, h) in enumerate(g.groupby("label", sort=False)):
            x = float(list(dict.fromkeys(d["label"])).index(name))
            r = h.iloc[0]
            axis.plot([x + 0.15] * 2, [r.model_low, r.model_high], color=colour, lw=3, alpha=0.4)
            axis.plot(x + 0.15, r.model_median, "_", ms=10, color=colour,
                      label=oid if k == 0 else None)  # fmt: skip
            axis.plot([x - 0.1] * len(h), h["value"], "o", ms=3, color=colour)
        axis.set_yscale("log")
    labels = list(dict.fromkeys(d["label"]))
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=6)
    ax.set_ylabel("supernatant AREG (pg/mL)", color="C0")
    twin.set_ylabel("relative expression (fold vs calibrator)", color="C1")
    ax.set_xlim(-0.6, len(labels) - 0.4)
