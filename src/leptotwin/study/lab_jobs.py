"""Command-line jobs for real lab files: qPCR exports and blot / array images.

Each job reads and analyses everything before touching the output folder, writes its tables
atomically, and refuses a folder that already holds results unless ``force``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin._fileio import need_file, prepare_out_dir, write_csv, write_figure
from leptotwin.errors import LeptotwinError

if TYPE_CHECKING:
    from leptotwin.analysis.blot_strips import BlotLayout
    from leptotwin.analysis.qpcr import RelativeExpressionFitter

__all__ = ["LabJobResult", "parse_references", "run_blot_job", "run_qpcr_job"]


@dataclass(frozen=True)
class LabJobResult:
    """What a lab job wrote (``paths`` by role) and what the user should read (``notes``, one
    line each: what was analysed and what was flagged)."""

    paths: dict[str, Path]
    notes: list[str] = field(default_factory=list)


def parse_references(values: Sequence[str]) -> str | list[str] | dict[str, list[str]]:
    """The ``--reference`` option: one reference for every target, or one per target.

    Forms (repeat ``--reference`` or separate with commas):

    * ``GAPDH`` (and ``GAPDH,ACTB``): reference gene(s) for every target (several: their mean
      Ct, the geometric mean of their quantities);
    * ``miR-449a=U6`` and ``AREG=GAPDH`` (``AREG=GAPDH+ACTB`` for several): each target with its
      own reference(s), as the study normalises the microRNA to U6 and the mRNA to GAPDH; only
      the targets named are quantified.

    Returns
    -------
    str, list of str, or dict target -> list of str
        As :class:`leptotwin.analysis.qpcr.RelativeExpressionFitter` takes ``reference``.

    Raises
    ------
    LeptotwinError
        No reference, an empty name, or both forms mixed.
    """
    src = "--reference"
    items = [part.strip() for v in values for part in str(v).split(",")]
    if not values or not any(items):
        raise LeptotwinError(
            "at least one reference gene is needed", source=src,
            expected='e.g. --reference GAPDH or --reference "AREG=GAPDH"',
        )  # fmt: skip
    paired = [i for i in items if "=" in i]
    if paired and len(paired) != len(items):
        plain = next(i for i in items if "=" not in i)
        raise LeptotwinError(
            "a plain reference mixed with TARGET=REFERENCE pairs", source=src, value=plain,
            expected='either plain names (--reference GAPDH) or a pair for every target '
            '(--reference "miR-449a=U6" --reference "AREG=GAPDH")',
        )  # fmt: skip
    if not paired:
        if "" in items:
            raise LeptotwinError("empty reference gene name", source=src, value=",".join(values))
        names = list(dict.fromkeys(items))
        return names[0] if len(names) == 1 else names
    plan: dict[str, list[str]] = {}
    for item in paired:
        target, _, refs = item.partition("=")
        names = [r.strip() for r in refs.split("+")]
        if not target.strip() or not all(names):
            raise LeptotwinError("empty gene name in a TARGET=REFERENCE pair", source=src,
                                 value=item, expected='e.g. "AREG=GAPDH"')  # fmt: skip
        if target.strip() in names:
            raise LeptotwinError("a target cannot be its own reference", source=src, value=item)
        known = plan.setdefault(target.strip(), [])
        known += [n for n in names if n not in known]
    return plan


def run_qpcr_job(
    *,
    path: Path,
    reference: Sequence[str],
    calibrator: str,
    method: str = "livak",
    efficiencies: Path | None = None,
    out_dir: Path,
    force: bool = False,
) -> LabJobResult:
    """Relative expression (ΔΔCt or Pfaffl) of every target against its reference gene(s).

    ``reference`` is the ``--reference`` option (:func:`parse_references`). Pfaffl takes the
    efficiencies from ``efficiencies`` (:func:`leptotwin.analysis.qpcr.read_efficiencies`: a
    table ``gene,efficiency`` or a dilution series with Ct and quantity columns, told apart by
    the header) or, without it, from an efficiency column of the Ct file.

    Writes ``summary.csv`` (fold changes with CIs and Welch tests), ``samples.csv``,
    ``replicates.csv``, ``fold_change.png`` and, for Pfaffl, ``efficiencies.csv`` (the
    efficiencies used; for a dilution series with slope, R² and interval).
    """
    from leptotwin.analysis.qpcr import RelativeExpressionFitter, read_qpcr

    need_file(path, "cts")
    refs = parse_references(reference)
    if method not in ("livak", "pfaffl"):
        raise LeptotwinError("unknown method", source="--method", value=method,
                             expected="livak or pfaffl")  # fmt: skip
    if efficiencies is not None and method != "pfaffl":
        raise LeptotwinError(
            "--efficiencies is used by the Pfaffl method only", source="--efficiencies",
            value=str(efficiencies),
            expected="--method pfaffl (Livak's ddCt assumes an efficiency of 1 for every gene)",
        )  # fmt: skip
    wells = read_qpcr(path)
    eff_table, eff_source = None, None
    if method == "pfaffl":
        eff_table, eff_source = _efficiencies(wells, efficiencies, path)
    fitter = RelativeExpressionFitter(
        reference=refs, calibrator=calibrator, method=method,
        efficiency=None if eff_table is None else eff_table[["target", "efficiency"]],
    )  # fmt: skip
    try:
        fitter.fit(wells)
    except LeptotwinError as exc:
        if eff_source is None or not str(exc.field or "").startswith("efficiency"):
            raise
        raise LeptotwinError(exc.message, source=eff_source, field=exc.field, value=exc.value,
                             expected=exc.expected) from None  # fmt: skip
    fig = Figure(figsize=(6, 4), layout="constrained")
    fitter.plot(ax=fig.add_subplot())
    notes = _qpcr_notes(fitter, wells, eff_table, eff_source)
    out = prepare_out_dir(out_dir, force=force)
    paths = {
        "summary": write_csv(out / "summary.csv", fitter.summary),
        "samples": write_csv(out / "samples.csv", fitter.samples_),
        "replicates": write_csv(out / "replicates.csv", fitter.replicates_),
    }
    if eff_table is not None:
        paths["efficiencies"] = write_csv(out / "efficiencies.csv", eff_table)
    paths["figure"] = write_figure(out / "fold_change.png", fig)
    return LabJobResult(paths, notes)


def _efficiencies(wells: pd.DataFrame, given: Path | None, cts: Path) -> tuple[pd.DataFrame, str]:
    """(table target, efficiency[, fit columns], where it came from) for the Pfaffl method."""
    from leptotwin.analysis.qpcr import read_efficiencies

    if given is not None:
        need_file(given, "--efficiencies")
        return read_efficiencies(given), str(given)
    from_column = wells.attrs.get("efficiency") or {}
    if not from_column:
        raise LeptotwinError(
            "the Pfaffl method needs amplification efficiencies", source="--efficiencies",
            expected="--efficiencies FILE (a table gene,efficiency or a dilution series with "
            "target, Ct and quantity columns) or an Efficiency column in the Ct file",
        )  # fmt: skip
    table = pd.DataFrame({"target": list(from_column), "efficiency": list(from_column.values())})
    return table, f"{cts} (Efficiency column)"


def _qpcr_notes(
    fitter: RelativeExpressionFitter,
    wells: pd.DataFrame,
    eff: pd.DataFrame | None,
    eff_source: str | None,
) -> list[str]:
    """One line per thing the user should know: what was compared, what was flagged."""
    plan = fitter.plan_
    pairs = ", ".join(f"{t} vs {'+'.join(r)}" for t, r in plan.items())
    notes = [f"{fitter.method}: {pairs}; calibrator {fitter.calibrator}"]
    if eff is not None:
        kind = eff.attrs.get("kind", "column")
        used = {g for t, r in plan.items() for g in (t, *r)}
        shown = eff[eff["target"].isin(used)]
        text = ", ".join(f"{t} {e:.3f}" for t, e in zip(shown["target"], shown["efficiency"],
                                                         strict=True))  # fmt: skip
        notes.append(f"efficiencies ({kind}, {eff_source}): {text}")
        if "flag" in shown:
            for row in shown[shown["flag"] != "ok"].itertuples(index=False):
                notes.append(
                    f"note: {row.target} standard curve flagged {row.flag} (efficiency "
                    f"{row.efficiency:.1%}, R² {row.r_squared:.3f})"
                )
    genes = {g for t, r in plan.items() for g in (t, *r)}
    used = wells[(wells["task"] == "UNKNOWN") & wells["target"].isin(genes)]
    n_und = int(used["flag"].isin(["undetermined", "missing"]).sum())
    if n_und:
        notes.append(
            f"note: {n_und} of {len(used)} wells undetermined or empty, left out of the "
            "technical means (flagged in replicates.csv)"
        )
    rep = fitter.replicates_
    n_sd = int(rep["flag"].str.contains("high_replicate_sd").sum())
    if n_sd:
        notes.append(f"note: {n_sd} sample/gene replicate sets with SD above 0.5 Ct "
                     "(flagged in replicates.csv)")  # fmt: skip
    return notes


def run_blot_job(
    *,
    image: Path,
    lanes: int | None = None,
    layout: Path | None = None,
    strips: int | None = None,
    loading_control: str | None = None,
    targets: Sequence[str] | None = None,
    background: str = "tophat",
    out_dir: Path,
    force: bool = False,
) -> LabJobResult:
    """Densitometry of a western blot (strips × lanes) or a membrane array.

    ``layout`` is an array layout (a ``receptor, row, col`` table: the image is a membrane
    array) or a blot layout (a ``[strips]`` table with an ``antibody`` column, optionally a
    ``[lanes]`` table; :func:`leptotwin.analysis.blot_strips.read_blot_layout`), told apart by
    the header. A blot's strips come from the layout's rows, else are detected on the image
    (:func:`leptotwin.analysis.blot_strips.detect_strips`), their number checked against
    ``strips`` or the layout; ``strips=1`` takes the whole image as one strip.

    Writes ``bands.csv`` (one row per strip and lane: volume, background, normalised to the
    loading control, phospho/total ratio) or ``spots.csv`` + ``receptors.csv``, and an
    annotated ``annotated.png``.
    """
    need_file(image, "image")
    kind = _layout_kind(need_file(layout, "--layout")) if layout is not None else "blot"
    if kind == "array":
        given = {"--lanes": lanes, "--strips": strips, "--loading-control": loading_control,
                 "--target": targets or None}  # fmt: skip
        extra = [k for k, v in given.items() if v is not None]
        if extra:
            raise LeptotwinError(
                f"{extra[0]} applies to western blots, not to a membrane array",
                source=str(layout), expected="an array layout alone, or a blot layout",
            )  # fmt: skip
        return _array_job(image, Path(str(layout)), out_dir, force)
    return _blot_job(image, lanes, layout, strips, loading_control, targets, background,
                     out_dir, force)  # fmt: skip


def _layout_kind(path: Path) -> str:
    """``"array"`` (receptor, row, col) or ``"blot"`` ([strips] or an antibody column)."""
    raw = path.read_bytes()
    if b"\x00" in raw or not raw.strip():
        what = "empty" if not raw.strip() else "binary"
        raise LeptotwinError(
            f"{what} layout file", source=str(path),
            expected="a blot layout ([strips] with an antibody column) or an array layout "
            "(receptor, row, col)",
        )  # fmt: skip
    text = raw.decode("utf-8", "replace")
    for line in text.splitlines():
        stripped = line.strip().lstrip("\ufeff")
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            return "blot"
        fields = {f.strip().strip('"').lower() for f in re.split(r"[,;\t]", stripped)}
        if {"receptor", "row", "col"} <= fields:
            return "array"
        if "antibody" in fields:
            return "blot"
        break
    raise LeptotwinError(
        "neither a blot layout nor an array layout", source=str(path),
        expected="a header with antibody (blot strips, optionally under [strips]) or with "
        "receptor, row, col (membrane array)",
    )  # fmt: skip


def _array_job(image: Path, layout: Path, out_dir: Path, force: bool) -> LabJobResult:
    from leptotwin.analysis.densitometry import quantify_array, summarise_array, write_annotated

    spots = quantify_array(image, layout)
    receptors = summarise_array(spots)
    out = prepare_out_dir(out_dir, force=force)
    paths = {
        "spots": write_csv(out / "spots.csv", spots),
        "receptors": write_csv(out / "receptors.csv", receptors),
        "annotated": write_annotated(image, spots, out / "annotated.png"),
    }
    notes = [f"membrane array: {len(spots)} spots, {len(receptors)} receptors"]
    n_sat = int(spots["saturated"].sum())
    if n_sat:
        notes.append(f"note: {n_sat} saturated spots (flagged in spots.csv)")
    return LabJobResult(paths, notes)


def _blot_job(
    image: Path,
    lanes: int | None,
    layout: Path | None,
    n_strips: int | None,
    loading_control: str | None,
    targets: Sequence[str] | None,
    background: str,
    out_dir: Path,
    force: bool,
) -> LabJobResult:
    from leptotwin.analysis.blot_strips import (
        blot_figure,
        normalise_strips,
        quantify_strips,
        read_blot_layout,
    )

    plan = read_blot_layout(layout) if layout is not None else None
    n_lanes, samples = _lanes_of(lanes, plan)
    strips, how = _strips_of(image, n_strips, plan)
    names = strips["antibody"].tolist()
    table = quantify_strips(image, n_lanes, strips, samples=samples, background=background)
    loading = _loading_control(loading_control, names, plan)
    pairs = _pairs(names, plan)
    table = normalise_strips(
        table,
        loading_control=None if loading is None else loading + 1,
        pairs={k + 1: v + 1 for k, v in pairs.items()},
    )
    if targets:
        table = _only_targets(table, targets, names, loading, pairs)
    fig = blot_figure(image, table, strips)
    notes = _blot_notes(table, strips, how, n_lanes, loading, pairs)
    out = prepare_out_dir(out_dir, force=force)
    return LabJobResult(
        {
            "bands": write_csv(out / "bands.csv", table),
            "annotated": write_figure(out / "annotated.png", fig),
        },
        notes,
    )


def _lanes_of(lanes: int | None, plan: BlotLayout | None) -> tuple[int, list[str] | None]:
    """(number of lanes, sample names or None) from --lanes and the layout's [lanes]."""
    samples = plan.lanes["sample"].tolist() if plan is not None and len(plan.lanes) else None
    if lanes is not None and (isinstance(lanes, bool) or lanes < 1):
        raise LeptotwinError("the number of lanes must be >= 1", source="--lanes", value=lanes)
    if lanes is None and samples is None:
        raise LeptotwinError(
            "the number of lanes is needed", source="--lanes",
            expected="--lanes N, or a blot layout with a [lanes] table (lane, sample)",
        )  # fmt: skip
    if lanes is not None and samples is not None and lanes != len(samples):
        raise LeptotwinError(
            f"--lanes says {lanes}, the layout names {len(samples)} lanes", source="--lanes",
            value=lanes, expected=f"{len(samples)} (or leave --lanes out)",
        )  # fmt: skip
    return (lanes if lanes is not None else len(samples or [])), samples


def _strips_of(
    image: Path, n_strips: int | None, plan: BlotLayout | None
) -> tuple[pd.DataFrame, str]:
    """(strips ``strip, antibody, row0_px, row1_px``, how they were placed)."""
    from leptotwin.analysis.blot_strips import detect_strips
    from leptotwin.analysis.densitometry import read_image

    table = plan.strips if plan is not None else None
    if n_strips is not None and (isinstance(n_strips, bool) or n_strips < 1):
        raise LeptotwinError("the number of strips must be >= 1", source="--strips",
                             value=n_strips)  # fmt: skip
    if table is not None and n_strips is not None and n_strips != len(table):
        raise LeptotwinError(
            f"--strips says {n_strips}, the layout names {len(table)} strips",
            source="--strips", value=n_strips, expected=f"{len(table)} (or leave --strips out)",
        )  # fmt: skip
    names = table["antibody"].tolist() if table is not None else None
    if table is not None and table["row0_px"].notna().all():
        found = table[["strip", "row0_px", "row1_px"]].astype(int)
        how = "rows from the layout"
    elif (n_strips or (len(table) if table is not None else None)) == 1:
        n_rows = read_image(image).shape[0]
        found = pd.DataFrame({"strip": [1], "row0_px": [0], "row1_px": [n_rows - 1]})
        how = "the whole image"
    else:
        expected = n_strips if n_strips is not None else (len(names) if names else None)
        found = detect_strips(image, n_strips=expected)
        how = "detected from the row profile"
    found = found[["strip", "row0_px", "row1_px"]].copy()
    found["antibody"] = names if names is not None else [""] * len(found)
    return found, how


def _loading_control(choice: str | None, names: list[str], plan: BlotLayout | None) -> int | None:
    """0-based strip of the loading control: --loading-control, the layout's role, a usual
    name (:data:`leptotwin.analysis.blot_strips.LOADING_CONTROLS`), or None."""
    from leptotwin.analysis.blot_strips import LOADING_CONTROLS, pick_strip

    if choice is not None:
        return pick_strip(choice, names, "--loading-control")
    table = plan.strips if plan is not None else None
    if table is not None and (table["role"] == "loading control").any():
        return int(np.argmax((table["role"] == "loading control").to_numpy()))
    for usual in LOADING_CONTROLS:
        try:
            return pick_strip(usual, names, "--loading-control")
        except LeptotwinError:
            continue
    return None


def _pairs(names: list[str], plan: BlotLayout | None) -> dict[int, int]:
    """0-based phospho strip -> 0-based total strip: the layout's ``total`` column, else by
    name."""
    from leptotwin.analysis.blot_strips import phospho_total_pairs, pick_strip

    pairs = phospho_total_pairs(names)
    if plan is not None:
        for k, total in enumerate(plan.strips["total"]):
            if total:
                pairs[k] = pick_strip(total, names, "layout total")
    return pairs


def _only_targets(
    table: pd.DataFrame,
    targets: Sequence[str],
    names: list[str],
    loading: int | None,
    pairs: dict[int, int],
) -> pd.DataFrame:
    """Rows of the named target strips, their total-protein partners and the loading
    control."""
    from leptotwin.analysis.blot_strips import pick_strip

    keep = {pick_strip(t, names, "--target") for t in targets}
    keep |= {pairs[k] for k in keep if k in pairs}
    if loading is not None:
        keep.add(loading)
    return table[table["strip"].isin({k + 1 for k in keep})].reset_index(drop=True)


def _blot_notes(
    table: pd.DataFrame,
    strips: pd.DataFrame,
    how: str,
    n_lanes: int,
    loading: int | None,
    pairs: dict[int, int],
) -> list[str]:
    def label(k: int) -> str:
        name = strips["antibody"].iloc[k]
        return f"{name} (strip {k + 1})" if name else f"strip {k + 1}"

    rows = ", ".join(f"{label(k)} rows {a}-{b}" for k, (a, b) in
                     enumerate(zip(strips["row0_px"], strips["row1_px"], strict=True)))  # fmt: skip
    plural = lambda n, word: f"{n} {word}" + ("" if n == 1 else "s")  # noqa: E731
    notes = [f"{plural(len(strips), 'strip')} ({how}) x {plural(n_lanes, 'lane')}: {rows}"]
    if loading is not None:
        notes.append(f"loading control: {label(loading)}")
    elif len(strips) > 1:
        notes.append(
            "note: no loading control, normalised_to_loading is empty (name one with "
            "--loading-control NAME or strip number, or a layout role)"
        )
    if pairs:
        text = ", ".join(f"{label(p)} / {label(t)}" for p, t in sorted(pairs.items()))
        notes.append(f"phospho/total: {text}")
    missed = table[~table["detected"]]
    if len(missed):
        where = ", ".join(f"strip {s} lane {ln}" for s, ln in
                          zip(missed["strip"], missed["lane"], strict=True))  # fmt: skip
        notes.append(
            f"note: no band found in {len(missed)} of {len(table)} strip/lane boxes ({where}); "
            "measured at the strip's median band position (detected = False)"
        )
    n_sat = int(table["saturated"].sum())
    if n_sat:
        notes.append(f"note: {n_sat} saturated bands (volumes underestimated; flagged)")
    return notes
