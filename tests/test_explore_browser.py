"""The explorer in a real browser: Playwright driving Debian's headless Chromium (issue 18,
item 3).

The page is opened on a server on a free loopback port; a dose is changed in the form, the
numbers the page renders are read back and compared with the API's answer for the same view; a
malformed regimen shows its message beside its field. Screenshots go to pytest's tmp folder. The
browser is the system's Chromium (``apt-get install chromium``; the Makefile's ``browser`` target
installs it in CI), started through ``executable_path``: nothing is downloaded. Without a
Chromium, or without the pinned ``playwright`` driver, these tests skip and say why.
"""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest

_CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright (pinned in requirements.lock) is not installed"
)
pytestmark = pytest.mark.skipif(
    _CHROMIUM is None,
    reason="no Chromium on PATH (Debian: apt-get install chromium); the explorer is not checked "
    "in a browser",
)

#: Longest wait for one re-rendered view (ms): a loaded 2-core machine takes about a second.
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server(explorer):
    """The shared explorer (tests/conftest.py) under this module's name."""
    return explorer


@pytest.fixture(scope="module")
def page(server):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=_CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        )
        pg = browser.new_page(viewport={"width": 1280, "height": 1400})
        errors: list[str] = []
        outside: list[str] = []  # the page must load nothing from elsewhere (offline)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("request", lambda r: None if r.url.startswith((server, "data:", "blob:"))
              else outside.append(r.url))  # fmt: skip
        pg.goto(server + "/")
        pg.wait_for_selector("#status[data-state=done]", state="attached", timeout=TIMEOUT_MS)
        yield pg
        browser.close()
        assert not errors, errors
        assert not outside, outside


def _set(page, selector: str, value: str) -> str:
    """Type a value into a field and wait for the view it triggers; returns the new status."""
    before = page.get_attribute("#status", "data-seq") or "0"
    page.fill(selector, value)
    page.wait_for_function(
        "([b]) => { const s = document.querySelector('#status'); return s.dataset.seq !== b "
        "&& (s.dataset.state === 'error' || s.dataset.state === 'done'); }",
        arg=[before],
        timeout=TIMEOUT_MS,
    )
    return page.get_attribute("#status", "data-state")


def _api_view(server: str, spec: dict) -> dict:
    req = urllib.request.Request(server + "/api/view", data=json.dumps(spec).encode())
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_changed_dose_renders_the_apis_numbers(page, server, tmp_path):
    # the shipped patients' protocol loads first: make it small, then change a dose
    assert page.input_value("#days") == "84"
    assert _set(page, "#n_per_arm", "60") == "done"
    field = '[data-field="arms.1.regimens.osimertinib"]'
    assert page.input_value(field) == "80 mg QD"
    assert _set(page, field, "20 mg QD") == "done"
    page.screenshot(path=str(tmp_path / "explore_dose_changed.png"), full_page=True)
    spec = page.evaluate("readSpec()")
    assert spec["arms"][1]["regimens"]["osimertinib"] == "20 mg QD"
    api = _api_view(server, spec)
    for i, arm in enumerate(api["arms"]):
        shown = float(page.get_attribute(f"#control-{i}", "data-value"))
        assert shown == arm["control"]["fraction_controlled"]
        assert float(page.get_attribute(f"#ci-{i}", "data-low")) == arm["control"]["ci_low"]
        median = page.get_attribute(f"#median-{i}", "data-value")
        assert (None if median == "null" else float(median)) == arm["median_days"]
    assert page.inner_text("#control-1").startswith(
        f"{100 * api['arms'][1]['control']['fraction_controlled']:.1f} %"
    )
    # every chart was drawn
    for chart in ("plasma", "csf", "lesion", "burden", "survival", "control"):
        assert page.locator(f"#chart-{chart} path, #chart-{chart} rect").count() > 0, chart


def test_malformed_regimen_message_beside_its_field(page, tmp_path):
    field = '[data-field="arms.1.regimens.osimertinib"]'
    assert _set(page, field, "20 mg QX") == "error"
    message = page.inner_text('.msg[data-for="arms.1.regimens.osimertinib"]')
    assert "cannot read at token 'QX'" in message
    assert page.get_attribute(field, "aria-invalid") == "true"
    page.screenshot(path=str(tmp_path / "explore_bad_regimen.png"), full_page=True)
    assert _set(page, field, "80 mg QD") == "done"
    assert page.get_attribute(field, "aria-invalid") is None
