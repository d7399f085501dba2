"""Tests of the synergy job (tables, figures, bad input, output folder rule)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study.synergy_job import (
    run_synergy_job,
    score_in_chunks,
    top_blocks,
    top_blocks_figure,
)
from refdata import SYNERGY

MATHEWS = str(SYNERGY / "mathews_screening_data.csv")


def _cls(root: ET.Element, name: str) -> list[ET.Element]:
    """Elements of an SVG figure whose class list holds ``name``."""
    return [e for e in root.iter() if name in (e.get("class") or "").split()]


def test_job_writes_tables_and_figures(tmp_path):
    messages: list[str] = []
    paths = run_synergy_job(
        MATHEWS, ["zip", "Bliss"], tmp_path / "out", False, messages.append, scale="viability"
    )
    per_block = pd.read_csv(paths["per_block"])
    assert {"block_id", "method", "score", "lower", "upper"} <= set(per_block.columns)
    assert set(per_block["method"]) == {"ZIP", "Bliss"}
    assert len(pd.read_csv(paths["per_dose"])) == 2 * 2 * 36
    for name in ("summary_top_ZIP", "summary_top_Bliss", "summary_scores"):
        svg = tmp_path / "out" / f"{name}.svg"  # written without matplotlib
        assert paths[name] == svg and ET.parse(svg).getroot().tag.endswith("svg")
    top = ET.parse(paths["summary_top_ZIP"]).getroot()
    assert len(_cls(top, "heatmap")) == 2  # both blocks, most synergistic first
    assert len(_cls(top, "cell")) == 2 * 36  # both blocks' 6 x 6 doses
    hist = ET.parse(paths["summary_scores"]).getroot()
    assert len(_cls(hist, "panel")) == 2 and _cls(hist, "bar") and _cls(hist, "vline")
    assert not (tmp_path / "out" / "1_ZIP.png").exists()  # per block: --figures all only
    assert messages and "scored 2 of 2" in messages[1]
    with pytest.raises(LeptotwinError, match="refusing to overwrite"):
        run_synergy_job(MATHEWS, ["ZIP"], tmp_path / "out", False, None, scale="viability")
    run_synergy_job(MATHEWS, ["HSA"], tmp_path / "out", True, None, scale="viability")


def _blocks(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` 5 x 5 blocks (% inhibition, Bliss-independent plus a block-specific excess, so
    block k is the more synergistic the larger its excess)."""
    rng = np.random.default_rng(seed)
    conc = [0.0, 1.0, 3.0, 10.0, 30.0]
    excess = rng.permutation(np.linspace(-10, 15, n))
    rows = []
    for k in range(n):
        for r in conc:
            for c in conc:
                a, b = r / (r + 5), c / (c + 8)
                bliss = 100 * (a + b - a * b)
                rows.append(
                    {
                        "block_id": f"combo {k:03d}",
                        "drug_row": "A",
                        "drug_col": "B",
                        "conc_r": r,
                        "conc_c": c,
                        "conc_r_unit": "nM",
                        "conc_c_unit": "nM",
                        "response": bliss + (excess[k] if r > 0 and c > 0 else 0.0),
                    }
                )
    return pd.DataFrame(rows)


def test_figures_option_summary_all_none_same_tables(run_cli, tmp_path):
    """Issue 14: the default wrote a heatmap and a surface per block and method (200 figures, 15x
    the scoring time at 10^4 blocks). Now: summary figures by default, per-block ones only with
    --figures all, none with --figures none; the tables are the same bytes in all three."""
    data = tmp_path / "blocks.csv"
    _blocks(9).to_csv(data, index=False)
    outs = {}
    for mode in ("summary", "all", "none"):
        outs[mode] = tmp_path / mode
        flag = [] if mode == "summary" else ["--figures", mode]
        args = ["synergy", str(data), "--method", "ZIP,Bliss", "--out", str(outs[mode]), *flag]
        code, _, err = run_cli(*args)
        assert code == 0, err
    summary = {"summary_top_ZIP.svg", "summary_top_Bliss.svg", "summary_scores.svg"}
    per_block = {f"combo_{k:03d}_{m}.png" for k in range(9) for m in ("ZIP", "Bliss")}
    figures = {
        mode: {p.name for p in out.iterdir() if p.suffix in (".png", ".svg")}
        for mode, out in outs.items()
    }
    assert figures == {"summary": summary, "all": summary | per_block, "none": set()}
    tables = ["per_dose.csv", "per_block.csv", "qc.csv", "monotherapy.csv", "sensitivity.csv"]
    for mode in ("all", "none"):
        assert {p.name for p in outs[mode].glob("*.csv")} == set(tables)
        for name in tables:
            assert (outs[mode] / name).read_bytes() == (outs["summary"] / name).read_bytes()
    code, _, err = run_cli(
        "synergy", str(data), "--figures", "some", "--out", str(tmp_path / "bad")
    )
    assert code == 2 and "--figures: unknown figure set" in err and "summary, all or none" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()


def test_top_blocks_are_the_most_synergistic_scored_ones(tmp_path):
    data = _blocks(10, seed=3)
    bad = data["block_id"] == "combo 004"
    data = data[~(bad & (data["conc_r"] == 0) & (data["conc_c"] > 0))]  # no monotherapy: left out
    res = score_in_chunks(data, ["Bliss"])
    assert dict(zip(res.qc["block_id"], res.qc["status"], strict=True))["combo 004"] != "ok"
    means = res.per_block.query("method == 'Bliss' and statistic == 'mean'")
    means = means[means["block_id"] != "combo 004"].sort_values("score", ascending=False)
    assert top_blocks(res, "Bliss") == list(means["block_id"].head(6))
    assert top_blocks(res, "Bliss", 20) == list(means["block_id"])
    root = ET.fromstring(top_blocks_figure(res, "Bliss").to_svg().encode())
    titles = [g.get("data-title") for g in _cls(root, "heatmap")]
    assert titles == [
        f"Bliss block {b}: mean {s:.2f}"
        for b, s in zip(means["block_id"][:6], means["score"][:6], strict=True)
    ]
    assert "the 6 most synergistic of 9 blocks" in _cls(root, "suptitle")[0].text
    first = _cls(root, "heatmap")[0]  # the most synergistic block's scores, cell by cell
    grid = res.grid(means["block_id"].iloc[0], "Bliss").to_numpy()
    assert len(_cls(first, "cell")) == grid.size
    shown = [t.text for t in _cls(first, "cell-value")]  # row by row, concentrations rising
    assert shown == [f"{v:.1f}" for v in grid.ravel() if np.isfinite(v)]
    data.to_csv(tmp_path / "d.csv", index=False)
    paths = run_synergy_job(
        tmp_path / "d.csv", ["Bliss"], tmp_path / "o", figures="all", max_figure_blocks=2
    )
    first_two = [b for b in res.qc["block_id"] if b != "combo 004"][:2]
    assert sorted(p.name for p in (tmp_path / "o").glob("combo*.png")) == sorted(
        f"{b.replace(' ', '_')}_Bliss.png" for b in first_two
    )
    assert paths["summary_top_Bliss"].is_file() and paths["summary_scores"].is_file()


def test_job_reports_chunk_progress_and_passes_the_zip_variant(tmp_path):
    ticks: list[tuple[int, int]] = []
    common = {"figures": False, "chunk_blocks": 1, "scale": "viability"}
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
    paths = run_synergy_job(
        mixed, ["Bliss"], tmp_path / "m", False, None, figures=False, scale="viability"
    )
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


def test_job_and_cli_refuse_a_suspect_scale_unless_it_is_given(run_cli, tmp_path):
    """Issue 15 item 5: Mathews' viability data run without --scale scored Bliss -64.7 (for
    +10.9), exit 0, no warning. Now the run is refused in one line naming --scale and nothing is
    written; with an explicit --scale it runs, warns in one stderr line and flags qc.csv."""
    with pytest.raises(LeptotwinError, match=r"--scale: 2 of 2 blocks have an untreated cell") as e:
        run_synergy_job(MATHEWS, ["Bliss"], tmp_path / "a", figures=False)
    assert "expected --scale viability" in str(e.value) and not (tmp_path / "a").exists()
    said: list[str] = []
    paths = run_synergy_job(
        MATHEWS, ["Bliss"], tmp_path / "b", figures=False, scale="inhibition", warn=said.append
    )
    assert len(said) == 1 and said[0].startswith("leptotwin: warning: ")
    assert "block 1: 123 as inhibition" in said[0]
    qc = pd.read_csv(paths["qc"])
    assert list(qc["status"]) == ["ok", "ok"] and qc["scale_suspect"].all()
    assert qc["note"].str.contains("near full effect: viability?").all()
    said.clear()
    run_synergy_job(MATHEWS, ["Bliss"], tmp_path / "c", figures=False, scale="viability",
                    warn=said.append)  # fmt: skip
    assert said == []
    args = ["synergy", MATHEWS, "--method", "Bliss", "--figures", "none"]
    code, _, err = run_cli(*args, "--out", str(tmp_path / "d"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--scale viability" in err
    assert not (tmp_path / "d").exists()
    code, _, err = run_cli(*args, "--scale", "inhibition", "--out", str(tmp_path / "e"))
    assert code == 0 and len(err.strip().splitlines()) == 1 and "warning" in err


def test_tables_are_the_bytes_pandas_writes(tmp_path, monkeypatch):
    """The tables go through the pyarrow CSV writer (issue 14 item 4: pandas' ``to_csv`` was
    most of the command's time at 10^4 blocks); they are the bytes ``to_csv(index=False)``
    writes of the scored tables, replicates (bootstrap columns, sensitivity_stats), text block
    ids, a quoted drug name and MuSyC included. The scored tables are the job's own, recorded as
    it scores them (scoring them a second time here doubled the test's time, MuSyC's 200
    bootstrap fits per block)."""
    from leptotwin.study import synergy_job

    df = _blocks(6)
    df = pd.concat([df, df.assign(response=df["response"] + 1.5)], ignore_index=True)
    df["drug_row"] = "A, the first"  # a comma: quoted
    data = tmp_path / "blocks.csv"
    df.to_csv(data, index=False)
    methods = ["ZIP", "Bliss", "HSA", "Loewe", "MuSyC"]
    scored = []

    def recorded(*args, **kw):
        scored.append(score_in_chunks(*args, **kw))
        return scored[-1]

    monkeypatch.setattr(synergy_job, "score_in_chunks", recorded)
    paths = run_synergy_job(data, methods, tmp_path / "out", scale="inhibition", figures="none")
    (result,) = scored
    assert {"sensitivity_stats", "musyc"} <= set(paths)
    for name, path in paths.items():
        frame = getattr(result, name)
        assert len(frame), name
        assert path.read_bytes() == frame.to_csv(index=False).encode(), name


def test_the_synergy_command_starts_without_matplotlib_or_pint():
    """Start-up (issue 14 item 4): importing the job and checking a table in the usual units
    loads neither matplotlib (the summary figures are SVG) nor pint (its registry took ~0.5 s)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import numpy as np\n"
        "from leptotwin.analysis._synergy_musyc import simulate_blocks\n"
        "from leptotwin.analysis.synergy import synergy_scores\n"
        "import leptotwin.study.synergy_job\n"
        "df = simulate_blocks(3, rng=np.random.default_rng(0), conc=np.r_[0, 0.1, 1, 10, 100])\n"
        "synergy_scores(df, ['Bliss'], scale='viability')\n"
        "print(sorted(m for m in ('matplotlib', 'pint') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_heatmap_dose_labels_are_plain_numbers():
    """Doses as a reader writes them: 1000 not 1e+03, 12345 exactly, 0.3333 to four digits;
    exponents only outside 1e-4 to 1e6."""
    from leptotwin.study.synergy_job import _ticks

    doses = [0, 10, 1000, 3000, 12345, 0.05, 1 / 3, 2.5, 1.5e-4, 1e-5, 2.5e6]
    assert _ticks(doses) == [
        "0", "10", "1000", "3000", "12345", "0.05", "0.3333", "2.5", "0.00015", "1e-05",
        "2.5e+06",
    ]  # fmt: skip
    # a non-whole dose of 1e4 or more keeps its digits; doses that would share a label do not
    assert _ticks([0, 123456.7, 99999.95]) == ["0", "123456.7", "99999.95"]
    assert _ticks([9.999e-05, 1e-4]) == ["9.999e-05", "0.0001"]


def test_per_dose_written_chunk_by_chunk_while_scoring_is_the_whole_table(tmp_path, monkeypatch):
    """per_dose.csv is written by a thread from each chunk's rows as the next chunk is scored
    (issue 14: the CLI's overhead over the API); with several chunks its bytes are those of
    ``to_csv`` of the whole scored table, each chunk handed over as it was scored."""
    from leptotwin.study import synergy_job

    df = _blocks(5)
    df = pd.concat([df, df.assign(response=df["response"] + 1.5)], ignore_index=True)
    data = tmp_path / "blocks.csv"
    df.to_csv(data, index=False)
    scored, handed = [], []

    def recorded(*args, **kw):
        given = kw["on_part"]
        kw["on_part"] = lambda part: (handed.append(len(part.per_dose)), given(part))
        scored.append(score_in_chunks(*args, **kw))
        return scored[-1]

    monkeypatch.setattr(synergy_job, "score_in_chunks", recorded)
    common = {"scale": "inhibition", "figures": "none"}
    paths = run_synergy_job(data, ["ZIP", "Bliss"], tmp_path / "a", chunk_blocks=2, **common)
    (result,) = scored
    assert len(handed) == 3 and sum(handed) == len(result.per_dose)
    assert paths["per_dose"].read_bytes() == result.per_dose.to_csv(index=False).encode()
    assert {"lower", "upper", "p_value"} <= set(result.per_dose.columns)  # replicates: intervals
    assert result.per_dose["p_value"].notna().any()
