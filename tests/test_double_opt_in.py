"""Double opt-in over real HTTP: the form page, the shop API, the confirmation link
(forged, of another request, expired), the rate limit per address and the purge."""

import json
import re
from datetime import timedelta

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import MarketingTriggerCase

HUMAN = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"
API_KEY = "shop-key-0123456789abcdefghijklmnopqrstuv"
CONFIRM = re.compile(r"/mt/confirm/(\d+)/([A-Za-z0-9_-]{22})")


@tagged("post_install", "-at_install")
class TestDoubleOptIn(MarketingTriggerCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.topic = cls.env["marketing.trigger.topic"].create({"name": "Seminars"})
        cls.form = cls.env["marketing.trigger.subscription.form"].create(
            {
                "name": "Seminar newsletter",
                "slug": "seminars",
                "topic_id": cls.topic.id,
                "consent_text": "Yes, send me the seminar newsletter by email.",
                "api_key": API_KEY,
            }
        )
        cls.doi = cls.env["marketing.trigger"].create(
            {
                "name": "Thanks for confirming",
                "kind": "double_optin",
                "mail_template_id": cls.welcome.mail_template_id.id,
            }
        )
        cls.doi.action_activate()
        cls.Request = cls.env["marketing.trigger.subscription"]
        cls.Consent = cls.env["marketing.trigger.consent"]

    # ------------------------------------------------------------ helpers

    def url(self, path):
        return self.base_url() + path

    def subscribe(self, email="ada@example.com", name="Ada Lovelace", consent="on", **extra):
        """GET the form page (session and CSRF token), then POST it as a browser does."""
        page = self.url_open("/mt/subscribe/seminars", headers={"User-Agent": HUMAN})
        self.assertEqual(page.status_code, 200)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        data = {"csrf_token": token, "email": email, "name": name, **extra}
        if consent:
            data["consent"] = consent
        return self.url_open("/mt/subscribe/seminars", data=data, headers={"User-Agent": HUMAN})

    def api(self, payload, key=API_KEY, raw=None):
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        body = raw if raw is not None else json.dumps(payload)
        return self.url_open("/mt/api/subscribe", data=body, headers=headers)

    def mails(self, email="ada@example.com"):
        return self.env["mail.mail"].search(
            [("email_to", "=", email), ("model", "=", "marketing.trigger.subscription")]
        )

    def confirm_path(self, mail):
        request_id, token = CONFIRM.search(mail.body_html).groups()
        return f"/mt/confirm/{request_id}/{token}"

    def confirm(self, path, method="POST"):
        return self.opener.request(
            method, self.url(path), headers={"User-Agent": HUMAN}, timeout=20
        )

    def written(self):
        return (
            self.Consent.search_count([]),
            self.Request.search_count([("state", "=", "confirmed")]),
            self.env["res.partner"].search_count([]),
        )

    # -------------------------------------------------------------- tests

    def test_a_form_address_is_one_plain_word(self):
        for slug in ("news\n", "News", "news letter", "-news"):
            with self.subTest(slug=slug), self.assertRaises(ValidationError):
                self.form.copy({"slug": slug, "api_key": False})
        page = self.url_open("/mt/subscribe/seminars%0A", headers={"User-Agent": HUMAN})
        self.assertEqual(page.status_code, 404)

    def test_the_pages_show_the_company_and_its_legal_footer(self):
        self.env.company.company_registry = "HRB 12345"
        page = self.url_open("/mt/subscribe/seminars", headers={"User-Agent": HUMAN})
        self.subscribe()
        confirm = self.confirm(self.confirm_path(self.mails()), method="GET")
        for response in (page, confirm):
            with self.subTest(response.url):
                self.assertIn("o_marketing_legal_footer", response.text)
                self.assertIn("HRB 12345", response.text)

    def test_form_request_records_the_evidence_and_queues_one_mail(self):
        response = self.subscribe()
        self.assertEqual(response.status_code, 200)
        self.assertIn("check your inbox", response.text.lower())
        self.assertEqual(response.headers["Referrer-Policy"], "no-referrer")
        self.assertEqual(response.headers["X-Frame-Options"], "DENY")
        request = self.Request.search([("email_normalized", "=", "ada@example.com")])
        self.assertRecordValues(
            request,
            [
                {
                    "state": "pending",
                    "via": "form",
                    "name": "Ada Lovelace",
                    "ip": "127.0.0.1",
                    "user_agent": HUMAN,
                    "consent_text": "Yes, send me the seminar newsletter by email.",
                    "topic_id": self.topic.id,
                    "company_id": self.env.company.id,
                    "partner_id": False,
                }
            ],
        )
        self.assertAlmostEqual(
            request.expires_at,
            request.requested_at + timedelta(hours=72),
            delta=timedelta(seconds=1),
        )
        mail = self.mails()
        self.assertEqual(len(mail), 1, "one confirmation email, queued")
        self.assertEqual(mail.state, "outgoing")
        self.assertIn(f"/mt/confirm/{request.id}/", mail.body_html)
        self.assertFalse(self.Consent.search([("source", "=", "double_opt_in")]), "no proof yet")
        self.assertFalse(self.env["res.partner"].search([("email", "=", "ada@example.com")]))

    def test_confirmation_records_the_proof_and_fires_the_doi_trigger(self):
        known = self.make_partner(consent=False)
        known.marketing_topic_optout_ids = [fields.Command.link(self.topic.id)]
        self.subscribe()
        path = self.confirm_path(self.mails())
        before = self.written()
        page = self.confirm(path, method="GET")
        self.assertEqual(page.status_code, 200)
        self.assertIn("Yes, subscribe me", page.text)
        self.assertEqual(page.headers["X-Frame-Options"], "DENY")
        self.assertEqual(self.written(), before, "opening the link (a mail scanner) writes nothing")
        response = self.confirm(path)
        self.assertEqual(response.status_code, 200)
        self.assertIn("confirmed", response.text)
        request = self.Request.search([("email_normalized", "=", "ada@example.com")])
        proof = self.Consent.search(
            [("partner_id", "=", known.id), ("source", "=", "double_opt_in")]
        )
        self.assertRecordValues(
            request, [{"state": "confirmed", "partner_id": known.id, "consent_id": proof.id}]
        )
        self.assertRecordValues(proof, [{"channel": "email", "is_granted": True}])
        for evidence in (
            request.requested_at.isoformat(),
            "IP address 127.0.0.1",
            HUMAN,
            "Yes, send me the seminar newsletter by email.",
            f"Confirmed {request.confirmed_at.isoformat()}",
        ):
            self.assertIn(evidence, proof.evidence)
        known.invalidate_recordset()
        self.assertTrue(known.marketing_consent_email)
        self.assertNotIn(self.topic, known.marketing_topic_optout_ids, "opted in to the topic")
        self.assertEqual(self.decisions(known, self.doi).outcome, "send")
        # A second click changes nothing.
        again = self.confirm(path)
        self.assertIn("Already confirmed", again.text)
        self.assertEqual(len(self.Consent.search([("source", "=", "double_opt_in")])), 1)

    def test_a_new_address_becomes_a_contact_of_the_form_company(self):
        self.subscribe("grace@example.com", "Grace Hopper")
        self.confirm(self.confirm_path(self.mails("grace@example.com")))
        partner = self.env["res.partner"].search([("email", "=", "grace@example.com")])
        self.assertRecordValues(
            partner,
            [
                {
                    "name": "Grace Hopper",
                    "company_id": self.env.company.id,
                    "marketing_consent_email": True,
                }
            ],
        )
        self.assertEqual(self.decisions(partner, self.doi).outcome, "send")

    def test_forged_foreign_and_expired_links_write_nothing(self):
        self.subscribe()
        self.subscribe("bob@example.com", "Bob")
        ada_path = self.confirm_path(self.mails())
        bob_path = self.confirm_path(self.mails("bob@example.com"))
        ada_id, ada_token = ada_path.split("/")[3:]
        bob_id, bob_token = bob_path.split("/")[3:]
        before = self.written()
        cases = {
            "forged token": (f"/mt/confirm/{ada_id}/{'A' * 22}", 404),
            "token of another request": (f"/mt/confirm/{ada_id}/{bob_token}", 404),
            "unknown request": (f"/mt/confirm/{int(bob_id) + 1000}/{ada_token}", 404),
            "short token": (f"/mt/confirm/{ada_id}/{ada_token[:10]}", 404),
            "huge id": (f"/mt/confirm/{2**70}/{ada_token}", 404),
        }
        for name, (path, status) in cases.items():
            for method in ("GET", "POST"):
                with self.subTest(name, method=method):
                    response = self.confirm(path, method)
                    self.assertEqual(response.status_code, status)
                    self.assertIn("not valid", response.text)
        self.Request.browse(int(ada_id)).expires_at = fields.Datetime.now() - timedelta(minutes=1)
        for method in ("GET", "POST"):
            with self.subTest("expired", method=method):
                response = self.confirm(ada_path, method)
                self.assertEqual(response.status_code, 410)
                self.assertIn("expired", response.text)
        self.assertEqual(self.written(), before)
        self.assertEqual(self.Request.browse(int(ada_id)).state, "pending")
        self.assertEqual(self.confirm(bob_path).status_code, 200, "the genuine link works")

    def test_a_second_request_within_the_limit_sends_no_second_mail(self):
        self.subscribe()
        second = self.subscribe()
        self.assertIn("check your inbox", second.text.lower(), "the same answer")
        self.assertEqual(len(self.mails()), 1, "no second mail within 10 minutes")
        self.assertEqual(
            self.Request.search_count([("email_normalized", "=", "ada@example.com")]), 1
        )
        # Later the same day: a second and a third mail, never a fourth.
        for _attempt in range(3):
            self.Request.search([]).mail_sent_at = fields.Datetime.now() - timedelta(minutes=11)
            self.subscribe("ADA@Example.com")
        self.assertEqual(len(self.mails()) + len(self.mails("ADA@Example.com")), 3)
        self.assertEqual(len(self.mails("bob@example.com")), 0)
        self.subscribe("bob@example.com")
        self.assertEqual(len(self.mails("bob@example.com")), 1, "other addresses are not limited")

    def test_purge_deletes_expired_unconfirmed_requests_only(self):
        self.subscribe()
        self.subscribe("bob@example.com")
        self.subscribe("carol@example.com")
        ada, bob, carol = (
            self.Request.search([("email_normalized", "=", e)])
            for e in ("ada@example.com", "bob@example.com", "carol@example.com")
        )
        self.confirm(self.confirm_path(self.mails()))
        (ada | bob).expires_at = fields.Datetime.now() - timedelta(hours=1)
        self.env.ref("marketing_trigger.ir_cron_subscription_purge").method_direct_trigger()
        self.assertTrue(ada.exists(), "confirmed: kept with its contact")
        self.assertFalse(bob.exists(), "expired and unconfirmed: deleted")
        self.assertTrue(carol.exists(), "still valid")

    def test_api_happy_path(self):
        response = self.api(
            {
                "form": "seminars",
                "email": "Dora@Example.com",
                "name": "Dora Müller",
                "ip": "2001:db8::1",
                "user_agent": HUMAN,
                "consent_text": "Newsletter abonnieren (jederzeit abbestellbar)",
                "lang": "de_DE",
            }
        )
        self.assertEqual((response.status_code, response.json()), (202, {"status": "pending"}))
        self.assertRecordValues(
            self.Request.search([("email_normalized", "=", "dora@example.com")]),
            [
                {
                    "via": "api",
                    "name": "Dora Müller",
                    "ip": "2001:db8::1",
                    "consent_text": "Newsletter abonnieren (jederzeit abbestellbar)",
                }
            ],
        )
        self.assertEqual(len(self.mails("Dora@Example.com")), 1)
        again = self.api({"form": "seminars", "email": "dora@example.com"})
        self.assertEqual((again.status_code, again.json()), (202, {"status": "pending"}))
        self.assertEqual(len(self.mails("Dora@Example.com") | self.mails("dora@example.com")), 1)

    @mute_logger("odoo.http")
    def test_api_bad_input_is_refused_and_writes_nothing(self):
        count = self.Request.search_count([])
        good = {"form": "seminars", "email": "eve@example.com"}
        cases = {
            "no key": (good, None, None, 403),
            "wrong key": (good, "x" * len(API_KEY), None, 403),
            "non-ASCII key": (good, "schlüssel", None, 403),
            "unknown form": (dict(good, form="nope"), API_KEY, None, 403),
            "form with NUL": (dict(good, form="semi\x00nars"), API_KEY, None, 403),
            "not JSON": (None, API_KEY, b"email=eve@example.com", 403),
            "invalid UTF-8": (None, API_KEY, b'{"form": "seminars", "email": "\xff"}', 403),
            "deep JSON": (None, API_KEY, b"[" * 5000 + b"]" * 5000, 403),
            "no email": ({"form": "seminars"}, API_KEY, None, 400),
            "bad email": (dict(good, email="eve@"), API_KEY, None, 400),
            "email not text": (dict(good, email=["eve@example.com"]), API_KEY, None, 400),
            "NUL in name": (dict(good, name="Eve\x00"), API_KEY, None, 400),
            "huge name": (dict(good, name="E" * 10000), API_KEY, None, 400),
            "lone surrogate": (
                None,
                API_KEY,
                b'{"form": "seminars", "email": "eve@example.com", "name": "\\ud800"}',
                400,
            ),
            "bad IP": (dict(good, ip="999.1.1.1"), API_KEY, None, 400),
            "too large": (dict(good, name="x" * 20000), API_KEY, None, 413),
        }
        for name, (payload, key, raw, status) in cases.items():
            with self.subTest(name):
                response = self.api(payload, key=key, raw=raw)
                self.assertEqual(response.status_code, status)
                if status != 413:  # werkzeug may refuse the body before the route runs
                    self.assertIn("error", response.json())
        self.assertEqual(self.Request.search_count([]), count)
        self.assertFalse(self.mails("eve@example.com"))

    @mute_logger("odoo.http")
    def test_form_bad_input_never_fails(self):
        cases = {
            "no consent": ({"consent": None}, 400),
            "invalid email": ({"email": "not an address"}, 400),
            "NUL in email": ({"email": "eve\x00@example.com"}, 400),
            "NUL in name": ({"name": "Eve\x00"}, 400),
            "huge name": ({"name": "E" * 5000}, 400),
            "bot filled the honeypot": ({"website": "http://spam.example"}, 200),
        }
        for name, (changes, status) in cases.items():
            with self.subTest(name):
                values = dict({"email": "eve@example.com", "name": "Eve"}, **changes)
                response = self.subscribe(**values)
                self.assertEqual(response.status_code, status)
        self.assertFalse(self.Request.search([]), "nothing recorded")
        # Non-ASCII is fine.
        self.subscribe("jürgen@müller.example", "Jürgen Müller")
        self.assertEqual(self.Request.search([]).name, "Jürgen Müller")
        for slug in ("nope", "semi%00nars", "x" * 300, "%C3%BC"):
            with self.subTest(slug=slug):
                self.assertEqual(self.url_open(f"/mt/subscribe/{slug}").status_code, 404)
        # Without the page's CSRF token a POST is refused.
        response = self.url_open(
            "/mt/subscribe/seminars", data={"email": "eve@example.com", "consent": "on"}
        )
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.Request.search_count([]), 1)

    def test_options_runs_nothing(self):
        self.subscribe()
        path = self.confirm_path(self.mails())
        before = (
            self.written(),
            self.Request.search_count([]),
            len(self.env["mail.mail"].search([])),
        )
        for url, allowed in (
            ("/mt/subscribe/seminars", {"GET", "POST", "OPTIONS"}),
            ("/mt/api/subscribe", {"POST", "OPTIONS"}),
            (path, {"GET", "POST", "OPTIONS"}),
        ):
            with self.subTest(url):
                response = self.opener.request("OPTIONS", self.url(url), timeout=20)
                self.assertEqual(response.status_code, 204)
                self.assertEqual({m.strip() for m in response.headers["Allow"].split(",")}, allowed)
                self.assertFalse(response.content)
        after = (
            self.written(),
            self.Request.search_count([]),
            len(self.env["mail.mail"].search([])),
        )
        self.assertEqual(after, before)
