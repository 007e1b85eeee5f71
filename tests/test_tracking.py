import re
from datetime import timedelta

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import HttpCase, tagged

from ..models.marketing_trigger_tracking import href_url
from .common import MarketingTriggerCase

HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


@tagged("post_install", "-at_install")
class TestTracking(MarketingTriggerCase, HttpCase):
    """Tracked links, open pixel and one-click unsubscribe, over real HTTP."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.template = cls.welcome.mail_template_id
        cls.template.body_html = (
            '<p>Hello <t t-out="object.name"/>, see '
            '<a href="https://seminars.example.com/hamburg?utm=mail">our seminars</a> and '
            "<a href='https://example.com/'>us</a> or write to "
            '<a href="mailto:team@example.com">team</a>.</p>'
            '<p><a href="/mt/preferences">Your preferences</a></p>'
        )
        cls.clicked = cls.env["marketing.trigger"].create(
            {
                "name": "Interested in seminars",
                "kind": "link_clicked",
                "source_trigger_id": cls.welcome.id,
                "channel": "phone",
                "message_class": "service",
                "activity_user_id": cls.env.ref("base.user_admin").id,
                "activity_summary": "{{ partner.name }} clicked a seminar link",
            }
        )
        cls.clicked.action_activate()

    def sent_email(self, name="Ada Lovelace", email="ada@example.com"):
        partner = self.make_partner(
            name,
            email,
            user_id=self.salesperson.id,
            mobile="+49 171 2345678",
            country_id=self.env.ref("base.de").id,
        )
        self.dispatch()
        delivery = self.decisions(partner).delivery_ids
        delivery.sent_at = fields.Datetime.now() - timedelta(hours=1)
        (outgoing,) = delivery.mail_id._prepare_outgoing_list()
        return partner, delivery, outgoing

    def get(self, url, agent=HUMAN, method="GET"):
        return self.opener.request(
            method,
            self.base_url() + url if url.startswith("/") else url,
            headers={"User-Agent": agent},
            allow_redirects=False,
            timeout=20,
        )

    def post_address(self, delivery, **changes):
        """Correct the delivery address on its page (to a valid address by default)."""
        data = {"correct": "1", "street": "Neuer Weg 5", "zip": "24103", "city": "Kiel"}
        return self.opener.post(
            delivery._address_url(),
            data={**data, "country_code": "DE", **changes},
            allow_redirects=False,
            timeout=20,
        )

    def links(self, body):
        return re.findall(r'href=["\'](http[^"\']+/mt/c/[^"\']+)["\']', body)

    def test_links_are_signed_and_redirect_only_to_the_stored_url(self):
        partner, delivery, outgoing = self.sent_email()
        body = outgoing["body"]
        seminar, home = self.links(body)
        self.assertIn("mailto:team@example.com", body, "mailto links are left alone")
        self.assertIn(f"/mt/o/{delivery.id}/", body, "an open pixel is added")
        response = self.get(seminar)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(
            response.headers["Location"], "https://seminars.example.com/hamburg?utm=mail"
        )
        engagement = delivery.engagement_ids
        self.assertRecordValues(
            engagement, [{"kind": "click", "user_agent_class": "human", "is_machine": False}]
        )
        self.assertEqual(engagement.link_id.url, "https://seminars.example.com/hamburg?utm=mail")
        self.assertTrue(delivery.clicked_at)
        self.assertTrue(delivery.opened_at, "a click proves the email was opened")
        # The click fires the engagement trigger: the salesperson gets the activity.
        self.process_events()
        self.dispatch()
        activity = self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        )
        self.assertEqual(activity.summary, "Ada Lovelace clicked a seminar link")
        self.assertEqual(activity.user_id, self.salesperson)

    def test_forged_truncated_moved_and_malformed_tokens_are_refused(self):
        _partner, delivery, outgoing = self.sent_email()
        other_partner, other, other_outgoing = self.sent_email("Grace Hopper", "grace@example.com")
        seminar = self.links(outgoing["body"])[0]
        path = seminar.split(self.base_url(), 1)[1]
        _mt, _c, delivery_id, link_id, token = path.strip("/").split("/")
        other_token = self.links(other_outgoing["body"])[0].rsplit("/", 1)[1]
        cases = {
            "forged": f"/mt/c/{delivery_id}/{link_id}/{'A' * 22}",
            "truncated": f"/mt/c/{delivery_id}/{link_id}/{token[:-3]}",
            "another partner's token": f"/mt/c/{delivery_id}/{link_id}/{other_token}",
            "moved to another delivery": f"/mt/c/{other.id}/{link_id}/{token}",
            "another link": f"/mt/c/{delivery_id}/{int(link_id) + 1}/{token}",
            "unknown delivery": f"/mt/c/999999/{link_id}/{token}",
            "garbage": f"/mt/c/{delivery_id}/{link_id}/%00%ff'--",
            "open redirect attempt": f"/mt/c/{delivery_id}/{link_id}/{token}?url=https://evil.example",
        }
        for label, url in cases.items():
            with self.subTest(label):
                response = self.get(url)
                if label == "open redirect attempt":
                    self.assertEqual(response.status_code, 303)
                    self.assertNotIn("evil", response.headers["Location"])
                    continue
                self.assertEqual(response.status_code, 404)
                self.assertIn("not valid", response.text)
        self.assertEqual(len(delivery.engagement_ids), 1, "only the genuine click counted")
        self.assertFalse(other.engagement_ids)

    def test_open_pixel_is_always_a_gif_and_records_only_valid_opens(self):
        _partner, delivery, outgoing = self.sent_email()
        pixel = re.search(r'<img src="([^"]+/mt/o/[^"]+)"', outgoing["body"]).group(1)
        for url in (pixel, pixel.replace(".gif", "x.gif"), f"/mt/o/{delivery.id}/nope.gif"):
            response = self.get(url)
            self.assertEqual(response.status_code, 200)
            self.assertEqual(response.headers["Content-Type"], "image/gif")
            self.assertTrue(response.content.startswith(b"GIF89a"))
        self.assertEqual(len(delivery.engagement_ids), 1)
        self.assertTrue(delivery.opened_at)

    def test_machine_opens_are_kept_flagged_and_do_not_count(self):
        _partner, delivery, outgoing = self.sent_email()
        pixel = re.search(r'<img src="([^"]+/mt/o/[^"]+)"', outgoing["body"]).group(1)
        self.get(pixel, agent="Mozilla/5.0")  # Apple Mail Privacy Protection
        self.get(pixel, agent="Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
        self.get(self.links(outgoing["body"])[0], method="HEAD")
        self.assertEqual(
            sorted(delivery.engagement_ids.mapped("user_agent_class")),
            ["apple_mpp", "head", "proxy"],
        )
        self.assertTrue(all(delivery.engagement_ids.mapped("is_machine")))
        self.assertFalse(delivery.opened_at, "a prefetch is not an open")
        # So "not opened within 2 hours" still reaches this contact.
        nudge = self.env["marketing.trigger"].create(
            {
                "name": "Did you see our welcome?",
                "kind": "email_not_opened",
                "source_trigger_id": self.welcome.id,
                "engagement_hours": 2,
                "mail_template_id": self.template.id,
                "message_class": "service",
            }
        )
        nudge.action_activate()
        delivery.sent_at = fields.Datetime.now() - timedelta(hours=2, minutes=5)
        self.env["marketing.trigger"]._cron_evaluate_time_triggers()
        self.assertEqual(self.decisions(delivery.partner_id, nudge).outcome, "send")

    def test_one_click_unsubscribe_rfc_8058(self):
        partner, delivery, outgoing = self.sent_email()
        headers = outgoing["headers"]
        self.assertEqual(headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
        url = headers["List-Unsubscribe"].strip("<>")
        self.assertIn(f"/mt/u/{delivery.id}/", url)
        page = self.get(url)
        self.assertEqual(page.status_code, 200)
        self.assertTrue(partner.marketing_consent_email, "showing the page changes nothing")
        response = self.opener.post(
            url, data={"List-Unsubscribe": "One-Click"}, allow_redirects=False, timeout=20
        )
        self.assertEqual(response.status_code, 200)
        partner.invalidate_recordset()
        self.assertFalse(partner.marketing_consent_email)
        proof = partner.marketing_consent_ids.sorted("id")[-1]
        self.assertRecordValues(proof, [{"is_granted": False, "source": "unsubscribe"}])
        forged = self.opener.post(url[:-2] + "xx", allow_redirects=False, timeout=20)
        self.assertEqual(forged.status_code, 404)
        # Effective at once: the next marketing message is not consented.
        self.assertEqual(self.make_partner("Other", "o@example.com").id > 0, True)
        welcome_again = self.welcome.copy({"name": "Welcome again"})
        welcome_again.action_activate()
        welcome_again._evaluate_again(partner)
        self.assertEqual(self.decisions(partner, welcome_again).reason_code, "no_consent")

    def test_service_messages_carry_no_unsubscribe_header(self):
        self.welcome.message_class = "service"
        _partner, _delivery, outgoing = self.sent_email()
        self.assertNotIn("List-Unsubscribe", outgoing["headers"])

    def test_retention_deletes_old_engagement_and_erasure_removes_it(self):
        partner, delivery, outgoing = self.sent_email()
        self.get(self.links(outgoing["body"])[0])
        old = delivery.engagement_ids
        old.date = fields.Datetime.now() - timedelta(days=181)
        link = old.link_id
        self.assertEqual(self.env["marketing.trigger.engagement"]._cron_retention(), 1)
        self.assertFalse(old.exists())
        link.invalidate_recordset()
        self.assertEqual(link.click_count, 1, "the click is still counted, without details")
        self.assertTrue(delivery.clicked_at, "the delivery keeps what it proved")
        self.get(self.links(outgoing["body"])[0])
        self.assertTrue(delivery.engagement_ids)
        partner.unlink()
        self.assertFalse(self.env["marketing.trigger.engagement"].search([]))

    def test_preference_page_changes_channels_and_topics_at_once(self):
        seminars = self.env["marketing.trigger.topic"].create(
            {"name": "Seminars", "description": "Dates and places of our seminars"}
        )
        offers = self.env["marketing.trigger.topic"].create({"name": "Offers"})
        partner, delivery, outgoing = self.sent_email()
        partner.marketing_consent_sms = True
        url = delivery._preferences_url()
        self.assertIn(url, outgoing["body"], "the template's preference link is personal")
        page = self.get(url)
        self.assertEqual(page.status_code, 200)
        self.assertIn("Dates and places of our seminars", page.text)
        response = self.opener.post(
            url,
            data={"channel_email": "on", f"topic_{offers.id}": "on"},
            allow_redirects=False,
            timeout=20,
        )
        self.assertEqual(response.status_code, 200)
        self.assertIn("Saved", response.text)
        partner.invalidate_recordset()
        self.assertTrue(partner.marketing_consent_email)
        self.assertFalse(partner.marketing_consent_sms, "unticked: withdrawn")
        self.assertEqual(partner.marketing_topic_optout_ids, seminars)
        proof = partner.marketing_consent_ids.filtered(lambda c: c.channel == "sms").sorted("id")[
            -1
        ]
        self.assertRecordValues(proof, [{"is_granted": False, "source": "preference_page"}])
        # Effective at once: a seminar message is suppressed with the reason, an offer is not.
        seminar_trigger = self.welcome.copy({"name": "Seminar news", "topic_id": seminars.id})
        offer_trigger = self.welcome.copy({"name": "Offer", "topic_id": offers.id})
        (seminar_trigger | offer_trigger).action_activate()
        (seminar_trigger | offer_trigger)._evaluate_again(partner)
        self.assertEqual(self.decisions(partner, seminar_trigger).reason_code, "topic_optout")
        self.assertEqual(self.decisions(partner, offer_trigger).outcome, "send")
        forged = self.get(url[:-4] + "AAAA")
        self.assertEqual(forged.status_code, 404)

    def test_address_confirmation_and_correction(self):
        partner, delivery, _outgoing = self.sent_email()
        partner.write(
            {
                "street": "Alte Str. 1",
                "zip": "20095",
                "city": "Hamburg",
                "country_id": self.env.ref("base.de").id,
            }
        )
        url = delivery._address_url()
        page = self.get(url)
        self.assertEqual(page.status_code, 200)
        self.assertIn("Alte Str. 1", page.text)
        bad = self.post_address(delivery, street="", zip="<script>", country_code="XX")
        self.assertEqual(bad.status_code, 400)
        self.assertIn("Please fill this in", bad.text)
        self.assertIn("does not look like a postal code", bad.text)
        self.assertFalse(delivery.address_answered_at, "nothing stored for invalid input")
        good = self.post_address(delivery)
        self.assertEqual(good.status_code, 200)
        shipping = partner.child_ids.filtered(lambda c: c.type == "delivery")
        self.assertRecordValues(
            shipping, [{"street": "Neuer Weg 5", "zip": "24103", "city": "Kiel"}]
        )
        self.assertEqual(partner.street, "Alte Str. 1", "the invoice address is not touched")
        activity = self.env["mail.activity"].search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", partner.id),
                ("summary", "=", "Delivery address corrected by the customer"),
            ]
        )
        self.assertEqual(activity.user_id, self.salesperson)
        self.assertIn("Neuer Weg 5", activity.note)
        again = self.get(url)
        self.assertIn("already have your answer", again.text, "one answer per link")

    def test_address_link_expires_and_belongs_to_one_delivery(self):
        _partner, delivery, _outgoing = self.sent_email()
        _other_partner, other, _other_outgoing = self.sent_email(
            "Grace Hopper", "grace@example.com"
        )
        url = delivery._address_url()
        token = url.rsplit("/", 1)[1]
        self.assertEqual(self.get(f"/mt/a/{other.id}/{token}").status_code, 404)
        delivery.sent_at = fields.Datetime.now() - timedelta(days=15)
        expired = self.get(url)
        self.assertEqual(expired.status_code, 410)
        self.assertIn("expired", expired.text)

    def test_landing_page_shows_content_for_the_partners_city_and_interests(self):
        rhetoric = self.env["marketing.trigger.interest"].create({"name": "Rhetoric"})
        sales = self.env["marketing.trigger.interest"].create({"name": "Sales"})
        self.env["marketing.trigger.landing"].create(
            {
                "name": "Seminars 2027",
                "slug": "seminars-2027",
                "next_url": "https://shop.example.com/seminars",
                "next_label": "Book now",
                "block_ids": [
                    (0, 0, {"title": "Dates in Hamburg", "city": "Hamburg", "sequence": 1}),
                    (0, 0, {"title": "Dates in Munich", "city": "Munich", "sequence": 2}),
                    (0, 0, {"title": "Speak with confidence", "interest_id": rhetoric.id}),
                    (0, 0, {"title": "Closing deals", "interest_id": sales.id}),
                    (0, 0, {"title": "About our trainers"}),
                ],
            }
        )
        self.template.body_html += '<p><a href="/mt/landing/seminars-2027">Seminars</a></p>'
        partner, delivery, outgoing = self.sent_email()
        partner.write({"city": "Hamburg", "marketing_interest_ids": [(6, 0, rhetoric.ids)]})
        url = re.search(r'href="([^"]+/mt/l/seminars-2027/[^"]+)"', outgoing["body"]).group(1)
        page = self.get(url)
        self.assertEqual(page.status_code, 200)
        text = page.text
        for shown in (
            "Dates in Hamburg",
            "Speak with confidence",
            "About our trainers",
            "Book now",
        ):
            self.assertIn(shown, text)
        for hidden in ("Dates in Munich", "Closing deals"):
            self.assertNotIn(hidden, text)
        self.assertLess(text.index("Dates in Hamburg"), text.index("Speak with confidence"))
        self.assertEqual(delivery.engagement_ids.kind, "click", "the visit counts as a click")
        onward = re.search(r'href="(/mt/c/[^"]+)"', text).group(1)
        response = self.get(onward)
        self.assertEqual(response.headers["Location"], "https://shop.example.com/seminars")
        other_partner, other, _out = self.sent_email("Grace Hopper", "grace@example.com")
        moved = url.replace(f"/{delivery.id}/", f"/{other.id}/")
        self.assertEqual(self.get(moved).status_code, 404)

    def test_landing_page_configuration_is_validated(self):
        Landing = self.env["marketing.trigger.landing"]
        with self.assertRaisesRegex(ValidationError, "lowercase"):
            Landing.create({"name": "Bad", "slug": "Bad Slug!"})
        with self.assertRaisesRegex(ValidationError, "http"):
            Landing.create({"name": "Bad", "slug": "bad", "next_url": "javascript:alert(1)"})

    def test_no_route_accepts_a_forged_or_moved_token_and_none_answers_500(self):
        self.env["marketing.trigger.landing"].create({"name": "Seminars", "slug": "seminars"})
        _partner, delivery, _outgoing = self.sent_email()
        _other_partner, other, _other_outgoing = self.sent_email(
            "Grace Hopper", "grace@example.com"
        )
        landing = self.env["marketing.trigger.landing"].search([("slug", "=", "seminars")])
        genuine = {
            "unsubscribe": delivery._tracking_urls(self.base_url())[1],
            "preferences": delivery._preferences_url(),
            "address": delivery._address_url(),
            "landing": delivery._landing_url(landing),
        }
        theirs = {
            "unsubscribe": other._tracking_urls(self.base_url())[1],
            "preferences": other._preferences_url(),
            "address": other._address_url(),
            "landing": other._landing_url(landing),
        }
        for route, url in genuine.items():
            base, token = url.rsplit("/", 1)
            variants = {
                "forged": f"{base}/{'A' * 22}",
                "truncated": f"{base}/{token[:-1]}",
                "too long": f"{base}/{token}A",
                "other partner's token": f"{base}/{theirs[route].rsplit('/', 1)[1]}",
                "malformed": f"{base}/%27%22%3Cscript%3E",
                "empty": f"{base}/",
            }
            for label, bad in variants.items():
                with self.subTest(route=route, case=label):
                    response = self.get(bad)
                    self.assertIn(response.status_code, (404,), response.text[:200])
                    if route in ("unsubscribe", "preferences", "address"):
                        post = self.opener.post(bad, data={}, allow_redirects=False, timeout=20)
                        self.assertEqual(post.status_code, 404)
        self.assertTrue(delivery.partner_id.marketing_consent_email, "nothing was changed")
        self.assertFalse(delivery.engagement_ids | other.engagement_ids)

    def test_what_the_customer_types_reaches_the_salesperson_as_text(self):
        partner, delivery, _outgoing = self.sent_email()
        typed = (
            'Weg 5 <a href="https://evil.example/">call</a><img src="https://evil.example/x.gif">'
        )
        response = self.post_address(delivery, street=typed)
        self.assertEqual(response.status_code, 200)
        shipping = partner.child_ids.filtered(lambda c: c.type == "delivery")
        self.assertEqual(shipping.street, typed, "the contact keeps the text as typed")
        activity = self.env["mail.activity"].search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", partner.id),
                ("summary", "=", "Delivery address corrected by the customer"),
            ]
        )
        self.assertNotIn("<a ", activity.note)
        self.assertNotIn("<img", activity.note)
        self.assertIn("Weg 5 &lt;a href=", activity.note, "shown as the text it was")

    def test_links_with_character_references_redirect_where_the_reader_was_sent(self):
        self.template.body_html = (
            '<p><a href="https://shop.example/offer?x=1&amp;y=2&#38;z=3">Offer</a></p>'
        )
        _partner, delivery, outgoing = self.sent_email()
        (offer,) = self.links(outgoing["body"])
        response = self.get(offer)
        self.assertEqual(response.headers["Location"], "https://shop.example/offer?x=1&y=2&z=3")
        self.assertEqual(delivery.engagement_ids.link_id.url, response.headers["Location"])

    def test_href_url_decodes_as_browsers_do_in_attributes(self):
        cases = {
            "https://a.example/?x=1&amp;y=2": "https://a.example/?x=1&y=2",
            "https://a.example/?x=1&#38;y=2&#x26;z=3": "https://a.example/?x=1&y=2&z=3",
            "https://a.example/?a=1&copy=2": "https://a.example/?a=1&copy=2",
            "https://a.example/?a=1&copy;": "https://a.example/?a=1\u00a9",
            "https://a.example/?a=1&ampy=2": "https://a.example/?a=1&ampy=2",
            "https://a.example/?a=1&nosuch;": "https://a.example/?a=1&nosuch;",
            "https://a.example/p&#10;ath": "https://a.example/path",
        }
        for written, url in cases.items():
            with self.subTest(written):
                self.assertEqual(href_url(written), url)
