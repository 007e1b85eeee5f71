"""The fake Listmonk's bulk import (contract 3.8, as ``cmd/import.go`` and
``internal/subimporter/importer.go`` of v6.2 do it).

``POST /api/import/subscribers`` takes a multipart form (``params``: a JSON string,
``file``: a CSV with the headers ``email,name,attributes``, or a ZIP holding one),
validates in Listmonk's order (an import already running, the params JSON, the
permitted lists, the mode, the subscription status, the delimiter, the file) and
answers at once with the status ``{"name","total","imported","status"}``; the rows are
then imported by a background thread, committed in transactions of 10,000 rows (the
``imported`` counter moves per commit), while ``GET /api/import/subscribers`` reports
``importing``, then ``finished`` or ``failed``. ``GET …/logs`` gives the importer's log
(skipped lines included) and ``DELETE`` stops a running import (``stopping``, then
``finished`` with what was read so far) or clears a finished one (``none``).

Each row is upserted by email (``upsert-subscriber``): a new subscriber is ``enabled``;
an existing one keeps its status, and its name and attributes are replaced only with
``overwrite_userinfo``; its subscriptions keep their status unless
``overwrite_subscription_status``; a blocklisted subscriber's new subscriptions are
``unsubscribed``. The legacy ``overwrite`` sets both flags. In ``blocklist`` mode the
rows are blocklisted and every subscription of theirs is unsubscribed. Invalid emails
are skipped and logged, like invalid attribute JSON (that row is imported without
attributes).

Listmonk's own oddities are kept: a list ID that does not exist makes the first insert
fail, and the import then ends ``finished`` with nothing imported (the error is only in
the log); a stop requested while the last rows are committed stays pending and stops the
*next* import at its first row.

Not modelled: domain block/allow lists, the 10,000-row queue blocking when an insert
fails in a larger file, and a JSON ``null`` stored as attributes (Listmonk writes
``null`` for a row without attributes; the fake keeps ``{}``).
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._base import FakeHTTPError, Request, new_uuid, now, sanitize_email
from ._messages import MessageRoutes

COMMIT_BATCH_SIZE = 10000  # subimporter's commitBatchSize
ALREADY_RUNNING = (
    "An import is already running. Wait for it to finish or stop it before trying again."
)
_FIELDS = {  # SessionOpt: JSON name -> Go type
    "filename": "string",
    "mode": "string",
    "subscription_status": "string",
    "overwrite": "bool",
    "overwrite_userinfo": "bool",
    "overwrite_subscription_status": "bool",
    "delim": "string",
    "lists": "[]int",
}
_ZERO = {"string": "", "bool": False, "[]int": []}
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# importer.go line numbers, for log lines that look like Listmonk's (log.Lshortfile)
_LINES = {
    "processing": 193,
    "insert": 315,
    "imported": 329,
    "finished": 358,
    "header": 501,
    "no_email": 508,
    "stop": 524,
    "field_count": 534,
    "csv": 537,
    "invalid": 564,
    "attributes": 575,
    "unknown_header": 705,
    "zip_skip_dir": 405,
    "zip_skip": 411,
    "zip_extracting": 418,
    "zip_extracted": 437,
    "zip_none": 447,
}


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return f"number {json.dumps(value)}" if isinstance(value, float) else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_json_error(text: str, error: json.JSONDecodeError) -> str:
    """Roughly encoding/json's syntax error messages."""
    if error.pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    return f"invalid character {text[error.pos]!r} looking for beginning of value"


def session_options(text: str) -> dict[str, Any]:
    """``json.Unmarshal(params, &SessionOpt)``: keys match case-insensitively, ``null``
    keeps the zero value, unknown keys are ignored; the error is Go's.

    >>> session_options('{"Mode": "subscribe", "lists": [1]}')["mode"]
    'subscribe'
    >>> session_options('{"lists": "1"}')
    Traceback (most recent call last):
    ...
    ValueError: json: cannot unmarshal string into Go struct field SessionOpt.lists of type []int
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(_go_json_error(text, exc)) from None
    options = {name: _ZERO[go_type] for name, go_type in _FIELDS.items()}
    options["lists"] = []
    if data is None:
        return options
    if not isinstance(data, dict):
        kind = _go_kind(data).split()[0]
        raise ValueError(
            f"json: cannot unmarshal {kind} into Go value of type subimporter.SessionOpt"
        )
    first_error = ""
    for key, value in data.items():
        name = key if key in _FIELDS else next((n for n in _FIELDS if n == key.lower()), None)
        if name is None or value is None:
            continue
        go_type = _FIELDS[name]
        error_type, bad = go_type, None
        if (go_type == "string" and not isinstance(value, str)) or (
            go_type == "bool" and not isinstance(value, bool)
        ):
            bad = value
        elif go_type == "[]int":
            if not isinstance(value, list):
                bad = value
            else:
                wrong = [
                    v
                    for v in value
                    if v is not None and (isinstance(v, bool) or not isinstance(v, int))
                ]
                if wrong:
                    bad, error_type = wrong[0], "int"
                value = [v if isinstance(v, int) and not isinstance(v, bool) else 0 for v in value]
        if bad is not None:
            first_error = first_error or (
                f"json: cannot unmarshal {_go_kind(bad)} into Go struct field "
                f"SessionOpt.{name} of type {error_type}"
            )
            continue
        options[name] = value
    if first_error:
        raise ValueError(first_error)
    return options


def import_name(email: str) -> str:
    """The importer's name for a row without one: the local part, dots as spaces,
    each word capitalised (the API's create handler derives it differently).

    >>> import_name("jane.doe-smith@example.com")
    'Jane Doe-Smith'
    """
    return " ".join(part.title() for part in email.split("@")[0].lower().replace(".", " ").split())


def _go_slice(values: list[str]) -> str:
    return "[" + " ".join(values) + "]"


@dataclass
class ImportSession:
    """One import: its options and its own log (a cleared status keeps no log)."""

    name: str
    mode: str
    subscription_status: str
    lists: list[int]
    overwrite_userinfo: bool
    overwrite_subscription_status: bool
    delim: str
    path: str = field(default_factory=lambda: f"/tmp/listmonk{random.randrange(10**9)}")
    log: list[str] = field(default_factory=list)

    def write(self, where: str, message: str) -> None:
        moment = time.time()
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(moment))
        micro = int((moment % 1) * 1_000_000)
        self.log.append(f"{stamp}.{micro:06d} importer.go:{_LINES[where]}: {message}\n")


class ImportRoutes(MessageRoutes):
    """The import routes and the importer (one import at a time per server)."""

    def __init__(self, base_url: str, version: str) -> None:
        super().__init__(base_url, version)
        self.import_lock = threading.Lock()  # the importer's own mutex, not the database's
        self.import_state: dict[str, Any] = {"name": "", "total": 0, "imported": 0}
        self.import_state |= {"status": "none", "log": []}
        self.import_gate = threading.Event()  # cleared: started imports wait (tests)
        self.import_gate.set()
        self.import_stop = threading.Event()  # Listmonk's stop channel (buffered, 1)
        self.import_thread: threading.Thread | None = None

    # -- routes -------------------------------------------------------------------------

    def import_stats(self) -> dict[str, Any]:
        with self.import_lock:
            state = self.import_state
            return {key: state[key] for key in ("name", "total", "imported", "status")}

    def import_status(self, request: Request) -> Any:
        return self.import_stats()

    def import_logs(self, request: Request) -> Any:
        with self.import_lock:
            return "".join(self.import_state["log"] or ())

    def stop_import(self, request: Request) -> Any:
        with self.import_lock:
            if self.import_state["status"] != "importing":
                self.import_state = {"name": "", "total": 0, "imported": 0, "status": "none"}
                self.import_state["log"] = None
            elif not self.import_stop.is_set():
                self.import_stop.set()
                self.import_state["status"] = "stopping"
        return self.import_stats()

    def import_subscribers(self, request: Request) -> Any:
        if self.import_stats()["status"] == "importing":
            raise FakeHTTPError(400, ALREADY_RUNNING)
        params = request.form.get("params", request.param("params") or "")
        try:
            options = session_options(params)
        except ValueError as exc:
            raise FakeHTTPError(400, f"Invalid params: {exc}") from None
        # FilterListsByPerm: without lists:manage_all no list is permitted (the fake has
        # no per-list roles); list IDs are not checked against existing lists here.
        lists = options["lists"] if request.user.has("lists:manage_all") else []
        mode = options["mode"]
        if not lists and mode != "blocklist":
            raise FakeHTTPError(403, "Permission denied: lists")
        if mode not in ("subscribe", "blocklist"):
            raise FakeHTTPError(400, "Invalid mode")
        status = options["subscription_status"] or (
            "unconfirmed" if mode == "subscribe" else "unsubscribed"
        )
        if status not in ("unconfirmed", "confirmed", "unsubscribed"):
            raise FakeHTTPError(400, "Invalid subscription status")
        if len(options["delim"].encode()) != 1:
            raise FakeHTTPError(400, "Delimiter should be a single character.")
        if request.form_error:
            raise FakeHTTPError(400, f"Invalid file: {request.form_error}")
        if "file" not in request.files:
            raise FakeHTTPError(400, "Invalid file: http: no such file")
        filename, content = request.files["file"]
        overwrite = options["overwrite"]
        session = ImportSession(
            name=filename,
            mode=mode,
            subscription_status=status,
            lists=list(lists),
            overwrite_userinfo=options["overwrite_userinfo"] or overwrite,
            overwrite_subscription_status=options["overwrite_subscription_status"] or overwrite,
            delim=options["delim"],
        )
        with self.import_lock:
            if self.import_state["status"] in ("importing", "stopping"):
                raise FakeHTTPError(500, "Error starting import: an import is already running")
            self.import_state = {"name": filename, "total": 0, "imported": 0}
            self.import_state |= {"status": "importing", "log": session.log}
        session.write("processing", f"processing '{filename}'")
        if not filename.lower().endswith(".csv"):
            try:
                content = self._extract_zip(session, content)
            except ValueError as exc:
                self._set_import_status("failed")
                raise FakeHTTPError(500, f"Error processing ZIP file: {exc}") from None
        thread = threading.Thread(
            target=self._run_import, args=(session, content), name="fake-listmonk-import"
        )
        thread.daemon = True
        self.import_thread = thread
        thread.start()
        return self.import_stats()

    # -- the importer -------------------------------------------------------------------

    def _set_import_status(self, status: str) -> None:
        with self.import_lock:
            self.import_state["status"] = status

    def _extract_zip(self, session: ImportSession, content: bytes) -> bytes:
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
        except zipfile.BadZipFile:
            raise ValueError("zip: not a valid zip file") from None
        found: list[bytes] = []
        for info in archive.infolist():
            name = info.filename.rstrip("/").rsplit("/", 1)[-1]
            if info.is_dir():
                session.write("zip_skip_dir", f"skipping directory '{name}'")
                continue
            if not name.lower().endswith(".csv"):
                session.write("zip_skip", f"skipping non .csv file '{name}'")
                continue
            session.write("zip_extracting", f"extracting '{name}'")
            found.append(archive.read(info))
            session.write("zip_extracted", f"extracted '{name}'")
            if len(found) > 1:
                break
        if not found:
            session.write("zip_none", "no CSV files found in the ZIP")
            raise ValueError("no CSV files found in the ZIP")
        return found[0]

    def _run_import(self, session: ImportSession, content: bytes) -> None:
        self.import_gate.wait()
        try:
            done = self._load_csv(session, content)
        except Exception as exc:  # a bug of the fake: fail loudly, not "importing" forever
            session.write("csv", f"error reading CSV '{exc!r}'")
            done = False
        if not done:
            self._set_import_status("failed")

    def _load_csv(self, session: ImportSession, content: bytes) -> bool:
        """LoadCSV and Start together; ``False`` when the import failed."""
        lines = content.count(b"\n") + (1 if content and not content.endswith(b"\n") else 0)
        if lines == 0:
            return False  # "empty file", not logged
        with self.import_lock:
            self.import_state["total"] = lines - 1
        text = content.decode("utf-8", "replace")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=session.delim, strict=True)
        try:
            header = next((r for r in reader if r), None)
        except csv.Error as exc:
            header, error = None, str(exc)
        else:
            error = "EOF"
        if header is None:
            session.write("header", f"error reading header from '{session.path}': '{error}'")
            return False
        columns: dict[str, int] = {}
        for index, raw in enumerate(header):
            name = _NON_ASCII.sub("", raw.strip())
            if name in ("email", "name", "attributes"):
                columns[name] = index
            else:
                session.write("unknown_header", f"ignoring unknown header '{name}'")
        if "email" not in columns:
            session.write("no_email", f"'email' column not found in '{session.path}'")
            return False
        pending: list[tuple[str, str, dict[str, Any] | None]] = []
        line = 0
        while True:
            if self.import_stop.is_set():
                self.import_stop.clear()
                session.write("stop", "stop request received")
                break
            start = reader.line_num + 1
            try:
                cols = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                session.write("csv", f"error reading CSV '{exc}'")
                return False  # the rows not yet committed never are
            if not cols:
                continue  # blank lines are skipped by Go's reader
            line += 1
            if len(cols) != len(header):
                session.write(
                    "field_count",
                    f"skipping line {line}. record on line {start}: wrong number of fields",
                )
                continue
            row = self._import_row(session, line, {k: cols[i] for k, i in columns.items()}, cols)
            if row is None:
                continue
            pending.append(row)
            if len(pending) == COMMIT_BATCH_SIZE:
                if not self._commit(session, pending):
                    return self._finish(session)
                with self.import_lock:
                    imported = self.import_state["imported"]
                session.write("imported", f"imported {imported}")
                pending = []
        if pending:
            self._commit(session, pending)
        return self._finish(session)

    def _import_row(
        self, session: ImportSession, line: int, row: dict[str, str], cols: list[str]
    ) -> tuple[str, str, dict[str, Any] | None] | None:
        """ValidateFields and the attributes: the row to upsert, or ``None`` (skipped)."""
        try:
            if len(row["email"]) > 1000:
                raise FakeHTTPError(400, "Invalid email.")
            email = sanitize_email(row["email"])
        except FakeHTTPError as exc:
            session.write("invalid", f"skipping line {line}: {exc.message}: {_go_slice(cols)}")
            return None
        name = row.get("name", "").strip() or import_name(email)
        attribs: dict[str, Any] | None = None
        if row.get("attributes"):
            problem = ""
            try:
                value = json.loads(row["attributes"])
            except json.JSONDecodeError as exc:
                problem = _go_json_error(row["attributes"], exc)
            else:
                if isinstance(value, dict):
                    attribs = value
                elif value is not None:
                    kind = _go_kind(value).split()[0]
                    problem = f"json: cannot unmarshal {kind} into Go value of type models.JSON"
            if problem:
                session.write(
                    "attributes",
                    f"skipping invalid attributes JSON on line {line} for '{email}': {problem}",
                )
        return email, name, attribs

    def _commit(self, session: ImportSession, rows: list[tuple[str, str, Any]]) -> bool:
        """One transaction: every row or none (``False``: an insert failed)."""
        with self.lock:
            if session.mode == "subscribe":
                if any(list_id not in self.lists for list_id in session.lists):
                    session.write(
                        "insert",
                        "error executing insert: pq: insert or update on table "
                        '"subscriber_lists" violates foreign key constraint '
                        '"subscriber_lists_list_id_fkey"',
                    )
                    return False
                if len(set(session.lists)) != len(session.lists):
                    session.write(
                        "insert",
                        "error executing insert: pq: ON CONFLICT DO UPDATE command cannot "
                        "affect row a second time",
                    )
                    return False
            moment = now()  # NOW() is the transaction's time
            upsert: Callable[..., None] = (
                self._upsert if session.mode == "subscribe" else self._upsert_blocklisted
            )
            for email, name, attribs in rows:
                upsert(session, email, name, attribs, moment)
        with self.import_lock:
            self.import_state["imported"] += len(rows)
        return True

    def _finish(self, session: ImportSession) -> bool:
        """The end of Start: ``finished`` (even after a failed insert: nothing was
        pending then), the lists' dates touched."""
        self._set_import_status("finished")
        session.write("finished", "imported finished")
        with self.lock:
            moment = now()
            for list_id in session.lists:
                if list_id in self.lists:
                    self.lists[list_id]["updated_at"] = moment
        return True

    def _upsert(
        self,
        session: ImportSession,
        email: str,
        name: str,
        attribs: dict[str, Any] | None,
        moment: Any,
    ) -> None:
        """upsert-subscriber."""
        row = self.subscribers.by_email(email)
        subscriptions = self.subscriptions
        if row is None:  # the common case, kept lean: 5,000 rows per import
            subscriber_id = self.next_id("subscribers")
            self.subscribers[subscriber_id] = {
                "id": subscriber_id,
                "uuid": new_uuid(),
                "email": email,
                "name": name,
                "attribs": attribs or {},
                "status": "enabled",
                "created_at": moment,
                "updated_at": moment,
            }
            status = session.subscription_status
            for list_id in session.lists:
                subscriptions[(subscriber_id, list_id)] = {
                    "status": status,
                    "created_at": moment,
                    "updated_at": moment,
                }
            return
        if session.overwrite_userinfo:
            with self.subscribers.changing(row):
                row |= {"name": name, "attribs": attribs or {}}
        row["updated_at"] = moment
        wanted = "unsubscribed" if row["status"] == "blocklisted" else session.subscription_status
        for list_id in session.lists:
            key = (row["id"], list_id)
            current = subscriptions.get(key)
            if current is None:
                subscriptions[key] = {"status": wanted, "created_at": moment, "updated_at": moment}
                continue
            current["updated_at"] = moment
            if session.overwrite_subscription_status:
                current["status"] = wanted

    def _upsert_blocklisted(
        self,
        session: ImportSession,
        email: str,
        name: str,
        attribs: dict[str, Any] | None,
        moment: Any,
    ) -> None:
        """upsert-blocklist-subscriber."""
        row = self.subscribers.by_email(email)
        if row is None:
            row = {"id": self.next_id("subscribers"), "uuid": new_uuid(), "email": email}
            row |= {"name": name, "attribs": attribs or {}, "status": "blocklisted"}
            row |= {"created_at": moment, "updated_at": moment}
            self.subscribers[row["id"]] = row
        else:
            row |= {"status": "blocklisted", "updated_at": moment}
        for sub in self.subscriptions.of_subscriber(row["id"]).values():
            sub |= {"status": "unsubscribed", "updated_at": moment}
