"""The parameter catalogue: drugs, species and cell lines, each value with unit and source."""

from leptotwin.catalog.loader import Catalog, PKParameters, ic50_to_nM, load_catalog
from leptotwin.catalog.schema import (
    AssayKit,
    CellLine,
    Drug,
    DrugSpeciesPK,
    PathwayParameters,
    Perturbation,
    Potency,
    Quantity,
    Species,
)

__all__ = [
    "AssayKit",
    "Catalog",
    "CellLine",
    "Drug",
    "DrugSpeciesPK",
    "PKParameters",
    "PathwayParameters",
    "Perturbation",
    "Potency",
    "Quantity",
    "Species",
    "ic50_to_nM",
    "load_catalog",
]
