"""Property tests of the tidy dose-response reader and fitter (issue 12): for any generated file
the reader returns a valid table or raises LeptotwinError, and the fitter, given any valid table,
returns its tables or raises LeptotwinError — never another exception, never a warning (pytest
turns warnings into errors). ``make test`` runs 200 cases per property, ``make fuzz`` 10,000.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.analysis._drinput import MAX_ABS
from leptotwin.analysis.doseresponse import DoseResponseFitter, read_dose_response
from leptotwin.errors import LeptotwinError

pytestmark = pytest.mark.fuzz

HEADER = "curve,dose,response\n"


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    """One file, rewritten by every example (no per-example set-up)."""
    return tmp_path_factory.mktemp("dose_response_fuzz") / "data.csv"


def _read_or_refuse(path: Path) -> pd.DataFrame | None:
    try:
        frame = read_dose_response(path)
    except LeptotwinError as err:
        assert "\n" not in str(err) and str(path) in str(err)
        return None
    assert len(frame) >= 1
    dose = frame["dose"].to_numpy(float)
    resp = frame["response"].to_numpy(float)
    assert np.isfinite(dose).all() and (dose >= 0).all() and (dose <= MAX_ABS).all()
    assert np.isfinite(resp).all() and (np.abs(resp) <= MAX_ABS).all()
    assert frame["curve"].map(lambda s: isinstance(s, str) and s.strip() != "").all()
    return frame


@given(st.binary(max_size=400))
def test_any_bytes(target: Path, data: bytes) -> None:
    target.write_bytes(data)
    _read_or_refuse(target)


@given(st.binary(max_size=300))
def test_any_bytes_after_a_good_header(target: Path, data: bytes) -> None:
    target.write_bytes(HEADER.encode() + data)
    _read_or_refuse(target)


@given(st.text(max_size=300))
def test_any_text_with_the_right_header(target: Path, text: str) -> None:
    target.write_text(HEADER + text, encoding="utf-8")
    _read_or_refuse(target)


_CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-1e3, max_value=1e3).map(lambda x: f"{x:g}"),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["", " ", "NA", "nan", "inf", "-0", "1e400", "1,5", "0x10", "1_0", "True"]),
    st.text(alphabet="0123456789.eE+- ,", max_size=8),
)
_LABEL = st.one_of(st.sampled_from(["A", "B", "01", "NA", " ", ""]), st.text(max_size=6))


@given(
    st.lists(st.tuples(_LABEL, _CELL, _CELL), max_size=12),
    st.sampled_from([",", ";", "\t"]),
)
def test_random_tables(target: Path, rows: list[tuple[str, str, str]], sep: str) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(["curve", "dose", "response"])
    writer.writerows(rows)
    target.write_text(buf.getvalue(), encoding="utf-8")
    _read_or_refuse(target)


_DOSE = st.one_of(
    st.just(0.0),
    st.floats(min_value=1e-300, max_value=MAX_ABS),
    st.sampled_from([1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0]),
)
_RESP = st.one_of(
    st.floats(min_value=-MAX_ABS, max_value=MAX_ABS),
    st.floats(min_value=-10.0, max_value=110.0),
    st.sampled_from([0.0, 50.0, 100.0]),
)


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), _DOSE, _RESP), min_size=1, max_size=16),
    st.sampled_from(["LL.4", "W1.4", "LL.3"]),
)
def test_fitter_on_any_valid_table(rows: list[tuple[str, float, float]], model: str) -> None:
    df = pd.DataFrame(rows, columns=["curve", "dose", "response"])
    fit = DoseResponseFitter(model).fit(df)
    qc, results = fit.qc_, fit.results_
    assert len(qc) == df["curve"].nunique()
    assert set(qc["status"]) <= {"converged", "max_iter", "failed", "insufficient_data", "flat"}
    assert (results["ok"] == results["curve"].map(qc["ok"])).all()
    flat_e = results["curve"].isin(qc.index[qc["flat"]]) & (results["param"] == "e")
    assert results.loc[flat_e, "estimate"].isna().all()
