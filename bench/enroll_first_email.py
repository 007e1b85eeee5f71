"""Benchmark: partners per second from "a segment gains 10,000 contacts" to "each of
them has its first email rendered and queued" (a mail.mail row), ours against OCA's
``automation_oca`` 18.0 doing the same, in one process, on one database server.

Ours: a trigger of kind "Contact enters the segment" (email, the Welcome template) is
activated; then the crons run as Odoo would run them, committing between runs: the
time-based trigger cron decides every contact and queues the deliveries, and the
dispatcher cron renders and queues the emails, 500 per run, until none is due.

The peer: an ``automation.configuration`` on res.partner with one "mail" step (same
template, no delay) is started; then ``run_automation`` creates its records and
steps, and its step cron (``_cron_automation_steps``) renders and queues the emails.

Both run in a copy of a cached database (``mt_bench_enroll``, with marketing_trigger
and automation_oca installed, no demo data), rebuilt when the addon's installed files,
the peer's version or Odoo's change. Contacts are inserted with SQL: one set for us,
one for the peer, each matched by a ``ref`` prefix. Nothing is sent (there is no SMTP
here): the peer sends each email right after creating it (and commits), so
``mail.mail.send`` is made a no-op in this process and only the work up to the queued
email is measured; this spares the peer its SMTP time and per-email commit. The timer
starts right before the trigger (configuration) is activated (started) and stops when
every contact has a mail.mail, which is then checked with SQL.

    bench/enroll_first_email.py [PARTNERS [PEER_PARTNERS]]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import devtool  # noqa: E402

PARTNERS = 10_000
PEER_PARTNERS = 10_000
PEER_WHEEL = "odoo-addon-automation-oca==18.0.1.0.4.13"
PEER_DIR = devtool.BUILD / "peer" / PEER_WHEEL.replace("==", "-")
TEMPLATE_DB = "mt_bench_enroll"
RUN_DB = "mt_bench_enroll_run"
MODULES = "marketing_trigger,automation_oca"
FINGERPRINT_KEY = "marketing_trigger.bench_enroll_fingerprint"
# What an install puts in the database; code elsewhere is loaded fresh on every run.
INSTALLED_PARTS = ("__manifest__.py", "models", "data", "security", "views")
OURS_REF, PEER_REF = "BENCH-ENROLL-OURS-", "BENCH-ENROLL-PEER-"
FLOOR_REF, FAST_FLOOR_REF = "BENCH-ENROLL-FLOOR-", "BENCH-ENROLL-FAST-"
MAX_CRON_RUNS = 10_000


def log(*parts):
    print("[enroll_first_email]", *parts, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- set-up


def peer_addons() -> Path:
    """The folder holding automation_oca, unpacked from its wheel on first use."""
    addons = PEER_DIR / "odoo" / "addons"
    if (addons / "automation_oca" / "__manifest__.py").is_file():
        return addons
    log(f"downloading {PEER_WHEEL} into {PEER_DIR}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--dest",
                tmp,
                PEER_WHEEL,
            ],
            check=True,
            stdout=sys.stderr,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        unpacked = Path(tmp) / "unpacked"
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(unpacked)
        shutil.rmtree(PEER_DIR, ignore_errors=True)
        PEER_DIR.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(unpacked), PEER_DIR)
    return addons


def fingerprint(src: Path) -> str:
    """Changes whenever a fresh install would give another database."""
    digest = hashlib.sha256()
    digest.update((src / "odoo" / "release.py").read_bytes())
    digest.update(PEER_WHEEL.encode())
    for part in INSTALLED_PARTS:
        path = ROOT / part
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def _query(dbname: str, sql: str, params=()):
    import psycopg2  # noqa: PLC0415 - the venv has it

    try:
        conn = psycopg2.connect(dbname=dbname, **_pg_params())
    except psycopg2.OperationalError:
        return None
    try:
        with conn, conn.cursor() as cr:
            cr.execute(sql, params)
            return cr.fetchall() if cr.description else None
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def _pg_params() -> dict:
    import getpass  # noqa: PLC0415

    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER") or getpass.getuser(),
        "password": os.environ.get("PGPASSWORD"),
    }


def ensure_template(src: Path, addons_path: str) -> None:
    """Install both modules in the cached database unless it is up to date."""
    wanted = fingerprint(src)
    rows = _query(
        TEMPLATE_DB, "SELECT value FROM ir_config_parameter WHERE key = %s", (FINGERPRINT_KEY,)
    )
    if rows and rows[0][0] == wanted:
        return
    log(f"building the cached database {TEMPLATE_DB} ({MODULES}, no demo data) ...")
    devtool.drop_database(TEMPLATE_DB)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(src / "odoo-bin"),
            f"--addons-path={addons_path}",
            *devtool.pg_options(),
            "-d",
            TEMPLATE_DB,
            "-i",
            MODULES,
            "--without-demo=all",
            "--stop-after-init",
            "--max-cron-threads=0",
            "--workers=0",
            "--log-level=warn",
        ],
        env=devtool.odoo_env(src),
        cwd=ROOT,
        check=True,
        stdout=sys.stderr,
    )
    installed = _query(
        TEMPLATE_DB,
        "SELECT name FROM ir_module_module WHERE state = 'installed' AND name = ANY(%s)",
        (MODULES.split(","),),
    )
    if len(installed or []) != len(MODULES.split(",")):
        raise SystemExit(f"{TEMPLATE_DB}: {MODULES} did not install (see the log above)")
    _query(
        TEMPLATE_DB,
        """INSERT INTO ir_config_parameter (key, value, create_date, write_date)
        VALUES (%s, %s, now(), now())""",
        (FINGERPRINT_KEY, wanted),
    )
    log(f"built {TEMPLATE_DB} in {time.perf_counter() - started:.0f} s")


def fresh_run_database() -> None:
    """A throw-away copy of the cached database, so every run starts clean."""
    devtool.drop_database(RUN_DB)
    conn = devtool._pg_connect()
    with conn.cursor() as cr:
        cr.execute(f'CREATE DATABASE "{RUN_DB}" TEMPLATE "{TEMPLATE_DB}" STRATEGY FILE_COPY')
    conn.close()
    filestore = Path.home() / ".local/share/Odoo/filestore"
    if (filestore / TEMPLATE_DB).is_dir():
        shutil.copytree(filestore / TEMPLATE_DB, filestore / RUN_DB)


# ------------------------------------------------------------------------ in process


SKIPPED_SENDS = [0]


def load_registry(src: Path, addons_path: str):
    """Odoo's registry of the run database, in this process; sending mail disabled."""
    os.environ["TZ"] = "UTC"
    time.tzset()
    sys.path.insert(0, str(src))
    import odoo  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415
    from odoo.tools import config  # noqa: PLC0415

    config.parse_config(
        [
            f"--addons-path={addons_path}",
            *devtool.pg_options(),
            "-d",
            RUN_DB,
            "--log-level=warn",
            "--max-cron-threads=0",
            "--workers=0",
        ]
    )
    from odoo.addons.mail.models.mail_mail import MailMail  # noqa: PLC0415

    def send(self, *args, **kwargs):
        # No SMTP here: only the work up to the queued email is measured.
        SKIPPED_SENDS[0] += len(self)
        return True

    MailMail.send = send
    return odoo, Registry(RUN_DB)


def insert_partners(env, prefix: str, count: int) -> None:
    """``count`` contacts who agreed to email marketing, inserted with SQL as copies of
    one contact created through the ORM (so every column has its usual default)."""
    cr = env.cr
    proto = env["res.partner"].search([("ref", "=", "BENCH-PROTOTYPE")])
    if not proto:
        proto = (
            env["res.partner"]
            .with_context(tracking_disable=True, marketing_trigger_disable=True)
            .create(
                {
                    "name": "Bench prototype",
                    "email": "bench.prototype@example.com",
                    "ref": "BENCH-PROTOTYPE",
                    "type": "contact",
                    "lang": "en_US",
                    "active": True,
                }
            )
        )
        env.flush_all()
    cr.execute(
        """SELECT column_name FROM information_schema.columns
        WHERE table_name = 'res_partner' AND column_name != 'id'
        ORDER BY ordinal_position"""
    )
    columns = [name for (name,) in cr.fetchall()]
    label = prefix.rstrip("-").lower().replace("-", ".")
    overrides = {
        "name": "'Bench Contact ' || g",
        "complete_name": "'Bench Contact ' || g",
        "email": f"'{label}.' || g || '@example.com'",
        "email_normalized": f"'{label}.' || g || '@example.com'",
        "ref": f"'{prefix}' || lpad(g::text, 6, '0')",
        "commercial_partner_id": "NULL",
        "partner_gid": "NULL",
        "create_date": "now() at time zone 'utc'",
        "write_date": "now() at time zone 'utc'",
        "marketing_consent_email": "true",
    }
    select = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
    insert_columns = ", ".join(f'"{c}"' for c in columns)
    cr.execute(
        f"""INSERT INTO res_partner ({insert_columns})
        SELECT {select} FROM res_partner t, generate_series(1, %s) g WHERE t.id = %s""",
        (count, proto.id),
    )
    cr.execute(
        "UPDATE res_partner SET commercial_partner_id = id WHERE ref LIKE %s",
        (prefix + "%",),
    )
    # Our consent is proven by a row per channel; the stored flag above mirrors it.
    cr.execute(
        """INSERT INTO marketing_trigger_consent
            (partner_id, channel, is_granted, source, date, user_id, evidence,
             create_uid, create_date, write_uid, write_date)
        SELECT id, 'email', true, 'import', now() at time zone 'utc', %s, 'benchmark import',
               %s, now() at time zone 'utc', %s, now() at time zone 'utc'
        FROM res_partner WHERE ref LIKE %s""",
        (env.uid, env.uid, env.uid, prefix + "%"),
    )
    cr.execute("ANALYZE res_partner")
    cr.execute("ANALYZE marketing_trigger_consent")
    env.invalidate_all()


def partners_with_mail(cr, prefix: str) -> tuple[int, int]:
    """(contacts of the set with a mail.mail, mail.mail rows addressed to the set)."""
    cr.execute(
        """SELECT count(DISTINCT rel.res_partner_id), count(DISTINCT rel.mail_mail_id)
        FROM mail_mail_res_partner_rel rel
        JOIN mail_mail m ON m.id = rel.mail_mail_id
        JOIN res_partner p ON p.id = rel.res_partner_id
        WHERE p.ref LIKE %s""",
        (prefix + "%",),
    )
    return cr.fetchone()


class Phases:
    """Seconds spent per phase (and how many runs), for the log."""

    def __init__(self):
        self.start()

    def start(self):
        self.last = time.perf_counter()
        self.seconds, self.runs = {}, {}

    def lap(self, name):
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.runs[name] = self.runs.get(name, 0) + 1
        self.last = now

    def __str__(self):
        parts = []
        for name, seconds in self.seconds.items():
            runs = self.runs[name]
            parts.append(f"{name} {seconds:.1f} s" + (f" ({runs} runs)" if runs > 1 else ""))
        return "; ".join(parts)


def timed(label, function):
    """Run ``function``; under ENROLL_PROFILE=ours|peer, profile it (top of the profile
    on stderr)."""
    if os.environ.get("ENROLL_PROFILE") != label:
        started = time.perf_counter()
        function()
        return time.perf_counter() - started
    import cProfile  # noqa: PLC0415
    import io  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.runcall(function)
    seconds = time.perf_counter() - started
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(60)
    print(out.getvalue(), file=sys.stderr, flush=True)
    profile.dump_stats(str(devtool.BUILD / f"enroll_first_email-{label}.prof"))
    return seconds


def run_ours(odoo, registry, count: int) -> float:
    from odoo import SUPERUSER_ID, fields  # noqa: PLC0415

    def env_of(cr):
        return odoo.api.Environment(cr, SUPERUSER_ID, {})

    with registry.cursor() as cr:
        env = env_of(cr)
        insert_partners(env, OURS_REF, count)
        # Open around the clock, no caps, no arbitration (as the tests set it up).
        env["marketing.trigger.policy"]._for_company(env.company).write(
            {
                "window_start": 0,
                "window_end": 24,
                "sunday": True,
                "skip_holidays": False,
                "cap_ids": [fields.Command.clear()],
                "arbitration_hours": 0,
            }
        )
        trigger = (
            env["marketing.trigger"]
            .with_context(tracking_disable=True)
            .create(
                {
                    "name": "Bench: enters the segment",
                    "kind": "segment_entered",
                    "partner_domain": repr([("ref", "=like", OURS_REF + "%")]),
                    "channel": "email",
                    "mail_template_id": env.ref("marketing_trigger.mail_template_welcome").id,
                    "message_class": "drop",
                }
            )
        )
        trigger_id = trigger.id

    phases = Phases()

    def flow():
        phases.start()
        # One cursor per cron run, committed at its end, as Odoo's cron workers do.
        with registry.cursor() as cr:
            env = env_of(cr)  # referenced until the commit, which flushes it
            env["marketing.trigger"].browse(trigger_id).action_activate()
        phases.lap("activate")
        with registry.cursor() as cr:
            env = env_of(cr)
            env["marketing.trigger"]._cron_evaluate_time_triggers()
        phases.lap("time-trigger cron (decide, queue)")
        for _run in range(MAX_CRON_RUNS):
            with registry.cursor() as cr:
                env = env_of(cr)
                env["marketing.trigger.delivery"]._cron_dispatch()
                cr.execute(
                    """SELECT count(*) FROM marketing_trigger_delivery
                    WHERE state = 'pending' AND scheduled_at <= now() at time zone 'utc'"""
                )
                remaining = cr.fetchone()[0]
            phases.lap("dispatch cron (render emails)")
            if not remaining:
                break

    seconds = timed("ours", flow)
    log("ours:", phases)
    with registry.cursor() as cr:
        env = env_of(cr)
        cr.execute(
            """SELECT outcome, reason_code, count(*) FROM marketing_trigger_decision
            WHERE trigger_id = %s GROUP BY 1, 2""",
            (trigger_id,),
        )
        log("ours: decisions", cr.fetchall())
        cr.execute(
            """SELECT state, count(*), count(mail_id) FROM marketing_trigger_delivery
            WHERE trigger_id = %s GROUP BY 1""",
            (trigger_id,),
        )
        log("ours: deliveries (state, count, with mail)", cr.fetchall())
        trigger = env["marketing.trigger"].browse(trigger_id)
        if trigger.state != "active" or trigger.last_error:
            log(f"ours: the trigger is {trigger.state}: {trigger.last_error or ''}")
        # The peer's contacts are not ours: keep our trigger out of its way.
        env["marketing.trigger"].browse(trigger_id).action_pause()
        verify(cr, "ours", OURS_REF, count)
    return seconds


def run_peer(odoo, registry, count: int) -> float:
    from odoo import SUPERUSER_ID  # noqa: PLC0415

    def env_of(cr):
        return odoo.api.Environment(cr, SUPERUSER_ID, {})

    with registry.cursor() as cr:
        env = env_of(cr)
        insert_partners(env, PEER_REF, count)
        configuration = env["automation.configuration"].create(
            {
                "name": "Bench: enters the segment",
                "model_id": env["ir.model"]._get_id("res.partner"),
                "editable_domain": repr([("ref", "=like", PEER_REF + "%")]),
                "is_periodic": False,
            }
        )
        env["automation.configuration.step"].create(
            {
                "name": "Welcome email",
                "configuration_id": configuration.id,
                "step_type": "mail",
                "trigger_type": "start",
                "trigger_interval": 0,
                "trigger_interval_type": "hours",
                "mail_template_id": env.ref("marketing_trigger.mail_template_welcome").id,
            }
        )
        configuration_id = configuration.id

    phases = Phases()

    def flow():
        phases.start()
        with registry.cursor() as cr:
            env = env_of(cr)  # referenced until the commit, which flushes it
            env["automation.configuration"].browse(configuration_id).start_automation()
        phases.lap("start")
        with registry.cursor() as cr:
            env = env_of(cr)
            env["automation.configuration"].browse(configuration_id).run_automation()
        phases.lap("run_automation (records, steps)")
        for _run in range(MAX_CRON_RUNS):
            # Its step cron commits after each email itself (auto_commit).
            with registry.cursor() as cr:
                env = env_of(cr)
                env["automation.record.step"]._cron_automation_steps()
                cr.execute(
                    """SELECT count(*) FROM automation_record_step
                    WHERE state = 'scheduled' AND scheduled_date <= now() at time zone 'utc'"""
                )
                remaining = cr.fetchone()[0]
            phases.lap("step cron (render emails)")
            if not remaining:
                break

    seconds = timed("peer", flow)
    log("peer:", phases)
    with registry.cursor() as cr:
        cr.execute(
            """SELECT state, count(*) FROM automation_record_step
            WHERE configuration_id = %s GROUP BY 1""",
            (configuration_id,),
        )
        log("peer: record steps (state, count)", cr.fetchall())
        log(f"peer: {SKIPPED_SENDS[0]} emails it asked to send right away were not sent")
        verify(cr, "peer", PEER_REF, count)
    return seconds


def verify(cr, who: str, prefix: str, count: int) -> None:
    partners, mails = partners_with_mail(cr, prefix)
    log(f"{who}: {partners} of {count} contacts have an email queued ({mails} emails)")
    if partners != count:
        print(
            f"enroll_first_email: FAILED: {who}: only {partners} of {count} contacts have a "
            "mail.mail",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(1)


def run_floor(odoo, registry, prefix: str, count: int, compile_once: bool) -> float:
    """Odoo's own batch API alone: ``mail.template.send_mail_batch`` over ``count`` new
    contacts, 500 per transaction, with no decision, consent check or ledger: the cost
    of creating rendered mail.mail records through the ORM, which every side pays.
    ``compile_once``: with this addon's one-compilation-per-batch QWeb rendering (what
    our dispatcher uses), i.e. the floor under our own dispatch."""
    from odoo import SUPERUSER_ID  # noqa: PLC0415

    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, SUPERUSER_ID, {})
        insert_partners(env, prefix, count)
        cr.execute("SELECT id FROM res_partner WHERE ref LIKE %s ORDER BY id", (prefix + "%",))
        partner_ids = [row[0] for row in cr.fetchall()]

    def flow():
        for start in range(0, len(partner_ids), 500):
            with registry.cursor() as cr:
                env = odoo.api.Environment(
                    cr, SUPERUSER_ID, {"marketing_trigger_batch_render": compile_once}
                )
                template = env.ref("marketing_trigger.mail_template_welcome")
                template.send_mail_batch(partner_ids[start : start + 500])

    label = "send_mail_batch" + (" (compiled once)" if compile_once else "")
    seconds = timed(label, flow)
    with registry.cursor() as cr:
        verify(cr, label, prefix, count)
    return seconds


def main(partners: int = PARTNERS, peer_partners: int = PEER_PARTNERS) -> int:
    src = devtool.find_odoo()
    addons_path = f"{devtool.addons_path(src)},{peer_addons()}"
    ensure_template(src, addons_path)
    fresh_run_database()
    odoo, registry = load_registry(src, addons_path)
    log(f"ours: {partners} contacts enter the segment ...")
    ours_s = run_ours(odoo, registry, partners)
    log(f"ours: {ours_s:.1f} s; peer: {peer_partners} contacts ...")
    peer_s = run_peer(odoo, registry, peer_partners)
    log(f"peer: {peer_s:.1f} s")
    floor_s = run_floor(odoo, registry, FLOOR_REF, partners, compile_once=False)
    log(f"odoo send_mail_batch alone: {floor_s:.1f} s")
    fast_floor_s = run_floor(odoo, registry, FAST_FLOOR_REF, partners, compile_once=True)
    log(f"odoo send_mail_batch alone, compiled once: {fast_floor_s:.1f} s")
    result = {
        "bench": "enroll_first_email",
        "value": round(partners / ours_s, 1),
        "peer": round(peer_partners / peer_s, 1),
        "unit": "partners/s",
        "partners": partners,
        "ours_s": round(ours_s, 2),
        "peer_s": round(peer_s, 2),
        # References, not competitors: Odoo's send_mail_batch alone on as many contacts,
        # as shipped and with our one-compilation rendering (the floor under our dispatch).
        "odoo_send_mail_batch": round(partners / floor_s, 1),
        "mail_floor": round(partners / fast_floor_s, 1),
    }
    if peer_partners != partners:
        result["peer_partners"] = peer_partners
    log(f"ratio: {result['value'] / result['peer']:.1f}x the peer")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
