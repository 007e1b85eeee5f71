"""Shared pieces of the fake Listmonk: its errors, request, users, binding, paging, clock,
and its two indexed tables.

Everything mimics Listmonk v6.2 as the contract (``LISTMONK.md``) describes it: Go's
JSON binder messages (section 2.4), the paginator (2.5), Go and Postgres timestamp
forms (2.6).

The tables are dicts that keep their indexes themselves, so no request is O(number of
subscribers) unless its SQL needs a scan (as in Postgres):

>>> subscriptions = SubscriptionTable()
>>> subscriptions[(7, 1)] = {"status": "confirmed"}
>>> subscriptions[(7, 2)] = {"status": "unsubscribed"}
>>> del subscriptions[(7, 1)]
>>> subscriptions.of_subscriber(7), subscriptions.of_list(1)
({2: {'status': 'unsubscribed'}}, {})
>>> subscribers = SubscriberTable()
>>> subscribers[3] = {"id": 3, "email": "ada@example.com", "attribs": {"crm": 7}}
>>> subscribers.id_of_email("ada@example.com"), subscribers.ids_with_attribute("crm", "7")
(3, {3})
>>> with subscribers.changing(subscribers[3]) as row:
...     row["email"] = "lovelace@example.com"
>>> subscribers.id_of_email("ada@example.com") is None
True
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

_EMAIL_RE = re.compile(r"^[^\s@<>(),;:\"\[\]]+@[^\s@<>(),;:\"\[\]]+\.[^\s@<>(),;:\"\[\]]+$")
_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}


class FakeHTTPError(Exception):
    """An answer other than 200: ``{"message": …}``, or an HTML page when ``html``."""

    def __init__(self, status: int, message: str, *, html: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.html = html


@dataclass
class FakeUser:
    """An API user. ``permissions=None`` is the Super Admin role (every permission)."""

    username: str
    token: str
    permissions: frozenset[str] | None = None
    enabled: bool = True

    def has(self, *permissions: str) -> bool:
        return self.permissions is None or any(p in self.permissions for p in permissions)


@dataclass
class Request:
    method: str
    path: str
    params: Mapping[str, list[str]]
    body: dict[str, Any]
    user: FakeUser
    ids: dict[str, str] = field(default_factory=dict)
    raw_body: bytes = b""
    # Form fields and uploaded files ``name -> (filename, content)`` of a form body.
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    form_error: str = ""  # why a body is no multipart form (Go's FormFile error)

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None

    def params_list(self, name: str) -> list[str]:
        return list(self.params.get(name) or ())

    def flag(self, name: str) -> bool:
        return (self.param(name) or "") in _GO_TRUE

    @property
    def id(self) -> int:
        return int(self.ids["id"])


# How far the fake's clock is off the machine's: a real Listmonk runs on another
# machine, and its timestamps need not agree with Odoo's clock (tests patch this).
CLOCK_SKEW = timedelta(0)


def now() -> datetime:
    return datetime.now(timezone.utc) + CLOCK_SKEW


def new_uuid() -> str:
    return str(uuid.uuid4())


def go_time(moment: datetime | None) -> str | None:
    """Go's RFC 3339 with trimmed fraction: ``2026-07-01T10:00:00.5Z``."""
    return None if moment is None else _go_time(moment)


@lru_cache(maxsize=4096)  # rows written together share their time (an import: 10,000)
def _go_time(moment: datetime) -> str:
    text = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return text + (f".{fraction}" if fraction else "") + "Z"


def pg_time(moment: datetime | None) -> str | None:
    """Postgres JSON form: ``2026-07-01T10:00:00.5+00:00``."""
    text = go_time(moment)
    return None if text is None else text[:-1] + "+00:00"


def sanitize_email(email: Any) -> str:
    """Listmonk's SanitizeEmail: trimmed, lowercased, a bare address (400 otherwise)."""
    text = str(email or "").strip().lower()
    if not text or len(text) > 1000 or not _EMAIL_RE.match(text):
        raise FakeHTTPError(400, "Invalid email.")
    return text


def parse_ids(values: Iterable[str], *, missing: str = "ids") -> list[int]:
    """IDs from query values, with Listmonk's messages for the bad ones."""
    ids: list[int] = []
    for value in values:
        if not re.fullmatch(r"[+-]?\d+", value):
            raise FakeHTTPError(
                400,
                f'One or more IDs are invalid: strconv.Atoi: parsing "{value}": invalid syntax',
            )
        if int(value) < 1:
            raise FakeHTTPError(400, f"One or more IDs are invalid: {int(value)} is not a valid ID")
        ids.append(int(value))
    if not ids:
        raise FakeHTTPError(400, f"One or more IDs are invalid: {missing}")
    return ids


# -- body binding (echo DefaultBinder + encoding/json) -----------------------------------

_KINDS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "[]int": lambda v: isinstance(v, list) and all(_KINDS["int"](i) for i in v),
    "[]string": lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
    "map": lambda v: isinstance(v, dict),
    "[]map": lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v),
    "any": lambda v: True,
}


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def bind(body: dict[str, Any], schema: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    """Check the JSON types Listmonk's Go structs would refuse; ``null`` is a zero value.

    The offset Go reports is the number of bytes decoded so far; an approximation (the
    end of the field's key) is given, as the contract says to treat it as approximate.
    """
    for name, kind in schema.items():
        value = body.get(name)
        if value is None or _KINDS[kind](value):
            continue
        got = json_kind(value)
        if isinstance(value, list) and kind.startswith("[]"):
            got = json_kind(next(i for i in value if not _KINDS[kind[2:]](i)))
            kind = kind[2:]
        offset = raw.find(f'"{name}"'.encode()) + len(name) + 3
        raise FakeHTTPError(
            400,
            f"Unmarshal type error: expected={kind}, got={got}, field={name}, offset={offset}",
        )
    return body


# -- pagination (knadh/paginator v1.0.1 with AllowAll) ----------------------------------


def paginate(
    items: Sequence[Any], request: Request, *, empty_zero: bool = False, **echo: Any
) -> dict[str, Any]:
    """A page object. ``empty_zero`` is the campaigns/bounces quirk: an empty result
    reports ``page`` and ``per_page`` as 0."""
    raw = (request.param("per_page") or "").strip()
    if raw == "all" or (re.fullmatch(r"[+-]?\d+", raw) and int(raw) < 0):
        per_page = 0
    elif re.fullmatch(r"[+-]?\d+", raw) and int(raw) > 0:
        per_page = int(raw)
    else:
        per_page = 20
    page_raw = request.param("page") or ""
    page = int(page_raw) if re.fullmatch(r"[+-]?\d+", page_raw) and int(page_raw) > 0 else 1
    offset = (page - 1) * per_page
    results = list(items[offset : offset + per_page] if per_page else items)
    out = {"results": results, "search": "", "query": "", "total": len(items)}
    out |= {"per_page": per_page, "page": page} | echo
    if empty_zero and not items:
        out |= {"per_page": 0, "page": 0}
    return out


def order_key(request: Request, allowed: Iterable[str], default: str) -> tuple[str, bool]:
    """``(field, descending)``: only whitelisted fields, only lowercase ``asc``."""
    order_by = request.param("order_by") or ""
    field_name = order_by if order_by in set(allowed) else default
    return field_name, request.param("order") != "asc"


def sort_rows(
    rows: list[dict[str, Any]], field_name: str, descending: bool
) -> list[dict[str, Any]]:
    def key(row: dict[str, Any]) -> tuple[bool, Any, int]:
        value = row.get(field_name)
        return (value is None, value if value is not None else 0, row.get("id", 0))

    return sorted(rows, key=key, reverse=descending)


def attribute_text(value: Any) -> str | None:
    """``attribs->>'key'``: strings as they are, other JSON values as JSON text."""
    if value is None or isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)  # what json.dumps gives, faster
    return json.dumps(value)


class SubscriptionTable(dict[tuple[int, int], dict[str, Any]]):
    """``subscriber_lists``: ``(subscriber_id, list_id) -> row``, indexed both ways.

    Every way of changing the keys goes through ``__setitem__``/``__delitem__``, so the
    indexes cannot drift; rows themselves are shared, so changing a row's status in
    place is seen through the indexes too.
    """

    def __init__(self) -> None:
        super().__init__()
        self._by_subscriber: dict[int, dict[int, dict[str, Any]]] = {}
        self._by_list: dict[int, dict[int, dict[str, Any]]] = {}

    def of_subscriber(self, subscriber_id: int) -> dict[int, dict[str, Any]]:
        """``list_id -> row`` for one subscriber (a copy)."""
        return dict(self._by_subscriber.get(subscriber_id, {}))

    def of_list(self, list_id: int) -> dict[int, dict[str, Any]]:
        """``subscriber_id -> row`` for one list (a copy)."""
        return dict(self._by_list.get(list_id, {}))

    def subscriber_ids_of_lists(self, list_ids: Iterable[int]) -> set[int]:
        out: set[int] = set()
        for list_id in list_ids:
            out.update(self._by_list.get(list_id, ()))
        return out

    def __setitem__(self, key: tuple[int, int], row: dict[str, Any]) -> None:
        super().__setitem__(key, row)
        subscriber_id, list_id = key
        self._by_subscriber.setdefault(subscriber_id, {})[list_id] = row
        self._by_list.setdefault(list_id, {})[subscriber_id] = row

    def __delitem__(self, key: tuple[int, int]) -> None:
        super().__delitem__(key)
        subscriber_id, list_id = key
        for index, outer, inner in (
            (self._by_subscriber, subscriber_id, list_id),
            (self._by_list, list_id, subscriber_id),
        ):
            rows = index[outer]
            del rows[inner]
            if not rows:
                del index[outer]

    def pop(self, key: tuple[int, int], *default: Any) -> Any:  # type: ignore[override]
        if key in self:
            row = self[key]
            del self[key]
            return row
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self) -> tuple[tuple[int, int], dict[str, Any]]:
        key = next(reversed(self))
        return key, self.pop(key)

    def setdefault(self, key: tuple[int, int], default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, row in dict(*args, **kwargs).items():
            self[key] = row

    def __ior__(self, other: Any) -> SubscriptionTable:  # type: ignore[override]
        self.update(other)
        return self

    def clear(self) -> None:
        super().clear()
        self._by_subscriber.clear()
        self._by_list.clear()

    def check(self) -> None:
        """Raise ``AssertionError`` if an index disagrees with the table (for tests)."""
        by_subscriber: dict[int, dict[int, Any]] = {}
        by_list: dict[int, dict[int, Any]] = {}
        for (subscriber_id, list_id), row in self.items():
            by_subscriber.setdefault(subscriber_id, {})[list_id] = row
            by_list.setdefault(list_id, {})[subscriber_id] = row
        assert by_subscriber == self._by_subscriber, "subscriptions by subscriber drifted"
        assert by_list == self._by_list, "subscriptions by list drifted"


class SubscriberTable(dict[int, dict[str, Any]]):
    """``subscribers``: ``id -> row``, with the unique index on ``LOWER(email)`` and, for
    the attribute keys that queries have used, ``attribs->>'key'`` indexes (built on
    first use, then kept current).

    Adding and removing rows keeps the indexes right by itself; a row whose ``email`` or
    ``attribs`` change in place must be changed inside :meth:`changing`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._by_email: dict[str, int] = {}
        self._by_attribute: dict[str, dict[str, set[int]]] = {}
        self.highest_id = 0  # of any row ever stored (a range scan's end)

    def id_of_email(self, email: str) -> int | None:
        """The subscriber whose ``LOWER(email)`` is ``email`` (already lowercased)."""
        return self._by_email.get(email)

    def by_email(self, email: str) -> dict[str, Any] | None:
        """The row whose email is exactly ``email``."""
        subscriber_id = self._by_email.get(email.lower())
        row = None if subscriber_id is None else self.get(subscriber_id)
        return row if row is not None and row["email"] == email else None

    def ids_with_attribute(self, key: str, text: str) -> set[int]:
        """Subscribers whose ``attribs->>key`` is ``text`` (a copy)."""
        index = self._by_attribute.get(key)
        if index is None:
            index = self._by_attribute[key] = {}
            for row in self.values():
                self._index_attribute(index, key, row)
        return set(index.get(text, ()))

    @staticmethod
    def _index_attribute(index: dict[str, set[int]], key: str, row: dict[str, Any]) -> None:
        text = attribute_text((row.get("attribs") or {}).get(key))
        if text is not None:
            index.setdefault(text, set()).add(row["id"])

    def _index(self, row: dict[str, Any]) -> None:
        self._by_email[row["email"].lower()] = row["id"]
        for key, index in self._by_attribute.items():
            self._index_attribute(index, key, row)

    def _unindex(self, row: dict[str, Any]) -> None:
        email = row["email"].lower()
        if self._by_email.get(email) == row["id"]:
            del self._by_email[email]
        for key, index in self._by_attribute.items():
            text = attribute_text((row.get("attribs") or {}).get(key))
            ids = index.get(text) if text is not None else None
            if ids is not None:
                ids.discard(row["id"])
                if not ids:
                    del index[text]  # type: ignore[arg-type]

    @contextmanager
    def changing(self, row: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Change a stored row's email or attributes in place, indexes following."""
        stored = self.get(row["id"]) is row
        if stored:
            self._unindex(row)
        try:
            yield row
        finally:
            if stored:
                self._index(row)

    def __setitem__(self, subscriber_id: int, row: dict[str, Any]) -> None:
        old = self.get(subscriber_id)
        if old is not None:
            self._unindex(old)
        super().__setitem__(subscriber_id, row)
        self._index(row)
        self.highest_id = max(self.highest_id, subscriber_id)

    def __delitem__(self, subscriber_id: int) -> None:
        self._unindex(self[subscriber_id])
        super().__delitem__(subscriber_id)

    def pop(self, subscriber_id: int, *default: Any) -> Any:  # type: ignore[override]
        if subscriber_id in self:
            row = self[subscriber_id]
            del self[subscriber_id]
            return row
        if default:
            return default[0]
        raise KeyError(subscriber_id)

    def popitem(self) -> tuple[int, dict[str, Any]]:
        key = next(reversed(self))
        return key, self.pop(key)

    def setdefault(self, subscriber_id: int, default: Any = None) -> Any:  # type: ignore[override]
        if subscriber_id not in self:
            self[subscriber_id] = default
        return self[subscriber_id]

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, row in dict(*args, **kwargs).items():
            self[key] = row

    def __ior__(self, other: Any) -> SubscriberTable:  # type: ignore[override]
        self.update(other)
        return self

    def clear(self) -> None:
        super().clear()
        self._by_email.clear()
        self._by_attribute.clear()

    def check(self) -> None:
        """Raise ``AssertionError`` if an index disagrees with the table (for tests)."""
        emails = {row["email"].lower(): row["id"] for row in self.values()}
        assert len(emails) == len(self), "two subscribers share an email"
        assert emails == self._by_email, "the email index drifted"
        for key, index in self._by_attribute.items():
            expected: dict[str, set[int]] = {}
            for row in self.values():
                self._index_attribute(expected, key, row)
            assert expected == index, f"the index of attribute {key!r} drifted"


class Store:
    """The fake's whole database, behind one lock."""

    def __init__(self, base_url: str, version: str) -> None:
        self.lock = threading.RLock()
        self.base_url = base_url
        self.version = version
        self.bounce_webhooks = True
        self.individual_tracking = False
        self.tx_queue_capacity: int | None = None  # messages the tx queue takes, or no limit
        self.subscribers = SubscriberTable()
        self.subscriptions = SubscriptionTable()
        self.lists: dict[int, dict[str, Any]] = {}
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.templates: dict[int, dict[str, Any]] = {}
        self.bounces: dict[int, dict[str, Any]] = {}
        self.outbox: list[dict[str, Any]] = []  # transactional messages queued
        self.views: list[tuple[int, datetime]] = []
        self.clicks: list[tuple[int, str, datetime]] = []
        self._sequences: dict[str, int] = {}

    def check_indexes(self) -> None:
        """Raise ``AssertionError`` if an index disagrees with its table (for tests)."""
        self.subscribers.check()
        self.subscriptions.check()

    def next_id(self, table: str) -> int:
        self._sequences[table] = self._sequences.get(table, 0) + 1
        return self._sequences[table]
