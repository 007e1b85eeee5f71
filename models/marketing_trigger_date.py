"""Date-relative trigger kinds: N days before or after a date on the contact (contract
end − 30 days, last order + 90 days), and callbacks at the moment a customer asked to be
called back. Occurrences are found with one indexed range query per span."""

from datetime import datetime, time, timedelta

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    date_field_id = fields.Many2one(
        "ir.model.fields",
        string="Date field",
        ondelete="cascade",
        domain="[('model', '=', 'res.partner'), ('ttype', 'in', ('date', 'datetime')), "
        "('store', '=', True)]",
        help="The contact's date the trigger is relative to, e.g. a contract end date.",
    )
    date_offset_days = fields.Integer(
        "Offset",
        help="Negative: before the date (-30: thirty days before); positive: after it.",
    )
    date_offset_unit = fields.Selection(
        [("days", "Days"), ("hours", "Hours")], string="Offset unit", default="days"
    )

    @api.model
    def _kinds(self):
        return super()._kinds() + [
            ("date_offset", _("Days before/after a date")),
            ("callback", _("Callback requested")),
        ]

    @api.model
    def _time_kinds(self):
        return super()._time_kinds() + ["date_offset", "callback"]

    @api.constrains("kind", "date_field_id")
    def _check_date_field(self):
        for trigger in self.filtered(lambda t: t.kind == "date_offset"):
            field = trigger.date_field_id
            if not field:
                raise ValidationError(
                    _("Trigger '%(name)s': choose the contact's date field.", name=trigger.name)
                )
            if (
                field.model != "res.partner"
                or field.ttype not in ("date", "datetime")
                or not field.store
            ):
                raise ValidationError(
                    _(
                        "Trigger '%(name)s': %(field)s is not a stored date " "of contacts.",
                        name=trigger.name,
                        field=field.name,
                    )
                )

    def _occurrences_date_offset(self, start, end):
        """Contacts whose date plus the offset falls in [start, end); key date:<field>:<day>."""
        self.ensure_one()
        field = self.date_field_id
        offset = (
            timedelta(hours=self.date_offset_days)
            if self.date_offset_unit == "hours"
            else timedelta(days=self.date_offset_days)
        )
        column = SQL.identifier(field.name)
        self.env["res.partner"].flush_model([field.name, "active"])
        self.env.cr.execute(
            SQL(
                "SELECT id, %s FROM res_partner WHERE %s >= %s AND %s < %s AND active",
                column,
                column,
                (start - offset).date() if field.ttype == "date" else start - offset,
                column,
                (end - offset).date() + timedelta(days=1)
                if field.ttype == "date"
                else end - offset,
            )
        )
        occurrences = []
        for partner_id, value in self.env.cr.fetchall():
            moment = value if isinstance(value, datetime) else datetime.combine(value, time(0))
            due = moment + offset
            if start <= due < end:
                key = f"date:{field.name}:{value.isoformat()}"
                occurrences.append((partner_id, key, due, due + timedelta(days=7)))
        return occurrences

    def _occurrences_callback(self, start, end):
        """Requested callbacks due in [start, end); one occurrence per requested moment."""
        self.env["res.partner"].flush_model(["marketing_callback_at", "active"])
        self.env.cr.execute(
            SQL(
                """SELECT id, marketing_callback_at FROM res_partner
                WHERE marketing_callback_at >= %s AND marketing_callback_at < %s AND active""",
                start,
                end,
            )
        )
        return [
            (partner_id, f"callback:{at.isoformat()}", at, at + timedelta(days=2))
            for partner_id, at in self.env.cr.fetchall()
        ]
