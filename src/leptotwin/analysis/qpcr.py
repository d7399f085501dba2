"""Relative quantification of real-time PCR: ΔΔCt (Livak), efficiency-corrected (Pfaffl), QC.

Input is a tidy well table, one row per well and target (what :func:`read_qpcr` returns from
a QuantStudio / StepOnePlus "Results" export or a plain CSV ``sample, target, ct``, or what
the virtual cycler of :mod:`leptotwin.assays.qpcr` writes):

``sample``, ``target``, ``ct`` (cycles; NaN for Undetermined), optionally ``group`` (default:
the sample is its own group), ``well``, ``task`` (``UNKNOWN``; ``NTC`` and ``STANDARD`` wells
are left out of relative quantification), ``flag`` (``ok``, ``undetermined``, ``missing``,
``omitted``) and ``quantity`` (standards).

Convention (stated once, used in every column name)
---------------------------------------------------
* Technical replicate wells are averaged first (mean Ct per sample and gene; a replicate SD
  above ``max_replicate_sd``, 0.5 Ct by default, is flagged, never silently dropped).
* ``ΔCt = Ct_target − Ct_reference``, per biological sample; with several reference genes
  ``Ct_reference`` is their mean Ct, i.e. the geometric mean of their quantities
  (Vandesompele et al. Genome Biol 2002;3:research0034).
* ``ΔΔCt = ΔCt_sample − mean ΔCt_calibrator`` (mean over the calibrator group's samples).
* ``fold change = 2^−ΔΔCt`` (Livak & Schmittgen, Methods 2001;25:402, PMID 11846609): > 1
  means more target in the group than in the calibrator.
* Pfaffl (Nucleic Acids Res 2001;29:e45, PMID 11328886): ``fold = E_t^ΔCt_t / E_r^ΔCt_r``
  with ``E = 1 + efficiency`` and ``ΔCt_gene = Ct_calibrator − Ct_sample``. It is computed on
  the same scale by weighting each Ct by ``log2 E`` (``ΔCt = log2(E_t)·Ct_t −
  mean_r log2(E_r)·Ct_r``, in cycles of perfect doubling), which is the formula above for one
  reference gene, the geometric mean of the reference quantities for several, and exactly
  Livak for efficiency 1 (``E = 2``).
* Biological replicates are the unit of analysis. The interval is a t interval on the ΔΔCt
  scale, back-transformed: ``2^−(ΔΔCt ± t_{1−α/2,df}·se)``; ``se`` and ``df`` are Welch's
  (Satterthwaite) for the difference between the group's and the calibrator's mean ΔCt, so
  the calibrator's own spread counts. The p-value is Welch's two-sample t test on ΔCt. For
  the calibrator group the interval is the one-sample interval of its mean around 0.
* ``fold_change_sd_low/high`` is Livak's range ``2^−(ΔΔCt ± s)`` with ``s`` the SD of ΔCt.

``pairing="group"`` treats target and reference as measured in separate tubes (Livak's
"separate wells" case): mean Ct of each gene over the group's samples, ``s = sqrt(s_t² +
s_r²)``, and a Satterthwaite interval over the four (or more) means.

Example
-------
>>> import pandas as pd
>>> d = pd.DataFrame({"sample": ["a", "a", "b", "b"], "group": ["ctl", "ctl", "trt", "trt"],
...                   "target": ["AREG", "GAPDH"] * 2, "ct": [27.0, 18.0, 25.0, 18.0]})
>>> fit = RelativeExpressionFitter("GAPDH", "ctl").fit(d)
>>> row = fit.summary.iloc[1]
>>> row["group"], float(row["ddct_vs_calibrator_cycles"]), float(row["fold_change"])
('trt', -2.0, 4.0)
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from leptotwin._checks import check_alpha
from leptotwin.errors import LeptotwinError
from leptotwin.formats import normalise_well

__all__ = [
    "CT_RANGE_CYCLES",
    "EFFICIENCY_SCALES",
    "QPCR_COLUMNS",
    "QPCR_CONVENTION",
    "QPCRFlag",
    "RelativeExpressionFitter",
    "amplification_efficiency",
    "plot_fold_change",
    "read_efficiencies",
    "read_qpcr",
    "relative_expression",
]

_SRC = "RelativeExpressionFitter"
QPCR_COLUMNS = ("well", "sample", "group", "target", "task", "ct", "flag", "quantity")
"""Columns of the tidy well table :func:`read_qpcr` returns."""
QPCR_CONVENTION = (
    "dCt = Ct_target - Ct_reference (mean Ct of the reference genes); "
    "ddCt = dCt_sample - mean dCt_calibrator; fold change = 2^-ddCt (Livak & Schmittgen 2001); "
    "Pfaffl: Ct weighted by log2(1 + efficiency)"
)
"""The sign convention, also in ``summary.attrs["convention"]``."""


class QPCRFlag(StrEnum):
    """Flags of a well, a technical-replicate set or a result (``;``-joined in ``flag``)."""

    OK = "ok"
    UNDETERMINED = "undetermined"
    """No threshold crossing (``Undetermined`` in the export; NaN Ct)."""
    MISSING = "missing"
    """Empty Ct cell."""
    OMITTED = "omitted"
    """Well marked Omit in the instrument software; left out."""
    SOME_UNDETERMINED = "some_undetermined"
    """Some technical replicates undetermined; the mean uses the others."""
    HIGH_REPLICATE_SD = "high_replicate_sd"
    """Technical replicate SD above ``max_replicate_sd``: consider re-running the sample."""
    NO_REFERENCE = "no_reference"
    """The reference gene(s) of the sample are undetermined: no ΔCt."""
    FEW_REPLICATES = "few_replicates"
    """Fewer than 2 biological replicates in the group or the calibrator: no interval."""
    NO_VARIANCE = "no_variance"
    """All replicates identical: zero-width interval, no test."""
    EFFICIENCY_OUTSIDE = "efficiency_outside_90_110"
    """Standard-curve efficiency outside 90-110 % (MIQE)."""
    LOW_R2 = "low_r2"
    """Standard-curve R² below 0.98."""
    BAD_SLOPE = "bad_slope"
    """Standard-curve slope >= 0: no efficiency."""


# --------------------------------------------------------------------------- reading
_ALIASES = {
    "well": ("well", "well number", "pos"),
    "well_position": ("well position", "position"),
    "sample": ("sample name", "sample", "sample id", "name"),
    "group": ("biogroup name", "biological group", "biological set name", "biogroup", "group"),
    "target": ("target name", "target", "detector", "detector name", "gene"),
    "task": ("task", "content"),
    "ct": ("ct", "cq", "c t", "crt", "cp"),
    "omit": ("omit",),
    "quantity": ("quantity", "starting quantity (sq)", "sq", "starting quantity"),
    "efficiency": ("efficiency", "efficiency (%)", "efficiency %", "efficiency_pct",
                   "amp efficiency", "pcr efficiency", "mean pcr efficiency"),
}  # fmt: skip
_NEEDS = {
    "wells": (("sample", "target", "ct"), "sample (Sample Name), target (Target Name) and Ct "
              "(CT, Cт or Cq) columns"),
    "standards": (("target", "ct", "quantity"), "target (Target Name), Ct (CT, Cт or Cq) and "
                  "quantity (Quantity, Starting Quantity (SQ)) columns"),
}  # fmt: skip
EFFICIENCY_SCALES = {
    "fraction": (0.5, 1.5),
    "amplification factor": (1.5, 2.5),
    "percent": (50.0, 150.0),
}
"""How an efficiency column is read, by the range all its values fall in: a fraction (0.95;
``E = 1 + efficiency``), an amplification factor per cycle (1.95, as LinRegPCR reports it) or a
percentage (95, as QuantStudio, 7500 and CFX software report it). Bounds inclusive; a value of
exactly 1.5 is a fraction."""
_UNDETERMINED = {"undetermined", "no ct", "no cq", "n/a", "na", "nan", "-", "no amp"}
"""Ct markers of a well without a threshold crossing (QuantStudio/StepOne ``Undetermined``,
Bio-Rad CFX ``NaN``, R's ``NA``)."""
_TASKS = {"UNKN": "UNKNOWN", "STD": "STANDARD", "NEG CTRL": "NTC", "UNKNOWN": "UNKNOWN"}
CT_RANGE_CYCLES = (0.0, 60.0)
"""Plausible Ct (cycles): above 0 and at most 60. Real-time PCR protocols run 40-55 cycles, so
a Ct outside this range is a corrupt or mis-parsed value and is refused, never used."""
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _norm_header(h: str) -> str:
    h = h.replace("\u0442", "t").replace("\ufeff", "")  # QuantStudio writes "Cт" (Cyrillic te)
    return re.sub(r"\s+", " ", h.strip().lower())


def _match_columns(header: list[str]) -> dict[str, int]:
    norm = [_norm_header(h) for h in header]
    found: dict[str, int] = {}
    for key, names in _ALIASES.items():
        for name in names:
            if name in norm:
                found[key] = norm.index(name)
                break
    return found


def _task(text: str) -> str:
    """Upper-case task; CFX's ``Unkn-01`` / ``Std-03`` (replicate-numbered content) included."""
    t = text.strip().upper()
    base = re.sub(r"-\d+$", "", t)
    return _TASKS.get(t, _TASKS.get(base, t or "UNKNOWN"))


def _decode(path: Path, source: str) -> str:
    """The file's text (UTF-16 with a byte-order mark, UTF-8, else Latin-1); one-line errors for
    an empty or binary file."""
    raw = path.read_bytes()
    if not raw.strip():
        raise LeptotwinError(
            "empty file",
            source=source,
            expected="a qPCR results export or a CSV sample, target, ct",
        )
    if raw[:2] in _UTF16_BOMS:
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise LeptotwinError(
                "not a text file (a UTF-16 byte-order mark followed by undecodable bytes)",
                source=source, expected="a qPCR results export saved as text (CSV or TXT)",
            ) from None  # fmt: skip
    elif b"\x00" in raw:
        raise LeptotwinError(
            "binary file (holds NUL bytes), not a text export", source=source,
            expected="a qPCR results export saved as text (CSV or TXT), not the run file (.eds)",
        )  # fmt: skip
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    if "\x00" in text:
        raise LeptotwinError("binary file (holds NUL characters), not a text export",
                             source=source)  # fmt: skip
    return text


def _split(line: str, sep: str, source: str, line_no: int) -> list[str]:
    """Fields of one line (csv quoting rules); a line csv cannot parse is one error."""
    try:
        return next(csv.reader([line], delimiter=sep), [])
    except csv.Error as exc:
        raise LeptotwinError(
            f"unreadable line ({exc})", source=source, field=f"line {line_no}",
            expected="comma-, semicolon- or tab-separated fields",
        ) from None  # fmt: skip


def _number(text: str, decimal: str) -> float | None:
    """A plain decimal number (``27.1``, ``27,1`` with a decimal comma, ``1e3``) or None."""
    if decimal == "," or (decimal == "auto" and re.fullmatch(r"[+-]?\d*,\d+", text)):
        text = text.replace(",", ".")
    if _NUMBER.fullmatch(text) or re.fullmatch(r"[+-]?inf(inity)?", text, re.IGNORECASE):
        return float(text)  # an infinite value is a number, refused as out of range
    return None


def _where(i: int, rows: Sequence[int] | None, wells: Sequence[str] | None) -> str:
    where = f"line {rows[i]}" if rows is not None else f"row {i}"
    if wells is not None and str(wells[i]).strip():
        where += f", well {str(wells[i]).strip()}"
    return where


def _parse_ct(
    values: Sequence[Any],
    decimal: str,
    source: str,
    rows: Sequence[int] | None = None,
    wells: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Ct text -> (float array, flag array).

    Raises on text that is neither a number nor an Undetermined marker, and on a number
    outside :data:`CT_RANGE_CYCLES` (negative, zero, infinite, 1e308...)."""
    ct = np.full(len(values), np.nan)
    flag = np.full(len(values), QPCRFlag.OK.value, dtype=object)
    lo, hi = CT_RANGE_CYCLES
    for i, raw in enumerate(values):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)):
            flag[i] = QPCRFlag.UNDETERMINED.value
            continue
        if isinstance(raw, (int, float, np.integer, np.floating)) and not isinstance(raw, bool):
            value: float | None = float(raw)
        else:
            text = str(raw).strip()
            if text == "":
                flag[i] = QPCRFlag.MISSING.value
                continue
            if text.lower() in _UNDETERMINED:
                flag[i] = QPCRFlag.UNDETERMINED.value
                continue
            value = _number(text, decimal)
            if value is None:
                raise LeptotwinError(
                    "non-numeric Ct", source=source, field=f"{_where(i, rows, wells)}, column Ct",
                    value=raw, expected="a number of cycles, 'Undetermined' or an empty cell",
                )  # fmt: skip
        if np.isnan(value):
            flag[i] = QPCRFlag.UNDETERMINED.value
            continue
        if not lo < value <= hi:
            raise LeptotwinError(
                "Ct outside the plausible range", source=source,
                field=f"{_where(i, rows, wells)}, column Ct", value=raw,
                expected=f"a Ct above {lo:g} and at most {hi:g} cycles, 'Undetermined' or an "
                "empty cell",
            )  # fmt: skip
        ct[i] = value
    return ct, flag


def _parse_quantity(
    values: Sequence[str], decimal: str, source: str, rows: Sequence[int], wells: Sequence[str]
) -> np.ndarray:
    """Quantity text -> float (NaN when empty or a no-value marker); refuses text, negative and
    non-finite numbers."""
    out = np.full(len(values), np.nan)
    for i, raw in enumerate(values):
        text = str(raw).strip()
        if text == "" or text.lower() in _UNDETERMINED:
            continue
        value = _number(text, decimal)
        if value is None or not (np.isfinite(value) and value >= 0):
            raise LeptotwinError(
                "bad quantity", source=source, field=f"{_where(i, rows, wells)}, column Quantity",
                value=raw, expected="a finite number >= 0 (standards) or an empty cell",
            )  # fmt: skip
        out[i] = value
    return out


def _find_header(
    lines: list[str], source: str, kind: str = "wells"
) -> tuple[int, str, list[str], dict[str, str]]:
    """(line index, separator, header fields, ``* key = value`` metadata) of the results table:
    the first line naming the columns ``_NEEDS[kind]`` asks for."""
    need, described = _NEEDS[kind]
    meta: dict[str, str] = {}
    for n, line in enumerate(lines):
        m = re.match(r"^\s*\*\s*(.+?)\s*=\s*(.*?)\s*$", line)
        if m:
            meta[m.group(1)] = m.group(2)
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        sep = max(("\t", ";", ","), key=line.count)
        header = _split(line, sep, source, n + 1)
        if set(need) <= set(_match_columns(header)):
            return n, sep, header, meta
    raise LeptotwinError(
        "no results table found", source=source, expected=f"a header row with {described}"
    )


def read_qpcr(path: str | os.PathLike[str], *, decimal: str = "auto") -> pd.DataFrame:
    """Read a real-time PCR results export or a tidy Ct table.

    Understood: QuantStudio / StepOnePlus / 7500 "Results" exports (``* key = value`` or
    other header lines, a ``[Results]`` block; columns ``Well, Well Position, Omit, Sample
    Name, Target Name, Task, CT`` or ``Cт``/``Cq``, ``Quantity``, optionally ``Biogroup
    Name``), Bio-Rad CFX "Quantification Cq Results" (``Well, Target, Content, Sample,
    Cq``; ``Content`` ``Unkn``/``Std``/``NTC``, also replicate-numbered ``Unkn-01``) and plain
    tidy CSVs ``sample, target, ct`` (optionally ``group, well, task, quantity``).
    The header row is the first line naming a sample, a target and a Ct column; reading stops
    at the first blank line or ``[Section]`` after it. Fields separated by ``,``, ``;`` or
    tab; decimal commas are read. Text encodings: UTF-8 (with or without BOM), UTF-16 with a
    BOM, Latin-1.

    Ct values: a number of cycles in :data:`CT_RANGE_CYCLES` (above 0, at most 60); an
    Undetermined marker (``Undetermined``, ``NaN``, ``NA``, ``No Ct``, ``-``...; flag
    ``undetermined``) or an empty cell (flag ``missing``). Anything else is refused.

    Parameters
    ----------
    path : path-like
    decimal : {"auto", ".", ","}
        ``auto`` reads ``30,12`` as 30.12 (a Ct never has a thousands separator).

    Returns
    -------
    DataFrame, one row per well and target (empty wells left out)
        ``well`` (``A01``, or the well number when the file has no position; ``""`` when
        none), ``sample, group`` (the sample when the file has no group column), ``target,
        task`` (upper case; ``UNKNOWN`` by default), ``ct`` (float, NaN unless a number),
        ``flag`` (``ok``, ``undetermined``, ``missing``, ``omitted``), ``quantity`` (float
        >= 0, NaN unless given). ``attrs["source"]`` is the path, ``attrs["metadata"]`` the
        ``* key = value`` header lines and, when the file has an efficiency column (e.g.
        ``Efficiency`` of a 7500 export), ``attrs["efficiency"]`` the efficiency of each target
        as a fraction (mean over its wells; scale read as :data:`EFFICIENCY_SCALES` says).

    Raises
    ------
    LeptotwinError
        If the file is missing, empty or binary, has no header row with sample, target and Ct
        columns or no wells under it, a line cannot be split into fields, a Ct is neither a
        number nor an Undetermined marker or lies outside :data:`CT_RANGE_CYCLES`, a quantity
        is not a number >= 0, or a well holds the same target twice. Each error names the file, the
        line and well, and the value.
    """
    return _read_wells(path, decimal, "wells")


def _read_wells(path: str | os.PathLike[str], decimal: str, kind: str) -> pd.DataFrame:
    """:func:`read_qpcr` for a results table with the columns ``_NEEDS[kind]``."""
    path = Path(path)
    source = str(path)
    if decimal not in ("auto", ".", ","):
        raise LeptotwinError(
            "bad decimal mark", source="read_qpcr", field="decimal", value=decimal,
            expected="'auto', '.' or ','",
        )  # fmt: skip
    if not path.is_file():
        raise LeptotwinError("file not found", source=source)
    lines = _decode(path, source).splitlines()
    start, sep, header, meta = _find_header(lines, source, kind)
    cols = _match_columns(header)
    body, line_no = [], []
    for n in range(start + 1, len(lines)):
        line = lines[n]
        if not line.strip() or line.lstrip().startswith("["):
            break
        fields = _split(line, sep, source, n + 1)
        if not any(f.strip() for f in fields):
            break
        body.append(fields + [""] * (len(header) - len(fields)))
        line_no.append(n + 1)
    get = lambda key: [r[cols[key]].strip() for r in body] if key in cols else [""] * len(body)  # noqa: E731
    if not any(s or t for s, t in zip(get("sample"), get("target"), strict=True)):
        raise LeptotwinError(
            "the results table has no wells", source=source, field=f"line {start + 1}",
            expected="rows with a sample or target name under the header row",
        )  # fmt: skip
    frame = pd.DataFrame(
        {k: get(k) for k in ("well", "well_position", "sample", "group", "target", "task")},
        dtype=object,
    )
    keep = ((frame["target"] != "") | (frame["sample"] != "")).to_numpy(bool)
    shown = [p or w for p, w in zip(get("well_position"), get("well"), strict=True)]
    # empty wells (no sample, no target) are skipped whatever their Ct cells hold
    kept = np.flatnonzero(keep)
    rows_kept = [line_no[i] for i in kept]
    wells_kept = [shown[i] for i in kept]
    ct, flag = _parse_ct([get("ct")[i] for i in kept], decimal, source, rows_kept, wells_kept)
    qty = _parse_quantity([get("quantity")[i] for i in kept], decimal, source, rows_kept,
                          wells_kept)  # fmt: skip
    frame = frame.iloc[kept].reset_index(drop=True)
    omit = np.array([get("omit")[i].lower() in ("true", "yes", "1", "y") for i in kept], bool)
    flag = np.where(omit, QPCRFlag.OMITTED.value, flag)
    pos = frame["well_position"].to_numpy(object)
    if len(pos) and (pos != "").all():
        well = normalise_well(pos.astype(str), source=source)
    else:
        well = frame["well"].to_numpy(object)
        if len(well) and all(re.fullmatch(r"[A-Pa-p]\s*\d{1,2}", w) for w in well):
            well = normalise_well(well.astype(str), source=source)
    out = pd.DataFrame(
        {
            "well": np.asarray(well, dtype=object),
            "sample": frame["sample"].astype(object),
            "group": np.where(frame["group"] != "", frame["group"], frame["sample"]).astype(object),
            "target": frame["target"].astype(object),
            "task": frame["task"].map(_task).astype(object),
            "ct": ct,
            "flag": flag.astype(object),
            "quantity": qty,
        }
    )
    _check_duplicate_wells(out, source, lines=rows_kept)
    out.attrs["source"] = source
    out.attrs["metadata"] = meta
    if "efficiency" in cols:
        eff_text = [get("efficiency")[i] for i in kept]
        out.attrs["efficiency"] = _efficiency_column(
            out["target"].to_numpy(object), eff_text, decimal, source, rows_kept, wells_kept
        )
    return out


def _efficiency_scale(values: np.ndarray, source: str, field: str) -> str:
    """The :data:`EFFICIENCY_SCALES` entry every finite value of ``values`` falls in."""
    v = values[np.isfinite(values)]
    for scale, (lo, hi) in EFFICIENCY_SCALES.items():
        if len(v) and np.all((v >= lo) & (v <= hi)):
            return scale
    bad = next((x for x in v if not any(a <= x <= b for a, b in EFFICIENCY_SCALES.values())), None)
    raise LeptotwinError(
        "efficiencies are not all on one scale" if bad is None else "implausible efficiency",
        source=source, field=field, value=None if bad is None else float(bad),
        expected="every value a fraction 0.5-1.5 (0.95), an amplification factor 1.5-2.5 "
        "(1.95) or a percentage 50-150 (95)",
    )  # fmt: skip


def _as_fraction(values: np.ndarray, scale: str) -> np.ndarray:
    if scale == "percent":
        return values / 100.0
    if scale == "amplification factor":
        return values - 1.0
    return values


def _efficiency_column(
    targets: np.ndarray,
    text: list[str],
    decimal: str,
    source: str,
    rows: list[int],
    wells: list[str],
) -> dict[str, float]:
    """Per-target efficiency (fraction) from a column of the Ct file: the mean of the wells
    that give one (per-well values, as LinRegPCR writes them, are averaged per target)."""
    values = np.full(len(text), np.nan)
    for i, raw in enumerate(text):
        if raw == "" or raw.lower() in _UNDETERMINED:
            continue
        v = _number(raw, decimal)
        if v is None or not np.isfinite(v):
            raise LeptotwinError(
                "non-numeric efficiency", source=source,
                field=f"{_where(i, rows, wells)}, column Efficiency", value=raw,
                expected="a number (0.95, 1.95 or 95 %) or an empty cell",
            )  # fmt: skip
        values[i] = v
    if not np.isfinite(values).any():
        return {}
    frac = _as_fraction(values, _efficiency_scale(values, source, "column Efficiency"))
    frame = pd.DataFrame({"target": targets, "efficiency": frac}).dropna()
    return {str(t): float(e) for t, e in frame.groupby("target", sort=False)["efficiency"].mean()
            .items()}  # fmt: skip


def _check_duplicate_wells(frame: pd.DataFrame, source: str, lines: Any = None) -> None:
    if "well" not in frame:
        return
    has = frame["well"].astype(str).str.strip() != ""
    dup = (frame.duplicated(["well", "target"], keep="first") & has).to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        where = f"line {lines[i]}" if lines is not None else f"row {i}"
        raise LeptotwinError(
            "duplicated well", source=source, field=where,
            value=f"{frame['well'].iloc[i]} / {frame['target'].iloc[i]}",
            expected="each well listed once per target",
        )  # fmt: skip


# --------------------------------------------------------------------------- checks
def _check_data(data: pd.DataFrame, groups: Any, source: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise LeptotwinError("expected a DataFrame of wells", source=source,
                             value=type(data).__name__)  # fmt: skip
    for col in ("sample", "target", "ct"):
        if col not in data:
            raise LeptotwinError(
                "missing column", source=source, field=col,
                expected="sample, target, ct and optionally group, well, task, flag",
            )  # fmt: skip
    frame = data.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "sample": frame["sample"].astype(str).str.strip(),
            "target": frame["target"].astype(str).str.strip(),
        }
    )
    ct, flag = _parse_ct(list(frame["ct"]), "auto", source)
    if "flag" in frame:
        given = frame["flag"].astype(str).str.lower().to_numpy(object)
        flag = np.where(np.isin(given, [f.value for f in QPCRFlag]) & (given != "ok"), given, flag)
    out["ct"] = ct
    out["flag"] = flag
    out["task"] = frame["task"].astype(str).str.upper() if "task" in frame else "UNKNOWN"
    out["well"] = frame["well"].astype(str) if "well" in frame else ""
    if groups is not None:
        if isinstance(groups, pd.DataFrame):
            if not {"sample", "group"} <= set(groups):
                raise LeptotwinError("groups needs columns sample and group", source=source,
                                     field="groups")  # fmt: skip
            groups = dict(
                zip(groups["sample"].astype(str), groups["group"].astype(str), strict=True)
            )
        mapped = out["sample"].map(lambda s: groups.get(s))
        missing = out["sample"][mapped.isna() & (out["task"] == "UNKNOWN")]
        if len(missing):
            raise LeptotwinError("sample has no group", source=source, field="groups",
                                 value=missing.iloc[0])  # fmt: skip
        out["group"] = mapped.fillna("").astype(str)
    elif "group" in frame:
        g = frame["group"].astype(str).str.strip()
        out["group"] = np.where((g == "") | frame["group"].isna(), out["sample"], g)
    else:
        out["group"] = out["sample"]
    _check_duplicate_wells(out, source)
    use = (out["task"] == "UNKNOWN") & (out["sample"] != "") & (out["flag"] != "omitted")
    out = out[use].reset_index(drop=True)
    two = out.groupby("sample")["group"].nunique()
    if (two > 1).any():
        raise LeptotwinError(
            "sample in more than one group", source=source, field="group",
            value=str(two[two > 1].index[0]), expected="one group per biological sample",
        )  # fmt: skip
    return out


def _as_tuple(ref: str | Sequence[str]) -> tuple[str, ...]:
    return (ref,) if isinstance(ref, str) else tuple(str(r) for r in ref)


# --------------------------------------------------------------------------- fitter
class RelativeExpressionFitter:
    """Relative expression by ΔΔCt (Livak) or efficiency-corrected (Pfaffl), with CIs and tests.

    See the module docstring for the sign convention (``ΔCt = Ct_target − Ct_reference``,
    ``ΔΔCt = ΔCt_sample − mean ΔCt_calibrator``, ``fold = 2^−ΔΔCt``).

    Parameters
    ----------
    reference : str, sequence of str, or mapping target -> str or sequence of str
        Reference gene(s). With several, their mean Ct (geometric mean of quantities) is
        used. A mapping gives each target its own references, e.g. ``{"miR-449a": "U6",
        "AREG": ["GAPDH", "ACTB"]}``.
    calibrator : str
        The group every fold change is relative to (e.g. parental ``A925LPE3``).
    targets : sequence of str, optional
        Targets to quantify; default the keys of a ``reference`` mapping, else every target
        that is not a reference gene.
    method : {"livak", "pfaffl"}
        ``livak`` assumes efficiency 1 (``E = 2``) for every gene; ``pfaffl`` needs
        ``efficiency``.
    efficiency : float, mapping target -> float, or DataFrame, optional
        Amplification efficiency as a fraction (0.95 = 95 %; ``E = 1 + efficiency``), one for
        every gene or per gene; a DataFrame from :func:`amplification_efficiency` works too.
    pairing : {"sample", "group"}
        ``sample``: ΔCt per biological sample (target and reference from the same cDNA),
        the usual design. ``group``: target and reference treated as unpaired (Livak's
        separate-tube example): ΔCt from the group means of each gene.
    alpha : float
        Intervals are ``1 − alpha``.
    max_replicate_sd : float
        Technical-replicate SD (cycles) above which a sample's gene is flagged.
    undetermined : "drop" or float
        Undetermined wells are left out of the technical mean (``drop``) or set to this Ct
        (e.g. 40, the cut-off: the fold change is then a bound); either way flagged.

    Attributes (after :meth:`fit`)
    ------------------------------
    replicates_ : DataFrame
        One row per sample and gene: ``sample, group, target, n_wells, n_undetermined,
        ct_mean_cycles, ct_sd_cycles, flag``.
    samples_ : DataFrame
        One row per biological sample and target: ``sample, group, target, reference,
        ct_target_cycles, ct_reference_cycles, dct_target_minus_ref_cycles,
        ddct_vs_calibrator_cycles, fold_change, flag``.
    summary : DataFrame
        One row per target and group (calibrator first): ``target, reference, group,
        calibrator, method, n_samples, dct_target_minus_ref_cycles, sd_dct_cycles,
        ddct_vs_calibrator_cycles, se_ddct_cycles, df, fold_change, fold_change_lower,
        fold_change_upper, fold_change_sd_low, fold_change_sd_high, log2_fold_change,
        t_stat, p_value, ci_level, flag``; ``attrs["convention"]`` states the convention.
    """

    def __init__(
        self,
        reference: str | Sequence[str] | Mapping[str, str | Sequence[str]],
        calibrator: str,
        *,
        targets: Sequence[str] | None = None,
        method: str = "livak",
        efficiency: float | Mapping[str, float] | pd.DataFrame | None = None,
        pairing: str = "sample",
        alpha: float = 0.05,
        max_replicate_sd: float = 0.5,
        undetermined: str | float = "drop",
    ) -> None:
        alpha = check_alpha(alpha, _SRC)
        if method not in ("livak", "pfaffl"):
            raise LeptotwinError("unknown method", source=_SRC, field="method", value=method,
                                 expected="'livak' or 'pfaffl'")  # fmt: skip
        if method == "livak" and efficiency is not None:
            raise LeptotwinError(
                "Livak's ΔΔCt assumes efficiency 1 for every gene", source=_SRC,
                field="efficiency", expected="method='pfaffl' to use efficiencies",
            )  # fmt: skip
        if method == "pfaffl" and efficiency is None:
            raise LeptotwinError(
                "the Pfaffl method needs efficiencies", source=_SRC, field="efficiency",
                expected="a fraction (0.95 = 95 %) or a mapping gene -> fraction",
            )  # fmt: skip
        if pairing not in ("sample", "group"):
            raise LeptotwinError("unknown pairing", source=_SRC, field="pairing",
                                 value=pairing, expected="'sample' or 'group'")  # fmt: skip
        if not (undetermined == "drop" or isinstance(undetermined, (int, float))):
            raise LeptotwinError(
                "bad undetermined policy", source=_SRC, field="undetermined",
                value=undetermined, expected="'drop' or a Ct to substitute (e.g. 40)",
            )  # fmt: skip
        self.reference = reference
        self.calibrator = str(calibrator)
        self.targets = None if targets is None else [str(t) for t in targets]
        self.method = method
        self.efficiency = efficiency
        self.pairing = pairing
        self.alpha = float(alpha)
        self.max_replicate_sd = float(max_replicate_sd)
        self.undetermined = undetermined

    def __repr__(self) -> str:
        return (
            f"RelativeExpressionFitter(reference={self.reference!r}, "
            f"calibrator={self.calibrator!r}, method={self.method!r}, pairing={self.pairing!r})"
        )

    # ---------------------------------------------------------------- set-up
    def _references(self, present: list[str]) -> dict[str, tuple[str, ...]]:
        ref = self.reference
        if isinstance(ref, Mapping):
            plan = {str(t): _as_tuple(r) for t, r in ref.items()}
            if self.targets is not None:
                lacking = [t for t in self.targets if t not in plan]
                if lacking:
                    raise LeptotwinError(
                        "no reference gene for a target", source=_SRC, field="reference",
                        value=lacking[0], expected="a reference for every target in targets",
                    )  # fmt: skip
                plan = {t: plan[t] for t in self.targets}
        else:
            refs = _as_tuple(ref)
            names = self.targets or [t for t in present if t not in refs]
            plan = {t: refs for t in names}
        if not plan:
            raise LeptotwinError("no target to quantify", source=_SRC, field="targets",
                                 expected="targets other than the reference genes")  # fmt: skip
        for target, refs in plan.items():
            for gene in (target, *refs):
                if gene not in present:
                    what = "target" if gene == target else "reference gene"
                    raise LeptotwinError(
                        f"{what} not in the data", source=_SRC, field=what.split()[-1],
                        value=gene, expected="one of " + ", ".join(present),
                    )  # fmt: skip
        return plan

    def _log2_e(self, genes: set[str]) -> dict[str, float]:
        if self.method == "livak":
            return dict.fromkeys(genes, 1.0)
        eff = self.efficiency
        if isinstance(eff, pd.DataFrame):
            col = "efficiency" if "efficiency" in eff else None
            if col is None or "target" not in eff:
                raise LeptotwinError("efficiency table needs columns target and efficiency",
                                     source=_SRC, field="efficiency")  # fmt: skip
            eff = dict(zip(eff["target"].astype(str), eff[col].astype(float), strict=True))
        out = {}
        for gene in sorted(genes):
            value = eff.get(gene) if isinstance(eff, Mapping) else eff
            if value is None:
                raise LeptotwinError(
                    "no efficiency for a gene", source=_SRC, field="efficiency", value=gene,
                    expected="an efficiency for every target and reference gene",
                )  # fmt: skip
            v = float(value)
            if not 0.5 <= v <= 1.5:
                raise LeptotwinError(
                    "efficiency out of range", source=_SRC, field=f"efficiency[{gene!r}]",
                    value=value, expected="a fraction 0.5-1.5 (0.95 = 95 %; E = 1 + efficiency)",
                )  # fmt: skip
            out[gene] = float(np.log2(1.0 + v))
        return out

    # ---------------------------------------------------------------- fit
    def fit(
        self, data: pd.DataFrame, *, groups: Mapping[str, str] | pd.DataFrame | None = None
    ) -> RelativeExpressionFitter:
        """Quantify every target in every group relative to the calibrator.

        Parameters
        ----------
        data : DataFrame
            Tidy wells (see the module docstring), e.g. from :func:`read_qpcr`.
        groups : mapping sample -> group or DataFrame ``sample, group``, optional
            Overrides the ``group`` column (exports often carry only sample names).

        Returns
        -------
        self

        Raises
        ------
        LeptotwinError
            On a missing column, a non-numeric Ct, a duplicated well, a sample in two groups,
            an unknown target or reference gene, a missing calibrator group, a sample (with
            ``pairing="sample"``) or a group without its reference gene, a missing or
            out-of-range efficiency.
        """
        wells = _check_data(data, groups, _SRC)
        present = list(pd.unique(wells["target"]))
        plan = self._references(present)
        genes = set(plan) | {r for refs in plan.values() for r in refs}
        log2e = self._log2_e(genes)
        group_names = list(pd.unique(wells["group"]))
        if self.calibrator not in group_names:
            raise LeptotwinError(
                "calibrator group not in the data", source=_SRC, field="calibrator",
                value=self.calibrator, expected="one of " + ", ".join(map(str, group_names)),
            )  # fmt: skip
        order = [self.calibrator] + [g for g in group_names if g != self.calibrator]
        self.replicates_ = self._replicates(wells[wells["target"].isin(genes)])
        rows, sums = [], []
        for target, refs in plan.items():
            samp = self._samples(target, refs, log2e)
            rows.append(samp)
            sums.append(self._summarise(target, refs, samp, order, log2e))
        self.samples_ = pd.concat(rows, ignore_index=True)
        self.summary = pd.concat(sums, ignore_index=True)
        self.summary.attrs["convention"] = QPCR_CONVENTION
        self.plan_ = plan
        self.groups_ = order
        return self

    def _replicates(self, wells: pd.DataFrame) -> pd.DataFrame:
        w = wells.copy()
        und = w["flag"].isin(["undetermined", "missing"]) | w["ct"].isna()
        if self.undetermined != "drop":
            w.loc[und, "ct"] = float(self.undetermined)
        w["_und"] = und
        g = w.groupby(["sample", "group", "target"], sort=False)
        tab = g.agg(
            n_wells=("ct", "size"),
            n_undetermined=("_und", "sum"),
            ct_mean_cycles=("ct", "mean"),
            ct_sd_cycles=("ct", "std"),  # ddof 1 over the determined wells; NaN below two
        ).reset_index()
        n_und, n_wells = tab["n_undetermined"].to_numpy(), tab["n_wells"].to_numpy()
        all_und = (n_und == n_wells) & (self.undetermined == "drop")
        und = np.where(
            all_und,
            QPCRFlag.UNDETERMINED.value,
            np.where(n_und > 0, QPCRFlag.SOME_UNDETERMINED.value, ""),
        ).astype(object)
        high = np.where(
            tab["ct_sd_cycles"].to_numpy() > self.max_replicate_sd,
            QPCRFlag.HIGH_REPLICATE_SD.value,
            "",
        ).astype(object)
        joined = np.where((und != "") & (high != ""), und + ";" + high, und + high)
        tab["flag"] = np.where(joined == "", QPCRFlag.OK.value, joined).astype(object)
        tab["n_wells"] = tab["n_wells"].astype(int)
        tab["n_undetermined"] = tab["n_undetermined"].astype(int)
        return tab

    def _samples(
        self, target: str, refs: tuple[str, ...], log2e: Mapping[str, float]
    ) -> pd.DataFrame:
        rep = self.replicates_
        t = rep[rep["target"] == target].set_index("sample")
        ct_ref = pd.DataFrame(index=t.index)
        ref_flags = pd.Series("", index=t.index, dtype=object)
        for r in refs:
            rr = rep[rep["target"] == r].set_index("sample")
            absent = [s for s in t.index if s not in rr.index]
            if absent and self.pairing == "sample":
                raise LeptotwinError(
                    "reference gene absent for a sample", source=_SRC, field=f"sample {absent[0]}",
                    value=r, expected=f"wells of {', '.join(refs)} for every sample with {target}"
                    " (or pairing='group' for separate-tube designs)",
                )  # fmt: skip
            ct_ref[r] = rr["ct_mean_cycles"].reindex(t.index)
            bad = rr["flag"].reindex(t.index).fillna("")
            ref_flags = ref_flags.where(bad.isin(["ok", ""]), ref_flags + ";" + r + ":" + bad)
        wref = sum(ct_ref[r] * log2e[r] for r in refs) / len(refs)
        ct_ref_mean = ct_ref.mean(axis=1, skipna=False)
        out = pd.DataFrame(
            {
                "sample": t.index,
                "group": t["group"].to_numpy(),
                "target": target,
                "reference": "+".join(refs),
                "ct_target_cycles": t["ct_mean_cycles"].to_numpy(),
                "ct_reference_cycles": ct_ref_mean.to_numpy(),
                "dct_target_minus_ref_cycles": (
                    t["ct_mean_cycles"] * log2e[target] - wref
                ).to_numpy(float),
            }
        )
        flags = []
        for i, s in enumerate(t.index):
            f = [x for x in str(t["flag"].iloc[i]).split(";") if x != "ok"]
            if np.isnan(out["ct_reference_cycles"].iloc[i]):
                f.append(QPCRFlag.NO_REFERENCE.value)
            extra = ref_flags.loc[s].strip(";")
            if extra:
                f.append(extra)
            flags.append(";".join(f) or QPCRFlag.OK.value)
        out["flag"] = flags
        cal = out.loc[out["group"] == self.calibrator, "dct_target_minus_ref_cycles"].dropna()
        cal_mean = float(cal.mean()) if len(cal) else np.nan
        out["ddct_vs_calibrator_cycles"] = out["dct_target_minus_ref_cycles"] - cal_mean
        out["fold_change"] = 2.0 ** -out["ddct_vs_calibrator_cycles"]
        return out

    def _group_stats(
        self,
        target: str,
        refs: tuple[str, ...],
        samp: pd.DataFrame,
        group: str,
        log2e: Mapping[str, float],
    ) -> tuple[float, float, int, list[tuple[float, int]]]:
        """(mean ΔCt, SD of ΔCt, n, variance components [(w²s², n)]) of one group."""
        if self.pairing == "sample":
            d = samp.loc[samp["group"] == group, "dct_target_minus_ref_cycles"].dropna()
            n = len(d)
            sd = float(np.std(d, ddof=1)) if n > 1 else np.nan
            return (float(d.mean()) if n else np.nan), sd, n, [(sd**2, n)]
        rep = self.replicates_
        mean, comps, n_min = 0.0, [], None
        for gene, w in [(target, log2e[target])] + [(r, -log2e[r] / len(refs)) for r in refs]:
            x = rep.loc[(rep["group"] == group) & (rep["target"] == gene), "ct_mean_cycles"]
            x = x.dropna()
            if not len(x):
                raise LeptotwinError(
                    "gene absent from a group", source=_SRC, field=f"group {group}", value=gene,
                    expected="target and reference wells in every group",
                )  # fmt: skip
            s2 = float(np.var(x, ddof=1)) if len(x) > 1 else np.nan
            mean += w * float(x.mean())
            comps.append((w * w * s2, len(x)))
            n_min = len(x) if n_min is None else min(n_min, len(x))
        # Livak's s: sqrt(s_t^2 + s_r^2) (one reference); several references: SD of their mean
        sd = float(np.sqrt(sum(c[0] for c in comps)))
        return mean, sd, int(n_min or 0), comps

    def _summarise(
        self,
        target: str,
        refs: tuple[str, ...],
        samp: pd.DataFrame,
        order: list[str],
        log2e: Mapping[str, float],
    ) -> pd.DataFrame:
        stats_by = {g: self._group_stats(target, refs, samp, g, log2e) for g in order}
        cal_mean, _, _, cal_comps = stats_by[self.calibrator]
        rows = []
        for g in order:
            mean, sd, n, comps = stats_by[g]
            ddct = mean - cal_mean
            parts = comps if g == self.calibrator else comps + cal_comps
            flag = []
            if any(k < 2 for _, k in parts) or n == 0:
                se, df = np.nan, np.nan
                flag.append(QPCRFlag.FEW_REPLICATES.value)
            else:
                v = np.array([s2 / k for s2, k in parts])
                se = float(np.sqrt(v.sum()))
                denom = float(sum(vi**2 / (k - 1) for vi, (_, k) in zip(v, parts, strict=True)))
                df = float(v.sum() ** 2 / denom) if denom > 0 else np.inf
            if se == 0.0:
                flag.append(QPCRFlag.NO_VARIANCE.value)
            q = float(stats.t.ppf(1 - self.alpha / 2, df)) if np.isfinite(se) and se > 0 else 0.0
            half = q * se if np.isfinite(se) else np.nan
            if g != self.calibrator and np.isfinite(se) and se > 0:
                t_stat = ddct / se
                p = float(2.0 * stats.t.sf(abs(t_stat), df))
            else:
                t_stat, p = np.nan, np.nan
            rows.append(
                {
                    "target": target,
                    "reference": "+".join(refs),
                    "group": g,
                    "calibrator": self.calibrator,
                    "method": self.method,
                    "n_samples": int(n),
                    "dct_target_minus_ref_cycles": mean,
                    "sd_dct_cycles": sd,
                    "ddct_vs_calibrator_cycles": ddct,
                    "se_ddct_cycles": se,
                    "df": df,
                    "fold_change": 2.0**-ddct,
                    "fold_change_lower": 2.0 ** -(ddct + half),
                    "fold_change_upper": 2.0 ** -(ddct - half),
                    "fold_change_sd_low": 2.0 ** -(ddct + sd),
                    "fold_change_sd_high": 2.0 ** -(ddct - sd),
                    "log2_fold_change": 0.0 - ddct,
                    "t_stat": t_stat,
                    "p_value": p,
                    "ci_level": 1.0 - self.alpha,
                    "flag": ";".join(flag) or QPCRFlag.OK.value,
                }
            )
        return pd.DataFrame(rows)

    # ---------------------------------------------------------------- output
    def _check_fitted(self) -> None:
        if not hasattr(self, "summary"):
            raise LeptotwinError("call fit() first", source=_SRC)

    def print_summary(self) -> None:
        """Print the convention, the per-group fold changes and the flagged replicates."""
        self._check_fitted()
        print(QPCR_CONVENTION)
        with pd.option_context("display.width", 160, "display.max_columns", 30):
            print(self.summary.to_string(index=False))
            bad = self.replicates_[self.replicates_["flag"] != "ok"]
            if len(bad):
                print("flagged technical replicates:")
                print(bad.to_string(index=False))

    def plot(self, ax: Any = None) -> Any:
        """Fold changes with their intervals per target (see :func:`plot_fold_change`)."""
        self._check_fitted()
        return plot_fold_change(self.summary, ax=ax)


def relative_expression(
    data: pd.DataFrame,
    reference: str | Sequence[str] | Mapping[str, str | Sequence[str]],
    calibrator: str,
    *,
    groups: Mapping[str, str] | pd.DataFrame | None = None,
    **options: Any,
) -> pd.DataFrame:
    """``RelativeExpressionFitter(reference, calibrator, **options).fit(data).summary``."""
    fit = RelativeExpressionFitter(reference, calibrator, **options)
    return fit.fit(data, groups=groups).summary


def plot_fold_change(summary: pd.DataFrame, ax: Any = None, *, log: bool = True) -> Any:
    """Fold change (points) with its interval (bars) per target, one colour per group.

    Parameters
    ----------
    summary : DataFrame
        :attr:`RelativeExpressionFitter.summary`.
    ax : matplotlib Axes, optional
    log : bool
        Log2 y axis (fold changes are ratios).

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.gca()
    targets = list(pd.unique(summary["target"]))
    groups = list(pd.unique(summary["group"]))
    width = 0.8 / max(len(groups), 1)
    for j, g in enumerate(groups):
        s = summary[summary["group"] == g].set_index("target").reindex(targets)
        x = np.arange(len(targets)) - 0.4 + width * (j + 0.5)
        y = s["fold_change"].to_numpy(float)
        lo = np.nan_to_num(y - s["fold_change_lower"].to_numpy(float))
        hi = np.nan_to_num(s["fold_change_upper"].to_numpy(float) - y)
        ax.bar(x, y, width=width * 0.9, alpha=0.35, label=str(g))
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o", color="k", ms=3, capsize=3)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    if log:
        ax.set_yscale("log", base=2)
    ax.set_xticks(np.arange(len(targets)), targets)
    cal = summary["calibrator"].iloc[0] if len(summary) else ""
    level = summary["ci_level"].iloc[0] if len(summary) else 0.95
    ax.set_ylabel(f"fold change vs {cal} (2^-ΔΔCt, {level:.0%} CI)")
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------- efficiency
def amplification_efficiency(
    data: pd.DataFrame | None = None,
    *,
    quantity: ArrayLike | None = None,
    ct: ArrayLike | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Amplification efficiency from a dilution series (standard curve), per target.

    Fits ``Ct = intercept + slope · log10(quantity)`` by least squares;
    ``efficiency = 10^(−1/slope) − 1`` (fraction; 1 = doubling each cycle, slope −3.32). The
    interval is the t interval of the slope (``n − 2`` degrees of freedom) carried through that
    formula (the efficiency rises monotonically with the slope for a slope < 0).

    Parameters
    ----------
    data : DataFrame, optional
        ``quantity`` (input amount, any unit, > 0), ``ct`` and optionally ``target`` (one fit
        per target) and ``task`` (only ``STANDARD`` wells are used when present). Undetermined
        wells are left out.
    quantity, ct : array_like, optional
        Instead of ``data``: one series.
    alpha : float
        The interval is ``1 − alpha``.

    Returns
    -------
    DataFrame, one row per target
        ``target, n_points, n_levels, slope_cycles_per_log10, slope_se, intercept_cycles,
        r_squared, efficiency, efficiency_lower, efficiency_upper`` (fractions; the interval
        needs 3 or more points, NaN otherwise, and its upper end is ``inf`` when the slope's
        upper bound reaches 0), ``ci_level, efficiency_pct, amplification_factor`` (``E = 1 +
        efficiency``, the Pfaffl base), ``flag`` (``ok``, ``efficiency_outside_90_110``,
        ``low_r2``, ``bad_slope``).

    Raises
    ------
    LeptotwinError
        If neither ``data`` nor ``quantity`` and ``ct`` are given, a column is missing, a
        quantity is not > 0, or a target has fewer than two input levels.
    """
    src = "amplification_efficiency"
    alpha = check_alpha(alpha, src)
    if data is None:
        if quantity is None or ct is None:
            raise LeptotwinError("give data or quantity and ct", source=src)
        data = pd.DataFrame({"quantity": np.asarray(quantity, float), "ct": list(np.ravel(ct))})
    for col in ("quantity", "ct"):
        if col not in data:
            raise LeptotwinError("missing column", source=src, field=col,
                                 expected="quantity, ct and optionally target, task")  # fmt: skip
    d = data.reset_index(drop=True)
    if "task" in d and (d["task"].astype(str).str.upper() == "STANDARD").any():
        d = d[d["task"].astype(str).str.upper() == "STANDARD"].reset_index(drop=True)
    ctv, _ = _parse_ct(list(d["ct"]), "auto", src)
    q = pd.to_numeric(d["quantity"], errors="coerce").to_numpy(float)
    if not (np.isfinite(q) & (q > 0)).all():
        i = int(np.argmax(~(np.isfinite(q) & (q > 0))))
        raise LeptotwinError("quantity must be > 0", source=src, field=f"row {i}, quantity",
                             value=d["quantity"].iloc[i])  # fmt: skip
    target = d["target"].astype(str).to_numpy() if "target" in d else np.full(len(d), "")
    rows = []
    for t in pd.unique(target):
        sel = (target == t) & np.isfinite(ctv)
        rows.append(_standard_curve(str(t), np.log10(q[sel]), ctv[sel], alpha, src))
    return pd.DataFrame(rows)


def _efficiency_of(slope: float) -> float:
    return float(10.0 ** (-1.0 / slope) - 1.0) if slope < 0 else np.nan


def _standard_curve(
    target: str, x: np.ndarray, y: np.ndarray, alpha: float, src: str
) -> dict[str, Any]:
    """One target's fit of Ct (cycles) on log10 quantity: slope, R², efficiency and its CI."""
    n_levels = len(np.unique(x))
    if n_levels < 2:
        raise LeptotwinError("need at least two input levels", source=src,
                             field=f"target {target!r}", value=n_levels)  # fmt: skip
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    sst = float(np.sum((y - y.mean()) ** 2))
    rss = float(np.sum(resid**2))
    r2 = 1.0 - rss / sst if sst > 0 else np.nan
    n = len(x)
    if n > 2:
        se = float(np.sqrt(rss / (n - 2) / np.sum((x - x.mean()) ** 2)))
        half = float(stats.t.ppf(1 - alpha / 2, n - 2)) * se
        lo = _efficiency_of(slope - half)
        hi = _efficiency_of(slope + half) if slope + half < 0 else np.inf
    else:
        se, lo, hi = np.nan, np.nan, np.nan
    flag = []
    eff = _efficiency_of(slope)
    if slope >= 0:
        flag.append(QPCRFlag.BAD_SLOPE.value)
        lo = hi = np.nan
    elif not 0.9 <= eff <= 1.1:
        flag.append(QPCRFlag.EFFICIENCY_OUTSIDE.value)
    if not r2 >= 0.98:
        flag.append(QPCRFlag.LOW_R2.value)
    return {
        "target": target,
        "n_points": int(n),
        "n_levels": int(n_levels),
        "slope_cycles_per_log10": float(slope),
        "slope_se": se,
        "intercept_cycles": float(intercept),
        "r_squared": r2,
        "efficiency": eff,
        "efficiency_lower": lo,
        "efficiency_upper": hi,
        "ci_level": 1.0 - alpha,
        "efficiency_pct": 100.0 * eff,
        "amplification_factor": 1.0 + eff,
        "flag": ";".join(flag) or QPCRFlag.OK.value,
    }


_EFF_TABLE_TARGET = ("gene", "target", "target name", "detector", "detector name", "assay")


def read_efficiencies(path: str | os.PathLike[str], *, alpha: float = 0.05) -> pd.DataFrame:
    """Amplification efficiencies for the Pfaffl method, from a table or a dilution series.

    The kind of file is decided by its header row (the first line that is not blank, a ``#``
    comment or a ``* key = value`` line):

    * **a dilution series** when the header names Ct and quantity columns (any export or tidy
      CSV :func:`read_qpcr` understands; the sample column is optional): the standards are the
      wells with task ``STANDARD`` or, without such wells, every well with a quantity > 0;
      each target's efficiency is fitted by :func:`amplification_efficiency` (slope, R² and
      the efficiency's interval);
    * **a table** otherwise, when the header names a gene (``gene``, ``target``, ``Target
      Name``) and an efficiency column (``efficiency``, ``efficiency_pct``, ``Efficiency
      (%)``): one row per gene; the values are read as fractions (0.95), amplification factors
      (1.95) or percentages (95), whichever range they all fall in
      (:data:`EFFICIENCY_SCALES`). The ``efficiencies.csv`` that ``leptotwin qpcr`` writes is
      such a table.

    Parameters
    ----------
    path : path-like
    alpha : float
        Intervals of fitted efficiencies are ``1 − alpha``.

    Returns
    -------
    DataFrame, one row per gene
        ``target, efficiency`` (fraction; ``E = 1 + efficiency``) and, for a dilution series,
        the other columns of :func:`amplification_efficiency`. ``attrs["kind"]`` is
        ``"table"`` or ``"dilution series"``, ``attrs["source"]`` the path.

    Raises
    ------
    LeptotwinError
        If the file is missing, empty or binary, is neither kind, a gene is listed twice or
        has no efficiency, the efficiencies are not numbers on one scale, or a dilution series
        has no standards or fewer than two input levels for a gene.
    """
    p = Path(path)
    source = str(p)
    if not p.is_file():
        raise LeptotwinError("file not found", source=source)
    lines = _decode(p, source).splitlines()
    for n, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith(("#", "*")):
            continue
        sep = max(("\t", ";", ","), key=line.count)
        header = _split(line, sep, source, n + 1)
        cols = _match_columns(header)
        if "ct" in cols and "quantity" in cols:
            return _efficiencies_from_standards(p, alpha)
        if "ct" in cols or "[" in line:
            continue  # an export's preamble or a results table without quantities: read on
        norm = [_norm_header(h) for h in header]
        gene = next((norm.index(t) for t in _EFF_TABLE_TARGET if t in norm), None)
        if "efficiency" in cols and gene is not None:
            return _efficiency_table(lines[n + 1 :], sep, gene, cols["efficiency"], source, n + 1)
        break
    raise LeptotwinError(
        "neither an efficiency table nor a dilution series", source=source,
        expected="a header 'gene,efficiency' (a table) or a header with target, Ct and "
        "quantity columns (a dilution series)",
    )  # fmt: skip


def _efficiency_table(
    lines: list[str], sep: str, gene_col: int, eff_col: int, source: str, header_line: int
) -> pd.DataFrame:
    """Rows ``gene, efficiency`` under the header (line ``header_line``, 1-based)."""
    genes: list[str] = []
    values = []
    for k, line in enumerate(lines, start=header_line + 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = _split(line, sep, source, k)
        fields += [""] * (max(gene_col, eff_col) + 1 - len(fields))
        gene, raw = fields[gene_col].strip(), fields[eff_col].strip()
        v = _number(raw, "auto")
        if not gene or v is None or not np.isfinite(v):
            raise LeptotwinError(
                "bad efficiency row", source=source, field=f"line {k}", value=line.strip()[:80],
                expected="a gene name and its efficiency (0.95, 1.95 or 95 %)",
            )  # fmt: skip
        if gene in genes:
            raise LeptotwinError("gene listed twice", source=source, field=f"line {k}",
                                 value=gene, expected="one row per gene")  # fmt: skip
        genes.append(gene)
        values.append(v)
    if not genes:
        raise LeptotwinError("the efficiency table has no rows", source=source,
                             expected="one row per gene: gene,efficiency")  # fmt: skip
    v = np.asarray(values, float)
    frac = _as_fraction(v, _efficiency_scale(v, source, "column efficiency"))
    out = pd.DataFrame({"target": genes, "efficiency": frac})
    out.attrs.update(kind="table", source=source)
    return out


def _efficiencies_from_standards(path: Path, alpha: float) -> pd.DataFrame:
    source = str(path)
    wells = _read_wells(path, "auto", "standards")
    wells = wells[wells["flag"] != QPCRFlag.OMITTED.value]
    if (wells["task"] == "STANDARD").any():
        std = wells[wells["task"] == "STANDARD"]
    else:
        std = wells[wells["quantity"] > 0]
    if std.empty:
        raise LeptotwinError(
            "no standards in the dilution series", source=source, field="Quantity",
            expected="wells with task STANDARD or a quantity > 0",
        )  # fmt: skip
    bad = (~(std["quantity"] > 0)).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise LeptotwinError(
            "standard without a quantity > 0", source=source,
            field=f"well {std['well'].iloc[i]} ({std['target'].iloc[i]})",
            value=float(std["quantity"].iloc[i]), expected="a quantity > 0 for every standard",
        )  # fmt: skip
    try:
        out = amplification_efficiency(std, alpha=alpha)
    except LeptotwinError as exc:
        raise LeptotwinError(exc.message, source=source, field=exc.field, value=exc.value,
                             expected=exc.expected) from None  # fmt: skip
    out.attrs.update(kind="dilution series", source=source)
    return out
