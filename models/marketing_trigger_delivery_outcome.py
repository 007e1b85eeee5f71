"""What became of a delivery once it left the dispatcher.

A delivery handed to Odoo's email or SMS queue is *queued*; it is *sent* only when the
mail server (or the SMS provider) accepted it, *failed* with Odoo's reason when it did
not, and *bounced* when a bounce comes back (from Odoo's mail gateway, or from Listmonk
through ``_mark_bounced``). The hooks in ``mail_mail.py``, ``sms_sms.py`` and
``mail_thread.py`` call the methods below, one UPDATE per outcome for a batch.

A message that failed or bounced reached nobody: its ledger touch is removed, so it does
not count against the contact's caps and cooldowns.
"""

from datetime import timedelta

from odoo import _, api, fields, models
from odoo.tools import SQL

BOUNCE_LOOKBACK_DAYS = 30
EMAIL_CHANNELS = ("email", "newsletter")


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    def _mark_sent_now(self, values=None):
        """The mail server, SMS provider or gateway accepted the message just now."""
        if self:
            self.write({"state": "sent", "sent_at": fields.Datetime.now(), **(values or {})})

    def _fail_by_reason(self, reasons):
        """Fail each delivery with its reason (``{delivery id: text}``), one write per
        distinct reason (a batch usually shares one)."""
        by_reason = {}
        for delivery in self:
            by_reason.setdefault(reasons[delivery.id], []).append(delivery.id)
        for why, ids in by_reason.items():
            self.browse(ids)._cancel(why, state="failed")

    @api.model
    def _on_mail_outcome(self, mails, failure_reason=False, failure_type=None):
        """Called by Odoo right after it tried to send ``mails`` (before it deletes the
        auto-deleted ones): follow each mail's state on its queued delivery."""
        deliveries = self.sudo().search([("mail_id", "in", mails.ids), ("state", "=", "queued")])
        if not deliveries:
            return
        sent = deliveries.filtered(lambda d: d.mail_id.state == "sent")
        for delivery in sent:
            # The Message-Id is what a bounce names; Odoo may delete the mail next.
            delivery.message_id = delivery.mail_id.message_id
        sent._mark_sent_now()
        failed = deliveries - sent
        if failed:
            type_labels = dict(
                self.env["mail.mail"]._fields["failure_type"]._description_selection(self.env)
            )
            reasons = {}
            for d in failed:
                kind = type_labels.get(d.mail_id.failure_type or failure_type)
                reason = d.mail_id.failure_reason or failure_reason or _("no reason given")
                reasons[d.id] = (
                    _(
                        "The mail server did not send it (%(type)s): %(reason)s",
                        type=kind,
                        reason=reason,
                    )
                    if kind
                    else _("The mail server did not send it: %(reason)s", reason=reason)
                )
            failed._fail_by_reason(reasons)

    @api.model
    def _on_mails_requeued(self, mails):
        """A failed email retried in Odoo is queued again, and touches its contact again."""
        deliveries = self.sudo().search([("mail_id", "in", mails.ids), ("state", "=", "failed")])
        if deliveries:
            deliveries.write({"state": "queued", "failure_reason": False})
            deliveries._add_touches()

    @api.model
    def _on_mails_cancelled(self, mails):
        deliveries = self.sudo().search([("mail_id", "in", mails.ids), ("state", "=", "queued")])
        deliveries._cancel(_("Not sent: the email was cancelled in Odoo."))

    @api.model
    def _on_sms_state(self, sms_records, state, failure_type=False):
        """Follow Odoo's SMS states: *pending* (accepted by the provider) and *sent*
        (delivered) mean sent, *error* failed, *canceled* cancelled."""
        deliveries = self.sudo().search(
            [("sms_id", "in", sms_records.ids), ("state", "=", "queued")]
        )
        if not deliveries:
            return
        if state in ("pending", "sent"):
            deliveries._mark_sent_now()
        elif state == "error":
            labels = dict(
                self.env["sms.sms"]._fields["failure_type"]._description_selection(self.env)
            )
            why = _(
                "The SMS provider did not send it: %(reason)s",
                reason=labels.get(failure_type) or failure_type or _("unknown error"),
            )
            deliveries._cancel(why, state="failed")
        elif state == "canceled":
            deliveries._cancel(_("Not sent: the SMS was cancelled in Odoo."))

    @api.model
    def _mark_bounced_messages(self, message_ids, reason=False):
        """A bounce reported by Odoo's mail gateway names the Message-Ids it answers."""
        deliveries = self.sudo().search(
            [("message_id", "in", list(message_ids)), ("state", "=", "sent")]
        )
        deliveries._bounce(reason)
        return deliveries

    @api.model
    def _mark_bounced(self, recipients, reason=False, bounced_at=None):
        """Mark bounced the latest email (or newsletter) delivery sent to each of
        ``recipients`` (email addresses and/or partner IDs) in the
        ``BOUNCE_LOOKBACK_DAYS`` before ``bounced_at`` (default: now). For bounces that
        do not name the message, e.g. those Listmonk reports. Returns the deliveries."""
        bounced_at = bounced_at or fields.Datetime.now()
        emails = [r.strip().lower() for r in recipients if isinstance(r, str) and r.strip()]
        partner_ids = [r for r in recipients if isinstance(r, int)]
        if not emails and not partner_ids:
            return self.browse()
        self.flush_model(["state", "sent_at", "channel", "partner_id"])
        self.env["res.partner"].flush_model(["email_normalized"])
        self.env.cr.execute(
            SQL(
                """SELECT DISTINCT ON (d.partner_id) d.id
                FROM marketing_trigger_delivery d
                JOIN res_partner p ON p.id = d.partner_id
                WHERE d.state = 'sent' AND d.channel IN %s
                  AND d.sent_at BETWEEN %s AND %s
                  AND (p.email_normalized = ANY(%s) OR p.id = ANY(%s))
                ORDER BY d.partner_id, d.sent_at DESC, d.id DESC""",
                EMAIL_CHANNELS,
                bounced_at - timedelta(days=BOUNCE_LOOKBACK_DAYS),
                bounced_at,
                emails,
                partner_ids,
            )
        )
        deliveries = self.sudo().browse(row[0] for row in self.env.cr.fetchall())
        deliveries._bounce(reason)
        return deliveries

    def _bounce(self, reason=False):
        """Undeliverable after all: it reached nobody, so it no longer weighs on the
        contact's caps."""
        if self:
            self._cancel(
                _("Bounced: %(reason)s", reason=reason) if reason else _("Bounced."),
                state="bounced",
            )
