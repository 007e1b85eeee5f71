from odoo.tests import tagged

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestPreviewAndCounters(MarketingTriggerCase):
    def test_eligible_now_and_what_the_policy_would_do(self):
        segment = self.env["marketing.trigger"].create(
            {
                "name": "Testhausen seminar",
                "kind": "partner_registered",
                "partner_domain": "[('city', '=', 'Testhausen')]",
                "mail_template_id": self.welcome.mail_template_id.id,
            }
        )
        self.welcome.action_pause()
        self.Partner.create(
            [
                {
                    "name": "Yes",
                    "email": "yes@example.com",
                    "city": "Testhausen",
                    "marketing_consent_email": True,
                },
                {"name": "No consent", "email": "no@example.com", "city": "Testhausen"},
                {"name": "Elsewhere", "email": "else@example.com", "city": "Munich"},
            ]
        )
        self.assertEqual(segment.eligible_count, 2)
        action = segment.action_preview_eligible()
        preview = self.env["marketing.trigger.preview"].browse(action["res_id"])
        self.assertRecordValues(preview, [{"eligible": 2, "would_send": 1, "would_suppress": 1}])
        self.assertEqual(sorted(preview.line_ids.mapped("reason_code")), ["no_consent", "send"])
        self.assertFalse(self.Decision.search([("trigger_id", "=", segment.id)]), "dry run")

    def test_counters_fired_suppressed_by_reason_sent_opened_clicked(self):
        self.dispatch()  # what earlier set-ups queued goes out first
        before, sent_before = self.welcome.fired_count, self.welcome.delivered_count
        reader = self.make_partner("Reader", "reader@example.com")
        self.make_partner("Skipper", "skipper@example.com")
        self.make_partner("Refuser", "refuser@example.com", consent=False)
        self.dispatch()
        deliveries = self.Delivery.search([("trigger_id", "=", self.welcome.id)])
        deliveries.filtered(lambda d: d.partner_id == reader)._record_engagement("clicked")
        self.welcome.invalidate_recordset()
        self.assertRecordValues(
            self.welcome,
            [
                {
                    "fired_count": before + 3,
                    "delivered_count": sent_before + 2,
                    "opened_count": 1,
                    "clicked_count": 1,
                }
            ],
        )
        self.assertIn("No marketing consent", self.welcome.suppressed_summary)
