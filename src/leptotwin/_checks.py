"""Small argument checks shared by every layer (like ``errors``, imports nothing else of ours)."""

from __future__ import annotations

import math

import numpy as np

from leptotwin.errors import LeptotwinError

__all__ = ["check_alpha", "check_reference", "plain"]


def check_alpha(alpha: float, source: str) -> float:
    """``alpha`` as a float in (0, 1), else a LeptotwinError naming ``source``."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        a = math.nan
    if not 0 < a < 1:
        raise LeptotwinError(
            "alpha must lie in (0, 1)", source=source, field="alpha", value=alpha, expected="0.05"
        )
    return a


def plain(value: object) -> object:
    """A numpy scalar as the Python value (for readable error messages)."""
    return value.item() if isinstance(value, np.generic) else value


def check_reference(reference: object, names: list[str], source: str) -> str:
    """The reference group (the first of ``names`` when None), else a LeptotwinError."""
    ref = names[0] if reference is None else str(reference)
    if ref not in names:
        raise LeptotwinError(
            "unknown reference arm",
            source=source,
            field="reference",
            value=reference,
            expected="one of " + ", ".join(names),
        )
    return ref
