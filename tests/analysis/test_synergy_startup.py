"""``leptotwin synergy`` does not import scipy.stats (0.4-0.5 s of its start-up, issue 14): the
bootstrap p-values ``2 Phi(-|est| / sd)`` come from scipy.special's ``ndtr``, bit for bit what
``scipy.stats.norm.sf`` gives."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from scipy import stats

from leptotwin.analysis._synergy_core import _norm_sf


def test_norm_sf_is_that_of_scipy_stats_bit_for_bit() -> None:
    rng = np.random.default_rng(4)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1e-300, 1e-8, 1.0, 8.0, 38.5, 1e300]
    est = rng.normal(0.0, 3.0, 2000)
    sd = np.concatenate([rng.gamma(1.0, 2.0, 1990), np.zeros(10)])  # sd 0: inf and 0/0 = NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.concatenate([special, np.negative(special), np.abs(est) / sd])
    got, want = _norm_sf(z), stats.norm.sf(z)
    assert got.dtype == want.dtype == np.float64
    assert np.array_equal(got.view(np.int64), want.view(np.int64))  # NaNs too, by their bits
    assert np.array_equal(_norm_sf(z[:5].reshape(5, 1)), stats.norm.sf(z[:5].reshape(5, 1)),
                          equal_nan=True)  # fmt: skip


def test_the_command_does_not_import_scipy_stats() -> None:
    code = (
        "import sys, leptotwin.cli, leptotwin.study.synergy_job\n"
        "print('scipy.stats' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_control_byte_check_is_the_regex() -> None:
    """``_has_control`` (bytes.translate, 6x faster on a large table) says what ``_CONTROL``'s
    search says: every byte alone, and random texts with and without one."""
    from leptotwin.analysis import _synergy_input as si

    for b in range(256):
        one = bytes([b])
        assert si._has_control(b"a,b\n1," + one + b"\n") == bool(si._CONTROL.search(one)), b
    rng = np.random.default_rng(5)
    text = bytes(rng.choice(list(b"0123456789.,;\t\r\n abcXYZ\xc3\xa9"), 10_000).tolist())
    assert not si._has_control(text) and not si._CONTROL.search(text)
    for b in (0, 8, 0x1B, 0x1F):
        spoiled = text[:5_000] + bytes([b]) + text[5_000:]
        assert si._has_control(spoiled) and si._CONTROL.search(spoiled)
