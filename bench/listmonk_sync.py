"""Benchmark: the first sync of 100,000 partners to Listmonk, and an incremental one.

100,000 partners (generated once with SQL into the cached database ``mt_bench_listmonk``,
``BENCH_LISTMONK_DB`` overrides it): unique lowercase addresses, a third of them in
Hamburg, 70 % with an email consent proof (and the stored consent column set to match),
one address in 200 blacklisted, some with a salesperson, a lifecycle stage, interests or
the main company. The main company's Listmonk server has two lists: "Hamburg"
(``[('city', '=', 'Hamburg')]``) and "Everyone" (``[]``).

Each run starts a fresh fake Listmonk (``listmonk.testing``) in a separate process (so the
client and the server do not share a GIL), points the server at it, forgets every link
and cursor, and times ONE ``server._sync(full=True)`` in-process, commits included
(``value``). It then checks that every consenting, non-blacklisted partner is linked
and synced, and that the fake holds exactly that many subscribers (and the Hamburg list
its share). Then 1,000 synced partners move into or out of Hamburg (city and
``write_date`` by SQL), and ONE ``server._sync()`` is timed (``incremental_1k_s``):
exactly those 1,000 must be updated, those who left Hamburg removed from that list.

    bench/listmonk_sync.py [--profile] [--regenerate]

``--profile`` prints cProfile's top functions of the first sync and its slowest SQL
statements to stderr (the profiler slows the ORM down, so the value is higher then);
``--regenerate`` drops the cached database first. Progress goes to stderr; stdout gets
one JSON line, with where the time went: HTTP requests by route (client-side wall
time), SQL, the phases of the sync, CPU of this process and of the fake.
"""

from __future__ import annotations

import cProfile
import io
import json
import logging
import os
import pstats
import re
import resource
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import _cached_db  # noqa: E402
import devtool  # noqa: E402

DB = os.environ.get("BENCH_LISTMONK_DB", "mt_bench_listmonk")
PARTNERS = 100_000
CHANGED = 1_000
REF = "LMBENCH"
DATA_VERSION = "1"
VERSION_PARAM = "marketing_trigger.bench_listmonk_data"
TARGET_SECONDS = 60
INCREMENTAL_TARGET_SECONDS = 5
TIMEOUT = 30.0
LISTS = (("Hamburg", "[('city', '=', 'Hamburg')]"), ("Everyone", "[]"))
OTHER_CITIES = ("Berlin", "München", "Köln", "Bremen", "Leipzig", "Hannover")
# A partner's original city, from its number g (the digits of its ref); "%%" because
# it goes into statements with parameters.
CITY_SQL = (
    "CASE WHEN {g} %% 3 = 0 THEN 'Hamburg' ELSE (ARRAY["
    + ",".join(f"'{c}'" for c in OTHER_CITIES)
    + f"])[1 + ({{g}} / 3) %% {len(OTHER_CITIES)}] END"
)
SALESPEOPLE = ("Bench Sales One", "Bench Sales Two", "Bench Sales Three")
INTERESTS = ("Printers", "Rhetoric", "English courses", "Copy paper")

FIRST_NAMES = (
    "Anna Ben Clara David Emma Felix Greta Hannah Ida Jonas Karl Lena Mia Noah Olga "
    "Paul Quinn Rosa Sam Tina Uwe Vera Willi Xenia Yusuf Zoe Ada Bruno Carla Dieter"
).split()
LAST_NAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
    "Richter Klein Wolf Neumann Schwarz Braun Zimmermann Smith Jones Brown Taylor Miller"
).split()
EMAIL_LAST = [
    n.lower().replace("ü", "ue").replace("ö", "oe").replace("ä", "ae") for n in LAST_NAMES
]

# The fake Listmonk, in its own process: prints where it listens, serves until its
# stdin closes (so it never outlives the benchmark).
FAKE_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from listmonk.testing import FakeListmonk
fake = FakeListmonk(username="odoo-bench", token="bench-token-0123456789")
fake._log = lambda entry: None  # no request log: 100,000+ requests would only cost memory
fake.start()
print(json.dumps({"base_url": fake.base_url, "username": fake.username,
                  "token": fake.token}), flush=True)
sys.stdin.read()
fake.stop()
"""


def log(message: str) -> None:
    print(f"[listmonk_sync] {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    log(f"FAILED: {message}")
    sys.exit(1)


# ----------------------------------------------------------------------- database


# -------------------------------------------------------------------------- data


def _sql_array(values) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def ensure_fixtures(env):
    """Salespeople and interests the generated partners refer to (ORM, once)."""
    Users = env["res.users"].with_context(active_test=False, no_reset_password=True)
    users = Users.browse()
    for number, name in enumerate(SALESPEOPLE, 1):
        login = f"bench.sales{number}@example.com"
        user = Users.search([("login", "=", login)], limit=1)
        if not user:
            user = Users.create({"name": name, "login": login, "email": login})
        users |= user
    Interest = env["marketing.trigger.interest"].with_context(active_test=False)
    interests = Interest.browse()
    for name in INTERESTS:
        interest = Interest.search([("name", "=", name)], limit=1)
        interests |= interest or Interest.create({"name": name})
    return users, interests


def generate(env, users, interests) -> None:
    cr = env.cr
    started = time.perf_counter()
    cr.execute("DELETE FROM marketing_listmonk_subscriber")
    cr.execute(
        "DELETE FROM marketing_trigger_consent WHERE partner_id IN "
        "(SELECT id FROM res_partner WHERE ref LIKE %s)",
        [REF + "%"],
    )
    cr.execute("DELETE FROM mail_blacklist WHERE email LIKE %s", ["%@lm.example.com"])
    cr.execute("DELETE FROM res_partner WHERE ref LIKE %s", [REF + "%"])
    cr.execute("SELECT id FROM res_country WHERE code = 'DE'")
    de = cr.fetchone()[0]
    cr.execute("SELECT id FROM res_country WHERE code = 'AT'")
    at = cr.fetchone()[0]
    company = env.ref("base.main_company").id
    first, last, email_last = (
        _sql_array(FIRST_NAMES),
        _sql_array(LAST_NAMES),
        _sql_array(EMAIL_LAST),
    )
    nf, nl = len(FIRST_NAMES), len(LAST_NAMES)
    city = CITY_SQL.format(g="g")
    # The foreign-key checks of res_partner (commercial_partner_id, parent_id …) run
    # plans cached by this connection while the table was nearly empty: sequential scans,
    # one per inserted row (100,000 x 100,000 rows read, a quarter of an hour). ANALYZE
    # invalidates them; without sequential scans they are planned again on the index.
    cr.execute("ANALYZE res_partner")
    cr.execute("SET LOCAL enable_seqscan = off")
    cr.execute("SELECT setseed(0.17)")
    cr.execute(
        f"""
        WITH src AS (
            SELECT nextval('res_partner_id_seq') AS id, g,
                   random() AS r_create, random() AS r_consent, random() AS r_user,
                   random() AS r_stage, random() AS r_company, random() AS r_country,
                   random() AS r_active
            FROM generate_series(1, %(n)s) g
        ), p AS (
            SELECT src.*,
                   ({first})[1 + g %% {nf}] AS fn,
                   ({last})[1 + (g / {nf}) %% {nl}] AS ln,
                   lower(({first})[1 + g %% {nf}]) || '.' || ({email_last})[1 + (g / {nf}) %% {nl}]
                       || '.' || g || '@lm.example.com' AS mail,
                   (now() AT TIME ZONE 'UTC') - interval '1 day'
                       - r_create * interval '1000 days' AS created
            FROM src
        )
        INSERT INTO res_partner (
            id, name, complete_name, email, email_normalized, city, country_id, lang, tz,
            active, type, is_company, employee, partner_share, color, customer_rank,
            supplier_rank, autopost_bills, message_bounce, commercial_partner_id, ref,
            company_id, user_id, create_uid, write_uid, create_date, write_date,
            marketing_birthday_mmdd, marketing_consent_email, marketing_consent_sms,
            marketing_consent_phone, marketing_lifecycle_stage)
        SELECT
            id, fn || ' ' || ln, fn || ' ' || ln, mail, mail, {city},
            CASE WHEN r_country < 0.9 THEN %(de)s ELSE %(at)s END, 'en_US', 'Europe/Berlin',
            r_active < 0.98, 'contact', false, false, true, 0, 0, 0, 'ask', 0, id,
            %(ref)s || g,
            CASE WHEN r_company < 0.1 THEN %(company)s END,
            CASE WHEN r_user < 0.4 THEN (%(users)s::int[])[1 + floor(r_user * 7.5)::int] END,
            1, 1, created, created,
            0, r_consent < 0.7, false, false,
            CASE WHEN r_stage < 0.1 THEN 'new' WHEN r_stage < 0.2 THEN 'onboarding'
                 WHEN r_stage < 0.5 THEN 'engaged' WHEN r_stage < 0.6 THEN 'churn_risk' END
        FROM p
        """,
        {
            "n": PARTNERS,
            "de": de,
            "at": at,
            "ref": REF,
            "company": company,
            "users": users.ids,
        },
    )
    cr.execute("SET LOCAL enable_seqscan = on")
    log(f"  {PARTNERS} partners in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    # The stored consent column is what the module computes from the newest proof: one
    # granted email proof per consenting partner.
    cr.execute(
        """INSERT INTO marketing_trigger_consent
            (partner_id, channel, is_granted, source, date, user_id, evidence,
             create_uid, write_uid, create_date, write_date)
        SELECT id, 'email', true, 'import', create_date, 2, 'bench import',
               1, 1, create_date, create_date
        FROM res_partner WHERE ref LIKE %s AND marketing_consent_email""",
        [REF + "%"],
    )
    cr.execute(
        """INSERT INTO mail_blacklist (email, active, create_uid, write_uid, create_date,
                                       write_date)
        SELECT email_normalized, true, 1, 1, create_date, create_date
        FROM res_partner
        WHERE ref LIKE %s AND substr(ref, 8)::int %% 200 = 0
        ON CONFLICT DO NOTHING""",
        [REF + "%"],
    )
    field = env["res.partner"]._fields["marketing_interest_ids"]
    cr.execute(
        f"""INSERT INTO "{field.relation}" ("{field.column1}", "{field.column2}")
        SELECT p.id, (%(interests)s::int[])[1 + i]
        FROM res_partner p, generate_series(0, %(n)s - 1) i
        WHERE p.ref LIKE %(ref)s AND (p.id + i) %% 5 = 0 AND (p.id * 7 + i) %% 3 != 0
        ON CONFLICT DO NOTHING""",
        {"interests": interests.ids, "n": len(interests), "ref": REF + "%"},
    )
    log(f"  consent proofs, blacklist, interests in {time.perf_counter() - started:.1f} s")


def ensure_data(env) -> float:
    """Generate the partners once. Returns the seconds spent (0 when cached)."""
    cr = env.cr
    users, interests = ensure_fixtures(env)
    cr.execute("SELECT count(*) FROM res_partner WHERE ref LIKE %s", [REF + "%"])
    partners = cr.fetchone()[0]
    Param = env["ir.config_parameter"].sudo()
    if partners == PARTNERS and Param.get_param(VERSION_PARAM) == DATA_VERSION:
        return 0.0
    log(f"generating {PARTNERS} partners with SQL (once)")
    started = time.perf_counter()
    generate(env, users, interests)
    Param.set_param(VERSION_PARAM, DATA_VERSION)
    cr.commit()
    env.invalidate_all()
    cr.execute("ANALYZE res_partner")
    cr.execute("ANALYZE marketing_trigger_consent")
    cr.execute("ANALYZE mail_blacklist")
    generated = time.perf_counter() - started
    log(f"data generated in {generated:.1f} s")
    return generated


def restore_partners(cr) -> int:
    """Undo the previous run's incremental change: original city, write_date back to
    the creation date (so that no partner looks changed to the cursor)."""
    city = CITY_SQL.format(g="substr(ref, 8)::int")
    cr.execute(
        f"""UPDATE res_partner SET city = {city}, write_date = create_date
        WHERE ref LIKE %s AND (write_date != create_date OR city IS DISTINCT FROM {city})""",
        [REF + "%"],
    )
    return cr.rowcount


# ------------------------------------------------------------------- fake Listmonk


class FakeProcess:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FAKE_SCRIPT, str(ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            fail(f"the fake Listmonk did not start (exit {self.proc.returncode})")
        info = json.loads(line)
        self.base_url, self.username, self.token = (
            info["base_url"],
            info["username"],
            info["token"],
        )

    def _proc_status(self, key: str) -> int:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> int:
        return round(self._proc_status("VmHWM") / 1024)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -------------------------------------------------------------------- measuring


class Meter:
    """Wall time of HTTP calls (by route), SQL statements and sync phases."""

    def __init__(self):
        self.http_s, self.http_n = Counter(), Counter()
        self.sql_s, self.sql_n = Counter(), Counter()
        self.phase_s, self.phase_n = Counter(), Counter()
        self.push_counts: list[dict] = []
        self.candidates: list[int] = []
        self.on = False

    def reset(self):
        self.__init__()

    # HTTP: every request goes through Transport.call.
    def instrument_http(self, transport_cls):
        call = transport_cls.call
        meter = self

        def timed_call(self, method, path, **kwargs):
            started = time.perf_counter()
            try:
                return call(self, method, path, **kwargs)
            finally:
                if meter.on:
                    key = f"{method.upper()} /" + re.sub(r"/\d+", "/:id", path.lstrip("/"))
                    meter.http_s[key] += time.perf_counter() - started
                    meter.http_n[key] += 1

        transport_cls.call = timed_call

    def instrument_sql(self):
        from odoo.sql_db import Cursor  # noqa: PLC0415 - Odoo is on the path by now

        execute = Cursor.execute
        meter = self

        def timed_execute(self, query, params=None, log_exceptions=True):
            started = time.perf_counter()
            try:
                return execute(self, query, params, log_exceptions)
            finally:
                if meter.on:
                    text = query.code if hasattr(query, "code") else str(query)
                    key = " ".join(text.split())[:160]
                    meter.sql_s[key] += time.perf_counter() - started
                    meter.sql_n[key] += 1

        Cursor.execute = timed_execute

    def instrument_methods(self, cls, names):
        """Time the methods ``names`` of the registry class (those that exist)."""
        meter = self
        for name in names:
            original = getattr(cls, name, None)
            if original is None:
                continue

            def make(original, name):
                def timed(self, *args, **kwargs):
                    started = time.perf_counter()
                    try:
                        result = original(self, *args, **kwargs)
                    finally:
                        meter.phase_s[name] += time.perf_counter() - started
                        meter.phase_n[name] += 1
                    if name == "_push" and isinstance(result, dict):
                        meter.push_counts.append(dict(result))
                    elif name == "_changed_partner_ids":
                        meter.candidates.append(len(result))
                    return result

                return timed

            setattr(cls, name, make(original, name))

    def instrument_function(self, module, name, label):
        """Time a function of a module (looked up through it at call time) or a method
        of a class."""
        original = getattr(module, name, None)
        if original is None:
            return
        meter = self

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                meter.phase_s[label] += time.perf_counter() - started
                meter.phase_n[label] += 1

        setattr(module, name, timed)

    def http_total(self) -> float:
        return sum(self.http_s.values())

    def sql_total(self) -> float:
        return sum(self.sql_s.values())

    def report(self, label: str, elapsed: float, cpu: float, fake_cpu: float) -> dict:
        log(
            f"{label}: {elapsed:.2f} s wall; this process {cpu:.2f} s CPU, fake Listmonk "
            f"{fake_cpu:.2f} s CPU; HTTP {self.http_total():.2f} s in "
            f"{sum(self.http_n.values())} requests; SQL {self.sql_total():.2f} s in "
            f"{sum(self.sql_n.values())} statements"
        )
        for key, seconds in self.http_s.most_common():
            log(f"    {seconds:8.2f} s {self.http_n[key]:7d}x  {key}")
        log("  phases (inclusive):")
        for key, seconds in sorted(self.phase_s.items(), key=lambda kv: -kv[1]):
            log(f"    {seconds:8.2f} s {self.phase_n[key]:7d}x  {key}")
        self.print_sql(8)
        return {
            "http_s": round(self.http_total(), 2),
            "http_requests": dict(self.http_n),
            "http_s_by_route": {k: round(v, 2) for k, v in self.http_s.items()},
            "sql_s": round(self.sql_total(), 2),
            "sql_statements": sum(self.sql_n.values()),
            "phases_s": {k: round(v, 2) for k, v in self.phase_s.items()},
            "odoo_cpu_s": round(cpu, 2),
            "fake_cpu_s": round(fake_cpu, 2),
        }

    def print_sql(self, top: int = 15) -> None:
        log("slowest SQL statements (total seconds, calls, statement):")
        for key, total in self.sql_s.most_common(top):
            print(f"  {total:8.2f} {self.sql_n[key]:6d}  {key}", file=sys.stderr, flush=True)


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------- the server


def setup_server(env, fake: FakeProcess):
    """The main company's server, pointed at this run's fake, with its two lists and
    every link and cursor forgotten."""
    cr = env.cr
    company = env.ref("base.main_company")
    Server = env["marketing.listmonk.server"].sudo().with_context(active_test=False)
    cr.execute("DELETE FROM marketing_listmonk_subscriber")
    values = {
        "url": fake.base_url,
        "api_user": fake.username,
        "api_token": fake.token,
        "timeout": TIMEOUT,
        "sync_active": True,
        "sync_cursor": False,
        "full_sync_at": False,
        "readback_cursor": False,
        "bounce_cursor": 0,
        "retry_at": False,
        "failure_count": 0,
        "last_error": False,
        "last_error_at": False,
        "last_sync_at": False,
        "last_sync_summary": False,
    }
    server = Server.search([("company_id", "=", company.id)], limit=1)
    if server:
        server.write(values)
    else:
        server = Server.create({"company_id": company.id, **values})
    wanted = dict(LISTS)
    Lists = env["marketing.listmonk.list"].sudo().with_context(active_test=False)
    existing = Lists.search([("server_id", "=", server.id)])
    existing.filtered(lambda m: m.name not in wanted).unlink()
    for sequence, (name, domain) in enumerate(LISTS, 1):
        mlist = existing.filtered(lambda m, name=name: m.name == name)
        list_values = {
            "domain": domain,
            "active": True,
            "listmonk_id": 0,
            "sequence": sequence,
            "topic_id": False,
        }
        if mlist:
            mlist.write(list_values)
        else:
            Lists.create({"name": name, "server_id": server.id, **list_values})
    env.flush_all()
    # The cron's environment: no active_test=False (the sync would push archived partners).
    return env["marketing.listmonk.server"].browse(server.id)


def expected_members(cr, company_id: int) -> tuple[int, int]:
    """(everyone, Hamburg): partners that may be on the lists — active, an address, the
    server's company or none, email consent, address not blacklisted."""
    cr.execute(
        """SELECT count(*), count(*) FILTER (WHERE p.city = 'Hamburg')
        FROM res_partner p
        WHERE p.active AND p.email_normalized IS NOT NULL
          AND (p.company_id IS NULL OR p.company_id = %s)
          AND p.marketing_consent_email
          AND NOT EXISTS (SELECT 1 FROM mail_blacklist b
                          WHERE b.email = p.email_normalized AND b.active)""",
        [company_id],
    )
    return cr.fetchone()


def link_counts(cr, server_id: int, hamburg_lid: int) -> dict:
    cr.execute(
        """SELECT count(*) FILTER (WHERE state = 'synced'),
                  count(*) FILTER (WHERE state = 'failed'),
                  count(*) FILTER (WHERE state = 'synced' AND list_ids LIKE %s),
                  count(*) FILTER (WHERE state = 'synced' AND coalesce(listmonk_id, 0) = 0),
                  min(error) FILTER (WHERE state = 'failed')
        FROM marketing_listmonk_subscriber WHERE server_id = %s""",
        [f"%,{hamburg_lid},%", server_id],
    )
    synced, failed, hamburg, without_id, error = cr.fetchone()
    return {
        "synced": synced,
        "failed": failed,
        "hamburg": hamburg,
        "without_id": without_id,
        "error": error,
    }


def timed_sync(env, server, meter: Meter, fake: FakeProcess, full: bool, profile: bool):
    env.cr.commit()
    env.invalidate_all()
    meter.reset()
    profiler = cProfile.Profile() if profile else None
    cpu, fake_cpu = cpu_self(), fake.cpu_seconds()
    meter.on = True
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    try:
        summary = server._sync(full=full) if full else server._sync()
        env.cr.commit()
    except Exception:  # noqa: BLE001 - report whatever the code under test raised
        log(traceback.format_exc())
        fail(f"server._sync(full={full}) raised")
    finally:
        if profiler:
            profiler.disable()
        meter.on = False
    elapsed = time.perf_counter() - started
    cpu, fake_cpu = cpu_self() - cpu, fake.cpu_seconds() - fake_cpu
    log(f"summary: {summary}")
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("cumulative").print_stats("marketing_trigger/(models|listmonk)", 30)
        stats.sort_stats("tottime").print_stats(20)
        print(out.getvalue(), file=sys.stderr, flush=True)
    env.invalidate_all()
    return elapsed, cpu, fake_cpu, summary


def check_server(server, problems: list[str], label: str) -> None:
    server.invalidate_recordset()
    if server.last_error or server.failure_count:
        problems.append(
            f"{label}: the server noted an error (failures {server.failure_count}): "
            f"{server.last_error}"
        )


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
    # httpx logs every request at INFO (Odoo's default level): 100,000 lines here.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    registry = Registry(DB)
    from odoo.addons.marketing_trigger.listmonk import (  # noqa: PLC0415
        ListmonkClient,
    )
    from odoo.addons.marketing_trigger.listmonk import (  # noqa: PLC0415
        sync as listmonk_sync,
    )
    from odoo.addons.marketing_trigger.listmonk import (  # noqa: PLC0415
        transport as listmonk_transport,
    )

    meter = Meter()
    meter.instrument_http(listmonk_transport.Transport)
    meter.instrument_sql()
    meter.instrument_methods(
        registry["marketing.listmonk.server"],
        [
            "_read_back",
            "_read_bounces",
            "_ensure_lists",
            "_changed_partner_ids",
            "_push",
            "_push_batch",
            "_subscriber_attribs",
            "_store_links",
        ],
    )
    # The library's per-batch work (lookups, creates or imports, patches), HTTP included.
    meter.instrument_function(listmonk_sync, "_sync_batch", "listmonk.sync._sync_batch")
    batch_cls = getattr(listmonk_sync, "_Batch", None)
    for name in ("lookup", "import_new", "add_missing_lists", "fetch"):
        meter.instrument_function(batch_cls, name, f"listmonk.sync._Batch.{name}")

    fake = FakeProcess()
    try:
        log(f"fake Listmonk (pid {fake.proc.pid}) at {fake.base_url}")
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            generation = ensure_data(env)
            restored = restore_partners(cr)
            if restored:
                log(f"restored {restored} partners changed by the previous run")
            server = setup_server(env, fake)
            cr.commit()
            cr.execute("SELECT count(*) FROM res_partner WHERE ref LIKE %s", [REF + "%"])
            partners = cr.fetchone()[0]
            company_id = server.company_id.id
            everyone, hamburg = expected_members(cr, company_id)
            log(
                f"first sync of {partners} partners ({everyone} may be on the lists, "
                f"{hamburg} of them in Hamburg)"
            )
            problems: list[str] = []

            # ---- the first, full sync
            elapsed, cpu, fake_cpu, summary = timed_sync(env, server, meter, fake, True, profile)
            first = meter.report("first sync", elapsed, cpu, fake_cpu)
            first_counts = meter.push_counts[-1] if meter.push_counts else {}
            first_candidates = meter.candidates[-1] if meter.candidates else None
            check_server(server, problems, "first sync")
            lids = {m.name: m.listmonk_id for m in server.list_ids}
            links = link_counts(cr, server.id, lids.get("Hamburg") or -1)
            client = ListmonkClient(fake.base_url, fake.username, fake.token, timeout=TIMEOUT)
            with client:
                fake_total = client.query_subscribers(per_page=1).total
                fake_hamburg = (
                    client.query_subscribers(list_ids=[lids["Hamburg"]], per_page=1).total
                    if lids.get("Hamburg")
                    else 0
                )
            log(
                f"links: {links['synced']} synced, {links['failed']} refused; the fake holds "
                f"{fake_total} subscribers, {fake_hamburg} on Hamburg"
            )
            if links["failed"]:
                problems.append(f"{links['failed']} links refused, e.g. {links['error']}")
            if links["synced"] != everyone:
                problems.append(f"{links['synced']} links synced, {everyone} expected")
            if links["without_id"]:
                problems.append(f"{links['without_id']} synced links have no Listmonk ID")
            if links["hamburg"] != hamburg:
                problems.append(f"{links['hamburg']} links on Hamburg, {hamburg} expected")
            if fake_total != everyone:
                problems.append(f"the fake holds {fake_total} subscribers, {everyone} expected")
            if fake_hamburg != hamburg:
                problems.append(f"the fake's Hamburg list has {fake_hamburg}, {hamburg} expected")
            if first_counts.get("created") != everyone:
                problems.append(f"first sync counted {first_counts}, {everyone} creations expected")
            if problems:
                fail("; ".join(problems))

            # ---- 1,000 partners move into or out of Hamburg
            # synced_at has whole seconds: tell the two passes apart (now() is the start of
            # the transaction, so start a new one after the pause).
            cr.commit()
            time.sleep(1.1)
            cr.execute(
                """SELECT s.partner_id FROM marketing_listmonk_subscriber s
                WHERE s.server_id = %s AND s.state = 'synced'
                ORDER BY md5(s.partner_id::text) LIMIT %s""",
                [server.id, CHANGED],
            )
            changed = sorted(row[0] for row in cr.fetchall())
            cr.execute(
                """UPDATE res_partner
                SET city = CASE WHEN city = 'Hamburg' THEN 'Bremen' ELSE 'Hamburg' END,
                    write_date = now() AT TIME ZONE 'UTC'
                WHERE id = ANY(%s) RETURNING id, city""",
                [changed],
            )
            new_city = dict(cr.fetchall())
            left = sum(1 for c in new_city.values() if c != "Hamburg")
            cr.execute("SELECT date_trunc('second', now() AT TIME ZONE 'UTC')")
            changed_at = cr.fetchone()[0]
            cr.commit()
            everyone2, hamburg2 = expected_members(cr, company_id)
            log(
                f"incremental sync: {len(changed)} partners changed city "
                f"({left} left Hamburg, {len(changed) - left} joined)"
            )
            inc_elapsed, inc_cpu, inc_fake_cpu, inc_summary = timed_sync(
                env, server, meter, fake, False, False
            )
            incremental = meter.report("incremental sync", inc_elapsed, inc_cpu, inc_fake_cpu)
            inc_counts = meter.push_counts[-1] if meter.push_counts else {}
            inc_candidates = meter.candidates[-1] if meter.candidates else None
            check_server(server, problems, "incremental sync")
            cr.execute(
                """SELECT partner_id FROM marketing_listmonk_subscriber
                WHERE server_id = %s AND synced_at >= %s""",
                [server.id, changed_at],
            )
            resynced = {row[0] for row in cr.fetchall()}
            links2 = link_counts(cr, server.id, lids["Hamburg"])
            client = ListmonkClient(fake.base_url, fake.username, fake.token, timeout=TIMEOUT)
            with client:
                fake_total2 = client.query_subscribers(per_page=1).total
                fake_hamburg2 = client.query_subscribers(
                    list_ids=[lids["Hamburg"]], per_page=1
                ).total
                wrong_city = []
                for pid in changed[:: max(1, len(changed) // 10)]:
                    found = client.find_subscribers_by_attribute("odoo_partner_id", pid)
                    city = found[0].attribs.get("city") if found else None
                    if city != new_city[pid]:
                        wrong_city.append((pid, city, new_city[pid]))
            expected_counts = {"created": 0, "updated": len(changed), "failed": 0}
            if any(inc_counts.get(k) != v for k, v in expected_counts.items()):
                problems.append(
                    f"incremental sync counted {inc_counts}, {expected_counts} expected"
                )
            if inc_counts.get("removed") != left:
                problems.append(
                    f"incremental sync removed {inc_counts.get('removed')} from lists, {left} "
                    "left Hamburg"
                )
            if resynced != set(changed):
                problems.append(
                    f"{len(resynced)} links re-synced ({len(resynced - set(changed))} not "
                    f"changed, {len(set(changed) - resynced)} changed ones missing)"
                )
            if links2["synced"] != everyone2 or links2["hamburg"] != hamburg2:
                problems.append(
                    f"after the incremental sync {links2['synced']} links synced, "
                    f"{links2['hamburg']} on Hamburg; {everyone2} and {hamburg2} expected"
                )
            if fake_total2 != everyone2 or fake_hamburg2 != hamburg2:
                problems.append(
                    f"after the incremental sync the fake holds {fake_total2}, "
                    f"{fake_hamburg2} on Hamburg; {everyone2} and {hamburg2} expected"
                )
            if wrong_city:
                problems.append(f"the fake has old cities (id, has, wanted): {wrong_city}")

            print(
                json.dumps(
                    {
                        "bench": "listmonk_sync",
                        "value": round(elapsed, 2),
                        "unit": "s",
                        "target_s": TARGET_SECONDS,
                        "incremental_1k_s": round(inc_elapsed, 2),
                        "incremental_target_s": INCREMENTAL_TARGET_SECONDS,
                        "partners": partners,
                        "subscribers": everyone,
                        "hamburg": hamburg,
                        "candidates": first_candidates,
                        "created": first_counts.get("created"),
                        "updated": first_counts.get("updated"),
                        "refused": first_counts.get("failed"),
                        "summary": summary,
                        "first": first,
                        "incremental_changed": len(changed),
                        "incremental_candidates": inc_candidates,
                        "incremental_updated": inc_counts.get("updated"),
                        "incremental_removed": inc_counts.get("removed"),
                        "incremental_summary": inc_summary,
                        "incremental": incremental,
                        "database": db_action,
                        "upgrade_s": round(upgrade_seconds, 1),
                        "generation_s": round(generation, 1),
                        "profiled": profile,
                        "peak_rss_mb": round(
                            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                        ),
                        "fake_peak_rss_mb": fake.peak_rss_mb(),
                    },
                    ensure_ascii=False,
                ),
                flush=True,
            )
            if problems:
                fail("; ".join(problems))
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
