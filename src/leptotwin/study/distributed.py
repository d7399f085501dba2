"""Dask for the jobs: the client used by ``simulate``, ``fit-curves`` and ``synergy``, and the
cutting of a table into chunks of whole groups."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import pandas as pd

from leptotwin.analysis._groups import group_chunk_rows, text_group_codes
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
