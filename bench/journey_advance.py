"""Benchmark: participants per second from "10,000 participants wait on a step whose
time has come" to "each has that step's email rendered and queued" (a mail.mail row),
ours against OCA's ``automation_oca`` 18.0 doing the same, in one process, on one
database server, with Odoo's own ``mail.template.send_mail_batch`` on as many contacts
as the reference floor.

Ours: a running journey whose root step (an email) ran two days ago for every
participant (decision "send", delivery sent, ledger touch and step run, inserted with
SQL as the runtime writes them), and a child step "email, 1 day after the parent"; every
participant's ``next_check_at`` is now. Timed: the journey cron
(``marketing.journey.participant._cron_advance``: claim, plan, decide each due step's
message through the decision engine, write the runs), one cursor and commit per run as
Odoo's cron worker does, until nothing is due; then the dispatcher cron
(``marketing.trigger.delivery._cron_dispatch``) until every due delivery is rendered and
queued.

The peer: an ``automation.configuration`` on res.partner with a parent mail step (at the
start) and a child mail step (``after_step``, 1 day); every record's parent step is done
two days ago and its child step is scheduled for one day ago (inserted with SQL, as its
step cron leaves them). Timed: its step cron (``_cron_automation_steps``) until no step
is due.

Both run in a copy (``mt_bench_journey_run``) of ``enroll_first_email``'s cached database
(``mt_bench_enroll``: marketing_trigger and automation_oca, no demo data), and reuse its
set-up: contacts inserted with SQL, ``mail.mail.send`` a no-op in this process (no SMTP:
the peer sends each email right after creating it), the floor. Afterwards SQL checks
that every participant (record) of each side has exactly one new email.

    bench/journey_advance.py [PARTICIPANTS [PEER_PARTICIPANTS]]
    env: ENROLL_PROFILE=ours|peer (cProfile of that side's timed part, on stderr),
         JOURNEY_ONLY=ours (ours alone, no JSON line)
"""

from __future__ import annotations

import json
import os
import sys

import enroll_first_email as base

PARTICIPANTS = 10_000
PEER_PARTICIPANTS = 10_000
RUN_DB = "mt_bench_journey_run"
OURS_REF, PEER_REF = "BENCH-JOURNEY-OURS-", "BENCH-JOURNEY-PEER-"
FLOOR_REF, FAST_FLOOR_REF = "BENCH-JOURNEY-FLOOR-", "BENCH-JOURNEY-FAST-"
MAX_CRON_RUNS = 10_000
AUDIT = "%s, now() at time zone 'utc', %s, now() at time zone 'utc'"  # uid, uid


def log(*parts):
    print("[journey_advance]", *parts, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- ours


OURS_SETUP_SQL = [
    # Participants entered two days ago, due now.
    """INSERT INTO marketing_journey_participant
        (journey_id, partner_id, company_id, occurrence_key, entered_at, state,
         next_check_at, is_test, create_uid, create_date, write_uid, write_date)
    SELECT %(journey)s, p.id, %(company)s, 'bench', %(two_days_ago)s, 'running',
           %(now)s, false, """
    + AUDIT.replace("%s", "%(uid)s")
    + """
    FROM res_partner p WHERE p.ref LIKE %(prefix)s ORDER BY p.id""",
    # The root step's message: decided "send" two days ago ...
    """INSERT INTO marketing_trigger_decision
        (trigger_id, partner_id, company_id, occurrence_key, outcome, reason_code,
         explanation, channel, decided_at, send_at,
         create_uid, create_date, write_uid, write_date)
    SELECT %(root_trigger)s, p.partner_id, %(company)s, 'journey:' || p.id, 'send', 'send',
           'Bench set-up.', 'email', %(two_days_ago)s, %(two_days_ago)s, """
    + AUDIT.replace("%s", "%(uid)s")
    + """
    FROM marketing_journey_participant p WHERE p.journey_id = %(journey)s""",
    # ... delivered then (the mail.mail is gone, as Odoo deletes sent emails) ...
    """INSERT INTO marketing_trigger_delivery
        (decision_id, trigger_id, partner_id, company_id, occurrence_key, channel, state,
         scheduled_at, sent_at, create_uid, create_date, write_uid, write_date)
    SELECT d.id, d.trigger_id, d.partner_id, d.company_id, d.occurrence_key, 'email',
           'sent', %(two_days_ago)s, %(two_days_ago)s, """
    + AUDIT.replace("%s", "%(uid)s")
    + """
    FROM marketing_trigger_decision d WHERE d.trigger_id = %(root_trigger)s""",
    # ... counted in the contact's ledger ...
    """INSERT INTO marketing_trigger_touch
        (partner_id, channel, date, source, trigger_id, delivery_id, is_counted, note,
         user_id, company_id, create_uid, create_date, write_uid, write_date)
    SELECT v.partner_id, 'email', v.scheduled_at, 'trigger', v.trigger_id, v.id, true,
           %(root_name)s, %(uid)s, v.company_id, """
    + AUDIT.replace("%s", "%(uid)s")
    + """
    FROM marketing_trigger_delivery v WHERE v.trigger_id = %(root_trigger)s""",
    # ... and the step's run.
    """INSERT INTO marketing_journey_run
        (participant_id, step_id, journey_id, partner_id, company_id, decision_id,
         create_uid, create_date, write_uid, write_date)
    SELECT p.id, %(root_step)s, p.journey_id, p.partner_id, p.company_id, d.id,
           %(uid)s, %(two_days_ago)s, %(uid)s, %(two_days_ago)s
    FROM marketing_journey_participant p
    JOIN marketing_trigger_decision d
      ON d.trigger_id = %(root_trigger)s AND d.partner_id = p.partner_id
     AND d.occurrence_key = 'journey:' || p.id
    WHERE p.journey_id = %(journey)s""",
]


def run_ours(odoo, registry, count: int) -> float:
    from datetime import timedelta  # noqa: PLC0415

    from odoo import SUPERUSER_ID, fields  # noqa: PLC0415

    def env_of(cr):
        return odoo.api.Environment(cr, SUPERUSER_ID, {})

    with registry.cursor() as cr:
        env = env_of(cr)
        base.insert_partners(env, OURS_REF, count)
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
        template = env.ref("marketing_trigger.mail_template_welcome")
        env = env(context={"tracking_disable": True})
        journey = env["marketing.journey"].create(
            {
                "name": "Bench: two emails a day apart",
                "kind": "partner_registered",
                "partner_domain": repr([("ref", "=like", OURS_REF + "%")]),
            }
        )
        Step = env["marketing.journey.step"]
        step_vals = {
            "journey_id": journey.id,
            "action": "message",
            "channel": "email",
            "mail_template_id": template.id,
        }
        root = Step.create({**step_vals, "name": "Day 0: welcome"})
        child = Step.create(
            {
                **step_vals,
                "name": "Day 1: benefits",
                "parent_id": root.id,
                "condition": "always",
                "wait_value": 1,
                "wait_unit": "days",
            }
        )
        journey.action_run()
        env.flush_all()
        now = fields.Datetime.now()
        params = {
            "journey": journey.id,
            "company": journey.company_id.id,
            "root_step": root.id,
            "root_trigger": root.trigger_id.id,
            "root_name": root.name,
            "uid": env.uid,
            "prefix": OURS_REF + "%",
            "now": now,
            "two_days_ago": now - timedelta(days=2),
        }
        for sql in OURS_SETUP_SQL:
            cr.execute(sql, params)
        for table in (
            "marketing_journey_participant",
            "marketing_journey_run",
            "marketing_trigger_decision",
            "marketing_trigger_delivery",
            "marketing_trigger_touch",
        ):
            cr.execute(f"ANALYZE {table}")
        env.invalidate_all()
        journey_id, child_trigger_id = journey.id, child.trigger_id.id
        cr.execute(
            "SELECT count(*) FROM marketing_journey_participant WHERE journey_id = %s",
            (journey_id,),
        )
        (participants,) = cr.fetchone()
        if participants != count:
            fail_with(f"ours: {participants} participants inserted for {count}")

    phases = base.Phases()

    def flow():
        phases.start()
        # One cursor per cron run, committed at its end, as Odoo's cron workers do.
        for _run in range(MAX_CRON_RUNS):
            with registry.cursor() as cr:
                env = env_of(cr)
                env["marketing.journey.participant"]._cron_advance()
                cr.execute(
                    """SELECT count(*) FROM marketing_journey_participant
                    WHERE journey_id = %s AND state = 'running'
                      AND next_check_at <= now() at time zone 'utc'""",
                    (journey_id,),
                )
                remaining = cr.fetchone()[0]
            phases.lap("journey cron (plan, decide)")
            if not remaining:
                break
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

    seconds = base.timed("ours", flow)
    log("ours:", phases)
    with registry.cursor() as cr:
        env = env_of(cr)
        cr.execute(
            """SELECT outcome, reason_code, count(*) FROM marketing_trigger_decision
            WHERE trigger_id = %s GROUP BY 1, 2""",
            (child_trigger_id,),
        )
        log("ours: second-step decisions", cr.fetchall())
        cr.execute(
            """SELECT state, count(*), count(mail_id) FROM marketing_trigger_delivery
            WHERE trigger_id = %s GROUP BY 1""",
            (child_trigger_id,),
        )
        log("ours: second-step deliveries (state, count, with mail)", cr.fetchall())
        cr.execute(
            """SELECT p.state, p.next_check_at IS NOT NULL, count(*),
                      count(*) FILTER (WHERE p.last_error IS NOT NULL)
            FROM marketing_journey_participant p WHERE p.journey_id = %s GROUP BY 1, 2""",
            (journey_id,),
        )
        log("ours: participants (state, to check again, count, with error)", cr.fetchall())
        journey = env["marketing.journey"].browse(journey_id)
        if journey.state != "running" or journey.last_error:
            log(f"ours: the journey is {journey.state}: {journey.last_error or ''}")
        verify(cr, "ours", OURS_REF, count)
        # The peer's contacts are not ours: keep our journey out of its way.
        journey.action_pause()
    return seconds


# ----------------------------------------------------------------------------- peer


PEER_SETUP_SQL = [
    """INSERT INTO automation_record
        (configuration_id, model, res_id, state, is_test, is_orphan_record,
         create_uid, create_date, write_uid, write_date)
    SELECT %(configuration)s, 'res.partner', p.id, 'run', false, false, """
    + AUDIT.replace("%s", "%(uid)s")
    + """
    FROM res_partner p WHERE p.ref LIKE %(prefix)s ORDER BY p.id""",
    # The parent step: its email went out two days ago; the child step it created is
    # due one day after it.
    """WITH parents AS (
        INSERT INTO automation_record_step
            (name, record_id, configuration_step_id, configuration_id, step_type,
             trigger_type, scheduled_date, do_not_wait, processed_on, state, parent_position,
             mail_status, is_test, create_uid, create_date, write_uid, write_date)
        SELECT %(parent_name)s, r.id, %(parent_step)s, r.configuration_id, 'mail', 'start',
               %(two_days_ago)s, true, %(two_days_ago)s, 'done', 0, 'sent', false, """
    + AUDIT.replace("%s", "%(uid)s")
    + """
        FROM automation_record r WHERE r.configuration_id = %(configuration)s
        RETURNING id, record_id)
    INSERT INTO automation_record_step
        (name, record_id, configuration_step_id, configuration_id, step_type, trigger_type,
         scheduled_date, do_not_wait, parent_id, state, parent_position, is_test,
         create_uid, create_date, write_uid, write_date)
    SELECT %(child_name)s, p.record_id, %(child_step)s, %(configuration)s, 'mail',
           'after_step', %(one_day_ago)s, false, p.id, 'scheduled', 1, false, """
    + AUDIT.replace("%s", "%(uid)s")
    + """
    FROM parents p""",
]


def run_peer(odoo, registry, count: int) -> float:
    from datetime import timedelta  # noqa: PLC0415

    from odoo import SUPERUSER_ID, fields  # noqa: PLC0415

    def env_of(cr):
        return odoo.api.Environment(cr, SUPERUSER_ID, {})

    with registry.cursor() as cr:
        env = env_of(cr)
        base.insert_partners(env, PEER_REF, count)
        template = env.ref("marketing_trigger.mail_template_welcome")
        configuration = env["automation.configuration"].create(
            {
                "name": "Bench: two emails a day apart",
                "model_id": env["ir.model"]._get_id("res.partner"),
                "editable_domain": repr([("ref", "=like", PEER_REF + "%")]),
                "is_periodic": False,
            }
        )
        Step = env["automation.configuration.step"]
        parent = Step.create(
            {
                "name": "Day 0: welcome",
                "configuration_id": configuration.id,
                "step_type": "mail",
                "trigger_type": "start",
                "trigger_interval": 0,
                "trigger_interval_type": "hours",
                "mail_template_id": template.id,
            }
        )
        child = Step.create(
            {
                "name": "Day 1: benefits",
                "configuration_id": configuration.id,
                "parent_id": parent.id,
                "step_type": "mail",
                "trigger_type": "after_step",
                "trigger_interval": 1,
                "trigger_interval_type": "days",
                "mail_template_id": template.id,
            }
        )
        configuration.start_automation()
        env.flush_all()
        now = fields.Datetime.now()
        params = {
            "configuration": configuration.id,
            "parent_step": parent.id,
            "child_step": child.id,
            "parent_name": parent.name,
            "child_name": child.name,
            "uid": env.uid,
            "prefix": PEER_REF + "%",
            "two_days_ago": now - timedelta(days=2),
            "one_day_ago": now - timedelta(days=1),
        }
        for sql in PEER_SETUP_SQL:
            cr.execute(sql, params)
        cr.execute("ANALYZE automation_record")
        cr.execute("ANALYZE automation_record_step")
        env.invalidate_all()
        configuration_id = configuration.id
        cr.execute(
            """SELECT count(*) FROM automation_record_step
            WHERE configuration_id = %s AND state = 'scheduled'""",
            (configuration_id,),
        )
        (due,) = cr.fetchone()
        if due != count:
            fail_with(f"peer: {due} steps scheduled for {count} records")

    phases = base.Phases()

    def flow():
        phases.start()
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

    seconds = base.timed("peer", flow)
    log("peer:", phases)
    with registry.cursor() as cr:
        cr.execute(
            """SELECT trigger_type, state, count(*) FROM automation_record_step
            WHERE configuration_id = %s GROUP BY 1, 2""",
            (configuration_id,),
        )
        log("peer: record steps (trigger, state, count)", cr.fetchall())
        log(f"peer: {base.SKIPPED_SENDS[0]} emails it asked to send right away were not sent")
        verify(cr, "peer", PEER_REF, count)
    return seconds


# ---------------------------------------------------------------------------- checks


def verify(cr, who: str, prefix: str, count: int) -> None:
    """Every participant of the set has exactly one email (the set-up left none)."""
    cr.execute(
        """SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n > 1), sum(n)
        FROM (SELECT p.id, count(DISTINCT rel.mail_mail_id) AS n
              FROM res_partner p
              JOIN mail_mail_res_partner_rel rel ON rel.res_partner_id = p.id
              WHERE p.ref LIKE %s GROUP BY p.id) per_partner""",
        (prefix + "%",),
    )
    once, more, mails = cr.fetchone()
    log(
        f"{who}: {once} of {count} participants have exactly one email queued "
        f"({more or 0} have more; {mails or 0} emails)"
    )
    if once != count or more:
        fail_with(
            f"{who}: {once} of {count} participants have exactly one mail.mail "
            f"({more} have more)"
        )


def fail_with(message: str) -> None:
    print(f"journey_advance: FAILED: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def main(participants: int = PARTICIPANTS, peer_participants: int = PEER_PARTICIPANTS) -> int:
    base.RUN_DB = RUN_DB  # our own copy: enroll_first_email may run meanwhile
    src = base.devtool.find_odoo()
    addons_path = f"{base.devtool.addons_path(src)},{base.peer_addons()}"
    base.ensure_template(src, addons_path)
    base.fresh_run_database()
    odoo, registry = base.load_registry(src, addons_path)
    log(f"ours: {participants} participants due for their second email ...")
    ours_s = run_ours(odoo, registry, participants)
    if os.environ.get("JOURNEY_ONLY") == "ours":  # profiling: ours alone
        log(f"ours: {ours_s:.1f} s, {participants / ours_s:.1f} participants/s")
        return 0
    log(f"ours: {ours_s:.1f} s; peer: {peer_participants} records ...")
    peer_s = run_peer(odoo, registry, peer_participants)
    log(f"peer: {peer_s:.1f} s")
    floor_s = base.run_floor(odoo, registry, FLOOR_REF, participants, compile_once=False)
    log(f"odoo send_mail_batch alone: {floor_s:.1f} s")
    fast_floor_s = base.run_floor(odoo, registry, FAST_FLOOR_REF, participants, compile_once=True)
    log(f"odoo send_mail_batch alone, compiled once: {fast_floor_s:.1f} s")
    result = {
        "bench": "journey_advance",
        "value": round(participants / ours_s, 1),
        "peer": round(peer_participants / peer_s, 1),
        # Odoo's send_mail_batch alone on as many contacts (the reference floor), and
        # with our one-compilation rendering (the floor under our dispatcher).
        "floor": round(participants / floor_s, 1),
        "mail_floor": round(participants / fast_floor_s, 1),
        "unit": "participants/s",
        "participants": participants,
        "ours_s": round(ours_s, 2),
        "peer_s": round(peer_s, 2),
    }
    if peer_participants != participants:
        result["peer_participants"] = peer_participants
    result["x_peer"] = round(result["value"] / result["peer"], 1)
    result["x_floor"] = round(result["value"] / result["floor"], 2)
    log(f"ratio: {result['x_peer']}x the peer, {result['x_floor']}x the floor")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
