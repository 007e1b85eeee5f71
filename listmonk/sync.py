"""Bulk subscriber sync: make Listmonk hold these contacts, in batches, resumably.

Listmonk has no batch create or upsert for single records, so a sync is, per batch:

1. a ``PATCH`` by ID for each contact whose Listmonk ID the caller knows
   (``SubscriberData.subscriber_id``): no lookup; the name, the email and the attributes
   are sent (merged by Listmonk), never a status. The lists the PATCH's answer shows the
   subscriber is not on yet are added at the end of the batch, in bulk
   (``PUT /api/subscribers/lists``, one call per set of missing lists): only those, so
   an ``unsubscribed`` subscription stays unsubscribed. A status goes with them only
   where a PATCH of the lists would set it for a new subscription (``confirmed`` with
   ``preconfirm``, ``unsubscribed`` for a blocklisted subscriber). A contact whose ID is
   gone (deleted in Listmonk) goes on with the others;
2. one lookup of the other contacts (``query=`` on the emails, and on the matching
   attribute, e.g. ``odoo_partner_id``, so a contact whose email changed is found);
3. with ``import_from=N``, when at least N contacts are new, they are created by the bulk
   import (one CSV per set of lists, see :mod:`listmonk.imports`), then read back so that
   each outcome carries its subscriber and ID: new subscribers get IDs above the highest
   one before the import, so one request asks for the highest ID and a few read the
   range above it (``subscribers.id > …``, ``_READBACK_IDS`` IDs each, in parallel with
   workers) instead of looking ~40 emails up per request; the import runs one at a time
   per Listmonk, and what it did not create goes on to step 4;
4. a ``POST`` for each contact Listmonk does not have; a 409 (someone created it
   meanwhile) turns into an update of the one that exists;
5. a ``PATCH`` for each contact found that differs: the name, the attributes that
   changed (merged: attributes other systems keep in Listmonk stay), and lists the
   subscriber is not on yet. Unchanged contacts cost nothing, so re-running a sync is
   cheap.

``workers=N`` sends the calls of steps 1, 4 and 5 (and the lookups) from N threads;
contacts that share an email, a match-attribute value or a Listmonk subscriber stay in
one thread, in input order, so the result is the same as with one. It pays when
Listmonk is slower to answer than the client is to send (network latency, a busy
database); against a server on the same single CPU it does not.

It never touches what the subscriber decided in Listmonk: no status is sent on update,
so a blocklisted subscriber stays blocklisted, and an ``unsubscribed`` subscription
stays unsubscribed. Each outcome carries the subscriber as Listmonk holds it afterwards,
so the caller can read blocklist and unsubscribe states back (and store the ID).

When Listmonk becomes unavailable (or the credentials stop working) the sync stops:
what was done is reported, the rest is ``PENDING``, and running the same records again
completes it. Contacts an interrupted import created before they could be read back are
reported ``PENDING`` too; the re-run finds them (``UNCHANGED`` or ``UPDATED``). A contact
whose email belongs to another record (its match attribute has another value) is
``FAILED`` with the reason and never merged, like one whose new email is taken.

List IDs that do not exist are dropped by Listmonk silently; such a contact is
reported ``UPDATED`` on every run. A contact PATCHed by ID is reported ``UPDATED`` too
(nothing was compared).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

from .errors import (
    ListmonkAuthError,
    ListmonkDuplicate,
    ListmonkImportFailed,
    ListmonkNotFound,
    ListmonkOutcomeUnknown,
    ListmonkProtocolError,
    ListmonkUnavailable,
    ListmonkValidationError,
)
from .models import (
    Subscriber,
    SubscriberData,
    SubscriptionStatus,
    SyncAction,
    SyncOutcome,
    SyncReport,
)
from .subscribers import SubscribersAPI, attribute_condition, email_condition, id_condition

# Stop the batch: the next call would fail the same way.
_FATAL = (ListmonkUnavailable, ListmonkOutcomeUnknown, ListmonkAuthError, ListmonkProtocolError)
# Keep the lookup URL well under common proxy limits (nginx: 8 KB of request line).
_MAX_QUERY_CHARS = 3000
# How often a sync asks whether its import is done (a status read is cheap).
_IMPORT_POLL = 0.05
# Subscriber IDs per request when an import is read back (a range, so the URL is short).
_READBACK_IDS = 1000


def sync_subscribers(
    client: SubscribersAPI,
    records: Iterable[SubscriberData],
    *,
    batch_size: int = 100,
    match_attribute: str | None = None,
    preconfirm: bool = False,
    import_from: int | None = None,
    workers: int = 1,
) -> SyncReport:
    """Create or update every record; one report for all (see the module docstring).

    ``match_attribute`` names the attribute that identifies a contact (its value is
    taken from each record's ``attribs``); without it contacts match by email only.
    ``preconfirm`` makes new subscriptions ``confirmed`` without an opt-in email: use it
    only for contacts whose consent the CRM holds. ``import_from`` creates the new
    contacts of a batch with the bulk import when there are at least that many (it
    needs the ``subscribers:import`` permission; without it they are created one by
    one). ``workers`` is the number of threads sending the per-contact calls.
    """
    report = SyncReport()
    for batch_report in iter_sync(
        client,
        records,
        batch_size=batch_size,
        match_attribute=match_attribute,
        preconfirm=preconfirm,
        import_from=import_from,
        workers=workers,
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
    import_from: int | None = None,
    workers: int = 1,
) -> Iterator[SyncReport]:
    """One report per batch. After an interruption, the last report holds the rest of
    the batch and every remaining record as ``PENDING``, and the iteration ends."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if import_from is not None and import_from < 1:
        raise ValueError("import_from must be at least 1 (or None: never import)")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if match_attribute is not None:
        attribute_condition(match_attribute, ["check"])  # refuse a bad key up front
    options = _Options(match_attribute, preconfirm, import_from, workers)
    iterator = iter(records)
    while batch := list(islice(iterator, batch_size)):
        report = _sync_batch(client, batch, options)
        if report.interrupted_by is not None:
            why = str(report.interrupted_by)
            rest = tuple(SyncOutcome(r, SyncAction.PENDING, error=why) for r in iterator)
            yield SyncReport(report.outcomes + rest, report.interrupted_by)
            return
        yield report


@dataclass
class _Options:
    match_attribute: str | None
    preconfirm: bool
    import_from: int | None
    workers: int
    can_import: bool = True  # False once Listmonk refused the import permission
    highest_id: int = 0  # the highest subscriber ID this sync has seen


Indexed = tuple[int, SubscriberData]  # a record and its position in the batch


def _sync_batch(
    client: SubscribersAPI, batch: list[SubscriberData], options: _Options
) -> SyncReport:
    state = _Batch(client, options)
    try:
        state.run(batch)
    except _FATAL as exc:
        outcomes = [
            SyncOutcome(r, SyncAction.PENDING, error=str(exc))
            if i not in state.outcomes or i in state.missing_lists  # lists not added yet
            else state.outcomes[i]
            for i, r in enumerate(batch)
        ]
        return SyncReport(tuple(outcomes), exc)
    return SyncReport(tuple(state.outcomes[i] for i in range(len(batch))))


class _Batch:
    """One batch's lookup tables, kept current as contacts are created and updated so
    that two records with one email in the same batch do not create two subscribers,
    and its outcomes by position (final ones only: the rest is ``PENDING`` when the
    batch is interrupted)."""

    def __init__(self, client: SubscribersAPI, options: _Options):
        self.client = client
        self.options = options
        self.key_name = options.match_attribute
        self.preconfirm = options.preconfirm
        self.by_email: dict[str, Subscriber] = {}
        self.by_key: dict[str, Subscriber] = {}
        self.outcomes: dict[int, SyncOutcome] = {}
        self.pool: ThreadPoolExecutor | None = None  # with workers > 1
        # Patched by ID, lists still to add: position -> (subscriber, missing list IDs)
        self.missing_lists: dict[int, tuple[Subscriber, frozenset[int]]] = {}

    def run(self, batch: list[SubscriberData]) -> None:
        if self.options.workers == 1:
            self._run(batch)
            return
        with ThreadPoolExecutor(self.options.workers, "listmonk-sync") as self.pool:
            self._run(batch)

    def _run(self, batch: list[SubscriberData]) -> None:
        by_id = [(i, r) for i, r in enumerate(batch) if r.subscriber_id and _email(r)]
        rest = [(i, r) for i, r in enumerate(batch) if not (r.subscriber_id and _email(r))]
        gone = self.parallel(by_id, lambda r: [("s", r.subscriber_id)], self.patch_by_id)
        rest = sorted(rest + gone, key=lambda item: item[0])
        self.lookup([r for _, r in rest])
        if self.options.import_from is not None and self.options.can_import:
            self.import_new(rest)
        self.parallel([(i, r) for i, r in rest if i not in self.outcomes], self.tokens, self.sync)
        self.add_missing_lists(batch)

    # -- threads ------------------------------------------------------------------------

    def parallel(
        self,
        items: list[Indexed],
        tokens: Callable[[SubscriberData], list[Hashable]],
        work: Callable[[int, SubscriberData], SyncOutcome | None],
    ) -> list[Indexed]:
        """``work`` on every item, on ``workers`` threads: items sharing a token run in
        one thread, in input order. Outcomes are stored; items whose work gave ``None``
        are returned. The first fatal error stops the rest and is raised once every
        thread has stopped (what they did is stored)."""
        left: list[Indexed] = []

        def run(group: list[Indexed], stop: threading.Event | None = None) -> None:
            for i, record in group:
                if stop is not None and stop.is_set():
                    return
                outcome = work(i, record)
                if outcome is None:
                    left.append((i, record))
                else:
                    self.outcomes[i] = outcome

        if self.pool is None or len(items) < 2:
            run(items)
            return left
        stop = threading.Event()
        errors: list[BaseException] = []

        def guarded(group: list[Indexed]) -> None:
            try:
                run(group, stop)
            except BaseException as exc:  # stop the others; raised below
                stop.set()
                errors.append(exc)

        for future in [self.pool.submit(guarded, g) for g in _groups(items, tokens)]:
            future.result()
        if errors:
            raise errors[0]
        return left

    def read(self, queries: list[str]) -> Iterator[tuple[Subscriber, ...]]:
        """The subscribers each ``query=`` condition matches, query after query (sent
        together with ``workers > 1``); an error comes when its query's turn comes."""
        if self.pool is None or len(queries) < 2:
            for query in queries:
                yield self._read(query)
        else:
            yield from self.pool.map(self._read, queries)

    def _read(self, query: str) -> tuple[Subscriber, ...]:
        return self.client.query_subscribers(query, per_page="all").results

    def tokens(self, record: SubscriberData) -> list[Hashable]:
        """What a record touches: its email, its key, the subscribers they match now."""
        email, key = _email(record), self.key(record)
        out: list[Hashable] = [("e", email)]
        if key is not None:
            out.append(("k", key))
            if key in self.by_key:
                out.append(("s", self.by_key[key].id))
        if email in self.by_email:
            out.append(("s", self.by_email[email].id))
        return out

    # -- known IDs ----------------------------------------------------------------------

    def patch_by_id(self, i: int, record: SubscriberData) -> SyncOutcome | None:
        """PATCH by ID; ``None`` when the subscriber no longer exists."""
        changes: dict[str, Any] = {"email": _email(record)}
        if record.name.strip():
            changes["name"] = record.name.strip()
        if record.attribs:
            changes["attribs"] = _json_values(record.attribs)
        try:
            updated = self.client.patch_subscriber(int(record.subscriber_id or 0), **changes)
        except ListmonkNotFound:
            return None  # deleted in Listmonk: look it up (or create it) like the others
        except ListmonkDuplicate as exc:
            return SyncOutcome(record, SyncAction.FAILED, error=f"email taken: {exc.message}")
        except ListmonkValidationError as exc:
            return SyncOutcome(record, SyncAction.FAILED, error=exc.message)
        self.remember(updated)
        missing = frozenset(record.lists) - updated.list_ids
        if missing:
            self.missing_lists[i] = (updated, missing)  # not final until they are added
        return SyncOutcome(record, SyncAction.UPDATED, updated)

    def add_missing_lists(self, batch: list[SubscriberData]) -> None:
        """The lists of the contacts PATCHed by ID, one call per set of lists. Only lists
        the subscriber was not on are sent, so ``status`` (``confirmed`` for a preconfirmed
        sync, ``unsubscribed`` for a blocklisted subscriber, as a PATCH of the lists would
        set them) only applies to new subscriptions."""
        todo = dict(self.missing_lists)  # what is done leaves self.missing_lists
        groups: dict[tuple[tuple[int, ...], SubscriptionStatus | None], list[int]] = {}
        for i, (subscriber, missing) in todo.items():
            status: SubscriptionStatus | None = "confirmed" if self.preconfirm else None
            if subscriber.is_blocklisted:
                status = "unsubscribed"
            groups.setdefault((tuple(sorted(missing)), status), []).append(i)
        added: list[int] = []
        for (list_ids, status), positions in groups.items():
            ids = sorted({todo[i][0].id for i in positions})
            try:
                self.client.change_subscriptions(ids, "add", list_ids, status=status)
            except (ListmonkNotFound, ListmonkValidationError):
                # A list or a subscriber is gone (a foreign-key error): one by one, as
                # the lookup path does it (unknown lists are then dropped silently).
                for i in positions:
                    self.outcomes[i] = self.add_lists_one(batch[i], todo[i][0])
                    del self.missing_lists[i]
                continue
            added += positions
        fresh = self.fetch(id_condition, sorted({todo[i][0].id for i in added}))
        for i in added:
            now = fresh.get(todo[i][0].id)
            if now is None:
                self.outcomes[i] = SyncOutcome(
                    batch[i], SyncAction.PENDING, error="deleted while syncing"
                )
            else:
                self.outcomes[i] = SyncOutcome(batch[i], SyncAction.UPDATED, self.remember(now))
            del self.missing_lists[i]

    def add_lists_one(self, record: SubscriberData, subscriber: Subscriber) -> SyncOutcome:
        lists = sorted(subscriber.list_ids | set(record.lists))
        try:
            updated = self.client.patch_subscriber(
                subscriber.id, lists=lists, preconfirm=self.preconfirm
            )
        except ListmonkNotFound:
            return SyncOutcome(record, SyncAction.PENDING, error="deleted while syncing")
        except ListmonkValidationError as exc:
            return SyncOutcome(record, SyncAction.FAILED, subscriber, exc.message)
        return SyncOutcome(record, SyncAction.UPDATED, self.remember(updated))

    # -- lookup -------------------------------------------------------------------------

    def key(self, record: SubscriberData) -> str | None:
        if self.key_name is None:
            return None
        value = record.attribs.get(self.key_name)
        return None if value in (None, "") else str(value)

    def remember(self, subscriber: Subscriber) -> Subscriber:
        self.by_email[subscriber.email] = subscriber
        if subscriber.id > self.options.highest_id:
            self.options.highest_id = subscriber.id
        if self.key_name is not None:
            value = subscriber.attribs.get(self.key_name)
            if value not in (None, ""):
                self.by_key.setdefault(str(value), subscriber)
        return subscriber

    def lookup(self, batch: list[SubscriberData]) -> None:
        queries: list[str] = []
        chunk: list[SubscriberData] = []
        # "(subscribers.email IN (…)) OR (subscribers.attribs->>'key' IN (…))"
        overhead = 70 + len(self.key_name or "")
        size = overhead
        for record in batch:
            key = self.key(record)
            cost = _literal_length(_email(record)) + (0 if key is None else _literal_length(key))
            if chunk and size + cost > _MAX_QUERY_CHARS:
                queries += self._lookup_query(chunk)
                chunk, size = [], overhead
            chunk.append(record)
            size += cost
        if chunk:
            queries += self._lookup_query(chunk)
        for page in self.read(queries):
            for subscriber in page:
                self.remember(subscriber)

    def _lookup_query(self, chunk: list[SubscriberData]) -> list[str]:
        emails = sorted({_email(r) for r in chunk if _email(r)})
        keys = sorted({k for r in chunk if (k := self.key(r)) is not None})
        conditions = [email_condition(emails)] if emails else []
        if keys and self.key_name is not None:
            conditions.append(attribute_condition(self.key_name, keys))
        return [" OR ".join(f"({c})" for c in conditions)] if conditions else []

    def last_subscriber_id(self) -> int:
        """The highest subscriber ID in Listmonk (Listmonk lists by ID, highest first).
        Asked from the highest this sync has seen, so that Listmonk (and its count) only
        looks at the subscribers created since."""
        known = self.options.highest_id
        page = self.client.query_subscribers(f"subscribers.id >= {known}", per_page=1)
        return max([known, *(s.id for s in page.results)])

    def fetch(
        self, condition: Callable[[Iterable[Any]], str], values: Sequence[Any]
    ) -> dict[int, Subscriber]:
        """Subscribers by ID or email (whichever ``condition`` matches), by ID."""
        return {s.id: s for page in self.read(_queries(condition, values)) for s in page}

    # -- the bulk import ----------------------------------------------------------------

    def import_new(self, items: list[Indexed]) -> None:
        """Create the batch's new contacts by importing them, if there are enough; what
        the import did not create is left to :meth:`sync`."""
        new: list[Indexed] = []
        emails: set[str] = set()
        keys: set[str] = set()
        for i, record in items:
            email, key = _email(record), self.key(record)
            if not email or email in self.by_email or email in emails or not record.lists:
                continue  # nothing to create, or not by an import (no list)
            if key is not None and (key in self.by_key or key in keys):
                continue
            emails.add(email)
            if key is not None:
                keys.add(key)
            new.append((i, record))
        if len(new) < (self.options.import_from or 0):
            return
        groups: dict[tuple[int, ...], list[Indexed]] = {}
        for i, record in new:
            groups.setdefault(tuple(sorted(set(record.lists))), []).append((i, record))
        for list_ids, members in groups.items():
            before = self.last_subscriber_id()
            try:
                self.client.import_subscribers(
                    [record for _, record in members],
                    list_ids,
                    subscription_status="confirmed" if self.preconfirm else "unconfirmed",
                    overwrite_userinfo=True,
                    overwrite_subscription_status=False,
                    poll_interval=_IMPORT_POLL,
                )
            except ListmonkAuthError as exc:
                if (exc.permission or "").lower() != "subscribers:import":
                    raise
                self.options.can_import = False  # one by one, from now on
                return
            except (ListmonkImportFailed, ListmonkValidationError):
                pass  # what it did create is read back; the rest goes one by one
            # Read them back (their IDs) from the IDs above ``before``, reporting each page
            # as it comes: an outage leaves only the rest pending. Someone else's new
            # subscribers in the range are remembered, not reported; one of ours the
            # import did not create (an email taken meanwhile) goes on one by one.
            waiting = {_email(record): (i, record) for i, record in members}
            for page in self.read(_id_ranges(before, len(members))):
                for subscriber in page:
                    self.remember(subscriber)
                    if (found := waiting.pop(subscriber.email, None)) is not None:
                        i, record = found
                        self.outcomes[i] = SyncOutcome(record, SyncAction.CREATED, subscriber)

    # -- one by one ---------------------------------------------------------------------

    def sync(self, i: int, record: SubscriberData) -> SyncOutcome:
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


def _queries(condition: Callable[[Iterable[Any]], str], values: Sequence[Any]) -> list[str]:
    """``condition`` over ``values``, in conditions of at most ``_MAX_QUERY_CHARS``."""
    queries: list[str] = []
    chunk: list[Any] = []
    overhead = 30  # "subscribers.email IN (…)"
    size = overhead
    for value in values:
        cost = _literal_length(str(value))
        if chunk and size + cost > _MAX_QUERY_CHARS:
            queries.append(condition(chunk))
            chunk, size = [], overhead
        chunk.append(value)
        size += cost
    if chunk:
        queries.append(condition(chunk))
    return queries


def _id_ranges(after: int, expected: int) -> list[str]:
    """Conditions for the subscribers created after ID ``after``: ``expected`` of them
    in ranges of ``_READBACK_IDS``, the last one open (others' inserts may have pushed
    some of ours further up).

    >>> _id_ranges(40, 2500)  # doctest: +NORMALIZE_WHITESPACE
    ['subscribers.id > 40 AND subscribers.id <= 1040',
     'subscribers.id > 1040 AND subscribers.id <= 2040', 'subscribers.id > 2040']
    """
    starts = range(after, after + max(expected, 1), _READBACK_IDS)
    conditions = [
        f"subscribers.id > {start} AND subscribers.id <= {start + _READBACK_IDS}"
        for start in starts[:-1]
    ]
    return [*conditions, f"subscribers.id > {starts[-1]}"]


def _literal_length(text: str) -> int:
    """The room a value takes in an ``IN (…)`` list: quoted, quotes doubled, a comma."""
    return len(text) + text.count("'") + 3


def _email(record: SubscriberData) -> str:
    return record.email.strip().lower()


def _json_values(attribs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as Listmonk will give them back (tuples become lists, keys strings),
    so that unchanged values compare equal."""
    normalised: dict[str, Any] = json.loads(json.dumps(dict(attribs), default=str))
    return normalised


def _groups(
    items: list[Indexed], tokens: Callable[[SubscriberData], list[Hashable]]
) -> list[list[Indexed]]:
    """The items, in groups that share no token (union-find), each in input order.

    >>> records = [SubscriberData(e) for e in ("a@x", "b@x", "a@x", "c@x")]
    >>> [[i for i, _ in g] for g in _groups(list(enumerate(records)), lambda r: [r.email])]
    [[0, 2], [1], [3]]
    """
    parent = list(range(len(items)))

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    owner: dict[Hashable, int] = {}
    for n, (_, record) in enumerate(items):
        for token in tokens(record):
            if token in owner:
                parent[root(n)] = root(owner[token])
            else:
                owner[token] = n
    groups: dict[int, list[Indexed]] = {}
    for n, item in enumerate(items):
        groups.setdefault(root(n), []).append(item)
    return list(groups.values())
