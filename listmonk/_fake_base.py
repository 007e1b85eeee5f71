"""Shared pieces of the fake Listmonk: its errors, request, users, binding, paging, clock.

Everything mimics Listmonk v6.2 as the contract (``LISTMONK.md``) describes it: Go's
JSON binder messages (section 2.4), the paginator (2.5), Go and Postgres timestamp
forms (2.6).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
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


def now() -> datetime:
    return datetime.now(timezone.utc)


def new_uuid() -> str:
    return str(uuid.uuid4())


def go_time(moment: datetime | None) -> str | None:
    """Go's RFC 3339 with trimmed fraction: ``2026-07-01T10:00:00.5Z``."""
    if moment is None:
        return None
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


class Store:
    """The fake's whole database, behind one lock."""

    def __init__(self, base_url: str, version: str) -> None:
        self.lock = threading.RLock()
        self.base_url = base_url
        self.version = version
        self.bounce_webhooks = True
        self.individual_tracking = False
        self.tx_queue_capacity: int | None = None  # messages the tx queue takes, or no limit
        self.subscribers: dict[int, dict[str, Any]] = {}
        self.subscriptions: dict[tuple[int, int], dict[str, Any]] = {}
        self.lists: dict[int, dict[str, Any]] = {}
        self.campaigns: dict[int, dict[str, Any]] = {}
        self.templates: dict[int, dict[str, Any]] = {}
        self.bounces: dict[int, dict[str, Any]] = {}
        self.outbox: list[dict[str, Any]] = []  # transactional messages queued
        self.views: list[tuple[int, datetime]] = []
        self.clicks: list[tuple[int, str, datetime]] = []
        self._sequences: dict[str, int] = {}

    def next_id(self, table: str) -> int:
        self._sequences[table] = self._sequences.get(table, 0) + 1
        return self._sequences[table]
