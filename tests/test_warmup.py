"""The install-time warm-up (``python -m leptotwin._warmup``) compiles into numba's cache.

Each check runs in its own process with ``NUMBA_CACHE_DIR`` set to a temporary folder (numba reads
it at import). Only ``pack_curves`` is warmed (a few seconds); ``fit_curves`` goes through the same
code path and cache and takes half a minute to compile, too long for the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_STATS = """
import json
from leptotwin.analysis import _kernels
from leptotwin._warmup import cache_dirs, warm_up
warm_up(("pack_curves",))
s = _kernels.pack_curves.stats
print(json.dumps({"hits": sum(s.cache_hits.values()), "misses": sum(s.cache_misses.values()),
                  "dir": str(cache_dirs()["pack_curves"])}))
"""


def _run(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, check=True, timeout=300
    )


def test_warmup_compiles_into_the_given_cache_dir_and_a_later_run_loads_it(tmp_path: Path) -> None:
    cache = tmp_path / "numba-cache"
    done = _run(["-m", "leptotwin._warmup", "--kernel", "pack_curves"], cache)
    assert "leptotwin warm-up: numba kernels ready" in done.stdout
    assert str(cache) in done.stdout  # it says where the cache is
    index = list(cache.rglob("_kernels.pack_curves-*.nbi"))
    data = list(cache.rglob("_kernels.pack_curves-*.nbc"))
    assert len(index) == 1 and len(data) == 1, sorted(p.name for p in cache.rglob("*"))
    # a later process (a `reproduce`) finds the kernel in the cache instead of compiling it
    later = json.loads(_run(["-c", _STATS], cache).stdout.strip().splitlines()[-1])
    assert later["hits"] == 1 and later["misses"] == 0, later
    assert Path(later["dir"]).is_relative_to(cache)


# A package folder the user cannot write (a system-wide install) is simulated by making numba's
# in-tree locator fail as it does there (root can write anywhere, so chmod would not do).
_READ_ONLY = """
import numba.core.caching as c
def refuse(self):
    raise PermissionError("read-only")
c.InTreeCacheLocator.ensure_cache_path = refuse
if {no_user_cache}:
    c.UserWideCacheLocator.ensure_cache_path = refuse
from leptotwin._warmup import main
main(["--kernel", "pack_curves"])
"""


def test_read_only_package_dir_falls_back_to_the_user_cache(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run(
        [sys.executable, "-c", _READ_ONLY.format(no_user_cache=False)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert str(tmp_path / "xdg" / "numba") in done.stdout
    assert len(list((tmp_path / "xdg").rglob("_kernels.pack_curves-*.nbc"))) == 1


def test_no_writable_cache_dir_compiles_without_a_cache(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run(
        [sys.executable, "-c", _READ_ONLY.format(no_user_cache=True)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "no cache (compiled in every run)" in done.stdout
    assert not list(tmp_path.rglob("*.nbc"))


def test_warmup_refuses_an_unknown_kernel() -> None:
    import pytest

    from leptotwin._warmup import warm_up

    with pytest.raises(ValueError, match="unknown kernels"):
        warm_up(("no_such_kernel",))
