"""Virtual AREG ELISA: plate design, OD model, noise, saturation, files, recovery of the truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis.standard_curve import (
    ELISA_LAYOUT_COLUMNS,
    StandardCurveFitter,
    read_elisa,
)
from leptotwin.assays.elisa import design_elisa, simulate_elisa, write_elisa
from leptotwin.catalog import load_catalog
from leptotwin.catalog.schema import Quantity
from leptotwin.errors import LeptotwinError

DY262 = [2000.0, 1000.0, 500.0, 250.0, 125.0, 62.5, 31.25]


def _samples(n, rng, lo=40.0, hi=1800.0, dilution=4.0):
    """``n`` samples whose in-well concentration is log-uniform in [lo, hi] pg/mL."""
    return pd.DataFrame(
        {
            "sample_id": [f"S{i:03d}" for i in range(n)],
            "true_pg_mL": np.exp(rng.uniform(np.log(lo), np.log(hi), n)) * dilution,
            "dilution": dilution,
            "group": np.where(np.arange(n) % 2, "A925L/AR", "A925L"),
        }
    )


def _catalog(**values):
    cat = load_catalog()
    kit = cat.assays["areg_elisa"]
    params = dict(kit.parameters)
    for name, value in values.items():
        params[name] = Quantity(value=value, unit=params[name].unit, source="test", assumption=True)
    return dataclasses.replace(
        cat, assays={**cat.assays, "areg_elisa": kit.model_copy(update={"parameters": params})}
    )


def test_layout_follows_the_duoset_plate_map():
    """Duplicates side by side; columns 1-2: DY262 standards 2,000 -> 31.25 pg/mL in rows A-G,
    zero standard (blank) in row H; 40 samples per 96-well plate, so 41 need two plates."""
    lay = design_elisa(_samples(41, np.random.default_rng(0)))
    assert lay["plate"].unique().tolist() == ["E01", "E02"]
    p1 = lay[lay["plate"] == "E01"]
    std = p1[p1["well"].str[1:].isin(["01", "02"])]
    assert std["role"].tolist() == ["standard"] * 14 + ["blank"] * 2
    assert std["nominal_pg_mL"].tolist()[::2] == [*DY262, 0.0]
    assert std["well"].tolist()[:4] == ["A01", "A02", "B01", "B02"]
    assert (p1["role"] == "sample").sum() == 80 and not p1.duplicated(["well"]).any()
    first = p1[p1["sample_id"] == "S000"]
    assert first["well"].tolist() == ["A03", "A04"]
    np.testing.assert_allclose(first["true_in_well_pg_mL"], first["true_pg_mL"] / 4.0)
    assert len(lay[lay["plate"] == "E02"]) == 16 + 2  # its own standards, one sample


def test_noise_free_signal_is_the_catalogue_curve():
    cat = load_catalog()
    v = lambda n: cat.assay_value("areg_elisa", n)  # noqa: E731
    rng = np.random.default_rng(1)
    smp = _samples(10, rng)
    state = rng.bit_generator.state
    w = simulate_elisa(smp, rng=rng, noise=False)
    assert rng.bit_generator.state == state  # noise-free runs draw nothing
    x = w["true_in_well_pg_mL"].to_numpy()
    a, d = v("blank_od"), v("top_od")
    expected = d + (a - d) / (1 + (x / v("ec50")) ** v("hill"))
    np.testing.assert_allclose(w["signal"], expected, rtol=1e-14)
    assert w.attrs["true_curve"]["E01"] == {"a": a, "b": v("hill"), "c": v("ec50"), "d": d,
                                            "g": 1.0}  # fmt: skip


def test_noise_reproducibility_and_saturation():
    smp = _samples(30, np.random.default_rng(2))
    smp.loc[0, "true_pg_mL"] = 1e7  # far above the curve: the reader saturates
    one = simulate_elisa(smp, rng=np.random.default_rng(3))
    two = simulate_elisa(smp, rng=np.random.default_rng(3))
    other = simulate_elisa(smp, rng=np.random.default_rng(4))
    pd.testing.assert_frame_equal(one, two)
    assert not np.allclose(one["signal"], other["signal"], equal_nan=True)
    over = one["sample_id"] == "S000"
    assert one.loc[over, "flag"].eq("overflow").all() and one.loc[over, "signal"].isna().all()
    assert one.loc[~over, "flag"].eq("ok").all()
    np.testing.assert_array_equal(one["signal"].dropna(), one["signal"].dropna().round(3))
    mid = one[(one["role"] == "sample") & ~over].groupby("sample_id")["signal"]
    cv = (mid.std() / mid.mean()).median()
    assert 0.01 < cv < 0.08  # well CV 5 % on the specific signal


def test_files_round_trip_and_overflow_marker(tmp_path):
    smp = _samples(45, np.random.default_rng(5))
    smp.loc[3, "true_pg_mL"] = 1e7
    wells = simulate_elisa(smp, rng=np.random.default_rng(6))
    plate, layout = write_elisa(wells, tmp_path / "areg.csv", tmp_path / "areg_layout.csv")
    text = plate.read_text()
    assert "OVER" in text and "Absorbance 450 nm" in text and "Plate,E02" in text
    assert pd.read_csv(layout).columns.tolist() == list(ELISA_LAYOUT_COLUMNS)
    back = read_elisa(plate, layout)
    cols = [*ELISA_LAYOUT_COLUMNS, "signal", "flag"]
    expected = wells[cols].assign(dilution=wells["dilution"].fillna(1.0))
    pd.testing.assert_frame_equal(back[cols].reset_index(drop=True), expected, check_dtype=False)


def test_noise_free_plate_is_recovered_exactly(tmp_path):
    rng = np.random.default_rng(7)
    smp = _samples(50, rng, lo=20.0, hi=4000.0)
    wells = simulate_elisa(smp, rng=rng, noise=False)
    write_elisa(wells, tmp_path / "p.csv", tmp_path / "l.csv")
    for model in ("4PL", "5PL"):
        fit = StandardCurveFitter(model).fit(read_elisa(tmp_path / "p.csv", tmp_path / "l.csv"))
        got = fit.samples_.merge(smp, on=["sample_id", "dilution"])
        assert np.max(np.abs(got["conc_pg_mL"] / got["true_pg_mL"] - 1)) < 1e-6
        assert (fit.standards_["passed"]).all()


def test_asymmetric_5pl_plate_is_recovered_exactly_by_the_5pl():
    cat = _catalog(asymmetry=0.5)
    rng = np.random.default_rng(8)
    smp = _samples(30, rng)
    wells = simulate_elisa(smp, rng=rng, noise=False, catalog=cat)
    got = StandardCurveFitter("5PL").fit(wells).samples_.merge(smp, on=["sample_id", "dilution"])
    assert np.max(np.abs(got["conc_pg_mL"] / got["true_pg_mL"] - 1)) < 1e-6


def test_truth_inside_the_interval_over_several_plates():
    """120 samples on 3 plates, 95 % intervals with 1/y^2 weights: about 95 % cover the
    truth (0.88-0.99 over seeds 0-7; intervals on one plate share its curve's error)."""
    rng = np.random.default_rng(2020)
    smp = _samples(120, rng)
    wells = simulate_elisa(smp, rng=rng)
    fit = StandardCurveFitter("4PL", weights="1/y^2").fit(wells)
    got = fit.samples_.merge(smp, on=["sample_id", "dilution"])
    inside = (got["conc_lower_pg_mL"] <= got["true_pg_mL"]) & (
        got["true_pg_mL"] <= got["conc_upper_pg_mL"]
    )
    ok = got["flag"] == "ok"
    assert ok.sum() >= 110 and inside[ok].mean() >= 0.85
    assert np.median(np.abs(np.log(got["conc_pg_mL"] / got["true_pg_mL"]))) < 0.06
    assert fit.curves_["ok"].all() and fit.curves_["standards_ok"].all()
    true = pd.DataFrame.from_dict(wells.attrs["true_curve"], orient="index")
    np.testing.assert_allclose(fit.params_["c"], true["c"], rtol=0.25)


def test_out_of_range_samples_are_flagged():
    """In-well 10 pg/mL is below the 31.25 pg/mL LLOQ, 8,000 above the 2,000 ULOQ, 1e7
    saturates the reader (noise-free, so the flags are exact)."""
    smp = pd.DataFrame({"sample_id": ["low", "mid", "high", "sat"],
                        "true_pg_mL": [10.0, 500.0, 8000.0, 1e7]})  # fmt: skip
    wells = simulate_elisa(smp, rng=np.random.default_rng(0), noise=False)
    s = StandardCurveFitter().fit(wells).samples_.set_index("sample_id")
    assert s["flag"].to_dict() == {
        "low": "below_lloq",
        "mid": "ok",
        "high": "above_uloq",
        "sat": "overflow",
    }
    assert (s["lloq_pg_mL"].iloc[0], s["uloq_pg_mL"].iloc[0]) == (31.25, 2000.0)


def test_384_well_plates_and_singlicates():
    lay = design_elisa(_samples(100, np.random.default_rng(9)), plate_format=384, replicates=1)
    assert lay["plate"].nunique() == 1 and lay["well"].str[0].max() == "P"
    w = simulate_elisa(_samples(5, np.random.default_rng(9)), rng=np.random.default_rng(1),
                       replicates=3)  # fmt: skip
    assert (w[w["role"] == "sample"].groupby("sample_id").size() == 3).all()


def test_bad_input_raises():
    rng = np.random.default_rng(0)
    smp = _samples(3, rng)
    with pytest.raises(LeptotwinError, match="column dilution: bad dilution.*-2"):
        simulate_elisa(smp.assign(dilution=-2.0), rng=rng)
    with pytest.raises(LeptotwinError, match="bad true pg mL"):
        simulate_elisa(smp.assign(true_pg_mL=-1.0), rng=rng)
    with pytest.raises(LeptotwinError, match="missing column.*true_pg_mL"):
        simulate_elisa(smp.drop(columns="true_pg_mL"), rng=rng)
    with pytest.raises(LeptotwinError, match="listed twice"):
        simulate_elisa(pd.concat([smp, smp]), rng=rng)
    with pytest.raises(LeptotwinError, match="numpy.random.Generator"):
        simulate_elisa(smp, rng=1)
    with pytest.raises(LeptotwinError, match="bad number of replicates"):
        simulate_elisa(smp, rng=rng, replicates=0)
    with pytest.raises(LeptotwinError, match="unknown option"):
        simulate_elisa(smp, rng=rng, top=5)
    for bad in ({"dilution_step": 1.0}, {"dilution_step": 0}, {"top_standard_pg_mL": 0},
                {"n_standards": 0}):  # fmt: skip
        with pytest.raises(LeptotwinError, match="bad standard series"):
            design_elisa(smp, **bad)  # 0 is refused, not replaced by the catalogue default
    with pytest.raises(LeptotwinError, match="unsupported plate format"):
        design_elisa(smp, plate_format=1536)
    with pytest.raises(LeptotwinError, match="missing column.*signal"):
        write_elisa(design_elisa(smp), "/nonexistent/p.csv", "/nonexistent/l.csv")


def test_doctests():
    import doctest

    import leptotwin.assays.elisa as elisa

    assert doctest.testmod(elisa).failed == 0
