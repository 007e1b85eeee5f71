from odoo import fields, models


class MarketingTriggerTopic(models.Model):
    """What a message is about (offers, seminars, consumables): topic cooldowns keep a
    partner from hearing about the same thing again too soon, whichever trigger it is."""

    _name = "marketing.trigger.topic"
    _description = "Marketing Topic"
    _order = "name"

    name = fields.Char(required=True, translate=True)
    description = fields.Char(translate=True, help="Shown to customers on their preference page.")
    active = fields.Boolean(default=True)

    _sql_constraints = [("name_uniq", "UNIQUE(name)", "A topic with this name already exists.")]
