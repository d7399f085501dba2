"""Plate layouts, merging with readings, control normalisation and dose-response tables.

Layout file
-----------
A tidy CSV (or ``;``/tab-separated, or ``.xlsx`` with ``openpyxl``), one row per used well::

    plate,well,role,cell_line,drug_a,conc_a,drug_b,conc_b,conc_unit,perturbation,replicate
    P1,A01,blank,,,,,,,,
    P1,B02,vehicle,H3122,,,,,,,1
    P1,B03,sample,H3122,alectinib,10,,,nM,,1
    P1,B04,sample,H3122,alectinib,10,crizotinib,0.1,uM,HGF,1

Only ``well`` and ``role`` are required. Without a ``plate`` column the layout applies to every
plate of the readings. ``role`` is one of :data:`ROLES`; wells not listed are ``empty``.
``conc_a``/``conc_b`` are numbers in ``conc_unit`` (per row, or the ``conc_unit=`` argument),
parsed with pint (:func:`leptotwin.catalog.units.concentration_unit`): molar units (pM, nM,
µM/uM, mM, M, nmol/L...) are converted to nM in ``conc_a_nM``/``conc_b_nM``; mass units
(pg/mL, ng/mL, µg/mL, mg/mL, mg/L...) only for drugs with a molecular weight given
(``molecular_weights={"alectinib": 482.6}``, g/mol), else ``conc_*_nM`` is NaN and the value
stays in ``conc_*`` with its unit; any other unit is refused, and so is a concentration of 1 M
(1 g/mL) or more. Lines starting with ``#`` are comments.


Pipeline
--------
``read_plate_reader`` -> :func:`merge_plate` (one row per well) -> :func:`normalise_to_controls`
(``response`` in % of vehicle, QC per group) -> :func:`to_dose_response` (``curve, dose,
response`` for :class:`leptotwin.analysis.doseresponse.DoseResponseFitter`).

ELISA layouts live in :mod:`leptotwin.formats.elisa_layout`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from leptotwin._fileio import write_csv
from leptotwin.catalog.units import CONCENTRATION_LIMIT, concentration_unit
from leptotwin.errors import LeptotwinError
from leptotwin.formats._layout_checks import (
    _at_most,
    _check_layout_table,
    _Locator,
    _numbers,
    _raise_first,
    _read_checked,
    _text_column,
    _with_extras,
)
from leptotwin.formats._plate_join import _join_inputs
from leptotwin.formats.plate import PLATE_384, PlateFormat, WellFlag, _parse_wells

__all__ = [
    "LAYOUT_COLUMNS",
    "ROLES",
    "Normalised",
    "merge_plate",
    "normalise_to_controls",
    "read_layout",
    "to_dose_response",
    "validate_layout",
    "write_layout",
    "z_prime",
]

LAYOUT_COLUMNS = (
    "plate",
    "well",
    "role",
    "cell_line",
    "drug_a",
    "conc_a",
    "drug_b",
    "conc_b",
    "conc_unit",
    "perturbation",
    "replicate",
)
"""Columns of a layout file, in the order :func:`write_layout` writes them."""

ROLES = ("sample", "vehicle", "blank", "positive", "empty")
"""Well roles: drug-treated cells, untreated cells (100 %), no cells (background, 0 % signal),
a positive (full-kill) control for Z', and unused wells."""

_TEXT = ("plate", "cell_line", "drug_a", "drug_b", "perturbation", "replicate")


# --------------------------------------------------------------------------- dose-response layout
def _concentrations(
    frame: pd.DataFrame, *, source: str, where: _Locator, decimal: str
) -> dict[str, NDArray[np.float64]]:
    """``conc_a`` and ``conc_b`` as float, shape (n_rows,), in their unit; NaN where empty."""
    expected = "a number >= 0 in conc_unit"
    conc = {}
    for col in ("conc_a", "conc_b"):
        num = _numbers(frame, col, "concentration", source=source, where=where,
                       decimal=decimal, expected=expected)  # fmt: skip
        _raise_first(num < 0, "concentration is not a number >= 0", source=source, where=where,
                     col=col, values=_text_column(frame, col), expected=expected)  # fmt: skip
        conc[col] = num
    return conc


def _unit_specs(
    frame: pd.DataFrame,
    conc: Mapping[str, NDArray[np.float64]],
    conc_unit: str | None,
    *,
    source: str,
    where: _Locator,
) -> tuple[NDArray[np.object_], NDArray[np.float64], NDArray[np.bool_]]:
    """Per row: canonical unit spelling, factor to nM (molar) or ng/mL (mass), is molar.

    Units are parsed with pint (:func:`leptotwin.catalog.units.concentration_unit`); one that is
    unknown, or not a concentration, is refused at its first row.
    """
    units = _text_column(frame, "conc_unit")
    if conc_unit is not None:
        units = units.where(units != "", conc_unit)
    text = units.to_numpy(object)
    name = np.full(len(text), "", dtype=object)
    factor = np.full(len(text), np.nan)
    molar = np.zeros(len(text), dtype=bool)
    for unit in pd.unique(text[text != ""]):
        rows = text == unit
        try:
            spec = concentration_unit(unit, source=source, field="conc_unit")
        except LeptotwinError as err:
            why = "unknown concentration unit" if err.message == "unknown unit" else err.message
            _raise_first(rows, why, source=source, where=where, col="conc_unit", values=units,
                         expected=err.expected)  # fmt: skip
            raise
        name[rows], factor[rows], molar[rows] = spec.name, spec.factor, spec.molar
    _raise_first(
        (text == "") & ((conc["conc_a"] > 0) | (conc["conc_b"] > 0)),
        "concentration without a unit",
        source=source,
        where=where,
        col="conc_unit",
        expected="a conc_unit cell or the conc_unit= argument (e.g. nM)",
    )
    return name, factor, molar


def _earlier_nm(
    frame: pd.DataFrame, col: str, source: str, where: _Locator, decimal: str
) -> NDArray[np.float64]:
    """A ``conc_*_nM`` column converted earlier: numbers >= 0 and below 1 M, NaN where empty."""
    expected = "a concentration in nM, >= 0 and below 1e9 (1 M)"
    nm = _numbers(frame, col, "concentration", source=source, where=where, decimal=decimal,
                  expected=expected)  # fmt: skip
    _raise_first(nm < 0, "concentration is not a number >= 0", source=source, where=where,
                 col=col, values=_text_column(frame, col), expected=expected)  # fmt: skip
    _at_most(nm, CONCENTRATION_LIMIT, "concentration of 1 M or more", frame=frame, col=col,
             source=source, where=where, expected=expected)  # fmt: skip
    return nm


def _require_concentration_columns(frame: pd.DataFrame, out: pd.DataFrame, source: str) -> None:
    """Sample wells need a ``conc_a`` column, partner drugs a ``conc_b`` column."""
    for col, needed, what in (
        ("conc_a", (out["role"] == "sample").any(), "sample wells"),
        ("conc_b", (out["drug_b"] != "").any(), "partner drugs (drug_b)"),
    ):
        if needed and col not in frame:
            raise LeptotwinError(
                "missing column",
                source=source,
                field=col,
                expected=f"a {col} column with the concentrations of the {what}",
            )


def _molecular_weights(weights: Mapping[str, float] | None, source: str) -> dict[str, float]:
    """Drug name -> g/mol, each finite and > 0."""
    out = {}
    for drug, value in (weights or {}).items():
        try:
            mw = float(value)
        except (TypeError, ValueError):
            mw = float("nan")
        if not (np.isfinite(mw) and mw > 0):
            raise LeptotwinError(
                "molecular weight must be a number > 0",
                source=source,
                field=f"molecular_weights[{drug!r}]",
                value=value,
                expected="g/mol, e.g. 482.6",
            )
        out[str(drug)] = mw
    return out


def validate_layout(
    layout: pd.DataFrame,
    *,
    molecular_weights: Mapping[str, float] | None = None,
    conc_unit: str | None = None,
    plate_format: int | PlateFormat | None = None,
    source: str = "layout",
    lines: Sequence[int] | None = None,
    decimal: str = ".",
) -> pd.DataFrame:
    """Check a layout table and add ``conc_a_nM`` and ``conc_b_nM``.

    Parameters
    ----------
    layout : DataFrame, one row per well
        Columns as in :data:`LAYOUT_COLUMNS` (only ``well`` and ``role`` required; header names
        are matched case-insensitively; other columns are kept).
    molecular_weights : mapping of drug name to g/mol, optional
        Converts mass concentrations (ng/mL...) of these drugs to nM.
    conc_unit : str, optional
        Unit for rows whose ``conc_unit`` cell is empty.
    plate_format : 96, 384 or PlateFormat, optional
        Check that every well is on this plate (default: on a 384-well plate).
    source : str
        File or argument named in errors.
    lines : sequence of int, optional
        File line of each row; errors then name ``line N`` instead of ``row <index label>``.
    decimal : {".", ","}
        Decimal mark of text concentrations.

    Returns
    -------
    DataFrame, one row per well
        :data:`LAYOUT_COLUMNS` (text columns as str, ``""`` when empty; ``well`` as ``A01``;
        ``role`` lower case; ``conc_a``/``conc_b`` float in ``conc_unit``, whose spelling is made
        canonical and left empty in rows without a concentration), then ``conc_a_nM``,
        ``conc_b_nM`` (float, nM, NaN when unknown), then any other columns.

    Raises
    ------
    LeptotwinError
        On a missing ``well``/``role`` column, a missing ``conc_a`` (``conc_b``) column while
        there are sample wells (partner drugs), an unknown role or unit, a non-numeric or
        negative concentration or one of 1 M (1 g/mL) or more, a molecular weight that is not
        a number > 0, a sample without ``conc_a``, a partner drug without ``conc_b``,
        a concentration without a unit, a bad or duplicated well, or a ``plate`` cell left
        empty while others are filled. Row errors name the line (or index) and column.
    """
    frame, out, where = _check_layout_table(
        layout, columns=LAYOUT_COLUMNS, also=("conc_a_nM", "conc_b_nM"), roles=ROLES,
        role_message="unknown role", plate_format=plate_format, source=source, lines=lines,
    )  # fmt: skip
    for col in _TEXT:
        out[col] = _text_column(frame, col)
    _require_concentration_columns(frame, out, source)
    conc = _concentrations(frame, source=source, where=where, decimal=decimal)
    unit, factor, molar = _unit_specs(frame, conc, conc_unit, source=source, where=where)
    for col in ("conc_a", "conc_b"):
        _at_most(
            conc[col] * factor,
            CONCENTRATION_LIMIT,
            "concentration of 1 M (or 1 g/mL) or more",
            frame=frame,
            col=col,
            source=source,
            where=where,
            expected="a concentration in the well below 1 M (1 g/mL); check the unit",
        )
    has_conc = ~(np.isnan(conc["conc_a"]) & np.isnan(conc["conc_b"]))
    out["conc_unit"] = np.where(has_conc, unit, "").astype(object)
    checks = (
        ((out["role"] == "sample").to_numpy() & np.isnan(conc["conc_a"]), "conc_a",
         "sample well without a concentration"),
        ((out["drug_b"] != "").to_numpy() & np.isnan(conc["conc_b"]), "conc_b",
         "partner drug without a concentration"),
    )  # fmt: skip
    for bad, col, message in checks:
        _raise_first(bad, message, source=source, where=where, col=col, values=out["well"],
                     expected=f"a number in {col}")  # fmt: skip
    mw = _molecular_weights(molecular_weights, source)
    for col, drug in (("conc_a", "drug_a"), ("conc_b", "drug_b")):
        weight = out[drug].map(mw).to_numpy(float)  # NaN for drugs without a weight
        per_nm = np.where(molar, factor, factor * 1e3 / weight)  # ng/mL * 1e3 / (g/mol) = nM
        nm = np.where(conc[col] == 0, 0.0, conc[col] * per_nm)
        if f"{col}_nM" in frame:  # keep conversions done earlier (e.g. with molecular weights)
            nm = np.where(np.isnan(nm), _earlier_nm(frame, f"{col}_nM", source, where, decimal), nm)
        out[col] = conc[col]
        out[f"{col}_nM"] = nm
    return _with_extras(out[[*LAYOUT_COLUMNS, "conc_a_nM", "conc_b_nM"]], frame)


def read_layout(
    path: str | os.PathLike[str],
    *,
    molecular_weights: Mapping[str, float] | None = None,
    conc_unit: str | None = None,
    plate_format: int | PlateFormat | None = None,
) -> pd.DataFrame:
    """Read a layout file (see the module docstring) and validate it.

    Parameters
    ----------
    path : path-like
        CSV, ``;``- or tab-separated text (``,`` is then the decimal mark), or ``.xlsx`` (needs
        ``openpyxl``).
    molecular_weights, conc_unit, plate_format
        As in :func:`validate_layout`.

    Returns
    -------
    DataFrame, one row per listed well
        As :func:`validate_layout`; ``attrs["source"]`` is the path.

    Raises
    ------
    LeptotwinError
        If the file is missing or empty, or as :func:`validate_layout` (naming the file line).
    """
    return _read_checked(
        path,
        validate_layout,
        molecular_weights=molecular_weights,
        conc_unit=conc_unit,
        plate_format=plate_format,
    )


def write_layout(path: str | os.PathLike[str], layout: pd.DataFrame) -> Path:
    """Validate ``layout`` and write it as a layout CSV (:data:`LAYOUT_COLUMNS`, then extras).

    Derived ``conc_*_nM`` columns are not written. Returns the path written.

    Raises
    ------
    LeptotwinError
        As :func:`validate_layout`.
    """
    checked = validate_layout(layout, source="write_layout")
    return write_csv(path, checked.drop(columns=["conc_a_nM", "conc_b_nM"]))


def merge_plate(
    readings: pd.DataFrame,
    layout: pd.DataFrame,
    *,
    molecular_weights: Mapping[str, float] | None = None,
    plate_format: int | PlateFormat | None = None,
) -> pd.DataFrame:
    """Join readings and a layout: one row per well.

    Parameters
    ----------
    readings : DataFrame, one row per well
        ``plate``, ``well``, ``signal`` and optionally ``flag`` (as :func:`read_plate_reader`
        returns; a missing flag is ``"missing"`` for NaN signals, else ``"ok"``).
    layout : DataFrame
        As :func:`read_layout` or :func:`validate_layout` return (or a raw table, validated
        here). A layout without plate ids applies to every plate.
    molecular_weights : mapping of drug name to g/mol, optional
        Passed to :func:`validate_layout`.
    plate_format : 96, 384 or PlateFormat, optional
        Default per plate: 384 if it has a reading past ``H12``, else 96.

    Returns
    -------
    DataFrame, one row per well (readings and layout wells), sorted by plate (reading order),
    row, column
        ``plate, well, row`` (letter), ``col`` (1-based), ``edge`` (bool), ``role``,
        ``cell_line, drug_a, conc_a_nM, drug_b, conc_b_nM, perturbation, replicate, signal,
        flag``, then ``conc_a, conc_b, conc_unit`` and any extra layout columns. Wells read but
        not in the layout are ``empty``; layout wells without a reading have NaN signal and
        flag ``"missing"``.

    Raises
    ------
    LeptotwinError
        If a plate is in the layout but not in the readings or vice versa, a layout well is not
        on its plate, a well is duplicated, or the layout is invalid (see
        :func:`validate_layout`).
    """
    reads, lay, dims, plates, rsrc = _join_inputs(
        readings, layout, validate_layout, plate_format, molecular_weights=molecular_weights
    )
    merged = reads.drop(columns=["_r", "_c"]).merge(lay, on=["plate", "well"], how="outer")
    merged["role"] = merged["role"].fillna("empty")
    for col in ("cell_line", "drug_a", "drug_b", "perturbation", "replicate", "conc_unit"):
        merged[col] = merged[col].astype(object).where(merged[col].notna(), "")
    merged["flag"] = merged["flag"].astype(object).where(merged["flag"].notna(), "missing")
    _, r, c = _parse_wells(merged["well"].to_numpy(object), None, source=rsrc)
    mdims = merged[["plate"]].merge(dims, on="plate", how="left")
    order = pd.Series(np.arange(len(plates)), index=plates)
    merged["row"] = np.array(list(PLATE_384.row_letters), dtype=object)[r]
    merged["col"] = c + 1
    nr, nc = mdims["_nr"].to_numpy(), mdims["_nc"].to_numpy()
    merged["edge"] = (r == 0) | (c == 0) | (r == nr - 1) | (c == nc - 1)
    key = order.loc[merged["plate"]].to_numpy() * 10_000 + r * 100 + c
    merged = merged.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)
    first = [
        "plate", "well", "row", "col", "edge", "role", "cell_line", "drug_a", "conc_a_nM",
        "drug_b", "conc_b_nM", "perturbation", "replicate", "signal", "flag", "conc_a", "conc_b",
        "conc_unit",
    ]  # fmt: skip
    return merged[first + [c for c in merged.columns if c not in first]]


# --------------------------------------------------------------------------- normalisation
class Normalised(NamedTuple):
    """Result of :func:`normalise_to_controls`; unpacks as ``data, qc``."""

    data: pd.DataFrame
    qc: pd.DataFrame


_GROUP_ROLES = ("sample", "vehicle", "positive")
_QC_COLUMNS = (
    "n_sample", "n_vehicle", "n_blank", "n_positive", "blank_mean", "vehicle_mean", "vehicle_sd",
    "vehicle_cv_pct", "positive_mean", "positive_sd", "z_prime", "signal_to_background",
    "n_overflow",
)  # fmt: skip


def z_prime(positive: ArrayLike, negative: ArrayLike) -> float:
    """Z'-factor of an assay from its control wells (Zhang, Chung & Oldenburg 1999).

    ``Z' = 1 - 3 (sd_p + sd_n) / |mean_p - mean_n|`` with sample standard deviations
    (``ddof=1``); NaN readings are ignored. Z' >= 0.5 is an excellent assay.

    Parameters
    ----------
    positive, negative : array_like, shape (n_p,) and (n_n,)
        Signals of the positive (full effect) and negative (vehicle) control wells.

    Returns
    -------
    float
        NaN if either control has fewer than two readings or the means are equal.

    References
    ----------
    Zhang JH, Chung TDY, Oldenburg KR. J Biomol Screen 1999;4(2):67-73.
    """
    p = np.asarray(positive, dtype=float).ravel()
    n = np.asarray(negative, dtype=float).ravel()
    p, n = p[~np.isnan(p)], n[~np.isnan(n)]
    if p.size < 2 or n.size < 2 or p.mean() == n.mean():
        return float("nan")
    return float(1.0 - 3.0 * (p.std(ddof=1) + n.std(ddof=1)) / abs(p.mean() - n.mean()))


def _match(
    groups: pd.DataFrame, ctrl: pd.DataFrame, keys: Sequence[str], carry: Sequence[str]
) -> pd.DataFrame:
    """Pair control wells with groups; an empty key of a control well matches any group value.

    ``groups`` holds ``keys`` and ``gid``; returns ``gid`` and the ``carry`` columns, one row
    per (group, matching control well). Loops over the <= 2**len(keys) patterns of empty keys.
    """
    if ctrl.empty or groups.empty:
        return pd.DataFrame({"gid": np.array([], np.int64), **{c: ctrl[c].iloc[:0] for c in carry}})
    given = (ctrl[list(keys)] != "").to_numpy()
    code = given @ (1 << np.arange(len(keys)))
    pieces = []
    for pattern in np.unique(code):
        on = [k for j, k in enumerate(keys) if pattern >> j & 1]
        sub = ctrl.loc[code == pattern, [*on, *carry]]
        if on:
            pieces.append(groups[[*on, "gid"]].merge(sub, on=on)[["gid", *carry]])
        else:
            pieces.append(groups[["gid"]].merge(sub, how="cross")[["gid", *carry]])
    return pd.concat(pieces, ignore_index=True)


def _describe(m: pd.DataFrame, n_groups: int) -> pd.DataFrame:
    """Per-gid count, mean, sample sd of ``signal`` and number of overflow wells."""
    g = m.groupby("gid")
    stats = pd.DataFrame(
        {
            "n": g["signal"].count(),
            "mean": g["signal"].mean(),
            "sd": g["signal"].std(ddof=1),
            "over": (m["flag"] == WellFlag.OVERFLOW.value).groupby(m["gid"]).sum(),
        }
    )
    stats = stats.reindex(np.arange(n_groups))
    stats[["n", "over"]] = stats[["n", "over"]].fillna(0).astype(np.int64)
    return stats


def _check_finite_responses(
    response: NDArray[np.float64],
    signal: NDArray[np.float64],
    gid_own: NDArray[np.int64],
    in_group: NDArray[np.bool_],
    denom: NDArray[np.float64],
    name: Callable[[int], str],
    source: str,
) -> None:
    """A finite signal must give a finite response (a vehicle barely above the blank does not)."""
    own = response[in_group]
    bad = np.isinf(own) | (np.isnan(own) & np.isfinite(signal[in_group]))
    if bad.any():
        i = int(gid_own[np.argmax(bad)])
        raise LeptotwinError(
            "vehicle mean exceeds the blank mean by too little to normalise to "
            "(responses overflow)",
            source=source,
            field=name(i),
            value=float(denom[i]),
            expected="vehicle signal well above background; check roles and the readings",
        )


def normalise_to_controls(
    df: pd.DataFrame,
    *,
    group_by: Sequence[str] = ("plate", "cell_line"),
    scale: str = "percent",
) -> Normalised:
    """Express each well's signal relative to its group's blank and vehicle controls.

    ``response = (signal - blank_mean) / (vehicle_mean - blank_mean)``, times 100 for
    ``scale="percent"``. Groups are the distinct ``group_by`` values of sample, vehicle and
    positive wells (compared as text). A control well (blank, vehicle, positive) counts for every
    group it agrees with on its non-empty keys: a blank well without a cell line serves every
    cell line of its plate. A group without blank wells uses blank 0 (``n_blank`` = 0).

    Parameters
    ----------
    df : DataFrame, one row per well
        As :func:`merge_plate` returns: ``role``, ``signal`` (NaN ignored), ``flag``
        (optional) and the ``group_by`` columns.
    group_by : sequence of str
        Columns defining a normalisation group.
    scale : {"percent", "fraction"}
        Vehicle = 100 or 1.

    Returns
    -------
    Normalised
        ``data``: ``df`` plus ``response`` (float; NaN for blank and empty wells and missing
        readings). ``qc``: one row per group, the ``group_by`` columns then ``n_sample,
        n_vehicle, n_blank, n_positive`` (wells with a reading), ``blank_mean, vehicle_mean,
        vehicle_sd`` (signal unit), ``vehicle_cv_pct`` (NaN unless the vehicle mean is > 0),
        ``positive_mean, positive_sd``,
        ``z_prime`` (:func:`z_prime` of positive vs vehicle; NaN without positive wells),
        ``signal_to_background`` (vehicle mean / blank mean; NaN without blank or with blank
        <= 0) and ``n_overflow`` (overflow wells among the group's wells and its controls).

    Raises
    ------
    LeptotwinError
        If a column is missing, ``scale`` is unknown, a group has no vehicle reading, or a
        group's vehicle mean does not exceed its blank mean (or by so little that responses
        overflow).
    """
    source = "normalise_to_controls"
    if scale not in ("percent", "fraction"):
        raise LeptotwinError(
            "unknown scale", source=source, field="scale", value=scale, expected="percent, fraction"
        )
    keys = list(group_by)
    for col in ("role", "signal", *keys):
        if col not in df:
            raise LeptotwinError(
                "missing column",
                source=source,
                field=col,
                expected="a table as merge_plate returns and group_by columns present in it",
            )
    kt = pd.DataFrame({k: _text_column(df, k).to_numpy() for k in keys})
    role = _text_column(df, "role").str.lower().to_numpy()
    signal = pd.to_numeric(df["signal"], errors="coerce").to_numpy(float)
    if "flag" in df:
        flag = df["flag"].astype(object).where(df["flag"].notna(), "").to_numpy()
    else:
        flag = np.where(np.isnan(signal), WellFlag.MISSING.value, WellFlag.OK.value)
    wells = kt.assign(signal=signal, flag=flag)
    in_group = np.isin(role, _GROUP_ROLES)
    groups = kt[in_group].drop_duplicates().reset_index(drop=True)
    groups["gid"] = np.arange(len(groups))
    n_groups = len(groups)
    own = wells[in_group].merge(groups, on=keys, how="left")
    gid_own = own["gid"].to_numpy(np.int64)
    st = {
        r: _describe(_match(groups, wells[role == r], keys, ["signal", "flag"]), n_groups)
        for r in ("blank", "vehicle", "positive")
    }
    blank = np.where(st["blank"]["n"] > 0, st["blank"]["mean"], 0.0)
    veh = st["vehicle"]
    name = lambda i: ", ".join(f"{k}={groups[k].iloc[i]!r}" for k in keys)  # noqa: E731
    if (veh["n"] == 0).any():
        i = int(np.argmax(veh["n"].to_numpy() == 0))
        raise LeptotwinError(
            "group has no vehicle reading",
            source=source,
            field=name(i),
            expected="vehicle wells (role 'vehicle') with a reading in every group, "
            f"or other group_by columns (now {', '.join(keys)})",
        )
    denom = veh["mean"].to_numpy() - blank
    if (denom <= 0).any():
        i = int(np.argmax(denom <= 0))
        raise LeptotwinError(
            "vehicle mean does not exceed the blank mean",
            source=source,
            field=name(i),
            value=(float(veh["mean"].iloc[i]), float(blank[i])),
            expected="vehicle signal above background; check roles and the readings",
        )
    factor = 100.0 if scale == "percent" else 1.0
    response = np.full(len(df), np.nan)
    with np.errstate(over="ignore"):
        response[in_group] = (signal[in_group] - blank[gid_own]) / denom[gid_own] * factor
    _check_finite_responses(response, signal, gid_own, in_group, denom, name, source)
    data = df.copy()
    data["response"] = response
    pos = st["positive"]
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.abs(pos["mean"].to_numpy() - veh["mean"].to_numpy())
        zp = 1.0 - 3.0 * (pos["sd"].to_numpy() + veh["sd"].to_numpy()) / spread
        zp = np.where(
            (spread > 0) & (pos["n"].to_numpy() >= 2) & (veh["n"].to_numpy() >= 2), zp, np.nan
        )
        ok_blank = (st["blank"]["n"].to_numpy() > 0) & (blank > 0)
        s2b = np.where(ok_blank, veh["mean"].to_numpy() / np.where(ok_blank, blank, 1.0), np.nan)
    is_sample = role[in_group] == "sample"
    own_over = own["flag"].to_numpy() == WellFlag.OVERFLOW.value
    qc = groups[keys].copy()
    qc["n_sample"] = np.bincount(
        gid_own, weights=is_sample & ~np.isnan(own["signal"]), minlength=n_groups
    ).astype(np.int64)
    qc["n_vehicle"] = veh["n"].to_numpy()
    qc["n_blank"] = st["blank"]["n"].to_numpy()
    qc["n_positive"] = pos["n"].to_numpy()
    qc["blank_mean"] = blank
    qc["vehicle_mean"] = veh["mean"].to_numpy()
    qc["vehicle_sd"] = veh["sd"].to_numpy()
    mean = veh["mean"].to_numpy()
    qc["vehicle_cv_pct"] = np.where(
        mean > 0, 100.0 * veh["sd"].to_numpy() / np.where(mean > 0, mean, 1.0), np.nan
    )
    qc["positive_mean"] = pos["mean"].to_numpy()
    qc["positive_sd"] = pos["sd"].to_numpy()
    qc["z_prime"] = zp
    qc["signal_to_background"] = s2b
    own_sample_over = np.bincount(gid_own, weights=own_over & is_sample, minlength=n_groups)
    qc["n_overflow"] = (
        (own_sample_over + st["blank"]["over"] + veh["over"] + pos["over"])
        .to_numpy()
        .astype(np.int64)
    )
    return Normalised(data, qc)


# --------------------------------------------------------------------------- dose-response
_DR_COLUMNS = (
    "curve", "dose", "response", "replicate", "plate", "well", "cell_line", "drug",
    "perturbation", "partner_drug", "partner_conc_nM",
)  # fmt: skip


def _curve_label(cell_line: str, drug: str, perturbation: str, partner: str, conc: float) -> str:
    parts = [cell_line, drug, perturbation]
    if partner:
        parts.append(f"+ {partner} {np.format_float_positional(conc, trim='-')} nM")
    return " | ".join(p for p in parts if p)


def to_dose_response(
    df: pd.DataFrame, *, include_vehicle: bool = True, dropna: bool = True
) -> pd.DataFrame:
    """Tidy dose-response table for :class:`~leptotwin.analysis.doseresponse.DoseResponseFitter`.

    One curve per distinct (cell line, drug A, perturbation, partner drug B, partner
    concentration in nM). Its label joins the non-empty parts with ``" | "``; the partner reads
    ``"+ <drug_b> <conc_b_nM> nM"``, e.g. ``"H3122 | alectinib | HGF | + crizotinib 100 nM"``.
    Sample wells give ``dose = conc_a_nM``. With ``include_vehicle``, vehicle wells of the same
    plate, cell line and perturbation (empty values match any, as in
    :func:`normalise_to_controls`) are added at dose 0 to every curve without a partner drug;
    a combination curve's dose 0 is its sample wells with ``conc_a = 0`` (partner alone).

    Parameters
    ----------
    df : DataFrame, one row per well
        As :func:`normalise_to_controls` returns (``data``): needs ``role``, ``response`` and
        ``conc_a_nM``; the layout text columns default to empty.
    include_vehicle : bool
        Add vehicle wells at dose 0 to single-drug curves.
    dropna : bool
        Drop rows without a response (overflow, missing readings).

    Returns
    -------
    DataFrame, one row per (curve, well)
        ``curve`` (str), ``dose`` (nM), ``response`` (as normalised), ``replicate``, ``plate``,
        ``well``, ``cell_line``, ``drug``, ``perturbation``, ``partner_drug``,
        ``partner_conc_nM``; sorted by curve, then dose.

    Raises
    ------
    LeptotwinError
        If ``response`` or ``conc_a_nM`` is missing, or a sample has no concentration in nM
        (mass units need ``molecular_weights`` when the layout is read).
    """
    source = "to_dose_response"
    for col, hint in (
        ("role", "a table from merge_plate"),
        ("response", "a response column: run normalise_to_controls first"),
        ("conc_a_nM", "a table from merge_plate / normalise_to_controls"),
    ):
        if col not in df:
            raise LeptotwinError("missing column", source=source, field=col, expected=hint)
    t = {c: _text_column(df, c) for c in ("plate", "well", "cell_line", "drug_a", "drug_b",
                                           "perturbation", "replicate")}  # fmt: skip
    role = _text_column(df, "role").str.lower()
    frame = pd.DataFrame({k: v.to_numpy() for k, v in t.items()})
    frame["role"] = role.to_numpy()
    frame["response"] = pd.to_numeric(df["response"], errors="coerce").to_numpy(float)
    frame["dose"] = pd.to_numeric(df["conc_a_nM"], errors="coerce").to_numpy(float)
    cb = df["conc_b_nM"] if "conc_b_nM" in df else pd.Series(np.nan, index=df.index)
    frame["partner_conc_nM"] = pd.to_numeric(cb, errors="coerce").to_numpy(float)
    samples = frame[frame["role"] == "sample"]
    partner = samples["drug_b"] != ""
    for bad, col in (
        (samples["dose"].isna(), "conc_a_nM"),
        (partner & samples["partner_conc_nM"].isna(), "conc_b_nM"),
    ):
        if bad.any():
            row = samples[bad].iloc[0]
            raise LeptotwinError(
                "sample without a concentration in nM",
                source=source,
                field=f"plate {row['plate']}, well {row['well']}, column {col}",
                expected="molar units, or molecular_weights= for mass units (read_layout)",
            )
    ckeys = ["cell_line", "drug_a", "perturbation", "drug_b", "partner_conc_nM"]
    samples = samples.assign(partner_conc_nM=samples["partner_conc_nM"].where(partner, np.nan))
    combos = samples[ckeys].drop_duplicates()
    combos["curve"] = [
        _curve_label(*map(str, r[:4]), float(r[4])) for r in combos.itertuples(False)
    ]
    out = samples.merge(combos, on=ckeys, how="left")
    if include_vehicle:
        single = out.loc[out["drug_b"] == "", ["plate", "cell_line", "perturbation", "curve",
                                               "drug_a"]].drop_duplicates()  # fmt: skip
        single = single.reset_index(drop=True).assign(gid=lambda x: np.arange(len(x)))
        carry = ["well", "replicate", "response"]
        veh = _match(single, frame[frame["role"] == "vehicle"],
                     ["plate", "cell_line", "perturbation"], carry)  # fmt: skip
        veh = veh.merge(single, on="gid").drop(columns="gid")
        veh = veh.assign(dose=0.0, drug_b="", partner_conc_nM=np.nan)
        out = pd.concat([out, veh], ignore_index=True)
    if dropna:
        out = out[out["response"].notna()]
    out = out.rename(columns={"drug_a": "drug", "drug_b": "partner_drug"})
    out = out.sort_values(["curve", "dose", "plate", "well"], kind="stable")
    out = out[list(_DR_COLUMNS)].reset_index(drop=True)
    out["curve"] = out["curve"].astype(object)
    out["dose"] = out["dose"].astype(float)
    return out
