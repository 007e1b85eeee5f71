from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install")
class TestInstall(TransactionCase):
    def test_marketing_app_menu_has_triggers_and_decision_log(self):
        root = self.env.ref("marketing_trigger.marketing_trigger_menu_root")
        self.assertFalse(root.parent_id, "Marketing must be a top-level app menu")
        self.assertTrue(root.web_icon)
        children = root.child_id.mapped("name")
        self.assertIn("Triggers", children)
        self.assertIn("Decision log", children)

    def test_manager_implies_user(self):
        manager = self.env.ref("marketing_trigger.group_marketing_trigger_manager")
        user = self.env.ref("marketing_trigger.group_marketing_trigger_user")
        self.assertIn(user, manager.implied_ids)
        self.assertEqual(manager.full_name, "Marketing Triggers / Manager")
        self.assertEqual(user.full_name, "Marketing Triggers / User")

    def test_welcome_trigger_ships_as_a_draft_with_its_template(self):
        welcome = self.env.ref("marketing_trigger.marketing_trigger_welcome")
        self.assertEqual(welcome.kind, "partner_registered")
        self.assertEqual(welcome.mail_template_id.model, "res.partner")
        self.assertIn(welcome.state, ("draft", "active"))  # demo data activates it

    def test_every_model_has_access_rules(self):
        ours = self.env["ir.model"].search([("model", "=like", "marketing.%")])
        # Abstract models (mixins) have no table and take no access rules.
        ours = ours.filtered(lambda m: not self.env[m.model]._abstract)
        self.assertGreaterEqual(len(ours), 12)
        for model in ours:
            with self.subTest(model=model.model):
                self.assertTrue(model.access_ids, f"{model.model} has no access rule")

    def test_partner_form_shows_consent_and_decision_log(self):
        arch = self.env["res.partner"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("marketing_consent_email", arch)
        self.assertIn("marketing_decision_ids", arch)
