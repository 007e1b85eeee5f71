from odoo import models


class MailTemplate(models.Model):
    """A trigger's email goes to the contact it was decided for, whatever the template's
    recipient settings: a template created the normal Odoo way has none, and one with a
    fixed "To" or "Cc" would copy every contact's message to someone else."""

    _inherit = "mail.template"

    def _generate_template_recipients(
        self, res_ids, render_fields, find_or_create_partners=False, render_results=None
    ):
        recipients = self.env.context.get("marketing_trigger_recipients")
        if not isinstance(recipients, dict) or not set(res_ids) <= set(recipients):
            return super()._generate_template_recipients(
                res_ids,
                render_fields,
                find_or_create_partners=find_or_create_partners,
                render_results=render_results,
            )
        # Set by the dispatcher: {record id: the contact decided for}. The record is the
        # contact itself, or the order, delivery… the message is about.
        render_results = {} if render_results is None else render_results
        for res_id in res_ids:
            values = render_results.setdefault(res_id, {})
            for fname in ("email_to", "email_cc", "partner_to"):
                values.pop(fname, None)
            values["partner_ids"] = [recipients[res_id]]
        return render_results
