"""Rank-normalised split-R-hat and bulk/tail ESS against cases with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leptotwin.calibration import diagnostics as dg


def _ar1(rng: np.random.Generator, rho: float, chains: int, n: int) -> np.ndarray:
    """Stationary AR(1) chains with unit marginal variance."""
    x = np.empty((chains, n))
    x[:, 0] = rng.standard_normal(chains)
    scale = math.sqrt(1 - rho * rho)
    eps = rng.standard_normal((chains, n))
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + scale * eps[:, t]
    return x


def test_iid_normal_chains_rhat_one_ess_n():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 1000))
    assert dg.rhat(x) == pytest.approx(1.0, abs=0.01)
    assert dg.ess_bulk(x) == pytest.approx(4000, rel=0.15)
    assert dg.ess_tail(x) == pytest.approx(4000, rel=0.25)


def test_heavy_tailed_iid_chains_are_fine_after_rank_normalisation():
    rng = np.random.default_rng(2)
    x = rng.standard_cauchy((4, 1000))
    assert dg.rhat(x) < 1.01
    assert dg.ess_bulk(x) == pytest.approx(4000, rel=0.15)


def test_chains_with_shifted_means_have_large_rhat():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 500)) + np.array([0.0, 0.0, 3.0, 3.0])[:, None]
    assert dg.rhat(x) > 1.5
    assert dg.rhat_basic(x) > 1.5


def test_chains_with_different_scales_caught_by_folded_rhat():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 1000)) * np.array([1.0, 1.0, 4.0, 4.0])[:, None]
    assert dg.rhat_basic(dg.split_chains(dg.rank_normalize(x))) < 1.02  # bulk is blind to it
    assert dg.rhat(x) > 1.05


def test_a_trend_within_chains_is_caught_by_splitting():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 1000)) + np.linspace(0, 4, 1000)[None, :]
    assert dg.rhat_basic(x) < 1.01  # the chains agree with each other...
    assert dg.rhat(x) > 1.3  # ...but not with themselves


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
def test_ar1_ess_matches_theory(rho):
    rng = np.random.default_rng(int(rho * 100))
    chains, n = 4, 4000
    x = _ar1(rng, rho, chains, n)
    expected = chains * n * (1 - rho) / (1 + rho)
    assert dg.ess_bulk(x) == pytest.approx(expected, rel=0.2)
    assert dg.ess(x) == pytest.approx(expected, rel=0.2)
    assert dg.rhat(x) < 1.02


def test_anticorrelated_chain_can_exceed_n():
    rng = np.random.default_rng(7)
    x = _ar1(rng, -0.5, 4, 2000)
    assert dg.ess(x) > 8000


def test_split_and_rank_shapes():
    x = np.arange(21.0).reshape(1, 21)
    s = dg.split_chains(x)
    assert s.shape == (2, 10)
    assert s[0, 0] == 0 and s[1, -1] == 20
    z = dg.rank_normalize(np.array([[3.0, 1.0, 2.0, 2.0]]))
    assert z[0, 2] == z[0, 3]  # ties share a score
    assert z[0, 1] < z[0, 2] < z[0, 0]


def test_autocovariance_against_direct_sum():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 50))
    acov = dg.autocovariance(x)
    c = x - x.mean(axis=1, keepdims=True)
    for lag in (0, 1, 7, 49):
        direct = np.sum(c[:, : 50 - lag] * c[:, lag:], axis=1) / 50
        np.testing.assert_allclose(acov[:, lag], direct, atol=1e-12)


def test_degenerate_inputs_give_nan():
    assert math.isnan(dg.rhat(np.ones((4, 100))))
    assert math.isnan(dg.ess(np.ones((4, 100))))
    assert math.isnan(dg.ess(np.zeros((2, 3))))
    x = np.random.default_rng(0).standard_normal((2, 100))
    x[0, 5] = np.nan
    assert math.isnan(dg.rhat(x))
    assert math.isnan(dg.ess_bulk(x))
    assert set(dg.summarize_parameter(np.random.default_rng(0).standard_normal((4, 100)))) == {
        "r_hat",
        "ess_bulk",
        "ess_tail",
    }
