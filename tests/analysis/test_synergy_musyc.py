"""The batched MuSyC fit when a linear system of the stack is singular."""

from __future__ import annotations

import numpy as np

from leptotwin.analysis import _synergy_musyc
from leptotwin.analysis._synergy_musyc import fit_musyc, musyc_surface

TRUE = {"E0": 1.0, "E1": 0.2, "E2": 0.3, "E3": 0.05, "h1": 1.5, "h2": 1.0, "C1": 0.3, "C2": 0.5}


def _stack(n: int = 3) -> tuple[np.ndarray, ...]:
    conc = np.r_[0, np.logspace(-2, 1, 5)]
    d1, d2 = (a.ravel() for a in np.meshgrid(conc, conc, indexing="ij"))
    y = np.stack([musyc_surface(d1, d2, **TRUE, alpha12=a, alpha21=1.0) for a in (0.5, 1, 2)[:n]])
    start = np.tile([1.05, 0.3, 0.4, 0.2, 1.0, 1.0, 0.4, 1.0, 1.0, 1.0], (n, 1))
    return np.tile(d1, (n, 1)), np.tile(d2, (n, 1)), y, start


def test_a_singular_system_in_a_stack_of_blocks_falls_back_per_block(monkeypatch):
    """The fallback solved one least-squares problem for the whole stack and reshaped its 10
    numbers to (blocks, 10): ``ValueError: cannot reshape`` for any stack of 2 or more blocks
    (a bootstrap stack always is one). Now each block gets its own pseudo-inverse step."""
    d1, d2, y, start = _stack()
    want = fit_musyc(d1, d2, y, start)
    real = np.linalg.solve
    calls = {"n": 0}

    def singular_once(a, b):
        calls["n"] += 1
        if calls["n"] == 1:
            raise np.linalg.LinAlgError("Singular matrix")
        return real(a, b)

    monkeypatch.setattr(_synergy_musyc.np.linalg, "solve", singular_once)
    got = fit_musyc(d1, d2, y, start)
    assert calls["n"] > 1 and got.ok.all()
    np.testing.assert_allclose(got.params, want.params, rtol=1e-6)


def test_a_block_with_no_finite_system_takes_no_step_and_others_still_fit():
    d1, d2, y, start = _stack()
    y[1] = np.nan  # no observed well: residuals 0, the block stays at its start
    start[2, 6] = np.inf  # an infinite start (C1): its system is not finite
    fit = fit_musyc(d1, d2, y, start)
    assert fit.ok[0]
    np.testing.assert_allclose(fit.params[1], start[1])
