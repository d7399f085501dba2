"""Property: any protocol file, however mangled, loads as a valid experiment or raises a
LeptotwinError, never anything else (issue 12: garbage YAML to ``simulate``/``export-sbml``).

Inputs are the packaged ``lmc_mouse.yaml`` with keys deleted, values replaced by other types and
absurd numbers, text inserted, cut or overwritten, and plain garbage bytes.
"""

from __future__ import annotations

import copy
import math
from importlib import resources
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from leptotwin.errors import LeptotwinError
from leptotwin.study.protocol_schema import MAX_FOLLOW_UP_DAYS
from leptotwin.study.simulate_job import Experiment, load_experiment

TEXT = (resources.files("leptotwin.study") / "protocols" / "lmc_mouse.yaml").read_text("utf-8")
BASE = yaml.safe_load(TEXT)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key (mapping) or index (list) path of ``node``."""
    out = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, child in items:
        out.append((*prefix, key))
        out += _paths(child, (*prefix, key))
    return out


PATHS = _paths(BASE)
ABSURD = ["1e308", "-1e308", "1e-308", "0", "-1", ".nan", ".inf", "-.inf", "1e400", "2**64",
          "18446744073709551616", "", "~", "yes", "[]", "{}", "20 mg/kg QD", "80 mg QD",
          "1e308 mg/kg QD", "20 furlong/kg QD", "A925LPE3", "\x00"]  # fmt: skip
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(ABSURD),
    st.lists(st.one_of(st.integers(-5, 50), st.floats(), st.text(max_size=6)), max_size=4),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=6)), max_size=3),
)


def _parent(data: Any, path: tuple) -> Any:
    node = data
    for key in path[:-1]:
        node = node[key]
    return node


@st.composite
def mutated_mapping(draw: st.DrawFn) -> bytes:
    """The protocol with 1-3 keys deleted or values replaced, dumped as YAML."""
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        try:
            parent = _parent(data, path)
            parent[path[-1]]  # still there after the earlier mutations
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(parent, dict | list):
            continue
        if draw(st.booleans()):
            del parent[path[-1]]
        elif isinstance(parent, dict) and draw(st.booleans()):
            parent[draw(st.one_of(st.text(max_size=8), st.integers()))] = parent.pop(path[-1])
        else:
            parent[path[-1]] = draw(VALUES)
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8")


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    """The protocol's text with garbage inserted, a piece cut out or the file truncated."""
    text = TEXT
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["insert", "cut", "truncate", "replace_line"]))
    if kind == "insert":
        text = text[:at] + draw(st.text(max_size=30)) + text[at:]
    elif kind == "cut":
        text = text[:at] + text[at + draw(st.integers(1, 40)) :]
    elif kind == "truncate":
        text = text[:at]
    else:
        lines = text.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.one_of(st.text(max_size=40), st.sampled_from(ABSURD)))
        text = "\n".join(lines)
    return text.encode("utf-8", errors="surrogatepass")


PROTOCOLS = st.one_of(mutated_mapping(), mutated_text(), st.binary(max_size=200))


def _check(exp: Experiment) -> None:
    assert exp.arms and exp.n_per_arm >= 1
    assert 0 < exp.days <= MAX_FOLLOW_UP_DAYS
    assert exp.observe_days and all(math.isfinite(d) and d >= 0 for d in exp.observe_days)
    assert any(d <= exp.days for d in exp.observe_days)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("protocols")


@pytest.mark.fuzz
@given(content=PROTOCOLS, experiment=st.sampled_from([None, "combination", "relapse"]))
def test_any_protocol_loads_or_raises_a_leptotwin_error(folder, content, experiment):
    path = folder / "protocol.yaml"
    path.write_bytes(content)
    try:
        exp = load_experiment(path, experiment)
    except LeptotwinError as exc:
        assert "\n" not in str(exc)
        return
    _check(exp)
