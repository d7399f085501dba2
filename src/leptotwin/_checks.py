"""Small argument checks shared by every layer (like ``errors``, imports nothing else of ours)."""

from __future__ import annotations

import math

import numpy as np

from leptotwin.errors import LeptotwinError

__all__ = ["check_alpha", "plain"]


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
