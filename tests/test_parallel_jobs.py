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
        ):
            main = self.env.ref(xmlid)
            copies = self.copies(main)
            self.assertEqual(len(copies), 2, xmlid)
            self.assertEqual(set(copies.mapped("code")), {main.code})
        self.assertEqual(self.env["res.config.settings"].create({}).marketing_parallel_jobs, 3)
        self.env["res.config.settings"].create({"marketing_parallel_jobs": 1}).execute()
        self.assertFalse(self.copies(self.dispatch))

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
