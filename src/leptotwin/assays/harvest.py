"""Virtual tumour harvest: cells recovered from a mouse, classified one by one.

What a lab does with a relapsed tumour: dissociate it, count a few hundred cells and classify
them (AREG immunostaining or flow cytometry for the AREG-high state), and put the rest in culture.
The classification is a sample: counts per clone are multinomial with the clone fractions of the
tumour at harvest, with a small misclassification rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError

__all__ = ["harvest_counts"]


def harvest_counts(
    tumour: pd.DataFrame,
    clones: Sequence[str],
    *,
    n_cells: int,
    rng: np.random.Generator,
    misclassification: float | None = None,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Classify ``n_cells`` sampled cells of each harvested tumour.

    Parameters
    ----------
    tumour : DataFrame
        One row per harvested tumour with ``subject`` and ``cells_<clone>`` (true cells per clone).
    clones : sequence of str
        Clone names; their ``cells_<name>`` columns must be present.
    n_cells : int
        Cells classified per tumour.
    misclassification : float, optional
        Probability that a cell is counted as a random other clone; default from the
        catalogue (``harvest.misclassification``).
    catalog : Catalog, optional
        Catalogue for the default; the packaged one if omitted.

    Returns
    -------
    DataFrame
        ``subject, n_classified, count_<clone>..., fraction_<clone>...``.
    """
    cols = [f"cells_{c}" for c in clones]
    missing = [c for c in [*cols, "subject"] if c not in tumour.columns]
    if missing:
        raise LeptotwinError("harvest table lacks columns", field=", ".join(missing))
    if n_cells < 1:
        raise LeptotwinError("need at least one cell to classify", field="n_cells", value=n_cells)
    true = tumour[cols].to_numpy(float)
    if not np.all(np.isfinite(true)) or np.any(true < 0) or np.any(true.sum(1) <= 0):
        raise LeptotwinError(
            "harvested tumours need finite, positive cell numbers", field="cells_*"
        )
    if misclassification is None:
        misclassification = (catalog or load_catalog()).assay_value("harvest", "misclassification")
    k = len(clones)
    p = true / true.sum(1, keepdims=True)
    p = p * (1 - misclassification) + misclassification * (1 - p) / max(k - 1, 1)
    p /= p.sum(1, keepdims=True)
    counts = rng.multinomial(n_cells, p)
    out = pd.DataFrame({"subject": tumour["subject"].to_numpy(), "n_classified": n_cells})
    for j, c in enumerate(clones):
        out[f"count_{c}"] = counts[:, j]
    for j, c in enumerate(clones):
        out[f"fraction_{c}"] = counts[:, j] / n_cells
    return out
