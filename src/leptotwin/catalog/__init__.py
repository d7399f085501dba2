"""The parameter catalogue: drugs, species and cell lines, each value with unit and source."""

from leptotwin.catalog.loader import Catalog, PKParameters, ic50_to_nM, load_catalog
from leptotwin.catalog.schema import Drug, DrugSpeciesPK, Potency, Quantity, Species

__all__ = [
    "Catalog",
    "Drug",
    "DrugSpeciesPK",
    "PKParameters",
    "Potency",
    "Quantity",
    "Species",
    "ic50_to_nM",
    "load_catalog",
]
