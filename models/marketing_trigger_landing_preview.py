"""Preview of a landing page as a chosen contact, from the landing page's form."""

from urllib.parse import urlencode

from odoo import fields, models


class MarketingTriggerLandingPreview(models.TransientModel):
    _name = "marketing.trigger.landing.preview"
    _description = "Landing Page Preview"

    landing_id = fields.Many2one("marketing.trigger.landing", required=True, ondelete="cascade")
    partner_id = fields.Many2one(
        "res.partner",
        string="Preview as",
        required=True,
        default=lambda self: self.env.user.partner_id,
        help="The page shows the blocks for this contact's city and interests.",
    )

    def action_open(self):
        """The page as the contact sees it, in a new tab; the visit records nothing."""
        self.ensure_one()
        query = urlencode({"partner_id": self.partner_id.id})
        return {
            "type": "ir.actions.act_url",
            "url": f"/mt/landing/{self.landing_id.slug}?{query}",
            "target": "new",
        }
