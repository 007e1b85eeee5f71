import logging

from odoo import models

_logger = logging.getLogger(__name__)


class MailMail(models.Model):
    """A trigger's delivery follows its email: sent when the mail server accepted it,
    failed with Odoo's reason otherwise."""

    _inherit = "mail.mail"

    def mark_outgoing(self):
        # Odoo's "Retry" on a failed email: its delivery is queued again.
        result = super().mark_outgoing()
        self.env["marketing.trigger.delivery"]._on_mails_requeued(self)
        return result

    def cancel(self):
        result = super().cancel()
        self.env["marketing.trigger.delivery"]._on_mails_cancelled(self)
        return result

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        # Before super(): it deletes the auto-deleted mails, and their state with them.
        try:
            with self.env.cr.savepoint():
                self.env["marketing.trigger.delivery"]._on_mail_outcome(
                    self, failure_reason=failure_reason, failure_type=failure_type
                )
        except Exception:  # noqa: BLE001 - marketing bookkeeping never stops the mail queue
            _logger.exception("Could not record the outcome of mails %s on deliveries", self.ids)
        return super()._postprocess_sent_message(
            success_pids, failure_reason=failure_reason, failure_type=failure_type
        )
