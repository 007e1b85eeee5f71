"""Benchmark: one full evaluation of the time-based triggers over 1,000,000 contacts.

1,000,000 partners and 200,000 sale orders (generated once with SQL into the cached
database ``mt_bench_time``), 10 active time-based triggers of the main company (two
birthdays, two anniversaries, two date offsets, inactivity, lifecycle product,
abandoned quotation and callback) under the default contact policy. Each run resets
the previous run's decisions, deliveries and trigger touches, then times ONE call of
``marketing.trigger._cron_evaluate_time_triggers()`` in-process, including the final
commit, and checks by SQL that decisions and deliveries were written exactly once.

    bench/time_triggers.py [--profile] [--regenerate]

``--profile`` prints to stderr cProfile's top 25 (cumulative) of the timed call, the
same for the addon's own functions, the top 15 by internal time and the SQL statements
that took longest (the profiler slows the ORM down, so the value is higher then);
``--regenerate`` drops the cached database first. Progress goes to stderr; stdout gets
one JSON line. The first run builds the database (a few minutes); later runs upgrade
the module (``-u``, applying schema changes) and reuse the data. Time-relative data
(last activity, callbacks, orders, ledger) is shifted to the current time when the
data is older than a few hours, so the same occurrences fall into today's window.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import resource
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import _cached_db  # noqa: E402
import devtool  # noqa: E402

DB = os.environ.get("BENCH_TIME_DB", "mt_bench_time")
PARTNERS = 1_000_000
CHUNK = 250_000
ORDERS = 200_000
CONFIRMED = 150_000
TOUCH_SHARE = 0.3
BENCH_PREFIX = "[bench] "
ANCHOR_PARAM = "marketing_trigger.bench_time_anchor"
SHIFT_AFTER = timedelta(hours=6)
TARGET_SECONDS = 60

FIRST_NAMES = (
    "Anna Ben Clara David Emma Felix Greta Hannah Ida Jonas Karl Lena Mia Noah Olga "
    "Paul Quinn Rosa Sam Tina Uwe Vera Willi Xenia Yusuf Zoe Ada Bruno Carla Dieter"
).split()
LAST_NAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
    "Richter Klein Wolf Neumann Schwarz Braun Zimmermann Smith Jones Brown Taylor Miller "
    "Davis Wilson Moore Clark Lewis Walker Hall"
).split()
EMAIL_LAST = [
    n.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae") for n in LAST_NAMES
]


def log(message: str) -> None:
    print(f"[time_triggers] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    log(f"FAILED: {message}")
    sys.exit(1)


# ----------------------------------------------------------------------- database


# -------------------------------------------------------------------------- data


def _sql_array(values):
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def generate_partners(cr) -> None:
    cr.execute("SELECT id FROM res_country WHERE code = 'DE'")
    de = cr.fetchone()[0]
    cr.execute("SELECT id FROM res_country WHERE code = 'US'")
    us = cr.fetchone()[0]
    cr.execute("SELECT id FROM res_country WHERE code = 'GB'")
    gb = cr.fetchone()[0]
    cr.execute(
        "SELECT array_agg(id ORDER BY id) FROM res_country_state WHERE country_id = %s", [de]
    )
    de_states = cr.fetchone()[0]
    cr.execute("SELECT id FROM res_country_state WHERE country_id = %s AND code = 'NY'", [us])
    ny = cr.fetchone()[0]
    first, last, email_last = (
        _sql_array(FIRST_NAMES),
        _sql_array(LAST_NAMES),
        _sql_array(EMAIL_LAST),
    )
    nf, nl = len(FIRST_NAMES), len(LAST_NAMES)
    cr.execute("SELECT setseed(0.42)")
    for lo in range(1, PARTNERS + 1, CHUNK):
        hi = min(lo + CHUNK - 1, PARTNERS)
        started = time.perf_counter()
        cr.execute(
            f"""
            WITH src AS (
                SELECT nextval('res_partner_id_seq') AS id, g,
                       random() AS r_tz, random() AS r_email, random() AS r_phone,
                       random() AS r_birth, random() AS r_bdate, random() AS r_create,
                       random() AS r_first, random() AS r_first_d, random() AS r_act,
                       random() AS r_act_d, random() AS r_cb, random() AS r_cb_d,
                       random() AS r_ce, random() AS r_cs, random() AS r_cp,
                       random() AS r_active, random() AS r_state, random() AS r_pref,
                       random() AS r_stage
                FROM generate_series(%(lo)s, %(hi)s) g
            ), p AS (
                SELECT src.*,
                       ({first})[1 + g %% {nf}] AS fn,
                       ({last})[1 + (g / {nf}) %% {nl}] AS ln,
                       ({email_last})[1 + (g / {nf}) %% {nl}] AS eln,
                       CASE WHEN r_tz < 0.6 THEN 'Europe/Berlin'
                            WHEN r_tz < 0.85 THEN 'UTC' ELSE 'America/New_York' END AS tz,
                       (now() AT TIME ZONE 'UTC') - r_create * interval '2190 days' AS created
                FROM src
            )
            INSERT INTO res_partner (
                id, name, complete_name, email, email_normalized,
                phone, phone_sanitized, lang, tz, country_id, state_id, active, type,
                is_company, employee, partner_share, color, customer_rank, supplier_rank,
                autopost_bills, message_bounce, commercial_partner_id, ref,
                create_uid, write_uid, create_date, write_date,
                marketing_birthdate, marketing_birthday_mmdd, marketing_first_order_date,
                marketing_last_activity_at, marketing_callback_at,
                marketing_consent_email, marketing_consent_sms, marketing_consent_phone,
                marketing_preferred_channel, marketing_lifecycle_stage)
            SELECT
                id, fn || ' ' || ln, fn || ' ' || ln,
                CASE WHEN r_email < 0.97 THEN lower(fn) || '.' || eln || '.' || g
                     || '@example.com' END,
                CASE WHEN r_email < 0.97 THEN lower(fn) || '.' || eln || '.' || g
                     || '@example.com' END,
                CASE WHEN r_phone < 0.5 THEN
                    CASE WHEN tz = 'Europe/Berlin' THEN '+49 151 ' || lpad(g::text, 8, '0')
                         WHEN tz = 'UTC' THEN '+44 7700 ' || lpad(g::text, 7, '0')
                         ELSE '+1 646 ' || lpad(g::text, 7, '0') END END,
                CASE WHEN r_phone < 0.5 THEN
                    CASE WHEN tz = 'Europe/Berlin' THEN '+49151' || lpad(g::text, 8, '0')
                         WHEN tz = 'UTC' THEN '+447700' || lpad(g::text, 7, '0')
                         ELSE '+1646' || lpad(g::text, 7, '0') END END,
                'en_US', tz,
                CASE WHEN tz = 'Europe/Berlin' THEN {de} WHEN tz = 'UTC' THEN {gb} ELSE {us} END,
                CASE WHEN tz = 'Europe/Berlin'
                     THEN (%(de_states)s::int[])[1 + floor(r_state * %(n_states)s)::int]
                     WHEN tz = 'America/New_York' THEN {ny} END,
                r_active < 0.98, 'contact',
                false, false, true, 0, 0, 0,
                'ask', 0, id, 'BENCH' || g,
                1, 1, created, created,
                CASE WHEN r_birth < 0.7 THEN date '1950-01-01' + floor(r_bdate * 20000)::int END,
                CASE WHEN r_birth < 0.7 THEN
                    (EXTRACT(MONTH FROM date '1950-01-01' + floor(r_bdate * 20000)::int) * 100
                     + EXTRACT(DAY FROM date '1950-01-01' + floor(r_bdate * 20000)::int))::int
                     ELSE 0 END,
                CASE WHEN r_first < 0.4 THEN
                    (created + r_first_d * ((now() AT TIME ZONE 'UTC') - created))::date END,
                CASE WHEN r_act < 0.015
                          AND created < (now() AT TIME ZONE 'UTC') - interval '366 days'
                     THEN (now() AT TIME ZONE 'UTC') - interval '365 days'
                          + (r_act_d - 0.5) * interval '1 day'
                     WHEN r_act < 0.8 THEN GREATEST(created,
                          (now() AT TIME ZONE 'UTC') - r_act_d * interval '730 days') END,
                CASE WHEN r_cb < 0.01 THEN date_trunc('hour',
                     (now() AT TIME ZONE 'UTC') + (r_cb_d - 0.5) * interval '60 days') END,
                r_ce < 0.6, r_cs < 0.2, r_cp < 0.1,
                CASE WHEN r_pref < 0.1 THEN 'email' WHEN r_pref < 0.15 THEN 'sms' END,
                CASE WHEN r_stage < 0.1 THEN 'new' WHEN r_stage < 0.2 THEN 'onboarding'
                     WHEN r_stage < 0.6 THEN 'engaged' WHEN r_stage < 0.75 THEN 'churn_risk'
                     WHEN r_stage < 0.8 THEN 'winback' END
            FROM p
            """,
            {"lo": lo, "hi": hi, "de_states": de_states, "n_states": len(de_states)},
        )
        log(f"  partners {lo:>7}..{hi:<7} inserted in {time.perf_counter() - started:.1f} s")


def generate_related(cr) -> None:
    started = time.perf_counter()
    for channel, column in (
        ("email", "marketing_consent_email"),
        ("sms", "marketing_consent_sms"),
        ("phone", "marketing_consent_phone"),
    ):
        cr.execute(
            f"""INSERT INTO marketing_trigger_consent
                (partner_id, channel, is_granted, source, date, user_id, evidence,
                 create_uid, write_uid, create_date, write_date)
            SELECT id, %s, true, 'import', create_date, 2, 'bench import',
                   1, 1, create_date, create_date
            FROM res_partner WHERE ref LIKE 'BENCH%%' AND {column}""",
            [channel],
        )
    log(f"  consent proofs in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    cr.execute(
        """INSERT INTO mail_blacklist (email, active, create_uid, write_uid, create_date,
                                       write_date)
        SELECT email_normalized, true, 1, 1, now() AT TIME ZONE 'UTC',
               now() AT TIME ZONE 'UTC'
        FROM res_partner
        WHERE ref LIKE 'BENCH%' AND email_normalized IS NOT NULL AND id % 200 = 0
        ON CONFLICT DO NOTHING"""
    )
    # The contact ledger: newsletters, logged calls and letters of the last 30 days.
    cr.execute(
        """INSERT INTO marketing_trigger_touch
            (partner_id, channel, date, source, is_counted, note, user_id,
             create_uid, write_uid, create_date, write_date)
        SELECT id, ch, d, src, true, 'bench ledger', 2, 1, 1, d, d FROM (
            SELECT id,
                   (now() AT TIME ZONE 'UTC') - random() * interval '30 days' AS d,
                   random() AS r
            FROM res_partner WHERE ref LIKE 'BENCH%%' AND random() < %s) t,
        LATERAL (SELECT CASE WHEN r < 0.8 THEN 'newsletter' WHEN r < 0.9 THEN 'phone'
                             ELSE 'letter' END AS ch,
                        CASE WHEN r < 0.8 THEN 'newsletter' WHEN r < 0.9 THEN 'activity'
                             ELSE 'manual' END AS src) c""",
        [TOUCH_SHARE],
    )
    log(f"  blacklist and ledger in {time.perf_counter() - started:.1f} s")


def generate_orders(cr, printer_id: int, paper_id: int) -> None:
    started = time.perf_counter()
    cr.execute("SELECT min(id), max(id) FROM res_partner WHERE ref LIKE 'BENCH%'")
    lo, hi = cr.fetchone()
    cr.execute("SELECT currency_id FROM res_company WHERE id = 1")
    currency = cr.fetchone()[0]
    cr.execute(
        """WITH src AS (
            SELECT g, %(lo)s + floor(random() * %(n)s)::int AS p, random() AS rd,
                   random() AS rs, random() AS rh, random() AS ra
            FROM generate_series(1, %(orders)s) g
        ), o AS (
            SELECT src.*,
                   CASE WHEN g <= %(confirmed)s
                        THEN (now() AT TIME ZONE 'UTC') - rd * interval '730 days'
                        ELSE (now() AT TIME ZONE 'UTC') - rd * interval '60 days' END AS d
            FROM src
        )
        INSERT INTO sale_order (name, partner_id, partner_invoice_id, partner_shipping_id,
            company_id, currency_id, user_id, state, date_order, create_date, write_date,
            create_uid, write_uid, invoice_status, amount_untaxed, amount_tax,
            amount_total, currency_rate, locked, require_signature, require_payment,
            prepayment_percent, origin)
        SELECT 'BENCH/' || lpad(g::text, 7, '0'), p, p, p, 1, %(currency)s, 2,
               CASE WHEN g <= %(confirmed)s THEN 'sale'
                    WHEN rs < 0.55 THEN 'draft' WHEN rs < 0.9 THEN 'sent' ELSE 'cancel' END,
               d,
               CASE WHEN g <= %(confirmed)s THEN d - rh * interval '5 days' ELSE d END,
               d, 2, 2,
               CASE WHEN g <= %(confirmed)s THEN 'to invoice' ELSE 'no' END,
               round((100 + ra * 900)::numeric, 2), round((19 + ra * 171)::numeric, 2),
               round((119 + ra * 1071)::numeric, 2), 1, false, false, false, 1.0, 'bench'
        FROM o""",
        {
            "lo": lo,
            "n": hi - lo + 1,
            "orders": ORDERS,
            "confirmed": CONFIRMED,
            "currency": currency,
        },
    )
    cr.execute(
        """INSERT INTO sale_order_line (order_id, sequence, name, product_id, product_uom,
            product_uom_qty, price_unit, price_subtotal, price_total, price_tax, discount,
            customer_lead, company_id, currency_id, order_partner_id, salesman_id, state,
            is_downpayment, is_expense, qty_delivered, qty_invoiced, qty_to_invoice,
            invoice_status, qty_delivered_method, create_uid, write_uid, create_date,
            write_date)
        SELECT so.id, 10, CASE WHEN pr THEN 'Office printer' ELSE 'Copy paper' END,
               CASE WHEN pr THEN %(printer)s ELSE %(paper)s END, 1, 1,
               so.amount_untaxed, so.amount_untaxed, so.amount_total, so.amount_tax, 0, 0,
               so.company_id, so.currency_id, so.partner_id, so.user_id, so.state,
               false, false, 0, 0, CASE WHEN so.state = 'sale' THEN 1 ELSE 0 END,
               so.invoice_status, 'manual', 2, 2, so.create_date, so.create_date
        FROM (SELECT so.*, random() < 0.5 AS pr FROM sale_order so
              WHERE so.name LIKE 'BENCH/%%') so""",
        {"printer": printer_id, "paper": paper_id},
    )
    cr.execute(
        """UPDATE res_partner p SET customer_rank = 1 FROM (
            SELECT DISTINCT partner_id FROM sale_order WHERE name LIKE 'BENCH/%') o
        WHERE o.partner_id = p.id"""
    )
    log(f"  {ORDERS} sale orders and lines in {time.perf_counter() - started:.1f} s")


def shift_data(cr, delta: timedelta) -> None:
    """Move the time-relative data by ``delta`` (the age of the data)."""
    started = time.perf_counter()
    cr.execute(
        """UPDATE res_partner SET
            marketing_last_activity_at = marketing_last_activity_at + %(d)s,
            marketing_callback_at = marketing_callback_at + %(d)s
        WHERE ref LIKE 'BENCH%%'
          AND (marketing_last_activity_at IS NOT NULL OR marketing_callback_at IS NOT NULL)""",
        {"d": delta},
    )
    cr.execute(
        """UPDATE sale_order SET date_order = date_order + %(d)s,
                                 create_date = create_date + %(d)s
        WHERE name LIKE 'BENCH/%%'""",
        {"d": delta},
    )
    cr.execute(
        """UPDATE marketing_trigger_touch SET date = date + %(d)s
        WHERE note = 'bench ledger'""",
        {"d": delta},
    )
    log(f"  time-relative data shifted by {delta} in {time.perf_counter() - started:.1f} s")


def ensure_products(env):
    Category = env["product.category"]
    category = Category.search([("name", "=", "Bench printers")], limit=1)
    if not category:
        category = Category.create(
            {"name": "Bench printers", "parent_id": env.ref("product.product_category_all").id}
        )
    Product = env["product.product"].with_context(active_test=False)
    printer = Product.search([("default_code", "=", "BENCH-PRINTER")], limit=1)
    if not printer:
        printer = Product.create(
            {
                "name": "Office printer",
                "default_code": "BENCH-PRINTER",
                "categ_id": category.id,
                "type": "consu",
                "list_price": 299.0,
            }
        )
    paper = Product.search([("default_code", "=", "BENCH-PAPER")], limit=1)
    if not paper:
        paper = Product.create(
            {
                "name": "Copy paper",
                "default_code": "BENCH-PAPER",
                "categ_id": env.ref("product.product_category_all").id,
                "type": "consu",
                "list_price": 9.9,
            }
        )
    return category, printer, paper


def ensure_data(env) -> float:
    """Generate the benchmark data once; shift its time-relative part when it aged.
    Returns the seconds spent generating (0 when the cache was used)."""
    cr = env.cr
    category, printer, paper = ensure_products(env)
    cr.execute("SELECT count(*) FROM res_partner WHERE ref LIKE 'BENCH%'")
    partners = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM sale_order WHERE name LIKE 'BENCH/%'")
    orders = cr.fetchone()[0]
    Param = env["ir.config_parameter"].sudo()
    generated = 0.0
    if partners != PARTNERS or orders != ORDERS:
        log(f"generating {PARTNERS} partners and {ORDERS} orders with SQL (once)")
        started = time.perf_counter()
        cr.execute("DELETE FROM marketing_trigger_decision")
        cr.execute("DELETE FROM marketing_trigger_delivery")
        cr.execute("DELETE FROM marketing_trigger_touch")
        cr.execute("DELETE FROM sale_order WHERE name LIKE 'BENCH/%'")
        cr.execute("DELETE FROM marketing_trigger_consent")
        cr.execute("DELETE FROM mail_blacklist")
        cr.execute("DELETE FROM res_partner WHERE ref LIKE 'BENCH%'")
        generate_partners(cr)
        generate_related(cr)
        generate_orders(cr, printer.id, paper.id)
        Param.set_param(ANCHOR_PARAM, datetime.now(UTC).replace(tzinfo=None).isoformat())
        cr.commit()
        env.invalidate_all()
        cr.execute("ANALYZE")
        generated = time.perf_counter() - started
        log(f"data generated in {generated:.1f} s")
    else:
        anchor = datetime.fromisoformat(Param.get_param(ANCHOR_PARAM))
        delta = datetime.now(UTC).replace(tzinfo=None) - anchor
        if delta > SHIFT_AFTER:
            shift_data(cr, delta)
            Param.set_param(ANCHOR_PARAM, datetime.now(UTC).replace(tzinfo=None).isoformat())
            cr.commit()
            env.invalidate_all()
            cr.execute("ANALYZE res_partner")
            cr.execute("ANALYZE sale_order")
            cr.execute("ANALYZE marketing_trigger_touch")
    return generated


# ---------------------------------------------------------------------- triggers


def ensure_policy(env) -> None:
    company = env.ref("base.main_company")
    policy = env["marketing.trigger.policy"]._for_company(company)
    policy.write(
        {
            "window_start": 8.0,
            "window_end": 20.0,
            "arbitration_hours": 24.0,
            "max_defer_days": 14,
            "skip_holidays": True,
            "sunday": False,
            "saturday": True,
        }
    )
    if not policy.cap_ids:
        policy.write(
            {
                "cap_ids": [
                    (0, 0, {"channel": False, "limit": 3, "days": 7}),
                    (0, 0, {"channel": "sms", "limit": 1, "days": 14}),
                    (0, 0, {"channel": "phone", "limit": 1, "days": 30}),
                ]
            }
        )


def create_triggers(env, category):
    """The 10 active time-based triggers, created afresh each run."""
    Trigger = env["marketing.trigger"].with_context(tracking_disable=True, active_test=False)
    Trigger.search([("name", "=like", BENCH_PREFIX + "%")]).unlink()
    # No other trigger may run in the benchmark database.
    Trigger.search([("state", "=", "active")]).write({"state": "paused"})
    company = env.ref("base.main_company")
    template = env.ref("marketing_trigger.mail_template_welcome")
    admin = env.ref("base.user_admin")
    field = env["ir.model.fields"]._get
    common = {
        "company_id": company.id,
        "channel": "email",
        "mail_template_id": template.id,
    }
    definitions = [
        {
            "name": "Birthday",
            "kind": "birthday",
            "partner_domain": "[]",
            "priority": 30,
            "business_value": 5,
            "message_class": "defer",
        },
        {
            "name": "Birthday SMS (New York)",
            "kind": "birthday",
            "partner_domain": "[('tz', '=', 'America/New_York')]",
            "priority": 35,
            "business_value": 3,
            "message_class": "drop",
            "channel": "sms",
            "fallback_channel": "email",
            "sms_body": "Happy birthday {{ partner.first_name }}!",
        },
        {
            "name": "Anniversary (registration)",
            "kind": "anniversary",
            "anniversary_basis": "registration",
            "partner_domain": "[('lang', '=', 'en_US')]",
            "priority": 20,
            "message_class": "drop",
        },
        {
            "name": "Anniversary (first order)",
            "kind": "anniversary",
            "anniversary_basis": "first_order",
            "partner_domain": "[]",
            "priority": 22,
            "business_value": 10,
            "message_class": "defer",
        },
        {
            "name": "90 days after the first order",
            "kind": "date_offset",
            "date_field_id": field("res.partner", "marketing_first_order_date").id,
            "date_offset_days": 90,
            "partner_domain": "[]",
            "priority": 15,
            "message_class": "drop",
        },
        {
            "name": "30 days after registration",
            "kind": "date_offset",
            "date_field_id": field("res.partner", "create_date").id,
            "date_offset_days": 30,
            "partner_domain": "[('type', '=', 'contact')]",
            "priority": 12,
            "message_class": "drop",
        },
        {
            "name": "Win-back after a year",
            "kind": "inactivity",
            "inactivity_days": 365,
            "partner_domain": "[]",
            "priority": 10,
            "business_value": 20,
            "message_class": "defer",
            "cooldown_days": 60,
        },
        {
            "name": "Toner 6 months after a printer",
            "kind": "lifecycle_product",
            "product_categ_id": category.id,
            "lifecycle_months": 6,
            "partner_domain": "[]",
            "priority": 40,
            "business_value": 40,
            "message_class": "drop",
        },
        {
            "name": "Quotation reminder",
            "kind": "quotation_abandoned",
            "delay_hours": 48,
            "partner_domain": "[]",
            "priority": 60,
            "business_value": 50,
            "message_class": "defer",
        },
        {
            "name": "Callback",
            "kind": "callback",
            "partner_domain": "[]",
            "priority": 90,
            "message_class": "service",
            "channel": "phone",
            "mail_template_id": False,
            "activity_user_id": admin.id,
            "activity_summary": "Call {{ partner.name }} back, as requested",
            "activity_deadline_days": 0,
        },
    ]
    triggers = Trigger.create(
        [{**common, **d, "name": BENCH_PREFIX + d["name"]} for d in definitions]
    )
    triggers.action_activate()
    return triggers


def reset_results(env) -> None:
    cr = env.cr
    cr.execute("DELETE FROM marketing_trigger_delivery")
    cr.execute("DELETE FROM marketing_trigger_decision")
    cr.execute("DELETE FROM marketing_trigger_touch WHERE source = 'trigger'")
    cr.execute("DELETE FROM mail_activity WHERE res_model = 'res.partner'")
    cr.execute("DELETE FROM marketing_trigger_event")
    cron = env.ref("marketing_trigger.ir_cron_dispatch")
    cr.execute("DELETE FROM ir_cron_trigger WHERE cron_id = %s", [cron.id])
    env.invalidate_all()


# -------------------------------------------------------------------- measuring


def instrument(cls):
    """Wrap the per-trigger evaluation of the registry's ``marketing.trigger`` class to
    time it and count its candidates."""
    seconds, candidates = Counter(), Counter()
    evaluate, time_candidates = cls._evaluate_time, cls._time_candidates

    def _evaluate_time(self, start, end, now):
        started = time.perf_counter()
        try:
            return evaluate(self, start, end, now)
        finally:
            seconds[self.name.removeprefix(BENCH_PREFIX)] += time.perf_counter() - started

    def _time_candidates(self, start, end, skip_decided=True):
        result = time_candidates(self, start, end, skip_decided)
        candidates[self.name.removeprefix(BENCH_PREFIX)] += len(result)
        return result

    cls._evaluate_time = _evaluate_time
    cls._time_candidates = _time_candidates
    return seconds, candidates


def instrument_sql():
    """Accumulate the time of each SQL statement (by its first 160 characters)."""
    from odoo.sql_db import Cursor  # noqa: PLC0415 - Odoo is on the path by now

    totals = Counter()
    counts = Counter()
    execute = Cursor.execute

    def timed_execute(self, query, params=None, log_exceptions=True):
        started = time.perf_counter()
        try:
            return execute(self, query, params, log_exceptions)
        finally:
            text = query.code if hasattr(query, "code") else str(query)
            key = " ".join(text.split())[:160]
            totals[key] += time.perf_counter() - started
            counts[key] += 1

    Cursor.execute = timed_execute
    return totals, counts


def verify(env, triggers) -> dict:
    cr = env.cr
    cr.execute("SELECT count(*) FROM marketing_trigger_decision")
    decisions = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM marketing_trigger_delivery")
    deliveries = cr.fetchone()[0]
    cr.execute("SELECT count(*) FROM marketing_trigger_touch WHERE source = 'trigger'")
    touches = cr.fetchone()[0]
    cr.execute(
        """SELECT count(*) FROM (
            SELECT 1 FROM marketing_trigger_decision
            WHERE outcome != 'error' AND reason_code != 'duplicate'
            GROUP BY trigger_id, partner_id, occurrence_key HAVING count(*) > 1) d"""
    )
    doubles = cr.fetchone()[0]
    cr.execute(
        """SELECT count(*) FROM (
            SELECT 1 FROM marketing_trigger_delivery
            GROUP BY trigger_id, partner_id, occurrence_key HAVING count(*) > 1) d"""
    )
    double_deliveries = cr.fetchone()[0]
    cr.execute(
        """SELECT count(*) FROM marketing_trigger_decision d
        WHERE d.outcome = 'send' AND NOT EXISTS (
            SELECT 1 FROM marketing_trigger_delivery l WHERE l.decision_id = d.id)"""
    )
    sends_without_delivery = cr.fetchone()[0]
    cr.execute(
        """SELECT outcome || '/' || reason_code, count(*) FROM marketing_trigger_decision
        GROUP BY 1 ORDER BY 2 DESC"""
    )
    outcomes = dict(cr.fetchall())
    cr.execute(
        """SELECT name->>'en_US', state, last_error FROM marketing_trigger
        WHERE id = ANY(%s) AND (state != 'active' OR last_error IS NOT NULL)""",
        [triggers.ids],
    )
    broken = cr.fetchall()
    problems = []
    if not decisions:
        problems.append("no decision was written")
    if not deliveries:
        problems.append("no delivery was written")
    if doubles:
        problems.append(f"{doubles} (trigger, partner, occurrence) have two real decisions")
    if double_deliveries:
        problems.append(f"{double_deliveries} occurrences have two deliveries")
    if sends_without_delivery:
        problems.append(f"{sends_without_delivery} send decisions have no delivery")
    for name, state, error in broken:
        problems.append(f"trigger {name!r} is {state} after the run: {error}")
    return {
        "decisions": decisions,
        "deliveries": deliveries,
        "touches": touches,
        "outcomes": outcomes,
        "problems": problems,
    }


def main(argv: list[str]) -> int:
    profile = "--profile" in argv
    regenerate = "--regenerate" in argv
    src = devtool.find_odoo()
    sys.path.insert(0, str(src))
    os.environ["TZ"] = "UTC"
    time.tzset()
    db_action, upgrade_seconds = _cached_db.prepare_database(
        src, DB, regenerate, log=log, fail=fail
    )

    import odoo  # noqa: PLC0415 - found above
    from odoo.modules.registry import Registry  # noqa: PLC0415

    odoo.tools.config.parse_config(
        [
            f"--addons-path={devtool.addons_path(src)}",
            *devtool.pg_options(),
            "-d",
            DB,
            "--log-level=warn",
            "--max-cron-threads=0",
        ]
    )
    registry = Registry(DB)
    seconds, candidates = instrument(registry["marketing.trigger"])
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        generation = ensure_data(env)
        ensure_policy(env)
        category = env["product.category"].search([("name", "=", "Bench printers")], limit=1)
        reset_results(env)
        triggers = create_triggers(env, category)
        cr.commit()
        env.invalidate_all()
        cr.execute("SELECT count(*) FROM res_partner WHERE ref LIKE 'BENCH%'")
        partners = cr.fetchone()[0]
        log(f"evaluating {len(triggers)} time-based triggers over {partners} partners")

        profiler = cProfile.Profile() if profile else None
        sql_totals, sql_counts = instrument_sql() if profile else (None, None)
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        env["marketing.trigger"]._cron_evaluate_time_triggers()
        cr.commit()
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        log(f"evaluated in {elapsed:.2f} s")
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(25)
            stats.sort_stats("cumulative").print_stats("marketing_trigger/(models|engine)", 25)
            stats.sort_stats("tottime").print_stats(15)
            print(out.getvalue(), file=sys.stderr, flush=True)
            log("slowest SQL statements (total seconds, calls, statement):")
            for key, total in sql_totals.most_common(15):
                print(f"  {total:8.2f} {sql_counts[key]:6d}  {key}", file=sys.stderr)

        env.invalidate_all()
        result = verify(env, triggers)
        for name in (t.name.removeprefix(BENCH_PREFIX) for t in triggers):
            if not candidates.get(name):
                log(f"warning: trigger {name!r} found no candidate")
        log(f"outcomes: {result['outcomes']}")
        print(
            json.dumps(
                {
                    "bench": "time_triggers",
                    "value": round(elapsed, 2),
                    "unit": "s",
                    "target_s": TARGET_SECONDS,
                    "partners": partners,
                    "triggers": len(triggers),
                    "candidates": sum(candidates.values()),
                    "decisions": result["decisions"],
                    "deliveries": result["deliveries"],
                    "touches": result["touches"],
                    "per_trigger_s": {k: round(v, 2) for k, v in seconds.items()},
                    "candidates_per_trigger": dict(candidates),
                    "database": db_action,
                    "upgrade_s": round(upgrade_seconds, 1),
                    "generation_s": round(generation, 1),
                    "profiled": profile,
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                },
                ensure_ascii=False,
            ),
            flush=True,
        )
        if result["problems"]:
            fail("; ".join(result["problems"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
