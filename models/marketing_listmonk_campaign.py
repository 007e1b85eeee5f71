"""Newsletters composed in Odoo and sent by Listmonk, tracked by Odoo per recipient.

Listmonk records who clicked only with individual tracking on, and tells nobody. So the
body pushed to Listmonk has every link rewritten to this addon's click route, and an
open pixel added, built in the Listmonk template from the subscriber's ``odoo_ref``
attribute (the partner ID and its signature, written by the sync) and signed per
newsletter (see ``marketing_listmonk_tracking.py``)::

    https://odoo.example/mt/n/<newsletter trigger>/<link>/<link signature>/<REF>
    https://odoo.example/mt/no/<newsletter trigger>/<open signature>/<REF>.gif

(``<REF>``: ``{{ .Subscriber.Attribs.odoo_ref }}``, a string: Go prints a large JSON
number as ``1e+06``.)

A click or open is attributed to the partner at once and fires the engagement triggers
("Link clicked", "Email opened", "… not opened within …") whose source is the
newsletter. Each newsletter carries a trigger of kind "Newsletter" for that purpose;
when Listmonk accepts the campaign, every recipient gets a decision, a delivery and a
touch in their contact ledger, so caps and cooldowns count the newsletter.

Listmonk drops list IDs it does not know (a list deleted there) when it creates a
campaign, even all of them, and starts it all the same. So the lists are checked before
the campaign is created and once it is: a newsletter with a list missing is refused
(nothing is started), the list is made again in Listmonk and the next sync, a full one,
puts its members back on it.
"""

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from ..listmonk import CampaignDraft, ListmonkValidationError
from .marketing_trigger_landing import LANDING_PATH
from .marketing_trigger_tracking import (
    ADDRESS_PLACEHOLDER,
    HREF,
    PREFERENCES_PLACEHOLDER,
    href_url,
)

REF = "{{ .Subscriber.Attribs.odoo_ref }}"
CLICK = "newsletter-click"  # what a tracked URL's signature is for
OPEN = "newsletter-open"


class MarketingListmonkCampaign(models.Model):
    _name = "marketing.listmonk.campaign"
    _description = "Listmonk Newsletter"
    _order = "id desc"

    name = fields.Char(required=True)
    active = fields.Boolean(
        default=True, help="A sent newsletter cannot be deleted (its links must keep working)."
    )
    subject = fields.Char(required=True)
    body_html = fields.Html("Body", sanitize_attributes=False)
    server_id = fields.Many2one(
        "marketing.listmonk.server",
        help="Needed to send to lists only: a newsletter is composed and test-sent without.",
        default=lambda self: self.env["marketing.listmonk.server"].search(
            [("company_id", "=", self.env.company.id)], limit=1
        ),
    )
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        readonly=False,
        precompute=True,
        index=True,
    )
    list_ids = fields.Many2many(
        "marketing.listmonk.list", string="Lists", domain="[('server_id', '=', server_id)]"
    )
    topic_id = fields.Many2one(
        "marketing.trigger.topic", help="Counted under this topic in the contact ledger."
    )
    send_at = fields.Datetime("Send at", help="Empty: as soon as Listmonk has it.")
    from_email = fields.Char(help="Empty: Listmonk's default sender.")
    listmonk_template_id = fields.Integer(
        "Listmonk template ID", help="A campaign template in Listmonk; empty: its default."
    )
    state = fields.Selection(
        [
            ("draft", "Draft"),
            ("queued", "Waiting for Listmonk"),
            ("scheduled", "Scheduled"),
            ("sent", "Sent"),
            ("failed", "Failed"),
        ],
        default="draft",
        required=True,
        readonly=True,
        copy=False,
    )
    listmonk_campaign_id = fields.Integer("Listmonk campaign ID", readonly=True, copy=False)
    trigger_id = fields.Many2one(
        "marketing.trigger",
        string="Engagement source",
        readonly=True,
        copy=False,
        help="Use it as 'After the email of' in engagement triggers (clicked, opened, not "
        "opened within a delay).",
    )
    last_error = fields.Text(readonly=True, copy=False)
    sent_at = fields.Datetime(
        readonly=True, copy=False, help="When Listmonk started (or is to start) sending it."
    )
    recipient_count = fields.Integer(compute="_compute_counts")
    opened_count = fields.Integer("Opened", compute="_compute_counts")
    clicked_count = fields.Integer("Clicked", compute="_compute_counts")

    @api.depends("server_id")
    def _compute_company_id(self):
        for campaign in self:
            campaign.company_id = (
                campaign.server_id.company_id or campaign.company_id or self.env.company
            )

    def _compute_counts(self):
        Delivery = self.env["marketing.trigger.delivery"].sudo()
        for campaign in self:
            domain = [("trigger_id", "=", campaign.trigger_id.id or 0)]
            campaign.recipient_count = Delivery.search_count(domain)
            campaign.opened_count = Delivery.search_count(domain + [("opened_at", "!=", False)])
            campaign.clicked_count = Delivery.search_count(domain + [("clicked_at", "!=", False)])

    # -------------------------------------------------------------- actions

    def action_send(self):
        """Validate, then hand the newsletter to the outbox: the user is never kept
        waiting for Listmonk."""
        if not self.env.user.has_group("marketing_trigger.group_marketing_trigger_manager"):
            raise AccessError(
                _("Only a Marketing Trigger manager sends newsletters; users draft them.")
            )
        for campaign in self:
            if campaign.state not in ("draft", "failed"):
                raise UserError(_("Newsletter '%(name)s' was already sent.", name=campaign.name))
            if not campaign.server_id:
                raise UserError(
                    _(
                        "Choose the Listmonk server that sends '%(name)s' to its lists "
                        "(Marketing ▸ Configuration ▸ Listmonk).",
                        name=campaign.name,
                    )
                )
            if not campaign.list_ids:
                raise UserError(_("Choose at least one list for '%(name)s'.", name=campaign.name))
            if not (campaign.body_html or "").strip():
                raise UserError(_("Newsletter '%(name)s' has no body.", name=campaign.name))
            if campaign.list_ids.server_id != campaign.server_id:
                raise UserError(_("The lists must belong to the newsletter's Listmonk server."))
            if not campaign.trigger_id:
                campaign.trigger_id = campaign._carrier_trigger()
            campaign.write({"state": "queued", "last_error": False})
            self.env["marketing.listmonk.outbox"]._enqueue(
                campaign.server_id, "campaign", campaign_id=campaign.id
            )
        return True

    def action_send_test(self):
        """Send the newsletter to oneself through Odoo's email (no Listmonk needed), as
        the user's own contact would read it; see ``_test_body``."""
        self.ensure_one()
        user = self.env.user
        if not user.email:
            raise UserError(_("Your user has no email address to send the test to."))
        if not (self.body_html or "").strip():
            raise UserError(_("Newsletter '%(name)s' has no body.", name=self.name))
        company = self.company_id or self.env.company
        mail = (
            self.env["mail.mail"]
            .sudo()
            .create(
                {
                    "subject": _("[Test] %(subject)s", subject=self.subject),
                    "body_html": self._test_body(user.partner_id, self.get_base_url()),
                    "email_from": (
                        self.from_email or company.email_formatted or user.email_formatted
                    ),
                    "email_to": user.email_formatted,
                    "recipient_ids": [],
                    "auto_delete": False,
                }
            )
        )
        mail.send(raise_exception=False)
        failed = mail.state == "exception"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "danger" if failed else "success",
                "title": _("Test newsletter"),
                "message": _(
                    "The test could not be sent to %(email)s: %(reason)s",
                    email=user.email,
                    reason=mail.failure_reason or "",
                )
                if failed
                else _("Sent to %(email)s.", email=user.email),
                "sticky": failed,
            },
        }

    @api.ondelete(at_uninstall=False)
    def _unlink_only_drafts(self):
        # Recipients' tracked links and the engagement history hang on a newsletter that
        # was handed to Listmonk: deleting it would turn every click into a 404.
        sent = self.filtered(lambda c: c.state != "draft" or c.listmonk_campaign_id or c.trigger_id)
        if sent:
            raise UserError(
                _(
                    "Newsletter '%(name)s' was handed to Listmonk and cannot be deleted: "
                    "its recipients' links must keep working. Archive it instead.",
                    name=sent[0].name,
                )
            )

    def _carrier_trigger(self):
        return (
            self.env["marketing.trigger"]
            .sudo()
            .create(
                {
                    "name": _("Newsletter: %(name)s", name=self.name),
                    "kind": "newsletter",
                    "channel": "newsletter",
                    "company_id": self.company_id.id,
                    "topic_id": self.topic_id.id,
                    "message_class": "drop",
                }
            )
        )

    # ------------------------------------------------------- push (outbox)

    def _occurrence_key(self):
        return f"newsletter:{self.id}"

    def _listmonk_body(self, base_url):
        """The body with tracked links, the open pixel and Listmonk's own preference
        and unsubscribe links, in Listmonk's template language."""
        self.ensure_one()
        body = str(self.body_html or "")
        for placeholder in (PREFERENCES_PLACEHOLDER, ADDRESS_PLACEHOLDER):
            body = body.replace(f"{base_url}{placeholder}", "{{ ManageURL }}").replace(
                f'href="{placeholder}"', 'href="{{ ManageURL }}"'
            )
        # Relative links and landing pages are tracked too (a landing page's click leads
        # to the recipient's own page).
        body = self._absolute_links(body, base_url)
        own = f"{base_url}/mt/"
        urls = [href_url(m.group(3)) for m in HREF.finditer(body)]
        urls = [
            u for u in urls if not u.startswith(own) or LANDING_PATH.fullmatch(u[len(base_url) :])
        ]
        links = self.env["marketing.trigger.link"].sudo()._get_or_create(urls, self.company_id)
        trigger_id = self.trigger_id.id

        def rewrite(match):
            link_id = links.get(href_url(match.group(3)))
            if not link_id:
                return match.group(0)
            quote = match.group(2)
            signature = self._signature(CLICK, link_id)
            tracked = f"{base_url}/mt/n/{trigger_id}/{link_id}/{signature}/{REF}"
            return f"{match.group(1)}{quote}{tracked}{quote}"

        body = HREF.sub(rewrite, body)
        pixel = (
            f'<img src="{base_url}/mt/no/{trigger_id}/{self._signature(OPEN)}/{REF}.gif" '
            'width="1" height="1" alt="" style="display:none"/>'
        )
        return body + pixel

    def _listmonk_push(self, client):
        """Create (or find, after a lost answer) the campaign in Listmonk, start or
        schedule it, then count it for every recipient. Each step can be repeated."""
        self.ensure_one()
        if self.state not in ("queued",):
            return
        server = self.server_id
        self._check_lists(server._resync_lists(client))
        tag = f"odoo-newsletter-{self.id}"
        draft = CampaignDraft(
            name=f"{self.name} [Odoo #{self.id}]",
            subject=self.subject,
            lists=tuple(self.list_ids.mapped("listmonk_id")),
            body=self._listmonk_body(self.get_base_url()),
            content_type="html",
            from_email=self.from_email or "",
            template_id=self.listmonk_template_id or None,
            tags=(tag,),
            send_at=self.send_at if self.send_at and self.send_at > fields.Datetime.now() else None,
        )
        if not self.listmonk_campaign_id:
            existing = next(iter(client.iter_campaigns(tags=(tag,))), None)
            remote = existing or client.create_campaign(draft)
            self.listmonk_campaign_id = remote.id
        remote = client.get_campaign(self.listmonk_campaign_id, with_body=False)
        missing = set(draft.lists) - set(remote.list_ids)
        if missing and remote.status == "draft":
            # Deleted in Listmonk since the check (or before an earlier attempt made it).
            client.delete_campaign(remote.id)
            self.listmonk_campaign_id = 0
            gone = self.list_ids.filtered(lambda m: m.listmonk_id in missing)
            server._resync_lists(client)
            self._check_lists(gone)
        when = draft.send_at or fields.Datetime.now()
        if draft.send_at:
            client.schedule_campaign(self.listmonk_campaign_id, draft.send_at)
            self.state = "scheduled"
        else:
            client.start_campaign(self.listmonk_campaign_id)
            self.state = "sent"
        self.sent_at = when
        self._record_recipients(when)

    def _check_lists(self, gone):
        """Refuse to send when Listmonk lost one of the newsletter's lists (``gone``):
        the campaign would reach none of its members while Odoo counted them all."""
        gone &= self.list_ids
        if gone:
            raise ListmonkValidationError(
                _(
                    "Listmonk no longer has the list %(lists)s (deleted there?), so the "
                    "newsletter was not started. The list is made again in Listmonk and "
                    "the next sync puts its contacts back on it: send the newsletter "
                    "again once that sync is done (the server's Sync status tab).",
                    lists=", ".join(gone.mapped("name")),
                )
            )

    def _record_recipients(self, when):
        """A decision, a delivery and a ledger touch for each partner on the lists, in
        three set-based INSERTs (a newsletter goes to tens of thousands)."""
        self.ensure_one()
        patterns = [f"%,{lid},%" for lid in self.list_ids.mapped("listmonk_id")]
        trigger = self.trigger_id
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
            WITH recipients AS (
                SELECT s.partner_id FROM marketing_listmonk_subscriber s
                WHERE s.server_id = %(server)s AND s.state = 'synced'
                  AND s.list_ids LIKE ANY(%(patterns)s)
                  AND NOT EXISTS (SELECT 1 FROM marketing_trigger_delivery d
                                  WHERE d.trigger_id = %(trigger)s
                                    AND d.partner_id = s.partner_id AND d.occurrence_key = %(key)s)
            ), decisions AS (
                INSERT INTO marketing_trigger_decision
                    (trigger_id, partner_id, company_id, occurrence_key, outcome, reason_code,
                     explanation, channel, decided_at, send_at,
                     create_uid, create_date, write_uid, write_date)
                SELECT %(trigger)s, partner_id, %(company)s, %(key)s, 'send', 'send',
                       %(why)s, 'newsletter', %(now)s, %(when)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                FROM recipients
                RETURNING id, partner_id
            ), deliveries AS (
                INSERT INTO marketing_trigger_delivery
                    (decision_id, trigger_id, partner_id, company_id, occurrence_key, channel,
                     state, scheduled_at, sent_at, create_uid, create_date, write_uid, write_date)
                SELECT id, %(trigger)s, partner_id, %(company)s, %(key)s, 'newsletter',
                       'sent', %(when)s, %(when)s, %(uid)s, %(now)s, %(uid)s, %(now)s
                FROM decisions
                ON CONFLICT DO NOTHING
                RETURNING id, partner_id
            )
            INSERT INTO marketing_trigger_touch
                (partner_id, channel, date, source, trigger_id, topic_id, delivery_id,
                 is_counted, note, user_id, create_uid, create_date, write_uid, write_date)
            SELECT partner_id, 'newsletter', %(when)s, 'newsletter', %(trigger)s, %(topic)s, id,
                   TRUE, %(note)s, %(uid)s, %(uid)s, %(now)s, %(uid)s, %(now)s
            FROM deliveries""",
                server=self.server_id.id,
                patterns=patterns,
                trigger=trigger.id,
                key=self._occurrence_key(),
                company=self.company_id.id,
                why=_("Newsletter %(name)s, sent by Listmonk to its lists.", name=self.name),
                now=fields.Datetime.now(),
                when=when,
                uid=self.env.uid,
                topic=self.topic_id.id or None,
                note=self.name,
            )
        )
        for model in ("marketing.trigger.decision", "marketing.trigger.delivery"):
            self.env[model].invalidate_model()
        self.env["marketing.trigger.touch"].invalidate_model()
        self.invalidate_recordset(["recipient_count", "opened_count", "clicked_count"])


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    channel = fields.Selection(
        selection_add=[("newsletter", "Newsletter (Listmonk)")],
        ondelete={"newsletter": "set default"},
    )
    newsletter_id = fields.One2many("marketing.listmonk.campaign", "trigger_id")

    @api.model
    def _kinds(self):
        return super()._kinds() + [("newsletter", _("Newsletter sent from Odoo (Listmonk)"))]

    @api.constrains("kind", "channel", "state")
    def _check_newsletter_kind(self):
        for trigger in self:
            if (trigger.kind == "newsletter") != (trigger.channel == "newsletter"):
                raise ValidationError(
                    _(
                        "Trigger '%(name)s': the Newsletter channel belongs to the trigger a "
                        "newsletter creates; send other messages by email, SMS or a call.",
                        name=trigger.name,
                    )
                )
            if trigger.kind == "newsletter" and trigger.state == "active":
                raise ValidationError(
                    _(
                        "Trigger '%(name)s' stands for a newsletter and fires nothing: use it "
                        "as the source of an engagement trigger instead.",
                        name=trigger.name,
                    )
                )
