from unittest.mock import patch

import psycopg2
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestWelcomeTrigger(MarketingTriggerCase):
    def test_a_batch_is_rendered_for_each_recipient_in_their_language(self):
        """The dispatcher compiles a template once per batch: each email must still be
        the recipient's own, as Odoo's per-record rendering would make it."""
        self.env["res.lang"]._activate_lang("de_DE")
        self.welcome.mail_template_id.with_context(
            lang="de_DE"
        ).subject = "Willkommen, {{ object.name }}"
        names = ["Ada Lovelace", "Grace Hopper", "Katherine Johnson", "Emmy Noether"]
        partners = self.Partner.create(
            [
                {
                    "name": name,
                    "email": f"{name.split()[0].lower()}@example.com",
                    "marketing_consent_email": True,
                    "lang": "de_DE" if name == "Emmy Noether" else "en_US",
                }
                for name in names
            ]
        )
        self.dispatch()
        for partner in partners:
            mail = self.env["mail.mail"].search([("recipient_ids", "in", partner.ids)])
            self.assertEqual(len(mail), 1)
            self.assertEqual(self.decisions(partner).delivery_ids.mail_id, mail)
            self.assertIn(f"Hello {partner.name},", mail.body_html)
            others = [n for n in names if n != partner.name]
            self.assertFalse([n for n in others if n in mail.body_html])
            expected = "Willkommen" if partner.lang == "de_DE" else "Welcome"
            self.assertIn(expected, mail.subject)

    def test_consenting_new_contact_gets_one_welcome_email(self):
        partner = self.make_partner()
        decision = self.decisions(partner)
        self.assertRecordValues(
            decision,
            [
                {
                    "outcome": "send",
                    "reason_code": "send",
                    "channel": "email",
                    "occurrence_key": "registered",
                    "delivery_state": "pending",
                }
            ],
        )
        self.dispatch()
        mail = self.welcome_mails(partner)
        self.assertEqual(len(mail), 1)
        self.assertIn("Ada Lovelace", mail.subject)
        self.assertIn("thank you for registering", mail.body_html)
        self.assertEqual(decision.delivery_ids.state, "sent")
        self.assertEqual(decision.delivery_ids.mail_id, mail)
        self.assertEqual(partner.marketing_decision_ids, decision)

    def test_unusable_contacts_get_a_logged_suppression_and_no_email(self):
        self.env["mail.blacklist"].create({"email": "blocked@example.com"})
        cases = [
            ({"email": False}, "no_email"),
            ({"email": "ada@example"}, "invalid_email"),
            ({"email": "two words@example.com"}, "invalid_email"),
            ({"email": "Blocked@Example.com"}, "blacklisted"),
            ({"marketing_consent_email": False}, "no_consent"),
            ({"marketing_consent_sms": True, "marketing_consent_email": False}, "no_consent"),
        ]
        for vals, reason in cases:
            with self.subTest(vals=vals):
                partner = self.make_partner(**{"email": "ok@example.com", **vals})
                decision = self.decisions(partner)
                self.assertRecordValues(decision, [{"outcome": "suppress", "reason_code": reason}])
                self.assertTrue(decision.explanation)
                self.dispatch()
                self.assertFalse(self.welcome_mails(partner))
                self.assertFalse(decision.delivery_ids)

    def test_second_evaluation_logs_nothing_and_sends_nothing_more(self):
        partner = self.make_partner()
        self.welcome._evaluate_again(partner)
        self.welcome._evaluate_again(partner)
        self.dispatch()
        decisions = self.decisions(partner)
        self.assertEqual(decisions.mapped("reason_code"), ["send"], "no 'duplicate' noise")
        self.assertEqual(len(decisions.delivery_ids), 1)
        self.assertEqual(len(self.welcome_mails(partner)), 1)

    def test_database_refuses_a_second_decision_for_the_same_occurrence(self):
        partner = self.make_partner()
        with self.assertRaises(psycopg2.errors.UniqueViolation), mute_logger("odoo.sql_db"):
            with self.env.cr.savepoint():
                self.Decision.create(
                    {
                        "trigger_id": self.welcome.id,
                        "partner_id": partner.id,
                        "occurrence_key": "registered",
                        "outcome": "suppress",
                        "reason_code": "no_consent",
                    }
                )
                self.Decision.flush_model()
        with self.assertRaises(psycopg2.errors.UniqueViolation), mute_logger("odoo.sql_db"):
            with self.env.cr.savepoint():
                self.Delivery.create(
                    {
                        "decision_id": self.decisions(partner).id,
                        "trigger_id": self.welcome.id,
                        "partner_id": partner.id,
                        "occurrence_key": "registered",
                        "channel": "email",
                    }
                )
                self.Delivery.flush_model()

    def test_engine_missing_an_earlier_decision_still_cannot_send_twice(self):
        # A concurrent transaction decided first: our look-up did not see it. The
        # unique index catches the race and the offer is logged as a duplicate.
        partner = self.make_partner()
        seen_late = [set(), {(self.welcome.id, partner.id, "registered")}]
        with (
            patch.object(type(self.Decision), "_decided_keys", side_effect=seen_late),
            mute_logger("odoo.sql_db"),
        ):
            self.welcome._evaluate_again(partner)
        self.assertEqual(
            sorted(self.decisions(partner).mapped("reason_code")), ["duplicate", "send"]
        )
        self.assertEqual(self.welcome.state, "active")

    def test_paused_or_draft_trigger_and_filter_mismatch_decide_nothing(self):
        self.welcome.action_pause()
        self.assertFalse(self.decisions(self.make_partner(email="p@example.com")))
        self.welcome.action_activate()
        self.welcome.partner_domain = "[('city', '=', 'Hamburg')]"
        munich = self.make_partner(email="m@example.com", city="Munich")
        hamburg = self.make_partner(email="h@example.com", city="Hamburg")
        self.assertFalse(self.decisions(munich))
        self.assertEqual(self.decisions(hamburg).outcome, "send")

    def test_withdrawn_consent_before_dispatch_cancels_the_email(self):
        partner = self.make_partner()
        partner.marketing_consent_email = False
        self.dispatch()
        self.assertFalse(self.welcome_mails(partner))
        delivery = self.decisions(partner).delivery_ids
        self.assertEqual(delivery.state, "cancelled")
        self.assertIn("not consented", delivery.failure_reason)

    @mute_logger("odoo.addons.marketing_trigger.models.marketing_trigger")
    def test_a_failing_trigger_never_blocks_saving_the_partner(self):
        target = "odoo.addons.marketing_trigger.models.marketing_trigger_decision.decide"
        with patch(target, side_effect=RuntimeError("engine exploded")):
            partner = self.make_partner()
        self.assertTrue(partner.exists())
        self.assertEqual(partner.name, "Ada Lovelace")
        error = self.decisions(partner)
        self.assertRecordValues(error, [{"outcome": "error", "reason_code": "error"}])
        self.assertIn("engine exploded", error.explanation)
        self.assertEqual(self.welcome.state, "paused")
        self.assertIn("engine exploded", self.welcome.last_error)
        self.assertEqual(self.welcome.error_count, 1)
        # Once mended and re-activated, the manager retries: the welcome goes out.
        self.welcome.action_activate()
        error.action_retry()
        self.assertEqual(sorted(self.decisions(partner).mapped("outcome")), ["error", "send"])
        self.dispatch()
        self.assertEqual(len(self.welcome_mails(partner)), 1)

    @mute_logger("odoo.addons.marketing_trigger.models.marketing_trigger_delivery")
    def test_a_template_that_fails_to_render_fails_only_its_delivery(self):
        good = self.make_partner(email="good@example.com")
        bad = self.make_partner(name="Bad Render", email="bad@example.com")
        original = type(self.env["mail.template"]).send_mail_batch

        def flaky(template, res_ids, *args, **kwargs):
            if bad.id in res_ids:
                raise ValueError("cannot render")
            return original(template, res_ids, *args, **kwargs)

        with patch.object(type(self.env["mail.template"]), "send_mail_batch", flaky):
            self.dispatch()
        self.assertEqual(self.decisions(good).delivery_ids.state, "sent")
        self.assertEqual(self.decisions(bad).delivery_ids.state, "failed")
        self.assertTrue(self.welcome_mails(good))

    def test_bad_configuration_is_refused_at_save(self):
        for domain in (
            "[('no_such_field', '=', 1)]",
            "not a domain",
            "{'a': 1}",
            "[('name', '=')]",
        ):
            with self.subTest(domain=domain), self.assertRaises(ValidationError):
                self.welcome.partner_domain = domain
                self.welcome.flush_recordset()
        with self.assertRaises(ValidationError):
            self.env["marketing.trigger"].create(
                {"name": "No template", "state": "active", "mail_template_id": False}
            )
        order_template = self.env["mail.template"].create(
            {"name": "Order", "model_id": self.env.ref("sale.model_sale_order").id}
        )
        with self.assertRaises(ValidationError):
            self.welcome.mail_template_id = order_template

    def test_a_template_that_cannot_render_is_refused_at_save(self):
        broken = self.env["mail.template"].create(
            {
                "name": "Broken",
                "model_id": self.env.ref("base.model_res_partner").id,
                "subject": "Hello",
                "body_html": "<p>Hi <t t-out='object.no_such_field'/></p>",
            }
        )
        with self.assertRaisesRegex(ValidationError, "no_such_field"):
            self.welcome.mail_template_id = broken
