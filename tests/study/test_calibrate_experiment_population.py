"""``leptotwin calibrate`` with a ``population`` block (issue 17 item 2): population PK fits
(FOCE-I) of the experiment's PK rows beside the typical-mouse posterior.

Virtual population data from known values (:func:`simulate_population_pk`) go through the
experiment file and the command line; the written typical values' 95 % intervals cover the truth.
The estimator's own bias and coverage over many replicates are tested in
``tests/calibration/test_population.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leptotwin.calibration.population import simulate_population_pk
from leptotwin.catalog import load_catalog
from leptotwin.study.calibrate_experiment import fit_experiment_population, population_table
from leptotwin.study.experiment import load_experiment_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own-lab"
TRUTH = {"CL": 0.03, "V": 0.6, "ka": 1.2}  # L/h, L, 1/h
OMEGA = {"CL": 0.1, "V": 0.05}  # ka without variability
MICE = [f"m{i:02d}" for i in range(16)]
TIMES_H = [0.5, 1.0, 2.0, 4.0, 8.0, 24.0]
EXPERIMENT = """\
name: pop_cli
model: lmc_mouse
inoculum: A925L/AR
days: 9
arms:
  osimertinib:
    regimens: {{osimertinib: "20 mg/kg QD"}}
    subjects: [{mice}]
data: {{pk: pk.csv}}
observables:
  plasma:osimertinib: {{unit: ng/mL, noise: lognormal, sigma: 0.3}}
estimate: [osimertinib.pk.mouse.CL]
population:
  - drug: osimertinib
    matrix: plasma
    random_effects: {random_effects}
"""
FAST = ["--draws", "40", "--walkers", "4", "--steps", "20", "--burn", "5"]


def write(folder: Path, random_effects: str = "[CL, V]", seed: int = 3) -> Path:
    """An experiment file and its PK table (ng/mL) of 16 mice simulated from :data:`TRUTH`."""
    dose_mg = 20.0 * load_catalog().pk_parameters("osimertinib", "mouse").body_weight_kg
    sim = simulate_population_pk(
        n_subjects=len(MICE),
        times_h=np.array(TIMES_H),
        dose_mg=dose_mg,
        theta=TRUTH,
        omega=OMEGA,
        sigma=0.15,
        rng=np.random.default_rng(seed),
        dose_interval_h=24.0,
    )
    pd.DataFrame(
        {
            "subject": [MICE[int(i)] for i in sim["subject"]],
            "time_h": sim["time_h"],
            "drug": "osimertinib",
            "matrix": "plasma",
            "concentration": sim["concentration"] * 1000.0,  # mg/L -> ng/mL
            "unit": "ng/mL",
            "lloq": 1.0,
        }
    ).to_csv(folder / "pk.csv", index=False)
    path = folder / "experiment.yaml"
    path.write_text(EXPERIMENT.format(mice=", ".join(MICE), random_effects=random_effects))
    return path


def covers(table: pd.DataFrame, truth: dict[str, float]) -> None:
    t = table.set_index("parameter")
    for name, value in truth.items():
        assert t.loc[name, "lower"] <= value <= t.loc[name, "upper"], (name, t.loc[name])


def test_example_fit_covers_the_stated_truth():
    """examples/own-lab/pk_population.yaml: the values make_data.py drew the data from (and
    README.md states) lie inside the 95 % intervals of θ, ω² and σ."""
    spec = importlib.util.spec_from_file_location("make_data", EXAMPLE / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(make_data)  # type: ignore[union-attr]
    truth = make_data.POPULATION_TRUTH
    exp = load_experiment_file(EXAMPLE / "pk_population.yaml")
    (res,) = fit_experiment_population(exp)
    assert res.fit.converged and res.fit.covariance_ok
    assert res.fit.n_subjects == 20 and res.fit.n_observations == 140
    covers(res.fit.theta, truth["theta"])
    covers(res.fit.omega, {f"omega2_{k}": v for k, v in truth["omega"].items()})
    covers(res.fit.sigma, {"sigma": truth["sigma"]})
    table = population_table(res)
    assert list(table["kind"]) == ["theta"] * 3 + ["omega"] * 3 + ["sigma"]
    assert table["converged"].all() and (table["data_unit"] == "nM").all()


def test_cli_writes_population_tables_that_cover_the_truth(tmp_path, run_cli):
    path = write(tmp_path)
    out = tmp_path / "cal"
    code, stdout, err = run_cli("calibrate", str(path), "--out", str(out), *FAST)
    assert code == 0, err
    line = [x for x in stdout.splitlines() if x.startswith("population osimertinib plasma")]
    assert len(line) == 1 and "16 mice, 96 samples" in line[0] and "CL/F" in line[0]
    table = pd.read_csv(out / "population_osimertinib_plasma.csv")
    theta = table[table["kind"] == "theta"]
    covers(theta, TRUTH)
    assert list(theta["unit"]) == ["L/h", "L", "1/h"]
    omega = table[table["kind"] == "omega"]
    assert list(omega["parameter"]) == ["omega2_CL", "omega2_V"]
    assert omega["shrinkage"].between(-0.5, 1).all()
    assert table["converged"].all() and table["covariance_ok"].all()
    assert np.isfinite(table["ofv"]).all() and table["ofv"].nunique() == 1
    eta = pd.read_csv(out / "population_osimertinib_plasma_eta.csv")
    assert list(eta.columns) == ["subject", "eta_CL", "eta_V", "CL_F_L_h", "V_F_L", "ka_per_h"]
    assert sorted(eta["subject"]) == MICE
    report = (out / "population.md").read_text()
    assert "## osimertinib in plasma" in report and "*apparent* CL/F (L/h)" in report
    assert "0.5 mg" in report  # 20 mg/kg x 25 g
    assert "overlay.yaml does not carry them" in report
    overlay = yaml.safe_load((out / "overlay.yaml").read_text())
    assert list(overlay["values"]) == ["osimertinib.pk.mouse.CL"]


@pytest.mark.parametrize(
    ("random_effects", "match"),
    [
        ("[CL, Vd]", "line 16, population.0.random_effects.1: unknown random effect (got 'Vd')"),
        ("CL", "line 16, population.0.random_effects: Input should be a valid list"),
    ],
)
def test_cli_bad_block_is_one_line_exit_2(tmp_path, run_cli, random_effects, match):
    path = write(tmp_path, random_effects=random_effects)
    code, _, err = run_cli("calibrate", str(path), "--out", str(tmp_path / "o"), *FAST)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"experiment.yaml: {match}" in err
    assert not (tmp_path / "o").exists()


def test_petab_export_carries_the_block(tmp_path, run_cli):
    """export-petab writes the design (population block included) into problem.yaml, so
    ``calibrate --petab`` fits the same population from measurements.tsv."""
    path = write(tmp_path, random_effects="[CL]")
    code, _, err = run_cli("export-petab", str(path), "--out", str(tmp_path / "petab"))
    assert code == 0, err
    out = tmp_path / "cal"
    code, _, err = run_cli(
        "calibrate", "--petab", str(tmp_path / "petab" / "problem.yaml"), "--out", str(out), *FAST
    )
    assert code == 0, err
    direct = fit_experiment_population(load_experiment_file(path))[0].fit.theta
    table = pd.read_csv(out / "population_osimertinib_plasma.csv")
    theta = table[table["kind"] == "theta"]
    np.testing.assert_allclose(theta["estimate"], direct["estimate"], rtol=1e-4)
    assert list(table.loc[table["kind"] == "omega", "parameter"]) == ["omega2_CL"]
