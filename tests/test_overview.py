from datetime import datetime, timedelta

from freezegun import freeze_time
from odoo import Command, fields
from odoo.tests import tagged

from .common import MarketingTriggerCase

T0 = datetime(2026, 3, 2, 9, 0)


@tagged("post_install", "-at_install")
class TestOverview(MarketingTriggerCase):
    """Marketing ▸ Overview on a hand-computed example: sent, suppressed (in plain words),
    opened and clicked by people, and conversions within the attribution window to the
    last message before each order."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy.attribution_days = 30
        cls.seminar = cls.env["product.product"].create(
            {"name": "Rhetoric seminar", "type": "service", "list_price": 490.0, "taxes_id": False}
        )
        cls.toner = cls.env["product.product"].create(
            {"name": "Toner", "type": "service", "list_price": 100.0, "taxes_id": False}
        )
        cls.offer = cls.env["marketing.trigger"].create(
            {
                "name": "Seminar offer",
                "kind": "partner_registered",
                "channel": "email",
                "mail_template_id": cls.welcome.mail_template_id.id,
            }
        )

    def order(self, partner, product, at):
        with freeze_time(at):
            order = self.env["sale.order"].create(
                {
                    "partner_id": partner.id,
                    "order_line": [Command.create({"product_id": product.id})],
                }
            )
            order.action_confirm()
        return order

    def results(self, trigger):
        (row,) = self.env["marketing.trigger.result"]._read_group(
            [("trigger_id", "=", trigger.id), ("partner_id", "in", self.people.ids)],
            [],
            [
                "occurrences:sum",
                "sent:sum",
                "suppressed:sum",
                "opened:sum",
                "clicked:sum",
                "converted:sum",
                "revenue:sum",
            ],
        )
        keys = ("occurrences", "sent", "suppressed", "opened", "clicked", "converted", "revenue")
        return dict(zip(keys, row, strict=True))

    def test_conversions_and_revenue_go_to_the_last_message_within_the_window(self):
        with freeze_time(T0):
            anna = self.make_partner("Anna", "anna@example.com")
            ben = self.make_partner("Ben", "ben@example.com")
            cleo = self.make_partner("Cleo", "cleo@example.com")
            dora = self.make_partner("Dora", "dora@example.com", consent=False)
            self.people = anna | ben | cleo | dora
            self.dispatch()
        welcome = {p: self.Delivery.search([("partner_id", "=", p.id)]) for p in (anna, ben, cleo)}
        self.assertTrue(all(d.state == "sent" for d in welcome.values()))
        with freeze_time(T0 + timedelta(days=1)):
            welcome[anna]._record_engagement("opened")
            welcome[ben]._record_engagement("clicked")
        # Anna also gets the offer five days later: her order is the offer's.
        with freeze_time(T0 + timedelta(days=5)):
            self.offer.action_activate()
            self.offer._evaluate_again(anna)
            self.dispatch()
        self.order(anna, self.seminar, T0 + timedelta(days=10))  # offer: 490
        self.order(ben, self.seminar, T0 + timedelta(days=40))  # past the window
        self.order(cleo, self.toner, T0 - timedelta(days=5))  # before any message
        self.order(cleo, self.toner, T0 + timedelta(days=20))  # welcome: 100
        self.env.flush_all()

        self.assertEqual(
            self.results(self.welcome),
            {
                "occurrences": 4,
                "sent": 3,
                "suppressed": 1,
                "opened": 2,  # a click proves an open
                "clicked": 1,
                "converted": 1,
                "revenue": 100.0,
            },
        )
        self.assertEqual(
            self.results(self.offer),
            {
                "occurrences": 1,
                "sent": 1,
                "suppressed": 0,
                "opened": 0,
                "clicked": 0,
                "converted": 1,
                "revenue": 490.0,
            },
        )
        Result = self.env["marketing.trigger.result"]
        suppressed = Result.search(
            [("trigger_id", "=", self.welcome.id), ("partner_id", "=", dora.id)]
        )
        self.assertEqual(suppressed.outcome, "suppress")
        reason = dict(Result._fields["reason"]._description_selection(self.env))[suppressed.reason]
        self.assertNotIn("_", reason, "the reason reads in plain words")
        # A service message (an order's thank-you, a delivery notice) gets no credit.
        info = self.env["marketing.trigger"].create(
            {
                "name": "Service info",
                "kind": "partner_registered",
                "channel": "email",
                "message_class": "service",
                "mail_template_id": self.welcome.mail_template_id.id,
            }
        )
        with freeze_time(T0 + timedelta(days=50)):
            info.action_activate()
            info._evaluate_again(cleo)
            self.dispatch()
        self.order(cleo, self.toner, T0 + timedelta(days=52))
        self.env.flush_all()
        info_rows = self.env["marketing.trigger.result"].search([("trigger_id", "=", info.id)])
        self.assertEqual(info_rows.mapped("sent"), [1])
        self.assertEqual(info_rows.mapped("converted"), [0])
        # A longer window gives Ben's order to his welcome.
        self.policy.attribution_days = 45
        self.env.invalidate_all()
        self.assertEqual(self.results(self.welcome)["converted"], 2)
        self.assertEqual(self.results(self.welcome)["revenue"], 590.0)
        # The trigger dashboard shows it too (last 30 days, from the real date).
        self.assertIsInstance(self.offer.result_converted, int)

    def test_pressure_counts_contacts_at_the_cap(self):
        self.policy.write({"cap_ids": [Command.create({"channel": False, "limit": 2, "days": 7})]})
        Pressure = self.env["marketing.trigger.pressure"]

        def at_cap():
            self.env.flush_all()
            self.env.invalidate_all()
            return sum(
                Pressure.search([("company_id", "=", self.env.company.id)]).mapped(
                    "contacts_at_cap"
                )
            )

        before = at_cap()
        partner = self.make_partner("Viel", "viel@example.com", consent=False)
        now = fields.Datetime.now()
        for hours in (30, 5):
            self.env["marketing.trigger.touch"].create(
                {
                    "partner_id": partner.id,
                    "channel": "phone",
                    "source": "manual",
                    "date": now - timedelta(hours=hours),
                }
            )
        self.assertEqual(at_cap(), before + 1)

    def test_work_queues_show_depth_and_age(self):
        partner = self.make_partner("Wartend", "wartend@example.com")
        delivery = self.Delivery.search([("partner_id", "=", partner.id)])
        self.assertEqual(delivery.state, "pending")
        delivery.scheduled_at = fields.Datetime.now() - timedelta(minutes=20)
        self.env.flush_all()
        row = self.env["marketing.trigger.queue"].search(
            [("queue", "=", "dispatch"), ("company_id", "=", self.env.company.id)]
        )
        self.assertGreaterEqual(row.waiting, 1)
        self.assertGreaterEqual(row.oldest_minutes, 19)

    def test_overview_views_load(self):
        for model, kinds in (
            ("marketing.trigger.result", ("graph", "pivot", "list", "search")),
            ("marketing.trigger.pressure", ("list",)),
            ("marketing.trigger.queue", ("list",)),
            ("marketing.trigger", ("kanban",)),
        ):
            views = self.env[model].get_views([(False, kind) for kind in kinds])
            self.assertEqual(set(views["views"]), set(kinds))
        menu = self.env.ref("marketing_trigger.marketing_trigger_overview_menu")
        self.assertEqual(menu.parent_id.child_id.sorted("sequence")[0], menu, "Overview first")
