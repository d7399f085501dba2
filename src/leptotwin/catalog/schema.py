"""Typed schema of the parameter catalogue.

Every biological or pharmacological number is a :class:`Quantity`: a value with its unit and its
source. Sources are DOIs, PMIDs or product labels; a value that is an estimate, a derivation or an
allometric scaling has ``assumption: true`` and says why in ``note``. Unknown keys are rejected so
that a typo never silently falls back to a default.

An uncertain value carries a :class:`Prior`: a distribution and the central 95 % interval of the
value (for ``uniform`` and ``loguniform``: the bounds), in the quantity's own unit, with the
source of the range. :mod:`leptotwin.catalog.priors` turns it into a scipy distribution.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "PRIOR_DISTRIBUTIONS",
    "AssayKit",
    "BypassCellLine",
    "BypassInhibitor",
    "BypassReceptor",
    "CellLine",
    "Drug",
    "DrugSpeciesPK",
    "PathwayParameters",
    "Perturbation",
    "Potency",
    "Prior",
    "Quantity",
    "RouteAbsorption",
    "Species",
]

_PRIMARY = re.compile(
    r"(doi:\s*10\.|10\.\d{4,}/|PMID\s*:?\s*\d+|label|SmPC|Fachinfo|Swissmedic)", re.I
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PRIOR_DISTRIBUTIONS = ("lognormal", "normal", "uniform", "loguniform", "logitnormal")
"""The distributions a :class:`Prior` may name."""


class Prior(_Strict):
    """What is known about an uncertain value: a distribution and its range.

    Attributes
    ----------
    dist : str
        One of :data:`PRIOR_DISTRIBUTIONS`.
    low, high : float
        In the unit of the quantity. For ``lognormal``, ``normal`` and ``logitnormal`` the central
        95 % interval (2.5 % and 97.5 % quantiles); for ``uniform`` and ``loguniform`` the bounds.
        ``lognormal`` and ``loguniform`` need ``0 < low``, ``logitnormal`` needs
        ``0 < low < high < 1``.
    source : str
        Where the range comes from: a publication's range or spread, or the stated default of
        an order-of-magnitude assumption (e.g. "95 % within 3-fold").
    catalog_value : float, optional
        The catalogue's own value, recorded automatically when a drawn or calibrated value
        replaces it (:meth:`Catalog.with_values`); never written by hand. A ``lognormal`` prior
        stays centred on it, and the moved value may lie outside ``[low, high]`` (a draw from
        the prior's tails, or a posterior value).
    """

    dist: str
    low: float
    high: float
    source: str = Field(min_length=3)
    catalog_value: float | None = None

    @field_validator("dist")
    @classmethod
    def _known_dist(cls, dist: str) -> str:
        if dist not in PRIOR_DISTRIBUTIONS:
            raise ValueError(
                f"unknown prior distribution {dist!r}; expected one of "
                + ", ".join(PRIOR_DISTRIBUTIONS)
            )
        return dist

    @model_validator(mode="after")
    def _bounds(self) -> Prior:
        low, high = self.low, self.high
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"prior bounds must be finite numbers (got low {low}, high {high})")
        if not low < high:
            raise ValueError(f"prior needs low < high (got low {low}, high {high})")
        if self.dist in ("lognormal", "loguniform") and low <= 0:
            raise ValueError(f"a {self.dist} prior needs positive bounds (got low {low})")
        if self.dist == "logitnormal" and not (0 < low and high < 1):
            raise ValueError(
                f"a logitnormal prior needs bounds inside (0, 1) (got low {low}, high {high})"
            )
        return self


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
    setting : bool
        True for a protocol, instrument or analysis setting that the experimenter chooses (cells
        seeded per well, inoculum, first dosing day, pixel size, peak-picking threshold). The twin
        simulates the protocol as stated, so a setting is never drawn: it has no prior even when
        the study's own value was not retrieved (then ``assumption`` is also true and the source
        says so). Change it in the protocol or the catalogue, not in the ensemble.
    note : str
        Free text: the arithmetic of a derivation, the context of a measurement.
    prior : Prior or None
        The range of an uncertain value (every assumption in the packaged catalogue has one; the
        loader enforces it). The value must lie inside ``[prior.low, prior.high]``.
    """

    value: float
    unit: str = Field(min_length=1)
    source: str = Field(min_length=3)
    assumption: bool = False
    setting: bool = False
    note: str = ""
    prior: Prior | None = None

    @model_validator(mode="after")
    def _value_inside_prior(self) -> Quantity:
        p = self.prior
        if self.setting and p is not None:
            raise ValueError("a setting is chosen by the experimenter: it takes no prior")
        if p is not None and p.catalog_value is None and not (p.low <= self.value <= p.high):
            raise ValueError(
                f"value {self.value:g} lies outside its prior range [{p.low:g}, {p.high:g}]"
            )
        return self

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
    covariates: dict[Literal["smoking_CL"], Quantity] = Field(default_factory=dict)
    """Multiplicative covariate effects on typical values (dimensionless): ``smoking_CL``
    multiplies CL in current smokers (e.g. erlotinib, CYP1A2 induction)."""

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


class BypassCellLine(_Strict):
    """How much of a bypass receptor one cell line carries, and the ligand it makes itself."""

    receptor: Quantity
    """Receptor level, relative to the level the receptor's ``efficacy`` and ``weight`` refer to
    (unit ``"1"``; 0 = no receptor)."""
    ligand_autocrine: Quantity | None = None
    """Ligand at the receptor from the cells' own secretion (molar or mass concentration); none
    when absent."""


class BypassInhibitor(_Strict):
    """A drug's inhibition constant on a bypass receptor's kinase (nominal concentration in 10 %
    serum medium, as the catalogue's cellular potencies are).

    For a compound that is not in ``drugs.yaml`` (an in-vitro tool or a drug the twin has no PK
    for), ``molecular_weight`` and ``fu_plasma`` (human plasma unbound fraction, for the binding
    in serum medium) are given here; for a catalogue drug they come from ``drugs.yaml`` and must
    not be repeated."""

    k: Quantity
    drug_class: str = ""
    molecular_weight: Quantity | None = None
    fu_plasma: Quantity | None = None


class BypassReceptor(_Strict):
    """A second receptor that can carry the survival signal past ALK (``bypass.yaml``).

    x = R · ε · θ / (1 + Σ C_k / K_k), θ = L / (L + K_d), L = L_medium + L_autocrine, and the
    survival signal gains w · x (docs/model.md §2, "Other bypass receptors").
    """

    name: str
    ligand: str = Field(min_length=1)
    description: str = ""
    ligand_kd: Quantity
    ligand_molar_mass: Quantity
    efficacy: Quantity
    weight: Quantity
    ligand_medium: Quantity
    """Ligand added to (or present in) the culture medium; in vitro only."""
    cell_lines: dict[str, BypassCellLine] = Field(default_factory=dict)
    inhibitors: dict[str, BypassInhibitor] = Field(default_factory=dict)


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


class PosteriorSummary(_Strict):
    """What the calibration (``leptotwin calibrate-study``) learnt about one catalogue value:
    the posterior median and central 95 % credible interval, in the quantity's unit."""

    median: float
    low: float
    high: float
    unit: str | None = None
    """When given, it must equal the catalogue unit of the value (a guard against rescaling)."""

    @model_validator(mode="after")
    def _ordered(self) -> PosteriorSummary:
        nums = (self.low, self.median, self.high)
        if not all(math.isfinite(x) for x in nums) or not self.low <= self.median <= self.high:
            raise ValueError(
                "a posterior summary needs finite low <= median <= high "
                f"(got {self.low:g}, {self.median:g}, {self.high:g})"
            )
        return self
