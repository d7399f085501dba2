"""Joining plate-reader readings to a layout: the checks every merge shares.

Private to :mod:`leptotwin.formats`: :func:`~leptotwin.formats.merge_plate` and
:func:`~leptotwin.formats.merge_elisa_plate` both start from :func:`_join_inputs`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from leptotwin.errors import LeptotwinError
from leptotwin.formats.plate import (
    PLATE_96,
    PLATE_384,
    PlateFormat,
    WellFlag,
    _parse_wells,
    get_plate_format,
)


def _check_readings(readings: pd.DataFrame, source: str) -> pd.DataFrame:
    for col in ("plate", "well", "signal"):
        if col not in readings:
            raise LeptotwinError(
                "missing column in the readings",
                source=source,
                field=col,
                expected="plate, well, signal (as read_plate_reader returns)",
            )
    signal = pd.to_numeric(readings["signal"], errors="coerce").to_numpy(float)
    bad = np.isnan(signal) & readings["signal"].notna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise LeptotwinError(
            "non-numeric signal",
            source=source,
            field=f"well {readings['well'].iloc[i]}",
            value=readings["signal"].iloc[i],
            expected="numbers or NaN",
        )
    nan_flag = np.where(np.isnan(signal), WellFlag.MISSING.value, WellFlag.OK.value)
    if "flag" in readings:
        flag = readings["flag"].astype(object).where(readings["flag"].notna(), None).to_numpy()
        flag = np.where(pd.isna(flag), nan_flag, flag).astype(str).astype(object)
    else:
        flag = nan_flag.astype(object)
    wells, row, col = _parse_wells(readings["well"].to_numpy(object), None, source=source)
    out = pd.DataFrame(
        {
            "plate": readings["plate"].astype(str).str.strip().to_numpy(object),
            "well": wells,
            "signal": signal,
            "flag": flag,
        }
    )
    dup = out.duplicated(["plate", "well"]).to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        raise LeptotwinError(
            "duplicated well in the readings",
            source=source,
            field=f"plate {out['plate'].iloc[i]}, well {out['well'].iloc[i]}",
            expected="one reading per plate and well",
        )
    out["_r"], out["_c"] = row, col
    return out


def _layout_per_plate(
    lay: pd.DataFrame, plates: NDArray[np.object_], *, lsrc: str, rsrc: str
) -> pd.DataFrame:
    """The layout rows for the plates read: a layout without plate ids is copied to each.

    Raises if a plate is in the layout but not in the readings, or the reverse.
    """
    if (lay["plate"] == "").all():
        return pd.DataFrame({"plate": plates}).merge(lay.drop(columns="plate"), how="cross")
    for missing, src, msg in (
        (sorted(set(lay["plate"]) - set(plates)), lsrc, "plate in the layout has no readings"),
        (sorted(set(plates) - set(lay["plate"])), rsrc, "plate has readings but no layout"),
    ):
        if missing:
            raise LeptotwinError(
                msg,
                source=src,
                field="plate",
                value=missing[0],
                expected="the same plate ids in readings and layout: "
                + ", ".join(map(str, plates)),
            )
    return lay


def _plate_dims(
    reads: pd.DataFrame, plates: NDArray[np.object_], plate_format: int | PlateFormat | None
) -> pd.DataFrame:
    """``plate, _nr, _nc`` (rows, columns), one row per plate: ``plate_format``, else 384 for
    a plate with a reading past ``H12`` and 96 for the others."""
    if plate_format is not None:
        fmt = get_plate_format(plate_format)
        return pd.DataFrame({"plate": plates, "_nr": fmt.n_rows, "_nc": fmt.n_cols})
    big = (reads["_r"] >= PLATE_96.n_rows) | (reads["_c"] >= PLATE_96.n_cols)
    big_plate = big.groupby(reads["plate"], sort=False).any()
    return pd.DataFrame(
        {
            "plate": big_plate.index.to_numpy(object),
            "_nr": np.where(big_plate, PLATE_384.n_rows, PLATE_96.n_rows),
            "_nc": np.where(big_plate, PLATE_384.n_cols, PLATE_96.n_cols),
        }
    )


def _check_on_plate(lay: pd.DataFrame, dims: pd.DataFrame, lsrc: str) -> None:
    """Every layout well lies on its plate (``dims`` as :func:`_plate_dims` returns)."""
    _, lr, lc = _parse_wells(lay["well"].to_numpy(object), None, source=lsrc)
    ldims = lay[["plate"]].merge(dims, on="plate", how="left")
    off = (lr >= ldims["_nr"].to_numpy()) | (lc >= ldims["_nc"].to_numpy())
    if off.any():
        i = int(np.argmax(off))
        n = int(ldims["_nr"].iloc[i] * ldims["_nc"].iloc[i])
        raise LeptotwinError(
            f"layout well is not on the {n}-well plate",
            source=lsrc,
            field=f"plate {lay['plate'].iloc[i]}, well {lay['well'].iloc[i]}",
            expected="a well of the plate read (or pass plate_format=384)",
        )


class _Joined(NamedTuple):
    """Checked inputs of a merge, as :func:`_join_inputs` returns them."""

    reads: pd.DataFrame  # as _check_readings returns
    lay: pd.DataFrame  # the validated layout, one row per layout well and plate read
    dims: pd.DataFrame  # as _plate_dims returns
    plates: NDArray[np.object_]  # plate ids in reading order
    rsrc: str  # the readings' source, for errors


def _join_inputs(
    readings: pd.DataFrame,
    layout: pd.DataFrame,
    validate: Callable[..., pd.DataFrame],
    plate_format: int | PlateFormat | None,
    **options: Any,
) -> _Joined:
    """Check readings, validate the layout with ``validate`` and match the two by plate."""
    rsrc = str(readings.attrs.get("source", "readings"))
    lsrc = str(layout.attrs.get("source", "layout"))
    reads = _check_readings(readings, rsrc)
    plates = pd.unique(reads["plate"])
    lay = _layout_per_plate(validate(layout, source=lsrc, **options), plates, lsrc=lsrc, rsrc=rsrc)
    dims = _plate_dims(reads, plates, plate_format)
    _check_on_plate(lay, dims, lsrc)
    return _Joined(reads, lay, dims, plates, rsrc)
