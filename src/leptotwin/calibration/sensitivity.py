"""Global sensitivity analysis of the twin's readouts over the catalogue's priors (SALib).

Which uncertain parameters drive each claim's readout and each human prediction? Two methods,
both from SALib 1.6 (nothing here re-implements them):

- :func:`morris_screen`: Morris elementary effects (Morris 1991; μ* of Campolongo et al. 2007)
  for many factors at r·(k + 1) model evaluations, or r·(G + 1) with **groups** of parameters
  (:func:`factor_groups`: one group per catalogue block, e.g. ``alectinib mouse PK``,
  ``A925L/AR cell line``, ``pathway``, ``blood_tumour_barrier``); :func:`two_stage_screen`
  screens groups first, then the single parameters inside the influential groups.
- :func:`sobol_indices`: first-order and total Sobol indices (Saltelli 2002/2010 sampling,
  Jansen/Saltelli estimators) with bootstrap intervals, for a chosen subset (n·(2k + 2)
  evaluations).

**Sampling space.** Every factor is sampled in its prior's probability space: SALib draws
``u ∈ [0, 1]`` and the parameter is ``θ = F⁻¹(a + (1 - 2a) u)`` with ``F`` the prior
(:func:`leptotwin.catalog.priors.prior_distribution`), ``a = 0`` for the bounded priors
(uniform, loguniform: their whole range) and ``a = tail`` for the unbounded ones (lognormal,
normal, logitnormal), whose extreme tails would otherwise be infinite. The default
``tail = 0.025`` keeps the central 95 %: the stated range ``[low, high]`` of a normal or
logit-normal prior, and of a lognormal one on its wider side. A Morris grid puts half of its
points at the two ends, so a wider cut (0.005) would screen mostly far-tail values. Each draw
becomes a catalogue through :meth:`Catalog.with_values` (tied values move together) and the
readout function sees it both as its argument and as the active catalogue
(:func:`leptotwin.catalog.loader.using_catalog`). An elementary effect is thus the change of a
readout, in the readout's unit, per unit of prior probability: μ* ≈ how far the readout moves
when the factor crosses its prior range.

**Readouts that are not finite** (NaN or ±inf, or an exception with ``on_error="nan"``) are
counted (``nonfinite``: fraction of evaluations). ``+inf`` and ``-inf`` mean "beyond what the
readout can measure" (an IC50 above 1 mM, a relapse after the follow-up): by default
(``censor_inf``) they are censored at the largest (smallest) finite value of that readout in the
design, so a step into that region counts as at least the jump to it (``censored``: fraction).
NaN ("the model cannot produce it") is handled by ``nan_policy``: ``"drop"`` (default) drops its
design block for that readout only — the whole Morris trajectory, or the whole Saltelli block of
one base sample (2k + 2 rows) — so the remaining design is still complete for SALib and no value
is invented; ``"median"`` replaces NaN by the median of the readout's finite values (every block
kept, but steps into or out of a NaN point give spurious effects: ``imputed`` says how often);
``"auto"`` drops unless that would keep fewer than half of the blocks, then imputes. ``n_used``
says how many trajectories or base samples were used; with fewer than 2 the indices are NaN.

Examples
--------
>>> from leptotwin.catalog import load_catalog
>>> cat = load_catalog()
>>> def readout(c):
...     return {"w": c.pathway_value("egfr_weight")}
>>> res = morris_screen(catalog=cat, readout_fn=readout, groups="block", trajectories=4, seed=1)
>>> res.ranking("w").iloc[0]["factor"]  # doctest: +SKIP
'pathway'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from SALib.analyze import morris as _morris_analyze
from SALib.analyze import sobol as _sobol_analyze
from SALib.sample import morris as _morris_sample
from SALib.sample import sobol as _sobol_sample

from leptotwin.catalog.loader import Catalog, reads_other_site, using_catalog
from leptotwin.catalog.priors import prior_distribution, uncertain_parameters
from leptotwin.errors import LeptotwinError

__all__ = [
    "BOUNDED_DISTS",
    "DEFAULT_TAIL",
    "SHARED_GROUP",
    "MorrisResult",
    "ReadoutFn",
    "SobolResult",
    "TwoStageResult",
    "evaluate_design",
    "factor_group",
    "factor_groups",
    "morris_screen",
    "prior_values",
    "select_parameters",
    "sobol_indices",
    "tornado_figure",
    "two_stage_screen",
]

#: A readout function: catalogue → {readout name: value}.
ReadoutFn = Callable[[Catalog], Mapping[str, float]]

#: Priors sampled over their whole range (finite bounds).
BOUNDED_DISTS = frozenset({"uniform", "loguniform"})
#: Probability cut from each tail of an unbounded prior (lognormal, normal, logitnormal): the
#: central 95 %, the range the catalogue states.
DEFAULT_TAIL = 0.025
#: Bootstrap resamples for the confidence intervals.
NUM_RESAMPLES = 100
#: Confidence level of the bootstrap intervals (``conf`` is the half-width).
CONF_LEVEL = 0.95

_ON_ERROR = ("raise", "nan")


# -- factors and the prior-space map -------------------------------------------------------------


def factor_group(path: str, catalog_group: str, *, coarse: bool = False) -> str:
    """The Morris group of one catalogue value: its block (drug × species PK, a drug's potency,
    a cell line, an assay kit, an in-vivo block, the pathway; :func:`factor_groups` puts values
    shared by several drugs in :data:`SHARED_GROUP`). ``coarse``: one group per drug
    (PK of every species and potency), one for all assay kits, one for species physiology, one
    for cell lines and perturbations; in-vivo blocks and the pathway as before.

    >>> factor_group("alectinib.pk.mouse.CL", "drugs")
    'alectinib mouse PK'
    >>> factor_group("osimertinib.potency[1].ic50", "drugs")
    'osimertinib potency'
    >>> factor_group("A925L/AR.mir449a", "cell_lines")
    'A925L/AR cell line'
    >>> factor_group("blood_tumour_barrier.parameters.leak_ratio", "in_vivo")
    'blood_tumour_barrier'
    >>> factor_group("alectinib.pk.mouse.CL", "drugs", coarse=True)
    'alectinib'
    """
    head, _, rest = path.partition(".")
    head = head.split("[", 1)[0]
    if coarse:
        return {
            "drugs": head,
            "species": "physiology",
            "cell_lines": "cell lines and perturbations",
            "perturbations": "cell lines and perturbations",
            "assays": "assay kits",
            "pathway": "pathway",
        }.get(catalog_group, head)
    if catalog_group == "drugs":
        parts = rest.split(".")
        if parts[0] == "pk" and len(parts) > 1:
            return f"{head} {parts[1]} PK"
        if parts[0].startswith("potency"):
            return f"{head} potency"
        return head
    if catalog_group == "species":
        return f"{head} physiology"
    if catalog_group == "cell_lines":
        return f"{head} cell line"
    if catalog_group == "perturbations":
        return "perturbations"
    if catalog_group == "assays":
        return f"{head} assay"
    if catalog_group == "pathway":
        return "pathway"
    return head


#: Group of the values shared (YAML anchors) by several drugs, e.g. the lesion Kp,uu of every
#: small-molecule TKI: they belong to no single drug's block.
SHARED_GROUP = "shared by several drugs"


def _shared_across_blocks(path: str, tied_paths: str) -> bool:
    heads = {p.split(".", 1)[0] for p in [path, *(t for t in tied_paths.split("; ") if t)]}
    return len(heads) > 1


def _parameter_table(catalog: Catalog, parameters: Iterable[str] | None) -> pd.DataFrame:
    table = uncertain_parameters(catalog)
    if parameters is None:  # the study's values: not those only another tumour site reads
        return table[~reads_other_site(table["path"])].reset_index(drop=True)
    wanted = list(parameters)
    if len(set(wanted)) != len(wanted):
        raise LeptotwinError("a parameter is listed twice", field="parameters", value=wanted)
    by_path = table.set_index("path", drop=False)
    missing = [p for p in wanted if p not in by_path.index]
    if missing:
        raise LeptotwinError(
            "not an uncertain catalogue value (no prior, or a tied copy)",
            field="parameters",
            value=missing[:5],
            expected="paths from leptotwin.catalog.priors.uncertain_parameters",
        )
    if not wanted:
        raise LeptotwinError("no parameters to vary", field="parameters", value=wanted)
    return by_path.loc[wanted].reset_index(drop=True)


def factor_groups(
    catalog: Catalog,
    parameters: Iterable[str] | None = None,
    groups: str | Mapping[str, str] | None = "block",
) -> dict[str, str]:
    """``{path: group}`` for the uncertain parameters (all by default).

    ``groups="block"`` uses :func:`factor_group`, ``"coarse"`` its coarse grouping; a mapping
    gives each path its group (every path must be in it); ``None`` makes every parameter its
    own group.
    """
    table = _parameter_table(catalog, parameters)
    if groups is None:
        return {p: p for p in table["path"]}
    if isinstance(groups, str):
        if groups not in ("block", "coarse"):
            raise LeptotwinError(
                "unknown grouping",
                field="groups",
                value=groups,
                expected="'block', 'coarse', a mapping or None",
            )
        coarse = groups == "coarse"
        return {
            r.path: SHARED_GROUP
            if _shared_across_blocks(r.path, r.tied_paths)
            else factor_group(r.path, r.group, coarse=coarse)
            for r in table.itertuples()
        }
    missing = [p for p in table["path"] if p not in groups]
    if missing:
        raise LeptotwinError(
            "a parameter has no group", field="groups", value=missing[:5], expected="every path"
        )
    return {p: str(groups[p]) for p in table["path"]}


def prior_values(
    catalog: Catalog, paths: Sequence[str], u: np.ndarray, *, tail: float = DEFAULT_TAIL
) -> np.ndarray:
    """Parameter values for unit-cube points ``u`` (rows: points, columns: ``paths``).

    ``θ = F⁻¹(a + (1 - 2a) u)`` with ``F`` the path's prior, ``a = 0`` for uniform and
    loguniform priors and ``a = tail`` for the unbounded ones; the result is always inside the
    prior's support.
    """
    u = np.asarray(u, dtype=float)
    if u.ndim != 2 or u.shape[1] != len(paths):
        raise LeptotwinError(
            "design has the wrong shape", field="u", value=u.shape, expected=f"(n, {len(paths)})"
        )
    if not 0 <= tail < 0.5:
        raise LeptotwinError(
            "tail out of range", field="tail", value=tail, expected="0 ≤ tail < 0.5"
        )
    if np.any((u < 0) | (u > 1)) or not np.all(np.isfinite(u)):
        raise LeptotwinError("design outside the unit cube", field="u", expected="0 ≤ u ≤ 1")
    out = np.empty_like(u)
    for j, path in enumerate(paths):
        q = catalog.quantity(path)
        dist = prior_distribution(q)
        a = 0.0 if q.prior.dist in BOUNDED_DISTS else tail
        out[:, j] = dist.ppf(a + (1.0 - 2.0 * a) * u[:, j])
        if q.prior.dist in BOUNDED_DISTS:  # guard against rounding past a bound
            out[:, j] = np.clip(out[:, j], q.prior.low, q.prior.high)
    return out


def evaluate_design(
    catalog: Catalog,
    readout_fn: ReadoutFn,
    paths: Sequence[str],
    theta: np.ndarray,
    *,
    on_error: str = "raise",
) -> tuple[pd.DataFrame, int]:
    """Run ``readout_fn`` on the catalogue at every row of ``theta``.

    Returns
    -------
    (DataFrame, int)
        One row per design point, one column per readout (missing ones NaN), and the number of
        evaluations that raised (``on_error="nan"``; they give NaN for every readout).
    """
    if on_error not in _ON_ERROR:
        raise LeptotwinError(
            "bad on_error", field="on_error", value=on_error, expected="raise or nan"
        )
    rows: list[dict[str, float]] = []
    n_errors = 0
    prev_point: np.ndarray | None = None
    prev_cat = catalog
    for point in np.asarray(theta, dtype=float):
        # Morris steps and Saltelli's AB rows change one factor: build the catalogue from the
        # previous one (a few paths) rather than from scratch (every path, ~10 ms)
        changed = (
            np.flatnonzero(point != prev_point) if prev_point is not None else range(len(paths))
        )
        if prev_point is not None and len(changed) <= len(paths) // 2:
            cat = prev_cat.with_values({paths[j]: float(point[j]) for j in changed})
        else:
            cat = catalog.with_values(dict(zip(paths, point.tolist(), strict=True)))
        prev_point, prev_cat = point, cat
        try:
            with using_catalog(cat):
                out = readout_fn(cat)
            rows.append({str(k): float(v) for k, v in out.items()})
        except Exception:
            if on_error == "raise":
                raise
            n_errors += 1
            rows.append({})
    frame = pd.DataFrame(rows, dtype=float)
    if frame.shape[1] == 0:
        raise LeptotwinError(
            "the readout function returned no value at any design point",
            field="readout_fn",
            value=f"{n_errors} of {len(rows)} evaluations raised",
        )
    return frame, n_errors


def _log10(
    frame: pd.DataFrame, names: Iterable[str] | None
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    chosen = tuple(n for n in (names or ()) if n in frame.columns)
    if chosen:
        frame = frame.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            for n in chosen:
                y = frame[n].to_numpy(dtype=float)
                frame[n] = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
    return frame, chosen


def _censor(y: np.ndarray) -> tuple[np.ndarray, float]:
    """±inf replaced by the largest / smallest finite value of the design (a readout beyond its
    measurable range, e.g. an IC50 above 1 mM, is at least that far); NaN stays. Returns the
    censored values and the fraction censored."""
    inf = np.isinf(y)
    finite = y[np.isfinite(y)]
    if not inf.any() or finite.size == 0:
        return y, 0.0
    out = np.where(y == np.inf, finite.max(), y)
    out = np.where(out == -np.inf, finite.min(), out)
    return out, float(inf.mean())


_NAN_POLICIES = ("drop", "median", "auto")


def _check_nan_policy(policy: str) -> None:
    if policy not in _NAN_POLICIES:
        raise LeptotwinError(
            "unknown NaN policy", field="nan_policy", value=policy, expected="drop, median or auto"
        )


def _impute(y: np.ndarray, blocks: int, size: int, policy: str) -> tuple[np.ndarray, float]:
    """NaN handling of one readout (see the module docstring): ``drop`` leaves NaN (its design
    blocks are dropped), ``median`` replaces NaN by the median of the finite values, ``auto``
    does that only when dropping would keep fewer than half of the blocks. Returns the values
    and the fraction imputed."""
    nan = np.isnan(y)
    if not nan.any() or policy == "drop" or not np.isfinite(y).any():
        return y, 0.0
    kept = np.isfinite(y.reshape(blocks, size)).all(axis=1).sum()
    if policy == "auto" and kept >= max(2, blocks / 2):
        return y, 0.0
    return np.where(nan, np.median(y[np.isfinite(y)]), y), float(nan.mean())


def _seeds(seed: int | np.random.Generator | None) -> tuple[int, int]:
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    a, b = rng.integers(0, 2**31 - 1, size=2)
    return int(a), int(b)


def _unit(catalog: Catalog, path: str) -> str:
    return str(catalog.quantity(path).unit)


def _n_tied(catalog: Catalog, paths: Sequence[str]) -> int:
    """Catalogue values moved along with ``paths`` through YAML anchors."""
    return sum(len(catalog.tied.get(p, (p,))) - 1 for p in paths)


# -- Morris -------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _IndexResult:
    """What a Morris screen and a Sobol analysis share: the index table, the factors, and how
    many evaluations were not finite, censored, imputed or failed (attributes: the subclasses)."""

    table: pd.DataFrame
    factors: pd.DataFrame
    n_evaluations: int
    nonfinite: dict[str, float]
    censored: dict[str, float] = field(default_factory=dict)
    imputed: dict[str, float] = field(default_factory=dict)
    n_errors: int = 0
    readout_units: dict[str, str] = field(default_factory=dict)
    log10: tuple[str, ...] = ()
    tail: float = DEFAULT_TAIL
    elapsed_s: float = float("nan")

    @property
    def readouts(self) -> list[str]:
        """The readouts, in the order the readout function returned them."""
        return list(dict.fromkeys(self.table["readout"]))

    #: The index a ranking sorts by (Morris: μ*; Sobol: the total index).
    _rank_by: ClassVar[str] = ""

    def ranking(self, readout: str) -> pd.DataFrame:
        """The factors of ``readout``, most influential first."""
        sub = self.table[self.table["readout"] == readout]
        if sub.empty:
            raise LeptotwinError(
                "unknown readout",
                field="readout",
                value=readout,
                expected=f"one of {self.readouts}",
            )
        return sub.sort_values(self._rank_by, ascending=False, na_position="last").reset_index(
            drop=True
        )


@dataclass(frozen=True, kw_only=True)
class MorrisResult(_IndexResult):
    """Morris elementary-effect statistics per readout × factor.

    Attributes
    ----------
    table : DataFrame
        ``readout, factor, mu, mu_star, sigma, conf, mu_star_rel, rank, n_used``: μ, μ*, σ of
        the elementary effects (readout unit per unit prior probability), ``conf`` the half-width
        of the 95 % bootstrap interval of μ*, ``mu_star_rel`` μ* / the readout's largest μ*,
        ``rank`` 1 = largest μ*, ``n_used`` trajectories with a finite readout. For a group of
        more than one parameter σ is NaN (its members move in different directions in one step;
        SALib leaves it undefined) and μ is unreliable; μ* is the group's effect.
    factors : DataFrame
        ``factor, members, n_members, unit, tied`` (``members``: ``"; "``-separated paths;
        ``unit``: the parameter's unit for a single parameter, empty for a group; ``tied``: other
        catalogue values that move with the members through YAML anchors).
    grouped : bool
        Whether any factor holds more than one parameter.
    trajectories, levels, n_evaluations : int
    nonfinite : dict of str to float
        Per readout, the fraction of evaluations that were not finite (NaN or ±inf).
    censored : dict of str to float
        Per readout, the fraction of evaluations that were ±inf and censored at the design's
        largest / smallest finite value (``censor_inf``).
    imputed : dict of str to float
        Per readout, the fraction of evaluations that were NaN and replaced by the median
        (``nan_policy``).
    n_errors : int
        Evaluations that raised (``on_error="nan"``).
    readout_units : dict of str to str
    tail : float
    elapsed_s : float
        Wall time of the evaluations and the analysis.
    """

    grouped: bool
    trajectories: int
    levels: int
    _rank_by: ClassVar[str] = "mu_star"

    def members(self, factor: str) -> list[str]:
        """The catalogue paths of a factor."""
        row = self.factors.set_index("factor").loc[factor]
        return str(row["members"]).split("; ")

    def to_frame(self) -> pd.DataFrame:
        """The table with each factor's members and unit and each readout's unit."""
        out = self.table.merge(self.factors, on="factor", how="left")
        out.insert(1, "readout_unit", out["readout"].map(self.readout_units).fillna(""))
        return out


def _rank(values: pd.Series) -> pd.Series:
    return values.rank(method="min", ascending=False, na_option="keep")


def _morris_problem(names: Sequence[str], group_of: Mapping[str, str]) -> dict:
    problem = {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}
    if any(group_of[n] != n for n in names):
        problem["groups"] = [group_of[n] for n in names]
    return problem


def _factor_list(names: Sequence[str], group_of: Mapping[str, str]) -> list[str]:
    return list(dict.fromkeys(group_of[n] for n in names))


def morris_screen(
    *,
    catalog: Catalog,
    readout_fn: ReadoutFn,
    parameters: Iterable[str] | None = None,
    groups: str | Mapping[str, str] | None = None,
    trajectories: int = 10,
    levels: int = 4,
    seed: int | np.random.Generator | None,
    tail: float = DEFAULT_TAIL,
    on_error: str = "raise",
    readout_units: Mapping[str, str] | None = None,
    log10: Iterable[str] | None = None,
    censor_inf: bool = True,
    nan_policy: str = "drop",
) -> MorrisResult:
    """Morris screening of the readouts over the priors of ``parameters``.

    Parameters
    ----------
    catalog : Catalog
    readout_fn : callable
        Catalogue → ``{readout: value}`` (noise-free readouts; called once per design point).
    parameters : iterable of str, optional
        Uncertain parameter paths; default every one (:func:`uncertain_parameters`).
    groups : "block", "coarse", mapping or None
        ``None``: one factor per parameter (r·(k + 1) evaluations); ``"block"`` or
        ``"coarse"``: catalogue
        blocks (:func:`factor_groups`, r·(G + 1) evaluations); or ``{path: group}``.
    trajectories : int
        r, the number of trajectories (≥ 2).
    levels : int
        Grid levels of the Morris design (even; 4 is the usual choice).
    seed : int or Generator
        Seeds SALib's sampler and bootstrap.
    tail : float
        Probability cut from each tail of unbounded priors (module docstring).
    on_error : "raise" or "nan"
        What an exception in ``readout_fn`` does: propagate, or count as non-finite.
    readout_units : mapping, optional
        Units of the readouts, for tables and figures.
    log10 : iterable of str, optional
        Readouts analysed as log10 (folds, ratios, concentrations: an effect then is a
        fold-change; a value ≤ 0 counts as not finite).
    censor_inf : bool
        Replace ±inf by the design's largest / smallest finite value of that readout (module
        docstring) instead of dropping the trajectory.
    nan_policy : "drop", "median" or "auto"
        What a NaN readout does (module docstring).

    Returns
    -------
    MorrisResult
    """
    if int(trajectories) < 2:
        raise LeptotwinError(
            "need at least 2 trajectories", field="trajectories", value=trajectories
        )
    if int(levels) < 2 or int(levels) % 2:
        raise LeptotwinError("levels must be even and ≥ 2", field="levels", value=levels)
    t0 = time.perf_counter()
    group_of = factor_groups(catalog, parameters, groups)
    names = list(group_of)
    problem = _morris_problem(names, group_of)
    factors = _factor_list(names, group_of)
    s_sample, s_boot = _seeds(seed)
    u = _morris_sample.sample(problem, int(trajectories), num_levels=int(levels), seed=s_sample)
    theta = prior_values(catalog, names, u, tail=tail)
    frame, n_errors = evaluate_design(catalog, readout_fn, names, theta, on_error=on_error)
    frame, logged = _log10(frame, log10)
    size = len(factors) + 1
    r = len(frame) // size
    # Analysis on one representative column per factor: in a grouped design exactly one group
    # moves per step and every member's |elementary effect| is that group's |ΔY| / Δ, so SALib's
    # ungrouped analysis of the representatives gives the group's μ* and its bootstrap interval
    # exactly, at a cost in G rather than k (SALib's grouped analysis bootstraps every member).
    # μ and σ of a group of several values are undefined (members move in different
    # directions): NaN.
    reps = [names.index(next(n for n in names if group_of[n] == f)) for f in factors]
    n_members = {f: sum(group_of[n] == f for n in names) for f in factors}
    reduced = {"num_vars": len(factors), "names": factors, "bounds": [[0.0, 1.0]] * len(factors)}
    _check_nan_policy(nan_policy)
    rows, nonfinite, censored, imputed = [], {}, {}, {}
    for k, readout in enumerate(frame.columns):
        y = frame[readout].to_numpy(dtype=float)
        nonfinite[readout] = float(np.mean(~np.isfinite(y)))
        y, censored[readout] = _censor(y) if censor_inf else (y, 0.0)
        y, imputed[readout] = _impute(y, r, size, nan_policy)
        ok = np.isfinite(y.reshape(r, size)).all(axis=1)
        stats = {f: dict.fromkeys(("mu", "mu_star", "sigma", "conf"), np.nan) for f in factors}
        if ok.sum() >= 2:
            x_ok = u.reshape(r, size, -1)[ok].reshape(-1, u.shape[1])[:, reps]
            y_ok = y.reshape(r, size)[ok].ravel()
            si = _morris_analyze.analyze(
                reduced,
                x_ok,
                y_ok,
                num_resamples=NUM_RESAMPLES,
                conf_level=CONF_LEVEL,
                num_levels=int(levels),
                seed=s_boot + k,
            )
            for j, name in enumerate(si["names"]):
                single = n_members[str(name)] == 1
                stats[str(name)] = {
                    "mu": float(si["mu"][j]) if single else np.nan,
                    "mu_star": float(si["mu_star"][j]),
                    "sigma": float(si["sigma"][j]) if single else np.nan,
                    "conf": float(si["mu_star_conf"][j]),
                }
        for f in factors:
            rows.append({"readout": readout, "factor": f, **stats[f], "n_used": int(ok.sum())})
    table = pd.DataFrame(rows)
    top = table.groupby("readout", sort=False)["mu_star"].transform("max")
    table["mu_star_rel"] = np.where(top > 0, table["mu_star"] / top.where(top > 0, 1.0), 0.0)
    table.loc[table["mu_star"].isna(), "mu_star_rel"] = np.nan
    table["rank"] = table.groupby("readout", sort=False)["mu_star"].transform(_rank)
    table = table[
        ["readout", "factor", "mu", "mu_star", "sigma", "conf", "mu_star_rel", "rank", "n_used"]
    ]
    members: dict[str, list[str]] = {}
    for n in names:
        members.setdefault(group_of[n], []).append(n)
    factor_table = pd.DataFrame(
        {
            "factor": factors,
            "members": ["; ".join(members[f]) for f in factors],
            "n_members": [len(members[f]) for f in factors],
            "unit": [
                _unit(catalog, members[f][0]) if len(members[f]) == 1 and members[f][0] == f else ""
                for f in factors
            ],
            "tied": [_n_tied(catalog, members[f]) for f in factors],
        }
    )
    return MorrisResult(
        table=table,
        factors=factor_table,
        grouped=any(len(m) > 1 for m in members.values()),
        trajectories=r,
        levels=int(levels),
        n_evaluations=len(frame),
        nonfinite=nonfinite,
        censored=censored,
        imputed=imputed,
        n_errors=n_errors,
        readout_units=dict(readout_units or {}),
        log10=logged,
        tail=tail,
        elapsed_s=time.perf_counter() - t0,
    )


@dataclass(frozen=True)
class TwoStageResult:
    """Grouped Morris (``stage1``), then ungrouped Morris inside the influential groups
    (``stage2``; with readout families, one screen per family merged into one result whose
    table holds each family's readouts × that family's parameters).

    Attributes
    ----------
    stage1, stage2 : MorrisResult
    kept_groups : list of str
        Groups resolved in stage 2 (any family).
    unresolved_groups : list of str
        Influential groups left out of stage 2 by ``max_parameters`` (any family).
    families : dict of str to dict
        Per family: ``readouts``, ``kept`` and ``unresolved`` groups, ``n_evaluations``.
    """

    stage1: MorrisResult
    stage2: MorrisResult
    kept_groups: list[str]
    unresolved_groups: list[str] = field(default_factory=list)
    families: dict[str, dict] = field(default_factory=dict)

    @property
    def n_evaluations(self) -> int:
        """Evaluations of both stages."""
        return self.stage1.n_evaluations + self.stage2.n_evaluations


def _influential(
    result: MorrisResult, readouts: Iterable[str] | None, top: int, threshold: float
) -> list[str]:
    """Factors among each readout's ``top`` by μ* with μ* ≥ ``threshold`` × its largest, ordered
    by their best place over the readouts (every readout's first factor before any second),
    then by their best relative μ*."""
    names = result.readouts if readouts is None else list(readouts)
    best: dict[str, tuple[int, float]] = {}
    for readout in names:
        ranked = result.ranking(readout)
        ranked = ranked[(ranked["mu_star"] > 0) & (ranked["mu_star_rel"] >= threshold)]
        for place, row in enumerate(ranked.head(int(top)).itertuples()):
            key = (place, -float(row.mu_star_rel))
            best[row.factor] = min(best.get(row.factor, key), key)
    return sorted(best, key=lambda f: best[f])


def _cap(stage1: MorrisResult, groups: list[str], limit: int | None) -> tuple[list, list]:
    chosen, left = [], []
    n_paths = 0
    for f in groups:
        n = len(stage1.members(f))
        if limit is None or not chosen or n_paths + n <= int(limit):
            chosen.append(f)
            n_paths += n
        else:
            left.append(f)
    return chosen, left


def _merge(results: list[MorrisResult], elapsed: float) -> MorrisResult:
    """One MorrisResult from screens of disjoint readouts (same settings)."""
    first = results[0]
    factors = pd.concat([r.factors for r in results], ignore_index=True)
    return MorrisResult(
        table=pd.concat([r.table for r in results], ignore_index=True),
        factors=factors.drop_duplicates("factor").reset_index(drop=True),
        grouped=any(r.grouped for r in results),
        trajectories=first.trajectories,
        levels=first.levels,
        n_evaluations=sum(r.n_evaluations for r in results),
        nonfinite={k: v for r in results for k, v in r.nonfinite.items()},
        censored={k: v for r in results for k, v in r.censored.items()},
        imputed={k: v for r in results for k, v in r.imputed.items()},
        n_errors=sum(r.n_errors for r in results),
        readout_units=first.readout_units,
        log10=tuple(x for r in results for x in r.log10),
        tail=first.tail,
        elapsed_s=elapsed,
    )


def two_stage_screen(
    *,
    catalog: Catalog,
    readout_fn: ReadoutFn,
    parameters: Iterable[str] | None = None,
    readouts: Iterable[str] | None = None,
    families: Mapping[str, Sequence[str]] | None = None,
    subset_fn: Callable[[Sequence[str]], ReadoutFn] | None = None,
    trajectories: int = 10,
    stage2_trajectories: int | None = None,
    levels: int = 4,
    top_groups: int = 3,
    threshold: float = 0.1,
    max_parameters: int | Mapping[str, int | None] | None = None,
    seed: int | np.random.Generator | None,
    tail: float = DEFAULT_TAIL,
    on_error: str = "raise",
    readout_units: Mapping[str, str] | None = None,
    log10: Iterable[str] | None = None,
    censor_inf: bool = True,
    nan_policy: str = "drop",
) -> TwoStageResult:
    """Grouped Morris over catalogue blocks, then ungrouped Morris over the parameters of the
    groups that are among the ``top_groups`` of some readout (in ``readouts``, default all)
    with μ* ≥ ``threshold`` × that readout's largest. Cost r₁·(G + 1) + r₂·(k₂ + 1).

    ``max_parameters`` caps k₂: groups are taken in order of importance (every readout's first
    group before any second, :func:`select_parameters`' order) while their parameters fit; the
    groups left out are in ``TwoStageResult.unresolved_groups``; a mapping gives each family its
    own cap (a family not in it, or mapped to None, has none).

    ``families`` (name → readouts) splits stage 2: each family is screened over its own
    influential groups, evaluating only its readouts (``subset_fn(names)`` gives a readout
    function for those names; without it the full function is called and filtered). A family of
    cheap readouts then does not pay for an expensive one's parameters, and the reverse.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    common = {
        "catalog": catalog,
        "levels": levels,
        "tail": tail,
        "on_error": on_error,
        "readout_units": readout_units,
        "log10": log10,
        "censor_inf": censor_inf,
        "nan_policy": nan_policy,
    }
    t0 = time.perf_counter()
    stage1 = morris_screen(
        **common,
        readout_fn=readout_fn,
        parameters=parameters,
        groups="block",
        trajectories=trajectories,
        seed=rng,
    )
    wanted = stage1.readouts if readouts is None else list(readouts)
    fams = {"all": wanted} if families is None else {k: list(v) for k, v in families.items()}
    results, info = [], {}
    for name, names in fams.items():
        names = [n for n in names if n in wanted]
        limit = max_parameters.get(name) if isinstance(max_parameters, Mapping) else max_parameters
        chosen, left = _cap(stage1, _influential(stage1, names, top_groups, threshold), limit)
        info[name] = {"readouts": names, "kept": chosen, "unresolved": left, "n_evaluations": 0}
        if not chosen:
            continue
        if subset_fn is not None:
            fn = subset_fn(names)
        else:

            def fn(c: Catalog, _names: list[str] = names) -> dict[str, float]:
                out = readout_fn(c)
                return {n: out.get(n, float("nan")) for n in _names}

        res = morris_screen(
            **common,
            readout_fn=fn,
            parameters=[p for f in chosen for p in stage1.members(f)],
            groups=None,
            trajectories=stage2_trajectories or trajectories,
            seed=rng,
        )
        info[name]["n_evaluations"] = res.n_evaluations
        results.append(res)
    if not results:
        raise LeptotwinError("no group moves any readout", field="readouts", value=wanted)
    kept = list(dict.fromkeys(f for v in info.values() for f in v["kept"]))
    left = list(dict.fromkeys(f for v in info.values() for f in v["unresolved"] if f not in kept))
    return TwoStageResult(
        stage1=stage1,
        stage2=_merge(results, time.perf_counter() - t0),
        kept_groups=kept,
        unresolved_groups=left,
        families=info,
    )


def select_parameters(
    morris: MorrisResult | TwoStageResult,
    readouts: Iterable[str] | None = None,
    *,
    top: int = 5,
    threshold: float = 0.1,
) -> list[str]:
    """The parameters that drive ``readouts`` (default all): each readout's ``top`` parameters
    by μ* with μ* ≥ ``threshold`` × its largest, merged and ordered by their best relative μ*.

    Needs an ungrouped screen (a :class:`TwoStageResult` uses its second stage).
    """
    result = morris.stage2 if isinstance(morris, TwoStageResult) else morris
    if result.grouped:
        raise LeptotwinError(
            "a grouped screen names groups, not parameters",
            field="morris",
            expected="an ungrouped MorrisResult or a TwoStageResult (two_stage_screen)",
        )
    return _influential(result, readouts, top, threshold)


# -- Sobol --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SobolResult(_IndexResult):
    """First-order and total Sobol indices per readout × parameter.

    Attributes
    ----------
    table : DataFrame
        ``readout, factor, S1, S1_conf, ST, ST_conf, rank, n_used`` (``*_conf``: half-width of
        the 95 % bootstrap interval; ``rank`` 1 = largest ST; ``n_used`` base samples with a
        finite readout).
    second_order : dict of str to DataFrame
        Per readout, the S2 matrix (parameters × parameters, upper triangle).
    factors : DataFrame
        ``factor, members, n_members, unit, tied``.
    n_base, n_evaluations : int
    nonfinite : dict of str to float
    n_errors : int
    readout_units : dict of str to str
    tail, elapsed_s : float
    """

    second_order: dict[str, pd.DataFrame]
    n_base: int
    _rank_by: ClassVar[str] = "ST"

    def to_frame(self) -> pd.DataFrame:
        """The table with each parameter's unit and each readout's unit."""
        out = self.table.merge(self.factors, on="factor", how="left")
        out.insert(1, "readout_unit", out["readout"].map(self.readout_units).fillna(""))
        return out


def sobol_indices(
    *,
    catalog: Catalog,
    readout_fn: ReadoutFn,
    parameters: Iterable[str],
    n_base: int = 256,
    seed: int | np.random.Generator | None,
    tail: float = DEFAULT_TAIL,
    on_error: str = "raise",
    readout_units: Mapping[str, str] | None = None,
    log10: Iterable[str] | None = None,
    censor_inf: bool = True,
    nan_policy: str = "drop",
) -> SobolResult:
    """Sobol indices (S1, ST, S2) of the readouts over the priors of ``parameters``.

    Saltelli sampling (SALib ``sample.sobol``, scrambled Sobol' sequence) with ``n_base`` base
    samples, a power of 2: ``n_base·(2k + 2)`` evaluations. Indices with bootstrap intervals
    from SALib ``analyze.sobol``. A readout that does not vary gets NaN indices.
    """
    n_base = int(n_base)
    if n_base < 2 or n_base & (n_base - 1):
        raise LeptotwinError(
            "n_base must be a power of 2 (balance of the Sobol' sequence)",
            field="n_base",
            value=n_base,
            expected="2, 4, …, 256, 512, …",
        )
    t0 = time.perf_counter()
    names = list(_parameter_table(catalog, parameters)["path"])
    k = len(names)
    problem = {"num_vars": k, "names": names, "bounds": [[0.0, 1.0]] * k}
    s_sample, s_boot = _seeds(seed)
    u = _sobol_sample.sample(problem, n_base, calc_second_order=True, seed=s_sample)
    theta = prior_values(catalog, names, u, tail=tail)
    frame, n_errors = evaluate_design(catalog, readout_fn, names, theta, on_error=on_error)
    frame, logged = _log10(frame, log10)
    size = 2 * k + 2
    _check_nan_policy(nan_policy)
    rows, second, nonfinite, censored, imputed = [], {}, {}, {}, {}
    for j, readout in enumerate(frame.columns):
        y = frame[readout].to_numpy(dtype=float)
        nonfinite[readout] = float(np.mean(~np.isfinite(y)))
        y, censored[readout] = _censor(y) if censor_inf else (y, 0.0)
        y, imputed[readout] = _impute(y, n_base, size, nan_policy)
        y = y.reshape(n_base, size)
        ok = np.isfinite(y).all(axis=1)
        y_ok = y[ok].ravel()
        s1 = s1c = st = stc = np.full(k, np.nan)
        s2 = np.full((k, k), np.nan)
        if ok.sum() >= 2 and np.ptp(y_ok) > 0:
            si = _sobol_analyze.analyze(
                problem,
                y_ok,
                calc_second_order=True,
                num_resamples=NUM_RESAMPLES,
                conf_level=CONF_LEVEL,
                seed=s_boot + j,
            )
            s1, s1c, st, stc = (
                np.asarray(si[x], dtype=float) for x in ("S1", "S1_conf", "ST", "ST_conf")
            )
            s2 = np.asarray(si["S2"], dtype=float)
        second[readout] = pd.DataFrame(s2, index=names, columns=names)
        for i, name in enumerate(names):
            rows.append(
                {
                    "readout": readout,
                    "factor": name,
                    "S1": s1[i],
                    "S1_conf": s1c[i],
                    "ST": st[i],
                    "ST_conf": stc[i],
                    "n_used": int(ok.sum()),
                }
            )
    table = pd.DataFrame(rows)
    table.insert(6, "rank", table.groupby("readout", sort=False)["ST"].transform(_rank))
    factors = pd.DataFrame(
        {
            "factor": names,
            "members": names,
            "n_members": 1,
            "unit": [_unit(catalog, n) for n in names],
            "tied": [_n_tied(catalog, [n]) for n in names],
        }
    )
    return SobolResult(
        table=table,
        second_order=second,
        factors=factors,
        n_base=n_base,
        n_evaluations=len(frame),
        nonfinite=nonfinite,
        censored=censored,
        imputed=imputed,
        n_errors=n_errors,
        readout_units=dict(readout_units or {}),
        log10=logged,
        tail=tail,
        elapsed_s=time.perf_counter() - t0,
    )


# -- figures ------------------------------------------------------------------------------------


def _label(factors: pd.DataFrame, factor: str) -> str:
    row = factors.set_index("factor").loc[factor]
    if int(row["n_members"]) > 1 or row["members"] != factor:
        n = int(row["n_members"])
        return f"{factor} ({n} parameter{'s' if n != 1 else ''})"
    tied = int(row.get("tied", 0) or 0)
    text = f"{factor} (+{tied} tied)" if tied else factor
    return f"{text} [{row['unit']}]" if row["unit"] else text


def tornado_figure(
    result: MorrisResult | SobolResult,
    readout: str | Sequence[str],
    top: int = 10,
    *,
    title: str | None = None,
    combine: bool = False,
) -> Figure:
    """Horizontal bars of the ``top`` factors of ``readout``: Morris μ* with its 95 % bootstrap
    interval, or Sobol ST (with interval) beside S1. Factors are labelled with their path and
    unit (groups with their number of parameters). Several readouts give one panel each,
    stacked (e.g. every readout of one claim); ``title`` heads the figure. ``combine`` (Morris)
    draws several readouts in one panel instead: relative μ* (μ* / the readout's largest)
    averaged over them."""
    names = [readout] if isinstance(readout, str) else list(readout)
    if not names:
        raise LeptotwinError("no readout to draw", field="readout", value=names)
    if combine and isinstance(result, MorrisResult) and len(names) > 1:
        return _combined_tornado(result, names, top, title)
    ranked = [_top(result, r, top) for r in names]
    heights = [1.0 + 0.3 * max(len(x), 1) for x in ranked]
    fig = Figure(figsize=(7.5, 0.3 + sum(heights)), layout="constrained")
    axes = fig.subplots(len(names), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, name, table in zip(axes, names, ranked, strict=True):
        _draw_tornado(ax, result, name, table)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _combined_tornado(
    result: MorrisResult, names: Sequence[str], top: int, title: str | None
) -> Figure:
    for n in names:
        result.ranking(n)  # unknown readouts raise
    sub = result.table[result.table["readout"].isin(names)]
    rel = sub.groupby("factor", sort=False)["mu_star_rel"].agg(["mean", "min", "max"])
    rel = rel.dropna()
    rel = rel[rel["mean"] > 0].sort_values("mean", ascending=False, kind="stable").head(int(top))
    fig = Figure(figsize=(7.5, 1.5 + 0.3 * max(len(rel), 1)), layout="constrained")
    ax = fig.add_subplot()
    pos = np.arange(len(rel))[::-1]
    err = np.vstack([rel["mean"] - rel["min"], rel["max"] - rel["mean"]])
    ax.barh(pos, rel["mean"], xerr=err, color="C0", capsize=3)
    ax.set_yticks(pos, [_label(result.factors, f) for f in rel.index], fontsize=7)
    ax.set_xlim(0, 1.05)
    if len(rel) == 0:
        ax.text(0.5, 0.5, "no factor moves them", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(
        f"relative Morris μ* (μ* / the readout's largest), mean over {len(names)} readouts; "
        "bars: their range",
        fontsize=8,
    )
    ax.set_title(
        f"{', '.join(names)} (r = {result.trajectories}, {result.n_evaluations} evaluations)",
        fontsize=7,
        wrap=True,
    )
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _top(result: MorrisResult | SobolResult, readout: str, top: int) -> pd.DataFrame:
    ranked = result.ranking(readout).head(int(top))
    key = "mu_star" if isinstance(result, MorrisResult) else "ST"
    return ranked[np.isfinite(ranked[key].to_numpy(dtype=float))]


def _draw_tornado(ax, result, readout: str, ranked: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    pos = np.arange(len(ranked))[::-1]
    labels = [_label(result.factors, f) for f in ranked["factor"]]
    unit = result.readout_units.get(readout, "")
    unit_text = f" ({unit})" if unit and unit != "1" else ""
    if readout in result.log10:
        unit_text = f" (log10{', ' + unit if unit and unit != '1' else ''})"
    bad = result.nonfinite.get(readout, 0.0)
    imputed = result.imputed.get(readout, 0.0)
    bad_text = f"; {100 * bad:.0f} % not finite" if bad > 0 else ""
    bad_text += f", {100 * imputed:.0f} % imputed" if imputed > 0 else ""
    if isinstance(result, MorrisResult):
        ax.barh(pos, ranked["mu_star"], xerr=ranked["conf"], color="C0", capsize=3)
        ax.set_xlabel(f"Morris μ* of {readout}{unit_text} per unit prior probability", fontsize=8)
        what = f"r = {result.trajectories}, {result.n_evaluations} evaluations{bad_text}"
    else:
        ax.barh(
            pos + 0.18,
            ranked["ST"],
            height=0.36,
            xerr=ranked["ST_conf"],
            capsize=3,
            color="C0",
            label="total (ST)",
        )
        ax.barh(
            pos - 0.18,
            ranked["S1"],
            height=0.36,
            xerr=ranked["S1_conf"],
            capsize=3,
            color="C1",
            label="first order (S1)",
        )
        ax.set_xlabel(f"Sobol index of {readout}{unit_text}", fontsize=8)
        ax.legend(fontsize=7, loc="lower right")
        what = f"Sobol, n = {result.n_base}, {result.n_evaluations} evaluations{bad_text}"
    ax.set_yticks(pos, labels, fontsize=7)
    ax.axvline(0.0, color="0.5", lw=0.8)
    if len(ranked) == 0:
        ax.text(0.5, 0.5, "no finite index", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"{readout} ({what})", fontsize=8)
