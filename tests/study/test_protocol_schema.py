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
