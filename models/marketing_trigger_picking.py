"""The delivery notice: *Days before the scheduled delivery*, on Odoo's own delivery
orders (``stock.picking``, outgoing, neither done nor cancelled).

A notice is due N days (at 9:00 in the customer's time zone) or N hours before the
picking's scheduled date. One occurrence per picking and scheduled date
(``picking:<id>:<YYYYMMDDHHMM>``): a rescheduled delivery gets a new notice, and a
notice still pending for the old date is not sent. The message is rendered on the
delivery order (its date, items and address) and carries the address-confirmation
link; a voice message carries a signed keypad callback for the gateway (see
``marketing_trigger_keypad``).
"""

import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo import _, api, fields, models
from odoo.tools import SQL

from .marketing_trigger_delay_units import UNITS
from .marketing_trigger_record import _date, _items, _local

_logger = logging.getLogger(__name__)

OPEN_PICKING_STATES = ("draft", "waiting", "confirmed", "assigned")
NOTICE_HOUR = 9  # a notice "N days before" goes out at 9:00 in the customer's time zone


def picking_key(picking_id, scheduled):
    return f"picking:{picking_id}:{scheduled.strftime('%Y%m%d%H%M')}"


def notice_moment(scheduled, lead, unit, tz_name):
    """When the notice of a delivery scheduled at ``scheduled`` (naive UTC) is due:
    ``lead`` hours before, or at 9:00 local time ``lead`` days before its local day.

    >>> notice_moment(datetime(2026, 3, 12, 13, 0), 2, "days", "Europe/Berlin")
    datetime.datetime(2026, 3, 10, 8, 0)
    >>> notice_moment(datetime(2026, 3, 12, 13, 0), 6, "hours", "Europe/Berlin")
    datetime.datetime(2026, 3, 12, 7, 0)
    """
    if unit == "hours":
        return scheduled - timedelta(hours=lead)
    try:
        zone = ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local_day = scheduled.replace(tzinfo=UTC).astimezone(zone).date() - timedelta(days=lead)
    local = datetime.combine(local_day, time(NOTICE_HOUR), tzinfo=zone)
    return local.astimezone(UTC).replace(tzinfo=None)


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    delivery_lead = fields.Integer(
        "Before the delivery",
        default=2,
        help="How long before the scheduled delivery the notice goes out: days (at 9:00 "
        "in the customer's time zone) or hours.",
    )
    delivery_lead_unit = fields.Selection(
        UNITS, default="days", string="Unit of the delivery lead time"
    )

    _sql_constraints = [
        (
            "delivery_lead_check",
            "CHECK(delivery_lead IS NULL OR delivery_lead >= 0)",
            "The time before the delivery cannot be negative.",
        ),
    ]

    @api.model
    def _kinds(self):
        return super()._kinds() + [("delivery_scheduled", _("Days before the scheduled delivery"))]

    @api.model
    def _time_kinds(self):
        return super()._time_kinds() + ["delivery_scheduled"]

    def _delivery_lead_span(self):
        self.ensure_one()
        lead = max(self.delivery_lead or 0, 0)
        # Enough to cover a day's lead in any time zone (the notice is at 9:00 local).
        return (
            timedelta(days=lead + 2) if self.delivery_lead_unit == "days" else timedelta(hours=lead)
        )

    def _occurrences_delivery_scheduled(self, start, end):
        """(partner id, key, earliest, latest) of the notices due before ``end`` whose
        delivery is still ahead: those due in [start, end), and those whose moment
        passed while the delivery was rescheduled closer (sent at once). The customer
        is the order's (else the delivery contact's commercial contact); the latest
        moment is the delivery itself."""
        self.ensure_one()
        default_tz = self.env.user.tz  # read before the query: reading it may query too
        # The scheduled date is computed from the moves' dates: flush both.
        self.env["stock.move"].flush_model(["date", "state"])
        self.env["stock.picking"].flush_model(
            ["scheduled_date", "state", "partner_id", "sale_id", "company_id"]
        )
        self.env.cr.execute(
            SQL(
                """SELECT p.id, p.scheduled_date, COALESCE(so.partner_id, cp.commercial_partner_id),
                       COALESCE(NULLIF(rp.tz, ''), NULLIF(cp.tz, ''))
                FROM stock_picking p
                JOIN stock_picking_type t ON t.id = p.picking_type_id
                LEFT JOIN sale_order so ON so.id = p.sale_id
                LEFT JOIN res_partner cp ON cp.id = p.partner_id
                LEFT JOIN res_partner rp
                       ON rp.id = COALESCE(so.partner_id, cp.commercial_partner_id)
                WHERE t.code = 'outgoing' AND p.state IN %s AND p.company_id = %s
                  AND p.scheduled_date > %s AND p.scheduled_date < %s""",
                OPEN_PICKING_STATES,
                self.company_id.id,
                max(start, fields.Datetime.now()),
                end + self._delivery_lead_span(),
            )
        )
        rows = self.env.cr.fetchall()
        occurrences = []
        for picking_id, scheduled, partner_id, tz_name in rows:
            if not partner_id:
                continue
            due = notice_moment(
                scheduled, self.delivery_lead or 0, self.delivery_lead_unit, tz_name or default_tz
            )
            if due < end:
                occurrences.append(
                    (partner_id, picking_key(picking_id, scheduled), max(due, start), scheduled)
                )
        return occurrences

    def _next_due_delivery_scheduled(self, after):
        """When the next notice falls due after ``after``, at the earliest (one MIN)."""
        self.ensure_one()
        self.env["stock.move"].flush_model(["date", "state"])
        self.env["stock.picking"].flush_model(["scheduled_date", "state", "company_id"])
        self.env.cr.execute(
            SQL(
                """SELECT MIN(p.scheduled_date) FROM stock_picking p
                JOIN stock_picking_type t ON t.id = p.picking_type_id
                WHERE t.code = 'outgoing' AND p.state IN %s AND p.company_id = %s
                  AND p.scheduled_date > %s""",
                OPEN_PICKING_STATES,
                self.company_id.id,
                after + self._delivery_lead_span(),
            )
        )
        scheduled = self.env.cr.fetchone()[0]
        if not scheduled:
            return None
        return max(
            notice_moment(
                scheduled, self.delivery_lead or 0, self.delivery_lead_unit, self.env.user.tz
            )
            - timedelta(hours=14),  # any customer's time zone: look a little early
            after + timedelta(minutes=1),
        )

    def _still_due(self, partner, occurrence_key):
        """A notice stands while its delivery is open and still scheduled for the date
        it names (a rescheduled delivery has a new notice)."""
        if self.kind == "delivery_scheduled":
            parts = occurrence_key.split(":")
            if len(parts) != 3 or not parts[1].isdigit():
                return False
            picking = self.env["stock.picking"].sudo().browse(int(parts[1])).exists()
            return (
                bool(picking)
                and picking.state in OPEN_PICKING_STATES
                and bool(picking.scheduled_date)
                and picking_key(picking.id, picking.scheduled_date) == occurrence_key
            )
        return super()._still_due(partner, occurrence_key)


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _marketing_text_values(self, partner):
        scheduled = self.scheduled_date
        local = _local(scheduled, partner) if scheduled else None
        moves = self.move_ids.filtered(lambda m: m.state != "cancel")
        address = self.partner_id or partner
        return {
            "delivery": {
                "name": self.name or "",
                "date": _date(self.env, scheduled, partner),
                "time": local.strftime("%H:%M") if local else "",
                "contents": _items(moves, "product_uom_qty"),
                "address": address._display_address(without_company=True).replace("\n", ", ")
                if address
                else "",
                "order": self.sale_id.name or self.origin or "",
            }
        }

    def write(self, vals):
        result = super().write(vals)
        if "scheduled_date" in vals or "state" in vals:
            self._marketing_schedule_notices()
        return result

    @api.model_create_multi
    def create(self, vals_list):
        pickings = super().create(vals_list)
        pickings._marketing_schedule_notices()
        return pickings

    def _marketing_schedule_notices(self):
        """A (re)scheduled delivery asks the time-trigger pass for the moment its notice
        falls due, so it goes out then and not at the next hourly pass. Never blocks
        the delivery order."""
        outgoing = self.filtered(
            lambda p: p.picking_type_code == "outgoing"
            and p.state in OPEN_PICKING_STATES
            and p.scheduled_date
        )
        if not outgoing:
            return
        try:
            triggers = (
                self.env["marketing.trigger"]
                .sudo()
                .search(
                    [
                        ("kind", "=", "delivery_scheduled"),
                        ("state", "=", "active"),
                        ("company_id", "in", outgoing.company_id.ids),
                    ]
                )
            )
            moments = [
                notice_moment(
                    picking.scheduled_date,
                    trigger.delivery_lead or 0,
                    trigger.delivery_lead_unit,
                    (picking.sale_id.partner_id or picking.partner_id).tz or self.env.user.tz,
                )
                for trigger in triggers
                for picking in outgoing
            ]
            if moments:
                self.env["marketing.trigger"]._schedule_time_pass(moments[:50])
        except Exception:  # noqa: BLE001 - marketing never blocks a delivery order
            _logger.exception("Delivery notices of pickings %s could not be scheduled", self.ids)


class MarketingTriggerDelivery(models.Model):
    """The address check of a delivery notice works on the delivery order itself: the
    page shows its address, a correction moves the picking to the corrected address
    while it has not left, and the activity goes to the picking's responsible (else the
    salesperson)."""

    _inherit = "marketing.trigger.delivery"

    def _notice_picking(self):
        self.ensure_one()
        if self.trigger_id.kind != "delivery_scheduled":
            return self.env["stock.picking"]
        return self._render_record()

    def _delivery_address(self):
        picking = self._notice_picking()
        if picking and picking.partner_id:
            return picking.partner_id.sudo()
        return super()._delivery_address()

    def _correct_address(self, address, values):
        picking = self._notice_picking().sudo()
        if not picking:
            return super()._correct_address(address, values)
        is_open = picking.state in OPEN_PICKING_STATES
        if is_open and address == picking.partner_id and address != self.partner_id:
            # The open picking's own delivery contact: correct it in place.
            address = super()._correct_address(address, values)
        else:
            # A new delivery contact: a delivery that left keeps the address it had.
            address = super()._correct_address(self.partner_id, values)
        if is_open:
            if picking.partner_id != address:
                picking.partner_id = address
            picking.message_post(
                body=_(
                    "The customer corrected the delivery address: %(address)s",
                    address=address._display_address(without_company=True),
                ),
                subtype_xmlid="mail.mt_note",
            )
        return address

    def _address_activity_target(self):
        picking = self._notice_picking()
        if not picking:
            return super()._address_activity_target()
        user = (
            picking.user_id
            or picking.sale_id.user_id
            or self.partner_id.user_id
            or self.trigger_id.activity_user_id
        )
        return picking, user

    def _address_thanks(self, corrected):
        picking = self._notice_picking()
        if corrected and picking and picking.state not in OPEN_PICKING_STATES:
            return _(
                "Thank you: your address is updated for your next orders. This delivery "
                "has already left us; we will contact you about it."
            )
        return super()._address_thanks(corrected)
