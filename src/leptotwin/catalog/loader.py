"""Load and check the parameter catalogue (``catalog/data/*.yaml``).

:func:`load_catalog` parses the YAML files into the typed schema, rejects unknown keys, missing
units and missing sources with a :class:`~leptotwin.errors.LeptotwinError` that names the file and
the field, checks that every unit is one the field accepts and that every assumption carries a
prior (its range and the source of the range). :class:`Catalog` then hands the model plain numbers
in canonical units (:class:`PKParameters`).

Values shared through a YAML anchor (``*iiv_sm``: one assumption used by several drugs) are
recorded as *tied* (:attr:`Catalog.tied`): they are one uncertain parameter, and
:meth:`Catalog.with_values` changes all of them together.

Second bypass receptors (MET/HGF, HER3/NRG1, ...) are optional: ``bypass.yaml`` in the folder
(:data:`BYPASS_FILE`) or :meth:`Catalog.with_bypass`; checked against the drugs and cell lines,
their values are table paths ``bypass.<receptor>.<...>`` (docs/model.md §2).

The posterior summary of the calibration, when there is one, is read from ``posterior.yaml`` in
the catalogue folder (:data:`POSTERIOR_FILE`; written by ``leptotwin calibrate-study``)::

    provenance: {...}          # free-form: method, seed, draws, targets, package version
    parameters:
      pathway.egfr_weight: {median: 6.0, low: 5.2, high: 7.1}   # catalogue unit, 95 % interval
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError

from leptotwin.catalog.schema import (
    AssayKit,
    BypassReceptor,
    CellLine,
    Drug,
    DrugSpeciesPK,
    PathwayParameters,
    Perturbation,
    PosteriorSummary,
    Quantity,
    Species,
)
from leptotwin.catalog.units import CANONICAL, convert
from leptotwin.errors import LeptotwinError

__all__ = [
    "BYPASS_FILE",
    "POSTERIOR_FILE",
    "BypassNumbers",
    "Catalog",
    "PKParameters",
    "active_catalog",
    "load_catalog",
    "read_posterior",
    "using_catalog",
]

POSTERIOR_FILE = "posterior.yaml"
"""The calibration's posterior summary, in the catalogue folder (absent until calibrated)."""

#: ``in_vivo.yaml`` blocks that only another tumour site reads (``sc_mouse``: the subcutaneous
#: site of a lab's caliper data, ``leptotwin.model.tumor``), never the study's leptomeningeal
#: model. They are listed after every other value (:meth:`Catalog.quantities`), so prior draws
#: seeded as before give the study's values as before, and the study's sensitivity analysis
#: leaves them out (they cannot move a claim).
OTHER_SITE_BLOCKS: tuple[str, ...] = ("sc_mouse",)


def reads_other_site(paths: pd.Series) -> np.ndarray:
    """Whether each catalogue path (``sc_mouse.parameters.cell_density``) is in a block of
    :data:`OTHER_SITE_BLOCKS`; shape ``(len(paths),)`` booleans."""
    return paths.astype(str).str.split(".").str[0].isin(OTHER_SITE_BLOCKS).to_numpy()


BYPASS_FILE = "bypass.yaml"
"""Optional second bypass receptors (MET/HGF, HER3/NRG1, ...) in the catalogue folder; the packaged
catalogue has none. Format: :class:`~leptotwin.catalog.schema.BypassReceptor` per receptor name."""

_PK_KINDS = {
    "CL": "clearance",
    "Q": "clearance",
    "V1": "volume",
    "V2": "volume",
    "fu": "fraction",
    "kp_uu_csf": "fraction",
    "kp_uu_lesion": "fraction",
    "k_csf": "rate",
    "k_lesion": "rate",
}
_SPECIES_KINDS = {
    "body_weight": "mass",
    "body_surface_area": "area",
    "plasma_volume": "small_volume",
    "csf_volume": "small_volume",
    "csf_production": "flow",
}
# The one unit each pathway parameter is written in (the model uses them as they are).
PATHWAY_UNITS = {
    "areg_kd": "nM",
    "areg_efficacy": "1",
    "areg_molar_mass": "kDa",
    "areg_secretion_max": "pg/1e6 cells/h",
    "areg_medium_half_life": "h",
    "mir449a_km": "1",
    "autocrine_gain": "nM per pg/1e6 cells/h",
    "egfr_weight": "1",
    "birth_max": "1/h",
    "death_min": "1/h",
    "death_max": "1/h",
    "birth_half_signal": "1",
    "death_half_signal": "1",
    "signal_hill": "1",
}
_MASS_CONC_PER_L = {"ng/mL": 1e-6, "µg/mL": 1e-3, "mg/L": 1e-3}  # g/L per unit
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class PKParameters:
    """Typical PK parameters of one drug in one species, in canonical units.

    Attributes
    ----------
    CL_L_h, V1_L : float
        Systemic clearance (L/h) and central volume (L).
    Q_L_h, V2_L : float
        Inter-compartmental clearance and peripheral volume; 0 for a one-compartment model.
    fu : float
        Unbound fraction in plasma.
    kp_uu_csf, k_csf_per_h : float
        CSF-to-unbound-plasma partition at steady state and the CSF exchange rate constant.
    kp_uu_lesion, k_lesion_per_h : float
        The same for tumour-lesion interstitium.
    routes : dict[str, tuple[float, float]]
        Extravascular route → (ka in 1/h, bioavailability F). ``iv`` is always available.
    iiv : dict[str, float]
        Log-normal inter-individual SD (ω) per parameter name.
    mw_g_mol, body_weight_kg, body_surface_m2 : float
    """

    drug: str
    species: str
    model: str
    CL_L_h: float
    V1_L: float
    Q_L_h: float
    V2_L: float
    fu: float
    kp_uu_csf: float
    k_csf_per_h: float
    kp_uu_lesion: float
    k_lesion_per_h: float
    routes: dict[str, tuple[float, float]]
    iiv: dict[str, float]
    mw_g_mol: float
    body_weight_kg: float
    body_surface_m2: float

    @property
    def half_life_h(self) -> float:
        """Terminal half-life (h) of the disposition model."""
        from math import log, sqrt

        k10 = self.CL_L_h / self.V1_L
        if self.model == "1cmt":
            return log(2) / k10
        k12 = self.Q_L_h / self.V1_L
        k21 = self.Q_L_h / self.V2_L
        s = k10 + k12 + k21
        beta = (s - sqrt(s * s - 4 * k10 * k21)) / 2
        return log(2) / beta


@dataclass(frozen=True)
class BypassNumbers:
    """One bypass receptor as plain numbers in the model's units (:meth:`Catalog.bypass_numbers`).

    Attributes
    ----------
    name, ligand : str
    ligand_kd_nM, ligand_kda : float
    efficacy, weight : float
    ligand_medium_nM : float
        Ligand in the culture medium (in vitro).
    cell_lines : dict[str, tuple[float, float]]
        Cell line → (relative receptor level, autocrine ligand at the receptor in nM).
    inhibitor_k_nM : dict[str, float]
        Drug → inhibition constant, nominal concentration in 10 % serum medium (nM).
    compound_fu_plasma : dict[str, float]
        Plasma unbound fraction of the inhibitors that are not catalogue drugs.
    """

    name: str
    ligand: str
    ligand_kd_nM: float
    ligand_kda: float
    efficacy: float
    weight: float
    ligand_medium_nM: float
    cell_lines: dict[str, tuple[float, float]]
    inhibitor_k_nM: dict[str, float]
    compound_fu_plasma: dict[str, float]


@dataclass
class Catalog:
    """The loaded catalogue: drugs and species by name, plus the files they came from."""

    drugs: dict[str, Drug]
    species: dict[str, Species]
    cell_lines: dict[str, CellLine] = field(default_factory=dict)
    perturbations: dict[str, Perturbation] = field(default_factory=dict)
    pathway: PathwayParameters | None = None
    assays: dict[str, AssayKit] = field(default_factory=dict)
    in_vivo: dict[str, AssayKit] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    tied: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Path → every path of the same YAML-anchored value (itself included), for shared values."""
    posterior: dict[str, PosteriorSummary] = field(default_factory=dict)
    """Path → posterior summary (``posterior.yaml``); empty before any calibration."""
    bypass: dict[str, BypassReceptor] = field(default_factory=dict)
    """Receptor name → second bypass receptor (``bypass.yaml``, :meth:`with_bypass`); empty in
    the packaged catalogue. Table paths: ``bypass.MET.weight``."""

    def with_bypass(self, source: str | Path | dict[str, Any]) -> Catalog:
        """A copy of the catalogue with the bypass receptors of ``source`` (a ``bypass.yaml``
        file or the same mapping) added to, or replacing, those it declares.

        Example: ``load_catalog().with_bypass("examples/bypass-met/bypass.yaml")``.

        Raises
        ------
        LeptotwinError
            Naming the file and the field: unknown keys, a missing unit or source, a unit the
            field does not accept, a negative or zero value where it cannot be, an unknown cell
            line, an inhibitor that is neither a catalogue drug nor a compound with its
            ``molecular_weight`` and ``fu_plasma``, or an assumption without a prior.
        """
        if isinstance(source, dict):
            path, data = Path("<bypass block>"), source
        else:
            path = Path(source)
            if not path.is_file():
                raise LeptotwinError("bypass file not found", source=str(path))
            data = _read_yaml(path)
        receptors = _load_bypass(path, data, self)
        cat = replace(
            self,
            bypass={**self.bypass, **receptors},
            files={**self.files, "bypass": path},
            tied={**self.tied, **(_tied_paths({"bypass": path}) if path.is_file() else {})},
        )
        _check_priors(cat)
        return cat

    def bypass_numbers(self, name: str) -> BypassNumbers:
        """One bypass receptor (:attr:`bypass`) as plain numbers in the model's units."""
        if name not in self.bypass:
            raise LeptotwinError(
                "unknown bypass receptor",
                field="bypass",
                value=name,
                expected="one of " + (", ".join(sorted(self.bypass)) or "(none declared)"),
            )
        r = self.bypass[name]
        kda = convert(r.ligand_molar_mass.value, r.ligand_molar_mass.unit, "molar_mass") / 1e3
        lines = {
            line: (
                c.receptor.value,
                0.0 if c.ligand_autocrine is None else ic50_to_nM(c.ligand_autocrine, kda * 1e3),
            )
            for line, c in r.cell_lines.items()
        }
        k_nM, fu = {}, {}
        for drug, inh in r.inhibitors.items():
            if inh.molecular_weight is None:  # a catalogue drug (checked by the loader)
                mw = _mw_g_mol(self.drug(drug))
            else:
                mw = convert(inh.molecular_weight.value, inh.molecular_weight.unit, "molar_mass")
            k_nM[drug] = ic50_to_nM(inh.k, mw)
            if inh.fu_plasma is not None:
                fu[drug] = convert(inh.fu_plasma.value, inh.fu_plasma.unit, "fraction")
        return BypassNumbers(
            name=name,
            ligand=r.ligand,
            ligand_kd_nM=convert(r.ligand_kd.value, r.ligand_kd.unit, "molar_conc"),
            ligand_kda=kda,
            efficacy=r.efficacy.value,
            weight=r.weight.value,
            ligand_medium_nM=ic50_to_nM(r.ligand_medium, kda * 1e3),
            cell_lines=lines,
            inhibitor_k_nM=k_nM,
            compound_fu_plasma=fu,
        )

    def in_vivo_value(self, block: str, name: str) -> float:
        """One in-vivo model parameter (``in_vivo.yaml``), in the unit the catalogue states."""
        return _block_value(self.in_vivo, "unknown in-vivo parameter", block, name)

    def assay_value(self, kit: str, name: str) -> float:
        """One setting of a virtual instrument (in the unit the catalogue states)."""
        return _block_value(self.assays, "unknown assay setting", kit, name)

    def cell_line(self, name: str) -> CellLine:
        """Return one cell line; raise a LeptotwinError listing the known ones if absent."""
        if name not in self.cell_lines:
            raise LeptotwinError(
                "unknown cell line",
                field="cell_line",
                value=name,
                expected="one of " + ", ".join(sorted(self.cell_lines)),
            )
        return self.cell_lines[name]

    def with_cell_line(self, name: str, *, reason: str, **levels: float) -> Catalog:
        """A copy of the catalogue with some levels of one cell line replaced.

        For counterfactuals: ``cat.with_cell_line("A925L/AR", mir449a=1.0, reason="miR-449a
        restored")``. Each replaced value is marked as an assumption whose source is ``reason``.
        """
        line = self.cell_line(name)
        update = {
            key: Quantity(value=float(v), unit="1", source=reason, assumption=True)
            for key, v in levels.items()
        }
        unknown = set(update) - {"mir449a", "egfr_total", "alk_fusion", "areg_secretion"}
        if unknown:
            raise LeptotwinError(
                "unknown cell-line level",
                field=sorted(unknown)[0],
                expected="mir449a, egfr_total, alk_fusion or areg_secretion",
            )
        cells = dict(self.cell_lines)
        cells[name] = line.model_copy(update=update)
        return replace(self, cell_lines=cells)

    def perturbation(self, name: str) -> Perturbation:
        """Return one perturbation; raise a LeptotwinError listing the known ones if absent."""
        if name not in self.perturbations:
            raise LeptotwinError(
                "unknown perturbation",
                field="perturbation",
                value=name,
                expected="one of " + ", ".join(sorted(self.perturbations)),
            )
        return self.perturbations[name]

    def pathway_value(self, name: str) -> float:
        """A pathway parameter in its catalogue unit (see :data:`PATHWAY_UNITS`)."""
        if self.pathway is None:
            raise LeptotwinError("the catalogue has no pathway parameters", field=name)
        return getattr(self.pathway, name).value

    def model_potency_nM(self, drug: str) -> dict[str, float]:
        """Target → inhibition constant (nM) used by the pathway model (``model: true``)."""
        d = self.drug(drug)
        return {p.target: ic50_to_nM(p.ic50, _mw_g_mol(d)) for p in d.potency if p.model}

    def drug(self, name: str) -> Drug:
        """Return one drug; raise a LeptotwinError listing the known ones if absent."""
        lookup = {k.lower(): k for k in self.drugs}
        key = lookup.get(name.strip().lower(), "")
        if key not in self.drugs:
            raise LeptotwinError(
                "unknown drug",
                field="drug",
                value=name,
                expected="one of " + ", ".join(sorted(self.drugs, key=str.lower)),
            )
        return self.drugs[key]

    def get_species(self, name: str) -> Species:
        """Return one species; raise a LeptotwinError listing the known ones if absent."""
        key = name.strip().lower()
        if key not in self.species:
            raise LeptotwinError(
                "unknown species",
                field="species",
                value=name,
                expected="one of " + ", ".join(sorted(self.species)),
            )
        return self.species[key]

    def species_value(self, species: str, name: str) -> float:
        """A species quantity in its canonical unit (see :data:`_SPECIES_KINDS`)."""
        q: Quantity = getattr(self.get_species(species), name)
        return convert(q.value, q.unit, _SPECIES_KINDS[name])

    def csf_turnover_per_h(self, species: str) -> float:
        """CSF production / CSF volume (1/h)."""
        return self.species_value(species, "csf_production") / self.species_value(
            species, "csf_volume"
        )

    def pk_parameters(self, drug: str, species: str) -> PKParameters:
        """Numbers for the PK model of ``drug`` in ``species``, in canonical units."""
        d = self.drug(drug)
        sp = self.get_species(species)
        if sp.name not in d.pk:
            raise LeptotwinError(
                f"no {sp.name} PK in the catalogue for {d.name}",
                field="species",
                value=species,
                expected="one of " + ", ".join(sorted(d.pk)),
            )
        pk: DrugSpeciesPK = d.pk[sp.name]
        bw = self.species_value(sp.name, "body_weight")
        bsa = self.species_value(sp.name, "body_surface_area")

        def num(name: str) -> float:
            q: Quantity | None = getattr(pk, name)
            if q is None:
                return 0.0
            return convert(q.value, q.unit, _PK_KINDS[name], body_weight_kg=bw, body_surface_m2=bsa)

        k_csf = num("k_csf") if pk.k_csf is not None else self.csf_turnover_per_h(sp.name)
        return PKParameters(
            drug=d.name,
            species=sp.name,
            model=pk.model,
            CL_L_h=num("CL"),
            V1_L=num("V1"),
            Q_L_h=num("Q"),
            V2_L=num("V2"),
            fu=num("fu"),
            kp_uu_csf=num("kp_uu_csf"),
            k_csf_per_h=k_csf,
            kp_uu_lesion=num("kp_uu_lesion"),
            k_lesion_per_h=num("k_lesion"),
            routes={
                r: (
                    convert(a.ka.value, a.ka.unit, "rate"),
                    convert(a.F.value, a.F.unit, "fraction"),
                )
                for r, a in pk.routes.items()
            },
            iiv={k: convert(q.value, q.unit, "fraction") for k, q in pk.iiv.items()},
            mw_g_mol=_mw_g_mol(d),
            body_weight_kg=bw,
            body_surface_m2=bsa,
        )

    def metabolites_of(self, drug: str, species: str) -> list[tuple[str, float]]:
        """Active metabolites formed from ``drug`` in ``species``: (name, fraction of the parent's
        clearance that forms it)."""
        out = []
        for name, d in self.drugs.items():
            pk = d.pk.get(species)  # type: ignore[call-overload]
            if pk is not None and pk.formed_from == drug and pk.fraction_formed is not None:
                out.append(
                    (name, convert(pk.fraction_formed.value, pk.fraction_formed.unit, "fraction"))
                )
        return out

    def potency_nM(self, drug: str) -> list[tuple[str, str, float]]:
        """(target, assay, IC50 in nM) for each potency entry of ``drug``."""
        d = self.drug(drug)
        return [(p.target, p.assay, ic50_to_nM(p.ic50, _mw_g_mol(d))) for p in d.potency]

    def posterior_of(self, path: str) -> PosteriorSummary | None:
        """The calibration's summary of the value at ``path`` (or of a value tied to it: one YAML
        anchor), None where the calibration has not estimated it."""
        tied = self.tied.get(path, (path,))
        return next((self.posterior[t] for t in tied if t in self.posterior), None)

    def table(self) -> pd.DataFrame:
        """Every value as one row: ``group, path, value, unit, source, assumption,
        primary_source, verify`` (``verify``: recalled from a source, not re-read), then the
        prior (``prior_dist, prior_low, prior_high, prior_source``; empty for a fixed value) and
        the posterior summary (``posterior_median, posterior_low, posterior_high``; NaN where
        the calibration has not estimated the value; a summary given for one of several tied
        values is shown for all of them)."""
        nan = float("nan")
        rows = []
        for group, path, q in self.quantities():
            p = q.prior
            post = self.posterior_of(path)
            rows.append(
                {
                    "group": group,
                    "path": path,
                    "value": q.value,
                    "unit": q.unit,
                    "source": q.source,
                    "assumption": q.assumption,
                    "setting": q.setting,
                    "primary_source": q.has_primary_source,
                    "verify": "verify" in q.note.lower(),
                    "prior_dist": p.dist if p else "",
                    "prior_low": p.low if p else nan,
                    "prior_high": p.high if p else nan,
                    "prior_source": p.source if p else "",
                    "posterior_median": post.median if post else nan,
                    "posterior_low": post.low if post else nan,
                    "posterior_high": post.high if post else nan,
                }
            )
        return pd.DataFrame(rows)

    def drug_table(self, name: str) -> pd.DataFrame:
        """The rows of :meth:`table` that describe one drug (name matched case-insensitively).

        Its own entry (``AZ5104.pk.mouse.CL``) and the values named after it elsewhere
        (``brain_section.parameters.kp_uu_brain_osimertinib``,
        ``studied_doses.parameters.mouse_max_osimertinib``). An active metabolite that is a PK
        species (AZ5104) has all its values in its own entry: the tissue model simulates it.

        Raises
        ------
        LeptotwinError
            For an unknown drug (the message lists the known ones).
        """
        drug = self.drug(name)
        table = self.table()
        leaf = table["path"].str.rsplit(".", n=1).str[-1]
        keep = table["path"].str.startswith(drug.name + ".") | leaf.str.endswith("_" + drug.name)
        return table[keep].reset_index(drop=True)

    def quantities(self) -> list[tuple[str, str, Quantity]]:
        """Every Quantity in the catalogue as (file, dotted path, quantity); the blocks of
        :data:`OTHER_SITE_BLOCKS` last."""
        rows: list[tuple[str, str, Quantity]] = []
        last: list[tuple[str, str, Quantity]] = []
        for group, items in self._groups():
            for name, obj in items.items():
                other_site = group == "in_vivo" and name in OTHER_SITE_BLOCKS
                _walk(obj.model_dump(), f"{name}", group, last if other_site else rows)
        return rows + last

    def _groups(self) -> list[tuple[str, dict[str, BaseModel]]]:
        groups: list[tuple[str, dict[str, Any]]] = [
            ("drugs", self.drugs),
            ("species", self.species),
            ("cell_lines", self.cell_lines),
            ("perturbations", self.perturbations),
            ("assays", self.assays),
            ("in_vivo", self.in_vivo),
        ]
        if self.pathway is not None:
            groups.append(("pathway", {"pathway": self.pathway}))
        if self.bypass:
            groups.append(("bypass", {f"bypass.{k}": v for k, v in self.bypass.items()}))
        return groups

    def _locate(self, path: str) -> tuple[str, str, list[str | int]]:
        """(group, top-level name, keys below it) of a dotted path as :meth:`table` writes it."""
        best: tuple[str, str] | None = None
        for group, items in self._groups():
            for name in items:
                if path.startswith(name + ".") and (best is None or len(name) > len(best[1])):
                    best = (group, name)
        if best is not None:
            keys: list[str | int] = []
            rest = path[len(best[1]) :]
            for m in _PATH_TOKEN.finditer(rest):
                keys.append(int(m.group(2)) if m.group(2) is not None else m.group(1))
            if "".join(m.group(0) for m in _PATH_TOKEN.finditer(rest)) == rest and keys:
                return best[0], best[1], keys
        raise LeptotwinError(
            "not a catalogue value",
            field="path",
            value=path,
            expected="a path as `leptotwin catalog --csv` lists it, e.g. pathway.egfr_weight",
        )

    def quantity(self, path: str) -> Quantity:
        """The Quantity at a dotted path (``pathway.egfr_weight``, ``AZ5104.pk.mouse.CL``,
        ``alectinib.potency[0].ic50``, ``patients.parameters.csf_areg_baseline``)."""
        group, name, keys = self._locate(path)
        obj: Any = dict(self._groups())[group][name]
        try:
            for key in keys:
                obj = obj[key] if isinstance(obj, dict | list) else getattr(obj, str(key))
        except (KeyError, IndexError, AttributeError):
            obj = None
        if not isinstance(obj, Quantity):
            raise LeptotwinError("not a catalogue value", field="path", value=path)
        return obj

    def with_values(self, values: dict[str, float], *, tied: bool = True) -> Catalog:
        """A copy of the catalogue with the values at some paths replaced.

        For calibration, ensembles and sensitivity analyses:
        ``cat.with_values({"pathway.egfr_weight": 5.5, "AZ5104.pk.mouse.fraction_formed": 0.25})``.
        Only ``value`` changes; unit, source and prior stay. With ``tied`` (default) a value
        shared through a YAML anchor (:attr:`tied`) is changed everywhere it is used.

        Raises
        ------
        LeptotwinError
            For a path that is not a catalogue value, a value that is not a finite number, or a
            value outside the support of the quantity's prior (≤ 0 for lognormal or loguniform,
            outside (0, 1) for logitnormal, outside the bounds of a uniform or loguniform prior).
        """
        updates: dict[str, float] = {}
        for path, raw in values.items():
            q = self.quantity(path)
            try:
                x = float(raw)
            except (TypeError, ValueError):
                x = math.nan
            if not math.isfinite(x):
                raise LeptotwinError("not a finite number", field=path, value=raw)
            if q.prior is not None and not _in_support(q.prior.dist, q.prior.low, q.prior.high, x):
                raise LeptotwinError(
                    f"outside the support of its {q.prior.dist} prior",
                    field=path,
                    value=x,
                    expected=_support_text(q.prior.dist, q.prior.low, q.prior.high),
                )
            for p in self.tied.get(path, (path,)) if tied else (path,):
                updates[p] = x
        groups = {g: dict(items) for g, items in self._groups()}
        for path, x in updates.items():
            group, name, keys = self._locate(path)
            groups[group][name] = _replace_value(groups[group][name], keys, x)
        pathway = groups.pop("pathway", {}).get("pathway", self.pathway)
        bypass = {k.removeprefix("bypass."): v for k, v in groups.pop("bypass", {}).items()}
        return replace(self, pathway=pathway, bypass=bypass, **groups)  # type: ignore[arg-type]


_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


def _replace_value(obj: Any, keys: list[str | int], value: float) -> Any:
    """``obj`` with the Quantity at ``keys`` given a new value; copies only along the path and
    does not re-validate (a posterior draw may lie outside a prior's 95 % interval)."""
    if not keys:
        prior = obj.prior
        if prior is not None and prior.catalog_value is None:
            # a lognormal prior is centred on the catalogue value: keep it before the value moves
            prior = prior.model_copy(update={"catalog_value": obj.value})
        return obj.model_copy(update={"value": value, "prior": prior})
    key, rest = keys[0], keys[1:]
    if isinstance(obj, dict):
        return {**obj, key: _replace_value(obj[key], rest, value)}
    if isinstance(obj, list):
        out = list(obj)
        out[int(key)] = _replace_value(obj[int(key)], rest, value)
        return out
    return obj.model_copy(update={key: _replace_value(getattr(obj, str(key)), rest, value)})


def _in_support(dist: str, low: float, high: float, x: float) -> bool:
    if dist in ("uniform", "loguniform"):
        return low <= x <= high
    if dist == "lognormal":
        return x > 0
    if dist == "logitnormal":
        return 0 < x < 1
    return True


def _support_text(dist: str, low: float, high: float) -> str:
    return {
        "uniform": f"a value in [{low:g}, {high:g}]",
        "loguniform": f"a value in [{low:g}, {high:g}]",
        "lognormal": "a positive value",
        "logitnormal": "a value in (0, 1)",
    }.get(dist, "a finite number")


def _block_value(blocks: dict[str, AssayKit], what: str, block: str, name: str) -> float:
    if block not in blocks:
        raise LeptotwinError(what, field=block, expected="one of " + ", ".join(sorted(blocks)))
    params = blocks[block].parameters
    if name not in params:
        raise LeptotwinError(
            what, field=f"{block}.{name}", expected="one of " + ", ".join(sorted(params))
        )
    return params[name].value


def _mw_g_mol(drug: Drug) -> float:
    return convert(drug.molecular_weight.value, drug.molecular_weight.unit, "molar_mass")


def ic50_to_nM(q: Quantity, mw_g_mol: float) -> float:
    """An IC50 in molar or mass units, in nM."""
    if q.unit in _MASS_CONC_PER_L:
        return q.value * _MASS_CONC_PER_L[q.unit] / mw_g_mol * 1e9
    return convert(q.value, q.unit, "molar_conc")


def _walk(obj: Any, path: str, group: str, rows: list) -> None:
    if isinstance(obj, dict) and {"value", "unit", "source"} <= obj.keys():
        rows.append((group, path, Quantity(**obj)))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _walk(v, f"{path}.{k}", group, rows)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _walk(v, f"{path}[{i}]", group, rows)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LeptotwinError(f"not valid YAML: {exc}", source=str(path)) from None
    if not isinstance(data, dict):
        raise LeptotwinError("expected a mapping at the top level", source=str(path))
    return data


def _validation_error(path: Path, name: str, exc: ValidationError) -> LeptotwinError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in (name, *err["loc"]))
    msg = {"extra_forbidden": "unknown key", "missing": "missing required key"}.get(
        err["type"], err["msg"].removeprefix("Value error, ")
    )
    return LeptotwinError(msg, source=str(path), field=loc)


def _check_unit(
    path: Path, field: str, q: Quantity | None, accepted: tuple[str, ...], expected: str = ""
) -> None:
    """Raise a LeptotwinError naming ``field`` when ``q`` is given in a unit not ``accepted``."""
    if q is not None and q.unit not in accepted:
        raise LeptotwinError(
            "unit not accepted",
            source=str(path),
            field=f"{field}.unit",
            value=q.unit,
            expected=expected or "one of " + ", ".join(accepted),
        )


def _units(kind: str) -> tuple[str, ...]:
    return tuple(CANONICAL[kind].factors)


def _build(cls: type[_M], path: Path, field: str, body: Any, **extra: Any) -> _M:
    """``cls(**extra, **body)``; schema errors become a LeptotwinError naming the field."""
    try:
        return cls(**extra, **body)
    except ValidationError as exc:
        raise _validation_error(path, field, exc) from None
    except TypeError:
        raise LeptotwinError("expected a mapping", source=str(path), field=field) from None


def _check_drug_units(path: Path, drug: Drug) -> None:
    name = drug.name
    _check_unit(path, f"{name}.molecular_weight", drug.molecular_weight, _units("molar_mass"))
    ic50_units = _units("molar_conc") + tuple(_MASS_CONC_PER_L)
    for i, pot in enumerate(drug.potency):
        _check_unit(path, f"{name}.potency[{i}].ic50", pot.ic50, ic50_units)
    for sp_name, pk in drug.pk.items():
        where = f"{name}.pk.{sp_name}"
        for fname, kind in _PK_KINDS.items():
            _check_unit(path, f"{where}.{fname}", getattr(pk, fname), _units(kind))
        _check_unit(path, f"{where}.fraction_formed", pk.fraction_formed, _units("fraction"))
        for fname, q in pk.iiv.items():
            _check_unit(path, f"{where}.iiv.{fname}", q, _units("fraction"))
        for fname, q in pk.covariates.items():
            _check_unit(path, f"{where}.covariates.{fname}", q, _units("fraction"))
        for route, a in pk.routes.items():
            _check_unit(path, f"{where}.routes.{route}.ka", a.ka, _units("rate"))
            _check_unit(path, f"{where}.routes.{route}.F", a.F, _units("fraction"))


def _data_dir() -> Path:
    return Path(str(resources.files("leptotwin.catalog") / "data"))


def load_catalog(data_dir: str | Path | None = None) -> Catalog:
    """Parse and check the catalogue files (``drugs``, ``species``, ``cell_lines``, ``pathway``,
    ``assays``, ``in_vivo``, each ``.yaml``; optionally ``bypass.yaml``, :data:`BYPASS_FILE`).

    Parameters
    ----------
    data_dir : path, optional
        A folder holding the six files (and any ``bypass.yaml``); the packaged catalogue by
        default.

    Raises
    ------
    LeptotwinError
        On unknown keys, missing units or sources, units a field does not accept, or bad YAML.
    """
    if data_dir is None:
        active = _ACTIVE.get()
        return active if active is not None else _default_catalog()
    return _load(Path(data_dir))


_ACTIVE: ContextVar[Catalog | None] = ContextVar("leptotwin_active_catalog", default=None)


@contextmanager
def using_catalog(catalog: Catalog | None) -> Iterator[Catalog]:
    """Make ``catalog`` the one ``load_catalog()`` returns (inside the ``with`` block only).

    Why: the ensemble and the calibration run the whole model on drawn parameter sets, and the
    model's many ``X.from_catalog()`` defaults read :func:`load_catalog`; setting the active
    catalogue once is safer than threading ``catalog=`` through every call (a call site that is
    missed would silently use the packaged values). Scoped by a :class:`contextvars.ContextVar`,
    so threads and nested blocks each see their own; ``None`` restores the packaged catalogue.

    >>> from leptotwin.catalog import load_catalog
    >>> cat = load_catalog().with_values({"pathway.egfr_weight": 5.5})
    >>> with using_catalog(cat):
    ...     load_catalog().pathway_value("egfr_weight")
    5.5
    """
    token = _ACTIVE.set(catalog)
    try:
        yield catalog if catalog is not None else _default_catalog()
    finally:
        _ACTIVE.reset(token)


def active_catalog() -> Catalog:
    """The catalogue in force: the one set by :func:`using_catalog`, else the packaged one."""
    return load_catalog()


@cache
def _default_catalog() -> Catalog:
    return _load(_data_dir())


def _load(folder: Path) -> Catalog:
    files = {
        "drugs": folder / "drugs.yaml",
        "species": folder / "species.yaml",
        "cell_lines": folder / "cell_lines.yaml",
        "pathway": folder / "pathway.yaml",
        "assays": folder / "assays.yaml",
        "in_vivo": folder / "in_vivo.yaml",
    }
    for f in files.values():
        if not f.is_file():
            raise LeptotwinError("catalogue file not found", source=str(f))
    if (folder / BYPASS_FILE).is_file():  # optional: second bypass receptors
        files["bypass"] = folder / BYPASS_FILE
    species: dict[str, Species] = {}
    for name, body in _read_yaml(files["species"]).items():
        species[name] = _build(Species, files["species"], name, body, name=name)
        for fname, kind in _SPECIES_KINDS.items():
            q = getattr(species[name], fname)
            _check_unit(files["species"], f"{name}.{fname}", q, _units(kind))
    drugs: dict[str, Drug] = {}
    for name, body in _read_yaml(files["drugs"]).items():
        if name.startswith("_"):  # shared blocks referenced by YAML anchors, not drugs
            continue
        drugs[name] = _build(Drug, files["drugs"], name, body, name=name)
        for sp_name in drugs[name].pk:
            if sp_name not in species:
                raise LeptotwinError(
                    "PK given for a species the catalogue does not define",
                    source=str(files["drugs"]),
                    field=f"{name}.pk.{sp_name}",
                )
        _check_drug_units(files["drugs"], drugs[name])
    cell_lines, perturbations = _load_cells(files["cell_lines"])
    pathway = _load_pathway(files["pathway"])
    assays = _load_blocks(files["assays"])
    in_vivo = _load_blocks(files["in_vivo"])
    cat = Catalog(
        drugs=drugs,
        species=species,
        cell_lines=cell_lines,
        perturbations=perturbations,
        pathway=pathway,
        assays=assays,
        in_vivo=in_vivo,
        files=files,
        tied=_tied_paths(files),
    )
    if "bypass" in files:
        cat.bypass = _load_bypass(files["bypass"], _read_yaml(files["bypass"]), cat)
    _check_priors(cat)
    posterior = folder / POSTERIOR_FILE
    if posterior.is_file():
        cat.posterior = read_posterior(posterior, cat)
    return cat


_GROUP_FILE = {
    "drugs": "drugs",
    "species": "species",
    "cell_lines": "cell_lines",
    "perturbations": "cell_lines",
    "pathway": "pathway",
    "assays": "assays",
    "in_vivo": "in_vivo",
    "bypass": "bypass",
}


def _file_field(group: str, path: str) -> str:
    """A table path as the loader's errors name it (``cell_lines.A925L/AR.mir449a``)."""
    if group in ("cell_lines", "perturbations"):
        return f"{group}.{path}"
    return path


def _check_priors(cat: Catalog) -> None:
    """Every assumption carries a prior (the range of what is not known, and its source), except
    a protocol setting (chosen, not unknown: :attr:`Quantity.setting`)."""
    for group, path, q in cat.quantities():
        if q.assumption and q.prior is None and not q.setting:
            raise LeptotwinError(
                "an assumption needs a prior",
                source=str(cat.files[_GROUP_FILE[group]]),
                field=_file_field(group, path),
                expected="prior: {dist: lognormal|normal|uniform|loguniform|logitnormal, "
                "low: ..., high: ..., source: 'where the range comes from'}",
            )


def _tied_paths(files: dict[str, Path]) -> dict[str, tuple[str, ...]]:
    """Quantities that are one YAML object (an anchor and its aliases), by table path."""
    by_object: dict[int, list[str]] = {}
    keep: list[Any] = []  # hold the parsed files so that ids stay unique
    for key, path in files.items():
        data = _read_yaml(path)
        keep.append(data)
        if key == "cell_lines":
            parts = [part for part in data.values() if isinstance(part, dict)]
            tops = [(n, b) for part in parts for n, b in part.items()]
        elif key == "pathway":
            tops = [("pathway", data)]
        elif key == "bypass":
            tops = [(f"bypass.{n}", b) for n, b in data.items() if not str(n).startswith("_")]
        else:
            tops = [(n, b) for n, b in data.items() if not str(n).startswith("_")]
        for name, body in tops:
            _collect_ids(body, str(name), by_object)
    tied: dict[str, tuple[str, ...]] = {}
    for paths in by_object.values():
        if len(paths) > 1:
            for p in paths:
                tied[p] = tuple(paths)
    return tied


def _collect_ids(obj: Any, path: str, out: dict[int, list[str]]) -> None:
    if isinstance(obj, dict) and {"value", "unit", "source"} <= obj.keys():
        out.setdefault(id(obj), []).append(path)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _collect_ids(v, f"{path}.{k}", out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _collect_ids(v, f"{path}[{i}]", out)


def read_posterior(path: str | Path, catalog: Catalog) -> dict[str, PosteriorSummary]:
    """Read a posterior summary file (format in the module docstring) and check it against
    ``catalog``: every path a catalogue value, the unit (when given) the catalogue's.

    Raises
    ------
    LeptotwinError
        Naming the file and the path, for unknown keys or paths, a wrong unit, or a summary that
        is not ``low <= median <= high``.
    """
    path = Path(path)
    data = _read_yaml(path)
    _only_keys(data, {"parameters", "provenance"}, path)
    params = data.get("parameters") or {}
    if not isinstance(params, dict):
        raise LeptotwinError("expected a mapping", source=str(path), field="parameters")
    known = {p: q for _, p, q in catalog.quantities()}
    out: dict[str, PosteriorSummary] = {}
    for name, body in params.items():
        where = f"parameters.{name}"
        if name not in known:
            raise LeptotwinError(
                "not a catalogue value",
                source=str(path),
                field=where,
                expected="a path as `leptotwin catalog --csv` lists it",
            )
        summary = _build(PosteriorSummary, path, where, body)
        if summary.unit is not None and summary.unit != known[name].unit:
            raise LeptotwinError(
                "unit differs from the catalogue",
                source=str(path),
                field=f"{where}.unit",
                value=summary.unit,
                expected=repr(known[name].unit),
            )
        out[name] = summary
    return out


def _only_keys(data: dict, allowed: set[str], path: Path) -> None:
    """Refuse a top-level key of a catalogue file that is not one of ``allowed``."""
    unknown = set(data) - allowed
    if unknown:
        raise LeptotwinError(
            "unknown key",
            source=str(path),
            field=sorted(unknown)[0],
            expected=", ".join(sorted(allowed)),
        )


def _load_blocks(path: Path) -> dict[str, AssayKit]:
    """Named blocks of quantities (``assays.yaml``, ``in_vivo.yaml``)."""
    return {
        name: _build(AssayKit, path, name, body, name=name)
        for name, body in _read_yaml(path).items()
    }


def _load_cells(path: Path) -> tuple[dict[str, CellLine], dict[str, Perturbation]]:
    data = _read_yaml(path)
    _only_keys(data, {"cell_lines", "perturbations"}, path)
    cells: dict[str, CellLine] = {}
    for name, body in (data.get("cell_lines") or {}).items():
        where = f"cell_lines.{name}"
        cells[name] = _build(CellLine, path, where, body, name=name)
        for fname in ("mir449a", "egfr_total", "alk_fusion", "areg_secretion"):
            q = getattr(cells[name], fname)
            _check_unit(path, f"{where}.{fname}", q, ("1",), "'1' (relative to parental)")
    perts: dict[str, Perturbation] = {}
    for name, body in (data.get("perturbations") or {}).items():
        where = f"perturbations.{name}"
        perts[name] = _build(Perturbation, path, where, body, name=name)
        if (perts[name].scale is None) == (perts[name].set is None):
            raise LeptotwinError("give exactly one of scale or set", source=str(path), field=where)
        _check_unit(path, where, perts[name].scale or perts[name].set, ("1",), "'1' (relative)")
    return cells, perts


def _load_pathway(path: Path) -> PathwayParameters:
    params = _build(PathwayParameters, path, "pathway", _read_yaml(path))
    for name, unit in PATHWAY_UNITS.items():
        _check_unit(path, name, getattr(params, name), (unit,), repr(unit))
    return params


_CONC_UNITS = _units("molar_conc") + tuple(_MASS_CONC_PER_L)
_BUILT_IN_RECEPTORS = {"ALK", "EGFR"}


def _load_bypass(path: Path, data: dict[str, Any], cat: Catalog) -> dict[str, BypassReceptor]:
    """Parse and check bypass receptors (``bypass.yaml``) against the rest of ``cat``."""
    out: dict[str, BypassReceptor] = {}
    fu_seen: dict[str, tuple[float, str]] = {}
    for name, body in data.items():
        if str(name).startswith("_"):  # shared blocks referenced by YAML anchors
            continue
        name = str(name)
        if name.upper() in _BUILT_IN_RECEPTORS:
            raise LeptotwinError(
                "ALK and EGFR are built into the pathway; a bypass receptor is a second one",
                source=str(path),
                field=name,
            )
        r = _build(BypassReceptor, path, name, body, name=name)
        _bypass_quantity(path, f"{name}.ligand_kd", r.ligand_kd, _units("molar_conc"), ">0")
        _bypass_quantity(
            path, f"{name}.ligand_molar_mass", r.ligand_molar_mass, _units("molar_mass"), ">0"
        )
        _bypass_quantity(path, f"{name}.efficacy", r.efficacy, ("1",), ">=0")
        _bypass_quantity(path, f"{name}.weight", r.weight, ("1",), ">=0")
        _bypass_quantity(path, f"{name}.ligand_medium", r.ligand_medium, _CONC_UNITS, ">=0")
        for line, c in r.cell_lines.items():
            where = f"{name}.cell_lines.{line}"
            if line not in cat.cell_lines:
                raise LeptotwinError(
                    "unknown cell line",
                    source=str(path),
                    field=where,
                    expected="one of " + ", ".join(sorted(cat.cell_lines)),
                )
            _bypass_quantity(path, f"{where}.receptor", c.receptor, ("1",), ">=0")
            _bypass_quantity(
                path, f"{where}.ligand_autocrine", c.ligand_autocrine, _CONC_UNITS, ">=0"
            )
        for drug, inh in r.inhibitors.items():
            where = f"{name}.inhibitors.{drug}"
            own = (inh.molecular_weight, inh.fu_plasma)
            if drug in cat.drugs and any(q is not None for q in own):
                raise LeptotwinError(
                    "a catalogue drug takes its molecular weight and plasma binding from "
                    "drugs.yaml; give only k",
                    source=str(path),
                    field=where,
                )
            if drug not in cat.drugs and any(q is None for q in own):
                raise LeptotwinError(
                    "unknown drug",
                    source=str(path),
                    field=where,
                    value=drug,
                    expected="a catalogue drug ("
                    + ", ".join(sorted(cat.drugs))
                    + ") or a compound with molecular_weight and fu_plasma",
                )
            _bypass_quantity(path, f"{where}.k", inh.k, _CONC_UNITS, ">0")
            _bypass_quantity(
                path, f"{where}.molecular_weight", inh.molecular_weight, _units("molar_mass"), ">0"
            )
            _bypass_quantity(path, f"{where}.fu_plasma", inh.fu_plasma, _units("fraction"), "fu")
            if inh.fu_plasma is not None:
                fu = convert(inh.fu_plasma.value, inh.fu_plasma.unit, "fraction")
                if drug in fu_seen and fu_seen[drug][0] != fu:
                    raise LeptotwinError(
                        "the same compound with two plasma unbound fractions",
                        source=str(path),
                        field=f"{where}.fu_plasma",
                        value=inh.fu_plasma.value,
                        expected=f"as in {fu_seen[drug][1]}",
                    )
                fu_seen[drug] = (fu, where)
        out[name] = r
    return out


def _bypass_quantity(
    path: Path, field: str, q: Quantity | None, units: tuple[str, ...], sign: str
) -> None:
    """Unit and sign of one bypass value; a LeptotwinError naming ``field`` otherwise."""
    if q is None:
        return
    _check_unit(path, field, q, units)
    x = q.value
    ok = {
        ">0": math.isfinite(x) and x > 0,
        ">=0": math.isfinite(x) and x >= 0,
        "fu": math.isfinite(x) and 0 < x and (x <= 1 if q.unit == "1" else x <= 100),
    }[sign]
    if not ok:
        raise LeptotwinError(
            "value out of range",
            source=str(path),
            field=f"{field}.value",
            value=x,
            expected={">0": "a positive number", ">=0": "a number >= 0", "fu": "in (0, 1]"}[sign],
        )
