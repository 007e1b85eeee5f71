import contextlib
import time
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.api import Transaction
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, TransactionCase, tagged
from odoo.tests.common import get_db_name


@tagged("post_install", "-at_install")
class TestParallelJobs(TransactionCase):
    """Each marketing queue can run on several cron workers at once."""

    def setUp(self):
        super().setUp()
        self.Cron = self.env["ir.cron"].with_context(active_test=False)
        self.dispatch = self.env.ref("marketing_trigger.ir_cron_dispatch")

    def copies(self, main):
        return self.Cron.search([("marketing_queue_main_id", "=", main.id)])

    def test_the_setting_creates_and_removes_parallel_jobs(self):
        settings = self.env["res.config.settings"].create({"marketing_parallel_jobs": 3})
        settings.execute()
        for xmlid in (
            "marketing_trigger.ir_cron_dispatch",
            "marketing_trigger.ir_cron_process_events",
            "marketing_trigger.ir_cron_redecide",
            "marketing_trigger.ir_cron_journey_advance",
            "marketing_trigger.ir_cron_time_triggers",
        ):
            main = self.env.ref(xmlid)
            copies = self.copies(main)
            self.assertEqual(len(copies), 2, xmlid)
            self.assertEqual(set(copies.mapped("code")), {main.code})
        self.assertEqual(self.env["res.config.settings"].create({}).marketing_parallel_jobs, 3)
        self.env["res.config.settings"].create({"marketing_parallel_jobs": 1}).execute()
        self.assertFalse(self.copies(self.dispatch))

    def test_a_run_that_leaves_work_wakes_all_its_siblings(self):
        self.env["ir.cron"]._marketing_sync_parallel_jobs(4)
        copies = self.copies(self.dispatch)
        self.assertEqual(len(copies), 3)
        Trigger = self.env["ir.cron.trigger"]
        Trigger.search([("cron_id", "in", (self.dispatch | copies).ids)]).unlink()
        _cron, progress = self.dispatch._add_progress()
        self.env["ir.cron"].with_context(
            cron_id=self.dispatch.id, ir_cron_progress_id=progress.id
        )._notify_progress(done=500, remaining=4500)
        self.assertEqual(
            set(Trigger.search([("cron_id", "in", (self.dispatch | copies).ids)]).cron_id.ids),
            set((self.dispatch | copies).ids),
            "the job itself and every sibling are triggered: no idle gap",
        )

    def test_a_run_that_leaves_work_wakes_its_siblings(self):
        self.env["ir.cron"]._marketing_sync_parallel_jobs(2)
        (copy,) = self.copies(self.dispatch)
        Trigger = self.env["ir.cron.trigger"]
        Trigger.search([("cron_id", "in", (self.dispatch | copy).ids)]).unlink()
        _cron, progress = self.dispatch._add_progress()
        cron_env = self.env["ir.cron"].with_context(
            cron_id=self.dispatch.id, ir_cron_progress_id=progress.id
        )
        cron_env._notify_progress(done=500, remaining=0)
        self.assertFalse(Trigger.search([("cron_id", "=", copy.id)]), "nothing left: no wake")
        cron_env._notify_progress(done=500, remaining=4500)
        self.assertTrue(Trigger.search([("cron_id", "=", copy.id)]), "the copy is woken")
        # Another cron's progress wakes nobody of ours.
        other = self.env.ref("marketing_trigger.ir_cron_engagement_retention")
        Trigger.search([("cron_id", "=", copy.id)]).unlink()
        self.env["ir.cron"].with_context(cron_id=other.id)._notify_progress(done=1, remaining=1)
        self.assertFalse(Trigger.search([("cron_id", "=", copy.id)]))


@tagged("post_install", "-at_install")
class TestConcurrentDispatch(BaseCase):
    """Two dispatcher runs at once, each in its own transaction, as two cron workers run
    them: no delivery is claimed twice and none is skipped."""

    def test_two_claimers_share_the_due_deliveries(self):
        dbname = get_db_name()
        registry = Registry(dbname)
        with sql_db.db_connect(dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            trigger = env["marketing.trigger"].create(
                {"name": "Concurrent dispatch", "kind": "inbound", "channel": "phone"}
            )
            partners = env["res.partner"].create([{"name": f"Claim {i}"} for i in range(12)])
            past = fields.Datetime.now() - timedelta(minutes=1)
            decisions = env["marketing.trigger.decision"].create(
                [
                    {
                        "trigger_id": trigger.id,
                        "partner_id": partner.id,
                        "occurrence_key": "concurrent",
                        "outcome": "send",
                        "reason_code": "send",
                        "channel": "phone",
                    }
                    for partner in partners
                ]
            )
            deliveries = env["marketing.trigger.delivery"].create(
                [
                    {
                        "decision_id": decision.id,
                        "trigger_id": trigger.id,
                        "partner_id": decision.partner_id.id,
                        "occurrence_key": "concurrent",
                        "channel": "phone",
                        "scheduled_at": past,
                    }
                    for decision in decisions
                ]
            )
            ids = {"trigger": trigger.id, "partners": partners.ids, "deliveries": deliveries.ids}
            cr.commit()

        def cleanup():
            with sql_db.db_connect(dbname).cursor() as cr:
                cr.execute(
                    "DELETE FROM marketing_trigger_delivery WHERE id = ANY(%s)", [ids["deliveries"]]
                )
                cr.execute("DELETE FROM marketing_trigger WHERE id = %s", [ids["trigger"]])
                cr.execute("DELETE FROM res_partner WHERE id = ANY(%s)", [ids["partners"]])
                cr.commit()

        self.addCleanup(cleanup)

        def env_of(cr):
            cr.transaction = Transaction(registry)
            return api.Environment(cr, SUPERUSER_ID, {})

        with registry.cursor() as cr_a, registry.cursor() as cr_b:
            Delivery_a = env_of(cr_a)["marketing.trigger.delivery"]
            Delivery_b = env_of(cr_b)["marketing.trigger.delivery"]
            now = fields.Datetime.now()
            first = Delivery_a._marketing_claim_due("state", "pending", "scheduled_at", now, 5)
            second = Delivery_b._marketing_claim_due("state", "pending", "scheduled_at", now, 100)
            mine = set(first.ids) & set(ids["deliveries"])
            theirs = set(second.ids) & set(ids["deliveries"])
            self.assertFalse(mine & theirs, "no delivery is claimed by both workers")
            self.assertEqual(mine | theirs, set(ids["deliveries"]), "none is skipped")
            cr_a.rollback()
            cr_b.rollback()


@tagged("post_install", "-at_install")
class TestConcurrentQueues(BaseCase):
    """Every queue, claimed by two cron workers at once (two transactions): no item twice,
    none skipped; a killed worker's items are claimed again."""

    def setUp(self):
        super().setUp()
        self.dbname = get_db_name()
        self.registry = Registry(self.dbname)
        self.created = []

        def cleanup():
            with sql_db.db_connect(self.dbname).cursor() as cr:
                for table, ids in reversed(self.created):
                    cr.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [ids])  # noqa: S608
                cr.commit()

        self.addCleanup(cleanup)

    def committed(self, build):
        """Run ``build(env)`` in its own committed transaction; what it returns."""
        with sql_db.db_connect(self.dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            result = build(env)
            cr.commit()
        return result

    def env_of(self, cr):
        cr.transaction = Transaction(self.registry)
        return api.Environment(cr, SUPERUSER_ID, {})

    def assert_shared(self, claim, ours):
        """Two workers claim at once (the first a small batch): disjoint, complete; then
        the first worker is killed (its connection drops, as when its process is killed)
        and a third claims its items again."""
        with self.registry.cursor() as probe:
            others = len(set(claim(self.env_of(probe), 100000)) - ours)
            probe.rollback()
        cr_a = self.registry.cursor()
        try:
            with self.registry.cursor() as cr_b:
                first = set(claim(self.env_of(cr_a), others + 3)) & ours
                second = set(claim(self.env_of(cr_b), 100000)) & ours
                self.assertTrue(first)
                self.assertFalse(first & second, "no item is claimed by both workers")
                self.assertEqual(first | second, ours, "none is skipped")
                cr_a._cnx.close()  # killed: PostgreSQL ends its transaction, locks go
                for _attempt in range(50):
                    with self.registry.cursor() as cr_c:
                        again = set(claim(self.env_of(cr_c), 100000)) & ours
                        cr_c.rollback()
                    if again == first:
                        break
                    time.sleep(0.1)
                self.assertEqual(again, first, "a killed run's items are claimed again")
                cr_b.rollback()
        finally:
            with contextlib.suppress(Exception):
                cr_a.close()

    def test_events_are_shared_and_a_killed_run_loses_none(self):
        def build(env):
            partners = env["res.partner"].create([{"name": f"Event {i}"} for i in range(8)])
            self.created.append(("res_partner", partners.ids))
            events = env["marketing.trigger.event"].create(
                [
                    {"kind": "partner_registered", "res_model": "res.partner", "res_id": p.id}
                    for p in partners
                ]
            )
            self.created.append(("marketing_trigger_event", events.ids))
            return set(events.ids)

        ours = self.committed(build)
        self.assert_shared(lambda env, n: env["marketing.trigger.event"]._claim(n).ids, ours)

    def test_deferred_decisions_are_shared(self):
        def build(env):
            trigger = env["marketing.trigger"].create(
                {"name": "Concurrent redecide", "kind": "inbound", "channel": "phone"}
            )
            self.created.append(("marketing_trigger", [trigger.id]))
            partners = env["res.partner"].create([{"name": f"Defer {i}"} for i in range(8)])
            self.created.append(("res_partner", partners.ids))
            decisions = env["marketing.trigger.decision"].create(
                [
                    {
                        "trigger_id": trigger.id,
                        "partner_id": p.id,
                        "occurrence_key": "redecide",
                        "outcome": "defer",
                        "reason_code": "outside_window",
                        "channel": "phone",
                        "send_at": fields.Datetime.now() - timedelta(minutes=1),
                    }
                    for p in partners
                ]
            )
            self.created.append(("marketing_trigger_decision", decisions.ids))
            return set(decisions.ids)

        ours = self.committed(build)
        self.assert_shared(
            lambda env, n: env["marketing.trigger.decision"]
            ._marketing_claim_due("outcome", "defer", "send_at", fields.Datetime.now(), n)
            .ids,
            ours,
        )

    def test_journey_participants_are_shared(self):
        def build(env):
            journey = env["marketing.journey"].create(
                {"name": "Concurrent journey", "kind": "partner_registered"}
            )
            self.created.append(("marketing_trigger", [journey.entry_trigger_id.id]))
            self.created.append(("marketing_journey", [journey.id]))
            journey.write({"state": "running"})
            partners = env["res.partner"].create([{"name": f"Journey {i}"} for i in range(8)])
            self.created.append(("res_partner", partners.ids))
            participants = env["marketing.journey.participant"].create(
                [
                    {
                        "journey_id": journey.id,
                        "partner_id": p.id,
                        "company_id": journey.company_id.id,
                        "occurrence_key": "concurrent",
                        "next_check_at": fields.Datetime.now() - timedelta(minutes=1),
                    }
                    for p in partners
                ]
            )
            self.created.append(("marketing_journey_participant", participants.ids))
            return set(participants.ids)

        ours = self.committed(build)
        self.assert_shared(
            lambda env, n: env["marketing.journey.participant"]
            ._claim(fields.Datetime.now(), n)
            .ids,
            ours,
        )

    def test_time_triggers_are_shared_between_parallel_runs(self):
        def build(env):
            triggers = env["marketing.trigger"].create(
                [{"name": f"Time {i}", "kind": "birthday", "channel": "phone"} for i in range(4)]
            )
            self.created.append(("marketing_trigger", triggers.ids))
            return set(triggers.ids)

        ours = self.committed(build)

        with self.registry.cursor() as cr_a, self.registry.cursor() as cr_b:
            Trigger_a = self.env_of(cr_a)["marketing.trigger"]
            Trigger_b = self.env_of(cr_b)["marketing.trigger"]
            first = {t.id for t in Trigger_a.browse(sorted(ours)[:2]) if t._try_lock_time_pass()}
            second = {t.id for t in Trigger_b.browse(sorted(ours)) if t._try_lock_time_pass()}
            self.assertEqual(len(first), 2)
            self.assertFalse(first & second, "a trigger is evaluated by one run at a time")
            self.assertEqual(first | second, ours, "every trigger is evaluated by a run")
            cr_a.rollback()  # the run ends: its triggers are free for the next one
            with self.registry.cursor() as cr_c:
                Trigger_c = self.env_of(cr_c)["marketing.trigger"]
                again = {t.id for t in Trigger_c.browse(sorted(first)) if t._try_lock_time_pass()}
                self.assertEqual(again, first)
                cr_c.rollback()
            cr_b.rollback()
