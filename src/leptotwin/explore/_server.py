"""The explorer's local web server (tornado) and its JSON API.

Why tornado: it is already installed with dask's ``distributed`` (our Dask scheduler support), so
the explorer adds no dependency; it is a mature, maintained asynchronous server (Jupyter runs on
it) that serves a static page and a small JSON API in a few lines. The page is plain HTML and
JavaScript shipped in ``leptotwin/explore/static`` (no CDN, no build step): it draws its charts as
SVG itself from the numbers the API returns, so a changed dose costs one simulation and one JSON
reply, not a server-side figure.

Routes
------
``GET /``                         the page
``GET /api/options``              species, drugs, shipped protocols, limits
``POST /api/view``                a view (JSON, :func:`~leptotwin.explore.parse_spec`) → numbers
``POST /api/protocol``            a protocol YAML (shipped name or uploaded text) → a view
``GET /api/progress``             this session's view being computed: arms done of all, and
                                  subjects simulated of all (``subjects_done``, ``subjects_total``)
``POST /api/cancel``              cancel it (it stops after its current chunk of subjects,
                                  :data:`~leptotwin.explore._compute.CHUNK_SUBJECTS`; a 409)
``POST /api/download/<kind>``     ``table/<name>.csv``, ``protocol.yaml``, ``subject.sbml``

Safety: binds 127.0.0.1 unless told otherwise; request bodies are capped
(:data:`MAX_BODY_BYTES`); an uploaded protocol is written only into this session's own folder
inside a private upload folder, under a fixed name, and read with the same reader and schema as
``leptotwin simulate`` (``yaml.safe_load`` and :mod:`leptotwin.study.protocol_schema`); any bad
input is a 4xx JSON reply ``{"error", "fields"}`` that the page shows beside the field, never a
traceback (unexpected errors are logged here and answered with a one-line 500). State per session
(a random cookie): its uploaded protocol and its view being computed (a newer view of the same
session cancels the older one); views are pure functions of their spec, so sessions share
nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import secrets
import shutil
import socket
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import tornado.iostream
import tornado.web

from leptotwin.errors import LeptotwinError
from leptotwin.explore._compute import (
    ViewCancelled,
    compute_view,
    protocol_yaml,
    sbml_text,
    view_tables,
)
from leptotwin.explore._protocols import SHIPPED, spec_from_file, spec_from_protocol
from leptotwin.explore._spec import (
    DRUGS,
    MAX_ARMS,
    MAX_SUBJECTS_PER_ARM,
    UNCERTAINTY,
    SpecError,
    parse_spec,
)

__all__ = ["MAX_BODY_BYTES", "MAX_UPLOAD_BYTES", "make_app", "serve"]

#: Largest request body accepted (bytes).
MAX_BODY_BYTES = 512 * 1024
#: Largest uploaded protocol (bytes); the shipped ones are under 10 kB.
MAX_UPLOAD_BYTES = 256 * 1024
#: Sessions kept (each holds at most one uploaded protocol); the oldest is forgotten first.
MAX_SESSIONS = 256
_TABLES = ("observations", "survival", "subjects", "control", "burden", "kaplan_meier", "exposure")
_log = logging.getLogger("leptotwin.explore")


class _Sessions:
    """Per-session upload folders under one private temporary folder."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="leptotwin-explore-"))
        self._order: list[str] = []
        self._lock = threading.Lock()

    def folder(self, sid: str) -> Path:
        with self._lock:
            if sid not in self._order:
                self._order.append(sid)
                while len(self._order) > MAX_SESSIONS:
                    shutil.rmtree(self.root / self._order.pop(0), ignore_errors=True)
        path = self.root / sid
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class _Base(tornado.web.RequestHandler):
    def initialize(
        self, sessions: _Sessions, pool: ThreadPoolExecutor, jobs: dict[str, dict]
    ) -> None:
        self.sessions = sessions
        self.pool = pool
        self.jobs = jobs  # session → its view being computed: progress and a cancel flag

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")

    def session(self) -> str:
        sid = self.get_cookie("leptotwin_session") or ""
        if not (len(sid) == 32 and all(c in "0123456789abcdef" for c in sid)):
            sid = secrets.token_hex(16)
            self.set_cookie("leptotwin_session", sid, httponly=True, samesite="Strict")
        return sid

    def body_json(self) -> Any:
        if len(self.request.body) > MAX_BODY_BYTES:
            raise SpecError({"view": f"request larger than {MAX_BODY_BYTES // 1024} kB"})
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, RecursionError):
            raise SpecError({"view": "the request is not valid JSON"}) from None

    def reply(self, status: int, payload: dict[str, Any]) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(payload, allow_nan=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Never a traceback page: one JSON line."""
        self.set_header("Content-Type", "application/json; charset=utf-8")
        reason = self._reason if status_code < 500 else "internal error (logged by the server)"
        self.finish(json.dumps({"error": reason, "fields": {}}))

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def guarded(self, work: Any) -> None:
        try:
            await work()
        except tornado.iostream.StreamClosedError:
            return  # the page went away (a newer view, a closed tab): nobody to answer
        except SpecError as exc:
            self.reply(422, {"error": exc.message, "fields": exc.fields})
        except LeptotwinError as exc:
            self.reply(422, {"error": str(exc), "fields": {exc.field or "view": str(exc)}})
        except Exception:
            _log.exception("explore: unexpected error")
            self.reply(500, {"error": "internal error (logged by the server)", "fields": {}})


class _Page(_Base):
    def get(self) -> None:
        self.session()
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(_static("index.html"))


class _Options(_Base):
    def get(self) -> None:
        self.session()
        self.reply(
            200,
            {
                "drugs": list(DRUGS),
                "protocols": {k: v[2] for k, v in SHIPPED.items()},
                "max_arms": MAX_ARMS,
                "max_subjects_per_arm": MAX_SUBJECTS_PER_ARM,
                "uncertainty": list(UNCERTAINTY),
                "max_upload_bytes": MAX_UPLOAD_BYTES,
            },
        )


class _View(_Base):
    async def post(self) -> None:
        async def work() -> None:
            spec = parse_spec(self.body_json())
            sid = self.session()
            job = {
                "done": 0,
                "total": len(spec.arms),
                "subjects_done": 0,
                "subjects_total": len(spec.arms) * spec.n_per_arm,
                "cancelled": False,
            }
            previous = self.jobs.get(sid)
            if previous is not None:
                previous["cancelled"] = True  # a newer view of this session replaces it
            self.jobs[sid] = job
            self._job = job

            def progress(done: int, total: int) -> None:
                # compute_view counts subjects; the page shows them and the arm (regimen)
                job["subjects_done"], job["subjects_total"] = done, total
                job["done"] = min(done // spec.n_per_arm, len(spec.arms) - 1)

            try:
                view = await self.run(
                    functools.partial(
                        compute_view, spec, progress=progress, cancelled=lambda: job["cancelled"]
                    )
                )
            except ViewCancelled:
                self.reply(409, {"error": "cancelled", "fields": {}})
                return
            finally:
                if self.jobs.get(sid) is job:
                    del self.jobs[sid]
            self.reply(200, _clean(view))

        await self.guarded(work)

    def on_connection_close(self) -> None:
        """The page dropped the request (it asked for a newer view): stop at the next growth
        step of the model."""
        job = getattr(self, "_job", None)
        if job is not None:
            job["cancelled"] = True


class _Progress(_Base):
    def get(self) -> None:
        job = self.jobs.get(self.session())
        self.reply(200, {"running": job is not None, **(job or {})})


class _Cancel(_Base):
    def post(self) -> None:
        job = self.jobs.get(self.session())
        if job is not None:
            job["cancelled"] = True
        self.reply(200, {"cancelled": job is not None})


def _clean(obj: Any) -> Any:
    """NaN and infinities (which JSON lacks) as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


class _Protocol(_Base):
    async def post(self) -> None:
        async def work() -> None:
            raw = self.body_json()
            if not isinstance(raw, dict):
                raise SpecError({"protocol": "expected {shipped} or {text, filename}"})
            if raw.get("shipped"):
                spec = await self.run(spec_from_protocol, str(raw["shipped"]))
            else:
                text = raw.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise SpecError({"protocol": "the uploaded file is empty"})
                if len(text.encode("utf-8")) > MAX_UPLOAD_BYTES:
                    raise SpecError(
                        {"protocol": f"protocol larger than {MAX_UPLOAD_BYTES // 1024} kB"}
                    )
                # a fixed name inside this session's folder: the client's file name is never
                # used as a path
                path = self.sessions.folder(self.session()) / "protocol.yaml"
                path.write_text(text, encoding="utf-8")
                experiment = raw.get("experiment")
                if experiment is not None and not isinstance(experiment, str):
                    raise SpecError({"protocol": "experiment is a block name"})
                spec = await self.run(spec_from_file, path, experiment)
            self.reply(200, {"spec": spec})

        await self.guarded(work)


class _Download(_Base):
    async def post(self, kind: str) -> None:
        async def work() -> None:
            body = self.body_json()
            spec = parse_spec(body.get("spec") if isinstance(body, dict) else None)
            arm = body.get("arm")
            if arm is not None and not (type(arm) is int and 0 <= arm < len(spec.arms)):
                raise SpecError({"download": f"no arm {arm!r} in the view"})
            if kind.startswith("table/") and kind.removeprefix("table/") in _TABLES:
                name = kind.removeprefix("table/")
                tables = await self.run(view_tables, spec)
                data, ctype, fname = tables[name].to_csv(index=False), "text/csv", f"{name}.csv"
            elif kind == "protocol.yaml":
                data = protocol_yaml(spec, arm)
                ctype, fname = "application/yaml", "explorer_protocol.yaml"
            elif kind == "subject.sbml":
                subject = body.get("subject", 0)
                if not (type(subject) is int and 0 <= subject < spec.n_per_arm):
                    raise SpecError({"download.sbml": "subject index outside the arm"})
                data = await self.run(sbml_text, spec, arm or 0, subject)
                ctype, fname = "application/xml", f"subject{subject}.xml"
            else:
                self.reply(404, {"error": f"no download {kind!r}", "fields": {}})
                return
            self.set_header("Content-Type", f"{ctype}; charset=utf-8")
            self.set_header("Content-Disposition", f'attachment; filename="{fname}"')
            self.finish(data)

        await self.guarded(work)


class _Static(_Base):
    def get(self, name: str) -> None:
        types = {".js": "text/javascript", ".css": "text/css"}
        suffix = Path(name).suffix
        if name not in ("app.js", "style.css"):
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", f"{types[suffix]}; charset=utf-8")
        self.finish(_static(name))


def _static(name: str) -> str:
    return (resources.files("leptotwin.explore") / "static" / name).read_text(encoding="utf-8")


def make_app(*, workers: int = 2) -> tornado.web.Application:
    """The explorer as a tornado application (``app.settings["sessions"].close()`` removes its
    upload folder)."""
    sessions = _Sessions()
    args = {"sessions": sessions, "pool": ThreadPoolExecutor(max_workers=workers), "jobs": {}}
    return tornado.web.Application(
        [
            (r"/", _Page, args),
            (r"/static/([a-z.]+)", _Static, args),
            (r"/api/options", _Options, args),
            (r"/api/view", _View, args),
            (r"/api/progress", _Progress, args),
            (r"/api/cancel", _Cancel, args),
            (r"/api/protocol", _Protocol, args),
            (r"/api/download/([a-z_./]+)", _Download, args),
        ],
        sessions=sessions,
        compress_response=True,
        xsrf_cookies=False,
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    ready: Any = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the explorer until interrupted (or ``stop`` is set).

    ``ready`` is called with the bound port once the server listens (``port=0`` picks a free
    one)."""
    import tornado.httpserver

    async def main() -> None:
        app = make_app()
        # bodies up to 4x the limit are read and refused with a message; larger ones are cut off
        server = tornado.httpserver.HTTPServer(app, max_body_size=4 * MAX_BODY_BYTES)
        sock = _bind(host, port)
        server.add_sockets([sock])
        if ready is not None:
            ready(sock.getsockname()[1])
        try:
            while stop is None or not stop.is_set():
                await asyncio.sleep(0.1)
        finally:
            server.stop()
            app.settings["sessions"].close()

    asyncio.run(main())


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on the first address of ``host`` (closed again if binding fails)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
