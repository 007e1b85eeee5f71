"""Voice and fax through the outbound gateway, and the keypad answer to a voice notice.

A voice message (or a fax) goes to the trigger's gateway as a signed JSON document
(README, *Outbound webhook*). For a delivery notice the document carries a
``callback_url`` bound to that one delivery (a signed token); the gateway POSTs the
digit the customer pressed back to it:

    POST <callback_url>
    X-Marketing-Trigger-Signature: sha256=<HMAC-SHA256 of the body with the trigger's
                                          webhook secret>
    {"call_id": "<the gateway's id of this call>", "digit": "1"}

1 confirms the delivery address, 2 reports it wrong (an activity: customer service
calls back), 3 asks for another date (an activity). An answer is kept as evidence,
once per delivery; the same ``call_id`` again is answered as a duplicate and changes
nothing, so the gateway may retry safely.
"""

import hashlib
import hmac
import json
import logging
from datetime import timedelta

from odoo import SUPERUSER_ID, _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .marketing_trigger_tracking import ADDRESS_VALID_DAYS_PARAM, DEFAULT_ADDRESS_VALID_DAYS

_logger = logging.getLogger(__name__)

DIGITS = {"1": "confirmed", "2": "wrong_address", "3": "other_date"}
MAX_CALL_ID = 128


class MarketingTriggerKeypadAnswer(models.Model):
    """What a customer answered on the phone keypad to a voice notice. Evidence:
    written by the callback route only, never changed or deleted."""

    _name = "marketing.trigger.keypad.answer"
    _description = "Keypad Answer"
    _order = "id desc"
    _rec_name = "call_id"

    delivery_id = fields.Many2one(
        "marketing.trigger.delivery", required=True, index=True, ondelete="cascade", readonly=True
    )
    partner_id = fields.Many2one(related="delivery_id.partner_id", store=True, string="Contact")
    company_id = fields.Many2one(related="delivery_id.company_id", store=True, index=True)
    call_id = fields.Char("Gateway call", required=True, readonly=True)
    digit = fields.Char(required=True, readonly=True)
    answer = fields.Selection(
        [
            ("confirmed", "Address confirmed"),
            ("wrong_address", "Wrong address: call back"),
            ("other_date", "Another date wanted"),
        ],
        required=True,
        readonly=True,
    )
    activity_id = fields.Many2one("mail.activity", readonly=True, ondelete="set null")

    _sql_constraints = [
        (
            "call_uniq",
            "UNIQUE(delivery_id, call_id)",
            "This gateway call was already recorded.",
        ),
    ]

    def write(self, vals):
        raise UserError(_("Keypad answers are evidence: they cannot be changed."))

    def unlink(self):
        raise UserError(_("Keypad answers are evidence: they cannot be deleted."))


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    address_answer = fields.Selection(selection_add=[("wrong", "Reported wrong (keypad)")])
    keypad_answer_ids = fields.One2many("marketing.trigger.keypad.answer", "delivery_id")

    def _keypad_url(self, base_url=None):
        return self._signed_url("keypad", "k", base_url)

    def _webhook_document(self, text):
        document = super()._webhook_document(text)
        if self.channel == "fax":
            document["event"] = "marketing_trigger.fax"
            document["partner"]["fax"] = self.partner_id.marketing_fax or ""
        if self.channel == "voice" and self.trigger_id.kind == "delivery_scheduled":
            document["callback_url"] = self._keypad_url()
            document["answers"] = {
                "1": "confirm the delivery address",
                "2": "wrong address: call me back",
                "3": "I need another date",
            }
        return document

    @api.model
    def _receive_keypad(self, delivery_id, token, signature, body):
        """(HTTP status, JSON answer) for a keypad callback. Refused calls change
        nothing and are logged; a token or signature that does not match gets the same
        answer as an unknown delivery."""
        delivery = self._by_token("keypad", delivery_id, token)
        secret = (delivery.trigger_id.sudo().webhook_secret or "") if delivery else ""
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not (delivery and secret and hmac.compare_digest(signature.encode(), expected.encode())):
            _logger.info("Keypad callback refused for delivery %s: unknown or forged", delivery_id)
            return 403, {"error": "Unknown delivery or wrong signature."}
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        call_id, digit = (
            (data.get("call_id"), data.get("digit")) if isinstance(data, dict) else (None, None)
        )
        digit = str(digit) if isinstance(digit, int) and not isinstance(digit, bool) else digit
        if (
            not isinstance(call_id, str | int)
            or isinstance(call_id, bool)
            or not str(call_id).strip()
            or len(str(call_id)) > MAX_CALL_ID
            or not str(call_id).isprintable()
        ):
            return 400, {"error": '"call_id" must be a string of at most 128 characters.'}
        if not isinstance(digit, str) or digit not in DIGITS:
            _logger.info("Keypad callback for delivery %s: unknown digit", delivery.id)
            return 400, {"error": '"digit" must be "1", "2" or "3".'}
        call_id = str(call_id).strip()
        # One answer per delivery: parallel replays wait here for each other.
        self.env.cr.execute(
            SQL("SELECT id FROM marketing_trigger_delivery WHERE id = %s FOR UPDATE", delivery.id)
        )
        delivery.invalidate_recordset()
        Answer = self.env["marketing.trigger.keypad.answer"].sudo()
        known = Answer.search([("delivery_id", "=", delivery.id)], limit=1)
        if known and known.call_id == call_id:
            return 200, {"status": "duplicate", "answer": known.answer}
        if known or delivery.address_answered_at:
            _logger.info("Keypad callback for delivery %s: already answered", delivery.id)
            return 409, {"error": "This delivery notice was already answered."}
        days = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(ADDRESS_VALID_DAYS_PARAM, DEFAULT_ADDRESS_VALID_DAYS)
        )
        sent = delivery.sent_at or delivery.scheduled_at
        if not sent or fields.Datetime.now() > sent + timedelta(days=days):
            _logger.info("Keypad callback for delivery %s: expired", delivery.id)
            return 410, {"error": "This delivery notice has expired."}
        answer = DIGITS[digit]
        activity = delivery._keypad_effect(answer, call_id)
        Answer.create(
            {
                "delivery_id": delivery.id,
                "call_id": call_id,
                "digit": digit,
                "answer": answer,
                "activity_id": activity.id if activity else False,
            }
        )
        return 200, {"status": "recorded", "answer": answer}

    def _keypad_effect(self, answer, call_id):
        """Do what the customer asked for; the activity created, if any."""
        self.ensure_one()
        now = fields.Datetime.now()
        if answer == "confirmed":
            self.sudo().write({"address_answered_at": now, "address_answer": "confirmed"})
            return None
        if answer == "wrong_address":
            self.sudo().write({"address_answered_at": now, "address_answer": "wrong"})
        record = self._render_record() or self.partner_id
        owner = record.user_id if "user_id" in record._fields else record.browse()
        user = owner or self.partner_id.user_id or self.trigger_id.activity_user_id
        if not user:
            user = self.env.ref("base.user_admin", raise_if_not_found=False) or self.env.user
        summary = {
            "wrong_address": _("Wrong delivery address: call %(name)s back"),
            "other_date": _("%(name)s wants another delivery date"),
        }[answer] % {"name": self.partner_id.name}
        # As OdooBot, not the public user of the gateway's request: the "assigned to
        # you" email needs a sender.
        return (
            self.env["mail.activity"]
            .with_user(SUPERUSER_ID)
            .create(
                {
                    "res_model_id": self.env["ir.model"]._get_id(record._name),
                    "res_id": record.id,
                    "activity_type_id": self.env.ref("mail.mail_activity_data_call").id,
                    "summary": summary,
                    "note": _(
                        "Answered on the phone keypad to the delivery notice (gateway call "
                        "%(call)s). Phone: %(phone)s",
                        call=call_id,
                        phone=self.partner_id.phone or self.partner_id.mobile or "-",
                    ),
                    "user_id": user.id,
                    "date_deadline": fields.Date.context_today(self),
                }
            )
        )
