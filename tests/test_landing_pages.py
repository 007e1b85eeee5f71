"""Landing pages: a city matched whatever its spelling, a preview as a chosen contact for
marketing users, and the company's logo and legal footer on every customer page."""

import base64
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, new_test_user, tagged

from .common import MarketingTriggerCase

HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
# A 1x1 PNG.
LOGO = base64.b64encode(
    base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
)


@tagged("post_install", "-at_install")
class TestLandingPages(MarketingTriggerCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.landing = cls.env["marketing.trigger.landing"].create(
            {
                "name": "Seminars 2027",
                "slug": "seminars-2027",
                "next_url": "https://shop.example.com/seminars",
                "block_ids": [
                    fields.Command.create({"title": "Dates in Munich", "city": "Munich"}),
                    fields.Command.create({"title": "Dates in Cologne", "city": "Köln"}),
                    fields.Command.create({"title": "Dates in Hamburg", "city": "Hamburg"}),
                    fields.Command.create({"title": "About our trainers"}),
                ],
            }
        )
        cls.marketer = new_test_user(
            cls.env,
            "mt_marketer_lp",
            groups="base.group_user,marketing_trigger.group_marketing_trigger_user",
        )

    def get(self, url):
        url = self.base_url() + url if url.startswith("/") else url
        return self.opener.get(
            url, headers={"User-Agent": HUMAN}, allow_redirects=False, timeout=20
        )

    def titles(self, city):
        partner = self.Partner.create({"name": "Reader", "city": city})
        return self.landing._blocks_for(partner).mapped("title")

    def test_a_city_matches_whatever_its_spelling(self):
        for city in ("Munich", "München", "MUENCHEN", "muenchen", " münchen "):
            with self.subTest(city=city):
                self.assertEqual(self.titles(city), ["Dates in Munich", "About our trainers"])
        for city in ("Cologne", "KOELN", "köln"):
            with self.subTest(city=city):
                self.assertEqual(self.titles(city)[0], "Dates in Cologne")
        for city in ("Münster", "Hamburg-Altona", "", False):
            with self.subTest(city=city):
                self.assertNotIn("Dates in Munich", self.titles(city))

    def test_the_preview_shows_the_chosen_contacts_page_and_records_nothing(self):
        bavarian = self.Partner.create({"name": "Bea Bauer", "city": "München"})
        wizard = (
            self.env["marketing.trigger.landing.preview"]
            .with_user(self.marketer)
            .create({"landing_id": self.landing.id, "partner_id": bavarian.id})
        )
        url = wizard.action_open()["url"]
        self.assertEqual(url, f"/mt/landing/seminars-2027?partner_id={bavarian.id}")
        self.assertEqual(self.get(url).status_code, 303, "logged out: to the login page")
        clicks = self.env["marketing.trigger.engagement"].search_count([])
        self.authenticate("mt_marketer_lp", "mt_marketer_lp")
        page = self.get(url)
        self.assertEqual(page.status_code, 200)
        self.assertIn("Preview as", page.text)
        self.assertIn("Hello Bea Bauer", page.text)
        self.assertIn("Dates in Munich", page.text)
        self.assertNotIn("Dates in Hamburg", page.text)
        self.assertIn('href="https://shop.example.com/seminars"', page.text)
        self.assertEqual(self.env["marketing.trigger.engagement"].search_count([]), clicks)
        for bad in ("x", "0", "2147483648", str(bavarian.id + 10**6)):
            with self.subTest(partner_id=bad):
                answer = self.get(f"/mt/landing/seminars-2027?partner_id={bad}")
                self.assertEqual(answer.status_code, 404)
        self.assertEqual(self.get("/mt/landing/no-such-page").status_code, 404)
        # Not for users outside marketing.
        new_test_user(self.env, "mt_clerk", groups="base.group_user")
        self.authenticate("mt_clerk", "mt_clerk")
        self.assertEqual(self.get(url).status_code, 404)

    def test_customer_pages_carry_the_company_logo_and_legal_footer(self):
        company = self.env.company
        company.write(
            {
                "logo": LOGO,
                "street": "Jungfernstieg 1",
                "zip": "20354",
                "city": "Hamburg",
                "vat": "DE123456788",
                "company_registry": "HRB 12345",
            }
        )
        partner = self.make_partner("Ada Lovelace", "ada@example.com", city="Munich")
        self.dispatch()
        delivery = self.decisions(partner).delivery_ids
        delivery.sent_at = fields.Datetime.now() - timedelta(hours=1)
        pages = {
            "landing": delivery._landing_url(self.landing),
            "unsubscribe": delivery._tracking_urls(self.base_url())[1],
            "preferences": delivery._preferences_url(),
            "address": delivery._address_url(),
            "not found": "/mt/l/seminars-2027/1/forged",
        }
        for name, url in pages.items():
            with self.subTest(page=name):
                html = self.get(url).text
                self.assertIn(f"/logo.png?company={company.id}", html)
                self.assertIn("o_marketing_legal_footer", html)
                for shown in (company.name, "Jungfernstieg 1", "DE123456788", "HRB 12345"):
                    self.assertIn(shown, html)
        landing = self.get(pages["landing"]).text
        self.assertIn(delivery._preferences_url(), landing, "the footer links to preferences")
        logo = self.get(f"/logo.png?company={company.id}")
        self.assertEqual(logo.status_code, 200)
        self.assertTrue(logo.headers["Content-Type"].startswith("image/"))
