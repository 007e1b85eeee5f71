"""Engagement trigger kinds on a trigger's own emails: opened, clicked (record events,
fired when a human open or click is recorded on a delivery) and their absence within a
delay (time-based). Opens and clicks are recorded by the tracking endpoints, which set
``opened_at`` / ``clicked_at`` for human engagement only (machine opens — privacy
proxies, scanners — must not defeat "not opened within 7 days")."""

from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

ENGAGEMENT = {
    # kind: (delivery column that must stay empty, key prefix)
    "email_not_opened": ("opened_at", "not_opened"),
    "link_not_clicked": ("clicked_at", "not_clicked"),
}


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    source_trigger_id = fields.Many2one(
        "marketing.trigger",
        string="After the email of",
        ondelete="cascade",
        help="Whose emails the engagement is measured on.",
    )
    engagement_hours = fields.Integer(
        "Within (hours)", default=168, help="How long the contact has to open or click."
    )

    @api.model
    def _kinds(self):
        return super()._kinds() + [
            ("email_opened", _("Email opened")),
            ("link_clicked", _("Link clicked")),
            ("email_not_opened", _("Email not opened within a delay")),
            ("link_not_clicked", _("Link not clicked within a delay")),
        ]

    @api.model
    def _time_kinds(self):
        return super()._time_kinds() + list(ENGAGEMENT)

    @api.constrains("kind", "source_trigger_id", "engagement_hours")
    def _check_engagement(self):
        kinds = {"email_opened", "link_clicked", *ENGAGEMENT}
        for trigger in self.filtered(lambda t: t.kind in kinds):
            if not trigger.source_trigger_id:
                raise ValidationError(
                    _(
                        "Trigger '%(name)s': choose the trigger whose emails are measured.",
                        name=trigger.name,
                    )
                )
            if trigger.source_trigger_id == trigger:
                raise ValidationError(
                    _("Trigger '%(name)s' cannot measure its own emails.", name=trigger.name)
                )
            if trigger.engagement_hours <= 0:
                raise ValidationError(
                    _("Trigger '%(name)s': the delay must be positive.", name=trigger.name)
                )

    def _engaged_occurrences(self, deliveries, prefix):
        return [
            (delivery.partner_id, f"{prefix}:{delivery.id}")
            for delivery in deliveries
            if delivery.trigger_id == self.source_trigger_id
        ]

    def _event_occurrences_email_opened(self, deliveries):
        return self._engaged_occurrences(deliveries, "opened")

    def _event_occurrences_link_clicked(self, deliveries):
        return self._engaged_occurrences(deliveries, "clicked")

    def _not_engaged(self, start, end):
        self.ensure_one()
        column, prefix = ENGAGEMENT[self.kind]
        delay = timedelta(hours=self.engagement_hours)
        self.env["marketing.trigger.delivery"].flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT id, partner_id, sent_at FROM marketing_trigger_delivery
                WHERE trigger_id = %s AND channel IN ('email', 'newsletter') AND state = 'sent'
                  AND %s IS NULL AND sent_at >= %s AND sent_at < %s""",
                self.source_trigger_id.id,
                SQL.identifier(column),
                start - delay,
                end - delay,
            )
        )
        return [
            (partner_id, f"{prefix}:{delivery_id}", sent + delay, sent + delay + timedelta(days=3))
            for delivery_id, partner_id, sent in self.env.cr.fetchall()
        ]

    def _occurrences_email_not_opened(self, start, end):
        return self._not_engaged(start, end)

    def _occurrences_link_not_clicked(self, start, end):
        return self._not_engaged(start, end)

    def _still_due(self, partner, occurrence_key):
        if self.kind in ENGAGEMENT:
            column = ENGAGEMENT[self.kind][0]
            delivery = (
                self.env["marketing.trigger.delivery"]
                .sudo()
                .browse(int(occurrence_key.split(":")[1]))
            )
            return delivery.exists() and not delivery[column]
        return super()._still_due(partner, occurrence_key)


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    opened_at = fields.Datetime(readonly=True, help="First human open (not a proxy).")
    clicked_at = fields.Datetime(readonly=True, help="First human click (not a scanner).")

    def _record_engagement(self, kind, when=None):
        """Note the first human open or click and fire the engagement triggers now.
        ``kind`` is "opened" or "clicked"; a click implies the email was opened.

        Only a first open or click fires (the occurrence is the delivery's, so a repeat
        can never be decided again): a contact clicking ten times queues one event and
        wakes the event cron once, not ten times."""
        when = when or fields.Datetime.now()
        values = {"opened_at": when} if kind == "opened" else {"clicked_at": when}
        first_opened, first_clicked = self.browse(), self.browse()
        for delivery in self:
            first = {k: v for k, v in values.items() if not delivery[k]}
            if kind == "clicked" and not delivery.opened_at:
                first["opened_at"] = when
            if first:
                delivery.write(first)
            if "opened_at" in first:
                first_opened |= delivery
            if "clicked_at" in first:
                first_clicked |= delivery
        self.partner_id._marketing_record_activity(when)
        Trigger = self.env["marketing.trigger"]
        Trigger._fire("link_clicked", first_clicked)
        Trigger._fire("email_opened", first_opened)
