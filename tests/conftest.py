"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator

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
