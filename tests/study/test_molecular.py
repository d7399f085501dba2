"""The virtual lab's western blot (study/sections/molecular.py)."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study.reproduce import Context
from leptotwin.study.sections import molecular


def _ctx(tmp_path):
    return Context(rng=np.random.default_rng(1), seed=1, out_dir=tmp_path, name="blot")


def test_a_lane_too_faint_to_find_is_placed_by_the_comb(tmp_path, monkeypatch):
    """Lane detection that finds 5 of 6 lanes (one draw in 200 of the claims ensemble) → the
    blot is read at the comb's nominal lane centres instead of failing the section; any other
    refusal still raises."""
    real = molecular.quantify_blot
    calls = []

    def faint(image, n_lanes, windows, **kw):
        calls.append(kw.get("lane_centers"))
        if kw.get("lane_centers") is None:
            raise LeptotwinError("n_lanes: found only 5 lanes", source="detect_lanes")
        return real(image, n_lanes, windows, **kw)

    monkeypatch.setattr(molecular, "quantify_blot", faint)
    ratios = molecular.run_blot(_ctx(tmp_path))
    assert calls[0] is None and calls[1] is not None
    centres = np.asarray(calls[1])
    assert np.allclose(np.diff(centres), np.diff(centres)[0])  # evenly spaced, as the comb
    assert len(centres) == len(molecular.blot_lanes())
    assert np.isfinite(ratios["relative"]).any()

    def refused(*_a, **_k):
        raise LeptotwinError("strip rows outside the image")

    monkeypatch.setattr(molecular, "quantify_blot", refused)
    with pytest.raises(LeptotwinError, match="strip rows"):
        molecular.run_blot(_ctx(tmp_path / "b"))
