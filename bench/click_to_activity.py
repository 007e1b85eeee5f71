"""Benchmark: from a contact's first click in an email to the salesperson's activity,
on an idle server and under load, through a real Odoo server (prefork, 2 workers, 1 cron
worker) on a copy of ``click_redirect``'s cached database.

A second *Link clicked* trigger on the Welcome emails calls the salesperson (channel
phone, a service message; the contacts have no salesperson, so the fallback assignee
gets the activity). Idle: one client clicks every 2 s for 20 s. Load: 20 clients click
as fast as the server answers for 60 s. The latency of a contact is the activity's
``create_date`` minus the contact's first click engagement's ``create_date`` (both the
start of their transactions, so the activity's own transaction is not counted: a few
ms). One JSON line:

    {"bench": "click_to_activity", "value": <p95 ms under load>, "unit": "ms",
     "p50_ms", "p95_ms", "max_ms", "idle_p50_ms", "idle_p95_ms", "clients", "seconds",
     "first_clicks", "missing"}

    bench/click_to_activity.py   (env: CTA_SECONDS, CTA_CLIENTS)
"""

from __future__ import annotations

import json
import os
import sys
import time

import click_redirect as base

SECONDS = float(os.environ.get("CTA_SECONDS", 60))
CLIENTS = int(os.environ.get("CTA_CLIENTS", 20))
DRAIN_TIMEOUT = 120

SETUP = """
welcome = env.ref("marketing_trigger.marketing_trigger_welcome")
env["marketing.trigger"].create({
    "name": "Bench: call who clicked", "kind": "link_clicked",
    "source_trigger_id": welcome.id, "channel": "phone", "message_class": "service",
    "activity_summary": "Call {{ partner.name }}: clicked the welcome email",
    "activity_user_id": env.ref("base.user_admin").id,
}).action_activate()
# phone_sanitized is the stored E.164 form the engine reads (Odoo computes it on write;
# this bulk UPDATE must set it too).
env.cr.execute("UPDATE res_partner SET phone = '+49 171 2345678', "
               "mobile = '+49 171 2345678', phone_sanitized = '+491712345678' "
               "WHERE ref LIKE 'BENCH-CLICK-%'")
env.cr.execute("DELETE FROM ir_cron_trigger")
env.cr.commit()
"""


def log(message: str) -> None:
    print(f"[click_to_activity] {message}", file=sys.stderr, flush=True)


def db_now():
    return base.query(base.RUN_DB, "SELECT now() at time zone 'utc'")[0][0]


def backlog() -> int:
    return base.query(
        base.RUN_DB,
        """SELECT (SELECT count(*) FROM marketing_trigger_event WHERE state = 'pending')
           + (SELECT count(*) FROM marketing_trigger_delivery WHERE state = 'pending'
              AND scheduled_at <= now() at time zone 'utc')""",
    )[0][0]


def drain() -> float:
    started = time.perf_counter()
    while backlog() and time.perf_counter() - started < DRAIN_TIMEOUT:
        time.sleep(0.25)
    return time.perf_counter() - started


def latencies(phone_id: int, welcome_id: int, start, end) -> tuple[list[float], int]:
    """Click-to-activity milliseconds of the contacts first clicking in [start, end),
    and how many of them have no activity."""
    rows = base.query(
        base.RUN_DB,
        """WITH first AS (
            SELECT d.partner_id, min(e.create_date) AS clicked
            FROM marketing_trigger_engagement e
            JOIN marketing_trigger_delivery d ON d.id = e.delivery_id
            WHERE e.kind = 'click' AND d.trigger_id = %s GROUP BY d.partner_id)
        SELECT extract(epoch FROM a.create_date - f.clicked) * 1000
        FROM first f
        LEFT JOIN marketing_trigger_delivery p
            ON p.partner_id = f.partner_id AND p.trigger_id = %s
        LEFT JOIN mail_activity a ON a.id = p.activity_id
        WHERE f.clicked >= %s AND f.clicked < %s""",
        (welcome_id, phone_id, start, end),
    )
    values = sorted(float(r[0]) for r in rows if r[0] is not None)
    return values, sum(1 for r in rows if r[0] is None)


def pct(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, max(0, round(share * len(values)) - 1))], 1)


def main() -> int:
    src = base.devtool.find_odoo()
    base.ensure_template(src, False)
    base.fresh_run_database()
    info = base.prepare_run_database()
    base.run_odoo(src, "shell", "-d", base.RUN_DB, "--no-http", stdin=SETUP)
    (phone_id,) = base.query(
        base.RUN_DB, "SELECT id FROM marketing_trigger WHERE channel = 'phone' AND state = 'active'"
    )[0]
    base.SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    server = base.Server(src, base.WORKERS)
    if not server.start():
        server.stop()
        base.fail(f"the Odoo server did not start (see {base.SERVER_LOG})")
    paths = base.WORK / "ours.txt"
    try:
        base.load(server, paths, 999, 0, 3)  # warm the workers' caches
        drain()
        phases = {}
        for name, clients, seconds, pace in (("idle", 1, 20.0, 2.0), ("load", CLIENTS, SECONDS, 0)):
            base.CONCURRENCY = clients
            start = db_now()
            result = base.load_paced(server, paths, 7, seconds, pace)
            end = db_now()
            drained = drain()
            values, missing = latencies(phone_id, info["welcome_id"], start, end)
            phases[name] = (values, missing)
            log(
                f"{name}: {result['rps']} req/s, first clicks {len(values) + missing}, "
                f"click->activity p50 {pct(values, 0.5)} ms p95 {pct(values, 0.95)} ms max "
                f"{values[-1] if values else 0:.0f} ms, missing {missing}; drained in "
                f"{drained:.1f} s"
            )
    finally:
        server.stop()
    load_values, missing = phases["load"]
    idle_values, idle_missing = phases["idle"]
    result = {
        "bench": "click_to_activity",
        "value": pct(load_values, 0.95),
        "unit": "ms",
        "p50_ms": pct(load_values, 0.5),
        "p95_ms": pct(load_values, 0.95),
        "max_ms": round(load_values[-1], 1) if load_values else 0.0,
        "idle_p50_ms": pct(idle_values, 0.5),
        "idle_p95_ms": pct(idle_values, 0.95),
        "clients": CLIENTS,
        "seconds": SECONDS,
        "first_clicks": len(load_values) + missing,
        "missing": missing + idle_missing,
    }
    print(json.dumps(result), flush=True)
    if not load_values or not idle_values:
        log("no click led to an activity: the figures above measure nothing")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
