"""Quasi-steady-state ALK / EGFR / AREG signalling and the growth rates it sets.

Signalling settles in minutes, populations change over days, so each cell state is at steady state
for the drug and ligand concentrations it sees (docs/model.md §2):

* ALK activity      a = alk_fusion / (1 + Σ_i C_i / K_ALK,i)              (ATP-competitive TKIs)
* AREG secretion    σ = σ_max · areg_scale / (1 + m / K_m)                 (m: miR-449a level)
* ligand at EGFR    L = L_bulk + κ σ                                        (pericellular autocrine)
* occupancy         θ = L / (L + Kd (1 + Σ_j C_ab,j / K_ab,j))              (antibodies compete)
* EGFR activity     e = E_tot · ε_AREG · θ / (1 + Σ_k C_k / K_EGFR,k)       (EGFR TKIs)
* survival signal   s = a + w_E · e  (+ Σ_X w_X · x_X for declared bypass receptors, below)
* birth            b = b_max s^n / (s^n + s_b^n)
* death            d = d_min + (d_max − d_min) s_d^n / (s^n + s_d^n)

All functions broadcast over arrays (wells, subjects, concentrations); parameters come from the
catalogue and are shared by every cell line and claim.

Other bypass receptors (MET/HGF, HER3/NRG1, ...) are optional: a catalogue that declares one
(``bypass.yaml``, :meth:`Catalog.with_bypass`) adds, per receptor X with ligand L_X,

* occupancy         θ_X = L_X / (L_X + Kd_X),  L_X = L_X,medium + L_X,autocrine(cell line)
* activity          x_X = R_X · ε_X · θ_X / (1 + Σ_k C_k / K_X,k)          (kinase inhibitors)

and w_X · x_X to the survival signal. Without one (the packaged catalogue) nothing above changes,
to the bit. The bypass is in vitro only: the medium ligand has no in-vivo counterpart, and the
in-vivo tumour model refuses a pathway with a bypass (:meth:`PathwayModel.refuse_bypass`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError

__all__ = [
    "BypassReceptorModel",
    "CellState",
    "DrugAction",
    "PathwayModel",
    "Signals",
    "StateColumns",
    "cell_state",
]


def _state_column(x: np.ndarray, ndim: int) -> np.ndarray:
    """``x`` (one value per state) with the states along a new first axis before ``ndim``
    axes of length 1."""
    return x.reshape(x.shape[0], *(1,) * ndim)


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
    bypass : tuple of (receptor, level, autocrine ligand nM), or None
        The cell line's second bypass receptors (catalogue ``bypass.yaml``): relative receptor
        level and the ligand its own secretion puts at the receptor. ``None`` for a state built
        without the catalogue's bypass block; a pathway with a bypass refuses such a state.
    """

    name: str
    mir449a: float
    egfr_total: float
    alk_fusion: float
    areg_scale: float = 1.0
    bypass: tuple[tuple[str, float, float], ...] | None = None

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
    bypass = None
    if cat.bypass:  # a line the block does not list carries none of the receptor
        bypass = tuple(
            (r, *cat.bypass_numbers(r).cell_lines.get(line.name, (0.0, 0.0)))
            for r in sorted(cat.bypass)
        )
    return CellState(
        name=" + ".join(names),
        mir449a=levels["mir449a"],
        egfr_total=levels["egfr_total"],
        alk_fusion=levels["alk_fusion"],
        areg_scale=levels["areg_secretion"],
        bypass=bypass,
    )


@dataclass(frozen=True)
class StateColumns:
    """Constants of ``n`` cell states, arrays of shape ``(n,)`` (:meth:`PathwayModel.
    state_columns`): ALK fusion activity, pericellular autocrine AREG κσ (nM), E_tot · ε_AREG."""

    alk_fusion: np.ndarray
    autocrine_nM: np.ndarray
    egfr_drive: np.ndarray


@dataclass(frozen=True)
class DrugAction:
    """The drugs' part of the signalling of cell states (:meth:`PathwayModel.drug_action`):
    ALK activity a (states along the first axis), the antibodies' apparent AREG Kd
    (Kd (1 + Σ C_ab/K_ab), nM) and the EGFR TKIs' divisor (1 + Σ C/K_EGFR), the last two of
    the concentrations' shape (or scalars where no drug of the class is given)."""

    alk: np.ndarray
    kd_apparent: np.ndarray
    egfr_tki_divisor: np.ndarray


@dataclass(frozen=True)
class Signals:
    """Steady-state signalling of one cell state; arrays broadcast to the inputs' shape.

    alk, egfr : ALK and EGFR activity (relative: untreated parental ALK = 1)
    egfr_occupancy : fraction of EGFR bound by AREG
    ligand_nM : AREG at the receptor (bulk + pericellular), nM
    signal : survival signal a + w_E e
    birth_per_h, death_per_h : division and death rates (1/h)
    areg_secretion : pg per 1e6 cells per h
    bypass : receptor → its activity x_X (relative; empty without a declared bypass)
    """

    alk: np.ndarray
    egfr: np.ndarray
    egfr_occupancy: np.ndarray
    ligand_nM: np.ndarray
    signal: np.ndarray
    birth_per_h: np.ndarray
    death_per_h: np.ndarray
    areg_secretion: float
    bypass: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def net_growth_per_h(self) -> np.ndarray:
        return self.birth_per_h - self.death_per_h


def _fu_medium(fu_plasma: float, serum_fraction: float) -> float:
    """Unbound fraction in medium with ``serum_fraction`` serum, from the plasma unbound
    fraction: binding scales with the protein, so (1/fu − 1) shrinks by the serum fraction."""
    return 1.0 / (1.0 + (1.0 / fu_plasma - 1.0) * serum_fraction)


@dataclass(frozen=True)
class BypassReceptorModel:
    """A second bypass receptor as plain numbers (see the module docstring).

    ligand_medium_nM is the ligand in the culture medium; inhibitor_k_nM holds **free**
    inhibition constants (nominal K × the drug's unbound fraction in medium), as
    :class:`PathwayModel`'s own potencies.
    """

    name: str
    ligand: str
    ligand_kd_nM: float
    efficacy: float
    weight: float
    ligand_medium_nM: float
    inhibitor_k_nM: dict[str, float]


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
    bypass: tuple[BypassReceptorModel, ...] = ()

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
            fu_med[name] = 1.0 if drug.kind == "antibody" else _fu_medium(fu_p, serum)
            for target, k in cat.model_potency_nM(name).items():
                k_free = k * fu_med[name]
                if target == "ALK":
                    alk[name] = k_free
                elif target == "EGFR" and drug.kind == "antibody":
                    ab[name] = k_free
                elif target == "EGFR":
                    tki[name] = k_free
        bypass = []
        for r_name in sorted(cat.bypass):
            num = cat.bypass_numbers(r_name)
            for drug, fu_p in num.compound_fu_plasma.items():  # inhibitors not in drugs.yaml
                fu_med[drug] = _fu_medium(fu_p, serum)
            bypass.append(
                _checked_bypass(
                    BypassReceptorModel(
                        name=r_name,
                        ligand=num.ligand,
                        ligand_kd_nM=num.ligand_kd_nM,
                        efficacy=num.efficacy,
                        weight=num.weight,
                        ligand_medium_nM=num.ligand_medium_nM,
                        inhibitor_k_nM={d: k * fu_med[d] for d, k in num.inhibitor_k_nM.items()},
                    )
                )
            )
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
            bypass=tuple(bypass),
        )
        return replace(model, **overrides) if overrides else model

    @property
    def drugs(self) -> set[str]:
        out = set(self.alk_k_nM) | set(self.egfr_tki_k_nM) | set(self.antibody_k_nM)
        for r in self.bypass:
            out |= set(r.inhibitor_k_nM)
        return out

    def refuse_bypass(self, where: str) -> None:
        """Raise a LeptotwinError when a bypass receptor is declared: for model parts that do
        not carry one (the in-vivo tumour, its SBML export), so that it is never ignored."""
        if self.bypass:
            raise LeptotwinError(
                f"{where} has no bypass receptors: the catalogue's bypass block (docs/model.md "
                "§2, 'Other bypass receptors') is in vitro only",
                field="bypass",
                value=", ".join(r.name for r in self.bypass),
                expected="a catalogue without a bypass block (bypass.yaml)",
            )

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
        bypass_ligand_nM: Mapping[str, ArrayLike] | None = None,
    ) -> Signals:
        """Steady-state signalling for **free** drug concentrations ``conc_nM`` (drug → nM,
        broadcastable arrays; unbound plasma/CSF/lesion in vivo, :meth:`free_in_medium` in vitro)
        and bulk AREG in the medium or CSF (nM).

        ``bypass_ligand_nM`` (receptor → nM) replaces a declared bypass receptor's medium ligand
        (``ligand_medium`` in the catalogue), e.g. for an HGF dose axis; ignored receptors keep
        the catalogue's.

        Raises
        ------
        LeptotwinError
            For a drug the pathway model has no potency for, a negative concentration, a bypass
            ligand for a receptor that is not declared or a negative one, or (with a bypass
            declared) a cell state built without the catalogue's bypass block.
        """
        conc = dict(conc_nM or {})
        drugs = self._drug_action(state.alk_fusion, conc)
        sigma = self.areg_secretion(state)
        alk = drugs.alk
        ligand, occupancy, egfr, signal = self._signal(
            drugs, self.autocrine_gain * sigma, state.egfr_total * self.areg_efficacy, areg_bulk_nM
        )
        bypass: dict[str, np.ndarray] = {}
        if self.bypass or bypass_ligand_nM:  # nothing of this runs without a declared bypass
            bypass = self._bypass_activity(state, conc, bypass_ligand_nM or {})
            for r in self.bypass:
                signal = signal + r.weight * bypass[r.name]
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
            bypass=bypass,
        )

    def _drug_action(self, alk_fusion: ArrayLike, conc: Mapping[str, ArrayLike]) -> DrugAction:
        """What the drugs do, which does not depend on the AREG around the cells."""
        alk_sum, tki_sum, ab_sum = self._inhibitor_sums(conc)
        return DrugAction(
            alk=alk_fusion / (1.0 + np.asarray(alk_sum)),
            kd_apparent=self.areg_kd_nM * (1.0 + np.asarray(ab_sum)),
            egfr_tki_divisor=1.0 + np.asarray(tki_sum),
        )

    def _signal(
        self,
        drugs: DrugAction,
        autocrine_nM: ArrayLike,
        egfr_drive: ArrayLike,
        areg_bulk_nM: ArrayLike,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Ligand at EGFR, occupancy, EGFR activity and the survival signal (no bypass)."""
        ligand = np.asarray(areg_bulk_nM, dtype=float) + autocrine_nM
        occupancy = ligand / (ligand + drugs.kd_apparent)
        egfr = egfr_drive * occupancy / drugs.egfr_tki_divisor
        return ligand, occupancy, egfr, drugs.alk + self.egfr_weight * egfr

    def rates_given_ligand(
        self, state: CellState, conc_nM: Mapping[str, ArrayLike]
    ) -> Callable[[ArrayLike], tuple[np.ndarray, np.ndarray]]:
        """``areg_bulk_nM -> (birth, death)`` (1/h) of ``state`` at fixed free drug levels: the
        rates of :meth:`signals` to the bit, with the drugs' part computed once (a culture's
        drug levels stay constant while its medium AREG changes at every step)."""
        conc = dict(conc_nM)
        if self.bypass:

            def through_signals(areg_bulk_nM: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
                sig = self.signals(state, conc, areg_bulk_nM=areg_bulk_nM)
                return sig.birth_per_h, sig.death_per_h

            return through_signals
        drugs = self._drug_action(state.alk_fusion, conc)
        autocrine = self.autocrine_gain * self.areg_secretion(state)
        drive = state.egfr_total * self.areg_efficacy

        def rates(areg_bulk_nM: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
            return self.rates(self._signal(drugs, autocrine, drive, areg_bulk_nM)[3])

        return rates

    def _inhibitor_sums(self, conc: Mapping[str, ArrayLike]) -> tuple[ArrayLike, ...]:
        """Σ C/K over the ALK TKIs, the EGFR TKIs and the anti-EGFR antibodies (0.0 where a
        class is absent), after checking every drug and concentration."""
        alk_sum: ArrayLike = 0.0
        tki_sum: ArrayLike = 0.0
        ab_sum: ArrayLike = 0.0
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
            elif not any(drug in r.inhibitor_k_nM for r in self.bypass):
                raise LeptotwinError(
                    "no pathway potency for this drug",
                    field="drug",
                    value=drug,
                    expected="one of " + ", ".join(sorted(self.drugs)),
                )
        return alk_sum, tki_sum, ab_sum

    def drug_action(
        self,
        states: StateColumns,
        conc_nM: Mapping[str, ArrayLike],
        *,
        ndim: int | None = None,
    ) -> DrugAction:
        """What the drugs at ``conc_nM`` (free nM, arrays of broadcast shape ``shape``) do to
        ``states``: ALK activity of shape ``(n_states, *shape)`` (``(n_states, 1, ...)``
        where no ALK TKI is given), the apparent Kd and TKI divisor of shape ``shape``
        (scalars where no drug of the class is given). ``ndim``: the axes after the states'
        (default the concentrations'; give it when ``conc_nM`` may be empty). The drug part
        of :meth:`state_rates`, which does not depend on the AREG around the cells (compute it
        once for many AREG levels; :meth:`rates_given_action`). No bypass receptors."""
        if ndim is None:
            ndim = max((np.ndim(c) for c in conc_nM.values()), default=0)
        return self._drug_action(_state_column(states.alk_fusion, ndim), conc_nM)

    def rates_given_action(
        self, states: StateColumns, action: DrugAction, *, areg_bulk_nM: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """Birth and death rates (1/h) of ``states`` under the drugs' ``action``
        (:meth:`drug_action`, or one assembled for many times at once) at bulk AREG
        ``areg_bulk_nM`` (nM, broadcasting with the action's arrays): shape
        ``(n_states, *shape)``, :meth:`state_rates`' numbers to the bit. No bypass."""
        ndim = max(
            np.ndim(areg_bulk_nM),
            np.ndim(action.alk) - 1,
            np.ndim(action.kd_apparent),
            np.ndim(action.egfr_tki_divisor),
        )
        autocrine = _state_column(states.autocrine_nM, ndim)
        drive = _state_column(states.egfr_drive, ndim)
        return self.rates(self._signal(action, autocrine, drive, areg_bulk_nM)[3])

    def state_rates(
        self,
        states: StateColumns,
        conc_nM: Mapping[str, ArrayLike],
        *,
        areg_bulk_nM: ArrayLike,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Birth and death rates (1/h) of several cell states at once, shape
        ``(n_states, *shape)`` for concentrations and bulk AREG of broadcast shape ``shape``.

        The numbers of :meth:`signals` (same operations in the same order, so equal to the bit),
        without its other outputs: the hot path of the in-vivo tumour model, which needs only
        the rates of every clone at every step. No bypass receptors (the in-vivo model refuses
        them; :meth:`refuse_bypass`).
        """
        self.refuse_bypass("state_rates")
        ndim = max([np.ndim(areg_bulk_nM), *(np.ndim(c) for c in conc_nM.values())])
        drugs = self.drug_action(states, conc_nM, ndim=ndim)
        return self.rates_given_action(states, drugs, areg_bulk_nM=areg_bulk_nM)

    def state_columns(self, states: Sequence[CellState]) -> StateColumns:
        """The per-state constants :meth:`state_rates` needs, as column vectors."""

        return StateColumns(
            alk_fusion=np.array([s.alk_fusion for s in states], dtype=float),
            autocrine_nM=np.array(
                [self.autocrine_gain * self.areg_secretion(s) for s in states], dtype=float
            ),
            egfr_drive=np.array([s.egfr_total * self.areg_efficacy for s in states], dtype=float),
        )

    def _bypass_activity(
        self,
        state: CellState,
        conc: Mapping[str, ArrayLike],
        ligand_nM: Mapping[str, ArrayLike],
    ) -> dict[str, np.ndarray]:
        """Activity x_X of each declared bypass receptor (module docstring)."""
        known = {r.name: r for r in self.bypass}
        for name, lig in ligand_nM.items():
            if name not in known:
                raise LeptotwinError(
                    "no such bypass receptor in the pathway",
                    field="bypass_ligand_nM",
                    value=name,
                    expected="one of " + (", ".join(sorted(known)) or "(none declared)"),
                )
            if np.any(np.asarray(lig, dtype=float) < 0):
                raise LeptotwinError("ligand concentration must be >= 0", field=name)
        if state.bypass is None:
            raise LeptotwinError(
                "this cell state carries no bypass receptor levels (built without the "
                "catalogue's bypass block); build it with cell_state(..., catalog=...)",
                field="state.bypass",
                value=state.name,
                expected="receptors " + ", ".join(sorted(known)),
            )
        levels = {r: (level, autocrine) for r, level, autocrine in state.bypass}
        out = {}
        for r in self.bypass:
            level, autocrine = levels.get(r.name, (0.0, 0.0))
            medium = ligand_nM.get(r.name, r.ligand_medium_nM)
            lig = np.asarray(medium, dtype=float) + np.asarray(autocrine, dtype=float)
            occupancy = lig / (lig + r.ligand_kd_nM)
            inhibition = 0.0
            for drug, c in conc.items():
                if drug in r.inhibitor_k_nM:
                    inhibition = inhibition + np.asarray(c, dtype=float) / r.inhibitor_k_nM[drug]
            out[r.name] = (
                np.asarray(level, dtype=float)
                * r.efficacy
                * occupancy
                / (1.0 + np.asarray(inhibition))
            )
        return out

    def rates(self, signal: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Birth and death rates (1/h) for a survival signal."""
        s_n = np.asarray(signal, dtype=float) ** self.signal_hill
        kb = self.birth_half_signal**self.signal_hill
        kd = self.death_half_signal**self.signal_hill
        birth = self.birth_max * s_n / (s_n + kb)
        death = self.death_min + (self.death_max - self.death_min) * kd / (s_n + kd)
        return birth, death


def _checked_bypass(r: BypassReceptorModel) -> BypassReceptorModel:
    """The numbers of a bypass receptor as the model needs them (a catalogue value moved by
    ``with_values`` is not re-validated by the loader)."""
    checks = {
        "ligand_kd": (r.ligand_kd_nM, r.ligand_kd_nM > 0),
        "efficacy": (r.efficacy, r.efficacy >= 0),
        "weight": (r.weight, r.weight >= 0),
        "ligand_medium": (r.ligand_medium_nM, r.ligand_medium_nM >= 0),
        **{f"inhibitors.{d}.k": (k, k > 0) for d, k in r.inhibitor_k_nM.items()},
    }
    for name, (x, ok) in checks.items():
        if not (np.isfinite(x) and ok):
            raise LeptotwinError(
                "bypass value out of range", field=f"bypass.{r.name}.{name}", value=x
            )
    return r
