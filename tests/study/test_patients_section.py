"""C9 through the virtual ELISA: the mechanism drives the CSF AREG difference; without tumour
AREG secretion it disappears."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.model.patients import simulate_csf_areg, study_groups
from leptotwin.study.claims import ClaimStatus
from leptotwin.study.reproduce import Context
from leptotwin.study.sections.patients import ALK, evaluate, measure_csf, power


def _ctx(tmp_path, seed):
    return Context(rng=np.random.default_rng(seed), seed=seed, out_dir=tmp_path, name="patients")


def test_alk_group_highest_through_the_elisa_files(tmp_path):
    ctx = _ctx(tmp_path, 3)
    primary = measure_csf(ctx, simulate_csf_areg(study_groups(), rng=ctx.rng), folder="csf")
    assert (tmp_path / "csf" / "csf_areg_elisa_export.csv").is_file()
    med = primary.groupby("group")["areg_pg_mL"].median()
    assert med[ALK] > 1.5 * med.drop(ALK).max()  # n = 4: the primary ratio itself varies
    studies = power(ctx, 60)
    pcols = [c for c in studies.columns if c.startswith("p_vs_")]
    assert (studies[pcols] < 0.05).all(axis=1).mean() > 0.5


def test_counterfactual_no_tumour_areg_fails_c9(tmp_path):
    ctx = _ctx(tmp_path, 4)
    groups = study_groups(tumour_areg_scale=0.0)
    primary = measure_csf(ctx, simulate_csf_areg(groups, rng=ctx.rng))
    studies = power(ctx, 60, tumour_areg_scale=0.0)
    claim = evaluate(primary, studies)
    assert claim.status == ClaimStatus.FAIL
    pcols = [c for c in studies.columns if c.startswith("p_vs_")]
    assert (studies[pcols] < 0.05).all(axis=1).mean() < 0.2


def test_samples_far_above_the_range_are_reassayed_until_measured(tmp_path):
    """A CSF sample 1,000x above the curve is re-assayed at 10x dilution steps until it falls
    in range; one beyond three re-assays is reported at the ULOQ and flagged, never NaN."""
    ctx = _ctx(tmp_path, 5)
    patients = simulate_csf_areg(study_groups(sizes={ALK: 3}), rng=ctx.rng)
    patients.loc[patients["group"] == ALK, "true_pg_mL"] = [4e4, 4e5, 1e9]
    out = measure_csf(ctx, patients).set_index("patient")
    alk = out[out["group"] == ALK]
    assert np.isfinite(out["areg_pg_mL"]).all()
    assert alk["dilution"].is_monotonic_increasing and alk["dilution"].iloc[2] == 2000
    assert alk["areg_pg_mL"].iloc[0] == pytest.approx(4e4, rel=0.3)
    assert alk["areg_pg_mL"].iloc[1] == pytest.approx(4e5, rel=0.3)
    assert bool(alk["censored_above_uloq"].iloc[2]) and not alk["censored_above_uloq"].iloc[0]
