"""ELISA (standard-curve) plate layouts: validate, read, write, merge with readings.

ELISA layout file
-----------------
A tidy CSV (or ``;``/tab-separated, or ``.xlsx`` with ``openpyxl``), one row per used well::

    plate,well,role,sample_id,group,nominal_pg_mL,dilution
    E01,A01,standard,,,2000,
    E01,H01,blank,,,,
    E01,A03,sample,S001,A925L/AR,,4

``role`` is one of :data:`ELISA_ROLES` (``std``/``calibrator`` mean standard, ``unknown``
sample, ``zero`` blank): a ``standard`` well holds a calibrator of known concentration
``nominal_pg_mL`` (pg/mL in the well, > 0), a ``blank`` the zero standard, a ``sample`` an
unknown named by ``sample_id`` and diluted by ``dilution`` (factor > 0, default 1). The same
rules as for the dose-response layout file (:mod:`leptotwin.formats.plate_layout`) hold for
``plate``, ``well``, comments, separators and decimal commas.

Pipeline
--------
``read_plate_reader`` + :func:`read_elisa_layout` -> :func:`merge_elisa_plate` (one row per
layout well) -> :class:`leptotwin.analysis.standard_curve.StandardCurveFitter`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin._fileio import write_csv
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
from leptotwin.formats.plate import PlateFormat

__all__ = [
    "ELISA_LAYOUT_COLUMNS",
    "ELISA_ROLES",
    "merge_elisa_plate",
    "read_elisa_layout",
    "validate_elisa_layout",
    "write_elisa_layout",
]

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


_MAX_PG_ML = 1e12
"""A calibrator of 1 g/mL (1e12 pg/mL) or more is a typo: that is the density of water."""
_MAX_DILUTION = 1e9
"""Dilution factors of 1e9 or more are refused as typos (nine serial 1:10 steps); the bound also
keeps back-calculated concentrations (pg/mL times dilution) finite."""


def _require_columns(frame: pd.DataFrame, out: pd.DataFrame, source: str) -> None:
    """Standard wells need a ``nominal_pg_mL`` column, sample wells a ``sample_id`` column."""
    role = out["role"].to_numpy()
    for col, needed, expected in (
        ("nominal_pg_mL", (role == "standard").any(),
         "a nominal_pg_mL column with each standard's concentration in pg/mL"),
        ("sample_id", (role == "sample").any(),
         "a sample_id column naming the sample in each sample well"),
    ):  # fmt: skip
        if needed and col not in frame:
            raise LeptotwinError("missing column", source=source, field=col, expected=expected)


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
        As in :func:`~leptotwin.formats.validate_layout` (``decimal`` applies to
        ``nominal_pg_mL`` and ``dilution``).
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
        On a missing ``well``/``role`` column, a missing ``nominal_pg_mL`` (``sample_id``)
        column while there are standard (sample) wells, an unknown role, a bad or duplicated
        well, a ``plate`` cell left empty while others are filled, a non-numeric number, a
        standard without a nominal concentration > 0 or with 1e12 pg/mL (1 g/mL) or more, a
        sample without a ``sample_id`` or with a dilution factor <= 0 or >= 1e9. Row errors
        name the line (or index) and column.
    """
    frame, out, where = _check_layout_table(
        layout, columns=ELISA_LAYOUT_COLUMNS, roles=ELISA_ROLES, aliases=_ELISA_ALIASES,
        role_message="unknown well role", plate_format=plate_format, source=source,
        lines=lines, well_optional=well_optional,
    )  # fmt: skip
    _require_columns(frame, out, source)
    out["sample_id"] = _text_column(frame, "sample_id")
    out["group"] = _text_column(frame, "group")
    nominal = _numbers(frame, "nominal_pg_mL", "concentration", source=source, where=where,
                       decimal=decimal, expected="a concentration in pg/mL")  # fmt: skip
    dilution = _numbers(frame, "dilution", "dilution factor", source=source, where=where,
                        decimal=decimal, expected="a factor > 0, e.g. 1 or 10")  # fmt: skip
    _check_elisa_roles(out, frame, nominal, dilution, source=source, where=where)
    for values, col, limit, message, expected in (
        (nominal, "nominal_pg_mL", _MAX_PG_ML, "concentration of 1 g/mL or more",
         "a calibrator concentration in pg/mL below 1e12 (1 g/mL)"),
        (dilution, "dilution", _MAX_DILUTION, "dilution factor of 1e9 or more",
         "the factor by which the sample was diluted into the well, e.g. 1 or 10"),
    ):  # fmt: skip
        _at_most(values, limit, message, frame=frame, col=col, source=source, where=where,
                 expected=expected)  # fmt: skip
    out["nominal_pg_mL"] = np.where(out["role"] == "blank", 0.0, nominal)
    out["dilution"] = np.where(np.isnan(dilution), 1.0, dilution)
    return _with_extras(out[list(ELISA_LAYOUT_COLUMNS)], frame)


def read_elisa_layout(
    path: str | os.PathLike[str], *, plate_format: int | PlateFormat | None = None
) -> pd.DataFrame:
    """Read an ELISA layout file (see the module docstring) and validate it.

    The file forms are those of :func:`~leptotwin.formats.read_layout`; ``plate_format`` is
    passed to :func:`validate_elisa_layout`. Returns one row per listed well, as
    :func:`validate_elisa_layout` does, with ``attrs["source"]`` the path.

    Raises
    ------
    LeptotwinError
        If the file is missing or empty, a column header repeats, or as
        :func:`validate_elisa_layout` (naming the file line and column).
    """
    return _read_checked(path, validate_elisa_layout, plate_format=plate_format)


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


def merge_elisa_plate(
    readings: pd.DataFrame,
    layout: pd.DataFrame,
    *,
    plate_format: int | PlateFormat | None = None,
) -> pd.DataFrame:
    """Join readings and an ELISA layout: one row per layout well.

    ``readings`` (``signal`` in OD) and ``plate_format`` as in
    :func:`~leptotwin.formats.merge_plate`; ``layout`` as :func:`read_elisa_layout` or
    :func:`validate_elisa_layout` return (or a raw table, validated here). A layout without
    plate ids applies to every plate.

    Returns
    -------
    DataFrame, one row per layout well and plate, in layout order
        :data:`ELISA_LAYOUT_COLUMNS`, ``signal`` (NaN for overflow and missing readings),
        ``flag`` (``"missing"`` for a layout well without a reading), then any extra layout
        columns.

    Raises
    ------
    LeptotwinError
        As :func:`~leptotwin.formats.merge_plate`, with :func:`validate_elisa_layout` for the
        layout.
    """
    reads, lay, _, _, _ = _join_inputs(readings, layout, validate_elisa_layout, plate_format)
    merged = lay.merge(reads.drop(columns=["_r", "_c"]), on=["plate", "well"], how="left")
    merged["flag"] = merged["flag"].astype(object).where(merged["flag"].notna(), "missing")
    first = [*ELISA_LAYOUT_COLUMNS, "signal", "flag"]
    return merged[first + [c for c in merged.columns if c not in first]].reset_index(drop=True)
