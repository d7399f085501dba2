"""The engine's negative log-likelihood at a high clearance (issue 17): log-normal PK rows take
ln C from :func:`leptotwin.model.pk.log_concentration`, so the NLL stays finite and keeps
rising where the closed form's value 24 h after a dose is round-off (clipped to 0 it made the
NLL +inf and stalled an optimiser start), and is the same as before in the normal range."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from leptotwin.interop.petab import engine_nll, engine_simulation, simulation_nll
from leptotwin.study.experiment import load_experiment_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own-lab" / "pk_only.yaml"
CL = "osimertinib.pk.mouse.CL"
TRUE_CL = 1.5  # L/h/kg, examples/own-lab/README.md


@pytest.fixture(scope="module")
def exp():
    return load_experiment_file(EXAMPLE)


def test_nll_is_finite_and_rises_at_high_clearance(exp):
    grid = [TRUE_CL, 4.6, 31.0, 40.0, 100.0, 300.0, 1000.0]
    nll = np.array([engine_nll(exp, {CL: v}) for v in grid])
    assert np.all(np.isfinite(nll))
    assert nll[3] > nll[0] and nll[4] > nll[0]  # CL = 40 and 100 against the truth
    assert np.all(np.diff(nll) > 0)


def test_the_ln_of_the_clipped_closed_form_was_infinite(exp):
    """What the likelihood took before: ln of the ``simulation`` column, +inf at CL = 300."""
    sim = engine_simulation(exp, {CL: 300.0})
    with np.errstate(divide="ignore"):
        old = simulation_nll(exp, sim.drop(columns="log_simulation"))
    assert old == math.inf and math.isfinite(simulation_nll(exp, sim))


@pytest.mark.parametrize("cl", [0.5, TRUE_CL, 4.6])  # 4.6: the catalogue value
def test_normal_range_is_unchanged(exp, cl):
    sim = engine_simulation(exp, {CL: cl})
    old = simulation_nll(exp, sim.drop(columns="log_simulation"))
    assert simulation_nll(exp, sim) == pytest.approx(old, rel=1e-12, abs=0)
    pk = sim["observable"] != "total_flux"
    np.testing.assert_array_equal(sim.loc[pk, "log_simulation"], np.log(sim.loc[pk, "simulation"]))


@pytest.mark.parametrize("cl", [10.0, 13.8])  # 13.8: the prior's upper 95 % bound
def test_upper_prior_range_moves_by_the_old_round_off_only(exp, cl):
    """Toward the prior's upper end the sample 24 h after a dose is already in the cancelling
    regime: its ln C moves by the closed form's round-off (< 1e-8), the NLL by < 1e-9."""
    sim = engine_simulation(exp, {CL: cl})
    old = simulation_nll(exp, sim.drop(columns="log_simulation"))
    assert simulation_nll(exp, sim) == pytest.approx(old, rel=1e-9, abs=0)
    pk = sim["observable"] != "total_flux"
    np.testing.assert_allclose(
        sim.loc[pk, "log_simulation"], np.log(sim.loc[pk, "simulation"]), rtol=0, atol=1e-8
    )
