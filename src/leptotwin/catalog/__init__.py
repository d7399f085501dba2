"""The parameter catalogue: drugs, species and cell lines, each value with unit and source;
uncertain values with a prior (:mod:`leptotwin.catalog.priors`)."""

from leptotwin.catalog.loader import (
    POSTERIOR_FILE,
    Catalog,
    PKParameters,
    ic50_to_nM,
    load_catalog,
    read_posterior,
    using_catalog,
)
from leptotwin.catalog.priors import (
    distribution,
    prior_distribution,
    uncertain_parameters,
    with_values,
)
from leptotwin.catalog.schema import (
    AssayKit,
    CellLine,
    Drug,
    DrugSpeciesPK,
    PathwayParameters,
    Perturbation,
    PosteriorSummary,
    Potency,
    Prior,
    Quantity,
    Species,
)

__all__ = [
    "POSTERIOR_FILE",
    "AssayKit",
    "Catalog",
    "CellLine",
    "Drug",
    "DrugSpeciesPK",
    "PKParameters",
    "PathwayParameters",
    "Perturbation",
    "PosteriorSummary",
    "Potency",
    "Prior",
    "Quantity",
    "Species",
    "distribution",
    "ic50_to_nM",
    "load_catalog",
    "prior_distribution",
    "read_posterior",
    "uncertain_parameters",
    "using_catalog",
    "with_values",
]
