"""Emulate SynergyFinder's ZIP (CalculateZIP / FitDoseResponse) on
mathews_screening_data with an emulation of R drc's drm() fitting path.

Research tool (issue 7): result 11.80 / 11.64 against the published 19.57 / -2.98. It follows
SynergyFinder 2.x's documented slices (positive doses, top fixed at 100). SynergyFinder 3.7.x
fits each slice over the whole series with c fixed to the observed zero-dose cell and the top
free; that definition, on this drc path (LL.4 on raw doses, warnings not caught, L.4 only where
drm fails), gives 19.571 / -2.980 here (numpy's QR in the self-starter) and is implemented in
leptotwin.analysis._synergy_core.zip_delta_synergyfinder (issue 15).

Usage: python scripts/synergyfinder_zip_drc_path.py [--variant NAME]
"""

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from drc_path import LLogistic, Logistic, RError, RWarning, drm

DATA = str(
    Path(__file__).resolve().parents[2]
    / "shared"
    / "reference-data"
    / "synergy"
    / "mathews_screening_data.csv"
)
TARGET = {1: 19.57, 2: -2.98}


class Failed:
    """Stand-in for drm's list(convergence = FALSE)."""

    path = "failed"


def fit_dose_response(dose, resp, emin=None, emax=None, opts=None):
    """SynergyFinder FitDoseResponse: LL.4 inside tryCatch(warning=, error=),
    fallback L.4 on log(dose)."""
    opts = opts or {}
    dose = [1e-10 if d == 0 else float(d) for d in dose]
    resp = [float(r) for r in resp]
    if len(resp) != 1 and np.var(resp) == 0:
        resp[-1] += 1e-10
    fixed = [None, emin, emax, None]
    try:
        fit = drm(
            dose,
            resp,
            LLogistic(fixed),
            strict=opts.get("strict", True),
            strict_median=opts.get("strict_median"),
        )
        fit.path = "LL.4"
        fit.why = ""
        return fit
    except (RWarning, RError) as cond:
        why = str(cond)
    # handler: L.4 on log(dose); not protected -> warnings are harmless,
    # optim errors give list(convergence = FALSE)
    try:
        fit = drm([math.log(d) for d in dose], resp, Logistic(fixed), strict=False)
    except RWarning as w:
        f = Failed()
        f.why = why + " | L.4: " + str(w)
        return f
    fit.path = "L.4"
    fit.why = why
    return fit


def zip_block(mat, rconc, cconc, opts=None, verbose=True):
    """mat: inhibition matrix, rows = drug_row conc (rconc[0] = 0),
    cols = drug_col conc (cconc[0] = 0)."""
    opts = opts or {}
    nr, nc = mat.shape
    row_fit = fit_dose_response(rconc, mat[:, 0], opts=opts)
    col_fit = fit_dose_response(cconc, mat[0, :], opts=opts)
    if isinstance(row_fit, Failed) or isinstance(col_fit, Failed):
        raise SystemExit("monotherapy fit failed")
    rf = np.array(row_fit.fitted)
    cf = np.array(col_fit.fitted)
    include0 = opts.get("include0", False)
    slice_paths = {"LL.4": 0, "L.4": 0, "failed": 0}
    slice_info = []

    def slice_fit(doses, resp, emin):
        if len(doses) == 1:
            return np.array(resp) - 1e-10, "single"
        fit = fit_dose_response(doses, resp, emin=emin, emax=100.0, opts=opts)
        slice_paths[fit.path] += 1
        if isinstance(fit, Failed):
            return np.array(resp, float), "failed"
        return np.array(fit.fitted), fit.path

    # columns: vary drug_row at a fixed positive drug_col concentration
    upd_col = np.zeros((nr - 1, nc - 1))
    for j in range(1, nc):
        if include0:
            y, p = slice_fit(list(rconc), list(mat[:, j]), float(cf[j]))
            upd_col[:, j - 1] = y[1:]
        else:
            y, p = slice_fit(list(rconc[1:]), list(mat[1:, j]), float(cf[j]))
            upd_col[:, j - 1] = y
        slice_info.append(("col", cconc[j], p))
    upd_row = np.zeros((nr - 1, nc - 1))
    for i in range(1, nr):
        if include0:
            y, p = slice_fit(list(cconc), list(mat[i, :]), float(rf[i]))
            upd_row[i - 1, :] = y[1:]
        else:
            y, p = slice_fit(list(cconc[1:]), list(mat[i, 1:]), float(rf[i]))
            upd_row[i - 1, :] = y
        slice_info.append(("row", rconc[i], p))
    fitted = (upd_col + upd_row) / 2
    bliss = rf[1:, None] + cf[None, 1:] - rf[1:, None] * cf[None, 1:] / 100
    delta = fitted - bliss
    return dict(
        row_fit=row_fit,
        col_fit=col_fit,
        delta=delta,
        mean=float(delta.mean()),
        slice_info=slice_info,
        slice_paths=slice_paths,
    )


def describe_fit(label, fit):
    if isinstance(fit, Failed):
        return f"{label}: FAILED ({fit.why})"
    b, c, d, e, _ = fit.full
    s = (
        f"{label}: path={fit.path} b={b:.6g} c={c:.6g} d={d:.6g} e={e:.6g}"
        f" rss={fit.value:.6g} iters={fit.iters}"
    )
    if fit.path == "L.4":
        s += f" (e on log scale; exp(e)={math.exp(e):.6g})"
        s += f"\n      LL.4 abandoned because: {fit.why}"
    return s


def load_blocks():
    d = pd.read_csv(DATA)
    d["inh"] = 100 - d["response"]
    blocks = {}
    for b, g in d.groupby("block_id"):
        p = g.pivot(index="conc_r", columns="conc_c", values="inh")
        p = p.sort_index().sort_index(axis=1)
        blocks[b] = (
            p.values,
            list(p.index),
            list(p.columns),
            g.drug_row.iloc[0],
            g.drug_col.iloc[0],
        )
    return blocks


def main(argv):
    variants = {
        "synergyfinder (positive doses in slices)": {},
        "slices include the dose-0 cell": {"include0": True},
        "no tryCatch on warnings (only errors fall back)": {"strict": False},
        "no tryCatch on warnings + dose-0 in slices": {"strict": False, "include0": True},
        "only the log10(median) warning is caught": {"strict": False, "strict_median": True},
        "only the log10(median) warning is caught + dose-0 in slices": {
            "strict": False,
            "strict_median": True,
            "include0": True,
        },
    }
    blocks = load_blocks()
    for vname, opts in variants.items():
        print("=" * 78)
        print("VARIANT:", vname)
        for b, (mat, rc, cc, dr, dc) in blocks.items():
            res = zip_block(mat, rc, cc, opts)
            print(f"-- block {b}: {dr} (row) x {dc} (col)")
            print("  " + describe_fit(f"row drug {dr}", res["row_fit"]))
            print("  " + describe_fit(f"col drug {dc}", res["col_fit"]))
            print("  slice paths:", res["slice_paths"])
            if vname.startswith("synergyfinder"):
                for kind, conc, p in res["slice_info"]:
                    print(f"     {kind} slice at {(kind == 'col' and dc) or dr} = {conc:g}: {p}")
                print(f"  delta scores (rows = {dr} conc, cols = {dc} conc):")
                df = pd.DataFrame(res["delta"], index=rc[1:], columns=cc[1:])
                print(df.round(3).to_string())
            print(f"  ZIP mean delta = {res['mean']:.4f}   (SynergyFinder: {TARGET[b]})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
