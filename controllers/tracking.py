"""Routes the customer's mail client and browser call: click, open pixel, one-click
unsubscribe, preferences, address confirmation, landing pages. Each checks a signed
token (in the model method) before anything else; unknown, malformed or forged ids and
tokens get a friendly 404, never a 500, and a click only ever redirects to the URL
stored for its link (no open redirect). What all public routes share (OPTIONS, id
parsing, security headers) is in ``_public.py``."""

import base64

from odoo import http
from odoo.http import request

from ..models.marketing_trigger_tracking import record_id
from ._public import client_text, public_route

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
TOKEN = "<string:token>"
DELIVERY = "<string:delivery_id>"  # parsed by public_route(ids=...)


def pixel_response():
    """The open pixel: always a GIF, never cached, whatever the token was."""
    return request.make_response(
        PIXEL,
        headers=[
            ("Content-Type", "image/gif"),
            ("Cache-Control", "no-store, max-age=0"),
            ("Content-Length", str(len(PIXEL))),
        ],
    )


def _client_of_request():
    return {
        "user_agent": request.httprequest.user_agent.string,
        "method": request.httprequest.method,
    }


def _evidence(what, delivery):
    """How a customer page change is proven: the page, the delivery, the user agent."""
    return f"{what}, delivery {delivery.id}, {client_text(request.httprequest.user_agent.string)}"


def track_click(record, *ids, link_id):
    """Record a click through ``record`` (which checks the token) and answer 303 to the
    stored URL it returns, or the friendly 404."""
    url = record("click", *ids, link_id=link_id, **_client_of_request())
    if not url:
        return _not_found()
    return request.redirect(url, code=303, local=False)


def track_open(record, *ids):
    """Record an open through ``record``; the pixel is answered whatever happens."""
    try:
        record("open", *ids, **_client_of_request())
    except Exception:  # noqa: BLE001 - the pixel is always answered
        request.env.cr.rollback()
    return pixel_response()


def _not_found():
    return request.render(
        "marketing_trigger.tracking_page",
        {
            "title": "This link is not valid",
            "message": "The link may be incomplete or may have expired. "
            "Please check that you copied the whole address.",
        },
        status=404,
    )


def _pixel_not_found():
    return request.make_response(b"", status=404)


class MarketingTriggerTracking(http.Controller):
    @public_route(
        f"/mt/c/{DELIVERY}/<string:link_id>/{TOKEN}",
        methods=["GET", "HEAD"],
        ids=("delivery_id", "link_id"),
        not_found=_not_found,
    )
    def click(self, delivery_id, link_id, token, **_kwargs):
        record = request.env["marketing.trigger.engagement"]._record
        return track_click(record, delivery_id, token, link_id=link_id)

    @public_route(
        f"/mt/o/{DELIVERY}/{TOKEN}.gif",
        methods=["GET", "HEAD"],
        ids=("delivery_id",),
        not_found=_pixel_not_found,
    )
    def open_pixel(self, delivery_id, token, **_kwargs):
        return track_open(request.env["marketing.trigger.engagement"]._record, delivery_id, token)

    @public_route(
        f"/mt/u/{DELIVERY}/{TOKEN}",
        methods=["GET", "POST"],
        ids=("delivery_id",),
        not_found=_not_found,
    )
    def unsubscribe(self, delivery_id, token, **_kwargs):
        Delivery = request.env["marketing.trigger.delivery"]
        delivery = Delivery._by_token("unsubscribe", delivery_id, token)
        if not delivery:
            return _not_found()
        if request.httprequest.method == "POST":
            # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click"; the page's
            # own button posts the same. No login, no CSRF token: the URL is signed.
            delivery._unsubscribe(_evidence("One-click unsubscribe", delivery))
            return request.render(
                "marketing_trigger.tracking_page",
                {
                    "title": "You are unsubscribed",
                    "message": "You will no longer receive marketing emails from us. "
                    "Service messages about your orders and bookings still reach you.",
                },
            )
        return request.render(
            "marketing_trigger.tracking_page",
            {
                "title": "Unsubscribe from marketing emails?",
                "message": f"Emails to {delivery.partner_id.email or ''} will stop.",
                "action": request.httprequest.path,
                "preferences_url": delivery._preferences_url(),
            },
        )

    @public_route(
        f"/mt/p/{DELIVERY}/{TOKEN}",
        methods=["GET", "POST"],
        ids=("delivery_id",),
        not_found=_not_found,
    )
    def preferences(self, delivery_id, token, **form):
        """The customer's preference page: channels and topics. The signed URL is the
        authentication (the customer has no login); every change is a consent proof."""
        Delivery = request.env["marketing.trigger.delivery"]
        delivery = Delivery._by_token("preferences", delivery_id, token)
        if not delivery:
            return _not_found()
        saved = False
        if request.httprequest.method == "POST":
            delivery._save_preferences(form, _evidence("Preference page", delivery))
            saved = True
        return request.render(
            "marketing_trigger.preferences_page",
            dict(delivery._preferences_values(), saved=saved, action=request.httprequest.path),
        )

    @public_route(
        f"/mt/a/{DELIVERY}/{TOKEN}",
        methods=["GET", "POST"],
        ids=("delivery_id",),
        not_found=_not_found,
    )
    def address(self, delivery_id, token, **form):
        """Confirm or correct the delivery address, once, before the link expires."""
        Delivery = request.env["marketing.trigger.delivery"]
        delivery, problem = Delivery._address_target(delivery_id, token)
        if not delivery:
            return _not_found()
        if problem:
            message = {
                "expired": "This link has expired. Please contact us if your address changed.",
                "answered": "Thank you, we already have your answer.",
            }[problem]
            return request.render(
                "marketing_trigger.tracking_page",
                {"title": "Delivery address", "message": message},
                status=410 if problem == "expired" else 200,
            )
        errors = {}
        if request.httprequest.method == "POST":
            errors = delivery._answer_address(form, _evidence("Address page", delivery))
            if not errors:
                return request.render(
                    "marketing_trigger.tracking_page",
                    {
                        "title": "Thank you",
                        "message": delivery._address_thanks(bool(form.get("correct"))),
                    },
                )
        address = delivery._delivery_address()
        values = {
            name: form.get(name, address[name] or "")
            for name in ("street", "street2", "zip", "city")
        }
        values["country_code"] = form.get("country_code", address.country_id.code or "")
        return request.render(
            "marketing_trigger.address_page",
            {
                "address": address,
                "values": values,
                "errors": errors,
                "countries": request.env["res.country"].sudo().search([]),
                "action": request.httprequest.path,
            },
            status=400 if errors else 200,
        )

    @public_route(
        f"/mt/l/<string:slug>/{DELIVERY}/{TOKEN}",
        methods=["GET"],
        ids=("delivery_id",),
        not_found=_not_found,
    )
    def landing(self, slug, delivery_id, token, **_kwargs):
        """A landing page with content chosen for the recipient; the visit counts as a
        click and fires the engagement triggers."""
        values = request.env["marketing.trigger.delivery"]._landing_visit(
            slug,
            delivery_id,
            token,
            user_agent=request.httprequest.user_agent.string,
            method=request.httprequest.method,
        )
        if not values:
            return _not_found()
        return request.render("marketing_trigger.landing_page", values)

    @http.route("/mt/landing/<string:slug>", type="http", auth="user", methods=["GET"])
    def landing_preview(self, slug, partner_id=None, **_kwargs):
        """A marketing user's preview of a landing page as a chosen contact (the link
        templates use; recipients get their own signed address): records nothing."""
        contact = record_id(partner_id) if partner_id is not None else False
        values = contact is not None and request.env["marketing.trigger.landing"]._preview_values(
            slug, contact
        )
        if not values:
            return _not_found()
        return request.render("marketing_trigger.landing_page", values)
