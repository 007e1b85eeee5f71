"""Forged requests to every public route of the addon, over real HTTP: malformed ids,
NUL bytes, OPTIONS with genuine tokens, methods a route does not take. None may answer
500 and none may write anything. (What the inbound webhook's body may hold, its size
limit and parallel replays are in test_inbound.py.)"""

import json
import re
from datetime import timedelta
from urllib.parse import quote, unquote, urlsplit

from odoo import fields
from odoo.tests import HttpCase, tagged

from ..models.marketing_listmonk_campaign import REF as LISTMONK_REF
from .common import MarketingTriggerCase

HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
# Ids no route may take for a record id: non-ASCII digits, more digits than Python
# converts, more than PostgreSQL's integer holds, signs, exponents, NUL.
BAD_IDS = {
    "superscript two": "²",
    "arabic-indic three": "٣",
    "fullwidth one": "１",
    "5000 digits": "9" * 5000,
    "2**31": str(2**31),
    "2**70": str(2**70),
    "negative": "-1",
    "zero": "0",
    "exponent": "1e3",
    "hex": "0x10",
    "padded": " 1",
    "NUL": "1\x00",
}
MODELS = (
    "marketing.trigger.event",
    "marketing.trigger.decision",
    "marketing.trigger.delivery",
    "marketing.trigger.engagement",
    "marketing.trigger.consent",
    "marketing.trigger.link",
    "marketing.trigger.subscription",
    "mail.activity",
)


@tagged("post_install", "-at_install")
class TestPublicRoutes(MarketingTriggerCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.mail_template_id.body_html = (
            '<p>See <a href="https://seminars.example.com/hamburg">our seminars</a>.</p>'
        )
        cls.landing = cls.env["marketing.trigger.landing"].create(
            {"name": "Seminars", "slug": "seminars"}
        )
        cls.inbound = cls.env["marketing.trigger"].create(
            {
                "name": "Booked in the booking tool",
                "kind": "inbound",
                "channel": "phone",
                "message_class": "service",
            }
        )
        cls.inbound.action_activate()
        cls.secret = cls.inbound.webhook_secret
        server = cls.env["marketing.listmonk.server"].create(
            {"url": "http://127.0.0.1:9", "api_user": "odoo", "api_token": "x"}
        )
        newsletter = cls.env["marketing.listmonk.campaign"].create(
            {"name": "Seminars", "subject": "Seminars", "server_id": server.id}
        )
        newsletter.body_html = '<p><a href="https://seminars.example.com/hamburg">See</a></p>'
        newsletter.trigger_id = newsletter._carrier_trigger()
        newsletter.state = "sent"

        cls.newsletter = newsletter.trigger_id
        cls.campaign = newsletter
        cls.server = server
        cls.form = cls.env["marketing.trigger.subscription.form"].create(
            {"name": "News", "slug": "news", "api_key": "k" * 32}
        )

    def setUp(self):
        super().setUp()
        self.partner = self.make_partner("Ada Lovelace", "ada@example.com")
        self.dispatch()
        self.delivery = self.decisions(self.partner).delivery_ids
        self.delivery.sent_at = fields.Datetime.now() - timedelta(hours=1)
        base = self.base_url()
        self.link_id = self.env["marketing.trigger.link"]._get_or_create(
            ["https://seminars.example.com/hamburg"]
        )["https://seminars.example.com/hamburg"]
        # What Listmonk makes of the newsletter for this partner, synced to it.
        self.env["marketing.listmonk.subscriber"].create(
            {"server_id": self.server.id, "partner_id": self.partner.id}
        )
        ref = self.server._ref(self.partner.id)
        listmonk_body = unquote(self.campaign._listmonk_body(base)).replace(LISTMONK_REF, ref)
        newsletter_click = re.search(r'href="([^"]+/mt/n/[^"]+)"', listmonk_body).group(1)
        newsletter_open = re.search(r'src="([^"]+/mt/no/[^"]+)"', listmonk_body).group(1)
        self.subscription = self.env["marketing.trigger.subscription"]._request(
            self.form, {"email": "grace@example.com"}, "api"
        )
        d, link = self.delivery, self.link_id
        # Every public route, with genuine ids and tokens: {name: (methods, url)}.
        self.routes = {
            "click": (("GET", "HEAD"), f"/mt/c/{d.id}/{link}/{d._token('click', link)}"),
            "open": (("GET", "HEAD"), f"/mt/o/{d.id}/{d._token('open')}.gif"),
            "unsubscribe": (("GET", "POST"), d._tracking_urls(base)[1]),
            "preferences": (("GET", "POST"), d._preferences_url()),
            "address": (("GET", "POST"), d._address_url()),
            "landing": (("GET",), d._landing_url(self.landing)),
            "newsletter click": (("GET", "HEAD"), newsletter_click),
            "newsletter open": (("GET", "HEAD"), newsletter_open),
            "inbound": (("POST",), f"/marketing_trigger/inbound/{self.inbound.id}"),
            "subscribe": (("GET", "POST"), "/mt/subscribe/news"),
            "subscribe API": (("POST",), "/mt/api/subscribe"),
            "confirm": (("GET", "POST"), self.subscription._confirm_url()),
        }

    # ---------------------------------------------------------------- helpers

    def counts(self):
        self.env.flush_all()
        counts = {}
        for model in MODELS:
            self.env.cr.execute(f"SELECT count(*) FROM {self.env[model]._table}")  # noqa: S608
            counts[model] = self.env.cr.fetchone()[0]
        return counts

    def request(self, method, url, **kwargs):
        url = self.base_url() + url if url.startswith("/") else url
        headers = {"User-Agent": HUMAN, **kwargs.pop("headers", {})}
        if "/inbound/" in url:
            headers.setdefault("Authorization", f"Bearer {self.secret}")
            headers.setdefault("Content-Type", "application/json")
            kwargs.setdefault("data", json.dumps({"partner": {"id": self.partner.id}}))
        return self.opener.request(
            method, url, headers=headers, allow_redirects=False, timeout=30, **kwargs
        )

    def path(self, url):
        return urlsplit(url).path if url.startswith("http") else url

    # ------------------------------------------------------------------ ids

    def test_malformed_ids_are_not_found_on_every_route(self):
        before = self.counts()
        ids = {
            str(self.delivery.id),
            str(self.link_id),
            str(self.newsletter.id),
            str(self.inbound.id),
            str(self.subscription.id),
        }
        for name, (methods, url) in self.routes.items():
            segments = self.path(url).split("/")
            for position, segment in enumerate(segments):
                if segment.removesuffix(".gif") not in ids or position < 2:
                    continue
                for label, bad in BAD_IDS.items():
                    suffix = ".gif" if segment.endswith(".gif") else ""
                    forged = [*segments]
                    forged[position] = quote(bad, safe="") + suffix
                    for method in methods:
                        with self.subTest(route=name, position=position, id=label, method=method):
                            response = self.request(method, "/".join(forged))
                            self.assertEqual(response.status_code, 404, response.text[:300])
        self.assertEqual(self.counts(), before, "nothing was written")

    def test_nul_bytes_in_slugs_tokens_refs_and_forms_are_refused(self):
        before = self.counts()
        d = self.delivery
        cases = {
            "slug": ("GET", f"/mt/l/semi%00nars/{d.id}/{d._token('landing', self.landing.id)}"),
            "slug only NUL": ("GET", f"/mt/l/%00/{d.id}/{d._token('landing', self.landing.id)}"),
            "token": ("GET", f"/mt/c/{d.id}/{self.link_id}/%00{d._token('click', self.link_id)}"),
            "pixel token": ("GET", f"/mt/o/{d.id}/%00.gif"),
            # No route matches: Odoo's attachment fallback must not choke on the NUL.
            "confirm token": ("GET", f"/mt/confirm/{self.subscription.id}/%00"),
            "unknown path": ("GET", "/mt/nothing%00here"),
            "subscribe slug": ("GET", "/mt/subscribe/news%00"),
        }
        click, pixel = self.routes["newsletter click"][1], self.routes["newsletter open"][1]
        click, pixel = click.rsplit("/", 1)[0], pixel.rsplit("/", 1)[0]
        for label, ref in {
            "NUL": f"{self.partner.id}%00.x",
            "superscript": "².",
            "superscript and token": f"²³.{self.server._ref(self.partner.id).split('.')[1]}",
            "5000 digits": f"{'9' * 5000}.x",
            "2**70": f"{2**70}.x",
        }.items():
            cases[f"newsletter ref {label}"] = ("GET", f"{click}/{ref}")
            cases[f"newsletter open ref {label}"] = ("GET", f"{pixel}/{ref}.gif")
        for label, (method, url) in cases.items():
            with self.subTest(label):
                response = self.request(method, url)
                if url.endswith(".gif"):
                    self.assertEqual(response.status_code, 200, "the pixel always answers")
                    self.assertEqual(response.headers["Content-Type"], "image/gif")
                else:
                    self.assertEqual(response.status_code, 404, response.text[:300])
        self.assertEqual(self.counts(), before, "nothing was written")
        # Form fields go into the contact: a NUL is refused with the form shown again.
        response = self.request(
            "POST",
            self.routes["address"][1],
            data={
                "correct": "1",
                "street": "Neuer Weg 5\x00",
                "zip": "24103",
                "city": "Ki\x00el",
                "country_code": "DE\x00",
            },
        )
        self.assertEqual(response.status_code, 400)
        self.assertFalse(self.delivery.address_answered_at)
        self.assertFalse(self.partner.child_ids)
        self.assertEqual(self.counts(), before, "nothing was written")
        # A NUL in the user agent never reaches the stored evidence.
        response = self.request(
            "POST", self.routes["unsubscribe"][1], headers={"User-Agent": "Mail\x00client"}
        )
        self.assertEqual(response.status_code, 200)
        self.partner.invalidate_recordset()
        self.assertFalse(self.partner.marketing_consent_email)
        proof = self.partner.marketing_consent_ids.sorted("id")[-1]
        self.assertNotIn("\x00", proof.evidence)

    # -------------------------------------------------------------- OPTIONS

    def test_options_runs_nothing_even_with_genuine_tokens(self):
        before = self.counts()
        for name, (methods, url) in self.routes.items():
            with self.subTest(name):
                response = self.request("OPTIONS", url)
                self.assertEqual(response.status_code, 204)
                allowed = {m.strip() for m in response.headers["Allow"].split(",")}
                self.assertEqual(allowed, {*methods, "OPTIONS"})
                self.assertFalse(response.content)
        self.assertEqual(self.counts(), before, "no click, open, event or proof recorded")
        self.partner.invalidate_recordset()
        self.assertTrue(self.partner.marketing_consent_email)
        self.assertFalse(self.delivery.clicked_at or self.delivery.opened_at)
        # The genuine requests still work.
        self.assertEqual(self.request("GET", self.routes["click"][1]).status_code, 303)
        self.assertEqual(self.request("POST", self.routes["inbound"][1]).status_code, 202)

    def test_methods_a_route_does_not_take_are_refused(self):
        before = self.counts()
        for name, (methods, url) in self.routes.items():
            for method in {"GET", "POST", "PUT", "DELETE", "PATCH"} - set(methods):
                with self.subTest(route=name, method=method):
                    self.assertEqual(self.request(method, url).status_code, 405)
        self.assertEqual(self.counts(), before)

    def test_newsletter_links_with_character_references_redirect_where_sent(self):
        self.campaign.body_html = '<p><a href="https://shop.example/o?x=1&amp;y=2">Offer</a></p>'
        body = unquote(self.campaign._listmonk_body(self.base_url()))
        click = re.search(r'href="([^"]+/mt/n/[^"]+)"', body).group(1)
        response = self.request(
            "GET", click.replace(LISTMONK_REF, self.server._ref(self.partner.id))
        )
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response.headers["Location"], "https://shop.example/o?x=1&y=2")

    # ------------------------------------------------------ security headers

    def test_customer_pages_are_not_framed_and_send_no_referrer(self):
        d = self.delivery
        pages = {
            "landing": self.routes["landing"][1],
            "address": self.routes["address"][1],
            "preferences": self.routes["preferences"][1],
            "unsubscribe": self.routes["unsubscribe"][1],
            "not found": f"/mt/p/{d.id}/{'A' * 22}",
            "click redirect": self.routes["click"][1],
        }
        for name, url in pages.items():
            with self.subTest(name):
                response = self.request("GET", url)
                self.assertIn(response.status_code, (200, 303, 404))
                self.assertEqual(response.headers.get("Referrer-Policy"), "no-referrer")
                self.assertEqual(response.headers.get("X-Frame-Options"), "DENY")
                self.assertIn(
                    "frame-ancestors 'none'", response.headers.get("Content-Security-Policy", "")
                )
        posted = self.request("POST", self.routes["unsubscribe"][1])
        self.assertEqual(posted.headers.get("X-Frame-Options"), "DENY")
        d.sent_at = fields.Datetime.now() - timedelta(days=30)
        expired = self.request("GET", self.routes["address"][1])
        self.assertEqual(expired.status_code, 410)
        self.assertEqual(expired.headers.get("Referrer-Policy"), "no-referrer")
