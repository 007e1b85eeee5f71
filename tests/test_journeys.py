from datetime import datetime, timedelta

import psycopg2
from freezegun import freeze_time
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase

NOW = datetime(2026, 3, 10, 9, 0)


class JourneyCase(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.Journey = cls.env["marketing.journey"]
        cls.Step = cls.env["marketing.journey.step"]
        cls.Participant = cls.env["marketing.journey.participant"]
        cls.template = cls.env.ref("marketing_trigger.mail_template_welcome")

    @classmethod
    def make_journey(cls, name="Welcome programme", **vals):
        return cls.Journey.create({"name": name, "kind": "partner_registered", **vals})

    @classmethod
    def email_step(cls, journey, name, parent=None, **vals):
        return cls.Step.create(
            {
                "journey_id": journey.id,
                "name": name,
                "parent_id": parent.id if parent else False,
                "action": "message",
                "channel": "email",
                "mail_template_id": cls.template.id,
                **vals,
            }
        )

    @classmethod
    def call_step(cls, journey, name, parent=None, **vals):
        return cls.Step.create(
            {
                "journey_id": journey.id,
                "name": name,
                "parent_id": parent.id if parent else False,
                "action": "message",
                "channel": "phone",
                "message_class": "service",
                "activity_summary": "Call {{ partner.name }}",
                "activity_user_id": cls.salesperson.id,
                **vals,
            }
        )

    def advance(self):
        self.Participant._cron_advance()

    def participant(self, journey, partner):
        return self.Participant.search(
            [("journey_id", "=", journey.id), ("partner_id", "=", partner.id)]
        )

    def ran(self, participant):
        return participant.run_ids.step_id


@tagged("post_install", "-at_install")
class TestJourneys(JourneyCase):
    """A journey enrols who its entry trigger fires for and runs its steps in order,
    each message decided by the engine."""

    @freeze_time(NOW)
    def test_welcome_series_runs_day_0_then_day_3(self):
        journey = self.make_journey()
        day0 = self.email_step(journey, "Day 0: welcome")
        day3 = self.email_step(journey, "Day 3: benefits", day0, wait_value=3)
        journey.action_run()
        partner = self.make_partner("Nora New", "nora@example.com")
        participant = self.participant(journey, partner)
        self.assertEqual(participant.state, "running")
        self.advance()
        self.assertEqual(self.ran(participant), day0)
        decision = participant.run_ids.decision_id
        self.assertEqual((decision.outcome, decision.channel), ("send", "email"))
        self.dispatch()
        self.assertEqual(decision.delivery_ids.state, "sent")
        # Day 3 is not due before three days have passed, whatever the cron does.
        with freeze_time(NOW + timedelta(days=2, hours=23)):
            self.advance()
        self.assertEqual(self.ran(participant), day0)
        with freeze_time(NOW + timedelta(days=3, minutes=1)):
            self.advance()
            self.assertEqual(self.ran(participant), day0 | day3)
            self.dispatch()
            self.advance()
        self.assertEqual(participant.state, "done", "nothing more can run")

    @freeze_time(NOW)
    def test_goal_reached_ends_the_journey_and_cancels_what_was_pending(self):
        journey = self.make_journey(goal="order_confirmed")
        day0 = self.email_step(journey, "Day 0")
        self.email_step(journey, "Day 3", day0, wait_value=3)
        journey.action_run()
        partner = self.make_partner("Otto Order", "otto@example.com")
        self.advance()
        participant = self.participant(journey, partner)
        delivery = participant.run_ids.decision_id.delivery_ids
        self.assertEqual(delivery.state, "pending", "not dispatched yet")
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [
                    (0, 0, {"product_id": self.env.ref("product.product_product_4").id})
                ],
            }
        )
        order.action_confirm()
        # Confirming woke the participant: the next pass ends it at once.
        self.assertEqual(participant.next_check_at, NOW)
        self.advance()
        self.assertEqual((participant.state, participant.exit_reason), ("exited", "goal"))
        self.assertEqual(delivery.state, "cancelled")
        with freeze_time(NOW + timedelta(days=4)):
            self.advance()
        self.assertEqual(len(participant.run_ids), 1, "no step after the goal")
        self.assertEqual(journey.converted_count, 1)

    @freeze_time(NOW)
    def test_several_contacts_reaching_the_goal_in_one_pass_all_exit(self):
        journey = self.make_journey(goal="order_confirmed")
        day0 = self.email_step(journey, "Day 0")
        self.email_step(journey, "Day 3", day0, wait_value=3)
        journey.action_run()
        buyers = self.make_partner("Ute Eins", "ute1@example.com") | self.make_partner(
            "Udo Zwei", "udo2@example.com"
        )
        self.advance()
        for partner in buyers:
            order = self.env["sale.order"].create(
                {
                    "partner_id": partner.id,
                    "order_line": [
                        (0, 0, {"product_id": self.env.ref("product.product_product_4").id})
                    ],
                }
            )
            order.action_confirm()
        self.advance()
        participants = self.Participant.search(
            [("journey_id", "=", journey.id), ("partner_id", "in", buyers.ids)]
        )
        self.assertEqual(participants.mapped("exit_reason"), ["goal", "goal"])

    @freeze_time(NOW)
    def test_opened_and_not_opened_branches_are_exclusive(self):
        journey = self.make_journey()
        mail = self.email_step(journey, "Newsletter")
        opened = self.call_step(journey, "Call who opened", mail, condition="opened")
        not_opened = self.email_step(
            journey, "Follow-up", mail, condition="not_opened", window_value=7
        )
        journey.action_run()
        reader = self.make_partner("Rita Reader", "rita@example.com", phone="+49 171 2345678")
        silent = self.make_partner("Sam Silent", "sam@example.com")
        self.advance()
        self.dispatch()
        delivery = self.participant(journey, reader).run_ids.decision_id.delivery_ids
        with freeze_time(NOW + timedelta(hours=2)):
            delivery._record_engagement("opened")
            # The open woke the participant: its branch runs on the next pass, not in
            # a week.
            self.assertEqual(
                self.participant(journey, reader).next_check_at, NOW + timedelta(hours=2)
            )
            self.advance()
        self.assertEqual(self.ran(self.participant(journey, reader)), mail | opened)
        self.assertEqual(self.ran(self.participant(journey, silent)), mail)
        with freeze_time(NOW + timedelta(days=7, minutes=5)):
            self.advance()
            # A late open after the deadline does not bring the other branch.
            silent_delivery = self.participant(journey, silent).run_ids.decision_id.delivery_ids
            silent_delivery._record_engagement("opened")
            self.advance()
            self.dispatch()
        self.assertEqual(self.ran(self.participant(journey, reader)), mail | opened)
        self.assertEqual(self.ran(self.participant(journey, silent)), mail | not_opened)
        activity = self.env["mail.activity"].search(
            [("res_id", "=", reader.id), ("res_model", "=", "res.partner")]
        )
        self.assertEqual(activity.user_id, self.salesperson)

    @freeze_time(NOW)
    def test_a_suppressed_message_takes_the_not_sent_branch(self):
        journey = self.make_journey()
        mail = self.email_step(journey, "Welcome mail")
        fallback = self.call_step(journey, "Call instead", mail, condition="not_sent")
        after_mail = self.email_step(journey, "Day 3", mail, wait_value=3, condition="opened")
        journey.action_run()
        partner = self.make_partner(
            "Nils Noconsent", "nils@example.com", consent=False, phone="+49 171 2345679"
        )
        self.advance()
        participant = self.participant(journey, partner)
        decision = participant.run_ids.filtered(lambda r: r.step_id == mail).decision_id
        self.assertEqual((decision.outcome, decision.reason_code), ("suppress", "no_consent"))
        self.assertEqual(self.ran(participant), mail | fallback)
        self.assertNotIn(after_mail, self.ran(participant))

    @freeze_time(NOW)
    def test_reentry_policies(self):
        once = self.make_journey("Once", kind="order_confirmed")
        again = self.make_journey("Every order", kind="order_confirmed", reentry="every")
        for journey in once | again:
            self.Step.create(
                {
                    "journey_id": journey.id,
                    "name": "Tag",
                    "action": "update",
                    "action_tag_add_ids": [(0, 0, {"name": f"Tag {journey.name}"})],
                }
            )
            journey.action_run()
        partner = self.make_partner("Rea Repeat", "rea@example.com")
        product = self.env.ref("product.product_product_4")
        for _i in range(2):
            order = self.env["sale.order"].create(
                {"partner_id": partner.id, "order_line": [(0, 0, {"product_id": product.id})]}
            )
            order.action_confirm()
            self.process_events()
            self.advance()  # the participant finishes: it may enter again
        self.assertEqual(len(self.participant(once, partner)), 1)
        self.assertEqual(len(self.participant(again, partner)), 2)

    @freeze_time(NOW)
    def test_holdout_is_deterministic_and_receives_nothing(self):
        journey = self.make_journey(holdout_percent=50)
        self.email_step(journey, "Day 0")
        journey.action_run()
        partners = self.Partner.create(
            [
                {"name": f"H{i}", "email": f"h{i}@example.com", "marketing_consent_email": True}
                for i in range(40)
            ]
        )
        self.process_events()
        self.advance()
        participants = self.Participant.search([("journey_id", "=", journey.id)])
        held = participants.filtered(lambda p: p.state == "holdout")
        self.assertTrue(0 < len(held) < 40, "about half are held out")
        self.assertFalse(held.run_ids, "a held-out contact receives nothing")
        self.assertEqual(len(participants), len(partners))
        # The same contact is held out in the same journey every time.
        from ..engine.journeys import in_holdout

        for participant in participants:
            self.assertEqual(
                participant.state == "holdout",
                in_holdout(journey.id, participant.partner_id.id, 50),
            )

    @freeze_time(NOW)
    def test_a_step_runs_once_per_participant_in_the_database(self):
        journey = self.make_journey()
        step = self.email_step(journey, "Day 0")
        journey.action_run()
        partner = self.make_partner("Una Once", "una@example.com")
        self.advance()
        participant = self.participant(journey, partner)
        with mute_logger("odoo.sql_db"), self.assertRaises(psycopg2.IntegrityError):
            with self.env.cr.savepoint():
                self.env["marketing.journey.run"].create(
                    {"participant_id": participant.id, "step_id": step.id}
                )

    @freeze_time(NOW)
    def test_pause_holds_and_resume_does_not_send_twice(self):
        journey = self.make_journey()
        day0 = self.email_step(journey, "Day 0")
        day1 = self.email_step(journey, "Day 1", day0, wait_value=1)
        journey.action_run()
        partner = self.make_partner("Paula Pause", "paula@example.com")
        self.advance()
        self.dispatch()
        journey.action_pause()
        with freeze_time(NOW + timedelta(days=3)):
            self.advance()
            participant = self.participant(journey, partner)
            self.assertEqual(self.ran(participant), day0, "paused: nothing runs")
            journey.action_run()
            self.advance()
            self.advance()
        self.assertEqual(self.ran(participant), day0 | day1)
        self.assertEqual(len(participant.run_ids), 2)

    @freeze_time(NOW)
    def test_stop_ends_everyone(self):
        journey = self.make_journey()
        day0 = self.email_step(journey, "Day 0")
        self.email_step(journey, "Day 1", day0, wait_value=1)
        journey.action_run()
        partner = self.make_partner("Stefan Stop", "stefan@example.com")
        self.advance()
        journey.action_stop()
        participant = self.participant(journey, partner)
        self.assertEqual(
            (participant.state, participant.exit_reason), ("exited", "journey_stopped")
        )

    @freeze_time(NOW)
    def test_a_step_that_ran_cannot_be_deleted_only_archived(self):
        journey = self.make_journey()
        day0 = self.email_step(journey, "Day 0")
        day1 = self.email_step(journey, "Day 1", day0, wait_value=1)
        journey.action_run()
        partner = self.make_partner("Eddi Edit", "eddi@example.com")
        self.advance()
        with self.assertRaisesRegex(UserError, "archive it instead"):
            day0.unlink()
        # A step nobody reached yet can go, and an archived one stops running.
        day1.active = False
        with freeze_time(NOW + timedelta(days=2)):
            self.advance()
        self.assertEqual(self.ran(self.participant(journey, partner)), day0)

    def test_bad_steps_are_refused_at_save(self):
        journey = self.make_journey()
        sms = self.Step.create(
            {
                "journey_id": journey.id,
                "name": "SMS",
                "action": "message",
                "channel": "sms",
                "sms_body": "Hi {{ partner.first_name }}",
            }
        )
        cases = [
            ({"action": "message", "channel": "none"}, "choose its channel"),
            ({"action": "update"}, "choose tags"),
            ({"wait_value": -1}, "wait_positive"),
            ({"parent_id": sms.id, "condition": "opened"}, "needs an email"),
            ({"condition": "matches", "condition_domain": "[('nope', '=', 1)]"}, "not valid"),
            ({"action": "journey"}, "another journey"),
        ]
        for vals, message in cases:
            with self.subTest(vals=vals), mute_logger("odoo.sql_db"):
                with self.assertRaisesRegex((ValidationError, psycopg2.Error), message):
                    with self.env.cr.savepoint():
                        self.Step.create({"journey_id": journey.id, "name": "Bad", **vals})
        with self.assertRaisesRegex(ValidationError, "not a valid filter"):
            self.make_journey("Bad goal", goal="filter", goal_domain="[('nope', '=', 1)]")

    @freeze_time(NOW)
    def test_withdrawn_consent_ends_a_journey_of_emails_only(self):
        journey = self.make_journey()
        day0 = self.email_step(journey, "Day 0")
        self.email_step(journey, "Day 3", day0, wait_value=3)
        journey.action_run()
        partner = self.make_partner("Ulla Unsubscribe", "ulla@example.com")
        self.advance()
        self.dispatch()
        partner.marketing_consent_email = False
        with freeze_time(NOW + timedelta(days=1)):
            self.advance()
        participant = self.participant(journey, partner)
        self.assertEqual((participant.state, participant.exit_reason), ("exited", "unsubscribed"))
        self.assertEqual(self.ran(participant), day0)

    @freeze_time(NOW)
    def test_goal_another_trigger_fires(self):
        booking = self.env["marketing.trigger"].create(
            {"name": "Booked", "kind": "order_confirmed", "channel": "none"}
        )
        booking.action_activate()
        journey = self.make_journey(goal="trigger", goal_trigger_id=booking.id)
        day0 = self.email_step(journey, "Day 0")
        self.email_step(journey, "Day 3", day0, wait_value=3)
        journey.action_run()
        partner = self.make_partner("Gina Goal", "gina@example.com")
        self.advance()
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [
                    (0, 0, {"product_id": self.env.ref("product.product_product_4").id})
                ],
            }
        )
        order.action_confirm()
        self.process_events()
        self.advance()
        participant = self.participant(journey, partner)
        self.assertEqual((participant.state, participant.exit_reason), ("exited", "goal"))
        with self.assertRaisesRegex(ValidationError, "choose the goal trigger"):
            self.make_journey("No goal trigger", goal="trigger")

    @freeze_time(NOW)
    def test_a_failing_contact_records_its_error_and_the_others_go_on(self):
        from unittest.mock import patch

        from odoo.addons.marketing_trigger.models.marketing_journey_run import (
            MarketingJourneyStep,
        )

        journey = self.make_journey()
        self.email_step(journey, "Day 0")
        journey.action_run()
        good = self.make_partner("Gerd Good", "gerd@example.com")
        bad = self.make_partner("Bert Bad", "bert@example.com")
        original = MarketingJourneyStep._run_for

        def run_for(step, participants, now):
            if bad in participants.partner_id:
                raise ValueError("the template cannot render for Bert")
            return original(step, participants, now)

        with (
            patch.object(MarketingJourneyStep, "_run_for", run_for),
            mute_logger("odoo.addons.marketing_trigger.models.marketing_journey_participant"),
        ):
            self.advance()
            self.assertEqual(len(self.participant(journey, good).run_ids), 1)
            failed = self.participant(journey, bad)
            self.assertFalse(failed.run_ids)
            self.assertIn("cannot render for Bert", failed.last_error)
            self.assertEqual(journey.state, "running", "the others went on")
            # Failing for everyone pauses the journey with the error shown.
            only_bad = self.make_journey("Only Bert")
            self.email_step(only_bad, "Day 0")
            only_bad.action_run()
            only_bad._enter([(bad, "manual")])
            self.advance()
        self.assertEqual(only_bad.state, "paused")
        self.assertIn("cannot render for Bert", only_bad.last_error)

    def test_a_journey_without_steps_cannot_start(self):
        journey = self.make_journey()
        with self.assertRaisesRegex(UserError, "add at least one step"):
            journey.action_run()

    def test_journey_triggers_stay_out_of_the_triggers_menu(self):
        journey = self.make_journey()
        self.email_step(journey, "Day 0")
        action = self.env.ref("marketing_trigger.marketing_trigger_action")
        shown = self.env["marketing.trigger"].search(eval(action.domain or "[]"))  # noqa: S307
        self.assertFalse(shown & (journey.entry_trigger_id | journey.step_ids.trigger_id))
