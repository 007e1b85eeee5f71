from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval

from ..engine.texts import check_template

TEXT_FIELDS = ("sms_body", "activity_summary")


class MarketingTriggerContent(models.AbstractModel):
    """Who a message is for and what it says, shared by triggers and their variants:
    a filter on contacts, an email template, an SMS text and an activity summary, all
    validated at save."""

    _name = "marketing.trigger.content"
    _description = "Marketing Trigger Content"

    name = fields.Char(required=True, translate=True)
    partner_domain = fields.Char(default="[]")
    mail_template_id = fields.Many2one(
        "mail.template", string="Email template", domain="[('model', '=', 'res.partner')]"
    )
    sms_body = fields.Text("SMS text", translate=True)
    activity_summary = fields.Char(translate=True)

    def _partner_domain(self):
        self.ensure_one()
        domain = safe_eval(self.partner_domain or "[]", {"uid": self.env.uid})
        if not isinstance(domain, list | tuple):
            raise ValueError(_("a domain is a list of conditions, e.g. [('city', '=', 'Hamburg')]"))
        return list(domain)

    @api.constrains("partner_domain")
    def _check_partner_domain(self):
        for record in self:
            try:
                self.env["res.partner"].sudo().search_count(record._partner_domain(), limit=1)
            except Exception as exc:  # noqa: BLE001 - any failure means a bad domain
                raise ValidationError(
                    _(
                        "The filter of %(what)s '%(name)s' is not a valid domain on contacts: "
                        "%(error)s",
                        what=record._description,
                        name=record.name,
                        error=exc,
                    )
                ) from exc

    @api.constrains("mail_template_id")
    def _check_mail_template(self):
        for record in self:
            if record.mail_template_id and record.mail_template_id.model != "res.partner":
                raise ValidationError(
                    _(
                        "The email template of %(what)s '%(name)s' must be made for contacts.",
                        what=record._description,
                        name=record.name,
                    )
                )
            if record.mail_template_id:
                error = record._mail_template_error(record.mail_template_id)
                if error:
                    raise ValidationError(
                        _(
                            "The email template '%(template)s' of %(what)s '%(name)s' cannot "
                            "be rendered: %(error)s",
                            template=record.mail_template_id.display_name,
                            what=record._description,
                            name=record.name,
                            error=error,
                        )
                    )

    @api.model
    def _mail_template_error(self, template):
        """Render the template's subject and body for one contact (the company's own, as
        a sample, without sending anything); the error a user must fix, or None."""
        sample = self.env.company.partner_id
        try:
            with self.env.cr.savepoint():
                template = template.sudo()
                for field_name in ("subject", "body_html"):
                    template._render_field(field_name, sample.ids)
        except Exception as exc:  # noqa: BLE001 - any failure is a template to fix
            return f"{type(exc).__name__}: {exc}"
        return None

    @api.constrains(*TEXT_FIELDS)
    def _check_texts(self):
        for record in self:
            for field_name in TEXT_FIELDS:
                error = record[field_name] and check_template(record[field_name])
                if error:
                    raise ValidationError(
                        _(
                            "The %(field)s of %(what)s '%(name)s' cannot be rendered: %(error)s",
                            field=record._fields[field_name].string,
                            what=record._description,
                            name=record.name,
                            error=error,
                        )
                    )
