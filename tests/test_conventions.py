from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase

RETENTION = "marketing_trigger.engagement_retention_days"


@tagged("post_install", "-at_install")
class TestOdooConventions(MarketingTriggerCase):
    """What a user used to Odoo expects: empty-state help, a kanban, Settings, groups."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.marketer = new_test_user(
            cls.env, "mt_conv_user", groups="marketing_trigger.group_marketing_trigger_user"
        )

    def test_every_list_explains_itself_when_empty(self):
        for xmlid in (
            "marketing_trigger_action",
            "marketing_trigger_decision_action",
            "marketing_trigger_delivery_action",
            "marketing_trigger_consent_action",
            "marketing_trigger_policy_action",
            "marketing_trigger_topic_action",
            "marketing_trigger_interest_action",
            "marketing_trigger_landing_action",
            "marketing_trigger_link_action",
            "marketing_trigger_engagement_action",
            "marketing_trigger_touch_action",
        ):
            with self.subTest(action=xmlid):
                action = self.env.ref(f"marketing_trigger.{xmlid}")
                self.assertIn("o_view_nocontent_", action.help or "")

    def test_triggers_open_as_kanban_cards_with_status_and_counters(self):
        action = self.env.ref("marketing_trigger.marketing_trigger_action")
        self.assertEqual(action.view_mode.split(","), ["kanban", "list", "form"])
        Trigger = self.env["marketing.trigger"].with_user(self.marketer)
        arch = Trigger.get_views([(False, "kanban")])["views"]["kanban"]["arch"]
        for name in ("state", "fired_count", "delivered_count", "suppressed_count"):
            self.assertIn(f'name="{name}"', arch)
        self.assertIn('default_group_by="state"', arch)
        # Dragging a card would activate a trigger without the checks of Activate.
        self.assertIn('records_draggable="0"', arch)
        self.make_partner()
        card = Trigger.web_search_read(
            [("id", "=", self.welcome.id)],
            {"name": {}, "state": {}, "fired_count": {}, "delivered_count": {}},
        )["records"][0]
        self.assertEqual(card["state"], "active")
        self.assertGreaterEqual(card["fired_count"], 1)
        self.assertEqual(card["fired_count"], self.welcome.fired_count)

    def test_settings_read_and_write_the_tracking_parameters(self):
        params = self.env["ir.config_parameter"].sudo()
        settings = self.env["res.config.settings"].create(
            {
                "marketing_engagement_retention_days": 30,
                "marketing_tracking_base_url": "https://news.example.com/",
            }
        )
        web_address = params.get_param("web.base.url")
        settings.execute()
        self.assertEqual(params.get_param(RETENTION), "30")
        self.assertEqual(
            params.get_param("marketing_trigger.tracking_base_url"), "https://news.example.com"
        )
        self.assertEqual(params.get_param("web.base.url"), web_address, "Odoo keeps its address")
        again = self.env["res.config.settings"].create({})
        self.assertEqual(again.marketing_engagement_retention_days, 30)
        self.assertEqual(again.marketing_tracking_base_url, "https://news.example.com")
        for model in ("marketing.trigger.delivery", "marketing.listmonk.campaign"):
            self.assertEqual(self.env[model].get_base_url(), "https://news.example.com")
        self.assertEqual(self.env["res.partner"].get_base_url(), web_address)
        self.assertEqual(
            again.action_open_marketing_policy()["res_id"],
            self.env["marketing.trigger.policy"]._for_company(self.env.company).id,
        )

    @mute_logger("odoo.sql_db")
    def test_settings_refuse_a_tracking_domain_that_is_no_web_address(self):
        for values in (
            {"marketing_tracking_base_url": "news.example.com"},
            {"marketing_tracking_base_url": "javascript:alert(1)"},
            {"marketing_engagement_retention_days": 0},
        ):
            with self.subTest(values=values), self.assertRaises(ValidationError):
                self.env["res.config.settings"].create(values)

    def test_settings_show_a_marketing_triggers_section(self):
        arch = self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('string="Marketing Triggers"', arch)
        self.assertIn('name="marketing_engagement_retention_days"', arch)
        self.assertIn("action_open_marketing_policy", arch)

    def test_the_access_groups_are_one_selection_in_their_own_category(self):
        user_group = self.env.ref("marketing_trigger.group_marketing_trigger_user")
        manager_group = self.env.ref("marketing_trigger.group_marketing_trigger_manager")
        category = user_group.category_id
        self.assertEqual(category.name, "Marketing Triggers")
        self.assertEqual(manager_group.category_id, category)
        [(kind, groups)] = [
            (kind, groups)
            for app, kind, groups, _section in self.env["res.groups"].get_groups_by_application()
            if app == category
        ]
        self.assertEqual(kind, "selection")
        self.assertEqual(groups, user_group | manager_group)

    def test_landing_pages_and_the_policy_keep_a_history(self):
        landing = self.env["marketing.trigger.landing"].create(
            {"name": "Seminars", "slug": "seminars-history"}
        )
        landing.message_post(body="Reviewed the Hamburg dates")
        self.assertIn("Hamburg", landing.message_ids[0].body)
        for model, view in (
            ("marketing.trigger.landing", "marketing_trigger_landing_view_form"),
            ("marketing.trigger.policy", "marketing_trigger_policy_view_form"),
        ):
            with self.subTest(model=model):
                self.assertIn("<chatter", self.env.ref(f"marketing_trigger.{view}").arch)
                self.assertIn("message_ids", self.env[model]._fields)
