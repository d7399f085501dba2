"""A ``population`` entry with ``observable: total_flux`` (issue 17 item 2): the population
growth model of an experiment's BLI table through the experiment file and ``leptotwin
calibrate`` (population_growth.csv, its _eta.csv and population.md), the images it leaves
out, and bad entries named in one line. The estimator's bias and coverage over many replicates
are tested in ``tests/calibration/test_population_growth.py``."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study.calibrate_experiment import (
    GrowthPopulationResult,
    fit_experiment_population,
    population_report,
    population_table,
)
from leptotwin.study.experiment import (
    GrowthPopulationEntry,
    load_experiment_file,
    population_growth_data,
)

# truth, t in days from the treatment start (day 7 after inoculation)
B0 = 14.0
RATES = {"vehicle": 0.30, "low": 0.18, "high": 0.06}
OMEGA2 = (0.3, 0.002)
SIGMA = 0.25
DAYS = (7.0, 10.0, 14.0, 17.0, 21.0)
MICE = {arm: [f"{arm[0]}{i:02d}" for i in range(8)] for arm in RATES}
EXPERIMENT = """\
name: growth_pop
model: lmc_mouse
inoculum: A925L/AR
days: 21
arms:
  vehicle:
    regimens: {{}}
    subjects: [{vehicle}]
  low:
    regimens: {{osimertinib: "5 mg/kg QD"}}
    subjects: [{low}]
  high:
    regimens: {{osimertinib: "25 mg/kg QD"}}
    subjects: [{high}]
data: {{bli: bli.csv}}
observables:
  total_flux: {{unit: p/s, noise: lognormal, sigma: 0.5}}
estimate: [pathway.birth_max]
population:
  - observable: total_flux
"""


def bli_table(seed: int = 11, extra_days: tuple[float, ...] = ()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for arm, rate in RATES.items():
        for mouse in MICE[arm]:
            b0, b1 = rng.normal(0.0, np.sqrt(OMEGA2))
            for day in (*extra_days, *DAYS):
                t = day - 7.0
                ln = B0 + b0 + (rate + b1) * t + rng.normal(0.0, SIGMA)
                rows.append((mouse, arm, day, math.exp(ln)))
    return pd.DataFrame(rows, columns=["mouse", "arm", "day", "total_flux_p_s"])


def write(folder: Path, entry: str = "", bli: pd.DataFrame | None = None, **mice) -> Path:
    table = bli_table() if bli is None else bli
    table.to_csv(folder / "bli.csv", index=False)
    names = {arm: ", ".join(mice.get(arm, MICE[arm])) for arm in RATES}
    path = folder / "experiment.yaml"
    path.write_text(EXPERIMENT.format(**names) + entry, encoding="utf-8")
    return path


def test_entry_parses_with_defaults_and_pk_entries_stay(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    assert exp.population == ()
    assert exp.population_growth == (GrowthPopulationEntry(0),)
    (entry,) = exp.population_growth
    assert (entry.omega, entry.estimation, entry.time_origin, entry.background_p_s) == (
        "diagonal",
        "reml",
        "treatment_start",
        None,
    )
    assert entry.stem == "population_growth"
    full = "    omega: full\n    estimation: ml\n    time_origin: first_image\n"
    (entry,) = load_experiment_file(
        write(tmp_path, full + "    background_p_s: 1e5\n")
    ).population_growth
    assert (entry.omega, entry.estimation, entry.time_origin, entry.background_p_s) == (
        "full",
        "ml",
        "first_image",
        1e5,
    )


def test_images_before_the_origin_and_at_the_background_are_left_out(tmp_path):
    """An image on day 4 (before the treatment start, day 7) is left out under the default
    origin and kept (t from day 4) under first_image; images at or below background_p_s are
    left out."""
    bli = bli_table(extra_days=(4.0,))
    exp = load_experiment_file(write(tmp_path, bli=bli))
    data, left = population_growth_data(exp, exp.population_growth[0])
    assert left == {"before_origin": 24, "at_background": 0, "origin_day": 7.0}
    assert len(data) == 24 * 5 and data["time_d"].min() == 0.0
    assert sorted(data["time_d"].unique()) == [0.0, 3.0, 7.0, 10.0, 14.0]
    first = "    time_origin: first_image\n"
    exp = load_experiment_file(write(tmp_path, first, bli=bli))
    data, left = population_growth_data(exp, exp.population_growth[0])
    assert left["before_origin"] == 0 and left["origin_day"] == 4.0 and len(data) == 24 * 6
    floor = float(np.quantile(bli["total_flux_p_s"], 0.1))
    exp = load_experiment_file(write(tmp_path, f"    background_p_s: {floor!r}\n", bli=bli))
    data, left = population_growth_data(exp, exp.population_growth[0])
    at = int(((bli["day"] >= 7) & (bli["total_flux_p_s"] <= floor)).sum())
    assert at > 0 and left["at_background"] == at and len(data) == 24 * 5 - at
    assert (data["total_flux_p_s"] > floor).all()


def test_fit_covers_the_truth_and_writes_the_table(tmp_path):
    exp = load_experiment_file(write(tmp_path))
    (res,) = fit_experiment_population(exp)
    assert isinstance(res, GrowthPopulationResult)
    f = res.fit
    assert f.converged and f.covariance_ok and f.estimation == "reml"
    assert (f.n_subjects, f.n_observations) == (24, 120)
    table = population_table(res)
    t = table.set_index("parameter")
    truth = {
        "intercept": B0,
        **{f"slope_{a}": r for a, r in RATES.items()},
        "omega2_intercept": OMEGA2[0],
        "omega2_slope": OMEGA2[1],
        "sigma": SIGMA,
    }
    for name, value in truth.items():
        assert t.loc[name, "lower"] <= value <= t.loc[name, "upper"], (name, t.loc[name])
    assert list(table["kind"]) == ["theta"] * 4 + ["omega"] * 2 + ["sigma"]
    assert list(table.loc[table["kind"] == "theta", "unit"]) == ["ln(p/s)"] + ["1/day"] * 3
    slope = t.loc["slope_vehicle"]
    assert slope["doubling_time_d"] == pytest.approx(math.log(2) / slope["estimate"])
    assert slope["doubling_lower"] < slope["doubling_time_d"] < slope["doubling_upper"]
    assert (table["n_before_origin"] == 0).all() and (
        table["time_origin"] == "treatment_start"
    ).all()
    assert res.line().startswith("population growth (REML, 24 mice, 120 images)")
    report = population_report([res], "growth_pop")
    assert report.startswith("# Population growth: growth_pop")
    assert "| rate, vehicle |" in report and "REML" in report


@pytest.mark.parametrize(
    ("entry", "mice", "match"),
    [
        (
            "  - observable: plasma:osimertinib\n",
            {},
            r"line 21, population\.1\.observable: unknown observable of a population entry "
            r"\(got 'plasma:osimertinib'\); expected total_flux",
        ),
        ("    error: combined\n", {}, r"population\.0\.error: not a key of a population growth"),
        (
            "  - drug: osimertinib\n    matrix: plasma\n    estimation: ml\n",
            {},
            r"population\.1\.estimation: not a key of a population PK entry",
        ),
        ("  - matrix: plasma\n", {}, r"population\.1\.drug: missing field"),
        ("  - observable: total_flux\n", {}, r"population\.1: a second population growth fit"),
        (
            "",
            {"low": ["l00"]},
            r"arms\.low\.subjects: a population growth fit \(population\[0\]\) needs BLI data of "
            r"at least two mice per arm \(got 'low: 1 mouse",
        ),
        ("    background_p_s: -1\n", {}, r"population\.0\.background_p_s: "),
        ("    estimation: FOCE\n", {}, r"population\.0\.estimation: .*'reml' or 'ml'"),
    ],
    ids=["observable", "pk-key", "growth-key", "no-drug", "twice", "one-mouse", "floor", "est"],
)
def test_bad_entry_names_file_line_and_field(tmp_path, entry, mice, match):
    bli = bli_table()
    for arm, keep in mice.items():
        bli = bli[(bli["arm"] != arm) | bli["mouse"].isin(keep)]
    with pytest.raises(LeptotwinError, match=match):
        load_experiment_file(write(tmp_path, entry, bli=bli, **mice))


def test_an_unknown_observable_without_a_bli_table(tmp_path):
    """The growth entry needs the total_flux observable declared."""
    text = (
        write(tmp_path)
        .read_text()
        .replace(
            "  total_flux: {unit: p/s, noise: lognormal, sigma: 0.5}\n",
            "  plasma:osimertinib: {unit: nM, noise: lognormal, sigma: 0.3}\n",
        )
        .replace("data: {bli: bli.csv}", "data: {pk: pk.csv}")
    )
    (tmp_path / "pk.csv").write_text(
        "subject,time_h,drug,matrix,concentration,unit,lloq\nl00,2,osimertinib,plasma,500,nM,\n"
    )
    (tmp_path / "experiment.yaml").write_text(text)
    with pytest.raises(LeptotwinError, match=r"population\.0\.observable: the BLI observable"):
        load_experiment_file(tmp_path / "experiment.yaml")


def test_cli_round_trip_writes_population_growth(tmp_path, run_cli):
    """A population-only file (no estimate list): the command fits the population growth
    model without the typical-mouse posterior and writes its files."""
    path = write(tmp_path, "    omega: full\n")
    path.write_text(path.read_text().replace("estimate: [pathway.birth_max]\n", ""))
    out = tmp_path / "cal"
    code, stdout, err = run_cli("calibrate", str(path), "--out", str(out))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "population.md",
        "population_growth.csv",
        "population_growth_eta.csv",
    ]
    line = [x for x in stdout.splitlines() if x.startswith("population growth")]
    assert len(line) == 1 and "24 mice, 120 images" in line[0] and "doubling" in line[0]
    table = pd.read_csv(out / "population_growth.csv")
    direct = population_table(fit_experiment_population(load_experiment_file(path))[0])
    direct = pd.read_csv(io.StringIO(direct.to_csv(index=False)))  # as written
    pd.testing.assert_frame_equal(table, direct, check_exact=False, rtol=1e-9)
    assert list(table["parameter"]) == [
        "intercept",
        "slope_vehicle",
        "slope_low",
        "slope_high",
        "omega2_intercept",
        "omega2_slope",
        "omega_intercept_slope",
        "sigma",
    ]
    eta = pd.read_csv(out / "population_growth_eta.csv")
    assert list(eta.columns) == [
        "subject",
        "arm",
        "n_images",
        "eta_intercept",
        "eta_slope",
        "intercept",
        "slope",
    ]
    assert len(eta) == 24
    report = (out / "population.md").read_text()
    assert report.startswith("# Population growth: growth_pop")
    assert "## Population growth (`population_growth.csv`, `population_growth_eta.csv`)" in report


def test_example_fits():
    """examples/own-lab/bli_population.yaml: two arms of three mice, three images each."""
    example = Path(__file__).resolve().parents[2] / "examples" / "own-lab"
    (res,) = fit_experiment_population(load_experiment_file(example / "bli_population.yaml"))
    f = res.fit
    assert f.converged and f.covariance_ok
    assert (f.n_subjects, f.n_observations) == (6, 18)
    rates = f.theta.set_index("parameter")["estimate"]
    assert rates["slope_vehicle"] == pytest.approx(0.277, abs=1e-3)
    assert rates["slope_osimertinib"] == pytest.approx(0.228, abs=1e-3)


def test_petab_export_carries_the_entry(tmp_path, run_cli):
    """export-petab writes the design (growth entry included) into problem.yaml; the problem
    read back fits the same population from measurements.tsv."""
    from leptotwin.interop.petab import read_petab_problem

    path = write(tmp_path, "    estimation: ml\n")
    code, _, err = run_cli("export-petab", str(path), "--out", str(tmp_path / "petab"))
    assert code == 0, err
    back = read_petab_problem(tmp_path / "petab" / "problem.yaml")
    assert back.population_growth == (GrowthPopulationEntry(0, estimation="ml"),)
    direct = population_table(fit_experiment_population(load_experiment_file(path))[0])
    again = population_table(fit_experiment_population(back)[0])
    np.testing.assert_allclose(again["estimate"], direct["estimate"], rtol=1e-8)


def test_pk_and_growth_entries_side_by_side(tmp_path):
    """examples/own-lab/experiment.yaml's data with a PK entry and a growth entry: both fits,
    the PK first; population.md has both sections under one title."""
    example = Path(__file__).resolve().parents[2] / "examples" / "own-lab"
    for name in ("bli.csv", "pk.csv"):
        (tmp_path / name).write_bytes((example / name).read_bytes())
    text = (example / "experiment.yaml").read_text() + (
        "population:\n  - drug: osimertinib\n    matrix: plasma\n    random_effects: [CL]\n"
        "  - observable: total_flux\n"
    )
    (tmp_path / "experiment.yaml").write_text(text)
    exp = load_experiment_file(tmp_path / "experiment.yaml")
    assert [e.index for e in exp.population] == [0]
    assert [e.index for e in exp.population_growth] == [1]
    pk, growth = fit_experiment_population(exp)
    assert isinstance(growth, GrowthPopulationResult) and growth.fit.n_subjects == 6
    assert pk.entry.drug == "osimertinib"
    report = population_report([pk, growth], exp.name)
    heads = [x for x in report.splitlines() if x.startswith("#")]
    assert heads == [
        "# Population PK and growth: own_lab_demo",
        "## osimertinib in plasma (`population_osimertinib_plasma.csv`, "
        "`population_osimertinib_plasma_eta.csv`)",
        "## Population growth (`population_growth.csv`, `population_growth_eta.csv`)",
    ]
