"""``leptotwin fit-curves``: real reference data, plate files, and bad input as one-line errors or
QC-flagged rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leptotwin.assays import CurveSpec, design_plates, simulate_viability
from leptotwin.formats import write_layout, write_plate_reader
from refdata import DOSE_RESPONSE

SHARED = DOSE_RESPONSE
SUMMARY_SVGS = ("summary_curves.svg", "summary_qc.svg", "summary_ic50.svg")


def _curves_csv(path, n_curves, *, seed=0):
    """``n_curves`` noisy LL.4 curves (8 doses x 2) with text labels; the first one flat."""
    rng = np.random.default_rng(seed)
    doses = np.repeat([0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], 2)
    labels = [f"line {k:04d} | drug α" for k in range(n_curves)]
    e = np.exp(rng.uniform(-4, 2, n_curves))
    mean = 5 + 95 / (1 + (doses[None, :] / e[:, None]) ** 1.5)
    mean[0] = 50.0
    frame = pd.DataFrame(
        {
            "curve": np.repeat(labels, doses.size),
            "dose": np.tile(doses, n_curves),
            "response": (mean + rng.normal(0, 3, mean.shape)).ravel(),
        }
    )
    frame.to_csv(path, index=False)
    return path, labels


def test_reference_data_set(run_cli, tmp_path):
    code, _, err = run_cli("fit-curves", str(SHARED / "S.alba.csv"), "--out", str(tmp_path / "o"))
    assert code == 0, err
    fits = pd.read_csv(tmp_path / "o" / "fits.csv")
    assert list(fits.columns) == [
        "curve",
        "model",
        "param",
        "estimate",
        "se",
        "lower",
        "upper",
        "rss",
        "ok",
    ]
    assert fits["curve"].nunique() == 2
    assert {p.name for p in (tmp_path / "o").glob("summary_*")} == set(SUMMARY_SVGS)


def test_plate_and_layout(run_cli, tmp_path):
    lay = design_plates(
        [CurveSpec("A925LPE3", "alectinib"), CurveSpec("A925L/AR", "alectinib")],
        [1, 3, 10, 30, 100, 300, 1000, 3000, 10000],
    )
    wells = simulate_viability(lay, rng=np.random.default_rng(0))
    write_plate_reader(tmp_path / "export.csv", wells[["plate", "well", "signal"]])
    layout = lay.rename(columns={"conc_a_nM": "conc_a", "conc_b_nM": "conc_b"}).drop(
        columns="curve"
    )
    layout["conc_unit"] = "nM"
    layout["replicate"] = 1
    write_layout(tmp_path / "layout.csv", layout)
    code, _, err = run_cli(
        "fit-curves",
        "--plate",
        str(tmp_path / "export.csv"),
        "--layout",
        str(tmp_path / "layout.csv"),
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    qc = pd.read_csv(tmp_path / "o" / "qc.csv")
    assert len(qc) == 2 and qc["ok"].all()


def _csv(tmp_path, text):
    p = tmp_path / "in.csv"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("curve,dose\na,1\n", r"missing column.*response"),
        ("curve,dose,response\na,one,5\na,2,4\n", r"dose"),
        ("curve,dose,response\na,-1,5\na,2,4\na,3,3\n", r"dose"),
        ("curve,dose,dose,response\na,1,1,5\n", r"duplicated column header"),
        ("curve,dose,response\na,1,\na,2,\na,3,\n", r"respon"),
    ],
)
def test_bad_input_one_line_exit_2(run_cli, tmp_path, text, pattern):
    code, _, err = run_cli("fit-curves", str(_csv(tmp_path, text)), "--out", str(tmp_path / "o"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leptotwin: error:")
    assert pd.Series(lines).str.contains(pattern, regex=True).all(), err
    assert not (tmp_path / "o").exists()


def test_single_dose_curve_is_flagged_not_fatal(run_cli, tmp_path):
    rows = ["curve,dose,response"]
    rows += [f"good,{d},{100 / (1 + d / 10):.4f}" for d in (0, 1, 3, 10, 30, 100, 300, 1000)]
    rows += ["single,5,50", "single,5,52"]
    code, _, err = run_cli(
        "fit-curves",
        str(_csv(tmp_path, "\n".join(rows) + "\n")),
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 0, err
    qc = pd.read_csv(tmp_path / "o" / "qc.csv").set_index("curve")
    assert bool(qc.loc["good", "ok"]) and not bool(qc.loc["single", "ok"])


def test_unknown_model(run_cli, tmp_path):
    code, _, err = run_cli(
        "fit-curves",
        str(_csv(tmp_path, "curve,dose,response\n")),
        "--model",
        "LL.9",
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 2 and "unknown model" in err


def test_missing_file(run_cli, tmp_path):
    code, _, err = run_cli("fit-curves", str(tmp_path / "nope.csv"))
    assert code == 2 and "file not found" in err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_chunked_and_dask_fits_are_bit_identical():
    """Curves are fitted independently: chunks of 7 curves fitted here, and the same chunks on a
    Dask cluster of two in-process workers, give exactly the single-batch numbers."""
    from distributed import Client, LocalCluster

    from leptotwin.study.fit_curves import fit_tables

    rng = np.random.default_rng(9)
    doses = np.repeat([0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], 3)
    rows = []
    for k in range(20):
        e, b = np.exp(rng.uniform(-3, 1)), rng.uniform(0.7, 2.5)
        mean = 5 + 95 / (1 + (np.maximum(doses, 1e-12) / e) ** b)
        rows.append(
            pd.DataFrame(
                {
                    "curve": f"c{k:02d}",
                    "dose": doses,
                    "response": mean + rng.normal(0, 4, doses.size),
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True)
    whole, qc_whole = fit_tables(frame, chunk_curves=1000)
    chunked, qc_chunked = fit_tables(frame, chunk_curves=7)
    pd.testing.assert_frame_equal(whole, chunked, check_exact=True)
    pd.testing.assert_frame_equal(qc_whole, qc_chunked, check_exact=True)
    with (
        LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        on_dask, _ = fit_tables(frame, chunk_curves=7, scheduler=client)
    pd.testing.assert_frame_equal(whole, on_dask, check_exact=True)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"in\.csv: empty file"),
        (bytes(range(256)) * 4, r"in\.csv: binary file"),
        (b"plate,well,signal\n1,A1,5\n", r"in\.csv: curve: missing column"),
        (b"curve,dose,response\nA,1,abc\n", r"in\.csv: response: not a number at line 2"),
        (b"curve,dose,response\nA,1,nan\nA,2,4\n", r"in\.csv: response: not a number at line 2"),
        (b"curve,dose,response\nA,-1,5\n", r"in\.csv: dose: negative dose at line 2"),
        (b"curve,dose,response\nA,1e308,5\n", r"in\.csv: dose: beyond 1e\+15 at line 2"),
        (b"curve,dose,response\nA,1,1e308\n", r"in\.csv: response: not a finite number"),
        (b"curve,dose,response\nA,1,inf\n", r"in\.csv: response: not a finite number"),
        (b"curve,dose,response\n", r"in\.csv: no data rows"),
    ],
    ids=[
        "empty",
        "binary",
        "wrong-columns",
        "text",
        "nan",
        "negative-dose",
        "huge-dose",
        "huge-response",
        "inf-response",
        "header-only",
    ],
)
def test_bad_files_give_one_line_naming_file_column_value(run_cli, tmp_path, content, pattern):
    """Issue 12: empty and binary files gave pandas/Unicode tracebacks, NaN responses were
    dropped, 1e308 values were fitted with RuntimeWarnings, a header alone wrote empty results."""
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    code, out, err = run_cli("fit-curves", str(path), "--out", str(tmp_path / "o"))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("leptotwin: error:"), err
    assert pd.Series(lines).str.contains(pattern, regex=True).all(), err
    assert "Traceback" not in err + out
    assert not (tmp_path / "o").exists()


def test_flat_curve_is_flagged_in_qc_and_fits(run_cli, tmp_path):
    rows = ["curve,dose,response"]
    rows += [f"good,{d},{100 / (1 + d / 10):.4f}" for d in (0, 1, 3, 10, 30, 100, 300, 1000)]
    rows += [f"flat,{d},50" for d in (0, 1, 3, 10, 30, 100, 300, 1000)]
    code, _, err = run_cli(
        "fit-curves", str(_csv(tmp_path, "\n".join(rows) + "\n")), "--out", str(tmp_path / "o")
    )
    assert code == 0, err
    qc = pd.read_csv(tmp_path / "o" / "qc.csv").set_index("curve")
    assert qc.loc["flat", "status"] == "flat" and not qc.loc["flat", "ok"]
    assert np.isnan(qc.loc["flat", "ic50"]) and qc.loc["good", "ok"]
    fits = pd.read_csv(tmp_path / "o" / "fits.csv").set_index(["curve", "param"])
    assert np.isnan(fits.loc[("flat", "e"), "estimate"])
    assert fits.loc[("flat", "d"), "estimate"] == 50


def test_match_drc_option_keeps_drcs_sign_of_b(run_cli, tmp_path):
    """lettuce W1.4: the lowest RSS has b < 0 (c > d), RSS 0.83 x drc's; --match-drc gives drc
    3.2-0's fit (b = 0.983, same RSS)."""
    ref = pd.read_csv(SHARED / "drc_reference_fits.csv")
    drc = ref[(ref["dataset"] == "lettuce") & (ref["model"] == "W1.4")].set_index("param")
    fits = {}
    for flag in ([], ["--match-drc"]):
        out = tmp_path / ("drc" if flag else "both")
        code, _, err = run_cli(
            "fit-curves", str(SHARED / "lettuce.csv"), "--model", "W1.4", "--out", str(out), *flag
        )
        assert code == 0, err
        fits[bool(flag)] = pd.read_csv(out / "fits.csv").set_index("param")
    assert fits[False].loc["b", "estimate"] < 0
    assert fits[False].loc["b", "rss"] < 0.85 * drc.loc["b", "rss"]
    assert fits[True].loc["b", "estimate"] == pytest.approx(drc.loc["b", "estimate"], rel=1e-3)
    assert fits[True].loc["b", "rss"] == pytest.approx(drc.loc["b", "rss"], rel=1e-6)


def test_figures_option_summary_all_none_same_tables(run_cli, tmp_path):
    """Issue 14: the default drew one figure per set of 8 curves and held them all until the end
    (5.2 GB at 10^4 curves). Now: three summary figures by default, one per set only with
    --figures all, none with --figures none; fits.csv and qc.csv are the same bytes in all
    three."""
    data, _ = _curves_csv(tmp_path / "in.csv", 30)
    outs = {}
    for mode in ("summary", "all", "none"):
        outs[mode] = tmp_path / mode
        flag = [] if mode == "summary" else ["--figures", mode]
        code, _, err = run_cli("fit-curves", str(data), "--out", str(outs[mode]), *flag)
        assert code == 0, err
    sets = {f"curves_{k:02d}.png" for k in range(1, 5)}  # 30 curves: sets of 8
    figs = {mode: {p.name for p in out.glob("*.[ps][nv]g")} for mode, out in outs.items()}
    assert figs == {"summary": set(SUMMARY_SVGS), "all": set(SUMMARY_SVGS) | sets, "none": set()}
    for name in SUMMARY_SVGS:  # the same summary figures with and without the per-set ones
        assert (outs["all"] / name).read_bytes() == (outs["summary"] / name).read_bytes()
    for mode in ("all", "none"):
        for name in ("fits.csv", "qc.csv"):
            assert (outs[mode] / name).read_bytes() == (outs["summary"] / name).read_bytes()
    code, _, err = run_cli(
        "fit-curves", str(data), "--figures", "every", "--out", str(tmp_path / "x")
    )
    assert code == 2 and "--figures: unknown figure set" in err and "summary, all or none" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_data_sets_are_figure_sets_and_names_cannot_collide(tmp_path):
    """With a dataset column each data set is a figure set; a data set called like a summary
    figure or a table gets its own file instead of overwriting it."""
    from leptotwin.study.fit_curves import run_fit_curves

    path = tmp_path / "in.csv"
    frame = pd.concat(
        [pd.read_csv(_curves_csv(tmp_path / f"{k}.csv", 3, seed=k)[0]).assign(dataset=name)
         for k, name in enumerate(["summary_qc", "qc", "a/b"])]
    )  # fmt: skip
    frame.to_csv(path, index=False)
    paths = run_fit_curves(data=path, out_dir=tmp_path / "o", figures="all")
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == sorted(["fits.csv", "qc.csv", *SUMMARY_SVGS, "summary_qc_2.png", "qc_2.png",
                            "a_b.png"])  # fmt: skip
    assert len(paths) == len(names) and all(p.is_file() for p in paths.values())


def _svg(path):
    import xml.etree.ElementTree as ET

    return ET.parse(path).getroot()


def _of_class(root, name):
    return [e for e in root.iter() if name in (e.get("class") or "").split()]


def _texts(root):
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_two_thousand_text_labels_summary_grid_names_the_first_sets(tmp_path):
    """2,000 curves with text labels: the tables have every curve, the default writes the three
    summary figures only (SVG, without importing matplotlib), and the summary grid shows the
    first 12 sets of 8 (in input order), each panel titled with its set, naming its curves and
    drawing each curve's observations and fitted line within its axis ranges."""
    import sys

    from leptotwin.analysis.doseresponse import DoseResponseFitter
    from leptotwin.study.fit_curves import (
        SUMMARY_SETS,
        curve_sets,
        run_fit_curves,
        summary_curves_figure,
    )

    data, labels = _curves_csv(tmp_path / "in.csv", 2000, seed=4)
    had_mpl = "matplotlib" in sys.modules
    paths = run_fit_curves(data=data, out_dir=tmp_path / "o")
    assert had_mpl or "matplotlib" not in sys.modules
    assert sorted(paths) == ["fits", "qc", "summary_curves", "summary_ic50", "summary_qc"]
    qc = pd.read_csv(paths["qc"])
    assert list(qc["curve"]) == labels and qc["ok"].sum() >= 1990
    frame = pd.read_csv(data)
    sets = curve_sets(frame)
    assert len(sets) == 250 and SUMMARY_SETS == 12
    root = _svg(paths["summary_curves"])
    panels = _of_class(root, "panel")
    assert [p.get("data-title") for p in panels] == [f"curves_{k:02d}" for k in range(1, 13)]
    shown = [t for p in panels for e in _of_class(p, "legend-entry") for t in _texts(e)]
    assert shown == labels[: 12 * 8]
    assert "LL.4 fits: first 12 of 250 curve sets (2000 curves)" in _texts(root)
    for p, set_labels in zip(panels, list(sets.values())[:12], strict=True):
        rows = frame[frame["curve"].isin(set_labels)]
        assert len(_of_class(p, "curve")) == len(set_labels)  # one fitted line per curve
        assert len(_of_class(p, "point")) == len(rows)  # every observation
        xlo, xhi = map(float, p.get("data-xlim").split())
        ylo, yhi = map(float, p.get("data-ylim").split())
        assert p.get("data-xscale") == "log"
        assert xlo < 0.01 / 10 < 10 < xhi  # dose 0 a decade below the smallest positive dose
        assert ylo < rows["response"].min() and rows["response"].max() < yhi
        assert "0" in [t for e in _of_class(p, "xtick") for t in _texts(e)]
    # the same figure from the whole fit, as the API gives it
    fitter = DoseResponseFitter("LL.4").fit(frame)
    again = summary_curves_figure(fitter, frame, sets, n_sets=2)
    assert [p.get("data-title") for p in _of_class(_svg_text(again), "panel")] == [
        "curves_01",
        "curves_02",
    ]


def _svg_text(fig):
    import xml.etree.ElementTree as ET

    return ET.fromstring(fig.to_svg().encode())


def test_qc_and_ic50_figures_count_what_the_qc_table_says(tmp_path):
    """The QC figure's bars are the status counts and its R² histogram holds every fitted
    curve; the IC50 histogram holds the converged curves with an IC50, within and beyond the
    tested doses as qc.csv says, on a log axis a decade beyond the doses."""
    from leptotwin.study.fit_curves import run_fit_curves

    data, _ = _curves_csv(tmp_path / "in.csv", 300, seed=7)
    paths = run_fit_curves(data=data, out_dir=tmp_path / "o")
    qc = pd.read_csv(paths["qc"])
    root = _svg(paths["summary_qc"])
    bars = _of_class(root, "hbar")
    counts = qc["status"].value_counts()
    got = {b.find("{http://www.w3.org/2000/svg}title").text: b for b in bars}
    assert set(got) == set(counts.index)
    widths = {k: float(b.get("width")) for k, b in got.items()}
    top = counts.idxmax()
    for status, n in counts.items():  # bar lengths in proportion to the counts
        assert widths[status] / widths[top] == pytest.approx(n / counts.max(), abs=1e-3)
    assert f"{len(qc)} curves, {int(qc['ok'].sum())} ok" in _texts(root)
    r2 = qc["r2"].dropna()
    assert f"R² of {len(r2)} fitted curves" in _texts(root)
    (r2_panel,) = [p for p in _of_class(root, "panel") if p.get("data-title").startswith("R²")]
    assert float(r2_panel.get("data-xlim").split()[1]) == 1.0
    assert 0 < len(_of_class(r2_panel, "bar")) <= 40
    root = _svg(paths["summary_ic50"])
    use = qc["ok"] & qc["ic50"].gt(0)
    inside = int((use & qc["ic50_in_range"]).sum())
    legend = [t for e in _of_class(root, "legend-entry") for t in _texts(e)]
    assert legend == [f"within tested doses ({inside})", f"beyond ({int(use.sum()) - inside})"]
    (panel,) = _of_class(root, "panel")
    xlo, xhi = map(float, panel.get("data-xlim").split())
    assert xlo == pytest.approx(qc["dose_min"].min() / 10) and xhi == pytest.approx(100.0)
    ylo, yhi = map(float, panel.get("data-ylim").split())
    edges = np.linspace(np.log10(xlo), np.log10(xhi), 41)
    log_ic50 = np.log10(np.clip(qc["ic50"], xlo, xhi))
    n_in = np.histogram(log_ic50[use & qc["ic50_in_range"]], bins=edges)[0]
    n_out = np.histogram(log_ic50[use & ~qc["ic50_in_range"]], bins=edges)[0]
    assert len(_of_class(panel, "bar-within")) == np.count_nonzero(n_in) > 5
    assert len(_of_class(panel, "bar-beyond")) == np.count_nonzero(n_out)
    assert ylo == 0 and (n_in + n_out).max() < yhi <= 1.2 * (n_in + n_out).max()
