from datetime import datetime

import psycopg2
from freezegun import freeze_time
from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase

MONDAY_10_BERLIN = datetime(2026, 11, 23, 9, 0)


@tagged("post_install", "-at_install")
class TestPolicy(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.berlin = {
            "tz": "Europe/Berlin",
            "country_id": cls.env.ref("base.de").id,
            "state_id": cls.env.ref("base.state_de_hh").id,
        }
        cls.newsletter_optin = cls.welcome.copy({"name": "Newsletter welcome", "priority": 80})

    def touch(self, partner, channel, when, **vals):
        return self.env["marketing.trigger.touch"].create(
            {"partner_id": partner.id, "channel": channel, "date": when, **vals}
        )

    @freeze_time(MONDAY_10_BERLIN)
    def test_two_triggers_at_once_the_higher_priority_wins_and_is_named(self):
        self.policy.arbitration_hours = 24
        self.newsletter_optin.action_activate()
        partner = self.make_partner(**self.berlin)
        won = self.decisions(partner, self.newsletter_optin)
        lost = self.decisions(partner, self.welcome)
        self.assertEqual(won.outcome, "send")
        self.assertRecordValues(
            lost,
            [
                {
                    "outcome": "suppress",
                    "reason_code": "lost_arbitration",
                    "winner_trigger_id": self.newsletter_optin.id,
                }
            ],
        )
        self.assertIn("Lost to 'Newsletter welcome'", lost.explanation)

    @freeze_time(MONDAY_10_BERLIN)
    def test_loser_of_class_defer_is_sent_after_the_window_by_the_redecide_cron(self):
        self.policy.arbitration_hours = 24
        self.newsletter_optin.action_activate()
        self.welcome.message_class = "defer"
        partner = self.make_partner(**self.berlin)
        lost = self.decisions(partner, self.welcome)
        self.assertEqual(lost.outcome, "defer")
        self.assertEqual(lost.send_at, datetime(2026, 11, 24, 9, 0))
        self.Decision._cron_redecide()
        self.assertEqual(lost.outcome, "defer", "not due yet")
        with freeze_time(datetime(2026, 11, 24, 9, 5)):
            self.Decision._cron_redecide()
            self.assertRecordValues(lost, [{"outcome": "send", "reason_code": "send"}])
            self.dispatch()
        self.assertEqual(len(self.decisions(partner, self.welcome)), 1, "decided in place")
        self.assertEqual(lost.delivery_ids.state, "sent")

    @freeze_time(datetime(2026, 11, 29, 10, 0))  # Sunday
    def test_pausing_a_trigger_stops_what_it_scheduled_and_deferred(self):
        self.policy.write(
            {"window_start": 8, "window_end": 20, "sunday": False, "arbitration_hours": 24}
        )
        self.newsletter_optin.write({"state": "active", "message_class": "defer"})
        self.welcome.priority = 90
        partner = self.make_partner(**self.berlin)
        scheduled = self.decisions(partner)
        deferred = self.decisions(partner, self.newsletter_optin)
        self.assertEqual((scheduled.outcome, deferred.outcome), ("send", "defer"))
        (self.welcome | self.newsletter_optin).action_pause()
        with freeze_time(datetime(2026, 12, 2, 12, 0)):
            self.dispatch()
            self.Decision._cron_redecide()
        self.assertEqual(scheduled.delivery_ids.state, "cancelled")
        self.assertIn("paused", scheduled.delivery_ids.failure_reason)
        self.assertFalse(scheduled.delivery_ids.touch_ids, "no longer counts as pressure")
        self.assertRecordValues(deferred, [{"outcome": "suppress", "reason_code": "inactive"}])
        self.assertFalse(self.welcome_mails(partner))

    @freeze_time(MONDAY_10_BERLIN)
    def test_calls_and_letters_count_toward_the_all_channel_cap(self):
        self.policy.cap_ids = [fields.Command.create({"limit": 2, "days": 7})]
        partner = self.Partner.with_context(marketing_trigger_disable=True).create(
            {
                "name": "Met at fair",
                "email": "fair@example.com",
                "marketing_consent_email": True,
                **self.berlin,
            }
        )
        self.touch(partner, "phone", datetime(2026, 11, 20, 9, 0), note="called about seminar")
        self.touch(partner, "letter", datetime(2026, 11, 21, 9, 0))
        self.assertIn("2 / 2", partner.marketing_pressure)
        self.welcome._evaluate_again(partner)
        capped = self.decisions(partner)
        self.assertRecordValues(capped, [{"outcome": "suppress", "reason_code": "capped"}])
        self.assertIn("at most 2 touches by all channels in 7 days", capped.explanation)

    @freeze_time(MONDAY_10_BERLIN)
    def test_a_completed_phone_call_activity_lands_in_the_ledger(self):
        partner = self.make_partner(**self.berlin)
        call = self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": partner.id,
                "activity_type_id": self.env.ref("mail.mail_activity_data_call").id,
                "summary": "Call back about rhetoric seminar",
                "user_id": self.salesperson.id,
            }
        )
        call.action_done()
        touch = partner.marketing_touch_ids.filtered(lambda t: t.source == "activity")
        self.assertRecordValues(touch, [{"channel": "phone", "is_counted": True}])
        self.assertIn("rhetoric", touch.note)

    @freeze_time(datetime(2026, 11, 29, 10, 0))  # Sunday 11:00 in Berlin
    def test_outside_the_send_window_the_email_waits_for_monday_morning(self):
        self.policy.write(
            {"window_start": 8, "window_end": 20, "sunday": False, "skip_holidays": True}
        )
        partner = self.make_partner(**self.berlin)
        decision = self.decisions(partner)
        self.assertRecordValues(
            decision,
            [
                {
                    "outcome": "send",
                    "send_at": datetime(2026, 11, 30, 7, 0),
                }
            ],
        )
        self.dispatch()
        self.assertFalse(self.welcome_mails(partner), "not before Monday 08:00 local time")
        with freeze_time(datetime(2026, 11, 30, 7, 1)):
            self.dispatch()
        self.assertEqual(len(self.welcome_mails(partner)), 1)

    @freeze_time(MONDAY_10_BERLIN)
    def test_trigger_cooldown_keeps_a_second_occurrence_away(self):
        self.welcome.cooldown_days = 30
        partner = self.make_partner(**self.berlin)
        self.dispatch()
        again = self.welcome._candidate(partner, "registered:again")
        [decision] = self.Decision._decide_and_apply([again])
        self.assertEqual(decision.reason_code, "cooldown")

    @mute_logger("odoo.sql_db")
    def test_bad_policies_are_refused_at_save(self):
        for vals in (
            {"window_start": 20, "window_end": 8},
            {"window_end": 25},
            {"max_defer_days": -1},
        ):
            with (
                self.subTest(vals=vals),
                self.assertRaises(psycopg2.IntegrityError),
                self.env.cr.savepoint(),
            ):
                self.policy.write(vals)
                self.policy.flush_recordset()
        with self.assertRaises(ValidationError):
            self.policy.write(
                {
                    day: False
                    for day in (
                        "monday",
                        "tuesday",
                        "wednesday",
                        "thursday",
                        "friday",
                        "saturday",
                        "sunday",
                    )
                }
            )
        with self.assertRaises(psycopg2.IntegrityError), self.env.cr.savepoint():
            self.policy.cap_ids = [fields.Command.create({"limit": 0, "days": 7})]
            self.policy.flush_recordset()
