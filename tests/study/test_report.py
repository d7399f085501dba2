"""The self-contained HTML report."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from leptotwin.errors import LeptotwinError
from leptotwin.study.claims import ClaimResult, ClaimStatus
from leptotwin.study.report import Report, Section, format_value, render_text


def _figure() -> Figure:
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [1, 0.5, 0.1])
    return fig


def _report() -> Report:
    report = Report("Test report", subtitle="sub", metadata={"seed": 7, "command": "x"})
    report.add(
        Section(
            "Dose-response",
            text="Viability of **parental** cells.\n\n- one\n- two",
            figures=[("Alectinib curve", _figure())],
            tables=[("IC50s", pd.DataFrame({"ic50_nM": [21.123456, 250.0]}), "ic50.csv")],
            claims=[ClaimResult("C1", ClaimStatus.PASS, "IC50 = 21 nM")],
        )
    )
    return report


def test_offline_no_external_src_or_href():
    html = _report().render()
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html)
    assert refs, "expected internal links and an embedded image"
    for ref in refs:
        # inside the page, or a table's CSV file next to report.html
        assert ref.startswith(("#", "data:image/png;base64,")) or re.fullmatch(
            r"[A-Za-z0-9][A-Za-z0-9_.-]*\.csv", ref
        ), ref
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html


def test_embeds_png_with_caption():
    html = _report().render()
    assert html.count("data:image/png;base64,") == 1
    assert "<figcaption>Alectinib curve</figcaption>" in html


def test_claims_summary_at_top_with_colours():
    html = _report().render()
    summary = html.index('id="claims"')
    first_section = html.index("<section")
    assert summary < first_section
    assert '<span class="status pass">PASS</span>' in html
    assert html.count('<span class="status ni">NOT_IMPLEMENTED</span>') >= 8
    assert ".pass { color:" in html and ".fail { color:" in html


def test_table_of_contents_links_sections():
    html = _report().render()
    assert 'href="#sec-dose-response"' in html
    assert 'id="sec-dose-response"' in html
    assert 'href="#run-metadata"' in html


def test_metadata_has_versions():
    html = _report().render()
    for key in ("seed", "command", "python", "numpy"):
        assert f"<td>{key}</td>" in html
    assert np.__version__ in html


def test_table_numbers_formatted_and_csv_named():
    html = _report().render()
    assert ">21.12<" in html
    assert ">250<" in html
    assert "<code>ic50.csv</code>" in html


def test_long_table_linked_not_printed():
    report = Report("T", max_rows=5)
    report.add(Section("S", tables=[("big", pd.DataFrame({"x": np.arange(12)}), "big.csv")]))
    html = report.render()
    assert '<a href="big.csv"><code>big.csv</code></a>, 12 rows × 1 columns' in html
    assert html.count('<td class="num">') == 0


def test_long_table_without_csv_truncated_with_note():
    report = Report("T", max_rows=5)
    report.add(Section("S", tables=[("big", pd.DataFrame({"x": np.arange(12)}))]))
    html = report.render()
    assert "Showing the first 5 of 12 rows" in html
    assert html.count('<td class="num">') == 5


def test_csv_name_that_is_not_a_plain_file_is_not_linked():
    report = Report("T")
    report.add(Section("S", tables=[("t", pd.DataFrame({"x": [1]}), "javascript:alert(1)")]))
    html = report.render()
    assert 'href="javascript' not in html and "<code>javascript:alert(1)</code>" in html


def test_html_is_escaped():
    report = Report("<script>alert(1)</script>")
    report.add(
        Section(
            "A <b> & B",
            text="x < y & <img src=x>",
            tables=[("t", pd.DataFrame({"<col>": ["<v>"]}))],
        )
    )
    html = report.render()
    assert "<script>" not in html
    assert "<img src=x>" not in html
    assert "&lt;col&gt;" in html and "&lt;v&gt;" in html
    assert "A &lt;b&gt; &amp; B" in html


def test_render_text_markdownish():
    out = render_text("a **b** *c* `d<e`\n\n- x\n- y")
    assert out == (
        "<p>a <strong>b</strong> <em>c</em> <code>d&lt;e</code></p>\n<ul><li>x</li><li>y</li></ul>"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.000012345, "1.234e-05"),
        (3.14159, "3.142"),
        (12345.678, "1.235e+04"),
        (2.0, "2"),
        (7, "7"),
        (np.int64(3), "3"),
        (float("nan"), "—"),
        (None, "—"),
        (True, "True"),
        ("abc", "abc"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


def test_write_is_atomic_and_complete(tmp_path):
    path = _report().write(tmp_path / "report.html")
    assert path.read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_claim_reported_twice_raises():
    report = Report("T")
    report.add(Section("A", claims=[ClaimResult("C1", ClaimStatus.PASS, "x")]))
    report.add(Section("B", claims=[ClaimResult("C1", ClaimStatus.FAIL, "y")]))
    with pytest.raises(LeptotwinError, match="claim reported by two sections"):
        report.render()


def test_bad_figure_raises():
    with pytest.raises(LeptotwinError, match="matplotlib Figure"):
        Section("S", figures=["not a figure"])


def test_bad_table_raises():
    with pytest.raises(LeptotwinError, match="caption, DataFrame"):
        Section("S", tables=[pd.DataFrame({"x": [1]})])


def test_duplicate_titles_get_unique_anchors():
    report = Report("T").add(Section("Same")).add(Section("Same"))
    html = report.render()
    assert 'id="sec-same"' in html and 'id="sec-same-2"' in html
