"""Dask for the jobs: the client used by ``simulate``, ``fit-curves`` and ``synergy``, and the
cutting of a table into chunks of whole groups."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from leptotwin.errors import LeptotwinError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "auto_chunk_size",
    "dask_client",
    "group_chunk_rows",
    "text_group_codes",
    "whole_group_chunks",
]

CONNECT_TIMEOUT_S = 20.0  # how long to wait for a remote scheduler


@contextlib.contextmanager
def dask_client(scheduler: Any, n_workers: int) -> Iterator[Any]:
    """A distributed Client: an existing one (left open), a LocalCluster of ``n_workers``
    single-threaded processes (``"local"``), or a scheduler address (``tcp://host:8786``).

    Raises
    ------
    LeptotwinError
        If the scheduler cannot be reached within :data:`CONNECT_TIMEOUT_S`.
    """
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        with (
            LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(str(scheduler), timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise LeptotwinError(
            f"cannot reach the Dask scheduler: {exc}",
            source="--scheduler",
            value=str(scheduler),
            expected="local, or an address such as tcp://10.0.0.5:8786",
        ) from None
    with client:
        yield client


def whole_group_chunks(
    frame: pd.DataFrame, column: str, size: int, *, option: str
) -> tuple[list[pd.DataFrame], int]:
    """Cut ``frame`` into chunks of at most ``size`` whole groups of ``column`` (groups: the
    values as text, in order of first appearance; :func:`text_group_codes`); returns the chunks
    (rows in table order) and the number of groups.

    Raises
    ------
    LeptotwinError
        If ``size`` < 1 (named as the CLI ``option``).
    """
    groups = text_group_codes(frame[column])
    rows = group_chunk_rows(groups, size, option=option)
    return [frame.iloc[r] for r in rows], int(groups.max()) + 1 if groups.size else 0


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


def auto_chunk_size(
    n_items: int, n_workers: int, *, smallest: int, largest: int, per_worker: int = 4
) -> int:
    """Items per task for ``n_items`` on ``n_workers`` workers: about ``per_worker`` tasks per
    worker (a slow or lost worker then holds back a small share), but never fewer than
    ``smallest`` items per task (each task's scheduling and transfer cost is then small beside its
    work) nor more than ``largest`` (a task's memory stays bounded); at least 1.

    Raises
    ------
    LeptotwinError
        If ``n_workers`` < 1 or ``smallest`` > ``largest``.
    """
    if n_workers < 1:
        raise LeptotwinError("need at least one worker", source="--workers", value=n_workers)
    if not 1 <= smallest <= largest:
        raise LeptotwinError(
            "chunk bounds must satisfy 1 <= smallest <= largest", value=f"{smallest}, {largest}"
        )
    wanted = math.ceil(max(n_items, 1) / (per_worker * n_workers))
    return max(smallest, min(largest, wanted))
