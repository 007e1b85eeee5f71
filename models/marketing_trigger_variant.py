from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval

from ..engine.texts import check_template


class MarketingTriggerVariant(models.Model):
    """Segment-specific content of one trigger, without cloning it: the first variant
    (by sequence) whose filter matches the partner gives the email template, SMS text or
    activity summary; a partner no variant matches gets the trigger's own content.
    E.g. a birthday trigger with a "Churn risk" variant carrying a win-back offer."""

    _name = "marketing.trigger.variant"
    _description = "Marketing Trigger Variant"
    _order = "sequence, id"

    trigger_id = fields.Many2one("marketing.trigger", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="trigger_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    partner_domain = fields.Char(string="Segment", default="[]", required=True)
    mail_template_id = fields.Many2one(
        "mail.template", string="Email template", domain="[('model', '=', 'res.partner')]"
    )
    sms_body = fields.Text("SMS text", translate=True)
    activity_summary = fields.Char(translate=True)

    @api.constrains("partner_domain", "mail_template_id", "sms_body", "activity_summary")
    def _check_variant(self):
        Partner = self.env["res.partner"].sudo()
        for variant in self:
            try:
                Partner.search_count(variant._domain(), limit=1)
            except Exception as exc:  # noqa: BLE001 - any failure means a bad domain
                raise ValidationError(
                    _(
                        "The segment of variant '%(name)s' is not a valid filter on contacts: "
                        "%(error)s",
                        name=variant.name,
                        error=exc,
                    )
                ) from exc
            if variant.mail_template_id and variant.mail_template_id.model != "res.partner":
                raise ValidationError(
                    _(
                        "The template of variant '%(name)s' must be made for " "contacts.",
                        name=variant.name,
                    )
                )
            for field_name in ("sms_body", "activity_summary"):
                error = variant[field_name] and check_template(variant[field_name])
                if error:
                    raise ValidationError(
                        _(
                            "The %(field)s of variant '%(name)s' cannot be rendered: %(error)s",
                            field=variant._fields[field_name].string,
                            name=variant.name,
                            error=error,
                        )
                    )

    def _domain(self):
        self.ensure_one()
        domain = safe_eval(self.partner_domain or "[]", {"uid": self.env.uid})
        if not isinstance(domain, list | tuple):
            raise ValueError(_("a segment is a list of conditions"))
        return list(domain)
