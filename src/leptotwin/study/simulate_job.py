"""``leptotwin simulate``: a virtual LMC cohort from a protocol, in one process or on Dask.

The cohort is cut into chunks of consecutive subjects; each chunk is simulated with per-subject
random streams (:mod:`leptotwin.model.streams`), so the result does not depend on the chunking or
on which worker ran which chunk: a run on a ``dask.distributed`` cluster is bit-identical to a
single-process run with the same seed (on the same kind of CPU).

Robustness:

* Chunks are pure tasks with fixed keys. If a worker dies, the scheduler re-runs the chunks it
  held on the others; the client keeps exactly one result per chunk and checks, before writing,
  that every subject is present exactly once.
* Nothing is written until every chunk is back. The tables are staged in a hidden folder and
  moved into place with Ctrl-C held off for the few renames, so an interrupted run leaves no
  result file (and no staging folder).

Outputs (``out_dir``): ``observations.csv`` (subject × observation day), ``survival.csv``,
``subjects.csv`` (one row per subject, as :class:`~leptotwin.model.cohort.CohortResult`) and
``run.json`` (seed, chunking, scheduler, versions).

What an experiment block may add (the protocols ``leptotwin explore`` downloads): ``species:
human`` (virtual patients: the human section's engine, catalogue block ``lmc_human``, A925L/AR-like
LMC, 6 h step, days of treatment), ``counterfactuals`` (miR-449a restored to the parental level, no
AREG) and ``parameters`` (``posterior-median``; ``posterior``: each arm's subjects split over
``parameter_sets`` posterior draws, a ``parameter_set`` column in ``subjects.csv``). They are
applied through :mod:`leptotwin.model._scenario`, as the explorer applies them, so the explorer's
view and ``simulate`` of its protocol (same seed) give the same tables.

``site: subcutaneous`` (mice only): the cohort grows as flank xenografts (catalogue block
``sc_mouse``; :func:`~leptotwin.model.cohort.simulate_lmc` with ``site="subcutaneous"``), and
``observations.csv`` has the site's readouts, ``tumor_volume_mm3`` (caliper volume) and
``interstitial_areg_pg_mL`` (AREG in the tumour interstitium), in place of ``csf_areg_pg_mL``;
``run.json`` names the site and its readouts. An overlay of a caliper calibration (``sc_mouse``
values, ``--overlay-draws``) applies as any other. Without ``site`` (leptomeningeal) the tables
are what they always were.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from leptotwin._fileio import prepare_out_dir, write_csv, write_text
from leptotwin._sigint import sigint_held
from leptotwin.catalog import load_catalog, using_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model._scenario import (
    DEFAULT_PARAMETER_SETS,
    STEP_H,
    engine_options,
    parameter_set_bounds,
    parameter_set_of,
    posterior_values,
    treatment_start_d,
)
from leptotwin.model.cohort import Arm, CohortResult
from leptotwin.model.streams import chunk_bounds, concat_cohorts, simulate_lmc_subjects
from leptotwin.study._memory import check_disk, check_memory, format_count
from leptotwin.study.distributed import dask_client
from leptotwin.study.pk import warn_dose_range
from leptotwin.study.protocol_schema import (
    MAX_FOLLOW_UP_DAYS,
    ExperimentBlock,
    packaged_protocol_text,
    validate_protocol,
)

__all__ = [
    "Experiment",
    "load_experiment",
    "run_simulate_job",
    "simulate_chunks",
]


@dataclass(frozen=True)
class Experiment:
    """One experiment of a protocol file: arms, cohort size, follow-up and imaging days.

    Attributes
    ----------
    name : str
        The protocol block (e.g. ``"combination"``).
    arms : tuple of Arm
    n_per_arm : int
    days : float
        Follow-up, days after inoculation.
    observe_days : tuple of float
        Days after inoculation at which burden is recorded.
    inoculum : str
    source : str
        The protocol file.
    quick_n_per_arm : int or None
        Cohort size of a ``--quick`` report run (``quick_mice_per_arm`` or ``quick_mice``).
    species : {"mouse", "human"}
        Patients: days are of treatment, ``n_per_arm`` is ``patients_per_arm``.
    counterfactuals : tuple of str
        Of ``mir449a_restored``, ``no_areg``.
    parameters : {"packaged", "posterior-median", "posterior"}
    parameter_sets : int
        Posterior draws the subjects of each arm are split over (``parameters: posterior``).
    site : {"leptomeningeal", "subcutaneous"}
        Where the tumours grow (:data:`~leptotwin.model.tumor.SITES`); subcutaneous: mice only.
    """

    name: str
    arms: tuple[Arm, ...]
    n_per_arm: int
    days: float
    observe_days: tuple[float, ...]
    inoculum: str
    source: str = field(default="")
    quick_n_per_arm: int | None = None
    species: str = "mouse"
    counterfactuals: tuple[str, ...] = ()
    parameters: str = "packaged"
    parameter_sets: int = DEFAULT_PARAMETER_SETS
    site: str = "leptomeningeal"

    def arm(self, name: str) -> Arm:
        """The arm called ``name``.

        Raises
        ------
        LeptotwinError
            If there is no such arm (the message lists them).
        """
        for a in self.arms:
            if a.name == name:
                return a
        raise LeptotwinError(
            "no such arm in the protocol",
            source=self.source,
            field="arm",
            value=name,
            expected="one of " + ", ".join(repr(a.name) for a in self.arms),
        )


def _protocol_text(protocol: str | os.PathLike[str]) -> tuple[str, str]:
    """The protocol's text and its name for messages (a file, or a packaged protocol)."""
    path = Path(protocol)
    if path.is_dir():
        raise LeptotwinError(
            "protocol is a folder", source="protocol", value=str(protocol), expected="a YAML file"
        )
    if path.exists():
        raw = path.read_bytes()
        try:
            return raw.decode("utf-8-sig"), str(path)
        except UnicodeDecodeError as exc:
            raise LeptotwinError(
                f"not a text file: byte {exc.start} is not UTF-8",
                source=str(path),
                expected="a YAML protocol (UTF-8 text), e.g. a copy of lmc_mouse.yaml",
            ) from None
    text = packaged_protocol_text(path.stem)
    if text is None or path.suffix not in ("", ".yaml") or path.parent != Path("."):
        raise LeptotwinError(
            "protocol file not found",
            source="protocol",
            value=str(protocol),
            expected="a YAML file, or a packaged protocol name such as lmc_mouse",
        )
    return text, f"{path.stem}.yaml"


def _yaml_error(exc: yaml.YAMLError, src: str) -> LeptotwinError:
    """One line for a YAML syntax error: where, and what the parser expected."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
    return LeptotwinError(message, source=src, field=where)


def _read_protocol(
    protocol: str | os.PathLike[str],
) -> tuple[dict, dict[str, ExperimentBlock], str]:
    """The parsed protocol, its checked experiment blocks and its name for messages."""
    text, src = _protocol_text(protocol)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, src) from None
    except RecursionError:
        raise LeptotwinError(
            "not valid YAML: nested too deeply", source=src, expected="a protocol mapping"
        ) from None
    return data, validate_protocol(data, text, src), src


def load_experiment(
    protocol: str | os.PathLike[str],
    experiment: str | None = None,
    *,
    arm: str | None = None,
) -> Experiment:
    """Read one in-vivo experiment from a protocol file like ``study/protocols/lmc_mouse.yaml``.

    The file has ``regimens`` (drug → regimen text) and experiment blocks with ``inoculum``,
    ``mice_per_arm`` (or ``mice``), ``follow_up_days``, ``imaging_every_days`` or
    ``imaging_weeks`` (weekly from treatment start), and ``arms`` (name → list of drugs, given
    at ``regimens``; or name → drug → the arm's own regimen text). A block without ``arms`` has
    one monotherapy arm per drug of ``regimens``. The file is checked
    by :func:`~leptotwin.study.protocol_schema.validate_protocol` first.

    Parameters
    ----------
    protocol : path-like
        A YAML file, or the name of a packaged protocol (``lmc_mouse``).
    experiment : str, optional
        The block; may be left out when only one block (or, with ``arm``, only one block that
        has that arm) qualifies.
    arm : str, optional
        Only used to pick the experiment.

    Raises
    ------
    LeptotwinError
        Missing file, bad YAML, a protocol that fails the schema (the message names the line),
        an unknown or ambiguous experiment.
    """
    data, blocks, src = _read_protocol(protocol)
    regimens = data["regimens"]  # checked: a mapping that has every arm's drugs

    def arms_of(block: ExperimentBlock) -> dict[str, list[str] | dict[str, str]]:
        return block.arms if block.arms is not None else {str(d): [str(d)] for d in regimens}

    def regimens_of(drugs: list[str] | dict[str, str]) -> dict[str, str]:
        """An arm's regimens: its own (a mapping) or the protocol's for its drugs (a list)."""
        if isinstance(drugs, dict):
            return {d: str(t) for d, t in drugs.items()}
        return {d: str(regimens[d]) for d in drugs}

    if experiment is None:
        candidates = [k for k, b in blocks.items() if arm is None or arm in arms_of(b)]
        if arm is not None and not candidates:
            known = dict.fromkeys(a for b in blocks.values() for a in arms_of(b))
            raise LeptotwinError(
                "no such arm in the protocol",
                source=src,
                field="arm",
                value=arm,
                expected="one of " + ", ".join(repr(a) for a in known),
            )
        if len(candidates) != 1:
            raise LeptotwinError(
                "say which experiment of the protocol to run"
                + (f": several have an arm {arm!r}" if arm is not None else ""),
                source=src,
                field="experiment",
                expected="one of " + ", ".join(candidates),
            )
        experiment = candidates[0]
    if experiment not in blocks:
        raise LeptotwinError(
            "no such experiment in the protocol",
            source=src,
            field="experiment",
            value=experiment,
            expected="one of " + ", ".join(blocks),
        )
    block = blocks[experiment]
    arms = tuple(Arm(name, regimens_of(drugs)) for name, drugs in arms_of(block).items())
    species = block.species or "mouse"
    start = treatment_start_d(species)
    days = block.follow_up_days
    if block.observe_days is not None:
        obs = block.observe_days
    elif block.imaging_every_days is not None:
        obs = list(np.arange(start, days + 1e-9, block.imaging_every_days))
    else:
        obs = list(start + 7.0 * np.arange((block.imaging_weeks or 4) + 1))
    if not any(0 <= x <= days for x in obs):
        raise LeptotwinError(
            "no observation day within the follow-up",
            source=src,
            field=f"{experiment}.follow_up_days",
            value=days,
            expected=f"a follow-up reaching the first imaging day ({min(obs, default=start):g})",
        )
    n = block.mice_per_arm if block.mice_per_arm is not None else block.mice
    if species == "human":
        n = block.patients_per_arm
    quick = block.quick_mice_per_arm if block.quick_mice_per_arm is not None else block.quick_mice
    return Experiment(
        name=experiment,
        arms=arms,
        n_per_arm=int(n),
        days=float(days),
        observe_days=tuple(float(d) for d in obs),
        inoculum=block.inoculum,
        source=src,
        quick_n_per_arm=int(quick) if quick is not None else None,
        species=species,
        counterfactuals=tuple(dict.fromkeys(block.counterfactuals or ())),
        parameters=block.parameters or "packaged",
        parameter_sets=block.parameter_sets or DEFAULT_PARAMETER_SETS,
        site=block.site or "leptomeningeal",
    )


# ---------------------------------------------------------------------------------------------
# chunks


def _run_chunk(spec: dict[str, Any]) -> tuple[int, int, CohortResult]:
    """One chunk (a pure function of its spec; runs on a worker).

    With a ``counterfactuals`` option (``run_simulate_job`` always gives one) the engine options
    are built here from the chunk's catalogue (:func:`leptotwin.model._scenario.engine_options`:
    the patients' tumour kinetics and the counterfactual clones follow its parameter set), and
    the model runs with that catalogue active, as the explorer runs it."""
    # cached: loaded once per worker process; an overlay's values on top
    cat = load_catalog().with_values(spec["values"]) if spec["values"] else load_catalog()
    options = dict(spec["options"])
    if "counterfactuals" in options:
        options = engine_options(
            options.get("species", "mouse"),
            options["inoculum"],
            cat,
            dt_h=options.get("dt_h"),
            stochastic=options.get("stochastic", True),
            counterfactuals=options["counterfactuals"],
            site=options.get("site", "leptomeningeal"),
        )
    with using_catalog(cat):
        res = simulate_lmc_subjects(
            spec["arms"],
            n_per_arm=spec["n_per_arm"],
            days=spec["days"],
            observe_days=spec["observe_days"],
            seed=spec["seed"],
            start=spec["start"],
            stop=spec["stop"],
            catalog=cat,
            **options,
        )
    return spec["start"], spec["stop"], res


def _specs(
    arms: Sequence[Arm],
    n_per_arm: int,
    days: float,
    observe_days: Sequence[float],
    seed: int,
    chunk_size: int,
    options: dict[str, Any],
    values: dict[str, float] | None = None,
    parameter_sets: Sequence[dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    n_total = len(arms) * n_per_arm
    if parameter_sets:
        # each arm's subjects bounds[i]..bounds[i+1]-1 on set i, in chunks of at most chunk_size
        bounds = parameter_set_bounds(n_per_arm, len(parameter_sets))
        pieces = [
            (a * n_per_arm + lo + x, a * n_per_arm + lo + y, parameter_sets[i])
            for a in range(len(arms))
            for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
            if hi > lo
            for x, y in chunk_bounds(int(hi - lo), chunk_size)
        ]
    else:
        pieces = [(a, b, values or {}) for a, b in chunk_bounds(n_total, chunk_size)]
    return [
        dict(
            arms=tuple(arms),
            n_per_arm=n_per_arm,
            days=days,
            observe_days=tuple(observe_days),
            seed=seed,
            start=int(a),
            stop=int(b),
            options=options,
            values=dict(v),
        )
        for a, b, v in pieces
    ]


def simulate_chunks(
    arms: Sequence[Arm],
    *,
    n_per_arm: int,
    days: float,
    observe_days: Sequence[float],
    seed: int,
    chunk_size: int = 2000,
    scheduler: Any = None,
    n_workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    catalog_values: dict[str, float] | None = None,
    parameter_sets: Sequence[dict[str, float]] | None = None,
    **options: Any,
) -> CohortResult:
    """Simulate a cohort in chunks of subjects, in this process or on a Dask cluster.

    Parameters
    ----------
    arms, n_per_arm, days, observe_days, seed
        As for :func:`~leptotwin.model.streams.simulate_lmc_subjects`.
    chunk_size : int
        Subjects per task.
    scheduler : None, "local", an address or a ``distributed.Client``
        None runs the chunks here, one after the other; ``"local"`` starts a LocalCluster of
        ``n_workers`` single-threaded processes; an address (``tcp://host:8786``) connects to a
        running scheduler; a Client is used as is (and left open).
    progress : callable, optional
        Called with (chunks done, chunks in all) as chunks come back.
    catalog_values : dict, optional
        Catalogue path → value set on the packaged catalogue (a calibrated overlay).
    parameter_sets : sequence of dict, optional
        Instead of ``catalog_values``: K parameter sets; subjects ``bounds[i]`` to
        ``bounds[i + 1] - 1`` of each arm run on set i
        (:func:`leptotwin.model._scenario.parameter_set_bounds`).
    **options
        ``inoculum``, ``species``, ``dt_h``, ``stochastic``, ``site`` (see ``simulate_lmc``); with
        ``counterfactuals`` (a tuple, may be empty) the engine options of the species are built
        per chunk (:func:`leptotwin.model._scenario.engine_options`).

    Returns
    -------
    CohortResult
        Identical, bit for bit, whatever the chunk size and scheduler.

    Raises
    ------
    LeptotwinError
        Bad sizes, an unreachable scheduler, or a result that lacks or repeats a subject.
    """
    if chunk_size < 1:
        raise LeptotwinError("chunk size must be >= 1", field="chunk_size", value=chunk_size)
    specs = _specs(
        arms, n_per_arm, days, observe_days, seed, chunk_size, options, catalog_values,
        parameter_sets,
    )  # fmt: skip
    say = progress or (lambda _done, _total: None)
    results: dict[int, CohortResult] = {}
    if scheduler is None:
        for i, spec in enumerate(specs):
            results[i] = _run_chunk(spec)[2]
            say(len(results), len(specs))
    else:
        from distributed import as_completed

        token = f"{seed}-{n_per_arm}-{len(arms)}-{chunk_size}-{time.time_ns()}"
        with dask_client(scheduler, n_workers) as client:
            futures = {
                client.submit(_run_chunk, spec, key=f"leptotwin-chunk-{token}-{i}", pure=False): i
                for i, spec in enumerate(specs)
            }
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    start, stop, res = fut.result()
                    if (start, stop) != (specs[i]["start"], specs[i]["stop"]):
                        raise LeptotwinError("a chunk came back for the wrong subjects", value=i)
                    results.setdefault(i, res)  # a re-run chunk (lost worker) is kept once
                    say(len(results), len(specs))
            except BaseException:
                client.cancel(list(futures))
                raise
    cohort = concat_cohorts(results[i] for i in range(len(specs)))
    ids = cohort.subjects["subject"].to_numpy()
    n_total = len(arms) * n_per_arm
    if ids.size != n_total or not np.array_equal(np.sort(ids), np.arange(n_total)):
        raise LeptotwinError(
            "the simulated cohort lacks or repeats subjects",
            value=f"{ids.size} rows for {n_total} subjects",
        )
    return cohort


# ---------------------------------------------------------------------------------------------
# the job


# Peak memory of a run (bytes): per row of observations.csv (subject × observation day: the
# chunks' frames, their concatenation and its sorted copy; measured 164 B with tracemalloc) and per
# subject (survival and subject tables, the chunk's state over the steps).
_BYTES_PER_OBSERVATION = 256
_BYTES_PER_SUBJECT = 1024
# On disk: observations.csv per row (measured 82 bytes), survival.csv and subjects.csv per subject
# (measured 33 + 61 bytes).
_CSV_BYTES_PER_OBSERVATION = 96
_CSV_BYTES_PER_SUBJECT = 128


# What observations.csv holds at a site other than the default (run.json says it).
_SITE_READOUTS = {
    "subcutaneous": {
        "tumor_volume_mm3": "flank tumour volume (mm^3): total cells / sc_mouse.cell_density, "
        "as calipers measure it (L x W^2 / 2)",
        "interstitial_areg_pg_mL": "AREG in the tumour interstitium (pg/mL); no CSF",
        "total_cells": "tumour cells in the flank tumour",
    }
}


def _count(value: Any, option: str, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise LeptotwinError(f"{what} must be an integer", source=option, value=value)
    if value < minimum:
        raise LeptotwinError(f"{what} must be >= {minimum}", source=option, value=value)
    return int(value)


def _check_options(
    exp: Experiment,
    n_per_arm: int | None,
    days: float | None,
    seed: int,
    chunk_size: int,
    n_workers: int,
    scheduler: Any,
    dt_h: float,
) -> tuple[int, float]:
    """Every override and option in range, before anything is written; returns (n, days)."""
    n = exp.n_per_arm
    if n_per_arm is not None:
        n = _count(n_per_arm, "--n-per-arm", "mice per arm", minimum=1)
    d = exp.days if days is None else days
    if (
        isinstance(d, bool)
        or not isinstance(d, int | float | np.number)
        or not (math.isfinite(d) and 0 < d <= MAX_FOLLOW_UP_DAYS)
    ):
        raise LeptotwinError(
            "follow-up must be a number of days > 0",
            source="--days",
            value=d,
            expected=f"at most {MAX_FOLLOW_UP_DAYS:g} days (3 years: laboratory mice do not "
            "live longer)",
        )
    _count(seed, "--seed", "seed", minimum=0)
    if seed >= 2**64:
        raise LeptotwinError("seed must be below 2**64", source="--seed", value=seed)
    _count(chunk_size, "--chunk-size", "chunk size", minimum=1)
    _count(n_workers, "--workers", "number of workers", minimum=1)
    cpus = os.cpu_count() or 1
    if scheduler == "local" and n_workers > cpus:
        raise LeptotwinError(
            f"more local workers than this machine has CPUs ({cpus})",
            source="--workers",
            value=n_workers,
            expected=f"at most {cpus} (single-threaded worker processes)",
        )
    if not (isinstance(dt_h, int | float) and math.isfinite(dt_h) and 0 < dt_h <= 24.0):
        raise LeptotwinError("growth step must be > 0 and at most 24 h", field="dt_h", value=dt_h)
    return n, float(d)


def _check_size(
    exp: Experiment, n: int, obs_days: Sequence[float], out_dir: str | os.PathLike[str]
) -> None:
    """Refuse a cohort whose tables would not fit in the memory available now or on the disk
    of ``out_dir``."""
    n_total = len(exp.arms) * n
    rows = n_total * max(len(obs_days), 1)
    who = "patients" if exp.species == "human" else "mice"
    what = (
        f"{format_count(n_total)} {who} ({len(exp.arms)} arms × {format_count(n)}) × "
        f"{len(obs_days)} observation days"
    )
    need = rows * _BYTES_PER_OBSERVATION + n_total * _BYTES_PER_SUBJECT
    check_memory(need, what=what, source="--n-per-arm", expected="fewer mice per arm")
    written = rows * _CSV_BYTES_PER_OBSERVATION + n_total * _CSV_BYTES_PER_SUBJECT
    check_disk(written, out_dir, what=f"the tables of {what}", source="--n-per-arm",
               expected="fewer mice per arm, or an --out on a larger disk")  # fmt: skip


def _overlay_values(overlay: str | os.PathLike[str] | None, n_draws: int) -> list[dict[str, float]]:
    """The catalogue values of each run: ``[{}]`` without an overlay, ``[medians]`` with one,
    ``n_draws`` evenly spaced posterior draws with ``n_draws > 0``."""
    _count(n_draws, "--overlay-draws", "posterior draws", minimum=0)
    if overlay is None:
        if n_draws:
            raise LeptotwinError(
                "posterior draws need a calibrated overlay",
                source="--overlay-draws",
                value=n_draws,
                expected="--catalog-overlay DIR/overlay.yaml as well",
            )
        return [{}]
    from leptotwin.study.calibrate_experiment import load_overlay

    ov = load_overlay(overlay)
    if n_draws == 0:
        return [ov.values]
    if ov.draws is None or len(ov.draws) < n_draws:
        raise LeptotwinError(
            "the overlay has fewer posterior draws than asked for",
            source="--overlay-draws",
            value=n_draws,
            expected=f"at most {0 if ov.draws is None else len(ov.draws)} (its draws file)",
        )
    rows = np.linspace(0, len(ov.draws) - 1, n_draws).round().astype(int)
    return [{k: float(v) for k, v in ov.draws.iloc[r].items()} for r in rows]


def _stack_draws(cohorts: list[CohortResult]) -> CohortResult:
    """One cohort per posterior draw, stacked with a leading ``draw`` column."""
    import pandas as pd

    def stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(
            [f.assign(draw=k)[["draw", *f.columns]] for k, f in enumerate(frames)],
            ignore_index=True,
        )

    return CohortResult(
        observations=stack([c.observations for c in cohorts]),
        survival=stack([c.survival for c in cohorts]),
        subjects=stack([c.subjects for c in cohorts]),
        clones=cohorts[0].clones,
    )


def _with_parameter_sets(cohort: CohortResult, n_per_arm: int, k: int) -> CohortResult:
    """``subjects`` with a last column ``parameter_set``: the set each subject ran on."""
    which = parameter_set_of(cohort.subjects["subject"].to_numpy(), n_per_arm, k)
    return CohortResult(
        cohort.observations,
        cohort.survival,
        cohort.subjects.assign(parameter_set=which),
        cohort.clones,
    )


def run_simulate_job(
    protocol: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] = "simulate",
    *,
    experiment: str | None = None,
    n_per_arm: int | None = None,
    days: float | None = None,
    seed: int = 0,
    scheduler: Any = None,
    n_workers: int = 2,
    chunk_size: int = 2000,
    dt_h: float | None = None,
    stochastic: bool = True,
    catalog_overlay: str | os.PathLike[str] | None = None,
    overlay_draws: int = 0,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    chosen: Callable[[str, list[str]], None] | None = None,
) -> dict[str, Path]:
    """Simulate a protocol's experiment and write its tables; returns the paths by name.

    Parameters
    ----------
    protocol : path-like
        Protocol YAML (or a packaged name such as ``lmc_mouse``), see :func:`load_experiment`.
    out_dir : path-like
        Output folder (new or empty unless ``force``).
    experiment : str, optional
        The protocol block (``relapse``, ``combination``); default: the protocol's only or
        first block (``chosen`` is told which).
    n_per_arm, days : optional
        Override the protocol's cohort size and follow-up.
    seed : int
        Subject j of arm A is the same mouse in every run with this seed.
    scheduler : None, "local", address or ``distributed.Client``
        Where the chunks run (see :func:`simulate_chunks`); the result does not depend on it.
    n_workers, chunk_size, dt_h, stochastic
        Cluster size for ``"local"``, subjects per task, growth step (h; default: the species',
        1 h for mice, 6 h for patients), Poisson switching.
    catalog_overlay : path-like, optional
        ``overlay.yaml`` of ``leptotwin calibrate``: its posterior medians replace the
        catalogue's values (:func:`leptotwin.study.calibrate_experiment.load_overlay`). Not with
        an experiment that sets its own ``parameters``.
    overlay_draws : int
        With ``catalog_overlay``: simulate the cohort once for each of this many posterior
        draws (evenly spaced rows of the overlay's draws file; the same mice, the same seed) and
        stack the tables with a leading ``draw`` column: the parameters' uncertainty in the
        prediction. 0 (default): the posterior medians, no ``draw`` column.
    force : bool
        Overwrite an output folder that already holds results.
    progress : callable, optional
        Called with a short message as chunks come back.
    chosen : callable, optional
        Without ``experiment``: called once with the block run and all blocks of the protocol
        (in file order), after the options are checked and before any work.

    Raises
    ------
    LeptotwinError
        Bad protocol or options, an output folder that holds results, an unreachable scheduler.
    KeyboardInterrupt
        Passed on; no result file is left behind.
    """
    # without a name: the only or first block (a checked protocol has at least one)
    names = list(_read_protocol(protocol)[1]) if experiment is None else []
    exp = load_experiment(protocol, names[0] if experiment is None else experiment)
    dt_h = STEP_H[exp.species] if dt_h is None else dt_h
    n, d = _check_options(exp, n_per_arm, days, seed, chunk_size, n_workers, scheduler, dt_h)
    obs_days = [x for x in exp.observe_days if x <= d]
    if not obs_days:
        raise LeptotwinError(
            "no observation day within the follow-up",
            source="--days",
            value=d,
            expected=f"at least the protocol's first observation day ({min(exp.observe_days):g})",
        )
    _check_size(exp, n, obs_days, out_dir)
    if exp.parameters != "packaged" and catalog_overlay is not None:
        raise LeptotwinError(
            f"the experiment sets its own parameters ({exp.parameters})",
            source="--catalog-overlay",
            value=str(catalog_overlay),
            expected=f"no overlay, or a protocol without parameters: {exp.parameters}",
        )
    value_sets = _overlay_values(catalog_overlay, overlay_draws)
    if len(value_sets) > 1:
        _check_size(exp, n * len(value_sets), obs_days, out_dir)
    sets = None
    if exp.parameters == "posterior-median":
        from leptotwin.catalog.posterior import posterior_median_values

        value_sets = [posterior_median_values()]
    elif exp.parameters == "posterior":
        sets = posterior_values(min(exp.parameter_sets, n), seed)
    if experiment is None and chosen is not None:
        chosen(exp.name, names)
    for drug, regimen in dict.fromkeys(i for a in exp.arms for i in a.regimens.items()):
        warn_dose_range(drug, exp.species, str(regimen), stacklevel=2)
    # only at a site other than the default, so leptomeningeal chunk specs are as they were
    site_option = {"site": exp.site} if exp.site != "leptomeningeal" else {}
    out = prepare_out_dir(out_dir, force=force)
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    cohorts = [
        simulate_chunks(
            exp.arms,
            n_per_arm=n,
            days=d,
            observe_days=obs_days,
            seed=seed,
            chunk_size=chunk_size,
            scheduler=scheduler,
            n_workers=n_workers,
            progress=lambda done, total: say(f"chunks {done}/{total}"),
            inoculum=exp.inoculum,
            species=exp.species,
            dt_h=dt_h,
            stochastic=stochastic,
            counterfactuals=exp.counterfactuals,
            catalog_values=values,
            parameter_sets=sets,
            **site_option,
        )
        for values in value_sets
    ]
    cohort = cohorts[0] if overlay_draws <= 0 else _stack_draws(cohorts)
    if sets is not None:
        cohort = _with_parameter_sets(cohort, n, len(sets))
    wall = time.perf_counter() - t0
    meta = {
        "protocol": exp.source,
        "experiment": exp.name,
        "arms": [a.name for a in exp.arms],
        "n_per_arm": n,
        "days": d,
        "seed": seed,
        "dt_h": dt_h,
        "stochastic": stochastic,
        "chunk_size": chunk_size,
        "scheduler": scheduler if isinstance(scheduler, str | None) else type(scheduler).__name__,
        "random_streams": "per subject: SplitMix64(seed, arm name, index in arm, draw)",
        "catalog_overlay": (
            {"file": str(catalog_overlay), "values": value_sets}
            if catalog_overlay is not None
            else None
        ),
        "wall_s": round(wall, 3),
    }
    if exp.species != "mouse" or exp.counterfactuals or exp.parameters != "packaged":
        meta["species"] = exp.species
        meta["counterfactuals"] = list(exp.counterfactuals)
        meta["parameters"] = exp.parameters
        if sets is not None:
            meta["parameter_sets"] = sets
    if exp.site != "leptomeningeal":
        meta["site"] = exp.site
        meta["readouts"] = _SITE_READOUTS[exp.site]
    staging = Path(tempfile.mkdtemp(prefix=".simulate-", dir=out))
    try:
        write_csv(staging / "observations.csv", cohort.observations)
        write_csv(staging / "survival.csv", cohort.survival)
        write_csv(staging / "subjects.csv", cohort.subjects)
        write_text(staging / "run.json", json.dumps(meta, indent=2) + "\n")
        paths = {}
        with sigint_held():
            for name in ("observations", "survival", "subjects", "run"):
                fname = f"{name}.json" if name == "run" else f"{name}.csv"
                os.replace(staging / fname, out / fname)
                paths[name] = out / fname
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"wrote {len(paths)} files to {out}")
    return paths
