"""Fixtures shared by the test modules."""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, settings

from leptotwin import cli

# Property-based tests of every reader and grammar: a few hundred cases each in `make test`,
# 10,000 in `make fuzz` (HYPOTHESIS_PROFILE=fuzz). Derandomised in CI runs so a failure there is
# reproducible from the log; the fuzz profile explores new cases on every run.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("default", max_examples=200, derandomize=True, **_COMMON)
settings.register_profile("fuzz", max_examples=10_000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def run_cli(monkeypatch, capsys) -> Callable[..., tuple[int, str, str]]:
    """Run the command line in this process: ``run_cli(*argv)`` → (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["leptotwin", *args])
        with pytest.raises(SystemExit) as exc:
            cli.main()
            raise SystemExit(0)
        out = capsys.readouterr()
        return exc.value.code, out.out, out.err

    return run


#: Seed of the shared ``reproduce --quick`` run (the command's default, given explicitly).
REPRODUCE_SEED = 2020


@pytest.fixture(scope="session")
def reproduce_quick(tmp_path_factory) -> SimpleNamespace:
    """One ``leptotwin reproduce --quick --seed 2020 --out DIR`` through the command line, run
    once per session and shared: tests/test_cli.py checks what the command wrote and printed,
    tests/study/test_report_legibility.py draws the figures of the very sections this run put in
    its report (each section once instead of once per module: ~30 s of one core), and
    tests/study/test_pharmacokinetics_section.py checks the PK section's tables in it.

    Attributes: ``code``, ``stdout``, ``stderr`` (the command's exit status and output), ``out``
    (its folder) and ``sections`` (section name -> the :class:`SectionResult` the runner got)."""
    from leptotwin.study import reproduce as rp

    out = tmp_path_factory.mktemp("reproduce_quick") / "rep"
    sections: dict = {}
    run_sections = rp._run_sections

    def recording(specs, results, *args, **kw):
        first = len(results)
        elapsed = run_sections(specs, results, *args, **kw)
        sections.update((s.name, r) for s, r in zip(specs, results[first:], strict=True))
        return elapsed

    argv = ["leptotwin", "reproduce", "--quick", "--seed", str(REPRODUCE_SEED), "--out", str(out)]
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rp, "_run_sections", recording)
        mp.setattr(sys, "argv", argv)
        with redirect_stdout(stdout), redirect_stderr(stderr), pytest.raises(SystemExit) as exc:
            cli.main()
            raise SystemExit(0)
    return SimpleNamespace(
        code=exc.value.code,
        stdout=stdout.getvalue(),
        stderr=stderr.getvalue(),
        out=out,
        sections=sections,
    )


@pytest.fixture(scope="module")
def explorer() -> Iterator[str]:
    """Base URL of a ``leptotwin explore`` server on a free loopback port, stopped after the
    module (the explorer's server and browser tests share it)."""
    from leptotwin.explore import serve

    port: list[int] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, kwargs={"port": 0, "ready": port.append, "stop": stop}, daemon=True
    )
    thread.start()
    t0 = time.monotonic()
    while not port and time.monotonic() - t0 < 30:
        time.sleep(0.02)
    assert port, "the explorer did not start"
    yield f"http://127.0.0.1:{port[0]}"
    stop.set()
    thread.join(10)
