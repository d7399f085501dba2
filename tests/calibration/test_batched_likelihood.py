"""The study likelihood over many parameter sets at once (``calibrate-study`` vectorised).

Every parameter set of a batch gets, to the bit, the readouts and the log likelihood it gets
alone, whatever else is in the batch; and a calibration run on the batched path draws what the
walker-by-walker path draws.
"""

from __future__ import annotations

import math
import signal
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration import calibrate as cal
from leptotwin.calibration import readouts as R
from leptotwin.calibration.readouts import READOUTS, evaluate_readouts, evaluate_readouts_many
from leptotwin.calibration.sampler import ZTransform
from leptotwin.calibration.targets import load_targets
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError

MICE = [n for n in READOUTS if n.startswith(("C2.", "C7."))]


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _thetas(cat, n: int, seed: int, spread: float = 1.0) -> tuple[list[str], np.ndarray]:
    """``n`` parameter sets of the calibrated values drawn from their priors (``spread`` < 1:
    nearer the prior medians, in the prior's normal space)."""
    specs = cal.parameter_specs(cat, cal.DEFAULT_PARAMETERS)
    tr = ZTransform(specs)
    z = spread * np.random.default_rng(seed).standard_normal((n, tr.ndim))
    return tr.names, tr.to_theta(z)


def _catalogs(cat, n: int, seed: int) -> list:
    names, th = _thetas(cat, n, seed)
    return [cat.with_values(dict(zip(names, map(float, t), strict=True))) for t in th]


def _assert_same(batch: list[dict], alone: list[dict]) -> None:
    assert len(batch) == len(alone)
    for b, a in zip(batch, alone, strict=True):
        assert list(b) == list(a)
        np.testing.assert_array_equal(np.array(list(b.values())), np.array(list(a.values())))


def _spy(monkeypatch) -> dict[str, list[int]]:
    """Record the number of catalogues of every ``_mice_batch`` and ``_invitro_plates`` call
    (the batch itself ran: a batch that raised would be redone one catalogue at a time)."""
    sizes: dict[str, list[int]] = {"mice": [], "plates": []}
    real_mice, real_plates = R._mice_batch, R._invitro_plates

    def mice(setups, *args):
        sizes["mice"].append(len(setups))
        return real_mice(setups, *args)

    def plates(ps):
        sizes["plates"].append(len(ps))
        return real_plates(ps)

    monkeypatch.setattr(R, "_mice_batch", mice)
    monkeypatch.setattr(R, "_invitro_plates", plates)
    return sizes


def test_batched_readouts_equal_one_at_a_time(cat, monkeypatch):
    cats = [cat, *_catalogs(cat, 4, seed=3)]
    alone = [evaluate_readouts(c) for c in cats]
    sizes = _spy(monkeypatch)
    batch = evaluate_readouts_many(cats)
    # one batch of all five: the plates, the C2 mice, the C7 mice (no one-at-a-time fallback)
    assert sizes == {"mice": [5, 5], "plates": [5]}
    _assert_same(batch, alone)
    # the sets differ (the test can fail), and the batch's order does not matter
    assert len({a["C7.week4_fold_alectinib_osimertinib"] for a in alone}) == len(cats)
    assert len({a["C2.nadir_fold"] for a in alone}) >= 4  # two sets do not respond (fold 1)
    _assert_same(
        evaluate_readouts_many(cats[::-1], MICE), [{n: a[n] for n in MICE} for a in alone[::-1]]
    )
    assert evaluate_readouts_many([]) == []
    with pytest.raises(LeptotwinError, match="unknown readout"):
        evaluate_readouts_many(cats, ["C3.nope"])


def test_mice_with_shorter_windows_and_another_grid_in_one_batch(cat, monkeypatch):
    # few fixed-point iterations: windows fail and shrink, for each catalogue at its own steps;
    # a later treatment start puts one catalogue on another grid (its own batch)
    monkeypatch.setattr(R, "MOUSE_MAX_ITERATIONS", 3)
    cats = _catalogs(cat, 3, seed=11)
    cats.append(cats[0].with_values({"lmc_mouse.parameters.treatment_start": 10.0}))
    alone = [evaluate_readouts(c, MICE) for c in cats]
    sizes = _spy(monkeypatch)
    _assert_same(evaluate_readouts_many(cats, MICE), alone)
    assert sorted(sizes["mice"]) == [1, 1, 3, 3]  # C2 and C7: three on one grid, one on another
    assert alone[3]["C2.nadir_fold"] != alone[0]["C2.nadir_fold"]


def test_a_failing_catalogue_is_nan_and_leaves_the_others(cat, monkeypatch):
    cats = _catalogs(cat, 3, seed=5)
    bad = cats[1]
    real = R._mouse_setup

    def setup(c, *args, **kw):
        if c is bad:
            raise LeptotwinError("the model cannot evaluate this")
        return real(c, *args, **kw)

    monkeypatch.setattr(R, "_mouse_setup", setup)
    batch = evaluate_readouts_many(cats, MICE)
    assert all(math.isnan(v) for v in batch[1].values())
    _assert_same([batch[0], batch[2]], [evaluate_readouts(c, MICE) for c in (cats[0], cats[2])])


def test_a_catalogue_failing_inside_a_batch_is_nan_and_leaves_the_others(cat, monkeypatch):
    # the failure comes from the batch itself (the mice's scheme, the plates): the batch is
    # redone one catalogue at a time; a failing catalogue alone on its grid is NaN too
    names = [*MICE, "C3.alectinib_fold", "C1.alectinib_ic50"]
    cats = _catalogs(cat, 3, seed=5)
    alone = [evaluate_readouts(c, names) for c in cats]
    marker = 0.5 * cats[1].pathway_value("birth_max")
    bad = cats[1].with_values({"pathway.birth_max": marker})
    other_grid = bad.with_values({"lmc_mouse.parameters.treatment_start": 10.0})
    real_mice, real_plates = R._mice_batch, R._invitro_plates

    def mice(setups, *args):
        if any(s.pm.birth_max == marker for s in setups):
            raise LeptotwinError("the model cannot evaluate this")
        return real_mice(setups, *args)

    def plates(ps):
        if any(p.pm.birth_max == marker for p in ps):
            raise ArithmeticError("the model cannot evaluate this")
        return real_plates(ps)

    monkeypatch.setattr(R, "_mice_batch", mice)
    monkeypatch.setattr(R, "_invitro_plates", plates)
    batch = evaluate_readouts_many([cats[0], bad, cats[2], other_grid], names)
    for failed in (batch[1], batch[3]):
        assert all(math.isnan(v) for v in failed.values())
    _assert_same([batch[0], batch[2]], [alone[0], alone[2]])
    # one catalogue: the same NaNs as the batch gives it
    assert all(math.isnan(v) for v in evaluate_readouts(bad, names).values())


def test_every_pathway_number_is_one_value_per_row_of_a_batch(cat):
    # the plates and the mice of a batch take every float and per-drug dict field of
    # PathwayModel per catalogue; a field left out would be catalogue 0's for the whole batch
    from dataclasses import fields

    from leptotwin.model.pathway import PathwayModel

    floats, dicts = R._pathway_fields()
    every = {f.name for f in fields(PathwayModel)}
    assert set(R._NOT_PER_ROW) == {"bypass"}  # the documented exception
    assert set(floats) | set(dicts) | set(R._NOT_PER_ROW) == every
    assert len(floats) + len(dicts) + len(R._NOT_PER_ROW) == len(every)
    pm = PathwayModel.from_catalog(cat)
    assert all(isinstance(getattr(pm, f), float) for f in floats)
    assert all(isinstance(getattr(pm, f), dict) for f in dicts)


@pytest.mark.parametrize("error", [IndexError, KeyError, TypeError])
def test_a_programming_error_in_a_batch_surfaces(cat, monkeypatch, error):
    # only a refusal (LeptotwinError) or a numerical failure (ArithmeticError) of a batch of
    # several catalogues is redone one at a time; anything else is a bug, not a NaN
    cats = _catalogs(cat, 2, seed=5)

    def broken(*args):
        raise error("a bug in the batch")

    monkeypatch.setattr(R, "_mice_batch", broken)
    with pytest.raises(error, match="a bug in the batch"):
        evaluate_readouts_many(cats, MICE)
    monkeypatch.setattr(R, "_invitro_plates", broken)
    with pytest.raises(error, match="a bug in the batch"):
        evaluate_readouts_many(cats, ["C1.alectinib_ic50"])


def test_batched_log_likelihood_equals_the_scalar(cat, monkeypatch):
    used = [t for t in load_targets() if cal._role(t) == "used"]
    # prior draws miss some targets entirely (-inf); near the medians all four are finite
    names, th = _thetas(cat, 4, seed=7, spread=0.1)
    th = np.vstack([th, _thetas(cat, 1, seed=7)[1]])
    loglik = cal.CatalogLogLikelihood(cat, names, used)
    scalar = []
    for t in th:
        try:
            scalar.append(loglik(t))
        except (LeptotwinError, ArithmeticError, ValueError):
            scalar.append(-math.inf)
    batch = loglik.batch(th)
    assert batch.shape == (5,)
    np.testing.assert_array_equal(batch, np.array(scalar))
    assert np.isfinite(batch[:4]).all() and len(set(batch[:4])) == 4
    assert batch[4] == -math.inf
    # chunks over a pool, and passes of fewer catalogues, give the same numbers
    chunked = cal._BatchLogLikelihood(loglik, _InProcessPool(3), 3)(th)
    np.testing.assert_array_equal(chunked, batch)
    monkeypatch.setattr(cal, "BATCH_ROWS", 2)
    np.testing.assert_array_equal(loglik.batch(th), batch)
    with pytest.raises(LeptotwinError, match="parameter sets"):
        loglik.batch(th[0])


class _InProcessPool:
    """A pool stand-in: ``map`` in this process, with ``n_jobs`` as the calibration's pool."""

    def __init__(self, n_jobs: int) -> None:
        self.n_jobs = n_jobs
        self.calls = 0

    def map(self, fn, items):
        items = list(items)
        self.calls += len(items)
        return [fn(x) for x in items]


class _ParallelLike:
    """A ``joblib.Parallel`` stand-in: ``n_jobs`` but no ``map``."""

    n_jobs = 2


class _MapOnly:
    """A ``multiprocessing.Pool`` stand-in: ``map`` but no ``n_jobs``."""

    def map(self, fn, items):
        return [fn(x) for x in items]


def test_only_a_pool_with_map_and_n_jobs_takes_chunks_of_a_batch():
    assert cal._takes_chunks(_InProcessPool(3))
    assert cal._takes_chunks(_InProcessPool(np.int64(2)))
    assert not cal._takes_chunks(_ParallelLike())  # hasattr(pool, "n_jobs") said yes
    assert not cal._takes_chunks(_MapOnly())
    assert not cal._takes_chunks(_InProcessPool(0))
    assert not cal._takes_chunks(_InProcessPool(2.0))
    pool = cal._process_pool(1)
    try:
        assert cal._takes_chunks(pool)
    finally:
        pool.shutdown()


def test_calibrate_draws_the_same_on_the_batched_path(cat):
    kw = dict(
        catalog=cat,
        parameters=["pathway.egfr_weight", "A925L/AR.mir449a"],
        n_walkers=4,
        n_steps=3,
        burn=1,
        seed=3,
        map_start=False,
        n_predictive=2,
    )
    scalar = cal.calibrate(vectorized=False, **kw)
    batched = cal.calibrate(vectorized=True, **kw)
    pool = _InProcessPool(2)
    pooled = cal.calibrate(vectorized=True, pool=pool, **kw)
    assert pool.calls > 0
    pd.testing.assert_frame_equal(batched.draws, scalar.draws)
    pd.testing.assert_frame_equal(pooled.draws, scalar.draws)
    assert np.isfinite(scalar.draws["log_posterior"]).all()


@contextmanager
def _deadline(seconds: int):
    """Fail (rather than hang) when the block runs past ``seconds`` (SIGALRM, main thread)."""

    def expired(signum, frame):
        raise TimeoutError(f"did not return within {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_a_catalogue_whose_mice_turn_nan_ends_alone(cat, monkeypatch):
    # a non-finite trajectory never settles (NaN is close to nothing): the window used to
    # shrink to one step and be retried forever, losing the healthy catalogue too
    names = [n for n in READOUTS if n.startswith("C2.")]
    good = cat
    bad = cat.with_values({"pathway.egfr_weight": 5.5})
    alone = evaluate_readouts(good, names)
    real = R._mouse_setup

    def setup(c, *args, **kw):
        s, clones = real(c, *args, **kw)
        if c is bad:
            s.sec = s.sec * np.nan  # stands for any source of a NaN in one catalogue
        return s, clones

    monkeypatch.setattr(R, "_mouse_setup", setup)
    with _deadline(60):
        batch = evaluate_readouts_many([good, bad], names)
        scalar = evaluate_readouts(bad, names)
    _assert_same([batch[0]], [alone])
    assert any(math.isfinite(v) for v in alone.values())  # the comparison can fail
    assert all(math.isnan(v) for v in batch[1].values())
    assert all(math.isnan(v) for v in scalar.values())
