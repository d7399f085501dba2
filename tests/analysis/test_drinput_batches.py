"""The pyarrow path of the tidy CSV reader across many batches (issue 14: no Python work per
label or row, no line-counting pass).

Labels are kept as codes into each batch's dictionary and merged once at the end; the arrays are
sized from the first block's row density and grown where that guess falls short. Each test makes
the reader's blocks tiny so that a small file is read in dozens of batches, and compares with
the pandas path (the outside answer: ``pandas.read_csv``) cell for cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.analysis import _drinput


def _pandas_path(path: Path, *, categorical: bool) -> pd.DataFrame:
    fast = _drinput._read_arrow
    try:
        _drinput._read_arrow = lambda _path, **_: None  # type: ignore[assignment]
        return _drinput.read_tidy(path, categorical=categorical)
    finally:
        _drinput._read_arrow = fast


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_drinput, "_BLOCK_BYTES", 512)


def _write(path: Path, labels: list[str], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "curve": labels,
            "dose": rng.uniform(0, 10, len(labels)),
            "response": rng.normal(50, 30, len(labels)),
        }
    ).to_csv(path, index=False)


@pytest.mark.usefixtures("tiny_blocks")
@pytest.mark.parametrize("categorical", [False, True])
def test_labels_spread_over_many_batches(tmp_path: Path, categorical: bool) -> None:
    """Labels running across batch boundaries and coming back batches later: one label list in
    order of first appearance, every row's label as pandas reads it."""
    order = [f'c{k % 37:02d}, "q" é' if k % 5 else f"plate_{k % 23}" for k in range(600)]
    labels = [name for name in order for _ in range(3)]
    path = tmp_path / "in.csv"
    _write(path, labels)
    fast = _drinput._read_arrow(path, categorical=categorical)
    assert fast is not None
    slow = _pandas_path(path, categorical=False)
    pd.testing.assert_frame_equal(fast.astype({"curve": object}), slow, check_exact=True)
    assert fast["curve"].astype(object).tolist() == labels
    if categorical:  # the pandas path sorts them
        assert fast["curve"].cat.categories.tolist() == list(dict.fromkeys(labels))


@pytest.mark.usefixtures("tiny_blocks")
def test_arrays_grow_past_the_first_blocks_guess(tmp_path: Path) -> None:
    """Long rows first (few rows a block), short ones after: more rows than the first block
    suggests, all of them read."""
    labels = ["x" * 200 + str(k) for k in range(10)] + [f"s{k % 7}" for k in range(3000)]
    path = tmp_path / "in.csv"
    _write(path, labels, seed=1)
    fast = _drinput._read_arrow(path)
    assert fast is not None and len(fast) == len(labels)
    pd.testing.assert_frame_equal(fast, _pandas_path(path, categorical=False), check_exact=True)


@pytest.mark.usefixtures("tiny_blocks")
@pytest.mark.parametrize("bad", [" lead", "\tlead", "two\nlines", ""])
def test_a_late_label_the_fast_path_cannot_vouch_for(tmp_path: Path, bad: str) -> None:
    """A label with a leading blank, a line break or nothing at all in a late batch: the fast
    path declines (None) and the reader gives the pandas path's table or its error."""
    labels = [f"c{k // 3}" for k in range(900)]
    labels[850] = bad
    path = tmp_path / "in.csv"
    _write(path, labels, seed=2)
    assert _drinput._read_arrow(path) is None
