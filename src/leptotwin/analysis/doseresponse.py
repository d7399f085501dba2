"""Dose-response curves: drc-compatible fits of many curves at once.

Input is a tidy table with one row per well: ``curve`` (any label), ``dose`` (>= 0, in one
unit throughout, e.g. nM) and ``response`` (e.g. % viability). :class:`DoseResponseFitter`
fits one of R drc's models (``LL.2``, ``LL.3``, ``LL.4``, ``LL.5``, ``W1.4``, same formulas,
parameter names and sign convention: ``b > 0`` is a decreasing curve) to every curve with one
vectorised Levenberg–Marquardt solver, and reports what ``drc::drm`` + ``summary`` + ``ED``
report: estimates, standard errors from the observed Hessian (drc's ``vcov``), ED10/50/90 with
delta-method intervals, and the residual sum of squares, plus quality-control flags.

Example
-------
>>> import pandas as pd
>>> from leptotwin.analysis.doseresponse import DoseResponseFitter
>>> df = pd.DataFrame({"curve": "A", "dose": [0, 0.1, 1, 10, 100] * 2,
...                    "response": [100, 98, 80, 20, 3, 99, 97, 75, 25, 4]})
>>> fit = DoseResponseFitter("LL.4").fit(df)
>>> round(float(fit.params_.loc["A", "e"]), 1)  # IC50, in the dose unit
3.1
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import special

from leptotwin._checks import check_alpha
from leptotwin.analysis._drfit import BatchFit, delta_method, fit_batch, make_batch
from leptotwin.analysis._drinput import check_frame, read_tidy_csv
from leptotwin.analysis._llmodels import DoseResponseModel, get_model
from leptotwin.analysis._lmsolver import STATUS_BY_CODE, FitStatus
from leptotwin.errors import LeptotwinError

__all__ = [
    "DoseResponseFitter",
    "FitStatus",
    "fold_resistance",
    "gr_metrics",
    "gr_values",
    "normalize_to_controls",
    "read_dose_response",
]

Array = NDArray[np.float64]
_STATUS_OBJECTS = np.array(STATUS_BY_CODE, dtype=object)
_STATUS_NAMES = np.array([s.name.lower() for s in STATUS_BY_CODE], dtype=object)
_SRC = "DoseResponseFitter.fit"


# The F and t quantiles the fitter needs, as scipy.stats computes them (f.isf, t.ppf, f.sf for
# the arguments used here) from the scipy.special functions it calls: importing scipy.stats
# costs about 0.6 s of every ``leptotwin fit-curves`` run (issue 14).
def _f_isf(q: float, dfn: float, dfd: Array) -> Array:
    """``scipy.stats.f.isf(q, dfn, dfd)`` for 0 < q < 1 and degrees of freedom > 0."""
    return special.fdtri(dfn, dfd, 1.0 - q)


def _t_ppf(q: float, df: Array) -> Array:
    """``scipy.stats.t.ppf(q, df)`` for 0 < q < 1 (NaN where df is NaN or <= 0)."""
    df = np.asarray(df, dtype=float)
    return np.where(df > 0, special.stdtrit(np.where(df > 0, df, 1.0), q), np.nan)


def _f_sf(x: Array, dfn: float, dfd: Array) -> Array:
    """``scipy.stats.f.sf(x, dfn, dfd)`` for degrees of freedom > 0: 1 at x <= 0, 0 at x = inf,
    NaN at NaN."""
    x = np.asarray(x, dtype=float)
    inside = (x > 0) & (x < np.inf)
    sf = special.fdtrc(dfn, dfd, np.where(inside, x, 1.0))
    return np.where(inside, sf, np.where(x <= 0, 1.0, np.where(np.isnan(x), np.nan, 0.0)))


# --------------------------------------------------------------------------- input
def read_dose_response(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check a tidy dose-response CSV: columns ``curve, dose, response`` (others are
    kept; a ``dataset`` column is a label like ``curve``).

    Every row holds a curve label (read as text, so ``"1"`` and ``"01"`` stay different
    curves), a dose (0 for controls, else a positive decimal number up to 1e15, in one unit
    throughout) and a response (a finite decimal number within ±1e15, e.g. % viability).
    A well to exclude is a row left out: an empty, ``NA`` or ``nan`` cell is refused, never
    dropped or guessed. Text is UTF-8 (with or without BOM), UTF-16 with BOM, or cp1252; cells
    are separated by commas, or by ``;`` (then decimal commas are read) or tabs when the
    header line has no comma.

    Returns
    -------
    DataFrame
        One row per data row of the file; ``dose`` and ``response`` as float64.

    Raises
    ------
    LeptotwinError
        One line naming the file, the column, the line and the value: an unreadable, empty or
        binary file, a missing or repeated column, a table pandas cannot split, a header
        without rows, a missing label or number, text in a number, a negative, infinite or
        absurd (beyond 1e15) dose or response.
    """
    return read_tidy_csv(path)


def _check_frame(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a tidy dose-response table; returns curve/dose/response with float columns."""
    return check_frame(df, source)


def normalize_to_controls(
    df: pd.DataFrame,
    *,
    vehicle: float | Mapping[Any, float] | pd.Series | None = None,
    blank: float | Mapping[Any, float] | pd.Series = 0.0,
    scale: float = 100.0,
) -> pd.DataFrame:
    """Express responses relative to controls: ``scale * (y - blank) / (vehicle - blank)``.

    Parameters
    ----------
    df : DataFrame
        Columns ``curve, dose, response`` (raw signal, e.g. luminescence counts).
    vehicle : float, mapping or Series indexed by curve, optional
        Mean vehicle-control signal. None: the mean response of each curve's dose-0 rows.
    blank : float, mapping or Series indexed by curve
        Mean background (no cells) signal.
    scale : float
        100 gives % viability, 1 a fraction.

    Returns
    -------
    DataFrame
        A copy with ``response`` normalised (dose-0 rows kept).

    Raises
    ------
    LeptotwinError
        If a curve has no vehicle value or its vehicle equals its blank.
    """
    src = "normalize_to_controls"
    clean = _check_frame(df, src)
    curves = clean["curve"]
    if vehicle is None:
        vehicle = clean[clean["dose"] == 0].groupby("curve", sort=False)["response"].mean()
    veh = _per_curve(vehicle, curves)
    blk = _per_curve(blank, curves)
    lacking = curves[veh.isna() | blk.isna()]
    if len(lacking):
        raise LeptotwinError(
            "no vehicle or blank value for curve",
            source=src,
            field="vehicle",
            value=lacking.iloc[0],
            expected="dose-0 rows or a value per curve",
        )
    span = (veh - blk).to_numpy(float)
    if np.any(span == 0):
        raise LeptotwinError(
            "vehicle equals blank",
            source=src,
            field="vehicle",
            value=curves[span == 0].iloc[0],
            expected="vehicle signal different from blank",
        )
    out = df.copy()
    out["response"] = scale * (clean["response"].to_numpy() - blk.to_numpy(float)) / span
    return out


def _per_curve(value: float | Mapping[Any, float] | pd.Series, curves: pd.Series) -> pd.Series:
    """One value per row of ``curves``: a scalar everywhere, else looked up by curve label
    (NaN where the mapping lacks the curve)."""
    if np.isscalar(value):
        return pd.Series(float(value), index=curves.index)  # type: ignore[arg-type]
    return curves.map(pd.Series(value))


def _factorize_curves(curve: pd.Series) -> tuple[NDArray[np.int64], pd.Index]:
    """Curve codes (0, 1, ...) and labels in order of first appearance, like ``pd.factorize``.

    Numeric labels already grouped in runs (the usual layout) are coded from the run
    boundaries without hashing every row; anything else goes to ``pd.factorize``.
    """
    values = curve.to_numpy()
    if values.dtype.kind in "iuf" and values.size:
        change = np.flatnonzero(values[1:] != values[:-1]) + 1
        firsts = values[np.concatenate(([0], change))]
        labels = pd.Index(firsts)
        if labels.is_unique and not labels.hasnans:
            codes = np.zeros(values.size, np.int64)
            codes[change] = 1
            return np.cumsum(codes), labels
    codes, uniques = pd.factorize(curve, sort=False)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


# --------------------------------------------------------------------------- the fitter
class DoseResponseFitter:
    r"""Fit an R drc dose-response model to many curves at once.

    Parameters
    ----------
    model : {"LL.4", "LL.3", "LL.2", "LL.5", "W1.4"} or DoseResponseModel
        drc model. ``LL.4``: :math:`c + (d-c)/(1+\exp(b(\log x-\log e)))`; ``e`` is the
        ED50/IC50 in the dose unit, ``c`` and ``d`` the asymptotes in the response unit,
        ``b`` the slope (> 0: decreasing).
    alpha : float
        1 - confidence level of all intervals (0.05: 95 %).
    fixed : mapping, optional
        Parameters held fixed, e.g. ``{"d": 100}`` for data normalised to 100 % at dose 0.
    se : {"hessian", "sandwich"}
        ``"hessian"``: drc's ``vcov`` (``2 s^2 H^{-1}``, ``H`` the observed Hessian of the
        RSS, ``s^2 = RSS/(n-p)``). ``"sandwich"``: HC0 sandwich, robust to unequal variances.
    ed_levels : sequence of float
        Relative effects (%) reported in :attr:`results_` as ``ED10`` etc.
    max_iter : int
        Levenberg–Marquardt iterations per start.
    multistart : bool or None
        Fit every curve from several starts and keep the lowest RSS (True); only refit curves
        whose first fit looks doubtful (False); None (default): LL.2-LL.4 and W1.4 also start
        every curve from the best point of a grid over slope and log ED50 (the linear
        parameters profiled out) and refit doubtful ones, so a curve's estimates do not depend
        on which other curves are fitted with it; other models: True.
    chunk_size : int
        Curves fitted together (memory is about ``40 * chunk_size * n_obs * p`` bytes).
    n_jobs : int or None
        Threads (one chunk each); None uses every core.
    match_drc : bool
        False (default): both signs of ``b`` are searched and the lower RSS is kept. For every
        model but LL.4 the flip ``(b, c, d) -> (-b, d, c)`` gives a different curve (W1.4 with
        ``b < 0`` and ``c > d`` is a decreasing curve of W2.4's shape, as ``W1.4(b, c, d, e)
        = W2.4(b, d, c, e)``; LL.3/LL.2 with ``b < 0`` rise from 0), so a curve's global
        optimum can lie on the side that R drc's optimiser, started from its self-starter,
        does not visit: 17 of the 52 W1.4/LL.3/LL.4/LL.5 fits of drc's reference data sets
        (W1.4 and LL.5) have a lower RSS there, e.g. ``lettuce`` W1.4 (drc's RSS is 1.21 × the
        optimum's) and ``ryegrass`` W1.4 (1.14 ×). True: search only the self-starter's side
        of ``b = 0``, which gives drc 3.2-0's answer on every reference curve (the same sign of
        ``b``, and its estimates wherever drc converged). LL.4 is unaffected (the flip is a
        symmetry).

    Attributes
    ----------
    curves_ : Index of length n_curves
        Curve labels, in order of first appearance.
    params_ : DataFrame of shape (n_curves, p)
        Estimates (NaN where the fit failed; for a flat curve ``b`` and ``e`` are NaN and
        ``c``, ``d`` its mean).
    se_ : DataFrame of shape (n_curves, p)
        Standard errors.
    cov_ : ndarray of shape (n_curves, p, p)
        Covariance matrices.
    rss_ : Series of length n_curves
        Residual sum of squares (response unit squared).
    status_ : Series of FitStatus
        Outcome per curve; ``status_.map(lambda s: s.value)`` gives the messages.
    qc_ : DataFrame, one row per curve
        See :meth:`fit`.
    results_ : DataFrame
        Long table in the format of drc reference fits: ``curve, model, param, estimate, se,
        lower, upper, rss, ok``; parameter rows get t-based Wald intervals, ED rows
        delta-method intervals.

    Notes
    -----
    Flat curves (no dose dependence): a fitted curve gets status ``FLAT``, ``ok`` False and no
    IC50 when the sigmoid's least-squares fit is no better than a constant mean by the
    extra-sum-of-squares F-test, ``F = ((TSS - RSS) / (p - 1)) / (RSS / (n - p))`` not above
    its ``1 - alpha`` quantile, or when every response is equal (``TSS`` = 0 to rounding).
    This is Prism's "compare with a horizontal line" test and the exact small-sample form of
    drc's ``noEffect()`` (a likelihood-ratio test of the same two models, asymptotically
    chi-squared). A flat curve is then reported as that constant: ``c`` and ``d`` (where free)
    are the mean response with the standard error of a mean (``n - 1`` degrees of freedom, also
    in ``df_resid_``), ``b``, ``e`` and every ED are NaN, ``rss_`` is the TSS, and
    :meth:`predict` and :meth:`plot` give the horizontal line
    at the mean. ``qc_`` keeps the sigmoid fit's ``rss``, ``r2`` and F-test, the evidence.
    """

    def __init__(
        self,
        model: str | DoseResponseModel = "LL.4",
        alpha: float = 0.05,
        *,
        fixed: Mapping[str, float] | None = None,
        se: str = "hessian",
        ed_levels: Sequence[float] = (10.0, 50.0, 90.0),
        max_iter: int = 500,
        multistart: bool | None = None,
        chunk_size: int = 20_000,
        n_jobs: int | None = None,
        match_drc: bool = False,
    ) -> None:
        alpha = check_alpha(alpha, "DoseResponseFitter")
        if se not in ("hessian", "sandwich"):
            raise LeptotwinError(
                "unknown standard-error type",
                source="DoseResponseFitter",
                field="se",
                value=se,
                expected="'hessian' or 'sandwich'",
            )
        self.model = get_model(model, fixed)
        self.alpha = alpha
        self.se = se
        self.ed_levels = tuple(float(p) for p in ed_levels)
        self.max_iter = max_iter
        self.multistart = multistart
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.match_drc = bool(match_drc)

    def __repr__(self) -> str:
        return f"<DoseResponseFitter: {self.model!r}, alpha={self.alpha}>"

    # ------------------------------------------------------------------ fit
    def fit(self, df: pd.DataFrame) -> DoseResponseFitter:
        """Fit every curve of ``df``.

        Parameters
        ----------
        df : DataFrame
            One row per observation; columns ``curve`` (label), ``dose`` (>= 0) and
            ``response`` (NaN responses are dropped as missing wells).

        Returns
        -------
        self
            With ``params_``, ``se_``, ``cov_``, ``rss_``, ``status_``, ``qc_`` and
            ``results_``. ``qc_`` has one row per curve: ``status``, ``ok``, ``n_obs``,
            ``n_doses``, ``df_resid``, ``rss``, ``r2``, ``f_stat`` and ``f_pvalue`` (the sigmoid
            fit: residual degrees of freedom ``n - p``, RSS, R² and the F-test of the model
            against a constant mean), ``flat`` (no dose dependence, see "Flat curves" in the
            class docstring; status ``flat``), ``ic50`` (ED50; NaN for a flat curve),
            ``ic50_in_range`` (within the tested positive doses), ``dose_min``, ``dose_max``,
            ``auc``, ``aac`` (see :meth:`auc`) and ``se_ok`` (covariance available).

        Raises
        ------
        LeptotwinError
            Missing or duplicated columns, non-numeric values, negative, missing or absurd
            (beyond 1e15) doses, infinite or absurd (beyond ±1e15) responses, no response at
            all; the message names the column, the row and the value. A curve that cannot be
            fitted (e.g. one dose) does not raise: it gets status ``INSUFFICIENT_DATA`` and NaN
            estimates; a curve without dose dependence gets ``FLAT`` (see Notes).
        """
        clean = _check_frame(df, _SRC)
        codes, labels = _factorize_curves(clean["curve"])
        dose = clean["dose"].to_numpy()
        resp = clean["response"].to_numpy()
        keep = ~np.isnan(resp)
        if not keep.all():  # masking copies 3 x n_obs values: only when a response is missing
            codes, dose, resp = codes[keep], dose[keep], resp[keep]
        self.curves_ = pd.Index(labels, name="curve")
        self._batch = make_batch(codes, dose, resp, len(labels))
        self._sigmoid: BatchFit = fit_batch(
            self.model,
            self._batch,
            max_iter=self.max_iter,
            multistart=self.multistart,
            se=self.se,
            chunk_size=self.chunk_size,
            n_jobs=self.n_jobs,
            match_drc=self.match_drc,
        )
        self._flat = self._flat_curves(self._sigmoid)
        self._fit = self._as_flat_lines(self._sigmoid, self._flat)
        self._set_attributes()
        return self

    def _flat_curves(self, fit: BatchFit) -> NDArray[np.bool_]:
        """Fitted curves without dose dependence (see Notes in the class docstring): the F-test
        not significant at ``alpha``, or every response equal (TSS at most ``n (1e-13
        max|y|)^2``, rounding)."""
        b, p = self._batch, self.model.n_params
        fitted = (fit.status == FitStatus.CONVERGED.code) | (fit.status == FitStatus.MAX_ITER.code)
        if not fitted.any():
            return fitted
        if p < 2:  # no slope to test: only equal responses are flat
            flat = np.zeros(b.n, bool)
        else:
            dof = b.n_obs - p
            uniq, inverse = np.unique(np.maximum(dof, 1), return_inverse=True)  # few values
            crit = _f_isf(self.alpha, p - 1, uniq)[inverse]
            with np.errstate(divide="ignore", invalid="ignore"):
                f_stat = ((b.tss - fit.rss) / (p - 1)) / (fit.rss / dof)
            flat = fitted & ~(f_stat > crit)
        # equal responses: only curves whose TSS is tiny on the scale of the whole batch can be
        # (max|y| per curve is then computed for those alone, not for millions of curves)
        y_big = max(float(b.y.max(initial=0.0)), -float(b.y.min(initial=0.0)))
        tiny = np.flatnonzero(fitted & ~flat & (b.tss <= b.n_obs * (1e-13 * y_big) ** 2))
        if tiny.size:
            scale = np.abs(b.y[tiny]).max(axis=1)
            flat[tiny] = b.tss[tiny] <= b.n_obs[tiny] * (1e-13 * scale) ** 2
        return flat

    def _as_flat_lines(self, fit: BatchFit, flat: NDArray[np.bool_]) -> BatchFit:
        """``fit`` with the flat curves replaced by their constant mean (c = d = mean, b, e NaN,
        RSS = TSS, covariance of c and d = variance of the mean) and status ``FLAT``."""
        b = self._batch
        self._flat_mean = np.full(b.n, np.nan)
        if not flat.any():
            return fit
        n = b.n_obs[flat].astype(float)
        mean = np.einsum("nm,nm->n", b.y[flat], b.w[flat]) / n
        var_mean = b.tss[flat] / (n - 1.0) / n
        self._flat_mean[flat] = mean
        params, cov = fit.params.copy(), fit.cov.copy()
        params[flat] = np.nan
        cov[flat] = np.nan
        linear = [i for i, name in enumerate(self.model.names) if name in ("c", "d")]
        for i in linear:
            params[flat, i] = mean
            for j in linear:
                cov[flat, i, j] = var_mean
        status = fit.status.copy()
        status[flat] = FitStatus.FLAT.code
        return BatchFit(params, cov, np.where(flat, b.tss, fit.rss), status, fit.n_iter)

    def _set_attributes(self) -> None:
        fit, names, idx = self._fit, list(self.model.names), self.curves_
        self.params_ = pd.DataFrame(fit.params, index=idx, columns=names)
        se = np.sqrt(np.diagonal(fit.cov, axis1=1, axis2=2))
        self.se_ = pd.DataFrame(se, index=idx, columns=names)
        self.cov_ = fit.cov
        self.rss_ = pd.Series(fit.rss, index=idx, name="rss")
        self.status_ = pd.Series(
            _STATUS_OBJECTS[fit.status], index=idx, name="status", dtype=object
        )
        self.df_resid_ = pd.Series(
            np.where(self._flat, self._batch.n_obs - 1, self._batch.n_obs - self.model.n_params),
            index=idx,
        )
        self._qc: pd.DataFrame | None = None
        self._results: pd.DataFrame | None = None

    @property
    def qc_(self) -> pd.DataFrame:
        """One row per curve (see :meth:`fit`); built on first access and kept."""
        self._check_fitted()
        if self._qc is None:
            self._qc = self._quality_control()
        return self._qc

    @property
    def results_(self) -> pd.DataFrame:
        """drc's long table (see the class docstring); built on first access and kept: for a
        million curves it is seven million rows, so a fit that only needs ``params_`` or
        ``ed()`` does not pay for it."""
        self._check_fitted()
        if self._results is None:
            self._results = self._results_table()
        return self._results

    def _check_fitted(self) -> None:
        if not hasattr(self, "_fit"):
            raise LeptotwinError(
                "the fitter has not been fitted",
                source="DoseResponseFitter",
                expected="call .fit(df) first",
            )

    def _tq(self) -> Array:
        """t quantile (n - p degrees of freedom) per curve for 1 - alpha intervals."""
        dof = self.df_resid_.to_numpy().astype(float)
        uniq, inverse = np.unique(dof, return_inverse=True)  # few distinct values
        with np.errstate(invalid="ignore"):
            return _t_ppf(1 - self.alpha / 2, np.where(uniq > 0, uniq, np.nan))[inverse]

    # ------------------------------------------------------------------ effective doses
    def ed(
        self,
        levels: float | Sequence[float] = (10.0, 50.0, 90.0),
        *,
        kind: str = "relative",
    ) -> pd.DataFrame:
        """Effective doses with delta-method intervals on the dose scale (drc ``ED``).

        Parameters
        ----------
        levels : float or sequence of float
            ``kind="relative"``: effects in % (drc ``ED(fit, c(10, 50, 90),
            interval = "delta")``): ED p is the dose where the curve has moved p % of the
            way from its dose-0 asymptote to its infinite-dose asymptote.
            ``kind="absolute"``: response levels (response unit); the dose where the curve
            crosses that level (absolute IC x), NaN if it never does.
        kind : {"relative", "absolute"}

        Returns
        -------
        DataFrame
            Columns ``curve, param, estimate, se, lower, upper`` (dose unit); ``param`` is
            ``ED{p}`` or ``dose@{level}``. Intervals: estimate ± t(1 - alpha/2, n - p) · se.
        """
        self._check_fitted()
        if kind not in ("relative", "absolute"):
            raise LeptotwinError(
                "unknown effective-dose kind",
                source="DoseResponseFitter.ed",
                field="kind",
                value=kind,
                expected="'relative' or 'absolute'",
            )
        levels = [levels] if np.isscalar(levels) else list(levels)  # type: ignore[list-item]
        names, est, se = self._effective_doses(levels, kind)
        tq = self._tq()
        n = len(self.curves_)
        return pd.DataFrame(
            {
                "curve": np.tile(self.curves_.to_numpy(), len(levels)),
                "param": np.repeat(np.array(names, dtype=object), n),
                "estimate": est.ravel(),
                "se": se.ravel(),
                "lower": (est - tq * se).ravel(),
                "upper": (est + tq * se).ravel(),
            }
        )

    def _effective_doses(self, levels: list[float], kind: str) -> tuple[list[str], Array, Array]:
        """Names, estimates and delta-method SEs (each (len(levels), n_curves)) of ED levels.

        Relative EDs of a model with a fixed asymmetry use the exact gradient of
        ``ED = e exp(u_q / b)`` (``dED/db = -ED u_q / b^2``, ``dED/de = ED / e``); other cases
        the central differences of :func:`delta_method`.
        """
        model, params, cov = self.model, self._fit.params, self._fit.cov
        names, ests, ses = [], [], []
        exact = kind == "relative" and "f" not in model.names and {"b", "e"} <= set(model.names)
        for lev in levels:
            if kind == "relative":
                if not 0 < lev < 100:
                    raise LeptotwinError(
                        "relative effect outside (0, 100)",
                        source="DoseResponseFitter.ed",
                        field="levels",
                        value=lev,
                        expected="percentages such as 50",
                    )
                names.append(f"ED{lev:g}")
            else:
                names.append(f"dose@{lev:g}")
            if exact:
                ib, ie = model.names.index("b"), model.names.index("e")
                b, e = params[:, ib], params[:, ie]
                f_fixed = np.array([model.fixed.get("f", 1.0)])
                u_dec, u_inc = model._g_inverse(np.array([1 - lev / 100, lev / 100]), f_fixed)
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    u = np.where(b > 0, u_dec, u_inc)
                    est = e * np.exp(u / b)
                    grad_b = -est * u / b**2
                    grad_e = est / e
                    var = (
                        grad_b**2 * cov[:, ib, ib]
                        + 2 * grad_b * grad_e * cov[:, ib, ie]
                        + grad_e**2 * cov[:, ie, ie]
                    )
                    se = np.sqrt(np.where(var >= 0, var, np.nan))
            else:
                if kind == "relative":
                    fun = (lambda q: lambda p: np.exp(model.log_ed(p, q)))(lev)
                else:
                    fun = (lambda q: lambda p: np.exp(model.log_dose_at_level(p, q)))(lev)
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    est, se = delta_method(fun, params, cov)
            ests.append(est)
            ses.append(se)
        return (
            names,
            np.array(ests).reshape(len(levels), -1),
            np.array(ses).reshape(len(levels), -1),
        )

    # ------------------------------------------------------------------ curve areas
    def auc(self) -> pd.DataFrame:
        """Normalised areas under and above the fitted curves.

        Convention: the integral runs over the tested positive doses on the log scale and is
        divided by the length of that log-dose interval, so ``auc`` is the mean fitted response
        over the tested log-dose range (response unit; 100 = no effect for % viability data;
        a flat curve's mean response), and ``aac = response at dose 0 - auc`` (fitted dose-0
        asymptote: ``d`` if ``b > 0``, else ``c``; 0 for a flat curve) is the mean effect.
        For % viability data, ``auc / 100`` is the fraction-scale AUC of PharmacoGx/CTRP-style
        analyses. NaN for fewer than two positive doses.

        Returns
        -------
        DataFrame indexed by curve, columns ``auc``, ``aac``.
        """
        self._check_fitted()
        b = self._batch
        params = self._fit.params
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            mean = self.model.mean_response(params, b.t_lo, b.t_hi)
            top = self.model.predict(params, np.zeros((len(params), 1)))[:, 0]
        if self._flat.any():  # the horizontal line: its mean everywhere, no effect
            flat_ok = self._flat & (b.t_hi > b.t_lo)
            mean = np.where(flat_ok, self._flat_mean, np.where(self._flat, np.nan, mean))
            top = np.where(self._flat, self._flat_mean, top)
        return pd.DataFrame({"auc": mean, "aac": top - mean}, index=self.curves_)

    # ------------------------------------------------------------------ QC
    def _quality_control(self) -> pd.DataFrame:
        b, fit, p = self._batch, self._fit, self.model.n_params
        sig = self._sigmoid  # rss, r2 and F-test of the sigmoid fit (also for flat curves)
        dof = b.n_obs - p
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = 1.0 - sig.rss / b.tss
            f_stat = ((b.tss - sig.rss) / (p - 1)) / (sig.rss / dof)
            f_p = np.where(dof > 0, _f_sf(f_stat, p - 1, np.maximum(dof, 1)), np.nan)
        with np.errstate(over="ignore", invalid="ignore"):
            log_ed50 = self.model.log_ed(fit.params, 50.0)
            ed50 = np.exp(log_ed50)
        areas = self.auc()
        return pd.DataFrame(
            {
                "model": self.model.name,
                "status": _STATUS_NAMES[fit.status],
                "ok": fit.status == FitStatus.CONVERGED.code,
                "n_obs": b.n_obs,
                "n_doses": b.n_doses,
                "df_resid": dof,
                "rss": sig.rss,
                "r2": r2,
                "f_stat": f_stat,
                "f_pvalue": f_p,
                "flat": self._flat,
                "ic50": ed50,
                "ic50_in_range": (log_ed50 >= b.t_lo) & (log_ed50 <= b.t_hi),
                "dose_min": np.exp(b.t_lo),
                "dose_max": np.exp(b.t_hi),
                "auc": areas["auc"].to_numpy(),
                "aac": areas["aac"].to_numpy(),
                "se_ok": np.isfinite(fit.cov).all(axis=(1, 2)),
                "n_iter": fit.n_iter,
            },
            index=self.curves_,
        )

    # ------------------------------------------------------------------ tables
    def _results_table(self) -> pd.DataFrame:
        """Rows per curve: parameters, then ED levels; built as (n_curves, n_rows) blocks.

        ``model`` and ``param`` are categorical columns (the same values as strings, without
        millions of string objects for large batches).
        """
        tq = self._tq()[:, None]
        names = list(self.model.names)
        est = [self._fit.params]
        se = [self.se_.to_numpy()]
        if self.ed_levels:
            ed_names, ed_est, ed_se = self._effective_doses(list(self.ed_levels), "relative")
            est.append(ed_est.T)
            se.append(ed_se.T)
            names += ed_names
        est_m, se_m = np.hstack(est), np.hstack(se)
        n, width = est_m.shape
        # the float columns as one (5, rows) block, filled in place (no consolidation copy)
        block = np.empty((5, n * width))
        block[0] = est_m.ravel()
        block[1] = se_m.ravel()
        np.multiply(tq, se_m, out=se_m)
        np.subtract(est_m, se_m, out=block[2].reshape(n, width))
        np.add(est_m, se_m, out=block[3].reshape(n, width))
        block[4].reshape(n, width)[:] = self._fit.rss[:, None]
        out = pd.DataFrame(block.T, columns=["estimate", "se", "lower", "upper", "rss"], copy=False)
        code_dtype = np.int8 if width < 128 else np.int64
        out.insert(0, "curve", np.repeat(self.curves_.to_numpy(), width))
        out.insert(
            1,
            "model",
            pd.Categorical.from_codes(np.zeros(n * width, np.int8), categories=[self.model.name]),
        )
        out.insert(
            2,
            "param",
            pd.Categorical.from_codes(
                np.tile(np.arange(width, dtype=code_dtype), n), categories=names
            ),
        )
        out["ok"] = np.repeat(self._fit.status == FitStatus.CONVERGED.code, width)
        return out

    @property
    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and ``1 - alpha`` intervals, indexed by (curve, param).

        Columns ``estimate, se, lower 95%, upper 95%`` (named from ``alpha``), ``rss``, ``ok``.
        """
        self._check_fitted()
        pct = f"{100 * (1 - self.alpha):g}%"
        return (
            self.results_.drop(columns="model")
            .rename(columns={"lower": f"lower {pct}", "upper": f"upper {pct}"})
            .set_index(["curve", "param"])
        )

    def print_summary(self) -> None:
        """Print the model, the number of curves and :attr:`summary`."""
        self._check_fitted()
        n_ok = int(self.qc_["ok"].sum())
        print(f"{self.model.name}: {self.model.formula}")
        print(f"{len(self.curves_)} curves, {n_ok} converged; SE: {self.se}")
        print(self.summary.to_string())

    # ------------------------------------------------------------------ predictions, plots
    def predict(self, dose: Array | Sequence[float]) -> pd.DataFrame:
        """Fitted responses, one row per curve and one column per dose (dose unit); a flat
        curve's is its mean response at every dose."""
        self._check_fitted()
        dose = np.asarray(dose, float)
        values = self._predict_rows(slice(None), dose)
        return pd.DataFrame(values, index=self.curves_, columns=dose)

    def _predict_rows(self, rows: slice | NDArray[np.int64], dose: Array) -> Array:
        """Fitted responses of ``rows`` at ``dose`` (m,): the sigmoid, or the mean of a flat
        curve."""
        params = self._fit.params[rows]
        with np.errstate(invalid="ignore"):
            values = self.model.predict(params, np.broadcast_to(dose, (len(params), dose.size)))
        flat = self._flat[rows]
        if flat.any():
            values[flat] = self._flat_mean[rows][flat][:, None]
        return values

    def fold_resistance(self, resistant: Any, sensitive: Any, *, p: float = 50.0) -> pd.Series:
        """Ratio ED p (resistant curve) / ED p (sensitive curve); see :func:`fold_resistance`."""
        return fold_resistance(self, resistant, sensitive, p=p)

    def plot(self, ax: Any = None, *, curves: Sequence[Any] | None = None) -> Any:
        """Data and fitted curves on a log dose axis; dose 0 is drawn one decade below the
        smallest positive dose (as drc does); a flat curve is the horizontal line at its mean.
        Returns the matplotlib Axes."""
        self._check_fitted()
        if ax is None:
            import matplotlib.pyplot as plt  # pyplot only to find the current axes

            ax = plt.gca()
        b = self._batch
        chosen = list(self.curves_) if curves is None else list(curves)
        lo = np.nanmin(b.t_lo) - np.log(10.0)
        hi = np.nanmax(b.t_hi)
        grid = np.exp(np.linspace(lo, hi, 200))
        for label in chosen:
            i = self.curves_.get_loc(label)
            obs = b.w[i] > 0
            x = np.where(b.zero[i], np.exp(lo), np.exp(b.t[i]))[obs]
            pts = ax.scatter(x, b.y[i][obs], s=12, label=str(label))
            line = self._predict_rows(slice(i, i + 1), grid)[0]
            ax.plot(grid, line, color=pts.get_facecolor()[0])
        ax.set_xscale("log")
        ax.set_xlabel("dose")
        ax.set_ylabel("response")
        ax.set_title(f"{self.model.name} fits")
        if len(chosen) <= 10:
            ax.legend(title="curve", fontsize="small")
        return ax


# --------------------------------------------------------------------------- comparisons
def fold_resistance(
    fitter: DoseResponseFitter, resistant: Any, sensitive: Any, *, p: float = 50.0
) -> pd.Series:
    """Fold resistance ``ED p(resistant) / ED p(sensitive)`` with a delta-method interval.

    The two curves are fitted independently, so on the log scale
    ``var(log R) = se_r^2 / ED_r^2 + se_s^2 / ED_s^2``; the interval
    ``R * exp(± t · se(log R))`` uses the t quantile with ``df_r + df_s`` degrees of freedom
    and is asymmetric on the ratio scale. ``se`` is reported on the ratio scale
    (``R · se(log R)``).

    Returns
    -------
    Series with ``estimate, se, lower, upper, log_se, df``.

    Raises
    ------
    LeptotwinError
        If a curve label is not among the fitted curves.
    """
    fitter._check_fitted()
    for label in (resistant, sensitive):
        if label not in fitter.curves_:
            raise LeptotwinError(
                "unknown curve",
                source="fold_resistance",
                field="curve",
                value=label,
                expected=f"one of {', '.join(map(str, fitter.curves_[:10]))}",
            )
    eds = fitter.ed([p]).set_index("curve")
    ed_r, ed_s = eds.loc[resistant], eds.loc[sensitive]
    dof = fitter.df_resid_[resistant] + fitter.df_resid_[sensitive]
    from leptotwin.analysis.ratios import log_ratio_ci  # scipy.stats: only here

    r = log_ratio_ci(
        ed_r["estimate"], ed_r["se"], ed_s["estimate"], ed_s["se"], df=dof, alpha=fitter.alpha
    )
    ratio, log_se = float(r["estimate"]), float(r["log_se"])
    return pd.Series(
        {
            "estimate": ratio,
            "se": ratio * log_se,
            "lower": float(r["lower"]),
            "upper": float(r["upper"]),
            "log_se": log_se,
            "df": float(dof),
        },
        name=f"ED{p:g} ratio {resistant}/{sensitive}",
    )


# --------------------------------------------------------------------------- GR metrics
def gr_values(df: pd.DataFrame, time0: float | Mapping[Any, float] | pd.Series) -> pd.DataFrame:
    """Growth-rate inhibition values (Hafner et al., Nat Methods 2016).

    ``GR(c) = 2 ** (log2(x(c) / x0) / log2(x_ctrl / x0)) - 1``, with ``x(c)`` the cell count at
    dose ``c`` at the end of the assay, ``x0`` the count at time zero and ``x_ctrl`` the mean
    count of the curve's dose-0 wells at the end.

    Parameters
    ----------
    df : DataFrame
        Columns ``curve, dose, response`` with ``response`` a cell count (or a signal
        proportional to it) at the end of the assay; each curve needs dose-0 rows.
    time0 : float, mapping or Series indexed by curve
        Count at time zero.

    Returns
    -------
    DataFrame
        Treated rows only (dose > 0): ``curve, dose, response`` with ``response`` the GR value
        (1: no effect, 0: cytostatic, < 0: cytotoxic), and ``count`` the original value.

    Raises
    ------
    LeptotwinError
        If a curve lacks controls or a time-zero count, or counts are not positive.
    """
    src = "gr_values"
    clean = _check_frame(df, src)
    ctrl = clean[clean["dose"] == 0].groupby("curve", sort=False)["response"].mean()
    x0 = _per_curve(time0, clean["curve"])
    xc = clean["curve"].map(ctrl)
    lacking = clean["curve"][x0.isna() | xc.isna()]
    if len(lacking):
        raise LeptotwinError(
            "no time-zero count or no dose-0 control for curve",
            source=src,
            field="time0",
            value=lacking.iloc[0],
            expected="a count per curve and dose-0 rows",
        )
    x = clean["response"]
    if ((x <= 0) | (x0 <= 0) | (xc <= 0)).any():
        raise LeptotwinError(
            "counts must be positive for GR values",
            source=src,
            field="response",
            expected="cell counts > 0",
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        gr = 2.0 ** (np.log2(x / x0) / np.log2(xc / x0)) - 1.0
    out = pd.DataFrame({"curve": clean["curve"], "dose": clean["dose"], "response": gr, "count": x})
    return out[out["dose"] > 0].reset_index(drop=True)


def gr_metrics(
    df: pd.DataFrame,
    time0: float | Mapping[Any, float] | pd.Series,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """GR50, GRmax, GRinf, GEC50, h_GR and GR_AOC per curve (Hafner et al. 2016).

    GR values (:func:`gr_values`) are fitted with ``GR(c) = GRinf + (1 - GRinf) / (1 +
    (c / GEC50) ** h)``, i.e. drc ``LL.4`` with ``d`` fixed at 1 (``c = GRinf``,
    ``e = GEC50``, ``b = h_GR``). ``GR50`` is the dose where the fit crosses GR = 0 (NaN if it
    does not), ``GRmax`` the fitted GR at the highest tested dose, ``GR_AOC`` the mean of
    ``1 - GR`` over the tested log-dose range (fitted curve), and ``flat`` the F-test of the
    fit against a constant at level ``alpha``.

    Returns
    -------
    DataFrame indexed by curve.
    """
    values = gr_values(df, time0)
    fitter = DoseResponseFitter("LL.4", alpha, fixed={"d": 1.0}, ed_levels=()).fit(values)
    par = fitter.params_
    gr50 = fitter.ed([0.0], kind="absolute").set_index("curve")
    top_dose = fitter.qc_["dose_max"].to_numpy()
    with np.errstate(invalid="ignore"):
        grmax = fitter.model.predict(par.to_numpy(), top_dose[:, None])[:, 0]
    grmax = np.where(fitter.qc_["flat"].to_numpy(bool), fitter._flat_mean, grmax)
    return pd.DataFrame(
        {
            "GR50": gr50["estimate"],
            "GR50_lower": gr50["lower"],
            "GR50_upper": gr50["upper"],
            "GRmax": grmax,
            "GRinf": par["c"],
            "GEC50": par["e"],
            "h_GR": par["b"],
            "GR_AOC": 1.0 - fitter.qc_["auc"],
            "flat": fitter.qc_["flat"],
            "ok": fitter.qc_["ok"],
        },
        index=fitter.curves_,
    )
