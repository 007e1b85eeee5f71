import logging

import psycopg2
from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..engine import Channel, decide

_logger = logging.getLogger(__name__)

REASONS = [
    ("send", "Sent"),
    ("duplicate", "Duplicate (already decided)"),
    ("no_email", "No email address"),
    ("invalid_email", "Invalid email address"),
    ("blacklisted", "Blacklisted"),
    ("no_consent", "No marketing consent"),
    ("no_channel", "No usable channel"),
    ("error", "Error"),
]


class MarketingTriggerDecision(models.Model):
    """The decision log: one row per decided occurrence, plus the duplicate offers and
    failures around it, each with a reason code and a readable explanation.

    At most one real decision exists per (trigger, partner, occurrence): a partial unique
    index enforces it in PostgreSQL. Rows logging a rejected duplicate offer or a failed
    evaluation sit outside that index, so they can be kept as history.
    """

    _name = "marketing.trigger.decision"
    _description = "Marketing Trigger Decision"
    _order = "decided_at desc, id desc"
    _rec_name = "trigger_id"

    trigger_id = fields.Many2one("marketing.trigger", required=True, index=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="trigger_id.company_id", store=True, index=True)
    occurrence_key = fields.Char(required=True)
    outcome = fields.Selection(
        [("send", "Send"), ("suppress", "Suppressed"), ("error", "Error")],
        required=True,
        index=True,
    )
    reason_code = fields.Selection(REASONS, string="Reason", required=True, index=True)
    explanation = fields.Text()
    channel = fields.Selection([(c.value, c.name.title()) for c in Channel])
    decided_at = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    delivery_ids = fields.One2many("marketing.trigger.delivery", "decision_id")
    delivery_state = fields.Selection(
        related="delivery_ids.state", string="Delivery status", readonly=True
    )

    def init(self):
        self.env.cr.execute(
            SQL(
                """CREATE UNIQUE INDEX IF NOT EXISTS marketing_trigger_decision_occurrence_uniq
               ON marketing_trigger_decision (trigger_id, partner_id, occurrence_key)
               WHERE outcome != 'error' AND reason_code != 'duplicate'"""
            )
        )

    # ------------------------------------------------------------------ API

    @api.model
    def _decide_and_apply(self, candidates, now=None):
        """Have the engine decide ``candidates`` and store the outcome.

        Gathers the facts, asks the engine, writes one decision per candidate and a
        pending delivery for each send, then wakes the dispatcher. Returns the decisions.
        """
        if not candidates:
            return self.browse()
        now = now or fields.Datetime.now()
        try:
            with self.env.cr.savepoint():
                return self._decide_once(candidates, now)
        except psycopg2.errors.UniqueViolation:
            # Another transaction decided one of these occurrences since we looked:
            # decide again, now seeing its decision, so ours becomes a duplicate.
            _logger.info("Concurrent decision detected; deciding again")
            return self._decide_once(candidates, now)

    def _decide_once(self, candidates, now):
        facts = self._partner_facts({c.partner_id for c in candidates})
        decided = self._decided_keys(candidates)
        results = decide(candidates, facts, now=now, decided=decided)
        decisions = self.sudo().create([self._values(result, now) for result in results])
        sends = decisions.filtered(lambda d: d.outcome == "send")
        if sends:
            self.env["marketing.trigger.delivery"].sudo()._create_for(sends)
        return decisions

    @api.model
    def _values(self, result, now):
        candidate = result.candidate
        return {
            "trigger_id": candidate.trigger_id,
            "partner_id": candidate.partner_id,
            "occurrence_key": candidate.occurrence_key,
            "outcome": result.outcome.value,
            "reason_code": result.reason.value,
            "explanation": result.explanation,
            "channel": result.channel.value if result.channel else False,
            "decided_at": now,
        }

    @api.model
    def _decided_keys(self, candidates):
        """The (trigger, partner, occurrence) keys among ``candidates`` decided before."""
        trigger_ids = list({c.trigger_id for c in candidates})
        partner_ids = list({c.partner_id for c in candidates})
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT trigger_id, partner_id, occurrence_key FROM marketing_trigger_decision
                WHERE trigger_id = ANY(%s) AND partner_id = ANY(%s)
                  AND outcome != 'error' AND reason_code != 'duplicate'""",
                trigger_ids,
                partner_ids,
            )
        )
        return set(self.env.cr.fetchall())

    @api.model
    def _partner_facts(self, partner_ids):
        """What the engine needs to know of each partner, read in one batch."""
        partners = self.env["res.partner"].sudo().with_context(active_test=False)
        partners = partners.browse(sorted(partner_ids)).exists()
        blacklisted = set(
            self.env["mail.blacklist"]
            .sudo()
            .search([("email", "in", [e for e in partners.mapped("email_normalized") if e])])
            .mapped("email")
        )
        return {partner.id: partner._marketing_facts(blacklisted) for partner in partners}

    # -------------------------------------------------------------- actions

    def action_retry(self):
        """Evaluate failed occurrences again, once their trigger is active again."""
        self.check_access("write")
        failed = self.filtered(lambda d: d.outcome == "error")
        if not failed:
            raise UserError(_("Only failed decisions can be retried."))
        for trigger, decisions in failed.grouped("trigger_id").items():
            trigger._evaluate_again(decisions.partner_id)
        return True
