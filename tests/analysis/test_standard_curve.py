"""ELISA standard curves: exact 4PL/5PL cases, drc agreement, intervals, QC flags, errors."""

from __future__ import annotations

import doctest
import importlib.util

import matplotlib
import numpy as np
import pandas as pd
import pytest

import leptotwin.analysis.standard_curve as sc
from leptotwin.analysis.doseresponse import DoseResponseFitter
from leptotwin.analysis.standard_curve import (
    LogisticCurve,
    SampleFlag,
    StandardCurveFitter,
    read_elisa,
    read_elisa_layout,
    spike_recovery,
)
from leptotwin.errors import LeptotwinError

STD = np.array([800.0, 400.0, 200.0, 100.0, 50.0, 25.0, 12.5])


def _od(x, a=0.1, b=1.0, c=100.0, d=2.1, g=1.0):
    return d + (a - d) / (1.0 + (np.asarray(x, float) / c) ** b) ** g


def _noisy(rng, cv, sd=0.0, a=0.1):
    """OD with multiplicative noise (CV ``cv``) on the specific signal and additive read noise."""

    def od(x):
        n = np.size(x)
        return a + (_od(x) - a) * np.exp(rng.normal(0, cv, n)) + rng.normal(0, sd, n)

    return od


def _plate(od_fn=_od, plate="P1", samples=(), levels=STD, reps=2):
    """Standards (+ blank) in duplicate from ``od_fn``; samples as (id, [ODs], dilution)."""
    conc = np.repeat(np.r_[levels, 0.0], reps)
    rows = pd.DataFrame(
        {
            "plate": plate,
            "role": np.where(conc > 0, "standard", "blank"),
            "nominal_pg_mL": conc,
            "signal": od_fn(conc),
        }
    )
    smp = [
        {"plate": plate, "role": "sample", "sample_id": sid, "dilution": dil, "signal": y}
        for sid, ods, dil in samples
        for y in ods
    ]
    return pd.concat([rows, pd.DataFrame(smp)], ignore_index=True)


def test_hand_computable_4pl():
    """a = 0.1, b = 1, c = 100 pg/mL, d = 2.1, so OD(x) = 2.1 - 2 / (1 + x / 100).

    Inverse: x = c * ((a - d) / (y - d) - 1)^(1/b) = 100 * (2 / (2.1 - y) - 1).
    OD 0.5 -> 100 * (2 / 1.6 - 1) = 25 pg/mL in the well; at dilution 10 -> 250 pg/mL.
    OD 1.7 -> 100 * (2 / 0.4 - 1) = 400 pg/mL. OD at 50 pg/mL: 2.1 - 2 / 1.5 = 0.766667.
    Duplicate ODs 0.5 and 0.5 have CV 0 %. The noise-free standards give rss 0 and 100 %
    recovery, so LLOQ = 12.5 and ULOQ = 800 pg/mL.
    """
    wells = _plate(samples=[("low", [0.5, 0.5], 10.0), ("high", [1.7, 1.7], 1.0)])
    fit = StandardCurveFitter("4PL", weights="1/y^2").fit(wells)
    np.testing.assert_allclose(fit.params_.loc["P1"], [0.1, 1.0, 100.0, 2.1], rtol=1e-9)
    np.testing.assert_allclose(fit.predict([50.0])[0, 0], 2.1 - 2.0 / 1.5, rtol=1e-12)
    s = fit.samples_.set_index("sample_id")
    np.testing.assert_allclose(s.loc["low", "conc_in_well_pg_mL"], 25.0, rtol=1e-9)
    np.testing.assert_allclose(s.loc["low", "conc_pg_mL"], 250.0, rtol=1e-9)
    np.testing.assert_allclose(s.loc["high", "conc_pg_mL"], 400.0, rtol=1e-9)
    assert s.loc["low", "cv_pct"] == 0.0 and s.loc["low", "lloq_pg_mL"] == 125.0
    assert (s["flag"] == SampleFlag.OK.value).all()
    np.testing.assert_allclose(fit.standards_["recovery_pct"], 100.0, rtol=1e-9)
    cur = fit.curves_.iloc[0]
    assert (cur["lloq_pg_mL"], cur["uloq_pg_mL"], cur["status"]) == (12.5, 800.0, "converged")
    assert cur["ok"] and cur["standards_ok"] and cur["rss"] < 1e-20


@pytest.mark.parametrize("weights", [None, "1/y", "1/y^2"])
def test_noise_free_backcalculation_is_exact(weights):
    wells = _plate(samples=[(f"s{i}", [_od(x)] * 2, 1.0) for i, x in enumerate([15, 70, 333])])
    fit = StandardCurveFitter("4PL", weights=weights).fit(wells)
    got = fit.samples_["conc_pg_mL"].to_numpy()
    assert np.max(np.abs(got / [15, 70, 333] - 1)) < 1e-6


def test_5pl_recovers_an_asymmetric_curve_that_the_4pl_misses():
    """5PL truth a=0.05, b=1.4, c=300, d=3, g=0.6; OD 1.0 inverts to
    x = 300 * (((0.05 - 3) / (1.0 - 3))^(1/0.6) - 1)^(1/1.4)."""
    truth = dict(a=0.05, b=1.4, c=300.0, d=3.0, g=0.6)
    od = lambda x: _od(x, **truth)  # noqa: E731
    x_true = 300.0 * ((2.95 / 2.0) ** (1 / 0.6) - 1.0) ** (1 / 1.4)
    wells = _plate(od, levels=np.r_[3200.0, 1600.0, STD], samples=[("u", [1.0, 1.0], 1.0)])
    five = StandardCurveFitter("5PL", weights=None).fit(wells)
    np.testing.assert_allclose(five.params_.iloc[0], list(truth.values()), rtol=1e-6)
    np.testing.assert_allclose(five.samples_["conc_pg_mL"].iloc[0], x_true, rtol=1e-6)
    four = StandardCurveFitter("4PL", weights=None).fit(wells)
    assert abs(four.samples_["conc_pg_mL"].iloc[0] / x_true - 1) > 1e-3


def test_unweighted_fit_matches_doseresponse_fitter():
    """Weights None is drc's LL.4 (b_drc = -b, c_drc = a, d_drc = d, e = c): same estimates.

    Standard errors: ours from J'J (Gauss-Newton, as Prism), drc's from the observed
    Hessian, so they agree to a few per cent only.
    """
    rng = np.random.default_rng(20240501)
    frames = []
    for p in range(3):
        frames.append(_plate(_noisy(rng, 0.04), plate=f"P{p}"))
    wells = pd.concat(frames, ignore_index=True)
    ours = StandardCurveFitter("4PL", weights=None).fit(wells)
    drc = DoseResponseFitter("LL.4").fit(
        wells.rename(columns={"plate": "curve", "nominal_pg_mL": "dose", "signal": "response"})
    )
    mapped = drc.params_[["c", "b", "e", "d"]].to_numpy() * [1, -1, 1, 1]
    np.testing.assert_allclose(ours.params_.to_numpy(), mapped, rtol=1e-5)
    np.testing.assert_allclose(ours.curves_["rss"], drc.rss_, rtol=1e-8)
    se = drc.se_[["c", "b", "e", "d"]].to_numpy()
    np.testing.assert_allclose(ours.se_.to_numpy(), se, rtol=0.1)


def test_unit_and_constant_weights_leave_the_fit_unchanged():
    rng = np.random.default_rng(5)
    x = np.repeat(np.r_[STD, 0.0], 2)
    y = _od(x) * np.exp(rng.normal(0, 0.05, x.size))
    curve = LogisticCurve("4PL")
    plain = sc._fit_plate(curve, x, y, 0.0)
    ones = sc._fit_plate(curve, x, y, 0.0, np.ones_like(x))
    seven = sc._fit_plate(curve, x, y, 0.0, np.full_like(x, 7.0))
    np.testing.assert_array_equal(plain.phi, ones.phi)
    np.testing.assert_array_equal(plain.cov_phi, ones.cov_phi)
    np.testing.assert_allclose(seven.phi, plain.phi, rtol=1e-8)
    np.testing.assert_allclose(seven.cov_phi, plain.cov_phi, rtol=1e-6)


def test_interval_matches_a_numerical_delta_method():
    """se(log x) = sqrt(g' Cov g + var(mean OD) / (dOD/dlog x)^2), g by finite differences."""
    rng = np.random.default_rng(9)
    wells = _plate(_noisy(rng, 0.05), samples=[("u", [0.9, 1.0], 1.0)])
    fit = StandardCurveFitter("4PL", weights="1/y^2").fit(wells)
    theta = fit.params_.to_numpy()[0]
    y = 0.95

    def logx(th, od=y):
        return np.log(LogisticCurve("4PL").inverse(th[None, :], [od])[0, 0])

    h = 1e-6 * np.maximum(np.abs(theta), 1e-3)
    grad = np.array([(logx(theta + e) - logx(theta - e)) / (2 * e.max()) for e in np.diag(h)])
    dlogx_dy = (logx(theta, y + 1e-7) - logx(theta, y - 1e-7)) / 2e-7
    df = fit.curves_["df_resid"].iloc[0]
    sigma2 = fit.curves_["sigma"].iloc[0] ** 2
    pooled = (df * sigma2 * y**2 + 1 * np.var([0.9, 1.0], ddof=1)) / (df + 1)
    expected = np.sqrt(grad @ fit.cov_[0] @ grad + dlogx_dy**2 * pooled / 2)
    np.testing.assert_allclose(fit.samples_["se_log_conc"].iloc[0], expected, rtol=1e-5)
    s = fit.samples_.iloc[0]
    tq = __import__("scipy").stats.t.ppf(0.975, df)
    np.testing.assert_allclose(s["conc_upper_pg_mL"] / s["conc_pg_mL"], np.exp(tq * expected))


def test_range_flags():
    """OD 0.1 = a (no concentration), 0.15 -> 2.6 pg/mL (< LLOQ 12.5), 2.05 -> 3900 (> ULOQ
    800), 2.2 > d = 2.1 (above the top asymptote), an OVER well."""
    wells = _plate(
        samples=[
            ("at_a", [0.1, 0.1], 1.0),
            ("low", [0.15, 0.15], 1.0),
            ("high", [2.05, 2.05], 1.0),
            ("top", [2.2, 2.2], 1.0),
            ("ok", [1.0, 1.0], 1.0),
            ("over", [np.nan, 1.9], 1.0),
        ]
    )
    wells["flag"] = np.where(wells["signal"].isna(), "overflow", "ok")
    s = StandardCurveFitter("4PL").fit(wells).samples_.set_index("sample_id")
    assert s["flag"].to_dict() == {
        "at_a": "below_bottom",
        "low": "below_lloq",
        "high": "above_uloq",
        "top": "above_top",
        "ok": "ok",
        "over": "overflow",
    }
    assert s.loc[["at_a", "top", "over"], "conc_pg_mL"].isna().all()
    np.testing.assert_allclose(s.loc["low", "conc_pg_mL"], 100 * (2 / 1.95 - 1), rtol=1e-8)
    np.testing.assert_allclose(s.loc["high", "conc_pg_mL"], 100 * (2 / 0.05 - 1), rtol=1e-8)


def test_duplicate_cv():
    """ODs 1.0 and 1.2: SD = 0.2 / sqrt(2) = 0.141421, CV = 0.141421 / 1.1 = 12.856 %."""
    wells = _plate(samples=[("a", [1.0, 1.2], 1.0), ("b", [1.0, 2.0], 1.0)])
    s = StandardCurveFitter("4PL").fit(wells).samples_.set_index("sample_id")
    np.testing.assert_allclose(s.loc["a", "cv_pct"], 100 * 0.2 / np.sqrt(2) / 1.1, rtol=1e-12)
    assert s.loc["a", "cv_ok"] and not s.loc["b", "cv_ok"]
    assert s.loc["b", "conc_upper_pg_mL"] / s.loc["b", "conc_lower_pg_mL"] > (
        s.loc["a", "conc_upper_pg_mL"] / s.loc["a", "conc_lower_pg_mL"]
    )  # replicate spread widens the interval


def test_standard_recovery_rule_and_lloq():
    """Lowest standard's specific signal read 50 % too high: unweighted, its recovery leaves
    75-125 %, so the LLOQ moves up to 25 pg/mL; inner standards are judged on 80-120 %.
    (With 1/y^2 weights the fit bends towards that point and the 25 pg/mL standard fails.)"""

    def od(x):
        y = _od(x)
        return np.where(np.isclose(x, 12.5), 0.1 + (y - 0.1) * 1.5, y)

    fit = StandardCurveFitter("4PL", weights=None).fit(_plate(od))
    st = fit.standards_.set_index("nominal_pg_mL")
    assert not st.loc[12.5, "passed"] and st.loc[12.5, "recovery_pct"] > 125
    assert (st.loc[12.5, "recovery_low_pct"], st.loc[12.5, "recovery_high_pct"]) == (75, 125)
    assert (st.loc[800.0, "recovery_low_pct"], st.loc[100.0, "recovery_high_pct"]) == (75, 120)
    assert st.loc[[25.0, 50.0, 100.0, 200.0, 400.0, 800.0], "passed"].all()
    cur = fit.curves_.iloc[0]
    assert cur["lloq_pg_mL"] == 25.0 and cur["standards_passed"] == 6 and cur["standards_ok"]


def test_weighting_matters_at_the_low_end():
    """OD noise grows with the signal: unweighted fits are dominated by the top standards, so
    low samples get wide intervals; 1/y^2 gives intervals several times narrower."""
    rng = np.random.default_rng(17)
    frames = []
    noisy = _noisy(rng, 0.06, 0.004)
    for p in range(4):
        ods = [noisy(np.full(2, 20.0)) for _ in range(5)]
        frames.append(_plate(noisy, f"P{p}", [(f"s{i}", o, 1.0) for i, o in enumerate(ods)]))
    wells = pd.concat(frames, ignore_index=True)
    width = {}
    for w in (None, "1/y^2"):
        s = StandardCurveFitter("4PL", weights=w).fit(wells).samples_
        width[w] = np.median(np.log(s["conc_upper_pg_mL"] / s["conc_lower_pg_mL"]))
    assert width[None] > 2.5 * width["1/y^2"]


def test_summary_print_and_plot(capsys):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit = StandardCurveFitter("4PL", alpha=0.1).fit(_plate(samples=[("u", [1.0, 1.05], 2.0)]))
    summ = fit.summary
    assert list(summ.columns) == ["estimate", "se", "lower 90%", "upper 90%", "status"]
    assert summ.index.get_level_values("param").tolist() == ["a", "b", "c", "d"]
    fit.print_summary()
    assert "4PL" in capsys.readouterr().out
    fig, ax = plt.subplots()
    assert fit.plot(ax=ax) is ax and len(ax.lines) >= 1
    plt.close(fig)
    assert "weights='1/y^2'" in repr(fit)


def test_standards_only_gives_empty_sample_table():
    fit = StandardCurveFitter().fit(_plate())
    assert len(fit.samples_) == 0
    assert fit.samples_["conc_pg_mL"].dtype == float and "flag" in fit.samples_


def test_5pl_on_symmetric_noisy_data_does_not_raise():
    rng = np.random.default_rng(3)
    frames = [_plate(_noisy(rng, 0.05), f"P{p}") for p in range(4)]
    fit = StandardCurveFitter("5PL").fit(pd.concat(frames, ignore_index=True))
    assert set(fit.curves_["status"]) <= {"converged", "at_bound"}
    assert np.isfinite(fit.params_.to_numpy()).all()


def test_spike_recovery():
    """(1450 - 520) / 1000 = 93 %."""
    np.testing.assert_allclose(spike_recovery([1450.0, 700.0], 520.0, 1000.0), [93.0, 18.0])
    with pytest.raises(LeptotwinError, match="spike amount must be > 0"):
        spike_recovery(1.0, 0.0, 0.0)


def test_doctests():
    failed, _ = doctest.testmod(sc, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failed == 0


# --------------------------------------------------------------------------- bad input
def test_non_monotone_standards_raise():
    wells = _plate()
    wells.loc[wells["nominal_pg_mL"] == 200.0, "signal"] = 1.9  # above the 400 standard
    with pytest.raises(LeptotwinError, match="plate P1: standards are not monotone"):
        StandardCurveFitter().fit(wells)
    StandardCurveFitter(check_monotone=False).fit(wells)  # allowed when asked


def test_missing_standards_raise():
    wells = _plate(samples=[("u", [1.0, 1.0], 1.0)])
    with pytest.raises(LeptotwinError, match="no standard wells"):
        StandardCurveFitter().fit(wells[wells["role"] == "sample"])
    other = wells[wells["role"] == "sample"].assign(plate="P2")
    with pytest.raises(LeptotwinError, match="samples but no standards.*P2"):
        StandardCurveFitter().fit(pd.concat([wells, other]))
    few = wells[wells["nominal_pg_mL"].isin([800.0, 0.0]) | (wells["role"] == "sample")]
    with pytest.raises(LeptotwinError, match="too few standard levels"):
        StandardCurveFitter().fit(few)
    bad = wells.copy()
    bad.loc[0, "nominal_pg_mL"] = np.nan
    with pytest.raises(LeptotwinError, match="standard without a positive nominal"):
        StandardCurveFitter().fit(bad)


def test_sample_without_replicate_raises():
    wells = _plate(samples=[("u", [1.0], 1.0)])
    with pytest.raises(LeptotwinError, match="sample_id u, dilution 1: sample has no replicate"):
        StandardCurveFitter().fit(wells)
    fit = StandardCurveFitter(min_replicates=1).fit(wells)
    assert np.isfinite(fit.samples_["conc_upper_pg_mL"].iloc[0])


def test_negative_dilution_and_other_bad_input_raise():
    with pytest.raises(LeptotwinError, match="dilution factor must be > 0"):
        StandardCurveFitter().fit(_plate(samples=[("u", [1.0, 1.0], -2.0)]))
    wells = _plate()
    with pytest.raises(LeptotwinError, match="unknown well role"):
        StandardCurveFitter().fit(wells.assign(role="vehicle"))
    with pytest.raises(LeptotwinError, match="missing column.*signal"):
        StandardCurveFitter().fit(wells.drop(columns="signal"))
    with pytest.raises(LeptotwinError, match="not a number"):
        StandardCurveFitter().fit(wells.assign(signal="x"))
    with pytest.raises(LeptotwinError, match="without a sample_id"):
        StandardCurveFitter().fit(_plate(samples=[("", [1.0, 1.0], 1.0)]))
    with pytest.raises(LeptotwinError, match="unknown weighting"):
        StandardCurveFitter(weights="1/x")
    with pytest.raises(LeptotwinError, match="unknown standard-curve model"):
        StandardCurveFitter("3PL")
    with pytest.raises(LeptotwinError, match="alpha must lie in"):
        StandardCurveFitter(alpha=1.5)
    with pytest.raises(LeptotwinError, match="min_replicates"):
        StandardCurveFitter(min_replicates=0)
    with pytest.raises(LeptotwinError, match="not been fitted"):
        StandardCurveFitter().inverse([1.0])
    with pytest.raises(LeptotwinError, match="unknown plate"):
        StandardCurveFitter().fit(wells).inverse([1.0], plate="nope")


# --------------------------------------------------------------------------- files
def test_read_elisa_layout_without_plate_and_with_semicolons(tmp_path):
    plate = tmp_path / "plate.csv"
    conc = [800, 400, 200, 100, 50, 25, 12.5, 0]
    rows = ["Plate,X1", "", "," + ",".join(map(str, range(1, 13)))]
    for i, c in enumerate(conc):
        y, u = float(_od(c)), "1.0" if i == 0 else ""
        rows.append(f"{'ABCDEFGH'[i]},{y!r},{y!r},{u},{u}" + "," * 8)  # all 12 columns
    plate.write_text("\n".join(rows) + "\n")
    layout = tmp_path / "layout.csv"
    lines = ["# ELISA layout", "Well;Role;Sample_ID;Nominal_pg_mL;Dilution"]
    for i, c in enumerate(conc):
        for col in (1, 2):
            role = "std" if c else "zero"
            lines.append(f"{'ABCDEFGH'[i]}{col};{role};;{str(c).replace('.', ',')};")
    lines += ["A3;unknown;u1;;2,5", "A4;unknown;u1;;2,5"]
    layout.write_text("\n".join(lines) + "\n")
    lay = read_elisa_layout(layout)
    assert set(lay["role"]) == {"standard", "blank", "sample"} and lay["plate"].eq("").all()
    wells = read_elisa(plate, layout)
    assert (wells["plate"] == "X1").all() and len(wells) == 18
    s = StandardCurveFitter().fit(wells).samples_
    np.testing.assert_allclose(s["conc_pg_mL"], 2.5 * 100 * (2 / 1.1 - 1), rtol=1e-8)


def test_read_elisa_errors(tmp_path):
    plate = tmp_path / "plate.csv"
    grid = [f"{r}," + ("1.0" if r == "A" else "") + "," * 11 for r in "ABCDEFGH"]
    plate.write_text("Plate,X1\n\n," + ",".join(map(str, range(1, 13))) + "\n" + "\n".join(grid))
    layout = tmp_path / "layout.csv"
    layout.write_text("plate,well,role\nX2,A01,blank\n")
    with pytest.raises(LeptotwinError, match="plate in the layout has no readings"):
        read_elisa(plate, layout)
    layout.write_text("well,role\nA01,vehicle\n")
    with pytest.raises(LeptotwinError, match="unknown well role"):
        read_elisa(plate, layout)
    layout.write_text("well,role\nA01,blank\nA1,blank\n")
    with pytest.raises(LeptotwinError, match="duplicated well"):
        read_elisa_layout(layout)
    layout.write_text("well\nA01\n")
    with pytest.raises(LeptotwinError, match="missing column.*role"):
        read_elisa_layout(layout)
    with pytest.raises(LeptotwinError, match="file not found"):
        read_elisa_layout(tmp_path / "none.csv")


def test_xlsx_layout_needs_openpyxl(tmp_path):
    if importlib.util.find_spec("openpyxl") is not None:
        pytest.skip("openpyxl installed: .xlsx layouts are read")
    path = tmp_path / "layout.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(LeptotwinError, match="needs the optional package openpyxl"):
        read_elisa_layout(path)


# -- issue 12: magnitudes a plate cannot hold, and degenerate fits without RuntimeWarnings --------


def test_an_od_above_10_is_refused_naming_the_well():
    """ODs of 1e14 (below the reader's 1e15 limit) overflowed ``exp`` in the back-fit."""
    wells = _plate()
    wells.loc[0, "signal"] = 1e14
    with pytest.raises(
        LeptotwinError,
        match=r"plate P1, row 0, column signal: an absorbance above 10 OD .*"
        r"\(got 100000000000000\.0\); expected OD as the reader reports it",
    ):
        StandardCurveFitter().fit(wells)


def test_a_standard_below_any_immunoassay_is_refused():
    """Standards of 1e-278 pg/mL overflowed the start values and the interval arithmetic."""
    wells = _plate(levels=STD * 1e-280)
    with pytest.raises(LeptotwinError, match=r"column nominal_pg_mL: standard below 1e-6 pg/mL"):
        StandardCurveFitter().fit(wells)


def test_a_failed_fit_gives_a_status_not_a_runtime_warning():
    """Four standards on a straight line in OD (found by the property test): the 4PL does not
    converge; evaluating its NaN parameters warned 'invalid value encountered in logaddexp'."""
    conc = np.array([1.0, 0.99224806, 0.98455622, 0.976924])
    wells = pd.DataFrame(
        {"plate": "P1", "role": "standard", "nominal_pg_mL": conc,
         "signal": [0.503891, 0.501946, 0.5, 0.498054]}
    )  # fmt: skip
    fit = StandardCurveFitter("4PL", weights="1/y^2").fit(wells)
    assert fit.curves_["status"].iloc[0] != "converged" or fit.curves_["ok"].iloc[0]
    fit.summary  # noqa: B018 - no RuntimeWarning (an error under pytest)
    from matplotlib.figure import Figure

    fit.plot(ax=Figure().add_subplot())


def test_unbounded_intervals_are_inf_without_a_warning():
    """Standards 1, 0.5, 0.25 pg/mL at OD 0, 0, -1 with blanks 0 and -2 (found by the property
    test): the parameter interval overflowed ``exp`` in ``summary``."""
    wells = pd.DataFrame(
        {"plate": "P1", "role": ["standard"] * 3 + ["blank"] * 2,
         "nominal_pg_mL": [1.0, 0.5, 0.25, 0.0, 0.0], "signal": [0.0, 0.0, -1.0, 0.0, -2.0]}
    )  # fmt: skip
    fit = StandardCurveFitter("4PL", weights="1/y").fit(wells)
    summary = fit.summary
    assert not summary["estimate"].isna().all()


@pytest.mark.parametrize("name", ["FLAG", "signal"])
def test_a_layout_column_named_like_a_reading_column(tmp_path, name):
    """A layout whose first header cell read 'FLAG' (found by the property test): the merge
    with the readings raised KeyError: 'flag'."""
    plate = tmp_path / "plate.csv"
    rows = ["Plate,X1", "", "," + ",".join(map(str, range(1, 13)))]
    rows += [f"{r}," + ("1.0" if r == "A" else "") + "," * 11 for r in "ABCDEFGH"]
    plate.write_text("\n".join(rows) + "\n")
    layout = tmp_path / "layout.csv"
    layout.write_text(f"{name},well,role,nominal_pg_mL\nx,A01,standard,100\n")
    with pytest.raises(
        LeptotwinError,
        match=rf"layout.csv: {name.lower()}: a layout column has the name of a reading column",
    ):
        read_elisa(plate, layout)
