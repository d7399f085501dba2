"""Property tests of the layout readers (issue 12): dose-response and ELISA layouts, and the
merge and normalisation that follow them. For any input: a layout that is right or one
LeptotwinError naming the file (and, for a row, its line and column), never another exception.

Layouts are random bytes and text, and tables built from the pieces people type: missing or
extra columns, known and unknown roles and units, duplicate wells, wells off the plate, negative,
huge, non-finite and textual numbers, decimal commas, any separator. A layout that is read must
hold no hazard that was put into it (a unit that is not a concentration, an unknown role, a
negative or absurd concentration, a duplicated well...) and must convert what it holds exactly.
Units are pint's (:mod:`leptotwin.catalog.units`, tested there); here they are taken as that
module reads them. ``make test`` runs
200 cases per property, ``make fuzz`` 10,000.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.catalog.units import ConcUnit, concentration_unit
from leptotwin.errors import LeptotwinError
from leptotwin.formats import (
    ELISA_LAYOUT_COLUMNS,
    ELISA_ROLES,
    LAYOUT_COLUMNS,
    ROLES,
    normalise_to_controls,
    plate_wells,
    read_elisa_layout,
    read_layout,
    to_dose_response,
)

pytestmark = pytest.mark.fuzz

NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
ELISA_ALIASES = {"std": "standard", "standards": "standard", "calibrator": "standard",
                 "unknown": "sample", "unk": "sample", "zero": "blank", "": "empty"}  # fmt: skip

NUMBERS = st.one_of(
    st.sampled_from(["", "", "0", "1", "-1", "1.5", "0,5", "1e-3", "1e308", "-1e308", "1e999",
                     "inf", "nan", "NaN", "abc", "1_000", "\u0661", "1e8", "2e9", "999999999",
                     "1e12", "5e-324", " 7 ", "1 000", "+3", ".5"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=4),
)  # fmt: skip
WELLS = st.one_of(
    st.sampled_from(["A1", "A01", "a1", " B 2", "B02", "H12", "P24", "I1", "Q1", "A25", "Z9",
                     "", "1A", "A0", "A001", "AA1"]),
    st.builds(lambda r, c: f"{r}{c}", st.sampled_from("ABCDEFGH"), st.integers(1, 12)),
)  # fmt: skip
TEXT = st.one_of(st.sampled_from(["", "H3122", "x", "alectinib", " y "]), st.text(max_size=5))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("layout_properties")


def _read(reader, path: Path) -> pd.DataFrame | None:
    """The reader's result, or None after a LeptotwinError naming the file on one line."""
    try:
        return reader(path)
    except LeptotwinError as err:
        assert err.source == str(path), str(err)
        assert "\n" not in str(err) and "\r" not in str(err)
        return None


def _table(header: list[str], rows: list[list[str]], sep: str) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------- random input
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".tsv", ".xlsx"]))
def test_random_bytes(folder, data, suffix):
    path = folder / f"bytes{suffix}"
    path.write_bytes(data)
    _read(read_layout, path)
    _read(read_elisa_layout, path)


@given(
    text=st.lists(
        st.one_of(
            st.sampled_from([",", ";", "\t", "\n", "\r", '"', "#", "well", "role", "sample",
                             "conc_a", "nM", "A1", "1", "standard", "nominal_pg_mL", "0,5"]),
            st.characters(),
        ),
        max_size=300,
    ).map("".join)
)  # fmt: skip
def test_random_text(folder, text):
    path = folder / "text.csv"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    _read(read_layout, path)
    _read(read_elisa_layout, path)


# --------------------------------------------------------------------------- dose-response layout
COLUMN_VALUES = {
    "plate": st.sampled_from(["P1", "P1", "P2", "", " P1 "]),
    "well": WELLS,
    "role": st.one_of(
        st.sampled_from([*ROLES, "Sample", " VEHICLE ", "control", "std", ""]), st.text(max_size=4)
    ),
    "conc_a": NUMBERS,
    "conc_b": NUMBERS,
    "conc_a_nm": NUMBERS,
    "conc_unit": st.one_of(
        st.sampled_from(
            [
                "",
                "nM",
                "uM",
                "µM",
                "μM",
                "mM",
                "M",
                "pM",
                "ng/mL",
                "mg/mL",
                "nmol/L",
                "µmol/l",
                "furlong",
                "nm ",
                "n M",
                "g",
                "%",
                "mol",
            ]
        ),
        st.text(max_size=4),
    ),
}


@st.composite
def layouts(draw) -> tuple[list[str], list[list[str]], str]:
    """(header, rows as typed, separator) of a dose-response layout table."""
    names = draw(st.lists(st.sampled_from([*LAYOUT_COLUMNS, "notes", "conc_a_nM"]), unique=True,
                          min_size=1, max_size=13))  # fmt: skip
    header = [draw(st.sampled_from([n, n.upper(), f" {n} "])) for n in names]
    cells = [COLUMN_VALUES.get(n.lower(), TEXT) for n in names]
    rows = [[draw(c) for c in cells] for _ in range(draw(st.integers(0, 8)))]
    return header, rows, draw(st.sampled_from([",", ";", "\t"]))


def _unit(text: str) -> ConcUnit | None:
    """The concentration unit a cell names (units are pint's, through catalog.units), or None
    for an empty cell; raises ValueError for a cell that is not a concentration unit."""
    if not text.strip():
        return None
    try:
        return concentration_unit(text)
    except LeptotwinError:
        raise ValueError(text) from None


def _number(text: str, decimal: str) -> float | None:
    """The value of a cell by the format's number rule, or None for text that is not one."""
    s = text.strip()
    s = s.replace(",", ".") if decimal == "," else s
    return float(s) if NUMBER.fullmatch(s) else None


def _hazards(header: list[str], rows: list[list[str]], decimal: str) -> list[str]:
    """Everything in a typed layout that the reader must refuse."""
    names = [h.strip().lower() for h in header]
    found = []
    if "well" not in names or "role" not in names:
        found.append("missing well/role column")
    if len(set(names)) < len(names):
        found.append("duplicated header")
    for row in rows:
        cell = dict(zip(names, row, strict=True))
        role = cell.get("role", "").strip().lower()
        if role not in ROLES:
            found.append(f"unknown role {role!r}")
        try:
            unit = _unit(cell.get("conc_unit", ""))
        except ValueError as err:
            found.append(f"unknown unit {err}")
            unit = None
        for col in ("conc_a", "conc_b"):
            text = cell.get(col, "").strip()
            value = _number(text, decimal) if text else None
            if text and value is None:
                found.append(f"{col} not a number {text!r}")
            elif value is not None and (value < 0 or not np.isfinite(value)):
                found.append(f"{col} negative or not finite {text!r}")
            elif value is not None and unit is not None and value * unit.factor >= 1e9:
                found.append(f"{col} of 1 M or more {text!r}")
    return found


@given(layout=layouts())
def test_dose_response_layout(folder, layout):
    header, rows, sep = layout
    path = folder / "layout.csv"
    path.write_bytes(_table(header, rows, sep).encode("utf-8", errors="surrogatepass"))
    got = _read(read_layout, path)
    if got is None:
        return
    decimal = "," if sep != "," else "."
    typed = [dict(zip([h.strip().lower() for h in header], r, strict=True)) for r in rows]
    assert set(got["role"]) <= set(ROLES)
    assert len(got) == len(rows)
    assert not got.duplicated(["plate", "well"]).any()
    for col in ("conc_a_nM", "conc_b_nM"):
        nm = got[col].to_numpy(float)
        assert ((nm >= 0) & (nm < 1e9) | np.isnan(nm)).all()
    if any(sep in c or "\n" in c or "\r" in c or '"' in c for r in rows for c in r):
        return  # cells that change the table's shape: no typed-cell oracle
    hazards = _hazards(header, rows, decimal)
    assert not hazards, f"read although it holds {hazards}: {got.to_dict('records')}"
    for row, cell in zip(got.itertuples(), typed, strict=True):  # exact conversions
        unit = _unit(cell.get("conc_unit", ""))
        text = cell.get("conc_a", "").strip()
        if text and unit is not None and unit.molar:
            value = _number(text, decimal)
            assert row.conc_a_nM == (0.0 if value == 0 else value * unit.factor)


# --------------------------------------------------------------------------- ELISA layout
ELISA_VALUES = {
    "plate": COLUMN_VALUES["plate"],
    "well": WELLS,
    "role": st.one_of(
        st.sampled_from([*ELISA_ROLES, *ELISA_ALIASES, "STD", "vehicle", " Zero "]),
        st.text(max_size=4),
    ),
    "nominal_pg_mL": NUMBERS,
    "dilution": NUMBERS,
    "sample_id": st.sampled_from(["", "S1", "S2", " s3 "]),
}


@st.composite
def elisa_layouts(draw) -> tuple[list[str], list[list[str]], str]:
    names = draw(st.lists(st.sampled_from([*ELISA_LAYOUT_COLUMNS, "notes"]), unique=True,
                          min_size=1, max_size=8))  # fmt: skip
    header = [draw(st.sampled_from([n, n.upper()])) for n in names]
    rows = [
        [draw(ELISA_VALUES.get(n, TEXT)) for n in names] for _ in range(draw(st.integers(0, 8)))
    ]
    return header, rows, draw(st.sampled_from([",", ";", "\t"]))


@given(layout=elisa_layouts())
def test_elisa_layout(folder, layout):
    header, rows, sep = layout
    path = folder / "elisa.csv"
    path.write_bytes(_table(header, rows, sep).encode("utf-8", errors="surrogatepass"))
    names = [h.strip().lower() for h in header]
    typed = [dict(zip(names, row, strict=True)).get("role", "").strip().lower() for row in rows]
    roles = [ELISA_ALIASES.get(r, r) for r in typed]
    try:
        got = read_elisa_layout(path)
    except LeptotwinError as err:
        assert err.source == str(path) and "\n" not in str(err)
        if "nominal_pg_ml" not in names and "standard" in roles:  # the column is named missing
            assert "without a positive nominal" not in err.message, str(err)
            assert err.field != "nominal_pg_mL" or err.message == "missing column", str(err)
        return
    assert set(got["role"]) <= set(ELISA_ROLES)
    std = (got["role"] == "standard").to_numpy()
    smp = (got["role"] == "sample").to_numpy()
    nominal, dilution = got["nominal_pg_mL"].to_numpy(float), got["dilution"].to_numpy(float)
    assert (np.isfinite(nominal[std]) & (nominal[std] > 0) & (nominal[std] < 1e12)).all()
    assert (np.isfinite(dilution[smp]) & (dilution[smp] > 0) & (dilution[smp] < 1e9)).all()
    assert (nominal[(got["role"] == "blank").to_numpy()] == 0).all()
    assert (got.loc[smp, "sample_id"] != "").all()


# --------------------------------------------------------------------------- normalise
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-300, 1e-12, 1e-3, 1.0, 1e6, 1e14]),
    n_used=st.integers(1, 40),
)
def test_normalise_any_readings(seed, scale, n_used):
    """Any readings a plate file can hold (magnitude < 1e15, markers, empty wells) in any roles,
    as merge_plate lays them out: normalised responses, or one LeptotwinError; no RuntimeWarning
    (an error under pytest), no inf, a finite response for every finite signal."""
    rng = np.random.default_rng(seed)
    role = rng.choice(["sample", "vehicle", "blank", "positive", "empty"], size=n_used)
    signal = rng.choice([-1.0, 0.0, 1.0, 1e3], size=n_used) * rng.uniform(0, scale, n_used)
    flag = rng.choice(["ok"] * 8 + ["overflow", "missing"], size=n_used)
    merged = pd.DataFrame(
        {
            "plate": "P1",
            "well": plate_wells(96)["well"].to_numpy()[:n_used],
            "role": role,
            "cell_line": rng.choice(["", "L1", "L2"], size=n_used),
            "drug_a": "d",
            "conc_a_nM": np.where(
                role == "sample", rng.choice([0, 1, 1e-300, 9e8], n_used), np.nan
            ),
            "signal": np.where(flag == "ok", np.clip(signal, -9.9e14, 9.9e14), np.nan),
            "flag": flag,
        }
    )
    try:
        data, qc = normalise_to_controls(merged)
        curves = to_dose_response(data)
    except LeptotwinError as err:
        assert "\n" not in str(err)
        return
    response = data["response"].to_numpy(float)
    assert not np.isinf(response).any()
    finite_signal = np.isfinite(data["signal"].to_numpy(float))
    grouped = data["role"].isin(["sample", "vehicle", "positive"]).to_numpy()
    assert np.isfinite(response[finite_signal & grouped]).all()
    assert np.isfinite(curves["response"]).all() and np.isfinite(curves["dose"]).all()
    assert not np.isinf(qc.select_dtypes("number").to_numpy(float)).any()
