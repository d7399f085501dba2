"""Property tests (Hypothesis) of the synergy reader and scorer: for any generated input,
``read_synergy`` and ``synergy_scores`` return a valid result or raise LeptotwinError, never
anything else (no traceback, no warning: pytest turns warnings into errors).

Inputs: arbitrary bytes; the bundled Mathews table mutated (columns dropped or renamed, cells
garbled, NaN, negative, huge or tiny, rows dropped or repeated, units changed, other encodings
and separators); small dose grids with arbitrary responses scored with every method.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from leptotwin.analysis.synergy import SynergyResult, read_synergy, synergy_scores
from leptotwin.errors import LeptotwinError
from refdata import SYNERGY

pytestmark = pytest.mark.fuzz

_ROWS = list(csv.reader(io.StringIO((SYNERGY / "mathews_screening_data.csv").read_text())))
_HEADER, _DATA = _ROWS[0], _ROWS[1:]
_STATUSES = {"ok", "several_drugs", "missing_value", "not_grid", "no_monotherapy",
             "too_few_doses", "fit_failed", "scale_unconfirmed"}  # fmt: skip
_SCORED = ["ok", "fit_failed", "scale_unconfirmed"]  # statuses whose blocks carry scores


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("synergy_fuzz")


@pytest.fixture(autouse=True, scope="module")
def _one_numba_thread():
    """Tiny batches: starting numba's parallel threads would cost more than the fits (4x)."""
    import numba

    saved = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(saved)


def _check(result: SynergyResult, table: pd.DataFrame) -> None:
    """What a valid result is: one qc row per block with a known status, scores only for ok
    blocks, no infinite score."""
    assert len(result.qc) == table["block_id"].nunique()
    assert set(result.qc["status"]) <= _STATUSES
    ok = set(result.qc.loc[result.qc["status"].isin(_SCORED), "block_id"])
    assert set(result.per_block["block_id"]) <= ok
    assert not np.isinf(result.per_dose["score"].to_numpy(float)).any()


def _read_and_score(path, methods=("Bliss", "HSA"), scale="inhibition") -> None:
    try:
        table = read_synergy(path)
    except LeptotwinError as exc:
        event(f"read refused: {exc.message[:30]}")
        return
    assert list(table.columns[:3]) == ["block_id", "drug_row", "drug_col"]
    try:
        result = synergy_scores(table, methods=methods, scale=scale)
    except LeptotwinError as exc:
        event(f"scoring refused: {exc.message[:30]}")
        return
    event(f"scored: {'/'.join(sorted(set(result.qc['status'])))}")
    _check(result, table)


# ----------------------------------------------------------------------- any bytes
@given(data=st.binary(max_size=2000))
def test_any_bytes_read_or_refused(folder, data):
    path = folder / "bytes.csv"
    path.write_bytes(data)
    _read_and_score(path)


@given(text=st.text(alphabet=st.sampled_from(list(",;\t\n\"'. -0123456789eEnaNMuµ")), max_size=400))
def test_csv_like_text_read_or_refused(folder, text):
    path = folder / "text.csv"
    path.write_text(",".join(_HEADER) + "\n" + text, encoding="utf-8")
    _read_and_score(path)


# ----------------------------------------------------------------------- mutated Mathews
_SPECIAL = """
    NA nan NaN -1 -2500 0 -0 1e308 -1e308 1e400 inf -inf 1e-320 5e-324 1.5 0.5 99999 1000.1 abc
    2,5 µM uM μM nM ng/mL furlong mg/kg % M m 1 ispinesib " ''
""".split()
_CELLS = st.one_of(
    st.sampled_from(["", "  ", *_SPECIAL]),
    st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@st.composite
def _mutated(draw) -> tuple[list[list[str]], str, str]:
    blocks = draw(st.sampled_from([("1",), ("2",), ("1", "2")]))
    rows = [list(r) for r in _DATA if r[0] in blocks]
    header = list(_HEADER)
    for _ in range(draw(st.integers(0, 5))):
        op = draw(st.sampled_from(["cell", "cell", "cell", "drop_col", "rename", "drop_row",
                                   "dup_row", "column", "unit"]))  # fmt: skip
        if not rows or not header:
            break
        if op == "cell":
            r, c = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(header) - 1))
            if c < len(rows[r]):
                rows[r][c] = draw(_CELLS)
        elif op == "drop_col":
            c = draw(st.integers(0, len(header) - 1))
            header.pop(c)
            rows = [row[:c] + row[c + 1 :] for row in rows]
        elif op == "rename":
            c = draw(st.integers(0, len(header) - 1))
            header[c] = draw(st.sampled_from(["BlockID", "PairIndex", "drug1", "conc2", "x",
                                              "conc_unit", "drug3", "Response", ""]))  # fmt: skip
        elif op == "drop_row":
            rows.pop(draw(st.integers(0, len(rows) - 1)))
        elif op == "dup_row":
            rows.append(list(rows[draw(st.integers(0, len(rows) - 1))]))
        elif op == "column":  # a whole column scaled or replaced
            c = draw(st.integers(0, len(header) - 1))
            how = draw(st.sampled_from(["/100", "*1e6", "neg", "same"]))
            for row in rows:
                if c < len(row):
                    row[c] = _transform(row[c], how, draw)
        else:  # some wells of a drug in another unit, values converted or not
            c = header.index("conc_r") if "conc_r" in header else 0
            u = header.index("conc_r_unit") if "conc_r_unit" in header else 0
            unit, factor = draw(st.sampled_from([("µM", 1e-3), ("pM", 1e3), ("uM", 1.0),
                                                 ("ng/mL", 1.0), ("mM", 1e-6)]))  # fmt: skip
            for row in rows[:: draw(st.integers(2, 7))]:
                if max(c, u) < len(row):
                    row[u] = unit
                    try:
                        row[c] = repr(float(row[c]) * factor)
                    except ValueError:
                        pass
    sep = draw(st.sampled_from([",", ";", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    return [header, *rows], sep, encoding


def _transform(cell: str, how: str, draw) -> str:
    try:
        x = float(cell)
    except ValueError:
        return cell
    return {"/100": repr(x / 100), "*1e6": repr(x * 1e6), "neg": repr(-x), "same": "7"}[how]


def _write(path, rows: list[list[str]], sep: str, encoding: str) -> None:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding, errors="replace"))


@given(case=_mutated(), scale=st.sampled_from(["inhibition", "viability"]))
def test_mutated_mathews_reads_and_scores_or_is_refused(folder, case, scale):
    rows, sep, encoding = case
    path = folder / "mutated.csv"
    _write(path, rows, sep, encoding)
    _read_and_score(path, scale=scale)


# ----------------------------------------------------------------------- scoring small blocks
_RESPONSE = st.one_of(
    st.floats(-1000, 1000, allow_nan=False),
    st.sampled_from([0.0, 100.0, -1000.0, 1000.0, 50.0, 1e-300, -0.0]),
)


def _ll4(x: np.ndarray, b: float, top: float, ec50: float) -> np.ndarray:
    """``top / (1 + (ec50 / x)^b)``, 0 at x = 0 (through logs: no overflow)."""
    z = b * (np.log(ec50) - np.log(np.where(x > 0, x, 1.0)))
    return np.where(x > 0, top / (1.0 + np.exp(np.minimum(z, 700.0))), 0.0)


@st.composite
def _block(draw) -> tuple[pd.DataFrame, tuple[str, ...], str | None]:
    """A 4x4 to 5x5 grid (replicates 1-2): a Bliss surface of two LL.4 curves times a synergy
    factor plus noise (any slope, top, EC50 and noise up to 50 points), or a flat block, or
    arbitrary responses; now and then a missing well."""

    def axis() -> list[float]:
        values = draw(st.lists(st.floats(1e-6, 1e4), min_size=3, max_size=4, unique=True))
        return [0.0, *sorted(values)]

    conc_r, conc_c = axis(), axis()
    n_rep = draw(st.integers(1, 2))
    cells = [(r, c) for r in conc_r for c in conc_c for _ in range(n_rep)]
    r, c = (np.array([x[k] for x in cells]) for k in (0, 1))
    kind = draw(st.sampled_from(["surface", "surface", "surface", "flat", "arbitrary"]))
    if kind == "flat":  # every well the same: the fits' degenerate case
        resp = np.full(len(cells), draw(_RESPONSE))
    elif kind == "arbitrary":
        resp = np.array(draw(st.lists(_RESPONSE, min_size=len(cells), max_size=len(cells))))
    else:
        slope, top, ec50 = st.floats(0.2, 8), st.floats(-100, 300), st.floats(1e-5, 1e5)
        a = _ll4(r, draw(slope), draw(top), draw(ec50))
        b = _ll4(c, draw(slope), draw(top), draw(ec50))
        bliss = a + b - a * b / 100
        noise = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(0, 1, len(cells))
        resp = bliss * draw(st.floats(0.5, 1.5)) + draw(st.floats(0, 50)) * noise
        resp = np.clip(resp, -1000, 1000)
    if draw(st.integers(0, 9)) == 0:
        resp[draw(st.integers(0, len(cells) - 1))] = np.nan
    frame = pd.DataFrame(
        {
            "block_id": "b",
            "drug_row": "A",
            "drug_col": "B",
            "conc_r": r,
            "conc_c": c,
            "response": resp,
            "conc_r_unit": draw(st.sampled_from(["nM", "µM", "ng/mL"])),
            "conc_c_unit": "uM",
        }
    )
    methods = draw(st.sampled_from([("ZIP", "Bliss", "HSA", "Loewe"), ("Loewe",), ("MuSyC",)]))
    unit = draw(st.sampled_from([None, "percent", "fraction"]))
    return frame, methods, unit


@given(
    case=_block(),
    variant=st.sampled_from(["yadav", "synergyfinder", "synergy"]),
    n_boot=st.sampled_from([0, 3]),
)
def test_small_blocks_score_with_every_method(case, variant, n_boot):
    frame, methods, unit = case
    try:
        result = synergy_scores(frame, methods=methods, response_unit=unit, zip_variant=variant,
                                n_boot=n_boot)  # fmt: skip
    except LeptotwinError as exc:
        event(f"refused: {exc.message[:30]}")
        return
    event(f"scored: {'/'.join(sorted(set(result.qc['status'])))}")
    _check(result, frame)
