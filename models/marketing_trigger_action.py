"""What a trigger does besides sending its message: record actions on the contact (tags,
interests, lifecycle stage) and the outbound webhook that carries voice messages to a
gateway. Record actions apply to every occurrence the trigger decides (the customer's
situation changed, whether or not the message may go out); a trigger with the "No
message" channel only applies them."""

import hashlib
import hmac
import json
import logging
import secrets
from urllib.parse import urlsplit

import httpx
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .common import LIFECYCLE_STAGES

_logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 10.0


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    channel = fields.Selection(
        selection_add=[("none", "No message (actions only)")],
        ondelete={"none": "set default"},
    )
    action_tag_add_ids = fields.Many2many(
        "res.partner.category",
        "marketing_trigger_tag_add_rel",
        string="Add tags",
        help="Tags added to the contact when the trigger fires.",
    )
    action_tag_remove_ids = fields.Many2many(
        "res.partner.category",
        "marketing_trigger_tag_remove_rel",
        string="Remove tags",
    )
    action_interest_add_ids = fields.Many2many(
        "marketing.trigger.interest",
        "marketing_trigger_interest_add_rel",
        string="Add interests",
    )
    action_interest_remove_ids = fields.Many2many(
        "marketing.trigger.interest",
        "marketing_trigger_interest_remove_rel",
        string="Remove interests",
    )
    action_lifecycle_stage = fields.Selection(
        LIFECYCLE_STAGES,
        string="Set lifecycle stage",
    )
    webhook_url = fields.Char(
        "Webhook URL",
        help="The voice-message channel POSTs a signed JSON document here (see README).",
    )
    webhook_secret = fields.Char(
        "Webhook secret",
        copy=False,
        groups="marketing_trigger.group_marketing_trigger_manager",
        default=lambda self: secrets.token_urlsafe(32),
        help="Signs outbound webhook calls (X-Marketing-Trigger-Signature) and "
        "authenticates inbound calls to this trigger.",
    )

    @api.constrains("webhook_url", "channel", "state")
    def _check_webhook_url(self):
        for trigger in self:
            url = (trigger.webhook_url or "").strip()
            if url:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    raise ValidationError(
                        _(
                            "Trigger '%(name)s': the webhook URL must start with http:// "
                            "or https:// and name a server, not '%(url)s'.",
                            name=trigger.name,
                            url=url,
                        )
                    )
            elif trigger.state == "active" and {"voice", "fax"} & {
                trigger.channel,
                trigger.fallback_channel,
            }:
                raise ValidationError(
                    _(
                        "Trigger '%(name)s' sends voice or fax messages: enter the gateway's "
                        "webhook URL.",
                        name=trigger.name,
                    )
                )

    def action_regenerate_secret(self):
        self.check_access("write")
        for trigger in self:
            trigger.sudo().webhook_secret = secrets.token_urlsafe(32)

    def _has_record_actions(self):
        self.ensure_one()
        return bool(
            self.action_tag_add_ids
            or self.action_tag_remove_ids
            or self.action_interest_add_ids
            or self.action_interest_remove_ids
            or self.action_lifecycle_stage
        )

    def _apply_record_actions(self, partners):
        """Tags, interests and lifecycle stage, written once for all ``partners``."""
        self.ensure_one()
        if not partners or not self._has_record_actions():
            return
        commands = {}
        if self.action_tag_add_ids or self.action_tag_remove_ids:
            commands["category_id"] = [
                *(fields.Command.link(t.id) for t in self.action_tag_add_ids),
                *(fields.Command.unlink(t.id) for t in self.action_tag_remove_ids),
            ]
        if self.action_interest_add_ids or self.action_interest_remove_ids:
            commands["marketing_interest_ids"] = [
                *(fields.Command.link(i.id) for i in self.action_interest_add_ids),
                *(fields.Command.unlink(i.id) for i in self.action_interest_remove_ids),
            ]
        if self.action_lifecycle_stage:
            commands["marketing_lifecycle_stage"] = self.action_lifecycle_stage
        partners.sudo().with_context(
            marketing_trigger_actions=True, marketing_lifecycle_source="action"
        ).write(commands)

    # ------------------------------------------------------ outbound webhook

    def _webhook_signature(self, body):
        self.ensure_one()
        key = (self.sudo().webhook_secret or "").encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    def _post_webhook(self, document):
        """POST ``document`` as JSON to the trigger's webhook; raises on failure."""
        self.ensure_one()
        body = json.dumps(document, sort_keys=True, default=str).encode()
        response = httpx.post(
            self.webhook_url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Odoo marketing_trigger",
                "X-Marketing-Trigger-Signature": self._webhook_signature(body),
            },
            timeout=WEBHOOK_TIMEOUT,
            follow_redirects=False,
        )
        response.raise_for_status()
        return response
