from odoo import models, tools


class MailThread(models.AbstractModel):
    """A bounce that Odoo's mail gateway receives marks the trigger delivery it answers."""

    _inherit = "mail.thread"

    def _routing_handle_bounce(self, email_message, message_dict):
        super()._routing_handle_bounce(email_message, message_dict)
        if message_dict.get("bounced_msg_ids"):
            self.env["marketing.trigger.delivery"]._mark_bounced_messages(
                message_dict["bounced_msg_ids"],
                reason=tools.html2plaintext(message_dict.get("body") or "").strip()[:500],
            )
