"""Run the study: every registered section, then ``claims.csv`` and a self-contained report.

How to add a section (5 lines):
1. Create ``src/leptotwin/study/sections/<name>.py``; every module there is imported automatically.
2. Write ``@register_section("<name>", order=30)`` over ``def f(ctx: Context) -> SectionResult``.
3. Draw randomness only from ``ctx.rng`` (keyed by the name); do less work when ``ctx.quick``.
4. Return ``SectionResult(title, text=, figures=[(caption, Figure)], tables={"x.csv": df},
   claims=[ClaimResult("C1", ClaimStatus.PASS, "IC50 = 21 nM")])``; extra files go in ctx.out_dir.

A section that runs long reports its sub-steps: ``with ctx.task("repeated studies", total=n) as
step:`` and ``step()`` after each one (or ``ctx.progress(done, total, what)``). On a terminal the
runner shows them as a second bar under the section bar; everywhere else (tests, ensemble
workers, ``progress=False``, output that is not a terminal) they cost nothing and show nothing.

Nothing is written into the output folder until every section has succeeded: all files are made in a
temporary sibling folder and moved into place at the end (``report.html`` last). A section that
raises leaves the output folder as it was.

Examples
--------
>>> import io, tempfile
>>> from rich.console import Console
>>> from leptotwin.study.reproduce import SectionResult, SectionSpec, run_reproduce
>>> def demo(ctx):
...     return SectionResult("Demo", tables={"demo.csv": pd.DataFrame({"x": ctx.rng.random(3)})})
>>> with tempfile.TemporaryDirectory() as tmp:
...     res = run_reproduce(out_dir=f"{tmp}/out", sections=[SectionSpec("demo", 0, demo)],
...                         progress=False, console=Console(file=io.StringIO()))
...     sorted(p.name for p in res.files)
['claims.csv', 'demo.csv', 'report.html']
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import os
import pkgutil
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from leptotwin._fileio import prepare_out_dir, write_csv
from leptotwin._sigint import raise_if_interrupted
from leptotwin.catalog import Catalog, using_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.study.claims import ClaimResult, ClaimStatus, claims_rich_table, load_claims
from leptotwin.study.report import Report, Section

if TYPE_CHECKING:
    from leptotwin.study.ensemble import PendingEnsemble

__all__ = [
    "CLAIMS_CSV",
    "DEFAULT_SEED",
    "PROGRESS_INTERVAL_S",
    "REPORT_HTML",
    "Context",
    "ProgressCallback",
    "ReproduceResult",
    "SectionFunc",
    "SectionResult",
    "SectionSpec",
    "register_section",
    "registered_sections",
    "run_reproduce",
    "section_rng",
    "section_seed_sequence",
]

#: Seed used when none is given.
DEFAULT_SEED = 2020
#: File names the runner writes itself; sections may not use them.
CLAIMS_CSV = "claims.csv"
REPORT_HTML = "report.html"

#: Package whose modules hold the sections; imported on demand, absent is fine.
SECTIONS_PACKAGE = "leptotwin.study.sections"

#: Least seconds between two sub-step reports of a :meth:`Context.task` (its last one always goes).
PROGRESS_INTERVAL_S = 0.2

#: A section's sub-step report ``(done, total, what)``; ``total`` is ``None`` when not known.
ProgressCallback = Callable[[int, int | None, str], None]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_CSV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.csv$")


@dataclass(frozen=True)
class Context:
    """What a section gets from the runner.

    Attributes
    ----------
    rng : numpy.random.Generator
        This section's own random stream (:func:`section_rng` of ``seed`` and ``name``).
    seed : int
        The run's seed.
    out_dir : pathlib.Path
        Staging folder for extra files (images, imzML); moved into the output folder only if the
        whole run succeeds. Tables and figures should be returned, not written here.
    quick : bool
        Smaller, faster run (fewer subjects, coarser grids) for tests and previews.
    name : str
        The section's registered name.
    catalog : Catalog, optional
        The parameter set of this run (``None``: the packaged catalogue). The runner makes it
        the active catalogue (:func:`~leptotwin.catalog.loader.using_catalog`) while the section
        runs, so ``load_catalog()`` and every ``from_catalog()`` default return it.
    ensemble : bool
        The section runs as one member of a claims ensemble (``reproduce --ensemble``): compute
        the claims through the full chain, skip what only the report needs (prior-range grids,
        sensitivity tables, extra figures). Implies ``quick``.
    sections : tuple of str
        The names of the sections this run executes, in order (a section may point the reader
        to another one only when it is in the report).
    on_progress : callable, optional
        Where :meth:`progress` and :meth:`task` report sub-steps: ``on_progress(done, total,
        what)``. The runner sets it while a progress display is shown; ``None`` (tests, ensemble
        workers, no display): the reports are dropped. Sections call :meth:`task` or
        :meth:`progress`, never this.
    """

    rng: np.random.Generator
    seed: int
    out_dir: Path
    quick: bool = False
    name: str = ""
    catalog: Catalog | None = None
    ensemble: bool = False
    sections: tuple[str, ...] = ()
    on_progress: ProgressCallback | None = field(default=None, repr=False, compare=False)

    def progress(self, done: int, total: int | None = None, what: str = "") -> None:
        """Report that ``done`` of ``total`` sub-steps of ``what`` are finished.

        Passed on as it comes (no rate limit): call it between steps that take a while, or use
        :meth:`task` in a loop. Does nothing without a progress display."""
        if self.on_progress is not None:
            self.on_progress(int(done), None if total is None else int(total), str(what))

    @contextmanager
    def task(self, what: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        """A sub-task of ``total`` steps: ``with ctx.task("studies", total=n) as step:``, then
        ``step()`` after each step (``step(k)``: k steps; ``step(what="...")`` relabels it).

        Reports 0 at the start, then at most one count per :data:`PROGRESS_INTERVAL_S` (a new
        label and the last step are reported at once: relabel per phase, not per fast
        iteration), and the count reached on leaving the block, so the counts a display sees rise
        to where the work stopped. Without a progress display ``step`` does nothing (it costs a
        call).

        Examples
        --------
        >>> seen = []
        >>> ctx = Context(rng=np.random.default_rng(0), seed=0, out_dir=Path("."),
        ...               on_progress=lambda *a: seen.append(a))
        >>> with ctx.task("studies", total=3) as step:
        ...     for _ in range(3):
        ...         step()
        >>> seen[0], seen[-1]
        ((0, 3, 'studies'), (3, 3, 'studies'))
        """
        if self.on_progress is None:
            yield _no_step
            return
        stepper = _Stepper(self.on_progress, str(what), total)
        try:
            yield stepper
        finally:
            stepper.flush()


def _no_step(n: int = 1, *, what: str | None = None) -> None:
    """The step of a task with no progress display."""


class _Stepper:
    """The step function of :meth:`Context.task`: counts steps, reports a few times a second."""

    __slots__ = ("_callback", "_next", "_reported", "done", "total", "what")

    def __init__(self, callback: ProgressCallback, what: str, total: int | None) -> None:
        self._callback = callback
        self.what = what
        self.total = None if total is None else int(total)
        self.done = 0
        self._reported: tuple[int, str] | None = None
        self._next = 0.0
        self._report()

    def __call__(self, n: int = 1, *, what: str | None = None) -> None:
        self.done += n
        relabelled = what is not None and str(what) != self.what
        if relabelled:
            self.what = str(what)
        if (
            relabelled
            or (self.total is not None and self.done >= self.total)
            or time.monotonic() >= self._next
        ):
            self._report()

    def _report(self) -> None:
        self._callback(self.done, self.total, self.what)
        self._reported = (self.done, self.what)
        self._next = time.monotonic() + PROGRESS_INTERVAL_S

    def flush(self) -> None:
        """Report the count reached, unless it was the last one reported."""
        if self._reported != (self.done, self.what):
            self._report()


@dataclass
class SectionResult:
    """What a section returns.

    Attributes
    ----------
    title : str
        Section heading in the report.
    text : str
        Markdown-ish text (paragraphs, ``- `` bullets, ``**bold**``, ```code```).
    figures : list of Figure or (caption, Figure)
        Embedded in the report as PNG. Build them with ``matplotlib.figure.Figure()`` rather than
        ``pyplot`` so none stays open; the runner closes pyplot figures after the report is written.
    tables : dict of str to DataFrame
        CSV file name (``.csv`` added if missing) → table; each is written to the output folder.
        The report prints a short one with a link to its file, and only links a long one
        (:data:`~leptotwin.study.report.DEFAULT_MAX_ROWS`).
    claims : list of ClaimResult
        One result per claim this section checks.
    views : dict of str to DataFrame
        Optional compact views, keyed like ``tables``: what the report prints in place of that
        table (fewer, shorter columns); the CSV file keeps the full table.
    """

    title: str
    text: str = ""
    figures: list[Figure | tuple[str, Figure]] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    claims: list[ClaimResult] = field(default_factory=list)
    views: dict[str, pd.DataFrame] = field(default_factory=dict)


#: A section: takes the context, returns its result.
SectionFunc = Callable[[Context], SectionResult]


@dataclass(frozen=True)
class SectionSpec:
    """A registered section: its ``name`` (also its RNG key), run ``order`` and function."""

    name: str
    order: int
    func: SectionFunc

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise LeptotwinError(
                "bad section name",
                source="register_section",
                field="name",
                value=self.name,
                expected="lower-case letters, digits and _ (e.g. 'pk', 'mouse_relapse')",
            )
        if not callable(self.func):
            raise LeptotwinError(
                "section function is not callable", source=f"section {self.name!r}", field="func"
            )


@dataclass(frozen=True)
class ReproduceResult:
    """What :func:`run_reproduce` produced.

    Attributes
    ----------
    out_dir : pathlib.Path
        The output folder.
    report_path, claims_path : pathlib.Path
        ``report.html`` and ``claims.csv`` in it.
    claims : pandas.DataFrame
        The claims table (same as ``claims.csv``).
    files : tuple of pathlib.Path
        Every file written, in the order they were moved into place.
    seed : int
        The run's seed.
    sections : tuple of str
        Names of the sections run, in order.
    elapsed_s : dict of str to float
        Wall time of each section, in seconds.
    """

    out_dir: Path
    report_path: Path
    claims_path: Path
    claims: pd.DataFrame
    files: tuple[Path, ...]
    seed: int
    sections: tuple[str, ...]
    elapsed_s: dict[str, float]

    @property
    def status_counts(self) -> dict[str, int]:
        """Number of claims per status, every status present (``{"PASS": 1, ...}``)."""
        counts = self.claims["status"].value_counts()
        return {s.value: int(counts.get(s.value, 0)) for s in ClaimStatus}

    @property
    def any_failed(self) -> bool:
        """True if some claim is ``FAIL`` (not-implemented claims do not count)."""
        return self.status_counts[ClaimStatus.FAIL.value] > 0


# -- registry -----------------------------------------------------------------------------------

_REGISTRY: dict[str, SectionSpec] = {}


def register_section(name: str, *, order: int) -> Callable[[SectionFunc], SectionFunc]:
    """Decorator that registers a section function under ``name``.

    Parameters
    ----------
    name : str
        Lower-case identifier (``"pk"``); also the key of the section's RNG, so renaming a
        section changes its random stream and no other.
    order : int
        Sections run by ascending order, then name.

    Raises
    ------
    LeptotwinError
        If the name is malformed or already taken by another function.
    """

    def decorator(func: SectionFunc) -> SectionFunc:
        spec = SectionSpec(name, int(order), func)
        old = _REGISTRY.get(name)
        if old is not None and _qualname(old.func) != _qualname(func):
            raise LeptotwinError(
                "section name already registered",
                source="register_section",
                field="name",
                value=name,
                expected=f"a name not used by {_qualname(old.func)}",
            )
        _REGISTRY[name] = spec
        return func

    return decorator


def registered_sections(*, discover: bool = True) -> list[SectionSpec]:
    """All registered sections in run order; first imports ``leptotwin.study.sections.*``."""
    if discover:
        _discover_sections()
    return sorted(_REGISTRY.values(), key=lambda s: (s.order, s.name))


def _discover_sections() -> None:
    try:
        package = importlib.import_module(SECTIONS_PACKAGE)
    except ModuleNotFoundError as exc:
        if exc.name in (SECTIONS_PACKAGE, SECTIONS_PACKAGE.rsplit(".", 1)[0]):
            return
        raise
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{SECTIONS_PACKAGE}.{info.name}")


def _qualname(func: Callable[..., object]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _select(sections: Iterable[str | SectionSpec] | None) -> list[SectionSpec]:
    if sections is None:
        return registered_sections()
    items = list(sections)
    if any(isinstance(s, str) for s in items):
        _discover_sections()
    chosen: list[SectionSpec] = []
    for item in items:
        if isinstance(item, SectionSpec):
            chosen.append(item)
        elif isinstance(item, str) and item in _REGISTRY:
            chosen.append(_REGISTRY[item])
        else:
            known = ", ".join(s.name for s in registered_sections(discover=False)) or "none yet"
            raise LeptotwinError(
                "unknown section",
                source="--section",
                value=item,
                expected=f"one of: {known}",
            )
    names = [s.name for s in chosen]
    if len(set(names)) != len(names):
        raise LeptotwinError("section listed twice", source="--section", value=names)
    return sorted(chosen, key=lambda s: (s.order, s.name))


# -- randomness ---------------------------------------------------------------------------------


def section_seed_sequence(seed: int, name: str) -> np.random.SeedSequence:
    """The ``SeedSequence`` of section ``name``: the run's seed, spawn key from the name.

    The spawn key is the SHA-256 of the name (four 32-bit words), so a section's stream depends
    only on the seed and its own name: adding, removing or reordering sections changes no other
    section's numbers.
    """
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    key = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return np.random.SeedSequence(entropy=_check_seed(seed), spawn_key=key)


def section_rng(seed: int, name: str) -> np.random.Generator:
    """A fresh ``numpy.random.Generator`` for section ``name`` (:func:`section_seed_sequence`)."""
    return np.random.default_rng(section_seed_sequence(seed, name))


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise LeptotwinError(
            "seed must be a non-negative integer",
            source="--seed",
            value=seed,
            expected="an integer ≥ 0",
        )
    return int(seed)


# -- runner -------------------------------------------------------------------------------------


def run_reproduce(
    *,
    out_dir: str | os.PathLike[str],
    seed: int = DEFAULT_SEED,
    force: bool = False,
    sections: Iterable[str | SectionSpec] | None = None,
    quick: bool = False,
    progress: bool = True,
    console: Console | None = None,
    command: str | None = None,
    catalog: Catalog | None = None,
    ensemble: int = 0,
    jobs: int | None = None,
) -> ReproduceResult:
    """Run the sections, write their CSVs, ``claims.csv`` and ``report.html`` into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output folder; created if missing. Must be empty unless ``force``.
    seed : int, optional
        Seed of the whole run; each section gets :func:`section_rng` ``(seed, name)``.
    force : bool, optional
        Allow a non-empty ``out_dir``: files with the same names are replaced, others kept.
    sections : iterable of str or SectionSpec, optional
        Sections to run (registered names, or specs not in the registry). Default: all
        registered sections. Always run in ``order``.
    quick : bool, optional
        Passed to sections as ``ctx.quick``.
    progress : bool, optional
        Show a progress bar (one step per section).
    console : rich.console.Console, optional
        Where progress and the final claims table go (default: a new stdout console).
    command : str, optional
        Command line recorded in the report metadata (the CLI passes its own).
    catalog : Catalog, optional
        The parameter set (default: the posterior-median catalogue,
        :func:`~leptotwin.catalog.posterior.posterior_median_catalog`; the packaged values
        where nothing is calibrated). Active while each section runs.
    ensemble : int, optional
        Also evaluate every claim on this many parameter draws
        (:func:`leptotwin.study.ensemble.run_claims_ensemble`): ``claims_ensemble.csv`` with
        P(PASS) and its interval per claim, and a report section. 0 (default): none.
    jobs : int, optional
        Worker processes of the ensemble (default: the CPUs available).

    Returns
    -------
    ReproduceResult

    Raises
    ------
    LeptotwinError
        If ``out_dir`` is not empty and ``force`` is false, the seed is bad, a section name is
        unknown, or a section returns something malformed (bad table name, duplicate claim,
        unknown claim id). Nothing is written to ``out_dir`` then.
    Exception
        Whatever a section raises, with a note naming the section; nothing is written to
        ``out_dir`` either.
    """
    seed = _check_seed(seed)
    specs = _select(sections)
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 0:
        raise LeptotwinError(
            "ensemble size must be a non-negative integer",
            source="--ensemble",
            value=ensemble,
            expected="0 (no ensemble) or the number of parameter draws",
        )
    if catalog is None:
        from leptotwin.catalog.posterior import posterior_median_catalog

        catalog = posterior_median_catalog()
    out = prepare_out_dir(out_dir, force=force).resolve()
    console = console if console is not None else Console()
    if command is None:
        command = f"run_reproduce(seed={seed}, quick={quick}, sections={[s.name for s in specs]})"

    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    results: list[SectionResult] = []
    early: PendingEnsemble | None = None
    try:
        early = _start_ensemble(ensemble, seed, specs, jobs)
        elapsed = _run_sections(specs, results, seed, staging, quick, progress, console, catalog)
        if ensemble:
            claim_sections = [s.name for s, r in zip(specs, results, strict=True) if r.claims]
            if early is not None and list(early.names) != claim_sections:
                early.cancel()  # started for other sections than those that reported claims
                early = None
            specs = [
                *specs,
                _ensemble_spec(ensemble, claim_sections, progress, console, jobs, early),
            ]
            elapsed.update(
                _run_sections(specs[-1:], results, seed, staging, quick, False, console, catalog)
            )
        report = Report(
            "leptotwin: reproduction of Arai et al., J Thorac Oncol 2020",
            subtitle="Alectinib resistance via miR-449a → AREG → EGFR in leptomeningeal "
            "carcinomatosis — virtual experiments, virtual assays, analysis, claims.",
            metadata=_metadata(seed, quick, command, specs, elapsed),
        )
        table_owner: dict[str, str] = {}
        for spec, res in zip(specs, results, strict=True):
            tables = []
            for raw_name, frame in res.tables.items():
                csv_name = _csv_name(raw_name, spec.name)
                if csv_name in table_owner or (staging / csv_name).exists():
                    raise LeptotwinError(
                        "table file name used twice",
                        source=f"section {spec.name!r}",
                        field="tables",
                        value=csv_name,
                        expected="a name no other section or file uses "
                        f"(taken by {table_owner.get(csv_name, 'a file in ctx.out_dir')!r})",
                    )
                table_owner[csv_name] = spec.name
                write_csv(staging / csv_name, frame)
                tables.append(
                    (csv_name.removesuffix(".csv"), frame, csv_name, res.views.get(raw_name))
                )
            report.add(
                Section(
                    res.title, text=res.text, figures=res.figures, tables=tables, claims=res.claims
                )
            )
        for reserved in (CLAIMS_CSV, REPORT_HTML):
            if (staging / reserved).exists():
                raise LeptotwinError(
                    "a section wrote a file the runner writes itself",
                    source="ctx.out_dir",
                    value=reserved,
                    expected="another file name",
                )
        # claim ids were checked per section (_check_result); the report refuses a claim that two
        # sections report
        table = report.claims_summary()
        write_csv(staging / CLAIMS_CSV, table)
        report.write(staging / REPORT_HTML)

        files = _move_into_place(staging, out)
    finally:
        if early is not None:
            early.cancel()  # a section failed before the ensemble was collected
        _close_figures(fig for res in results for fig in res.figures)
        shutil.rmtree(staging, ignore_errors=True)

    result = ReproduceResult(
        out_dir=out,
        report_path=out / REPORT_HTML,
        claims_path=out / CLAIMS_CSV,
        claims=table,
        files=tuple(files),
        seed=seed,
        sections=tuple(s.name for s in specs),
        elapsed_s=elapsed,
    )
    console.print(
        claims_rich_table(table, title=f"Claims (seed {seed})", thresholds=console.width >= 140)
    )
    console.print(
        "  ".join(f"{status}: {n}" for status, n in result.status_counts.items())
        + f"  —  report: {result.report_path}"
    )
    return result


def _run_sections(
    specs: list[SectionSpec],
    results: list[SectionResult],
    seed: int,
    staging: Path,
    quick: bool,
    progress: bool,
    console: Console,
    catalog: Catalog | None = None,
) -> dict[str, float]:
    """Run ``specs`` in order, appending to ``results`` (so figures can be closed on failure)."""
    elapsed: dict[str, float] = {}
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, disable=not progress) as bar:
        task = bar.add_task("reproduce", total=len(specs))
        # sub-steps only where the bar is drawn live: off a terminal rich prints the bars once,
        # at the end, and a section's sub-bar would be stale there
        substeps = _SubstepBar(bar) if progress and console.is_terminal else None
        for spec in specs:
            raise_if_interrupted()  # a Ctrl-C swallowed in the last section (leptotwin._sigint)
            bar.update(task, description=f"section {spec.name}")
            bar.refresh()
            ctx = Context(
                rng=section_rng(seed, spec.name),
                seed=seed,
                out_dir=staging,
                quick=quick,
                name=spec.name,
                catalog=catalog,
                sections=tuple(s.name for s in specs),
                on_progress=substeps,
            )
            start = time.perf_counter()
            try:
                with using_catalog(catalog):
                    res = spec.func(ctx)
            except BaseException as exc:
                exc.add_note(f"in reproduce section {spec.name!r} ({_qualname(spec.func)})")
                raise
            finally:
                if substeps is not None:
                    substeps.close()
            elapsed[spec.name] = time.perf_counter() - start
            if not isinstance(res, SectionResult):
                raise LeptotwinError(
                    "section did not return a SectionResult",
                    source=f"section {spec.name!r}",
                    value=type(res).__name__,
                    expected="SectionResult",
                )
            results.append(res)
            _check_result(res, spec.name)
            bar.advance(task)
        bar.update(task, description="done")
    return elapsed


class _SubstepBar:
    """A section's sub-steps as a second task of the runner's bar (a :data:`ProgressCallback`).

    The task is made at the first report and removed by :meth:`close` when the section ends; a
    new sub-task of the section (the count going back, another total) restarts its clock."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._task: TaskID | None = None
        self._last: tuple[int, int | None] = (0, None)

    def __call__(self, done: int, total: int | None, what: str) -> None:
        description = f"  ↳ {what}" if what else "  ↳"
        if self._task is None:
            self._task = self._bar.add_task(description, total=total, completed=done)
        elif done < self._last[0] or total != self._last[1]:
            self._bar.reset(self._task, total=total, completed=done, description=description)
        else:
            self._bar.update(self._task, completed=done, description=description)
        self._last = (done, total)

    def close(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task, self._last = None, (0, None)


def _start_ensemble(
    n: int, seed: int, specs: list[SectionSpec], jobs: int | None
) -> PendingEnsemble | None:
    """The claims ensemble started in worker processes before the sections run, so that its
    draws use the cores the (mostly single-threaded) sections leave idle; ``None`` where it
    cannot start early (no ensemble, one job, a section not in the registry). It is started for
    the registered claim sections among ``specs``; should other sections report claims, the run
    cancels it and runs the ensemble afterwards, as before."""
    from leptotwin.study.ensemble import CLAIM_SECTIONS, _jobs, start_claims_ensemble

    if not n or _jobs(jobs, n) < 2:
        return None
    if any(_REGISTRY.get(s.name) is not s for s in specs):
        return None
    names = [s.name for s in specs if s.name in CLAIM_SECTIONS]
    return start_claims_ensemble(n, seed=seed, sections=names, jobs=jobs) if names else None


def _ensemble_spec(
    n: int,
    claim_sections: list[str],
    progress: bool,
    console: Console,
    jobs: int | None,
    pending: PendingEnsemble | None = None,
) -> SectionSpec:
    """The ensemble as a last section: P(PASS) per claim over ``n`` parameter draws (collected
    from ``pending`` where it was started before the sections)."""
    from leptotwin.study.ensemble import (
        CLAIMS_ENSEMBLE_CSV,
        GOAL_P_PASS,
        ensemble_figure,
        failure_breakdown,
        start_claims_ensemble,
    )

    def ensemble_section(ctx: Context) -> SectionResult:
        columns = (
            TextColumn("claims ensemble"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, disable=not progress) as bar:
            task = bar.add_task("ensemble", total=n)
            started = pending or start_claims_ensemble(
                n, seed=ctx.seed, sections=claim_sections, jobs=jobs
            )
            res = started.result(on_draw=lambda k: bar.update(task, completed=k))
        alongside = pending is not None
        summary = res.summary
        below = summary.loc[summary["p_pass"] < GOAL_P_PASS, "id"].tolist()
        n_eff = float(summary["n_eff"].min()) if len(summary) else float(n)
        failures = failure_breakdown(res.draws)
        fitted = res.parameters.attrs.get("fitted", [])
        text = (
            f"Every claim evaluated through the full chain (virtual instruments → files → "
            f"analysis) on {n} parameter draws, each with its own instrument noise: "
            + (
                (
                    f"all {len(fitted)} uncertain parameters resampled jointly from the "
                    "importance-weighted posterior ensemble (`posterior_draws.csv`: the "
                    "calibrated ones from the sampler, the others from their priors, weighted "
                    "together)"
                    if len(fitted) == res.parameters.shape[1]
                    else f"{len(fitted)} calibrated parameters resampled jointly from the "
                    "posterior ensemble (`posterior_draws.csv`), every other uncertain "
                    "parameter drawn from its prior"
                )
                if fitted
                else "every uncertain parameter drawn from its prior (no calibration installed)"
            )
            + f" ({res.parameters.shape[1]} parameters in all). The claims table above is the "
            "posterior-median run; this is how often each claim holds over what we do not "
            f"know. P(PASS) with its 95 % Jeffreys interval on the effective number of draws "
            f"({n_eff:.0f} of {n}: draws resampled from a weighted posterior repeat its rows, "
            "and repeats count once); "
            f"goal ≥ {GOAL_P_PASS:g}. Sections "
            f"run in ensemble mode (quick cohorts, report-only grids skipped): "
            f"{', '.join(claim_sections)}; {res.jobs} worker processes, "
            + (
                f"started with the other sections and done {res.elapsed_s:.0f} s later. "
                if alongside
                else f"{res.elapsed_s:.0f} s. "
            )
            + (
                "Below the goal: " + "; ".join(_why_below(c, failures) for c in below) + "."
                if below
                else "Every claim meets the goal."
            )
            + " `claims_ensemble_failures.csv` counts, for each claim, which readout missed its "
            "threshold in its failing draws."
        )
        return SectionResult(
            title=f"Claims as probabilities ({n} parameter draws)",
            text=text,
            figures=[
                ("P(PASS) per claim with its 95 % Jeffreys interval.", ensemble_figure(summary))
            ],
            tables={
                CLAIMS_ENSEMBLE_CSV: summary,
                "claims_ensemble_failures.csv": failures,
                "claims_ensemble_draws.csv": res.draws,
                "claims_ensemble_parameters.csv": res.parameters.reset_index(names="draw"),
            },
        )

    return SectionSpec("ensemble", 10_000, ensemble_section)


def _why_below(claim_id: str, failures: pd.DataFrame) -> str:
    """``C2 (of 56 failing draws: 52 harvested cells …, 9 …)``: the claim's two most frequent
    failing parts."""
    mine = failures[failures["id"] == claim_id]
    if mine.empty:
        return claim_id
    total = round(float(mine["n_fail"].iloc[0] / mine["share"].iloc[0]))
    top = mine.head(2)
    parts = ", ".join(f"{int(k)} {p}" for p, k in zip(top["part"], top["n_fail"], strict=True))
    return f"{claim_id} (of {total} failing draws: {parts})"


def _check_result(res: SectionResult, name: str) -> None:
    known = {c.id for c in load_claims()}
    for claim in res.claims:
        if not isinstance(claim, ClaimResult):
            raise LeptotwinError(
                "claims must be ClaimResult objects",
                source=f"section {name!r}",
                field="claims",
                value=type(claim).__name__,
            )
        if claim.id not in known:
            raise LeptotwinError(
                "result for an unknown claim",
                source=f"section {name!r}",
                field="claims",
                value=claim.id,
                expected="one of " + ", ".join(c.id for c in load_claims()),
            )
    for key, frame in res.tables.items():
        if not isinstance(frame, pd.DataFrame):
            raise LeptotwinError(
                "table is not a DataFrame",
                source=f"section {name!r}",
                field=f"tables[{key!r}]",
                value=type(frame).__name__,
            )
    for key, view in res.views.items():
        if key not in res.tables or not isinstance(view, pd.DataFrame):
            raise LeptotwinError(
                "a view must be a DataFrame keyed like one of the section's tables",
                source=f"section {name!r}",
                field=f"views[{key!r}]",
                value=type(view).__name__ if key in res.tables else key,
                expected="one of " + ", ".join(map(repr, res.tables)),
            )


def _csv_name(raw: str, section: str) -> str:
    name = raw if raw.endswith(".csv") else f"{raw}.csv"
    if not _CSV_RE.match(name) or name in (CLAIMS_CSV, REPORT_HTML):
        raise LeptotwinError(
            "bad table file name",
            source=f"section {section!r}",
            field="tables",
            value=raw,
            expected=f"a plain file name of letters, digits, '_', '-', '.', not {CLAIMS_CSV!r}",
        )
    return name


def _move_into_place(staging: Path, out: Path) -> list[Path]:
    """Move every staged file into ``out`` (same relative path); report.html last."""
    staged = sorted(p for p in staging.rglob("*") if p.is_file() or p.is_symlink())
    last = [staging / CLAIMS_CSV, staging / REPORT_HTML]
    ordered = [p for p in staged if p not in last] + [p for p in last if p in staged]
    moved: list[Path] = []
    for src in ordered:
        target = out / src.relative_to(staging)
        if target.is_dir():
            raise LeptotwinError(
                "a folder is in the way of an output file",
                source="--out",
                value=str(target),
                expected="no folder with that name in the output folder",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, target)
        moved.append(target)
    return moved


def _metadata(
    seed: int,
    quick: bool,
    command: str,
    specs: list[SectionSpec],
    elapsed: Mapping[str, float],
) -> dict[str, str]:
    from leptotwin import __version__

    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    return {
        "leptotwin": __version__,
        "seed": str(seed),
        "quick": str(quick),
        "date (UTC)": now.isoformat(),
        "command": command,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "sections (s)": ", ".join(f"{s.name} {elapsed.get(s.name, 0.0):.2f}" for s in specs)
        or "none registered",
    }


def _close_figures(figures: Iterable[Figure | tuple[str, Figure]]) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    for item in figures:
        fig = item[1] if isinstance(item, tuple) else item
        if isinstance(fig, Figure):
            pyplot.close(fig)
