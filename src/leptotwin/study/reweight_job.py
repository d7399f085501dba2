"""The calibration's importance stage as a job: reweight a finished calibration's draws by the
cohort targets (:mod:`leptotwin.calibration.reweight`) and write a complete calibration folder.

``leptotwin calibrate-study`` runs it after sampling; ``leptotwin calibrate-study --reweight-only``
runs it alone on a finished calibration (the installed one by default, ``--from DIR`` for a
folder that ``calibrate-study`` wrote), so a posterior sampled against earlier targets is brought
to today's targets without resampling. Reads from the source folder ``posterior_draws.csv``,
``calibration_targets.csv`` (what the sampler scored), ``posterior.yaml`` and
``calibration_diagnostics.csv``; writes into ``--out``:

``posterior_draws.csv``
    the draws with ``log_weight`` and ``weight`` (normalised) columns;
``importance_weights.csv``
    per draw: the sampler's log-likelihood, today's kept and cohort parts, the log weight, the
    weight and each cohort readout (replicate mean);
``calibration_targets.csv``
    the sampler's rows unchanged, plus one row per cohort target (weighted model quantiles,
    ``p_met`` = weighted fraction of draws whose replicate-mean readout meets it);
``posterior.yaml``
    the weighted median and 95 % interval per value, the provenance with an
    ``importance_stage`` entry (settings, effective sample size, cohort targets);
``calibration_diagnostics.csv``
    the sampler's diagnostics (R-hat, ESS, tau) with the posterior median, 95 % interval and
    shrinkage recomputed under the weights.

``install`` copies the four catalogue files into the packaged catalogue folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from leptotwin.catalog.posterior import weighted_quantile
from leptotwin.errors import LeptotwinError

__all__ = ["ReweightOutcome", "reweight_calibration", "weighted_diagnostics"]

_FILES = (
    "posterior_draws.csv",
    "calibration_targets.csv",
    "posterior.yaml",
    "calibration_diagnostics.csv",
)


@dataclass
class ReweightOutcome:
    """What :func:`reweight_calibration` returns."""

    result: Any  # ReweightResult
    paths: dict[str, Path]
    installed: bool
    cohort_rows: pd.DataFrame | None = None

    def summary_lines(self) -> list[str]:
        r = self.result
        lines = [r.summary()]
        t = r.table
        w = t["weight"].to_numpy(float)
        rows = self.cohort_rows
        for row in rows.itertuples() if rows is not None else ():
            lines.append(
                f"  {row.name}: weighted share of draws meeting it {row.p_met:.2f} "
                f"(model median {row.model_median:.3g}, 95 % {row.model_low:.3g}–"
                f"{row.model_high:.3g})"
            )
        lines.append(
            f"  largest weight {w.max():.3g}; draws with weight > 1/(10 n): "
            f"{int((w > 0.1 / len(w)).sum())} of {len(w)}"
        )
        lines.append(f"wrote {len(self.paths)} files")
        if self.installed:
            lines.append("installed the reweighted posterior into the catalogue")
        return lines


def weighted_diagnostics(diagnostics: pd.DataFrame, draws: pd.DataFrame) -> pd.DataFrame:
    """The sampler's diagnostics table with ``posterior_median/low/high`` and ``shrinkage``
    recomputed from ``draws`` under its ``weight`` column (R-hat, ESS and tau stay the
    sampler's: they describe the chains the draws came from)."""
    from leptotwin.calibration.calibrate import _shrinkage, parameter_specs
    from leptotwin.catalog.loader import _default_catalog

    out = diagnostics.copy()
    w = draws["weight"].to_numpy(float)
    cat = _default_catalog()
    for i, path in enumerate(out["parameter"]):
        if path not in draws.columns:
            continue
        x = draws[path].to_numpy(float)
        lo, mid, hi = (weighted_quantile(x, w, q) for q in (0.025, 0.5, 0.975))
        out.loc[i, ["posterior_median", "posterior_low", "posterior_high"]] = [mid, lo, hi]
        if "shrinkage" in out.columns:
            (spec,) = parameter_specs(cat, [path])
            out.loc[i, "shrinkage"] = _shrinkage(spec, lo, hi)
    return out


def _cohort_rows(result: Any, targets: list[Any]) -> pd.DataFrame:
    t = result.table
    w = t["weight"].to_numpy(float)
    rows = []
    for tg in targets:
        x = t[tg.readout].to_numpy(float)
        met = np.array([tg.z(v) == 0.0 if tg.kind == "interval" else abs(tg.z(v)) <= 2 for v in x])
        ok = ~np.isnan(x)
        rows.append(
            {
                "name": tg.name,
                "readout": tg.readout,
                "role": "cohort",
                "label": "calibration target (cohort of mice, importance stage)",
                "kind": tg.kind,
                "value": tg.value,
                "low": tg.low if tg.low is not None else math.nan,
                "high": tg.high if tg.high is not None else math.nan,
                "unit": tg.unit,
                "error_scale": tg.scale,
                "error_sd": tg.sd_effective,
                "chain_offset": tg.chain_offset,
                "source": tg.source,
                "model_median": weighted_quantile(x, w, 0.5),
                "model_low": weighted_quantile(x, w, 0.025),
                "model_high": weighted_quantile(x, w, 0.975),
                "p_met": float(np.sum(w[ok] * met[ok]) / max(np.sum(w[ok]), 1e-300)),
                "n_evaluated": int(ok.sum()),
            }
        )
    return pd.DataFrame(rows)


def reweight_calibration(
    *,
    out_dir: str | os.PathLike[str],
    source_dir: str | os.PathLike[str] | None = None,
    replicates: int = 2,
    jobs: int = 2,
    seed: int = 2020,
    install: bool = False,
    force: bool = False,
    targets: list[Any] | None = None,
    unfitted: str = "prior",
    progress: Callable[[str], None] | None = None,
    out_ready: bool = False,
) -> ReweightOutcome:
    """Run the importance stage on the calibration in ``source_dir`` (the packaged catalogue
    folder by default) and write the reweighted calibration into ``out_dir`` (module docstring).
    ``unfitted``: see :func:`~leptotwin.calibration.reweight.reweight_draws` (``prior``: the
    written draws carry every uncertain value).

    Raises
    ------
    LeptotwinError
        A source folder without one of the four files, an output folder that holds results
        (unless ``force``), bad ``replicates`` or ``jobs``, or what
        :func:`~leptotwin.calibration.reweight.reweight_draws` refuses.
    """
    from leptotwin._fileio import prepare_out_dir, write_csv, write_text
    from leptotwin.calibration.reweight import reweight_draws
    from leptotwin.calibration.targets import load_targets, targets_from_table
    from leptotwin.catalog.loader import _data_dir, _default_catalog, read_posterior

    src = Path(source_dir) if source_dir is not None else _data_dir()
    for name in _FILES:
        if not (src / name).is_file():
            raise LeptotwinError(
                "calibration file not found",
                source=str(src / name),
                expected="a folder written by `leptotwin calibrate-study`",
            )
    for value, option, low in ((replicates, "--replicates", 1), (jobs, "--jobs", 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise LeptotwinError(
                "not an integer in range", source=option, value=value, expected=f"≥ {low}"
            )
    out = Path(out_dir) if out_ready else prepare_out_dir(out_dir, force=force)
    draws = pd.read_csv(src / "posterior_draws.csv")
    # the sampler's values only: an earlier importance stage may have added every other
    # uncertain value (drawn from its prior) to the draws
    sampled = pd.read_csv(src / "calibration_diagnostics.csv")["parameter"].tolist()
    keep = [c for c in draws.columns if c in sampled or c == "log_posterior"]
    draws = draws[keep]
    table = pd.read_csv(src / "calibration_targets.csv")
    sampler_rows = table[table["role"] != "cohort"]
    sampler_targets = targets_from_table(src / "calibration_targets.csv")
    sampler_targets = [t for t in sampler_targets if t.role != "cohort"]
    today = list(load_targets() if targets is None else targets)
    cohort = [t for t in today if t.role == "cohort"]
    step = {"last": -1}

    def report(done: int, total: int) -> None:
        if progress is not None and (done == total or done - step["last"] >= max(1, total // 20)):
            step["last"] = done
            progress(f"importance stage: {done}/{total} draws")

    result = reweight_draws(
        draws,
        sampler_targets=sampler_targets,
        targets=today,
        replicates=replicates,
        seed=seed,
        n_jobs=jobs,
        unfitted=unfitted,
        progress=report,
    )
    weighted = result.draws
    if "log_posterior" in draws.columns:
        weighted.insert(len(weighted.columns) - 2, "log_posterior", draws["log_posterior"].values)
    doc = yaml.safe_load((src / "posterior.yaml").read_text(encoding="utf-8"))
    w = weighted["weight"].to_numpy(float)
    for path, entry in (doc.get("parameters") or {}).items():
        if path in weighted.columns:
            x = weighted[path].to_numpy(float)
            entry["median"] = weighted_quantile(x, w, 0.5)
            entry["low"] = weighted_quantile(x, w, 0.025)
            entry["high"] = weighted_quantile(x, w, 0.975)
    s = result.settings
    doc.setdefault("provenance", {})["importance_stage"] = {
        "method": "importance weights w ∝ L(today's targets, cohort targets in place of the "
        "typical-mouse targets they replace) / L(the sampler's targets); cohort likelihoods "
        "averaged over replicate cohorts (calibration/reweight.py)",
        "replicates": s["replicates"],
        "mice_per_arm": s["n_per_arm"],
        "seed": s["seed"],
        "n_draws": s["n_draws"],
        "effective_sample_size": round(result.ess, 1),
        "replaced": s["replaced"],
        "cohort_targets": s["cohort_targets"],
        "seconds": round(s["seconds"], 1),
        "unfitted": s["unfitted"],
    }
    header = (
        "# Posterior summary of the joint calibration (leptotwin calibrate-study), importance-"
        "weighted by the cohort targets.\n"
        "# median and central 95 % credible interval per calibrated value, in its catalogue "
        "unit.\n"
    )
    yaml_text = header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    cohort_rows = _cohort_rows(result, cohort)
    targets_out = pd.concat([sampler_rows, cohort_rows], ignore_index=True)
    diagnostics = weighted_diagnostics(pd.read_csv(src / "calibration_diagnostics.csv"), weighted)
    frames = {
        "posterior_draws.csv": weighted,
        "calibration_targets.csv": targets_out,
        "calibration_diagnostics.csv": diagnostics,
    }
    paths = {name: write_csv(out / name, f) for name, f in frames.items()}
    paths["importance_weights.csv"] = write_csv(out / "importance_weights.csv", result.table)
    paths["posterior.yaml"] = write_text(out / "posterior.yaml", yaml_text)
    read_posterior(paths["posterior.yaml"], _default_catalog())  # check before installing
    if install:
        data = _data_dir()
        for name, f in frames.items():
            paths["installed_" + name] = write_csv(data / name, f)
        paths["installed_posterior.yaml"] = write_text(data / "posterior.yaml", yaml_text)
        _default_catalog.cache_clear()
    return ReweightOutcome(result=result, paths=paths, installed=install, cohort_rows=cohort_rows)
