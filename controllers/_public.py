"""What every public route of the addon shares, so that no route can forget it.

``public_route`` is ``@http.route`` for a route anyone may call: no login, no CSRF token
(the signed URL or the caller's secret authenticates), no session, only its own
methods. On top of Odoo's routing it

- answers OPTIONS itself, without running the route: Odoo adds OPTIONS to every route
  and would otherwise run the controller for it, so that a preflight could record a
  click or accept a webhook event;
- parses the record ids of the URL (``ids=``): only ASCII digits within PostgreSQL's
  integer range are ids. Anything else ("²", 5000 digits, 2**70, "-1") is not found
  before Python's int() or PostgreSQL sees it;
- marks every answer as not to be framed and not to be named as a referrer: the URLs
  of these pages carry the customer's token.
"""

import functools

from odoo import http
from odoo.http import Response, request

from ..models.marketing_trigger_tracking import record_id

SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def client_text(text, limit=200):
    """Printable characters of a client-supplied header (user agent) for stored evidence:
    PostgreSQL refuses NUL, and control characters have no place in a log line."""
    return "".join(ch for ch in (text or "")[:limit] if ch.isprintable())


def public_route(route, methods, ids=(), not_found=None, **routing):
    """``@http.route`` for a public route, see the module docstring. ``ids`` name the
    URL arguments that are record ids; when one is malformed, ``not_found()`` answers."""
    allowed = ", ".join([*methods, "OPTIONS"])

    def decorator(endpoint):
        @functools.wraps(endpoint)
        def guarded(self, *args, **kwargs):
            if request.httprequest.method == "OPTIONS":
                response = Response(status=204, headers={"Allow": allowed})
            else:
                parsed = {name: record_id(kwargs.get(name)) for name in ids}
                if None in parsed.values():
                    response = not_found()
                else:
                    response = endpoint(self, *args, **{**kwargs, **parsed})
            for name, value in SECURITY_HEADERS.items():
                # Odoo gives images its stricter policy (default-src 'none') itself.
                if name != "Content-Security-Policy" or not response.mimetype.startswith("image/"):
                    response.headers[name] = value
            return response

        # A page with a form of its own (CSRF token, session) may ask for them back.
        options = {"csrf": False, "save_session": False, **routing}
        return http.route(route, type="http", auth="public", methods=methods, **options)(guarded)

    return decorator


def read_body(http_request, limit):
    """The request body, or None when it is longer than ``limit`` bytes: an announced
    length is checked before reading, and at most ``limit`` + 1 bytes are ever read (a
    chunked body announces nothing)."""
    if (http_request.content_length or 0) > limit:
        return None
    # Odoo's request wrapper offers the whole body only (get_data); the werkzeug
    # request under it has the stream (Odoo's bus reads the environ the same way).
    stream, body = http_request._HTTPRequest__wrapped.stream, b""
    while len(body) <= limit and (chunk := stream.read(limit + 1 - len(body))):
        body += chunk
    return None if len(body) > limit else body
