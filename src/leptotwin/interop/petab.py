"""A lab's experiment (``experiment.yaml``) as a PEtab v1 parameter-estimation problem, and the
negative log-likelihood of its data computed by leptotwin's own engine.

The problem
-----------
* **Model**: one SBML model for all arms, the in-vivo twin of :func:`~leptotwin.interop.sbml.
  export_sbml` for the *typical* mouse (no between-subject variability: PK at the catalogue's
  typical values, engrafted cells and growth-rate scale at their medians; PEtab v1 has no random
  effects, so every mouse of an arm shares the arm's simulation and the spread between mice is
  in the noise model). The doses are not baked in: for every drug and route the model has dose
  slots ``t_dose_<drug>_<route>_<k>`` (h after inoculation) and ``mg_<drug>_<route>_<k>`` (mg
  given) with one event each (``A_gut`` or ``A_c`` += F × mg). Why one model with dosing in the
  condition table: PEtab v1 has one model per problem, and the arms differ only in what was given.
* **Conditions**: one per arm, setting its dose slots (unused slots: 0 mg at a time after the
  follow-up).
* **Observables**: ``total_flux = N_total × bli_flux_per_cell + bli_background_p_s`` and
  ``plasma_<drug>``, ``csf_<drug>`` (``C_plasma``/``C_csf`` in nM, × MW / 1000 for ng/mL); noise
  ``sigma_<observable>``, log-normal (``observableTransformation: log``) or normal.
* **Measurements**: the data rows kept by the loader (time in h after inoculation; the mouse as
  ``replicateId``).
* **Parameters**: each estimated catalogue value as ``theta_<path>`` (nominal value = catalogue
  value, bounds and ``objectivePrior`` from its catalogue prior: lognormal → ``logNormal``,
  normal → ``normal``, uniform → ``uniform``, loguniform → ``parameterScaleUniform`` on log10;
  log10 scale for positive priors). In the SBML, every model parameter that the value sets is an
  assignment rule ``X = X₀ × theta / theta₀`` (or an initial assignment for a state's initial
  value). The dependence is found by exporting the model at the value and at 1.1× the value and
  is required to be proportional; a catalogue value that enters otherwise, or not at all, is
  refused. The noise SDs and the BLI scale are fixed parameters (``estimate = 0``).

The likelihood
--------------
:func:`engine_nll` simulates the same typical mice with leptotwin's cohort engine
(:func:`~leptotwin.model.cohort.simulate_lmc`, deterministic, no endpoint) and its closed-form
PK (:class:`~leptotwin.model.pk.PKStream`), and sums PEtab's negative log-likelihood
(``0.5 ln(2π σ² y²) + 0.5 ((ln y − ln h)/σ)²`` for log-normal, ``0.5 ln(2π σ²) + 0.5 ((y − h)/σ)²``
for normal; no prior terms). The engine's growth step is first order in the step length; the
burden is Richardson-extrapolated from the steps ``dt_h`` and ``dt_h / 2``. The tests compare
this with the NLL of the written problem simulated by libRoadRunner.

:class:`EngineLikelihood` (:func:`engine_nll_batch`) computes :func:`engine_nll` at many
parameter sets in one pass of the cohort engine (the sets as its subjects), and
:func:`engine_multistart` fits the estimated values by multistart maximum likelihood with
scipy's L-BFGS-B, every start's finite-difference stencil and all starts batched together
(:func:`~leptotwin.calibration.multistart.lockstep_lbfgsb`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml
from numpy.typing import ArrayLike

from leptotwin import _sigint
from leptotwin._fileio import atomic_write, prepare_out_dir, write_text
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.catalog.priors import prior_distribution
from leptotwin.errors import LeptotwinError
from leptotwin.interop.sbml import check_sbml, export_sbml
from leptotwin.model.barrier import lesion_kp_uu
from leptotwin.model.cohort import Arm, simulate_lmc
from leptotwin.model.pathway import PathwayModel
from leptotwin.model.pk import (
    Metabolite,
    PKStream,
    SubjectPK,
    draw_subjects,
    log_concentration,
)
from leptotwin.model.regimen import Regimen, _shifted, doses_by_route
from leptotwin.model.tumor import TumorParameters, default_clones

if TYPE_CHECKING:  # the experiment loader lives in study/, which may import interop/
    from leptotwin.calibration.multistart import LockstepResult
    from leptotwin.study.experiment import Experiment

__all__ = [
    "NOTE_KEY",
    "EngineLikelihood",
    "ParameterScale",
    "PetabProblem",
    "build_petab",
    "engine_multistart",
    "engine_nll",
    "engine_nll_batch",
    "engine_simulation",
    "read_petab_problem",
    "simulation_nll",
    "theta_id",
]

NOTE_KEY = "leptotwin"
"""The key of ``problem.yaml`` under which export-petab writes the experiment's design."""
_NO_DOSE_AFTER_H = 1.0e7  # an unused dose slot fires after any follow-up (> 1000 years)
_STEP = 1.1  # relative perturbation used to find what an estimated value sets in the model


def _sid(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return out if re.match(r"[A-Za-z_]", out) else f"x_{out}"


def theta_id(path: str) -> str:
    """The PEtab parameter id of a catalogue path.

    ``pathway.birth_max`` → ``theta_pathway_birth_max``.
    """
    return "theta_" + _sid(path)


def observable_id(oid: str) -> str:
    """``plasma:osimertinib`` → ``plasma_osimertinib``."""
    return _sid(oid.replace(":", "_"))


@dataclass(frozen=True)
class PetabProblem:
    """A PEtab v1 problem: the SBML text and the four tables (PEtab column names)."""

    name: str
    sbml: str
    conditions: pd.DataFrame
    measurements: pd.DataFrame
    observables: pd.DataFrame
    parameters: pd.DataFrame
    design: dict = field(default_factory=dict, repr=False)

    def write(self, out_dir: str | os.PathLike[str], *, force: bool = False) -> dict[str, Path]:
        """Write ``model.xml``, the four TSV tables and ``problem.yaml`` into ``out_dir``
        (created; an existing non-empty folder only with ``force``), each file atomically."""
        out = prepare_out_dir(out_dir, force=force)
        files = {
            "model": write_text(out / "model.xml", self.sbml),
            "conditions": _write_tsv(out / "conditions.tsv", self.conditions),
            "measurements": _write_tsv(out / "measurements.tsv", self.measurements),
            "observables": _write_tsv(out / "observables.tsv", self.observables),
            "parameters": _write_tsv(out / "parameters.tsv", self.parameters),
        }
        problem = {
            "format_version": 1,
            "parameter_file": "parameters.tsv",
            "problems": [
                {
                    "sbml_files": ["model.xml"],
                    "condition_files": ["conditions.tsv"],
                    "measurement_files": ["measurements.tsv"],
                    "observable_files": ["observables.tsv"],
                }
            ],
        }
        if self.design:  # how `leptotwin calibrate --petab` knows the model is one of ours
            problem[NOTE_KEY] = {
                "note": "written by leptotwin export-petab; the experiment's design (arms, "
                "regimens, observables, estimated catalogue values) for calibrate --petab",
                "model_id": _model_id(self.sbml),
                "experiment": self.design,
            }
        files["problem"] = write_text(
            out / "problem.yaml", yaml.safe_dump(problem, sort_keys=False, allow_unicode=True)
        )
        return files


def _write_tsv(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, sep="\t", index=False))


# --- the model ---------------------------------------------------------------------------------


def _typical_tumor(cat: Catalog, species: str, site: str = "leptomeningeal") -> TumorParameters:
    return replace(
        TumorParameters.from_catalog(cat, species=species, site=site),
        engraftment_sd=0.0,
        rate_scale_sd=0.0,
    )


def _burden_scale(cat: Catalog, species: str, site: str) -> tuple[float, float]:
    """(scale, offset) of the site's burden observable from live cells: BLI's flux per cell
    and background (p/s) at the leptomeningeal site; 1 / cell density (mm³ per cell) and 0 for
    the caliper volume of the subcutaneous site."""
    if site == "subcutaneous":
        density = TumorParameters.from_catalog(cat, species=species, site=site)
        return 1.0 / float(density.cell_density_per_mm3), 0.0
    return _bli_scale(cat)


def _union_arm(arms: tuple[Arm, ...]) -> Arm:
    regs: dict[str, list[Regimen]] = {}
    for arm in arms:
        for drug, rs in arm.regimens.items():
            have = regs.setdefault(drug, [])
            have.extend(r for r in rs if r not in have)  # type: ignore[union-attr]
    return Arm("all_arms", {d: tuple(r) for d, r in regs.items()})


def _dose_slots(
    exp: Experiment, cat: Catalog
) -> tuple[dict[tuple[str, str], int], dict[str, dict[str, float]]]:
    """(drug, route) → number of slots; condition id → {parameter id: value}."""
    t0 = _typical_tumor(cat, exp.species).treatment_start_d * 24.0
    horizon = exp.days * 24.0
    per_arm: dict[str, dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]] = {}
    slots: dict[tuple[str, str], int] = {}
    for arm in exp.arms:
        per_arm[arm.name] = {}
        for drug, regs in arm.regimens.items():
            p = cat.pk_parameters(drug, exp.species)
            doses = doses_by_route(
                _shifted(tuple(regs), t0),  # type: ignore[arg-type]
                horizon,
                body_weight_kg=p.body_weight_kg,
                body_surface_m2=p.body_surface_m2,
            )
            for route, (t, mg) in doses.items():
                per_arm[arm.name][(drug, route)] = (t, mg)
                slots[(drug, route)] = max(slots.get((drug, route), 0), t.size)
    conditions = {}
    for arm in exp.arms:
        row: dict[str, float] = {}
        for (drug, route), n in sorted(slots.items()):
            t, mg = per_arm[arm.name].get((drug, route), (np.empty(0), np.empty(0)))
            for k in range(n):
                d = f"{_sid(drug)}_{route}_{k}"
                row[f"t_dose_{d}"] = float(t[k]) if k < t.size else _NO_DOSE_AFTER_H
                row[f"mg_{d}"] = float(mg[k]) if k < t.size else 0.0
        conditions[_sid(arm.name)] = row
    return slots, conditions


def _model_values(exp: Experiment, cat: Catalog) -> tuple[object, dict[str, float]]:
    """The typical-mouse libsbml document (doses stripped) and its parameter values by id
    (constants' values, states' initial values, dose-slot values of every condition)."""
    libsbml = _sigint.libsbml()

    tp = _typical_tumor(cat, exp.species)
    union = _union_arm(exp.arms)
    text = export_sbml(
        union, days=exp.days, inoculum=exp.inoculum, species=exp.species, catalog=cat, tumor=tp
    ).sbml
    doc = libsbml.readSBMLFromString(text)
    m = doc.getModel()
    for i in reversed(range(m.getNumEvents())):
        if m.getEvent(i).getId().startswith("give_"):
            m.removeEvent(i)
    for pid in [m.getParameter(i).getId() for i in range(m.getNumParameters())]:
        if pid.startswith("dose_"):
            m.removeParameter(pid)
    # typical PK (the export draws the subject's variability)
    for drug in union.regimens:
        d = _sid(drug)
        s = draw_subjects(cat.pk_parameters(drug, exp.species), 1, iiv=False, catalog=cat)
        typical = {
            f"CL_{d}": s.CL,
            f"V1_{d}": s.V1,
            f"Q_{d}": s.Q,
            f"V2_{d}": s.V2,
            f"Kpuu_csf_{d}": s.kp_uu_csf,
            **{f"ka_{d}_{r}": a for r, a in s.ka.items()},
        }
        for pid, value in typical.items():
            if m.getParameter(pid) is not None:
                m.getParameter(pid).setValue(float(value[0]))
        for route, f in s.F.items():
            _param(m, f"F_{d}_{route}", float(f[0]), "dimensionless_")
    values = {
        p.getId(): p.getValue()
        for p in (m.getParameter(i) for i in range(m.getNumParameters()))
        if p.isSetValue() and m.getAssignmentRule(p.getId()) is None
    }
    _, conditions = _dose_slots(exp, cat)
    for cid, row in conditions.items():
        values.update({f"{cid}:{k}": v for k, v in row.items()})
    return doc, values


def _param(
    m: object, pid: str, value: float, units: str | None, *, constant: bool = True
) -> object:
    p = m.createParameter()  # type: ignore[attr-defined]
    p.setId(pid)
    p.setValue(value)
    p.setConstant(constant)
    if units:
        p.setUnits(units)
    return p


def _add_dose_events(m: object, slots: dict[tuple[str, str], int]) -> None:
    libsbml = _sigint.libsbml()

    for (drug, route), n in sorted(slots.items()):
        d = _sid(drug)
        target = f"A_c_{d}" if route == "iv" else f"A_gut_{d}_{route}"
        gain = "" if route == "iv" else f"F_{d}_{route} * "
        for k in range(n):
            s = f"{d}_{route}_{k}"
            _param(m, f"t_dose_{s}", _NO_DOSE_AFTER_H, "hour")
            _param(m, f"mg_{s}", 0.0, "mg")
            e = m.createEvent()  # type: ignore[attr-defined]
            e.setId(f"give_{s}")
            e.setUseValuesFromTriggerTime(True)
            t = e.createTrigger()
            t.setInitialValue(False)
            t.setPersistent(True)
            t.setMath(libsbml.parseL3Formula(f"time >= t_dose_{s}"))
            a = e.createEventAssignment()
            a.setVariable(target)
            a.setMath(libsbml.parseL3Formula(f"{target} + {gain}mg_{s}"))


def _estimated(
    exp: Experiment, cat: Catalog, doc: object, base: dict[str, float]
) -> dict[str, tuple[float, dict[str, float]]]:
    """path → (catalogue value, {SBML id: value at the catalogue value}) for what it sets."""
    out = {}
    for path in exp.estimate:
        value = cat.quantity(path).value
        step = _STEP
        try:
            moved_cat = cat.with_values({path: value * step})
        except LeptotwinError:  # at the upper edge of a bounded prior: step down instead
            step = 1.0 / _STEP
            moved_cat = cat.with_values({path: value * step})
        _, moved = _model_values(exp, moved_cat)
        changed = {k: v for k, v in moved.items() if not _same(v, base.get(k, math.nan))}
        if not changed:
            raise LeptotwinError(
                "this catalogue value does not enter the in-vivo model",
                source="estimate",
                field=path,
                expected="a value of the LMC twin (PK, pathway, tumour)",
            )
        bad = [k for k, v in changed.items() if ":" in k or not _same(v, base[k] * step)]
        if bad:
            raise LeptotwinError(
                "this catalogue value enters the model non-proportionally (or sets the dosing); "
                "PEtab export cannot estimate it yet",
                source="estimate",
                field=path,
                value=bad[0],
            )
        out[path] = (float(value), {k: base[k] for k in changed})
    return out


def _same(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-10 * max(abs(a), abs(b))


def _make_sbml(exp: Experiment, cat: Catalog) -> tuple[str, dict[str, dict[str, float]]]:
    libsbml = _sigint.libsbml()

    doc, base = _model_values(exp, cat)
    m = doc.getModel()  # type: ignore[attr-defined]
    slots, conditions = _dose_slots(exp, cat)
    _add_dose_events(m, slots)
    est = _estimated(exp, cat, doc, base)
    factors: dict[str, list[tuple[str, float]]] = {}
    for path, (value, ids) in est.items():
        _param(m, theta_id(path), value, None)
        for sid in ids:
            factors.setdefault(sid, []).append((theta_id(path), value))
    for sid, terms in factors.items():
        formula = repr(base[sid]) + "".join(f" * ({t} / {v!r})" for t, v in terms)
        p = m.getParameter(sid)
        if m.getRateRule(sid) is not None:  # a state: its initial value
            ia = m.createInitialAssignment()
            ia.setSymbol(sid)
            ia.setMath(libsbml.parseL3Formula(formula))
        else:
            p.setConstant(False)
            r = m.createAssignmentRule()
            r.setVariable(sid)
            r.setMath(libsbml.parseL3Formula(formula))
    _param(m, "bli_flux_per_cell", 1.0, None)  # set from the parameter table
    _param(m, "bli_background_p_s", 0.0, None)
    text = libsbml.writeSBMLToString(doc)
    problems = [p for p in check_sbml(text, units=False) if p.startswith("Error")]
    if problems:
        raise LeptotwinError("the PEtab model fails libsbml's checks", value=problems[0])
    return text, conditions


# --- the tables --------------------------------------------------------------------------------


def _bli_scale(cat: Catalog) -> tuple[float, float]:
    """Median flux per live cell seen by the camera (p/s/cell) and median background (p/s)."""
    ppc = cat.assay_value("bli", "photons_per_cell") * cat.assay_value("bli", "attenuation")
    return float(ppc), float(cat.assay_value("bli", "background_p_s"))


def _formula(exp: Experiment, oid: str, cat: Catalog) -> str:
    o = exp.observables[oid]
    if o.kind == "bli":
        return "N_total * bli_flux_per_cell + bli_background_p_s"
    sid = f"C_{o.kind}_{_sid(o.drug or '')}"
    if o.unit == "ng/mL":
        return f"{sid} * {_mw(cat, o.drug or '', exp.species) / 1000.0!r}"
    return sid


def _mw(cat: Catalog, drug: str, species: str) -> float:
    return float(cat.pk_parameters(drug, species).mw_g_mol)


def _prior_columns(path: str, cat: Catalog) -> dict[str, object]:
    q = cat.quantity(path)
    prior = q.prior
    dist = prior_distribution(q)
    lo, hi = float(dist.ppf(1e-4)), float(dist.ppf(1 - 1e-4))
    if prior.dist == "lognormal":
        mu, s = math.log(float(dist.median())), float(dist.kwds["s"])
        return dict(scale="log10", lb=lo, ub=hi, type="logNormal", pars=f"{mu!r};{s!r}")
    if prior.dist == "normal":
        m, s = float(dist.mean()), float(dist.std())
        scale = "log10" if lo > 0 else "lin"
        return dict(scale=scale, lb=lo, ub=hi, type="normal", pars=f"{m!r};{s!r}")
    if prior.dist == "uniform":
        scale = "log10" if prior.low > 0 else "lin"
        return dict(
            scale=scale,
            lb=prior.low,
            ub=prior.high,
            type="uniform",
            pars=f"{prior.low!r};{prior.high!r}",
        )
    if prior.dist == "loguniform":
        a, b = math.log10(prior.low), math.log10(prior.high)
        return dict(
            scale="log10",
            lb=prior.low,
            ub=prior.high,
            type="parameterScaleUniform",
            pars=f"{a!r};{b!r}",
        )
    raise LeptotwinError(
        f"a {prior.dist} prior has no PEtab v1 form",
        source="estimate",
        field=path,
        expected="a value with a lognormal, normal, uniform or loguniform prior",
    )


def build_petab(exp: Experiment, *, catalog: Catalog | None = None) -> PetabProblem:
    """The PEtab v1 problem of an experiment (see the module docstring).

    Raises
    ------
    LeptotwinError
        An estimated catalogue value that does not enter the model, enters it
        non-proportionally, or has a logit-normal prior (no PEtab v1 form); in-vitro
        ``viability``, ``elisa`` or ``qpcr`` data or observable (the problem's one SBML model
        is the in-vivo twin: a culture model per cell line and well is another model, which
        PEtab v1 cannot hold beside it; refused rather than left out).
    """
    if exp.site != "leptomeningeal":
        raise LeptotwinError(
            f"the PEtab export's SBML model is the leptomeningeal twin: it has no {exp.site} "
            "tumour (leptotwin calibrate fits the caliper data with the engine)",
            source=str(exp.path),
            field="site",
        )
    if "viability" in exp.observables or exp.has_viability:
        raise LeptotwinError(
            "the PEtab export has no in-vitro model: it cannot carry the viability data "
            "(leave data.viability and observables.viability out to export the in-vivo part; "
            "leptotwin calibrate fits them)",
            source=str(exp.path),
            field="data.viability",
        )
    for key, oid in (("elisa", "supernatant_areg"), ("qpcr", "relative_expression")):
        if oid in exp.observables or getattr(exp, key, None) is not None:
            raise LeptotwinError(
                f"the PEtab export has no in-vitro model: it cannot carry the {key} data "
                f"(leave data.{key} and observables.{oid} out to export the in-vivo part; "
                "leptotwin calibrate fits them)",
                source=str(exp.path),
                field=f"data.{key}",
            )
    cat = catalog or load_catalog()
    sbml, conditions = _make_sbml(exp, cat)
    cond = pd.DataFrame(
        [
            {"conditionId": cid, "conditionName": a.name, **conditions[cid]}
            for cid, a in ((_sid(a.name), a) for a in exp.arms)
        ]
    )
    obs_rows = []
    for oid, o in exp.observables.items():
        obs_rows.append(
            {
                "observableId": observable_id(oid),
                "observableName": oid,
                "observableFormula": _formula(exp, oid, cat),
                "observableTransformation": "log" if o.noise == "lognormal" else "lin",
                "noiseFormula": f"sigma_{observable_id(oid)}",
                "noiseDistribution": "normal",
            }
        )
    meas = exp.measurements
    measurements = pd.DataFrame(
        {
            "observableId": [observable_id(o) for o in meas["observable"]],
            "simulationConditionId": [_sid(a) for a in meas["arm"]],
            "measurement": meas["value"].to_numpy(float),
            "time": meas["time_h"].to_numpy(float),
            "replicateId": [_sid(str(s)) for s in meas["subject"]],
        }
    )
    flux, background = _bli_scale(cat)
    par_rows = [
        _fixed("bli_flux_per_cell", flux, "median flux per live cell at the camera (p/s/cell)"),
        _fixed("bli_background_p_s", background, "median background flux of an ROI (p/s)"),
    ]
    for oid, o in exp.observables.items():
        par_rows.append(_fixed(f"sigma_{observable_id(oid)}", o.sigma, f"noise SD of {oid}"))
    for path in exp.estimate:
        c = _prior_columns(path, cat)
        par_rows.append(
            {
                "parameterId": theta_id(path),
                "parameterName": path,
                "parameterScale": c["scale"],
                "lowerBound": c["lb"],
                "upperBound": c["ub"],
                "nominalValue": cat.quantity(path).value,
                "estimate": 1,
                "objectivePriorType": c["type"],
                "objectivePriorParameters": c["pars"],
            }
        )
    parameters = pd.DataFrame(par_rows)
    return PetabProblem(
        name=exp.name,
        sbml=sbml,
        conditions=cond,
        measurements=measurements,
        observables=pd.DataFrame(obs_rows),
        parameters=parameters,
        design=dict(exp.design),
    )


def _fixed(pid: str, value: float, name: str) -> dict[str, object]:
    return {
        "parameterId": pid,
        "parameterName": name,
        "parameterScale": "lin",
        "lowerBound": value,
        "upperBound": value,
        "nominalValue": value,
        "estimate": 0,
        "objectivePriorType": "",
        "objectivePriorParameters": "",
    }


# --- the engine's likelihood -------------------------------------------------------------------


def engine_simulation(
    exp: Experiment,
    values: Mapping[str, float] | None = None,
    *,
    catalog: Catalog | None = None,
    dt_h: float = 0.25,
) -> pd.DataFrame:
    """The experiment's measurements with the engine's simulated value (column ``simulation``)
    at the catalogue values ``values`` (path → value; the rest at the catalogue's).

    Burden: :func:`~leptotwin.model.cohort.simulate_lmc` for the typical mouse of each arm
    (deterministic, no endpoint) at steps ``dt_h`` and ``dt_h / 2`` on uniform grids (no
    refinement after doses), ln burden Richardson-extrapolated (the step is first order);
    ``dt_h`` must divide the hours of every BLI (or caliper) time. At the experiment's ``site``:
    ``total_flux`` = cells × flux per cell + background (leptomeningeal), ``tumor_volume`` =
    cells / cell density (mm³, subcutaneous). PK: exact (closed form) at the sample times.
    """
    cat = (catalog or load_catalog()).with_values(dict(values or {}))
    from leptotwin.study.experiment import BURDEN_OBSERVABLES  # study/ may import interop/

    meas = exp.measurements.copy()
    sim = np.full(len(meas), np.nan)
    log_sim = np.full(len(meas), np.nan)
    tp = _typical_tumor(cat, exp.species, exp.site)
    bli = meas["observable"].isin(BURDEN_OBSERVABLES)
    if bli.any():
        _check_bli_grid(meas.loc[bli, "time_h"].to_numpy(float), dt_h)
        days = sorted(set(meas.loc[bli, "time_h"] / 24.0))
        values, where = _richardson_log_cells(exp, days, dt_h, cat, tp, n_per_arm=1)
        log_cells = pd.Series(values, index=pd.MultiIndex.from_frame(where))
        flux, background = _burden_scale(cat, exp.species, exp.site)
        idx = np.flatnonzero(bli.to_numpy())
        keys = list(
            zip(meas["arm"].to_numpy()[idx], meas["time_h"].to_numpy()[idx] / 24.0, strict=True)
        )
        sim[idx] = np.exp(log_cells.loc[keys].to_numpy()) * flux + background
        log_sim[idx] = np.log(sim[idx])
    t0 = tp.treatment_start_d * 24.0
    for oid, o in exp.observables.items():
        if oid in BURDEN_OBSERVABLES:
            continue
        for arm in exp.arms:
            rows = np.flatnonzero(
                ((meas["observable"] == oid) & (meas["arm"] == arm.name)).to_numpy()
            )
            if rows.size == 0:
                continue
            t_rows = meas["time_h"].to_numpy()[rows]
            mw = _mw(cat, o.drug or "", exp.species) if o.unit == "ng/mL" else None
            conc = _pk_at(arm, o.drug or "", o.kind, t_rows, cat, exp, t0)
            log_conc = _pk_at(arm, o.drug or "", o.kind, t_rows, cat, exp, t0, log=True)
            sim[rows] = _in_unit(conc, mw)
            log_sim[rows] = _in_unit(log_conc, mw, log=True)
    meas["simulation"] = sim
    meas["log_simulation"] = log_sim
    return meas


def _check_bli_grid(t_h: np.ndarray, dt_h: float) -> None:
    """Refuse a growth step ``dt_h`` (h) whose half does not divide every BLI time ``t_h``."""
    grid = t_h / (dt_h / 2)
    if not np.allclose(grid, np.round(grid), rtol=0, atol=1e-9):
        raise LeptotwinError(
            "BLI times must lie on the growth step's grid",
            source="engine_simulation",
            field="dt_h",
            value=dt_h,
            expected="a step whose half divides every BLI time (h after inoculation)",
        )


def _richardson_log_cells(
    exp: Experiment,
    days: Sequence[float],
    dt_h: float,
    cat: Catalog,
    tumor: TumorParameters,
    *,
    n_per_arm: int,
    **given: object,
) -> tuple[np.ndarray, pd.DataFrame]:
    """ln total cells of the typical mice (``n_per_arm`` per arm, deterministic, no endpoint)
    at ``days``, Richardson-extrapolated from uniform grids of ``dt_h`` and ``dt_h / 2`` h
    (the step is first order): shape (len(days) · arms · n_per_arm,) in the order of
    simulate_lmc's observations (day, then arm, then subject), and those rows' ``arm`` and
    ``day``. ``given``: simulate_lmc's model, clones, pk_subjects."""
    logs = []
    for h in (dt_h, dt_h / 2):
        res = simulate_lmc(
            list(exp.arms),
            n_per_arm=n_per_arm,
            days=max(days) if max(days) > 0 else dt_h / 24.0,
            observe_days=days,
            rng=_TypicalRNG(),  # type: ignore[arg-type]
            inoculum=exp.inoculum,
            species=exp.species,
            dt_h=h,
            refine_after_dose_h=0.0,  # uniform grids: Richardson cancels their first order
            stochastic=False,
            site=exp.site,
            catalog=cat,
            tumor=replace(tumor, endpoint_cells=math.inf),
            **given,  # type: ignore[arg-type]
        )
        logs.append(np.log(res.observations["total_cells"].to_numpy()))
    return 2.0 * logs[1] - logs[0], res.observations[["arm", "day"]]


def _pk_source(arm: Arm, drug: str, cat: Catalog, species: str) -> tuple[str, Metabolite | None]:
    """The drug of ``arm`` whose doses give ``drug`` (itself, or the parent of a metabolite)
    and the metabolite's model (None for a dosed drug)."""
    if drug in arm.regimens:
        return drug, None
    parent = next(d for d in arm.regimens if drug in dict(cat.metabolites_of(d, species)))
    fraction = dict(cat.metabolites_of(parent, species))[drug]
    return parent, Metabolite(cat.pk_parameters(drug, species), fraction, catalog=cat)


def _pk_series(
    subj: SubjectPK,
    regimens: Sequence[Regimen],
    t_h: np.ndarray,
    matrix: str,
    metabolite: Metabolite | None,
    *,
    log: bool = False,
) -> np.ndarray:
    """Shape (n_subjects, len(t_h)): every subject's concentration (nM) in ``matrix`` at
    ``t_h`` (any order; the stream is advanced in time order), or with ``log`` its natural log
    (:func:`~leptotwin.model.pk.log_concentration`)."""
    if log:
        return log_concentration(subj, regimens, t_h, output=matrix, metabolite=metabolite)
    order = np.argsort(t_h, kind="stable")
    stream = PKStream(
        subj, regimens, horizon_h=float(t_h.max()) + 1.0, metabolite=metabolite, outputs=(matrix,)
    )
    out = np.empty((subj.n_subjects, t_h.size))
    for i in order:
        out[:, i] = stream.advance(float(t_h[i]))[0]
    return out


def _in_unit(values: np.ndarray, mw: float | None, *, log: bool = False) -> np.ndarray:
    """Concentrations in nM (or their natural logs with ``log``) in the observable's unit:
    unchanged for nM (``mw`` None), ``C · mw / 1000`` (left to right) or ``ln C + ln(mw /
    1000)`` for ng/mL with ``mw`` in g/mol. The one conversion of :func:`engine_simulation` and
    :class:`EngineLikelihood`, so that both round alike."""
    if mw is None:
        return values
    if log:
        return values + math.log(mw / 1000.0)
    return values * mw / 1000.0


def _pk_at(
    arm: Arm,
    drug: str,
    matrix: str,
    t_h: np.ndarray,
    cat: Catalog,
    exp: Experiment,
    t0: float,
    *,
    log: bool = False,
) -> np.ndarray:
    """The typical mouse's concentration (nM) of ``drug`` in ``matrix`` at ``t_h``; with
    ``log`` its natural log, finite where the closed form cancels
    (:func:`~leptotwin.model.pk.log_concentration`)."""
    parent, met = _pk_source(arm, drug, cat, exp.species)
    subj = draw_subjects(cat.pk_parameters(parent, exp.species), 1, iiv=False, catalog=cat)
    regs = _shifted(tuple(arm.regimens[parent]), t0)  # type: ignore[arg-type]
    return _pk_series(subj, regs, t_h, matrix, met, log=log)[0]


class _TypicalRNG:
    """Random effects at zero: normals at their mean, Poisson counts at their expectation."""

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: int | None = None) -> np.ndarray:
        return np.full(size if size is not None else (), loc, dtype=float)

    def poisson(self, lam: np.ndarray) -> np.ndarray:
        return np.asarray(lam, dtype=float)


def engine_nll(
    exp: Experiment,
    values: Mapping[str, float] | None = None,
    *,
    catalog: Catalog | None = None,
    dt_h: float = 0.25,
) -> float:
    """PEtab's negative log-likelihood of the experiment's data under leptotwin's engine at
    the catalogue values ``values`` (see :func:`engine_simulation`; no prior terms)."""
    return simulation_nll(exp, engine_simulation(exp, values, catalog=catalog, dt_h=dt_h))


def simulation_nll(exp: Experiment, sim: pd.DataFrame) -> float:
    """PEtab's negative log-likelihood of ``sim`` (:func:`engine_simulation`'s table: the
    columns ``observable``, ``value`` and ``simulation``) under the experiment's noise model.

    Log-normal rows take ln h from the column ``log_simulation`` where the table has it
    (:func:`engine_simulation` writes it: for PK the closed form's ln C computed in log space
    where the closed form cancels, so a high clearance gives a large finite NLL rather than
    +inf), else ``ln`` of ``simulation``."""
    y, h = sim["value"].to_numpy(float), sim["simulation"].to_numpy(float)
    with np.errstate(divide="ignore"):
        log_h = sim["log_simulation"].to_numpy(float) if "log_simulation" in sim else np.log(h)
    total = 0.0
    for oid, o in exp.observables.items():
        k = (sim["observable"] == oid).to_numpy()
        s = o.sigma
        if o.noise == "lognormal":
            r = (np.log(y[k]) - log_h[k]) / s
            total += float(np.sum(0.5 * np.log(2 * np.pi * s**2 * y[k] ** 2) + 0.5 * r**2))
        else:
            r = (y[k] - h[k]) / s
            total += float(np.sum(0.5 * np.log(2 * np.pi * s**2) + 0.5 * r**2))
    return total


# --- the engine's likelihood over many parameter sets at once ----------------------------------

#: PathwayModel fields that the cohort engine takes per subject (used elementwise on the
#: subjects' axis only), each the catalogue's ``pathway_value`` of the same name.
_PATHWAY_PER_SUBJECT = (
    "birth_max",
    "death_min",
    "death_max",
    "birth_half_signal",
    "death_half_signal",
    "signal_hill",
    "egfr_weight",
)
#: TumorParameters fields that the cohort engine takes per subject.
_TUMOUR_PER_SUBJECT = (
    "inoculum_cells",
    "in_vivo_rate_scale",
    "carrying_capacity",
    "switch_rate",
    "culture_generations",
    "csf_turnover_per_h",
    # the subcutaneous site's (the endpoint: the engine's likelihood simulates without one)
    "kp_uu_tumour",
    "cell_density_per_mm3",
    "interstitial_fraction",
    "areg_clearance_per_h",
    "endpoint_cells",
)
#: PKParameters fields that SubjectPK carries per subject.
_PK_PER_SUBJECT = (
    "CL_L_h",
    "V1_L",
    "Q_L_h",
    "V2_L",
    "fu",
    "kp_uu_csf",
    "k_csf_per_h",
    "kp_uu_lesion",
    "k_lesion_per_h",
    "routes",
)
_PROBE_STEPS = (_STEP, 1.0 / _STEP)
#: The probe's moves of a value that is 0 in the catalogue (added; a factor moves nothing).
_PROBE_AT_ZERO = (0.1, -0.1)


@dataclass(frozen=True)
class _PKRows:
    """The rows of one PK observable in one arm, and how to simulate them."""

    rows: np.ndarray
    t_h: np.ndarray
    parent: str
    matrix: str
    metabolite: Metabolite | None
    regimens: tuple[Regimen, ...]
    mw: float | None  # the observed drug's molar mass (g/mol) for ng/mL, None for nM
    lognormal: bool


def parameter_sets(thetas: ArrayLike, n_values: int) -> np.ndarray:
    """``thetas`` as a float array of shape (K, ``n_values``): K parameter sets, one value per
    column.

    Raises
    ------
    LeptotwinError
        Any other shape.
    """
    th = np.asarray(thetas, dtype=float)
    if th.ndim != 2 or th.shape[1] != n_values:
        raise LeptotwinError(
            "parameter sets must be a (K, number of values) array",
            field="thetas",
            value=str(th.shape),
            expected=f"(K, {n_values})",
        )
    return th


class EngineLikelihood:
    """:func:`engine_nll` of one experiment at many parameter sets in one pass of the engine.

    The cohort engine steps every subject at once at about the cost of one, so the parameter
    sets are simulated as the "mice" of one cohort: the typical mouse of every arm once per
    set, with per-subject values where the engine takes them (the pathway's birth and death
    constants and survival-signal weight, the tumour's inoculum, rate scale, carrying
    capacity, switching and CSF turnover, and every drug's PK parameters). Everything that
    does not depend on the estimated values (measurement indices, noise constants, the PK of a
    drug no estimated value moves, the model objects) is prepared once here.

    Which model objects an estimated value moves is found here, as :func:`build_petab` does,
    by moving it 10 % up and down (by 0.1 up and down where the catalogue's value is 0); a
    value that moves anything the engine cannot take per subject (e.g. a drug's potency, a
    clone's levels, the treatment start), or that the probe sees move nothing (it might still
    matter), makes every parameter set go through :func:`engine_nll` one at a time (same
    numbers, no speed-up). Every distinct set is first checked by ``Catalog.with_values`` (as
    :func:`engine_nll` begins), so a value outside its prior's support raises the same error
    (:meth:`admissible` tells which sets would).
    Either way the value for a set is :func:`engine_nll`'s at those values: the same
    operations element by element, so the same number to the bit (tested; the batch's other
    sets do not change it), and an optimizer's finite differences are the same too.

    Parameters
    ----------
    exp : Experiment
        With in-vivo data (BLI and/or PK), as for :func:`engine_nll`.
    paths : sequence of str, optional
        The catalogue paths that ``thetas`` columns give (default ``exp.estimate``).
    catalog : Catalog, optional
    dt_h : float
        The growth step (h), as for :func:`engine_simulation`.

    Raises
    ------
    LeptotwinError
        As :func:`engine_simulation` (a step off the BLI grid); a path that is not a catalogue
        value. When called: as :func:`engine_nll` for the first set it refuses (a value
        outside its prior's support).
    """

    def __init__(
        self,
        exp: Experiment,
        paths: Sequence[str] | None = None,
        *,
        catalog: Catalog | None = None,
        dt_h: float = 0.25,
    ) -> None:
        from leptotwin.study.experiment import BURDEN_OBSERVABLES  # study/ may import interop/

        self.exp = exp
        self.cat = cat = catalog or load_catalog()
        self.paths = tuple(exp.estimate if paths is None else paths)
        self.dt_h = dt_h
        for p in self.paths:
            cat.quantity(p)  # a named error for a path that is not a catalogue value
        species = exp.species
        meas = exp.measurements
        self._n_rows = len(meas)
        obs_col = meas["observable"].to_numpy()
        arm_col = meas["arm"].to_numpy()
        time_col = meas["time_h"].to_numpy(float)
        y = meas["value"].to_numpy(float)
        # the noise model, per observable in the experiment's order (simulation_nll's)
        self._noise = []
        for oid, o in exp.observables.items():
            k = np.flatnonzero(obs_col == oid)
            s = o.sigma
            if o.noise == "lognormal":
                const = 0.5 * np.log(2 * np.pi * s**2 * y[k] ** 2)
                self._noise.append((k, s, np.log(y[k]), const))
            else:
                const = np.full(k.size, 0.5 * np.log(2 * np.pi * s**2))
                self._noise.append((k, s, y[k], const))
        # the base objects
        self._site = site = exp.site
        self._tp = _typical_tumor(cat, species, site)
        self._pm = PathwayModel.from_catalog(cat)
        self._clones = default_clones(cat)
        self._flux_bg = _burden_scale(cat, species, site)
        drugs = sorted({d for a in exp.arms for d in a.regimens})
        self._drugs = drugs
        self._pk_base = {d: cat.pk_parameters(d, species) for d in drugs}
        # BLI: the engine's grid and where each row's (arm, day) is in its output
        burden = np.isin(obs_col, BURDEN_OBSERVABLES)
        bli = np.flatnonzero(burden)
        self._bli_rows = bli
        self._bli_lognormal = any(
            o.noise == "lognormal"
            for oid, o in exp.observables.items()
            if oid in BURDEN_OBSERVABLES
        )
        if bli.size:
            _check_bli_grid(time_col[bli], dt_h)
            days = sorted(set(meas.loc[burden, "time_h"] / 24.0))
            self._days = days
            day_of = {d: i for i, d in enumerate(days)}
            arm_index = {a.name: i for i, a in enumerate(exp.arms)}
            self._bli_day = np.array([day_of[t / 24.0] for t in time_col[bli]])
            self._bli_arm = np.array([arm_index[a] for a in arm_col[bli]])
        # PK rows, per observable and arm (engine_simulation's order)
        t0 = self._tp.treatment_start_d * 24.0
        self._pk: list[_PKRows] = []
        for oid, o in exp.observables.items():
            if oid in BURDEN_OBSERVABLES:
                continue
            for arm in exp.arms:
                rows = np.flatnonzero((obs_col == oid) & (arm_col == arm.name))
                if rows.size == 0:
                    continue
                drug = o.drug or ""
                parent, met = _pk_source(arm, drug, cat, species)
                mw = _mw(cat, drug, species) if o.unit == "ng/mL" else None
                self._pk.append(
                    _PKRows(
                        rows=rows,
                        t_h=time_col[rows],
                        parent=parent,
                        matrix=o.kind,
                        metabolite=met,
                        regimens=_shifted(tuple(arm.regimens[parent]), t0),  # type: ignore[arg-type]
                        mw=mw,
                        lognormal=o.noise == "lognormal",
                    )
                )
        self._probe()

    def _observed_drug(self, r: _PKRows) -> str:
        return r.metabolite.params.drug if r.metabolite is not None else r.parent

    def _objects(self, cat: Catalog) -> dict[str, object]:
        """What the engine reads from a catalogue, by name (compared when probing)."""
        species = self.exp.species
        out: dict[str, object] = {
            "clones": default_clones(cat),
            "bli": _burden_scale(cat, species, self._site),
        }
        pm = PathwayModel.from_catalog(cat)
        for f in fields(pm):
            out[f"pathway.{f.name}"] = getattr(pm, f.name)
        tp = _typical_tumor(cat, species, self._site)
        for f in fields(tp):
            out[f"tumour.{f.name}"] = getattr(tp, f.name)
        for d in self._drugs:
            p = cat.pk_parameters(d, species)
            for f in fields(p):
                out[f"pk.{d}.{f.name}"] = getattr(p, f.name)
            out[f"pk.{d}.lesion_kp_uu"] = lesion_kp_uu(d, species, cat)
            for met, fraction in cat.metabolites_of(d, species):
                out[f"metabolite.{met}"] = (
                    cat.pk_parameters(met, species),
                    fraction,
                    lesion_kp_uu(met, species, cat),
                )
        for r in self._pk:
            out[f"mw.{self._observed_drug(r)}"] = _mw(cat, self._observed_drug(r), species)
        return out

    def _probe(self) -> None:
        """Which objects the estimated values move, and whether the engine takes them per
        subject (else every set goes through engine_nll)."""
        base = self._objects(self.cat)
        moved: set[str] = set()
        moved_by: dict[str, set[int]] = {}  # object → the paths (indices) that move it
        verbatim: dict[tuple[str, int], bool] = {}  # a pathway field equal to the path's value
        for j, path in enumerate(self.paths):
            value = self.cat.quantity(path).value
            moves = (
                [value + d for d in _PROBE_AT_ZERO]
                if value == 0
                else [value * step for step in _PROBE_STEPS]
            )
            for moved_value in moves:
                try:
                    probe = self.cat.with_values({path: moved_value})
                except LeptotwinError:  # outside a bounded prior: the other direction only
                    continue
                got = self._objects(probe)
                for k, v in got.items():
                    if not _equal(v, base[k]):
                        moved.add(k)
                        moved_by.setdefault(k, set()).add(j)
                for f in _PATHWAY_PER_SUBJECT:  # the per-set values read what from_catalog reads
                    if got[f"pathway.{f}"] != probe.pathway_value(f):
                        moved.add(f"pathway.{f}!")
                    same = got[f"pathway.{f}"] == moved_value and base[f"pathway.{f}"] == value
                    verbatim[(f, j)] = verbatim.get((f, j), True) and bool(same)
        self.moved = frozenset(moved)
        ok_pathway = {f"pathway.{f}" for f in _PATHWAY_PER_SUBJECT}
        ok_tumour = {f"tumour.{f}" for f in _TUMOUR_PER_SUBJECT}
        ok_pk = {f"pk.{d}.{f}" for d in self._drugs for f in (*_PK_PER_SUBJECT, "lesion_kp_uu")}
        # a path whose probe moved nothing may still matter (e.g. a move the probe's steps
        # miss): unknown, so every set goes through engine_nll
        silent = set(range(len(self.paths))) - {j for js in moved_by.values() for j in js}
        self.batched = not silent and moved <= ok_pathway | ok_tumour | ok_pk | {"bli"}
        self._pathway_fields = sorted(f.partition(".")[2] for f in moved & ok_pathway)
        self._tumour_moved = bool(moved & ok_tumour)
        self._pk_moved = sorted(
            {d for d in self._drugs if any(k.startswith(f"pk.{d}.") for k in moved)}
        )
        self._bli_moved = "bli" in moved

        def deps(prefix: str) -> tuple[int, ...]:
            return tuple(
                sorted({j for k, js in moved_by.items() if k.startswith(prefix) for j in js})
            )

        # a pathway field that is one estimated value itself is taken from the set directly
        self._pathway_deps = {f: deps(f"pathway.{f}") for f in self._pathway_fields}
        self._pathway_verbatim = {
            f: d[0] for f, d in self._pathway_deps.items() if len(d) == 1 and verbatim[(f, d[0])]
        }
        self._tumour_deps = deps("tumour.")
        self._pk_deps = {d: deps(f"pk.{d}.") for d in self._pk_moved}
        self._bli_deps = deps("bli")
        # theta-independent PK: the typical subject of the base catalogue, simulated once
        self._pk_fixed: dict[int, np.ndarray] = {}
        for r in self._pk:
            if r.parent not in self._pk_moved:
                subj = draw_subjects(self._pk_base[r.parent], 1, iiv=False, catalog=self.cat)
                self._pk_fixed[id(r)] = self._pk_values(r, subj)

    def _pk_values(self, r: _PKRows, subj: SubjectPK) -> np.ndarray:
        """(K, rows): ln C (lognormal rows) or C (normal rows) for the K subjects, in the
        unit of the observable; engine_simulation's arithmetic (the same helpers)."""
        out = _pk_series(subj, r.regimens, r.t_h, r.matrix, r.metabolite, log=r.lognormal)
        return _in_unit(out, r.mw, log=r.lognormal)

    def __call__(self, thetas: ArrayLike) -> np.ndarray:
        """The negative log-likelihoods, shape (K,), at ``thetas`` of shape (K, len(paths))
        (catalogue values, in the catalogue's units, not the PEtab scale)."""
        th = parameter_sets(thetas, len(self.paths))
        if not self.batched or th.shape[0] == 0:
            return np.array(
                [
                    engine_nll(
                        self.exp,
                        dict(zip(self.paths, map(float, row), strict=True)),
                        catalog=self.cat,
                        dt_h=self.dt_h,
                    )
                    for row in th
                ]
            )
        self._check_sets(th)
        return self._batch(th)

    def admissible(self, thetas: ArrayLike) -> np.ndarray:
        """Shape (K,) bool: whether the catalogue takes each row of ``thetas`` (shape (K,
        len(paths)), catalogue values), i.e. whether :func:`engine_nll` gets past its first
        step (``Catalog.with_values``: every value within its prior's support) there."""
        th = np.asarray(thetas, dtype=float).reshape(-1, len(self.paths))
        ok = np.ones(th.shape[0], dtype=bool)
        done: dict[tuple[float, ...], bool] = {}
        for k, row in enumerate(th):
            key = tuple(map(float, row))
            if key not in done:
                try:
                    self.cat.with_values(dict(zip(self.paths, key, strict=True)))
                    done[key] = True
                except LeptotwinError:
                    done[key] = False
            ok[k] = done[key]
        return ok

    def _check_sets(self, th: np.ndarray) -> None:
        """Raise what engine_nll raises for the first set the catalogue refuses (a value
        outside its prior's support): the batch takes some values straight from ``th``."""
        done: set[tuple[float, ...]] = set()
        for row in th:
            key = tuple(map(float, row))
            if key not in done:
                self.cat.with_values(dict(zip(self.paths, key, strict=True)))
                done.add(key)

    def _per_set(self, th: np.ndarray, deps: tuple[int, ...], derive: Callable) -> list:
        """``derive(catalogue)`` for every set, the catalogue carrying only the values of
        ``deps`` (the paths that move what ``derive`` reads), computed once per distinct
        values (a finite-difference stencil shares most of them)."""
        done: dict[tuple[float, ...], object] = {}
        out = []
        for row in th:
            key = tuple(float(row[j]) for j in deps)
            if key not in done:
                c = self.cat.with_values({self.paths[j]: key[i] for i, j in enumerate(deps)})
                done[key] = derive(c)
            out.append(done[key])
        return out

    def _batch(self, th: np.ndarray) -> np.ndarray:
        exp, species = self.exp, self.exp.species
        K, A = th.shape[0], len(exp.arms)
        # per-subject values (subject a * K + k is set k in arm a)
        pm = self._pm
        if self._pathway_fields:
            per = {}
            for f in self._pathway_fields:
                if f in self._pathway_verbatim:
                    col = th[:, self._pathway_verbatim[f]].astype(float)
                else:
                    col = np.array(
                        self._per_set(th, self._pathway_deps[f], lambda c, f=f: c.pathway_value(f))
                    )
                per[f] = np.tile(col, A)
            pm = replace(pm, **per)
        tp = self._tp
        if self._tumour_moved:
            tps = self._per_set(
                th, self._tumour_deps, lambda c: _typical_tumor(c, species, self._site)
            )
            per = {}
            for f in _TUMOUR_PER_SUBJECT:
                col = np.array([getattr(t, f) for t in tps])
                if np.any(col != getattr(tp, f)):
                    per[f] = np.tile(col, A)
            tp = replace(tp, **per)
        subjects_k: dict[str, list[SubjectPK]] = {}
        pk_subjects: dict[str, SubjectPK] = {}
        for d in self._pk_moved:
            subjects_k[d] = self._per_set(
                th,
                self._pk_deps[d],
                lambda c, d=d: draw_subjects(c.pk_parameters(d, species), 1, iiv=False, catalog=c),
            )
            pk_subjects[d] = SubjectPK.concat(subjects_k[d], typical=self._pk_base[d], repeat=A)
        if self._bli_moved:
            fb = np.array(
                self._per_set(th, self._bli_deps, lambda c: _burden_scale(c, species, self._site))
            )
            flux, background = fb[:, 0:1], fb[:, 1:2]
        else:
            flux, background = self._flux_bg
        # the simulation, (K, rows)
        sim = np.full((K, self._n_rows), np.nan)
        if self._bli_rows.size:
            days = self._days
            values, _ = _richardson_log_cells(
                exp,
                days,
                self.dt_h,
                self.cat,
                tp,
                n_per_arm=K,
                model=pm,
                clones=self._clones,
                pk_subjects=pk_subjects,
            )
            log_cells = values.reshape(len(days), A, K)  # the observations' order
            at = log_cells[self._bli_day, self._bli_arm].T  # (K, BLI rows)
            bli_sim = np.exp(at) * flux + background
            # what simulation_nll uses: ln h for a log-normal observable, h for a normal one
            sim[:, self._bli_rows] = np.log(bli_sim) if self._bli_lognormal else bli_sim
        for r in self._pk:
            if id(r) in self._pk_fixed:
                sim[:, r.rows] = self._pk_fixed[id(r)]
            else:
                subj = SubjectPK.concat(subjects_k[r.parent], typical=self._pk_base[r.parent])
                sim[:, r.rows] = self._pk_values(r, subj)
        # PEtab's negative log-likelihood (simulation_nll's arithmetic, per set)
        total = np.zeros(K)
        for k, s, y, const in self._noise:
            if k.size == 0:
                continue
            r = (y - sim[:, k]) / s  # y: ln y for a log-normal observable; sim: ln h there
            # row by row in C order: numpy's pairwise sum of each row, as np.sum of one set's
            # rows (sim[:, k] comes out column-major, which sums a row in another order)
            total += np.sum(np.ascontiguousarray(const + 0.5 * r**2), axis=1)
        return total


def _equal(a: object, b: object) -> bool:
    try:
        same = a == b
        return bool(np.all(same))
    except (ValueError, TypeError):
        return False


def engine_nll_batch(
    exp: Experiment,
    thetas: ArrayLike,
    *,
    paths: Sequence[str] | None = None,
    catalog: Catalog | None = None,
    dt_h: float = 0.25,
) -> np.ndarray:
    """:func:`engine_nll` at each row of ``thetas`` (shape (K, len(paths)); catalogue values
    of ``paths``, default ``exp.estimate``), shape (K,), in one pass of the engine
    (:class:`EngineLikelihood`; build that once to evaluate many batches)."""
    return EngineLikelihood(exp, paths, catalog=catalog, dt_h=dt_h)(thetas)


@dataclass(frozen=True)
class ParameterScale:
    """The estimated values as the PEtab export writes them: catalogue paths, their
    ``parameterScale`` (``log10`` or ``lin``) and bounds on that scale; ``low``/``high``, when
    given, the same bounds as catalogue values (what :meth:`unscale` clips ``log10`` columns
    into: ``10 ** log10(low)`` may round below ``low``, outside the prior's support)."""

    paths: tuple[str, ...]
    scales: tuple[str, ...]
    lb: np.ndarray
    ub: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    @classmethod
    def of(cls, exp: Experiment, catalog: Catalog | None = None) -> ParameterScale:
        """The export's scale and bounds of ``exp.estimate`` (:func:`build_petab`)."""
        cat = catalog or load_catalog()
        cols = [_prior_columns(p, cat) for p in exp.estimate]
        scales = tuple(str(c["scale"]) for c in cols)
        lb = np.array([float(c["lb"]) for c in cols])  # type: ignore[arg-type]
        ub = np.array([float(c["ub"]) for c in cols])  # type: ignore[arg-type]
        log = np.array([s == "log10" for s in scales])
        low, high = lb, ub
        with np.errstate(divide="ignore", invalid="ignore"):
            lb = np.where(log, np.log10(low), low)
            ub = np.where(log, np.log10(high), high)
        return cls(tuple(exp.estimate), scales, lb, ub, low, high)

    def unscale(self, x: ArrayLike) -> np.ndarray:
        """Values on the parameter scale (..., n) → catalogue values; ``log10`` columns
        ``10 ** x`` clipped into [``low``, ``high``] where those are given (a value within
        them is unchanged)."""
        out = np.array(x, dtype=float)
        for i, s in enumerate(self.scales):
            if s == "log10":
                out[..., i] = 10.0 ** out[..., i]
                if self.low is not None and self.high is not None:
                    out[..., i] = np.clip(out[..., i], self.low[i], self.high[i])
        return out


def engine_multistart(
    exp: Experiment,
    starts: ArrayLike | None = None,
    *,
    n_starts: int = 20,
    seed: int = 17,
    catalog: Catalog | None = None,
    dt_h: float = 0.25,
    options: Mapping[str, object] | None = None,
) -> tuple[LockstepResult, ParameterScale]:
    """Multistart maximum-likelihood fit of the experiment's estimated values with
    :func:`engine_nll` (no priors) on the PEtab parameter scale within the PEtab bounds
    (:class:`ParameterScale`): scipy's L-BFGS-B with 2-point finite differences from every
    start, the starts in lock-step and every round's likelihoods in one batch of the engine
    (:func:`~leptotwin.calibration.multistart.lockstep_lbfgsb`,
    :class:`EngineLikelihood`). Each start's result is the one a single-start
    ``scipy.optimize.minimize`` of :func:`engine_nll` gives (at ``ParameterScale.unscale``'s
    values, clipped into the prior's bounds); a set the catalogue refuses anyway is ``+inf``
    for its start instead of stopping every start.

    Parameters
    ----------
    starts : array of shape (S, n), optional
        On the parameter scale; default ``n_starts`` drawn uniformly within the bounds by
        ``numpy.random.default_rng(seed)``.
    options : mapping, optional
        L-BFGS-B options (e.g. ``maxfun``; ``eps`` 1e-8 unless given).

    Returns
    -------
    (LockstepResult, ParameterScale)
        Optima ``x`` on the parameter scale (``ParameterScale.unscale`` for catalogue values),
        ``fun`` the NLL.

    Raises
    ------
    LeptotwinError
        An experiment without estimated values; starts not of shape (S, n); and as
        :class:`EngineLikelihood`.
    """
    cat = catalog or load_catalog()

    def objective(scale: ParameterScale) -> Callable[[np.ndarray], np.ndarray]:
        like = EngineLikelihood(exp, scale.paths, catalog=cat, dt_h=dt_h)

        def nll(values: np.ndarray) -> np.ndarray:
            # a set the catalogue refuses is +inf (that start ends there; the others go on)
            ok = like.admissible(values)
            out = np.full(values.shape[0], np.inf)
            if ok.any():
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    out[ok] = like(values[ok])
            return out

        return nll

    return scaled_multistart(
        exp, objective, starts, n_starts=n_starts, seed=seed, catalog=cat, options=options
    )


def scaled_multistart(
    exp: Experiment,
    objective: Callable[[ParameterScale], Callable[[np.ndarray], np.ndarray]],
    starts: ArrayLike | None = None,
    *,
    n_starts: int = 20,
    seed: int = 17,
    catalog: Catalog | None = None,
    options: Mapping[str, object] | None = None,
) -> tuple[LockstepResult, ParameterScale]:
    """Multistart L-BFGS-B (2-point finite differences, starts in lock-step, each round one
    batch: :func:`~leptotwin.calibration.multistart.lockstep_lbfgsb`) of an NLL of the
    experiment's estimated values on the PEtab parameter scale within the PEtab bounds
    (:class:`ParameterScale`). Shared by :func:`engine_multistart` and
    :func:`leptotwin.study.multistart_fit.fit_multistart`.

    Parameters
    ----------
    exp : Experiment
        With ``estimate`` naming at least one catalogue value.
    objective : callable
        ``objective(scale)`` gives the batch NLL: catalogue values of shape (K, n) (what
        ``scale.unscale`` gives) -> NLLs of shape (K,), ``+inf`` for a set it refuses.
    starts : array of shape (S, n), optional
        On the parameter scale; default ``n_starts`` drawn uniformly within the bounds by
        ``numpy.random.default_rng(seed)``.
    options : mapping, optional
        L-BFGS-B options (e.g. ``maxfun``; ``eps`` 1e-8 unless given).

    Returns
    -------
    (LockstepResult, ParameterScale)

    Raises
    ------
    LeptotwinError
        An experiment without estimated values; ``n_starts`` < 1; starts not of shape (S, n).
    """
    from leptotwin.calibration.multistart import lockstep_lbfgsb

    if not exp.estimate:
        raise LeptotwinError(
            "nothing to fit: the experiment estimates no catalogue value",
            source=str(exp.path),
            field="estimate",
            expected="catalogue paths to estimate (e.g. pathway.birth_max)",
        )
    scale = ParameterScale.of(exp, catalog or load_catalog())
    if starts is None:
        if isinstance(n_starts, bool) or not isinstance(n_starts, int) or n_starts < 1:
            raise LeptotwinError(
                "a multistart fit needs at least one start",
                source=str(exp.path),
                field="n_starts",
                value=str(n_starts),
                expected="an integer >= 1",
            )
        rng = np.random.default_rng(seed)
        starts = rng.uniform(scale.lb, scale.ub, size=(n_starts, scale.lb.size))
    nll = objective(scale)

    def batch(x: np.ndarray) -> np.ndarray:
        return nll(scale.unscale(x))

    opts = dict(options or {})
    eps = float(opts.pop("eps", 1e-8))  # type: ignore[arg-type]
    result = lockstep_lbfgsb(
        batch, starts, list(zip(scale.lb, scale.ub, strict=True)), eps=eps, options=opts
    )
    return result, scale


# --- reading a problem back --------------------------------------------------------------------


def _model_id(sbml: str) -> str:
    m = re.search(r"<model\b[^>]*\bid=\"([^\"]+)\"", sbml)
    return m.group(1) if m else ""


def _read_tsv(path: Path, name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LeptotwinError("cannot read the PEtab table", source=name, value=str(exc)) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LeptotwinError("PEtab table lacks columns", source=name, field=", ".join(missing))
    return frame


def _tsv_number(text: str, name: str, where: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise LeptotwinError(
            "not a finite number", source=name, field=where, value=text, expected="a real number"
        )
    return x


def read_petab_problem(
    problem_yaml: str | os.PathLike[str], *, catalog: Catalog | None = None
) -> Experiment:
    """Read back a PEtab v1 problem that :meth:`PetabProblem.write` (``leptotwin export-petab``)
    wrote, as an :class:`~leptotwin.study.experiment.Experiment` whose data are the rows of
    ``measurements.tsv``, noise SDs those of ``parameters.tsv`` and estimated values its rows
    with ``estimate = 1``.

    The model is recognised as one of leptotwin's by the note export-petab writes into
    ``problem.yaml`` (key ``leptotwin``: the experiment's design and the SBML model id); the
    condition table must hold the dose slots that design gives (the model's doses).

    Raises
    ------
    LeptotwinError
        A problem without the note or whose SBML model is not the one the note names (a foreign
        model), and bad tables: an unknown observable or condition, a non-number, a
        non-positive value of a log-normal observable, a condition whose doses differ from the
        design, an estimated parameter that is not a catalogue value; each naming the file, row
        and field.
    """
    from leptotwin.study.experiment import experiment_from_design

    path = Path(problem_yaml)
    source = str(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise LeptotwinError(
            "cannot read the PEtab problem", source=source, value=str(exc)
        ) from None
    except yaml.YAMLError as exc:
        raise LeptotwinError(
            "not valid YAML", source=source, value=str(exc).splitlines()[0]
        ) from None
    note = doc.get(NOTE_KEY) if isinstance(doc, dict) else None
    if not isinstance(note, dict) or not isinstance(note.get("experiment"), dict):
        raise LeptotwinError(
            "not a model of leptotwin: this PEtab problem has no leptotwin note",
            source=source,
            field=NOTE_KEY,
            expected="a problem written by `leptotwin export-petab` (calibrate --petab reads "
            "those only)",
        )
    try:
        files = doc["problems"][0]
        names = {
            k: str(files[f"{k}_files"][0])
            for k in ("sbml", "condition", "measurement", "observable")
        }
        names["parameter"] = str(doc["parameter_file"])
    except (KeyError, IndexError, TypeError):
        raise LeptotwinError(
            "not a PEtab v1 problem file",
            source=source,
            field="problems",
            expected="parameter_file and problems[0] with sbml, condition, measurement and "
            "observable files",
        ) from None
    here = path.parent
    try:
        sbml = (here / names["sbml"]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LeptotwinError(
            "cannot read the SBML model", source=names["sbml"], value=str(exc)
        ) from None
    model_id = _model_id(sbml)
    if not model_id.startswith("leptotwin_") or model_id != note.get("model_id"):
        raise LeptotwinError(
            "not a model of leptotwin (the SBML model is not the one export-petab wrote)",
            source=names["sbml"],
            field="model id",
            value=model_id,
            expected=repr(note.get("model_id")),
        )
    cat = catalog or load_catalog()
    design = dict(note["experiment"])
    par_t = _read_tsv(
        here / names["parameter"],
        names["parameter"],
        ("parameterId", "parameterName", "nominalValue", "estimate"),
    )
    cond_t = _read_tsv(here / names["condition"], names["condition"], ("conditionId",))
    meas_t = _read_tsv(
        here / names["measurement"],
        names["measurement"],
        ("observableId", "simulationConditionId", "measurement", "time", "replicateId"),
    )
    # the noise SDs and the estimated values come from the parameter table
    observables = dict(design.get("observables") or {})
    oid_of = {observable_id(o): o for o in observables}
    oname = names["observable"]
    obs_t = _read_tsv(here / oname, oname, ("observableId",))
    for i, r in obs_t.iterrows():
        oid, where = str(r["observableId"]), f"row {int(i) + 2}"
        if oid not in oid_of:
            raise LeptotwinError(
                "an observable the model's design does not have",
                source=oname,
                field=f"{where}, observableId",
                value=oid,
                expected="one of " + ", ".join(oid_of),
            )
        noise = (
            observables[oid_of[oid]].get("noise")
            if isinstance(observables[oid_of[oid]], dict)
            else None
        )
        want = {"lognormal": "log", "normal": "lin"}.get(str(noise))
        got = str(r.get("observableTransformation", "lin") or "lin")
        if want is not None and got != want:
            raise LeptotwinError(
                "noise model differs from the one the problem was written with",
                source=oname,
                field=f"{where}, observableTransformation",
                value=got,
                expected=f"{want!r} ({noise} in the design; edit the experiment file and export "
                "again)",
            )
        if str(r.get("noiseDistribution", "normal") or "normal") != "normal":
            raise LeptotwinError(
                "only normal noise (on the transformed scale) is read back",
                source=oname,
                field=f"{where}, noiseDistribution",
                value=str(r["noiseDistribution"]),
                expected="'normal'",
            )
    pname = names["parameter"]
    estimate = []
    for i, r in par_t.iterrows():
        where = f"row {int(i) + 2}"
        pid = str(r["parameterId"])
        if pid.startswith("sigma_") and pid[6:] in oid_of:
            o = oid_of[pid[6:]]
            sigma = _tsv_number(r["nominalValue"], pname, f"{where}, nominalValue")
            if sigma <= 0:
                raise LeptotwinError(
                    "a noise SD must be > 0", source=pname, field=f"{where}, nominalValue",
                    value=sigma,
                )  # fmt: skip
            observables[o] = {**observables[o], "sigma": sigma}
        elif str(r["estimate"]).strip() == "1":
            path_ = str(r["parameterName"])
            if theta_id(path_) != pid:
                raise LeptotwinError(
                    "an estimated parameter that is not a catalogue value of leptotwin",
                    source=pname,
                    field=f"{where}, parameterId",
                    value=pid,
                    expected="theta_<catalogue path> with the path as parameterName",
                )
            estimate.append(path_)
    design["observables"] = observables
    design["estimate"] = estimate
    # the design checked on its own, then the measurements against it
    probe = experiment_from_design(
        design, pd.DataFrame(), source=f"{source}: {NOTE_KEY}.experiment", path=path, catalog=cat
    )
    arm_of = {_sid(a.name): a.name for a in probe.arms}
    _, conditions = _dose_slots(probe, cat)
    cname = names["condition"]
    seen = set()
    for i, r in cond_t.iterrows():
        cid = str(r["conditionId"])
        where = f"row {int(i) + 2}"
        if cid not in conditions:
            raise LeptotwinError(
                "unknown condition", source=cname, field=f"{where}, conditionId", value=cid,
                expected="one per arm of the design: " + ", ".join(conditions),
            )  # fmt: skip
        seen.add(cid)
        for col, want in conditions[cid].items():
            got = _tsv_number(r.get(col, "nan"), cname, f"{where}, {col}")
            if not _same(got, want):
                raise LeptotwinError(
                    "dose differs from the regimens the model was written for",
                    source=cname,
                    field=f"{where}, {col}",
                    value=got,
                    expected=f"{want!r} (edit the experiment file and export again)",
                )
    mname = names["measurement"]
    rows = []
    for i, r in meas_t.iterrows():
        where = f"row {int(i) + 2}"
        oid = oid_of.get(str(r["observableId"]))
        if oid is None:
            raise LeptotwinError(
                "unknown observable", source=mname, field=f"{where}, observableId",
                value=str(r["observableId"]), expected="one of " + ", ".join(oid_of),
            )  # fmt: skip
        arm = arm_of.get(str(r["simulationConditionId"]))
        if arm is None:
            raise LeptotwinError(
                "unknown condition", source=mname, field=f"{where}, simulationConditionId",
                value=str(r["simulationConditionId"]), expected="one of " + ", ".join(arm_of),
            )  # fmt: skip
        value = _tsv_number(r["measurement"], mname, f"{where}, measurement")
        t = _tsv_number(r["time"], mname, f"{where}, time")
        if value <= 0 and probe.observables[oid].noise == "lognormal":
            raise LeptotwinError(
                "a log-normal observable must be > 0", source=mname,
                field=f"{where}, measurement", value=value,
            )  # fmt: skip
        if t < 0:
            raise LeptotwinError(
                "negative time", source=mname, field=f"{where}, time", value=t,
                expected="hours after inoculation, >= 0",
            )  # fmt: skip
        rows.append((str(r["replicateId"]), arm, oid, t, value, f"{mname}:{where}"))
    meas = pd.DataFrame(rows, columns=["subject", "arm", "observable", "time_h", "value", "source"])
    meas["time_h"] = meas["time_h"].astype(float)
    meas["value"] = meas["value"].astype(float)
    if meas.empty:
        raise LeptotwinError("no data to fit", source=mname, expected="measurement rows")
    return replace(probe, measurements=meas)
