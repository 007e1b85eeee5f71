from odoo import models

from .res_config_settings import TRACKING_BASE_URL_PARAM


class MarketingTrackingBaseUrl(models.AbstractModel):
    """Records whose URLs reach customers (tracked links, pixels, landing, confirmation
    and unsubscribe pages) start them with the tracking domain of Settings, when one is
    set, instead of Odoo's web address."""

    _name = "marketing.trigger.base.url.mixin"
    _description = "Marketing Tracking Domain"

    def get_base_url(self):
        domain = self.env["ir.config_parameter"].sudo().get_param(TRACKING_BASE_URL_PARAM)
        return domain or super().get_base_url()


class MarketingTriggerDelivery(models.Model):
    _name = "marketing.trigger.delivery"
    _inherit = ["marketing.trigger.delivery", "marketing.trigger.base.url.mixin"]


class MarketingListmonkCampaign(models.Model):
    _name = "marketing.listmonk.campaign"
    _inherit = ["marketing.listmonk.campaign", "marketing.trigger.base.url.mixin"]


class MarketingListmonkOutbox(models.Model):
    _name = "marketing.listmonk.outbox"
    _inherit = ["marketing.listmonk.outbox", "marketing.trigger.base.url.mixin"]


class MarketingTriggerSubscription(models.Model):
    _name = "marketing.trigger.subscription"
    _inherit = ["marketing.trigger.subscription", "marketing.trigger.base.url.mixin"]


class MarketingTriggerSubscriptionForm(models.Model):
    _name = "marketing.trigger.subscription.form"
    _inherit = ["marketing.trigger.subscription.form", "marketing.trigger.base.url.mixin"]


class MarketingTriggerLanding(models.Model):
    _name = "marketing.trigger.landing"
    _inherit = ["marketing.trigger.landing", "marketing.trigger.base.url.mixin"]
