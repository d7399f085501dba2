"""Where the tests find the public reference files: ``tests/data`` (copied from
``../shared/reference-data``, see ``tests/data/README.md``), so the suite runs on a fresh clone
with nothing beside it."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
DOSE_RESPONSE = DATA / "dose-response"
SYNERGY = DATA / "synergy"
IMZML = DATA / "imzml"
# The project's shared folder beside the checkout (CI has it; a user's clone does not).
SHARED_REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference-data"
