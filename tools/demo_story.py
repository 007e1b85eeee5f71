"""The demo's story, told on a fresh demo database by ``make demo`` (through ``odoo-bin
shell``, with ``env`` given). Only the demo database gets this; tests never run it.

A German seminar organiser with a mail-order shop for printers and toner: about 200
contacts in Hamburg, Munich and elsewhere, three salespeople, seminars and a printer
catalogue, every seed scenario configured and active. The last four weeks are *lived*,
not written: the clock is set to each simulated moment (freezegun for Python, and the
cursor's ``now()`` for the ORM's create dates) and the real code runs — contacts
register, book and buy, open and click, warehouses ship, a newsletter goes out through
a (fake, in-process) Listmonk, and the crons do what they do every few minutes: evaluate
events and dates, decide, defer, suppress for caps and windows, dispatch, advance
journeys, compute lifecycle stages. Emails go to the demo's SMTP sink (``make demo``
starts one). Then the clock returns to now: a callback falls due a few minutes after
the demo starts, and deliveries scheduled for the next days get their notices.
"""

import contextlib
import random
import time as _time
from datetime import timedelta
from unittest.mock import patch

from freezegun import freeze_time
from odoo import Command, fields
from odoo.sql_db import Cursor

HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
DAYS = 28  # the history lived before today
CITIES = [
    ("Hamburg", "20095", "base.state_de_hh", 0.3),
    ("Munich", "80331", "base.state_de_by", 0.25),
    ("Berlin", "10115", "base.state_de_be", 0.15),
    ("Cologne", "50667", "base.state_de_nw", 0.1),
    ("Frankfurt", "60311", "base.state_de_he", 0.1),
    ("Stuttgart", "70173", "base.state_de_bw", 0.05),
    ("Leipzig", "04109", "base.state_de_sn", 0.05),
]
FIRST = (
    "Anna Lena Paul Mia Tom Eva Jan Lukas Sophie Jonas Marie Felix Laura Leon Hannah Max "
    "Lea Ben Emma Noah Clara Elias Ida Finn Greta Henrik Johanna Karl Lina Moritz Nora Ole "
    "Paula Rafael Sarah Theo Ulrike Viktor Wiebke Yannick Zoe Anton Bettina Carsten Doris"
).split()
LAST = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter "
    "Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange "
    "Schmitt Werner Krause Meier Lehmann Schmid Schulze Maier Köhler Herrmann König Walter"
).split()
STREETS = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schillerstraße", "Am Markt"]


@contextlib.contextmanager
def clock(env, at):
    """Run the real code as if it were ``at`` (UTC): Python's clock and the ORM's
    transaction time."""
    env.flush_all()
    env.cr._now = None
    with freeze_time(at), patch.object(Cursor, "now", lambda self: at):
        yield
        env.flush_all()
    env.cr._now = None


def crons(env):
    """What Odoo's cron workers do every few minutes."""
    Trigger = env["marketing.trigger"]
    for _round in range(3):
        env["marketing.trigger.event"]._cron_process_events()
        Trigger._cron_evaluate_time_triggers()
        env["marketing.trigger.decision"]._cron_redecide()
        env["marketing.journey.participant"]._cron_advance()
        env["marketing.trigger.delivery"]._cron_dispatch()
        env["marketing.listmonk.outbox"]._cron_process()
    env["mail.mail"].process_email_queue()
    env["sms.sms"].search([("state", "=", "outgoing")]).write({"state": "sent"})


class Story:
    def __init__(self, env):
        self.env = env
        self.rng = random.Random(42)
        self.now = fields.Datetime.now().replace(second=0, microsecond=0)
        self.start = (self.now - timedelta(days=DAYS)).replace(hour=7, minute=0)
        self.ref = env.ref

    # ------------------------------------------------------------ the company

    def company(self):
        env = self.env
        company = env.company
        company.write(
            {
                "name": "Redekunst Seminare & Bürobedarf GmbH",
                "street": "Mönckebergstraße 7",
                "zip": "20095",
                "city": "Hamburg",
                "country_id": self.ref("base.de").id,
                "email": "info@redekunst.example",
                "phone": "+49 40 555 0100",
            }
        )
        env.ref("base.user_admin").write({"tz": "Europe/Berlin"})
        Users = env["res.users"].with_context(no_reset_password=True)
        groups = [
            self.ref("sales_team.group_sale_salesman").id,
            self.ref("marketing_trigger.group_marketing_trigger_user").id,
            self.ref("stock.group_stock_user").id,
        ]
        self.sales = [env.ref("base.user_admin")]
        for login, name in (("katrin", "Katrin Meyer"), ("stefan", "Stefan Bauer")):
            self.sales.append(
                Users.create(
                    {
                        "login": login,
                        "password": login,
                        "name": name,
                        "email": f"{login}@redekunst.example",
                        "tz": "Europe/Berlin",
                        "groups_id": [Command.set(groups)],
                    }
                )
            )
        Interest = env["marketing.trigger.interest"]
        self.interests = {
            name: Interest.search([("name", "=", name)], limit=1) or Interest.create({"name": name})
            for name in ("Rhetoric", "Business English", "Leadership", "Time management")
        }
        Product = env["product.product"]
        seminars = env["product.category"].create({"name": "Seminars"})
        printers = env["product.category"].create({"name": "Printers"})
        toner = env["product.category"].create({"name": "Toner"})
        self.seminars = {
            "Rhetoric": Product.create(
                {
                    "name": "Rhetoric seminar Hamburg",
                    "type": "service",
                    "list_price": 490,
                    "categ_id": seminars.id,
                }
            ),
            "Business English": Product.create(
                {
                    "name": "Business English Munich",
                    "type": "service",
                    "list_price": 590,
                    "categ_id": seminars.id,
                }
            ),
            "Leadership": Product.create(
                {
                    "name": "Leadership intensive Berlin",
                    "type": "service",
                    "list_price": 890,
                    "categ_id": seminars.id,
                }
            ),
            "Time management": Product.create(
                {
                    "name": "Time management day Cologne",
                    "type": "service",
                    "list_price": 390,
                    "categ_id": seminars.id,
                }
            ),
        }
        self.printer = Product.create(
            {
                "name": "Laser printer LP-2000",
                "type": "consu",
                "list_price": 249,
                "categ_id": printers.id,
            }
        )
        self.toners = Product.create(
            [
                {
                    "name": "Toner LP-2000 black",
                    "type": "consu",
                    "list_price": 49,
                    "categ_id": toner.id,
                },
                {
                    "name": "Toner LP-2000 colour set",
                    "type": "consu",
                    "list_price": 129,
                    "categ_id": toner.id,
                },
                {
                    "name": "Paper A4, 2,500 sheets",
                    "type": "consu",
                    "list_price": 24,
                    "categ_id": toner.id,
                },
            ]
        )
        self.printer_category = printers
        # The contact policy: at most 2 messages a week, one SMS; 8:00 to 20:00 local.
        policy = env["marketing.trigger.policy"]._for_company(company)
        policy.write(
            {
                "window_start": 8.0,
                "window_end": 20.0,
                "cap_ids": [
                    Command.clear(),
                    Command.create({"channel": False, "limit": 2, "days": 7}),
                    Command.create({"channel": "sms", "limit": 1, "days": 7}),
                ],
            }
        )

    # ------------------------------------------------------------- contacts

    def person(self, existing=False):
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, zip_code, state, _weight = rng.choices(CITIES, weights=[c[3] for c in CITIES])[0]
        email = (
            f"{first}.{last}{rng.randint(1, 99)}@example.com".lower()
            .replace("ü", "ue")
            .replace("ö", "oe")
            .replace("ä", "ae")
            .replace("ß", "ss")
        )
        values = {
            "name": f"{first} {last}",
            "email": email if rng.random() > 0.05 else False,
            "street": f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
            "zip": zip_code,
            "city": city,
            "state_id": self.ref(state).id,
            "country_id": self.ref("base.de").id,
            "tz": "Europe/Berlin",
            "lang": "en_US",
            "mobile": rng.choice(["+49 171 ", "+49 151 1"]) + str(rng.randint(1000000, 9999999)),
            "user_id": self.sales[0 if city == "Hamburg" else 1 if city == "Munich" else 2].id,
            "customer_rank": 1 if existing else 0,
            "marketing_interest_ids": [
                Command.set(
                    [i.id for i in rng.sample(list(self.interests.values()), rng.randint(1, 2))]
                )
            ],
        }
        if rng.random() < 0.25:
            values["marketing_birthdate"] = (
                self.now - timedelta(days=rng.randint(30 * 365, 60 * 365))
            ).date()
        partner = self.env["res.partner"].create(values)
        # Consents with their proofs: most agree to email, some to SMS or calls.
        consents = {"marketing_consent_email": rng.random() < 0.85 and bool(values["email"])}
        if rng.random() < 0.3:
            consents["marketing_consent_sms"] = True
        if rng.random() < 0.4:
            consents["marketing_consent_phone"] = True
        partner.with_context(
            marketing_consent_source="form",
            marketing_consent_evidence="Registration form on redekunst.example",
        ).write(consents)
        if values["email"] and rng.random() < 0.03:
            self.env["mail.blacklist"]._add(values["email"])
        return partner

    def order(self, partner, products, commitment=None):
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "user_id": partner.user_id.id,
                "commitment_date": commitment,
                "order_line": [
                    Command.create({"product_id": p.id, "product_uom_qty": q}) for p, q in products
                ],
            }
        )
        order.action_confirm()
        for picking in order.picking_ids:
            picking.scheduled_date = fields.Datetime.now() + timedelta(
                days=self.rng.randint(2, 4), hours=2
            )
        return order

    def buy_something(self, partner):
        rng = self.rng
        if rng.random() < 0.5:
            interest = partner.marketing_interest_ids[:1].name or "Rhetoric"
            seminar = self.seminars.get(interest, self.seminars["Rhetoric"])
            return self.order(
                partner,
                [(seminar, 1)],
                commitment=fields.Datetime.now() + timedelta(days=rng.randint(14, 60)),
            )
        if rng.random() < 0.4:
            return self.order(partner, [(self.printer, 1), (self.toners[0], 2)])
        return self.order(partner, [(rng.choice(self.toners), rng.randint(1, 4))])

    # ------------------------------------------------------------- history

    def old_customers(self, count=60):
        """Customers from before the demo's four weeks, each with their own order rhythm:
        regulars, lapsed ones, lost ones. Nothing is active yet: no message goes out."""
        customers = self.env["res.partner"]
        for _i in range(count):
            age = self.rng.choice([60, 120, 200, 420, 800])
            with clock(self.env, self.start - timedelta(days=age + 30)):
                partner = self.person(existing=True)
            customers |= partner
            orders = self.rng.randint(1, 4)
            for n in range(orders):
                when = self.start - timedelta(days=age - n * self.rng.randint(20, 40))
                if when >= self.start:
                    break
                with clock(self.env, when.replace(hour=9)):
                    self.buy_something(partner)
        # Their deliveries left long ago.
        for picking in self.our_pickings([("state", "not in", ("done", "cancel"))]):
            self.ship(picking)
        return customers

    def our_pickings(self, domain):
        """The story's own delivery orders (not Odoo's demo data's)."""
        products = self.printer | self.toners
        return self.env["stock.picking"].search(
            [*domain, ("picking_type_code", "=", "outgoing"), ("product_id", "in", products.ids)]
        )

    def ship(self, picking):
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
        picking.move_ids.picked = True
        picking.with_context(skip_backorder=True, skip_sms=True).button_validate()

    def configure(self, listmonk_url, listmonk_user, listmonk_token):
        """Every seed scenario, active."""
        env, ref = self.env, self.ref
        Trigger = env["marketing.trigger"]
        shipped = [
            "marketing_trigger.marketing_trigger_welcome",
            "marketing_trigger.marketing_trigger_birthday",
            "marketing_trigger.marketing_trigger_callback",
            "marketing_trigger.marketing_trigger_callback_offers",
            "marketing_trigger.marketing_trigger_winback",
            "marketing_trigger.marketing_trigger_booking_thanks",
            "marketing_trigger.marketing_trigger_delivery_notice",
            "marketing_trigger.demo_trigger_price",
        ]
        triggers = Trigger.browse([ref(x).id for x in shipped])
        self.toner_reminder = Trigger.create(
            {
                "name": "Toner reminder (a month after the printer)",
                "kind": "lifecycle_product",
                "product_categ_id": self.printer_category.id,
                "lifecycle_months": 1,
                "channel": "sms",
                "fallback_channel": "email",
                "mail_template_id": self.toner_template().id,
                "sms_body": "Hi {{ partner.first_name }}, running low on toner for your "
                "{{ purchase.product }}? Reorder at redekunst.example/toner",
                "message_class": "drop",
                "priority": 30,
            }
        )
        self.churn_alert = Trigger.create(
            {
                "name": "Churn risk: call the customer",
                "kind": "lifecycle_stage_changed",
                "lifecycle_to_stage": "churn_risk",
                "channel": "phone",
                "message_class": "service",
                "activity_summary": "Call {{ partner.name }}: orders less often than usual",
                "priority": 40,
            }
        )
        self.reminder = Trigger.create(
            {
                "name": "Quotation reminder",
                "kind": "quotation_abandoned",
                "delay_hours": 48,
                "channel": "phone",
                "message_class": "service",
                "activity_summary": "{{ partner.name }} has not confirmed {{ order.name }} "
                "({{ order.amount }})",
            }
        )
        (triggers | self.toner_reminder | self.churn_alert | self.reminder).action_activate()
        for xmlid in ("welcome", "seminar", "winback", "aftersale"):
            ref(f"marketing_trigger.marketing_journey_{xmlid}").action_run()
        # Landing page with city blocks.
        env["marketing.trigger.landing"].create(
            {
                "name": "Seminars 2027",
                "slug": "seminars-2027",
                "intro": "<p>Speak, lead and negotiate with confidence.</p>",
                "next_url": "https://redekunst.example/seminars",
                "next_label": "Book your seat",
                "block_ids": [
                    Command.create(
                        {
                            "title": "Hamburg: rhetoric on 12 March",
                            "city": "Hamburg",
                            "body": "<p>Two days at the Alster, 490 €.</p>",
                        }
                    ),
                    Command.create(
                        {
                            "title": "Munich: Business English on 20 March",
                            "city": "Munich",
                            "body": "<p>Three evenings, 590 €.</p>",
                        }
                    ),
                    Command.create(
                        {
                            "title": "Leadership intensive",
                            "interest_id": self.interests["Leadership"].id,
                            "body": "<p>For new team leads, in Berlin.</p>",
                        }
                    ),
                ],
            }
        )
        # Listmonk (here a fake one, in this process) carries the newsletter.
        self.listmonk = env["marketing.listmonk.server"].create(
            {
                "url": listmonk_url,
                "api_user": listmonk_user,
                "api_token": listmonk_token,
                "timeout": 5,
                "list_ids": [
                    Command.create(
                        {
                            "name": "Seminar news",
                            "domain": "[('marketing_interest_ids', '!=', False)]",
                        }
                    ),
                ],
            }
        )
        # A newsletter click is a warm lead: the salesperson gets a call.
        return triggers

    def toner_template(self):
        """Rendered on the printer purchase (the order line) it reminds of."""
        return self.env["mail.template"].create(
            {
                "name": "Demo: toner reminder",
                "model_id": self.env["ir.model"]._get_id("sale.order.line"),
                "subject": "Toner for your {{ object.product_id.name }}?",
                "body_html": "<p>Dear <t t-out='object.order_id.partner_id.name'/>, a month "
                "ago you bought a <t t-out='object.product_id.name'/> (order "
                "<t t-out='object.order_id.name'/>). Toner running low? "
                "<a href='https://redekunst.example/toner'>Reorder here</a>.</p>",
            }
        )

    def price_watches(self, people):
        seminar = self.seminars["Rhetoric"]
        for partner in people[:6]:
            self.env["marketing.price.watch"].create(
                {"partner_id": partner.id, "product_id": seminar.id, "target_price": 400}
            )

    def engage(self, since):
        """People open and click some of the emails they got since ``since``."""
        rng = self.rng
        deliveries = self.env["marketing.trigger.delivery"].search(
            [
                ("state", "=", "sent"),
                ("channel", "in", ("email", "newsletter")),
                ("sent_at", ">=", since),
                ("opened_at", "=", False),
            ]
        )
        for delivery in deliveries:
            roll = rng.random()
            if roll < 0.15:
                delivery._record_engagement("clicked")
            elif roll < 0.5:
                delivery._record_engagement("opened")

    def newsletter(self):
        server = self.listmonk
        server._sync(full=True)
        campaign = self.env["marketing.listmonk.campaign"].create(
            {
                "name": "Seminar programme spring",
                "subject": "Our spring seminars",
                "body_html": "<p>Hi {{ .Subscriber.FirstName }}, the spring programme is out: "
                '<a href="https://redekunst.example/seminars">see all seminars</a>.</p>'
                '<p><a href="/mt/preferences">Preferences</a></p>',
                "list_ids": [Command.set(server.list_ids.ids)],
                "server_id": server.id,
            }
        )
        campaign.action_send()
        self.env["marketing.listmonk.outbox"]._cron_process()
        self.newsletter_trigger = campaign.trigger_id
        clicked = self.env["marketing.trigger"].create(
            {
                "name": "Newsletter click: call now",
                "kind": "link_clicked",
                "source_trigger_id": campaign.trigger_id.id,
                "channel": "phone",
                "message_class": "service",
                "activity_summary": "{{ partner.name }} clicked the seminar newsletter: call",
                "priority": 70,
            }
        )
        clicked.action_activate()
        return campaign

    def live(self):
        env, rng = self.env, self.rng
        registered = env["res.partner"]
        for day in range(DAYS):
            morning = self.start + timedelta(days=day, hours=1)  # 9:00 in Berlin (CET)
            with clock(env, morning - timedelta(hours=6)):
                env["marketing.trigger.policy"]._cron_compute_lifecycle()
            with clock(env, morning):
                for _i in range(rng.randint(3, 7)):
                    registered |= self.person()
                buyers = rng.sample(list(registered | self.customers), k=min(3, len(registered)))
                for partner in buyers:
                    self.buy_something(partner)
                if day == DAYS - 14:
                    self.price_watches(registered)
                    self.newsletter()
                if day == DAYS - 13:
                    # An early-bird offer to everyone interested in rhetoric, the day after
                    # the newsletter: the weekly cap holds back who had enough this week.
                    early = env["marketing.trigger"].create(
                        {
                            "name": "Rhetoric early-bird offer",
                            "kind": "segment_entered",
                            "partner_domain": repr(
                                [("marketing_interest_ids", "in", self.interests["Rhetoric"].ids)]
                            ),
                            "channel": "email",
                            "mail_template_id": self.ref(
                                "marketing_trigger.mail_template_journey_seminars"
                            ).id,
                            "message_class": "drop",
                            "priority": 20,
                        }
                    )
                    early.action_activate()
                if day == DAYS - 7:
                    self.seminars["Rhetoric"].list_price = 390  # the watchers' price is reached
                # A quotation some forget to confirm.
                if rng.random() < 0.5:
                    env["sale.order"].create(
                        {
                            "partner_id": rng.choice(registered).id,
                            "order_line": [Command.create({"product_id": self.printer.id})],
                        }
                    )
                crons(env)
            with clock(env, morning + timedelta(hours=6)):
                self.engage(morning - timedelta(days=2))
                # The warehouse ships what was due.
                for picking in self.our_pickings(
                    [("state", "=", "assigned"), ("scheduled_date", "<=", fields.Datetime.now())]
                ):
                    self.ship(picking)
                crons(env)
            with clock(env, morning + timedelta(hours=12)):
                # Evening registrations (21:00): their welcome waits for the morning.
                for _i in range(rng.randint(0, 2)):
                    registered |= self.person()
                crons(env)
        return registered

    def today(self, registered):
        """Back to now: a callback due in a few minutes for the admin, a customer who
        corrected the address of a delivery coming this week, and the crons once more."""
        env = self.env
        admin = env.ref("base.user_admin")
        greta = registered.filtered(lambda p: p.email and p.marketing_consent_email)[:1]
        greta.write(
            {
                "user_id": admin.id,
                "marketing_callback_at": fields.Datetime.now() + timedelta(minutes=10),
                "mobile": "+49 171 5550123",
            }
        )
        self.callback_contact = greta
        crons(env)
        notice = env["marketing.trigger.delivery"].search(
            [
                (
                    "trigger_id",
                    "=",
                    self.ref("marketing_trigger.marketing_trigger_delivery_notice").id,
                ),
                ("state", "=", "sent"),
            ],
            limit=1,
        )
        if notice and not notice.address_answered_at:
            notice._answer_address(
                {
                    "correct": "1",
                    "street": "Neuer Wall 10",
                    "zip": "20354",
                    "city": "Hamburg",
                    "country_code": "DE",
                },
                "Address page, demo story",
            )

    def summary(self, seconds):
        env = self.env
        Decision, Delivery = env["marketing.trigger.decision"], env["marketing.trigger.delivery"]
        outcomes = dict(Decision._read_group([], ["outcome"], ["__count"]))
        states = dict(Delivery._read_group([], ["state"], ["__count"]))
        contacts = env["res.partner"].search_count([("email", "like", "@example.com")])
        orders = env["sale.order"].search_count([("state", "=", "sale")])
        converted = sum(env["marketing.trigger.result"].search([]).mapped("converted"))
        print(  # noqa: T201 - shown by make demo
            f"demo story ({seconds:.0f} s): {contacts} contacts, {orders} orders, "
            f"{env['stock.picking'].search_count([])} delivery orders, decisions {outcomes}, "
            f"deliveries {states}, {converted} conversions; callback for "
            f"{self.callback_contact.name} at {self.callback_contact.marketing_callback_at} UTC"
        )


def tell(env):
    from odoo.addons.marketing_trigger.listmonk.testing import FakeListmonk

    began = _time.monotonic()
    env = env(context=dict(env.context, tracking_disable=True, mail_create_nolog=True))
    story = Story(env)
    with FakeListmonk() as fake:
        with clock(env, story.start - timedelta(days=900)):
            story.company()
        story.customers = story.old_customers()
        with clock(env, story.start):
            story.configure(fake.base_url, fake.username, fake.token)
        registered = story.live()
        story.today(registered)
        # The fake Listmonk ends with the story: the demo keeps the newsletter and its
        # results, and stops syncing.
        story.listmonk.sync_active = False
    story.summary(_time.monotonic() - began)
