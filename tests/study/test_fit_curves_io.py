"""``fit-curves`` reading and writing at scale (issue 14 item 3): CSV through pyarrow with every
check kept, Parquet in and out by extension, fits written chunk by chunk.

Before: the CSV was decoded whole, copied into a StringIO (4 bytes a character) and parsed by
pandas' default float parser, which reads about a fifth of 17-digit numbers (as ``to_csv``
writes them) one or more units in the last place off; the long table was built whole and written
at the end; Parquet was refused as "binary file".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leptotwin.analysis import _drinput
from leptotwin.analysis.doseresponse import DoseResponseFitter, read_dose_response
from leptotwin.errors import LeptotwinError
from leptotwin.study.fit_curves import run_fit_curves


def _frame(n_curves: int, *, seed: int) -> pd.DataFrame:
    """``n_curves`` noisy LL.4 curves (8 doses x 2), text labels, the first one flat; responses
    at full precision (17 significant digits in a CSV)."""
    rng = np.random.default_rng(seed)
    doses = np.repeat([0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], 2)
    e = np.exp(rng.uniform(-4, 2, n_curves))
    mean = 5 + 95 / (1 + (doses[None, :] / e[:, None]) ** 1.5)
    mean[0] = 50.0
    return pd.DataFrame(
        {
            "curve": np.repeat([f"line {k:03d} | drug α" for k in range(n_curves)], doses.size),
            "dose": np.tile(doses, n_curves),
            "response": (mean + rng.normal(0, 3, mean.shape)).ravel(),
        }
    )


def _one_batch_tables(frame: pd.DataFrame) -> tuple[str, str]:
    """fits.csv and qc.csv as the former code wrote them: one fit of every curve, then
    ``to_csv`` of the whole tables."""
    fitter = DoseResponseFitter("LL.4").fit(frame)
    return fitter.results_.to_csv(index=False), fitter.qc_.reset_index().to_csv(index=False)


def test_numbers_are_read_exactly(tmp_path: Path) -> None:
    """pandas' default parser read 46.177803951984004 as 46.177803951984 (one unit in the last
    place); both reading paths now give the double nearest the text, as ``float`` does."""
    cells = ["46.177803951984004", "99.83039090622103", "1.4472255933591383", "0.1"]
    text = "curve,dose,response\n" + "".join(f"A,{k},{c}\n" for k, c in enumerate(cells))
    for name, content in (("plain.csv", text), ("cp1252 é.csv", text.replace("A,", "é,"))):
        path = tmp_path / name
        path.write_bytes(content.encode("utf-8" if name == "plain.csv" else "cp1252"))
        got = read_dose_response(path)["response"].to_numpy()
        assert got.tolist() == [float(c) for c in cells]


@pytest.mark.parametrize(
    "text",
    [
        "curve,dose,response\nA,0,100\nA,1,80.5\nB,-0,3\nB,2,1\n",  # "-0" in an integer column
        "curve,dose,response\n A,0,100\n A,1,80\n",  # pandas strips the leading blank
        "curve;dose;response\nA;0;100\nA;1;80,5\n",  # decimal commas
        "curve\tdose\tresponse\nA\t0\t100\nA\t1\t80.5\n",
        "\n\ncurve,dose,response\nA,0,100\n",  # blank lines before the header
        'curve,dose,response,unit\nA,0,100,nM\nA,1,80,"x,y"\n',  # another column
        '"dataset","curve","dose","response"\n"S","G",0,4.7\n"S","G",1e-3,3\n',
        'curve,dose,response\n"two\nlines",1,2\nB,1,3\n',
    ],
)
def test_fast_and_pandas_paths_read_the_same_table(tmp_path: Path, text: str) -> None:
    """Whatever the pyarrow path takes, it reads as the pandas path does; what it cannot vouch
    for, it leaves to the pandas path."""
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    fast = read_dose_response(path)
    slow = _drinput._read_arrow
    try:
        _drinput._read_arrow = lambda _path, **_: None  # type: ignore[assignment]
        pandas_only = read_dose_response(path)
    finally:
        _drinput._read_arrow = slow
    pd.testing.assert_frame_equal(fast, pandas_only, check_exact=True)
    assert not np.signbit(fast["dose"].to_numpy()).any()


def test_a_plain_file_takes_the_pyarrow_path(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    _frame(5, seed=1).to_csv(path, index=False)
    fast = _drinput._read_arrow(path)
    assert fast is not None and fast["curve"].dtype == object
    pd.testing.assert_frame_equal(fast, read_dose_response(path), check_exact=True)
    labels = fast["curve"].to_numpy()
    assert labels[0] is labels[1]  # one string object per distinct label, not one per row
    codes = _drinput.read_tidy(path, categorical=True)["curve"]
    assert codes.cat.categories.tolist() == list(pd.unique(labels))  # order of first appearance
    assert codes.astype(object).tolist() == labels.tolist()


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"curve,dose,response\nA\x00,1,2\n", r"in\.csv: binary file, not CSV text"),
        (b"curve,dose,response\nA,1,2\nB,1,nan\n", r"response: not a number at line 3"),
        (b"curve,dose,response\nA,1,2\nB,-1,2\n", r"dose: negative dose at line 3"),
        (b"curve,dose,response\nA,1,2\n,1,2\n", r"curve: missing curve label at line 3"),
        (b"curve,dose,response\nA,1,2\nB,1,1e16\n", r"response: not a finite number .*line 3"),
    ],
)
def test_what_pyarrow_would_take_is_still_refused(
    tmp_path: Path, content: bytes, pattern: str
) -> None:
    """pyarrow reads NUL bytes, ``nan``, negative and absurd numbers and empty labels without a
    word; each is still the one-line error of the pandas path, naming the file and the line."""
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(LeptotwinError, match=pattern) as info:
        read_dose_response(path)
    assert str(path) in str(info.value)


def test_tables_written_in_chunks_are_those_of_one_batch(tmp_path: Path) -> None:
    """Chunks of 7 curves fitted and appended one after another: the same bytes as one fit of
    every curve written whole; rows in any order, curves in order of first appearance, labels
    with commas and quotes."""
    frame = _frame(30, seed=2)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    quoted = frame.assign(curve=frame["curve"].str.replace(" | ", ', "x" '))  # quoted fields
    for k, table in enumerate((frame, shuffled, quoted)):
        path = tmp_path / f"in{k}.csv"
        table.to_csv(path, index=False)
        out = tmp_path / f"o{k}"
        paths = run_fit_curves(data=path, out_dir=out, figures="none", chunk_curves=7)
        fits, qc = _one_batch_tables(read_dose_response(path))
        assert paths["fits"].read_text(encoding="utf-8") == fits
        assert paths["qc"].read_text(encoding="utf-8") == qc


def test_summary_figures_do_not_change_the_tables(tmp_path: Path) -> None:
    frame = _frame(30, seed=4)
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    chunked = run_fit_curves(data=path, out_dir=tmp_path / "a", chunk_curves=4)
    whole = run_fit_curves(data=path, out_dir=tmp_path / "b", figures="all")
    for name in ("fits", "qc"):
        assert chunked[name].read_bytes() == whole[name].read_bytes()
    assert {"summary_curves", "summary_qc", "summary_ic50"} <= set(chunked)


def test_parquet_in_gives_the_csv_tables_and_parquet_out(tmp_path: Path) -> None:
    """The same curves as CSV and as Parquet: byte-identical fits.csv and qc.csv; a Parquet input
    writes fits.parquet and qc.parquet by default, holding the same tables."""
    frame = _frame(12, seed=5).assign(dataset=lambda f: np.where(f.index < 96, "d1", "d2"))
    csv_path, pq_path = tmp_path / "in.csv", tmp_path / "in.parquet"
    frame.to_csv(csv_path, index=False)
    frame.to_parquet(pq_path, index=False)
    from_csv = run_fit_curves(data=csv_path, out_dir=tmp_path / "c", figures="none")
    as_csv = run_fit_curves(data=pq_path, out_dir=tmp_path / "p", figures="none", tables="csv")
    for name in ("fits", "qc"):
        assert as_csv[name].read_bytes() == from_csv[name].read_bytes()
    as_pq = run_fit_curves(data=pq_path, out_dir=tmp_path / "q", figures="none", chunk_curves=5)
    assert {p.name for p in as_pq.values()} == {"fits.parquet", "qc.parquet"}
    for name in ("fits", "qc"):
        back = pd.read_parquet(as_pq[name]).to_csv(index=False)
        assert back == from_csv[name].read_text(encoding="utf-8")
    assert pq.ParquetFile(as_pq["fits"]).num_row_groups == 3  # 12 curves, 5 at a time


@pytest.mark.parametrize(
    ("table", "pattern"),
    [
        (pa.table({"curve": ["A"], "dose": [1.0]}), r"response: missing column"),
        (pa.table({"curve": ["A"], "dose": ["1"], "response": [2.0]}), r"dose: not a numeric"),
        (pa.table({"curve": ["A", "A"], "dose": [1, 2], "response": [2.0, np.nan]}),
         r"response: not a finite number .* at row 2"),
        (pa.table({"curve": ["A", None], "dose": [1, 2], "response": [2.0, 3.0]}),
         r"curve: missing curve label at row 2"),
        (pa.table({"curve": ["A", " "], "dose": [1, 2], "response": [2.0, 3.0]}),
         r"curve: missing curve label at row 2"),
        (pa.table({"curve": ["A", "B"], "dose": [1.0, None], "response": [2.0, 3.0]}),
         r"dose: empty dose cell at row 2"),
        (pa.table({"curve": ["A", "B"], "dose": [1.0, -2.0], "response": [2.0, 3.0]}),
         r"dose: negative dose at row 2 \(got -2\.0\)"),
        (pa.table({"curve": pa.array([], pa.string()), "dose": pa.array([], pa.float64()),
                   "response": pa.array([], pa.float64())}), r"no data rows"),
    ],
)  # fmt: skip
def test_bad_parquet_is_one_line_naming_file_and_field(
    tmp_path: Path, table: pa.Table, pattern: str
) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    with pytest.raises(LeptotwinError, match=pattern) as info:
        _drinput.read_tidy(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_file_that_is_not_parquet_is_refused_by_the_command(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    path.write_text("curve,dose,response\nA,1,2\n", encoding="utf-8")
    code, _, err = run_cli("fit-curves", str(path), "--out", str(tmp_path / "o"))
    assert code == 2 and "in.parquet: cannot read the Parquet file" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_unknown_table_format(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    _frame(2, seed=6).to_csv(path, index=False)
    with pytest.raises(LeptotwinError, match=r"tables: unknown table format \(got 'xlsx'\)"):
        run_fit_curves(data=path, out_dir=tmp_path / "o", tables="xlsx")
    assert not (tmp_path / "o").exists()


def test_chunks_fitted_ahead_come_in_order_and_errors_at_their_place() -> None:
    """The next chunk is fitted in a thread while one is written: the chunks still come in
    order, and an error of the fit is raised in the caller after the chunks before it."""
    from leptotwin.study.fit_curves import _ahead

    assert list(_ahead(iter(range(5)))) == [0, 1, 2, 3, 4]
    assert list(_ahead(iter([]))) == []

    def failing():
        yield "a"
        yield "b"
        raise LeptotwinError("bad chunk", source="test")

    got = []
    with pytest.raises(LeptotwinError, match="bad chunk"):
        for item in _ahead(failing()):
            got.append(item)
    assert got == ["a", "b"]


def test_local_chunks_written_while_the_next_is_fitted(tmp_path: Path, monkeypatch) -> None:
    """In-process chunks of LOCAL_CHUNK_CURVES curves (here lowered to 8: 4 chunks), each fitted
    while the one before is written: the tables are the bytes of one fit."""
    from leptotwin.study import fit_curves as fc

    assert fc.LOCAL_CHUNK_CURVES == 12_500
    frame = _frame(30, seed=8)
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    one = run_fit_curves(data=path, out_dir=tmp_path / "one", figures="none")
    sizes: list[int] = []
    chunks = fc._chunks

    def recorded(*args):
        for piece in chunks(*args):
            sizes.append(piece["curve"].nunique())
            yield piece

    monkeypatch.setattr(fc, "_chunks", recorded)
    monkeypatch.setattr(fc, "LOCAL_CHUNK_CURVES", 8)
    four = run_fit_curves(data=path, out_dir=tmp_path / "four")
    assert sizes == [8, 8, 8, 6]
    for name in ("fits", "qc"):
        assert four[name].read_bytes() == one[name].read_bytes()


def test_the_garbage_collector_is_unfrozen_after_a_run(tmp_path: Path) -> None:
    """A run leaves the objects that existed before it out of the collector's full passes, and
    gives them back afterwards, also when it fails."""
    import gc

    frame = _frame(3, seed=9)
    frame.to_csv(tmp_path / "in.csv", index=False)
    before = gc.get_freeze_count()
    run_fit_curves(data=tmp_path / "in.csv", out_dir=tmp_path / "o", figures="none")
    assert gc.get_freeze_count() == before == 0
    with pytest.raises(LeptotwinError, match="unknown model"):
        run_fit_curves(data=tmp_path / "in.csv", out_dir=tmp_path / "p", model="LL.9")
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("layout", ["runs", "interleaved", "datasets"])
def test_summary_sets_are_the_first_sets_of_curve_sets(tmp_path: Path, layout: str) -> None:
    """The summary grid's sets, found without making every label text, are the first 12 of
    curve_sets (same names, labels and order), with the number of sets in all and exactly the
    rows of their curves."""
    from leptotwin.study import fit_curves as fc

    frame = _frame(150, seed=10)
    if layout == "interleaved":  # rows of different curves mixed: not in runs
        frame = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    if layout == "datasets":  # 15 data sets of 10 curves, the first set's rows last
        frame["dataset"] = [f"set {k // 160:02d}" for k in range(len(frame))]
        frame = pd.concat([frame.iloc[160:], frame.iloc[:160]], ignore_index=True)
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    loaded = fc._load(path, None, None)  # as the command reads it (categorical labels)
    codes, n_curves = fc._curve_codes(loaded)
    shown, n_sets, rows = fc._summary_sets(loaded, codes, n_curves)
    every = fc.curve_sets(loaded)
    assert shown == dict(list(every.items())[:12]) and n_sets == len(every)
    drawn = {c for labels in shown.values() for c in labels}
    expected = loaded[loaded["curve"].astype(str).isin(drawn)]
    pd.testing.assert_frame_equal(rows, expected)


def test_a_fit_failing_midway_leaves_neither_table(tmp_path: Path, monkeypatch) -> None:
    """qc.csv is written in a thread as the chunks come: when a later chunk fails, neither the
    QC table nor the long table is left behind (nor their temporary files), and the error is
    the fit's."""
    from leptotwin.study import fit_curves as fc

    frame = _frame(30, seed=11)
    frame.to_csv(tmp_path / "in.csv", index=False)
    monkeypatch.setattr(fc, "LOCAL_CHUNK_CURVES", 8)  # 4 chunks
    real = fc._fit_chunk
    calls = []

    def third_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise LeptotwinError("chunk 3 failed", source="test")
        return real(*args, **kwargs)

    monkeypatch.setattr(fc, "_fit_chunk", third_fails)
    out = tmp_path / "o"
    with pytest.raises(LeptotwinError, match="chunk 3 failed"):
        run_fit_curves(data=tmp_path / "in.csv", out_dir=out)
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not [n for n in left if n.startswith(("qc", "fits", ".qc", ".fits"))], left


def test_a_failed_qc_writer_stops_the_fit_at_the_next_part():
    """The QC table is written in a thread while the curves are fitted: once that writer has
    failed (disk full, permissions), the next QC part raises its error at once instead of
    queueing every remaining part until the fit ends."""
    from concurrent.futures import Future

    from leptotwin.study.fit_curves import _FIGURE_QC, _StreamedParts

    part = pd.DataFrame({c: [1.0] for c in _FIGURE_QC})
    parts = _StreamedParts()
    parts.append(part)  # no writer yet
    parts.writer = Future()
    parts.append(part)  # a writer still running
    parts.writer.set_exception(OSError(28, "No space left on device"))
    with pytest.raises(OSError, match="No space left"):
        parts.append(part)
    assert len(parts) == 2
