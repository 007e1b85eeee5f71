from odoo.tests import tagged

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestSender(MarketingTriggerCase):
    """Customers see the company or their salesperson as the sender, and the email they
    got stays visible from the contact."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.write({"name": "Seminar House", "email": "hello@seminar.example"})
        cls.template = cls.welcome.mail_template_id
        cls.robot = cls.env.ref("base.user_root")

    def dispatch_as_cron(self):
        """The dispatcher as Odoo's cron runs it: as OdooBot."""
        self.process_events()
        self.Delivery.with_user(self.robot)._cron_dispatch()
        self.env["mail.mail"].process_email_queue()

    def test_template_without_sender_sends_as_the_company(self):
        self.template.email_from = False
        partner = self.make_partner()
        self.dispatch_as_cron()
        delivery = self.decisions(partner).delivery_ids
        self.assertEqual(delivery.state, "sent")
        message = delivery.sent_message_id
        self.assertEqual(message.author_id, self.env.company.partner_id)
        self.assertEqual(message.email_from, '"Seminar House" <hello@seminar.example>')
        self.assertNotIn("OdooBot", message.email_from)

    def test_shipped_template_is_from_the_company_and_signed_by_the_salesperson(self):
        partner = self.make_partner(user_id=self.salesperson.id)
        self.dispatch_as_cron()
        message = self.decisions(partner).delivery_ids.sent_message_id
        self.assertEqual(message.author_id, self.env.company.partner_id)
        self.assertIn("hello@seminar.example", message.email_from)
        self.assertIn("Sam Sales", message.body)
        self.assertNotIn("OdooBot", message.body)
        lonely = self.make_partner("Grace Hopper", "grace@example.com")
        self.dispatch_as_cron()
        body = self.decisions(lonely).delivery_ids.sent_message_id.body
        self.assertIn("Best regards,<br>Seminar House", body)

    def test_template_naming_the_salesperson_sends_as_the_salesperson(self):
        self.salesperson.email = "sam@seminar.example"
        self.template.email_from = "{{ object.user_id.email_formatted }}"
        partner = self.make_partner(user_id=self.salesperson.id)
        self.dispatch_as_cron()
        message = self.decisions(partner).delivery_ids.sent_message_id
        self.assertEqual(message.author_id, self.salesperson.partner_id)
        self.assertIn("sam@seminar.example", message.email_from)

    def test_sent_email_survives_auto_delete_and_shows_on_the_contact(self):
        self.template.auto_delete = True
        partner = self.make_partner()
        self.dispatch_as_cron()
        delivery = self.decisions(partner).delivery_ids
        self.assertEqual(delivery.state, "sent")
        self.assertFalse(delivery.mail_id, "Odoo deleted the outgoing email")
        self.assertFalse(self.welcome_mails(partner))
        message = delivery.sent_message_id
        self.assertTrue(message.exists())
        self.assertIn(message, partner.message_ids, "on the contact's chatter")
        self.assertIn("thank you for registering", delivery.sent_body)
        self.assertIn("Welcome", message.subject)
