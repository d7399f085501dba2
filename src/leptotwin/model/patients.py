"""Virtual patients with or without LMC, and the AREG in their CSF (docs/model.md §5).

CSF AREG at steady state is a baseline from non-tumour sources plus what the tumour cells bathed
by CSF secrete, cleared with CSF turnover:

    C = C_base + σ(m) · N / (V_csf · k_csf)

with σ the pathway model's AREG secretion for the tumour's miR-449a level m, N the tumour cells
(log-normal between patients), V_csf and k_csf human CSF physiology (catalogue).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.pathway import PathwayModel, cell_state

__all__ = ["PatientGroup", "simulate_csf_areg", "study_groups"]


@dataclass(frozen=True)
class PatientGroup:
    """A group of patients: size and, for LMC, the tumour's miR-449a level (None: no LMC).
    ``areg_scale`` multiplies tumour secretion (0 for the no-AREG counterfactual)."""

    name: str
    n: int
    mir449a: float | None
    areg_scale: float = 1.0


def simulate_csf_areg(
    groups: list[PatientGroup] | tuple[PatientGroup, ...],
    *,
    rng: np.random.Generator,
    repeats: int = 1,
    catalog: Catalog | None = None,
    model: PathwayModel | None = None,
) -> pd.DataFrame:
    """Draw patients and their true CSF AREG.

    Parameters
    ----------
    groups : sequence of PatientGroup
    repeats : int
        Independent repeats of the whole study (for power), numbered in ``study``.

    Returns
    -------
    DataFrame
        One row per patient: ``study, patient, group, tumour_cells, true_pg_mL``.
    """
    if repeats < 1 or not groups or any(g.n < 1 for g in groups):
        raise LeptotwinError("need at least one study, group and patient per group", field="groups")
    cat = catalog or load_catalog()
    pm = model or PathwayModel.from_catalog(cat)
    v = lambda name: cat.in_vivo_value("patients", name)  # noqa: E731
    volume_mL = cat.species_value("human", "csf_volume")
    k_csf = cat.csf_turnover_per_h("human")
    base_state = cell_state("A925LPE3", catalog=cat)
    frames = []
    for g in groups:
        n = g.n * repeats
        base = v("csf_areg_baseline") * np.exp(rng.normal(0.0, v("csf_areg_baseline_sd"), n))
        if g.mir449a is None:
            cells, tumour = np.zeros(n), np.zeros(n)
        else:
            cells = v("lmc_tumour_cells") * np.exp(rng.normal(0.0, v("lmc_tumour_cells_sd"), n))
            sigma = pm.areg_secretion(
                base_state.with_levels(mir449a=g.mir449a, areg_scale=g.areg_scale)
            )
            tumour = sigma * cells / 1e6 / (volume_mL * k_csf)  # pg/h per (mL/h) = pg/mL
        frames.append(
            pd.DataFrame(
                {
                    "study": np.repeat(np.arange(repeats), g.n),
                    "patient": [f"{g.name[:3]}{i % g.n + 1:02d}" for i in range(n)],
                    "group": g.name,
                    "tumour_cells": cells,
                    "true_pg_mL": base + tumour,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def study_groups(
    catalog: Catalog | None = None,
    *,
    tumour_areg_scale: float = 1.0,
    sizes: Mapping[str, int] | None = None,
) -> list[PatientGroup]:
    """The three groups of Arai 2020 with miR-449a levels from the catalogue."""
    cat = catalog or load_catalog()
    v = lambda name: cat.in_vivo_value("patients", name)  # noqa: E731
    n = {"ALK+ alectinib-refractory LMC": 4, "EGFR-mutant TKI-resistant LMC": 30, "no LMC": 24}
    n.update(sizes or {})
    return [
        PatientGroup(
            "ALK+ alectinib-refractory LMC",
            n["ALK+ alectinib-refractory LMC"],
            v("alk_refractory_mir449a"),
            tumour_areg_scale,
        ),
        PatientGroup(
            "EGFR-mutant TKI-resistant LMC",
            n["EGFR-mutant TKI-resistant LMC"],
            v("egfr_mutant_mir449a"),
            tumour_areg_scale,
        ),
        PatientGroup("no LMC", n["no LMC"], None),
    ]
