"""Date-relative trigger kinds: N days before or after a date on the contact (contract
end − 30 days, last order + 90 days), and callbacks at the moment a customer asked to be
called back. Occurrences are found with one indexed range query per span."""

import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL, format_date

_logger = logging.getLogger(__name__)


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    date_field_id = fields.Many2one(
        "ir.model.fields",
        string="Date field",
        ondelete="cascade",
        domain="[('model', '=', 'res.partner'), ('ttype', 'in', ('date', 'datetime')), "
        "('store', '=', True), ('name', 'not in', ('create_date', 'write_date', "
        "'message_last_post', 'signup_expiration', 'date_localization', "
        "'marketing_last_activity_at', 'marketing_callback_at'))]",
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

    def _next_due_callback(self, after):
        """The earliest requested callback after ``after`` (one indexed MIN)."""
        self.env["res.partner"].flush_model(["marketing_callback_at", "active"])
        self.env.cr.execute(
            SQL(
                """SELECT MIN(marketing_callback_at) FROM res_partner
                WHERE marketing_callback_at > %s AND active""",
                after,
            )
        )
        return self.env.cr.fetchone()[0]

    def _next_due_date_offset(self, after):
        """The earliest date plus offset after ``after`` (one indexed MIN)."""
        self.ensure_one()
        field = self.date_field_id
        if not field:
            return None
        offset = (
            timedelta(hours=self.date_offset_days)
            if self.date_offset_unit == "hours"
            else timedelta(days=self.date_offset_days)
        )
        column = SQL.identifier(field.name)
        bound = (after - offset).date() if field.ttype == "date" else after - offset
        self.env["res.partner"].flush_model([field.name, "active"])
        self.env.cr.execute(
            SQL("SELECT MIN(%s) FROM res_partner WHERE %s > %s AND active", column, column, bound)
        )
        value = self.env.cr.fetchone()[0]
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.combine(value, time(0))
        return moment + offset

    @api.model
    def _callback_requested(self, partners):
        """Ask for a time pass at each callback moment of ``partners``, so the callback
        fires when asked for rather than on the next hourly pass. Costs nothing when no
        callback trigger is active."""
        try:
            Event = self.env["marketing.trigger.event"]
            partners = partners.sudo()
            companies = {p.company_id.id or self.env.company.id for p in partners}
            if not any(Event._has_active_trigger("callback", cid) for cid in companies):
                return
            moments = {p.marketing_callback_at for p in partners if p.marketing_callback_at}
            if moments:
                self._schedule_time_pass(moments)
        except Exception:  # noqa: BLE001 - saving the contact must not fail; hourly pass
            _logger.exception("The callback pass could not be scheduled")

    def _still_due(self, partner, occurrence_key):
        """A callback stands while the contact still asks for that moment (moved or
        cleared: the old one is not called)."""
        if self.kind == "callback" and occurrence_key.startswith("callback:"):
            at = partner.sudo().marketing_callback_at
            return bool(at) and f"callback:{at.isoformat()}" == occurrence_key
        return super()._still_due(partner, occurrence_key)

    @api.model
    def _callback_moment(self, occurrence_key):
        """The moment a callback occurrence key names ("callback:<UTC time>"), or None."""
        prefix, _sep, moment = (occurrence_key or "").partition(":")
        if prefix != "callback":
            return None
        try:
            return datetime.fromisoformat(moment)
        except ValueError:
            return None

    def _activity_values(self, delivery, user, values):
        """The activity of ``delivery`` for ``user``, in the salesperson's words: a
        callback says when the contact asked to be called (in ``user``'s time zone; the
        time is the point, so it replaces the configured summary) and is due that day."""
        at = self._callback_moment(delivery.occurrence_key) if self.kind == "callback" else None
        if not at:
            return values
        try:
            zone = ZoneInfo(user.tz or self.env.user.tz or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        local = at.replace(tzinfo=UTC).astimezone(zone)
        env = self.env(context=dict(self.env.context, lang=user.lang or self.env.lang))
        name = delivery.partner_id.name
        clock = local.strftime("%H:%M")
        asked = env._("asked to be called back at %(time)s", time=clock)
        note = env._(
            "%(name)s asked to be called back at %(time)s on %(day)s.",
            name=name,
            time=clock,
            day=format_date(env, local.date()),
        )
        summary = env._("Call back %(name)s — %(asked)s", name=name, asked=asked)
        return dict(values, summary=summary, note=note, date_deadline=local.date())
