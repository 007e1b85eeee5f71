from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestVariants(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        template = cls.welcome.mail_template_id
        cls.winback_template = template.copy({"subject": "We miss you, {{ object.name }}!"})
        cls.hamburg_template = template.copy({"subject": "Moin {{ object.name }}!"})
        cls.welcome.variant_ids = [
            (
                0,
                0,
                {
                    "name": "Churn risk",
                    "sequence": 1,
                    "partner_domain": "[('marketing_lifecycle_stage', '=', 'churn_risk')]",
                    "mail_template_id": cls.winback_template.id,
                },
            ),
            (
                0,
                0,
                {
                    "name": "Hamburg",
                    "sequence": 2,
                    "partner_domain": "[('city', '=', 'Hamburg')]",
                    "mail_template_id": cls.hamburg_template.id,
                },
            ),
        ]

    def subject_for(self, partner):
        self.dispatch()
        return self.env["mail.mail"].search([("recipient_ids", "in", partner.ids)]).subject

    def test_each_segment_gets_its_own_content_from_one_trigger(self):
        churn = self.make_partner(
            "Carla Churn",
            "carla@example.com",
            city="Hamburg",
            marketing_lifecycle_stage="churn_risk",
        )
        hamburg = self.make_partner("Hanna Hamburg", "hanna@example.com", city="Hamburg")
        munich = self.make_partner("Max Munich", "max@example.com", city="Munich")
        self.assertEqual(
            self.subject_for(churn), "We miss you, Carla Churn!", "the first matching variant wins"
        )
        self.assertEqual(self.subject_for(hamburg), "Moin Hanna Hamburg!")
        self.assertIn("Welcome", self.subject_for(munich), "no variant: the trigger's own")
        decision = self.decisions(churn)
        self.assertEqual(decision.variant_id.name, "Churn risk")
        self.assertIn("variant 'Churn risk'", decision.explanation)
        self.assertFalse(self.decisions(munich).variant_id)

    def test_interests_can_drive_a_segment(self):
        rhetoric = self.env["marketing.trigger.interest"].create({"name": "Rhetoric"})
        self.welcome.variant_ids[
            1
        ].partner_domain = f"[('marketing_interest_ids', 'in', [{rhetoric.id}])]"
        fan = self.make_partner(
            "Rita Rhetoric", "rita@example.com", marketing_interest_ids=[(6, 0, rhetoric.ids)]
        )
        self.assertEqual(self.subject_for(fan), "Moin Rita Rhetoric!")

    def test_bad_variants_are_refused_at_save(self):
        variant = self.welcome.variant_ids[0]
        order_template = self.env["mail.template"].create(
            {"name": "Order", "model_id": self.env.ref("sale.model_sale_order").id}
        )
        for vals in (
            {"partner_domain": "[('no_such_field', '=', 1)]"},
            {"partner_domain": "not a domain"},
            {"mail_template_id": order_template.id},
            {"sms_body": "Hi {{ partner.name "},
        ):
            with self.subTest(vals=vals), self.assertRaises(ValidationError):
                variant.write(vals)
