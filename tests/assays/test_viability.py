"""Virtual viability assay: plate geometry, readouts, noise, reproducibility, errors."""

from __future__ import annotations

import numpy as np
import pytest

from leptotwin.assays import CurveSpec, design_plates, simulate_viability
from leptotwin.errors import LeptotwinError

DOSES = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000]


def _layout(n_curves=2):
    specs = [
        CurveSpec("A925LPE3", "alectinib"),
        CurveSpec("A925L/AR", "alectinib"),
        CurveSpec("A925L/AR", "alectinib", partner="erlotinib", partner_nM=1000.0),
    ]
    return design_plates(specs[:n_curves], DOSES)


def test_design_geometry():
    lay = _layout(3)
    assert len(lay) == 192 and lay["plate"].nunique() == 2
    p1 = lay[lay["plate"] == "P01"]
    assert (p1["role"] == "sample").sum() == 2 * 3 * 9
    assert (p1["role"] == "vehicle").sum() == 6
    outer = p1["well"].str[0].isin(["A", "H"]) | p1["well"].str[1:].isin(["01", "12"])
    assert (p1.loc[outer, "role"] == "blank").all()
    combo = lay[lay["curve"].str.contains("erlotinib")]
    assert (combo["conc_b_nM"] == 1000.0).all()  # partner also in the curve's vehicle wells


def test_design_rejects_wrong_dose_count_and_format():
    with pytest.raises(LeptotwinError, match="9 positive doses"):
        design_plates([CurveSpec("A925LPE3", "alectinib")], [1, 10, 100])
    with pytest.raises(LeptotwinError, match="unsupported plate format.*96 or 384"):
        design_plates([CurveSpec("A925LPE3", "alectinib")], DOSES, plate_format=1536)


def test_design_384_holds_eight_curves_and_simulates():
    specs = [CurveSpec("A925LPE3" if i % 2 else "A925L/AR", "alectinib") for i in range(8)]
    lay = design_plates(specs, DOSES, plate_format=384)
    assert len(lay) == 384 and lay["plate"].nunique() == 1
    assert (lay["role"] == "sample").sum() == 8 * 3 * 9
    assert lay["curve"].nunique() == 3  # two labels plus blanks ("")
    edge = lay["well"].str[0].isin(["A", "P"]) | lay["well"].str[1:].isin(["01", "24"])
    assert (lay.loc[edge, "role"] == "blank").all()
    w = simulate_viability(lay, rng=np.random.default_rng(8), edge_effect=True)
    assert w.loc[w["role"] == "vehicle", "signal"].mean() > 1e5


def test_same_seed_same_plate_and_noise_present():
    lay = _layout()
    a = simulate_viability(lay, rng=np.random.default_rng(11))
    b = simulate_viability(lay, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a["signal"], b["signal"])
    veh = a[(a["role"] == "vehicle") & (a["cell_line"] == "A925LPE3")]["signal"]
    cv = veh.std() / veh.mean()
    assert 0.02 < cv < 0.2


def test_blanks_read_background_and_signal_tracks_cells():
    w = simulate_viability(_layout(), rng=np.random.default_rng(2))
    blanks = w[w["role"] == "blank"]["signal"]
    assert blanks.mean() == pytest.approx(150, rel=0.1)
    cells = w[w["role"] != "blank"]
    corr = np.corrcoef(cells["signal"], cells["true_live_cells"])[0, 1]
    assert corr > 0.99


def test_ar_cells_secrete_more_areg_into_medium():
    w = simulate_viability(_layout(), rng=np.random.default_rng(3))
    veh = w[w["role"] == "vehicle"].groupby("cell_line")["true_medium_areg_pg_mL"].mean()
    assert veh["A925L/AR"] / veh["A925LPE3"] > 3.0


def test_mtt_readout_bounded():
    w = simulate_viability(_layout(), rng=np.random.default_rng(4), readout="mtt")
    assert w["signal"].between(0, 3.5).all()
    assert w.loc[w["role"] == "vehicle", "signal"].mean() > 0.5


def test_edge_effect_lowers_outer_wells():
    lay = _layout()
    lay["role"] = "vehicle"
    lay["cell_line"] = "A925LPE3"
    lay["drug_a"] = ""
    on = simulate_viability(lay, rng=np.random.default_rng(5), edge_effect=True)
    outer = on["well"].str[0].isin(["A", "H"]) | on["well"].str[1:].isin(["01", "12"])
    ratio = on.loc[outer, "true_live_cells"].mean() / on.loc[~outer, "true_live_cells"].mean()
    assert ratio < 0.95


def test_edges_are_those_of_the_plate_the_wells_are_on():
    """A 384-well layout that lists only rows A-H (columns up to 24) is on a 384-well plate:
    row H is inside it, not an edge. (Was taken for a 96-well plate, from the row letters
    alone, and refused: 'A13' is not a well of a 96-well plate.)"""
    lay = design_plates([CurveSpec("A925LPE3", "alectinib")] * 8, DOSES, plate_format=384)
    top = lay[lay["well"].str[0] <= "H"].assign(
        role="vehicle", cell_line="A925LPE3", drug_a="", conc_a_nM=0.0
    )
    w = simulate_viability(top, rng=np.random.default_rng(13), edge_effect=True)
    row, col = w["well"].str[0], w["well"].str[1:].astype(int)
    outer = (row == "A") | col.isin([1, 24])
    row_h = (row == "H") & ~outer
    n = w["true_live_cells"]
    inner = n[~outer & ~row_h].mean()
    assert n[outer].mean() / inner < 0.9
    assert n[row_h].mean() / inner == pytest.approx(1.0, abs=0.05)


def test_bad_layout_and_readout():
    with pytest.raises(LeptotwinError, match="layout lacks columns.*conc_a_nM"):
        simulate_viability(_layout().drop(columns=["conc_a_nM"]), rng=np.random.default_rng(0))
    with pytest.raises(LeptotwinError, match="unknown readout"):
        simulate_viability(_layout(), rng=np.random.default_rng(0), readout="trypan")


def test_mixture_of_lines_sums_its_components():
    """A population harvested from a tumour, 25 % parental + 75 % AR, grows as the weighted sum
    of the pure lines. Not exactly: each component's own secreted AREG scales with its seeding,
    and medium AREG feeds back on growth a little (≤ 0.1 %)."""
    lay = _layout()
    mix = lay.copy()
    mix.loc[mix["cell_line"] != "", "cell_line"] = "harvest"
    out = simulate_viability(
        mix,
        rng=np.random.default_rng(12),
        mixtures={"harvest": [("A925LPE3", 0.25), ("A925L/AR", 0.75)]},
    )
    pure_p = lay.assign(cell_line=np.where(lay["cell_line"] != "", "A925LPE3", ""))
    pure_r = lay.assign(cell_line=np.where(lay["cell_line"] != "", "A925L/AR", ""))
    a = simulate_viability(pure_p, rng=np.random.default_rng(12))["true_live_cells"]
    b = simulate_viability(pure_r, rng=np.random.default_rng(12))["true_live_cells"]
    np.testing.assert_allclose(out["true_live_cells"], 0.25 * a + 0.75 * b, rtol=1e-3)
    with pytest.raises(LeptotwinError, match="mixture fractions"):
        simulate_viability(mix, rng=np.random.default_rng(0), mixtures={"harvest": []})
