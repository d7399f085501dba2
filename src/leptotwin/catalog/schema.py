"""Typed schema of the parameter catalogue.

Every biological or pharmacological number is a :class:`Quantity`: a value with its unit and its
source. Sources are DOIs, PMIDs or product labels; a value that is an estimate, a derivation or an
allometric scaling has ``assumption: true`` and says why in ``note``. Unknown keys are rejected so
that a typo never silently falls back to a default.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "AssayKit",
    "CellLine",
    "Drug",
    "DrugSpeciesPK",
    "PathwayParameters",
    "Perturbation",
    "Potency",
    "Quantity",
    "RouteAbsorption",
    "Species",
]

_PRIMARY = re.compile(
    r"(doi:\s*10\.|10\.\d{4,}/|PMID\s*:?\s*\d+|label|SmPC|Fachinfo|Swissmedic)", re.I
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quantity(_Strict):
    """A number with its unit and source.

    Attributes
    ----------
    value : float
    unit : str
        Written as in the catalogue (``"L/h"``, ``"nM"``, ``"1"`` for dimensionless).
    source : str
        DOI, PMID or label; for assumptions, the reasoning or the sources it is derived from.
    assumption : bool
        True when the value is an estimate, derivation or scaling rather than a measurement.
    note : str
        Free text: the arithmetic of a derivation, the context of a measurement.
    """

    value: float
    unit: str = Field(min_length=1)
    source: str = Field(min_length=3)
    assumption: bool = False
    note: str = ""

    @property
    def has_primary_source(self) -> bool:
        """True when the value is a measurement with a DOI, PMID or label as its source."""
        return (not self.assumption) and bool(_PRIMARY.search(self.source))


class RouteAbsorption(_Strict):
    """First-order absorption for an extravascular route."""

    ka: Quantity
    F: Quantity


class DrugSpeciesPK(_Strict):
    """Linear disposition of one drug in one species.

    ``CL`` and ``V1`` are systemic (per F = 1). Where a source gives only apparent oral values
    (CL/F, V/F), the catalogue entry says so and sets ``F`` accordingly.
    """

    model: Literal["1cmt", "2cmt"]
    CL: Quantity
    V1: Quantity
    Q: Quantity | None = None
    V2: Quantity | None = None
    fu: Quantity
    kp_uu_csf: Quantity
    k_csf: Quantity | None = None
    kp_uu_lesion: Quantity
    k_lesion: Quantity
    routes: dict[Literal["oral", "ip", "sc"], RouteAbsorption] = Field(default_factory=dict)
    iiv: dict[Literal["CL", "V1", "ka", "Q", "V2", "kp_uu_csf"], Quantity] = Field(
        default_factory=dict
    )
    formed_from: str | None = None
    """For an active metabolite: the parent drug whose clearance forms it."""
    fraction_formed: Quantity | None = None

    @field_validator("V2")
    @classmethod
    def _two_cmt_complete(cls, v2: Quantity | None, info):  # type: ignore[no-untyped-def]
        if info.data.get("model") == "2cmt" and (v2 is None or info.data.get("Q") is None):
            raise ValueError("model '2cmt' needs both Q and V2")
        return v2


class Potency(_Strict):
    """An inhibitory potency of a drug on one target in one kind of assay."""

    target: str
    assay: Literal["enzyme", "binding", "cellular phosphorylation", "cell growth"]
    ic50: Quantity
    context: str = ""
    model: bool = False
    """True for the one entry per target that the pathway model uses as its inhibition constant."""


class Drug(_Strict):
    """One drug: identity, potency and PK per species."""

    name: str
    drug_class: str
    kind: Literal["small molecule", "antibody"]
    molecular_weight: Quantity
    potency: list[Potency] = Field(default_factory=list)
    pk: dict[Literal["mouse", "human"], DrugSpeciesPK]


class Species(_Strict):
    """Physiology of one species used by the PK model."""

    name: str
    body_weight: Quantity
    body_surface_area: Quantity
    plasma_volume: Quantity
    csf_volume: Quantity
    csf_production: Quantity


class CellLine(_Strict):
    """A cell line: what distinguishes it in the pathway model (relative levels)."""

    name: str
    description: str
    source: str = Field(min_length=3)
    mir449a: Quantity
    egfr_total: Quantity
    alk_fusion: Quantity
    areg_secretion: Quantity | None = None
    """Multiplier on AREG secretion beyond miR-449a control (1 when absent)."""


class PathwayParameters(_Strict):
    """Shared parameters of the signalling and growth model (``pathway.yaml``)."""

    areg_kd: Quantity
    areg_efficacy: Quantity
    areg_molar_mass: Quantity
    areg_secretion_max: Quantity
    areg_medium_half_life: Quantity
    mir449a_km: Quantity
    autocrine_gain: Quantity
    egfr_weight: Quantity
    birth_max: Quantity
    death_min: Quantity
    death_max: Quantity
    birth_half_signal: Quantity
    death_half_signal: Quantity
    signal_hill: Quantity


class AssayKit(_Strict):
    """Settings of a virtual instrument or culture format: named quantities."""

    name: str
    description: str
    parameters: dict[str, Quantity]


class Perturbation(_Strict):
    """An experimental perturbation expressed as a change of cell-line parameters.

    ``scale`` multiplies the named parameter (siRNA knockdowns); ``set`` replaces it (a mimic
    raising miR-449a to a level).
    """

    name: str
    description: str
    parameter: Literal["mir449a", "egfr_total", "areg_secretion", "alk_fusion"]
    scale: Quantity | None = None
    set: Quantity | None = None
