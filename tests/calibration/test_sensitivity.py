"""Global sensitivity wrappers (SALib Morris and Sobol over the catalogue's priors): analytic
checks on known functions run through the wrappers, the prior-space map, group counts, NaN
handling, parameter selection and tornado figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leptotwin.calibration.sensitivity import (
    BOUNDED_DISTS,
    DEFAULT_TAIL,
    SHARED_GROUP,
    MorrisResult,
    factor_group,
    factor_groups,
    morris_screen,
    prior_values,
    select_parameters,
    sobol_indices,
    tornado_figure,
    two_stage_screen,
)
from leptotwin.catalog import load_catalog
from leptotwin.catalog.loader import OTHER_SITE_BLOCKS
from leptotwin.catalog.priors import prior_distribution, uncertain_parameters
from leptotwin.errors import LeptotwinError


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def params(cat):
    return uncertain_parameters(cat)


# -- Ishigami through the wrappers ----------------------------------------------------------------

# Ishigami & Homma 1990, a = 7, b = 0.1; analytic indices as tabulated in Saltelli et al. 2010
# (Comput Phys Commun 181:259) and SALib's own test suite
ISHIGAMI_S1 = (0.3139, 0.4424, 0.0)
ISHIGAMI_ST = (0.5576, 0.4424, 0.2437)


def _ishigami_readout(cat, params):
    """Three uniform-prior catalogue values mapped linearly onto [-π, π] (so x ~ U(-π, π) when
    the wrappers sample the priors), then the Ishigami function."""
    uni = params[params["prior_dist"] == "uniform"].head(3)
    paths = list(uni["path"])
    lo, hi = uni["prior_low"].to_numpy(), uni["prior_high"].to_numpy()

    def readout(c):
        x = [
            -math.pi + 2 * math.pi * (c.quantity(p).value - a) / (b - a)
            for p, a, b in zip(paths, lo, hi, strict=True)
        ]
        y = math.sin(x[0]) + 7 * math.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * math.sin(x[0])
        return {"ishigami": y}

    return paths, readout


def test_ishigami_sobol_indices_match_the_analytic_values(cat, params):
    paths, readout = _ishigami_readout(cat, params)
    res = sobol_indices(catalog=cat, readout_fn=readout, parameters=paths, n_base=1024, seed=1)
    assert res.n_evaluations == 1024 * (2 * 3 + 2)
    t = res.table.set_index("factor")
    for p, s1, st in zip(paths, ISHIGAMI_S1, ISHIGAMI_ST, strict=True):
        assert t.loc[p, "S1"] == pytest.approx(s1, abs=0.06)
        assert t.loc[p, "ST"] == pytest.approx(st, abs=0.06)
        # the bootstrap interval covers the analytic value (generous: 1.5 × the half-width)
        assert abs(t.loc[p, "ST"] - st) <= 1.5 * t.loc[p, "ST_conf"]
    assert list(res.ranking("ishigami")["factor"]) == paths  # ST: x1 > x2 > x3
    assert res.nonfinite == {"ishigami": 0.0}
    assert res.second_order["ishigami"].shape == (3, 3)


def test_sobol_refuses_a_base_size_that_is_not_a_power_of_two(cat, params):
    paths, readout = _ishigami_readout(cat, params)
    with pytest.raises(LeptotwinError, match="power of 2"):
        sobol_indices(catalog=cat, readout_fn=readout, parameters=paths, n_base=100, seed=1)


def test_sobol_of_a_constant_readout_is_nan_without_warnings(cat, params):
    paths, _ = _ishigami_readout(cat, params)
    res = sobol_indices(
        catalog=cat, readout_fn=lambda c: {"flat": 2.0}, parameters=paths, n_base=8, seed=1
    )
    assert res.table["ST"].isna().all()
    fig = tornado_figure(res, "flat")  # drawn, saying there is no finite index
    assert fig.axes


# -- Morris ---------------------------------------------------------------------------------------


def _catalogue_like(params):
    """Six parameters of different prior kinds: one dominant, four weak, one dummy."""
    dominant = "pathway.egfr_weight"  # lognormal
    weak = [
        "erlotinib.pk.human.fu",  # uniform
        "osimertinib.potency[0].ic50",  # loguniform
        "qpcr.parameters.ct0_areg",  # normal
        "alectinib.pk.mouse.fu",  # logitnormal
    ]
    dummy = "mouse.body_weight"
    return dominant, weak, dummy


def _synthetic_readout(cat, params):
    dominant, weak, _ = _catalogue_like(params)

    def readout(c):
        # each term is the factor's prior CDF, so the effects compare on probability scale
        u = {p: float(prior_distribution(cat.quantity(p)).cdf(c.quantity(p).value)) for p in weak}
        u_dom = float(prior_distribution(cat.quantity(dominant)).cdf(c.quantity(dominant).value))
        y = 10.0 * u_dom + sum(0.5 * (k + 1) * u[p] for k, p in enumerate(weak))
        return {"y": y, "y2": 2.0 * y}

    return readout


def test_morris_ranks_the_dominant_factor_first_and_the_dummy_last(cat, params):
    dominant, weak, dummy = _catalogue_like(params)
    paths = [weak[0], dummy, dominant, *weak[1:]]
    res = morris_screen(
        catalog=cat,
        readout_fn=_synthetic_readout(cat, params),
        parameters=paths,
        trajectories=12,
        seed=3,
    )
    assert isinstance(res, MorrisResult) and not res.grouped
    assert res.n_evaluations == 12 * (len(paths) + 1)
    ranked = res.ranking("y")
    assert ranked["factor"].iloc[0] == dominant
    assert ranked["factor"].iloc[-1] == dummy
    assert ranked.set_index("factor").loc[dummy, "mu_star"] == 0.0
    # the weak factors in the order of their coefficients
    assert list(ranked["factor"].iloc[1:5]) == weak[::-1]
    # an elementary effect of a linear term in u is its coefficient (tail-trimmed priors: the
    # step in u is a step in probability of (1 - 2·tail)·Δ)
    t = ranked.set_index("factor")
    assert t.loc[dominant, "mu_star"] == pytest.approx(10.0 * (1 - 2 * DEFAULT_TAIL), rel=1e-6)
    assert t.loc[weak[0], "mu_star"] == pytest.approx(0.5, rel=1e-6)  # uniform: no trimming
    assert t.loc[dominant, "rank"] == 1 and t.loc[dominant, "mu_star_rel"] == 1.0
    frame = res.to_frame()
    assert {"readout", "factor", "mu_star", "sigma", "conf", "rank", "unit"} <= set(frame)
    assert frame.set_index(["readout", "factor"]).loc[("y", dominant), "unit"] == "1"


@pytest.mark.parametrize("trajectories", [3, 5])
def test_groups_cost_r_times_groups_plus_one(cat, params, trajectories):
    calls = []

    def readout(c):
        calls.append(1)
        return {"w": c.pathway_value("egfr_weight")}

    res = morris_screen(
        catalog=cat, readout_fn=readout, groups="block", trajectories=trajectories, seed=1
    )
    groups = set(factor_groups(cat).values())
    assert len(groups) == len(res.factors) and res.grouped
    assert len(calls) == res.n_evaluations == trajectories * (len(groups) + 1)
    # every uncertain parameter of the study (not those only another tumour site reads)
    study = ~params["path"].str.split(".").str[0].isin(OTHER_SITE_BLOCKS)
    assert 0 < (~study).sum() and int(res.factors["n_members"].sum()) == study.sum()
    ranked = res.ranking("w")
    assert ranked["factor"].iloc[0] == "pathway"
    assert (ranked["mu_star"].iloc[1:] == 0).all()
    assert np.isnan(ranked["sigma"].iloc[0])  # undefined for a group of several parameters


def test_factor_groups_are_catalogue_blocks(cat):
    groups = factor_groups(cat)
    assert groups["alectinib.pk.mouse.CL"] == "alectinib mouse PK"
    assert groups["alectinib.pk.human.CL"] == "alectinib human PK"
    assert groups["A925L/AR.mir449a"] == "A925L/AR cell line"
    assert groups["pathway.egfr_weight"] == "pathway"
    assert groups["blood_tumour_barrier.parameters.leak_ratio"] == "blood_tumour_barrier"
    assert groups["qpcr.parameters.ct0_areg"] == "qpcr assay"
    assert factor_group("mouse.body_weight", "species") == "mouse physiology"
    assert 25 <= len(set(groups.values())) <= 60
    with pytest.raises(LeptotwinError, match="no group"):
        factor_groups(cat, ["pathway.egfr_weight"], {"pathway.birth_max": "x"})
    with pytest.raises(LeptotwinError, match="not an uncertain"):
        factor_groups(cat, ["pathway.no_such_value"])


# -- the prior-space map --------------------------------------------------------------------------


@pytest.mark.parametrize("dist", ["lognormal", "normal", "uniform", "loguniform", "logitnormal"])
def test_prior_space_map_stays_inside_the_support(cat, params, dist):
    rows = params[params["prior_dist"] == dist]
    assert len(rows) > 0
    paths = list(rows["path"])
    u = np.vstack(
        [
            np.zeros(len(paths)),
            np.ones(len(paths)),
            np.random.default_rng(0).random((200, len(paths))),
        ]
    )
    theta = prior_values(cat, paths, u)
    assert np.isfinite(theta).all()
    for j, p in enumerate(paths):
        q = cat.quantity(p)
        d = prior_distribution(q)
        col = theta[:, j]
        if dist in BOUNDED_DISTS:
            assert col.min() >= q.prior.low and col.max() <= q.prior.high
            assert col[0] == pytest.approx(q.prior.low) and col[1] == pytest.approx(q.prior.high)
        else:  # the central 99 %
            assert col[0] == pytest.approx(d.ppf(DEFAULT_TAIL))
            assert col[1] == pytest.approx(d.ppf(1 - DEFAULT_TAIL))
        if dist in ("lognormal", "loguniform"):
            assert col.min() > 0
        if dist == "logitnormal":
            assert 0 < col.min() and col.max() < 1
        # the probability of the value is the (trimmed) design point
        a = 0.0 if dist in BOUNDED_DISTS else DEFAULT_TAIL
        np.testing.assert_allclose(d.cdf(col[2:]), a + (1 - 2 * a) * u[2:, j], atol=1e-9)
    # and the catalogue accepts every one of them
    for point in theta[:3]:
        c = cat.with_values(dict(zip(paths, point.tolist(), strict=True)))
        assert c.quantity(paths[0]).value == point[0]


def test_prior_values_refuses_points_outside_the_cube(cat):
    with pytest.raises(LeptotwinError, match="unit cube"):
        prior_values(cat, ["pathway.egfr_weight"], np.array([[1.2]]))
    with pytest.raises(LeptotwinError, match="wrong shape"):
        prior_values(cat, ["pathway.egfr_weight"], np.array([0.2]))


# -- readouts that are not finite -----------------------------------------------------------------


def test_nan_readouts_drop_their_trajectory_and_are_counted(cat):
    path = "pathway.egfr_weight"
    top = float(prior_distribution(cat.quantity(path)).ppf(0.9))  # only the top level

    def readout(c):
        w = c.pathway_value("egfr_weight")
        return {"fold": math.nan if w > top else w, "ok": w}

    res = morris_screen(
        catalog=cat,
        readout_fn=readout,
        parameters=[path, "pathway.birth_max"],
        trajectories=20,
        seed=5,
    )
    assert 0 < res.nonfinite["fold"] < 1 and res.nonfinite["ok"] == 0
    assert res.censored["fold"] == 0
    t = res.table.set_index(["readout", "factor"])
    assert t.loc[("fold", path), "n_used"] < 20 == t.loc[("ok", path), "n_used"]
    assert np.isfinite(t.loc[("fold", path), "mu_star"])
    assert t.loc[("fold", path), "mu_star"] > 0


def test_infinite_readouts_are_censored_at_the_largest_finite_value(cat):
    path = "pathway.egfr_weight"
    d = prior_distribution(cat.quantity(path))
    top = float(d.ppf(0.9))

    def readout(c):
        w = c.pathway_value("egfr_weight")
        return {"fold": math.inf if w > top else w}

    kw = {"catalog": cat, "readout_fn": readout, "parameters": [path], "trajectories": 20}
    res = morris_screen(**kw, seed=5)
    assert res.censored["fold"] == res.nonfinite["fold"] > 0
    (row,) = res.table.itertuples()
    assert row.n_used == 20  # nothing dropped
    # the two lower grid levels are finite: every step is from level 0 to 2 (finite) or 1 to 3
    # (censored at the largest finite value, level 2)
    w = d.ppf(DEFAULT_TAIL + (1 - 2 * DEFAULT_TAIL) * np.array([0, 1 / 3, 2 / 3]))
    steps = {abs(w[2] - w[0]), abs(w[2] - w[1])}
    assert min(steps) / (2 / 3) <= row.mu_star <= max(steps) / (2 / 3) + 1e-9
    dropped = morris_screen(**kw, seed=5, censor_inf=False)
    assert dropped.table["n_used"].iloc[0] < 20


def test_errors_count_as_nonfinite_only_when_asked(cat):
    def readout(c):
        if c.pathway_value("egfr_weight") > cat.pathway_value("egfr_weight"):
            raise RuntimeError("solver failed")
        return {"w": c.pathway_value("egfr_weight")}

    kw = {"catalog": cat, "readout_fn": readout, "parameters": ["pathway.egfr_weight"], "seed": 2}
    with pytest.raises(RuntimeError):
        morris_screen(**kw, trajectories=6)
    res = morris_screen(**kw, trajectories=6, on_error="nan")
    assert res.n_errors > 0
    assert res.nonfinite["w"] == pytest.approx(res.n_errors / res.n_evaluations)


# -- two-stage screen, selection, figures ---------------------------------------------------------


def test_two_stage_screen_selects_the_driving_parameters(cat):
    def readout(c):
        return {
            "a": 5 * math.log(c.pathway_value("egfr_weight"))
            + math.log(c.pathway_value("birth_max")),
            "b": c.in_vivo_value("blood_tumour_barrier", "leak_ratio"),
        }

    res = two_stage_screen(catalog=cat, readout_fn=readout, trajectories=4, seed=7)
    assert set(res.kept_groups) == {"pathway", "blood_tumour_barrier"}
    assert res.stage1.grouped and not res.stage2.grouped
    n_stage2 = len(res.stage2.factors)
    assert n_stage2 == 13 + 2  # pathway and barrier parameters
    assert res.n_evaluations == 4 * (len(res.stage1.factors) + 1) + 4 * (n_stage2 + 1)
    chosen = select_parameters(res, top=3)
    assert chosen[:2] in (
        ["pathway.egfr_weight", "blood_tumour_barrier.parameters.leak_ratio"],
        ["blood_tumour_barrier.parameters.leak_ratio", "pathway.egfr_weight"],
    )
    assert "pathway.birth_max" in chosen
    assert "pathway.areg_kd" not in chosen  # no effect
    assert select_parameters(res, ["b"], top=3) == ["blood_tumour_barrier.parameters.leak_ratio"]
    with pytest.raises(LeptotwinError, match="grouped"):
        select_parameters(res.stage1)


def test_tornado_figure_labels_paths_with_units(cat, params):
    res = morris_screen(
        catalog=cat,
        readout_fn=_synthetic_readout(cat, params),
        parameters=["pathway.egfr_weight", "osimertinib.potency[0].ic50", "mouse.body_weight"],
        trajectories=4,
        seed=1,
        readout_units={"y": "fold"},
    )
    fig = tornado_figure(res, "y", top=2)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["pathway.egfr_weight [1]", "osimertinib.potency[0].ic50 [nM]"]  # top first
    assert "fold" in ax.get_xlabel()
    grouped = morris_screen(
        catalog=cat,
        readout_fn=_synthetic_readout(cat, params),
        groups="block",
        trajectories=2,
        seed=1,
    )
    labels = [t.get_text() for t in tornado_figure(grouped, "y", top=3).axes[0].get_yticklabels()]
    assert "pathway (13 parameters)" in labels
    with pytest.raises(LeptotwinError, match="unknown readout"):
        tornado_figure(res, "nope")


def test_nan_policy_median_and_auto(cat):
    path = "pathway.egfr_weight"
    d = prior_distribution(cat.quantity(path))
    low = float(d.ppf(0.3))  # levels 0 (and only 0) give NaN: about half the trajectories

    def readout(c):
        w = c.pathway_value("egfr_weight")
        return {"y": math.nan if w < low else w}

    kw = {"catalog": cat, "readout_fn": readout, "parameters": [path], "trajectories": 20}
    drop = morris_screen(**kw, seed=4)
    median = morris_screen(**kw, seed=4, nan_policy="median")
    assert drop.imputed["y"] == 0 and drop.table["n_used"].iloc[0] < 20
    assert median.imputed["y"] == pytest.approx(median.nonfinite["y"])
    assert median.imputed["y"] > 0
    assert median.table["n_used"].iloc[0] == 20
    auto = morris_screen(**kw, seed=4, nan_policy="auto")
    kept = drop.table["n_used"].iloc[0]
    assert auto.imputed["y"] == (0.0 if kept >= 10 else median.imputed["y"])
    with pytest.raises(LeptotwinError, match="NaN policy"):
        morris_screen(**kw, seed=4, nan_policy="zero")


def test_values_shared_by_several_drugs_form_their_own_group(cat, params):
    groups = factor_groups(cat)
    shared = params[params["tied_paths"].str.contains("crizotinib", regex=False)]
    assert len(shared) > 0
    for p in shared["path"]:
        assert groups[p] == SHARED_GROUP
    # and the figures say how many values move with it
    p = shared["path"].iloc[0]
    res = morris_screen(
        catalog=cat,
        readout_fn=lambda c: {"x": c.quantity(p).value},
        parameters=[p],
        trajectories=2,
        seed=1,
    )
    (label,) = [t.get_text() for t in tornado_figure(res, "x").axes[0].get_yticklabels()]
    n_tied = len(shared["tied_paths"].iloc[0].split("; "))
    assert label.startswith(f"{p} (+{n_tied} tied)")


def test_two_stage_families_screen_only_their_own_readouts_and_groups(cat):
    calls: dict[tuple[str, ...], int] = {}

    def full(c):
        return {
            "a": math.log(c.pathway_value("egfr_weight")),
            "b": c.in_vivo_value("blood_tumour_barrier", "leak_ratio"),
        }

    def subset(names):
        key = tuple(names)

        def fn(c):
            calls[key] = calls.get(key, 0) + 1
            out = full(c)
            return {n: out[n] for n in names}

        return fn

    res = two_stage_screen(
        catalog=cat,
        readout_fn=full,
        families={"A": ["a"], "B": ["b"]},
        subset_fn=subset,
        trajectories=3,
        stage2_trajectories=2,
        max_parameters={"A": 5, "B": None},
        seed=2,
    )
    fam = res.families
    assert fam["A"]["kept"] == ["pathway"] and fam["B"]["kept"] == ["blood_tumour_barrier"]
    # the cap keeps the first group even when it is larger than the cap (13 pathway values)
    assert calls[("a",)] == fam["A"]["n_evaluations"] == 2 * (13 + 1)
    assert calls[("b",)] == fam["B"]["n_evaluations"] == 2 * (2 + 1)
    assert res.n_evaluations == res.stage1.n_evaluations + 2 * 14 + 2 * 3
    t = res.stage2.table
    assert set(t[t["readout"] == "a"]["factor"]) == set(res.stage1.members("pathway"))
    assert set(t[t["readout"] == "b"]["factor"]) == set(res.stage1.members("blood_tumour_barrier"))
    assert select_parameters(res, top=1) in (
        ["pathway.egfr_weight", "blood_tumour_barrier.parameters.leak_ratio"],
        ["blood_tumour_barrier.parameters.leak_ratio", "pathway.egfr_weight"],
    )


def test_grouped_mu_star_equals_salibs_grouped_analysis(cat):
    """The wrapper analyses one representative value per group (cheaper); μ* must be SALib's
    grouped μ* on the same design."""
    from SALib.analyze import morris as salib_analyze
    from SALib.sample import morris as salib_sample

    from leptotwin.calibration.sensitivity import _seeds

    def readout(c):
        return {
            "w": 3 * math.log(c.pathway_value("egfr_weight"))
            + math.log(c.pathway_value("birth_max"))
            + c.in_vivo_value("blood_tumour_barrier", "leak_ratio")
        }

    res = morris_screen(catalog=cat, readout_fn=readout, groups="block", trajectories=4, seed=9)
    groups = factor_groups(cat)
    names = list(groups)
    problem = {
        "num_vars": len(names),
        "names": names,
        "bounds": [[0.0, 1.0]] * len(names),
        "groups": [groups[n] for n in names],
    }
    s_sample, s_boot = _seeds(9)
    u = salib_sample.sample(problem, 4, num_levels=4, seed=s_sample)
    y = np.array(
        [
            readout(cat.with_values(dict(zip(names, t.tolist(), strict=True))))["w"]
            for t in prior_values(cat, names, u)
        ]
    )
    si = salib_analyze.analyze(problem, u, y, num_levels=4, num_resamples=100, seed=s_boot)
    direct = dict(zip(si["names"], np.ma.filled(si["mu_star"], np.nan), strict=True))
    mine = res.table.set_index("factor")["mu_star"]
    assert set(direct) == set(mine.index)
    for f, v in mine.items():
        assert v == pytest.approx(direct[f], abs=1e-12)


def test_combined_tornado_is_one_panel_of_relative_mu_star(cat, params):
    res = morris_screen(
        catalog=cat,
        readout_fn=_synthetic_readout(cat, params),
        parameters=["pathway.egfr_weight", "osimertinib.potency[0].ic50", "mouse.body_weight"],
        trajectories=4,
        seed=1,
    )
    fig = tornado_figure(res, ["y", "y2"], combine=True, title="both")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["pathway.egfr_weight [1]", "osimertinib.potency[0].ic50 [nM]"]  # no dummy
    assert "relative" in ax.get_xlabel()
