"""Protocol files: the shipped one validates; mistakes name the file, the line and the field."""

from __future__ import annotations

import sys
from importlib import resources

import pandas as pd
import pytest
import yaml

from leptotwin import cli
from leptotwin.errors import LeptotwinError
from leptotwin.study.protocol_schema import validate_protocol

GOOD = """regimens:
  alectinib: "20 mg/kg QD"
combination:
  inoculum: A925L/AR
  mice_per_arm: 4
  follow_up_days: 30
  arms:
    vehicle: []
    alectinib: [alectinib]
"""


def test_shipped_protocol_validates():
    text = (resources.files("leptotwin.study") / "protocols" / "lmc_mouse.yaml").read_text()
    blocks = validate_protocol(yaml.safe_load(text), text, "lmc_mouse.yaml")
    assert {"relapse", "combination"} <= set(blocks)


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        ("mice_per_arm: 4", "mice_per_arm: four", r"line 5, combination.mice_per_arm: .*integer"),
        (
            "mice_per_arm: 4",
            "mice_per_arm: 4\n  colour: red",
            r"line 6, combination.colour: unknown",
        ),
        ("[alectinib]", "[aspirin]", r"line 9, combination.arms.alectinib.0: drug has no regimen"),
        ('"20 mg/kg QD"', '"20 mg/kg QDD"', r"line 2, regimens.alectinib: .*token 'QDD'"),
        ("inoculum: A925L/AR", "inoculum: H3122", r"line 4, combination.inoculum"),
        ("follow_up_days: 30", "follow_up_days: -3", r"line 6, combination.follow_up_days"),
        ("combination:", "combo:\n  x: 1\ncombination:", r"line 3, combo: unknown top-level key"),
        # issue 12: values that used to pass the schema and fail (or overflow) later
        (
            "follow_up_days: 30",
            "follow_up_days: 1e308",
            r"line 6, combination.follow_up_days: Input should be less than or equal to 1095 "
            r"\(got '1e308'\); expected days after inoculation, > 0 and at most 1095 \(3 years",
        ),
        (
            "follow_up_days: 30",
            "follow_up_days: .inf",
            r"line 6, .*follow_up_days: .*less than or equal to 1095 \(got inf\)",
        ),
        ("follow_up_days: 30", "follow_up_days: yes", r"follow_up_days: expected a number, not"),
        ("mice_per_arm: 4", "mice_per_arm: true", r"line 5, combination.mice_per_arm: expected a "),
        ("mice_per_arm: 4", "mice_per_arm: 4.5", r"mice_per_arm: Input should be a valid integer"),
        (
            "follow_up_days: 30",
            "follow_up_days: 30\n  observe_days: [7, .nan]",
            r"line 7, combination.observe_days.1: .*greater than or equal to 0 \(got nan\)",
        ),
        (
            "follow_up_days: 30",
            "follow_up_days: 30\n  observe_days: []",
            r"line 7, combination.observe_days: no observation day given",
        ),
        (
            "follow_up_days: 30",
            "follow_up_days: 30\n  imaging_every_days: 1e-9",
            r"imaging_every_days: Input should be greater than or equal to 0.04166",
        ),
        (
            "follow_up_days: 30",
            "follow_up_days: 30\n  imaging_weeks: 100000000000",
            r"imaging_weeks: Input should be less than or equal to 156",
        ),
        (
            "    vehicle: []\n    alectinib: [alectinib]\n",
            "    {}\n",
            r"line 7, combination.arms: experiment needs at least one arm",
        ),
        (
            '  alectinib: "20 mg/kg QD"',
            '  aspirin: "20 mg/kg QD"',
            r"line 2, regimens.aspirin: unknown drug \(got 'aspirin'\); expected one of alectinib",
        ),
        (
            '  alectinib: "20 mg/kg QD"',
            '  alectinib: "20 mg/kg QD"\n  1: "3 mg QD"',
            r"line 3, regimens.1: a drug name is text \(got 1\)",
        ),
        (
            '"20 mg/kg QD"',
            '"20 mg/kg QD sc"',
            r"line 2, regimens.alectinib: alectinib has no sc route in mice .*one of iv, oral",
        ),
        (
            "  mice_per_arm: 4",
            "  mice_per_arm: 4\n  mice_per_arm: 40",
            r"line 6, combination.mice_per_arm: key given twice in the same mapping",
        ),
        ("    vehicle: []", '    " ": []', r"line 8, combination.arms. : an arm needs a name"),
        # an arm with its own regimens: checked as the protocol's are, named by arm and drug
        (
            "    alectinib: [alectinib]",
            '    low: {alectinib: "5 mg/kg QDD"}',
            r"line 9, combination.arms.low.alectinib: .*token 'QDD'",
        ),
        (
            "    alectinib: [alectinib]",
            '    low: {aspirin: "5 mg/kg QD"}',
            r"line 9, combination.arms.low.aspirin: unknown drug",
        ),
        (
            "    alectinib: [alectinib]",
            "    low: 5",
            r"line 9, combination.arms.low: an arm is a list of drugs .* or a mapping of drugs",
        ),
        (
            "  mice_per_arm: 4\n",
            "  mice_per_arm: 4\n  3: x\n",
            r"line 6, combination.3: Keys should be strings \(got 3\)",
        ),
    ],
)
def test_errors_name_line_and_field(old, new, pattern):
    text = GOOD.replace(old, new, 1)
    with pytest.raises(LeptotwinError, match=pattern):
        validate_protocol(yaml.safe_load(text), text, "my.yaml")


def test_simulate_command_runs_a_user_protocol(monkeypatch, capsys, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    monkeypatch.setattr(
        sys,
        "argv",
        ["leptotwin", "simulate", str(path), "--out", str(tmp_path / "o"), "--seed", "3"],
    )
    with pytest.raises(SystemExit) as exc:
        cli.main()
        raise SystemExit(0)
    assert exc.value.code == 0, capsys.readouterr().err
    surv = pd.read_csv(tmp_path / "o" / "survival.csv")
    assert len(surv) == 8 and set(surv["arm"]) == {"vehicle", "alectinib"}


def test_nested_aliases_are_checked_in_linear_time():
    """A 'billion laughs' file: nine levels of nine aliases each would be 9**9 nodes to walk."""
    import time

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for k in range(1, 10):
        lines.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 9) + "]")
    text = "\n".join(lines) + "\n"
    start = time.perf_counter()
    with pytest.raises(LeptotwinError, match="protocol needs a mapping of regimens"):
        validate_protocol(yaml.safe_load(text), text, "laughs.yaml")
    assert time.perf_counter() - start < 2.0


def test_arms_with_their_own_regimens_give_one_drug_two_doses(tmp_path):
    """An arm may map drugs to its own regimen texts (two doses of one drug side by side); a
    list arm keeps the protocol's regimens."""
    from leptotwin.study.simulate_job import load_experiment

    text = GOOD.replace(
        "    alectinib: [alectinib]",
        '    alectinib: [alectinib]\n    low: {alectinib: "5 mg/kg QD"}',
    )
    path = tmp_path / "two_doses.yaml"
    path.write_text(text)
    exp = load_experiment(path, "combination")
    assert {a.name: dict(a.regimens) for a in exp.arms} == {
        "vehicle": {},
        "alectinib": {"alectinib": "20 mg/kg QD"},
        "low": {"alectinib": "5 mg/kg QD"},
    }
