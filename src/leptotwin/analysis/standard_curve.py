"""ELISA standard curves: weighted 4PL/5PL fits per plate, back-calculation with intervals, QC.

Input is a tidy well table, one row per well (what :func:`read_elisa` returns from a
plate-reader export and an ELISA layout file, or what the virtual ELISA in
:mod:`leptotwin.assays.elisa` simulates):

``plate`` (optional, default ``"1"``), ``role`` (``standard``, ``blank``, ``sample`` or
``empty``), ``nominal_pg_mL`` (standards; blanks are the zero standard), ``sample_id`` and
``dilution`` (samples; the factor by which the sample was diluted into the well, default 1),
``group`` (optional), ``signal`` (OD; NaN for overflow or missing wells) and ``flag`` (optional,
``"overflow"`` for wells the reader marked OVER).

:class:`StandardCurveFitter` fits one curve per plate to the standards and blanks, with the
5PL of Gottschalk & Dunn (the 4PL is ``g = 1``) in the parametrisation of Prism, nplr and most
ELISA software::

    OD(x) = d + (a - d) / (1 + (x / c)^b)^g        a: OD at x = 0, d: OD at x -> inf,
                                                    c: inflection (pg/mL), b > 0: slope

(R drc's ``LL.4``/``LL.5`` with ``b_drc = -b``, ``c_drc = a``, ``d_drc = d``, ``e = c``,
``f = g``). It then reports for every sample (``plate, sample_id, dilution``) the in-well
concentration interpolated from the mean OD of its replicate wells, times the dilution
factor, with a delta-method interval on the log scale that combines the curve's parameter
covariance with the OD noise of the mean (curve residual variance pooled with the sample's
replicate spread); the duplicate %CV; flags for samples below the LLOQ, above the ULOQ, at or
past an asymptote (no concentration, as Prism leaves such cells blank) or saturated; and, for
the standards, the back-fit recovery (% of nominal) with the ligand-binding-assay acceptance
rule (80-120 %, 75-125 % at the lowest and highest standard; CV <= 20 %, 25 % there; ICH M10
section 7.2). LLOQ and ULOQ are the lowest and highest standards that pass.

ELISA layout file
-----------------
The ELISA layout file (columns ``plate, well, role, sample_id, group, nominal_pg_mL,
dilution``; roles ``standard``, ``blank``, ``sample``, ``empty``) is a file format of
:mod:`leptotwin.formats.elisa_layout`, which reads, validates and writes it
(:func:`~leptotwin.formats.read_elisa_layout`, re-exported here) and joins it to the
plate-reader export (:func:`~leptotwin.formats.merge_elisa_plate`); the virtual ELISA writes
the same file.

Example
-------
>>> import numpy as np, pandas as pd
>>> conc = np.array([2000, 1000, 500, 250, 125, 62.5, 31.25, 0])
>>> od = 4.0 + (0.05 - 4.0) / (1 + (conc / 1500) ** 1.2)
>>> std = pd.DataFrame({"role": np.where(conc > 0, "standard", "blank"),
...                     "nominal_pg_mL": conc, "signal": od})
>>> fit = StandardCurveFitter("4PL", weights="1/y^2").fit(std)
>>> float(np.round(fit.inverse([1.0])[0, 0], 3))  # pg/mL in the well at OD 1.0
575.343
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, stats

from leptotwin._checks import check_alpha
from leptotwin.analysis._lmsolver import FitStatus, levenberg_marquardt
from leptotwin.errors import LeptotwinError
from leptotwin.formats import (
    ELISA_LAYOUT_COLUMNS,
    ELISA_ROLES,
    merge_elisa_plate,
    read_elisa_layout,
    read_plate_reader,
    validate_elisa_layout,
)

__all__ = [
    "ELISA_LAYOUT_COLUMNS",
    "ELISA_ROLES",
    "CurveStatus",
    "LogisticCurve",
    "SampleFlag",
    "StandardCurveFitter",
    "read_elisa",
    "read_elisa_layout",
    "spike_recovery",
]

Array = NDArray[np.float64]
_SRC = "StandardCurveFitter"

RECOVERY_LIMITS_PCT = (80.0, 120.0)
"""Acceptance band of a standard's back-fit recovery (ICH M10 section 7.2.1, LBA)."""
EDGE_RECOVERY_LIMITS_PCT = (75.0, 125.0)
"""Acceptance band at the lowest and highest standard (the LLOQ and ULOQ levels)."""
CV_LIMIT_PCT = 20.0
EDGE_CV_LIMIT_PCT = 25.0
MAX_OD = 10.0
"""Largest absolute OD taken: readers measure absorbance to about 4 OD (10^-4 of the light);
10 OD would be 10^-10."""
MIN_STANDARD_PG_ML = 1e-6
"""Smallest standard concentration taken (pg/mL): about 2,000 molecules per mL of a 300 Da
analyte, 1,000-fold below the most sensitive immunoassays (digital ELISA, about 0.01 pg/mL)."""


class SampleFlag(StrEnum):
    """Status of one back-calculated sample (the ``flag`` column holds the values)."""

    OK = "ok"
    BELOW_LLOQ = "below_lloq"
    ABOVE_ULOQ = "above_uloq"
    BELOW_BOTTOM = "below_bottom"
    """Mean OD at or beyond the zero-concentration asymptote ``a``: no concentration."""
    ABOVE_TOP = "above_top"
    """Mean OD at or beyond the top asymptote ``d``: no concentration."""
    OVERFLOW = "overflow"
    """A replicate read OVER (saturated reader): dilute the sample further."""
    MISSING = "missing"
    NO_CURVE = "no_curve"
    """The plate's standard curve could not be fitted."""


class CurveStatus(StrEnum):
    """Outcome of one plate's fit; the values are the messages."""

    CONVERGED = "converged"
    NO_CONVERGENCE = (
        "the fit did not converge: check the standards' ODs and roles, or try weights=None "
        "or the 4PL"
    )
    AT_BOUND = (
        "the 5PL reached a bound (asymmetry g outside 1/20-20 or inflection c 1000-fold "
        "outside the standards): the standards do not define the 5PL, use the 4PL"
    )
    SINGULAR = (
        "the parameter covariance is singular (standards do not define every parameter): "
        "use the 4PL or add standards on the plateaus"
    )


@dataclass(frozen=True)
class LogisticCurve:
    """The 4PL or 5PL curve ``OD(x) = d + (a - d) / (1 + (x / c)^b)^g`` (``g = 1``: 4PL).

    Fitted internally in ``phi = (a, log b, log c, d[, log g])`` so that ``b, c, g > 0``.
    """

    name: str

    @property
    def five(self) -> bool:
        return self.name == "5PL"

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names: ``a, b, c, d`` (``, g`` for the 5PL)."""
        return ("a", "b", "c", "d", "g") if self.five else ("a", "b", "c", "d")

    @property
    def n_params(self) -> int:
        return len(self.names)

    @property
    def formula(self) -> str:
        g = "^g" if self.five else ""
        return f"OD = d + (a - d) / (1 + (x / c)^b){g}"

    # ------------------------------------------------------------------ natural parameters
    def predict(self, params: ArrayLike, conc_pg_mL: ArrayLike) -> Array:
        """OD for each row of ``params`` (shape (n_curves, p)) at ``conc_pg_mL`` (shape
        (n_conc,) or (n_curves, n_conc)); returns shape (n_curves, n_conc)."""
        theta = np.atleast_2d(np.asarray(params, float))
        x = np.asarray(conc_pg_mL, float)
        x = np.broadcast_to(x, (theta.shape[0], x.shape[-1]) if x.ndim else (theta.shape[0], 1))
        phi = self.to_phi(theta)[:, None, :]
        f, _, _ = self.evaluate(np.broadcast_to(phi, (*x.shape, phi.shape[-1])), x)
        return f

    def inverse(self, params: ArrayLike, od: ArrayLike) -> Array:
        """Concentration (pg/mL in the well) at each OD; NaN at or past an asymptote.

        ``params`` shape (n_curves, p), ``od`` shape (n_od,) or (n_curves, n_od); returns
        (n_curves, n_od).
        """
        theta = np.atleast_2d(np.asarray(params, float))
        y = np.asarray(od, float)
        y = np.broadcast_to(y, (theta.shape[0], y.shape[-1]) if y.ndim else (theta.shape[0], 1))
        phi = np.broadcast_to(self.to_phi(theta)[:, None, :], (*y.shape, theta.shape[1]))
        t, _ = self.inverse_log(phi, y)
        return np.exp(t)

    def to_phi(self, theta: Array) -> Array:
        phi = np.array(theta, float, copy=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            phi[..., 1] = np.log(phi[..., 1])
            phi[..., 2] = np.log(phi[..., 2])
            if self.five:
                phi[..., 4] = np.log(phi[..., 4])
        return phi

    def to_theta(self, phi: Array) -> Array:
        theta = np.array(phi, float, copy=True)
        theta[..., 1] = np.exp(theta[..., 1])
        theta[..., 2] = np.exp(theta[..., 2])
        if self.five:
            theta[..., 4] = np.exp(theta[..., 4])
        return theta

    def dtheta_dphi(self, phi: Array) -> Array:
        """Diagonal of the Jacobian of ``theta`` with respect to ``phi`` (shape (..., p))."""
        d = np.ones_like(phi)
        d[..., 1] = np.exp(phi[..., 1])
        d[..., 2] = np.exp(phi[..., 2])
        if self.five:
            d[..., 4] = np.exp(phi[..., 4])
        return d

    # ------------------------------------------------------------------ internal parameters
    def evaluate(self, phi: Array, x: Array) -> tuple[Array, Array, Array]:
        """OD, its Jacobian with respect to ``phi`` and its derivative with respect to
        ``log x``. ``phi`` shape (..., p), ``x`` shape (...); ``x = 0`` is the exact limit.

        NaN parameters (a plate whose fit failed) give NaN without a warning; so do parameters
        at the edge of the float range (the fit's status reports those)."""
        with np.errstate(invalid="ignore", over="ignore"):
            return self._evaluate(phi, x)

    def _evaluate(self, phi: Array, x: Array) -> tuple[Array, Array, Array]:
        a, lb, lc, d = phi[..., 0], phi[..., 1], phi[..., 2], phi[..., 3]
        g = np.exp(phi[..., 4]) if self.five else np.ones_like(a)
        b = np.exp(lb)
        zero = x <= 0
        with np.errstate(divide="ignore"):
            t = np.log(np.where(zero, 1.0, x))
        z = np.where(zero, -np.inf, b * (t - lc))
        log_s = np.logaddexp(0.0, z)  # log(1 + e^z)
        q = np.exp(-g * log_s)  # fraction of the way from d back to a
        sig = np.where(zero, 0.0, 0.5 * (1.0 + np.tanh(0.5 * np.where(zero, 0.0, z))))
        dfdz = (a - d) * (-g * q * sig)
        zsafe = np.where(zero, 0.0, z)
        jac = [q, dfdz * zsafe, -b * dfdz, 1.0 - q]
        if self.five:
            jac.append((a - d) * (-g * log_s * q))
        f = d + (a - d) * q
        return f, np.stack(jac, axis=-1), dfdz * b

    def inverse_log(self, phi: Array, y: Array) -> tuple[Array, Array]:
        """``log x`` at OD ``y`` and a side code: 0 on the curve, -1 at or past ``a`` (the
        zero end), +1 at or past ``d`` (the top). An OD so close to an asymptote that ``x``
        would leave the float range (``|log x| > 700``) counts as past it (NaN, side -1/+1)."""
        a, lb, lc, d = phi[..., 0], phi[..., 1], phi[..., 2], phi[..., 3]
        g = np.exp(phi[..., 4]) if self.five else np.ones_like(a)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = (y - d) / (a - d)
            side = np.where(q >= 1.0, -1, np.where(q <= 0.0, 1, 0))
            side = np.where(np.isnan(q), 0, side)
            ok = side == 0
            log_s = -np.log(np.where(ok, q, 0.5)) / g
            z = np.log(np.expm1(log_s))
            t = lc + z / np.exp(lb)
        far = ok & (np.abs(np.nan_to_num(t, nan=0.0)) > _LOG_X_LIMIT)
        side = np.where(far, np.sign(np.nan_to_num(t, nan=0.0)).astype(int), side)
        return np.where(ok & ~far & np.isfinite(q), t, np.nan), side


# --------------------------------------------------------------------------- fitting
_LOG_X_LIMIT = 700.0  # |log x| beyond this: exp overflows (e^709.8) or underflows to 0
_MONOTONE_TOL = 0.05
_C_SPAN = np.log(1e3)  # 5PL: inflection at most 1000-fold outside the standards
_G_SPAN = np.log(20.0)  # 5PL: asymmetry g in [1/20, 20]
_WEIGHT_POWER = {None: 0.0, "1/y": 0.5, "1/y^2": 1.0}
_WEIGHT_ALIASES = {"none": None, "1/y2": "1/y^2", "1/y**2": "1/y^2", "1/y²": "1/y^2"}


@dataclass
class _PlateFit:
    phi: Array  # (p,)
    cov_phi: Array  # (p, p)
    status: CurveStatus
    rss: float  # weighted residual sum of squares
    df: int
    n_obs: int
    nfev: int


def _line(t: Array, u: Array) -> tuple[float, float]:
    """Least-squares slope and intercept of ``u`` on ``t`` over the finite ``u``; (1, -mean t)
    when fewer than two distinct ``t`` remain."""
    ok = np.isfinite(u)
    t, u = t[ok], u[ok]
    if t.size < 2 or not np.ptp(t) > 0:
        return 1.0, -float(np.mean(t)) if t.size else 0.0
    tc = t - t.mean()
    slope = float(tc @ (u - u.mean()) / (tc @ tc))
    return slope, float(u.mean() - slope * t.mean())


def _start(x: Array, y: Array) -> Array:
    """4PL start ``phi`` from a logit-linear regression, best of a few top asymptotes."""
    lo_x, hi_x = x.min(), x.max()
    y_lo, y_hi = y[x == lo_x].mean(), y[x == hi_x].mean()
    rng = max(float(np.ptp(y)), 1e-12)
    sgn = 1.0 if y_hi >= y_lo else -1.0
    a0 = (y.min() if sgn > 0 else y.max()) - sgn * 0.01 * rng
    pos = x > 0
    t = np.log(x[pos])
    best, best_rss = None, np.inf
    for k in (0.05, 0.25, 1.0, 3.0):
        d0 = (y.max() if sgn > 0 else y.min()) + sgn * k * rng
        u = np.log((y[pos] - a0) / (d0 - y[pos]))
        slope, icept = _line(t, u)
        b0 = max(abs(slope), 0.05)
        lc0 = -icept / slope if slope != 0 else float(np.mean(t))
        lc0 = float(np.clip(lc0, t.min() - 5.0, t.max() + 5.0)) if t.size else 0.0
        phi = np.array([a0, np.log(b0), lc0, d0])
        f = d0 + (a0 - d0) / (1.0 + np.exp(b0 * (np.log(np.where(pos, x, 1.0)) - lc0)))
        f = np.where(pos, f, a0)
        rss = float(np.sum((y - f) ** 2))
        if best is None or rss < best_rss:
            best, best_rss = phi, rss
    assert best is not None  # the loop runs four times
    return best


def _starts(x: Array, y: Array, mask: Array) -> Array:
    """:func:`_start` of every row of padded ``x``, ``y`` (``mask``: the readings), at once."""
    inf = np.inf
    xm, ym = np.where(mask, x, inf), np.where(mask, y, inf)
    lo_x, hi_x = xm.min(axis=1), np.where(mask, x, -inf).max(axis=1)
    y_min, y_max = ym.min(axis=1), np.where(mask, y, -inf).max(axis=1)

    def mean_where(sel: Array) -> Array:
        return np.where(sel, y, 0.0).sum(axis=1) / sel.sum(axis=1)

    y_lo = mean_where(mask & (x == lo_x[:, None]))
    y_hi = mean_where(mask & (x == hi_x[:, None]))
    rng = np.maximum(y_max - y_min, 1e-12)
    sgn = np.where(y_hi >= y_lo, 1.0, -1.0)
    a0 = np.where(sgn > 0, y_min, y_max) - sgn * 0.01 * rng
    pos = mask & (x > 0)
    t = np.log(np.where(pos, x, 1.0))
    n_pos = pos.sum(axis=1)
    t_min = np.where(pos, t, inf).min(axis=1)
    t_max = np.where(pos, t, -inf).max(axis=1)
    t_mean = np.where(pos, t, 0.0).sum(axis=1) / np.maximum(n_pos, 1)
    best = np.full((x.shape[0], 4), np.nan)
    best_rss = np.full(x.shape[0], inf)
    for k in (0.05, 0.25, 1.0, 3.0):
        d0 = np.where(sgn > 0, y_max, y_min) + sgn * k * rng
        u = np.log((y - a0[:, None]) / (d0[:, None] - y))
        ok = pos & np.isfinite(u)
        n_ok = ok.sum(axis=1)
        tm = np.where(ok, t, 0.0).sum(axis=1) / np.maximum(n_ok, 1)
        um = np.where(ok, u, 0.0).sum(axis=1) / np.maximum(n_ok, 1)
        tc = np.where(ok, t - tm[:, None], 0.0)
        spread = np.where(ok, t, -inf).max(axis=1) - np.where(ok, t, inf).min(axis=1)
        line = (n_ok >= 2) & (spread > 0)
        slope = np.where(line, (tc * np.where(ok, u - um[:, None], 0.0)).sum(axis=1), 1.0)
        slope = slope / np.where(line, (tc * tc).sum(axis=1), 1.0)
        icept = np.where(line, um - slope * tm, np.where(n_ok > 0, -tm, 0.0))
        b0 = np.maximum(np.abs(slope), 0.05)
        lc0 = np.where(slope != 0, -icept / np.where(slope != 0, slope, 1.0), t_mean)
        lc0 = np.where(n_pos > 0, np.clip(lc0, t_min - 5.0, t_max + 5.0), 0.0)
        f = d0[:, None] + (a0 - d0)[:, None] / (1.0 + np.exp(b0[:, None] * (t - lc0[:, None])))
        f = np.where(pos, f, a0[:, None])
        rss = np.where(mask, (y - f) ** 2, 0.0).sum(axis=1)
        better = (rss < best_rss) | (k == 0.05)  # as _start: the first is kept even if NaN
        best[better] = np.stack([a0, np.log(b0), lc0, d0], axis=1)[better]
        best_rss = np.where(better, rss, best_rss)
    return best


def _fit_plate(
    curve: LogisticCurve, x: Array, y: Array, power: float, w: Array | None = None
) -> _PlateFit:
    """Least-squares fit of one plate; weights ``w`` (fixed) or ``1/|f|^(2*power)``.

    Floating-point trouble on degenerate standards (overflow in a start value, NaN residuals,
    a singular Jacobian) is not warned about: it ends in the plate's status."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _least_squares_plate(curve, x, y, power, w)


def _least_squares_plate(
    curve: LogisticCurve, x: Array, y: Array, power: float, w: Array | None
) -> _PlateFit:
    n, p = x.size, curve.n_params
    wfix = np.ones(n) if w is None else np.asarray(w, float)
    sw = np.sqrt(wfix)
    floor = 1e-3 * max(float(np.max(np.abs(y))), 1e-12)

    def scale(f: Array) -> tuple[Array, Array]:
        """Per-point residual scale ``|f|^-power`` and its derivative with respect to f."""
        if power == 0.0:
            return np.ones_like(f), np.zeros_like(f)
        af = np.abs(f)
        clipped = af < floor
        fw = np.where(clipped, floor, af)
        s = fw**-power
        ds = np.where(clipped, 0.0, -power * fw ** (-power - 1.0) * np.sign(f))
        return s, ds

    def resid(phi: Array) -> Array:
        f, _, _ = curve.evaluate(np.broadcast_to(phi, (n, p)), x)
        s, _ = scale(f)
        return sw * (y - f) * s

    def jac(phi: Array) -> Array:
        f, j, _ = curve.evaluate(np.broadcast_to(phi, (n, p)), x)
        s, ds = scale(f)
        return (sw * (-s + (y - f) * ds))[:, None] * j

    phi0 = _start(x, y)
    if curve.five:
        four = _fit_plate(LogisticCurve("4PL"), x, y, power, w)
        base = four.phi if np.all(np.isfinite(four.phi)) else phi0
        phi0 = np.append(base, 0.0)
    options: dict[str, Any] = {"method": "lm"}
    if curve.five:  # the 5PL drifts to g -> inf, c -> inf on symmetric data: keep it in bounds
        xpos = x[x > 0]
        lo = np.array([-np.inf, -np.inf, np.log(xpos.min()) - _C_SPAN, -np.inf, -_G_SPAN])
        hi = np.array([np.inf, np.inf, np.log(xpos.max()) + _C_SPAN, np.inf, _G_SPAN])
        phi0 = np.clip(phi0, lo + 1e-9, hi - 1e-9)
        options = {"method": "trf", "bounds": (lo, hi), "x_scale": "jac"}
    try:
        sol = optimize.least_squares(
            resid,
            phi0,
            jac=jac,
            xtol=1e-14,
            ftol=1e-14,
            gtol=1e-14,
            max_nfev=200 * (p + 1),
            **options,
        )
    except (ValueError, FloatingPointError):  # pragma: no cover - defensive
        return _PlateFit(np.full(p, np.nan), np.full((p, p), np.nan), CurveStatus.NO_CONVERGENCE,
                         np.nan, n - p, n, 0)  # fmt: skip
    phi = sol.x
    r = resid(phi)
    rss = float(r @ r)
    df = n - p
    status = CurveStatus.CONVERGED if sol.status > 0 and np.isfinite(rss) else None
    if status is None:
        return _PlateFit(np.full(p, np.nan), np.full((p, p), np.nan), CurveStatus.NO_CONVERGENCE,
                         np.nan, df, n, int(sol.nfev))  # fmt: skip
    if curve.five and np.any(sol.active_mask != 0):
        status = CurveStatus.AT_BOUND
    jr = jac(phi)
    jtj = jr.T @ jr
    sigma2 = rss / df if df > 0 else np.nan
    if np.linalg.matrix_rank(jtj) < p or not np.all(np.isfinite(jtj)):
        return _PlateFit(phi, np.full((p, p), np.nan), CurveStatus.SINGULAR, rss, df, n,
                         int(sol.nfev))  # fmt: skip
    cov = sigma2 * np.linalg.inv(jtj)
    return _PlateFit(phi, cov, status, rss, df, n, int(sol.nfev))


#: Iterations of the batched 4PL fit; a plate not converged by then is refitted on its own.
_BATCH_MAX_ITER = 200


def _fit_plates(
    curve: LogisticCurve, xs: Sequence[Array], ys: Sequence[Array], power: float
) -> list[_PlateFit]:
    """:func:`_fit_plate` of every plate: the 4PL all plates at once, the 5PL plate by plate.

    The 4PL plates are fitted together by the batched Levenberg–Marquardt solver
    (:func:`leptotwin.analysis._lmsolver.levenberg_marquardt`) on the same weighted residuals
    from the same start; a plate it does not converge, or whose covariance comes out singular,
    is fitted again by :func:`_fit_plate` (MINPACK), so every status is decided as before.
    Both minimise the same function to tight tolerances: parameters agree to about 1e-7
    relative (``tests/analysis/test_standard_curve_batch.py``)."""
    if curve.five or len(xs) < 2:
        return [_fit_plate(curve, x, y, power) for x, y in zip(xs, ys, strict=True)]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        fits = _batch_4pl(curve, xs, ys, power)
    return [
        f if f is not None else _fit_plate(curve, x, y, power)
        for f, x, y in zip(fits, xs, ys, strict=True)
    ]


def _batch_4pl(
    curve: LogisticCurve, xs: Sequence[Array], ys: Sequence[Array], power: float
) -> list[_PlateFit | None]:
    """The batched 4PL fit; ``None`` for a plate to be refitted on its own."""
    n, p = len(xs), curve.n_params
    sizes = np.array([x.size for x in xs])
    m = int(sizes.max())
    mask = np.arange(m)[None, :] < sizes[:, None]
    x = np.zeros((n, m))
    y = np.zeros((n, m))
    x[mask] = np.concatenate(xs)
    y[mask] = np.concatenate(ys)
    floor = np.array([1e-3 * max(float(np.max(np.abs(v))), 1e-12) for v in ys])
    phi0 = _starts(x, y, mask)

    def parts(phi: Array, x: Array, y: Array, mask: Array, floor: Array) -> tuple[Array, Array]:
        """Weighted residuals (n, m) and their derivative with respect to ``phi`` (n, m, p)."""
        f, j, _ = curve.evaluate(np.broadcast_to(phi[:, None, :], (*x.shape, p)), x)
        if power == 0.0:
            s, ds = np.ones_like(f), np.zeros_like(f)
        else:
            af = np.abs(f)
            clipped = af < floor[:, None]
            fw = np.where(clipped, floor[:, None], af)
            s = fw**-power
            ds = np.where(clipped, 0.0, -power * fw ** (-power - 1.0) * np.sign(f))
        r = np.where(mask, (y - f) * s, 0.0)
        dr = np.where(mask, -s + (y - f) * ds, 0.0)[:, :, None] * j
        return r, dr

    def fun(phi: Array, x: Array, y: Array, mask: Array, floor: Array) -> tuple[Array, Array]:
        r, dr = parts(phi, x, y, mask, floor)
        return r, -dr.transpose(0, 2, 1)

    sol = levenberg_marquardt(
        fun,
        phi0,
        (x, y, mask, floor),
        max_iter=_BATCH_MAX_ITER,
        ftol=1e-14,
        xtol=1e-14,
        gtol=1e-14,
    )
    phi = sol.theta
    r, dr = parts(phi, x, y, mask, floor)
    rss = np.einsum("nm,nm->n", r, r)
    jtj = np.einsum("nmi,nmj->nij", dr, dr)
    df = sizes - p
    good = (sol.status == FitStatus.CONVERGED.code) & np.isfinite(rss)
    good &= np.isfinite(jtj).all(axis=(1, 2)) & np.isfinite(phi).all(axis=1)
    rank = np.zeros(n, int)
    rank[good] = np.linalg.matrix_rank(jtj[good])
    good &= rank == p
    cov = np.full((n, p, p), np.nan)
    sigma2 = rss / np.where(df > 0, df, np.nan)
    cov[good] = sigma2[good, None, None] * np.linalg.inv(jtj[good])
    return [
        _PlateFit(
            phi[i],
            cov[i],
            CurveStatus.CONVERGED,
            float(rss[i]),
            int(df[i]),
            int(sizes[i]),
            int(sol.n_iter[i]),
        )
        if good[i]
        else None
        for i in range(n)
    ]


# --------------------------------------------------------------------------- input checks
def _text(frame: pd.DataFrame, col: str) -> pd.Series:
    if col not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    s = frame[col].astype(object)
    return s.where(s.notna(), "").astype(str).str.strip().astype(object)


def _number(frame: pd.DataFrame, col: str, source: str) -> Array:
    if col not in frame:
        return np.full(len(frame), np.nan)
    raw = frame[col]
    num = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = np.isnan(num) & raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise LeptotwinError(
            "not a number", source=source, field=f"row {i}, column {col}", value=raw.iloc[i]
        )
    return num


def _check_wells(wells: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a well table (the ELISA layout columns plus ``signal``, ``flag``).

    Returns :data:`ELISA_LAYOUT_COLUMNS` as
    :func:`~leptotwin.formats.validate_elisa_layout` returns them (plate ``"1"`` when none is
    given; ``well`` optional), ``signal`` (float, OD), ``flag`` (str), then any other columns.
    """
    if not isinstance(wells, pd.DataFrame):
        raise LeptotwinError(
            "expected a DataFrame of wells", source=source, value=type(wells).__name__
        )
    if "signal" not in wells:
        raise LeptotwinError(
            "missing column",
            source=source,
            field="signal",
            expected="plate, role, nominal_pg_mL, sample_id, dilution, signal",
        )
    frame = wells.reset_index(drop=True)
    layout = validate_elisa_layout(
        frame.drop(columns=["signal", "flag"], errors="ignore"), source=source, well_optional=True
    )
    out = layout[list(ELISA_LAYOUT_COLUMNS)].copy()
    out["plate"] = out["plate"].where(out["plate"] != "", "1")
    out["signal"] = _number(frame, "signal", source)
    _check_od(out, source)
    _check_standards(out, source)
    flag = _text(frame, "flag").str.lower()
    nan_flag = np.where(np.isnan(out["signal"].to_numpy()), "missing", "ok")
    out["flag"] = np.where(flag == "", nan_flag, flag).astype(object)
    extra = [c for c in layout.columns if c not in out.columns]
    return pd.concat([out, layout[extra]], axis=1)


def _check_od(wells: pd.DataFrame, source: str) -> None:
    """ODs a plate reader can report: finite (or NaN for a missing or OVER well) and at most
    :data:`MAX_OD` in magnitude, so the fit's exponentials stay finite."""
    od = np.abs(wells["signal"].to_numpy(float))
    bad = np.isinf(od) | (od > MAX_OD)
    _raise_at(wells, bad, "signal", source,
              "an absorbance above 10 OD (1e-10 of the light let through) is beyond any plate "
              "reader", "OD as the reader reports it (about 0 to 4)")  # fmt: skip


def _check_standards(wells: pd.DataFrame, source: str) -> None:
    """Standards at :data:`MIN_STANDARD_PG_ML` or more (the layout reader caps them at 1 g/mL)."""
    nominal = wells["nominal_pg_mL"].to_numpy(float)
    bad = (wells["role"] == "standard").to_numpy() & (nominal < MIN_STANDARD_PG_ML)
    _raise_at(wells, bad, "nominal_pg_mL", source,
              "standard below 1e-6 pg/mL, 1,000-fold under any immunoassay's reach",
              "the concentrations of the kit's standard series in pg/mL")  # fmt: skip


def _raise_at(
    wells: pd.DataFrame, bad: Array, col: str, source: str, message: str, expected: str
) -> None:
    """Raise ``message`` for the first well flagged in ``bad`` (naming plate, well and column)."""
    if not bad.any():
        return
    i = int(np.argmax(bad))
    well = f"well {wells['well'].iloc[i]}" if wells["well"].iloc[i] else f"row {i}"
    raise LeptotwinError(
        message,
        source=source,
        field=f"plate {wells['plate'].iloc[i]}, {well}, column {col}",
        value=float(wells[col].iloc[i]),
        expected=expected,
    )


def _check_plate_standards(
    plate: str, levels: pd.DataFrame, curve: LogisticCurve, source: str, monotone: bool
) -> None:
    """Enough distinct standard levels, and mean OD monotone in concentration."""
    valid = levels.dropna(subset=["mean_od"])
    if len(valid) < curve.n_params:
        raise LeptotwinError(
            "too few standard levels to fit the curve",
            source=source,
            field=f"plate {plate}",
            value=len(valid),
            expected=f"at least {curve.n_params} concentrations (blank included) with readings "
            f"for the {curve.name}; 7 standards + blank in duplicate is usual",
        )
    if not monotone:
        return
    od = valid["mean_od"].to_numpy()
    direction = np.sign(od[-1] - od[0]) or 1.0
    # a reversal counts when it exceeds 5 % of the OD range: neighbours on a plateau may swap
    reversal = direction * np.diff(od) < -_MONOTONE_TOL * np.ptp(od)
    if reversal.any() or np.ptp(od) == 0:
        k = int(np.argmax(reversal))
        c = valid["nominal_pg_mL"].to_numpy()
        raise LeptotwinError(
            "standards are not monotone in concentration",
            source=source,
            field=f"plate {plate}",
            value=f"mean OD {valid['mean_od'].iloc[k]:.4g} at {c[k]:g} pg/mL vs "
            f"{valid['mean_od'].iloc[k + 1]:.4g} at {c[k + 1]:g} pg/mL",
            expected="mean OD rising (or falling) with concentration: check the standards' "
            "wells and nominal concentrations, or pass check_monotone=False",
        )


def _plates_to_check(
    plates: Sequence[Any], levels: pd.DataFrame, curve: LogisticCurve, monotone: bool
) -> list[Any]:
    """The plates (in order) that :func:`_check_plate_standards` would refuse, found for all
    plates at once with the same arithmetic; that function then raises for the first."""
    valid = levels.dropna(subset=["mean_od"])
    code = pd.Index(plates).get_indexer(valid["plate"])
    keep = code >= 0
    code, od = code[keep], valid["mean_od"].to_numpy(float)[keep]
    n = len(plates)
    count = np.bincount(code, minlength=n)
    bad = count < curve.n_params
    if monotone and od.size:
        # levels are sorted by plate then concentration: each plate's levels are contiguous
        start = np.r_[0, np.flatnonzero(np.diff(code)) + 1]
        last = np.r_[start[1:], od.size] - 1
        rows = code[start]
        hi = np.maximum.reduceat(od, start)
        lo = np.minimum.reduceat(od, start)
        ptp = hi - lo
        direction = np.sign(od[last] - od[start])
        direction[direction == 0] = 1.0
        group = np.repeat(np.arange(start.size), last - start + 1)[:-1]  # of each step
        step = np.diff(od)
        same = code[1:] == code[:-1]
        reversal = same & (direction[group] * step < -_MONOTONE_TOL * ptp[group])
        flat = np.zeros(n, bool)
        flat[rows] = ptp == 0
        rev = np.zeros(n, bool)
        np.logical_or.at(rev, code[1:][reversal], True)
        bad |= flat | rev
    return [p for p, b in zip(plates, bad, strict=True) if b]


# --------------------------------------------------------------------------- the fitter
class StandardCurveFitter:
    """Fit ELISA standard curves (one per plate) and back-calculate the samples.

    Parameters
    ----------
    model : {"4PL", "5PL"}
    weights : {"1/y^2", "1/y", None}
        Residual weights ``1 / OD_fit^2``, ``1 / OD_fit`` or none. As in Prism, the weight uses
        the fitted curve's OD, not the reading (the fit minimises ``sum((y - f)^2 / f^(2k))``);
        ``|f|`` is floored at 0.1 % of the largest OD. The same variance function
        ``var(OD) = sigma^2 * f^(2k)`` sets the OD noise in the samples' intervals.
    alpha : float
        Intervals are ``1 - alpha`` (named ``lower 95%`` etc. in :attr:`summary`).
    blank_as_zero : bool
        Fit the blank wells as the zero standard (default; ``a`` is then anchored by them).
    min_replicates : int
        Samples with fewer listed wells raise (1 allows singlicates; their interval then uses
        the curve's residual variance only).
    check_monotone : bool
        Raise if a plate's mean standard ODs (blank included) are not monotone in
        concentration: a reversal between neighbouring levels larger than 5 % of the plate's
        standard OD range (smaller ones, e.g. on a plateau, are noise).

    Attributes
    ----------
    params_ : DataFrame, one row per plate
        ``a, b, c, d[, g]`` (``a``, ``d`` in OD, ``c`` in pg/mL in the well).
    se_ : DataFrame, one row per plate
    cov_ : ndarray of shape (n_plates, p, p)
        Covariance of the natural parameters.
    curves_ : DataFrame, one row per plate
        ``plate, model, weights, status, ok, n_wells, n_levels, df_resid, rss, sigma,
        lloq_pg_mL, uloq_pg_mL, standards_passed, standards_total, standards_ok``.
    standards_ : DataFrame, one row per plate and concentration
        ``plate, nominal_pg_mL, n_wells, mean_od, sd_od, cv_pct, fitted_od, backfit_pg_mL``
        (mean of the wells' back-calculated concentrations), ``recovery_pct,
        recovery_low_pct, recovery_high_pct, recovery_ok, cv_limit_pct, cv_ok, passed``.
    samples_ : DataFrame, one row per plate, sample_id and dilution
        ``plate, sample_id, group, dilution, n_wells, mean_od, sd_od, cv_pct, cv_ok,
        conc_in_well_pg_mL, conc_pg_mL, conc_lower_pg_mL, conc_upper_pg_mL`` (``1 - alpha``
        interval), ``se_log_conc, lloq_pg_mL, uloq_pg_mL`` (the plate's range times the
        dilution) and ``flag`` (a :class:`SampleFlag` value).
    wells_ : DataFrame, one row per well
        The checked input plus ``fitted_od`` (standards, blanks) and ``backfit_pg_mL``
        (in-well concentration of every well's own OD).
    """

    def __init__(
        self,
        model: str = "4PL",
        weights: str | None = "1/y^2",
        alpha: float = 0.05,
        *,
        blank_as_zero: bool = True,
        min_replicates: int = 2,
        check_monotone: bool = True,
    ) -> None:
        if str(model).upper() not in ("4PL", "5PL"):
            raise LeptotwinError(
                "unknown standard-curve model", source=_SRC, field="model", value=model,
                expected="'4PL' or '5PL'",
            )  # fmt: skip
        key = weights.strip().lower().replace(" ", "") if isinstance(weights, str) else weights
        key = _WEIGHT_ALIASES.get(key, key) if isinstance(key, str) else key
        if key not in _WEIGHT_POWER:
            raise LeptotwinError(
                "unknown weighting", source=_SRC, field="weights", value=weights,
                expected="'1/y^2', '1/y' or None",
            )  # fmt: skip
        alpha = check_alpha(alpha, _SRC)
        if int(min_replicates) < 1:
            raise LeptotwinError(
                "min_replicates must be >= 1", source=_SRC, field="min_replicates",
                value=min_replicates,
            )  # fmt: skip
        self.model = LogisticCurve(str(model).upper())
        self.weights = key
        self.alpha = float(alpha)
        self.blank_as_zero = blank_as_zero
        self.min_replicates = int(min_replicates)
        self.check_monotone = check_monotone

    def __repr__(self) -> str:
        return (
            f"<StandardCurveFitter: {self.model.name}, weights={self.weights!r}, "
            f"alpha={self.alpha}>"
        )

    # ------------------------------------------------------------------ fit
    def fit(self, wells: pd.DataFrame) -> StandardCurveFitter:
        """Fit each plate's standards and back-calculate the plate's samples.

        Parameters
        ----------
        wells : DataFrame, one row per well
            See the module docstring (``role``, ``signal`` and, for standards,
            ``nominal_pg_mL`` are required).

        Returns
        -------
        self
            With ``params_``, ``se_``, ``cov_``, ``curves_``, ``standards_``, ``samples_`` and
            ``wells_``.

        Raises
        ------
        LeptotwinError
            On a missing column, an unknown role, a non-numeric value, an OD above 10 in
            magnitude, a standard without a positive nominal concentration, no standards at all
            or a plate with samples but no standards, fewer standard levels than parameters,
            standards not monotone in concentration, a sample without ``sample_id``, a dilution
            factor <= 0, or a sample with fewer than ``min_replicates`` wells. A plate whose
            fit fails does not raise: its status says why and its samples get NaN and flag
            ``no_curve``.
        """
        source = str(wells.attrs.get("source", f"{_SRC}.fit")) if hasattr(wells, "attrs") else _SRC
        if isinstance(wells, pd.DataFrame) and wells.attrs:
            # pandas deep-copies ``attrs`` into the result of every operation (the virtual
            # ELISA's ``true_curve`` holds one dict per plate); none of the outputs has them
            wells = wells.copy(deep=False)
            wells.attrs = {}
        clean = _check_wells(wells, source)
        roles = clean["role"]
        cal_roles = ["standard", "blank"] if self.blank_as_zero else ["standard"]
        is_cal = roles.isin(cal_roles).to_numpy()
        if not (roles == "standard").any():
            raise LeptotwinError(
                "no standard wells",
                source=source,
                field="role",
                expected="wells with role 'standard' and their nominal_pg_mL",
            )
        plates = pd.unique(clean["plate"])
        with_std = set(clean.loc[roles == "standard", "plate"])
        with_samples = set(clean.loc[roles == "sample", "plate"])
        lacking = [p for p in plates if p not in with_std and p in with_samples]
        if lacking:
            raise LeptotwinError(
                "plate has samples but no standards",
                source=source,
                field="plate",
                value=lacking[0],
                expected="a standard curve on every plate with samples",
            )
        self._check_replicates(clean, source)
        plates = [p for p in plates if p in with_std]
        self.plates_ = pd.Index(plates, name="plate")
        levels = self._level_means(clean[is_cal])
        for plate in _plates_to_check(plates, levels, self.model, self.check_monotone):
            _check_plate_standards(
                plate,
                levels[levels["plate"] == plate],
                self.model,
                source,
                self.check_monotone,
            )
        power = _WEIGHT_POWER[self.weights]
        # each plate's finite calibrator readings, in well order
        code = self.plates_.get_indexer(clean["plate"])
        signal = clean["signal"].to_numpy(float)
        use = is_cal & np.isfinite(signal) & (code >= 0)
        order = np.argsort(code[use], kind="stable")
        bounds = np.cumsum(np.bincount(code[use], minlength=len(plates)))[:-1]
        xs = np.split(clean["nominal_pg_mL"].to_numpy(float)[use][order], bounds)
        ys = np.split(signal[use][order], bounds)
        fits = _fit_plates(self.model, xs, ys, power)
        self._fits = fits
        self._phi = np.array([f.phi for f in fits])
        self._cov_phi = np.array([f.cov_phi for f in fits])
        self._set_attributes(clean, levels)
        return self

    def _check_replicates(self, clean: pd.DataFrame, source: str) -> None:
        smp = clean[clean["role"] == "sample"]
        counts = smp.groupby(["plate", "sample_id", "dilution"], sort=False).size()
        few = counts[counts < self.min_replicates]
        if len(few):
            plate, sid, dil = few.index[0]
            raise LeptotwinError(
                "sample has no replicate" if few.iloc[0] == 1 else "sample has too few replicates",
                source=source,
                field=f"plate {plate}, sample_id {sid}, dilution {dil:g}",
                value=int(few.iloc[0]),
                expected=f"at least {self.min_replicates} wells per sample and dilution "
                "(or min_replicates=1)",
            )

    @staticmethod
    def _level_means(cal: pd.DataFrame) -> pd.DataFrame:
        g = cal.groupby(["plate", "nominal_pg_mL"], sort=True)["signal"]
        out = g.agg(n_wells="size", mean_od="mean", sd_od="std").reset_index()
        return out.sort_values(["plate", "nominal_pg_mL"], kind="stable").reset_index(drop=True)

    def _set_attributes(self, clean: pd.DataFrame, levels: pd.DataFrame) -> None:
        names = list(self.model.names)
        idx = self.plates_
        theta = self.model.to_theta(self._phi)
        dth = self.model.dtheta_dphi(self._phi)
        cov = dth[:, :, None] * self._cov_phi * dth[:, None, :]
        self.params_ = pd.DataFrame(theta, index=idx, columns=names)
        self.cov_ = cov
        self.se_ = pd.DataFrame(
            np.sqrt(np.diagonal(cov, axis1=1, axis2=2)), index=idx, columns=names
        )
        plate_pos = pd.Series(np.arange(len(idx)), index=idx)
        # wells: fitted OD and every well's own back-calculated concentration
        on_curve = clean["plate"].isin(idx).to_numpy()
        k = plate_pos.reindex(clean["plate"]).fillna(-1).to_numpy(int)
        phi_w = np.where(on_curve[:, None], self._phi[np.maximum(k, 0)], np.nan)
        nominal = clean["nominal_pg_mL"].to_numpy()
        fitted, _, _ = self.model.evaluate(phi_w, np.nan_to_num(nominal, nan=0.0))
        cal = clean["role"].isin(["standard", "blank"]).to_numpy()
        t_w, _ = self.model.inverse_log(phi_w, clean["signal"].to_numpy())
        wells = clean.copy()
        wells["fitted_od"] = np.where(cal & on_curve, fitted, np.nan)
        wells["backfit_pg_mL"] = np.exp(t_w)
        self.wells_ = wells
        self.standards_ = self._standards_table(wells, levels)
        self.curves_ = self._curves_table(wells)
        self.samples_ = self._samples_table(wells)

    def _standards_table(self, wells: pd.DataFrame, levels: pd.DataFrame) -> pd.DataFrame:
        std = wells[wells["role"] == "standard"]
        back = std.groupby(["plate", "nominal_pg_mL"], sort=True).agg(
            backfit_pg_mL=("backfit_pg_mL", "mean"), fitted_od=("fitted_od", "first")
        )
        tab = levels[levels["nominal_pg_mL"] > 0].merge(
            back.reset_index(), on=["plate", "nominal_pg_mL"], how="left"
        )
        tab["cv_pct"] = 100.0 * tab["sd_od"] / tab["mean_od"].abs()
        tab["recovery_pct"] = 100.0 * tab["backfit_pg_mL"] / tab["nominal_pg_mL"]
        grp = tab.groupby("plate")["nominal_pg_mL"]
        edge = (tab["nominal_pg_mL"] == grp.transform("min")) | (
            tab["nominal_pg_mL"] == grp.transform("max")
        )
        tab["recovery_low_pct"] = np.where(
            edge, EDGE_RECOVERY_LIMITS_PCT[0], RECOVERY_LIMITS_PCT[0]
        )
        tab["recovery_high_pct"] = np.where(
            edge, EDGE_RECOVERY_LIMITS_PCT[1], RECOVERY_LIMITS_PCT[1]
        )
        rec = tab["recovery_pct"]
        tab["recovery_ok"] = (rec >= tab["recovery_low_pct"]) & (rec <= tab["recovery_high_pct"])
        tab["cv_limit_pct"] = np.where(edge, EDGE_CV_LIMIT_PCT, CV_LIMIT_PCT)
        tab["cv_ok"] = tab["cv_pct"].isna() | (tab["cv_pct"] <= tab["cv_limit_pct"])
        tab["passed"] = tab["recovery_ok"] & tab["cv_ok"]
        cols = [
            "plate", "nominal_pg_mL", "n_wells", "mean_od", "sd_od", "cv_pct", "fitted_od",
            "backfit_pg_mL", "recovery_pct", "recovery_low_pct", "recovery_high_pct",
            "recovery_ok", "cv_limit_pct", "cv_ok", "passed",
        ]  # fmt: skip
        return tab[cols].reset_index(drop=True)

    def _curves_table(self, wells: pd.DataFrame) -> pd.DataFrame:
        st = self.standards_
        passed = st[st["passed"]].groupby("plate")["nominal_pg_mL"]
        total = st.groupby("plate")["passed"].agg(["sum", "size"])
        fits = self._fits
        status = [f.status for f in fits]
        df = np.array([f.df for f in fits], float)
        rss = np.array([f.rss for f in fits])
        tab = pd.DataFrame(
            {
                "plate": list(self.plates_),
                "model": self.model.name,
                "weights": "none" if self.weights is None else self.weights,
                "status": [s.name.lower() for s in status],
                "n_wells": [f.n_obs for f in fits],
                "n_levels": wells[wells["role"].isin(["standard", "blank"])]
                .groupby("plate")["nominal_pg_mL"]
                .nunique()
                .reindex(self.plates_)
                .to_numpy(),
                "df_resid": df.astype(int),
                "rss": rss,
                "sigma": np.sqrt(rss / np.where(df > 0, df, np.nan)),
                "lloq_pg_mL": passed.min().reindex(self.plates_).to_numpy(float),
                "uloq_pg_mL": passed.max().reindex(self.plates_).to_numpy(float),
                "standards_passed": total["sum"].reindex(self.plates_).fillna(0).to_numpy(int),
                "standards_total": total["size"].reindex(self.plates_).fillna(0).to_numpy(int),
            }
        )
        frac_ok = tab["standards_passed"] >= 0.75 * tab["standards_total"]
        tab["standards_ok"] = frac_ok & (tab["standards_total"] >= 6)
        converged = np.array([s is CurveStatus.CONVERGED for s in status])
        tab["ok"] = converged & tab["lloq_pg_mL"].notna().to_numpy()
        return tab[
            ["plate", "model", "weights", "status", "ok", "n_wells", "n_levels", "df_resid",
             "rss", "sigma", "lloq_pg_mL", "uloq_pg_mL", "standards_passed", "standards_total",
             "standards_ok"]
        ]  # fmt: skip

    def _samples_table(self, wells: pd.DataFrame) -> pd.DataFrame:
        smp = wells[wells["role"] == "sample"].copy()
        keys = ["plate", "sample_id", "dilution"]
        smp["_over"] = smp["flag"].eq("overflow")
        g = smp.groupby(keys, sort=False)
        tab = g.agg(
            group=("group", "first"),
            n_wells=("signal", "count"),
            mean_od=("signal", "mean"),
            sd_od=("signal", "std"),
            _over=("_over", "any"),
        ).reset_index()
        n = len(tab)
        k = pd.Series(np.arange(len(self.plates_)), index=self.plates_)
        pos = k.reindex(tab["plate"]).to_numpy(int) if n else np.zeros(0, int)
        phi = self._phi[pos] if n else np.zeros((0, self.model.n_params))
        cov = self._cov_phi[pos] if n else np.zeros((0, self.model.n_params, self.model.n_params))
        plate_df = np.array([f.df for f in self._fits], float)
        plate_rss = np.array([f.rss for f in self._fits], float)
        plate_failed = np.array([f.status is CurveStatus.NO_CONVERGENCE for f in self._fits], bool)
        fit_df = plate_df[pos]
        sigma2 = plate_rss[pos] / np.where(fit_df > 0, fit_df, np.nan)
        y = tab["mean_od"].to_numpy(float)
        t, side = self.model.inverse_log(phi, y)
        _, jac, dfdt = self.model.evaluate(phi, np.exp(np.nan_to_num(t, nan=0.0)))
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = -jac / dfdt[:, None]
            var_par = np.einsum("ni,nij,nj->n", grad, cov, grad)
            power = _WEIGHT_POWER[self.weights]
            v_fit = sigma2 * np.abs(y) ** (2.0 * power)
            n_rep = tab["n_wells"].to_numpy(float)
            s2 = tab["sd_od"].fillna(0.0).to_numpy(float) ** 2
            pooled = (fit_df * v_fit + (n_rep - 1.0) * s2) / (fit_df + n_rep - 1.0)
            var_y = pooled / n_rep
            se_log = np.sqrt(var_par + var_y / dfdt**2)
        tq = stats.t.ppf(1.0 - self.alpha / 2.0, np.where(fit_df > 0, fit_df, np.nan))
        dil = tab["dilution"].to_numpy(float)
        conc_well = np.exp(t)
        curves = self.curves_.set_index("plate")
        lloq = curves["lloq_pg_mL"].reindex(tab["plate"]).to_numpy(float)
        uloq = curves["uloq_pg_mL"].reindex(tab["plate"]).to_numpy(float)
        tab["cv_pct"] = 100.0 * tab["sd_od"] / tab["mean_od"].abs()
        tab["cv_ok"] = tab["cv_pct"].isna() | (tab["cv_pct"] <= CV_LIMIT_PCT)
        tab["conc_in_well_pg_mL"] = conc_well
        tab["conc_pg_mL"] = conc_well * dil
        with np.errstate(over="ignore"):  # near an asymptote the interval is unbounded: inf
            tab["conc_lower_pg_mL"] = conc_well * np.exp(-tq * se_log) * dil
            tab["conc_upper_pg_mL"] = conc_well * np.exp(tq * se_log) * dil
        tab["se_log_conc"] = se_log
        tab["lloq_pg_mL"] = lloq * dil
        tab["uloq_pg_mL"] = uloq * dil
        failed = plate_failed[pos]
        flag = np.full(n, SampleFlag.OK.value, dtype=object)
        flag[conc_well < lloq] = SampleFlag.BELOW_LLOQ.value
        flag[conc_well > uloq] = SampleFlag.ABOVE_ULOQ.value
        flag[side == -1] = SampleFlag.BELOW_BOTTOM.value
        flag[side == 1] = SampleFlag.ABOVE_TOP.value
        flag[np.isnan(y)] = SampleFlag.MISSING.value
        over = tab["_over"].to_numpy(bool)
        flag[over] = SampleFlag.OVERFLOW.value
        flag[failed] = SampleFlag.NO_CURVE.value
        tab["flag"] = flag
        nan_out = over | failed
        for col in ("conc_in_well_pg_mL", "conc_pg_mL", "conc_lower_pg_mL", "conc_upper_pg_mL",
                    "se_log_conc"):  # fmt: skip
            tab.loc[nan_out, col] = np.nan
        cols = [
            "plate", "sample_id", "group", "dilution", "n_wells", "mean_od", "sd_od", "cv_pct",
            "cv_ok", "conc_in_well_pg_mL", "conc_pg_mL", "conc_lower_pg_mL", "conc_upper_pg_mL",
            "se_log_conc", "lloq_pg_mL", "uloq_pg_mL", "flag",
        ]  # fmt: skip
        out = tab[cols].reset_index(drop=True)
        return out.astype({"n_wells": int, "dilution": float, "cv_ok": bool})

    # ------------------------------------------------------------------ results
    def _check_fitted(self) -> None:
        if not hasattr(self, "_fits"):
            raise LeptotwinError(
                "the fitter has not been fitted", source=_SRC, expected="call .fit(wells) first"
            )

    def _rows(self, plate: Any) -> Array:
        if plate is None:
            return self.params_.to_numpy()
        if plate not in self.plates_:
            raise LeptotwinError(
                "unknown plate", source=_SRC, field="plate", value=plate,
                expected="one of " + ", ".join(map(str, self.plates_)),
            )  # fmt: skip
        return self.params_.loc[[plate]].to_numpy()

    def predict(self, conc_pg_mL: ArrayLike, plate: Any = None) -> Array:
        """Fitted OD at in-well concentrations, shape (n_plates, n_conc) (1 row for ``plate``)."""
        self._check_fitted()
        return self.model.predict(self._rows(plate), np.atleast_1d(np.asarray(conc_pg_mL, float)))

    def inverse(self, od: ArrayLike, plate: Any = None) -> Array:
        """In-well concentration (pg/mL) at each OD, shape (n_plates, n_od); NaN at or past an
        asymptote."""
        self._check_fitted()
        return self.model.inverse(self._rows(plate), np.atleast_1d(np.asarray(od, float)))

    @property
    def summary(self) -> pd.DataFrame:
        """Parameters with standard errors and ``1 - alpha`` intervals, indexed by (plate,
        param): ``estimate, se, lower 95%, upper 95%`` (t with the residual df; ``b, c, g``
        on the log scale, where they were fitted), ``status``."""
        self._check_fitted()
        pct = f"{100 * (1 - self.alpha):g}%"
        est = self.params_.to_numpy()
        se = self.se_.to_numpy()
        df = np.array([f.df for f in self._fits], float)
        tq = stats.t.ppf(1 - self.alpha / 2, np.where(df > 0, df, np.nan))[:, None]
        logp = np.zeros(est.shape[1], bool)
        logp[[1, 2]] = True
        if self.model.five:
            logp[4] = True
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # unbounded: inf
            factor = np.exp(tq * se / np.abs(est))
            lower = np.where(logp, est / factor, est - tq * se)
            upper = np.where(logp, est * factor, est + tq * se)
        n, p = est.shape
        out = pd.DataFrame(
            {
                "plate": np.repeat(self.plates_.to_numpy(object), p),
                "param": np.tile(self.model.names, n),
                "estimate": est.ravel(),
                "se": se.ravel(),
                f"lower {pct}": lower.ravel(),
                f"upper {pct}": upper.ravel(),
                "status": np.repeat(self.curves_["status"].to_numpy(object), p),
            }
        )
        return out.set_index(["plate", "param"])

    def print_summary(self) -> None:
        """Print the model, the per-plate curve QC, the parameters and the samples."""
        self._check_fitted()
        print(f"{self.model.name}: {self.model.formula}; weights: {self.weights or 'none'}")
        with pd.option_context("display.width", 160, "display.max_columns", 30):
            print(self.curves_.to_string(index=False))
            print(self.summary.to_string())
            print(self.samples_.to_string(index=False))

    def plot(self, ax: Any = None, *, plates: Sequence[Any] | None = None) -> Any:
        """Standards, fitted curves and the samples on their curve (log concentration axis).

        Blanks are drawn one decade below the lowest standard (as drc draws dose 0); samples
        at their in-well concentration with the interval as horizontal bars. Returns the Axes.
        """
        import matplotlib.pyplot as plt

        self._check_fitted()
        ax = ax if ax is not None else plt.gca()
        chosen = list(self.plates_) if plates is None else list(plates)
        w = self.wells_
        std = w[(w["role"] == "standard") & w["plate"].isin(chosen)]
        lo = float(std["nominal_pg_mL"].min()) / 10.0
        hi = float(std["nominal_pg_mL"].max()) * 2.0
        grid = np.geomspace(lo, hi, 200)
        for plate in chosen:
            sel = w[(w["plate"] == plate) & w["role"].isin(["standard", "blank"])]
            x = np.where(sel["nominal_pg_mL"] > 0, sel["nominal_pg_mL"], lo)
            pts = ax.scatter(x, sel["signal"], s=14, label=f"{plate} standards")
            color = pts.get_facecolor()[0]
            ax.plot(grid, self.predict(grid, plate)[0], color=color)
            s = self.samples_[self.samples_["plate"] == plate].dropna(subset=["conc_in_well_pg_mL"])
            if len(s):
                xw = s["conc_in_well_pg_mL"].to_numpy()
                ax.errorbar(xw, s["mean_od"], xerr=self._bars(plate, s), fmt="x", color=color,
                            label=f"{plate} samples")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("concentration in the well (pg/mL)")
        ax.set_ylabel("OD")
        ax.set_title(f"{self.model.name} standard curves")
        if len(chosen) <= 6:
            ax.legend(fontsize="small")
        return ax

    def _bars(self, plate: Any, samples: pd.DataFrame) -> Array:
        """Horizontal error bars (2, n) of the samples' in-well intervals; none (0) where the
        interval is unbounded or undefined."""
        df = self._fits[list(self.plates_).index(plate)].df
        tq = stats.t.ppf(1.0 - self.alpha / 2.0, df) if df > 0 else np.nan
        xw = samples["conc_in_well_pg_mL"].to_numpy(float)
        with np.errstate(over="ignore", invalid="ignore"):
            factor = np.exp(tq * samples["se_log_conc"].to_numpy(float))
            bars = np.array([xw - xw / factor, xw * factor - xw])
        return np.where(np.isfinite(bars) & (bars >= 0), bars, 0.0)


# --------------------------------------------------------------------------- helpers
def spike_recovery(
    spiked_pg_mL: ArrayLike, unspiked_pg_mL: ArrayLike, added_pg_mL: ArrayLike
) -> Array:
    """Spike recovery in percent: ``100 * (spiked - unspiked) / added``.

    Acceptable matrices recover 80-120 % (:data:`RECOVERY_LIMITS_PCT`). Arguments broadcast;
    concentrations in the same unit (e.g. the ``conc_pg_mL`` of a spiked and an unspiked
    aliquot of a sample and the spike's nominal concentration).

    Raises
    ------
    LeptotwinError
        If an added amount is not > 0.

    Examples
    --------
    >>> float(spike_recovery(1450.0, 520.0, 1000.0))
    93.0
    """
    added = np.asarray(added_pg_mL, float)
    if np.any(~(added > 0)):
        raise LeptotwinError(
            "spike amount must be > 0",
            source="spike_recovery",
            field="added_pg_mL",
            value=added.tolist(),
            expected="the concentration added to the spiked aliquot",
        )
    spiked = np.asarray(spiked_pg_mL, float)
    unspiked = np.asarray(unspiked_pg_mL, float)
    return 100.0 * (spiked - unspiked) / added


def read_elisa(
    plate_file: str | os.PathLike[str],
    layout_file: str | os.PathLike[str],
    *,
    plate_format: int | None = None,
    decimal: str = "auto",
) -> pd.DataFrame:
    """Read an ELISA plate-reader export and its layout into the well table of
    :meth:`StandardCurveFitter.fit`.

    Parameters
    ----------
    plate_file : path-like
        Plate-reader export (grid blocks or long table; ``.csv``/``.tsv``/``.txt``, ``.xlsx``
        with ``openpyxl``), read by :func:`leptotwin.formats.read_plate_reader` (``OVER``
        cells become NaN with flag ``overflow``).
    layout_file : path-like
        ELISA layout file (see :func:`leptotwin.formats.read_elisa_layout`).
    plate_format, decimal
        Passed to :func:`~leptotwin.formats.read_plate_reader`.

    Returns
    -------
    DataFrame, one row per layout well
        ``plate, well, role, sample_id, group, nominal_pg_mL, dilution, signal, flag``;
        ``attrs["source"]`` names both files.

    Raises
    ------
    LeptotwinError
        As the two readers, or as :func:`leptotwin.formats.merge_elisa_plate`: a plate in the
        layout but not in the export (or the reverse), or a layout well off the plate read.
    """
    reads = read_plate_reader(plate_file, plate_format=plate_format, decimal=decimal)
    layout = read_elisa_layout(layout_file)
    clash = [c for c in layout.columns if str(c).strip().lower() in ("signal", "flag")]
    if clash:
        raise LeptotwinError(
            "a layout column has the name of a reading column",
            source=str(layout_file),
            field=str(clash[0]),
            expected="layout columns other than signal and flag (the plate export fills them)",
        )
    merged = merge_elisa_plate(reads, layout, plate_format=plate_format)
    merged = merged[[*ELISA_LAYOUT_COLUMNS, "signal", "flag"]].copy()
    merged.attrs["source"] = f"{plate_file} + {layout_file}"
    return merged
