from datetime import datetime, timedelta

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import new_test_user, tagged

from .common import MarketingTriggerCase

NOW = datetime(2026, 6, 1, 2, 0)


@tagged("post_install", "-at_install")
class TestLifecycle(MarketingTriggerCase):
    """The nightly lifecycle stages on hand-made histories, the manual override and the
    stage-changed kind."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.policy.write(
            {
                "lifecycle_onboarding_days": 30,
                "lifecycle_engaged_days": 90,
                "lifecycle_churn_factor": 1.5,
                "lifecycle_churn_days": 180,
                "lifecycle_winback_days": 365,
                "lifecycle_lost_days": 730,
            }
        )
        cls.product = cls.env["product.product"].create({"name": "Seminar", "type": "service"})

    def contact(self, name, created_days_ago=400, orders=()):
        """A contact created ``created_days_ago`` before NOW, with confirmed orders
        ``orders`` days before NOW."""
        partner = self.Partner.create({"name": name, "email": f"{name.lower()}@example.com"})
        self.env.cr.execute(
            "UPDATE res_partner SET create_date = %s WHERE id = %s",
            [NOW - timedelta(days=created_days_ago), partner.id],
        )
        for days in orders:
            order = self.env["sale.order"].create(
                {
                    "partner_id": partner.id,
                    "order_line": [Command.create({"product_id": self.product.id})],
                }
            )
            order.action_confirm()
            order.date_order = NOW - timedelta(days=days)
        partner.invalidate_recordset()
        return partner

    def compute(self, at=NOW):
        return self.policy._compute_lifecycle(at)

    def test_each_stage_from_a_hand_made_history(self):
        cases = {
            "onboarding": self.contact("Neu", created_days_ago=5),
            "new": self.contact("Kalt", created_days_ago=200),
            "engaged": self.contact("Treu", orders=(300, 200, 100, 20)),
            # Orders every ~30 days, last one 60 days ago: 60 > 1.5 × 30 (but the
            # 90 engaged days still count): engaged; at 100 days, churn risk.
            "churn_risk": self.contact("Weg", orders=(190, 160, 130, 100)),
            "winback": self.contact("Lang", orders=(400,)),
            "lost": self.contact("Fort", orders=(900, 800)),
        }
        # A one-order customer 200 days ago: past the 180 days of "churn after".
        one_order = self.contact("Einmal", orders=(200,))
        # Ordered 120 days ago in a yearly rhythm: still within their own rhythm.
        yearly = self.contact("Jährlich", orders=(485, 120))
        self.compute()
        for stage, partner in cases.items():
            self.assertEqual(partner.marketing_lifecycle_stage, stage, partner.name)
        self.assertEqual(one_order.marketing_lifecycle_stage, "churn_risk")
        self.assertEqual(yearly.marketing_lifecycle_stage, "engaged")

    def test_an_open_or_click_makes_a_prospect_engaged(self):
        self.welcome.action_activate()
        partner = self.make_partner("Leser", "leser@example.com")
        self.env.cr.execute(
            "UPDATE res_partner SET create_date = %s WHERE id = %s",
            [NOW - timedelta(days=100), partner.id],
        )
        self.compute()
        self.assertEqual(partner.marketing_lifecycle_stage, "new")
        delivery = self.Delivery.search([("partner_id", "=", partner.id)])
        self.assertEqual(len(delivery), 1)
        delivery._record_engagement("opened", NOW - timedelta(days=2))
        self.compute()
        self.assertEqual(partner.marketing_lifecycle_stage, "engaged")

    def test_only_changes_are_written_and_kept_as_history(self):
        partner = self.contact("Lang", orders=(400,))
        moved = self.compute()
        self.assertGreaterEqual(moved, 1)
        self.assertEqual(self.compute(), 0, "a second run moves nobody")
        change = partner.marketing_lifecycle_change_ids
        self.assertRecordValues(
            change, [{"from_stage": False, "to_stage": "winback", "source": "automatic"}]
        )
        self.assertEqual(partner.marketing_lifecycle_since, NOW)
        marketer = new_test_user(
            self.env, "mt_lc", groups="marketing_trigger.group_marketing_trigger_manager"
        )
        with self.assertRaises(UserError):
            change.with_user(marketer).write({"to_stage": "lost"})
        with self.assertRaises(UserError):
            change.with_user(marketer).unlink()

    def test_a_stage_set_by_hand_is_kept_until_handed_back(self):
        partner = self.contact("Hand", orders=(400,))
        partner.marketing_lifecycle_stage = "engaged"
        self.assertTrue(partner.marketing_lifecycle_manual)
        self.assertEqual(partner.marketing_lifecycle_change_ids.source, "manual")
        self.compute()
        self.assertEqual(partner.marketing_lifecycle_stage, "engaged", "the hand wins")
        partner.marketing_lifecycle_manual = False
        self.compute()
        self.assertEqual(partner.marketing_lifecycle_stage, "winback")

    def test_stage_changed_triggers_filter_on_from_and_to(self):
        to_winback = self.env["marketing.trigger"].create(
            {
                "name": "We miss you",
                "kind": "lifecycle_stage_changed",
                "lifecycle_to_stage": "winback",
                "channel": "phone",
                "message_class": "service",
                "activity_user_id": self.salesperson.id,
            }
        )
        engaged_to_churn = self.env["marketing.trigger"].create(
            {
                "name": "Churn alert",
                "kind": "lifecycle_stage_changed",
                "lifecycle_from_stage": "engaged",
                "lifecycle_to_stage": "churn_risk",
                "channel": "phone",
                "message_class": "service",
                "activity_user_id": self.salesperson.id,
            }
        )
        (to_winback | engaged_to_churn).action_activate()
        lapsed = self.contact("Lang", orders=(400,))
        regular = self.contact("Regel", orders=(190, 160, 130, 100))
        self.compute(NOW - timedelta(days=30))  # regular: engaged then
        self.process_events()
        self.assertEqual(regular.marketing_lifecycle_stage, "engaged")
        self.compute()
        self.process_events()
        self.assertEqual(regular.marketing_lifecycle_stage, "churn_risk")
        self.assertEqual(
            self.Decision.search([("trigger_id", "=", to_winback.id)]).partner_id, lapsed
        )
        churn = self.Decision.search([("trigger_id", "=", engaged_to_churn.id)])
        self.assertEqual(churn.partner_id, regular)
        self.assertTrue(churn.occurrence_key.startswith("stage:"))
        with self.assertRaisesRegex(ValidationError, "two different stages"):
            engaged_to_churn.lifecycle_from_stage = "churn_risk"

    def test_thresholds_that_make_no_sense_are_refused(self):
        for values, words in (
            ({"lifecycle_engaged_days": -1}, "above 0"),
            ({"lifecycle_churn_factor": 1.0}, "above 1"),
            ({"lifecycle_lost_days": 300}, "must grow"),
            ({"lifecycle_churn_days": 400}, "must grow"),
        ):
            with self.subTest(values=values), self.assertRaisesRegex(ValidationError, words):
                with self.env.cr.savepoint():
                    self.policy.write(values)
