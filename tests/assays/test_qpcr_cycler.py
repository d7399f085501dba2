"""Virtual real-time PCR: Ct model, replicates, undetermined and failed wells, the export file."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import leptotwin.assays.qpcr as qpcr_mod
from leptotwin.analysis.qpcr import read_qpcr
from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError

TRUTH = {
    "A925LPE3": {"miR-449a": 1.0, "U6": 1.0, "AREG": 1.0, "GAPDH": 1.0},
    "A925L/AR": {"miR-449a": 0.2, "U6": 1.0, "AREG": 4.2, "GAPDH": 1.0},
}


def test_doctest():
    assert doctest.testmod(qpcr_mod).failed == 0


def test_noise_free_ct_follows_the_efficiency_model():
    """Ct = Ct0 - log(level) / log(1 + E) with the catalogue's Ct0 and efficiency."""
    cat = load_catalog()
    rng = np.random.default_rng(0)
    samples = make_qpcr_samples(TRUTH, n_biological=2, bio_sd_log2=0.0, rng=rng)
    wells = simulate_qpcr(samples, rng=rng, noise=False, ntc=False)
    ar = wells[(wells["group"] == "A925L/AR") & (wells["target"] == "miR-449a")]
    e = cat.assay_value("qpcr", "efficiency_mirna")
    expected = cat.assay_value("qpcr", "ct0_mir449a") - np.log(0.2) / np.log(1 + e)
    np.testing.assert_allclose(ar["ct"], expected, rtol=1e-12)
    areg = wells[(wells["group"] == "A925L/AR") & (wells["target"] == "AREG")]
    e = cat.assay_value("qpcr", "efficiency_mrna")
    expected = cat.assay_value("qpcr", "ct0_areg") - np.log(4.2) / np.log(1 + e)
    np.testing.assert_allclose(areg["ct"], expected, rtol=1e-12)
    par = wells[wells["group"] == "A925LPE3"]
    np.testing.assert_allclose(
        par.groupby("target")["ct"].first().sort_index(),
        [cat.assay_value("qpcr", k) for k in ("ct0_areg", "ct0_gapdh", "ct0_u6", "ct0_mir449a")],
    )


def test_layout_triplicates_and_ntc():
    rng = np.random.default_rng(1)
    samples = make_qpcr_samples(TRUTH, n_biological=3, rng=rng)
    wells = simulate_qpcr(samples, rng=rng)
    assert len(wells) == (2 * 3 * 4 + 4) * 3
    assert wells["well"].tolist() == list(range(1, len(wells) + 1))
    assert wells["well_position"].iloc[:14].tolist()[-3:] == ["A12", "B1", "B2"]
    counts = wells[wells["task"] == "UNKNOWN"].groupby(["sample", "target"]).size()
    assert (counts == 3).all() and len(counts) == 24
    ntc = wells[wells["task"] == "NTC"]
    assert len(ntc) == 12 and ntc["ct"].isna().all() and (ntc["flag"] == "undetermined").all()


def test_technical_sd_matches_the_catalogue():
    cat = load_catalog()
    rng = np.random.default_rng(2)
    samples = pd.DataFrame({"sample": [f"s{i}" for i in range(20)], "target": "GAPDH",
                            "relative_level": 1.0})  # fmt: skip
    wells = simulate_qpcr(samples, rng=rng, replicates=4, ntc=False)
    sd = wells.groupby("sample")["ct"].std(ddof=1)
    pooled = float(np.sqrt(np.mean(sd**2)))
    assert (
        0.8 * cat.assay_value("qpcr", "technical_sd")
        < pooled
        < 1.2 * cat.assay_value("qpcr", "technical_sd")
    )


def test_undetermined_above_cutoff_and_at_level_zero():
    rng = np.random.default_rng(3)
    samples = pd.DataFrame(
        {"sample": ["a", "b", "c"], "target": "X", "relative_level": [1.0, 0.01, 0.0]}
    )
    wells = simulate_qpcr(samples, rng=rng, targets={"X": {"ct0": 36.0, "efficiency": 1.0}},
                          ntc=False)  # fmt: skip
    by = wells.groupby("sample")
    assert by.get_group("a")["ct"].notna().all()
    for s in ("b", "c"):  # 36 + log2(100) = 42.6 > 40; level 0 never amplifies
        g = by.get_group(s)
        assert g["ct"].isna().all() and (g["flag"] == "undetermined").all()


def test_failed_wells_read_undetermined():
    rng = np.random.default_rng(4)
    samples = pd.DataFrame({"sample": [f"s{i}" for i in range(30)], "target": "GAPDH",
                            "relative_level": 1.0})  # fmt: skip
    wells = simulate_qpcr(samples, rng=rng, failed_well_rate=0.2, ntc=False)
    failed = wells["flag"] == "failed"
    assert 8 < failed.sum() < 30
    assert wells.loc[failed, "ct"].isna().all() and wells.loc[~failed, "ct"].notna().all()


def test_same_seed_same_run():
    samples = make_qpcr_samples(TRUTH, rng=np.random.default_rng(5))
    a = simulate_qpcr(samples, rng=np.random.default_rng(6))
    b = simulate_qpcr(samples, rng=np.random.default_rng(6))
    pd.testing.assert_frame_equal(a, b)


def test_bio_sd_zero_gives_the_group_levels():
    s = make_qpcr_samples(TRUTH, n_biological=4, bio_sd_log2=0.0, rng=np.random.default_rng(7))
    assert len(s) == 2 * 4 * 4
    ar = s[(s["group"] == "A925L/AR") & (s["target"] == "AREG")]
    assert (ar["relative_level"] == 4.2).all()
    assert ar["sample"].tolist() == [f"A925L/AR-{k}" for k in range(1, 5)]


def test_export_file_format_and_round_trip(tmp_path):
    rng = np.random.default_rng(8)
    samples = make_qpcr_samples(TRUTH, rng=rng)
    wells = simulate_qpcr(samples, rng=rng)
    path = write_qpcr(wells, tmp_path / "run.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "* Block Type = 96-Well Block (0.2mL)"
    assert "[Results]" in lines
    header = lines[lines.index("[Results]") + 1]
    assert header.startswith("Well,Well Position,Omit,Sample Name,Biogroup Name,Target Name,Task")
    assert ",CT,Ct Mean,Ct SD," in header
    assert any(",NTC,FAM,NFQ-MGB,Undetermined,," in ln for ln in lines)
    back = read_qpcr(path)
    assert back.attrs["metadata"]["Chemistry"] == "TAQMAN"
    assert len(back) == len(wells)
    np.testing.assert_allclose(back["ct"], wells["ct"].round(3), equal_nan=True)
    unk = back["task"] == "UNKNOWN"
    assert (back.loc[unk, "sample"].to_numpy() == wells.loc[unk, "sample"].to_numpy()).all()
    assert (back.loc[unk, "group"].to_numpy() == wells.loc[unk, "group"].to_numpy()).all()
    assert back["well"].iloc[0] == "A01"
    # the export's Ct Mean is the mean of the determined replicate wells
    row = next(ln for ln in lines if ln.startswith("1,A1,")).split(",")
    first = wells[(wells["sample"] == wells["sample"].iloc[0]) & (wells["target"] == "miR-449a")]
    assert float(row[10]) == pytest.approx(first["ct"].mean(), abs=6e-4)


def test_block_type_follows_the_well_positions(tmp_path):
    """Few wells on a 384-well plate (A1-A24...) are a 384-well block, not a 96-well one (the
    block used to be chosen from the number of wells)."""
    samples = pd.DataFrame({"sample": ["a", "b"], "target": "GAPDH", "relative_level": 1.0})
    wells = simulate_qpcr(samples, rng=np.random.default_rng(13), replicates=8, plate_format=384)
    assert len(wells) == 24 and wells["well_position"].iloc[-1] == "A24"
    path = write_qpcr(wells, tmp_path / "run.csv")
    assert path.read_text().splitlines()[0] == "* Block Type = 384-Well Block"


def test_european_export_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    wells = simulate_qpcr(make_qpcr_samples(TRUTH, rng=rng), rng=rng)
    path = write_qpcr(wells, tmp_path / "run.csv", sep=";", decimal=",")
    assert ";Undetermined;" in path.read_text()
    back = read_qpcr(path)
    np.testing.assert_allclose(back["ct"], wells["ct"].round(3), equal_nan=True)


def test_standards_get_task_standard_and_quantity(tmp_path):
    rng = np.random.default_rng(10)
    q = 10.0 ** -np.arange(5)
    std = pd.DataFrame({"sample": [f"std{i}" for i in range(5)], "target": "AREG",
                        "relative_level": q, "quantity": q * 100})  # fmt: skip
    wells = simulate_qpcr(std, rng=rng, ntc=False)
    assert (wells["task"] == "STANDARD").all()
    back = read_qpcr(write_qpcr(wells, tmp_path / "std.csv"))
    np.testing.assert_allclose(back["quantity"], wells["quantity"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"samples": pd.DataFrame({"sample": ["a"], "target": ["X"], "relative_level": [1]})},
         "no settings for this target"),
        ({"samples": pd.DataFrame({"sample": ["a"], "target": ["AREG"], "relative_level": [-1]})},
         "bad relative level"),
        ({"samples": pd.DataFrame({"sample": ["a", "a"], "target": ["AREG"] * 2,
                                   "relative_level": [1, 2]})}, "listed twice"),
        ({"samples": pd.DataFrame({"sample": ["a"], "target": ["AREG"]})}, "missing column"),
        ({"rng": 3}, "numpy.random.Generator"),
        ({"replicates": 0}, "does not fit the plate"),
        ({"replicates": 40}, "does not fit the plate"),
        ({"failed_well_rate": 1.5}, "failed-well rate"),
        ({"targets": {"AREG": {"ct0": 20, "slope": 1}}}, "unknown target setting"),
        ({"targets": {"AREG": {"ct0": 20, "efficiency": 95}}}, "bad target setting"),
    ],
)  # fmt: skip
def test_bad_input(kwargs, match):
    args = {
        "samples": pd.DataFrame({"sample": ["a", "b"], "target": ["AREG"] * 2,
                                 "relative_level": [1.0, 2.0]}),
        "rng": np.random.default_rng(11),
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(LeptotwinError, match=match):
        simulate_qpcr(args.pop("samples"), **args)


def test_bad_writer_and_sample_input(tmp_path):
    rng = np.random.default_rng(12)
    wells = simulate_qpcr(make_qpcr_samples(TRUTH, rng=rng), rng=rng)
    with pytest.raises(LeptotwinError, match="missing column"):
        write_qpcr(wells.drop(columns="ct"), tmp_path / "x.csv")
    with pytest.raises(LeptotwinError, match="bad separator"):
        write_qpcr(wells, tmp_path / "x.csv", sep=",", decimal=",")
    with pytest.raises(LeptotwinError, match="bad relative level"):
        make_qpcr_samples({"g": {"AREG": float("nan")}}, rng=rng)
    with pytest.raises(LeptotwinError, match="at least one biological replicate"):
        make_qpcr_samples(TRUTH, n_biological=0, rng=rng)
