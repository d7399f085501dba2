"""In-vivo twin: step error of the growth integrator, reproducibility, mechanism, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.model.cohort import Arm, SimulationCancelled, simulate_lmc
from leptotwin.model.pathway import PathwayModel
from leptotwin.model.tumor import Clone, default_clones

ALEC, ERL, OSI = "20 mg/kg QD", "50 mg/kg QD", "25 mg/kg QD"
DAYS = [0, 7, 14, 21, 28, 35, 42]


def _run(arms, *, dt_h=0.25, seed=0, inoculum="A925L/AR", n=3, stochastic=True, **kw):
    return simulate_lmc(
        arms,
        n_per_arm=n,
        days=42,
        observe_days=DAYS,
        rng=np.random.default_rng(seed),
        inoculum=inoculum,
        dt_h=dt_h,
        stochastic=stochastic,
        **kw,
    )


def test_growth_step_error_below_one_percent_of_log_burden():
    """Deterministic runs (no Poisson draws) at the default 1 h step against a 1/32 h
    reference, with the same subjects: |Δ log N| ≤ 1 % of |log N| on every observation day, in
    every arm — including once-daily mouse dosing, where drug levels swing within hours."""
    arms = [
        Arm("vehicle", {}),
        Arm("alectinib", {"alectinib": ALEC}),
        Arm("alec+osi", {"alectinib": ALEC, "osimertinib": OSI}),
    ]
    coarse = _run(arms, dt_h=1.0, stochastic=False, inoculum="A925LPE3")
    fine = _run(arms, dt_h=1 / 32, stochastic=False, inoculum="A925LPE3")
    a = coarse.observations["total_cells"].to_numpy()
    b = fine.observations["total_cells"].to_numpy()
    ok = np.isfinite(a) & np.isfinite(b)
    assert ok.sum() > 40
    rel = np.abs(np.log(a[ok]) - np.log(b[ok])) / np.abs(np.log(b[ok]))
    assert rel.max() <= 0.01


def test_same_seed_same_cohort():
    arms = [Arm("alectinib", {"alectinib": ALEC})]
    a = _run(arms, seed=4, inoculum="A925LPE3")
    b = _run(arms, seed=4, inoculum="A925LPE3")
    np.testing.assert_array_equal(a.observations["total_cells"], b.observations["total_cells"])
    np.testing.assert_array_equal(a.subjects["founders_R"], b.subjects["founders_R"])


def test_ar_resists_alectinib_and_combination_controls():
    res = _run(
        [
            Arm("alectinib", {"alectinib": ALEC}),
            Arm("alec+erl", {"alectinib": ALEC, "erlotinib": ERL}),
        ],
        n=4,
    )
    o = res.observations
    fold = (
        o[o["day"] == 35].groupby("arm")["total_cells"].median()
        / o[o["day"] == 7].groupby("arm")["total_cells"].median()
    )
    assert fold["alectinib"] > 5.0
    assert fold["alec+erl"] < 1.0


def test_parental_responds_then_areg_high_cells_take_over():
    """Parental tumours shrink on alectinib, then AREG-high cells (a ~0.05 % minority at
    treatment start) make up the tumour while every mouse is still alive (day 80), and the
    mice die of the regrowth, not before day 60."""
    res = simulate_lmc(
        [Arm("alectinib", {"alectinib": ALEC})],
        n_per_arm=4,
        days=160,
        observe_days=[7, 35, 80],
        rng=np.random.default_rng(9),
    )
    o = res.observations.set_index(["day", "subject"])
    pre, nadir = o.loc[7, "total_cells"], o.loc[35, "total_cells"]
    assert (pre / nadir > 10).all()
    assert (o.loc[7, "cells_R"] / pre < 0.01).all()
    late = o.loc[80]
    assert late["alive"].all()
    assert (late["cells_R"] / late["total_cells"] > 0.8).all()
    assert res.survival["event"].all()
    assert (res.survival["time_days"] > 60).all()


def test_counterfactual_no_areg_secretion_lets_alectinib_control_ar_cells():
    cat = load_catalog().with_cell_line("A925L/AR", areg_secretion=0.0, reason="no AREG")
    res = _run(
        [Arm("alectinib", {"alectinib": ALEC})],
        catalog=cat,
        model=PathwayModel.from_catalog(cat),
        clones=default_clones(cat),
    )
    o = res.observations
    assert (
        o[o["day"] == 35]["total_cells"].to_numpy() < o[o["day"] == 7]["total_cells"].to_numpy()
    ).all()


def test_observations_reduced_to_requested_days():
    res = _run([Arm("vehicle", {})], n=5)
    assert len(res.observations) == 5 * len(DAYS)
    assert set(res.survival.columns) == {"subject", "arm", "time_days", "event"}
    dead = res.survival[res.survival["event"] == 1]
    after = res.observations.merge(dead, on=["subject", "arm"])
    assert after.loc[after["day"] > after["time_days"], "total_cells"].isna().all()


def test_bad_input():
    with pytest.raises(LeptotwinError, match="unknown inoculum"):
        _run([Arm("vehicle", {})], inoculum="H3122")
    with pytest.raises(LeptotwinError, match="at least one arm"):
        _run([Arm("vehicle", {})], n=0)
    with pytest.raises(LeptotwinError, match="unknown drug"):
        _run([Arm("x", {"aspirin": "1 mg QD"})])


def test_clone_list_is_open():
    """A third clone (e.g. an ALK-mutant one) can be added; it just has to be named."""
    p, r = default_clones()
    mutant = Clone("M", p.state.with_levels(name="ALK mutant", alk_fusion=1.0))
    res = _run([Arm("vehicle", {})], clones=(p, r, mutant), n=2)
    assert "cells_M" in res.observations.columns


def test_cancel_stops_inside_the_time_loop_and_never_changes_results():
    """``cancelled`` is asked at every growth step: True after 30 questions stops the run there
    (SimulationCancelled), and a callback that never cancels leaves every number unchanged."""
    arms = [Arm("alectinib", {"alectinib": ALEC})]
    asked = []

    def after_30() -> bool:
        asked.append(1)
        return len(asked) > 30

    with pytest.raises(SimulationCancelled, match="stopped at"):
        _run(arms, dt_h=1.0, cancelled=after_30)
    assert len(asked) == 31  # 30 steps of 42 x 24 ran, not the whole run
    plain = _run(arms, dt_h=1.0, seed=2)
    watched = _run(arms, dt_h=1.0, seed=2, cancelled=lambda: False)
    for a, b in ((plain.observations, watched.observations), (plain.survival, watched.survival)):
        assert a.equals(b)


def test_refining_the_hours_after_each_dose_cuts_the_step_error():
    """Deterministic combination arms at a 1 h step against a 1/8 h reference: the mice's
    default grid (the 4 h after every dose at 15 min) brings the burden within 0.5 %; the
    uniform hour grid is off by more (2.4 %), where Simpson's rule meets the absorption peak."""
    arms = [
        Arm("alec+erl", {"alectinib": ALEC, "erlotinib": ERL}),
        Arm("alec+osi", {"alectinib": ALEC, "osimertinib": OSI}),
    ]
    ref = _run(arms, dt_h=1 / 8, stochastic=False).observations["total_cells"].to_numpy()

    def error(**kw) -> float:
        got = _run(arms, dt_h=1.0, stochastic=False, **kw).observations["total_cells"].to_numpy()
        ok = np.isfinite(got) & np.isfinite(ref)
        return float(np.max(np.abs(got[ok] / ref[ok] - 1.0)))

    plain, default = error(refine_after_dose_h=0.0), error()
    assert default <= 0.005 < plain
    assert error(refine_after_dose_h=4.0, refine_dt_h=0.25) == default


def test_refined_grid_steps_finely_after_doses_only():
    from leptotwin.model.cohort import _refined_grid, growth_grid

    doses = np.array([168.0, 192.0])
    assert growth_grid(240.0, 6.0, doses, species="human") is None  # patients: uniform
    assert growth_grid(240.0, 0.25, doses) is None  # a step as fine as the refinement
    mouse = growth_grid(240.0, 1.0, doses)
    assert mouse is not None and mouse.size == 240 + 2 * 12  # 4 h of quarter steps per dose

    grid = _refined_grid(48.0, 1.0, np.array([2.5, 26.0, 60.0]), 2.0, 0.5)
    steps = np.diff(grid, prepend=0.0)
    assert grid[-1] == 48.0 and np.all(steps > 0) and steps.max() <= 1.0
    assert {2.5, 3.0, 3.5, 4.0, 4.5, 26.0, 26.5, 27.0, 27.5, 28.0} <= set(grid.tolist())
    assert np.all(steps[(grid > 5.0) & (grid <= 26.0)] == 1.0)  # coarse between doses
    with pytest.raises(LeptotwinError, match="refined step"):
        _run([Arm("a", {"alectinib": ALEC})], refine_after_dose_h=2.0, refine_dt_h=2.0)
    with pytest.raises(LeptotwinError, match="refined hours"):
        _run([Arm("a", {"alectinib": ALEC})], refine_after_dose_h=-1.0)
