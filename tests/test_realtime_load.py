import re
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..models import marketing_trigger_delivery
from ..models.marketing_trigger_event import EVENT_CHUNK
from .common import MarketingTriggerCase

HUMAN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


@tagged("post_install", "-at_install")
class TestRealtimeLoad(MarketingTriggerCase, HttpCase):
    """A click reaches the salesperson in one event-cron run, and repeat clicks cost
    no trigger work: what keeps "call now" real time when many contacts click."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.mail_template_id.body_html = (
            '<p>Hello, see <a href="https://seminars.example.com/hamburg">our seminars</a> '
            "and <a href='https://example.com/shop'>the shop</a>.</p>"
        )
        cls.call = cls.env["marketing.trigger"].create(
            {
                "name": "Call who clicked",
                "kind": "link_clicked",
                "source_trigger_id": cls.welcome.id,
                "channel": "phone",
                "message_class": "service",
                "activity_summary": "Call {{ partner.name }}: clicked the welcome email",
            }
        )
        cls.call.action_activate()
        cls.Event = cls.env["marketing.trigger.event"]
        cls.event_cron = cls.env.ref("marketing_trigger.ir_cron_process_events")
        cls.dispatch_cron = cls.env.ref("marketing_trigger.ir_cron_dispatch")

    def sent_email(self, name="Ada Lovelace", email="ada@example.com"):
        """A contact of the salesperson who got the Welcome email an hour ago, and the
        tracked links in it."""
        partner = self.make_partner(
            name, email, user_id=self.salesperson.id, mobile="+49 171 2345678"
        )
        self.dispatch()
        delivery = self.decisions(partner).delivery_ids
        delivery.sent_at = fields.Datetime.now() - timedelta(hours=1)
        (outgoing,) = delivery.mail_id._prepare_outgoing_list()
        links = re.findall(r'href=["\'](http[^"\']+/mt/c/[^"\']+)["\']', outgoing["body"])
        return partner, links

    def click(self, url):
        response = self.opener.get(
            url, headers={"User-Agent": HUMAN}, allow_redirects=False, timeout=20
        )
        self.assertEqual(response.status_code, 303)

    def activities(self, partner):
        return self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        )

    def cron_triggers(self, cron):
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

    def test_one_event_run_gives_the_salesperson_the_activity(self):
        partner, (seminar, _shop) = self.sent_email()
        self.click(seminar)
        dispatcher_asked = self.cron_triggers(self.dispatch_cron)
        self.process_events()  # no dispatcher run
        activity = self.activities(partner)
        self.assertRecordValues(
            activity,
            [
                {
                    "user_id": self.salesperson.id,
                    "summary": "Call Ada Lovelace: clicked the welcome email",
                }
            ],
        )
        delivery = self.decisions(partner, self.call).delivery_ids
        self.assertRecordValues(delivery, [{"state": "sent", "activity_id": activity.id}])
        self.assertEqual(
            self.cron_triggers(self.dispatch_cron),
            dispatcher_asked,
            "nothing is left for the dispatcher to do",
        )

    def test_a_repeat_click_queues_no_event_and_logs_no_decision(self):
        partner, (seminar, shop) = self.sent_email()
        self.click(seminar)
        self.process_events()
        decisions = self.Decision.search_count([("partner_id", "=", partner.id)])
        events = self.Event.search_count([])
        wakes = self.cron_triggers(self.event_cron)
        self.click(seminar)
        self.click(shop)
        self.assertEqual(self.Event.search_count([]), events, "no event is queued")
        self.assertEqual(self.cron_triggers(self.event_cron), wakes, "the cron is not woken")
        self.process_events()
        self.assertEqual(
            self.Decision.search_count([("partner_id", "=", partner.id)]),
            decisions,
            "no decision-log row is added",
        )
        self.assertEqual(len(self.activities(partner)), 1, "the salesperson calls once")
        clicks = self.env["marketing.trigger.engagement"].search(
            [("partner_id", "=", partner.id), ("kind", "=", "click")]
        )
        self.assertEqual(len(clicks), 3, "every click is still recorded")

    @mute_logger("odoo.addons.marketing_trigger.models.marketing_trigger_delivery")
    def test_an_activity_that_fails_at_once_is_left_to_the_dispatcher(self):
        partner, (seminar, _shop) = self.sent_email()
        self.click(seminar)
        Activity = type(self.env["mail.activity"])
        original = Activity.create

        def refused(records, vals_list):
            raise RuntimeError("activity refused")

        with patch.object(Activity, "create", refused):
            self.process_events()
        self.assertEqual(self.call.state, "active", "the trigger is not paused")
        self.assertRecordValues(
            self.decisions(partner, self.call), [{"outcome": "send", "reason_code": "send"}]
        )
        delivery = self.decisions(partner, self.call).delivery_ids
        self.assertEqual(delivery.state, "pending")
        self.assertFalse(self.activities(partner))
        with patch.object(Activity, "create", original):
            self.Delivery._cron_dispatch()
        self.assertEqual(delivery.state, "sent")
        self.assertEqual(delivery.activity_id, self.activities(partner))

    def test_a_large_batch_of_calls_goes_to_the_dispatcher(self):
        partner, (seminar, _shop) = self.sent_email()
        self.click(seminar)
        asked = self.cron_triggers(self.dispatch_cron)
        with patch.object(marketing_trigger_delivery, "DISPATCH_NOW_LIMIT", 0):
            self.process_events()
        self.assertFalse(self.activities(partner))
        self.assertGreater(self.cron_triggers(self.dispatch_cron), asked)
        self.Delivery._cron_dispatch()
        self.assertEqual(self.activities(partner).user_id, self.salesperson)

    def test_an_event_run_commits_within_its_time_and_leaves_the_rest_queued(self):
        self.env["res.partner"].create(
            [
                {
                    "name": f"Reader {i}",
                    "email": f"reader{i}@example.com",
                    "marketing_consent_email": True,
                }
                for i in range(30)
            ]
        )
        self.Event._cron_process_events(seconds=0)
        pending = self.Event.search_count([("state", "=", "pending")])
        self.assertEqual(pending, 30 - EVENT_CHUNK, "one chunk, then the run commits")
        self.process_events()
        self.assertFalse(self.Event.search_count([("state", "=", "pending")]))
