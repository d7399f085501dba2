"""The explorer's views without a server: checks, counterfactuals, bands, downloads, the command
(issue 18)."""

from __future__ import annotations

import socket

import pytest
import yaml

from leptotwin.explore import (
    SpecError,
    compute_view,
    parse_spec,
    protocol_yaml,
    spec_from_protocol,
    view_tables,
)

#: Small patients' view: alectinib with osimertinib, 40 patients, 4 weeks.
PATIENTS = {
    "species": "human",
    "arms": [{"name": "a+o", "regimens": {"alectinib": "600 mg BID", "osimertinib": "80 mg QD"}}],
    "n_per_arm": 40,
    "days": 28,
    "seed": 3,
    "uncertainty": "posterior-median",
}


def test_parse_spec_collects_every_bad_field():
    with pytest.raises(SpecError, match="whole number") as info:
        parse_spec({**PATIENTS, "n_per_arm": 2.5, "seed": -1, "days": 0,
                    "arms": [{"name": "", "regimens": {"alectinib": "600 mg BIDX"}}]})  # fmt: skip
    assert set(info.value.fields) == {"n_per_arm", "seed", "days", "arms.0.name",
                                      "arms.0.regimens.alectinib"}  # fmt: skip
    with pytest.raises(SpecError, match="JSON object"):
        parse_spec([1, 2])
    with pytest.raises(SpecError, match="two arms are called"):
        parse_spec({**PATIENTS, "arms": PATIENTS["arms"] * 2})


def test_route_the_drug_lacks_is_refused():
    with pytest.raises(SpecError, match="no ip route in humans"):
        parse_spec({**PATIENTS, "arms": [{"name": "x", "regimens": {"alectinib": "600 mg ip QD"}}]})


def test_counterfactual_restoring_mir449a_controls_more():
    """miR-449a restored to the parental level silences AREG: control can only improve."""
    base = compute_view(parse_spec(PATIENTS))["arms"][0]["control"]
    restored = compute_view(parse_spec({**PATIENTS, "mir449a_restored": True}))
    assert restored["arms"][0]["control"]["controlled"] >= base["controlled"]
    no_areg = compute_view(parse_spec({**PATIENTS, "no_areg": True}))
    assert no_areg["arms"][0]["control"]["controlled"] >= base["controlled"]


def test_posterior_bands_say_so_and_keep_parameter_sets():
    spec = parse_spec({**PATIENTS, "n_per_arm": 20, "days": 14, "uncertainty": "posterior"})
    view = compute_view(spec)
    assert view["uncertainty"].startswith("posterior x between-subject")
    assert "parameter sets" in view["arms"][0]["control"]["interval"]
    subjects = view_tables(spec)["subjects"]
    assert sorted(subjects["parameter_set"].unique()) == list(range(10))


def test_protocol_of_two_regimens_of_one_drug_gives_each_arm_its_own():
    """Where two arms give one drug two regimens, every arm carries its own regimens (the rest
    list drugs at the protocol's regimens); patients, counterfactuals and posterior bands get
    their protocol keys (tests/test_explore_protocol_views.py runs them through simulate)."""
    assert "species: human" in protocol_yaml(parse_spec(PATIENTS))
    b = {"osimertinib": "5 mg/kg QD", "alectinib": "20 mg/kg QD"}
    mice = {"species": "mouse", "n_per_arm": 3, "days": 35, "arms": [
        {"name": "a", "regimens": {"osimertinib": "25 mg/kg QD"}},
        {"name": "b", "regimens": b}]}  # fmt: skip
    both = yaml.safe_load(protocol_yaml(parse_spec(mice)))
    assert both["explorer"]["arms"] == {
        "a": {"osimertinib": "25 mg/kg QD"},
        "b": {"osimertinib": "5 mg/kg QD", "alectinib": "20 mg/kg QD"},
    }
    assert both["regimens"] == {"osimertinib": "25 mg/kg QD", "alectinib": "20 mg/kg QD"}
    one = protocol_yaml(parse_spec(mice), arm=1)  # one arm: drugs at the protocol's regimens
    assert "osimertinib: 5 mg/kg QD" in one and "--seed 0" in one
    assert yaml.safe_load(one)["explorer"]["arms"] == {"b": ["osimertinib", "alectinib"]}
    restored = protocol_yaml(parse_spec({**mice, "mir449a_restored": True}), arm=0)
    assert "counterfactuals:\n  - mir449a_restored" in restored


def test_shipped_and_unknown_protocols():
    spec = spec_from_protocol("lmc_mouse:combination")
    assert spec["species"] == "mouse" and len(spec["arms"]) == 4
    assert "first 4 of 6 arms" in spec["note"]
    with pytest.raises(SpecError, match="no shipped protocol"):
        spec_from_protocol("../../etc/passwd")


def test_cli_refuses_a_bad_port(run_cli):
    code, _, err = run_cli("explore", "--port", "70000")
    assert code == 2 and "port must be 0 to 65535" in err


def test_cli_port_in_use_is_one_line(run_cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()  # bound and listening: a second bind fails at once (no server starts)
        code, _, err = run_cli("explore", "--port", str(s.getsockname()[1]))
    assert code == 2
    assert err.startswith("leptotwin: error: --port: cannot listen on 127.0.0.1:")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_kaplan_meier_arrays_equal_lifelines():
    """The page's numpy Kaplan-Meier equals lifelines' (leptotwin.analysis.survival) on ties,
    censoring, events at time 0 and curves reaching 0; so does its median."""
    import numpy as np
    import pandas as pd

    from leptotwin.analysis.survival import kaplan_meier, median_survival
    from leptotwin.explore._compute import kaplan_meier_arrays

    rng = np.random.default_rng(18)
    for case in range(15):
        n = int(rng.integers(1, 40))
        t = np.round(rng.exponential(30.0, n), int(case % 2))
        t[: case % 3] = 0.0
        e = rng.random(n) < (1.0 if case % 5 == 0 else rng.random())
        table = pd.DataFrame({"mouse": [f"m{i}" for i in range(n)], "arm": "a",
                              "time_days": t, "event": e.astype(int)})  # fmt: skip
        ref = kaplan_meier(table)
        times, s, lo, hi, median = kaplan_meier_arrays(t, e)
        np.testing.assert_array_equal(times, ref["time_days"])
        np.testing.assert_allclose(s, ref["survival"], rtol=1e-12, atol=0)
        np.testing.assert_allclose(lo, ref["lower"], rtol=1e-10, atol=1e-300)
        np.testing.assert_allclose(hi, ref["upper"], rtol=1e-10, atol=1e-300)
        assert median == median_survival(table)["median_days"].iloc[0]


def test_page_survival_is_the_kaplan_meier_table():
    spec = parse_spec(PATIENTS)
    arm = compute_view(spec)["arms"][0]["survival"]
    table = view_tables(spec)["kaplan_meier"]
    assert arm["t"] == table["time_days"].tolist()
    assert arm["s"] == pytest.approx(table["survival"].tolist(), rel=1e-12)
