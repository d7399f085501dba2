"""Per-subject, counter-based random streams and a cohort runner that can be split into chunks.

:func:`~leptotwin.model.cohort.simulate_lmc` draws every subject's randomness from one
``numpy.random.Generator``, so a subject's draws depend on how many subjects came before it. To
simulate a cohort in pieces — on several processes or a cluster — and get the *same bits* as a
single run, every random number here is a pure function of

    (seed, arm name, subject index within the arm, draw number)

computed with a counter-based generator: the subject's 64-bit key is derived from the seed, the
arm and the index by SplitMix64 mixing (Steele, Lea & Flood 2014), and the n-th draw of a subject
is the SplitMix64 output at position n of that key (double-mixed). No state is carried between
calls except the draw counter, which advances once per call and is the same for every subject of
an arm (the model asks for the same draws, in the same order, for every subject). Normals use the
inverse normal CDF, Poisson counts inversion of the CDF (one uniform per draw, so a subject's
count never depends on another subject's).

Consequences: subject j of arm "alectinib" gets the same mouse (PK, engraftment, growth scale,
switching) whatever the chunking, the number of subjects per arm or the other arms; the same
seed gives a different cohort than ``simulate_lmc(rng=default_rng(seed))`` (a different
generator). Floating-point work is element-wise per subject, so chunked runs are bit-identical to
a single-process run on the same kind of CPU (tested).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.cohort import Arm, CohortResult, _check_inoculum, simulate_lmc
from leptotwin.model.pk import SubjectPK, draw_subjects
from leptotwin.model.regimen import Regimen, _as_regimens, _shifted
from leptotwin.model.tumor import TumorParameters

__all__ = [
    "SubjectDraws",
    "SubjectStreams",
    "chunk_bounds",
    "concat_cohorts",
    "simulate_lmc_subjects",
    "subject_draws",
]

_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64 increment (golden ratio)
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_SALT = 0xD1B54A32D192ED03
_U53 = 1.0 / 9007199254740992.0  # 2**-53
_POISSON_INVERSION_MAX = 30.0  # above this mean, invert with scipy's Poisson quantile


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic, new array)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(_M1)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def _key64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class SubjectStreams:
    """Independent random streams for a set of subjects, keyed by (seed, key, subject index).

    Implements the part of :class:`numpy.random.Generator` that the model uses (``normal``,
    ``poisson``, plus ``random``), element i of every draw coming from subject ``subjects[i]``'s
    own stream. Pass it as ``rng`` to :func:`~leptotwin.model.cohort.simulate_lmc` or
    :func:`~leptotwin.model.pk.draw_subjects`.

    Parameters
    ----------
    seed : int
        0 ≤ seed < 2**64.
    key : str
        Names the population the indices count in (the arm name in cohort runs).
    subjects : array of int, shape (n,)
        Subject indices within ``key`` (≥ 0).

    Raises
    ------
    LeptotwinError
        For a negative or too large seed, or a negative subject index.
    """

    def __init__(self, seed: int, key: str, subjects: ArrayLike) -> None:
        if (
            isinstance(seed, bool)
            or not isinstance(seed, int | np.integer)
            or not (0 <= int(seed) < 2**64)
        ):
            raise LeptotwinError("seed must be an integer in [0, 2**64)", field="seed", value=seed)
        ids = np.asarray(subjects)
        if ids.ndim != 1 or (ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0)):
            raise LeptotwinError(
                "subject indices must be a 1-D array of integers >= 0",
                field="subjects",
                value=subjects if ids.size < 10 else f"array of shape {ids.shape}",
            )
        self.seed = int(seed)
        self.key = key
        self.subjects = ids.astype(np.int64)
        base = _mix(np.array([self.seed], dtype=np.uint64) + np.uint64(_GAMMA))
        base = base ^ np.uint64(_key64(key))
        offsets = (self.subjects.astype(np.uint64) + np.uint64(1)) * np.uint64(_GAMMA)
        self._keys = _mix(_mix(base + offsets))  # (n,) one 64-bit key per subject
        self.counter = 0

    @property
    def n_subjects(self) -> int:
        return int(self.subjects.size)

    def _check_size(self, size: Any) -> None:
        if size is None:
            return
        shape = (size,) if isinstance(size, int | np.integer) else tuple(size)
        if shape != (self.n_subjects,):
            raise LeptotwinError(
                "per-subject streams draw one value per subject",
                field="size",
                value=size,
                expected=f"{self.n_subjects} or ({self.n_subjects},)",
            )

    def _bits(self) -> np.ndarray:
        pos = np.uint64((self.counter + 1) * _GAMMA % 2**64)
        self.counter += 1
        return _mix(_mix(self._keys + pos) ^ np.uint64(_SALT))

    def random(self, size: Any = None) -> np.ndarray:
        """Uniform on the open interval (0, 1), shape (n,)."""
        self._check_size(size)
        return ((self._bits() >> np.uint64(11)).astype(np.float64) + 0.5) * _U53

    def normal(self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0, size: Any = None) -> np.ndarray:
        """Normal draws, shape (n,) (inverse-CDF of one uniform per subject)."""
        self._check_size(size)
        return np.asarray(loc, dtype=float) + np.asarray(scale, dtype=float) * special.ndtri(
            self.random()
        )

    def poisson(self, lam: ArrayLike = 1.0, size: Any = None) -> np.ndarray:
        """Poisson counts (float64 array of integers) by inversion of one uniform per subject.

        ``lam`` broadcasts to (n,); a mean of 0 gives 0. Means up to 30 are inverted by summing
        the probabilities, larger ones with :func:`scipy.stats.poisson.ppf`.
        """
        self._check_size(size)
        lam_a = np.broadcast_to(np.asarray(lam, dtype=float), (self.n_subjects,))
        if np.any(~np.isfinite(lam_a) | (lam_a < 0)):
            raise LeptotwinError("Poisson mean must be finite and >= 0", field="lam")
        u = self.random()
        k = np.zeros(self.n_subjects)
        small = lam_a <= _POISSON_INVERSION_MAX
        p = np.exp(-lam_a, where=small, out=np.zeros(self.n_subjects))
        cdf = p.copy()
        active = np.flatnonzero(small & (lam_a > 0) & (u > cdf))
        steps = 0
        while active.size and steps < 400:
            steps += 1
            k[active] += 1.0
            p[active] *= lam_a[active] / k[active]
            cdf[active] += p[active]
            active = active[(u[active] > cdf[active]) & (p[active] > 0.0)]
        big = ~small
        if big.any():
            from scipy.stats import poisson

            k[big] = poisson.ppf(u[big], lam_a[big])
        return k


def chunk_bounds(n_total: int, chunk_size: int) -> list[tuple[int, int]]:
    """Split ``range(n_total)`` into consecutive ``(start, stop)`` pieces of ``chunk_size``."""
    if n_total < 1 or chunk_size < 1:
        raise LeptotwinError(
            "need at least one subject and a chunk size >= 1",
            field="chunk_size",
            value=(n_total, chunk_size),
        )
    return [(a, min(a + chunk_size, n_total)) for a in range(0, n_total, chunk_size)]


@dataclass(frozen=True)
class _Piece:
    arm_index: int
    first: int  # index within the arm
    count: int


def _pieces(n_arms: int, n_per_arm: int, start: int, stop: int) -> list[_Piece]:
    out = []
    for a in range(n_arms):
        lo, hi = max(start, a * n_per_arm), min(stop, (a + 1) * n_per_arm)
        if hi > lo:
            out.append(_Piece(a, lo - a * n_per_arm, hi - lo))
    return out


def simulate_lmc_subjects(
    arms: Sequence[Arm],
    *,
    n_per_arm: int,
    days: float,
    observe_days: Sequence[float],
    seed: int,
    start: int = 0,
    stop: int | None = None,
    catalog: Catalog | None = None,
    **options: Any,
) -> CohortResult:
    """Simulate subjects ``start``–``stop`` (global numbering, arm-major as in
    :func:`~leptotwin.model.cohort.simulate_lmc`) of a cohort with per-subject streams.

    Subject ``a * n_per_arm + j`` is subject j of ``arms[a]``; its randomness is
    ``SubjectStreams(seed, arms[a].name, [j])``. Any split of ``range(len(arms) * n_per_arm)``
    into pieces, concatenated with :func:`concat_cohorts`, equals the whole range bit for bit.

    Parameters
    ----------
    arms, n_per_arm, days, observe_days
        As for :func:`~leptotwin.model.cohort.simulate_lmc`.
    seed : int
    start, stop : int
        The global subject range (default: the whole cohort).
    catalog : Catalog, optional
    **options
        Passed to :func:`~leptotwin.model.cohort.simulate_lmc` (``inoculum``, ``species``,
        ``dt_h``, ``stochastic``, ``model``, ``tumor``, ``clones``, ``cancelled``); not ``rng``.

    Returns
    -------
    CohortResult
        Rows for the requested subjects only, ``subject`` in global numbering.

    Raises
    ------
    LeptotwinError
        For an empty or out-of-range subject range, duplicate arm names, or an ``rng`` option.
    """
    if "rng" in options:
        raise LeptotwinError(
            "per-subject streams replace the generator", field="rng", expected="seed=..."
        )
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise LeptotwinError("arm names must be unique (they key the streams)", value=names)
    if n_per_arm < 1 or not arms:
        raise LeptotwinError(
            "need at least one arm and one subject per arm", field="n_per_arm", value=n_per_arm
        )
    n_total = len(arms) * n_per_arm
    stop = n_total if stop is None else stop
    if not (0 <= start < stop <= n_total):
        raise LeptotwinError(
            "subject range outside the cohort",
            field="start/stop",
            value=(start, stop),
            expected=f"0 <= start < stop <= {n_total}",
        )
    cat = catalog or load_catalog()
    parts = []
    for piece in _pieces(len(arms), n_per_arm, start, stop):
        arm = arms[piece.arm_index]
        local = np.arange(piece.first, piece.first + piece.count)
        rng = SubjectStreams(seed, arm.name, local)
        res = simulate_lmc(
            [arm],
            n_per_arm=piece.count,
            days=days,
            observe_days=observe_days,
            rng=rng,  # type: ignore[arg-type]  # duck-typed: normal() and poisson()
            catalog=cat,
            **options,
        )
        parts.append(_relabel(res, piece.arm_index * n_per_arm + local))
    return concat_cohorts(parts)


def _relabel(res: CohortResult, global_ids: np.ndarray) -> CohortResult:
    def relabel(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["subject"] = global_ids[frame["subject"].to_numpy()]
        return frame

    return CohortResult(
        relabel(res.observations), relabel(res.survival), relabel(res.subjects), res.clones
    )


def concat_cohorts(parts: Iterable[CohortResult]) -> CohortResult:
    """Join results of disjoint subject ranges into one, ordered as a single run orders them
    (observations by day then subject; survival and subjects by subject).

    Raises
    ------
    LeptotwinError
        If no parts are given, the clones differ, or a subject appears twice.
    """
    parts = list(parts)
    if not parts:
        raise LeptotwinError("no cohort pieces to join", field="parts")
    clones = parts[0].clones
    if any(p.clones != clones for p in parts):
        raise LeptotwinError("cohort pieces have different clones", field="clones")
    subjects = pd.concat([p.subjects for p in parts], ignore_index=True)
    dup = subjects["subject"].duplicated()
    if dup.any():
        raise LeptotwinError(
            "a subject appears in more than one piece",
            field="subject",
            value=int(subjects.loc[dup, "subject"].iloc[0]),
        )
    if len(parts) == 1:
        return parts[0]
    obs = pd.concat([p.observations for p in parts], ignore_index=True)
    obs = obs.sort_values(["day", "subject"], kind="stable", ignore_index=True)
    surv = pd.concat([p.survival for p in parts], ignore_index=True)
    surv = surv.sort_values("subject", kind="stable", ignore_index=True)
    subjects = subjects.sort_values("subject", kind="stable", ignore_index=True)
    return CohortResult(obs, surv, subjects, clones)


@dataclass(frozen=True)
class SubjectDraws:
    """What subject j of an arm drew (see :func:`subject_draws`).

    pk : drug → SubjectPK of one subject (parent drugs; metabolites use typical values)
    regimens : drug → regimens shifted to the treatment start (h after inoculation)
    engrafted_cells, rate_scale : the engrafted inoculum and the in-vivo growth-rate scale
    founders_R : AREG-high cells in a parental inoculum (expected value; 0 for A925L/AR)
    """

    pk: dict[str, SubjectPK]
    regimens: dict[str, tuple[Regimen, ...]]
    engrafted_cells: float
    rate_scale: float
    founders_R: float


def subject_draws(
    arm: Arm,
    *,
    subject: int,
    seed: int,
    inoculum: str = "A925L/AR",
    species: str = "mouse",
    catalog: Catalog | None = None,
    tumor: TumorParameters | None = None,
) -> SubjectDraws:
    """The random draws of subject ``subject`` of ``arm``, made in the order in which
    :func:`simulate_lmc_subjects` makes them (PK per drug of the arm, then engraftment, then the
    growth-rate scale), so an export or a re-simulation of one subject sees the same mouse.

    Raises
    ------
    LeptotwinError
        For a negative subject index, an unknown inoculum, drug or species.
    """
    if isinstance(subject, bool) or not isinstance(subject, int | np.integer) or subject < 0:
        raise LeptotwinError(
            "subject must be an index >= 0 within the arm", field="subject", value=subject
        )
    _check_inoculum(inoculum)
    cat = catalog or load_catalog()
    tp = tumor or TumorParameters.from_catalog(cat, species=species)
    rng = SubjectStreams(seed, arm.name, [int(subject)])
    t0 = tp.treatment_start_d * 24.0
    pk, regimens = {}, {}
    for drug, reg in arm.regimens.items():
        pk[drug] = draw_subjects(  # type: ignore[arg-type]
            cat.pk_parameters(drug, species), 1, rng=rng, catalog=cat
        )
        regimens[drug] = _shifted(_as_regimens(reg), t0)
    engrafted = tp.inoculum_cells * np.exp(rng.normal(0.0, tp.engraftment_sd, 1))
    rate_scale = tp.in_vivo_rate_scale * np.exp(rng.normal(0.0, tp.rate_scale_sd, 1))
    founders = engrafted * tp.switch_rate * tp.culture_generations
    return SubjectDraws(
        pk=pk,
        regimens=regimens,
        engrafted_cells=float(engrafted[0]),
        rate_scale=float(rate_scale[0]),
        founders_R=float(founders[0]) if inoculum == "A925LPE3" else 0.0,
    )
