"""Multistart L-BFGS-B whose starts advance in lock-step, so that every objective value they
need at one time is computed in one batch.

scipy's L-BFGS-B with finite-difference gradients asks, at every point it visits, for the
objective there and at the n points of its forward-difference stencil, one call at a time. An
objective that costs almost the same for a batch of parameter sets as for one (leptotwin's
cohort engine, :class:`~leptotwin.interop.petab.EngineLikelihood`) is wasted that way. Here
every start runs scipy's own ``scipy.optimize.minimize(method="L-BFGS-B")`` (same code, same
options, same finite differences) in its own thread, and the objective each thread sees
waits at a barrier: when every live start is waiting, the points of all of them go to the
batch objective together (a round); a start that ends leaves the batch. When a start asks for
the objective at a new point, the stencil scipy will ask for next (forward steps of ``eps``
per coordinate, reversed at an upper bound, as ``scipy.optimize``'s ``approx_derivative``
takes them) is evaluated in the same round, so one round serves one (value, gradient) request
of every start. A stencil point that was not predicted (scipy changing its step rule) is
evaluated in a round of its own: slower, never different.

Each start sees exactly the values a one-start ``minimize`` would see, in the same order, so
its result is the same to the bit as an independent run (tested).

The barrier itself is :func:`run_lockstep` (any searches that ask for objective values one
request at a time, e.g. calibrate's lock-step Powell searches). The starts' threads call
scipy's L-BFGS-B concurrently. That this is safe (each thread's results equal a one-start
run's, tested) was checked with scipy 1.17.1 only, the version requirements.lock pins; the
package allows scipy >= 1.13, whose 1.13 and 1.14 run the older Fortran L-BFGS-B, not checked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike

from leptotwin.errors import LeptotwinError

__all__ = ["LockstepResult", "lockstep_lbfgsb", "run_lockstep"]

T = TypeVar("T")


@dataclass
class LockstepResult:
    """What :func:`lockstep_lbfgsb` returns.

    results : scipy's OptimizeResult of every start (``x``, ``fun``, ``nfev`` counting every
        objective value its finite differences used, ``nit``, ``message``), in start order
    rounds : batch objective calls
    points : parameter sets evaluated in all; equal to :attr:`nfev` when every predicted
        stencil point was used (more: predictions scipy did not ask for)
    batch_sizes : points per round
    """

    results: list[scipy.optimize.OptimizeResult]
    rounds: int = 0
    points: int = 0
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def nfev(self) -> int:
        """Objective values the starts used (scipy's ``nfev``, summed)."""
        return int(sum(r.nfev for r in self.results))

    @property
    def best(self) -> scipy.optimize.OptimizeResult:
        """The start with the lowest objective value (a start whose value is NaN or
        infinite only when every start's is)."""
        return min(self.results, key=lambda r: r.fun if np.isfinite(r.fun) else np.inf)


def _stencil(x: np.ndarray, eps: float, lb: np.ndarray, ub: np.ndarray) -> list[np.ndarray]:
    """The points of scipy's 2-point forward differences at ``x`` with absolute step ``eps``
    within bounds (a step that leaves the bounds is reversed when the reversed one fits)."""
    h = np.full(x.shape, eps)
    beyond = ((x + h) < lb) | ((x + h) > ub)
    fits = np.abs(h) <= np.maximum(x - lb, ub - x)
    h[beyond & fits] *= -1
    out = []
    for i in range(x.size):
        p = np.copy(x)
        p[i] = x[i] + h[i]
        out.append(p)
    return out


class _Rounds:
    """The barrier: collects the points of every live start, evaluates them in one call.

    Each start waits on its own event and the server on one event of its own, so a round
    wakes every thread once (a shared condition would wake all waiting starts at every
    arrival)."""

    def __init__(self, batch_fun: Callable[[np.ndarray], np.ndarray], n_starts: int) -> None:
        self.batch_fun = batch_fun
        self.lock = threading.Lock()
        self.ready = threading.Event()  # set when every live start waits (or none is left)
        self.done = [threading.Event() for _ in range(n_starts)]
        self.pending: dict[int, list[np.ndarray]] = {}
        self.results: dict[int, np.ndarray] = {}
        self.live = n_starts
        self.error: BaseException | None = None
        self.rounds = 0
        self.points = 0
        self.sizes: list[int] = []

    def _check(self) -> None:  # under the lock
        if self.error is not None or self.live == 0 or len(self.pending) == self.live:
            self.ready.set()

    def ask(self, k: int, points: list[np.ndarray]) -> np.ndarray:
        with self.lock:
            if self.error is not None:
                raise _Stopped
            self.pending[k] = points
            self._check()
        self.done[k].wait()
        self.done[k].clear()
        with self.lock:
            if self.error is not None:
                raise _Stopped
            return self.results.pop(k)

    def leave(self) -> None:
        with self.lock:
            self.live -= 1
            self._check()

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = exc
            self._check()
        for event in self.done:
            event.set()

    def serve(self) -> None:
        """Run rounds until every start has left (in the calling thread)."""
        while True:
            self.ready.wait()
            self.ready.clear()
            with self.lock:
                if self.error is not None or self.live == 0:
                    return
                if len(self.pending) < self.live:
                    continue
                batch, self.pending = self.pending, {}
            starts = sorted(batch)
            x = np.array([p for k in starts for p in batch[k]], dtype=float)
            try:
                values = np.asarray(self.batch_fun(x), dtype=float)
                if values.shape != (x.shape[0],):
                    raise LeptotwinError(
                        "the batch objective must return one value per parameter set",
                        field="batch_fun",
                        value=str(values.shape),
                        expected=f"({x.shape[0]},)",
                    )
            except BaseException as exc:  # handed to the caller after the threads stop
                self.fail(exc)
                return
            with self.lock:
                self.rounds += 1
                self.points += x.shape[0]
                self.sizes.append(x.shape[0])
                at = 0
                for k in starts:
                    m = len(batch[k])
                    self.results[k] = values[at : at + m]
                    at += m
            for k in starts:
                self.done[k].set()


class _Stopped(BaseException):
    """Raised in a start's thread when another start or the batch objective failed (a
    BaseException, so that a task's ``except Exception`` does not swallow it)."""


def run_lockstep(
    batch_fun: Callable[[np.ndarray], np.ndarray],
    tasks: Sequence[Callable[[Callable[[list[np.ndarray]], np.ndarray]], T]],
) -> list[T]:
    """Run every ``task(ask)`` in its own thread, their objective values in batches.

    A task asks for the objective at some points with ``ask(points)`` (a list of arrays of
    shape (n,)), which returns their values (shape (len(points),)) once every task still
    running has asked too: the points of all of them go to ``batch_fun`` in one call (a
    round), in task order. A task that returns leaves the rounds.

    Parameters
    ----------
    batch_fun : callable
        ``batch_fun(X) -> values``: the objective at each row of ``X`` (shape (K, n)), shape
        (K,); called in the calling thread.
    tasks : sequence of callables
        Each ``task(ask) -> result``; must call ``ask`` from its own thread only.

    Returns
    -------
    list
        The tasks' results, in task order.

    Raises
    ------
    LeptotwinError
        A batch objective that returns another number of values.
    BaseException
        The first exception a task or ``batch_fun`` raised (or a KeyboardInterrupt in the
        calling thread), after every started task stopped.
    """
    rounds = _Rounds(batch_fun, len(tasks))
    results: list[Any] = [None] * len(tasks)
    finished = [False] * len(tasks)

    def run(k: int) -> None:
        try:
            results[k] = tasks[k](lambda points: rounds.ask(k, points))
            finished[k] = True
        except _Stopped:
            pass
        except BaseException as exc:
            rounds.fail(exc)
        finally:
            rounds.leave()

    started: list[threading.Thread] = []
    try:
        for k in range(len(tasks)):
            t = threading.Thread(target=run, args=(k,), daemon=True)
            t.start()
            started.append(t)
        rounds.serve()
    except BaseException as exc:  # no thread may be left waiting for a round
        rounds.fail(exc)
        raise
    finally:
        for t in started:
            t.join()
    if rounds.error is not None:
        raise rounds.error
    if not all(finished):  # every task returned unless one failed (raised above)
        raise RuntimeError("a lock-step task stopped without a result or an error")
    return results


def lockstep_lbfgsb(
    batch_fun: Callable[[np.ndarray], np.ndarray],
    starts: ArrayLike,
    bounds: Sequence[tuple[float, float]],
    *,
    eps: float = 1e-8,
    options: dict | None = None,
) -> LockstepResult:
    """Minimise from every start with scipy's L-BFGS-B (finite-difference gradients, absolute
    step ``eps``), the starts in lock-step and their objective values in batches.

    Parameters
    ----------
    batch_fun : callable
        ``batch_fun(X) -> values``: the objective at each row of ``X`` (shape (K, n)), shape
        (K,). Must be deterministic (a start's values do not depend on the others in its batch).
    starts : array of shape (S, n)
    bounds : sequence of n (low, high)
    eps : float
        scipy's ``eps`` option of L-BFGS-B (its default 1e-8).
    options : dict, optional
        Other options of L-BFGS-B (``maxfun``, ``ftol``, ``gtol``, ``maxiter``, ...), as for
        ``scipy.optimize.minimize``.

    Returns
    -------
    LockstepResult
        scipy's result per start, to the bit the result of
        ``scipy.optimize.minimize(f, x0, method="L-BFGS-B", bounds=bounds, options={"eps": eps,
        **options})`` with ``f`` the same objective one point at a time.

    Raises
    ------
    LeptotwinError
        Starts not of shape (S, n) with n bounds; a batch objective that returns another
        number of values; a ``workers`` option (scipy >= 1.17 would then call the objective
        from several threads of one start).
    Exception
        Whatever the batch objective or scipy raised (the first), after every start stopped.
    """
    x0 = np.atleast_2d(np.asarray(starts, dtype=float))
    lb = np.array([b[0] for b in bounds], dtype=float)
    ub = np.array([b[1] for b in bounds], dtype=float)
    if x0.ndim != 2 or x0.shape[1] != lb.size or x0.shape[0] == 0:
        raise LeptotwinError(
            "starts must be a (number of starts, number of parameters) array",
            field="starts",
            value=str(x0.shape),
            expected=f"(S, {lb.size})",
        )
    if options and "workers" in options:
        raise LeptotwinError(
            "L-BFGS-B's workers option would call the objective from several threads",
            field="options",
            value="workers",
            expected="options without workers (the starts already share each batch)",
        )
    opts = {**(options or {}), "eps": eps}

    def task(k: int) -> Callable[[Callable[[list[np.ndarray]], np.ndarray]], Any]:
        def search(ask: Callable[[list[np.ndarray]], np.ndarray]) -> Any:
            cache: dict[bytes, float] = {}

            def f(x: np.ndarray) -> float:
                x = np.asarray(x, dtype=float)
                key = x.tobytes()
                if key not in cache:  # a new point (or a stencil point that was not predicted)
                    points = [x.copy(), *_stencil(x, eps, lb, ub)]
                    values = ask(points)
                    cache.clear()
                    cache.update(
                        (p.tobytes(), float(v)) for p, v in zip(points, values, strict=True)
                    )
                return cache[key]

            # a refused point is +inf: scipy's finite differences then take inf - inf, which
            # would warn (or raise, under warnings-as-errors) in this worker thread; the start
            # ends with fun = inf and the others go on
            with np.errstate(invalid="ignore", over="ignore"):
                return scipy.optimize.minimize(
                    f, x0[k], method="L-BFGS-B", bounds=list(zip(lb, ub, strict=True)), options=opts
                )

        return search

    counted = _Counted(batch_fun)
    results = run_lockstep(counted, [task(k) for k in range(x0.shape[0])])
    return LockstepResult(
        results=results,
        rounds=len(counted.sizes),
        points=sum(counted.sizes),
        batch_sizes=counted.sizes,
    )


class _Counted:
    """A batch objective that records the size of every batch it is given."""

    def __init__(self, fun: Callable[[np.ndarray], np.ndarray]) -> None:
        self.fun = fun
        self.sizes: list[int] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        values = self.fun(x)
        self.sizes.append(x.shape[0])
        return values
