"""Every command × every kind of bad input: an exit status, one line on stderr, no traceback, and
nothing left on disk (issue 12, "a bad-input matrix test").

Kinds: missing, empty, binary, wrong columns, NaN, negative, text in numbers, unknown unit,
absurd magnitude, existing output, unwritable output, interrupted. A kind that does not apply to a
command (``catalog`` reads no file and writes none) is listed in ``NOT_APPLICABLE`` with the
reason, so the matrix is complete by construction: a new command must be added here.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin import _fileio, cli
from refdata import IMZML, SYNERGY

KINDS = (
    "missing",
    "empty",
    "binary",
    "wrong_columns",
    "nan",
    "negative",
    "text_in_numbers",
    "unknown_unit",
    "absurd",
    "existing_output",
    "unwritable_output",
    "interrupted",
)
BINARY = bytes(range(256)) * 8 + b"\x00\xff\xfe" * 100


# -- editing a valid input into a bad one ---------------------------------------------------------


def _set_cell(path: Path, column: str, value: str, *, row: int = 0) -> None:
    """Put ``value`` into ``column`` of data row ``row`` of a CSV (the header may follow a
    preamble, as in instrument exports)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        fields = [f.strip().strip('"') for f in line.split(",")]
        if column in fields:
            col = fields.index(column)
            target = i + 1 + row
            cells = lines[target].split(",")
            cells[col] = value
            lines[target] = ",".join(cells)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return
    raise AssertionError(f"no column {column!r} in {path}")


def _set_grid_cell(path: Path, value: str) -> None:
    """Put ``value`` into well A1 of a plate-reader grid export."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("A,"))
    cells = lines[i].split(",")
    cells[1] = value
    lines[i] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (old, path)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# -- the commands, each with a small valid run ----------------------------------------------------


@dataclass
class Command:
    """A command with a valid invocation and how to spoil it.

    ``build(folder)`` writes valid inputs into ``folder`` and returns ``(argv, primary)``: the
    arguments without ``--out`` and the input file the file-level kinds spoil (None if none).
    ``spoil[kind](folder, argv)`` edits the inputs (or returns new arguments) for a data kind.
    """

    name: str
    build: Callable[[Path], tuple[list[str], Path | None]]
    spoil: dict[str, Callable[[Path, list[str]], list[str] | None]] = field(default_factory=dict)
    wrong_columns: Callable[[Path], None] | None = None


def _fit_curves(folder: Path) -> tuple[list[str], Path]:
    dose = np.repeat([0.01, 0.1, 1.0, 10.0, 100.0], 2)
    resp = 100 / (1 + dose / 1.0) + np.tile([-1.0, 1.0], 5)
    path = folder / "curves.csv"
    pd.DataFrame({"curve": "a", "dose": dose, "response": resp}).to_csv(path, index=False)
    return ["fit-curves", str(path)], path


def _elisa(folder: Path) -> tuple[list[str], Path]:
    from leptotwin.assays.elisa import simulate_elisa, write_elisa

    samples = pd.DataFrame({"sample_id": ["a", "b"], "true_pg_mL": [80.0, 400.0], "dilution": 1.0})
    wells = simulate_elisa(samples, rng=np.random.default_rng(5))
    plate, layout = write_elisa(wells, folder / "export.csv", folder / "layout.csv")
    return ["elisa", str(plate), "--layout", str(layout)], plate


def _qpcr(folder: Path) -> tuple[list[str], Path]:
    from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr

    rng = np.random.default_rng(0)
    levels = {"P": {"AREG": 1.0, "GAPDH": 1.0}, "AR": {"AREG": 4.0, "GAPDH": 1.0}}
    path = write_qpcr(simulate_qpcr(make_qpcr_samples(levels, rng=rng), rng=rng), folder / "c.csv")
    return ["qpcr", str(path), "--reference", "GAPDH", "--calibrator", "P"], path


def _blot(folder: Path) -> tuple[list[str], Path]:
    from leptotwin.assays.blot import simulate_blot, write_blot

    lanes = pd.DataFrame({"lane": [1, 2, 3, 4], "label": list("abcd")})
    bands = pd.DataFrame({"lane": [1, 2, 3, 4], "protein": "EGFR", "amount": [1, 2, 3, 4]})
    written = write_blot(simulate_blot(lanes, bands, rng=np.random.default_rng(1)), folder)
    return ["blot", str(written["image"]), "--lanes", "4"], Path(written["image"])


def _synergy(folder: Path) -> tuple[list[str], Path]:
    path = folder / "matrix.csv"
    frame = pd.read_csv(SYNERGY / "mathews_screening_data.csv")
    frame[frame["block_id"] == 1].to_csv(path, index=False)
    return ["synergy", str(path), "--scale", "viability", "--method", "Bliss,HSA"], path


def _msi(folder: Path) -> tuple[list[str], Path]:
    for suffix in (".imzML", ".ibd"):
        shutil.copy(IMZML / f"Example_Continuous{suffix}", folder / f"section{suffix}")
    return ["msi", str(folder / "section.imzML"), "--mz", "151.9"], folder / "section.imzML"


def _protocol(folder: Path) -> Path:
    from importlib.resources import files

    text = files("leptotwin.study").joinpath("protocols/lmc_mouse.yaml").read_text("utf-8")
    path = folder / "protocol.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _simulate(folder: Path) -> tuple[list[str], Path]:
    path = _protocol(folder)
    args = ["simulate", str(path), "--experiment", "combination", "--n-per-arm", "2"]
    return [*args, "--days", "14"], path


def _export_sbml(folder: Path) -> tuple[list[str], Path]:
    path = _protocol(folder)
    return ["export-sbml", str(path), "--arm", "alectinib + osimertinib"], path


def _pk(folder: Path) -> tuple[list[str], None]:
    args = ["pk", "--drug", "erlotinib", "--species", "mouse", "--regimen", "50 mg/kg QD"]
    return [*args, "--days", "1", "--subjects", "2"], None


def _reproduce(folder: Path) -> tuple[list[str], None]:
    return ["reproduce", "--quick", "--section", "pharmacokinetics"], None


def _calibrate(folder: Path) -> tuple[list[str], None]:
    return ["calibrate-study", "--quick"], None


def _own_lab(folder: Path, experiment: str) -> Path:
    """The own-lab example (experiment file + its data) copied into ``folder``."""
    src = Path(__file__).resolve().parents[1] / "examples" / "own-lab"
    for name in (experiment, "pk.csv", "bli.csv"):
        shutil.copy(src / name, folder / name)
    return folder / experiment


def _export_petab(folder: Path) -> tuple[list[str], Path]:
    path = _own_lab(folder, "pk_only.yaml")
    return ["export-petab", str(path)], path


def _calibrate_experiment(folder: Path) -> tuple[list[str], Path]:
    path = _own_lab(folder, "pk_only.yaml")
    return ["calibrate", str(path), "--walkers", "4", "--steps", "3", "--burn", "1"], path


def _catalog(folder: Path) -> tuple[list[str], None]:
    return ["catalog", "--drug", "alectinib"], None


def _option(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option``'s value replaced (or the option added)."""
    out = list(argv)
    if option in out:
        out[out.index(option) + 1] = value
    else:
        out += [option, value]
    return out


def _cell(column: str, value: str, *, name: str | None = None):
    def spoil(folder: Path, argv: list[str]) -> None:
        path = folder / name if name else Path(argv[1])
        _set_cell(path, column, value)

    return spoil


def _grid(value: str):
    return lambda folder, argv: _set_grid_cell(Path(argv[1]), value)


def _opt(option: str, value: str):
    return lambda folder, argv: _option(argv, option, value)


def _yaml(old: str, new: str):
    return lambda folder, argv: _replace_text(Path(argv[1]), old, new)


def _csv_columns(path: Path) -> None:
    path.write_text("foo,bar\n1,2\n3,4\n", encoding="utf-8")


COMMANDS = {
    c.name: c
    for c in [
        Command(
            "fit-curves",
            _fit_curves,
            {
                "nan": _cell("dose", "nan"),
                "negative": _cell("dose", "-1"),
                "text_in_numbers": _cell("response", "twelve"),
                "absurd": _cell("response", "1e308"),
            },
            _csv_columns,
        ),
        Command(
            "elisa",
            _elisa,
            {
                "nan": _cell("nominal_pg_mL", "nan", name="layout.csv"),
                "negative": _cell("nominal_pg_mL", "-2000", name="layout.csv"),
                "text_in_numbers": _grid("two"),
                "absurd": _grid("1e308"),
            },
            _csv_columns,
        ),
        Command(
            "qpcr",
            _qpcr,
            {
                "nan": _cell("CT", "nan"),
                "negative": _cell("CT", "-27.2"),
                "text_in_numbers": _cell("CT", "twenty"),
                "absurd": _cell("CT", "1e308"),
            },
            _csv_columns,
        ),
        Command(
            "blot",
            _blot,
            {
                "negative": _opt("--lanes", "-4"),
                "text_in_numbers": _opt("--lanes", "four"),
                "absurd": _opt("--lanes", "1000000000"),
            },
            _csv_columns,
        ),
        Command(
            "synergy",
            _synergy,
            {
                "nan": _cell("conc_r", "nan"),
                "negative": _cell("conc_r", "-2500"),
                "text_in_numbers": _cell("response", "high"),
                "unknown_unit": _cell("conc_c_unit", '"furlong"'),
                "absurd": _cell("response", "1e308"),
            },
            _csv_columns,
        ),
        Command(
            "msi",
            _msi,
            {
                "nan": _opt("--mz", "nan"),
                "negative": _opt("--mz", "-151.9"),
                "text_in_numbers": _opt("--ppm", "ten"),
                "absurd": _opt("--mz", "1e308"),
            },
            lambda path: path.write_text("<?xml version='1.0'?><mzML></mzML>", encoding="utf-8"),
        ),
        Command(
            "simulate",
            _simulate,
            {
                "nan": _opt("--days", "nan"),
                "negative": _opt("--n-per-arm", "-3"),
                "text_in_numbers": _yaml("mice_per_arm: 10", "mice_per_arm: ten"),
                "unknown_unit": _yaml('"20 mg/kg QD"', '"20 furlong/kg QD"'),
                "absurd": _opt("--days", "1e308"),
            },
            lambda path: path.write_text("foo: [1, 2]\nbar: baz\n", encoding="utf-8"),
        ),
        Command(
            "export-sbml",
            _export_sbml,
            {
                "negative": _opt("--subject", "-1"),
                "text_in_numbers": _yaml("follow_up_days: 120", "follow_up_days: long"),
                "unknown_unit": _yaml('"25 mg/kg QD"', '"25 parsec/kg QD"'),
                "absurd": _yaml("follow_up_days: 120", "follow_up_days: 1e308"),
            },
            lambda path: path.write_text("foo: [1, 2]\nbar: baz\n", encoding="utf-8"),
        ),
        Command(
            "pk",
            _pk,
            {
                "nan": _opt("--days", "nan"),
                "negative": _opt("--subjects", "-5"),
                "text_in_numbers": _opt("--days", "three"),
                "unknown_unit": _opt("--regimen", "50 furlong/kg QD"),
                "absurd": _opt("--step-h", "1e-9"),
            },
        ),
        Command(
            "reproduce",
            _reproduce,
            {
                "negative": _opt("--seed", "-1"),
                "text_in_numbers": _opt("--seed", "seven"),
                "absurd": _opt("--section", "no-such-section"),
            },
        ),
        Command(
            "calibrate-study",
            _calibrate,
            {
                "negative": _opt("--walkers", "-5"),
                "text_in_numbers": _opt("--steps", "three"),
                "absurd": _opt("--draws", "1000000000000"),
            },
        ),
        Command(
            "export-petab",
            _export_petab,
            {
                "nan": _cell("concentration", "nan", name="pk.csv"),
                "negative": _cell("concentration", "-5", name="pk.csv"),
                "text_in_numbers": _cell("time_h", "one", name="pk.csv"),
                "unknown_unit": _cell("unit", "furlong", name="pk.csv"),
                "absurd": _yaml("days: 21", "days: 1e308"),
            },
            lambda path: path.write_text("foo: [1, 2]\nbar: baz\n", encoding="utf-8"),
        ),
        Command(
            "calibrate",
            _calibrate_experiment,
            {
                "nan": _cell("concentration", "nan", name="pk.csv"),
                "negative": _opt("--walkers", "-4"),
                "text_in_numbers": _opt("--steps", "three"),
                "unknown_unit": _cell("unit", "furlong", name="pk.csv"),
                "absurd": _cell("concentration", "1e308", name="pk.csv"),
            },
            lambda path: path.write_text("foo: [1, 2]\nbar: baz\n", encoding="utf-8"),
        ),
        Command(
            "catalog",
            _catalog,
            {"text_in_numbers": _opt("--drug", "12345"), "absurd": _opt("--drug", "x" * 5000)},
        ),
    ]
}

_NO_FILE = "reads no input file"
NOT_APPLICABLE = {
    **{
        (c, k): _NO_FILE
        for c in ("pk", "reproduce", "catalog", "calibrate-study")
        for k in KINDS[:4]
    },
    ("calibrate-study", "nan"): "no float option: walkers, steps, burn, draws are integers",
    ("calibrate-study", "unknown_unit"): "takes no quantity",
    ("calibrate-study", "interrupted"): "the shared output transaction, tested on pk and reproduce",
    ("pk", "interrupted"): "tested in test_cli_outputs.py on pk",
    ("reproduce", "nan"): "no numeric input but the integer seed",
    ("reproduce", "unknown_unit"): "takes no quantity",
    ("reproduce", "interrupted"): "a real SIGINT is sent in test_cli_outputs.py",
    ("catalog", "nan"): "takes no number",
    ("catalog", "negative"): "takes no number",
    ("catalog", "unknown_unit"): "takes no quantity",
    ("catalog", "existing_output"): "prints to stdout, writes no file",
    ("catalog", "unwritable_output"): "prints to stdout, writes no file",
    ("catalog", "interrupted"): "prints to stdout, writes no file",
    ("fit-curves", "unknown_unit"): "the tidy format has no unit column",
    ("qpcr", "unknown_unit"): "Ct values have no unit",
    ("qpcr", "nan"): "NaN is how Bio-Rad CFX writes a well with no Cq: read as undetermined and "
    "named in a note (tests/analysis/test_qpcr_reader.py); inf and -1 are refused (tested here)",
    ("blot", "nan"): "an image: --lanes is an integer option (text is tested)",
    ("blot", "unknown_unit"): "an image has no unit",
    ("msi", "unknown_unit"): "--ppm is the only unit and is fixed by the option name",
    ("elisa", "unknown_unit"): "concentrations are pg/mL by column name (nominal_pg_mL)",
    ("export-sbml", "nan"): "--subject and --seed are integers (text is tested)",
    ("calibrate", "interrupted"): "the shared output transaction, tested on pk and reproduce",
    ("export-petab", "interrupted"): "the shared output transaction, tested on pk and reproduce",
}


def _cases():
    for name in COMMANDS:
        for kind in KINDS:
            reason = NOT_APPLICABLE.get((name, kind))
            marks = [pytest.mark.skip(reason=f"not applicable: {reason}")] if reason else []
            yield pytest.param(name, kind, id=f"{name}-{kind}", marks=marks)


#: Commands that take no input file and write no output: a server, whose bad input is tested
#: over HTTP instead.
NOT_IN_MATRIX = {"explore": "a local web server; tests/test_explore_server.py sends it bad input"}


def test_every_command_is_in_the_matrix():
    registered = {
        c.name or c.callback.__name__.replace("_", "-") for c in cli.app.registered_commands
    }
    assert registered - set(NOT_IN_MATRIX) == set(COMMANDS)


def test_every_data_kind_is_covered_or_excused():
    for name, command in COMMANDS.items():
        for kind in ("nan", "negative", "text_in_numbers", "unknown_unit", "absurd"):
            assert kind in command.spoil or (name, kind) in NOT_APPLICABLE, (name, kind)
        assert command.wrong_columns is not None or (name, "wrong_columns") in NOT_APPLICABLE


def test_each_valid_run_succeeds(run_cli, tmp_path):
    """The matrix spoils runs that work: each command's valid run exits 0 and writes files."""
    for name, command in COMMANDS.items():
        if name in ("reproduce",):
            continue  # 1 section of the study: covered by the study's own tests
        if name == "calibrate-study":
            continue  # the same run: tests/study/test_calibrate_job.py, real readouts and targets
        folder = tmp_path / name
        folder.mkdir()
        argv, _ = command.build(folder)
        out = folder / "out"
        extra = (
            []
            if name == "catalog"
            else ["--out", str(out / "x.xml" if name == "export-sbml" else out)]
        )
        code, _, err = run_cli(*argv, *extra)
        assert code == 0, (name, err)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("name", "kind"), list(_cases()))
def test_bad_input(run_cli, tmp_path, monkeypatch, name, kind):
    command = COMMANDS[name]
    inputs = tmp_path / "in"
    inputs.mkdir()
    argv, primary = command.build(inputs)
    is_file_out = name == "export-sbml"
    out = tmp_path / "out"
    out_arg = out / "subject.xml" if is_file_out else out
    expected_code = 2

    if kind == "missing":
        argv = [str(inputs / "no-such-file.csv") if a == str(primary) else a for a in argv]
    elif kind == "empty":
        primary.write_bytes(b"")
    elif kind == "binary":
        primary.write_bytes(BINARY)
    elif kind == "wrong_columns":
        command.wrong_columns(primary)
    elif kind in command.spoil:
        new = command.spoil[kind](inputs, argv)
        argv = new if new is not None else argv
    elif kind == "existing_output":
        out.mkdir()
        (out / "subject.xml" if is_file_out else out / "keep.csv").write_text("precious")
    elif kind == "unwritable_output":
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        out_arg = blocker / ("s.xml" if is_file_out else "out")
    elif kind == "interrupted":
        expected_code = 130
        calls = {"n": 0}
        real = _fileio.atomic_write

        def interrupt_on_second_file(path, writer):
            calls["n"] += 1
            if calls["n"] >= 2 or is_file_out:
                raise KeyboardInterrupt
            return real(path, writer)

        for module in list(sys.modules.values()):  # modules that imported it by name too
            if getattr(module, "__name__", "").startswith("leptotwin") and (
                getattr(module, "atomic_write", None) is real
            ):
                monkeypatch.setattr(module, "atomic_write", interrupt_on_second_file)
    else:  # pragma: no cover - guarded by test_every_data_kind_is_covered_or_excused
        raise AssertionError(kind)

    before = _snapshot(tmp_path)
    extra = [] if name == "catalog" else ["--out", str(out_arg)]
    code, _, err = run_cli(*argv, *extra)

    assert code == expected_code, f"exit {code}; stderr: {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    prefix = "leptotwin: interrupted" if kind == "interrupted" else "leptotwin: error: "
    assert lines[0].startswith(prefix), lines[0]
    assert "Traceback" not in err and "Error:" not in lines[0].removeprefix("leptotwin: error:")
    assert not re.search(r"\b(KeyError|ValueError|TypeError|IndexError)\b", err), err
    assert _snapshot(tmp_path) == before, "files were added, removed or changed"
