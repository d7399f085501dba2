"""Bliss and HSA without per-row Python overhead (issue 14 item 4): the array paths that replaced
per-cell ``Series.map`` calls in the input checks and the pandas groupbys in the block
validation give exactly what those gave, and Bliss / HSA equal a per-block reference written
out cell by cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis import _synergy_input as inp
from leptotwin.analysis import synergy as syn
from leptotwin.analysis._synergy_musyc import simulate_blocks

CONC = np.r_[0, np.logspace(-2, 1, 7)]


def _simulate(n: int, seed: int = 0, conc: np.ndarray = CONC) -> pd.DataFrame:
    """``n`` blocks of % viability, as benchmarks/synergy.py simulates them."""
    return simulate_blocks(n, rng=np.random.default_rng(seed), conc=conc)


# ----------------------------------------------------------------------- cell checks
_COLUMNS = {
    "text": pd.Series([" a", "b ", "NA", " n/a ", "None", "-", "", "x", "a", "NULL"]),
    "text-one-value": pd.Series(["uM"] * 6),
    "text-and-missing": pd.Series(["a", None, np.nan, " na", "b"], dtype=object),
    "mixed-objects": pd.Series(
        ["a", 1, 1.0, True, np.float32("nan"), pd.NA, b" na", float("nan"), None, pd.NaT],
        dtype=object,
    ),
    "float": pd.Series([1.0, np.nan, -0.0, 2.5]),
    "float32": pd.Series([1.0, np.nan], dtype=np.float32),
    "int": pd.Series([1, 2, 3]),
    "bool": pd.Series([True, False]),
    "category": pd.Series(["a", " na", None, "a"], dtype="category"),
    "string-dtype": pd.Series(["a", " na", None], dtype="string"),
    "nullable-int": pd.Series([1, None], dtype="Int64"),
    "empty": pd.Series([], dtype=object),
}


@pytest.mark.parametrize("name", list(_COLUMNS))
def test_cell_checks_equal_the_per_cell_maps(name):
    col = _COLUMNS[name]
    np.testing.assert_array_equal(inp._missing(col), col.map(inp._is_missing).to_numpy(bool))
    np.testing.assert_array_equal(
        inp._cellwise(col, inp._is_text, missing=False),
        col.map(lambda v: isinstance(v, str) and v.strip() != "").to_numpy(bool),
    )
    if col.dtype == object:  # the only columns check_table strips
        pd.testing.assert_series_equal(
            inp._text_cells(col, inp._strip),
            col.map(lambda v: v.strip() if isinstance(v, str) else v),
            check_exact=True,
        )
    pd.testing.assert_series_equal(
        inp._text_cells(col, inp._unit_text), col.map(lambda v: str(v).strip()), check_exact=True
    )


# ----------------------------------------------------------------------- block validation
def _awkward_table() -> pd.DataFrame:
    """Replicates, every bad-block status, two grid shapes, text block ids, shuffled rows."""
    rng = np.random.default_rng(1)
    df = _simulate(40, seed=1)
    df = pd.concat([df, df.assign(response=df["response"] + rng.normal(0, 2, len(df)))])
    df = df[~((df["block_id"] == 2) & (df.index % 3 == 0))]  # uneven replicate counts
    df.loc[df["block_id"] == 3, "response"] = np.nan
    df = df[~((df["block_id"] == 4) & (df["conc_r"] == CONC[-1]) & (df["conc_c"] > 1))]
    df = df[~((df["block_id"] == 5) & (df["conc_r"] == 0))]
    df.loc[df["block_id"] == 6, "drug_row"] = np.where(
        np.arange((df["block_id"] == 6).sum()) % 2, "A", "Z"
    )
    df = df[~((df["block_id"] == 7) & df["conc_r"].isin(CONC[1:6]))]
    df.loc[(df["block_id"] == 8) & (df["conc_c"] == 0), "conc_c"] = -0.0
    signed = (df["block_id"] == 9) & (df["conc_r"] == 0) & (df.index % 2 == 0)
    df.loc[signed, "conc_r"] = -0.0  # -0.0 and 0.0 in one block: one dose
    small = _simulate(5, seed=2, conc=np.r_[0, np.logspace(-1, 1, 4)])
    df = pd.concat([df, small.assign(block_id=small["block_id"] + 100)], ignore_index=True)
    df["block_id"] = [f"b{k:03d}" for k in df["block_id"]]
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _own_doses() -> pd.DataFrame:
    """Every block its own dose series (few rows per distinct concentration)."""
    df = _simulate(30, seed=4)
    factor = 1.0 + df["block_id"].to_numpy() / 7.0
    return df.assign(conc_r=df["conc_r"] * factor, conc_c=df["conc_c"] / factor)


@pytest.mark.parametrize("path", ["presence table", "sort"])
@pytest.mark.parametrize("table", ["simulated", "awkward", "own doses"])
def test_block_validation_equals_the_groupby_version(table, path, monkeypatch):
    """Both ways of ranking and counting doses (a table of the distinct values each block holds,
    or a sort where that table would be large) give the groupby version's tables."""
    if path == "sort":
        monkeypatch.setattr(syn, "_dense", lambda cells, rows: False)
    tables = {
        "simulated": lambda: _simulate(30),
        "awkward": _awkward_table,
        "own doses": _own_doses,
    }
    df = syn.check_table(tables[table](), "test")
    qc, groups = syn._validate(df, {"b001": "a note"})
    qc_ref, groups_ref = syn._validate_frames(df, {"b001": "a note"})
    pd.testing.assert_frame_equal(qc, qc_ref, check_exact=True)
    assert len(groups) == len(groups_ref)
    if table == "awkward":
        assert len(groups) == 2 and {s.name for s in qc["status"]} >= {
            "OK", "MISSING_VALUE", "NOT_GRID", "NO_MONOTHERAPY", "SEVERAL_DRUGS", "TOO_FEW_DOSES"
        }  # fmt: skip
        assert max(int(g.n_rep.max()) for g in groups) == 2
    for g, ref in zip(groups, groups_ref, strict=True):
        pd.testing.assert_index_equal(g.blocks, ref.blocks, exact=True)
        np.testing.assert_array_equal(g.qc_rows, ref.qc_rows, strict=True)
        pd.testing.assert_index_equal(pd.Index(qc["block_id"].to_numpy()[g.qc_rows]), g.blocks)
        for a in ("conc_r", "conc_c", "reps", "n_rep"):
            x, y = getattr(g, a), getattr(ref, a)
            assert x.dtype == y.dtype and x.shape == y.shape, a
            np.testing.assert_array_equal(x, y, strict=True)
            np.testing.assert_array_equal(np.signbit(x), np.signbit(y))


def test_a_missing_block_id_goes_through_the_groupby_version():
    df = syn.check_table(_simulate(3), "test")
    df["block_id"] = df["block_id"].astype(object)
    df.loc[df["block_id"] == 1, "block_id"] = pd.NA  # not a missing value to check_table
    qc, _ = syn._validate(df)
    qc_ref, _ = syn._validate_frames(df)
    pd.testing.assert_frame_equal(qc, qc_ref, check_exact=True)


# ----------------------------------------------------------------------- Bliss and HSA
def _reference(block: pd.DataFrame, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block, cell by cell: response, expected and score grids (% inhibition)."""
    grid = block.pivot(index="conc_r", columns="conc_c", values="response")
    v = grid.to_numpy()
    inhib = np.round(100.0 - v, 9)
    expected = np.empty_like(inhib)
    score = np.zeros_like(inhib)
    for i in range(inhib.shape[0]):
        for j in range(inhib.shape[1]):
            ir, ic = inhib[i, 0], inhib[0, j]
            expected[i, j] = ir + ic - ir * ic / 100.0 if method == "Bliss" else max(ir, ic)
            if i and j:
                score[i, j] = inhib[i, j] - expected[i, j]
    return inhib, expected, score


@pytest.mark.parametrize("method", ["Bliss", "HSA"])
def test_bliss_and_hsa_equal_a_per_block_reference(method):
    df = _simulate(12, seed=5).sample(frac=1.0, random_state=0)
    res = syn.synergy_scores(df, methods=[method], scale="viability")
    assert (res.qc["status"] == "ok").all()
    for k, block in df.groupby("block_id"):
        inhib, expected, score = _reference(block, method)
        rows = res.per_dose[res.per_dose["block_id"] == k]
        for col, want in (("response", inhib), ("expected", expected), ("score", score)):
            got = rows.pivot(index="conc_r", columns="conc_c", values=col).to_numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"{k} {col}")
        pb = res.per_block[res.per_block["block_id"] == k].set_index("statistic")
        combo = score[1:, 1:]
        np.testing.assert_allclose(pb.loc["mean", "score"], combo.mean(), rtol=1e-13)
        windows = [combo[i : i + 3, j : j + 3].mean() for i in range(5) for j in range(5)]
        np.testing.assert_allclose(pb.loc["msa", "score"], max(windows), rtol=1e-13)


# ----------------------------------------------------------------------- one method at a time
_ALONE_KW = {"scale": "viability", "n_boot": 20, "rng": None}


@pytest.fixture(scope="module")
def every_method():
    """The awkward table scored with every method (MuSyC's bootstrapped fits make it ~95 % of
    the cost): computed once, compared with Bliss alone and with HSA alone."""
    return syn.synergy_scores(_awkward_table(), methods=list(syn.METHODS), **_ALONE_KW)


@pytest.mark.parametrize("method", ["Bliss", "HSA"])
def test_bliss_or_hsa_alone_equals_its_rows_of_an_all_methods_call(method, every_method):
    """Asked alone (no monotherapy fits, its own per-dose table), Bliss or HSA gives exactly its
    rows of a call with every method: scores, bootstrap intervals (replicates) and the most
    synergistic area, on blocks of two shapes with bad blocks among them."""
    alone = syn.synergy_scores(_awkward_table(), methods=[method], **_ALONE_KW)
    every = every_method
    for table in ("per_dose", "per_block"):
        got = getattr(alone, table)
        want = getattr(every, table)
        want = want[want["method"] == method].reset_index(drop=True)
        assert len(got) and set(got["method"]) == {method}
        pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert alone.monotherapy.empty and alone.musyc.empty
    ok = alone.qc["status"] == "ok"
    assert ok.sum() > 30 and np.isfinite(alone.per_dose["lower"]).any()


@pytest.mark.parametrize("n", [7, 5000])
def test_qc_finish_equals_the_per_block_version(n):
    """``zip_fits_left_out``, notes, messages and status names, written for the blocks that
    need them (and once per status), equal what the former per-block comprehensions gave."""
    rng = np.random.default_rng(n)
    kinds = list(syn.BlockStatus)
    qc = pd.DataFrame(
        {
            "block_id": [f"b{k}" for k in range(n)],
            "status": [kinds[k] for k in rng.integers(0, len(kinds), n)],
            "note": np.where(rng.random(n) < 0.3, "converted nM to uM", ""),
        }
    )
    qc["note"] = qc["note"].astype(object)
    left_out = {f"b{k}": int(rng.integers(1, 4)) for k in rng.choice(n, size=n // 3 + 1)}
    ref = qc.copy()
    left = ref["block_id"].map(left_out).fillna(0).astype(np.int64)
    ref["zip_fits_left_out"] = left
    msg = left.map(lambda k: f"ZIP: {k} fit(s) failed or ran away, left out" if k else "")
    pairs = zip(ref["note"], msg, strict=True)
    ref["note"] = [("; ".join(x for x in (a, b) if x)) for a, b in pairs]
    ref["message"] = [s.value for s in ref["status"]]
    ref["status"] = [s.name.lower() for s in ref["status"]]
    syn._finish_qc(qc, left_out, "ZIP: {} fit(s) failed or ran away, left out")
    pd.testing.assert_frame_equal(qc, ref, check_exact=True)
    none = ref.iloc[:0].drop(columns=["zip_fits_left_out", "message"])
    none["status"] = pd.Series([], dtype=object)
    syn._finish_qc(none, {}, "{}")
    assert list(none.columns)[-2:] == ["zip_fits_left_out", "message"] and len(none) == 0


def test_object_codes_equal_pandas_factorize():
    """Codes of an object column through the objects' addresses equal ``pd.factorize``'s:
    equal strings held by different objects, numbers equal across types, missing values of
    every kind (-1), other objects."""
    rng = np.random.default_rng(0)
    pool = ["a", "b", None, np.nan, pd.NA, pd.NaT, 1, 1.0, True, np.float32("nan"), ("t",), b"x"]
    values = np.empty(20_000, dtype=object)
    for i, k in enumerate(rng.integers(0, len(pool), values.size)):
        v = pool[k]
        values[i] = "".join(list(v)) if isinstance(v, str) and i % 2 else v  # new str objects
    col = pd.Series(values)
    np.testing.assert_array_equal(syn._codes(col), pd.factorize(col, sort=False)[0], strict=True)
    col = pd.Series(values[:100])  # short: pandas directly
    np.testing.assert_array_equal(syn._codes(col), pd.factorize(col, sort=False)[0], strict=True)


def test_one_well_per_cell_mean_equals_the_replicate_mean_to_the_sign_of_zero():
    """Without replicates the cell mean is the well itself, with ``nansum``'s -0.0 -> 0.0 (an
    inhibition a hair below 0 rounds to -0.0, and ``to_csv`` writes the sign)."""
    reps = np.array([-0.0, 0.0, 1.5, -2.25, 1e-300]).reshape(1, 1, 5, 1)
    grp = syn._Group(
        pd.Index([0]), np.zeros((1, 1)), np.zeros((1, 5)), reps, np.ones((1, 1, 5), int)
    )
    with np.errstate(invalid="ignore"):
        want = np.nansum(reps, axis=3) / np.maximum(grp.n_rep, 1)
    np.testing.assert_array_equal(grp.mean, want, strict=True)
    np.testing.assert_array_equal(np.signbit(grp.mean), np.signbit(want))
    df = _simulate(3, seed=3)
    df.loc[df.index % 5 == 0, "response"] = 100.0 + 1e-13  # inhibition -1e-13 -> -0.0
    res = syn.synergy_scores(df, methods=["Bliss"], scale="viability")
    zero = res.per_dose["response"] == 0
    assert zero.sum() >= 30 and not np.signbit(res.per_dose.loc[zero, "response"]).any()
