"""Priors as data (issue 13, point 1): every assumption of the catalogue carries a prior; priors
become scipy distributions; a catalogue with some values replaced reaches the model; the posterior
summary of a calibration is read and shown beside the prior."""

from __future__ import annotations

import io
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import integrate

from leptotwin.catalog import (
    Prior,
    Quantity,
    distribution,
    load_catalog,
    prior_distribution,
    read_posterior,
    uncertain_parameters,
    with_values,
)
from leptotwin.catalog import loader as loader_module
from leptotwin.catalog.priors import Z95
from leptotwin.errors import LeptotwinError

DATA = Path(load_catalog().files["drugs"]).parent


def _copy(tmp_path: Path, file: str | None = None, edit=None) -> Path:
    for path in DATA.glob("*.yaml"):
        if path.name != "posterior.yaml":
            shutil.copy(path, tmp_path / path.name)
    if file is not None:
        p = tmp_path / file
        p.write_text(edit(p.read_text(encoding="utf-8")), encoding="utf-8")
    return tmp_path


def _edit_line(fragment: str, fn):
    """Apply ``fn`` to the one line of a file that contains ``fragment``."""

    def edit(text: str) -> str:
        lines = text.split("\n")
        hits = [i for i, line in enumerate(lines) if fragment in line]
        assert len(hits) == 1, fragment
        lines[hits[0]] = fn(lines[hits[0]])
        return "\n".join(lines)

    return edit


def _set_prior(new: str):
    return lambda line: re.sub(r"prior: \{[^{}]*\}", new, line)


# -- schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        ("prior: {dist: lognormal, low: 9, high: 4, source: 'x range'}", "prior needs low < high"),
        (
            "prior: {dist: lognormal, low: 7, high: 9, source: 'x range'}",
            "value 6.1 lies outside its prior range",
        ),
        (
            "prior: {dist: loguniform, low: 0, high: 9, source: 'x range'}",
            "a loguniform prior needs positive bounds",
        ),
        (
            "prior: {dist: logitnormal, low: 0.5, high: 9, source: 'x range'}",
            r"a logitnormal prior needs bounds inside \(0, 1\)",
        ),
        (
            "prior: {dist: gamma, low: 4, high: 9, source: 'x range'}",
            r"prior.dist: unknown prior distribution 'gamma'; expected one of "
            "lognormal, normal, uniform, loguniform, logitnormal",
        ),
        ("prior: {dist: normal, low: 4, high: 9}", r"prior.source: missing"),
        ("prior: {dist: normal, low: 4, high: 9, source: x range, sd: 1}", r"sd: unknown key"),
    ],
)
def test_a_bad_prior_is_refused_naming_the_file_and_path(tmp_path, prior, message):
    folder = _copy(tmp_path, "pathway.yaml", _edit_line("egfr_weight:", _set_prior(prior)))
    with pytest.raises(LeptotwinError, match=r"pathway.yaml: pathway.egfr_weight.*" + message):
        load_catalog(folder)


def test_prior_validation_in_the_schema():
    with pytest.raises(ValidationError, match="prior needs low < high"):
        Prior(dist="normal", low=1, high=1, source="abc")
    with pytest.raises(ValidationError, match="finite"):
        Prior(dist="normal", low=-math.inf, high=1, source="abc")
    with pytest.raises(ValidationError, match="lies outside its prior range"):
        Quantity(
            value=3,
            unit="1",
            source="abc",
            prior={"dist": "uniform", "low": 0, "high": 1, "source": "abc"},
        )
    # the bounds are inclusive: a value at a uniform bound is accepted
    q = Quantity(
        value=1,
        unit="1",
        source="abc",
        prior={"dist": "uniform", "low": 0, "high": 1, "source": "abc"},
    )
    assert q.prior is not None and q.prior.high == 1


def test_an_assumption_without_a_prior_is_refused(tmp_path):
    folder = _copy(
        tmp_path,
        "pathway.yaml",
        _edit_line("egfr_weight:", lambda line: re.sub(r", prior: \{[^{}]*\}", "", line)),
    )
    with pytest.raises(
        LeptotwinError, match=r"pathway.yaml: pathway.egfr_weight: an assumption needs a prior; exp"
    ):
        load_catalog(folder)


def test_a_missing_prior_in_another_file_names_that_file(tmp_path):
    folder = _copy(
        tmp_path,
        "cell_lines.yaml",
        _edit_line("mir449a: {value: 0.2", lambda line: re.sub(r", prior: \{[^{}]*\}", "", line)),
    )
    with pytest.raises(
        LeptotwinError, match=r"cell_lines.yaml: cell_lines.A925L/AR.mir449a: an assumption needs"
    ):
        load_catalog(folder)


# -- the packaged catalogue -----------------------------------------------------------------------


def test_every_assumption_has_a_prior_and_every_prior_its_source():
    table = load_catalog().table()
    assumptions = table[table["assumption"] & ~table["setting"]]
    assert len(assumptions) > 250
    assert (assumptions["prior_dist"] != "").all()
    # protocol settings are chosen, not unknown: never a prior, always said where they come from
    settings = table[table["setting"]]
    assert {"lmc_mouse.parameters.treatment_start", "culture.parameters.seeding_cells"} <= set(
        settings["path"]
    )
    assert (settings["prior_dist"] == "").all() and settings["source"].str.len().min() > 10
    priors = table[table["prior_dist"] != ""]
    assert priors["prior_source"].str.len().min() > 10
    assert (priors["prior_low"] <= priors["value"]).all()
    assert (priors["value"] <= priors["prior_high"]).all()


def test_a_setting_with_a_prior_is_refused(tmp_path):
    folder = _copy(
        tmp_path,
        "in_vivo.yaml",
        _edit_line("    width: {value: 8.0", lambda line: line[:-1] + ", setting: true}"),
    )
    with pytest.raises(LeptotwinError, match="takes no prior"):
        load_catalog(folder)


def test_a_default_range_says_so_in_the_yaml():
    """Order-of-magnitude defaults are written per value, where a reader sees them."""
    table = load_catalog().table()
    row = table[table["path"] == "alectinib.pk.mouse.CL"].iloc[0]
    assert "95 % within 3-fold" in row["prior_source"]
    text = (DATA / "drugs.yaml").read_text(encoding="utf-8")
    assert text.count("(project default)") > 10


@pytest.mark.parametrize(
    ("path", "dist", "low", "high", "words"),
    [
        ("pathway.egfr_weight", "lognormal", 4.07, 9.15, "3-30x shift"),
        ("A925L/AR.mir449a", "lognormal", 0.1, 0.4, "direction only"),
        ("AZ5104.pk.mouse.fraction_formed", "logitnormal", 0.25, 0.75, "Brown 2017"),
        ("patients.parameters.lmc_tumour_cells_sd", "lognormal", 0.5, 2.0, "Nayak"),
        ("patients.parameters.csf_areg_baseline", "lognormal", 3.75, 60, "LLOQ"),
        ("patients.parameters.alk_refractory_mir449a", "lognormal", 0.1, 0.4, "A925L/AR"),
        ("pathway.autocrine_gain", "lognormal", 0.0198, 0.178, "3-fold"),
        ("pathway.areg_kd", "lognormal", 10, 50, "no measured Kd"),
        ("pathway.mir449a_km", "lognormal", 0.0167, 0.15, "3'UTR"),
        ("pathway.birth_max", "lognormal", 0.02, 0.045, "30-70 h"),
        ("pathway.death_max", "lognormal", 0.01, 0.04, "2-fold"),
        ("pathway.birth_half_signal", "lognormal", 0.125, 0.5, "2-fold"),
        ("erlotinib.pk.human.kp_uu_csf", "lognormal", 0.25, 1.0, "Togashi"),
        ("erlotinib.pk.human.fu", "uniform", 0.05, 0.08, "93-95 %"),
        ("osimertinib.pk.human.fu", "loguniform", 0.01, 0.1, "likely high"),
        ("osimertinib.potency[0].ic50", "loguniform", 480, 1865, "480-1865"),
        ("alectinib.pk.human.fu", "loguniform", 0.001, 0.01, "> 99 %"),
        ("erlotinib.pk.mouse.CL", "lognormal", 0.365, 0.821, "Wong 2012"),
    ],
)
def test_the_drivers_of_issue_13_have_explicit_sourced_ranges(path, dist, low, high, words):
    p = load_catalog().quantity(path).prior
    assert p is not None
    assert (p.dist, p.low, p.high) == (dist, pytest.approx(low), pytest.approx(high))
    assert words in p.source


def test_definitions_and_settings_are_not_assumptions():
    cat = load_catalog()
    for path in (
        "A925LPE3.mir449a",
        "siControl.scale",
        "alectinib.pk.mouse.routes.oral.F",
        "cetuximab.pk.human.fu",
        "bli.parameters.binning",
    ):
        q = cat.quantity(path)
        assert not q.assumption and q.prior is None, path
        assert q.source.split(":")[0] in {
            "definition",
            "convention",
            "setting of the virtual camera",
        }


# -- distributions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dist", "low", "high"),
    [
        ("normal", -3.0, 11.0),
        ("normal", 27.0, 32.0),
        ("logitnormal", 0.25, 0.75),
        ("logitnormal", 0.003, 0.4),
        ("lognormal", 0.5, 2.0),  # no value given: centred on the geometric mean
    ],
)
def test_central_95_percent_interval_is_low_to_high(dist, low, high):
    d = distribution(Prior(dist=dist, low=low, high=high, source="test"))
    assert d.ppf([0.025, 0.975]) == pytest.approx([low, high], rel=1e-9)
    assert d.cdf([low, high]) == pytest.approx([0.025, 0.975], rel=1e-9)


@pytest.mark.parametrize(
    ("dist", "low", "high"), [("uniform", 2.0, 5.0), ("loguniform", 1e-6, 1e-4)]
)
def test_uniform_priors_span_the_bounds(dist, low, high):
    d = distribution(Prior(dist=dist, low=low, high=high, source="test"))
    assert d.ppf([0.0, 1.0]) == pytest.approx([low, high], rel=1e-9)
    assert d.cdf([low, high]) == pytest.approx([0.0, 1.0], abs=1e-12)
    if dist == "loguniform":
        assert d.median() == pytest.approx(math.sqrt(low * high))


def test_lognormal_rule_median_is_the_value_and_the_wider_side_is_met():
    prior = Prior(dist="lognormal", low=2.0, high=12.0, source="test")
    d = distribution(prior, median=3.0)  # 4-fold above, 1.5-fold below
    assert d.median() == pytest.approx(3.0)
    assert d.ppf(0.975) == pytest.approx(12.0)  # the wider side: met exactly
    assert d.ppf(0.025) == pytest.approx(3.0 / 4.0)  # the narrower side: beyond its bound
    assert d.ppf(0.025) < prior.low
    # symmetric in log around the value ("95 % within k-fold"): both quantiles are the bounds
    d = distribution(Prior(dist="lognormal", low=2.0, high=18.0, source="test"), median=6.0)
    assert d.ppf([0.025, 0.975]) == pytest.approx([2.0, 18.0])
    assert d.std() > 0 and math.log(18 / 6) / Z95 == pytest.approx(d.kwds["s"])


def test_a_lognormal_median_outside_the_range_is_refused():
    with pytest.raises(LeptotwinError, match="median of a lognormal prior"):
        distribution(Prior(dist="lognormal", low=2.0, high=12.0, source="test"), median=20.0)


def test_a_fixed_value_has_no_prior_distribution():
    with pytest.raises(LeptotwinError, match="a fixed value has no prior"):
        prior_distribution(load_catalog().quantity("mouse.plasma_volume"))


def test_logitnormal_is_a_proper_density():
    d = distribution(Prior(dist="logitnormal", low=0.05, high=0.6, source="test"))
    total, _ = integrate.quad(d.pdf, 0.0, 1.0, limit=200)
    assert total == pytest.approx(1.0, abs=1e-7)
    x = np.array([0.01, 0.2, 0.5, 0.9])
    assert np.exp(d.logpdf(x)) == pytest.approx(d.pdf(x))
    assert d.ppf(d.cdf(x)) == pytest.approx(x)
    assert d.logpdf(0.0) == -np.inf and d.logpdf(1.2) == -np.inf
    draws = d.rvs(size=20_000, random_state=np.random.default_rng(4))
    assert ((draws > 0) & (draws < 1)).all()
    assert np.mean(draws < 0.05) == pytest.approx(0.025, abs=0.005)


def test_every_catalogue_prior_gives_a_usable_distribution():
    rng = np.random.default_rng(7)
    for _, path, q in load_catalog().quantities():
        if q.prior is None:
            continue
        d = prior_distribution(q)
        assert np.isfinite(d.logpdf(q.value)), path
        draws = d.rvs(size=50, random_state=rng)
        assert np.isfinite(draws).all(), path
        if q.prior.dist in ("uniform", "loguniform"):
            assert ((draws >= q.prior.low) & (draws <= q.prior.high)).all(), path
        elif q.prior.dist == "lognormal":
            assert d.median() == pytest.approx(q.value), path
            lo, hi = d.ppf([0.025, 0.975])
            assert lo <= q.prior.low * (1 + 1e-9) and hi >= q.prior.high * (1 - 1e-9), path
        else:
            assert d.ppf([0.025, 0.975]) == pytest.approx([q.prior.low, q.prior.high]), path


# -- the list of uncertain parameters -------------------------------------------------------------


def test_uncertain_parameters_one_row_per_parameter():
    cat = load_catalog()
    params = uncertain_parameters(cat)
    assert list(params.columns) == [
        "path",
        "group",
        "value",
        "unit",
        "prior_dist",
        "prior_low",
        "prior_high",
        "prior_median",
        "prior_source",
        "assumption",
        "tied_paths",
    ]
    assert params["path"].is_unique
    table = cat.table()
    with_prior = set(table.loc[table["prior_dist"] != "", "path"])
    listed = set(params["path"]) | {p for s in params["tied_paths"] for p in s.split("; ") if p}
    assert listed == with_prior
    iiv = params[params["path"] == "alectinib.pk.human.iiv.CL"].iloc[0]
    assert "osimertinib.pk.mouse.iiv.CL" in iiv["tied_paths"]
    assert not any(params["path"].str.startswith("crizotinib.pk.human.iiv."))
    w = params[params["path"] == "pathway.egfr_weight"].iloc[0]
    assert (w["unit"], w["prior_median"], w["tied_paths"]) == ("1", pytest.approx(6.10), "")


def test_tied_values_come_from_one_yaml_anchor():
    cat = load_catalog()
    group = cat.tied["gefitinib.pk.mouse.iiv.ka"]
    assert len(group) == 14 and "alectinib.pk.human.iiv.ka" in group
    assert "cetuximab.pk.human.iiv.CL" not in cat.tied  # its own values, not the anchor


# -- with_values ----------------------------------------------------------------------------------


def test_with_values_round_trips_and_leaves_the_original_alone():
    cat = load_catalog()
    before = cat.table()
    paths = {
        "pathway.egfr_weight": 5.5,
        "A925L/AR.mir449a": 0.1,
        "AZ5104.pk.mouse.fraction_formed": 0.25,
        "patients.parameters.lmc_tumour_cells_sd": 2.0,
        "osimertinib.potency[0].ic50": 1000.0,
        "human.csf_production": 0.3,
        "bli.parameters.attenuation": 0.05,
    }
    new = with_values(cat, paths)
    for path, value in paths.items():
        assert new.quantity(path).value == value
        moved, kept = new.quantity(path), cat.quantity(path)
        assert moved.prior.model_copy(update={"catalog_value": None}) == kept.prior
        assert prior_distribution(moved).median() == pytest.approx(
            prior_distribution(kept).median()
        )
        assert new.quantity(path).source == cat.quantity(path).source
    pd.testing.assert_frame_equal(cat.table(), before)
    back = with_values(new, {p: cat.quantity(p).value for p in paths})
    pd.testing.assert_frame_equal(back.table(), before)
    changed = new.table()["value"] != before["value"]
    assert sorted(new.table().loc[changed, "path"]) == sorted(paths)


def test_a_pathway_value_reaches_the_model():
    from leptotwin.model.pathway import PathwayModel

    cat = load_catalog()
    model = PathwayModel.from_catalog(with_values(cat, {"pathway.egfr_weight": 5.5}))
    assert model.egfr_weight == 5.5
    assert PathwayModel.from_catalog(cat).egfr_weight == pytest.approx(6.10)


def test_a_cell_line_value_reaches_the_model():
    from leptotwin.model.pathway import PathwayModel, cell_state

    cat = load_catalog()
    new = with_values(cat, {"A925L/AR.mir449a": 0.1})
    assert cell_state("A925L/AR", catalog=new).mir449a == 0.1
    model = PathwayModel.from_catalog(cat)
    assert model.areg_secretion(cell_state("A925L/AR", catalog=new)) > model.areg_secretion(
        cell_state("A925L/AR", catalog=cat)
    )


def test_drug_pk_values_reach_the_model():
    from leptotwin.model.pk import simulate_pk

    cat = load_catalog()
    new = with_values(cat, {"erlotinib.pk.mouse.CL": 2 * 0.547})
    t = np.linspace(0.0, 240.0, 4801)
    auc = {
        name: np.trapezoid(
            simulate_pk(
                "erlotinib", "mouse", "50 mg/kg QD x 10 d", t_h=t, iiv=False, catalog=c
            ).plasma_nM[0],
            t,
        )
        for name, c in (("old", cat), ("new", new))
    }
    assert auc["new"] / auc["old"] == pytest.approx(0.5, rel=0.02)  # AUC = F dose / CL
    formed = with_values(cat, {"AZ5104.pk.mouse.fraction_formed": 0.25})
    assert formed.metabolites_of("osimertinib", "mouse") == [("AZ5104", 0.25)]
    assert cat.metabolites_of("osimertinib", "mouse") == [("AZ5104", 0.5)]
    potency = with_values(cat, {"osimertinib.potency[0].ic50": 1000.0})
    assert potency.model_potency_nM("osimertinib") == {"EGFR": 1000.0}


def test_an_in_vivo_value_reaches_the_model_as_patients_burden_sd_did():
    from leptotwin.model.patients import simulate_csf_areg, study_groups

    cat = load_catalog()
    new = with_values(cat, {"patients.parameters.lmc_tumour_cells_sd": 2.0})
    groups = study_groups(new, sizes={"ALK+ alectinib-refractory LMC": 4000})
    df = simulate_csf_areg(groups[:1], rng=np.random.default_rng(2), catalog=new)
    assert np.log(df["tumour_cells"]).std() == pytest.approx(2.0, rel=0.05)


def test_tied_values_change_together_unless_asked():
    cat = load_catalog()
    new = with_values(cat, {"crizotinib.pk.mouse.iiv.CL": 0.4})
    assert {
        p.iiv["CL"] for p in (new.pk_parameters(d, "human") for d in ("alectinib", "gefitinib"))
    } == {0.4}
    one = with_values(cat, {"crizotinib.pk.mouse.iiv.CL": 0.4}, tied=False)
    assert one.pk_parameters("crizotinib", "mouse").iiv["CL"] == 0.4
    assert one.pk_parameters("crizotinib", "human").iiv["CL"] == 0.3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"pathway.egfr_wieght": 6.0},
            r"path: not a catalogue value \(got 'pathway.egfr_wieght'\)",
        ),
        ({"alectinib.pk.human": 1.0}, "not a catalogue value"),
        ({"alectinib.potency[9].ic50": 1.0}, "not a catalogue value"),
        ({"pathway.egfr_weight": math.nan}, "pathway.egfr_weight: not a finite number"),
        ({"pathway.egfr_weight": "six"}, "not a finite number"),
        ({"pathway.egfr_weight": -1.0}, "outside the support of its lognormal prior.*positive"),
        ({"mouse.body_weight": 31.0}, r"outside the support of its uniform prior.*\[20, 30\]"),
        ({"AZ5104.pk.mouse.fraction_formed": 1.0}, r"logitnormal prior.*\(0, 1\)"),
    ],
)
def test_with_values_refuses_what_is_not_a_value_of_the_catalogue(values, message):
    with pytest.raises(LeptotwinError, match=message):
        with_values(load_catalog(), values)


def test_a_posterior_draw_outside_the_95_percent_range_is_accepted():
    new = with_values(load_catalog(), {"pathway.egfr_weight": 12.0})  # beyond 9.15, in support
    assert new.pathway_value("egfr_weight") == 12.0


# -- posterior ------------------------------------------------------------------------------------

POSTERIOR = """\
provenance: {method: test, seed: 1}
parameters:
  pathway.egfr_weight: {median: 5.9, low: 5.2, high: 6.8}
  AZ5104.pk.mouse.fraction_formed: {median: 0.41, low: 0.3, high: 0.55, unit: "1"}
"""


def test_a_posterior_file_fills_the_posterior_columns(tmp_path):
    folder = _copy(tmp_path)
    (folder / "posterior.yaml").write_text(POSTERIOR, encoding="utf-8")
    table = load_catalog(folder).table().set_index("path")
    assert table.loc[
        "pathway.egfr_weight", ["posterior_median", "posterior_low", "posterior_high"]
    ].tolist() == [5.9, 5.2, 6.8]
    assert table.loc["AZ5104.pk.mouse.fraction_formed", "posterior_median"] == 0.41
    assert table["posterior_median"].notna().sum() == 2
    # the packaged posterior (calibrate-study --install) fills exactly its fitted values
    packaged = load_catalog().table()
    fitted = set(load_catalog().posterior)
    assert set(packaged.loc[packaged["posterior_median"].notna(), "path"]) >= fitted


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "parameters:\n  pathway.egfr_wieght: {median: 1, low: 0, high: 2}\n",
            r"parameters.pathway.egfr_wieght: not a catalogue value",
        ),
        (
            "parameters:\n  pathway.egfr_weight: {median: 1, low: 2, high: 3}\n",
            r"parameters.pathway.egfr_weight: a posterior summary needs finite low <= median",
        ),
        (
            "parameters:\n  pathway.egfr_weight: {median: 1, low: 0, high: 2, unit: nM}\n",
            r"parameters.pathway.egfr_weight.unit: unit differs from the catalogue \(got 'nM'\)",
        ),
        ("draws: 3\n", r"draws: unknown key"),
        (
            "parameters:\n  pathway.egfr_weight: {median: 1, low: 0, high: 2, mean: 1}\n",
            r"parameters.pathway.egfr_weight.mean: unknown key",
        ),
    ],
)
def test_a_bad_posterior_file_is_refused(tmp_path, body, message):
    (tmp_path / "posterior.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(LeptotwinError, match=r"posterior.yaml: " + message):
        read_posterior(tmp_path / "posterior.yaml", load_catalog())


# -- command line ---------------------------------------------------------------------------------


@pytest.fixture
def catalogue_with_posterior(tmp_path, monkeypatch):
    folder = _copy(tmp_path)
    (folder / "posterior.yaml").write_text(POSTERIOR, encoding="utf-8")
    monkeypatch.setattr(loader_module, "_data_dir", lambda: folder)
    loader_module._default_catalog.cache_clear()
    yield folder
    loader_module._default_catalog.cache_clear()


def test_catalog_cli_shows_prior_and_posterior_side_by_side(
    run_cli, catalogue_with_posterior, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = run_cli("catalog", "--drug", "AZ5104")
    assert code == 0, err
    header = next(line for line in out.splitlines() if "path" in line and "source" in line)
    names = [c.strip() for c in re.split(r"[┃│|]", header) if c.strip()]
    assert names == ["path", "value", "unit", "flag", "prior", "posterior", "source"]
    assert "logitnormal 0.25–0.75" in out and "0.41 (0.3–0.55)" in out
    assert "—" in out  # values the calibration did not estimate
    code, out, _ = run_cli("catalog", "--csv")
    table = pd.read_csv(io.StringIO(out))
    for col in (
        "prior_dist",
        "prior_low",
        "prior_high",
        "prior_source",
        "posterior_median",
        "posterior_low",
        "posterior_high",
    ):
        assert col in table.columns
    row = table[table["path"] == "pathway.egfr_weight"].iloc[0]
    assert (row["prior_dist"], row["prior_low"], row["posterior_median"]) == (
        "lognormal",
        4.07,
        5.9,
    )


def test_catalog_cli_without_a_posterior_shows_a_dash(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run_cli("catalog", "--drug", "erlotinib")
    assert code == 0
    assert "uniform 0.05–0.08" in out  # erlotinib.pk.human.fu
    assert "—" in out


def test_a_posterior_of_a_tied_value_is_shown_on_all_its_paths(tmp_path):
    folder = _copy(tmp_path)
    (folder / "posterior.yaml").write_text(
        "parameters:\n  alectinib.pk.human.iiv.CL: {median: 0.33, low: 0.25, high: 0.41}\n",
        encoding="utf-8",
    )
    table = load_catalog(folder).table().set_index("path")
    tied = table.loc[table.index.str.endswith(".iiv.CL"), "posterior_median"]
    assert (tied.drop("cetuximab.pk.human.iiv.CL").drop("cetuximab.pk.mouse.iiv.CL") == 0.33).all()
    assert tied[["cetuximab.pk.human.iiv.CL"]].isna().all()
