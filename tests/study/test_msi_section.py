"""C8 through the whole chain (mouse → section → virtual MALDI → imzML → analysis), the
counterfactuals of CLAIMS.md that must break it, and the MSI job."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study.claims import ClaimStatus
from leptotwin.study.msi_job import run_msi_job
from leptotwin.study.reproduce import Context
from leptotwin.study.sections.msi import claim_row, msi, run_experiment


def _ctx(tmp_path, seed, quick=True):
    return Context(
        rng=np.random.default_rng(seed), seed=seed, out_dir=tmp_path, quick=quick, name="msi"
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_c8_passes(tmp_path, seed):
    res = msi(_ctx(tmp_path, seed))
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
    assert len(res.figures) == 2


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
