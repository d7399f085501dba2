"""Lesion exposure from the blood–tumour barrier and transporter efflux.

Where a drug reaches a tumour lesion in the CNS through the lesion's vessels, its unbound
steady-state partition between lesion interstitium and plasma is the ratio of the clearances in
and out across the vessel wall, ``Kp,uu = CL_in / CL_out``. The wall has two parallel paths:

* a **transcellular** path through the endothelium, passive permeability-surface product
  ``PS`` in both directions, plus active efflux (P-gp, BCRP) that adds ``(ER − 1) · PS`` to the
  way out; ``ER`` is the drug's effective efflux ratio at the barrier;
* a **paracellular leak** (open junctions, fenestrae of tumour vessels) ``PS_leak``, passive in
  both directions and not subject to efflux.

With the leak-to-passive ratio ``L = PS_leak / PS``::

    CL_in  = PS_leak + PS,   CL_out = PS_leak + ER · PS
    Kp,uu,lesion = Kp,uu,open · (L + 1) / (L + ER)

``L = 0`` is the intact blood–brain barrier, whose unbound brain/plasma ratio is measured:
``Kp,uu,brain = 1 / ER``, so each drug's efflux ratio follows from its sourced brain Kp,uu
(:func:`kp_uu_brain`: catalogue block ``brain_section`` in mice where it has the drug, otherwise
the drug's CNS ratio ``kp_uu_csf`` of the PK catalogue in that species). ``L → ∞`` is a tumour
without a barrier; its unbound interstitium equilibrates with unbound plasma, ``Kp,uu,open``
(the drug's ``kp_uu_lesion`` in ``drugs.yaml``: 1, vinorelbine's measured Kp,uu ≈ 1.0 in
systemic, barrier-free metastases). A drug that is no efflux substrate (``ER = 1``) gets
``Kp,uu,open`` whatever the leak; a strong substrate gets little more than its brain value
unless the leak is large. The unbound lesion / adjacent-brain ratio is
``ER · (L + 1) / (L + ER)``, between 1 and ``ER``.

``L`` of a typical lesion and its spread between lesions (catalogue block
``blood_tumour_barrier``) come from brain-metastasis models other than the study the twin
reproduces: lapatinib (an efflux substrate, ``ER ≈ 40`` from the 40-fold brain/plasma ratio in
Mdr1a/b;Bcrp1 knockout mice, Polli 2009) reached 10–20 % of its peripheral-metastasis
concentration in brain metastases (Taskar 2012), i.e. ``Kp,uu,lesion ≈ 0.1–0.2`` and
``L = (K·ER − 1)/(1 − K) ≈ 3–9``; the same model's 7–9-fold brain-metastasis / brain ratio is
matched with tumour binding about equal to brain binding. Vinorelbine's Kp,uu spread over
0.03–0.22 between brain metastases (a 7-fold range, up to ≈ 1 in sub-regions), and BTB
permeability is raised in most lesions but high in a minority (Lockman 2010). Leptomeningeal
deposits are taken to have the barrier of parenchymal brain metastases (an assumption; the
priors are wide accordingly).

Antibodies do not cross by the transcellular path; their catalogue ``kp_uu_lesion`` (slow IgG
extravasation) is used as it stands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.catalog.schema import Drug
from leptotwin.catalog.units import convert
from leptotwin.errors import LeptotwinError

__all__ = [
    "BLOCK",
    "BarrierParams",
    "efflux_ratio",
    "kp_uu_brain",
    "kp_uu_lesion",
    "lesion_kp_uu",
]

BLOCK = "blood_tumour_barrier"
_BRAIN_BLOCK = "brain_section"


@dataclass(frozen=True)
class BarrierParams:
    """The blood–tumour barrier of leptomeningeal lesions (catalogue block
    ``blood_tumour_barrier``).

    Attributes
    ----------
    leak_ratio : float
        ``L``: paracellular leak / passive transcellular permeability of a typical lesion.
    leak_sd_log : float
        Between-lesion SD of ``ln L`` (used per lesion by the tissue model).
    """

    leak_ratio: float
    leak_sd_log: float = 0.0

    @classmethod
    def from_catalog(cls, catalog: Catalog | None = None) -> BarrierParams:
        cat = catalog or load_catalog()
        return cls(
            leak_ratio=cat.in_vivo_value(BLOCK, "leak_ratio"),
            leak_sd_log=cat.in_vivo_value(BLOCK, "leak_sd_log"),
        )

    def lesion_leak_ratios(self, z: np.ndarray) -> np.ndarray:
        """``L`` of lesions with standard-normal scores ``z``: ``L · exp(leak_sd_log · z)``."""
        return self.leak_ratio * np.exp(self.leak_sd_log * np.asarray(z, dtype=float))


def kp_uu_lesion(
    kp_uu_brain: float | np.ndarray,
    leak_ratio: float | np.ndarray,
    kp_uu_open: float = 1.0,
) -> float | np.ndarray:
    """Unbound lesion / unbound plasma at steady state,
    ``Kp,uu,open · (L + 1) / (L + ER)`` with ``ER = 1 / kp_uu_brain``.

    Parameters
    ----------
    kp_uu_brain : float or array
        Unbound brain / unbound plasma behind the intact barrier (> 0).
    leak_ratio : float or array
        ``L`` ≥ 0 (0: a barrier as tight as the blood–brain barrier).
    kp_uu_open : float
        Unbound lesion / unbound plasma without any barrier.
    """
    kp = np.asarray(kp_uu_brain, dtype=float)
    leak = np.asarray(leak_ratio, dtype=float)
    if np.any(kp <= 0) or np.any(leak < 0) or kp_uu_open <= 0:
        raise LeptotwinError(
            "barrier parameters out of range",
            field="kp_uu_brain, leak_ratio, kp_uu_open",
            value=(float(np.min(kp)), float(np.min(leak)), kp_uu_open),
            expected="kp_uu_brain > 0, leak_ratio >= 0, kp_uu_open > 0",
        )
    out = kp_uu_open * (leak + 1.0) / (leak + 1.0 / kp)
    return float(out) if out.ndim == 0 else out


def _species(cat: Catalog, species: str) -> str:
    return cat.get_species(species).name


def kp_uu_brain(drug: str, species: str, catalog: Catalog | None = None) -> float:
    """Unbound brain / unbound plasma behind the intact blood–brain barrier.

    Mouse values of ``brain_section`` (``kp_uu_brain_<drug>``, microdialysis or Kp,uu studies)
    where the catalogue has one; otherwise the drug's ``kp_uu_csf`` in that species (brain ECF or
    CSF / unbound plasma, the catalogue's CNS penetration of the drug).
    """
    cat = catalog or load_catalog()
    d = cat.drug(drug)
    sp = _species(cat, species)
    if sp == "mouse":
        params = cat.in_vivo[_BRAIN_BLOCK].parameters if _BRAIN_BLOCK in cat.in_vivo else {}
        key = f"kp_uu_brain_{d.name.lower()}"
        if key in params:
            return float(params[key].value)
    _check_pk(d, sp, species)
    q = d.pk[sp].kp_uu_csf  # type: ignore[index]
    return convert(q.value, q.unit, "fraction")


def _check_pk(drug: Drug, sp: str, species: str) -> None:
    if sp not in drug.pk:
        raise LeptotwinError(
            f"no {sp} PK in the catalogue for {drug.name}",
            field="species",
            value=species,
            expected="one of " + ", ".join(sorted(drug.pk)),
        )


def efflux_ratio(drug: str, species: str, catalog: Catalog | None = None) -> float:
    """Effective efflux ratio at the blood–brain barrier, ``1 / Kp,uu,brain``."""
    return 1.0 / kp_uu_brain(drug, species, catalog)


def lesion_kp_uu(
    drug: str,
    species: str,
    catalog: Catalog | None = None,
    *,
    leak_ratio: float | None = None,
) -> float:
    """The lesion Kp,uu the PK model uses for ``drug`` in ``species``.

    Small molecules: :func:`kp_uu_lesion` with the drug's :func:`kp_uu_brain`, the catalogue's
    typical leak ratio (or ``leak_ratio``) and the drug's ``kp_uu_lesion`` (no-barrier value).
    Antibodies: the catalogue's ``kp_uu_lesion`` as it stands.
    """
    cat = catalog or load_catalog()
    d = cat.drug(drug)
    sp = _species(cat, species)
    _check_pk(d, sp, species)
    q = d.pk[sp].kp_uu_lesion  # type: ignore[index]
    open_kp = convert(q.value, q.unit, "fraction")
    if d.kind == "antibody":
        return open_kp
    leak = BarrierParams.from_catalog(cat).leak_ratio if leak_ratio is None else leak_ratio
    return float(kp_uu_lesion(kp_uu_brain(d.name, sp, cat), leak, open_kp))
