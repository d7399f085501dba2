"""Packaged texts cite the primary sources (publication, DOI/PMID, label), never the project's
internal notes (BRIEF.md, FACTS.md), which a user of the package cannot open (issue 16, item 4)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import leptotwin
from leptotwin.calibration.targets import load_targets
from leptotwin.catalog import load_catalog

PACKAGE = Path(leptotwin.__file__).parent
INTERNAL = re.compile(r"\b(?:BRIEF|FACTS|CLAIMS)(?:\.md)?\b")

# posterior.yaml (written by leptotwin calibrate-study) copies the prior sources of the catalogue
# and the sources of calibration/targets.yaml, so it is checked too
YAML_FILES = sorted(PACKAGE.rglob("*.yaml"))


def test_the_packaged_yaml_files_are_found():
    names = {p.relative_to(PACKAGE).as_posix() for p in YAML_FILES}
    assert {
        "catalog/data/drugs.yaml",
        "catalog/data/species.yaml",
        "catalog/data/in_vivo.yaml",
        "catalog/data/cell_lines.yaml",
        "catalog/data/pathway.yaml",
        "calibration/targets.yaml",
        "study/protocols/human_translation.yaml",
        "study/protocols/pk_exposure.yaml",
    } <= names


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_packaged_yaml_cites_internal_notes(path):
    hits = [
        f"{path.name}:{n}: {line.strip()[:120]}"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if INTERNAL.search(line)
    ]
    assert not hits, "cite the primary source instead:\n" + "\n".join(hits)


def test_no_catalogue_source_cites_internal_notes():
    table = load_catalog().table()
    for column in ("source", "prior_source"):
        bad = table[table[column].str.contains(INTERNAL)]
        assert bad.empty, f"{column}: {list(bad['path'])}"


def test_no_calibration_target_cites_internal_notes():
    bad = [t.name for t in load_targets() if INTERNAL.search(f"{t.source} {t.note}")]
    assert not bad
