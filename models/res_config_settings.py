from urllib.parse import urlsplit

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .marketing_trigger_tracking import DEFAULT_RETENTION_DAYS, RETENTION_PARAM

# The address customer links start with; empty: Odoo's own web address (web.base.url).
TRACKING_BASE_URL_PARAM = "marketing_trigger.tracking_base_url"


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
        config_parameter=TRACKING_BASE_URL_PARAM,
        help="The address tracked links, open pixels, landing pages, confirmation and "
        "unsubscribe links in emails and newsletters start with, e.g. "
        "https://news.example.com (a name of this Odoo server). Empty: Odoo's own web "
        "address. The rest of Odoo keeps its web address.",
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

    def set_values(self):
        self.marketing_tracking_base_url = (self.marketing_tracking_base_url or "").strip().rstrip(
            "/"
        ) or False
        super().set_values()

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
