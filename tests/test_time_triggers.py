import io
from contextlib import redirect_stdout
from datetime import date, datetime

from freezegun import freeze_time
from odoo import fields
from odoo.tests import tagged

from ..cli.marketing_forecast import MarketingForecast
from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestBirthdayAndForecast(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.birthday = cls.env.ref("marketing_trigger.marketing_trigger_birthday")
        cls.birthday.action_activate()

    def born(self, birthdate, name="Birthday Child", **vals):
        return self.Partner.create(
            {
                "name": name,
                "email": f"{name.split()[0].lower()}@example.com",
                "marketing_consent_email": True,
                "marketing_birthdate": birthdate,
                "tz": "Europe/Berlin",
                **vals,
            }
        )

    @freeze_time(datetime(2026, 12, 8, 5, 0))
    def test_birthday_is_decided_once_for_the_local_day(self):
        partner = self.born(date(1990, 12, 8))
        other = self.born(date(1990, 12, 10), name="Later Child")
        self.Trigger = self.env["marketing.trigger"]
        self.Trigger._cron_evaluate_time_triggers()
        self.Trigger._cron_evaluate_time_triggers()
        decision = self.decisions(partner, self.birthday)
        self.assertRecordValues(
            decision,
            [
                {
                    "outcome": "send",
                    "occurrence_key": "birthday:2026",
                    "earliest": datetime(2026, 12, 7, 23, 0),  # midnight in Berlin
                }
            ],
        )
        self.assertFalse(self.decisions(other, self.birthday))
        self.dispatch()
        mail = self.env["mail.mail"].search([("recipient_ids", "in", partner.ids)])
        self.assertIn("Happy birthday", mail.subject)

    def test_29_february_is_celebrated_on_28_february_in_other_years(self):
        leap = self.born(date(2000, 2, 29))
        occurrences = self.birthday._occurrences_birthday(
            datetime(2027, 2, 27), datetime(2027, 3, 2)
        )
        self.assertEqual(
            [(o[0], o[1]) for o in occurrences if o[0] == leap.id], [(leap.id, "birthday:2027")]
        )
        day = [o[2] for o in occurrences if o[0] == leap.id][0]
        self.assertEqual(day, datetime(2027, 2, 27, 23, 0))  # 28 Feb 00:00 in Berlin
        in_leap_year = self.birthday._occurrences_birthday(
            datetime(2028, 2, 27), datetime(2028, 3, 2)
        )
        self.assertEqual(
            [o[2] for o in in_leap_year if o[0] == leap.id], [datetime(2028, 2, 28, 23, 0)]
        )

    @freeze_time(datetime(2026, 12, 1, 9, 0))
    def test_forecast_shows_volumes_and_what_the_caps_would_suppress(self):
        # The forecast counts every contact of the trigger's segment: keep it to this
        # test's contacts, whatever birthdays the demo data (relative to the real today)
        # or other modules bring.
        segment = self.env["res.partner.category"].create({"name": "Forecast test"})
        self.birthday.partner_domain = repr([("category_id", "in", segment.ids)])
        tagged = {"category_id": [fields.Command.set(segment.ids)]}
        self.policy.write(
            {
                "window_start": 8,
                "window_end": 20,
                "cap_ids": [fields.Command.create({"limit": 1, "days": 7})],
            }
        )
        self.born(date(1980, 12, 3), name="Anna One", **tagged)
        self.born(date(1981, 12, 5), name="Ben Two", **tagged)
        capped = self.born(date(1982, 12, 4), name="Carl Three", **tagged)
        self.env["marketing.trigger.touch"].create(
            {"partner_id": capped.id, "channel": "phone", "date": datetime(2026, 12, 1, 8)}
        )
        self.env.user.tz = "Europe/Berlin"
        wizard = self.env["marketing.trigger.forecast"].create({"days": 10})
        self.assertIn(self.birthday, wizard.trigger_ids)
        action = wizard.action_run()
        self.assertEqual((wizard.total_sent, wizard.total_suppressed), (2, 1))
        self.assertEqual(action["res_model"], "marketing.trigger.forecast.line")
        sent_days = wizard.line_ids.filtered(lambda line: line.kind == "sent").mapped("day")
        self.assertEqual(sent_days, [date(2026, 12, 3), date(2026, 12, 5)])
        suppressed = wizard.line_ids.filtered(lambda line: line.kind == "suppressed")
        self.assertEqual((suppressed.day, suppressed.label), (date(2026, 12, 4), "Frequency cap"))
        self.assertFalse(
            self.Decision.search([("trigger_id", "=", self.birthday.id)]),
            "a forecast decides nothing for real",
        )
        out = io.StringIO()
        with redirect_stdout(out):
            MarketingForecast._print(wizard._simulate(), as_json=False)
        self.assertIn("2026-12-04       0           1         0  capped 1", out.getvalue())
