"""Both signs of b (issue 12, point 8).

For W1.4, LL.5 and LL.3 the flip ``(b, c, d) -> (-b, d, c)`` is not a symmetry: a decreasing
curve can be fitted better with ``b < 0`` and ``c > d`` (for W1.4, the W2.4 shape), and the fit
used to search that side only when R² < 0.9, stopping in a local optimum (old code: 35 of the
60 simulated tricky W1.4 curves of ``_tricky_w14`` at the brute-force optimum, up to 1.97 x its
RSS; now 60 of 60). Now both sides are searched and the lower RSS is kept; ``match_drc=True``
keeps the self-starter's side, which is what R drc 3.2-0 answers. Where the global optimum
differs from drc's answer it is checked against a brute-force scipy fit (``least_squares`` from
a grid of starts of both signs), not against drc.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import least_squares

from leptotwin.analysis.doseresponse import DoseResponseFitter, read_dose_response
from refdata import DOSE_RESPONSE

REF = pd.read_csv(DOSE_RESPONSE / "drc_reference_fits.csv", dtype={"curve": str})
CASES = sorted(
    {(d, m) for d, m, ok in REF[["dataset", "model", "ok"]].itertuples(index=False) if ok}
)


# --------------------------------------------------------------------------- brute force
def _model(name: str, p: np.ndarray, dose: np.ndarray) -> np.ndarray:
    """drc's W1.4, LL.3 or LL.5 at ``p`` (``log e`` and, for LL.5, ``log f``); dose 0 is the
    model's limit."""
    pos = dose > 0
    lx = np.log(np.where(pos, dose, 1.0))
    if name == "LL.3":
        (b, d, le), c, f = p, 0.0, 1.0
    elif name == "LL.5":
        b, c, d, le, lf = p
        f = np.exp(min(lf, 50.0))
    else:
        (b, c, d, le), f = p, 1.0
    u = np.clip(b * (lx - le), -700, 700)
    g = np.exp(-np.exp(u)) if name == "W1.4" else (1 + np.exp(u)) ** (-f)
    return c + (d - c) * np.where(pos, g, 1.0 if b > 0 else 0.0)


def _brute_rss(name: str, dose: np.ndarray, resp: np.ndarray) -> float:
    """Lowest RSS of scipy's Levenberg–Marquardt from a grid of starts: b of both signs
    (0.3, 1, 4), log e at 6 points over and beyond the doses, c/d in both orders (and f at
    0.3, 1, 3 for LL.5)."""
    lx = np.log(dose[dose > 0])
    best = np.inf
    lfs = (np.log(0.3), 0.0, np.log(3.0)) if name == "LL.5" else (0.0,)
    for b0 in (-4.0, -1.0, -0.3, 0.3, 1.0, 4.0):
        for le0 in np.linspace(lx.min() - 1, lx.max() + 1, 6):
            for lo, hi in ((resp.min(), resp.max()), (resp.max(), resp.min())):
                for lf0 in lfs:
                    x0 = {"LL.3": [b0, max(lo, hi), le0], "LL.5": [b0, lo, hi, le0, lf0]}.get(
                        name, [b0, lo, hi, le0]
                    )
                    with np.errstate(all="ignore"):
                        r = least_squares(
                            lambda p: _model(name, p, dose) - resp, x0, method="lm", max_nfev=3000
                        )
                    if np.all(np.isfinite(r.fun)):
                        best = min(best, float(r.fun @ r.fun))
    return best


# --------------------------------------------------------------------------- drc's answer
@pytest.mark.parametrize(("dataset", "model"), CASES, ids=[f"{d}-{m}" for d, m in CASES])
def test_match_drc_gives_drcs_answer(dataset: str, model: str) -> None:
    """``match_drc=True``: the sign of b drc 3.2-0 reports for every reference curve, its RSS or
    lower (1e-6 slack), and its estimates (1e-3) and SEs (1 %) wherever the RSS agree."""
    data = read_dose_response(DOSE_RESPONSE / f"{dataset}.csv")
    fit = DoseResponseFitter(model, match_drc=True).fit(data)
    ref = REF[(REF["dataset"] == dataset) & (REF["model"] == model) & REF["ok"]]
    both = fit.results_.merge(ref, on=["curve", "model", "param"], suffixes=("", "_drc"))
    assert len(both) == len(ref)
    b = both[both["param"] == "b"]
    assert (np.sign(b["estimate"]) == np.sign(b["estimate_drc"])).all()
    assert (both["rss"] <= both["rss_drc"] * (1 + 1e-6)).all()
    rows = both[np.abs(both["rss"] / both["rss_drc"] - 1) <= 1e-6]
    err = np.abs(rows["estimate"] - rows["estimate_drc"])
    assert (err <= np.maximum(1e-3 * rows["estimate_drc"].abs(), 1e-3 * rows["se_drc"])).all()
    np.testing.assert_allclose(rows["se"], rows["se_drc"], rtol=1e-2)


def test_lettuce_w14_default_is_global_and_match_drc_is_drc() -> None:
    """drc's lettuce W1.4 fit (b = 0.983) is a local optimum: b = -0.80 with c > d has 0.83 x
    its RSS, the brute-force optimum; match_drc=True returns drc's fit."""
    data = read_dose_response(DOSE_RESPONSE / "lettuce.csv")
    ref = REF[(REF["dataset"] == "lettuce") & (REF["model"] == "W1.4")].set_index("param")
    best = DoseResponseFitter("W1.4").fit(data)
    drc = DoseResponseFitter("W1.4", match_drc=True).fit(data)
    brute = _brute_rss("W1.4", data["dose"].to_numpy(), data["response"].to_numpy())
    assert best.rss_.iloc[0] <= brute * (1 + 1e-6)
    assert best.rss_.iloc[0] < 0.85 * ref.loc["b", "rss"]
    assert best.params_.iloc[0]["b"] < 0 < ref.loc["b", "estimate"]
    assert drc.rss_.iloc[0] == pytest.approx(ref.loc["b", "rss"], rel=1e-6)
    for p in ("b", "c", "d", "e"):
        assert drc.params_.iloc[0][p] == pytest.approx(ref.loc[p, "estimate"], rel=1e-3)


# --------------------------------------------------------------------------- global optimum
_BEATS_DRC = [
    (d, m)
    for d, m in CASES
    if m in ("W1.4", "LL.3") or (d, m) in {("heartrate", "LL.5"), ("secalonic", "LL.5")}
]


@pytest.mark.parametrize(("dataset", "model"), _BEATS_DRC, ids=[f"{d}-{m}" for d, m in _BEATS_DRC])
def test_where_drc_stops_on_one_sign_the_fit_is_the_brute_force_optimum(
    dataset: str, model: str
) -> None:
    """Reference curves whose default fit has a lower RSS than drc's: that RSS is the
    brute-force optimum (1e-6 relative), so the estimates are compared with it, not with drc."""
    data = read_dose_response(DOSE_RESPONSE / f"{dataset}.csv")
    fit = DoseResponseFitter(model).fit(data)
    ref = REF[(REF["dataset"] == dataset) & (REF["model"] == model) & (REF["param"] == "b")]
    ref = ref.set_index("curve")["rss"]
    lower = fit.rss_[fit.rss_ < ref.loc[fit.curves_] * (1 - 1e-6)]
    for curve in lower.index:
        rows = data[data["curve"] == curve]
        brute = _brute_rss(model, rows["dose"].to_numpy(), rows["response"].to_numpy())
        assert lower[curve] <= brute * (1 + 1e-6), curve


def _tricky_w14(chosen: list[str] | None = None) -> pd.DataFrame:
    """60 simulated tricky W1.4 curves (15 each, or those named in ``chosen``): bottom near the
    top, a hormetic bump, increasing curves and the W2.4 shape (b < 0, c > d); 7 doses and a
    vehicle in triplicate, noise sd 5."""
    rng = np.random.default_rng(0)
    dose = np.repeat(np.r_[0.0, np.logspace(-2, 2, 7)], 3)
    logd = np.log(np.where(dose > 0, dose, 1e-3))
    frames = []
    for kind in ("close", "hormetic", "increasing", "w2shape"):
        for k in range(15):
            le = rng.uniform(np.log(0.05), np.log(20))
            if kind == "close":
                c, b = rng.uniform(80, 95), rng.uniform(0.5, 3)
                mean = _model("W1.4", [b, c, 100.0, le], dose)
            elif kind == "hormetic":
                bump = 25 * np.exp(-0.5 * ((logd - le + 2) / 0.8) ** 2)
                mean = _model("W1.4", [rng.uniform(1, 3), 10.0, 100.0, le], dose) + bump
            elif kind == "increasing":
                b = -rng.uniform(0.5, 3)
                mean = _model("W1.4", [b if rng.random() < 0.5 else -b, 100.0, 20.0, le], dose)
            else:
                mean = _model("W1.4", [-rng.uniform(0.5, 3), 100.0, 5.0, le], dose)
            y = mean + rng.normal(0, 5, dose.size)
            frames.append(pd.DataFrame({"curve": f"{kind}{k:02d}", "dose": dose, "response": y}))
    data = pd.concat(frames, ignore_index=True)
    return data if chosen is None else data[data["curve"].isin(chosen)]


def test_tricky_w14_curves_reach_the_brute_force_optimum() -> None:
    """8 of the 25 (of 60) curves the old search left above the optimum (RSS 1.002 to 1.97 x);
    all 60 now reach it (measured once; the brute force of all 60 takes a minute)."""
    data = _tricky_w14(
        ["close08", "hormetic06", "hormetic08", "increasing01", "increasing02", "increasing11",
         "w2shape05", "w2shape09"]
    )  # fmt: skip
    fit = DoseResponseFitter("W1.4").fit(data)
    for curve, rows in data.groupby("curve"):
        brute = _brute_rss("W1.4", rows["dose"].to_numpy(), rows["response"].to_numpy())
        assert fit.qc_.loc[curve, "rss"] <= brute * (1 + 1e-6), curve


def test_ll4_is_unaffected() -> None:
    """LL.4's flip is a symmetry: one side covers both, and match_drc changes nothing."""
    data = _tricky_w14()
    a = DoseResponseFitter("LL.4").fit(data)
    b = DoseResponseFitter("LL.4", match_drc=True).fit(data)
    pd.testing.assert_frame_equal(a.results_, b.results_)
