"""``leptotwin calibrate`` of an experiment file or of an export-petab problem (issue 17).

A small, fast problem: one osimertinib arm of three mice, plasma sampled four times each (12
data), virtual data drawn from the calibration's own model (the typical mouse with the file's
log-normal noise) at a known mouse clearance. The estimated values are that clearance (the data
inform it) and ``pathway.birth_max`` (no BLI data: nothing informs it, so it must be named not
identifiable). The coverage over many replicates is ``benchmarks/calibrate.py``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop.petab import build_petab, engine_nll, read_petab_problem
from leptotwin.study.calibrate_experiment import (
    calibrate_experiment,
    growth_step,
    identifiability,
    load_overlay,
    virtual_data,
)
from leptotwin.study.experiment import load_experiment_file

CL = "osimertinib.pk.mouse.CL"
BIRTH = "pathway.birth_max"
TIMES_H = (1.0, 4.0, 24.0, 169.0)
EXPERIMENT = f"""\
name: tiny_pk
model: lmc_mouse
inoculum: A925L/AR
days: 10
arms:
  osimertinib:
    regimens: {{osimertinib: "25 mg/kg QD"}}
    subjects: [m1, m2, m3]
data:
  pk: pk.csv
observables:
  plasma:osimertinib: {{unit: nM, noise: lognormal, sigma: 0.3}}
estimate: [{CL}, {BIRTH}]
"""
FAST = dict(n_walkers=8, n_steps=50, burn=15, n_starts=1, draws=200, fit_draws=10)


def truth() -> dict[str, float]:
    """Half the catalogue's clearance: inside its prior, away from the prior median."""
    return {CL: 0.5 * load_catalog().quantity(CL).value}


def write(tmp_path: Path, seed: int = 0) -> Path:
    """The experiment file and a pk.csv of virtual data (seed ``seed``)."""
    rows = [
        f"{m},{t},osimertinib,plasma,1.0,nM,"
        for m in ("m1", "m2", "m3")
        for t in TIMES_H  # placeholder concentrations, replaced below
    ]
    pk = tmp_path / "pk.csv"
    pk.write_text("subject,time_h,drug,matrix,concentration,unit,lloq\n" + "\n".join(rows) + "\n")
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT)
    exp = virtual_data(load_experiment_file(path), truth(), rng=np.random.default_rng(seed))
    table = pd.read_csv(pk)
    table["concentration"] = exp.measurements["value"].to_numpy()  # same rows, same order
    table.to_csv(pk, index=False)
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_round_trip_intervals_cover_the_truth(tmp_path, seed):
    """Virtual data from a known clearance → calibrate → its 95 % interval covers the truth;
    the value no datum informs keeps a posterior about as wide as its prior."""
    exp = load_experiment_file(write(tmp_path, seed))
    res = calibrate_experiment(exp, seed=seed, **FAST)
    s = res.summary.set_index("parameter")
    assert s.loc[CL, "posterior_low"] <= truth()[CL] <= s.loc[CL, "posterior_high"]
    assert s.loc[CL, "identifiable"] and s.loc[CL, "sd_ratio"] < 0.3
    # nothing informs birth_max: its posterior is its prior (SD ratio 1 up to the Monte Carlo
    # error of this short chain; the CLI test below runs long enough to name it)
    assert s.loc[BIRTH, "sd_ratio"] > 0.6
    # the MAP multistart found the mode the chain sits on
    assert abs(np.log(res.map_theta[0] / s.loc[CL, "posterior_median"])) < 0.1
    assert len(res.sample.draws) == FAST["draws"]
    assert np.isfinite(res.fits["model_median"]).all()


def test_correlated_pair_is_named_not_identifiable():
    """|posterior correlation| > 0.95 names both values (the second criterion), checked on
    a sample whose chains are known (no model run)."""

    class Run:
        def __init__(self, z: np.ndarray) -> None:
            self.z = z

        def kept(self):
            return self.z, None

    rng = np.random.default_rng(5)
    a = 0.2 * rng.standard_normal((200, 8))
    z = np.stack([a, a + 0.01 * rng.standard_normal((200, 8))], axis=-1)
    diag = pd.DataFrame({"parameter": ["a", "b"], "shrinkage": [0.8, 0.8]})

    class Sample:
        def __init__(self) -> None:
            self.names = ["a", "b"]
            self.diagnostics = diag
            self.run = Run(z)

    table, corr = identifiability(Sample())  # type: ignore[arg-type]
    assert corr.loc["a", "b"] > 0.95
    assert not table["identifiable"].any()
    assert "correlation" in table.loc[0, "reason"] and "with b" in table.loc[0, "reason"]


def test_cli_writes_overlay_that_simulate_uses(tmp_path, run_cli):
    path = write(tmp_path, seed=4)
    out = tmp_path / "cal"
    args = ["--draws", "100", "--walkers", "8", "--steps", "90", "--burn", "20", "--seed", "4"]
    code, stdout, _ = run_cli("calibrate", str(path), "--out", str(out), *args)
    assert code == 0, stdout
    for name in (
        "overlay.yaml",
        "posterior_draws.csv",
        "diagnostics.csv",
        "correlations.csv",
        "fits.csv",
        "fits.png",
        "identifiability.md",
    ):
        assert (out / name).stat().st_size > 0, name
    doc = yaml.safe_load((out / "overlay.yaml").read_text())
    assert "pk.csv" in doc["values"][CL]["source"]
    assert doc["values"][CL]["low"] < doc["values"][CL]["value"] < doc["values"][CL]["high"]
    report = (out / "identifiability.md").read_text()
    assert report.endswith(f"Not identifiable from these data: {BIRTH}.\n")
    ov = load_overlay(out / "overlay.yaml")
    assert ov.draws is not None and list(ov.draws.columns) == [CL, BIRTH]
    # no silent overwrite
    code, _, err = run_cli("calibrate", str(path), "--out", str(out), *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--force" in err
    # simulate predicts with the overlay
    sim = tmp_path / "sim"
    code, _, err = run_cli(
        "simulate", "lmc_mouse", "--out", str(sim), "--n-per-arm", "2", "--days", "14",
        "--catalog-overlay", str(out / "overlay.yaml"),
    )  # fmt: skip
    assert code == 0, err
    run = json.loads((sim / "run.json").read_text())
    assert run["catalog_overlay"]["values"][0][CL] == pytest.approx(doc["values"][CL]["value"])
    # ... and with the posterior's uncertainty: one cohort per draw, the same mice
    code, _, err = run_cli(
        "simulate", "lmc_mouse", "--out", str(tmp_path / "sim2"), "--n-per-arm", "2",
        "--days", "14", "--catalog-overlay", str(out / "overlay.yaml"), "--overlay-draws", "2",
        "--experiment", "relapse",
    )  # fmt: skip
    assert code == 0, err
    subjects = pd.read_csv(tmp_path / "sim2" / "subjects.csv")
    assert list(subjects.columns[:2]) == ["draw", "subject"]
    first, second = (g.drop(columns="draw") for _, g in subjects.groupby("draw"))
    pd.testing.assert_frame_equal(first.reset_index(drop=True), second.reset_index(drop=True))
    values = json.loads((tmp_path / "sim2" / "run.json").read_text())["catalog_overlay"]
    assert values["values"][0][CL] != values["values"][1][CL]  # two different draws


@pytest.fixture(scope="module")
def problem(tmp_path_factory) -> tuple[Path, object]:
    """One exported PEtab problem of the tiny experiment (export is the slow part)."""
    d = tmp_path_factory.mktemp("petab")
    exp = load_experiment_file(write(d))
    build_petab(exp).write(d / "petab")
    return d / "petab", exp


def test_petab_problem_reads_back_as_the_same_experiment(problem):
    folder, exp = problem
    back = read_petab_problem(folder / "problem.yaml")
    assert back.estimate == exp.estimate
    assert back.observables == exp.observables
    pd.testing.assert_frame_equal(
        back.measurements.drop(columns="source"),
        exp.measurements.drop(columns="source"),
        check_dtype=False,
    )
    values = {CL: 2.0}
    assert engine_nll(back, values) == pytest.approx(engine_nll(exp, values), rel=1e-12)


def test_cli_calibrate_petab(tmp_path, run_cli, problem):
    out = tmp_path / "cal"
    code, stdout, err = run_cli(
        "calibrate", "--petab", str(problem[0] / "problem.yaml"), "--out", str(out),
        "--draws", "50", "--walkers", "8", "--steps", "20", "--burn", "10",
    )  # fmt: skip
    assert code == 0, err
    assert "not converged" in stdout and "rerun with more --steps" in stdout  # 10 kept steps
    assert (
        "measurements.tsv"
        in yaml.safe_load((out / "overlay.yaml").read_text())["values"][CL]["source"]
    )


def _petab(tmp_path: Path, shared: Path) -> Path:
    """A copy of the shared problem (tests may edit it)."""
    shutil.copytree(shared, tmp_path / "petab")
    return tmp_path / "petab"


def test_foreign_petab_model_is_refused_in_one_line(tmp_path, run_cli, problem):
    d = _petab(tmp_path, problem[0])
    doc = yaml.safe_load((d / "problem.yaml").read_text())
    del doc["leptotwin"]
    (d / "problem.yaml").write_text(yaml.safe_dump(doc))
    code, _, err = run_cli(
        "calibrate", "--petab", str(d / "problem.yaml"), "--out", str(tmp_path / "x")
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "not a model of leptotwin" in err and "problem.yaml" in err


def test_swapped_sbml_model_is_refused(tmp_path, problem):
    d = _petab(tmp_path, problem[0])
    xml = (d / "model.xml").read_text()
    model_id = yaml.safe_load((d / "problem.yaml").read_text())["leptotwin"]["model_id"]
    (d / "model.xml").write_text(xml.replace(f'id="{model_id}"', 'id="someone_elses"', 1))
    with pytest.raises(LeptotwinError, match="model.xml: model id: not a model of leptotwin"):
        read_petab_problem(d / "problem.yaml")


@pytest.mark.parametrize(
    ("table", "column", "row", "value", "match"),
    [
        ("measurements", "measurement", 2, "-4", r"measurements.tsv: row 4, measurement: .*> 0"),
        ("measurements", "observableId", 0, "csf_x", r"measurements.tsv: row 2, observableId"),
        ("measurements", "time", 1, "soon", r"measurements.tsv: row 3, time: not a finite"),
        ("conditions", "mg_osimertinib_oral_0", 0, "9", r"conditions.tsv: row 2, mg_osimer"),
        ("parameters", "nominalValue", 2, "0", r"parameters.tsv: row 4, nominalValue: .*> 0"),
        ("observables", "observableTransformation", 0, "lin", r"observables.tsv: row 2, obs"),
        ("observables", "noiseDistribution", 0, "laplace", r"observables.tsv: row 2, noiseD"),
    ],
)
def test_bad_petab_tables_name_file_row_field(tmp_path, problem, table, column, row, value, match):
    d = _petab(tmp_path, problem[0])
    frame = pd.read_csv(d / f"{table}.tsv", sep="\t", dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    frame.to_csv(d / f"{table}.tsv", sep="\t", index=False)
    with pytest.raises(LeptotwinError, match=match):
        read_petab_problem(d / "problem.yaml")


def test_bad_overlay_names_file_and_field(tmp_path):
    path = tmp_path / "overlay.yaml"
    body = {"format": "leptotwin catalogue overlay 1", "values": {CL: {"value": 2.0, "unit": "mL"}}}
    path.write_text(yaml.safe_dump(body))
    with pytest.raises(LeptotwinError, match=rf"overlay.yaml: values.{CL}.unit: unit differs"):
        load_overlay(path)
    path.write_text(yaml.safe_dump({"values": {}}))
    with pytest.raises(LeptotwinError, match="overlay.yaml: format: not a catalogue overlay"):
        load_overlay(path)
    path.write_text(yaml.safe_dump({**body, "values": {"pathway.nope": {"value": 1.0}}}))
    with pytest.raises(LeptotwinError, match="values.pathway.nope: not a catalogue value"):
        load_overlay(path)


def test_cli_needs_one_input_and_something_to_estimate(tmp_path, run_cli):
    code, _, err = run_cli("calibrate", "--out", str(tmp_path / "o"))
    assert code == 2 and "experiment file or --petab" in err
    path = write(tmp_path)
    path.write_text(EXPERIMENT.replace(f"estimate: [{CL}, {BIRTH}]\n", ""))
    code, _, err = run_cli("calibrate", str(path), "--out", str(tmp_path / "o"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "experiment.yaml: estimate: nothing to estimate" in err
    assert not (tmp_path / "o").exists()


def test_cli_bad_data_row_is_one_line_exit_2(tmp_path, run_cli):
    path = write(tmp_path)
    pk = (tmp_path / "pk.csv").read_text().splitlines()
    pk[3] = pk[3].replace(",nM,", ",ng/mL,")  # row 4 of the file: a unit the YAML does not declare
    (tmp_path / "pk.csv").write_text("\n".join(pk) + "\n")
    code, _, err = run_cli("calibrate", str(path), "--out", str(tmp_path / "o"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "pk.csv: row 4, unit: unit mismatch" in err
    assert not (tmp_path / "o").exists()


def test_growth_step_is_the_coarsest_on_the_bli_grid(tmp_path):
    exp = load_experiment_file(write(tmp_path))

    def with_bli(days: list[float]):
        rows = pd.DataFrame(
            {"subject": "m1", "arm": "osimertinib", "observable": "total_flux",
             "time_h": [24.0 * d for d in days], "value": 1e7, "source": "bli.csv:row 2"}
        )  # fmt: skip
        return replace(exp, measurements=pd.concat([exp.measurements, rows], ignore_index=True))

    assert growth_step(exp) == 4.0  # no BLI data: the coarsest
    assert growth_step(with_bli([7, 14, 21])) == 4.0
    assert growth_step(with_bli([7, 10.5])) == 4.0  # 252 h: a multiple of 2 h
    assert growth_step(with_bli([7.0625])) == 1.0  # 169.5 h: a multiple of 0.5 h only
    with pytest.raises(LeptotwinError, match=r"bli.csv:row 2: day: a BLI time off"):
        growth_step(with_bli([7.001]))
