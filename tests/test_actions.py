import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MarketingTriggerCase


class _Gateway(BaseHTTPRequestHandler):
    received = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@tagged("post_install", "-at_install")
class TestActions(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vip = cls.env["res.partner.category"].create({"name": "VIP"})
        cls.prospect = cls.env["res.partner.category"].create({"name": "Prospect"})
        cls.seminars = cls.env["marketing.trigger.interest"].create({"name": "Seminars"})

    def test_record_actions_apply_even_when_the_message_is_suppressed(self):
        self.welcome.write(
            {
                "action_tag_add_ids": [(6, 0, self.vip.ids)],
                "action_tag_remove_ids": [(6, 0, self.prospect.ids)],
                "action_interest_add_ids": [(6, 0, self.seminars.ids)],
                "action_lifecycle_stage": "onboarding",
            }
        )
        partner = self.make_partner(consent=False, category_id=[(6, 0, self.prospect.ids)])
        self.assertEqual(self.decisions(partner).reason_code, "no_consent")
        self.assertEqual(partner.category_id, self.vip)
        self.assertEqual(partner.marketing_interest_ids, self.seminars)
        self.assertEqual(partner.marketing_lifecycle_stage, "onboarding")

    def test_a_trigger_without_message_only_applies_its_actions(self):
        self.welcome.action_pause()
        stage = self.env["marketing.trigger"].create(
            {
                "name": "New contacts are onboarding",
                "kind": "partner_registered",
                "channel": "none",
                "action_lifecycle_stage": "new",
            }
        )
        stage.action_activate()
        partner = self.make_partner(consent=False)
        self.assertRecordValues(
            self.decisions(partner, stage), [{"outcome": "send", "reason_code": "actions"}]
        )
        self.assertEqual(partner.marketing_lifecycle_stage, "new")
        self.assertFalse(self.Delivery.search([("partner_id", "=", partner.id)]))
        self.assertFalse(
            self.env["marketing.trigger.touch"].search([("partner_id", "=", partner.id)])
        )

    def test_webhook_url_must_be_http(self):
        for url in ("ftp://gateway.example.com/x", "javascript:alert(1)", "gateway.example.com"):
            with self.subTest(url), self.assertRaisesRegex(ValidationError, "http"):
                self.welcome.webhook_url = url
        self.welcome.webhook_url = "https://gateway.example.com/hook"

    def test_voice_channel_needs_a_webhook(self):
        with self.assertRaisesRegex(ValidationError, "webhook URL"):
            self.env["marketing.trigger"].create(
                {"name": "Voice", "channel": "voice", "sms_body": "Hi", "state": "active"}
            )

    def _gateway(self, status=200):
        _Gateway.received, _Gateway.status = [], status
        server = HTTPServer(("127.0.0.1", 0), _Gateway)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_port}/voice"

    def voice_trigger(self, url):
        self.welcome.action_pause()
        voice = self.env["marketing.trigger"].create(
            {
                "name": "Voice reminder",
                "kind": "partner_registered",
                "channel": "voice",
                "message_class": "service",
                "webhook_url": url,
                "sms_body": "Hello {{ partner.first_name }}, this is {{ company.name }}.",
            }
        )
        voice.action_activate()
        return voice

    def test_voice_message_posts_a_signed_document_to_the_gateway(self):
        voice = self.voice_trigger(self._gateway())
        partner = self.make_partner(mobile="+49 171 2345678", country_id=self.env.ref("base.de").id)
        self.dispatch()
        delivery = self.Delivery.search([("trigger_id", "=", voice.id)])
        self.assertEqual(delivery.state, "sent")
        ((headers, body),) = _Gateway.received
        document = json.loads(body)
        self.assertEqual(document["partner"]["phone"], "+491712345678")
        self.assertEqual(document["partner"]["id"], partner.id)
        self.assertEqual(document["text"], f"Hello Ada, this is {self.env.company.name}.")
        self.assertEqual(headers["X-Marketing-Trigger-Signature"], voice._webhook_signature(body))

    def test_a_refusing_gateway_fails_the_delivery_with_the_reason(self):
        voice = self.voice_trigger(self._gateway(status=503))
        self.make_partner(mobile="+49 171 2345678", country_id=self.env.ref("base.de").id)
        self.dispatch()
        delivery = self.Delivery.search([("trigger_id", "=", voice.id)])
        self.assertEqual(delivery.state, "failed")
        self.assertIn("503", delivery.failure_reason)
