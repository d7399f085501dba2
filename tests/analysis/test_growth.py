"""BLI growth analysis: reading exports, curves, summaries, the mixed model, the figure."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from leptotwin.analysis.growth import (
    compare_growth,
    end_of_study_fold_change,
    growth_curves,
    plot_growth,
    read_bli,
    relapse_times,
    summarize_growth,
)
from leptotwin.errors import LeptotwinError

matplotlib.use("Agg")

TRUE_SLOPES = {"vehicle": 0.10, "alectinib": 0.06, "osimertinib": 0.08, "combination": -0.01}


def _study(
    rng: np.random.Generator,
    *,
    n_mice: int = 10,
    slopes: dict[str, float] = TRUE_SLOPES,
    days=(0, 7, 14, 21, 28),
    slope_sd: float = 0.01,
    noise_sd: float = 0.1,
) -> pd.DataFrame:
    """Exponential growth on the log10 scale: log10 flux = a_m + (b_arm + u_m) day + e."""
    rows = []
    for arm, b in slopes.items():
        for m in range(n_mice):
            a = 6.5 + 0.3 * rng.standard_normal()
            u = slope_sd * rng.standard_normal()
            for d in days:
                y = a + (b + u) * d + noise_sd * rng.standard_normal()
                rows.append((f"{arm[:3]}-{m}", arm, float(d), 10.0**y))
    return pd.DataFrame(rows, columns=["mouse", "arm", "day", "total_flux_p_s"])


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def test_read_ivis_export_with_metadata_tabs_and_day_labels(tmp_path):
    text = (
        "Living Image 4.7 measurements\n"
        "Units: photons\n"
        "Image Number\tROI\tImage Label\tTotal Flux [p/s]\tAvg Radiance [p/s/cm^2/sr]\t"
        "Animal Number\tGroup\tTime Point\n"
        "SK001\tROI 1\tm1\t1.5e6\t2.98e4\t001\tvehicle\tDay 0\n"
        "SK002\tROI 1\tm1\t3.0e7\t5.97e5\t001\tvehicle\td7\n"
        "SK003\tROI 1\tm2\t2.0e6\t3.98e4\t002\tAlectinib + Osimertinib\t0\n"
        "\n"
    )
    path = tmp_path / "Measurements.txt"
    path.write_text(text, encoding="utf-8")
    df = read_bli(path)
    assert list(df["mouse"]) == ["001", "001", "002"]  # labels stay strings (leading zeros)
    assert list(df["day"]) == [0.0, 7.0, 0.0]
    assert list(df["total_flux_p_s"]) == [1.5e6, 3.0e7, 2.0e6]
    assert df["arm"].iloc[2] == "Alectinib + Osimertinib"


def test_read_semicolon_file_with_decimal_commas(tmp_path):
    path = tmp_path / "bli.csv"
    path.write_text(
        "mouse;arm;day;total_flux_p_s\nA;veh;0;1,5e6\nA;veh;7,0;2,25e7\n", encoding="cp1252"
    )
    df = read_bli(path)
    assert list(df["total_flux_p_s"]) == [1.5e6, 2.25e7]
    assert list(df["day"]) == [0.0, 7.0]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("mouse,arm,total_flux_p_s\nA,v,1e6\n", r"bli.csv: day: tidy BLI file lacks columns"),
        (
            "mouse,arm,day,total_flux_p_s\nA,v,0,lots\n",
            r"total_flux_p_s: non-numeric value on line 2",
        ),
        ("mouse,arm,day,total_flux_p_s\nA,v,0,1e6\nA,v,0,2e6\n", "duplicated mouse-day rows"),
        ("mouse,arm,day,total_flux_p_s\nA,v,0,1e6\nA,w,7,2e6\n", "more than one arm"),
        ("mouse,arm,day,total_flux_p_s\n,v,0,1e6\n", "missing mouse label on line 2"),
        ("mouse,arm,day,flux\nA,v,0,1e6\n", "no BLI header found"),
        (
            "Image Number,ROI,Total Flux [p/s],Group,Time Point\nX,ROI 1,1e6,v,Day 0\n",
            r"Animal Number: IVIS export lacks the mouse column",
        ),
        (
            "Image Number,Total Flux [p/s],Animal Number,Group,Time Point\nX,1e6,1,v,week one\n",
            r"Time Point: non-numeric value on line 2 \(got 'week one'\)",
        ),
        (
            "ROI,Total Flux [p/s],Animal Number,Group,Time Point\n"
            "ROI 1,1e6,1,v,Day 0\nROI 2,2e6,1,v,Day 0\n",
            "duplicated mouse-day rows.*sum or select ROIs",
        ),
    ],
)
def test_read_bli_bad_files_name_file_and_column(tmp_path, text, match):
    path = tmp_path / "bli.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LeptotwinError, match=match):
        read_bli(path)


def test_read_bli_missing_file(tmp_path):
    with pytest.raises(LeptotwinError, match="nope.csv: file not found"):
        read_bli(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# curves and summaries
# ---------------------------------------------------------------------------------------------
def _tiny() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mouse": ["m1", "m1", "m2", "m2", "m3", "m3"],
            "arm": ["v", "v", "v", "v", "c", "c"],
            "day": [0, 7, 0, 7, 0, 7],
            "total_flux_p_s": [1e6, 1e7, 4e6, 1.6e8, 2e6, 1e6],
        }
    )


def test_growth_curves_fold_change_from_first_day():
    c = growth_curves(_tiny()).set_index(["mouse", "day"])
    assert c.loc[("m1", 0), "fold_change"] == 1.0
    assert c.loc[("m1", 7), "fold_change"] == pytest.approx(10.0)
    assert c.loc[("m2", 7), "fold_change"] == pytest.approx(40.0)
    assert c.loc[("m3", 7), "log10_fold_change"] == pytest.approx(math.log10(0.5))
    assert c.loc[("m2", 7), "log10_flux"] == pytest.approx(math.log10(1.6e8))
    assert (c["baseline_day"] == 0).all()


def test_summary_is_geometric_mean_with_t_interval():
    """Arm v, day 7: fold changes 10 and 40 -> geometric mean 20; log10 values 1 and 1.602,
    mean 1.301, SD 0.4257, t(0.975, 1) = 12.706, half-width 12.706 x 0.4257 / sqrt(2)."""
    s = summarize_growth(_tiny()).set_index(["arm", "day"])
    row = s.loc[("v", 7.0)]
    assert row["n"] == 2
    assert row["geomean_fold_change"] == pytest.approx(20.0)
    logs = np.log10([10.0, 40.0])
    half = stats.t.ppf(0.975, 1) * np.std(logs, ddof=1) / math.sqrt(2)
    assert row["fold_change_lower"] == pytest.approx(10 ** (logs.mean() - half))
    assert row["fold_change_upper"] == pytest.approx(10 ** (logs.mean() + half))
    assert row["geomean_flux_p_s"] == pytest.approx(math.sqrt(1e7 * 1.6e8))
    single = s.loc[("c", 7.0)]  # one mouse: no CI, n says why
    assert single["n"] == 1 and math.isnan(single["flux_lower"])
    assert list(s.index.get_level_values("arm").unique()) == ["v", "c"]


def test_end_of_study_fold_change_counts_missing_mice():
    df = _tiny()
    df = df[~((df["mouse"] == "m2") & (df["day"] == 7))]  # m2 died before day 7
    e = end_of_study_fold_change(df).set_index("arm")
    assert e.loc["v", "n"] == 1 and e.loc["v", "n_missing"] == 1
    assert e.loc["v", "geomean_fold_change"] == pytest.approx(10.0)
    assert e.loc["c", "geomean_fold_change"] == pytest.approx(0.5)
    with pytest.raises(LeptotwinError, match="no image on that day"):
        end_of_study_fold_change(df, day=3)


def test_floor_raises_low_values_and_non_positive_flux_needs_one():
    df = _tiny().assign(total_flux_p_s=[0.0, 1e7, 4e6, 1.6e8, 2e6, 1e6])
    with pytest.raises(LeptotwinError, match="flux must be positive.*floor_p_s"):
        growth_curves(df)
    c = growth_curves(df, floor_p_s=2e5)
    assert c["floored"].sum() == 1
    assert c["total_flux_p_s"].min() == 2e5
    with pytest.raises(LeptotwinError, match="floor must be a positive number"):
        growth_curves(df, floor_p_s=-1)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.drop(columns="arm"), "lacks columns.*arm"),
        (lambda d: d.assign(total_flux_p_s="bright"), "total_flux_p_s: non-numeric"),
        (lambda d: d.assign(day=[0, 7, 0, 7, 0, None]), "day: non-numeric or missing"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), "duplicated mouse-day rows"),
    ],
)
def test_bad_tables_are_refused(mutate, match):
    with pytest.raises(LeptotwinError, match=match):
        summarize_growth(mutate(_tiny()))


# ---------------------------------------------------------------------------------------------
# mixed model
# ---------------------------------------------------------------------------------------------
def test_mixed_model_recovers_known_slopes():
    rng = np.random.default_rng(2020_0752)
    df = _study(rng, n_mice=12)
    res = compare_growth(df, reference="vehicle").set_index("arm")
    assert list(res.index) == ["vehicle", "alectinib", "osimertinib", "combination"]
    assert res["converged"].all()
    assert (res["model"] == "mixedlm: random intercept + slope per mouse").all()
    for arm, b in TRUE_SLOPES.items():
        assert res.loc[arm, "slope_lower"] < b < res.loc[arm, "slope_upper"], arm
        if arm != "vehicle":
            d = b - TRUE_SLOPES["vehicle"]
            assert res.loc[arm, "diff_lower"] < d < res.loc[arm, "diff_upper"], arm
            assert res.loc[arm, "p_value"] < 0.01
    assert res.loc["vehicle", "diff_slope"] == 0.0 and math.isnan(res.loc["vehicle", "p_value"])


def test_mixed_model_slope_intervals_cover_the_truth():
    """Coverage of the 95 % Wald interval over 40 independent small studies (3 arms x 6 mice):
    the count of intervals containing the truth is Binomial(120, 0.95) if the CIs are right;
    >= 104 of 120 is far inside (P(X < 104) < 0.001 under nominal coverage)."""
    rng = np.random.default_rng(17)
    slopes = {"vehicle": 0.1, "alectinib": 0.06, "combination": 0.0}
    hits = 0
    for _ in range(40):
        res = compare_growth(_study(rng, n_mice=6, slopes=slopes)).set_index("arm")
        for arm, b in slopes.items():
            hits += res.loc[arm, "slope_lower"] < b < res.loc[arm, "slope_upper"]
    assert hits >= 104


def test_mixed_model_falls_back_and_flags_it():
    """One mouse per arm with two images: no mixed model can be fitted; the OLS fallback gives
    the slopes, no intervals, and converged=False."""
    df = pd.DataFrame(
        {
            "mouse": ["m1", "m1", "m2", "m2"],
            "arm": ["a", "a", "b", "b"],
            "day": [0, 7, 0, 7],
            "total_flux_p_s": [1e6, 1e7, 1e6, 1e6],
        }
    )
    res = compare_growth(df).set_index("arm")
    assert not res["converged"].any()
    assert res["model"].str.startswith("ols").all()
    assert res.loc["a", "slope_log10_per_day"] == pytest.approx(1 / 7)
    assert res.loc["b", "diff_slope"] == pytest.approx(-1 / 7)
    assert "mixedlm" in res.loc["a", "message"]


def test_single_arm_and_bad_reference():
    df = _study(np.random.default_rng(3), n_mice=6, slopes={"vehicle": 0.1})
    res = compare_growth(df)
    assert len(res) == 1 and res.loc[0, "slope_lower"] < 0.1 < res.loc[0, "slope_upper"]
    with pytest.raises(LeptotwinError, match="unknown reference arm.*expected one of vehicle"):
        compare_growth(df, reference="placebo")
    with pytest.raises(LeptotwinError, match="at least two imaging days"):
        compare_growth(df[df["day"] == 0])
    with pytest.raises(LeptotwinError, match="alpha must lie in"):
        compare_growth(df, alpha=5)


def test_plot_growth_draws_mice_and_means():
    df = _study(np.random.default_rng(4), n_mice=3)
    ax = plot_growth(df)
    assert ax.get_yscale() == "log"
    assert len(ax.lines) == 4 * 3 + 4  # one thin line per mouse, one mean per arm
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(TRUE_SLOPES)
    ax2 = plot_growth(df, value="fold_change")
    assert ax2.get_ylabel() == "fold change from baseline"
    with pytest.raises(LeptotwinError, match="unknown value to plot"):
        plot_growth(df, value="volume")
    matplotlib.pyplot.close("all")


def test_read_bli_header_without_rows(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("mouse,arm,day,total_flux_p_s\n", encoding="utf-8")
    with pytest.raises(LeptotwinError, match="empty.csv: no data rows"):
        read_bli(path)


def test_geometric_mean_ci_is_the_t_interval_of_the_log_mean():
    from scipy import stats

    from leptotwin.analysis.growth import geometric_mean_ci

    x = np.array([2.0, 8.0, 4.0, 16.0])
    logs = np.log(x)
    half = stats.t.ppf(0.975, 3) * logs.std(ddof=1) / 2.0
    lo, hi = geometric_mean_ci(x)
    assert lo == pytest.approx(np.exp(logs.mean() - half))
    assert hi == pytest.approx(np.exp(logs.mean() + half))
    assert all(np.isnan(geometric_mean_ci([3.0, 0.0])))  # one positive value: no interval


def test_relapse_rule_on_a_hand_made_series():
    """Flux 1e6 at start, nadir 1e4 on day 21, back above 1e6 on day 35 (not 28): relapse 28 d
    after the start on day 7; a mouse that never comes back is censored at its last image."""
    flux = pd.DataFrame(
        {
            "mouse": ["a"] * 6 + ["b"] * 6,
            "arm": "alectinib",
            "day": [7, 14, 21, 28, 35, 42] * 2,
            "total_flux_p_s": [1e6, 1e5, 1e4, 5e5, 2e6, 9e6, 1e6, 1e5, 1e4, 1e4, 1e4, 1e4],
        }
    )
    rel = relapse_times(flux, 7).set_index("mouse")
    assert rel.loc["a", "time_days"] == 28 and rel.loc["a", "event"] == 1
    assert rel.loc["b", "time_days"] == 35 and rel.loc["b", "event"] == 0
    assert rel.loc["a", "fold_fall"] == 100
