"""The lock-step multistart (``lockstep_lbfgsb``) and its barrier (``run_lockstep``): each start
reaches exactly what an independent scipy run reaches, errors reach the caller and no thread
is left waiting (every test that could hang on a deadlock runs with a time limit)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.optimize

from leptotwin.calibration.multistart import LockstepResult, lockstep_lbfgsb, run_lockstep
from leptotwin.errors import LeptotwinError

LIMIT_S = 60.0  # far above what these take; a deadlock fails here instead of hanging


def within_limit(fun):
    """``fun()``'s result or exception, from a thread that must end within LIMIT_S."""
    box: dict[str, object] = {}

    def target():
        try:
            box["value"] = fun()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(LIMIT_S)
    if t.is_alive():
        pytest.fail(f"the lock-step run did not end within {LIMIT_S} s (a deadlock)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


def wavy(x: np.ndarray) -> float:
    return float((1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2 + np.sin(3 * x[0]))


def test_lockstep_equals_independent_scipy_runs():
    """Same x, value, evaluation count, iterations and message as one-start runs, to the bit;
    one round per (value, gradient) request: the predicted stencils were all used."""
    starts = np.random.default_rng(0).uniform(-2, 2, size=(8, 2))
    bounds = [(-2.0, 1.0), (-1.5, 2.0)]
    seen = []

    def batch(x):
        seen.append(x.shape[0])
        return np.array([wavy(p) for p in x])

    out = within_limit(lambda: lockstep_lbfgsb(batch, starts, bounds, options={"maxfun": 1000}))
    for x0, got in zip(starts, out.results, strict=True):
        want = scipy.optimize.minimize(
            wavy, x0, method="L-BFGS-B", bounds=bounds, options={"maxfun": 1000}
        )
        assert np.array_equal(got.x, want.x)
        assert (got.fun, got.nfev, got.nit, got.message) == (
            want.fun,
            want.nfev,
            want.nit,
            want.message,
        )
    assert out.points == out.nfev == sum(seen)
    assert out.batch_sizes == seen
    assert out.rounds == len(seen) == max(r.nfev for r in out.results) // 3
    assert seen[0] == 3 * len(starts)  # every start's first value and stencil in one round
    assert out.best.fun == min(r.fun for r in out.results)


def test_lockstep_at_a_bound_and_with_a_small_maxfun():
    """Stencils reversed at the upper bound, and maxfun stopping runs early: still scipy's."""
    bounds = [(-2.0, 0.5), (-1.0, 0.25)]
    starts = np.array([[0.5, 0.25], [-1.0, -1.0], [0.3, 0.2]])
    for opts in ({"maxfun": 1000}, {"maxfun": 7}):
        out = within_limit(
            lambda opts=opts: lockstep_lbfgsb(
                lambda x: np.array([wavy(p) for p in x]), starts, bounds, options=opts
            )
        )
        for x0, got in zip(starts, out.results, strict=True):
            want = scipy.optimize.minimize(wavy, x0, method="L-BFGS-B", bounds=bounds, options=opts)
            assert np.array_equal(got.x, want.x) and got.nfev == want.nfev
        assert out.points == out.nfev


def test_lockstep_errors_reach_the_caller():
    def broken(x):
        raise ZeroDivisionError("inside the batch")

    box = [(-1, 1), (-1, 1)]
    with pytest.raises(ZeroDivisionError, match="inside the batch"):
        within_limit(lambda: lockstep_lbfgsb(broken, np.zeros((3, 2)), box))
    with pytest.raises(LeptotwinError, match="one value per parameter set"):
        within_limit(lambda: lockstep_lbfgsb(lambda x: np.zeros(1), np.zeros((3, 2)), box))
    with pytest.raises(LeptotwinError, match="starts"):
        lockstep_lbfgsb(lambda x: np.zeros(len(x)), np.zeros((3, 3)), box)


def test_lockstep_refuses_workers():
    """scipy 1.17's L-BFGS-B takes a workers option: one start would ask from several threads."""
    with pytest.raises(LeptotwinError, match="workers"):
        lockstep_lbfgsb(
            lambda x: np.zeros(len(x)), np.zeros((2, 2)), [(-1, 1), (-1, 1)], options={"workers": 2}
        )


def test_best_skips_a_nan_start():
    """A start whose value is NaN is not the best, even when it comes first."""
    res = [
        scipy.optimize.OptimizeResult(fun=np.nan, nfev=1),
        scipy.optimize.OptimizeResult(fun=2.0, nfev=1),
        scipy.optimize.OptimizeResult(fun=1.0, nfev=1),
    ]
    assert LockstepResult(res).best.fun == 1.0
    assert np.isnan(LockstepResult(res[:1]).best.fun)


def counting_tasks(n_tasks: int, n_asks: int):
    def task(k):
        def run(ask):
            total = 0.0
            for i in range(n_asks + k):
                total += float(ask([np.array([k, i], dtype=float)])[0])
            return total

        return run

    return [task(k) for k in range(n_tasks)]


def test_run_lockstep_batches_every_running_task():
    """Each round holds one point of every task still running, in task order; a task that
    ends leaves the rounds; each task gets its own values."""
    sizes = []

    def batch(x):
        sizes.append(x.shape[0])
        assert np.array_equal(x[:, 0], np.arange(x.shape[0]) + (3 - x.shape[0]))
        return x[:, 0] * 10 + x[:, 1]

    got = within_limit(lambda: run_lockstep(batch, counting_tasks(3, 2)))
    assert got == [sum(10 * k + i for i in range(2 + k)) for k in range(3)]
    assert sizes == [3, 3, 2, 1]


def test_a_failing_task_stops_the_others_even_through_except_exception():
    """A task that catches Exception around its asks still stops when another task fails (the
    stop signal is a BaseException), and the first error reaches the caller."""

    def failing(ask):
        ask([np.zeros(1)])
        raise ValueError("task 0 broke")

    def stubborn(ask):
        while True:  # with a stop signal that an ``except Exception`` catches: forever
            try:
                ask([np.zeros(1)])
            except Exception:  # what a careless task might do
                pass

    with pytest.raises(ValueError, match="task 0 broke"):
        within_limit(lambda: run_lockstep(lambda x: np.zeros(len(x)), [failing, stubborn]))


def test_an_interrupt_in_the_batch_leaves_no_thread_waiting():
    """A KeyboardInterrupt raised while a round is evaluated reaches the caller and every
    task's thread ends."""
    before = threading.active_count()

    def batch(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        within_limit(lambda: run_lockstep(batch, counting_tasks(4, 3)))
    assert threading.active_count() == before
