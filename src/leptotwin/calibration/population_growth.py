"""Population growth model for bioluminescence (BLI) data: a linear mixed-effects model of
ln total flux with between-mouse variability (issue 17 item 2). The same model fits caliper
volumes of subcutaneous tumours (ln volume, mm³: ``value_column="volume_mm3"``,
``value_unit="mm^3"``); read "volume" for "flux" below.

Model. Mouse ``i`` of arm ``a``, image ``j`` at time ``t_ij`` (days from the time origin:
treatment start, or the first image)::

    ln flux_ij = (β0 + b0_i) + (β1_a + b1_i) t_ij + ε_ij,
    (b0_i, b1_i) ~ N(0, Ω),  ε_ij ~ N(0, σ²)

the standard log-linear exponential-growth mixed model: β0 is the typical ln flux at the time
origin (one for all arms: randomised mice share it), β1_a the typical growth rate of arm ``a``
(1/day; doubling time ln 2 / β1_a), Ω the between-mouse covariance of intercept and rate
(diagonal, or full with their covariance), σ the residual SD of ln flux (a log-normal
measurement error, σ ≈ its CV). As NONMEM's, Monolix's or nlmixr2's ``η`` the random effects
``b_i`` are reported as the mice's empirical Bayes estimates (BLUPs).

Estimation. statsmodels ``mixedlm`` through :func:`leptotwin.analysis.growth.fit_mixedlm`
(the fitting step of :func:`leptotwin.analysis.growth.compare_growth`), REML by default: with
the few mice of a preclinical study ML ignores the degrees of freedom the fixed effects take
(one rate per arm) and biases the variances low. Over 200 simulated populations of 3 arms × 8
mice × 5 images, ML's ω² of the rate came out 19 % low and the rates' 95 % intervals covered
91 %; REML's 5 % low and 93 % (``tests/calibration/test_population_growth.py`` asserts REML's).
``estimation="ml"`` gives the maximum-likelihood fit (whose log-likelihood compares models
that differ in their fixed effects; REML's depends on the time unit, days here).

Intervals. The typical values': Wald (normal quantiles) from the fixed effects' covariance
(X' V⁻¹ X)⁻¹; the variances' (ω², σ²): Wald on the log scale from the observed information of
the (restricted) log-likelihood profiled over the fixed effects (:func:`marginal_loglik`); a
covariance's: on the Fisher-z scale of its correlation. Time is scaled by the follow-up span
for the optimiser (as in ``compare_growth``) and every estimate is converted back to days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from leptotwin.errors import LeptotwinError

__all__ = [
    "GrowthPopulationFit",
    "fit_population_growth",
    "marginal_loglik",
]

_COLUMNS = ("subject", "arm", "time_d")
#: The measured value's column and unit by default (BLI total flux, p/s).
_VALUE_COLUMN, _VALUE_UNIT = "total_flux_p_s", "p/s"
_LN2 = math.log(2.0)


@dataclass
class GrowthPopulationFit:
    """What :func:`fit_population_growth` returns.

    Attributes
    ----------
    theta : DataFrame
        Typical values: ``parameter`` (``intercept``, ``slope_<arm>``), ``arm`` (None for the
        intercept), ``estimate, se, lower, upper, unit, rse_pct`` and, for the slopes,
        ``doubling_time_d, doubling_lower, doubling_upper`` (ln 2 / slope and its interval from
        the slope's; NaN where the slope or its bound is <= 0: no doubling).
    omega : DataFrame
        ``omega2_intercept``, ``omega2_slope`` and (full Ω) ``omega_intercept_slope``:
        ``parameter, estimate, se, lower, upper, unit, rse_pct, shrinkage``.
    sigma : DataFrame
        ``sigma`` (residual SD of ln flux): ``parameter, estimate, se, lower, upper, unit,
        rse_pct``.
    eta : DataFrame
        Per mouse: ``subject, arm, n_images, eta_intercept, eta_slope, intercept, slope``
        (empirical Bayes random effects and the individual values).
    loglik : float
        The maximised log-likelihood (restricted under REML), with its constants.
    estimation : str
        ``reml`` or ``ml``.
    omega_structure : str
    converged, covariance_ok : bool
        ``covariance_ok``: the information matrix of the variances was positive definite (else
        their intervals are NaN).
    n_subjects, n_observations : int
    time_span_d : float
        Span of the times fitted (days).
    messages : list of str
        Notes of the optimiser (boundary, failed attempts).
    """

    theta: pd.DataFrame
    omega: pd.DataFrame
    sigma: pd.DataFrame
    eta: pd.DataFrame
    loglik: float
    estimation: str
    omega_structure: str
    converged: bool
    covariance_ok: bool
    n_subjects: int
    n_observations: int
    time_span_d: float
    messages: list[str] = field(default_factory=list)


def _check(
    data: pd.DataFrame, omega: str, estimation: str, alpha: float, value_column: str
) -> pd.DataFrame:
    source = "fit_population_growth"
    columns = (*_COLUMNS, value_column)
    missing = [c for c in columns if c not in getattr(data, "columns", ())]
    if missing:
        raise LeptotwinError(
            "the growth data lack columns",
            source=source,
            field=", ".join(missing),
            expected="columns " + ", ".join(columns),
        )
    if omega not in ("diagonal", "full"):
        raise LeptotwinError(
            "unknown omega", source=source, field="omega", value=omega, expected="diagonal or full"
        )
    if estimation not in ("reml", "ml"):
        raise LeptotwinError(
            "unknown estimation",
            source=source,
            field="estimation",
            value=estimation,
            expected="reml or ml",
        )
    if not 0 < alpha < 1:
        raise LeptotwinError("alpha must be in (0, 1)", source=source, field="alpha", value=alpha)
    d = pd.DataFrame(
        {
            "subject": data["subject"].astype(str).to_numpy(),
            "arm": data["arm"].astype(str).to_numpy(),
            "time_d": pd.to_numeric(data["time_d"], errors="coerce").to_numpy(float),
            "value": pd.to_numeric(data[value_column], errors="coerce").to_numpy(float),
        }
    )
    bad = ~(np.isfinite(d["time_d"]) & np.isfinite(d["value"]) & (d["value"] > 0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise LeptotwinError(
            f"a time or {value_column} that is not a finite number (> 0 for its logarithm)",
            source=source,
            field=f"row {i}",
            value=(float(d["time_d"].iloc[i]), float(d["value"].iloc[i])),
        )
    arms_of = d.groupby("subject", sort=False)["arm"].nunique()
    if (arms_of > 1).any():
        raise LeptotwinError(
            "a mouse in two arms", source=source, field="arm", value=arms_of.idxmax()
        )
    per_arm = d.groupby("arm", sort=False)["subject"].nunique()
    if (per_arm < 2).any():
        arm = per_arm.idxmin()
        raise LeptotwinError(
            "a population growth fit needs at least two mice per arm",
            source=source,
            field="arm",
            value=f"{arm}: {int(per_arm[arm])} mouse",
        )
    if d["time_d"].nunique() < 2:
        raise LeptotwinError(
            "growth rates need at least two imaging times",
            source=source,
            field="time_d",
            value=int(d["time_d"].nunique()),
        )
    return d


def _design(d: pd.DataFrame, arms: list[str]) -> np.ndarray:
    """Fixed-effects design: the intercept, then t × (arm == a) for each arm."""
    x = np.zeros((len(d), 1 + len(arms)))
    x[:, 0] = 1.0
    code = pd.Categorical(d["arm"], categories=arms).codes
    x[np.arange(len(d)), 1 + code] = d["time_d"].to_numpy(float)
    return x


def _padded(
    d: pd.DataFrame, x: np.ndarray, subjects: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per mouse, padded to the most images of a mouse: y (m, n), X (m, n, p), Z (m, n, 2)
    and the mask of real rows (m, n)."""
    code = pd.Categorical(d["subject"], categories=subjects).codes
    counts = np.bincount(code, minlength=len(subjects))
    n = int(counts.max())
    order = np.argsort(code, kind="stable")
    slot = np.empty(len(d), int)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot[order] = np.arange(len(d)) - np.repeat(starts, counts)
    m = len(subjects)
    y = np.zeros((m, n))
    xx = np.zeros((m, n, x.shape[1]))
    z = np.zeros((m, n, 2))
    mask = np.zeros((m, n), bool)
    y[code, slot] = np.log(d["value"].to_numpy(float))
    xx[code, slot] = x
    z[code, slot, 0] = 1.0
    z[code, slot, 1] = d["time_d"].to_numpy(float)
    mask[code, slot] = True
    return y, xx, z, mask


def _covariances(omega: np.ndarray, sigma2: float, z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    v = np.einsum("mik,kl,mjl->mij", z, omega, z)
    v = v + sigma2 * np.eye(z.shape[1])[None]
    pad = ~mask
    # padded rows: unit variance, uncorrelated, residual 0 (they add nothing)
    v = np.where(pad[:, :, None] | pad[:, None, :], 0.0, v)
    idx = np.arange(z.shape[1])
    v[:, idx, idx] = np.where(pad, 1.0, v[:, idx, idx])
    return v


def marginal_loglik(
    omega: np.ndarray,
    sigma2: float,
    y: np.ndarray,
    x: np.ndarray,
    z: np.ndarray,
    mask: np.ndarray,
    *,
    reml: bool,
) -> tuple[float, np.ndarray, np.ndarray]:
    """The Gaussian log-likelihood of the variances, the fixed effects profiled out.

    With ``V_i = Z_i Ω Z_i' + σ² I`` per mouse and ``β̂`` the generalised least-squares
    estimate: ML ``-½ Σ_i [n_i ln 2π + ln|V_i| + r_i' V_i⁻¹ r_i]`` at ``β̂``; REML adds
    ``-½ ln|Σ X_i' V_i⁻¹ X_i| + (p/2) ln 2π`` (Harville's restricted likelihood, statsmodels'
    constants). Arrays as padded per mouse (see :func:`fit_population_growth`).

    Returns
    -------
    (loglik, beta_hat, cov_beta)
        ``cov_beta`` = (Σ X_i' V_i⁻¹ X_i)⁻¹.
    """
    v = _covariances(omega, sigma2, z, mask)
    chol = np.linalg.cholesky(v)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum()
    vinv_x = np.linalg.solve(v, x)
    vinv_y = np.linalg.solve(v, y[:, :, None])[:, :, 0]
    xtvx = np.einsum("mip,miq->pq", x, vinv_x)
    xtvy = np.einsum("mip,mi->p", x, vinv_y)
    cov_beta = np.linalg.inv(xtvx)
    beta = cov_beta @ xtvy
    r = (y - x @ beta) * mask
    quad = float(np.einsum("mi,mi->", r, np.linalg.solve(v, r[:, :, None])[:, :, 0]))
    n = int(mask.sum())
    ll = -0.5 * (n * math.log(2 * math.pi) + logdet + quad)
    if reml:
        p = x.shape[2]
        ll += -0.5 * np.linalg.slogdet(xtvx)[1] + 0.5 * p * math.log(2 * math.pi)
    return float(ll), beta, cov_beta


def _unpack(u: np.ndarray, full: bool) -> tuple[np.ndarray, float]:
    """(Ω, σ²) from u = (ln ω²_0, ln ω²_1, [atanh ρ], ln σ²)."""
    w0, w1 = math.exp(u[0]), math.exp(u[1])
    c = math.tanh(u[2]) * math.sqrt(w0 * w1) if full else 0.0
    return np.array([[w0, c], [c, w1]]), math.exp(u[-1])


def _hessian(f, u: np.ndarray, h: float = 1e-3) -> np.ndarray:
    k = u.size
    out = np.zeros((k, k))
    f0 = f(u)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h
        out[i, i] = (f(u + ei) - 2 * f0 + f(u - ei)) / h**2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h
            out[i, j] = out[j, i] = (
                f(u + ei + ej) - f(u + ei - ej) - f(u - ei + ej) + f(u - ei - ej)
            ) / (4 * h**2)
    return out


def fit_population_growth(
    data: pd.DataFrame,
    *,
    omega: str = "diagonal",
    estimation: str = "reml",
    alpha: float = 0.05,
    value_column: str = _VALUE_COLUMN,
    value_unit: str = _VALUE_UNIT,
) -> GrowthPopulationFit:
    """Fit the population growth model (see the module docstring) to BLI data (or caliper
    volumes).

    Parameters
    ----------
    data : DataFrame
        One row per image: ``subject`` (mouse), ``arm``, ``time_d`` (days from the time
        origin) and ``value_column`` (> 0). Points at the background are the caller's to leave
        out.
    omega : {"diagonal", "full"}
        Between-mouse covariance of intercept and growth rate.
    estimation : {"reml", "ml"}
    alpha : float
        The intervals are (1 - alpha) Wald intervals.
    value_column, value_unit : str
        The measured value's column and unit: ``total_flux_p_s`` and ``p/s`` (BLI, default) or
        ``volume_mm3`` and ``mm^3`` (caliper). The unit labels the tables: ``ln(<unit>)``.

    Returns
    -------
    GrowthPopulationFit
        Arms in order of first appearance.

    Raises
    ------
    LeptotwinError
        Missing columns, a non-finite time or a value <= 0, a mouse in two arms, an arm with
        fewer than two mice, fewer than two imaging times, an unknown ``omega`` or
        ``estimation``.
    """
    from leptotwin.analysis.growth import fit_mixedlm

    d = _check(data, omega, estimation, alpha, value_column)
    ln_unit = f"ln({value_unit})"
    arms = list(pd.unique(d["arm"]))
    subjects = list(pd.unique(d["subject"]))
    full, reml = omega == "full", estimation == "reml"
    t0 = float(d["time_d"].min())
    span = float(d["time_d"].max() - t0)
    frame = pd.DataFrame(
        {
            "y": np.log(d["value"].to_numpy(float)),
            # scaled time (conditioning, as compare_growth); the origin is kept (β0 at t = 0)
            "t": d["time_d"].to_numpy(float) / span,
            "arm": pd.Categorical(d["arm"], categories=arms),
            "mouse": d["subject"].to_numpy(),
        }
    )
    formula = "y ~ 1 + C(arm):t"
    # optimisers in turn until one converges; else the last fit statsmodels returned
    res, ok, notes = None, False, []
    for method in ("lbfgs", "powell", "nm"):
        attempt, ok, detail = fit_mixedlm(
            frame, formula, re_formula="~t", method=method, reml=reml, diagonal=not full
        )
        res = attempt if attempt is not None else res
        if ok:
            notes += [f"mixedlm ({method}): {m}" for m in detail]
            break
        notes.append(f"mixedlm ({method}): " + ("; ".join(detail) or "did not converge"))
    if res is None:
        raise LeptotwinError(
            "the population growth model could not be fitted",
            source="fit_population_growth",
            value="; ".join(notes),
        )
    # back to days: slopes / span, Ω's slope terms / span (squared for the variance)
    unit_scale = np.array([1.0, 1.0 / span])
    om = np.asarray(res.cov_re, float) * np.outer(unit_scale, unit_scale)
    if not full:
        om = np.diag(np.diag(om))
    sigma2 = float(res.scale)
    x = _design(d, arms)
    y, xx, z, mask = _padded(d, x, subjects)
    loglik, beta, cov_beta = marginal_loglik(om, sigma2, y, xx, z, mask, reml=reml)

    # typical values
    q = stats.norm.ppf(1 - alpha / 2)
    se_beta = np.sqrt(np.diag(cov_beta))
    names = ["intercept", *[f"slope_{a}" for a in arms]]
    theta = pd.DataFrame(
        {
            "parameter": names,
            "arm": [None, *arms],
            "estimate": beta,
            "se": se_beta,
            "lower": beta - q * se_beta,
            "upper": beta + q * se_beta,
            "unit": [ln_unit, *["1/day"] * len(arms)],
        }
    )
    theta["rse_pct"] = 100.0 * theta["se"] / theta["estimate"].abs()
    with np.errstate(divide="ignore", invalid="ignore"):
        est, lo, hi = (theta[c].to_numpy(float) for c in ("estimate", "lower", "upper"))
        doubling = np.where(est > 0, _LN2 / est, np.nan)
        theta["doubling_time_d"] = doubling
        theta["doubling_lower"] = np.where(hi > 0, _LN2 / hi, np.nan)
        theta["doubling_upper"] = np.where(lo > 0, _LN2 / lo, np.inf)
        theta.loc[~(hi > 0), "doubling_upper"] = np.nan
    theta.loc[0, ["doubling_time_d", "doubling_lower", "doubling_upper"]] = np.nan

    # variances: observed information of the profiled (restricted) log-likelihood
    w = np.clip(np.diag(om), 1e-300, None)
    u = [math.log(w[0]), math.log(w[1])]
    if full:
        rho = om[0, 1] / math.sqrt(w[0] * w[1])
        u.append(math.atanh(float(np.clip(rho, -1 + 1e-12, 1 - 1e-12))))
    u.append(math.log(sigma2))
    u_hat = np.array(u)

    def f(uu: np.ndarray) -> float:
        o, s2 = _unpack(uu, full)
        return marginal_loglik(o, s2, y, xx, z, mask, reml=reml)[0]

    cov_u = np.full((u_hat.size, u_hat.size), np.nan)
    covariance_ok = False
    try:
        info = -_hessian(f, u_hat)
        if np.all(np.isfinite(info)) and np.all(np.linalg.eigvalsh(info) > 0):
            cov_u = np.linalg.inv(info)
            covariance_ok = True
    except np.linalg.LinAlgError:
        pass
    se_u = np.sqrt(np.diag(cov_u))

    def log_wald(value: float, s: float) -> tuple[float, float, float]:
        return value * s, value * math.exp(-q * s), value * math.exp(q * s)

    eta = np.asarray([np.asarray(res.random_effects[s], float) for s in subjects])
    eta = eta * unit_scale[None, :]
    rows = []
    for k, (pname, unit) in enumerate(
        (("omega2_intercept", f"{ln_unit}^2"), ("omega2_slope", "1/day^2"))
    ):
        se, lo_, hi_ = log_wald(float(om[k, k]), float(se_u[k]))
        shrink = (
            1.0 - float(np.std(eta[:, k], ddof=0)) / math.sqrt(om[k, k]) if om[k, k] > 0 else 1.0
        )
        rows.append((pname, float(om[k, k]), se, lo_, hi_, unit, shrink))
    if full:
        # covariance = tanh(z) sqrt(ω0² ω1²): delta method on (ln ω0², ln ω1², z)
        c = float(om[0, 1])
        zc = u_hat[2]
        grad = np.array([c / 2, c / 2, (1 - math.tanh(zc) ** 2) * math.sqrt(w[0] * w[1])])
        se = float(math.sqrt(grad @ cov_u[:3, :3] @ grad)) if covariance_ok else math.nan
        zs = float(se_u[2])
        root = math.sqrt(w[0] * w[1])
        rows.append(
            (
                "omega_intercept_slope",
                c,
                se,
                math.tanh(zc - q * zs) * root,
                math.tanh(zc + q * zs) * root,
                f"{ln_unit}/day",
                math.nan,
            )
        )
    omega_t = pd.DataFrame(
        rows, columns=["parameter", "estimate", "se", "lower", "upper", "unit", "shrinkage"]
    )
    omega_t.insert(6, "rse_pct", 100.0 * omega_t["se"] / omega_t["estimate"].abs())
    s = math.sqrt(sigma2)
    s_se = float(se_u[-1])  # SE of ln σ² ⇒ SE of ln σ is half of it
    sigma_t = pd.DataFrame(
        {
            "parameter": ["sigma"],
            "estimate": [s],
            "se": [s * s_se / 2],
            "lower": [s * math.exp(-q * s_se / 2)],
            "upper": [s * math.exp(q * s_se / 2)],
            "unit": [ln_unit],
        }
    )
    sigma_t["rse_pct"] = 100.0 * sigma_t["se"] / sigma_t["estimate"]

    arm_of = d.groupby("subject", sort=False)["arm"].first()
    n_images = d.groupby("subject", sort=False).size()
    slope_of = dict(zip(arms, beta[1:], strict=True))
    eta_t = pd.DataFrame(
        {
            "subject": subjects,
            "arm": [arm_of[s] for s in subjects],
            "n_images": [int(n_images[s]) for s in subjects],
            "eta_intercept": eta[:, 0],
            "eta_slope": eta[:, 1],
        }
    )
    eta_t["intercept"] = beta[0] + eta_t["eta_intercept"]
    eta_t["slope"] = eta_t["arm"].map(slope_of) + eta_t["eta_slope"]
    return GrowthPopulationFit(
        theta=theta,
        omega=omega_t,
        sigma=sigma_t,
        eta=eta_t,
        loglik=loglik,
        estimation=estimation,
        omega_structure=omega,
        converged=bool(ok),
        covariance_ok=covariance_ok,
        n_subjects=len(subjects),
        n_observations=len(d),
        time_span_d=span,
        messages=list(dict.fromkeys(notes)),
    )
