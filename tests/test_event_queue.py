from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestEventQueue(MarketingTriggerCase):
    """Record events are decided after the save commits, by the event cron."""

    def setUp(self):
        super().setUp()
        self.Event = self.env["marketing.trigger.event"]
        self.cron = self.env.ref("marketing_trigger.ir_cron_process_events")

    def test_the_save_only_queues_and_wakes_the_cron(self):
        triggers_before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)])
        partner = self.Partner.create(
            {"name": "Ada", "email": "ada@example.com", "marketing_consent_email": True}
        )
        self.assertFalse(
            self.Decision.search([("partner_id", "=", partner.id)]),
            "nothing is decided inside the save",
        )
        queued = self.Event.search([("res_model", "=", "res.partner"), ("res_id", "=", partner.id)])
        self.assertEqual(queued.mapped("kind"), ["partner_registered"])
        self.assertGreater(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)]),
            triggers_before,
            "the event cron is asked to run (Odoo notifies it once the transaction commits)",
        )
        self.process_events()
        self.assertEqual(self.decisions(partner).outcome, "send")
        self.assertFalse(queued.exists(), "processed events leave the queue")

    def test_a_rolled_back_save_never_fires(self):
        with self.assertRaises(RuntimeError), self.env.cr.savepoint():
            self.Partner.create({"name": "Ghost", "email": "ghost@example.com"})
            raise RuntimeError("the save failed")
        self.assertFalse(self.Event.search([]))
        self.process_events()
        self.assertFalse(self.Decision.search([("partner_id.name", "=", "Ghost")]))

    def test_no_active_trigger_of_the_kind_queues_nothing(self):
        self.welcome.action_pause()
        self.Partner.create({"name": "Quiet", "email": "quiet@example.com"})
        self.assertFalse(self.Event.search([]), "a save costs nothing when no trigger listens")

    def test_a_partner_deleted_before_the_cron_is_skipped(self):
        partner = self.Partner.create({"name": "Brief", "email": "brief@example.com"})
        partner.unlink()
        self.process_events()
        self.assertFalse(self.Event.search([("state", "=", "pending")]))

    @mute_logger("odoo.addons.marketing_trigger.models.marketing_trigger")
    def test_a_failing_trigger_pauses_and_the_others_keep_running(self):
        other = self.welcome.copy({"name": "Second welcome"})
        other.action_activate()
        partner = self.Partner.create(
            {"name": "Ada", "email": "ada@example.com", "marketing_consent_email": True}
        )
        original = type(self.welcome)._event_occurrences_partner_registered

        def broken(trigger, partners):
            if trigger == other:
                raise RuntimeError("kind exploded")
            return original(trigger, partners)

        with patch.object(type(self.welcome), "_event_occurrences_partner_registered", broken):
            self.process_events()
        self.assertEqual(other.state, "paused")
        self.assertIn("kind exploded", other.last_error)
        self.assertEqual(self.decisions(partner, other).outcome, "error")
        self.assertEqual(self.decisions(partner).outcome, "send", "the other trigger ran")

    def test_double_opt_in_confirmation_fires_once(self):
        confirm = self.env["marketing.trigger"].create(
            {
                "name": "Thanks for confirming",
                "kind": "double_optin",
                "mail_template_id": self.welcome.mail_template_id.id,
            }
        )
        confirm.action_activate()
        partner = self.make_partner(consent=False)
        Consent = self.env["marketing.trigger.consent"]
        Consent.create(
            {"partner_id": partner.id, "channel": "email", "is_granted": True, "source": "form"}
        )
        self.process_events()
        self.assertFalse(self.decisions(partner, confirm), "a plain form consent is not DOI")
        for _attempt in range(2):
            Consent.create(
                {
                    "partner_id": partner.id,
                    "channel": "email",
                    "is_granted": True,
                    "source": "double_opt_in",
                    "evidence": "confirmation link clicked",
                }
            )
            self.process_events()
        decisions = self.decisions(partner, confirm)
        self.assertEqual(decisions.filtered(lambda d: d.reason_code != "duplicate").outcome, "send")

    def test_entering_the_segment_fires_once(self):
        segment = self.env["marketing.trigger"].create(
            {
                "name": "Testhausen seminar",
                "kind": "segment_entered",
                "partner_domain": "[('city', '=', 'Testhausen')]",
                "mail_template_id": self.welcome.mail_template_id.id,
            }
        )
        segment.action_activate()
        partner = self.make_partner(city="Munich")
        self.assertFalse(self.decisions(partner, segment))
        partner.city = "Testhausen"
        self.process_events()
        self.assertEqual(self.decisions(partner, segment).outcome, "send")
        partner.city = "Munich"
        partner.city = "Testhausen"
        self.process_events()
        self.assertEqual(len(self.decisions(partner, segment)), 1, "one entry per contact")

    def test_contacts_already_in_the_segment_are_swept_by_the_cron(self):
        partners = self.Partner.create(
            [
                {"name": f"Testhausener {i}", "email": f"h{i}@example.com", "city": "Testhausen"}
                for i in range(3)
            ]
        )
        segment = self.env["marketing.trigger"].create(
            {
                "name": "Testhausen seminar",
                "kind": "segment_entered",
                "partner_domain": "[('city', '=', 'Testhausen')]",
                "mail_template_id": self.welcome.mail_template_id.id,
                "message_class": "service",
            }
        )
        segment.action_activate()
        self.assertEqual(segment.eligible_count, 3)
        self.env["marketing.trigger"]._cron_evaluate_time_triggers()
        self.assertEqual(
            self.Decision.search([("trigger_id", "=", segment.id)]).partner_id, partners
        )
        self.assertEqual(segment.eligible_count, 0)

    @mute_logger("odoo.addons.marketing_trigger.models.marketing_trigger")
    def test_a_concurrent_update_is_retried_not_blamed_on_the_trigger(self):
        """A serialization failure (a click updating the same contact) rolls the cron
        back; the events stay queued and the trigger stays active."""
        from psycopg2.errors import SerializationFailure

        partner = self.Partner.create({"name": "Busy", "email": "busy@example.com"})
        target = "odoo.addons.marketing_trigger.models.marketing_trigger_decision.decide"
        with (
            patch(target, side_effect=SerializationFailure("concurrent update")),
            self.assertRaises(SerializationFailure),
            self.env.cr.savepoint(),
        ):
            self.process_events()
        self.assertEqual(self.welcome.state, "active")
        self.assertFalse(self.welcome.last_error)
        self.assertTrue(self.Event.search([("res_id", "=", partner.id)]), "still queued")
        self.process_events()
        self.assertEqual(len(self.decisions(partner)), 1)
