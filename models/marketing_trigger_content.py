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
        "mail.template",
        string="Email template",
        domain="[('model_id', '=', render_model_id)]",
        help="Rendered on what the message is about: the contact, or the record behind "
        "the occurrence (the order, the delivery, the opportunity, the price watch) for "
        "kinds that come from one. It always goes to the decided contact.",
    )
    render_model_id = fields.Many2one(
        "ir.model",
        string="Templates made for",
        compute="_compute_render_model_id",
        help="The kind of record this message is rendered on: its email template must "
        "be made for it.",
    )
    sms_body = fields.Text("SMS text", translate=True)
    activity_summary = fields.Char(translate=True)

    def _render_model(self):
        """The model the message is rendered on (the contact unless a kind says
        otherwise)."""
        return "res.partner"

    def _compute_render_model_id(self):
        for record in self:
            record.render_model_id = self.env["ir.model"]._get(record._render_model())

    def _text_sample_values(self):
        """Sample values a text of this content is checked against at save."""
        return None

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
            wanted = record._render_model()
            if record.mail_template_id and record.mail_template_id.model != wanted:
                raise ValidationError(
                    _(
                        "The email template of %(what)s '%(name)s' must be made for "
                        "%(model)s (it is made for %(other)s): its messages are about a "
                        "%(model)s and name it.",
                        what=record._description,
                        name=record.name,
                        model=self.env["ir.model"]._get(wanted).name,
                        other=record.mail_template_id.model_id.name,
                    )
                )
            if record.mail_template_id:
                error = record._mail_template_error(record.mail_template_id, wanted)
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
    def _mail_template_error(self, template, model="res.partner"):
        """Render the template's subject and body for one sample record (the company's
        own contact, or the latest record of ``model``), without sending anything; the
        error a user must fix, or None."""
        if model == "res.partner":
            sample = self.env.company.partner_id
        else:
            sample = self.env[model].sudo().search([], limit=1, order="id desc")
            if not sample:
                return None  # nothing to try it on yet; a failure at send names the field
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
                error = record[field_name] and check_template(
                    record[field_name], record._text_sample_values()
                )
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
