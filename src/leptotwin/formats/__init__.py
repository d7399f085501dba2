"""Plate-reader and plate-layout file formats.

The low-level layer where microplate files live: the virtual instruments (``assays``) write
them, the analysis layer reads real and virtual ones. It imports nothing of leptotwin but
``errors``, ``_fileio``, ``_checks`` and the unit parser :mod:`leptotwin.catalog.units` (which
imports nothing of leptotwin but ``errors``).

Pipeline: :func:`read_plate_reader` + :func:`read_layout` -> :func:`merge_plate` ->
:func:`normalise_to_controls` -> :func:`to_dose_response` -> ``DoseResponseFitter``; for an
ELISA, :func:`read_plate_reader` + :func:`read_elisa_layout` (standard, blank and sample wells)
-> :func:`merge_elisa_plate` -> ``StandardCurveFitter``.
"""

from leptotwin.formats.elisa_layout import (
    ELISA_LAYOUT_COLUMNS,
    ELISA_ROLES,
    merge_elisa_plate,
    read_elisa_layout,
    validate_elisa_layout,
    write_elisa_layout,
)
from leptotwin.formats.plate import (
    PLATE_96,
    PLATE_384,
    PlateFormat,
    WellFlag,
    format_plate_reader,
    get_plate_format,
    normalise_well,
    plate_wells,
    read_plate_reader,
    well_position,
    write_plate_reader,
)
from leptotwin.formats.plate_layout import (
    LAYOUT_COLUMNS,
    ROLES,
    Normalised,
    merge_plate,
    normalise_to_controls,
    read_layout,
    to_dose_response,
    validate_layout,
    write_layout,
    z_prime,
)

__all__ = [
    "ELISA_LAYOUT_COLUMNS",
    "ELISA_ROLES",
    "LAYOUT_COLUMNS",
    "PLATE_96",
    "PLATE_384",
    "ROLES",
    "Normalised",
    "PlateFormat",
    "WellFlag",
    "format_plate_reader",
    "get_plate_format",
    "merge_elisa_plate",
    "merge_plate",
    "normalise_to_controls",
    "normalise_well",
    "plate_wells",
    "read_elisa_layout",
    "read_layout",
    "read_plate_reader",
    "to_dose_response",
    "validate_elisa_layout",
    "validate_layout",
    "well_position",
    "write_elisa_layout",
    "write_layout",
    "write_plate_reader",
    "z_prime",
]
