from odoo import models


class SaleOrder(models.Model):
    _inherit = "sale.order"

    def _action_confirm(self):
        result = super()._action_confirm()
        self.env["marketing.trigger"]._fire("order_confirmed", self)
        return result
