"""Fixtures shared by the test modules."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from leptotwin import cli


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
