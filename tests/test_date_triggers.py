from datetime import date, datetime

from freezegun import freeze_time
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MarketingTriggerCase

NOW = datetime(2026, 11, 23, 9, 0)


@tagged("post_install", "-at_install")
class TestDateTriggers(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        # A contract end date of the customer's, as an integrator would add it.
        cls.contract_field = cls.env["ir.model.fields"]._get("res.partner", "marketing_birthdate")
        cls.contract = cls.env["marketing.trigger"].create(
            {
                "name": "Contract ends in 30 days",
                "kind": "date_offset",
                "date_field_id": cls.contract_field.id,
                "date_offset_days": -30,
                "mail_template_id": cls.welcome.mail_template_id.id,
            }
        )
        cls.contract.action_activate()
        cls.callback = cls.env.ref("marketing_trigger.marketing_trigger_callback")
        cls.callback.action_activate()

    @freeze_time(NOW)
    def test_thirty_days_before_the_date_once(self):
        due = self.make_partner(
            "Due Soon", "due@example.com", marketing_birthdate=date(2026, 12, 23)
        )
        later = self.make_partner(
            "Later", "later@example.com", marketing_birthdate=date(2027, 3, 1)
        )
        Trigger = self.env["marketing.trigger"]
        Trigger._cron_evaluate_time_triggers()
        Trigger._cron_evaluate_time_triggers()
        self.assertRecordValues(
            self.decisions(due, self.contract),
            [
                {
                    "outcome": "send",
                    "occurrence_key": "date:marketing_birthdate:2026-12-23",
                }
            ],
        )
        self.assertFalse(self.decisions(later, self.contract))

    def test_only_stored_contact_dates_are_accepted(self):
        name_field = self.env["ir.model.fields"]._get("res.partner", "name")
        with self.assertRaises(ValidationError):
            self.contract.date_field_id = name_field
        with self.assertRaises(ValidationError):
            self.contract.date_field_id = False

    @freeze_time(NOW)
    def test_callback_gives_the_salesperson_an_activity_at_the_requested_time(self):
        callback_at = datetime(2026, 11, 23, 15, 30)
        partner = self.make_partner(
            "Call Me",
            "callme@example.com",
            consent=False,
            mobile="+49 171 2345678",
            user_id=self.salesperson.id,
            marketing_callback_at=callback_at,
        )
        self.env["marketing.trigger"]._cron_evaluate_time_triggers()
        decision = self.decisions(partner, self.callback)
        self.assertRecordValues(
            decision, [{"outcome": "send", "channel": "phone", "send_at": callback_at}]
        )
        self.dispatch()
        Activity = self.env["mail.activity"]
        domain = [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        self.assertFalse(Activity.search(domain), "not before the requested time")
        with freeze_time(datetime(2026, 11, 23, 15, 31)):
            self.dispatch()
        activity = Activity.search(domain)
        self.assertRecordValues(
            activity,
            [{"user_id": self.salesperson.id, "summary": "Call Call Me back now, as requested"}],
        )
