"""qPCR relative quantification: Livak's published example, Pfaffl, CIs and tests, reading exports,
recovery of the truth from the virtual cycler, undetermined wells, efficiency, bad input."""

from __future__ import annotations

import doctest

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import leptotwin.analysis.qpcr as qpcr_mod
from leptotwin.analysis.qpcr import (
    QPCR_COLUMNS,
    RelativeExpressionFitter,
    amplification_efficiency,
    plot_fold_change,
    read_qpcr,
    relative_expression,
)
from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError

# Livak & Schmittgen 2001, c-myc and GAPDH amplified in separate wells, six replicates per tissue
# (the raw Ct values as transcribed in R package pcr, MahShaaban/pcr inst/extdata/ct1.csv)
MYC = [30.72, 30.34, 30.58, 30.34, 30.50, 30.43, 27.06, 27.03, 27.03, 27.10, 26.99, 26.94]
GAPDH = [23.70, 23.56, 23.47, 23.65, 23.69, 23.68, 22.76, 22.61, 22.62, 22.60, 22.61, 22.76]


def _livak_frame():
    group = ["brain"] * 6 + ["kidney"] * 6
    sample = [f"{g}-{i % 6 + 1}" for i, g in enumerate(group)]
    return pd.concat(
        [
            pd.DataFrame({"sample": sample, "group": group, "target": "c-myc", "ct": MYC}),
            pd.DataFrame({"sample": sample, "group": group, "target": "GAPDH", "ct": GAPDH}),
        ],
        ignore_index=True,
    )


def test_doctest():
    assert doctest.testmod(qpcr_mod).failed == 0


def test_livak_schmittgen_2001_worked_example():
    """Livak KJ, Schmittgen TD. Methods 2001;25:402-408 (PMID 11846609), the 2^-ΔΔCt example
    table for c-myc vs GAPDH in separate wells, brain as calibrator, n = 6 per tissue:

    ============  ============  ============  ============  ============  ===============
    tissue        c-myc Ct      GAPDH Ct      ΔCt           ΔΔCt          2^-ΔΔCt
    ============  ============  ============  ============  ============  ===============
    brain         30.49 ± 0.15  23.63 ± 0.09  6.86 ± 0.17   0.00 ± 0.17   1.0 (0.9-1.1)
    kidney        27.03 ± 0.06  22.66 ± 0.08  4.37 ± 0.10   -2.50 ± 0.10  5.6 (5.3-6.0)
    ============  ============  ============  ============  ============  ===============

    Separate wells: ΔCt from the means, s = sqrt(s_cmyc² + s_GAPDH²); the range is
    2^-(ΔΔCt ± s). Reproduced with ``pairing="group"`` to the paper's two decimals.
    """
    fit = RelativeExpressionFitter("GAPDH", "brain", pairing="group").fit(_livak_frame())
    s = fit.summary.set_index("group")
    rep = fit.replicates_.groupby(["group", "target"])["ct_mean_cycles"]
    np.testing.assert_allclose(rep.mean().loc["brain"].loc[["c-myc", "GAPDH"]], [30.49, 23.63],
                               atol=0.005)  # fmt: skip
    np.testing.assert_allclose(rep.std().loc["kidney"].loc[["c-myc", "GAPDH"]], [0.06, 0.08],
                               atol=0.005)  # fmt: skip
    np.testing.assert_allclose(s["dct_target_minus_ref_cycles"], [6.86, 4.37], atol=0.005)
    np.testing.assert_allclose(s["sd_dct_cycles"], [0.17, 0.10], atol=0.005)
    np.testing.assert_allclose(s["ddct_vs_calibrator_cycles"], [0.00, -2.50], atol=0.005)
    np.testing.assert_allclose(s["fold_change"], [1.0, 5.6], atol=0.05)
    np.testing.assert_allclose(s["fold_change_sd_low"], [0.9, 5.3], atol=0.05)
    np.testing.assert_allclose(s["fold_change_sd_high"], [1.1, 6.0], atol=0.05)
    assert s.loc["kidney", "fold_change"] == pytest.approx(2**2.495, rel=1e-12)
    # paired by sample, the means (hence the fold change) are the same
    paired = RelativeExpressionFitter("GAPDH", "brain").fit(_livak_frame()).summary
    np.testing.assert_allclose(paired["fold_change"], s["fold_change"], rtol=1e-12)


def test_pfaffl_with_efficiency_one_is_livak_exactly():
    data = _livak_frame()
    livak = RelativeExpressionFitter("GAPDH", "brain").fit(data)
    pfaffl = RelativeExpressionFitter("GAPDH", "brain", method="pfaffl", efficiency=1.0).fit(data)
    cols = [c for c in livak.summary if c != "method"]
    pd.testing.assert_frame_equal(livak.summary[cols], pfaffl.summary[cols], check_exact=True)
    pd.testing.assert_frame_equal(livak.samples_, pfaffl.samples_, check_exact=True)


def test_pfaffl_matches_the_published_formula():
    """Pfaffl 2001 (PMID 11328886): ratio = E_t^ΔCt_t(control - sample) / E_r^ΔCt_r(...)."""
    data = _livak_frame()
    eff = {"c-myc": 0.93, "GAPDH": 0.98}
    fit = RelativeExpressionFitter("GAPDH", "brain", method="pfaffl", efficiency=eff).fit(data)
    m = data.groupby(["group", "target"])["ct"].mean()
    d_t = m["brain", "c-myc"] - m["kidney", "c-myc"]
    d_r = m["brain", "GAPDH"] - m["kidney", "GAPDH"]
    ratio = 1.93**d_t / 1.98**d_r
    got = fit.summary.set_index("group").loc["kidney", "fold_change"]
    assert got == pytest.approx(ratio, rel=1e-12)


def test_several_reference_genes_use_the_geometric_mean():
    data = pd.DataFrame({
        "sample": ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["d"] * 3,
        "group": ["ctl"] * 6 + ["trt"] * 6,
        "target": ["AREG", "GAPDH", "ACTB"] * 4,
        "ct": [27.0, 18.0, 17.0, 27.2, 18.4, 17.2, 25.0, 18.1, 17.5, 25.3, 18.0, 17.3],
    })  # fmt: skip
    fit = RelativeExpressionFitter(["GAPDH", "ACTB"], "ctl").fit(data)
    dct = fit.samples_.set_index("sample")["dct_target_minus_ref_cycles"]
    assert dct["a"] == pytest.approx(27.0 - 17.5)
    assert dct["c"] == pytest.approx(25.0 - 17.8)
    # geometric mean of the reference quantities 2^-Ct
    q = np.sqrt(2.0**-18.1 * 2.0**-17.5)
    assert 2.0 ** -dct["c"] == pytest.approx(2.0**-25.0 / q, rel=1e-12)
    assert fit.summary["reference"].iloc[0] == "GAPDH+ACTB"


def test_welch_test_and_interval_on_dct():
    data = _livak_frame()
    fit = RelativeExpressionFitter("GAPDH", "brain", alpha=0.1).fit(data)
    d = fit.samples_.set_index("group")["dct_target_minus_ref_cycles"]
    ref = stats.ttest_ind(d["kidney"], d["brain"], equal_var=False)
    row = fit.summary.set_index("group").loc["kidney"]
    assert row["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
    assert row["t_stat"] == pytest.approx(ref.statistic, rel=1e-12)
    ci = ref.confidence_interval(0.9)  # on ΔΔCt, back-transformed with 2^-x
    assert row["fold_change_lower"] == pytest.approx(2.0**-ci.high, rel=1e-9)
    assert row["fold_change_upper"] == pytest.approx(2.0**-ci.low, rel=1e-9)
    assert row["ci_level"] == 0.9
    assert "ddCt = dCt_sample - mean dCt_calibrator" in fit.summary.attrs["convention"]


def _run(seed, tmp_path, *, n_biological=3):
    rng = np.random.default_rng(seed)
    truth = {
        "A925LPE3": {"miR-449a": 1.0, "U6": 1.0, "AREG": 1.0, "GAPDH": 1.0},
        "A925L/AR": {"miR-449a": 0.2, "U6": 1.0, "AREG": 4.2, "GAPDH": 1.0},
    }
    samples = make_qpcr_samples(truth, n_biological=n_biological, rng=rng)
    path = write_qpcr(simulate_qpcr(samples, rng=rng), tmp_path / f"run{seed}.csv")
    return read_qpcr(path)


def test_recovery_of_mir449a_and_areg_through_the_export(tmp_path):
    """50 virtual runs (seeds 0-49; 3 biological replicates x triplicate wells): the 95 % CI
    holds the true fold change (miR-449a 0.2, AREG 4.2 in A925L/AR vs A925LPE3) in >= 44 runs
    (binomial(50, 0.95): P(< 44) ~ 1 %); Pfaffl with the cycler's efficiencies."""
    cat = load_catalog()
    eff = {"miR-449a": cat.assay_value("qpcr", "efficiency_mirna"),
           "U6": cat.assay_value("qpcr", "efficiency_mirna"),
           "AREG": cat.assay_value("qpcr", "efficiency_mrna"),
           "GAPDH": cat.assay_value("qpcr", "efficiency_mrna")}  # fmt: skip
    truth = {"miR-449a": 0.2, "AREG": 4.2}
    hits = dict.fromkeys(truth, 0)
    est = {t: [] for t in truth}
    for seed in range(50):
        data = _run(seed, tmp_path)
        fit = RelativeExpressionFitter({"miR-449a": "U6", "AREG": "GAPDH"}, "A925LPE3",
                                       method="pfaffl", efficiency=eff).fit(data)  # fmt: skip
        s = fit.summary[fit.summary["group"] == "A925L/AR"].set_index("target")
        for t, v in truth.items():
            hits[t] += bool(s.loc[t, "fold_change_lower"] <= v <= s.loc[t, "fold_change_upper"])
            est[t].append(s.loc[t, "fold_change"])
    assert hits["miR-449a"] >= 44 and hits["AREG"] >= 44, hits
    assert np.exp(np.mean(np.log(est["miR-449a"]))) == pytest.approx(0.2, rel=0.05)
    assert np.exp(np.mean(np.log(est["AREG"]))) == pytest.approx(4.2, rel=0.05)


def test_efficiency_from_a_virtual_dilution_series_feeds_pfaffl(tmp_path):
    rng = np.random.default_rng(101)
    q = 4.0 ** -np.arange(6)
    std = pd.concat(
        [pd.DataFrame({"sample": [f"{t}-std{i}" for i in range(6)], "target": t,
                       "relative_level": q, "quantity": q * 50}) for t in ("AREG", "GAPDH")]
    )  # fmt: skip
    wells = simulate_qpcr(std, rng=rng, ntc=False)
    eff = amplification_efficiency(read_qpcr(write_qpcr(wells, tmp_path / "std.csv")))
    cat = load_catalog()
    assert eff["efficiency"].to_numpy() == pytest.approx(
        [cat.assay_value("qpcr", "efficiency_mrna")] * 2, abs=0.05
    )
    assert (eff["r_squared"] > 0.99).all()
    data = _run(7, tmp_path)
    fit = RelativeExpressionFitter("GAPDH", "A925LPE3", targets=["AREG"], method="pfaffl",
                                   efficiency=eff).fit(data)  # fmt: skip
    assert fit.summary["fold_change"].iloc[1] == pytest.approx(4.2, rel=0.35)


def test_efficiency_from_an_exact_standard_curve():
    """Ct = 35 - log10(q) / log10(1 + E) gives slope -1/log10(1.93) and E = 0.93 exactly."""
    q = np.array([1e5, 1e4, 1e3, 1e2, 1e1])
    ct = 35.0 - np.log10(q) / np.log10(1.93)
    res = amplification_efficiency(quantity=q, ct=ct).iloc[0]
    assert res["efficiency"] == pytest.approx(0.93, rel=1e-12)
    assert res["slope_cycles_per_log10"] == pytest.approx(-1 / np.log10(1.93), rel=1e-12)
    assert res["intercept_cycles"] == pytest.approx(35.0, rel=1e-12)
    assert res["r_squared"] == pytest.approx(1.0, abs=1e-12)
    assert res["amplification_factor"] == pytest.approx(1.93, rel=1e-12)
    assert res["flag"] == "ok"
    # slope -3.3219 is 100 %; 80 % is flagged against MIQE's 90-110 %
    perfect = amplification_efficiency(quantity=q, ct=30 - np.log2(q)).iloc[0]
    assert perfect["efficiency"] == pytest.approx(1.0, rel=1e-12)
    low = amplification_efficiency(quantity=q, ct=30 - np.log10(q) / np.log10(1.8)).iloc[0]
    assert low["flag"] == "efficiency_outside_90_110"


def test_undetermined_wells():
    base = pd.DataFrame({
        "sample": ["a"] * 6 + ["b"] * 6 + ["c"] * 6 + ["d"] * 6,
        "group": ["ctl"] * 12 + ["trt"] * 12,
        "target": (["miR-449a"] * 3 + ["U6"] * 3) * 4,
        "ct": [29.0, 29.1, 28.9, 22.0, 22.1, 21.9,
               29.2, 29.1, 29.3, 22.2, 22.0, 22.1,
               31.0, "Undetermined", 31.2, 22.0, 22.0, 22.1,
               "Undetermined", "Undetermined", np.nan, 22.1, 22.2, 22.0],
    })  # fmt: skip
    fit = RelativeExpressionFitter("U6", "ctl").fit(base)
    rep = fit.replicates_.set_index(["sample", "target"])
    assert rep.loc[("c", "miR-449a"), "ct_mean_cycles"] == pytest.approx(31.1)
    assert rep.loc[("c", "miR-449a"), "flag"] == "some_undetermined"
    assert rep.loc[("d", "miR-449a"), "n_undetermined"] == 3
    assert np.isnan(rep.loc[("d", "miR-449a"), "ct_mean_cycles"])
    assert fit.samples_.set_index("sample").loc["d", "flag"] == "undetermined"
    trt = fit.summary.set_index("group").loc["trt"]
    assert trt["n_samples"] == 1 and "few_replicates" in trt["flag"]
    assert np.isnan(trt["fold_change_lower"]) and np.isnan(trt["p_value"])
    # substituting the cut-off gives a bound and keeps the sample
    capped = RelativeExpressionFitter("U6", "ctl", undetermined=40.0).fit(base)
    rep = capped.replicates_.set_index(["sample", "target"])
    assert rep.loc[("d", "miR-449a"), "ct_mean_cycles"] == 40.0
    assert capped.summary.set_index("group").loc["trt", "n_samples"] == 2
    # an undetermined reference gene: no ΔCt for that sample, flagged
    noref = base.copy()
    noref.loc[(noref["sample"] == "b") & (noref["target"] == "U6"), "ct"] = "Undetermined"
    s = RelativeExpressionFitter("U6", "ctl").fit(noref).samples_.set_index("sample")
    assert np.isnan(s.loc["b", "dct_target_minus_ref_cycles"])
    assert "no_reference" in s.loc["b", "flag"]


def test_high_replicate_sd_is_flagged_not_dropped():
    data = _livak_frame()
    data = pd.concat([data, data.assign(ct=data["ct"] + 0.8)], ignore_index=True)
    fit = RelativeExpressionFitter("GAPDH", "brain", max_replicate_sd=0.5).fit(data)
    assert (fit.replicates_["flag"] == "high_replicate_sd").all()
    assert (fit.replicates_["n_wells"] == 2).all()
    assert "high_replicate_sd" in fit.samples_["flag"].iloc[0]


def test_noise_free_data_has_a_zero_width_interval():
    rng = np.random.default_rng(12)
    truth = {"P": {"AREG": 1.0, "GAPDH": 1.0}, "R": {"AREG": 4.2, "GAPDH": 1.0}}
    wells = simulate_qpcr(make_qpcr_samples(truth, bio_sd_log2=0.0, rng=rng), rng=rng,
                          noise=False)  # fmt: skip
    fit = RelativeExpressionFitter("GAPDH", "P", method="pfaffl", efficiency=0.95).fit(wells)
    row = fit.summary.set_index("group").loc["R"]
    assert row["fold_change"] == pytest.approx(4.2, rel=1e-12)
    assert row["fold_change_lower"] == row["fold_change_upper"] == row["fold_change"]
    assert row["flag"] == "no_variance" and np.isnan(row["p_value"])


QUANTSTUDIO = """\
* Block Type = 96-Well Block (0.2mL)
* Experiment Name = AREG run 3
* Instrument Type = QuantStudio 7 Flex System

[Results]
Well\tWell Position\tOmit\tSample Name\tTarget Name\tTask\tReporter\tQuencher\tC\u0442\tC\u0442 Mean
1\tA1\tfalse\tP1\tAREG\tUNKNOWN\tFAM\tNFQ-MGB\t27,012\t27,0
2\tA2\ttrue\tP1\tAREG\tUNKNOWN\tFAM\tNFQ-MGB\t35,5\t27,0
3\tA3\tfalse\tP1\tGAPDH\tUNKNOWN\tFAM\tNFQ-MGB\tUndetermined\t
4\tA4\tfalse\t\tAREG\tNTC\tFAM\tNFQ-MGB\tUndetermined\t
5\tA5\tfalse\t\t\t\t\t\t\t

[Amplification Data]
Well\tCycle\tTarget Name\tRn
1\t1\tAREG\t0.5
"""


def test_read_quantstudio_tab_decimal_comma_and_omit(tmp_path):
    path = tmp_path / "qs.txt"
    path.write_text(QUANTSTUDIO, encoding="utf-8")
    d = read_qpcr(path)
    assert list(d.columns) == list(QPCR_COLUMNS)
    assert d["well"].tolist() == ["A01", "A02", "A03", "A04"]
    assert d["ct"].iloc[0] == 27.012 and np.isnan(d["ct"].iloc[2])
    assert d["flag"].tolist() == ["ok", "omitted", "undetermined", "undetermined"]
    assert d["task"].tolist() == ["UNKNOWN", "UNKNOWN", "UNKNOWN", "NTC"]
    assert d.attrs["metadata"]["Experiment Name"] == "AREG run 3"


def test_read_tidy_csv_and_cfx(tmp_path):
    tidy = tmp_path / "tidy.csv"
    tidy.write_text("sample;group;target;ct\nS1;ctl;AREG;27,5\nS1;ctl;GAPDH;18,25\n")
    d = read_qpcr(tidy)
    assert d["ct"].tolist() == [27.5, 18.25] and d["group"].tolist() == ["ctl", "ctl"]
    assert (d["well"] == "").all()
    cfx = tmp_path / "cfx.csv"
    cfx.write_text(",Well,Fluor,Target,Content,Sample,Cq\n0,A01,FAM,AREG,Unkn,S1,27.10\n"
                   "1,A02,FAM,AREG,NTC,,NaN\n")  # fmt: skip
    d = read_qpcr(cfx)
    assert d["task"].tolist() == ["UNKNOWN", "NTC"] and d["flag"].tolist()[1] == "undetermined"


def test_group_mapping_and_plot():
    data = _livak_frame().drop(columns="group")
    groups = {f"{t}-{i}": t for t in ("brain", "kidney") for i in range(1, 7)}
    summary = relative_expression(data, "GAPDH", "brain", groups=groups)
    assert summary["fold_change"].iloc[1] == pytest.approx(2**2.495)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert plot_fold_change(summary, ax=ax) is ax
    assert RelativeExpressionFitter("GAPDH", "brain").fit(_livak_frame()).plot(ax=ax) is ax
    plt.close(fig)


def _mir_frame():
    return pd.DataFrame({
        "sample": ["a", "a", "b", "b"], "group": ["P", "P", "R", "R"],
        "well": ["A1", "A2", "A3", "A4"], "target": ["miR-449a", "U6"] * 2,
        "ct": [29.0, 22.0, 31.0, 22.1],
    })  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "kwargs", "match"),
    [
        (None, {"calibrator": "parental"}, "calibrator group not in the data"),
        (lambda d: d.drop(index=3), {}, "reference gene absent for a sample"),
        (lambda d: d.assign(ct=["29.0", "22.0", "thirty", "22.1"]), {}, "non-numeric Ct"),
        (lambda d: d.assign(well=["A1", "A2", "A1", "A4"], target=["miR-449a", "U6",
                                                                  "miR-449a", "U6"]),
         {}, "duplicated well"),
        (lambda d: d.drop(columns="ct"), {}, "missing column"),
        (None, {"reference": "RNU48"}, "reference gene not in the data"),
        (None, {"targets": ["AREG"]}, "target not in the data"),
        (None, {"reference": {"AREG": "U6"}, "targets": ["miR-449a"]}, "no reference gene"),
        (None, {"method": "pfaffl"}, "needs efficiencies"),
        (None, {"efficiency": 0.95}, "assumes efficiency 1"),
        (None, {"method": "pfaffl", "efficiency": 95}, "efficiency out of range"),
        (None, {"method": "pfaffl", "efficiency": {"miR-449a": 0.9}}, "no efficiency"),
        (None, {"method": "ddct"}, "unknown method"),
        (None, {"alpha": 1.5}, "alpha must lie in"),
        (None, {"alpha": "5%"}, "alpha must lie in"),  # was a bare ValueError from float()
        (None, {"undetermined": "max"}, "undetermined policy"),
        (lambda d: d.assign(group=["P", "R", "R", "R"]), {}, "more than one group"),
    ],
)  # fmt: skip
def test_bad_input(edit, kwargs, match):
    data = _mir_frame() if edit is None else edit(_mir_frame())
    args = {"reference": "U6", "calibrator": "P", **kwargs}
    with pytest.raises(LeptotwinError, match=match):
        RelativeExpressionFitter(args.pop("reference"), args.pop("calibrator"), **args).fit(data)


def test_bad_files(tmp_path):
    with pytest.raises(LeptotwinError, match="file not found"):
        read_qpcr(tmp_path / "none.csv")
    p = tmp_path / "x.csv"
    p.write_text("well,value\nA1,3\n")
    with pytest.raises(LeptotwinError, match="no results table found"):
        read_qpcr(p)
    p.write_text("Well Position,Sample Name,Target Name,CT\nA1,S1,AREG,27.1\nA1,S1,AREG,27.3\n")
    with pytest.raises(LeptotwinError, match=r"line 3.*duplicated well"):
        read_qpcr(p)
    p.write_text("Well Position,Sample Name,Target Name,CT\nA1,S1,AREG,27.1\nA2,S1,AREG,abc\n")
    with pytest.raises(LeptotwinError, match=r"line 3, well A2, column Ct: non-numeric Ct"):
        read_qpcr(p)
    with pytest.raises(LeptotwinError, match="bad decimal mark"):
        read_qpcr(p, decimal=";")
    with pytest.raises(LeptotwinError, match="at least two input levels"):
        amplification_efficiency(quantity=[1.0, 1.0], ct=[20.0, 20.1])
    with pytest.raises(LeptotwinError, match="quantity must be > 0"):
        amplification_efficiency(quantity=[1.0, 0.0], ct=[20.0, 20.1])
    with pytest.raises(LeptotwinError, match="call fit"):
        RelativeExpressionFitter("U6", "P").plot()
