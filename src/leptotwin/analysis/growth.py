"""Tumour growth from bioluminescence imaging (BLI): reading exports, growth curves, summaries
and a mixed-effects comparison of arms.

Works on real exports as well as on the virtual IVIS of :mod:`leptotwin.assays.bli`. BLI flux
spans orders of magnitude, so everything is analysed on the log10 scale: per-arm summaries are
geometric means with t-based confidence intervals of the mean log10 flux, fold changes are taken
from each mouse's baseline (its first imaging day), and arms are compared by the slopes of
log10 flux over time in a linear mixed model with a random intercept and slope per mouse
(statsmodels ``mixedlm``, REML, Wald intervals).

Input table (tidy): one row per mouse per imaging day with ``mouse, arm, day, total_flux_p_s``.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from leptotwin._checks import check_alpha, check_reference
from leptotwin.errors import LeptotwinError
from leptotwin.formats.mouse_table import check_mouse_day_table

__all__ = [
    "compare_growth",
    "end_of_study_fold_change",
    "fit_mixedlm",
    "geometric_mean_ci",
    "growth_curves",
    "plot_growth",
    "read_bli",
    "relapse_times",
    "summarize_growth",
]

_TIDY = ("mouse", "arm", "day", "total_flux_p_s")
# IVIS / Living Image export: column used for each tidy field, with accepted alternatives
_IVIS_ALIASES: dict[str, tuple[str, ...]] = {
    "mouse": ("animal number", "animal id", "animal", "mouse", "mouse id", "subject"),
    "arm": ("group", "treatment", "arm", "cohort"),
    "day": ("time point", "timepoint", "day", "days"),
}
_DAY = re.compile(r"^\s*(?:day|d)?\s*[-_ ]?\s*([-+]?\d+(?:[.,]\d*)?)\s*(?:d|days?)?\s*$", re.I)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "")).strip().lower()


def _read_text(p: Path) -> str:
    raw = p.read_bytes()
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")  # pragma: no cover - cp1252 decodes almost everything


def read_bli(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read BLI measurements: the tidy CSV or an IVIS / Living Image ROI export.

    The format is recognised from the header: a ``total_flux_p_s`` column means the tidy format
    (``mouse, arm, day, total_flux_p_s``); a ``Total Flux [p/s]`` column means an IVIS-like
    export, where the mouse comes from ``Animal Number`` (or ``Mouse``, ``Animal``, ``Subject``),
    the arm from ``Group`` (or ``Treatment``, ``Arm``, ``Cohort``) and the day from
    ``Time Point`` (or ``Day``; values like ``Day 7``, ``d7``, ``7``). Lines above the header
    (metadata) are skipped. Comma, semicolon or tab separators are recognised; a decimal comma is
    accepted when the separator is not a comma.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    DataFrame
        ``mouse`` (str), ``arm`` (str), ``day`` (float), ``total_flux_p_s`` (float), in file order.

    Raises
    ------
    LeptotwinError
        Missing file, no recognisable header, a missing column, a non-numeric flux or day, a
        missing mouse or arm label, duplicated mouse-day rows (e.g. several ROIs per image), or a
        mouse in two arms. The message names the file, column and first offending row.
    """
    p = Path(path)
    source = str(p)
    if not p.is_file():
        raise LeptotwinError("file not found", source=source)
    lines = _read_text(p).splitlines()
    header_at = next(
        (
            i
            for i, line in enumerate(lines)
            if "total_flux_p_s" in line.lower() or "total flux" in line.lower()
        ),
        None,
    )
    if header_at is None:
        raise LeptotwinError(
            "no BLI header found",
            source=source,
            field="total flux column",
            expected="a 'total_flux_p_s' (tidy) or 'Total Flux [p/s]' (IVIS export) column",
        )
    header = lines[header_at]
    sep = "\t" if "\t" in header else (";" if header.count(";") > header.count(",") else ",")
    try:
        raw = pd.read_csv(
            StringIO("\n".join(lines[header_at:])),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise LeptotwinError(f"cannot parse table: {exc}", source=source) from None
    raw.columns = [str(c).replace("\ufeff", "").strip() for c in raw.columns]
    # drop empty trailing lines/columns that spreadsheet exports leave behind
    if len(raw):
        blank = raw.fillna("").astype(str).agg("".join, axis=1).str.strip() == ""
        raw = raw.loc[~blank.to_numpy()]
    if raw.empty:
        raise LeptotwinError("no data rows below the header", source=source)
    norm = {_norm(c): c for c in raw.columns}
    first_data_line = header_at + 2  # 1-based line number of the first data row

    if "total_flux_p_s" in norm:
        missing = [c for c in _TIDY if c not in norm]
        if missing:
            raise LeptotwinError(
                "tidy BLI file lacks columns",
                source=source,
                field=", ".join(missing),
                expected="columns " + ", ".join(_TIDY),
            )
        cols = {k: norm[k] for k in _TIDY}
    else:
        flux_col = next((c for k, c in norm.items() if k.startswith("total flux")), None)
        if flux_col is None:  # pragma: no cover - the header search guarantees it
            raise LeptotwinError("no total flux column", source=source, field="Total Flux [p/s]")
        cols = {"total_flux_p_s": flux_col}
        for key, aliases in _IVIS_ALIASES.items():
            col = next((norm[a] for a in aliases if a in norm), None)
            if col is None:
                raise LeptotwinError(
                    f"IVIS export lacks the {key} column",
                    source=source,
                    field=aliases[0].title(),
                    expected="one of " + ", ".join(a.title() for a in aliases),
                )
            cols[key] = col

    out = pd.DataFrame(index=raw.index)
    for key in ("mouse", "arm"):
        labels = raw[cols[key]].astype(str).str.strip()
        empty = labels == ""
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise LeptotwinError(
                f"missing {key} label on line {first_data_line + row}",
                source=source,
                field=cols[key],
            )
        out[key] = labels
    out["day"] = _parse_numbers(
        raw[cols["day"]], source, cols["day"], sep, first_data_line, day=True
    )
    out["total_flux_p_s"] = _parse_numbers(
        raw[cols["total_flux_p_s"]], source, cols["total_flux_p_s"], sep, first_data_line
    )
    return _check_table(out.reset_index(drop=True), source)


def _parse_numbers(
    col: pd.Series, source: str, name: str, sep: str, first_line: int, *, day: bool = False
) -> np.ndarray:
    values = np.empty(len(col))
    for i, text in enumerate(col.astype(str)):
        t = text.strip()
        if day:
            m = _DAY.match(t)
            t = m.group(1) if m else t
        if sep != "," and "," in t and "." not in t:
            t = t.replace(",", ".")
        try:
            v = float(t)
        except ValueError:
            v = math.nan
        if not math.isfinite(v):
            raise LeptotwinError(
                f"non-numeric value on line {first_line + i}",
                source=source,
                field=name,
                value=text,
                expected="a day number (e.g. 'Day 7', 'd7', '7')" if day else "a number",
            )
        values[i] = v
    return values


def _check_table(df: pd.DataFrame, source: str, *, positive: bool = False) -> pd.DataFrame:
    """Validate a tidy BLI table; return a clean copy (mouse, arm as str; day, flux as float)."""
    out = check_mouse_day_table(df, "total_flux_p_s", source=source, what="BLI table")
    if positive and (out["total_flux_p_s"] <= 0).any():
        raise LeptotwinError(
            "flux must be positive for the log scale",
            source=source,
            field="total_flux_p_s",
            value=float(out["total_flux_p_s"].min()),
            expected="> 0, or pass floor_p_s (e.g. the background flux) to floor low values",
        )
    return out


# ---------------------------------------------------------------------------------------------
# curves and summaries
# ---------------------------------------------------------------------------------------------
def growth_curves(df: pd.DataFrame, *, floor_p_s: float | None = None) -> pd.DataFrame:
    """Per-mouse growth curves on the log scale, with fold change from baseline.

    Parameters
    ----------
    df : DataFrame
        ``mouse, arm, day, total_flux_p_s``.
    floor_p_s : float, optional
        Detection floor (e.g. the background flux of an empty ROI): fluxes below it are raised to
        it and flagged in ``floored``. Without a floor every flux must be > 0.

    Returns
    -------
    DataFrame
        One row per mouse and day, sorted by arm (first appearance), mouse and day:
        ``mouse, arm, day, total_flux_p_s, floored, log10_flux, baseline_day,
        baseline_flux_p_s, fold_change, log10_fold_change``. The baseline is each mouse's first
        imaging day (fold change 1 there).

    Raises
    ------
    LeptotwinError
        Missing columns, non-numeric values, duplicated mouse-day rows, a mouse in two arms,
        a flux <= 0 without a floor, an invalid floor.
    """
    source = "growth_curves"
    if floor_p_s is not None:
        floor = float(floor_p_s)
        if not (math.isfinite(floor) and floor > 0):
            raise LeptotwinError(
                "floor must be a positive number", source=source, field="floor_p_s", value=floor_p_s
            )
    t = _check_table(df, source, positive=floor_p_s is None)
    arm_order = {a: i for i, a in enumerate(pd.unique(t["arm"]))}
    t = (
        t.assign(_arm=t["arm"].map(arm_order))
        .sort_values(["_arm", "mouse", "day"], kind="stable")
        .drop(columns="_arm")
        .reset_index(drop=True)
    )
    flux = t["total_flux_p_s"].to_numpy()
    if floor_p_s is not None:
        t["floored"] = flux < float(floor_p_s)
        flux = np.maximum(flux, float(floor_p_s))
    else:
        t["floored"] = False
    t["total_flux_p_s"] = flux
    t["log10_flux"] = np.log10(flux)
    first = t.groupby("mouse", sort=False).head(1).set_index("mouse")
    t["baseline_day"] = t["mouse"].map(first["day"]).astype(float)
    t["baseline_flux_p_s"] = t["mouse"].map(first["total_flux_p_s"]).astype(float)
    t["log10_fold_change"] = t["log10_flux"] - np.log10(t["baseline_flux_p_s"])
    t["fold_change"] = 10.0 ** t["log10_fold_change"]
    cols = [
        "mouse",
        "arm",
        "day",
        "total_flux_p_s",
        "floored",
        "log10_flux",
        "baseline_day",
        "baseline_flux_p_s",
        "fold_change",
        "log10_fold_change",
    ]
    return t.loc[:, cols]


def _geo_ci(
    mean: np.ndarray, sd: np.ndarray, n: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometric mean and t-based CI from the mean, SD (ddof 1) and count of log10 values,
    elementwise (CI NaN for n < 2)."""
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(1 - alpha / 2, np.where(n >= 2, n - 1, np.nan))
        half = t * np.asarray(sd, float) / np.sqrt(n)
    return 10.0**mean, 10.0 ** (mean - half), 10.0 ** (mean + half)


def geometric_mean_ci(values: Any, *, alpha: float = 0.05) -> tuple[float, float]:
    """(1 - alpha) t interval of the geometric mean of positive values, as in
    :func:`summarize_growth` (non-positive and non-finite values dropped; NaN for fewer than
    two)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.asarray(values, float))
    logs = logs[np.isfinite(logs)]
    if logs.size < 2:
        return (math.nan, math.nan)
    _, lo, hi = _geo_ci(logs.mean(), np.std(logs, ddof=1), logs.size, check_alpha(alpha, "alpha"))
    return (float(lo), float(hi))


def summarize_growth(
    df: pd.DataFrame, *, alpha: float = 0.05, floor_p_s: float | None = None
) -> pd.DataFrame:
    """Per-arm, per-day geometric means with (1 - alpha) confidence intervals.

    The CI is the t interval of the mean log10 value back-transformed (n - 1 degrees of freedom);
    with a single mouse on a day the bounds are NaN (n is reported).

    Returns
    -------
    DataFrame
        ``arm, day, n, geomean_flux_p_s, flux_lower, flux_upper, geomean_fold_change,
        fold_change_lower, fold_change_upper``; arms in order of first appearance, days ascending.
    """
    a = check_alpha(alpha, "summarize_growth")
    curves = growth_curves(df, floor_p_s=floor_p_s)
    g = curves.groupby(["arm", "day"], sort=False)[["log10_flux", "log10_fold_change"]]
    mean, sd, n = g.mean(), g.std(ddof=1), g.size().to_numpy()
    out = mean.index.to_frame(index=False)
    out["n"] = n
    for col, names in (
        ("log10_flux", ("geomean_flux_p_s", "flux_lower", "flux_upper")),
        ("log10_fold_change", ("geomean_fold_change", "fold_change_lower", "fold_change_upper")),
    ):
        values = _geo_ci(mean[col].to_numpy(), sd[col].to_numpy(), n, a)
        for name, v in zip(names, values, strict=True):
            out[name] = v
    arm_order = {arm: i for i, arm in enumerate(pd.unique(curves["arm"]))}
    out = out.assign(_a=out["arm"].map(arm_order)).sort_values(["_a", "day"], kind="stable")
    return out.drop(columns="_a").reset_index(drop=True).astype({"n": int})


def end_of_study_fold_change(
    df: pd.DataFrame,
    *,
    day: float | None = None,
    alpha: float = 0.05,
    floor_p_s: float | None = None,
) -> pd.DataFrame:
    """Fold change of flux from baseline at the end of the study, per arm.

    Parameters
    ----------
    day : float, optional
        The imaging day to evaluate; the last imaging day in the data by default. Mice without
        an image on that day (died or were removed) are counted in ``n_missing``, not imputed.

    Returns
    -------
    DataFrame
        ``arm, day, n, n_missing, geomean_fold_change, lower, upper, min_fold_change,
        max_fold_change`` (one row per arm; CI as in :func:`summarize_growth`; an arm with no
        mouse imaged on ``day`` has n = 0 and NaN values).
    """
    source = "end_of_study_fold_change"
    a = check_alpha(alpha, source)
    curves = growth_curves(df, floor_p_s=floor_p_s)
    end = float(curves["day"].max()) if day is None else float(day)
    if not (curves["day"] == end).any():
        raise LeptotwinError(
            "no image on that day",
            source=source,
            field="day",
            value=day,
            expected="one of " + ", ".join(f"{d:g}" for d in sorted(curves["day"].unique())),
        )
    rows = []
    for arm, g in curves.groupby("arm", sort=False):
        at = g[g["day"] == end]
        n_mice = g["mouse"].nunique()
        if at.empty:
            rows.append((arm, end, 0, n_mice, math.nan, math.nan, math.nan, math.nan, math.nan))
            continue
        logs = at["log10_fold_change"].to_numpy()
        sd = np.std(logs, ddof=1) if logs.size > 1 else math.nan
        gm, lo, hi = (float(v) for v in _geo_ci(logs.mean(), sd, logs.size, a))
        fc = at["fold_change"]
        rows.append((arm, end, len(at), n_mice - len(at), gm, lo, hi, fc.min(), fc.max()))
    cols = [
        "arm",
        "day",
        "n",
        "n_missing",
        "geomean_fold_change",
        "lower",
        "upper",
        "min_fold_change",
        "max_fold_change",
    ]
    return pd.DataFrame(rows, columns=cols).astype({"n": int, "n_missing": int})


def relapse_times(flux: pd.DataFrame, start_day: float) -> pd.DataFrame:
    """Time to relapse under a treatment started on ``start_day``, per mouse.

    Parameters
    ----------
    flux : DataFrame
        Tidy BLI table (``mouse, arm, day, total_flux_p_s``; days and ``start_day`` in days
        after inoculation).
    start_day : float
        Treatment start; its pre-treatment image is the one taken within half a day of it (an
        export rounds days), else the last one before it.

    Returns
    -------
    DataFrame
        One row per mouse, in the order the mice first appear in time: ``mouse, arm,
        pre_flux_p_s, nadir_flux_p_s, fold_fall`` (pre-treatment over nadir flux),
        ``time_days`` (days after ``start_day`` of the first image after the nadir whose flux
        exceeds the pre-treatment flux, else of the last image) and ``event`` (1 relapsed,
        0 censored) — the input of :func:`leptotwin.analysis.survival.median_survival`. Mice
        without an image on or after ``start_day`` are left out.
    """
    f = flux.sort_values("day")
    mice = f["mouse"].unique()  # output order: as the mice first appear in time
    # the pre-treatment image: the imaging day at the start as the export writes it (days are
    # rounded there, and a drawn start day need not be a whole day), else the last one before
    days = np.sort(f["day"].unique())
    near = days[np.abs(days - start_day) <= 0.5]
    before = days[days <= start_day]
    pre_day = float(near[0]) if near.size else float(before.max()) if before.size else start_day
    pre = f[f["day"] == pre_day].groupby("mouse")["total_flux_p_s"].first()
    after = f[(f["day"] > pre_day) & f["mouse"].isin(pre.index)]
    by_mouse = after.groupby("mouse")
    nadir_row = after.loc[by_mouse["total_flux_p_s"].idxmin()].set_index("mouse")
    back = after[
        (after["day"] > after["mouse"].map(nadir_row["day"]))
        & (after["total_flux_p_s"] > after["mouse"].map(pre))
    ]
    first_back = back.groupby("mouse")["day"].min()
    out = pd.DataFrame(
        {
            "arm": by_mouse["arm"].first(),
            "pre_flux_p_s": pre.astype(float),
            "nadir_flux_p_s": nadir_row["total_flux_p_s"].astype(float),
        }
    ).dropna(subset=["arm"])
    out["fold_fall"] = out["pre_flux_p_s"] / out["nadir_flux_p_s"]
    out["time_days"] = first_back.reindex(out.index).fillna(by_mouse["day"].max()) - start_day
    out["event"] = out.index.isin(first_back.index).astype(int)
    out = out.reindex([m for m in mice if m in out.index])
    return out.rename_axis("mouse").reset_index()


# ---------------------------------------------------------------------------------------------
# mixed model
# ---------------------------------------------------------------------------------------------
_COMPARE_COLUMNS = [
    "arm",
    "reference",
    "n_mice",
    "slope_log10_per_day",
    "slope_lower",
    "slope_upper",
    "diff_slope",
    "diff_lower",
    "diff_upper",
    "p_value",
    "model",
    "converged",
    "message",
]


# statsmodels warnings that make a mixed-model fit unusable. "The MLE may be on the boundary" is
# not among them: statsmodels raises it whenever a random-effect variance is < 0.01 in absolute
# units, which says nothing about convergence; it is passed on in ``message``.
_FAILED = ("optimization failed", "not positive definite", "singular")


def fit_mixedlm(
    data: pd.DataFrame,
    formula: str,
    *,
    re_formula: str | None = "~t",
    method: str = "lbfgs",
    reml: bool = True,
    diagonal: bool = False,
) -> tuple[Any, bool, list[str]]:
    """One statsmodels ``mixedlm`` fit of ``formula`` with groups ``data["mouse"]``.

    The fitting step shared by :func:`compare_growth` and the population growth model
    (:mod:`leptotwin.calibration.population_growth`). ``re_formula`` is the random-effects
    design (``"~t"``: intercept and slope per mouse; None: intercept only), ``method`` the
    optimiser, ``reml`` REML (True) or maximum likelihood, ``diagonal`` fixes the covariances
    of the random effects at 0 (a diagonal covariance matrix). Warnings raised by statsmodels
    are recorded, not propagated.

    Returns
    -------
    (results, usable, notes)
        ``results`` is None when statsmodels raised (``notes``: the exception's text). Usable:
        converged, finite positive variances of the fixed effects and none of the warnings
        that make a fit unusable (a failed optimisation, a Hessian that is not positive
        definite, a singular covariance); ``notes`` are then the boundary warnings, else those
        failure warnings (empty when the optimiser merely did not converge).
    """
    import statsmodels.formula.api as smf

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = smf.mixedlm(formula, data, groups=data["mouse"], re_formula=re_formula)
            free = None
            if diagonal and model.k_re > 1:
                from statsmodels.regression.mixed_linear_model import MixedLMParams

                free = MixedLMParams.from_components(np.ones(model.k_fe), np.eye(model.k_re))
            res = model.fit(reml=reml, method=[method], free=free)
            fe_cov = np.asarray(res.cov_params())[: res.k_fe, : res.k_fe]
            ok = bool(res.converged) and bool(np.all(np.isfinite(fe_cov)))
            ok = ok and bool(np.all(np.diag(fe_cov) > 0))
        except (np.linalg.LinAlgError, ValueError) as exc:
            return None, False, [str(exc)]
    texts = [str(w.message) for w in caught]
    bad = [m for m in texts if any(k in m.lower() for k in _FAILED)]
    if ok and not bad:
        return res, True, [m for m in texts if "boundary" in m.lower()]
    return res, False, bad


def _fit_attempts(data: pd.DataFrame, formula: str) -> tuple[Any, str, bool, str]:
    """Fit the mixed model, falling back when it does not converge.

    Returns (results, model description, converged, message). Warnings raised by statsmodels
    during a fit are recorded, not propagated: a failed optimisation, a Hessian that is not
    positive definite or a singular covariance makes the attempt count as not converged and the
    next, simpler model is tried.
    """
    import statsmodels.formula.api as smf

    attempts = (
        ("mixedlm: random intercept + slope per mouse", "~t", "lbfgs"),
        ("mixedlm: random intercept + slope per mouse", "~t", "powell"),
        ("mixedlm: random intercept per mouse", None, "lbfgs"),
    )
    notes: list[str] = []
    for name, re_formula, method in attempts:
        res, ok, detail = fit_mixedlm(data, formula, re_formula=re_formula, method=method)
        if res is None:
            notes.append(f"{name} ({method}): {detail[0]}")
            continue
        if ok:
            notes += [f"{name}: {m}" for m in detail]
            return res, name, True, "; ".join(dict.fromkeys(notes))
        notes.append(f"{name} ({method}): " + ("; ".join(detail) or "did not converge"))
    # last resort: ordinary least squares, standard errors clustered by mouse where possible
    groups = pd.factorize(data["mouse"])[0]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            res = smf.ols(formula, data).fit(cov_type="cluster", cov_kwds={"groups": groups})
            name = "ols: cluster-robust by mouse (mixed model failed)"
        except (ZeroDivisionError, ValueError, np.linalg.LinAlgError) as exc:
            notes.append(f"ols cluster-robust: {exc or type(exc).__name__}")
            res = smf.ols(formula, data).fit()
            name = "ols (mixed model failed; too few mice for clustered errors)"
    return res, name, False, "; ".join(notes)


def compare_growth(
    df: pd.DataFrame,
    *,
    reference: str | None = None,
    alpha: float = 0.05,
    floor_p_s: float | None = None,
) -> pd.DataFrame:
    """Compare growth rates of arms with a linear mixed model.

    Fits ``log10_flux ~ t * arm`` with ``t = day - first imaging day``, a random intercept and a
    random slope per mouse (statsmodels ``mixedlm``, REML). Each arm's slope (log10 flux per day)
    and its difference from the reference arm's slope (the arm x day interaction) are reported
    with Wald (1 - alpha) CIs and two-sided p-values (normal reference distribution, as
    statsmodels reports for ``mixedlm``). p-values are not adjusted for multiplicity.

    If the fit does not converge (or lands on the boundary, e.g. no slope variance between mice)
    it is retried with another optimiser, then with a random intercept only, and finally with
    OLS and standard errors clustered by mouse; ``model`` names the model used and ``converged``
    is False for the OLS fallback. ``message`` lists why earlier attempts were rejected.

    Parameters
    ----------
    df : DataFrame
        ``mouse, arm, day, total_flux_p_s``.
    reference : str, optional
        The arm the others are compared with; the first arm in the data by default.
    alpha : float
    floor_p_s : float, optional
        Detection floor, see :func:`growth_curves`.

    Returns
    -------
    DataFrame
        One row per arm (reference first): ``arm, reference, n_mice, slope_log10_per_day,
        slope_lower, slope_upper, diff_slope, diff_lower, diff_upper, p_value, model, converged,
        message``. The reference row has ``diff_slope = 0`` and NaN CI and p-value. A single arm
        gives one row.

    Raises
    ------
    LeptotwinError
        Bad table (see :func:`growth_curves`), unknown reference, fewer than two imaging days.
    """
    source = "compare_growth"
    a = check_alpha(alpha, source)
    curves = growth_curves(df, floor_p_s=floor_p_s)
    arms = list(pd.unique(curves["arm"]))
    ref = check_reference(reference, arms, source)
    if curves["day"].nunique() < 2:
        raise LeptotwinError(
            "growth rates need at least two imaging days",
            source=source,
            field="day",
            value=curves["day"].nunique(),
        )
    arms = [ref] + [x for x in arms if x != ref]
    # time in units of the follow-up span keeps the random-slope variance on the scale of the
    # intercept variance (better conditioned); slopes are converted back to per day below
    span = float(curves["day"].max() - curves["day"].min())
    data = pd.DataFrame(
        {
            "y": curves["log10_flux"].to_numpy(),
            "t": ((curves["day"] - curves["day"].min()) / span).to_numpy(),
            "arm": pd.Categorical(curves["arm"], categories=arms),
            "mouse": curves["mouse"].to_numpy(),
        }
    )
    formula = "y ~ t * C(arm)" if len(arms) > 1 else "y ~ t"
    res, model_name, converged, message = _fit_attempts(data, formula)
    names = list(res.model.exog_names)
    n_mice = curves.groupby("arm", sort=False)["mouse"].nunique()

    def contrast(terms: list[str]) -> tuple[float, float, float, float]:
        vec = np.zeros((1, len(names)))
        for term in terms:
            vec[0, names.index(term)] = 1.0
        with warnings.catch_warnings(record=True):  # a saturated OLS fallback has no df left
            warnings.simplefilter("always")
            tt = res.t_test(vec)
            lo, hi = np.asarray(tt.conf_int(alpha=a), dtype=float).ravel()
        est = float(np.ravel(tt.effect)[0])
        return est / span, float(lo) / span, float(hi) / span, float(np.ravel(tt.pvalue)[0])

    rows = []
    for arm in arms:
        inter = [] if arm == ref else [f"t:C(arm)[T.{arm}]"]
        slope, s_lo, s_hi, _ = contrast(["t", *inter])
        if arm == ref:
            diff = (0.0, math.nan, math.nan, math.nan)
        else:
            diff = contrast(inter)
        rows.append(
            (
                arm,
                ref,
                int(n_mice[arm]),
                slope,
                s_lo,
                s_hi,
                *diff,
                model_name,
                converged,
                message,
            )
        )
    return pd.DataFrame(rows, columns=_COMPARE_COLUMNS)


# ---------------------------------------------------------------------------------------------
# figure
# ---------------------------------------------------------------------------------------------
def plot_growth(
    df: pd.DataFrame,
    ax: Any = None,
    *,
    value: str = "flux",
    alpha: float = 0.05,
    floor_p_s: float | None = None,
) -> Any:
    """Growth curves by arm on a log axis.

    Thin lines are single mice; the thick line with markers is the arm's geometric mean and the
    band its (1 - alpha) CI (days with a single mouse have no band).

    Parameters
    ----------
    df : DataFrame
        ``mouse, arm, day, total_flux_p_s``.
    ax : matplotlib Axes, optional
        Drawn into a new figure when omitted.
    value : {"flux", "fold_change"}
        Total flux (p/s) or fold change from each mouse's baseline.

    Returns
    -------
    matplotlib Axes
    """
    if value not in ("flux", "fold_change"):
        raise LeptotwinError(
            "unknown value to plot",
            source="plot_growth",
            field="value",
            value=value,
            expected="'flux' or 'fold_change'",
        )
    import matplotlib.pyplot as plt

    curves = growth_curves(df, floor_p_s=floor_p_s)
    summary = summarize_growth(df, alpha=alpha, floor_p_s=floor_p_s)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    col = "total_flux_p_s" if value == "flux" else "fold_change"
    mean, lo, hi = (
        ("geomean_flux_p_s", "flux_lower", "flux_upper")
        if value == "flux"
        else ("geomean_fold_change", "fold_change_lower", "fold_change_upper")
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for i, (arm, g) in enumerate(curves.groupby("arm", sort=False)):
        color = colors[i % len(colors)]
        for _, m in g.groupby("mouse", sort=False):
            ax.plot(m["day"], m[col], color=color, lw=0.6, alpha=0.35)
        s = summary[summary["arm"] == arm]
        ax.plot(s["day"], s[mean], color=color, lw=2.0, marker="o", ms=4, label=str(arm))
        band = s[np.isfinite(s[lo]) & np.isfinite(s[hi])]
        if not band.empty:
            ax.fill_between(band["day"], band[lo], band[hi], color=color, alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("day")
    ax.set_ylabel("total flux [p/s]" if value == "flux" else "fold change from baseline")
    ax.legend(frameon=False, fontsize="small")
    return ax
