"""``leptotwin calibrate`` of a file with a ``population`` block and no ``estimate`` list
(issue 17 item 2): the population fits alone, no maximum a posteriori search, no sampler, no
overlay or posterior draws; a file with neither block is refused in one line (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import leptotwin.study.calibrate_experiment as ce
from leptotwin.study.calibrate_experiment import (
    POPULATION_ONLY_NOTE,
    calibrate_experiment,
    fit_experiment_population,
    population_table,
)
from leptotwin.study.experiment import load_experiment_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own-lab"


def copy_example(folder: Path, name: str, data: tuple[str, ...], drop: str) -> Path:
    """``examples/own-lab/<name>`` and its data files in ``folder``, without the text
    ``drop`` (an estimate list)."""
    for f in data:
        (folder / f).write_bytes((EXAMPLE / f).read_bytes())
    text = (EXAMPLE / name).read_text(encoding="utf-8")
    assert drop in text
    path = folder / name
    path.write_text(text.replace(drop, ""), encoding="utf-8")
    return path


def pk_population_only(folder: Path) -> Path:
    return copy_example(
        folder,
        "pk_population.yaml",
        ("pk_population.csv",),
        "estimate:\n  - osimertinib.pk.mouse.CL\n",
    )


def test_population_only_skips_map_and_sampler(tmp_path, monkeypatch):
    """No MAP search and no sampler run (both replaced by functions that fail); the result
    carries the population fit and no posterior."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("ran without an estimate list")

    monkeypatch.setattr(ce, "_multistart_map", refuse)
    monkeypatch.setattr(ce, "sample_posterior", refuse)
    exp = load_experiment_file(pk_population_only(tmp_path))
    assert exp.estimate == () and len(exp.population) == 1
    result = calibrate_experiment(exp)
    assert result.population_only and result.sample is None
    assert result.summary.empty and result.map_theta.size == 0
    (res,) = result.population
    assert res.entry.drug == "osimertinib"
    direct = population_table(fit_experiment_population(exp)[0])
    pd.testing.assert_frame_equal(population_table(res), direct)
    assert result.lines() == [res.line(), POPULATION_ONLY_NOTE]


def test_cli_population_only_writes_no_overlay(tmp_path, run_cli):
    path = pk_population_only(tmp_path)
    out = tmp_path / "cal"
    code, stdout, err = run_cli("calibrate", str(path), "--out", str(out))
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "population.md",
        "population_osimertinib_plasma.csv",
        "population_osimertinib_plasma_eta.csv",
    ]
    assert not (out / "overlay.yaml").exists() and not (out / "posterior_draws.csv").exists()
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("population osimertinib plasma (FOCE-I, 20 mice")
    assert lines[1] == POPULATION_ONLY_NOTE
    assert lines[2].startswith("wrote 3 files to")  # the folder may wrap onto the next line
    report = (out / "population.md").read_text(encoding="utf-8")
    assert report.startswith("# Population PK: own_lab_pk_population")
    assert report.endswith(f"\n\nNote: {POPULATION_ONLY_NOTE}.\n")


def test_cli_neither_estimate_nor_population_is_one_line_exit_2(tmp_path, run_cli):
    path = copy_example(
        tmp_path,
        "experiment.yaml",
        ("bli.csv", "pk.csv"),
        "estimate:\n  - pathway.birth_max\n  - osimertinib.pk.mouse.CL\n",
    )
    out = tmp_path / "cal"
    code, stdout, err = run_cli("calibrate", str(path), "--out", str(out))
    assert code == 2 and stdout == ""
    assert len(err.strip().splitlines()) == 1
    assert "experiment.yaml: estimate: nothing to estimate" in err
    assert "population: block" in err
    assert not out.exists()


def test_population_only_keeps_the_fit_of_a_file_with_estimate(tmp_path):
    """The population table of the population-only run equals the one of the same file with
    its estimate list (the fits do not depend on it)."""
    full = load_experiment_file(EXAMPLE / "bli_population.yaml")
    only = load_experiment_file(
        copy_example(
            tmp_path, "bli_population.yaml", ("bli.csv",), "estimate:\n  - pathway.birth_max\n"
        )
    )
    assert full.estimate and not only.estimate
    (a,) = fit_experiment_population(full)
    (b,) = calibrate_experiment(only).population
    pd.testing.assert_frame_equal(population_table(a), population_table(b))


@pytest.mark.parametrize("bad", ["draws", "seed"])
def test_population_only_still_checks_draws_and_seed(tmp_path, bad):
    exp = load_experiment_file(pk_population_only(tmp_path))
    with pytest.raises(ce.LeptotwinError, match=f"--{bad}: not a positive integer"):
        calibrate_experiment(exp, **{bad: -1})
