from lxml import etree
from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestDecisionLog(MarketingTriggerCase):
    """The decision log holds one row per occurrence, the counters agree across the
    views, and the Triggers menu shows triggers a user set up."""

    def test_events_fired_again_leave_one_decision_row(self):
        segment = self.env["marketing.trigger"].create(
            {
                "name": "Testhausen seminar",
                "kind": "segment_entered",
                "partner_domain": "[('city', '=', 'Testhausen')]",
                "mail_template_id": self.welcome.mail_template_id.id,
            }
        )
        segment.action_activate()
        partner = self.make_partner(city="Testhausen")
        for phone in ("1", "2", "3"):  # the contact is saved three times
            partner.phone = f"+49 30 {phone}"
            self.process_events()
        Trigger = self.env["marketing.trigger"]
        for _again in range(3):  # the registration event fires again
            Trigger._fire("partner_registered", partner)
            self.process_events()
        self.welcome._evaluate_again(partner)
        self.dispatch()
        self.assertEqual(self.decisions(partner).mapped("reason_code"), ["send"])
        self.assertEqual(self.decisions(partner, segment).mapped("reason_code"), ["send"])
        self.assertEqual(len(self.decisions(partner).delivery_ids.mail_id), 1, "one email")

    def test_one_offer_repeated_in_a_batch_is_one_decision(self):
        partner = self.make_partner()
        other = self.make_partner("Grace Hopper", "grace@example.com")
        self.Decision.search([("partner_id", "=", other.id)]).unlink()
        candidate = self.welcome._candidate(other, "registered")
        decisions = self.Decision._decide_and_apply([candidate, candidate, candidate])
        self.assertEqual(decisions.mapped("reason_code"), ["send"])
        self.assertEqual(len(self.decisions(partner)), 1)

    def test_list_form_and_kanban_show_the_same_sent_count(self):
        self.dispatch()
        self.make_partner()
        self.make_partner("Grace Hopper", "grace@example.com")
        self.dispatch()
        self.welcome.invalidate_recordset()
        sent = self.Delivery.search_count(
            [("trigger_id", "=", self.welcome.id), ("state", "=", "sent")]
        )
        self.assertGreaterEqual(sent, 2)
        self.assertEqual(self.welcome.sent_count, sent)
        self.assertEqual(self.welcome.delivered_count, sent)
        shown = {}
        for view_type in ("list", "form", "kanban"):
            arch = etree.fromstring(
                self.env["marketing.trigger"].get_view(view_type=view_type)["arch"]
            )
            fields = [
                node.get("name")
                for node in arch.iter("field")
                if node.get("name") in ("sent_count", "delivered_count")
            ]
            self.assertEqual(len(fields), 1, f"one 'Sent' figure in the {view_type} view")
            shown[view_type] = self.welcome[fields[0]]
        self.assertEqual(set(shown.values()), {sent}, shown)

    def test_triggers_menu_lists_no_newsletter_carrier(self):
        carrier = self.env["marketing.trigger"].create(
            {"name": "Newsletter: May", "kind": "newsletter", "channel": "newsletter"}
        )
        action = self.env.ref("marketing_trigger.marketing_trigger_action")
        listed = self.env["marketing.trigger"].search(safe_eval(action.domain or "[]"))
        self.assertIn(self.welcome, listed)
        self.assertNotIn(carrier, listed)
        # Still there for engagement triggers' "After the email of".
        self.assertIn(carrier, self.env["marketing.trigger"].search([]))

    def test_preview_says_already_received_not_lost(self):
        self.policy.arbitration_hours = 48
        partner = self.make_partner()
        self.dispatch()
        action = self.welcome.action_preview_eligible()
        preview = self.env["marketing.trigger.preview"].browse(action["res_id"])
        line = preview.line_ids.filtered(lambda li: li.partner_id == partner)
        self.assertEqual(len(line), 1)
        self.assertIn("Already received", line.explanation)
        self.assertNotIn("Lost", line.explanation)
        self.assertGreaterEqual(preview.already_decided, 1)

    def test_eligible_now_of_an_event_trigger_counts_who_would_qualify(self):
        segment = self.env["marketing.trigger"].create(
            {
                "name": "Testhausen welcome",
                "kind": "partner_registered",
                "partner_domain": "[('city', '=', 'Testhausen')]",
                "mail_template_id": self.welcome.mail_template_id.id,
            }
        )
        segment.action_activate()
        self.make_partner(city="Testhausen")  # welcomed by it already
        segment.action_pause()
        self.make_partner("Grace Hopper", "grace@example.com", city="Testhausen")
        self.make_partner("Emmy Noether", "emmy@example.com", city="Munich")
        segment.invalidate_recordset()
        self.assertEqual(segment.eligible_count, 1, "only Grace would be welcomed now")
