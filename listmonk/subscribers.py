"""Lists and subscribers: the part of the client a contact sync needs.

Listmonk has no "find by email" endpoint; exact lookups go through ``query=``, a raw SQL
condition (it needs the ``subscribers:sql_query`` permission). The helpers here build
those conditions with SQL literals quoted (``'`` doubled) and attribute keys checked,
because ``search`` is a regex and not exact (contract 3.2):

>>> email_condition(["O'Hara@Example.com"])
"subscribers.email = 'o''hara@example.com'"
>>> attribute_condition("odoo_partner_id", [7, 9])
"subscribers.attribs->>'odoo_partner_id' IN ('7','9')"

Update semantics differ per method and matter for a sync: ``PUT`` replaces everything
(``attribs`` and the whole set of lists), ``PATCH`` (v6.1+) merges ``attribs`` key by
key and touches lists only when ``lists`` is sent. Neither changes a subscription that
is ``unsubscribed``, and a PATCH without ``status`` never un-blocklists anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from .errors import ListmonkNotFound
from .imports import ImportsAPI
from .models import Bounce, MailingList, Page, Subscriber, SubscriptionStatus, format_time

SubscriptionAction = Literal["add", "remove", "unsubscribe"]

_ATTRIBUTE_KEY_RE = re.compile(r"^[A-Za-z0-9_]{1,100}$")


def sql_literal(value: object) -> str:
    """A Postgres string literal (standard_conforming_strings: only ``'`` is special)."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a NUL character cannot be sent in a query")
    return "'" + text.replace("'", "''") + "'"


def _in(column: str, values: Sequence[str]) -> str:
    if len(values) == 1:
        return f"{column} = {values[0]}"
    return f"{column} IN ({','.join(values)})"  # no spaces: they cost 3 bytes in a URL


def id_condition(ids: Iterable[int]) -> str:
    """Subscribers by ID.

    >>> id_condition([3, 5])
    'subscribers.id IN (3,5)'
    """
    literals = [str(int(i)) for i in ids]
    if not literals:
        raise ValueError("no ID to look up")
    return _in("subscribers.id", literals)


def email_condition(emails: Iterable[str]) -> str:
    """Exact, case-insensitive (emails are stored lowercased) match on emails."""
    literals = [sql_literal(email.strip().lower()) for email in emails]
    if not literals:
        raise ValueError("no email to look up")
    return _in("subscribers.email", literals)


def attribute_condition(key: str, values: Iterable[object]) -> str:
    """Match a top-level attribute, compared as text (``42`` and ``"42"`` both match)."""
    if not _ATTRIBUTE_KEY_RE.match(key):
        raise ValueError(f"attribute keys are letters, digits and '_': {key!r}")
    literals = [sql_literal(value) for value in values]
    if not literals:
        raise ValueError("no attribute value to look up")
    return _in(f"subscribers.attribs->>{sql_literal(key)}", literals)


def changed_since_condition(moment: datetime) -> str:
    """Subscribers whose record or any subscription changed after ``moment``.

    A subscriber's own ``updated_at`` is not touched when they unsubscribe through a
    campaign link, only the subscription's, hence the second half (contract 5).
    """
    stamp = sql_literal(format_time(moment))
    return (
        f"subscribers.updated_at > {stamp} OR EXISTS (SELECT 1 FROM subscriber_lists sl "
        f"WHERE sl.subscriber_id = subscribers.id AND sl.updated_at > {stamp})"
    )


def _grouped(query: str | None) -> str | None:
    """Listmonk pastes ``query`` into ``WHERE <list filter> AND <search> AND %query%``
    without parentheses, so ``a OR b`` would escape the list filter: group it.

    >>> _grouped("a = 1 OR b = 2;")
    '(a = 1 OR b = 2)'
    """
    if query is None or not query.strip():
        return None
    query = query.strip()
    return f"({query[:-1] if query.endswith(';') else query})"


class SubscribersAPI(ImportsAPI):
    """Lists and subscribers endpoints, the bulk import included (mixed into
    :class:`~listmonk.client.ListmonkClient`)."""

    # -- lists --------------------------------------------------------------------------

    def get_lists(
        self,
        *,
        page: int = 1,
        per_page: int | Literal["all"] = 20,
        query: str | None = None,
        tags: Sequence[str] = (),
        status: str | None = None,
        order_by: str | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> Page[MailingList]:
        params: dict[str, Any] = {
            "page": page,
            "per_page": per_page,
            "query": query,
            "tag": tuple(tags),
        }
        params |= {"status": status, "order_by": order_by, "order": order}
        return self.page("api/lists", params, MailingList.from_json)

    def iter_lists(
        self, *, query: str | None = None, tags: Sequence[str] = (), status: str | None = None
    ) -> Iterator[MailingList]:
        params: dict[str, Any] = {"query": query, "tag": tuple(tags), "status": status}
        return self.iter_pages("api/lists", params, MailingList.from_json)

    def get_list(self, list_id: int) -> MailingList:
        return MailingList.from_json(self.call("GET", f"api/lists/{int(list_id)}"))

    def all_lists(self) -> tuple[MailingList, ...]:
        """Every list the user may see, in one request, without counts (``minimal``)."""
        data = self.call("GET", "api/lists", params={"minimal": True, "per_page": "all"})
        # minimal=true with no lists is a bare [] rather than a page (contract 2.5).
        items = data if isinstance(data, list) else data.get("results") or ()
        return tuple(MailingList.from_json(item) for item in items)

    def find_list(self, name: str) -> MailingList | None:
        """The list with exactly this name (``query=`` is a fuzzy search), else ``None``."""
        found = [item for item in self.all_lists() if item.name == name]
        return min(found, key=lambda item: item.id) if found else None

    def create_list(
        self,
        name: str,
        *,
        type: Literal["public", "private"] = "private",
        optin: Literal["single", "double"] = "single",
        tags: Sequence[str] = (),
        description: str = "",
        status: Literal["active", "archived"] | None = None,
    ) -> MailingList:
        body = {"name": name, "type": type, "optin": optin, "tags": list(tags)}
        body |= {"description": description} | ({"status": status} if status else {})
        return MailingList.from_json(self.call("POST", "api/lists", json=body))

    def ensure_list(self, name: str, **create: Any) -> MailingList:
        """The list of this name, created (with ``create`` options) if there is none."""
        return self.find_list(name) or self.create_list(name, **create)

    def update_list(
        self,
        list_id: int,
        *,
        name: str,
        tags: Sequence[str],
        type: Literal["public", "private"] | None = None,
        optin: Literal["single", "double"] | None = None,
        description: str | None = None,
        status: Literal["active", "archived"] | None = None,
    ) -> MailingList:
        """``tags`` is required because Listmonk replaces them (an absent key clears
        them); the other fields keep their value when ``None``."""
        body: dict[str, Any] = {"name": name, "tags": list(tags)}
        optional = {"type": type, "optin": optin, "description": description, "status": status}
        body |= {key: value for key, value in optional.items() if value is not None}
        return MailingList.from_json(self.call("PUT", f"api/lists/{int(list_id)}", json=body))

    def delete_list(self, list_id: int) -> None:
        self.call("DELETE", f"api/lists/{int(list_id)}")

    # -- subscribers: reading -----------------------------------------------------------

    def get_subscriber(self, subscriber_id: int) -> Subscriber:
        return Subscriber.from_json(self.call("GET", f"api/subscribers/{int(subscriber_id)}"))

    def query_subscribers(
        self,
        query: str | None = None,
        *,
        list_ids: Sequence[int] = (),
        subscription_status: SubscriptionStatus | None = None,
        page: int = 1,
        per_page: int | Literal["all"] = 20,
        order_by: str | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> Page[Subscriber]:
        """One page of subscribers matching a SQL condition (``query``) and lists."""
        params: dict[str, Any] = {
            "query": _grouped(query),
            "list_id": tuple(list_ids),
            "page": page,
            "per_page": per_page,
        }
        params |= {"subscription_status": subscription_status, "order_by": order_by}
        params |= {"order": order}
        return self.page("api/subscribers", params, Subscriber.from_json)

    def iter_subscribers(
        self,
        query: str | None = None,
        *,
        list_ids: Sequence[int] = (),
        subscription_status: SubscriptionStatus | None = None,
        per_page: int = 100,
    ) -> Iterator[Subscriber]:
        """Every matching subscriber once. Listmonk repeats a subscriber who is on
        several of ``list_ids`` (and a page can shift while subscribers are added);
        repeats are dropped here."""
        params: dict[str, Any] = {"query": _grouped(query), "list_id": tuple(list_ids)}
        params |= {"subscription_status": subscription_status}
        seen: set[int] = set()
        for subscriber in self.iter_pages(
            "api/subscribers", params, Subscriber.from_json, per_page=per_page
        ):
            if subscriber.id not in seen:
                seen.add(subscriber.id)
                yield subscriber

    def find_subscriber_by_email(self, email: str) -> Subscriber | None:
        page = self.query_subscribers(email_condition([email]), per_page="all")
        return page.results[0] if page.results else None

    def find_subscribers_by_attribute(self, key: str, value: object) -> tuple[Subscriber, ...]:
        """Subscribers whose attribute ``key`` equals ``value`` (e.g. an Odoo partner id)."""
        return tuple(self.iter_subscribers(attribute_condition(key, [value])))

    def iter_changed_subscribers(self, since: datetime) -> Iterator[Subscriber]:
        """Subscribers changed after ``since``: new blocklistings and unsubscribes included."""
        return self.iter_subscribers(changed_since_condition(since))

    def subscriber_bounces(self, subscriber_id: int) -> tuple[Bounce, ...]:
        data = self.call("GET", f"api/subscribers/{int(subscriber_id)}/bounces")
        return tuple(Bounce.from_json(item) for item in data or ())

    # -- subscribers: writing -----------------------------------------------------------

    def create_subscriber(
        self,
        email: str,
        *,
        name: str = "",
        status: Literal["enabled", "disabled", "blocklisted"] = "enabled",
        lists: Sequence[int] = (),
        attribs: Mapping[str, Any] | None = None,
        preconfirm: bool = False,
    ) -> Subscriber:
        """Create; an existing email raises :class:`~listmonk.errors.ListmonkDuplicate`.
        ``preconfirm`` subscribes as ``confirmed`` and sends no opt-in email."""
        body: dict[str, Any] = {
            "email": email,
            "name": name,
            "status": status,
            "lists": list(lists),
        }
        body |= {"attribs": dict(attribs or {}), "preconfirm_subscriptions": preconfirm}
        return Subscriber.from_json(self.call("POST", "api/subscribers", json=body))

    def update_subscriber(
        self,
        subscriber_id: int,
        *,
        email: str,
        lists: Sequence[int],
        attribs: Mapping[str, Any],
        name: str = "",
        status: Literal["enabled", "disabled", "blocklisted", ""] = "",
        preconfirm: bool = False,
    ) -> Subscriber:
        """Full replace (PUT): ``attribs`` and ``lists`` are the complete new sets; lists
        left out are unsubscribed *and deleted*. Empty ``name``/``status`` keep theirs.
        Prefer :meth:`patch_subscriber`."""
        body: dict[str, Any] = {
            "email": email,
            "name": name,
            "status": status,
            "lists": list(lists),
        }
        body |= {"attribs": dict(attribs), "preconfirm_subscriptions": preconfirm}
        path = f"api/subscribers/{int(subscriber_id)}"
        return Subscriber.from_json(self.call("PUT", path, json=body))

    def patch_subscriber(
        self,
        subscriber_id: int,
        *,
        email: str | None = None,
        name: str | None = None,
        status: Literal["enabled", "disabled", "blocklisted"] | None = None,
        attribs: Mapping[str, Any] | None = None,
        lists: Sequence[int] | None = None,
        preconfirm: bool = False,
    ) -> Subscriber:
        """Partial update (PATCH, Listmonk v6.1+): only the given fields change;
        ``attribs`` is merged key by key; ``lists``, when given, is the complete set
        (existing subscriptions keep their status, unsubscribed stays unsubscribed)."""
        fields = {"email": email, "name": name, "status": status}
        body: dict[str, Any] = {key: value for key, value in fields.items() if value}
        if attribs is not None:
            body["attribs"] = dict(attribs)
        if lists is not None:
            body["lists"] = sorted(set(lists))
            body["preconfirm_subscriptions"] = preconfirm
        path = f"api/subscribers/{int(subscriber_id)}"
        return Subscriber.from_json(self.call("PATCH", path, json=body))

    def change_subscriptions(
        self,
        subscriber_ids: Sequence[int],
        action: SubscriptionAction,
        list_ids: Sequence[int],
        *,
        status: SubscriptionStatus | None = None,
    ) -> None:
        """Add to, remove from, or unsubscribe from lists, for many subscribers at once.

        ``add`` without ``status`` creates ``unconfirmed`` subscriptions and leaves
        existing ones alone; *with* ``status`` it overwrites existing ones too, which
        would re-subscribe people who unsubscribed. No opt-in email is sent.
        """
        if not subscriber_ids or not list_ids:
            return
        body: dict[str, Any] = {"ids": list(subscriber_ids), "action": action}
        body["target_list_ids"] = list(list_ids)
        if status:
            body["status"] = status
        self.call("PUT", "api/subscribers/lists", json=body)

    def blocklist_subscribers(self, subscriber_ids: Sequence[int]) -> None:
        """Blocklist, and unsubscribe from every list."""
        if subscriber_ids:
            self.call("PUT", "api/subscribers/blocklist", json={"ids": list(subscriber_ids)})

    def delete_subscribers(self, subscriber_ids: Sequence[int]) -> None:
        if subscriber_ids:
            self.call("DELETE", "api/subscribers", params={"id": tuple(subscriber_ids)})

    def subscriber_exists(self, subscriber_id: int) -> bool:
        try:
            self.get_subscriber(subscriber_id)
        except ListmonkNotFound:
            return False
        return True
