from odoo import fields, models


class MarketingTriggerVariant(models.Model):
    """Segment-specific content of one trigger, without cloning it: the first variant
    (by sequence) whose segment matches the partner gives the email template, SMS text or
    activity summary; a partner no variant matches gets the trigger's own content.
    E.g. a birthday trigger with a "Churn risk" variant carrying a win-back offer."""

    _name = "marketing.trigger.variant"
    _inherit = ["marketing.trigger.content"]
    _description = "Marketing Trigger Variant"
    _order = "sequence, id"

    trigger_id = fields.Many2one("marketing.trigger", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="trigger_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    partner_domain = fields.Char(string="Segment", required=True)
