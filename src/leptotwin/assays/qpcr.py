"""Virtual real-time PCR run (TaqMan chemistry on a QuantStudio / StepOnePlus-type cycler).

Each biological sample carries a true relative level of every target (the amount relative to
a calibrator, e.g. miR-449a 0.2 in A925L/AR against 1 in parental A925LPE3 cells). A well's
threshold cycle is::

    Ct = Ct0 - log(level * input) / log(1 + efficiency) + noise

``Ct0`` is the target's Ct at level 1 and nominal input, ``efficiency`` its amplification
efficiency per cycle (fraction, 0.95 = 95 %), ``input`` one log-normal factor per biological
sample and reverse-transcription kind (stem-loop RT for microRNAs, oligo-dT/random-primed RT
for mRNA; it cancels against the reference gene of the same RT) and ``noise`` the
well-to-well technical scatter, whose SD grows past Ct 30 (few template copies). Wells past
the cycle cut-off (40), wells of a target at level 0 and failed wells read ``Undetermined``.
Every number comes from the catalogue block ``qpcr``.

:func:`make_qpcr_samples` draws biological replicates around group-level truths;
:func:`simulate_qpcr` runs them in technical replicate wells (plus no-template controls) and
returns a tidy well table that keeps the truth in ``true_*`` columns; :func:`write_qpcr` writes
what the cycler exports: a QuantStudio-style "Results" CSV by default (StepOne, Bio-Rad CFX and
tidy layouts with ``flavor``), read back by :func:`leptotwin.analysis.qpcr.read_qpcr`::

    * Experiment Name = leptotwin virtual qPCR
    ...
    [Results]
    Well,Well Position,Omit,Sample Name,Biogroup Name,Target Name,Task,Reporter,Quencher,CT,...
    1,A1,false,A925LPE3-1,A925LPE3,miR-449a,UNKNOWN,FAM,NFQ-MGB,29.113,29.071,0.121,

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> truth = {"A925LPE3": {"miR-449a": 1.0, "U6": 1.0}, "A925L/AR": {"miR-449a": 0.2, "U6": 1.0}}
>>> samples = make_qpcr_samples(truth, n_biological=3, rng=rng)
>>> wells = simulate_qpcr(samples, rng=rng)
>>> int((wells["task"] == "UNKNOWN").sum()), int((wells["task"] == "NTC").sum())
(36, 6)
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leptotwin._fileio import write_text
from leptotwin.catalog import Catalog, load_catalog
from leptotwin.errors import LeptotwinError
from leptotwin.formats import PLATE_96, get_plate_format, well_position

__all__ = [
    "EXPORT_FLAVORS",
    "QPCR_KIT",
    "QPCR_TARGETS",
    "make_qpcr_samples",
    "simulate_qpcr",
    "write_qpcr",
]

QPCR_KIT = "qpcr"
_SRC = "simulate_qpcr"

QPCR_TARGETS: dict[str, tuple[str, str]] = {
    "mir-449a": ("mir449a", "mirna"),
    "hsa-mir-449a": ("mir449a", "mirna"),
    "mir449a": ("mir449a", "mirna"),
    "u6": ("u6", "mirna"),
    "rnu6b": ("u6", "mirna"),
    "rnu6-1": ("u6", "mirna"),
    "areg": ("areg", "mrna"),
    "gapdh": ("gapdh", "mrna"),
    "actb": ("actb", "mrna"),
}
"""Targets with catalogue settings: lower-case name -> (catalogue key ``ct0_<key>``, RT kind).
The efficiency is ``efficiency_mirna`` or ``efficiency_mrna`` by RT kind. Other targets need
``targets={name: {"ct0": ..., "efficiency": ..., "kind": "mrna"}}``."""

_WELL_COLUMNS = (
    "well",
    "well_position",
    "sample",
    "group",
    "target",
    "task",
    "reporter",
    "quantity",
    "ct",
    "flag",
    "true_ct",
    "relative_level",
    "efficiency",
)


def _check_rng(rng: Any, source: str) -> None:
    if not isinstance(rng, np.random.Generator):
        raise LeptotwinError(
            "rng must be a numpy.random.Generator", source=source, field="rng",
            value=type(rng).__name__, expected="numpy.random.default_rng(seed)",
        )  # fmt: skip


def make_qpcr_samples(
    levels: Mapping[str, Mapping[str, float]],
    *,
    rng: np.random.Generator,
    n_biological: int = 3,
    bio_sd_log2: float | None = None,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Biological replicates around group-level true relative levels.

    Parameters
    ----------
    levels : mapping group -> mapping target -> float
        True relative level of each target in each group (>= 0; 1 = calibrator level),
        e.g. ``{"A925LPE3": {"miR-449a": 1, "U6": 1}, "A925L/AR": {"miR-449a": 0.2, "U6": 1}}``.
    rng : numpy.random.Generator
    n_biological : int
        Biological replicates per group, named ``<group>-1``, ``<group>-2``...
    bio_sd_log2 : float, optional
        SD of log2 level between biological replicates (every target, references included);
        default from the catalogue (``qpcr.bio_sd_log2``). 0 gives the group levels exactly.

    Returns
    -------
    DataFrame
        ``sample, group, target, relative_level``; ``attrs["true_levels"]`` holds ``levels``.

    Raises
    ------
    LeptotwinError
        On an empty mapping, a level < 0 or not finite, ``n_biological < 1`` or a bad rng.
    """
    _check_rng(rng, "make_qpcr_samples")
    if not levels:
        raise LeptotwinError("no groups", source="make_qpcr_samples", field="levels")
    if int(n_biological) < 1:
        raise LeptotwinError(
            "need at least one biological replicate", source="make_qpcr_samples",
            field="n_biological", value=n_biological, expected="an integer >= 1",
        )  # fmt: skip
    cat = catalog or load_catalog()
    sd = float(cat.assay_value(QPCR_KIT, "bio_sd_log2") if bio_sd_log2 is None else bio_sd_log2)
    for group, targets in levels.items():
        for target, level in targets.items():
            if not (np.isfinite(float(level)) and float(level) >= 0):
                raise LeptotwinError(
                    "bad relative level", source="make_qpcr_samples",
                    field=f"{group}.{target}", value=level, expected="a number >= 0",
                )  # fmt: skip
    rows = []
    for group, targets in levels.items():
        for k in range(int(n_biological)):
            for target, level in targets.items():
                factor = 2.0 ** rng.normal(0.0, sd) if sd > 0 else 1.0
                rows.append((f"{group}-{k + 1}", str(group), str(target), float(level) * factor))
    out = pd.DataFrame(rows, columns=["sample", "group", "target", "relative_level"])
    out.attrs["true_levels"] = {g: dict(t) for g, t in levels.items()}
    return out


def _check_samples(samples: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(samples, pd.DataFrame):
        raise LeptotwinError(
            "expected a DataFrame of samples", source=_SRC, value=type(samples).__name__
        )
    for col in ("sample", "target", "relative_level"):
        if col not in samples:
            raise LeptotwinError(
                "missing column in the samples", source=_SRC, field=col,
                expected="sample, target, relative_level and optionally group, quantity",
            )  # fmt: skip
    frame = samples.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "sample": frame["sample"].astype(str).str.strip(),
            "target": frame["target"].astype(str).str.strip(),
        }
    )
    out["group"] = frame["group"].astype(str) if "group" in frame else out["sample"]
    level = pd.to_numeric(frame["relative_level"], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(level) & (level >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise LeptotwinError(
            "bad relative level", source=_SRC, field=f"row {i}, column relative_level",
            value=frame["relative_level"].iloc[i], expected="a number >= 0",
        )  # fmt: skip
    out["relative_level"] = level
    qty = (
        pd.to_numeric(frame["quantity"], errors="coerce").to_numpy(float)
        if "quantity" in frame
        else np.full(len(frame), np.nan)
    )
    out["quantity"] = qty
    for bad, msg in (
        ((out["sample"] == "") | (out["target"] == ""), "empty sample or target name"),
        (out.duplicated(["sample", "target"]), "sample and target listed twice"),
    ):
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise LeptotwinError(
                msg, source=_SRC, field=f"row {i}",
                value=f"{out['sample'].iloc[i]} / {out['target'].iloc[i]}",
                expected="one row per sample and target",
            )  # fmt: skip
    return out


def _target_settings(
    names: list[str], targets: Mapping[str, Mapping[str, Any]] | None, cat: Catalog
) -> dict[str, tuple[float, float, str]]:
    """target -> (ct0 in cycles, efficiency fraction, RT kind)."""
    given = {str(k): v for k, v in (targets or {}).items()}
    out = {}
    for name in names:
        known = QPCR_TARGETS.get(name.lower())
        spec = dict(given.get(name, {}))
        unknown = sorted(set(spec) - {"ct0", "efficiency", "kind"})
        if unknown:
            raise LeptotwinError(
                "unknown target setting", source=_SRC, field=f"targets[{name!r}]",
                value=unknown[0], expected="ct0, efficiency, kind",
            )  # fmt: skip
        if known is None and not {"ct0", "efficiency"} <= set(spec):
            raise LeptotwinError(
                "no settings for this target", source=_SRC, field="targets", value=name,
                expected="a known target (" + ", ".join(sorted(QPCR_TARGETS))
                + ") or targets={name: {'ct0': cycles, 'efficiency': fraction}}",
            )  # fmt: skip
        kind = str(spec.get("kind", known[1] if known else "mrna"))
        ct0 = float(spec["ct0"]) if "ct0" in spec else cat.assay_value(QPCR_KIT, f"ct0_{known[0]}")  # type: ignore[index]
        eff = (
            float(spec["efficiency"])
            if "efficiency" in spec
            else cat.assay_value(QPCR_KIT, f"efficiency_{kind}")
        )
        if not (np.isfinite(ct0) and 0.3 <= eff <= 1.2):
            raise LeptotwinError(
                "bad target setting", source=_SRC, field=f"targets[{name!r}]",
                value=(ct0, eff), expected="ct0 in cycles and efficiency as a fraction 0.3-1.2",
            )  # fmt: skip
        out[name] = (ct0, eff, kind)
    return out


def simulate_qpcr(
    samples: pd.DataFrame,
    *,
    rng: np.random.Generator,
    replicates: int = 3,
    targets: Mapping[str, Mapping[str, Any]] | None = None,
    noise: bool = True,
    ntc: bool = True,
    failed_well_rate: float | None = None,
    plate_format: int = 96,
    catalog: Catalog | None = None,
) -> pd.DataFrame:
    """Run the virtual real-time PCR on one plate.

    Parameters
    ----------
    samples : DataFrame, one row per biological sample and target
        ``sample``, ``target``, ``relative_level`` (true amount relative to the calibrator,
        >= 0), optionally ``group`` (default: the sample) and ``quantity`` (rows with a
        quantity are standards of a dilution series: task ``STANDARD``, no input variation).
    rng : numpy.random.Generator
        Source of input, technical and failure noise (not drawn from when ``noise=False``).
    replicates : int
        Technical replicate wells per sample and target (triplicates by default).
    targets : mapping, optional
        Per-target settings ``{"ct0": cycles, "efficiency": fraction, "kind": "mirna"|"mrna"}``
        overriding the catalogue (needed for targets outside :data:`QPCR_TARGETS`).
    noise : bool
        ``False`` gives the exact Ct of every well (no input, technical or failure noise).
    ntc : bool
        Add ``replicates`` no-template-control wells per target (they read Undetermined).
    failed_well_rate : float, optional
        Probability that a well fails and reads Undetermined; default from the catalogue (0).
    plate_format : {96, 384}
    catalog : Catalog, optional
        Instrument settings (block ``qpcr``); pass a modified one for counterfactuals.

    Returns
    -------
    DataFrame, one row per used well, in plate order (row-wise, A1, A2, ...)
        ``well`` (1-based number), ``well_position`` (``A1``), ``sample, group, target,
        task`` (UNKNOWN, STANDARD, NTC), ``reporter, quantity, ct`` (cycles; NaN when
        undetermined), ``flag`` (``ok``, ``undetermined``, ``failed``), ``true_ct``
        (noise-free Ct, inf at level 0), ``relative_level, efficiency``.

    Raises
    ------
    LeptotwinError
        On a bad sample table or target setting, a bad rng, fewer than one replicate or more
        wells than the plate holds.
    """
    _check_rng(rng, _SRC)
    smp = _check_samples(samples)
    cat = catalog or load_catalog()
    v = lambda name: float(cat.assay_value(QPCR_KIT, name))  # noqa: E731
    reps = int(replicates)
    fmt = get_plate_format(plate_format)
    names = list(pd.unique(smp["target"]))
    settings = _target_settings(names, targets, cat)
    n_wells = (len(smp) + (len(names) if ntc else 0)) * reps
    if reps < 1 or n_wells > fmt.n_rows * fmt.n_cols:
        raise LeptotwinError(
            "the run does not fit the plate", source=_SRC, field="replicates",
            value=(reps, n_wells),
            expected=f"1 or more replicates and at most {fmt.n_rows * fmt.n_cols} wells: "
            "split the samples into several runs",
        )  # fmt: skip
    rate = v("failed_well_rate") if failed_well_rate is None else float(failed_well_rate)
    if not 0.0 <= rate < 1.0:
        raise LeptotwinError(
            "bad failed-well rate", source=_SRC, field="failed_well_rate", value=rate,
            expected="a probability in [0, 1)",
        )  # fmt: skip
    # one input factor per biological sample and RT kind (standards share the stock: none)
    kinds = smp["target"].map(lambda t: settings[t][2])
    keys = smp["sample"] + "\x00" + kinds
    uniq, inv = np.unique(keys.to_numpy(str), return_inverse=True)
    if noise:
        input_factor = 2.0 ** rng.normal(0.0, v("input_sd_log2"), len(uniq))[inv]
    else:
        input_factor = np.ones(len(smp))
    input_factor = np.where(np.isnan(smp["quantity"].to_numpy()), input_factor, 1.0)
    ct0 = smp["target"].map(lambda t: settings[t][0]).to_numpy(float)
    eff = smp["target"].map(lambda t: settings[t][1]).to_numpy(float)
    amount = smp["relative_level"].to_numpy(float) * input_factor
    with np.errstate(divide="ignore"):
        true_ct = ct0 - np.log(amount) / np.log1p(eff)
    # wells: target blocks, samples in order, replicates side by side; NTCs after each target
    rows = []
    for target in names:
        sel = smp[smp["target"] == target]
        for i in sel.index:
            task = "UNKNOWN" if np.isnan(smp.at[i, "quantity"]) else "STANDARD"
            rows += [(i, task)] * reps
        if ntc:
            rows += [(-1 - names.index(target), "NTC")] * reps
    idx = np.array([r[0] for r in rows])
    real = idx >= 0
    src = np.where(real, idx, 0)
    out = pd.DataFrame(
        {
            "sample": np.where(real, smp["sample"].to_numpy(object)[src], "NTC"),
            "group": np.where(real, smp["group"].to_numpy(object)[src], ""),
            "target": np.where(real, smp["target"].to_numpy(object)[src],
                               np.array(names, dtype=object)[np.where(real, 0, -1 - idx)]),
            "task": [r[1] for r in rows],
            "reporter": "FAM",
            "quantity": np.where(real, smp["quantity"].to_numpy(float)[src], np.nan),
            "true_ct": np.where(real, true_ct[src], np.inf),
            "relative_level": np.where(real, smp["relative_level"].to_numpy(float)[src], 0.0),
        }
    )  # fmt: skip
    out["efficiency"] = out["target"].map(lambda t: settings[t][1]).astype(float)
    n = len(out)
    pos = np.arange(n)
    out.insert(0, "well", pos + 1)
    letters = np.array(fmt.row_letters, dtype=object)
    out.insert(1, "well_position", letters[pos // fmt.n_cols] + (pos % fmt.n_cols + 1).astype(str))
    tc = out["true_ct"].to_numpy(float)
    if noise:
        sd = v("technical_sd") + v("technical_sd_growth") * np.clip(
            np.where(np.isfinite(tc), tc, 0.0) - v("sd_growth_from_ct"), 0.0, None
        )
        ct = tc + rng.normal(0.0, 1.0, n) * sd
        failed = rng.random(n) < rate
    else:
        ct, failed = tc.copy(), np.zeros(n, bool)
    undetermined = ~np.isfinite(ct) | (ct > v("ct_cutoff"))
    out["ct"] = np.where(undetermined | failed, np.nan, ct)
    out["flag"] = np.where(failed, "failed", np.where(undetermined, "undetermined", "ok"))
    out["flag"] = out["flag"].astype(object)
    return out[list(_WELL_COLUMNS)]


def _fmt(x: float, decimals: int, decimal: str) -> str:
    return "" if not np.isfinite(x) else f"{x:.{decimals}f}".replace(".", decimal)


EXPORT_FLAVORS = ("quantstudio", "stepone", "cfx", "tidy")
"""File layouts :func:`write_qpcr` writes (all read back by
:func:`leptotwin.analysis.qpcr.read_qpcr`)."""

_HEADERS = {
    "quantstudio": ["Well", "Well Position", "Omit", "Sample Name", "Biogroup Name", "Target Name",
                    "Task", "Reporter", "Quencher", "CT", "Ct Mean", "Ct SD", "Quantity"],
    "stepone": ["Well", "Sample Name", "Target Name", "Task", "Reporter", "Quencher", "C\u0442",
                "C\u0442 Mean", "C\u0442 SD", "Quantity"],
    "cfx": ["", "Well", "Fluor", "Target", "Content", "Sample", "Biological Set Name", "Cq",
            "Cq Mean", "Cq Std. Dev", "Starting Quantity (SQ)"],
    "tidy": ["well", "sample", "group", "target", "task", "ct", "quantity"],
}  # fmt: skip
_CFX_CONTENT = {"UNKNOWN": "Unkn", "STANDARD": "Std", "NTC": "NTC"}


def _export_row(
    flavor: str, w: dict[str, Any], ct: str, mean: str, sd: str, qty: str, k: int
) -> list[Any]:
    """One row of the export: ``w`` holds the well's columns, the numbers are formatted."""
    sample = "" if w["task"] == "NTC" else w["sample"]
    pos = str(w["well_position"])
    if flavor == "quantstudio":
        return [int(w["well"]), pos, "false", sample, w["group"], w["target"], w["task"],
                w["reporter"], "NFQ-MGB", ct, mean, sd, qty]  # fmt: skip
    if flavor == "stepone":
        return [pos, sample, w["target"], w["task"], w["reporter"], "NFQ-MGB", ct, mean, sd, qty]
    if flavor == "cfx":
        cfx_pos = pos[0] + pos[1:].zfill(2)
        task = _CFX_CONTENT.get(str(w["task"]), str(w["task"]))
        return [k, cfx_pos, w["reporter"], w["target"], task, sample, w["group"], ct, mean, sd,
                qty]  # fmt: skip
    return [pos, sample, w["group"], w["target"], w["task"], ct, qty]


def write_qpcr(
    wells: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    decimals: int = 3,
    sep: str | None = None,
    decimal: str = ".",
    flavor: str = "quantstudio",
) -> Path:
    """Write a cycler's "Results" export (atomically).

    ``flavor`` picks the layout:

    * ``"quantstudio"`` (QuantStudio 3/5/7, 7500): ``* key = value`` header lines, a blank
      line, ``[Results]`` and one row per well: ``Well, Well Position, Omit, Sample Name,
      Biogroup Name, Target Name, Task, Reporter, Quencher, CT, Ct Mean, Ct SD, Quantity``;
      ``CT`` is ``Undetermined`` for wells without a threshold crossing.
    * ``"stepone"`` (StepOne/StepOnePlus software v2, tab-separated by default): header lines,
      ``[Results]``, ``Well`` (``A1``), ``Sample Name, Target Name, Task, Reporter, Quencher,
      Cт, Cт Mean, Cт SD, Quantity`` (``Cт`` with a Cyrillic te, as the software writes it).
    * ``"cfx"`` (Bio-Rad CFX Maestro "Quantification Cq Results"): an unnamed index column,
      ``Well`` (``A01``), ``Fluor, Target, Content`` (``Unkn``, ``Std``, ``NTC``), ``Sample,
      Biological Set Name, Cq`` (``NaN`` without amplification), ``Cq Mean, Cq Std. Dev,
      Starting Quantity (SQ)``; no header lines.
    * ``"tidy"``: ``well, sample, group, target, task, ct, quantity`` (empty Ct when
      undetermined), as a script would write it.

    ``Ct Mean`` and ``Ct SD`` are computed, as the instrument software does, over the determined
    wells of each sample, target and task.

    Parameters
    ----------
    wells : DataFrame
        As :func:`simulate_qpcr` returns (the ``true_*`` columns are not written).
    path : path-like
    metadata : mapping, optional
        Extra or replaced header lines (QuantStudio and StepOne).
    decimals : int
        Decimals of the Ct columns.
    sep, decimal : str
        Field separator (``,``, ``;`` or tab; default tab for StepOne, else ``,``) and decimal
        mark (``.`` or ``,``), as a European-locale export writes them (``sep=";",
        decimal=","``).
    flavor : {"quantstudio", "stepone", "cfx", "tidy"}

    Raises
    ------
    LeptotwinError
        If a column is missing, the flavor is unknown or the separator and decimal mark clash.
    """
    need = ("well", "well_position", "sample", "group", "target", "task", "reporter", "ct")
    missing = [c for c in need if c not in wells]
    if missing:
        raise LeptotwinError(
            "missing column", source="write_qpcr", field=missing[0], expected=", ".join(need)
        )
    if flavor not in EXPORT_FLAVORS:
        raise LeptotwinError(
            "unknown export flavor", source="write_qpcr", field="flavor", value=flavor,
            expected="one of " + ", ".join(EXPORT_FLAVORS),
        )  # fmt: skip
    if sep is None:
        sep = "\t" if flavor == "stepone" else ","
    if sep not in (",", ";", "\t") or decimal not in (".", ",") or sep == decimal:
        raise LeptotwinError(
            "bad separator or decimal mark", source="write_qpcr", field="sep, decimal",
            value=(sep, decimal), expected="sep one of , ; tab and a different decimal . or ,",
        )  # fmt: skip
    rows, cols = well_position(wells["well_position"].astype(str).to_numpy())
    on_96 = bool(np.all((rows < PLATE_96.n_rows) & (cols < PLATE_96.n_cols)))
    meta = {
        "Block Type": "96-Well Block (0.2mL)" if on_96 else "384-Well Block",
        "Chemistry": "TAQMAN",
        "Experiment Name": "leptotwin virtual qPCR",
        "Instrument Type": "QuantStudio 5 System (leptotwin virtual)",
        "Passive Reference": "ROX",
        "Quantification Cycle Method": "Ct",
        **(metadata or {}),
    }
    if flavor == "stepone":
        meta["Instrument Type"] = (metadata or {}).get(
            "Instrument Type", "StepOnePlus (leptotwin virtual)"
        )
    ct = pd.to_numeric(wells["ct"], errors="coerce")
    keys = [wells["sample"], wells["target"], wells["task"]]
    mean = ct.groupby(keys, sort=False).transform("mean")
    sd = ct.groupby(keys, sort=False).transform("std")
    qty = wells["quantity"] if "quantity" in wells else pd.Series(np.nan, index=wells.index)
    no_ct = {"quantstudio": "Undetermined", "stepone": "Undetermined", "cfx": "NaN", "tidy": ""}
    buf = io.StringIO()
    if flavor in ("quantstudio", "stepone"):
        for key, value in meta.items():
            buf.write(f"* {key} = {value}\n")
        buf.write("\n[Results]\n")
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(_HEADERS[flavor])
    records = wells.to_dict(orient="records")
    for i, w in enumerate(records):
        c = float(ct.iloc[i])
        q = float(qty.iloc[i]) if pd.notna(qty.iloc[i]) else np.nan
        writer.writerow(
            _export_row(
                flavor,
                w,
                _fmt(c, decimals, decimal) if np.isfinite(c) else no_ct[flavor],
                _fmt(float(mean.iloc[i]), decimals, decimal),
                _fmt(float(sd.iloc[i]), decimals, decimal),
                "" if not np.isfinite(q) else f"{q:g}".replace(".", decimal),
                i,
            )
        )
    return write_text(path, buf.getvalue())
