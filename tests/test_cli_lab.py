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
    assert code == 2 and "exactly one of --lanes, --layout" in err


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
