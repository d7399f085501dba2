"""Quasi-steady-state ALK / EGFR / AREG signalling and the growth rates it sets.

Signalling settles in minutes, populations change over days, so each cell state is at steady state
for the drug and ligand concentrations it sees (docs/model.md §2):

* ALK activity      a = alk_fusion / (1 + Σ_i C_i / K_ALK,i)              (ATP-competitive TKIs)
* AREG secretion    σ = σ_max · areg_scale / (1 + m / K_m)                 (m: miR-449a level)
* ligand at EGFR    L = L_bulk + κ σ                                        (pericellular autocrine)
* occupancy         θ = L / (L + Kd (1 + Σ_j C_ab,j / K_ab,j))              (antibodies compete)
* EGFR activity     e = E_tot · ε_AREG · θ / (1 + Σ_k C_k / K_EGFR,k)       (EGFR TKIs)
* survival signal   s = a + w_E · e
* birth            b = b_max s^n / (s^n + s_b^n)
* death            d = d_min + (d_max − d_min) s_d^n / (s^n + s_d^n)

All functions broadcast over arrays (wells, subjects, concentrations); parameters come from the
catalogue and are shared by every cell line and claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError

__all__ = ["CellState", "PathwayModel", "Signals", "cell_state"]


@dataclass(frozen=True)
class CellState:
    """One cell state, as levels relative to the parental line.

    Attributes
    ----------
    name : str
        Cell line plus perturbations, e.g. ``"A925L/AR + siAREG"``.
    mir449a : float
        Relative miR-449a level (parental 1).
    egfr_total : float
        Relative EGFR protein (parental 1).
    alk_fusion : float
        Relative EML4-ALK activity without drug (parental 1).
    areg_scale : float
        Multiplier on AREG secretion (siAREG < 1).
    """

    name: str
    mir449a: float
    egfr_total: float
    alk_fusion: float
    areg_scale: float = 1.0

    def with_levels(self, name: str | None = None, **levels: float) -> CellState:
        """A copy with some levels replaced (counterfactuals: ``with_levels(mir449a=1.0)``)."""
        return replace(self, name=name or self.name, **levels)


def cell_state(
    cell_line: str,
    perturbations: tuple[str, ...] | list[str] = (),
    *,
    catalog: Catalog | None = None,
) -> CellState:
    """The state of ``cell_line`` after the named catalogue perturbations, applied in order."""
    cat = catalog or load_catalog()
    line = cat.cell_line(cell_line)
    levels = {
        "mir449a": line.mir449a.value,
        "egfr_total": line.egfr_total.value,
        "alk_fusion": line.alk_fusion.value,
        "areg_secretion": line.areg_secretion.value if line.areg_secretion is not None else 1.0,
    }
    names = [cell_line]
    for p_name in perturbations:
        if not p_name:
            continue
        pert = cat.perturbation(p_name)
        if pert.scale is not None:
            levels[pert.parameter] *= pert.scale.value
        else:
            assert pert.set is not None
            levels[pert.parameter] = pert.set.value
        names.append(p_name)
    return CellState(
        name=" + ".join(names),
        mir449a=levels["mir449a"],
        egfr_total=levels["egfr_total"],
        alk_fusion=levels["alk_fusion"],
        areg_scale=levels["areg_secretion"],
    )


@dataclass(frozen=True)
class Signals:
    """Steady-state signalling of one cell state; arrays broadcast to the inputs' shape.

    alk, egfr : ALK and EGFR activity (relative: untreated parental ALK = 1)
    egfr_occupancy : fraction of EGFR bound by AREG
    ligand_nM : AREG at the receptor (bulk + pericellular), nM
    signal : survival signal a + w_E e
    birth_per_h, death_per_h : division and death rates (1/h)
    areg_secretion : pg per 1e6 cells per h
    """

    alk: np.ndarray
    egfr: np.ndarray
    egfr_occupancy: np.ndarray
    ligand_nM: np.ndarray
    signal: np.ndarray
    birth_per_h: np.ndarray
    death_per_h: np.ndarray
    areg_secretion: float

    @property
    def net_growth_per_h(self) -> np.ndarray:
        return self.birth_per_h - self.death_per_h


@dataclass(frozen=True)
class PathwayModel:
    """The signalling model with its parameters as plain numbers (see module docstring)."""

    areg_kd_nM: float
    areg_efficacy: float
    areg_kda: float
    areg_secretion_max: float
    areg_k_deg_per_h: float
    mir449a_km: float
    autocrine_gain: float
    egfr_weight: float
    birth_max: float
    death_min: float
    death_max: float
    birth_half_signal: float
    death_half_signal: float
    signal_hill: float
    alk_k_nM: dict[str, float]
    egfr_tki_k_nM: dict[str, float]
    antibody_k_nM: dict[str, float]
    medium_fu: dict[str, float]

    @classmethod
    def from_catalog(cls, catalog: Catalog | None = None, **overrides: float) -> PathwayModel:
        """Build from the catalogue; ``overrides`` replace parameters (calibration, tests)."""
        cat = catalog or load_catalog()
        v = cat.pathway_value
        alk, tki, ab, fu_med = {}, {}, {}, {}
        serum = cat.assay_value("culture", "serum_fraction")
        for name, drug in cat.drugs.items():
            # Potencies in the catalogue are nominal concentrations in 10 % serum medium; the model
            # works with free drug, so K_free = K_nominal x fu_medium (see docs/model.md §2).
            fu_p = cat.pk_parameters(name, "human").fu
            fu_med[name] = (
                1.0 if drug.kind == "antibody" else 1.0 / (1.0 + (1.0 / fu_p - 1.0) * serum)
            )
            for target, k in cat.model_potency_nM(name).items():
                k_free = k * fu_med[name]
                if target == "ALK":
                    alk[name] = k_free
                elif target == "EGFR" and drug.kind == "antibody":
                    ab[name] = k_free
                elif target == "EGFR":
                    tki[name] = k_free
        model = cls(
            areg_kd_nM=v("areg_kd"),
            areg_efficacy=v("areg_efficacy"),
            areg_kda=v("areg_molar_mass"),
            areg_secretion_max=v("areg_secretion_max"),
            areg_k_deg_per_h=float(np.log(2) / v("areg_medium_half_life")),
            mir449a_km=v("mir449a_km"),
            autocrine_gain=v("autocrine_gain"),
            egfr_weight=v("egfr_weight"),
            birth_max=v("birth_max"),
            death_min=v("death_min"),
            death_max=v("death_max"),
            birth_half_signal=v("birth_half_signal"),
            death_half_signal=v("death_half_signal"),
            signal_hill=v("signal_hill"),
            alk_k_nM=alk,
            egfr_tki_k_nM=tki,
            antibody_k_nM=ab,
            medium_fu=fu_med,
        )
        return replace(model, **overrides) if overrides else model

    @property
    def drugs(self) -> set[str]:
        return set(self.alk_k_nM) | set(self.egfr_tki_k_nM) | set(self.antibody_k_nM)

    def free_in_medium(self, conc_nM: Mapping[str, ArrayLike]) -> dict[str, np.ndarray]:
        """Nominal concentrations in culture medium → free (unbound) concentrations (nM)."""
        out = {}
        for drug, c in conc_nM.items():
            if drug not in self.medium_fu:
                raise LeptotwinError(
                    "no pathway potency for this drug",
                    field="drug",
                    value=drug,
                    expected="one of " + ", ".join(sorted(self.drugs)),
                )
            out[drug] = np.asarray(c, dtype=float) * self.medium_fu[drug]
        return out

    def areg_secretion(self, state: CellState) -> float:
        """AREG secretion (pg / 1e6 cells / h) of a cell state."""
        return self.areg_secretion_max * state.areg_scale / (1.0 + state.mir449a / self.mir449a_km)

    def pg_per_mL_to_nM(self, conc_pg_mL: ArrayLike) -> np.ndarray:
        """AREG mass concentration to molar (molar mass from the catalogue)."""
        # pg/mL = 1e-9 g/L; divided by g/mol (kDa x 1e3) gives mol/L; x 1e9 gives nM.
        return np.asarray(conc_pg_mL, dtype=float) / (self.areg_kda * 1e3)

    def nM_to_pg_per_mL(self, conc_nM: ArrayLike) -> np.ndarray:
        """AREG molar concentration to mass (the inverse of :meth:`pg_per_mL_to_nM`)."""
        return np.asarray(conc_nM, dtype=float) * self.areg_kda * 1e3

    def secretion_nM_per_h(self, state: CellState, volume_mL: float) -> np.ndarray:
        """AREG one cell of ``state`` adds to ``volume_mL`` of medium or CSF per hour (nM/h)."""
        return self.pg_per_mL_to_nM(np.asarray(self.areg_secretion(state)) / 1e6 / volume_mL)

    def signals(
        self,
        state: CellState,
        conc_nM: Mapping[str, ArrayLike] | None = None,
        *,
        areg_bulk_nM: ArrayLike = 0.0,
    ) -> Signals:
        """Steady-state signalling for **free** drug concentrations ``conc_nM`` (drug → nM,
        broadcastable arrays; unbound plasma/CSF/lesion in vivo, :meth:`free_in_medium` in vitro)
        and bulk AREG in the medium or CSF (nM).

        Raises
        ------
        LeptotwinError
            For a drug the pathway model has no potency for, or a negative concentration.
        """
        conc = dict(conc_nM or {})
        alk_sum, tki_sum, ab_sum = 0.0, 0.0, 0.0
        for drug, c in conc.items():
            c = np.asarray(c, dtype=float)
            if np.any(c < 0):
                raise LeptotwinError("concentration must be >= 0", field=drug)
            if drug in self.alk_k_nM:
                alk_sum = alk_sum + c / self.alk_k_nM[drug]
            elif drug in self.egfr_tki_k_nM:
                tki_sum = tki_sum + c / self.egfr_tki_k_nM[drug]
            elif drug in self.antibody_k_nM:
                ab_sum = ab_sum + c / self.antibody_k_nM[drug]
            else:
                raise LeptotwinError(
                    "no pathway potency for this drug",
                    field="drug",
                    value=drug,
                    expected="one of " + ", ".join(sorted(self.drugs)),
                )
        sigma = self.areg_secretion(state)
        alk = state.alk_fusion / (1.0 + np.asarray(alk_sum))
        ligand = np.asarray(areg_bulk_nM, dtype=float) + self.autocrine_gain * sigma
        occupancy = ligand / (ligand + self.areg_kd_nM * (1.0 + np.asarray(ab_sum)))
        egfr = state.egfr_total * self.areg_efficacy * occupancy / (1.0 + np.asarray(tki_sum))
        signal = alk + self.egfr_weight * egfr
        birth, death = self.rates(signal)
        shape = np.broadcast_shapes(np.shape(alk), np.shape(egfr))
        return Signals(
            alk=np.broadcast_to(alk, shape),
            egfr=np.broadcast_to(egfr, shape),
            egfr_occupancy=np.broadcast_to(occupancy, shape),
            ligand_nM=np.broadcast_to(ligand, shape),
            signal=signal,
            birth_per_h=birth,
            death_per_h=death,
            areg_secretion=sigma,
        )

    def rates(self, signal: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Birth and death rates (1/h) for a survival signal."""
        s_n = np.asarray(signal, dtype=float) ** self.signal_hill
        kb = self.birth_half_signal**self.signal_hill
        kd = self.death_half_signal**self.signal_hill
        birth = self.birth_max * s_n / (s_n + kb)
        death = self.death_min + (self.death_max - self.death_min) * kd / (s_n + kd)
        return birth, death
