"""Composing newsletters: drafted and tested without Listmonk, lists segmented with
Odoo's domain editor, landing page links that reach each recipient's own page."""

import re
from datetime import timedelta
from urllib.parse import unquote

from lxml import etree
from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, new_test_user, tagged

from ..listmonk import ListmonkClient
from ..listmonk.testing import FakeListmonk
from .common import MarketingTriggerCase

HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
REF = "{{ .Subscriber.Attribs.odoo_ref }}"
BODY = (
    "<p>Hi {{ .Subscriber.FirstName }},</p>"
    '<p>See <a href="/mt/landing/seminars">the seminars near you</a>, '
    '<a href="https://seminars.example.com/rhetoric">rhetoric</a> and '
    '<a href="/shop">our shop</a>.</p><p><a href="/mt/preferences">Preferences</a></p>'
)


@tagged("post_install", "-at_install")
class TestNewsletterCompose(MarketingTriggerCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.marketer = new_test_user(
            cls.env,
            "mt_marketer",
            groups="base.group_user,marketing_trigger.group_marketing_trigger_user",
            name="Mia Marketing",
            email="mia@example.com",
        )
        cls.landing = cls.env["marketing.trigger.landing"].create(
            {
                "name": "Seminars 2027",
                "slug": "seminars",
                "block_ids": [
                    fields.Command.create({"title": "Dates in Hamburg", "city": "Hamburg"}),
                    fields.Command.create({"title": "Dates in Munich", "city": "Munich"}),
                ],
            }
        )

    def get(self, url):
        url = self.base_url() + url if url.startswith("/") else url
        return self.opener.get(
            url, headers={"User-Agent": HUMAN}, allow_redirects=False, timeout=20
        )

    def test_a_newsletter_is_drafted_and_test_sent_without_listmonk(self):
        self.env["marketing.listmonk.server"].search([]).unlink()
        self.marketer.partner_id.city = "München"
        campaign = (
            self.env["marketing.listmonk.campaign"]
            .with_user(self.marketer)
            .create({"name": "March", "subject": "Seminars in March", "body_html": BODY})
        )
        self.assertFalse(campaign.server_id)
        self.assertEqual(campaign.company_id, self.env.company)
        result = campaign.action_send_test()
        self.assertEqual(result["params"]["type"], "success", result["params"]["message"])
        mail = self.env["mail.mail"].search([("email_to", "ilike", "mia@example.com")])
        self.assertEqual(mail.state, "sent")
        self.assertEqual(mail.subject, "[Test] Seminars in March")
        body = mail.body_html
        self.assertIn("Hi Mia,", body)
        self.assertNotIn("/mt/n/", body, "a test records nothing")
        base = self.base_url()
        hrefs = re.findall(r'href="([^"]+)"', body)
        self.assertEqual(len(hrefs), 4)
        for href in hrefs:
            self.assertTrue(href.startswith(("http://", "https://")), href)
        self.assertIn(f"{base}/shop", hrefs)
        self.assertIn("https://seminars.example.com/rhetoric", hrefs)
        landing_url = next(h for h in hrefs if "/mt/landing/" in h)
        preferences = hrefs[-1]
        # The links work for the marketer who got the test.
        self.authenticate("mt_marketer", "mt_marketer")
        page = self.get(landing_url)
        self.assertEqual(page.status_code, 200)
        self.assertIn("Dates in Munich", page.text, "her own city's block, as München")
        self.assertNotIn("Dates in Hamburg", page.text)
        self.assertIn("Mia Marketing", page.text)
        self.assertEqual(self.get(preferences).status_code, 200)
        # Sending to lists is what needs Listmonk.
        manager = new_test_user(
            self.env,
            "mt_manager_nl",
            groups="base.group_user,marketing_trigger.group_marketing_trigger_manager",
        )
        campaign.invalidate_recordset()
        with self.assertRaisesRegex(UserError, "Listmonk server"):
            campaign.with_user(manager).action_send()
        self.assertEqual(campaign.state, "draft")

    def test_the_list_segment_is_edited_with_the_domain_editor(self):
        views = self.env["marketing.listmonk.list"].get_views([(False, "form")])
        arch = etree.fromstring(views["views"]["form"]["arch"])
        (field,) = arch.xpath("//field[@name='domain']")
        self.assertEqual(field.get("widget"), "domain")
        self.assertIn("'model': 'res.partner'", field.get("options"))

    def test_a_landing_link_in_a_newsletter_lands_on_the_recipients_own_page(self):
        fake = FakeListmonk()
        fake.__enter__()
        self.addCleanup(fake.__exit__, None, None, None)
        client = ListmonkClient(fake.base_url, fake.username, fake.token, timeout=5)
        self.addCleanup(client.close)
        tag = self.env["res.partner.category"].create({"name": "Newsletter test"})
        server = self.env["marketing.listmonk.server"].create(
            {
                "url": fake.base_url,
                "api_user": fake.username,
                "api_token": fake.token,
                "timeout": 2,
                "list_ids": [
                    fields.Command.create(
                        {"name": "All", "domain": f"[('category_id', 'in', [{tag.id}])]"}
                    )
                ],
            }
        )
        ada = self.make_partner("Ada Lovelace", "ada@example.com", city="MUENCHEN")
        ada.category_id = tag
        server._sync(full=True)
        campaign = self.env["marketing.listmonk.campaign"].create(
            {
                "name": "March",
                "subject": "Seminars",
                "body_html": BODY,
                "server_id": server.id,
                "list_ids": [fields.Command.set(server.list_ids.ids)],
            }
        )
        campaign.action_send()
        self.env["marketing.listmonk.outbox"]._cron_process()
        self.assertEqual(campaign.state, "sent")
        delivery = self.Delivery.search([("trigger_id", "=", campaign.trigger_id.id)])
        self.assertEqual(delivery.partner_id, ada)
        delivery.sent_at = fields.Datetime.now() - timedelta(minutes=5)
        # What Listmonk sends Ada: the body it holds, with her ref.
        body = unquote(client.get_campaign(campaign.listmonk_campaign_id).body)
        self.assertNotIn('href="/mt/landing/', body, "no relative link goes out")
        ref = server._ref(ada.id)
        links = [url.replace(REF, ref) for url in re.findall(r'href="([^"]+/mt/n/[^"]+)"', body)]
        self.assertEqual(len(links), 3, "landing, rhetoric and shop links are all tracked")
        landing_link = next(
            link
            for link in links
            if self.get(link).headers.get("Location", "").count("/mt/l/seminars/")
        )
        self.assertFalse(delivery.engagement_ids, "the redirect itself records nothing")
        location = self.get(landing_link).headers["Location"]
        self.assertTrue(location.startswith(f"{campaign.get_base_url()}/mt/l/seminars/"))
        page = self.get(location)
        self.assertEqual(page.status_code, 200)
        self.assertIn("Hello Ada Lovelace", page.text)
        self.assertIn("Dates in Munich", page.text)
        self.assertNotIn("Preview as", page.text)
        self.assertEqual(delivery.engagement_ids.mapped("kind"), ["click"], "one visit, one click")
        self.assertTrue(delivery.clicked_at)
        # Someone else's ref lands nowhere.
        forged = landing_link.replace(ref, server._ref(ada.id + 1))
        self.assertEqual(self.get(forged).status_code, 404)
