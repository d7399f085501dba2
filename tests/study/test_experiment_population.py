"""The ``population`` block of an experiment file (issue 17 item 2): what it loads, the dose
records it builds from the arm's regimen, and bad entries named in one line with file, line and
field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leptotwin.calibration.population import PARAMETERS
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.study.experiment import (
    POPULATION_PARAMETERS,
    load_experiment_file,
    population_data,
    population_doses,
)

EXPERIMENT = """\
name: pop
model: lmc_mouse
inoculum: A925L/AR
days: 10
arms:
  osimertinib:
    regimens: {osimertinib: "25 mg/kg QD"}
    subjects: [o1, o2, o3]
data: {pk: pk.csv}
observables:
  plasma:osimertinib: {unit: ng/mL, noise: lognormal, sigma: 0.25}
  csf:osimertinib: {unit: ng/mL, noise: lognormal, sigma: 0.25}
estimate: [osimertinib.pk.mouse.CL]
population:
  - drug: osimertinib
    matrix: plasma
"""

PK = """\
subject,time_h,drug,matrix,concentration,unit,lloq
o1,1,osimertinib,plasma,600,ng/mL,1
o1,25,osimertinib,plasma,300,ng/mL,1
o2,4,osimertinib,plasma,900,ng/mL,
o2,8,osimertinib,plasma,0.5,ng/mL,1
o3,2,osimertinib,plasma,700,ng/mL,
"""


def write(folder: Path, yaml: str = EXPERIMENT, pk: str = PK) -> Path:
    (folder / "pk.csv").write_text(pk, encoding="utf-8")
    path = folder / "experiment.yaml"
    path.write_text(yaml, encoding="utf-8")
    return path


def test_block_parses_with_defaults(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    (entry,) = exp.population
    assert (entry.drug, entry.matrix, entry.omega, entry.error) == (
        "osimertinib",
        "plasma",
        "diagonal",
        "proportional",
    )
    assert entry.random_effects == POPULATION_PARAMETERS == PARAMETERS
    assert entry.stem == "population_osimertinib_plasma"
    assert exp.below_lloq == {"plasma:osimertinib": 1} and exp.n_below_lloq == 1
    full = EXPERIMENT + "    random_effects: [CL, V]\n    omega: full\n    error: combined\n"
    (entry,) = load_experiment_file(write(tmp_path, full)).population
    assert (entry.random_effects, entry.omega, entry.error) == (("CL", "V"), "full", "combined")
    # without a block: nothing to fit
    plain = EXPERIMENT.split("population:")[0]
    assert load_experiment_file(write(tmp_path, plain)).population == ()


def test_dose_records_from_a_mg_per_kg_regimen(tmp_path):
    """25 mg/kg QD from treatment start (day 7), follow-up to day 10: doses at 0, 24, 48 and
    72 h after treatment start, each 25 mg/kg × 0.025 kg (the catalogue's 25 g mouse)."""
    assert load_catalog().quantity("mouse.body_weight").value == 25.0  # g
    exp = load_experiment_file(write(tmp_path))
    doses = population_doses(exp, "osimertinib", ["o1", "o3"])
    assert list(doses.columns) == ["subject", "time_h", "dose_mg"]
    assert list(doses["subject"]) == ["o1"] * 4 + ["o3"] * 4
    np.testing.assert_allclose(doses["time_h"], [0, 24, 48, 72] * 2)
    np.testing.assert_allclose(doses["dose_mg"], 25.0 * 0.025)
    # a window and another amount: 10 mg/kg BID for 2 days from day 2 of treatment
    other = EXPERIMENT.replace('"25 mg/kg QD"', '"10 mg/kg BID from day 2 for 2 days"')
    later = PK.replace(",1,o", ",30,o").replace(",4,o", ",28,o").replace(",2,o", ",26,o")
    exp = load_experiment_file(write(tmp_path, other, later))
    doses = population_doses(exp, "osimertinib", ["o2"])
    np.testing.assert_allclose(doses["time_h"], [24, 36, 48, 60])
    np.testing.assert_allclose(doses["dose_mg"], 0.25)


def test_population_data_keeps_the_pk_clock_and_drops_blq(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    data, doses = population_data(exp, exp.population[0])
    assert list(data["subject"]) == ["o1", "o1", "o2", "o3"]  # o2 at 8 h is below its LLOQ
    np.testing.assert_allclose(data["time_h"], [1, 25, 4, 2])
    np.testing.assert_allclose(data["concentration"], [600, 300, 900, 700])
    assert set(doses["subject"]) == {"o1", "o2", "o3"}


def _with(old: str, new: str) -> str:
    assert old in EXPERIMENT
    return EXPERIMENT.replace(old, new)


@pytest.mark.parametrize(
    ("yaml", "pk", "match"),
    [
        (
            _with("  - drug: osimertinib", "  - drug: gefitinib"),
            PK,
            r"experiment\.yaml: line 15, population\.0\.drug: no plasma PK observable of this "
            r"drug \(got 'gefitinib'\); expected a drug of the PK table, declared under "
            r"observables: osimertinib",
        ),
        (
            _with("matrix: plasma", "matrix: csf"),
            PK,
            r"population\.0\.drug: no csf rows of this drug in the PK table .*expected a "
            r"matrix:drug of the PK table: plasma:osimertinib",
        ),
        (
            _with("matrix: plasma", "matrix: brain"),
            PK,
            r"line 16, population\.0\.matrix: unknown matrix \(got 'brain'\); expected plasma "
            r"or csf",
        ),
        (
            EXPERIMENT + "    random_effects: [CL, Q]\n",
            PK,
            r"population\.0\.random_effects\.1: unknown random effect \(got 'Q'\); expected "
            r"some of CL, V, ka",
        ),
        (EXPERIMENT + "    random_effects: [V, V]\n", PK, r"random_effects\.1: .*given twice"),
        (EXPERIMENT + "    random_effects: []\n", PK, r"population\.0\.random_effects: "),
        (EXPERIMENT + "    omega: block\n", PK, r"population\.0\.omega: .*'diagonal' or 'full'"),
        (EXPERIMENT + "    error: additive\n", PK, r"population\.0\.error: .*'proportional'"),
        (EXPERIMENT + "    method: SAEM\n", PK, r"line 17, population\.0\.method: unknown field"),
        (
            EXPERIMENT + "  - drug: osimertinib\n    matrix: plasma\n",
            PK,
            r"population\.1: a second population fit of the same drug and matrix",
        ),
        (
            _with('"25 mg/kg QD"', '"25 mg/kg QD iv"'),
            PK,
            r"arms\.osimertinib\.regimens\.osimertinib: the population PK model takes oral "
            r"doses only",
        ),
        (
            EXPERIMENT,
            "\n".join(r for r in PK.splitlines() if not r.startswith(("o2", "o3"))) + "\n",
            r"population\.0: a population fit needs PK data of at least two mice",
        ),
    ],
    ids=[
        "drug",
        "no-rows",
        "matrix",
        "random-effect",
        "twice",
        "empty",
        "omega",
        "error",
        "key",
        "duplicate",
        "iv",
        "one-mouse",
    ],
)
def test_bad_block_names_file_line_and_field(tmp_path, yaml, pk, match):
    with pytest.raises(LeptotwinError, match=match):
        load_experiment_file(write(tmp_path, yaml, pk))


def test_metabolite_has_no_dose_records(tmp_path):
    yaml = _with("csf:osimertinib: {unit: ng/mL", "plasma:AZ5104: {unit: ng/mL")
    yaml = yaml.replace("  - drug: osimertinib", "  - drug: AZ5104")
    pk = PK + "o1,2,AZ5104,plasma,30,ng/mL,1\n"
    with pytest.raises(LeptotwinError, match=r"population\.0\.drug: no arm gives this drug"):
        load_experiment_file(write(tmp_path, yaml, pk))


def test_sample_before_the_first_dose_names_the_row(tmp_path):
    """Normal noise lets a 0 h (pre-dose) sample through the loader; the population model's
    concentration is 0 there, so the row is named."""
    yaml = EXPERIMENT.replace(
        "noise: lognormal, sigma: 0.25}\n  csf", "noise: normal, sigma: 5}\n  csf"
    )
    pk = PK + "o3,0,osimertinib,plasma,12,ng/mL,1\n"
    with pytest.raises(LeptotwinError, match=r"pk\.csv: row 7, time_h: a quantified sample at"):
        load_experiment_file(write(tmp_path, yaml, pk))
    pk = PK + "o3,5,osimertinib,plasma,0,ng/mL,\n"
    with pytest.raises(LeptotwinError, match=r"pk\.csv: row 7, concentration: a zero conc"):
        load_experiment_file(write(tmp_path, yaml, pk))
