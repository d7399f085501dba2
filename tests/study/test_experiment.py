"""The experiment file of issue 17 (``experiment.yaml``): what it loads, and bad input named in
one line with file, row and field (item 6), exit status 2 from the command line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study.experiment import load_experiment_file

EXPERIMENT = """\
name: small
model: lmc_mouse
inoculum: A925L/AR
days: 14
arms:
  vehicle:
    regimens: {}
    subjects: [v1, v2]
  osimertinib:
    regimens: {osimertinib: "25 mg/kg QD"}
    subjects: [o1, o2]
data: {bli: bli.csv, pk: pk.csv}
observables:
  total_flux: {unit: p/s, noise: lognormal, sigma: 0.4}
  plasma:osimertinib: {unit: nM, noise: lognormal, sigma: 0.25}
estimate: [pathway.birth_max]
"""

BLI = """\
mouse,arm,day,total_flux_p_s
v1,vehicle,7,2.1e7
v1,vehicle,14,1.1e8
v2,vehicle,7,1.9e7
o1,osimertinib,7,2.0e7
o2,osimertinib,14,9.0e7
"""

PK = """\
subject,time_h,drug,matrix,concentration,unit,lloq
o1,1,osimertinib,plasma,1200,nM,1
o1,24,osimertinib,plasma,0.4,nM,1
o2,4,osimertinib,plasma,2100,nM,
"""


def write(folder: Path, *, yaml: str = EXPERIMENT, bli: str = BLI, pk: str = PK) -> Path:
    (folder / "bli.csv").write_text(bli, encoding="utf-8")
    (folder / "pk.csv").write_text(pk, encoding="utf-8")
    path = folder / "experiment.yaml"
    path.write_text(yaml, encoding="utf-8")
    return path


def test_loads_arms_data_and_times(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    assert [a.name for a in exp.arms] == ["vehicle", "osimertinib"]
    assert exp.subjects == {
        "v1": "vehicle",
        "v2": "vehicle",
        "o1": "osimertinib",
        "o2": "osimertinib",
    }
    m = exp.measurements
    assert (m["observable"] == "total_flux").sum() == 5
    pk = m[m["observable"] == "plasma:osimertinib"]
    # PK times are hours after treatment start (day 7 of the LMC model): + 168 h
    assert pk["time_h"].tolist() == [169.0, 172.0]
    assert exp.n_below_lloq == 1  # 0.4 nM < LLOQ 1 nM is left out
    assert m.loc[m["observable"] == "total_flux", "time_h"].iloc[1] == 14 * 24.0
    assert exp.estimate == ("pathway.birth_max",)


def _pk_with(line: str) -> str:
    return PK + line + "\n"


@pytest.mark.parametrize(
    ("pk", "match"),
    [
        (
            _pk_with("o1,2,osimertinib,csf,3.0,nM,"),
            r"pk\.csv: row 5, matrix/drug: unknown observable \(got 'csf:osimertinib'\)",
        ),
        (
            _pk_with("o1,2,osimertinib,plasma,3.0,ng/mL,"),
            r"pk\.csv: row 5, unit: unit mismatch \(got 'ng/mL'\); expected nM",
        ),
        (
            _pk_with("o2,2,osimertinib,plasma,-3.0,nM,"),
            r"pk\.csv: row 5, concentration: negative concentration",
        ),
        (
            _pk_with("v1,2,osimertinib,plasma,3.0,nM,"),
            r"pk\.csv: row 5, drug: subject has no dose records for this drug",
        ),
        (_pk_with("x9,2,osimertinib,plasma,3.0,nM,"), r"pk\.csv: row 5, subject: .*in no arm"),
        (_pk_with("o1,two,osimertinib,plasma,3.0,nM,"), r"pk\.csv: row 5, time_h: not a number"),
        (_pk_with("o1,0,osimertinib,plasma,3.0,nM,"), r"row 5, time_h: .*after the first dose"),
        ("subject,time_h\n", r"pk\.csv: drug, matrix, concentration, unit, lloq: PK table lacks"),
    ],
    ids=["observable", "unit", "negative", "no-doses", "no-arm", "time", "predose", "columns"],
)
def test_bad_pk_rows_name_file_row_and_field(tmp_path, pk, match):
    with pytest.raises(LeptotwinError, match=match):
        load_experiment_file(write(tmp_path, pk=pk))


def test_bli_mouse_in_another_arm(tmp_path):
    bli = BLI + "v2,osimertinib,14,1e8\n"
    with pytest.raises(LeptotwinError, match=r"bli\.csv: .*arm"):
        load_experiment_file(write(tmp_path, bli=bli))


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("days: 14", "days: 14\ncolour: blue", r"line 5, colour: unknown field"),
        ("plasma:osimertinib: {unit: nM", "brain:osimertinib: {unit: nM", "unknown observable"),
        ("total_flux: {unit: p/s", "total_flux: {unit: RLU", "total_flux.unit: unit mismatch"),
        ('"25 mg/kg QD"', '"25 mg/kg sometimes"', r"arms\.osimertinib\.regimens\.osimertinib"),
        ("estimate: [pathway.birth_max]", "estimate: [pathway.nonsense]", "unknown catalogue"),
        ("model: lmc_mouse", "model: zebrafish", r"line 2, model"),
        ("subjects: [o1, o2]", "subjects: [o1, v1]", r"mouse is in two arms"),
    ],
    ids=["key", "observable", "unit", "regimen", "estimate", "model", "two-arms"],
)
def test_bad_yaml_names_line_and_field(tmp_path, old, new, match):
    assert old in EXPERIMENT
    with pytest.raises(LeptotwinError, match=match):
        load_experiment_file(write(tmp_path, yaml=EXPERIMENT.replace(old, new)))


def test_cli_bad_input_is_one_line_exit_2(tmp_path, run_cli):
    path = write(tmp_path, pk=_pk_with("o2,2,osimertinib,plasma,-3.0,nM,"))
    code, _, err = run_cli("export-petab", str(path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "pk.csv: row 5, concentration" in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_measurement_sources_point_at_rows(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    assert exp.measurements["source"].iloc[0] == "bli.csv:row 2"
    assert isinstance(exp.measurements, pd.DataFrame)
