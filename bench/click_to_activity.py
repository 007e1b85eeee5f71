"""Benchmark: from a contact's first click in an email to the salesperson's activity,
on an idle server and under load, through a real Odoo server (prefork, 2 HTTP workers,
1 cron worker; CTA_CRON_WORKERS for more) on a copy of ``click_redirect``'s cached
database.

A second *Link clicked* trigger on the Welcome emails calls the salesperson (channel
phone, a service message; the contacts have no salesperson, so the fallback assignee
gets the activity). Idle: one client clicks every 2 s for 20 s. Load: 20 clients click
as fast as the server answers for 60 s. The latency of a contact runs from its first
click engagement's ``create_date`` (the start of the click's short transaction) to the
moment the activity became visible to another connection, i.e. committed: a watcher
thread looks for new activities every 50 ms. ``p50_start_ms`` / ``p95_start_ms`` are
the former measure, to the start of the activity's transaction (``create_date``): it
did not count how long that transaction ran, which flattered long batches. One JSON
line:

    {"bench": "click_to_activity", "value": <p95 ms under load>, "unit": "ms",
     "p50_ms", "p95_ms", "max_ms", "idle_p50_ms", "idle_p95_ms", "p50_start_ms",
     "p95_start_ms", "clients", "http_workers", "cron_workers", "parallel_jobs", "seconds",
     "first_clicks", "missing"}

    bench/click_to_activity.py   (env: CTA_SECONDS, CTA_CLIENTS, CTA_CRON_WORKERS,
                                  CTA_PARALLEL_JOBS: default the cron workers)
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import click_redirect as base

SECONDS = float(os.environ.get("CTA_SECONDS", 60))
CLIENTS = int(os.environ.get("CTA_CLIENTS", 20))
base.CRON_WORKERS = int(os.environ.get("CTA_CRON_WORKERS", 1))
# Jobs per marketing queue (the "Parallel jobs per queue" setting): one per cron worker.
PARALLEL_JOBS = int(os.environ.get("CTA_PARALLEL_JOBS", base.CRON_WORKERS))
DRAIN_TIMEOUT = 120
POLL = 0.05  # seconds between two looks for new activities

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

PARALLEL_SETUP = """
env["res.config.settings"].create({{"marketing_parallel_jobs": {jobs}}}).set_values()
env.cr.execute("UPDATE ir_cron SET nextcall = now() at time zone 'utc' + interval '1 day'")
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


class Watcher(threading.Thread):
    """Notes, every ``POLL`` seconds, when each new activity becomes visible to another
    connection (the database's clock): the moment its transaction committed, within
    ``POLL``. That is when the salesperson can see it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen: dict[int, object] = {}
        self.stopping = threading.Event()

    def run(self):
        import psycopg2  # noqa: PLC0415 - the venv has it

        conn = psycopg2.connect(dbname=base.RUN_DB, **base._pg_params())
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute("SELECT COALESCE(max(id), 0) FROM mail_activity")
            (first,) = cr.fetchone()
            while not self.stopping.is_set():
                # All ids, not those above the last seen: with two cron workers a lower
                # id can commit after a higher one.
                cr.execute(
                    """SELECT id, clock_timestamp() at time zone 'utc' FROM mail_activity
                    WHERE id > %s""",
                    (first,),
                )
                for activity_id, seen in cr.fetchall():
                    self.seen.setdefault(activity_id, seen)
                self.stopping.wait(POLL)
        conn.close()


def latencies(phone_id, welcome_id, start, end, seen) -> tuple[list[float], list[float], int]:
    """Click-to-activity milliseconds of the contacts first clicking in [start, end):
    until the activity was visible (``seen``: its id -> when the watcher saw it), and
    between the two transactions' starts; and how many of them have no activity."""
    rows = base.query(
        base.RUN_DB,
        """WITH first AS (
            SELECT d.partner_id, min(e.create_date) AS clicked
            FROM marketing_trigger_engagement e
            JOIN marketing_trigger_delivery d ON d.id = e.delivery_id
            WHERE e.kind = 'click' AND d.trigger_id = %s GROUP BY d.partner_id)
        SELECT extract(epoch FROM a.create_date - f.clicked) * 1000, a.id, f.clicked
        FROM first f
        LEFT JOIN marketing_trigger_delivery p
            ON p.partner_id = f.partner_id AND p.trigger_id = %s
        LEFT JOIN mail_activity a ON a.id = p.activity_id
        WHERE f.clicked >= %s AND f.clicked < %s""",
        (welcome_id, phone_id, start, end),
    )
    started = sorted(float(r[0]) for r in rows if r[0] is not None)
    visible = sorted((seen[r[1]] - r[2]).total_seconds() * 1000 for r in rows if r[1] in seen)
    return visible, started, sum(1 for r in rows if r[0] is None or r[1] not in seen)


def pct(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, max(0, round(share * len(values)) - 1))], 1)


def main() -> int:
    src = base.devtool.find_odoo()
    base.ensure_template(src, False)
    base.fresh_run_database()
    info = base.prepare_run_database()
    setup = SETUP + (PARALLEL_SETUP.format(jobs=PARALLEL_JOBS) if PARALLEL_JOBS > 1 else "")
    base.run_odoo(src, "shell", "-d", base.RUN_DB, "--no-http", stdin=setup)
    (phone_id,) = base.query(
        base.RUN_DB, "SELECT id FROM marketing_trigger WHERE channel = 'phone' AND state = 'active'"
    )[0]
    base.SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    server = base.Server(src, base.WORKERS)
    if not server.start():
        server.stop()
        base.fail(f"the Odoo server did not start (see {base.SERVER_LOG})")
    paths = base.WORK / "ours.txt"
    watcher = Watcher()
    try:
        base.load(server, paths, 999, 0, 3)  # warm the workers' caches
        drain()
        phases = {}
        watcher.start()
        for name, clients, seconds, pace in (("idle", 1, 20.0, 2.0), ("load", CLIENTS, SECONDS, 0)):
            base.CONCURRENCY = clients
            start = db_now()
            result = base.load_paced(server, paths, 7, seconds, pace)
            end = db_now()
            drained = drain()
            time.sleep(4 * POLL)  # the watcher's last look
            values, started, missing = latencies(
                phone_id, info["welcome_id"], start, end, watcher.seen
            )
            phases[name] = (values, started, missing)
            log(
                f"{name}: {result['rps']} req/s, first clicks {len(values) + missing}, "
                f"click->activity visible p50 {pct(values, 0.5)} ms p95 {pct(values, 0.95)} "
                f"ms max {values[-1] if values else 0:.0f} ms (transaction starts: p50 "
                f"{pct(started, 0.5)} ms p95 {pct(started, 0.95)} ms), missing {missing}; "
                f"drained in {drained:.1f} s"
            )
    finally:
        watcher.stopping.set()
        server.stop()
    load_values, load_started, missing = phases["load"]
    idle_values, _idle_started, idle_missing = phases["idle"]
    result = {
        "bench": "click_to_activity",
        "value": pct(load_values, 0.95),
        "unit": "ms",
        "p50_ms": pct(load_values, 0.5),
        "p95_ms": pct(load_values, 0.95),
        "max_ms": round(load_values[-1], 1) if load_values else 0.0,
        "idle_p50_ms": pct(idle_values, 0.5),
        "idle_p95_ms": pct(idle_values, 0.95),
        "p50_start_ms": pct(load_started, 0.5),
        "p95_start_ms": pct(load_started, 0.95),
        "clients": CLIENTS,
        "http_workers": base.WORKERS,
        "cron_workers": base.CRON_WORKERS,
        "parallel_jobs": PARALLEL_JOBS,
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
