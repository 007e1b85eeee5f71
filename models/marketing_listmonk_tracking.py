"""Clicks and opens of Listmonk newsletters, checked before anything is recorded.

A newsletter's tracked URLs (see ``marketing_listmonk_campaign.py``) carry two
signatures, because a Listmonk template cannot compute one per recipient and newsletter:
the subscriber's ``odoo_ref`` names the contact (the same in every newsletter), and the
link signature, made when the body is pushed, binds the link (or the open pixel) to its
newsletter. A click is recorded only when both are valid, the newsletter was handed to
Listmonk, and the contact is synced to its Listmonk. So a ref cannot record clicks on
links that are not in the newsletter, on newsletters whose links one never had, or on
another company's. What remains takes a recipient's ref and a newsletter's links
together: whoever holds a recipient's email can record that recipient's clicks on it
(or, with the links of another newsletter, on that one). After the retention period
(``marketing_trigger.engagement_retention_days``) the links still lead where they lead,
and nothing is recorded any more.

Newsletters pushed before links were signed carry ``/mt/n/<trigger>/<link>/<ref>``:
those links still redirect (to a link of that newsletter only) and record nothing.

A landing page link (``/mt/landing/<slug>``) is tracked like any link, as the absolute
URL of the page; its click is not recorded there but redirected to the recipient's own
signed landing page (``/mt/l/...``), which records the visit once, as for trigger
emails. A newsletter sent to oneself as a test goes through Odoo's email: its links are
absolute, untracked, and landing links open the page's preview as one's own contact.
"""

import re
from datetime import timedelta

from markupsafe import escape
from odoo import _, api, fields, models

from ..engine.tracking import sign, verify
from .marketing_listmonk_campaign import CLICK, OPEN
from .marketing_trigger_landing import LANDING_PLACEHOLDER
from .marketing_trigger_tracking import (
    ADDRESS_PLACEHOLDER,
    DEFAULT_RETENTION_DAYS,
    HREF,
    PREFERENCES_PLACEHOLDER,
    RETENTION_PARAM,
    href_url,
)

# Listmonk template tags a test email fills in for the user's contact.
SUBSCRIBER_TAG = re.compile(r"\{\{\s*\.Subscriber\.(Name|FirstName|LastName|Email)\s*\}\}")
MANAGE_TAG = re.compile(r"\{\{\s*(?:ManageURL|UnsubscribeURL)\s*\}\}")
RELATIVE_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])/(?!/)""", re.IGNORECASE)


class MarketingListmonkCampaign(models.Model):
    _inherit = "marketing.listmonk.campaign"

    def _signature(self, purpose, *ids):
        """What binds a tracked URL to this newsletter (and link): see the module doc."""
        secret = self.env["marketing.trigger.engagement"]._secret()
        return sign(secret, purpose, self.trigger_id.id, *ids)

    def _absolute_links(self, body, base_url, preview_as=None):
        """``body`` with every relative link made absolute on ``base_url`` (a newsletter
        is read far from Odoo), and links to existing landing pages
        (``/mt/landing/<slug>``) on ``base_url`` too; with ``preview_as``, they open the
        page's preview as that contact (for a marketing user's test email)."""
        slugs = {match.group(2) for match in LANDING_PLACEHOLDER.finditer(body)}
        Landing = self.env["marketing.trigger.landing"].sudo()
        known = set(Landing.search([("slug", "in", list(slugs))]).mapped("slug")) if slugs else ()
        query = f"?partner_id={preview_as.id}" if preview_as else ""

        def absolute(match):
            quote, slug = match.group(1), match.group(2)
            if slug not in known:
                return match.group(0)
            return f"href={quote}{base_url}/mt/landing/{slug}{query}{quote}"

        body = LANDING_PLACEHOLDER.sub(absolute, body)
        return RELATIVE_HREF.sub(lambda m: f"{m.group(1)}{m.group(2)}{base_url}/", body)

    def _test_body(self, partner, base_url):
        """The body as ``partner`` would read it, for a test through Odoo's email: the
        Listmonk subscriber tags filled in, every link absolute and working, nothing
        tracked; the preference links open the contact in Odoo (a recipient's own
        preference page needs a real sending)."""
        self.ensure_one()
        first, _sep, last = (partner.name or "").partition(" ")
        tags = {"Name": partner.name, "FirstName": first, "LastName": last, "Email": partner.email}
        body = SUBSCRIBER_TAG.sub(
            lambda m: str(escape(tags[m.group(1)] or "")), str(self.body_html or "")
        )
        contact = f"{base_url}/odoo/res.partner/{partner.id}"
        body = MANAGE_TAG.sub(contact, body)
        for placeholder in (PREFERENCES_PLACEHOLDER, ADDRESS_PLACEHOLDER):
            body = body.replace(f"{base_url}{placeholder}", contact).replace(
                f'href="{placeholder}"', f'href="{contact}"'
            )
        return self._absolute_links(body, base_url, preview_as=partner)

    def _body_urls(self):
        """The http(s) links of the body as composed (before tracking)."""
        return {href_url(match.group(3)) for match in HREF.finditer(str(self.body_html or ""))}

    def _past_retention(self):
        """Sent longer ago than engagement data is kept: its links stop recording."""
        self.ensure_one()
        days = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(RETENTION_PARAM, DEFAULT_RETENTION_DAYS)
        )
        sent = self.sent_at or self.trigger_id.create_date
        return bool(sent) and sent < fields.Datetime.now() - timedelta(days=max(days, 1))


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    @api.model
    def _newsletter_target(self, trigger_id, ref):
        """(newsletter, partner) for a tracked newsletter URL whose link signature was
        checked: the ref's signature is valid, the newsletter was handed to Listmonk and
        the partner is synced to its Listmonk. Empty recordsets otherwise."""
        nothing = (self.env["marketing.listmonk.campaign"], self.env["res.partner"])
        partner_id, _sep, token = (ref or "").partition(".")
        if not (partner_id.isascii() and partner_id.isdigit() and len(partner_id) < 10):
            return nothing
        secret = self.env["marketing.trigger.engagement"]._secret()
        if not verify(secret, token, "listmonk", int(partner_id)):
            return nothing
        trigger = self.env["marketing.trigger"].sudo().browse(trigger_id).exists()
        campaign = trigger.newsletter_id[:1] if trigger.kind == "newsletter" else None
        if not campaign or campaign.state not in ("scheduled", "sent"):
            return nothing  # not handed to Listmonk: nobody can have its links
        synced = (
            self.env["marketing.listmonk.subscriber"]
            .sudo()
            .search_count(
                [("server_id", "=", campaign.server_id.id), ("partner_id", "=", int(partner_id))],
                limit=1,
            )
        )
        if not synced:
            return nothing
        return campaign, self.env["res.partner"].sudo().browse(int(partner_id))

    @api.model
    def _newsletter_delivery(self, campaign, partner, create=True):
        """The delivery of ``campaign`` to ``partner``; created (with ``create``) if the
        partner was not on our recipient list (added to it in Listmonk directly)."""
        trigger = campaign.trigger_id
        key = campaign._occurrence_key()
        Delivery = self.sudo()
        delivery = Delivery.search(
            [
                ("trigger_id", "=", trigger.id),
                ("partner_id", "=", partner.id),
                ("occurrence_key", "=", key),
            ],
            limit=1,
        )
        if not delivery and create:
            sent = trigger.create_date  # queued then: a click is never "too fast" for it
            decision = (
                self.env["marketing.trigger.decision"]
                .sudo()
                .create(
                    {
                        "trigger_id": trigger.id,
                        "partner_id": partner.id,
                        "occurrence_key": key,
                        "outcome": "send",
                        "reason_code": "send",
                        "channel": "newsletter",
                        "explanation": _("Received the newsletter through Listmonk directly."),
                    }
                )
            )
            delivery = Delivery.create(
                {
                    "decision_id": decision.id,
                    "trigger_id": trigger.id,
                    "partner_id": partner.id,
                    "occurrence_key": key,
                    "channel": "newsletter",
                    "state": "sent",
                    "scheduled_at": sent,
                    "sent_at": sent,
                }
            )
        return delivery


class MarketingTriggerEngagement(models.Model):
    _inherit = "marketing.trigger.engagement"

    @api.model
    def _record_newsletter(
        self, kind, trigger_id, signature, ref, link_id=None, user_agent=None, method="GET"
    ):
        """A click or open on a Listmonk newsletter: checked by its signature and ref
        (see the module doc), then recorded on the recipient's delivery like any tracked
        email (same machine filter, same triggers). Returns the link's URL for a click,
        True for an open, None if invalid; nothing is written for an invalid one, nor
        after the retention period (a valid click still gets its URL)."""
        secret = self._secret()
        ids = (link_id,) if kind == "click" else ()
        if not verify(secret, signature, CLICK if kind == "click" else OPEN, trigger_id, *ids):
            return None
        url = True
        if kind == "click":
            url = self.env["marketing.trigger.link"].sudo().browse(link_id).exists().url
            if not url:
                return None
        Delivery = self.env["marketing.trigger.delivery"]
        campaign, partner = Delivery._newsletter_target(trigger_id, ref)
        if not campaign:
            return None
        past = campaign._past_retention()
        landing = kind == "click" and self.env["marketing.trigger.landing"]._from_url(
            url, campaign.get_base_url()
        )
        if landing:
            # The recipient's own page records the visit, once (see the module doc).
            delivery = Delivery._newsletter_delivery(campaign, partner, create=not past)
            return delivery._landing_url(landing) if delivery else url
        if past:
            return url
        delivery = Delivery._newsletter_delivery(campaign, partner)
        return self._record(
            kind,
            delivery.id,
            delivery._token(kind, *ids),
            link_id=link_id,
            user_agent=user_agent,
            method=method,
        )

    @api.model
    def _redirect_unsigned_newsletter(self, kind, trigger_id, ref, link_id=None, **_client):
        """A link of a newsletter pushed before links were signed: the URL of a link of
        that newsletter for a valid ref, recording nothing; None otherwise."""
        campaign, _partner = self.env["marketing.trigger.delivery"]._newsletter_target(
            trigger_id, ref
        )
        link = self.env["marketing.trigger.link"].sudo().browse(link_id or 0).exists()
        if kind != "click" or not (campaign and link) or link.url not in campaign._body_urls():
            return None
        return link.url
