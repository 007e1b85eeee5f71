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
        self.salesperson.tz = "UTC"  # the activity names the time in the salesperson's zone
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
            [
                {
                    "user_id": self.salesperson.id,
                    "summary": "Call back Call Me — asked to be called back at 15:30",
                    "date_deadline": date(2026, 11, 23),
                }
            ],
        )


@tagged("post_install", "-at_install")
class TestAbandonedQuotation(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.reminder = cls.env["marketing.trigger"].create(
            {
                "name": "Quotation reminder",
                "kind": "quotation_abandoned",
                "delay_hours": 48,
                "mail_template_id": cls.record_template("sale.order").id,
            }
        )
        cls.reminder.action_activate()
        cls.product = cls.env["product.product"].create(
            {"name": "Rhetoric seminar", "list_price": 490}
        )

    def quotation(self, partner):
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 1})],
            }
        )
        # create_date comes from the database clock, which freezegun does not move.
        order.flush_recordset()
        self.env.cr.execute("UPDATE sale_order SET create_date = %s WHERE id = %s", (NOW, order.id))
        order.invalidate_recordset(["create_date"])
        return order

    def test_reminder_after_the_delay_and_never_once_confirmed(self):
        with freeze_time(NOW):
            waiting = self.make_partner("Wait Ing", "wait@example.com")
            booked = self.make_partner("Boo Ked", "booked@example.com")
            open_quote = self.quotation(waiting)
            confirmed_later = self.quotation(booked)
        Trigger = self.env["marketing.trigger"]
        with freeze_time(datetime(2026, 11, 24, 9, 0)):
            Trigger._cron_evaluate_time_triggers()
            self.assertFalse(self.decisions(waiting, self.reminder), "not before 48 hours")
        with freeze_time(datetime(2026, 11, 25, 8, 30)):
            Trigger._cron_evaluate_time_triggers()
        self.assertRecordValues(
            self.decisions(waiting, self.reminder),
            [
                {
                    "outcome": "send",
                    "occurrence_key": f"quotation:{open_quote.id}",
                    "send_at": datetime(2026, 11, 25, 9, 0),
                }
            ],
        )
        confirmed_later.action_confirm()
        with freeze_time(datetime(2026, 11, 25, 9, 5)):
            self.dispatch()
        self.assertEqual(self.decisions(waiting, self.reminder).delivery_ids.state, "sent")
        stopped = self.decisions(booked, self.reminder).delivery_ids
        self.assertEqual(stopped.state, "cancelled")
        self.assertIn("quotation was confirmed", stopped.failure_reason)
