"""``blq: m3`` in an experiment file's ``population`` entry: the samples below a reported LLOQ
reach the population fit as censored (Beal's M3) instead of being left out, and the written
table says so; a bad value is named with file, line and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration.population import simulate_population_pk
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.study.calibrate_experiment import (
    fit_experiment_population,
    population_report,
    population_table,
)
from leptotwin.study.experiment import load_experiment_file, population_data

TRUTH = {"CL": 0.03, "V": 0.6, "ka": 1.2}  # L/h, L, 1/h
MICE = [f"m{i:02d}" for i in range(16)]
TIMES_H = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 22.0]
LLOQ_NG_ML = 350.0  # most 22 h, some 16 h and 0.5 h samples fall below it
EXPERIMENT = """\
name: pop_m3
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
    random_effects: [CL, V]
    blq: {blq}
"""


def write(folder: Path, blq: str) -> Path:
    dose_mg = 20.0 * load_catalog().pk_parameters("osimertinib", "mouse").body_weight_kg
    sim = simulate_population_pk(
        n_subjects=len(MICE),
        times_h=np.array(TIMES_H),
        dose_mg=dose_mg,
        theta=TRUTH,
        omega={"CL": 0.1, "V": 0.05},
        sigma=0.15,
        rng=np.random.default_rng(5),
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
            "lloq": LLOQ_NG_ML,
        }
    ).to_csv(folder / "pk.csv", index=False)
    path = folder / "experiment.yaml"
    path.write_text(EXPERIMENT.format(mice=", ".join(MICE), blq=blq), encoding="utf-8")
    return path


def test_m3_entry_censors_the_samples_below_the_lloq(tmp_path):
    m1_dir, m3_dir = tmp_path / "m1", tmp_path / "m3"
    m1_dir.mkdir()
    m3_dir.mkdir()
    exp1 = load_experiment_file(write(m1_dir, "m1"))
    exp3 = load_experiment_file(write(m3_dir, "m3"))
    n_blq = exp3.below_lloq["plasma:osimertinib"]
    assert 0.15 * 16 * len(TIMES_H) < n_blq < 0.5 * 16 * len(TIMES_H)  # 22 of 112
    assert (exp1.population[0].blq, exp3.population[0].blq) == ("m1", "m3")
    assert len(exp3.censored) == n_blq and (exp3.censored["value"] < LLOQ_NG_ML).all()

    d1, _ = population_data(exp1, exp1.population[0])
    d3, doses3 = population_data(exp3, exp3.population[0])
    assert "lloq" not in d1.columns and len(d1) == 16 * len(TIMES_H) - n_blq
    assert len(d3) == 16 * len(TIMES_H) and int(d3["lloq"].notna().sum()) == n_blq
    assert (d3["concentration"] < d3["lloq"]).sum() == n_blq
    pd.testing.assert_frame_equal(d3.iloc[: len(d1)].drop(columns="lloq"), d1)
    assert set(doses3["subject"]) == set(MICE)

    (r1,) = fit_experiment_population(exp1)
    (r3,) = fit_experiment_population(exp3)
    assert r1.fit.converged and r3.fit.converged
    # M1: the loader left the BLQ rows out before the fit, which sees none
    assert (r1.fit.blq, r1.fit.n_censored, r1.fit.n_blq, r1.n_below_lloq) == ("m1", 0, 0, n_blq)
    assert r3.n_below_lloq == n_blq
    assert (r3.fit.blq, r3.fit.n_censored, r3.fit.n_blq) == ("m3", n_blq, n_blq)
    assert r3.fit.n_observations == r1.fit.n_observations
    assert r3.fit.ofv != r1.fit.ofv  # the censored samples are in the likelihood
    t1, t3 = population_table(r1), population_table(r3)
    assert (t1["blq"] == "m1").all() and (t3["blq"] == "m3").all()
    assert (t3["n_censored"] == n_blq).all() and (t1["n_censored"] == 0).all()
    th = t3[t3["kind"] == "theta"].set_index("parameter")
    for name in ("CL", "V"):  # the M3 typical values' intervals cover the truth
        assert th.loc[name, "lower"] <= TRUTH[name] <= th.loc[name, "upper"], name
    assert "censored below their LLOQ (Beal M3" in population_report([r3], "pop_m3")
    assert "below the LLOQ left out" in population_report([r1], "pop_m3")


def test_unknown_blq_value_is_named(tmp_path):
    with pytest.raises(LeptotwinError) as exc:
        load_experiment_file(write(tmp_path, "m2"))
    assert exc.value.field == "line 17, population.0.blq"
    assert "m1" in str(exc.value) and "m3" in str(exc.value)
