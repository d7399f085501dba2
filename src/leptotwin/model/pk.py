"""Linear pharmacokinetics in closed form, batched over subjects.

Disposition is one- or two-compartment with first-order absorption for extravascular routes
(oral, ip, sc) and bolus input for iv. Two effect sites hang off unbound plasma without feeding
back (their volumes are negligible next to the plasma distribution volume):

* CSF:     dC_csf/dt = k_csf (Kp,uu,csf · fu · Cp − C_csf)
* lesion:  dC_les/dt = k_les (Kp,uu,lesion · fu · Cp − C_les)   (unbound lesion interstitium)

Kp,uu,lesion of a small molecule is not a catalogue number: it follows from the blood–tumour
barrier and the drug's efflux at the blood–brain barrier (:func:`leptotwin.model.barrier.
lesion_kp_uu`), for every drug, metabolite and species.

Every output is then a sum of exponentials per dose. With poles λ_j (ka, the disposition roots
α, β, k_csf, k_les) and zeros z_m (k21 for two compartments), the unit impulse response of an
output with gain G is h(t) = Σ_i G Π_m (z_m − λ_i) / Π_{j≠i} (λ_j − λ_i) · e^{−λ_i t}. Doses are
superposed exactly by carrying, for each pole, the running sum M_i(t) = Σ_{t_d ≤ t} D_d
e^{−λ_i (t − t_d)} from one output time to the next; the only error is floating-point round-off.
The equations and parameter sources are in docs/model.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from leptotwin.catalog import Catalog, PKParameters, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.barrier import lesion_kp_uu
from leptotwin.model.regimen import Regimen, _as_regimens, doses_by_route

__all__ = [
    "COMPARTMENTS",
    "Metabolite",
    "PKResult",
    "PKStream",
    "SubjectPK",
    "covariate_effect",
    "draw_subjects",
    "log_concentration",
    "simulate_pk",
    "smoker_catalog",
]

COMPARTMENTS = ("plasma", "unbound", "csf", "lesion")
_REL_POLE_GAP = 1e-8  # poles closer than this (relative) are separated to keep residues finite
_STREAM_OUTPUTS = ("plasma", "csf", "lesion")  # what PKStream can return, in _route_system order
LOG_SPACE_BELOW = 1e-6
""":func:`log_concentration` takes a value from the log-space sum when the closed-form sum is
at most this fraction of the sum of its terms' magnitudes (the cancellation that leaves it
with a relative error above ~1e-10)."""


@dataclass(frozen=True)
class SubjectPK:
    """PK parameters of a batch of subjects; every array has shape (n_subjects,).

    Units: clearances L/h, volumes L, rate constants 1/h, fractions dimensionless.
    """

    typical: PKParameters
    CL: np.ndarray
    V1: np.ndarray
    Q: np.ndarray
    V2: np.ndarray
    fu: np.ndarray
    kp_uu_csf: np.ndarray
    k_csf: np.ndarray
    kp_uu_lesion: np.ndarray
    k_lesion: np.ndarray
    ka: dict[str, np.ndarray]
    F: dict[str, np.ndarray]

    @property
    def n_subjects(self) -> int:
        return int(self.CL.shape[0])

    def take(self, idx: np.ndarray) -> SubjectPK:
        """The subjects ``idx`` (integer indices or a boolean mask of shape (n_subjects,)):
        every per-subject array indexed, the same typical parameters."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                out[f.name] = {k: v[idx] for k, v in value.items()}
            elif isinstance(value, np.ndarray):
                out[f.name] = value[idx]
        return replace(self, **out)  # type: ignore[arg-type]

    @classmethod
    def concat(
        cls,
        parts: Sequence[SubjectPK],
        *,
        typical: PKParameters | None = None,
        repeat: int = 1,
    ) -> SubjectPK:
        """The subjects of ``parts`` one after another, the whole sequence ``repeat`` times
        (subject ``a · N + k``, N the subjects of all parts, is subject ``k`` of the
        concatenation), with ``typical`` (default the first part's) as typical parameters.
        The parts must have the same routes."""
        first = parts[0]
        out: dict[str, object] = {}
        for f in fields(first):
            value = getattr(first, f.name)
            if isinstance(value, dict):
                out[f.name] = {
                    k: np.tile(np.concatenate([getattr(s, f.name)[k] for s in parts]), repeat)
                    for k in value
                }
            elif isinstance(value, np.ndarray):
                out[f.name] = np.tile(np.concatenate([getattr(s, f.name) for s in parts]), repeat)
        typical = first.typical if typical is None else typical
        return replace(first, typical=typical, **out)  # type: ignore[arg-type]

    def to_frame(self) -> pd.DataFrame:
        """One row per subject with the drawn parameters (units in column names)."""
        cols = {
            "CL_L_h": self.CL,
            "V1_L": self.V1,
            "Q_L_h": self.Q,
            "V2_L": self.V2,
            "fu": self.fu,
            "kp_uu_csf": self.kp_uu_csf,
            "k_csf_per_h": self.k_csf,
            "kp_uu_lesion": self.kp_uu_lesion,
            "k_lesion_per_h": self.k_lesion,
        }
        for route, ka in self.ka.items():
            cols[f"ka_{route}_per_h"] = ka
            cols[f"F_{route}"] = self.F[route]
        return pd.DataFrame({"subject": np.arange(self.n_subjects), **cols})


def draw_subjects(
    params: PKParameters,
    n_subjects: int,
    *,
    rng: np.random.Generator | None = None,
    iiv: bool = True,
    catalog: Catalog | None = None,
    smoker: bool | np.ndarray = False,
) -> SubjectPK:
    """Draw subjects with log-normal inter-individual variability.

    Each parameter named in ``params.iiv`` is multiplied by exp(η), η ~ N(0, ω²), drawn in a fixed
    order from ``rng`` so one seed reproduces the cohort. Fractions (fu, F) stay ≤ 1. Covariates
    are applied after the variability and use no random numbers, so smokers and non-smokers drawn
    from one seed are the same patients apart from the covariate.

    Parameters
    ----------
    params : PKParameters
        Typical values (from :meth:`Catalog.pk_parameters`).
    n_subjects : int
    rng : numpy.random.Generator, optional
        Required when ``iiv`` is true and ``params.iiv`` is not empty (even for one subject).
    iiv : bool
        False gives every subject the typical values.
    catalog : Catalog, optional
        The catalogue ``params`` came from (default: the packaged one); its blood–tumour barrier
        and the drug's brain Kp,uu set the lesion Kp,uu (:func:`~leptotwin.model.barrier.
        lesion_kp_uu`), and its ``covariates`` the covariate effects.
    smoker : bool or bool array of shape (n_subjects,)
        Current smokers: CL is multiplied by the drug's ``covariates.smoking_CL`` (1 for a drug
        without one, :func:`covariate_effect`).
    """
    if n_subjects < 1:
        raise LeptotwinError("need at least one subject", field="n_subjects", value=n_subjects)
    ones = np.ones(n_subjects)
    eta: dict[str, np.ndarray] = {}
    if iiv and params.iiv:
        if rng is None:
            raise LeptotwinError(
                "inter-individual variability needs an explicit random generator",
                field="rng",
                expected="numpy.random.default_rng(seed)",
            )
        for name in sorted(params.iiv):
            eta[name] = rng.normal(0.0, params.iiv[name], n_subjects)

    def vary(name: str, value: float) -> np.ndarray:
        return value * np.exp(eta[name]) if name in eta else value * ones

    ka = {r: vary("ka", a) for r, (a, _) in params.routes.items()}
    smokes = np.broadcast_to(np.asarray(smoker, dtype=bool), (n_subjects,))
    cl_factor = 1.0
    if smokes.any():
        effect = covariate_effect(params.drug, params.species, "smoking_CL", catalog)
        cl_factor = np.where(smokes, effect, 1.0)
    return SubjectPK(
        typical=params,
        CL=vary("CL", params.CL_L_h) * cl_factor,
        V1=vary("V1", params.V1_L),
        Q=vary("Q", params.Q_L_h),
        V2=vary("V2", params.V2_L) if params.V2_L > 0 else ones * 1.0,
        fu=np.minimum(params.fu * ones, 1.0),
        kp_uu_csf=vary("kp_uu_csf", params.kp_uu_csf),
        k_csf=params.k_csf_per_h * ones,
        kp_uu_lesion=lesion_kp_uu(params.drug, params.species, catalog) * ones,
        k_lesion=params.k_lesion_per_h * ones,
        ka=ka,
        F={r: np.minimum(f * ones, 1.0) for r, (_, f) in params.routes.items()},
    )


def covariate_effect(drug: str, species: str, name: str, catalog: Catalog | None = None) -> float:
    """The multiplicative covariate effect ``name`` (e.g. ``"smoking_CL"``) of ``drug`` in
    ``species`` from the catalogue's ``pk.<species>.covariates`` block; 1.0 where none is given
    (no known effect)."""
    cat = catalog or load_catalog()
    pk = cat.drug(drug).pk.get(species)  # type: ignore[call-overload]
    q = None if pk is None else pk.covariates.get(name)
    return 1.0 if q is None else float(q.value)


def smoker_catalog(catalog: Catalog | None = None, species: str = "human") -> Catalog:
    """The catalogue for a cohort of current smokers: every drug's ``species`` CL multiplied by
    its ``smoking_CL`` covariate (drugs without one unchanged).

    For model code that draws its subjects from the catalogue (virtual cohorts); a single batch
    of subjects takes ``draw_subjects(..., smoker=...)`` instead.
    """
    cat = catalog or load_catalog()
    values = {}
    for name, drug in cat.drugs.items():
        pk = drug.pk.get(species)  # type: ignore[call-overload]
        if pk is not None and "smoking_CL" in pk.covariates:
            values[f"{name}.pk.{species}.CL"] = pk.CL.value * pk.covariates["smoking_CL"].value
    return cat.with_values(values, tied=False) if values else cat


def _disposition(s: SubjectPK) -> tuple[np.ndarray, np.ndarray | None]:
    """Disposition poles (n, 1|2) and the zero k21 (n,) of the two-compartment model."""
    k10 = s.CL / s.V1
    if s.typical.model == "1cmt":
        return k10[:, None], None
    k12, k21 = s.Q / s.V1, s.Q / s.V2
    tot = k10 + k12 + k21
    disc = np.sqrt(tot * tot - 4.0 * k10 * k21)
    alpha, beta = (tot + disc) / 2.0, (tot - disc) / 2.0
    return np.stack([alpha, beta], axis=1), k21


def _separate(poles: np.ndarray) -> np.ndarray:
    """Nudge coincident poles apart by a relative 1e-8 (error of that order, far below 1e-6)."""
    poles = poles.copy()
    for j in range(1, poles.shape[1]):
        for i in range(j):
            close = np.abs(poles[:, j] - poles[:, i]) <= _REL_POLE_GAP * np.abs(poles[:, i])
            poles[close, j] = poles[close, i] * (1.0 + 2.0 * _REL_POLE_GAP * (j - i + 1))
    return poles


def _residues(
    poles: np.ndarray, active: np.ndarray, zeros: np.ndarray | None, gain: np.ndarray
) -> np.ndarray:
    """Coefficients c_i of h(t) = Σ c_i e^{−λ_i t} over the active poles.

    poles: (n, P); active: (P,) bool mask of the poles in this transfer function;
    zeros: (n,) or None; gain: (n,). Returns (n, P) with zeros at inactive poles.
    """
    n, p = poles.shape
    coef = np.zeros((n, p))
    idx = np.flatnonzero(active)
    for i in idx:
        num = gain.copy()
        if zeros is not None:
            num = num * (zeros - poles[:, i])
        den = np.ones(n)
        for j in idx:
            if j != i:
                den = den * (poles[:, j] - poles[:, i])
        coef[:, i] = num / den
    return coef


def _route_system(
    s: SubjectPK, route: str, metabolite: Metabolite | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Poles (n, P) and coefficients (n, 3, P) of plasma, CSF and lesion concentration (mg/L per mg
    dosed) for one route. Pole order: [ka?] + disposition + [k_m?] + [k_csf, k_lesion].

    With a ``metabolite``, the outputs are the metabolite's: it is formed from a fraction fm of the
    parent's clearance and eliminated first-order, H_m(s) = H_p(s) · fm · CL_p / (V_m (s + k_m)),
    and its CSF and lesion follow its own unbound plasma."""
    disp, k21 = _disposition(s)
    n = disp.shape[0]
    k_csf, k_les = s.k_csf, s.k_lesion
    fu, kp_csf, kp_les = s.fu, s.kp_uu_csf, s.kp_uu_lesion
    extra = []
    if metabolite is not None:
        m = metabolite.params
        extra = [np.full((n, 1), m.CL_L_h / m.V1_L)]
        k_csf, k_les = np.full(n, m.k_csf_per_h), np.full(n, m.k_lesion_per_h)
        fu, kp_csf, kp_les = m.fu, m.kp_uu_csf, metabolite.lesion_kp_uu
    cols = ([s.ka[route][:, None]] if route != "iv" else []) + [
        disp,
        *extra,
        k_csf[:, None],
        k_les[:, None],
    ]
    poles = _separate(np.concatenate(cols, axis=1))
    P = poles.shape[1]
    has_ka = route != "iv"
    input_gain = (s.F[route] * poles[:, 0]) if has_ka else np.ones(n)
    plasma_gain = input_gain / s.V1
    if metabolite is not None:
        plasma_gain = plasma_gain * metabolite.fraction * s.CL / metabolite.params.V1_L
    core = np.zeros(P, dtype=bool)
    core[: P - 2] = True
    csf, les = core.copy(), core.copy()
    csf[P - 2] = True
    les[P - 1] = True
    coef = np.stack(
        [
            _residues(poles, core, k21, plasma_gain),
            _residues(poles, csf, k21, plasma_gain * fu * kp_csf * poles[:, P - 2]),
            _residues(poles, les, k21, plasma_gain * fu * kp_les * poles[:, P - 1]),
        ],
        axis=1,
    )
    return poles, coef


@dataclass(frozen=True)
class Metabolite:
    """An active metabolite: its typical PK parameters and the fraction of the parent's clearance
    that forms it.

    ``catalog`` is the catalogue whose blood–tumour barrier sets the metabolite's lesion Kp,uu
    (default: the packaged one)."""

    params: PKParameters
    fraction: float
    catalog: Catalog | None = field(default=None, compare=False, repr=False)

    @property
    def lesion_kp_uu(self) -> float:
        """The metabolite's lesion Kp,uu (:func:`~leptotwin.model.barrier.lesion_kp_uu`)."""
        return lesion_kp_uu(self.params.drug, self.params.species, self.catalog)


class _RouteStream:
    """Running sums M_i(t) = Σ_{t_d ≤ t} D_d e^{−λ_i (t − t_d)} for one route, advanced in time.

    Work is pole-major ((P, n) arrays, in-place updates) so each step streams through contiguous
    memory. Values at a dose time include that dose (right-continuous). Doses (mg) are the same
    for every subject of the stream: one number per dose.
    """

    def __init__(
        self, poles: np.ndarray, coef: np.ndarray, dose_t: np.ndarray, dose_mg: np.ndarray
    ) -> None:
        self.lam = np.ascontiguousarray(poles.T)  # (P, n)
        self.cf = np.ascontiguousarray(coef.transpose(1, 2, 0))  # (n_outputs, P, n)
        self.dose = dose_mg  # (D,)
        self.dose_t = dose_t
        self.M = np.zeros_like(self.lam)
        self.t: float | None = None
        self.next_dose = 0
        self._dt: float | None = None
        self._decay: np.ndarray | None = None

    def _move(self, t: float) -> None:
        """Move the running sums to time ``t`` (≥ the previous one)."""
        if self.t is not None:
            dt = t - self.t
            if dt < 0:
                raise LeptotwinError("PK stream times must not decrease", field="t_h", value=t)
            if dt > 0:
                if dt != self._dt:
                    self._decay, self._dt = np.exp(-self.lam * dt), dt
                self.M *= self._decay
        self.t = t
        while self.next_dose < self.dose_t.size and self.dose_t[self.next_dose] <= t:
            d = self.next_dose
            self.M += self.dose[d] * np.exp(-self.lam * (t - self.dose_t[d]))
            self.next_dose += 1

    def advance(self, t: float, out: np.ndarray) -> None:
        """Move to time ``t`` (≥ the previous one) and add the outputs (n_outputs, n) into
        ``out``."""
        self._move(t)
        if self.next_dose:
            for p in range(self.M.shape[0]):
                out += self.cf[:, p] * self.M[p]

    def advance_many(self, times: Sequence[float], out: np.ndarray) -> None:
        """:meth:`advance` through ``times`` in order, adding the outputs at each into ``out``
        (n_outputs, len(times), n): the same numbers, the sums over poles taken for all the
        times at once."""
        held = np.empty((len(times), *self.M.shape))
        dosed = np.zeros(len(times), dtype=bool)
        for r, t in enumerate(times):
            self._move(t)
            if self.next_dose:
                held[r] = self.M
                dosed[r] = True
        rows = np.flatnonzero(dosed)
        if rows.size:
            part = out[:, rows]
            for p in range(self.M.shape[0]):
                part += self.cf[:, p][:, None, :] * held[rows, p][None, :, :]
            out[:, rows] = part


def _check_routes(params: PKParameters, regimens: Sequence[Regimen]) -> None:
    for r in regimens:
        if r.route != "iv" and r.route not in params.routes:
            raise LeptotwinError(
                f"route {r.route!r} has no absorption parameters for {params.drug} in "
                f"{params.species}",
                field="route",
                value=r.route,
                expected="one of " + ", ".join(["iv", *params.routes]),
            )


class PKStream:
    """Plasma, CSF and lesion concentrations of one drug, advanced step by step.

    For long simulations of large cohorts that cannot hold the whole (subjects × times) arrays:
    ``advance(t)`` returns the concentrations at ``t`` (nM, arrays of shape (n_subjects,)), one
    per name in ``outputs`` (default plasma total, CSF, unbound lesion; ask only for what is
    used, the others are then not computed). Exact at every step (closed form), whatever the
    step size.
    """

    def __init__(
        self,
        subjects: SubjectPK,
        regimens: Sequence[Regimen],
        *,
        horizon_h: float,
        metabolite: Metabolite | None = None,
        outputs: Sequence[str] = _STREAM_OUTPUTS,
    ):
        p = subjects.typical
        _check_routes(p, regimens)
        if not outputs or not set(outputs) <= set(_STREAM_OUTPUTS):
            raise LeptotwinError(
                "unknown PK stream output",
                field="outputs",
                value=outputs,
                expected="some of " + ", ".join(_STREAM_OUTPUTS),
            )
        rows = [_STREAM_OUTPUTS.index(o) for o in outputs]
        self.subjects = subjects
        self.n = subjects.n_subjects
        mw = metabolite.params.mw_g_mol if metabolite is not None else p.mw_g_mol
        self.to_nM = 1e6 / mw  # mg/L -> nM
        self.fu = metabolite.params.fu if metabolite is not None else subjects.fu
        self._routes: list[_RouteStream] = []
        doses = doses_by_route(
            regimens, horizon_h, body_weight_kg=p.body_weight_kg, body_surface_m2=p.body_surface_m2
        )
        for route, (dose_t, dose_mg) in doses.items():
            poles, coef = _route_system(subjects, route, metabolite)
            self._routes.append(_RouteStream(poles, coef[:, rows], dose_t, dose_mg))
        self._out = np.empty((len(rows), self.n))

    def advance(self, t_h: float) -> tuple[np.ndarray, ...]:
        """Concentrations at ``t_h`` in the order of ``outputs`` (by default plasma total, CSF,
        unbound lesion), nM, shape (n,) each. Unbound plasma is ``plasma * self.fu``."""
        self._out[:] = 0.0
        for stream in self._routes:
            stream.advance(float(t_h), self._out)
        # sums of exponentials can end a hair below zero long after a dose: clip round-off
        conc = np.maximum(self._out * self.to_nM, 0.0)
        return tuple(conc)

    def advance_many(self, times_h: Sequence[float]) -> np.ndarray:
        """:meth:`advance` through ``times_h`` (non-decreasing, from the last time advanced
        to), all at once: concentrations (nM) of shape (len(outputs), len(times_h), n), the
        numbers :meth:`advance` gives one time at a time, to the bit."""
        times = [float(t) for t in times_h]
        out = np.zeros((self._out.shape[0], len(times), self.n))
        for stream in self._routes:
            stream.advance_many(times, out)
        return np.maximum(out * self.to_nM, 0.0)


@dataclass(frozen=True)
class PKResult:
    """Concentrations of one drug over time for a batch of subjects.

    Attributes
    ----------
    t_h : ndarray of shape (n_times,)
    plasma_nM, unbound_nM, csf_nM, lesion_nM : ndarray of shape (n_subjects, n_times)
        Total plasma, unbound plasma, CSF and unbound lesion-interstitium concentrations (nM).
    subjects : SubjectPK
    regimens : tuple of Regimen
    """

    drug: str
    species: str
    t_h: np.ndarray
    plasma_nM: np.ndarray
    unbound_nM: np.ndarray
    csf_nM: np.ndarray
    lesion_nM: np.ndarray
    subjects: SubjectPK
    regimens: tuple[Regimen, ...] = field(default=())

    @property
    def mw_g_mol(self) -> float:
        return self.subjects.typical.mw_g_mol

    def to_ng_per_mL(self, conc_nM: np.ndarray) -> np.ndarray:
        """Convert nM to ng/mL with the drug's molecular weight."""
        return conc_nM * self.mw_g_mol / 1000.0

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: ``time_h, subject, plasma_nM, unbound_nM, csf_nM, lesion_nM``."""
        n, T = self.plasma_nM.shape
        return pd.DataFrame(
            {
                "time_h": np.tile(self.t_h, n),
                "subject": np.repeat(np.arange(n), T),
                "plasma_nM": self.plasma_nM.ravel(),
                "unbound_nM": self.unbound_nM.ravel(),
                "csf_nM": self.csf_nM.ravel(),
                "lesion_nM": self.lesion_nM.ravel(),
            }
        )


def simulate_pk(
    drug: str,
    species: str,
    regimen: str | Regimen | Sequence[Regimen],
    *,
    t_h: np.ndarray | Sequence[float],
    n_subjects: int = 1,
    rng: np.random.Generator | None = None,
    iiv: bool = True,
    catalog: Catalog | None = None,
    subjects: SubjectPK | None = None,
    dtype: type = np.float64,
) -> PKResult:
    """Simulate plasma, unbound, CSF and lesion concentrations of one drug.

    Parameters
    ----------
    drug, species : str
        Catalogue names (``leptotwin catalog`` lists them).
    regimen : str, Regimen or sequence of Regimen
        What was given, e.g. ``"600 mg BID"`` or ``parse_regimen("50 mg/kg QD x 28 d")``.
    t_h : array of shape (n_times,)
        Output times in hours, sorted, ≥ 0.
    n_subjects : int
        Batch size; ignored when ``subjects`` is given.
    rng : numpy.random.Generator, optional
        Source of inter-individual variability (required when ``iiv``, even for one subject).
    iiv : bool
        Draw subjects with variability (True) or use typical values (False).
    catalog : Catalog, optional
        Defaults to the packaged catalogue.
    subjects : SubjectPK, optional
        Pre-drawn subjects (e.g. to share a cohort between runs).
    dtype : numpy dtype
        Storage type of the output arrays (float32 halves memory for big cohorts).

    Returns
    -------
    PKResult
        Arrays of shape (n_subjects, n_times) in nM.

    Raises
    ------
    LeptotwinError
        Unknown drug, species or route; bad regimen text; unsorted or negative times.
    """
    cat = catalog or load_catalog()
    params = cat.pk_parameters(drug, species)
    regs = _as_regimens(regimen)
    t = np.asarray(t_h, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any(~np.isfinite(t)) or t[0] < 0 or np.any(np.diff(t) < 0):
        raise LeptotwinError(
            "times must be a non-empty, sorted 1-D array of hours >= 0", field="t_h"
        )
    _check_routes(params, regs)
    subj = subjects or draw_subjects(params, n_subjects, rng=rng, iiv=iiv, catalog=cat)
    stream = PKStream(subj, regs, horizon_h=float(t[-1]))
    out = np.empty((t.size, 3, subj.n_subjects), dtype=dtype)
    for k, tk in enumerate(t):
        out[k] = np.stack(stream.advance(tk))

    def take(j: int) -> np.ndarray:
        return np.ascontiguousarray(out[:, j, :].T)  # (n, T)

    plasma = take(0)
    unbound = plasma * subj.fu[:, None].astype(dtype)
    return PKResult(
        drug=params.drug,
        species=params.species,
        t_h=t,
        plasma_nM=plasma,
        unbound_nM=unbound,
        csf_nM=take(1),
        lesion_nM=take(2),
        subjects=subj,
        regimens=regs,
    )


# --- ln C where the closed form cancels ------------------------------------------------------


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    """ln Σ exp(x) along ``axis``; -inf where every term is -inf."""
    m = np.max(x, axis=axis, keepdims=True)
    safe = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - safe), axis=axis, keepdims=True)) + safe
    return np.squeeze(np.where(np.isfinite(m), out, -np.inf), axis=axis)


def _log_expm_metzler(a: np.ndarray, dt: float) -> np.ndarray:
    """ln of the entries of exp(A dt) for a Metzler matrix A (off-diagonal entries ≥ 0), -inf
    where an entry is exactly 0.

    exp(A dt) = exp(−s dt) exp(N) with N = (A + s I) dt ≥ 0 (s the largest −A_ii): the Taylor
    series of exp(N / 2^k) (‖N / 2^k‖ ≤ 1/2) has no negative term, and its 2^k-th power is
    taken by k squarings in log space, so every entry keeps its relative accuracy however
    small it is (no cancellation, no underflow).
    """
    n = a.shape[0]
    shift = max(0.0, float(np.max(-np.diag(a))))
    big = np.maximum((a + shift * np.eye(n)) * dt, 0.0)
    norm = float(np.max(np.sum(big, axis=1)))
    k = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0 else 0
    x = big / 2.0**k
    term, total = np.eye(n), np.eye(n)
    for j in range(1, 30):
        term = term @ x / j
        total = total + term
    with np.errstate(divide="ignore"):
        log_e = np.log(total)
    for _ in range(k):
        log_e = _logsumexp(log_e[:, :, None] + log_e[None, :, :], axis=1)
    return log_e - shift * dt


def _compartments(
    s: SubjectPK, i: int, route: str, output: str, metabolite: Metabolite | None
) -> tuple[np.ndarray, int, np.ndarray, float]:
    """The compartment model of subject ``i`` behind :func:`_route_system`'s transfer
    function: (A, index of the dosed state, readout row r, input factor) with amounts in mg
    (effect sites in mg/L) and C = r · x in mg/L per mg dosed × input factor."""
    states = (["gut"] if route != "iv" else []) + ["central"]
    two = s.typical.model != "1cmt"
    if two:
        states.append("peripheral")
    if metabolite is not None:
        states.append("metabolite")
    if output != "plasma":
        states.append("effect")
    ix = {name: j for j, name in enumerate(states)}
    a = np.zeros((len(states), len(states)))
    cl, v1 = float(s.CL[i]), float(s.V1[i])
    c = ix["central"]
    a[c, c] = -cl / v1
    if route != "iv":
        ka = float(s.ka[route][i])
        a[ix["gut"], ix["gut"]] = -ka
        a[c, ix["gut"]] = ka
    if two:
        p = ix["peripheral"]
        k12, k21 = float(s.Q[i]) / v1, float(s.Q[i]) / float(s.V2[i])
        a[c, c] -= k12
        a[p, c], a[c, p], a[p, p] = k12, k21, -k21
    source, v_source = c, v1
    k_csf, k_les = float(s.k_csf[i]), float(s.k_lesion[i])
    fu, kp_csf, kp_les = float(s.fu[i]), float(s.kp_uu_csf[i]), float(s.kp_uu_lesion[i])
    if metabolite is not None:
        m = metabolite.params
        j = ix["metabolite"]
        a[j, c] = metabolite.fraction * cl / v1
        a[j, j] = -m.CL_L_h / m.V1_L
        source, v_source = j, m.V1_L
        k_csf, k_les = m.k_csf_per_h, m.k_lesion_per_h
        fu, kp_csf, kp_les = m.fu, m.kp_uu_csf, metabolite.lesion_kp_uu
    read = np.zeros(len(states))
    if output == "plasma":
        read[source] = 1.0 / v_source
    else:
        k_e, kp_e = (k_csf, kp_csf) if output == "csf" else (k_les, kp_les)
        e = ix["effect"]
        a[e, source] = k_e * kp_e * fu / v_source
        a[e, e] = -k_e
        read[e] = 1.0
    dosed = ix["gut"] if route != "iv" else c
    factor = float(s.F[route][i]) if route != "iv" else 1.0
    return a, dosed, read, factor


def _log_sum_of_doses(
    s: SubjectPK,
    i: int,
    doses: dict[str, tuple[np.ndarray, np.ndarray]],
    t: float,
    output: str,
    metabolite: Metabolite | None,
) -> float:
    """ln C(t) of subject ``i`` (mg/L): log-sum-exp over the doses given at or before ``t``
    of ln(dose × input factor × r · exp(A (t − t_d)) e_dosed)."""
    terms = []
    for route, (dose_t, dose_mg) in doses.items():
        a, dosed, read, factor = _compartments(s, i, route, output, metabolite)
        with np.errstate(divide="ignore"):
            log_read = np.log(read)
        cache: dict[float, float] = {}
        for td, mg in zip(dose_t, dose_mg, strict=True):
            if td > t or mg <= 0:
                continue
            dt = float(t - td)
            if dt not in cache:
                log_e = _log_expm_metzler(a, dt)[:, dosed]
                cache[dt] = float(_logsumexp(log_read + log_e, axis=0))
            terms.append(cache[dt] + math.log(mg * factor))
    if not terms:
        return -math.inf
    return float(_logsumexp(np.asarray(terms), axis=0))


def log_concentration(
    subjects: SubjectPK,
    regimens: Sequence[Regimen],
    t_h: np.ndarray | Sequence[float],
    *,
    output: str = "plasma",
    metabolite: Metabolite | None = None,
) -> np.ndarray:
    """ln of the closed-form concentration (nM) of one output, finite wherever the
    concentration is positive: for a lognormal likelihood.

    The closed form sums exponentials of opposite signs per pole (:class:`PKStream`). Where
    they cancel (long after a dose at a high clearance, when the exact value lies below the
    round-off of the terms, e.g. 24 h after an oral dose of osimertinib in the mouse at a
    clearance ≳ 30 L/h/kg) that sum is noise, and clipped at zero gives ln C = −∞. There
    (closed-form sum ≤ :data:`LOG_SPACE_BELOW` × the sum of its terms' magnitudes) ln C is
    computed in log space instead: the compartment model behind the closed form, each dose's
    response from a matrix exponential taken in log space (:func:`_log_expm_metzler`: only
    nonnegative terms) and the doses combined by log-sum-exp. Elsewhere the value is
    ``ln`` of :class:`PKStream`'s, bit for bit.

    Parameters
    ----------
    subjects : SubjectPK
        A batch of n subjects.
    regimens : sequence of Regimen
        Dose times in h from time 0 of ``t_h``.
    t_h : array of shape (n_times,)
        Times (h), ≥ 0, in any order.
    output : {"plasma", "csf", "lesion"}
        Total plasma, CSF or unbound lesion concentration.
    metabolite : Metabolite, optional
        The outputs are the metabolite's (as :class:`PKStream`'s).

    Returns
    -------
    ndarray of shape (n_subjects, n_times)
        ln C with C in nM; −∞ before the first dose (or where C is exactly 0).

    Raises
    ------
    LeptotwinError
        Unknown output or route; negative or non-finite times.
    """
    p = subjects.typical
    _check_routes(p, regimens)
    if output not in _STREAM_OUTPUTS:
        raise LeptotwinError(
            "unknown PK output",
            field="output",
            value=output,
            expected="one of " + ", ".join(_STREAM_OUTPUTS),
        )
    t = np.asarray(t_h, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any(~np.isfinite(t)) or np.any(t < 0):
        raise LeptotwinError("times must be a non-empty 1-D array of hours >= 0", field="t_h")
    order = np.argsort(t, kind="stable")
    row = _STREAM_OUTPUTS.index(output)
    mw = metabolite.params.mw_g_mol if metabolite is not None else p.mw_g_mol
    to_nm = 1e6 / mw
    doses = doses_by_route(
        regimens,
        float(t.max()) + 1.0,
        body_weight_kg=p.body_weight_kg,
        body_surface_m2=p.body_surface_m2,
    )
    streams = []
    for route, (dose_t, dose_mg) in doses.items():
        poles, coef = _route_system(subjects, route, metabolite)
        both = np.stack([coef[:, row], np.abs(coef[:, row])], axis=1)  # (n, 2, P)
        streams.append(_RouteStream(poles, both, dose_t, dose_mg))
    n = subjects.n_subjects
    out = np.empty((n, t.size))
    acc = np.empty((2, n))
    for k in order:
        tk = t[k]
        acc[:] = 0.0
        for stream in streams:
            stream.advance(float(tk), acc)
        conc = np.maximum(acc[0] * to_nm, 0.0)  # PKStream's arithmetic
        scale = acc[1] * to_nm
        with np.errstate(divide="ignore"):
            out[:, k] = np.log(conc)
        for i in np.flatnonzero((conc <= LOG_SPACE_BELOW * scale) & (scale > 0)):
            log_mg_l = _log_sum_of_doses(subjects, int(i), doses, float(tk), output, metabolite)
            out[i, k] = log_mg_l + math.log(to_nm)
    return out
