"""Both AREG ELISAs (conditioned medium, CSF) run as a lab runs them: samples read above the
standard curve are re-assayed at 10x dilution; nothing comes back as NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.study.reproduce import Context
from leptotwin.study.sections.elisa_runs import assay_with_reruns


def _ctx(tmp_path, seed):
    return Context(rng=np.random.default_rng(seed), seed=seed, out_dir=tmp_path, name="elisa")


def test_high_samples_are_reassayed_and_low_ones_censored(tmp_path):
    truth = [300.0, 3e4, 3e5, 1e10, 0.5]
    samples = pd.DataFrame(
        {
            "sample_id": [f"s{k}" for k in range(len(truth))],
            "group": ["g"] * len(truth),
            "true_pg_mL": truth,
        }
    )
    out, fitter = assay_with_reruns(
        _ctx(tmp_path, 1), samples, dilution=1.0, folder="elisa", stem="medium"
    )
    assert (tmp_path / "elisa" / "medium_export.csv").is_file()
    assert (tmp_path / "elisa" / "medium_layout.csv").is_file()
    out = out.set_index("sample_id").loc[samples["sample_id"]]
    assert np.isfinite(out["areg_pg_mL"]).all()
    # in range at the first pass; 100x and 1,000x above: measured after re-assays
    assert out.loc["s0", "dilution"] == 1.0
    assert out.loc["s0", "areg_pg_mL"] == pytest.approx(300, rel=0.3)
    assert out.loc["s1", "dilution"] > 1.0 and out.loc["s2", "dilution"] > out.loc["s1", "dilution"]
    for k in ("s1", "s2"):
        assert out.loc[k, "areg_pg_mL"] == pytest.approx(
            samples.set_index("sample_id").loc[k, "true_pg_mL"], rel=0.3
        )
        assert not out.loc[k, "censored_above_uloq"]
    # beyond three re-assays: at the ULOQ, flagged; below the curve: at the LLOQ, flagged
    assert out.loc["s3", "dilution"] == 1000.0 and bool(out.loc["s3", "censored_above_uloq"])
    assert out.loc["s3", "areg_pg_mL"] == pytest.approx(out.loc["s3", "uloq_pg_mL"])
    assert bool(out.loc["s4", "censored_below_lloq"])
    assert out.loc["s4", "areg_pg_mL"] == pytest.approx(out.loc["s4", "lloq_pg_mL"])
    assert fitter.samples_["dilution"].eq(1.0).all()  # the first plate's curve


def test_a_plate_whose_standards_fail_qc_is_repeated(tmp_path, monkeypatch):
    """A top standard that failed (reads like the blank) → the plate is repeated with fresh
    wells; both plates' files stay written; a plate failing every time raises."""
    from leptotwin.errors import LeptotwinError
    from leptotwin.study.sections import elisa_runs

    real = elisa_runs.simulate_elisa
    calls = {"n": 0, "fail": 1}

    def flaky(samples, *, rng):
        wells = real(samples, rng=rng)
        calls["n"] += 1
        if calls["n"] <= calls["fail"]:  # the top standard reads like the blank
            std = wells["role"].eq("standard")
            top = std & wells["nominal_pg_mL"].eq(wells.loc[std, "nominal_pg_mL"].max())
            wells.loc[top, "signal"] = wells.loc[std, "signal"].min()
        return wells

    monkeypatch.setattr(elisa_runs, "simulate_elisa", flaky)
    samples = pd.DataFrame({"sample_id": ["a", "b"], "group": ["g", "g"], "true_pg_mL": [300, 900]})
    out, fitter = assay_with_reruns(
        _ctx(tmp_path, 3), samples, dilution=1.0, folder="elisa", stem="csf"
    )
    assert fitter.plate_repeats == 1
    assert (tmp_path / "elisa" / "csf_export.csv").is_file()
    assert (tmp_path / "elisa" / "csf_repeat1_export.csv").is_file()
    assert np.isfinite(out["areg_pg_mL"]).all()
    calls.update(n=0, fail=99)
    with pytest.raises(LeptotwinError, match="not monotone"):
        assay_with_reruns(_ctx(tmp_path / "b", 3), samples, dilution=1.0)


def test_top_standards_swapped_on_a_plateau_are_read_without_the_top_one(tmp_path, monkeypatch):
    """The top standard reading between the two below it (a saturated plateau, as in one of 200
    ensemble draws, where the plate failed three times running) is masked on that plate and the
    plate is read on the curve below it, not repeated; its ULOQ drops below the top standard."""
    from leptotwin.study.sections import elisa_runs

    real = elisa_runs.simulate_elisa
    seen = {}

    def plateau(samples, *, rng):
        wells = real(samples, rng=rng)
        std = wells["role"].eq("standard")
        levels = np.sort(wells.loc[std, "nominal_pg_mL"].unique())
        od = {c: wells.loc[std & wells["nominal_pg_mL"].eq(c), "signal"].mean() for c in levels}
        top = std & wells["nominal_pg_mL"].eq(levels[-1])
        wells.loc[top, "signal"] = 0.5 * (od[levels[-2]] + od[levels[-3]])
        seen["top"] = levels[-1]
        return wells

    monkeypatch.setattr(elisa_runs, "simulate_elisa", plateau)
    samples = pd.DataFrame({"sample_id": ["a", "b"], "group": ["g", "g"], "true_pg_mL": [300, 900]})
    out, fitter = assay_with_reruns(_ctx(tmp_path, 3), samples, dilution=1.0)
    assert fitter.plate_repeats == 0
    fitted_top = fitter.standards_["nominal_pg_mL"].max()
    assert fitted_top < seen["top"]  # the masked level is not part of the curve
    assert (fitter.curves_["uloq_pg_mL"] <= fitted_top).all()
    assert out.set_index("sample_id").loc["a", "areg_pg_mL"] == pytest.approx(300, rel=0.3)
