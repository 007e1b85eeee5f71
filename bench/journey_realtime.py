"""Benchmark: from a human click in a journey email to the salesperson's activity of the
participant's "clicked" branch, through a real Odoo server (prefork, 2 HTTP workers, 1
cron worker), over 200 clicks.

The journey: a root email step (the Welcome template), sent an hour ago to each of 250
contacts (run by the journey and dispatcher crons during the set-up, then marked sent),
and a child step "link clicked" on the phone channel (a service message: the activity
goes to the administrator). One client clicks a tracked link (``/mt/c/<delivery>/<link>/
<token>``, signed like the dispatcher signs them) in a different participant's email
every ``JRT_PACE`` seconds (1 s), with a browser's user agent. The path measured: the
click route records the engagement and wakes the participant (``next_check_at`` now,
the journey cron triggered); the cron worker advances it (plan, the engine decides the
phone step, a delivery is queued and the dispatcher triggered); the dispatcher creates
the activity. The latency of a click is the activity's ``create_date`` minus the click
engagement's ``create_date`` (both the start of their transactions, as in
``click_to_activity``).

The database is a copy (``mt_bench_journey_rt``) of ``enroll_first_email``'s cached
database (marketing_trigger and automation_oca, no demo data; rebuilt when the addon
changes); every cron is put off by a day before the server starts, so only what the
clicks wake runs. One JSON line:

    {"bench": "journey_realtime", "value": <p95 ms>, "unit": "ms", "p50_ms", "p95_ms",
     "max_ms", "clicks": 200, "request_p50_ms", "request_p95_ms",
     "serialization_retries", "missing", "pace_s"}

``request_*``: from the moment the client sent the click (so the HTTP request and any
retry of its transaction count too) to the activity's ``create_date``.

    bench/journey_realtime.py   (env: JRT_CLICKS, JRT_PACE)
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time

import click_redirect as server_base
import enroll_first_email as db_base

CLICKS = int(os.environ.get("JRT_CLICKS", 200))
PACE = float(os.environ.get("JRT_PACE", 1.0))
PARTICIPANTS = CLICKS + 50
RUN_DB = "mt_bench_journey_rt"
REF = "BENCH-JRT-"
URL = "https://www.example.com/seminars/hamburg?utm_source=journey"
DRAIN_TIMEOUT = 120
WORK = db_base.devtool.BUILD / "journey_realtime"

SETUP = """
import json
from odoo import fields

P = json.loads(PARAMS)
env = env(context=dict(env.context, tracking_disable=True))
env["marketing.trigger.policy"]._for_company(env.company).write(
    {"window_start": 0, "window_end": 24, "sunday": True, "skip_holidays": False,
     "cap_ids": [fields.Command.clear()], "arbitration_hours": 0})
Partner = env["res.partner"].with_context(marketing_trigger_disable=True)
partners = Partner.create([{
    "name": f"Journey Click {i}", "email": f"journey.click.{i}@example.com",
    "marketing_consent_email": True, "ref": P["ref"] + f"{i:05d}",
} for i in range(P["participants"])])
# phone_sanitized is the stored E.164 form the engine reads (Odoo computes it on write;
# this bulk UPDATE must set it too).
env.cr.execute("UPDATE res_partner SET phone = '+49 171 2345678', "
               "mobile = '+49 171 2345678', phone_sanitized = '+491712345678' "
               "WHERE ref LIKE %s", [P["ref"] + "%"])
env.invalidate_all()
template = env.ref("marketing_trigger.mail_template_welcome")
journey = env["marketing.journey"].create({
    "name": "Bench: call who clicked", "kind": "partner_registered",
    "partner_domain": repr([("ref", "=like", P["ref"] + "%")])})
Step = env["marketing.journey.step"]
root = Step.create({"journey_id": journey.id, "name": "Welcome", "action": "message",
                    "channel": "email", "mail_template_id": template.id})
call = Step.create({
    "journey_id": journey.id, "name": "Call who clicked", "parent_id": root.id,
    "condition": "clicked", "action": "message", "channel": "phone",
    "message_class": "service",
    "activity_summary": "Call {{ partner.name }}: clicked the welcome email",
    "activity_user_id": env.ref("base.user_admin").id})
journey.action_run()
journey._enter([(p, "bench") for p in partners])
env.cr.commit()
Participant = env["marketing.journey.participant"]
Delivery = env["marketing.trigger.delivery"]
for _ in range(100):
    Participant._cron_advance()
    env.cr.commit()
    if not Participant.search_count([("journey_id", "=", journey.id),
                                     ("next_check_at", "<=", fields.Datetime.now())]):
        break
for _ in range(100):
    Delivery._cron_dispatch()
    env.cr.commit()
    if not Delivery.search_count([("state", "=", "pending"),
                                  ("scheduled_at", "<=", fields.Datetime.now())]):
        break
# The mail server accepted them an hour ago (no SMTP here: Odoo's queue is not run).
env.cr.execute(
    "UPDATE marketing_trigger_delivery SET state = 'sent', "
    "sent_at = now() at time zone 'utc' - interval '1 hour', "
    "scheduled_at = now() at time zone 'utc' - interval '1 hour' "
    "WHERE trigger_id = %s AND state = 'queued' AND mail_id IS NOT NULL",
    [root.trigger_id.id])
env.cr.execute(
    "UPDATE marketing_journey_run SET create_date = now() at time zone 'utc' - interval '1 hour' "
    "WHERE journey_id = %s", [journey.id])
env.cr.execute(
    "UPDATE marketing_journey_participant SET next_check_at = now() at time zone 'utc' "
    "WHERE journey_id = %s AND state = 'running'", [journey.id])
env.invalidate_all()
# Each participant now waits for a click (no check scheduled).
for _ in range(100):
    Participant._cron_advance()
    env.cr.commit()
    if not Participant.search_count([("journey_id", "=", journey.id),
                                     ("next_check_at", "<=", fields.Datetime.now())]):
        break
env["marketing.trigger.link"].sudo()._get_or_create([P["url"]])
env["marketing.trigger.engagement"]._secret()
env.cr.execute("UPDATE ir_cron SET nextcall = now() at time zone 'utc' + interval '1 day'")
env.cr.execute("DELETE FROM ir_cron_trigger")
env.cr.execute("ANALYZE")
env.cr.commit()
"""


def log(message: str) -> None:
    print(f"[journey_realtime] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    log(f"FAILED: {message}")
    sys.exit(1)


def query(sql: str, params=()):
    return server_base.query(RUN_DB, sql, params)


def prepare(src) -> dict:
    """The run database with the journey set up; returns its ids and the click paths."""
    db_base.RUN_DB = RUN_DB
    db_base.ensure_template(src, db_base.devtool.addons_path(src))
    db_base.fresh_run_database()
    params = {"participants": PARTICIPANTS, "ref": REF, "url": URL}
    script = f"PARAMS = {json.dumps(json.dumps(params))}\n" + SETUP
    started = time.perf_counter()
    server_base.run_odoo(src, "shell", "-d", RUN_DB, "--no-http", stdin=script)
    log(f"set-up done in {time.perf_counter() - started:.0f} s")
    ((journey_id, root_trigger, call_trigger),) = query(
        """SELECT j.id, r.trigger_id, c.trigger_id FROM marketing_journey j
        JOIN marketing_journey_step r ON r.journey_id = j.id AND r.parent_id IS NULL
        JOIN marketing_journey_step c ON c.journey_id = j.id AND c.parent_id = r.id
        WHERE j.state = 'running'"""
    )
    deliveries = query(
        """SELECT v.id, v.partner_id FROM marketing_trigger_delivery v
        WHERE v.trigger_id = %s AND v.state = 'sent' ORDER BY v.id""",
        (root_trigger,),
    )
    ((waiting, first_check),) = query(
        """SELECT count(*), min(next_check_at) - now() at time zone 'utc'
        FROM marketing_journey_participant WHERE journey_id = %s AND state = 'running'""",
        (journey_id,),
    )
    log(
        f"{len(deliveries)} welcome emails sent; {waiting} participants wait for a click "
        f"(their first scheduled check in {first_check})"
    )
    if len(deliveries) < CLICKS:
        fail(f"only {len(deliveries)} journey emails were sent in the set-up")
    ((link_id,),) = query("SELECT id FROM marketing_trigger_link WHERE url = %s", (URL,))
    secret = server_base.param(RUN_DB, "marketing_trigger.tracking_secret").encode()
    paths = [
        (d, f"/mt/c/{d}/{link_id}/{server_base.sign(secret, 'click', d, link_id, p)}")
        for d, p in deliveries[:CLICKS]
    ]
    return {"journey_id": journey_id, "root": root_trigger, "call": call_trigger, "paths": paths}


def click(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"User-Agent": server_base.HUMAN})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def latencies(info: dict) -> tuple[list[float], int]:
    """Click-to-activity milliseconds of the clicked participants, and how many of them
    have no activity (yet)."""
    rows = query(
        """WITH first AS (
            SELECT v.partner_id, min(e.create_date) AS clicked
            FROM marketing_trigger_engagement e
            JOIN marketing_trigger_delivery v ON v.id = e.delivery_id
            WHERE e.kind = 'click' AND v.trigger_id = %s GROUP BY v.partner_id)
        SELECT extract(epoch FROM a.create_date - f.clicked) * 1000
        FROM first f
        LEFT JOIN marketing_trigger_delivery c
            ON c.partner_id = f.partner_id AND c.trigger_id = %s
        LEFT JOIN mail_activity a ON a.id = c.activity_id""",
        (info["root"], info["call"]),
    )
    values = sorted(float(r[0]) for r in rows if r[0] is not None)
    return values, sum(1 for r in rows if r[0] is None)


def from_request(info: dict, sent: dict[int, float]) -> list[float]:
    """Milliseconds from the moment the client sent each click to its activity's
    ``create_date``: includes the HTTP request and any retry of its transaction."""
    rows = query(
        """SELECT v.id, extract(epoch FROM a.create_date)
        FROM marketing_trigger_delivery v
        JOIN marketing_trigger_delivery c ON c.partner_id = v.partner_id AND c.trigger_id = %s
        JOIN mail_activity a ON a.id = c.activity_id
        WHERE v.id = ANY(%s)""",
        (info["call"], list(sent)),
    )
    return sorted((float(at) - sent[d]) * 1000 for d, at in rows)


def pct(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, max(0, round(share * len(values)) - 1))], 1)


def main() -> int:
    src = db_base.devtool.find_odoo()
    # Every Odoo process needs the peer addon on its path (it is installed).
    peer = db_base.peer_addons()
    addons_path = db_base.devtool.addons_path
    db_base.devtool.addons_path = lambda source: f"{addons_path(source)},{peer}"
    info = prepare(src)
    server_base.RUN_DB = RUN_DB
    server_base.SERVER_LOG = WORK / "server.log"
    WORK.mkdir(parents=True, exist_ok=True)
    server_base.SERVER_LOG.write_text("")
    server = server_base.Server(src, server_base.WORKERS)
    if not server.start():
        server.stop()
        fail(f"the Odoo server did not start (see {server_base.SERVER_LOG})")
    statuses: dict[int, int] = {}
    try:
        # Warm both HTTP workers on the route (a wrong token: no engagement is recorded).
        for _ in range(8):
            click(server.port, info["paths"][0][1][:-4] + "0000")
        started = time.perf_counter()
        sent = {}
        for i, (delivery_id, path) in enumerate(info["paths"]):
            target = started + i * PACE
            time.sleep(max(0.0, target - time.perf_counter()))
            sent[delivery_id] = time.time()
            status = click(server.port, path)
            statuses[status] = statuses.get(status, 0) + 1
        log(f"{len(info['paths'])} clicks in {time.perf_counter() - started:.0f} s: {statuses}")
        deadline = time.perf_counter() + DRAIN_TIMEOUT
        values, missing = latencies(info)
        while missing and time.perf_counter() < deadline:
            time.sleep(0.5)
            values, missing = latencies(info)
    finally:
        server.stop()
    log_lines = server_base.SERVER_LOG.read_text().splitlines()
    errors = [line for line in log_lines if " ERROR " in line]
    retries = sum("could not serialize access" in line for line in log_lines)
    if errors:
        log(f"{len(errors)} ERROR lines in {server_base.SERVER_LOG}, e.g. {errors[0][:300]}")
    requested = from_request(info, sent)
    result = {
        "bench": "journey_realtime",
        "value": pct(values, 0.95),
        "unit": "ms",
        "p50_ms": pct(values, 0.5),
        "p95_ms": pct(values, 0.95),
        "max_ms": round(values[-1], 1) if values else 0.0,
        "clicks": len(info["paths"]),
        # From the client sending the click (HTTP and transaction retries included).
        "request_p50_ms": pct(requested, 0.5),
        "request_p95_ms": pct(requested, 0.95),
        "serialization_retries": retries,
        "missing": missing,
        "pace_s": PACE,
    }
    log(
        f"click->activity p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, max "
        f"{result['max_ms']} ms; {missing} clicks without an activity"
    )
    print(json.dumps(result), flush=True)
    if statuses.get(303, 0) != len(info["paths"]) or missing or not values:
        log("not every click was answered with a redirect and led to an activity")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
