from odoo import models


class CrmLead(models.Model):
    _inherit = "crm.lead"

    def action_set_won(self):
        result = super().action_set_won()
        self.env["marketing.trigger"]._fire("lead_won", self)
        return result

    def action_set_lost(self, **additional_values):
        result = super().action_set_lost(**additional_values)
        self.env["marketing.trigger"]._fire("lead_lost", self)
        return result
