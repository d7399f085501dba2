"""Flat dose-response curves (issue 12, point 7): no dose dependence -> status ``flat``, no IC50,
not ``ok``, drawn as the horizontal line at the mean (no sigmoid, no band).

Before: all responses 50 -> ``converged``, ok, IC50 = 0 and b = 8.5e5; all 0 -> IC50 = 1 "in
range"; the report's "EGFR inhibitors alone" panel showed a step with a full-height band.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from scipy import stats

from leptotwin.analysis.curve_stats import dose_at_top_fraction, prediction_band
from leptotwin.analysis.doseresponse import DoseResponseFitter, FitStatus, read_dose_response
from refdata import DOSE_RESPONSE

matplotlib.use("Agg")

DOSES = np.repeat([0.0, 0.01, 0.1, 1.0, 10.0, 100.0], 3)


def _table(curves: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.concat(
        [pd.DataFrame({"curve": k, "dose": DOSES, "response": y}) for k, y in curves.items()],
        ignore_index=True,
    )


def _curves() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return _table(
        {
            "fifty": np.full(DOSES.size, 50.0),
            "zero": np.zeros(DOSES.size),
            "noisy": rng.normal(100.0, 5.0, DOSES.size),
            "real": 5 + 95 / (1 + DOSES / 1.0) + rng.normal(0, 3, DOSES.size),
        }
    )


@pytest.mark.parametrize("model", ["LL.4", "W1.4", "LL.3", "LL.5"])
def test_flat_curves_have_status_flat_and_no_ic50(model: str) -> None:
    df = _curves()
    fit = DoseResponseFitter(model).fit(df)
    qc = fit.qc_
    for curve in ("fifty", "zero", "noisy"):
        assert fit.status_[curve] is FitStatus.FLAT, curve
        assert qc.loc[curve, "status"] == "flat"
        assert not qc.loc[curve, "ok"] and qc.loc[curve, "flat"]
        assert np.isnan(qc.loc[curve, "ic50"]) and not qc.loc[curve, "ic50_in_range"]
        assert np.isnan(fit.params_.loc[curve, "b"]) and np.isnan(fit.params_.loc[curve, "e"])
        rows = fit.results_[fit.results_["curve"] == curve].set_index("param")
        assert rows.loc[["b", "e", "ED10", "ED50", "ED90"], "estimate"].isna().all()
        assert not rows["ok"].any()
        mean = df.loc[df["curve"] == curve, "response"].mean()
        assert rows.loc["d", "estimate"] == pytest.approx(mean, abs=1e-9)
        np.testing.assert_allclose(fit.predict([0.0, 0.5, 1e3]).loc[curve], mean, atol=1e-9)
        assert qc.loc[curve, "aac"] == pytest.approx(0.0, abs=1e-9)
    assert fit.status_["real"] is FitStatus.CONVERGED
    assert qc.loc["real", "ok"] and not qc.loc["real", "flat"]
    assert qc.loc["real", "ic50_in_range"]


def test_the_exact_inputs_of_the_issue() -> None:
    """All 50 (was: converged, IC50 = 0, b = 8.5e5) and all 0 (was: IC50 = 1 "in range")."""
    fit = DoseResponseFitter("LL.4").fit(_curves())
    for curve, level in (("fifty", 50.0), ("zero", 0.0)):
        par = fit.params_.loc[curve]
        assert par["c"] == par["d"] == level
        assert fit.se_.loc[curve, "d"] == 0.0
        assert fit.rss_[curve] == 0.0
    assert "no IC50" in FitStatus.FLAT.value


def test_noisy_flat_curve_is_the_constant_mean_with_its_interval() -> None:
    """The reported model of a flat curve is the constant: the mean with the SE of a mean and a
    t interval on n - 1 degrees of freedom; rss = TSS; qc keeps the sigmoid's F-test."""
    df = _curves()
    fit = DoseResponseFitter("LL.4").fit(df)
    y = df.loc[df["curve"] == "noisy", "response"].to_numpy()
    n = y.size
    se = y.std(ddof=1) / np.sqrt(n)
    rows = fit.results_[fit.results_["curve"] == "noisy"].set_index("param")
    for p in ("c", "d"):
        assert rows.loc[p, "estimate"] == pytest.approx(y.mean())
        assert rows.loc[p, "se"] == pytest.approx(se)
        t = stats.t.ppf(0.975, n - 1)
        assert rows.loc[p, "upper"] == pytest.approx(y.mean() + t * se)
    assert fit.df_resid_["noisy"] == n - 1
    assert fit.rss_["noisy"] == pytest.approx(((y - y.mean()) ** 2).sum())
    qc = fit.qc_.loc["noisy"]
    assert qc["f_pvalue"] > 0.05 and qc["rss"] <= fit.rss_["noisy"] and qc["df_resid"] == n - 4


def test_flat_is_the_f_test_at_alpha() -> None:
    """A weak curve is flat at alpha = 0.05 and not at a laxer alpha whose critical F it beats."""
    rng = np.random.default_rng(12)
    y = 100 - 6 / (1 + 1.0 / np.maximum(DOSES, 1e-12)) + rng.normal(0, 5, DOSES.size)
    df = _table({"weak": y})
    strict = DoseResponseFitter("LL.4").fit(df).qc_.loc["weak"]
    assert strict["flat"] == (strict["f_pvalue"] > 0.05)
    lax = DoseResponseFitter("LL.4", alpha=0.99).fit(df).qc_.loc["weak"]
    assert lax["f_pvalue"] < 0.99 and not lax["flat"] and lax["status"] != "flat"


def test_no_reference_curve_is_flat() -> None:
    """Every drc reference data set: real curves stay unflagged (LL.5 too: test_matches_drc
    compares its estimates, which a flat curve would not have)."""
    for path in sorted(DOSE_RESPONSE.glob("*.csv")):
        if path.name == "drc_reference_fits.csv":
            continue
        data = read_dose_response(path)
        for model in ("LL.3", "LL.4", "W1.4"):
            qc = DoseResponseFitter(model).fit(data).qc_
            assert not qc["flat"].any(), (path.name, model)


def test_flat_curves_plot_as_a_line_without_band() -> None:
    fit = DoseResponseFitter("LL.4").fit(_curves())
    grid = np.logspace(-3, 3, 50)
    band = prediction_band(fit, "noisy", grid)
    assert np.ptp(band["fit"]) == 0.0
    assert np.isnan(band["lower"]).all() and np.isnan(band["upper"]).all()
    real = prediction_band(fit, "real", grid)
    assert np.isfinite(real["lower"]).all() and np.ptp(real["fit"]) > 50
    ed = dose_at_top_fraction(fit)
    flat = fit.qc_["flat"].to_numpy()
    assert np.isnan(ed["estimate"][flat]).all() and np.isfinite(ed["estimate"][~flat]).all()
    fig = Figure()
    ax = fit.plot(ax=fig.add_subplot(), curves=["fifty", "noisy"])
    for line in ax.get_lines():
        assert np.ptp(line.get_ydata()) == pytest.approx(0.0, abs=1e-9)


def test_egfr_alone_panel_draws_flat_curves_as_lines() -> None:
    """The report's panel (study/sections/viability._plot_curves): a flat curve is one
    horizontal line and gets no band; a real curve keeps its sigmoid and band."""
    from leptotwin.study.sections.viability import _plot_curves

    df = _curves()
    fit = DoseResponseFitter("LL.4").fit(df)
    fig = Figure()
    ax = fig.add_subplot()
    _plot_curves(ax, fit, df, [("noisy", "flat drug alone"), ("real", "real drug")], "panel")
    fitted = [ln for ln in ax.get_lines() if ln.get_label() in ("flat drug alone", "real drug")]
    flat_line, real_line = fitted
    assert np.ptp(flat_line.get_ydata()) == 0.0
    assert flat_line.get_ydata()[0] == pytest.approx(df.loc[df["curve"] == "noisy"].response.mean())
    assert np.ptp(real_line.get_ydata()) > 50
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1  # the real curve's band only
