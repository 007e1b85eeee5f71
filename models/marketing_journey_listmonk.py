"""Journey steps that add a contact to a Listmonk list, or take it off one.

A list's members are the contacts of its segment; a journey step adds contacts on top
of the segment or removes them from it, on the contact itself (so the Listmonk sync sees
the change like any other change of the contact)."""

from odoo import fields, models
from odoo.osv import expression


class ResPartner(models.Model):
    _inherit = "res.partner"

    marketing_listmonk_added_ids = fields.Many2many(
        "marketing.listmonk.list",
        "marketing_listmonk_list_added_rel",
        string="Added to Listmonk lists",
        groups="base.group_user",
        help="Lists a journey added the contact to, whatever the list's segment says.",
    )
    marketing_listmonk_removed_ids = fields.Many2many(
        "marketing.listmonk.list",
        "marketing_listmonk_list_removed_rel",
        string="Removed from Listmonk lists",
        groups="base.group_user",
        help="Lists a journey took the contact off, whatever the list's segment says.",
    )


class MarketingListmonkList(models.Model):
    _inherit = "marketing.listmonk.list"

    def _domain(self):
        """The segment, plus the contacts journeys added, minus those they removed."""
        segment = super()._domain()
        if not self.id:
            return segment
        return expression.AND(
            [
                [("marketing_listmonk_removed_ids", "not in", [self.id])],
                expression.OR([[("marketing_listmonk_added_ids", "in", [self.id])], segment]),
            ]
        )


class MarketingJourneyStep(models.Model):
    _inherit = "marketing.journey.step"

    action = fields.Selection(
        selection_add=[("listmonk", "Add to or remove from a Listmonk list")],
        ondelete={"listmonk": "cascade"},
    )
    listmonk_list_id = fields.Many2one("marketing.listmonk.list", string="Listmonk list")
    listmonk_operation = fields.Selection(
        [("add", "Add to the list"), ("remove", "Remove from the list")],
        default="add",
        string="List operation",
    )

    def _run_for(self, participants, now):
        result = super()._run_for(participants, now)
        if self.action == "listmonk" and self.listmonk_list_id:
            partners = participants.partner_id.sudo()
            list_id = self.listmonk_list_id.id
            if self.listmonk_operation == "add":
                partners.write(
                    {
                        "marketing_listmonk_added_ids": [fields.Command.link(list_id)],
                        "marketing_listmonk_removed_ids": [fields.Command.unlink(list_id)],
                    }
                )
            else:
                partners.write(
                    {
                        "marketing_listmonk_added_ids": [fields.Command.unlink(list_id)],
                        "marketing_listmonk_removed_ids": [fields.Command.link(list_id)],
                    }
                )
        return result
