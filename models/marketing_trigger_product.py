"""Product trigger kinds: the lifecycle product (N months after a purchase in a
category — toner after a printer — unless the customer bought again meanwhile) and the
price alert (a contact watches a product with a target price; one alert when the price
reaches it, again only after the price went back above)."""

from dateutil.relativedelta import relativedelta
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    product_categ_id = fields.Many2one(
        "product.category",
        string="Product category",
        help="A purchase in this category (or below it) starts the countdown.",
    )
    lifecycle_months = fields.Integer(
        "After (months)", default=6, help="How long after the last purchase in the category."
    )

    _sql_constraints = [
        (
            "lifecycle_months_check",
            "CHECK(lifecycle_months IS NULL OR lifecycle_months > 0)",
            "The lifecycle period must be at least one month.",
        ),
    ]

    @api.model
    def _kinds(self):
        return super()._kinds() + [
            ("lifecycle_product", _("Months after buying a product category")),
            ("price_reached", _("Watched product reaches its target price")),
        ]

    @api.model
    def _time_kinds(self):
        return super()._time_kinds() + ["lifecycle_product"]

    @api.constrains("kind", "product_categ_id")
    def _check_product_categ(self):
        for trigger in self:
            if trigger.kind == "lifecycle_product" and not trigger.product_categ_id:
                raise ValidationError(
                    _("Trigger '%(name)s': choose the product category.", name=trigger.name)
                )

    def _last_purchases_sql(self, partner_ids=None):
        """SELECT partner, last confirmed order date in the trigger's category."""
        return SQL(
            """SELECT so.partner_id, MAX(so.date_order) AS last
            FROM sale_order_line l
            JOIN sale_order so ON so.id = l.order_id
            JOIN product_product pp ON pp.id = l.product_id
            JOIN product_template pt ON pt.id = pp.product_tmpl_id
            JOIN product_category c ON c.id = pt.categ_id
            WHERE so.state = 'sale' AND so.company_id = %s AND c.parent_path LIKE %s %s
            GROUP BY so.partner_id""",
            self.company_id.id,
            f"{self.product_categ_id.parent_path}%",
            SQL("AND so.partner_id = ANY(%s)", partner_ids) if partner_ids else SQL(),
        )

    def _occurrences_lifecycle_product(self, start, end):
        """Contacts whose last purchase in the category lies ``lifecycle_months`` before
        [start, end). A purchase since moves that date, so nobody who re-bought is
        reminded; the key names the purchase date."""
        self.ensure_one()
        months = relativedelta(months=self.lifecycle_months or 6)
        for model in ("sale.order", "sale.order.line", "product.product", "product.template"):
            self.env[model].flush_model()
        self.env.cr.execute(
            SQL(
                "SELECT partner_id, last FROM (%s) p WHERE last >= %s AND last < %s",
                self._last_purchases_sql(),
                start - months,
                end - months,
            )
        )
        return [
            (
                pid,
                f"lifecycle:{self.product_categ_id.id}:{last.date().isoformat()}",
                last + months,
                last + months + relativedelta(days=14),
            )
            for pid, last in self.env.cr.fetchall()
        ]

    def _still_due(self, partner, occurrence_key):
        if self.kind == "lifecycle_product":
            self.env.cr.execute(self._last_purchases_sql([partner.id]))
            row = self.env.cr.fetchone()
            return bool(row) and occurrence_key.endswith(f":{row[1].date().isoformat()}")
        if self.kind == "price_reached":
            watch_id, generation = occurrence_key.split(":")[1:3]
            watch = self.env["marketing.price.watch"].sudo().browse(int(watch_id)).exists()
            return bool(watch) and watch.alert_count == int(generation) and watch.is_reached
        return super()._still_due(partner, occurrence_key)

    def _event_occurrences_price_reached(self, watches):
        categ = self.product_categ_id
        return [
            (watch.partner_id, f"price:{watch.id}:{watch.alert_count}")
            for watch in watches
            if not categ
            or (watch.product_id.categ_id.parent_path or "").startswith(categ.parent_path)
        ]


class MarketingPriceWatch(models.Model):
    """A contact watches a product's price: "tell me when it costs 300 or less"."""

    _name = "marketing.price.watch"
    _description = "Price Watch"
    _order = "id desc"
    _rec_name = "product_id"

    partner_id = fields.Many2one("res.partner", required=True, index=True, ondelete="cascade")
    product_id = fields.Many2one("product.product", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related="product_id.currency_id")
    target_price = fields.Monetary(required=True, currency_field="currency_id")
    current_price = fields.Float(related="product_id.lst_price", string="Current price")
    armed = fields.Boolean(
        default=True,
        readonly=True,
        help="Armed: an alert goes out when the price reaches the target. After an alert "
        "it re-arms only once the price went back above the target.",
    )
    alert_count = fields.Integer(readonly=True, copy=False)
    is_reached = fields.Boolean(compute="_compute_is_reached")
    active = fields.Boolean(default=True)

    _sql_constraints = [
        (
            "watch_uniq",
            "UNIQUE(partner_id, product_id)",
            "This contact already watches this product.",
        ),
    ]

    @api.constrains("target_price")
    def _check_target_price(self):
        for watch in self:
            if watch.target_price <= 0:
                raise ValidationError(
                    _(
                        "The target price for %(product)s must be above zero.",
                        product=watch.product_id.display_name,
                    )
                )

    @api.depends("product_id.lst_price", "target_price")
    def _compute_is_reached(self):
        for watch in self:
            watch.is_reached = watch.product_id.lst_price <= watch.target_price

    @api.model_create_multi
    def create(self, vals_list):
        watches = super().create(vals_list)
        watches._check_prices()
        return watches

    def _check_prices(self):
        """Alert the armed watches whose price is reached; re-arm the others whose price
        went back above the target."""
        watches = self.sudo().filtered("active")
        reached = watches.filtered(lambda w: w.armed and w.is_reached)
        for watch in reached:
            watch.write({"armed": False, "alert_count": watch.alert_count + 1})
        watches.filtered(lambda w: not w.armed and not w.is_reached).write({"armed": True})
        if reached:
            self.env["marketing.trigger"]._fire("price_reached", reached)


class ProductTemplate(models.Model):
    _inherit = "product.template"

    # A variant's sales price is written through its template (product.product's
    # lst_price inverse), so watching the template's write sees every price change.

    def write(self, vals):
        result = super().write(vals)
        if "list_price" in vals:
            self.env["marketing.price.watch"].sudo().search(
                [("product_id.product_tmpl_id", "in", self.ids)]
            )._check_prices()
        return result
