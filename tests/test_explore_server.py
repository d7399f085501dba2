"""The explorer's server without a browser (issue 18, items 1 and 4).

A server is started on a free loopback port in a thread; the tests talk to its API as the page
does. They check that a view's tables are those ``leptotwin simulate`` writes for the protocol the
view downloads (same seed: identical bytes), that bad input gets a message on the offending
field and a 4xx (never a traceback), and that 20 concurrent sessions each get their own results.
"""

from __future__ import annotations

import http.cookiejar
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leptotwin.explore import compute_view, parse_spec, serve
from leptotwin.study.schedule_sweep import wilson_interval

#: A small mouse view: two regimens, 5 mice each, 1 week of treatment.
MOUSE = {
    "species": "mouse",
    "inoculum": "A925L/AR",
    "arms": [
        {"name": "alectinib", "regimens": {"alectinib": "20 mg/kg QD"}},
        {
            "name": "alec + osi",
            "regimens": {"alectinib": "20 mg/kg QD", "osimertinib": "25 mg/kg QD"},
        },
    ],
    "n_per_arm": 5,
    "days": 14,
    "seed": 7,
}


@pytest.fixture(scope="module")
def server(explorer):
    """The shared explorer (tests/conftest.py) under this module's name."""
    return explorer


class Client:
    """One browser session: its own cookie jar."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(self, path: str, body=None, raw: bytes | None = None) -> tuple[int, bytes, str]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(
            self.base + path, data=data, method="GET" if data is None else "POST"
        )
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get("Content-Type", "")

    def json(self, path: str, body=None) -> tuple[int, dict]:
        status, data, _ = self.request(path, body)
        return status, json.loads(data)


def test_binds_loopback_by_default():
    import inspect

    from leptotwin import cli

    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(cli.explore).parameters["host"].default == "127.0.0.1"


def test_page_is_offline(server):
    """The page and its script load nothing from another host."""
    c = Client(server)
    for path in ("/", "/static/app.js", "/static/style.css"):
        status, body, _ = c.request(path)
        assert status == 200
        assert b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b"")
        assert b"https://" not in body


def test_view_tables_equal_leptotwin_simulate(server, tmp_path, run_cli):
    """The protocol the view downloads, run by `leptotwin simulate --seed 7`, writes the same
    observations, survival and subjects tables, byte for byte; the control shown is theirs."""
    c = Client(server)
    status, view = c.json("/api/view", MOUSE)
    assert status == 200, view
    status, yaml_text, ctype = c.request("/api/download/protocol.yaml", {"spec": view["spec"]})
    assert status == 200 and ctype.startswith("application/yaml")
    proto = tmp_path / "view.yaml"
    proto.write_bytes(yaml_text)
    out = tmp_path / "sim"
    code, _, err = run_cli("simulate", str(proto), "--seed", "7", "--out", str(out))
    assert code == 0, err
    for name in ("observations", "survival", "subjects"):
        status, body, ctype = c.request(f"/api/download/table/{name}", {"spec": view["spec"]})
        assert status == 200 and ctype.startswith("text/csv")
        assert body == (out / f"{name}.csv").read_bytes(), name
    obs = pd.read_csv(out / "observations.csv")
    start, day = 7.0, 14.0  # treatment start of the mouse model; last observation <= week 12
    base = obs[obs["day"] == start].set_index("subject")["total_cells"]
    at = obs[obs["day"] == day]
    ok = at["alive"] & (at["total_cells"] / at["subject"].map(base) <= 1.0)
    for arm in view["arms"]:
        m = at["arm"] == arm["name"]
        k, n = int(ok[m].sum()), int(m.sum())
        assert arm["control"]["controlled"] == k and arm["control"]["n"] == n
        assert arm["control"]["day"] == day
        lo, hi = wilson_interval(k, n)
        assert arm["control"]["ci_low"] == pytest.approx(float(lo), abs=1e-12)
        assert arm["control"]["ci_high"] == pytest.approx(float(hi), abs=1e-12)


def test_sbml_of_one_subject(server):
    c = Client(server)
    spec = parse_spec(MOUSE).to_json()
    status, body, ctype = c.request("/api/download/subject.sbml", {"spec": spec, "arm": 1})
    assert status == 200 and ctype.startswith("application/xml")
    assert b"<sbml" in body[:500] and b"osimertinib" in body


@pytest.mark.parametrize(
    ("change", "field", "match"),
    [
        ({"arms": [{"name": "a", "regimens": {"alectinib": "20 mg/kg QX"}}]},
         "arms.0.regimens.alectinib", "cannot read"),
        ({"arms": [{"name": "a", "regimens": {"osimertinib": "900 mg/kg QD"}}]},
         "arms.0.regimens.osimertinib", "fold the highest dose"),
        ({"arms": [{"name": "a", "regimens": {"aspirin": "100 mg QD"}}]},
         "arms.0.regimens.aspirin", "unknown drug"),
        ({"n_per_arm": 10**7}, "n_per_arm", "must be 1 to"),
        ({"n_per_arm": "ten"}, "n_per_arm", "whole number"),
        ({"days": "nan"}, "days", "must be"),
        ({"species": "rat"}, "species", "unknown species"),
        ({"arms": [{"name": "a", "regimens": {}}] * 5}, "arms", "1 to 4"),
    ],
)  # fmt: skip
def test_bad_input_is_a_message_on_its_field(server, change, field, match):
    status, reply = Client(server).json("/api/view", {**MOUSE, **change})
    assert status == 422
    assert match in reply["fields"][field]
    assert "Traceback" not in json.dumps(reply)


def test_warning_beside_the_field_for_a_far_dose(server):
    """3- to 30-fold above the studied doses: simulated, with the command line's warning."""
    view = {**MOUSE, "arms": [{"name": "a", "regimens": {"osimertinib": "100 mg/kg QD"}}]}
    status, reply = Client(server).json("/api/view", view)
    assert status == 200
    assert "above the highest" in reply["warnings"]["arms.0.regimens.osimertinib"]


def test_malformed_requests_get_4xx_without_traceback(server):
    c = Client(server)
    for path, raw in [
        ("/api/view", b"{not json"),
        ("/api/view", b"[1, 2]"),
        ("/api/view", b"[" * 100_000),
        ("/api/download/table/nope", json.dumps({"spec": MOUSE}).encode()),
        (
            "/api/download/protocol.yaml",
            json.dumps({"spec": {**MOUSE, "arms": [{"name": "a", "regimens": {}}]}}).encode(),
        ),
        ("/api/view", b" " * (600 * 1024)),
    ]:
        status, body, _ = c.request(path, raw=raw)
        assert 400 <= status < 500, (path, status, body[:200])
        assert b"Traceback" not in body and b'File "' not in body


def test_uploaded_protocol_read_as_simulate_reads_it(server):
    c = Client(server)
    good = (Path(__file__).parents[1] / "examples" / "protocol.yaml").read_text()
    status, reply = c.json("/api/protocol", {"text": good, "filename": "../../etc/passwd"})
    assert status == 200
    assert [a["name"] for a in reply["spec"]["arms"]][:2] == ["vehicle", "alectinib"]
    bad = good.replace("mice_per_arm: 6", "mice_per_arm: ten")
    status, reply = c.json("/api/protocol", {"text": bad, "filename": "x.yaml"})
    assert status == 422
    assert "uploaded protocol: line 10, combination.mice_per_arm" in reply["fields"]["protocol"]
    assert "/tmp" not in json.dumps(reply)  # the upload folder's path is not shown
    evil = "regimens: !!python/object/apply:os.system ['echo hacked']\n"
    status, reply = c.json("/api/protocol", {"text": evil})
    assert status == 422 and "not valid YAML" in reply["fields"]["protocol"]
    status, reply = c.json("/api/protocol", {"shipped": "../../../../etc/passwd"})
    assert status == 422 and "no shipped protocol" in reply["fields"]["protocol"]
    status, reply = c.json("/api/protocol", {"text": good, "experiment": "../x"})
    assert status == 422 and "no such experiment" in reply["fields"]["protocol"]
    status, reply = c.json("/api/protocol", {"text": "a: 1\n" * 60_000})
    assert status == 422 and "larger than" in reply["fields"]["protocol"]


def test_twenty_concurrent_sessions_no_cross_talk(server):
    """20 sessions at once (each its own cookie, protocol upload and view): each gets its own
    numbers, equal to the view computed alone; bounded at 30 s."""
    base = (Path(__file__).parents[1] / "examples" / "protocol.yaml").read_text()

    def session(i: int) -> tuple[int, dict, dict]:
        c = Client(server)
        text = base.replace("mice_per_arm: 6", f"mice_per_arm: {2 + i % 5}")
        s1, proto = c.json("/api/protocol", {"text": text})
        view = {
            "species": "human",
            "arms": [{"name": f"osimertinib {20 * (i + 1)} mg",
                      "regimens": {"alectinib": "600 mg BID",
                                   "osimertinib": f"{20 * (i + 1)} mg QD"}}],
            "n_per_arm": 10 + i,
            "days": 14,
            "seed": i,
            "uncertainty": "posterior-median",
        }  # fmt: skip
        s2, reply = c.json("/api/view", view)
        assert (s1, s2) == (200, 200)
        return i, proto["spec"], reply

    t0 = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(session, range(20)))
    assert time.monotonic() - t0 < 30
    for i, proto, reply in results:
        assert proto["n_per_arm"] == 2 + i % 5
        assert reply["spec"]["seed"] == i and reply["spec"]["n_per_arm"] == 10 + i
        alone = compute_view(parse_spec(reply["spec"]))
        assert reply["arms"][0]["control"] == alone["arms"][0]["control"]
        assert np.allclose(
            reply["arms"][0]["burden"]["p50_cells"], alone["arms"][0]["burden"]["p50_cells"]
        )


def test_long_view_shows_progress_and_can_be_cancelled(server):
    """A view computed arm by arm reports its progress to its own session and stops at the next
    arm when cancelled (409); another session sees no job of its own."""
    c, other = Client(server), Client(server)
    c.request("/")  # the session cookie
    arms = [{"name": f"alectinib {d} mg", "regimens": {"alectinib": f"{d} mg BID"}}
            for d in (300, 450, 600, 750)]  # fmt: skip
    slow = {"species": "human", "uncertainty": "posterior", "n_per_arm": 10, "seed": 11,
            "days": 14, "arms": arms}  # fmt: skip
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(r=c.json("/api/view", slow)))
    thread.start()
    seen = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30 and seen is None:
        status, prog = c.json("/api/progress")
        if prog["running"]:
            seen = prog
        time.sleep(0.02)
    assert seen is not None and seen["total"] == 4 and 0 <= seen["done"] < 4
    assert other.json("/api/progress")[1] == {"running": False}
    assert c.json("/api/cancel", {})[1] == {"cancelled": True}
    thread.join(60)
    status, reply = box["r"]
    assert status == 409 and reply["error"] == "cancelled"
    assert c.json("/api/progress")[1] == {"running": False}
