"""The fake Listmonk's health, config and campaigns (contract sections 3.1 and 3.4),
and the background campaign manager (:meth:`CampaignRoutes.run_campaigns`)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from ..models import parse_time
from ._base import (
    FakeHTTPError,
    Request,
    bind,
    go_time,
    new_uuid,
    now,
    order_key,
    paginate,
    parse_ids,
    sort_rows,
)
from ._subscribers import SubscriberRoutes, enum_error, normalise_tags

CAMPAIGN_STATUSES = ("draft", "scheduled", "running", "paused", "cancelled", "finished")
CONTENT_TYPES = ("richtext", "html", "markdown", "plain", "visual")
CAMPAIGN_SCHEMA = {
    "name": "string",
    "subject": "string",
    "lists": "[]int",
    "from_email": "string",
    "type": "string",
    "content_type": "string",
    "body": "string",
    "altbody": "string",
    "body_source": "string",
    "template_id": "int",
    "send_at": "string",
    "messenger": "string",
    "tags": "[]string",
    "headers": "[]map",
    "attribs": "map",
    "media": "[]int",
}
_FROM_RE = re.compile(r"^(?:[^<>]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$")
# to-status → (statuses it may come from, Listmonk's refusal)
_TRANSITIONS = {
    "scheduled": (("draft", "paused"), "Only draft or paused campaigns can be scheduled."),
    "running": (("draft", "paused"), "Only paused campaigns and drafts can be started."),
    "paused": (("running",), "Only active campaigns can be paused."),
    "cancelled": (("running", "paused"), "Only active campaigns can be cancelled."),
    "draft": (("scheduled",), "Only scheduled campaigns can be saved as drafts."),
}


def _bound(text: str) -> datetime:
    moment = parse_time(text + "T00:00:00Z" if len(text) == 10 else text)
    if moment is None:
        raise ValueError(text)
    return moment


def _braces_ok(text: str) -> bool:
    return text.count("{{") == text.count("}}")


class CampaignRoutes(SubscriberRoutes):
    # -- health and config --------------------------------------------------------------

    def health(self, request: Request) -> Any:
        return True

    def config(self, request: Request) -> Any:
        return {
            "root_url": self.base_url,
            "from_email": "listmonk <noreply@listmonk.yoursite.com>",
            "privacy": {
                "disable_tracking": False,
                "individual_tracking": self.individual_tracking,
            },
            "messengers": ["email"],
            "lang": "en",
            "needs_restart": False,
            "version": self.version,
        }

    # -- campaigns ----------------------------------------------------------------------

    def campaign_json(self, row: dict[str, Any], *, body: bool = True) -> dict[str, Any]:
        return {
            "id": row["id"],
            "created_at": go_time(row["created_at"]),
            "updated_at": go_time(row["updated_at"]),
            "views": sum(1 for c, _ in self.views if c == row["id"]),
            "clicks": sum(1 for c, _, _ in self.clicks if c == row["id"]),
            "bounces": sum(1 for b in self.bounces.values() if b["campaign_id"] == row["id"]),
            "lists": [dict(item) for item in row["lists"]],
            "media": [],
            "started_at": go_time(row["started_at"]),
            "to_send": row["to_send"],
            "sent": row["sent"],
            "uuid": row["uuid"],
            "type": row["type"],
            "name": row["name"],
            "subject": row["subject"],
            "from_email": row["from_email"],
            "body": row["body"] if body else "",
            "body_source": None,
            "altbody": row["altbody"],
            "send_at": go_time(row["send_at"]),
            "status": row["status"],
            "content_type": row["content_type"],
            "tags": row["tags"],
            "headers": row["headers"],
            "attribs": row["attribs"],
            "template_id": row["template_id"],
            "messenger": row["messenger"],
            "archive": False,
            "archive_slug": None,
            "archive_template_id": None,
            "archive_meta": {},
        }

    def find_campaign(self, campaign_id: int) -> dict[str, Any]:
        if campaign_id not in self.campaigns:
            raise FakeHTTPError(400, "Campaign not found")
        return self.campaigns[campaign_id]

    def get_campaigns(self, request: Request) -> Any:
        statuses = request.params_list("status")
        for status in statuses:
            if status not in CAMPAIGN_STATUSES:
                raise enum_error("fetching", "campaigns", "campaign_status", status)
        tags, query = request.params_list("tag"), (request.param("query") or "").lower()
        rows = [
            r
            for r in self.campaigns.values()
            if (not statuses or r["status"] in statuses)
            and all(t in r["tags"] for t in tags)
            and (query in r["name"].lower() or query in r["subject"].lower())
        ]
        field_name, descending = order_key(
            request, ("name", "status", "created_at", "updated_at"), "created_at"
        )
        body = not request.flag("no_body")
        page = paginate(sort_rows(rows, field_name, descending), request, empty_zero=True)
        page["results"] = [self.campaign_json(r, body=body) for r in page["results"]]
        return page

    def get_campaign(self, request: Request) -> Any:
        row = self.find_campaign(request.id)
        return self.campaign_json(row, body=not request.flag("no_body"))

    def _campaign_fields(self, body: dict[str, Any], request: Request) -> dict[str, Any]:
        """Validate in Listmonk's order; return the fields to store."""
        if not 1 <= len(body.get("name") or "") <= 2000:
            raise FakeHTTPError(400, "Invalid length for name.")
        if not 1 <= len(body.get("subject") or "") <= 5000:
            raise FakeHTTPError(400, "Invalid length for subject.")
        # Listmonk checks the permitted IDs, then inserts the campaign's lists from the
        # lists that exist: IDs of deleted lists are dropped silently, even all of them.
        can_manage_lists = request.user.has("lists:manage_all", "lists:get_all")
        permitted = [i for i in body.get("lists") or () if can_manage_lists]
        if not permitted:
            raise FakeHTTPError(400, "Invalid list IDs.")
        lists = list(dict.fromkeys(i for i in permitted if i in self.lists))
        from_email = body.get("from_email") or "listmonk <noreply@listmonk.yoursite.com>"
        if not _FROM_RE.match(from_email.strip()):
            raise FakeHTTPError(400, "Invalid `from_email`.")
        kind = body.get("type") or "regular"
        if kind not in ("regular", "optin"):
            raise enum_error("creating", "campaign", "campaign_type", kind)
        if kind == "optin" and not any(self.lists[i]["optin"] == "double" for i in lists):
            raise FakeHTTPError(400, "No opt-in lists found to create campaign.")
        text = body.get("body") or ""
        if not _braces_ok(text):
            raise FakeHTTPError(400, "Error compiling campaign body: unexpected EOF")
        send_at = parse_time(body.get("send_at")) if body.get("send_at") else None
        if send_at is not None and send_at <= now():
            raise FakeHTTPError(400, "Scheduled date should be in the future.")
        messenger = body.get("messenger") or "email"
        if messenger != "email" and not messenger.startswith("email-"):
            raise FakeHTTPError(400, f"Unknown messenger {messenger}.")
        template_id = body.get("template_id")
        if template_id is None:
            template_id = next((t["id"] for t in self.templates.values() if t["is_default"]), None)
        elif template_id not in self.templates:
            template_id = None
        content_type = body.get("content_type")
        return {
            "name": body["name"],
            "subject": body["subject"],
            "lists": [{"id": i, "name": self.lists[i]["name"]} for i in lists],
            "from_email": from_email,
            "type": kind,
            "content_type": content_type if content_type in CONTENT_TYPES else "richtext",
            "body": text,
            "altbody": body.get("altbody"),
            "template_id": template_id,
            "send_at": send_at,
            "messenger": "email" if messenger.startswith("email") else messenger,
            "tags": normalise_tags(body.get("tags")),
            "headers": body.get("headers") or [],
            "attribs": body.get("attribs") or {},
        }

    def create_campaign(self, request: Request) -> Any:
        body = bind(request.body, CAMPAIGN_SCHEMA, request.raw_body)
        fields = self._campaign_fields(body, request)
        moment = now()
        row = fields | {"id": self.next_id("campaigns"), "uuid": new_uuid(), "status": "draft"}
        row |= {"created_at": moment, "updated_at": moment, "started_at": None}
        row |= {"to_send": 0, "sent": 0}
        self.campaigns[row["id"]] = row
        return self.campaign_json(row)

    def update_campaign(self, request: Request) -> Any:
        row = self.find_campaign(request.id)
        if row["status"] not in ("draft", "paused", "scheduled"):
            raise FakeHTTPError(400, "Cannot update a running or a finished campaign.")
        body = bind(request.body, CAMPAIGN_SCHEMA, request.raw_body)
        # The stored campaign, then the request over it; lists must come again and
        # attribs are reset when absent.
        merged = {k: v for k, v in row.items() if k in CAMPAIGN_SCHEMA}
        merged |= {"lists": [], "attribs": {}, "send_at": go_time(row["send_at"])}
        merged |= {k: v for k, v in body.items() if k in CAMPAIGN_SCHEMA}
        if merged.get("send_at") and "send_at" not in body and row["send_at"] <= now():
            raise FakeHTTPError(400, "Scheduled date should be in the future.")
        fields = self._campaign_fields(merged, request)
        if fields["send_at"] is None and row["status"] == "scheduled":
            row["status"] = "draft"
        row |= fields | {"updated_at": now()}
        return self.campaign_json(row)

    def recipients(self, row: dict[str, Any]) -> set[int]:
        ids = {item["id"] for item in row["lists"] if item["id"] is not None}
        out = set()
        for list_id in ids:
            for subscriber_id, sub in self.subscriptions.of_list(list_id).items():
                if self.subscribers[subscriber_id]["status"] == "blocklisted":
                    continue
                double = self.lists[list_id]["optin"] == "double"
                if (double and sub["status"] == "confirmed") or (
                    not double and sub["status"] != "unsubscribed"
                ):
                    out.add(subscriber_id)
        return out

    def set_campaign_status(self, request: Request) -> Any:
        row = self.find_campaign(request.id)
        body = bind(request.body, {"status": "string"}, request.raw_body)
        status = body.get("status") or ""
        if status not in CAMPAIGN_STATUSES:
            raise FakeHTTPError(
                500,
                "Error updating Campaign: pq: invalid input value for enum "
                f'campaign_status: "{status}"',
            )
        if status == "scheduled" and row["send_at"] is None:
            raise FakeHTTPError(400, "Campaign needs a date to be scheduled.")
        allowed, refusal = _TRANSITIONS.get(status, (CAMPAIGN_STATUSES, ""))
        if row["status"] not in allowed:
            raise FakeHTTPError(400, refusal)
        before = self.campaign_json(row)  # quirk 2: the answer is the campaign before
        stored = "scheduled" if status == "running" and row["send_at"] else status
        row |= {"status": stored, "updated_at": now()}
        if stored == "running":
            row |= {"started_at": now(), "to_send": len(self.recipients(row))}
        return before | {"status": status}

    def run_campaigns(self) -> None:
        """What Listmonk's campaign manager does in the background: start scheduled
        campaigns whose time has come and finish running ones (everyone was sent)."""
        with self.lock:
            for row in self.campaigns.values():
                if row["status"] == "scheduled" and row["send_at"] <= now():
                    row |= {"status": "running", "started_at": now()}
                    row["to_send"] = len(self.recipients(row))
                if row["status"] == "running":
                    row |= {"status": "finished", "sent": row["to_send"], "updated_at": now()}

    def delete_campaign(self, request: Request) -> Any:
        self.find_campaign(request.id)
        del self.campaigns[request.id]
        return True

    def analytics(self, request: Request) -> Any:
        kind = request.ids["type"]
        if kind not in ("views", "clicks", "bounces", "links"):
            raise FakeHTTPError(400, "Invalid data")
        if not request.params_list("id"):
            raise FakeHTTPError(400, "Missing field(s): `id`")
        ids = set(parse_ids(request.params_list("id")))
        start, end = request.param("from") or "", request.param("to") or ""
        if not (10 <= len(start) <= 30 and 10 <= len(end) <= 30):
            raise FakeHTTPError(400, "Invalid `from` or `to` dates.")
        try:
            lower, upper = _bound(start), _bound(end)
        except ValueError:
            raise FakeHTTPError(400, "Invalid `from` or `to` dates.") from None
        clicks = [(c, u, t) for c, u, t in self.clicks if c in ids and lower <= t < upper]
        if kind == "links":
            counts: dict[str, int] = {}
            for _, url, _ in clicks:
                counts[url] = counts.get(url, 0) + 1
            ranked = sorted(counts.items(), key=lambda item: -item[1])[:50]
            return [{"url": url, "count": count} for url, count in ranked]
        events = {
            "views": [(c, t) for c, t in self.views if c in ids and lower <= t < upper],
            "clicks": [(c, t) for c, _, t in clicks],
            "bounces": [
                (b["campaign_id"], b["created_at"])
                for b in self.bounces.values()
                if b["campaign_id"] in ids and lower <= b["created_at"] < upper
            ],
        }[kind]
        daily = upper - lower >= timedelta(days=7)
        buckets: dict[tuple[int, datetime], int] = {}
        for campaign_id, moment in events:
            moment = moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
            moment = moment.replace(hour=0) if daily else moment
            buckets[(campaign_id, moment)] = buckets.get((campaign_id, moment), 0) + 1
        return [
            {"campaign_id": c, "count": n, "timestamp": go_time(t)}
            for (c, t), n in sorted(buckets.items(), key=lambda item: item[0][1])
        ]
