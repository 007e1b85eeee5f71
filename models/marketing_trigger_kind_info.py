"""Trigger kinds in plain words: each kind belongs to a group (Contact, Sales,
Engagement, Dates, External) and has a one-line description. The kind list is ordered
by group and each label names its group, so the choice reads as a grouped menu."""

from odoo import api, fields, models

GROUPS = [
    ("contact", "Contact"),
    ("sales", "Sales"),
    ("engagement", "Engagement"),
    ("dates", "Dates"),
    ("external", "External"),
    ("internal", "Internal"),
]


def _kind_info(env):
    """{kind: (group, one-line description)}; kinds missing here go to Internal."""
    _ = env._
    return {
        "partner_registered": ("contact", _("A new contact is created.")),
        "double_optin": ("contact", _("A contact confirms their subscription by email.")),
        "segment_entered": ("contact", _("A contact starts matching the filter (once each).")),
        "inactivity": ("contact", _("A customer has neither ordered nor engaged for a while.")),
        "lifecycle_stage_changed": ("contact", _("A contact moves to another lifecycle stage.")),
        "callback": ("contact", _("The moment a contact asked to be called back.")),
        "order_confirmed": ("sales", _("A sales order is confirmed (booked, purchased).")),
        "quotation_abandoned": ("sales", _("A quotation is still not confirmed after a while.")),
        "lead_won": ("sales", _("An opportunity is marked won.")),
        "lead_lost": ("sales", _("An opportunity is marked lost.")),
        "lifecycle_product": ("sales", _("Months after a purchase in a product category.")),
        "price_reached": ("sales", _("A watched product reaches the contact's target price.")),
        "delivery_scheduled": (
            "sales",
            _("Before a delivery order's scheduled date (rescheduling sends a new notice)."),
        ),
        "email_opened": ("engagement", _("A contact opens an email of another trigger.")),
        "link_clicked": ("engagement", _("A contact clicks a link in another trigger's email.")),
        "email_not_opened": ("engagement", _("An email was not opened within a delay.")),
        "link_not_clicked": ("engagement", _("No link of an email was clicked within a delay.")),
        "birthday": ("dates", _("The contact's birthday, in their time zone.")),
        "anniversary": ("dates", _("Yearly return of registration or first order.")),
        "date_offset": ("dates", _("Days before or after a date stored on the contact.")),
        "inbound": ("external", _("Another system (shop, booking tool) posts an event.")),
        "newsletter": ("internal", _("Stands for a newsletter; use it as a source.")),
        "journey_step": ("internal", _("A step of a journey, managed from the journey.")),
    }


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    kind_group = fields.Selection(
        GROUPS, string="Kind group", compute="_compute_kind_group", store=True
    )
    kind_description = fields.Char("What it reacts to", compute="_compute_kind_description")

    @api.model
    def _selection_kind(self):
        info = _kind_info(self.env)
        order = [key for key, _label in GROUPS]
        labels = dict(GROUPS)
        kinds = super()._selection_kind()

        def group(kind):
            return info.get(kind, ("internal", ""))[0]

        return [
            (kind, f"{self.env._(labels[group(kind)])} · {label}")  # noqa: INT001
            for kind, label in sorted(kinds, key=lambda k: order.index(group(k[0])))
        ]

    @api.depends("kind")
    def _compute_kind_group(self):
        info = _kind_info(self.env)
        for trigger in self:
            trigger.kind_group = info.get(trigger.kind, ("internal", ""))[0]

    @api.depends("kind")
    def _compute_kind_description(self):
        info = _kind_info(self.env)
        for trigger in self:
            trigger.kind_description = info.get(trigger.kind, ("internal", ""))[1]
