import logging

from odoo import models

_logger = logging.getLogger(__name__)


class SmsSms(models.Model):
    """A trigger's SMS delivery follows Odoo's SMS states (see
    ``marketing.trigger.delivery._on_sms_state``)."""

    _inherit = "sms.sms"

    def write(self, vals):
        result = super().write(vals)
        if vals.get("state") in ("pending", "sent", "error", "canceled"):
            try:
                with self.env.cr.savepoint():
                    self.env["marketing.trigger.delivery"]._on_sms_state(
                        self, vals["state"], vals.get("failure_type")
                    )
            except Exception:  # noqa: BLE001 - bookkeeping never stops the SMS queue
                _logger.exception("Could not record the state of SMS %s on deliveries", self.ids)
        return result
