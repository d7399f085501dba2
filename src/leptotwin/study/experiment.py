"""A lab's own experiment, described for calibration and PEtab export (``experiment.yaml``).

An experiment file says what was done (arms, regimens, which mice), where the data are and how
they map to the twin's observables, how noisy each observable is, and which catalogue values the
data should inform. Schema (every key other than those marked optional is required)::

    name: own-lab-demo                 # text; names the PEtab problem
    model: lmc_mouse                   # the LMC twin of the mouse (the only model so far)
    site: leptomeningeal               # optional: leptomeningeal (default) or subcutaneous
                                       #   (a flank xenograft measured by calipers)
    inoculum: A925L/AR                 # A925L/AR or A925LPE3, as in protocols (*)
    days: 28                           # follow-up, days after inoculation (dose events up to
                                       #   here) (*)
    arms:                              # arm name -> regimens (drug -> text in the regimen (*)
      vehicle:                         #   grammar, timed from treatment start) and its mice
        regimens: {}
        subjects: [m01, m02, m03]
      osimertinib:
        regimens: {osimertinib: "25 mg/kg QD"}
        subjects: [m04, m05, m06]
    data:                              # paths relative to this file
      bli: bli.csv                     # optional; tidy BLI table: mouse, arm, day, total_flux_p_s
      caliper: caliper.csv             # optional (site: subcutaneous); tidy caliper table:
                                       #   mouse, day, optional arm, length_mm + width_mm or
                                       #   volume_mm3 (leptotwin.formats.caliper)
      pk: pk.csv                       # optional; PK table: subject, time_h, drug, matrix,
                                       #   concentration, unit, lloq
      viability: viability.csv         # optional; in-vitro dose-response table: cell_line,
                                       #   drug, dose (nM), response (% of vehicle); optional
                                       #   perturbation, partner_drug, partner_conc_nM, plate,
                                       #   well, replicate, curve; or the raw plate-reader
                                       #   exports and their layout instead (as fit-curves
                                       #   --plate/--layout): {plates: [p1.csv, p2.csv],
                                       #   layout: layout.csv} (plate: FILE for one export)
      elisa: elisa.csv                 # optional; supernatant AREG (pg/mL) per cell line after
                                       #   a conditioning time (leptotwin elisa's samples.csv)
      qpcr: qpcr.csv                   # optional; fold changes (2^-ddCt) of miR-449a and AREG
                                       #   (leptotwin qpcr's samples.csv or summary.csv)
    observables:                       # id -> unit, noise model and its SD
      total_flux: {unit: p/s, noise: lognormal, sigma: 0.3}
      tumor_volume: {unit: mm^3, noise: lognormal, sigma: 0.2}   # site: subcutaneous
      plasma:osimertinib: {unit: nM, noise: lognormal, sigma: 0.2}
      csf:osimertinib: {unit: ng/mL, noise: normal, sigma: 0.05}
      viability: {unit: "%", noise: normal, sigma: 8, plate_sigma: 0.02}  # plate_sigma and
                                       #   sigma_rel (signal-proportional SD) optional
      supernatant_areg: {unit: pg/mL, noise: lognormal, sigma: 0.15}
      relative_expression: {unit: fold, noise: lognormal, sigma: 0.25, calibrator: A925LPE3}
    estimate:                          # optional; catalogue paths (``leptotwin catalog``)
      - pathway.birth_max
      - osimertinib.pk.mouse.CL
      - pathway.egfr_weight            #   pathway and cell-line values too (A925L/AR.mir449a)
    population:                        # optional; nonlinear mixed-effects PK (FOCE-I), one fit
      - drug: osimertinib              #   per drug and matrix (leptotwin calibrate)
        matrix: plasma                 # plasma or csf
        random_effects: [CL, V, ka]    # optional (default all three)
        omega: diagonal                # optional: diagonal (default) or full
        error: proportional            # optional: proportional (default, on ln C),
                                       #   proportional_linear (NONMEM's) or combined
        blq: m1                        # optional: m1 (default, samples below the LLOQ left
                                       #   out) or m3 (censored in the likelihood)
      - observable: total_flux         #   a population growth fit of the BLI data (at most one)
        omega: diagonal                # optional: diagonal (default) or full
        estimation: reml               # optional: reml (default) or ml
        time_origin: treatment_start   # optional: treatment_start (default) or first_image
        background_p_s: 2.0e5          # optional: images at or below it left out

(*) ``inoculum``, ``days`` and ``arms`` describe the mice: required with an in-vivo
observable (``total_flux``, ``plasma:<drug>``, ``csf:<drug>``) or a ``population`` block, and
may be left out of an in-vitro-only experiment (``viability``, ``elisa`` and ``qpcr`` data).

Observables: ``total_flux`` (BLI total flux over the ROI, p/s: live cells × the median flux per
cell seen by the camera + the median background, ``bli`` block of the assay catalogue;
leptomeningeal site only), ``tumor_volume`` (caliper volume of a subcutaneous tumour, ``mm^3``:
live cells / the catalogue's cell density ``sc_mouse.parameters.cell_density``; subcutaneous
site only),
``plasma:<drug>`` / ``csf:<drug>`` (total plasma and CSF concentration of a drug or active
metabolite, ``nM`` or ``ng/mL``) and ``viability`` (in-vitro viability after a 72 h exposure, %
of the vehicle wells of the same cell line and perturbation; unit ``%``, noise ``normal``),
``supernatant_areg`` (AREG in conditioned medium, ``pg/mL``) and ``relative_expression`` (qPCR
fold change of miR-449a or AREG mRNA against the ``calibrator`` cell line, ``fold``), both
``lognormal``: their tables, model values and checks are in
:mod:`leptotwin.study.experiment_invitro`.
Noise: ``lognormal`` (``sigma`` is the SD of ln y) or ``normal`` (``sigma`` in the observable's
unit).

Site. ``site: subcutaneous`` simulates the tumour under the skin
(:mod:`leptotwin.model.tumor`: drug at unbound plasma × Kp,uu, AREG in the tumour interstitium;
block ``sc_mouse`` of ``in_vivo.yaml``); its in-vivo observable is ``tumor_volume`` from a
``caliper`` table, and ``total_flux`` (or BLI data) is refused, as ``tumor_volume`` (or caliper
data) is at the leptomeningeal site. PK observables and the treatment start are the same at both.

Data. The BLI table is the tidy format the virtual imager writes and :mod:`leptotwin.analysis.
growth` reads (``day``: days after inoculation). The caliper table
(:func:`leptotwin.formats.caliper.read_caliper_table`) has one row per mouse and day (``day``:
days after inoculation) with ``length_mm`` and ``width_mm`` (volume ``L × W² / 2``) or
``volume_mm3``; an ``arm`` column, when present, must agree with the experiment file; rows whose
width exceeds their length are kept and listed in :attr:`Experiment.caliper_notes`. The PK
table has one row per sample: ``subject`` (a mouse of an arm), ``time_h`` (hours after
treatment start, the time origin of the regimens), ``drug``, ``matrix`` (``plasma`` or
``csf``), ``concentration``, ``unit`` (as the observable's) and ``lloq`` (same unit; empty when
not reported). A sample below its LLOQ is below the quantification limit and is left out of the
likelihood (Beal's method M1; PEtab v1 has no censoring); the loader counts them.

In-vitro data. The viability table is the tidy dose-response table the toolkit writes
(:func:`leptotwin.formats.plate_layout.to_dose_response`, after ``normalise_to_controls``): one
row per well with ``cell_line`` (a catalogue line: ``leptotwin catalog``), ``drug`` (a drug
with a pathway potency, or ``AREG``: recombinant amphiregulin), ``dose`` (nM, >= 0; a column
``dose_nM`` is read the same) and ``response`` (% of vehicle); optional ``perturbation`` (a
catalogue perturbation, e.g. ``siAREG``; several joined by ``+``), ``partner_drug`` and
``partner_conc_nM`` (a second agent at a fixed dose in every well of the curve, the vehicle
wells excepted), ``plate``, ``well``, ``replicate`` and ``curve`` (kept, not used). Its model
value is the twin's noise-free 72 h culture (:func:`leptotwin.study.calibrate_experiment.
viability_simulation`). Exposure 72 h (:data:`VIABILITY_HOURS`). Instead of the table,
``viability`` may map ``plates`` (a list; ``plate``: one file) and ``layout`` to the raw
plate-reader exports and the plate layout ``leptotwin fit-curves --plate/--layout`` reads: the
toolkit's readers, ``merge_plate``, ``normalise_to_controls`` (groups: plate, cell line,
perturbation) and ``to_dose_response`` turn them into this table, each vehicle well once
(:mod:`leptotwin.study.experiment_plates`: what the layout expresses, combinations included).

Normalisation error. The wells normalised by the same vehicle mean share its error: a response
is ``y_i = m_i (1 + delta_g) + eps_i`` with ``eps_i ~ N(0, sigma^2)`` per well and ``delta_g ~
N(0, tau^2)`` shared by the wells of group ``g`` (:func:`viability_groups`: the wells of one
plate, cell line and perturbation, as the toolkit normalises a plate; a well without a plate,
its curve). The vehicle wells themselves (every agent at dose 0) are the reference: their model
value is 100 % whatever the parameters and their normalised mean is 100 by construction, so they
say nothing of ``delta_g`` and stay independent wells. ``tau``: the viability observable's
optional ``plate_sigma`` (relative SD, 0.02 = 2 %; 0: independent wells, the likelihood
without the term); without it ``sigma / (100 sqrt(n))``, the relative SD of the mean of the
group's ``n`` vehicle wells when each has SD ``sigma`` % at 100 % (:func:`viability_plate_sigma`;
a group whose vehicle wells are not in the table then needs ``plate_sigma``). A plate reader's
noise also grows with the signal: the optional ``sigma_rel`` (relative, e.g. 0.05) makes a
well's SD ``sqrt(sigma² + (sigma_rel m)²)`` at model value ``m`` % (vehicle wells: at 100 %).

Population. Each ``population`` entry asks ``leptotwin calibrate`` for a population fit
(:func:`leptotwin.calibration.population.fit_population_pk`: one compartment, first-order
absorption, between-subject variability on the ``random_effects``) of the PK table's rows of one
drug in one matrix, one subject per mouse. Its dose records (:func:`population_doses`) are the
administrations of the mouse's arm regimen of that drug up to the follow-up, in mg: a dose in
mg/kg times the catalogue's mouse body weight (``mouse.body_weight``, 25 g, the weight with which
the twin's PK model converts mg/kg, :meth:`leptotwin.catalog.Catalog.pk_parameters`), one in
mg/m2 times the catalogue's mouse body surface. The drug must be given orally by every arm with
its data (the model has no iv input; a metabolite has no doses of its own), and at least two
mice need data (:func:`population_data`). With ``blq: m3`` the entry's samples below a reported
LLOQ enter its fit as censored (Beal's M3: P(y < LLOQ) in the likelihood, see
:mod:`leptotwin.calibration.population`) instead of being left out; a mouse may then have
censored samples only. A sample with a concentration of 0 and no LLOQ stays left out.

Population growth. A ``population`` entry with ``observable: total_flux`` (instead of ``drug``
and ``matrix``) asks for the population growth model of the BLI table
(:func:`leptotwin.calibration.population_growth.fit_population_growth`: ln flux of mouse ``i``
in arm ``a`` = (β0 + b0_i) + (β1_a + b1_i) t, (b0_i, b1_i) ~ N(0, Ω), residual N(0, σ²); REML
by default). ``t`` is in days from the catalogue's treatment start (images before it are left
out: the arms' rates are those under treatment) or, with ``time_origin: first_image``, from the
table's first imaging day. Images at or below ``background_p_s`` are left out (at the floor the
log-linear model does not hold; not censored). Every arm with BLI data needs images of at least
two mice (:func:`population_growth_data`); arms without BLI data are not in the fit. Its keys
are ``observable, omega, estimation, time_origin, background_p_s``; a PK key there (or a growth
key in a PK entry) is an error. At ``site: subcutaneous`` the entry names ``observable:
tumor_volume`` and fits ln caliper volume (mm³) of the caliper table the same way; it takes no
``background_p_s`` (a BLI floor), and a volume <= 0 is an error (no logarithm).

Bad input raises one :class:`~leptotwin.errors.LeptotwinError` naming the file, the row or line
and the field: an unknown key, model, inoculum, observable or noise model; a regimen the parser
cannot read; a data row whose observable is not declared, whose unit differs from the declared
one, whose concentration or LLOQ is negative, whose subject is in no arm, or whose subject's arm
gives no dose of the drug (a subject without dose records); a BLI mouse in another arm than the
YAML says; a viability table without one of its columns, with an unknown cell line, drug or
perturbation, a negative dose, a response that is no number or above 1000 % (a raw signal?);
plate-reader exports and a layout that do not read, do not match (a plate or a layout well
without readings) or name an unknown cell line, drug or perturbation (naming file, well, field);
a caliper row whose mouse is in no arm or another arm, or whose length, width or volume is
missing, negative or (log-normal noise) zero (:mod:`leptotwin.formats.caliper`); the tumour
observable or data of the other site (``total_flux`` or BLI data with ``site: subcutaneous``,
``tumor_volume`` or caliper data at the leptomeningeal site);
a ``plate_sigma`` on another observable than ``viability``, or none while a group of wells
has no vehicle wells in the table;
in-vivo observables without ``inoculum``, ``days`` or ``arms``; a population entry whose drug
and matrix have no rows in the PK table, whose matrix or random effect is unknown, whose drug no
arm gives orally, or which repeats another entry; a population entry whose observable is not
``total_flux`` or ``tumor_volume``, or not the site's tumour observable, a second growth entry,
``background_p_s`` with ``tumor_volume``, or a growth fit with an arm whose BLI (caliper) data
come from fewer than two mice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leptotwin.assays.viability import LIGAND  # recombinant amphiregulin as a well's agent
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.formats.caliper import read_caliper_table, row_label
from leptotwin.formats.mouse_table import check_mouse_day_table
from leptotwin.model.cohort import Arm
from leptotwin.model.regimen import Regimen, doses_by_route, parse_regimen
from leptotwin.model.tumor import SITES
from leptotwin.study.protocol_schema import (
    MAX_FOLLOW_UP_DAYS,
    _error,
    _lines,
    load_packaged_protocol,
)

__all__ = [
    "BLI_OBSERVABLE",
    "BURDEN_OBSERVABLES",
    "CALIPER_OBSERVABLE",
    "GROWTH_VALUE_COLUMN",
    "PK_COLUMNS",
    "POPULATION_PARAMETERS",
    "SITES",
    "VIABILITY_COLUMNS",
    "VIABILITY_HOURS",
    "VIABILITY_OBSERVABLE",
    "Experiment",
    "GrowthPopulationEntry",
    "Observable",
    "PopulationEntry",
    "experiment_from_design",
    "load_experiment_file",
    "population_data",
    "population_doses",
    "population_growth_data",
    "viability_groups",
    "viability_plate_sigma",
]

BLI_OBSERVABLE = "total_flux"
#: The caliper observable of a subcutaneous tumour (mm³).
CALIPER_OBSERVABLE = "tumor_volume"
#: The tumour-burden observables (BLI at the leptomeningeal site, caliper volume at the
#: subcutaneous one), timed in days after inoculation: the engine's cells times a scale (plus
#: an offset), not a PK observable.
BURDEN_OBSERVABLES = (BLI_OBSERVABLE, CALIPER_OBSERVABLE)
_VOLUME_UNITS = ("mm^3", "mm3")
#: The tumour observable of each site.
_SITE_OBSERVABLE = {"leptomeningeal": BLI_OBSERVABLE, "subcutaneous": CALIPER_OBSERVABLE}
#: The data a population growth fit of each tumour observable reads.
_GROWTH_DATA = {BLI_OBSERVABLE: "BLI", CALIPER_OBSERVABLE: "caliper"}
#: The value column of :func:`population_growth_data` for each tumour observable.
GROWTH_VALUE_COLUMN = {BLI_OBSERVABLE: "total_flux_p_s", CALIPER_OBSERVABLE: "volume_mm3"}
PK_COLUMNS = ("subject", "time_h", "drug", "matrix", "concentration", "unit", "lloq")
_PK_UNITS = ("nM", "ng/mL")
#: Above these a reading is a typo or a unit slip, not a measurement: 10 mM (no small-molecule
#: drug reaches it in plasma or CSF; most are insoluble well below) and 10 mg/mL; BLI: 1e13 p/s
#: (a mouse at its neurological endpoint emits about 1e9-1e11 p/s).
_MAX_PK = {"nM": 1e7, "ng/mL": 1e7}
_MAX_FLUX_P_S = 1e13
_MATRICES = ("plasma", "csf")
VIABILITY_OBSERVABLE = "viability"
#: The columns of :attr:`Experiment.viability` (one row per well of the viability table).
VIABILITY_COLUMNS = (
    "observable",
    "curve",
    "cell_line",
    "perturbation",
    "drug",
    "dose_nM",
    "partner",
    "partner_nM",
    "plate",
    "replicate",
    "value",
    "source",
)
#: Exposure of the in-vitro viability assay (h): the packaged viability protocol's (as the
#: calibration readouts read it).
VIABILITY_HOURS = float(load_packaged_protocol("viability")["hours"])
#: A response above this (% of vehicle) is a raw reader signal, not a normalised one.
_MAX_RESPONSE_PCT = 1000.0
#: The parameters of the population PK model that can carry a random effect (those of
#: :data:`leptotwin.calibration.population.PARAMETERS`, not imported: it loads scipy).
POPULATION_PARAMETERS = ("CL", "V", "ka")


class _ObservableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str
    noise: Literal["lognormal", "normal"]
    sigma: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    plate_sigma: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] | None = None
    sigma_rel: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] | None = None
    calibrator: str | None = None  # relative_expression only (experiment_invitro)
    calibrator_sigma: Annotated[float, Field(ge=0, lt=5, allow_inf_nan=False)] | None = None
    blq: Literal["m1", "m3"] | None = None  # supernatant_areg only (experiment_invitro)


class _ArmSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    regimens: dict[str, str] = Field(default_factory=dict)
    subjects: list[str] = Field(min_length=1)


class _DataSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bli: str | None = None
    caliper: str | None = None
    pk: str | None = None
    # a tidy table's file name, or a mapping naming raw plate-reader exports and their layout
    # (checked by leptotwin.study.experiment_plates)
    viability: Any = None
    elisa: str | None = None
    qpcr: str | None = None


class _PopulationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    observable: str | None = None
    drug: str | None = Field(default=None, min_length=1)
    matrix: str | None = None
    random_effects: list[str] = Field(
        default_factory=lambda: list(POPULATION_PARAMETERS), min_length=1
    )
    omega: Literal["diagonal", "full"] = "diagonal"
    error: Literal["proportional", "proportional_linear", "combined"] = "proportional"
    blq: Literal["m1", "m3"] = "m1"
    estimation: Literal["reml", "ml"] = "reml"
    time_origin: Literal["treatment_start", "first_image"] = "treatment_start"
    background_p_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


#: The keys of a population PK entry and of a population growth entry.
_PK_KEYS = ("drug", "matrix", "random_effects", "omega", "error", "blq")
_GROWTH_KEYS = ("observable", "omega", "estimation", "time_origin", "background_p_s")


class _ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    model: Literal["lmc_mouse"]
    site: Literal["leptomeningeal", "subcutaneous"] = "leptomeningeal"
    inoculum: Literal["A925LPE3", "A925L/AR"] | None = None
    days: Annotated[float, Field(gt=0, le=MAX_FOLLOW_UP_DAYS, allow_inf_nan=False)] | None = None
    arms: dict[str, _ArmSpec] = Field(default_factory=dict, min_length=1)
    data: _DataSpec
    observables: dict[str, _ObservableSpec] = Field(min_length=1)
    estimate: list[str] = Field(default_factory=list)
    population: list[_PopulationSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class PopulationEntry:
    """One population fit asked for: ``drug`` in ``matrix`` (``plasma`` or ``csf``), random
    effects on ``random_effects`` (some of CL, V, ka), ``omega`` (``diagonal`` or ``full``),
    ``error`` (``proportional``, ``proportional_linear`` or ``combined``) and ``blq`` (``m1``:
    samples below the LLOQ left out; ``m3``: censored); ``index`` is its place in the file's
    list."""

    index: int
    drug: str
    matrix: str
    random_effects: tuple[str, ...]
    omega: str
    error: str
    blq: str = "m1"

    @property
    def observable(self) -> str:
        return f"{self.matrix}:{self.drug}"

    @property
    def stem(self) -> str:
        """``population_<drug>_<matrix>``, the stem of the fit's output files."""
        from leptotwin._fileio import safe_name

        return safe_name(f"population_{self.drug}_{self.matrix}")


@dataclass(frozen=True)
class GrowthPopulationEntry:
    """The population growth fit asked for (a ``population`` entry with ``observable:
    total_flux``, or ``tumor_volume`` at the subcutaneous site): ``omega`` (``diagonal`` or
    ``full``), ``estimation`` (``reml`` or ``ml``),
    ``time_origin`` (``treatment_start`` or ``first_image``) and ``background_p_s`` (images
    at or below it left out; None: every image kept); ``index`` is its place in the file's
    list."""

    index: int
    omega: str = "diagonal"
    estimation: str = "reml"
    time_origin: str = "treatment_start"
    background_p_s: float | None = None
    observable: str = "total_flux"

    @property
    def stem(self) -> str:
        """``population_growth``, the stem of the fit's output files."""
        return "population_growth"


@dataclass(frozen=True)
class Observable:
    """One observable: ``kind`` is ``bli``, ``plasma``, ``csf`` or ``viability``; ``drug`` is
    None for BLI and viability; ``plate_sigma`` only for viability (see the module docstring,
    "Normalisation error")."""

    id: str
    kind: str
    drug: str | None
    unit: str
    noise: str
    sigma: float
    #: viability only: relative SD of the vehicle mean that normalises a group of wells (None:
    #: the default of :func:`viability_plate_sigma`).
    plate_sigma: float | None = None
    #: relative_expression only: the cell line the fold changes are relative to.
    calibrator: str | None = None
    #: viability only: the part of a well's SD that grows with its signal (relative; a well's SD
    #: is sqrt(sigma² + (sigma_rel · m)²) at model value m %).
    sigma_rel: float = 0.0
    #: relative_expression only: SD of ln of the calibrator's level, shared by the fold changes
    #: of one run and target (None: the default of
    #: :func:`leptotwin.study.experiment_invitro.calibrator_sigmas`).
    calibrator_sigma: float | None = None
    #: supernatant_areg only: samples outside the standard curve's range left out (``m1``) or
    #: censored at the LLOQ / ULOQ in the likelihood (``m3``).
    blq: str = "m1"


@dataclass(frozen=True)
class Experiment:
    """A loaded, checked experiment (see the module docstring for the file it comes from).

    Attributes
    ----------
    name, model : str
    inoculum : str or None
        None for an in-vitro-only experiment.
    days : float or None
        Follow-up (days after inoculation); None for an in-vitro-only experiment.
    species : str
        ``mouse`` for ``lmc_mouse``.
    arms : tuple of Arm
        Regimens parsed, timed from treatment start.
    subjects : dict[str, str]
        Mouse → arm name.
    observables : dict[str, Observable]
    measurements : DataFrame
        One row per datum kept: ``subject, arm, observable, time_h`` (hours after inoculation),
        ``value`` (in the observable's unit), ``source`` (``file:row``).
    n_below_lloq : int
        PK samples left out as below their LLOQ.
    estimate : tuple of str
        Catalogue paths to estimate.
    path : Path
    design : dict
        The experiment file's mapping without ``data`` (what ``export-petab`` writes into
        ``problem.yaml`` so that ``calibrate --petab`` can read the problem back).
    population : tuple of PopulationEntry
        Population PK fits asked for (``population`` block; empty without one).
    population_growth : tuple of GrowthPopulationEntry
        The population growth fit asked for (a ``population`` entry with ``observable:
        total_flux``; empty without one, at most one).
    below_lloq : dict[str, int]
        PK samples left out as below their LLOQ, per observable (empty when not known, as for
        a PEtab problem read back).
    censored : DataFrame or None
        The PK samples below a reported LLOQ, for population fits with ``blq: m3``:
        ``subject, arm, observable, time_h`` (hours after inoculation), ``value`` (the reported
        concentration), ``lloq`` (the observable's unit), ``source``. None when not known (a
        PEtab problem read back: its fits then have no censored samples).
    viability : DataFrame or None
        The in-vitro viability table, one row per well (columns :data:`VIABILITY_COLUMNS`:
        ``dose_nM`` and ``partner_nM`` in nM, ``value`` the response in % of vehicle,
        ``source`` ``file:row``); None without one.
    elisa, qpcr : DataFrame or None
        The ELISA and qPCR rows kept (:data:`leptotwin.study.experiment_invitro.ELISA_COLUMNS`,
        ``QPCR_COLUMNS``); None without the table.
    invitro_left_out : dict[str, int]
        ELISA and qPCR rows left out per observable (flagged samples, undetermined folds).
    site : str
        ``leptomeningeal`` (default) or ``subcutaneous``.
    caliper_notes : tuple of str
        The caliper reader's notes (a width above the length), one line each.
    """

    name: str
    model: str
    inoculum: str | None
    days: float | None
    species: str
    arms: tuple[Arm, ...]
    subjects: dict[str, str]
    observables: dict[str, Observable]
    measurements: pd.DataFrame = field(repr=False)
    n_below_lloq: int
    estimate: tuple[str, ...]
    path: Path
    design: dict = field(default_factory=dict, repr=False)
    population: tuple[PopulationEntry, ...] = ()
    below_lloq: dict[str, int] = field(default_factory=dict)
    censored: pd.DataFrame | None = field(default=None, repr=False)
    viability: pd.DataFrame | None = field(default=None, repr=False)
    population_growth: tuple[GrowthPopulationEntry, ...] = ()
    elisa: pd.DataFrame | None = field(default=None, repr=False)
    qpcr: pd.DataFrame | None = field(default=None, repr=False)
    invitro_left_out: dict[str, int] = field(default_factory=dict)
    #: ``leptomeningeal`` or ``subcutaneous``: where the twin's tumour grows.
    site: str = "leptomeningeal"
    #: Notes of the caliper reader (rows whose width exceeds their length), one line each.
    caliper_notes: tuple[str, ...] = ()

    @property
    def has_viability(self) -> bool:
        """Whether the experiment carries in-vitro viability rows."""
        return self.viability is not None and len(self.viability) > 0

    @property
    def has_invitro_assays(self) -> bool:
        """Whether the experiment carries ELISA or qPCR rows."""
        return any(t is not None and len(t) > 0 for t in (self.elisa, self.qpcr))

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)


def load_experiment_file(
    path: str | os.PathLike[str], *, catalog: Catalog | None = None
) -> Experiment:
    """Read and check ``experiment.yaml`` and its data files.

    Parameters
    ----------
    path : path-like
    catalog : Catalog, optional
        Where drugs and estimated paths are looked up (default: the packaged catalogue).

    Returns
    -------
    Experiment

    Raises
    ------
    LeptotwinError
        A missing or unreadable file; a key given twice; an unknown, mistyped or out-of-range
        field; an unknown drug, observable or catalogue path; an unreadable regimen; a mouse in two
        arms; bad data rows (see the module docstring), each naming the file, row and field.
    """
    p = Path(path)
    source = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LeptotwinError(
            "cannot read the experiment file", source=source, value=str(exc)
        ) from None
    lines, duplicate = _lines(text)
    if duplicate is not None:
        key_path, line = duplicate
        raise LeptotwinError(
            "key given twice in the same mapping (the first would be ignored)",
            source=source,
            field=f"line {line}, " + ".".join(key_path),
        )
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LeptotwinError(
            "not valid YAML", source=source, value=str(exc).splitlines()[0]
        ) from None
    spec, arms, subjects, observables, cat = _design(data, source, lines, catalog)
    species = "mouse"
    frames: list[pd.DataFrame] = []
    n_blq: dict[str, int] = {}
    censored = _censored_frame([])
    t0_h = cat.in_vivo_value("lmc_mouse", "treatment_start") * 24.0
    if spec.data.bli is not None:
        frames.append(_bli_rows(p.parent / spec.data.bli, spec.data.bli, observables, subjects))
    caliper_notes: list[str] = []
    if spec.data.caliper is not None:
        if CALIPER_OBSERVABLE not in observables:  # the fix is in the YAML, not the table
            raise _error(
                source,
                lines,
                ("data", "caliper"),
                "unknown observable: the caliper table has no observable in the experiment file",
                spec.data.caliper,
                f"observables: {{{CALIPER_OBSERVABLE}: {{unit: mm^3, ...}}}}",
            )
        caliper, caliper_notes = _caliper_rows(
            p.parent / spec.data.caliper, spec.data.caliper, observables, subjects
        )
        frames.append(caliper)
    if spec.data.pk is not None:
        pk, n_blq, censored = _pk_rows(
            p.parent / spec.data.pk, spec.data.pk, observables, subjects, arms, cat, species, t0_h
        )
        frames.append(pk)
    viability = None
    if spec.data.viability is not None:
        from leptotwin.study.experiment_plates import read_viability_data

        viability = read_viability_data(
            spec.data.viability, p.parent, observables, cat, source=source, lines=lines
        )
        viability_plate_sigma(viability, observables[VIABILITY_OBSERVABLE], source=source)
    from leptotwin.study.experiment_invitro import read_invitro_tables

    elisa, qpcr, left_out = read_invitro_tables(
        p.parent, spec.data.elisa, spec.data.qpcr, observables, cat
    )
    n_vitro = sum(len(t) for t in (viability, elisa, qpcr) if t is not None)
    if sum(len(f) for f in frames) + n_vitro == 0:
        raise _error(
            source,
            lines,
            ("data",),
            "no data to fit",
            expected="a bli, caliper, pk, viability, elisa or qpcr table",
        )
    measurements = (
        pd.concat(frames, ignore_index=True) if frames else _censored_frame([]).drop(columns="lloq")
    )
    exp = Experiment(
        name=spec.name,
        model=spec.model,
        inoculum=spec.inoculum,
        days=None if spec.days is None else float(spec.days),
        species=species,
        arms=arms,
        subjects=subjects,
        observables=observables,
        measurements=measurements,
        n_below_lloq=sum(n_blq.values()),
        estimate=tuple(spec.estimate),
        path=p,
        design={k: v for k, v in data.items() if k != "data"},
        population=_population(spec, arms, observables, source, lines),
        below_lloq=n_blq,
        censored=censored,
        viability=viability,
        population_growth=_population_growth(spec, observables, source, lines),
        elisa=elisa,
        qpcr=qpcr,
        invitro_left_out=left_out,
        site=spec.site,
        caliper_notes=tuple(caliper_notes),
    )
    for entry in exp.population:  # the data of each fit, checked now rather than after sampling
        population_data(exp, entry, catalog=cat, lines=lines)
    for growth in exp.population_growth:
        population_growth_data(exp, growth, catalog=cat, lines=lines)
    return exp


def experiment_from_design(
    design: dict,
    measurements: pd.DataFrame,
    *,
    source: str,
    path: str | os.PathLike[str],
    n_below_lloq: int = 0,
    catalog: Catalog | None = None,
) -> Experiment:
    """An experiment from its design (the mapping of an experiment file without ``data``) and a
    measurement table already checked by the caller (columns as :attr:`Experiment.measurements`).

    Used to read back a PEtab problem that ``leptotwin export-petab`` wrote (the design travels
    in its ``problem.yaml``, the data in ``measurements.tsv``).

    Raises
    ------
    LeptotwinError
        A design that an experiment file could not hold (as :func:`load_experiment_file`).
    """
    data = {**design, "data": {}} if isinstance(design, dict) else design
    spec, arms, subjects, observables, _ = _design(data, source, {}, catalog)
    return Experiment(
        name=spec.name,
        model=spec.model,
        inoculum=spec.inoculum,
        days=None if spec.days is None else float(spec.days),
        species="mouse",
        arms=arms,
        subjects=subjects,
        observables=observables,
        measurements=measurements,
        n_below_lloq=int(n_below_lloq),
        estimate=tuple(spec.estimate),
        path=Path(path),
        design={k: v for k, v in design.items() if k != "data"},
        population=_population(spec, arms, observables, source, {}),
        population_growth=_population_growth(spec, observables, source, {}),
        site=spec.site,
    )


def _design(
    data: object, source: str, lines: dict, catalog: Catalog | None
) -> tuple[_ExperimentSpec, tuple[Arm, ...], dict[str, str], dict[str, Observable], Catalog]:
    """The checked design of an experiment mapping (everything but its data tables)."""
    if not isinstance(data, dict):
        raise LeptotwinError(
            "an experiment file is a mapping",
            source=source,
            expected="name, model, inoculum, days, arms, data, observables (see docs)",
        )
    try:
        spec = _ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(x) for x in err["loc"])
        extra = err["type"] == "extra_forbidden"
        raise _error(
            source,
            lines,
            loc,
            "unknown field" if extra else err["msg"].removeprefix("Value error, "),
            value=None if extra else err.get("input"),
        ) from None
    cat = catalog or load_catalog()
    species = "mouse"
    observables = _observables(spec, cat, species, source, lines)
    from leptotwin.study.experiment_invitro import INVITRO_ASSAY_OBSERVABLES

    vitro = (VIABILITY_OBSERVABLE, *INVITRO_ASSAY_OBSERVABLES)
    in_vivo = [o for o in spec.observables if o not in vitro]
    _check_site(spec, source, lines)
    if in_vivo or spec.population or spec.data.bli or spec.data.caliper or spec.data.pk:
        why = (
            f"observable {in_vivo[0]}"
            if in_vivo
            else "bli, caliper or pk data, or a population block"
        )
        for key in ("inoculum", "days", "arms"):
            if not getattr(spec, key):
                raise _error(
                    source,
                    lines,
                    (key,),
                    f"missing field: the mice of an in-vivo experiment ({why})",
                    expected="inoculum, days and arms (only an in-vitro-only experiment, "
                    "viability, elisa or qpcr data alone, leaves them out)",
                )
    arms, subjects = _arms(spec, cat, species, source, lines)
    for i, q in enumerate(spec.estimate):
        try:
            quantity = cat.quantity(q)
        except LeptotwinError as exc:
            raise _error(
                source, lines, ("estimate", str(i)), "unknown catalogue path", q, exc.expected
            ) from None
        if quantity.prior is None:
            raise _error(
                source,
                lines,
                ("estimate", str(i)),
                "a fixed catalogue value has no prior to estimate from",
                q,
                "a value with a prior (leptotwin catalog lists them)",
            )
    return spec, arms, subjects, observables, cat


def _check_site(spec: _ExperimentSpec, source: str, lines: dict) -> None:
    """Refuse the tumour observable (or its data) of the other site, one line each."""
    site = spec.site
    own = _SITE_OBSERVABLE[site]
    for other_site, oid in _SITE_OBSERVABLE.items():
        if other_site == site:
            continue
        data_key = "bli" if oid == BLI_OBSERVABLE else "caliper"
        if oid in spec.observables:
            raise _error(
                source,
                lines,
                ("observables", oid),
                f"{oid} is the {other_site} tumour's observable, not the {site} one's",
                oid,
                f"{own} with site: {site}, or site: {other_site}",
            )
        if getattr(spec.data, data_key) is not None:
            raise _error(
                source,
                lines,
                ("data", data_key),
                f"{data_key} data measure the {other_site} tumour, not the {site} one",
                getattr(spec.data, data_key),
                f"site: {other_site}, or data of the {site} tumour",
            )


def _arms(
    spec: _ExperimentSpec, cat: Catalog, species: str, source: str, lines: dict
) -> tuple[tuple[Arm, ...], dict[str, str]]:
    arms, subjects = [], {}
    for name, body in spec.arms.items():
        regs: dict[str, tuple[Regimen, ...]] = {}
        for drug, text in body.regimens.items():
            where = ("arms", name, "regimens", drug)
            try:
                params = cat.pk_parameters(drug, species)
                parsed = parse_regimen(text)
                routes = ("iv", *params.routes)
                bad = [r.route for r in parsed if r.route not in routes]
                if bad:
                    raise LeptotwinError(
                        f"{drug} has no {bad[0]} route in mice",
                        value=text,
                        expected="one of " + ", ".join(routes),
                    )
            except LeptotwinError as exc:
                value = exc.value if exc.value is not None else text
                raise _error(source, lines, where, exc.message, value, exc.expected) from None
            regs[drug] = parsed
        for i, mouse in enumerate(body.subjects):
            if mouse in subjects:
                raise _error(
                    source,
                    lines,
                    ("arms", name, "subjects", str(i)),
                    "mouse is in two arms",
                    mouse,
                    f"one arm per mouse (also in {subjects[mouse]!r})",
                )
            subjects[mouse] = name
        arms.append(Arm(name, regs))
    return tuple(arms), subjects


def _observables(
    spec: _ExperimentSpec, cat: Catalog, species: str, source: str, lines: dict
) -> dict[str, Observable]:
    from leptotwin.study.experiment_invitro import (
        ELISA_OBSERVABLE,
        INVITRO_ASSAY_OBSERVABLES,
        QPCR_OBSERVABLE,
        invitro_observable,
    )

    out = {}
    for oid, body in spec.observables.items():
        where = ("observables", oid)
        for key, owner, what in (
            ("blq", ELISA_OBSERVABLE, "how ELISA samples outside the standard curve are used"),
            ("calibrator_sigma", QPCR_OBSERVABLE, "the shared error of qPCR fold changes"),
        ):
            if oid != owner:
                _refuse_key(body, key, owner, what, where=where, source=source, lines=lines)
        if oid in INVITRO_ASSAY_OBSERVABLES or body.calibrator is not None:
            out[oid] = invitro_observable(oid, body, cat, source, lines)
            continue
        for key, what in (
            ("plate_sigma", "the normalisation error of in-vitro wells"),
            ("sigma_rel", "the signal-proportional noise of in-vitro wells"),
        ):
            # a well-formed BLI or PK observable: the name is checked first below
            kind = oid.partition(":")[0]
            if oid in (BLI_OBSERVABLE, CALIPER_OBSERVABLE) or (
                kind in _MATRICES and oid.partition(":")[2]
            ):
                _refuse_key(body, key, VIABILITY_OBSERVABLE, what, where, source, lines)
        if oid == BLI_OBSERVABLE:
            if body.unit != "p/s":
                raise _error(
                    source, lines, (*where, "unit"), "unit mismatch", body.unit, "p/s (photons/s)"
                )
            out[oid] = Observable(oid, "bli", None, "p/s", body.noise, body.sigma)
            continue
        if oid == CALIPER_OBSERVABLE:
            if body.unit not in _VOLUME_UNITS:
                raise _error(source, lines, (*where, "unit"), "unit mismatch", body.unit, "mm^3")
            out[oid] = Observable(oid, "caliper", None, "mm^3", body.noise, body.sigma)
            continue
        if oid == VIABILITY_OBSERVABLE:
            if body.unit != "%":
                raise _error(
                    source, lines, (*where, "unit"), "unit mismatch", body.unit, "% (of vehicle)"
                )
            if body.noise != "normal":
                raise _error(
                    source,
                    lines,
                    (*where, "noise"),
                    "viability takes normal noise (a response near 0 % has no logarithm)",
                    body.noise,
                    "normal, sigma in %",
                )
            out[oid] = Observable(
                oid,
                "viability",
                None,
                "%",
                body.noise,
                body.sigma,
                body.plate_sigma,
                sigma_rel=body.sigma_rel or 0.0,
            )
            continue
        kind, _, drug = oid.partition(":")
        if kind not in _MATRICES or not drug:
            raise _error(
                source,
                lines,
                where,
                "unknown observable",
                oid,
                f"{BLI_OBSERVABLE}, {CALIPER_OBSERVABLE}, plasma:<drug>, csf:<drug>, "
                f"{VIABILITY_OBSERVABLE}, " + ", ".join(INVITRO_ASSAY_OBSERVABLES),
            )
        try:
            cat.pk_parameters(drug, species)
        except LeptotwinError as exc:
            raise _error(source, lines, where, exc.message, drug, exc.expected) from None
        if body.unit not in _PK_UNITS:
            raise _error(
                source, lines, (*where, "unit"), "unit mismatch", body.unit, " or ".join(_PK_UNITS)
            )
        out[oid] = Observable(oid, kind, drug, body.unit, body.noise, body.sigma)
    return out


def _refuse_key(
    body: Any,
    key: str,
    owner: str,
    what: str,
    where: tuple[str, ...],
    source: str,
    lines: dict,
) -> None:
    """Raise the one-line error for an observable key that belongs to another observable
    (``key`` set on ``body``, an observable mapping at ``where``; ``owner`` the observable that
    takes it, ``what`` what it means)."""
    if getattr(body, key) is not None:
        raise _error(
            source,
            lines,
            (*where, key),
            f"{key} is {what}",
            getattr(body, key),
            f"{key} on the {owner} observable only",
        )


def _read_table(path: Path, name: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LeptotwinError("cannot read the data file", source=name, value=str(exc)) from None


def _check_mouse_arm(
    name: str, i: int, mouse: str, arm: str, subjects: dict[str, str], *, arm_optional: bool
) -> None:
    """Row ``i`` of a per-mouse table (BLI, caliper) names a mouse of the experiment file's
    arms, in its arm (an empty arm passes when ``arm_optional``).

    Raises
    ------
    LeptotwinError
        A mouse in no arm, or in another arm than the experiment file's (file, row, field).
    """
    if mouse not in subjects:
        raise LeptotwinError(
            "mouse is in no arm of the experiment file",
            source=name,
            field=f"{row_label(i)}, mouse",
            value=mouse,
        )
    if (arm or not arm_optional) and arm != subjects[mouse]:
        raise LeptotwinError(
            "mouse's arm differs from the experiment file",
            source=name,
            field=f"{row_label(i)}, arm",
            value=arm,
            expected=repr(subjects[mouse]),
        )


def _bli_rows(
    path: Path, name: str, observables: dict[str, Observable], subjects: dict[str, str]
) -> pd.DataFrame:
    if BLI_OBSERVABLE not in observables:
        raise LeptotwinError(
            "unknown observable: the BLI table has no observable in the experiment file",
            source=name,
            field="total_flux_p_s",
            expected=f"observables: {{{BLI_OBSERVABLE}: ...}}",
        )
    raw = _read_table(path, name)
    table = check_mouse_day_table(
        raw, "total_flux_p_s", source=name, what="BLI table", allow_empty=False
    )
    for i, (mouse, arm, flux) in enumerate(
        zip(table["mouse"], table["arm"], table["total_flux_p_s"], strict=True)
    ):
        _check_mouse_arm(name, i, mouse, arm, subjects, arm_optional=False)
        if flux > _MAX_FLUX_P_S:
            raise LeptotwinError(
                "implausible total flux",
                source=name,
                field=f"{row_label(i)}, total_flux_p_s",
                value=float(flux),
                expected=f"at most {_MAX_FLUX_P_S:g} p/s (a mouse at its endpoint: 1e9-1e11)",
            )
        if flux <= 0 and observables[BLI_OBSERVABLE].noise == "lognormal":
            raise LeptotwinError(
                "a log-normal observable must be > 0",
                source=name,
                field=f"{row_label(i)}, total_flux_p_s",
                value=float(flux),
            )
    return pd.DataFrame(
        {
            "subject": table["mouse"].to_numpy(object),
            "arm": table["arm"].to_numpy(object),
            "observable": BLI_OBSERVABLE,
            "time_h": table["day"].to_numpy(float) * 24.0,
            "value": table["total_flux_p_s"].to_numpy(float),
            "source": [f"{name}:{row_label(i)}" for i in range(len(table))],
        }
    )


def _caliper_rows(
    path: Path, name: str, observables: dict[str, Observable], subjects: dict[str, str]
) -> tuple[pd.DataFrame, list[str]]:
    """The caliper table's rows as measurements (``tumor_volume``, mm³) and the reader's
    notes."""
    read = read_caliper_table(path, name=name)
    table = read.table
    lognormal = observables[CALIPER_OBSERVABLE].noise == "lognormal"
    arms = []
    for i, (mouse, arm, volume) in enumerate(
        zip(table["mouse"], table["arm"], table["volume_mm3"], strict=True)
    ):
        _check_mouse_arm(name, i, mouse, arm, subjects, arm_optional=True)
        if volume <= 0 and lognormal:
            raise LeptotwinError(
                "a log-normal observable must be > 0 (leave non-palpable tumours out, or "
                "use noise: normal)",
                source=name,
                field=f"{row_label(i)}, "
                + ("volume_mm3" if "length_mm" not in table else "length_mm, width_mm"),
                value=float(volume),
            )
        arms.append(subjects[mouse])
    frame = pd.DataFrame(
        {
            "subject": table["mouse"].to_numpy(object),
            "arm": np.array(arms, dtype=object),
            "observable": CALIPER_OBSERVABLE,
            "time_h": table["day"].to_numpy(float) * 24.0,
            "value": table["volume_mm3"].to_numpy(float),
            "source": [f"{name}:{row_label(i)}" for i in range(len(table))],
        }
    )
    return frame, list(read.notes)


def _viability_rows(
    path: Path, name: str, observables: dict[str, Observable], cat: Catalog
) -> pd.DataFrame:
    """:attr:`Experiment.viability` from the viability table (see the module docstring)."""
    return _viability_frame(_read_table(path, name), name, observables, cat)


def _line_and_perturbation(line: str, pert: str, cat: Catalog, name: str, where: str) -> str:
    """A row's catalogue cell line and perturbations (``+``-joined), checked; returns the
    perturbation text with the spaces around ``+`` dropped.

    Raises
    ------
    LeptotwinError
        For an unknown cell line or perturbation (naming ``name``, ``where`` and the column).
    """
    if line not in cat.cell_lines:
        raise LeptotwinError(
            "unknown cell line",
            source=name,
            field=f"{where}, cell_line",
            value=line,
            expected="one of " + ", ".join(sorted(cat.cell_lines)),
        )
    names = [x.strip() for x in pert.split("+") if x.strip()]
    for p_name in names:
        if p_name not in cat.perturbations:
            raise LeptotwinError(
                "unknown perturbation",
                source=name,
                field=f"{where}, perturbation",
                value=p_name,
                expected="one of " + ", ".join(sorted(cat.perturbations)),
            )
    return "+".join(names)


def _viability_frame(
    raw: pd.DataFrame,
    name: str,
    observables: dict[str, Observable],
    cat: Catalog,
    where_rows: Sequence[str] | None = None,
) -> pd.DataFrame:
    """:attr:`Experiment.viability` from a tidy viability table read as text (``raw``, one row
    per well), checked as the table file is; errors and ``source`` name ``name`` and ``where_rows``
    (per row, default ``row N`` of the file)."""
    from leptotwin.model.pathway import PathwayModel

    if VIABILITY_OBSERVABLE not in observables:
        raise LeptotwinError(
            "unknown observable: the viability table has no observable in the experiment file",
            source=name,
            field="response",
            expected=f'observables: {{{VIABILITY_OBSERVABLE}: {{unit: "%", noise: normal, '
            "sigma: ...}}",
        )
    raw.columns = [str(c).strip() for c in raw.columns]
    if "dose" not in raw.columns and "dose_nM" in raw.columns:
        raw = raw.rename(columns={"dose_nM": "dose"})
    for col in ("cell_line", "drug", "dose", "response"):
        if col not in raw.columns:
            raise LeptotwinError(
                "missing column",
                source=name,
                field=col,
                expected="columns cell_line, drug, dose (nM), response (% of vehicle); "
                "optional perturbation, partner_drug, partner_conc_nM, plate, replicate",
            )
    if raw.empty:
        raise LeptotwinError("no rows", source=name, expected="one row per well")
    drugs = sorted(PathwayModel.from_catalog(cat).drugs)
    agents = (*drugs, LIGAND)

    def text(col: str) -> list[str]:
        return [str(x).strip() for x in raw[col]] if col in raw.columns else [""] * len(raw)

    rows = []
    for i, (line, pert, drug, dose, resp, partner, pconc, plate, rep) in enumerate(
        zip(
            text("cell_line"),
            text("perturbation"),
            text("drug"),
            text("dose"),
            text("response"),
            text("partner_drug"),
            text("partner_conc_nM"),
            text("plate"),
            text("replicate"),
            strict=True,
        )
    ):
        where = f"row {i + 2}" if where_rows is None else where_rows[i]
        _line_and_perturbation(line, pert, cat, name, where)
        for col, agent in (("drug", drug), ("partner_drug", partner)):
            if (agent or col == "drug") and agent not in agents:
                raise LeptotwinError(
                    "unknown drug",
                    source=name,
                    field=f"{where}, {col}",
                    value=agent,
                    expected="a drug with a pathway potency (" + ", ".join(drugs) + ") or "
                    f"{LIGAND} (recombinant amphiregulin)",
                )
        x = _number(dose, name, f"{where}, dose")
        y = _number(resp, name, f"{where}, response")
        if x < 0:
            raise LeptotwinError(
                "negative dose", source=name, field=f"{where}, dose", value=x, expected="nM, >= 0"
            )
        if abs(y) > _MAX_RESPONSE_PCT:
            raise LeptotwinError(
                "implausible response",
                source=name,
                field=f"{where}, response",
                value=y,
                expected=f"% of vehicle, within ±{_MAX_RESPONSE_PCT:g} (a raw reader signal? "
                "normalise it to the vehicle wells first)",
            )
        xp = 0.0
        if partner:
            xp = _number(pconc, name, f"{where}, partner_conc_nM")
            if xp < 0:
                raise LeptotwinError(
                    "negative dose",
                    source=name,
                    field=f"{where}, partner_conc_nM",
                    value=xp,
                    expected="nM, >= 0",
                )
        elif not _blank_or_zero(pconc):
            raise LeptotwinError(
                "a partner dose without a partner drug",
                source=name,
                field=f"{where}, partner_drug",
                value=pconc,
                expected="the partner's name in partner_drug, or an empty partner_conc_nM",
            )
        extra = [pert] if pert else []
        extra += [f"+ {partner} {xp:g} nM"] if partner else []
        label = " | ".join([line, drug, *extra])
        rows.append(
            (VIABILITY_OBSERVABLE, label, line, pert, drug, x, partner, xp, plate, rep, y,
             f"{name}:{where}")
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(VIABILITY_COLUMNS))
    for c in ("dose_nM", "partner_nM", "value"):
        frame[c] = frame[c].astype(float)
    return frame


def viability_groups(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The normalisation groups of a viability table (:attr:`Experiment.viability`'s columns).

    A group is the wells that share one vehicle mean (module docstring, "Normalisation
    error"): with a ``plate``, the wells of that plate, cell line and perturbation (the groups of
    :func:`leptotwin.formats.plate_layout.normalise_to_controls` as the toolkit's plate reading
    uses them); a well without a plate, its curve (``curve``: cell line, drug, perturbation,
    partner). Vehicle wells (every agent at dose 0) are the reference of their group, not a
    member of it.

    Returns
    -------
    codes : ndarray of int
        Per row: its group (0, 1, ...), or -1 for a vehicle well.
    n_vehicle : ndarray of int
        Per group: the vehicle wells of its cell line and perturbation on its plate (a group
        without a plate: those without a plate).
    labels : list of str
        Per group: ``plate P01, A925L/AR`` or ``curve A925L/AR | alectinib``.
    """
    plate = [str(x).strip() for x in table["plate"]]
    plate = ["" if x in ("nan", "None") else x for x in plate]
    line = [str(x) for x in table["cell_line"]]
    pert = [str(x).strip() for x in table["perturbation"]]
    vehicle = (table["dose_nM"].to_numpy(float) == 0) & (table["partner_nM"].to_numpy(float) == 0)
    unit = list(zip(plate, line, pert, strict=True))
    keys = [
        f"plate {p}, {ln}" + (f" {pe}" if pe else "") if p else f"curve {c}"
        for p, ln, pe, c in zip(plate, line, pert, table["curve"], strict=True)
    ]
    labels: list[str] = []
    index: dict[str, int] = {}
    unit_of: list[tuple[str, str, str]] = []
    codes = np.full(len(table), -1, dtype=int)
    for i, k in enumerate(keys):
        if vehicle[i]:
            continue
        if k not in index:
            index[k] = len(labels)
            labels.append(k)
            unit_of.append(unit[i])
        codes[i] = index[k]
    counts: dict[tuple[str, str, str], int] = {}
    for u, v in zip(unit, vehicle, strict=True):
        counts[u] = counts.get(u, 0) + int(v)
    n_vehicle = np.array([counts.get(u, 0) for u in unit_of], dtype=int)
    return codes, n_vehicle, labels


def viability_plate_sigma(
    table: pd.DataFrame, observable: Observable, *, source: str | None = None
) -> np.ndarray:
    """Per group of :func:`viability_groups`: tau, the relative SD of its vehicle mean.

    The observable's ``plate_sigma`` when given (every group), else ``s / (100 sqrt(n))``
    with ``n`` the group's vehicle wells: their mean, of wells with SD ``s`` % at 100 %
    (``s = sqrt(sigma² + (100 sigma_rel)²)``).

    Raises
    ------
    LeptotwinError
        Without ``plate_sigma``, a group whose vehicle wells are not in the table.
    """
    _, n_vehicle, labels = viability_groups(table)
    if observable.plate_sigma is not None:
        return np.full(len(labels), float(observable.plate_sigma))
    if np.any(n_vehicle == 0):
        g = int(np.flatnonzero(n_vehicle == 0)[0])
        raise LeptotwinError(
            "no vehicle wells to size the normalisation error of a group of wells",
            source=source,
            field=f"observables.{VIABILITY_OBSERVABLE}.plate_sigma",
            value=labels[g],
            expected="plate_sigma (relative SD of the vehicle mean, e.g. 0.02; 0 for "
            "independent wells), or the group's vehicle wells (dose 0, no partner) in the table",
        )
    sd_at_100 = math.hypot(observable.sigma, 100.0 * observable.sigma_rel)  # sigma when rel 0
    return sd_at_100 / (100.0 * np.sqrt(n_vehicle.astype(float)))


def _blank_or_zero(text: str) -> bool:
    """An empty cell, NaN as a writer spells it, or any spelling of 0."""
    try:
        x = float(text.strip() or "nan")
    except ValueError:
        return False
    return math.isnan(x) or x == 0.0


def _number(text: str, name: str, where: str, *, blank_ok: bool = False) -> float:
    s = text.strip()
    if s == "" and blank_ok:
        return math.nan
    try:
        x = float(s)
    except ValueError:
        raise LeptotwinError(
            "not a number", source=name, field=where, value=text, expected="a real number"
        ) from None
    if not math.isfinite(x):
        raise LeptotwinError(
            "not a finite number", source=name, field=where, value=text, expected="a real number"
        )
    return x


def _pk_rows(
    path: Path,
    name: str,
    observables: dict[str, Observable],
    subjects: dict[str, str],
    arms: tuple[Arm, ...],
    cat: Catalog,
    species: str,
    t0_h: float,
) -> tuple[pd.DataFrame, dict[str, int], pd.DataFrame]:
    raw = _read_table(path, name)
    missing = [c for c in PK_COLUMNS if c not in raw.columns]
    if missing:
        raise LeptotwinError(
            "PK table lacks columns",
            source=name,
            field=", ".join(missing),
            expected="columns " + ", ".join(PK_COLUMNS),
        )
    dosed = {
        a.name: {d for drug in a.regimens for d in (drug, *_metabolites(cat, drug, species))}
        for a in arms
    }
    rows: list[tuple] = []
    censored: list[tuple] = []
    n_blq: dict[str, int] = {}
    for i, r in enumerate(raw[list(PK_COLUMNS)].itertuples(index=False)):
        where = row_label(i)
        subject, drug, matrix, unit = (
            str(x).strip() for x in (r.subject, r.drug, r.matrix, r.unit)
        )
        if subject not in subjects:
            raise LeptotwinError(
                "subject is in no arm of the experiment file",
                source=name,
                field=f"{where}, subject",
                value=subject,
            )
        arm = subjects[subject]
        oid = f"{matrix}:{drug}"
        if oid not in observables:
            raise LeptotwinError(
                "unknown observable",
                source=name,
                field=f"{where}, matrix/drug",
                value=oid,
                expected="one declared under observables: "
                + ", ".join(o for o in observables if o not in BURDEN_OBSERVABLES),
            )
        obs = observables[oid]
        if unit != obs.unit:
            raise LeptotwinError(
                "unit mismatch",
                source=name,
                field=f"{where}, unit",
                value=unit,
                expected=f"{obs.unit}, as declared for {oid}",
            )
        if drug not in dosed[arm]:
            raise LeptotwinError(
                "subject has no dose records for this drug",
                source=name,
                field=f"{where}, drug",
                value=drug,
                expected=f"a drug that arm {arm!r} gives: "
                + (", ".join(sorted(dosed[arm])) or "none"),
            )
        t = _number(r.time_h, name, f"{where}, time_h")
        conc = _number(r.concentration, name, f"{where}, concentration")
        lloq = _number(r.lloq, name, f"{where}, lloq", blank_ok=True)
        for what, x in (("concentration", conc), ("lloq", lloq)):
            if x < 0:
                raise LeptotwinError(
                    f"negative {what}", source=name, field=f"{where}, {what}", value=x
                )
            if x > _MAX_PK[unit]:
                raise LeptotwinError(
                    f"implausible {what}",
                    source=name,
                    field=f"{where}, {what}",
                    value=x,
                    expected=f"at most {_MAX_PK[unit]:g} {unit} (a typo or a unit slip?)",
                )
        if t < -t0_h:
            raise LeptotwinError(
                "sample before inoculation",
                source=name,
                field=f"{where}, time_h",
                value=t,
                expected=f"hours after treatment start, >= {-t0_h:g}",
            )
        if t <= 0 and obs.noise == "lognormal":
            raise LeptotwinError(
                "a log-normal PK observable needs samples after the first dose",
                source=name,
                field=f"{where}, time_h",
                value=t,
                expected="hours after treatment start, > 0 (the model's concentration is 0 before)",
            )
        if (not math.isnan(lloq) and conc < lloq) or (obs.noise == "lognormal" and conc <= 0):
            n_blq[oid] = n_blq.get(oid, 0) + 1
            if not math.isnan(lloq) and conc < lloq:  # censored under a population blq: m3
                censored.append((subject, arm, oid, t + t0_h, conc, lloq, f"{name}:{where}"))
            continue
        rows.append((subject, arm, oid, t + t0_h, conc, f"{name}:{where}"))
    frame = pd.DataFrame(
        rows, columns=["subject", "arm", "observable", "time_h", "value", "source"]
    )
    frame["time_h"] = frame["time_h"].astype(float)
    frame["value"] = frame["value"].astype(float)
    return frame, n_blq, _censored_frame(censored)


def _censored_frame(rows: list[tuple]) -> pd.DataFrame:
    """:attr:`Experiment.censored` from its rows."""
    cols = ["subject", "arm", "observable", "time_h", "value", "lloq", "source"]
    frame = pd.DataFrame(rows, columns=cols)
    for c in ("time_h", "value", "lloq"):
        frame[c] = frame[c].astype(float)
    return frame


def _metabolites(cat: Catalog, drug: str, species: str) -> list[str]:
    return [m for m, _ in cat.metabolites_of(drug, species)]


# --- population fits ---------------------------------------------------------------------------


def _population(
    spec: _ExperimentSpec,
    arms: tuple[Arm, ...],
    observables: dict[str, Observable],
    source: str,
    lines: dict,
) -> tuple[PopulationEntry, ...]:
    """The checked ``population`` entries (what the design alone can say: the data are checked
    by :func:`population_data`)."""
    out: list[PopulationEntry] = []
    for i, body in enumerate(spec.population):
        where = ("population", str(i))
        if body.observable is not None:  # a growth entry: _population_growth
            continue
        for key in sorted(body.model_fields_set - set(_PK_KEYS)):
            raise _error(
                source,
                lines,
                (*where, key),
                "not a key of a population PK entry (a growth entry names observable: "
                f"{BLI_OBSERVABLE})",
                getattr(body, key),
                ", ".join(_PK_KEYS),
            )
        for key in ("drug", "matrix"):
            if getattr(body, key) is None:
                raise _error(
                    source,
                    lines,
                    (*where, key),
                    "missing field: a population PK entry names drug and matrix",
                    expected=f"or observable: {BLI_OBSERVABLE} for a population growth fit",
                )
        assert body.drug is not None and body.matrix is not None
        if body.matrix not in _MATRICES:
            raise _error(
                source,
                lines,
                (*where, "matrix"),
                "unknown matrix",
                body.matrix,
                " or ".join(_MATRICES),
            )
        for j, name in enumerate(body.random_effects):
            if name not in POPULATION_PARAMETERS:
                raise _error(
                    source,
                    lines,
                    (*where, "random_effects", str(j)),
                    "unknown random effect",
                    name,
                    "some of " + ", ".join(POPULATION_PARAMETERS) + " (the one-compartment oral "
                    "model's clearance, volume and absorption rate constant)",
                )
            if name in body.random_effects[:j]:
                raise _error(
                    source,
                    lines,
                    (*where, "random_effects", str(j)),
                    "random effect given twice",
                    name,
                    "each of " + ", ".join(POPULATION_PARAMETERS) + " at most once",
                )
        entry = PopulationEntry(
            i,
            body.drug,
            body.matrix,
            tuple(body.random_effects),
            body.omega,
            body.error,
            body.blq,
        )
        if entry.observable not in observables:
            declared = [o for o in observables if o.startswith(f"{body.matrix}:")]
            raise _error(
                source,
                lines,
                (*where, "drug"),
                f"no {body.matrix} PK observable of this drug",
                body.drug,
                "a drug of the PK table, declared under observables: "
                + (", ".join(d.partition(":")[2] for d in declared) or f"no {body.matrix}:<drug>"),
            )
        if not any(body.drug in a.regimens for a in arms):
            raise _error(
                source,
                lines,
                (*where, "drug"),
                "no arm gives this drug (a metabolite has no dose records of its own)",
                body.drug,
                "a drug of the arms' regimens: "
                + (", ".join(sorted({d for a in arms for d in a.regimens})) or "none"),
            )
        twin = next((e for e in out if e.observable == entry.observable), None)
        if twin is not None:
            raise _error(
                source,
                lines,
                where,
                "a second population fit of the same drug and matrix",
                entry.observable,
                f"one entry per drug and matrix (also population[{twin.index}])",
            )
        out.append(entry)
    return tuple(out)


def _population_growth(
    spec: _ExperimentSpec,
    observables: dict[str, Observable],
    source: str,
    lines: dict,
) -> tuple[GrowthPopulationEntry, ...]:
    """The checked population growth entry (``observable: total_flux``, or ``tumor_volume`` at
    the subcutaneous site), if any."""
    out: list[GrowthPopulationEntry] = []
    for i, body in enumerate(spec.population):
        where = ("population", str(i))
        if body.observable is None:
            continue
        own = _SITE_OBSERVABLE[spec.site]
        what = _GROWTH_DATA[own]
        if body.observable not in BURDEN_OBSERVABLES:
            raise _error(
                source,
                lines,
                (*where, "observable"),
                "unknown observable of a population entry",
                body.observable,
                f"{own} (a population growth fit of the {what} data; a population PK "
                "entry names drug and matrix instead)",
            )
        if body.observable != own:
            raise _error(
                source,
                lines,
                (*where, "observable"),
                f"a population growth fit of {body.observable} at site: {spec.site} (it is "
                "the other site's tumour observable)",
                body.observable,
                f"observable: {own} at site: {spec.site}",
            )
        for key in sorted(body.model_fields_set - set(_GROWTH_KEYS)):
            raise _error(
                source,
                lines,
                (*where, key),
                "not a key of a population growth entry",
                getattr(body, key),
                ", ".join(_GROWTH_KEYS),
            )
        if own == CALIPER_OBSERVABLE and body.background_p_s is not None:
            raise _error(
                source,
                lines,
                (*where, "background_p_s"),
                "background_p_s is a BLI floor (p/s), not one of caliper volumes",
                body.background_p_s,
                "no background_p_s with observable: tumor_volume",
            )
        if own not in observables:
            raise _error(
                source,
                lines,
                (*where, "observable"),
                f"the {what} observable is not declared",
                body.observable,
                f"observables: {{{own}: ...}} and {what} data (data: {what.lower()})",
            )
        if out:
            raise _error(
                source,
                lines,
                where,
                "a second population growth fit",
                body.observable,
                f"one entry with observable: {own} (also population[{out[0].index}])",
            )
        out.append(
            GrowthPopulationEntry(
                i, body.omega, body.estimation, body.time_origin, body.background_p_s, own
            )
        )
    return tuple(out)


def population_growth_data(
    exp: Experiment,
    entry: GrowthPopulationEntry,
    *,
    catalog: Catalog | None = None,
    lines: dict | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """The BLI images (or caliper volumes, ``observable: tumor_volume``) of the population
    growth fit.

    Time origin: ``treatment_start`` (the catalogue's treatment start, day 7 after inoculation;
    images before it are left out: the arms' rates are those under treatment) or
    ``first_image`` (the first imaging day of the table; every image kept). Images with a flux
    at or below ``background_p_s`` are left out (the log-linear model does not hold at the
    floor). Arms without BLI data are not in the fit.

    Returns
    -------
    data : DataFrame
        ``subject, arm, day`` (days after inoculation), ``time_d`` (days from the origin),
        ``total_flux_p_s`` (or ``volume_mm3``: :data:`GROWTH_VALUE_COLUMN`), ``source``.
    left_out : dict
        ``before_origin`` and ``at_background``: images left out; ``origin_day``: the origin
        in days after inoculation.

    Raises
    ------
    LeptotwinError
        No BLI (caliper) data, an arm with such data of fewer than two mice, fewer than two
        imaging times after the left-out images; naming the experiment file and the entry or
        the arm; a caliper volume <= 0, naming the caliper file and row.
    """
    cat = catalog or load_catalog()
    source, lines = str(exp.path), lines or {}
    where = ("population", str(entry.index))
    m = exp.measurements
    what = _GROWTH_DATA[entry.observable]
    rows = m[m["observable"] == entry.observable] if len(m) else m
    if rows.empty:
        raise _error(
            source,
            lines,
            (*where, "observable"),
            f"a population growth fit without {what} data",
            entry.observable,
            f"a {what} table (data: {what.lower()})",
        )
    day = rows["time_h"].to_numpy(float) / 24.0
    flux = rows["value"].to_numpy(float)
    if entry.observable == CALIPER_OBSERVABLE and (flux <= 0).any():
        i = int(np.flatnonzero(flux <= 0)[0])
        name, row = str(rows["source"].iloc[i]).split(":", 1)
        raise LeptotwinError(
            "a population growth fit of ln volume needs volumes > 0 (leave non-palpable "
            f"tumours out; population[{entry.index}])",
            source=name,
            field=f"{row}, volume_mm3",
            value=float(flux[i]),
        )
    if entry.time_origin == "treatment_start":
        origin = _treatment_start_h(cat) / 24.0
    else:
        origin = float(day.min())
    before = day < origin - 1e-9
    floor = entry.background_p_s
    at_floor = ~before & (flux <= floor) if floor is not None else np.zeros(len(day), bool)
    keep = ~before & ~at_floor
    data = pd.DataFrame(
        {
            "subject": rows["subject"].to_numpy(object)[keep],
            "arm": rows["arm"].to_numpy(object)[keep],
            "day": day[keep],
            "time_d": day[keep] - origin,
            GROWTH_VALUE_COLUMN[entry.observable]: flux[keep],
            "source": rows["source"].to_numpy(object)[keep],
        }
    )
    reasons = [f"before the treatment start, day {origin:g}"] if origin > day.min() else []
    if floor is not None:
        reasons.append(f"at or below background_p_s {floor:g}")
    why = "; ".join(reasons) or "none"
    for arm in exp.arms:
        n = data.loc[data["arm"] == arm.name, "subject"].nunique()
        n_all = rows.loc[rows["arm"] == arm.name, "subject"].nunique()
        if n_all and n < 2:
            raise _error(
                source,
                lines,
                ("arms", arm.name, "subjects"),
                f"a population growth fit (population[{entry.index}]) needs {what} data of at "
                "least two mice per arm",
                f"{arm.name}: {n} mouse with images kept (images left out: {why})",
                f"images of two or more mice of each arm with {what} data",
            )
    if data["time_d"].nunique() < 2:
        raise _error(
            source,
            lines,
            where,
            "a population growth fit needs at least two imaging days",
            int(data["time_d"].nunique()),
            f"images on two or more days (images left out: {why})",
        )
    left_out = {
        "before_origin": float(before.sum()),
        "at_background": float(at_floor.sum()),
        "origin_day": origin,
    }
    return data, left_out


def _treatment_start_h(cat: Catalog) -> float:
    return cat.in_vivo_value("lmc_mouse", "treatment_start") * 24.0


def population_doses(
    exp: Experiment,
    drug: str,
    subjects: list[str] | None = None,
    *,
    catalog: Catalog | None = None,
    lines: dict | None = None,
) -> pd.DataFrame:
    """Oral dose records of ``drug`` for the mice ``subjects`` (default: every mouse of an arm
    that gives it), from their arm's regimen.

    Every administration from treatment start up to the end of follow-up (``days``), in hours
    after treatment start (the clock of the regimens and of the PK table). Amounts in mg: a dose
    in mg/kg times the catalogue's mouse body weight (``mouse.body_weight``: 25 g, a typical
    adult nude/SCID mouse; the weight with which the twin's PK model converts mg/kg,
    :meth:`leptotwin.catalog.Catalog.pk_parameters` and
    :func:`leptotwin.model.regimen.doses_by_route`), a dose in mg/m2 times its mouse body surface
    (``mouse.body_surface_area``). Every mouse gets the typical weight: the file has no weights.

    Returns
    -------
    DataFrame
        ``subject, time_h, dose_mg``, one row per administration, by mouse then time.

    Raises
    ------
    LeptotwinError
        A mouse whose arm gives no dose of ``drug``, gives it by another route than oral (the
        population model has no iv input) or gives no dose before the end of follow-up; naming
        the experiment file and the arm's regimen.
    """
    cat = catalog or load_catalog()
    source, lines = str(exp.path), lines or {}
    p = cat.pk_parameters(drug, exp.species)
    horizon_h = exp.days * 24.0 - _treatment_start_h(cat)
    if subjects is None:
        subjects = [s for s, a in exp.subjects.items() if drug in exp.arm(a).regimens]
    rows: list[pd.DataFrame] = []
    for s in subjects:
        arm = exp.arm(exp.subjects[s])
        where = ("arms", arm.name, "regimens", drug)
        regs = arm.regimens.get(drug)
        if not regs:
            raise _error(
                source,
                lines,
                ("arms", arm.name, "regimens"),
                f"mouse {s!r} has no dose records: its arm gives no {drug}",
                s,
                f"a mouse of an arm that gives {drug}",
            )
        regs = parse_regimen(regs) if isinstance(regs, str) else tuple(regs)
        by_route = doses_by_route(
            regs, horizon_h, body_weight_kg=p.body_weight_kg, body_surface_m2=p.body_surface_m2
        )
        other = sorted(set(by_route) - {"oral"})
        if other:
            raise _error(
                source,
                lines,
                where,
                f"the population PK model takes oral doses only (arm {arm.name!r} gives "
                f"{drug} {other[0]})",
                regs[0].text or None,
                "po (oral) regimens for a population fit",
            )
        t, mg = by_route.get("oral", (np.zeros(0), np.zeros(0)))
        if t.size == 0:
            raise _error(
                source,
                lines,
                where,
                "no dose before the end of follow-up",
                regs[0].text or None,
                f"a first dose before day {exp.days:g}",
            )
        rows.append(pd.DataFrame({"subject": s, "time_h": t, "dose_mg": mg}))
    if not rows:
        return pd.DataFrame({"subject": [], "time_h": [], "dose_mg": []})
    return pd.concat(rows, ignore_index=True)


def population_data(
    exp: Experiment,
    entry: PopulationEntry,
    *,
    catalog: Catalog | None = None,
    lines: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The samples and dose records of one population fit.

    Returns
    -------
    data : DataFrame
        ``subject, time_h, concentration, source``: the PK rows of the entry's drug and matrix
        that the loader kept (those below their LLOQ are left out), ``time_h`` in hours after
        treatment start, ``concentration`` in the observable's unit. With ``blq: m3`` also
        ``lloq``: empty for those rows, and after them the rows below a reported LLOQ (their
        reported concentration and LLOQ), for the fit to censor.
    doses : DataFrame
        :func:`population_doses` of the mice with data (under M3 also those with censored
        samples only).

    Raises
    ------
    LeptotwinError
        No rows of the drug and matrix, data of fewer than two mice, a quantified sample at or
        before the mouse's first dose, a concentration of 0 with proportional error; naming the
        experiment file and the entry, or the PK table and its row.
    """
    cat = catalog or load_catalog()
    source, lines = str(exp.path), lines or {}
    where = ("population", str(entry.index))
    m = exp.measurements
    rows = m[m["observable"] == entry.observable] if len(m) else m
    if rows.empty:
        kinds = sorted({o for o in m.get("observable", []) if o not in BURDEN_OBSERVABLES})
        raise _error(
            source,
            lines,
            (*where, "drug"),
            f"no {entry.matrix} rows of this drug in the PK table (above the LLOQ)",
            entry.drug,
            "a matrix:drug of the PK table: " + (", ".join(kinds) or "none (no PK data)"),
        )
    cen = None
    if entry.blq == "m3" and exp.censored is not None and len(exp.censored):
        cen = exp.censored[exp.censored["observable"] == entry.observable]
    subjects = list(dict.fromkeys(rows["subject"]))
    if cen is not None:
        subjects = list(dict.fromkeys([*subjects, *cen["subject"]]))
    if len(subjects) < 2:
        raise _error(
            source,
            lines,
            where,
            "a population fit needs PK data of at least two mice",
            f"{entry.observable}: {len(subjects)} mouse",
            "samples of several mice (between-subject variability is estimated across mice)",
        )
    doses = population_doses(exp, entry.drug, subjects, catalog=cat, lines=lines)
    data = pd.DataFrame(
        {
            "subject": rows["subject"].to_numpy(object),
            "time_h": rows["time_h"].to_numpy(float) - _treatment_start_h(cat),
            "concentration": rows["value"].to_numpy(float),
            "source": rows["source"].to_numpy(object),
        }
    )
    first = data["subject"].map(doses.groupby("subject")["time_h"].min()).to_numpy(float)
    early = data["time_h"].to_numpy(float) <= first + 1e-9
    log_of_zero = entry.error == "proportional" and (data["concentration"] <= 0).to_numpy()
    for bad in np.flatnonzero(early | log_of_zero)[:1]:  # the first offending row, in file order
        r = data.iloc[bad]
        file, _, row = str(r.source).partition(":")
        if early[bad]:
            raise LeptotwinError(
                f"a quantified sample at or before the mouse's first dose of {entry.drug}",
                source=file,
                field=f"{row}, time_h",
                value=round(float(r.time_h), 9),
                expected=f"hours after treatment start, > {first[bad]:g} (the population "
                "model's concentration is 0 until then), or below the row's lloq",
            )
        raise LeptotwinError(
            "a zero concentration has no logarithm (population error: proportional)",
            source=file,
            field=f"{row}, concentration",
            value=float(r.concentration),
            expected="> 0, below the row's lloq (then left out), or error: combined",
        )
    if entry.blq == "m3":
        data["lloq"] = np.nan
        if cen is not None and len(cen):
            below = pd.DataFrame(
                {
                    "subject": cen["subject"].to_numpy(object),
                    "time_h": cen["time_h"].to_numpy(float) - _treatment_start_h(cat),
                    "concentration": cen["value"].to_numpy(float),
                    "source": cen["source"].to_numpy(object),
                    "lloq": cen["lloq"].to_numpy(float),
                }
            )
            data = pd.concat([data, below], ignore_index=True)
    return data, doses
