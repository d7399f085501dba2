"""A population growth entry with ``observable: tumor_volume`` at the subcutaneous site (issue 17
item 2): virtual caliper volumes of a population with a known typical growth rate per arm and a
known between-mouse SD of the rate, fitted through the experiment file, recover them; the
tables and report are labelled for volume; the entries of the wrong site, ``background_p_s``
and a zero volume are refused in one line; the BLI fit's table keeps its labels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.calibration.population_growth import fit_population_growth
from leptotwin.errors import LeptotwinError
from leptotwin.study.calibrate_experiment import (
    fit_experiment_population,
    population_report,
    population_table,
)
from leptotwin.study.experiment import load_experiment_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own-lab"

# truth, t in days from the treatment start (day 7 after inoculation): ln volume 4.6 (100 mm^3)
# at the origin with between-mouse SD 0.3; rates 0.15 (vehicle) and 0.06 (treated) per day with
# between-mouse SD 0.03 per day; residual SD 0.15 of ln volume (caliper CV ~15 %)
B0, SD_B0 = 4.6, 0.3
RATES = {"vehicle": 0.15, "alectinib": 0.06}
SD_RATE = 0.03
SIGMA = 0.15
DAYS = (7.0, 10.0, 14.0, 17.0, 21.0, 24.0, 28.0)
N_MICE = 20
MICE = {arm: [f"{arm[0]}{i:02d}" for i in range(N_MICE)] for arm in RATES}


def _zero_first(d: pd.DataFrame) -> pd.Series:
    """The volumes with the first row's set to 0 (a non-palpable tumour)."""
    return d["volume_mm3"].where(d.index != 0, 0.0)


def caliper_table(seed: int = 20261208) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for arm, rate in RATES.items():
        for mouse in MICE[arm]:
            b0, b1 = rng.normal(0.0, SD_B0), rng.normal(0.0, SD_RATE)
            for day in DAYS:
                ln = B0 + b0 + (rate + b1) * (day - 7.0) + rng.normal(0.0, SIGMA)
                rows.append((mouse, arm, day, round(math.exp(ln), 6)))
    return pd.DataFrame(rows, columns=["mouse", "arm", "day", "volume_mm3"])


def write(
    folder: Path,
    entry: str = "  - observable: tumor_volume\n",
    *,
    site: str = "subcutaneous",
    noise: str = "lognormal",
    table: pd.DataFrame | None = None,
) -> Path:
    (caliper_table() if table is None else table).to_csv(folder / "caliper.csv", index=False)
    arms = "".join(
        f"  {arm}:\n    regimens: {regimen}\n    subjects: [{', '.join(MICE[arm])}]\n"
        for arm, regimen in (("vehicle", "{}"), ("alectinib", '{alectinib: "6 mg/kg QD"}'))
    )
    if site == "subcutaneous":
        data, observable = (
            "caliper: caliper.csv",
            f"tumor_volume: {{unit: mm^3, noise: {noise}, sigma: 0.2}}",
        )
    else:  # a leptomeningeal file with BLI data (the caliper table's volumes as fluxes)
        (folder / "bli.csv").write_text(
            (caliper_table() if table is None else table)
            .rename(columns={"volume_mm3": "total_flux_p_s"})
            .to_csv(index=False)
        )
        data, observable = "bli: bli.csv", "total_flux: {unit: p/s, noise: lognormal, sigma: 0.5}"
    path = folder / "experiment.yaml"
    path.write_text(
        f"name: caliper_pop\nmodel: lmc_mouse\nsite: {site}\ninoculum: A925LPE3\ndays: 28\n"
        f"arms:\n{arms}data:\n  {data}\nobservables:\n  {observable}\npopulation:\n{entry}",
        encoding="utf-8",
    )
    return path


def test_caliper_population_recovers_rates_and_between_mouse_sd(tmp_path):
    """2 arms x 20 mice x 7 volumes, REML: each arm's typical rate within 10 % of the truth,
    the between-mouse SD of the rate within 30 % (its RSE with 40 mice is ~ 11 % on the SD),
    each inside its 95 % interval; the tables say mm^3 and log volume, not flux."""
    exp = load_experiment_file(write(tmp_path))
    (res,) = fit_experiment_population(exp)
    f = res.fit
    assert f.converged and f.covariance_ok
    assert (f.n_subjects, f.n_observations) == (2 * N_MICE, 2 * N_MICE * len(DAYS))
    theta = f.theta.set_index("parameter")
    for arm, rate in RATES.items():
        r = theta.loc[f"slope_{arm}"]
        assert abs(r.estimate / rate - 1) <= 0.10, (arm, r.estimate)
        assert r.lower <= rate <= r.upper
    om = f.omega.set_index("parameter").loc["omega2_slope"]
    assert abs(math.sqrt(om.estimate) / SD_RATE - 1) <= 0.30, math.sqrt(om.estimate)
    assert om.lower <= SD_RATE**2 <= om.upper
    assert abs(theta.loc["intercept", "estimate"] - B0) <= 0.15

    table = population_table(res)
    assert table.loc[table["parameter"] == "intercept", "unit"].item() == "ln(mm^3)"
    assert table.loc[table["parameter"] == "sigma", "unit"].item() == "ln(mm^3)"
    assert table["background_p_s"].isna().all()
    text = " ".join(table["meaning"]) + "\n".join(population_report([res], exp.name))
    assert "log volume" in text and "flux" not in text
    assert "flux" not in res.line() and "rate of log volume" in res.line()


@pytest.mark.parametrize(
    ("kw", "entry", "match"),
    [
        (
            {"site": "leptomeningeal"},
            "  - observable: tumor_volume\n",
            r"population\.0\.observable: a population growth fit of tumor_volume at site: "
            r"leptomeningeal .*expected observable: total_flux",
        ),
        (
            {},
            "  - observable: total_flux\n",
            r"population\.0\.observable: a population growth fit of total_flux at site: "
            r"subcutaneous .*expected observable: tumor_volume",
        ),
        (
            {},
            "  - observable: tumor_volume\n    background_p_s: 2.0e5\n",
            r"experiment\.yaml: line \d+, population\.0\.background_p_s: background_p_s is a "
            r"BLI floor",
        ),
        (
            {
                "noise": "normal",
                "table": caliper_table().assign(volume_mm3=_zero_first),
            },
            "  - observable: tumor_volume\n",
            r"caliper\.csv: row 2, volume_mm3: a population growth fit of ln volume needs "
            r"volumes > 0",
        ),
    ],
    ids=["volume-at-lmc", "flux-at-sc", "background", "zero-volume"],
)
def test_refusals_are_one_line(tmp_path, kw, entry, match):
    with pytest.raises(LeptotwinError, match=match) as info:
        load_experiment_file(write(tmp_path, entry, **kw))
    assert "\n" not in str(info.value)


def test_bli_example_table_keeps_its_labels_and_values():
    """The BLI entry's population_growth.csv: flux labels and units as before the caliper
    entry, and the values of the estimator called with its defaults (the BLI columns)."""
    exp = load_experiment_file(EXAMPLE / "bli_population.yaml")
    (res,) = fit_experiment_population(exp)
    table = population_table(res)
    assert list(table["unit"]) == ["ln(p/s)", "1/day", "1/day", "ln(p/s)^2", "1/day^2", "ln(p/s)"]
    assert list(table["meaning"]) == [
        "typical ln total flux at the time origin",
        "typical growth rate of ln flux in arm vehicle (doubling time ln 2 / rate)",
        "typical growth rate of ln flux in arm osimertinib (doubling time ln 2 / rate)",
        "between-mouse variance of ln flux at the origin",
        "between-mouse variance of the growth rate",
        "residual SD of ln flux (log-normal measurement error)",
    ]
    direct = fit_population_growth(res.data[["subject", "arm", "time_d", "total_flux_p_s"]])
    expected = pd.concat([direct.theta, direct.omega, direct.sigma])["estimate"].to_numpy()
    np.testing.assert_allclose(table["estimate"].to_numpy(float), expected, rtol=1e-12)
    assert "rate of ln flux" in res.line() and "images" in res.line()


def test_caliper_population_example_fits():
    """examples/own-lab/caliper_population.yaml: both arms' rates and the variances estimated,
    the treated arm slower than vehicle."""
    exp = load_experiment_file(EXAMPLE / "caliper_population.yaml")
    (res,) = fit_experiment_population(exp)
    assert res.fit.converged and res.fit.covariance_ok
    rate = res.fit.theta.set_index("parameter")["estimate"]
    assert 0 < rate["slope_alectinib"] < rate["slope_vehicle"]
