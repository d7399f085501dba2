"""Which uncertain values that the calibration does not fit still move what it fits against?

``reproduce --ensemble N`` draws the calibrated values from the posterior and every other uncertain
value from its prior. If one of those others moves a readout that a *used* target speaks about,
the ensemble leaves the posterior's region for that target and a claim can fail for a reason the
calibration never saw. This script draws ``--draws`` parameter sets exactly as the ensemble does,
evaluates the used targets' noise-free readouts (calibration/readouts.py) on each, and prints

* per used target, the fraction of draws that meet it (the calibration's own draws meet most of
  them; a low fraction here means an unfitted value moves it), and
* every unfitted value whose Spearman correlation with a used readout is at least ``--rho``.

Usage (about 6 s per 200 draws)::

    .venv/bin/python scripts/unfitted_drivers.py --draws 200 [--rho 0.3] [--out table.csv]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--rho", type=float, default=0.3)
    ap.add_argument("--out", type=Path, default=None, help="CSV of value, readout, rho")
    args = ap.parse_args()

    from leptotwin.calibration.calibrate import DEFAULT_PARAMETERS
    from leptotwin.calibration.readouts import evaluate_readouts
    from leptotwin.calibration.targets import load_targets
    from leptotwin.catalog.loader import load_catalog
    from leptotwin.catalog.posterior import draw_parameters

    base = load_catalog()
    used = [t for t in load_targets() if t.role == "used"]
    names = sorted({t.readout for t in used})
    # the ensemble's own stream (study/ensemble.run_claims_ensemble), so the draws are its draws
    rng = np.random.default_rng(np.random.SeedSequence(entropy=args.seed, spawn_key=(0xD8A3,)))
    params = draw_parameters(args.draws, rng=rng, catalog=base, source="posterior")
    values = pd.DataFrame(
        [
            evaluate_readouts(base.with_values({k: float(v) for k, v in row.items()}), names)
            for row in params.to_dict(orient="records")
        ]
    )

    print(f"fraction of {args.draws} ensemble draws meeting each used target (lowest first):")
    met = []
    for t in used:
        z = np.array([t.z(float(x)) for x in values[t.readout]])
        ok = z == 0.0 if t.kind == "interval" else np.abs(z) <= 2.0
        met.append((float(np.mean(ok)), t.name))
    for frac, name in sorted(met)[:15]:
        print(f"  {frac:.2f}  {name}")

    fitted = set(DEFAULT_PARAMETERS)
    rows = []
    for readout in names:
        y = values[readout].replace([np.inf, -np.inf], np.nan).to_numpy(float)
        ok = np.isfinite(y)
        if ok.sum() < 20 or np.nanstd(y) == 0:
            continue
        for col in params.columns:
            x = params[col].to_numpy(float)
            if col in fitted or np.std(x) == 0:
                continue
            rho = float(spearmanr(x[ok], y[ok]).statistic)
            if math.isfinite(rho) and abs(rho) >= args.rho:
                rows.append({"value": col, "readout": readout, "rho": round(rho, 3)})
    table = pd.DataFrame(rows, columns=["value", "readout", "rho"])
    n_values = table["value"].nunique()
    print(f"\nunfitted values with |rho| >= {args.rho} on a used readout ({n_values}):")
    for value, group in table.groupby("value", sort=False):
        pairs = ", ".join(f"{r.readout} {r.rho:+.2f}" for r in group.itertuples())
        print(f"  {value}: {pairs}")
    if args.out is not None:
        tmp = args.out.with_suffix(".tmp")
        table.to_csv(tmp, index=False)
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
