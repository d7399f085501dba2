"""Lazy re-exports for layer ``__init__`` modules (PEP 562).

Each layer lists its public names once, with the module that defines them; the module is imported
on first access, so ``import leptotwin.analysis`` stays fast (numba, lifelines and statsmodels are
loaded only by the analyses that use them).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for a package whose public names live in submodules.

    ``table`` maps each public name to the submodule (relative to ``package``) defining it.
    """

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{table[name]}"), name)
        globals_of_package = importlib.import_module(package).__dict__
        globals_of_package[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__, sorted(table)
