"""Sales and CRM trigger kinds: an order confirmed (booked, purchased), an opportunity won
or lost (record events, fired from the confirmation and the won/lost actions), and the
abandoned quotation (created or sent, not confirmed after a delay: a coupon reminder),
which stops by itself once the quotation is confirmed or cancelled."""

from datetime import timedelta

from odoo import _, api, fields, models
from odoo.tools import SQL

OPEN_QUOTATION_STATES = ("draft", "sent")


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    delay_hours = fields.Integer(
        "After (hours)",
        default=48,
        help="How long a quotation stays unconfirmed before the reminder.",
    )

    _sql_constraints = [
        ("delay_hours_check", "CHECK(delay_hours >= 0)", "The delay cannot be negative."),
    ]

    @api.model
    def _kinds(self):
        return super()._kinds() + [
            ("quotation_abandoned", _("Quotation not confirmed")),
            ("order_confirmed", _("Order confirmed (booked, purchased)")),
            ("lead_won", _("Opportunity won")),
            ("lead_lost", _("Opportunity lost")),
        ]

    def _event_occurrences_order_confirmed(self, orders):
        return [(order.partner_id, f"order:{order.id}") for order in orders]

    def _event_occurrences_lead_won(self, leads):
        return [(lead.partner_id, f"lead_won:{lead.id}") for lead in leads]

    def _event_occurrences_lead_lost(self, leads):
        return [(lead.partner_id, f"lead_lost:{lead.id}") for lead in leads]

    @api.model
    def _time_kinds(self):
        return super()._time_kinds() + ["quotation_abandoned"]

    def _occurrences_quotation_abandoned(self, start, end):
        """Open quotations whose delay ends in [start, end); key quotation:<order id>."""
        self.ensure_one()
        delay = timedelta(hours=self.delay_hours)
        self.env["sale.order"].flush_model(["state", "partner_id", "create_date", "company_id"])
        self.env.cr.execute(
            SQL(
                """SELECT id, partner_id, create_date FROM sale_order
                WHERE state IN %s AND company_id = %s
                  AND create_date >= %s AND create_date < %s""",
                OPEN_QUOTATION_STATES,
                self.company_id.id,
                start - delay,
                end - delay,
            )
        )
        return [
            (
                partner_id,
                f"quotation:{order_id}",
                created + delay,
                created + delay + timedelta(days=7),
            )
            for order_id, partner_id, created in self.env.cr.fetchall()
        ]

    def _next_due_quotation_abandoned(self, after):
        """When the next open quotation's delay ends after ``after`` (one MIN)."""
        self.ensure_one()
        delay = timedelta(hours=self.delay_hours)
        self.env["sale.order"].flush_model(["state", "create_date", "company_id"])
        self.env.cr.execute(
            SQL(
                """SELECT MIN(create_date) FROM sale_order
                WHERE state IN %s AND company_id = %s AND create_date > %s""",
                OPEN_QUOTATION_STATES,
                self.company_id.id,
                after - delay,
            )
        )
        created = self.env.cr.fetchone()[0]
        return created + delay if created else None

    def _still_due(self, partner, occurrence_key):
        """Whether an occurrence still stands right before sending."""
        if self.kind == "quotation_abandoned":
            order = self.env["sale.order"].sudo().browse(int(occurrence_key.split(":")[1]))
            return order.exists() and order.state in OPEN_QUOTATION_STATES
        return super()._still_due(partner, occurrence_key)
