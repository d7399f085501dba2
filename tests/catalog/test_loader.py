"""The catalogue: every value sourced and with a unit; malformed files rejected with the field."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from leptotwin.catalog import load_catalog
from leptotwin.errors import LeptotwinError

DATA = Path(load_catalog().files["drugs"]).parent
DRUGS = (
    "alectinib",
    "crizotinib",
    "ceritinib",
    "lorlatinib",
    "erlotinib",
    "gefitinib",
    "osimertinib",
    "cetuximab",
)


def _copy(tmp_path: Path, edit_drugs=None, edit_species=None) -> Path:
    for path in DATA.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    if edit_drugs:
        p = tmp_path / "drugs.yaml"
        p.write_text(edit_drugs(p.read_text()))
    if edit_species:
        p = tmp_path / "species.yaml"
        p.write_text(edit_species(p.read_text()))
    return tmp_path


def test_catalogue_has_required_drugs_and_species():
    cat = load_catalog()
    assert set(DRUGS) <= set(cat.drugs)
    assert {"mouse", "human"} <= set(cat.species)
    for d in DRUGS:
        for sp in ("mouse", "human"):
            p = cat.pk_parameters(d, sp)
            assert p.CL_L_h > 0 and p.V1_L > 0 and 0 < p.fu <= 1


def _numbers_outside_quantities(obj, path=""):
    """Paths of numbers in parsed YAML that are not the ``value`` of a quantity."""
    if isinstance(obj, dict):
        if {"value", "unit", "source"} <= obj.keys():
            return [f"{path}.{k}" for k, v in obj.items() if k != "value" and _is_number(v)]
        return [p for k, v in obj.items() for p in _numbers_outside_quantities(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [
            p for i, v in enumerate(obj) for p in _numbers_outside_quantities(v, f"{path}[{i}]")
        ]
    return [path] if _is_number(obj) else []


def _count_quantities(obj):
    if isinstance(obj, dict):
        if {"value", "unit", "source"} <= obj.keys():
            return 1
        return sum(_count_quantities(v) for v in obj.values())
    if isinstance(obj, list):
        return sum(_count_quantities(v) for v in obj)
    return 0


def _is_number(v):
    return isinstance(v, int | float) and not isinstance(v, bool)


def test_every_number_is_a_quantity_with_unit_and_source():
    """The schema makes a quantity carry unit and source; this checks that no number in the
    files escapes it (a bare number in a new field would have no unit or source), and that the
    table lists every quantity the files hold."""
    n_quantities = 0
    for path in sorted(DATA.glob("*.yaml")):
        if path.name == "posterior.yaml":  # the calibration's summary, not catalogue values
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data = {k: v for k, v in data.items() if not k.startswith("_")}  # YAML-anchor blocks
        assert _numbers_outside_quantities(data) == [], path.name
        n_quantities += _count_quantities(data)
    table = load_catalog().table()
    assert len(table) == n_quantities
    assert set(table["group"]) == {
        "drugs",
        "species",
        "cell_lines",
        "perturbations",
        "assays",
        "in_vivo",
        "pathway",
    }


def test_primary_sources_are_recognised():
    table = load_catalog().table()
    erl_fu = table[table["path"] == "erlotinib.pk.mouse.fu"].iloc[0]
    assert erl_fu["primary_source"]
    bw = table[table["path"] == "mouse.body_weight"].iloc[0]
    assert bw["assumption"] and not bw["primary_source"]


def test_csf_turnover_from_species_physiology():
    cat = load_catalog()
    assert cat.csf_turnover_per_h("mouse") == pytest.approx(0.495, rel=1e-3)
    assert cat.csf_turnover_per_h("human") == pytest.approx(24 / 140, rel=1e-3)


def test_per_kg_units_scale_with_body_weight():
    p = load_catalog().pk_parameters("erlotinib", "mouse")
    assert p.CL_L_h == pytest.approx(0.547 * 0.025)


def test_unknown_key_rejected(tmp_path):
    folder = _copy(
        tmp_path,
        edit_drugs=lambda s: s.replace(
            "  drug_class: ALK TKI (2nd", "  colour: red\n  drug_class: ALK TKI (2nd", 1
        ),
    )
    with pytest.raises(LeptotwinError, match=r"drugs.yaml: alectinib.colour: unknown key"):
        load_catalog(folder)


def test_missing_unit_rejected(tmp_path):
    folder = _copy(
        tmp_path, edit_species=lambda s: s.replace("{value: 25, unit: g, ", "{value: 25, ", 1)
    )
    with pytest.raises(LeptotwinError, match=r"species.yaml: mouse.body_weight.unit: missing"):
        load_catalog(folder)


def test_missing_source_rejected(tmp_path):
    def drop_source(text: str) -> str:
        return re.sub(r"(csf_volume: \{value: 140, unit: mL), source: \"[^\"]*\"", r"\1", text)

    folder = _copy(tmp_path, edit_species=drop_source)
    with pytest.raises(LeptotwinError, match=r"human.csf_volume.source: missing"):
        load_catalog(folder)


def test_unit_not_accepted_for_field(tmp_path):
    folder = _copy(
        tmp_path,
        edit_drugs=lambda s: s.replace(
            "CL: {value: 30.2, unit: L/h,", "CL: {value: 30.2, unit: mg,", 1
        ),
    )
    with pytest.raises(
        LeptotwinError, match=r"alectinib.pk.human.CL.unit: unit not accepted.*'mg'"
    ):
        load_catalog(folder)


def test_covariate_unit_checked(tmp_path):
    folder = _copy(
        tmp_path,
        edit_drugs=lambda s: s.replace(
            'smoking_CL: {value: 2.0, unit: "1",', 'smoking_CL: {value: 2.0, unit: "L/h",', 1
        ),
    )
    with pytest.raises(
        LeptotwinError, match=r"erlotinib.pk.human.covariates.smoking_CL.unit: unit not accepted"
    ):
        load_catalog(folder)


def test_missing_file(tmp_path):
    with pytest.raises(LeptotwinError, match="catalogue file not found"):
        load_catalog(tmp_path)


def test_unknown_drug_lists_known():
    with pytest.raises(LeptotwinError, match="expected one of alectinib, AZ5104, ceritinib"):
        load_catalog().drug("aspirin")


def test_potency_in_nM():
    pots = load_catalog().potency_nM("osimertinib")
    assert ("EGFR", "cellular phosphorylation", 480.0) in pots


def test_cell_lines_and_perturbations():
    cat = load_catalog()
    assert {"A925LPE3", "A925L/AR"} <= set(cat.cell_lines)
    assert {"siAREG", "siEGFR", "miR-449a mimic"} <= set(cat.perturbations)
    with pytest.raises(LeptotwinError, match="unknown cell line.*A925L/AR, A925LPE3"):
        cat.cell_line("H3122")


def test_pathway_unit_checked(tmp_path):
    folder = _copy(tmp_path)
    p = folder / "pathway.yaml"
    p.write_text(
        p.read_text().replace("areg_kd: {value: 20, unit: nM,", "areg_kd: {value: 20, unit: µM,")
    )
    with pytest.raises(LeptotwinError, match=r"pathway.yaml: areg_kd.unit: unit not accepted"):
        load_catalog(folder)


def test_model_potency_one_per_target():
    cat = load_catalog()
    for drug in DRUGS:
        entries = [p for p in cat.drug(drug).potency if p.model]
        assert len({p.target for p in entries}) == len(entries) >= 1


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            "molecular_weight: {value: 482.6, unit: g/mol,",
            "molecular_weight: {value: 482.6, unit: mg,",
            r"alectinib.molecular_weight.unit",
        ),
        (
            "ic50: {value: 11.4, unit: nM,",
            "ic50: {value: 11.4, unit: mg,",
            r"alectinib.potency\[0\].ic50.unit",
        ),
        (
            'CL: {value: 0.3, unit: "1",',
            "CL: {value: 0.3, unit: L/h,",
            r"alectinib.pk.human.iiv.CL.unit",
        ),
    ],
)
def test_units_checked_at_load_everywhere(tmp_path, old, new, field):
    """A unit the model cannot convert is reported when the catalogue is loaded, naming the
    field (it used to surface later as a bare KeyError inside the PK or pathway model)."""
    folder = _copy(tmp_path, edit_drugs=lambda s: s.replace(old, new, 1))
    with pytest.raises(LeptotwinError, match=rf"drugs.yaml: {field}: unit not accepted"):
        load_catalog(folder)


def test_cell_line_that_is_not_a_mapping(tmp_path):
    folder = _copy(tmp_path)
    p = folder / "cell_lines.yaml"
    p.write_text(p.read_text().replace("perturbations:\n", "perturbations:\n  siX: 3\n", 1))
    with pytest.raises(LeptotwinError, match=r"perturbations.siX: expected a mapping"):
        load_catalog(folder)


def test_unknown_in_vivo_parameter_lists_the_block():
    cat = load_catalog()
    with pytest.raises(LeptotwinError, match=r"lmc_mouse.inoculum: .*one of .*inoculum_cells"):
        cat.in_vivo_value("lmc_mouse", "inoculum")
    with pytest.raises(LeptotwinError, match=r"unknown in-vivo parameter.*one of .*lmc_mouse"):
        cat.in_vivo_value("lmc_rat", "inoculum_cells")


# -- one drug's rows (issue 12, point 11) ---------------------------------------------------------


def test_a_metabolite_s_rows_are_found_whatever_the_case_of_its_name():
    """``catalog --drug AZ5104`` showed 0 rows: the filter lower-cased the name, the paths keep
    its case. Its 16 own values and the parent's metabolite ratio (which is about AZ5104)."""
    cat = load_catalog()
    for name in ("AZ5104", "az5104"):
        rows = cat.drug_table(name)
        own = rows["path"].str.startswith("AZ5104.")
        assert own.sum() == 16
        # the parent's metabolite ratio, where the catalogue still has one (the MSI tissue model
        # now simulates AZ5104 from the PK model, issue 13)
        ratio = [p for p in cat.table()["path"] if p.endswith(".metabolite_ratio_osimertinib")]
        assert rows.loc[~own, "path"].tolist() == ratio


def test_a_drug_s_rows_include_values_named_after_it_elsewhere():
    rows = load_catalog().drug_table("Osimertinib")["path"].tolist()
    assert "osimertinib.pk.mouse.CL" in rows
    assert "brain_section.parameters.kp_uu_brain_osimertinib" in rows
    assert "studied_doses.parameters.mouse_max_osimertinib" in rows
    assert not any(p.startswith("AZ5104.") or "erlotinib" in p for p in rows)


def test_catalog_cli_shows_the_metabolite(run_cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for unfolded paths
    total = len(load_catalog().table())
    n = len(load_catalog().drug_table("AZ5104"))
    assert n >= 16
    code, out, err = run_cli("catalog", "--drug", "AZ5104")
    assert code == 0, err
    assert out.rstrip().endswith(f"{n} of {total} values shown")
    assert "AZ5104.pk.mouse.fraction_formed" in out
    code, out, _ = run_cli("catalog", "--drug", "az5104", "--csv")
    assert code == 0 and len(out.strip().splitlines()) == 1 + n


def test_catalog_cli_unknown_drug_lists_the_known_ones(run_cli):
    code, out, err = run_cli("catalog", "--drug", "12345")
    assert code == 2 and out == ""
    assert err.strip() == (
        "leptotwin: error: drug: unknown drug (got '12345'); expected one of alectinib, AZ5104, "
        "ceritinib, cetuximab, crizotinib, erlotinib, gefitinib, lorlatinib, osimertinib"
    )
