from datetime import datetime, timedelta

from freezegun import freeze_time
from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.api import Transaction
from odoo.modules.registry import Registry
from odoo.tests import BaseCase, tagged
from odoo.tests.common import get_db_name

from .test_journeys import JourneyCase

NOW = datetime(2026, 3, 10, 9, 0)


@tagged("post_install", "-at_install")
class TestJourneyForecast(JourneyCase):
    @freeze_time(NOW)
    def test_the_forecast_shows_the_next_journey_steps(self):
        journey = self.make_journey()
        day0 = self.email_step(journey, "Day 0")
        self.email_step(journey, "Day 3", day0, wait_value=3)
        self.email_step(journey, "Day 10", day0, wait_value=10)
        journey.action_run()
        self.make_partner("Fiona Forecast", "fiona@example.com")
        self.advance()
        self.dispatch()
        wizard = self.env["marketing.trigger.forecast"].create({"days": 30, "trigger_ids": False})
        wizard.action_run()
        sent = wizard.line_ids.filtered(lambda line: line.sent_count)
        by_name = {line.trigger_id.display_name: line.day for line in sent}
        self.assertEqual(
            by_name,
            {
                "Welcome programme ▸ Day 3": (NOW + timedelta(days=3)).date(),
                "Welcome programme ▸ Day 10": (NOW + timedelta(days=10)).date(),
            },
        )
        decided = self.Decision.search([("trigger_id", "in", journey.step_ids.trigger_id.ids)])
        self.assertEqual(decided, journey.participant_ids.run_ids.decision_id, "nothing decided")
        without = self.env["marketing.trigger.forecast"].create(
            {"days": 30, "include_journeys": False}
        )
        self.assertFalse(without._forecast_candidates(NOW, NOW + timedelta(days=30)))


@tagged("post_install", "-at_install")
class TestJourneyConcurrentAdvance(BaseCase):
    """Two cron workers advancing one journey at once, each in its own transaction:
    nobody is claimed twice, nobody is skipped, every step runs once."""

    def test_two_workers_share_the_participants(self):
        dbname = get_db_name()
        registry = Registry(dbname)
        with sql_db.db_connect(dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})
            journey = env["marketing.journey"].create(
                {"name": "Concurrent journey", "kind": "partner_registered"}
            )
            tag = env["res.partner.category"].create({"name": "Concurrent journey tag"})
            env["marketing.journey.step"].create(
                {
                    "journey_id": journey.id,
                    "name": "Tag",
                    "action": "update",
                    "action_tag_add_ids": [fields.Command.link(tag.id)],
                }
            )
            journey.action_run()
            partners = env["res.partner"].create([{"name": f"Concurrent {i}"} for i in range(10)])
            journey._enter([(p, "concurrent") for p in partners])
            cr.execute(
                "UPDATE marketing_journey_participant SET next_check_at = %s "
                "WHERE journey_id = %s",
                [fields.Datetime.now() - timedelta(minutes=1), journey.id],
            )
            ids = {
                "journey": journey.id,
                "triggers": (journey.entry_trigger_id | journey.step_ids.trigger_id).ids,
                "partners": partners.ids,
                "tag": tag.id,
            }
            cr.commit()

        def cleanup():
            with sql_db.db_connect(dbname).cursor() as cr:
                cr.execute(
                    "DELETE FROM marketing_journey_participant WHERE journey_id = %s",
                    [ids["journey"]],
                )
                cr.execute(
                    "DELETE FROM marketing_journey_step WHERE journey_id = %s", [ids["journey"]]
                )
                cr.execute("DELETE FROM marketing_journey WHERE id = %s", [ids["journey"]])
                cr.execute("DELETE FROM marketing_trigger WHERE id = ANY(%s)", [ids["triggers"]])
                cr.execute("DELETE FROM res_partner WHERE id = ANY(%s)", [ids["partners"]])
                cr.execute("DELETE FROM res_partner_category WHERE id = %s", [ids["tag"]])
                cr.commit()

        self.addCleanup(cleanup)

        def env_of(cr):
            cr.transaction = Transaction(registry)
            return api.Environment(cr, SUPERUSER_ID, {"tracking_disable": True})

        Participant = "marketing.journey.participant"
        with registry.cursor() as cr_a, registry.cursor() as cr_b:
            env_a, env_b = env_of(cr_a), env_of(cr_b)
            now = fields.Datetime.now()
            first = env_a[Participant]._claim(now, 6)
            second = env_b[Participant]._claim(now, 100)
            mine = set(first.filtered(lambda p: p.journey_id.id == ids["journey"]).ids)
            theirs = set(second.filtered(lambda p: p.journey_id.id == ids["journey"]).ids)
            self.assertFalse(mine & theirs, "no participant is claimed by both workers")
            self.assertEqual(len(mine | theirs), 10, "nobody is skipped")
            first._advance(now)
            second._advance(now)
            cr_a.commit()
            cr_b.commit()
        with sql_db.db_connect(dbname).cursor() as cr:
            cr.execute(
                """SELECT count(*), count(DISTINCT r.participant_id)
                FROM marketing_journey_run r JOIN marketing_journey_participant p
                  ON p.id = r.participant_id WHERE p.journey_id = %s""",
                [ids["journey"]],
            )
            self.assertEqual(cr.fetchone(), (10, 10), "every participant ran its step once")
