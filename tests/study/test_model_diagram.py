"""The model diagram of the report's introduction is drawn from the model (issue 16, item 8b)."""

from __future__ import annotations

import libsbml
import pytest

from leptotwin.interop.sbml import export_sbml
from leptotwin.model.cohort import Arm
from leptotwin.model.pathway import cell_state
from leptotwin.model.tumor import Clone, default_clones
from leptotwin.study.model_diagram import model_diagram, model_graph, nodes_table
from leptotwin.study.protocol_schema import load_packaged_protocol
from leptotwin.study.sections.introduction import introduction_text


def _rules(regimens: dict[str, str], clones=None) -> tuple[set[str], set[str]]:
    """Rate-rule and assignment-rule variables of the model, read from a fresh SBML export."""
    ex = export_sbml(Arm("test", regimens), days=10.0, clones=clones)
    model = libsbml.readSBMLFromString(ex.sbml).getModel()
    rules = list(model.getListOfRules())
    return (
        {r.getVariable() for r in rules if r.isRate()},
        {r.getVariable() for r in rules if not r.isRate()},
    )


def _drawn(graph, kind: str) -> set[str]:
    return {m for n in graph.nodes if n.kind == kind for m in n.members}


@pytest.fixture(scope="module")
def regimens() -> dict[str, str]:
    return dict(load_packaged_protocol("lmc_mouse")["regimens"])


@pytest.fixture(scope="module")
def graph():
    return model_graph()


def test_every_species_and_rule_of_the_model_is_a_node(graph, regimens):
    species, rules = _rules(regimens)
    assert _drawn(graph, "species") == species == set(graph.species)
    assert _drawn(graph, "rule") == rules
    # the compartments of every drug of the protocol and of the metabolite formed in the mouse
    for drug in [*regimens, "AZ5104"]:
        for compartment in ("A_c", "C_plasma", "C_csf", "C_lesion"):
            assert f"{compartment}_{drug}" in species | rules
    assert {"N_P", "N_R", "L_areg"} <= species


def test_the_figure_draws_every_node_with_its_label(graph):
    fig = model_diagram(graph)
    drawn = {
        t.get_gid().removeprefix("node-"): t.get_text()
        for t in fig.axes[0].texts
        if str(t.get_gid() or "").startswith("node-")
    }
    assert drawn == {n.key: n.label for n in graph.nodes}
    table = nodes_table(graph)
    assert list(table["key"]) == [n.key for n in graph.nodes]
    assert set(" ".join(table["sbml_ids"]).split()) == _drawn(graph, "species") | _drawn(
        graph, "rule"
    )


def test_a_new_clone_or_a_new_drug_changes_the_diagram():
    clones = (*default_clones(), Clone("Q", cell_state("A925L/AR")))
    graph = model_graph(clones=clones, regimens={"alectinib": "20 mg/kg QD"})
    species, _ = _rules({"alectinib": "20 mg/kg QD"}, clones=clones)
    assert "N_Q" in species and _drawn(graph, "species") == species
    assert "N_Q" in next(n for n in graph.nodes if n.key == "N_{clone}").members
    assert graph.drugs == ("alectinib",) and not any(n.subject == "AZ5104" for n in graph.nodes)
    assert "Q" in model_diagram(graph).axes[0].texts[-1].get_text()


def test_the_pathway_is_wired_as_the_model_computes_it(graph):
    edges = {(s, t): fb for s, t, fb in graph.edges}
    # miR-449a sets AREG secretion: the autocrine ligand and the CSF AREG of every clone
    assert ("cell:mir449a", "ligand_{clone}") in edges and ("cell:mir449a", "L_areg") in edges
    assert ("C_lesion_alectinib", "sum_alk") in edges
    assert ("C_lesion_AZ5104", "sum_tki") in edges and ("C_lesion_erlotinib", "sum_tki") in edges
    assert ("A_c_osimertinib", "A_c_AZ5104") in edges
    # tumour cells secrete the CSF AREG that reaches every clone's receptor: a feedback loop
    assert edges[("N_{clone}", "L_areg")] and edges[("L_areg", "ligand_{clone}")]
    assert not edges[("C_plasma_erlotinib", "C_lesion_erlotinib")]


def test_introduction_text_counts_from_the_graph(graph):
    text = introduction_text(graph)
    n_species = len(graph.species)
    n_rules = len(_drawn(graph, "rule"))
    assert f"{n_species} ODE states" in text and f"{n_rules} assignment rules" in text
    assert "AZ5104" in text and "no peripheral compartment" in text
