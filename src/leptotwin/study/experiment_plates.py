"""An experiment file's viability data as raw plate-reader exports with their plate layout.

``data: viability:`` in ``experiment.yaml`` (:mod:`leptotwin.study.experiment`) names either
the tidy dose-response table (``viability: viability.csv``) or the plate-reader exports and the
layout, as ``leptotwin fit-curves --plate FILE --layout FILE`` takes them::

    data:
      viability:
        plates: [plate1.csv, plate2.csv]   # or plate: plate1.csv (one export)
        layout: layout.csv

Paths are relative to the experiment file. Each export is read by
:func:`leptotwin.formats.plate.read_plate_reader` (grid blocks, one per plate, or a long
``well,signal`` table; ``.csv``, ``.tsv``, ``.txt`` or ``.xlsx``); an export may hold several
plates. The layout is read by :func:`leptotwin.formats.plate_layout.read_layout` (one row per
used well: ``plate, well, role, cell_line, drug_a, conc_a, drug_b, conc_b, conc_unit,
perturbation, replicate``), with the catalogue's molecular weights, so a mass concentration
(ng/mL) of a catalogue drug or of recombinant ``AREG`` is converted to nM. A layout with
``plate`` ids names the plates of the exports (their ``Plate`` header line, else the file's
stem); one without applies to every plate read.

The wells then go the toolkit's way (no second parser): :func:`~leptotwin.formats.plate_layout.
merge_plate` per export, :func:`~leptotwin.formats.plate_layout.normalise_to_controls` (% of
the mean vehicle signal above the mean blank) and :func:`~leptotwin.formats.plate_layout.
to_dose_response`, which gives the tidy table the ``viability: table.csv`` path reads, checked
by the same code (:func:`leptotwin.study.experiment._viability_frame`). A normalisation group
is the wells of one plate, cell line and perturbation, the groups of the likelihood's
normalisation error (:func:`leptotwin.study.experiment.viability_groups`; ``fit-curves``
groups by plate and cell line, the same without a ``perturbation`` column).

What the layout expresses and how it enters:

* ``sample`` wells: ``drug_a`` at ``conc_a`` (the dose), optionally with ``drug_b`` at
  ``conc_b`` (the partner of a combination; ``partner_drug``, ``partner_conc_nM``). A
  checkerboard (combination matrix) becomes one curve of ``drug_a`` per concentration of
  ``drug_b``; a well with ``drug_b`` alone is written ``drug_a`` at ``conc_a`` 0. Three agents
  in a well cannot be laid out.
* ``vehicle`` wells: 100 %, added at dose 0 to the single-agent curves of their plate, cell line
  and perturbation; a vehicle well that serves several such curves enters the table once (one
  well, one measurement).
* ``blank`` wells: the background subtracted; ``positive`` wells (full-kill controls for Z'):
  not in the table; ``empty`` wells and wells not in the layout: ignored.
* Wells the reader flags overflow or underflow have no signal and are left out, as
  ``fit-curves`` leaves them out.

Each row's ``source`` is ``<export>:plate <id>, well <well>``.

Bad input raises one :class:`~leptotwin.errors.LeptotwinError` naming the file, the well or line
and the field: the mapping's keys (``plate`` or ``plates``, and ``layout``); an export or layout
the readers refuse (their messages: file, line, well); a plate id in two exports; a layout plate
that no export holds, or an export's plate the layout lacks; a layout well (any role but
``empty``) without a reading in its export; an unknown cell line, perturbation or drug in the
layout, or a sample well without ``drug_a``; a group without vehicle wells, or whose vehicle
signal does not exceed its blank; then the tidy table's own checks (a response above 1000 %...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from leptotwin.assays.viability import LIGAND
from leptotwin.catalog import Catalog
from leptotwin.catalog.units import convert
from leptotwin.errors import LeptotwinError
from leptotwin.study.experiment import Observable, _viability_frame, _viability_rows
from leptotwin.study.protocol_schema import _error

__all__ = ["PLATES_KEYS", "read_viability_data", "viability_from_plates"]

#: The keys of a ``data: viability:`` mapping: one export (``plate``) or several (``plates``),
#: and the layout.
PLATES_KEYS = ("plate", "plates", "layout")
#: Normalisation groups (:func:`leptotwin.formats.plate_layout.normalise_to_controls`).
_GROUP_BY = ("plate", "cell_line", "perturbation")
#: The tidy table's columns handed to the table checks (``to_dose_response``'s).
_TIDY = (
    "cell_line", "drug", "dose", "response", "partner_drug", "partner_conc_nM", "perturbation",
    "plate", "well", "replicate", "curve",
)  # fmt: skip


def read_viability_data(
    entry: str | Mapping[str, Any],
    folder: Path,
    observables: Mapping[str, Observable],
    catalog: Catalog,
    *,
    source: str,
    lines: dict,
) -> pd.DataFrame:
    """:attr:`~leptotwin.study.experiment.Experiment.viability` from ``data: viability:``.

    Parameters
    ----------
    entry : str or mapping
        A tidy table's file name, or ``{plate: FILE}`` / ``{plates: [FILE, ...]}`` with
        ``layout: FILE`` (see the module docstring).
    folder : Path
        The experiment file's folder (paths are relative to it).
    observables : mapping
        The experiment's observables (``viability`` must be declared).
    catalog : Catalog
    source, lines
        The experiment file and its key lines, for errors in the mapping.

    Returns
    -------
    DataFrame, one row per well
        Columns :data:`leptotwin.study.experiment.VIABILITY_COLUMNS`.
    """
    if isinstance(entry, str):
        return _viability_rows(folder / entry, entry, dict(observables), catalog)
    if not isinstance(entry, Mapping):
        raise _error(
            source,
            lines,
            ("data", "viability"),
            "neither a file name nor a mapping",
            value=entry,
            expected="the tidy table's file, or plate: FILE (or plates: [FILE, ...]) and "
            "layout: FILE",
        )
    plates, layout = _plates_entry(entry, source, lines)
    return viability_from_plates(plates, layout, dict(observables), catalog, folder=folder)


def _plates_entry(entry: Mapping[str, Any], source: str, lines: dict) -> tuple[list[str], str]:
    """The export file names and the layout file name of a ``data: viability:`` mapping."""
    at = ("data", "viability")
    expected = "plate: FILE (or plates: [FILE, ...]) and layout: FILE"
    for key in entry:
        if key not in PLATES_KEYS:
            raise _error(source, lines, (*at, str(key)), "unknown field", expected=expected)
    given = [k for k in ("plate", "plates") if k in entry]
    if len(given) != 1:
        why = "both plate and plates given" if given else "missing field: plate or plates"
        raise _error(source, lines, at, why, expected=expected)
    files = entry[given[0]]
    files = [files] if isinstance(files, str) else files
    if (
        not isinstance(files, list)
        or not files
        or not all(isinstance(f, str) and f.strip() for f in files)
    ):
        raise _error(source, lines, (*at, given[0]), "not a file name or a list of file names",
                     value=entry[given[0]], expected="plate-reader export files")  # fmt: skip
    layout = entry.get("layout")
    if not isinstance(layout, str) or not layout.strip():
        why = "missing field" if layout is None else "not a file name"
        expected = "the plate layout file (as leptotwin fit-curves --layout)"
        raise _error(source, lines, (*at, "layout"), why, value=layout, expected=expected)
    return [f.strip() for f in files], layout.strip()


def _molecular_weights(catalog: Catalog) -> dict[str, float]:
    """Drug (and recombinant AREG) -> molecular weight (g/mol) from the catalogue."""
    mw = {
        name: convert(d.molecular_weight.value, d.molecular_weight.unit, "molar_mass")
        for name, d in catalog.drugs.items()
        if d.molecular_weight is not None
    }
    if catalog.pathway is not None:
        mw[LIGAND] = catalog.pathway_value("areg_molar_mass") * 1e3  # kDa -> g/mol
    return mw


def _where(plate: str, well: str) -> str:
    return f"plate {plate}, well {well}" if plate else f"well {well}"


def _check_layout(layout: pd.DataFrame, name: str, catalog: Catalog) -> None:
    """Cell lines, perturbations and drugs of the layout known to the catalogue (any role)."""
    from leptotwin.model.pathway import PathwayModel

    drugs = sorted(PathwayModel.from_catalog(catalog).drugs)
    agents = {*drugs, LIGAND}
    agent_expected = (
        "a drug with a pathway potency (" + ", ".join(drugs) + f") or {LIGAND} (recombinant "
        "amphiregulin)"
    )
    checks = (
        ("cell_line", lambda v: v in catalog.cell_lines, "unknown cell line",
         "one of " + ", ".join(sorted(catalog.cell_lines))),
        ("perturbation",
         lambda v: all(x.strip() in catalog.perturbations for x in v.split("+") if x.strip()),
         "unknown perturbation", "one of " + ", ".join(sorted(catalog.perturbations))
         + " (several joined by +)"),
        ("drug_a", lambda v: v in agents, "unknown drug", agent_expected),
        ("drug_b", lambda v: v in agents, "unknown drug", agent_expected),
    )  # fmt: skip
    for plate, well, role, *cells in zip(
        layout["plate"], layout["well"], layout["role"],
        *(layout[col] for col, *_ in checks), strict=True,
    ):  # fmt: skip
        for (col, ok, message, expected), value in zip(checks, cells, strict=True):
            if value and not ok(value):
                raise LeptotwinError(message, source=name, field=f"{_where(plate, well)}, {col}",
                                     value=value, expected=expected)  # fmt: skip
        if role == "sample" and not cells[2]:
            raise LeptotwinError(
                "sample well without a drug",
                source=name,
                field=f"{_where(plate, well)}, drug_a",
                expected="the dosed drug in drug_a (a partner alone: drug_a at conc_a 0)",
            )


def _read_exports(files: Sequence[str], folder: Path) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """Each export's readings (:func:`read_plate_reader`) and plate id -> its file name."""
    from leptotwin.formats.plate import read_plate_reader

    readings, file_of = [], {}
    for name in files:
        reads = read_plate_reader(folder / name)
        for plate in pd.unique(reads["plate"]):
            if plate in file_of:
                raise LeptotwinError(
                    "plate id in two exports",
                    source=name,
                    field="plate",
                    value=plate,
                    expected=f"one export per plate (also in {file_of[plate]}); a grid without "
                    "a Plate header line takes the file's stem",
                )
            file_of[str(plate)] = name
        readings.append(reads)
    return readings, file_of


def _merge(
    readings: Sequence[pd.DataFrame],
    layout: pd.DataFrame,
    files: Sequence[str],
    layout_name: str,
    file_of: Mapping[str, str],
) -> pd.DataFrame:
    """Each export merged with its plates' layout rows (:func:`merge_plate`), concatenated;
    every layout well must have a reading."""
    from leptotwin.formats.plate_layout import merge_plate

    with_ids = bool((layout["plate"] != "").any())
    if with_ids:
        unread = [p for p in pd.unique(layout["plate"]) if p not in file_of]
        if unread:
            raise LeptotwinError(
                "plate in the layout is in no export",
                source=layout_name,
                field="plate",
                value=unread[0],
                expected="plates read: " + ", ".join(file_of),
            )
    merged = []
    for name, reads in zip(files, readings, strict=True):
        own = set(reads["plate"])
        lay = layout
        if with_ids:
            lay = layout[layout["plate"].isin(own)].reset_index(drop=True)
            missing = sorted(own - set(lay["plate"]))
            if missing:
                raise LeptotwinError(
                    "plate has readings but no layout",
                    source=name,
                    field="plate",
                    value=missing[0],
                    expected=f"its wells in {layout_name} (plate ids there: "
                    + ", ".join(pd.unique(layout["plate"]))
                    + ")",
                )
        lay.attrs["source"] = layout_name
        reads.attrs["source"] = name
        m = merge_plate(reads, lay)
        gap = ((m["role"] != "empty") & (m["flag"] == "missing")).to_numpy()
        if gap.any():
            i = int(gap.argmax())
            raise LeptotwinError(
                "layout well has no reading in the export",
                source=name,
                field=f"plate {m['plate'].iloc[i]}, well {m['well'].iloc[i]}, signal",
                value=m["role"].iloc[i],
                expected=f"a reading, or the well left out of {layout_name} (or role empty)",
            )
        merged.append(m)
    return pd.concat(merged, ignore_index=True)


def viability_from_plates(
    files: Sequence[str],
    layout: str,
    observables: dict[str, Observable],
    catalog: Catalog,
    *,
    folder: str | os.PathLike[str] = ".",
) -> pd.DataFrame:
    """:attr:`~leptotwin.study.experiment.Experiment.viability` from plate-reader exports and
    their layout (see the module docstring).

    Parameters
    ----------
    files : sequence of str
        Plate-reader export files, relative to ``folder`` (named so in errors).
    layout : str
        The layout file, relative to ``folder``.
    observables : dict
        The experiment's observables (``viability`` must be declared).
    catalog : Catalog
    folder : path-like
        Where the files are (the experiment file's folder).

    Returns
    -------
    DataFrame, one row per sample or vehicle well with a reading
        Columns :data:`leptotwin.study.experiment.VIABILITY_COLUMNS` (``value``: % of vehicle,
        ``dose_nM`` and ``partner_nM`` in nM); ``source`` names export, plate and well.

    Raises
    ------
    LeptotwinError
        See the module docstring.
    """
    from leptotwin.formats.plate_layout import (
        normalise_to_controls,
        read_layout,
        to_dose_response,
    )

    where = Path(folder)
    lay = read_layout(where / layout, molecular_weights=_molecular_weights(catalog))
    _check_layout(lay, layout, catalog)
    readings, file_of = _read_exports(files, where)
    merged = _merge(readings, lay, files, layout, file_of)
    try:
        norm = normalise_to_controls(merged, group_by=_GROUP_BY)
        tidy = to_dose_response(norm.data)
    except LeptotwinError as err:  # their source is the function: name the files instead
        raise LeptotwinError(
            err.message,
            source=", ".join([*files, layout]),
            field=err.field,
            value=err.value,
            expected=err.expected,
        ) from None
    tidy = tidy[~tidy.duplicated(["plate", "well"])].reset_index(drop=True)
    raw = pd.DataFrame(
        {c: ["" if pd.isna(x) else str(x) for x in tidy[c]] for c in _TIDY}, dtype=object
    )
    rows = [_where(p, w) for p, w in zip(raw["plate"], raw["well"], strict=True)]
    frame = _viability_frame(raw, layout, observables, catalog, where_rows=rows)
    frame["source"] = [f"{file_of[p]}:{r}" for p, r in zip(raw["plate"], rows, strict=True)]
    return frame
