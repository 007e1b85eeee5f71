"""The Listmonk outbox: every call that sends something (a transactional email, a
newsletter) is written here first, in the user's transaction, and made by a cron.

Odoo users are never blocked by a slow or absent Listmonk, and nothing is lost: a call
that could not reach Listmonk is retried with backoff (1, 2, 4 … 60 minutes). A call
whose outcome is unknown (sent, then no answer) is **not** retried — a transactional
send is not idempotent — but kept as "outcome unknown" for a person to check and retry
by hand. A call Listmonk refused (a template that does not exist) fails with the reason.
"""

import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..listmonk import (
    ListmonkAuthError,
    ListmonkError,
    ListmonkOutcomeUnknown,
    ListmonkProtocolError,
    ListmonkUnavailable,
)

_logger = logging.getLogger(__name__)

OUTBOX_BATCH = 100
MAX_BACKOFF_MINUTES = 60
# Worth retrying: nothing was done (unreachable, refused credentials being fixed).
_RETRY = (ListmonkUnavailable, ListmonkAuthError, ListmonkProtocolError)


class MarketingListmonkOutbox(models.Model):
    _name = "marketing.listmonk.outbox"
    _description = "Listmonk Outbox"
    _order = "id desc"
    _rec_name = "operation"

    server_id = fields.Many2one(
        "marketing.listmonk.server", required=True, index=True, ondelete="cascade"
    )
    company_id = fields.Many2one(related="server_id.company_id", store=True)
    operation = fields.Selection(
        [
            ("tx", "Transactional email"),
            ("campaign", "Newsletter"),
            ("erase", "Erase deleted contacts"),
        ],
        required=True,
        readonly=True,
    )
    delivery_id = fields.Many2one(
        "marketing.trigger.delivery", index="btree_not_null", ondelete="cascade", readonly=True
    )
    campaign_id = fields.Many2one(
        "marketing.listmonk.campaign", index="btree_not_null", ondelete="cascade", readonly=True
    )
    payload = fields.Json(readonly=True)
    state = fields.Selection(
        [
            ("pending", "Waiting"),
            ("done", "Done"),
            ("unknown", "Outcome unknown"),
            ("failed", "Refused"),
        ],
        default="pending",
        required=True,
        index=True,
        readonly=True,
    )
    attempts = fields.Integer(readonly=True)
    next_attempt_at = fields.Datetime(default=fields.Datetime.now, required=True, readonly=True)
    last_error = fields.Text(readonly=True)
    done_at = fields.Datetime(readonly=True)

    @api.model
    def _enqueue(self, server, operation, **values):
        """Write the call down and wake the outbox cron (after the commit)."""
        row = self.sudo().create({"server_id": server.id, "operation": operation, **values})
        self.env.ref("marketing_trigger.ir_cron_listmonk_outbox")._trigger()
        return row

    @api.model
    def _cron_process(self, limit=OUTBOX_BATCH):
        rows = self._marketing_claim_due(
            "state", "pending", "next_attempt_at", fields.Datetime.now(), limit
        )
        for server, group in rows.grouped("server_id").items():
            group._process(server)
        remaining = self.search_count(
            [("state", "=", "pending"), ("next_attempt_at", "<=", fields.Datetime.now())]
        )
        self.env["ir.cron"]._notify_progress(done=len(rows), remaining=remaining)

    def _process(self, server):
        client = server._client()
        with client:
            for row in self:
                try:
                    if row.operation == "tx":
                        row.delivery_id._listmonk_send_tx(client, row.payload)
                    elif row.operation == "erase":
                        client.delete_subscribers(row.payload["subscriber_ids"])
                    else:
                        row.campaign_id._listmonk_push(client)
                except ListmonkOutcomeUnknown as exc:
                    if row.operation == "campaign":  # found again by its tag: safe to redo
                        row._retry_later(exc)
                    else:
                        row._give_up("unknown", exc)
                except _RETRY as exc:
                    row._retry_later(exc)
                    if isinstance(exc, ListmonkUnavailable):  # the rest would wait too
                        later = self.filtered(lambda r, done=row: r.id > done.id)
                        for rest in later.filtered(lambda r: r.state == "pending"):
                            rest._retry_later(exc)
                        return
                except ListmonkError as exc:
                    row._give_up("failed", exc)
                else:
                    now = fields.Datetime.now()
                    row.write({"state": "done", "done_at": now, "last_error": False})

    def _retry_later(self, error):
        self.ensure_one()
        wait = timedelta(minutes=min(2**self.attempts, MAX_BACKOFF_MINUTES))
        self.write(
            {
                "attempts": self.attempts + 1,
                "next_attempt_at": fields.Datetime.now() + wait,
                "last_error": str(error),
            }
        )
        self.server_id.write({"last_error": str(error), "last_error_at": fields.Datetime.now()})

    def _give_up(self, state, error):
        self.ensure_one()
        _logger.warning("Listmonk outbox %s (%s): %s", self.id, state, error)
        self.write({"state": state, "attempts": self.attempts + 1, "last_error": str(error)})
        if state == "unknown":
            why = _(
                "Listmonk may or may not have sent it (%(error)s). It is not resent "
                "automatically: check Listmonk, then retry it from the outbox if needed.",
                error=error,
            )
        else:
            why = _("Listmonk refused it: %(error)s", error=error)
        if self.delivery_id and state == "unknown":
            # It may have gone out: it stays in the contact ledger.
            self.delivery_id.write({"state": "unknown", "failure_reason": why})
        elif self.delivery_id:
            self.delivery_id._cancel(why, state="failed")
        if self.campaign_id:
            self.campaign_id.write({"state": "failed", "last_error": why})

    def action_retry(self):
        """Send again, on a person's decision (the only way an unknown outcome is retried)."""
        self.check_access("write")
        if self.filtered(lambda r: r.state == "done"):
            raise UserError(_("Done calls are not repeated."))
        self.sudo().write({"state": "pending", "next_attempt_at": fields.Datetime.now()})
        for row in self.filtered("delivery_id"):
            row.delivery_id.sudo().write({"state": "sending", "failure_reason": False})
        self.env.ref("marketing_trigger.ir_cron_listmonk_outbox")._trigger()
        return True


class MarketingListmonkServer(models.Model):
    _inherit = "marketing.listmonk.server"

    outbox_ids = fields.One2many("marketing.listmonk.outbox", "server_id")
    outbox_pending_count = fields.Integer("Calls waiting", compute="_compute_outbox_counts")
    outbox_problem_count = fields.Integer("Calls to check", compute="_compute_outbox_counts")

    def _compute_outbox_counts(self):
        Outbox = self.env["marketing.listmonk.outbox"].sudo()
        for server in self:
            server.outbox_pending_count = Outbox.search_count(
                [("server_id", "=", server.id), ("state", "=", "pending")]
            )
            server.outbox_problem_count = Outbox.search_count(
                [("server_id", "=", server.id), ("state", "in", ("unknown", "failed"))]
            )

    def action_view_outbox(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "marketing_trigger.marketing_listmonk_outbox_action"
        )
        action["domain"] = [("server_id", "=", self.id)]
        return action


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    email_transport = fields.Selection(
        [("odoo", "Odoo"), ("listmonk", "Listmonk (transactional)")],
        string="Send emails through",
        default="odoo",
        required=True,
        help="Listmonk: the email is sent by the company's Listmonk with a transactional "
        "template; caps, consent and the contact ledger count it as an email like any "
        "other.",
    )
    listmonk_template_id = fields.Integer(
        "Listmonk template ID",
        help="A transactional (tx) template in Listmonk. It receives the contact, the "
        "trigger and the event payload as {{ .Tx.Data.partner.city }} and so on, plus "
        "links to the preference page and the one-click unsubscribe.",
    )

    @api.constrains("email_transport", "listmonk_template_id", "channel", "fallback_channel")
    def _check_listmonk_transport(self):
        for trigger in self.filtered(lambda t: t.email_transport == "listmonk"):
            if trigger.listmonk_template_id <= 0:
                raise ValidationError(
                    _(
                        "Trigger '%(name)s' sends through Listmonk: enter the ID of its "
                        "transactional template.",
                        name=trigger.name,
                    )
                )
            if not trigger._listmonk_server():
                raise ValidationError(
                    _(
                        "Trigger '%(name)s' sends through Listmonk, but its company has no "
                        "Listmonk server (Configuration ▸ Listmonk).",
                        name=trigger.name,
                    )
                )

    def _needs_mail_template(self):
        return self.email_transport != "listmonk" and super()._needs_mail_template()

    def _listmonk_server(self):
        self.ensure_one()
        return (
            self.env["marketing.listmonk.server"]
            .sudo()
            .search([("company_id", "=", self.company_id.id)], limit=1)
        )


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    state = fields.Selection(
        selection_add=[
            ("sending", "Handed to Listmonk"),
            ("unknown", "Outcome unknown"),
            ("sent",),
        ],
        ondelete={"sending": "set default", "unknown": "set default"},
    )

    def _send_emails(self, template):
        via_listmonk = self.filtered(lambda d: d.trigger_id.email_transport == "listmonk")
        for delivery in via_listmonk:
            delivery._listmonk_queue_tx()
        rest = self - via_listmonk
        if rest:
            super(MarketingTriggerDelivery, rest)._send_emails(template)

    def _listmonk_queue_tx(self):
        """Put the transactional send in the outbox; the delivery stays pending (and
        claimed by nobody) until Listmonk took it."""
        self.ensure_one()
        trigger = self.trigger_id
        server = trigger._listmonk_server()
        if not server:
            self._cancel(
                _("Not sent: the company has no Listmonk server any more."), state="failed"
            )
            return
        base_url = self.get_base_url()
        data = self._text_values() | {
            "links": {
                "preferences": self._preferences_url(base_url),
                "unsubscribe": self._signed_url("unsubscribe", "u", base_url),
                "open_pixel": f"{self._signed_url('open', 'o', base_url)}.gif",
            }
        }
        self.write({"state": "sending"})
        self.env["marketing.listmonk.outbox"]._enqueue(
            server,
            "tx",
            delivery_id=self.id,
            payload={
                "template_id": trigger.listmonk_template_id,
                "email": self.partner_id.email_normalized,
                "data": data,
            },
        )

    def _listmonk_send_tx(self, client, payload):
        """Called by the outbox. Raises what Listmonk answered (the outbox decides)."""
        self.ensure_one()
        if self.state != "sending":
            return  # cancelled meanwhile
        client.send_tx(
            payload["template_id"],
            emails=[payload["email"]],
            data=payload["data"],
            headers=[
                {"List-Unsubscribe": f"<{payload['data']['links']['unsubscribe']}>"},
                {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            ]
            if self.trigger_id.message_class != "service"
            else [],
            mode="fallback",
        )
        self.write({"state": "sent", "sent_at": fields.Datetime.now()})


class ResPartner(models.Model):
    _inherit = "res.partner"

    def unlink(self):
        """A contact deleted in Odoo is deleted in Listmonk too (erasure), through the
        outbox: the deletion in Odoo never waits for Listmonk."""
        links = (
            self.env["marketing.listmonk.subscriber"]
            .sudo()
            .search([("partner_id", "in", self.ids), ("listmonk_id", "!=", 0)])
        )
        Outbox = self.env["marketing.listmonk.outbox"]
        for server, group in links.grouped("server_id").items():
            Outbox._enqueue(
                server, "erase", payload={"subscriber_ids": sorted(group.mapped("listmonk_id"))}
            )
        return super().unlink()
