from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import MarketingTriggerCase

MODELS = (
    "marketing.trigger",
    "marketing.trigger.decision",
    "marketing.trigger.delivery",
    "marketing.trigger.consent",
)


@tagged("post_install", "-at_install")
class TestAccess(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.marketing_user = new_test_user(
            cls.env, "mt_user", groups="marketing_trigger.group_marketing_trigger_user"
        )
        cls.marketing_manager = new_test_user(
            cls.env, "mt_manager", groups="marketing_trigger.group_marketing_trigger_manager"
        )
        cls.other_salesperson = new_test_user(
            cls.env, "mt_sales2", groups="sales_team.group_sale_salesman"
        )
        cls.portal = new_test_user(cls.env, "mt_portal", groups="base.group_portal")
        cls.public = cls.env.ref("base.public_user")
        cls.own = cls.make_partner(name="Own", email="own@example.com", user_id=cls.salesperson.id)
        cls.foreign = cls.make_partner(
            name="Foreign", email="foreign@example.com", user_id=cls.other_salesperson.id
        )

    def test_marketing_user_reads_but_cannot_edit_triggers(self):
        trigger = self.welcome.with_user(self.marketing_user)
        self.assertEqual(trigger.name, "Welcome")
        with self.assertRaises(AccessError):
            trigger.write({"priority": 99})
        with self.assertRaises(AccessError):
            self.env["marketing.trigger"].with_user(self.marketing_user).create({"name": "x"})
        with self.assertRaises(AccessError):
            self.Decision.with_user(self.marketing_user).search([], limit=1).action_retry()
        decisions = self.Decision.with_user(self.marketing_user).search([])
        self.assertIn(self.decisions(self.own), decisions)
        self.assertIn(self.decisions(self.foreign), decisions)

    def test_manager_edits_and_activates_triggers(self):
        trigger = self.welcome.with_user(self.marketing_manager)
        trigger.write({"priority": 99})
        trigger.action_pause()
        self.assertEqual(self.welcome.state, "paused")

    def test_salesperson_reads_only_own_customers_decisions(self):
        as_sales = self.Decision.with_user(self.salesperson)
        visible = as_sales.search([])
        self.assertEqual(visible.partner_id, self.own)
        self.assertEqual(visible.reason_code, "send")
        with self.assertRaises(AccessError):
            as_sales.browse(self.decisions(self.foreign).id).read(["explanation"])
        with self.assertRaises(AccessError):
            visible.write({"explanation": "edited"})
        self.assertEqual(self.own.with_user(self.salesperson).marketing_decision_count, 1)
        self.assertFalse(self.foreign.with_user(self.salesperson).marketing_decision_ids)
        # They read what the decision form shows (the trigger), and change nothing.
        self.assertEqual(self.welcome.with_user(self.salesperson).name, "Welcome")
        with self.assertRaises(AccessError):
            self.welcome.with_user(self.salesperson).write({"name": "Hi"})

    def test_portal_and_public_users_read_nothing(self):
        for user in (self.portal, self.public):
            for model in MODELS:
                with self.subTest(user=user.login, model=model), self.assertRaises(AccessError):
                    self.env[model].with_user(user).search([], limit=1)

    def test_triggers_of_another_company_are_invisible(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        foreign_trigger = self.welcome.copy({"name": "Other welcome", "company_id": other.id})
        as_user = self.env["marketing.trigger"].with_user(self.marketing_user)
        self.assertNotIn(foreign_trigger, as_user.search([]))
        self.assertIn(self.welcome, as_user.search([]))
