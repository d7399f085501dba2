"""Property tests of the blot readers and grammars (issue 12): the blot layout file, the array
layout file and the --reference grammar give a valid result or one LeptotwinError, never
another exception."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.analysis.blot_strips import read_blot_layout
from leptotwin.analysis.densitometry import quantify_array, read_array_layout
from leptotwin.errors import LeptotwinError
from leptotwin.study.lab_jobs import parse_references

pytestmark = pytest.mark.fuzz

BLOT_LAYOUT = (
    "# leptotwin blot layout v1\n[strips]\nstrip,antibody,total,role,row0_px,row1_px\n"
    "1,p-EGFR,EGFR,,0,71\n2,EGFR,,,72,143\n3,beta-actin,,loading control,144,215\n"
    "[lanes]\nlane,sample\n1,A925L\n2,A925L/AR\n"
)
ARRAY_LAYOUT = (
    "# pitch_px: 24\n# origin_x_px: 30\n# origin_y_px: 30\nreceptor,kind,row,col\n"
    "Reference,reference,0,0\nReference,reference,0,1\nEGFR,receptor,1,0\nPBS,negative,1,1\n"
)
MEMBRANE = np.random.default_rng(0).normal(1000.0, 10.0, (120, 200))
_TOKENS = st.sampled_from(
    ["", ",", ";", "\t", "[strips]", "[lanes]", "[gels]", "antibody", "strip", "lane", "sample",
     "total", "role", "row0_px", "row1_px", "receptor", "row", "col", "0", "1", "-1", "1e308",
     "nan", "2.5", "loading control", "EGFR", "p-EGFR", "β-actin", '"', "#", "\x00", "\xff"]
)  # fmt: skip


@st.composite
def _spoiled(draw, text: str) -> bytes:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "dup", "field", "garble", "tokens"]))
        if kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "field":
            cells = lines[i].split(",")
            cells[draw(st.integers(0, len(cells) - 1))] = draw(st.text(max_size=10))
            lines[i] = ",".join(cells)
        elif kind == "garble":
            lines[i] = draw(st.text(max_size=40))
        else:
            lines[i] = "".join(draw(st.lists(_TOKENS, max_size=8)))
        if not lines:
            lines = [""]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=12)) + data[at:]
    return data


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("layout_fuzz") / "layout.csv"


@given(data=st.data())
def test_read_blot_layout_gives_a_valid_layout_or_one_error(scratch, data):
    scratch.write_bytes(data.draw(_spoiled(BLOT_LAYOUT)))
    try:
        lay = read_blot_layout(scratch)
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    s = lay.strips
    assert s["strip"].tolist() == list(range(1, len(s) + 1))
    assert all(isinstance(a, str) and a for a in s["antibody"])
    assert set(s["role"]) <= {"", "loading control"}
    rows = s[["row0_px", "row1_px"]].to_numpy(float)
    assert np.isnan(rows).all() or (np.isfinite(rows).all() and (rows[:, 1] >= rows[:, 0]).all())
    assert lay.lanes["lane"].tolist() == list(range(1, len(lay.lanes) + 1))


@given(data=st.data())
def test_read_array_layout_gives_a_layout_or_one_error(scratch, data):
    scratch.write_bytes(data.draw(_spoiled(ARRAY_LAYOUT)))
    try:
        lay = read_array_layout(scratch)
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    assert (lay.spots["kind"] == "reference").any()
    try:  # and placing its spots on a membrane image
        spots = quantify_array(MEMBRANE, lay)
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    assert np.isfinite(spots[["x_px", "y_px", "volume_au"]].to_numpy(float)).all()


@given(st.lists(st.text(alphabet="AB=+, -U6", max_size=12), max_size=4))
def test_reference_grammar_gives_a_plan_or_one_error(values):
    try:
        plan = parse_references(values)
    except LeptotwinError as exc:
        assert str(exc).startswith("--reference: ") and "\n" not in str(exc)
        return
    if isinstance(plan, dict):
        assert plan and all(t and refs and t not in refs for t, refs in plan.items())
    else:
        names = [plan] if isinstance(plan, str) else plan
        assert names and all(n and "=" not in n for n in names)
