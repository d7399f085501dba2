"""Compile the numba kernels that ``leptotwin reproduce`` needs into numba's on-disk cache.

``make venv`` (and so the first ``make reproduce``) runs ``python -m leptotwin._warmup`` once after
installing, so that the first study does not spend half a minute of one core compiling the
dose-response kernels (:mod:`leptotwin.analysis._kernels`: ``pack_curves`` and ``fit_curves``,
with the ``_fit_range`` and ``_solve_lm`` they call). The kernels are compiled through the same
public path the study uses (:func:`~leptotwin.analysis._drfit.make_batch` and
:func:`~leptotwin.analysis._drfit.fit_batch` on a small plate), so the cached signatures are
exactly the ones a run looks up; every model and option of that fitter shares them.

Where the cache goes is numba's choice, the same in the warm-up and in later runs:
``NUMBA_CACHE_DIR`` when set (then set it for the runs too), else ``__pycache__`` next to the
source (an editable install, a writable site-packages), else numba's per-user cache directory (a
read-only install). Where none is writable the kernels are compiled without a cache
(``_kernels._jit``) and every run compiles them again; the warm-up says so.

Stale entries cannot be used: numba 0.68 keys each cache index on a SHA-256 of the kernel's source
file (earlier versions on its modification time and size), and each entry on the signature, the
numba version and the CPU; an edited ``_kernels.py`` therefore recompiles. One caveat numba
documents: a cached kernel that calls a jitted function *from another file* is not invalidated when
only that other file changes; every kernel warmed here calls only functions of ``_kernels.py``.

The other kernels (``leptotwin synergy``'s, the general imzML scanner) are not warmed: ``reproduce``
does not use them; they compile on first use and are cached then.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["KERNELS", "cache_dirs", "warm_up"]


def _dispatchers() -> dict[str, object]:
    from leptotwin.analysis import _kernels

    return {"pack_curves": _kernels.pack_curves, "fit_curves": _kernels.fit_curves}


def cache_dirs() -> dict[str, Path | None]:
    """Where each warmed kernel is cached (``None``: compiled without a cache)."""
    out: dict[str, Path | None] = {}
    for name, disp in _dispatchers().items():  # numba's NullCache has no cache_path
        cache = getattr(disp, "_cache", None)
        path = getattr(cache, "cache_path", None)
        out[name] = Path(path) if path else None
    return out


#: The kernels warmed, in order (``fit_curves`` brings ``_fit_range`` and ``_solve_lm``).
KERNELS = ("pack_curves", "fit_curves")


def warm_up(kernels: tuple[str, ...] = KERNELS) -> dict[str, float]:
    """Compile (or load from the cache) the kernels ``reproduce`` uses; seconds per kernel.

    ``kernels`` picks some of :data:`KERNELS` (``fit_curves`` needs ``pack_curves`` first and
    runs it too)."""
    import numpy as np

    from leptotwin.analysis._drfit import fit_batch, make_batch
    from leptotwin.analysis._llmodels import get_model

    unknown = set(kernels) - set(KERNELS)
    if unknown:
        raise ValueError(f"unknown kernels {sorted(unknown)}; known: {', '.join(KERNELS)}")
    times: dict[str, float] = {}
    # two 9-dose curves in triplicate, dose 0 included: the layout of a viability plate
    dose = np.tile(np.r_[0.0, np.logspace(-2, 2, 8)], 3)
    codes = np.repeat(np.arange(2), dose.size)
    response = np.concatenate([100.0 / (1.0 + (dose / e) ** 1.2) for e in (0.3, 3.0)])
    response += np.random.default_rng(0).normal(0.0, 2.0, response.size)
    start = time.perf_counter()
    batch = make_batch(codes, np.tile(dose, 2), response, 2)
    times["pack_curves"] = time.perf_counter() - start
    if "fit_curves" in kernels:
        start = time.perf_counter()
        fit = fit_batch(get_model("LL.4"), batch)
        times["fit_curves"] = time.perf_counter() - start
        if not np.isfinite(fit.params).all():  # a broken kernel fails the install, not a run
            raise RuntimeError(f"warm-up fit failed: {fit.params!r}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m leptotwin._warmup",
        description="Compile the numba kernels of `leptotwin reproduce` into numba's disk cache.",
    )
    parser.add_argument(
        "--kernel",
        action="append",
        choices=KERNELS,
        help="Warm only this kernel (repeatable; default: all of them).",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    times = warm_up(tuple(args.kernel) if args.kernel else KERNELS)
    where = {str(p) if p else "no cache (compiled in every run)" for p in cache_dirs().values()}
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in times.items())
    print(
        f"leptotwin warm-up: numba kernels ready in {time.perf_counter() - start:.1f} s "
        f"({steps}); cache: {'; '.join(sorted(where))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
