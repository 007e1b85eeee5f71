"""The fake Listmonk's subscribers and lists (contract sections 3.2 and 3.3).

Nothing here scans every subscriber or subscription unless the request needs it: the
tables are indexed (see :class:`~listmonk.testing._base.SubscriberTable`), and
``GET /api/subscribers?query=…`` only tests the rows the condition's bound allows (see
:func:`~listmonk.testing._sql.compile_query`), as Postgres would use its indexes.
``use_indexes = False`` turns the narrowing off, to compare.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._base import (
    FakeHTTPError,
    Request,
    Store,
    bind,
    go_time,
    new_uuid,
    now,
    order_key,
    paginate,
    parse_ids,
    pg_time,
    sanitize_email,
    sort_rows,
)
from ._sql import Bound, QueryError, Row, compile_query

SUBSCRIBER_STATUSES = ("enabled", "disabled", "blocklisted")
SUBSCRIPTION_STATUSES = ("unconfirmed", "confirmed", "unsubscribed")
SUBSCRIBER_SCHEMA = {
    "email": "string",
    "name": "string",
    "status": "string",
    "lists": "[]int",
    "list_uuids": "[]string",
    "attribs": "map",
    "preconfirm_subscriptions": "bool",
}
LIST_SCHEMA = {
    "name": "string",
    "type": "string",
    "optin": "string",
    "status": "string",
    "tags": "[]string",
    "description": "string",
}


def enum_error(verb: str, thing: str, enum: str, value: str) -> FakeHTTPError:
    return FakeHTTPError(
        500, f'Error {verb} {thing}: pq: invalid input value for enum {enum}: "{value}"'
    )


def normalise_tags(tags: list[str] | None) -> list[str]:
    return [re.sub(r"\s+", "-", tag.strip()) for tag in tags or () if tag.strip()]


def derived_name(email: str) -> str:
    local = email.split("@")[0]
    return " ".join(part.capitalize() for part in re.split(r"[._\-+]+", local) if part)


class SubscriberRoutes(Store):
    use_indexes = True  # narrow subscriber queries by the condition's bound

    # -- JSON views ---------------------------------------------------------------------

    def list_json(self, row: dict[str, Any], *, minimal: bool = False) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for sub in self.subscriptions.of_list(row["id"]).values():
            statuses[sub["status"]] = statuses.get(sub["status"], 0) + 1
        return {
            "id": row["id"],
            "created_at": go_time(row["created_at"]),
            "updated_at": go_time(row["updated_at"]),
            "uuid": row["uuid"],
            "name": row["name"],
            "type": row["type"],
            "optin": row["optin"],
            "status": row["status"],
            "tags": row["tags"],
            "description": row["description"],
            "subscriber_count": 0 if minimal else sum(statuses.values()),
            "subscriber_statuses": None if minimal else statuses,
            "subscription_created_at": None,
            "subscription_updated_at": None,
        }

    def subscriber_lists(self, subscriber_id: int) -> list[dict[str, Any]]:
        subscriptions = self.subscriptions.of_subscriber(subscriber_id)
        return [
            subscriptions[list_id] | {"list_id": list_id, "subscriber_id": subscriber_id}
            for list_id in sorted(subscriptions)
        ]

    def _list_part(self, list_id: int) -> dict[str, Any]:
        item = self.lists[list_id]
        return {
            "id": item["id"],
            "uuid": item["uuid"],
            "name": item["name"],
            "type": item["type"],
            "optin": item["optin"],
            "status": item["status"],
            "tags": item["tags"] or None,
            "description": item["description"],
            "created_at": pg_time(item["created_at"]),
            "updated_at": pg_time(item["updated_at"]),
        }

    def subscriber_json(
        self, row: dict[str, Any], list_parts: dict[int, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The Subscriber object; ``list_parts`` shares the lists' part across a page."""
        list_parts = {} if list_parts is None else list_parts
        lists = []
        subscriptions = self.subscriptions.of_subscriber(row["id"])
        for list_id in sorted(subscriptions):
            sub = subscriptions[list_id]
            part = list_parts.get(list_id)
            if part is None:
                part = list_parts[list_id] = self._list_part(list_id)
            lists.append(
                {
                    "subscription_status": sub["status"],
                    "subscription_created_at": pg_time(sub["created_at"]),
                    "subscription_updated_at": pg_time(sub["updated_at"]),
                    "subscription_meta": {},
                }
                | part
            )
        return {
            "id": row["id"],
            "created_at": go_time(row["created_at"]),
            "updated_at": go_time(row["updated_at"]),
            "uuid": row["uuid"],
            "email": row["email"],
            "name": row["name"],
            "attribs": row["attribs"],
            "status": row["status"],
            "lists": lists,
        }

    # -- subscriptions ------------------------------------------------------------------

    def apply_lists(
        self,
        subscriber: dict[str, Any],
        list_ids: list[int],
        *,
        preconfirm: bool,
        overwrite: bool,
    ) -> None:
        """update-subscriber-with-lists: unsubscribed and confirmed rows keep their
        status, a blocklisted subscriber's rows become unsubscribed."""
        moment = now()
        wanted = [i for i in dict.fromkeys(list_ids) if i in self.lists]
        if overwrite:
            for list_id in self.subscriptions.of_subscriber(subscriber["id"]):
                if list_id not in wanted:
                    del self.subscriptions[(subscriber["id"], list_id)]
        new_status = "confirmed" if preconfirm else "unconfirmed"
        blocklisted = subscriber["status"] == "blocklisted"
        for list_id in wanted:
            key = (subscriber["id"], list_id)
            current = self.subscriptions.get(key)
            if current is None:
                status = "unsubscribed" if blocklisted else new_status
                self.subscriptions[key] = {"status": status, "created_at": moment}
                self.subscriptions[key]["updated_at"] = moment
                continue
            if blocklisted:
                status = "unsubscribed"
            elif current["status"] in ("confirmed", "unsubscribed"):
                status = current["status"]
            else:
                status = new_status
            if status != current["status"]:
                current |= {"status": status, "updated_at": moment}

    def find_subscriber(self, subscriber_id: int = 0, email: str = "") -> dict[str, Any]:
        found = [
            row
            for row in (
                self.subscribers.get(subscriber_id) if subscriber_id else None,
                self.subscribers.by_email(email) if email else None,
            )
            if row is not None
        ]
        if found:
            return min(found, key=lambda row: row["id"])
        raise FakeHTTPError(400, f"Subscriber ({subscriber_id}: {email}) not found")

    def _email_taken(self, email: str, subscriber_id: int) -> None:
        other = self.subscribers.by_email(email)
        if other is not None and other["id"] != subscriber_id:
            raise FakeHTTPError(
                500,
                "Error updating subscriber: pq: duplicate key value violates unique "
                'constraint "idx_subs_email"',
            )

    # -- subscriber routes --------------------------------------------------------------

    def query_subscribers(self, request: Request) -> Any:
        query = (request.param("query") or "").strip()
        query = query[:-1] if query.endswith(";") else query
        if query and not request.user.has("subscribers:sql_query"):
            raise FakeHTTPError(403, "Permission denied: subscribers:sql_query")
        try:
            list_ids = [int(v) for v in request.params_list("list_id")]
        except ValueError:
            raise FakeHTTPError(400, "Invalid ID(s)") from None
        status = request.param("subscription_status") or ""
        search = (request.param("search") or "").strip()
        try:
            # Listmonk pastes the query after its own filters, without parentheses.
            match, bound = compile_query("__lists__ AND __search__ AND " + (query or "TRUE"))
            pattern = re.compile(search, re.IGNORECASE) if search else None
        except QueryError as exc:
            raise FakeHTTPError(400, f"Error preparing subscriber query: {exc}") from None
        except re.error as exc:
            raise FakeHTTPError(
                500, f"Error querying subscribers: pq: invalid regular expression: {exc}"
            ) from None
        rows = []
        candidates = self.candidate_ids(bound, list_ids) if self.use_indexes else None
        if candidates is None:
            scanned: Any = self.subscribers.values()
        else:  # ids grow with insertion: the same order as the full scan
            scanned = (self.subscribers[i] for i in sorted(candidates))
        # Rows carry their subscriptions when the list filter or an EXISTS needs them.
        joins = bool(list_ids) or "EXISTS" in query.upper()
        for row in scanned:
            subscriptions = tuple(self.subscriber_lists(row["id"])) if joins else ()
            joined: list[Mapping[str, Any] | None] = [None]
            if list_ids:
                joined = [s for s in subscriptions if not status or s["status"] == status] or [None]
            for subscription in joined:
                candidate = Row(
                    row,
                    subscription,
                    subscriptions,
                    lists_ok=not list_ids
                    or (subscription is not None and subscription["list_id"] in list_ids),
                    search_ok=pattern is None
                    or bool(pattern.search(row["name"]) or pattern.search(row["email"])),
                )
                if match(candidate):
                    rows.append(row)
        field_name, descending = order_key(
            request, ("email", "status", "name", "created_at", "updated_at"), "id"
        )
        rows = sort_rows(rows, field_name, descending)
        page = paginate(rows, request, search=search, query=query)
        list_parts: dict[int, dict[str, Any]] = {}
        page["results"] = [self.subscriber_json(r, list_parts) for r in page["results"]]
        return page

    def candidate_ids(self, bound: Bound | None, list_ids: list[int]) -> set[int] | None:
        """The ids of the subscribers ``bound`` allows, ``None`` for any."""
        if bound is None:
            return None
        kind = bound[0]
        if kind == "id":
            return {i for i in bound[1] if i in self.subscribers}
        if kind == "range":  # the primary key's index: only the ids in the range
            lowest = 1 if bound[1] is None else max(bound[1], 1)
            highest = self.subscribers.highest_id
            highest = highest if bound[2] is None else min(bound[2], highest)
            if highest - lowest > len(self.subscribers):
                return {i for i in self.subscribers if lowest <= i <= highest}
            return {i for i in range(lowest, highest + 1) if i in self.subscribers}
        if kind == "email":
            ids = (self.subscribers.id_of_email(email) for email in bound[1])
            return {i for i in ids if i is not None}
        if kind == "attr":
            out: set[int] = set()
            for text in bound[2]:
                out |= self.subscribers.ids_with_attribute(bound[1], text)
            return out
        if kind == "lists":  # no list filter: every subscriber passes it
            return self.subscriptions.subscriber_ids_of_lists(list_ids) if list_ids else None
        parts = [self.candidate_ids(part, list_ids) for part in bound[1]]
        if kind == "and":
            bounded = sorted((p for p in parts if p is not None), key=len)
            return set.intersection(*bounded) if bounded else None
        if any(p is None for p in parts):  # "or"
            return None
        return set().union(*parts)  # type: ignore[arg-type]

    def get_subscriber(self, request: Request) -> Any:
        return self.subscriber_json(self.find_subscriber(request.id))

    def create_subscriber(self, request: Request) -> Any:
        body = bind(request.body, SUBSCRIBER_SCHEMA, request.raw_body)
        email = sanitize_email(body.get("email"))
        lists = body.get("lists") or []
        if lists and not request.user.has("lists:manage_all"):
            raise FakeHTTPError(403, "Permission denied: lists")
        status = body.get("status") or "enabled"
        if status not in SUBSCRIBER_STATUSES:
            raise enum_error("creating", "subscriber", "subscriber_status", status)
        if self.subscribers.by_email(email) is not None:
            raise FakeHTTPError(409, "E-mail already exists.")
        moment = now()
        row: dict[str, Any] = {
            "id": self.next_id("subscribers"),
            "uuid": new_uuid(),
            "email": email,
            "name": (body.get("name") or "").strip() or derived_name(email),
            "attribs": body.get("attribs") or {},
            "status": status,
            "created_at": moment,
            "updated_at": moment,
        }
        self.subscribers[row["id"]] = row
        preconfirm = bool(body.get("preconfirm_subscriptions"))
        self.apply_lists(row, lists, preconfirm=preconfirm, overwrite=False)
        return self.subscriber_json(row)

    def update_subscriber(self, request: Request) -> Any:
        body = bind(request.body, SUBSCRIBER_SCHEMA, request.raw_body)
        email = sanitize_email(body.get("email"))
        lists = body.get("lists") or []
        row = self.subscribers.get(request.id)
        if row is None:
            if lists:
                raise FakeHTTPError(
                    500,
                    "Error updating subscriber: pq: insert or update on table "
                    '"subscriber_lists" violates foreign key constraint',
                )
            raise FakeHTTPError(400, f"Subscriber (0: {email}) not found")
        status = body.get("status") or row["status"]
        if status not in SUBSCRIBER_STATUSES:
            raise enum_error("updating", "subscriber", "subscriber_status", status)
        self._email_taken(email, row["id"])
        with self.subscribers.changing(row):
            row |= {"email": email, "status": status, "attribs": body.get("attribs") or {}}
        row |= {"name": (body.get("name") or "").strip() or row["name"], "updated_at": now()}
        preconfirm = bool(body.get("preconfirm_subscriptions"))
        self.apply_lists(row, lists, preconfirm=preconfirm, overwrite=True)
        return self.subscriber_json(row)

    def patch_subscriber(self, request: Request) -> Any:
        row = self.find_subscriber(request.id)
        body = bind(request.body, SUBSCRIBER_SCHEMA, request.raw_body)
        email = sanitize_email(body.get("email") or row["email"])
        status = body.get("status") or row["status"]
        if status not in SUBSCRIBER_STATUSES:
            raise enum_error("updating", "subscriber", "subscriber_status", status)
        self._email_taken(email, row["id"])
        attribs = dict(row["attribs"]) | (body.get("attribs") or {})  # merged, top level
        with self.subscribers.changing(row):
            row |= {"email": email, "status": status, "attribs": attribs, "updated_at": now()}
        row["name"] = (body.get("name") or "").strip() or row["name"]
        if "lists" in body and body["lists"] is not None:
            preconfirm = bool(body.get("preconfirm_subscriptions"))
            self.apply_lists(row, body["lists"], preconfirm=preconfirm, overwrite=True)
        return self.subscriber_json(row)

    def blocklist(self, ids: list[int]) -> bool:
        moment = now()
        for subscriber_id in ids:
            if subscriber_id in self.subscribers:
                self.subscribers[subscriber_id] |= {"status": "blocklisted", "updated_at": moment}
            for sub in self.subscriptions.of_subscriber(subscriber_id).values():
                sub |= {"status": "unsubscribed", "updated_at": moment}
        return True

    def blocklist_one(self, request: Request) -> Any:
        return self.blocklist([request.id])

    def blocklist_many(self, request: Request) -> Any:
        body = bind(request.body, {"ids": "[]int"}, request.raw_body)
        if not body.get("ids"):
            raise FakeHTTPError(400, "One or more IDs are invalid: ids")
        return self.blocklist(body["ids"])

    def manage_lists(self, request: Request) -> Any:
        schema = {"ids": "[]int", "action": "string", "target_list_ids": "[]int"}
        body = bind(request.body, schema | {"status": "string"}, request.raw_body)
        if not body.get("ids"):
            raise FakeHTTPError(400, "No IDs given.")
        ids = [request.id] if "id" in request.ids else body["ids"]
        targets = body.get("target_list_ids") or []
        if not targets:
            raise FakeHTTPError(400, "No lists given.")
        if not request.user.has("lists:manage_all"):
            raise FakeHTTPError(403, "Permission denied: lists")
        action, status = body.get("action"), body.get("status") or ""
        if action not in ("add", "remove", "unsubscribe"):
            raise FakeHTTPError(400, "Invalid action.")
        if status and status not in SUBSCRIPTION_STATUSES:
            raise enum_error("updating", "Subscribers", "subscription_status", status)
        moment = now()
        if action == "add":
            if any(i not in self.subscribers for i in ids) or any(
                t not in self.lists for t in targets
            ):
                raise FakeHTTPError(
                    500,
                    "Error updating Subscribers: pq: insert or update on table "
                    '"subscriber_lists" violates foreign key constraint',
                )
            for key in ((i, t) for i in ids for t in targets):
                current = self.subscriptions.get(key)
                if current is None:
                    self.subscriptions[key] = {"status": status or "unconfirmed"}
                    self.subscriptions[key] |= {"created_at": moment, "updated_at": moment}
                elif status:
                    current |= {"status": status, "updated_at": moment}
        for key in [(i, t) for i in ids for t in targets if (i, t) in self.subscriptions]:
            if action == "remove":
                del self.subscriptions[key]
            elif action == "unsubscribe":
                self.subscriptions[key] |= {"status": "unsubscribed", "updated_at": moment}
        return True

    def delete_subscriber(self, request: Request) -> Any:
        return self._delete_subscribers([request.id])

    def delete_subscribers(self, request: Request) -> Any:
        return self._delete_subscribers(parse_ids(request.params_list("id")))

    def _delete_subscribers(self, ids: list[int]) -> bool:
        for subscriber_id in ids:
            self.subscribers.pop(subscriber_id, None)
            for list_id in self.subscriptions.of_subscriber(subscriber_id):
                del self.subscriptions[(subscriber_id, list_id)]
        return True

    def subscriber_activity(self, request: Request) -> Any:
        return {"campaign_views": [], "link_clicks": []}

    # -- list routes --------------------------------------------------------------------

    def _can_see_lists(self, request: Request) -> bool:
        return request.user.has("lists:get_all", "lists:manage_all")

    def get_lists(self, request: Request) -> Any:
        rows = list(self.lists.values()) if self._can_see_lists(request) else []
        if request.flag("minimal"):
            if not rows:
                return []  # {"data": []}, an array and not a page (contract 2.5)
            items = [self.list_json(r, minimal=True) for r in sorted(rows, key=lambda r: r["id"])]
            return {"results": items, "search": "", "query": "", "total": len(items)} | {
                "per_page": len(items),
                "page": 1,
            }
        query = (request.param("query") or "").strip().lower()
        filters = {k: request.param(k) for k in ("type", "optin", "status")}
        tags = request.params_list("tag")
        rows = [
            r
            for r in rows
            if query in r["name"].lower()
            and all(not v or r[k] == v for k, v in filters.items())
            and all(t in r["tags"] for t in tags)
        ]
        allowed = ("name", "status", "created_at", "updated_at", "subscriber_count")
        field_name, descending = order_key(request, allowed, "created_at")
        items = [self.list_json(r) for r in rows]
        page = paginate(sort_rows(items, field_name, descending), request, query=query)
        return page

    def find_list(self, request: Request, *, manage: bool = False) -> dict[str, Any]:
        allowed = request.user.has("lists:manage_all") if manage else self._can_see_lists(request)
        if not allowed:
            raise FakeHTTPError(403, "permission denied")
        if request.id not in self.lists:
            raise FakeHTTPError(400, "List not found")
        return self.lists[request.id]

    def get_list(self, request: Request) -> Any:
        return self.list_json(self.find_list(request))

    def _validate_list(self, body: dict[str, Any], verb: str) -> None:
        if not 1 <= len(body.get("name") or "") <= 2000:
            raise FakeHTTPError(400, "Invalid name")
        for key, enum, values in (
            ("type", "list_type", ("public", "private")),
            ("optin", "list_optin", ("single", "double")),
            ("status", "list_status", ("active", "archived")),
        ):
            if body.get(key) and body[key] not in values:
                raise enum_error(verb, "list", enum, body[key])

    def create_list(self, request: Request) -> Any:
        body = bind(request.body, LIST_SCHEMA, request.raw_body)
        self._validate_list(body, "creating")
        moment = now()
        row = {
            "id": self.next_id("lists"),
            "uuid": new_uuid(),
            "name": body["name"],
            "type": body.get("type") or "private",
            "optin": body.get("optin") or "single",
            "status": body.get("status") or "active",
            "tags": normalise_tags(body.get("tags")),
            "description": body.get("description") or "",
            "created_at": moment,
            "updated_at": moment,
        }
        self.lists[row["id"]] = row
        return self.list_json(row)

    def update_list(self, request: Request) -> Any:
        row = self.find_list(request, manage=True)
        body = bind(request.body, LIST_SCHEMA, request.raw_body)
        self._validate_list(body, "updating")
        for key in ("type", "optin", "status", "description"):
            row[key] = body.get(key) or row[key]
        row |= {"name": body["name"], "tags": normalise_tags(body.get("tags")), "updated_at": now()}
        for campaign in self.campaigns.values():
            for item in campaign["lists"]:
                if item["id"] == row["id"]:
                    item["name"] = row["name"]
        return self.list_json(row)

    def delete_list(self, request: Request) -> Any:
        if not request.user.has("lists:manage_all"):
            raise FakeHTTPError(403, "permission denied")
        if self.lists.pop(request.id, None) is not None:
            for subscriber_id in self.subscriptions.of_list(request.id):
                del self.subscriptions[(subscriber_id, request.id)]
            for campaign in self.campaigns.values():
                for item in campaign["lists"]:
                    if item["id"] == request.id:
                        item["id"] = None
        return True
