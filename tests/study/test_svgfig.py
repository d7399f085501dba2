"""The SVG figure writer (issue 14 item 2: summary figures without matplotlib): valid XML, what is
drawn matches the data (read back from the document), ticks and colours against hand values."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from leptotwin.errors import LeptotwinError
from leptotwin.study._svgfig import (
    DIVERGING,
    HeatmapPanel,
    SvgFigure,
    diverging_colors,
    heatmap_panels,
    linear_ticks,
    log_ticks,
)

NS = {"s": "http://www.w3.org/2000/svg"}


def _parse(fig: SvgFigure) -> ET.Element:
    return ET.fromstring(fig.to_svg().encode("utf-8"))


def _cls(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in (e.get("class") or "").split()]


def test_ticks_are_round_and_within_the_limits():
    assert linear_ticks(0, 10).tolist() == [0, 2, 4, 6, 8, 10]
    assert linear_ticks(-0.3, 1.0).tolist() == [0, 0.5, 1.0]
    assert linear_ticks(-0.3, 1.0, 8).tolist() == [-0.2, 0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert linear_ticks(0.17, 1.0).tolist() == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert log_ticks(1e-3, 10).tolist() == [1e-3, 1e-2, 1e-1, 1, 10]
    assert log_ticks(1e-9, 1e9).tolist() == [1e-9, 1e-6, 1e-3, 1, 1e3, 1e6, 1e9]
    assert log_ticks(0.3, 4.0).tolist() == [0.5, 1, 2]  # under 2 decades: 2 and 5 too
    assert linear_ticks(3.0, 3.0).tolist() == [3.0]
    # an axis of counts: whole numbers only
    assert linear_ticks(0, 2.36, integer=True).tolist() == [0, 1, 2]
    assert linear_ticks(0, 1.05, integer=True).tolist() == [0, 1]
    assert linear_ticks(0, 12, integer=True).tolist() == [0, 3, 6, 9, 12]
    assert linear_ticks(0, 1000, integer=True).tolist() == linear_ticks(0, 1000).tolist()


def test_count_axes_are_ticked_at_whole_numbers():
    """A histogram of two curves: its counts axis shows 0 and 1, not 0.25 steps."""
    fig = SvgFigure(300, 200)
    p = fig.panel((40, 20, 240, 150), (0, 1), (0, 1.05), ylabel="curves", ycounts=True)
    p.bars([0.1, 0.5], [0.2, 0.6], [1, 1])
    assert [float(g.get("data-value")) for g in _cls(_parse(fig), "ytick")] == [0.0, 1.0]
    # the same panel without ycounts is ticked in quarters
    fig = SvgFigure(300, 200)
    fig.panel((40, 20, 240, 150), (0, 1), (0, 1.05), ylabel="curves")
    assert len(_cls(_parse(fig), "ytick")) > 2


def test_lines_markers_bars_read_back_at_their_data_positions():
    fig = SvgFigure(400, 300, title='t <&> "q"')
    p = fig.panel((50, 30, 300, 200), (1e-3, 10), (0, 100), xlog=True, title="p",
                  xlabel="dose (µM)", ylabel="response (%)")  # fmt: skip
    x = np.array([1e-3, 1e-2, np.nan, 1.0, 10.0])
    p.polyline(x, [100, 80, 50, 20, 0], label="curve a&b")
    p.markers(x, [100, 80, 50, 20, 0])
    p.bars([1e-3, 1e-2, 1e-1], [1e-2, 1e-1, 1.0], [10, 0, 50])
    root = _parse(fig)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    (panel,) = _cls(root, "panel")
    assert panel.get("data-xlim") == "0.001 10.0" and panel.get("data-xscale") == "log"
    (path,) = _cls(root, "curve")
    d = path.get("d")
    assert d.count("M") == 2 and d.count("L") == 2  # the NaN breaks the line in two
    first = [float(v) for v in d[1:].split("L")[0].split()]
    assert first == pytest.approx([50.0, 30.0])  # (1e-3, 100): top left corner of the box
    points = _cls(root, "point")
    assert len(points) == 4
    cx = sorted(float(c.get("cx")) for c in points)
    assert cx == pytest.approx([50.0, 125.0, 275.0, 350.0])  # 300 px over 4 decades
    bars = _cls(root, "bar")
    assert len(bars) == 2  # the empty bin is not drawn
    heights = sorted(float(b.get("height")) for b in bars)
    assert heights == pytest.approx([20.0, 100.0])
    ticks = [float(t.get("data-value")) for t in _cls(root, "xtick")]
    assert ticks == [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {'t <&> "q"', "dose (µM)", "response (%)", "0.001", "10"} <= texts


def test_zero_dose_tick_and_legend_corner():
    fig = SvgFigure(400, 300)
    p = fig.panel((50, 30, 300, 200), (1e-3, 10), (0, 100), xlog=True, xzero=1e-3)
    # points fill the top right: the legend goes to the next free corner (top left)
    p.legend([("a", "#000000", "line")], avoid=([5, 8, 9, 10], [95, 98, 99, 100]))
    root = _parse(fig)
    labels = [t.find("s:text", NS).text for t in _cls(root, "xtick")]
    assert labels == ["0", "0.01", "0.1", "1", "10"]  # 0.001 would crowd the 0
    (legend,) = _cls(root, "legend")
    assert float(legend.find("s:rect", NS).get("x")) == pytest.approx(54.0)
    assert [e.find("s:text", NS).text for e in _cls(root, "legend-entry")] == ["a"]


def test_hbars_label_the_y_axis_first_on_top():
    fig = SvgFigure(400, 300)
    p = fig.panel((100, 20, 250, 200), (0, 300), (-0.5, 1.5))
    p.hbars(["converged", "flat"], [250, 3])
    root = _parse(fig)
    bars = _cls(root, "hbar")
    assert [b.find("s:title", NS).text for b in bars] == ["converged", "flat"]
    assert float(bars[0].get("y")) < float(bars[1].get("y"))
    assert float(bars[0].get("width")) == pytest.approx(250 / 300 * 250, abs=0.01)
    assert [t.find("s:text", NS).text for t in _cls(root, "ytick")] == ["converged", "flat"]
    assert [t.text for t in _cls(root, "value")] == ["250", "3"]


def test_diverging_colours_centred_at_zero():
    got = diverging_colors([-5.0, -10.0, 0.0, 10.0, 50.0, np.nan], 10.0)
    assert got.tolist() == [
        # -5: halfway between the 2nd and 3rd anchors (#67a9cf, #d1e5f0) in sRGB
        "#" + "".join(f"{round((a + b) / 2):02x}" for a, b in [(0x67, 0xD1), (0xA9, 0xE5),
                                                                 (0xCF, 0xF0)]),
        DIVERGING[0],
        DIVERGING[3],
        DIVERGING[-1],
        DIVERGING[-1],  # beyond vmax: the end colour
        "#d9d9d9",
    ]  # fmt: skip


def test_heatmap_panels_cells_labels_and_colour_bars():
    vals = np.array([[1.0, -2.0, np.nan], [4.0, 0.0, -8.0]])
    panels = [
        HeatmapPanel(vals, ["0", "1"], ["0", "0.1", "1"], title="block A", xlabel="drug B (nM)",
                     ylabel="drug A (µM)"),
        HeatmapPanel(vals * 2, ["0", "1"], ["0", "0.1", "1"], title="block B"),
    ]  # fmt: skip
    root = _parse(heatmap_panels(panels, title="ZIP", colorbar_label="ZIP score"))
    maps = _cls(root, "heatmap")
    assert [m.get("data-title") for m in maps] == ["block A", "block B"]
    assert [float(m.get("data-vmax")) for m in maps] == [8.0, 16.0]  # each its own |max|
    cells = _cls(maps[0], "cell")
    assert len(cells) == 6
    by_pos = {(int(c.get("data-row")), int(c.get("data-col"))): c for c in cells}
    assert by_pos[(1, 2)].get("fill") == DIVERGING[0]  # -8 = -vmax: darkest blue
    assert by_pos[(1, 1)].get("fill") == DIVERGING[3]  # 0: the centre
    assert by_pos[(0, 2)].get("fill") == "#d9d9d9"  # NaN
    # origin lower: row 0 below row 1
    assert float(by_pos[(0, 0)].get("y")) > float(by_pos[(1, 0)].get("y"))
    # each cell's value as a plain number (numpy 2 scalars would write "np.float64(...)")
    got = np.array([[float(by_pos[i, j].get("data-value")) for j in range(3)] for i in range(2)])
    np.testing.assert_array_equal(got, vals)
    assert [t.text for t in _cls(maps[0], "cell-value")] == ["1.0", "-2.0", "4.0", "0.0", "-8.0"]
    assert len(_cls(root, "colorbar")) == 2
    shared = _parse(heatmap_panels(panels, vmax=20.0, origin="upper"))
    assert {m.get("data-vmax") for m in _cls(shared, "heatmap")} == {"20.0"}
    with pytest.raises(LeptotwinError, match="len\\(row_labels\\) x len\\(col_labels\\)"):
        heatmap_panels([HeatmapPanel(vals, ["0"], ["a", "b", "c"])])
    with pytest.raises(LeptotwinError, match="unknown origin"):
        heatmap_panels(panels, origin="left")
    empty = _parse(heatmap_panels([]))
    assert [t.text for t in _cls(empty, "note")] == ["no data"]


def test_write_is_atomic_and_clear_empties(tmp_path):
    fig = SvgFigure(100, 100, title="x")
    fig.panel((10, 10, 80, 80), (0, 1), (0, 1)).note("no curve fitted")
    path = fig.write(tmp_path / "f.svg")
    assert ET.parse(path).getroot().tag.endswith("svg")
    assert [p.name for p in tmp_path.iterdir()] == ["f.svg"]
    fig.clear()
    assert not _cls(_parse(fig), "panel")
    with pytest.raises(LeptotwinError, match="log axis needs positive limits"):
        SvgFigure(10, 10).panel((0, 0, 5, 5), (0, 1), (0, 1), xlog=True)


def test_user_text_is_escaped_everywhere_and_control_characters_replaced():
    """Labels with <, &, quotes and a control character (a block or drug name from a CSV) in
    titles, tick labels, legends and heatmaps: the SVG still parses and shows the text."""
    odd = 'a<b&c "q" \x01z'
    fig = SvgFigure(300, 200, title=odd)
    p = fig.panel((40, 20, 240, 150), (0, 1), (0, 1), title=odd, xlabel=odd, ylabel=odd)
    p.polyline([0, 1], [0, 1], label=odd)
    p.legend([(odd, "#1f77b4", "line")])
    root = _parse(fig)
    texts = [t.text for t in root.iter() if t.text and "a<b" in t.text]
    assert texts and all(t == 'a<b&c "q" \ufffdz' for t in texts)
    heat = heatmap_panels(
        [HeatmapPanel(np.zeros((1, 1)), [odd], [odd], title=odd, xlabel=odd, ylabel=odd)],
        title=odd,
        colorbar_label=odd,
    )
    assert ET.fromstring(heat.to_svg().encode("utf-8")) is not None
