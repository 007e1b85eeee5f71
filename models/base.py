from odoo import models


class Base(models.AbstractModel):
    _inherit = "base"

    def _marketing_partner(self):
        """The partner a record is about, for the contact ledger (none by default)."""
        if self._name == "res.partner":
            return self[:1]
        if (
            "partner_id" in self._fields
            and self._fields["partner_id"].comodel_name == "res.partner"
        ):
            return self[:1].partner_id
        return self.env["res.partner"]
