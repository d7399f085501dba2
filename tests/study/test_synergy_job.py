"""Tests of the synergy job (tables, figures, bad input, output folder rule)."""

from __future__ import annotations

import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study.synergy_job import run_synergy_job

MATHEWS = "/work/shared/reference-data/synergy/mathews_screening_data.csv"


def test_job_writes_tables_and_figures(tmp_path):
    messages: list[str] = []
    paths = run_synergy_job(MATHEWS, ["zip", "Bliss"], tmp_path / "out", False, messages.append)
    per_block = pd.read_csv(paths["per_block"])
    assert {"block_id", "method", "score", "lower", "upper"} <= set(per_block.columns)
    assert set(per_block["method"]) == {"ZIP", "Bliss"}
    assert len(pd.read_csv(paths["per_dose"])) == 2 * 2 * 36
    assert (tmp_path / "out" / "1_ZIP.png").stat().st_size > 0
    assert messages and "scored 2 of 2" in messages[1]
    with pytest.raises(LeptotwinError, match="refusing to overwrite"):
        run_synergy_job(MATHEWS, ["ZIP"], tmp_path / "out", False, None)
    run_synergy_job(MATHEWS, ["HSA"], tmp_path / "out", True, None)


def test_job_bad_input_is_one_line(tmp_path):
    df = pd.read_csv(MATHEWS)
    bad = tmp_path / "bad.csv"
    df[df["conc_r"] > 0].to_csv(bad, index=False)
    with pytest.raises(LeptotwinError, match="no block can be scored") as err:
        run_synergy_job(bad, ["ZIP"], tmp_path / "o", False, None)
    assert "\n" not in str(err.value)
    with pytest.raises(LeptotwinError, match="unknown method"):
        run_synergy_job(MATHEWS, ["CI"], tmp_path / "o", False, None)
    with pytest.raises(LeptotwinError, match="file not found"):
        run_synergy_job(tmp_path / "none.csv", ["ZIP"], tmp_path / "o", False, None)
    mixed = tmp_path / "mixed.csv"
    df.assign(conc_c_unit=["uM" if i == 3 else u for i, u in enumerate(df.conc_c_unit)]).to_csv(
        mixed, index=False
    )
    paths = run_synergy_job(mixed, ["Bliss"], tmp_path / "m", False, None, figures=False)
    qc = pd.read_csv(paths["qc"])
    assert list(qc["status"]) == ["mixed_units", "ok"]
