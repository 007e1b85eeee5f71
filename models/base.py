from odoo import models
from odoo.tools import SQL


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

    def _marketing_company_from_trigger(self, vals_list):
        """``vals_list`` with each row's company set from its ``trigger_id`` when not
        given (decisions and deliveries store it as a plain, indexed column)."""
        triggers = self.env["marketing.trigger"].sudo().with_context(active_test=False)
        for vals in vals_list:
            if not vals.get("company_id"):
                vals["company_id"] = triggers.browse(vals["trigger_id"]).company_id.id
        return vals_list

    def _marketing_claim_due(self, state_column, state, due_column, now, limit):
        """Lock and return up to ``limit`` records in ``state`` that are due at ``now``,
        oldest first, skipping rows another transaction holds (FOR UPDATE SKIP LOCKED),
        so that several cron workers can share one queue without doing work twice."""
        self.flush_model([state_column, due_column])
        self.env.cr.execute(
            SQL(
                """SELECT id FROM %(table)s WHERE %(state_col)s = %(state)s AND %(due)s <= %(now)s
                ORDER BY %(due)s, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED""",
                table=SQL.identifier(self._table),
                state_col=SQL.identifier(state_column),
                state=state,
                due=SQL.identifier(due_column),
                now=now,
                limit=limit,
            )
        )
        return self.browse(row[0] for row in self.env.cr.fetchall())
