from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MarketingTriggerCase
from .test_delivery_outcome import gateway


@tagged("post_install", "-at_install")
class TestChannels(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.sms_trigger = cls.env["marketing.trigger"].create(
            {
                "name": "Seminar reminder",
                "kind": "partner_registered",
                "channel": "sms",
                "fallback_channel": "email",
                "mail_template_id": cls.welcome.mail_template_id.id,
                "sms_body": "Hi {{ partner.first_name }}, your seminar in {{ partner.city }} "
                "starts soon. {{ company.name }}",
            }
        )
        cls.sms_trigger.action_activate()
        cls.de = cls.env.ref("base.de")

    def customer(self, **vals):
        return self.Partner.create(
            {
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "city": "Hamburg",
                "country_id": self.de.id,
                "mobile": "0171 2345678",
                "marketing_consent_sms": True,
                "marketing_consent_email": True,
                **vals,
            }
        )

    def test_sms_goes_to_the_e164_number_with_the_rendered_text(self):
        partner = self.customer()
        decision = self.decisions(partner, self.sms_trigger)
        self.assertRecordValues(decision, [{"outcome": "send", "channel": "sms"}])
        self.dispatch()
        sms = self.env["sms.sms"].search([("partner_id", "=", partner.id)])
        self.assertEqual(sms.number, "+491712345678")
        self.assertEqual(
            sms.body, f"Hi Ada, your seminar in Hamburg starts soon. {self.env.company.name}"
        )
        self.assertEqual(decision.delivery_ids.state, "queued", "in Odoo's SMS queue")
        self.assertEqual(partner.marketing_touch_ids.channel, "sms")
        with gateway():
            self.env["sms.sms"].sudo()._process_queue()
        self.assertEqual(decision.delivery_ids.state, "sent", "the provider accepted it")

    def test_without_sms_consent_the_fallback_email_is_used(self):
        partner = self.customer(marketing_consent_sms=False)
        self.assertRecordValues(
            self.decisions(partner, self.sms_trigger), [{"outcome": "send", "channel": "email"}]
        )

    def test_preferred_channel_comes_first(self):
        partner = self.customer(marketing_preferred_channel="email")
        self.assertEqual(self.decisions(partner, self.sms_trigger).channel, "email")

    def test_an_invalid_number_is_a_logged_suppression(self):
        self.sms_trigger.fallback_channel = False
        partner = self.customer(mobile="12ab", phone=False)
        decision = self.decisions(partner, self.sms_trigger)
        self.assertRecordValues(decision, [{"outcome": "suppress", "reason_code": "invalid_phone"}])
        self.assertIn("12ab", decision.explanation)
        self.assertFalse(self.env["sms.sms"].search([("partner_id", "=", partner.id)]))

    def test_salesperson_call_becomes_an_activity_saying_why(self):
        call = self.env["marketing.trigger"].create(
            {
                "name": "Interested in rhetoric",
                "kind": "partner_registered",
                "channel": "phone",
                "activity_summary": "Call {{ partner.name }}: interested in the rhetoric seminar",
                "activity_deadline_days": 2,
            }
        )
        call.action_activate()
        partner = self.customer(user_id=self.salesperson.id, marketing_consent_phone=True)
        orphan = self.customer(name="No Salesperson", marketing_consent_phone=True)
        self.dispatch()
        activity = self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        )
        self.assertRecordValues(
            activity,
            [
                {
                    "user_id": self.salesperson.id,
                    "summary": "Call Ada Lovelace: interested in the rhetoric seminar",
                }
            ],
        )
        self.assertIn("Interested in rhetoric", activity.note)
        delivery = self.decisions(orphan, call).delivery_ids
        self.assertEqual(delivery.state, "failed")
        self.assertIn("no salesperson", delivery.failure_reason)

    def test_bad_texts_are_refused_at_save(self):
        for text in (
            "Hi {{ partner.name ",
            "{{ partner.__class__ }}",
            "{{ partner.nope }}",
            "{% for %}",
        ):
            with self.subTest(text=text), self.assertRaises(ValidationError):
                self.sms_trigger.sms_body = text
        with self.assertRaises(ValidationError):
            self.sms_trigger.write({"sms_body": False})
