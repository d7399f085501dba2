"""Output folders: a refusal says how to pass --force, under make too (issue 16)."""

from __future__ import annotations

import pytest

from leptotwin._fileio import prepare_out_dir
from leptotwin.errors import LeptotwinError


def test_refusal_under_make_says_how_to_pass_force(tmp_path, monkeypatch):
    (tmp_path / "old.csv").write_text("x\n")
    monkeypatch.delenv("MAKELEVEL", raising=False)
    with pytest.raises(LeptotwinError) as plain:
        prepare_out_dir(tmp_path, force=False)
    assert "ARGS=--force" not in str(plain.value) and "--force" in str(plain.value)
    monkeypatch.setenv("MAKELEVEL", "1")
    with pytest.raises(LeptotwinError, match=r"make \.\.\. ARGS=--force"):
        prepare_out_dir(tmp_path, force=False)
