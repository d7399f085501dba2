"""Amplification efficiencies for Pfaffl (issue 12, point 10): the standard-curve interval, the
efficiency table and dilution-series files told apart, the scales of an efficiency column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from leptotwin.analysis.qpcr import amplification_efficiency, read_efficiencies, read_qpcr
from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr
from leptotwin.errors import LeptotwinError


def test_efficiency_interval_is_the_slope_t_interval_carried_through():
    """Against scipy.stats.linregress: slope SE and the t interval (n - 2 df) of the slope,
    mapped by E = 10^(-1/slope) - 1."""
    q = np.repeat(10.0 ** -np.arange(5), 3)
    rng = np.random.default_rng(4)
    ct = 20.0 - 3.4 * np.log10(q) + rng.normal(0, 0.2, q.size)
    res = amplification_efficiency(quantity=q, ct=ct, alpha=0.1).iloc[0]
    ref = stats.linregress(np.log10(q), ct)
    t = stats.t.ppf(0.95, q.size - 2)
    assert res["slope_se"] == pytest.approx(ref.stderr, rel=1e-10)
    assert res["r_squared"] == pytest.approx(ref.rvalue**2, rel=1e-10)
    lo, hi = ref.slope - t * ref.stderr, ref.slope + t * ref.stderr
    assert res["efficiency_lower"] == pytest.approx(10 ** (-1 / lo) - 1, rel=1e-10)
    assert res["efficiency_upper"] == pytest.approx(10 ** (-1 / hi) - 1, rel=1e-10)
    assert res["efficiency_lower"] < res["efficiency"] < res["efficiency_upper"]
    assert res["ci_level"] == 0.9
    two = amplification_efficiency(quantity=[1.0, 10.0], ct=[23.3, 20.0]).iloc[0]
    assert np.isnan(two["efficiency_lower"]) and np.isfinite(two["efficiency"])


def _standards(tmp_path, *, flavor="quantstudio", noise=False):
    q = 4.0 ** -np.arange(5)
    std = pd.concat(
        [pd.DataFrame({"sample": [f"{t}-s{i}" for i in range(5)], "target": t,
                       "relative_level": q, "quantity": q * 50}) for t in ("AREG", "GAPDH")]
    )  # fmt: skip
    wells = simulate_qpcr(std, rng=np.random.default_rng(2), noise=noise, ntc=True)
    return write_qpcr(wells, tmp_path / f"std_{flavor}.csv", flavor=flavor)


@pytest.mark.parametrize("flavor", ["quantstudio", "stepone", "cfx", "tidy"])
def test_dilution_series_in_any_export_gives_the_cycler_efficiency(tmp_path, flavor):
    """Noise-free standards: the fitted efficiency is the cycler's (0.95 for mRNA) to the
    rounding of Ct to 3 decimals; NTC wells (no quantity) are left out."""
    eff = read_efficiencies(_standards(tmp_path, flavor=flavor))
    assert eff.attrs["kind"] == "dilution series"
    assert eff["target"].tolist() == ["AREG", "GAPDH"]
    assert eff["efficiency"].to_numpy() == pytest.approx([0.95, 0.95], abs=2e-4)
    assert (eff["flag"] == "ok").all() and (eff["n_levels"] == 5).all()


def test_tidy_dilution_series_without_sample_names(tmp_path):
    path = tmp_path / "std.csv"
    q = 10.0 ** -np.arange(4)
    ct = 30.0 - np.log10(q) / np.log10(1.9)
    lines = ["target,quantity,ct"] + [f"AREG,{a:g},{b:.4f}" for a, b in zip(q, ct, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    eff = read_efficiencies(path)
    assert eff["efficiency"].iloc[0] == pytest.approx(0.9, abs=1e-4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gene,efficiency\nAREG,0.95\nGAPDH,1.01\n", [0.95, 1.01]),
        ("gene,efficiency\nAREG,1.95\nGAPDH,2.01\n", [0.95, 1.01]),  # amplification factors
        ("Target Name;Efficiency (%)\nAREG;95,0\nGAPDH;101\n", [0.95, 1.01]),  # percent
        ("# from LinRegPCR\ntarget\tefficiency\nAREG\t1.95\nGAPDH\t2.01\n", [0.95, 1.01]),
    ],
)
def test_efficiency_table_on_any_of_three_scales(tmp_path, text, expected):
    path = tmp_path / "eff.csv"
    path.write_text(text, encoding="utf-8")
    eff = read_efficiencies(path)
    assert eff.attrs["kind"] == "table"
    assert eff["target"].tolist() == ["AREG", "GAPDH"]
    assert eff["efficiency"].to_numpy() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("gene,efficiency\nAREG,0.95\nGAPDH,95\n", "not all on one scale"),
        ("gene,efficiency\nAREG,0.2\n", "implausible efficiency"),
        ("gene,efficiency\nAREG,abc\n", r"line 2: bad efficiency row"),
        ("gene,efficiency\nAREG,0.95\nAREG,0.97\n", r"line 3: gene listed twice"),
        ("gene,efficiency\n", "has no rows"),
        ("gene,slope\nAREG,-3.3\n", "neither an efficiency table nor a dilution series"),
        ("", "empty file"),
        ("target,quantity,ct\nAREG,1,20\nAREG,1,20.1\n", "at least two input levels"),
        ("target,quantity,ct\nAREG,,20\n", "no standards"),
    ],
)
def test_bad_efficiency_files_are_one_line(tmp_path, text, match):
    path = tmp_path / "eff.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LeptotwinError, match=match) as err:
        read_efficiencies(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_efficiency_column_of_a_ct_file(tmp_path):
    """A 7500-style Efficiency column (percent) becomes attrs['efficiency'] (fractions, mean per
    target)."""
    rng = np.random.default_rng(5)
    wells = simulate_qpcr(make_qpcr_samples({"P": {"AREG": 1, "GAPDH": 1}}, rng=rng), rng=rng)
    path = write_qpcr(wells, tmp_path / "cts.csv", flavor="tidy")
    frame = pd.read_csv(path, keep_default_na=False)
    frame["Efficiency"] = np.where(frame["target"] == "AREG", "96.5", "99.0")
    frame.loc[frame["task"] == "NTC", "Efficiency"] = ""
    frame.to_csv(path, index=False)
    back = read_qpcr(path)
    assert back.attrs["efficiency"] == pytest.approx({"AREG": 0.965, "GAPDH": 0.99})
    frame.loc[0, "Efficiency"] = "lots"
    frame.to_csv(path, index=False)
    with pytest.raises(LeptotwinError, match=r"line 2, well A1, column Efficiency"):
        read_qpcr(path)
