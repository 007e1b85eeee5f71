"""Public double opt-in routes: the subscription form page, the JSON API for shops and
the confirmation link. They validate their input before anything touches the database
(bad input is a 400 or a friendly 404, never a 500), answer OPTIONS without running
anything, and keep their pages out of frames and referrers."""

import json

from odoo import http
from odoo.http import request

from ..models.marketing_trigger_subscription import clean, normalized_email, valid_ip
from ._public import public_route, read_body
from .tracking import TOKEN, _not_found

MAX_BODY = 16 * 1024
# public_route adds no-referrer and no-framing; a page with a personal link is not cached.
PAGE_HEADERS = {"Cache-Control": "no-store"}


def _not_found_page():
    return _page(_not_found())


def _page(response):
    for key, value in PAGE_HEADERS.items():
        response.headers[key] = value
    return response


def _message(title, message, status=200):
    return _page(
        request.render(
            "marketing_trigger.tracking_page", {"title": title, "message": message}, status=status
        )
    )


def _json(status, answer):
    return request.make_response(
        json.dumps(answer),
        headers={"Content-Type": "application/json", **PAGE_HEADERS},
        status=status,
    )


def _client():
    """(IP address, user agent) of this request, as evidence."""
    http_request = request.httprequest
    agent = (http_request.user_agent.string or "")[:512]
    return http_request.remote_addr or "", clean(agent, "user_agent") or ""


class MarketingTriggerSubscribe(http.Controller):
    @public_route(
        "/mt/subscribe/<string:slug>",
        methods=["GET", "POST"],
        max_content_length=MAX_BODY,
        csrf=True,
        save_session=True,
    )
    def subscribe(self, slug, **post):
        """The form page of one subscription form; a POST (with Odoo's CSRF token)
        records the request and queues the confirmation email."""
        form = request.env["marketing.trigger.subscription.form"]._by_slug(slug)
        if not form:
            return _page(_not_found())
        form = form.with_context(lang=request.env.lang)
        values, errors = {"email": "", "name": ""}, {}
        if request.httprequest.method == "POST":
            values = {key: clean(post.get(key), key) for key in ("email", "name")}
            if not normalized_email(values["email"]):
                errors["email"] = "Please enter a valid email address."
            if values["name"] is None:
                errors["name"] = "Please enter your name in up to 128 characters."
            if post.get("consent") != "on":
                errors["consent"] = "Please tick the box to agree."
            if not errors:
                # A filled honeypot is a bot: it gets the same answer and nothing happens.
                if not post.get("website"):
                    ip, agent = _client()
                    request.env["marketing.trigger.subscription"]._request(
                        form,
                        dict(
                            values,
                            ip=ip,
                            user_agent=agent,
                            lang=request.env.lang,
                            consent_text=form.consent_text,
                        ),
                        "form",
                    )
                return _message(
                    "Please check your inbox",
                    "If the address is right, an email with a confirmation link is on its "
                    "way. Your subscription starts when you confirm it.",
                )
        return _page(
            request.render(
                "marketing_trigger.subscribe_page",
                {
                    "form": form,
                    "values": {k: v or "" for k, v in values.items()},
                    "errors": errors,
                    "action": request.httprequest.path,
                },
                status=400 if errors else 200,
            )
        )

    @public_route("/mt/api/subscribe", methods=["POST"], max_content_length=None)
    def api_subscribe(self, **_kwargs):
        """A shop's request for its customer: JSON, authenticated by the form's API key."""
        http_request = request.httprequest
        auth = http_request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        body = read_body(http_request, MAX_BODY)
        if body is None:
            return _json(413, {"error": "The request body is larger than 16 KB."})
        try:
            data = json.loads(body or b"null")
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            data = None
        form = request.env["marketing.trigger.subscription.form"]._by_api_key(
            data.get("form") if isinstance(data, dict) else None, key
        )
        if not form:
            return _json(403, {"error": "Unknown form or wrong API key."})
        if not isinstance(data, dict):
            return _json(400, {"error": "The body must be a JSON object."})
        values, errors = _api_values(data)
        if errors:
            return _json(400, {"error": "Invalid fields.", "fields": errors})
        request.env["marketing.trigger.subscription"]._request(form, values, "api")
        # The same answer whether a mail went out, the address was limited or known.
        return _json(202, {"status": "pending"})

    @public_route(
        f"/mt/confirm/<string:request_id>/{TOKEN}",
        methods=["GET", "POST"],
        ids=("request_id",),
        not_found=_not_found_page,
    )
    def confirm(self, request_id, token, **_kwargs):
        """The link of the confirmation email. GET shows a button; its POST (the
        signed URL is the authentication) records the consent. Mail scanners that
        follow links therefore never confirm anyone."""
        Subscription = request.env["marketing.trigger.subscription"]
        subscription, problem = Subscription._by_token(request_id, token)
        if not subscription:
            return _page(_not_found())
        if problem == "expired":
            return _message(
                "This link has expired",
                "Confirmation links are valid for a limited time. Please subscribe again.",
                status=410,
            )
        if problem == "confirmed":
            return _message("Already confirmed", "Thank you, your subscription is active.")
        if request.httprequest.method == "POST":
            ip, agent = _client()
            subscription._confirm(ip, agent)
            return _message(
                "Thank you",
                "Your subscription is confirmed. You can unsubscribe at any time through "
                "the link in every email.",
            )
        return _page(
            request.render(
                "marketing_trigger.confirm_page",
                {"subscription": subscription, "action": request.httprequest.path},
            )
        )


def _api_values(data):
    """(values, errors) of an API request body (a dict)."""
    values, errors = {}, {}
    for key in ("email", "name", "lang", "consent_text", "ip", "user_agent"):
        values[key] = clean(data.get(key), key)
        if values[key] is None:
            errors[key] = "Must be a string without control characters, of limited length."
    if "email" not in errors and not normalized_email(values["email"]):
        errors["email"] = "A valid email address is required."
    if values.get("ip") and not valid_ip(values["ip"]):
        errors["ip"] = "Not an IP address."
    if values.get("ip"):
        values["ip"] = valid_ip(values["ip"])
    return values, errors
