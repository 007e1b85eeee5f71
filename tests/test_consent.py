from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestConsent(MarketingTriggerCase):
    def test_consent_change_is_recorded_as_proof_with_its_source(self):
        partner = self.make_partner()
        partner.with_context(
            marketing_consent_source="double_opt_in",
            marketing_consent_evidence="confirmed link from 10.0.0.7",
        ).write({"marketing_consent_sms": True})
        partner.marketing_consent_email = False
        history = partner.marketing_consent_ids.sorted("id")
        self.assertEqual(
            [(c.channel, c.is_granted, c.source) for c in history],
            [
                ("email", True, "salesperson"),
                ("sms", True, "double_opt_in"),
                ("email", False, "salesperson"),
            ],
        )
        self.assertEqual(history[1].evidence, "confirmed link from 10.0.0.7")
        self.assertEqual(history[0].user_id, self.env.user)
        self.assertFalse(partner.marketing_consent_email)
        self.assertTrue(partner.marketing_consent_sms)

    def test_unchanged_consent_adds_no_proof(self):
        partner = self.make_partner()
        partner.write({"marketing_consent_email": True, "city": "Hamburg"})
        self.assertEqual(len(partner.marketing_consent_ids), 1)

    def test_imported_consent_is_marked_as_import(self):
        partner = self.Partner.with_context(import_file=True).create(
            {"name": "Imported", "email": "imp@example.com", "marketing_consent_email": True}
        )
        self.assertEqual(partner.marketing_consent_ids.source, "import")

    def test_a_proof_cannot_be_rewritten(self):
        proof = self.make_partner().marketing_consent_ids
        with self.assertRaises(UserError):
            proof.write({"is_granted": False})

    def test_consent_proof_recorded_by_a_salesperson(self):
        partner = self.Partner.with_user(self.salesperson).create(
            {"name": "Met at fair", "email": "fair@example.com", "marketing_consent_phone": True}
        )
        self.assertRecordValues(
            partner.marketing_consent_ids,
            [
                {
                    "channel": "phone",
                    "is_granted": True,
                    "source": "salesperson",
                    "user_id": self.salesperson.id,
                },
            ],
        )
        # Phone consent alone does not allow a welcome email.
        self.assertEqual(self.decisions(partner).sudo().reason_code, "no_consent")

    def test_blacklisting_after_the_decision_stops_the_email_at_dispatch(self):
        partner = self.make_partner(email="later@example.com")
        self.env["mail.blacklist"]._add("later@example.com")
        self.dispatch()
        self.assertFalse(self.welcome_mails(partner))
        self.assertEqual(self.decisions(partner).delivery_ids.state, "cancelled")
