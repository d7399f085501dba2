"""Property tests of the per-mouse, per-day table check (issue 12): any table, a clean copy that
is right or one LeptotwinError, never another exception. ``make test`` runs 200 cases,
``make fuzz`` 10,000."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.errors import LeptotwinError
from leptotwin.formats.mouse_table import MAX_ABS_DAY, MAX_ABS_VALUE, check_mouse_day_table

pytestmark = pytest.mark.fuzz

CELLS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.integers(),
    st.floats(),
    st.sampled_from(["7", "1e308", "-1", "nan", "inf", "", " ", "m1", "1,5", "0x1", "1_0"]),
    st.text(max_size=4),
    st.complex_numbers(max_magnitude=1e3),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=9999)),
    st.lists(st.integers(), max_size=2),
)
LABELS = st.one_of(st.sampled_from(["m1", "m2", "m3", "a", "b", 1, 2, 1.0, "", None]), CELLS)
NAMES = ["mouse", "arm", "day", "flux", "roi"]


@st.composite
def tables(draw) -> pd.DataFrame:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=6))
    if draw(st.booleans()):
        names = [n for n in NAMES[:4] if n not in names] + names  # usually all four, maybe twice
    n = draw(st.integers(0, 6))
    columns = {}
    for j, name in enumerate(names):
        cells = LABELS if name in ("mouse", "arm") else CELLS
        if draw(st.booleans()):  # a typed column, as a reader would give
            kind = draw(st.sampled_from(["int", "float", "str", "bool"]))
            values = {"int": st.integers(-(10**6), 10**6), "float": st.floats(),
                      "str": st.text(max_size=4), "bool": st.booleans()}[kind]  # fmt: skip
            col = pd.Series(draw(st.lists(values, min_size=n, max_size=n)))
        else:
            col = pd.Series(draw(st.lists(cells, min_size=n, max_size=n)), dtype=object)
        columns[j] = col
    df = pd.DataFrame(columns)
    df.columns = names
    if draw(st.booleans()):
        df.index = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return df


@given(df=tables(), allow_empty=st.booleans())
def test_any_table(df, allow_empty):
    try:
        out = check_mouse_day_table(df, "flux", source="t.csv", what="BLI table",
                                    allow_empty=allow_empty)  # fmt: skip
    except LeptotwinError as err:
        assert err.source == "t.csv" and "\n" not in str(err)
        return
    assert list(out.columns) == ["mouse", "arm", "day", "flux"] and len(out) == len(df)
    assert out["day"].dtype == np.float64 and out["flux"].dtype == np.float64
    assert np.isfinite(out[["day", "flux"]].to_numpy()).all()
    assert (out["day"].abs() <= MAX_ABS_DAY).all() and (out["flux"].abs() <= MAX_ABS_VALUE).all()
    assert all(isinstance(x, str) and x.strip() for x in [*out["mouse"], *out["arm"]])
    assert not out.duplicated(["mouse", "day"]).any()
    assert (out.groupby("mouse")["arm"].nunique() == 1).all()
    for col in ("day", "flux"):  # every accepted cell is a real number (or its decimal text)
        for x in df[col]:
            assert not isinstance(x, bool | np.bool_ | complex | dt.date | dt.timedelta | list)
