from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestRecordEvents(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        template = cls.record_template("sale.order")
        lead_template = cls.record_template("crm.lead")
        Trigger = cls.env["marketing.trigger"]
        cls.thanks = Trigger.create(
            {
                "name": "Thank you for booking",
                "kind": "order_confirmed",
                "mail_template_id": template.id,
                "message_class": "service",
            }
        )
        cls.won = Trigger.create(
            {"name": "Welcome aboard", "kind": "lead_won", "mail_template_id": lead_template.id}
        )
        cls.lost = Trigger.create(
            {
                "name": "Sorry to miss you",
                "kind": "lead_lost",
                "mail_template_id": lead_template.id,
            }
        )
        (cls.thanks | cls.won | cls.lost).action_activate()
        cls.seminar = cls.env["product.product"].create(
            {"name": "Rhetoric seminar", "list_price": 490}
        )

    def order(self, partner):
        return self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [(0, 0, {"product_id": self.seminar.id, "product_uom_qty": 1})],
            }
        )

    def test_a_booking_thanks_once_per_order(self):
        partner = self.make_partner(consent=False)  # service message: no consent needed
        first, second = self.order(partner), self.order(partner)
        self.assertFalse(self.decisions(partner, self.thanks), "quotations are not bookings")
        first.action_confirm()
        second.action_confirm()
        decisions = self.decisions(partner, self.thanks)
        self.assertEqual(
            sorted(decisions.mapped("occurrence_key")),
            sorted([f"order:{first.id}", f"order:{second.id}"]),
        )
        self.assertEqual(set(decisions.mapped("outcome")), {"send"})

    def test_opportunity_won_and_lost(self):
        winner = self.make_partner("Win Ner", "winner@example.com")
        loser = self.make_partner("Lo Ser", "loser@example.com")
        Lead = self.env["crm.lead"]
        won = Lead.create({"name": "Seminar deal", "partner_id": winner.id, "type": "opportunity"})
        lost = Lead.create({"name": "Other deal", "partner_id": loser.id, "type": "opportunity"})
        won.action_set_won()
        lost.action_set_lost()
        self.assertEqual(self.decisions(winner, self.won).occurrence_key, f"lead_won:{won.id}")
        self.assertEqual(self.decisions(loser, self.lost).occurrence_key, f"lead_lost:{lost.id}")
        self.assertFalse(self.decisions(winner, self.lost))

    def test_the_trigger_filter_applies_to_the_order_customer(self):
        self.thanks.partner_domain = "[('city', '=', 'Hamburg')]"
        munich = self.make_partner("Mu Nich", "mu@example.com", city="Munich")
        self.order(munich).action_confirm()
        self.assertFalse(self.decisions(munich, self.thanks))

    @mute_logger("odoo.addons.marketing_trigger.models.marketing_trigger")
    def test_a_failing_trigger_never_blocks_the_confirmation_and_can_be_retried(self):
        partner = self.make_partner()
        order = self.order(partner)
        target = "odoo.addons.marketing_trigger.models.marketing_trigger_decision.decide"
        with patch(target, side_effect=RuntimeError("engine exploded")):
            order.action_confirm()
            self.assertEqual(order.state, "sale")
            self.process_events()
        error = self.decisions(partner, self.thanks)
        self.assertRecordValues(
            error, [{"outcome": "error", "occurrence_key": f"order:{order.id}"}]
        )
        self.assertEqual(self.thanks.state, "paused")
        self.thanks.action_activate()
        error.action_retry()
        retried = self.decisions(partner, self.thanks) - error
        self.assertRecordValues(
            retried, [{"outcome": "send", "occurrence_key": f"order:{order.id}"}]
        )

    def test_a_lost_deal_gives_the_leads_salesperson_a_call_on_the_lead(self):
        callback = self.env["marketing.trigger"].create(
            {
                "name": "Ask why we lost",
                "kind": "lead_lost",
                "channel": "phone",
                "message_class": "service",
                "activity_summary": "Ask {{ partner.first_name }} why we lost the deal",
            }
        )
        callback.action_activate()
        account_manager = self.env["res.users"].create(
            {"name": "Account Manager", "login": "mt_am", "email": "am@example.com"}
        )
        partner = self.make_partner(
            mobile="+49 171 2345678",
            country_id=self.env.ref("base.de").id,
            user_id=self.salesperson.id,
        )
        lead = self.env["crm.lead"].create(
            {
                "name": "Seminar deal",
                "partner_id": partner.id,
                "type": "opportunity",
                "user_id": account_manager.id,
            }
        )
        lead.action_set_lost()
        self.dispatch()
        activity = self.env["mail.activity"].search(
            [("res_model", "=", "crm.lead"), ("res_id", "=", lead.id)]
        )
        self.assertRecordValues(
            activity,
            [{"user_id": account_manager.id, "summary": "Ask Ada why we lost the deal"}],
        )
