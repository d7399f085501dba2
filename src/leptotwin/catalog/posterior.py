"""Parameter sets drawn from what we know: the calibrated posterior where there is one, the
priors elsewhere.

``leptotwin calibrate-study`` fits a subset of the uncertain parameters jointly and writes two
files into the catalogue folder: ``posterior.yaml`` (the summary the ``catalog`` command shows:
median and 95 % interval per fitted parameter, with the calibration's provenance) and
``posterior_draws.csv`` (the ensemble itself: one row per posterior draw, one column per fitted
parameter path, catalogue units). Everything else here reads those two files.

How a draw is made (:func:`draw_parameters`): one row of the posterior ensemble, resampled with
replacement (with probability ``weight`` where the calibration's importance stage wrote one,
:mod:`leptotwin.calibration.reweight`; uniformly otherwise), for the fitted parameters (rows are
kept whole, so their correlations survive), and an independent draw from its prior for every
other uncertain parameter (the calibration's targets did not inform them, so their posterior is
their prior). With no ensemble on disk every
parameter comes from its prior. ``source="prior"`` ignores the ensemble.

The posterior-median catalogue (:func:`posterior_median_catalog`) is the operating point of the
default ``reproduce`` run: the catalogue with each fitted parameter at its posterior median.

Examples
--------
>>> import numpy as np
>>> from leptotwin.catalog.posterior import draw_parameters
>>> table = draw_parameters(3, rng=np.random.default_rng(0), source="prior")
>>> table.shape[0], "pathway.egfr_weight" in table.columns
(3, True)
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from leptotwin.catalog.loader import Catalog, _default_catalog, reads_other_site
from leptotwin.catalog.priors import prior_distribution, uncertain_parameters
from leptotwin.errors import LeptotwinError

__all__ = [
    "POSTERIOR_DRAWS_FILE",
    "draw_catalogs",
    "draw_parameters",
    "effective_draws",
    "load_posterior_draws",
    "posterior_median_catalog",
    "posterior_median_values",
    "weighted_quantile",
]

POSTERIOR_DRAWS_FILE = "posterior_draws.csv"
"""The calibration's ensemble in the catalogue folder (absent until calibrated)."""

#: Columns of a draws file that are not parameters (the sampler's bookkeeping).
_BOOKKEEPING = (
    "draw",
    "walker",
    "step",
    "log_posterior",
    "log_likelihood",
    "log_prior",
    "log_weight",
    "weight",
)

Source = Literal["posterior", "prior"]


def load_posterior_draws(path: str | Path | None = None) -> pd.DataFrame | None:
    """The posterior ensemble: rows = draws, columns = fitted parameter paths (catalogue units).

    Importance weights (a ``weight`` column) come back normalised in ``attrs["weight"]``
    (shape ``(n_draws,)``); absent for an unweighted ensemble.

    Parameters
    ----------
    path : path, optional
        A ``posterior_draws.csv``; the packaged one by default (``None`` when there is none).

    Raises
    ------
    LeptotwinError
        When a given file is missing, has no parameter column, or holds a non-finite value.
    """
    if path is None:
        packaged = Path(str(resources.files("leptotwin.catalog") / "data" / POSTERIOR_DRAWS_FILE))
        if not packaged.is_file():
            return None
        path = packaged
    path = Path(path)
    if not path.is_file():
        raise LeptotwinError("posterior draws file not found", source=str(path))
    from leptotwin._sigint import sigint_held

    # pandas' C reader turns a Ctrl-C during its read() into a ParserError (a traceback instead
    # of an interrupted run): hold SIGINT for the read (~0.2 s) and deliver it after
    with sigint_held():
        frame = pd.read_csv(path)
    params = [c for c in frame.columns if c not in _BOOKKEEPING]
    if not params or frame.empty:
        raise LeptotwinError(
            "no posterior draws", source=str(path), expected="a header of parameter paths and rows"
        )
    values = frame[params].apply(pd.to_numeric, errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).all():
        raise LeptotwinError(
            "posterior draws must be finite numbers", source=str(path), field=", ".join(params)
        )
    values = values.reset_index(drop=True)
    if "weight" in frame.columns:
        w = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(dtype=float)
        if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
            raise LeptotwinError(
                "posterior weights must be finite, non-negative and not all zero",
                source=str(path),
                field="weight",
            )
        values.attrs["weight"] = w / w.sum()
    return values


def _weights(draws: pd.DataFrame) -> np.ndarray | None:
    w = draws.attrs.get("weight")
    if w is None:
        return None
    w = np.asarray(w, dtype=float)
    if w.shape != (len(draws),):
        raise LeptotwinError(
            "posterior weights do not match the draws",
            source=POSTERIOR_DRAWS_FILE,
            field="weight",
            expected=f"{len(draws)} weights",
        )
    return w / w.sum()


def _checked_draws(catalog: Catalog, draws: pd.DataFrame) -> pd.DataFrame:
    uncertain = uncertain_parameters(catalog)
    known = set(uncertain["path"])
    tied = {
        p: row.path
        for row in uncertain.itertuples()
        for p in (row.tied_paths.split("; ") if row.tied_paths else [])
    }
    renamed = {c: tied.get(c, c) for c in draws.columns}
    unknown = [c for c, p in renamed.items() if p not in known]
    if unknown:
        raise LeptotwinError(
            "posterior draws name parameters the catalogue has no prior for",
            source=POSTERIOR_DRAWS_FILE,
            field=", ".join(unknown[:5]),
            expected="paths listed by `leptotwin catalog --uncertain`",
        )
    out = draws.rename(columns=renamed)
    out.attrs = dict(draws.attrs)
    return out


def draw_parameters(
    n: int,
    *,
    rng: np.random.Generator,
    catalog: Catalog | None = None,
    source: Source = "posterior",
    draws: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``n`` joint draws of every uncertain parameter.

    Parameters
    ----------
    n : int
        Number of parameter sets (≥ 1).
    rng : numpy.random.Generator
    catalog : Catalog, optional
        Whose priors to use (the packaged catalogue by default — not one with drawn values,
        whose lognormal priors stay anchored but whose other values have moved).
    source : {"posterior", "prior"}
        ``posterior``: fitted parameters from the ensemble (``draws``, else the packaged file;
        all from the priors when there is none). ``prior``: all from the priors.
    draws : DataFrame, optional
        A posterior ensemble to use instead of the packaged one.

    Returns
    -------
    DataFrame
        Shape ``(n, n_uncertain)``; columns are parameter paths (catalogue units), index
        ``0..n-1``; ``attrs["fitted"]`` lists the columns taken from the posterior and
        ``attrs["rows"]`` (shape ``(n,)``) the ensemble row each draw was resampled from (absent
        when nothing came from a posterior): draws that share a row share those values, which
        is what :func:`effective_draws` counts.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise LeptotwinError("number of draws must be a positive integer", field="n", value=n)
    if source not in ("posterior", "prior"):
        raise LeptotwinError(
            "unknown draw source", field="source", value=source, expected="posterior or prior"
        )
    cat = catalog if catalog is not None else _default_catalog()
    table = uncertain_parameters(cat)
    # values only another tumour site reads are drawn last, after the posterior rows: seeded
    # draws of the study's values stay what they were before those blocks joined
    other_site = reads_other_site(table["path"])
    out: dict[str, np.ndarray] = {}

    def draw_priors(paths: Iterable[str]) -> None:
        for path in paths:
            dist = prior_distribution(cat.quantity(path))
            drawn = np.asarray(dist.rvs(size=int(n), random_state=rng), dtype=float)
            out.setdefault(path, drawn)  # a value the posterior gave stays (drawn all the same)

    draw_priors(table["path"][~other_site])
    fitted: list[str] = []
    if source == "posterior":
        ens = draws if draws is not None else load_posterior_draws()
        if ens is not None:
            ens = _checked_draws(cat, ens)
            w = _weights(ens)
            if w is None:
                rows = rng.integers(0, len(ens), size=int(n))
            else:
                rows = rng.choice(len(ens), size=int(n), p=w)
            for path in ens.columns:
                out[path] = ens[path].to_numpy(dtype=float)[rows]
                fitted.append(path)
    draw_priors(table["path"][other_site])
    frame = pd.DataFrame({p: out[p] for p in table["path"] if p in out} | out)
    frame.attrs["fitted"] = fitted
    if fitted:
        frame.attrs["rows"] = np.asarray(rows, dtype=int)
    return frame


def effective_draws(rows: np.ndarray | None, n: int) -> float:
    """Kish's effective number of independent draws among ``n`` resampled ones.

    ``rows`` (shape ``(n,)``) are the ensemble rows the draws were resampled from
    (``attrs["rows"]`` of :func:`draw_parameters`); ``None`` means every draw is its own
    (priors only): ``n``. Otherwise ``n² / Σ_r m_r²`` with ``m_r`` how often row ``r`` was drawn
    — repeats of a row count as one, the conservative reading, though their instrument noise
    differs. Resampling ``n`` draws by importance weights whose own effective size is ESS gives
    about ``n · ESS / (n + ESS − 1)`` (E Σ m² = n + n(n − 1) Σ w²): the error of the weights and
    that of the resampling are both in it. Example: 200 draws from 1,000 weighted draws with
    ESS 235 carry about 108.
    """
    if rows is None:
        return float(n)
    counts = np.bincount(np.asarray(rows, dtype=int))
    return float(len(rows)) ** 2 / float(np.sum(counts.astype(float) ** 2))


def draw_catalogs(
    n: int,
    *,
    rng: np.random.Generator,
    catalog: Catalog | None = None,
    source: Source = "posterior",
    draws: pd.DataFrame | None = None,
) -> list[Catalog]:
    """``n`` catalogues, one per row of :func:`draw_parameters` (same arguments)."""
    cat = catalog if catalog is not None else _default_catalog()
    table = draw_parameters(n, rng=rng, catalog=cat, source=source, draws=draws)
    return [cat.with_values(row) for row in table.to_dict(orient="records")]


def posterior_median_values(
    catalog: Catalog | None = None, draws: pd.DataFrame | None = None
) -> dict[str, float]:
    """Posterior median of each fitted parameter (``{}`` when nothing is calibrated); weighted
    by the importance weights where the ensemble has them (:func:`weighted_quantile`, as
    ``posterior.yaml`` holds it)."""
    cat = catalog if catalog is not None else _default_catalog()
    ens = draws if draws is not None else load_posterior_draws()
    if ens is None:
        return {}
    ens = _checked_draws(cat, ens)
    w = _weights(ens)
    if w is None:
        return {c: float(np.median(ens[c].to_numpy(dtype=float))) for c in ens.columns}
    return {c: weighted_quantile(ens[c].to_numpy(dtype=float), w, 0.5) for c in ens.columns}


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``x`` under weights ``w``: the smallest value whose cumulative
    weight reaches ``q`` (the inverse of the weighted empirical CDF); NaN values and their
    weights are dropped, NaN when nothing is left."""
    x, w = np.asarray(x, float), np.asarray(w, float)
    ok = ~np.isnan(x)
    x, w = x[ok], w[ok]
    if x.size == 0 or w.sum() <= 0:
        return float("nan")
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    i = min(int(np.searchsorted(cum, q * (1 - 1e-12))), x.size - 1)
    return float(x[order][i])


def posterior_median_catalog(
    catalog: Catalog | None = None, draws: pd.DataFrame | None = None
) -> Catalog:
    """The catalogue with every fitted parameter at its posterior median (the packaged
    catalogue itself when nothing is calibrated)."""
    cat = catalog if catalog is not None else _default_catalog()
    values = posterior_median_values(cat, draws)
    return cat.with_values(values) if values else cat
