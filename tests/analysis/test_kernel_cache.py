"""The dose-response kernels are loaded from numba's cache without numba's target-context refresh
(``_kernels._LoadOnlyCache``, issue 14: start-up): a later process loads them without importing
numba's lowering modules or scipy.linalg, gets the same bytes as a process that refreshed first,
and can still compile other functions.

Each check runs in its own process with ``NUMBA_CACHE_DIR`` set to a temporary folder. Only
``pack_curves`` is used (a few seconds to compile); ``fit_curves`` goes through the same wrapper
and takes half a minute to compile, too long for the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_PACK = """
import hashlib, json, sys
import numpy as np
from leptotwin.analysis import _kernels
if {refresh}:  # what numba's own cache loading does first
    from numba.core.registry import cpu_target
    cpu_target.target_context.refresh()
rng = np.random.default_rng(1)
codes = np.repeat(np.arange(40), 27)[rng.permutation(40 * 27)]
dose = np.where(rng.random(codes.size) < 0.1, 0.0, 10.0 ** rng.uniform(-3, 1, codes.size))
arrays = _kernels.pack_curves(codes, dose, rng.normal(50.0, 20.0, codes.size), 40)
digest = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()
names = ("numba.np.arraymath", "numba.np.linalg", "scipy.linalg")
lowering = [m for m in names if m in sys.modules]
stats = _kernels.pack_curves.stats
import numba
later = numba.njit(lambda x: np.sum(x) * 2.0)(np.arange(4.0))  # compiling still works
print(json.dumps({{"digest": digest, "lowering": lowering, "later": later,
                  "hits": sum(stats.cache_hits.values()),
                  "misses": sum(stats.cache_misses.values())}}))
"""


def _run(cache: Path, *, refresh: bool) -> dict[str, object]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", _PACK.format(refresh=refresh)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_cached_kernel_loads_without_the_lowering_modules_and_gives_the_same_bytes(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "numba-cache"
    first = _run(cache, refresh=False)  # a miss: compiled as usual, and cached
    assert (first["hits"], first["misses"]) == (0, 1)
    loaded = _run(cache, refresh=False)
    assert (loaded["hits"], loaded["misses"]) == (1, 0)
    assert loaded["lowering"] == []  # numba's lowering registries were not loaded
    assert loaded["later"] == 12.0
    refreshed = _run(cache, refresh=True)  # numba's own order: refresh, then load
    assert (refreshed["hits"], refreshed["misses"]) == (1, 0)
    assert "numba.np.arraymath" in refreshed["lowering"]  # the check above can fail
    assert first["digest"] == loaded["digest"] == refreshed["digest"]


def test_the_wrapper_keeps_the_cache_interface() -> None:
    from leptotwin.analysis import _kernels

    for disp in (_kernels.pack_curves, _kernels.fit_curves):
        cache = disp._cache
        assert isinstance(cache, _kernels._LoadOnlyCache)
        assert cache.cache_path == cache._wrapped.cache_path  # delegated (the warm-up reads it)


def test_an_unknown_cache_is_left_alone() -> None:
    from leptotwin.analysis import _kernels

    class Disp:
        _cache = object()  # not numba's FunctionCache: no _load_overload

    disp = Disp()
    assert _kernels._load_only(disp)._cache is Disp._cache


def test_a_numba_release_it_was_not_checked_against_loads_as_numba_does() -> None:
    from leptotwin.analysis import _kernels

    class Cache:  # numba's FunctionCache interface
        def _load_overload(self): ...
        def _guard_against_spurious_io_errors(self): ...
        def load_overload(self): ...

    class Disp:
        _cache = Cache()

    assert isinstance(_kernels._load_only(Disp())._cache, _kernels._LoadOnlyCache)
    for later in ((0, 69), (1, 0)):
        disp = Disp()
        disp._cache = Cache()
        assert isinstance(_kernels._load_only(disp, numba_version=later)._cache, Cache)
