from odoo import fields
from odoo.tests import TransactionCase, new_test_user


class MarketingTriggerCase(TransactionCase):
    """Shared set-up: the shipped Welcome trigger, active, and small factories."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.welcome = cls.env.ref("marketing_trigger.marketing_trigger_welcome")
        cls.welcome.action_activate()
        # Tests run at any hour: open the send window around the clock, no caps. Tests of
        # the policy itself set it up as they need.
        cls.policy = cls.env["marketing.trigger.policy"]._for_company(cls.env.company)
        cls.policy.write(
            {
                "window_start": 0,
                "window_end": 24,
                "sunday": True,
                "skip_holidays": False,
                "cap_ids": [fields.Command.clear()],
                "arbitration_hours": 0,
            }
        )
        cls.Partner = cls.env["res.partner"]
        cls.Decision = cls.env["marketing.trigger.decision"]
        cls.Delivery = cls.env["marketing.trigger.delivery"]
        cls.salesperson = new_test_user(
            cls.env, "mt_sales", groups="sales_team.group_sale_salesman", name="Sam Sales"
        )
        # Start every test with an empty event queue (the salesperson's contact was
        # registered above).
        cls.process_events()

    @classmethod
    def make_partner(cls, name="Ada Lovelace", email="ada@example.com", consent=True, **vals):
        """A contact, registered and evaluated as the event cron does after the commit."""
        partner = cls.Partner.create(
            {"name": name, "email": email, "marketing_consent_email": consent, **vals}
        )
        cls.process_events()
        return partner

    @classmethod
    def record_template(cls, model, subject="About your {{ object.display_name }}"):
        """An email template for kinds whose messages are about a record of ``model``
        (an order, a lead, a price watch…): they render on that record."""
        return cls.env["mail.template"].create(
            {
                "name": f"Test: {model}",
                "model_id": cls.env["ir.model"]._get_id(model),
                "subject": subject,
                "body_html": "<p>About <t t-out='object.display_name'/></p>",
            }
        )

    @classmethod
    def process_events(cls):
        """Run the event cron, as Odoo does once the saving transaction committed."""
        cls.env["marketing.trigger.event"]._cron_process_events()

    def decisions(self, partner, trigger=None):
        """The partner's decisions of ``trigger``, once queued events were evaluated."""
        self.process_events()
        return self.Decision.search(
            [("partner_id", "=", partner.id), ("trigger_id", "=", (trigger or self.welcome).id)]
        )

    def dispatch(self):
        """Run the dispatcher, then Odoo's email queue it wakes (in tests the mail server
        accepts every email without connecting): emails end sent, failed or cancelled."""
        self.process_events()
        self.Delivery._cron_dispatch()
        self.env["mail.mail"].process_email_queue()

    def welcome_mails(self, partner):
        return self.env["mail.mail"].search(
            [("recipient_ids", "in", partner.ids), ("subject", "ilike", "Welcome")]
        )
