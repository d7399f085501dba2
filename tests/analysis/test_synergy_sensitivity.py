"""SynergyFinder's sensitivity scores (issue 15 item 3): RI, CSS, S and the replicate statistics.

Definitions re-implemented from SynergyFinder 3.7.4 (bioc/synergyfinder eb9ac5c,
R/calculate_sensitivity_score.R) and DrugComb's S scores (shuyuzheng/TidyComb 5843be3,
R/calculate_pipeline.R). No published SynergyFinder RI/CSS/S numbers exist for the reference data
sets (the published results for these files are ZIP means only; the 3.7.x vignette shows code, not
outputs), so these tests check the definitions against hand computations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from leptotwin.analysis._synergy_sensitivity import (
    PERCENT_SCORES,
    SCORES,
    ri_from_params,
    sensitivity_stack,
    sf_iteration_stats,
    sf_iterations,
)
from leptotwin.analysis.synergy import read_synergy, synergy_scores

REF = Path(__file__).resolve().parents[1] / "data" / "synergy"


def ll4(x, b, c, d, e):
    """drc LL.4 ``c + (d - c) / (1 + exp(b (log x - log e)))``, written out here independently
    of the library as ``d + (c - d) / (1 + exp(-b (log x - log e)))`` (the same function; this
    form keeps its digits where ``c`` is huge and the data sit at ``d``)."""
    with np.errstate(over="ignore"):  # exp -> inf: the curve is at d
        return d + (c - d) / (1.0 + np.exp(-b * (np.log(x) - np.log(e))))


def mean_over_log_dose(f, lo, hi):
    """Hand RI: the mean of ``f`` over log10 dose on [lo, hi] by quadrature."""
    val, _ = integrate.quad(lambda u: f(10.0**u), np.log10(lo), np.log10(hi), limit=200)
    return val / (np.log10(hi) - np.log10(lo))


@pytest.mark.parametrize(
    "p",
    [
        (-1.2, 2.0, 90.0, 0.3),  # increasing inhibition
        (1.5, 80.0, -5.0, 3.0),  # decreasing
        (-0.05, 10.0, 60.0, 1e-9),  # nearly flat, EC50 far below the range
        (107.5, -2.8e29, 60.2, 4620.0),  # a runaway step (c huge, e above the range)
        (-40.0, 0.0, 100.0, 1.0),  # a steep step inside the range
    ],
)
def test_ri_closed_form_equals_quadrature(p):
    """.ScoreCurve's closed form (t = 0): mean of the LL.4 curve over log10 dose, no lost digits
    for runaway fits (Mathews ispinesib's RI fit has c = -2.8e29)."""
    lo, hi = 0.01, 100.0
    got = ri_from_params(np.array([p]), np.array([lo]), np.array([hi]))[0]
    want = mean_over_log_dose(lambda x: ll4(x, *p), lo, hi)
    assert got == pytest.approx(want, rel=1e-7, abs=1e-7)


def test_ri_limits_flat_curve_and_single_dose():
    p = np.array([[0.0, 10.0, 30.0, 1.0], [-1.0, 0.0, 100.0, 1.0]])
    got = ri_from_params(p, np.array([0.1, 2.0]), np.array([10.0, 2.0]))
    assert got[0] == pytest.approx(20.0)
    assert got[1] == pytest.approx(ll4(2.0, -1.0, 0.0, 100.0, 1.0))


def _bliss_block(p1, p2, conc_r, conc_c):
    """A noise-free block: LL.4 monotherapies, Bliss combination (% inhibition)."""
    f1 = np.where(conc_r == 0, p1[1], ll4(np.where(conc_r == 0, 1.0, conc_r), *p1))
    f2 = np.where(conc_c == 0, p2[1], ll4(np.where(conc_c == 0, 1.0, conc_c), *p2))
    a, b = f1[:, None], f2[None, :]
    return a + b - a * b / 100.0


def test_ri_css_s_against_hand_computation_on_a_noise_free_block():
    """Every score of a Bliss block from LL.4 monotherapies, by hand: RI by quadrature of the
    true curves; CSS1 by quadrature of drug 1's curve with drug 2 held at IC50_2 (Bliss of an
    LL.4 and a constant is an LL.4, so the fits are exact)."""
    p1 = (-1.3, 0.0, 85.0, 0.4)  # c = 0: the untreated cell reads 0, so that the monotherapy
    p2 = (-0.9, 0.0, 70.0, 2.5)  # cells are the curves themselves (Bliss with 0)
    conc_r = np.array([0.0, 0.01, 0.05, 0.2, 1.0, 5.0, 20.0])
    conc_c = np.array([0.0, 0.1, 0.4, 1.6, 6.4, 25.6])
    inhib = _bliss_block(p1, p2, conc_r, conc_c)
    got = sensitivity_stack(conc_r[None], conc_c[None], inhib[None])
    ri_1 = mean_over_log_dose(lambda x: ll4(x, *p1), 0.01, 20.0)
    ri_2 = mean_over_log_dose(lambda x: ll4(x, *p2), 0.1, 25.6)
    y2, y1 = ll4(p2[3], *p2), ll4(p1[3], *p1)  # the background drug at its IC50

    def css1_curve(x):
        return ll4(x, *p1) + y2 - ll4(x, *p1) * y2 / 100.0

    def css2_curve(x):
        return ll4(x, *p2) + y1 - ll4(x, *p2) * y1 / 100.0

    css1 = mean_over_log_dose(css1_curve, 0.01, 20.0)
    css2 = mean_over_log_dose(css2_curve, 0.1, 25.6)
    want = {
        "IC50_1": p1[3],
        "IC50_2": p2[3],
        "RI_1": ri_1,
        "RI_2": ri_2,
        "CSS1": css1,
        "CSS2": css2,
        "CSS": (css1 + css2) / 2,
        "S": (css1 + css2) / 2 - ri_1 - ri_2,
        "S_mean": (css1 + css2) / 2 - (ri_1 + ri_2) / 2,
        "S_max": (css1 + css2) / 2 - max(ri_1, ri_2),
    }
    for name in SCORES:
        assert got[name][0] == pytest.approx(want[name], rel=1e-5, abs=1e-4), name
    assert got["fallback_fits"][0] == 0


def test_ic50_is_capped_at_the_highest_dose():
    """CalculateIC50: an EC50 beyond the tested range is reported as the highest dose."""
    p1 = (-1.0, 0.0, 90.0, 500.0)
    p2 = (-1.0, 0.0, 90.0, 1.0)
    conc = np.array([0.0, 0.1, 0.5, 2.0, 8.0, 30.0])
    got = sensitivity_stack(conc[None], conc[None], _bliss_block(p1, p2, conc, conc)[None])
    assert got["IC50_1"][0] == 30.0
    assert got["IC50_2"][0] == pytest.approx(1.0, rel=1e-5)


def _random_blocks(seed, n_blocks=4, n_rep=1):
    rng = np.random.default_rng(seed)
    conc = np.array([0.0, 0.03, 0.1, 0.3, 1.0, 3.0])
    rows = []
    for b in range(n_blocks):
        p1 = (
            -rng.uniform(0.6, 2.5),
            rng.uniform(-5, 5),
            rng.uniform(50, 100),
            rng.uniform(0.05, 2),
        )
        p2 = (
            -rng.uniform(0.6, 2.5),
            rng.uniform(-5, 5),
            rng.uniform(50, 100),
            rng.uniform(0.05, 2),
        )
        block = _bliss_block(p1, p2, conc, conc) + rng.uniform(-5, 5)
        noise = 0.0 if b == 0 else 3.0  # block 0 noise-free
        for i, cr in enumerate(conc):
            for j, cc in enumerate(conc):
                for _ in range(n_rep):
                    rows.append((f"b{b}", "A", "B", cr, cc, block[i, j] + rng.normal(0, noise)))
    df = pd.DataFrame(rows, columns=["block_id", "drug_row", "drug_col", "conc_r", "conc_c",
                                     "response"])  # fmt: skip
    return df.assign(conc_r_unit="uM", conc_c_unit="uM")


def test_viability_and_inhibition_inputs_give_the_same_scores():
    """The same data as % viability (scale='viability') or % inhibition: the same scores. The
    inputs differ in the last bit (100 - (100 - x)); the fits' stopping rule then moves a noisy
    block's CSS by up to 1e-3 points (seen: 9e-4), so the bound here is 2e-3, not 1e-6."""
    df = _random_blocks(3)
    inhib = synergy_scores(df, ["Bliss"], scale="inhibition", sensitivity=True).sensitivity
    via = df.assign(response=100.0 - df["response"])
    viab = synergy_scores(via, ["Bliss"], scale="viability", sensitivity=True).sensitivity
    for name in SCORES:
        np.testing.assert_allclose(viab[name], inhib[name], rtol=0, atol=2e-3, err_msg=name)


def test_mathews_definitions_hold():
    """Mathews (viability, SynergyFinder's tutorial data): no published RI/CSS/S to compare
    with, so the relations between the scores are checked, and both fitting paths give finite
    scores for both blocks."""
    df = read_synergy(f"{REF}/mathews_screening_data.csv")
    for variant in ("yadav", "synergyfinder"):
        res = synergy_scores(df, ["Bliss"], scale="viability", zip_variant=variant,
                             sensitivity=True)  # fmt: skip
        s = res.sensitivity
        assert list(s["block_id"].astype(str)) == ["1", "2"]
        assert np.isfinite(s[list(SCORES)].to_numpy(float)).all(), variant
        np.testing.assert_allclose(s["CSS"], (s["CSS1"] + s["CSS2"]) / 2)
        np.testing.assert_allclose(s["S"], s["CSS"] - s["RI_1"] - s["RI_2"])
        assert (s["IC50_1"] <= 2500).all() and (s["IC50_2"] <= 50).all()
        assert res.sensitivity_stats.empty  # no replicates


def test_sf_iterations_resample_each_cell_as_synergyfinder():
    """.Bootstrapping: each cell the mean of n normal draws (cell mean, sd with ddof = 1); a
    cell with one replicate keeps its value."""
    reps = np.full((1, 1, 2, 3), np.nan)
    reps[0, 0, 0] = [10.0, 12.0, 17.0]
    reps[0, 0, 1, 0] = 5.0
    n_rep = np.isfinite(reps).sum(axis=3)
    draws = sf_iterations(reps, n_rep, np.random.default_rng(11), 40_000)
    cell = draws[:, 0, 0, 0]
    assert cell.mean() == pytest.approx(13.0, abs=0.05)
    assert cell.std(ddof=1) == pytest.approx(np.std([10, 12, 17], ddof=1) / np.sqrt(3), rel=0.02)
    assert (draws[:, 0, 0, 1] == 5.0).all()


def test_sf_iteration_stats_formulae():
    """CalculateSensitivity's statistics: mean, sd, sem = sd / sqrt(iterations), R's type-7
    2.5 % / 97.5 % quantiles and p = exp(-0.717 z - 0.416 z^2), z = |mean| / sd."""
    x = np.array([1.0, 2.0, 4.0, 3.0, 0.5, 2.5, 3.5, 1.5, 2.0, 5.0])
    st = sf_iteration_stats(x[:, None])
    sd = np.std(x, ddof=1)
    z = abs(x.mean()) / sd
    assert st["mean"][0] == pytest.approx(x.mean())
    assert st["sem"][0] == pytest.approx(sd / np.sqrt(10))
    assert st["lower"][0] == pytest.approx(0.5 + 0.225 * 0.5)  # R quantile(x, 0.025)
    assert st["upper"][0] == pytest.approx(4.0 + 0.775 * 1.0)  # R quantile(x, 0.975)
    assert st["p_value"][0] == pytest.approx(np.exp(-0.717 * z - 0.416 * z**2))


def test_replicated_blocks_get_both_statistics():
    """Replicated blocks: our bootstrap and SynergyFinder's 10 iterations side by side; no
    p-value for the IC50s (SynergyFinder gives none)."""
    df = _random_blocks(5, n_blocks=2, n_rep=3)
    res = synergy_scores(df, ["Bliss"], sensitivity=True, n_boot=20,
                         rng=np.random.default_rng(2))  # fmt: skip
    st = res.sensitivity_stats
    assert len(st) == 2 * len(SCORES)
    assert (st["sf_iterations"] == 10).all()
    ic50 = st["score"].str.startswith("IC50")
    assert st.loc[ic50, ["p_value", "sf_p_value"]].isna().all().all()
    pct = st[st["score"].isin(PERCENT_SCORES) & (st["block_id"] == "b1")]  # b0 is noise-free
    assert np.isfinite(pct[["lower", "upper", "p_value", "sf_mean", "sf_p_value"]]).all().all()
    merged = st.set_index(["block_id", "score"])["value"]
    wide = res.sensitivity.set_index("block_id")
    for (b, s), v in merged.items():
        assert v == wide.loc[b, s]


def test_without_sensitivity_the_tables_are_empty_with_columns():
    res = synergy_scores(_random_blocks(1, n_blocks=1), ["HSA"])
    assert res.sensitivity.empty and "CSS" in res.sensitivity
    assert res.sensitivity_stats.empty and "sf_p_value" in res.sensitivity_stats
