"""Bulk import: many subscribers in one upload (contract 3.8).

``POST /api/import/subscribers`` (permission ``subscribers:import``) takes a CSV
(``email,name,attributes``, the attributes as JSON) and answers at once; Listmonk then
imports it in the background and ``GET /api/import/subscribers`` says how it went.
:meth:`ImportsAPI.import_subscribers` does the whole round: upload, poll until the
import ends, raise if it failed.

What an import does to each row (``upsert-subscriber``): a new email becomes an
``enabled`` subscriber with a subscription to each list in ``subscription_status``; an
existing one keeps its status, its name and attributes are *replaced* (not merged) with
``overwrite_userinfo``, its subscriptions keep their status unless
``overwrite_subscription_status`` (so by default an unsubscribed subscription stays
unsubscribed), and a blocklisted subscriber's new subscriptions are ``unsubscribed``.
Invalid emails are skipped (the import's log says which); no opt-in email is sent.

Listmonk runs **one import at a time per server**, for every user: another import
running makes the upload wait (up to ``wait`` seconds), and a wait that runs out raises
:class:`~listmonk.errors.ListmonkImportBusy`, a temporary error.

>>> print(import_csv([_Row("Ada@Example.com", "Lovelace, Ada", {"crm": 7})]).decode())
email,name,attributes
Ada@Example.com,"Lovelace, Ada","{""crm"":7}"
<BLANKLINE>
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import (
    ListmonkError,
    ListmonkImportBusy,
    ListmonkImportFailed,
    ListmonkOutcomeUnknown,
    ListmonkUnavailable,
)
from .models import ImportStatus, SubscriberData
from .transport import Transport

IMPORT_PATH = "api/import/subscribers"
_LOG_LINES = 5  # how much of the importer's log an error quotes


@dataclass(frozen=True)
class _Row:
    email: str
    name: str = ""
    attribs: Mapping[str, Any] = field(default_factory=dict)


def import_csv(records: Sequence[SubscriberData]) -> bytes:
    """The CSV Listmonk's importer reads: a header, then one quoted-where-needed row per
    record, the attributes as compact JSON."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("email", "name", "attributes"))
    encode = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":")).encode
    writer.writerows(
        (record.email.strip(), record.name.strip(), encode(dict(record.attribs)))
        for record in records
    )
    return buffer.getvalue().encode()


def _delays(interval: float) -> Iterator[float]:
    """Poll soon first (a small import is done in a blink), then every ``interval``."""
    delay = interval / 8
    while True:
        yield min(delay, interval)
        delay *= 2


def _tail(log: str) -> str:
    lines = [line for line in log.splitlines() if line.strip()]
    return " | ".join(lines[-_LOG_LINES:])


class ImportsAPI(Transport):
    """The import endpoints (mixed into :class:`~listmonk.client.ListmonkClient`)."""

    def import_status(self) -> ImportStatus:
        return ImportStatus.from_json(self.call("GET", IMPORT_PATH))

    def import_logs(self) -> str:
        return str(self.call("GET", f"{IMPORT_PATH}/logs") or "")

    def stop_import(self) -> ImportStatus:
        """Stop the running import (what was read so far is kept), or clear the status
        of a finished one."""
        return ImportStatus.from_json(self.call("DELETE", IMPORT_PATH))

    def import_subscribers(
        self,
        records: Sequence[SubscriberData],
        list_ids: Sequence[int],
        *,
        subscription_status: Literal["unconfirmed", "confirmed"] = "unconfirmed",
        overwrite_userinfo: bool = True,
        overwrite_subscription_status: bool = False,
        poll_interval: float = 0.1,
        wait: float = 300.0,
    ) -> ImportStatus:
        """Import ``records`` onto ``list_ids`` and wait until Listmonk is done.

        Returns the final status (``finished``, with the importer's ``log`` when fewer
        rows were imported than sent: skipped lines are listed there). A status of
        ``none`` means someone cleared the status before it could be read: the import
        ended, its result unknown. Raises :class:`~listmonk.errors.ListmonkImportFailed`
        when Listmonk reports ``failed``, :class:`~listmonk.errors.ListmonkImportBusy`
        when this import (or another, before it could start) is still running after
        ``wait`` seconds, and the usual errors of the requests.

        The records' ``lists`` are ignored: every row goes to ``list_ids`` (one import
        per list set). ``overwrite_userinfo`` replaces the name and *all* attributes of
        subscribers that exist already; a record without a name then gets one derived
        from its email.
        """
        lists = sorted({int(list_id) for list_id in list_ids})
        if not lists:
            raise ValueError("an import needs at least one list")
        if poll_interval <= 0 or wait < 0:
            raise ValueError("poll_interval must be positive and wait not negative")
        if not records:
            return ImportStatus("", 0, 0, "finished")
        name = f"marketing_trigger-{uuid.uuid4().hex[:16]}.csv"
        params = {
            "mode": "subscribe",
            "subscription_status": subscription_status,
            "delim": ",",
            "lists": lists,
            "overwrite": False,  # the legacy flag would set both of these
            "overwrite_userinfo": overwrite_userinfo,
            "overwrite_subscription_status": overwrite_subscription_status,
        }
        upload = {"file": (name, import_csv(records), "text/csv")}
        deadline = time.monotonic() + wait
        delays = _delays(poll_interval)
        status = self._start_import(name, params, upload, deadline, delays)
        delays = _delays(poll_interval)
        while status.name == name and status.running:
            if time.monotonic() >= deadline:
                raise ListmonkImportBusy(
                    f"Listmonk was still importing {status.name} ({status.imported} of "
                    f"{status.total} rows committed) after {wait:g} s; it carries on: "
                    "sync again later",
                    method="GET",
                    path=IMPORT_PATH,
                )
            time.sleep(next(delays))
            last, status = status, self.import_status()
            if status.name != name:  # cleared, or replaced by the next import
                return ImportStatus(name, last.total, last.imported, "none")
        if status.status == "failed":
            log = self.import_logs()
            raise ListmonkImportFailed(
                f"Listmonk's import of {len(records)} subscribers failed: "
                f"{_tail(log) or 'no log'}",
                log=log,
                method="POST",
                path=IMPORT_PATH,
            )
        if status.imported < len(records):
            return ImportStatus(
                status.name, status.total, status.imported, status.status, (self.import_logs())
            )
        return status

    def _start_import(
        self,
        name: str,
        params: Mapping[str, Any],
        upload: Mapping[str, Any],
        deadline: float,
        delays: Iterator[float],
    ) -> ImportStatus:
        """Upload, waiting while another import runs; the status of ours."""
        while True:
            try:
                data = self.call(
                    "POST", IMPORT_PATH, data={"params": json.dumps(params)}, files=upload
                )
            except (ListmonkUnavailable, ListmonkOutcomeUnknown) as exc:
                if "already running" in exc.message.lower():  # 500 while one is stopping
                    self._wait_for_other(deadline, delays, exc)
                    continue
                # The answer was lost: did the import start?
                try:
                    current = self.import_status()
                except ListmonkError:
                    raise exc from None
                if current.name == name:
                    return current
                raise
            except ListmonkError as exc:
                if "already running" not in exc.message.lower():
                    raise
                self._wait_for_other(deadline, delays, exc)
                continue
            return ImportStatus.from_json(data)

    def _wait_for_other(
        self, deadline: float, delays: Iterator[float], refusal: ListmonkError
    ) -> None:
        """Wait until the import that is running now ends, or raise at the deadline."""
        while True:
            if time.monotonic() >= deadline:
                raise ListmonkImportBusy(
                    f"another import kept Listmonk busy ({refusal.message}); Listmonk runs "
                    "one import at a time: sync again later, or stop a stuck import in "
                    "Listmonk",
                    status=refusal.status,
                    method="POST",
                    path=IMPORT_PATH,
                )
            time.sleep(next(delays))
            if not self.import_status().running:
                return
