"""``leptotwin fit-curves`` imports only what it needs (issue 14 item 2: interpreter start and
imports bound a run of 1,000 curves). scipy.stats (about 0.6 s) is replaced by the
scipy.special functions it calls, matplotlib is imported when a figure is drawn, and the
cluster, survival and model-fitting libraries are never imported by the command."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from leptotwin.analysis import doseresponse

_NOT_NEEDED = (
    "scipy.stats",
    "scipy.optimize",
    "matplotlib",
    "lifelines",
    "statsmodels",
    "dask",
    "distributed",
)


def test_the_command_imports_no_more_than_it_needs(tmp_path):
    """Neither at start-up nor in a whole run with ``--figures none``."""
    frame = pd.DataFrame(
        {
            "curve": np.repeat(["a", "b"], 6),
            "dose": np.tile([0.01, 0.1, 1.0, 10.0, 100.0, 1000.0], 2),
            "response": [99, 97, 80, 40, 12, 5, 101, 95, 70, 30, 8, 4],
        }
    )
    frame.to_csv(tmp_path / "in.csv", index=False)
    argv = ["leptotwin", "fit-curves", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o")]
    code = (
        "import sys, leptotwin.cli, leptotwin.study.fit_curves\n"
        f"print(','.join(m for m in {_NOT_NEEDED!r} if m in sys.modules))\n"
        f"sys.argv = {[*argv, '--figures', 'none']!r}\n"
        "leptotwin.cli.main()\n"
        f"print(','.join(m for m in {_NOT_NEEDED!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()  # what was imported, "wrote ...", what was imported
    assert (lines[0], lines[-1]) == ("", "")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["fits.csv", "qc.csv"]


def test_the_default_summary_figures_need_no_matplotlib(tmp_path):
    """The three summary figures are SVG written as text (issue 14 item 2: matplotlib's import
    and drawing were ~1.7 s of a 1,000-curve run)."""
    pd.DataFrame(
        {
            "curve": np.repeat(["a", "b"], 6),
            "dose": np.tile([0.0, 0.1, 1.0, 10.0, 100.0, 1000.0], 2),
            "response": [99, 97, 80, 40, 12, 5, 101, 95, 70, 30, 8, 4],
        }
    ).to_csv(tmp_path / "in.csv", index=False)
    argv = ["leptotwin", "fit-curves", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o")]
    code = (
        f"import sys, leptotwin.cli\nsys.argv = {argv!r}\nleptotwin.cli.main()\n"
        "print('matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "False"
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "fits.csv",
        "qc.csv",
        "summary_curves.svg",
        "summary_ic50.svg",
        "summary_qc.svg",
    ]


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.2])
def test_quantiles_are_those_of_scipy_stats(alpha):
    """Bit for bit, over the degrees of freedom and statistics a fit meets (flat curves: F = 0,
    perfect fits: F = inf, 0/0: NaN, tiny negative F from rounding)."""
    dof = np.array([1.0, 2.0, 3.0, 7.0, 23.0, 100.0, 1e4])
    assert np.array_equal(doseresponse._f_isf(alpha, 3, dof), stats.f.isf(alpha, 3, dof))
    df = np.array([np.nan, -1.0, 0.0, 1.0, 2.5, 23.0, 1e6])
    got, want = doseresponse._t_ppf(1 - alpha / 2, df), stats.t.ppf(1 - alpha / 2, df)
    assert np.array_equal(got, want, equal_nan=True)
    rng = np.random.default_rng(3)
    f = np.concatenate([[0.0, -0.0, -1e-12, np.inf, np.nan, 1e-300, 1e300], rng.gamma(1, 20, 200)])
    dfd = rng.integers(1, 40, f.size).astype(float)
    for dfn in (1, 3, 4):
        got, want = doseresponse._f_sf(f, dfn, dfd), stats.f.sf(f, dfn, dfd)
        assert np.array_equal(got, want, equal_nan=True)


def test_the_objects_alive_at_exit_are_frozen(tmp_path):
    """The ``leptotwin`` command's shutdown collections skip them (:mod:`leptotwin._exitgc`,
    registered by the process entry point ``cli.run``, not by the library): about 0.3 s of a
    1.2 s run of 1,000 curves."""
    pd.DataFrame(
        {
            "curve": np.repeat(["a", "b"], 6),
            "dose": np.tile([0.0, 0.1, 1.0, 10.0, 100.0, 1000.0], 2),
            "response": [99, 97, 80, 40, 12, 5, 101, 95, 70, 30, 8, 4],
        }
    ).to_csv(tmp_path / "in.csv", index=False)
    argv = ["leptotwin", "fit-curves", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o")]
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen at exit', gc.get_freeze_count() > 0))\n"
        f"import leptotwin.cli\nsys.argv = {[*argv, '--figures', 'none']!r}\n"
        "{entry}\nprint('frozen before exit', gc.get_freeze_count() > 0)"
    )
    for entry, at_exit in (("leptotwin.cli.run()", "True"), ("leptotwin.cli.main()", "False")):
        done = subprocess.run(
            [sys.executable, "-c", code.replace("{entry}", entry).replace("/o'", f"/o{at_exit}'")],
            capture_output=True,
            text=True,
            check=True,
        )
        last = done.stdout.splitlines()[-2:]
        assert last == ["frozen before exit False", f"frozen at exit {at_exit}"], entry
