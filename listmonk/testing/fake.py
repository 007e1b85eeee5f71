"""A fake Listmonk for tests: a real HTTP server on 127.0.0.1, in-memory state.

Written from the API contract (``LISTMONK.md``, Listmonk v6.2), not from the client,
and strict where Listmonk is: routing answers 404/405 before auth, every auth failure
is a 403 with Listmonk's message, a ``session=`` cookie makes it ignore the
Authorization header, missing records are 400 ``… not found``, duplicates 409 on create
and 500 on update, Go binder errors, the ``{"data": …}`` envelope with ``<>&`` escaped,
the paginator and its empty-page quirks, SQL ``query=`` (a subset, see
:mod:`listmonk.testing._sql`), PUT replacing and PATCH merging, partial tx sends, the CSV
import running in the background (:mod:`listmonk.testing._imports`)::

    with FakeListmonk() as fake:
        client = ListmonkClient(fake.base_url, fake.username, fake.token, timeout=0.2)
        fake.outage(after=3)                      # every request after the 3rd: 503
        fake.inject(path="/api/tx", delay=0.5)    # tx is queued, its answer comes late
        fake.add_user("ro", "t", {"lists:get_all"})  # a role with one permission
        fake.requests                             # what the client sent, in order
        fake.outbox                               # transactional messages queued
        fake.hold_imports()                       # imports stay "importing" until released

It is indexed like the database (email, subscriptions by subscriber and by list, the
attributes queries use), so 100,000 subscribers stay fast. To run it in a process of
its own (a benchmark: client and server then do not share the GIL)::

    python -m listmonk.testing --port 0   # prints {"base_url": …, "username": …, "token": …}

and it serves until killed (SIGTERM or SIGINT).

Not modelled: per-list roles (a user has ``lists:get_all``/``lists:manage_all`` or sees no
list), media, the public pages, archive fields, opt-in emails.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._base import FakeHTTPError, FakeUser, Request, now
from ._imports import ImportRoutes

__all__ = ["Fault", "FakeListmonk", "FakeUser", "LoggedRequest"]

_BODY_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/xml",
    "text/xml",
)
_HTML_404 = b"<!doctype html><html><body><h1>404 Page not found</h1></body></html>"


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: str
    permissions: tuple[str, ...] = ()
    public: bool = False
    locked: bool = True  # runs holding the database lock (the importer has its own)
    form: bool = False  # reads a form (multipart or urlencoded), not JSON

    @property
    def static(self) -> bool:
        return "(?P<" not in self.pattern.pattern


def _route(
    method: str,
    path: str,
    handler: str,
    *perms: str,
    public: bool = False,
    locked: bool = True,
    form: bool = False,
) -> _Route:
    regex = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", path)
    return _Route(method, re.compile(regex), handler, perms, public, locked, form)


_SUB_GET = ("subscribers:get_all", "subscribers:get")
_CAMP_GET = ("campaigns:get_all", "campaigns:get")
_CAMP_MANAGE = ("campaigns:manage_all", "campaigns:manage")
_IMPORT = "subscribers:import"
ROUTES = (
    _route("GET", "/health", "health", public=True),
    _route("GET", "/api/health", "health"),
    _route("GET", "/api/config", "config"),
    _route("GET", "/api/subscribers", "query_subscribers", *_SUB_GET),
    _route("POST", "/api/subscribers", "create_subscriber", "subscribers:manage"),
    _route("DELETE", "/api/subscribers", "delete_subscribers", "subscribers:manage"),
    _route("PUT", "/api/subscribers/blocklist", "blocklist_many", "subscribers:manage"),
    _route("PUT", "/api/subscribers/lists", "manage_lists", "subscribers:manage"),
    _route("PUT", "/api/subscribers/lists/:id", "manage_lists", "subscribers:manage"),
    _route("GET", "/api/subscribers/:id", "get_subscriber", *_SUB_GET),
    _route("GET", "/api/subscribers/:id/activity", "subscriber_activity", *_SUB_GET),
    _route("GET", "/api/subscribers/:id/bounces", "subscriber_bounces", "bounces:get"),
    _route("PUT", "/api/subscribers/:id", "update_subscriber", "subscribers:manage"),
    _route("PATCH", "/api/subscribers/:id", "patch_subscriber", "subscribers:manage"),
    _route("PUT", "/api/subscribers/:id/blocklist", "blocklist_one", "subscribers:manage"),
    _route("DELETE", "/api/subscribers/:id", "delete_subscriber", "subscribers:manage"),
    _route("GET", "/api/lists", "get_lists"),
    _route("POST", "/api/lists", "create_list", "lists:manage_all"),
    _route("GET", "/api/lists/:id", "get_list"),
    _route("PUT", "/api/lists/:id", "update_list"),
    _route("DELETE", "/api/lists/:id", "delete_list"),
    _route("GET", "/api/campaigns", "get_campaigns", *_CAMP_GET),
    _route("POST", "/api/campaigns", "create_campaign", *_CAMP_MANAGE),
    _route("GET", "/api/campaigns/analytics/:type", "analytics", "campaigns:get_analytics"),
    _route("GET", "/api/campaigns/:id", "get_campaign", *_CAMP_GET),
    _route("PUT", "/api/campaigns/:id", "update_campaign", *_CAMP_MANAGE),
    _route("PUT", "/api/campaigns/:id/status", "set_campaign_status", "campaigns:send"),
    _route("DELETE", "/api/campaigns/:id", "delete_campaign", *_CAMP_MANAGE),
    _route("GET", "/api/templates", "get_templates", "templates:get"),
    _route("POST", "/api/templates", "create_template", "templates:manage"),
    _route("GET", "/api/templates/:id", "get_template", "templates:get"),
    _route("PUT", "/api/templates/:id", "update_template", "templates:manage"),
    _route("DELETE", "/api/templates/:id", "delete_template", "templates:manage"),
    _route("POST", "/api/tx", "send_tx", "tx:send"),
    _route("GET", "/api/bounces", "get_bounces", "bounces:get"),
    _route("GET", "/api/bounces/:id", "get_bounce", "bounces:get"),
    _route("POST", "/webhooks/bounce", "bounce_webhook", "webhooks:post_bounce"),
    _route("GET", "/api/import/subscribers", "import_status", _IMPORT, locked=False),
    _route("GET", "/api/import/subscribers/logs", "import_logs", _IMPORT, locked=False),
    _route("POST", "/api/import/subscribers", "import_subscribers", _IMPORT, form=True),
    _route("DELETE", "/api/import/subscribers", "stop_import", _IMPORT, locked=False),
)


@dataclass
class LoggedRequest:
    """One request as the fake received it (logged on arrival), and the status it was
    answered with: ``None`` until answered, or when the connection was dropped."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    """A failure to inject. It applies to requests matching ``method`` and ``path`` (a
    regex searched in the path), lets the first ``after`` of them through, then fires
    ``times`` times (``None``: until cleared).

    - ``status``: answer this status (``{"message": message}``) instead;
    - ``drop``: close the connection without answering;
    - ``delay``: seconds to wait before answering (a timeout for a client that waits
      less);
    - ``apply``: let the request take effect first, *then* fail: the lost answer. A
      pure ``delay`` always takes effect (a slow server still does the work).
    """

    status: int | None = None
    message: str = ""
    delay: float = 0.0
    drop: bool = False
    method: str | None = None
    path: str | None = None
    after: int = 0
    times: int | None = None
    apply: bool = False
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def take(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        if self.path and not re.search(self.path, path):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True

    @property
    def fails(self) -> bool:
        return self.status is not None or self.drop


class FakeListmonk:
    """The server. Use as a context manager; ``base_url`` is set once started."""

    def __init__(
        self,
        *,
        username: str = "api",
        token: str = "fake-token-0123456789",
        version: str = "v6.2.0",
        host: str = "127.0.0.1",
        port: int = 0,
        record_requests: bool = True,
    ) -> None:
        self.username = username
        self.token = token
        self.host = host
        self.port = port  # 0: any free port
        self.record_requests = record_requests  # False: ``requests`` stays empty
        self.state = ImportRoutes("", version)
        self.state.seed_templates()
        self.users: dict[str, FakeUser] = {username: FakeUser(username, token)}
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Listmonk is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> FakeListmonk:
        server = ThreadingHTTPServer((self.host, self.port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self.state.base_url = self.base_url
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeListmonk:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- switches -----------------------------------------------------------------------

    def add_user(
        self, username: str, token: str, permissions: Iterable[str] | None = None
    ) -> FakeUser:
        """An API user; ``permissions=None`` gives the Super Admin role."""
        user = FakeUser(username, token, None if permissions is None else frozenset(permissions))
        self.users[username] = user
        return user

    def inject(self, **fault: Any) -> Fault:
        """Add a :class:`Fault` (keyword arguments as its fields)."""
        added = Fault(**fault)
        with self._lock:
            self.faults.append(added)
        return added

    def outage(self, *, after: int = 0, status: int = 503, **fault: Any) -> Fault:
        """Everything after the first ``after`` requests fails (a server going down)."""
        message = fault.pop("message", "Service Unavailable")
        return self.inject(after=after, status=status, message=message, **fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def hold_imports(self) -> None:
        """Imports started from now on stay ``importing`` until :meth:`release_imports`."""
        self.state.import_gate.clear()

    def release_imports(self) -> None:
        self.state.import_gate.set()

    def wait_for_import(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the import thread is done; its status."""
        thread = self.state.import_thread
        if thread is not None:
            thread.join(timeout)
        return self.state.import_stats()

    def calls(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged requests with this method and a path matching the regex ``path``."""
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
        ]

    # -- state shortcuts ----------------------------------------------------------------

    @property
    def outbox(self) -> list[dict[str, Any]]:
        return self.state.outbox

    def run_campaigns(self) -> None:
        self.state.run_campaigns()

    def unsubscribe(self, email: str, list_id: int) -> None:
        """What a campaign's unsubscribe link does: only the subscription changes."""
        with self.state.lock:
            subscriber = self.state.find_subscriber(email=email)
            subscription = self.state.subscriptions[(subscriber["id"], list_id)]
            subscription |= {"status": "unsubscribed", "updated_at": now()}

    # -- request handling (called from server threads) ---------------------------------

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.take(method, path):
                    return fault
        return None

    def _log(self, entry: LoggedRequest) -> None:
        if self.record_requests:
            with self._lock:
                self.requests.append(entry)

    def _authenticate(self, headers: Any) -> FakeUser:
        if "session=" in (headers.get("Cookie") or ""):
            # A session cookie wins over Authorization, and an API client has none.
            raise FakeHTTPError(403, "invalid session")
        value = headers.get("Authorization")
        if not value:
            raise FakeHTTPError(403, "invalid session")
        if value.startswith("token "):
            credential = value[len("token ") :]
        elif value.startswith("Basic "):
            try:
                credential = base64.b64decode(value[len("Basic ") :], validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise FakeHTTPError(
                    403, "code=400, message=invalid Base64 value in Basic Authorization header"
                ) from None
        else:
            raise FakeHTTPError(403, "code=400, message=unknown Authorization scheme")
        if ":" not in credential:
            raise FakeHTTPError(403, "code=400, message=api_key:token missing")
        username, token = credential.split(":", 1)
        if not username or not token:
            raise FakeHTTPError(403, "code=400, message=empty `api_key` or `token`")
        user = self.users.get(username)
        if user is None or not user.enabled or not hmac.compare_digest(user.token, token):
            raise FakeHTTPError(403, "invalid API credentials")
        return user

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, raw: bytes
    ) -> Any:
        candidates = [r for r in ROUTES if r.pattern.fullmatch(path)]
        if path == "/webhooks/bounce" and not self.state.bounce_webhooks:
            candidates = []
        if not candidates:
            if path.startswith("/api/"):
                raise FakeHTTPError(404, "404 unknown endpoint")
            raise FakeHTTPError(404, "", html=True)
        routes = sorted((r for r in candidates if r.method == method), key=lambda r: not r.static)
        if not routes:
            allow = ", ".join(sorted({r.method for r in candidates}))
            raise FakeHTTPError(405, "Method Not Allowed|" + allow)
        route = routes[0]
        user = FakeUser("", "") if route.public else self._authenticate(headers)
        if route.permissions and not user.has(*route.permissions):
            raise FakeHTTPError(403, f"permission denied: {route.permissions[-1]}")
        ids = route.pattern.fullmatch(path).groupdict()  # type: ignore[union-attr]
        if "id" in ids and not (re.fullmatch(r"\d+", ids["id"]) and int(ids["id"]) >= 1):
            raise FakeHTTPError(400, "invalid ID")
        request = Request(method, path, query, {}, user, ids, raw)
        if route.form:
            request.form, request.files, request.form_error = _form(headers, raw)
        else:
            request.body = self._body(headers, raw, webhook=path.startswith("/webhooks/"))
        handler = getattr(self.state, route.handler)
        if not route.locked:
            return handler(request)
        with self.state.lock:
            return handler(request)

    def _body(self, headers: Any, raw: bytes, *, webhook: bool) -> dict[str, Any]:
        if not raw:
            return {}
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in _BODY_TYPES:
            raise FakeHTTPError(415, "Unsupported Media Type")
        if content_type != "application/json":
            raise FakeHTTPError(400, "the fake Listmonk only reads JSON bodies")
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            if webhook:
                raise FakeHTTPError(400, f"Invalid data:{exc.msg}") from None
            if exc.pos >= len(text.rstrip()):
                raise FakeHTTPError(400, "unexpected EOF") from None
            raise FakeHTTPError(
                400, f"Syntax error: offset={exc.pos + 1}, error=invalid character in JSON"
            ) from None
        if not isinstance(body, dict):
            kind = "array" if isinstance(body, list) else type(body).__name__
            raise FakeHTTPError(
                400, f"Unmarshal type error: expected=struct, got={kind}, field=, offset=1"
            )
        return body


def _form(headers: Any, raw: bytes) -> tuple[dict[str, str], dict[str, tuple[str, bytes]], str]:
    """A form body as Go's ``Request.FormValue``/``FormFile`` read it: the fields, the
    files, and the error ``FormFile`` gives when the body is no multipart form."""
    content_type = headers.get("Content-Type") or ""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        return fields, {}, "request Content-Type isn't multipart/form-data"
    if kind != "multipart/form-data":
        return {}, {}, "request Content-Type isn't multipart/form-data"
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}, {}, "no multipart boundary param in Content-Type"
    delimiter = b"--" + match[1].encode()
    if delimiter not in raw:
        return {}, {}, "multipart: NextPart: EOF"
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in raw.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, separator, content = part.partition(b"\r\n\r\n")
        if not separator:
            return fields, files, "multipart: NextPart: EOF"
        content = content[:-2] if content.endswith(b"\r\n") else content
        disposition = next(
            (
                line.decode("utf-8", "replace")
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-disposition:")
            ),
            "",
        )
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name is None:
            continue
        if filename is not None:
            files.setdefault(name[1], (filename[1], content))
        else:
            fields.setdefault(name[1], content.decode("utf-8", "replace"))
    return fields, files, ""


def _encode(payload: Any) -> bytes:
    # Go's encoder escapes <, > and & inside strings and ends with a newline.
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if "<" in text or ">" in text or "&" in text:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (text + "\n").encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-listmonk"
    disable_nagle_algorithm = True  # no 40 ms stalls between writes
    wbufsize = 1 << 16  # headers and body leave in one write (flushed in ``_send``)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _handle(self) -> None:
        fake: FakeListmonk = self.server.fake  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        method, path = self.command, split.path
        query = parse_qs(split.query, keep_blank_values=True)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        entry = LoggedRequest(method, path, query, dict(self.headers.items()), raw)
        fake._log(entry)
        fault = fake._fault_for(method, path)
        if fault is not None and fault.fails and not fault.apply:
            time.sleep(fault.delay)
            self._fail(fault, entry)
            return
        try:
            data = fake._dispatch(method, path, query, self.headers, raw)
            status, payload, extra = 200, _encode({"data": data}), dict[str, str]()
        except FakeHTTPError as exc:
            status, payload, extra = self._error(exc)
        if fault is not None:
            time.sleep(fault.delay)
        if fault is not None and fault.fails:
            self._fail(fault, entry)
        else:
            entry.status = status  # logged before the client can read the answer
            self._send(status, payload, extra)

    def _error(self, exc: FakeHTTPError) -> tuple[int, bytes, dict[str, str]]:
        if exc.html:
            return exc.status, _HTML_404, {"Content-Type": "text/html; charset=utf-8"}
        message, extra = exc.message, {}
        if exc.status == 405:
            message, allow = message.split("|", 1)
            extra["Allow"] = allow
        return exc.status, _encode({"message": message}), extra

    def _fail(self, fault: Fault, entry: LoggedRequest) -> None:
        if fault.drop:
            self.close_connection = True
            return
        entry.status = fault.status or 500
        message = fault.message or "Internal Server Error"
        self._send(entry.status, _encode({"message": message}), {})

    def _send(self, status: int, payload: bytes, extra: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(payload)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def main(argv: list[str] | None = None) -> None:
    """``python -m listmonk.testing``: serve until killed; print where, as one JSON line."""
    import argparse
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m listmonk.testing", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--username", default="api")
    parser.add_argument("--token", default="fake-token-0123456789")
    parser.add_argument("--version", default="v6.2.0", help="the Listmonk version to claim")
    parser.add_argument("--record", action="store_true", help="keep every request in memory")
    args = parser.parse_args(argv)
    fake = FakeListmonk(
        username=args.username,
        token=args.token,
        version=args.version,
        host=args.host,
        port=args.port,
        record_requests=args.record,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with fake:
        info = {"base_url": fake.base_url, "username": fake.username, "token": fake.token}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        stop.wait()


if __name__ == "__main__":
    main()
