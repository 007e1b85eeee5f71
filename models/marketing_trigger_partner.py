"""Contact trigger kinds: double opt-in confirmed and "enters the segment" (record
events), inbound webhook calls, and the time-based customer anniversary and
inactivity (reactivation). Time-based occurrences come from set-based SQL."""

from datetime import timedelta

from odoo import _, api, fields, models
from odoo.tools import SQL

from .marketing_trigger_time import yearly_occurrences

SEGMENT_BATCH = 5000


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    anniversary_basis = fields.Selection(
        [("registration", "Registration date"), ("first_order", "First confirmed order")],
        default="registration",
        help="The date whose yearly return is celebrated.",
    )
    inactivity_days = fields.Integer(
        "Inactive for (days)",
        default=180,
        help="No confirmed order and no engagement (click, open, reply) for this long.",
    )
    inbound_url = fields.Char(compute="_compute_inbound_url", string="Inbound URL")

    _sql_constraints = [
        (
            "inactivity_days_check",
            "CHECK(inactivity_days IS NULL OR inactivity_days > 0)",
            "The inactivity period must be at least one day.",
        ),
    ]

    @api.model
    def _kinds(self):
        return super()._kinds() + [
            ("double_optin", _("Double opt-in confirmed")),
            ("segment_entered", _("Contact enters the segment")),
            ("anniversary", _("Customer anniversary")),
            ("inactivity", _("Inactive customer (reactivation)")),
            ("inbound", _("Inbound event (webhook)")),
        ]

    @api.model
    def _time_kinds(self):
        return super()._time_kinds() + ["anniversary", "inactivity", "segment_entered"]

    def _compute_inbound_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for trigger in self:
            trigger.inbound_url = (
                f"{base}/marketing_trigger/inbound/{trigger.id}"
                if trigger.kind == "inbound" and trigger.id
                else False
            )

    # ------------------------------------------------------------ events

    def _event_occurrences_double_optin(self, partners):
        # One confirmation message per partner and trigger.
        return [(partner, "double_optin") for partner in partners]

    def _event_occurrences_segment_entered(self, partners):
        # The partner filter decides who is in the segment; one entry per partner.
        return [(partner, "segment") for partner in partners]

    def _event_occurrences_inbound(self, events):
        return [(event.partner_id, f"inbound:{event.external_ref or event.id}") for event in events]

    # ---------------------------------------------------------- time-based

    def _occurrences_segment_entered(self, start, end):
        """Contacts in the segment that the trigger has not decided yet (those who were
        in it before the trigger was activated), a batch at a time."""
        self.ensure_one()
        Partner = self.env["res.partner"].sudo()
        query = Partner._search(self._partner_domain() + [("active", "=", True)])
        self.env["marketing.trigger.decision"].flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT p.id FROM (%s) p
                WHERE NOT EXISTS (
                    SELECT 1 FROM marketing_trigger_decision d
                    WHERE d.trigger_id = %s AND d.partner_id = p.id
                      AND d.occurrence_key = 'segment'
                      AND d.outcome != 'error' AND d.reason_code != 'duplicate')
                ORDER BY p.id LIMIT %s""",
                query.select("res_partner.id"),
                self.id,
                SEGMENT_BATCH,
            )
        )
        return [(pid, "segment", None, None) for (pid,) in self.env.cr.fetchall()]

    def _occurrences_anniversary(self, start, end):
        """Yearly return of the registration or first-order date, on the contact's local
        day; one occurrence per year from the first anniversary on."""
        self.ensure_one()
        column = (
            SQL("marketing_first_order_date")
            if self.anniversary_basis == "first_order"
            else SQL("create_date::date")
        )
        self.env["res.partner"].flush_model(["marketing_first_order_date", "tz", "active"])
        return yearly_occurrences(self.env, column, start, end, "anniversary", min_years=1)

    def _occurrences_inactivity(self, start, end):
        """Contacts whose last activity (confirmed order, engagement, else registration)
        lies ``inactivity_days`` before [start, end). The key names that last activity,
        so a customer who comes back and lapses again is offered again."""
        self.ensure_one()
        days = timedelta(days=self.inactivity_days or 180)
        self.env["res.partner"].flush_model(["marketing_last_activity_at", "active"])
        self.env.cr.execute(
            SQL(
                """SELECT id, last FROM (
                    SELECT id, COALESCE(marketing_last_activity_at, create_date) AS last
                    FROM res_partner WHERE active) p
                WHERE last >= %s AND last < %s""",
                start - days,
                end - days,
            )
        )
        return [
            (pid, f"inactive:{last.date().isoformat()}", last + days, last + days + timedelta(7))
            for pid, last in self.env.cr.fetchall()
        ]

    def _still_due(self, partner, occurrence_key):
        if self.kind == "inactivity":
            last = partner.marketing_last_activity_at or partner.create_date
            return occurrence_key == f"inactive:{last.date().isoformat()}"
        return super()._still_due(partner, occurrence_key)


class MarketingTriggerConsent(models.Model):
    _inherit = "marketing.trigger.consent"

    @api.model_create_multi
    def create(self, vals_list):
        proofs = super().create(vals_list)
        confirmed = proofs.filtered(
            lambda p: p.source == "double_opt_in" and p.is_granted and p.channel == "email"
        )
        if confirmed:
            self.env["marketing.trigger"]._fire("double_optin", confirmed.partner_id)
        return proofs
