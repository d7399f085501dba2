"""Subcutaneous experiments with caliper data (issue 17): the experiment file's site and
``tumor_volume`` observable, their one-line refusals, the engine's likelihood of caliper data
(batched = one at a time), the PEtab export's refusal, and a round trip: virtual caliper data
from known values -> calibrate -> the 95 % interval covers the truth."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop.petab import EngineLikelihood, build_petab, engine_simulation
from leptotwin.study.calibrate_experiment import (
    calibrate_experiment,
    growth_step,
    virtual_data,
)
from leptotwin.study.experiment import load_experiment_file

KP = "sc_mouse.parameters.kp_uu_tumour"
DAYS = (7, 10, 14, 17, 21)
MICE = {"vehicle": ["v1", "v2", "v3"], "alectinib": ["a1", "a2", "a3"]}


def experiment_text(
    site: str = "subcutaneous",
    observable: str = "tumor_volume: {unit: mm^3, noise: lognormal, sigma: 0.2}",
    data: str = "caliper: caliper.csv",
    estimate: str = KP,
) -> str:
    return f"""\
name: tiny_caliper
model: lmc_mouse
site: {site}
inoculum: A925LPE3
days: 21
arms:
  vehicle:
    regimens: {{}}
    subjects: [v1, v2, v3]
  alectinib:
    regimens: {{alectinib: "6 mg/kg QD"}}
    subjects: [a1, a2, a3]
data:
  {data}
observables:
  {observable}
estimate: [{estimate}]
"""


def write(tmp_path: Path, caliper: str | None = None, **kw: str) -> Path:
    if caliper is None:
        rows = [f"{m},{arm},{d},10,8" for arm, mice in MICE.items() for m in mice for d in DAYS]
        caliper = "mouse,arm,day,length_mm,width_mm\n" + "\n".join(rows) + "\n"
    (tmp_path / "caliper.csv").write_text(caliper)
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_text(**kw))
    return path


def test_loads_a_subcutaneous_experiment(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    assert exp.site == "subcutaneous"
    assert exp.observables["tumor_volume"].kind == "caliper"
    m = exp.measurements
    assert len(m) == 6 * len(DAYS) and set(m["observable"]) == {"tumor_volume"}
    np.testing.assert_array_equal(m["value"], 10 * 8**2 / 2)
    np.testing.assert_array_equal(np.unique(m["time_h"]), np.array(DAYS) * 24.0)
    assert m["source"].iloc[0] == "caliper.csv:row 2"
    assert exp.design["site"] == "subcutaneous"


def test_width_above_length_is_noted(tmp_path):
    text = "mouse,day,length_mm,width_mm\nv1,7,10,8\na1,7,5,6\n"
    exp = load_experiment_file(write(tmp_path, caliper=text))
    assert len(exp.caliper_notes) == 1 and "row 3" in exp.caliper_notes[0]
    assert exp.measurements["arm"].tolist() == ["vehicle", "alectinib"]  # from the YAML


@pytest.mark.parametrize(
    ("kw", "message", "field"),
    [
        (
            dict(observable="total_flux: {unit: p/s, noise: lognormal, sigma: 0.3}"),
            "total_flux is the leptomeningeal tumour's observable",
            "observables.total_flux",
        ),
        (
            dict(site="leptomeningeal"),
            "tumor_volume is the subcutaneous tumour's observable",
            "observables.tumor_volume",
        ),
        (
            dict(data="bli: bli.csv"),
            "bli data measure the leptomeningeal tumour",
            "data.bli",
        ),
        (
            dict(observable="tumor_volume: {unit: mL, noise: lognormal, sigma: 0.2}"),
            "unit mismatch",
            "observables.tumor_volume.unit",
        ),
        (dict(site="flank"), "Input should be", "site"),
    ],
)
def test_design_errors_are_one_line(tmp_path, kw, message, field):
    with pytest.raises(LeptotwinError, match=message) as err:
        load_experiment_file(write(tmp_path, **kw))
    assert field in str(err.value.field)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("caliper", "message", "field"),
    [
        ("mouse,day,length_mm,width_mm\nv1,7,10,8\nx9,7,10,8\n", "in no arm", "row 3, mouse"),
        (
            "mouse,arm,day,length_mm,width_mm\nv1,alectinib,7,10,8\n",
            "arm differs",
            "row 2, arm",
        ),
        ("mouse,day,length_mm,width_mm\nv1,7,10,8\nv2,7,-1,8\n", "negative", "row 3, length_mm"),
        ("mouse,day,volume_mm3\nv1,7,0\n", "must be > 0", "row 2, volume_mm3"),
    ],
)
def test_data_errors_name_file_row_and_field(tmp_path, caliper, message, field):
    with pytest.raises(LeptotwinError, match=message) as err:
        load_experiment_file(write(tmp_path, caliper=caliper))
    assert err.value.source == "caliper.csv" and err.value.field == field


def test_caliper_data_need_their_observable(tmp_path):
    """The fix is in the experiment file's observables: the error names the YAML and its
    ``data.caliper`` line, not the CSV."""
    obs = "plasma:alectinib: {unit: nM, noise: lognormal, sigma: 0.2}"
    path = write(tmp_path, observable=obs)
    with pytest.raises(LeptotwinError, match="caliper table has no observable") as err:
        load_experiment_file(path)
    assert err.value.source == str(path)
    assert err.value.field.endswith("data.caliper") and err.value.field.startswith("line ")
    assert err.value.value == "caliper.csv" and "tumor_volume" in err.value.expected


PK_OBS = """tumor_volume: {unit: mm^3, noise: lognormal, sigma: 0.2}
  plasma:alectinib: {unit: nM, noise: lognormal, sigma: 0.2}
  csf:alectinib: {unit: nM, noise: lognormal, sigma: 0.2}"""


def _with_pk(tmp_path: Path, pk: str, population: str = "") -> Path:
    (tmp_path / "pk.csv").write_text(
        "subject,time_h,drug,matrix,concentration,unit,lloq\n" + pk, encoding="utf-8"
    )
    path = write(tmp_path, data="{caliper: caliper.csv, pk: pk.csv}", observable=PK_OBS)
    path.write_text(path.read_text() + population)
    return path


def test_pk_errors_offer_no_burden_observable(tmp_path):
    """The PK observables a PK row or a population entry could name: matrix:drug only, never
    the tumour's volume (nor BLI flux)."""
    path = _with_pk(tmp_path, "a1,2,alectinib,brain,100,nM,1\n")
    with pytest.raises(LeptotwinError, match="unknown observable") as err:
        load_experiment_file(path)
    assert "plasma:alectinib" in err.value.expected and "csf:alectinib" in err.value.expected
    assert "tumor_volume" not in err.value.expected and "total_flux" not in err.value.expected
    pk = "a1,2,alectinib,plasma,100,nM,1\na2,4,alectinib,plasma,90,nM,1\n"
    population = "population:\n  - drug: alectinib\n    matrix: csf\n"
    with pytest.raises(LeptotwinError, match="no csf rows of this drug") as err:
        load_experiment_file(_with_pk(tmp_path, pk, population))
    assert err.value.expected == "a matrix:drug of the PK table: plasma:alectinib"


def test_petab_export_refuses_the_subcutaneous_site(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    with pytest.raises(LeptotwinError, match="leptomeningeal twin") as err:
        build_petab(exp)
    assert err.value.field == "site" and "\n" not in str(err.value)


def test_model_value_is_the_typical_volume_and_batches_agree(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    h = growth_step(exp)
    sim = engine_simulation(exp, dt_h=h)
    v = sim.groupby(["arm", "time_h"])["simulation"].first().unstack("arm")
    assert np.all(np.diff(v["vehicle"].to_numpy()) > 0)
    assert np.all(v["alectinib"].to_numpy()[1:] < v["vehicle"].to_numpy()[1:])
    # the volume at the first caliper day is the engrafted inoculum grown a week, in mm^3
    rho = load_catalog().in_vivo_value("sc_mouse", "cell_density")
    inoculum = load_catalog().in_vivo_value("sc_mouse", "inoculum_cells")
    assert inoculum / rho < v["vehicle"].iloc[0] < 50 * inoculum / rho
    el = EngineLikelihood(exp, dt_h=h)
    assert el.batched
    th = np.array([[0.5], [1.0], [1.7]])
    one = [EngineLikelihood(exp, dt_h=h)(row[None, :])[0] for row in th]  # one set per pass
    np.testing.assert_array_equal(el(th), one)
    assert el(th)[0] != el(th)[1]  # Kp,uu moves the likelihood


def test_round_trip_interval_covers_the_truth(tmp_path):
    """Virtual caliper data at Kp,uu,tumour 0.6 (catalogue 1.0) -> calibrate (short chain)."""
    exp = load_experiment_file(write(tmp_path))
    truth = {KP: 0.6}
    virtual = virtual_data(exp, truth, rng=np.random.default_rng(3))
    res = calibrate_experiment(
        virtual, seed=1, n_walkers=8, n_steps=60, burn=20, n_starts=1, draws=200, fit_draws=0
    )
    draws = res.sample.draws[KP].to_numpy()
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert lo < truth[KP] < hi
    assert hi - lo < 0.5  # the data inform it (prior 95 %: 0.5-2.0)


def test_a_caliper_time_off_the_engine_grid_is_named(tmp_path):
    text = "mouse,day,length_mm,width_mm\nv1,7,10,8\nv1,7.001,10,8\n"
    exp = load_experiment_file(write(tmp_path, caliper=text))
    with pytest.raises(LeptotwinError, match="a caliper time off") as err:
        growth_step(exp)
    assert err.value.source == "caliper.csv:row 3"


def test_the_example_is_what_make_caliper_writes_and_loads():
    """examples/own-lab/caliper.csv is make_caliper.py's output (to the 0.1 mm it rounds to),
    and caliper.yaml loads it: a subcutaneous experiment estimating the values the script
    states as its truth."""
    folder = Path(__file__).resolve().parents[2] / "examples" / "own-lab"
    spec = importlib.util.spec_from_file_location("make_caliper", folder / "make_caliper.py")
    maker = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(maker)  # type: ignore[union-attr]
    got = maker.caliper_table().reset_index(drop=True)
    want = pd.read_csv(folder / "caliper.csv")
    assert list(got.columns) == list(want.columns)
    assert got[["mouse", "arm"]].equals(want[["mouse", "arm"]])
    np.testing.assert_allclose(got[["day", "length_mm", "width_mm"]], want.iloc[:, 2:], atol=1e-9)
    exp = load_experiment_file(folder / "caliper.yaml")
    assert exp.site == "subcutaneous" and set(exp.estimate) == set(maker.TRUTH)
    assert len(exp.measurements) == len(want)
