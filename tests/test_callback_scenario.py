import json
from datetime import date, datetime, timedelta

from freezegun import freeze_time
from odoo.tests import HttpCase, new_test_user, tagged

from .common import MarketingTriggerCase

HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
NOW = datetime(2026, 3, 10, 7, 0)
AT = datetime(2026, 3, 10, 9, 0)  # 10:00 in Berlin (CET)
KEY = f"callback:{AT.isoformat()}"


@tagged("post_install", "-at_install")
class TestCallbackScenario(MarketingTriggerCase, HttpCase):
    """ "Call me back at 10:00": at 10:00 the salesperson gets the call and the customer
    today's offers (one occurrence, two messages, each decided by the engine); the
    customer's first human open of the offers tells the salesperson, live: call now."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.callback = cls.env.ref("marketing_trigger.marketing_trigger_callback")
        cls.offers = cls.env.ref("marketing_trigger.marketing_trigger_callback_offers")
        cls.callback.action_activate()
        cls.offers.action_activate()
        cls.salesperson.tz = "Europe/Berlin"

    def ask_for_callback(self, name="Grete Ruf", email="grete@example.com", consent=True):
        """A contact of the salesperson asks at 8:00 to be called back at 10:00; the
        time pass and the dispatcher run at 10:00."""
        with freeze_time(NOW):
            partner = self.make_partner(
                name,
                email,
                consent=consent,
                mobile="+49 171 2345678",
                user_id=self.salesperson.id,
                marketing_callback_at=AT,
            )
        self.at_ten()
        return partner

    def at_ten(self):
        with freeze_time(AT):
            self.env["marketing.trigger"]._cron_evaluate_time_triggers()
            self.dispatch()
        self.env.invalidate_all()

    def delivery(self, partner, trigger):
        return self.Delivery.search(
            [("partner_id", "=", partner.id), ("trigger_id", "=", trigger.id)]
        )

    def open_pixel(self, delivery, agent=HUMAN):
        """The customer's mail client loads the open pixel, an hour after 10:00."""
        pixel, _unsubscribe = delivery._tracking_urls(self.base_url())
        with freeze_time(AT + timedelta(hours=1)):
            response = self.opener.get(
                pixel, headers={"User-Agent": agent}, allow_redirects=False, timeout=20
            )
        self.assertEqual(response.headers["Content-Type"], "image/gif")
        self.env.invalidate_all()

    def call_now_notices(self, user):
        """The simple notifications on ``user``'s bus channel (their partner's)."""
        channel = json.dumps(
            [self.env.cr.dbname, "res.partner", user.partner_id.id], separators=(",", ":")
        )
        self.env.cr.flush()  # the bus rows are written when the transaction commits
        messages = self.env["bus.bus"].search([("channel", "=", channel)]).mapped("message")
        return [
            m["payload"] for m in map(json.loads, messages) if m["type"] == "simple_notification"
        ]

    def call_now_activities(self, partner):
        return self.env["mail.activity"].search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", partner.id),
                ("summary", "like", "Call now"),
            ]
        )

    def test_at_the_callback_moment_the_call_and_the_offers_go_out_for_one_occurrence(self):
        partner = self.ask_for_callback()
        decisions = self.Decision.search(
            [
                ("partner_id", "=", partner.id),
                ("trigger_id", "in", (self.callback | self.offers).ids),
            ]
        )
        self.assertEqual(len(decisions), 2)
        self.assertEqual(set(decisions.mapped("occurrence_key")), {KEY})
        self.assertEqual(set(decisions.mapped("outcome")), {"send"})
        call = self.delivery(partner, self.callback)
        offers = self.delivery(partner, self.offers)
        self.assertEqual((call.channel, call.state), ("phone", "sent"))
        self.assertEqual(call.activity_id.user_id, self.salesperson)
        self.assertEqual(
            call.activity_id.summary, "Call back Grete Ruf — asked to be called back at 10:00"
        )
        self.assertEqual((offers.channel, offers.state), ("email", "sent"))
        self.assertEqual(offers.occurrence_key, call.occurrence_key)
        self.assertEqual(offers.mail_id.subject, "Today's offers for you, Grete Ruf")
        self.assertEqual(offers.sent_at, AT)
        # The pass asked again at 10:00 decides nothing twice.
        self.at_ten()
        self.assertEqual(self.Delivery.search_count([("partner_id", "=", partner.id)]), 2)

    def test_a_human_open_tells_the_salesperson_to_call_now_once(self):
        partner = self.ask_for_callback()
        offers = self.delivery(partner, self.offers)
        self.assertFalse(self.call_now_notices(self.salesperson))
        self.open_pixel(offers)
        self.assertTrue(offers.opened_at)
        (notice,) = self.call_now_notices(self.salesperson)
        self.assertEqual(notice["sticky"], True)
        self.assertEqual(notice["type"], "warning")
        self.assertEqual(notice["title"], "Call now: Grete Ruf")
        self.assertEqual(
            notice["message"], "Call now: Grete Ruf just opened the offers — +49 171 2345678"
        )
        self.assertEqual((notice["res_model"], notice["res_id"]), ("res.partner", partner.id))
        activity = self.call_now_activities(partner)
        self.assertRecordValues(
            activity,
            [
                {
                    "summary": "Call now — Grete Ruf just opened the offers",
                    "user_id": self.salesperson.id,
                    "date_deadline": date(2026, 3, 10),
                    "activity_type_id": self.env.ref("mail.mail_activity_data_call").id,
                }
            ],
        )
        self.assertEqual(notice["activity_id"], activity.id)
        # Opening again, or clicking, is the same reader: no second notice.
        self.open_pixel(offers)
        with freeze_time(AT + timedelta(hours=1)):
            offers._record_engagement("clicked")
        self.assertEqual(len(self.call_now_notices(self.salesperson)), 1)
        self.assertEqual(len(self.call_now_activities(partner)), 1)
        self.assertEqual(len(offers.engagement_ids.filtered(lambda e: e.kind == "open")), 2)

    def test_a_machine_open_tells_nobody(self):
        partner = self.ask_for_callback()
        offers = self.delivery(partner, self.offers)
        for agent in ("Mozilla/5.0", "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"):
            self.open_pixel(offers, agent=agent)
        self.assertEqual(len(offers.engagement_ids), 2)
        self.assertFalse(offers.opened_at)
        self.assertFalse(self.call_now_notices(self.salesperson))
        self.assertFalse(self.call_now_activities(partner))

    def test_without_email_consent_the_offers_are_suppressed_and_the_call_happens(self):
        partner = self.ask_for_callback("Ohne Werbung", "ohne@example.com", consent=False)
        (offers,) = self.Decision.search(
            [("partner_id", "=", partner.id), ("trigger_id", "=", self.offers.id)]
        )
        self.assertEqual((offers.outcome, offers.reason_code), ("suppress", "no_consent"))
        self.assertTrue(offers.explanation)
        self.assertFalse(offers.delivery_ids)
        call = self.delivery(partner, self.callback)
        self.assertEqual(call.state, "sent")
        self.assertEqual(call.activity_id.user_id, self.salesperson)

    def test_a_callback_on_a_lead_or_an_order_calls_its_salesperson(self):
        other = new_test_user(
            self.env,
            "mt_olga",
            groups="sales_team.group_sale_salesman",
            name="Olga Order",
            tz="Europe/Berlin",
        )
        customer = self.make_partner(
            "Kunde Lead", "kunde@example.com", mobile="+49 171 7654321", user_id=self.salesperson.id
        )
        with freeze_time(NOW):
            lead = self.env["crm.lead"].create(
                {"name": "Seminar for 12", "partner_id": customer.id, "user_id": other.id}
            )
            order = self.env["sale.order"].create({"partner_id": customer.id, "user_id": other.id})
            lead.marketing_callback_at = AT
            order.marketing_callback_at = AT + timedelta(minutes=30)
            moved = self.env["crm.lead"].create(
                {"name": "Moved", "partner_id": customer.id, "marketing_callback_at": AT}
            )
            moved.marketing_callback_at = AT + timedelta(days=5)
        with freeze_time(AT + timedelta(minutes=30)):
            self.env["marketing.trigger"]._cron_evaluate_time_triggers()
            self.dispatch()
        calls = self.Delivery.search(
            [("partner_id", "=", customer.id), ("trigger_id", "=", self.callback.id)]
        )
        self.assertEqual(
            sorted(calls.mapped("occurrence_key")),
            [
                f"callback_lead:{lead.id}:{AT.isoformat()}",
                f"callback_order:{order.id}:{(AT + timedelta(minutes=30)).isoformat()}",
            ],
        )
        for record in (lead, order):
            with self.subTest(model=record._name):
                (activity,) = self.env["mail.activity"].search(
                    [("res_model", "=", record._name), ("res_id", "=", record.id)]
                )
                self.assertEqual(activity.user_id, other)
                self.assertIn("Call back Kunde Lead — asked to be called back at", activity.summary)
        offers = self.delivery(customer, self.offers)
        self.assertEqual(len(offers), 2)
        # The lead's offers opened: its salesperson (who got the call) is told.
        self.open_pixel(offers.filtered(lambda d: d.occurrence_key.startswith("callback_lead")))
        self.assertEqual(len(self.call_now_notices(other)), 1)
        self.assertFalse(self.call_now_notices(self.salesperson))
