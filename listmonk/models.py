"""The values the Listmonk client returns: frozen dataclasses built from API JSON.

Each ``from_json`` reads the shape described in the contract (``LISTMONK.md`` section
3.0) and tolerates what varies between versions: keys that are omitted when empty
(a template's ``body``, a bounce's ``email``), ``null`` instead of ``[]`` for tags, and
keys added by newer releases (ignored). Status values are kept as plain strings (typed
with ``Literal``) so a status added by a future Listmonk does not break a sync.

Timestamps come in two forms, Go's RFC 3339 with trimmed fractions
(``2026-07-01T10:00:00.5Z``) and Postgres JSON (``…+00:00``); :func:`parse_time` reads
both on Python 3.10 too, whose ``fromisoformat`` accepts neither ``Z`` nor a fraction
of other than 3 or 6 digits.

>>> parse_time("2026-07-01T10:00:00.5Z").isoformat()
'2026-07-01T10:00:00.500000+00:00'
>>> parse_time("2026-07-01T10:00:00.123456+05:30").utcoffset()
datetime.timedelta(seconds=19800)
>>> parse_time(None) is None
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import lru_cache
from typing import Any, Generic, Literal, TypeVar

from .errors import ListmonkError

SubscriberStatus = Literal["enabled", "disabled", "blocklisted"]
SubscriptionStatus = Literal["unconfirmed", "confirmed", "unsubscribed"]
CampaignStatus = Literal["draft", "scheduled", "running", "paused", "cancelled", "finished"]
TemplateType = Literal["campaign", "campaign_visual", "tx"]
BounceType = Literal["hard", "soft", "complaint"]

T = TypeVar("T")

_TIME_RE = re.compile(
    r"^(?P<base>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?"
    r"(?P<tz>Z|[+-]\d\d(?::?\d\d)?)?$"
)
_VERSION_RE = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def parse_time(value: str | None) -> datetime | None:
    """An aware datetime from Listmonk's timestamp forms; naive input is taken as UTC."""
    return _parse_time(value) if value else None


@lru_cache(maxsize=1024)  # a page of subscribers repeats its timestamps (lists, imports)
def _parse_time(value: str) -> datetime:
    match = _TIME_RE.match(value.strip())
    if not match:
        raise ValueError(f"not a Listmonk timestamp: {value!r}")
    moment = datetime.fromisoformat(match["base"].replace(" ", "T"))
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    moment = moment.replace(microsecond=int(frac))
    tz = match["tz"]
    if not tz or tz == "Z":
        return moment.replace(tzinfo=timezone.utc)
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return moment.replace(tzinfo=timezone(sign * offset))


def format_time(moment: datetime) -> str:
    """RFC 3339 for requests (``send_at``, SQL literals); naive values are taken as UTC.

    >>> format_time(datetime(2026, 7, 1, 9, 30))
    '2026-07-01T09:30:00+00:00'
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat()


def parse_version(version: str) -> tuple[int, int, int] | None:
    """``(6, 2, 0)`` from ``"v6.2.0"``; ``None`` for nightlies and unknown forms.

    >>> parse_version("v6.1.0"), parse_version("nightly")
    ((6, 1, 0), None)
    """
    match = _VERSION_RE.search(version or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _tags(value: Any) -> tuple[str, ...]:
    return tuple(value or ())


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a paginated listing. ``per_page`` is 0 for ``per_page=all`` and, a
    Listmonk quirk, ``page``/``per_page`` are 0 for an empty campaign or bounce list."""

    results: tuple[T, ...]
    total: int
    page: int
    per_page: int


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscriber's membership of one list, with its own status."""

    list_id: int
    list_name: str
    status: SubscriptionStatus
    list_uuid: str = ""
    list_type: str = ""
    optin: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subscription:
        return cls(
            list_id=data["id"],
            list_name=data.get("name", ""),
            status=data.get("subscription_status", "unconfirmed"),
            list_uuid=data.get("uuid", ""),
            list_type=data.get("type", ""),
            optin=data.get("optin", ""),
            created_at=parse_time(data.get("subscription_created_at")),
            updated_at=parse_time(data.get("subscription_updated_at")),
        )


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A Listmonk subscriber. ``attribs`` is Listmonk's free JSON object (read only)."""

    id: int
    uuid: str
    email: str
    name: str
    status: SubscriberStatus
    attribs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    subscriptions: tuple[Subscription, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subscriber:
        return cls(
            id=data["id"],
            uuid=data.get("uuid", ""),
            email=data["email"],
            name=data.get("name", ""),
            status=data.get("status", "enabled"),
            attribs=dict(data.get("attribs") or {}),
            subscriptions=tuple(Subscription.from_json(item) for item in data.get("lists") or ()),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
        )

    @property
    def is_blocklisted(self) -> bool:
        """Blocklisted subscribers get no campaign (disabled ones still do)."""
        return self.status == "blocklisted"

    def subscription(self, list_id: int) -> Subscription | None:
        return next((s for s in self.subscriptions if s.list_id == list_id), None)

    @property
    def list_ids(self) -> frozenset[int]:
        """Every list with a subscription row, whatever its status."""
        return frozenset(s.list_id for s in self.subscriptions)

    @property
    def unsubscribed_list_ids(self) -> frozenset[int]:
        return frozenset(s.list_id for s in self.subscriptions if s.status == "unsubscribed")


@dataclass(frozen=True, slots=True)
class MailingList:
    """A Listmonk list. ``subscriber_count`` includes unsubscribed members; use
    ``subscriber_statuses`` for the split (empty for ``minimal`` listings)."""

    id: int
    uuid: str
    name: str
    type: str
    optin: str
    status: str = "active"
    tags: tuple[str, ...] = ()
    description: str = ""
    subscriber_count: int = 0
    subscriber_statuses: Mapping[str, int] = field(default_factory=dict, hash=False)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MailingList:
        return cls(
            id=data["id"],
            uuid=data.get("uuid", ""),
            name=data["name"],
            type=data.get("type", ""),
            optin=data.get("optin", ""),
            status=data.get("status") or "active",
            tags=_tags(data.get("tags")),
            description=data.get("description") or "",
            subscriber_count=data.get("subscriber_count") or 0,
            subscriber_statuses=dict(data.get("subscriber_statuses") or {}),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
        )


@dataclass(frozen=True, slots=True)
class CampaignList:
    """A list a campaign goes to. ``id`` is ``None`` once the list was deleted."""

    id: int | None
    name: str


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign. Its counters are raw row counts (views and clicks are not unique)."""

    id: int
    uuid: str
    name: str
    subject: str
    status: CampaignStatus
    type: str = "regular"
    content_type: str = "richtext"
    from_email: str = ""
    body: str = ""
    altbody: str | None = None
    template_id: int | None = None
    messenger: str = "email"
    lists: tuple[CampaignList, ...] = ()
    tags: tuple[str, ...] = ()
    headers: tuple[Mapping[str, str], ...] = field(default=(), hash=False)
    attribs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    send_at: datetime | None = None
    started_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    to_send: int = 0
    sent: int = 0
    views: int = 0
    clicks: int = 0
    bounces: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Campaign:
        return cls(
            id=data["id"],
            uuid=data.get("uuid", ""),
            name=data["name"],
            subject=data.get("subject", ""),
            status=data["status"],
            type=data.get("type") or "regular",
            content_type=data.get("content_type") or "richtext",
            from_email=data.get("from_email") or "",
            body=data.get("body") or "",
            altbody=data.get("altbody"),
            template_id=data.get("template_id"),
            messenger=data.get("messenger") or "email",
            lists=tuple(
                CampaignList(i.get("id"), i.get("name", "")) for i in data.get("lists") or ()
            ),
            tags=_tags(data.get("tags")),
            headers=tuple(dict(h) for h in data.get("headers") or ()),
            attribs=dict(data.get("attribs") or {}),
            send_at=parse_time(data.get("send_at")),
            started_at=parse_time(data.get("started_at")),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
            to_send=data.get("to_send") or 0,
            sent=data.get("sent") or 0,
            views=data.get("views") or 0,
            clicks=data.get("clicks") or 0,
            bounces=data.get("bounces") or 0,
        )

    @property
    def list_ids(self) -> tuple[int, ...]:
        return tuple(item.id for item in self.lists if item.id is not None)


@dataclass(frozen=True, slots=True)
class Template:
    """A campaign layout or a transactional template. ``body`` is ``None`` when the
    listing was asked without bodies."""

    id: int
    name: str
    type: TemplateType
    subject: str = ""
    body: str | None = None
    is_default: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Template:
        return cls(
            id=data["id"],
            name=data["name"],
            type=data["type"],
            subject=data.get("subject") or "",
            body=data.get("body"),
            is_default=bool(data.get("is_default")),
            created_at=parse_time(data.get("created_at")),
            updated_at=parse_time(data.get("updated_at")),
        )


@dataclass(frozen=True, slots=True)
class Bounce:
    """One recorded bounce. The subscriber fields are ``None`` when Listmonk omits them."""

    id: int
    type: BounceType
    source: str
    created_at: datetime | None
    email: str | None = None
    subscriber_id: int | None = None
    subscriber_uuid: str | None = None
    subscriber_status: str = ""
    campaign_id: int | None = None
    campaign_name: str = ""
    meta: Any = field(default=None, hash=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bounce:
        campaign = data.get("campaign") or {}
        return cls(
            id=data["id"],
            type=data["type"],
            source=data.get("source", ""),
            created_at=parse_time(data.get("created_at")),
            email=data.get("email") or None,
            subscriber_id=data.get("subscriber_id") or None,
            subscriber_uuid=data.get("subscriber_uuid") or None,
            subscriber_status=data.get("subscriber_status") or "",
            campaign_id=campaign.get("id"),
            campaign_name=campaign.get("name", ""),
            meta=data.get("meta"),
        )


@dataclass(frozen=True, slots=True)
class AnalyticsPoint:
    """A bucket (hourly under 7 days, else daily) of views, clicks or bounces."""

    campaign_id: int
    count: int
    timestamp: datetime | None


@dataclass(frozen=True, slots=True)
class LinkCount:
    url: str
    count: int


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What ``GET /api/config`` says about the server."""

    version: str
    root_url: str = ""
    from_email: str = ""
    individual_tracking: bool = False
    disable_tracking: bool = False
    messengers: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerInfo:
        privacy = data.get("privacy") or {}
        return cls(
            version=data.get("version") or "",
            root_url=data.get("root_url") or "",
            from_email=data.get("from_email") or "",
            individual_tracking=bool(privacy.get("individual_tracking")),
            disable_tracking=bool(privacy.get("disable_tracking")),
            messengers=tuple(data.get("messengers") or ()),
        )

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        return parse_version(self.version)

    def at_least(self, major: int, minor: int = 0) -> bool:
        """Whether the server is at least that version (unknown versions, nightlies,
        are assumed recent)."""
        found = self.version_tuple
        return found is None or found[:2] >= (major, minor)


@dataclass(frozen=True, slots=True)
class TxResult:
    """The answer to a transactional send: every recipient was queued except the
    ``missing`` ones, which Listmonk did not find (``default`` mode only). Queued means
    accepted for sending, not delivered."""

    missing_emails: tuple[str, ...] = ()
    missing_ids: tuple[int, ...] = ()

    @property
    def all_queued(self) -> bool:
        return not self.missing_emails and not self.missing_ids


ImportState = Literal["none", "importing", "stopping", "finished", "failed"]


@dataclass(frozen=True, slots=True)
class ImportStatus:
    """Listmonk's one import, as ``GET /api/import/subscribers`` reports it. ``name`` is
    the uploaded file's name; ``total`` the file's lines but the header; ``imported``
    the rows committed so far (it moves per transaction of 10,000 rows, so it is often
    0 until the end); ``log`` the importer's log when it was read."""

    name: str
    total: int
    imported: int
    status: ImportState
    log: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImportStatus:
        return cls(
            name=data.get("name") or "",
            total=data.get("total") or 0,
            imported=data.get("imported") or 0,
            status=data.get("status") or "none",
        )

    @property
    def running(self) -> bool:
        """Importing or stopping: Listmonk refuses another import meanwhile."""
        return self.status in ("importing", "stopping")


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The result of a "Test connection": reachable, authenticated, which version, and
    which permissions of a CRM sync are missing. ``problems`` are sentences for a person;
    ``unverified`` lists permissions the API gives no way to test without side effects."""

    ok: bool
    version: str = ""
    missing_permissions: tuple[str, ...] = ()
    unverified_permissions: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


# -- the sync's values (shared by :mod:`.sync` and :mod:`.imports`) -----------------------


class SyncAction(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"  # Listmonk refused this contact; ``error`` says why
    PENDING = "pending"  # not done (interrupted); sync it again


@dataclass(frozen=True, slots=True)
class SubscriberData:
    """A contact as the CRM wants it in Listmonk. ``lists`` are list IDs to be on (never
    removed from); ``attribs`` are merged into the subscriber's attributes;
    ``subscriber_id``, when the CRM knows it, is the Listmonk subscriber to update (no
    lookup)."""

    email: str
    name: str = ""
    attribs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    lists: tuple[int, ...] = ()
    subscriber_id: int | None = None


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    record: SubscriberData
    action: SyncAction
    subscriber: Subscriber | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a sync did, per contact, in input order. ``interrupted_by`` is the error
    that stopped it, if one did."""

    outcomes: tuple[SyncOutcome, ...] = ()
    interrupted_by: ListmonkError | None = field(default=None, compare=False, hash=False)

    def _of(self, action: SyncAction) -> tuple[SyncOutcome, ...]:
        return tuple(o for o in self.outcomes if o.action is action)

    @property
    def created(self) -> tuple[SyncOutcome, ...]:
        return self._of(SyncAction.CREATED)

    @property
    def updated(self) -> tuple[SyncOutcome, ...]:
        return self._of(SyncAction.UPDATED)

    @property
    def unchanged(self) -> tuple[SyncOutcome, ...]:
        return self._of(SyncAction.UNCHANGED)

    @property
    def failed(self) -> tuple[SyncOutcome, ...]:
        return self._of(SyncAction.FAILED)

    @property
    def pending(self) -> tuple[SyncOutcome, ...]:
        return self._of(SyncAction.PENDING)

    @property
    def pending_records(self) -> tuple[SubscriberData, ...]:
        return tuple(o.record for o in self.pending)

    @property
    def complete(self) -> bool:
        """Every contact was created, updated, unchanged or refused."""
        return self.interrupted_by is None and not self.pending

    def __add__(self, other: SyncReport) -> SyncReport:
        return SyncReport(
            self.outcomes + other.outcomes, other.interrupted_by or self.interrupted_by
        )
