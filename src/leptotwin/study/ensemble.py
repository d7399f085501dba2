"""Claims as probabilities: every claim through the full chain on N parameter draws.

Each draw is one parameter set from :func:`leptotwin.catalog.posterior.draw_parameters` (the
calibrated posterior where there is one, the priors elsewhere) and its own random stream for the
virtual instruments, so P(PASS) carries both what we do not know about the parameters and the
noise of a real experiment. For each draw the claim-bearing sections run exactly as in
``reproduce`` (virtual instruments → files → analysis → claim), in their ensemble mode
(:attr:`Context.ensemble`: the quick cohort sizes, no prior-range grids or report-only tables).

P(PASS) is reported with a Jeffreys interval (the equal-tailed 95 % interval of the
Beta(k + ½, n − k + ½) posterior; lower bound 0 when k = 0 and upper bound 1 when k = n, as Brown,
Cai & DasGupta 2001, Stat Sci 16:101, recommend): it keeps its nominal coverage for small n and for
p near 0 or 1, where the Wald interval fails. Its n is the **effective** number of draws
(``n_eff``, :func:`leptotwin.catalog.posterior.effective_draws`), not N: draws resampled from a
weighted posterior repeat rows, and 200 draws from 1,000 weighted draws of ESS 235 carry the
information of about 108 independent ones; k is P(PASS) × n_eff. With priors only, n_eff = N.

Draws run in worker processes (``jobs``), started by a fork server where the platform has one (each
worker loads the compiled kernels from numba's on-disk cache). Not plain fork: ``reproduce`` runs
the ensemble after the other sections, whose parallel kernels have started GNU OpenMP in the
parent, and a child forked from such a process is killed by libgomp ("fork() called from a process
already using GNU OpenMP") — `make reproduce` broke that way on a fresh clone. As with any
fork-server or spawn pool, a script that calls :func:`run_claims_ensemble` with ``jobs > 1`` must
keep its top-level work under ``if __name__ == "__main__":``. A draw
whose run raises is recorded as ``ERROR`` (counted as not passing, and reported).

Examples
--------
>>> from leptotwin.study.ensemble import jeffreys_interval
>>> [round(x, 3) for x in jeffreys_interval(18, 20)]
[0.714, 0.978]
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from leptotwin.catalog import Catalog, using_catalog
from leptotwin.catalog.loader import _default_catalog
from leptotwin.catalog.posterior import Source, draw_parameters, effective_draws
from leptotwin.errors import LeptotwinError
from leptotwin.study.claims import ClaimStatus, Readout, load_claims

#: How worker processes start: a fork server (a clean process, no OpenMP state) where available.
_START_METHOD = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"

__all__ = [
    "CLAIMS_ENSEMBLE_CSV",
    "CLAIM_SECTIONS",
    "GOAL_P_PASS",
    "EnsembleResult",
    "PendingEnsemble",
    "ensemble_figure",
    "failure_breakdown",
    "jeffreys_interval",
    "run_claims_ensemble",
    "start_claims_ensemble",
]

CLAIMS_ENSEMBLE_CSV = "claims_ensemble.csv"
#: The sections that report claims (the others make predictions and tables only).
CLAIM_SECTIONS = ("viability", "in_vivo_relapse", "in_vivo_combination", "msi", "patients")
#: The issue's goal for every claim.
GOAL_P_PASS = 0.8
ERROR = "ERROR"


@dataclass(frozen=True)
class EnsembleResult:
    """What :func:`run_claims_ensemble` produced.

    Attributes
    ----------
    summary : DataFrame
        One row per claim: ``id, p_pass, lower, upper, n_draws, n_eff, n_pass, n_error`` (the
        ``claims_ensemble.csv`` table; ``lower``/``upper`` the 95 % Jeffreys interval on the
        effective number of draws ``n_eff``).
    draws : DataFrame
        One row per draw and claim: ``draw, id, status, measured, missed`` (``missed``: the
        claim's readouts that missed their thresholds, `` | ``-separated;
        :func:`failure_breakdown` counts them).
    parameters : DataFrame
        The parameter values of each draw (rows = draws, columns = parameter paths);
        ``attrs["fitted"]`` lists those taken from the posterior.
    source : str
        ``posterior`` or ``prior``.
    seed : int
    elapsed_s : float
        Wall time of the whole ensemble.
    jobs : int
        Worker processes used.
    """

    summary: pd.DataFrame
    draws: pd.DataFrame
    parameters: pd.DataFrame
    source: str
    seed: int
    elapsed_s: float
    jobs: int


def jeffreys_interval(k: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Equal-tailed Jeffreys interval for a binomial proportion (k successes of n; both may be
    effective, non-integer counts)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a, k + 0.5, n - k + 0.5))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a, k + 0.5, n - k + 0.5))
    return lo, hi


def _draw_seed(seed: int, draw: int) -> int:
    """The seed of draw ``draw``: independent streams from one run seed."""
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(0x5EED, draw))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _evaluate_draw(
    draw: int, values: dict[str, float], seed: int, sections: tuple[str, ...]
) -> list[dict[str, object]]:
    """Run the claim sections on one parameter set; one row per claim (or per failed section)."""
    from leptotwin.study.reproduce import Context, _close_figures, _select, section_rng

    cat = _default_catalog().with_values(values)
    rows: list[dict[str, object]] = []
    tmp = Path(tempfile.mkdtemp(prefix="leptotwin-ensemble-"))
    try:
        for spec in _select(sections):
            ctx = Context(
                rng=section_rng(seed, spec.name),
                seed=seed,
                out_dir=tmp / spec.name,
                quick=True,
                name=spec.name,
                catalog=cat,
                ensemble=True,
            )
            ctx.out_dir.mkdir(parents=True, exist_ok=True)
            try:
                with using_catalog(cat):
                    res = spec.func(ctx)
            except Exception as exc:  # a draw the model cannot run is a result, not a crash
                msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                rows.append(
                    {
                        "draw": draw,
                        "id": f"section:{spec.name}",
                        "status": ERROR,
                        "measured": msg,
                        "missed": "",
                        "trace": traceback.format_exc(limit=3),
                    }
                )
                continue
            for claim in res.claims:
                rows.append(
                    {
                        "draw": draw,
                        "id": claim.id,
                        "status": claim.status.value,
                        "measured": claim.measured,
                        "missed": _SEP.join(
                            _part(r) for r in claim.readouts if not r.meets_threshold
                        ),
                        "trace": "",
                    }
                )
            _close_figures(res.figures)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


_SEP = " | "
#: What a failing draw is put down to when every readout met its threshold: a condition the
#: readouts do not show (an interval reaching 1 or 0, a second criterion of the same readout).
UNSHOWN = "interval or other condition"


def _part(readout: Readout) -> str:
    return f"{readout.name}: {readout.quantity}"


def failure_breakdown(draws: pd.DataFrame) -> pd.DataFrame:
    """Why claims failed across an ensemble: ``id, part, n_fail, share`` — for each claim, how
    many failing draws had each readout miss its threshold (a draw may miss several; ``share``
    of the claim's failing draws), :data:`UNSHOWN` for failing draws whose readouts all met
    their thresholds, and ``section error`` for draws whose section raised. Sorted by claim,
    then most frequent first."""
    columns = ["id", "part", "n_fail", "share"]
    ok = draws[(draws["status"] != ERROR) & (draws["status"] != ClaimStatus.PASS.value)]
    counts: dict[tuple[str, str], int] = {}
    totals: dict[str, int] = {}
    missed_col = ok["missed"] if "missed" in ok else pd.Series("", index=ok.index)
    for claim_id, missed in zip(ok["id"], missed_col.fillna(""), strict=True):
        totals[claim_id] = totals.get(claim_id, 0) + 1
        parts = [p for p in str(missed).split(_SEP) if p] or [UNSHOWN]
        for part in parts:
            counts[(claim_id, part)] = counts.get((claim_id, part), 0) + 1
    errored = draws[draws["status"] == ERROR]
    if len(errored):
        lost = int(errored["draw"].nunique())
        for claim_id in sorted(set(draws.loc[draws["status"] != ERROR, "id"])):
            totals[claim_id] = totals.get(claim_id, 0) + lost
            counts[(claim_id, "section error")] = lost
    rows = [
        {"id": c, "part": p, "n_fail": k, "share": k / totals[c]} for (c, p), k in counts.items()
    ]
    out = pd.DataFrame(rows, columns=columns)
    if out.empty:
        return out
    return out.sort_values(["id", "n_fail"], ascending=[True, False], kind="stable").reset_index(
        drop=True
    )


def _worker(batch: list[tuple[int, dict[str, float], int, tuple[str, ...]]]) -> list[dict]:
    out: list[dict] = []
    for args in batch:
        out.extend(_evaluate_draw(*args))
    return out


def run_claims_ensemble(
    n: int,
    *,
    seed: int,
    source: Source = "posterior",
    catalog: Catalog | None = None,
    sections: Iterable[str] = CLAIM_SECTIONS,
    jobs: int | None = None,
    on_draw: Callable[[int], None] | None = None,
) -> EnsembleResult:
    """Evaluate every claim on ``n`` parameter draws through the full chain.

    Parameters
    ----------
    n : int
        Number of draws (≥ 1).
    seed : int
        Seed of the parameter draws and of each draw's instrument noise.
    source : {"posterior", "prior"}
        Where the parameters come from (:func:`~leptotwin.catalog.posterior.draw_parameters`).
    catalog : Catalog, optional
        Whose priors and posterior (the packaged catalogue by default).
    sections : iterable of str
        Claim-bearing sections to run (default :data:`CLAIM_SECTIONS`).
    jobs : int, optional
        Worker processes (default: the CPUs available, at most ``n``); 1 runs in this process.
    on_draw : callable, optional
        Called with the number of draws finished so far (for a progress bar).

    Returns
    -------
    EnsembleResult
    """
    return start_claims_ensemble(
        n, seed=seed, source=source, catalog=catalog, sections=sections, jobs=jobs
    ).result(on_draw)


def start_claims_ensemble(
    n: int,
    *,
    seed: int,
    source: Source = "posterior",
    catalog: Catalog | None = None,
    sections: Iterable[str] = CLAIM_SECTIONS,
    jobs: int | None = None,
) -> PendingEnsemble:
    """:func:`run_claims_ensemble` started in worker processes, to be collected later.

    With ``jobs`` ≥ 2 the draws start at once in the background, so the caller can do other work
    meanwhile (``reproduce`` runs its sections); :meth:`PendingEnsemble.result` waits for them.
    With one job nothing starts before ``result`` (the draws run in this process). The draws and
    their results are the same either way."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise LeptotwinError(
            "ensemble size must be a positive integer",
            source="--ensemble",
            value=n,
            expected="an integer ≥ 1",
        )
    names = tuple(sections)
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(0xD8A3,)))
    params = draw_parameters(int(n), rng=rng, catalog=catalog, source=source)
    tasks = [
        (i, {k: float(v) for k, v in row.items()}, _draw_seed(seed, i), names)
        for i, row in enumerate(params.to_dict(orient="records"))
    ]
    return PendingEnsemble(int(n), tasks, params, source, int(seed), _jobs(jobs, len(tasks)))


class PendingEnsemble:
    """A claims ensemble under way (:func:`start_claims_ensemble`); :meth:`result` collects it."""

    def __init__(
        self,
        n: int,
        tasks: list[tuple[int, dict[str, float], int, tuple[str, ...]]],
        params: pd.DataFrame,
        source: str,
        seed: int,
        jobs: int,
    ) -> None:
        self.n, self.tasks, self.params = n, tasks, params
        self.source, self.seed, self.jobs = source, seed, jobs
        self.names = tasks[0][3] if tasks else ()
        self._start = time.perf_counter()
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list = []
        if jobs > 1:
            # small batches keep both workers busy to the end and the progress bar moving
            batches = [tasks[i : i + 2] for i in range(0, len(tasks), 2)]
            self._pool = ProcessPoolExecutor(
                max_workers=jobs, mp_context=mp.get_context(_START_METHOD)
            )
            self._futures = [self._pool.submit(_worker, batch) for batch in batches]

    @property
    def background(self) -> bool:
        """Whether the draws run in worker processes (already started)."""
        return self._pool is not None

    def result(self, on_draw: Callable[[int], None] | None = None) -> EnsembleResult:
        """Wait for every draw; ``on_draw`` gets the number of draws finished so far."""
        rows: list[dict] = []
        if self._pool is None:
            for k, task in enumerate(self.tasks, start=1):
                rows.extend(_evaluate_draw(*task))
                if on_draw is not None:
                    on_draw(k)
        else:
            done = 0
            try:
                for future in self._futures:
                    batch_rows = future.result()
                    rows.extend(batch_rows)
                    done += len({r["draw"] for r in batch_rows}) or 2
                    if on_draw is not None:
                        on_draw(min(done, len(self.tasks)))
            except BrokenProcessPool as exc:  # a worker killed (out of memory, a signal): say so
                raise LeptotwinError(
                    "a worker process of the claims ensemble died",
                    source="--jobs",
                    value=self.jobs,
                    expected=f"fewer workers or more memory (draws finished: {done} of "
                    f"{len(self.tasks)})",
                ) from exc
            finally:
                self.cancel()
        elapsed = time.perf_counter() - self._start
        draws = pd.DataFrame(rows, columns=["draw", "id", "status", "measured", "missed", "trace"])
        return EnsembleResult(
            summary=_summarise(
                draws, self.n, effective_draws(self.params.attrs.get("rows"), self.n)
            ),
            draws=draws.drop(columns="trace"),
            parameters=self.params,
            source=self.source,
            seed=self.seed,
            elapsed_s=elapsed,
            jobs=self.jobs,
        )

    def cancel(self) -> None:
        """Stop the workers (draws not collected are lost); nothing if none run."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pending = any(not f.done() for f in self._futures)
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=not pending, cancel_futures=True)
        if pending:  # a draw takes seconds: end the workers rather than wait for them
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.join(timeout=10)


def _jobs(jobs: int | None, n: int) -> int:
    if jobs is None:
        try:
            jobs = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            jobs = os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise LeptotwinError(
            "jobs must be a positive integer", source="--jobs", value=jobs, expected="≥ 1"
        )
    return max(1, min(jobs, n))


def _summarise(draws: pd.DataFrame, n: int, n_eff: float | None = None) -> pd.DataFrame:
    """``id, p_pass, lower, upper, n_draws, n_eff, n_pass, n_error`` per claim (``n_eff``: the
    effective number of draws, ``n`` when not given; the interval is taken on it). A draw in
    which the claim's section raised never reported the claim: it counts as not passing
    (``n_error``)."""
    n_eff = float(n) if n_eff is None else float(n_eff)
    ok = draws[draws["status"] != ERROR]
    errored = draws[draws["status"] == ERROR]
    reported = set(ok["id"])
    # a section that raised in every draw reported nothing: its claims still get a row
    all_lost = bool(len(errored)) and bool((errored.groupby("id")["draw"].nunique() == n).any())
    rows = []
    for claim in load_claims():
        if claim.id not in reported and not all_lost:
            continue  # not one of the sections run
        mine = ok[ok["id"] == claim.id]
        n_pass = int((mine["status"] == ClaimStatus.PASS.value).sum())
        lo, hi = jeffreys_interval(n_pass / n * n_eff, n_eff)
        rows.append(
            {
                "id": claim.id,
                "p_pass": n_pass / n,
                "lower": lo,
                "upper": hi,
                "n_draws": n,
                "n_eff": round(n_eff, 1),
                "n_pass": n_pass,
                "n_error": int(n - mine["draw"].nunique()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=["id", "p_pass", "lower", "upper", "n_draws", "n_eff", "n_pass", "n_error"],
    )


def ensemble_figure(summary: pd.DataFrame, *, goal: float = GOAL_P_PASS) -> Figure:
    """P(PASS) per claim with its 95 % Jeffreys interval and the goal line."""
    fig = Figure(figsize=(7, 0.45 * max(len(summary), 3) + 1.2), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(summary))[::-1]
    p = summary["p_pass"].to_numpy(float)
    err = np.vstack([p - summary["lower"].to_numpy(float), summary["upper"].to_numpy(float) - p])
    colors = [
        "C2" if lo >= goal else ("C1" if pp >= goal else "C3")
        for pp, lo in zip(p, summary["lower"], strict=True)
    ]
    ax.barh(y, p, color=colors, alpha=0.6)
    ax.errorbar(p, y, xerr=err, fmt="none", ecolor="k", capsize=3, lw=1)
    ax.axvline(goal, color="k", ls=":", lw=1)
    ax.set_yticks(y, summary["id"])
    ax.set_xlim(0, 1.02)
    n = int(summary["n_draws"].max()) if len(summary) else 0
    n_eff = float(summary["n_eff"].min()) if "n_eff" in summary and len(summary) else n
    ax.set_xlabel(
        f"P(PASS) over {n} parameter draws (95 % Jeffreys interval on {n_eff:.0f} effective "
        f"draws); goal {goal:g}"
    )
    return fig
