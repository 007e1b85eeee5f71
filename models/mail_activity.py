import logging

from odoo import models

_logger = logging.getLogger(__name__)


class MailActivity(models.Model):
    _inherit = "mail.activity"

    def _action_done(self, feedback=False, attachment_ids=None):
        """A salesperson's completed call is a touch in the partner's contact ledger."""
        touches = []
        for activity in self.filtered(lambda a: a.activity_category == "phonecall"):
            record = (
                self.env[activity.res_model].browse(activity.res_id).exists()
                if activity.res_model
                else None
            )
            partner = record._marketing_partner() if record is not None else None
            if partner:
                touches.append(
                    {
                        "partner_id": partner.id,
                        "channel": "phone",
                        "source": "activity",
                        "note": activity.summary or activity.activity_type_id.name,
                        "user_id": activity.user_id.id,
                    }
                )
        result = super()._action_done(feedback=feedback, attachment_ids=attachment_ids)
        if touches:
            try:
                with self.env.cr.savepoint():
                    self.env["marketing.trigger.touch"].sudo().create(touches)
            except Exception:  # the activity is done whatever the ledger says
                _logger.exception("Could not log the call in the contact ledger")
        return result
