"""The batched MuSyC fit: its multistart (issue 15 item 4) and a singular system in a stack."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis import _synergy_musyc
from leptotwin.analysis._synergy_musyc import NAMES, fit_musyc, musyc_starts, musyc_surface
from leptotwin.analysis.synergy import synergy_scores

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


# Random MuSyC surfaces (E0 = 1, 7 x 7 doses 0 and 0.01-10) on which the single start from the
# monotherapy fits stopped in a wrong optimum: beta of the wrong sign or far off (issue 15
# item 4); values in NAMES order (alpha12, alpha21 last).
_HARD = {
    "sign flip": [1.0, 0.3239, 0.7834, 0.1743, 4.7676, 1.9049, 4.443, 0.1, 3.433, 0.1084],
    "sign flip 2": [1.0, 0.8101, 0.6446, 0.4149, 4.2284, 1.6069, 2.2885, 21.0865, 4.1254, 2.5283],
    "beta 7.7": [1.0, 0.8266, 0.3351, 0.4518, 0.7576, 2.8794, 0.0305, 23.3669, 2.4931, 0.5117],
    "beta 433": [1.0, 0.0741, 0.8066, -0.1487, 1.1922, 2.8254, 0.9527, 5.6326, 2.8158, 0.1409],
    "antagonism": [1.0, 0.9412, 0.2515, 0.4242, 1.279, 3.1387, 22.6169, 3.2196, 9.1415, 1.4097],
    "weak synergy": [1.0, 0.3923, 0.7772, 0.359, 4.8158, 2.1623, 0.8593, 1.1988, 4.9726, 0.1954],
}


def _hard_blocks(noise_sd: float) -> tuple[pd.DataFrame, dict[str, float]]:
    conc = np.r_[0, np.logspace(-2, 1, 6)]
    d1, d2 = (a.ravel() for a in np.meshgrid(conc, conc, indexing="ij"))
    frames, beta = [], {}
    for k, (name, p) in enumerate(_HARD.items()):
        rng = np.random.default_rng(100 + k)
        v = 100 * musyc_surface(d1, d2, **dict(zip(NAMES, p, strict=True)))
        frames.append(pd.DataFrame({
            "block_id": name, "drug_row": "A", "drug_col": "B", "conc_r": d1, "conc_c": d2,
            "response": v + noise_sd * rng.normal(size=v.size), "conc_r_unit": "uM",
            "conc_c_unit": "uM",
        }))  # fmt: skip
        strong = min(p[1], p[2])
        beta[name] = (strong - p[3]) / (p[0] - strong)
    return pd.concat(frames, ignore_index=True), beta


_IN_RANGE = ["sign flip", "beta 433", "weak synergy"]  # both EC50s within the tested doses
# All six noise-free surfaces, the three once named open included ("sign flip 2", "beta 433",
# "antagonism"): their right start did reach the optimum, but there (the responses on their
# 1e-9 grid, RSS at its floor) no step lowered the RSS, the damping ran up, and the fit was
# flagged as failed, so another start's wrong optimum won. A fit that can no longer improve
# now counts as converged.
_RECOVERED = list(_HARD)


@pytest.mark.parametrize(
    ("noise_sd", "tol", "names"), [(0.0, 1e-4, _RECOVERED), (0.5, 0.05, _IN_RANGE)]
)
def test_multistart_recovers_beta_where_one_start_stopped_in_a_wrong_optimum(noise_sd, tol, names):
    """Issue 15 item 4: with the one start the fits ended at beta -1.0 for a true +0.22, 7.7
    for -0.18, 433 for 0.24 ... Now the best of the starts of ``musyc_starts`` (lowest RSS)
    recovers beta, noise-free to 1e-4 and with 0.5 points of noise (viability, %) to 0.05,
    with the right sign. With noise, a drug whose EC50 lies beyond the highest dose leaves
    beta unidentified, so those blocks are only checked for reaching an RSS no larger than
    the true parameters' (the global optimum, not a wrong one)."""
    df, truth = _hard_blocks(noise_sd)
    res = synergy_scores(df, methods=["MuSyC"], scale="viability")
    got = res.per_block.query("statistic == 'beta'").set_index("block_id")["score"]
    assert set(names) <= set(got.index)
    for name in names:
        assert got[name] == pytest.approx(truth[name], abs=tol), name
        assert np.sign(got[name]) == np.sign(truth[name]), name
    fitted = res.musyc.set_index("block_id")
    for name in _RECOVERED:
        p = _HARD[name]
        rows = df[df["block_id"] == name]
        v = rows["response"].to_numpy() / 100
        d1, d2 = rows["conc_r"].to_numpy(), rows["conc_c"].to_numpy()
        at_truth = np.sum((v - musyc_surface(d1, d2, **dict(zip(NAMES, p, strict=True)))) ** 2)
        at_fit = np.sum((v - musyc_surface(d1, d2, **fitted.loc[name, list(NAMES)])) ** 2)
        assert at_fit <= at_truth * (1 + 1e-6) + 1e-6, name  # 1e-6: 0.014 points rms


def test_multistart_is_never_worse_than_the_given_start():
    df, _ = _hard_blocks(1.0)
    conc = np.r_[0, np.logspace(-2, 1, 6)]
    d1, d2 = (np.tile(a.ravel(), (len(_HARD), 1)) for a in np.meshgrid(conc, conc, indexing="ij"))
    y = df["response"].to_numpy().reshape(len(_HARD), -1) / 100  # viability fractions
    start = np.tile([1.0, 0.5, 0.5, 0.4, 1.0, 1.0, 0.3, 0.3, 1.0, 1.0], (len(_HARD), 1))
    one = fit_musyc(d1, d2, y, start, multistart=False)
    best = fit_musyc(d1, d2, y, start)
    assert (best.rss <= one.rss * (1 + 1e-12)).all()
    assert len(musyc_starts(start)) == 8 and np.array_equal(musyc_starts(start)[0], start)
