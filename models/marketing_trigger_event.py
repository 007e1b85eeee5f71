"""The event queue between business saves and trigger evaluation.

A save (a contact registered, an order confirmed) only inserts a row here and asks for
the event cron; Odoo notifies the cron workers *after* the transaction commits, so a
rolled-back save never fires and the user's save pays for one INSERT, not for the
decisions. The cron claims events with ``FOR UPDATE SKIP LOCKED``, so several workers
share the queue, and evaluates them per kind and trigger.
"""

import hmac
import json
import logging
import math
import secrets
import threading
import time
from datetime import timedelta

import psycopg2
from odoo import api, fields, models, sql_db, tools
from odoo.addons.base.models.ir_cron import ODOO_NOTIFY_FUNCTION
from odoo.tools import SQL, email_normalize

from .marketing_trigger_tracking import record_id

_logger = logging.getLogger(__name__)

EVENT_BATCH = 2000  # events claimed at most at once
EVENT_CHUNK = 20  # events claimed first in a run, before their cost is known
# A run (one transaction) stops claiming events after about this long, so that what it
# decided shows within about that long under load; Odoo re-runs it while events remain.
# Shorter runs pay their fixed cost too often (bench click_to_activity under load: p95
# 16 s with 0.5 s runs, 12 s with 1 s or 2 s runs).
EVENT_RUN_SECONDS = 1.0
WAKE_INTERVAL = 1.0  # seconds between two wake-up notifications per database

_wake_lock = threading.Lock()
_last_wake = {}  # dbname -> monotonic time of the last notification
_wake_pending = set()  # dbnames with a trailing notification scheduled


def _send_notification(dbname):
    with _wake_lock:
        _wake_pending.discard(dbname)
        _last_wake[dbname] = time.monotonic()
    try:
        with sql_db.db_connect("postgres").cursor() as cr:
            cr.execute(
                SQL("SELECT %s('cron_trigger', %s)", SQL.identifier(ODOO_NOTIFY_FUNCTION), dbname)
            )
    except Exception:  # noqa: BLE001 - the cron's own polling still picks the work up
        _logger.warning("Could not notify the cron workers of database %s", dbname, exc_info=True)


def _notify_cron_workers(dbname):
    """Wake the cron workers now, or, if they were woken less than a second ago, once
    more when that second is over."""
    with _wake_lock:
        elapsed = time.monotonic() - _last_wake.get(dbname, 0.0)
        if elapsed >= WAKE_INTERVAL:
            _last_wake[dbname] = time.monotonic()
            now = True
        elif dbname in _wake_pending:
            return
        else:
            _wake_pending.add(dbname)
            timer = threading.Timer(WAKE_INTERVAL - elapsed, _send_notification, [dbname])
            timer.daemon = True
            timer.start()
            return
    if now:
        _send_notification(dbname)


KEEP_INBOUND_DAYS = 30
# Compared against when the trigger is unknown, so that it costs what a wrong secret costs.
UNKNOWN_TRIGGER_SECRET = secrets.token_urlsafe(32)
MAX_JSON_DEPTH = 32


def _refuse_number(text):
    raise ValueError(f"{text} is not a number JSON can carry")


def _finite(text):
    value = float(text)
    if not math.isfinite(value):
        _refuse_number(text)
    return value


def _load_json(body):
    """(document, None) for an inbound body, or (None, the reason it is refused): not
    JSON; NaN, Infinity or a number too large for a float (1e400); nested deeper than
    MAX_JSON_DEPTH; text PostgreSQL cannot store (NUL, unpaired surrogates)."""
    try:
        data = json.loads(body or b"{}", parse_constant=_refuse_number, parse_float=_finite)
    except RecursionError:
        return None, f"The body is nested deeper than {MAX_JSON_DEPTH} levels."
    except ValueError as error:  # UnicodeDecodeError included
        return None, f"The body is not valid JSON: {str(error)[:200]}"
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return None, f"The body is nested deeper than {MAX_JSON_DEPTH} levels."
        if isinstance(value, dict):
            stack.extend((item, depth) for item in value)  # the keys
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and ("\x00" in value or not _encodable(value)):
            return None, "The body contains a NUL character or an unpaired surrogate."
    return data, None


def _encodable(text):
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


class MarketingTriggerEvent(models.Model):
    _name = "marketing.trigger.event"
    _description = "Marketing Trigger Event"
    _order = "id desc"
    _rec_name = "kind"

    kind = fields.Char(required=True, index=True, readonly=True)
    res_model = fields.Char("Model", required=True, readonly=True)
    res_id = fields.Many2oneReference("Record", model_field="res_model", readonly=True)
    trigger_id = fields.Many2one(
        "marketing.trigger",
        ondelete="cascade",
        readonly=True,
        help="Set for events meant for one trigger only (inbound webhook calls).",
    )
    partner_id = fields.Many2one("res.partner", ondelete="cascade", readonly=True)
    company_id = fields.Many2one(
        "res.company",
        readonly=True,
        index=True,
        help="The company of the record (or of the inbound trigger) the event is about.",
    )
    external_ref = fields.Char(
        "External reference",
        readonly=True,
        help="The caller's id of an inbound event: a second call with the same id is the "
        "same occurrence.",
    )
    payload = fields.Json(readonly=True)
    state = fields.Selection(
        [("pending", "Pending"), ("done", "Done")],
        default="pending",
        required=True,
        index=True,
        readonly=True,
    )

    # Concurrent calls with one event id: the queue holds one event, the others
    # answer "duplicate". NULLs are distinct: events without a caller's id never clash.
    _sql_constraints = [
        (
            "inbound_event_uniq",
            "UNIQUE(trigger_id, external_ref)",
            "This event was already received for this trigger.",
        )
    ]

    # ---------------------------------------------------------------- queue

    @api.model
    @tools.ormcache("kind", "company_id")
    def _has_active_trigger(self, kind, company_id):
        """Whether an active trigger of ``kind`` exists in the company (cached; the
        cache is cleared whenever a trigger is saved)."""
        self.env["marketing.trigger"].flush_model(["kind", "state", "active", "company_id"])
        self.env.cr.execute(
            SQL(
                """SELECT 1 FROM marketing_trigger
                WHERE kind = %s AND state = 'active' AND active AND company_id = %s LIMIT 1""",
                kind,
                company_id,
            )
        )
        return bool(self.env.cr.rowcount)

    @api.model
    def _enqueue(self, kind, records):
        """Queue ``records`` for the active triggers of ``kind``; evaluated after commit.

        Costs one cached lookup when no trigger of the kind is active, and one INSERT
        otherwise. Never raises: a trigger must not block the business action.
        """
        if not records or self.env.context.get("marketing_trigger_disable"):
            return
        try:
            companies = {
                (r.company_id.id if "company_id" in r._fields and r.company_id else None)
                for r in records
            }
            company_ids = {cid or self.env.company.id for cid in companies}
            if not any(self._has_active_trigger(kind, cid) for cid in company_ids):
                return
            with self.env.cr.savepoint(flush=False):
                self._insert_events(kind, records)
            self._wake()
        except Exception:
            _logger.exception("Marketing events of kind %s could not be queued", kind)

    @api.model
    def _insert_events(self, kind, records):
        has_company = "company_id" in records._fields
        companies = [
            (r.company_id.id if has_company else None) or self.env.company.id for r in records
        ]
        self.env.cr.execute(
            SQL(
                """INSERT INTO marketing_trigger_event
                        (kind, res_model, res_id, company_id, state, create_uid, create_date,
                         write_uid, write_date)
                    SELECT %s, %s, r, c, 'pending', %s, now() at time zone 'utc',
                           %s, now() at time zone 'utc'
                    FROM unnest(%s::int[], %s::int[]) AS t(r, c)""",
                kind,
                records._name,
                self.env.uid,
                self.env.uid,
                records.ids,
                companies,
            )
        )

    @api.model_create_multi
    def create(self, vals_list):
        triggers = self.env["marketing.trigger"].sudo().with_context(active_test=False)
        for vals in vals_list:
            if not vals.get("company_id") and vals.get("trigger_id"):
                vals["company_id"] = triggers.browse(vals["trigger_id"]).company_id.id
        return super().create(vals_list)

    @api.model
    def _wake(self):
        """Ask for the event cron once the transaction commits (not at all if it rolls
        back): a due ``ir_cron_trigger`` row, written with one INSERT, and a wake-up
        notification to the cron workers, at most one per second and database from
        this process (a burst of clicks wakes the cron once, and the last one of the
        burst still within about a second)."""
        cron_id = self.env["ir.model.data"]._xmlid_to_res_id(
            "marketing_trigger.ir_cron_process_events"
        )
        self.env.cr.execute(
            SQL(
                """INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date,
                    write_uid, write_date)
                VALUES (%s, now() at time zone 'utc', %s, now() at time zone 'utc', %s,
                    now() at time zone 'utc')""",
                cron_id,
                self.env.uid,
                self.env.uid,
            )
        )
        dbname = self.env.cr.dbname
        self.env.cr.postcommit.add(lambda: _notify_cron_workers(dbname))

    # ------------------------------------------------------------- inbound

    @api.model
    def _receive_inbound(self, trigger_id, secret, body):
        """Accept one inbound call to trigger ``trigger_id``: (HTTP status, JSON answer).

        Body: {"partner": {"id": 7} | {"email": "..."} | {"ref": "..."},
        "event_id": "caller's id (optional, makes retries safe)", "payload": {...}}.
        An unknown trigger and a wrong secret get the same answer after the same work
        (one query, one constant-time comparison), so callers cannot probe for trigger
        ids, not even by timing.
        """
        self.env["marketing.trigger"].flush_model(["kind", "state", "webhook_secret"])
        self.env.cr.execute(
            SQL(
                """SELECT kind = 'inbound', state, webhook_secret
                FROM marketing_trigger WHERE id = %s""",
                trigger_id,
            )
        )
        is_inbound, state, expected = self.env.cr.fetchone() or (False, None, None)
        known = bool(is_inbound and expected)
        # An empty secret never matches; an unknown trigger is compared all the same.
        matches = hmac.compare_digest(
            secret.encode(), (expected if known else UNKNOWN_TRIGGER_SECRET).encode()
        )
        if not (secret and known and matches):
            return 403, {"error": "Unknown trigger or wrong secret."}
        # Authenticated: from here on we act for the trigger.
        if state != "active":
            return 409, {"error": "The trigger is not active."}
        trigger = self.env["marketing.trigger"].sudo().browse(trigger_id)
        data, error = _load_json(body)
        if error:
            return 400, {"error": error}
        if not isinstance(data, dict):
            return 400, {"error": "The body must be a JSON object."}
        reference, payload = data.get("partner"), data.get("payload", {})
        event_ref = data.get("event_id")
        if not isinstance(reference, dict) or not ({"id", "email", "ref"} & set(reference)):
            return 400, {"error": 'Name the contact: "partner": {"id" | "email" | "ref": ...}.'}
        if not isinstance(payload, dict):
            return 400, {"error": '"payload" must be a JSON object.'}
        if event_ref is not None and (
            not isinstance(event_ref, str | int)
            or isinstance(event_ref, bool)
            or len(str(event_ref)) > 128
        ):
            return 400, {"error": '"event_id" must be a string of at most 128 characters.'}
        partner = self._inbound_partner(trigger, reference)
        if not partner:
            return 404, {"error": "No contact matches this reference."}
        event_ref = str(event_ref) if event_ref is not None else False
        if event_ref:
            known = self._inbound_duplicate(trigger, event_ref)
            if known:
                return 200, {"status": "duplicate", "event": known.id}
        values = {
            "kind": "inbound",
            "res_model": "res.partner",
            "res_id": partner.id,
            "partner_id": partner.id,
            "trigger_id": trigger.id,
            "external_ref": event_ref,
            "payload": payload,
        }
        try:
            with self.env.cr.savepoint():
                event = self.sudo().create(values)
        except psycopg2.errors.UniqueViolation:
            # A concurrent call with the same event id committed first (the unique
            # constraint, not this method, makes the queue hold one event).
            known = self._inbound_duplicate(trigger, event_ref)
            return 200, {"status": "duplicate", "event": known.id or None}
        self._wake()
        return 202, {"status": "accepted", "event": event.id}

    @api.model
    def _inbound_duplicate(self, trigger, event_ref):
        return self.sudo().search(
            [("trigger_id", "=", trigger.id), ("external_ref", "=", event_ref)], limit=1
        )

    @api.model
    def _inbound_partner(self, trigger, reference):
        """The one contact of the trigger's company that ``reference`` names, or none."""
        Partner = self.env["res.partner"].sudo()
        company = [("company_id", "in", (False, trigger.company_id.id))]
        if reference.get("id") is not None:
            partner_id = record_id(reference["id"])
            if not partner_id:
                return Partner
            return Partner.search([("id", "=", partner_id)] + company, limit=1)
        email, ref = reference.get("email"), reference.get("ref")
        if email and isinstance(email, str):
            email = email_normalize(email)
            if not email:
                return Partner
            return Partner.search([("email_normalized", "=", email)] + company, order="id", limit=1)
        if ref and isinstance(ref, str | int) and not isinstance(ref, bool):
            return Partner.search([("ref", "=", str(ref))] + company, limit=1)
        return Partner

    # ------------------------------------------------------------- process

    @api.model
    def _cron_process_events(self, batch_size=EVENT_BATCH, seconds=EVENT_RUN_SECONDS):
        """Evaluate queued events until the queue is empty or about ``seconds`` have
        passed, then commit: what a run decided (the salesperson's activities
        included) shows within about that long, even under load. The first chunk is
        small; the next ones are sized by the time an event took so far, up to
        ``batch_size``. While events remain, Odoo runs the cron again at once (progress
        API) and the cron workers are notified, so there is no idle gap between runs."""
        started, done, size = time.monotonic(), 0, min(EVENT_CHUNK, batch_size)
        while True:
            events = self.sudo()._claim(size)
            events._process()
            done += len(events)
            elapsed = time.monotonic() - started
            if len(events) < size or elapsed >= seconds:
                break
            per_event = max(elapsed, 1e-3) / done
            size = int(min(batch_size, max(EVENT_CHUNK, (seconds - elapsed) / per_event)))
        remaining = self.sudo().search_count([("state", "=", "pending")])
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if remaining:
            # After 10 runs in a row Odoo's cron worker sleeps until it is notified.
            dbname = self.env.cr.dbname
            self.env.cr.postcommit.add(lambda: _send_notification(dbname))
        self._gc_events()

    @api.model
    def _claim(self, limit):
        """Lock up to ``limit`` pending events, oldest first, skipping those another
        worker holds (FOR UPDATE SKIP LOCKED). Within a run that already claimed, an
        event another worker consumed since the run's snapshot cannot be locked
        (PostgreSQL refuses, repeatable read): then nothing is claimed, and the run
        commits what it did."""
        self.flush_model(["state"])
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    SQL(
                        """SELECT id FROM marketing_trigger_event WHERE state = 'pending'
                        ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""",
                        limit,
                    ),
                    log_exceptions=False,
                )
                ids = [row[0] for row in self.env.cr.fetchall()]
        except psycopg2.errors.SerializationFailure:
            return self.browse()
        return self.browse(ids)

    def _process(self):
        """Offer the events' records to their triggers. Failures are handled per
        trigger (the trigger pauses; the others run); the events are consumed."""
        Trigger = self.env["marketing.trigger"].sudo()
        for (kind, res_model, trigger), events in self.grouped(
            lambda e: (e.kind, e.res_model, e.trigger_id)
        ).items():
            if trigger:
                # Inbound events: the event is the record (it carries the partner and
                # the payload) and it is meant for its trigger only.
                if trigger.state == "active":
                    trigger._evaluate(events)
                continue
            records = self.env[res_model].sudo().browse(events.mapped("res_id")).exists()
            Trigger._fire_now(kind, records)
        keep = self.filtered("trigger_id")
        keep.write({"state": "done"})
        (self - keep).unlink()

    @api.model
    def _gc_events(self):
        """Inbound events are kept a while as the record of what a caller sent."""
        self.env.cr.execute(
            SQL(
                "DELETE FROM marketing_trigger_event WHERE state = 'done' AND create_date < %s",
                fields.Datetime.now() - timedelta(days=KEEP_INBOUND_DAYS),
            )
        )
