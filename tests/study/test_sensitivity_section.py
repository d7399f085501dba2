"""The global-sensitivity report section: a quick run on the calibration's real readouts gives a
tornado figure per claim with readouts and per group of PK / human readouts, the tables the
report promises, and a text naming the drivers; the full run's two-stage screen is checked on
a small real-model readout set of its own (the full section takes about a minute)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration.readouts import READOUTS
from leptotwin.model.pathway import PathwayModel, cell_state
from leptotwin.study.reproduce import Context, registered_sections
from leptotwin.study.sections.sensitivity import (
    QUICK_TRAJECTORIES,
    ReadoutInfo,
    ReadoutSource,
    build_section,
    claim_readouts,
    family,
    log_scale,
    prediction_groups,
    sensitivity,
)


def _ctx(tmp_path: Path, *, quick: bool, seed: int = 3) -> Context:
    return Context(
        rng=np.random.default_rng(seed),
        seed=seed,
        out_dir=tmp_path,
        quick=quick,
        name="sensitivity",
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    return sensitivity(_ctx(tmp_path_factory.mktemp("sens"), quick=True))


def test_registered_after_the_claim_sections():
    specs = {s.name: s.order for s in registered_sections()}
    assert specs["sensitivity"] == 85
    assert specs["sensitivity"] > max(o for n, o in specs.items() if n != "sensitivity")


def test_quick_run_gives_a_tornado_figure_per_claim_and_prediction_group(quick):
    infos = [ReadoutInfo(r.name, r.unit, r.description, r.claims) for r in READOUTS.values()]
    claims = claim_readouts(infos)
    groups = prediction_groups(infos)
    assert set(claims) >= {"C1", "C3", "C4", "C5", "C6"}
    heads = [c.split(":", 1)[0] for c, _ in quick.figures]
    assert heads == [*claims, *groups]
    for (caption, fig), head in zip(quick.figures, heads, strict=True):
        # a claim: one panel per readout; a group of PK / human readouts: one combined panel
        assert len(fig.axes) == (len(claims[head]) if head in claims else 1)
        assert "Morris" in caption
        for ax in fig.axes:  # every panel names factors (catalogue groups in a quick run)
            assert ax.get_yticklabels() or "no finite" in " ".join(t.get_text() for t in ax.texts)


def test_quick_run_tables_and_text(quick):
    morris = quick.tables["sensitivity_morris.csv"]
    assert {"readout", "factor", "mu_star", "sigma", "conf", "rank"} <= set(morris)
    assert list(morris.columns[:7]) == [
        "stage",
        "readout",
        "factor",
        "mu_star",
        "sigma",
        "conf",
        "rank",
    ]
    assert set(morris["readout"]) == set(READOUTS)
    assert (morris["stage"] == "groups").all()
    n_factors = morris["factor"].nunique()
    readouts = quick.tables["sensitivity_readouts.csv"]
    assert list(readouts["readout"]) == list(READOUTS)
    assert readouts["nonfinite_fraction"].between(0, 1).all()
    text = quick.text
    evals = QUICK_TRAJECTORIES * (n_factors + 1)
    assert f"{evals} model evaluations" in text
    assert "probability space" in text and "SALib" in text
    for claim in claim_readouts(
        [ReadoutInfo(r.name, r.unit, r.description, r.claims) for r in READOUTS.values()]
    ):
        assert f"**{claim}**" in text
    # a readout the quick screen cannot rank (IC50 folds: no IC50 at many prior corners) says so
    assert readouts.set_index("readout").loc["C3.alectinib_fold", "nonfinite_fraction"] > 0


def test_the_pathway_drives_c3_in_the_full_screen(tmp_path):
    """The pathway (EGFR weight, miR-449a threshold, AREG affinity, ...) drives C3's resistance
    at the priors. Needs the full screen: with the quick screen's few trajectories most design
    points sit at prior corners where an IC50 does not exist (up to 92 % non-finite)."""
    full = sensitivity(_ctx(tmp_path, quick=False))
    morris = full.tables["sensitivity_morris.csv"]
    c3 = morris[morris["readout"] == "C3.alectinib_fold"]
    groups = c3[c3["stage"] == "groups"].sort_values("rank")
    assert groups["factor"].iloc[0] == "pathway"
    singles = c3[c3["stage"] == "parameters"].sort_values("rank")
    assert set(singles["factor"].head(3)) <= {
        "pathway.autocrine_gain",
        "pathway.areg_kd",
        "pathway.mir449a_km",
        "pathway.egfr_weight",
        "A925L/AR.mir449a",
    }


def test_quick_run_is_reproducible_from_the_seed(quick, tmp_path):
    again = sensitivity(_ctx(tmp_path, quick=True))
    pd.testing.assert_frame_equal(
        again.tables["sensitivity_morris.csv"], quick.tables["sensitivity_morris.csv"]
    )


def test_readout_scales_and_families():
    def info(name, unit="1", claims=("C3",)):
        return ReadoutInfo(name, unit, "", claims)

    assert log_scale(info("C3.alectinib_fold"))
    assert log_scale(info("PK.human.alectinib.600_mg_bid.cmax", "ng/mL", ()))
    assert not log_scale(info("C1.erlotinib_inhibition"))
    assert not log_scale(info("C2.relapse_day", "d"))  # 0 when the burden never falls
    assert not log_scale(info("C9.p_alk_higher_egfr"))
    assert not log_scale(info("C2.relapse_areg_high_fraction"))
    assert family(info("C3.alectinib_fold")) == "in vitro"
    assert family(info("C4.mir449a_fold", claims=("C4", "C5"))) == "in vitro"
    assert family(info("C7.week4_fold_vehicle", claims=("C7",))) == "C7"
    assert family(info("PK.human.alectinib.half_life", "h", ())) == "predictions"


def _small_source() -> ReadoutSource:
    """A small real-model readout set (cheap): the pathway's EGFR activity and net growth of AR
    cells under alectinib 100 nM, and the human alectinib half-life."""

    def fn(cat):
        pm = PathwayModel.from_catalog(cat)
        ar = cell_state("A925L/AR", catalog=cat)
        on_drug = pm.signals(ar, {"alectinib": 100.0})
        return {
            "C4.egfr_activity": float(pm.signals(ar).egfr),
            "C3.net_growth_alectinib": float(on_drug.net_growth_per_h),
            "PK.human.alectinib.half_life": cat.pk_parameters("alectinib", "human").half_life_h,
        }

    infos = (
        ReadoutInfo("C4.egfr_activity", "1", "EGFR activity of AR cells", ("C4",)),
        ReadoutInfo("C3.net_growth_alectinib", "1/h", "AR net growth, alectinib 100 nM", ("C3",)),
        ReadoutInfo("PK.human.alectinib.half_life", "h", "alectinib half-life", ()),
    )
    return ReadoutSource(fn, infos)


def test_full_run_two_stage_on_a_small_real_model(tmp_path):
    res = build_section(_ctx(tmp_path, quick=False), source=_small_source())
    morris = res.tables["sensitivity_morris.csv"]
    assert set(morris["stage"]) == {"groups", "parameters"}
    params = morris[morris["stage"] == "parameters"]
    half = params[params["readout"] == "PK.human.alectinib.half_life"].sort_values("rank")
    assert set(half["factor"].head(2)) == {"alectinib.pk.human.CL", "alectinib.pk.human.V1"}
    egfr = params[params["readout"] == "C4.egfr_activity"].sort_values("rank")
    assert egfr["factor"].iloc[0].startswith(("pathway.", "A925L/AR."))
    selected = res.tables["sensitivity_selected.csv"]
    assert len(selected) > 0 and not selected["parameter"].str.contains("half_life").any()
    assert [c.split(":", 1)[0] for c, _ in res.figures] == ["C3", "C4", "PK.human.alectinib"]
    assert "Stage 2" in res.text and "single values" in res.text


def test_the_screen_reports_its_progress_as_parameter_sets_evaluated(tmp_path, monkeypatch):
    """Issue 16 item 2: the second bar counts the screen's parameter sets, one per model
    evaluation, and rises to the number evaluated (the catalogue itself is read after)."""
    from leptotwin.study import reproduce
    from leptotwin.study.sections.sensitivity import run_screen

    monkeypatch.setattr(reproduce, "PROGRESS_INTERVAL_S", 0.0)
    source = _small_source()
    calls = []
    counted = ReadoutSource(lambda cat: calls.append(1) or source.fn(cat), source.infos)
    seen: list[tuple] = []
    ctx = Context(
        rng=np.random.default_rng(3),
        seed=3,
        out_dir=tmp_path,
        quick=True,
        name="sensitivity",
        on_progress=lambda *a: seen.append(a),
    )
    run_screen(ctx, source=counted)
    counts = [c[0] for c in seen]
    assert counts[0] == 0 and counts == sorted(counts)
    assert counts[-1] == len(calls) - 1 > 10  # every evaluation but the catalogue's own
    assert all("Morris screen" in c[2] for c in seen)
