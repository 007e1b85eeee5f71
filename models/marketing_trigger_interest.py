from odoo import fields, models


class MarketingTriggerInterest(models.Model):
    """What a contact is interested in (rhetoric, English courses, printers): used in
    trigger filters, variant segments and personalised content."""

    _name = "marketing.trigger.interest"
    _description = "Marketing Interest"
    _order = "name"

    name = fields.Char(required=True, translate=True)
    color = fields.Integer()
    active = fields.Boolean(default=True)

    _sql_constraints = [("name_uniq", "UNIQUE(name)", "This interest already exists.")]
