"""SynergyFinder's sensitivity scores: relative IC50, RI, CSS and the S synergy score.

Re-implemented from SynergyFinder 3.7.4 (``bioc/synergyfinder`` commit ``eb9ac5c``,
``R/calculate_sensitivity_score.R``: ``CalculateSensitivity``, ``CalculateCSS``,
``CalculateRI``, ``CalculateIC50``, ``.ScoreCurve``; ``R/fit_dose_response_model.R``:
``FitDoseResponse``, ``PredictResponse``) and, for the S score, from DrugComb's pipeline
(``shuyuzheng/TidyComb`` commit ``5843be3``, ``R/calculate_pipeline.R``: ``S_sum``, ``S_mean``,
``S_max``), which SynergyFinder's R code does not compute. Everything is batched over a stack of
``n`` blocks of one shape (the layout of :mod:`._synergy_core`: ``conc_r`` (n, nr), ``conc_c``
(n, nc), ascending with 0 first, and ``inhib`` (n, nr, nc) in % inhibition); drug 1 is the row
drug (SynergyFinder's ``conc1``), drug 2 the column drug.

Definitions (``f`` an LL.4 fit ``c + (d - c) / (1 + 10^(b (u - log10 e)))`` of % inhibition
against ``u = log10 dose``; every fit at its global least-squares optimum):

``IC50_k``
    ``e`` of the fit to drug k's monotherapy cells, the untreated cell included (dose 0 at the
    model's limit), capped at drug k's highest dose (``CalculateIC50``). In the dose unit.
``RI_k``
    the mean of ``f`` over ``u`` in ``[log10 min positive dose, log10 max dose]`` (the area under
    the log-dose curve divided by the width of that range, in % inhibition), ``f`` fitted to the
    monotherapy cells **without** the untreated cell (``CalculateRI`` / ``.ScoreCurve``, t = 0).
``CSS1`` (SynergyFinder ``css1_ic502``), ``CSS2`` (``css2_ic501``)
    drug 2 held at ``IC50_2``: at each positive dose of drug 1, the response predicted at
    ``IC50_2`` by an LL.4 fit across drug 2's doses in that row (0 included; a flat row gives its
    first value; predictions above ``top`` are set to ``top``), then the RI of that curve of
    drug 1. ``CSS2`` the same with the roles swapped. ``CSS`` is their mean.
``S`` (DrugComb ``S_sum``), ``S_mean``, ``S_max``
    ``CSS - (RI_1 + RI_2)``, ``CSS - mean(RI_1, RI_2)``, ``CSS - max(RI_1, RI_2)``.

Sources of S, as checked: Malyutina et al. 2019 (PLoS Comput Biol 15(5): e1006752, "Drug
combination sensitivity scoring facilitates the discovery of synergistic and efficacious drug
combinations in cancer") introduce S in words, as the deviation of the CSS from a reference
that predicts the expected inhibition from the monotherapy dose-response curves (its Fig. 1
legend; the authors' repository ``amalyutina/CSS`` README: "a synergy score based on the
difference between the drug combination and the single drug dose-response curves"); the same
group's pipeline computes it as ``S <- css - sum(col.dss, row.dss)`` (TidyComb
``R/calculate_pipeline.R``, ``CalculateMat``, where ``dss`` is the RI of ``CalculateSens``),
which is ``S`` here; DrugComb reports that value with its mean and max variants. The paper's
own methods equation could not be read here, so a different reference in it (an area
between curves, say) is not excluded; the code is what DrugComb publishes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin.analysis._synergy_core import (
    _SF_FAILED,
    _fit_ll4,
    _norm_sf,
    _synergyfinder_fits,
    ll4,
)

__all__ = [
    "PERCENT_SCORES",
    "SCORES",
    "SENSITIVITY_COLUMNS",
    "SF_ITERATIONS",
    "STATS_COLUMNS",
    "block_sensitivity",
    "concat_sensitivity",
    "empty_tables",
    "ri_from_params",
    "sensitivity_stack",
    "sf_iteration_stats",
    "sf_iterations",
]

Array = NDArray[np.float64]

#: Every score, in the order of the tables.
SCORES = ("IC50_1", "IC50_2", "RI_1", "RI_2", "CSS1", "CSS2", "CSS", "S", "S_mean", "S_max")
#: The scores in % inhibition (SynergyFinder gives p-values for these, not for the IC50s).
PERCENT_SCORES = SCORES[2:]
#: SynergyFinder's default ``iteration`` of ``CalculateSensitivity`` and ``CalculateSynergy``.
SF_ITERATIONS = 10


def ri_from_params(p: Array, lo: Array, hi: Array) -> Array:
    """Mean of the LL.4 curve ``p = (b, c, d, e)`` (shape (k, 4)) over ``log10 dose`` in
    ``[log10 lo, log10 hi]``, in the response unit (SynergyFinder's ``.ScoreCurve`` with t = 0).

    Closed form: with ``u = log10 x``, ``m = log10 e`` and ``s(u) = 1 / (1 + 10^(-b (u - m)))``,
    ``f = d + (c - d) s`` and ``s`` integrates to ``ln(1 + 10^(b (u - m))) / (b ln 10)``; the mean
    of ``s`` (or of ``1 - s``, whichever is below 1/2) is taken from softplus differences, so
    that a fit with a huge ``c`` or ``d`` outside the data (a step) loses no digits. ``b = 0``
    (a flat curve at ``(c + d) / 2``) and ``lo = hi`` (the curve's value there) are limits.
    """
    b, c, d, e = (p[:, k] for k in range(4))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u1, u2, m = np.log10(lo), np.log10(hi), np.log10(e)
        scale = b * np.log(10.0) * (u2 - u1)
        up = (np.logaddexp(0.0, b * (u2 - m) * np.log(10.0))
              - np.logaddexp(0.0, b * (u1 - m) * np.log(10.0))) / scale  # fmt: skip
        down = (np.logaddexp(0.0, -b * (u1 - m) * np.log(10.0))
                - np.logaddexp(0.0, -b * (u2 - m) * np.log(10.0))) / scale  # fmt: skip
        mean = np.where(up <= 0.5, d + (c - d) * up, c + (d - c) * down)
        flat = np.where(b == 0, 0.5 * (c + d), mean)
        point = ll4(hi, b, c, d, e)
    return np.where(u2 > u1, flat, point)


def _pad_curves(dose: list[Array], resp: list[Array]) -> tuple[Array, Array]:
    """Stack curves of different lengths (each (k_i, m_i)) into (sum k_i, max m_i); padding
    gets dose 1 and response NaN (left out of the fits)."""
    m = max(x.shape[1] for x in dose)
    out_d, out_r = [], []
    for x, y in zip(dose, resp, strict=True):
        pad = m - x.shape[1]
        out_d.append(np.pad(x, ((0, 0), (0, pad)), constant_values=1.0))
        out_r.append(np.pad(y, ((0, 0), (0, pad)), constant_values=np.nan))
    return np.concatenate(out_d), np.concatenate(out_r)


def _drc_fits(dose: Array, resp: Array) -> Array:
    """SynergyFinder's ``FitDoseResponse`` (R drc's LL.4 path, L.4 on log dose where drm
    fails) of each row, as LL.4 ``b, c, d, e``; NaN where both fail or a response is NaN."""
    out = np.full((dose.shape[0], 4), np.nan)
    good = np.isfinite(resp).all(axis=1)
    if good.any():
        _, p, path = _synergyfinder_fits(
            np.ascontiguousarray(dose[good]),
            np.ascontiguousarray(resp[good]),
            np.full(int(good.sum()), np.nan),
        )
        p[path == _SF_FAILED] = np.nan
        out[good] = p
    return out


def _fit_many(
    dose: list[Array], resp: list[Array], engine: str
) -> tuple[list[Array], list[NDArray[np.bool_]]]:
    """LL.4 fits of several sets of curves (set i: ``dose[i], resp[i]`` of shape (k_i, m_i)).

    ``engine="global"``: every curve at its global least-squares optimum in one batch; a curve
    whose fit fails is refitted by R drc's path as SynergyFinder runs it. ``"synergyfinder"``:
    R drc's path only. Returns each set's parameters (k_i, 4) (NaN where no fit) and whether
    each curve fell back to drc's path.
    """
    if engine == "synergyfinder":
        params = [_drc_fits(x, y) for x, y in zip(dose, resp, strict=True)]
        return params, [np.zeros(x.shape[0], bool) for x in dose]
    d, r = _pad_curves(dose, resp)
    p, ok = _fit_ll4(d, r, None)
    params, fell, at = [], [], 0
    for x, y in zip(dose, resp, strict=True):
        k = x.shape[0]
        part = p[at : at + k].copy()
        bad = ~ok[at : at + k] & np.isfinite(y).all(axis=1)
        part[~ok[at : at + k]] = np.nan
        if bad.any():
            part[bad] = _drc_fits(x[bad], y[bad])
        params.append(part)
        fell.append(bad)
        at += k
    return params, fell


def _flat_or_predict(p: Array, dose: Array, rows: Array, at: Array) -> Array:
    """SynergyFinder's ``PredictResponse``: ``rows`` (k, m) predicted at ``at`` (k,) by the fit
    ``p`` (k, 4); a row with zero variance gives its first value."""
    pred = ll4(at, *(p[:, j] for j in range(4)))
    flat = np.nanvar(rows, axis=1) == 0
    return np.where(flat, rows[:, 0], pred)


def sensitivity_stack(
    conc_r: Array, conc_c: Array, inhib: Array, *, top: float = 100.0, engine: str = "global"
) -> dict[str, Array]:
    """Every score of :data:`SCORES` for a stack of blocks; each an array of shape (n,), plus
    ``fallback_fits`` (n,): fits of the block that fell back from the global optimum to R drc's
    path (see :func:`_fit_many`).

    ``conc_r`` (n, nr) and ``conc_c`` (n, nc) ascending with 0 first, at least two positive
    doses each; ``inhib`` (n, nr, nc) mean % inhibition; ``engine``: ``"global"`` (every fit at
    its global least-squares optimum) or ``"synergyfinder"`` (R drc's fitting path, as
    SynergyFinder 3.7.x runs it). A score whose fits fail is NaN.
    """
    n, nr, nc = inhib.shape
    mono_r, mono_c = inhib[:, :, 0], inhib[:, 0, :]
    # stage 1: monotherapy fits with the untreated cell (IC50) and without it (RI)
    (p_ic_r, p_ic_c, p_ri_r, p_ri_c), fb1 = _fit_many(
        [conc_r, conc_c, conc_r[:, 1:], conc_c[:, 1:]],
        [mono_r, mono_c, mono_r[:, 1:], mono_c[:, 1:]],
        engine,
    )
    hi_r, hi_c = conc_r[:, -1], conc_c[:, -1]
    lo_r, lo_c = conc_r[:, 1], conc_c[:, 1]
    ic50_1 = np.minimum(p_ic_r[:, 3], hi_r)  # NaN stays NaN
    ic50_2 = np.minimum(p_ic_c[:, 3], hi_c)
    ri_1 = ri_from_params(p_ri_r, lo_r, hi_r)
    ri_2 = ri_from_params(p_ri_c, lo_c, hi_c)
    # stage 2: each row (drug 1 > 0) across drug 2's doses, each column across drug 1's
    rows = inhib[:, 1:, :].reshape(n * (nr - 1), nc)
    cols = inhib[:, :, 1:].transpose(0, 2, 1).reshape(n * (nc - 1), nr)
    dose_rows = np.repeat(conc_c, nr - 1, axis=0)
    dose_cols = np.repeat(conc_r, nc - 1, axis=0)
    (p_rows, p_cols), fb2 = _fit_many([dose_rows, dose_cols], [rows, cols], engine)
    at_rows = np.repeat(ic50_2, nr - 1)
    at_cols = np.repeat(ic50_1, nc - 1)
    with np.errstate(invalid="ignore"):
        y1 = _flat_or_predict(p_rows, dose_rows, rows, at_rows).reshape(n, nr - 1)
        y2 = _flat_or_predict(p_cols, dose_cols, cols, at_cols).reshape(n, nc - 1)
    y1 = np.where(y1 > top, top, y1)
    y2 = np.where(y2 > top, top, y2)
    # stage 3: RI of the two combination curves (drug 1 with drug 2 at IC50_2, and reverse)
    # a prediction that failed leaves its curve undefined (no fit on fewer points)
    y1 = np.where(np.isfinite(y1).all(axis=1, keepdims=True), y1, np.nan)
    y2 = np.where(np.isfinite(y2).all(axis=1, keepdims=True), y2, np.nan)
    (p_css1, p_css2), fb3 = _fit_many([conc_r[:, 1:], conc_c[:, 1:]], [y1, y2], engine)
    css1 = ri_from_params(p_css1, lo_r, hi_r)
    css2 = ri_from_params(p_css2, lo_c, hi_c)
    css = 0.5 * (css1 + css2)
    fallback = sum(f.astype(np.int64) for f in (*fb1, *fb3))
    fallback = fallback + fb2[0].reshape(n, nr - 1).sum(axis=1) + fb2[1].reshape(n, nc - 1).sum(1)
    return {
        "IC50_1": ic50_1,
        "IC50_2": ic50_2,
        "RI_1": ri_1,
        "RI_2": ri_2,
        "CSS1": css1,
        "CSS2": css2,
        "CSS": css,
        "S": css - (ri_1 + ri_2),
        "S_mean": css - 0.5 * (ri_1 + ri_2),
        "S_max": css - np.maximum(ri_1, ri_2),
        "fallback_fits": fallback,
    }


def sf_iterations(
    reps: Array, n_rep: NDArray[np.int64], rng: np.random.Generator, iterations: int
) -> Array:
    """SynergyFinder's ``.Bootstrapping`` resamples of replicated blocks, shape
    (iterations, n, nr, nc).

    Each dose cell of each iteration is the mean of ``n_rep`` draws from a normal with the
    cell's replicate mean and standard deviation (``ddof = 1``). A cell with one replicate keeps
    its value (SynergyFinder's ``sd`` is NA there and its draw NaN).
    """
    n, nr, nc, r = reps.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(reps, axis=3) / np.maximum(n_rep, 1)
        sd = np.sqrt(np.nansum((reps - mean[..., None]) ** 2, axis=3) / (n_rep - 1))
    sd = np.where(n_rep > 1, sd, 0.0)
    z = rng.standard_normal((iterations, n, nr, nc, r))
    used = np.arange(r)[None, None, None, None, :] < n_rep[None, :, :, :, None]
    draws = np.where(used, mean[None, ..., None] + sd[None, ..., None] * z, 0.0)
    return draws.sum(axis=4) / np.maximum(n_rep, 1)[None]


def sf_iteration_stats(draws: Array) -> dict[str, Array]:
    """SynergyFinder's statistics over iterations (axis 0): ``mean``, ``sd`` (ddof = 1), ``sem``
    (sd / sqrt(iterations)), the 2.5 % and 97.5 % quantiles (R type 7: numpy's linear) as
    ``lower``, ``upper``, and ``p_value = exp(-0.717 z - 0.416 z^2)`` with
    ``z = |mean| / sd``."""
    k = draws.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = draws.mean(axis=0)
        sd = draws.std(axis=0, ddof=1) if k > 1 else np.full_like(mean, np.nan)
        lower, upper = np.quantile(draws, [0.025, 0.975], axis=0)
        z = np.abs(mean) / sd
        p = np.exp(-0.717 * z - 0.416 * z**2)
    return {
        "mean": mean,
        "sd": sd,
        "sem": sd / np.sqrt(k),
        "lower": lower,
        "upper": upper,
        "p_value": p,
    }


SENSITIVITY_COLUMNS = [
    "block_id",
    "drug_row",
    "drug_col",
    "conc_r_unit",
    "conc_c_unit",
    *SCORES,
    "fallback_fits",
]
STATS_COLUMNS = [
    "block_id",
    "score",
    "value",
    "lower",
    "upper",
    "p_value",
    "sf_mean",
    "sf_sd",
    "sf_sem",
    "sf_lower",
    "sf_upper",
    "sf_p_value",
    "sf_iterations",
]


def empty_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Zero-length ``sensitivity`` and ``sensitivity_stats`` tables with their columns."""
    text = {"block_id", "drug_row", "drug_col", "conc_r_unit", "conc_c_unit", "score"}
    ints = {"fallback_fits", "sf_iterations"}

    def frame(cols: list[str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=object if c in text else np.int64 if c in ints else float)
                for c in cols
            }
        )

    return frame(SENSITIVITY_COLUMNS), frame(STATS_COLUMNS)


def _resampled_means(
    reps: Array, n_rep: NDArray[np.int64], rng: np.random.Generator, n_boot: int
) -> Array:
    """Our bootstrap (as for the synergy scores): wells resampled with replacement within each
    dose cell; the cell means, shape (n_boot, n, nr, nc)."""
    n, nr, nc, r = reps.shape
    u = rng.random((n_boot, n, nr, nc, r))
    k = np.minimum((u * n_rep[None, :, :, :, None]).astype(np.int64), r - 1)
    order = np.argsort(~np.isfinite(reps), axis=3, kind="stable")
    packed = np.take_along_axis(reps, order, axis=3)
    draws = np.take_along_axis(packed[None], k, axis=4)
    used = np.arange(r)[None, None, None, None, :] < n_rep[None, :, :, :, None]
    return np.where(used, draws, 0.0).sum(axis=4) / np.maximum(n_rep, 1)[None]


def block_sensitivity(
    blocks: pd.Index,
    meta: pd.DataFrame,
    conc_r: Array,
    conc_c: Array,
    reps: Array,
    n_rep: NDArray[np.int64],
    *,
    top: float,
    engine: str,
    n_boot: int,
    alpha: float,
    rng: np.random.Generator,
    iterations: int = SF_ITERATIONS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``sensitivity`` table (one row per block) and, for blocks with replicates, the
    ``sensitivity_stats`` table (one row per block and score) of a group of equal-shape blocks.

    ``reps`` (n, nr, nc, R) replicate responses (% inhibition, NaN padded), ``n_rep``
    (n, nr, nc) their counts; ``meta`` indexed by block with ``drug_row, drug_col,
    conc_r_unit, conc_c_unit``. Scores are computed on the replicate means; replicated blocks
    get our bootstrap (``n_boot`` resamples of the wells within each cell; percentile interval
    at ``alpha`` and ``2 Phi(-|value| / sd)``) and SynergyFinder's statistics over
    ``iterations`` normal resamples (:func:`sf_iterations`, :func:`sf_iteration_stats`).
    """
    n, nr, nc, r = reps.shape
    with np.errstate(invalid="ignore"):
        mean = np.nansum(reps, axis=3) / np.maximum(n_rep, 1)
    est = sensitivity_stack(conc_r, conc_c, mean, top=top, engine=engine)
    table = pd.DataFrame(
        {
            "block_id": blocks.to_numpy(),
            **{c: meta[c].to_numpy() for c in ("drug_row", "drug_col")},
            **{c: meta[c].to_numpy() for c in ("conc_r_unit", "conc_c_unit")},
            **{s: est[s] for s in SCORES},
            "fallback_fits": est["fallback_fits"].astype(np.int64),
        }
    )
    replicated = n_rep.reshape(n, -1).max(axis=1) > 1
    if not replicated.any() or r < 2:
        return table, empty_tables()[1]
    idx = np.flatnonzero(replicated)
    sub = (conc_r[idx], conc_c[idx], reps[idx], n_rep[idx])
    m = len(idx)

    def stacked(draws: Array) -> dict[str, Array]:
        k = draws.shape[0]
        out = sensitivity_stack(
            np.tile(sub[0], (k, 1)),
            np.tile(sub[1], (k, 1)),
            draws.reshape(k * m, nr, nc),
            top=top,
            engine=engine,
        )
        return {s: out[s].reshape(k, m) for s in SCORES}

    sf = stacked(sf_iterations(sub[2], sub[3], rng, iterations))
    boot = stacked(_resampled_means(sub[2], sub[3], rng, n_boot)) if n_boot > 0 else None
    q = (100 * alpha / 2, 100 * (1 - alpha / 2))
    rows = []
    for s in SCORES:
        value = est[s][idx]
        lo = up = p = np.full(m, np.nan)
        if boot is not None:
            lo, up, p = _boot_interval(value, boot[s], q)
        st = sf_iteration_stats(sf[s])
        if s not in PERCENT_SCORES:  # SynergyFinder gives no p-value for IC50
            p = np.full(m, np.nan)
            st["p_value"] = np.full(m, np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "block_id": blocks.to_numpy()[idx],
                    "score": s,
                    "value": value,
                    "lower": lo,
                    "upper": up,
                    "p_value": p,
                    **{f"sf_{k}": v for k, v in st.items()},
                    "sf_iterations": iterations,
                }
            )
        )
    stats = pd.concat(rows, ignore_index=True)
    stats = stats.sort_values(["block_id"], kind="stable", ignore_index=True)
    return table, stats[STATS_COLUMNS]


def _boot_interval(est: Array, boot: Array, q: tuple[float, float]) -> tuple[Array, Array, Array]:
    """Percentile interval and ``2 Phi(-|est| / sd)`` from draws on axis 0 (NaN draws left out;
    NaN where fewer than two draws are finite)."""
    finite = np.isfinite(boot).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, up = np.nanpercentile(np.where(finite > 0, boot, 0.0), q, axis=0)
        sd = np.nanstd(np.where(finite > 1, boot, 0.0), axis=0, ddof=1)
        p = 2 * _norm_sf(np.abs(est) / sd)
    ok = finite > 1
    return np.where(ok, lo, np.nan), np.where(ok, up, np.nan), np.where(ok & (sd > 0), p, np.nan)


def concat_sensitivity(parts: list[tuple[pd.DataFrame, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """``sensitivity`` and ``sensitivity_stats`` of all groups (zero-length tables with their
    columns when there are none)."""
    empty = empty_tables()
    out = {}
    for k, name in enumerate(("sensitivity", "sensitivity_stats")):
        frames = [p[k] for p in parts if len(p[k])]
        out[name] = pd.concat(frames, ignore_index=True) if frames else empty[k]
    return out
