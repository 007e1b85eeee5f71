import re
from datetime import timedelta
from unittest.mock import patch
from urllib.parse import unquote

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged

from ..listmonk import ListmonkClient, SubscriberData
from ..listmonk.testing import FakeListmonk
from ..listmonk.testing import _base as fake_base
from ..models import marketing_listmonk_readback as readback_module
from ..models.marketing_trigger_tracking import RETENTION_PARAM
from .common import MarketingTriggerCase

HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"
REF = "{{ .Subscriber.Attribs.odoo_ref }}"


@tagged("post_install", "-at_install")
class TestListmonkBridge(MarketingTriggerCase, HttpCase):
    """Contacts, lists, newsletters and transactional emails through a fake Listmonk on
    127.0.0.1, and what comes back from it."""

    def setUp(self):
        super().setUp()
        self.fake = FakeListmonk()
        self.fake.__enter__()
        self.addCleanup(self.fake.__exit__, None, None, None)
        self.lm = ListmonkClient(self.fake.base_url, self.fake.username, self.fake.token, timeout=5)
        self.addCleanup(self.lm.close)
        self.topic = self.env["marketing.trigger.topic"].create({"name": "Seminars"})
        # The lists hold these tests' contacts only (not the demo data's).
        self.tag = self.env["res.partner.category"].create({"name": "Listmonk test"})
        ours = f"('category_id', 'in', [{self.tag.id}])"
        self.server = self.env["marketing.listmonk.server"].create(
            {
                "url": self.fake.base_url,
                "api_user": self.fake.username,
                "api_token": self.fake.token,
                "timeout": 2,
                "list_ids": [
                    fields.Command.create(
                        {
                            "name": "Hamburg",
                            "domain": f"[('city', '=', 'Hamburg'), {ours}]",
                            "topic_id": self.topic.id,
                        }
                    ),
                    fields.Command.create({"name": "Everyone", "domain": f"[{ours}]"}),
                ],
            }
        )
        self.hamburg, self.everyone = self.server.list_ids
        rhetoric = self.env["marketing.trigger.interest"].create({"name": "Rhetoric"})
        self.ada = self.make_partner(
            "Ada Lovelace",
            "Ada@Example.com",
            city="Hamburg",
            mobile="+49 171 2345678",
            user_id=self.salesperson.id,
            lang="en_US",
            marketing_lifecycle_stage="engaged",
            marketing_interest_ids=[fields.Command.link(rhetoric.id)],
            category_id=self.tag.ids,
        )
        self.bob = self.make_partner(
            "Bob", "bob@example.com", city="Munich", category_id=self.tag.ids
        )
        self.carl = self.make_partner(
            "Carl", "carl@example.com", city="Hamburg", consent=False, category_id=self.tag.ids
        )
        self.dispatch()  # their welcome emails go out through Odoo

    def subscribers(self):
        return {s.email: s for s in self.lm.iter_subscribers()}

    def age_listmonk(self, age):
        """As if every subscriber and subscription had last changed ``age`` earlier."""
        state = self.fake.state
        with state.lock:
            for row in [*state.subscribers.values(), *state.subscriptions.values()]:
                row["updated_at"] -= age

    def lists_of(self, subscriber):
        return {s.list_name for s in subscriber.subscriptions if s.status != "unsubscribed"}

    # ------------------------------------------------------------------ sync

    def test_sync_puts_consenting_segment_members_on_lists_with_their_attributes(self):
        summary = self.server._sync(full=True)
        self.assertIn("created", summary)
        subscribers = self.subscribers()
        self.assertNotIn("carl@example.com", subscribers, "no consent: not on any list")
        ada = subscribers["ada@example.com"]
        self.assertEqual(self.lists_of(ada), {"Hamburg", "Everyone"})
        self.assertEqual(self.lists_of(subscribers["bob@example.com"]), {"Everyone"})
        self.assertEqual(ada.name, "Ada Lovelace")
        self.assertEqual(ada.attribs["odoo_partner_id"], self.ada.id)
        self.assertEqual(ada.attribs["city"], "Hamburg")
        self.assertEqual(ada.attribs["interests"], ["Rhetoric"])
        self.assertEqual(ada.attribs["lifecycle_stage"], "engaged")
        self.assertEqual(ada.attribs["salesperson"], "Sam Sales")
        self.assertEqual(ada.attribs["lang"], "en_US")
        self.assertTrue(ada.attribs["consent_email"])
        self.assertTrue(ada.attribs["odoo_ref"].startswith(f"{self.ada.id}."))
        self.assertTrue(all(s.status == "confirmed" for s in ada.subscriptions))
        link = self.env["marketing.listmonk.subscriber"].search([("partner_id", "=", self.ada.id)])
        self.assertEqual(link.listmonk_id, ada.id)
        self.assertEqual(self.hamburg.member_count, 1)
        self.assertFalse(self.server.retry_at)

    def test_incremental_sync_sends_only_what_changed(self):
        self.server._sync(full=True)
        writes = len(self.fake.calls("PATCH")) + len(self.fake.calls("POST"))
        self.server._sync()
        self.assertEqual(
            len(self.fake.calls("PATCH")) + len(self.fake.calls("POST")),
            writes,
            "nothing changed: no request that writes",
        )
        self.bob.city = "Hamburg"
        self.server._sync()
        patches = self.fake.calls("PATCH")
        self.assertEqual(len(patches), 1, "one PATCH, for Bob only")
        self.assertIn(f"/{self.subscribers()['bob@example.com'].id}", patches[0].path)
        self.assertEqual(
            self.lists_of(self.subscribers()["bob@example.com"]), {"Hamburg", "Everyone"}
        )

    def test_leaving_a_segment_or_withdrawing_consent_takes_the_contact_off_the_list(self):
        self.server._sync(full=True)
        self.ada.city = "Berlin"
        self.bob.marketing_consent_email = False
        self.server._sync()
        subscribers = self.subscribers()
        self.assertEqual(self.lists_of(subscribers["ada@example.com"]), {"Everyone"})
        bob = subscribers["bob@example.com"]
        self.assertEqual({s.status for s in bob.subscriptions}, {"unsubscribed"})
        self.assertFalse(bob.attribs["consent_email"])

    def test_an_outage_in_the_middle_of_a_sync_loses_nothing(self):
        more = self.Partner.create(
            [
                {
                    "name": f"P{i}",
                    "email": f"p{i}@example.com",
                    "marketing_consent_email": True,
                    "category_id": self.tag.ids,
                }
                for i in range(30)
            ]
        )
        self.fake.outage(after=6)
        message = self.server._sync(full=True)
        self.assertIn("Unavailable", message)
        self.assertTrue(self.server.retry_at, "backs off")
        self.assertEqual(self.server.failure_count, 1)
        self.assertIn("Unavailable", self.server.last_error)
        self.assertFalse(self.server.full_sync_at, "the pass did not complete")
        self.assertGreater(self.server.backlog_count, 0)
        # The next run is not due yet; once Listmonk is back it completes the sync.
        self.server._cron_sync()
        self.assertEqual(self.server.failure_count, 1, "waits for the retry time")
        self.fake.clear_faults()
        self.server.retry_at = fields.Datetime.now() - timedelta(seconds=1)
        self.server._cron_sync()
        self.assertFalse(self.server.retry_at)
        subscribers = self.subscribers()
        self.assertEqual(len(subscribers), 32, "everyone once: no duplicate, nobody lost")
        for partner in more:
            self.assertEqual(self.lists_of(subscribers[partner.email]), {"Everyone"})

    def test_a_contact_listmonk_refuses_is_reported_and_the_rest_is_synced(self):
        self.fake.inject(
            method="POST", path="/api/subscribers$", status=400, message="Invalid email."
        )
        self.server._sync(full=True)
        refused = self.env["marketing.listmonk.subscriber"].search([("state", "=", "failed")])
        self.assertEqual(refused.partner_id, self.ada | self.bob)
        self.assertIn("Invalid email", refused[0].error)
        self.assertEqual(self.server.refused_count, 2)

    def test_blocklists_and_unsubscribes_in_listmonk_come_back_as_consent_changes(self):
        self.server._sync(full=True)
        subscribers = self.subscribers()
        self.lm.blocklist_subscribers([subscribers["bob@example.com"].id])
        self.fake.unsubscribe("ada@example.com", self.hamburg.listmonk_id)
        self.server._sync()
        self.assertFalse(self.bob.marketing_consent_email, "blocklisted: consent withdrawn")
        proof = self.bob.marketing_consent_ids.sorted("id")[-1]
        self.assertEqual(proof.source, "listmonk")
        self.assertIn("blocklisted", proof.evidence)
        self.assertTrue(self.ada.marketing_consent_email, "one list left: still consents")
        self.assertIn(self.topic, self.ada.marketing_topic_optout_ids, "the list's topic")
        # Nothing new in Listmonk: nothing recorded twice.
        proofs = len(self.env["marketing.trigger.consent"].search([]))
        self.server._sync()
        self.assertEqual(len(self.env["marketing.trigger.consent"].search([])), proofs)

    @patch.object(fake_base, "CLOCK_SKEW", -timedelta(hours=1))
    def test_a_listmonk_clock_behind_odoos_loses_no_blocklist(self):
        dora = self.make_partner("Dora", "dora@example.com", category_id=self.tag.ids)
        self.server._sync(full=True)
        subscribers = self.subscribers()
        self.lm.blocklist_subscribers([subscribers["dora@example.com"].id])
        self.server._sync()
        self.assertFalse(dora.marketing_consent_email)
        # Listmonk stamps Bob's blocklisting an hour behind Odoo's clock: still read.
        self.lm.blocklist_subscribers([subscribers["bob@example.com"].id])
        self.server._sync()
        self.assertFalse(self.bob.marketing_consent_email, "blocklisted: consent withdrawn")

    def test_hard_bounces_and_complaints_blacklist_the_address_in_odoo(self):
        self.server._sync(full=True)
        self.lm.record_bounce("hard", "smtp", email="ada@example.com")
        self.lm.record_bounce("soft", "smtp", email="bob@example.com")
        self.server._sync()
        Blacklist = self.env["mail.blacklist"]
        self.assertTrue(Blacklist.search([("email", "=", "ada@example.com")]))
        self.assertFalse(Blacklist.search([("email", "=", "bob@example.com")]), "soft: Listmonk's")
        self.assertEqual(self.server.bounce_cursor, max(b.id for b in self.lm.iter_bounces()))

    @patch.object(readback_module, "BOUNCE_PAGE", 50)  # as with 500 a page, but quicker
    def test_every_bounce_since_the_last_pass_is_read_back_page_after_page(self):
        self.server._sync(full=True)
        emails = [f"bounced{i}@example.com" for i in range(120)]
        self.lm.import_subscribers([SubscriberData(e) for e in emails], [self.everyone.listmonk_id])
        for email in emails:  # more than two pages of bounces between two passes
            self.lm.record_bounce("hard", "smtp", email=email)
        self.server._sync()
        Blacklist = self.env["mail.blacklist"]
        self.assertEqual(Blacklist.search_count([("email", "in", emails)]), 120)
        # The next pass reads back to the cursor, not every bounce Listmonk ever had.
        self.make_partner("Late", "late@example.com", category_id=self.tag.ids)
        self.server._sync()
        self.lm.record_bounce("complaint", "smtp", email="late@example.com")
        pages = len(self.fake.calls("GET", "/api/bounces$"))
        self.server._sync()
        self.assertTrue(Blacklist.search([("email", "=", "late@example.com")]))
        self.assertEqual(len(self.fake.calls("GET", "/api/bounces$")), pages + 1)

    def test_a_bounce_that_blocklists_in_listmonk_withdraws_consent_with_a_proof(self):
        """Listmonk's bounce blocklists without touching the subscriber's updated_at:
        the read-back of changed subscribers cannot see it, the bounces can."""
        self.server._sync(full=True)
        self.age_listmonk(timedelta(hours=1))  # the bounce comes long after the last change
        self.lm.record_bounce("hard", "smtp", email="bob@example.com")
        self.assertTrue(self.subscribers()["bob@example.com"].is_blocklisted)
        self.server._sync()
        self.assertFalse(self.bob.marketing_consent_email)
        proof = self.bob.marketing_consent_ids.sorted("id")[-1]
        self.assertEqual((proof.source, proof.is_granted), ("listmonk", False))
        self.assertIn("blocklisted", proof.evidence)
        self.assertTrue(self.ada.marketing_consent_email, "only Bob bounced")
        proofs = self.env["marketing.trigger.consent"].search_count([])
        self.server._sync()
        self.assertEqual(self.env["marketing.trigger.consent"].search_count([]), proofs)

    def test_a_contact_deleted_in_odoo_is_erased_in_listmonk(self):
        self.server._sync(full=True)
        self.ada.unlink()
        self.assertIn("ada@example.com", self.subscribers(), "not inside the deletion")
        self.env["marketing.listmonk.outbox"]._cron_process()
        self.assertNotIn("ada@example.com", self.subscribers())
        self.assertIn("bob@example.com", self.subscribers())

    def test_bad_configuration_is_refused_at_save(self):
        with self.assertRaisesRegex(ValidationError, "segment of list 'Broken' is not valid"):
            self.env["marketing.listmonk.list"].create(
                {"name": "Broken", "server_id": self.server.id, "domain": "[('nope', '=', 1)]"}
            )
        with self.assertRaisesRegex(ValidationError, "Newsletter channel"):
            self.welcome.channel = "newsletter"
        self.welcome.invalidate_recordset()
        with self.assertRaisesRegex(ValidationError, "transactional template"):
            self.welcome.write({"email_transport": "listmonk", "listmonk_template_id": 0})

    # ------------------------------------------------------------ newsletter

    def newsletter(self, **vals):
        return self.env["marketing.listmonk.campaign"].create(
            {
                "name": "Seminars in March",
                "subject": "Our seminars",
                "body_html": '<p>Hi {{ .Subscriber.FirstName }}, see <a href="https://seminars.example.com/rhetoric">rhetoric</a>.</p>'
                '<p><a href="/mt/preferences">Preferences</a></p>',
                "list_ids": [fields.Command.set(self.hamburg.ids)],
                "server_id": self.server.id,
                **vals,
            }
        )

    def get(self, url, agent=HUMAN):
        url = self.base_url() + url if url.startswith("/") else url
        return self.opener.get(
            url, headers={"User-Agent": agent}, allow_redirects=False, timeout=20
        )

    def tracked(self, campaign):
        """(click URLs, open pixel URL) of the campaign Listmonk holds, templated."""
        body = unquote(self.lm.get_campaign(campaign.listmonk_campaign_id).body)
        links = re.findall(r'href="([^"]+/mt/n/[^"]+)"', body)
        (pixel,) = re.findall(r'src="([^"]+/mt/no/[^"]+)"', body)
        return links, pixel

    def written(self):
        """How many engagement rows, deliveries and decisions exist."""
        return tuple(
            self.env[model].sudo().search_count([])
            for model in (
                "marketing.trigger.engagement",
                "marketing.trigger.delivery",
                "marketing.trigger.decision",
            )
        )

    def send_now(self, *campaigns):
        for campaign in campaigns:
            campaign.action_send()
        self.env["marketing.listmonk.outbox"]._cron_process()

    def sent_minutes_ago(self, *campaigns):
        """Clicks seconds after sending are a scanner's: let the newsletters age."""
        triggers = [campaign.trigger_id.id for campaign in campaigns]
        self.Delivery.search([("trigger_id", "in", triggers)]).sent_at = (
            fields.Datetime.now() - timedelta(minutes=5)
        )

    def test_newsletter_links_are_tracked_per_partner_and_fire_triggers_at_once(self):
        self.server._sync(full=True)
        campaign = self.newsletter()
        campaign.action_send()
        self.assertEqual(campaign.state, "queued", "handed to the outbox, not sent inline")
        self.env["marketing.listmonk.outbox"]._cron_process()
        self.assertEqual(campaign.state, "sent")
        remote = self.lm.get_campaign(campaign.listmonk_campaign_id)
        self.assertEqual(remote.status, "running")
        self.assertEqual([lst.id for lst in remote.lists], [self.hamburg.listmonk_id])
        (link,), pixel = self.tracked(campaign)
        self.assertTrue(link.endswith(REF))
        self.assertIn('href="{{ ManageURL }}"', remote.body)
        self.assertTrue(pixel.endswith(f"{REF}.gif"))
        # In Listmonk's ledger terms: one delivery and one touch per recipient.
        delivery = self.Delivery.search([("trigger_id", "=", campaign.trigger_id.id)])
        self.assertEqual(delivery.partner_id, self.ada)
        self.assertEqual(delivery.touch_ids.source, "newsletter")
        self.assertEqual(campaign.recipient_count, 1)
        # What Listmonk sends Ada: her ref in the link.
        interested = self.env["marketing.trigger"].create(
            {
                "name": "Call about rhetoric",
                "kind": "link_clicked",
                "source_trigger_id": campaign.trigger_id.id,
                "channel": "phone",
                "message_class": "service",
                "activity_summary": "{{ partner.name }} clicked the newsletter",
            }
        )
        interested.action_activate()
        delivery.sent_at = fields.Datetime.now() - timedelta(minutes=5)
        ada_ref = self.subscribers()["ada@example.com"].attribs["odoo_ref"]
        url = link.replace(REF, ada_ref)
        response = self.get(url)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(response.headers["Location"], "https://seminars.example.com/rhetoric")
        self.assertTrue(delivery.clicked_at)
        self.process_events()
        self.Delivery._cron_dispatch()
        activity = self.env["mail.activity"].search([("res_id", "=", self.ada.id)])
        self.assertIn("Ada Lovelace clicked the newsletter", activity.mapped("summary"))
        self.assertEqual(campaign.clicked_count, 1)
        # A forged or someone else's ref does nothing and redirects nowhere.
        bob_id = str(self.bob.id)
        for bad in (ada_ref.replace(str(self.ada.id), bob_id, 1), ada_ref[:-2], "x", f"{bob_id}."):
            forged = link.replace(REF, bad)
            self.assertEqual(self.get(forged).status_code, 404, bad)
        answer = self.get(pixel.replace(REF, ada_ref[:-3]))
        self.assertEqual(answer.headers["Content-Type"], "image/gif")
        # Bob got it from Listmonk although Odoo did not list him (added there by hand):
        # his open is his, on a delivery made for it.
        self.env.cr.execute(
            "UPDATE marketing_trigger SET create_date = now() - interval '1 hour' WHERE id = %s",
            [campaign.trigger_id.id],
        )
        campaign.trigger_id.invalidate_recordset()
        bob_ref = self.env["marketing.listmonk.server"]._ref(self.bob.id)
        answer = self.get(pixel.replace(REF, bob_ref))
        self.assertEqual(answer.headers["Content-Type"], "image/gif")
        bob_delivery = self.Delivery.search(
            [("trigger_id", "=", campaign.trigger_id.id), ("partner_id", "=", self.bob.id)]
        )
        self.assertTrue(bob_delivery.opened_at)
        self.assertEqual(campaign.opened_count, 2)

    def test_a_newsletter_link_works_only_for_its_own_newsletter(self):
        self.server._sync(full=True)
        first = self.newsletter()
        second = self.newsletter(
            name="Courses",
            body_html='<p><a href="https://courses.example.com/english">English</a></p>',
        )
        self.send_now(first, second)
        self.sent_minutes_ago(first, second)
        ref = self.subscribers()["ada@example.com"].attribs["odoo_ref"]
        (first_link,), first_pixel = self.tracked(first)
        (second_link,), second_pixel = self.tracked(second)
        base, t1, l1, sig1, _ref = first_link.rsplit("/", 4)
        _base, t2, l2, sig2, _ref = second_link.rsplit("/", 4)
        before = self.written()
        forged = {
            "its signature on another newsletter": f"{base}/{t2}/{l1}/{sig1}/{ref}",
            "another newsletter's link": f"{base}/{t1}/{l2}/{sig1}/{ref}",
            "an unknown link": f"{base}/{t1}/999999/{sig1}/{ref}",
            "another newsletter's signature": f"{base}/{t1}/{l1}/{sig2}/{ref}",
            "the unsigned form, another newsletter's link": f"{base}/{t1}/{l2}/{ref}",
            "the unsigned form, an unknown link": f"{base}/{t1}/999999/{ref}",
        }
        for why, url in forged.items():
            with self.subTest(why):
                self.assertEqual(self.get(url).status_code, 404)
        pixel = first_pixel.replace(f"/{t1}/", f"/{t2}/").replace(REF, ref)
        self.assertEqual(self.get(pixel).headers["Content-Type"], "image/gif")
        self.assertEqual(self.get(f"{base[:-2]}/no/{t2}/{ref}.gif").status_code, 200)
        self.assertEqual(self.written(), before, "nothing recorded, nobody's delivery made")
        # Links of newsletters sent before links were signed still take the reader
        # where they lead, recording nothing.
        answer = self.get(f"{base}/{t1}/{l1}/{ref}")
        self.assertEqual(answer.status_code, 303)
        self.assertEqual(answer.headers["Location"], "https://seminars.example.com/rhetoric")
        self.assertEqual(self.written(), before)
        # The real links are recorded, each on its own newsletter.
        for link, pixel, campaign in (
            (first_link, first_pixel, first),
            (second_link, second_pixel, second),
        ):
            self.assertEqual(self.get(link.replace(REF, ref)).status_code, 303)
            self.get(pixel.replace(REF, ref))
            campaign.invalidate_recordset()
            self.assertEqual((campaign.clicked_count, campaign.opened_count), (1, 1))

    def test_an_old_newsletter_still_redirects_but_records_nothing(self):
        self.server._sync(full=True)
        campaign = self.newsletter()
        self.send_now(campaign)
        ref = self.subscribers()["ada@example.com"].attribs["odoo_ref"]
        (link,), pixel = self.tracked(campaign)
        self.env["ir.config_parameter"].sudo().set_param(RETENTION_PARAM, "30")
        self.assertEqual(self.get(link.replace(REF, ref)).status_code, 303)
        recorded = self.written()
        campaign.sent_at = fields.Datetime.now() - timedelta(days=31)
        answer = self.get(link.replace(REF, ref))
        self.assertEqual(answer.status_code, 303, "the reader still gets there")
        self.assertEqual(answer.headers["Location"], "https://seminars.example.com/rhetoric")
        self.assertEqual(self.get(pixel.replace(REF, ref)).status_code, 200)
        bob_ref = self.env["marketing.listmonk.server"]._ref(self.bob.id)
        self.assertEqual(self.get(link.replace(REF, bob_ref)).status_code, 303)
        self.assertEqual(self.written(), recorded, "past the retention period: not recorded")
        self.assertEqual(campaign.opened_count, 0)

    def test_a_newsletter_whose_list_was_deleted_in_listmonk_is_not_started(self):
        """Listmonk drops unknown list IDs silently: the campaign would go to nobody
        while Odoo counts every contact of the list as a recipient."""
        self.server._sync(full=True)
        deleted = self.hamburg.listmonk_id
        self.lm.delete_list(deleted)
        campaign = self.newsletter()
        self.send_now(campaign)
        self.assertEqual(campaign.state, "failed")
        self.assertIn("Hamburg", campaign.last_error)
        self.assertIn("no longer", campaign.last_error)
        self.assertFalse(
            [c for c in self.lm.iter_campaigns() if c.status != "draft"], "nothing started"
        )
        self.assertEqual(campaign.recipient_count, 0)
        # The list is made again in Listmonk, and the next pass puts its contacts back.
        self.assertNotEqual(self.hamburg.listmonk_id, deleted)
        self.assertIn(self.hamburg.listmonk_id, [m.id for m in self.lm.iter_lists()])
        self.server._cron_sync()
        self.assertEqual(
            self.lists_of(self.subscribers()["ada@example.com"]), {"Hamburg", "Everyone"}
        )
        self.send_now(campaign)
        self.assertEqual(campaign.state, "sent")
        remote = self.lm.get_campaign(campaign.listmonk_campaign_id)
        self.assertEqual((remote.status, remote.list_ids), ("running", (self.hamburg.listmonk_id,)))
        self.assertEqual(campaign.recipient_count, 1)

    def test_a_newsletter_waits_out_an_outage_and_is_created_once(self):
        self.server._sync(full=True)
        campaign = self.newsletter(send_at=fields.Datetime.now() + timedelta(days=1))
        campaign.action_send()
        self.fake.outage()
        Outbox = self.env["marketing.listmonk.outbox"]
        Outbox._cron_process()
        row = Outbox.search([("campaign_id", "=", campaign.id)])
        self.assertEqual(row.state, "pending")
        self.assertEqual(row.attempts, 1)
        self.assertGreater(row.next_attempt_at, fields.Datetime.now())
        self.assertIn("Unavailable", row.last_error)
        self.assertEqual(self.server.outbox_pending_count, 1)
        # Back, but the answer to the creation is lost: found again by its tag, not duplicated.
        self.fake.clear_faults()
        self.fake.inject(method="POST", path="/api/campaigns$", status=503, apply=True, times=1)
        row.next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
        Outbox._cron_process()
        row.next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
        Outbox._cron_process()
        self.assertEqual(row.state, "done")
        self.assertEqual(campaign.state, "scheduled")
        campaigns = list(self.lm.iter_campaigns())
        self.assertEqual(len(campaigns), 1)
        self.assertEqual(campaigns[0].status, "scheduled")

    def test_a_newsletter_needs_lists_and_a_body(self):
        with self.assertRaisesRegex(UserError, "at least one list"):
            self.newsletter(list_ids=False).action_send()
        with self.assertRaisesRegex(UserError, "no body"):
            self.newsletter(body_html=False).action_send()

    # ------------------------------------------------------------ transactional

    def tx_welcome(self):
        template = self.lm.find_template("Sample transactional template", "tx")
        self.welcome.write({"email_transport": "listmonk", "listmonk_template_id": template.id})
        return template

    def test_trigger_emails_can_go_through_listmonk_transactional_sends(self):
        template = self.tx_welcome()
        partner = self.make_partner("Dora", "dora@example.com", city="Kiel")
        self.dispatch()
        delivery = self.decisions(partner).delivery_ids
        self.assertEqual(delivery.state, "sending", "handed to the outbox")
        self.env["marketing.listmonk.outbox"]._cron_process()
        self.assertEqual(delivery.state, "sent")
        (message,) = self.fake.outbox
        self.assertEqual(message["template_id"], template.id)
        self.assertEqual(message["to"], "dora@example.com")
        self.assertEqual(message["data"]["partner"]["city"], "Kiel")
        self.assertIn("/mt/p/", message["data"]["links"]["preferences"])
        self.assertTrue(delivery.touch_ids, "counted in the ledger like any email")

    def test_a_transactional_send_with_an_unknown_outcome_is_never_resent_blindly(self):
        self.tx_welcome()
        partner = self.make_partner("Dora", "dora@example.com")
        self.dispatch()
        delivery = self.decisions(partner).delivery_ids
        self.fake.inject(path="/api/tx", delay=3, times=1)  # queued, the answer comes late
        Outbox = self.env["marketing.listmonk.outbox"]
        Outbox._cron_process()
        row = Outbox.search([("delivery_id", "=", delivery.id)])
        self.assertEqual(row.state, "unknown")
        self.assertEqual(delivery.state, "unknown")
        self.assertIn("not resent automatically", delivery.failure_reason)
        self.assertTrue(delivery.touch_ids, "it may have gone out: still counted")
        Outbox._cron_process()
        self.assertEqual(len(self.fake.outbox), 1, "not retried by the cron")
        row.action_retry()
        Outbox._cron_process()
        self.assertEqual(delivery.state, "sent")
        self.assertEqual(len(self.fake.outbox), 2, "sent again on a person's decision")

    def test_a_transactional_send_waits_for_listmonk_and_a_refusal_fails_it(self):
        self.tx_welcome()
        partner = self.make_partner("Dora", "dora@example.com")
        self.dispatch()
        delivery = self.decisions(partner).delivery_ids
        self.fake.stop()  # nothing listens: nothing was sent, safe to retry
        Outbox = self.env["marketing.listmonk.outbox"]
        Outbox._cron_process()
        row = Outbox.search([("delivery_id", "=", delivery.id)])
        self.assertEqual((row.state, delivery.state), ("pending", "sending"))
        self.fake.start()
        self.server.url = self.fake.base_url
        self.welcome.listmonk_template_id = 999
        row.payload = dict(row.payload, template_id=999)
        row.next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
        Outbox._cron_process()
        self.assertEqual(row.state, "failed")
        self.assertEqual(delivery.state, "failed")
        self.assertIn("template 999 not found", delivery.failure_reason)

    def test_sync_now_runs_in_the_background_and_users_compose_without_the_token(self):
        self.server.full_sync_at = fields.Datetime.now()
        cron = self.env.ref("marketing_trigger.ir_cron_listmonk_sync")
        before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self.server.action_sync_now()
        self.assertFalse(self.server.full_sync_at, "the next run is a full pass")
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), before + 1
        )
        self.assertFalse(self.fake.calls("POST"), "nothing sent inside the user's request")
        user = new_test_user(
            self.env, "mt_lm_user", groups="marketing_trigger.group_marketing_trigger_user"
        )
        campaign = self.newsletter().with_user(user)
        self.assertEqual(campaign.state, "draft", "users draft")
        with self.assertRaises(AccessError):
            campaign.action_send()  # managers send
        campaign.with_user(self.env.user).action_send()
        self.assertEqual(campaign.state, "queued")
        self.assertFalse(self.fake.calls("POST"), "handed to the outbox, not sent inline")
        with self.assertRaises(AccessError):
            self.server.with_user(user).api_token  # noqa: B018
        with self.assertRaises(AccessError):
            self.server.with_user(user).action_sync_now()
