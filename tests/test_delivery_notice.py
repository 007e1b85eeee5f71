import hashlib
import hmac
import json
from datetime import datetime, timedelta
from unittest.mock import patch

from freezegun import freeze_time
from odoo import Command, fields
from odoo.exceptions import UserError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged

from ..models.marketing_trigger_picking import notice_moment, picking_key
from .common import MarketingTriggerCase

NOW = datetime(2026, 3, 9, 8, 0)  # Monday 9:00 in Berlin


@tagged("post_install", "-at_install")
class TestDeliveryNotice(MarketingTriggerCase, HttpCase):
    """Days before the scheduled delivery, on Odoo's own delivery orders: the notice names
    the date, the items and the address, a rescheduled delivery gets a new one, the
    address check corrects the picking, and a voice notice takes a keypad answer."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.notice = cls.env.ref("marketing_trigger.marketing_trigger_delivery_notice")
        # Hours make the moments exact whatever the time zone: 24 h before.
        cls.notice.write({"delivery_lead": 24, "delivery_lead_unit": "hours"})
        cls.notice.action_activate()
        cls.toner = cls.env["product.product"].create(
            {"name": "Toner cartridge black", "type": "consu", "list_price": 39.0}
        )
        cls.printer = cls.env["product.product"].create(
            {"name": "Laser printer P2", "type": "consu", "list_price": 249.0}
        )
        cls.dispatcher = new_test_user(
            cls.env, "mt_stock", groups="stock.group_stock_user", name="Dora Dispatch"
        )

    def customer(self, name="Hanna Kruse", email="hanna@example.com", **values):
        return self.make_partner(
            name,
            email,
            street="Alte Str. 1",
            zip="20095",
            city="Hamburg",
            country_id=self.env.ref("base.de").id,
            tz="Europe/Berlin",
            user_id=self.salesperson.id,
            **values,
        )

    def order_delivery(self, partner, scheduled):
        """A confirmed order of two toners and a printer; its delivery order, scheduled."""
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "order_line": [
                    Command.create({"product_id": self.toner.id, "product_uom_qty": 2}),
                    Command.create({"product_id": self.printer.id, "product_uom_qty": 1}),
                ],
            }
        )
        order.action_confirm()
        picking = order.picking_ids
        self.assertEqual(len(picking), 1)
        self.assertEqual(picking.picking_type_code, "outgoing")
        picking.scheduled_date = scheduled
        return picking

    def validate(self, picking):
        for move in picking.move_ids:
            move.quantity = move.product_uom_qty
        picking.move_ids.picked = True
        picking.button_validate()

    def run_time_pass(self, at):
        with freeze_time(at):
            self.env["marketing.trigger"]._cron_evaluate_time_triggers()
            self.env.invalidate_all()

    def notices(self, partner):
        return self.Delivery.search(
            [("partner_id", "=", partner.id), ("trigger_id", "=", self.notice.id)]
        )

    def send_due(self, at):
        with freeze_time(at):
            self.dispatch()
        self.env.invalidate_all()

    # ------------------------------------------------------------------ the notice

    def test_notice_names_date_items_and_address_and_goes_to_the_customer(self):
        partner = self.customer()
        picking = self.order_delivery(partner, NOW + timedelta(days=1, hours=6))
        self.run_time_pass(NOW)
        notice = self.notices(partner)
        self.assertEqual(len(notice), 1)
        self.assertEqual(notice.occurrence_key, picking_key(picking.id, picking.scheduled_date))
        self.assertEqual(notice.scheduled_at, NOW + timedelta(hours=6), "24 h before")
        self.send_due(NOW + timedelta(hours=6))
        self.assertEqual(notice.state, "sent")
        message = notice.sent_message_id
        self.assertEqual((message.model, message.res_id), ("stock.picking", picking.id))
        self.assertIn(picking.name, message.subject)
        body = str(notice.sent_body)
        self.assertIn("Toner cartridge black", body)
        self.assertIn("Laser printer P2", body)
        self.assertIn("Alte Str. 1", body)
        outgoing = notice.mail_id._prepare_outgoing_body()
        self.assertIn(f"/mt/a/{notice.id}/", outgoing, "the address link is personal")
        self.assertNotIn("{{", body)
        self.assertEqual(message.partner_ids, partner, "sent to the decided contact only")

    def test_rescheduled_delivery_gets_a_new_notice_and_the_old_one_is_not_sent(self):
        partner = self.customer()
        picking = self.order_delivery(partner, NOW + timedelta(days=1, hours=6))
        self.run_time_pass(NOW)
        first = self.notices(partner)
        self.assertEqual(first.state, "pending")
        picking.scheduled_date = NOW + timedelta(days=3)
        self.send_due(NOW + timedelta(hours=6))
        self.assertEqual(first.state, "cancelled")
        self.assertIn("occasion is over", first.failure_reason)
        self.run_time_pass(NOW + timedelta(days=1, hours=12))
        second = self.notices(partner) - first
        self.assertEqual(len(second), 1, "a new notice for the new date")
        self.assertEqual(second.scheduled_at, NOW + timedelta(days=2))

    def test_done_cancelled_and_customerless_deliveries_get_no_notice(self):
        partner = self.customer()
        done = self.order_delivery(partner, NOW + timedelta(hours=20))
        self.validate(done)
        self.assertEqual(done.state, "done")
        other = self.customer("Ole Brandt", "ole@example.com")
        cancelled = self.order_delivery(other, NOW + timedelta(hours=20))
        cancelled.action_cancel()
        nobody = self.order_delivery(self.customer("Nina Vogt", "nina@example.com"), NOW)
        nobody.sale_id = False
        nobody.partner_id = False
        nobody.scheduled_date = NOW + timedelta(hours=20)
        self.run_time_pass(NOW)
        self.assertFalse(self.notices(partner) | self.notices(other))
        self.assertFalse(
            self.Decision.search([("trigger_id", "=", self.notice.id)]),
            "nothing decided, nothing failed",
        )
        self.assertEqual(self.notice.state, "active")

    def test_a_notice_moved_closer_than_its_lead_goes_out_at_once(self):
        partner = self.customer()
        picking = self.order_delivery(partner, NOW + timedelta(days=5))
        self.run_time_pass(NOW)
        self.assertFalse(self.notices(partner))
        picking.scheduled_date = NOW + timedelta(hours=10)  # the 24 h moment has passed
        self.run_time_pass(NOW + timedelta(minutes=5))
        self.assertEqual(self.notices(partner).scheduled_at, NOW + timedelta(minutes=5))

    def test_notice_moment_in_days_is_nine_in_the_customers_time_zone(self):
        scheduled = datetime(2026, 7, 15, 12, 0)
        self.assertEqual(
            notice_moment(scheduled, 2, "days", "Europe/Berlin"), datetime(2026, 7, 13, 7, 0)
        )
        self.assertEqual(
            notice_moment(scheduled, 1, "days", "America/New_York"), datetime(2026, 7, 14, 13, 0)
        )

    # ------------------------------------------------------------ address check

    def sent_notice(self, partner, picking):
        self.run_time_pass(NOW)
        self.send_due(NOW + timedelta(hours=6))
        notice = self.notices(partner)
        self.assertEqual(notice.state, "sent")
        return notice

    def test_address_correction_moves_the_open_picking_and_tells_its_responsible(self):
        partner = self.customer()
        picking = self.order_delivery(partner, NOW + timedelta(days=1, hours=6))
        picking.user_id = self.dispatcher
        notice = self.sent_notice(partner, picking)
        with freeze_time(NOW + timedelta(hours=7)):
            page = self.url_open(notice._address_url())
            self.assertIn("Alte Str. 1", page.text)
            answer = self.opener.post(
                notice._address_url(),
                data={
                    "correct": "1",
                    "street": "Neuer Weg 5",
                    "zip": "24103",
                    "city": "Kiel",
                    "country_code": "DE",
                },
                timeout=20,
            )
        self.assertEqual(answer.status_code, 200)
        self.assertIn("updated", answer.text)
        self.env.invalidate_all()
        self.assertEqual(picking.partner_id.street, "Neuer Weg 5")
        self.assertEqual(picking.partner_id.parent_id, partner)
        self.assertEqual(partner.street, "Alte Str. 1", "the invoice address stays")
        activity = self.env["mail.activity"].search(
            [("res_model", "=", "stock.picking"), ("res_id", "=", picking.id)]
        )
        self.assertEqual(activity.user_id, self.dispatcher)
        self.assertIn("Kiel", str(activity.note))

    def test_address_correction_after_the_delivery_left_says_so_and_keeps_it(self):
        partner = self.customer()
        picking = self.order_delivery(partner, NOW + timedelta(days=1, hours=6))
        notice = self.sent_notice(partner, picking)
        self.validate(picking)
        self.assertEqual(picking.state, "done")
        with freeze_time(NOW + timedelta(hours=8)):
            answer = self.opener.post(
                notice._address_url(),
                data={
                    "correct": "1",
                    "street": "Neuer Weg 5",
                    "zip": "24103",
                    "city": "Kiel",
                    "country_code": "DE",
                },
                timeout=20,
            )
        self.assertEqual(answer.status_code, 200)
        self.assertIn("already left", answer.text)
        self.env.invalidate_all()
        self.assertEqual(picking.partner_id, partner, "a delivery that left keeps its address")
        shipping = partner.child_ids.filtered(lambda c: c.type == "delivery")
        self.assertEqual(shipping.city, "Kiel", "kept for the next orders")

    # ----------------------------------------------------------------- keypad

    def voice_notice(self, partner=None):
        """A voice notice dispatched to a (captured) gateway; (delivery, document)."""
        self.notice.write(
            {
                "channel": "voice",
                "fallback_channel": False,
                "webhook_url": "https://voice.example.com/hook",
                "sms_body": "Your delivery {{ delivery.name }} comes on {{ delivery.date }}.",
            }
        )
        partner = partner or self.customer(mobile="+49 171 2345678", marketing_consent_phone=True)
        self.order_delivery(partner, NOW + timedelta(days=1, hours=6))
        sent = []
        Trigger = type(self.env["marketing.trigger"])
        with patch.object(Trigger, "_post_webhook", lambda trigger, doc: sent.append(doc)):
            self.run_time_pass(NOW)
            self.send_due(NOW + timedelta(hours=6))
        notice = self.notices(partner)
        self.assertEqual(notice.state, "sent", notice.failure_reason)
        return notice, sent[0]

    def press(self, url, body, secret=None, signature=None):
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        if signature is None:
            key = (secret if secret is not None else self.notice.sudo().webhook_secret).encode()
            signature = "sha256=" + hmac.new(key, raw, hashlib.sha256).hexdigest()
        with freeze_time(NOW + timedelta(hours=7)):
            return self.opener.post(
                url,
                data=raw,
                headers={
                    "Content-Type": "application/json",
                    "X-Marketing-Trigger-Signature": signature,
                },
                timeout=20,
            )

    def test_voice_notice_carries_a_signed_callback_and_digit_1_confirms(self):
        notice, document = self.voice_notice()
        self.assertEqual(document["channel"], "voice")
        self.assertIn("Your delivery WH/OUT/", document["text"])
        url = document["callback_url"]
        self.assertIn(f"/mt/k/{notice.id}/", url)
        answer = self.press(url, {"call_id": "c-1", "digit": "1"})
        self.assertEqual(answer.status_code, 200)
        self.assertEqual(answer.json(), {"status": "recorded", "answer": "confirmed"})
        self.env.invalidate_all()
        self.assertEqual(notice.address_answer, "confirmed")
        self.assertEqual(notice.keypad_answer_ids.digit, "1")

    def test_digits_2_and_3_give_customer_service_an_activity(self):
        for digit, words in (("2", "Wrong delivery address"), ("3", "another delivery date")):
            with self.subTest(digit=digit):
                partner = self.customer(
                    f"Kunde {digit}",
                    f"kunde{digit}@example.com",
                    mobile=f"+49 171 234567{digit}",
                    marketing_consent_phone=True,
                )
                notice, document = self.voice_notice(partner)
                answer = self.press(document["callback_url"], {"call_id": "c-9", "digit": digit})
                self.assertEqual(answer.status_code, 200, answer.text)
                self.env.invalidate_all()
                activity = notice.keypad_answer_ids.activity_id
                self.assertIn(words, activity.summary)
                self.assertEqual(activity.res_model, "stock.picking")
                self.assertEqual(activity.user_id, self.salesperson)

    def test_forged_replayed_unknown_and_expired_keypad_calls_change_nothing(self):
        notice, document = self.voice_notice()
        url = document["callback_url"]
        token = url.rsplit("/", 1)[1]
        body = {"call_id": "c-1", "digit": "2"}
        forged = self.press(url, body, secret="not-the-secret")
        self.assertEqual(forged.status_code, 403)
        unsigned = self.press(url, body, signature="")
        self.assertEqual(unsigned.status_code, 403)
        other = self.press(f"{self.base_url()}/mt/k/{notice.id + 1}/{token}", body)
        self.assertEqual(other.status_code, 403, "a token is bound to its delivery")
        for weird in ("99999999999999999999", "٣", "1%00"):
            self.assertEqual(
                self.press(f"{self.base_url()}/mt/k/{weird}/{token}", body).status_code, 403
            )
        self.assertEqual(self.press(url, {"call_id": "c-1", "digit": "7"}).status_code, 400)
        self.assertEqual(self.press(url, {"digit": "1"}).status_code, 400)
        for digit in ([1], {"d": 1}, 1.0, None, True, "1\u0000"):
            self.assertEqual(self.press(url, {"call_id": "c-x", "digit": digit}).status_code, 400)
        self.assertEqual(self.press(url, {"call_id": "c\u0000", "digit": "1"}).status_code, 400)
        self.assertEqual(self.press(url, b"\x00\xff not json").status_code, 400)
        self.assertEqual(self.press(url, b"x" * 5000).status_code, 413)
        self.env.invalidate_all()
        self.assertFalse(notice.keypad_answer_ids, "nothing written by a refused call")
        self.assertFalse(notice.address_answer)
        first = self.press(url, body)
        self.assertEqual(first.status_code, 200)
        replay = self.press(url, body)
        self.assertEqual(replay.json()["status"], "duplicate")
        again = self.press(url, {"call_id": "c-2", "digit": "1"})
        self.assertEqual(again.status_code, 409)
        self.env.invalidate_all()
        self.assertEqual(len(notice.keypad_answer_ids), 1)
        self.assertEqual(
            self.env["mail.activity"].search_count(
                [("res_model", "=", "stock.picking"), ("summary", "ilike", "Wrong delivery")]
            ),
            1,
            "a replay creates no second activity",
        )
        options = self.opener.options(url, timeout=20)
        self.assertEqual(options.status_code, 204)

    def test_an_expired_notice_refuses_the_keypad(self):
        notice, document = self.voice_notice()
        notice.sent_at = NOW - timedelta(days=30)
        answer = self.press(document["callback_url"], {"call_id": "c-1", "digit": "1"})
        self.assertEqual(answer.status_code, 410)
        self.env.invalidate_all()
        self.assertFalse(notice.keypad_answer_ids)

    def test_keypad_answers_are_evidence(self):
        notice, document = self.voice_notice()
        self.press(document["callback_url"], {"call_id": "c-1", "digit": "1"})
        answer = notice.keypad_answer_ids
        marketer = new_test_user(
            self.env, "mt_kp", groups="marketing_trigger.group_marketing_trigger_manager"
        )
        with self.assertRaises(UserError):
            answer.with_user(marketer).write({"digit": "2"})
        with self.assertRaises(UserError):
            answer.with_user(marketer).unlink()
        with self.assertRaises(UserError):
            answer.sudo().unlink()

    # ----------------------------------------------------------------- fax

    def test_fax_goes_through_the_gateway_with_its_own_consent(self):
        self.notice.write(
            {
                "channel": "fax",
                "fallback_channel": False,
                "message_class": "drop",
                "webhook_url": "https://voice.example.com/hook",
                "sms_body": "Delivery {{ delivery.name }}: {{ delivery.contents }}",
            }
        )
        with_fax = self.customer(marketing_fax="+49 40 555 0101", marketing_consent_fax=True)
        without_consent = self.customer(
            "Olaf Fax", "olaf@example.com", marketing_fax="+49 40 555 0102"
        )
        self.order_delivery(with_fax, NOW + timedelta(days=1, hours=6))
        self.order_delivery(without_consent, NOW + timedelta(days=1, hours=6))
        sent = []
        Trigger = type(self.env["marketing.trigger"])
        with patch.object(Trigger, "_post_webhook", lambda trigger, doc: sent.append(doc)):
            self.run_time_pass(NOW)
            self.send_due(NOW + timedelta(hours=6))
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0]["event"], "marketing_trigger.fax")
        self.assertEqual(sent[0]["partner"]["fax"], "+49 40 555 0101")
        self.assertIn("2 × Toner cartridge black, 1 × Laser printer P2", sent[0]["text"])
        refused = self.Decision.search(
            [("partner_id", "=", without_consent.id), ("trigger_id", "=", self.notice.id)]
        )
        self.assertEqual(refused.outcome, "suppress")


@tagged("post_install", "-at_install")
class TestMessagesAboutTheRecord(MarketingTriggerCase):
    """Templates and texts of kinds that come from a record render on that record."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.welcome.action_pause()
        cls.thanks = cls.env.ref("marketing_trigger.marketing_trigger_booking_thanks")
        cls.seminar = cls.env["product.product"].create(
            {"name": "Rhetoric seminar Hamburg", "type": "service", "list_price": 490.0}
        )

    def book(self, partner, commitment=None):
        order = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "commitment_date": commitment,
                "order_line": [Command.create({"product_id": self.seminar.id})],
            }
        )
        order.action_confirm()
        return order

    def test_booking_thank_you_names_the_booked_seminar(self):
        self.thanks.action_activate()
        partner = self.make_partner("Ute Lang", "ute@example.com", city="Hamburg")
        order = self.book(partner, fields.Datetime.now() + timedelta(days=20))
        self.dispatch()
        delivery = self.Delivery.search([("trigger_id", "=", self.thanks.id)])
        self.assertEqual(delivery.state, "sent", delivery.failure_reason)
        message = delivery.sent_message_id
        self.assertEqual(message.subject, "Thank you for booking Rhetoric seminar Hamburg")
        self.assertIn("Rhetoric seminar Hamburg", str(delivery.sent_body))
        self.assertIn(order.name, str(delivery.sent_body))
        self.assertIn("It takes place on", str(delivery.sent_body))
        self.assertNotIn("object.name", str(delivery.sent_body))
        self.assertEqual(message.partner_ids, partner)
        self.assertEqual((message.model, message.res_id), ("sale.order", order.id))

    def test_sms_and_activity_texts_name_the_order(self):
        trigger = self.env["marketing.trigger"].create(
            {
                "name": "Call about the booking",
                "kind": "order_confirmed",
                "channel": "phone",
                "message_class": "service",
                "activity_summary": "Call {{ partner.name }} about {{ order.first_item }} "
                "({{ order.name }}, {{ order.amount }})",
            }
        )
        trigger.action_activate()
        partner = self.make_partner(
            "Eva Sommer", "eva@example.com", user_id=self.salesperson.id, phone="+49 40 5550199"
        )
        order = self.book(partner)
        self.process_events()
        delivery = self.Delivery.search([("trigger_id", "=", trigger.id)])
        self.assertEqual(delivery.state, "sent", delivery.failure_reason)
        self.assertIn(
            f"about Rhetoric seminar Hamburg ({order.name}, ", delivery.activity_id.summary
        )
        self.assertEqual(delivery.activity_id.res_model, "sale.order")

    def test_trigger_offers_and_accepts_only_templates_of_its_record(self):
        partner_template = self.env.ref("marketing_trigger.mail_template_welcome")
        order_template = self.env.ref("marketing_trigger.mail_template_booking_thanks")
        self.assertEqual(self.thanks.render_model_id.model, "sale.order")
        with self.assertRaisesRegex(ValidationError, "must be made for Sales Order"):
            self.thanks.mail_template_id = partner_template
        birthday = self.env.ref("marketing_trigger.marketing_trigger_birthday")
        with self.assertRaisesRegex(ValidationError, "must be made for Contact"):
            birthday.mail_template_id = order_template
        with self.assertRaisesRegex(ValidationError, "unknown variable delivery"):
            self.thanks.sms_body = "Your delivery {{ delivery.name }}"
        self.thanks.sms_body = "Thanks for booking {{ order.first_item }}"
        self.assertIn("{{ order.first_item }}", self.thanks.record_variables)
        variant = self.env["marketing.trigger.variant"].create(
            {"trigger_id": self.thanks.id, "name": "VIP", "partner_domain": "[]"}
        )
        with self.assertRaisesRegex(ValidationError, "must be made for Sales Order"):
            variant.mail_template_id = partner_template

    def test_a_deleted_order_fails_its_message_with_the_reason(self):
        self.thanks.action_activate()
        partner = self.make_partner("Rolf Ende", "rolf@example.com")
        order = self.book(partner)
        self.process_events()
        delivery = self.Delivery.search([("trigger_id", "=", self.thanks.id)])
        self.assertEqual(delivery.state, "pending")
        order._action_cancel()
        order.unlink()
        self.dispatch()
        self.assertIn(delivery.state, ("failed", "cancelled"))
        self.assertTrue(delivery.failure_reason)


@tagged("post_install", "-at_install")
class TestCallbackInThePast(MarketingTriggerCase):
    def test_a_callback_time_in_the_past_is_refused_at_save(self):
        partner = self.make_partner("Kai Spät", "kai@example.com")
        with self.assertRaisesRegex(ValidationError, "has already passed"), self.env.cr.savepoint():
            partner.marketing_callback_at = fields.Datetime.now() - timedelta(hours=2)
        self.env.invalidate_all()
        self.assertFalse(partner.marketing_callback_at, "nothing saved")
        partner.marketing_callback_at = fields.Datetime.now() + timedelta(hours=2)
        order = self.env["sale.order"].create({"partner_id": partner.id})
        with self.assertRaisesRegex(ValidationError, "has already passed"):
            order.marketing_callback_at = fields.Datetime.now() - timedelta(days=1)
