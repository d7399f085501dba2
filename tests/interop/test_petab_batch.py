"""The engine's likelihood over many parameter sets at once (issue 17's calibration benchmark):
``EngineLikelihood`` / ``engine_nll_batch`` equal ``engine_nll`` one set at a time, the cohort
engine's per-subject values equal its scalar path to the bit, and the lock-step multistart
(``engine_multistart``; the barrier itself in tests/calibration/test_multistart.py) reaches
exactly what independent scipy runs reach.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop.petab import (
    EngineLikelihood,
    ParameterScale,
    _typical_tumor,
    _TypicalRNG,
    build_petab,
    engine_multistart,
    engine_nll,
    engine_nll_batch,
)
from leptotwin.model.cohort import Arm, simulate_lmc
from leptotwin.model.pathway import PathwayModel
from leptotwin.model.pk import SubjectPK, draw_subjects
from leptotwin.study.experiment import load_experiment_file

ROOT = Path(__file__).resolve().parents[2]
OWN_LAB = ROOT / "examples" / "own-lab" / "experiment.yaml"
DT_H = 4.0  # calibrate's growth step for this experiment (growth_step)
BIRTH, CL = "pathway.birth_max", "osimertinib.pk.mouse.CL"


@pytest.fixture(scope="module")
def exp():
    return load_experiment_file(OWN_LAB)


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def one_at_a_time(exp, cat, paths, thetas):
    return np.array(
        [
            engine_nll(exp, dict(zip(paths, row, strict=True)), catalog=cat, dt_h=DT_H)
            for row in thetas
        ]
    )


def test_batch_equals_engine_nll_set_by_set(exp, cat):
    """Random sets within the export's bounds, one at a bound, one at a clearance where the
    PK's closed form cancels (ln C in log space) and repeated rows: each value is engine_nll's."""
    scale = ParameterScale.of(exp, cat)
    rng = np.random.default_rng(3)
    x = rng.uniform(scale.lb, scale.ub, size=(6, 2))
    x = np.vstack([x, scale.lb, scale.ub, [math.log10(0.03), math.log10(40.0)], x[:2]])
    thetas = scale.unscale(x)
    like = EngineLikelihood(exp, catalog=cat, dt_h=DT_H)
    assert like.batched
    assert like.moved == {"pathway.birth_max", "pk.osimertinib.CL_L_h"}
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        got = like(thetas)
        want = one_at_a_time(exp, cat, like.paths, thetas)
    assert np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert np.array_equal(got, want)  # the same arithmetic element by element
    assert np.array_equal(got[-2:], got[:2])  # a set's value does not depend on its batch
    single = like(thetas[:1])
    np.testing.assert_array_equal(single, want[:1])
    np.testing.assert_array_equal(
        engine_nll_batch(exp, thetas[:3], catalog=cat, dt_h=DT_H), want[:3]
    )


def test_other_per_subject_values_batched(exp, cat):
    """A tumour value, other pathway values and the clearance together (per subject in the
    engine), and a value outside the per-subject ones (a potency), which goes set by set."""
    paths = (
        "lmc_mouse.parameters.in_vivo_rate_scale",
        "lmc_mouse.parameters.carrying_capacity",
        "pathway.death_max",
        "pathway.egfr_weight",
        CL,
    )
    base = np.array([cat.quantity(p).value for p in paths])
    thetas = base * np.array([[1.0] * 5, [1.1, 0.7, 0.9, 1.2, 2.0], [0.8, 1.5, 1.1, 0.8, 0.5]])
    like = EngineLikelihood(exp, paths, catalog=cat, dt_h=DT_H)
    assert like.batched
    np.testing.assert_array_equal(like(thetas), one_at_a_time(exp, cat, paths, thetas))
    potency = "osimertinib.potency[0].ic50"
    fallback = EngineLikelihood(exp, (potency, BIRTH), catalog=cat, dt_h=DT_H)
    assert not fallback.batched
    t2 = np.array([[cat.quantity(potency).value * f, 0.03] for f in (1.0, 1.3)])
    np.testing.assert_array_equal(fallback(t2), one_at_a_time(exp, cat, fallback.paths, t2))


def test_per_subject_values_equal_the_scalar_path_to_the_bit(cat):
    """simulate_lmc with birth_max and the clearance per subject (three sets × two arms)
    gives every subject exactly the numbers of a run with those values as scalars."""
    arms = [Arm("vehicle", {}), Arm("osimertinib", {"osimertinib": "25 mg/kg QD"})]
    sets = [(0.03, 4.6), (0.021, 1.2), (0.045, 30.0)]
    tp = replace(_typical_tumor(cat, "mouse"), endpoint_cells=math.inf)
    pm = PathwayModel.from_catalog(cat)
    common = dict(
        days=21.0,
        observe_days=[7.0, 14.0, 21.0],
        inoculum="A925L/AR",
        dt_h=2.0,
        refine_after_dose_h=0.0,
        stochastic=False,
        catalog=cat,
        tumor=tp,
    )
    subjects = []
    for _, cl in sets:
        c = cat.with_values({CL: cl})
        subjects.append(
            draw_subjects(c.pk_parameters("osimertinib", "mouse"), 1, iiv=False, catalog=c)
        )
    typical = cat.pk_parameters("osimertinib", "mouse")
    batch = simulate_lmc(
        arms,
        n_per_arm=len(sets),
        rng=_TypicalRNG(),
        model=replace(pm, birth_max=np.tile([b for b, _ in sets], 2)),
        pk_subjects={"osimertinib": SubjectPK.concat(subjects, typical=typical, repeat=2)},
        **common,
    ).observations
    for k, (b, cl) in enumerate(sets):
        alone = simulate_lmc(
            arms,
            n_per_arm=1,
            rng=_TypicalRNG(),
            model=replace(pm, birth_max=b),
            catalog=cat.with_values({CL: cl}),
            **{key: v for key, v in common.items() if key != "catalog"},
        ).observations
        mine = batch[batch["subject"] % len(sets) == k]
        for col in ("cells_P", "cells_R", "total_cells", "csf_areg_pg_mL"):
            assert np.array_equal(mine[col].to_numpy(), alone[col].to_numpy(), equal_nan=True)


def test_pk_subjects_are_checked(cat):
    subj = draw_subjects(cat.pk_parameters("osimertinib", "mouse"), 3, iiv=False, catalog=cat)
    arms = [Arm("osimertinib", {"osimertinib": "25 mg/kg QD"})]
    with pytest.raises(LeptotwinError, match="pk_subjects.osimertinib"):
        simulate_lmc(
            arms, n_per_arm=2, days=2.0, observe_days=[2.0], rng=_TypicalRNG(),
            stochastic=False, pk_subjects={"osimertinib": subj},
        )  # fmt: skip


def test_thetas_of_the_wrong_shape_are_refused(exp, cat):
    like = EngineLikelihood(exp, catalog=cat, dt_h=DT_H)
    with pytest.raises(LeptotwinError, match="thetas"):
        like(np.ones(2))
    with pytest.raises(LeptotwinError, match="not a catalogue value"):
        EngineLikelihood(exp, ("pathway.no_such_value",), catalog=cat, dt_h=DT_H)


def test_parameter_scale_is_the_exports(exp, cat):
    petab = pytest.importorskip("petab.v1")
    problem = build_petab(exp, catalog=cat)
    scale = ParameterScale.of(exp, cat)
    par = problem.parameters.set_index("parameterName").loc[list(scale.paths)]
    assert list(par["parameterScale"]) == list(scale.scales)
    np.testing.assert_array_equal(scale.lb, np.log10(par["lowerBound"].to_numpy(float)))
    np.testing.assert_array_equal(scale.ub, np.log10(par["upperBound"].to_numpy(float)))
    assert petab  # the linter's own reading is tested in test_petab.py


def test_engine_multistart_equals_independent_runs_of_engine_nll(exp, cat):
    """Three of the benchmark's starts: the lock-step fit on the engine reaches, start by
    start, exactly what scipy's L-BFGS-B on engine_nll one call at a time reaches (the
    batch's values are engine_nll's to the bit, so the finite differences are too)."""
    scale = ParameterScale.of(exp, cat)
    starts = np.random.default_rng(17).uniform(scale.lb, scale.ub, size=(20, 2))[[1, 13, 16]]
    out, _ = engine_multistart(exp, starts, catalog=cat, dt_h=DT_H, options={"maxfun": 1000})

    def nll(x):
        values = dict(zip(scale.paths, scale.unscale(x), strict=True))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return engine_nll(exp, values, catalog=cat, dt_h=DT_H)

    bounds = list(zip(scale.lb, scale.ub, strict=True))
    for x0, got in zip(starts, out.results, strict=True):
        want = scipy.optimize.minimize(
            nll, x0, method="L-BFGS-B", bounds=bounds, options={"maxfun": 1000}
        )
        assert np.array_equal(got.x, want.x)
        assert (got.fun, got.nfev, got.nit) == (want.fun, want.nfev, want.nit)
    # the three reach the benchmark's optimum (docs/petab.md: 483.3196 at 0.0319, 1.166 L/h/kg)
    assert max(r.fun for r in out.results) - min(r.fun for r in out.results) < 1e-6
    np.testing.assert_allclose(scale.unscale(out.best.x), [0.0318774, 1.16581], rtol=1e-4)


def test_batch_with_several_regimens_and_drugs(exp, cat):
    """Arms with other doses of the same drug and a second drug (the engine's PK groups take
    their subjects out of the per-set batch), a tumour value and two clearances: each set's
    value is engine_nll's."""
    arms = (
        Arm("osi_low", {"osimertinib": "5 mg/kg QD"}),
        *exp.arms,
        Arm("combo", {"osimertinib": "25 mg/kg QD", "alectinib": "20 mg/kg QD"}),
    )
    wider = replace(exp, arms=arms)
    paths = (BIRTH, CL, "alectinib.pk.mouse.CL", "lmc_mouse.parameters.switch_rate")
    like = EngineLikelihood(wider, paths, catalog=cat, dt_h=DT_H)
    assert like.batched
    base = np.array([cat.quantity(p).value for p in paths])
    thetas = base * np.array([[1.0, 1.0, 1.0, 1.0], [1.1, 0.5, 2.0, 3.0], [0.9, 3.0, 0.7, 0.2]])
    want = one_at_a_time(wider, cat, paths, thetas)
    np.testing.assert_array_equal(like(thetas), want)


def test_engine_multistart_needs_estimated_values(exp, cat):
    with pytest.raises(LeptotwinError, match="estimates no catalogue value"):
        engine_multistart(replace(exp, estimate=()), catalog=cat, dt_h=DT_H)


@pytest.mark.parametrize("noise", ["normal", "lognormal"])
def test_ng_per_ml_rows_equal_engine_nll_to_the_bit(exp, cat, noise):
    """PK observables in ng/mL (C · MW / 1000, left to right, as engine_simulation converts)
    with normal and log-normal noise: each set's value is engine_nll's to the bit, both with
    the clearance estimated (PK per set) and without (PK simulated once)."""
    observables = {
        oid: (o if o.kind == "bli" else replace(o, unit="ng/mL", noise=noise, sigma=40.0))
        for oid, o in exp.observables.items()
    }
    ng = replace(exp, observables=observables)
    scale = ParameterScale.of(exp, cat)
    x = np.random.default_rng(11).uniform(scale.lb, scale.ub, size=(5, 2))
    thetas = scale.unscale(x)
    for paths, th in (((BIRTH, CL), thetas), ((BIRTH,), thetas[:, :1])):
        like = EngineLikelihood(ng, paths, catalog=cat, dt_h=DT_H)
        assert like.batched
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            got = like(th)
            want = one_at_a_time(ng, cat, paths, th)
        assert np.all(np.isfinite(want))
        np.testing.assert_array_equal(got, want)


def test_a_value_at_zero_is_probed(exp, cat):
    """A catalogue value of 0 (the treatment start in a catalogue that sets it to 0) is probed
    by an additive move (a factor moves nothing): it moves the tumour's treatment start, which
    the engine does not take per subject, so every set goes through engine_nll (before, the
    column was silently ignored and every set got the value at 0)."""
    start = "lmc_mouse.parameters.treatment_start"
    cat0 = cat.with_values({start: 0.0})
    like = EngineLikelihood(exp, (start, BIRTH), catalog=cat0, dt_h=DT_H)
    assert "tumour.treatment_start_d" in like.moved and not like.batched
    thetas = np.array([[0.0, 0.03], [2.0, 0.03]])
    want = one_at_a_time(exp, cat0, like.paths, thetas)
    assert want[0] != want[1]
    np.testing.assert_array_equal(like(thetas), want)


def test_a_path_that_moves_nothing_goes_set_by_set(exp, cat):
    """The human model's treatment start (0, and read by no mouse experiment) moves nothing
    the probe sees: unknown, so every set goes through engine_nll."""
    path = "lmc_human.parameters.treatment_start"
    like = EngineLikelihood(exp, (path, BIRTH), catalog=cat, dt_h=DT_H)
    assert not like.batched
    thetas = np.array([[0.0, 0.03], [1.0, 0.028]])
    np.testing.assert_array_equal(like(thetas), one_at_a_time(exp, cat, like.paths, thetas))


@pytest.mark.parametrize("birth", [-0.01, 0.0])
def test_sets_outside_the_prior_are_refused_as_engine_nll_refuses(exp, cat, birth):
    """birth_max is taken straight from the set in the batch: a value outside its lognormal
    prior's support raises engine_nll's error instead of giving a number."""
    like = EngineLikelihood(exp, catalog=cat, dt_h=DT_H)
    thetas = np.array([[0.03, 1.2], [birth, 1.2]])
    with pytest.raises(LeptotwinError) as want:
        engine_nll(exp, dict(zip(like.paths, thetas[1], strict=True)), catalog=cat, dt_h=DT_H)
    with pytest.raises(LeptotwinError) as got:
        like(thetas)
    assert str(got.value) == str(want.value)
    with pytest.raises(LeptotwinError, match="outside the support"):
        engine_nll_batch(exp, thetas, catalog=cat, dt_h=DT_H)
    np.testing.assert_array_equal(like.admissible(thetas), [True, False])


def test_unscale_stays_within_the_prior_at_a_bound(exp, cat):
    """L-BFGS-B often ends on a bound: 10 ** log10(low) rounds below low for the osimertinib
    IC50 and erlotinib's human fu, outside the prior's support. unscale clips it into [low,
    high] (values within are unchanged), so the catalogue takes the sets at the bounds."""
    paths = ("osimertinib.potency[0].ic50", "erlotinib.pk.human.fu", BIRTH)
    scale = ParameterScale.of(replace(exp, estimate=paths), cat)
    raw = 10.0**scale.lb
    assert raw[0] < scale.low[0] and raw[1] < scale.low[1]
    with pytest.raises(LeptotwinError, match="outside the support"):
        cat.with_values({paths[0]: float(raw[0])})
    at_bounds = scale.unscale(np.vstack([scale.lb, scale.ub]))
    np.testing.assert_array_equal(at_bounds[0], scale.low)
    assert np.all((at_bounds[1] <= scale.high) & (at_bounds[1] > 0.999 * scale.high))
    for row in at_bounds:
        cat.with_values(dict(zip(paths, map(float, row), strict=True)))
    inside = (scale.lb + scale.ub) / 2
    np.testing.assert_array_equal(scale.unscale(inside), 10.0**inside)


def test_engine_multistart_from_a_bound_where_unscale_rounded_out(exp, cat):
    """A start on the lower bound of the osimertinib IC50 (10 ** log10(low) < low before the
    clip): the fit runs (before, the catalogue refused the set and every start was lost) and
    its first value is engine_nll's at the prior's bound."""
    paths = ("osimertinib.potency[0].ic50", BIRTH)
    fit = replace(exp, estimate=paths)
    scale = ParameterScale.of(fit, cat)
    starts = np.array([[scale.lb[0], math.log10(0.03)], [scale.lb[0], math.log10(0.025)]])
    out, _ = engine_multistart(fit, starts, catalog=cat, dt_h=DT_H, options={"maxfun": 3})
    assert len(out.results) == 2 and all(np.isfinite(r.fun) for r in out.results)
    at_low = {paths[0]: float(scale.low[0]), BIRTH: 0.03}
    assert out.results[0].fun <= engine_nll(fit, at_low, catalog=cat, dt_h=DT_H)


def test_engine_multistart_a_refused_set_ends_only_its_own_start(exp, cat, monkeypatch):
    """A set the catalogue refuses (here, by a patched admissibility check: any clearance
    above every one the other starts ask for) is +inf for the start that asked for it; that
    start ends without a finite optimum and the other starts reach exactly what they reach
    alone."""
    scale = ParameterScale.of(exp, cat)
    starts = np.random.default_rng(17).uniform(scale.lb, scale.ub, size=(20, 2))[[1, 13]]
    admissible = EngineLikelihood.admissible
    asked: list[np.ndarray] = []

    def recording(self, values):
        asked.append(np.asarray(values)[:, 1].copy())
        return admissible(self, values)

    monkeypatch.setattr(EngineLikelihood, "admissible", recording)
    alone, _ = engine_multistart(exp, starts, catalog=cat, dt_h=DT_H, options={"maxfun": 40})
    highest = float(np.concatenate(asked).max())
    assert 10.0 ** scale.ub[1] > highest * 1.2  # room above it for the refused start

    def refuse_faster_clearance(self, values):
        return admissible(self, values) & (np.asarray(values)[:, 1] <= highest)

    monkeypatch.setattr(EngineLikelihood, "admissible", refuse_faster_clearance)
    refused_start = [starts[0, 0], math.log10(highest * 1.1)]
    out, _ = engine_multistart(
        exp, np.vstack([refused_start, starts]), catalog=cat, dt_h=DT_H, options={"maxfun": 40}
    )
    assert len(out.results) == 3
    assert out.results[0].fun == np.inf
    for got, want in zip(out.results[1:], alone.results, strict=True):
        assert np.array_equal(got.x, want.x) and got.fun == want.fun
    assert out.best is not out.results[0]
