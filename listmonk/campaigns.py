"""Campaigns, templates, transactional sends and bounces.

Two calls here are not safe to repeat and are never retried once sent:
:meth:`CampaignsAPI.create_campaign` (a second POST makes a second campaign) and
:meth:`CampaignsAPI.send_tx` (Listmonk has no idempotency key: a second POST mails
everyone again). When their answer is lost they raise
:class:`~listmonk.errors.ListmonkOutcomeUnknown`.

A transactional send is also *partial* by design: recipients Listmonk does not know are
skipped, the others are queued, and the answer is a 400 listing the missing ones
(contract 3.6). :meth:`CampaignsAPI.send_tx` turns that into a :class:`TxResult` rather
than an error, since most of the message did go out.

Campaign status changes are guarded by Listmonk (a running campaign cannot be started
again), so they are retried; if a retry is refused because an earlier attempt had
already made the change, the campaign's current state settles it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Literal

from .errors import (
    ListmonkNotFound,
    ListmonkOutcomeUnknown,
    ListmonkProtocolError,
    ListmonkUnavailable,
    ListmonkValidationError,
)
from .models import (
    AnalyticsPoint,
    Bounce,
    BounceType,
    Campaign,
    CampaignStatus,
    LinkCount,
    Page,
    Template,
    TemplateType,
    TxResult,
    format_time,
    parse_time,
)
from .transport import Transport

ContentType = Literal["richtext", "html", "markdown", "plain", "visual"]

_MISSING_RE = re.compile(r"^Subscriber \((?P<id>\d+): (?P<email>.*)\) not found$")
# Status changes an earlier, unanswered attempt may already have made (the campaign
# manager moves scheduled → running → finished on its own).
_REACHED: dict[str, frozenset[str]] = {
    "running": frozenset({"running", "scheduled", "finished"}),
    "scheduled": frozenset({"scheduled", "running", "finished"}),
}


@dataclass(frozen=True, slots=True)
class CampaignDraft:
    """Everything a campaign is made of; sent whole on create and on update (Listmonk's
    update needs ``lists`` again and resets ``attribs`` when they are absent)."""

    name: str
    subject: str
    lists: tuple[int, ...]
    body: str = ""
    content_type: ContentType = "richtext"
    from_email: str = ""
    template_id: int | None = None
    altbody: str | None = None
    tags: tuple[str, ...] = ()
    headers: tuple[Mapping[str, str], ...] = field(default=(), hash=False)
    attribs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    send_at: datetime | None = None
    messenger: str = ""
    type: Literal["regular", "optin"] = "regular"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "subject": self.subject,
            "lists": list(self.lists),
            "type": self.type,
            "content_type": self.content_type,
            "body": self.body,
            "altbody": self.altbody,
            "template_id": self.template_id,
            "tags": list(self.tags),
            "headers": [dict(h) for h in self.headers],
            "attribs": dict(self.attribs),
            "send_at": format_time(self.send_at) if self.send_at else None,
        }
        if self.from_email:
            body["from_email"] = self.from_email
        if self.messenger:
            body["messenger"] = self.messenger
        return body


def _analytics_time(moment: date | datetime) -> str:
    # Listmonk accepts 10 to 30 characters: no microseconds (they make 32).
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.replace(microsecond=0).isoformat()
    return moment.isoformat()


def missing_recipients(message: str) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    """The recipients a partial tx answer names, or ``None`` if it is another error.

    >>> missing_recipients("Subscriber (0: a@x.com) not found; Subscriber (42: ) not found")
    (('a@x.com',), (42,))
    >>> missing_recipients("template 5 not found") is None
    True
    """
    emails: list[str] = []
    ids: list[int] = []
    for part in message.split(";"):
        match = _MISSING_RE.match(part.strip())
        if not match:
            return None
        if match["email"]:
            emails.append(match["email"])
        else:
            ids.append(int(match["id"]))
    return tuple(emails), tuple(ids)


class CampaignsAPI(Transport):
    """Campaign, template, tx and bounce endpoints (mixed into the client)."""

    # -- campaigns ----------------------------------------------------------------------

    def get_campaign(self, campaign_id: int, *, with_body: bool = True) -> Campaign:
        params = None if with_body else {"no_body": True}
        data = self.call("GET", f"api/campaigns/{int(campaign_id)}", params=params)
        return Campaign.from_json(data)

    def get_campaigns(
        self,
        *,
        page: int = 1,
        per_page: int | Literal["all"] = 20,
        statuses: Sequence[CampaignStatus] = (),
        tags: Sequence[str] = (),
        query: str | None = None,
        with_body: bool = False,
    ) -> Page[Campaign]:
        params: dict[str, Any] = {"page": page, "per_page": per_page, "status": tuple(statuses)}
        params |= {"tag": tuple(tags), "query": query, "no_body": not with_body}
        return self.page("api/campaigns", params, Campaign.from_json)

    def iter_campaigns(
        self,
        *,
        statuses: Sequence[CampaignStatus] = (),
        tags: Sequence[str] = (),
        query: str | None = None,
    ) -> Iterator[Campaign]:
        # `tag`, not the documented `tags`, is what Listmonk reads (contract 3.4).
        params: dict[str, Any] = {
            "status": tuple(statuses),
            "tag": tuple(tags),
            "query": query,
            "no_body": True,
        }
        return self.iter_pages("api/campaigns", params, Campaign.from_json)

    def create_campaign(self, draft: CampaignDraft) -> Campaign:
        """Create a draft campaign. Never retried once sent (a lost answer raises
        :class:`~listmonk.errors.ListmonkOutcomeUnknown`: look for it by name or tag)."""
        return Campaign.from_json(self.call("POST", "api/campaigns", json=draft.to_json()))

    def update_campaign(self, campaign_id: int, draft: CampaignDraft) -> Campaign:
        """Replace a draft, paused or scheduled campaign's content (``send_at=None`` turns
        a scheduled campaign back into a draft)."""
        path = f"api/campaigns/{int(campaign_id)}"
        return Campaign.from_json(self.call("PUT", path, json=draft.to_json()))

    def set_campaign_status(self, campaign_id: int, status: CampaignStatus) -> Campaign:
        """Change the status and return the campaign *as stored afterwards*.

        Listmonk answers with the campaign as it was before, with only ``status``
        overwritten, and stores ``running`` as ``scheduled`` when ``send_at`` is set;
        the campaign is therefore read again.
        """
        path = f"api/campaigns/{int(campaign_id)}/status"
        try:
            self.call("PUT", path, json={"status": status})
        except ListmonkValidationError as exc:
            if exc.attempts > 1:
                current = self.get_campaign(campaign_id, with_body=False)
                if current.status in _REACHED.get(status, frozenset({status})):
                    return current
            raise
        return self.get_campaign(campaign_id, with_body=False)

    def start_campaign(self, campaign_id: int) -> Campaign:
        return self.set_campaign_status(campaign_id, "running")

    def pause_campaign(self, campaign_id: int) -> Campaign:
        return self.set_campaign_status(campaign_id, "paused")

    def cancel_campaign(self, campaign_id: int) -> Campaign:
        return self.set_campaign_status(campaign_id, "cancelled")

    def schedule_campaign(self, campaign_id: int, send_at: datetime) -> Campaign:
        """Set ``send_at`` (in the future) and schedule; Listmonk starts it then."""
        current = self.get_campaign(campaign_id, with_body=False)
        # An update merges over the stored campaign, except lists and attribs.
        body = {"lists": list(current.list_ids), "attribs": dict(current.attribs)}
        body["send_at"] = format_time(send_at)
        self.call("PUT", f"api/campaigns/{int(campaign_id)}", json=body)
        return self.set_campaign_status(campaign_id, "scheduled")

    def delete_campaign(self, campaign_id: int) -> None:
        self.call("DELETE", f"api/campaigns/{int(campaign_id)}")

    def campaign_analytics(
        self,
        kind: Literal["views", "clicks", "bounces"],
        campaign_ids: Sequence[int],
        start: date | datetime,
        end: date | datetime,
    ) -> tuple[AnalyticsPoint, ...]:
        """Counts per hour (under 7 days) or per day; ``end`` is exclusive."""
        params: dict[str, Any] = {"id": tuple(campaign_ids), "from": _analytics_time(start)}
        params["to"] = _analytics_time(end)
        data = self.call("GET", f"api/campaigns/analytics/{kind}", params=params)
        return tuple(
            AnalyticsPoint(item["campaign_id"], item["count"], parse_time(item.get("timestamp")))
            for item in data or ()
        )

    def campaign_links(
        self, campaign_ids: Sequence[int], start: date | datetime, end: date | datetime
    ) -> tuple[LinkCount, ...]:
        """The 50 most clicked URLs of these campaigns."""
        params: dict[str, Any] = {"id": tuple(campaign_ids), "from": _analytics_time(start)}
        params["to"] = _analytics_time(end)
        data = self.call("GET", "api/campaigns/analytics/links", params=params)
        return tuple(LinkCount(item["url"], item["count"]) for item in data or ())

    # -- templates ----------------------------------------------------------------------

    def get_templates(self, *, with_body: bool = False) -> tuple[Template, ...]:
        """Every template (not paginated), oldest first."""
        data = self.call("GET", "api/templates", params={"no_body": not with_body})
        return tuple(Template.from_json(item) for item in data or ())

    def get_template(self, template_id: int) -> Template:
        return Template.from_json(self.call("GET", f"api/templates/{int(template_id)}"))

    def find_template(self, name: str, type: TemplateType | None = None) -> Template | None:
        found = [
            t for t in self.get_templates() if t.name == name and (type is None or t.type == type)
        ]
        return min(found, key=lambda t: t.id) if found else None

    def create_template(
        self, name: str, *, type: TemplateType, body: str, subject: str = ""
    ) -> Template:
        """A ``campaign`` body must contain ``{{ template "content" . }}`` once; a ``tx``
        template needs a ``subject`` and cannot use tracking functions."""
        _check_template_name(name, "POST", "api/templates")
        payload = {"name": name, "type": type, "body": body, "subject": subject}
        return Template.from_json(self.call("POST", "api/templates", json=payload))

    def update_template(
        self, template_id: int, *, name: str, type: TemplateType, body: str, subject: str = ""
    ) -> Template:
        path = f"api/templates/{int(template_id)}"
        _check_template_name(name, "PUT", path)
        payload = {"name": name, "type": type, "body": body, "subject": subject}
        return Template.from_json(self.call("PUT", path, json=payload))

    def delete_template(self, template_id: int) -> None:
        self.call("DELETE", f"api/templates/{int(template_id)}")

    # -- transactional ------------------------------------------------------------------

    def send_tx(
        self,
        template_id: int,
        *,
        emails: Sequence[str] = (),
        subscriber_ids: Sequence[int] = (),
        data: Mapping[str, Any] | None = None,
        subject: str | None = None,
        from_email: str | None = None,
        headers: Sequence[Mapping[str, str]] = (),
        content_type: Literal["html", "markdown", "plain"] | None = None,
        altbody: str | None = None,
        messenger: str | None = None,
        mode: Literal["default", "fallback", "external"] = "default",
    ) -> TxResult:
        """Queue one transactional message per recipient (a ``tx`` template).

        Raises :class:`~listmonk.errors.ListmonkOutcomeUnknown` when the request may
        have queued messages but no clear answer came (timeout, 5xx, or a rendering
        error after the first of several recipients): do not resend automatically.
        """
        body: dict[str, Any] = {"template_id": template_id, "subscriber_mode": mode}
        if emails:
            body["subscriber_emails"] = list(emails)
        if subscriber_ids:
            body["subscriber_ids"] = list(subscriber_ids)
        body["data"] = dict(data or {})
        optional = {"subject": subject, "from_email": from_email, "altbody": altbody}
        optional |= {"content_type": content_type, "messenger": messenger}
        body |= {key: value for key, value in optional.items() if value}
        if headers:
            body["headers"] = [dict(h) for h in headers]
        recipients = len(emails) + len(subscriber_ids)
        try:
            self.call("POST", "api/tx", json=body)
        except ListmonkNotFound as exc:
            missing = missing_recipients(exc.message)
            if missing is None:
                raise
            return TxResult(*missing)
        except ListmonkValidationError as exc:
            if recipients > 1 and exc.message.startswith("Error rendering message"):
                raise _unknown(exc, "rendering failed after some recipients were queued") from exc
            raise
        except ListmonkUnavailable as exc:
            if exc.status is None:  # never connected: nothing was sent
                raise
            # A full send queue answers 500 after queueing the first recipients.
            raise _unknown(exc, "the server failed while queueing") from exc
        return TxResult()

    # -- bounces ------------------------------------------------------------------------

    def get_bounces(
        self,
        *,
        page: int = 1,
        per_page: int | Literal["all"] = 20,
        campaign_id: int | None = None,
        source: str | None = None,
        order_by: str | None = None,
        order: Literal["asc", "desc"] | None = None,
    ) -> Page[Bounce]:
        params: dict[str, Any] = {"page": page, "per_page": per_page, "campaign_id": campaign_id}
        params |= {"source": source, "order_by": order_by, "order": order}
        return self.page("api/bounces", params, Bounce.from_json)

    def iter_bounces(
        self, *, campaign_id: int | None = None, source: str | None = None
    ) -> Iterator[Bounce]:
        params: dict[str, Any] = {"campaign_id": campaign_id, "source": source}
        return self.iter_pages("api/bounces", params, Bounce.from_json)

    def get_bounce(self, bounce_id: int) -> Bounce:
        return Bounce.from_json(self.call("GET", f"api/bounces/{int(bounce_id)}"))

    def record_bounce(
        self,
        type: BounceType,
        source: str,
        *,
        email: str | None = None,
        subscriber_uuid: str | None = None,
        campaign_uuid: str | None = None,
        meta: Mapping[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> None:
        """Report a bounce seen elsewhere (``POST /webhooks/bounce``; needs bounce webhooks
        enabled in Listmonk's settings). Listmonk applies its bounce actions (a hard
        bounce blocklists by default). Not retried once sent."""
        body: dict[str, Any] = {"type": type, "source": source, "meta": dict(meta or {})}
        optional = {"email": email, "subscriber_uuid": subscriber_uuid}
        optional |= {"campaign_uuid": campaign_uuid}
        body |= {key: value for key, value in optional.items() if value}
        if created_at:
            body["created_at"] = format_time(created_at)
        try:
            self.call("POST", "webhooks/bounce", json=body)
        except ListmonkProtocolError as exc:
            if exc.status == 404:
                exc.message = "bounce webhooks are disabled in Listmonk's settings"
            raise


def _check_template_name(name: str, method: str, path: str) -> None:
    # Listmonk answers a bad template name with a bare 500, which would read as an outage.
    if not 1 <= len(name) <= 2000:
        raise ListmonkValidationError(
            "a template name has 1 to 2000 characters", method=method, path=path
        )


def _unknown(exc: ListmonkUnavailable | ListmonkValidationError, why: str) -> Exception:
    return ListmonkOutcomeUnknown(
        f"{why}; some messages may have been sent: {exc.message}",
        status=exc.status,
        method=exc.method,
        path=exc.path,
        attempts=exc.attempts,
    )
