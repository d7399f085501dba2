"""In-vitro viability data in an experiment file (issue 17 item 1, the in-vitro part).

A ``data: viability:`` table (the toolkit's tidy dose-response table: cell_line, drug, dose in
nM, response in % of vehicle, optional partner) and a ``viability`` observable (normal noise,
sigma in %) calibrate pathway and cell-line values: the model value is the twin's noise-free
72 h culture (``viability_simulation``, :func:`leptotwin.model.culture.grow_culture`), its
negative log-likelihood adds to the in-vivo one. Round trip: virtual viability data drawn from
the twin at a known ``pathway.egfr_weight`` (or ``A925L/AR.mir449a``) with 8 % noise, then a
short calibration whose 95 % interval must cover the truth and be narrower than the prior's.
The PEtab export refuses these data (its one SBML model is the in-vivo twin). These tests
declare ``plate_sigma: 0`` (independent wells); the normalisation error shared by a plate's
wells is tested in ``test_experiment_viability_plate.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration.readouts import CULTURE_DT_H, _invitro
from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop.petab import build_petab, engine_nll
from leptotwin.model.culture import grow_culture
from leptotwin.model.pathway import PathwayModel, cell_state
from leptotwin.study.calibrate_experiment import (
    ExperimentLogLikelihood,
    calibrate_experiment,
    viability_nll,
    viability_simulation,
    virtual_data,
    write_experiment_calibration,
)
from leptotwin.study.experiment import load_experiment_file
from leptotwin.study.sections.viability import load_protocol

EGFR_W = "pathway.egfr_weight"
MIR = "A925L/AR.mir449a"
SIGMA = 8.0
VITRO = f"""\
name: vitro
model: lmc_mouse
data:
  viability: viability.csv
observables:
  viability: {{unit: "%", noise: normal, sigma: {SIGMA}, plate_sigma: 0}}
estimate: [{EGFR_W}]
"""
DOSES = (0, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000)
HEADER = "cell_line,drug,dose,response,partner_drug,partner_conc_nM,plate,replicate"
FAST = dict(n_walkers=8, n_steps=60, burn=20, n_starts=1, draws=200, fit_draws=10)


def _rows() -> list[str]:
    """Alectinib on both lines (triplicates, 10 doses incl. vehicle), and on A925L/AR with
    erlotinib 1000 nM: 68 wells; responses are placeholders (virtual data replace them)."""
    rows = [
        f"{line},alectinib,{d},100,,,P{k + 1},{r + 1}"
        for k, line in enumerate(("A925L/AR", "A925LPE3"))
        for d in DOSES
        for r in range(3)
    ]
    rows += [f"A925L/AR,alectinib,{d},100,erlotinib,1000,P3,1" for d in (0, 10, 100, 1000)]
    return rows


def write(tmp_path: Path, *, yaml: str = VITRO, rows: list[str] | None = None) -> Path:
    (tmp_path / "viability.csv").write_text(
        HEADER + "\n" + "\n".join(_rows() if rows is None else rows) + "\n"
    )
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml)
    return path


def _virtual(tmp_path: Path, truth: dict[str, float], seed: int, yaml: str = VITRO):
    exp = load_experiment_file(write(tmp_path, yaml=yaml))
    return virtual_data(exp, truth, rng=np.random.default_rng(seed))


# --- the model value -------------------------------------------------------------------------


def test_in_vitro_only_experiment_loads(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    assert exp.inoculum is None and exp.days is None and exp.arms == ()
    assert exp.measurements.empty
    v = exp.viability
    assert v is not None and len(v) == 64
    assert v["source"].iloc[0] == "viability.csv:row 2"
    assert v["curve"].iloc[-1] == "A925L/AR | alectinib | + erlotinib 1000 nM"
    assert v["partner_nM"].iloc[-1] == 1000.0


def test_nll_of_three_rows_by_hand(tmp_path):
    """Three wells: their model values grown here with grow_culture beside their vehicle, and
    the normal NLL summed by hand."""
    rows = [
        "A925L/AR,alectinib,100,55.0,,,P1,1",
        "A925LPE3,alectinib,30,40.0,,,P1,1",
        "A925L/AR,alectinib,10,20.0,erlotinib,1000,P1,1",
    ]
    exp = load_experiment_file(write(tmp_path, rows=rows))
    values = {EGFR_W: 5.0}
    cat = load_catalog().with_values(values)
    pm = PathwayModel.from_catalog(cat)
    kw = dict(
        cells0=np.full(2, cat.assay_value("culture", "seeding_cells")),
        volume_mL=cat.assay_value("culture", "medium_volume") * 1e-3,
        hours=72.0,
        dt_h=CULTURE_DT_H,
    )
    expected = []
    for line, conc in (
        ("A925L/AR", {"alectinib": np.array([0.0, 100.0])}),
        ("A925LPE3", {"alectinib": np.array([0.0, 30.0])}),
        ("A925L/AR", {"alectinib": np.array([0.0, 10.0]), "erlotinib": np.array([0, 1000.0])}),
    ):
        live = grow_culture(pm, cell_state(line, catalog=cat), conc, **kw).live_cells
        expected.append(100.0 * live[1] / live[0])
    sim = viability_simulation(exp, values)
    np.testing.assert_allclose(sim["simulation"], expected, rtol=1e-12)
    y = np.array([55.0, 40.0, 20.0])
    hand = sum(
        0.5 * math.log(2 * math.pi * SIGMA**2) + 0.5 * ((yi - hi) / SIGMA) ** 2
        for yi, hi in zip(y, expected, strict=True)
    )
    assert viability_nll(exp, sim) == pytest.approx(hand, rel=1e-12)
    loglik = ExperimentLogLikelihood(exp, [EGFR_W])
    assert loglik(np.array([5.0])) == pytest.approx(-hand, rel=1e-12)


def test_model_value_is_half_at_the_readouts_ic50(tmp_path):
    """The calibration readouts' IC50s (the same culture model) leave 50 % of the vehicle; for
    the erlotinib combination, 50 % of the partner-alone well (the readouts' reference)."""
    ic = _invitro(load_catalog())
    a, p = ic["A925L/AR|alectinib"], ic["A925LPE3|alectinib"]
    c = ic["A925L/AR|alectinib|+erlotinib"]
    fixed = float(load_protocol()["fixed"]["erlotinib"])
    rows = [
        f"A925L/AR,alectinib,{a!r},50,,,P1,1",
        f"A925LPE3,alectinib,{p!r},50,,,P1,1",
        f"A925L/AR,alectinib,{c!r},50,erlotinib,{fixed!r},P1,1",
        f"A925L/AR,alectinib,0,50,erlotinib,{fixed!r},P1,1",
    ]
    sim = viability_simulation(load_experiment_file(write(tmp_path, rows=rows)))["simulation"]
    assert sim.iloc[0] == pytest.approx(50.0, abs=0.05)
    assert sim.iloc[1] == pytest.approx(50.0, abs=0.05)
    assert sim.iloc[2] / sim.iloc[3] == pytest.approx(0.5, abs=5e-4)


def _both(tmp_path: Path) -> Path:
    """An experiment with PK (two mice) and viability data (six wells)."""
    pk = "\n".join(
        f"{m},{t},osimertinib,plasma,{c},nM,"
        for m, c in (("m1", 300.0), ("m2", 250.0))
        for t in (1.0, 4.0)
    )
    (tmp_path / "pk.csv").write_text(
        "subject,time_h,drug,matrix,concentration,unit,lloq\n" + pk + "\n"
    )
    yaml = f"""\
name: both
model: lmc_mouse
inoculum: A925L/AR
days: 10
arms:
  osimertinib:
    regimens: {{osimertinib: "25 mg/kg QD"}}
    subjects: [m1, m2]
data:
  pk: pk.csv
  viability: viability.csv
observables:
  plasma:osimertinib: {{unit: nM, noise: lognormal, sigma: 0.3}}
  viability: {{unit: "%", noise: normal, sigma: {SIGMA}}}
estimate: [{EGFR_W}, osimertinib.pk.mouse.CL]
"""
    return write(tmp_path, yaml=yaml, rows=_rows()[:6])


def test_in_vitro_nll_adds_to_the_in_vivo_one(tmp_path):
    """An experiment with PK and viability data: the log likelihood is minus the sum of the
    engine's in-vivo NLL and the viability NLL."""
    exp = load_experiment_file(_both(tmp_path))
    theta = np.array([5.5, 3.0])
    values = {EGFR_W: 5.5, "osimertinib.pk.mouse.CL": 3.0}
    loglik = ExperimentLogLikelihood(exp, [EGFR_W, "osimertinib.pk.mouse.CL"])
    vivo = engine_nll(exp, values, dt_h=loglik.dt_h)
    vitro = viability_nll(exp, viability_simulation(exp, values))
    assert vivo > 0 and vitro > 0
    assert loglik(theta) == pytest.approx(-(vivo + vitro), rel=1e-12)


def test_example_file_matches_its_truth():
    """examples/own-lab/viability.yaml: its wells (virtual plate reader) scatter around the
    model at the stated truth with about the declared sigma."""
    example = Path(__file__).resolve().parents[2] / "examples" / "own-lab" / "viability.yaml"
    exp = load_experiment_file(example)
    sim = viability_simulation(exp, {EGFR_W: 4.8, MIR: 0.3})
    r = sim["value"] - sim["simulation"]
    assert len(sim) == 120
    assert 4.0 < r.std() < 8.0
    assert abs(r.mean()) < 3.0


# --- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_round_trip_egfr_weight(tmp_path, seed):
    """Virtual data at egfr_weight 4.8 (catalogue 6.1, prior 95 % 4.07-9.15): the posterior's
    95 % interval covers 4.8 and is narrower than the prior's."""
    truth = 4.8
    exp = _virtual(tmp_path, {EGFR_W: truth}, seed)
    res = calibrate_experiment(exp, seed=seed, **FAST)
    r = res.summary.set_index("parameter").loc[EGFR_W]
    assert r.posterior_low < truth < r.posterior_high
    assert r.posterior_high - r.posterior_low < 0.5 * (r.prior_high - r.prior_low)
    assert r.identifiable


def test_round_trip_mir449a(tmp_path):
    """Virtual data at A925L/AR's miR-449a level 0.3 (catalogue 0.2, prior 95 % 0.1-0.4)."""
    truth = 0.3
    yaml = VITRO.replace(f"estimate: [{EGFR_W}]", f"estimate: [{MIR}]")
    exp = _virtual(tmp_path, {MIR: truth}, 4, yaml=yaml)
    res = calibrate_experiment(exp, seed=4, **FAST)
    r = res.summary.set_index("parameter").loc[MIR]
    assert r.posterior_low < truth < r.posterior_high
    assert r.posterior_high - r.posterior_low < r.prior_high - r.prior_low


def test_fits_include_the_viability_data(tmp_path):
    exp = _virtual(tmp_path, {EGFR_W: 4.8}, 5)
    res = calibrate_experiment(exp, seed=5, **{**FAST, "n_steps": 30, "burn": 10})
    paths = write_experiment_calibration(res, tmp_path / "out")
    fits = pd.read_csv(paths["fits"])
    assert len(fits) == 64 and set(fits["observable"]) == {"viability"}
    assert {"cell_line", "drug", "dose_nM", "model_median", "model_low"} <= set(fits.columns)
    assert fits["model_median"].notna().all()
    vehicle = fits[(fits["dose_nM"] == 0) & fits["partner"].isna()]
    np.testing.assert_allclose(vehicle["model_median"], 100.0)
    assert paths["figure"].stat().st_size > 10_000
    assert "n_viability: 64" in (tmp_path / "out" / "overlay.yaml").read_text()


def test_pk_and_viability_together(tmp_path):
    """In-vivo and in-vitro data in one calibration: both in fits.csv and the figure."""
    exp = load_experiment_file(_both(tmp_path))
    res = calibrate_experiment(exp, seed=0, **{**FAST, "n_steps": 30, "burn": 10})
    paths = write_experiment_calibration(res, tmp_path / "out")
    fits = pd.read_csv(paths["fits"])
    assert fits["observable"].value_counts().to_dict() == {"viability": 6, "plasma:osimertinib": 4}
    assert fits["model_median"].notna().all()
    assert paths["figure"].stat().st_size > 10_000


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("H9999,alectinib,10,50,,,P1,1", r"viability.csv: row 6, cell_line: unknown cell line"),
        ("A925L/AR,aspirin,10,50,,,P1,1", r"viability.csv: row 6, drug: unknown drug"),
        ("A925L/AR,alectinib,-1,50,,,P1,1", r"viability.csv: row 6, dose: negative dose"),
        ("A925L/AR,alectinib,10,abc,,,P1,1", r"viability.csv: row 6, response: not a number"),
        ("A925L/AR,alectinib,10,,,,P1,1", r"viability.csv: row 6, response: not a number"),
        ("A925L/AR,alectinib,10,52000,,,P1,1", r"row 6, response: implausible response"),
        ("A925L/AR,alectinib,10,50,aspirin,5,P1,1", r"row 6, partner_drug: unknown drug"),
        ("A925L/AR,alectinib,10,50,erlotinib,-5,P1,1", r"row 6, partner_conc_nM: negative"),
        ("A925L/AR,alectinib,10,50,,5,P1,1", r"row 6, partner_drug: a partner dose without"),
    ],
    ids=[
        "cell-line",
        "drug",
        "negative-dose",
        "text-response",
        "empty-response",
        "raw-signal",
        "partner",
        "partner-dose",
        "dose-without-partner",
    ],
)
def test_bad_rows_name_file_row_and_field(tmp_path, row, match):
    rows = [*_rows()[:4], row]
    with pytest.raises(LeptotwinError, match=match):
        load_experiment_file(write(tmp_path, rows=rows))


@pytest.mark.parametrize("zero", ["", "0", "0.00", "0e0", "nan"])
def test_a_zero_partner_dose_without_a_partner_is_no_partner(tmp_path, zero):
    rows = [*_rows()[:4], f"A925L/AR,alectinib,10,50,,{zero},P1,1"]
    exp = load_experiment_file(write(tmp_path, rows=rows))
    assert not exp.viability["partner"].iloc[-1]  # read as a well without a partner


def test_missing_response_column(tmp_path):
    path = write(tmp_path)
    (tmp_path / "viability.csv").write_text("cell_line,drug,dose\nA925L/AR,alectinib,10\n")
    with pytest.raises(LeptotwinError, match=r"viability.csv: response: missing column"):
        load_experiment_file(path)


def test_unknown_perturbation(tmp_path):
    path = write(tmp_path)
    (tmp_path / "viability.csv").write_text(
        "cell_line,drug,dose,response,perturbation\nA925L/AR,alectinib,10,50,siFOO\n"
    )
    with pytest.raises(LeptotwinError, match=r"row 2, perturbation: unknown perturbation"):
        load_experiment_file(path)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ('unit: "%"', "unit: fraction", r"observables.viability.unit: unit mismatch"),
        ("noise: normal", "noise: lognormal", r"observables.viability.noise: viability takes"),
        (
            "  viability: {unit",
            "  total_flux: {unit: p/s, noise: lognormal, sigma: 0.3}\n  viability: {unit",
            r"inoculum: missing field: the mice of an in-vivo experiment",
        ),
        (
            "observables:\n  viability",
            "observables:\n  other",
            r"unknown observable",
        ),
    ],
    ids=["unit", "noise", "in-vivo-without-mice", "undeclared"],
)
def test_bad_yaml(tmp_path, old, new, match):
    assert old in VITRO
    with pytest.raises(LeptotwinError, match=match):
        load_experiment_file(write(tmp_path, yaml=VITRO.replace(old, new)))


# --- PEtab -----------------------------------------------------------------------------------


def test_petab_export_refuses_viability_data(tmp_path, run_cli):
    exp = load_experiment_file(write(tmp_path))
    with pytest.raises(LeptotwinError, match=r"data.viability: the PEtab export has no in-vitro"):
        build_petab(exp)
    out = tmp_path / "x"
    code, _, err = run_cli("export-petab", str(tmp_path / "experiment.yaml"), "--out", str(out))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "viability" in err
    assert not out.exists()
