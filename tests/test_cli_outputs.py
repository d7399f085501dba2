"""What a failed, interrupted or unwritable command leaves on disk: nothing, one line, a status.

Issue 12: Ctrl-C used to exit with status 0, print nothing and leave an empty output folder
(Typer returns Exit(130) instead of raising it); an unwritable --out raised PermissionError.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from leptotwin import _fileio
from leptotwin.study import pk as pk_job

PK_ARGS = ["pk", "--drug", "erlotinib", "--species", "mouse", "--regimen", "50 mg/kg QD"]
PK_ARGS += ["--days", "1", "--subjects", "2"]


def _interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_interrupt_after_first_file_exits_130_and_removes_everything(
    run_cli, tmp_path, monkeypatch
):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pk_job, "write_figure", _interrupt)  # pk.csv is already written then
    out = tmp_path / "a" / "b" / "pk"
    code, stdout, err = run_cli(*PK_ARGS, "--out", str(out))
    assert code == 130
    assert _one_error_line(err) == "leptotwin: interrupted; no partial results were kept"
    assert stdout == ""
    assert not (tmp_path / "a").exists()  # the folders it created are gone too


def test_interrupt_keeps_a_folder_that_was_there_and_its_old_files(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(
        pk_job, "write_figure", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    out = tmp_path / "pk"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code, _, _ = run_cli(*PK_ARGS, "--out", str(out), "--force")
    assert code == 130
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "precious"


def test_typer_exit_130_is_not_status_0(run_cli, tmp_path, monkeypatch):
    """The path Typer takes for Ctrl-C: Exit(130) returned from the app, not raised."""
    import typer

    def exit_130(*_a, **_k):
        raise typer.Exit(130)

    monkeypatch.setattr(pk_job, "write_figure", exit_130)
    out = tmp_path / "pk"
    code, _, err = run_cli(*PK_ARGS, "--out", str(out))
    assert code == 130
    assert "interrupted" in _one_error_line(err)
    assert not out.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="SIGINT to a child process, POSIX")
@pytest.mark.parametrize(
    ("sig", "status", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["sigint", "sigterm"],
)
def test_ctrl_c_on_a_real_process(tmp_path, sig, status, word):
    """Ctrl-C, and a SIGTERM (a scheduler's or CI's stop; Python's default would end the
    process at once and leave half-written temporary files), undo the outputs: one line,
    status 130 / 143, nothing left."""
    out = tmp_path / "sim"
    cmd = [sys.executable, "-m", "leptotwin.cli", "reproduce", "--quick", "--out", str(out)]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.exists(), "reproduce did not start"
    time.sleep(1.0)  # inside a section (the first imports libsbml, whose import once ate Ctrl-C)
    assert proc.poll() is None, "reproduce --quick ended before the interrupt"
    proc.send_signal(sig)  # once: a second one would hide an interrupt that was lost
    sent = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, (
        f"exit {proc.returncode} {time.monotonic() - sent:.0f} s after {sig!r}; stderr: {err!r}"
    )
    assert err.decode().strip().splitlines()[-1] == (
        f"leptotwin: {word}; no partial results were kept"
    )
    assert "Traceback" not in err.decode()
    assert not out.exists()
    assert not list(tmp_path.iterdir())  # no staging folder either


def test_output_under_a_file_is_one_line(run_cli, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, _, err = run_cli(*PK_ARGS, "--out", str(blocker / "out"))
    assert code == 2
    line = _one_error_line(err)
    assert line.startswith("leptotwin: error: --out: cannot write the output folder")
    assert "Not a directory" in line and str(blocker / "out") in line


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a read-only /sys (Linux)")
def test_unwritable_output_is_one_line(run_cli):
    code, _, err = run_cli(*PK_ARGS, "--out", "/sys/leptotwin-test-output")
    assert code == 2
    line = _one_error_line(err)
    assert "--out" in line and "/sys/leptotwin-test-output" in line
    assert "not permitted" in line or "denied" in line or "Read-only" in line


def test_transaction_keeps_results_of_a_deliberate_exit(tmp_path):
    """`reproduce --strict` exits 1 when a claim FAILs: its report must stay."""
    with pytest.raises(SystemExit), _fileio.output_transaction():
        out = _fileio.prepare_out_dir(tmp_path / "r", force=False)
        _fileio.write_text(out / "report.html", "x")
        sys.exit(1)
    assert (tmp_path / "r" / "report.html").read_text() == "x"


def test_transaction_undoes_new_files_and_folders_only(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("old")
    with pytest.raises(RuntimeError), _fileio.output_transaction():
        _fileio.write_text(old, "new")  # replaced (force): cannot be restored, stays
        _fileio.write_text(tmp_path / "new" / "deep" / "x.csv", "x")
        _fileio.write_text(tmp_path / "y.csv", "y")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"]
    assert old.read_text() == "new"


def test_atomic_write_refuses_a_folder_in_the_way(tmp_path):
    (tmp_path / "x.csv").mkdir()
    with pytest.raises(_fileio.LeptotwinError, match="folder is in the way"):
        _fileio.write_text(tmp_path / "x.csv", "x")


def test_process_entry_ignores_sigint_once_it_ends_on_an_interrupt(monkeypatch):
    """`run` (the command's entry point) leaves SIGINT ignored after an interrupt exit, so a
    second Ctrl-C during interpreter shutdown cannot turn status 130 into death by signal; any
    other exit leaves the handler alone."""
    from leptotwin import cli

    before = signal.getsignal(signal.SIGINT)
    try:
        for code, ignored in ((0, False), (2, False), (130, True)):
            signal.signal(signal.SIGINT, signal.default_int_handler)
            monkeypatch.setattr(cli, "main", lambda code=code: sys.exit(code))
            with pytest.raises(SystemExit) as exc:
                cli.run()
            assert exc.value.code == code
            assert (signal.getsignal(signal.SIGINT) == signal.SIG_IGN) is ignored
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_ctrl_c_that_a_library_swallowed_is_still_honoured(run_cli, tmp_path, monkeypatch):
    """Python prints and drops an exception raised in a weakref callback or __del__ (a Ctrl-C
    landing while matplotlib's transforms were collected let a run finish with status 0). The
    command remembers the SIGINT and, before keeping its outputs, exits 130 and removes them."""
    real = pk_job.write_figure

    def swallowing(*args, **kwargs):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:  # what a bare except, a weakref callback or __del__ does
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(pk_job, "write_figure", swallowing)
    out = tmp_path / "pk"
    code, _, err = run_cli(*PK_ARGS, "--out", str(out))
    assert code == 130
    assert _one_error_line(err) == "leptotwin: interrupted; no partial results were kept"
    assert not out.exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_nested_transaction_that_ends_well_is_undone_by_the_outer_failure(tmp_path):
    """A job that keeps its own transaction (synergy's table writer) hands what it wrote to the
    command's: a failure after it (e.g. while figures are drawn) still removes everything."""
    with pytest.raises(RuntimeError), _fileio.output_transaction():
        with _fileio.output_transaction():
            out = _fileio.prepare_out_dir(tmp_path / "out", force=False)
            _fileio.write_text(out / "table.csv", "x")
        with _fileio.output_transaction():  # an empty one between (equal logs: by identity)
            pass
        _fileio.write_text(out / "figure.svg", "y")
        raise RuntimeError("boom")
    assert not (tmp_path / "out").exists()
    assert _fileio._LOGS == []


def test_synergy_interrupted_while_drawing_figures_leaves_no_folder(run_cli, tmp_path, monkeypatch):
    """A Ctrl-C while the summary figures are written (after the tables) removes the tables
    and the folder too (5106d16 had left them: its own transaction had forgotten them)."""
    from leptotwin.study import _figure_out

    conc = (0.0, 1.0, 3.0, 10.0, 30.0)
    rows = [
        {
            "block_id": "combo 1",
            "drug_row": "A",
            "drug_col": "B",
            "conc_r": r,
            "conc_c": c,
            "conc_r_unit": "nM",
            "conc_c_unit": "nM",
            "response": 100 * (r / (r + 5) + c / (c + 8) - r * c / ((r + 5) * (c + 8))),
        }
        for r in conc
        for c in conc
    ]
    data = tmp_path / "blocks.csv"
    pd.DataFrame(rows).to_csv(data, index=False)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_figure_out.FigureWriter, "write", interrupted)
    out = tmp_path / "syn"
    code, _, err = run_cli("synergy", str(data), "--method", "Bliss", "--out", str(out))
    assert code == 130, err
    assert not out.exists()
