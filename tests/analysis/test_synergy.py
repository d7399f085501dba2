"""Tests of leptotwin.analysis.synergy against the synergy package, SynergyFinder and theory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis._synergy_musyc import fit_musyc, musyc_surface
from leptotwin.analysis.synergy import (
    _as_inhibition,
    loewe_expected,
    plot_synergy_heatmap,
    plot_synergy_surface,
    read_synergy,
    synergy_scores,
)
from leptotwin.errors import LeptotwinError
from refdata import SYNERGY

REF = str(SYNERGY)
CONC = np.r_[0, np.logspace(-2, 1, 7)]
TRUE = {"E0": 1.0, "E1": 0.2, "E2": 0.3, "E3": 0.05, "h1": 1.5, "h2": 1.0, "C1": 0.3, "C2": 0.5}


def _grid() -> tuple[np.ndarray, np.ndarray]:
    d1, d2 = np.meshgrid(CONC, CONC, indexing="ij")
    return d1.ravel(), d2.ravel()


def _frame(d1, d2, resp, block="b", **extra) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "block_id": block,
            "drug_row": "A",
            "drug_col": "B",
            "conc_r": d1,
            "conc_c": d2,
            "response": resp,
            "conc_r_unit": "uM",
            "conc_c_unit": "uM",
            **extra,
        }
    )


def _viability(seed: int, noise: float = 0.02) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d1, d2 = _grid()
    e = musyc_surface(d1, d2, **TRUE, alpha12=2.0, alpha21=0.7)
    return d1, d2, e + np.random.default_rng(seed).normal(0, noise, d1.size)


# ----------------------------------------------------------------------- synergy package
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("method", ["Bliss", "HSA"])
def test_bliss_hsa_match_synergy_package(method):
    """synergy 1.0.0: ``Bliss().fit(d1, d2, E)`` / ``HSA().fit(d1, d2, E)`` on viability
    fractions with its default LogLinear single-drug models, which pass through the observed
    monotherapies on a grid; their score ``E_ref - E`` is ours / 100."""
    from synergy.combination import HSA, Bliss

    d1, d2, e = _viability(1)
    ref = {"Bliss": Bliss, "HSA": HSA}[method]().fit(d1, d2, e)
    res = synergy_scores(_frame(d1, d2, 100 * e), methods=[method], scale="viability")
    ours = res.per_dose.sort_values(["conc_r", "conc_c"])["score"].to_numpy() / 100
    np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_loewe_matches_synergy_package_definition():
    """synergy 1.0.0 ``Loewe(mode="delta_weakest", drug1_model=Hill(...), ...)`` with both
    drugs reaching the same Emax (where its 'weakest' rule never applies). Its reference is a
    bounded Brent search (xatol 1e-5), so the reference values agree to 1e-5; our root is
    checked to 1e-9 on the package's own isobole equation (``Hill.E_inv``)."""
    from synergy.combination import Loewe
    from synergy.single import Hill

    d1, d2, e = _viability(2)
    h1, h2 = Hill(E0=1, Emax=0, h=1.5, C=0.3), Hill(E0=1, Emax=0, h=0.8, C=0.5)
    model = Loewe(mode="delta_weakest", drug1_model=h1, drug2_model=h2)
    model.fit(d1, d2, e)
    p1, p2 = np.array([-1.5, 0, 100, 0.3]), np.array([-0.8, 0, 100, 0.5])
    expected, solved = loewe_expected(d1, d2, p1, p2)
    combo = (d1 > 0) & (d2 > 0)
    v = 1 - expected[combo] / 100
    assert solved[combo].all()
    np.testing.assert_allclose(v, model.reference[combo], atol=1e-5, rtol=0)
    isobole = d1[combo] / h1.E_inv(v) + d2[combo] / h2.E_inv(v)
    np.testing.assert_allclose(isobole, 1.0, atol=1e-9, rtol=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_zip_synergy_variant_matches_synergy_package(noise):
    """synergy 1.0.0 ``ZIP().fit(d1, d2, E)`` on viability fractions: its delta equals our
    ``zip_variant="synergy"`` to 1e-6 wherever the package's bound on the slice top (Emax in
    [0, 1.5]) is not active; at 3 % noise one slice hits Emax = 0 there and the two differ."""
    from synergy.combination import ZIP

    d1, d2, e = _viability(1, noise=noise)
    model = ZIP()
    model.fit(d1, d2, e)
    res = synergy_scores(_frame(d1, d2, e), methods=["ZIP"], scale="viability", top=1.0,
                         zip_variant="synergy")  # fmt: skip
    ours = res.per_dose.set_index(["conc_r", "conc_c"])["score"]
    theirs = pd.Series(np.asarray(model.synergy), index=pd.MultiIndex.from_arrays([d1, d2]))
    np.testing.assert_allclose(ours.loc[theirs.index].to_numpy(), theirs.to_numpy(), atol=1e-6)
    assert np.abs(theirs).max() > 0.02  # a surface with real synergy, not a trivial zero


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_musyc_surface_matches_synergy_package():
    """``synergy.combination.MuSyC._model`` with gamma != 1: same equations (tree theorem)."""
    from synergy.combination import MuSyC

    d1, d2 = _grid()
    p = dict(TRUE, alpha12=3.0, alpha21=0.4, gamma12=1.7, gamma21=0.6)
    ref = MuSyC(**p)._model(
        d1, d2, *(p[k] for k in ("E0", "E1", "E2", "E3", "h1", "h2", "C1", "C2")),
        1.0, 1.0, p["alpha12"], p["alpha21"], p["gamma12"], p["gamma21"],
    )  # fmt: skip
    np.testing.assert_allclose(musyc_surface(d1, d2, **p), ref, atol=1e-12, rtol=0)


def test_musyc_fit_recovers_potency_and_efficacy():
    d1, d2 = _grid()
    y = musyc_surface(d1, d2, **TRUE, alpha12=3.0, alpha21=0.4)
    start = np.array([[1.05, 0.3, 0.4, 0.2, 1.0, 1.0, 0.4, 1.0, 1.0, 1.0]])
    fit = fit_musyc(d1[None], d2[None], y[None], start)
    truth = [*TRUE.values(), 3.0, 0.4]
    np.testing.assert_allclose(fit.params[0], truth, rtol=1e-5)
    assert fit.beta[0] == pytest.approx((0.2 - 0.05) / (1 - 0.2), rel=1e-5)


# ----------------------------------------------------------------------- theory
def test_bliss_analytic_and_sham_loewe():
    """Bliss of 30 % and 40 % inhibition is 58 %; a drug combined with itself is Loewe-additive."""
    d1, d2 = _grid()
    ll = lambda x: 100 * x**1.2 / (x**1.2 + 0.4**1.2)  # noqa: E731
    sham = _frame(d1, d2, ll(d1 + d2))
    res = synergy_scores(sham, methods=["Loewe", "Bliss"])
    loewe = res.per_dose.query("method == 'Loewe'")["score"]
    assert np.abs(loewe).max() < 1e-3
    exp, _ = loewe_expected(np.array(1.0), np.array(0.0), np.array([-1, 0, 100, 1.0]), np.array(
        [-1, 0, 100, 2.0]))  # fmt: skip
    assert float(exp) == pytest.approx(50.0, abs=1e-9)
    two = _frame(d1, d2, np.where((d1 > 0) & (d2 > 0), 58.0, np.where(d1 > 0, 30.0, 40.0)))
    two.loc[(two.conc_r == 0) & (two.conc_c == 0), "response"] = 0.0
    bl = synergy_scores(two, methods=["Bliss"]).per_dose
    assert np.abs(bl["score"]).max() < 1e-12


# ----------------------------------------------------------------------- SynergyFinder
def test_zip_synergyfinder_algorithm_on_mathews():
    """Regression values of our SynergyFinder-2.x ZIP (documented algorithm) on the bundled
    Mathews data read as viability (the tutorial's data_type = "viability")."""
    res = synergy_scores(read_synergy(f"{REF}/mathews_screening_data.csv"), methods=["ZIP"],
                         scale="viability")  # fmt: skip
    mean = res.per_block.query("statistic == 'mean'").set_index("block_id")["score"]
    assert mean["1"] == pytest.approx(11.885, abs=0.01)


def _ll4(x, b, c, d, e):
    with np.errstate(all="ignore"):
        return c + (d - c) / (1 + np.exp(b * (np.log(x) - np.log(e))))


def _brute_ll4(x, y, c=None, d=None):
    """Global LL.4 least squares by brute force: scipy's LM from 6 x 9 starts (outside answer)."""
    from scipy.optimize import least_squares

    def unpack(p):
        i = 1
        cc = p[i] if c is None else c
        i += c is None
        dd = p[i] if d is None else d
        i += d is None
        return p[0], cc, dd, np.exp(p[i])

    lx = np.log(x)
    best = None
    for b0 in (-3, -1, -0.3, 0.3, 1, 3):
        for le0 in np.linspace(lx.min() - 2, lx.max() + 2, 9):
            p0 = [b0] + ([y.min()] if c is None else []) + ([y.max()] if d is None else []) + [le0]
            with np.errstate(all="ignore"):  # a start may run away (e -> inf): not a candidate
                r = least_squares(lambda p: _ll4(x, *unpack(p)) - y, p0, method="lm", max_nfev=4000)
                params = unpack(r.x)
            finite = np.all(np.isfinite(r.fun)) and np.all(np.isfinite(params))
            if finite and (best is None or r.cost < best[0]):
                best = (r.cost, params)
    return best[1]


def _brute_zip(v, cr, cc):
    """SynergyFinder's documented ZIP (viability input, dose 0 at 1e-10) with global fits."""
    inh = 100 - v
    crz, ccz = np.where(cr == 0, 1e-10, cr), np.where(cc == 0, 1e-10, cc)
    fr = _ll4(crz, *_brute_ll4(crz, inh[:, 0]))
    fc = _ll4(ccz, *_brute_ll4(ccz, inh[0, :]))
    x_r, x_c = crz[1:], ccz[1:]
    a = np.column_stack(
        [_ll4(x_r, *_brute_ll4(x_r, inh[1:, j], c=fc[j], d=100.0)) for j in range(1, cc.size)]
    )
    b = np.vstack(
        [_ll4(x_c, *_brute_ll4(x_c, inh[i, 1:], c=fr[i], d=100.0)) for i in range(1, cr.size)]
    )
    expected = fr[1:, None] + fc[None, 1:] - fr[1:, None] * fc[None, 1:] / 100
    return (a + b) / 2 - expected


def test_zip_fits_reach_the_global_least_squares_optimum():
    """The Mathews blocks are ragged (canertinib raises viability to 187 %, then kills): a fit
    from the self-starter alone lands in a local minimum (block 2 mean 11.23). Every per-dose
    score must equal the brute-force global fits to 0.005 points (the optimum of a step-like
    fit lies in a flat valley of the RSS, where the two optimisers stop a little apart)."""
    df = read_synergy(f"{REF}/mathews_screening_data.csv")
    res = synergy_scores(df, methods=["ZIP"], scale="viability")
    for block, g in df.groupby("block_id"):
        m = g.pivot_table(index="conc_r", columns="conc_c", values="response")
        want = _brute_zip(m.to_numpy(), m.index.to_numpy(float), m.columns.to_numpy(float))
        got = res.grid(block, "ZIP").to_numpy()[1:, 1:]
        np.testing.assert_allclose(got, want, atol=5e-3)
        assert got.mean() == pytest.approx(want.mean(), abs=1e-3)


def test_block_scores_do_not_depend_on_the_batch():
    """81 blocks scored on their own equal the same blocks inside a screen of 1,101 of that shape
    (over 5,000 slice curves per direction, where the fitter's default would stop refitting
    every curve from all starts)."""
    df = read_synergy(f"{REF}/mathews_screening_data.csv")
    two = df[df["block_id"].astype(str) == "2"]
    rng = np.random.default_rng(3)
    others = []
    for k in range(1100):
        o = two.copy()
        o["block_id"] = f"x{k}"
        o["response"] = o["response"] * rng.uniform(0.7, 1.3) + rng.normal(0, 15, len(o))
        others.append(o)
    screen = pd.concat([two, *others])
    few = screen[screen["block_id"].isin(["2", *[f"x{k}" for k in range(80)]])]
    alone = synergy_scores(few, methods=["ZIP"], scale="viability").per_dose
    big = synergy_scores(screen, methods=["ZIP"], scale="viability").per_dose
    inside = big[big["block_id"].isin(alone["block_id"].unique())]
    key = ["block_id", "conc_r", "conc_c"]
    a = alone.sort_values(key)["score"].to_numpy()
    b = inside.sort_values(key)["score"].to_numpy()
    np.testing.assert_array_equal(a, b)


def _r_rnorm(n: int, seed: int, sd: float) -> np.ndarray:
    """R's ``set.seed(seed); rnorm(n, 0, sd)`` (Mersenne-Twister seeded by R's LCG scrambling,
    normals by inversion: two uniforms, then Wichura's AS 241 quantile)."""
    s = seed & 0xFFFFFFFF
    for _ in range(50):
        s = (69069 * s + 1) & 0xFFFFFFFF
    key = np.empty(625, np.uint32)
    for j in range(625):
        s = (69069 * s + 1) & 0xFFFFFFFF
        key[j] = s
    bg = np.random.MT19937()
    bg.state = {"bit_generator": "MT19937", "state": {"key": key[1:], "pos": 624}}

    def unif() -> float:
        v = int(bg.random_raw()) * 2.3283064365386963e-10
        return min(max(v, 1.1641532185403983e-10), 1 - 1.1641532185403983e-10)

    def qnorm(p: float) -> float:
        q = p - 0.5
        if abs(q) <= 0.425:
            r = 0.180625 - q * q
            num = [2509.0809287301226727, 33430.575583588128105, 67265.770927008700853,
                   45921.953931549871457, 13731.693765509461125, 1971.5909503065514427,
                   133.14166789178437745, 3.387132872796366608]  # fmt: skip
            den = [5226.495278852545925, 28729.085735721942674, 39307.89580009271061,
                   21213.794301586595867, 5394.1960214247511077, 687.1870074920579083,
                   42.313330701600911252, 1.0]  # fmt: skip
            mult = q
        else:
            r = np.sqrt(-np.log(1.0 - p if q > 0 else p)) - 1.6
            assert r <= 5.0 - 1.6
            num = [7.7454501427834140764e-4, 0.0227238449892691845833, 0.24178072517745061177,
                   1.27045825245236838258, 3.64784832476320460504, 5.7694972214606914055,
                   4.6303378461565452959, 1.42343711074968357734]  # fmt: skip
            den = [1.05075007164441684324e-9, 5.475938084995344946e-4, 0.0151986665636164571966,
                   0.14810397642748007459, 0.68976733498510000455, 1.6763848301838038494,
                   2.05319162663775882187, 1.0]  # fmt: skip
            mult = 1.0 if q > 0 else -1.0
        a = r * num[0] + num[1]
        b = r * den[0] + den[1]
        for k in range(2, 8):
            a = a * r + num[k]
            b = b * r + den[k]
        return mult * a / b

    out = np.empty(n)
    for i in range(n):
        u = unif()
        out[i] = sd * qnorm((int(134217728 * u) + unif()) / 134217728)
    return out


def test_r_rnorm_reproduces_r():
    """R 4.x prints ``set.seed(1); rnorm(5)`` and ``set.seed(42); rnorm(3)`` as below."""
    r1 = [-0.6264538, 0.1836433, -0.8356286, 1.5952808, 0.3295078]
    np.testing.assert_allclose(_r_rnorm(5, 1, 1.0), r1, atol=5e-8, rtol=0)
    np.testing.assert_allclose(_r_rnorm(3, 42, 1.0), [1.3709584, -0.5646982, 0.3631284],
                               atol=5e-8, rtol=0)  # fmt: skip


def _zip_means(df: pd.DataFrame, **kw) -> pd.Series:
    res = synergy_scores(df, methods=["ZIP"], zip_variant="synergyfinder", **kw)
    assert (res.qc["status"] == "ok").all()
    return res.per_block.query("statistic == 'mean'").set_index("block_id")["score"]


def test_zip_matches_synergyfinder_published_means():
    """SynergyFinder 3.7.3 tutorial (issue 15, items 1; 3.7.4 computes the same)::

        res <- ReshapeData(mathews_screening_data, data_type = "viability", impute = TRUE,
                           impute_method = NULL, noise = TRUE, seed = 1)
        res <- CalculateSynergy(res, method = c("ZIP", "HSA", "Bliss", "Loewe"),
                                Emin = NA, Emax = NA, correct_baseline = "non")
        res$drug_pairs$ZIP_synergy  # 19.57, -2.98

    ``noise = TRUE`` adds ``rnorm(72, 0, 0.001)`` (after ``set.seed(1)``) to the inhibition
    values in file order; the test adds the same draw. Block 2's mean moves by up to 0.01 with
    the last bit of a start value (one slice stops at drc's 500-iteration limit in a flat
    valley), so 0.01 is the tolerance the published two decimals allow; without the noise the
    means are 19.5708 and -2.9862, also inside it."""
    df = read_synergy(f"{REF}/mathews_screening_data.csv")
    tutorial = df.assign(response=100 - df["response"] + _r_rnorm(len(df), 1, 0.001))
    mean = _zip_means(tutorial)
    assert mean["1"] == pytest.approx(19.57, abs=0.01)
    assert mean["2"] == pytest.approx(-2.98, abs=0.01)
    clean = _zip_means(df, scale="viability")
    assert clean["1"] == pytest.approx(19.57, abs=0.01)
    assert clean["2"] == pytest.approx(-2.98, abs=0.01)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_zip_synergyfinder_variant_definition():
    """The 3.x definition on a block whose fits all converge (drc's path ends near the
    optimum): per-dose scores equal an independent computation from brute-force fits: monotherapies
    LL.4 with dose 0 at its limit, slices over the whole series with ``c`` fixed to the
    observed zero-dose cell and the top free, two directions averaged, Bliss of the fitted
    monotherapies subtracted; monotherapy cells 0 with expected = observed."""
    d1, d2, e = _viability(11, noise=0.01)
    inh = 100 * (1 - e)
    res = synergy_scores(_frame(d1, d2, inh), methods=["ZIP"], zip_variant="synergyfinder")
    assert (res.qc["status"] == "ok").all()
    m = inh.reshape(CONC.size, CONC.size)
    x = np.where(CONC == 0, 1e-10, CONC)  # for the brute force; (1e-10 / e)^b is below 1e-12
    fr = _ll4(x, *_brute_ll4(x, m[:, 0]))
    fc = _ll4(x, *_brute_ll4(x, m[0, :]))
    a = np.column_stack([_ll4(x, *_brute_ll4(x, m[:, j], c=m[0, j])) for j in range(x.size)])
    b = np.vstack([_ll4(x, *_brute_ll4(x, m[i, :], c=m[i, 0])) for i in range(x.size)])
    want = (a + b) / 2 - (fr[:, None] + fc[None, :] - fr[:, None] * fc[None, :] / 100)
    want[0, :] = want[:, 0] = 0.0
    got = res.grid("b", "ZIP").to_numpy()
    # drc's BFGS stops at a relative RSS change of 1e-7, which leaves the column drug's
    # monotherapy fit 5e-3 points from the optimum here; the default variant differs by more
    np.testing.assert_allclose(got, want, atol=0.01)
    other = synergy_scores(_frame(d1, d2, inh), methods=["ZIP"]).grid("b", "ZIP").to_numpy()
    assert np.abs(other - want).max() > 0.5
    exp = res.grid("b", "ZIP", "expected").to_numpy()
    np.testing.assert_allclose(exp[0, :], m[0, :], atol=1e-12)
    np.testing.assert_allclose(exp[:, 0], m[:, 0], atol=1e-12)


def _random_blocks(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` random MuSyC blocks (every third noise-free) as % inhibition, and the same data
    as % viability (``100 - inhibition``, so the scorer's ``100 - viability`` differs from
    the inhibition in the last bits)."""
    rng = np.random.default_rng(seed)
    d1, d2 = _grid()
    parts = []
    for k in range(n):
        p = {"E0": 1.0, "E1": rng.uniform(0, 0.8), "E2": rng.uniform(0, 0.8),
             "E3": rng.uniform(0, 0.5), "h1": rng.uniform(0.5, 4), "h2": rng.uniform(0.5, 4),
             "C1": 10 ** rng.uniform(-2, 1), "C2": 10 ** rng.uniform(-2, 1)}  # fmt: skip
        e = musyc_surface(d1, d2, **p, alpha12=10 ** rng.uniform(-1, 1), alpha21=1.0)
        noise = 0.0 if k % 3 == 0 else rng.uniform(0.5, 8)
        parts.append(_frame(d1, d2, 100 * (1 - e) + rng.normal(0, noise, d1.size), f"b{k}"))
    inh = pd.concat(parts, ignore_index=True)
    return inh, inh.assign(response=100 - inh["response"])


@pytest.mark.parametrize("variant", ["yadav", "synergy", "synergyfinder"])
def test_viability_and_inhibition_inputs_agree(variant):
    """Issue 15: the same data as viability or as inhibition give the same Bliss, HSA, Loewe
    and ZIP scores (each variant) and the same qc, to 1e-6, on random blocks including
    noise-free ones. Both inputs are put on the same floats before any fit (inhibition taken
    through ``top - (top - x)``, then a 1e-9-point grid), so the fits, even drc's path in the
    'synergyfinder' variant or a flat RSS valley, see identical data; the scores are in fact
    identical (before the grid, last-bit differences moved fits by up to 3e-5 points, and
    runaway slices made 'synergy' differ by up to 50)."""
    inh, via = _random_blocks(15, 12 if variant == "synergyfinder" else 24)
    methods = ["ZIP", "Bliss", "HSA", "Loewe"]
    a = synergy_scores(inh, methods=methods, zip_variant=variant)
    b = synergy_scores(via, methods=methods, scale="viability", zip_variant=variant)
    assert a.qc["status"].tolist() == b.qc["status"].tolist()
    key = ["method", "block_id", "conc_r", "conc_c"]
    sa, sb = (r.per_dose.sort_values(key) for r in (a, b))
    assert sa["method"].tolist() == sb["method"].tolist()
    np.testing.assert_allclose(sa["score"], sb["score"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(sa["expected"], sb["expected"], atol=1e-6, rtol=0)
    assert np.isfinite(sa.query("method == 'ZIP'")["score"]).all()


def test_inhibition_within_an_ulp_of_the_grid_matches_viability():
    """A value an ulp from a rounding boundary of the 1e-9 grid: ``100 - (100 - x)`` differs
    from ``x`` there, and rounding both would put the two inputs on different grid points;
    the inhibition path goes through ``100 - (100 - x)`` too, so both give the same floats."""
    d1, d2 = _grid()
    x = np.full(d1.size, 30.0)
    x[5] = np.nextafter(12.3456789125, 0)  # near a rounding boundary at 1e-9 points
    x[9] = 0.1 + 0.2  # not exactly representable either
    a, _ = _as_inhibition(_frame(d1, d2, x), None, 100.0, "inhibition", "t")
    b, _ = _as_inhibition(_frame(d1, d2, 100 - x), None, 100.0, "viability", "t")
    np.testing.assert_array_equal(a["response"].to_numpy(), b["response"].to_numpy())


def test_zip_synergy_variant_slices_stay_bounded_on_ragged_data():
    """Issue 15 item 4: Mathews blocks read as viability have slices whose free-top optimum
    lies at infinity (a step right after dose 0); before the fix these stayed ``ok`` with
    e = 0 or 1e308 and tops up to 1e49, and the curve cancelled to 0. The package's own bound
    on the top (Emax in [0, 1.5]) now holds, so such a fit is a step or a flat line with
    finite values inside the data's range: none is left out, and every score is finite."""
    df = read_synergy(f"{REF}/mathews_screening_data.csv")
    res = synergy_scores(df, methods=["ZIP"], scale="viability", zip_variant="synergy")
    assert (res.qc["status"] == "ok").all()
    assert (res.qc["zip_fits_left_out"] == 0).all() and (res.qc["note"] == "").all()
    score = res.per_dose["score"].to_numpy()
    assert np.isfinite(score).all() and np.abs(score).max() < 200


def _package_blocks(seed: int, n: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Typical 8 x 8 blocks: MuSyC surfaces with random potencies, slopes and interactions,
    viability fractions with noise sd 0.03 (as benchmarks/synergy.py simulates them)."""
    rng = np.random.default_rng(seed)
    d1, d2 = _grid()
    out = []
    for _ in range(n):
        p = {"E0": 1.0, "E1": rng.uniform(0, 0.5), "E2": rng.uniform(0, 0.5),
             "E3": rng.uniform(0, 0.3), "h1": rng.uniform(0.7, 2.5), "h2": rng.uniform(0.7, 2.5),
             "C1": np.exp(rng.uniform(-3, 1.5)), "C2": np.exp(rng.uniform(-3, 1.5)),
             "alpha12": np.exp(rng.normal()), "alpha21": np.exp(rng.normal())}  # fmt: skip
        out.append((d1, d2, musyc_surface(d1, d2, **p) + rng.normal(0, 0.03, d1.size)))
    return out


def _hill(d, e0, emax, h, c):
    with np.errstate(all="ignore"):  # d^h / (C^h + d^h) without inf / inf
        g = np.where(d > 0, 1 / (1 + np.exp(-h * (np.log(d) - np.log(c)))), 0.0)
    return e0 + (emax - e0) * g


def _grid_min_rss(x, y, e0):
    """Brute force over the package's slice model (E0 fixed, Emax in [0, 1.5], h, C > 0): a
    200 x 400 grid of (log h, log C) (EC50s up to 30 decades above the doses: with the top
    bounded, a shallow curve's optimum can lie there), the top at its clipped least-squares
    value for each."""
    h = np.geomspace(0.02, 300, 200)[:, None, None]
    lx = np.log(x[x > 0])
    c = np.exp(np.linspace(lx.min() - 7, lx.max() + 70, 400))[None, :, None]
    g = _hill(x[None, None, :], 0.0, 1.0, h, c)  # Emax = e0 + a, curve e0 + a g
    a = np.sum(g * (y - e0), axis=-1) / np.maximum(np.sum(g * g, axis=-1), 1e-300)
    a = np.clip(a, -e0, 1.5 - e0)
    return float(np.min(np.sum((e0 + a[..., None] * g - y) ** 2, axis=-1)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_zip_synergy_variant_is_the_package_model_at_its_global_optimum():
    """Issue 14/15: on typical blocks (noise sd 0.03) ``zip_variant="synergy"`` differed from
    synergy 1.0.0's ZIP by 0.003-0.05 even where its Emax bound was inactive. Step by step
    against the package (``zero_interaction_potency.py``): the definitions agree, but (1) we
    left out slices whose free fit turned its slope negative, where the package fits with
    h > 0, (2) we had no Emax bound, and (3) the package fits each slice by one local
    ``curve_fit`` (trf, from the single drug's parameters), which stops away from the optimum
    (h drifting to 0 where a step fits better; RSS up to 14 x ours here). Now each of our
    slices is the package's model (h > 0, Emax in [0, 1.5]) at its global optimum. Checked:
    every slice's RSS is at most a 200 x 400 brute-force grid's and at most the package's;
    and wherever the package's slice reaches the optimum (RSS within 1e-13 of ours, so its
    fitted values are within 3e-7), the scores are equal to 1e-6."""
    from synergy.combination import ZIP

    from leptotwin.analysis import _synergy_core as core

    n_equal = n_better = 0
    for d1, d2, e in _package_blocks(3, 3):
        model = ZIP()
        model.fit(d1, d2, e)
        res = synergy_scores(_frame(d1, d2, e), methods=["ZIP"], scale="viability", top=1.0,
                             zip_variant="synergy")  # fmt: skip
        ours = res.per_dose.set_index(["conc_r", "conc_c"])["score"]
        ours = ours.loc[list(zip(d1, d2, strict=True))].to_numpy()
        slices = []  # (cells, x, y, e0, the package's rss) of each slice
        for fixed, varied, other, params in (
            (d2, d1, model.drug2_model, (model._Emax_21, model._h_21, model._C_21)),
            (d1, d2, model.drug1_model, (model._Emax_12, model._h_12, model._C_12)),
        ):
            for level in CONC[1:]:
                cells = fixed == level
                x, y, e0 = varied[cells], e[cells], other.E(level)
                i = np.flatnonzero(cells)[0]
                rss_pkg = np.sum((_hill(x, e0, *(p[i] for p in params)) - y) ** 2)
                slices.append((cells, x, y, e0, rss_pkg))
        cells, x, y, e0, rss_pkg = (np.array(v) for v in zip(*slices, strict=True))
        fitted, ok, _ = core._refit_slices(x, 1 - y, 1 - e0, 1.0, True)
        rss_ours = np.sum((1 - fitted - y) ** 2, axis=1)
        assert ok.all()
        brute = np.array([_grid_min_rss(*z) for z in zip(x, y, e0, strict=True)])
        assert (rss_ours <= brute * (1 + 1e-9)).all()
        assert (rss_ours <= rss_pkg * (1 + 1e-9)).all()
        n_better += np.sum(rss_pkg - rss_ours > 1e-6)
        # cells whose two package slices reach the optimum
        at_optimum = ~cells[rss_pkg - rss_ours > 1e-13].any(axis=0)
        combo = (d1 > 0) & (d2 > 0)
        eq = at_optimum & combo
        np.testing.assert_allclose(ours[eq], np.asarray(model.synergy)[eq], atol=1e-6, rtol=0)
        n_equal += eq.sum()
    assert n_equal >= 20 and n_better >= 2  # both kinds of slice occur in these blocks


# ----------------------------------------------------------------------- replicates
def test_replicates_give_bootstrap_intervals():
    d1, d2, _ = _viability(0)
    rng = np.random.default_rng(5)
    truth = 100 * (1 - musyc_surface(d1, d2, **TRUE, alpha12=3.0, alpha21=3.0))
    reps = [_frame(d1, d2, truth + rng.normal(0, 3, d1.size)) for _ in range(3)]
    df = pd.concat(reps, ignore_index=True)
    res = synergy_scores(df, methods=["Bliss", "ZIP"], n_boot=100, rng=np.random.default_rng(1))
    pb = res.per_block.query("statistic == 'mean'")
    assert (pb["lower"] <= pb["score"]).all() and (pb["score"] <= pb["upper"]).all()
    assert (pb["p_value"] < 0.05).all()  # alpha > 1: clear synergy
    pdz = res.per_dose.query("method == 'ZIP' and conc_r > 0 and conc_c > 0")
    assert pdz[["lower", "upper", "p_value"]].notna().all().all()


# ----------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda df: df.iloc[1:], "not_grid"),
        (lambda df: df[df.conc_r > 0], "no_monotherapy"),
        (lambda df: df.assign(response=df.response.where(df.index != 5)), "missing_value"),
    ],
)
def test_bad_blocks_are_flagged_or_raise(mutate, status):
    d1, d2, e = _viability(3)
    good = _frame(d1, d2, 100 * (1 - e), block="good")
    bad = mutate(_frame(d1, d2, 100 * (1 - e), block="bad").reset_index(drop=True))
    res = synergy_scores(pd.concat([good, bad], ignore_index=True), methods=["Bliss"])
    qc = res.qc.set_index("block_id")["status"]
    assert qc["good"] == "ok" and qc["bad"] == status
    assert set(res.per_block["block_id"]) == {"good"}
    with pytest.raises(LeptotwinError, match="block_id"):
        synergy_scores(bad, methods=["Bliss"], strict=True)


def test_argument_errors():
    d1, d2, e = _viability(4)
    df = _frame(d1, d2, e)
    with pytest.raises(LeptotwinError, match="unknown method"):
        synergy_scores(df, methods=["CI"])
    with pytest.raises(LeptotwinError, match="unknown scale"):
        synergy_scores(df, scale="percent")
    with pytest.raises(LeptotwinError, match="missing column"):  # conc_c_unit alone: issue 15
        synergy_scores(df.drop(columns="conc_r_unit"))
    with pytest.raises(LeptotwinError, match="unknown ZIP variant"):
        synergy_scores(df, zip_variant="drc")
    with pytest.raises(LeptotwinError, match="alpha must lie in"):
        synergy_scores(df, alpha=5)
    for option, value in (("top", -1.0), ("top", float("nan")), ("area", 0), ("n_boot", -1)):
        with pytest.raises(LeptotwinError, match=f"{option}: {option} out of range"):
            synergy_scores(df, **{option: value})


def test_many_blocks_batched_and_figures():
    d1, d2, e = _viability(6)
    df = pd.concat([_frame(d1, d2, 100 * (1 - e) + k, block=f"b{k}") for k in range(50)])
    res = synergy_scores(df, methods=["ZIP", "Bliss", "HSA", "Loewe", "MuSyC"])
    assert len(res.per_block.query("statistic == 'mean'")) == 50 * 5
    assert res.per_block.query("method != 'MuSyC'")["score"].notna().all()
    assert plot_synergy_heatmap(res, "b0", "ZIP") is not None
    assert plot_synergy_surface(res, "b0", "Loewe") is not None


def test_grid_and_block_rows_use_one_index_by_block():
    """Issue 14: grid() scanned the whole per-dose table per call (0.64 s a call at 10^4 blocks).
    It now groups the table once; every block and method still gets exactly the rows the scan
    found (block_id compared as text: 7 and "7" are one block), and the index follows a table
    that is replaced."""
    d1, d2, e = _viability(6)
    ids = [7, "b1", "x y", 12]
    df = pd.concat([_frame(d1, d2, 100 * (1 - e) + k, block=b) for k, b in enumerate(ids)])
    res = synergy_scores(df, methods=["ZIP", "Bliss"])
    pdose = res.per_dose
    for block in ids:
        scan = pdose[pdose["block_id"].astype(str) == str(block)]
        pd.testing.assert_frame_equal(res.block_rows(block), scan)
        pd.testing.assert_frame_equal(res.block_rows(str(block)), scan)
        pb = res.per_block
        pd.testing.assert_frame_equal(
            res.block_rows(block, "per_block"), pb[pb["block_id"].astype(str) == str(block)]
        )
        for method in ("ZIP", "Bliss"):
            sel = scan[scan["method"] == method]
            want = sel.pivot(index="conc_r", columns="conc_c", values="score")
            pd.testing.assert_frame_equal(res.grid(block, method), want)
            pd.testing.assert_frame_equal(
                res.grid(block, method, "expected"),
                sel.pivot(index="conc_r", columns="conc_c", values="expected"),
            )
    assert res.block_rows("nowhere").empty
    with pytest.raises(LeptotwinError, match="no scores for this block and method"):
        res.grid("nowhere", "ZIP")
    with pytest.raises(LeptotwinError, match="no scores for this block and method"):
        res.grid(7, "Loewe")
    res.per_dose = pdose[pdose["block_id"].astype(str) != "b1"]  # a new frame: a new index
    assert res.block_rows("b1").empty and len(res.block_rows("x y")) == len(pdose) // 4
    with pytest.raises(LeptotwinError, match="no scores"):
        res.grid("b1", "ZIP")


@pytest.mark.parametrize(
    ("n_conc", "area", "rows", "cols"),
    [(6, 3, (2, 4), (1, 3)), (4, 5, (1, 3), (1, 3))],  # a 3 x 3 window; a grid below the window
)
def test_most_synergistic_area_reports_its_concentrations(n_conc, area, rows, cols):
    """HSA with flat monotherapies (0 % inhibition) scores each combination cell with its own
    inhibition; a 40-point plateau over ``rows`` x ``cols`` is the best window (the whole
    combination grid when it is smaller than the window)."""
    conc = np.r_[0.0, np.logspace(-1, 1, n_conc - 1)]
    d1, d2 = np.meshgrid(conc, conc, indexing="ij")
    i, j = np.meshgrid(np.arange(n_conc), np.arange(n_conc), indexing="ij")
    inside = (i >= rows[0]) & (i <= rows[1]) & (j >= cols[0]) & (j <= cols[1])
    resp = np.where(inside, 40.0, np.where((i > 0) & (j > 0), 5.0, 0.0))
    res = synergy_scores(_frame(d1.ravel(), d2.ravel(), resp.ravel()), methods=["HSA"], area=area)
    msa = res.per_block.query("statistic == 'msa'").iloc[0]
    combos = resp[1:, 1:]
    best = 40.0 if area <= n_conc - 1 else combos.mean()
    assert msa["score"] == pytest.approx(best)
    assert (msa["area_conc_r_low"], msa["area_conc_r_high"]) == (conc[rows[0]], conc[rows[1]])
    assert (msa["area_conc_c_low"], msa["area_conc_c_high"]) == (conc[cols[0]], conc[cols[1]])


def test_a_flat_block_with_replicates_has_nan_intervals_and_no_warning():
    """Found by the property test: every well 0 % (two replicates) fails the LL.4 fits, so
    every bootstrap draw of ZIP and Loewe is NaN; numpy's percentile then warned (All-NaN
    slice), which pytest turns into an error and a user sees as a RuntimeWarning."""
    conc = [0.0, 1.0, 2.0, 3.0]
    cells = [(r, c) for r in conc for c in conc for _ in range(2)]
    flat = _frame([r for r, _ in cells], [c for _, c in cells], 0.0)
    res = synergy_scores(flat, methods=["ZIP", "Bliss", "HSA", "Loewe"], response_unit="percent")
    assert list(res.qc["status"]) == ["fit_failed"]
    zip_mean = res.per_block.query("method == 'ZIP' and statistic == 'mean'").iloc[0]
    assert np.isnan(zip_mean[["score", "lower", "upper", "p_value"]].to_numpy(float)).all()
    bliss = res.per_block.query("method == 'Bliss' and statistic == 'mean'").iloc[0]
    assert bliss["score"] == 0.0 and np.isnan(bliss["p_value"])


def test_three_positive_doses_bliss_scored_fits_not_and_the_messages_say_so():
    """Issue 15 item 6: a block with 3 positive doses per drug got ``fit_failed`` while the
    too-few-doses message said 3 were enough ("LL.4 needs at least 4 doses"; 0 and 3 positive
    are 4 points for 4 parameters, and the fitter needs more points than parameters)."""
    conc = np.array([0.0, 0.1, 1.0, 10.0])
    d1, d2 = (a.ravel() for a in np.meshgrid(conc, conc, indexing="ij"))
    ir, ic = 100 * d1 / (d1 + 0.5), 100 * d2 / (d2 + 2.0)
    res = synergy_scores(_frame(d1, d2, ir + ic - ir * ic / 100 + 5.0 * (d1 * d2 > 0)),
                         methods=["Bliss", "Loewe"])  # fmt: skip
    qc = res.qc.iloc[0]
    assert qc["status"] == "fit_failed" and "4 positive concentrations" in qc["message"]
    assert "3 positive concentrations, an LL.4 fit needs 4" in qc["note"]
    means = res.per_block.query("statistic == 'mean'").set_index("method")["score"]
    assert means["Bliss"] == pytest.approx(5.0) and np.isnan(means["Loewe"])
    two = _frame(d1, d2, ir)[lambda f: f["conc_r"] != 10.0]  # 2 positive doses of drug A
    qc2 = synergy_scores(two, methods=["Bliss"]).qc.iloc[0]
    assert qc2["status"] == "too_few_doses" and "fewer than 3 positive" in qc2["message"]


def test_near_step_monotherapies_give_the_same_loewe_from_viability_and_inhibition():
    """Issue 15 item 6: single drugs with |b| ~ 10-25 (a flat valley of the LL.4 RSS) moved
    Loewe by up to 0.39 points between the same data given as inhibition and as viability:
    ``100 - (100 - x)`` differs from ``x`` by an ulp, and the fits stopped apart in the valley.
    The responses are now put on one grid (1e-9 points) before fitting."""
    rng = np.random.default_rng(5)
    conc = np.r_[0, 0.03, 0.1, 0.3, 1, 3, 10]
    d1, d2 = (a.ravel() for a in np.meshgrid(conc, conc, indexing="ij"))
    frames = []
    for k in range(20):
        b1, b2 = rng.uniform(10, 25, 2)
        e1, e2 = 10 ** rng.uniform(-1.3, 0.8, 2)
        with np.errstate(divide="ignore", over="ignore"):
            i1, i2 = 100 / (1 + (e1 / d1) ** b1), 100 / (1 + (e2 / d2) ** b2)
        y = i1 + i2 - i1 * i2 / 100 + rng.normal(0, 2, d1.size) * (k % 2)
        frames.append(_frame(d1, d2, y, block=f"b{k}"))
    inh = pd.concat(frames, ignore_index=True)
    via = inh.assign(response=100 - inh["response"])
    methods = ["Loewe", "ZIP", "Bliss", "HSA"]
    a = synergy_scores(inh, methods=methods, scale="inhibition").per_dose
    b = synergy_scores(via, methods=methods, scale="viability").per_dose
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-9, equal_nan=True)
    assert np.isfinite(a.query("method == 'Loewe'")["score"]).mean() > 0.5  # scored blocks
