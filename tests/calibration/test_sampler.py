"""The prior's normal space (z-transform) and the emcee driver."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import special

from leptotwin.calibration.sampler import (
    LogPosteriorZ,
    ParameterSpec,
    ZTransform,
    check_settings,
    find_map,
    importance_start,
    laplace_scales,
    log_prior_z,
    run_ensemble,
)
from leptotwin.catalog.priors import distribution
from leptotwin.catalog.schema import Prior
from leptotwin.errors import LeptotwinError

KINDS = {
    "lognormal": (0.5, 8.0, 2.0),
    "normal": (-2.0, 3.0, None),
    "uniform": (0.3, 2.2, None),
    "loguniform": (1e-6, 1e-4, None),
    "logitnormal": (0.0102, 0.0849, None),
}


def _spec(kind: str) -> ParameterSpec:
    low, high, median = KINDS[kind]
    prior = Prior(dist=kind, low=low, high=high, source="test range")
    return ParameterSpec(kind, distribution(prior, median), kind)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_transform_round_trips_and_matches_the_prior(kind):
    spec = _spec(kind)
    tr = ZTransform([spec])
    z = np.linspace(-8, 8, 161)[:, None]
    theta = tr.to_theta(z)
    # same as the generic definition F^-1(Phi(z)), from the nearer tail
    lower = z[:, 0] <= 0
    generic = np.where(
        lower, spec.dist.ppf(special.ndtr(z[:, 0])), spec.dist.isf(special.ndtr(-z[:, 0]))
    )
    np.testing.assert_allclose(theta[:, 0], generic, rtol=1e-9, atol=1e-300)
    # z -> theta -> z where theta is still resolved (bounded priors flatten beyond |z| ~ 6)
    back = tr.to_z(theta)
    keep = np.abs(z[:, 0]) <= (5 if kind in ("uniform", "loguniform") else 8)
    np.testing.assert_allclose(back[keep, 0], z[keep, 0], atol=1e-6)
    # theta -> z -> theta for prior draws
    draws = spec.dist.rvs(size=500, random_state=np.random.default_rng(1))[:, None]
    np.testing.assert_allclose(tr.to_theta(tr.to_z(draws)), draws, rtol=1e-9)
    # z = 0 is the prior median; the 95 % range is |z| < 1.96
    np.testing.assert_allclose(tr.to_theta(np.zeros((1, 1)))[0, 0], spec.dist.median())
    np.testing.assert_allclose(
        tr.to_theta(np.array([[-1.959964], [1.959964]]))[:, 0],
        spec.dist.ppf([0.025, 0.975]),
        rtol=1e-6,
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_z_lands_inside_the_support(kind):
    spec = _spec(kind)
    tr = ZTransform([spec])
    z = np.sort(np.concatenate([np.linspace(-60, 60, 241), [-1e6, 1e6, -37.5, 37.5]]))[:, None]
    theta = tr.to_theta(z)[:, 0]
    assert np.isfinite(theta).all()
    low, high, _ = KINDS[kind]
    if kind == "lognormal":
        assert (theta > 0).all()
    elif kind == "logitnormal":
        assert ((theta > 0) & (theta < 1)).all()
    elif kind in ("uniform", "loguniform"):
        assert ((theta >= low) & (theta <= high)).all()
    assert np.all(np.diff(theta) >= 0)  # monotone


def test_transform_of_several_parameters_and_wrong_shapes():
    tr = ZTransform([_spec(k) for k in sorted(KINDS)])
    z = np.random.default_rng(0).standard_normal((7, 3, 5))
    theta = tr.to_theta(z)
    assert theta.shape == (7, 3, 5)
    np.testing.assert_allclose(tr.to_z(theta), z, atol=1e-8)
    np.testing.assert_allclose(tr.medians(), [s.dist.median() for s in tr.specs])
    with pytest.raises(LeptotwinError, match="coordinates"):
        tr.to_theta(np.zeros(4))
    with pytest.raises(LeptotwinError, match="values"):
        tr.to_z(np.zeros(6))


def test_generic_path_for_another_scipy_distribution():
    from scipy import stats

    tr = ZTransform([ParameterSpec("g", stats.gamma(2.0, scale=3.0), "gamma")])
    z = np.linspace(-6, 6, 25)[:, None]
    np.testing.assert_allclose(tr.to_z(tr.to_theta(z)), z, atol=1e-6)


def test_log_posterior_counts_model_failures_as_minus_inf():
    tr = ZTransform([_spec("normal")])

    def boom(theta):
        raise LeptotwinError("cannot evaluate")

    post = LogPosteriorZ(tr, boom)
    assert post(np.zeros(1)) == -math.inf
    assert LogPosteriorZ(tr, lambda th: math.nan)(np.zeros(1)) == -math.inf
    ok = LogPosteriorZ(tr, lambda th: 0.0)
    assert ok(np.array([1.0])) == pytest.approx(-0.5 - 0.5 * math.log(2 * math.pi))
    assert ok.n_calls == 1
    vec = LogPosteriorZ(tr, lambda th: np.where(th[:, 0] > 0, 0.0, np.nan), vectorized=True)
    out = vec(np.array([[1.0], [-1.0]]))
    assert out[0] == pytest.approx(float(log_prior_z(np.array([1.0]))))
    assert out[1] == -math.inf


def _gauss_post(z):
    """A correlated 2-D Gaussian in z (mean (1, -0.5))."""
    d = np.asarray(z) - np.array([1.0, -0.5])
    cov_inv = np.linalg.inv(np.array([[0.09, 0.05], [0.05, 0.09]]))
    return float(-0.5 * d @ cov_inv @ d)


def test_find_map_finds_the_mode():
    z, value, n = find_map(_gauss_post, 2)
    np.testing.assert_allclose(z, [1.0, -0.5], atol=2e-3)
    assert value == pytest.approx(0.0, abs=1e-5)
    assert 0 < n <= 300


def test_run_ensemble_is_deterministic_given_the_seed_and_samples_the_target():
    kw = {"n_walkers": 12, "n_steps": 1500, "burn": 300, "z_center": np.array([1.0, -0.5])}
    a = run_ensemble(_gauss_post, 2, seed=5, **kw)
    b = run_ensemble(_gauss_post, 2, seed=5, **kw)
    c = run_ensemble(_gauss_post, 2, seed=6, **kw)
    np.testing.assert_array_equal(a.z_chain, b.z_chain)
    assert not np.array_equal(a.z_chain, c.z_chain)
    z, lp = a.kept()
    flat = z.reshape(-1, 2)
    np.testing.assert_allclose(flat.mean(axis=0), [1.0, -0.5], atol=0.05)
    np.testing.assert_allclose(np.cov(flat.T), [[0.09, 0.05], [0.05, 0.09]], atol=0.02)
    assert z.shape == (1200, 12, 2) and lp.shape == (1200, 12)
    assert 0.2 < a.acceptance.mean() < 0.9
    assert a.tau.shape == (2,) and (a.tau > 1).all()
    assert a.n_evaluations == 12 * 1501


def test_a_pool_gives_the_same_chain():
    kw = {"n_walkers": 8, "n_steps": 50, "burn": 10, "seed": 3}
    serial = run_ensemble(_gauss_post, 2, **kw)
    with ThreadPoolExecutor(2) as pool:
        pooled = run_ensemble(_gauss_post, 2, pool=pool, **kw)
    np.testing.assert_array_equal(serial.z_chain, pooled.z_chain)


def test_start_points_where_the_model_fails_are_redrawn():
    def post(z):
        return -math.inf if z[0] > 0.05 else -0.5 * float(z @ z)

    run = run_ensemble(post, 2, n_walkers=8, n_steps=20, burn=5, seed=1)
    assert np.isfinite(run.log_prob).all()
    with pytest.raises(LeptotwinError, match="not finite at any start point"):
        run_ensemble(lambda z: -math.inf, 2, n_walkers=8, n_steps=20, burn=5, seed=1)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_walkers": 5}, "too few walkers"),
        ({"n_steps": 0, "burn": 0}, "too few steps"),
        ({"burn": 100}, "burn-in"),
        ({"thin": 0}, "thin"),
        ({"n_walkers": 8.0}, "not an integer"),
        ({"ndim": 0}, "nothing to calibrate"),
    ],
)
def test_bad_settings_are_refused(kw, match):
    settings = {"ndim": 3, "n_walkers": 8, "n_steps": 100, "burn": 10, "thin": 1, **kw}
    with pytest.raises(LeptotwinError, match=match):
        check_settings(**settings)


def test_one_parameter_needs_four_walkers_for_the_de_moves():
    """Two walkers passed the 2 x ndim rule for one parameter, then emcee's DE move found no
    pair in the other half and raised a bare numpy ValueError mid-run."""
    with pytest.raises(LeptotwinError, match="at least 4"):
        check_settings(ndim=1, n_walkers=2, n_steps=4, burn=1)
    check_settings(ndim=1, n_walkers=4, n_steps=4, burn=1)
    run = run_ensemble(lambda z: -0.5 * float(z @ z), 1, n_walkers=4, n_steps=6, burn=1, seed=2)
    assert np.isfinite(run.log_prob).all()


def test_transform_and_log_posterior_pickle_for_a_process_pool():
    import pickle

    tr = ZTransform([_spec(k) for k in sorted(KINDS)])
    post = LogPosteriorZ(tr, _zero_loglik)
    copy = pickle.loads(pickle.dumps(post))
    z = np.linspace(-2, 2, 5)
    assert copy(z) == post(z)
    np.testing.assert_array_equal(copy.transform.to_theta(z), tr.to_theta(z))


def _zero_loglik(theta):
    return 0.0


def test_laplace_scales_of_a_gaussian_and_of_a_flat_likelihood():
    sd = np.array([0.2, 0.5, 1.0])

    def post(z):
        return float(-0.5 * np.sum((z / sd) ** 2))  # the prior's own curvature is inside

    scales, n = laplace_scales(post, np.zeros(3))
    np.testing.assert_allclose(scales, sd, rtol=1e-6)
    assert n == 7
    flat, _ = laplace_scales(lambda z: 0.0, np.zeros(2))  # curvature below the prior's
    np.testing.assert_array_equal(flat, [1.0, 1.0])

    def wall(z):
        return -math.inf if z[0] > 0.05 else -0.5 * float(z @ z)

    walled, _ = laplace_scales(wall, np.zeros(2))
    assert walled[0] == pytest.approx(0.025) and walled[1] == pytest.approx(1.0, rel=1e-6)


def test_initial_ball_per_parameter():
    run = run_ensemble(
        lambda z: -0.5 * float(z @ z),
        2,
        n_walkers=400,
        n_steps=2,
        burn=1,
        seed=0,
        init_scale=np.array([0.01, 1.0]),
    )
    sd = run.z_start.std(axis=0)
    assert sd[0] == pytest.approx(0.01, rel=0.2) and sd[1] == pytest.approx(1.0, rel=0.2)


def test_importance_start_samples_the_posterior():
    # a posterior as wide as the prior in one direction, narrow in the other
    sd = np.array([1.0, 0.1])

    def post(z):
        return float(-0.5 * np.sum(((np.asarray(z) - [0.5, 1.0]) / sd) ** 2))

    start, info = importance_start(post, np.array([0.5, 1.0]), sd, 200, seed=3, n_candidates=2000)
    assert start.shape == (200, 2)
    assert len({tuple(p) for p in start}) == 200  # without replacement
    np.testing.assert_allclose(start.mean(axis=0), [0.5, 1.0], atol=0.2)
    assert start[:, 1].std() < 0.2 and start[:, 0].std() > 0.6
    assert 0 <= info["from_prior"] <= 1 and info["weight_ess"] > 50
    again, _ = importance_start(post, np.array([0.5, 1.0]), sd, 200, seed=3, n_candidates=2000)
    np.testing.assert_array_equal(start, again)


def test_moves_and_start_points():
    kw = {"n_walkers": 8, "n_steps": 30, "burn": 5, "seed": 1}
    stretch = run_ensemble(_gauss_post, 2, moves="stretch", **kw)
    de = run_ensemble(_gauss_post, 2, **kw)
    assert not np.array_equal(stretch.z_chain, de.z_chain)
    with pytest.raises(LeptotwinError, match="unknown proposal"):
        run_ensemble(_gauss_post, 2, moves="hmc", **kw)
    with pytest.raises(LeptotwinError, match="wrong shape"):
        run_ensemble(_gauss_post, 2, z_start=np.zeros((3, 2)), **kw)
    start = np.array([1.0, -0.5]) + 0.1 * np.random.default_rng(0).standard_normal((8, 2))
    run = run_ensemble(_gauss_post, 2, z_start=start, **kw)
    np.testing.assert_array_equal(run.z_start, start)
