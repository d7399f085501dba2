"""The reproduce runner: registry, per-section RNG, staged output, claims.csv, report.html."""

from __future__ import annotations

import io
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from rich.console import Console

from leptotwin.errors import LeptotwinError
from leptotwin.study import reproduce
from leptotwin.study.claims import CLAIMS_COLUMNS, ClaimResult, ClaimStatus
from leptotwin.study.reproduce import (
    Context,
    SectionResult,
    SectionSpec,
    register_section,
    registered_sections,
    run_reproduce,
    section_rng,
)

SEED = 1234


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def _run(out_dir: Path, sections, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("console", _quiet())
    kwargs.setdefault("seed", SEED)
    return run_reproduce(out_dir=out_dir, sections=sections, **kwargs)


def _draws(ctx: Context) -> SectionResult:
    return SectionResult(
        "Draws",
        tables={"draws.csv": pd.DataFrame({"x": ctx.rng.normal(size=20), "i": np.arange(20)})},
    )


def _pass_c1(ctx: Context) -> SectionResult:
    fig = Figure(figsize=(3, 2))
    fig.subplots().plot(ctx.rng.random(5))
    return SectionResult(
        "Dose-response",
        text="Dummy dose-response.",
        figures=[("Dummy curve", fig)],
        tables={"ic50": pd.DataFrame({"ic50_nM": [21.0]})},
        claims=[ClaimResult("C1", ClaimStatus.PASS, "IC50 = 21 nM")],
    )


def _boom(ctx: Context) -> SectionResult:
    raise RuntimeError("model blew up")


DRAWS = SectionSpec("draws", 10, _draws)
PASS_C1 = SectionSpec("viability", 20, _pass_c1)
BOOM = SectionSpec("boom", 30, _boom)


@pytest.fixture
def registry(monkeypatch):
    """An empty registry for this test; real sections are discovered into the real one first."""
    registered_sections()
    fresh: dict[str, SectionSpec] = {}
    monkeypatch.setattr(reproduce, "_REGISTRY", fresh)
    return fresh


# -- claims -------------------------------------------------------------------------------------


def test_no_sections_all_not_implemented(tmp_path, registry):
    result = _run(tmp_path / "out", None)
    claims = pd.read_csv(tmp_path / "out" / "claims.csv", keep_default_na=False)
    assert list(claims.columns) == list(CLAIMS_COLUMNS)
    assert len(claims) == 9
    assert set(claims["status"]) == {"NOT_IMPLEMENTED"}
    assert result.status_counts == {"PASS": 0, "FAIL": 0, "NOT_IMPLEMENTED": 9}
    assert (tmp_path / "out" / "report.html").is_file()


def test_dummy_section_passes_only_c1(tmp_path):
    result = _run(tmp_path / "out", [PASS_C1])
    claims = pd.read_csv(result.claims_path, keep_default_na=False).set_index("id")
    assert claims.loc["C1", "status"] == "PASS"
    assert claims.loc["C1", "measured"] == "IC50 = 21 nM"
    assert (claims.drop(index="C1")["status"] == "NOT_IMPLEMENTED").all()
    assert not result.any_failed


def test_claims_csv_columns_exact(tmp_path):
    result = _run(tmp_path / "out", [PASS_C1, DRAWS])
    header = result.claims_path.read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,claim,figure,threshold,status,measured"


def test_outputs_written(tmp_path):
    result = _run(tmp_path / "out", [PASS_C1, DRAWS])
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["claims.csv", "draws.csv", "ic50.csv", "report.html"]
    assert result.files[-1].name == "report.html"
    assert result.sections == ("draws", "viability")
    assert set(result.elapsed_s) == {"draws", "viability"}


def test_console_shows_claims_table(tmp_path):
    console = _quiet()
    _run(tmp_path / "out", [PASS_C1], console=console)
    text = console.file.getvalue()
    assert "IC50 = 21 nM" in text and "PASS" in text and "NOT_IMPLEMENTED" in text


def test_progress_bar_names_sections(tmp_path):
    console = Console(file=io.StringIO(), width=200, force_terminal=True)
    _run(tmp_path / "out", [DRAWS, PASS_C1], console=console, progress=True)
    text = console.file.getvalue()
    assert "section draws" in text and "section viability" in text


# -- report -------------------------------------------------------------------------------------


def test_report_offline_and_embeds_png(tmp_path):
    result = _run(tmp_path / "out", [PASS_C1, DRAWS], command="leptotwin reproduce --seed 1234")
    html = result.report_path.read_text(encoding="utf-8")
    assert "data:image/png;base64," in html
    for ref in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html):
        assert not ref.startswith(("http://", "https://", "//")), ref
    assert not re.search(r'(?:src|href)\s*=\s*"https?://', html)
    assert "leptotwin reproduce --seed 1234" in html
    assert "<code>draws.csv</code>" in html


# -- out folder ---------------------------------------------------------------------------------


def test_refuses_non_empty_out_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(LeptotwinError, match="already holds results"):
        _run(out, [DRAWS])
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]


def test_force_replaces_same_names(tmp_path):
    out = tmp_path / "out"
    _run(out, [DRAWS], seed=1)
    first = (out / "draws.csv").read_bytes()
    _run(out, [DRAWS], seed=2, force=True)
    assert (out / "draws.csv").read_bytes() != first


def test_section_that_raises_leaves_no_files(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="model blew up") as info:
        _run(out, [DRAWS, PASS_C1, BOOM])
    assert any("boom" in note for note in info.value.__notes__)
    assert not (out / "report.html").exists()
    assert not (out / "claims.csv").exists()
    assert list(out.iterdir()) == []  # not even the tables of the sections that worked
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # staging folder removed


def test_failed_run_keeps_previous_results(tmp_path):
    out = tmp_path / "out"
    _run(out, [DRAWS])
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError):
        _run(out, [DRAWS, BOOM], seed=SEED + 1, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_extra_files_from_ctx_out_dir_are_moved(tmp_path):
    def writes_file(ctx: Context) -> SectionResult:
        (ctx.out_dir / "msi").mkdir()
        (ctx.out_dir / "msi" / "section.imzML").write_text("<mzML/>")
        return SectionResult("MSI")

    out = tmp_path / "out"
    _run(out, [SectionSpec("msi", 0, writes_file)])
    assert (out / "msi" / "section.imzML").read_text() == "<mzML/>"


# -- reproducibility ----------------------------------------------------------------------------


def test_same_seed_identical_csvs(tmp_path):
    _run(tmp_path / "a", [DRAWS, PASS_C1])
    _run(tmp_path / "b", [DRAWS, PASS_C1])
    for name in ("draws.csv", "ic50.csv", "claims.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_different_seed_different_draws(tmp_path):
    _run(tmp_path / "a", [DRAWS], seed=1)
    _run(tmp_path / "b", [DRAWS], seed=2)
    assert (tmp_path / "a" / "draws.csv").read_bytes() != (
        tmp_path / "b" / "draws.csv"
    ).read_bytes()


def test_section_rng_independent_of_other_sections(tmp_path):
    def other(ctx: Context) -> SectionResult:
        ctx.rng.random(1000)  # consumes its own stream only
        return SectionResult("Other", tables={"other.csv": pd.DataFrame({"y": ctx.rng.random(3)})})

    _run(tmp_path / "alone", [DRAWS])
    _run(tmp_path / "with_other_first", [SectionSpec("aaa_other", 0, other), DRAWS])
    alone = (tmp_path / "alone" / "draws.csv").read_bytes()
    assert (tmp_path / "with_other_first" / "draws.csv").read_bytes() == alone


def test_section_rng_keyed_by_name():
    a1 = section_rng(SEED, "pk").random(4)
    a2 = section_rng(SEED, "pk").random(4)
    b = section_rng(SEED, "viability").random(4)
    c = section_rng(SEED + 1, "pk").random(4)
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(a1, b)
    assert not np.allclose(a1, c)


def test_context_carries_seed_quick_and_name(tmp_path):
    seen: list[Context] = []

    def spy(ctx: Context) -> SectionResult:
        seen.append(ctx)
        return SectionResult("Spy")

    _run(tmp_path / "out", [SectionSpec("spy", 0, spy)], quick=True)
    (ctx,) = seen
    assert ctx.seed == SEED and ctx.quick and ctx.name == "spy"
    assert ctx.out_dir != tmp_path / "out"  # staging, not the final folder


@pytest.mark.parametrize("seed", [-1, 1.5, True, "7"])
def test_bad_seed_raises(tmp_path, seed):
    with pytest.raises(LeptotwinError, match="seed must be a non-negative integer"):
        _run(tmp_path / "out", [DRAWS], seed=seed)
    assert not (tmp_path / "out").exists()


# -- registry -----------------------------------------------------------------------------------


def test_register_section_runs_in_order(tmp_path, registry):
    calls: list[str] = []

    @register_section("second", order=20)
    def second(ctx: Context) -> SectionResult:
        calls.append("second")
        return SectionResult("Second")

    @register_section("first", order=10)
    def first(ctx: Context) -> SectionResult:
        calls.append("first")
        return SectionResult("First", claims=[ClaimResult("C2", "FAIL", "no relapse")])

    assert [s.name for s in registered_sections()] == ["first", "second"]
    result = _run(tmp_path / "out", None)
    assert calls == ["first", "second"]
    assert result.any_failed
    assert result.claims.set_index("id").loc["C2", "status"] == "FAIL"


def test_sections_selected_by_name(tmp_path, registry):
    register_section("draws", order=1)(_draws)
    register_section("viability", order=2)(_pass_c1)
    result = _run(tmp_path / "out", ["viability"])
    assert result.sections == ("viability",)
    with pytest.raises(LeptotwinError, match=r"unknown section.*'nope'.*draws, viability"):
        _run(tmp_path / "out2", ["nope"])


def test_duplicate_section_name_raises(registry):
    register_section("draws", order=1)(_draws)
    with pytest.raises(LeptotwinError, match="section name already registered"):
        register_section("draws", order=2)(_pass_c1)


def test_bad_section_name_raises():
    with pytest.raises(LeptotwinError, match="bad section name"):
        SectionSpec("Bad Name", 0, _draws)


def test_missing_sections_package_is_fine(monkeypatch, registry):
    monkeypatch.setattr(reproduce, "SECTIONS_PACKAGE", "leptotwin.study.no_such_sections")
    assert registered_sections() == []


def test_sections_package_is_discovered(tmp_path, monkeypatch, registry):
    pkg = tmp_path / "fake_sections_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "alpha.py").write_text(
        textwrap.dedent(
            """
            from leptotwin.study.reproduce import SectionResult, register_section

            @register_section("alpha", order=5)
            def alpha(ctx):
                return SectionResult("Alpha")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(reproduce, "SECTIONS_PACKAGE", "fake_sections_pkg")
    try:
        assert [s.name for s in registered_sections()] == ["alpha"]
    finally:
        for name in ("fake_sections_pkg", "fake_sections_pkg.alpha"):
            sys.modules.pop(name, None)


# -- malformed section results ------------------------------------------------------------------


def test_section_must_return_section_result(tmp_path):
    with pytest.raises(LeptotwinError, match="did not return a SectionResult"):
        _run(tmp_path / "out", [SectionSpec("bad", 0, lambda ctx: {"title": "x"})])
    assert not (tmp_path / "out" / "report.html").exists()


def test_unknown_claim_from_section_raises(tmp_path):
    def bad(ctx: Context) -> SectionResult:
        return SectionResult("Bad", claims=[ClaimResult("C42", ClaimStatus.PASS, "x")])

    with pytest.raises(LeptotwinError, match=r"unknown claim.*C42"):
        _run(tmp_path / "out", [SectionSpec("bad", 0, bad)])
    assert not (tmp_path / "out" / "claims.csv").exists()


def test_claim_reported_by_two_sections_raises(tmp_path):
    def again(ctx: Context) -> SectionResult:
        return SectionResult("Again", claims=[ClaimResult("C1", ClaimStatus.FAIL, "y")])

    with pytest.raises(LeptotwinError, match="claim reported by two sections"):
        _run(tmp_path / "out", [PASS_C1, SectionSpec("again", 30, again)])


@pytest.mark.parametrize("name", ["claims.csv", "../escape.csv", "sub/dir.csv", ""])
def test_bad_table_name_raises(tmp_path, name):
    def bad(ctx: Context) -> SectionResult:
        return SectionResult("Bad", tables={name: pd.DataFrame({"x": [1]})})

    with pytest.raises(LeptotwinError, match="bad table file name"):
        _run(tmp_path / "out", [SectionSpec("bad", 0, bad)])
    assert list((tmp_path / "out").iterdir()) == []


def test_table_name_used_by_two_sections_raises(tmp_path):
    def same(ctx: Context) -> SectionResult:
        return SectionResult("Same", tables={"draws": pd.DataFrame({"x": [1]})})

    with pytest.raises(LeptotwinError, match="table file name used twice"):
        _run(tmp_path / "out", [DRAWS, SectionSpec("same", 20, same)])


def test_pyplot_figures_closed_even_on_failure(tmp_path):
    import matplotlib.pyplot as plt

    def pyplot_section(ctx: Context) -> SectionResult:
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        return SectionResult("Pyplot", figures=[("p", fig)])

    spec = SectionSpec("pyplot_fig", 0, pyplot_section)
    before = set(plt.get_fignums())
    _run(tmp_path / "ok", [spec])
    assert set(plt.get_fignums()) == before
    with pytest.raises(RuntimeError):
        _run(tmp_path / "fail", [spec, BOOM])
    assert set(plt.get_fignums()) == before
