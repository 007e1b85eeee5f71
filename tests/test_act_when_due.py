from datetime import date, datetime, timedelta

from freezegun import freeze_time
from odoo.tests import tagged

from .common import MarketingTriggerCase

NOW = datetime(2026, 3, 10, 8, 0)


@tagged("post_install", "-at_install")
class TestActWhenDue(MarketingTriggerCase):
    """Time-based triggers act when due: at once when activated, at the requested
    moment of a callback, and the evaluation pass asks for the next due moment."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.cron = cls.env.ref("marketing_trigger.ir_cron_time_triggers")
        cls.callback = cls.env.ref("marketing_trigger.marketing_trigger_callback")
        cls.salesperson.tz = "Europe/Berlin"

    def cron_calls(self):
        self.env["ir.cron.trigger"].flush_model()
        return (
            self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]).mapped("call_at")
        )

    def clear_cron_calls(self):
        self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]).unlink()

    @freeze_time(NOW)
    def test_activating_a_time_based_trigger_sweeps_now(self):
        self.clear_cron_calls()
        action = self.callback.action_activate()
        self.assertEqual(self.cron_calls(), [NOW])
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn("in the background", action["params"]["message"])
        self.assertIn("in the background", self.callback.message_ids[:1].body)
        # Activating again while the sweep waits asks for no second one.
        self.callback.action_activate()
        self.assertEqual(self.cron_calls(), [NOW])

    @freeze_time(NOW)
    def test_activating_an_event_trigger_asks_for_no_sweep(self):
        self.clear_cron_calls()
        self.assertFalse(self.welcome.action_activate())
        self.assertEqual(self.cron_calls(), [])

    @freeze_time(NOW)
    def test_a_callback_schedules_the_pass_at_its_moment(self):
        self.callback.action_activate()
        self.env["marketing.trigger"]._cron_evaluate_time_triggers()
        self.clear_cron_calls()
        at = NOW + timedelta(minutes=14)
        partner = self.make_partner("Ruf Mich", "ruf@example.com", consent=False)
        partner.marketing_callback_at = at
        self.assertEqual(self.cron_calls(), [at])
        # The same moment again (another contact, or saved twice): one request.
        self.make_partner("Auch Ich", "auch@example.com", marketing_callback_at=at)
        partner.marketing_callback_at = at
        self.assertEqual(self.cron_calls(), [at])

    @freeze_time(NOW)
    def test_no_callback_trigger_no_cron_request(self):
        self.callback.action_pause()
        self.clear_cron_calls()
        self.make_partner(
            "Ruf Mich", "ruf@example.com", marketing_callback_at=NOW + timedelta(hours=1)
        )
        self.assertEqual(self.cron_calls(), [])

    @freeze_time(NOW)
    def test_the_pass_schedules_the_next_due_callback(self):
        self.callback.action_activate()
        soon, later = NOW + timedelta(hours=3), NOW + timedelta(days=3)
        self.make_partner("Später", "spaeter@example.com", marketing_callback_at=later)
        self.make_partner("Bald", "bald@example.com", marketing_callback_at=soon)
        self.clear_cron_calls()
        self.env["marketing.trigger"]._cron_evaluate_time_triggers()
        self.assertEqual(self.cron_calls(), [soon])
        with freeze_time(soon):
            self.clear_cron_calls()
            self.env["marketing.trigger"]._cron_evaluate_time_triggers()
            self.assertEqual(self.cron_calls(), [later])

    @freeze_time(NOW)
    def test_callback_activity_names_the_time_in_the_salespersons_zone(self):
        self.callback.action_activate()
        at = datetime(2026, 3, 10, 9, 0)  # 10:00 in Berlin (CET)
        partner = self.make_partner(
            "Grete Ruf",
            "grete@example.com",
            consent=False,
            mobile="+49 171 2345678",
            user_id=self.salesperson.id,
            marketing_callback_at=at,
        )
        with freeze_time(at):
            self.env["marketing.trigger"]._cron_evaluate_time_triggers()
            self.dispatch()
        activity = self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        )
        self.assertRecordValues(
            activity,
            [
                {
                    "user_id": self.salesperson.id,
                    "summary": "Call back Grete Ruf — asked to be called back at 10:00",
                    "date_deadline": date(2026, 3, 10),
                }
            ],
        )
        self.assertIn("asked to be called back at 10:00", str(activity.note))
        self.assertNotIn("Marketing trigger", str(activity.note))

    @freeze_time(NOW)
    def test_a_moved_callback_is_not_called_at_the_old_time(self):
        self.callback.action_activate()
        first = NOW + timedelta(hours=1)
        partner = self.make_partner(
            "Umzug",
            "umzug@example.com",
            consent=False,
            user_id=self.salesperson.id,
            marketing_callback_at=first,
        )
        self.env["marketing.trigger"]._cron_evaluate_time_triggers()
        partner.marketing_callback_at = NOW + timedelta(hours=5)
        with freeze_time(first + timedelta(minutes=1)):
            self.dispatch()
        self.assertFalse(
            self.env["mail.activity"].search(
                [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
            )
        )
