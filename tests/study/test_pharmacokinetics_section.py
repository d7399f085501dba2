"""The PK section of the report: published checks within tolerance, exposure tables complete."""

from __future__ import annotations

from leptotwin.study.sections.pharmacokinetics import published_checks


def test_published_checks_within_15_percent():
    """Every published PK number, calibrated or predicted, is reproduced within 15 %; the
    predicted ones are listed so a regression in them is visible."""
    checks = published_checks()
    assert (checks["model_over_published"].between(0.85, 1.15)).all(), checks
    assert {"predicted", "calibrated", "set from source"} == set(checks["role"])


def test_section_tables_and_figures(reproduce_quick):
    """The quick section as the session's shared ``reproduce --quick`` run gave it to the report
    (tests/conftest.py), not a run of its own."""
    assert reproduce_quick.code == 0, reproduce_quick.stderr
    res = reproduce_quick.sections["pharmacokinetics"]
    summary = res.tables["pk_exposure_summary.csv"]
    assert set(summary["compartment"]) == {"plasma", "unbound", "csf", "lesion"}
    assert (summary["median_nM"] >= 0).all()
    assert len(res.figures) == 2
    assert res.claims == []  # PK is support for claims, not a claim of the paper
