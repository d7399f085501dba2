"""Command-line jobs for real lab files: qPCR exports and blot / array images.

Each job reads and analyses everything before touching the output folder, writes its tables
atomically, and refuses a folder that already holds results unless ``force``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure

from leptotwin._fileio import need_file, prepare_out_dir, write_csv, write_figure
from leptotwin.errors import LeptotwinError

if TYPE_CHECKING:
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
    background: str = "tophat",
    out_dir: Path,
    force: bool = False,
) -> dict[str, Path]:
    """Densitometry of a western blot (``--lanes``) or a membrane array (``--layout``):
    ``bands.csv`` (one row per lane) or ``spots.csv`` + ``receptors.csv``, and an annotated
    ``annotated.png``."""
    from leptotwin.analysis.densitometry import (
        quantify_array,
        quantify_bands,
        summarise_array,
        write_annotated,
    )

    need_file(image, "image")
    if (lanes is None) == (layout is None):
        raise LeptotwinError(
            "give --lanes for a blot or --layout for an array",
            source="blot",
            expected="exactly one of --lanes, --layout",
        )
    out_name = "annotated.png"
    if layout is not None:
        need_file(layout, "--layout")
        spots = quantify_array(image, layout)
        tables = {"spots": spots, "receptors": summarise_array(spots)}
        annotate_with = spots
    else:
        bands = quantify_bands(image, lanes, background=background)
        tables = {"bands": bands}
        annotate_with = bands
    out = prepare_out_dir(out_dir, force=force)
    paths = {name: write_csv(out / f"{name}.csv", t) for name, t in tables.items()}
    paths["annotated"] = write_annotated(image, annotate_with, out / out_name)
    return paths
