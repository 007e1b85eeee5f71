import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL, split_every

from ..engine import Candidate, Channel, MessageClass
from ..engine.rules import channel_refusal
from ..engine.texts import render_text
from .common import CHANNEL_SELECTION

_logger = logging.getLogger(__name__)

DISPATCH_BATCH = 500
# At most this many calls due now are turned into activities by the transaction that
# decided them; more (a time trigger's sweep) go to the dispatcher, in its batches.
DISPATCH_NOW_LIMIT = 200
# Occurrence key prefix -> the model of the record it names (activities go there).
OCCURRENCE_MODELS = {
    "order": "sale.order",
    "quotation": "sale.order",
    "lead_won": "crm.lead",
    "lead_lost": "crm.lead",
}


class MarketingTriggerDelivery(models.Model):
    """A message to be sent (or sent) because a decision said so.

    Deliveries are created ``pending`` in the transaction that decided them and sent by
    the dispatcher cron, which claims them with ``FOR UPDATE SKIP LOCKED`` so that
    several cron workers can share the queue. Consent and blacklist are checked again
    right before sending. A unique constraint on (trigger, partner, occurrence) keeps a
    second copy out even if a bug upstream decided twice.
    """

    _name = "marketing.trigger.delivery"
    _description = "Marketing Trigger Delivery"
    _order = "scheduled_at desc, id desc"
    _rec_name = "trigger_id"

    decision_id = fields.Many2one(
        "marketing.trigger.decision", required=True, index=True, ondelete="cascade"
    )
    trigger_id = fields.Many2one("marketing.trigger", required=True, index=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(
        "res.company",
        required=True,
        readonly=True,
        index=True,
        help="The trigger's company, set at creation (a plain column: thousands are "
        "written per evaluation).",
    )
    occurrence_key = fields.Char(required=True)
    channel = fields.Selection(CHANNEL_SELECTION, required=True)
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("queued", "Queued"),
            ("sent", "Sent"),
            ("bounced", "Bounced"),
            ("cancelled", "Cancelled"),
            ("failed", "Failed"),
        ],
        default="pending",
        required=True,
        index=True,
        help="Pending: decided, waiting for its time. Queued: handed to Odoo's email or "
        "SMS queue. Sent: the mail server (or SMS provider, or gateway) accepted it. "
        "Bounced: reported undeliverable afterwards. Failed: not sent, see the reason.",
    )
    scheduled_at = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    sent_at = fields.Datetime(
        readonly=True, help="When the mail server, SMS provider or gateway accepted it."
    )
    mail_id = fields.Many2one(
        "mail.mail", string="Email", ondelete="set null", readonly=True, index="btree_not_null"
    )
    sms_id = fields.Many2one(
        "sms.sms", string="SMS", ondelete="set null", readonly=True, index="btree_not_null"
    )
    message_id = fields.Char(
        "Message-Id",
        readonly=True,
        index="btree_not_null",
        help="The Message-Id of the sent email: a bounce names it.",
    )
    activity_id = fields.Many2one("mail.activity", ondelete="set null", readonly=True)
    touch_ids = fields.One2many("marketing.trigger.touch", "delivery_id")
    failure_reason = fields.Text(readonly=True)

    _sql_constraints = [
        (
            "occurrence_uniq",
            "UNIQUE(trigger_id, partner_id, occurrence_key)",
            "This occurrence of the trigger was already delivered to this partner.",
        ),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        return super().create(self._marketing_company_from_trigger(vals_list))

    @api.model
    def _create_for(self, decisions):
        """Queue one delivery per "send" decision, count it in the partner's ledger at
        the moment it will go out, and wake the dispatcher for that moment. A few calls
        due now become their activities at once (see ``_dispatch_now``)."""
        deliveries = self.create(
            [
                {
                    "decision_id": decision.id,
                    "trigger_id": decision.trigger_id.id,
                    "partner_id": decision.partner_id.id,
                    "occurrence_key": decision.occurrence_key,
                    "channel": decision.channel,
                    "scheduled_at": decision.send_at or decision.decided_at,
                }
                for decision in decisions
            ]
        )
        deliveries._add_touches()
        deliveries._dispatch_now()
        waiting = deliveries.filtered(lambda d: d.state == "pending")
        if waiting:
            cron = self.env.ref("marketing_trigger.ir_cron_dispatch")
            cron._trigger(at=sorted(set(waiting.mapped("scheduled_at")))[:50])
        return deliveries

    def _dispatch_now(self):
        """Create the salesperson's activities of the calls among these new deliveries
        that are due now, in the transaction that decided them: "call now" must not wait
        for the dispatcher's next turn (under load that turn is many seconds away). The
        same checks as the dispatcher's apply (``_dispatch``). A large batch (a time
        trigger's sweep) is left to the dispatcher, and so is anything that fails here:
        the deliveries stay pending and the dispatcher sends or reports them."""
        now = fields.Datetime.now()
        calls = self.filtered(lambda d: d.channel == "phone" and d.scheduled_at <= now)
        if not calls or len(calls) > DISPATCH_NOW_LIMIT:
            return
        try:
            with self.env.cr.savepoint():
                calls._dispatch()
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise  # the caller's transaction is retried as a whole
        except Exception:  # noqa: BLE001 - the dispatcher retries and reports it
            _logger.warning(
                "Activities of deliveries %s could not be created at once; the dispatcher "
                "will retry",
                calls.ids,
                exc_info=True,
            )

    def _add_touches(self):
        """Count the deliveries in their partners' ledgers, at the moment they go out."""
        self.env["marketing.trigger.touch"].sudo().create(
            [
                {
                    "partner_id": delivery.partner_id.id,
                    "channel": delivery.channel,
                    "date": delivery.scheduled_at,
                    "source": "trigger",
                    "trigger_id": delivery.trigger_id.id,
                    "topic_id": delivery.trigger_id.topic_id.id,
                    "delivery_id": delivery.id,
                    "is_counted": delivery.trigger_id.message_class != "service",
                    "note": delivery.trigger_id.name,
                }
                for delivery in self
            ]
        )

    # ------------------------------------------------------------ dispatch

    @api.model
    def _cron_dispatch(self, batch_size=DISPATCH_BATCH):
        """Send the due deliveries, one batch per run; Odoo re-runs while work remains."""
        claimed = self._marketing_claim_due(
            "state", "pending", "scheduled_at", fields.Datetime.now(), batch_size
        )
        claimed._dispatch()
        remaining = self.search_count(
            [("state", "=", "pending"), ("scheduled_at", "<=", fields.Datetime.now())]
        )
        self.env["ir.cron"]._notify_progress(done=len(claimed), remaining=remaining)

    def _dispatch(self):
        """Re-check each delivery, then render and queue the emails, per template."""
        if not self:
            return
        facts = self.env["marketing.trigger.decision"]._partner_facts(set(self.partner_id.ids))
        sendable = self.browse()
        for delivery in self:
            trigger = delivery.trigger_id
            if trigger.state != "active" or not trigger.active:
                delivery._cancel(_("Not sent: the trigger was paused before it was due."))
                continue
            if not trigger._still_due(delivery.partner_id, delivery.occurrence_key):
                delivery._cancel(
                    _(
                        "Not sent: the occasion is over (e.g. the quotation was "
                        "confirmed or cancelled meanwhile)."
                    )
                )
                continue
            topic = trigger.topic_id
            if (
                topic
                and trigger.message_class != "service"
                and topic in delivery.partner_id.marketing_topic_optout_ids
            ):
                delivery._cancel(
                    _("Not sent: the partner opted out of the topic %(topic)s.", topic=topic.name)
                )
                continue
            refusal = channel_refusal(
                Channel(delivery.channel), delivery._candidate(), facts[delivery.partner_id.id]
            )
            if refusal:
                _reason, explanation = refusal
                delivery._cancel(_("Not sent: at dispatch, %(why)s", why=explanation))
            else:
                sendable |= delivery
        emails = sendable.filtered(lambda d: d.channel == "email")
        for template, group in emails.grouped(lambda d: d._content("mail_template_id")).items():
            group._send_emails(template)
        if emails:
            self.env.ref("mail.ir_cron_mail_scheduler_action")._trigger()
        sms = sendable.filtered(lambda d: d.channel == "sms")
        if sms:
            sms._send_sms()
        calls = sendable.filtered(lambda d: d.channel == "phone")
        if calls:
            calls._schedule_activities()
        for delivery in sendable.filtered(lambda d: d.channel in ("voice", "fax")):
            delivery._send_webhook()

    def _candidate(self):
        trigger = self.trigger_id
        return Candidate(
            trigger_id=trigger.id,
            partner_id=self.partner_id.id,
            occurrence_key=self.occurrence_key,
            channels=(Channel(self.channel),),
            message_class=MessageClass(trigger.message_class),
        )

    def _send_emails(self, template):
        if not template:
            self._cancel(_("The trigger has no template."), state="failed")
            return
        records = {delivery: delivery._render_record() for delivery in self}
        gone = self.filtered(lambda d: not records[d])
        for delivery in gone:
            delivery._cancel(
                _(
                    "Not sent: the %(record)s this message is about no longer exists.",
                    record=self.env["ir.model"]._get(template.model).name,
                ),
                state="failed",
            )
        if gone:
            (self - gone)._send_emails(template)
            return
        seen, repeated = set(), self.browse()
        for delivery in self:
            if records[delivery].id in seen:
                repeated |= delivery
            seen.add(records[delivery].id)
        if repeated:
            # Two triggers sharing a template reach one partner (or are about one
            # record): one email each.
            (self - repeated)._send_emails(template)
            repeated._send_emails(template)
            return
        size = int(self.env["ir.config_parameter"].sudo().get_param("mail.batch_size") or 50)
        if len(self) > size:
            # Odoo renders and creates the emails in chunks of mail.batch_size anyway; one
            # savepoint each means a contact that does not render wastes one chunk's work.
            for chunk in split_every(size, self.ids, self.browse):
                chunk._send_emails(template)
            return
        try:
            with self.env.cr.savepoint():
                # Rendered on the contact, or on the record the occurrence is about
                # (the order, the delivery…), and always sent to the decided contact.
                recipients = {records[d].id: d.partner_id.id for d in self}
                mails = (
                    template.sudo()
                    .with_context(
                        marketing_trigger_batch_render=True,
                        marketing_trigger_recipients=recipients,
                    )
                    # A notification email keeps its message when Odoo deletes the
                    # email once sent: the record's chatter keeps what was sent.
                    .send_mail_batch(list(recipients), email_values={"is_notification": True})
                )
                # Odoo groups the batch by language: match the emails by record.
                by_record = {mail.res_id: mail for mail in mails}
                mails = self.env["mail.mail"].concat(*(by_record[records[d].id] for d in self))
                self._sign_as_sender(template, mails)
                self._mark_queued("mail_id", mails)
                self._link_sent_messages()
        except Exception as exc:  # noqa: BLE001 - isolate the one delivery that breaks
            if len(self) == 1:
                _logger.info("Delivery %s could not be rendered: %s", self.id, exc)
                self._cancel(self._render_failure(template, exc), state="failed")
                return
            # Halve the chunk rather than go one by one: one contact that does not render
            # costs about two renderings of its chunk, not one round per contact.
            half = len(self) // 2
            self[:half]._send_emails(template)
            self[half:]._send_emails(template)

    def _render_failure(self, template, exc):
        """Why ``template`` did not render for this delivery's contact, naming the field
        that fails (re-rendered alone, for this one contact) and the error."""
        self.ensure_one()
        template = template.sudo()
        fields_ = template._fields
        for fname in ("subject", "email_from", "reply_to", "scheduled_date", "body_html"):
            if not template[fname]:
                continue
            try:
                with self.env.cr.savepoint():
                    template._render_field(fname, self._render_record().ids)
            except Exception as field_exc:  # noqa: BLE001 - we are looking for it
                return _(
                    "The email template %(template)s could not be rendered for this "
                    "contact: field %(field)s: %(error)s",
                    template=template.display_name,
                    field=fields_[fname]._description_string(self.env),
                    error=_error_text(field_exc),
                )
        return _(
            "The email template %(template)s could not be rendered for this contact: " "%(error)s",
            template=template.display_name,
            error=_error_text(exc),
        )

    def _content(self, field_name):
        """The variant's content when the decision chose one and it has it, else the
        trigger's."""
        variant = self.decision_id.variant_id
        return (variant[field_name] if variant else None) or self.trigger_id[field_name]

    def _text_values(self):
        """Plain values (no records) for the sandboxed SMS and activity templates."""
        partner, trigger = self.partner_id, self.trigger_id
        return {
            "partner": {
                "name": partner.name or "",
                "first_name": (partner.name or "").split(" ")[0],
                "city": partner.city or "",
                "email": partner.email or "",
                "salesperson": partner.user_id.name or "",
                "lang": partner.lang or "",
            },
            "company": {"name": (partner.company_id or trigger.company_id).name},
            "trigger": {"name": trigger.name},
            "payload": self._inbound_payload(),
        }

    def _inbound_payload(self):
        """What the caller sent with the inbound event behind this delivery, if any."""
        if not (self.occurrence_key or "").startswith("inbound:"):
            return {}
        ref = self.occurrence_key.split(":", 1)[1]
        Event = self.env["marketing.trigger.event"].sudo()
        event = Event.search(
            [("trigger_id", "=", self.trigger_id.id), ("external_ref", "=", ref)], limit=1
        )
        if not event and ref.isdigit():
            event = Event.browse(int(ref)).exists()
        return event.payload or {}

    def _render(self, text):
        """Render ``text`` for this delivery, or fail it with the reason. Returns None
        when it failed."""
        try:
            return render_text(text, self._text_values())
        except Exception as exc:  # noqa: BLE001 - one bad text fails one delivery
            self._cancel(
                _("The text could not be rendered: %(error)s", error=_error_text(exc)),
                state="failed",
            )
            return None

    def _send_sms(self):
        """Queue the SMS in Odoo's SMS outbox (sent by its SMS cron), to the E.164 number.
        The delivery follows the SMS's state from there (models/sms_sms.py)."""
        sms_values, sent = [], self.browse()
        for delivery in self:
            in_lang = delivery.with_context(lang=delivery.partner_id.lang)
            body = delivery._render(in_lang._content("sms_body"))
            if body is None:
                continue
            sms_values.append(
                {
                    "number": delivery.partner_id.phone_sanitized,
                    "body": body,
                    "partner_id": delivery.partner_id.id,
                    "state": "outgoing",
                }
            )
            sent |= delivery
        if sent:
            sent._mark_queued("sms_id", self.env["sms.sms"].sudo().create(sms_values))
            self.env.ref("sms.ir_cron_sms_scheduler_action")._trigger()

    def _occurrence_record(self):
        """The business record the occurrence is about (the order of "order:42", the
        lead of "lead_won:7"), or the partner."""
        prefix, _sep, ref = (self.occurrence_key or "").partition(":")
        model = OCCURRENCE_MODELS.get(prefix)
        if model and ref.isdigit() and model in self.env:
            record = self.env[model].sudo().browse(int(ref)).exists()
            if record:
                return record
        return self.partner_id

    def _schedule_activities(self):
        """A call activity for the salesperson of the order or lead the occurrence is
        about, else the partner's, on that record, saying why and by when. The
        activities are created in one batch (Odoo subscribes each salesperson once per
        batch and model)."""
        today = fields.Date.context_today(self)
        default_type = self.env.ref("mail.mail_activity_data_call").id
        scheduled, vals_list = self.browse(), []
        for delivery in self:
            record = delivery._occurrence_record()
            model_id = self.env["ir.model"]._get_id(record._name)
            trigger = delivery.trigger_id
            summary = delivery._render(delivery._content("activity_summary") or trigger.name)
            if summary is None:
                continue
            owner = record.user_id if "user_id" in record._fields else record.browse()
            user = owner or delivery.partner_id.user_id or trigger.activity_user_id
            if not user:
                delivery._cancel(
                    _(
                        "Nobody to call: the partner has no salesperson and the "
                        "trigger names no fallback assignee."
                    ),
                    state="failed",
                )
                continue
            values = {
                "res_model_id": model_id,
                "res_id": record.id,
                "activity_type_id": trigger.activity_type_id.id or default_type,
                "summary": summary,
                "note": _(
                    "Marketing trigger %(trigger)s: %(why)s",
                    trigger=trigger.name,
                    why=delivery.decision_id.explanation or "",
                ),
                "user_id": user.id,
                "date_deadline": today + timedelta(days=max(trigger.activity_deadline_days, 0)),
            }
            # A kind may word it for the salesperson (a callback names its time).
            vals_list.append(trigger._activity_values(delivery, user, values))
            scheduled |= delivery
        if not scheduled:
            return
        # The salespeople's "assigned to you" emails go through Odoo's email queue, sent
        # in one batch (its cron is woken), not one SMTP session each after the commit:
        # the cron that creates the activities must not wait for the mail server.
        activities = (
            self.env["mail.activity"]
            .sudo()
            .with_context(mail_notify_force_send=False)
            .create(vals_list)
        )
        self.env.ref("mail.ir_cron_mail_scheduler_action")._trigger()
        for delivery, activity in zip(scheduled, activities, strict=True):
            delivery.activity_id = activity
        scheduled.write({"state": "sent", "sent_at": fields.Datetime.now()})

    def _webhook_document(self, text):
        """The JSON document an outbound webhook receives (documented in README.md)."""
        partner, trigger = self.partner_id, self.trigger_id
        return {
            "event": "marketing_trigger.message",
            "delivery_id": self.id,
            "channel": self.channel,
            "occurrence": self.occurrence_key,
            "trigger": {"id": trigger.id, "name": trigger.name},
            "partner": {
                "id": partner.id,
                "name": partner.name or "",
                "phone": partner.phone_sanitized or "",
                "email": partner.email_normalized or "",
                "lang": partner.lang or "",
                "city": partner.city or "",
                "country": partner.country_id.code or "",
            },
            "text": text,
            "scheduled_at": self.scheduled_at.isoformat(),
        }

    def _send_webhook(self):
        """POST the voice message to the trigger's gateway; a refused or unreachable
        gateway fails the delivery with the reason (it is not retried blindly: the
        gateway may have acted on it)."""
        self.ensure_one()
        text = self.with_context(lang=self.partner_id.lang)._render(self._content("sms_body"))
        if text is None:
            return
        try:
            self.trigger_id._post_webhook(self._webhook_document(text))
        except Exception as exc:  # noqa: BLE001 - any transport or HTTP error
            _logger.warning("Webhook of delivery %s failed: %s", self.id, exc)
            self._cancel(_("The webhook call failed: %(error)s", error=exc), state="failed")
            return
        self.write({"state": "sent", "sent_at": fields.Datetime.now()})

    def _cancel(self, why, state="cancelled"):
        """Give the delivery up; it no longer weighs on the partner's contact pressure.
        A failed message reached nobody, so its touch goes too (the system removes its
        own evidence here, hence sudo)."""
        self.write({"state": state, "failure_reason": why})
        self.touch_ids.sudo().unlink()

    def _mark_queued(self, fname, messages):
        """Mark the deliveries queued, each with its email or SMS (``fname``: mail_id or
        sms_id), in one UPDATE (a batch is hundreds of rows with a different message
        each). The ledger touch added when they were decided stays: they go out now."""
        if len(self) != len(messages):
            raise ValueError("one message per delivery expected")
        if fname not in ("mail_id", "sms_id"):
            raise ValueError(fname)
        now = fields.Datetime.now()
        fnames = ["state", fname, "write_date", "write_uid"]
        self.flush_recordset(fnames)
        self.env.cr.execute(
            SQL(
                """UPDATE marketing_trigger_delivery d
                SET state = 'queued', %s = m.message, write_date = %s, write_uid = %s
                FROM unnest(%s::int[], %s::int[]) AS m(id, message)
                WHERE d.id = m.id""",
                SQL.identifier(fname),
                now,
                self.env.uid,
                self.ids,
                messages.ids,
            )
        )
        self.invalidate_recordset(fnames)


def _error_text(exc, limit=500):
    """The readable part of a rendering error: Odoo wraps the cause in a UserError that
    repeats the whole template and a traceback."""
    cause = exc.__cause__ or exc.__context__ if isinstance(exc, UserError) else exc
    cause = cause or exc
    text = f"{type(cause).__name__}: {cause}" if not isinstance(cause, UserError) else str(cause)
    return text if len(text) <= limit else text[: limit - 1] + "…"
