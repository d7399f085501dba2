"""Drug in a brain section with leptomeningeal lesions: the tissue model behind virtual MSI.

A coronal mouse brain section (an ellipse of parenchyma) carries leptomeningeal lesions: discs
centred on the brain surface. At the sampling time after the last dose the PK model gives the
unbound plasma concentration ``Cu`` and the unbound interstitial concentration of a typical lesion
``C_les`` (``simulate_pk(...).lesion_nM``, with the lesion Kp,uu of :mod:`leptotwin.model.barrier`
and the exchange rate ``k_les``). Then, per pixel (parameters with sources in ``in_vivo.yaml``,
blocks ``brain_section`` and ``blood_tumour_barrier``):

* parenchyma, intact blood–brain barrier: ``unbound = Kp,uu,brain · Cu`` (efflux by P-gp/BCRP;
  instantaneous equilibrium, since brain distribution of small lipophilic drugs takes minutes);
* lesion k, blood–tumour barrier with its own leak ``L_k = L · exp(σ_L z_k)`` (``z_k`` standard
  normal, drawn with the section): ``unbound = C_les · K(L_k) / K(L)`` with
  ``K(L) = Kp,uu,open · (L + 1) / (L + ER)``, ``ER = 1 / Kp,uu,brain`` (the lesion compartment is
  linear, so its value scales with its gain; the barrier is derived in :mod:`~leptotwin.model.
  barrier`);
* total tissue drug = ``unbound · (1 + B)`` with ``B = 1/fu,brain − 1`` in parenchyma and
  ``B_les = lesion_binding_scale · B`` in lesions.

Nothing here is taken from the imaging result the twin reproduces: lesion/brain
``= ER (L + 1) / (L + ER) · (1 + B_les) / (1 + B)``, between ``(1 + B_les)/(1 + B)`` (no leak)
and ``ER (1 + B_les)/(1 + B)`` (no barrier).

The counterfactuals of CLAIMS.md: no leaky barrier (``L = 0``, lesion unbound = Kp,uu,open ×
parenchyma unbound) and no tumour binding (``lesion_binding_scale = 0``),
:meth:`TissueParams.counterfactual`.

Metabolites: osimertinib's AZ5104 is a PK species (formed from a fraction of the parent's
clearance, :class:`~leptotwin.model.pk.Metabolite`); it is simulated at the sampling time and
distributes as the parent does, with its own brain Kp,uu and the parent's tissue binding, so the
imaged AZ5104 / osimertinib ratio is the PK model's. Erlotinib's OSI-420 is not a PK species and
follows the parent at the catalogue's fixed molar ratio.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.catalog.units import convert
from leptotwin.errors import LeptotwinError
from leptotwin.model.barrier import BarrierParams, kp_uu_brain, kp_uu_lesion

__all__ = [
    "METABOLITES",
    "BrainSection",
    "TissueDrug",
    "TissueParams",
    "make_section",
    "tissue_concentrations",
]

#: Main metabolite imaged with each drug (the active metabolites of the Tarceva SmPC and the
#: Tagrisso label); alectinib's M4 is not imaged.
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
    leak_z : ndarray of shape (n_lesions,), optional
        Standard-normal score of each lesion's barrier leak (lesion k: ``leak_z[k - 1]``);
        ``None``: every lesion has the typical leak.
    """

    tissue: np.ndarray
    lesions: np.ndarray
    pixel_um: float
    leak_z: np.ndarray | None = None

    @property
    def n_lesions(self) -> int:
        """Number of lesion labels (a label may have no pixel left when lesions overlap)."""
        n = int(self.lesions.max()) if self.lesions.size else 0
        return max(n, 0 if self.leak_z is None else int(np.size(self.leak_z)))

    @property
    def lesion_z(self) -> np.ndarray:
        """Leak scores per lesion label, zeros when none were drawn."""
        z = np.zeros(self.n_lesions)
        if self.leak_z is not None:
            z[: np.size(self.leak_z)] = self.leak_z
        return z

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
    """Distribution of one drug between plasma, brain and lesions.

    Attributes
    ----------
    kp_uu_brain : float
        Unbound brain / unbound plasma (intact blood–brain barrier); the efflux ratio is its
        inverse.
    fu_brain : float
        Unbound fraction in brain tissue; binding B = 1/fu_brain − 1.
    leak_ratio : float
        ``L`` of a typical lesion: paracellular leak / passive transcellular permeability of the
        blood–tumour barrier (0: as tight as the blood–brain barrier).
    leak_sd_log : float
        Between-lesion SD of ``ln L``.
    kp_uu_open : float
        Unbound lesion / unbound plasma without any barrier.
    lesion_binding_scale : float
        Lesion binding / brain binding (0: lesion drug all unbound).
    metabolite_ratio : float
        Tissue metabolite / parent (molar) for a metabolite that is not a PK species (OSI-420);
        0 otherwise (AZ5104 is simulated).
    """

    kp_uu_brain: float
    fu_brain: float
    leak_ratio: float
    leak_sd_log: float = 0.0
    kp_uu_open: float = 1.0
    lesion_binding_scale: float = 1.0
    metabolite_ratio: float = 0.0

    @classmethod
    def from_catalog(cls, drug: str, catalog: Catalog | None = None) -> TissueParams:
        """Values for ``drug`` from the catalogue blocks ``brain_section`` and
        ``blood_tumour_barrier`` and the drug's no-barrier Kp,uu (mouse ``kp_uu_lesion``)."""
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
        if key in METABOLITES and not cat.metabolites_of(cat.drug(key).name, "mouse"):
            met = cat.in_vivo_value(_BLOCK, f"metabolite_ratio_{key}")
        barrier = BarrierParams.from_catalog(cat)
        q = cat.drug(key).pk["mouse"].kp_uu_lesion
        return cls(
            kp_uu_brain=kp,
            fu_brain=fu,
            leak_ratio=barrier.leak_ratio,
            leak_sd_log=barrier.leak_sd_log,
            kp_uu_open=convert(q.value, q.unit, "fraction"),
            lesion_binding_scale=cat.in_vivo_value(_BLOCK, "lesion_binding_scale"),
            metabolite_ratio=met,
        )

    def counterfactual(self, *, leaky: bool = False, binding: bool = False) -> TissueParams:
        """The same drug with the lesions' barrier leak (``leaky=False``: ``L = 0`` in every
        lesion) and/or tumour binding (``binding=False``) removed."""
        return dataclasses.replace(
            self,
            leak_ratio=self.leak_ratio if leaky else 0.0,
            leak_sd_log=self.leak_sd_log if leaky else 0.0,
            lesion_binding_scale=self.lesion_binding_scale if binding else 0.0,
        )

    @property
    def efflux_ratio(self) -> float:
        """``ER = 1 / Kp,uu,brain``."""
        return 1.0 / self.kp_uu_brain

    @property
    def brain_binding(self) -> float:
        return 1.0 / self.fu_brain - 1.0

    def lesion_kp_uu(self, leak_ratio: float | np.ndarray | None = None) -> float | np.ndarray:
        """Unbound lesion / unbound plasma at steady state for ``leak_ratio`` (default the
        typical lesion's)."""
        leak = self.leak_ratio if leak_ratio is None else leak_ratio
        return kp_uu_lesion(self.kp_uu_brain, leak, self.kp_uu_open)


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
        ``t_h``, ``plasma_nM``, ``unbound_plasma_nM``, ``kp_uu_brain``, ``leak_ratio`` and
        ``kp_uu_lesion`` (typical lesion), ``lesion_unbound_nM`` and ``lesion_total_nM`` (typical
        lesion), ``brain_unbound_nM``, ``brain_total_nM``, ``true_ratio`` (geometric mean over
        the section's lesions of lesion / brain total drug, what the MSI analysis estimates);
        with a metabolite ``metabolite_brain_ratio`` (metabolite / parent in parenchyma) and, for
        a simulated one, ``metabolite_plasma_ratio`` (the PK model's plasma molar ratio).
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
    (tumour in the subarachnoid space on the surface) and count as tissue. Each lesion then gets
    a standard-normal score of its barrier leak (``leak_z``; see :class:`BrainSection`).
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
    leak_z = rng.normal(0.0, 1.0, n_les)
    return BrainSection(tissue=tissue, lesions=lesions, pixel_um=px, leak_z=leak_z)


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
    from leptotwin.model.pk import Metabolite, PKStream, simulate_pk

    cat = catalog or load_catalog()
    p = params or TissueParams.from_catalog(drug, cat)
    d = float(days if days is not None else cat.in_vivo_value(_BLOCK, "days_dosed"))
    s = float(sampling_h if sampling_h is not None else cat.in_vivo_value(_BLOCK, "sampling_time"))
    t = (max(d, 1.0) - 1.0) * 24.0 + s
    res = simulate_pk(
        drug, "mouse", regimen, t_h=np.array([t]), n_subjects=1, iiv=False, catalog=cat
    )
    plasma, cu, les_pk = (float(x[0, -1]) for x in (res.plasma_nM, res.unbound_nM, res.lesion_nM))
    # every lesion's leak; the PK lesion compartment (gain K_pk) scales to each lesion's K
    leak = BarrierParams(p.leak_ratio, p.leak_sd_log).lesion_leak_ratios(section.lesion_z)
    gain = p.lesion_kp_uu(leak) / float(res.subjects.kp_uu_lesion[0])
    b_brain = p.brain_binding
    b_les = p.lesion_binding_scale * b_brain

    def distribute(cu_x: float, les_x: float, kp_brain_x: float, gain_x: np.ndarray):
        brain_u = kp_brain_x * cu_x
        les_u = les_x * np.concatenate([[0.0], np.atleast_1d(gain_x)])  # index = lesion label
        unbound = np.where(
            section.lesion, les_u[section.lesions], np.where(section.tissue, brain_u, 0.0)
        )
        return unbound, unbound * (1.0 + np.where(section.lesion, b_les, b_brain)), brain_u

    unbound, total, brain_u = distribute(cu, les_pk, p.kp_uu_brain, gain)
    brain_t = brain_u * (1 + b_brain)
    labels = np.unique(section.lesions[section.lesion])
    typical_u = les_pk * float(p.lesion_kp_uu()) / float(res.subjects.kp_uu_lesion[0])
    les_t = les_pk * np.atleast_1d(gain)[labels - 1] * (1 + b_les)
    summary = {
        "t_h": t,
        "plasma_nM": plasma,
        "unbound_plasma_nM": cu,
        "kp_uu_brain": p.kp_uu_brain,
        "leak_ratio": p.leak_ratio,
        "kp_uu_lesion": float(p.lesion_kp_uu()),
        "lesion_unbound_nM": typical_u,
        "brain_unbound_nM": brain_u,
        "brain_total_nM": brain_t,
        "lesion_total_nM": typical_u * (1 + b_les),
        "true_ratio": float(np.exp(np.mean(np.log(les_t / brain_t))))
        if brain_t > 0 and labels.size
        else np.nan,
    }

    key = drug.strip().lower()
    met_name = METABOLITES.get(key)
    met_total = np.zeros_like(total)
    formed = cat.metabolites_of(cat.drug(key).name, "mouse")
    if formed:  # a PK species (AZ5104): simulated as the cohort model does
        met_name, fraction = formed[0]
        m = Metabolite(cat.pk_parameters(met_name, "mouse"), fraction, catalog=cat)
        stream = PKStream(res.subjects, res.regimens, horizon_h=t, metabolite=m)
        m_plasma, _, m_les = (float(x[0]) for x in stream.advance(t))
        kp_m = kp_uu_brain(met_name, "mouse", cat)
        # the metabolite crosses the same barrier, with its own efflux ratio
        gain_m = kp_uu_lesion(kp_m, leak, p.kp_uu_open) / m.lesion_kp_uu
        _, met_total, _ = distribute(m_plasma * m.params.fu, m_les, kp_m, gain_m)
        summary["metabolite_plasma_ratio"] = m_plasma / plasma if plasma > 0 else np.nan
    elif p.metabolite_ratio > 0:
        met_total = total * p.metabolite_ratio
    else:
        met_name = None
    if met_name is not None:
        par = section.parenchyma
        summary["metabolite_brain_ratio"] = (
            float(met_total[par].mean() / total[par].mean()) if par.any() else np.nan
        )
    return TissueDrug(
        drug=drug,
        total_nM=total,
        unbound_nM=unbound,
        metabolite=met_name,
        metabolite_nM=met_total,
        summary=summary,
    )
