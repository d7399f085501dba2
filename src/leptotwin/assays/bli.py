"""Virtual bioluminescence imaging (BLI) of luciferase-labelled tumour cells, and the
neurological endpoint.

The hidden truth is a tidy table of live tumour cells per mouse and imaging day. The virtual
IVIS turns it into what Living Image exports for a region of interest (ROI) over head and spine::

    total_flux_p_s = live_cells x photons_per_cell x attenuation_mouse x noise_image
                     + background_image

* ``attenuation_mouse`` — the fraction of emitted photons that leave the body towards the camera
  (skull, vertebrae, skin, hair); log-normal with median ``attenuation`` and log-SD
  ``attenuation_sd_log``, drawn once per mouse and constant over time;
* ``noise_image`` — log-normal, median 1, log-SD ``noise_sd_log``, one per image (luciferin
  kinetics, anaesthesia, positioning);
* ``background_image`` — the flux of an empty ROI (dark current, read noise,
  autoluminescence); log-normal with median ``background_p_s``, one per image.

All settings come from the ``bli`` block of ``catalog/data/assays.yaml``. Saturation is not
modelled (an IVIS run at auto-exposure does not saturate on LMC signal).

Two file formats are written: the tidy CSV ``mouse, arm, day, total_flux_p_s`` and an IVIS-like
ROI measurement export (one row per mouse per imaging day). Both are read back by
:func:`leptotwin.analysis.growth.read_bli`.

:func:`survival_from_burden` turns the true burden into the neurological endpoint the lab
records: the day a mouse reaches the humane endpoint (burden above a threshold) or is censored.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from leptotwin._fileio import write_csv
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.formats.mouse_table import check_mouse_day_table

__all__ = [
    "BLI_FORMATS",
    "IVIS_COLUMNS",
    "BLISettings",
    "simulate_bli",
    "survival_from_burden",
    "write_bli",
]

BLI_FORMATS = ("tidy", "ivis")
TIDY_COLUMNS = ("mouse", "arm", "day", "total_flux_p_s")
IVIS_COLUMNS = (
    "Image Number",
    "ROI",
    "Image Label",
    "Total Flux [p/s]",
    "Avg Radiance [p/s/cm²/sr]",
    "ROI Area [cm²]",
    "Animal Number",
    "Group",
    "Time Point",
    "Exposure Time [s]",
    "Binning Factor",
    "f/stop",
)
_BURDEN_COLUMNS = ("mouse", "arm", "day", "live_cells")
_SOURCE = "simulate_bli"


@dataclass(frozen=True)
class BLISettings:
    """Settings of the virtual IVIS (see the ``bli`` block of the assay catalogue for units and
    sources). Build with :meth:`from_catalog`; replace single values with
    ``dataclasses.replace`` for sensitivity analyses."""

    photons_per_cell: float
    attenuation: float
    attenuation_sd_log: float
    noise_sd_log: float
    background_p_s: float
    background_sd_log: float
    roi_area_cm2: float
    exposure_s: float
    binning: float
    f_stop: float

    @classmethod
    def from_catalog(cls, catalog: Catalog | None = None) -> BLISettings:
        """Read every setting from ``catalog.assays["bli"]`` (the packaged catalogue by default)."""
        cat = catalog if catalog is not None else load_catalog()
        return cls(**{f.name: float(cat.assay_value("bli", f.name)) for f in fields(cls)})

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            sd = f.name.endswith("_sd_log")
            if not math.isfinite(value) or value < 0 or (value == 0 and not sd):
                raise LeptotwinError(
                    "invalid BLI setting",
                    source="BLISettings",
                    field=f.name,
                    value=value,
                    expected="a finite value >= 0" if sd else "a finite value > 0",
                )

    @property
    def photons_per_cell_in_vivo(self) -> float:
        """Median flux per live cell seen by the camera (p/s/cell): emission x attenuation."""
        return self.photons_per_cell * self.attenuation


def _check_burden(df: pd.DataFrame, source: str, *, allow_zero_rows: bool = False) -> pd.DataFrame:
    out = check_mouse_day_table(
        df, "live_cells", source=source, what="burden table", allow_empty=allow_zero_rows
    )
    if (out["live_cells"] < 0).any():
        raise LeptotwinError(
            "negative number of live cells",
            source=source,
            field="live_cells",
            value=float(out["live_cells"].min()),
            expected="live_cells >= 0",
        )
    return out


def simulate_bli(
    burden: pd.DataFrame,
    *,
    rng: np.random.Generator,
    settings: BLISettings | None = None,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Image every mouse on every day of ``burden``.

    Parameters
    ----------
    burden : DataFrame
        One row per mouse and imaging day with ``mouse, arm, day, live_cells`` (true live tumour
        cells). Rows are imaged as given: drop the days after a mouse's death before calling.
    rng : numpy.random.Generator
        Source of the per-mouse attenuation, the per-image noise and the background. Draws are
        made in the order of mice (first appearance) and then of rows.
    settings : BLISettings, optional
        Instrument settings; ``BLISettings.from_catalog(catalog)`` by default.
    catalog : Catalog, optional
        Used only when ``settings`` is not given.

    Returns
    -------
    DataFrame
        ``mouse, arm, day, total_flux_p_s`` plus the hidden truth ``true_live_cells`` and
        ``true_attenuation`` (per mouse) and ``true_background_p_s`` (per image), sorted by mouse
        (first appearance) and day.

    Raises
    ------
    LeptotwinError
        Missing columns, non-numeric or negative values, duplicated mouse-day rows, a mouse in
        two arms.
    """
    if not isinstance(rng, np.random.Generator):
        raise LeptotwinError(
            "rng must be a numpy.random.Generator",
            source=_SOURCE,
            field="rng",
            value=type(rng).__name__,
            expected="numpy.random.default_rng(seed)",
        )
    s = settings if settings is not None else BLISettings.from_catalog(catalog)
    table = _check_burden(burden, _SOURCE)
    mice = pd.unique(table["mouse"])
    order = {m: i for i, m in enumerate(mice)}
    table = (
        table.assign(_order=table["mouse"].map(order))
        .sort_values(["_order", "day"], kind="stable")
        .reset_index(drop=True)
    )
    atten = s.attenuation * np.exp(s.attenuation_sd_log * rng.standard_normal(len(mice)))
    n = len(table)
    noise = np.exp(s.noise_sd_log * rng.standard_normal(n))
    background = s.background_p_s * np.exp(s.background_sd_log * rng.standard_normal(n))
    a = atten[table["_order"].to_numpy()]
    cells = table["live_cells"].to_numpy()
    flux = cells * s.photons_per_cell * a * noise + background
    return pd.DataFrame(
        {
            "mouse": table["mouse"].to_numpy(),
            "arm": table["arm"].to_numpy(),
            "day": table["day"].to_numpy(),
            "total_flux_p_s": flux,
            "true_live_cells": cells,
            "true_attenuation": a,
            "true_background_p_s": background,
        }
    )


def _ivis_frame(images: pd.DataFrame, s: BLISettings) -> pd.DataFrame:
    table = images.reset_index(drop=True)
    days = table["day"].astype(float)
    day_labels = [f"Day {d:g}" for d in days]
    flux = table["total_flux_p_s"].astype(float).to_numpy()
    radiance = flux / (4.0 * math.pi * s.roi_area_cm2)
    # one image per mouse per session: number them in acquisition order (day, then mouse)
    acq = np.lexsort((np.arange(len(table)), days.to_numpy()))
    number = np.empty(len(table), dtype=object)
    number[acq] = [f"LT{k:05d}" for k in range(1, len(table) + 1)]
    return pd.DataFrame(
        {
            "Image Number": number,
            "ROI": "ROI 1",
            "Image Label": [
                f"{m} {a} {d}"
                for m, a, d in zip(table["mouse"], table["arm"], day_labels, strict=True)
            ],
            "Total Flux [p/s]": [f"{v:.6e}" for v in flux],
            "Avg Radiance [p/s/cm²/sr]": [f"{v:.6e}" for v in radiance],
            "ROI Area [cm²]": f"{s.roi_area_cm2:g}",
            "Animal Number": table["mouse"].astype(str).to_numpy(),
            "Group": table["arm"].astype(str).to_numpy(),
            "Time Point": day_labels,
            "Exposure Time [s]": f"{s.exposure_s:g}",
            "Binning Factor": f"{s.binning:g}",
            "f/stop": f"{s.f_stop:g}",
        },
        columns=list(IVIS_COLUMNS),
    )


def write_bli(
    images: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    fmt: str = "tidy",
    settings: BLISettings | None = None,
    catalog: Catalog | None = None,
) -> Path:
    """Write BLI measurements atomically.

    Parameters
    ----------
    images : DataFrame
        ``mouse, arm, day, total_flux_p_s`` (e.g. from :func:`simulate_bli`; ``true_*`` columns
        are never written).
    path : path-like
    fmt : {"tidy", "ivis"}
        ``"tidy"``: CSV with ``mouse, arm, day, total_flux_p_s`` (full float precision).
        ``"ivis"``: a Living-Image-like ROI measurement CSV (UTF-8) with the columns
        :data:`IVIS_COLUMNS`, one row per mouse per imaging day; fluxes with 7 significant
        digits; ``Avg Radiance = Total Flux / (4 pi sr x ROI area)``.
    settings : BLISettings, optional
        ROI area and camera settings for the IVIS export (catalogue by default).

    Returns
    -------
    Path
        The file written.
    """
    if fmt not in BLI_FORMATS:
        raise LeptotwinError(
            "unknown BLI file format",
            source="write_bli",
            field="fmt",
            value=fmt,
            expected=" or ".join(BLI_FORMATS),
        )
    missing = [c for c in TIDY_COLUMNS if c not in images.columns]
    if missing:
        raise LeptotwinError(
            "BLI table lacks columns",
            source="write_bli",
            field=", ".join(missing),
            expected="columns " + ", ".join(TIDY_COLUMNS),
        )
    if fmt == "tidy":
        return write_csv(path, images.loc[:, list(TIDY_COLUMNS)].reset_index(drop=True))
    s = settings if settings is not None else BLISettings.from_catalog(catalog)
    return write_csv(path, _ivis_frame(images, s))


def survival_from_burden(
    df: pd.DataFrame, threshold_cells: float, *, censor_day: float
) -> pd.DataFrame:
    """The neurological endpoint: the day each mouse's true burden first reaches a threshold.

    Between two observation days the burden is interpolated linearly in log burden (exponential
    growth between samples): if ``b0 < threshold <= b1`` on days ``d0 < d1``, the endpoint is
    ``d0 + (d1 - d0) x (ln threshold - ln b0) / (ln b1 - ln b0)``; after a burden of 0 (log = -inf)
    the crossing falls at ``d1``. A mouse at or above the
    threshold on its first observation day has its event on that day. Rows after ``censor_day``
    are ignored; a mouse that never reaches the threshold is censored at the end of its follow-up,
    ``min(censor_day, last observation day)``.

    Parameters
    ----------
    df : DataFrame
        ``mouse, arm, day, live_cells`` (the hidden truth, e.g. on a daily grid).
    threshold_cells : float
        Burden (cells) at which a mouse shows neurological signs and is euthanised; > 0.
    censor_day : float
        End of follow-up (days).

    Returns
    -------
    DataFrame
        One row per mouse (order of first appearance): ``mouse, arm, time_days`` (float),
        ``event`` (int, 1 = endpoint reached, 0 = censored).

    Raises
    ------
    LeptotwinError
        Bad burden table (see :func:`simulate_bli`), a threshold that is not a positive finite
        number, a censor day before a mouse's first observation.
    """
    source = "survival_from_burden"
    thr = _positive(threshold_cells, source, "threshold_cells")
    try:
        end = float(censor_day)
    except (TypeError, ValueError):
        end = math.nan
    if not math.isfinite(end):
        raise LeptotwinError(
            "censor day must be a finite number",
            source=source,
            field="censor_day",
            value=censor_day,
        )
    table = _check_burden(df, source, allow_zero_rows=True)
    rows: list[tuple[object, object, float, int]] = []
    for mouse, group in table.groupby("mouse", sort=False):
        g = group.sort_values("day")
        g = g[g["day"] <= end]
        if g.empty:
            raise LeptotwinError(
                "mouse has no observation on or before the censor day",
                source=source,
                field="censor_day",
                value=f"{mouse}: first day {group['day'].min():g}, censor_day {end:g}",
            )
        days = g["day"].to_numpy()
        cells = g["live_cells"].to_numpy()
        arm = g["arm"].iloc[0]
        above = np.flatnonzero(cells >= thr)
        if above.size == 0:
            rows.append((mouse, arm, float(min(end, days[-1])), 0))
            continue
        i = int(above[0])
        if i == 0:
            rows.append((mouse, arm, float(days[0]), 1))
            continue
        if cells[i - 1] <= 0:  # log(0) = -inf: the crossing is at the later day
            t = days[i]
        else:
            lb0, lb1 = math.log(cells[i - 1]), math.log(cells[i])
            frac = (math.log(thr) - lb0) / (lb1 - lb0)
            t = days[i - 1] + (days[i] - days[i - 1]) * min(max(frac, 0.0), 1.0)
        rows.append((mouse, arm, float(t), 1))
    out = pd.DataFrame(rows, columns=["mouse", "arm", "time_days", "event"])
    return out.astype({"time_days": float, "event": int})


def _positive(value: object, source: str, name: str) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    if not (math.isfinite(x) and x > 0):
        raise LeptotwinError(
            f"{name} must be a positive finite number",
            source=source,
            field=name,
            value=value,
            expected="> 0",
        )
    return x
