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
``conc_a``/``conc_b`` are numbers in ``conc_unit`` (per row, or the ``conc_unit=`` argument):
molar units (pM, nM, µM/uM, mM, M) are converted to nM in ``conc_a_nM``/``conc_b_nM``; mass units
(pg/mL, ng/mL, µg/mL, mg/mL) are converted only for drugs with a molecular weight given
(``molecular_weights={"alectinib": 482.6}``, g/mol), else ``conc_*_nM`` is NaN and the value
stays in ``conc_*`` with its unit. Lines starting with ``#`` are comments.

ELISA layout file
-----------------
A standard-curve assay (ELISA) has its own layout, in the same file forms::

    plate,well,role,sample_id,group,nominal_pg_mL,dilution
    E01,A01,standard,,,2000,
    E01,H01,blank,,,,
    E01,A03,sample,S001,A925L/AR,,4

``role`` is one of :data:`ELISA_ROLES` (``std``/``calibrator`` mean standard, ``unknown``
sample, ``zero`` blank): a ``standard`` well holds a calibrator of known concentration
``nominal_pg_mL`` (pg/mL in the well, > 0), a ``blank`` the zero standard, a ``sample`` an
unknown named by ``sample_id`` and diluted by ``dilution`` (factor > 0, default 1). The same
rules as above hold for ``plate``, ``well``, comments, separators and decimal commas.

Pipeline
--------
``read_plate_reader`` -> :func:`merge_plate` (one row per well) -> :func:`normalise_to_controls`
(``response`` in % of vehicle, QC per group) -> :func:`to_dose_response` (``curve, dose,
response`` for :class:`leptotwin.analysis.doseresponse.DoseResponseFitter`).

ELISA: ``read_plate_reader`` + :func:`read_elisa_layout` -> :func:`merge_elisa_plate` (one row
per layout well) -> :class:`leptotwin.analysis.standard_curve.StandardCurveFitter`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from leptotwin._fileio import write_csv
from leptotwin.errors import LeptotwinError
from leptotwin.formats.plate import (
    PLATE_96,
    PLATE_384,
    PlateFormat,
    WellFlag,
    _parse_wells,
    _read_text,
    _read_xlsx,
    get_plate_format,
)

__all__ = [
    "ELISA_LAYOUT_COLUMNS",
    "ELISA_ROLES",
    "LAYOUT_COLUMNS",
    "ROLES",
    "Normalised",
    "merge_elisa_plate",
    "merge_plate",
    "normalise_to_controls",
    "read_elisa_layout",
    "read_layout",
    "to_dose_response",
    "validate_elisa_layout",
    "validate_layout",
    "write_elisa_layout",
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

ELISA_LAYOUT_COLUMNS = ("plate", "well", "role", "sample_id", "group", "nominal_pg_mL", "dilution")
"""Columns of an ELISA layout file, in the order :func:`write_elisa_layout` writes them."""

ELISA_ROLES = ("standard", "blank", "sample", "empty")
"""Well roles of an ELISA plate: calibrators of known concentration (``nominal_pg_mL``), the
zero standard, unknowns (``sample_id``, ``dilution``) and unused wells."""

_ELISA_ALIASES = {
    "std": "standard",
    "standards": "standard",
    "calibrator": "standard",
    "unknown": "sample",
    "unk": "sample",
    "zero": "blank",
    "": "empty",
}
_TEXT = ("plate", "cell_line", "drug_a", "drug_b", "perturbation", "replicate")
# unit (lower case, ``u`` for micro) -> (canonical spelling, factor to nM or to ng/mL, is molar)
_UNITS: dict[str, tuple[str, float, bool]] = {
    "pm": ("pM", 1e-3, True),
    "nm": ("nM", 1.0, True),
    "um": ("µM", 1e3, True),
    "mm": ("mM", 1e6, True),
    "m": ("M", 1e9, True),
    "pg/ml": ("pg/mL", 1e-3, False),
    "ng/ml": ("ng/mL", 1.0, False),
    "ug/ml": ("µg/mL", 1e3, False),
    "mg/ml": ("mg/mL", 1e6, False),
}


# --------------------------------------------------------------------------- layout checks
_Locator = Callable[[int], str]
"""Row position -> ``"line N"`` (file line) or ``"row <index label>"``, for error messages."""


class _Checked(NamedTuple):
    """The part every layout kind shares, as :func:`_check_layout_table` returns it."""

    frame: pd.DataFrame  # the input, headers matched to the known names (case-insensitive)
    out: pd.DataFrame  # plate, well (A01 or ""), role (canonical); the input's index
    where: _Locator


def _locator(frame: pd.DataFrame, lines: Sequence[int] | None) -> _Locator:
    """Position -> ``"line N"`` (file line) or ``"row <index label>"``."""
    labels = list(lines) if lines is not None else list(frame.index)
    prefix = "line" if lines is not None else "row"
    return lambda i: f"{prefix} {labels[int(i)]}"


def _text_column(frame: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as stripped text, ``""`` for empty cells or a missing column."""
    if col not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    s = frame[col].astype(object).where(frame[col].notna(), "")
    return s.astype(str).str.strip().astype(object)


def _raise_first(
    bad: ArrayLike,
    message: str,
    *,
    source: str,
    where: _Locator,
    col: str,
    values: ArrayLike | None = None,
    expected: str | None = None,
) -> None:
    """Raise ``message`` for the first row flagged in ``bad`` (bool, shape (n_rows,)).

    The error names that row's line (or index label) and ``col``, and quotes ``values[i]``
    (shape (n_rows,); none when ``values`` is None or holds None there).
    """
    flags = np.asarray(bad, dtype=bool)
    if not flags.any():
        return
    i = int(np.argmax(flags))
    raise LeptotwinError(
        message,
        source=source,
        field=f"{where(i)}, column {col}",
        value=None if values is None else np.asarray(values, dtype=object)[i],
        expected=expected,
    )


def _numbers(
    frame: pd.DataFrame,
    col: str,
    what: str,
    *,
    source: str,
    where: _Locator,
    decimal: str,
    expected: str,
) -> NDArray[np.float64]:
    """Column ``col`` as float, shape (n_rows,), NaN where empty; raises on other text."""
    raw = _text_column(frame, col)
    text = raw.str.replace(",", ".", regex=False) if decimal == "," else raw
    num = pd.to_numeric(text.where(text != "", np.nan), errors="coerce").to_numpy(float)
    _raise_first(
        np.isnan(num) & (raw != "").to_numpy(),
        f"non-numeric {what}",
        source=source,
        where=where,
        col=col,
        values=raw,
        expected=expected,
    )
    return num


def _well_names(
    frame: pd.DataFrame,
    fmt: PlateFormat | None,
    *,
    source: str,
    where: _Locator,
    optional: bool,
) -> NDArray[np.object_]:
    """``well`` as ``A01`` names, shape (n_rows,); ``""`` for empty cells when ``optional``."""
    names = np.full(len(frame), "", dtype=object)
    if "well" not in frame:
        return names
    raw = frame["well"].to_numpy(object)
    given = (_text_column(frame, "well") != "").to_numpy() if optional else np.ones(len(raw), bool)
    try:
        names[given] = _parse_wells(raw[given], fmt, source=source)[0]
    except LeptotwinError as err:
        i = int(np.flatnonzero(pd.Series(raw).astype(str).eq(str(err.value)))[0])
        raise LeptotwinError(
            err.message,
            source=source,
            field=f"{where(i)}, column well",
            value=err.value,
            expected=err.expected,
        ) from None
    return names


def _check_layout_table(
    layout: pd.DataFrame,
    *,
    columns: Sequence[str],
    roles: Sequence[str],
    role_message: str,
    aliases: Mapping[str, str] | None = None,
    also: Sequence[str] = (),
    plate_format: int | PlateFormat | None,
    source: str,
    lines: Sequence[int] | None,
    well_optional: bool = False,
) -> _Checked:
    """Checks every layout kind shares: columns, plate ids, wells, roles, duplicates.

    ``columns`` (then ``also``) are the known headers, matched case-insensitively; ``roles``
    the allowed roles after lower-casing and mapping through ``aliases``. With
    ``well_optional`` the ``well`` column may be missing or have empty cells.
    """
    if not isinstance(layout, pd.DataFrame):
        raise LeptotwinError(
            "expected a table (DataFrame) of wells", source=source, value=type(layout).__name__
        )
    known = {c.lower(): c for c in (*columns, *also)}
    frame = layout.rename(columns=lambda c: known.get(str(c).strip().lower(), c))
    for col in ("role",) if well_optional else ("well", "role"):
        if col not in frame:
            raise LeptotwinError(
                "missing column", source=source, field=col, expected=", ".join(columns)
            )
    where = _locator(frame, lines)
    out = pd.DataFrame({"plate": _text_column(frame, "plate")}, index=frame.index)
    plate_empty = (out["plate"] == "").to_numpy()
    if not plate_empty.all():
        _raise_first(
            plate_empty,
            "empty plate id",
            source=source,
            where=where,
            col="plate",
            expected="a plate id in every row, or no plate column (layout for every plate)",
        )
    fmt = None if plate_format is None else get_plate_format(plate_format)
    out["well"] = _well_names(frame, fmt, source=source, where=where, optional=well_optional)
    role = _text_column(frame, "role").str.lower()
    if aliases:
        role = role.map(lambda r: aliases.get(r, r)).astype(object)
    _raise_first(
        ~role.isin(roles).to_numpy(),
        role_message,
        source=source,
        where=where,
        col="role",
        values=frame["role"],
        expected="one of " + ", ".join(roles),
    )
    out["role"] = role
    _check_unique_wells(out, source, where)
    return _Checked(frame, out, where)


def _check_unique_wells(out: pd.DataFrame, source: str, where: _Locator) -> None:
    """One row per plate and well (rows without a well name are not compared)."""
    dup = out.duplicated(["plate", "well"], keep=False).to_numpy() & (out["well"] != "").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        raise LeptotwinError(
            "duplicated well",
            source=source,
            field=" and ".join(where(j) for j in np.flatnonzero(dup)[:2]),
            value=f"{out['plate'].iloc[i]} {out['well'].iloc[i]}".strip(),
            expected="one row per plate and well",
        )


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
    """Per row: canonical unit spelling, factor to nM (molar) or ng/mL (mass), is molar."""
    units = _text_column(frame, "conc_unit")
    if conc_unit is not None:
        units = units.where(units != "", conc_unit)
    key = units.str.lower().str.replace("µ", "u").str.replace("μ", "u").str.replace(" ", "")
    _raise_first(
        ~(key.isin(list(_UNITS)).to_numpy() | (key == "").to_numpy()),
        "unknown concentration unit",
        source=source,
        where=where,
        col="conc_unit",
        values=units,
        expected="one of " + ", ".join(u for u, _, _ in _UNITS.values()),
    )
    _raise_first(
        (key == "").to_numpy() & ((conc["conc_a"] > 0) | (conc["conc_b"] > 0)),
        "concentration without a unit",
        source=source,
        where=where,
        col="conc_unit",
        expected="a conc_unit cell or the conc_unit= argument (e.g. nM)",
    )
    spec = key.map(lambda k: _UNITS.get(k, ("", np.nan, False)))
    return (
        spec.str[0].astype(str).to_numpy(object),
        spec.str[1].to_numpy(float),
        spec.str[2].to_numpy(bool),
    )


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
        On a missing ``well``/``role`` column, an unknown role or unit, a non-numeric or
        negative concentration, a sample without ``conc_a``, a partner drug without ``conc_b``,
        a concentration without a unit, a bad or duplicated well, or a ``plate`` cell left
        empty while others are filled. Row errors name the line (or index) and column.
    """
    frame, out, where = _check_layout_table(
        layout, columns=LAYOUT_COLUMNS, also=("conc_a_nM", "conc_b_nM"), roles=ROLES,
        role_message="unknown role", plate_format=plate_format, source=source, lines=lines,
    )  # fmt: skip
    for col in _TEXT:
        out[col] = _text_column(frame, col)
    conc = _concentrations(frame, source=source, where=where, decimal=decimal)
    unit, factor, molar = _unit_specs(frame, conc, conc_unit, source=source, where=where)
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
    mw = {str(k): float(v) for k, v in (molecular_weights or {}).items()}
    for col, drug in (("conc_a", "drug_a"), ("conc_b", "drug_b")):
        weight = out[drug].map(mw).to_numpy(float)  # NaN for drugs without a weight
        per_nm = np.where(molar, factor, factor * 1e3 / weight)  # ng/mL * 1e3 / (g/mol) = nM
        nm = np.where(conc[col] == 0, 0.0, conc[col] * per_nm)
        if f"{col}_nM" in frame:  # keep conversions done earlier (e.g. with molecular weights)
            nm = np.where(np.isnan(nm), pd.to_numeric(frame[f"{col}_nM"]).to_numpy(float), nm)
        out[col] = conc[col]
        out[f"{col}_nM"] = nm
    return _with_extras(out[[*LAYOUT_COLUMNS, "conc_a_nM", "conc_b_nM"]], frame)


def _with_extras(out: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``out``, then the columns of ``frame`` it lacks; index reset to 0..n-1."""
    extra = [c for c in frame.columns if c not in out.columns]
    return pd.concat([out, frame[extra]], axis=1).reset_index(drop=True)


# --------------------------------------------------------------------------- ELISA layout
def _check_elisa_roles(
    out: pd.DataFrame,
    frame: pd.DataFrame,
    nominal: NDArray[np.float64],
    dilution: NDArray[np.float64],
    *,
    source: str,
    where: _Locator,
) -> None:
    """Standards need a nominal concentration > 0; samples a sample_id and a dilution > 0."""
    role = out["role"].to_numpy()
    std, smp = role == "standard", role == "sample"

    def quoted(col: str) -> NDArray[np.object_]:
        text = _text_column(frame, col).to_numpy(object)
        return np.where(text == "", None, text)

    checks = (
        (std & ~(np.isfinite(nominal) & (nominal > 0)), "nominal_pg_mL",
         "standard without a positive nominal concentration", quoted("nominal_pg_mL"),
         "a concentration > 0 in pg/mL (the zero standard has role blank)"),
        (smp & ~(np.isnan(dilution) | (np.isfinite(dilution) & (dilution > 0))), "dilution",
         "dilution factor must be > 0", quoted("dilution"),
         "the factor by which the sample was diluted into the well, e.g. 1 or 10"),
        (smp & (out["sample_id"] == "").to_numpy(), "sample_id",
         "sample well without a sample_id", None,
         "an identifier shared by the replicate wells of a sample"),
    )  # fmt: skip
    for bad, col, message, values, expected in checks:
        _raise_first(bad, message, source=source, where=where, col=col, values=values,
                     expected=expected)  # fmt: skip


def validate_elisa_layout(
    layout: pd.DataFrame,
    *,
    plate_format: int | PlateFormat | None = None,
    source: str = "layout",
    lines: Sequence[int] | None = None,
    decimal: str = ".",
    well_optional: bool = False,
) -> pd.DataFrame:
    """Check an ELISA (standard-curve) layout table.

    Parameters
    ----------
    layout : DataFrame, one row per well
        Columns as in :data:`ELISA_LAYOUT_COLUMNS` (only ``well`` and ``role`` required;
        header names matched case-insensitively; other columns are kept). Roles are
        :data:`ELISA_ROLES` or the aliases ``std``/``standards``/``calibrator`` (standard),
        ``unknown``/``unk`` (sample), ``zero`` (blank); an empty role is ``empty``.
    plate_format, source, lines, decimal
        As in :func:`validate_layout` (``decimal`` applies to ``nominal_pg_mL`` and
        ``dilution``).
    well_optional : bool
        Allow a missing ``well`` column or empty well cells (a well table without plate
        positions, as :class:`~leptotwin.analysis.standard_curve.StandardCurveFitter` takes).

    Returns
    -------
    DataFrame, one row per well
        :data:`ELISA_LAYOUT_COLUMNS`: ``plate`` (``""`` when the layout has none), ``well``
        (``A01``), ``role`` (one of :data:`ELISA_ROLES`), ``sample_id``, ``group`` (str),
        ``nominal_pg_mL`` (float, pg/mL in the well; 0 for blanks, the zero standard),
        ``dilution`` (float, the factor the sample was diluted by; 1 when empty); then any
        other columns.

    Raises
    ------
    LeptotwinError
        On a missing ``well``/``role`` column, an unknown role, a bad or duplicated well, a
        ``plate`` cell left empty while others are filled, a non-numeric number, a standard
        without a nominal concentration > 0, a sample without a ``sample_id`` or with a
        dilution factor <= 0. Row errors name the line (or index) and column.
    """
    frame, out, where = _check_layout_table(
        layout, columns=ELISA_LAYOUT_COLUMNS, roles=ELISA_ROLES, aliases=_ELISA_ALIASES,
        role_message="unknown well role", plate_format=plate_format, source=source,
        lines=lines, well_optional=well_optional,
    )  # fmt: skip
    out["sample_id"] = _text_column(frame, "sample_id")
    out["group"] = _text_column(frame, "group")
    nominal = _numbers(frame, "nominal_pg_mL", "concentration", source=source, where=where,
                       decimal=decimal, expected="a concentration in pg/mL")  # fmt: skip
    dilution = _numbers(frame, "dilution", "dilution factor", source=source, where=where,
                        decimal=decimal, expected="a factor > 0, e.g. 1 or 10")  # fmt: skip
    _check_elisa_roles(out, frame, nominal, dilution, source=source, where=where)
    out["nominal_pg_mL"] = np.where(out["role"] == "blank", 0.0, nominal)
    out["dilution"] = np.where(np.isnan(dilution), 1.0, dilution)
    return _with_extras(out[list(ELISA_LAYOUT_COLUMNS)], frame)


# --------------------------------------------------------------------------- layout files
def _table_rows(path: Path) -> tuple[list[list[str]], list[int], str]:
    """Rows of a tidy table file, their line numbers and the decimal mark."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows = _read_xlsx(path)
        return rows, list(range(1, len(rows) + 1)), "."
    lines = _read_text(path).splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    sep = max(("\t", ";", ","), key=first.count)
    rows, numbers = [], []
    for n, cells in enumerate(csv.reader(lines, delimiter=sep), start=1):
        if cells and any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#"):
            rows.append([c.strip() for c in cells])
            numbers.append(n)
    return rows, numbers, "," if sep != "," else "."


def _layout_table(path: Path) -> tuple[pd.DataFrame, list[int], str]:
    """A layout file as text cells (one row per listed well), their file lines, decimal mark."""
    if not path.is_file():
        raise LeptotwinError("file not found", source=str(path))
    rows, numbers, decimal = _table_rows(path)
    if not rows:
        raise LeptotwinError("empty layout file", source=str(path), expected="a header line")
    header = [c.lower() for c in rows[0]]
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        raise LeptotwinError("duplicated column header", source=str(path), field=dupes[0])
    width = len(header)
    body = [r[:width] + [""] * (width - len(r)) for r in rows[1:]]
    frame = pd.DataFrame(body, columns=header, dtype=object).drop(columns="", errors="ignore")
    return frame, numbers[1:], decimal


def _read_checked(
    path: str | os.PathLike[str], validate: Callable[..., pd.DataFrame], **options: Any
) -> pd.DataFrame:
    """Read a layout file and check it with ``validate`` (errors name file, line, column)."""
    path = Path(path)
    frame, lines, decimal = _layout_table(path)
    out = validate(frame, source=str(path), lines=lines, decimal=decimal, **options)
    out.attrs["source"] = str(path)
    return out


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


def read_elisa_layout(
    path: str | os.PathLike[str], *, plate_format: int | PlateFormat | None = None
) -> pd.DataFrame:
    """Read an ELISA layout file (see the module docstring) and validate it.

    The file forms are those of :func:`read_layout`; ``plate_format`` is passed to
    :func:`validate_elisa_layout`. Returns one row per listed well, as
    :func:`validate_elisa_layout` does, with ``attrs["source"]`` the path.

    Raises
    ------
    LeptotwinError
        If the file is missing or empty, a column header repeats, or as
        :func:`validate_elisa_layout` (naming the file line and column).
    """
    return _read_checked(path, validate_elisa_layout, plate_format=plate_format)


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


def write_elisa_layout(path: str | os.PathLike[str], layout: pd.DataFrame) -> Path:
    """Validate ``layout`` and write it as an ELISA layout CSV (atomically).

    Columns :data:`ELISA_LAYOUT_COLUMNS`, then any extras; ``dilution`` is written for sample
    wells only. Returns the path written.

    Raises
    ------
    LeptotwinError
        As :func:`validate_elisa_layout`.
    """
    checked = validate_elisa_layout(layout, source="write_elisa_layout")
    checked.loc[checked["role"] != "sample", "dilution"] = np.nan
    return write_csv(path, checked)


# --------------------------------------------------------------------------- merge
def _check_readings(readings: pd.DataFrame, source: str) -> pd.DataFrame:
    for col in ("plate", "well", "signal"):
        if col not in readings:
            raise LeptotwinError(
                "missing column in the readings",
                source=source,
                field=col,
                expected="plate, well, signal (as read_plate_reader returns)",
            )
    signal = pd.to_numeric(readings["signal"], errors="coerce").to_numpy(float)
    bad = np.isnan(signal) & readings["signal"].notna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise LeptotwinError(
            "non-numeric signal",
            source=source,
            field=f"well {readings['well'].iloc[i]}",
            value=readings["signal"].iloc[i],
            expected="numbers or NaN",
        )
    nan_flag = np.where(np.isnan(signal), WellFlag.MISSING.value, WellFlag.OK.value)
    if "flag" in readings:
        flag = readings["flag"].astype(object).where(readings["flag"].notna(), None).to_numpy()
        flag = np.where(pd.isna(flag), nan_flag, flag).astype(str).astype(object)
    else:
        flag = nan_flag.astype(object)
    wells, row, col = _parse_wells(readings["well"].to_numpy(object), None, source=source)
    out = pd.DataFrame(
        {
            "plate": readings["plate"].astype(str).str.strip().to_numpy(object),
            "well": wells,
            "signal": signal,
            "flag": flag,
        }
    )
    dup = out.duplicated(["plate", "well"]).to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        raise LeptotwinError(
            "duplicated well in the readings",
            source=source,
            field=f"plate {out['plate'].iloc[i]}, well {out['well'].iloc[i]}",
            expected="one reading per plate and well",
        )
    out["_r"], out["_c"] = row, col
    return out


def _layout_per_plate(
    lay: pd.DataFrame, plates: NDArray[np.object_], *, lsrc: str, rsrc: str
) -> pd.DataFrame:
    """The layout rows for the plates read: a layout without plate ids is copied to each.

    Raises if a plate is in the layout but not in the readings, or the reverse.
    """
    if (lay["plate"] == "").all():
        return pd.DataFrame({"plate": plates}).merge(lay.drop(columns="plate"), how="cross")
    for missing, src, msg in (
        (sorted(set(lay["plate"]) - set(plates)), lsrc, "plate in the layout has no readings"),
        (sorted(set(plates) - set(lay["plate"])), rsrc, "plate has readings but no layout"),
    ):
        if missing:
            raise LeptotwinError(
                msg,
                source=src,
                field="plate",
                value=missing[0],
                expected="the same plate ids in readings and layout: "
                + ", ".join(map(str, plates)),
            )
    return lay


def _plate_dims(
    reads: pd.DataFrame, plates: NDArray[np.object_], plate_format: int | PlateFormat | None
) -> pd.DataFrame:
    """``plate, _nr, _nc`` (rows, columns), one row per plate: ``plate_format``, else 384 for
    a plate with a reading past ``H12`` and 96 for the others."""
    if plate_format is not None:
        fmt = get_plate_format(plate_format)
        return pd.DataFrame({"plate": plates, "_nr": fmt.n_rows, "_nc": fmt.n_cols})
    big = (reads["_r"] >= PLATE_96.n_rows) | (reads["_c"] >= PLATE_96.n_cols)
    big_plate = big.groupby(reads["plate"], sort=False).any()
    return pd.DataFrame(
        {
            "plate": big_plate.index.to_numpy(object),
            "_nr": np.where(big_plate, PLATE_384.n_rows, PLATE_96.n_rows),
            "_nc": np.where(big_plate, PLATE_384.n_cols, PLATE_96.n_cols),
        }
    )


def _check_on_plate(lay: pd.DataFrame, dims: pd.DataFrame, lsrc: str) -> None:
    """Every layout well lies on its plate (``dims`` as :func:`_plate_dims` returns)."""
    _, lr, lc = _parse_wells(lay["well"].to_numpy(object), None, source=lsrc)
    ldims = lay[["plate"]].merge(dims, on="plate", how="left")
    off = (lr >= ldims["_nr"].to_numpy()) | (lc >= ldims["_nc"].to_numpy())
    if off.any():
        i = int(np.argmax(off))
        n = int(ldims["_nr"].iloc[i] * ldims["_nc"].iloc[i])
        raise LeptotwinError(
            f"layout well is not on the {n}-well plate",
            source=lsrc,
            field=f"plate {lay['plate'].iloc[i]}, well {lay['well'].iloc[i]}",
            expected="a well of the plate read (or pass plate_format=384)",
        )


class _Joined(NamedTuple):
    """Checked inputs of a merge, as :func:`_join_inputs` returns them."""

    reads: pd.DataFrame  # as _check_readings returns
    lay: pd.DataFrame  # the validated layout, one row per layout well and plate read
    dims: pd.DataFrame  # as _plate_dims returns
    plates: NDArray[np.object_]  # plate ids in reading order
    rsrc: str  # the readings' source, for errors


def _join_inputs(
    readings: pd.DataFrame,
    layout: pd.DataFrame,
    validate: Callable[..., pd.DataFrame],
    plate_format: int | PlateFormat | None,
    **options: Any,
) -> _Joined:
    """Check readings, validate the layout with ``validate`` and match the two by plate."""
    rsrc = str(readings.attrs.get("source", "readings"))
    lsrc = str(layout.attrs.get("source", "layout"))
    reads = _check_readings(readings, rsrc)
    plates = pd.unique(reads["plate"])
    lay = _layout_per_plate(validate(layout, source=lsrc, **options), plates, lsrc=lsrc, rsrc=rsrc)
    dims = _plate_dims(reads, plates, plate_format)
    _check_on_plate(lay, dims, lsrc)
    return _Joined(reads, lay, dims, plates, rsrc)


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


def merge_elisa_plate(
    readings: pd.DataFrame,
    layout: pd.DataFrame,
    *,
    plate_format: int | PlateFormat | None = None,
) -> pd.DataFrame:
    """Join readings and an ELISA layout: one row per layout well.

    ``readings`` (``signal`` in OD) and ``plate_format`` as in :func:`merge_plate`; ``layout``
    as :func:`read_elisa_layout` or :func:`validate_elisa_layout` return (or a raw table,
    validated here). A layout without plate ids applies to every plate.

    Returns
    -------
    DataFrame, one row per layout well and plate, in layout order
        :data:`ELISA_LAYOUT_COLUMNS`, ``signal`` (NaN for overflow and missing readings),
        ``flag`` (``"missing"`` for a layout well without a reading), then any extra layout
        columns.

    Raises
    ------
    LeptotwinError
        As :func:`merge_plate`, with :func:`validate_elisa_layout` for the layout.
    """
    reads, lay, _, _, _ = _join_inputs(readings, layout, validate_elisa_layout, plate_format)
    merged = lay.merge(reads.drop(columns=["_r", "_c"]), on=["plate", "well"], how="left")
    merged["flag"] = merged["flag"].astype(object).where(merged["flag"].notna(), "missing")
    first = [*ELISA_LAYOUT_COLUMNS, "signal", "flag"]
    return merged[first + [c for c in merged.columns if c not in first]].reset_index(drop=True)


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
        vehicle_sd`` (signal unit), ``vehicle_cv_pct``, ``positive_mean, positive_sd``,
        ``z_prime`` (:func:`z_prime` of positive vs vehicle; NaN without positive wells),
        ``signal_to_background`` (vehicle mean / blank mean; NaN without blank or with blank
        <= 0) and ``n_overflow`` (overflow wells among the group's wells and its controls).

    Raises
    ------
    LeptotwinError
        If a column is missing, ``scale`` is unknown, a group has no vehicle reading, or a
        group's vehicle mean does not exceed its blank mean.
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
    response[in_group] = (signal[in_group] - blank[gid_own]) / denom[gid_own] * factor
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
    qc["vehicle_cv_pct"] = 100.0 * veh["sd"].to_numpy() / veh["mean"].to_numpy()
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
