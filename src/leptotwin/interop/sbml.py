"""Export the in-vivo twin of one subject and one arm as SBML Level 3 Version 2.

The exported model is the deterministic form of :func:`~leptotwin.model.cohort.simulate_lmc`
(``stochastic=False``: P → R switching at its expected rate) for one virtual subject — the one
that :func:`~leptotwin.model.streams.simulate_lmc_subjects` simulates as subject ``subject`` of
the arm with the same seed — written as ODEs (SBML rate rules), assignment rules and events:

* **PK**, per drug and route: depot ``A_gut_<drug>_<route>`` (mg; one event per dose adds F·D),
  central ``A_c_<drug>`` and, for two-compartment drugs, peripheral ``A_p_<drug>`` (mg);
  ``C_plasma_<drug>`` (nM, total) = A_c / V1 × 10⁶ / MW. Active metabolites (AZ5104) are formed
  from a fraction of the parent's clearance: ``A_c_<met>`` (mg) with
  dA/dt = fm · CL_parent · C_parent − CL_m / V_m · A.
* **CSF and lesion** effect compartments of every drug and metabolite (nM):
  dC/dt = k (Kp,uu · fu · C_plasma − C).
* **Pathway** at quasi-steady state (assignment rules, docs/model.md §2): ALK and EGFR activity,
  survival signal, birth and death rates per clone, driven by the unbound lesion concentrations
  and the CSF AREG.
* **Clones** ``N_<clone>`` (cells): dN/dt = r [b (1 − N/K)⁺ − d] N, plus switching into R at
  μ · r b_P · N_P; **CSF AREG** ``L_areg`` (nM): dL/dt = Σ σ_k N_k − k_csf L.
* ``log_burden`` = ln(Σ N_k); an event records the time the burden first reaches the
  neurological endpoint (``t_endpoint_h``; the ODEs go on, as the model's cells do not stop).

Time is in hours; every parameter carries SBML units. The export passes libsbml's consistency
checks (:func:`check_sbml`), and libRoadRunner reproduces leptotwin's trajectory (tested on every
C7 arm over the 120-day follow-up: |Δ ln burden| ≤ 1e-3 and relative error ≤ 1e-3 on CSF AREG and
CSF drug concentrations at daily points, against leptotwin at a 1/16 h step).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leptotwin import _sigint
from leptotwin._fileio import write_text
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.barrier import lesion_kp_uu
from leptotwin.model.cohort import Arm
from leptotwin.model.pathway import PathwayModel
from leptotwin.model.pk import SubjectPK
from leptotwin.model.regimen import Regimen, doses_by_route
from leptotwin.model.streams import SubjectDraws, subject_draws
from leptotwin.model.tumor import Clone, TumorParameters, default_clones

__all__ = ["SBMLExport", "check_sbml", "export_sbml"]

_UNITS: dict[str, list[tuple[int, int, float]]] = {
    # id: [(kind, exponent, multiplier)] with kinds from libsbml
    "hour": [(0, 1, 3600.0)],
    "per_hour": [(0, -1, 3600.0)],
    "mg": [(1, 1, 1e-3)],
    "litre_": [(2, 1, 1.0)],
    "litre_per_hour": [(2, 1, 1.0), (0, -1, 3600.0)],
    "nM": [(3, 1, 1e-9), (2, -1, 1.0)],
    "nM_per_mg_per_litre": [(3, 1, 1e-9), (1, -1, 1e-3)],
    "cell": [(4, 1, 1.0)],
    "nM_per_cell_hour": [(3, 1, 1e-9), (2, -1, 1.0), (4, -1, 1.0), (0, -1, 3600.0)],
    "pg_per_mL_per_nM": [(1, 1, 1e-12), (2, -1, 1e-3), (3, -1, 1e-9), (2, 1, 1.0)],
    "pg_per_mL": [(1, 1, 1e-12), (2, -1, 1e-3)],
    "dimensionless_": [(5, 1, 1.0)],
}


def _unit_kinds() -> dict[int, int]:
    libsbml = _sigint.libsbml()

    return {
        0: libsbml.UNIT_KIND_SECOND,
        1: libsbml.UNIT_KIND_GRAM,
        2: libsbml.UNIT_KIND_LITRE,
        3: libsbml.UNIT_KIND_MOLE,
        4: libsbml.UNIT_KIND_ITEM,
        5: libsbml.UNIT_KIND_DIMENSIONLESS,
    }


def _sid(text: str) -> str:
    """A valid SBML identifier from a name (letters, digits, underscores)."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return out if re.match(r"[A-Za-z_]", out) else f"x_{out}"


@dataclass(frozen=True)
class SBMLExport:
    """An exported subject.

    Attributes
    ----------
    sbml : str
        The SBML Level 3 Version 2 document.
    arm, subject, seed : the arm name, the subject's index within the arm and the seed.
    outputs : dict[str, str]
        leptotwin quantity → SBML identifier: ``total_cells``, ``log_burden``,
        ``cells_<clone>``, ``csf_areg_pg_mL``, ``csf_nM:<drug>``, ``lesion_nM:<drug>``,
        ``plasma_nM:<drug>`` (drugs include active metabolites).
    dose_times_h : dict[str, ndarray]
        Per drug, the dose times written as events (h after inoculation).
    parameters : dict[str, float]
        The subject's drawn values (engrafted cells, growth-rate scale, PK parameters).
    """

    sbml: str
    arm: str
    subject: int
    seed: int
    outputs: dict[str, str]
    dose_times_h: dict[str, np.ndarray] = field(repr=False)
    parameters: dict[str, float] = field(repr=False)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the document atomically (UTF-8)."""
        return write_text(path, self.sbml)


class _Builder:
    def __init__(self, model_id: str, name: str) -> None:
        libsbml = _sigint.libsbml()

        self.sb = libsbml
        self.doc = libsbml.SBMLDocument(3, 2)
        m = self.doc.createModel()
        m.setId(model_id)
        m.setName(name)
        kinds = _unit_kinds()
        for uid, parts in _UNITS.items():
            ud = m.createUnitDefinition()
            ud.setId(uid)
            for kind, exp, mult in parts:
                u = ud.createUnit()
                u.setKind(kinds[kind])
                u.setExponent(exp)
                u.setScale(0)
                u.setMultiplier(mult)
        m.setTimeUnits("hour")
        m.setExtentUnits("mg")
        m.setSubstanceUnits("mg")
        m.setVolumeUnits("litre_")
        self.m = m
        self.ids: set[str] = set()

    def _check(self, rc: int, what: str) -> None:
        if rc != self.sb.LIBSBML_OPERATION_SUCCESS:
            raise RuntimeError(
                f"libsbml refused {what}: {self.sb.OperationReturnValue_toString(rc)}"
            )

    def param(self, pid: str, value: float | None, units: str, *, constant: bool = True) -> str:
        if pid in self.ids:
            raise RuntimeError(f"duplicate SBML id {pid}")
        p = self.m.createParameter()
        self._check(p.setId(pid), pid)
        if value is not None:
            if not math.isfinite(value):
                raise LeptotwinError("parameter is not finite", field=pid, value=value)
            p.setValue(float(value))
        p.setUnits(units)
        p.setConstant(constant)
        self.ids.add(pid)
        return pid

    def _math(self, formula: str) -> Any:
        ast = self.sb.parseL3Formula(formula)
        if ast is None:
            raise RuntimeError(f"cannot parse {formula!r}: {self.sb.getLastParseL3Error()}")
        return ast

    def assign(self, pid: str, units: str, formula: str) -> str:
        self.param(pid, None, units, constant=False)
        r = self.m.createAssignmentRule()
        r.setVariable(pid)
        self._check(r.setMath(self._math(formula)), pid)
        return pid

    def state(self, pid: str, value: float, units: str, rate: str) -> str:
        self.param(pid, value, units, constant=False)
        r = self.m.createRateRule()
        r.setVariable(pid)
        self._check(r.setMath(self._math(rate)), pid)
        return pid

    def event(self, eid: str, trigger: str, assignments: Mapping[str, str]) -> None:
        e = self.m.createEvent()
        e.setId(eid)
        e.setUseValuesFromTriggerTime(True)
        t = e.createTrigger()
        t.setInitialValue(False)
        t.setPersistent(True)
        self._check(t.setMath(self._math(trigger)), eid)
        for var, formula in assignments.items():
            ea = e.createEventAssignment()
            ea.setVariable(var)
            self._check(ea.setMath(self._math(formula)), eid)

    def text(self) -> str:
        return self.sb.writeSBMLToString(self.doc)


def _num(x: float) -> str:
    return repr(float(x))


def _one(a: np.ndarray) -> float:
    return float(np.asarray(a).reshape(-1)[0])


def _add_pk(
    b: _Builder,
    drug: str,
    s: SubjectPK,
    regs: tuple[Regimen, ...],
    horizon_h: float,
    cat: Catalog,
    species: str,
    params: dict[str, float],
    dose_times: dict[str, np.ndarray],
) -> list[tuple[str, str]]:
    """Parent (and metabolite) PK; returns [(drug, lesion id)] for the pathway."""
    d = _sid(drug)
    p = s.typical
    CL, V1 = _one(s.CL), _one(s.V1)
    two = p.model != "1cmt"
    b.param(f"CL_{d}", CL, "litre_per_hour")
    b.param(f"V1_{d}", V1, "litre_")
    b.param(f"MW_factor_{d}", 1e6 / p.mw_g_mol, "nM_per_mg_per_litre")
    params.update({f"CL_{d}_L_h": CL, f"V1_{d}_L": V1})
    inflow = []
    all_times = []
    doses = doses_by_route(
        regs, horizon_h, body_weight_kg=p.body_weight_kg, body_surface_m2=p.body_surface_m2
    )
    for route, (t_all, mg_all) in doses.items():
        all_times.append(t_all)
        if route == "iv":
            target, gain = f"A_c_{d}", 1.0
        else:
            ka, F = _one(s.ka[route]), _one(s.F[route])
            params.update({f"ka_{d}_{route}_per_h": ka, f"F_{d}_{route}": F})
            b.param(f"ka_{d}_{route}", ka, "per_hour")
            target, gain = f"A_gut_{d}_{route}", F
            b.state(target, 0.0, "mg", f"-ka_{d}_{route} * {target}")
            inflow.append(f"ka_{d}_{route} * {target}")
        for k, (tk, mg) in enumerate(zip(t_all, mg_all, strict=True)):
            amount = b.param(f"dose_{d}_{route}_{k}", gain * mg, "mg")
            b.event(
                f"give_{d}_{route}_{k}",
                f"time >= {_num(tk)} hour",
                {target: f"{target} + {amount}"},
            )
    dose_times[drug] = np.sort(np.concatenate(all_times))
    if two:
        Q, V2 = _one(s.Q), _one(s.V2)
        b.param(f"Q_{d}", Q, "litre_per_hour")
        b.param(f"V2_{d}", V2, "litre_")
        params.update({f"Q_{d}_L_h": Q, f"V2_{d}_L": V2})
        b.state(f"A_p_{d}", 0.0, "mg", f"Q_{d} / V1_{d} * A_c_{d} - Q_{d} / V2_{d} * A_p_{d}")
        inflow.append(f"Q_{d} / V2_{d} * A_p_{d}")
        out = f"(CL_{d} + Q_{d}) / V1_{d} * A_c_{d}"
    else:
        out = f"CL_{d} / V1_{d} * A_c_{d}"
    b.state(f"A_c_{d}", 0.0, "mg", " + ".join([*inflow, f"-{out}"]) if inflow else f"-{out}")
    b.assign(f"C_plasma_{d}", "nM", f"A_c_{d} / V1_{d} * MW_factor_{d}")
    _effect_sites(
        b,
        d,
        _one(s.fu),
        _one(s.kp_uu_csf),
        _one(s.k_csf),
        _one(s.kp_uu_lesion),
        _one(s.k_lesion),
        params,
    )
    lesions = [(drug, f"C_lesion_{d}")]
    for met, fraction in cat.metabolites_of(drug, species):
        mp = cat.pk_parameters(met, species)
        md = _sid(met)
        b.param(f"fm_{md}", fraction, "dimensionless_")
        b.param(f"CL_{md}", mp.CL_L_h, "litre_per_hour")
        b.param(f"V1_{md}", mp.V1_L, "litre_")
        b.param(f"MW_factor_{md}", 1e6 / mp.mw_g_mol, "nM_per_mg_per_litre")
        # formed from the parent's clearance (mass in mg of parent, as the closed form)
        b.state(
            f"A_c_{md}",
            0.0,
            "mg",
            f"fm_{md} * CL_{d} / V1_{d} * A_c_{d} - CL_{md} / V1_{md} * A_c_{md}",
        )
        b.assign(f"C_plasma_{md}", "nM", f"A_c_{md} / V1_{md} * MW_factor_{md}")
        _effect_sites(
            b,
            md,
            mp.fu,
            mp.kp_uu_csf,
            mp.k_csf_per_h,
            lesion_kp_uu(met, species, cat),  # the blood–tumour barrier, as in the closed form
            mp.k_lesion_per_h,
            params,
        )
        lesions.append((met, f"C_lesion_{md}"))
        dose_times[met] = dose_times[drug]
    return lesions


def _effect_sites(
    b: _Builder,
    d: str,
    fu: float,
    kp_csf: float,
    k_csf: float,
    kp_les: float,
    k_les: float,
    params: dict[str, float],
) -> None:
    b.param(f"fu_{d}", fu, "dimensionless_")
    b.param(f"Kpuu_csf_{d}", kp_csf, "dimensionless_")
    b.param(f"k_csf_{d}", k_csf, "per_hour")
    b.param(f"Kpuu_lesion_{d}", kp_les, "dimensionless_")
    b.param(f"k_lesion_{d}", k_les, "per_hour")
    params.update({f"kp_uu_csf_{d}": kp_csf})
    b.state(
        f"C_csf_{d}",
        0.0,
        "nM",
        f"k_csf_{d} * (Kpuu_csf_{d} * fu_{d} * C_plasma_{d} - C_csf_{d})",
    )
    b.state(
        f"C_lesion_{d}",
        0.0,
        "nM",
        f"k_lesion_{d} * (Kpuu_lesion_{d} * fu_{d} * C_plasma_{d} - C_lesion_{d})",
    )


def export_sbml(
    arm: Arm,
    *,
    subject: int = 0,
    seed: int = 0,
    days: float,
    inoculum: str = "A925L/AR",
    species: str = "mouse",
    catalog: Catalog | None = None,
    model: PathwayModel | None = None,
    tumor: TumorParameters | None = None,
    clones: tuple[Clone, ...] | None = None,
) -> SBMLExport:
    """The in-vivo twin of subject ``subject`` of ``arm`` as an SBML L3V2 model.

    Parameters
    ----------
    arm : Arm
        Its regimens start at the tumour model's treatment start, as in ``simulate_lmc``.
    subject : int
        Index of the subject within the arm (its random stream, see
        :mod:`leptotwin.model.streams`).
    seed : int
    days : float
        Horizon (days after inoculation) up to which dose events are written.
    inoculum : {"A925LPE3", "A925L/AR"}
        Parental inocula start with the expected number of AREG-high cells.
    species, catalog, model, tumor, clones
        As for :func:`~leptotwin.model.cohort.simulate_lmc`.

    Returns
    -------
    SBMLExport

    Raises
    ------
    LeptotwinError
        Unknown drug, inoculum or clone set without P and R; a negative subject; a drug the
        pathway has no potency for; a pathway with a bypass receptor (in vitro only); a document
        that fails libsbml's consistency checks.
    """
    cat = catalog or load_catalog()
    pm = model or PathwayModel.from_catalog(cat)
    pm.refuse_bypass("the SBML export of the in-vivo twin")
    tp = tumor or TumorParameters.from_catalog(cat, species=species)
    cl = clones or default_clones(cat)
    if not (math.isfinite(days) and days > 0):
        raise LeptotwinError("days must be positive", field="days", value=days)
    draws: SubjectDraws = subject_draws(
        arm,
        subject=subject,
        seed=seed,
        inoculum=inoculum,
        species=species,
        catalog=cat,
        tumor=tp,
    )
    names = [c.name for c in cl]
    if "P" not in names or "R" not in names:
        raise LeptotwinError("clones must include P and R", field="clones", value=names)

    b = _Builder(
        _sid(f"leptotwin_{arm.name}_subject{subject}"),
        f"leptotwin LMC twin: arm {arm.name!r}, subject {subject}, seed {seed}",
    )
    horizon = days * 24.0
    params: dict[str, float] = {
        "engrafted_cells": draws.engrafted_cells,
        "rate_scale": draws.rate_scale,
        "founders_R": draws.founders_R,
    }
    dose_times: dict[str, np.ndarray] = {}
    outputs: dict[str, str] = {}
    lesion_ids: list[tuple[str, str]] = []
    for drug, subj in draws.pk.items():
        lesion_ids += _add_pk(
            b, drug, subj, draws.regimens[drug], horizon, cat, species, params, dose_times
        )
    for drug, _ in lesion_ids:
        d = _sid(drug)
        outputs[f"plasma_nM:{drug}"] = f"C_plasma_{d}"
        outputs[f"csf_nM:{drug}"] = f"C_csf_{d}"
        outputs[f"lesion_nM:{drug}"] = f"C_lesion_{d}"

    # pathway sums over the unbound lesion concentrations
    sums = {"alk": [], "tki": [], "ab": []}
    for drug, cid in lesion_ids:
        d = _sid(drug)
        if drug in pm.alk_k_nM:
            kind, k = "alk", pm.alk_k_nM[drug]
        elif drug in pm.egfr_tki_k_nM:
            kind, k = "tki", pm.egfr_tki_k_nM[drug]
        elif drug in pm.antibody_k_nM:
            kind, k = "ab", pm.antibody_k_nM[drug]
        else:
            raise LeptotwinError(
                "no pathway potency for this drug",
                field="drug",
                value=drug,
                expected="one of " + ", ".join(sorted(pm.drugs)),
            )
        sums[kind].append(f"{cid} / {b.param(f'K_{kind}_{d}', k, 'nM')}")
    for kind, terms in sums.items():
        b.assign(
            f"sum_{kind}", "dimensionless_", " + ".join(terms) if terms else "0 dimensionless_"
        )

    # tumour
    b.param("r_scale", draws.rate_scale, "dimensionless_")
    b.param("K_capacity", tp.carrying_capacity, "cell")
    b.param("N_endpoint", tp.endpoint_cells, "cell")
    b.param("mu_switch", tp.switch_rate, "dimensionless_")
    b.param("k_csf_areg", tp.csf_turnover_per_h, "per_hour")
    b.param("areg_Kd", pm.areg_kd_nM, "nM")
    b.param("areg_eff", pm.areg_efficacy, "dimensionless_")
    b.param("w_E", pm.egfr_weight, "dimensionless_")
    b.param("b_max", pm.birth_max, "per_hour")
    b.param("d_min", pm.death_min, "per_hour")
    b.param("d_max", pm.death_max, "per_hour")
    b.param("s_b", pm.birth_half_signal, "dimensionless_")
    b.param("s_d", pm.death_half_signal, "dimensionless_")
    b.param("n_hill", pm.signal_hill, "dimensionless_")
    b.param("pg_mL_per_nM", float(pm.nM_to_pg_per_mL(1.0)), "pg_per_mL_per_nM")
    b.param("one_cell", 1.0, "cell")
    for c in cl:
        k = _sid(c.name)
        sigma = pm.areg_secretion(c.state)
        sec = float(pm.secretion_nM_per_h(c.state, tp.csf_volume_mL))
        b.param(f"alk_fusion_{k}", c.state.alk_fusion, "dimensionless_")
        b.param(f"egfr_total_{k}", c.state.egfr_total, "dimensionless_")
        b.param(f"autocrine_{k}", pm.autocrine_gain * sigma, "nM")
        b.param(f"sec_{k}", sec, "nM_per_cell_hour")
        b.assign(f"ligand_{k}", "nM", f"L_areg + autocrine_{k}")
        b.assign(
            f"occupancy_{k}",
            "dimensionless_",
            f"ligand_{k} / (ligand_{k} + areg_Kd * (1 dimensionless_ + sum_ab))",
        )
        b.assign(f"alk_{k}", "dimensionless_", f"alk_fusion_{k} / (1 dimensionless_ + sum_alk)")
        b.assign(
            f"egfr_{k}",
            "dimensionless_",
            f"egfr_total_{k} * areg_eff * occupancy_{k} / (1 dimensionless_ + sum_tki)",
        )
        b.assign(f"signal_{k}", "dimensionless_", f"alk_{k} + w_E * egfr_{k}")
        b.assign(
            f"birth_{k}",
            "per_hour",
            f"b_max * signal_{k}^n_hill / (signal_{k}^n_hill + s_b^n_hill)",
        )
        b.assign(
            f"death_{k}",
            "per_hour",
            f"d_min + (d_max - d_min) * s_d^n_hill / (signal_{k}^n_hill + s_d^n_hill)",
        )
    initial = dict.fromkeys(names, 0.0)
    if inoculum == "A925LPE3":
        initial["P"], initial["R"] = draws.engrafted_cells, draws.founders_R
    else:
        initial["R"] = draws.engrafted_cells
    total = " + ".join(f"N_{_sid(n)}" for n in names)
    # switching P -> R at the expected rate of new surviving lineages, each entering with its
    # expected established size 1 / p_surv (simulate_lmc, stochastic=False)
    b.assign(
        "p_surv",
        "dimensionless_",
        "max(0 dimensionless_, min(1 dimensionless_, 1 dimensionless_ - death_R / "
        "max(birth_R, 1e-12 per_hour)))",
    )
    b.assign(
        "switch_flux",
        "cell",  # switching flux into R = r_scale * birth_P * switch_flux (cells/h)
        "piecewise(mu_switch * N_P * p_surv / max(p_surv, 0.001 dimensionless_), "
        "p_surv > 0 dimensionless_, 0 cell)",
    )
    b.assign(
        "room",
        "dimensionless_",
        f"max(0 dimensionless_, min(1 dimensionless_, 1 dimensionless_ - ({total}) / K_capacity))",
    )
    for n in names:
        k = _sid(n)
        rate = f"r_scale * (birth_{k} * room - death_{k}) * N_{k}"
        if n == "R":
            rate += " + r_scale * birth_P * switch_flux"
        b.state(f"N_{k}", initial[n], "cell", rate)
        outputs[f"cells_{n}"] = f"N_{k}"
    src = " + ".join(f"sec_{_sid(n)} * N_{_sid(n)}" for n in names)
    b.state("L_areg", 0.0, "nM", f"{src} - k_csf_areg * L_areg")
    b.assign("N_total", "cell", total)
    b.assign("log_burden", "dimensionless_", "ln(N_total / one_cell)")
    b.assign("csf_areg_pg_mL", "pg_per_mL", "L_areg * pg_mL_per_nM")
    b.param("t_endpoint_h", -1.0, "hour", constant=False)
    b.event(
        "endpoint",
        "N_total >= N_endpoint",
        {"t_endpoint_h": "piecewise(time, t_endpoint_h < 0 hour, t_endpoint_h)"},
    )
    outputs.update(
        total_cells="N_total",
        log_burden="log_burden",
        csf_areg_pg_mL="csf_areg_pg_mL",
        t_endpoint_h="t_endpoint_h",
    )
    for drug, subj in draws.pk.items():
        params.update({f"{k}:{drug}": v for k, v in _pk_row(subj).items()})
    text = b.text()
    problems = check_sbml(text)
    if problems:
        raise LeptotwinError(
            "the exported SBML fails libsbml's consistency checks", value=problems[0]
        )
    return SBMLExport(
        sbml=text,
        arm=arm.name,
        subject=subject,
        seed=seed,
        outputs=outputs,
        dose_times_h=dose_times,
        parameters=params,
    )


def _pk_row(s: SubjectPK) -> dict[str, float]:
    row = s.to_frame().iloc[0].to_dict()
    row.pop("subject", None)
    return {k: float(v) for k, v in row.items()}


def check_sbml(text: str, *, units: bool = True) -> list[str]:
    """libsbml's consistency checks (all categories; unit checks unless ``units=False``).

    Returns
    -------
    list of str
        One line per error or warning; empty when the document is clean.
    """
    libsbml = _sigint.libsbml()

    doc = libsbml.readSBMLFromString(text)
    if not units:
        doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
    doc.checkConsistency()
    out = []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        if e.getSeverity() >= libsbml.LIBSBML_SEV_WARNING:
            out.append(f"{e.getSeverityAsString()} {e.getErrorId()}: {e.getMessage().strip()}")
    return out
