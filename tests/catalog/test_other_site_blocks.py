"""Blocks that only another tumour site reads (``sc_mouse``, the subcutaneous site of a lab's
caliper data) do not move the study's seeded draws and are not factors of its sensitivity
analysis."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration.sensitivity import _parameter_table
from leptotwin.catalog import load_catalog
from leptotwin.catalog.loader import OTHER_SITE_BLOCKS
from leptotwin.catalog.posterior import draw_parameters
from leptotwin.catalog.priors import uncertain_parameters


@pytest.fixture(scope="module")
def cats():
    cat = load_catalog()
    without = replace(cat, in_vivo={k: v for k, v in cat.in_vivo.items() if k != "sc_mouse"})
    return cat, without


def test_the_subcutaneous_block_is_there_and_has_priors(cats):
    cat, _ = cats
    assert "sc_mouse" in OTHER_SITE_BLOCKS and "sc_mouse" in cat.in_vivo
    paths = uncertain_parameters(cat)["path"]
    assert paths.str.startswith("sc_mouse.").sum() >= 5
    # listed after every value of the study
    head = paths.str.split(".").str[0]
    first_other = int(np.flatnonzero(head.isin(OTHER_SITE_BLOCKS))[0])
    assert head[first_other:].isin(OTHER_SITE_BLOCKS).all()


@pytest.mark.parametrize("source", ["prior", "posterior"])
def test_seeded_draws_of_the_study_do_not_depend_on_other_site_blocks(cats, source):
    cat, without = cats
    a = draw_parameters(20, rng=np.random.default_rng(7), catalog=cat, source=source)
    b = draw_parameters(20, rng=np.random.default_rng(7), catalog=without, source=source)
    assert set(a.columns) - set(b.columns) == {
        p for p in a.columns if p.split(".")[0] in OTHER_SITE_BLOCKS
    }
    pd.testing.assert_frame_equal(a[b.columns], b)


def test_the_sensitivity_analysis_leaves_other_site_blocks_out(cats):
    cat, without = cats
    default = _parameter_table(cat, None)["path"]
    assert not default.str.split(".").str[0].isin(OTHER_SITE_BLOCKS).any()
    assert list(default) == list(_parameter_table(without, None)["path"])
    # named explicitly, they can still be screened
    assert list(_parameter_table(cat, ["sc_mouse.parameters.cell_density"])["path"]) == [
        "sc_mouse.parameters.cell_density"
    ]


def test_an_ensemble_that_fitted_an_other_site_value_keeps_it(cats):
    """A posterior ensemble holding an sc_mouse column (a lab's caliper calibration): its
    values are the ensemble's, not prior draws, and the study's columns are as without it."""
    cat, _ = cats
    ens = pd.DataFrame(
        {
            "pathway.egfr_weight": [5.0, 6.0, 7.0],
            "sc_mouse.parameters.cell_density": [1.5e5, 2.5e5, 3.5e5],
        }
    )
    got = draw_parameters(30, rng=np.random.default_rng(3), catalog=cat, draws=ens)
    assert "sc_mouse.parameters.cell_density" in got.attrs["fitted"]
    rows = got.attrs["rows"]
    np.testing.assert_array_equal(
        got["sc_mouse.parameters.cell_density"], ens["sc_mouse.parameters.cell_density"][rows]
    )
    alone = draw_parameters(
        30, rng=np.random.default_rng(3), catalog=cat, draws=ens[["pathway.egfr_weight"]]
    )
    study = [c for c in alone.columns if not c.startswith("sc_mouse.")]
    pd.testing.assert_frame_equal(got[study], alone[study])
