"""Virtual sandwich ELISA (human amphiregulin, DuoSet DY262 format), read at 450 nm.

A plate holds a standard series (the top standard and ``n_standards - 1`` two-fold dilutions,
plus the zero standard as blank wells) and samples, each in ``replicates`` adjacent wells. The
reader's OD is a 5PL (4PL when the asymmetry is 1) of the true in-well concentration ``x``::

    OD = a + (d - a) * (1 - 1 / (1 + (x / c)^b)^g)      a: blank OD, d: top asymptote

with, per plate, a lognormal variation of the amplitude ``d - a`` and of ``c`` (``plate_cv``),
per well multiplicative noise on the specific signal ``OD - a`` (``well_cv``) and additive read
noise (``read_sd``), readings rounded to ``decimals`` and wells above the reader's range
(``od_max``) reported as ``OVER``. Every number comes from the catalogue kit ``areg_elisa``.

:func:`simulate_elisa` returns a tidy well table that keeps the truth in ``true_*`` columns;
:func:`write_elisa` writes what a lab would have: a plate-reader export
(:func:`leptotwin.formats.write_plate_reader`) and an ELISA layout file
(:func:`leptotwin.formats.write_elisa_layout`), which
:func:`leptotwin.analysis.standard_curve.read_elisa` reads back like real data.

Example
-------
>>> import numpy as np, pandas as pd
>>> samples = pd.DataFrame({"sample_id": ["AR", "parental"], "true_pg_mL": [2400.0, 300.0],
...                         "dilution": [4.0, 1.0]})
>>> wells = simulate_elisa(samples, rng=np.random.default_rng(1))
>>> wells["role"].value_counts().to_dict()
{'standard': 14, 'sample': 4, 'blank': 2}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.formats import (
    ELISA_LAYOUT_COLUMNS,
    get_plate_format,
    write_elisa_layout,
    write_plate_reader,
)

__all__ = ["ELISA_KIT", "design_elisa", "simulate_elisa", "write_elisa"]

ELISA_KIT = "areg_elisa"
_SRC = "simulate_elisa"
_WELL_COLUMNS = (*ELISA_LAYOUT_COLUMNS, "signal", "flag", "true_in_well_pg_mL", "true_pg_mL")


def _check_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """``sample_id`` (str), ``true_pg_mL`` (float >= 0), ``dilution`` (float > 0), ``group``."""
    if not isinstance(samples, pd.DataFrame):
        raise LeptotwinError(
            "expected a DataFrame of samples", source=_SRC, value=type(samples).__name__
        )
    for col in ("sample_id", "true_pg_mL"):
        if col not in samples:
            raise LeptotwinError(
                "missing column in the samples",
                source=_SRC,
                field=col,
                expected="sample_id, true_pg_mL and optionally dilution, group",
            )
    frame = samples.reset_index(drop=True)
    out = pd.DataFrame({"sample_id": frame["sample_id"].astype(str).str.strip()})
    out["group"] = frame["group"].astype(str) if "group" in frame else ""
    for col, default in (("true_pg_mL", None), ("dilution", 1.0)):
        if col not in frame:
            out[col] = default
            continue
        num = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        low = 0.0 if col == "true_pg_mL" else np.nextafter(0.0, 1.0)
        bad = ~(np.isfinite(num) & (num >= low))
        if bad.any():
            i = int(np.argmax(bad))
            what = "a concentration >= 0 in pg/mL" if col == "true_pg_mL" else "a factor > 0"
            raise LeptotwinError(
                f"bad {col.replace('_', ' ')}",
                source=_SRC,
                field=f"row {i}, column {col}",
                value=frame[col].iloc[i],
                expected=what,
            )
        out[col] = num
    empty = (out["sample_id"] == "") | frame["sample_id"].isna()
    dup = out.duplicated(["sample_id", "dilution"])
    for bad, msg in ((empty, "empty sample_id"), (dup, "sample and dilution listed twice")):
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise LeptotwinError(
                msg,
                source=_SRC,
                field=f"row {i}, column sample_id",
                value=out["sample_id"].iloc[i],
                expected="one row per sample and dilution",
            )
    return out


def design_elisa(
    samples: pd.DataFrame,
    *,
    replicates: int = 2,
    top_standard_pg_mL: float | None = None,
    n_standards: int | None = None,
    dilution_step: float | None = None,
    plate_format: int = 96,
    plate_prefix: str = "E",
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Lay out standards, blanks and samples on as many plates as needed.

    Wells are filled in column blocks of ``replicates`` adjacent columns, top to bottom, as a
    multichannel pipette does: on a 96-well plate in duplicate, columns 1-2 hold the
    standards from the top one (row A) down to the zero standard (row H), and columns 3-12
    hold 40 samples, the two wells of a sample side by side. Each plate carries its own
    standard series.

    Parameters
    ----------
    samples : DataFrame, one row per sample and dilution
        ``sample_id``, ``true_pg_mL`` (undiluted concentration, pg/mL, >= 0), optionally
        ``dilution`` (factor > 0, default 1) and ``group``.
    replicates : int
        Wells per standard, blank and sample.
    top_standard_pg_mL, n_standards, dilution_step : optional
        Standard series; defaults from the catalogue kit ``areg_elisa`` (2,000 pg/mL, 7
        standards, 2-fold).
    plate_format : {96, 384}
    plate_prefix : str
        Plates are named ``E01``, ``E02``...

    Returns
    -------
    DataFrame, one row per used well
        ``plate, well, role`` (standard, blank, sample), ``sample_id, group, nominal_pg_mL``
        (standards and blanks), ``dilution`` (samples), ``true_in_well_pg_mL``, ``true_pg_mL``.

    Raises
    ------
    LeptotwinError
        On a missing sample column, an empty or duplicated sample, a negative or non-numeric
        concentration, a dilution factor <= 0, fewer than 1 or more replicates than plate
        columns, or a standard series that does not fit a column block.
    """
    smp = _check_samples(samples)
    cat = catalog or load_catalog()
    kit = lambda given, name: cat.assay_value(ELISA_KIT, name) if given is None else given  # noqa: E731
    top = float(kit(top_standard_pg_mL, "top_standard"))
    n_std = int(kit(n_standards, "n_standards"))
    step = float(kit(dilution_step, "dilution_step"))
    fmt = get_plate_format(plate_format)
    if not 1 <= int(replicates) <= fmt.n_cols:
        raise LeptotwinError(
            "bad number of replicates", source=_SRC, field="replicates", value=replicates,
            expected=f"1 to {fmt.n_cols} wells per sample",
        )  # fmt: skip
    if not (top > 0 and step > 1 and 1 <= n_std < fmt.n_rows * (fmt.n_cols // replicates) - 1):
        raise LeptotwinError(
            "bad standard series", source=_SRC, field="top_standard_pg_mL, n_standards, "
            "dilution_step", value=(top, n_std, step),
            expected="top > 0, step > 1 and a series that leaves room for samples",
        )  # fmt: skip
    reps = int(replicates)
    blocks = fmt.n_cols // reps
    slots = blocks * fmt.n_rows
    levels = [top / step**k for k in range(n_std)] + [0.0]
    per_plate = slots - len(levels)
    n_plates = max(1, -(-len(smp) // per_plate))
    # every plate at once: the standard series, then the plate's share of the samples, each
    # slot repeated in ``reps`` adjacent wells (no per-plate frames: runs have 1,000 plates)
    n_lev, n_smp = len(levels), len(smp)
    first = np.arange(n_plates) * per_plate  # each plate's first sample
    used = n_lev + np.minimum(per_plate, n_smp - first)  # slots used on each plate
    plate_of = np.repeat(np.arange(n_plates), used)
    slot = np.arange(plate_of.size) - np.repeat(np.cumsum(used) - used, used)
    is_std = slot < n_lev
    k = np.where(is_std, 0, first[plate_of] + slot - n_lev)  # sample row (where not a standard)
    lev = np.asarray(levels, float)[np.minimum(slot, n_lev - 1)]
    sample_text = {c: smp[c].to_numpy(object) for c in ("sample_id", "group")}
    dil = smp["dilution"].to_numpy(float)
    true = smp["true_pg_mL"].to_numpy(float)
    if n_smp == 0:  # one plate of standards only: nothing is taken from the samples
        sample_text = {c: np.array([""], object) for c in sample_text}
        dil, true = np.array([np.nan]), np.array([np.nan])
    names = np.array([f"{plate_prefix}{p + 1:02d}" for p in range(n_plates)], object)
    block, row = np.divmod(slot, fmt.n_rows)
    i = np.repeat(np.arange(slot.size), reps)  # base slot of each well
    col = block[i] * reps + np.tile(np.arange(reps), slot.size) + 1
    letters = np.array(fmt.row_letters, dtype=object)[row[i]]
    out = pd.DataFrame(
        {
            "plate": names[plate_of][i],
            "role": np.where(is_std, np.where(lev > 0, "standard", "blank"), "sample")[i].astype(
                object
            ),
            "sample_id": np.where(is_std, "", sample_text["sample_id"][k])[i],
            "group": np.where(is_std, "", sample_text["group"][k])[i],
            "nominal_pg_mL": np.where(is_std, lev, np.nan)[i],
            "dilution": np.where(is_std, np.nan, dil[k])[i],
            "true_pg_mL": np.where(is_std, lev, true[k])[i],
            "well": letters + pd.Series(col).astype(str).str.zfill(2).to_numpy(object),
        }
    )
    dil = out["dilution"].fillna(1.0)
    out["true_in_well_pg_mL"] = out["true_pg_mL"] / dil
    return out[[c for c in _WELL_COLUMNS if c not in ("signal", "flag")]]


def simulate_elisa(
    samples: pd.DataFrame,
    *,
    rng: np.random.Generator,
    replicates: int = 2,
    noise: bool = True,
    decimals: int | None = 3,
    plate_format: int = 96,
    plate_prefix: str = "E",
    catalog: Catalog | None = None,
    **series: float,
) -> pd.DataFrame:
    """Run the virtual ELISA on ``samples``.

    Parameters
    ----------
    samples : DataFrame
        As in :func:`design_elisa`.
    rng : numpy.random.Generator
        Source of plate, well and read noise (not drawn from when ``noise=False``).
    replicates, plate_format, plate_prefix
        As in :func:`design_elisa`.
    noise : bool
        ``False`` gives the exact curve (no plate, well or read noise, no rounding):
        the analysis must then recover every concentration exactly.
    decimals : int or None
        Readers report OD to 3 decimals; ``None`` keeps full precision.
    catalog : Catalog, optional
        Kit settings (``areg_elisa``); pass a modified one for counterfactuals.
    **series
        ``top_standard_pg_mL``, ``n_standards``, ``dilution_step`` for :func:`design_elisa`.

    Returns
    -------
    DataFrame, one row per used well
        ``plate, well, role, sample_id, group, nominal_pg_mL, dilution, signal`` (OD, NaN
        when saturated), ``flag`` (``"ok"`` or ``"overflow"``), ``true_in_well_pg_mL``,
        ``true_pg_mL``. ``attrs["true_curve"]`` maps each plate to its OD curve, ``{"a", "b",
        "c", "d", "g"}`` as in :class:`leptotwin.analysis.standard_curve.StandardCurveFitter`
        (``pd.DataFrame.from_dict(attrs["true_curve"], orient="index")`` tabulates it).

    Raises
    ------
    LeptotwinError
        As :func:`design_elisa`, or if ``rng`` is not a numpy Generator.
    """
    if not isinstance(rng, np.random.Generator):
        raise LeptotwinError(
            "rng must be a numpy.random.Generator", source=_SRC, field="rng",
            value=type(rng).__name__, expected="numpy.random.default_rng(seed)",
        )  # fmt: skip
    unknown = sorted(set(series) - {"top_standard_pg_mL", "n_standards", "dilution_step"})
    if unknown:
        raise LeptotwinError(
            "unknown option", source=_SRC, field=unknown[0],
            expected="top_standard_pg_mL, n_standards, dilution_step",
        )  # fmt: skip
    cat = catalog or load_catalog()
    wells = design_elisa(
        samples,
        replicates=replicates,
        plate_format=plate_format,
        plate_prefix=plate_prefix,
        catalog=cat,
        **series,  # type: ignore[arg-type]
    )
    v = lambda name: cat.assay_value(ELISA_KIT, name)  # noqa: E731
    plates, codes = np.unique(wells["plate"].to_numpy(str), return_inverse=True)
    n_p, n_w = len(plates), len(wells)
    a, d, c, b, g = v("blank_od"), v("top_od"), v("ec50"), v("hill"), v("asymmetry")
    if noise:
        amp = (d - a) * np.exp(rng.normal(0.0, v("plate_cv"), n_p))
        c_p = c * np.exp(rng.normal(0.0, v("plate_cv"), n_p))
    else:
        amp, c_p = np.full(n_p, d - a), np.full(n_p, c)
    x = wells["true_in_well_pg_mL"].to_numpy(float)
    frac = 1.0 - (1.0 + (x / c_p[codes]) ** b) ** (-g)
    specific = amp[codes] * frac
    if noise:
        specific = specific * np.exp(rng.normal(0.0, v("well_cv"), n_w))
        od = a + specific + rng.normal(0.0, v("read_sd"), n_w)
        od = np.maximum(od, 0.0)
        if decimals is not None:
            od = np.round(od, int(decimals))
    else:
        od = a + specific
    over = od > v("od_max")
    out = wells.copy()
    out["signal"] = np.where(over, np.nan, od)
    out["flag"] = np.where(over, "overflow", "ok").astype(object)
    out = out[list(_WELL_COLUMNS)]
    out.attrs["true_curve"] = {
        str(p): {"a": a, "b": b, "c": float(c_p[i]), "d": float(a + amp[i]), "g": g}
        for i, p in enumerate(plates)
    }
    return out


def write_elisa(
    wells: pd.DataFrame,
    plate_path: str | os.PathLike[str],
    layout_path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write a plate-reader export and an ELISA layout file (both atomically).

    Parameters
    ----------
    wells : DataFrame
        As :func:`simulate_elisa` returns (the ``true_*`` columns are not written).
    plate_path, layout_path : path-like
        The export (grid blocks, one per plate, ``OVER`` for saturated wells) and the layout
        (columns ``plate, well, role, sample_id, group, nominal_pg_mL, dilution``).
    metadata : mapping, optional
        Extra header lines of the export (defaults: the virtual reader, absorbance 450 nm,
        OD).

    Returns
    -------
    (Path, Path)
        The export and the layout written.

    Raises
    ------
    LeptotwinError
        If a column is missing, or as :func:`leptotwin.formats.write_plate_reader` and
        :func:`leptotwin.formats.write_elisa_layout`.
    """
    missing = [c for c in (*ELISA_LAYOUT_COLUMNS, "signal") if c not in wells]
    if missing:
        raise LeptotwinError(
            "missing column", source="write_elisa", field=missing[0],
            expected=", ".join((*ELISA_LAYOUT_COLUMNS, "signal", "flag")),
        )  # fmt: skip
    meta = {
        "Instrument": "leptotwin virtual plate reader",
        "Read type": "Absorbance 450 nm (540 nm corrected)",
        "Units": "OD",
        "Assay": "Human Amphiregulin DuoSet ELISA (DY262), virtual",
        **(metadata or {}),
    }
    cols = ["plate", "well", "signal"] + (["flag"] if "flag" in wells else [])
    plate_file = write_plate_reader(plate_path, wells[cols], metadata=meta)
    layout_file = write_elisa_layout(layout_path, wells[list(ELISA_LAYOUT_COLUMNS)])
    return plate_file, layout_file
