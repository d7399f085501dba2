"""The lab-data commands on virtual instrument files and shared reference files: output written,
bad input as one line and exit status 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from refdata import DATA

SHARED = DATA


def test_qpcr_command(run_cli, tmp_path):
    from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr

    rng = np.random.default_rng(0)
    levels = {"P": {"AREG": 1.0, "GAPDH": 1.0}, "AR": {"AREG": 4.0, "GAPDH": 1.0}}
    wells = simulate_qpcr(make_qpcr_samples(levels, rng=rng), rng=rng)
    path = write_qpcr(wells, tmp_path / "cts.csv")
    code, _, err = run_cli(
        "qpcr",
        str(path),
        "--reference",
        "GAPDH",
        "--calibrator",
        "P",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "o" / "summary.csv")
    fold = summary[(summary["group"] == "AR") & (summary["target"] == "AREG")]["fold_change"]
    assert float(fold.iloc[0]) == pytest.approx(4.0, rel=0.3)
    code, _, err = run_cli(
        "qpcr",
        str(path),
        "--reference",
        "GAPDH",
        "--calibrator",
        "nope",
        "--out",
        str(tmp_path / "o2"),
    )
    assert code == 2 and err.startswith("leptotwin: error:") and not (tmp_path / "o2").exists()


STUDY_TRUTH = {
    "A925LPE3": {"miR-449a": 1.0, "U6": 1.0, "AREG": 1.0, "GAPDH": 1.0},
    "A925L/AR": {"miR-449a": 0.2, "U6": 1.0, "AREG": 4.2, "GAPDH": 1.0},
}
STUDY_REFS = ["--reference", "miR-449a=U6", "--reference", "AREG=GAPDH"]


def _study_run(folder, *, noise=False, targets=None, seed=0, flavor="quantstudio"):
    """The study's qPCR design on the virtual cycler: miR-449a 0.2 and AREG 4.2 in A925L/AR vs
    A925LPE3 (calibrator), references U6 and GAPDH."""
    from leptotwin.assays.qpcr import make_qpcr_samples, simulate_qpcr, write_qpcr

    rng = np.random.default_rng(seed)
    samples = make_qpcr_samples(STUDY_TRUTH, rng=rng, bio_sd_log2=None if noise else 0.0)
    wells = simulate_qpcr(samples, rng=rng, noise=noise, targets=targets)
    return write_qpcr(wells, folder / f"cts_{seed}.csv", flavor=flavor)


def _dilution_series(folder, *, noise=False, seed=1):
    from leptotwin.assays.qpcr import simulate_qpcr, write_qpcr

    q = 4.0 ** -np.arange(6)
    std = pd.concat(
        [pd.DataFrame({"sample": [f"{t}-std{i}" for i in range(6)], "target": t,
                       "relative_level": q, "quantity": q * 50})
         for t in ("miR-449a", "U6", "AREG", "GAPDH")]
    )  # fmt: skip
    wells = simulate_qpcr(std, rng=np.random.default_rng(seed), noise=noise, ntc=False)
    return write_qpcr(wells, folder / f"std_{seed}.csv")


def _fold(folder, target, group="A925L/AR"):
    s = pd.read_csv(folder / "summary.csv")
    return s[(s["target"] == target) & (s["group"] == group)].iloc[0]


def test_qpcr_livak_with_a_reference_per_target(run_cli, tmp_path):
    """Cycler efficiencies of 1 (E = 2): Livak's ΔΔCt recovers the truth exactly (Ct rounded to
    3 decimals: < 0.1 %), each target against its own reference."""
    exact = {g: {"efficiency": 1.0} for g in ("miR-449a", "U6", "AREG", "GAPDH")}
    cts = _study_run(tmp_path, targets=exact)
    out = tmp_path / "o"
    code, stdout, err = run_cli("qpcr", str(cts), *STUDY_REFS, "--calibrator", "A925LPE3",
                                "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert "livak: miR-449a vs U6, AREG vs GAPDH; calibrator A925LPE3" in stdout
    assert _fold(out, "miR-449a")["fold_change"] == pytest.approx(0.2, rel=1e-3)
    assert _fold(out, "AREG")["fold_change"] == pytest.approx(4.2, rel=1e-3)
    assert set(pd.read_csv(out / "summary.csv")["reference"]) == {"U6", "GAPDH"}


def test_qpcr_pfaffl_with_a_dilution_series(run_cli, tmp_path):
    """Catalogue efficiencies (miRNA 0.92, mRNA 0.95): Pfaffl with efficiencies fitted from a
    virtual dilution series recovers 0.2 and 4.2 to 0.2 %, where Livak on the same file is
    biased (0.181 and 4.44, the error Pfaffl exists to remove). Used to exit 2 always."""
    cts, std = _study_run(tmp_path), _dilution_series(tmp_path)
    args = ["qpcr", str(cts), *STUDY_REFS, "--calibrator", "A925LPE3"]
    code, stdout, err = run_cli(*args, "--method", "pfaffl", "--efficiencies", str(std),
                                "--out", str(tmp_path / "pf"))  # fmt: skip
    assert code == 0, err
    assert f"efficiencies (dilution series, {std})" in stdout
    assert _fold(tmp_path / "pf", "miR-449a")["fold_change"] == pytest.approx(0.2, rel=2e-3)
    assert _fold(tmp_path / "pf", "AREG")["fold_change"] == pytest.approx(4.2, rel=2e-3)
    eff = pd.read_csv(tmp_path / "pf" / "efficiencies.csv").set_index("target")
    assert eff.loc["AREG", "efficiency"] == pytest.approx(0.95, abs=1e-3)
    assert {"r_squared", "efficiency_lower", "efficiency_upper"} <= set(eff.columns)
    code, _, err = run_cli(*args, "--out", str(tmp_path / "lv"))
    assert code == 0, err
    assert _fold(tmp_path / "lv", "miR-449a")["fold_change"] == pytest.approx(0.181, abs=2e-3)
    assert _fold(tmp_path / "lv", "AREG")["fold_change"] == pytest.approx(4.44, abs=0.01)
    # the efficiencies.csv written is itself a valid --efficiencies table
    code, stdout, err = run_cli(*args, "--method", "pfaffl", "--efficiencies",
                                str(tmp_path / "pf" / "efficiencies.csv"),
                                "--out", str(tmp_path / "again"))  # fmt: skip
    assert code == 0, err
    assert "efficiencies (table" in stdout
    again = pd.read_csv(tmp_path / "again" / "summary.csv")["fold_change"]
    assert again.to_numpy() == pytest.approx(
        pd.read_csv(tmp_path / "pf" / "summary.csv")["fold_change"].to_numpy(), rel=1e-9
    )


def test_qpcr_pfaffl_with_an_efficiency_column_in_the_ct_file(run_cli, tmp_path):
    cts = _study_run(tmp_path, flavor="tidy")
    frame = pd.read_csv(cts, keep_default_na=False)
    pct = {"miR-449a": "92", "U6": "92", "AREG": "95", "GAPDH": "95"}
    frame["Efficiency"] = frame["target"].map(pct)
    frame.to_csv(cts, index=False)
    out = tmp_path / "o"
    code, stdout, err = run_cli("qpcr", str(cts), *STUDY_REFS, "--calibrator", "A925LPE3",
                                "--method", "pfaffl", "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert "(Efficiency column)" in stdout
    assert _fold(out, "AREG")["fold_change"] == pytest.approx(4.2, rel=2e-3)


def test_qpcr_pfaffl_on_a_noisy_run_covers_the_truth(run_cli, tmp_path):
    """Default noise (biological, input, technical) in the run and the standards: the 95 %
    interval holds the true fold change of both targets (seed 3)."""
    cts, std = _study_run(tmp_path, noise=True, seed=3), _dilution_series(tmp_path, noise=True)
    out = tmp_path / "o"
    args = ["--method", "pfaffl", "--efficiencies", str(std), "--out", str(out)]
    code, _, err = run_cli("qpcr", str(cts), *STUDY_REFS, "--calibrator", "A925LPE3", *args)
    assert code == 0, err
    for target, truth in (("miR-449a", 0.2), ("AREG", 4.2)):
        row = _fold(out, target)
        assert row["fold_change_lower"] <= truth <= row["fold_change_upper"], (target, row)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--method", "pfaffl"], "--efficiencies: the Pfaffl method needs amplification"),
        (["--efficiencies", "EFF"], "--efficiencies is used by the Pfaffl method only"),
        (["--method", "pfaffl", "--efficiencies", "CTS"], "no standards in the dilution series"),
        (["--method", "ddct"], "--method: unknown method"),
        (["--reference", "GAPDH"], "a plain reference mixed with TARGET=REFERENCE pairs"),
        (["--method", "pfaffl", "--efficiencies", "PARTIAL"], "no efficiency for a gene"),
    ],
)
def test_qpcr_option_errors_are_one_line(run_cli, tmp_path, extra, match):
    cts = _study_run(tmp_path)
    eff = tmp_path / "eff.csv"
    eff.write_text("gene,efficiency\nmiR-449a,0.92\nU6,0.92\nAREG,0.95\nGAPDH,0.95\n")
    partial = tmp_path / "partial.csv"
    partial.write_text("gene,efficiency\nAREG,0.95\nGAPDH,0.95\n")
    files = {"EFF": str(eff), "CTS": str(cts), "PARTIAL": str(partial)}
    extra = [files.get(a, a) for a in extra]
    out = tmp_path / "o"
    code, _, err = run_cli("qpcr", str(cts), *STUDY_REFS, "--calibrator", "A925LPE3", *extra,
                           "--out", str(out))  # fmt: skip
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    if "PARTIAL" in files and match.startswith("no efficiency"):
        assert str(partial) in err  # names the efficiency file, not the fitter


@pytest.mark.parametrize(
    ("ct", "where"),
    [("-27.2", "line 10, well A1, column Ct"), ("1e308", "line 10, well A1, column Ct")],
)
def test_qpcr_implausible_ct_exits_2(run_cli, tmp_path, ct, where):
    """Negative Ct was quantified with exit 0; 1e308 ended in an OverflowError traceback."""
    cts = _study_run(tmp_path)
    lines = cts.read_text().splitlines()
    cells = lines[9].split(",")
    cells[9] = ct
    lines[9] = ",".join(cells)
    cts.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli("qpcr", str(cts), *STUDY_REFS, "--calibrator", "A925LPE3",
                           "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and f"{cts}: {where}: Ct outside the plausible range" in err, err
    assert f"(got {ct!r})" in err and not (tmp_path / "o").exists()


def test_blot_command(run_cli, tmp_path):
    from leptotwin.assays.blot import simulate_blot, write_blot

    lanes = pd.DataFrame({"lane": [1, 2, 3, 4], "label": list("abcd")})
    bands = pd.DataFrame({"lane": [1, 2, 3, 4], "protein": "EGFR", "amount": [1, 2, 3, 4]})
    written = write_blot(simulate_blot(lanes, bands, rng=np.random.default_rng(1)), tmp_path)
    code, _, err = run_cli(
        "blot",
        str(written["image"]),
        "--lanes",
        "4",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    vol = pd.read_csv(tmp_path / "o" / "bands.csv")["volume_au"].to_numpy()
    assert np.all(np.diff(vol) > 0)
    assert (tmp_path / "o" / "annotated.png").is_file()
    code, _, err = run_cli("blot", str(written["image"]), "--out", str(tmp_path / "o3"))
    assert code == 2 and "--lanes: the number of lanes is needed" in err


SAMPLES = ["A925L", "A925L + ALC", "A925L/AR", "A925L/AR + ALC", "A925L/AR + OSI", "AR + A + O"]
ANTIBODIES = {
    "p-ALK": [1.0, 0.05, 1.0, 0.05, 1.0, 0.05],
    "ALK": [1.0] * 6,
    "p-EGFR": [0.1, 0.1, 0.5, 0.5, 0.05, 0.05],
    "EGFR": [1.0, 1.0, 1.2, 1.2, 1.2, 1.2],
    "p-ERK": [0.8, 0.3, 0.8, 0.7, 0.6, 0.1],
    "ERK": [1.0] * 6,
    "beta-actin": [1.0] * 6,
}


def _seven_strip_blot(folder, seed=2):
    """The study's western: 7 antibody strips x 6 lanes, written as a 16-bit TIFF."""
    from leptotwin.assays.blot import simulate_blot, write_blot

    lanes = pd.DataFrame({"lane": range(1, 7), "label": SAMPLES})
    rows = [(ln, p, a[ln - 1]) for p, a in ANTIBODIES.items() for ln in range(1, 7)]
    bands = pd.DataFrame(rows, columns=["lane", "protein", "amount"])
    blot = simulate_blot(lanes, bands, rng=np.random.default_rng(seed))
    return blot, write_blot(blot, folder)["image"]


def _blot_layout(folder, *, lanes=True):
    text = "[strips]\nstrip,antibody\n" + "".join(
        f"{k},{name}\n" for k, name in enumerate(ANTIBODIES, start=1)
    )
    if lanes:
        text += "[lanes]\nlane,sample\n" + "".join(
            f"{k},{name}\n" for k, name in enumerate(SAMPLES, start=1)
        )
    path = folder / "layout.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_blot_on_a_seven_strip_membrane_quantifies_every_strip(run_cli, tmp_path):
    """The issue's case: `blot image.tif --lanes 6` on 7 strips kept one band per lane, taken
    from whichever strip was strongest, and said nothing. Now: 7 strips found, 42 bands, and
    the strips are named on stdout."""
    blot, image = _seven_strip_blot(tmp_path)
    out = tmp_path / "o"
    code, stdout, err = run_cli("blot", str(image), "--lanes", "6", "--out", str(out))
    assert code == 0, err
    assert "7 strips (detected from the row profile) x 6 lanes" in stdout
    assert "no loading control" in stdout
    bands = pd.read_csv(out / "bands.csv")
    assert len(bands) == 42 and sorted(bands["strip"].unique()) == list(range(1, 8))
    truth = blot.truth.set_index(["protein", "lane"])["volume_true"]
    names = list(ANTIBODIES)
    true = [truth[(names[s - 1], ln)] for s, ln in zip(bands["strip"], bands["lane"], strict=True)]
    assert np.corrcoef(true, bands["volume_au"])[0, 1] > 0.999
    assert (out / "annotated.png").is_file()


def test_blot_with_a_layout_names_strips_samples_and_ratios(run_cli, tmp_path):
    """Layout: antibodies and samples by name; beta-actin is the loading control by name,
    p-X pairs with X. p-EGFR/EGFR of A925L/AR over A925L: truth (0.5/1.2)/(0.1/1.0) = 4.17,
    recovered within 15 %."""
    _, image = _seven_strip_blot(tmp_path)
    layout = _blot_layout(tmp_path)
    out = tmp_path / "o"
    code, stdout, err = run_cli("blot", str(image), "--layout", str(layout), "--out", str(out))
    assert code == 0, err
    assert "loading control: beta-actin (strip 7)" in stdout
    assert "p-EGFR (strip 3) / EGFR (strip 4)" in stdout
    bands = pd.read_csv(out / "bands.csv", keep_default_na=False, na_values=[""])
    assert {"strip", "antibody", "lane", "sample", "volume_au", "background_au",
            "normalised_to_loading", "phospho_to_total"} <= set(bands.columns)  # fmt: skip
    pe = bands[bands["antibody"] == "p-EGFR"].set_index("sample")
    ratio = pe.loc["A925L/AR", "phospho_to_total"] / pe.loc["A925L", "phospho_to_total"]
    assert ratio == pytest.approx((0.5 / 1.2) / 0.1, rel=0.15)
    assert (bands.loc[bands["antibody"] == "beta-actin", "normalised_to_loading"] == 1.0).all()
    # --target keeps the target, its total protein and the loading control; --loading-control
    # by strip number
    code, _, err = run_cli("blot", str(image), "--layout", str(layout), "--target", "p-EGFR",
                           "--loading-control", "4", "--out", str(tmp_path / "t"))  # fmt: skip
    assert code == 0, err
    only = pd.read_csv(tmp_path / "t" / "bands.csv")
    assert list(pd.unique(only["antibody"])) == ["p-EGFR", "EGFR"]
    assert (only["loading_control"] == "EGFR").all()


def test_a_single_strip_blot_keeps_working(run_cli, tmp_path):
    """One strip: the same volumes as before strips existed (quantify_bands on the image)."""
    from leptotwin.analysis.densitometry import quantify_bands
    from leptotwin.assays.blot import simulate_blot, write_blot

    lanes = pd.DataFrame({"lane": [1, 2, 3], "label": list("abc")})
    bands = pd.DataFrame({"lane": [1, 2, 3], "protein": "EGFR", "amount": [0.5, 1.0, 1.5]})
    blot = simulate_blot(lanes, bands, rng=np.random.default_rng(4))
    image = write_blot(blot, tmp_path)["image"]
    before = quantify_bands(image, 3)["volume_au"].to_numpy()  # what the command reported
    for extra, how in (([], "detected from the row profile"), (["--strips", "1"], "whole image")):
        out = tmp_path / f"o{len(extra)}"
        code, stdout, err = run_cli("blot", str(image), "--lanes", "3", *extra, "--out", str(out))
        assert code == 0, err
        assert f"1 strip ({how}" in stdout or f"1 strip (the {how}" in stdout
        vol = pd.read_csv(out / "bands.csv")["volume_au"].to_numpy()
        np.testing.assert_allclose(vol, before, rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--lanes", "6", "--strips", "6"], "found 7 strips (band rows"),
        (["--lanes", "9"], "--lanes: found only 6 lanes"),
        (["--layout", "LAYOUT", "--lanes", "5"], "--lanes says 5, the layout names 6 lanes"),
        (["--layout", "LAYOUT", "--strips", "8"], "--strips says 8, the layout names 7 strips"),
        (["--layout", "LAYOUT", "--loading-control", "tubulin"], "no strip with this antibody"),
        (["--lanes", "6", "--loading-control", "9"], "--loading-control: no such strip"),
        (["--lanes", "6", "--target", "p-EGFR"], "one of: no antibody names (give a layout)"),
        (["--layout", "BINARY"], "binary layout file"),
        (["--layout", "GARBAGE"], "neither a blot layout nor an array layout"),
        (["--layout", "ARRAY", "--lanes", "6"], "--lanes applies to western blots"),
    ],
)
def test_blot_errors_are_one_line(run_cli, tmp_path, args, match):
    _, image = _seven_strip_blot(tmp_path)
    files = {"LAYOUT": _blot_layout(tmp_path)}
    files["BINARY"] = tmp_path / "binary.csv"
    files["BINARY"].write_bytes(bytes(range(256)) * 4)
    files["GARBAGE"] = tmp_path / "garbage.csv"
    files["GARBAGE"].write_text("lorem ipsum\ndolor,sit\n")
    files["ARRAY"] = tmp_path / "array.csv"
    files["ARRAY"].write_text("receptor,row,col\nReference,0,0\n")
    args = [str(files[a]) if a in files else a for a in args]
    out = tmp_path / "o"
    code, _, err = run_cli("blot", str(image), *args, "--out", str(out))
    assert code == 2 and match in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_blot_command_on_a_membrane_array(run_cli, tmp_path):
    from leptotwin.assays.blot import simulate_array, write_array

    arr = simulate_array(pd.DataFrame({"receptor": ["EGFR"], "level": [1.0]}),
                         rng=np.random.default_rng(6))  # fmt: skip
    written = write_array(arr, tmp_path)
    out = tmp_path / "o"
    code, stdout, err = run_cli("blot", str(written["image"]), "--layout",
                                str(written["layout"]), "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert "membrane array: 106 spots, 51 receptors" in stdout
    receptors = pd.read_csv(out / "receptors.csv").set_index("receptor")
    assert receptors.loc["EGFR", "relative"] > 0.2


def test_synergy_command_on_reference_data(run_cli, tmp_path):
    code, _, err = run_cli(
        "synergy",
        str(SHARED / "synergy" / "mathews_screening_data.csv"),
        "--method",
        "Bliss,HSA",
        "--scale",
        "viability",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    assert err == ""  # no progress bar and no blank line off a terminal
    per_block = pd.read_csv(tmp_path / "o" / "per_block.csv")
    assert set(per_block["method"]) == {"Bliss", "HSA"}
    assert per_block["block_id"].nunique() == 2


def test_msi_command_on_reference_imzml(run_cli, tmp_path):
    from pyimzml.ImzMLParser import ImzMLParser

    path = SHARED / "imzml" / "Example_Continuous.imzML"
    with ImzMLParser(str(path)) as parser:
        mz = float(parser.getspectrum(0)[0][10])
    code, _, err = run_cli("msi", str(path), "--mz", f"{mz:.4f}", "--out", str(tmp_path / "o"))
    assert code == 0, err
    assert list((tmp_path / "o").glob("ion_image_*.csv"))
    code, _, err = run_cli(
        "msi",
        str(tmp_path / "missing.imzML"),
        "--mz",
        "500",
        "--out",
        str(tmp_path / "o2"),
    )
    assert code == 2 and err.startswith("leptotwin: error:")
