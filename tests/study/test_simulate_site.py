"""``leptotwin simulate`` at the subcutaneous site (issue 17): a protocol block with ``site:
subcutaneous`` runs flank xenografts (catalogue block ``sc_mouse``), chunked as at the default
site, with the site's readouts; a caliper calibration's overlay reaches the model; human or
unknown sites are refused in one line; the leptomeningeal tables are what they were."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leptotwin.errors import LeptotwinError
from leptotwin.study.simulate_job import load_experiment, run_simulate_job, simulate_chunks

KP = "sc_mouse.parameters.kp_uu_tumour"
EXAMPLE = Path(__file__).parents[2] / "examples" / "own-lab" / "caliper_protocol.yaml"


def _protocol(tmp_path: Path, name: str = "p.yaml", **block: object) -> Path:
    """A small flank protocol: vehicle and alectinib 20 mg/kg QD, 3 mice each, to day 14."""
    body = {
        "inoculum": "A925LPE3",
        "site": "subcutaneous",
        "mice_per_arm": 3,
        "follow_up_days": 14,
        "observe_days": [7, 10, 14],
        "arms": {"vehicle": {}, "alectinib": {"alectinib": "20 mg/kg QD"}},
    }
    body.update(block)
    body = {k: v for k, v in body.items() if v is not None}
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"regimens": {"alectinib": "20 mg/kg QD"}, "flank": body}))
    return path


def _overlay(tmp_path: Path, kp: float, draws: list[float] | None = None) -> Path:
    doc: dict = {
        "format": "leptotwin catalogue overlay 1",
        "values": {KP: {"value": kp, "unit": "1"}},
    }
    if draws is not None:
        pd.DataFrame({KP: draws}).to_csv(tmp_path / "draws.csv", index=False)
        doc["draws"] = "draws.csv"
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _volumes(obs: pd.DataFrame, arm: str, day: float) -> np.ndarray:
    rows = obs[(obs["arm"] == arm) & (obs["day"] == day)].sort_values("subject")
    return rows["tumor_volume_mm3"].to_numpy()


def test_subcutaneous_protocol_grows_under_vehicle_and_shrinks_under_alectinib(tmp_path):
    paths = run_simulate_job(_protocol(tmp_path), tmp_path / "out")
    obs = pd.read_csv(paths["observations"])
    assert "tumor_volume_mm3" in obs and "interstitial_areg_pg_mL" in obs
    assert "csf_areg_pg_mL" not in obs
    alive = obs[obs["alive"]]
    assert (alive["tumor_volume_mm3"] > 0).all() and (alive["interstitial_areg_pg_mL"] > 0).all()
    assert np.all(_volumes(obs, "vehicle", 14) > 1.5 * _volumes(obs, "vehicle", 7))
    assert np.all(_volumes(obs, "alectinib", 14) < _volumes(obs, "alectinib", 7))
    run = json.loads(paths["run"].read_text())
    assert run["site"] == "subcutaneous"
    assert set(run["readouts"]) >= {"tumor_volume_mm3", "interstitial_areg_pg_mL"}


def test_the_example_protocol_loads():
    exp = load_experiment(EXAMPLE)
    assert exp.site == "subcutaneous" and exp.species == "mouse"
    assert [a.name for a in exp.arms] == ["vehicle", "alectinib_6", "alectinib_20"]


def test_overlay_sc_mouse_value_reaches_the_model(tmp_path):
    """kp_uu_tumour ~0 from an overlay: the alectinib arm grows as vehicle mice do; the vehicle
    arm and the treatment-start volumes are the packaged run's, bit for bit."""
    proto = _protocol(tmp_path)
    packaged = pd.read_csv(run_simulate_job(proto, tmp_path / "a")["observations"])
    ov = _overlay(tmp_path, 1e-9)
    paths = run_simulate_job(proto, tmp_path / "b", catalog_overlay=ov)
    over = pd.read_csv(paths["observations"])
    assert json.loads(paths["run"].read_text())["catalog_overlay"]["values"] == [{KP: 1e-9}]
    veh = packaged["arm"] == "vehicle"
    pd.testing.assert_frame_equal(packaged[veh], over[veh], check_exact=True)
    np.testing.assert_array_equal(
        _volumes(packaged, "alectinib", 7), _volumes(over, "alectinib", 7)
    )
    assert np.all(_volumes(packaged, "alectinib", 14) < _volumes(packaged, "alectinib", 7))
    assert np.all(_volumes(over, "alectinib", 14) > 1.5 * _volumes(over, "alectinib", 7))


def test_overlay_draws_apply_per_draw(tmp_path):
    """Two posterior draws (kp ~0 and the catalogue's 1.0): draw 1 is the packaged run."""
    proto = _protocol(tmp_path)
    packaged = pd.read_csv(run_simulate_job(proto, tmp_path / "a")["observations"])
    ov = _overlay(tmp_path, 0.5, draws=[1e-9, 0.7, 1.0])
    obs = pd.read_csv(
        run_simulate_job(proto, tmp_path / "b", catalog_overlay=ov, overlay_draws=2)["observations"]
    )
    assert sorted(obs["draw"].unique()) == [0, 1]
    last = obs[obs["draw"] == 1].drop(columns="draw").reset_index(drop=True)
    pd.testing.assert_frame_equal(last, packaged, check_exact=True)
    first = obs[obs["draw"] == 0]
    assert np.all(_volumes(first, "alectinib", 14) > 1.5 * _volumes(first, "alectinib", 7))


def test_chunking_does_not_change_the_subcutaneous_cohort():
    exp = load_experiment(EXAMPLE)
    kw = dict(n_per_arm=3, days=14.0, observe_days=(7.0, 14.0), seed=5, inoculum=exp.inoculum)
    opts = dict(site="subcutaneous", counterfactuals=())
    whole = simulate_chunks(exp.arms, chunk_size=100, **kw, **opts)
    pieces = simulate_chunks(exp.arms, chunk_size=2, **kw, **opts)
    for a, b in ((whole.observations, pieces.observations), (whole.survival, pieces.survival)):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert "tumor_volume_mm3" in whole.observations


@pytest.mark.filterwarnings("ignore::DeprecationWarning:distributed")
def test_dask_run_equals_one_process_at_the_subcutaneous_site(tmp_path):
    distributed = pytest.importorskip("distributed")
    proto = _protocol(tmp_path)
    one = run_simulate_job(proto, tmp_path / "one", chunk_size=100)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = run_simulate_job(proto, tmp_path / "dask", chunk_size=2, scheduler=client)
    for name in ("observations", "survival", "subjects"):
        assert one[name].read_bytes() == dask[name].read_bytes(), name
    assert "tumor_volume_mm3" in one["observations"].read_text().splitlines()[0]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {
                "species": "human",
                "patients_per_arm": 2,
                "mice_per_arm": None,
                "inoculum": "A925L/AR",
            },
            "flank.site: the subcutaneous site is a mouse xenograft",
        ),
        ({"site": "flank"}, r"flank.site: Input should be 'leptomeningeal' or 'subcutaneous'"),
    ],
)
def test_refusals_name_file_and_field(tmp_path, run_cli, block, message):
    proto = _protocol(tmp_path, **block)
    with pytest.raises(LeptotwinError, match=message):
        load_experiment(proto)
    code, out, err = run_cli("simulate", str(proto), "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(proto) in lines[0] and "flank.site" in lines[0]
    assert not (tmp_path / "out").exists()


def test_leptomeningeal_tables_unchanged(tmp_path):
    """``site: leptomeningeal`` written out gives the tables of a block without ``site``, byte
    for byte, with the CSF columns and no site in run.json."""
    block = {"site": None, "inoculum": "A925L/AR"}
    plain = run_simulate_job(_protocol(tmp_path, "a.yaml", **block), tmp_path / "a")
    block["site"] = "leptomeningeal"
    named = run_simulate_job(_protocol(tmp_path, "b.yaml", **block), tmp_path / "b")
    for name in ("observations", "survival", "subjects"):
        assert plain[name].read_bytes() == named[name].read_bytes(), name
    obs = pd.read_csv(plain["observations"])
    assert "csf_areg_pg_mL" in obs and "tumor_volume_mm3" not in obs
    run = json.loads(plain["run"].read_text())
    assert "site" not in run and "readouts" not in run


def test_sbml_export_and_the_explorer_refuse_the_subcutaneous_site(tmp_path, run_cli):
    """Both show the leptomeningeal twin only: a flank protocol is refused in one line (they
    would have exported / drawn an LMC cohort)."""
    from leptotwin.explore import spec_from_file
    from leptotwin.explore._spec import SpecError

    path = _protocol(tmp_path)
    code, _, err = run_cli(
        "export-sbml", str(path), "--arm", "vehicle", "--out", str(tmp_path / "x")
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "flank.site" in err and "leptomeningeal" in err and not (tmp_path / "x").exists()
    with pytest.raises(SpecError) as caught:
        spec_from_file(path)
    assert "flank.site" in str(caught.value) and "leptotwin simulate" in str(caught.value)
