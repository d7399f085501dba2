"""An ELISA run as a lab does it: assay, then re-assay what fell above the standard curve.

Both AREG ELISAs of the study (conditioned medium, viability section; patients' CSF, patients
section) go through :func:`assay_with_reruns`: the samples are assayed at a starting dilution
(virtual DuoSet plate → plate export and layout → 4PL standard curve); samples read above the
top of the curve are re-assayed at 10 × the dilution, up to three times; a sample still above the
range is reported at the ULOQ and one below the range at the LLOQ, each flagged as censored. A
plate whose standards are not monotone is read once more without its top standard (a saturated
plateau on which the two top standards swapped, as an analyst would mask it); a plate that still
fails QC is repeated with fresh wells, up to twice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leptotwin.analysis.standard_curve import StandardCurveFitter, read_elisa
from leptotwin.assays.elisa import simulate_elisa, write_elisa
from leptotwin.errors import LeptotwinError
from leptotwin.study.reproduce import Context

__all__ = ["ABOVE_RANGE", "BELOW_RANGE", "assay_with_reruns"]

#: Flags of the standard-curve analysis for a reading above / below the quantifiable range.
ABOVE_RANGE = ("above_uloq", "above_top", "overflow")
BELOW_RANGE = ("below_lloq", "below_bottom")
RERUN_FACTOR = 10.0
MAX_RERUNS = 3
#: How often a plate whose standard curve fails QC is repeated before the run gives up.
MAX_PLATE_REPEATS = 2


def _one_plate(
    ctx: Context, samples: pd.DataFrame, dilution: float, folder: str | None, stem: str
) -> tuple[pd.DataFrame, StandardCurveFitter]:
    """One plate, repeated with fresh wells while its standard curve fails QC."""
    for repeat in range(MAX_PLATE_REPEATS + 1):
        name = stem if repeat == 0 else f"{stem}_repeat{repeat}"
        try:
            table, fitter = _assay_plate(ctx, samples, dilution, folder, name)
        except LeptotwinError:
            if repeat == MAX_PLATE_REPEATS:
                raise
            continue
        fitter.plate_repeats = repeat
        return table, fitter
    raise AssertionError("unreachable")  # pragma: no cover


def _assay_plate(
    ctx: Context, samples: pd.DataFrame, dilution: float, folder: str | None, stem: str
) -> tuple[pd.DataFrame, StandardCurveFitter]:
    wells = simulate_elisa(
        samples[["sample_id", "group", "true_pg_mL"]].assign(dilution=dilution), rng=ctx.rng
    )
    if folder is not None:
        out = ctx.out_dir / folder
        export, layout = out / f"{stem}_export.csv", out / f"{stem}_layout.csv"
        write_elisa(wells, export, layout)
        wells = read_elisa(export, layout)
    try:
        fitter = StandardCurveFitter(model="4PL").fit(wells)
    except LeptotwinError as exc:
        # the two top standards swapped on a saturated plateau: the analyst masks that plate's
        # top standard and reads it on the curve below (samples above are re-assayed diluted,
        # as any above-range sample); any other refusal repeats the plate
        if "not monotone" not in str(exc):
            raise
        fitter = StandardCurveFitter(model="4PL").fit(_mask_swapped_top(wells))
    return fitter.samples_, fitter


def assay_with_reruns(
    ctx: Context,
    samples: pd.DataFrame,
    *,
    dilution: float,
    folder: str | None = None,
    stem: str = "areg_elisa",
) -> tuple[pd.DataFrame, StandardCurveFitter]:
    """Assay ``samples`` (columns ``sample_id, group, true_pg_mL``) and re-assay the high ones.

    Parameters
    ----------
    ctx : Context
        Its ``rng`` draws the instrument noise; with ``folder`` the first plate is written under
        ``ctx.out_dir / folder`` as ``<stem>_export.csv`` and ``<stem>_layout.csv`` and read back.
    dilution : float
        The first pass's dilution factor (≥ 1); each re-assay multiplies it by 10.

    Returns
    -------
    (DataFrame, StandardCurveFitter)
        One row per sample (the fitter's sample table of the pass that measured it, with
        ``dilution`` and ``flag``) plus ``areg_pg_mL`` (pg/mL in the undiluted sample; at the LLOQ
        or the ULOQ where censored), ``censored_below_lloq`` and ``censored_above_uloq``; and the
        first plate's fitter (its standard curve is the one a report shows).
    """
    result, first = _one_plate(ctx, samples, dilution, folder, stem)
    for _ in range(MAX_RERUNS):
        high = result["flag"].isin(ABOVE_RANGE)
        if not high.any():
            break
        dilution *= RERUN_FACTOR
        redo = samples[samples["sample_id"].isin(result.loc[high, "sample_id"])]
        again, _ = _one_plate(ctx, redo, dilution, None, stem)
        result = pd.concat([result[~high], again], ignore_index=True)
    below = result["flag"].isin(BELOW_RANGE)
    above = result["flag"].isin(ABOVE_RANGE)
    result["areg_pg_mL"] = np.where(
        below, result["lloq_pg_mL"], np.where(above, result["uloq_pg_mL"], result["conc_pg_mL"])
    )
    result["censored_below_lloq"] = below
    result["censored_above_uloq"] = above
    return result, first


def _mask_swapped_top(wells: pd.DataFrame) -> pd.DataFrame:
    """``wells`` without the top standard of each plate whose top standard's mean OD lies
    between those of the two standards below it (swapped with its neighbour on a saturated
    plateau); other plates, and a top standard that failed outright (below both), unchanged."""
    std = wells[wells["role"] == "standard"]
    means = std.groupby(["plate", "nominal_pg_mL"])["signal"].mean().sort_index()
    top_three = means.groupby(level="plate").tail(3)
    swapped = top_three.groupby(level="plate").apply(
        lambda m: len(m) == 3 and m.iloc[0] < m.iloc[2] < m.iloc[1]
    )
    plates = swapped.index[swapped.to_numpy(bool)]
    top = std.groupby("plate")["nominal_pg_mL"].transform("max")
    drop = std.index[std["plate"].isin(plates) & (std["nominal_pg_mL"] == top)]
    return wells.drop(index=drop)
