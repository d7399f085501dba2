"""Higher-order combinations (three or more drugs, SynergyFinder+'s long format; issue 15 item 2).

A three-drug table must never be scored as two drugs with the third drug's doses taken as
replicates (issue 15: with a ``conc_unit`` column it was scored ``ok`` with p = 0.0)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis.synergy import read_synergy, synergy_scores
from leptotwin.errors import LeptotwinError


def _three_drug_table(seed: int = 0, units: str = "per_drug") -> pd.DataFrame:
    """One 4 x 4 x 4 block in SynergyFinder+'s long format (``drug1..3, conc1..3``)."""
    rng = np.random.default_rng(seed)
    doses = [0.0, 1.0, 10.0, 100.0]
    rows = []
    for a, b, c in itertools.product(doses, doses, doses):
        resp = 100 * (1 - 1 / (1 + a / 10) / (1 + b / 20) / (1 + c / 5)) + rng.normal(0, 2)
        rows.append({"block_id": 1, "drug1": "A", "drug2": "B", "drug3": "C",
                     "conc1": a, "conc2": b, "conc3": c, "response": resp})  # fmt: skip
    df = pd.DataFrame(rows)
    if units == "per_drug":
        return df.assign(conc_unit1="nM", conc_unit2="nM", conc_unit3="nM")
    return df.assign(conc_unit="nM")


@pytest.mark.parametrize("units", ["per_drug", "one"])
def test_three_drugs_are_never_scored_as_two(tmp_path, units):
    """Issue 15 item 2: refused in one line naming the reason (not 'missing column
    conc_r_unit', not scored as two drugs with replicates)."""
    df = _three_drug_table(units=units)
    path = tmp_path / "three.csv"
    df.to_csv(path, index=False)
    for call in (lambda: read_synergy(path), lambda: synergy_scores(df, methods=["Bliss"])):
        with pytest.raises(LeptotwinError, match="three or more drugs") as err:
            call()
        assert "\n" not in str(err.value) and "conc_r_unit" not in str(err.value)
