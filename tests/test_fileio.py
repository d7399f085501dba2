"""Output folders: a refusal says how to pass --force, under make too (issue 16)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from leptotwin._fileio import prepare_out_dir, streamed_table, write_table, write_table_chunks
from leptotwin.errors import LeptotwinError


def test_refusal_under_make_says_how_to_pass_force(tmp_path, monkeypatch):
    (tmp_path / "old.csv").write_text("x\n")
    monkeypatch.delenv("MAKELEVEL", raising=False)
    with pytest.raises(LeptotwinError) as plain:
        prepare_out_dir(tmp_path, force=False)
    assert "ARGS=--force" not in str(plain.value) and "--force" in str(plain.value)
    monkeypatch.setenv("MAKELEVEL", "1")
    with pytest.raises(LeptotwinError, match=r"make \.\.\. ARGS=--force"):
        prepare_out_dir(tmp_path, force=False)


# --- CSV tables through pyarrow (issue 14 item 3): the bytes pandas' to_csv writes -----------

_TEXT = ["plain", "a,b", 'say "hi"', "two\nlines", "éα∂ 漢字", " lead", "x'y", None, "tab\tt"]


def _awkward_frame(n: int, *, seed: int) -> pd.DataFrame:
    """Every column kind fits-curves writes, with the values that format differently: signed
    zeros, infinities, NaN, integral floats, both notation changes of repr, random bit patterns
    (subnormals, extremes), text that needs quotes, unicode and missing text."""
    rng = np.random.default_rng(seed)
    special = [
        0.0,
        -0.0,
        np.inf,
        -np.inf,
        np.nan,
        1.0,
        -100.0,
        1e-4,
        9.99e-5,
        1e-5,
        1.5e-7,
        1e15,
        9999999999999998.0,
        1e16,
        1.2345678901234568e17,
        5e-324,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        0.1,
        46.177803951984004,
    ]
    scaled = rng.normal(size=n) * 10.0 ** rng.integers(-30, 30, n)
    scaled[: len(special)] = special
    finite = rng.integers(0, 0x7FEFFFFFFFFFFFFF, n, dtype=np.int64).view(np.float64)
    return pd.DataFrame(
        {
            "x": scaled,
            "bits": np.where(rng.random(n) < 0.5, finite, -finite),
            "fit": rng.normal(50.0, 30.0, n),  # values as fits.csv holds them
            "n": rng.integers(-(10**15), 10**15, n),
            "ok": rng.random(n) < 0.5,
            "label": rng.choice(np.array(_TEXT, dtype=object), n),
            "model": pd.Categorical(rng.choice(["LL.4", "d,1", 'q"', "é"], n)),
        }
    )


def _read_back(path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip", keep_default_na=False, na_values=[""])


def test_csv_tables_are_pandas_bytes_and_read_back_exactly(tmp_path):
    """write_table and write_table_chunks (pyarrow) write what ``to_csv(index=False)`` writes,
    and the file reads back to the same values: every float bit for bit (-0.0 and inf too)."""
    frame = _awkward_frame(5_000, seed=1)
    whole = write_table(tmp_path / "whole.csv", frame)
    assert whole.read_bytes() == frame.to_csv(index=False).encode("utf-8")
    blocks = (frame.iloc[lo : lo + 777] for lo in range(0, len(frame), 777))
    chunked = write_table_chunks(tmp_path / "chunked.csv", blocks)
    assert chunked.read_bytes() == whole.read_bytes()
    back = _read_back(whole)
    assert list(back.columns) == list(frame.columns)
    for name in ("x", "bits", "fit"):
        assert back[name].dtype == np.float64
        got, want = back[name].to_numpy(), frame[name].to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(want))
        assert np.array_equal(
            got[~np.isnan(got)].view(np.int64), want[~np.isnan(want)].view(np.int64)
        )
    assert back["n"].dtype == np.int64 and back["n"].tolist() == frame["n"].tolist()
    assert back["ok"].dtype == np.bool_ and back["ok"].tolist() == frame["ok"].tolist()
    want_text = [None if v is None else v for v in frame["label"]]
    assert [None if isinstance(v, float) else v for v in back["label"]] == want_text
    assert back["model"].tolist() == frame["model"].astype(str).tolist()


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"only": ["", "a", None]}),  # one column: csv quotes a lone empty field
        pd.DataFrame({"a": ["x\ry", "z"], "b": [1.0, 2.0]}),  # "\r": quoting differs by Python
        pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [0.5, -0.0]}),
        pd.DataFrame({"a": [1, "two"], "b": [True, False]}),  # not all text
        pd.DataFrame({"a": pd.to_datetime(["2020-01-01", None]), "b": [1, 2]}),
        pd.DataFrame({1: [1.0], "b": [2.0]}),  # a name that is not text
        pd.DataFrame({"a": np.array([0.1, 1.5], np.float32), "b": [1, 2]}),
        pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=object)}),
    ],
)
def test_other_columns_are_written_by_pandas(tmp_path, frame):
    path = write_table(tmp_path / "t.csv", frame)
    assert path.read_bytes() == frame.to_csv(index=False).encode("utf-8")


def test_a_failed_table_leaves_nothing(tmp_path):
    """Blocks whose columns differ: no file, no temporary file; an earlier file is kept."""
    good = pd.DataFrame({"a": [1.0], "b": ["x"]})
    kept = write_table(tmp_path / "t.csv", good)
    before = kept.read_bytes()
    with pytest.raises(LeptotwinError, match="different columns"):
        write_table_chunks(tmp_path / "t.csv", iter([good, good.rename(columns={"b": "c"})]))
    with pytest.raises(LeptotwinError, match="no table"):
        write_table_chunks(tmp_path / "new.csv", iter([]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    assert kept.read_bytes() == before


def _boundary_frame(n: int, *, seed: int) -> pd.DataFrame:
    """Floats where the formatting's shortcuts decide: both sides of pyarrow's notation bounds
    (1e-6, 1e10) and repr's (1e-4, 1e16), runs of one value (fits.csv's ``rss``; 0.0 next to
    -0.0, NaN runs), a column of integral floats (most fields need ``.0``), a column of mostly
    exponents (most need a padded exponent)."""
    rng = np.random.default_rng(seed)
    bounds = np.array([1e-6, 1e10, 1e-4, 1e16, 1e-5, 1e9, 1e15, 1.0, 0.0])
    near = np.concatenate([bounds, np.nextafter(bounds, 0), np.nextafter(bounds, np.inf)])
    near = np.concatenate([near, -near])
    x = rng.choice(near, n) * rng.choice([1.0, 1.5, 2.5, 9.75], n)
    runs = np.repeat(rng.normal(50, 30, n // 7 + 1), 7)[:n]
    runs[7:14], runs[14:21], runs[21:28] = 0.0, -0.0, np.nan
    return pd.DataFrame(
        {
            "near": x,
            "runs": runs,
            "whole": rng.integers(-(10**6), 10**6, n).astype(np.float64),
            "tiny": rng.normal(size=n) * 10.0 ** rng.integers(-300, -7, n),
            "label": np.repeat([f"c{k}" for k in range(n // 7 + 1)], 7)[:n].astype(object),
        }
    )


@pytest.mark.parametrize("arrow_bounds", [True, False])
def test_float_shortcuts_give_pandas_bytes(tmp_path, monkeypatch, arrow_bounds):
    """Runs formatted once, pyarrow's notation taken from the magnitude (or, where this pyarrow
    might differ, looked for in the text), few or many fields relaid by repr: all give the bytes
    of ``to_csv``."""
    from leptotwin import _fileio

    assert _fileio._arrow_exponent_bounds(pa, pc)  # the pyarrow pinned in pyproject.toml
    if not arrow_bounds:
        monkeypatch.setattr(_fileio, "_arrow_exponent_bounds", lambda _pa, _pc: False)
    frame = _boundary_frame(3_000, seed=3)
    path = write_table(tmp_path / "t.csv", frame)
    assert path.read_bytes() == frame.to_csv(index=False).encode("utf-8")
    for column in ("near", "runs", "whole", "tiny"):
        values = frame[column].to_numpy()
        text = _fileio._float_text(values, pa, pc).to_pylist()
        assert text == ["" if v != v else repr(v) for v in values.tolist()], column


def test_slices_formatted_in_threads_are_written_in_order(tmp_path, monkeypatch):
    """Blocks cut into many slices, formatted in worker threads while later blocks are taken:
    the file is the slices in order, the bytes of one ``to_csv``."""
    from leptotwin import _fileio

    monkeypatch.setattr(_fileio, "_CSV_ROWS", 97)
    frame = _awkward_frame(4_000, seed=4)
    cuts = [0, 1, 500, 501, 2_000, 4_000]
    blocks = (frame.iloc[lo:hi] for lo, hi in itertools.pairwise(cuts))
    path = write_table_chunks(tmp_path / "t.csv", blocks)
    assert path.read_bytes() == frame.to_csv(index=False).encode("utf-8")


def test_a_block_source_failing_midway_leaves_nothing(tmp_path, monkeypatch):
    """The block source raises while slices are still being formatted: the error comes
    through, and neither the table nor its temporary file is left."""
    from leptotwin import _fileio

    monkeypatch.setattr(_fileio, "_CSV_ROWS", 50)
    frame = _awkward_frame(1_000, seed=5)

    def blocks():
        yield frame.iloc[:600]
        yield frame.iloc[600:900]
        raise RuntimeError("fit stopped")

    with pytest.raises(RuntimeError, match="fit stopped"):
        write_table_chunks(tmp_path / "t.csv", blocks())
    assert list(tmp_path.iterdir()) == []


def test_a_streamed_table_is_the_whole_table_bytes(tmp_path):
    """Blocks handed to streamed_table's writer thread (each transformed there) give the bytes
    of the transformed whole table, written once the block ends."""
    frame = _awkward_frame(3_000, seed=7)
    seen = []

    def negate(block):
        seen.append(len(block))
        return block.assign(x=-block["x"])

    with streamed_table(tmp_path / "t.csv", negate) as feed:
        for lo in range(0, len(frame), 1_000):
            feed.put(frame.iloc[lo : lo + 1_000])
        with pytest.raises(RuntimeError, match="still being written"):
            feed.written()  # not before the block has ended
    assert seen == [1_000, 1_000, 1_000]
    assert feed.written() == tmp_path / "t.csv"
    want = frame.assign(x=-frame["x"]).to_csv(index=False).encode("utf-8")
    assert (tmp_path / "t.csv").read_bytes() == want


def test_a_streamed_table_whose_block_fails_leaves_nothing(tmp_path):
    frame = _awkward_frame(500, seed=8)
    with (
        pytest.raises(ValueError, match="scoring failed"),
        streamed_table(tmp_path / "t.csv") as feed,
    ):
        feed.put(frame)
        raise ValueError("scoring failed")
    assert list(tmp_path.iterdir()) == []


def test_a_streamed_table_reports_its_writer_error(tmp_path):
    """A writer that failed (here: blocks with other columns) stops the caller at its next put,
    or at the end."""
    frame = _awkward_frame(200, seed=9)
    with pytest.raises(LeptotwinError, match="different columns"):
        with streamed_table(tmp_path / "t.csv") as feed:
            feed.put(frame)
            feed.put(frame.rename(columns={"x": "y"}))
            feed.writer.exception()  # wait for the writer to fail
            feed.put(frame)
    assert list(tmp_path.iterdir()) == []


def test_adjacent_categorical_columns_are_joined_once_per_combination(tmp_path, monkeypatch):
    """Runs of categorical columns whose value combinations are few are formatted once per
    combination (_CategoryRun); with missing values, quoted text and a run broken where the
    combinations become many (a per-row category), the bytes are pandas'."""
    from leptotwin import _fileio

    calls = []
    real = _fileio._CategoryRun.text
    monkeypatch.setattr(_fileio._CategoryRun, "text", lambda self, pc: (
        calls.append(len(self.members)), real(self, pc))[1])  # fmt: skip
    rng = np.random.default_rng(11)
    n = 4_000
    block = rng.integers(0, 50, n)
    frame = pd.DataFrame(
        {
            "block": pd.Categorical([f"b{k}" for k in block]),
            "drug": pd.Categorical(np.where(block % 3 == 0, "A, first", 'B "x"')),
            "unit": pd.Categorical(np.where(rng.random(n) < 0.1, None, "uM")),
            "row": pd.Categorical([f"r{k}" for k in range(n)]),  # every row its own: a new run
            "method": pd.Categorical(rng.choice(["ZIP", "Bliss"], n)),
            "score": rng.normal(0.0, 5.0, n),
            "lower": pd.Categorical([None] * n, categories=[]),
            "upper": pd.Categorical([None] * n, categories=[]),
        }
    )
    path = write_table(tmp_path / "t.csv", frame)
    assert path.read_bytes() == frame.to_csv(index=False).encode("utf-8")
    assert calls == [3, 1, 1, 2]  # block+drug+unit, row, method (with row: per row), the NaNs
