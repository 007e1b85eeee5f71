import json
import socket
import threading
from unittest.mock import patch
from urllib.parse import urlsplit

from odoo import SUPERUSER_ID, api, sql_db
from odoo.api import Transaction
from odoo.exceptions import AccessError
from odoo.modules.registry import Registry
from odoo.service.model import retrying
from odoo.tests import BaseCase, HttpCase, tagged
from odoo.tests.common import get_db_name
from odoo.tools import mute_logger

from ..models import marketing_trigger_event
from .common import MarketingTriggerCase


@tagged("post_install", "-at_install")
class TestInboundWebhook(MarketingTriggerCase, HttpCase):
    """External systems call a trigger over HTTP with its secret."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.inbound = cls.env["marketing.trigger"].create(
            {
                "name": "Seminar booked in the booking tool",
                "kind": "inbound",
                "channel": "sms",
                "sms_body": "See you in {{ payload.city }} on {{ payload.date }}!",
                "message_class": "service",
            }
        )
        cls.inbound.action_activate()
        cls.secret = cls.inbound.webhook_secret
        cls.customer = cls.make_partner(
            "Ada Lovelace",
            "ada@example.com",
            mobile="+49 171 2345678",
            country_id=cls.env.ref("base.de").id,
            ref="CUST-7",
        )

    def call(self, body, secret=None, trigger=None, raw=None):
        response = self.url_open(
            f"/marketing_trigger/inbound/{(trigger or self.inbound).id}",
            data=raw if raw is not None else json.dumps(body),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {secret}"} if secret is not None else {}),
            },
        )
        return response.status_code, response.json()

    def test_an_authenticated_call_fires_once_per_event_id(self):
        body = {
            "partner": {"email": "ADA@example.com"},
            "event_id": "booking-991",
            "payload": {"city": "Hamburg", "date": "3 March"},
        }
        self.assertEqual(self.call(body, self.secret)[0], 202)
        status, answer = self.call(body, self.secret)
        self.assertEqual((status, answer["status"]), (200, "duplicate"), "retries are safe")
        decision = self.decisions(self.customer, self.inbound)
        self.assertRecordValues(
            decision, [{"outcome": "send", "occurrence_key": "inbound:booking-991"}]
        )
        self.dispatch()
        sms = self.env["sms.sms"].search([("partner_id", "=", self.customer.id)])
        self.assertEqual(sms.body, "See you in Hamburg on 3 March!", "the payload personalises")
        self.assertEqual(sms.number, "+491712345678")

    def test_partner_by_id_and_by_ref(self):
        self.assertEqual(self.call({"partner": {"id": self.customer.id}}, self.secret)[0], 202)
        self.assertEqual(self.call({"partner": {"ref": "CUST-7"}}, self.secret)[0], 202)
        self.assertEqual(len(self.decisions(self.customer, self.inbound)), 2)

    def test_bad_calls_are_refused_with_a_clear_answer(self):
        other = self.inbound.copy({"name": "Other"})
        good = {"partner": {"id": self.customer.id}}
        cases = [
            ("no secret", good, None, None, self.inbound, 403),
            ("wrong secret", good, "x" * 43, None, self.inbound, 403),
            ("truncated secret", good, self.secret[:-1], None, self.inbound, 403),
            ("another trigger's secret", good, self.secret, None, other, 403),
            ("not JSON", None, self.secret, "{partner", self.inbound, 400),
            ("a list", None, self.secret, "[1, 2]", self.inbound, 400),
            ("no partner", {"payload": {}}, self.secret, None, self.inbound, 400),
            ("payload not an object", {**good, "payload": [1]}, self.secret, None, None, 400),
            (
                "unknown contact",
                {"partner": {"email": "nobody@x.org"}},
                self.secret,
                None,
                None,
                404,
            ),
            ("id not a number", {"partner": {"id": "7; DROP"}}, self.secret, None, None, 404),
        ]
        for label, body, secret, raw, trigger, expected in cases:
            with self.subTest(label):
                status, answer = self.call(body, secret, trigger, raw)
                self.assertEqual(status, expected)
                self.assertIn("error", answer)
        self.assertFalse(self.env["marketing.trigger.event"].search([]), "nothing was queued")

    def test_a_paused_trigger_answers_409(self):
        self.inbound.action_pause()
        status, _answer = self.call({"partner": {"id": self.customer.id}}, self.secret)
        self.assertEqual(status, 409)

    def test_the_secret_is_for_managers_only(self):
        user = self.env["res.users"].create(
            {
                "name": "Marketing user",
                "login": "mt_user",
                "groups_id": [
                    (6, 0, [self.env.ref("marketing_trigger.group_marketing_trigger_user").id])
                ],
            }
        )
        trigger = self.inbound.with_user(user)
        with self.assertRaises(AccessError):
            trigger.read(["webhook_secret"])

    def test_what_python_or_postgresql_cannot_hold_is_refused(self):
        deep = "[" * 30000 + "]" * 30000
        nested = {"partner": {"id": self.customer.id}, "payload": {}}
        node = nested["payload"]
        for _depth in range(200):
            node["x"] = {}
            node = node["x"]
        pid = self.customer.id
        raw = {
            "id Infinity": ('{"partner": {"id": Infinity}}', 400),
            "id -Infinity": ('{"partner": {"id": -Infinity}}', 400),
            "id NaN": ('{"partner": {"id": NaN}}', 400),
            "id 1e400": ('{"partner": {"id": 1e400}}', 400),
            "payload 1e400": (f'{{"partner": {{"id": {pid}}}, "payload": {{"x": 1e400}}}}', 400),
            "payload NaN": (f'{{"partner": {{"id": {pid}}}, "payload": {{"x": NaN}}}}', 400),
            "id 5000 digits": ('{"partner": {"id": ' + "9" * 5000 + "}}", 400),
            "deeply nested list": (deep, 400),
            "deeply nested payload": (json.dumps(nested), 400),
            "NUL escaped in payload": (
                f'{{"partner": {{"id": {pid}}}, "payload": {{"x": "a\\u0000b"}}}}',
                400,
            ),
            "NUL in a key": (f'{{"partner": {{"id": {pid}}}, "payload": {{"\\u0000": 1}}}}', 400),
            "lone surrogate": (
                f'{{"partner": {{"id": {pid}}}, "payload": {{"x": "\\ud800"}}}}',
                400,
            ),
            "not UTF-8": (b'{"partner": {"ref": "\xff\xfe"}}', 400),
        }
        bodies = {
            "id 2**70": ({"partner": {"id": 2**70}}, 404),
            "id 2**31": ({"partner": {"id": 2**31}}, 404),
            "id -2**63": ({"partner": {"id": -(2**63)}}, 404),
            "id 1.5": ({"partner": {"id": 1.5}}, 404),
            "id true": ({"partner": {"id": True}}, 404),
            "id superscript": ({"partner": {"id": "²"}}, 404),
            "id string 2**70": ({"partner": {"id": str(2**70)}}, 404),
            "id string 5000 digits": ({"partner": {"id": "9" * 5000}}, 404),
            "id NUL": ({"partner": {"id": f"{pid}\x00"}}, 400),
            "email NUL": ({"partner": {"email": "ada@example.com\x00"}}, 400),
            "ref NUL": ({"partner": {"ref": "CUST\x007"}}, 400),
            "ref a list": ({"partner": {"ref": ["CUST-7"]}}, 404),
            "event_id NUL": ({"partner": {"id": pid}, "event_id": "a\x00b"}, 400),
            "event_id 2**70": ({"partner": {"id": pid}, "event_id": 2**70}, 202),
            "event_id float": ({"partner": {"id": pid}, "event_id": 1.5}, 400),
        }
        cases = [(label, raw_body, None, code) for label, (raw_body, code) in raw.items()]
        cases += [(label, None, body, code) for label, (body, code) in bodies.items()]
        for label, raw_body, body, expected in cases:
            with self.subTest(label):
                status, answer = self.call(body, self.secret, raw=raw_body)
                self.assertEqual(status, expected, answer)
                if expected != 202:
                    self.assertIn("error", answer)
        queued = self.env["marketing.trigger.event"].search([])
        self.assertEqual(queued.external_ref, str(2**70), "only the well-formed call queued")

    def test_the_body_limit_is_checked_before_reading(self):
        url = urlsplit(self.base_url())
        path = f"/marketing_trigger/inbound/{self.inbound.id}"

        def exchange(head, body_part):
            """Send ``head`` and ``body_part`` and read the answer, without ever sending
            the rest of the body the head announces."""
            with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
                sock.sendall(head.encode() + body_part)
                answer = b""
                try:
                    while chunk := sock.recv(65536):
                        answer += chunk
                except (TimeoutError, ConnectionError):
                    pass
            return answer.split(b"\r\n", 1)[0]

        common = (
            f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {self.secret}\r\nContent-Type: application/json\r\n"
        )
        # 100 MiB announced, 1 KiB sent: answered at once, without waiting for the rest.
        status = exchange(common + f"Content-Length: {100 * 2**20}\r\n\r\n", b"{" * 1024)
        self.assertIn(b" 413 ", status)
        # Chunked, never ending: the server stops reading after the limit.
        chunk = b"{" * 8192
        chunks = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 9
        status = exchange(common + "Transfer-Encoding: chunked\r\n\r\n", chunks)
        self.assertIn(b" 413 ", status)
        # Just over the limit, fully sent.
        self.assertEqual(self.call(None, self.secret, raw=b" " * (64 * 1024 + 1))[0], 413)
        self.assertFalse(self.env["marketing.trigger.event"].search([]))

    def test_unknown_trigger_and_wrong_secret_do_the_same_work(self):
        """Callers cannot tell an unknown trigger from a wrong secret: the same queries
        and one constant-time comparison in both cases."""
        Event = self.env["marketing.trigger.event"]
        body = json.dumps({"partner": {"id": self.customer.id}}).encode()
        unknown = self.env["marketing.trigger"].search([], order="id desc", limit=1).id + 1000
        work = {}
        for label, trigger_id in (("unknown", unknown), ("wrong secret", self.inbound.id)):
            self.env.invalidate_all()
            with patch.object(
                marketing_trigger_event.hmac,
                "compare_digest",
                wraps=marketing_trigger_event.hmac.compare_digest,
            ) as compare:
                queries = self.env.cr.sql_log_count
                status, _answer = Event._receive_inbound(trigger_id, "x" * 43, body)
                work[label] = (status, self.env.cr.sql_log_count - queries, compare.call_count)
        self.assertEqual(work["unknown"], work["wrong secret"])
        self.assertEqual(work["unknown"][0], 403)
        self.assertEqual(work["unknown"][2], 1, "both compare the secret")


@tagged("post_install", "-at_install")
class TestInboundReplays(BaseCase):
    """Parallel calls with one event id, each in its own transaction as Odoo's HTTP
    workers run them: the queue holds one event, the others answer "duplicate"."""

    def test_parallel_replays_of_one_event_id_queue_one_event(self):
        dbname = get_db_name()
        registry = Registry(dbname)
        with sql_db.db_connect(dbname).cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {"marketing_trigger_disable": True})
            trigger = env["marketing.trigger"].create(
                {
                    "name": "Replayed webhook",
                    "kind": "inbound",
                    "channel": "phone",
                    "message_class": "service",
                    "state": "active",
                }
            )
            trigger_id, secret = trigger.id, trigger.webhook_secret
            partner_id = env.ref("base.partner_admin").id
            cr.execute("SELECT coalesce(max(id), 0) FROM ir_cron_trigger")
            (last_wake,) = cr.fetchone()
            cr.commit()

        def cleanup():
            with sql_db.db_connect(dbname).cursor() as cr:
                cr.execute("DELETE FROM ir_cron_trigger WHERE id > %s", [last_wake])
                # The trigger's events go with it (ondelete cascade).
                cr.execute("DELETE FROM marketing_trigger WHERE id = %s", [trigger_id])
                cr.commit()

        self.addCleanup(cleanup)
        body = json.dumps({"partner": {"id": partner_id}, "event_id": "booking-1"}).encode()
        callers = 6
        barrier = threading.Barrier(callers)
        answers = []

        def call():
            with registry.cursor() as cr:
                # The test runner holds the registry lock: give the cursor its
                # transaction here rather than having Environment look the registry up.
                cr.transaction = Transaction(registry)
                env = api.Environment(cr, SUPERUSER_ID, {})
                barrier.wait(timeout=30)
                status, answer = retrying(
                    lambda: env["marketing.trigger.event"]._receive_inbound(
                        trigger_id, secret, body
                    ),
                    env,
                )
                cr.commit()
                answers.append((status, answer.get("status")))

        threads = [threading.Thread(target=call) for _i in range(callers)]
        with mute_logger("odoo.service.model", "odoo.sql_db"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
        self.assertEqual(len(answers), callers)
        self.assertEqual(sorted(answers)[-1], (202, "accepted"))
        self.assertEqual(sorted(answers)[:-1], [(200, "duplicate")] * (callers - 1))
        with sql_db.db_connect(dbname).cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM marketing_trigger_event WHERE trigger_id = %s", [trigger_id]
            )
            self.assertEqual(cr.fetchone()[0], 1, "the queue holds one event")
