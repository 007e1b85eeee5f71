from odoo import models


class SmsSms(models.Model):
    """A trigger's SMS delivery follows Odoo's SMS states (see
    ``marketing.trigger.delivery._on_sms_state``)."""

    _inherit = "sms.sms"

    def write(self, vals):
        result = super().write(vals)
        if vals.get("state") in ("pending", "sent", "error", "canceled"):
            self.env["marketing.trigger.delivery"]._on_sms_state(
                self, vals["state"], vals.get("failure_type")
            )
        return result
