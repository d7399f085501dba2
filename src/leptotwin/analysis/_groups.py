"""Rows grouped by their text, cut into chunks of whole groups: the synergy job's blocks
(:meth:`leptotwin.analysis._synergy_input.CheckedTable.chunks`) and the jobs' Dask chunks
(:func:`leptotwin.study.distributed.whole_group_chunks`) cut tables the same way."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leptotwin.errors import LeptotwinError

__all__ = ["group_chunk_rows", "text_group_codes"]


def text_group_codes(column: pd.Series) -> np.ndarray:
    """``pd.factorize(column.astype(str), sort=False)[0]`` without writing every row as text:
    shape (n_rows,), int codes numbered in order of first appearance, one per distinct text.

    Integers and booleans are grouped by value (one text per value); floats by bit pattern,
    then the distinct patterns by their text (``-0.0`` and ``0.0`` apart, every NaN one
    ``nan``); an object column whose distinct values are all ``str`` by value (the usual block
    ids and names). Anything else (mixed objects such as ``1`` and ``"1"``, missing values,
    extension dtypes) is written as text, as before."""
    values = column.to_numpy() if isinstance(column.dtype, np.dtype) else None
    kind = "" if values is None else values.dtype.kind
    if kind in ("i", "u", "b"):
        return pd.factorize(values, sort=False)[0]
    if kind == "f" and values is not None and values.dtype.itemsize == 8:
        codes, bits = pd.factorize(values.view(np.int64), sort=False)
        texts = pd.Series(np.asarray(bits).view(np.float64)).astype(str)
        return pd.factorize(texts, sort=False)[0][codes]
    if kind == "O" and values is not None:
        from leptotwin.analysis._synergy_input import first_rows, value_codes

        codes = value_codes(values)
        if codes.size and bool((codes >= 0).all()):
            if all(type(v) is str for v in values[first_rows(codes)]):
                return codes
        elif not codes.size:
            return codes
    return pd.factorize(column.astype(str), sort=False)[0]


def group_chunk_rows(groups: np.ndarray, size: int, *, option: str = "size") -> list[np.ndarray]:
    """Row positions (ascending) of each chunk of at most ``size`` whole groups: ``groups`` are
    codes numbered in order of first appearance (shape (n_rows,), :func:`text_group_codes`);
    chunk ``k`` holds groups ``k * size`` to ``(k + 1) * size - 1``. One stable sort, no mask
    per chunk.

    Raises
    ------
    LeptotwinError
        If ``size`` < 1 (named as ``option``).
    """
    if size < 1:
        raise LeptotwinError("chunk size must be >= 1", source=option, value=size)
    chunk = np.asarray(groups) // size
    if chunk.size and bool((chunk[1:] >= chunk[:-1]).all()):  # rows already in chunk order
        order = np.arange(chunk.size)
    else:
        order = np.argsort(chunk, kind="stable")
    return np.split(order, np.cumsum(np.bincount(chunk))[:-1]) if chunk.size else []
