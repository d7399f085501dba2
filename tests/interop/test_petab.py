"""PEtab export of a lab's experiment (issue 17, item 3): the problem passes the ``petab``
linter, and the negative log-likelihood that leptotwin's engine computes equals the one computed
from the written problem by an independent simulator (libRoadRunner, CVODE) with PEtab's own
noise model (``petab.calculate_llh``), to 1e-6 relative."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.interop.petab import (
    build_petab,
    engine_nll,
    engine_simulation,
    simulation_nll,
)
from leptotwin.study.experiment import load_experiment_file

roadrunner = pytest.importorskip("roadrunner")
petab = pytest.importorskip("petab.v1")

EXPERIMENT = """\
name: tiny
model: lmc_mouse
inoculum: A925L/AR
days: 14
arms:
  vehicle: {regimens: {}, subjects: [v1, v2]}
  osimertinib: {regimens: {osimertinib: "25 mg/kg QD"}, subjects: [o1, o2]}
data: {bli: bli.csv, pk: pk.csv}
observables:
  total_flux: {unit: p/s, noise: lognormal, sigma: 0.4}
  plasma:osimertinib: {unit: ng/mL, noise: lognormal, sigma: 0.25}
  csf:osimertinib: {unit: nM, noise: normal, sigma: 2.0}
estimate: [pathway.birth_max, osimertinib.pk.mouse.CL]
"""


def write_tiny(folder: Path, experiment: str = EXPERIMENT) -> Path:
    """Two arms of two mice, BLI on days 7 and 14, osimertinib PK in plasma (ng/mL) and CSF."""
    rng = np.random.default_rng(17)
    rows = []
    for arm, mice in (("vehicle", ("v1", "v2")), ("osimertinib", ("o1", "o2"))):
        for mouse in mice:
            for day, flux in ((7, 2e7), (14, 1.2e8)):
                rows.append((mouse, arm, day, flux * math.exp(0.4 * rng.standard_normal())))
    pd.DataFrame(rows, columns=["mouse", "arm", "day", "total_flux_p_s"]).to_csv(
        folder / "bli.csv", index=False
    )
    pk = []
    for mouse in ("o1", "o2"):
        for t, plasma, csf in ((1.0, 500.0, 4.0), (6.0, 900.0, 12.0), (97.0, 700.0, 9.0)):
            noise = math.exp(0.25 * rng.standard_normal())
            pk.append((mouse, t, "osimertinib", "plasma", plasma * noise, "ng/mL", 1.0))
            pk.append((mouse, t, "osimertinib", "csf", csf + rng.standard_normal(), "nM", ""))
    pd.DataFrame(
        pk, columns=["subject", "time_h", "drug", "matrix", "concentration", "unit", "lloq"]
    ).to_csv(folder / "pk.csv", index=False)
    path = folder / "experiment.yaml"
    path.write_text(experiment, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    exp = load_experiment_file(write_tiny(folder))
    problem = build_petab(exp)
    files = problem.write(folder / "petab")
    return exp, problem, files


def roadrunner_nll(problem_yaml: Path, values: dict[str, float]) -> tuple[float, pd.DataFrame]:
    """-log L of a PEtab problem: libRoadRunner simulates every condition (CVODE, rtol 1e-12),
    observables from the observable table's formulas, PEtab's noise model by
    ``petab.calculate_llh``. ``values``: parameterName (catalogue path) → value."""
    import libsbml
    import sympy as sp

    p = petab.Problem.from_yaml(problem_yaml)
    doc = libsbml.readSBMLFromString(libsbml.writeSBMLToString(p.sbml_document))
    model = doc.getModel()
    par = p.parameter_df
    nominal = {}
    for pid, row in par.iterrows():
        v = values.get(row["parameterName"], row["nominalValue"])
        nominal[pid] = float(v)
        if model.getParameter(pid) is not None:
            model.getParameter(pid).setValue(float(v))
    rr = roadrunner.RoadRunner(libsbml.writeSBMLToString(doc))
    rr.integrator.relative_tolerance = 1e-12
    rr.integrator.absolute_tolerance = 1e-12
    rr.integrator.maximum_num_steps = 1_000_000
    formulas = {o: sp.sympify(f) for o, f in p.observable_df["observableFormula"].items()}
    model_ids = sorted({str(s) for f in formulas.values() for s in f.free_symbols} - set(par.index))
    meas = p.measurement_df
    sim = meas.rename(columns={"measurement": "simulation"}).copy()
    for cid, cond in p.condition_df.iterrows():
        rows = meas.index[meas["simulationConditionId"] == cid]
        rr.resetAll()
        for k, v in cond.drop("conditionName").items():
            rr[k] = float(v)
        times = np.unique(np.concatenate([[0.0], meas.loc[rows, "time"].to_numpy(float)]))
        out = np.asarray(rr.simulate(times=times, selections=["time", *model_ids]))
        at = {t: dict(zip(model_ids, out[i, 1:], strict=True)) for i, t in enumerate(times)}
        for i in rows:
            env = {**nominal, **at[meas.loc[i, "time"]]}
            f = formulas[meas.loc[i, "observableId"]]
            sim.loc[i, "simulation"] = float(f.subs(env))
    return -petab.calculate_llh(meas, sim, p.observable_df, par), sim


def test_problem_passes_the_petab_linter(tiny):
    _, _, files = tiny
    problem = petab.Problem.from_yaml(files["problem"])
    assert petab.lint_problem(problem) is False  # True means errors were found
    assert sorted(problem.x_free_ids) == [
        "theta_osimertinib_pk_mouse_CL",
        "theta_pathway_birth_max",
    ]
    assert list(problem.condition_df.index) == ["vehicle", "osimertinib"]


@pytest.mark.parametrize(
    "values",
    [{}, {"pathway.birth_max": 0.034, "osimertinib.pk.mouse.CL": 2.0}],
    ids=["catalogue", "shifted"],
)
def test_engine_nll_equals_roadrunner_on_the_petab_problem(tiny, values):
    """leptotwin (growth step 1/2 h and 1/4 h, Richardson-extrapolated; closed-form PK) against
    libRoadRunner 2.10 on the exported problem: NLL within 1e-6 relative (seen: ~1e-8), every
    simulated observable within 1e-6 relative."""
    exp, _, files = tiny
    mine = engine_simulation(exp, values, dt_h=0.5)
    theirs, sim = roadrunner_nll(files["problem"], values)
    assert simulation_nll(exp, mine) == pytest.approx(theirs, rel=1e-6)
    np.testing.assert_allclose(
        mine["simulation"].to_numpy(), sim["simulation"].to_numpy(float), rtol=1e-6
    )


def test_estimated_values_move_the_likelihood(tiny):
    """Guards the comparison against a parameter that the export does not wire in."""
    _, _, files = tiny
    a, _ = roadrunner_nll(files["problem"], {})
    b, _ = roadrunner_nll(files["problem"], {"osimertinib.pk.mouse.CL": 2.0})
    assert abs(a - b) > 1.0


def test_priors_come_from_the_catalogue(tiny):
    _, problem, _ = tiny
    par = problem.parameters.set_index("parameterId")
    row = par.loc["theta_pathway_birth_max"]
    assert row["objectivePriorType"] == "logNormal"
    mu, _ = map(float, row["objectivePriorParameters"].split(";"))
    assert mu == pytest.approx(math.log(0.03))  # median = catalogue value
    assert row["lowerBound"] < 0.03 < row["upperBound"]
    assert par.loc["sigma_total_flux", "estimate"] == 0


def test_write_never_overwrites(tiny, tmp_path):
    _, problem, _ = tiny
    problem.write(tmp_path / "out")
    with pytest.raises(LeptotwinError, match="refusing to overwrite"):
        problem.write(tmp_path / "out")
    problem.write(tmp_path / "out", force=True)


def test_engine_nll_refuses_a_step_off_the_bli_grid(tiny):
    exp, _, _ = tiny
    with pytest.raises(LeptotwinError, match="grid"):
        engine_nll(exp, dt_h=10.0)  # 168 h is no multiple of 5 h


def test_a_value_outside_the_model_is_refused(tmp_path):
    text = EXPERIMENT.replace(
        "estimate: [pathway.birth_max, osimertinib.pk.mouse.CL]",
        "estimate: [alectinib.pk.mouse.CL]",
    )
    exp = load_experiment_file(write_tiny(tmp_path, text))
    with pytest.raises(LeptotwinError, match="does not enter the in-vivo model"):
        build_petab(exp)


def test_cli_writes_the_problem(tmp_path, run_cli):
    path = write_tiny(tmp_path)
    code, out, _ = run_cli("export-petab", str(path), "--out", str(tmp_path / "p"))
    assert code == 0, out
    assert (tmp_path / "p" / "problem.yaml").is_file()
    code, _, err = run_cli("export-petab", str(path), "--out", str(tmp_path / "p"))
    assert code == 2 and "refusing to overwrite" in err and len(err.strip().splitlines()) == 1
