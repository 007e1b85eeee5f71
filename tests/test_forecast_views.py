import io
import json
from contextlib import redirect_stdout
from datetime import date, datetime, timedelta

from freezegun import freeze_time
from odoo import fields
from odoo.tests import tagged

from ..cli.marketing_forecast import MarketingForecast
from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestForecastPerTrigger(MarketingTriggerCase):
    """The forecast answers "what would each trigger send on which day" at a glance."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        # Two birthday triggers on two segments of this test's own contacts, whatever
        # birthdays the demo data brings.
        cls.segment_a, cls.segment_b = cls.env["res.partner.category"].create(
            [{"name": "Forecast A"}, {"name": "Forecast B"}]
        )
        cls.birthday = cls.env.ref("marketing_trigger.marketing_trigger_birthday")
        cls.birthday.partner_domain = repr([("category_id", "in", cls.segment_a.ids)])
        cls.vip = cls.birthday.copy(
            {
                "name": "VIP birthday",
                "partner_domain": repr([("category_id", "in", cls.segment_b.ids)]),
            }
        )
        cls.policy.write({"cap_ids": [fields.Command.create({"limit": 1, "days": 7})]})
        cls.env.user.tz = "Europe/Berlin"

    def born(self, name, birthdate, segment):
        return self.Partner.create(
            {
                "name": name,
                "email": f"{name.split()[0].lower()}@example.com",
                "marketing_consent_email": True,
                "marketing_birthdate": birthdate,
                "tz": "Europe/Berlin",
                "category_id": [fields.Command.set(segment.ids)],
            }
        )

    def run_forecast(self, days=5):
        wizard = self.env["marketing.trigger.forecast"].create(
            {"days": days, "trigger_ids": [fields.Command.set((self.birthday | self.vip).ids)]}
        )
        return wizard, wizard.action_run()

    @freeze_time(datetime(2026, 12, 1, 9, 0))
    def test_every_day_has_a_line_per_trigger_with_sends_and_suppressions_apart(self):
        self.born("Anna One", date(1980, 12, 2), self.segment_a)
        self.born("Ben Two", date(1981, 12, 4), self.segment_b)
        capped = self.born("Carl Three", date(1982, 12, 4), self.segment_a)
        self.env["marketing.trigger.touch"].create(
            {"partner_id": capped.id, "channel": "phone", "date": datetime(2026, 12, 1, 8)}
        )
        wizard, action = self.run_forecast(days=5)
        Line = self.env["marketing.trigger.forecast.line"]
        groups = Line.read_group(
            action["domain"],
            ["sent_count:sum", "suppressed_count:sum"],
            ["day:day", "trigger_id"],
            lazy=False,
        )
        table = {
            (group["day:day"], group["trigger_id"][1]): (
                group["sent_count"],
                group["suppressed_count"],
            )
            for group in groups
        }
        # Every day of the period, for both triggers, zeros included.
        days = [(date(2026, 12, 1) + timedelta(days=i)).strftime("%d %b %Y") for i in range(5)]
        self.assertEqual(
            set(table), {(day, name) for day in days for name in ("Birthday", "VIP birthday")}
        )
        self.assertEqual(table[(days[1], "Birthday")], (1, 0))
        self.assertEqual(table[(days[3], "Birthday")], (0, 1))
        self.assertEqual(table[(days[3], "VIP birthday")], (1, 0))
        self.assertEqual(table[(days[0], "VIP birthday")], (0, 0))
        self.assertEqual((wizard.total_sent, wizard.total_suppressed), (2, 1))
        suppressed = wizard.line_ids.filtered("suppressed_count")
        self.assertRecordValues(
            suppressed,
            [{"trigger_id": self.birthday.id, "kind": "suppressed", "reason_code": "capped"}],
        )
        self.assertFalse(suppressed.channel)
        sent = wizard.line_ids.filtered("sent_count")
        self.assertEqual(set(sent.mapped("channel")), {"email"})
        self.assertFalse(any(sent.mapped("reason_code")))
        # The command line says the same, per trigger.
        out = io.StringIO()
        with redirect_stdout(out):
            names = {t.id: t.name for t in wizard.trigger_ids}
            MarketingForecast._print(wizard._simulate(), as_json=True, names=names)
        rows = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual(len(rows), 5)
        self.assertEqual(rows[0]["triggers"], [])
        self.assertEqual(
            rows[3]["triggers"],
            [
                {"trigger": "Birthday", "outcome": "suppressed", "detail": "capped", "count": 1},
                {"trigger": "VIP birthday", "outcome": "sent", "detail": "email", "count": 1},
            ],
        )

    @freeze_time(datetime(2026, 12, 1, 9, 0))
    def test_the_result_opens_as_a_graph_stacked_by_trigger_counting_messages(self):
        _wizard, action = self.run_forecast(days=3)
        self.assertEqual(action["views"][0][1], "graph")
        self.assertIn("to send", action["name"])
        views = self.env["marketing.trigger.forecast.line"].get_views(
            [(False, "graph"), (False, "pivot"), (False, "list"), (False, "search")]
        )["views"]
        graph = views["graph"]["arch"]
        self.assertIn('stacked="1"', graph)
        self.assertLess(graph.index('name="day"'), graph.index('name="trigger_id"'))
        # The last measure is the one shown first: messages sent, as whole numbers.
        self.assertLess(graph.index("suppressed_count"), graph.index('name="sent_count"'))
        fields_info = self.env["marketing.trigger.forecast.line"].fields_get(
            ["sent_count", "suppressed_count", "deferred_count", "channel", "reason_code"],
            ["string", "type"],
        )
        self.assertEqual(
            {name: (f["string"], f["type"]) for name, f in fields_info.items()},
            {
                "sent_count": ("Sent", "integer"),
                "suppressed_count": ("Suppressed", "integer"),
                "deferred_count": ("Deferred", "integer"),
                "channel": ("Channel", "selection"),
                "reason_code": ("Reason", "selection"),
            },
        )
        self.assertIn('name="trigger_id"', views["search"]["arch"])
        self.assertIn("searchpanel", views["search"]["arch"])
