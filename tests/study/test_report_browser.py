"""The report as a reader sees it: rendered in headless Chromium (issue 16, item 7).

A copy of ``report.html`` with a small check script appended is opened in headless Chromium at a
laptop's width (:data:`WINDOW`); the script measures the laid-out page and writes its findings
as JSON into the DOM, which ``--dump-dom`` returns. Problems a reader would meet:

- an ``<img>``, ``<svg>``, ``<table>`` (or ``<pre>``, ``<canvas>``, ``<figure>``) wider than the
  page's content box, unless it sits in a box the report provides that scrolls sideways; the page
  itself scrolling sideways; an image that does not decode;
- an in-page link (``href="#x"``) with no element ``id="x"``, an id used twice, a relative link
  (a table's CSV file) to a file that does not exist or lies outside the report's folder;
- anything the page loads or links that is not ``file:`` or ``data:`` (the report must open
  offline; Chromium runs with every host name unresolvable, so nothing leaves the machine);
- a JavaScript error while the page loads.

Overprinted text inside the figures is checked on the figures themselves, with matplotlib
(``test_report_legibility.py``). Without a Chromium on ``PATH`` (Debian: ``apt-get install
chromium``) these tests skip.
"""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from rich.console import Console

from leptotwin.study.reproduce import SectionResult, SectionSpec, run_reproduce

#: Browser window (CSS pixels): a typical laptop screen.
WINDOW = (1280, 900)

#: Longest a page may take to open and be checked (s); a loaded 2-core machine takes ~5 s.
TIMEOUT_S = 120

#: Real sections of the study in the rendered report (quick runs, ~10 s together on one core):
#: the model diagram, figures, short tables printed and long ones linked, wide tables, and the
#: claims they check (C7, C8) linked to their sections and CSV files.
REAL_SECTIONS = ("introduction", "in_vivo_combination", "msi")

#: Smallest scale at which a figure may be shown: the browser shrinks a figure wider than the
#: page to fit, and 8 pt text of a 110-dpi PNG shown at 60 % is 7 px high.
MIN_SCALE = 0.6

_CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)

needs_chromium = pytest.mark.skipif(
    _CHROMIUM is None,
    reason="no Chromium on PATH (Debian: apt-get install chromium); the report is not "
    "checked in a browser",
)

_RESULT_ID = "leptotwin-browser-check"

#: First thing in <head>: records script errors before any of the page's own scripts run.
_ERROR_HOOK = """<script>
window.__ltErrors = [];
window.addEventListener("error", function (e) {
  if (e.target && e.target !== window) { return; }  // a resource that failed: checked below
  window.__ltErrors.push(e.message + " (" + e.filename + ":" + e.lineno + ")");
}, true);
window.addEventListener("unhandledrejection", function (e) {
  window.__ltErrors.push("unhandled rejection: " + String(e.reason));
});
</script>"""

#: Last thing in <body>: measures the page once it has loaded and writes the findings as JSON.
_CHECK = (
    """<script>
window.addEventListener("load", function () {
  var body = document.body, root = document.documentElement;
  var bs = getComputedStyle(body), br = body.getBoundingClientRect();
  var left = br.left + parseFloat(bs.paddingLeft), right = br.right - parseFloat(bs.paddingRight);
  function where(el) {
    var s = el.closest("section[id], [id]");
    var label = el.getAttribute("alt") || (el.querySelector && el.querySelector("caption")
      ? el.querySelector("caption").textContent : "");
    return el.tagName.toLowerCase() + (s ? " in #" + s.id : "") +
      (label ? " (" + label.slice(0, 60) + ")" : "");
  }
  function scrolls(el) {  // inside a box that scrolls sideways and itself fits the page
    for (var a = el.parentElement; a && a !== body; a = a.parentElement) {
      var ox = getComputedStyle(a).overflowX;
      if (ox === "auto" || ox === "scroll") {
        var r = a.getBoundingClientRect();
        return r.left >= left - 1 && r.right <= right + 1;
      }
    }
    return false;
  }
  var wide = [], scrolled = [], images = [];
  document.querySelectorAll("img, svg, table, pre, canvas, figure, video, iframe")
    .forEach(function (el) {
      var r = el.getBoundingClientRect();
      if (r.width > 0 && (r.left < left - 1 || r.right > right + 1)) {
        var item = {what: where(el), width: Math.round(r.width), content: Math.round(right - left)};
        (scrolls(el) ? scrolled : wide).push(item);
      }
    });
  document.querySelectorAll("img").forEach(function (img) {
    images.push({what: where(img), natural: img.naturalWidth,
                 shown: Math.round(img.getBoundingClientRect().width),
                 broken: img.complete && img.naturalWidth === 0});
  });
  var ids = {}, duplicates = [];
  document.querySelectorAll("[id]").forEach(function (el) {
    if (ids[el.id]) { duplicates.push(el.id); } ids[el.id] = true;
  });
  var anchors = [], links = [], urls = [];
  document.querySelectorAll("[href]").forEach(function (el) {
    var raw = el.getAttribute("href");
    if (raw.charAt(0) === "#") {
      var id = decodeURIComponent(raw.slice(1));
      if (id && !document.getElementById(id)) { anchors.push(raw); }
    } else {
      var u = new URL(raw, document.baseURI);
      if (u.protocol === "file:") { links.push(u.href.split("#")[0]); } else { urls.push(u.href); }
    }
  });
  document.querySelectorAll("[src], [srcset], [poster], object[data]").forEach(function (el) {
    ["src", "srcset", "poster", "data"].forEach(function (name) {
      var v = el.getAttribute(name);
      if (v) { urls.push(new URL(v.trim().split(/\\s+/)[0], document.baseURI).href); }
    });
  });
  for (var i = 0; i < document.styleSheets.length; i++) {
    var rules = document.styleSheets[i].cssRules;
    for (var j = 0; j < rules.length; j++) {
      var m, re = /url\\(\\s*['"]?([^'")]+)/g;
      while ((m = re.exec(rules[j].cssText))) { urls.push(new URL(m[1], document.baseURI).href); }
    }
  }
  performance.getEntriesByType("resource").forEach(function (e) { urls.push(e.name); });
  var out = document.createElement("pre");
  out.id = "__RESULT_ID__";
  out.textContent = JSON.stringify({
    viewport: root.clientWidth, page: root.scrollWidth, content: Math.round(right - left),
    wide: wide, scrolled: scrolled, images: images, anchors: anchors, duplicates: duplicates,
    links: links,
    urls: urls.filter(function (u) { return !/^(data|file|about):/.test(u); }),
    errors: window.__ltErrors
  });
  body.appendChild(out);
});
</script>"""
).replace("__RESULT_ID__", _RESULT_ID)


def _with_checks(page: str) -> str:
    page = re.sub(r"<head[^>]*>", lambda m: m.group(0) + _ERROR_HOOK, page, count=1)
    head, sep, tail = page.rpartition("</body>")
    return head + _CHECK + sep + tail if sep else page + _CHECK


def render_checks(report: Path, *, window: tuple[int, int] = WINDOW) -> dict:
    """Open ``report`` in headless Chromium, ``window`` (CSS pixels) wide and high, with the
    check script; return its findings.

    A copy with the script is written next to ``report`` (so that its relative links resolve
    as the report's own) and removed afterwards.
    """
    report = report.resolve()
    copy = report.with_name(f".{report.stem}.browser-check.html")
    copy.write_text(_with_checks(report.read_text(encoding="utf-8")), encoding="utf-8")
    profile = report.parent / ".chromium-profile"
    cmd = [
        _CHROMIUM,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: nothing leaves the machine
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        "--dump-dom",
        copy.as_uri(),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    finally:
        copy.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(rf'<pre id="{_RESULT_ID}">(.*?)</pre>', proc.stdout, re.S)
    assert found, (
        f"Chromium did not run the checks (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    )
    findings = json.loads(html.unescape(found.group(1)))
    # the page's relative links, as files: the script cannot see the file system
    findings["missing"] = []
    for link in findings.pop("links"):
        path = Path(unquote(urlparse(link).path))
        if path == copy:
            continue  # a link to the page itself
        if not path.is_file() or not path.is_relative_to(report.parent):
            findings["missing"].append(str(path))
    return findings


def browser_problems(findings: dict) -> list[str]:
    """The problems a reader would meet, one line each, from :func:`render_checks`."""
    out = []
    if findings["page"] > findings["viewport"] + 1:
        out.append(
            f"the page scrolls sideways: {findings['page']} px wide in a "
            f"{findings['viewport']} px window"
        )
    out += [
        f"wider than the page: {w['what']}, {w['width']} px > {w['content']} px"
        for w in findings["wide"]
    ]
    for img in findings["images"]:
        if img["broken"]:
            out.append(f"image does not decode: {img['what']}")
        elif img["natural"] and img["shown"] < MIN_SCALE * img["natural"]:
            out.append(
                f"figure shrunk to {img['shown'] / img['natural']:.0%} of its size, its text "
                f"unreadable: {img['what']}"
            )
    out += [f"broken anchor: {a}" for a in findings["anchors"]]
    out += [f"id used twice: {d}" for d in findings["duplicates"]]
    out += [f"link to a missing file: {m}" for m in findings["missing"]]
    out += [f"not offline: {u}" for u in dict.fromkeys(findings["urls"])]
    out += [f"script error: {e}" for e in findings["errors"]]
    return out


# -- the checker itself -------------------------------------------------------------------------

_PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
    "hgGAWjR9awAAAABJRU5ErkJggg=="
)

_WIDE_SVG = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1000' height='20'%3E"
    "%3C/svg%3E"
)

_BAD_PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bad</title>
<style>body {{ max-width: 600px; margin: 0 auto; }} .wrap {{ overflow-x: auto; }}</style></head>
<body><h1 id="top">A page with faults</h1>
<p><a href="#top">fine</a> <a href="#nowhere">broken</a> <a href="ok.csv">fine</a>
<a href="missing.csv">missing</a></p>
<img alt="too wide" src="{_PIXEL}" style="width: 2000px; height: 10px">
<img alt="fits" src="{_PIXEL}" style="width: 100px; height: 10px">
<div class="wrap"><table style="width: 1500px"><tr><td>wide, but scrolls</td></tr></table></div>
<img alt="remote" src="http://example.com/logo.png">
<img alt="shrunk" src="{_WIDE_SVG}" style="width: 200px">
<img alt="corrupt" src="data:image/png;base64,AAAA">
<p id="top">an id used twice</p>
<script>notDefinedAnywhere();</script>
</body></html>
"""


@needs_chromium
def test_checker_reports_each_fault_of_a_hand_made_page(tmp_path):
    (tmp_path / "bad.html").write_text(_BAD_PAGE, encoding="utf-8")
    (tmp_path / "ok.csv").write_text("x\n1\n", encoding="utf-8")
    problems = browser_problems(render_checks(tmp_path / "bad.html"))
    text = "\n".join(problems)
    assert "wider than the page: img (too wide), 2000 px" in text
    assert "the page scrolls sideways" in text
    assert "broken anchor: #nowhere" in text
    assert f"link to a missing file: {tmp_path.resolve() / 'missing.csv'}" in text
    assert "not offline: http://example.com/logo.png" in text
    assert "script error:" in text and "notDefinedAnywhere" in text
    assert "figure shrunk to 20% of its size, its text unreadable: img (shrunk)" in text
    assert "image does not decode: img (corrupt)" in text
    assert "id used twice: top" in text
    # and nothing else: the fitting image, the scrolling table, the good links pass
    assert len([p for p in problems if p.startswith("wider")]) == 1
    assert len([p for p in problems if "anchor" in p or "missing" in p]) == 2
    assert not (set(tmp_path.iterdir()) - {tmp_path / "bad.html", tmp_path / "ok.csv"})


# -- the report ---------------------------------------------------------------------------------


def _wide(ctx) -> SectionResult:
    """What a section could add that is wider than any page: a 14-inch figure and a table of 30
    long columns."""
    fig = Figure(figsize=(14, 3))
    fig.subplots().plot(np.arange(10), ctx.rng.random(10))
    cols = {f"a_rather_long_column_name_{k}_nM": ctx.rng.random(3) for k in range(30)}
    return SectionResult(
        "Wide content",
        text="A figure and a table wider than the page.",
        figures=[("A wide figure", fig)],
        tables={"wide_table.csv": pd.DataFrame(cols)},
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    run_reproduce(
        out_dir=out,
        sections=[*REAL_SECTIONS, SectionSpec("wide", 99, _wide)],
        quick=True,
        seed=2020,
        progress=False,
        console=Console(file=io.StringIO(), width=200),
    )
    return out / "report.html"


@needs_chromium
def test_report_reads_well_in_a_browser(report):
    started = time.perf_counter()
    findings = render_checks(report)
    problems = browser_problems(findings)
    assert not problems, "\n".join(problems)
    # the report's own structure was there to check: figures, tables, claims linked to sections
    assert WINDOW[0] - 30 <= findings["viewport"] <= WINDOW[0]  # less a scroll bar
    assert len(findings["images"]) >= 5  # overview, diagram, BLI, MSI, the wide figure
    assert findings["scrolled"]  # the wide table scrolls in its box
    page = report.read_text(encoding="utf-8")
    assert re.search(r'<td><a href="#sec-[\w-]+">C7</a></td>', page)
    assert re.search(r'<a href="[\w.-]+\.csv">', page)
    assert time.perf_counter() - started < TIMEOUT_S
