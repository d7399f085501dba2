"""Multi-strip western blots: one horizontal strip per antibody, quantified strip × lane.

A membrane is often cut into strips, each probed with its own antibody (p-ALK, ALK, p-EGFR,
EGFR, ..., β-actin), and scanned as one image. This module finds the strips, quantifies the band
of every strip in every lane (lanes shared by all strips) and normalises them.

1. :func:`detect_strips` finds the strips from the row profile of the image: each column's
   background is removed (a grey opening over ``2 x radius + 1`` rows after averaging
   ``max(3, width/20)`` px horizontally and smoothing 2 px vertically), and a row holds signal
   when its 99th-percentile pixel (so that a band in a single lane counts) exceeds the median
   row by ``max(6 robust SDs, 2 % of the strongest row)``. Runs of such rows are
   bands; runs closer than 1.5 × the median run height belong to one strip (doublets), wider
   gaps separate strips. Each strip reaches to the middle of the gap to its neighbours (the
   first from row 0, the last to the bottom row).
2. :func:`read_blot_layout` reads a layout CSV naming the antibody of each strip (and
   optionally its total-protein partner, its role, its rows) and the sample of each lane.
3. :func:`quantify_strips` finds the lanes once on the whole image and quantifies every strip
   with :func:`leptotwin.analysis.densitometry.quantify_bands` (one band per lane).
4. :func:`normalise_strips` divides each band by the loading control of its lane
   (``normalised_to_loading``) and each phospho band by its total-protein band of the same lane
   (``phospho_to_total``); :func:`phospho_total_pairs` pairs ``p-EGFR`` with ``EGFR`` by name.

Layout file (``,`` ``;`` or tab separated; ``#`` lines are comments)::

    [strips]
    strip,antibody,total,role
    1,p-ALK,ALK,
    2,ALK,,
    3,p-EGFR,EGFR,
    4,EGFR,,
    5,beta-actin,,loading control
    [lanes]
    lane,sample
    1,A925L
    2,A925L/AR

``[strips]``: ``antibody`` is required (``strip`` defaults to the row order, 1 = top);
``total`` names the total-protein strip of a phospho antibody (default: by name, see
:func:`phospho_total_pairs`); ``role`` ``loading control`` marks the loading control (default:
a strip named β-actin, actin, GAPDH, α-tubulin, tubulin, vinculin, lamin B1 or histone H3);
``row0_px, row1_px`` (inclusive, 0 = top row) place the strips by hand instead of detecting
them. ``[lanes]``: ``lane, sample`` (lanes numbered 1.. from the left). A file without section
lines is a ``[strips]`` table.

This module never imports the model, the assays or the study.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from leptotwin.analysis.densitometry import (
    BlotImage,
    detect_lanes,
    quantify_bands,
    read_image,
    subtract_background,
)
from leptotwin.errors import LeptotwinError

__all__ = [
    "LOADING_CONTROLS",
    "STRIP_COLUMNS",
    "BlotLayout",
    "blot_figure",
    "detect_strips",
    "normalise_strips",
    "phospho_total_pairs",
    "pick_strip",
    "quantify_strips",
    "read_blot_layout",
]

STRIP_COLUMNS = ("strip", "row0_px", "row1_px", "signal_row0_px", "signal_row1_px")
LOADING_CONTROLS = (
    "beta-actin",
    "actin",
    "GAPDH",
    "alpha-tubulin",
    "tubulin",
    "vinculin",
    "lamin B1",
    "histone H3",
)
"""Antibody names taken as the loading control when none is named (case, hyphens, spaces and
Greek letters ignored: ``β-actin`` = ``beta actin``)."""
_RUN_GAP_FACTOR = 1.5
_NOISE_SDS = 6.0
_MIN_FRACTION = 0.02


# --------------------------------------------------------------------------------------------
# names


def _key(name: str) -> str:
    """Comparable form of an antibody name: Greek letters spelled out, phosphosites in
    parentheses or as trailing tokens (``Y1068``, ``Thr202/Tyr204``) dropped, lower case,
    letters and digits only."""
    text = str(name).replace("β", "beta").replace("α", "alpha").replace("γ", "gamma").lower()
    text = re.sub(r"\([^)]*\)", " ", text)
    site = r"(?:[sty]|ser|thr|tyr)\d+"
    tokens = [t for t in text.split() if not re.fullmatch(rf"{site}(?:/{site}|/\d+)*", t)]
    return re.sub(r"[^0-9a-z]", "", "".join(tokens))


def phospho_total_pairs(names: list[str]) -> dict[int, int]:
    """Pair phospho antibodies with their total-protein antibody by name.

    ``p-EGFR``, ``pEGFR``, ``phospho-EGFR`` and ``p-EGFR (Y1068)`` pair with ``EGFR``;
    ``p-ERK1/2 (T202/Y204)`` with ``ERK1/2``.

    Parameters
    ----------
    names : list of str
        Antibody of each strip, in strip order.

    Returns
    -------
    dict
        0-based index of a phospho strip -> 0-based index of its total strip.
    """
    keys = [_key(n) for n in names]
    pairs = {}
    for i, k in enumerate(keys):
        for prefix in ("phospho", "p"):
            base = k[len(prefix) :] if k.startswith(prefix) else None
            if base and base in keys and keys.index(base) != i:
                pairs[i] = keys.index(base)
                break
    return pairs


def pick_strip(choice: str | int, names: list[str], source: str) -> int:
    """0-based index of the strip ``choice`` names: a 1-based strip number or an antibody
    name (compared as :func:`phospho_total_pairs` compares them)."""
    text = str(choice).strip()
    if re.fullmatch(r"\d+", text):
        k = int(text)
        if not 1 <= k <= len(names):
            raise LeptotwinError(
                "no such strip",
                source=source,
                value=text,
                expected=f"a strip number 1-{len(names)} or an antibody name",
            )
        return k - 1
    keys = [_key(n) for n in names]
    if _key(text) and _key(text) in keys:
        return keys.index(_key(text))
    known = ", ".join(n for n in names if n) or "no antibody names (give a layout)"
    raise LeptotwinError(
        "no strip with this antibody",
        source=source,
        value=text,
        expected=f"a strip number 1-{len(names)} or one of: {known}",
    )


# --------------------------------------------------------------------------------------------
# layout file


@dataclass(frozen=True)
class BlotLayout:
    """What a blot layout file says.

    Attributes
    ----------
    strips : DataFrame
        ``strip`` (1-based, top to bottom), ``antibody``, ``total`` (antibody name or ``""``),
        ``role`` (``"loading control"`` or ``""``), ``row0_px, row1_px`` (float, NaN unless
        given).
    lanes : DataFrame
        ``lane`` (1-based, left to right), ``sample``; empty when the file has no lanes.
    source : str
    """

    strips: pd.DataFrame
    lanes: pd.DataFrame
    source: str


def _layout_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise LeptotwinError(
            "empty layout file",
            source=str(path),
            expected="a [strips] table with an antibody column",
        )
    if b"\x00" in raw:
        raise LeptotwinError("binary file, not a layout CSV", source=str(path))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _sections(text: str, source: str) -> dict[str, list[tuple[int, list[str]]]]:
    """``{section: [(line number, fields), ...]}``; lines before any section go to
    ``strips``."""
    out: dict[str, list[tuple[int, list[str]]]] = {}
    current = "strips"
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = re.fullmatch(r"\[\s*([A-Za-z ]+?)\s*\][,;\t ]*", stripped)
        if m:
            current = m.group(1).lower()
            if current not in ("strips", "lanes"):
                raise LeptotwinError(
                    "unknown section",
                    source=source,
                    field=f"line {n}",
                    value=stripped,
                    expected="[strips] or [lanes]",
                )
            continue
        sep = max(("\t", ";", ","), key=line.count)
        try:
            fields = next(csv.reader([line], delimiter=sep))
        except csv.Error as exc:
            raise LeptotwinError(
                f"unreadable line ({exc})", source=source, field=f"line {n}"
            ) from None
        out.setdefault(current, []).append((n, [f.strip() for f in fields]))
    return out


def _table(
    rows: list[tuple[int, list[str]]],
    need: tuple[str, ...],
    optional: tuple[str, ...],
    source: str,
    section: str,
) -> tuple[pd.DataFrame, list[int]]:
    (head_line, header), body = rows[0], rows[1:]
    names = [h.lower() for h in header]
    missing = [c for c in need if c not in names]
    if missing:
        raise LeptotwinError(
            f"[{section}] table misses columns",
            source=source,
            field=f"line {head_line}",
            value=missing,
            expected=", ".join(need + tuple(f"optional {c}" for c in optional)),
        )
    cols = {c: names.index(c) for c in need + optional if c in names}
    data = {c: [(f[i] if i < len(f) else "") for _, f in body] for c, i in cols.items()}
    return pd.DataFrame(data, dtype=object), [n for n, _ in body]


def _positive_int(text: str, source: str, where: str, what: str) -> int:
    if not re.fullmatch(r"\d+", str(text)) or int(text) < 1:
        raise LeptotwinError(
            f"{what} must be a whole number >= 1", source=source, field=where, value=text
        )
    return int(text)


def read_blot_layout(path: str | os.PathLike[str]) -> BlotLayout:
    """Read a blot layout CSV (format in the module docstring).

    Raises
    ------
    LeptotwinError
        Missing, empty or binary file; no ``antibody`` column; an unknown section; strip or
        lane numbers that are not 1, 2, 3, ... in some order; an empty antibody name; a
        ``total`` naming no strip; rows given for some strips only, not numbers, or
        overlapping; more than one loading control.
    """
    p = Path(path)
    source = str(p)
    if not p.is_file():
        raise LeptotwinError("layout file not found", source=source)
    sections = _sections(_layout_text(p), source)
    if not sections.get("strips"):
        raise LeptotwinError(
            "no [strips] table",
            source=source,
            expected="a table with an antibody column, one row per strip",
        )
    strips, lines = _table(
        sections["strips"],
        ("antibody",),
        ("strip", "total", "role", "row0_px", "row1_px"),
        source,
        "strips",
    )
    if strips.empty:
        raise LeptotwinError("the [strips] table has no rows", source=source)
    strips = _check_strips(strips, lines, source)
    lanes = pd.DataFrame({"lane": pd.Series(dtype=int), "sample": pd.Series(dtype=object)})
    if sections.get("lanes"):
        table, lane_lines = _table(sections["lanes"], ("lane", "sample"), (), source, "lanes")
        numbers = [
            _positive_int(v, source, f"line {n}", "lane")
            for v, n in zip(table["lane"], lane_lines, strict=True)
        ]
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            raise LeptotwinError(
                "lanes must be numbered 1, 2, 3, ... once each",
                source=source,
                field="[lanes] lane",
                value=numbers,
            )
        lanes = pd.DataFrame({"lane": numbers, "sample": table["sample"].astype(str)})
        lanes = lanes.sort_values("lane").reset_index(drop=True)
    return BlotLayout(strips=strips, lanes=lanes, source=source)


def _check_strips(strips: pd.DataFrame, lines: list[int], source: str) -> pd.DataFrame:
    if "strip" in strips:
        numbers = [
            _positive_int(v, source, f"line {n}", "strip")
            for v, n in zip(strips["strip"], lines, strict=True)
        ]
    else:
        numbers = list(range(1, len(strips) + 1))
    if sorted(numbers) != list(range(1, len(numbers) + 1)):
        raise LeptotwinError(
            "strips must be numbered 1, 2, 3, ... once each",
            source=source,
            field="[strips] strip",
            value=numbers,
        )
    out = pd.DataFrame({"strip": numbers, "antibody": strips["antibody"].astype(str)})
    out["total"] = strips["total"].astype(str) if "total" in strips else ""
    out["role"] = strips["role"].astype(str).str.lower() if "role" in strips else ""
    empty = out["antibody"] == ""
    if empty.any():
        raise LeptotwinError(
            "empty antibody name", source=source, field=f"line {lines[int(np.argmax(empty))]}"
        )
    for k, (total, n) in enumerate(zip(out["total"], lines, strict=True)):
        if total and _key(total) not in [_key(a) for a in out["antibody"]]:
            raise LeptotwinError(
                "total names no strip",
                source=source,
                field=f"line {n}, total",
                value=total,
                expected="the antibody of another strip in this layout",
            )
        if total and _key(total) == _key(out["antibody"].iloc[k]):
            raise LeptotwinError(
                "a strip cannot be its own total",
                source=source,
                field=f"line {n}, total",
                value=total,
            )
    roles = out["role"].str.replace(r"[\s_-]+", " ", regex=True).str.strip()
    if not roles.isin(["", "loading control", "loading", "target"]).all():
        bad = roles[~roles.isin(["", "loading control", "loading", "target"])].iloc[0]
        raise LeptotwinError(
            "unknown role",
            source=source,
            field="[strips] role",
            value=bad,
            expected="'loading control', 'target' or empty",
        )
    out["role"] = np.where(roles.str.startswith("loading"), "loading control", "")
    if (out["role"] == "loading control").sum() > 1:
        raise LeptotwinError(
            "more than one loading control",
            source=source,
            field="[strips] role",
            expected="one strip marked loading control",
        )
    out["row0_px"], out["row1_px"] = _layout_rows(strips, lines, source)
    return out.sort_values("strip").reset_index(drop=True)


def _layout_rows(
    strips: pd.DataFrame, lines: list[int], source: str
) -> tuple[np.ndarray, np.ndarray]:
    n = len(strips)
    if "row0_px" not in strips and "row1_px" not in strips:
        return np.full(n, np.nan), np.full(n, np.nan)
    r0 = pd.to_numeric(strips.get("row0_px", pd.Series([""] * n)), errors="coerce").to_numpy()
    r1 = pd.to_numeric(strips.get("row1_px", pd.Series([""] * n)), errors="coerce").to_numpy()
    ok = (
        np.isfinite(r0)
        & np.isfinite(r1)
        & (r0 >= 0)
        & (r1 >= r0)
        & (r0 == np.round(r0))
        & (r1 == np.round(r1))
    )
    if not ok.all():
        i = int(np.argmax(~ok))
        raise LeptotwinError(
            "bad strip rows",
            source=source,
            field=f"line {lines[i]}, row0_px/row1_px",
            value=(strips.get("row0_px", [""] * n)[i], strips.get("row1_px", [""] * n)[i]),
            expected="whole numbers 0 <= row0_px <= row1_px for every strip",
        )
    order = np.argsort(r0)
    if np.any(r0[order][1:] <= r1[order][:-1]):
        raise LeptotwinError(
            "strip rows overlap",
            source=source,
            field="row0_px/row1_px",
            expected="separate row ranges, one per strip",
        )
    return r0, r1


# --------------------------------------------------------------------------------------------
# strips


def _row_score(signal: np.ndarray, radius: float) -> np.ndarray:
    """Per row: the 99th percentile over columns of the image minus a vertical background.

    The image is averaged over ``max(3, width/20)`` px horizontally and smoothed by a Gaussian
    of 2 px vertically; each column's background is a grey opening over ``2·radius + 1`` rows
    (bands are short, strips tall), smoothed, and the column's median residual is removed."""
    n_cols = signal.shape[1]
    s = ndimage.uniform_filter1d(signal, max(3, n_cols // 20), axis=1, mode="nearest")
    s = ndimage.gaussian_filter1d(s, 2.0, axis=0, mode="nearest")
    side = 2 * round(radius) + 1
    background = ndimage.grey_opening(s, size=(side, 1), mode="nearest")
    background = ndimage.uniform_filter1d(background, max(side // 4, 1), axis=0, mode="nearest")
    residual = s - background
    residual -= np.median(residual, axis=0, keepdims=True)
    return np.percentile(residual, 99, axis=1)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    labels, n = ndimage.label(mask)
    found = ndimage.find_objects(labels)
    return [(s[0].start, s[0].stop - 1) for s in found[:n] if s[0].stop - s[0].start >= 2]


def detect_strips(
    image: str | os.PathLike[str] | np.ndarray | BlotImage,
    *,
    n_strips: int | None = None,
    radius: float = 20.0,
    polarity: str = "auto",
) -> pd.DataFrame:
    """Find the antibody strips of a blot scan from its row profile (see the module docstring).

    Parameters
    ----------
    image : path, ndarray or BlotImage
    n_strips : int, optional
        The number of strips expected; a different number found is an error.
    radius : float
        Top-hat background radius, px.
    polarity : {"auto", "dark-on-light", "light-on-dark"}

    Returns
    -------
    DataFrame, one row per strip, top to bottom
        ``strip`` (1-based), ``row0_px, row1_px`` (the strip, inclusive), ``signal_row0_px,
        signal_row1_px`` (the rows holding its bands).

    Raises
    ------
    LeptotwinError
        No band rows at all, or a number of strips other than ``n_strips``.
    """
    img = read_image(image, polarity=polarity)
    src = img.source
    if n_strips is not None and (
        isinstance(n_strips, bool) or not isinstance(n_strips, (int, np.integer)) or n_strips < 1
    ):
        raise LeptotwinError(
            "the number of strips must be a whole number >= 1", source="--strips", value=n_strips
        )
    score = _row_score(img.signal, radius)
    base = float(np.median(score))
    sd = 1.4826 * float(np.median(np.abs(score - base)))
    top = float(score.max()) - base
    runs = _runs(score > base + max(_NOISE_SDS * sd, _MIN_FRACTION * top)) if top > 0 else []
    if not runs:
        raise LeptotwinError(
            "no bands found: cannot place the strips",
            source=src,
            expected="an image with bands, --strips 1 (the whole image), or strip rows "
            "(row0_px, row1_px) in a layout",
        )
    height = float(np.median([b - a + 1 for a, b in runs]))
    groups = [list(runs[0])]
    for a, b in runs[1:]:
        if a - groups[-1][1] - 1 < _RUN_GAP_FACTOR * height:
            groups[-1][1] = b
        else:
            groups.append([a, b])
    if n_strips is not None and len(groups) != n_strips:
        where = ", ".join(f"{a}-{b}" for a, b in groups)
        raise LeptotwinError(
            f"found {len(groups)} strips (band rows {where}) where {n_strips} were expected",
            source=src,
            field="--strips or the layout",
            expected="the number of strips on the image; a strip without any visible band "
            "needs its rows (row0_px, row1_px) in a layout",
        )
    n_rows = img.shape[0]
    cuts = [(groups[k][1] + groups[k + 1][0]) // 2 for k in range(len(groups) - 1)]
    starts = [0] + [c + 1 for c in cuts]
    ends = [*cuts, n_rows - 1]
    return pd.DataFrame(
        {
            "strip": np.arange(1, len(groups) + 1),
            "row0_px": starts,
            "row1_px": ends,
            "signal_row0_px": [g[0] for g in groups],
            "signal_row1_px": [g[1] for g in groups],
        }
    )


def quantify_strips(
    image: str | os.PathLike[str] | np.ndarray | BlotImage,
    n_lanes: int,
    strips: pd.DataFrame,
    *,
    samples: list[str] | None = None,
    background: str = "tophat",
    radius: float = 20.0,
    polarity: str = "auto",
    lane_method: str = "auto",
    lane_width: float | None = None,
) -> pd.DataFrame:
    """Quantify the band of every strip in every lane.

    Parameters
    ----------
    image : path, ndarray or BlotImage
    n_lanes : int
    strips : DataFrame
        ``strip, row0_px, row1_px`` (from :func:`detect_strips` or a layout) and optionally
        ``antibody``.
    samples : list of str, optional
        One sample name per lane, left to right.
    background, radius, polarity, lane_method, lane_width
        As :func:`leptotwin.analysis.densitometry.quantify_bands`.

    Returns
    -------
    DataFrame, one row per strip and lane
        ``strip, antibody, lane, sample`` and the columns of ``quantify_bands`` (``band,
        detected, center_row_px, row0_px, row1_px, col0_px, col1_px, volume_au,
        background_au, peak_au, n_saturated_px, saturated``). ``attrs["lanes"]`` is the lane
        table (found once on the rows of all strips).

    Raises
    ------
    LeptotwinError
        Strip rows outside the image, lanes that cannot be found, a sample list of the wrong
        length.
    """
    img = read_image(image, polarity=polarity)
    n_rows = img.shape[0]
    windows = []
    for s in strips.itertuples(index=False):
        r0, r1 = int(s.row0_px), int(s.row1_px)
        if not 0 <= r0 <= r1 < n_rows:
            raise LeptotwinError(
                "strip rows outside the image",
                source=img.source,
                field=f"strip {s.strip}",
                value=(r0, r1),
                expected=f"rows within 0-{n_rows - 1}",
            )
        windows.append((r0, r1))
    if samples is not None and len(samples) != n_lanes:
        raise LeptotwinError(
            "one sample name per lane",
            source=img.source,
            field="samples",
            value=len(samples),
            expected=f"{n_lanes} names",
        )
    corrected, _ = subtract_background(img.signal, method="tophat", radius=radius)
    mask = np.zeros(n_rows, bool)
    for r0, r1 in windows:
        mask[r0 : r1 + 1] = True
    try:
        lanes = detect_lanes(corrected[mask], n_lanes, method=lane_method, lane_width=lane_width)
    except LeptotwinError as exc:
        raise LeptotwinError(
            exc.message,
            source=img.source,
            field="--lanes",
            value=exc.value,
            expected="the number of lanes on the image (or fewer)",
        ) from None
    names = strips["antibody"].astype(str).tolist() if "antibody" in strips else [""] * len(strips)
    parts = []
    for k, window in enumerate(windows):
        t = quantify_bands(img, rows=window, lanes=lanes, background=background, radius=radius)
        t.insert(0, "strip", int(strips["strip"].iloc[k]))
        t.insert(1, "antibody", names[k])
        t.insert(3, "sample", [samples[i - 1] if samples else "" for i in t["lane"]])
        parts.append(t)
    table = pd.concat(parts, ignore_index=True)
    table.attrs["lanes"] = lanes
    return table


def normalise_strips(
    table: pd.DataFrame,
    *,
    loading_control: int | None = None,
    pairs: dict[int, int] | None = None,
) -> pd.DataFrame:
    """Add the loading-control and phospho/total ratios to a :func:`quantify_strips` table.

    Parameters
    ----------
    table : DataFrame
        :func:`quantify_strips` output.
    loading_control : int, optional
        Strip number (1-based) of the loading control.
    pairs : dict, optional
        Strip number of a phospho antibody -> strip number of its total protein.

    Returns
    -------
    DataFrame
        ``table`` plus ``loading_control`` (its antibody, or ``strip k``; ``""`` without one),
        ``normalised_to_loading`` (volume / the loading control's volume in the same lane;
        unitless, NaN without a loading control or where its volume is not > 0),
        ``total_antibody`` and ``phospho_to_total`` (volume / the total-protein band's volume
        in the same lane; NaN for strips without a partner or where that volume is not > 0).
    """
    out = table.copy()
    volume = out.set_index(["strip", "lane"])["volume_au"]
    name = {int(s): (a or f"strip {s}") for s, a in zip(out["strip"], out["antibody"], strict=True)}

    def per_lane(strip: int) -> np.ndarray:
        v = np.array([volume.get((strip, ln), np.nan) for ln in out["lane"]], float)
        return np.where(v > 0, v, np.nan)

    if loading_control is not None:
        out["loading_control"] = name[loading_control]
        out["normalised_to_loading"] = out["volume_au"].to_numpy(float) / per_lane(loading_control)
    else:
        out["loading_control"] = ""
        out["normalised_to_loading"] = np.nan
    partner = {int(k): int(v) for k, v in (pairs or {}).items()}
    out["total_antibody"] = [name[partner[s]] if s in partner else "" for s in out["strip"]]
    ratio = np.full(len(out), np.nan)
    for phospho, total in partner.items():
        sel = (out["strip"] == phospho).to_numpy()
        ratio[sel] = out["volume_au"].to_numpy(float)[sel] / per_lane(total)[sel]
    out["phospho_to_total"] = ratio
    return out


# --------------------------------------------------------------------------------------------
# figure


def blot_figure(
    image: str | os.PathLike[str] | np.ndarray | BlotImage,
    table: pd.DataFrame,
    strips: pd.DataFrame,
    *,
    polarity: str = "auto",
) -> object:
    """The scan with strips (orange), lanes (blue) and bands (green; red when saturated),
    strips labelled by antibody on the left, lanes by number and sample below.

    Parameters
    ----------
    image : path, ndarray or BlotImage
    table : DataFrame
        :func:`quantify_strips` output (``attrs["lanes"]`` holds the lanes).
    strips : DataFrame
        ``strip, row0_px, row1_px`` and optionally ``antibody``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    img = read_image(image, polarity=polarity)
    s = img.signal
    lo, hi = np.percentile(s, [0.5, 99.9])
    gray = np.clip((s - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    n_rows, n_cols = s.shape
    width = 7.0
    height = max(2.5, (width - 1.3) * n_rows / n_cols + 1.3)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(
        1.0 - gray if img.inverted else gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest"
    )
    lanes = table.attrs.get("lanes")
    for st in strips.itertuples(index=False):
        ax.add_patch(
            Rectangle(
                (-0.5, st.row0_px - 0.5),
                n_cols,
                st.row1_px - st.row0_px + 1,
                fill=False,
                ec="tab:orange",
                lw=1.2,
            )
        )
        if lanes is not None:
            for ln in lanes.itertuples(index=False):
                ax.add_patch(
                    Rectangle(
                        (ln.col0_px - 0.5, st.row0_px + 1.5),
                        ln.col1_px - ln.col0_px + 1,
                        st.row1_px - st.row0_px - 3,
                        fill=False,
                        ec="tab:blue",
                        lw=0.5,
                        alpha=0.7,
                    )
                )
    for b in table.itertuples(index=False):
        colour = "red" if b.saturated else "limegreen"
        corner = (b.col0_px - 0.5, b.row0_px - 0.5)
        size = (b.col1_px - b.col0_px + 1, b.row1_px - b.row0_px + 1)
        ax.add_patch(Rectangle(corner, *size, fill=False, ec=colour, lw=0.8))
    names = strips["antibody"].tolist() if "antibody" in strips else [""] * len(strips)
    ax.set_yticks(
        [(a + b) / 2 for a, b in zip(strips["row0_px"], strips["row1_px"], strict=True)],
        [n or f"strip {k}" for n, k in zip(names, strips["strip"], strict=True)],
    )
    if lanes is not None:
        samples = table.drop_duplicates("lane").set_index("lane")["sample"]
        text = [f"{ln} {samples.get(ln, '')}".strip() for ln in lanes["lane"]]
        long = max(len(t) for t in text) > 6
        ax.set_xticks(
            lanes["center_px"].to_numpy(float),
            text,
            fontsize="small",
            rotation=30 if long else 0,
            ha="right" if long else "center",
        )
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    return fig
