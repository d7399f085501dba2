"""How noisy is each finding when the twin measures it through its whole chain?

The calibration scores a finding against a noise-free readout (calibration/readouts.py) with a
stated measurement error. The claims are judged on what the virtual instruments write and the
analysis reads back, which adds plate, blot, qPCR, ELISA and BLI noise, between-mouse
variability and curve fitting. This script runs the claim sections at the installed posterior
median with ``--repeats`` independent seeds, reads each finding's number from the claims'
``measured`` text, and compares it with the noise-free readout at the same parameters:

    readout, noise_free, n, mean_measured_log, sd_measured_log, bias_log

(log: natural log for ratios, folds and IC50s; the inhibition fractions and AREG-high fraction
are on the linear scale). ``sd`` is the full-chain measurement error of one repeat of the study's
experiment; ``bias`` is the mean measured minus the noise-free value on the same scale.

``--update-targets`` writes each measured readout's ``chain: {offset, sd}`` into
``calibration/targets.yaml`` (every target on that readout; comments and order kept), which the
likelihood then uses (targets.Target: measurement ``f(twin) + offset + ε``, SD the larger of the
stated error and the chain's). Rerun after a recalibration moves the posterior median.

Usage (about 2 s per repeat on 2 cores)::

    .venv/bin/python scripts/chain_noise.py --repeats 60 --out chain_noise.csv --update-targets
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

SECTIONS = ("viability", "in_vivo_relapse", "in_vivo_combination")
NUM = r"(-?[0-9.]+(?:e[-+]?[0-9]+)?)"


def _find(pattern: str) -> Callable[[str], float]:
    rx = re.compile(pattern)

    def get(text: str) -> float:
        m = rx.search(text)
        return float(m.group(1)) if m else math.nan

    return get


def _percent(pattern: str) -> Callable[[str], float]:
    get = _find(pattern)
    return lambda text: get(text) / 100.0


# readout -> (claim, parser of that claim's measured text, scale)
PARSERS: dict[str, tuple[str, Callable[[str], float], str]] = {
    "C1.alectinib_ic50": ("C1", _find(rf"alectinib IC50 {NUM} nM"), "log"),
    "C1.erlotinib_inhibition": ("C1", _percent(rf"alone {NUM} % inhibition"), "linear"),
    **{
        f"C3.{d}_fold": ("C3", _find(rf"{d} {NUM}x"), "log")
        for d in ("alectinib", "crizotinib", "ceritinib", "lorlatinib")
    },
    "C4.pegfr_fold": ("C4", _find(rf"\(blot\) AR/parental {NUM}x"), "log"),
    "C4.mir449a_fold": ("C4", _find(rf"miR-449a {NUM}x"), "log"),
    "C4.areg_secretion_fold": ("C4", _find(rf"\(ELISA\) AR/parental {NUM}x"), "log"),
    "C4.siareg_ic50_ratio": ("C4", _find(rf"siAREG IC50 {NUM}x"), "log"),
    "C4.siegfr_ic50_ratio": ("C4", _find(rf"siEGFR IC50 {NUM}x"), "log"),
    "C5.mimic_areg_fold": ("C5", _find(rf"lowers secreted AREG {NUM}x"), "log"),
    "C5.mimic_ic50_ratio": ("C5", _find(rf"mimic IC50 {NUM}x"), "log"),
    **{
        f"C6.{d}_ic50_ratio": ("C6", _find(rf"\+{d}: IC50 {NUM}x"), "log")
        for d in ("erlotinib", "osimertinib", "cetuximab")
    },
    **{
        f"C6.{d}_inhibition": ("C6", _percent(rf"\+{d}: IC50 [^;]*?alone {NUM} % inh"), "linear")
        for d in ("erlotinib", "osimertinib", "cetuximab")
    },
    "C2.nadir_fold": ("C2", _find(rf"median fall {NUM}x"), "log"),
    "C2.relapse_day": ("C2", _find(rf"median time to relapse {NUM} d"), "log"),
    "C2.relapse_areg_high_fraction": ("C2", _percent(rf"relapsed tumours {NUM} %"), "linear"),
    **{
        f"C7.week4_fold_{key}": ("C7", _find(rf"(?:: |, ){re.escape(arm)} {NUM}x"), "log")
        for key, arm in (
            ("vehicle", "vehicle"),
            ("alectinib", "alectinib"),
            ("erlotinib", "erlotinib"),
            ("osimertinib", "osimertinib"),
            ("alectinib_erlotinib", "alectinib + erlotinib"),
            ("alectinib_osimertinib", "alectinib + osimertinib"),
        )
    },
}


# readouts the chain reports as a bound when the assay cannot read them (the mimic's AREG below
# the ELISA's LLOQ): their offset is the censoring at these parameters, not a bias that holds
# across the posterior, so no chain entry is written for them
CENSORED = {"C5.mimic_areg_fold"}


def _one(args: tuple[int, dict[str, float]]) -> dict[str, str]:
    from leptotwin.study.ensemble import _evaluate_draw

    seed, values = args
    rows = _evaluate_draw(seed, values, seed, SECTIONS)
    return {str(r["id"]): str(r["measured"]) for r in rows}


def update_targets(path: Path, table: pd.DataFrame) -> int:
    """Insert or replace ``chain: {offset, sd}`` after the ``error:`` line of every target whose
    readout was measured; returns the number of targets updated."""
    by_readout = {
        r.readout: (r.bias, r.sd_measured)
        for r in table.itertuples()
        if r.n >= 10
        and math.isfinite(r.bias)
        and math.isfinite(r.sd_measured)
        and r.readout not in CENSORED
    }
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    current = None
    n = 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("- name:"):
            current = None
        if stripped.startswith("readout:"):
            current = stripped.split(":", 1)[1].strip()
        if stripped.startswith("chain:") and current in by_readout:
            continue  # replaced below
        out.append(line)
        if stripped.startswith("error:") and current in by_readout:
            bias, sd = by_readout[current]
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}chain: {{offset: {bias:.3f}, sd: {max(sd, 1e-3):.3f}}}")
            n += 1
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
    tmp.replace(path)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--update-targets", action="store_true")
    args = ap.parse_args()

    from leptotwin.calibration.readouts import evaluate_readouts
    from leptotwin.catalog.loader import load_catalog
    from leptotwin.catalog.posterior import posterior_median_values

    # the operating point: every calibrated value at its posterior median (load_catalog() alone
    # is the hand-set catalogue; until session 8 this script measured there by mistake)
    median = posterior_median_values(load_catalog())
    noise_free = evaluate_readouts(load_catalog().with_values(median), list(PARSERS))
    seeds = [int(s) for s in np.random.SeedSequence(args.seed).generate_state(args.repeats)]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        texts = list(pool.map(_one, [(s, median) for s in seeds]))
    rows = []
    for name, (claim, parse, scale) in PARSERS.items():
        vals = np.array([parse(t.get(claim, "")) for t in texts], dtype=float)
        f = np.log if scale == "log" else (lambda x: x)
        with np.errstate(divide="ignore", invalid="ignore"):
            fv = f(vals)
            f0 = float(f(noise_free[name]))
        ok = np.isfinite(fv)
        rows.append(
            {
                "readout": name,
                "scale": scale,
                "noise_free": noise_free[name],
                "n": int(ok.sum()),
                "mean_measured": float(np.mean(fv[ok])) if ok.any() else math.nan,
                "sd_measured": float(np.std(fv[ok], ddof=1)) if ok.sum() > 1 else math.nan,
                "bias": float(np.mean(fv[ok]) - f0) if ok.any() else math.nan,
            }
        )
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    table.to_csv(tmp, index=False, float_format="%.4g")
    tmp.replace(args.out)
    with pd.option_context("display.width", 160, "display.max_rows", 100):
        print(table)
    if args.update_targets:
        import leptotwin.calibration as pkg

        path = Path(pkg.__file__).with_name("targets.yaml")
        print(f"{update_targets(path, table)} targets updated in {path}")


if __name__ == "__main__":
    main()
