"""Benchmark: click redirects per second through Odoo's HTTP stack, ours against Odoo's
own ``link_tracker`` redirect (``/r/<code>``), on one real Odoo server, in one run.

Ours: ``GET /mt/c/<delivery>/<link>/<token>`` checks the signed token, records a
``marketing.trigger.engagement`` row, marks the delivery clicked (first time), notes
the contact's activity, queues the active engagement triggers (here a "Link clicked"
trigger with record actions only: it sets the lifecycle stage) and answers 303 to the
stored URL. The peer: ``GET /r/<code>`` records a ``link.tracker.click`` (IP, country
lookup) and answers 301 to the tracker's URL.

The server is a real ``odoo-bin`` process on the benchmark database (prefork,
``--workers=2 --max-cron-threads=1 --log-level=warn``; threaded when prefork cannot
start), so the event cron evaluates the queued clicks while the clicks come in, as in
production. The load comes from another process (``bench/_click_client.py``): 20
connections, keep-alive when the server offers it (Odoo's prefork workers answer
HTTP/1.0 and close, so every request connects anew; with 2 workers Odoo listens with
a backlog of 16, so a few connections per second wait for a SYN retransmit, about
1 s: the p99 of both sides shows it), redirects not followed, a browser user agent.
Each side runs for 15 s after a 3 s warm-up, three times, in the order ours, peer |
peer, ours | ours, peer; a side's value is the median of its rounds. After each of
our phases the event queue is drained (backlog and time logged), so the cron's
left-over work from our clicks does not slow the peer down. Server CPU per request
(Odoo processes and PostgreSQL, from /proc) is logged per phase and reported as
``cpu_ms``: a steadier measure than req/s on a small, shared machine.

Data (cached database ``mt_bench_click``, marketing_trigger and link_tracker without
demo data, upgraded when the addon's installed files change): 2,000 contacts who got
the Welcome email (deliveries sent an hour ago), 5 tracked links: 10,000 signed click
URLs; and 10,000 link trackers with their codes for the peer. The engagement trigger:
kind "Link clicked" on the Welcome emails, channel "none", sets the lifecycle stage
"engaged". Every request picks one of the 10,000 URLs at random (same seeded
sequence for both sides), so most deliveries are clicked for the first time early in
a phase and again later. Each run works on a fresh copy (``mt_bench_click_run``).
After the run, SQL checks that every answered click left an engagement row and a
queued event (counted by the event id sequence: processed events are deleted), that
the queue is empty, that the click trigger is still active and decided once for each
clicked delivery (and set its contact's stage), and that the peer left a
link_tracker_click per redirect; the script exits non-zero otherwise.

    bench/click_redirect.py [--profile] [--rebuild]

``--profile`` also times, in-process after the HTTP rounds, 1,000 calls of our
``engagement._record("click", ...)`` and of the peer's ``add_click`` +
``get_url_from_code`` (each followed by a commit, like a request), and prints
cProfile's top of ours to stderr. ``--rebuild`` drops the cached database first.
Environment: BENCH_CLICK_DB (the cached database's name; the run's copy is
<name>_run), CLICK_DURATION, CLICK_WARMUP, CLICK_ROUNDS, CLICK_CONCURRENCY,
CLICK_WORKERS (0 = threaded), CLICK_CRON_WORKERS.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import devtool  # noqa: E402

# engine/tracking.py on its own (no Odoo; engine/ must not go on sys.path: its
# calendar.py would shadow the standard library's).
_spec = importlib.util.spec_from_file_location("_mt_tracking", ROOT / "engine" / "tracking.py")
tracking = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tracking)
sign, classify = tracking.sign, tracking.classify

TEMPLATE_DB = os.environ.get("BENCH_CLICK_DB", "mt_bench_click")
RUN_DB = f"{TEMPLATE_DB}_run"
MODULES = "marketing_trigger,link_tracker"
FINGERPRINT_KEY = "marketing_trigger.bench_click_fingerprint"
DATA_KEY = "marketing_trigger.bench_click_data"
INSTALLED_PARTS = ("__manifest__.py", "models", "data", "security", "views")
DELIVERIES = 2_000
URLS = [
    "https://www.example.com/seminars/hamburg?utm_source=welcome",
    "https://www.example.com/shop/new-arrivals",
    "https://www.example.com/blog/how-to-get-started",
    "https://www.example.com/contactus",
    "https://help.example.com/faq#delivery",
]
DATA_VERSION = f"v2-{DELIVERIES}-{len(URLS)}"
PARTNER_REF = "BENCH-CLICK-"
PEER_LABEL = "click-bench-"
CONCURRENCY = int(os.environ.get("CLICK_CONCURRENCY", 20))
WARMUP = float(os.environ.get("CLICK_WARMUP", 3))
DURATION = float(os.environ.get("CLICK_DURATION", 15))
ROUNDS = int(os.environ.get("CLICK_ROUNDS", 3))
WORKERS = int(os.environ.get("CLICK_WORKERS", 2))
CRON_WORKERS = int(os.environ.get("CLICK_CRON_WORKERS", 1))
DRAIN_TIMEOUT = 75  # above the prefork cron worker's poll interval (60-69 s)
HUMAN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
WORK = devtool.BUILD / "click_redirect"
SERVER_LOG = WORK / "server.log"


def log(message: str) -> None:
    print(f"[click_redirect] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    log(f"FAILED: {message}")
    sys.exit(1)


# ------------------------------------------------------------------------ database


def _pg_params() -> dict:
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER") or devtool.getpass.getuser(),
        "password": os.environ.get("PGPASSWORD"),
    }


def query(dbname: str, sql: str, params=(), quiet=False):
    """Rows of ``sql`` in ``dbname`` (committed); None if the database or the table is
    missing and ``quiet``."""
    import psycopg2  # noqa: PLC0415 - the venv has it

    try:
        conn = psycopg2.connect(dbname=dbname, **_pg_params())
    except psycopg2.OperationalError:
        if quiet:
            return None
        raise
    try:
        with conn, conn.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall() if cr.description else None
    except psycopg2.Error:
        if quiet:
            return None
        raise
    finally:
        conn.close()


def fingerprint(src: Path) -> str:
    """Changes whenever the installed addon (or Odoo) changes."""
    digest = hashlib.sha256()
    digest.update((src / "odoo" / "release.py").read_bytes())
    for part in INSTALLED_PARTS:
        path = ROOT / part
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def param(dbname: str, key: str):
    rows = query(dbname, "SELECT value FROM ir_config_parameter WHERE key = %s", (key,), True)
    return rows[0][0] if rows else None


def set_param(dbname: str, key: str, value: str) -> None:
    query(
        dbname,
        """INSERT INTO ir_config_parameter (key, value, create_date, write_date)
        VALUES (%s, %s, now(), now())
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
        (key, value),
    )


def run_odoo(src: Path, *args: str, stdin: str | None = None) -> None:
    """odoo-bin with ``args`` (a leading "shell" is the subcommand; ``stdin`` its script)."""
    cmd = devtool.odoo_command(
        src,
        *[a for a in args if a != "shell"],
        "--log-level=warn",
        "--max-cron-threads=0",
        "--workers=0",
        f"--http-port={devtool.free_port()}",
    )
    if "shell" in args:
        cmd.insert(2, "shell")  # [python, odoo-bin, shell, options...]
    result = subprocess.run(
        cmd,
        input=stdin,
        text=True,
        env=devtool.odoo_env(src),
        cwd=ROOT,
        stdout=sys.stderr,
        stderr=sys.stderr,
    )
    if result.returncode:
        fail(f"odoo-bin {' '.join(args[:3])} ... exited with {result.returncode}")


# The data, made through the ORM as in production: contacts register, the Welcome
# trigger decides, the dispatcher renders and queues their emails (deliveries 'sent').
SETUP_SCRIPT = """
import json
from odoo import fields

P = json.loads(PARAMS)
env = env(context=dict(env.context, tracking_disable=True))
policy = env["marketing.trigger.policy"]._for_company(env.company)
policy.write({"window_start": 0, "window_end": 24, "sunday": True, "skip_holidays": False,
              "cap_ids": [fields.Command.clear()], "arbitration_hours": 0})
welcome = env.ref("marketing_trigger.marketing_trigger_welcome")
welcome.action_activate()
clicked = env["marketing.trigger"].create({
    "name": "Bench: clicked the welcome email", "kind": "link_clicked",
    "source_trigger_id": welcome.id, "channel": "none",
    "action_lifecycle_stage": "engaged"})
clicked.action_activate()
env.cr.commit()
Partner = env["res.partner"]
n = P["deliveries"]
for start in range(0, n, 500):
    Partner.create([{
        "name": f"Click Bench {i}", "email": f"click.bench.{i}@example.com",
        "marketing_consent_email": True, "ref": P["ref"] + f"{i:05d}",
    } for i in range(start, min(n, start + 500))])
    env.cr.commit()
Event, Delivery = env["marketing.trigger.event"], env["marketing.trigger.delivery"]
for _ in range(1000):
    Event._cron_process_events()
    env.cr.commit()
    if not Event.search_count([("state", "=", "pending")]):
        break
for _ in range(1000):
    Delivery._cron_dispatch()
    env.cr.commit()
    if not Delivery.search_count([("state", "=", "pending"),
                                  ("scheduled_at", "<=", fields.Datetime.now())]):
        break
# The mail server accepted them (no SMTP here: Odoo's queue is not run).
env.cr.execute("UPDATE marketing_trigger_delivery SET state = 'sent' "
               "WHERE trigger_id = %s AND state = 'queued'", [welcome.id])
env.invalidate_all()
sent = Delivery.search_count([("trigger_id", "=", welcome.id), ("state", "=", "sent"),
                              ("channel", "=", "email")])
assert sent == n, f"{sent} of {n} welcome deliveries were sent"
env["marketing.trigger.link"].sudo()._get_or_create(P["urls"])
env["marketing.trigger.engagement"]._secret()
codes = n * len(P["urls"])
for start in range(0, codes, 1000):
    env["link.tracker"].create([{
        "url": P["urls"][j % len(P["urls"])], "title": "Bench link",
        "label": P["label"] + str(j),
    } for j in range(start, min(codes, start + 1000))])
    env.cr.commit()
env.cr.commit()
"""


def ensure_template(src: Path, rebuild: bool) -> None:
    wanted = fingerprint(src)
    data = None if rebuild else param(TEMPLATE_DB, DATA_KEY)
    if data == DATA_VERSION and param(TEMPLATE_DB, FINGERPRINT_KEY) == wanted:
        return
    started = time.perf_counter()
    if data == DATA_VERSION:
        log(f"the addon changed: upgrading it in the cached database {TEMPLATE_DB}")
        run_odoo(src, "-d", TEMPLATE_DB, "-u", devtool.MODULE, "--stop-after-init")
    else:
        log(f"building the cached database {TEMPLATE_DB} ({MODULES}, no demo data) ...")
        devtool.drop_database(TEMPLATE_DB)
        run_odoo(src, "-d", TEMPLATE_DB, "-i", MODULES, "--without-demo=all", "--stop-after-init")
        log(f"  installed in {time.perf_counter() - started:.0f} s; creating the data ...")
        params = {
            "deliveries": DELIVERIES,
            "urls": URLS,
            "ref": PARTNER_REF,
            "label": PEER_LABEL,
        }
        script = f"PARAMS = {json.dumps(json.dumps(params))}\n" + SETUP_SCRIPT
        run_odoo(src, "shell", "-d", TEMPLATE_DB, "--no-http", stdin=script)
        set_param(TEMPLATE_DB, DATA_KEY, DATA_VERSION)
    set_param(TEMPLATE_DB, FINGERPRINT_KEY, wanted)
    log(f"cached database ready in {time.perf_counter() - started:.0f} s")


def fresh_run_database() -> None:
    devtool.drop_database(RUN_DB)
    conn = devtool._pg_connect()
    with conn.cursor() as cr:
        cr.execute(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{TEMPLATE_DB}" STRATEGY FILE_COPY')
    conn.close()
    filestore = Path.home() / ".local/share/Odoo/filestore"
    if (filestore / TEMPLATE_DB).is_dir():
        shutil.copytree(filestore / TEMPLATE_DB, filestore / RUN_DB)


def prepare_run_database() -> dict:
    """Clicks an hour after sending; no cron due but the event cron (when woken); the
    ids and secret the URLs are made of."""
    (welcome_id,) = query(
        RUN_DB,
        """SELECT res_id FROM ir_model_data
        WHERE module = 'marketing_trigger' AND name = 'marketing_trigger_welcome'""",
    )[0]
    query(
        RUN_DB,
        """UPDATE marketing_trigger_delivery
        SET sent_at = now() at time zone 'utc' - interval '1 hour'
        WHERE trigger_id = %s AND state = 'sent'""",
        (welcome_id,),
    )
    # Every other cron out of the way (e.g. the mail queue would try SMTP); the event
    # cron is woken by the clicks themselves (ir.cron.trigger + NOTIFY).
    query(RUN_DB, "DELETE FROM ir_cron_trigger")
    query(
        RUN_DB,
        "UPDATE ir_cron SET nextcall = now() at time zone 'utc' + interval '1 day'",
    )
    deliveries = query(
        RUN_DB,
        """SELECT id, partner_id FROM marketing_trigger_delivery
        WHERE trigger_id = %s AND state = 'sent' AND channel = 'email' ORDER BY id""",
        (welcome_id,),
    )
    links = query(
        RUN_DB,
        "SELECT id FROM marketing_trigger_link WHERE url = ANY(%s) ORDER BY id",
        (URLS,),
    )
    codes = query(
        RUN_DB,
        """SELECT c.code FROM link_tracker_code c JOIN link_tracker l ON l.id = c.link_id
        WHERE l.label LIKE %s ORDER BY l.id""",
        (PEER_LABEL + "%",),
    )
    secret = param(RUN_DB, "marketing_trigger.tracking_secret")
    if len(deliveries) != DELIVERIES or len(links) != len(URLS) or not secret:
        fail(
            f"the cached data is incomplete ({len(deliveries)} deliveries, {len(links)} "
            "links): run with --rebuild"
        )
    ours = [
        f"/mt/c/{d}/{link}/{sign(secret.encode(), 'click', d, link, p)}"
        for d, p in deliveries
        for (link,) in links
    ]
    peer = [f"/r/{code}" for (code,) in codes]
    if len(peer) != len(ours):
        fail(f"{len(peer)} link trackers for {len(ours)} click URLs: run with --rebuild")
    (clicked_id,) = query(
        RUN_DB,
        "SELECT id FROM marketing_trigger WHERE kind = 'link_clicked' AND state = 'active'",
    )[0]
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "ours.txt").write_text("\n".join(ours) + "\n")
    (WORK / "peer.txt").write_text("\n".join(peer) + "\n")
    query(RUN_DB, "ANALYZE")
    return {"welcome_id": welcome_id, "clicked_id": clicked_id, "click_urls": len(ours)}


# -------------------------------------------------------------------------- server


class Server:
    def __init__(self, src: Path, workers: int):
        self.src, self.workers = src, workers
        self.port = devtool.free_port()
        self.proc = None

    def start(self) -> bool:
        cmd = devtool.odoo_command(
            self.src,
            "-d",
            RUN_DB,
            f"--db-filter=^{RUN_DB}$",
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            f"--gevent-port={devtool.free_port()}",
            f"--workers={self.workers}",
            f"--max-cron-threads={CRON_WORKERS}",
            "--log-level=warn",
        )
        self.log = open(SERVER_LOG, "a")  # noqa: SIM115 - closed in stop()
        self.log.write(f"==== {time.ctime()} {' '.join(cmd)}\n")
        self.log.flush()
        self.proc = subprocess.Popen(
            cmd,
            env=devtool.odoo_env(self.src),
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url("/web/login"), timeout=10) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # the prefork master stops its workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: only its group
                self.proc.wait()
        if self.proc:
            self.log.close()


def load(server: Server, paths_file: Path, seed: int, warmup: float, duration: float):
    return load_paced(server, paths_file, seed, duration, 0.0, warmup)


def load_paced(server, paths_file, seed, duration, pace, warmup=0.0):
    """Run the load client; ``pace``: seconds each connection waits between requests."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "_click_client.py"),
            "127.0.0.1",
            str(server.port),
            str(paths_file),
            f"--seed={seed}",
            f"--concurrency={CONCURRENCY}",
            f"--warmup={warmup}",
            f"--duration={duration}",
            f"--user-agent={HUMAN}",
            f"--pace={pace}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode:
        fail(f"the load client failed: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def pending_events() -> int:
    sql = "SELECT count(*) FROM marketing_trigger_event WHERE state = 'pending'"
    return query(RUN_DB, sql)[0][0]


def drain_events() -> tuple[int, float]:
    """Wait for the event cron to empty the queue: (backlog at the start, seconds)."""
    started = time.perf_counter()
    backlog = pending = pending_events()
    while pending and time.perf_counter() - started < DRAIN_TIMEOUT:
        time.sleep(0.25)
        pending = pending_events()
    if pending:
        log(f"  the event queue still holds {pending} events after {DRAIN_TIMEOUT} s")
    return backlog, time.perf_counter() - started


# ------------------------------------------------------------------------- profile


PROFILE_SCRIPT = """
import cProfile, io, json, pstats, random, sys, time
from odoo.addons.marketing_trigger.engine.tracking import sign

P = json.loads(PARAMS)
cr = env.cr
secret = env["marketing.trigger.engagement"]._secret()
cr.execute("SELECT id, partner_id FROM marketing_trigger_delivery WHERE trigger_id = %s "
           "AND state = 'sent' ORDER BY id", [P["welcome_id"]])
deliveries = cr.fetchall()
cr.execute("SELECT id FROM marketing_trigger_link WHERE url = ANY(%s)", [P["urls"]])
links = [r[0] for r in cr.fetchall()]
cr.execute("SELECT c.code FROM link_tracker_code c JOIN link_tracker l ON l.id = c.link_id "
           "WHERE l.label LIKE %s", [P["label"] + "%"])
codes = [r[0] for r in cr.fetchall()]
rng = random.Random(7)
calls = []
for _ in range(P["n"]):
    d, p = rng.choice(deliveries)
    link = rng.choice(links)
    calls.append((d, link, sign(secret, "click", d, link, p)))
peer_calls = [rng.choice(codes) for _ in range(P["n"])]
clicked = env["marketing.trigger"].browse(P["clicked_id"])
if clicked.state != "active":
    print(f"[click_redirect] profile: re-activating the click trigger ({clicked.state})",
          file=sys.stderr)
    clicked.action_activate()
    cr.commit()
Engagement = env["marketing.trigger.engagement"]
Click, Tracker = env["link.tracker.click"].sudo(), env["link.tracker"]

def ours():
    for d, link, token in calls:
        env.invalidate_all()
        Engagement._record("click", d, token, link_id=link, user_agent=P["ua"], method="GET")
        cr.commit()

def peer():
    for code in peer_calls:
        env.invalidate_all()
        Click.add_click(code, ip="127.0.0.1", country_code=None)
        Tracker.get_url_from_code(code)
        cr.commit()

for label, fn in (("ours", ours), ("peer", peer), ("ours", ours), ("peer", peer)):
    started = time.perf_counter()
    fn()
    ms = (time.perf_counter() - started) * 1000 / P["n"]
    print(f"[click_redirect] in-process {label}: {ms:.2f} ms per click (incl. commit)",
          file=sys.stderr, flush=True)
for label, fn in (("ours", ours), ("peer", peer)):
    profile = cProfile.Profile()
    profile.runcall(fn)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
    stats.print_stats(45)
    if label == "ours":
        stats.print_stats("marketing_trigger", 30)
        stats.sort_stats("tottime").print_stats(20)
    print(f"---- cProfile {label} ({P['n']} clicks)", out.getvalue(), file=sys.stderr)
"""


def profile(src: Path, info: dict, n: int = 1000) -> None:
    params = {"n": n, "ua": HUMAN, "urls": URLS, "label": PEER_LABEL, **info}
    script = f"PARAMS = {json.dumps(json.dumps(params))}\n" + PROFILE_SCRIPT
    run_odoo(src, "shell", "-d", RUN_DB, "--no-http", stdin=script)


# ---------------------------------------------------------------------------- main


def event_sequence() -> int:
    """How many event rows were ever inserted (processed events are deleted)."""
    (row,) = query(RUN_DB, "SELECT last_value, is_called FROM marketing_trigger_event_id_seq")
    return row[0] if row[1] else row[0] - 1


def counts(info: dict) -> dict:
    (row,) = query(
        RUN_DB,
        """SELECT
            (SELECT count(*) FROM marketing_trigger_engagement WHERE kind = 'click'),
            (SELECT count(*) FROM marketing_trigger_engagement
             WHERE kind = 'click' AND is_machine),
            (SELECT count(*) FROM marketing_trigger_event WHERE state = 'pending'),
            (SELECT count(*) FROM marketing_trigger_delivery WHERE clicked_at IS NOT NULL),
            (SELECT count(*) FROM marketing_trigger_decision WHERE trigger_id = %s),
            (SELECT count(*) FROM res_partner
             WHERE ref LIKE %s AND marketing_lifecycle_stage = 'engaged'),
            (SELECT count(*) FROM link_tracker_click),
            (SELECT state || coalesce(': ' || last_error, '') FROM marketing_trigger
             WHERE id = %s)""",
        (info["clicked_id"], PARTNER_REF + "%", info["clicked_id"]),
    )
    keys = (
        "engagements",
        "machine",
        "events_pending",
        "clicked_deliveries",
        "click_trigger_decisions",
        "engaged_partners",
        "peer_clicks",
        "click_trigger",
    )
    return dict(zip(keys, row))


class Cpu:
    """CPU seconds used since the last lap by Odoo's HTTP side (the main process and the
    HTTP workers; the gevent process too), Odoo's cron worker (the prefork one runs at
    nice 10) and PostgreSQL, summed per process (one that ended in between is lost)."""

    def __init__(self, server: Server):
        import psutil  # noqa: PLC0415 - Odoo's requirements have it

        self.psutil = psutil
        self.root = psutil.Process(server.proc.pid)
        self.last = self._times()

    def _group(self, process) -> str:
        if process.pid == self.root.pid:
            return "http"
        if process.nice() > 0:
            return "cron"
        return "http"

    def _times(self) -> dict:
        times = {}
        odoo = [self.root, *self.root.children(recursive=True)]
        postgres = [p for p in self.psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        for process in odoo + postgres:
            try:
                group = "pg" if process in postgres else self._group(process)
                cpu = process.cpu_times()
                times[(group, process.pid, process.create_time())] = cpu.user + cpu.system
            except self.psutil.Error:
                continue
        return times

    def lap(self) -> dict:
        """{"http": s, "cron": s, "pg": s} since the previous lap."""
        now = self._times()
        spent = {"http": 0.0, "cron": 0.0, "pg": 0.0}
        for key, seconds in now.items():
            spent[key[0]] += seconds - self.last.get(key, 0.0)
        self.last = now
        return spent


def run_phases(server: Server) -> tuple[dict, dict, list]:
    files = {"ours": WORK / "ours.txt", "peer": WORK / "peer.txt"}
    answered = {"ours": {}, "peer": {}}
    rounds = {"ours": [], "peer": []}
    drains = []
    cpu = Cpu(server)

    def count(side, result):
        for status, n in result["statuses"].items():
            answered[side][status] = answered[side].get(status, 0) + n

    # Every worker loads the registry and warms its caches on both routes.
    for side in ("ours", "peer"):
        count(side, load(server, files[side], 1000, 0, 3))
    drain_events()
    order = []
    for r in range(ROUNDS):
        order += [("ours", r), ("peer", r)] if r % 2 == 0 else [("peer", r), ("ours", r)]
    for side, r in order:
        cpu.lap()
        result = load(server, files[side], r, WARMUP, DURATION)
        spent = cpu.lap()
        count(side, result)
        # CPU per answered request over the whole phase (warm-up included).
        total = max(result["total"], 1)
        for group, seconds in spent.items():
            result[f"{group}_cpu_ms"] = round(seconds * 1000 / total, 2)
        result["odoo_cpu_ms"] = round(result["http_cpu_ms"] + result["cron_cpu_ms"], 2)
        result["client_cpu_ms"] = round(result["client_cpu_s"] * 1000 / total, 2)
        rounds[side].append(result)
        extra = ""
        if side == "ours":
            backlog, seconds = drain_events()
            drains.append(seconds)
            extra = f"; then {backlog} events pending, drained in {seconds:.1f} s"
        log(
            f"{side:>4} round {r + 1}: {result['rps']:7.1f} req/s, p50 {result['p50_ms']} "
            f"ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms, "
            f"{result['slow_1s']} >= 1 s; CPU per request: Odoo HTTP {result['http_cpu_ms']} ms, "
            f"cron {result['cron_cpu_ms']} ms, "
            f"PostgreSQL {result['pg_cpu_ms']} ms, client {result['client_cpu_ms']} ms; "
            f"{result['statuses']}, errors {result['errors']}{extra}"
        )
        if result["errors"]:
            log(f"  first error: {result['first_error']}")
    drain_events()
    return answered, rounds, drains


def verify(info: dict, answered: dict, events_inserted: int) -> list[str]:
    """Every answered click recorded, queued and evaluated; every peer click recorded."""
    found = counts(info)
    found["events_inserted"] = events_inserted
    log(f"database after the run: {found}; answered {answered}")
    ok_ours = answered["ours"].get("303", 0)
    ok_peer = answered["peer"].get("301", 0) + answered["peer"].get("302", 0)
    problems = []
    if found["click_trigger"] != "active":
        problems.append(f"the click trigger is {found['click_trigger'].strip()[:300]}")
    if set(answered["ours"]) - {"303"} or not ok_ours:
        problems.append(f"ours answered {answered['ours']} (all should be 303)")
    if set(answered["peer"]) - {"301", "302"} or not ok_peer:
        problems.append(f"the peer answered {answered['peer']} (all should be 301)")
    if found["engagements"] < ok_ours or found["machine"]:
        problems.append(
            f"{found['engagements']} click engagements ({found['machine']} machine) for "
            f"{ok_ours} redirects"
        )
    if events_inserted < ok_ours:
        problems.append(f"{events_inserted} link_clicked events queued for {ok_ours} clicks")
    if found["events_pending"]:
        problems.append(f"{found['events_pending']} events still pending after the run")
    clicked = found["clicked_deliveries"]
    if not clicked or found["click_trigger_decisions"] != clicked:
        problems.append(
            f"{found['click_trigger_decisions']} decisions of the click trigger for "
            f"{clicked} clicked deliveries"
        )
    if found["engaged_partners"] != clicked:
        problems.append(f"{found['engaged_partners']} contacts engaged for {clicked} clicked")
    if found["peer_clicks"] < ok_peer:
        problems.append(f"{found['peer_clicks']} link_tracker_click rows for {ok_peer} redirects")
    return problems


def main(argv: list[str]) -> int:
    src = devtool.find_odoo()
    ensure_template(src, "--rebuild" in argv)
    fresh_run_database()
    info = prepare_run_database()
    assert classify(HUMAN, "GET", 3600.0) == ("human", False)
    log(f"{info['click_urls']} click URLs (ours) and as many link tracker codes (peer)")
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    SERVER_LOG.write_text("")
    events_before = event_sequence()
    server = Server(src, WORKERS)
    if not server.start():
        server.stop()
        if not WORKERS:
            fail(f"the Odoo server did not start (see {SERVER_LOG})")
        log(f"prefork did not start (see {SERVER_LOG}); trying the threaded server")
        server = Server(src, 0)
        if not server.start():
            server.stop()
            fail(f"the Odoo server did not start (see {SERVER_LOG})")
    mode = f"prefork, {server.workers} workers" if server.workers else "threaded"
    log(f"Odoo on port {server.port} ({mode}, 1 cron worker); {CONCURRENCY} connections")
    try:
        answered, rounds, drains = run_phases(server)
    finally:
        server.stop()
    errors_logged = [line for line in SERVER_LOG.read_text().splitlines() if " ERROR " in line]
    if errors_logged:
        # Serialization failures are logged by odoo.sql_db, then the request is retried.
        log(f"{len(errors_logged)} ERROR lines in {SERVER_LOG}, e.g. {errors_logged[0][:300]}")
    problems = verify(info, answered, event_sequence() - events_before)
    if "--profile" in argv:
        profile(src, info)
    if problems:
        fail("; ".join(problems))

    def median(side, key):
        return round(statistics.median(r[key] for r in rounds[side]), 1)

    result = {
        "bench": "click_redirect",
        "value": median("ours", "rps"),
        "peer": median("peer", "rps"),
        "unit": "req/s",
        "p99_ms": median("ours", "p99_ms"),
        "peer_p99_ms": median("peer", "p99_ms"),
        "p50_ms": median("ours", "p50_ms"),
        "peer_p50_ms": median("peer", "p50_ms"),
        # Server-side CPU per answered request (Odoo processes + PostgreSQL), medians.
        "cpu_ms": round(median("ours", "odoo_cpu_ms") + median("ours", "pg_cpu_ms"), 1),
        "peer_cpu_ms": round(median("peer", "odoo_cpu_ms") + median("peer", "pg_cpu_ms"), 1),
        "concurrency": CONCURRENCY,
        "server": mode,
        "event_drain_s": round(max(drains), 1) if drains else 0.0,
    }
    log(f"ratio: {result['value'] / result['peer']:.2f}x the peer")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
