"""Population (nonlinear mixed-effects) PK estimation by FOCE-I (issue 17, item 2).

Model. One compartment, first-order absorption and elimination, any number of oral doses
superposed in closed form. Subject i has CL_i = CL·exp(η_CL,i), V_i = V·exp(η_V,i) and
ka_i = ka·exp(η_ka,i) with η_i ~ N(0, Ω) (Ω diagonal, or full with ``omega="full"``); the
concentration after doses D_d (mg) at times t_d (h) is

    C(t) = Σ_{t_d < t} F D_d ka / (V (ka − k)) · (e^{−k (t − t_d)} − e^{−ka (t − t_d)}),  k = CL/V

in mg/L with CL in L/h, V in L and ka in 1/h. With the bioavailability F fixed at its default 1
the estimates are the apparent CL/F and V/F, as usual for oral data. Residual error:
``"proportional"`` (additive on ln C: ln y = ln C + ε, ε ~ N(0, σ²); σ is dimensionless),
``"combined"`` (y = C + ε with Var ε = a² + b² C²; b dimensionless, a in mg/L) or
``"proportional_linear"`` (y = C + ε with Var ε = b² C², NONMEM's ``Y = F*(1 + EPS(1))``: the
combined model without a; b dimensionless).

Estimation. FOCE-I, the method of NONMEM's ``METHOD=1 INTERACTION``: the marginal likelihood of
each subject is the Laplace approximation around its empirical Bayes estimate η̂_i, with the
first-order (Gauss–Newton / expected-information) Hessian of the subject's conditional objective,
Σ G'R⁻¹G + ½ Σ (∂R/∂η)(∂R/∂η)'/R² + Ω⁻¹ with G = ∂f/∂η. The middle term is the interaction: the
residual variance of combined and proportional_linear error moves with η; with proportional error
on ln y it does not, and FOCE-I is FOCE. The reported ``ofv`` is −2 log L without the constant
n ln 2π, as NONMEM's (for proportional error, the likelihood of ln y).

The inner problem (η̂ of every subject) is one batched Levenberg–Marquardt iteration over all
subjects at once (Gauss–Newton steps, then exact-Hessian steps for the few subjects that crawl),
warm-started from the best η̂ so far. The outer problem minimises the OFV over ln θ, ln ω² (or
the log-Cholesky factor of Ω) and ln σ with BFGS. Its gradient is total: partial derivatives at
fixed η̂ plus dη̂/dp by the implicit function theorem, all from central differences of the
closed-form pieces at fixed η (no inner solve per component). Standard errors come from the
inverse of the finite-difference Hessian of the OFV at the optimum (NONMEM's ``MATRIX=R``
covariance step); the 95 % Wald intervals of θ, ω² and σ are taken on the log scale, so they stay
positive (covariances of a full Ω: ±1.96 se).

Data. The PK table of the project (``subject, time_h, concentration``, optional ``lloq``; other
columns are ignored, so pass one drug and one matrix). A sample below its LLOQ is counted in
``PopulationFit.n_blq`` and, by default (``blq="m1"``), dropped (Beal's M1, as
:mod:`leptotwin.study.experiment` does).

Censored samples (``blq="m3"``, Beal's M3). A sample below its LLOQ after the subject's first
dose enters the subject's conditional likelihood as P(y < LLOQ | η) = Φ(z), z = (LLOQ − f)/√R
on the scale of the error model: z = (ln LLOQ − ln C)/σ for proportional error, (LLOQ − C)/√R
with R = a² + b²C² (combined) or b²C² (proportional_linear). It adds −2 ln Φ(z) to the
conditional objective O_i, so the inner problem's η̂ maximises the full conditional likelihood,
censored terms included. NONMEM runs M3 only with ``LAPLACIAN``; here the marginal likelihood is
the same Laplace approximation around η̂ as above, with the Hessian of each censored term
λ(λ + z)·(dz/dη)(dz/dη)', λ = φ(z)/Φ(z): the exact second derivative of −ln Φ in z chained
with dz/dη = (dz/df)·G. Like FOCE-I's treatment of the quantified samples it leaves out the
curvature of f in η, so it is not NONMEM's ``LAPLACIAN`` (full second derivatives of every
term); it is positive semi-definite, so H_i stays positive definite. The OFV of a fit with
censored samples is −2 log L without n_obs ln 2π for the quantified samples; the censored ones
are probabilities and carry no constant. A BLQ sample at or before the first dose (predicted
concentration 0) is left out of the likelihood. Without BLQ samples M3 is M1, bit for bit.

Left out: covariates, SAEM/Bayesian estimation, two compartments, iv and zero-order input,
inter-occasion variability, sandwich covariance, BLQ as censored also above zero (Beal's M4).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from leptotwin.errors import ConvergenceWarning, LeptotwinError

__all__ = [
    "PARAMETERS",
    "PooledFit",
    "PopulationFit",
    "fit_pooled_pk",
    "fit_population_pk",
    "oral_1cmt_concentration",
    "simulate_population_pk",
]

PARAMETERS = ("CL", "V", "ka")
_UNITS = {"CL": "L/h", "V": "L", "ka": "1/h"}
_ERRORS = ("proportional", "combined", "proportional_linear")
_BLQ = ("m1", "m3")
_HALF_LN_2PI = 0.5 * math.log(2.0 * math.pi)
_CONC_UNITS = {"mg/L": 1.0, "ug/mL": 1.0, "ng/mL": 1e-3, "ug/L": 1e-3}
_REL_GAP = 1e-6  # ka within this relative distance of k is nudged away (removable singularity)
_Z95 = 1.959963984540054
_SOURCE = "fit_population_pk"


# ---------------------------------------------------------------------------------------------
# closed form


def _conc_and_jac(
    t: np.ndarray,
    dose_t: np.ndarray,
    dose_mg: np.ndarray,
    log_par: np.ndarray,
    F: float,
    jac: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """C (n, T) in mg/L and dC/d(ln CL, ln V, ln ka) (n, T, 3).

    t: (n, T); dose_t, dose_mg: (n, D) (padding doses have dose_mg 0); log_par: (n, 3).
    """
    CL = np.exp(log_par[:, 0])[:, None, None]
    V = np.exp(log_par[:, 1])[:, None, None]
    ka = np.exp(log_par[:, 2])[:, None, None]
    k = CL / V
    gap = ka - k
    close = np.abs(gap) < _REL_GAP * k
    if close.any():
        ka = np.where(close, k * (1.0 + 2.0 * _REL_GAP), ka)
        gap = ka - k
    tau = np.maximum(t[:, :, None] - dose_t[:, None, :], 0.0)  # (n, T, D); 0 before a dose
    e1 = np.exp(-k * tau)
    e2 = np.exp(-ka * tau)
    g = e1 - e2
    A = F * dose_mg[:, None, :] * ka / (V * gap)
    C = np.einsum("ntd,ntd->nt", np.broadcast_to(A, g.shape), g)
    if not jac:
        return C, None
    kg = k * g / gap
    d_cl = (A * (kg - k * tau * e1)).sum(axis=2)
    d_v = -C - d_cl
    d_ka = (A * (ka * tau * e2 - kg)).sum(axis=2)
    return C, np.stack([d_cl, d_v, d_ka], axis=2)


def oral_1cmt_concentration(
    t_h: np.ndarray,
    *,
    dose_time_h: np.ndarray,
    dose_mg: np.ndarray | float,
    CL: np.ndarray | float,
    V: np.ndarray | float,
    ka: np.ndarray | float,
    F: float = 1.0,
) -> np.ndarray:
    """Plasma concentration (mg/L) of the one-compartment oral model, batched over subjects.

    Parameters
    ----------
    t_h : array of shape (n_times,) or (n_subjects, n_times)
        Sample times (h), on the clock of the doses.
    dose_time_h : array of shape (n_doses,) or (n_subjects, n_doses)
        Dose times (h). A dose contributes only after it is given.
    dose_mg : float or array broadcastable to the dose times
        Amount per dose (mg).
    CL, V, ka : float or array of shape (n_subjects,)
        Clearance (L/h), volume (L), absorption rate constant (1/h).
    F : float
        Bioavailability (fraction).

    Returns
    -------
    ndarray of shape (n_subjects, n_times)
    """
    CL, V, ka = (np.atleast_1d(np.asarray(x, dtype=float)) for x in (CL, V, ka))
    t = np.atleast_2d(np.asarray(t_h, dtype=float))
    dt = np.atleast_2d(np.asarray(dose_time_h, dtype=float))
    n = max(CL.size, V.size, ka.size, t.shape[0], dt.shape[0])
    t = np.broadcast_to(t, (n, t.shape[1]))
    dt = np.broadcast_to(dt, (n, dt.shape[1]))
    dm = np.broadcast_to(np.asarray(dose_mg, dtype=float), dt.shape)
    log_par = np.log(np.stack(np.broadcast_arrays(CL, V, ka), axis=1))
    log_par = np.broadcast_to(log_par, (n, 3))
    C, _ = _conc_and_jac(t, dt, dm, log_par, F, jac=False)
    return C


# ---------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class _Data:
    subjects: np.ndarray  # (n,) original labels
    t: np.ndarray  # (n, T) padded
    y: np.ndarray  # (n, T) ln y (proportional) or y (the other error models); padded
    mask: np.ndarray  # (n, T) bool
    dose_t: np.ndarray  # (n, D)
    dose_mg: np.ndarray  # (n, D)
    n_obs: int
    n_blq: int
    # M3 only: (n, T) bool, the columns that are censored samples (y holds the LLOQ, on the
    # scale of the data); None under M1, where BLQ samples are not in the arrays at all
    cens: np.ndarray | None = None


def _err(message: str, field: str, value: Any = None, expected: str | None = None, source=None):
    return LeptotwinError(
        message, source=source or _SOURCE, field=field, value=value, expected=expected
    )


def _numeric(df: pd.DataFrame, col: str, source: str) -> np.ndarray:
    raw = df[col]
    x = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    if col == "lloq":  # empty (not reported) is allowed: NaN, None or ""
        given = (raw.notna() & (raw.astype(str).str.strip() != "")).to_numpy()
        bad = given & ~np.isfinite(x)
    else:
        bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _err("not a finite number", col, df[col].iloc[i], "a number", source)
    return x


def _prepare(
    data: pd.DataFrame,
    doses: pd.DataFrame | float,
    dose_interval_h: float | None,
    n_doses: int | None,
    error: str,
    scale: float,
    blq_method: str = "m1",
) -> _Data:
    if not isinstance(data, pd.DataFrame):
        raise _err("data must be a table", "data", type(data).__name__, "a pandas DataFrame")
    missing = [c for c in ("subject", "time_h", "concentration") if c not in data.columns]
    if missing:
        raise _err(
            "missing column", missing[0], None, "columns subject, time_h, concentration", "data"
        )
    if data.empty:
        raise _err("no samples", "data", None, "at least one row", "data")
    df = data.reset_index(drop=True)
    if df["subject"].isna().any():
        raise _err("a sample has no subject", "subject", None, "a subject label", "data")
    t = _numeric(df, "time_h", "data")
    c = _numeric(df, "concentration", "data")
    if (c < 0).any():
        raise _err("negative concentration", "concentration", float(c[c < 0][0]), ">= 0", "data")
    if "lloq" in df.columns:
        lloq = _numeric(df, "lloq", "data")
        if (lloq < 0).any():
            raise _err("negative LLOQ", "lloq", float(lloq[lloq < 0][0]), ">= 0", "data")
        blq = np.isfinite(lloq) & (c < lloq)
    else:
        lloq = np.full(c.size, np.nan)
        blq = np.zeros(c.size, dtype=bool)
    if error == "proportional" and ((c <= 0) & ~blq).any():
        raise _err(
            "a zero concentration has no logarithm (proportional error)",
            "concentration",
            0.0,
            "> 0, or below the row's lloq (then dropped)",
            "data",
        )
    all_subjects = pd.unique(df["subject"])
    keep = ~blq
    obs = pd.DataFrame({"subject": df["subject"][keep], "t": t[keep], "c": c[keep] * scale})
    seen = set(pd.unique(obs["subject"]))
    empty = [s for s in all_subjects if s not in seen]
    if empty and blq_method == "m1":  # under M3 a subject may have censored samples only
        raise _err(
            "subject has no observation above the LLOQ",
            "subject",
            empty[0],
            "at least one quantifiable sample per subject",
            "data",
        )

    # doses per subject
    if isinstance(doses, pd.DataFrame):
        dmiss = [c for c in ("subject", "time_h", "dose_mg") if c not in doses.columns]
        if dmiss:
            raise _err("missing column", dmiss[0], None, "subject, time_h, dose_mg", "doses")
        dd = doses.reset_index(drop=True)
        d_t = _numeric(dd, "time_h", "doses")
        d_m = _numeric(dd, "dose_mg", "doses")
        if (d_m <= 0).any():
            raise _err("dose must be positive", "dose_mg", float(d_m[d_m <= 0][0]), "> 0", "doses")
        per = {s: (d_t[idx], d_m[idx]) for s, idx in dd.groupby("subject").indices.items()}
        nodose = [s for s in all_subjects if s not in per]
        if nodose:
            raise _err("subject has no dose record", "subject", nodose[0], None, "doses")
        nodata = [s for s in per if s not in set(all_subjects)]
        if nodata:
            raise _err("subject has doses but no observation", "subject", nodata[0], None, "doses")
    else:
        if not (isinstance(doses, int | float) and math.isfinite(doses) and doses > 0):
            raise _err("dose must be a positive number of mg", "doses", doses, "> 0 or a table")
        grid = _dose_grid(float(np.max(t)), dose_interval_h, n_doses)
        per = {s: (grid, np.full(grid.size, float(doses))) for s in all_subjects}

    if blq_method == "m3":
        cen = pd.DataFrame({"subject": df["subject"][blq], "t": t[blq], "l": lloq[blq] * scale})
        return _assemble_m3(obs, cen, per, all_subjects, error, int(blq.sum()))
    groups = obs.groupby("subject", sort=False).indices
    n = len(all_subjects)
    T = max(len(v) for v in groups.values())
    D = max(v[0].size for v in per.values())
    tt = np.zeros((n, T))
    yy = np.zeros((n, T))
    mask = np.zeros((n, T), dtype=bool)
    dt = np.zeros((n, D))
    dm = np.zeros((n, D))
    ot, oc = obs["t"].to_numpy(), obs["c"].to_numpy()
    for i, s in enumerate(all_subjects):
        idx = groups[s]
        m = idx.size
        tt[i, :m], tt[i, m:] = ot[idx], ot[idx].max()
        yy[i, :m] = np.log(oc[idx]) if error == "proportional" else oc[idx]
        mask[i, :m] = True
        st, sm = per[s]
        dt[i, : st.size], dm[i, : st.size] = st, sm
        _check_after_first_dose(ot[idx], st.min(), s)
    return _Data(all_subjects, tt, yy, mask, dt, dm, int(mask.sum()), int(blq.sum()))


def _check_after_first_dose(times_h: np.ndarray, first_h: float, subject: object) -> None:
    """Refuse a quantified sample at or before the subject's first dose (its prediction is 0)."""
    early = times_h[times_h <= first_h]
    if early.size:
        raise _err(
            "a quantified sample at or before the subject's first dose",
            "time_h",
            float(early[0]),
            f"> {first_h:g} h for subject {subject!r} (or below the lloq)",
            "data",
        )


def _assemble_m3(
    obs: pd.DataFrame,
    cen: pd.DataFrame,
    per: dict,
    all_subjects: np.ndarray,
    error: str,
    n_blq: int,
) -> _Data:
    """The padded arrays of Beal's M3: per subject its quantified samples, then its censored
    samples after the first dose (``y`` = the LLOQ, as ln LLOQ under proportional error), then
    padding. A BLQ sample at or before the first dose has a predicted concentration of 0 and is
    left out (under proportional and proportional_linear error its probability is exactly 1)."""
    ogroups = obs.groupby("subject", sort=False).indices
    cgroups = cen.groupby("subject", sort=False).indices
    none = np.array([], dtype=int)
    ot, oc = obs["t"].to_numpy(), obs["c"].to_numpy()
    ct, cl = cen["t"].to_numpy(), cen["l"].to_numpy()
    rows = []
    for s in all_subjects:
        st, sm = per[s]
        first = st.min()
        io, ic = ogroups.get(s, none), cgroups.get(s, none)
        ic = ic[ct[ic] > first]
        if io.size + ic.size == 0:
            raise _err(
                "subject has no sample after its first dose",
                "subject",
                s,
                "a quantified or censored sample after the first dose",
                "data",
            )
        _check_after_first_dose(ot[io], first, s)
        rows.append((io, ic, st, sm))
    if not any(io.size for io, _, _, _ in rows):
        raise _err("no sample above the LLOQ", "concentration", None, "at least one", "data")
    n = len(all_subjects)
    T = max(io.size + ic.size for io, ic, _, _ in rows)
    D = max(st.size for _, _, st, _ in rows)
    tt, yy = np.zeros((n, T)), np.zeros((n, T))
    mask, cens = np.zeros((n, T), dtype=bool), np.zeros((n, T), dtype=bool)
    dt, dm = np.zeros((n, D)), np.zeros((n, D))
    log = error == "proportional"
    for i, (io, ic, st, sm) in enumerate(rows):
        mo, mc = io.size, ic.size
        tt[i, :mo], tt[i, mo : mo + mc] = ot[io], ct[ic]
        tt[i, mo + mc :] = tt[i, : mo + mc].max()
        yy[i, :mo] = np.log(oc[io]) if log else oc[io]
        yy[i, mo : mo + mc] = np.log(cl[ic]) if log else cl[ic]
        mask[i, :mo] = True
        cens[i, mo : mo + mc] = True
        dt[i, : st.size], dm[i, : st.size] = st, sm
    return _Data(all_subjects, tt, yy, mask, dt, dm, int(mask.sum()), n_blq, cens)


def _dose_grid(t_max: float, interval: float | None, n_doses: int | None) -> np.ndarray:
    if interval is None:
        return np.zeros(1)
    if not (math.isfinite(interval) and interval > 0):
        raise _err("dose interval must be positive", "dose_interval_h", interval, "> 0 hours")
    count = int(np.floor(t_max / interval)) + 1
    if n_doses is not None:
        if n_doses < 1:
            raise _err("need at least one dose", "n_doses", n_doses, ">= 1")
        count = min(count, int(n_doses))
    return np.arange(count) * float(interval)


# ---------------------------------------------------------------------------------------------
# the model's likelihood pieces


def _censored(
    cens: np.ndarray, lloq: np.ndarray, f: np.ndarray, R: np.ndarray, dR: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beal's M3 terms of the conditional objective of each subject, per censored sample.

    With z = (LLOQ − f)/√R the sample contributes −2 ln Φ(z) to O_i (n,). Returned with it: the
    coefficient c (n, T) of its gradient, ½ ∂(−2 ln Φ)/∂η = c·G, and the weight w (n, T) of its
    Hessian, ½ ∂²(−2 ln Φ)/∂η² ≈ w·G G': the exact second derivative of −ln Φ in z,
    λ(λ + z) with λ = φ(z)/Φ(z) (between 0 and 1, so the term is positive semi-definite),
    chained with the first derivative dz/df = −1/√R − ½ z R'/R (the first-order treatment of f
    and R that FOCE-I gives the quantified samples)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sd = np.sqrt(R)
        z = np.where(cens, (lloq - f) / sd, np.inf)
        log_cdf = special.log_ndtr(z)
        obj = -2.0 * np.where(cens, log_cdf, 0.0).sum(axis=1)
        lam = np.exp(-0.5 * z * z - _HALF_LN_2PI - log_cdf)  # φ/Φ, stable far into the left tail
        live = cens & (lam > 0.0)
        dz = -1.0 / sd - 0.5 * z * dR / R
        coef = np.where(live, -lam * dz, 0.0)
        w = np.where(live, lam * (lam + z) * dz * dz, 0.0)
    return obj, coef, w


@dataclass
class _Model:
    data: _Data
    error: str
    iiv_idx: np.ndarray  # which of (CL, V, ka) carry an η
    full: bool
    F: float

    @property
    def q(self) -> int:
        return int(self.iiv_idx.size)

    @property
    def n_omega(self) -> int:
        return self.q * (self.q + 1) // 2 if self.full else self.q

    @property
    def n_sigma(self) -> int:
        return 2 if self.error == "combined" else 1

    def unpack(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """ln θ (3,), Ω (q, q), residual parameters (σ,) or (b, a)."""
        q = self.q
        lt = p[:3]
        w = p[3 : 3 + self.n_omega]
        if self.full:
            L = np.zeros((q, q))
            L[np.tril_indices(q)] = w
            L[np.diag_indices(q)] = np.exp(np.diag(L))
            omega = L @ L.T
        else:
            omega = np.diag(np.exp(w))
        return lt, omega, np.exp(p[3 + self.n_omega :])

    def pack_omega(self, omega: np.ndarray) -> np.ndarray:
        if self.full:
            L = np.linalg.cholesky(omega)
            L[np.diag_indices(self.q)] = np.log(np.diag(L))
            return L[np.tril_indices(self.q)]
        return np.log(np.diag(omega))

    def predict(self, lt: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """f (n, T) and df/dη (n, T, q) on the scale of the data."""
        d = self.data
        lp = np.broadcast_to(lt, (eta.shape[0], 3)).copy()
        lp[:, self.iiv_idx] += eta
        C, J = _conc_and_jac(d.t, d.dose_t, d.dose_mg, lp, self.F)
        J = J[:, :, self.iiv_idx]
        if self.error == "proportional":
            Cs = np.maximum(C, 1e-300)
            return np.log(Cs), J / Cs[:, :, None]
        return C, J

    def variance(self, f: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """R (n, T) and dR/df."""
        if self.error == "proportional":
            return np.full_like(f, s[0] ** 2), np.zeros_like(f)
        if self.error == "proportional_linear":
            return s[0] ** 2 * f * f, 2.0 * s[0] ** 2 * f
        b, a = s
        return a * a + b * b * f * f, 2.0 * b * b * f

    def pieces(self, lt, omega_inv, s, eta, fG=None):
        """Per subject: objective O_i(η) (n,), gradient of O_i/2 (n, q), its first-order
        Hessian (n, q, q). ``fG``: the prediction at (lt, eta) if already known."""
        d = self.data
        f, G = self.predict(lt, eta) if fG is None else fG
        R, dR = self.variance(f, s)
        r = np.where(d.mask, d.y - f, 0.0)
        m = d.mask
        obj = np.where(m, r * r / R + np.log(R), 0.0).sum(axis=1)
        obj += np.einsum("ni,ij,nj->n", eta, omega_inv, eta)
        coef = np.where(m, -r / R + 0.5 * dR * (1.0 / R - r * r / (R * R)), 0.0)
        w = np.where(m, 1.0 / R + 0.5 * (dR / R) ** 2, 0.0)
        if d.cens is not None and d.cens.any():  # Beal's M3: the censored samples
            c_obj, c_coef, c_w = _censored(d.cens, d.y, f, R, dR)
            obj = obj + c_obj
            coef = coef + c_coef
            w = w + c_w
        grad = np.einsum("nt,ntq->nq", coef, G) + eta @ omega_inv
        H = np.einsum("nt,ntq,ntr->nqr", w, G, G) + omega_inv
        return obj, grad, H

    def _exact_hessian(self, lt, omega_inv, s, eta, h=1e-6):
        """Hessian of O_i/2 in η (n, q, q): central differences of the analytic gradient."""
        n, q = eta.shape
        out = np.empty((n, q, q))
        for j in range(q):
            e = np.zeros(q)
            e[j] = h
            gp = self.pieces(lt, omega_inv, s, eta + e)[1]
            gm = self.pieces(lt, omega_inv, s, eta - e)[1]
            out[:, :, j] = (gp - gm) / (2 * h)
        return 0.5 * (out + out.transpose(0, 2, 1))

    def inner(self, lt, omega, s, eta0, tol=1e-8, max_iter=100, gn_iter=6):
        """Batched Levenberg–Marquardt for η̂ of every subject; returns η̂, O_i, H_i, ok.

        The first ``gn_iter`` iterations use the Gauss–Newton matrix; subjects not converged by
        then (large residuals, ka close to k) continue with the exact Hessian, which converges
        where Gauss–Newton only crawls. H_i returned is the Gauss–Newton matrix of FOCE-I."""
        omega_inv = np.linalg.inv(omega)
        eta = eta0.copy()
        obj, grad, H = self.pieces(lt, omega_inv, s, eta)
        lam = np.full(eta.shape[0], 1e-4)
        eye = np.eye(self.q)
        active = np.abs(grad).max(axis=1) > tol
        it = 0
        while active.any() and it < max_iter:
            it += 1
            scale = H * eye
            M = H if it <= gn_iter else self._exact_hessian(lt, omega_inv, s, eta)
            Hd = M + lam[:, None, None] * scale
            try:
                step = -np.linalg.solve(Hd, grad[:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                step = -grad / (lam[:, None] * np.diagonal(scale, axis1=1, axis2=2))
            step[~active] = 0.0
            trial = eta + step
            o2, g2, h2 = self.pieces(lt, omega_inv, s, trial)
            better = active & np.isfinite(o2) & (o2 <= obj + 1e-13 * np.abs(obj))
            eta = np.where(better[:, None], trial, eta)
            obj = np.where(better, o2, obj)
            grad = np.where(better[:, None], g2, grad)
            H = np.where(better[:, None, None], h2, H)
            lam = np.where(better, np.maximum(lam / 10.0, 1e-10), lam * 10.0)
            stalled = lam > 1e10
            small = np.abs(step).max(axis=1) < 1e-13
            active = active & (np.abs(grad).max(axis=1) > tol) & ~stalled & ~small
        ok = not active.any() and bool(np.all(np.abs(grad).max(axis=1) < 1e3 * tol))
        return eta, obj, H, ok

    def ofv(self, p: np.ndarray, eta0: np.ndarray) -> tuple[float, np.ndarray]:
        lt, omega, s = self.unpack(p)
        sign, logdet_omega = np.linalg.slogdet(omega)
        if sign <= 0 or not np.all(np.isfinite(p)):
            return np.inf, eta0
        try:
            eta, obj, H, _ = self.inner(lt, omega, s, eta0)
        except np.linalg.LinAlgError:
            return np.inf, eta0
        sgn, logdet_h = np.linalg.slogdet(H)
        if np.any(sgn <= 0):
            return np.inf, eta
        total = float(np.sum(obj + logdet_h) + eta.shape[0] * logdet_omega)
        return (total if np.isfinite(total) else np.inf), eta

    def _phi(self, p: np.ndarray, eta: np.ndarray, fG=None) -> tuple[np.ndarray, np.ndarray]:
        """Per subject at a fixed η: O_i + ln|H_i| + ln|Ω| (n,) and ½ ∂O_i/∂η (n, q)."""
        lt, omega, s = self.unpack(p)
        obj, grad, H = self.pieces(lt, np.linalg.inv(omega), s, eta, fG)
        return obj + np.linalg.slogdet(H)[1] + np.linalg.slogdet(omega)[1], grad

    def ofv_grad(
        self, p: np.ndarray, eta0: np.ndarray, h: float = 1e-5
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """OFV, its gradient and η̂. The gradient is total: the partial derivatives at fixed η̂
        plus the change of η̂ by the implicit function theorem (dη̂/dp = −Ψ_η⁻¹ Ψ_p with Ψ the
        subject's gradient in η, zero at η̂). Central differences of closed-form pieces at fixed
        η, no inner solve: 2 (n_params + q) batched evaluations."""
        val, eta = self.ofv(p, eta0)
        k, q = p.size, self.q
        if not np.isfinite(val):
            return val, np.full(k, np.nan), eta
        n = eta.shape[0]
        lt = p[:3]
        # predictions depend on ln θ + η only: one set serves the η and the θ differences
        pred_e = {}
        phi_e, psi_e = np.empty((n, q)), np.empty((n, q, q))
        for j in range(q):
            e = np.zeros(q)
            e[j] = h
            pred_e[j, 1] = self.predict(lt, eta + e)
            pred_e[j, -1] = self.predict(lt, eta - e)
            a, ga = self._phi(p, eta + e, pred_e[j, 1])
            b, gb = self._phi(p, eta - e, pred_e[j, -1])
            phi_e[:, j], psi_e[:, :, j] = (a - b) / (2 * h), (ga - gb) / (2 * h)
        base = self.predict(lt, eta)
        where = {int(i): jj for jj, i in enumerate(self.iiv_idx)}
        phi_p, psi_p = np.empty((n, k)), np.empty((n, q, k))
        for j in range(k):
            e = np.zeros(k)
            e[j] = h
            if j >= 3:
                fp = fm = base
            elif j in where:
                fp, fm = pred_e[where[j], 1], pred_e[where[j], -1]
            else:
                fp, fm = self.predict(lt + e[:3], eta), self.predict(lt - e[:3], eta)
            a, ga = self._phi(p + e, eta, fp)
            b, gb = self._phi(p - e, eta, fm)
            phi_p[:, j], psi_p[:, :, j] = (a - b) / (2 * h), (ga - gb) / (2 * h)
        deta_dp = -np.linalg.solve(psi_e, psi_p)  # (n, q, k)
        grad = phi_p.sum(axis=0) + np.einsum("nq,nqk->k", phi_e, deta_dp)
        return val, grad, eta


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class PopulationFit:
    """A FOCE-I fit of the one-compartment oral model.

    Attributes
    ----------
    theta : DataFrame
        Typical values: ``parameter`` (CL, V, ka), ``estimate``, ``se`` (of the estimate, by the
        delta method), ``lower``, ``upper`` (95 % Wald interval on the log scale), ``unit``,
        ``rse_pct``.
    omega : DataFrame
        Between-subject variances ω² (variance of η, log scale) with the same columns and
        ``shrinkage`` (1 − SD(η̂)/ω); with ``omega="full"`` also the covariances
        (``cov_CL_V`` ...; their se by the delta method, interval ±1.96 se).
    omega_matrix : ndarray of shape (q, q)
    sigma : DataFrame
        Residual parameters: ``sigma`` (SD of ln y, proportional), ``sigma_prop`` and
        ``sigma_add`` (mg/L) for combined error, ``sigma_prop`` alone (proportional_linear),
        same columns as ``theta``.
    eta : DataFrame
        One row per subject: ``subject``, ``eta_<P>`` (empirical Bayes estimates) and the
        individual parameters ``CL``, ``V``, ``ka``.
    ofv : float
        −2 log L (Laplace, without n ln 2π).
    converged : bool
        The outer optimiser stopped on its gradient criterion and every inner problem converged.
    covariance_ok : bool
        The OFV Hessian at the optimum was positive definite (else ``se`` are NaN).
    n_subjects, n_observations, n_blq : int
        Subjects; quantified samples used; samples below their LLOQ (dropped under M1; under
        M3 those after the subject's first dose enter the likelihood as censored, ``n_censored``).
    n_evaluations : int
        OFV evaluations (each one a batched inner problem).
    elapsed_s : float
    cov : ndarray
        Covariance of the internal parameters (ln θ, Ω parameters, ln σ).
    blq : {"m1", "m3"}
        How samples below the LLOQ were handled: dropped (Beal's M1) or censored (M3).
    n_censored : int
        Samples in the likelihood as censored, P(y < LLOQ | η) (M3; 0 under M1).
    """

    theta: pd.DataFrame
    omega: pd.DataFrame
    omega_matrix: np.ndarray
    sigma: pd.DataFrame
    eta: pd.DataFrame
    ofv: float
    converged: bool
    covariance_ok: bool
    n_subjects: int
    n_observations: int
    n_blq: int
    n_evaluations: int
    elapsed_s: float
    error: str
    cov: np.ndarray = field(repr=False)
    blq: str = "m1"
    n_censored: int = 0

    def estimates(self) -> dict[str, float]:
        """Flat name → estimate of θ, ω² and σ."""
        out = {}
        for frame in (self.theta, self.omega, self.sigma):
            out.update(zip(frame["parameter"], frame["estimate"], strict=True))
        return out

    def summary(self) -> str:
        """A NONMEM-style text table of the estimates."""
        if self.blq == "m3":
            blq = f"{self.n_blq} below LLOQ, {self.n_censored} of them censored (Beal M3, Laplace)"
        else:
            blq = f"{self.n_blq} below LLOQ dropped"
        lines = [
            f"FOCE-I, one compartment, first-order absorption; {self.error} residual error",
            f"{self.n_subjects} subjects, {self.n_observations} observations"
            f" ({blq}); OFV {self.ofv:.3f};"
            f" converged {self.converged}; covariance step {self.covariance_ok}",
        ]
        for title, frame in (("typical values", self.theta), ("omega", self.omega)):
            lines.append(title)
            lines.extend(_rows(frame))
        lines.append("residual error")
        lines.extend(_rows(self.sigma))
        return "\n".join(lines)


def _rows(frame: pd.DataFrame) -> list[str]:
    out = []
    for r in frame.itertuples(index=False):
        unit = getattr(r, "unit", "") or ""
        out.append(
            f"  {r.parameter:<12} {r.estimate:12.5g}  se {r.se:10.3g}"
            f"  95% CI [{r.lower:.4g}, {r.upper:.4g}] {unit}"
        )
    return out


@dataclass(frozen=True)
class PooledFit:
    """Naive pooled fit (every sample as if from one subject; no between-subject variability).

    ``theta`` has the columns of :attr:`PopulationFit.theta`; ``sigma`` is the SD of ln y."""

    theta: pd.DataFrame
    sigma: float
    n_observations: int


# ---------------------------------------------------------------------------------------------
# estimation


def _check_error(error: str) -> None:
    if error not in _ERRORS:
        raise _err("unknown residual error model", "error", error, " or ".join(_ERRORS))


def _check_blq(blq: Any) -> None:
    if not (isinstance(blq, str) and blq in _BLQ):
        raise _err("unknown BLQ method", "blq", blq, " or ".join(_BLQ))


def _scale(unit: str, mw_g_mol: float | None) -> float:
    if unit == "nM":
        if mw_g_mol is None or not mw_g_mol > 0:
            raise _err("nM needs the molecular weight", "mw_g_mol", mw_g_mol, "g/mol > 0")
        return mw_g_mol * 1e-6
    if unit not in _CONC_UNITS:
        raise _err(
            "unknown concentration unit",
            "concentration_unit",
            unit,
            ", ".join([*_CONC_UNITS, "nM"]),
        )
    return _CONC_UNITS[unit]


def _start_theta(d: _Data, F: float, log_scale: bool) -> np.ndarray:
    """Pooled start: a grid over (k, ka > k), ln V profiled in closed form on ln y."""
    m = d.mask
    tmax = max(float(d.t[m].max()), 1e-3)
    if log_scale:
        target = d.y[m]
        pos = np.ones(target.size, dtype=bool)
    else:
        pos = d.y[m] > 0
        target = np.log(d.y[m][pos])
    best = (np.inf, np.zeros(3))
    tile = np.ones((m.shape[0], 1))
    for ratio in (1.5, 3.0, 6.0, 12.0, 30.0):
        for k in np.geomspace(0.1 / tmax, 50.0 / tmax, 30):
            lp = np.log([k, 1.0, k * ratio]) * tile  # V = 1 L, CL = k
            C, _ = _conc_and_jac(d.t, d.dose_t, d.dose_mg, lp, F, jac=False)
            lc = np.log(np.maximum(C[m][pos], 1e-300))
            lnv = float(np.mean(lc - target))
            sse = float(np.sum((target - lc + lnv) ** 2))
            if sse < best[0]:
                best = (sse, np.array([math.log(k) + lnv, lnv, math.log(k * ratio)]))
    return best[1]


def _exp(x: float) -> float:
    """e^x, inf past the float range (an ω² run to 0 has a log-scale se in the hundreds)."""
    return math.exp(x) if x < 709.0 else math.inf


def _log_row(name: str, log_est: float, log_se: float, unit: str) -> dict:
    est = math.exp(log_est)
    return {
        "parameter": name,
        "estimate": est,
        "se": est * log_se,
        "lower": _exp(log_est - _Z95 * log_se),
        "upper": _exp(log_est + _Z95 * log_se),
        "unit": unit,
        "rse_pct": 100.0 * log_se,
    }


def fit_population_pk(
    data: pd.DataFrame,
    *,
    doses: pd.DataFrame | float,
    dose_interval_h: float | None = None,
    n_doses: int | None = None,
    init: dict | None = None,
    omega: str = "diagonal",
    iiv: tuple[str, ...] = PARAMETERS,
    error: str = "proportional",
    bioavailability: float = 1.0,
    concentration_unit: str = "mg/L",
    mw_g_mol: float | None = None,
    covariance: bool = True,
    max_iter: int = 300,
    blq: str = "m1",
) -> PopulationFit:
    """Fit the one-compartment oral population PK model by FOCE-I.

    Parameters
    ----------
    data : DataFrame
        One row per sample: ``subject``, ``time_h`` (h, on the dose clock), ``concentration``
        (in ``concentration_unit``), optional ``lloq`` (same unit; a sample below it is counted
        and dropped, Beal M1, or censored, M3: see ``blq``). Every subject needs one quantified
        sample after its first dose (under M3, a quantified or censored one).
    doses : DataFrame or float
        Dose records ``subject, time_h, dose_mg`` (every subject of ``data`` needs one), or one
        amount in mg given to everyone at 0, ``dose_interval_h``, 2·``dose_interval_h`` … up to
        the last sample (at most ``n_doses``); a single dose at 0 when ``dose_interval_h`` is None.
    dose_interval_h : float, optional
    n_doses : int, optional
    init : dict, optional
        Starting values: ``CL`` (L/h), ``V`` (L), ``ka`` (1/h); ``omega`` (dict name → ω², or a
        (q, q) matrix); ``sigma`` (proportional: SD of ln y; combined: ``(prop, add_mg_L)``;
        proportional_linear: the fraction).
        Missing typical values come from a grid search of a pooled fit (which assumes ka > k);
        ω² starts at 0.1 and σ at half the pooled residual SD (proportional; 0.2 for the
        proportional part of the others).
    omega : {"diagonal", "full"}
        Structure of Ω (full: log-Cholesky parameterisation).
    iiv : tuple of str
        Which of CL, V, ka carry a random effect.
    error : {"proportional", "combined", "proportional_linear"}
        Residual error model (see the module docstring).
    bioavailability : float
        F, fixed (default 1: the estimates are CL/F and V/F).
    concentration_unit : {"mg/L", "ug/mL", "ng/mL", "ug/L", "nM"}
        nM needs ``mw_g_mol``. Concentrations are converted to mg/L before fitting.
    covariance : bool
        Run the covariance step (standard errors and intervals; NaN without it).
    max_iter : int
        Outer (BFGS) iterations.
    blq : {"m1", "m3"}
        Samples below their LLOQ: ``"m1"`` drops them (Beal's M1, the default); ``"m3"`` keeps
        each one after the subject's first dose as censored, P(y < LLOQ | η) = Φ((LLOQ − f)/√R)
        on the scale of the error model (ln LLOQ under proportional error), with the Laplace
        approximation of the marginal likelihood (see the module docstring). Under M3 a subject
        may have censored samples only.

    Returns
    -------
    PopulationFit

    Raises
    ------
    LeptotwinError
        Missing column, negative or non-numeric concentration, time or LLOQ, a zero
        concentration with proportional error, a subject without a quantified sample or without
        doses, a sample before the first dose, unknown options (``blq`` not m1 or m3).
    """
    start_clock = time.perf_counter()
    _check_error(error)
    _check_blq(blq)
    if omega not in ("diagonal", "full"):
        raise _err("unknown omega structure", "omega", omega, "diagonal or full")
    bad = [p for p in iiv if p not in PARAMETERS]
    if bad or not iiv or len(set(iiv)) != len(iiv):
        raise _err("unknown or repeated random effect", "iiv", iiv, "some of CL, V, ka")
    if not (0 < bioavailability <= 1):
        raise _err("bioavailability out of range", "bioavailability", bioavailability, "(0, 1]")
    iiv_idx = np.array(sorted(PARAMETERS.index(p) for p in iiv))
    names = [PARAMETERS[i] for i in iiv_idx]
    d = _prepare(
        data, doses, dose_interval_h, n_doses, error, _scale(concentration_unit, mw_g_mol), blq
    )
    model = _Model(d, error, iiv_idx, omega == "full", float(bioavailability))
    init = dict(init or {})
    unknown = set(init) - {*PARAMETERS, "omega", "sigma"}
    if unknown:
        raise _err("unknown starting value", "init", sorted(unknown)[0], "CL, V, ka, omega, sigma")

    lt0 = (
        _start_theta(d, model.F, error == "proportional")
        if not all(p in init for p in PARAMETERS)
        else np.zeros(3)
    )
    for i, p in enumerate(PARAMETERS):
        if p in init:
            if not init[p] > 0:
                raise _err("starting value must be positive", "init", init[p], f"{p} > 0")
            lt0[i] = math.log(init[p])
    om0 = init.get("omega")
    if om0 is None:
        om = np.eye(model.q) * 0.1
    elif isinstance(om0, dict):
        om = np.diag([float(om0.get(n, 0.1)) for n in names])
    else:
        om = np.asarray(om0, dtype=float)
    if om.shape != (model.q, model.q) or np.any(np.linalg.eigvalsh(om) <= 0):
        raise _err("starting omega must be positive definite", "init", om0, f"{model.q}x{model.q}")
    sig0 = init.get("sigma")
    if sig0 is None:
        eta0 = np.zeros((d.t.shape[0], model.q))
        f, _ = model.predict(lt0, eta0)
        r = (d.y - f)[d.mask]
        if error == "proportional":
            sig = np.array([max(0.5 * float(np.sqrt(np.mean(r**2))), 0.02)])
        elif error == "proportional_linear":
            sig = np.array([0.2])
        else:
            sig = np.array([0.2, max(0.05 * float(np.median(np.abs(d.y[d.mask]))), 1e-12)])
    else:
        sig = np.atleast_1d(np.asarray(sig0, dtype=float))
        if sig.size != model.n_sigma or np.any(sig <= 0):
            raise _err("bad starting sigma", "init", sig0, f"{model.n_sigma} positive number(s)")
    p0 = np.concatenate([lt0, model.pack_omega(om), np.log(sig)])

    state = {"eta": np.zeros((d.t.shape[0], model.q)), "best": np.inf, "n": 0, "p": p0}

    def fun_grad(p: np.ndarray) -> tuple[float, np.ndarray]:
        state["n"] += 1
        val, g, eta = model.ofv_grad(p, state["eta"])
        if val < state["best"]:
            state["best"], state["eta"], state["p"] = val, eta, p.copy()
        return val, g

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fun_grad(p0)
        res = optimize.minimize(
            fun_grad,
            p0,
            jac=True,
            method="BFGS",
            options={"maxiter": max_iter, "gtol": 1e-3},
        )
        p_hat = res.x if res.fun <= state["best"] else state["p"]
        ofv_hat, g_final, eta_hat = model.ofv_grad(p_hat, state["eta"])
        lt, om_hat, s_hat = model.unpack(p_hat)
        _, _, _, inner_ok = model.inner(lt, om_hat, s_hat, eta_hat)
        converged = bool(
            (res.success or np.max(np.abs(g_final)) < 1e-2) and inner_ok and np.isfinite(ofv_hat)
        )
        k = p_hat.size
        cov = np.full((k, k), np.nan)
        cov_ok = False
        if covariance:
            H = np.empty((k, k))
            hh = 1e-4
            for j in range(k):
                e = np.zeros(k)
                e[j] = hh
                gp = model.ofv_grad(p_hat + e, eta_hat)[1]
                gm = model.ofv_grad(p_hat - e, eta_hat)[1]
                H[:, j] = (gp - gm) / (2 * hh)
                state["n"] += 2
            H = 0.5 * (H + H.T)
            if np.all(np.isfinite(H)) and np.all(np.linalg.eigvalsh(H) > 0):
                cov = 2.0 * np.linalg.inv(H)
                cov_ok = True
    if not converged:
        warnings.warn(f"FOCE-I did not converge ({res.message})", ConvergenceWarning, stacklevel=2)
    if covariance and not cov_ok:
        warnings.warn(
            "covariance step failed: the OFV Hessian is not positive definite",
            ConvergenceWarning,
            stacklevel=2,
        )
    se = np.sqrt(np.diag(cov))
    theta = pd.DataFrame([_log_row(p, lt[i], se[i], _UNITS[p]) for i, p in enumerate(PARAMETERS)])
    omega_frame = _omega_frame(model, p_hat, cov, names, eta_hat, om_hat)
    j0 = 3 + model.n_omega
    if error == "proportional":
        sig_rows = [_log_row("sigma", p_hat[j0], se[j0], "SD of ln y")]
    elif error == "proportional_linear":
        sig_rows = [_log_row("sigma_prop", p_hat[j0], se[j0], "fraction")]
    else:
        sig_rows = [
            _log_row("sigma_prop", p_hat[j0], se[j0], "fraction"),
            _log_row("sigma_add", p_hat[j0 + 1], se[j0 + 1], "mg/L"),
        ]
    ind = np.broadcast_to(lt, (eta_hat.shape[0], 3)).copy()
    ind[:, iiv_idx] += eta_hat
    eta_frame = pd.DataFrame({"subject": d.subjects})
    for j, n in enumerate(names):
        eta_frame[f"eta_{n}"] = eta_hat[:, j]
    for i, p in enumerate(PARAMETERS):
        eta_frame[p] = np.exp(ind[:, i])
    return PopulationFit(
        theta=theta,
        omega=omega_frame,
        omega_matrix=om_hat,
        sigma=pd.DataFrame(sig_rows),
        eta=eta_frame,
        ofv=float(ofv_hat),
        converged=converged,
        covariance_ok=cov_ok,
        n_subjects=int(d.t.shape[0]),
        n_observations=d.n_obs,
        n_blq=d.n_blq,
        n_evaluations=int(state["n"]),
        elapsed_s=time.perf_counter() - start_clock,
        error=error,
        cov=cov,
        blq=blq,
        n_censored=0 if d.cens is None else int(d.cens.sum()),
    )


def _omega_frame(model, p_hat, cov, names, eta_hat, om_hat) -> pd.DataFrame:
    q = model.q
    j0 = 3
    rows = []
    sd_eta = eta_hat.std(axis=0, ddof=0)
    if not model.full:
        for j, n in enumerate(names):
            r = _log_row(f"omega2_{n}", p_hat[j0 + j], math.sqrt(cov[j0 + j, j0 + j]), "")
            r["unit"] = "variance of η"
            r["shrinkage"] = 1.0 - sd_eta[j] / math.sqrt(om_hat[j, j])
            rows.append(r)
        return pd.DataFrame(rows)
    # full: delta method from the log-Cholesky parameters
    sl = slice(j0, j0 + model.n_omega)
    base = p_hat.copy()

    def om_of(w):
        base[sl] = w
        return model.unpack(base)[1]

    w0 = p_hat[sl].copy()
    h = 1e-6
    Jac = np.empty((q, q, w0.size))
    for k in range(w0.size):
        e = np.zeros_like(w0)
        e[k] = h
        Jac[:, :, k] = (om_of(w0 + e) - om_of(w0 - e)) / (2 * h)
    om_of(w0)
    C = cov[sl, sl]
    for a in range(q):
        for b in range(a + 1):
            g = Jac[a, b]
            var = float(g @ C @ g)
            est = float(om_hat[a, b])
            if a == b:
                lse = math.sqrt(var) / est
                r = _log_row(f"omega2_{names[a]}", math.log(est), lse, "variance of η")
                r["shrinkage"] = 1.0 - sd_eta[a] / math.sqrt(est)
            else:
                s = math.sqrt(var)
                r = {
                    "parameter": f"cov_{names[b]}_{names[a]}",
                    "estimate": est,
                    "se": s,
                    "lower": est - _Z95 * s,
                    "upper": est + _Z95 * s,
                    "unit": "covariance of η",
                    "rse_pct": 100.0 * s / abs(est) if est else np.nan,
                    "shrinkage": np.nan,
                }
            rows.append(r)
    return pd.DataFrame(rows)


def fit_pooled_pk(
    data: pd.DataFrame,
    *,
    doses: pd.DataFrame | float,
    dose_interval_h: float | None = None,
    n_doses: int | None = None,
    bioavailability: float = 1.0,
    concentration_unit: str = "mg/L",
    mw_g_mol: float | None = None,
) -> PooledFit:
    """Naive pooled fit: least squares on ln y as if every sample came from one subject.

    For comparison only: it ignores between-subject variability, so its typical values are
    biased and its intervals too narrow when the variability is large. Arguments as
    :func:`fit_population_pk` (proportional error)."""
    d = _prepare(
        data,
        doses,
        dose_interval_h,
        n_doses,
        "proportional",
        _scale(concentration_unit, mw_g_mol),
    )
    F = float(bioavailability)
    m = d.mask
    n = m.shape[0]

    def resid(lp):
        C, _ = _conc_and_jac(d.t, d.dose_t, d.dose_mg, np.tile(lp, (n, 1)), F)
        return (d.y - np.log(np.maximum(C, 1e-300)))[m]

    def jac(lp):
        C, J = _conc_and_jac(d.t, d.dose_t, d.dose_mg, np.tile(lp, (n, 1)), F)
        return -(J / np.maximum(C, 1e-300)[:, :, None])[m]

    res = optimize.least_squares(resid, _start_theta(d, F, True), jac=jac, method="lm")
    r = res.fun
    s2 = float(r @ r) / max(r.size - 3, 1)
    J = res.jac
    try:
        cov = np.linalg.inv(J.T @ J) * s2
        se = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        se = np.full(3, np.nan)
    theta = pd.DataFrame(
        [_log_row(p, res.x[i], se[i], _UNITS[p]) for i, p in enumerate(PARAMETERS)]
    )
    return PooledFit(theta=theta, sigma=math.sqrt(s2), n_observations=d.n_obs)


# ---------------------------------------------------------------------------------------------
# simulation


def simulate_population_pk(
    *,
    n_subjects: int,
    times_h: np.ndarray,
    dose_mg: float,
    theta: dict[str, float],
    omega: dict[str, float] | np.ndarray,
    sigma: float | tuple[float, float],
    rng: np.random.Generator,
    dose_interval_h: float | None = None,
    n_doses: int | None = None,
    error: str = "proportional",
    bioavailability: float = 1.0,
    lloq: float | None = None,
) -> pd.DataFrame:
    """Virtual population PK data from known typical values and variances.

    Parameters
    ----------
    n_subjects : int
    times_h : array of shape (n_times,) or (n_subjects, n_times)
        Sample times (h), after the first dose at 0.
    dose_mg : float
        Amount per dose (mg), given at 0, ``dose_interval_h``, … up to the last sample
        (at most ``n_doses``; one dose when ``dose_interval_h`` is None).
    theta : dict
        Typical ``CL`` (L/h), ``V`` (L), ``ka`` (1/h).
    omega : dict or array of shape (3, 3)
        ω² per parameter (missing: no variability) or the full covariance of (η_CL, η_V, η_ka).
    sigma : float or (prop, add_mg_L)
        Proportional: SD of ln y. Combined: proportional SD and additive SD (mg/L).
        Proportional_linear: the fraction.
    rng : numpy.random.Generator
        Drawn in a fixed order: η (n_subjects × 3), then residuals.
    error : {"proportional", "combined", "proportional_linear"}
        Residual error; on the linear scale (combined, proportional_linear) a negative draw is
        set to 0.
    bioavailability : float
    lloq : float, optional
        Adds an ``lloq`` column (mg/L); samples below it keep their simulated value.

    Returns
    -------
    DataFrame
        ``subject, time_h, concentration`` (mg/L) [, ``lloq``] and the subject's true
        ``true_CL, true_V, true_ka`` (ignored by the fitters).
    """
    _check_error(error)
    if n_subjects < 1:
        raise _err("need at least one subject", "n_subjects", n_subjects, ">= 1", "simulate")
    missing = [p for p in PARAMETERS if p not in theta]
    if missing:
        raise _err("missing typical value", "theta", missing[0], "CL, V, ka", "simulate")
    if isinstance(omega, dict):
        om = np.diag([float(omega.get(p, 0.0)) for p in PARAMETERS])
    else:
        om = np.asarray(omega, dtype=float)
    if om.shape != (3, 3) or np.any(np.linalg.eigvalsh(om) < -1e-12):
        raise _err("omega must be a 3x3 covariance", "omega", omega, None, "simulate")
    t = np.asarray(times_h, dtype=float)
    t = np.broadcast_to(np.atleast_2d(t), (n_subjects, t.shape[-1]))
    if np.any(t <= 0):
        raise _err("sample times must follow the first dose", "times_h", None, "> 0", "simulate")
    w, U = np.linalg.eigh(om)
    z = rng.standard_normal((n_subjects, 3))
    eta = z @ (U * np.sqrt(np.maximum(w, 0.0))).T
    lp = np.log([theta[p] for p in PARAMETERS]) + eta
    grid = _dose_grid(float(t.max()), dose_interval_h, n_doses)
    dt = np.broadcast_to(grid, (n_subjects, grid.size))
    dm = np.full(dt.shape, float(dose_mg))
    C, _ = _conc_and_jac(t, dt, dm, lp, float(bioavailability), jac=False)
    eps = rng.standard_normal(C.shape)
    if error == "proportional":
        y = C * np.exp(float(np.atleast_1d(sigma)[0]) * eps)
    elif error == "proportional_linear":
        y = np.maximum(C * (1.0 + float(np.atleast_1d(sigma)[0]) * eps), 0.0)
    else:
        b, a = sigma  # type: ignore[misc]
        y = np.maximum(C + np.sqrt(a * a + b * b * C * C) * eps, 0.0)
    T = t.shape[1]
    out = pd.DataFrame(
        {
            "subject": np.repeat(np.arange(n_subjects), T),
            "time_h": t.ravel(),
            "concentration": y.ravel(),
        }
    )
    if lloq is not None:
        out["lloq"] = float(lloq)
    par = np.exp(lp)
    for j, p in enumerate(PARAMETERS):
        out[f"true_{p}"] = np.repeat(par[:, j], T)
    return out
