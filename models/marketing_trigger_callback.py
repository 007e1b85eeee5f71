"""The complete callback scenario: "call me back at 10:00" on a contact, a lead or an
order gives, at 10:00, the salesperson a call activity and the customer today's offers
(two triggers of kind *Callback*, one occurrence); the moment the customer opens those
offers, the salesperson gets a live "call now" notice.

- **Where a callback is asked for.** ``marketing_callback_at`` on the contact (in
  ``res_partner.py``), on leads and on orders (here). A lead's or an order's callback is
  an occurrence of its customer, keyed ``callback_lead:<id>:<time>`` /
  ``callback_order:<id>:<time>``: its call activity lands on the lead or order, for its
  salesperson, and moving or clearing the time withdraws what was not sent yet.
- **Call now.** A trigger with ``notify_salesperson_on_engagement`` turns the first human
  open or click of one of its emails (machine opens never get here) into a sticky
  notification on Odoo's bus for the salesperson and an activity due today, in the
  request that recorded it: the contact is reading the email now, not when a cron
  wakes up. It goes to whoever got the call of the same occurrence, else the salesperson
  of the lead or order, of the contact, or the trigger's fallback assignee.
"""

import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# Occurrence key prefix of a record's callback -> its model and table.
CALLBACK_PAST_SLACK_MINUTES = 10
CALLBACK_RECORDS = {
    "callback_lead": ("crm.lead", "crm_lead", "AND active"),
    "callback_order": ("sale.order", "sale_order", "AND state != 'cancel'"),
}


def callback_record(occurrence_key):
    """(prefix, record id, moment text) of a lead's or order's callback key, else None.

    >>> callback_record("callback_lead:7:2026-03-10T10:00:00")
    ('callback_lead', 7, '2026-03-10T10:00:00')
    >>> callback_record("callback:2026-03-10T10:00:00") is None
    True
    """
    prefix, _sep, rest = (occurrence_key or "").partition(":")
    record_id, _sep, moment = rest.partition(":")
    if prefix not in CALLBACK_RECORDS or not record_id.isdigit() or not moment:
        return None
    return prefix, int(record_id), moment


class MarketingCallbackMixin(models.AbstractModel):
    """A record on which a salesperson notes "call back at": leads and orders."""

    _name = "marketing.trigger.callback.mixin"
    _description = "Callback requested on a record"

    marketing_callback_at = fields.Datetime(
        "Call back at",
        index="btree_not_null",
        copy=False,
        tracking=True,
        help="The customer asked to be called back then: an active Callback trigger gives "
        "the salesperson a call activity at that moment (and, if set up, the customer "
        "today's offers by email).",
    )

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if any(vals.get("marketing_callback_at") for vals in vals_list):
            self.env["marketing.trigger"]._callback_requested(records)
        return records

    def write(self, vals):
        result = super().write(vals)
        if vals.get("marketing_callback_at"):
            self.env["marketing.trigger"]._callback_requested(self)
        return result


def check_callback_not_past(records):
    """Refuse a callback time that has already passed (a few minutes of slack for the
    time it takes to fill in the form): nobody can be called back yesterday, and the
    time pass would never see it."""
    limit = fields.Datetime.now() - timedelta(minutes=CALLBACK_PAST_SLACK_MINUTES)
    for record in records:
        if record.marketing_callback_at and record.marketing_callback_at < limit:
            raise ValidationError(
                _(
                    "The callback time of %(name)s (%(at)s) has already passed: choose a "
                    "time from now on.",
                    name=record.display_name,
                    at=fields.Datetime.to_string(
                        fields.Datetime.context_timestamp(record, record.marketing_callback_at)
                    ),
                )
            )


class MarketingCallbackMixinCheck(models.AbstractModel):
    _inherit = "marketing.trigger.callback.mixin"

    @api.constrains("marketing_callback_at")
    def _check_marketing_callback_at(self):
        check_callback_not_past(self)


class ResPartnerCallback(models.Model):
    _inherit = "res.partner"

    @api.constrains("marketing_callback_at")
    def _check_marketing_callback_at(self):
        check_callback_not_past(self)


class CrmLead(models.Model):
    _name = "crm.lead"
    _inherit = ["crm.lead", "marketing.trigger.callback.mixin"]


class SaleOrder(models.Model):
    _name = "sale.order"
    _inherit = ["sale.order", "marketing.trigger.callback.mixin"]


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    notify_salesperson_on_engagement = fields.Boolean(
        "Call now on open",
        tracking=True,
        help="When a contact opens or clicks one of this trigger's emails for the first "
        "time (a person, not a mail proxy or scanner), the salesperson gets a sticky "
        "notification in Odoo at once and an activity due today: call now.",
    )

    # --------------------------------------------------- leads' and orders' callbacks

    def _occurrences_callback(self, start, end):
        occurrences = super()._occurrences_callback(start, end)
        for prefix, (model, table, condition) in CALLBACK_RECORDS.items():
            self.env[model].flush_model(["marketing_callback_at", "partner_id"])
            self.env.cr.execute(
                SQL(
                    """SELECT partner_id, id, marketing_callback_at FROM %s
                    WHERE marketing_callback_at >= %s AND marketing_callback_at < %s
                      AND partner_id IS NOT NULL %s""",
                    SQL.identifier(table),
                    start,
                    end,
                    SQL(condition),
                )
            )
            occurrences += [
                (partner_id, f"{prefix}:{record_id}:{at.isoformat()}", at, at + timedelta(days=2))
                for partner_id, record_id, at in self.env.cr.fetchall()
            ]
        return occurrences

    def _next_due_callback(self, after):
        moments = [super()._next_due_callback(after)]
        for model, table, condition in CALLBACK_RECORDS.values():
            self.env[model].flush_model(["marketing_callback_at", "partner_id"])
            self.env.cr.execute(
                SQL(
                    "SELECT MIN(marketing_callback_at) FROM %s "
                    "WHERE marketing_callback_at > %s AND partner_id IS NOT NULL %s",
                    SQL.identifier(table),
                    after,
                    SQL(condition),
                )
            )
            moments.append(self.env.cr.fetchone()[0])
        return min((m for m in moments if m), default=None)

    @api.model
    def _callback_moment(self, occurrence_key):
        found = callback_record(occurrence_key)
        if not found:
            return super()._callback_moment(occurrence_key)
        return super()._callback_moment(f"callback:{found[2]}")

    def _still_due(self, partner, occurrence_key):
        """A lead's or order's callback stands while it still asks for that moment."""
        found = callback_record(occurrence_key)
        if self.kind != "callback" or not found:
            return super()._still_due(partner, occurrence_key)
        prefix, record_id, moment = found
        model, _table, _condition = CALLBACK_RECORDS[prefix]
        record = self.env[model].sudo().browse(record_id).exists()
        at = record.marketing_callback_at if record else None
        return bool(at) and at.isoformat() == moment and record.partner_id == partner


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    def _occurrence_record(self):
        found = callback_record(self.occurrence_key)
        if found:
            model = CALLBACK_RECORDS[found[0]][0]
            record = self.env[model].sudo().browse(found[1]).exists()
            if record:
                return record
        return super()._occurrence_record()

    # ---------------------------------------------------------------- call now

    def _record_engagement(self, kind, when=None):
        """After the first human open (or a click, which proves it) of an email whose
        trigger asks for it, tell the salesperson: call now. Once per delivery."""
        first = self.filtered(
            lambda d: not d.opened_at and d.trigger_id.notify_salesperson_on_engagement
        )
        result = super()._record_engagement(kind, when)
        for delivery in first:
            delivery._notify_call_now()
        return result

    def _call_now_user(self):
        """Who calls: the user who got the call of the same occurrence, else the
        salesperson of the lead or order it is about, of the contact, or the trigger's
        fallback assignee."""
        self.ensure_one()
        call = self.sudo().search(
            [
                ("partner_id", "=", self.partner_id.id),
                ("occurrence_key", "=", self.occurrence_key),
                ("channel", "=", "phone"),
                ("activity_id", "!=", False),
            ],
            limit=1,
        )
        record = self._occurrence_record()
        owner = record.user_id if "user_id" in record._fields else None
        return (
            call.activity_id.user_id
            or owner
            or self.partner_id.user_id
            or self.trigger_id.activity_user_id
        )

    def _notify_call_now(self):
        """The salesperson's sticky bus notification and activity due today. Never
        fails the open or click request that calls it: a problem is logged."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                self._send_call_now()
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise  # the request is retried as a whole
        except Exception:  # noqa: BLE001 - the customer's open must be recorded anyway
            _logger.exception("The call-now notice of delivery %s could not be sent", self.id)

    def _send_call_now(self):
        delivery = self.sudo()
        user = delivery._call_now_user()
        if not user:
            _logger.info(
                "Delivery %s was opened but nobody is to call: no salesperson, no fallback",
                delivery.id,
            )
            return
        env = self.env(context=dict(self.env.context, lang=user.lang or self.env.lang))
        name = delivery.partner_id.name or ""
        what = (
            env._("the offers")
            if delivery.trigger_id.kind == "callback"
            else env._('"%(trigger)s"', trigger=delivery.trigger_id.name)
        )
        summary = env._("Call now — %(name)s just opened %(what)s", name=name, what=what)
        record = delivery._occurrence_record()
        phone = delivery.partner_id.mobile or delivery.partner_id.phone or ""
        note = env._(
            "%(name)s opened the email of the trigger %(trigger)s a moment ago%(phone)s.",
            name=name,
            trigger=delivery.trigger_id.name,
            phone=f" ({phone})" if phone else "",
        )
        activity = (
            env["mail.activity"]
            .sudo()
            .with_context(mail_activity_quick_update=True, mail_notify_force_send=False)
            .create(
                {
                    "res_model_id": env["ir.model"]._get_id(record._name),
                    "res_id": record.id,
                    "activity_type_id": (
                        delivery.trigger_id.activity_type_id
                        or env.ref("mail.mail_activity_data_call")
                    ).id,
                    "summary": summary,
                    "note": note,
                    "user_id": user.id,
                    "date_deadline": fields.Date.context_today(user.with_context(tz=user.tz)),
                }
            )
        )
        user._bus_send(
            "simple_notification",
            {
                "type": "warning",
                "sticky": True,
                "title": env._("Call now: %(name)s", name=name),
                "message": env._(
                    "Call now: %(name)s just opened %(what)s%(phone)s",
                    name=name,
                    what=what,
                    phone=f" — {phone}" if phone else "",
                ),
                # What a client needs to open the record (the activity links it too).
                "res_model": record._name,
                "res_id": record.id,
                "activity_id": activity.id,
            },
        )
