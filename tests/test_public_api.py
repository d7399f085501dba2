"""Every name a layer exports resolves, and the README's layout table names every layer."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

LAYERS = [
    "leptotwin.catalog",
    "leptotwin.model",
    "leptotwin.assays",
    "leptotwin.analysis",
    "leptotwin.formats",
    "leptotwin.study",
]


@pytest.mark.parametrize("layer", LAYERS)
def test_exports_resolve(layer):
    mod = importlib.import_module(layer)
    assert mod.__all__, layer
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{layer}.{name}"


def test_unknown_name_is_an_attribute_error():
    import leptotwin.analysis

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = leptotwin.analysis.nope


def test_readme_names_every_layer():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for layer in LAYERS:
        assert f"src/leptotwin/{layer.split('.')[1]}/" in readme
