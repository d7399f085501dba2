"""A self-contained HTML report: claims summary, table of contents, sections, run metadata.

Everything the page needs is inside the one file: CSS is inline, figures are base64 PNGs, and no
``src`` or ``href`` points to another site, so it opens offline. The only links that leave the page
are to the CSV files of its tables, which :func:`~leptotwin.study.reproduce.run_reproduce` writes
next to it: a short table is printed with a link to its CSV, a long one (more than
:data:`DEFAULT_MAX_ROWS` rows) is only linked, with its row count and columns, so raw data does not
bury the figures. Every table scrolls sideways inside its own box rather than widening the page.

The claims summary at the top links, per claim, the CSV files behind it (the section's tables that
its :class:`~leptotwin.study.claims.ClaimResult` names in ``data``; all the section's tables when
it names none). When some claim carries readouts, an overview figure
(:func:`~leptotwin.study.overview.claims_overview_figure`) comes before the table: one row per
claim, its key numbers against their thresholds.

Examples
--------
>>> import pandas as pd
>>> from leptotwin.study.report import Report, Section
>>> report = Report("leptotwin reproduce", metadata={"seed": "2020"})
>>> _ = report.add(Section("PK", text="Plasma and **CSF** levels.",
...                        tables=[("CSF exposure", pd.DataFrame({"t_h": [0.0, 1.5]}), "pk.csv")]))
>>> html = report.render()
>>> '<a href="pk.csv">' in html and "<strong>CSF</strong>" in html
True
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from leptotwin._fileio import write_text
from leptotwin.errors import LeptotwinError
from leptotwin.study.claims import ClaimResult, ClaimStatus, claims_table, load_claims
from leptotwin.study.overview import claims_overview_figure

__all__ = ["FigureItem", "Report", "Section", "TableItem", "format_value", "render_text"]

#: Longest table printed in the report. A longer one is linked as its CSV file (row count and
#: columns named), or, when it has no CSV file, cut to its first rows.
DEFAULT_MAX_ROWS = 20

_STATUS_CLASS = {
    ClaimStatus.PASS: "pass",
    ClaimStatus.FAIL: "fail",
    ClaimStatus.NOT_IMPLEMENTED: "ni",
}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #555; margin-top: 0; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.table-wrap { overflow-x: auto; max-width: 100%; margin: 0.5em 0 0.3em 0; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0.3em 0; }
.note { color: #666; font-size: 0.85em; margin-top: 0; }
.status { font-weight: 700; white-space: nowrap; }
.pass { color: #1a7f37; } .fail { color: #cf222e; } .ni { color: #8c959f; font-weight: 400; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.9em; }
code { background: #f3f3f3; padding: 0 0.2em; }
.meta td:first-child { font-weight: 600; } .toc li { margin: 0.1em 0; }
.counts span { margin-right: 1em; }
.table-file { margin: 0.6em 0; } .table-file .note { margin: 0.1em 0 0 0; }
td.data { white-space: nowrap; font-size: 0.85em; }
""".strip()


class FigureItem(NamedTuple):
    """A figure with its caption."""

    caption: str
    figure: Figure


class TableItem(NamedTuple):
    """A table with its caption and, optionally, the CSV file that holds it in full and a compact
    ``view`` printed in its place (fewer, shorter columns; ``frame`` is what the CSV holds)."""

    caption: str
    frame: pd.DataFrame
    csv: str | None = None
    view: pd.DataFrame | None = None


@dataclass
class Section:
    """One part of the report.

    Parameters
    ----------
    title : str
        Heading; also the entry in the table of contents.
    text : str, optional
        Markdown-ish text: paragraphs separated by blank lines, ``- `` bullet lines,
        ``**bold**``, ``*italic*`` and ```code```. HTML in it is escaped, not interpreted.
    figures : sequence of Figure or (caption, Figure)
        Matplotlib figures, embedded as base64 PNG. A bare figure is captioned with its
        suptitle, if any.
    tables : sequence of (caption, DataFrame[, csv_name[, view]])
        Tables. One of at most :data:`DEFAULT_MAX_ROWS` rows is printed (``view``, a compact
        DataFrame, in its place when given) with a link to ``csv_name``, the file that holds it
        in full; a longer one with a ``csv_name`` is linked, with its row count and columns, not
        printed; a longer one without is cut to its first rows.
    claims : sequence of ClaimResult
        The claims this section checked, shown as a small table below the text.
    """

    title: str
    text: str = ""
    figures: Sequence[Figure | tuple[str, Figure]] = ()
    tables: Sequence[tuple[Any, ...]] = ()
    claims: Sequence[ClaimResult] = ()
    _figures: list[FigureItem] = field(init=False, repr=False)
    _tables: list[TableItem] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = f"Section({self.title!r})"
        self._figures = [_as_figure_item(f, where) for f in self.figures]
        self._tables = [_as_table_item(t, where) for t in self.tables]
        for claim in self.claims:
            if not isinstance(claim, ClaimResult):
                raise LeptotwinError(
                    "claims must be ClaimResult objects",
                    source=where,
                    field="claims",
                    value=type(claim).__name__,
                )


class Report:
    """Builder for the self-contained HTML report.

    Parameters
    ----------
    title : str
        Page title and top heading.
    subtitle : str, optional
        One line under the title.
    metadata : Mapping[str, Any], optional
        Run metadata shown in a table at the end (version, seed, date, command, ...). Python and
        numpy versions are added when absent.
    max_rows : int, optional
        Longest table printed; a longer one is linked as its CSV file (or, without one, cut to
        this many rows).

    Notes
    -----
    The claims summary at the top is :func:`~leptotwin.study.claims.claims_table` of the claim
    results of all sections: a claim that no section reported shows ``NOT_IMPLEMENTED``.
    """

    def __init__(
        self,
        title: str,
        *,
        subtitle: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        if max_rows < 1:
            raise LeptotwinError(
                "max_rows must be positive", source="Report", field="max_rows", value=max_rows
            )
        self.title = title
        self.subtitle = subtitle
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.metadata.setdefault("python", sys.version.split()[0])
        self.metadata.setdefault("numpy", np.__version__)
        self.max_rows = max_rows
        self.sections: list[Section] = []

    def add(self, section: Section) -> Report:
        """Append a section; returns ``self`` so calls can be chained."""
        if not isinstance(section, Section):
            raise LeptotwinError("not a Section", source="Report.add", value=type(section).__name__)
        self.sections.append(section)
        return self

    def claim_results(self) -> dict[str, ClaimResult]:
        """The claim results of all sections, keyed by id.

        Raises
        ------
        LeptotwinError
            If two sections report the same claim.
        """
        found: dict[str, ClaimResult] = {}
        owner: dict[str, str] = {}
        for section in self.sections:
            for result in section.claims:
                if result.id in found:
                    raise LeptotwinError(
                        "claim reported by two sections",
                        source=f"Section({section.title!r})",
                        field="claims",
                        value=result.id,
                        expected=f"one report per claim (already in {owner[result.id]!r})",
                    )
                found[result.id] = result
                owner[result.id] = section.title
        return found

    def claims_summary(self) -> pd.DataFrame:
        """:func:`claims_table` of :meth:`claim_results` (one row per claim)."""
        return claims_table(self.claim_results())

    def claim_files(self) -> dict[str, list[str]]:
        """Claim id → the CSV files behind it: the files of its section's tables that the result
        names in ``data`` (``.csv`` added where missing), or every table file of the section
        when it names none of them."""
        out: dict[str, list[str]] = {}
        for section in self.sections:
            files = [t.csv for t in section._tables if t.csv]
            for result in section.claims:
                named = [d if d.endswith(".csv") else f"{d}.csv" for d in result.data]
                chosen = [f for f in named if f in files]
                out[result.id] = chosen or files
        return out

    def render(self) -> str:
        """Return the whole page as one HTML string."""
        summary = self.claims_summary()
        results = self.claim_results()
        anchors = _unique_anchors([s.title for s in self.sections])
        claim_anchor = {
            r.id: anchor
            for section, anchor in zip(self.sections, anchors, strict=True)
            for r in section.claims
        }
        esc = html.escape
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(self.title)}</title>",
            f"<style>\n{_CSS}\n</style>",
            "</head>",
            "<body>",
            f"<h1>{esc(self.title)}</h1>",
        ]
        if self.subtitle:
            parts.append(f'<p class="subtitle">{esc(self.subtitle)}</p>')
        parts.append(_render_toc(self.sections, anchors))
        overview = None
        if any(r.readouts for r in results.values()):
            overview = FigureItem(
                "Claims overview: each claim's key readouts from this run (dot: estimate; bar: "
                "95 % interval; arrow: open upper bound) against its threshold (black tick; "
                "green: where the readout passes). A dot is green when the estimate meets its "
                "threshold, red when it does not; the status beside each claim is the section's "
                "verdict, which can hold more conditions (e.g. an interval excluding 1). Log axes "
                "for ratios and folds. Claims without readouts are shown with their status only.",
                claims_overview_figure(summary, results),
            )
        parts.append(_render_summary(summary, claim_anchor, self.claim_files(), overview))
        for section, anchor in zip(self.sections, anchors, strict=True):
            parts.append(self._render_section(section, anchor))
        parts.append('<h2 id="run-metadata">Run metadata</h2>')
        parts.append(_render_metadata(self.metadata))
        parts += ["</body>", "</html>", ""]
        return "\n".join(parts)

    def write(self, path: str | Path) -> Path:
        """Render and write the page atomically (temporary file, then rename) to ``path``."""
        return write_text(path, self.render())

    # -- pieces ---------------------------------------------------------------------------------

    def _render_section(self, section: Section, anchor: str) -> str:
        out = [f'<section id="{anchor}">', f"<h2>{html.escape(section.title)}</h2>"]
        if section.text:
            out.append(render_text(section.text))
        if section.claims:
            out.append(_render_section_claims(section.claims))
        for item in section._figures:
            out.append(_render_figure(item))
        for item in section._tables:
            out.append(_render_table(item, self.max_rows))
        out.append("</section>")
        return "\n".join(out)


# -- text ---------------------------------------------------------------------------------------

_INLINE = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
]


def _inline(text: str) -> str:
    """Escape HTML, then apply ``code``, **bold** and *italic* (code spans are left verbatim)."""
    pieces = re.split(r"(`[^`]+`)", text)
    out = []
    for piece in pieces:
        if len(piece) > 1 and piece.startswith("`") and piece.endswith("`"):
            out.append(f"<code>{html.escape(piece[1:-1])}</code>")
            continue
        escaped = html.escape(piece)
        for pattern, repl in _INLINE:
            escaped = pattern.sub(repl, escaped)
        out.append(escaped)
    return "".join(out)


def render_text(text: str) -> str:
    """Render Markdown-ish text as HTML paragraphs and bullet lists (input HTML is escaped)."""
    blocks = re.split(r"\n\s*\n", text.strip())
    out = []
    for block in blocks:
        lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
        if not lines:
            continue
        if all(ln.startswith(("- ", "* ")) for ln in lines):
            items = "".join(f"<li>{_inline(ln[2:].strip())}</li>" for ln in lines)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(out)


# -- tables -------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """Format one cell for display: 4 significant digits, scientific when very large/small.

    Examples
    --------
    >>> [format_value(v) for v in (0.000012345, 3.14159, 12345.678, 1234567.0, 7, float("nan"))]
    ['1.234e-05', '3.142', '1.235e+04', '1.235e+06', '7', '—']
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return "—"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return "—"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == 0:
            return "0"
        if v.is_integer() and abs(v) < 1e4:
            return str(int(v))
        if abs(v) >= 1e4 or abs(v) < 1e-3:
            return f"{v:.3e}"
        return f"{v:.4g}"
    return str(value)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _render_frame(frame: pd.DataFrame, max_rows: int, caption: str | None = None) -> str:
    esc = html.escape
    shown = frame.head(max_rows)
    numeric = [_is_numeric(frame[c]) for c in frame.columns]
    out = ["<table>"]
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{esc(str(c))}</th>" for c in frame.columns))
    out.append("</tr></thead><tbody>")
    for row in shown.itertuples(index=False, name=None):
        cells = []
        for value, is_num in zip(row, numeric, strict=True):
            cls = ' class="num"' if is_num else ""
            cells.append(f"<td{cls}>{esc(format_value(value))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")


def _csv_link(name: str) -> str:
    """A link to a CSV file in the report's folder; a name that is not a plain relative path
    (a scheme, ``..``, an absolute path) is shown, not linked."""
    code = f"<code>{html.escape(name)}</code>"
    if not _FILE_RE.match(name) or ".." in name:
        return code
    return f'<a href="{html.escape(name, quote=True)}">{code}</a>'


def _wrap(table_html: str) -> str:
    """A table in a box that scrolls sideways when the table is wider than the page."""
    return f'<div class="table-wrap">{table_html}</div>'


def _render_table(item: TableItem, max_rows: int) -> str:
    frame = item.frame
    n, n_cols = len(frame), len(frame.columns)
    if item.csv and n > max_rows:
        columns = ", ".join(str(c) for c in frame.columns)
        return (
            f'<div class="table-file"><strong>{html.escape(item.caption)}</strong>: '
            f"{_csv_link(item.csv)}, {n:,} rows × {n_cols} columns"
            f'<p class="note">Columns: {html.escape(columns)}.</p></div>'
        )
    shown = item.view if item.view is not None else frame
    notes = []
    if n > max_rows:
        notes.append(f"Showing the first {max_rows} of {n:,} rows.")
    elif n == 0:
        notes.append("The table is empty.")
    if item.csv:
        every = f" (all {n_cols} columns)" if item.view is not None else ""
        notes.append(f"Full table{every}: {_csv_link(item.csv)}.")
    note = f'<p class="note">{" ".join(notes)}</p>' if notes else ""
    return _wrap(_render_frame(shown, max_rows, item.caption)) + note


def _status_html(status: str) -> str:
    st = ClaimStatus(status)
    return f'<span class="status {_STATUS_CLASS[st]}">{html.escape(st.value)}</span>'


def _render_summary(
    summary: pd.DataFrame,
    claim_anchor: Mapping[str, str],
    claim_files: Mapping[str, Sequence[str]] | None = None,
    overview: FigureItem | None = None,
) -> str:
    esc = html.escape
    claim_files = claim_files or {}
    counts = summary["status"].value_counts()
    count_html = "".join(
        f"<span>{_status_html(s.value)} {int(counts.get(s.value, 0))}</span>" for s in ClaimStatus
    )
    out = ['<h2 id="claims">Claims</h2>', f'<p class="counts">{count_html}</p>']
    if overview is not None:
        out.append(_render_figure(overview, css_class="claims-overview"))
    out.append(
        '<div class="table-wrap">'
        "<table><thead><tr><th>id</th><th>claim</th><th>status</th><th>measured</th>"
        "<th>threshold</th><th>figure</th><th>data</th></tr></thead><tbody>"
    )
    for row in summary.itertuples(index=False):
        cid = esc(row.id)
        if row.id in claim_anchor:
            cid = f'<a href="#{claim_anchor[row.id]}">{cid}</a>'
        measured = row.measured if isinstance(row.measured, str) and row.measured else "—"
        files = claim_files.get(row.id, ())
        data = "<br>".join(_csv_link(f) for f in files) if files else "—"
        out.append(
            f"<tr><td>{cid}</td><td>{esc(row.claim)}</td><td>{_status_html(row.status)}</td>"
            f"<td>{esc(measured)}</td><td>{esc(row.threshold)}</td><td>{esc(row.figure)}</td>"
            f'<td class="data">{data}</td></tr>'
        )
    out.append("</tbody></table></div>")
    out.append(
        '<p class="note">A claim that no section checked is NOT_IMPLEMENTED, never PASS. '
        "The same table is in <code>claims.csv</code>; <em>data</em> links the CSV files next "
        "to this page that hold the numbers behind each claim.</p>"
    )
    return "\n".join(out)


def _render_section_claims(results: Iterable[ClaimResult]) -> str:
    esc = html.escape
    statements = {c.id: c for c in load_claims()}
    out = [
        "<table><thead><tr><th>id</th><th>status</th><th>measured</th><th>threshold</th>"
        "<th>detail</th></tr></thead><tbody>"
    ]
    for r in results:
        claim = statements.get(r.id)
        threshold = claim.threshold if claim else ""
        out.append(
            f"<tr><td>{esc(r.id)}</td><td>{_status_html(r.status)}</td>"
            f"<td>{esc(r.measured or '—')}</td><td>{esc(threshold)}</td>"
            f"<td>{esc(r.detail)}</td></tr>"
        )
    out.append("</tbody></table>")
    return _wrap("".join(out))


# -- figures ------------------------------------------------------------------------------------


def _render_figure(item: FigureItem, css_class: str = "") -> str:
    buf = io.BytesIO()
    item.figure.savefig(
        buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None}
    )
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    caption = html.escape(item.caption)
    cls = f' class="{html.escape(css_class, quote=True)}"' if css_class else ""
    return (
        f'<figure{cls}><img alt="{caption}" src="data:image/png;base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _as_figure_item(obj: Any, where: str) -> FigureItem:
    if isinstance(obj, Figure):
        return FigureItem(obj.get_suptitle(), obj)
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], Figure):
        return FigureItem(str(obj[0]), obj[1])
    raise LeptotwinError(
        "a figure must be a matplotlib Figure or a (caption, Figure) pair",
        source=where,
        field="figures",
        value=type(obj).__name__,
    )


def _as_table_item(obj: Any, where: str) -> TableItem:
    if isinstance(obj, tuple) and len(obj) in (2, 3, 4) and isinstance(obj[1], pd.DataFrame):
        csv = obj[2] if len(obj) >= 3 else None
        view = obj[3] if len(obj) == 4 else None
        if view is None or isinstance(view, pd.DataFrame):
            return TableItem(str(obj[0]), obj[1], None if csv is None else str(csv), view)
    raise LeptotwinError(
        "a table must be a (caption, DataFrame[, csv_name[, view DataFrame]]) tuple",
        source=where,
        field="tables",
        value=type(obj).__name__,
    )


# -- navigation and metadata --------------------------------------------------------------------


def _unique_anchors(titles: Sequence[str]) -> list[str]:
    seen: set[str] = {"claims", "run-metadata", "contents"}
    out = []
    for title in titles:
        base = "sec-" + (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "section")
        anchor, i = base, 2
        while anchor in seen:
            anchor, i = f"{base}-{i}", i + 1
        seen.add(anchor)
        out.append(anchor)
    return out


def _render_toc(sections: Sequence[Section], anchors: Sequence[str]) -> str:
    esc = html.escape
    items = ['<li><a href="#claims">Claims</a></li>']
    items += [
        f'<li><a href="#{a}">{esc(s.title)}</a></li>'
        for s, a in zip(sections, anchors, strict=True)
    ]
    items.append('<li><a href="#run-metadata">Run metadata</a></li>')
    return f'<nav class="toc" id="contents"><h2>Contents</h2><ol>{"".join(items)}</ol></nav>'


def _render_metadata(metadata: Mapping[str, Any]) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(str(k))}</td><td><code>{esc(str(v))}</code></td></tr>"
        for k, v in metadata.items()
    )
    return _wrap(f'<table class="meta"><tbody>{rows}</tbody></table>')
