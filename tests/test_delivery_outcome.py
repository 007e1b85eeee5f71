import smtplib
from unittest.mock import patch

from odoo.addons.sms.tools.sms_api import SmsApi
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase

MAIL_LOGGER = "odoo.addons.mail.models.mail_mail"


def gateway(refused_numbers=()):
    """A stand-in for Odoo's SMS provider: refuses ``refused_numbers`` (bad format),
    accepts the rest."""

    def send_sms_batch(api, messages, delivery_reports_url=False):
        return [
            {
                "uuid": number["uuid"],
                "state": "wrong_number_format"
                if number["number"] in refused_numbers
                else "success",
                "credit": 1,
            }
            for message in messages
            for number in message["numbers"]
        ]

    return patch.object(SmsApi, "_send_sms_batch", send_sms_batch)


@tagged("post_install", "-at_install")
class TestDeliveryOutcome(MarketingTriggerCase):
    """A delivery says what really became of its message: queued, then sent, failed
    (with the reason) or bounced; the trigger's counters count those outcomes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        # Created the normal Odoo way: no recipient at all; a fixed To/Cc must not leak.
        cls.template = cls.env["mail.template"].create(
            {
                "name": "Seminar news",
                "model_id": cls.env["ir.model"]._get_id("res.partner"),
                "subject": "News for {{ object.name }}",
                "body_html": '<p>Hello <t t-out="object.name"/></p>',
                "email_to": "boss@example.com",
                "email_cc": "archive@example.com",
                "auto_delete": True,
            }
        )
        cls.trigger = cls.env["marketing.trigger"].create(
            {
                "name": "Seminar news",
                "kind": "partner_registered",
                "channel": "email",
                "mail_template_id": cls.template.id,
            }
        )
        cls.trigger.action_activate()

    def delivery(self, partner):
        return self.decisions(partner, self.trigger).delivery_ids

    def queue(self):
        """The dispatcher alone: emails are handed to Odoo's queue, not yet sent."""
        self.process_events()
        self.Delivery._cron_dispatch()

    def test_a_template_without_recipients_reaches_the_decided_contact_only(self):
        partner = self.make_partner()
        self.queue()
        delivery = self.delivery(partner)
        self.assertEqual(delivery.state, "queued")
        self.assertFalse(delivery.sent_at, "not sent before the mail server took it")
        self.assertRecordValues(
            delivery.mail_id, [{"recipient_ids": partner.ids, "email_to": False, "email_cc": False}]
        )
        self.assertEqual(partner.marketing_touch_ids.delivery_id, delivery, "touched when queued")
        self.assertFalse(self.Partner.search([("email", "in", ["boss@example.com"])]))

    def test_an_email_the_mail_server_accepted_is_sent(self):
        partner = self.make_partner()
        self.dispatch()
        delivery = self.delivery(partner)
        self.assertEqual(delivery.state, "sent")
        self.assertTrue(delivery.sent_at)
        self.assertTrue(delivery.message_id, "kept for bounces, the mail is auto-deleted")
        self.assertFalse(delivery.mail_id.exists())
        self.assertRecordValues(self.trigger, [{"sent_count": 1, "failed_count": 0}])

    @mute_logger(MAIL_LOGGER)
    def test_an_email_the_mail_server_refused_is_failed_with_the_reason(self):
        partner = self.make_partner()
        self.queue()
        refusal = smtplib.SMTPDataError(554, b"5.7.1 Message rejected as spam")
        with patch.object(type(self.env["ir.mail_server"]), "send_email", side_effect=refusal):
            self.env["mail.mail"].process_email_queue()
        delivery = self.delivery(partner)
        self.assertEqual(delivery.state, "failed")
        self.assertFalse(delivery.sent_at)
        self.assertIn("rejected as spam", delivery.failure_reason)
        self.assertIn(
            "rejected as spam", self.decisions(partner, self.trigger).delivery_failure_reason
        )
        self.assertFalse(partner.marketing_touch_ids, "a failed email contacted nobody")
        self.trigger.invalidate_recordset()
        self.assertRecordValues(self.trigger, [{"sent_count": 0, "failed_count": 1}])
        self.assertEqual(self.trigger.delivered_count, 0, "the form agrees with the list")
        # Odoo's "Retry" on the failed email queues the delivery again, and it goes out.
        delivery.mail_id.action_retry()
        self.assertEqual(delivery.state, "queued")
        self.assertEqual(partner.marketing_touch_ids.delivery_id, delivery)
        self.env["mail.mail"].process_email_queue()
        self.assertEqual(delivery.state, "sent")

    def test_an_email_cancelled_in_odoo_cancels_its_delivery(self):
        partner = self.make_partner()
        self.queue()
        self.delivery(partner).mail_id.cancel()
        self.assertEqual(self.delivery(partner).state, "cancelled")
        self.assertFalse(partner.marketing_touch_ids)

    def test_an_email_to_nobody_is_failed(self):
        partner = self.make_partner()
        self.queue()
        self.delivery(partner).mail_id.recipient_ids = False  # e.g. edited away meanwhile
        self.env["mail.mail"].process_email_queue()
        delivery = self.delivery(partner)
        self.assertEqual(delivery.state, "failed")
        self.assertIn("without computed recipients", delivery.failure_reason)

    def test_a_bounce_reported_by_odoo_marks_the_delivery_bounced(self):
        partner = self.make_partner()
        other = self.make_partner("Grace Hopper", "grace@example.com")
        self.dispatch()
        delivery = self.delivery(partner)
        self.env["mail.thread"]._routing_handle_bounce(
            None,
            {
                "bounced_email": "ada@example.com",
                "bounced_partner": partner,
                "bounced_msg_ids": [delivery.message_id],
                "bounced_message": self.env["mail.message"],
                "body": "<p>550 5.1.1 mailbox unavailable</p>",
                "email_from": "MAILER-DAEMON@example.com",
                "to": "bounce@example.com",
                "message_id": "<bounce-1@example.com>",
            },
        )
        self.assertEqual(delivery.state, "bounced")
        self.assertIn("mailbox unavailable", delivery.failure_reason)
        self.assertFalse(partner.marketing_touch_ids)
        self.assertEqual(self.delivery(other).state, "sent")
        self.trigger.invalidate_recordset()
        self.assertRecordValues(self.trigger, [{"sent_count": 1, "bounced_count": 1}])

    def test_a_bounce_reported_by_listmonk_marks_the_latest_email_bounced(self):
        partner = self.make_partner()
        self.dispatch()
        bounced = self.Delivery._mark_bounced(["ADA@example.com"], reason="hard bounce")
        self.assertEqual(bounced, self.delivery(partner))
        self.assertEqual(bounced.state, "bounced")
        self.assertFalse(self.Delivery._mark_bounced([partner.id]), "nothing sent left")

    @mute_logger("odoo.addons.marketing_trigger.models.marketing_trigger_delivery")
    def test_one_contact_that_does_not_render_fails_alone_and_says_why(self):
        self.template.subject = "News for {{ object.name if object.city != 'Nowhere' else 1 / 0 }}"
        good = [self.make_partner(f"Good {n}", f"good{n}@example.com") for n in range(6)]
        bad = self.make_partner("Bad Render", "bad@example.com", city="Nowhere")
        self.dispatch()
        failed = self.delivery(bad)
        self.assertEqual(failed.state, "failed")
        self.assertIn("Seminar news", failed.failure_reason)
        self.assertIn("Subject", failed.failure_reason)
        self.assertIn("division by zero", failed.failure_reason)
        self.assertNotIn("server log", failed.failure_reason)
        for partner in good:
            self.assertEqual(self.delivery(partner).state, "sent")

    def test_an_sms_the_provider_refuses_is_failed(self):
        sms_trigger = self.env["marketing.trigger"].create(
            {
                "name": "Seminar SMS",
                "kind": "partner_registered",
                "channel": "sms",
                "sms_body": "Hi {{ partner.first_name }}",
            }
        )
        sms_trigger.action_activate()
        de = self.env.ref("base.de")
        vals = {"country_id": de.id, "marketing_consent_sms": True}
        refused = self.make_partner("Ada", "ada@example.com", mobile="0171 2345678", **vals)
        accepted = self.make_partner("Bob", "bob@example.com", mobile="0171 7654321", **vals)
        self.dispatch()
        deliveries = {p: self.decisions(p, sms_trigger).delivery_ids for p in (refused, accepted)}
        self.assertEqual({d.state for d in deliveries.values()}, {"queued"})
        with gateway(refused_numbers={"+491712345678"}):
            self.env["sms.sms"].sudo()._process_queue()
        self.assertEqual(deliveries[refused].state, "failed")
        self.assertIn("Wrong Number Format", deliveries[refused].failure_reason)
        self.assertFalse(refused.marketing_touch_ids.filtered(lambda t: t.channel == "sms"))
        self.assertEqual(deliveries[accepted].state, "sent")
        self.assertTrue(deliveries[accepted].sent_at)
