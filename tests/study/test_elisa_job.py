"""``leptotwin elisa`` on a virtual plate written to files, and its one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.assays.elisa import simulate_elisa, write_elisa


def _files(tmp_path):
    samples = pd.DataFrame(
        {"sample_id": ["a", "b", "c"], "true_pg_mL": [80.0, 400.0, 1500.0], "dilution": 1.0}
    )
    wells = simulate_elisa(samples, rng=np.random.default_rng(5))
    return write_elisa(wells, tmp_path / "export.csv", tmp_path / "layout.csv")


def test_elisa_command_writes_tables(run_cli, tmp_path):
    plate, layout = _files(tmp_path)
    code, _, err = run_cli(
        "elisa", str(plate), "--layout", str(layout), "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    res = pd.read_csv(tmp_path / "o" / "samples.csv").set_index("sample_id")
    assert res.loc["b", "conc_pg_mL"] == pytest.approx(400, rel=0.25)
    assert (tmp_path / "o" / "standard_curves.png").is_file()


def test_elisa_errors(run_cli, tmp_path):
    plate, layout = _files(tmp_path)
    code, _, err = run_cli("elisa", str(tmp_path / "none.csv"), "--layout", str(layout))
    assert code == 2 and "file not found" in err
    code, _, err = run_cli(
        "elisa",
        str(plate),
        "--layout",
        str(layout),
        "--model",
        "7PL",
        "--out",
        str(tmp_path / "o2"),
    )
    assert code == 2 and "unknown standard-curve model" in err and not (tmp_path / "o2").exists()
