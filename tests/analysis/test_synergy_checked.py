"""The synergy input checked once, over the whole table (issue 14 item 4): ``check_table_keys``
codes the key columns as it checks them, ``unify_units`` finds the blocks that mix spellings
with array code and converts only those, the codes give :func:`_validate` what it computed
itself, and the command line checks the file once and hands its chunks on as checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin._fileio import write_table
from leptotwin.analysis import _synergy_input as inp
from leptotwin.analysis import synergy as syn
from leptotwin.analysis._groups import group_chunk_rows, text_group_codes
from leptotwin.analysis._synergy_musyc import simulate_blocks
from leptotwin.errors import LeptotwinError
from leptotwin.study import synergy_job as job
from leptotwin.study.distributed import whole_group_chunks

CONC = np.r_[0, np.logspace(-1, 1, 4)]
_PAIRS = (("conc_r", "conc_r_unit"), ("conc_c", "conc_c_unit"))


def _blocks(n: int, seed: int = 0) -> pd.DataFrame:
    return simulate_blocks(n, rng=np.random.default_rng(seed), conc=CONC)


def _text_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Block ids and drug names as text with stray spaces (new objects per row)."""
    return df.assign(
        block_id=[f" b{k:02d} "[: 5 + k % 2] for k in df["block_id"]],
        drug_row=[" A"[k % 2 :] + "" for k in range(len(df))],
    )


def _mixed_units(seed: int) -> pd.DataFrame:
    """Spellings of one unit (uM, µM, μM) and convertible mixtures (nM, pM) among the blocks."""
    rng = np.random.default_rng(seed)
    df = _blocks(12, seed)
    spell = np.array(["uM", "µM", "μM", " uM"], dtype=object)
    spelled = (df["block_id"] % 3 == 0).to_numpy()
    df["conc_r_unit"] = np.where(spelled, spell[rng.integers(0, 4, len(df))], "uM").astype(object)
    nano = (df["block_id"] % 4 == 1).to_numpy() & (rng.random(len(df)) < 0.4)
    df.loc[nano, "conc_c"] = df.loc[nano, "conc_c"] * 1000
    df.loc[nano, "conc_c_unit"] = "nM"
    pico = (df["block_id"] == 10).to_numpy() & (df.index % 3 == 0)
    df.loc[pico, "conc_r"] = df.loc[pico, "conc_r"] * 1e6
    df.loc[pico, "conc_r_unit"] = "pM"
    return df.sample(frac=1.0, random_state=seed)


_TABLES = {
    "simulated": lambda: _blocks(6),
    "text ids": lambda: _text_ids(_blocks(6)),
    "mixed units": lambda: _mixed_units(1),
    "mixed objects": lambda: _blocks(4).assign(
        block_id=lambda d: np.where(d.index % 2, d["block_id"], d["block_id"].astype(str))
    ),
    "repeated labels": lambda: _blocks(4).set_axis([0] * 4 * 25, axis=0),
}


@pytest.mark.parametrize("name", list(_TABLES))
def test_keys_are_the_factorize_codes_and_nothing_is_shared(name):
    df = _TABLES[name]()
    before = df.copy()
    table = inp.check_table_keys(df, "t")
    frame = table.frame
    codes, labels = pd.factorize(frame["block_id"], sort=False)
    np.testing.assert_array_equal(table.keys["block_id"], codes, strict=True)
    pd.testing.assert_index_equal(table.labels, labels, exact=True)
    for col in ("drug_row", "drug_col", "conc_r_unit", "conc_c_unit"):
        if col in table.keys:
            np.testing.assert_array_equal(table.keys[col], pd.factorize(frame[col])[0])
    for col in frame.columns:  # the checked table holds its own data
        assert not np.shares_memory(frame[col].to_numpy(), df[col].to_numpy()), col
    for col in frame.columns:  # written in place where a column's array is a view
        values = frame[col].to_numpy()
        values[:] = -1.0 if values.dtype.kind == "f" else values[::-1]
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unify_units_equals_the_groupby_version(seed):
    df = inp.check_table(_mixed_units(seed), "t", 2)
    for keys in (None, inp.check_table_keys(_mixed_units(seed), "t", 2).keys):
        got, notes = inp.unify_units(df, "t", 2, keys=keys)
        want, want_notes = inp._unify_units_frames(df, "t", 2, _PAIRS)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert notes == want_notes and notes
        assert set(got.loc[got["block_id"] % 3 == 0, "conc_r_unit"]) == {"µM"}  # one name
    same, none = inp.unify_units(inp.check_table(_blocks(3), "t"), "t")
    assert none == {} and same["conc_r_unit"].eq("uM").all()


def test_a_molar_and_mass_mixture_is_named_as_before():
    df = _mixed_units(4)
    for block in (7, 5):  # the first block in table order is named
        rows = np.flatnonzero((df["block_id"] == block).to_numpy())[[2, 4]]
        df.iloc[rows, df.columns.get_loc("conc_c_unit")] = "ng/mL"
    checked = inp.check_table(df, "t", 2)
    errors = []
    for unify in (
        lambda: inp.unify_units(checked, "t", 2),
        lambda: inp._unify_units_frames(checked, "t", 2, _PAIRS),
    ):
        with pytest.raises(LeptotwinError) as e:
            unify()
        errors.append((str(e.value), e.value.field, e.value.value))
    assert (
        errors[0] == errors[1] and "cannot be converted without a molecular weight" in errors[0][0]
    )


@pytest.mark.parametrize("name", ["simulated", "text ids", "mixed units", "mixed objects"])
def test_validation_from_the_keys_equals_its_own(name):
    table = inp.check_table_keys(_TABLES[name](), "t")
    frame, notes = inp.unify_units(table.frame, "t", keys=table.keys)
    qc, groups = syn._validate(frame, notes, None, table.keys, table.labels)
    qc_ref, groups_ref = syn._validate(frame, notes)
    pd.testing.assert_frame_equal(qc, qc_ref, check_exact=True)
    for g, ref in zip(groups, groups_ref, strict=True):
        pd.testing.assert_index_equal(g.blocks, ref.blocks, exact=True)
        np.testing.assert_array_equal(g.reps, ref.reps, strict=True)


@pytest.mark.parametrize("name", ["simulated", "text ids", "mixed objects"])
@pytest.mark.parametrize("size", [1, 2, 4, 100])
def test_checked_chunks_are_the_chunks_of_whole_group_chunks(name, size):
    table = inp.check_table_keys(_TABLES[name](), "t")
    want, _ = whole_group_chunks(table.frame, "block_id", size, option="--chunk-blocks")
    got = table.chunks(size)
    assert len(got) == len(want)
    for part, ref in zip(got, want, strict=True):
        pd.testing.assert_frame_equal(part.frame, ref, check_exact=True)
        codes, labels = pd.factorize(ref["block_id"], sort=False)
        np.testing.assert_array_equal(part.keys["block_id"], codes, strict=True)
        pd.testing.assert_index_equal(part.labels, labels, exact=True)


_COLUMNS = {
    "ints": pd.Series([3, 1, 3, 2, 1, 7]),
    "bools": pd.Series([True, False, True]),
    "floats": pd.Series([0.0, -0.0, np.nan, 1.5, float("nan"), 0.0, 1e300, -np.nan]),
    "text": pd.Series([" b", "a", " b", "c", "a"], dtype=object),
    "mixed objects": pd.Series([1, "1", 1.0, True, "True", None, np.nan], dtype=object),
    "missing text": pd.Series(["a", None, "a", np.nan], dtype=object),
    "categorical": pd.Series(pd.Categorical(["x", "y", None, "x"])),
    "nullable ints": pd.Series([1, None, 1, 2], dtype="Int64"),
    "empty": pd.Series([], dtype=object),
}


@pytest.mark.parametrize("name", list(_COLUMNS))
def test_text_group_codes_are_the_codes_of_the_text(name):
    column = _COLUMNS[name]
    want = pd.factorize(column.astype(str), sort=False)[0]
    np.testing.assert_array_equal(text_group_codes(column), want, strict=True)


@pytest.mark.parametrize("size", [1, 2, 3, 10])
def test_group_chunk_rows_cut_whole_groups_in_order(size):
    groups = np.array([0, 1, 0, 2, 3, 1, 4, 4, 2])
    rows = group_chunk_rows(groups, size)
    want = [np.flatnonzero(groups // size == k) for k in range(-(-5 // size))]
    assert len(rows) == len(want)
    for got, ref in zip(rows, want, strict=True):
        np.testing.assert_array_equal(got, ref)
    assert group_chunk_rows(np.zeros(0, np.intp), size) == []
    with pytest.raises(LeptotwinError, match="chunk size must be >= 1"):
        group_chunk_rows(groups, 0, option="--chunk-blocks")


def test_the_command_line_checks_the_file_once(tmp_path, monkeypatch):
    """Read and checked once (``read_checked``), then scored in chunks without a check: the
    same tables as the chunks of a DataFrame checked in each chunk as before."""
    path = tmp_path / "blocks.csv"
    _mixed_units(5).to_csv(path, index=False)
    calls = []

    def counted(*args, **kw):
        calls.append(args[1])
        return inp.check_table_keys(*args, **kw)

    monkeypatch.setattr(syn, "check_table_keys", counted)
    monkeypatch.setattr(job, "check_table_keys", counted)
    kw = {"scale": "viability", "chunk_blocks": 5, "source": str(path)}
    once = job.score_in_chunks(syn.read_checked(path), ["Bliss", "HSA"], **kw)
    assert calls == [str(path)]
    table = syn.read_synergy(path)
    calls.clear()
    again = job.score_in_chunks(table, ["Bliss", "HSA"], **kw)
    assert len(calls) == 1  # a DataFrame: checked once in score_in_chunks, not in the chunks
    plain = [
        syn.synergy_scores(c, ["Bliss", "HSA"], scale="viability", source=str(path))
        for c in whole_group_chunks(table, "block_id", 5, option="-")[0]
    ]
    for name in ("per_dose", "per_block", "qc"):
        want = pd.concat([getattr(p, name) for p in plain], ignore_index=True)
        pd.testing.assert_frame_equal(getattr(once, name), want, check_exact=True)
        pd.testing.assert_frame_equal(getattr(again, name), want, check_exact=True)
    assert once.qc["note"].str.contains("converted").any()
    with pytest.raises(LeptotwinError, match="chunk size must be >= 1"):
        job.score_in_chunks(syn.read_checked(path), ["Bliss"], **{**kw, "chunk_blocks": 0})


def test_repeated_columns_as_categories_write_the_bytes_of_to_csv(tmp_path):
    """``per_dose``'s repeated columns go to the CSV writer as categories of their text: the
    same bytes as ``to_csv`` (-0.0 apart from 0.0, exponents, inf, NaN empty, quoted text)."""
    rng = np.random.default_rng(0)
    n = 4096
    doses = [0.0, -0.0, 1e-5, 0.1, 1e16, 2.5e-7, np.inf, np.nan, 100.0, 1 / 3, 123456.789]
    frame = pd.DataFrame(
        {
            "block_id": np.repeat([f"b{k}" for k in range(64)], 64).astype(object),
            "drug": np.where(rng.random(n) < 0.5, "A, quoted", 'say "x"').astype(object),
            "conc": rng.choice(doses, n),
            "score": rng.normal(size=n),
            "lower": np.nan,
            "count": rng.integers(0, 3, n),
        }
    )
    frame.loc[::7, "score"] = np.nan
    coded = job.repeated_as_text(frame)
    kinds = {c: isinstance(t, pd.CategoricalDtype) for c, t in coded.dtypes.items()}
    assert kinds == {"block_id": True, "drug": True, "conc": True, "score": False,
                     "lower": True, "count": False}  # fmt: skip
    path = write_table(tmp_path / "t.csv", coded)
    assert path.read_bytes() == frame.to_csv(index=False).encode()
    missing = frame.assign(drug=frame["drug"].where(frame.index % 5 > 0, None))
    assert missing["drug"].dtype == object and job.repeated_as_text(missing)["drug"].dtype == object


def test_one_dose_layout_validates_as_the_general_path(monkeypatch):
    """Blocks written one after another with the same doses row for row are ranked from the
    first block: the same qc and groups as the general path, with -0.0 doses, a block with two
    drug names and one with a missing response among them; other layouts take the general one."""
    df = _blocks(6)
    df.loc[(df["block_id"] == 2) & (df["conc_c"] == 0), "conc_c"] = -0.0
    df.loc[(df["block_id"] == 3) & (df.index % 2 == 0), "drug_row"] = "Z"
    df.loc[df.index[df["block_id"] == 4][3], "response"] = np.nan
    table = inp.check_table_keys(df, "t")
    args = (table.frame, {}, None, table.keys, table.labels)
    assert syn._one_dose_layout(table.keys["block_id"], 6, 25, *(
        table.frame[c].to_numpy() for c in ("conc_r", "conc_c")))  # fmt: skip
    qc, groups = syn._validate(*args)
    assert {s.name for s in qc["status"]} == {"OK", "SEVERAL_DRUGS", "MISSING_VALUE"}
    monkeypatch.setattr(syn, "_one_dose_layout", lambda *a: False)
    qc_ref, groups_ref = syn._validate(*args)
    pd.testing.assert_frame_equal(qc, qc_ref, check_exact=True)
    assert len(groups) == len(groups_ref) == 1
    for a in ("conc_r", "conc_c", "reps", "n_rep", "qc_rows"):
        x, y = getattr(groups[0], a), getattr(groups_ref[0], a)
        np.testing.assert_array_equal(x, y, strict=True)
        np.testing.assert_array_equal(np.signbit(x), np.signbit(y))
    monkeypatch.undo()
    codes = table.keys["block_id"]
    conc_r, conc_c = (table.frame[c].to_numpy() for c in ("conc_r", "conc_c"))
    assert not syn._one_dose_layout(codes[::-1].copy(), 6, 25, conc_r, conc_c)
    assert not syn._one_dose_layout(codes, 6, 25, np.where(codes == 5, np.nan, conc_r), conc_c)
    last = conc_c.copy()
    last[codes == 5] = last[codes == 5][::-1]  # the last block's rows in another order
    assert not syn._one_dose_layout(codes, 6, 25, conc_r, last)


def _slow_read(path):
    """What ``read_synergy`` read before the pyarrow path: the pandas reader and the checks."""
    raw, first = inp.read_table(path)
    table = inp.check_table_keys(raw, str(path), first)
    frame, notes = inp.unify_units(table.frame, str(path), first, keys=table.keys)
    frame.index = pd.RangeIndex(len(frame))
    return frame, notes


_FILES = {
    "plain": lambda df: df.to_csv(index=False),
    "text ids and names": lambda df: (
        _text_ids(df)
        .assign(
            block_id=lambda d: d["block_id"].str.strip(),
            drug_row=lambda d: d["drug_row"].str.strip() + "x",
        )
        .to_csv(index=False)
    ),
    "mixed units": lambda df: (
        _mixed_units(2).replace({"conc_r_unit": {" uM": "uM"}}).to_csv(index=False)
    ),
    "mixed units, a blank before one": lambda df: _mixed_units(2).to_csv(index=False),
    "semicolons, CRLF, BOM, an extra column": lambda df: (
        "\ufeff" + df.assign(plate="P1").to_csv(index=False, sep=";", lineterminator="\r\n")
    ),
    "empty cells": lambda df: df.assign(
        response=np.where(df.index == 5, np.nan, df["response"])
    ).to_csv(index=False),
    # the pyarrow path leaves these to pandas
    "quotes": lambda df: df.assign(drug_row='"A, B"').to_csv(index=False),
    "blank after a separator": lambda df: df.to_csv(index=False).replace(",B,", ", B,"),
    "NA drug name": lambda df: df.assign(
        drug_col=np.where(df.index == 3, "NA", df["drug_col"])
    ).to_csv(index=False),
    "blank line": lambda df: df.to_csv(index=False).replace("\n", "\n\n", 3),
    "aliases": lambda df: df.rename(
        columns={"block_id": "PairIndex", "drug_row": "drug1", "conc_r": "conc1"}
    ).to_csv(index=False),
}


@pytest.mark.parametrize("name", list(_FILES))
def test_the_pyarrow_reader_reads_what_the_pandas_reader_reads(tmp_path, name):
    """``read_checked`` through pyarrow (where it vouches for the file) gives the frame and
    notes of the pandas reader; numbers are the doubles nearest their text on both paths."""
    path = tmp_path / "blocks.csv"
    path.write_bytes(_FILES[name](_blocks(5, seed=3)).encode())
    try:
        want, notes = _slow_read(path)
    except LeptotwinError as exc:  # the same error, named as before
        with pytest.raises(LeptotwinError) as got_error:
            syn.read_checked(path)
        assert str(got_error.value) == str(exc)
    else:
        got = syn.read_checked(path)
        pd.testing.assert_frame_equal(got.frame, want, check_exact=True)
        assert got.notes == notes
    fast = inp.read_table_fast(path)
    left_to_pandas = name in (
        "quotes", "blank after a separator", "NA drug name",
        "mixed units, a blank before one",
    )  # fmt: skip
    assert (fast is None) == left_to_pandas


def test_numbers_are_read_as_the_nearest_double(tmp_path):
    """A CSV of repr-written doubles reads back bit for bit on both paths (pandas' own parser
    is an ulp off for about one long decimal in five)."""
    df = _blocks(20, seed=4)
    rng = np.random.default_rng(4)
    df["response"] = rng.uniform(-20, 120, len(df))
    df["conc_c"] = df["conc_c"] * np.pi
    path = tmp_path / "blocks.csv"
    df.to_csv(path, index=False)
    text = pd.read_csv(path, dtype=str)
    assert (pd.to_numeric(text["response"]).to_numpy() != df["response"].to_numpy()).any()
    for frame in (syn.read_checked(path).frame, _slow_read(path)[0]):
        for col in ("conc_r", "conc_c", "response"):
            np.testing.assert_array_equal(frame[col].to_numpy(), df[col].to_numpy(), strict=True)
    mixed = text.assign(response=text["response"].where(text.index != 7, "NA"))
    checked = inp.check_table(mixed, "t")
    assert np.isnan(checked["response"].iloc[7])
    keep = np.arange(len(df)) != 7
    np.testing.assert_array_equal(checked["response"].to_numpy()[keep], df["response"][keep])


def test_a_bad_cell_is_named_as_before_when_the_pyarrow_path_read_the_file(tmp_path):
    path = tmp_path / "blocks.csv"
    df = _blocks(3).astype({"conc_r": object})
    df.loc[4, "conc_r"] = -1.0
    df.to_csv(path, index=False)
    assert inp.read_table_fast(path) is not None
    with pytest.raises(LeptotwinError) as fast:
        syn.read_checked(path)
    raw, first = inp.read_table(path)
    with pytest.raises(LeptotwinError) as slow:
        inp.check_table_keys(raw, str(path), first)
    assert str(fast.value) == str(slow.value) and "line 6" in str(fast.value)
