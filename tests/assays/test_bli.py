"""Virtual BLI: flux proportional to cells, noise structure, file formats, neurological endpoint."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis.growth import read_bli
from leptotwin.assays.bli import (
    IVIS_COLUMNS,
    BLISettings,
    simulate_bli,
    survival_from_burden,
    write_bli,
)
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError


def _burden(rng: np.random.Generator, n_mice: int = 6, days=(0, 7, 14, 21, 28)) -> pd.DataFrame:
    rows = []
    for m in range(n_mice):
        arm = "vehicle" if m % 2 == 0 else "alectinib + osimertinib"
        rate = 0.2 if arm == "vehicle" else -0.02
        for d in days:
            rows.append((f"M{m:02d}", arm, d, 2e5 * math.exp(rate * d)))
    return pd.DataFrame(rows, columns=["mouse", "arm", "day", "live_cells"])


def test_settings_come_from_the_catalogue_and_are_plausible():
    s = BLISettings.from_catalog()
    cat = load_catalog()
    assert s.photons_per_cell == cat.assay_value("bli", "photons_per_cell")
    assert 10 <= s.photons_per_cell_in_vivo <= 100  # p/s per cell seen through skull and spine
    assert 1e5 <= s.background_p_s <= 5e5
    assert cat.assays["bli"].parameters["photons_per_cell"].assumption


def test_flux_is_proportional_to_cells_on_average():
    """log10 flux vs log10 cells over 4000 virtual mice (one image each): slope 1, and the
    geometric mean of flux per cell equals photons_per_cell x median attenuation."""
    rng = np.random.default_rng(20200301)
    n = 4000
    cells = 10 ** rng.uniform(6, 9, n)  # well above the background (~2e5 p/s = ~7e3 cells)
    burden = pd.DataFrame({"mouse": np.arange(n), "arm": "a", "day": 0.0, "live_cells": cells})
    img = simulate_bli(burden, rng=rng)
    slope, _ = np.polyfit(np.log10(cells), np.log10(img["total_flux_p_s"]), 1)
    assert slope == pytest.approx(1.0, abs=0.02)
    s = BLISettings.from_catalog()
    per_cell = np.exp(np.mean(np.log(img["total_flux_p_s"] / cells)))
    assert per_cell == pytest.approx(s.photons_per_cell_in_vivo, rel=0.05)


def test_attenuation_is_per_mouse_and_noise_per_image():
    rng = np.random.default_rng(7)
    img = simulate_bli(_burden(rng, n_mice=40), rng=rng)
    per_mouse = img.groupby("mouse")["true_attenuation"].nunique()
    assert (per_mouse == 1).all()
    assert img.groupby("mouse")["true_attenuation"].first().nunique() == 40
    assert img["true_background_p_s"].nunique() == len(img)
    s = BLISettings.from_catalog()
    log_att = np.log(img.groupby("mouse")["true_attenuation"].first())
    assert np.exp(log_att.median()) == pytest.approx(s.attenuation, rel=0.3)


def test_no_cells_gives_background_only():
    rng = np.random.default_rng(3)
    burden = pd.DataFrame({"mouse": np.arange(500), "arm": "a", "day": 0, "live_cells": 0.0})
    img = simulate_bli(burden, rng=rng)
    flux = img["total_flux_p_s"]
    np.testing.assert_array_equal(flux, img["true_background_p_s"])
    assert 1e5 < np.median(flux) < 5e5
    assert np.mean((flux > 1e5) & (flux < 5e5)) > 0.9


def test_same_seed_same_images_and_settings_can_be_replaced():
    burden = _burden(np.random.default_rng(0))
    a = simulate_bli(burden, rng=np.random.default_rng(11))
    b = simulate_bli(burden, rng=np.random.default_rng(11))
    pd.testing.assert_frame_equal(a, b)
    quiet = dataclasses.replace(
        BLISettings.from_catalog(), attenuation_sd_log=0.0, noise_sd_log=0.0, background_sd_log=0.0
    )
    c = simulate_bli(burden, rng=np.random.default_rng(11), settings=quiet)
    expected = burden["live_cells"] * quiet.photons_per_cell_in_vivo + quiet.background_p_s
    np.testing.assert_allclose(c["total_flux_p_s"], expected.to_numpy(), rtol=1e-12)


def test_round_trip_tidy_and_ivis(tmp_path):
    rng = np.random.default_rng(42)
    img = simulate_bli(_burden(rng), rng=rng)
    write_bli(img, tmp_path / "bli.csv")
    write_bli(img, tmp_path / "ivis.csv", fmt="ivis")
    tidy = read_bli(tmp_path / "bli.csv")
    ivis = read_bli(tmp_path / "ivis.csv")
    assert list(tidy.columns) == ["mouse", "arm", "day", "total_flux_p_s"]
    expected = img[["mouse", "arm", "day", "total_flux_p_s"]]
    pd.testing.assert_frame_equal(tidy, expected)  # full float precision in the tidy file
    header = (tmp_path / "ivis.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == list(IVIS_COLUMNS)
    merged = ivis.merge(expected, on=["mouse", "arm", "day"], suffixes=("_ivis", ""))
    assert len(merged) == len(expected)
    np.testing.assert_allclose(merged["total_flux_p_s_ivis"], merged["total_flux_p_s"], rtol=1e-6)


def test_ivis_export_radiance_is_flux_over_area_and_4pi(tmp_path):
    rng = np.random.default_rng(5)
    img = simulate_bli(_burden(rng, n_mice=2, days=(0, 7)), rng=rng)
    path = write_bli(img, tmp_path / "ivis.csv", fmt="ivis")
    raw = pd.read_csv(path)
    s = BLISettings.from_catalog()
    np.testing.assert_allclose(
        raw["Avg Radiance [p/s/cm²/sr]"],
        raw["Total Flux [p/s]"] / (4 * math.pi * s.roi_area_cm2),
        rtol=1e-6,
    )
    assert raw["Image Number"].is_unique
    assert raw.loc[0, "Image Label"] == "M00 vehicle Day 0"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.drop(columns="live_cells"), "lacks columns.*live_cells"),
        (lambda d: d.assign(live_cells=-1.0), "negative number of live cells"),
        (lambda d: d.assign(live_cells="many"), "live_cells: non-numeric"),
        (lambda d: d.assign(day=np.nan), "day: non-numeric or missing"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "duplicated mouse-day rows"),
        (lambda d: d.assign(arm=[f"a{i}" for i in range(len(d))]), "more than one arm"),
        (lambda d: d.iloc[:0], "no rows"),
    ],
)
def test_bad_burden_is_refused(mutate, match):
    burden = _burden(np.random.default_rng(0))
    with pytest.raises(LeptotwinError, match=match):
        simulate_bli(mutate(burden), rng=np.random.default_rng(0))


def test_bad_arguments_are_refused(tmp_path):
    burden = _burden(np.random.default_rng(0))
    with pytest.raises(LeptotwinError, match="numpy.random.Generator"):
        simulate_bli(burden, rng=1)  # type: ignore[arg-type]
    with pytest.raises(LeptotwinError, match="unknown BLI file format.*tidy or ivis"):
        write_bli(burden.assign(total_flux_p_s=1.0), tmp_path / "x.csv", fmt="xlsx")
    with pytest.raises(LeptotwinError, match="lacks columns.*total_flux_p_s"):
        write_bli(burden, tmp_path / "x.csv")
    with pytest.raises(LeptotwinError, match="photons_per_cell: invalid BLI setting"):
        dataclasses.replace(BLISettings.from_catalog(), photons_per_cell=0.0)


# ---------------------------------------------------------------------------------------------
# neurological endpoint
# ---------------------------------------------------------------------------------------------
def test_survival_from_burden_hand_example():
    """Threshold 1e7 cells.

    * A: 1e6 on day 0, 1e8 on day 10 -> log-linear crossing halfway, day 5.
    * B: 1e6, 3e6, 5e6 on days 0, 7, 14, never crosses -> censored at censor_day 14.
    * C: 2e7 on day 0 -> event on day 0.
    * D: crosses on day 20 (after censor_day 14): 1e6 day 0, 1e6 day 14, 1e9 day 21 ->
      censored at 14 (rows after the censor day are ignored).
    * E: 0 cells on day 0, 1e8 on day 7 -> a zero burden sits at -inf in log: event day 7.
    * F: observed only to day 7 (died of other causes / left): censored at 7.
    """
    rows = [
        ("A", "x", 0, 1e6),
        ("A", "x", 10, 1e8),
        ("B", "x", 0, 1e6),
        ("B", "x", 7, 3e6),
        ("B", "x", 14, 5e6),
        ("C", "y", 0, 2e7),
        ("D", "y", 0, 1e6),
        ("D", "y", 14, 1e6),
        ("D", "y", 21, 1e9),
        ("E", "y", 0, 0.0),
        ("E", "y", 7, 1e8),
        ("F", "y", 0, 1e6),
        ("F", "y", 7, 2e6),
    ]
    burden = pd.DataFrame(rows, columns=["mouse", "arm", "day", "live_cells"])
    out = survival_from_burden(burden, 1e7, censor_day=14).set_index("mouse")
    assert list(out.columns) == ["arm", "time_days", "event"]
    assert out.loc["A", "time_days"] == pytest.approx(5.0, abs=1e-12)
    assert out.loc["A", "event"] == 1
    assert tuple(out.loc["B", ["time_days", "event"]]) == (14.0, 0)
    assert tuple(out.loc["C", ["time_days", "event"]]) == (0.0, 1)
    assert tuple(out.loc["D", ["time_days", "event"]]) == (14.0, 0)
    assert tuple(out.loc["E", ["time_days", "event"]]) == (7.0, 1)
    assert tuple(out.loc["F", ["time_days", "event"]]) == (7.0, 0)
    assert out["event"].dtype.kind == "i"


def test_survival_from_burden_interpolates_exponential_growth_exactly():
    rng = np.random.default_rng(9)
    days = np.arange(0, 43, 7.0)
    rates = rng.uniform(0.1, 0.3, 20)
    rows = [(m, "a", d, 1e5 * math.exp(r * d)) for m, r in enumerate(rates) for d in days]
    burden = pd.DataFrame(rows, columns=["mouse", "arm", "day", "live_cells"])
    out = survival_from_burden(burden, 1e8, censor_day=42)
    truth = np.log(1e8 / 1e5) / rates
    expected = np.where(truth <= 42, truth, 42.0)
    np.testing.assert_allclose(out["time_days"], expected, rtol=1e-10)
    np.testing.assert_array_equal(out["event"], (truth <= 42).astype(int))


def test_survival_from_burden_bad_input():
    burden = _burden(np.random.default_rng(0))
    with pytest.raises(LeptotwinError, match="threshold_cells must be a positive"):
        survival_from_burden(burden, 0, censor_day=28)
    with pytest.raises(LeptotwinError, match="censor_day"):
        survival_from_burden(burden, 1e7, censor_day=float("nan"))
    with pytest.raises(LeptotwinError, match="no observation on or before the censor day"):
        survival_from_burden(burden.assign(day=burden["day"] + 5), 1e7, censor_day=1)
    with pytest.raises(LeptotwinError, match="duplicated mouse-day rows"):
        survival_from_burden(pd.concat([burden, burden]), 1e7, censor_day=28)
