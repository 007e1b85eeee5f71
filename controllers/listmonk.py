"""Clicks and opens of newsletters sent by Listmonk. A tracked URL carries a signature
binding it to its newsletter (and link) and the recipient's ``odoo_ref`` (partner ID and
signature) from the Listmonk template; the model method checks both before recording
anything (see ``models/marketing_listmonk_campaign.py``). URLs of newsletters pushed
before links were signed (no newsletter signature) only redirect, and record nothing."""

from odoo import http
from odoo.http import request

from ._public import public_route
from .tracking import _not_found, _pixel_not_found, pixel_response, track_click, track_open

REF = "<string:ref>"
TRIGGER, LINK = "<string:trigger_id>", "<string:link_id>"  # parsed by public_route(ids=...)
CLICK = {"methods": ["GET", "HEAD"], "ids": ("trigger_id", "link_id"), "not_found": _not_found}
OPEN = {"methods": ["GET", "HEAD"], "ids": ("trigger_id",), "not_found": _pixel_not_found}


class MarketingTriggerNewsletter(http.Controller):
    @public_route(f"/mt/n/{TRIGGER}/{LINK}/<string:signature>/{REF}", **CLICK)
    def newsletter_click(self, trigger_id, link_id, signature, ref, **_kwargs):
        record = request.env["marketing.trigger.engagement"]._record_newsletter
        return track_click(record, trigger_id, signature, ref, link_id=link_id)

    @public_route(f"/mt/no/{TRIGGER}/<string:signature>/{REF}.gif", **OPEN)
    def newsletter_open(self, trigger_id, signature, ref, **_kwargs):
        record = request.env["marketing.trigger.engagement"]._record_newsletter
        return track_open(record, trigger_id, signature, ref)

    @public_route(f"/mt/n/{TRIGGER}/{LINK}/{REF}", **CLICK)
    def newsletter_click_unsigned(self, trigger_id, link_id, ref, **_kwargs):
        redirect = request.env["marketing.trigger.engagement"]._redirect_unsigned_newsletter
        return track_click(redirect, trigger_id, ref, link_id=link_id)

    @public_route(f"/mt/no/{TRIGGER}/{REF}.gif", **OPEN)
    def newsletter_open_unsigned(self, trigger_id, ref, **_kwargs):
        return pixel_response()
