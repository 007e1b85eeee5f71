"""Messages about the record behind the occurrence.

A booking thank-you names the booked seminar, a delivery notice its date and items, a
price alert the product: kinds whose occurrences come from a record (an order, a
delivery, an opportunity, a price watch, a purchase) render their email template on
that record, and their SMS, activity and voice texts get its values (``order.*``,
``delivery.*``…). The message always goes to the contact the engine decided for,
whatever the template's recipients say.
"""

from datetime import datetime

import pytz
from babel.dates import format_date
from odoo import api, fields, models
from odoo.tools import SQL, format_amount

from ..engine.texts import RECORD_SAMPLES, sample_values, variables

# Kind -> the model its messages are rendered on (others: the contact).
RENDER_MODELS = {
    "order_confirmed": "sale.order",
    "quotation_abandoned": "sale.order",
    "lead_won": "crm.lead",
    "lead_lost": "crm.lead",
    "price_reached": "marketing.price.watch",
    "lifecycle_product": "sale.order.line",
    "delivery_scheduled": "stock.picking",
}


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    record_variables = fields.Char(
        compute="_compute_render_model_id",
        help="What texts of this kind may name about the record behind the occurrence.",
    )

    def _render_model(self):
        return RENDER_MODELS.get(self.kind, "res.partner")

    @api.depends("kind")
    def _compute_render_model_id(self):
        for trigger in self:
            model = trigger._render_model()
            trigger.render_model_id = self.env["ir.model"]._get(model)
            names = variables(RECORD_SAMPLES[model]) if model in RECORD_SAMPLES else []
            trigger.record_variables = ", ".join("{{ " + name + " }}" for name in names)

    def _text_sample_values(self):
        return sample_values(self._render_model())

    @api.onchange("kind")
    def _onchange_kind_render_model(self):
        # A template made for another record cannot render this kind's messages.
        if self.mail_template_id and self.mail_template_id.model != self._render_model():
            self.mail_template_id = False


class MarketingTriggerVariant(models.Model):
    _inherit = "marketing.trigger.variant"

    def _render_model(self):
        return self.trigger_id._render_model() if self.trigger_id else "res.partner"

    @api.depends("trigger_id.kind")
    def _compute_render_model_id(self):
        return super()._compute_render_model_id()

    def _text_sample_values(self):
        return sample_values(self._render_model())


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    def _render_record(self):
        """The record this delivery's message is rendered on: the contact, or the record
        behind the occurrence for kinds that come from one. An empty recordset of that
        model when the record is gone (the order was deleted)."""
        self.ensure_one()
        model = self.trigger_id._render_model()
        if model == "res.partner":
            return self.partner_id
        prefix, _sep, rest = (self.occurrence_key or "").partition(":")
        ref = rest.split(":")[0]
        Model = self.env[model].sudo()
        if model == "sale.order.line":
            return self._purchase_line()
        if prefix in ("order", "quotation", "lead_won", "lead_lost", "price", "picking") and (
            ref.isdigit() and len(ref) < 12
        ):
            return Model.browse(int(ref)).exists()
        return Model

    def _purchase_line(self):
        """The contact's purchase a "months after buying" occurrence names
        (``lifecycle:<category>:<date>``): its latest confirmed line in the category on
        that date."""
        parts = (self.occurrence_key or "").split(":")
        Line = self.env["sale.order.line"].sudo()
        if len(parts) != 3 or not parts[1].isdigit():
            return Line
        category = self.env["product.category"].sudo().browse(int(parts[1])).exists()
        if not category:
            return Line
        self.env.cr.execute(
            SQL(
                """SELECT l.id FROM sale_order_line l
                JOIN sale_order so ON so.id = l.order_id
                JOIN product_product pp ON pp.id = l.product_id
                JOIN product_template pt ON pt.id = pp.product_tmpl_id
                JOIN product_category c ON c.id = pt.categ_id
                WHERE so.partner_id = %s AND so.state = 'sale' AND c.parent_path LIKE %s
                  AND so.date_order::date = %s
                ORDER BY so.date_order DESC, l.id DESC LIMIT 1""",
                self.partner_id.id,
                f"{category.parent_path}%",
                parts[2],
            )
        )
        row = self.env.cr.fetchone()
        return Line.browse(row[0]) if row else Line

    def _text_values(self):
        values = super()._text_values()
        model = self.trigger_id._render_model()
        if model != "res.partner":
            record = self._render_record()
            values.update(
                record._marketing_text_values(self.partner_id)
                if record
                else {k: dict.fromkeys(v, "") for k, v in RECORD_SAMPLES[model].items()}
            )
        return values


def _local(value, partner):
    """A UTC datetime in the contact's time zone."""
    try:
        zone = pytz.timezone(partner.tz or "UTC")
    except pytz.UnknownTimeZoneError:
        zone = pytz.utc
    return pytz.utc.localize(value).astimezone(zone)


def _date(env, value, partner):
    """A date (or datetime, in the contact's time zone) as the contact reads it."""
    if not value:
        return ""
    if isinstance(value, datetime):
        value = _local(value, partner).date()
    try:
        return format_date(value, format="medium", locale=partner.lang or "en_US")
    except ValueError:  # a language babel does not know
        return value.isoformat()


def _items(lines, qty_field):
    return ", ".join(
        f"{line[qty_field]:g} × {line.product_id.display_name}"
        for line in lines
        if line.product_id and line[qty_field]
    )


class SaleOrder(models.Model):
    _inherit = "sale.order"

    def _marketing_text_values(self, partner):
        lines = self.order_line.filtered(lambda line: not line.display_type)
        return {
            "order": {
                "name": self.name or "",
                "date": _date(self.env, self.date_order, partner),
                "amount": format_amount(self.env, self.amount_total, self.currency_id),
                "contents": _items(lines, "product_uom_qty"),
                "first_item": lines[:1].product_id.display_name or "",
                "planned_date": _date(self.env, self.commitment_date, partner),
                "salesperson": self.user_id.name or "",
            }
        }


class CrmLead(models.Model):
    _inherit = "crm.lead"

    def _marketing_text_values(self, partner):
        return {"opportunity": {"name": self.name or "", "salesperson": self.user_id.name or ""}}


class MarketingPriceWatch(models.Model):
    _inherit = "marketing.price.watch"

    def _marketing_text_values(self, partner):
        currency = self.currency_id or self.company_id.currency_id
        return {
            "watch": {
                "product": self.product_id.display_name or "",
                "price": format_amount(self.env, self.current_price, currency),
                "target": format_amount(self.env, self.target_price, currency),
            }
        }


class SaleOrderLine(models.Model):
    _inherit = "sale.order.line"

    def _marketing_text_values(self, partner):
        return {
            "purchase": {
                "product": self.product_id.display_name or "",
                "date": _date(self.env, self.order_id.date_order, partner),
                "order": self.order_id.name or "",
            }
        }
