from odoo import models


class SaleOrder(models.Model):
    _inherit = "sale.order"

    def _action_confirm(self):
        result = super()._action_confirm()
        customers = self.partner_id | self.partner_id.commercial_partner_id
        customers._marketing_record_activity(order=True)
        self.env["marketing.trigger"]._fire("order_confirmed", self)
        return result
