"""Study-design and assay numbers that live in the protocols and the catalogue, not in code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.assays.harvest import harvest_counts
from leptotwin.catalog import Quantity, ic50_to_nM, load_catalog
from leptotwin.catalog.units import convert
from leptotwin.study.protocol_schema import load_packaged_protocol
from leptotwin.study.sections.combination_matrix import matrix_doses, matrix_layout
from leptotwin.study.sections.molecular import blot_lanes


def test_cetuximab_matrix_doses_match_the_catalogue_molecular_weight():
    """The nM grid is 0.1-10 µg/mL converted at the catalogue's MW, to 2 significant figures."""
    cat = load_catalog()
    mw = cat.drug("cetuximab").molecular_weight
    mw_g_mol = convert(mw.value, mw.unit, "molar_mass")
    doses = matrix_doses()[1]["cetuximab"]
    ug_mL = (0.1, 0.3, 1.0, 3.0, 10.0)
    assert doses[0] == 0.0
    for d, u in zip(doses[1:], ug_mL, strict=True):
        nM = ic50_to_nM(Quantity(value=u, unit="µg/mL", source="test"), mw_g_mol)
        assert float(f"{nM:.2g}") == d


def test_matrix_layout_uses_the_protocol_grid():
    alectinib, partners = matrix_doses()
    layout = matrix_layout(replicates=1)
    samples = layout[layout["role"] != "blank"]
    assert sorted(samples["conc_a"].unique()) == sorted(alectinib)
    for partner, doses in partners.items():
        got = samples.loc[samples["drug_b"] == partner, "conc_b"].unique()
        assert sorted(got) == sorted(doses)


def test_blot_lanes_from_protocol():
    lanes = blot_lanes()
    assert len(lanes) == 6
    assert lanes[-1] == (
        "A925L/AR + alectinib + erlotinib",
        "A925L/AR",
        {"alectinib": 100.0, "erlotinib": 1000.0},
    )
    fixed = load_packaged_protocol("viability")["fixed"]
    assert lanes[4][2]["erlotinib"] == float(fixed["erlotinib"])  # same 1 µM as C6


def test_harvest_misclassification_default_from_catalogue():
    tumour = pd.DataFrame({"subject": [0, 1], "cells_S": [1e6, 0.0], "cells_R": [0.0, 1e6]})
    a = harvest_counts(tumour, ["S", "R"], n_cells=500, rng=np.random.default_rng(3))
    m = load_catalog().assay_value("harvest", "misclassification")
    b = harvest_counts(
        tumour, ["S", "R"], n_cells=500, rng=np.random.default_rng(3), misclassification=m
    )
    pd.testing.assert_frame_equal(a, b)
    assert 0 < m < 0.1


@pytest.mark.parametrize(
    ("block", "name"),
    [
        ("qpcr", "sd_growth_from_ct"),
        ("msi", "noise_exclusion_ppm"),
        ("conditioned_medium", "seeding_cells"),
        ("conditioned_medium", "medium_volume"),
        ("conditioned_medium", "collection_time"),
        ("harvest", "misclassification"),
    ],
)
def test_assay_settings_have_unit_and_source(block, name):
    q = load_catalog().assays[block].parameters[name]
    assert q.unit and q.source
    assert q.assumption
