"""Multistart maximum-likelihood fit of an experiment file (``leptotwin calibrate --multistart``).

What pharmacometricians run in pyPESTO before they sample: many local optimisations from
starts spread over the parameter bounds, sorted by their negative log-likelihood (a
"waterfall"), to see whether the optimum is unique. Here the objective is the calibration's
own likelihood without priors
(:class:`~leptotwin.study.calibrate_experiment.ExperimentLogLikelihood`: the in-vivo data
through the cohort engine, viability, ELISA and qPCR data as ``calibrate`` scores them), on
the PEtab export's parameter scale and bounds (:class:`~leptotwin.interop.petab.ParameterScale`:
``log10`` for positive values). Each start is scipy's L-BFGS-B with 2-point finite
differences; the starts run in lock-step and every round's points go to the likelihood as one
batch (:func:`~leptotwin.calibration.multistart.lockstep_lbfgsb`), which gives each start
exactly the result of an independent ``scipy.optimize.minimize``. A parameter set the
catalogue refuses is ``+inf`` for the start that asked for it.

Outputs: ``multistart.csv`` (one row per start, best first: ``rank, start, nll, delta_nll,
at_best, converged, n_evaluations, iterations, message``, then each estimated value in the
catalogue's unit) and ``multistart_waterfall.svg``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.interop.petab import ParameterScale, scaled_multistart
from leptotwin.study.experiment import Experiment

# Starts whose NLL is within this of the best count as having reached it (pyPESTO's
# waterfall marks the same 0.1; far below the 1.92 of a 95 % likelihood-ratio interval).
AT_BEST_NLL = 0.1

#: The files :func:`write_multistart` writes.
MULTISTART_FILES = ("multistart.csv", "multistart_waterfall.svg")


@dataclass(frozen=True)
class MultistartFit:
    """A multistart fit: ``table`` (one row per start, best first; see the module docstring),
    ``paths`` (the estimated catalogue values, in column order) and ``n_starts``."""

    table: pd.DataFrame
    paths: tuple[str, ...]
    n_starts: int

    @property
    def best(self) -> dict[str, float]:
        """Catalogue path -> value of the best start (NaN if no start ended finite)."""
        row = self.table.iloc[0]
        if not math.isfinite(float(row["nll"])):
            return dict.fromkeys(self.paths, math.nan)
        return {p: float(row[p]) for p in self.paths}

    @property
    def n_at_best(self) -> int:
        """Starts within :data:`AT_BEST_NLL` of the best NLL."""
        return int(self.table["at_best"].sum())

    def line(self) -> str:
        """One summary line (best NLL, starts at the best)."""
        nll = float(self.table["nll"].iloc[0])
        if not math.isfinite(nll):
            return f"multistart: no start of {self.n_starts} reached a finite likelihood"
        return (
            f"multistart: best NLL {nll:.6g}; {self.n_at_best} of {self.n_starts} starts "
            f"within {AT_BEST_NLL} of it"
        )


def fit_multistart(
    exp: Experiment,
    *,
    n_starts: int = 20,
    seed: int = 0,
    starts: np.ndarray | None = None,
    catalog: Catalog | None = None,
    dt_h: float | None = None,
    options: Mapping[str, object] | None = None,
) -> MultistartFit:
    """Multistart maximum-likelihood fit of ``exp``'s estimated values (no priors).

    Parameters
    ----------
    exp : Experiment
        With ``estimate`` naming at least one catalogue value.
    n_starts : int
        Starts drawn uniformly within the bounds (on the parameter scale) by
        ``numpy.random.default_rng(seed)``; ignored when ``starts`` is given.
    starts : array of shape (S, len(exp.estimate)), optional
        On the parameter scale (``log10`` of positive values).
    catalog : Catalog, optional
    dt_h : float, optional
        Growth step (default the calibration's).
    options : mapping, optional
        L-BFGS-B options (``maxfun``, ``ftol``, ...; ``eps``, the finite-difference step, 1e-8
        unless given).

    Returns
    -------
    MultistartFit

    Raises
    ------
    LeptotwinError
        No estimated value; ``n_starts`` < 1; starts of another shape.
    """
    from leptotwin.study.calibrate_experiment import ExperimentLogLikelihood

    cat = catalog or load_catalog()

    def objective(scale: ParameterScale) -> Callable[[np.ndarray], np.ndarray]:
        like = ExperimentLogLikelihood(exp, scale.paths, catalog=cat, dt_h=dt_h)
        # ExperimentLogLikelihood.batch: -inf where a set cannot be evaluated -> +inf here
        return lambda values: -like.batch(values)

    result, scale = scaled_multistart(
        exp, objective, starts, n_starts=n_starts, seed=seed, catalog=cat, options=options
    )
    return MultistartFit(_table(result.results, scale), scale.paths, len(result.results))


def _table(results: list, scale: ParameterScale) -> pd.DataFrame:
    """One row per start, best first (ties and non-finite NLLs keep the starts' order)."""
    nll = np.array([float(r.fun) for r in results])
    finite = np.isfinite(nll)
    best = float(nll[finite].min()) if finite.any() else math.nan
    values = scale.unscale(np.array([np.asarray(r.x, dtype=float) for r in results]))
    table = pd.DataFrame(
        {
            "start": np.arange(1, len(results) + 1),
            "nll": nll,
            "delta_nll": nll - best,
            "at_best": finite & (nll - best <= AT_BEST_NLL),
            "converged": [bool(r.success) for r in results],
            "n_evaluations": [int(r.nfev) for r in results],
            "iterations": [int(r.nit) for r in results],
            "message": [str(r.message) for r in results],
        }
    )
    for i, path in enumerate(scale.paths):
        table[path] = values[:, i]
    order = np.lexsort((table["start"].to_numpy(), np.where(finite, nll, np.inf)))
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def waterfall_figure(fit: MultistartFit, *, title: str = "") -> object:
    """The waterfall: each start's NLL above the best (log10(ΔNLL + 1)) against its rank,
    starts within :data:`AT_BEST_NLL` of the best in another colour. SVG
    (:mod:`leptotwin.study._svgfig`)."""
    from leptotwin.study._svgfig import SvgFigure

    t = fit.table
    delta = t["delta_nll"].to_numpy(float)
    finite = np.isfinite(delta)
    y = np.log10(np.clip(delta, 0.0, None) + 1.0)
    top = float(y[finite].max()) if finite.any() else 1.0
    fig = SvgFigure(640, 400, title=title or "multistart waterfall")
    (box,) = fig.grid(1, 1, left=80, right=20, top=40, bottom=52)
    ax = fig.panel(
        box,
        (0.5, len(t) + 0.5),
        (0.0, max(top * 1.08, 0.1)),
        title=fit.line().removeprefix("multistart: "),
        xlabel="start, sorted by NLL",
        ylabel="log10(NLL - best + 1)",
        font=11.0,
        xcounts=True,
    )
    rank = t["rank"].to_numpy(float)
    ax.polyline(rank[finite], y[finite], color="#7f7f7f")
    at = t["at_best"].to_numpy(bool)
    ax.markers(rank[at], y[at], color="#2ca02c")
    ax.markers(rank[finite & ~at], y[finite & ~at], color="#1f77b4")
    if not finite.all():
        ax.note(f"{int((~finite).sum())} start(s) without a finite likelihood")
    return fig


def write_multistart(fit: MultistartFit, *, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write :data:`MULTISTART_FILES` (``multistart.csv``, ``multistart_waterfall.svg``) into
    ``out_dir`` (an existing folder), each atomically."""
    from leptotwin._fileio import write_csv

    out = Path(out_dir)
    table, figure = MULTISTART_FILES
    return {
        "multistart": write_csv(out / table, fit.table),
        "multistart_waterfall": waterfall_figure(fit).write(out / figure),
    }
