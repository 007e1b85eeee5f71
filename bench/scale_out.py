"""Benchmark ``scale_out``: the marketing queues drained by one cron worker, by two, and
by two Odoo servers with two cron workers each, on one database and this machine.

Deliveries: N due email deliveries of a service trigger (no consent needed) are queued
(SQL into the addon's own tables, the contacts created once through the ORM in a cached
template database); real Odoo servers (prefork, ``--max-cron-threads``) start on a fresh
copy with *Parallel jobs per queue* = their cron workers in total, and the dispatcher
renders and queues every email (Odoo's mail queue is switched off: nothing is sent).
Events: M queued *Contact registered* events, decided by the event cron (each decides a
Welcome email). A second deliveries pass kills one of the two servers (``kill -9``)
once a third of the queue is done; the other server finishes.

Duplicates: emails beyond one per delivery. Lost: deliveries still pending (or events
still queued) when the queue stopped moving for DRAIN_IDLE seconds.

    {"bench": "scale_out", "value": <2-worker speed-up>, "unit": "x",
     "one_worker_per_s", "two_workers_per_s", "two_servers_per_s", "duplicates", "lost",
     "killed_pass": {...}, "events": {...}, "deliveries", "channel": "email"}

    bench/scale_out.py   (env: SCALE_OUT_DELIVERIES=50000, SCALE_OUT_EVENTS=20000,
                          SCALE_OUT_REBUILD=1 to rebuild the cached database)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import _cached_db  # noqa: E402
import devtool  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DB = os.environ.get("BENCH_SCALE_DB", "mt_bench_scale")
RUN_DB = f"{TEMPLATE_DB}_run"
DELIVERIES = int(os.environ.get("SCALE_OUT_DELIVERIES", 50_000))
EVENTS = int(os.environ.get("SCALE_OUT_EVENTS", 20_000))
CONTACTS = max(DELIVERIES, EVENTS)
STARTUP = 15  # seconds for a server to load the registry and listen for cron wake-ups
DRAIN_IDLE = 90  # seconds without progress: the queue has stopped (prefork poll is 60 s)
WORK = devtool.BUILD / "scale_out"

SETUP = """
Partner = env["res.partner"].with_context(tracking_disable=True, marketing_trigger_disable=True)
have = Partner.search_count([("ref", "like", "SCALE-%")])
for start in range(have, P["contacts"], 2000):
    Partner.create([
        {"name": f"Scale {i}", "email": f"scale{i}@example.com", "ref": f"SCALE-{i}"}
        for i in range(start, min(start + 2000, P["contacts"]))
    ])
    env.cr.commit()
welcome = env.ref("marketing_trigger.marketing_trigger_welcome")
welcome.write({"message_class": "service"})
welcome.action_activate()
env.cr.commit()
"""


def log(message: str) -> None:
    print(f"[scale_out] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    log(message)
    raise SystemExit(1)


def query(sql: str, params=()):
    conn = _cached_db.connect(RUN_DB)
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute(sql, params)
        rows = cr.fetchall() if cr.description else []
    conn.close()
    return rows


def run_shell(src: Path, db: str, script: str, params: dict) -> None:
    cmd = devtool.odoo_command(src, "-d", db, "--no-http", "--log-level=warn")
    cmd.insert(2, "shell")  # the subcommand comes before the options
    stdin = f"import json\nP = json.loads({json.dumps(json.dumps(params))})\n{script}\n"
    result = subprocess.run(
        cmd, input=stdin, text=True, env=devtool.odoo_env(src), cwd=ROOT,
        stdout=sys.stderr, stderr=sys.stderr,
    )  # fmt: skip
    if result.returncode:
        fail("the set-up script failed")


def fresh_run_database() -> None:
    devtool.drop_database(RUN_DB)
    conn = devtool._pg_connect()
    with conn.cursor() as cr:
        cr.execute(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{TEMPLATE_DB}" STRATEGY FILE_COPY')
    conn.close()
    filestore = Path.home() / ".local/share/Odoo/filestore"
    if (filestore / TEMPLATE_DB).is_dir():
        shutil.rmtree(filestore / RUN_DB, ignore_errors=True)
        shutil.copytree(filestore / TEMPLATE_DB, filestore / RUN_DB)


def quiet_crons(jobs: int) -> None:
    """Only the marketing queue jobs run; Odoo's mail queue is off (nothing is sent)."""
    conn = _cached_db.connect(RUN_DB)
    with conn.cursor() as cr:
        cr.execute("UPDATE ir_cron SET nextcall = now() at time zone 'utc' + interval '7 days'")
        cr.execute(
            """UPDATE ir_cron SET active = false WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'mail' AND name = 'ir_cron_mail_scheduler_action')"""
        )
        cr.execute("DELETE FROM ir_cron_trigger")
        cr.execute(
            """INSERT INTO ir_config_parameter (key, value, create_date, write_date)
               VALUES ('marketing_trigger.parallel_jobs', %s, now(), now())
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
            [str(jobs)],
        )
    conn.commit()
    conn.close()


def make_parallel_jobs(src: Path, jobs: int) -> None:
    run_shell(
        src,
        RUN_DB,
        'env["ir.cron"]._marketing_sync_parallel_jobs(P["jobs"]); env.cr.commit()',
        {"jobs": jobs},
    )


def queue_deliveries(n: int) -> None:
    """N due deliveries (and their decisions) of the Welcome trigger, one per contact."""
    conn = _cached_db.connect(RUN_DB)
    with conn.cursor() as cr:
        cr.execute(
            """SELECT d.res_id FROM ir_model_data d WHERE d.module = 'marketing_trigger'
               AND d.name = 'marketing_trigger_welcome'"""
        )
        trigger_id = cr.fetchone()[0]
        cr.execute(
            """WITH p AS (SELECT id, company_id FROM res_partner WHERE ref LIKE 'SCALE-%%'
                          ORDER BY id LIMIT %s),
               dec AS (
                 INSERT INTO marketing_trigger_decision (trigger_id, partner_id, company_id,
                     occurrence_key, outcome, reason_code, channel, decided_at, explanation,
                     create_date, write_date, create_uid, write_uid)
                 SELECT %s, p.id, 1, 'scale', 'send', 'send', 'email',
                        now() at time zone 'utc', 'bench', now() at time zone 'utc',
                        now() at time zone 'utc', 1, 1 FROM p
                 RETURNING id, partner_id)
               INSERT INTO marketing_trigger_delivery (decision_id, trigger_id, partner_id,
                   company_id, occurrence_key, channel, state, scheduled_at, create_date,
                   write_date, create_uid, write_uid)
               SELECT dec.id, %s, dec.partner_id, 1, 'scale', 'email', 'pending',
                      now() at time zone 'utc' - interval '1 minute', now() at time zone 'utc',
                      now() at time zone 'utc', 1, 1 FROM dec""",
            [n, trigger_id, trigger_id],
        )
        cr.execute(
            """INSERT INTO ir_cron_trigger (cron_id, call_at, create_date, write_date)
               SELECT id, now() at time zone 'utc', now(), now() FROM ir_cron
               WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'marketing_trigger'
                            AND name = 'ir_cron_dispatch')
                  OR marketing_queue_main_id IN (SELECT res_id FROM ir_model_data
                            WHERE module = 'marketing_trigger' AND name = 'ir_cron_dispatch')"""
        )
    conn.commit()
    conn.close()


def analyze() -> None:
    """Fresh statistics, as autovacuum would have by then: the planner must not take the
    just-filled queue for an empty table."""
    conn = _cached_db.connect(RUN_DB)
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute("ANALYZE")
    conn.close()


def queue_events(n: int) -> None:
    conn = _cached_db.connect(RUN_DB)
    with conn.cursor() as cr:
        cr.execute(
            """INSERT INTO marketing_trigger_event (kind, res_model, res_id, company_id, state,
                   create_date, write_date, create_uid, write_uid)
               SELECT 'partner_registered', 'res.partner', id, 1, 'pending',
                      now() at time zone 'utc', now() at time zone 'utc', 1, 1
               FROM res_partner WHERE ref LIKE 'SCALE-%%' ORDER BY id LIMIT %s""",
            [n],
        )
        cr.execute(
            """INSERT INTO ir_cron_trigger (cron_id, call_at, create_date, write_date)
               SELECT id, now() at time zone 'utc', now(), now() FROM ir_cron
               WHERE id IN (SELECT res_id FROM ir_model_data WHERE module = 'marketing_trigger'
                            AND name = 'ir_cron_process_events')
                  OR marketing_queue_main_id IN (SELECT res_id FROM ir_model_data
                            WHERE module = 'marketing_trigger'
                              AND name = 'ir_cron_process_events')"""
        )
    conn.commit()
    conn.close()


class Server:
    def __init__(self, src: Path, cron_workers: int, name: str):
        self.src, self.cron_workers, self.name = src, cron_workers, name
        self.proc = None

    def start(self) -> None:
        WORK.mkdir(parents=True, exist_ok=True)
        cmd = devtool.odoo_command(
            self.src,
            "-d",
            RUN_DB,
            f"--db-filter=^{RUN_DB}$",
            "--http-interface=127.0.0.1",
            f"--http-port={devtool.free_port()}",
            f"--gevent-port={devtool.free_port()}",
            # Prefork, as in production: each cron worker is a process of its own (the
            # threads of a threaded server share one interpreter lock).
            "--workers=1",
            f"--max-cron-threads={self.cron_workers}",
            "--limit-time-real-cron=0",
            "--log-level=warn",
        )
        self.logfile = open(WORK / f"{self.name}.log", "a")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd,
            env=devtool.odoo_env(self.src),
            cwd=ROOT,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.logfile.close()


def remaining(kind: str) -> int:
    if kind == "deliveries":
        sql = "SELECT count(*) FROM marketing_trigger_delivery WHERE state = 'pending'"
    else:
        sql = "SELECT count(*) FROM marketing_trigger_event WHERE state = 'pending'"
    return query(sql)[0][0]


def wake() -> float:
    """Tell the servers' cron threads there is work (as Odoo does when a job is
    triggered: they listen on ``cron_trigger``); the moment, to time the drain from."""
    conn = devtool._pg_connect()  # Odoo listens on the "postgres" database
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute("NOTIFY cron_trigger, %s", [RUN_DB])
    conn.close()
    return time.perf_counter()


def drain(kind: str, total: int, servers: list[Server], kill_at: float | None = None) -> dict:
    """Wait until the queue is empty (or stops moving); items per second from the wake-up
    to the last item done."""
    time.sleep(STARTUP)  # the servers load the registry and start listening
    start = wake()
    last = None
    left, last_change, killed = total, time.perf_counter(), False
    while True:
        time.sleep(0.5)
        now = time.perf_counter()
        current = remaining(kind)
        if current < left:
            last, last_change, left = now, now, current
        if kill_at is not None and not killed and current <= total * (1 - kill_at):
            log(f"kill -9 {servers[0].name} with {current} {kind} left")
            servers[0].kill()
            killed = True
        if current == 0 or now - last_change > DRAIN_IDLE:
            break
    elapsed = (last - start) if last else float("nan")
    done = total - left
    return {"done": done, "left": left, "seconds": round(now - start, 1), "per_s": done / elapsed}


def deliveries_check() -> tuple[int, int]:
    (mails, queued, pending) = query(
        """SELECT (SELECT count(*) FROM mail_mail m
                   JOIN marketing_trigger_delivery d ON d.mail_id = m.id),
                  (SELECT count(*) FROM mail_mail m
                   JOIN mail_message msg ON msg.id = m.mail_message_id
                   WHERE msg.model = 'res.partner'
                     AND msg.res_id IN (SELECT partner_id FROM marketing_trigger_delivery)),
                  (SELECT count(*) FROM marketing_trigger_delivery WHERE state = 'pending')"""
    )[0]
    return queued - mails, pending


def phase(src: Path, kind: str, servers: int, crons: int, kill_at: float | None = None) -> dict:
    total = DELIVERIES if kind == "deliveries" else EVENTS
    fresh_run_database()
    jobs = servers * crons
    quiet_crons(jobs)
    make_parallel_jobs(src, jobs)
    quiet_crons(jobs)
    (queue_deliveries if kind == "deliveries" else queue_events)(total)
    analyze()
    log(f"{kind}: {total} queued; {servers} server(s) × {crons} cron worker(s)")
    running = [Server(src, crons, f"server{i}") for i in range(servers)]
    for server in running:
        server.start()
    try:
        result = drain(kind, total, running, kill_at)
    finally:
        for server in running:
            server.stop()
    if kind == "deliveries":
        result["duplicates"], result["lost"] = deliveries_check()
    else:
        result["duplicates"] = query(
            """SELECT count(*) - count(DISTINCT partner_id) FROM marketing_trigger_delivery
               WHERE trigger_id = (SELECT res_id FROM ir_model_data WHERE module =
               'marketing_trigger' AND name = 'marketing_trigger_welcome')"""
        )[0][0]
        result["lost"] = remaining("events")
    log(f"{kind} {servers}×{crons}: {json.dumps(result)}")
    return result


def main(argv: list[str]) -> int:
    src = devtool.find_odoo()
    _cached_db.prepare_database(
        src, TEMPLATE_DB, bool(os.environ.get("SCALE_OUT_REBUILD")), log=log, fail=fail
    )
    run_shell(src, TEMPLATE_DB, SETUP, {"contacts": CONTACTS})
    one = phase(src, "deliveries", 1, 1)
    two = phase(src, "deliveries", 1, 2)
    servers = phase(src, "deliveries", 2, 2)
    killed = phase(src, "deliveries", 2, 2, kill_at=1 / 3)
    events_one = phase(src, "events", 1, 1)
    events_two = phase(src, "events", 1, 2)
    devtool.drop_database(RUN_DB)
    line = {
        "bench": "scale_out",
        "value": round(two["per_s"] / one["per_s"], 2),
        "unit": "x",
        "one_worker_per_s": round(one["per_s"], 1),
        "two_workers_per_s": round(two["per_s"], 1),
        "two_servers_per_s": round(servers["per_s"], 1),
        "duplicates": sum(p["duplicates"] for p in (one, two, servers, killed)),
        "lost": sum(p["lost"] for p in (one, two, servers, killed)),
        "killed_pass": {
            "per_s": round(killed["per_s"], 1),
            "duplicates": killed["duplicates"],
            "lost": killed["lost"],
        },
        "events": {
            "one_worker_per_s": round(events_one["per_s"], 1),
            "two_workers_per_s": round(events_two["per_s"], 1),
            "speed_up": round(events_two["per_s"] / events_one["per_s"], 2),
            "duplicates": events_one["duplicates"] + events_two["duplicates"],
            "lost": events_one["lost"] + events_two["lost"],
        },
        "deliveries": DELIVERIES,
        "queued_events": EVENTS,
        "channel": "email (rendered and queued; Odoo's mail queue off)",
        "target": 1.4,
    }
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
