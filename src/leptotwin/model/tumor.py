"""Tumour clones in the leptomeningeal space or under the skin (docs/model.md §4).

Each clone k (parental-like ``P``, AREG-high ``R``; the list is open) grows with birth and death
rates from the pathway model at the free drug concentration of the tumour lesion and the AREG it
sees (its own pericellular AREG plus the CSF AREG that all clones secrete):

    dN_k/dt = [b_k(s_k) · (1 − N/K) − d_k(s_k)] · r · N_k          (r: in-vivo rate scale)
    dL/dt   = Σ_k σ_k N_k / V_csf − k_csf L                         (CSF AREG, nM)

Switching P → R (loss of miR-449a) is a rare stochastic event: new R lineages arise at rate
μ · b_P · N_P and survive with probability 1 − d_R / b_R (a birth–death branching process); a
surviving lineage enters the deterministic R population with its expected established size
1 / (1 − d_R / b_R). Large populations are deterministic.

Sites (:data:`SITES`). ``leptomeningeal`` (default): the equations above, drug at the unbound
lesion concentration of the PK model (behind the blood–tumour barrier), AREG in the CSF.
``subcutaneous`` (a flank xenograft measured by calipers, block ``sc_mouse`` of ``in_vivo.yaml``):
the same clones, pathway and PK, but

* the drug the cells see is the unbound plasma concentration × ``kp_uu_tumour`` (no blood–brain
  barrier; the unbound-drug hypothesis, Smith, Di & Kerns 2010);
* AREG accumulates in the tumour interstitium, a pool of volume ``V_pool = f_int · V_tumour``
  with first-order clearance ``k_int``, diluted as the pool grows with the tumour:
  ``dL/dt = Σ_k σ_k N_k / V_pool − (k_int + g) L``, ``g = d ln V_tumour / dt`` (taken as the
  tumour's mean growth rate over each step; it concentrates AREG when the tumour shrinks). Near
  steady state ``L = σ ρ / (f_int (k_int + g))``: with growth ~0.01–0.02 /h the term is 1–2 % at
  the catalogue's 1 /h and 10–20 % at the prior's low end 0.1 /h;
* tumour volume ``V_tumour = N / ρ`` (mm³, ρ the cell density), and the room ``K`` and endpoint
  are volumes (mm³) × ρ in cells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.pathway import CellState, PathwayModel, cell_state

__all__ = ["SITES", "Clone", "TumorParameters", "default_clones"]

#: The tumour sites of the in-vivo model: where the clones grow (see the module docstring).
SITES = ("leptomeningeal", "subcutaneous")


#: The catalogue block (``in_vivo.yaml``) of the subcutaneous site.
SC_BLOCK = "sc_mouse"

#: The subcutaneous site's fields that must be finite and > 0 there (their units): the
#: class defaults are placeholders for the leptomeningeal site, which does not read them.
SC_POSITIVE = {
    "cell_density_per_mm3": "cells/mm³",
    "interstitial_fraction": "1",
    "areg_clearance_per_h": "1/h",
}


def check_site(site: object) -> str:
    """``site`` if it is one of :data:`SITES`.

    Raises
    ------
    LeptotwinError
        Any other value.
    """
    if site not in SITES:
        raise LeptotwinError(
            "unknown tumour site", field="site", value=site, expected=" or ".join(SITES)
        )
    return str(site)


@dataclass(frozen=True)
class Clone:
    """A tumour clone: its name and cell state."""

    name: str
    state: CellState


def default_clones(catalog: Catalog | None = None) -> tuple[Clone, Clone]:
    """Parental-like (A925LPE3 state) and AREG-high (A925L/AR state) clones."""
    cat = catalog or load_catalog()
    return (
        Clone("P", cell_state("A925LPE3", catalog=cat)),
        Clone("R", cell_state("A925L/AR", catalog=cat)),
    )


@dataclass(frozen=True)
class TumorParameters:
    """The in-vivo tumour parameters (``in_vivo.yaml``, block ``lmc_mouse``), plain numbers."""

    inoculum_cells: float
    engraftment_sd: float
    carrying_capacity: float
    endpoint_cells: float
    in_vivo_rate_scale: float
    rate_scale_sd: float
    treatment_start_d: float
    switch_rate: float
    culture_generations: float
    csf_volume_mL: float
    csf_turnover_per_h: float
    #: ``leptomeningeal`` or ``subcutaneous`` (:data:`SITES`); the fields below are the
    #: subcutaneous site's (block ``sc_mouse``) and unused at the leptomeningeal one. Their
    #: defaults are placeholders: at the subcutaneous site the density, fraction and clearance
    #: must be finite and > 0 (:data:`SC_POSITIVE`, checked on construction).
    site: str = "leptomeningeal"
    #: unbound tumour interstitium / unbound plasma (1).
    kp_uu_tumour: float = 1.0
    #: cells per mm³ of tumour (tumour volume = cells / density).
    cell_density_per_mm3: float = 1.0
    #: interstitial volume / tumour volume (1): the AREG pool.
    interstitial_fraction: float = 1.0
    #: first-order clearance of interstitial AREG (1/h).
    areg_clearance_per_h: float = 0.0

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog | None = None,
        *,
        block: str = "lmc_mouse",
        species: str = "mouse",
        site: str = "leptomeningeal",
        **overrides: float,
    ) -> TumorParameters:
        """The parameters of ``block`` (the site's growth, switching, spread and treatment
        start) and ``species`` (CSF); for ``site="subcutaneous"`` the inoculum, room and
        endpoint (converted from mm³ to cells by the cell density) and the site's own values
        come from block ``sc_mouse``.

        Raises
        ------
        LeptotwinError
            An unknown site, block or parameter.
        """
        check_site(site)
        cat = catalog or load_catalog()
        v = lambda name: cat.in_vivo_value(block, name)  # noqa: E731
        params = dict(
            inoculum_cells=v("inoculum_cells"),
            engraftment_sd=v("engraftment_sd"),
            carrying_capacity=v("carrying_capacity"),
            endpoint_cells=v("endpoint_cells"),
            in_vivo_rate_scale=v("in_vivo_rate_scale"),
            rate_scale_sd=v("rate_scale_sd"),
            treatment_start_d=v("treatment_start"),
            switch_rate=v("switch_rate"),
            culture_generations=v("culture_generations"),
            csf_volume_mL=cat.species_value(species, "csf_volume"),
            csf_turnover_per_h=cat.csf_turnover_per_h(species),
        )
        if site == "subcutaneous":
            sc = lambda name: cat.in_vivo_value(SC_BLOCK, name)  # noqa: E731
            density = sc("cell_density")  # cells/mm^3
            params.update(
                site=site,
                inoculum_cells=sc("inoculum_cells"),
                carrying_capacity=sc("carrying_capacity") * density,  # mm^3 -> cells
                endpoint_cells=sc("endpoint_volume") * density,
                kp_uu_tumour=sc("kp_uu_tumour"),
                cell_density_per_mm3=density,
                interstitial_fraction=sc("interstitial_fraction"),
                areg_clearance_per_h=sc("areg_clearance"),
            )
        params.update(overrides)
        return cls(**params)

    def __post_init__(self) -> None:
        """At the subcutaneous site the site's own values must be finite and > 0 (the
        defaults are placeholders that only the leptomeningeal site, which ignores them, may
        keep); a field may be a per-subject array, every element is checked.

        Raises
        ------
        LeptotwinError
            A subcutaneous cell density, interstitial fraction or AREG clearance that is not
            finite and > 0.
        """
        if self.site != "subcutaneous":
            return
        for name, unit in SC_POSITIVE.items():
            value = np.asarray(getattr(self, name), dtype=float)
            if not (np.all(np.isfinite(value)) and np.all(value > 0)):
                raise LeptotwinError(
                    'the subcutaneous site needs its own value (from_catalog(site="subcutaneous"))',
                    field=name,
                    value=getattr(self, name),
                    expected=f"finite and > 0 ({unit})",
                )


def clone_rates(
    model: PathwayModel,
    clones: tuple[Clone, ...],
    free_nM: Mapping[str, np.ndarray],
    csf_areg_nM: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Birth and death rates (1/h, before the in-vivo scale), arrays of shape (n_clones, n).

    Raises
    ------
    LeptotwinError
        When the pathway declares a bypass receptor (in vitro only, docs/model.md §2).
    """
    model.refuse_bypass("the in-vivo tumour model")
    columns = model.state_columns([clone.state for clone in clones])
    birth, death = model.state_rates(columns, free_nM, areg_bulk_nM=csf_areg_nM)
    shape = (len(clones), *np.shape(csf_areg_nM))
    return np.broadcast_to(birth, shape).copy(), np.broadcast_to(death, shape).copy()
