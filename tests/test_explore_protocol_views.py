"""Each explorer view downloads a protocol that ``leptotwin simulate`` reproduces (issue 18).

The patients' view, each counterfactual and every band (posterior median; posterior x
between-subject): the downloaded protocol, run by ``simulate`` with the view's seed, writes the
explorer's observations, survival and subjects tables byte for byte (as the page downloads them:
``to_csv(index=False)``). A protocol with a bad species, counterfactual or parameters key is
refused with one line naming the field (exit 2 from the command line). Small cohorts, two weeks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leptotwin.errors import LeptotwinError
from leptotwin.explore import parse_spec, protocol_yaml, sbml_text, spec_from_file, view_tables
from leptotwin.study.simulate_job import load_experiment, run_simulate_job

_ALEC_OSI = {"alectinib": "600 mg BID", "osimertinib": "80 mg QD"}
#: Two patients' arms, 6 patients each, two weeks of treatment.
PATIENTS = {
    "species": "human",
    "arms": [
        {"name": "alectinib", "regimens": {"alectinib": "600 mg BID"}},
        {"name": "alec + osi", "regimens": _ALEC_OSI},
    ],
    "n_per_arm": 6,
    "days": 14,
    "seed": 3,
    "uncertainty": "between-subject",
}
#: One mouse arm, 4 mice, one week of treatment.
MICE = {
    "species": "mouse",
    "inoculum": "A925L/AR",
    "arms": [
        {
            "name": "alec + osi",
            "regimens": {"alectinib": "20 mg/kg QD", "osimertinib": "25 mg/kg QD"},
        }
    ],
    "n_per_arm": 4,
    "days": 14,
    "seed": 11,
}

VIEWS = {
    "patients": PATIENTS,
    "patients, posterior median": {**PATIENTS, "uncertainty": "posterior-median"},
    "patients, no AREG": {**PATIENTS, "no_areg": True, "uncertainty": "posterior-median"},
    "mice, miR-449a restored": {**MICE, "mir449a_restored": True},
    "mice, no AREG": {**MICE, "no_areg": True},
    "mice, both counterfactuals": {**MICE, "mir449a_restored": True, "no_areg": True},
    "parental mice, posterior median": {
        **MICE,
        "inoculum": "A925LPE3",
        "uncertainty": "posterior-median",
    },
    # the question: one drug at two doses beside each other (each arm its own regimens)
    "patients, osimertinib 80 or 160 mg": {
        **PATIENTS,
        "arms": [
            {"name": "osi 80", "regimens": _ALEC_OSI},
            {"name": "osi 160", "regimens": {**_ALEC_OSI, "osimertinib": "160 mg QD"}},
        ],
    },
    # 12 patients per arm over the explorer's 10 parameter sets
    "patients, posterior x between-subject": {
        **PATIENTS,
        "n_per_arm": 12,
        "uncertainty": "posterior",
    },
}


def _download(spec, folder: Path) -> Path:
    path = folder / "view.yaml"
    path.write_text(protocol_yaml(spec), encoding="utf-8")
    return path


def _same_tables(spec, out: dict[str, Path]) -> None:
    tables = view_tables(spec)
    for name in ("observations", "survival", "subjects"):
        assert tables[name].to_csv(index=False).encode() == out[name].read_bytes(), name


@pytest.mark.parametrize("name", list(VIEWS))
def test_downloaded_protocol_reproduces_the_view(name, tmp_path):
    spec = parse_spec(VIEWS[name])
    proto = _download(spec, tmp_path)
    # chunks across arms (5 of 6 patients), and within a parameter set's subjects (1)
    chunk = 1 if spec.uncertainty == "posterior" else 5
    out = run_simulate_job(proto, tmp_path / "sim", seed=spec.seed, chunk_size=chunk)
    _same_tables(spec, out)
    # the protocol uploaded again is the same view
    again = parse_spec({**spec_from_file(proto), "seed": spec.seed})
    assert again.to_json() == spec.to_json()


def test_patients_protocol_through_the_command_line(tmp_path, run_cli):
    spec = parse_spec({**PATIENTS, "mir449a_restored": True})
    proto = _download(spec, tmp_path)
    text = proto.read_text()
    assert f"--seed {spec.seed}" in text
    block = yaml.safe_load(text)["explorer"]
    assert block["species"] == "human" and block["patients_per_arm"] == 6
    assert block["counterfactuals"] == ["mir449a_restored"] and "parameters" not in block
    out = tmp_path / "sim"
    code, _, err = run_cli("simulate", str(proto), "--seed", str(spec.seed), "--out", str(out))
    assert code == 0, err
    _same_tables(spec, {n: out / f"{n}.csv" for n in ("observations", "survival", "subjects")})


def test_mouse_protocol_without_new_keys():
    """A mouse view on the packaged values without counterfactuals writes the protocol it always
    did (no species, counterfactuals or parameters keys)."""
    block = yaml.safe_load(protocol_yaml(parse_spec(MICE)))["explorer"]
    assert list(block) == ["inoculum", "mice_per_arm", "follow_up_days", "observe_days", "arms"]


def test_posterior_protocol_names_its_parameter_sets(tmp_path):
    spec = parse_spec({**MICE, "uncertainty": "posterior"})
    block = yaml.safe_load(protocol_yaml(spec))["explorer"]
    assert block["parameters"] == "posterior" and block["parameter_sets"] == 10
    exp = load_experiment(_download(spec, tmp_path))
    assert (exp.parameters, exp.parameter_sets) == ("posterior", 10)


_BAD = [
    ("counterfactuals: [mir449a_restored, more_egfr]", "explorer.counterfactuals.1"),
    ("counterfactuals: no_areg", "explorer.counterfactuals"),
    ("species: rat", "explorer.species"),
    ("parameters: posterior-mean", "explorer.parameters"),
    ("parameter_sets: 5", "explorer.parameter_sets"),
]


def _protocol(
    extra: str,
    *,
    species: str = "mouse",
    inoculum: str = "A925L/AR",
    count: str = "mice_per_arm: 3",
    regimen: str = "20 mg/kg QD",
) -> str:
    return (
        f"regimens:\n  alectinib: {regimen}\nexplorer:\n  species: {species}\n"
        f"  inoculum: {inoculum}\n  {count}\n  follow_up_days: 14\n  {extra}\n"
        "  arms:\n    a: [alectinib]\n"
    )


@pytest.mark.parametrize(("extra", "field"), _BAD)
def test_bad_key_is_one_line_naming_the_field(extra, field, tmp_path, run_cli):
    proto = tmp_path / "bad.yaml"
    proto.write_text(_protocol(extra), encoding="utf-8")
    with pytest.raises(LeptotwinError) as info:
        run_simulate_job(proto, tmp_path / "sim")
    assert field in str(info.value) and "\n" not in str(info.value)
    code, _, err = run_cli("simulate", str(proto), "--out", str(tmp_path / "cli"))
    assert code == 2 and field in err and err.strip().count("\n") == 0, err
    assert not (tmp_path / "cli").exists() or not any((tmp_path / "cli").iterdir())


@pytest.mark.parametrize(
    ("kw", "field", "message"),
    [
        (
            {"species": "human", "inoculum": "A925LPE3", "count": "patients_per_arm: 3"},
            "explorer.inoculum",
            "A925L/AR-like",
        ),
        ({"species": "human"}, "explorer.mice_per_arm", "counts patients_per_arm"),
        ({"count": "patients_per_arm: 3"}, "explorer.patients_per_arm", "species: human"),
        # a route alectinib has in mice but not in patients: checked with the block's species
        (
            {"species": "human", "count": "patients_per_arm: 3", "regimen": "600 mg ip QD"},
            "regimens.alectinib",
            "no ip route in humans",
        ),
    ],
)
def test_patients_block_is_checked(kw, field, message, tmp_path):
    proto = tmp_path / "bad.yaml"
    proto.write_text(_protocol("counterfactuals: []", **kw), encoding="utf-8")
    with pytest.raises(LeptotwinError, match=message) as info:
        run_simulate_job(proto, tmp_path / "sim")
    assert field in str(info.value)


def test_overlay_refused_where_the_protocol_sets_the_parameters(tmp_path):
    spec = parse_spec({**MICE, "uncertainty": "posterior-median"})
    with pytest.raises(LeptotwinError, match="sets its own parameters") as info:
        run_simulate_job(
            _download(spec, tmp_path), tmp_path / "sim", catalog_overlay=tmp_path / "x.yaml"
        )
    assert "--catalog-overlay" in str(info.value)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed")
def test_patients_posterior_on_a_cluster_equals_one_process(tmp_path):
    """The species, counterfactuals and parameter sets travel with the chunks: two in-process
    Dask workers, chunks of 3, give the one-process tables."""
    import distributed

    spec = parse_spec({**PATIENTS, "n_per_arm": 12, "uncertainty": "posterior", "no_areg": True})
    proto = _download(spec, tmp_path)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = run_simulate_job(
            proto, tmp_path / "dist", seed=spec.seed, chunk_size=3, scheduler=client
        )
    _same_tables(spec, out)


@pytest.mark.parametrize("name", ["patients, no AREG", "mice, miR-449a restored"])
def test_export_sbml_of_a_downloaded_protocol_is_the_views_subject(name, tmp_path):
    """``leptotwin export-sbml`` honours the protocol's species, counterfactuals and parameters:
    subject 2 of the last arm is the SBML the explorer's own download gives."""
    from leptotwin.study.sbml_job import run_export_sbml

    spec = parse_spec(VIEWS[name])
    proto = _download(spec, tmp_path)
    arm = len(spec.arms) - 1
    path = run_export_sbml(
        proto, arm=spec.arms[arm].name, subject=2, seed=spec.seed, out=tmp_path / "s.xml"
    )
    assert path.read_text(encoding="utf-8") == sbml_text(spec, arm=arm, subject=2)
    plain = parse_spec({**VIEWS[name], "no_areg": False, "mir449a_restored": False})
    assert sbml_text(plain, arm=arm, subject=2) != path.read_text(encoding="utf-8")
