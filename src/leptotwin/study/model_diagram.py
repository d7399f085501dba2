"""The model diagram of the report's introduction, drawn from the model's own definition.

Nothing here is drawn by hand. :func:`model_graph` exports the in-vivo twin of one virtual mouse
given every drug of the mouse protocol (``study/protocols/lmc_mouse.yaml``, ``regimens``) as SBML
(:func:`leptotwin.interop.sbml.export_sbml`, the same export that libRoadRunner checks against the
twin) and reads the model back:

* **species**: every variable with a rate rule (an ODE state: gut depots, plasma, peripheral,
  CSF and lesion compartments per drug and metabolite, tumour cells per clone, CSF AREG);
* **rules**: every variable with an assignment rule (plasma concentration, the pathway's
  quasi-steady-state signals, birth and death rates, burden);
* **cell-state inputs**: the levels of :class:`~leptotwin.model.pathway.CellState` (miR-449a,
  EGFR, EML4-ALK, AREG expression), linked to the rules whose per-clone parameters they set,
  found by exporting again with each level changed and seeing which parameters move;
* **edges**: X → Y when X appears in the formula of Y's rule. An edge out of a species into a
  node that leads back to it is a feedback edge (dashed): tumour cells feed CSF AREG, which feeds
  the receptor of every clone.

PK nodes are drawn per drug (one column each, including metabolites the catalogue forms in the
mouse); pathway and tumour nodes are drawn once for all clones (their SBML ids differ by the
clone's suffix). Adding a species, a rule, a drug to the protocol or a clone to the model
changes the figure; a variable without a label here is drawn under its SBML id.

Examples
--------
>>> graph = model_graph()
>>> "L_areg" in graph.species and any(n.key == "C_lesion_AZ5104" for n in graph.nodes)
True
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from leptotwin import _sigint
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.model.cohort import Arm
from leptotwin.model.pathway import CellState
from leptotwin.model.tumor import Clone, TumorParameters, default_clones

__all__ = [
    "DiagramNode",
    "ModelGraph",
    "model_diagram",
    "model_graph",
    "nodes_table",
    "sbml_species",
]

#: Labels of the variables (SBML id with ``{drug}`` / ``{clone}`` for the subject). A variable
#: without one is drawn under its SBML id.
LABELS: dict[str, str] = {
    "A_gut_{drug}_oral": "gut (oral dose)",
    "A_gut_{drug}_ip": "peritoneum (i.p.)",
    "A_gut_{drug}_sc": "subcutis (s.c.)",
    "A_c_{drug}": "plasma (central)",
    "A_p_{drug}": "peripheral",
    "C_plasma_{drug}": "plasma conc.",
    "C_csf_{drug}": "CSF (unbound)",
    "C_lesion_{drug}": "lesion (unbound)",
    "sum_alk": "ALK TKIs Σ C/K",
    "sum_tki": "EGFR TKIs Σ C/K",
    "sum_ab": "anti-EGFR Σ C/K",
    "ligand_{clone}": "AREG at EGFR",
    "occupancy_{clone}": "EGFR occupancy",
    "alk_{clone}": "ALK activity",
    "egfr_{clone}": "EGFR activity",
    "signal_{clone}": "survival signal",
    "birth_{clone}": "birth rate",
    "death_{clone}": "death rate",
    "p_surv": "R lineage survival",
    "switch_flux": "P → R switching",
    "room": "room, 1 − N/K",
    "N_{clone}": "tumour cells",
    "L_areg": "CSF AREG",
    "N_total": "total burden",
    "log_burden": "log burden",
    "csf_areg_pg_mL": "CSF AREG, pg/mL",
    "cell:mir449a": "miR-449a",
    "cell:egfr_total": "EGFR protein",
    "cell:alk_fusion": "EML4-ALK",
    "cell:areg_scale": "AREG expression",
}

_COL_IN = 1.28  # PK column pitch and pathway node pitch (inches)
_ROW_IN = 0.5  # row pitch (inches)
_GAP_IN = 0.9  # between the PK and pathway blocks
_FONT = 7.0
_KIND_STYLE = {  # pads and radii in inches (the axes' data unit)
    "species": {"boxstyle": "square,pad=0.045", "fc": "#dbe9f6", "ec": "#2b6cb0"},
    "rule": {"boxstyle": "round,pad=0.045,rounding_size=0.05", "fc": "white", "ec": "0.55"},
    "input": {"boxstyle": "round4,pad=0.045,rounding_size=0.05", "fc": "#fdf0d5", "ec": "#b7791f"},
}


@dataclass(frozen=True)
class DiagramNode:
    """A node of the diagram.

    Attributes
    ----------
    key : str
        Its id: the SBML id for a PK node, the id with ``{clone}`` for a pathway node drawn once
        for all clones, ``cell:<level>`` for a cell-state input.
    label : str
        What the figure prints.
    kind : {"species", "rule", "input"}
        Rate-rule variable (ODE state), assignment-rule variable, or cell-state level.
    block : {"pk", "pathway"}
    members : tuple of str
        The SBML ids it stands for (one per clone for a pathway node; none for an input).
    subject : str
        The drug of a PK node ("" otherwise).
    template : str
        The id with the subject replaced by ``{drug}`` / ``{clone}``.
    """

    key: str
    label: str
    kind: str
    block: str
    members: tuple[str, ...]
    subject: str = ""
    template: str = ""


@dataclass(frozen=True)
class ModelGraph:
    """The model as a graph (see the module docstring).

    Attributes
    ----------
    nodes : tuple of DiagramNode
    edges : tuple of (source key, target key, feedback)
    species : tuple of str
        Every SBML rate-rule variable of the export, in document order.
    drugs : tuple of str
        The drugs with PK (the protocol's and their active metabolites), in export order.
    clones : tuple of str
    """

    nodes: tuple[DiagramNode, ...]
    edges: tuple[tuple[str, str, bool], ...]
    species: tuple[str, ...]
    drugs: tuple[str, ...]
    clones: tuple[str, ...]

    def node(self, key: str) -> DiagramNode:
        return next(n for n in self.nodes if n.key == key)


def _sid(text: str) -> str:
    from leptotwin.interop.sbml import _sid as sid

    return sid(text)


def _names(ast: object) -> set[str]:
    """Every name in a libsbml formula (``time`` and numbers left out)."""
    libsbml = _sigint.libsbml()

    out: set[str] = set()
    stack = [ast]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if node.getType() == libsbml.AST_NAME:  # type: ignore[attr-defined]
            out.add(node.getName())  # type: ignore[attr-defined]
        stack += [node.getChild(i) for i in range(node.getNumChildren())]  # type: ignore[attr-defined]
    return out


@dataclass(frozen=True)
class _Rules:
    kinds: dict[str, str]  # variable -> "species" | "rule"
    uses: dict[str, set[str]]  # variable -> names in its formula
    parameters: dict[str, float]  # constant parameter -> value
    drugs: tuple[str, ...]


def _read(sbml: str, outputs: dict[str, str]) -> _Rules:
    libsbml = _sigint.libsbml()

    model = libsbml.readSBMLFromString(sbml).getModel()
    kinds: dict[str, str] = {}
    uses: dict[str, set[str]] = {}
    for rule in model.getListOfRules():
        var = rule.getVariable()
        kinds[var] = "species" if rule.isRate() else "rule"
        uses[var] = _names(rule.getMath())
    parameters = {p.getId(): p.getValue() for p in model.getListOfParameters() if p.getConstant()}
    drugs = tuple(k.split(":", 1)[1] for k in outputs if k.startswith("plasma_nM:"))
    return _Rules(kinds, uses, parameters, drugs)


def _export(cat: Catalog, clones: tuple[Clone, ...], regimens: dict[str, str]) -> _Rules:
    from leptotwin.interop.sbml import export_sbml

    tumor = TumorParameters.from_catalog(cat)
    ex = export_sbml(
        Arm("model diagram", regimens),
        days=tumor.treatment_start_d + 1.0,
        inoculum="A925LPE3",
        catalog=cat,
        tumor=tumor,
        clones=clones,
    )
    return _read(ex.sbml, ex.outputs)


def _subject(var: str, drugs: Sequence[str], clones: Sequence[str]) -> tuple[str, str, str]:
    """(template, subject, kind of subject) of an SBML id: a drug's id holds ``_<drug>`` as a
    whole part, a clone's ends with ``_<clone>``."""
    for drug in sorted(drugs, key=len, reverse=True):
        d = _sid(drug)
        m = re.search(rf"_{re.escape(d)}(?=_|$)", var)
        if m:
            return var[: m.start()] + "_{drug}" + var[m.end() :], drug, "drug"
    for clone in sorted(clones, key=len, reverse=True):
        c = _sid(clone)
        if var.endswith(f"_{c}"):
            return var[: -len(c) - 1] + "_{clone}", clone, "clone"
    return var, "", ""


def _reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, stack = {start}, [start]
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _protocol_regimens() -> dict[str, str]:
    from leptotwin.study.protocol_schema import load_packaged_protocol

    return {str(k): str(v) for k, v in load_packaged_protocol("lmc_mouse")["regimens"].items()}


def model_graph(
    catalog: Catalog | None = None,
    *,
    clones: tuple[Clone, ...] | None = None,
    regimens: dict[str, str] | None = None,
) -> ModelGraph:
    """The model as a graph: nodes, edges, species (see the module docstring).

    Parameters
    ----------
    catalog : Catalog, optional
        Default: the active catalogue.
    clones : tuple of Clone, optional
        Default: the model's clones (:func:`~leptotwin.model.tumor.default_clones`).
    regimens : dict of str to str, optional
        Drug → regimen of the exported mouse (default: every regimen of the mouse protocol).
    """
    cat = catalog or load_catalog()
    clones = clones or default_clones(cat)
    regimens = dict(regimens) if regimens is not None else _protocol_regimens()
    base = _export(cat, clones, regimens)
    clone_names = tuple(c.name for c in clones)
    # what each cell-state level sets: export again with the level changed in every clone
    level_names = [f.name for f in dataclasses.fields(CellState) if f.type in (float, "float")]
    drives: dict[str, set[str]] = {}
    for level in level_names:
        changed = tuple(
            dataclasses.replace(
                c, state=c.state.with_levels(**{level: 2.0 * getattr(c.state, level) + 0.5})
            )
            for c in clones
        )
        probe = _export(cat, changed, regimens)
        drives[level] = {
            p
            for p, v in base.parameters.items()
            if not np.isclose(probe.parameters.get(p, v), v, rtol=1e-9, atol=0.0)
        }

    def key_of(var: str) -> tuple[str, str, str]:
        template, subject, what = _subject(var, base.drugs, clone_names)
        key = template if what == "clone" else var
        return key, template, subject

    members: dict[str, list[str]] = {}
    info: dict[str, tuple[str, str, str, str]] = {}  # key -> kind, block, subject, template
    for var, kind in base.kinds.items():
        key, template, subject = key_of(var)
        members.setdefault(key, []).append(var)
        block = "pk" if subject in base.drugs and subject else "pathway"
        info[key] = (kind, block, subject if block == "pk" else "", template)
    raw: dict[str, set[str]] = {k: set() for k in members}
    for var, names in base.uses.items():
        target = key_of(var)[0]
        for name in names:
            if name in base.kinds:
                source = key_of(name)[0]
                if source != target:
                    raw[source].add(target)
    for level in level_names:
        targets = {key_of(var)[0] for var, names in base.uses.items() if names & drives[level]}
        if targets:
            key = f"cell:{level}"
            members[key] = []
            info[key] = ("input", "pathway", "", key)
            raw[key] = targets
    edges = []
    for source in raw:
        for target in sorted(raw[source]):
            feedback = info[source][0] == "species" and _reaches(raw, target, source)
            edges.append((source, target, feedback))
    nodes = tuple(
        DiagramNode(
            key=key,
            label=LABELS.get(info[key][3], key),
            kind=info[key][0],
            block=info[key][1],
            members=tuple(members[key]),
            subject=info[key][2],
            template=info[key][3],
        )
        for key in members
    )
    species = tuple(v for v, k in base.kinds.items() if k == "species")
    return ModelGraph(nodes, tuple(edges), species, base.drugs, clone_names)


def sbml_species(
    catalog: Catalog | None = None,
    *,
    clones: tuple[Clone, ...] | None = None,
    regimens: dict[str, str] | None = None,
) -> list[str]:
    """Every rate-rule variable (ODE state) of the exported twin, read straight from the SBML."""
    return list(model_graph(catalog, clones=clones, regimens=regimens).species)


def nodes_table(graph: ModelGraph) -> pd.DataFrame:
    """One row per node: ``key, label, kind, block, drug, sbml_ids`` (ids joined by spaces),
    then one row per edge is in the figure only."""
    return pd.DataFrame(
        [
            {
                "key": n.key,
                "label": n.label,
                "kind": n.kind,
                "block": n.block,
                "drug": n.subject,
                "sbml_ids": " ".join(n.members),
            }
            for n in graph.nodes
        ]
    )


# -- layout -------------------------------------------------------------------------------------


def _layers(keys: Iterable[str], edges: Sequence[tuple[str, str, bool]]) -> dict[str, int]:
    """Layer of each node over the forward (not feedback) edges among ``keys``: the longest path
    from a source, then each source not fed from outside ``keys`` moved down to just above its
    first successor (a cell-state input sits beside what it drives)."""
    keys = list(keys)
    inside = set(keys)
    preds: dict[str, list[str]] = {k: [] for k in keys}
    succs: dict[str, list[str]] = {k: [] for k in keys}
    fed = set()  # nodes fed from outside ``keys`` (the pathway's drug sums): they stay on top
    for s, t, fb in edges:
        if not fb and s in inside and t in inside:
            preds[t].append(s)
            succs[s].append(t)
        elif not fb and t in inside:
            fed.add(t)
    layer: dict[str, int] = {}

    def depth(k: str, stack: frozenset[str] = frozenset()) -> int:
        if k not in layer:
            ps = [p for p in preds[k] if p not in stack]
            layer[k] = 1 + max((depth(p, stack | {k}) for p in ps), default=-1)
        return layer[k]

    for k in keys:
        depth(k)
    for k in keys:
        if not preds[k] and succs[k] and k not in fed:
            layer[k] = max(layer[k], min(layer[t] for t in succs[k]) - 1)
    return layer


def layout(graph: ModelGraph) -> dict[str, tuple[float, float]]:
    """Node centre (x, y) in inches, y down: the PK block on top (a column per drug, a row per
    compartment), the pathway block under it (a row per layer, ordered by the mean position of
    each node's predecessors)."""
    pos: dict[str, tuple[float, float]] = {}
    pk = [n for n in graph.nodes if n.block == "pk"]
    layer = _layers([n.key for n in pk], graph.edges)
    first: dict[str, int] = {}
    for n in pk:
        first.setdefault(n.template, len(first))
        first[n.template] = min(first[n.template], 10**6)
    rank: dict[str, float] = {}
    for n in pk:
        rank[n.template] = min(rank.get(n.template, np.inf), float(layer[n.key]))
    rows = sorted(rank, key=lambda t: (rank[t], first[t]))
    drugs = [d for d in graph.drugs if any(n.subject == d for n in pk)]
    path = [n for n in graph.nodes if n.block == "pathway"]
    layer = _layers([n.key for n in path], graph.edges)
    by_layer: dict[int, list[str]] = {}
    for n in path:
        by_layer.setdefault(layer[n.key], []).append(n.key)
    width = max([len(drugs), *(len(v) for v in by_layer.values())]) * _COL_IN
    pk_left = (width - len(drugs) * _COL_IN) / 2.0
    for n in pk:
        col = drugs.index(n.subject)
        pos[n.key] = (pk_left + _COL_IN * (col + 0.5), _ROW_IN * (rows.index(n.template) + 1))
    top = _ROW_IN * (len(rows) + 2) if pk else _ROW_IN
    for lay, keys in _order_layers(by_layer, graph.edges, pos, width).items():
        left = (width - len(keys) * _COL_IN) / 2.0
        for i, k in enumerate(keys):
            pos[k] = (left + _COL_IN * (i + 0.5), top + _ROW_IN * lay)
    return pos


def _order_layers(
    by_layer: dict[int, list[str]],
    edges: Sequence[tuple[str, str, bool]],
    fixed: dict[str, tuple[float, float]],
    width: float,
    sweeps: int = 4,
) -> dict[int, list[str]]:
    """Order each layer to shorten the edges: alternate sweeps down (each node at the mean x of
    its forward predecessors, the PK nodes above included) and up (its successors), as in
    Sugiyama's layered drawing; a node with no neighbour on that side keeps its place."""
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for s, t, fb in edges:
        if not fb:
            preds.setdefault(t, []).append(s)
            succs.setdefault(s, []).append(t)
    order = {lay: list(keys) for lay, keys in by_layer.items()}
    x: dict[str, float] = {k: p[0] for k, p in fixed.items()}

    def place(lay: int) -> None:
        left = (width - len(order[lay]) * _COL_IN) / 2.0
        for i, k in enumerate(order[lay]):
            x[k] = left + _COL_IN * (i + 0.5)

    def sweep(lay: int, neighbours: dict[str, list[str]]) -> None:
        def key(k: str) -> float:
            xs = [x[n] for n in neighbours.get(k, []) if n in x]
            return float(np.mean(xs)) if xs else x[k]

        order[lay] = sorted(order[lay], key=key)
        place(lay)

    for lay in order:
        place(lay)
    layers = sorted(order)
    for _ in range(sweeps):
        for lay in layers:
            sweep(lay, preds)
        for lay in reversed(layers):
            sweep(lay, succs)
    for lay in layers:
        sweep(lay, preds)
    return order


def _crosses(
    a: tuple[float, float], b: tuple[float, float], others: Iterable[tuple[float, float]]
) -> bool:
    """True when the straight segment a-b runs through another node's box (about 1 × 0.25 in
    around its centre)."""
    centres = np.array(list(others), float).reshape(-1, 2)
    if centres.size == 0:
        return False
    t = np.linspace(0.1, 0.9, 33)[:, None]
    pts = np.asarray(a, float) + t * (np.asarray(b, float) - np.asarray(a, float))
    dx = np.abs(pts[:, None, 0] - centres[None, :, 0])
    dy = np.abs(pts[:, None, 1] - centres[None, :, 1])
    return bool(np.any((dx < 0.5) & (dy < 0.12)))


def model_diagram(graph: ModelGraph | None = None) -> Figure:
    """Draw :func:`model_graph` (see the module docstring): species as blue boxes, rules as
    rounded boxes, cell-state inputs in orange, feedback edges dashed red.

    The axes are in inches (one data unit per inch), and each box is a patch in data
    coordinates sized to its label, so arrows end at the boxes at any resolution; an arrow that
    would run through another box is bent around it, and passes behind a box otherwise."""
    graph = graph or model_graph()
    pos = layout(graph)
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    w = max(xs) + min(xs)
    h = max(ys) + _ROW_IN * 0.8
    fig = Figure(figsize=(w, h))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, w)
    ax.set_ylim(h, 0.0)
    ax.axis("off")
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = {}
    for n in graph.nodes:
        x, y = pos[n.key]
        label = ax.text(
            x,
            y,
            n.label,
            ha="center",
            va="center",
            fontsize=_FONT,
            zorder=4,
            gid=f"node-{n.key}",
        )
        extent = label.get_window_extent(renderer)
        bw, bh = extent.width / fig.dpi, extent.height / fig.dpi
        style = _KIND_STYLE[n.kind]
        boxes[n.key] = FancyBboxPatch(
            (x - bw / 2, y - bh / 2),
            bw,
            bh,
            boxstyle=style["boxstyle"],
            fc=style["fc"],
            ec=style["ec"],
            lw=0.8,
            zorder=3,
        )
        ax.add_patch(boxes[n.key])
    for s, t, feedback in graph.edges:
        a, b = pos[s], pos[t]
        others = [p for k, p in pos.items() if k not in (s, t)]
        rad = 0.35 if feedback or _crosses(a, b, others) else 0.0
        ax.add_patch(
            FancyArrowPatch(
                a,
                b,
                patchA=boxes[s],
                patchB=boxes[t],
                shrinkA=1.0,
                shrinkB=1.0,
                arrowstyle="-|>,head_length=0.5,head_width=0.25",
                mutation_scale=12,
                lw=0.7,
                ls="--" if feedback else "-",
                color="#b03a2e" if feedback else "0.35",
                connectionstyle=f"arc3,rad={rad}",
                zorder=2,
            )
        )
    pk = [n for n in graph.nodes if n.block == "pk"]
    for drug in graph.drugs:
        xs_drug = [pos[n.key][0] for n in pk if n.subject == drug]
        if xs_drug:
            ax.text(xs_drug[0], _ROW_IN * 0.4, drug, ha="center", fontsize=8, fontweight="bold")
    path_y = [pos[n.key][1] for n in graph.nodes if n.block == "pathway"]
    if path_y:
        ax.text(
            0.05,
            min(path_y) - _ROW_IN * 0.62,
            "pathway and tumour (one node for the clones " + ", ".join(graph.clones) + ")",
            ha="left",
            fontsize=8,
            fontweight="bold",
            zorder=5,
            bbox={"fc": "white", "ec": "none", "pad": 1.0},
        )
    return fig
