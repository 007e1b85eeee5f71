from odoo.exceptions import AccessError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged

from ..listmonk.client import CRM_PERMISSIONS
from ..listmonk.testing import FakeListmonk


@tagged("post_install", "-at_install")
class TestListmonkSettings(TransactionCase):
    """The company's Listmonk server and its "Test connection", against a fake Listmonk
    started on 127.0.0.1."""

    def setUp(self):
        super().setUp()
        self.fake = FakeListmonk()
        self.fake.__enter__()
        self.addCleanup(self.fake.__exit__, None, None, None)
        self.Server = self.env["marketing.listmonk.server"]

    def server(self, **vals):
        return self.Server.create(
            {
                "url": self.fake.base_url,
                "api_user": self.fake.username,
                "api_token": self.fake.token,
                "timeout": 2,
                **vals,
            }
        )

    def test_connection_reports_the_version(self):
        server = self.server()
        action = server.action_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertTrue(server.last_check_ok)
        self.assertEqual(server.version, "v6.2.0")
        self.assertIn("Connected to Listmonk v6.2.0", server.last_check_message)

    def test_a_wrong_token_and_missing_permissions_are_named(self):
        server = self.server(api_token="wrong-token")
        server.action_test_connection()
        self.assertFalse(server.last_check_ok)
        self.assertIn("refused the API user", server.last_check_message)
        granted = [p for p in CRM_PERMISSIONS if p not in ("tx:send", "campaigns:send")]
        self.fake.add_user("limited", "limited-token", permissions=granted)
        other_company = self.env["res.company"].create({"name": "Other company"})
        limited = self.server(
            api_user="limited", api_token="limited-token", company_id=other_company.id
        )
        limited.action_test_connection()
        self.assertFalse(limited.last_check_ok)
        self.assertIn("tx:send", limited.last_check_message)
        self.assertIn("campaigns:send", limited.last_check_message)

    def test_an_unreachable_server_is_reported_not_raised(self):
        server = self.server(url="http://127.0.0.1:9", timeout=0.5)
        server.action_test_connection()
        self.assertFalse(server.last_check_ok)
        self.assertIn("cannot be reached", server.last_check_message)

    def test_url_is_validated_and_the_token_is_for_managers_only(self):
        with self.assertRaisesRegex(ValidationError, "http"), self.env.cr.savepoint():
            self.server(url="lists.example.com")
        server = self.server()
        user = new_test_user(
            self.env, "mt_mkt_user", groups="marketing_trigger.group_marketing_trigger_user"
        )
        with self.assertRaises(AccessError):
            server.with_user(user).read(["api_token"])
