"""``leptotwin calibrate-study``: rerun the joint calibration from scratch and write its files.

Fits the uncertain catalogue values of :data:`leptotwin.calibration.calibrate.DEFAULT_PARAMETERS`
jointly against the used calibration targets (:mod:`leptotwin.calibration.targets`) with emcee
(:mod:`leptotwin.calibration.sampler`), predicts the held-out targets, and writes into ``--out``:

``posterior_draws.csv``
    the posterior ensemble (``--draws`` rows, evenly spaced over the chain after burn-in; one
    column per calibrated path in catalogue units, and ``log_posterior``);
``posterior.yaml``
    median and 95 % interval per calibrated value, with the provenance (targets used and held
    out with their sources, priors, sampler settings, seed, versions, date, wall time);
``calibration_diagnostics.csv``
    prior vs posterior, R-hat, bulk and tail ESS, emcee's tau per parameter;
``calibration_targets.csv``
    every target with the model's posterior and posterior-predictive 95 % intervals (held-out
    ones labelled ``prediction``);
``calibration.md``
    the same as a readable summary.

``--install`` also copies ``posterior.yaml`` and ``posterior_draws.csv`` into the packaged
catalogue folder, where ``leptotwin catalog``, the ensemble (``reproduce --ensemble``) and the
posterior-median run read them. ``--quick`` is a smoke run (a handful of steps, no optimiser;
seconds to a minute), not a posterior.

Defaults (20 walkers x 1200 steps, 400 burn-in, an optimiser start of at most 400
evaluations: about 24,500 likelihood evaluations) take ~15 minutes with ``--jobs 2`` (the
default) and ~25 minutes in one process, at the ~60 ms a likelihood evaluation costs on a
shared 2-core machine. Measured with 24 walkers x 600 steps (200 burn-in), ``--jobs 2``: 14,653
evaluations in 9.2 minutes, R-hat 1.08-1.12 (walkers as chains), bulk ESS 160-250, tau 17-21
steps; the longer default chain is sized for R-hat near 1.05 and a bulk ESS of ~400.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leptotwin._fileio import prepare_out_dir
from leptotwin.errors import LeptotwinError

__all__ = ["DEFAULTS", "QUICK", "CalibrateStudyOutcome", "run_calibrate_study"]

DEFAULTS: dict[str, int] = {
    "walkers": 20,
    "steps": 1200,
    "burn": 400,
    "draws": 1000,
    "map_evaluations": 400,
    "n_predictive": 200,
}
"""Settings of a full run (each overridable on the command line except the last two)."""

QUICK: dict[str, int] = {"steps": 4, "burn": 1, "draws": 16, "n_predictive": 8}
"""Settings of ``--quick`` (walkers: twice the number of parameters; no optimiser start)."""


@dataclass
class CalibrateStudyOutcome:
    """What :func:`run_calibrate_study` returns: the calibration and the written paths."""

    result: Any  # CalibrationResult
    paths: dict[str, Path]
    out_dir: Path
    installed: bool
    reweighted: Any = None  # ReweightOutcome of the importance stage, when it ran

    def summary_lines(self) -> list[str]:
        """A short report for the terminal: settings, per-parameter posterior and diagnostics,
        targets outside their predictive interval, files."""
        r = self.result
        p = r.provenance
        s = p["sampler"]
        lines = [
            f"calibrated {len(r.parameters)} values against {len(p['targets_used'])} targets "
            f"({len(p['targets_held_out'])} held out): {s['n_walkers']} walkers x "
            f"{s['n_steps']} steps (burn-in {s['burn']}), {s['n_draws']} draws kept, "
            f"seed {s['seed']}",
            f"{s['n_evaluations']} likelihood evaluations, "
            f"{s['seconds_per_evaluation'] * 1e3:.0f} ms each; wall time "
            f"{p['wall_time_s'] / 60:.1f} min; acceptance {s['acceptance_fraction_mean']:.2f}",
        ]
        for row in r.diagnostics.itertuples():
            lines.append(
                f"  {row.parameter}: prior {_g(row.prior_median)} ({_g(row.prior_low)}–"
                f"{_g(row.prior_high)}) -> posterior {_g(row.posterior_median)} "
                f"({_g(row.posterior_low)}–{_g(row.posterior_high)}) {row.unit}; "
                f"R-hat {row.r_hat:.3f}, ESS bulk {row.ess_bulk:.0f}, tail {row.ess_tail:.0f}, "
                f"tau {row.tau:.1f}"
            )
        d = p["diagnostics"]
        verdict = (
            "converged by R-hat <= 1.05 and ESS >= 100 (indicative: walkers are not "
            "independent chains)"
            if r.converged()
            else f"NOT converged by R-hat <= 1.05 and ESS >= 100 (max R-hat {d['r_hat_max']:.3f},"
            f" min ESS bulk {d['ess_bulk_min']:.0f}, tail {d['ess_tail_min']:.0f}): run longer"
        )
        lines.append(verdict)
        outside = r.targets[~r.targets["inside_95"].astype(bool)]
        for row in outside.itertuples():
            lines.append(
                f"  {row.label} outside its 95 % predictive interval: {row.name} = "
                f"{_g(row.value)} vs {_g(row.predictive_low)}–{_g(row.predictive_high)}"
            )
        if self.reweighted is not None:
            lines.extend(self.reweighted.summary_lines()[:-1])
        lines.append(f"wrote {len(self.paths)} files to {self.out_dir}")
        if self.installed:
            lines.append("installed posterior.yaml and posterior_draws.csv into the catalogue")
        return lines


def _g(x: float) -> str:
    v = float(x)
    return "nan" if not math.isfinite(v) else f"{float(f'{v:.3g}'):g}"


def _check_int(value: Any, option: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LeptotwinError(
            "not an integer in range",
            source=option,
            value=value,
            expected=f"an integer ≥ {minimum}",
        )
    return int(value)


def run_calibrate_study(
    *,
    out_dir: str | os.PathLike[str] = Path("results/calibrate"),
    draws: int | None = None,
    seed: int = 2020,
    walkers: int | None = None,
    steps: int | None = None,
    burn: int | None = None,
    jobs: int | None = None,
    quick: bool = False,
    install: bool = False,
    force: bool = False,
    start_from: str | os.PathLike[str] | None = None,
    replicates: int | None = None,
    unfitted: str = "prior",
    parameters: Sequence[str] | None = None,
    targets: Sequence[Any] | None = None,
    readouts_fn: Callable[..., Mapping[str, float]] | None = None,
    log_likelihood_fn: Callable[..., float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CalibrateStudyOutcome:
    """Run the calibration and write its files (see the module docstring).

    Parameters
    ----------
    out_dir : path
        Output folder (refused when it holds results, unless ``force``).
    draws : int, optional
        Posterior draws kept (default 1000; ``--quick`` 16); at most walkers x (steps - burn).
    seed, walkers, steps, burn : int
        Sampler settings (defaults in :data:`DEFAULTS`; walkers at least twice the number of
        calibrated values).
    jobs : int, optional
        Worker processes evaluating the walkers (default 2; ``--quick``: 1, in this process).
        The draws do not depend on it. From a script, guard the entry point with
        ``if __name__ == "__main__":`` (the processes are spawned).
    quick : bool
        A smoke run (:data:`QUICK`).
    install : bool
        Also install the posterior into the packaged catalogue.
    start_from : path, optional
        A warm start: an earlier run's ``posterior_draws.csv`` (``walkers`` evenly spaced rows
        start the walkers; no optimiser). Its path and SHA-256 go into the provenance.
    replicates : int, optional
        Cohorts per draw in the importance stage that follows sampling
        (:mod:`leptotwin.study.reweight_job`; default 2, ``--quick`` 0; 0 skips the stage, as
        do targets without a ``cohort`` one).
    unfitted : {"prior", "catalogue"}
        The importance stage's treatment of the uncertain values the sampler does not fit
        (:func:`~leptotwin.calibration.reweight.reweight_draws`): ``prior`` (default) gives each
        draw its own prior draw of them, so the posterior covers every uncertain value.
    parameters, targets, readouts_fn, log_likelihood_fn :
        Replace the defaults (for tests and for the Python interface).
    progress : callable, optional
        Receives a line now and then (stage, step, time so far and left).

    Raises
    ------
    LeptotwinError
        Bad options (naming the option), an output folder that holds results, or anything
        :func:`leptotwin.calibration.calibrate.calibrate` refuses.
    """
    from leptotwin.calibration.calibrate import (
        DEFAULT_PARAMETERS,
        calibrate,
        write_calibration,
    )

    base = {**DEFAULTS, **(QUICK if quick else {})}
    seed = _check_int(seed, "--seed", 0)
    if unfitted not in ("prior", "catalogue"):  # refused before hours of sampling
        raise LeptotwinError(
            "unknown choice", source="--unfitted", value=unfitted, expected="prior or catalogue"
        )
    jobs = _check_int((1 if quick else 2) if jobs is None else jobs, "--jobs", 1)
    params = list(parameters) if parameters is not None else list(DEFAULT_PARAMETERS)
    ndim = len(params)
    if walkers is None:
        walkers = 2 * ndim if quick else max(base["walkers"], 2 * ndim)
    walkers = _check_int(walkers, "--walkers", 2 * max(ndim, 1))
    steps = _check_int(base["steps"] if steps is None else steps, "--steps", 2)
    if burn is None:
        burn = min(base["burn"], steps // 3)
    burn = _check_int(burn, "--burn", 0)
    if burn >= steps:
        raise LeptotwinError(
            "burn-in must be shorter than the run",
            source="--burn",
            value=burn,
            expected=f"fewer than --steps ({steps})",
        )
    available = walkers * (steps - burn)
    draws = _check_int(min(base["draws"], available) if draws is None else draws, "--draws", 1)
    if draws > available:
        raise LeptotwinError(
            "more draws than the chain holds after burn-in",
            source="--draws",
            value=draws,
            expected=f"at most walkers x (steps - burn) = {available}, or more --steps",
        )
    start_draws = None
    start_info = None
    if start_from is not None:
        start_path = Path(start_from)
        if not start_path.is_file():
            raise LeptotwinError(
                "start draws not found", source="--start-from", value=str(start_path)
            )
        try:
            start_draws = pd.read_csv(start_path)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise LeptotwinError(
                f"not a readable CSV file ({exc.__class__.__name__})",
                source=str(start_path),
                expected="a posterior_draws.csv written by calibrate-study",
            ) from None
        digest = hashlib.sha256(start_path.read_bytes()).hexdigest()
        start_info = {"path": str(start_path), "sha256": digest, "rows": len(start_draws)}
    out = prepare_out_dir(out_dir, force=force)
    t0 = time.perf_counter()
    clock = {"last": -math.inf, "sample_start": math.nan}

    def report(stage: str, done: int, total: int) -> None:
        if progress is None:
            return
        now = time.perf_counter() - t0
        if stage == "sample" and math.isnan(clock["sample_start"]):
            clock["sample_start"] = now
        if done not in (0, total) and now - clock["last"] < 15.0:
            return
        clock["last"] = now
        line = f"calibrate: {stage} {done}/{total}, {now / 60:.1f} min"
        if stage == "sample" and 0 < done < total:
            rate = (now - clock["sample_start"]) / done
            line += f", ~{rate * (total - done) / 60:.1f} min left for sampling"
        progress(line)

    result = calibrate(
        targets=targets,
        parameters=params,
        n_walkers=walkers,
        n_steps=steps,
        burn=burn,
        thin=1,
        seed=seed,
        n_draws=draws,
        map_start=not quick,
        map_evaluations=base["map_evaluations"],
        n_predictive=min(base["n_predictive"], draws),
        n_jobs=jobs,
        start_draws=start_draws,
        readouts_fn=readouts_fn,
        log_likelihood_fn=log_likelihood_fn,
        progress=report,
    )
    result.provenance["command"] = {
        "quick": bool(quick),
        "jobs": jobs,
        "draws": draws,
        "installed": bool(install),
        "start_from": start_info,
    }
    replicates = _check_int(
        (0 if quick else 2) if replicates is None else replicates, "--replicates", 0
    )
    cohort = [t for t in (targets if targets is not None else _load_targets()) if _is_cohort(t)]
    stage = replicates > 0 and bool(cohort)
    paths = write_calibration(result, out, install=install and not stage)
    reweighted = None
    if stage:
        from leptotwin.study.reweight_job import reweight_calibration

        reweighted = reweight_calibration(
            out_dir=out,
            source_dir=out,
            replicates=replicates,
            jobs=jobs,
            seed=seed,
            install=install,
            targets=list(targets) if targets is not None else None,
            unfitted=unfitted,
            progress=progress,
            out_ready=True,
        )
        paths.update(reweighted.paths)
    return CalibrateStudyOutcome(
        result=result, paths=paths, out_dir=out, installed=install, reweighted=reweighted
    )


def _load_targets() -> list[Any]:
    from leptotwin.calibration.targets import load_targets

    return load_targets()


def _is_cohort(target: Any) -> bool:
    return str(getattr(target, "role", "")) == "cohort"
