from datetime import datetime, timedelta

from freezegun import freeze_time
from odoo.tests import tagged

from .test_journeys import JourneyCase

NOW = datetime(2026, 3, 10, 9, 0)


@tagged("post_install", "-at_install")
class TestJourneyConditions(JourneyCase):
    """Each condition a step can put on the step before it, as a contact experiences it."""

    def start(self, journey, *partners_vals):
        journey.action_run()
        partners = [
            self.make_partner(*vals, phone=f"+49 171 23456{i:02d}")
            for i, vals in enumerate(partners_vals)
        ]
        self.advance()
        self.dispatch()
        self.advance()
        return [self.participant(journey, p) for p in partners]

    def delivery(self, participant, step):
        return participant.run_ids.filtered(lambda r: r.step_id == step).decision_id.delivery_ids

    @freeze_time(NOW)
    def test_clicked_a_given_link(self):
        journey = self.make_journey()
        mail = self.email_step(journey, "Programme")
        link = (
            self.env["marketing.trigger.link"]
            .sudo()
            ._get_or_create(["https://example.com/rhetoric"])["https://example.com/rhetoric"]
        )
        other = (
            self.env["marketing.trigger.link"]
            .sudo()
            ._get_or_create(["https://example.com/english"])["https://example.com/english"]
        )
        rhetoric = self.call_step(journey, "Rhetoric", mail, condition="clicked", link_id=link)
        (p1,) = self.start(journey, ("Klara Click", "klara@example.com"))
        delivery = self.delivery(p1, mail)
        self.env["marketing.trigger.engagement"].sudo().create(
            {
                "delivery_id": delivery.id,
                "partner_id": p1.partner_id.id,
                "trigger_id": delivery.trigger_id.id,
                "company_id": delivery.company_id.id,
                "link_id": other,
                "kind": "click",
                "date": NOW,
            }
        )
        delivery._record_engagement("clicked")
        self.advance()
        self.assertEqual(self.ran(p1), mail, "a click on another link is not this branch")
        self.env["marketing.trigger.engagement"].sudo().create(
            {
                "delivery_id": delivery.id,
                "partner_id": p1.partner_id.id,
                "trigger_id": delivery.trigger_id.id,
                "company_id": delivery.company_id.id,
                "link_id": link,
                "kind": "click",
                "date": NOW,
            }
        )
        delivery._record_engagement("clicked")
        self.advance()
        self.assertEqual(self.ran(p1), mail | rhetoric)

    @freeze_time(NOW)
    def test_bounced_email(self):
        journey = self.make_journey()
        mail = self.email_step(journey, "Welcome")
        bounce = self.call_step(journey, "Fix the address", mail, condition="bounced")
        (p1,) = self.start(journey, ("Bea Bounce", "bea@example.com"))
        self.delivery(p1, mail).write({"state": "bounced"})
        self.advance()
        self.assertEqual(self.ran(p1), mail | bounce)

    @freeze_time(NOW)
    def test_salesperson_activity_done_cancelled_or_overdue(self):
        journey = self.make_journey()
        call = self.call_step(journey, "Call")
        done = self.email_step(journey, "After the call", call, condition="activity_done")
        cancelled = self.email_step(journey, "Call cancelled", call, condition="activity_cancelled")
        overdue = self.email_step(journey, "Still not called", call, condition="activity_overdue")
        p1, p2, p3 = self.start(
            journey,
            ("Dora Done", "dora@example.com"),
            ("Carl Cancel", "carl@example.com"),
            ("Otto Open", "otto.open@example.com"),
        )
        self.delivery(p1, call).activity_id.action_feedback("Talked to her")
        self.delivery(p2, call).activity_id.unlink()
        self.advance()
        self.assertEqual(self.ran(p1), call | done)
        self.assertEqual(self.ran(p2), call | cancelled)
        self.assertEqual(self.ran(p3), call, "its activity is not overdue yet")
        # The activity is due in a day (the step's deadline): the day after, still open.
        with freeze_time(NOW + timedelta(days=2, minutes=1)):
            self.advance()
        self.assertEqual(self.ran(p3), call | overdue)
        self.assertEqual(self.ran(p1), call | done, "a done activity is never overdue")

    @freeze_time(NOW)
    def test_order_not_confirmed_within_and_filter_conditions(self):
        journey = self.make_journey()
        mail = self.email_step(journey, "Offer")
        no_order = self.call_step(
            journey, "Call: no order", mail, condition="order_not_confirmed", window_value=30
        )
        vip = self.env["res.partner.category"].create({"name": "VIP"})
        vip_step = self.email_step(
            journey,
            "VIP only",
            mail,
            condition="matches",
            condition_domain=f"[('category_id', 'in', [{vip.id}])]",
        )
        others = self.email_step(
            journey,
            "Not VIP",
            mail,
            condition="not_matches",
            condition_domain=f"[('category_id', 'in', [{vip.id}])]",
        )
        p1, p2 = self.start(
            journey,
            ("Vera Vip", "vera@example.com", True),
            ("Olga Other", "olga@example.com", True),
        )
        self.assertEqual(self.ran(p1), mail | others, "checked when the parent's wait was over")
        p2.partner_id.category_id = vip
        with freeze_time(NOW + timedelta(days=30, minutes=10)):
            self.advance()
        self.assertIn(no_order, self.ran(p1))
        self.assertNotIn(vip_step, self.ran(p2), "matched too late: the branch was decided")

    @freeze_time(NOW)
    def test_ab_split_is_deterministic_with_the_shares_asked(self):
        journey = self.make_journey()
        mail = self.email_step(journey, "Start")
        a = self.email_step(journey, "A", mail, condition="split", split_percent=70)
        b = self.email_step(journey, "B", mail, condition="split", split_percent=30)
        journey.action_run()
        self.Partner.create(
            [
                {"name": f"S{i}", "email": f"s{i}@example.com", "marketing_consent_email": True}
                for i in range(100)
            ]
        )
        self.process_events()
        self.advance()
        self.dispatch()
        self.advance()
        runs = self.env["marketing.journey.run"].search([("journey_id", "=", journey.id)])
        on_a = len(runs.filtered(lambda r: r.step_id == a))
        on_b = len(runs.filtered(lambda r: r.step_id == b))
        self.assertEqual(on_a + on_b, 100, "every participant takes exactly one branch")
        self.assertTrue(55 <= on_a <= 85, f"about 70 % on A, got {on_a}")

    @freeze_time(NOW)
    def test_a_wait_counted_from_a_date_of_the_contact(self):
        """'3 days before the contact's date, at 9:00 their time'; no date, no step."""
        journey = self.make_journey()
        start = self.email_step(journey, "Start")
        date_field = self.env["ir.model.fields"]._get("res.partner", "marketing_birthdate")
        reminder = self.email_step(
            journey,
            "3 days before",
            start,
            wait_value=3,
            anchor_field_id=date_field.id,
            anchor_direction="before",
        )
        journey.action_run()
        dated = self.make_partner(
            "Dana Date", "dana@example.com", tz="Europe/Berlin", marketing_birthdate="2026-03-20"
        )
        undated = self.make_partner("Udo Undated", "udo@example.com")
        self.advance()
        self.dispatch()
        with freeze_time(datetime(2026, 3, 17, 7, 59)):
            self.advance()
        self.assertEqual(self.ran(self.participant(journey, dated)), start)
        # 17 March, 9:00 in Berlin is 8:00 UTC.
        with freeze_time(datetime(2026, 3, 17, 8, 1)):
            self.advance()
            self.dispatch()
            self.advance()
        self.assertEqual(self.ran(self.participant(journey, dated)), start | reminder)
        self.assertEqual(self.ran(self.participant(journey, undated)), start)
        self.assertEqual(self.participant(journey, undated).state, "done")

    @freeze_time(NOW)
    def test_listmonk_list_step_adds_and_removes_the_contact(self):
        server = self.env["marketing.listmonk.server"].create(
            {"url": "http://127.0.0.1:9", "api_user": "u", "api_token": "t"}
        )
        mlist = self.env["marketing.listmonk.list"].create(
            {"name": "Seminars", "server_id": server.id, "domain": "[('city', '=', 'Hamburg')]"}
        )
        journey = self.make_journey()
        add = self.Step.create(
            {
                "journey_id": journey.id,
                "name": "Add to Seminars",
                "action": "listmonk",
                "listmonk_list_id": mlist.id,
            }
        )
        (p1,) = self.start(journey, ("Lisa List", "lisa@example.com"))
        self.assertEqual(self.ran(p1), add)
        members = self.Partner.search(mlist._domain())
        self.assertIn(p1.partner_id, members, "added although not in the segment")
        hamburg = self.make_partner("Hanna Hamburg", "hanna@example.com", city="Hamburg")
        self.assertIn(hamburg, self.Partner.search(mlist._domain()), "the segment still counts")
        add.listmonk_operation = "remove"
        hamburg.marketing_listmonk_removed_ids = mlist
        self.assertNotIn(hamburg, self.Partner.search(mlist._domain()))


@tagged("post_install", "-at_install")
class TestJourneyTestModeAndResults(JourneyCase):
    @freeze_time(NOW)
    def test_test_mode_explains_each_step_and_writes_nothing_real(self):
        journey = self.make_journey()
        day0 = self.email_step(journey, "Day 0")
        self.email_step(journey, "Day 3", day0, wait_value=3)
        partner = self.make_partner("Tess Test", "tess@example.com")
        counts = (
            self.Decision.search_count([]),
            self.Delivery.search_count([]),
            self.env["marketing.trigger.touch"].search_count([]),
            self.env["mail.mail"].search_count([]),
        )
        wizard = self.env["marketing.journey.test"].browse(journey.action_test()["res_id"])
        wizard.partner_id = partner
        wizard.action_start()
        wizard.action_next()
        self.assertIn("Day 0", wizard.log_html)
        wizard.action_next_30_days()
        self.assertIn("Day 3", wizard.log_html)
        self.assertIn("journey is over", wizard.log_html)
        self.assertEqual(
            counts,
            (
                self.Decision.search_count([]),
                self.Delivery.search_count([]),
                self.env["marketing.trigger.touch"].search_count([]),
                self.env["mail.mail"].search_count([]),
            ),
        )
        self.assertFalse(self.Participant.search([("journey_id", "=", journey.id)]))

    @freeze_time(NOW)
    def test_results_compare_treatment_and_holdout(self):
        """Hand-computed: treatment 4 of 10 converted, holdout 1 of 10: uplift 30 %."""
        journey = self.make_journey(holdout_percent=50)
        self.email_step(journey, "Day 0")
        product = self.env.ref("product.product_product_4")
        partners = self.Partner.create(
            [{"name": f"R{i}", "email": f"r{i}@example.com"} for i in range(20)]
        )
        values = [
            {
                "journey_id": journey.id,
                "partner_id": p.id,
                "company_id": journey.company_id.id,
                "occurrence_key": "manual",
                "entered_at": NOW,
                "state": "holdout" if i >= 10 else "done",
            }
            for i, p in enumerate(partners)
        ]
        self.Participant.sudo().create(values)
        buyers = partners[:4] | partners[10:11]
        for partner in buyers:
            order = self.env["sale.order"].create(
                {
                    "partner_id": partner.id,
                    "order_line": [(0, 0, {"product_id": product.id, "price_unit": 100})],
                }
            )
            order.action_confirm()
        journey.invalidate_recordset()
        self.assertEqual(journey.participant_count, 20)
        self.assertEqual(journey.converted_count, 4)
        self.assertAlmostEqual(journey.conversion_rate, 40.0)
        self.assertIn("30.0 %", journey.results_html)
        self.assertIn("40.0 %", journey.results_html)
        self.assertIn("10.0 %", journey.results_html)
