import json

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestInboundWebhook(MarketingTriggerCase, HttpCase):
    """External systems call a trigger over HTTP with its secret."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.inbound = cls.env["marketing.trigger"].create(
            {
                "name": "Seminar booked in the booking tool",
                "kind": "inbound",
                "channel": "sms",
                "sms_body": "See you in {{ payload.city }} on {{ payload.date }}!",
                "message_class": "service",
            }
        )
        cls.inbound.action_activate()
        cls.secret = cls.inbound.webhook_secret
        cls.customer = cls.make_partner(
            "Ada Lovelace",
            "ada@example.com",
            mobile="+49 171 2345678",
            country_id=cls.env.ref("base.de").id,
            ref="CUST-7",
        )

    def call(self, body, secret=None, trigger=None, raw=None):
        response = self.url_open(
            f"/marketing_trigger/inbound/{(trigger or self.inbound).id}",
            data=raw if raw is not None else json.dumps(body),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {secret}"} if secret is not None else {}),
            },
        )
        return response.status_code, response.json()

    def test_an_authenticated_call_fires_once_per_event_id(self):
        body = {
            "partner": {"email": "ADA@example.com"},
            "event_id": "booking-991",
            "payload": {"city": "Hamburg", "date": "3 March"},
        }
        self.assertEqual(self.call(body, self.secret)[0], 202)
        status, answer = self.call(body, self.secret)
        self.assertEqual((status, answer["status"]), (200, "duplicate"), "retries are safe")
        decision = self.decisions(self.customer, self.inbound)
        self.assertRecordValues(
            decision, [{"outcome": "send", "occurrence_key": "inbound:booking-991"}]
        )
        self.dispatch()
        sms = self.env["sms.sms"].search([("partner_id", "=", self.customer.id)])
        self.assertEqual(sms.body, "See you in Hamburg on 3 March!", "the payload personalises")
        self.assertEqual(sms.number, "+491712345678")

    def test_partner_by_id_and_by_ref(self):
        self.assertEqual(self.call({"partner": {"id": self.customer.id}}, self.secret)[0], 202)
        self.assertEqual(self.call({"partner": {"ref": "CUST-7"}}, self.secret)[0], 202)
        self.assertEqual(len(self.decisions(self.customer, self.inbound)), 2)

    def test_bad_calls_are_refused_with_a_clear_answer(self):
        other = self.inbound.copy({"name": "Other"})
        good = {"partner": {"id": self.customer.id}}
        cases = [
            ("no secret", good, None, None, self.inbound, 403),
            ("wrong secret", good, "x" * 43, None, self.inbound, 403),
            ("truncated secret", good, self.secret[:-1], None, self.inbound, 403),
            ("another trigger's secret", good, self.secret, None, other, 403),
            ("not JSON", None, self.secret, "{partner", self.inbound, 400),
            ("a list", None, self.secret, "[1, 2]", self.inbound, 400),
            ("no partner", {"payload": {}}, self.secret, None, self.inbound, 400),
            ("payload not an object", {**good, "payload": [1]}, self.secret, None, None, 400),
            (
                "unknown contact",
                {"partner": {"email": "nobody@x.org"}},
                self.secret,
                None,
                None,
                404,
            ),
            ("id not a number", {"partner": {"id": "7; DROP"}}, self.secret, None, None, 404),
        ]
        for label, body, secret, raw, trigger, expected in cases:
            with self.subTest(label):
                status, answer = self.call(body, secret, trigger, raw)
                self.assertEqual(status, expected)
                self.assertIn("error", answer)
        self.assertFalse(self.env["marketing.trigger.event"].search([]), "nothing was queued")

    def test_a_paused_trigger_answers_409(self):
        self.inbound.action_pause()
        status, _answer = self.call({"partner": {"id": self.customer.id}}, self.secret)
        self.assertEqual(status, 409)

    def test_the_secret_is_for_managers_only(self):
        user = self.env["res.users"].create(
            {
                "name": "Marketing user",
                "login": "mt_user",
                "groups_id": [
                    (6, 0, [self.env.ref("marketing_trigger.group_marketing_trigger_user").id])
                ],
            }
        )
        trigger = self.inbound.with_user(user)
        with self.assertRaises(AccessError):
            trigger.read(["webhook_secret"])
