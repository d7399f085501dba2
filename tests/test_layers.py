"""The layering of ARCHITECTURE.md ("an import that runs the other way is a design bug"),
checked on every import statement of the package, those inside functions included: the data
analysis never imports the model, the virtual instruments or the study; the model and the
catalogue never import the layers built on them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "leptotwin"
UPPER = {"assays", "analysis", "study", "calibration", "interop", "explore", "cli"}
#: layer -> the layers of ours it must never import
FORBIDDEN = {
    "catalog": UPPER | {"model"},
    "model": UPPER,
    "assays": UPPER - {"assays"},
    "analysis": UPPER - {"analysis"} | {"model"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in out if m.startswith("leptotwin.")]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_import_runs_against_the_layers(layer):
    bad = [
        f"{f.relative_to(SRC)}:{line}: {module}"
        for f in sorted((SRC / layer).rglob("*.py"))
        for line, module in _imports(f)
        if module.split(".")[1] in FORBIDDEN[layer]
    ]
    assert not bad, f"{layer}/ imports layers above it: " + "; ".join(bad)


def test_the_check_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from leptotwin.study.distributed import x\n")
    assert _imports(f) == [(2, "leptotwin.study.distributed")]
