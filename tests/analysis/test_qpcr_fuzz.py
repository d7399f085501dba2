"""Property tests of the qPCR reader (issue 12): any mutation of a valid cycler export gives a
valid well table or one LeptotwinError, never another exception.

Valid exports come from the virtual cycler (:mod:`leptotwin.assays.qpcr`) in every layout it
writes (QuantStudio, StepOne, Bio-Rad CFX, tidy CSV), with point and comma decimals; Hypothesis
drops, duplicates, swaps and garbles lines, changes numbers and fields, inserts binary junk,
truncates and re-encodes them. ``make test`` runs 200 cases per property, ``make fuzz`` 10,000.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.analysis.qpcr import (
    CT_RANGE_CYCLES,
    QPCR_COLUMNS,
    QPCRFlag,
    RelativeExpressionFitter,
    read_qpcr,
)
from leptotwin.assays.qpcr import EXPORT_FLAVORS, make_qpcr_samples, simulate_qpcr, write_qpcr
from leptotwin.errors import LeptotwinError

pytestmark = pytest.mark.fuzz

READ_FLAGS = {QPCRFlag.OK, QPCRFlag.UNDETERMINED, QPCRFlag.MISSING, QPCRFlag.OMITTED}


def _wells() -> pd.DataFrame:
    """A small run: 2 groups x 2 samples x (AREG, GAPDH) in duplicate, NTCs and 3 standards."""
    rng = np.random.default_rng(20)
    truth = {"P": {"AREG": 1.0, "GAPDH": 1.0}, "AR": {"AREG": 4.0, "GAPDH": 1.0}}
    samples = make_qpcr_samples(truth, n_biological=2, rng=rng)
    q = np.array([1.0, 0.1, 0.01])
    std = pd.DataFrame({"sample": [f"std{i}" for i in range(3)], "group": "std",
                        "target": "AREG", "relative_level": q, "quantity": q * 100})  # fmt: skip
    return simulate_qpcr(pd.concat([samples, std], ignore_index=True), rng=rng, replicates=2)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> list[bytes]:
    """Valid export files (bytes), every flavor with point and with comma decimals."""
    folder = tmp_path_factory.mktemp("qpcr_exports")
    wells = _wells()
    out = []
    for flavor in EXPORT_FLAVORS:
        for sep, decimal in ((None, "."), (";", ",")):
            path = write_qpcr(wells, folder / f"{flavor}{decimal}.csv", flavor=flavor, sep=sep,
                              decimal=decimal)  # fmt: skip
            out.append(path.read_bytes())
    # a tidy table with a per-well efficiency column (percent, as 7500 software writes it)
    tidy = pd.read_csv(folder / "tidy..csv", keep_default_na=False, dtype=str)
    tidy["Efficiency"] = np.where(tidy["target"] == "AREG", "96.5", "99.1")
    out.append(tidy.to_csv(index=False).encode())
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("qpcr_fuzz") / "export.csv"


# -- mutations -------------------------------------------------------------------------------

_NUMBER = re.compile(rb"-?\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?")
_FIELD_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "Undetermined", "NaN", "nan", "inf", "-inf", "1e308", "-27.2", "0",
                     "60.0001", "27,5", "2_7", "0x1b", "27.1.2", "A99", "UNKNOWN", "Std-01",
                     "true", '"', '""', "\t", ";", ",", "[Results]", "* a = b"]),
)  # fmt: skip
_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-100, max_value=100),
    st.integers(-(10**30), 10**30),
).map(lambda x: str(x).encode())


@st.composite
def _mutation(draw, data: bytes) -> bytes:
    lines = data.split(b"\n")
    kind = draw(st.sampled_from(["drop", "dup", "swap", "garble", "insert", "number", "field",
                                 "junk", "truncate"]))  # fmt: skip
    i = draw(st.integers(0, len(lines) - 1))
    if kind == "drop":
        del lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "swap":
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "garble":
        lines[i] = draw(st.text(max_size=60)).encode("utf-8", "surrogatepass")
    elif kind == "insert":
        lines.insert(i, draw(st.binary(max_size=40)))
    elif kind == "number":
        found = list(_NUMBER.finditer(lines[i]))
        if found:
            m = found[draw(st.integers(0, len(found) - 1))]
            new = draw(_NUMBERS)
            lines[i] = lines[i][: m.start()] + new + lines[i][m.end() :]
    elif kind == "field":
        sep = max((b"\t", b";", b","), key=lines[i].count)
        cells = lines[i].split(sep)
        k = draw(st.integers(0, len(cells) - 1))
        cells[k] = draw(_FIELD_TEXT).encode("utf-8", "surrogatepass")
        lines[i] = sep.join(cells)
    elif kind == "junk":
        at = draw(st.integers(0, len(lines[i])))
        lines[i] = lines[i][:at] + draw(st.binary(min_size=1, max_size=16)) + lines[i][at:]
    else:
        joined = b"\n".join(lines)
        return joined[: draw(st.integers(0, len(joined)))]
    return b"\n".join(lines)


@st.composite
def _spoiled(draw, exports: list[bytes]) -> bytes:
    data = draw(st.sampled_from(exports))
    for _ in range(draw(st.integers(1, 4))):
        data = draw(_mutation(data))
    encoding = draw(st.sampled_from([None, None, None, "utf-16", "latin-1", "utf-8-sig"]))
    if encoding is not None:
        text = data.decode("utf-8", "replace")
        data = text.encode(encoding, "replace")
    return data


def _check_valid(frame: pd.DataFrame) -> None:
    """What every caller may rely on in a table read_qpcr returns."""
    assert list(frame.columns) == list(QPCR_COLUMNS)
    for col in ("well", "sample", "group", "target", "task", "flag"):
        assert all(isinstance(v, str) for v in frame[col]), col
    ct = frame["ct"].to_numpy(float)
    lo, hi = CT_RANGE_CYCLES
    assert np.all(np.isnan(ct) | ((ct > lo) & (ct <= hi)))
    assert set(frame["flag"]) <= {f.value for f in READ_FLAGS}
    assert np.all(np.isfinite(ct[frame["flag"].to_numpy() == "ok"]))
    q = frame["quantity"].to_numpy(float)
    assert np.all(np.isnan(q) | (np.isfinite(q) & (q >= 0)))
    named = frame[frame["well"] != ""]
    assert not named.duplicated(["well", "target"]).any()


# -- properties ------------------------------------------------------------------------------


def test_the_unspoilt_exports_are_read(exports, scratch):
    for data in exports:
        scratch.write_bytes(data)
        frame = read_qpcr(scratch)
        _check_valid(frame)
        assert len(frame) == len(_wells())
    assert _efficiency_attr(exports[-1], scratch) == pytest.approx({"AREG": 0.965, "GAPDH": 0.991})


def _efficiency_attr(data: bytes, scratch: Path) -> dict[str, float]:
    scratch.write_bytes(data)
    return read_qpcr(scratch).attrs["efficiency"]


@given(data=st.data())
def test_read_qpcr_gives_a_valid_table_or_one_error(exports, scratch, data):
    scratch.write_bytes(data.draw(_spoiled(exports)))
    try:
        frame = read_qpcr(scratch)
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    _check_valid(frame)


@given(data=st.data())
def test_relative_quantification_of_a_spoilt_export_gives_a_result_or_one_error(
    exports, scratch, data
):
    """Through the fit as the CLI runs it: a table read from a spoilt file never crashes the
    analysis (ΔΔCt against GAPDH, calibrator P)."""
    scratch.write_bytes(data.draw(_spoiled(exports)))
    try:
        fit = RelativeExpressionFitter("GAPDH", "P").fit(read_qpcr(scratch))
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    assert len(fit.summary) >= 1


@given(
    cell=st.one_of(
        _FIELD_TEXT,
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.text(alphabet="0123456789.,eE+- ", max_size=10),
    )
)
def test_any_ct_cell_is_a_plausible_number_a_marker_or_one_error(scratch, cell):
    text = f"Well Position,Sample Name,Target Name,CT\nA1,S1,AREG,{cell}\nA2,S1,GAPDH,18.0\n"
    scratch.write_text(text, encoding="utf-8")
    try:
        frame = read_qpcr(scratch)
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    _check_valid(frame)
