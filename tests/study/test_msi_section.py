"""C8 through the whole chain (mouse → section → virtual MALDI → imzML → analysis), the
counterfactuals of CLAIMS.md that must break it, and the MSI job."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.study.claims import ClaimStatus
from leptotwin.study.msi_job import run_msi_job
from leptotwin.study.reproduce import Context
from leptotwin.study.sections.msi import (
    QUADRATURE_WEIGHTS,
    _grid_catalogs,
    claim_row,
    msi,
    pass_fractions,
    run_experiment,
)


def _ctx(tmp_path, seed, quick=True):
    return Context(
        rng=np.random.default_rng(seed), seed=seed, out_dir=tmp_path, quick=quick, name="msi"
    )


@pytest.fixture(scope="module")
def section(tmp_path_factory):
    """The section's quick run per seed (each takes ~20 s: run once for the tests below)."""
    runs = {}

    def run(seed):
        if seed not in runs:
            out = tmp_path_factory.mktemp(f"msi{seed}")
            runs[seed] = (msi(_ctx(out, seed)), out)
        return runs[seed]

    return run


@pytest.mark.parametrize("seed", [1, 2])
def test_c8_passes(section, seed):
    res, tmp_path = section(seed)
    (c8,) = res.claims
    assert c8.id == "C8" and c8.status == ClaimStatus.PASS, c8.measured
    table = res.tables["msi_roi_stats.csv"]
    truth = res.tables["msi_tissue_truth.csv"].set_index("drug")
    for drug in ("erlotinib", "osimertinib"):
        r = claim_row(table, drug)
        # measured within 30 % of the tissue model's total-drug ratio (suppression, noise)
        assert r["ratio"] == pytest.approx(truth.loc[drug, "true_ratio"], rel=0.3)
    files = {p.name for p in (tmp_path / "msi").iterdir()}
    assert {"erlotinib.imzML", "erlotinib.ibd", "erlotinib_lesion_mask.png"} <= files
    assert not any("prior" in f for f in files)  # the grid's imzML files are not kept
    assert len(res.figures) == 3
    # AZ5104 read back from the imzML: the PK model's AZ5104/osimertinib ratio at the sampling
    # time (shares of the [M+H]+ ions corrected; Poisson noise and the centroid threshold left)
    osi = truth.loc["osimertinib"]
    assert osi["metabolite"] == "AZ5104"
    assert osi["metabolite_imaged_ratio"] == pytest.approx(osi["metabolite_plasma_ratio"], rel=0.1)
    erl = truth.loc["erlotinib"]
    assert erl["metabolite_imaged_ratio"] == pytest.approx(erl["metabolite_brain_ratio"], rel=0.1)


def test_c8_across_the_prior_range_can_fail(section):
    """C8 is a prediction of the barrier mechanism: at the 2.5 % point of the leak L it fails
    for every efflux ratio, at the median of everything it passes (quick grid: L x ER, binding
    at its median)."""
    res, _ = section(1)
    grid = res.tables["msi_c8_prior_range.csv"]
    assert len(grid) == 9 and set(grid["scenario"]) == {"prior"}
    assert grid["weight"].sum() == pytest.approx(1.0)
    low = grid[grid["leak_ratio_q"] == 0.025]
    assert (low["c8"] == "FAIL").all()
    mid = grid[(grid["leak_ratio_q"] == 0.5) & (grid["efflux_q"] == 0.5)].iloc[0]
    assert mid["c8"] == "PASS"
    # a stronger efflux ratio or a leakier barrier raises the measured ratio
    at_mid_er = grid[grid["efflux_q"] == 0.5].sort_values("leak_ratio")
    assert np.all(np.diff(at_mid_er["ratio_erlotinib"]) > 0)
    summary = res.tables["msi_c8_prior_range_summary.csv"].set_index("scenario")
    assert 0 < summary.loc["prior", "weighted_pass"] < 1
    assert summary.loc["prior", "passing"] == (grid["c8"] == "PASS").sum()
    assert "across the prior range" in res.text


def test_full_prior_grid_design():
    """Full runs: 27 prior points (L x ER x binding at 2.5/50/97.5 %) and the counterfactuals
    across the other parameters; quadrature weights sum to 1 within each scenario."""
    points = _grid_catalogs(load_catalog(), quick=False)
    labels = pd.DataFrame([p[0] for p in points])
    assert labels["scenario"].value_counts().to_dict() == {
        "prior": 27,
        "no leaky barrier": 9,
        "no tumour binding": 3,
    }
    for _, g in labels.groupby("scenario"):
        assert g["weight"].sum() == pytest.approx(1.0)
    assert QUADRATURE_WEIGHTS[1] == pytest.approx(0.7397, abs=1e-4)
    lo = [c for lab, c, _ in points if lab["scenario"] == "prior" and lab["leak_ratio_q"] == 0.025]
    assert lo[0].in_vivo_value("blood_tumour_barrier", "leak_ratio") == pytest.approx(0.5)
    toy = labels.assign(c8=np.where(labels["weight"] > 0.1, "PASS", "FAIL"))
    frac = pass_fractions(toy).set_index("scenario")
    assert frac.loc["prior", "points"] == 27


@pytest.mark.parametrize(
    "counterfactual",
    [{"leaky": False, "binding": True}, {"leaky": True, "binding": False}, {}],
    ids=["no leaky barrier", "no tumour binding", "neither"],
)
def test_counterfactuals_fail_c8(tmp_path, counterfactual):
    _, _, _, c8 = run_experiment(
        _ctx(tmp_path, 3), drugs=("erlotinib", "osimertinib"), counterfactual=counterfactual
    )
    assert c8.status == ClaimStatus.FAIL, c8.measured


def test_msi_job(tmp_path):
    ctx = _ctx(tmp_path / "sim", 4)
    run_experiment(ctx, drugs=("osimertinib",))
    src = tmp_path / "sim" / "msi"
    out = tmp_path / "job"
    files = run_msi_job(
        src / "osimertinib.imzML",
        [500.2768, 760.5851],
        10.0,
        src / "osimertinib_lesion_mask.png",
        out,
        False,
    )
    names = {p.name for p in files}
    assert {"ion_image_500.2768.csv", "ion_image_500.2768.png", "roi_stats.csv"} <= names
    img = pd.read_csv(out / "ion_image_500.2768.csv")
    assert list(img.columns[:2]) == ["y", "1"] and img["y"].iloc[0] == 1
    stats = pd.read_csv(out / "roi_stats.csv")
    row = stats[(stats["mz"] == 500.2768) & (stats["method"] == "lesions")].iloc[0]
    assert row["ratio"] > 1.5
    with pytest.raises(LeptotwinError, match="already holds results"):
        run_msi_job(src / "osimertinib.imzML", [500.2768], 10.0, None, out, False)
    files = run_msi_job(src / "osimertinib.imzML", [500.2768], 10.0, None, out, True)
    assert "fraction_nonzero" in pd.read_csv(out / "roi_stats.csv").columns
    with pytest.raises(LeptotwinError, match="ppm must be > 0"):
        run_msi_job(src / "osimertinib.imzML", [500.0], 0.0, None, tmp_path / "j2", False)
