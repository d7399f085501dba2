"""PathwayModel.drug_action / rates_given_action, the public halves of state_rates that the
cohort engine uses (the drugs' action for many times at once, the rates at each step's AREG):
signals' rates to the bit."""

from __future__ import annotations

import numpy as np

from leptotwin.catalog import load_catalog
from leptotwin.model.pathway import DrugAction, PathwayModel, cell_state

CAT = load_catalog()
MODEL = PathwayModel.from_catalog(CAT)


def test_action_over_times_then_rates_equal_signals_to_the_bit():
    rng = np.random.default_rng(3)
    states = [cell_state("A925LPE3", catalog=CAT), cell_state("A925L/AR", catalog=CAT)]
    columns = MODEL.state_columns(states)
    times, n = 4, 5
    conc = {
        "alectinib": rng.uniform(0, 500, (times, n)),
        "osimertinib": rng.uniform(0, 900, (times, n)),
        "cetuximab": rng.uniform(0, 80, (times, n)),
    }
    areg = rng.uniform(0, 2, n)
    for drugs in ((), ("osimertinib",), tuple(conc)):
        sub = {d: conc[d] for d in drugs}
        act = MODEL.drug_action(columns, sub, ndim=2)
        assert isinstance(act, DrugAction) and np.ndim(act.alk) == 3
        for r in range(times):  # one time's rows, as the engine slices its chunk
            at = DrugAction(
                np.broadcast_to(act.alk, (2, times, n))[:, r : r + 1],
                np.broadcast_to(act.kd_apparent, (times, n))[r : r + 1],
                np.broadcast_to(act.egfr_tki_divisor, (times, n))[r : r + 1],
            )
            birth, death = MODEL.rates_given_action(columns, at, areg_bulk_nM=areg)
            want = MODEL.state_rates(columns, {d: c[r] for d, c in sub.items()}, areg_bulk_nM=areg)
            for k, s in enumerate(states):
                sig = MODEL.signals(s, {d: c[r] for d, c in sub.items()}, areg_bulk_nM=areg)
                np.testing.assert_array_equal(birth[k, 0], np.broadcast_to(sig.birth_per_h, n))
                np.testing.assert_array_equal(death[k, 0], np.broadcast_to(sig.death_per_h, n))
                np.testing.assert_array_equal(birth[k, 0], np.broadcast_to(want[0][k], n))
