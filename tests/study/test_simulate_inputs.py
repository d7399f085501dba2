"""``leptotwin simulate`` and ``export-sbml`` on bad input: one line, exit 2, nothing written
(issue 12: tracebacks on binary YAML and ``--days 1e308``, ``--n-per-arm 0`` named
``--subjects``, a wrong arm said "say which experiment", ``--out DIR --force`` raised
IsADirectoryError, and ``simulate`` started stderr with a blank line)."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.model.cohort import Arm, simulate_lmc
from leptotwin.study import _memory

SIM = ["simulate", "lmc_mouse", "--experiment", "combination", "--n-per-arm", "1", "--days", "8"]
SBML = ["export-sbml", "lmc_mouse", "--arm", "alectinib + osimertinib"]
BINARY = bytes(range(256)) * 4


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _protocol(tmp_path, old: str = "", new: str = ""):
    text = (resources.files("leptotwin.study") / "protocols" / "lmc_mouse.yaml").read_text("utf-8")
    assert old in text
    path = tmp_path / "protocol.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["simulate", "export-sbml"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (BINARY, "not a text file: byte 128 is not UTF-8; expected a YAML protocol"),
        (b"", "protocol file is empty; expected regimens and experiment blocks"),
        (b"just words\n", "a protocol is a mapping, not text; expected regimens"),
        (b"- 1\n- 2\n", "a protocol is a mapping, not a list; expected regimens"),
        (
            b"a: [b\n  c: : :\n",
            "line 2, column 4: not valid YAML: expected ',' or ']', but got ':'",
        ),
        (b"[" * 5000, ""),
    ],
)
def test_unreadable_protocol_is_one_line(run_cli, tmp_path, command, content, message):
    """Binary YAML raised UnicodeDecodeError; parser errors spread over five lines."""
    path = tmp_path / "protocol.yaml"
    path.write_bytes(content)
    out = tmp_path / ("x.xml" if command == "export-sbml" else "out")
    args = [command, str(path), "--out", str(out)]
    if command == "export-sbml":
        args += ["--arm", "vehicle"]
    code, stdout, err = run_cli(*args)
    assert code == 2 and stdout == ""
    assert _one_line(err).startswith(f"leptotwin: error: {path}: {message}")
    assert not out.exists()


def test_a_folder_as_protocol(run_cli, tmp_path):
    code, _, err = run_cli("simulate", str(tmp_path), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "protocol: protocol is a folder" in _one_line(err)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--days", "1e308", "--days: follow-up must be a number of days > 0 (got 1e+308); "
         "expected at most 1095 days (3 years: laboratory mice do not live longer)"),
        ("--days", "nan", "--days: follow-up must be a number of days > 0 (got nan)"),
        ("--days", "inf", "--days: follow-up must be a number of days > 0 (got inf)"),
        ("--days", "-1", "--days: follow-up must be a number of days > 0 (got -1.0)"),
        ("--days", "3", "--days: no observation day within the follow-up (got 3.0); expected "
         "at least the protocol's first observation day (7)"),
        ("--n-per-arm", "0", "--n-per-arm: mice per arm must be >= 1 (got 0)"),
        ("--n-per-arm", "-3", "--n-per-arm: mice per arm must be >= 1 (got -3)"),
        ("--seed", "-1", "--seed: seed must be >= 0 (got -1)"),
        ("--seed", str(2**64), f"--seed: seed must be below 2**64 (got {2**64})"),
        ("--chunk-size", "0", "--chunk-size: chunk size must be >= 1 (got 0)"),
        ("--workers", "0", "--workers: number of workers must be >= 1 (got 0)"),
    ],
)  # fmt: skip
def test_every_numeric_option_of_simulate(run_cli, tmp_path, option, value, message):
    """``--days 1e308`` raised OverflowError in cohort.py; ``--n-per-arm 0`` named --subjects;
    ``--workers 0`` was accepted; ``--seed -1`` failed only after the output folder existed."""
    args = list(SIM)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    out = tmp_path / "out"
    code, _, err = run_cli(*args, "--out", str(out))
    assert code == 2
    assert _one_line(err).startswith(f"leptotwin: error: {message}")
    assert not out.exists()


def test_more_local_workers_than_cpus_is_refused(run_cli, tmp_path):
    import os

    many = str((os.cpu_count() or 1) + 1)
    code, _, err = run_cli(*SIM, "--scheduler", "local", "--workers", many, "--out",
                           str(tmp_path / "out"))  # fmt: skip
    assert code == 2
    assert _one_line(err).startswith(
        f"leptotwin: error: --workers: more local workers than this machine has CPUs "
        f"({os.cpu_count()}) (got {many})"
    )


def test_a_cohort_too_large_for_the_memory_is_refused_with_both_numbers(
    run_cli, tmp_path, monkeypatch
):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 2**30)
    args = [*SIM[:5], "100000000", "--days", "35", "--out", str(tmp_path / "out")]
    code, _, err = run_cli(*args)
    assert code == 2
    assert _one_line(err) == (
        "leptotwin: error: --n-per-arm: 600,000,000 mice (6 arms × 100,000,000) × 5 observation "
        "days need about 1.26 TiB of memory; 1 GiB is available; expected fewer mice per arm"
    )


def test_tables_larger_than_the_free_disk_are_refused(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(_memory, "free_disk_bytes", lambda folder: 1000)
    out = tmp_path / "out"
    code, _, err = run_cli(*SIM, "--out", str(out))
    assert code == 2
    assert _one_line(err) == (
        "leptotwin: error: --n-per-arm: the tables of 6 mice (6 arms × 1) × 1 observation days "
        f"would write about 1.31 KiB; 1,000 bytes is free on the disk of {out}; expected fewer "
        "mice per arm, or an --out on a larger disk"
    )
    assert not out.exists()


def test_simulate_writes_nothing_to_stderr(run_cli, tmp_path):
    """The progress bar (rich) ended with a blank line on stderr when stderr was not a
    terminal: a successful run now leaves stderr empty."""
    code, stdout, err = run_cli(*SIM, "--out", str(tmp_path / "out"))
    assert code == 0
    assert err == ""
    assert stdout.startswith("wrote 4 files")


def test_simulate_warns_about_a_dose_far_outside_the_studied_range(run_cli, tmp_path):
    path = _protocol(tmp_path, 'osimertinib: "25 mg/kg QD"', 'osimertinib: "80 mg QD"')
    args = ["simulate", str(path), *SIM[2:], "--out", str(tmp_path / "out")]
    code, _, err = run_cli(*args)
    assert code == 0
    assert _one_line(err).startswith(
        "leptotwin: warning: osimertinib 80 mg per dose is 3,200 mg/kg in a 25 g mouse"
    )


def _experiment_run(out) -> str:
    import json

    return json.loads((out / "run.json").read_text(encoding="utf-8"))["experiment"]


def test_simulate_without_experiment_runs_the_only_one(run_cli, tmp_path):
    """Issue 16: ``simulate my_protocol.yaml`` needed --experiment even with one block."""
    text = (resources.files("leptotwin.study") / "protocols" / "lmc_mouse.yaml").read_text("utf-8")
    path = tmp_path / "one.yaml"
    path.write_text(text[: text.index("relapse:")] + text[text.index("combination:") :], "utf-8")
    out = tmp_path / "out"
    code, stdout, err = run_cli("simulate", str(path), *SIM[4:], "--out", str(out))
    assert code == 0, err
    assert _one_line(err) == (
        "leptotwin: simulating experiment 'combination' (the protocol's only experiment)"
    )
    assert stdout.startswith("wrote 4 files")
    assert _experiment_run(out) == "combination"


def test_simulate_without_experiment_runs_the_first_and_says_so(run_cli, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli("simulate", "lmc_mouse", *SIM[4:], "--out", str(out))
    assert code == 0, err
    assert _one_line(err) == (
        "leptotwin: simulating experiment 'relapse' (the protocol's first of 2: relapse, "
        "combination; choose with --experiment)"
    )
    assert stdout.startswith("wrote 4 files")
    assert _experiment_run(out) == "relapse"


def test_simulate_unknown_experiment_names_the_choices(run_cli, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli("simulate", "lmc_mouse", "--experiment", "combo", "--out",
                                str(out))  # fmt: skip
    assert code == 2 and stdout == ""
    assert _one_line(err) == (
        "leptotwin: error: lmc_mouse.yaml: experiment: no such experiment in the protocol "
        "(got 'combo'); expected one of relapse, combination"
    )
    assert not out.exists()


def test_simulate_lmc_refuses_an_infinite_horizon():
    """The model itself: ``days=1e308`` ended in ``int(inf)`` (OverflowError)."""
    arm = Arm("vehicle", {})
    for days in (1e308, float("nan"), 0.0, -1.0):
        with pytest.raises(LeptotwinError, match=r"days: days must be a finite number > 0"):
            simulate_lmc(
                [arm], n_per_arm=1, days=days, observe_days=[7], rng=np.random.default_rng(0)
            )
    with pytest.raises(LeptotwinError, match=r"dt_h: growth step must be > 0 and at most 24 h"):
        simulate_lmc(
            [arm], n_per_arm=1, days=8, observe_days=[7], rng=np.random.default_rng(0), dt_h=0.0
        )


# -- export-sbml ---------------------------------------------------------------------------------


def test_export_sbml_into_an_existing_folder_is_refused(run_cli, tmp_path):
    """``--out EXISTING_DIR --force`` raised IsADirectoryError."""
    folder = tmp_path / "models"
    folder.mkdir()
    code, _, err = run_cli(*SBML, "--out", str(folder), "--force")
    assert code == 2
    assert _one_line(err) == (
        f"leptotwin: error: --out: output path is a folder (got '{folder}'); expected a file "
        f"path, e.g. {folder}/alectinib___osimertinib_subject0.xml"
    )
    assert list(folder.iterdir()) == []


def test_export_sbml_unknown_arm_lists_the_arms(run_cli, tmp_path):
    """A wrong arm name said 'say which experiment'."""
    code, _, err = run_cli("export-sbml", "lmc_mouse", "--arm", "placebo", "--out",
                           str(tmp_path / "x.xml"))  # fmt: skip
    assert code == 2
    assert _one_line(err) == (
        "leptotwin: error: lmc_mouse.yaml: arm: no such arm in the protocol (got 'placebo'); "
        "expected one of 'alectinib', 'vehicle', 'erlotinib', 'osimertinib', "
        "'alectinib + erlotinib', 'alectinib + osimertinib'"
    )


def test_export_sbml_arm_in_two_experiments_asks_which(run_cli, tmp_path):
    code, _, err = run_cli("export-sbml", "lmc_mouse", "--arm", "alectinib", "--out",
                           str(tmp_path / "x.xml"))  # fmt: skip
    assert code == 2
    assert _one_line(err) == (
        "leptotwin: error: lmc_mouse.yaml: experiment: say which experiment of the protocol to "
        "run: several have an arm 'alectinib'; expected one of relapse, combination"
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--subject", "-1", "--subject: subject index within the arm must be >= 0 and below "
         "9.22e+18 (got -1)"),
        ("--subject", str(10**20), "--subject: subject index within the arm must be >= 0 and "
         f"below 9.22e+18 (got {10**20})"),
        ("--seed", "-1", "--seed: seed must be >= 0 and below 1.84e+19 (got -1)"),
    ],
)  # fmt: skip
def test_export_sbml_numeric_options(run_cli, tmp_path, option, value, message):
    out = tmp_path / "x.xml"
    code, _, err = run_cli(*SBML, option, value, "--out", str(out))
    assert code == 2
    assert _one_line(err) == f"leptotwin: error: {message}"
    assert not out.exists()


def test_export_sbml_absurd_follow_up_in_the_protocol(run_cli, tmp_path):
    """``follow_up_days: 1e308`` (text to YAML 1.1) overflowed in the regimen's dose times."""
    path = _protocol(tmp_path, "follow_up_days: 120", "follow_up_days: 1e308")
    code, _, err = run_cli("export-sbml", str(path), "--arm", "vehicle", "--out",
                           str(tmp_path / "x.xml"))  # fmt: skip
    assert code == 2
    assert _one_line(err) == (
        f"leptotwin: error: {path}: line 20, combination.follow_up_days: Input should be less "
        "than or equal to 1095 (got '1e308'); expected days after inoculation, > 0 and at most "
        "1095 (3 years: laboratory mice do not live longer)"
    )
