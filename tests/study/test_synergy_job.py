"""Tests of the synergy job (tables, figures, bad input, output folder rule)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study.synergy_job import run_synergy_job
from refdata import SYNERGY

MATHEWS = str(SYNERGY / "mathews_screening_data.csv")


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


def test_job_reports_chunk_progress_and_passes_the_zip_variant(tmp_path):
    ticks: list[tuple[int, int]] = []
    common = {"figures": False, "chunk_blocks": 1}
    tick = lambda d, t: ticks.append((d, t))  # noqa: E731
    a = run_synergy_job(MATHEWS, ["ZIP"], tmp_path / "a", on_chunk=tick, **common)
    assert ticks == [(0, 2), (1, 2), (2, 2)]
    b = run_synergy_job(MATHEWS, ["ZIP"], tmp_path / "b", zip_variant="synergy", **common)
    za, zb = (pd.read_csv(p["per_block"]).query("statistic == 'mean'") for p in (a, b))
    assert not np.allclose(za["score"], zb["score"])
    with pytest.raises(LeptotwinError, match="unknown ZIP variant"):
        run_synergy_job(MATHEWS, ["ZIP"], tmp_path / "c", zip_variant="zap", **common)


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
    )  # one well's 0.7812 read as µM: 781.2 nM, off the grid of its block
    paths = run_synergy_job(mixed, ["Bliss"], tmp_path / "m", False, None, figures=False)
    qc = pd.read_csv(paths["qc"], keep_default_na=False)
    assert list(qc["status"]) == ["not_grid", "ok"]
    assert list(qc["note"]) == ["conc_c converted to nM: 1 wells from µM", ""]


def test_job_refuses_bad_rows_before_touching_the_output_folder(tmp_path):
    df = pd.read_csv(MATHEWS)
    bad = tmp_path / "bad.csv"
    df.assign(
        conc_c_unit=["furlong" if i == 3 else u for i, u in enumerate(df.conc_c_unit)]
    ).to_csv(bad, index=False)
    with pytest.raises(LeptotwinError, match=r"bad\.csv: line 5, column conc_c_unit"):
        run_synergy_job(bad, ["Bliss"], tmp_path / "o", False, None)
    assert not (tmp_path / "o").exists()


def test_job_response_unit(tmp_path):
    """Fractions are refused unless --response-unit says so; the verdict is taken on the whole
    table (a chunk of one inactive block must not decide it)."""
    df = pd.read_csv(MATHEWS)
    frac = tmp_path / "frac.csv"
    df.assign(response=df.response / 100).to_csv(frac, index=False)
    common = {"figures": False, "scale": "viability", "chunk_blocks": 1}
    with pytest.raises(LeptotwinError, match="look like fractions"):
        run_synergy_job(frac, ["Bliss"], tmp_path / "a", **common)
    paths = run_synergy_job(frac, ["Bliss"], tmp_path / "b", response_unit="fraction", **common)
    want = run_synergy_job(MATHEWS, ["Bliss"], tmp_path / "c", **common)
    got, ref = (pd.read_csv(p["per_block"]) for p in (paths, want))
    np.testing.assert_allclose(got["score"], ref["score"], rtol=1e-12)
    with pytest.raises(LeptotwinError, match="--response-unit: unknown response unit"):
        run_synergy_job(MATHEWS, ["Bliss"], tmp_path / "d", response_unit="pct", **common)
    quiet = tmp_path / "quiet.csv"  # block 1 alone looks like fractions, the table does not
    df.assign(response=np.where(df.block_id == 1, 0.5, df.response)).to_csv(quiet, index=False)
    run_synergy_job(quiet, ["Bliss"], tmp_path / "e", **common)


def test_cli_response_unit_option(run_cli, tmp_path):
    df = pd.read_csv(MATHEWS)
    frac = tmp_path / "frac.csv"
    df.assign(response=df.response / 100).to_csv(frac, index=False)
    args = ["synergy", str(frac), "--method", "Bliss", "--scale", "viability"]
    code, _, err = run_cli(*args, "--out", str(tmp_path / "a"))
    assert code == 2 and "--response-unit fraction" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(*args, "--response-unit", "fraction", "--out", str(tmp_path / "b"))
    assert code == 0, err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_chunked_scores_on_dask_are_bit_identical():
    """Blocks scored in chunks here and the same chunks on a Dask cluster give identical tables,
    bootstrap intervals included (each chunk has its own stream: seed, chunk number). Point
    scores, ZIP's re-fits included, do not depend on the chunking at all."""
    from distributed import Client, LocalCluster

    from leptotwin.analysis.synergy import synergy_scores
    from leptotwin.study.synergy_job import score_in_chunks

    rng = np.random.default_rng(4)
    conc = [0.0, 1.0, 3.0, 10.0, 30.0]
    rows = []
    for block in range(6):
        for r in conc:
            for c in conc:
                for _ in range(2):
                    base = 100 * (1 - 1 / (1 + r / 5)) + 100 * (1 - 1 / (1 + c / 8))
                    rows.append(
                        {
                            "block_id": f"b{block}",
                            "drug_row": "A",
                            "drug_col": "B",
                            "conc_r": r,
                            "conc_c": c,
                            "conc_r_unit": "nM",
                            "conc_c_unit": "nM",
                            "response": min(base, 95) + rng.normal(0, 3),
                        }
                    )
    data = pd.DataFrame(rows)
    here = score_in_chunks(data, ["Bliss", "ZIP"], chunk_blocks=2, seed=7)
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        there = score_in_chunks(data, ["Bliss", "ZIP"], chunk_blocks=2, seed=7, scheduler=client)
    pd.testing.assert_frame_equal(here.per_block, there.per_block, check_exact=True)
    whole = synergy_scores(data, methods=["Bliss", "ZIP"])
    key = ["method", "block_id", "conc_r", "conc_c"]
    np.testing.assert_array_equal(
        whole.per_dose.sort_values(key)["score"].to_numpy(),
        here.per_dose.sort_values(key)["score"].to_numpy(),
    )
