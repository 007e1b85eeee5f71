"""Add the contacts chosen in a contact list to a running journey."""

from odoo import fields, models


class MarketingJourneyEnrol(models.TransientModel):
    _name = "marketing.journey.enrol"
    _description = "Add contacts to a journey"

    journey_id = fields.Many2one(
        "marketing.journey",
        required=True,
        domain="[('state', '=', 'running')]",
        help="Only running journeys take new contacts.",
    )
    partner_count = fields.Integer(
        default=lambda self: len(self.env.context.get("active_ids") or []), readonly=True
    )

    def action_enrol(self):
        self.ensure_one()
        return self.journey_id.action_add_contacts()
