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


# -- issue 12: one line for what a plate cannot hold ---------------------------------------------


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        # a 1e14 OD in well A01 (1e308 is refused by the plate reader parser)
        ("plate", "plate E01, well A01, column signal: an absorbance above 10 OD"),
        # both replicate wells of sample a at a 1e308 dilution: a raw RuntimeWarning before
        ("dilution", "column dilution: dilution factor of 1e9 or more (got '1e308')"),
        ("nominal", "column nominal_pg_mL: concentration of 1 g/mL or more (got '1e308')"),
        # the concentration column left out: said "standard without a positive nominal
        # concentration" on every standard
        ("no_column", "nominal_pg_mL: missing column; expected a nominal_pg_mL column"),
        ("empty_plate", "no plate grid and no well/value table found"),
        ("binary_plate", ""),
        ("empty_layout", "empty layout file"),
        ("binary_layout", ""),
    ],
)
def test_elisa_refuses_what_a_plate_cannot_hold(run_cli, tmp_path, spoil, message):
    plate, layout = _files(tmp_path)
    if spoil == "plate":
        lines = plate.read_text(encoding="utf-8").splitlines()
        i = next(k for k, line in enumerate(lines) if line.startswith("A,"))
        cells = lines[i].split(",")
        cells[1] = "1e14"
        lines[i] = ",".join(cells)
        plate.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif spoil == "dilution":
        _edit(layout, ",a,,,1.0\n", ",a,,,1e308\n")
    elif spoil == "nominal":
        _edit(layout, "standard,,,2000.0,", "standard,,,1e308,")
    elif spoil == "no_column":
        text = layout.read_text(encoding="utf-8").splitlines()
        rows = [line.split(",") for line in text]
        layout.write_text("\n".join(",".join(r[:5] + r[6:]) for r in rows) + "\n")
    elif spoil.endswith("_plate") or spoil.endswith("_layout"):
        target = plate if spoil.endswith("_plate") else layout
        target.write_bytes(b"" if spoil.startswith("empty") else bytes(range(256)) * 4)
    out = tmp_path / "o"
    code, stdout, err = run_cli("elisa", str(plate), "--layout", str(layout), "--out", str(out))
    assert code == 2 and stdout == ""
    line = _one_line(err)
    assert line.startswith("leptotwin: error: ") and message in line, line
    assert not out.exists()
