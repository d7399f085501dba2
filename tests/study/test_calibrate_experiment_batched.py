"""``leptotwin calibrate`` with the engine's batch: the same numbers as one set at a time.

``calibrate_experiment`` evaluates many parameter sets in one pass of the cohort engine when
the experiment has in-vivo rows (:meth:`ExperimentLogLikelihood.batch`, built on
:class:`leptotwin.interop.petab.EngineLikelihood`): the MAP searches in lock-step, the Laplace
stencil, the importance candidates and each half-ensemble of emcee's walkers. Every value is the
one-at-a-time value to the bit, so the whole run (MAP, start points, chain, draws) must be the
same as with ``batch=False``; these tests fail if any of those differs in a single bit.

The problem is small: one arm of osimertinib-treated mice, BLI on days 7 and 10 and plasma PK,
estimating ``pathway.birth_max`` (the tumour) and the mouse clearance (the PK).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration.calibrate import parameter_specs
from leptotwin.calibration.sampler import LogPosteriorZ, ZTransform, laplace_scales
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop import petab
from leptotwin.interop.petab import engine_nll
from leptotwin.study.calibrate_experiment import (
    ExperimentLogLikelihood,
    _multistart_map,
    calibrate_experiment,
    growth_step,
)
from leptotwin.study.experiment import load_experiment_file

ROOT = Path(__file__).resolve().parents[2]
CL = "osimertinib.pk.mouse.CL"
BIRTH = "pathway.birth_max"
EXPERIMENT = f"""\
name: tiny_in_vivo
model: lmc_mouse
inoculum: A925L/AR
days: 10
arms:
  osimertinib:
    regimens: {{osimertinib: "25 mg/kg QD"}}
    subjects: [m1, m2]
data:
  bli: bli.csv
  pk: pk.csv
observables:
  total_flux: {{unit: p/s, noise: lognormal, sigma: 0.5}}
  plasma:osimertinib: {{unit: nM, noise: lognormal, sigma: 0.3}}
estimate: [{BIRTH}, {CL}]
"""


def write(tmp_path: Path, *, viability: bool = False) -> Path:
    """The experiment file with made-up data (the tests compare two ways of computing the
    same likelihood, so the data need only be plausible)."""
    (tmp_path / "bli.csv").write_text(
        "mouse,arm,day,total_flux_p_s\n"
        "m1,osimertinib,7,2.1e7\nm1,osimertinib,10,3.0e7\n"
        "m2,osimertinib,7,1.4e7\nm2,osimertinib,10,2.6e7\n"
    )
    (tmp_path / "pk.csv").write_text(
        "subject,time_h,drug,matrix,concentration,unit,lloq\n"
        "m1,1.0,osimertinib,plasma,1000,nM,1.0\nm1,24.0,osimertinib,plasma,150,nM,1.0\n"
        "m2,4.0,osimertinib,plasma,2000,nM,1.0\nm2,24.0,osimertinib,plasma,90,nM,1.0\n"
    )
    text = EXPERIMENT
    if viability:  # a few wells of the example's viability table beside the in-vivo data
        wells = pd.read_csv(ROOT / "examples" / "own-lab" / "viability.csv")
        wells = wells[(wells["drug"] == "alectinib") & wells["partner_drug"].isna()]
        wells.head(9).to_csv(tmp_path / "viability.csv", index=False)
        text = text.replace("  pk: pk.csv\n", "  pk: pk.csv\n  viability: viability.csv\n").replace(
            "observables:\n",
            'observables:\n  viability: {unit: "%", noise: normal, sigma: 5, plate_sigma: 0.045}\n',
        )
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    return path


def prior_points(names: list[str], n: int, seed: int) -> np.ndarray:
    """``n`` parameter sets from the priors, with a far tail (|z| = 6) among them."""
    transform = ZTransform(parameter_specs(load_catalog(), names))
    z = np.random.default_rng(seed).standard_normal((n, len(names)))
    z[0] = 6.0
    z[1] = -6.0
    return transform.to_theta(z)


def one_at_a_time(loglik: ExperimentLogLikelihood, thetas: np.ndarray) -> np.ndarray:
    """What the sampler's one-set-at-a-time path makes of each set (a refused set: -inf)."""
    out = []
    for t in thetas:
        try:
            out.append(loglik(t))
        except (LeptotwinError, ArithmeticError, ValueError):
            out.append(-np.inf)
    return np.array(out)


def test_in_vivo_part_is_minus_engine_nll_at_the_growth_step(tmp_path):
    """The likelihood's in-vivo part is -engine_nll at growth_step(exp) (the step the batch
    uses), to the bit, and the batch gives the same."""
    exp = load_experiment_file(write(tmp_path))
    loglik = ExperimentLogLikelihood(exp, exp.estimate)
    assert loglik.dt_h == growth_step(exp) == 4.0
    thetas = prior_points(exp.estimate, 5, seed=1)
    want = np.array(
        [
            -engine_nll(exp, dict(zip(exp.estimate, map(float, t), strict=True)), dt_h=4.0)
            for t in thetas
        ]
    )
    assert np.array_equal(one_at_a_time(loglik, thetas), want)
    assert np.array_equal(loglik.batch(thetas), want)
    assert loglik._engine is not None and loglik._engine.batched  # the engine's own batch ran


def test_batch_equals_one_at_a_time_with_viability_rows(tmp_path):
    """In-vivo rows in one engine pass, viability rows per set: each value is the
    one-at-a-time value to the bit; a set the catalogue refuses is -inf, the others unchanged."""
    exp = load_experiment_file(write(tmp_path, viability=True))
    assert exp.has_viability and len(exp.measurements)
    loglik = ExperimentLogLikelihood(exp, exp.estimate)
    thetas = prior_points(exp.estimate, 4, seed=2)
    thetas[2, 1] = -1.0  # a negative clearance: outside its prior's support
    got = loglik.batch(thetas)
    assert np.array_equal(got, one_at_a_time(loglik, thetas))
    assert got[2] == -np.inf and np.isfinite(got[[0, 1, 3]]).all()


def test_an_engine_batch_that_fails_falls_back_to_one_set_at_a_time(tmp_path, monkeypatch):
    """When the engine's batch raises (a set it cannot take), every set is evaluated on its
    own: same values, the set that fails on its own is -inf."""
    exp = load_experiment_file(write(tmp_path))
    loglik = ExperimentLogLikelihood(exp, exp.estimate)
    thetas = prior_points(exp.estimate, 3, seed=3)
    want = one_at_a_time(loglik, thetas)

    def refuse(self, th):
        raise ValueError("a set the batch cannot take")

    monkeypatch.setattr(petab.EngineLikelihood, "__call__", refuse)
    assert np.array_equal(loglik.batch(thetas), want)
    real = petab.engine_nll

    def fail_second(exp_, values, **kw):
        if values[CL] == float(thetas[1, 1]):
            raise ArithmeticError("this set only")
        return real(exp_, values, **kw)

    monkeypatch.setattr("leptotwin.study.calibrate_experiment.engine_nll", fail_second)
    got = loglik.batch(thetas)
    assert got[1] == -np.inf and np.array_equal(got[[0, 2]], want[[0, 2]])


def test_batch_refuses_a_wrong_shape(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    loglik = ExperimentLogLikelihood(exp, exp.estimate)
    with pytest.raises(LeptotwinError, match="parameter sets"):
        loglik.batch(np.ones(2))
    assert loglik.batch(np.empty((0, 2))).shape == (0,)


def test_lockstep_map_and_laplace_equal_the_sequential_ones(tmp_path):
    """The MAP searches in lock-step (one batch per round) end where the searches one after
    another end, with the same values and evaluation counts; the Laplace stencil in one batch
    gives the same SDs."""
    exp = load_experiment_file(write(tmp_path))
    loglik = ExperimentLogLikelihood(exp, exp.estimate)
    transform = ZTransform(parameter_specs(load_catalog(), exp.estimate))
    post = LogPosteriorZ(transform, loglik)
    post_batch = LogPosteriorZ(transform, loglik.batch, vectorized=True)
    seq = _multistart_map(post, 2, 3, seed=4)
    lock = _multistart_map(post, 2, 3, seed=4, batch=post_batch)
    assert np.array_equal(seq[0], lock[0])
    assert seq[1] == lock[1] and seq[2] == lock[2]
    a = laplace_scales(post, seq[0])
    b = laplace_scales(post_batch, seq[0], vectorize=True)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_lockstep_map_hands_back_a_failing_batch():
    """A batch objective that raises stops every search and the error reaches the caller (no
    thread left waiting)."""

    def post(z):
        return float(-0.5 * np.sum(np.asarray(z) ** 2))

    calls = {"n": 0}

    def batch(z):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the engine broke")
        return np.array([post(row) for row in np.asarray(z)])

    box: dict[str, BaseException] = {}

    def failing_run():
        try:
            _multistart_map(post, 2, 3, seed=0, batch=batch)
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    t = threading.Thread(target=failing_run, daemon=True)
    t.start()
    t.join(60.0)  # a deadlock fails here instead of hanging the suite
    assert not t.is_alive(), "the lock-step searches did not stop within 60 s"
    with pytest.raises(RuntimeError, match="the engine broke"):
        raise box["error"]
    # and without a failure the lock-step searches equal the searches one after another
    calls["n"] = -(10**9)
    seq, lock = _multistart_map(post, 2, 3, seed=0), _multistart_map(post, 2, 3, 0, batch=batch)
    assert np.array_equal(seq[0], lock[0]) and seq[1:] == lock[1:]


def test_laplace_scales_vectorized_is_the_same_on_a_gaussian():
    """An outside answer: on a Gaussian log posterior with SDs 0.3, 0.5 (normal space) the
    diagonal Laplace SDs are exact; vectorised and one at a time the same to the bit."""
    sd = np.array([0.3, 0.5, 2.0])

    def one(z):
        return float(-0.5 * np.sum((np.asarray(z) / sd) ** 2))

    def many(z):
        return np.array([one(row) for row in np.asarray(z)])

    a, n_a = laplace_scales(one, np.zeros(3))
    b, n_b = laplace_scales(many, np.zeros(3), vectorize=True)
    assert np.array_equal(a, b) and n_a == n_b == 7
    np.testing.assert_allclose(a, [0.3, 0.5, 1.0], rtol=1e-12)  # a wide one is clipped to 1


def test_calibrate_batched_gives_the_same_chain_as_one_at_a_time(tmp_path):
    """The whole calibration with the batch (default for in-vivo rows) equals the one with
    batch=False: MAP, start points, every step of every walker, log posteriors, draws."""
    exp = load_experiment_file(write(tmp_path))
    opts = dict(n_walkers=6, n_steps=8, burn=3, n_starts=2, draws=30, fit_draws=3, seed=5)
    calls = {"batch": 0}
    real = ExperimentLogLikelihood.batch

    def counting(self, thetas):
        calls["batch"] += 1
        return real(self, thetas)

    mp = pytest.MonkeyPatch()
    mp.setattr(ExperimentLogLikelihood, "batch", counting)
    try:
        fast = calibrate_experiment(exp, **opts)
        n_fast = calls["batch"]
        slow = calibrate_experiment(exp, batch=False, **opts)
    finally:
        mp.undo()
    assert n_fast > 0 and calls["batch"] == n_fast  # the default batched; False did not
    assert np.array_equal(fast.map_theta, slow.map_theta)
    rf, rs = fast.sample.run, slow.sample.run
    assert np.array_equal(rf.z_start, rs.z_start)
    assert np.array_equal(rf.z_chain, rs.z_chain)
    assert np.array_equal(rf.log_prob, rs.log_prob)
    assert np.isfinite(rf.log_prob).all()
    pd.testing.assert_frame_equal(fast.sample.draws, slow.sample.draws, check_exact=True)
    pd.testing.assert_frame_equal(fast.summary, slow.summary, check_exact=True)
    pd.testing.assert_frame_equal(fast.fits, slow.fits, check_exact=True)
    timing = ("seconds", "seconds_per_evaluation")
    same = {k: v for k, v in fast.sample.settings.items() if k not in timing}
    other = {k: v for k, v in slow.sample.settings.items() if k not in timing}
    assert repr(same) == repr(other)  # repr: a NaN setting equals itself
    # the walkers moved (the test compares a chain, not 8 copies of the start)
    assert len({tuple(r) for r in rf.z_chain[-1]}) > 1


def test_in_vitro_only_experiment_is_not_batched(tmp_path):
    """Without in-vivo rows ``batch`` builds no engine and gives the one-at-a-time values
    (calibrate_experiment does not batch such an experiment by default)."""
    exp = load_experiment_file(write(tmp_path, viability=True))
    exp = replace(exp, measurements=exp.measurements.iloc[:0])
    loglik = ExperimentLogLikelihood(exp, exp.estimate)
    thetas = prior_points(exp.estimate, 2, seed=6)
    assert np.array_equal(loglik.batch(thetas), one_at_a_time(loglik, thetas))
    assert loglik._engine is None


def test_an_engine_that_cannot_be_built_is_not_probed_again(tmp_path, monkeypatch):
    """When building the batched engine raises, the batch goes set by set (engine_nll's
    values) and later batches do not build (probe) it again."""
    import leptotwin.study.calibrate_experiment as ce

    built = {"n": 0}

    def refusing(*args, **kwargs):
        built["n"] += 1
        raise LeptotwinError("no batched engine here")

    exp = load_experiment_file(write(tmp_path))
    loglik = ExperimentLogLikelihood(exp, exp.estimate)
    theta = np.array([[loglik.catalog.quantity(p).value for p in exp.estimate]])
    want = loglik(theta[0])
    monkeypatch.setattr(ce, "EngineLikelihood", refusing)
    assert np.array_equal(loglik.batch(theta), [want])
    assert np.array_equal(loglik.batch(theta), [want])
    assert built["n"] == 1
