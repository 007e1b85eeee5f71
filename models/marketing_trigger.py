import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

from ..engine import Candidate, Channel, MessageClass

CHANNELS = [
    ("email", "Email"),
    ("sms", "SMS"),
    ("phone", "Salesperson call (activity)"),
    ("voice", "Voice message (outbound webhook)"),
    ("fax", "Fax (outbound webhook)"),
]

_logger = logging.getLogger(__name__)


class MarketingTrigger(models.Model):
    """A rule: *when* something happens (its kind), *who* (a domain on partners), *what*
    is sent (channel and template), and how it ranks against other triggers.

    Trigger kinds are registered through :meth:`_kinds`; a kind maps records to
    occurrences in ``_event_occurrences_<kind>`` (record events) or ``_occurrences_<kind>``
    (time-based kinds), which become engine candidates. Decisions themselves
    are taken by the engine through ``marketing.trigger.decision``.
    """

    _name = "marketing.trigger"
    _description = "Marketing Trigger"
    _inherit = ["mail.thread", "marketing.trigger.content"]
    _order = "priority desc, sequence, id"

    name = fields.Char(required=True, translate=True, tracking=True)
    description = fields.Text(translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    state = fields.Selection(
        [("draft", "Draft"), ("active", "Active"), ("paused", "Paused")],
        default="draft",
        required=True,
        copy=False,
        tracking=True,
        index=True,
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    kind = fields.Selection(
        selection="_selection_kind",
        required=True,
        default="partner_registered",
        index=True,
        tracking=True,
    )
    partner_domain = fields.Char(
        string="Who",
        default="[]",
        help="Only partners matching this filter are offered to the engine.",
    )
    priority = fields.Integer(
        default=10,
        tracking=True,
        help="When a partner qualifies for several triggers at once, the highest "
        "priority wins; business value breaks ties.",
    )
    business_value = fields.Float(help="Expected value of one send, used to break ties.")
    message_class = fields.Selection(
        [
            ("service", "Service (no marketing consent needed)"),
            ("defer", "Marketing: defer when blocked"),
            ("drop", "Marketing: drop when blocked"),
        ],
        default="drop",
        required=True,
        tracking=True,
    )
    topic_id = fields.Many2one(
        "marketing.trigger.topic",
        string="Topic",
        tracking=True,
        help="What the message is about; the contact policy may keep a cooldown per topic.",
    )
    cooldown_days = fields.Integer(
        "Cooldown (days)",
        tracking=True,
        help="After this trigger reached a partner, it does not reach them again for this "
        "many days (0: no cooldown).",
    )
    channel = fields.Selection(
        CHANNELS,
        default="email",
        required=True,
        tracking=True,
        help="How the message reaches the partner. A salesperson call creates an activity "
        "for the partner's salesperson.",
    )
    fallback_channel = fields.Selection(
        CHANNELS,
        tracking=True,
        help="Used when the first channel cannot be: no consent, no address, or capped. "
        "A partner's preferred channel is tried first when it is one of the two.",
    )
    sms_body = fields.Text(
        "SMS text",
        translate=True,
        help="Jinja2, e.g. Hi {{ partner.first_name }}, your seminar in {{ partner.city }} "
        "starts soon. Available: partner (name, first_name, city, email, salesperson), "
        "company (name), trigger (name), payload (what an inbound event sent).",
    )
    activity_type_id = fields.Many2one(
        "mail.activity.type",
        string="Activity type",
        default=lambda self: self.env.ref("mail.mail_activity_data_call", raise_if_not_found=False),
    )
    activity_summary = fields.Char(
        translate=True, help="Jinja2, e.g. Call {{ partner.name }}: interested in seminars."
    )
    activity_deadline_days = fields.Integer("Deadline (days)", default=1)
    activity_user_id = fields.Many2one(
        "res.users",
        string="Assign to (fallback)",
        help="Who gets the activity when the partner has no salesperson.",
    )
    mail_template_id = fields.Many2one(
        "mail.template",
        string="Email template",
        domain="[('model_id', '=', render_model_id)]",
        tracking=True,
        help="Rendered on what the message is about: the contact, or the record behind "
        "the occurrence (the order, the delivery, the opportunity, the price watch) for "
        "kinds that come from one. It always goes to the decided contact.",
    )
    variant_ids = fields.One2many(
        "marketing.trigger.variant",
        "trigger_id",
        string="Variants",
        copy=True,
        help="Segment-specific content: the first matching variant replaces the template "
        "or text below for that partner.",
    )
    last_error = fields.Text(readonly=True, copy=False)
    decision_ids = fields.One2many("marketing.trigger.decision", "trigger_id")
    decision_count = fields.Integer(compute="_compute_counters")
    sent_count = fields.Integer(
        compute="_compute_counters", help="Messages the mail server or provider accepted."
    )
    failed_count = fields.Integer(compute="_compute_counters", help="Messages that failed.")
    bounced_count = fields.Integer(compute="_compute_counters", help="Messages that bounced.")
    suppressed_count = fields.Integer(compute="_compute_counters")
    error_count = fields.Integer(compute="_compute_counters")

    # ------------------------------------------------------------------ kinds

    @api.model
    def _kinds(self):
        """The trigger kinds, as ``(key, label)``. Override to add one; then implement
        ``_event_occurrences_<key>(records)`` and call ``_fire(key, records)`` where the
        event happens (record events), or ``_occurrences_<key>(start, end)`` and list it
        in ``_time_kinds`` (time-based kinds)."""
        return [("partner_registered", _("Contact registered"))]

    @api.model
    def _time_kinds(self):
        """Kinds whose occurrences come from dates, found by ``_occurrences_<kind>(start,
        end)``: the scheduler evaluates them and the forecast replays them."""
        return []

    @api.model
    def _selection_kind(self):
        return self._kinds()

    # ------------------------------------------------------------- computes

    def _compute_counters(self):
        counts = {
            (trigger.id, outcome): count
            for trigger, outcome, count in self.env["marketing.trigger.decision"]._read_group(
                [("trigger_id", "in", self.ids)], ["trigger_id", "outcome"], ["__count"]
            )
        }
        # Sent means sent: count the deliveries by their real outcome, not the decisions
        # to send (a queued email may still fail or bounce).
        states = {
            (trigger.id, state): count
            for trigger, state, count in self.env["marketing.trigger.delivery"]._read_group(
                [("trigger_id", "in", self.ids), ("state", "in", ("sent", "failed", "bounced"))],
                ["trigger_id", "state"],
                ["__count"],
            )
        }
        for trigger in self:
            trigger.sent_count = states.get((trigger.id, "sent"), 0)
            trigger.failed_count = states.get((trigger.id, "failed"), 0)
            trigger.bounced_count = states.get((trigger.id, "bounced"), 0)
            trigger.suppressed_count = counts.get((trigger.id, "suppress"), 0)
            trigger.error_count = counts.get((trigger.id, "error"), 0)
            trigger.decision_count = sum(
                count for (tid, _outcome), count in counts.items() if tid == trigger.id
            )

    # ----------------------------------------------------------- validation

    _sql_constraints = [
        ("cooldown_check", "CHECK(cooldown_days >= 0)", "A cooldown cannot be negative."),
    ]

    @api.constrains("state", "channel", "fallback_channel", "mail_template_id", "sms_body")
    def _check_ready_to_run(self):
        for trigger in self.filtered(lambda t: t.state == "active"):
            channels = {trigger.channel, trigger.fallback_channel}
            if {"sms", "voice", "fax"} & channels and not trigger.sms_body:
                raise ValidationError(
                    _(
                        "Trigger '%(name)s' sends SMS, voice or fax messages: write the text.",
                        name=trigger.name,
                    )
                )
            needs_template = trigger._needs_mail_template()
            if "email" in channels and not trigger.mail_template_id and needs_template:
                raise ValidationError(
                    _(
                        "Trigger '%(name)s' sends email: choose an email template.",
                        name=trigger.name,
                    )
                )

    def _needs_mail_template(self):
        """Whether its emails are rendered from an Odoo template (another transport,
        e.g. Listmonk's transactional templates, says no)."""
        return True

    def _variant_for(self, partners):
        """{partner id: the first variant whose segment matches it} (set-based)."""
        self.ensure_one()
        chosen, left = {}, partners
        for variant in self.variant_ids:
            if not left:
                break
            matching = left.sudo().filtered_domain(variant._partner_domain())
            chosen.update(dict.fromkeys(matching.ids, variant))
            left -= matching
        return chosen

    def _still_due(self, partner, occurrence_key):
        """Whether the occurrence still stands right before sending (a kind may say no:
        the quotation was confirmed meanwhile)."""
        return True

    def _channels(self):
        self.ensure_one()
        if self.channel == "none":
            return ()
        channels = [Channel(self.channel)]
        if self.fallback_channel and self.fallback_channel != self.channel:
            channels.append(Channel(self.fallback_channel))
        return tuple(channels)

    # -------------------------------------------------------------- actions

    @api.model_create_multi
    def create(self, vals_list):
        triggers = super().create(vals_list)
        self.env.registry.clear_cache()  # marketing.trigger.event._has_active_trigger
        return triggers

    def write(self, vals):
        result = super().write(vals)
        if {"state", "kind", "active", "company_id"} & set(vals):
            self.env.registry.clear_cache()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result

    def action_activate(self):
        self.write({"state": "active", "last_error": False})

    def action_pause(self):
        self.write({"state": "paused"})

    def action_view_decisions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "marketing_trigger.marketing_trigger_decision_action"
        )
        action["domain"] = [("trigger_id", "=", self.id)]
        action["context"] = {"search_default_group_outcome": 1}
        return action

    # ------------------------------------------------------------ evaluation

    @api.model
    def _fire(self, kind, records):
        """Queue ``records`` for the active triggers of ``kind``; they are evaluated by
        the event cron right after the transaction commits. Never raises."""
        self.env["marketing.trigger.event"]._enqueue(kind, records)

    @api.model
    def _fire_now(self, kind, records):
        """Offer ``records`` to every active trigger of ``kind``, now. Never raises:
        whatever goes wrong is logged on the decision and the trigger."""
        if not records:
            return
        try:
            by_company = records.grouped(
                lambda r: r.company_id
                if "company_id" in r._fields and r.company_id
                else self.env.company
            )
            for company, company_records in by_company.items():
                triggers = self.sudo().search(
                    [("kind", "=", kind), ("state", "=", "active"), ("company_id", "=", company.id)]
                )
                for trigger in triggers:
                    trigger._evaluate(company_records.sudo())
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise  # a concurrent update: the cron rolls back and the events stay queued
        except Exception:
            _logger.exception("Marketing triggers of kind %s could not be run", kind)

    def _evaluate(self, records):
        """Build this trigger's candidates from ``records`` and have them decided."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                occurrences = self._event_occurrences(records)
                partners = (
                    self.env["res.partner"]
                    .sudo()
                    .browse({partner.id for partner, _key in occurrences})
                )
                allowed = partners.filtered_domain(self._partner_domain())
                candidates = [
                    self._candidate(partner, key)
                    for partner, key in occurrences
                    if partner in allowed
                ]
                # Occurrences decided before are skipped there, for every kind.
                self.env["marketing.trigger.decision"]._decide_and_apply(candidates)
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            # Not the trigger's fault (a concurrent update of the same contact): let the
            # transaction roll back so the work is retried, rather than pause the trigger.
            raise
        except Exception as exc:  # noqa: BLE001 - a trigger must never block the business
            _logger.exception("Marketing trigger %s (%s) failed", self.name, self.id)
            self._record_failure(records, exc)

    def _event_occurrences(self, records):
        """[(partner, occurrence key)] of this record-event trigger for ``records``."""
        return [
            (partner, key)
            for partner, key in getattr(self, f"_event_occurrences_{self.kind}")(records)
            if partner
        ]

    def _record_failure(self, records, exc):
        """Pause the trigger and log the failure on each record's decision."""
        message = f"{type(exc).__name__}: {exc}"
        try:
            occurrences = self._event_occurrences(records)
        except Exception:  # noqa: BLE001 - the failure may lie there too
            occurrences = [(r._marketing_partner(), f"{r._name}:{r.id}") for r in records]
        try:
            with self.env.cr.savepoint():
                self.write({"state": "paused", "last_error": message})
                self.env["marketing.trigger.decision"].create(
                    [
                        self._error_values(partner, key, message)
                        for partner, key in occurrences
                        if partner
                    ]
                )
        except Exception:
            _logger.exception("The failure of marketing trigger %s could not be logged", self.id)

    def _error_values(self, partner, key, message):
        return {
            "trigger_id": self.id,
            "partner_id": partner.id,
            "occurrence_key": key,
            "outcome": "error",
            "reason_code": "error",
            "explanation": _("The trigger failed and was paused: %(error)s", error=message),
        }

    def _event_occurrences_partner_registered(self, partners):
        # One welcome per partner and trigger, ever.
        return [(partner, "registered") for partner in partners]

    def _candidate(self, partner, occurrence_key, earliest=None, latest=None):
        return Candidate(
            trigger_id=self.id,
            partner_id=partner.id,
            occurrence_key=occurrence_key,
            channels=self._channels(),
            message_class=MessageClass(self.message_class),
            priority=self.priority,
            value=self.business_value,
            topic=str(self.topic_id.id) if self.topic_id else None,
            earliest=earliest or None,
            latest=latest or None,
            cooldown=timedelta(days=self.cooldown_days) if self.cooldown_days > 0 else None,
        )

    def _evaluate_again(self, partners):
        """Offer ``partners`` to these triggers again, e.g. to retry after a failure."""
        if any(trigger.state != "active" for trigger in self):
            raise UserError(_("Only active triggers can be evaluated; activate the trigger first."))
        for trigger in self:
            trigger._evaluate(partners.sudo())
