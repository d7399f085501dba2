"""``leptotwin simulate`` on Dask: bit-identical to one process, survives a lost worker, and
leaves no partial result on Ctrl-C; ``leptotwin export-sbml`` (issue: Step 7)."""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study import simulate_job as sj
from leptotwin.study.sbml_job import run_export_sbml
from leptotwin.study.simulate_job import load_experiment, run_simulate_job, simulate_chunks

distributed = pytest.importorskip("distributed")

# a small C7: six arms, four A925L/AR mice each, 5 weeks
EXP = load_experiment("lmc_mouse", "combination")
KW = dict(n_per_arm=4, days=35.0, observe_days=EXP.observe_days, seed=2020, dt_h=1.0)
OPTS = dict(inoculum=EXP.inoculum)


def _same(a, b):
    pd.testing.assert_frame_equal(a.observations, b.observations, check_exact=True)
    pd.testing.assert_frame_equal(a.survival, b.survival, check_exact=True)
    pd.testing.assert_frame_equal(a.subjects, b.subjects, check_exact=True)


@pytest.fixture(scope="module")
def single():
    return simulate_chunks(EXP.arms, chunk_size=10_000, **KW, **OPTS)


def test_load_experiment():
    assert [a.name for a in EXP.arms][-1] == "alectinib + osimertinib"
    assert EXP.n_per_arm == 10 and EXP.days == 120 and EXP.observe_days == (7, 14, 21, 28, 35)
    with pytest.raises(LeptotwinError, match="say which experiment"):
        load_experiment("lmc_mouse")
    with pytest.raises(LeptotwinError, match="no such arm"):
        EXP.arm("placebo")
    with pytest.raises(LeptotwinError, match="protocol file not found"):
        load_experiment("no/such/protocol.yaml")


@pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed")
def test_local_cluster_is_bit_identical_to_one_process(single):
    """Two in-process workers, chunks of 5 subjects, results as chunks arrive in any order."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        seen = []
        dist = simulate_chunks(
            EXP.arms,
            chunk_size=5,
            scheduler=client,
            progress=lambda d, t: seen.append(d),
            **KW,
            **OPTS,
        )
    _same(single, dist)
    assert seen == list(range(1, 6))


@pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed")
@pytest.mark.filterwarnings("ignore::UserWarning:distributed")
def test_a_worker_lost_mid_run_loses_and_duplicates_nothing(single):
    """Two worker processes; when the first chunk is back, the worker busiest with the others is
    killed (SIGKILL). The scheduler re-runs its chunks elsewhere; every subject comes back
    exactly once and the cohort equals the single-process run."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        pids = client.run(os.getpid)
        killed = []

        def kill_one(done, total):
            if killed:
                return
            busy = {w: ks for w, ks in client.processing().items() if ks}
            victim = max(busy, key=lambda w: len(busy[w])) if busy else next(iter(pids))
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

        dist = simulate_chunks(
            EXP.arms, chunk_size=2, scheduler=client, progress=kill_one, **KW, **OPTS
        )
    assert killed
    _same(single, dist)
    assert dist.subjects["subject"].is_unique and len(dist.subjects) == 24


def test_job_writes_tables_and_refuses_to_overwrite(tmp_path, single):
    out = tmp_path / "run"
    paths = run_simulate_job(
        "lmc_mouse",
        out,
        experiment="combination",
        n_per_arm=4,
        days=35,
        seed=2020,
        chunk_size=7,
        dt_h=1.0,
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "observations.csv",
        "run.json",
        "subjects.csv",
        "survival.csv",
    ]
    back = pd.read_csv(paths["survival"])
    pd.testing.assert_series_equal(back["time_days"], single.survival["time_days"])
    with pytest.raises(LeptotwinError, match="already holds results"):
        run_simulate_job("lmc_mouse", out, experiment="combination", n_per_arm=1, days=8)


def test_ctrl_c_leaves_no_result_file(tmp_path, monkeypatch):
    out = tmp_path / "interrupted"

    def interrupt(msg):
        if msg.startswith("chunks 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulate_job(
            "lmc_mouse",
            out,
            experiment="combination",
            n_per_arm=2,
            days=10,
            chunk_size=3,
            progress=interrupt,
        )
    assert list(out.iterdir()) == []

    # interrupted while the tables are being written: still nothing
    calls = []

    def write_then_interrupt(path, frame):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        frame.to_csv(path, index=False)

    monkeypatch.setattr(sj, "write_csv", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_simulate_job("lmc_mouse", out, experiment="combination", n_per_arm=1, days=8)
    assert list(out.iterdir()) == []


def test_bad_scheduler_address(tmp_path, monkeypatch):
    import leptotwin.study.distributed as dist

    monkeypatch.setattr(dist, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(LeptotwinError, match="cannot reach the Dask scheduler"):
        run_simulate_job(
            "lmc_mouse",
            tmp_path / "x",
            experiment="combination",
            n_per_arm=1,
            days=8,
            scheduler="tcp://127.0.0.1:1",
        )


def test_export_sbml_job(tmp_path):
    path = run_export_sbml(
        "lmc_mouse", arm="alectinib + erlotinib", subject=0, out=tmp_path / "m.xml", days=20
    )
    assert "<sbml" in path.read_text(encoding="utf-8")
    with pytest.raises(LeptotwinError, match="refusing to overwrite"):
        run_export_sbml("lmc_mouse", arm="alectinib + erlotinib", out=path)
    with pytest.raises(LeptotwinError, match="no such arm"):
        run_export_sbml("lmc_mouse", arm="placebo", experiment="combination", out=tmp_path / "p")
    with pytest.raises(LeptotwinError, match="subject"):
        run_export_sbml("lmc_mouse", arm="vehicle", subject=-1, out=tmp_path / "q.xml")
