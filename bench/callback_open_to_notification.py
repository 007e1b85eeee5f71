"""Benchmark: from a customer's human open of the callback offers email until the
salesperson's "call now" notification is on Odoo's bus, through a real Odoo server
(prefork, 2 HTTP workers, 1 cron worker) on a copy of ``click_redirect``'s cached
database.

Setup, through the ORM as in production: the shipped *Callback* and *Callback: today's
offers* triggers are activated; 110 contacts of one salesperson (email consent, a
mobile number) asked to be called back an hour ago; the time pass and the dispatcher
run: each gets the call activity and the offers email (the deliveries are marked sent
an hour ago, so an open is not taken for a prefetch on delivery). 10 contacts warm the
workers up; the other 100 open their email one after the other (a browser's user
agent, a GET of the signed open pixel ``/mt/o/<delivery>/<token>.gif``).

The latency of one open: from the moment the request is sent until the bus's
``NOTIFY imbus`` naming the salesperson's channel reaches a listener (this script,
``LISTEN imbus`` as Odoo's websocket server does): the notification is then in
``bus_bus`` (committed) and on its way to the browser. Both ends are this machine's
monotonic clock. After the run, SQL checks that each opened contact has exactly one
``simple_notification`` bus row (sticky, naming the contact) and one "Call now"
activity; a contact without is counted in ``missing``. One JSON line:

    {"bench": "callback_open_to_notification", "value": <p95 ms>, "unit": "ms",
     "p50_ms", "p95_ms", "max_ms", "opens", "missing", "http_p50_ms"}

    bench/callback_open_to_notification.py   (env: CB_OPENS, CB_PAUSE)
"""

from __future__ import annotations

import http.client
import json
import os
import select
import statistics
import sys
import time

import click_redirect as base

OPENS = int(os.environ.get("CB_OPENS", 100))
WARM = 10
PAUSE = float(os.environ.get("CB_PAUSE", 0.2))  # seconds between two opens
NOTIFY_TIMEOUT = 5.0
REF = "BENCH-CALLBACK-"

SETUP = """
import json
from datetime import timedelta
from odoo import fields

P = json.loads(PARAMS)
env = env(context=dict(env.context, tracking_disable=True))
env.ref("marketing_trigger.marketing_trigger_welcome").action_pause()
callback = env.ref("marketing_trigger.marketing_trigger_callback")
offers = env.ref("marketing_trigger.marketing_trigger_callback_offers")
assert offers.notify_salesperson_on_engagement
salesperson = env.ref("base.user_admin")
at = fields.Datetime.now().replace(microsecond=0) - timedelta(hours=1)
env["res.partner"].create([{
    "name": f"Callback Bench {i}", "email": f"callback.bench.{i}@example.com",
    "mobile": "+49 171 2345678", "marketing_consent_email": True,
    "ref": P["ref"] + f"{i:04d}", "user_id": salesperson.id,
    "marketing_callback_at": at,
} for i in range(P["n"])])
(callback | offers).action_activate()
env["marketing.trigger.event"]._cron_process_events()
env["marketing.trigger"]._cron_evaluate_time_triggers()
env["marketing.trigger.delivery"]._cron_dispatch()
env.cr.execute("UPDATE marketing_trigger_delivery SET state = 'sent', sent_at = %s "
               "WHERE trigger_id = %s AND state = 'queued'", [at, offers.id])
env.cr.commit()
"""


def log(message: str) -> None:
    print(f"[callback_open_to_notification] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, max(0, round(share * len(values)) - 1))], 1)


def prepare(src) -> tuple[list[tuple[int, int, str]], int]:
    """The offers deliveries to open, (delivery, partner, pixel path), and the
    salesperson's partner id; every other cron out of the way."""
    params = {"n": OPENS + WARM, "ref": REF}
    script = f"PARAMS = {json.dumps(json.dumps(params))}\n" + SETUP
    base.run_odoo(src, "shell", "-d", base.RUN_DB, "--no-http", stdin=script)
    base.query(base.RUN_DB, "DELETE FROM ir_cron_trigger")
    base.query(base.RUN_DB, "UPDATE ir_cron SET nextcall = now() at time zone 'utc' + '1 day'")
    rows = base.query(
        base.RUN_DB,
        """SELECT d.id, d.partner_id FROM marketing_trigger_delivery d
        JOIN ir_model_data m ON m.res_id = d.trigger_id AND m.module = 'marketing_trigger'
            AND m.name = 'marketing_trigger_callback_offers'
        JOIN res_partner p ON p.id = d.partner_id
        WHERE d.state = 'sent' AND d.channel = 'email' AND p.ref LIKE %s ORDER BY d.id""",
        (REF + "%",),
    )
    calls = base.query(
        base.RUN_DB,
        """SELECT count(*) FROM marketing_trigger_delivery d JOIN res_partner p
        ON p.id = d.partner_id WHERE p.ref LIKE %s AND d.channel = 'phone'
        AND d.activity_id IS NOT NULL""",
        (REF + "%",),
    )[0][0]
    if len(rows) != OPENS + WARM or calls != OPENS + WARM:
        base.fail(f"{len(rows)} offers emails and {calls} calls for {OPENS + WARM} callbacks")
    secret = base.param(base.RUN_DB, "marketing_trigger.tracking_secret").encode()
    (salesperson,) = base.query(
        base.RUN_DB,
        """SELECT u.partner_id FROM res_users u JOIN ir_model_data m ON m.res_id = u.id
        AND m.module = 'base' AND m.name = 'user_admin'""",
    )[0]
    opens = [(d, p, f"/mt/o/{d}/{base.sign(secret, 'open', d, p)}.gif") for d, p in rows]
    base.query(base.RUN_DB, "ANALYZE")
    return opens, salesperson


class Listener:
    """``LISTEN imbus`` where Odoo's bus notifies (the ``postgres`` database)."""

    def __init__(self, channel_marker: str):
        import psycopg2  # noqa: PLC0415 - the venv has it

        self.conn = psycopg2.connect(dbname="postgres", **base._pg_params())
        self.conn.set_isolation_level(0)  # autocommit
        self.conn.cursor().execute("LISTEN imbus")
        self.marker = channel_marker

    def wait(self, deadline: float) -> float | None:
        """The monotonic time the salesperson's channel is notified, or None."""
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return None
            if select.select([self.conn], [], [], left) == ([], [], []):
                return None
            self.conn.poll()
            arrived = time.perf_counter()
            found = any(self.marker in n.payload for n in self.conn.notifies)
            self.conn.notifies.clear()
            if found:
                return arrived

    def close(self) -> None:
        self.conn.close()


def open_pixel(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"User-Agent": base.HUMAN, "Accept": "image/*"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def verify(opens: list[tuple[int, int, str]], salesperson: int) -> int:
    """How many opened contacts lack their one notification or their one activity."""
    channel = json.dumps([base.RUN_DB, "res.partner", salesperson], separators=(",", ":"))
    rows = base.query(
        base.RUN_DB,
        """SELECT p.id, p.name,
            (SELECT count(*) FROM mail_activity a WHERE a.res_model = 'res.partner'
             AND a.res_id = p.id AND a.summary LIKE 'Call now%%')
        FROM res_partner p WHERE p.id = ANY(%s)""",
        ([p for _d, p, _u in opens],),
    )
    messages = [
        json.loads(m)
        for (m,) in base.query(
            base.RUN_DB, "SELECT message FROM bus_bus WHERE channel = %s", (channel,)
        )
    ]
    notices = [m["payload"] for m in messages if m["type"] == "simple_notification"]
    missing = 0
    for _pid, name, activities in rows:
        mine = [n for n in notices if n.get("sticky") and f"Call now: {name} " in n["message"]]
        if len(mine) != 1 or activities != 1:
            missing += 1
    return missing


def main() -> int:
    src = base.devtool.find_odoo()
    base.ensure_template(src, False)
    base.fresh_run_database()
    opens, salesperson = prepare(src)
    base.SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    server = base.Server(src, base.WORKERS)
    if not server.start():
        server.stop()
        base.fail(f"the Odoo server did not start (see {base.SERVER_LOG})")
    listener = Listener(f'"res.partner",{salesperson}]')
    latencies, http_ms, lost = [], [], 0
    try:
        for i, (_delivery, _partner, path) in enumerate(opens):
            time.sleep(PAUSE)
            started = time.perf_counter()
            status = open_pixel(server.port, path)
            answered = time.perf_counter()
            notified = listener.wait(started + NOTIFY_TIMEOUT)
            if status != 200:
                base.fail(f"the open pixel answered {status}")
            if i < WARM:
                continue  # the workers load the registry and warm their caches
            http_ms.append((answered - started) * 1000)
            if notified is None:
                lost += 1
            else:
                latencies.append((notified - started) * 1000)
    finally:
        listener.close()
        server.stop()
    missing = verify(opens[WARM:], salesperson) + lost
    latencies.sort()
    log(
        f"{len(latencies)} notifications for {OPENS} opens: p50 {pct(latencies, 0.5)} ms, "
        f"p95 {pct(latencies, 0.95)} ms, max {latencies[-1] if latencies else 0:.0f} ms; "
        f"pixel answered in {statistics.median(http_ms):.1f} ms (median); missing {missing}"
    )
    result = {
        "bench": "callback_open_to_notification",
        "value": pct(latencies, 0.95),
        "unit": "ms",
        "p50_ms": pct(latencies, 0.5),
        "p95_ms": pct(latencies, 0.95),
        "max_ms": round(latencies[-1], 1) if latencies else 0.0,
        "opens": OPENS,
        "missing": missing,
        "http_p50_ms": round(statistics.median(http_ms), 1),
        "http_workers": base.WORKERS,
    }
    print(json.dumps(result), flush=True)
    return 0 if latencies and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
