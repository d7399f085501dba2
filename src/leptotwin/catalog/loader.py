"""Load and check the parameter catalogue (``catalog/data/*.yaml``).

:func:`load_catalog` parses the YAML files into the typed schema, rejects unknown keys, missing
units and missing sources with a :class:`~leptotwin.errors.LeptotwinError` that names the file and
the field, and checks that every unit is one the field accepts. :class:`Catalog` then hands the
model plain numbers in canonical units (:class:`PKParameters`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import ValidationError

from leptotwin.catalog.schema import Drug, DrugSpeciesPK, Quantity, Species
from leptotwin.catalog.units import CANONICAL, convert
from leptotwin.errors import LeptotwinError

__all__ = ["Catalog", "PKParameters", "load_catalog"]

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
_MASS_CONC_PER_L = {"ng/mL": 1e-6, "µg/mL": 1e-3, "mg/L": 1e-3}  # g/L per unit


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


@dataclass
class Catalog:
    """The loaded catalogue: drugs and species by name, plus the files they came from."""

    drugs: dict[str, Drug]
    species: dict[str, Species]
    files: dict[str, Path] = field(default_factory=dict)

    def drug(self, name: str) -> Drug:
        """Return one drug; raise a LeptotwinError listing the known ones if absent."""
        key = name.strip().lower()
        if key not in self.drugs:
            raise LeptotwinError(
                "unknown drug",
                field="drug",
                value=name,
                expected="one of " + ", ".join(sorted(self.drugs)),
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
            mw_g_mol=convert(d.molecular_weight.value, d.molecular_weight.unit, "molar_mass"),
            body_weight_kg=bw,
            body_surface_m2=bsa,
        )

    def potency_nM(self, drug: str) -> list[tuple[str, str, float]]:
        """(target, assay, IC50 in nM) for each potency entry of ``drug``."""
        d = self.drug(drug)
        mw = convert(d.molecular_weight.value, d.molecular_weight.unit, "molar_mass")
        out = []
        for p in d.potency:
            out.append((p.target, p.assay, ic50_to_nM(p.ic50, mw)))
        return out

    def table(self) -> pd.DataFrame:
        """Every value as one row: ``group, path, value, unit, source, assumption,
        primary_source, verify`` (``verify``: recalled from a source, not re-read)."""
        rows = [
            {
                "group": group,
                "path": path,
                "value": q.value,
                "unit": q.unit,
                "source": q.source,
                "assumption": q.assumption,
                "primary_source": q.has_primary_source,
                "verify": "verify" in q.note.lower(),
            }
            for group, path, q in self.quantities()
        ]
        return pd.DataFrame(rows)

    def quantities(self) -> list[tuple[str, str, Quantity]]:
        """Every Quantity in the catalogue as (file, dotted path, quantity)."""
        rows: list[tuple[str, str, Quantity]] = []
        for group, items in (("drugs", self.drugs), ("species", self.species)):
            for name, obj in items.items():
                _walk(obj.model_dump(), f"{name}", group, rows)
        return rows


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
        err["type"], err["msg"]
    )
    return LeptotwinError(msg, source=str(path), field=loc)


def _check_units(path: Path, name: str, pk: DrugSpeciesPK) -> None:
    for fname, kind in _PK_KINDS.items():
        q = getattr(pk, fname)
        if q is not None and q.unit not in CANONICAL[kind].factors:
            raise LeptotwinError(
                "unit not accepted",
                source=str(path),
                field=f"{name}.{fname}.unit",
                value=q.unit,
                expected="one of " + ", ".join(CANONICAL[kind].factors),
            )
    for route, a in pk.routes.items():
        for fname, kind, q in (("ka", "rate", a.ka), ("F", "fraction", a.F)):
            if q.unit not in CANONICAL[kind].factors:
                raise LeptotwinError(
                    "unit not accepted",
                    source=str(path),
                    field=f"{name}.routes.{route}.{fname}.unit",
                    value=q.unit,
                    expected="one of " + ", ".join(CANONICAL[kind].factors),
                )


def _data_dir() -> Path:
    return Path(str(resources.files("leptotwin.catalog") / "data"))


def load_catalog(data_dir: str | Path | None = None) -> Catalog:
    """Parse and check ``drugs.yaml`` and ``species.yaml``.

    Parameters
    ----------
    data_dir : path, optional
        A folder holding the two files; the packaged catalogue by default.

    Raises
    ------
    LeptotwinError
        On unknown keys, missing units or sources, units a field does not accept, or bad YAML.
    """
    if data_dir is None:
        return _default_catalog()
    return _load(Path(data_dir))


@cache
def _default_catalog() -> Catalog:
    return _load(_data_dir())


def _load(folder: Path) -> Catalog:
    files = {"drugs": folder / "drugs.yaml", "species": folder / "species.yaml"}
    for f in files.values():
        if not f.is_file():
            raise LeptotwinError("catalogue file not found", source=str(f))
    species: dict[str, Species] = {}
    for name, body in _read_yaml(files["species"]).items():
        try:
            species[name] = Species(name=name, **body)
        except ValidationError as exc:
            raise _validation_error(files["species"], name, exc) from None
        except TypeError:
            raise LeptotwinError(
                "expected a mapping", source=str(files["species"]), field=name
            ) from None
        for fname, kind in _SPECIES_KINDS.items():
            q = getattr(species[name], fname)
            if q.unit not in CANONICAL[kind].factors:
                raise LeptotwinError(
                    "unit not accepted",
                    source=str(files["species"]),
                    field=f"{name}.{fname}.unit",
                    value=q.unit,
                    expected="one of " + ", ".join(CANONICAL[kind].factors),
                )
    drugs: dict[str, Drug] = {}
    for name, body in _read_yaml(files["drugs"]).items():
        if name.startswith("_"):  # shared blocks referenced by YAML anchors, not drugs
            continue
        try:
            drugs[name] = Drug(name=name, **body)
        except ValidationError as exc:
            raise _validation_error(files["drugs"], name, exc) from None
        except TypeError:
            raise LeptotwinError(
                "expected a mapping", source=str(files["drugs"]), field=name
            ) from None
        for sp_name, pk in drugs[name].pk.items():
            if sp_name not in species:
                raise LeptotwinError(
                    "PK given for a species the catalogue does not define",
                    source=str(files["drugs"]),
                    field=f"{name}.pk.{sp_name}",
                )
            _check_units(files["drugs"], f"{name}.pk.{sp_name}", pk)
    return Catalog(drugs=drugs, species=species, files=files)
