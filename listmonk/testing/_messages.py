"""The fake Listmonk's templates, transactional sends and bounces (contract sections
3.5 to 3.7)."""

from __future__ import annotations

import re
from typing import Any

from ..models import parse_time
from ._base import (
    FakeHTTPError,
    Request,
    bind,
    go_time,
    now,
    order_key,
    paginate,
    sanitize_email,
    sort_rows,
)
from ._campaigns import CampaignRoutes
from ._subscribers import enum_error

TEMPLATE_SCHEMA = {"name": "string", "type": "string", "subject": "string", "body": "string"}
TX_SCHEMA = {
    "template_id": "int",
    "subscriber_emails": "[]string",
    "subscriber_ids": "[]int",
    "subscriber_email": "string",
    "subscriber_id": "int",
    "subscriber_mode": "string",
    "data": "map",
    "subject": "string",
    "from_email": "string",
    "headers": "[]map",
    "messenger": "string",
    "content_type": "string",
    "altbody": "string",
}
_CONTENT_TAG_RE = re.compile(r'\{\{\s*template\s+"content"\s+\.\s*\}\}')
_CAMPAIGN_FUNCS = ("TrackLink", "TrackView", "UnsubscribeURL", "ManageURL", "OptinURL")
DEFAULT_TEMPLATES = (
    ("Default campaign template", "campaign", "", '<html>{{ template "content" . }}</html>'),
    ("Default archive template", "campaign", "", '<html>{{ template "content" . }}</html>'),
    ("Sample transactional template", "tx", "Welcome {{ .Subscriber.Name }}", "<p>Hi</p>"),
    ("Sample visual template", "campaign_visual", "", "<table></table>"),
)


class MessageRoutes(CampaignRoutes):
    def seed_templates(self) -> None:
        for name, kind, subject, body in DEFAULT_TEMPLATES:
            moment = now()
            row: dict[str, Any] = {"id": self.next_id("templates"), "name": name, "type": kind}
            row |= {"subject": subject, "body": body, "is_default": not self.templates}
            self.templates[row["id"]] = row | {"created_at": moment, "updated_at": moment}

    # -- templates ----------------------------------------------------------------------

    def template_json(self, row: dict[str, Any], *, body: bool = True) -> dict[str, Any]:
        out = {"id": row["id"], "created_at": go_time(row["created_at"])}
        out |= {"updated_at": go_time(row["updated_at"]), "name": row["name"]}
        out |= {"subject": row["subject"], "type": row["type"]}
        if body and row["body"]:
            out["body"] = row["body"]  # omitted when empty
        return out | {"body_source": None, "is_default": row["is_default"]}

    def get_templates(self, request: Request) -> Any:
        body = not request.flag("no_body")
        return [self.template_json(r, body=body) for r in self.templates.values()]

    def find_template(self, template_id: int) -> dict[str, Any]:
        if template_id not in self.templates:
            raise FakeHTTPError(400, "Template not found")
        return self.templates[template_id]

    def get_template(self, request: Request) -> Any:
        return self.template_json(self.find_template(request.id))

    def _validate_template(self, body: dict[str, Any], verb: str) -> None:
        if not 1 <= len(body.get("name") or "") <= 2000:
            raise FakeHTTPError(500, "Internal Server Error")  # a plain Go error (quirk)
        kind, text = body.get("type") or "", body.get("body") or ""
        if kind == "campaign" and len(_CONTENT_TAG_RE.findall(text)) != 1:
            raise FakeHTTPError(
                400,
                'The placeholder {{ template "content" . }} should appear exactly once '
                "in the template.",
            )
        if kind == "tx" and not (body.get("subject") or "").strip():
            raise FakeHTTPError(400, "Missing field(s): subject")
        if kind == "tx":
            for func in _CAMPAIGN_FUNCS:
                if re.search(r"\{\{[^}]*\b" + func + r"\b", text):
                    raise FakeHTTPError(
                        400,
                        "error compiling transactional template: template: base:1: "
                        f'function "{func}" not defined',
                    )
        if kind not in ("campaign", "campaign_visual", "tx"):
            raise enum_error(verb, "Template", "template_type", kind)

    def create_template(self, request: Request) -> Any:
        body = bind(request.body, TEMPLATE_SCHEMA, request.raw_body)
        self._validate_template(body, "creating")
        moment = now()
        row = {"id": self.next_id("templates"), "name": body["name"], "type": body["type"]}
        subject = "" if body["type"] != "tx" else body["subject"]
        row |= {"subject": subject, "body": body.get("body") or "", "is_default": False}
        self.templates[row["id"]] = row | {"created_at": moment, "updated_at": moment}
        return self.template_json(self.templates[row["id"]])

    def update_template(self, request: Request) -> Any:
        row = self.find_template(request.id)
        body = bind(request.body, TEMPLATE_SCHEMA, request.raw_body)
        self._validate_template(body, "updating")
        row["name"] = body.get("name") or row["name"]
        row["body"] = body.get("body") or row["body"]
        subject = body.get("subject") if body["type"] == "tx" else ""
        row |= {"subject": subject or row["name"], "updated_at": now()}  # quirk: name
        return self.template_json(row)

    def delete_template(self, request: Request) -> Any:
        row = self.templates.get(request.id)
        if row is None or row["is_default"] or len(self.templates) == 1:
            raise FakeHTTPError(400, "Cannot delete non-existent or default template")
        del self.templates[request.id]
        return True

    # -- transactional ------------------------------------------------------------------

    def send_tx(self, request: Request) -> Any:
        body = bind(request.body, TX_SCHEMA, request.raw_body)
        emails, ids = (
            list(body.get("subscriber_emails") or []),
            list(body.get("subscriber_ids") or []),
        )
        if emails and body.get("subscriber_email"):
            raise FakeHTTPError(400, "Invalid fields: do not send `subscriber_email`")
        if ids and body.get("subscriber_id"):
            raise FakeHTTPError(400, "Invalid fields: do not send `subscriber_id`")
        emails += [body["subscriber_email"]] if body.get("subscriber_email") else []
        ids += [body["subscriber_id"]] if body.get("subscriber_id") else []
        mode = body.get("subscriber_mode") or "default"
        if mode == "default":
            if bool(emails) == bool(ids):
                raise FakeHTTPError(400, "Invalid fields: send subscriber_emails OR subscriber_ids")
        elif mode in ("fallback", "external"):
            if ids:
                raise FakeHTTPError(
                    400, "Invalid fields: subscriber_ids not allowed in fallback or external mode"
                )
            if not emails:
                raise FakeHTTPError(400, "Invalid fields: subscriber_emails")
        else:
            raise FakeHTTPError(400, "Invalid fields: subscriber_mode")
        emails = [sanitize_email(e) if e else e for e in emails]
        messenger = body.get("messenger") or "email"
        if messenger != "email":
            raise FakeHTTPError(400, f"Unknown messenger {messenger}.")
        template = self.templates.get(body.get("template_id") or 0)
        if template is None or template["type"] != "tx":
            raise FakeHTTPError(400, f"template {body.get('template_id') or 0} not found")
        not_found: list[str] = []
        for email, subscriber_id in [(e, 0) for e in emails] + [("", i) for i in ids]:
            if mode == "external":
                subscriber = {"email": email, "id": 0}
            else:
                try:
                    subscriber = self.find_subscriber(subscriber_id, email)
                except FakeHTTPError as exc:
                    if mode == "default":
                        not_found.append(exc.message)
                        continue
                    subscriber = {"email": email, "id": 0}
            if self.tx_queue_capacity is not None and len(self.outbox) >= self.tx_queue_capacity:
                raise FakeHTTPError(500, "Internal Server Error")  # the queue push timed out
            self.outbox.append(
                {
                    "template_id": template["id"],
                    "to": subscriber["email"],
                    "subscriber_id": subscriber["id"],
                    "subject": body.get("subject") or template["subject"],
                    "data": body.get("data") or {},
                    "headers": body.get("headers") or [],
                    "content_type": body.get("content_type") or "html",
                }
            )
        if not_found:
            raise FakeHTTPError(400, "; ".join(not_found))
        return True

    # -- bounces ------------------------------------------------------------------------

    def bounce_json(self, row: dict[str, Any]) -> dict[str, Any]:
        subscriber = self.subscribers.get(row["subscriber_id"]) or {}
        campaign = self.campaigns.get(row["campaign_id"] or 0)
        out: dict[str, Any] = {"id": row["id"], "type": row["type"], "source": row["source"]}
        out |= {"meta": row["meta"], "created_at": go_time(row["created_at"])}
        if subscriber:
            out |= {"email": subscriber["email"], "subscriber_uuid": subscriber["uuid"]}
            out["subscriber_id"] = subscriber["id"]
        out["subscriber_status"] = subscriber.get("status", "")
        out["campaign"] = {"id": campaign["id"], "name": campaign["name"]} if campaign else None
        return out

    def get_bounces(self, request: Request) -> Any:
        campaign_id, source = request.param("campaign_id"), request.param("source")
        rows = [
            self.bounce_json(b)
            for b in self.bounces.values()
            if (not campaign_id or str(b["campaign_id"]) == campaign_id)
            and (not source or b["source"] == source)
        ]
        allowed = ("email", "campaign_name", "source", "created_at", "type")
        field_name, descending = order_key(request, allowed, "created_at")
        return paginate(sort_rows(rows, field_name, descending), request, empty_zero=True)

    def get_bounce(self, request: Request) -> Any:
        if request.id not in self.bounces:
            raise FakeHTTPError(400, "Bounce not found")
        return self.bounce_json(self.bounces[request.id])

    def bounce_webhook(self, request: Request) -> Any:
        body = request.body
        email, sub_uuid = body.get("email") or "", body.get("subscriber_uuid") or ""
        if not email and not sub_uuid:
            raise FakeHTTPError(400, "Invalid fields: email / subscriber_uuid")
        if sub_uuid and not re.fullmatch(r"[0-9a-f-]{36}", sub_uuid):
            raise FakeHTTPError(400, "Invalid fields: subscriber_uuid")
        email = sanitize_email(email) if email else ""
        if body.get("type") not in ("hard", "soft", "complaint"):
            raise FakeHTTPError(400, "Invalid fields: type")
        if sub_uuid:
            subscriber = next(
                (
                    s
                    for s in self.subscribers.values()
                    if (email and s["email"] == email) or s["uuid"] == sub_uuid
                ),
                None,
            )
        else:
            subscriber = self.subscribers.by_email(email)
        if subscriber is None or subscriber["status"] == "blocklisted":
            return True  # ignored silently, or beyond the action's threshold
        campaign = next(
            (c for c in self.campaigns.values() if c["uuid"] == body.get("campaign_uuid")), None
        )
        moment = parse_time(body["created_at"]) if body.get("created_at") else now()
        row = {"id": self.next_id("bounces"), "type": body["type"], "source": body.get("source")}
        row |= {"meta": body.get("meta") or {}, "created_at": moment}
        row |= {"subscriber_id": subscriber["id"], "campaign_id": campaign and campaign["id"]}
        self.bounces[row["id"]] = row
        if body["type"] in ("hard", "complaint"):  # default actions: blocklist at 1
            # record-bounce sets the status only: neither the subscriber's updated_at nor
            # its subscriptions change.
            subscriber["status"] = "blocklisted"
        return True

    def subscriber_bounces(self, request: Request) -> Any:
        rows = [b for b in self.bounces.values() if b["subscriber_id"] == request.id]
        return [self.bounce_json(b) for b in rows]
