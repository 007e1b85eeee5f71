"""The inbound event endpoint: external systems (a booking tool, a webshop) tell a
trigger that something happened to a contact. Authenticated by the trigger's secret,
compared in constant time; the route only reads and answers, the model decides.

The body is read only up to its limit: a larger Content-Length is refused before
reading, and a body without one (chunked) is read to one byte past the limit. (Odoo's
own limit is off for this route: werkzeug would read a body over it to the end before
refusing it.)"""

import json

from odoo import http
from odoo.http import request

from ._public import public_route, read_body

MAX_BODY = 64 * 1024


def _answer(status, answer):
    return request.make_response(
        json.dumps(answer),
        headers=[("Content-Type", "application/json"), ("Cache-Control", "no-store")],
        status=status,
    )


def _malformed_id():
    return _answer(404, {"error": "No such webhook."})


class MarketingTriggerInbound(http.Controller):
    @public_route(
        "/marketing_trigger/inbound/<string:trigger_id>",
        methods=["POST"],
        ids=("trigger_id",),
        not_found=_malformed_id,
        max_content_length=None,
    )
    def inbound(self, trigger_id, **_kwargs):
        http_request = request.httprequest
        auth = http_request.headers.get("Authorization", "")
        secret = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        secret = secret or http_request.headers.get("X-Marketing-Trigger-Secret", "")
        body = read_body(http_request, MAX_BODY)
        if body is None:
            return _answer(413, {"error": "The request body is larger than 64 KB."})
        return _answer(
            *request.env["marketing.trigger.event"]._receive_inbound(trigger_id, secret, body)
        )


MAX_KEYPAD_BODY = 4 * 1024


class MarketingTriggerKeypad(http.Controller):
    @public_route(
        "/mt/k/<string:delivery_id>/<string:token>",
        methods=["POST"],
        ids=("delivery_id",),
        not_found=lambda: _answer(403, {"error": "Unknown delivery or wrong signature."}),
        max_content_length=None,
    )
    def keypad(self, delivery_id, token, **_kwargs):
        """The voice gateway reports the digit a customer pressed (README, *Keypad
        answers*): signed URL plus the body's HMAC with the trigger's secret."""
        http_request = request.httprequest
        body = read_body(http_request, MAX_KEYPAD_BODY)
        if body is None:
            return _answer(413, {"error": "The request body is larger than 4 KB."})
        signature = client_signature(http_request.headers.get("X-Marketing-Trigger-Signature"))
        return _answer(
            *request.env["marketing.trigger.delivery"]._receive_keypad(
                delivery_id, token[:200], signature, body
            )
        )


def client_signature(value):
    """The signature header as ASCII text (anything else cannot match)."""
    value = (value or "")[:200]
    return value if value.isascii() and value.isprintable() else ""
