"""Second bypass receptors (MET/HGF, HER3/NRG1, ...): optional, in vitro only, and without one the
pathway is bit-identical to the AREG→EGFR model (docs/model.md §2, "Other bypass receptors").

The MET numbers come from the SYNTHETIC example examples/bypass-met/bypass.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from leptotwin.catalog import load_catalog, uncertain_parameters
from leptotwin.errors import LeptotwinError
from leptotwin.model.culture import absolute_ic50
from leptotwin.model.pathway import PathwayModel, cell_state
from leptotwin.model.tumor import clone_rates, default_clones

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bypass-met" / "bypass.yaml"
CAT = load_catalog()
MET_CAT = CAT.with_bypass(EXAMPLE)
NO_HGF_CAT = MET_CAT.with_values({"bypass.MET.ligand_medium": 0.0})
MODEL = PathwayModel.from_catalog(CAT)
MET = PathwayModel.from_catalog(MET_CAT)
CULTURE = dict(
    cells0=CAT.assay_value("culture", "seeding_cells"),
    volume_mL=CAT.assay_value("culture", "medium_volume") * 1e-3,
)
PARENTAL = "A925LPE3"


def ic50(cat, drug="alectinib", line=PARENTAL, **kw):
    model = PathwayModel.from_catalog(cat)
    return absolute_ic50(model, cell_state(line, catalog=cat), drug, **CULTURE, **kw)


@pytest.fixture(scope="module")
def base_ic50():
    return ic50(CAT)


@pytest.fixture(scope="module")
def met_data():
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _reference_signals(pm, state, conc, areg_bulk):
    """The signalling of pathway.py before bypass receptors existed, operation by operation."""
    alk_sum, tki_sum, ab_sum = 0.0, 0.0, 0.0
    for drug, c in conc.items():
        c = np.asarray(c, dtype=float)
        if drug in pm.alk_k_nM:
            alk_sum = alk_sum + c / pm.alk_k_nM[drug]
        elif drug in pm.egfr_tki_k_nM:
            tki_sum = tki_sum + c / pm.egfr_tki_k_nM[drug]
        elif drug in pm.antibody_k_nM:
            ab_sum = ab_sum + c / pm.antibody_k_nM[drug]
    sigma = pm.areg_secretion_max * state.areg_scale / (1.0 + state.mir449a / pm.mir449a_km)
    alk = state.alk_fusion / (1.0 + np.asarray(alk_sum))
    ligand = np.asarray(areg_bulk, dtype=float) + pm.autocrine_gain * sigma
    occupancy = ligand / (ligand + pm.areg_kd_nM * (1.0 + np.asarray(ab_sum)))
    egfr = state.egfr_total * pm.areg_efficacy * occupancy / (1.0 + np.asarray(tki_sum))
    signal = alk + pm.egfr_weight * egfr
    s_n = np.asarray(signal, dtype=float) ** pm.signal_hill
    kb = pm.birth_half_signal**pm.signal_hill
    kd = pm.death_half_signal**pm.signal_hill
    birth = pm.birth_max * s_n / (s_n + kb)
    death = pm.death_min + (pm.death_max - pm.death_min) * kd / (s_n + kd)
    return alk, egfr, occupancy, ligand, signal, birth, death


STATES = [
    (PARENTAL, ()),
    ("A925L/AR", ()),
    ("A925L/AR", ("siAREG",)),
    ("A925L/AR", ("siEGFR",)),
    ("A925L/AR", ("miR-449a mimic",)),
    (PARENTAL, ("siControl",)),
]
GRID = [
    {
        "alectinib": np.logspace(-2, 4, 13)[:, None, None],
        "erlotinib": np.logspace(-1, 4, 6)[None, :, None],
    },
    {
        "crizotinib": np.logspace(-2, 4, 13)[:, None, None],
        "cetuximab": np.logspace(-3, 2, 6)[None, :, None],
    },
    {
        "lorlatinib": np.logspace(-2, 3, 7)[:, None, None],
        "osimertinib": np.logspace(0, 4, 5)[None, :, None],
        "gefitinib": 30.0,
    },
    {},
]
AREG = np.concatenate([[0.0], np.logspace(-3, 2, 6)])[None, None, :]


# --- default behaviour unchanged ------------------------------------------------------------------


def test_packaged_catalogue_declares_no_bypass():
    assert CAT.bypass == {}
    assert MODEL.bypass == ()
    assert cell_state(PARENTAL).bypass is None
    assert not any(p.startswith("bypass.") for p in CAT.table()["path"])
    assert MODEL.drugs == set(CAT.drugs)  # every catalogue drug, nothing added


@pytest.mark.parametrize(("line", "perts"), STATES)
@pytest.mark.parametrize(
    "conc", GRID, ids=["alectinib-erlotinib", "crizotinib-cetuximab", "lorlatinib-mix", "none"]
)
def test_default_signals_bit_identical_to_the_model_without_bypass(line, perts, conc):
    state = cell_state(line, perts)
    sig = MODEL.signals(state, conc, areg_bulk_nM=AREG)
    ref = _reference_signals(MODEL, state, conc, AREG)
    got = (sig.alk, sig.egfr, sig.egfr_occupancy, sig.ligand_nM, sig.signal, sig.birth_per_h)
    for a, b in zip((*got, sig.death_per_h), ref, strict=True):
        a, b = np.broadcast_arrays(a, b)
        assert np.array_equal(a, b)  # bit for bit, not approx
    assert sig.bypass == {}


def test_default_rates_bit_identical_on_a_signal_grid():
    s = np.concatenate([[0.0], np.logspace(-4, 1, 200)])
    birth, death = MODEL.rates(s)
    s_n = s**MODEL.signal_hill
    kb, kd = MODEL.birth_half_signal**MODEL.signal_hill, MODEL.death_half_signal**MODEL.signal_hill
    assert np.array_equal(birth, MODEL.birth_max * s_n / (s_n + kb))
    assert np.array_equal(
        death, MODEL.death_min + (MODEL.death_max - MODEL.death_min) * kd / (s_n + kd)
    )


def test_bypass_ligand_argument_refused_without_a_declared_bypass():
    with pytest.raises(LeptotwinError, match="no such bypass receptor") as exc:
        MODEL.signals(cell_state(PARENTAL), bypass_ligand_nM={"MET": 1.0})
    assert exc.value.field == "bypass_ligand_nM"


# --- the MET/HGF example --------------------------------------------------------------------------


def test_example_declares_met_with_hgf_and_its_inhibitors():
    (met,) = MET.bypass
    assert (met.name, met.ligand) == ("MET", "HGF")
    assert met.ligand_medium_nM == pytest.approx(50 / 85)  # 50 ng/mL of an 85 kDa ligand
    # crizotinib is the catalogue's ALK TKI and also a MET inhibitor; capmatinib is a compound
    # of the bypass block (no PK), its nominal K of 1 nM made free by its medium binding
    assert set(met.inhibitor_k_nM) == {"crizotinib", "capmatinib"}
    assert "crizotinib" in MET.alk_k_nM
    fu_med = 1.0 / (1.0 + (1.0 / 0.04 - 1.0) * CAT.assay_value("culture", "serum_fraction"))
    assert met.inhibitor_k_nM["capmatinib"] == pytest.approx(1.0 * fu_med)
    assert MET.drugs == set(CAT.drugs) | {"capmatinib"}
    assert cell_state(PARENTAL, catalog=MET_CAT).bypass == (("MET", 1.0, 0.0),)


def test_met_activity_follows_hgf_and_its_inhibitors():
    state = cell_state(PARENTAL, catalog=MET_CAT)
    hgf = np.array([0.0, 0.1, 1.0])  # nM; Kd 0.1 nM
    x = MET.signals(state, bypass_ligand_nM={"MET": hgf}).bypass["MET"]
    np.testing.assert_allclose(x, [0.0, 0.5, 1.0 / 1.1])
    k = MET.bypass[0].inhibitor_k_nM["capmatinib"]
    x_cap = MET.signals(state, {"capmatinib": 9 * k}, bypass_ligand_nM={"MET": 0.1}).bypass["MET"]
    assert x_cap == pytest.approx(0.05)
    sig_erl = MET.signals(state, {"erlotinib": 1e4}, bypass_ligand_nM={"MET": 0.1})
    assert sig_erl.bypass["MET"] == pytest.approx(0.5)  # EGFR TKIs leave MET alone


def test_hgf_raises_alectinib_ic50_at_least_threefold(base_ic50):
    assert ic50(MET_CAT) / base_ic50 >= 3.0


def test_met_tki_restores_alectinib_within_twofold(base_ic50):
    with_hgf = ic50(MET_CAT, fixed_nM={"capmatinib": 100.0})
    assert with_hgf / base_ic50 <= 2.0


def test_egfr_tki_does_not_restore(base_ic50):
    shifted = ic50(MET_CAT) / base_ic50
    erl = ic50(MET_CAT, fixed_nM={"erlotinib": 1000.0})
    erl_no_hgf = ic50(NO_HGF_CAT, fixed_nM={"erlotinib": 1000.0})
    assert erl / base_ic50 > 2.0  # not restored
    assert erl / erl_no_hgf >= 0.5 * shifted  # HGF's shift survives the EGFR block


def test_crizotinib_escapes_hgf_because_it_blocks_met_too():
    # Kogita 2015: HGF makes ALK+ cells resistant to alectinib, not to crizotinib
    assert ic50(MET_CAT, "crizotinib") / ic50(CAT, "crizotinib") < 1.5


def test_counterfactual_without_the_ligand_no_resistance(base_ic50):
    assert ic50(NO_HGF_CAT) == pytest.approx(base_ic50, rel=1e-12)
    no_receptor = MET_CAT.with_values({"bypass.MET.cell_lines.A925LPE3.receptor": 0.0})
    assert ic50(no_receptor) == pytest.approx(base_ic50, rel=1e-12)
    # and the signals themselves are the default ones, bit for bit
    conc = GRID[0]
    state = cell_state(PARENTAL, catalog=NO_HGF_CAT)
    a = PathwayModel.from_catalog(NO_HGF_CAT).signals(state, conc, areg_bulk_nM=AREG)
    b = MODEL.signals(cell_state(PARENTAL), conc, areg_bulk_nM=AREG)
    assert np.array_equal(a.signal, b.signal) and np.array_equal(a.death_per_h, b.death_per_h)


def test_state_without_bypass_levels_refused():
    with pytest.raises(LeptotwinError, match="no bypass receptor levels") as exc:
        MET.signals(cell_state(PARENTAL), {"alectinib": 1.0})
    assert exc.value.field == "state.bypass"


def test_bypass_values_are_catalogue_values():
    table = MET_CAT.table()
    paths = set(table["path"])
    assert {"bypass.MET.weight", "bypass.MET.inhibitors.capmatinib.k"} <= paths
    assert MET_CAT.quantity("bypass.MET.ligand_kd").unit == "nM"
    moved = MET_CAT.with_values({"bypass.MET.weight": 0.2})
    assert PathwayModel.from_catalog(moved).bypass[0].weight == 0.2
    assert "bypass.MET.weight" in set(uncertain_parameters(MET_CAT)["path"])
    with pytest.raises(LeptotwinError, match="ligand_medium"):
        PathwayModel.from_catalog(MET_CAT.with_values({"bypass.MET.ligand_medium": -1.0}))


def test_bypass_file_in_a_catalogue_folder(tmp_path):
    folder = tmp_path / "catalog"
    shutil.copytree(Path(CAT.files["drugs"]).parent, folder)
    (folder / "posterior.yaml").unlink(missing_ok=True)
    shutil.copy(EXAMPLE, folder / "bypass.yaml")
    cat = load_catalog(folder)
    assert set(cat.bypass) == {"MET"}
    assert PathwayModel.from_catalog(cat).bypass == MET.bypass


def test_virtual_plate_carries_the_bypass():
    from leptotwin.assays.viability import simulate_viability

    wells = [
        ("vehicle", "", 0.0, "", 0.0),
        ("sample", "alectinib", 100.0, "", 0.0),
        ("sample", "alectinib", 100.0, "capmatinib", 100.0),
    ]
    layout = pd.DataFrame(
        [
            dict(
                plate="P1",
                well=f"B{i + 2}",
                role=r,
                cell_line=PARENTAL,
                perturbation="",
                drug_a=a,
                conc_a_nM=ca,
                drug_b=b,
                conc_b_nM=cb,
            )
            for i, (r, a, ca, b, cb) in enumerate(wells)
        ]
    )
    live = {}
    for name, cat in (("no HGF", NO_HGF_CAT), ("HGF", MET_CAT)):
        out = simulate_viability(layout, rng=np.random.default_rng(1), catalog=cat)
        live[name] = out["true_live_cells"].to_numpy() / out["true_live_cells"].iloc[0]
    assert live["HGF"][1] > 2 * live["no HGF"][1]  # HGF rescues alectinib-treated wells
    assert live["HGF"][2] == pytest.approx(live["no HGF"][2], rel=0.15)  # capmatinib undoes it


# --- in vivo refuses a bypass ---------------------------------------------------------------------


def test_in_vivo_tumour_refuses_a_bypass():
    clones = default_clones(MET_CAT)
    with pytest.raises(LeptotwinError, match="in-vivo tumour model has no bypass") as exc:
        clone_rates(MET, clones, {"alectinib": np.zeros(2)}, np.zeros(2))
    assert exc.value.field == "bypass" and exc.value.value == "MET"
    b, d = clone_rates(MODEL, default_clones(CAT), {"alectinib": np.zeros(2)}, np.zeros(2))
    assert b.shape == d.shape == (2, 2)


def test_sbml_export_refuses_a_bypass():
    pytest.importorskip("libsbml")
    from leptotwin.interop.sbml import export_sbml
    from leptotwin.model.cohort import Arm

    with pytest.raises(LeptotwinError, match="SBML export .* no bypass"):
        export_sbml(Arm("vehicle", {}), days=1.0, catalog=MET_CAT)


# --- a bad bypass block is refused, naming the field ---------------------------------------------


def _bad(met_data, edit):
    data = yaml.safe_load(yaml.safe_dump(met_data))
    edit(data["MET"])
    with pytest.raises(LeptotwinError) as exc:
        CAT.with_bypass(data)
    return exc.value


def test_unknown_drug_named(met_data):
    def edit(m):
        m["inhibitors"]["tepotinib"] = {"k": {"value": 2, "unit": "nM", "source": "a paper"}}

    err = _bad(met_data, edit)
    assert err.field == "MET.inhibitors.tepotinib"
    assert "unknown drug" in str(err) and "fu_plasma" in str(err)


def test_catalogue_drug_must_not_redeclare_binding(met_data):
    def edit(m):
        m["inhibitors"]["crizotinib"]["fu_plasma"] = {"value": 0.1, "unit": "1", "source": "x y z"}

    assert _bad(met_data, edit).field == "MET.inhibitors.crizotinib"


def test_negative_kd_named(met_data):
    def edit(m):
        m["ligand_kd"] = {"value": -0.1, "unit": "nM", "source": "a paper"}

    err = _bad(met_data, edit)
    assert err.field == "MET.ligand_kd.value" and "out of range" in str(err)


@pytest.mark.parametrize("key", ["unit", "source"])
def test_missing_unit_or_source_named(met_data, key):
    def edit(m):
        del m["weight"][key]

    err = _bad(met_data, edit)
    assert err.field == f"MET.weight.{key}" and "missing" in str(err)


def test_wrong_unit_named(met_data):
    def edit(m):
        m["ligand_kd"]["unit"] = "1"

    assert _bad(met_data, edit).field == "MET.ligand_kd.unit"


def test_unknown_cell_line_named(met_data):
    def edit(m):
        m["cell_lines"]["H3122"] = {"receptor": {"value": 1, "unit": "1", "source": "a paper"}}

    assert _bad(met_data, edit).field == "MET.cell_lines.H3122"


def test_assumption_without_prior_named(met_data):
    def edit(m):
        del m["weight"]["prior"]

    err = _bad(met_data, edit)
    assert err.field == "bypass.MET.weight" and "prior" in str(err)


def test_unknown_key_and_built_in_receptor_refused(met_data):
    def edit(m):
        m["ligand_kd_nM"] = 0.1

    assert _bad(met_data, edit).field == "MET.ligand_kd_nM"
    with pytest.raises(LeptotwinError, match="built into the pathway") as exc:
        CAT.with_bypass({"EGFR": met_data["MET"]})
    assert exc.value.field == "EGFR"


def test_cli_catalog_checks_and_lists_a_bypass_block(run_cli, tmp_path, met_data):
    code, out, _ = run_cli("catalog", "--bypass", str(EXAMPLE), "--csv")
    assert code == 0 and "bypass.MET.weight," in out and "alectinib.pk" not in out
    bad = yaml.safe_load(yaml.safe_dump(met_data))
    bad["MET"]["ligand_kd"]["value"] = -1.0
    path = tmp_path / "bypass.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    code, _, err = run_cli("catalog", "--bypass", str(path))
    assert code == 2 and "MET.ligand_kd" in err  # here its prior range refuses it first
