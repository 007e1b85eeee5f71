"""The inbound event endpoint: external systems (a booking tool, a webshop) tell a
trigger that something happened to a contact. Authenticated by the trigger's secret,
compared in constant time; the route only parses and answers, the model decides."""

import json

from odoo import http
from odoo.http import request

MAX_BODY = 64 * 1024


class MarketingTriggerInbound(http.Controller):
    @http.route(
        "/marketing_trigger/inbound/<int:trigger_id>",
        type="http",
        auth="public",
        methods=["POST"],
        csrf=False,
        save_session=False,
    )
    def inbound(self, trigger_id, **_kwargs):
        http_request = request.httprequest
        auth = http_request.headers.get("Authorization", "")
        secret = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        secret = secret or http_request.headers.get("X-Marketing-Trigger-Secret", "")
        body = http_request.get_data(cache=False)
        if len(body) > MAX_BODY:
            status, answer = 413, {"error": "The request body is larger than 64 KB."}
        else:
            status, answer = request.env["marketing.trigger.event"]._receive_inbound(
                trigger_id, secret, body
            )
        return request.make_response(
            json.dumps(answer),
            headers=[("Content-Type", "application/json"), ("Cache-Control", "no-store")],
            status=status,
        )
