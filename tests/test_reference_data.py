"""The reference files in tests/data are the published originals: each is pinned by SHA-256
(``tests/data/SHA256SUMS``, written when the files were copied and checked byte for byte against
the project's reference-data folder), so an edited or re-encoded copy fails here."""

from __future__ import annotations

import hashlib

from refdata import DATA


def _pinned() -> dict[str, str]:
    lines = (DATA / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {
        name.removeprefix("./"): digest for digest, name in (ln.split(maxsplit=1) for ln in lines)
    }


def test_every_data_file_is_pinned_and_unchanged():
    pinned = _pinned()
    present = {
        str(p.relative_to(DATA))
        for p in DATA.rglob("*")
        if p.is_file() and p.name not in ("README.md", "SHA256SUMS")
    }
    assert present == set(pinned)
    for name, digest in pinned.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_every_copied_file_is_listed_in_the_readme():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in _pinned():
        path = DATA / name
        assert path.parent.name in readme and path.stem.split("_")[0] in readme, name
