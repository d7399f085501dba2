"""The reference files in tests/data are exact copies of ../shared/reference-data (when present)."""

from __future__ import annotations

import hashlib

import pytest

from refdata import DATA, SHARED_REFERENCE


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_copied_file_is_listed_in_the_readme():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for path in DATA.rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert path.parent.name in readme and path.stem.split("_")[0] in readme, path


@pytest.mark.skipif(not SHARED_REFERENCE.is_dir(), reason="no ../shared beside the checkout")
def test_copies_equal_the_shared_originals():
    copied = sorted(p.relative_to(DATA) for p in DATA.rglob("*") if p.is_file())
    compared = 0
    for rel in copied:
        original = SHARED_REFERENCE / rel
        if rel.name == "README.md":
            continue
        assert original.is_file(), f"{rel} is not in ../shared/reference-data"
        assert _digest(DATA / rel) == _digest(original), rel
        compared += 1
    assert compared >= 13
