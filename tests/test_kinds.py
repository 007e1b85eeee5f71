from datetime import date, datetime, timedelta

from freezegun import freeze_time
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MarketingTriggerCase

NOW = datetime(2026, 11, 23, 9, 0)


@tagged("post_install", "-at_install")
class TestTimeKinds(MarketingTriggerCase):
    """Inactivity, anniversary, lifecycle product and "not opened" kinds."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.template = cls.welcome.mail_template_id
        cls.Trigger = cls.env["marketing.trigger"]
        cls.printers = cls.env["product.category"].create({"name": "Printers"})
        cls.laser = cls.env["product.category"].create(
            {"name": "Laser printers", "parent_id": cls.printers.id}
        )
        cls.printer = cls.env["product.product"].create(
            {"name": "LaserJet 400", "categ_id": cls.laser.id, "list_price": 300}
        )
        cls.paper = cls.env["product.product"].create({"name": "Paper", "list_price": 5})

    def trigger(self, **vals):
        models = {"lifecycle_product": "sale.order.line", "price_reached": "marketing.price.watch"}
        kind = vals.get("kind")
        template = self.record_template(models[kind]) if kind in models else self.template
        trigger = self.Trigger.create(
            {"name": kind or "t", "mail_template_id": template.id, **vals}
        )
        trigger.action_activate()
        return trigger

    def set_dates(self, partner, **columns):
        """Set create_date / activity columns in SQL (the database clock is not frozen)."""
        partner.flush_recordset()
        for column, value in columns.items():
            self.env.cr.execute(
                f"UPDATE res_partner SET {column} = %s WHERE id = %s",  # noqa: S608
                (value, partner.id),
            )
        partner.invalidate_recordset()

    def run_time_triggers(self):
        self.Trigger._cron_evaluate_time_triggers()

    def order(self, partner, product, when):
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 1})],
            }
        )
        with freeze_time(when):
            order.action_confirm()
        order.date_order = when
        return order

    @freeze_time(NOW)
    def test_inactivity_reaches_the_lapsed_customer_once_per_lapse(self):
        quiet = self.trigger(kind="inactivity", inactivity_days=180)
        lapsed = self.make_partner("Lapsed", "lapsed@example.com")
        active = self.make_partner("Active", "active@example.com")
        self.set_dates(lapsed, create_date=NOW - timedelta(days=400))
        self.set_dates(lapsed, marketing_last_activity_at=NOW - timedelta(days=180, hours=2))
        self.set_dates(active, create_date=NOW - timedelta(days=400))
        self.set_dates(active, marketing_last_activity_at=NOW - timedelta(days=20))
        self.run_time_triggers()
        self.run_time_triggers()
        decisions = self.decisions(lapsed, quiet)
        self.assertEqual(len(decisions), 1)
        self.assertEqual(decisions.outcome, "send")
        self.assertFalse(self.decisions(active, quiet))

    @freeze_time(NOW)
    def test_a_confirmed_order_resets_inactivity(self):
        quiet = self.trigger(kind="inactivity", inactivity_days=180, message_class="defer")
        customer = self.make_partner("Comes Back", "back@example.com")
        self.set_dates(customer, create_date=NOW - timedelta(days=181))
        self.run_time_triggers()
        self.assertEqual(self.decisions(customer, quiet).outcome, "send")
        self.order(customer, self.paper, NOW)
        self.assertEqual(customer.marketing_last_activity_at, NOW)
        self.assertEqual(customer.marketing_first_order_date, NOW.date())
        delivery = self.Delivery.search([("partner_id", "=", customer.id)])
        delivery.scheduled_at = NOW + timedelta(hours=1)
        with freeze_time(NOW + timedelta(hours=2)):
            self.dispatch()
        self.assertEqual(delivery.state, "cancelled", "they came back before it went out")

    @freeze_time(NOW)
    def test_anniversary_of_registration_and_first_order(self):
        registered = self.trigger(kind="anniversary", anniversary_basis="registration")
        first_order = self.trigger(kind="anniversary", anniversary_basis="first_order")
        veteran = self.make_partner("Veteran", "vet@example.com", tz="UTC")
        newcomer = self.make_partner("Newcomer", "new@example.com")
        self.set_dates(veteran, create_date=datetime(2023, 11, 23, 10, 0))
        self.set_dates(veteran, marketing_first_order_date=date(2024, 11, 24))
        self.set_dates(newcomer, create_date=datetime(2026, 11, 23, 8, 0))
        self.run_time_triggers()
        self.assertEqual(self.decisions(veteran, registered).occurrence_key, "anniversary:2026")
        self.assertEqual(self.decisions(veteran, first_order).occurrence_key, "anniversary:2026")
        self.assertEqual(
            self.decisions(veteran, first_order).send_at.date(),
            date(2026, 11, 24),
            "tomorrow's anniversary is scheduled for its day",
        )
        self.assertFalse(self.decisions(newcomer, registered), "registered today: no year yet")

    @freeze_time(NOW)
    def test_lifecycle_product_unless_bought_again(self):
        toner = self.trigger(
            kind="lifecycle_product", product_categ_id=self.printers.id, lifecycle_months=6
        )
        once = self.make_partner("Once", "once@example.com")
        again = self.make_partner("Again", "again@example.com")
        paper_only = self.make_partner("Paper", "paper@example.com")
        six_months_ago = datetime(2026, 5, 23, 12, 0)
        self.order(once, self.printer, six_months_ago)
        self.order(again, self.printer, six_months_ago)
        self.order(again, self.printer, datetime(2026, 9, 1, 12, 0))
        self.order(paper_only, self.paper, six_months_ago)
        self.run_time_triggers()
        self.assertEqual(
            self.decisions(once, toner).occurrence_key,
            f"lifecycle:{self.printers.id}:2026-05-23",
            "a laser printer is in the printers category",
        )
        self.assertFalse(self.decisions(again, toner), "bought again since: not yet")
        self.assertFalse(self.decisions(paper_only, toner))

    @freeze_time(NOW)
    def test_hours_after_the_last_order(self):
        field = self.env["ir.model.fields"]._get("res.partner", "marketing_last_order_at")
        review = self.trigger(
            kind="date_offset",
            date_field_id=field.id,
            date_offset_days=3,
            date_offset_unit="hours",
        )
        buyer = self.make_partner("Buyer", "buyer@example.com")
        self.order(buyer, self.paper, NOW - timedelta(hours=2))
        self.assertEqual(buyer.marketing_last_order_at, NOW - timedelta(hours=2))
        self.run_time_triggers()
        decision = self.decisions(buyer, review)
        self.assertEqual(decision.send_at, NOW + timedelta(hours=1), "three hours after")

    def test_lifecycle_needs_a_category(self):
        with self.assertRaisesRegex(ValidationError, "product category"):
            self.Trigger.create({"name": "Toner", "kind": "lifecycle_product"})

    @freeze_time(NOW)
    def test_not_opened_within_a_delay(self):
        source = self.trigger(kind="partner_registered", message_class="service")
        reminder = self.trigger(
            kind="email_not_opened", source_trigger_id=source.id, engagement_hours=48
        )
        opener = self.make_partner("Opener", "opener@example.com")
        ignorer = self.make_partner("Ignorer", "ignorer@example.com")
        self.dispatch()
        deliveries = self.Delivery.search([("trigger_id", "=", source.id)])
        self.assertEqual(len(deliveries), 2)
        deliveries.write({"sent_at": NOW - timedelta(hours=48, minutes=30)})
        deliveries.filtered(lambda d: d.partner_id == opener)._record_engagement("opened")
        self.run_time_triggers()
        self.assertFalse(self.decisions(opener, reminder))
        self.assertEqual(self.decisions(ignorer, reminder).outcome, "send")

    def test_engagement_kinds_need_their_source(self):
        with self.assertRaisesRegex(ValidationError, "whose emails"):
            self.Trigger.create({"name": "Nudge", "kind": "email_not_opened"})


@tagged("post_install", "-at_install")
class TestPriceAlert(MarketingTriggerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.alert = cls.env["marketing.trigger"].create(
            {
                "name": "Your price is reached",
                "kind": "price_reached",
                "mail_template_id": cls.record_template("marketing.price.watch").id,
            }
        )
        cls.alert.action_activate()
        cls.camera = cls.env["product.product"].create({"name": "Camera", "list_price": 500})

    def test_one_alert_per_drop_below_the_target(self):
        partner = self.make_partner()
        watch = self.env["marketing.price.watch"].create(
            {"partner_id": partner.id, "product_id": self.camera.id, "target_price": 400}
        )
        self.camera.lst_price = 450
        self.process_events()
        self.assertFalse(self.decisions(partner, self.alert), "not reached yet")
        self.camera.lst_price = 399
        self.camera.lst_price = 390
        self.process_events()
        self.assertEqual(self.decisions(partner, self.alert).occurrence_key, f"price:{watch.id}:1")
        self.assertFalse(watch.armed)
        self.camera.lst_price = 420  # back above: re-armed
        self.assertTrue(watch.armed)
        self.camera.product_tmpl_id.list_price = 380
        self.process_events()
        self.assertEqual(
            sorted(self.decisions(partner, self.alert).mapped("occurrence_key")),
            [f"price:{watch.id}:1", f"price:{watch.id}:2"],
        )

    def test_a_watch_set_below_the_current_price_alerts_at_once(self):
        partner = self.make_partner()
        self.env["marketing.price.watch"].create(
            {"partner_id": partner.id, "product_id": self.camera.id, "target_price": 600}
        )
        self.process_events()
        self.assertEqual(self.decisions(partner, self.alert).outcome, "send")

    def test_the_target_price_must_be_positive(self):
        partner = self.make_partner()
        with self.assertRaisesRegex(ValidationError, "target price"):
            self.env["marketing.price.watch"].create(
                {"partner_id": partner.id, "product_id": self.camera.id, "target_price": 0}
            )
