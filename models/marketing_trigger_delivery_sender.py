"""Who a trigger's email comes from, and what stays of it once sent.

Customers see the company (or their salesperson), never the user who runs the
dispatcher — OdooBot, for the cron. The rendered email is kept as a message on the
contact's chatter and linked from its delivery: Odoo deletes outgoing emails once sent
(``auto_delete``), but a notification email leaves its message in place.
"""

from odoo import fields, models
from odoo.tools import SQL, email_normalize, formataddr


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    sent_message_id = fields.Many2one(
        "mail.message",
        string="Sent email",
        ondelete="set null",
        readonly=True,
        help="The email as it was rendered, on the contact's chatter: it stays when Odoo "
        "deletes the outgoing email after sending it.",
    )
    sent_body = fields.Html(
        "Email content", related="sent_message_id.body", readonly=True, sanitize=False
    )

    def _sign_as_sender(self, template, mails):
        """Emails come from the company, or from the contact's salesperson when the
        template names them: never from the user running the dispatcher (OdooBot for
        the cron). The template's own sender is kept unless it is empty or that user."""
        robots = self.env.ref("base.partner_root") | self.env.user.partner_id
        robot_emails = {email_normalize(e) for e in robots.mapped("email") if e}
        groups = {}
        for delivery, mail in zip(self, mails, strict=True):
            company = delivery.trigger_id.company_id
            salesperson = delivery.partner_id.user_id.partner_id
            sender = email_normalize(mail.email_from or "") if template.email_from else None
            if sender and sender not in robot_emails:
                email_from = mail.email_from
            else:
                email_from = company.email_formatted or _company_default_from(company)
            author = company.partner_id
            if salesperson and email_normalize(email_from or "") == salesperson.email_normalized:
                author = salesperson
            if email_from and (email_from, author) != (mail.email_from, mail.author_id):
                groups.setdefault((email_from, author.id), []).append(mail.id)
        for (email_from, author_id), mail_ids in groups.items():
            self.env["mail.mail"].sudo().browse(mail_ids).write(
                {"email_from": email_from, "author_id": author_id}
            )

    def _link_sent_messages(self):
        """Point each email delivery to its message, which outlives the email."""
        self.env["mail.mail"].flush_model(["mail_message_id"])
        self.flush_recordset(["mail_id"])
        self.env.cr.execute(
            SQL(
                """UPDATE marketing_trigger_delivery d SET sent_message_id = m.mail_message_id
                FROM mail_mail m WHERE m.id = d.mail_id AND d.id = ANY(%s)""",
                self.ids,
            )
        )
        self.invalidate_recordset(["sent_message_id", "sent_body"])


def _company_default_from(company):
    """The company's name on the database's default sender address, if there is one."""
    address = company.env["ir.mail_server"].sudo()._get_default_from_address()
    return formataddr((company.name, address)) if address else False
