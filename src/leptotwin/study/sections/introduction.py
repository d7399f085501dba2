"""Report section: the introduction — the study in two paragraphs and the model diagram.

The diagram is drawn from the model's definition (:mod:`leptotwin.study.model_diagram`: the SBML
export of one virtual mouse given every drug of the mouse protocol, read back), so it changes
when a species, a rule, a drug or a clone is added to the model. Its node list, with the SBML ids
each node stands for, is ``model_diagram_nodes.csv``.
"""

from __future__ import annotations

from leptotwin.study.model_diagram import ModelGraph, model_diagram, model_graph, nodes_table
from leptotwin.study.reproduce import Context, SectionResult, register_section

TITLE = "Introduction: the study and the model"


def introduction_text(graph: ModelGraph) -> str:
    """The section's text; every count and name taken from ``graph``."""
    species = [n for n in graph.nodes if n.kind == "species"]
    rules = [n for n in graph.nodes if n.kind == "rule"]
    inputs = [n for n in graph.nodes if n.kind == "input"]
    n_rules = sum(len(n.members) for n in rules)
    two_cmt = sorted({n.subject for n in graph.nodes if n.template == "A_p_{drug}"})
    periph = (
        "a peripheral compartment for the two-compartment drugs (" + ", ".join(two_cmt) + ")"
        if two_cmt
        else "no peripheral compartment (every drug here is one-compartment in the mouse; a "
        "two-compartment drug adds one)"
    )
    parents = [
        d
        for d in graph.drugs
        if any(n.template == "A_gut_{drug}_oral" and n.subject == d for n in species)
    ]
    metabolites = [d for d in graph.drugs if d not in parents]
    return (
        "Arai et al. (J Thorac Oncol 2020;15:752) describe how ALK-rearranged lung cancer in the "
        "leptomeninges escapes alectinib: the cells lose miR-449a, make more amphiregulin (AREG) "
        "and switch on EGFR, and an EGFR inhibitor given with alectinib restores control. This "
        "report runs the study again on a digital twin — virtual cells, plates, mice and "
        "patients; virtual instruments that write the files a laboratory would; and the "
        "laboratory's analysis reading those files back — and checks the study's nine claims "
        "(C1–C9, summarised above with their key numbers). Every number comes from one run "
        "with the calibrated (posterior-median) parameters unless a section says otherwise.\n\n"
        "**The model.** The diagram is drawn from the model's own definition, not by hand: the "
        "twin of one virtual mouse given every drug of the mouse protocol ("
        + ", ".join(parents)
        + (f"; formed in the mouse: {', '.join(metabolites)}" if metabolites else "")
        + ") is exported as SBML and read back. Boxes are its "
        f"{sum(len(n.members) for n in species)} ODE states (SBML rate rules), rounded boxes "
        f"its {n_rules} assignment rules, orange boxes the {len(inputs)} cell-state levels "
        "that set each clone's parameters (miR-449a, EGFR, EML4-ALK, AREG expression); an "
        "arrow means the source appears in the target's formula, and a dashed red arrow closes "
        "a feedback loop. PK, per drug: gut depot → plasma, with "
        f"{periph}; the CSF and the tumour lesion are effect compartments that follow unbound "
        "plasma (Kp,uu × fu × C_plasma; the lesion's Kp,uu comes from the blood–tumour "
        "barrier and the drug's efflux at the blood–brain barrier). The unbound lesion "
        "concentrations inhibit ALK and EGFR in the quasi-steady-state pathway; the survival "
        "signal sets each clone's birth and death; every clone secretes AREG into the CSF, and "
        "CSF AREG reaches the receptor of every clone. Pathway and tumour nodes are drawn once "
        "for the clones " + ", ".join(graph.clones) + " (parental-like and AREG-high). "
        "`model_diagram_nodes.csv` lists each node with the SBML ids it stands for; "
        "`leptotwin export-sbml` writes the model itself."
    )


@register_section("introduction", order=0)
def introduction(ctx: Context) -> SectionResult:
    """The study in brief and the model diagram (no claim)."""
    graph = model_graph(ctx.catalog)
    return SectionResult(
        title=TITLE,
        text=introduction_text(graph),
        figures=[
            (
                "The twin drawn from its SBML export: PK per drug (top), pathway and tumour "
                "(bottom). Blue boxes: ODE states; rounded: assignment rules; orange: cell-state "
                "levels; dashed red: feedback.",
                model_diagram(graph),
            )
        ],
        tables={"model_diagram_nodes.csv": nodes_table(graph)},
    )
