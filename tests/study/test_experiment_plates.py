"""Viability data in an experiment file as raw plate-reader exports with a layout.

From a tidy dose-response table (single-drug curves, two of them sharing their vehicle wells, a
combination with a partner at a fixed dose, recombinant AREG, a perturbation with its own vehicle
wells, doses in ng/mL on P2), the raw signals are made by hand as the inverse of the toolkit's
normalisation (blank 500 RLU + 1000 RLU per % of vehicle; each group's vehicle wells average
exactly 100 %): one grid export written by the toolkit's writer (plate P1) and one long
``plate,well,signal`` table (P2), plus the layout. The experiment loaded from them has the tidy
table's rows and the same likelihood as the experiment loaded from the table itself. Bad exports,
layouts and mappings are named by file, well or line, and field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.formats.plate import write_plate_reader
from leptotwin.study.calibrate_experiment import ExperimentLogLikelihood
from leptotwin.study.experiment import load_experiment_file

EGFR_W = "pathway.egfr_weight"
BLANK = 500.0
PER_PCT = 1000.0
ALECTINIB_MW = 482.6  # g/mol, the catalogue's (a dose of 48.26 ng/mL is 100 nM)

# plate, well, cell line, perturbation, drug, dose nM, partner, partner nM, response %
WELLS = [
    ("P1", "B02", "A925L/AR", "", "alectinib", 0, "", 0, 97.0),
    ("P1", "C02", "A925L/AR", "", "alectinib", 0, "", 0, 100.0),
    ("P1", "D02", "A925L/AR", "", "alectinib", 0, "", 0, 103.0),
    ("P1", "B03", "A925L/AR", "", "alectinib", 10, "", 0, 96.5),
    ("P1", "C03", "A925L/AR", "", "alectinib", 10, "", 0, 92.25),
    ("P1", "B04", "A925L/AR", "", "alectinib", 100, "", 0, 71.0),
    ("P1", "C04", "A925L/AR", "", "alectinib", 100, "", 0, 64.125),
    ("P1", "B05", "A925L/AR", "", "alectinib", 1000, "", 0, 31.5),
    ("P1", "C05", "A925L/AR", "", "alectinib", 1000, "", 0, 35.0),
    ("P1", "B06", "A925L/AR", "", "lorlatinib", 100, "", 0, 55.0),
    ("P1", "C06", "A925L/AR", "", "lorlatinib", 100, "", 0, 58.5),
    ("P1", "E02", "A925L/AR", "", "alectinib", 0, "erlotinib", 1000, 88.0),
    ("P1", "F02", "A925L/AR", "", "alectinib", 0, "erlotinib", 1000, 91.0),
    ("P1", "E03", "A925L/AR", "", "alectinib", 100, "erlotinib", 1000, 40.0),
    ("P1", "F03", "A925L/AR", "", "alectinib", 100, "erlotinib", 1000, 36.0),
    ("P2", "B02", "A925LPE3", "", "alectinib", 0, "", 0, 101.0),
    ("P2", "C02", "A925LPE3", "", "alectinib", 0, "", 0, 99.0),
    ("P2", "B03", "A925LPE3", "", "alectinib", 100, "", 0, 42.0),
    ("P2", "C03", "A925LPE3", "", "alectinib", 100, "", 0, 47.5),
    ("P2", "E03", "A925LPE3", "", "alectinib", 100, "AREG", 5, 77.0),
    ("P2", "F03", "A925LPE3", "", "alectinib", 100, "AREG", 5, 81.0),
    ("P2", "B05", "A925LPE3", "siAREG", "alectinib", 0, "", 0, 98.0),
    ("P2", "C05", "A925LPE3", "siAREG", "alectinib", 0, "", 0, 102.0),
    ("P2", "B06", "A925LPE3", "siAREG", "alectinib", 100, "", 0, 30.0),
]
BLANKS = [("P1", "A01"), ("P1", "H12"), ("P2", "A01"), ("P2", "H12")]


def _tidy() -> pd.DataFrame:
    cols = ["plate", "well", "cell_line", "perturbation", "drug", "dose", "partner_drug",
            "partner_conc_nM", "response"]  # fmt: skip
    t = pd.DataFrame(WELLS, columns=cols)
    t["partner_conc_nM"] = t["partner_conc_nM"].where(t["partner_drug"] != "", np.nan)
    return t


def _layout(t: pd.DataFrame) -> pd.DataFrame:
    """The layout of the tidy table's wells: vehicle wells (dose 0, no partner), samples, blanks;
    P1's alectinib doses in nM, P2's in ng/mL (converted with the catalogue's weight)."""
    vehicle = (t["dose"] == 0) & (t["partner_drug"] == "")
    ng = (t["plate"] == "P2") & (t["partner_drug"] == "")
    lay = pd.DataFrame(
        {
            "plate": t["plate"],
            "well": t["well"],
            "role": np.where(vehicle, "vehicle", "sample"),
            "cell_line": t["cell_line"],
            "drug_a": np.where(vehicle, "", t["drug"]),
            "conc_a": np.where(
                vehicle,
                "",
                [repr(float(x)) for x in np.where(ng, t["dose"] * ALECTINIB_MW / 1e3, t["dose"])],
            ),
            "drug_b": t["partner_drug"],
            "conc_b": [
                repr(float(x)) if p else ""
                for x, p in zip(t["partner_conc_nM"], t["partner_drug"], strict=True)
            ],
            "conc_unit": np.where(vehicle, "", np.where(ng, "ng/mL", "nM")),
            "perturbation": t["perturbation"],
            "replicate": "",
        }
    )
    blanks = pd.DataFrame({"plate": [p for p, _ in BLANKS], "well": [w for _, w in BLANKS],
                           "role": "blank"})  # fmt: skip
    return pd.concat([lay, blanks], ignore_index=True).fillna("")


def _signals(t: pd.DataFrame) -> pd.DataFrame:
    reads = pd.DataFrame(
        {"plate": t["plate"], "well": t["well"], "signal": BLANK + PER_PCT * t["response"]}
    )
    blanks = pd.DataFrame({"plate": [p for p, _ in BLANKS], "well": [w for _, w in BLANKS],
                           "signal": BLANK})  # fmt: skip
    return pd.concat([reads, blanks], ignore_index=True)


def _yaml(viability: str) -> str:
    return f"""\
name: plates
model: lmc_mouse
data:
  viability: {viability}
observables:
  viability: {{unit: "%", noise: normal, sigma: 5}}
estimate: [{EGFR_W}]
"""


PLATES = "{plates: [plate1.csv, P2.csv], layout: layout.csv}"


def _write(tmp: Path, *, layout: pd.DataFrame | None = None, drop: str | None = None) -> Path:
    """The tidy table, both exports, the layout and both experiment files in ``tmp``."""
    t = _tidy()
    t.to_csv(tmp / "viability.csv", index=False)
    reads = _signals(t)
    write_plate_reader(tmp / "plate1.csv", reads[reads["plate"] == "P1"])
    p2 = reads[(reads["plate"] == "P2") & (reads["well"] != drop)]
    p2.to_csv(tmp / "P2.csv", index=False)  # a long table: plate, well, signal
    (_layout(t) if layout is None else layout).to_csv(tmp / "layout.csv", index=False)
    (tmp / "tidy.yaml").write_text(_yaml("viability.csv"))
    (tmp / "plates.yaml").write_text(_yaml(PLATES))
    return tmp / "plates.yaml"


def test_plates_and_layout_give_the_tidy_tables_likelihood(tmp_path: Path) -> None:
    plates = load_experiment_file(_write(tmp_path))
    tidy = load_experiment_file(tmp_path / "tidy.yaml")
    order = ["plate", "curve", "dose_nM", "value"]
    a = plates.viability.sort_values(order, kind="stable")
    b = tidy.viability.sort_values(order, kind="stable")
    # every well once: blanks out, P1's vehicle wells (of both single-drug curves) not repeated
    assert len(a) == len(WELLS)
    for col in ("cell_line", "perturbation", "drug", "partner", "plate", "curve"):
        assert list(a[col]) == list(b[col]), col
    np.testing.assert_allclose(a["dose_nM"], b["dose_nM"], rtol=1e-12)
    np.testing.assert_allclose(a["partner_nM"], b["partner_nM"], rtol=1e-12)
    np.testing.assert_allclose(a["value"], b["value"], rtol=1e-12)
    assert "plate1.csv:plate P1, well E03" in set(plates.viability["source"])
    assert "P2.csv:plate P2, well B06" in set(plates.viability["source"])
    theta = np.array([4.8])
    ll_plates = ExperimentLogLikelihood(plates, [EGFR_W])(theta)
    ll_tidy = ExperimentLogLikelihood(tidy, [EGFR_W])(theta)
    assert np.isfinite(ll_tidy)
    assert ll_plates == pytest.approx(ll_tidy, rel=1e-12, abs=1e-12)


def test_a_layout_without_plate_ids_serves_every_plate(tmp_path: Path) -> None:
    t = _tidy()
    t = t[t["plate"] == "P1"]
    lay = _layout(t)
    lay = lay[lay["plate"] == "P1"].drop(columns="plate")
    reads = _signals(t)
    reads = reads[reads["plate"] == "P1"]
    write_plate_reader(tmp_path / "a.csv", reads.assign(plate="A"))
    write_plate_reader(tmp_path / "b.csv", reads.assign(plate="B"))
    lay.to_csv(tmp_path / "layout.csv", index=False)
    path = tmp_path / "e.yaml"
    path.write_text(_yaml("{plates: [a.csv, b.csv], layout: layout.csv}"))
    v = load_experiment_file(path).viability
    assert list(pd.unique(v["plate"])) == ["A", "B"]
    assert len(v) == 2 * len(t)
    single = v["plate"] == "A"
    np.testing.assert_allclose(np.sort(v.loc[single, "value"]), np.sort(t["response"]), rtol=1e-12)


def test_a_layout_well_missing_from_the_export(tmp_path: Path) -> None:
    with pytest.raises(LeptotwinError) as e:
        load_experiment_file(_write(tmp_path, drop="C03"))
    assert e.value.source == "P2.csv"
    assert e.value.field == "plate P2, well C03, signal"


def test_an_export_that_does_not_parse(tmp_path: Path) -> None:
    path = _write(tmp_path)
    export = tmp_path / "plate1.csv"
    text = export.read_text()
    assert text.count(",97000,") == 1  # P1 B03: 500 + 1000 * 96.5
    export.write_text(text.replace(",97000,", ",97O00,"))
    with pytest.raises(LeptotwinError) as e:
        load_experiment_file(path)
    assert Path(str(e.value.source)).name == "plate1.csv"
    assert str(e.value.field).endswith("well B03")
    assert e.value.value == "97O00"


def test_a_layout_naming_an_unknown_cell_line(tmp_path: Path) -> None:
    lay = _layout(_tidy())
    lay.loc[lay["well"] == "E03", "cell_line"] = "H3122"
    with pytest.raises(LeptotwinError) as e:
        load_experiment_file(_write(tmp_path, layout=lay))
    err = e.value
    assert (err.source, err.field, err.value) == ("layout.csv", "plate P1, well E03, cell_line",
                                                  "H3122")  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ("{plate: plate1.csv, plates: [P2.csv], layout: layout.csv}", "data.viability",
         "both plate and plates given"),
        ("{plates: [plate1.csv, P2.csv]}", "data.viability.layout", "missing field"),
        ("{plates: [plate1.csv], layout: layout.csv, decimal: ','}", "data.viability.decimal",
         "unknown field"),
        ("{plates: [plate1.csv], layout: layout.csv}", "plate", "plate in the layout is in no "
         "export"),
        ("[viability.csv]", "data.viability", "neither a file name nor a mapping"),
    ],
)  # fmt: skip
def test_bad_viability_mappings(tmp_path: Path, entry: str, field: str, message: str) -> None:
    _write(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(_yaml(entry))
    with pytest.raises(LeptotwinError) as e:
        load_experiment_file(path)
    assert str(e.value.field).endswith(field)
    assert e.value.message == message


def test_the_examples_plates_give_its_tidy_table() -> None:
    """examples/own-lab: viability_plates.yaml (export + layout) holds viability.csv's wells,
    whose responses are the same normalisation rounded to 0.01 %."""
    folder = Path(__file__).resolve().parents[2] / "examples" / "own-lab"
    order = ["plate", "curve", "dose_nM", "value"]
    a = load_experiment_file(folder / "viability_plates.yaml").viability.sort_values(order)
    b = load_experiment_file(folder / "viability.yaml").viability.sort_values(order)
    assert len(a) == len(b) == 120
    for col in ("plate", "curve", "cell_line", "drug", "partner"):
        assert list(a[col]) == list(b[col]), col
    np.testing.assert_array_equal(a["dose_nM"], b["dose_nM"])
    np.testing.assert_array_equal(a["partner_nM"], b["partner_nM"])
    np.testing.assert_allclose(a["value"], b["value"], rtol=0, atol=0.005 + 1e-9)
