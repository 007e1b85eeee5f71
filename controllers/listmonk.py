"""Clicks and opens of newsletters sent by Listmonk. The links carry the recipient's
``odoo_ref`` (partner ID and signature) from the Listmonk template; the model method
checks it before recording anything (see ``models/marketing_listmonk_campaign.py``)."""

from odoo import http
from odoo.http import request

from .tracking import track_click, track_open

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
        record = request.env["marketing.trigger.engagement"]._record_newsletter
        return track_click(record, trigger_id, ref, link_id=link_id)

    @http.route(
        f"/mt/no/<int:trigger_id>/{REF}.gif",
        type="http",
        auth="public",
        methods=["GET", "HEAD"],
        csrf=False,
        save_session=False,
    )
    def newsletter_open(self, trigger_id, ref, **_kwargs):
        record = request.env["marketing.trigger.engagement"]._record_newsletter
        return track_open(record, trigger_id, ref)
