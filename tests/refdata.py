"""Where the tests find the public reference files: ``tests/data`` (copies of the project's
reference data, pinned by SHA-256 in ``tests/data/SHA256SUMS``; origins and licences in
``tests/data/README.md``), so the suite runs on a fresh clone with nothing beside it."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
DOSE_RESPONSE = DATA / "dose-response"
SYNERGY = DATA / "synergy"
IMZML = DATA / "imzml"
