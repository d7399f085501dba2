"""``leptotwin calibrate --multistart``: maximum-likelihood starts in lock-step, each start the
result an independent scipy L-BFGS-B run gives, sorted into a waterfall."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.interop.petab import ParameterScale, engine_multistart
from leptotwin.study.calibrate_experiment import ExperimentLogLikelihood
from leptotwin.study.experiment import load_experiment_file
from leptotwin.study.multistart_fit import (
    AT_BEST_NLL,
    fit_multistart,
    waterfall_figure,
    write_multistart,
)

ROOT = Path(__file__).resolve().parents[2]
OWN_LAB = ROOT / "examples" / "own-lab" / "experiment.yaml"
VIABILITY = ROOT / "examples" / "own-lab" / "viability.yaml"
PK_ONLY = ROOT / "examples" / "own-lab" / "pk_only.yaml"
DT_H = 4.0  # calibrate's growth step for the own-lab experiment


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def test_in_vivo_starts_equal_the_engine_multistart(cat):
    """On BLI + PK data the objective is engine_nll to the bit, so each start ends exactly
    where interop.petab.engine_multistart (the pyPESTO benchmark's fit) ends."""
    exp = load_experiment_file(OWN_LAB)
    scale = ParameterScale.of(exp, cat)
    starts = np.random.default_rng(17).uniform(scale.lb, scale.ub, size=(20, 2))[[1, 13, 4]]
    opts = {"maxfun": 60}
    fit = fit_multistart(exp, starts=starts, catalog=cat, dt_h=DT_H, options=opts)
    want, _ = engine_multistart(exp, starts, catalog=cat, dt_h=DT_H, options=opts)
    t = fit.table.sort_values("start")
    for (_, row), res in zip(t.iterrows(), want.results, strict=True):
        assert row["nll"] == res.fun and row["n_evaluations"] == res.nfev
        np.testing.assert_array_equal(row[list(fit.paths)].to_numpy(float), scale.unscale(res.x))
    # sorted best first, ranks 1..S, deltas from the best, at_best by the stated threshold
    assert list(fit.table["rank"]) == [1, 2, 3]
    assert fit.table["nll"].is_monotonic_increasing
    assert fit.table["delta_nll"].iloc[0] == 0.0
    assert list(fit.table["at_best"]) == list(fit.table["delta_nll"] <= AT_BEST_NLL)
    assert fit.best == {p: float(fit.table[p].iloc[0]) for p in fit.paths}
    assert f"{fit.n_at_best} of 3 starts" in fit.line()


def test_in_vitro_starts_equal_independent_scipy_runs(cat):
    """With viability data (scored row by row by ExperimentLogLikelihood) each lock-step start
    equals scipy's L-BFGS-B on the scalar likelihood, one point at a time."""
    exp = load_experiment_file(VIABILITY)
    scale = ParameterScale.of(exp, cat)
    starts = np.random.default_rng(3).uniform(scale.lb, scale.ub, size=(2, len(scale.paths)))
    opts = {"maxfun": 12}
    fit = fit_multistart(exp, starts=starts, catalog=cat, options=opts)
    like = ExperimentLogLikelihood(exp, scale.paths, catalog=cat)

    def nll(x):
        value = -like(scale.unscale(x))
        return value if math.isfinite(value) else math.inf

    t = fit.table.sort_values("start")
    bounds = list(zip(scale.lb, scale.ub, strict=True))
    for x0, (_, row) in zip(starts, t.iterrows(), strict=True):
        res = scipy.optimize.minimize(nll, x0, method="L-BFGS-B", bounds=bounds, options=opts)
        assert row["nll"] == res.fun and row["n_evaluations"] == res.nfev
        np.testing.assert_array_equal(row[list(fit.paths)].to_numpy(float), scale.unscale(res.x))


def test_seeded_starts_and_errors(cat):
    exp = load_experiment_file(OWN_LAB)
    a = fit_multistart(exp, n_starts=2, seed=5, catalog=cat, dt_h=DT_H, options={"maxfun": 5})
    b = fit_multistart(exp, n_starts=2, seed=5, catalog=cat, dt_h=DT_H, options={"maxfun": 5})
    pd.testing.assert_frame_equal(a.table, b.table)
    with pytest.raises(LeptotwinError, match="estimates no catalogue value"):
        fit_multistart(replace(exp, estimate=()), catalog=cat)
    with pytest.raises(LeptotwinError, match="at least one start"):
        fit_multistart(exp, n_starts=0, catalog=cat)
    with pytest.raises(LeptotwinError, match="starts must be"):
        fit_multistart(exp, starts=np.zeros((2, 3)), catalog=cat)


def test_waterfall_and_files(cat, tmp_path):
    exp = load_experiment_file(OWN_LAB)
    scale = ParameterScale.of(exp, cat)
    starts = np.random.default_rng(17).uniform(scale.lb, scale.ub, size=(20, 2))[[1, 13, 4]]
    fit = fit_multistart(exp, starts=starts, catalog=cat, dt_h=DT_H, options={"maxfun": 8})
    files = write_multistart(fit, out_dir=tmp_path)
    back = pd.read_csv(files["multistart"])
    assert list(back["rank"]) == [1, 2, 3] and set(fit.paths) <= set(back.columns)
    root = ET.parse(files["multistart_waterfall"]).getroot()
    circles = [e for e in root.iter() if e.tag.endswith("circle")]
    assert len(circles) == 3  # one marker per start with a finite NLL
    assert "waterfall" in ET.tostring(root, encoding="unicode")
    # a start without a finite likelihood is named in the figure, not drawn
    t = fit.table.copy()
    t.loc[2, ["nll", "delta_nll"]] = math.inf
    t.loc[2, "at_best"] = False
    svg = waterfall_figure(replace(fit, table=t)).to_svg()
    assert svg.count("<circle") == 2 and "1 start(s) without a finite likelihood" in svg
    t.loc[:, ["nll", "delta_nll"]] = math.inf  # no start finite: no best values
    assert all(math.isnan(v) for v in replace(fit, table=t).best.values())


def test_cli_multistart_writes_the_waterfall(tmp_path, run_cli):
    out = tmp_path / "cal"
    code, _, err = run_cli(
        "calibrate", str(PK_ONLY), "--out", str(out), "--multistart", "3",
        "--draws", "40", "--walkers", "8", "--steps", "12", "--burn", "4",
    )  # fmt: skip
    assert code == 0, err
    assert "multistart: best NLL" in err and "of 3 starts" in err
    assert (out / "multistart.csv").is_file() and (out / "multistart_waterfall.svg").is_file()
    assert (out / "overlay.yaml").is_file()  # the posterior is written as without it
    # --force without --multistart: the earlier starts are not left beside the new posterior
    code, _, err = run_cli(
        "calibrate", str(PK_ONLY), "--out", str(out), "--force",
        "--draws", "40", "--walkers", "8", "--steps", "12", "--burn", "4",
    )  # fmt: skip
    assert code == 0, err
    assert not (out / "multistart.csv").exists() and (out / "overlay.yaml").is_file()
