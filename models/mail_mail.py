from odoo import models


class MailMail(models.Model):
    """A trigger's delivery follows its email: sent when the mail server accepted it,
    failed with Odoo's reason otherwise."""

    _inherit = "mail.mail"

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        # Before super(): it deletes the auto-deleted mails, and their state with them.
        self.env["marketing.trigger.delivery"]._on_mail_outcome(
            self, failure_reason=failure_reason, failure_type=failure_type
        )
        return super()._postprocess_sent_message(
            success_pids, failure_reason=failure_reason, failure_type=failure_type
        )
