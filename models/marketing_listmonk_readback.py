"""What happens in Listmonk, back into Odoo, at the start of each sync pass (before
anything is pushed, so that nothing decided there is overwritten).

- Subscribers blocklisted in Listmonk withdraw the partner's email consent; unsubscribes
  from a mapped list become a topic opt-out (the list's topic) or, for a list without
  topic, withdraw the email consent. Each change is a consent proof with source
  "Listmonk". Changed subscribers are found by their ``updated_at`` and their
  subscriptions' (``readback_cursor``).
- Hard bounces and complaints put the address on Odoo's blacklist. The bounces are read
  newest first, page after page, back to the last one read (``bounce_cursor``).
- A bounce that blocklists a subscriber touches neither ``updated_at`` (Listmonk's
  ``record-bounce`` sets the status only): the subscribers of the new bounces who are
  blocklisted now are read back through their bounces, and withdraw consent like any
  blocklisted subscriber.
"""

from datetime import timezone

from odoo import _, fields, models

from ..listmonk.models import format_time
from ..listmonk.subscribers import id_condition, sql_literal
from .marketing_listmonk_sync import MATCH_ATTRIBUTE, OVERLAP

BOUNCE_PAGE = 500  # bounces per request when they are read back
ID_LOOKUP = 300  # subscriber IDs per lookup (a short URL)


class MarketingListmonkServer(models.Model):
    _inherit = "marketing.listmonk.server"

    def _read_back(self, client, _started=None):
        """Blocklists and unsubscribes done in Listmonk since the last pass."""
        since = self.readback_cursor
        # The first time: every blocklist and unsubscribe Listmonk already holds.
        stamp = sql_literal(format_time(since - OVERLAP)) if since else None
        query = (
            "(subscribers.status = 'blocklisted'"
            + (f" AND subscribers.updated_at > {stamp})" if stamp else ")")
            + " OR EXISTS (SELECT 1 FROM subscriber_lists sl WHERE sl.subscriber_id = "
            "subscribers.id AND sl.status = 'unsubscribed'"
            + (f" AND sl.updated_at > {stamp})" if stamp else ")")
        )
        topics = {m.listmonk_id: m.topic_id for m in self.list_ids if m.listmonk_id}
        # The cursor is kept in Listmonk's clock (the latest change it showed us), not in
        # ours: Listmonk and Odoo run on different machines, and a change stamped by a
        # clock behind ours would otherwise fall before the cursor and never be read.
        latest = since
        for subscriber in client.iter_subscribers(query, per_page=1000):
            self._apply_listmonk_state(subscriber, topics)
            stamps = [subscriber.updated_at, *(s.updated_at for s in subscriber.subscriptions)]
            for stamp in filter(None, stamps):
                stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
                latest = max(latest, stamp) if latest else stamp
        self.readback_cursor = latest

    def _apply_listmonk_state(self, subscriber, topics, why=""):
        partner = self._partner_of(subscriber)
        if not partner:
            return
        evidence = _("Listmonk %(url)s, subscriber %(id)s", url=self.url, id=subscriber.id)
        evidence += " (blocklisted)" if subscriber.status == "blocklisted" else " (unsubscribed)"
        evidence += f" {why}" if why else ""
        withdraw = subscriber.status == "blocklisted"
        for subscription in subscriber.subscriptions:
            if subscription.status != "unsubscribed" or subscription.list_id not in topics:
                continue
            topic = topics[subscription.list_id]
            if not topic:
                withdraw = True
            elif topic not in partner.marketing_topic_optout_ids:
                partner.marketing_topic_optout_ids = [fields.Command.link(topic.id)]
                partner.message_post(
                    body=_(
                        "Unsubscribed from the Listmonk list %(list)s: opted out of %(topic)s.",
                        list=subscription.list_name,
                        topic=topic.name,
                    )
                )
        if withdraw and partner.marketing_consent_email:
            self.env["marketing.trigger.consent"].sudo().create(
                {
                    "partner_id": partner.id,
                    "channel": "email",
                    "is_granted": False,
                    "source": "listmonk",
                    "evidence": evidence,
                }
            )

    def _partner_of(self, subscriber):
        """The partner a Listmonk subscriber was synced from: its link, else the partner
        ID it carries (if that partner has its email), else the partner with its email."""
        link = (
            self.env["marketing.listmonk.subscriber"]
            .sudo()
            .search([("server_id", "=", self.id), ("listmonk_id", "=", subscriber.id)], limit=1)
        )
        if link:
            return link.partner_id
        Partner = self.env["res.partner"].sudo()
        raw = subscriber.attribs.get(MATCH_ATTRIBUTE)
        if str(raw or "").isdigit():
            partner = Partner.browse(int(raw)).exists()
            if partner and partner.email_normalized == subscriber.email.lower():
                return partner
        # Someone Listmonk knew before the first sync: the same address is the same person.
        return Partner.search(
            [
                ("email_normalized", "=", subscriber.email.lower()),
                ("company_id", "in", [self.company_id.id, False]),
            ],
            limit=1,
        )

    def _new_bounces(self, client):
        """The bounces Listmonk recorded after ``bounce_cursor`` (the highest bounce ID
        read), oldest first. Listmonk cannot sort bounces by ID, so they are read newest
        first by date, page after page, until a page reaches the cursor; a webhook may
        date a bounce in the past, so every bounce of that last page is looked at too.
        Bounces recorded meanwhile shift the pages: one seen twice counts once."""
        seen = self.bounce_cursor
        new = {}
        number = 1
        while True:
            page = client.get_bounces(
                page=number, per_page=BOUNCE_PAGE, order_by="created_at", order="desc"
            )
            new.update((bounce.id, bounce) for bounce in page.results if bounce.id > seen)
            if len(page.results) < BOUNCE_PAGE or any(b.id <= seen for b in page.results):
                return [new[bounce_id] for bounce_id in sorted(new)]
            number += 1

    def _read_bounces(self, client):
        """Hard bounces and complaints recorded in Listmonk blacklist the address in Odoo
        (soft bounces are Listmonk's business: it retries and counts them); a subscriber
        a bounce blocklisted withdraws the contact's email consent."""
        bounces = self._new_bounces(client)
        Blacklist = self.env["mail.blacklist"].sudo()
        for bounce in bounces:
            if bounce.type in ("hard", "complaint") and bounce.email:
                Blacklist._add(
                    bounce.email,
                    message=_(
                        "Listmonk reported a %(type)s bounce (%(origin)s).",
                        type=bounce.type,
                        origin=bounce.source or "?",
                    ),
                )
        # Listmonk stores no bounce for a subscriber blocklisted already: a new bounce of
        # a blocklisted subscriber is one that blocklisted them, or came just before.
        blocklisted = sorted(
            {b.subscriber_id for b in bounces if b.subscriber_status == "blocklisted"} - {None}
        )
        topics = {m.listmonk_id: m.topic_id for m in self.list_ids if m.listmonk_id}
        why = _("after a bounce")
        for start in range(0, len(blocklisted), ID_LOOKUP):
            condition = id_condition(blocklisted[start : start + ID_LOOKUP])
            for subscriber in client.iter_subscribers(condition, per_page=ID_LOOKUP):
                if subscriber.is_blocklisted:
                    self._apply_listmonk_state(subscriber, topics, why)
        if bounces:
            self.bounce_cursor = max(self.bounce_cursor, bounces[-1].id)
