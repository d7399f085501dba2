"""Calibration targets: the packaged file validates, bad files are refused with file and field,
and the likelihood is what the targets say."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml
from scipy import stats

from leptotwin.calibration.cohort_readouts import COHORT_READOUTS, COHORT_UNITS
from leptotwin.calibration.readouts import READOUTS
from leptotwin.calibration.targets import (
    Target,
    load_targets,
    log_likelihood,
    target_table,
    targets_from_table,
)
from leptotwin.errors import LeptotwinError


@pytest.fixture(scope="module")
def targets():
    return load_targets()


def test_packaged_targets_validate(targets):
    assert len(targets) >= 40
    assert len({t.name for t in targets}) == len(targets)
    cohort = [t for t in targets if t.role == "cohort"]
    assert all(
        t.readout in READOUTS and t.unit == READOUTS[t.readout].unit
        for t in targets
        if t.role != "cohort"
    )
    # C2 and C7 as the study measured them: every C7 arm's group readout, the survival
    # comparison, and C2's three readouts of a group of mice
    assert {t.readout for t in cohort} == set(COHORT_READOUTS)
    assert all(t.unit == COHORT_UNITS[t.readout] for t in cohort)
    used_names = {t.name for t in targets if t.role == "used"}
    assert sum(t.replaces in used_names for t in cohort) == 9
    held = [t for t in targets if t.role == "held_out"]
    assert len(held) >= 3
    # the held-out numbers the brief names: C8, the structural C3 folds, a human CSF ratio
    held_readouts = {t.readout for t in held}
    assert {"C8.erlotinib_lesion_brain", "C8.osimertinib_lesion_brain"} <= held_readouts
    assert {"C3.crizotinib_fold", "C3.ceritinib_fold", "C3.lorlatinib_fold"} <= held_readouts
    assert "PK.human.erlotinib.150_mg_qd.csf_plasma" in held_readouts
    for t in targets:
        assert t.sd > 0 and t.source and (t.kind == "gaussian" or t.low or t.high)
        if t.role == "held_out":
            assert t.note, f"{t.name}: a held-out target says why"
    # every claim's readouts are covered by a used target, except C8 (a prediction)
    used_claims = {c for t in targets if t.role == "used" for c in READOUTS[t.readout].claims}
    assert used_claims == {f"C{i}" for i in range(1, 10)} - {"C8"}


def _write(tmp_path: Path, entries) -> Path:
    p = tmp_path / "targets.yaml"
    p.write_text(yaml.safe_dump({"targets": entries}, allow_unicode=True), encoding="utf-8")
    return p


GOOD = {
    "name": "fold",
    "readout": "C3.alectinib_fold",
    "unit": "1",
    "value": 6.0,
    "error": {"scale": "log", "sd": 0.5},
    "role": "used",
    "source": "Arai 2020 finding: moderate resistance",
}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"readout": "C3.nope"}, "readout", "unknown readout"),
        ({"role": "maybe"}, "role", "unknown role"),
        ({"error": {"scale": "log", "sd": 0.0}}, "error.sd", "not a valid number"),
        ({"error": {"scale": "log", "sd": -1}}, "error.sd", "not a valid number"),
        ({"error": {"scale": "log", "sd": "wide"}}, "error.sd", "not a valid number"),
        ({"error": {"scale": "cubic", "sd": 0.3}}, "error.scale", "unknown error scale"),
        ({"error": {"sd": 0.3}}, "error", "error must be"),
        ({"unit": "nM"}, "unit", "unit differs"),
        ({"value": 0.0}, "value", "not a valid number"),
        ({"kind": "box"}, "kind", "unknown kind"),
        ({"kind": "interval"}, "low/high", "needs low, high"),
        ({"kind": "interval", "low": 10, "high": 3}, "low/high", "below high"),
        ({"low": 3}, "low", "belong to kind: interval"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"source": ""}, "source", "non-empty text"),
        ({"role": "cohort"}, "readout", "unknown cohort readout"),
        ({"replaces": "fold"}, "replaces", "belongs to role: cohort"),
        (
            {"role": "cohort", "readout": "C7.cohort.logrank_p_max", "replaces": "other"},
            "replaces",
            "must name a used target",
        ),
    ],
)
def test_bad_targets_are_refused_with_file_and_field(tmp_path, change, field, message):
    path = _write(tmp_path, [GOOD | change])
    with pytest.raises(LeptotwinError, match=message) as exc:
        load_targets(path)
    assert exc.value.source == str(path)
    assert exc.value.field is not None and exc.value.field.endswith(field)


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(LeptotwinError, match="not found"):
        load_targets(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("targets: []\n")
    with pytest.raises(LeptotwinError, match="no targets"):
        load_targets(empty)
    broken = tmp_path / "broken.yaml"
    broken.write_text("targets: [\n")
    with pytest.raises(LeptotwinError, match="YAML"):
        load_targets(broken)
    missing = {k: v for k, v in GOOD.items() if k != "source"}
    with pytest.raises(LeptotwinError, match="missing key") as exc:
        load_targets(_write(tmp_path, [missing]))
    assert exc.value.field == "targets[0].source"
    with pytest.raises(LeptotwinError, match="used twice"):
        load_targets(_write(tmp_path, [GOOD, GOOD]))


def _centre(t: Target) -> float:
    """The twin value each target favours most: the readout whose expected measurement (the
    readout moved by the chain's offset) is the value, or its interval's centre on the target's
    scale (one-sided: 5 sd inside the bound)."""
    lo, hi, sd = t.low, t.high, t.sd_effective
    if t.kind == "gaussian":
        m = t.value
    elif t.scale == "log":
        if lo is not None and hi is not None:
            m = math.sqrt(lo * hi)
        else:
            m = lo * math.exp(5 * sd) if lo is not None else hi * math.exp(-5 * sd)
    elif lo is not None and hi is not None:
        m = 0.5 * (lo + hi)
    else:
        m = lo + 5 * sd if lo is not None else hi - 5 * sd
    return m * math.exp(-t.chain_offset) if t.scale == "log" else m - t.chain_offset


def test_chain_offset_moves_the_measurement_and_its_sd_widens_the_error():
    """The measurement model f(twin) + offset + e, e ~ N(0, max(sd, chain sd)): against the
    normal CDF by hand."""
    from scipy import stats

    t = Target(
        name="x",
        readout="C7.week4_fold_vehicle",
        value=10.0,
        unit="1",
        scale="log",
        sd=0.2,
        role="used",
        source="s",
        kind="interval",
        low=10.0,
        chain_offset=-0.3,
        chain_sd=0.25,
    )
    assert t.sd_effective == 0.25
    for twin in (5.0, 10.0, 14.0, 30.0):
        u = math.log(twin) - 0.3
        expected = stats.norm.logsf(math.log(10.0), loc=u, scale=0.25)
        assert t.log_likelihood(twin) == pytest.approx(expected, rel=1e-9)
    assert t.z(10.0 * math.exp(0.3)) == 0.0  # the measurement lands on the bound: inside
    assert t.z(10.0) == pytest.approx(-0.3 / 0.25)
    plain = dataclasses.replace(t, chain_offset=0.0, chain_sd=0.0)
    assert plain.log_likelihood(10.0) == pytest.approx(math.log(0.5))


def test_log_likelihood_is_maximal_at_the_targets(targets):
    used = [t for t in targets if t.role == "used"]
    assert len({t.readout for t in used}) == len(used)  # one used target per readout
    best = {t.readout: _centre(t) for t in used}
    top = log_likelihood(best, targets)
    assert -1.0 < top <= 0.0
    for t in used:
        for factor in (1 / 3, 3.0, 0.9, 1.1):
            moved = best | {t.readout: best[t.readout] * factor}
            if moved[t.readout] == best[t.readout]:  # a bound at 0 on a linear scale
                continue
            ll = log_likelihood(moved, targets)
            one_sided_inward = t.kind == "interval" and (t.low is None or t.high is None)
            deeper = moved[t.readout] > best[t.readout]  # a centre below 0 turns the factor
            one_sided_inward = one_sided_inward and deeper == (t.low is not None)
            if one_sided_inward:  # deeper inside a one-sided range: no worse
                assert ll >= top - 1e-12, t.name
            else:
                assert -math.inf < ll < top, t.name


def test_log_likelihood_is_minus_inf_on_nan_and_missing(targets):
    used = [t for t in targets if t.role == "used"]
    values = {t.readout: t.value for t in used}
    first = used[0].readout
    assert log_likelihood(values | {first: math.nan}, used) == -math.inf
    assert log_likelihood({k: v for k, v in values.items() if k != first}, used) == -math.inf
    # held-out targets never count, whatever their readout
    held = next(t for t in targets if t.role == "held_out" and t.readout not in values)
    assert math.isfinite(log_likelihood(values | {held.readout: math.nan}, [*used, held]))


def test_gaussian_and_interval_shapes():
    g = Target("g", "C2.relapse_day", 95.0, "d", "log", 0.25, "used", "s")
    assert g.log_likelihood(95.0) == 0.0
    assert g.error == {"scale": "log", "sd": 0.25}
    assert g.z(95.0 * math.exp(0.5)) == pytest.approx(2.0)
    assert g.log_likelihood(math.inf) == -math.inf
    i = Target(
        "i",
        "C3.alectinib_fold",
        5.5,
        "1",
        "log",
        0.25,
        "used",
        "s",
        kind="interval",
        low=3.0,
        high=10.0,
    )
    # interval-censored: P(low ≤ twin·e^ε ≤ high), ε ~ N(0, 0.25), checked against the normal CDF
    for twin in (1.0, 3.0, 5.5, 9.99, 30.0):
        mass = stats.norm.cdf(math.log(10 / twin) / 0.25) - stats.norm.cdf(
            math.log(3 / twin) / 0.25
        )
        assert i.log_likelihood(twin) == pytest.approx(math.log(mass), rel=1e-9), twin
    assert i.log_likelihood(3.0) == pytest.approx(math.log(0.5), abs=1e-3)  # on a bound: ½
    # far outside, the tail stays finite and accurate (no cancellation to log 0)
    far = i.log_likelihood(10.0 * math.exp(12 * 0.25))
    assert far == pytest.approx(stats.norm.logcdf(-12.0), rel=1e-6)
    assert i.log_likelihood(1e-300) < far
    assert i.z(30.0) == pytest.approx(math.log(3.0) / 0.25)
    assert i.z(1.0) == pytest.approx(-math.log(3.0) / 0.25)
    assert i.log_likelihood(math.inf) == -math.inf and math.isnan(i.z(math.nan))
    one_sided = Target(
        "o",
        "C5.recombinant_areg_fold",
        3.0,
        "1",
        "log",
        0.25,
        "used",
        "s",
        kind="interval",
        low=3.0,
    )
    assert one_sided.log_likelihood(math.inf) == 0.0  # beyond the plates' range is inside
    assert one_sided.log_likelihood(3.0 * math.exp(0.25)) == pytest.approx(
        math.log(stats.norm.cdf(1))
    )
    lin = Target(
        "l",
        "C1.erlotinib_inhibition",
        0.25,
        "1",
        "linear",
        0.05,
        "used",
        "s",
        kind="interval",
        high=0.25,
    )
    assert lin.z(0.35) == pytest.approx(2.0) and lin.z(-0.1) == 0.0
    assert lin.log_likelihood(0.15) == pytest.approx(math.log(stats.norm.cdf(2.0)))


def test_target_table(targets):
    from leptotwin.calibration.readouts import evaluate_readouts
    from leptotwin.catalog import load_catalog

    targets = [t for t in targets if t.role != "cohort"]  # scored on cohorts, not here
    values = evaluate_readouts(load_catalog(), {t.readout for t in targets})
    table = target_table(targets, values)
    assert list(table.columns[:11]) == [
        "name",
        "readout",
        "role",
        "kind",
        "value",
        "low",
        "high",
        "unit",
        "twin",
        "ratio",
        "z",
    ]
    assert len(table) == len(targets)
    row = table.set_index("name").loc["mouse erlotinib 50 mg/kg QD unbound Cmax,ss"]
    assert row["ratio"] == pytest.approx(1.0, abs=0.01) and row["met"]
    # the catalogue meets nearly all of its used targets already (it was hand-calibrated)
    used = table[table["role"] == "used"]
    assert used["met"].mean() >= 0.9
    assert math.isfinite(log_likelihood(values, targets))


def test_a_finished_calibration_s_targets_read_back_score_as_the_sampler_did(tmp_path):
    """targets_from_table: the effective SD (chain SD where larger) and the chain offset of
    each target, as calibration_targets.csv holds them, give the sampler's likelihood."""
    import pandas as pd

    t = Target(
        "combo",
        "C7.week4_fold_alectinib_erlotinib",
        2.0,
        "1",
        "log",
        0.2,
        "used",
        "s",
        kind="interval",
        high=2.0,
        chain_offset=0.15,
        chain_sd=0.3,
    )
    row = {
        "name": t.name,
        "readout": t.readout,
        "role": t.role,
        "kind": t.kind,
        "value": t.value,
        "low": math.nan,
        "high": t.high,
        "unit": t.unit,
        "error_scale": t.scale,
        "error_sd": t.sd_effective,
        "chain_offset": t.chain_offset,
        "source": t.source,
    }
    path = tmp_path / "calibration_targets.csv"
    pd.DataFrame([row]).to_csv(path, index=False)
    (back,) = targets_from_table(path)
    for x in (0.01, 0.5, 1.5, 2.0, 3.0, 30.0):
        assert back.log_likelihood(x) == pytest.approx(t.log_likelihood(x), rel=1e-12)
    pd.DataFrame([{k: v for k, v in row.items() if k != "chain_offset"}]).to_csv(path)
    with pytest.raises(LeptotwinError, match="missing column"):
        targets_from_table(path)
