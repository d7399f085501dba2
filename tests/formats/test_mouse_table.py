"""The per-mouse, per-day table check: inputs that crashed it or passed as numbers (issue 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.formats.mouse_table import check_mouse_day_table


def _table(**columns) -> pd.DataFrame:
    base = {"mouse": ["m1"], "arm": ["a"], "day": [7], "flux": [1e6]}
    base.update({k: pd.Series(v, dtype=object) for k, v in columns.items()})
    return pd.DataFrame(base)


def _check(df: pd.DataFrame) -> pd.DataFrame:
    return check_mouse_day_table(df, "flux", source="bli.csv", what="BLI table")


def test_clean_copy():
    out = _check(pd.DataFrame({"mouse": [1, 2], "arm": ["a", "b"], "day": ["7", 14.0],
                               "flux": [np.int64(5), "1e6"], "roi": ["x", "y"]}))  # fmt: skip
    assert list(out.columns) == ["mouse", "arm", "day", "flux"]
    assert out["mouse"].tolist() == ["1", "2"] and out["day"].tolist() == [7.0, 14.0]
    assert out["flux"].tolist() == [5.0, 1e6]


@pytest.mark.parametrize(
    ("df", "match"),
    [  # each crashed (TypeError, OverflowError, KeyError) or was read as a number
        (pd.DataFrame([["m", "a", 1, 1.0, 2]], columns=["mouse", "arm", "day", "flux", "day"]),
         r"bli\.csv: day: BLI table has a column twice"),
        (_table(day=[10**400]), r"day: non-numeric or missing value \(got 1000"),
        (pd.DataFrame([["m", "a", 1, 1.0]], columns=pd.MultiIndex.from_tuples(
            [("mouse", ""), ("arm", ""), ("day", ""), ("flux", "")])), "multi-level column"),
        (_table(day=[True]), r"day: non-numeric or missing value \(got True\)"),
        (_table(day=[1 + 2j]), r"day: non-numeric or missing value \(got \(1\+2j\)\)"),
        (pd.DataFrame({"mouse": ["m"], "arm": ["a"], "day": [pd.Timestamp("2020-01-01")],
                       "flux": [1.0]}), r"day: non-numeric or missing value"),
        (pd.DataFrame({"mouse": ["m"], "arm": ["a"], "day": [pd.Timedelta("1D")],
                       "flux": [1.0]}), r"day: non-numeric or missing value"),
        (_table(day=["1e308"]), r"day: value out of range \(got '1e308'\); expected finite real "
                                r"numbers of magnitude at most 36525"),
        (_table(flux=[1e308]), r"flux: value out of range"),
        (_table(flux=["inf"]), r"flux: non-numeric or missing value \(got 'inf'\)"),
        (_table(mouse=[""]), r"mouse: missing mouse or arm label \(got 'row 0'\)"),
        (_table(arm=["  "]), r"arm: missing mouse or arm label"),
    ],
)  # fmt: skip
def test_refused(df, match):
    with pytest.raises(LeptotwinError, match=match):
        _check(df)


def test_duplicated_index_labels_are_fine():
    df = pd.DataFrame({"mouse": ["m1", "m2"], "arm": "a", "day": [1, 1], "flux": [1.0, 2.0]},
                      index=[0, 0])  # fmt: skip
    assert _check(df)["mouse"].tolist() == ["m1", "m2"]
