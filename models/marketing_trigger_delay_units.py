"""One way to ask for a delay: a number and a unit (hours or days). The kinds store
hours (``engagement_hours``, ``delay_hours``); the form shows whole days as days."""

from odoo import api, fields, models

UNITS = [("hours", "Hours"), ("days", "Days")]


def _split(hours):
    if hours and hours % 24 == 0:
        return hours // 24, "days"
    return hours or 0, "hours"


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    engagement_delay = fields.Integer(
        "Opened or clicked within",
        compute="_compute_delays",
        inverse="_inverse_engagement_delay",
        help="How long the contact has to open or click.",
    )
    engagement_unit = fields.Selection(
        UNITS,
        compute="_compute_delays",
        inverse="_inverse_engagement_delay",
        string="Unit of the engagement delay",
    )
    quotation_delay = fields.Integer(
        "Reminder after",
        compute="_compute_delays",
        inverse="_inverse_quotation_delay",
        help="How long after its creation a quotation counts as not confirmed.",
    )
    quotation_unit = fields.Selection(
        UNITS,
        compute="_compute_delays",
        inverse="_inverse_quotation_delay",
        string="Unit of the reminder delay",
    )

    @api.depends("engagement_hours", "delay_hours")
    def _compute_delays(self):
        for trigger in self:
            trigger.engagement_delay, trigger.engagement_unit = _split(trigger.engagement_hours)
            trigger.quotation_delay, trigger.quotation_unit = _split(trigger.delay_hours)

    def _inverse_engagement_delay(self):
        for trigger in self:
            factor = 24 if trigger.engagement_unit == "days" else 1
            trigger.engagement_hours = (trigger.engagement_delay or 0) * factor

    def _inverse_quotation_delay(self):
        for trigger in self:
            factor = 24 if trigger.quotation_unit == "days" else 1
            trigger.delay_hours = (trigger.quotation_delay or 0) * factor
