"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

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
