"""The posterior sampler of the joint calibration: emcee in the prior's normal space.

Why this method
---------------
The calibration targets are numbers with a stated measurement error and the model's readouts
are deterministic (no simulation noise: :mod:`leptotwin.calibration.readouts`). The error model
of each target therefore gives an explicit likelihood, and the posterior over the uncertain
catalogue values is an ordinary Bayesian posterior that a Markov chain samples exactly; ABC or
SMC, which approximate a likelihood that cannot be written down, are not needed. The readouts
are not differentiable in a form a gradient sampler (NUTS in NumPyro or BlackJAX) could use
without rewriting the model in JAX, so a gradient-free sampler is the choice. emcee's ensemble
sampler (Foreman-Mackey et al. 2013, PASP 125:306; emcee 3.1.6, pinned) is well kept, needs no
tuning of a proposal, and evaluates the walkers of a half-ensemble independently, so they can
run in parallel. Its proposals are built from the positions of other walkers, which makes them
invariant to linear correlations between the parameters (the EGFR weight and the miR-449a level
trade off against each other in the resistance fold). Default proposal: emcee's
differential-evolution move (ter Braak 2006, Stat Comput 16:239) with its recommended scale
2.38/sqrt(2 d) (90 %) mixed with the same move at scale 1 (10 %; ter Braak's jump between modes).
emcee's snooker move (``DESnookerMove``, ter Braak & Vrugt 2008) is left out on purpose: in
emcee 3.1.6 it scales the walker-to-anchor vector by ``1/sqrt(|delta|)`` instead of ``1/|delta|``
and its Metropolis correction is half of ter Braak & Vrugt's ``(d - 1) log(|q - z| / |x - z|)``,
so it does not leave the target invariant: on a 2-D Gaussian posterior known exactly, snooker
moves alone gave marginal SDs 0.69-0.75 of the truth, the 80/20 mix 0.93-0.97 (six seeds, bulk
ESS ~4,000 each), and DE moves alone 0.998-1.013 (tests/calibration/test_calibrate.py checks it
within Monte Carlo error). The stretch move of Goodman & Weare (2010, Commun Appl Math Comput
Sci 5:65) stays available (``moves="stretch"``; 0.99-1.03 on the same test).

The sampler moves in an unbounded space ``z`` in which the prior is standard normal: each
calibrated value is ``theta_i = F_i^-1(Phi(z_i))``, ``F_i`` its prior (:func:`leptotwin.catalog.
priors.prior_distribution`). Then

* the log prior is ``sum_i log N(z_i; 0, 1)`` (the Jacobian of the transform cancels the prior
  density exactly), so the log posterior is ``sum_i log N(z_i) + log L(theta(z))``;
* every ``z`` maps into the prior's support, so a walker never proposes an impossible value (a
  negative clearance, a fraction above 1, a value outside a uniform prior's bounds) and no
  proposal is wasted on it;
* the scales of all parameters are comparable (a prior's 95 % range is ``|z| < 1.96``), which
  suits the initial ball and the optimiser that finds it.

The transform is computed from both tails (``ppf(Phi(z))`` below the median, ``isf(Phi(-z))``
above it), so it stays exact and invertible far into either tail.

Walkers start from an importance sample of the posterior (:func:`importance_start`): candidates
from the prior and from a diagonal Laplace approximation at the maximum a posteriori point
(:func:`find_map`, :func:`laplace_scales`), resampled by their weights. A posterior about as
wide as its prior (most of the calibrated values, whose targets are ranges) then starts near its
stationary spread instead of expanding slowly from a point, and a narrow one starts near its
mode. Without the optimiser the walkers start at prior draws. Everything is
deterministic given the seed (emcee's own random state is seeded; a pool's ``map`` keeps order).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy import optimize, special

from leptotwin.errors import LeptotwinError

__all__ = [
    "MOVES",
    "EnsembleRun",
    "LogPosteriorZ",
    "ParameterSpec",
    "ZTransform",
    "find_map",
    "importance_start",
    "laplace_scales",
    "run_ensemble",
]

_Z_LIMIT = 37.0
"""``|z|`` beyond which ``Phi(z)`` is 0 or 1 in double precision: z is clipped there."""


class _Frozen(Protocol):
    def ppf(self, q: Any) -> Any: ...
    def isf(self, q: Any) -> Any: ...
    def cdf(self, x: Any) -> Any: ...
    def sf(self, x: Any) -> Any: ...
    def median(self) -> Any: ...
    def support(self) -> Any: ...


@dataclass(frozen=True)
class ParameterSpec:
    """One calibrated parameter: its name (a catalogue path) and its prior.

    Attributes
    ----------
    name : str
    dist : frozen scipy distribution
        The prior (``ppf``, ``isf``, ``cdf``, ``sf``, ``support``).
    kind : str
        The prior family (lognormal, normal, uniform, loguniform, logitnormal), for reports.
    """

    name: str
    dist: _Frozen
    kind: str = ""


class ZTransform:
    """``theta = F^-1(Phi(z))`` and back, for a list of parameters (vectorised over walkers).

    Parameters
    ----------
    specs : sequence of ParameterSpec
    """

    def __init__(self, specs: Sequence[ParameterSpec]) -> None:
        self.specs = list(specs)
        self.names = [s.name for s in self.specs]
        self._bounds = [tuple(float(b) for b in s.dist.support()) for s in self.specs]
        self._fast = [_closed_form(s.dist) for s in self.specs]

    @property
    def ndim(self) -> int:
        return len(self.specs)

    def to_theta(self, z: np.ndarray) -> np.ndarray:
        """Parameter values (last axis: parameters, in order) for points ``z`` in normal space.

        Every value lies inside its prior's support, the open support strictly inside (a
        lognormal value is > 0, a logit-normal one in (0, 1)).
        """
        z = np.clip(np.asarray(z, dtype=float), -_Z_LIMIT, _Z_LIMIT)
        if z.shape[-1] != self.ndim:
            raise LeptotwinError(
                "wrong number of coordinates", field="z", value=z.shape[-1], expected=self.ndim
            )
        out = np.empty_like(z)
        for i, spec in enumerate(self.specs):
            zi = z[..., i]
            fast = self._fast[i]
            if fast is not None:
                x = fast.forward(zi)
            else:
                lower = zi <= 0
                with np.errstate(all="ignore"):
                    below = spec.dist.ppf(special.ndtr(np.where(lower, zi, 0.0)))
                    above = spec.dist.isf(special.ndtr(-np.where(lower, 0.0, zi)))
                x = np.where(lower, below, above)
            lo, hi = self._bounds[i]
            # inside the support, strictly so at an open end (0 of a lognormal, 0 and 1 of a
            # logit-normal): Phi(z) rounds to 0 or 1 only beyond |z| ~ 8 for some families
            if np.isfinite(lo):
                x = np.maximum(x, np.nextafter(lo, np.inf) if spec.kind in _OPEN_LOW else lo)
            if np.isfinite(hi):
                x = np.minimum(x, np.nextafter(hi, -np.inf) if spec.kind in _OPEN_HIGH else hi)
            out[..., i] = x
        return out

    def to_z(self, theta: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_theta` (``Phi^-1(F(theta))``, from the nearer tail)."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape[-1] != self.ndim:
            raise LeptotwinError(
                "wrong number of values", field="theta", value=theta.shape[-1], expected=self.ndim
            )
        out = np.empty_like(theta)
        for i, spec in enumerate(self.specs):
            x = theta[..., i]
            fast = self._fast[i]
            with np.errstate(all="ignore"):
                if fast is not None:
                    zi = fast.inverse(x)
                else:
                    cdf = np.asarray(spec.dist.cdf(x), dtype=float)
                    sf = np.asarray(spec.dist.sf(x), dtype=float)
                    zi = np.where(cdf <= 0.5, special.ndtri(cdf), -special.ndtri(sf))
            out[..., i] = np.clip(zi, -_Z_LIMIT, _Z_LIMIT)
        return out

    def medians(self) -> np.ndarray:
        """The prior medians (``z = 0``)."""
        return np.array([float(s.dist.median()) for s in self.specs])


_OPEN_LOW = {"lognormal", "logitnormal"}
_OPEN_HIGH = {"logitnormal"}


def _phi(z: np.ndarray) -> np.ndarray:
    """``Phi(z)`` from the nearer tail."""
    return np.where(z <= 0, special.ndtr(z), 1.0 - special.ndtr(-z))


def _phi_inv(u: np.ndarray) -> np.ndarray:
    """``Phi^-1(u)`` from the nearer tail (exact for u near 1 as well as near 0)."""
    u = np.asarray(u, dtype=float)
    return np.where(u <= 0.5, special.ndtri(u), -special.ndtri(1.0 - u))


class _ClosedForm:
    """``z -> theta`` and ``theta -> z`` in closed form for one prior family (picklable, for a
    process pool); ``x = loc + scale * y`` with ``y`` the standard member of the family."""

    def __init__(self, family: str, shapes: tuple[float, ...], loc: float, scale: float) -> None:
        self.family, self.shapes, self.loc, self.scale = family, shapes, loc, scale

    def forward(self, z: np.ndarray) -> np.ndarray:
        f, sh = self.family, self.shapes
        if f == "norm":
            y = z
        elif f == "lognorm":
            y = np.exp(sh[0] * z)
        elif f == "logitnormal":
            y = special.expit(sh[0] + sh[1] * z)
        elif f == "uniform":
            y = _phi(z)
        else:  # loguniform on [exp(a), exp(b)]
            y = np.exp(sh[0] + (sh[1] - sh[0]) * _phi(z))
        return self.loc + self.scale * y

    def inverse(self, x: np.ndarray) -> np.ndarray:
        f, sh = self.family, self.shapes
        y = (np.asarray(x, dtype=float) - self.loc) / self.scale
        if f == "norm":
            return y
        if f == "lognorm":
            return np.log(y) / sh[0]
        if f == "logitnormal":
            return (special.logit(y) - sh[0]) / sh[1]
        if f == "uniform":
            return _phi_inv(y)
        return _phi_inv((np.log(y) - sh[0]) / (sh[1] - sh[0]))


def _closed_form(dist: Any) -> _ClosedForm | None:
    """The closed-form transform for the prior families of the catalogue (scipy's ``norm``,
    ``lognorm``, ``uniform``, ``loguniform`` and leptotwin's ``logitnormal``), else None (the
    generic ``ppf``/``isf`` path). Same result as the generic path, without scipy's per-call
    overhead (the sampler calls it for every walker and step)."""
    try:
        name = dist.dist.name
        shapes, loc, scale = dist.dist._parse_args(*dist.args, **dist.kwds)
    except (AttributeError, TypeError):
        return None
    sh = tuple(float(v) for v in shapes)
    if name in ("loguniform", "reciprocal"):
        return _ClosedForm("loguniform", (math.log(sh[0]), math.log(sh[1])), loc, scale)
    if name in ("norm", "lognorm", "logitnormal", "uniform"):
        return _ClosedForm(name, sh, float(loc), float(scale))
    return None


def log_prior_z(z: np.ndarray) -> np.ndarray | float:
    """``sum_i log N(z_i; 0, 1)`` over the last axis."""
    z = np.asarray(z, dtype=float)
    return -0.5 * np.sum(z * z, axis=-1) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


class LogPosteriorZ:
    """The log posterior in normal space: ``log N(z) + log_likelihood(theta(z))``.

    A picklable callable (so emcee may hand it to a process pool). ``log_likelihood`` receives
    the parameter values as a 1-D array in the order of ``transform.names``; a non-finite value
    or an exception of type :class:`LeptotwinError`, :class:`ArithmeticError` or
    :class:`ValueError` counts as ``-inf`` (a region the model cannot evaluate). With
    ``vectorized`` the likelihood takes a 2-D array (walkers x parameters) and returns one value
    per row.
    """

    def __init__(
        self,
        transform: ZTransform,
        log_likelihood: Callable[[np.ndarray], float] | Callable[[np.ndarray], np.ndarray],
        *,
        vectorized: bool = False,
    ) -> None:
        self.transform = transform
        self.log_likelihood = log_likelihood
        self.vectorized = vectorized
        self.n_calls = 0
        self.seconds = 0.0

    def __call__(self, z: np.ndarray) -> Any:
        t0 = time.perf_counter()
        z = np.asarray(z, dtype=float)
        theta = self.transform.to_theta(z)
        prior = log_prior_z(z)
        if self.vectorized:
            ll = np.asarray(self.log_likelihood(theta), dtype=float)  # type: ignore[arg-type]
            out: Any = np.where(np.isfinite(ll), prior + ll, -np.inf)
            self.n_calls += len(ll)
        else:
            try:
                ll = float(self.log_likelihood(theta))  # type: ignore[arg-type]
            except (LeptotwinError, ArithmeticError, ValueError):
                ll = -math.inf
            out = float(prior) + ll if math.isfinite(ll) else -math.inf
            self.n_calls += 1
        self.seconds += time.perf_counter() - t0
        return out


@dataclass
class EnsembleRun:
    """What :func:`run_ensemble` returns.

    Attributes
    ----------
    z_chain : ndarray, shape (n_steps, n_walkers, ndim)
        Every step of every walker, in normal space (burn-in included).
    log_prob : ndarray, shape (n_steps, n_walkers)
    acceptance : ndarray, shape (n_walkers,)
        Acceptance fraction of each walker over the whole run.
    tau : ndarray, shape (ndim,)
        emcee's integrated autocorrelation time (steps) after the burn-in (``tol=0``: always
        returned, no log line); an estimate, unreliable when the chain is shorter than ~50 tau.
    burn : int
    z_start : ndarray, shape (n_walkers, ndim)
    z_map : ndarray or None
        The optimiser's maximum a posteriori point (normal space), when one was searched.
    n_evaluations : int
        Log-posterior evaluations (the optimiser's included).
    seconds : float
        Wall time of the run (the optimiser's included).
    """

    z_chain: np.ndarray
    log_prob: np.ndarray
    acceptance: np.ndarray
    tau: np.ndarray
    burn: int
    z_start: np.ndarray
    z_map: np.ndarray | None = None
    n_evaluations: int = 0
    seconds: float = 0.0
    map_evaluations: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def kept(self, thin: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The steps after burn-in, every ``thin``-th: (z of shape (steps, walkers, ndim),
        log posterior of shape (steps, walkers))."""
        return self.z_chain[self.burn :: thin], self.log_prob[self.burn :: thin]


def find_map(
    log_post: Callable[[np.ndarray], float],
    ndim: int,
    *,
    z0: np.ndarray | None = None,
    max_evaluations: int | None = None,
) -> tuple[np.ndarray, float, int]:
    """The maximum a posteriori point in normal space, by Powell's derivative-free method
    (bounded to ``|z| <= 6``; the readouts need not be smooth to the optimiser's step).

    Returns
    -------
    (z, log posterior at z, evaluations used)
    """
    start = np.zeros(ndim) if z0 is None else np.asarray(z0, dtype=float)
    n = 0

    def objective(z: np.ndarray) -> float:
        nonlocal n
        n += 1
        v = log_post(z)
        # -inf (a region the model cannot evaluate): a large penalty that still points home
        return -v if math.isfinite(v) else 1e12 * (1.0 + float(z @ z))

    budget = max_evaluations if max_evaluations is not None else 150 * ndim
    res = optimize.minimize(
        objective,
        start,
        method="Powell",
        bounds=[(-6.0, 6.0)] * ndim,
        options={"maxfev": budget, "xtol": 1e-3, "ftol": 1e-6},
    )
    best = np.asarray(res.x, dtype=float)
    value = log_post(best)
    at_start = log_post(start)  # once (a lock-step caller pays a round per call)
    if not math.isfinite(value) or value < at_start:
        best, value = start, at_start
    return best, float(value), n


def laplace_scales(
    log_post: Callable[[np.ndarray], float],
    z_map: np.ndarray,
    *,
    step: float = 0.1,
    floor: float = 0.02,
    vectorize: bool = False,
) -> tuple[np.ndarray, int]:
    """Per-parameter posterior SDs at the mode, from the curvature along each axis (a diagonal
    Laplace approximation; central differences of width ``step`` in normal space).

    The prior alone has curvature 1 (SD 1) in normal space, so a parameter the targets do not
    inform gets SD 1 (its prior) and an informed one less; the SD is kept in ``[floor, 1]``
    (a curvature below the prior's is numerical noise). A side where the log posterior is
    ``-inf`` (the model fails there) counts as a steep wall (SD ``step / 4``). The SDs are
    conditional ones (correlations are ignored): the initial ball is a little narrower than the
    posterior along correlated directions, which the burn-in absorbs.

    With ``vectorize`` ``log_post`` takes the ``2 d + 1`` points (rows: the mode, then up and
    down along each axis) in one call and returns one value per row; the same points as one
    at a time, so the same SDs for a ``log_post`` whose rows do not depend on each other.

    Returns
    -------
    (SDs, evaluations used)
    """
    z0 = np.asarray(z_map, dtype=float)
    points = [z0]
    for i in range(z0.size):
        e = np.zeros(z0.size)
        e[i] = step
        points += [z0 + e, z0 - e]
    if vectorize:
        values = [float(v) for v in np.asarray(log_post(np.array(points)), dtype=float)]
    else:
        values = [float(log_post(z)) for z in points]
    f0 = values[0]
    out = np.ones(z0.size)
    n = len(points)
    for i in range(z0.size):
        up, down = values[1 + 2 * i], values[2 + 2 * i]
        if not (math.isfinite(up) and math.isfinite(down) and math.isfinite(f0)):
            out[i] = step / 4
            continue
        curvature = -(up + down - 2.0 * f0) / step**2
        out[i] = 1.0 if curvature <= 1.0 else 1.0 / math.sqrt(curvature)
    return np.clip(out, floor, 1.0), n


def run_ensemble(
    log_post: Callable[[np.ndarray], Any],
    ndim: int,
    *,
    n_walkers: int,
    n_steps: int,
    burn: int,
    seed: int,
    z_center: np.ndarray | None = None,
    init_scale: float | np.ndarray = 1.0,
    z_start: np.ndarray | None = None,
    moves: str = "de",
    pool: Any = None,
    vectorize: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> EnsembleRun:
    """Run emcee's ensemble sampler in normal space.

    Parameters
    ----------
    log_post : callable
        ``z -> log posterior`` (1-D ``z``; with ``vectorize``: 2-D, walkers x ndim, -> 1-D).
    ndim, n_walkers, n_steps, burn, seed : int
        ``n_walkers >= 2 ndim`` (the stretch move needs it), ``0 <= burn < n_steps``.
    z_center : ndarray, optional
        Centre of the initial ball (default: the prior median, 0).
    init_scale : float or ndarray
        SD of the initial ball in normal space, per parameter or for all (prior SD = 1: the
        default starts the walkers at prior draws around ``z_center``).
    z_start : ndarray, optional
        The walkers' start points (shape (n_walkers, ndim)) instead of a ball; a start point
        where the posterior is not finite is redrawn from the ball.
    moves : {"de", "stretch"}
        Proposal: ``de`` (default) mixes differential-evolution moves at the optimal scale
        (90 %) and at scale 1 (10 %); ``stretch`` is Goodman & Weare's stretch move (see the
        module docstring).
    pool : object with ``map``, optional
        Evaluates the walkers of a half-ensemble in parallel (order is kept: deterministic).
    progress : callable, optional
        Called as ``progress(step, n_steps)`` after each step.

    Raises
    ------
    LeptotwinError
        For settings emcee cannot run, or when no start point has a finite log posterior.
    """
    import emcee

    check_settings(ndim=ndim, n_walkers=n_walkers, n_steps=n_steps, burn=burn)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    center = np.zeros(ndim) if z_center is None else np.asarray(z_center, dtype=float)
    scale = np.broadcast_to(np.asarray(init_scale, dtype=float), (ndim,))
    ball = center + scale * rng.standard_normal((n_walkers, ndim))
    if z_start is not None:
        start = np.array(z_start, dtype=float)
        if start.shape != (n_walkers, ndim):
            raise LeptotwinError(
                "start points of the wrong shape",
                field="z_start",
                value=start.shape,
                expected=f"({n_walkers}, {ndim})",
            )
    else:
        start = ball
    # every walker must start where the posterior is finite: redraw the others nearer the centre
    lp0 = _evaluate(log_post, start, vectorize=vectorize, pool=pool)
    n_eval = n_walkers
    for attempt in range(20):
        bad = ~np.isfinite(lp0)
        if not bad.any():
            break
        shrink = 0.5 ** (attempt + 1)
        start[bad] = center + shrink * scale * rng.standard_normal((int(bad.sum()), ndim))
        lp0[bad] = _evaluate(log_post, start[bad], vectorize=vectorize, pool=pool)
        n_eval += int(bad.sum())
    if not np.isfinite(lp0).all():
        raise LeptotwinError(
            "the log posterior is not finite at any start point near the centre",
            field="z_center",
            value=[round(float(c), 3) for c in center],
            expected="a point where the model and the targets can be evaluated",
        )
    sampler = emcee.EnsembleSampler(
        n_walkers, ndim, log_post, pool=pool, vectorize=vectorize, moves=_moves(moves)
    )
    sampler.random_state = np.random.RandomState(int(rng.integers(2**32 - 1))).get_state()
    state = emcee.State(start, log_prob=lp0)
    for i, _ in enumerate(sampler.sample(state, iterations=n_steps), start=1):
        if progress is not None:
            progress(i, n_steps)
    n_eval += n_walkers * n_steps
    chain = sampler.get_chain()
    lp = sampler.get_log_prob()
    # tol=0: the estimate without emcee's "chain shorter than 50 tau" log line; the
    # calibration reports steps / tau itself
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # a walker that never moved (a very short run) makes emcee divide 0 by 0: tau is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        tau = np.asarray(sampler.get_autocorr_time(discard=burn, tol=0), dtype=float)
    return EnsembleRun(
        z_chain=np.asarray(chain),
        log_prob=np.asarray(lp),
        acceptance=np.asarray(sampler.acceptance_fraction, dtype=float),
        tau=tau,
        burn=burn,
        z_start=start,
        z_map=None if z_center is None else center,
        n_evaluations=n_eval,
        seconds=time.perf_counter() - t0,
    )


MOVES = ("de", "stretch")
"""The proposals :func:`run_ensemble` offers."""


def _moves(name: str) -> Any:
    import emcee

    if name == "de":
        return [(emcee.moves.DEMove(), 0.9), (emcee.moves.DEMove(gamma0=1.0), 0.1)]
    if name == "stretch":
        return emcee.moves.StretchMove()
    raise LeptotwinError("unknown proposal", field="moves", value=name, expected="de or stretch")


def importance_start(
    log_post: Callable[[np.ndarray], Any],
    z_map: np.ndarray,
    scales: np.ndarray,
    n_walkers: int,
    *,
    seed: int,
    n_candidates: int | None = None,
    pool: Any = None,
    vectorize: bool = False,
) -> tuple[np.ndarray, dict[str, float]]:
    """Start points for the walkers: an importance sample of the posterior.

    Candidates come from a defensive mixture (Hesterberg 1995, Technometrics 37:185): half
    from the prior (``N(0, I)`` in normal space), half from the Laplace ball
    ``N(z_map, diag(scales^2))``; each is weighted by posterior / mixture density, and the
    walkers are ``n_walkers`` candidates drawn without replacement in proportion to their
    weights (Gumbel top-k). When the posterior is about as wide as the prior the walkers start
    close to their stationary spread (no slow expansion from a point); when it is narrow they
    start in the Laplace ball. Costs ``n_candidates`` evaluations (default ``4 x n_walkers``).

    Returns
    -------
    (start points of shape (n_walkers, ndim), {"n_candidates", "weight_ess", "from_prior"})
    """
    z_map = np.asarray(z_map, dtype=float)
    scales = np.broadcast_to(np.asarray(scales, dtype=float), z_map.shape)
    ndim = z_map.size
    k = int(n_candidates) if n_candidates is not None else 4 * n_walkers
    k = max(k, n_walkers)
    rng = np.random.default_rng([seed, 7])
    n_prior = k // 2
    cand = np.concatenate(
        [
            rng.standard_normal((n_prior, ndim)),
            z_map + scales * rng.standard_normal((k - n_prior, ndim)),
        ]
    )
    lp = _evaluate(log_post, cand, vectorize=vectorize, pool=pool)
    log_prior = -0.5 * np.sum(cand**2, axis=1)
    log_ball = -0.5 * np.sum(((cand - z_map) / scales) ** 2, axis=1) - np.sum(np.log(scales))
    log_q = np.logaddexp(log_prior, log_ball)  # common constants dropped on both sides
    with np.errstate(invalid="ignore"):
        log_w = np.where(np.isfinite(lp), lp - log_q, -np.inf)
    finite = np.isfinite(log_w)
    w = np.exp(log_w - log_w[finite].max()) if finite.any() else np.zeros(k)
    ess = float(w.sum() ** 2 / np.sum(w**2)) if finite.any() else 0.0
    keys = np.where(finite, log_w + rng.gumbel(size=k), -np.inf)
    order = np.argsort(-keys, kind="stable")[:n_walkers]
    start = cand[order]
    return start, {
        "n_candidates": float(k),
        "weight_ess": ess,
        "from_prior": float(np.mean(order < n_prior)),
    }


def _evaluate(log_post: Callable, z: np.ndarray, *, vectorize: bool, pool: Any) -> np.ndarray:
    if vectorize:
        return np.asarray(log_post(z), dtype=float)
    mapper = pool.map if pool is not None else map
    return np.array(list(mapper(log_post, list(z))), dtype=float)


def check_settings(*, ndim: int, n_walkers: int, n_steps: int, burn: int, thin: int = 1) -> None:
    """Refuse sampler settings that cannot give a posterior (a LeptotwinError naming the field)."""
    for name, v in (("n_walkers", n_walkers), ("n_steps", n_steps), ("burn", burn), ("thin", thin)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise LeptotwinError("not an integer", field=name, value=v, expected="an integer")
    if ndim < 1:
        raise LeptotwinError("nothing to calibrate", field="parameters", expected="≥ 1 parameter")
    # the differential-evolution moves draw a pair from the other half of the walkers
    least = max(2 * ndim, 4)
    if n_walkers < least:
        raise LeptotwinError(
            "too few walkers for the ensemble sampler",
            field="n_walkers",
            value=n_walkers,
            expected=f"at least 2 x the number of parameters and at least 4 ({least})",
        )
    if n_steps < 1:
        raise LeptotwinError("too few steps", field="n_steps", value=n_steps, expected="≥ 1")
    if not 0 <= burn < n_steps:
        raise LeptotwinError(
            "burn-in must be shorter than the run",
            field="burn",
            value=burn,
            expected=f"0 <= burn < n_steps ({n_steps})",
        )
    if thin < 1:
        raise LeptotwinError("thin must be at least 1", field="thin", value=thin, expected="≥ 1")
