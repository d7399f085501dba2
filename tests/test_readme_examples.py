"""The README's "## Examples" block, run line by line exactly as written (issue 16, item 3).

Each ``leptotwin ...`` line is run as a separate process, in a temporary folder that holds a copy
of ``examples/`` (the lines name ``examples/...`` and ``results/...`` relative to the repository
root), and must exit with status 0 and write what it is expected to write. So the README cannot
name a file, an option or an output that does not exist.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
#: files a line's --out must hold (beyond existing and not being empty)
EXPECTED = {
    "fit-curves": ("fits.csv", "qc.csv"),
    "elisa": ("samples.csv", "standards.csv", "curves.csv"),
    "qpcr": ("summary.csv",),
    "blot": ("annotated.png",),
    "synergy": ("per_block.csv", "per_dose.csv"),
    "msi": ("roi_stats.csv", "ion_image_394.1761.csv"),
    "simulate": ("survival.csv", "subjects.csv"),
    "pk": ("pk.csv", "pk.png"),
}
#: commands without an example: they read no input file and run for minutes, or (explore) serve
#: until stopped (tests/test_explore_server.py and test_explore_browser.py run it)
NO_EXAMPLE = {"reproduce", "calibrate-study", "explore"}


def example_lines(text: str) -> list[str]:
    """The ``leptotwin`` command lines of the code blocks of the "## Examples" section, with
    ``\\`` continuations joined (as the shell joins them)."""
    section = re.search(r"^## Examples\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert section, "README.md has no '## Examples' section"
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", section.group(1), flags=re.S | re.M)
    lines = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "leptotwin":
                lines.append(line.strip())
    return lines


LINES = example_lines(README.read_text(encoding="utf-8"))


def _words(line: str) -> list[str]:
    return shlex.split(line, comments=True)


def _out(words: list[str]) -> str | None:
    for i, word in enumerate(words):
        if word == "--out":
            return words[i + 1]
        if word.startswith("--out="):
            return word.removeprefix("--out=")
    return None


def _argv(words: list[str]) -> list[str]:
    """The installed ``leptotwin`` script beside this Python (the venv's), else the module."""
    script = Path(sys.executable).with_name("leptotwin")
    prefix = [str(script)] if script.is_file() else [sys.executable, "-m", "leptotwin.cli"]
    return prefix + words[1:]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with a copy of examples/, shared by the lines as a user's checkout would be
    (each line writes its own --out, so a line that reuses another's folder fails)."""
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(EXAMPLES, root / "examples")
    return root


@pytest.mark.parametrize(
    "line", LINES, ids=[f"{i:02d}-{_words(x)[1]}" for i, x in enumerate(LINES)]
)
def test_readme_example_runs_as_written(line, workdir):
    words = _words(line)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        _argv(words), cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{line}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    out = _out(words)
    if out is None:
        assert proc.stdout.strip(), f"{line}: printed nothing"
        return
    assert out.startswith("results/"), f"{line}: --out outside results/ (not ignored by git)"
    path = workdir / out
    assert path.exists(), f"{line}: {out} not written"
    if path.is_file():
        assert path.stat().st_size > 0
        return
    written = {p.name for p in path.iterdir()}
    assert written, f"{line}: {out} is empty"
    missing = set(EXPECTED.get(words[1], ())) - written
    assert not missing, f"{line}: {out} lacks {sorted(missing)} (has {sorted(written)})"


def test_every_command_and_every_example_file_has_a_line():
    import typer

    from leptotwin import cli

    commands = set(typer.main.get_command(cli.app).commands)
    used = {_words(line)[1] for line in LINES}
    assert commands - NO_EXAMPLE <= used, f"no example for {sorted(commands - NO_EXAMPLE - used)}"
    text = " ".join(LINES)
    inputs = [p for p in EXAMPLES.iterdir() if p.name not in ("README.md", "make_examples.py")]
    for path in inputs:
        named = path.with_suffix(".imzML") if path.suffix == ".ibd" else path
        assert f"examples/{named.name}" in text, f"examples/{path.name} is used by no line"


def test_examples_are_described_and_small():
    described = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    files = [p for p in EXAMPLES.iterdir() if p.is_file()]
    for path in files:
        if path.name != "README.md":
            assert f"`{path.name}`" in described, f"examples/README.md does not list {path.name}"
    assert sum(p.stat().st_size for p in files) < 2 * 2**20
