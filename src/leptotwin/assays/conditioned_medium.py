"""Conditioned medium: cells grown in dishes, supernatant collected for an AREG ELISA.

The usual secretion experiment: a fixed number of cells seeded per dish, medium changed, collected
after a day or two, cleared and frozen; the cells are counted at collection so secretion can be
expressed per cell. The dishes grow with :func:`leptotwin.model.culture.grow_culture` (vehicle,
no drug), with seeding variation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leptotwin.assays.viability import _states
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.culture import grow_culture
from leptotwin.model.pathway import PathwayModel

__all__ = ["collect_conditioned_medium"]


def collect_conditioned_medium(
    dishes: pd.DataFrame,
    *,
    rng: np.random.Generator,
    seeding_cells: float | None = None,
    volume_mL: float | None = None,
    hours: float | None = None,
    model: PathwayModel | None = None,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Grow each dish and return its supernatant AREG and cell count.

    Parameters
    ----------
    dishes : DataFrame
        One row per dish: ``sample_id, cell_line, perturbation`` (perturbations joined by ``+``).
    seeding_cells, volume_mL, hours : float, optional
        Cells seeded per dish, medium volume (mL) and collection time (h); defaults from the
        catalogue block ``conditioned_medium`` (6-well format: 2e5 cells, 2 mL, 48 h).

    Returns
    -------
    DataFrame
        ``dishes`` plus ``cells_at_collection`` and ``true_pg_mL`` (AREG in the supernatant).
    """
    for col in ("sample_id", "cell_line", "perturbation"):
        if col not in dishes.columns:
            raise LeptotwinError(
                "dish table lacks a column",
                field=col,
                expected="sample_id, cell_line, perturbation",
            )
    cat = catalog or load_catalog()
    pm = model or PathwayModel.from_catalog(cat)
    state = _states(dishes["cell_line"], dishes["perturbation"], cat)
    if seeding_cells is None:
        seeding_cells = cat.assay_value("conditioned_medium", "seeding_cells")
    if volume_mL is None:
        volume_mL = cat.assay_value("conditioned_medium", "medium_volume")
    if hours is None:
        hours = cat.assay_value("conditioned_medium", "collection_time")
    cv = cat.assay_value("culture", "seeding_cv")
    n0 = seeding_cells * np.exp(rng.normal(0.0, cv, len(dishes)))
    grown = grow_culture(pm, state, {}, cells0=n0, volume_mL=volume_mL, hours=hours)
    out = dishes.copy()
    out["cells_at_collection"] = grown.live_cells
    out["true_pg_mL"] = pm.nM_to_pg_per_mL(grown.medium_areg_nM)
    return out
