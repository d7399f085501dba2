"""ELISA and qPCR data of an experiment file (``data: elisa:`` and ``data: qpcr:``).

Two in-vitro observables beside ``viability`` (see :mod:`leptotwin.study.experiment` for the
rest of the file)::

    data:
      elisa: elisa.csv                 # supernatant AREG after a conditioning time
      qpcr: qpcr.csv                   # relative expression (2^-ddCt) vs a calibrator line
    observables:
      supernatant_areg: {unit: pg/mL, noise: lognormal, sigma: 0.15, blq: m3}
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
e.g. ``below_lloq`` or ``overflow``, is left out of the likelihood and counted, Beal's M1, unless
the observable says ``blq: m3``: then a sample below the curve (``below_lloq``,
``below_bottom``) with its ``lloq_pg_mL`` is censored at that LLOQ and one above it
(``above_uloq``, ``above_top``, ``overflow``) with its ``uloq_pg_mL`` at that ULOQ; the limits
are in the undiluted supernatant, as ``leptotwin elisa`` writes them), ``lloq_pg_mL``,
``uloq_pg_mL``, ``sample_id``, ``plate``, ``dilution`` (kept, not used). The model value
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
``perturbation``, ``calibrator`` (summary.csv's: must be the observable's), ``run`` (or
``plate``: the qPCR run; without it the file is one run), ``sample``, ``flag``. The model
value (:func:`qpcr_simulation`) is the level the virtual qPCR of the study gives the
instrument, noise-free (:func:`leptotwin.study.sections.molecular.run_qpcr`): miR-449a
is the cell state's ``mir449a``, AREG mRNA is in proportion to the state's AREG secretion (the
miRNA acts on the transcript); each divided by the same level of the calibrator line
(``calibrator``, unperturbed). Cell-line ``mir449a`` and ``pathway.mir449a_km`` (through
AREG) are informed; ``areg_secretion_max`` cancels in the ratio.

Noise. Both observables take ``lognormal`` noise (``sigma``: SD of ln y), PEtab's NLL
``0.5 ln(2π σ² y²) + 0.5 ((ln y − ln h)/σ)²`` per quantified row (:func:`invitro_nll`;
censored ELISA samples ``−ln Φ`` of their limit). The fold changes of one qPCR run and target
are all divided by the calibrator group's mean level, so they share its error: on the log scale
they are jointly normal, ``σ² I + τ² J``, ``τ`` the observable's ``calibrator_sigma`` (0: rows
independent) or by default ``σ / sqrt(n)``, ``n`` the calibrator's rows of that run and target
(:func:`calibrator_sigmas`; a run and target without them then needs ``calibrator_sigma``). The
calibrator's own rows are the reference and stay independent (as viability's vehicle wells).

Bad input: one :class:`~leptotwin.errors.LeptotwinError` naming the file, row and field: a
missing column, an unknown cell line, perturbation, drug or target, a non-positive or
implausible concentration or fold change, a non-positive time, seeding or volume, a negative
dose, a row whose ``calibrator`` differs from the observable's; in the experiment file a unit
other than ``pg/mL`` or ``fold``, noise other than ``lognormal``, a ``relative_expression``
without ``calibrator`` (or with an unknown one), a ``calibrator``, ``calibrator_sigma``,
``blq`` or ``plate_sigma`` on another observable, fold changes without their calibrator's rows
and no ``calibrator_sigma``, a non-positive quantification limit, a table without its
observable.
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
    _refuse_key,
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
    "calibrator_sigmas",
    "elisa_simulation",
    "invitro_bands",
    "invitro_nll",
    "invitro_observable",
    "invitro_panel",
    "invitro_virtual",
    "lognormal_shared_nll",
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
    "lloq",
    "uloq",
    "censored",
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
    "run",
    "value",
    "source",
)
#: ELISA flags of :class:`leptotwin.analysis.standard_curve.SampleFlag` that a ``blq: m3``
#: observable censors: below the curve's range (at the LLOQ) and above it (at the ULOQ).
CENSORED_BELOW = ("below_lloq", "below_bottom")
CENSORED_ABOVE = ("above_uloq", "above_top", "overflow")
#: Above these a reading is a unit slip: 10 µg/mL of AREG (carcinoma lines secrete ng/mL per
#: day), a 10^6-fold change (20 cycles).
_MAX_PG_ML = 1e7
_MAX_LIMIT_PG_ML = 1e10  # a ULOQ at a 1:10^5 dilution of a 10^5 pg/mL curve top
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
        _refuse_key(body, key, "viability", what, where, source, lines)
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
        calibrator_sigma=body.calibrator_sigma,
        blq=body.blq or "m1",
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
    m3 = observables[ELISA_OBSERVABLE].blq == "m3"
    rows, n_left = [], 0
    for i, (sid, line, pert, drug, dose, hours, cells, vol, conc, flag, lo, hi) in enumerate(
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
            _text(raw, "lloq_pg_mL"),
            _text(raw, "uloq_pg_mL"),
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
        flag = flag.lower()
        side = "below" if flag in CENSORED_BELOW else "above" if flag in CENSORED_ABOVE else ""
        # the limits are read only where they are used (blq: m3): under m1 a file loads as
        # it did before they were (any text in those columns)
        lloq = _limit(lo, name, f"{where}, lloq_pg_mL") if m3 else math.nan
        uloq = _limit(hi, name, f"{where}, uloq_pg_mL") if m3 else math.nan
        limit = lloq if side == "below" else uloq
        if flag not in ("", "ok"):
            if not (m3 and side and math.isfinite(limit)):
                n_left += 1  # flagged by the standard-curve analysis and not censored here
                continue
            y = limit  # censored (blq: m3): below the LLOQ or above the ULOQ
        else:
            y = _positive(conc, name, f"{where}, {conc_col}", "concentration", _MAX_PG_ML)
            side = ""
        rows.append(
            (ELISA_OBSERVABLE, sid or line, line, pert, drug, x, h, n0, v, y, lloq, uloq, side,
             f"{name}:{where}")
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(ELISA_COLUMNS))
    for c in ("dose_nM", "hours", "seeding_cells", "volume_mL", "value", "lloq", "uloq"):
        frame[c] = frame[c].astype(float)
    return frame, n_left


def _limit(text: str, name: str, where: str) -> float:
    """A quantification limit in pg/mL in the undiluted supernatant (NaN when empty or
    ``nan``/``NA``/``n/a``/``-``, as for a plate without a curve), refused when <= 0 or above
    1e10 pg/mL (the curve's top times any dilution a lab uses)."""
    if text.lower() in ("", "nan", "na", "n/a", "-"):
        return math.nan
    return _positive(text, name, where, "quantification limit", _MAX_LIMIT_PG_ML)


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
    run_col = next((c for c in ("run", "plate") if c in raw.columns), "run")
    rows, n_left = [], 0
    for i, (sample, line, pert, target, fold, cal, run) in enumerate(
        zip(
            _text(raw, "sample"),
            _text(raw, "cell_line"),
            _text(raw, "perturbation"),
            _text(raw, "target"),
            _text(raw, "fold_change"),
            _text(raw, "calibrator"),
            _text(raw, run_col),
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
             run, y, f"{name}:{where}")
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(QPCR_COLUMNS))
    frame["value"] = frame["value"].astype(float)
    calibrator_sigmas(frame, observables[QPCR_OBSERVABLE], source=name)  # checked now
    return frame, n_left


def calibrator_sigmas(qpcr: pd.DataFrame, observable: Observable, *, source: str) -> np.ndarray:
    """SD of ln of the calibrator level shared by each qPCR row (0: the row is independent).

    The fold changes of one run and target are all divided by the calibrator group's mean
    level, so they share its error. The calibrator's own rows (its cell line, unperturbed) are
    the reference, independent rows (as the vehicle wells of viability). The rest of a run and
    target share ``calibrator_sigma`` when the observable gives it, else ``sigma / sqrt(n)``,
    ``n`` the calibrator rows of that run and target in the table (its samples in
    ``samples.csv``, or its one row in ``summary.csv``, where ``sigma`` is the SD of a group's
    mean).

    Returns
    -------
    ndarray, shape (len(qpcr),)

    Raises
    ------
    LeptotwinError
        Without ``calibrator_sigma``, a run and target with rows of other lines but none of the
        calibrator.
    """
    out = np.zeros(len(qpcr))
    if not len(qpcr):
        return out
    ref = _calibrator_rows(qpcr)
    for (run, target), idx in qpcr.groupby(["run", "target"], sort=False).indices.items():
        others = idx[~ref[idx]]
        if not len(others):
            continue
        if observable.calibrator_sigma is not None:
            out[others] = observable.calibrator_sigma
            continue
        n = int(ref[idx].sum())
        if n == 0:
            raise LeptotwinError(
                "fold changes without their calibrator's rows",
                source=source,
                field=f"run {run or '(one run)'}, target {target}",
                expected=f"the {observable.calibrator} rows of that run and target in the table, "
                f"or observables.{QPCR_OBSERVABLE}.calibrator_sigma in the experiment file (SD "
                "of ln of the calibrator's mean level; 0: independent rows)",
            )
        out[others] = observable.sigma / math.sqrt(n)
    return out


def _calibrator_rows(qpcr: pd.DataFrame) -> np.ndarray:
    """Rows of the calibrator line itself, unperturbed (bool, shape (len(qpcr),))."""
    return (
        (qpcr["cell_line"] == qpcr["calibrator"]) & (qpcr["perturbation"].fillna("") == "")
    ).to_numpy(bool)


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
    from leptotwin.assays.viability import _states
    from leptotwin.calibration.readouts import CULTURE_DT_H
    from leptotwin.model.culture import grow_culture

    sim = np.full(len(v), np.nan)
    if not len(v):
        return sim
    keys = ["cell_line", "perturbation", "seeding_cells", "drug", "dose_nM"]
    # one culture per conditioning time and volume, its distinct dishes stacked (a cell state
    # per dish, bypass receptors included: assays.viability._states)
    for (hours, vol), rows in v.groupby(["hours", "volume_mL"], sort=False).indices.items():
        dishes = v.iloc[rows][keys]
        codes = dishes.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
        uniq = dishes.drop_duplicates().reset_index(drop=True)  # in the order of ``codes``
        conc: dict[str, np.ndarray] = {}
        for j, (drug, dose) in enumerate(zip(uniq["drug"], uniq["dose_nM"], strict=True)):
            if drug:
                conc.setdefault(str(drug), np.zeros(len(uniq)))[j] = float(dose)
        grown = grow_culture(
            pm,
            _states(uniq["cell_line"], uniq["perturbation"], cat),
            conc,
            cells0=uniq["seeding_cells"].to_numpy(float),
            volume_mL=float(vol),
            hours=float(hours),
            dt_h=CULTURE_DT_H,
        )
        sim[rows] = np.asarray(pm.nM_to_pg_per_mL(grown.medium_areg_nM), dtype=float)[codes]
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
    ``values`` (0 without rows); ``inf`` where a model value is 0 for a quantified row.

    Log-normal noise, ``σ`` the observable's: a quantified row adds PEtab's ``0.5 ln(2π σ² y²)
    + 0.5 ((ln y − ln h)/σ)²``; an ELISA sample censored below its LLOQ ``L`` (``blq: m3``)
    adds ``−ln Φ((ln L − ln h)/σ)``, one above its ULOQ ``U`` ``−ln Φ((ln h − ln U)/σ)``. The
    qPCR rows of one run and target that share the calibrator's error (:func:`calibrator_sigmas`,
    ``τ``) are jointly normal on the log scale, covariance ``σ² I + τ² J``, plus ``Σ ln y``.
    """
    from scipy.special import log_ndtr

    total = 0.0
    for table, h in _simulations(exp, values, catalog):
        obs = exp.observables[str(table["observable"].iloc[0])]
        y = table["value"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.log(y) - np.log(h)
        if obs.id == QPCR_OBSERVABLE:
            tau = calibrator_sigmas(table, obs, source=str(exp.path))
            groups = _shared_groups(table, tau)
            total += lognormal_shared_nll(y, r, obs.sigma, tau, groups)
            continue
        side = table["censored"].to_numpy(object)
        quant = side == ""
        total += lognormal_shared_nll(y[quant], r[quant], obs.sigma)
        with np.errstate(invalid="ignore"):
            total -= float(np.sum(log_ndtr(r[side == "below"] / obs.sigma)))
            total -= float(np.sum(log_ndtr(-r[side == "above"] / obs.sigma)))
    return total if math.isfinite(total) else math.inf


def _shared_groups(qpcr: pd.DataFrame, tau: np.ndarray) -> np.ndarray:
    """Group code of each qPCR row sharing a calibrator error (-1: independent)."""
    codes = qpcr.groupby(["run", "target"], sort=False).ngroup().to_numpy()
    return np.where(tau > 0, codes, -1)


def lognormal_shared_nll(
    y: np.ndarray,
    r: np.ndarray,
    sigma: float,
    tau: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> float:
    """Negative log-likelihood of positive data ``y`` (n,) with log residuals ``r = ln y − ln
    h`` (n,): independent log-normal rows of SD ``sigma`` (PEtab's ``0.5 ln(2π σ² y²) + 0.5
    (r/σ)²`` each), except that the rows of one ``groups`` code ≥ 0 also share a normal term of
    SD ``tau`` (n,; equal within a group) on the log scale: covariance ``σ² I + τ² J`` per group,
    closed form (Sherman–Morrison), plus the Jacobian ``Σ ln y``."""
    s2 = sigma * sigma
    with np.errstate(invalid="ignore", divide="ignore"):
        total = float(np.sum(0.5 * np.log(2 * np.pi * s2 * y * y) + 0.5 * r * r / s2))
    if tau is None or groups is None or not np.any(groups >= 0):
        return total
    shared = groups >= 0
    g = groups[shared]
    n = np.bincount(g).astype(float)
    t2 = np.bincount(g, weights=tau[shared] ** 2) / np.where(n > 0, n, 1.0)
    sum_r = np.bincount(g, weights=r[shared])
    keep = n > 0
    n, t2, sum_r = n[keep], t2[keep], sum_r[keep]
    # log det of σ² I + τ² J over σ^(2n): ln(1 + n τ²/σ²); the quadratic form loses
    # τ² (Σ r)² / (σ² (σ² + n τ²))
    total += float(np.sum(0.5 * np.log1p(n * t2 / s2) - 0.5 * t2 * sum_r**2 / (s2 * (s2 + n * t2))))
    return total


def invitro_virtual(
    exp: Experiment,
    truth: Mapping[str, float],
    *,
    rng: np.random.Generator,
    catalog: Catalog | None = None,
) -> dict[str, pd.DataFrame]:
    """Virtual ELISA and qPCR rows: the model value at ``truth`` times ``exp(σ ε)`` (``rng``,
    ELISA rows first), sources ``virtual:<file:row>``; the keys of the experiment fields to
    replace (``elisa``, ``qpcr``; none without rows). qPCR rows that share a calibrator error
    (:func:`calibrator_sigmas`) also share one ``exp(τ η)`` per run and target (drawn after the
    rows' own terms); with ``blq: m3`` an ELISA value outside its row's LLOQ–ULOQ is censored
    there, as the loader keeps such a sample."""
    out = {}
    for table, h in _simulations(exp, truth, catalog):
        oid = str(table["observable"].iloc[0])
        obs = exp.observables[oid]
        frame = table.copy()
        y = h * np.exp(obs.sigma * rng.standard_normal(len(h)))
        if oid == QPCR_OBSERVABLE:
            tau = calibrator_sigmas(table, obs, source=str(exp.path))
            groups = _shared_groups(table, tau)
            if np.any(groups >= 0):
                eta = rng.standard_normal(int(groups.max()) + 1)
                y = y * np.exp(np.where(groups >= 0, tau * eta[np.maximum(groups, 0)], 0.0))
        elif obs.blq == "m3":
            lo, hi = frame["lloq"].to_numpy(float), frame["uloq"].to_numpy(float)
            below, above = y < lo, y > hi  # NaN limits compare False
            y = np.where(below, lo, np.where(above, hi, y))
            frame["censored"] = np.where(below, "below", np.where(above, "above", ""))
        else:
            frame["censored"] = ""
        frame["value"] = y
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
    bar beside them; supernatant AREG (pg/mL) in blue, fold changes in orange (right axis);
    ELISA samples censored at the LLOQ / ULOQ as open triangles at the limit."""
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
            side = h["censored"].fillna("") if "censored" in h else pd.Series("", h.index)
            for mark, rows in (("o", side == ""), ("v", side == "below"), ("^", side == "above")):
                if rows.any():  # censored samples: open triangles at their limit
                    axis.plot([x - 0.1] * int(rows.sum()), h.loc[rows, "value"], mark, ms=3,
                              color=colour, mfc=colour if mark == "o" else "none")  # fmt: skip
        axis.set_yscale("log")
    labels = list(dict.fromkeys(d["label"]))
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=6)
    ax.set_ylabel("supernatant AREG (pg/mL)", color="C0")
    twin.set_ylabel("relative expression (fold vs calibrator)", color="C1")
    ax.set_xlim(-0.6, len(labels) - 0.4)
