"""Time-based trigger kinds: occurrences found with set-based SQL for a time span, so
the scheduler can evaluate them and the forecast can replay them ahead of time."""

import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo import _, api, fields, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL, split_every

_logger = logging.getLogger(__name__)

DECIDE_BATCH = 5000  # candidates decided and written per round trip
TIME_PASS_LOCK = 0x6D74  # advisory lock namespace of the time-trigger pass ("mt")


def _is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _local_day_bounds(day, tz_name):
    """The UTC moments (naive) at which ``day`` starts and ends in ``tz_name``."""
    try:
        zone = ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    start = datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end.astimezone(UTC).replace(tzinfo=None) - timedelta(seconds=1)


def yearly_occurrences(env, date_sql, start, end, prefix, mmdd_column=None, min_years=0):
    """(partner id, "<prefix>:<year>", earliest, latest) for the yearly return of the
    contacts' date ``date_sql`` whose local day starts in [start, end).

    29 February is celebrated on 28 February in other years; ``min_years`` skips the
    date's own year (an anniversary starts one year after). ``mmdd_column`` names an
    indexed month*100+day column to use instead of computing it from the date.
    """
    first, last = start.date() - timedelta(days=1), end.date() + timedelta(days=1)
    days_by_mmdd = {}
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        days_by_mmdd.setdefault(day.month * 100 + day.day, []).append(day)
        if day.month == 2 and day.day == 28 and not _is_leap(day.year):
            days_by_mmdd.setdefault(229, []).append(day)
    default_tz = env.user.tz  # read before the query: reading it may query too
    mmdd = mmdd_column or SQL(
        "(EXTRACT(MONTH FROM %s) * 100 + EXTRACT(DAY FROM %s))::int", date_sql, date_sql
    )
    env.cr.execute(
        SQL(
            """SELECT id, tz, %s, EXTRACT(YEAR FROM %s)::int FROM res_partner
            WHERE %s = ANY(%s) AND %s IS NOT NULL AND active""",
            mmdd,
            date_sql,
            mmdd,
            list(days_by_mmdd),
            date_sql,
        )
    )
    occurrences = []
    rows = env.cr.fetchall()
    for partner_id, tz_name, month_day, year in rows:
        for day in days_by_mmdd[month_day]:
            if day.year < year + min_years:
                continue
            earliest, latest = _local_day_bounds(day, tz_name or default_tz)
            if start <= earliest < end:
                occurrences.append((partner_id, f"{prefix}:{day.year}", earliest, latest))
    return occurrences


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    is_time_based = fields.Boolean(compute="_compute_is_time_based", store=True)

    @api.model
    def _kinds(self):
        return super()._kinds() + [("birthday", _("Birthday"))]

    @api.model
    def _time_kinds(self):
        return super()._time_kinds() + ["birthday"]

    @api.depends("kind")
    def _compute_is_time_based(self):
        time_kinds = self._time_kinds()
        for trigger in self:
            trigger.is_time_based = trigger.kind in time_kinds

    # ----------------------------------------------------------- occurrences

    def _occurrences_birthday(self, start, end):
        """(partner id, key, earliest, latest) for birthdays between ``start`` and ``end``.

        A birthday is the partner's local calendar day; 29 February is celebrated on
        28 February in other years. One occurrence per year: ``birthday:<year>``.
        """
        self.env["res.partner"].flush_model(
            ["marketing_birthdate", "marketing_birthday_mmdd", "tz", "active"]
        )
        return yearly_occurrences(
            self.env,
            SQL("marketing_birthdate"),
            start,
            end,
            "birthday",
            mmdd_column=SQL("marketing_birthday_mmdd"),
        )

    def _time_candidates(self, start, end, skip_decided=True):
        """This trigger's candidates whose occurrence starts in [start, end)."""
        self.ensure_one()
        occurrences = getattr(self, f"_occurrences_{self.kind}")(start, end)
        if not occurrences:
            return []
        Partner = self.env["res.partner"].sudo()
        matching = set(
            Partner.search(
                [("id", "in", list({o[0] for o in occurrences}))] + self._partner_domain()
            ).ids
        )
        candidates = [
            self._candidate(Partner.browse(pid), key, earliest, latest)
            for pid, key, earliest, latest in occurrences
            if pid in matching
        ]
        if skip_decided and candidates:
            decided = self.env["marketing.trigger.decision"]._decided_keys(candidates)
            candidates = [c for c in candidates if c.key not in decided]
        return candidates

    def _evaluate_time(self, start, end, now):
        """Decide this trigger's occurrences in [start, end); kinds that hand out their
        occurrences in batches are asked again until they have none left."""
        self.ensure_one()
        Decision = self.env["marketing.trigger.decision"]
        for _round in range(10000):
            candidates = self._time_candidates(start, end)
            for batch in split_every(DECIDE_BATCH, candidates, list):
                Decision._decide_and_apply(batch, now)
            if self.kind not in self._batched_kinds() or not candidates:
                return
            # Let the batch go: decisions are written, the ORM cache need not keep them.
            self.env.invalidate_all()

    @api.model
    def _batched_kinds(self):
        """Time kinds whose ``_occurrences_<kind>`` return one batch of what is left."""
        return ["segment_entered"]

    # ------------------------------------------------------------ scheduler

    def action_activate(self):
        """Activating a time-based trigger sweeps at once, in the background (the time
        cron is asked for now), instead of waiting for the next hourly pass."""
        result = super().action_activate()
        timed = self.filtered("is_time_based")
        if not timed:
            return result
        self._schedule_time_pass()
        message = _(
            "Activated. Contacts who qualify now are being looked for in the background; "
            "their messages follow within a minute or two."
        )
        for trigger in timed:
            trigger.message_post(body=message)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "message": message,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _schedule_time_pass(self, moments=None):
        """Ask for an evaluation pass at each of ``moments`` (default: now), one
        ``ir.cron.trigger`` row per moment: a moment already asked for is not asked
        again, nor "now" while a due request is still waiting."""
        cron = self.env.ref("marketing_trigger.ir_cron_time_triggers", raise_if_not_found=False)
        if not cron:
            return
        now = fields.Datetime.now()
        wanted = {max(at, now).replace(microsecond=0) for at in (moments or [now]) if at}
        if not wanted:
            return
        Trigger = self.env["ir.cron.trigger"].sudo()
        Trigger.flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT call_at FROM ir_cron_trigger
                WHERE cron_id = %s AND (call_at = ANY(%s) OR call_at <= %s)""",
                cron.id,
                list(wanted),
                now,
            )
        )
        asked = {row[0] for row in self.env.cr.fetchall()}
        if any(at <= now for at in asked):
            wanted = {at for at in wanted if at > now}
        wanted -= asked
        if wanted:
            cron.sudo()._trigger(at=sorted(wanted))

    def _next_due(self, after):
        """The earliest moment after ``after`` at which one of these triggers has an
        occurrence due, as far as its kind knows it cheaply (``_next_due_<kind>``), or
        None."""
        moments = []
        for trigger in self:
            method = getattr(trigger, f"_next_due_{trigger.kind}", None)
            moment = method(after) if method else None
            if moment:
                moments.append(moment)
        return min(moments, default=None)

    def _try_lock_time_pass(self):
        """Whether this run may evaluate this trigger now (no other job is at it)."""
        self.ensure_one()
        self.env.cr.execute(
            SQL("SELECT pg_try_advisory_xact_lock(%s, %s)", TIME_PASS_LOCK, self.id)
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _cron_evaluate_time_triggers(self):
        """Offer today's and tomorrow's occurrences of every active time-based trigger.

        Occurrences already decided are left out, so running often costs little; a
        message whose day has not begun yet is scheduled for then.
        """
        now = fields.Datetime.now()
        triggers = self.sudo().search(
            [("state", "=", "active"), ("kind", "in", self._time_kinds())]
        )
        for trigger in triggers:
            # Parallel jobs share the triggers: one evaluates a trigger while another
            # takes the next (the lock ends with the run's transaction). A second pass
            # over the same trigger would decide nothing twice anyway (the decision log
            # refuses a decided occurrence), but it would cost the same queries.
            if not trigger._try_lock_time_pass():
                continue
            try:
                with self.env.cr.savepoint():
                    trigger._evaluate_time(now - timedelta(days=1), now + timedelta(days=1), now)
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                raise  # retried by the next run, not the trigger's fault
            except Exception as exc:  # noqa: BLE001 - one trigger must not stop the others
                _logger.exception("Time-based trigger %s failed", trigger.id)
                trigger.write({"state": "paused", "last_error": f"{type(exc).__name__}: {exc}"})
        # Act when due: the next pass runs at the next known due moment, not an hour on.
        active = triggers.filtered(lambda t: t.state == "active")
        next_due = active._next_due(fields.Datetime.now())
        if next_due:
            self._schedule_time_pass([next_due])
