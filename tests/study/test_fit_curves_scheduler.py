"""fit-curves on a scheduler (issue 14 item 5): the automatic chunk size, ``local`` fitted in
this process, and the same numbers wherever the chunks are fitted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study import distributed
from leptotwin.study import fit_curves as fc
from leptotwin.study.distributed import auto_chunk_size


def _frame(n_curves: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    doses = np.repeat([0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], 2)
    e = np.exp(rng.uniform(-3, 1, n_curves))
    b = rng.uniform(0.7, 2.5, n_curves)
    mean = 5 + 95 / (1 + (np.maximum(doses, 1e-12)[None, :] / e[:, None]) ** b[:, None])
    return pd.DataFrame(
        {
            "curve": np.repeat([f"c{k:03d}" for k in range(n_curves)], doses.size),
            "dose": np.tile(doses, n_curves),
            "response": (mean + rng.normal(0, 4, mean.shape)).ravel(),
        }
    )


@pytest.mark.parametrize(
    ("n_items", "n_workers", "expected"),
    [
        (10**6, 2, 50_000),  # 125,000 for 4 tasks per worker: capped (memory of a task)
        (10**6, 8, 31_250),  # 4 tasks per worker exactly
        (10**5, 2, 12_500),
        (20_000, 2, 5_000),  # 2,500 wanted: raised to the smallest task worth sending
        (10, 64, 5_000),
        (0, 2, 5_000),
    ],
)
def test_auto_chunk_size_bounds_and_tasks_per_worker(n_items, n_workers, expected):
    size = auto_chunk_size(n_items, n_workers, smallest=5_000, largest=50_000)
    assert size == expected
    assert fc.auto_task_curves(n_items, n_workers) == expected
    if 5_000 < size < 50_000:  # neither bound active: about 4 tasks per worker, none short
        assert -(-n_items // size) == 4 * n_workers


def test_auto_chunk_size_refuses_bad_arguments():
    with pytest.raises(LeptotwinError, match="need at least one worker"):
        auto_chunk_size(100, 0, smallest=1, largest=10)
    with pytest.raises(LeptotwinError, match="smallest <= largest"):
        auto_chunk_size(100, 2, smallest=20, largest=10)
    with pytest.raises(LeptotwinError, match="chunk size must be >= 1"):
        fc.fit_tables(_frame(3, 1), chunk_curves=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_automatic_chunks_on_a_cluster_give_the_numbers_of_one_fit_here(monkeypatch):
    """With the chunk size left to fit_tables, 40 curves on 2 worker threads (bounds lowered to
    3..50 curves per task) go out as 8 tasks of 5 whole curves, and the tables equal one fit
    here bit for bit, every curve once, in the input's order."""
    from distributed import Client, LocalCluster

    frame = _frame(40, 3)
    whole, qc_whole = fc.fit_tables(frame)
    monkeypatch.setattr(fc, "MIN_TASK_CURVES", 3)
    monkeypatch.setattr(fc, "CHUNK_CURVES", 50)
    sizes: list[int] = []
    chunks = fc._chunks

    def recorded(*args):
        for piece in chunks(*args):
            sizes.append(piece["curve"].nunique())
            yield piece

    monkeypatch.setattr(fc, "_chunks", recorded)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        on_dask, qc_dask = fc.fit_tables(frame, scheduler=client)
    assert sizes == [5] * 8
    pd.testing.assert_frame_equal(whole, on_dask, check_exact=True)
    pd.testing.assert_frame_equal(qc_whole, qc_dask, check_exact=True)
    assert list(qc_dask["curve"]) == [f"c{k:03d}" for k in range(40)]


def test_local_and_one_task_of_work_are_fitted_here(monkeypatch):
    """``local`` is this machine, whose cores the kernel already uses: no cluster is started;
    an address with work of one task or less (automatic chunks) is not contacted either."""

    def no_cluster(*_args, **_kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(distributed, "dask_client", no_cluster)
    frame = _frame(12, 5)
    here, qc_here = fc.fit_tables(frame)
    for scheduler in ("local", "tcp://127.0.0.1:1"):
        got, qc_got = fc.fit_tables(frame, scheduler=scheduler)
        pd.testing.assert_frame_equal(here, got, check_exact=True)
        pd.testing.assert_frame_equal(qc_here, qc_got, check_exact=True)


def test_local_scheduler_writes_the_default_outputs(tmp_path):
    """``--scheduler local`` gives what a run without it gives: tables and summary figures."""
    data = tmp_path / "in.csv"
    _frame(10, 7).to_csv(data, index=False)
    plain = fc.run_fit_curves(data=data, out_dir=tmp_path / "plain")
    local = fc.run_fit_curves(data=data, out_dir=tmp_path / "local", scheduler="local")
    assert sorted(plain) == sorted(local)
    assert "summary_curves" in local
    for name in ("fits", "qc"):
        assert local[name].read_bytes() == plain[name].read_bytes()


def test_figures_all_on_a_cluster_is_refused_before_reading(tmp_path):
    with pytest.raises(LeptotwinError, match="--figures all draws every curve"):
        fc.run_fit_curves(
            data=tmp_path / "absent.csv",
            out_dir=tmp_path / "out",
            scheduler="tcp://127.0.0.1:1",
            figures="all",
        )
    assert not (tmp_path / "out").exists()
