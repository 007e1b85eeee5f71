"""Where journeys meet the rest of the product: the hidden triggers of entries and
steps, enrolment when an entry trigger fires, and waking participants the moment
something they wait for happens (an open, a click, a bounce, an activity closed, an
order confirmed)."""

import logging

from odoo import _, api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    journey_role = fields.Selection(
        [("entry", "Journey entry"), ("step", "Journey step")],
        readonly=True,
        index=True,
        copy=False,
        help="Set on the triggers a journey keeps for its entry and steps; they are "
        "managed from the journey, not from the Triggers menu.",
    )

    @api.model
    def _kinds(self):
        return super()._kinds() + [("journey_step", _("Journey step"))]


class MarketingTriggerDecision(models.Model):
    _inherit = "marketing.trigger.decision"

    def _apply_record_actions(self):
        result = super()._apply_record_actions()
        self._wake_journey_goals()
        entries = self.filtered(
            lambda d: d.trigger_id.journey_role == "entry"
            and d.outcome != "error"
            and d.reason_code != "duplicate"
        )
        if entries:
            journeys = (
                self.env["marketing.journey"]
                .sudo()
                .search([("entry_trigger_id", "in", entries.trigger_id.ids)])
            )
            for journey in journeys:
                mine = entries.filtered(lambda d, j=journey: d.trigger_id == j.entry_trigger_id)
                try:
                    with self.env.cr.savepoint():
                        journey._enter([(d.partner_id, d.occurrence_key) for d in mine])
                except Exception:  # a journey never blocks what made the contact enter
                    _logger.exception("Contacts could not enter journey %s", journey.id)
        return result

    def _wake_journey_goals(self):
        """A trigger that is a journey's goal fired: its participants look now."""
        fired = self.filtered(lambda d: d.outcome != "error" and d.reason_code != "duplicate")
        if not fired:
            return
        journeys = (
            self.env["marketing.journey"]
            .sudo()
            .search([("goal", "=", "trigger"), ("goal_trigger_id", "in", fired.trigger_id.ids)])
        )
        if journeys:
            self.env["marketing.journey.participant"].sudo().search(
                [
                    ("journey_id", "in", journeys.ids),
                    ("partner_id", "in", fired.partner_id.ids),
                    ("state", "=", "running"),
                ]
            )._wake()


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    activity_id = fields.Many2one(index="btree_not_null")
    activity_outcome = fields.Selection(
        [("done", "Done"), ("cancelled", "Cancelled")],
        string="Activity outcome",
        readonly=True,
        help="What the salesperson did with the activity this delivery created.",
    )
    activity_closed_at = fields.Datetime(readonly=True)

    def _journey_participants(self):
        """The running participants whose step messages these deliveries are."""
        if not self.ids:
            return self.env["marketing.journey.participant"]
        self.env.cr.execute(
            SQL(
                """SELECT DISTINCT r.participant_id FROM marketing_journey_run r
                JOIN marketing_trigger_delivery v ON v.decision_id = r.decision_id
                WHERE v.id = ANY(%s)""",
                self.ids,
            )
        )
        return (
            self.env["marketing.journey.participant"]
            .sudo()
            .browse(row[0] for row in self.env.cr.fetchall())
        )

    def _wake_journeys(self):
        steps = self.filtered(lambda d: d.trigger_id.journey_role == "step")
        if steps:
            steps.flush_recordset()
            steps._journey_participants()._wake()

    def _record_engagement(self, kind, when=None):
        # Wake the participants on a first open or click; on a repeat click only when a
        # step waits for a click on one given link (another link may be that one).
        column = "clicked_at" if kind == "clicked" else "opened_at"
        first = self.filtered(lambda d: not d[column])
        result = super()._record_engagement(kind, when)
        repeat = self - first
        if kind == "clicked" and repeat:
            steps = (
                self.env["marketing.journey.step"]
                .sudo()
                .search(
                    [
                        ("parent_id.trigger_id", "in", repeat.trigger_id.ids),
                        ("link_id", "!=", False),
                    ]
                )
            )
            first |= repeat.filtered(lambda d: d.trigger_id in steps.parent_id.trigger_id)
        first._wake_journeys()
        return result

    def _mark_queued(self, fname, messages):
        result = super()._mark_queued(fname, messages)
        self._wake_journeys()
        return result

    def write(self, vals):
        result = super().write(vals)
        if vals.get("state") in ("bounced", "sent", "failed", "cancelled"):
            self._wake_journeys()
        return result

    def _close_activities(self, outcome):
        open_ = self.filtered(lambda d: not d.activity_outcome)
        if open_:
            open_.write({"activity_outcome": outcome, "activity_closed_at": fields.Datetime.now()})
            open_._wake_journeys()


class MailActivity(models.Model):
    _inherit = "mail.activity"

    def _marketing_deliveries(self):
        return (
            self.env["marketing.trigger.delivery"].sudo().search([("activity_id", "in", self.ids)])
        )

    def _action_done(self, feedback=False, attachment_ids=None):
        deliveries = self._marketing_deliveries()
        if deliveries:
            deliveries._close_activities("done")
        return super()._action_done(feedback=feedback, attachment_ids=attachment_ids)

    def unlink(self):
        deliveries = self._marketing_deliveries()
        if deliveries:
            # Done activities were marked in _action_done before Odoo removes them.
            deliveries._close_activities("cancelled")
        return super().unlink()


class ResPartner(models.Model):
    _inherit = "res.partner"

    marketing_journey_participant_ids = fields.One2many(
        "marketing.journey.participant",
        "partner_id",
        string="Journeys",
        domain=[("is_test", "=", False)],
        groups="marketing_trigger.group_marketing_trigger_user",
    )


class SaleOrder(models.Model):
    _inherit = "sale.order"

    def _action_confirm(self):
        result = super()._action_confirm()
        try:
            with self.env.cr.savepoint():
                customers = self.partner_id | self.partner_id.commercial_partner_id
                self.env["marketing.journey.participant"].sudo()._wake_partners(customers)
        except Exception:  # confirming an order never fails for a journey
            _logger.exception("Journeys could not be woken for orders %s", self.ids)
        return result
