"""Draws from the calibrated posterior and the priors; the active-catalogue switch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.catalog import load_catalog, prior_distribution, uncertain_parameters, using_catalog
from leptotwin.catalog.posterior import (
    draw_catalogs,
    draw_parameters,
    effective_draws,
    load_posterior_draws,
    posterior_median_catalog,
    posterior_median_values,
)
from leptotwin.errors import LeptotwinError

W_E = "pathway.egfr_weight"


def test_using_catalog_switches_load_catalog_and_restores_it():
    base = load_catalog()
    drawn = base.with_values({W_E: 5.5})
    with using_catalog(drawn) as active:
        assert active is drawn
        assert load_catalog().pathway_value("egfr_weight") == 5.5
        with using_catalog(None):
            assert load_catalog() is base
        assert load_catalog() is drawn
    assert load_catalog() is base


def test_moving_a_value_keeps_its_lognormal_prior_where_it_was():
    base = load_catalog()
    q0 = base.quantity(W_E)
    moved = base.with_values({W_E: q0.value * 1.3}).quantity(W_E)
    assert moved.value == pytest.approx(q0.value * 1.3)
    assert prior_distribution(moved).median() == pytest.approx(q0.value)
    twice = base.with_values({W_E: 5.0}).with_values({W_E: 7.0}).quantity(W_E)
    assert prior_distribution(twice).median() == pytest.approx(q0.value)


def test_prior_draws_cover_every_uncertain_parameter_with_prior_quantiles():
    cat = load_catalog()
    table = draw_parameters(4000, rng=np.random.default_rng(1), source="prior")
    assert list(table.columns) == list(uncertain_parameters(cat)["path"])
    dist = prior_distribution(cat.quantity(W_E))
    lo, hi = np.quantile(table[W_E], [0.025, 0.975])
    assert lo == pytest.approx(dist.ppf(0.025), rel=0.05)
    assert hi == pytest.approx(dist.ppf(0.975), rel=0.05)
    assert table.attrs["fitted"] == []


def test_posterior_rows_are_resampled_whole_and_the_rest_come_from_priors():
    cat = load_catalog()
    paths = set(uncertain_parameters(cat)["path"])
    other = next(p for p in sorted(paths) if p != W_E)
    ens = pd.DataFrame({W_E: [5.0, 6.0, 7.0], "log_posterior": [-1.0, -2.0, -3.0]})
    table = draw_parameters(
        300, rng=np.random.default_rng(2), draws=ens.drop(columns="log_posterior")
    )
    assert set(table[W_E]) <= {5.0, 6.0, 7.0}
    assert table[other].nunique() > 250  # drawn from its prior, not fixed
    assert table.attrs["fitted"] == [W_E]
    assert posterior_median_values(cat, ens[[W_E]]) == {W_E: 6.0}
    assert posterior_median_catalog(cat, ens[[W_E]]).pathway_value("egfr_weight") == 6.0


def test_draw_catalogs_are_reproducible_and_distinct():
    a = draw_catalogs(3, rng=np.random.default_rng(3), source="prior")
    b = draw_catalogs(3, rng=np.random.default_rng(3), source="prior")
    wa = [c.pathway_value("egfr_weight") for c in a]
    assert wa == [c.pathway_value("egfr_weight") for c in b]
    assert len(set(wa)) == 3


def test_draws_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "posterior_draws.csv"
    bad.write_text(f"{W_E}\nnan\n")
    with pytest.raises(LeptotwinError, match="finite"):
        load_posterior_draws(bad)
    with pytest.raises(LeptotwinError, match="not found"):
        load_posterior_draws(tmp_path / "missing.csv")
    unknown = pd.DataFrame({"pathway.no_such_thing": [1.0]})
    with pytest.raises(LeptotwinError, match="no prior"):
        draw_parameters(2, rng=np.random.default_rng(0), draws=unknown)
    with pytest.raises(LeptotwinError, match="positive integer"):
        draw_parameters(0, rng=np.random.default_rng(0))


def test_a_draw_from_the_tails_is_a_valid_catalogue():
    """A lognormal draw lies outside the prior's 95 % range one time in 20: still a catalogue."""
    base = load_catalog()
    hi = base.quantity(W_E).prior.high
    moved = base.with_values({W_E: 1.5 * hi})
    row = moved.table().set_index("path").loc[W_E]
    assert row["value"] == pytest.approx(1.5 * hi)
    assert moved.quantity(W_E).prior.catalog_value == base.quantity(W_E).value


def test_posterior_of_follows_tied_values():
    """One summary for a YAML anchor shared by several values is every tied value's summary."""
    import copy

    from leptotwin.catalog import load_catalog
    from leptotwin.catalog.schema import PosteriorSummary

    cat = copy.copy(load_catalog())
    assert cat.posterior_of("pathway.egfr_weight") is not None  # installed calibration
    assert cat.posterior_of("mouse.body_weight") is None  # not calibrated
    tied = next(v for v in cat.tied.values() if len(v) > 2)
    summary = PosteriorSummary(median=1.0, low=0.5, high=2.0)
    cat.posterior = {tied[1]: summary}
    assert all(cat.posterior_of(t) == summary for t in tied)
    table = cat.table().set_index("path")
    assert (table.loc[list(tied), "posterior_median"] == 1.0).all()


def test_importance_weights_steer_the_resampling_and_the_median(tmp_path):
    """A ``weight`` column (the calibration's importance stage) decides which rows are drawn
    and moves the posterior median; weights that cannot be probabilities are refused."""
    cat = load_catalog()
    path = tmp_path / "posterior_draws.csv"
    pd.DataFrame(
        {W_E: [5.0, 6.0, 7.0], "log_weight": [-50.0, 0.0, -50.0], "weight": [0, 1, 0]}
    ).to_csv(path, index=False)
    ens = load_posterior_draws(path)
    assert list(ens.columns) == [W_E]
    assert ens.attrs["weight"].tolist() == [0.0, 1.0, 0.0]
    table = draw_parameters(200, rng=np.random.default_rng(4), draws=ens)
    assert set(table[W_E]) == {6.0}
    skew = ens.copy()
    skew.attrs["weight"] = np.array([0.1, 0.1, 0.8])
    assert posterior_median_values(cat, skew) == {W_E: 7.0}
    drawn = draw_parameters(4000, rng=np.random.default_rng(5), draws=skew)[W_E]
    assert (drawn == 7.0).mean() == pytest.approx(0.8, abs=0.03)
    for bad in ("-1", "nan"):
        path.write_text(f"{W_E},weight\n5.0,{bad}\n6.0,1\n")
        with pytest.raises(LeptotwinError, match="weights"):
            load_posterior_draws(path)


def test_effective_draws_count_repeated_rows_once():
    assert effective_draws(None, 200) == 200.0  # priors only: every draw its own
    assert effective_draws(np.arange(50), 50) == 50.0
    assert effective_draws(np.zeros(40, dtype=int), 40) == 1.0
    assert effective_draws(np.array([0, 0, 1, 1]), 4) == 2.0
    ens = pd.DataFrame({W_E: [5.0, 6.0, 7.0]})
    ens.attrs["weight"] = np.array([0.1, 0.1, 0.8])
    table = draw_parameters(300, rng=np.random.default_rng(3), draws=ens)
    rows = table.attrs["rows"]
    assert np.array_equal(ens[W_E].to_numpy()[rows], table[W_E].to_numpy())
    assert 1.0 < effective_draws(rows, 300) < 2.0  # three rows, one holding 80 % of the weight
    assert "rows" not in draw_parameters(5, rng=np.random.default_rng(3), source="prior").attrs


def test_effective_draws_of_weighted_resampling_match_kish():
    """Resampling n draws by weights of effective size ESS leaves about n ESS / (n + ESS - 1)."""
    rng = np.random.default_rng(11)
    theta = rng.normal(0.5, 2.0, size=1000)  # a proposal wider than the target N(0, 1)
    w = np.exp(-0.5 * theta**2 + 0.5 * ((theta - 0.5) / 2.0) ** 2)
    w /= w.sum()
    ess = 1.0 / np.sum(w**2)
    n = 200
    got = np.mean([effective_draws(rng.choice(1000, size=n, p=w), n) for _ in range(300)])
    assert got == pytest.approx(n * ess / (n + ess - 1), rel=0.03)
