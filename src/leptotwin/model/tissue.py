"""Drug in a brain section with leptomeningeal lesions: the tissue model behind virtual MSI.

A coronal mouse brain section (an ellipse of parenchyma) carries leptomeningeal lesions: discs
centred on the brain surface. At the sampling time after the last dose the PK model gives the
unbound plasma concentration ``Cu`` and the unbound lesion-interstitium concentration
``C_les`` (``simulate_pk(...).lesion_nM``: ``Kp,uu,les`` and ``k_les`` of the catalogue). Then,
per pixel (assumptions with sources in ``in_vivo.yaml``, block ``brain_section``):

* parenchyma, intact blood–brain barrier: ``unbound = Kp,uu,brain · Cu`` (efflux by P-gp/BCRP;
  instantaneous equilibrium, since brain distribution of small lipophilic drugs takes minutes);
* lesion, leaky blood–tumour barrier: ``unbound = C_les``;
* total tissue drug = ``unbound · (1 + B)`` with ``B = 1/fu,brain − 1`` in parenchyma and
  ``B_les = lesion_binding_scale · B`` in lesions.

The counterfactual of CLAIMS.md (no leaky barrier, no tumour binding) sets lesion unbound to the
parenchyma's and ``lesion_binding_scale`` to 0 (:meth:`TissueParams.counterfactual`).
Metabolites (OSI-420, AZ5104) follow the parent at a fixed molar ratio.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError

__all__ = [
    "METABOLITES",
    "BrainSection",
    "TissueDrug",
    "TissueParams",
    "make_section",
    "tissue_concentrations",
]

#: Main metabolite imaged with each drug (FACTS.md 6a); alectinib's M4 is not modelled.
METABOLITES: dict[str, str] = {"erlotinib": "OSI-420", "osimertinib": "AZ5104"}

_BLOCK = "brain_section"


@dataclass(frozen=True)
class BrainSection:
    """Geometry of one section.

    Attributes
    ----------
    tissue : ndarray of bool, shape (ny, nx)
        Pixels covered by tissue (parenchyma or lesion).
    lesions : ndarray of int, shape (ny, nx)
        0 outside lesions, 1..n_lesions inside lesion k.
    pixel_um : float
    """

    tissue: np.ndarray
    lesions: np.ndarray
    pixel_um: float

    @property
    def lesion(self) -> np.ndarray:
        """Bool mask of all lesions."""
        return self.lesions > 0

    @property
    def parenchyma(self) -> np.ndarray:
        return self.tissue & ~self.lesion

    @property
    def shape(self) -> tuple[int, int]:
        return self.tissue.shape  # type: ignore[return-value]


@dataclass(frozen=True)
class TissueParams:
    """Distribution of one drug between plasma, brain and lesion.

    Attributes
    ----------
    kp_uu_brain : float
        Unbound brain / unbound plasma (intact blood–brain barrier).
    fu_brain : float
        Unbound fraction in brain tissue; binding B = 1/fu_brain − 1.
    lesion_binding_scale : float
        Lesion binding / brain binding (0: lesion drug all unbound).
    leaky_lesion : bool
        True: lesion unbound from the PK lesion compartment (leaky barrier); False: lesion
        unbound = parenchyma unbound (barrier as intact as the BBB).
    metabolite_ratio : float
        Tissue metabolite / parent (molar); 0 when no metabolite is imaged.
    """

    kp_uu_brain: float
    fu_brain: float
    lesion_binding_scale: float = 1.0
    leaky_lesion: bool = True
    metabolite_ratio: float = 0.0

    @classmethod
    def from_catalog(cls, drug: str, catalog: Catalog | None = None) -> TissueParams:
        """Values for ``drug`` from the catalogue block ``brain_section``."""
        cat = catalog or load_catalog()
        key = drug.strip().lower()
        try:
            kp = cat.in_vivo_value(_BLOCK, f"kp_uu_brain_{key}")
            fu = cat.in_vivo_value(_BLOCK, f"fu_brain_{key}")
        except LeptotwinError:
            raise LeptotwinError(
                "no brain Kp,uu / tissue binding in the catalogue for this drug",
                source="brain_section",
                field="drug",
                value=drug,
                expected="erlotinib, osimertinib or alectinib",
            ) from None
        met = 0.0
        if key in METABOLITES:
            met = cat.in_vivo_value(_BLOCK, f"metabolite_ratio_{key}")
        return cls(
            kp_uu_brain=kp,
            fu_brain=fu,
            lesion_binding_scale=cat.in_vivo_value(_BLOCK, "lesion_binding_scale"),
            metabolite_ratio=met,
        )

    def counterfactual(self, *, leaky: bool = False, binding: bool = False) -> TissueParams:
        """The same drug with the lesion's leaky barrier and/or tumour binding removed."""
        return dataclasses.replace(
            self,
            leaky_lesion=leaky and self.leaky_lesion,
            lesion_binding_scale=self.lesion_binding_scale if binding else 0.0,
        )

    @property
    def brain_binding(self) -> float:
        return 1.0 / self.fu_brain - 1.0


@dataclass(frozen=True)
class TissueDrug:
    """Drug in a section at the sampling time.

    Attributes
    ----------
    drug : str
    total_nM : ndarray of shape (ny, nx)
        Total tissue drug (nM ≈ pmol/g); 0 off tissue.
    unbound_nM : ndarray of shape (ny, nx)
    metabolite : str or None
    metabolite_nM : ndarray of shape (ny, nx)
        Total tissue metabolite (zeros when none).
    summary : dict of str to float
        ``t_h``, ``plasma_nM``, ``unbound_plasma_nM``, ``lesion_unbound_nM``,
        ``brain_unbound_nM``, ``brain_total_nM``, ``lesion_total_nM``, ``true_ratio``.
    """

    drug: str
    total_nM: np.ndarray
    unbound_nM: np.ndarray
    metabolite: str | None
    metabolite_nM: np.ndarray
    summary: dict[str, float]


def make_section(
    rng: np.random.Generator,
    *,
    pixel_um: float | None = None,
    n_lesions: int | None = None,
    catalog: Catalog | None = None,
) -> BrainSection:
    """A coronal section: elliptical parenchyma, lesions centred on its surface.

    Lesion centres are spread around the circumference (random phase, jittered), each a disc of
    log-normal radius; lesion pixels are those of the disc within one radius outside the brain
    (tumour in the subarachnoid space on the surface) and count as tissue.
    """
    cat = catalog or load_catalog()
    px = float(pixel_um or cat.in_vivo_value(_BLOCK, "pixel_size"))
    w_um = cat.in_vivo_value(_BLOCK, "width") * 1000
    h_um = cat.in_vivo_value(_BLOCK, "height") * 1000
    n_les = int(n_lesions if n_lesions is not None else cat.in_vivo_value(_BLOCK, "n_lesions"))
    r_um = cat.in_vivo_value(_BLOCK, "lesion_radius")
    r_sd = cat.in_vivo_value(_BLOCK, "lesion_radius_sd_log")
    angle_sd = cat.in_vivo_value(_BLOCK, "lesion_angle_sd")
    margin = cat.in_vivo_value(_BLOCK, "slide_margin")  # µm of slide around the section
    if px <= 0 or px > min(w_um, h_um) / 8:
        raise LeptotwinError(
            "pixel size too large for a brain section",
            field="pixel_um",
            value=px,
            expected=f"0 < pixel_um <= {min(w_um, h_um) / 8:g}",
        )
    nx, ny = int(np.ceil((w_um + 2 * margin) / px)), int(np.ceil((h_um + 2 * margin) / px))
    yc, xc = (np.arange(ny) + 0.5) * px, (np.arange(nx) + 0.5) * px
    yy, xx = np.meshgrid(yc, xc, indexing="ij")
    cy, cx, a, b = ny * px / 2, nx * px / 2, w_um / 2, h_um / 2
    brain = ((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1.0
    lesions = np.zeros((ny, nx), dtype=np.int64)
    phase = rng.uniform(0, 2 * np.pi)
    for k in range(n_les):
        th = phase + 2 * np.pi * k / max(n_les, 1) + rng.normal(0, angle_sd)
        r = r_um * np.exp(rng.normal(0, r_sd))
        lx, ly = cx + a * np.cos(th), cy + b * np.sin(th)
        disc = (xx - lx) ** 2 + (yy - ly) ** 2 <= r**2
        lesions[disc & (lesions == 0)] = k + 1
    tissue = brain | (lesions > 0)
    return BrainSection(tissue=tissue, lesions=lesions, pixel_um=px)


def tissue_concentrations(
    drug: str,
    section: BrainSection,
    *,
    regimen: str,
    params: TissueParams | None = None,
    days: float | None = None,
    sampling_h: float | None = None,
    catalog: Catalog | None = None,
) -> TissueDrug:
    """Drug (and metabolite) per pixel ``sampling_h`` after the last of ``days`` daily doses.

    Parameters
    ----------
    drug : str
    section : BrainSection
    regimen : str
        Daily mouse regimen, e.g. ``"50 mg/kg QD"``.
    params : TissueParams, optional
        Default :meth:`TissueParams.from_catalog` (pass a counterfactual here).
    days, sampling_h : float, optional
        Defaults from the catalogue (``days_dosed``, ``sampling_time``).
    """
    from leptotwin.model.pk import simulate_pk

    cat = catalog or load_catalog()
    p = params or TissueParams.from_catalog(drug, cat)
    d = float(days if days is not None else cat.in_vivo_value(_BLOCK, "days_dosed"))
    s = float(sampling_h if sampling_h is not None else cat.in_vivo_value(_BLOCK, "sampling_time"))
    t = (max(d, 1.0) - 1.0) * 24.0 + s
    res = simulate_pk(
        drug, "mouse", regimen, t_h=np.array([t]), n_subjects=1, iiv=False, catalog=cat
    )
    plasma, cu, les_u = (float(x[0, -1]) for x in (res.plasma_nM, res.unbound_nM, res.lesion_nM))
    brain_u = p.kp_uu_brain * cu
    lesion_u = les_u if p.leaky_lesion else brain_u
    b_brain = p.brain_binding
    b_les = p.lesion_binding_scale * b_brain
    unbound = np.where(section.lesion, lesion_u, np.where(section.tissue, brain_u, 0.0))
    binding = np.where(section.lesion, b_les, b_brain)
    total = unbound * (1.0 + binding)
    brain_t, les_t = brain_u * (1 + b_brain), lesion_u * (1 + b_les)
    met = METABOLITES.get(drug.strip().lower()) if p.metabolite_ratio > 0 else None
    return TissueDrug(
        drug=drug,
        total_nM=total,
        unbound_nM=unbound,
        metabolite=met,
        metabolite_nM=total * p.metabolite_ratio,
        summary={
            "t_h": t,
            "plasma_nM": plasma,
            "unbound_plasma_nM": cu,
            "lesion_unbound_nM": lesion_u,
            "brain_unbound_nM": brain_u,
            "brain_total_nM": brain_t,
            "lesion_total_nM": les_t,
            "true_ratio": les_t / brain_t if brain_t > 0 else np.nan,
        },
    )
