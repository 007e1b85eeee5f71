"""Clicks and opens of newsletters sent by Listmonk. The links carry the recipient's
``odoo_ref`` (partner ID and signature) from the Listmonk template; the model method
checks it before recording anything (see ``models/marketing_listmonk_campaign.py``)."""

from odoo import http
from odoo.http import request

from .tracking import _not_found, pixel_response

REF = "<string:ref>"


class MarketingTriggerNewsletter(http.Controller):
    @http.route(
        f"/mt/n/<int:trigger_id>/<int:link_id>/{REF}",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
        csrf=False,
        save_session=False,
    )
    def newsletter_click(self, trigger_id, link_id, ref, **_kwargs):
        url = request.env["marketing.trigger.engagement"]._record_newsletter(
            "click",
            trigger_id,
            ref,
            link_id=link_id,
            user_agent=request.httprequest.user_agent.string,
            method=request.httprequest.method,
        )
        if not url:
            return _not_found()
        return request.redirect(url, code=303, local=False)

    @http.route(
        f"/mt/no/<int:trigger_id>/{REF}.gif",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
        csrf=False,
        save_session=False,
    )
    def newsletter_open(self, trigger_id, ref, **_kwargs):
        try:
            request.env["marketing.trigger.engagement"]._record_newsletter(
                "open",
                trigger_id,
                ref,
                user_agent=request.httprequest.user_agent.string,
                method=request.httprequest.method,
            )
        except Exception:  # noqa: BLE001 - the pixel is always answered
            request.env.cr.rollback()
        return pixel_response()
