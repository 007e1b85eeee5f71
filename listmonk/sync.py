"""Bulk subscriber sync: make Listmonk hold these contacts, in batches, resumably.

Listmonk has no batch create or upsert for single records (only the CSV import, which
runs one at a time per server), so a sync is, per batch:

1. one lookup of the whole batch (``query=`` on the emails, and on the matching
   attribute, e.g. ``odoo_partner_id``, so a contact whose email changed is found);
2. a ``POST`` for each contact Listmonk does not have; a 409 (someone created it
   meanwhile) turns into an update of the one that exists;
3. a ``PATCH`` for each contact that differs: the name, the attributes that changed
   (merged: attributes other systems keep in Listmonk stay), and lists the subscriber is
   not on yet. Unchanged contacts cost nothing, so re-running a sync is cheap.

It never touches what the subscriber decided in Listmonk: no status is sent on update,
so a blocklisted subscriber stays blocklisted, and an ``unsubscribed`` subscription
stays unsubscribed. Each outcome carries the subscriber as Listmonk holds it afterwards,
so the caller can read blocklist and unsubscribe states back.

When Listmonk becomes unavailable (or the credentials stop working) the sync stops:
what was done is reported, the rest is ``PENDING``, and running the same records again
completes it. A contact whose email belongs to another record (its match attribute has
another value) is ``FAILED`` with the reason and never merged.

List IDs that do not exist are dropped by Listmonk silently; such a contact is
reported ``UPDATED`` on every run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from itertools import islice
from typing import Any

from .errors import (
    ListmonkAuthError,
    ListmonkDuplicate,
    ListmonkError,
    ListmonkNotFound,
    ListmonkOutcomeUnknown,
    ListmonkProtocolError,
    ListmonkUnavailable,
    ListmonkValidationError,
)
from .models import Subscriber
from .subscribers import SubscribersAPI, attribute_condition, email_condition

# Stop the batch: the next call would fail the same way.
_FATAL = (ListmonkUnavailable, ListmonkOutcomeUnknown, ListmonkAuthError, ListmonkProtocolError)
# Keep the lookup URL well under common proxy limits (nginx: 8 KB of request line).
_MAX_QUERY_CHARS = 3000


class SyncAction(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"  # Listmonk refused this contact; ``error`` says why
    PENDING = "pending"  # not done (interrupted); sync it again


@dataclass(frozen=True, slots=True)
class SubscriberData:
    """A contact as the CRM wants it in Listmonk. ``lists`` are list IDs to be on (never
    removed from); ``attribs`` are merged into the subscriber's attributes."""

    email: str
    name: str = ""
    attribs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    lists: tuple[int, ...] = ()


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


def sync_subscribers(
    client: SubscribersAPI,
    records: Iterable[SubscriberData],
    *,
    batch_size: int = 100,
    match_attribute: str | None = None,
    preconfirm: bool = False,
) -> SyncReport:
    """Create or update every record; one report for all (see the module docstring).

    ``match_attribute`` names the attribute that identifies a contact (its value is
    taken from each record's ``attribs``); without it contacts match by email only.
    ``preconfirm`` makes new subscriptions ``confirmed`` without an opt-in email: use it
    only for contacts whose consent the CRM holds.
    """
    report = SyncReport()
    for batch_report in iter_sync(
        client,
        records,
        batch_size=batch_size,
        match_attribute=match_attribute,
        preconfirm=preconfirm,
    ):
        report += batch_report
    return report


def iter_sync(
    client: SubscribersAPI,
    records: Iterable[SubscriberData],
    *,
    batch_size: int = 100,
    match_attribute: str | None = None,
    preconfirm: bool = False,
) -> Iterator[SyncReport]:
    """One report per batch. After an interruption, the last report holds the rest of
    the batch and every remaining record as ``PENDING``, and the iteration ends."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if match_attribute is not None:
        attribute_condition(match_attribute, ["check"])  # refuse a bad key up front
    iterator = iter(records)
    while batch := list(islice(iterator, batch_size)):
        report = _sync_batch(client, batch, match_attribute, preconfirm)
        if report.interrupted_by is not None:
            why = str(report.interrupted_by)
            rest = tuple(SyncOutcome(r, SyncAction.PENDING, error=why) for r in iterator)
            yield SyncReport(report.outcomes + rest, report.interrupted_by)
            return
        yield report


class _Batch:
    """One batch's lookup tables, kept current as contacts are created and updated so
    that two records with one email in the same batch do not create two subscribers."""

    def __init__(self, client: SubscribersAPI, match_attribute: str | None, preconfirm: bool):
        self.client = client
        self.key_name = match_attribute
        self.preconfirm = preconfirm
        self.by_email: dict[str, Subscriber] = {}
        self.by_key: dict[str, Subscriber] = {}

    def key(self, record: SubscriberData) -> str | None:
        if self.key_name is None:
            return None
        value = record.attribs.get(self.key_name)
        return None if value in (None, "") else str(value)

    def remember(self, subscriber: Subscriber) -> Subscriber:
        self.by_email[subscriber.email] = subscriber
        if self.key_name is not None:
            value = subscriber.attribs.get(self.key_name)
            if value not in (None, ""):
                self.by_key.setdefault(str(value), subscriber)
        return subscriber

    def lookup(self, batch: list[SubscriberData]) -> None:
        chunk: list[SubscriberData] = []
        size = 0
        for record in batch:
            cost = len(record.email) + len(self.key(record) or "") + 12
            if chunk and size + cost > _MAX_QUERY_CHARS:
                self._lookup_chunk(chunk)
                chunk, size = [], 0
            chunk.append(record)
            size += cost
        if chunk:
            self._lookup_chunk(chunk)

    def _lookup_chunk(self, chunk: list[SubscriberData]) -> None:
        emails = sorted({_email(r) for r in chunk if _email(r)})
        keys = sorted({k for r in chunk if (k := self.key(r)) is not None})
        conditions = [email_condition(emails)] if emails else []
        if keys and self.key_name is not None:
            conditions.append(attribute_condition(self.key_name, keys))
        if conditions:
            query = " OR ".join(f"({c})" for c in conditions)
            for subscriber in self.client.query_subscribers(query, per_page="all").results:
                self.remember(subscriber)

    def sync(self, record: SubscriberData) -> SyncOutcome:
        email = _email(record)
        if not email:
            return SyncOutcome(record, SyncAction.FAILED, error="no email address")
        key = self.key(record)
        existing = self.by_key.get(key) if key is not None else None
        if existing is None:
            existing = self.by_email.get(email)
            if conflict := self._conflict(existing, key):
                return SyncOutcome(record, SyncAction.FAILED, existing, conflict)
        if existing is None:
            try:
                created = self.client.create_subscriber(
                    record.email,
                    name=record.name,
                    lists=record.lists,
                    attribs=record.attribs,
                    preconfirm=self.preconfirm,
                )
            except ListmonkDuplicate:
                # Created meanwhile (another worker, a public form): update that one.
                existing = self.client.find_subscriber_by_email(email)
                if existing is None:
                    return SyncOutcome(record, SyncAction.PENDING, error="created and deleted")
                if conflict := self._conflict(self.remember(existing), key):
                    return SyncOutcome(record, SyncAction.FAILED, existing, conflict)
            except (ListmonkValidationError, ListmonkNotFound) as exc:
                return SyncOutcome(record, SyncAction.FAILED, error=exc.message)
            else:
                return SyncOutcome(record, SyncAction.CREATED, self.remember(created))
        return self._update(record, email, existing)

    def _conflict(self, existing: Subscriber | None, key: str | None) -> str:
        if existing is None or key is None or self.key_name is None:
            return ""
        other = existing.attribs.get(self.key_name)
        if other in (None, "") or str(other) == key:
            return ""
        return (
            f"{existing.email} belongs to Listmonk subscriber {existing.id}, "
            f"linked to {self.key_name}={other}"
        )

    def _update(self, record: SubscriberData, email: str, existing: Subscriber) -> SyncOutcome:
        changes: dict[str, Any] = {}
        if existing.email != email:
            changes["email"] = email  # matched by attribute: the CRM's email changed
        if record.name.strip() and record.name.strip() != existing.name:
            changes["name"] = record.name.strip()
        wanted = _json_values(record.attribs)
        attribs = {k: v for k, v in wanted.items() if existing.attribs.get(k) != v}
        if attribs:
            changes["attribs"] = attribs  # PATCH merges: only what changed
        if set(record.lists) - existing.list_ids:
            # Sent lists are the complete set: keep every current one, whatever its status.
            changes["lists"] = sorted(existing.list_ids | set(record.lists))
        if not changes:
            return SyncOutcome(record, SyncAction.UNCHANGED, existing)
        try:
            updated = self.client.patch_subscriber(
                existing.id, preconfirm=self.preconfirm, **changes
            )
        except ListmonkDuplicate as exc:
            return SyncOutcome(record, SyncAction.FAILED, existing, f"email taken: {exc.message}")
        except ListmonkNotFound:  # deleted in Listmonk meanwhile: the next run creates it
            return SyncOutcome(record, SyncAction.PENDING, error="deleted while syncing")
        except ListmonkValidationError as exc:
            return SyncOutcome(record, SyncAction.FAILED, existing, exc.message)
        return SyncOutcome(record, SyncAction.UPDATED, self.remember(updated))


def _sync_batch(
    client: SubscribersAPI,
    batch: list[SubscriberData],
    match_attribute: str | None,
    preconfirm: bool,
) -> SyncReport:
    state = _Batch(client, match_attribute, preconfirm)
    done: list[SyncOutcome] = []
    try:
        state.lookup(batch)
        for record in batch:
            done.append(state.sync(record))
    except _FATAL as exc:
        rest = [SyncOutcome(r, SyncAction.PENDING, error=str(exc)) for r in batch[len(done) :]]
        return SyncReport(tuple(done + rest), exc)
    return SyncReport(tuple(done))


def _email(record: SubscriberData) -> str:
    return record.email.strip().lower()


def _json_values(attribs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as Listmonk will give them back (tuples become lists, keys strings),
    so that unchanged values compare equal."""
    normalised: dict[str, Any] = json.loads(json.dumps(dict(attribs), default=str))
    return normalised
