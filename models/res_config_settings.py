from urllib.parse import urlsplit

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .marketing_trigger_tracking import DEFAULT_RETENTION_DAYS, RETENTION_PARAM

BASE_URL_PARAM = "web.base.url"
# Odoo rewrites web.base.url to the address an administrator logs in from unless it is
# frozen: a tracking domain chosen here must stay.
FREEZE_PARAM = "web.base.url.freeze"


class ResConfigSettings(models.TransientModel):
    """The *Marketing Triggers* section of Settings: shortcuts to the contact policy and
    the Listmonk server, and the parameters of tracking."""

    _inherit = "res.config.settings"

    marketing_engagement_retention_days = fields.Integer(
        "Keep opens and clicks for",
        config_parameter=RETENTION_PARAM,
        default=DEFAULT_RETENTION_DAYS,
        help="Days a single open or click is kept with its details (time, client); after "
        "that only the counts on the delivery and the link remain.",
    )
    marketing_tracking_base_url = fields.Char(
        "Tracking domain",
        help="The address tracked links, open pixels, landing pages and unsubscribe links "
        "in emails start with, e.g. https://news.example.com. It is Odoo's web address "
        "(web.base.url), kept as set here.",
    )

    @api.constrains("marketing_engagement_retention_days", "marketing_tracking_base_url")
    def _check_marketing_tracking(self):
        for settings in self:
            if settings.marketing_engagement_retention_days < 1:
                raise ValidationError(self.env._("Keep opens and clicks for at least one day."))
            url = (settings.marketing_tracking_base_url or "").strip()
            parts = urlsplit(url)
            if url and (parts.scheme not in ("http", "https") or not parts.netloc):
                raise ValidationError(
                    self.env._(
                        "The tracking domain must be a web address such as "
                        "https://news.example.com, not %(url)s.",
                        url=url,
                    )
                )

    @api.model
    def get_values(self):
        values = super().get_values()
        values["marketing_tracking_base_url"] = (
            self.env["ir.config_parameter"].sudo().get_param(BASE_URL_PARAM, "")
        )
        return values

    def set_values(self):
        super().set_values()
        params = self.env["ir.config_parameter"].sudo()
        url = (self.marketing_tracking_base_url or "").strip().rstrip("/")
        if url and url != params.get_param(BASE_URL_PARAM):
            params.set_param(BASE_URL_PARAM, url)
            params.set_param(FREEZE_PARAM, True)

    def action_open_marketing_policy(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Contact policy"),
            "res_model": "marketing.trigger.policy",
            "res_id": self.env["marketing.trigger.policy"]._for_company(self.env.company).id,
            "view_mode": "form",
            "target": "current",
        }
