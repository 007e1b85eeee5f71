import logging
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg2
from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..engine import decide
from .common import CHANNEL_SELECTION

_logger = logging.getLogger(__name__)
_UTC_TIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC")


def local_times(text, tz_name):
    """``text`` with its "2026-03-10 07:00 UTC" times shown in ``tz_name``."""
    if not text or tz_name in (None, "", "UTC"):
        return text
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return text

    def local(match):
        at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    return _UTC_TIME.sub(local, text)


REASONS = [
    ("send", "All checks passed"),
    ("duplicate", "Already decided"),
    ("expired", "Deadline passed"),
    ("outside_window", "No send window before the deadline"),
    ("no_email", "No email address"),
    ("invalid_email", "Invalid email address"),
    ("no_phone", "No phone number"),
    ("invalid_phone", "Invalid phone number"),
    ("no_address", "No postal address"),
    ("blacklisted", "Blacklisted"),
    ("no_consent", "No marketing consent"),
    ("no_channel", "No usable channel"),
    ("cooldown", "Cooldown"),
    ("lost_arbitration", "Lost arbitration"),
    ("capped", "Frequency cap"),
    ("inactive", "Trigger paused"),
    ("actions", "Actions only (no message)"),
    ("topic_optout", "Opted out of the topic"),
    ("error", "Error"),
]


class MarketingTriggerDecision(models.Model):
    """The decision log: one row per decided occurrence, plus the failures and the offers
    that lost a race to a concurrent decision, each with a reason code and a readable
    explanation. An offer of an occurrence decided before is not logged again.

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
    company_id = fields.Many2one(
        "res.company",
        required=True,
        readonly=True,
        index=True,
        help="The trigger's company, set at creation (a plain column: thousands are "
        "written per evaluation).",
    )
    occurrence_key = fields.Char(
        "Occurrence",
        required=True,
        help="What the message is about, e.g. 'birthday:2027' or the order: a contact gets "
        "one message per trigger and occurrence.",
    )
    outcome = fields.Selection(
        [("send", "Send"), ("defer", "Deferred"), ("suppress", "Suppressed"), ("error", "Error")],
        required=True,
        index=True,
    )
    reason_code = fields.Selection(REASONS, string="Why", required=True, index=True)
    explanation = fields.Text("Explanation (UTC)")
    explanation_local = fields.Text(
        "Explanation",
        compute="_compute_explanation_local",
        help="The explanation, with its times in your time zone.",
    )
    channel = fields.Selection(CHANNEL_SELECTION)
    decided_at = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    send_at = fields.Datetime(
        index=True, help="When it goes out (send), or when it is decided again (deferred)."
    )
    earliest = fields.Datetime(help="The occurrence may not go out before this moment.")
    latest = fields.Datetime(help="The occurrence is dropped after this moment.")
    variant_id = fields.Many2one(
        "marketing.trigger.variant",
        string="Variant",
        ondelete="set null",
        help="The segment-specific content chosen for this partner.",
    )
    winner_trigger_id = fields.Many2one(
        "marketing.trigger",
        string="Lost to",
        ondelete="set null",
        help="The trigger whose message won the arbitration.",
    )
    delivery_ids = fields.One2many("marketing.trigger.delivery", "decision_id")
    delivery_state = fields.Selection(
        related="delivery_ids.state", string="Delivery status", readonly=True
    )
    delivery_failure_reason = fields.Text(
        related="delivery_ids.failure_reason", string="Why not delivered", readonly=True
    )

    @api.depends("explanation")
    @api.depends_context("tz")
    def _compute_explanation_local(self):
        tz_name = self.env.context.get("tz") or self.env.user.tz or "UTC"
        for decision in self:
            decision.explanation_local = local_times(decision.explanation, tz_name)

    def init(self):
        self.env.cr.execute(
            SQL(
                """CREATE UNIQUE INDEX IF NOT EXISTS marketing_trigger_decision_occurrence_uniq
               ON marketing_trigger_decision (trigger_id, partner_id, occurrence_key)
               WHERE outcome != 'error' AND reason_code != 'duplicate'"""
            )
        )

    @api.model_create_multi
    def create(self, vals_list):
        return super().create(self._marketing_company_from_trigger(vals_list))

    # ------------------------------------------------------------------ API

    @api.model
    def _decide_and_apply(self, candidates, now=None, redecide=None):
        """Have the engine decide ``candidates`` and store the outcome.

        Gathers facts, ledgers and each company's policy, asks the engine, writes one
        decision per candidate (``redecide``: deferred decisions decided again in place)
        and queues a delivery for each send. Returns the decisions.
        """
        if not candidates:
            return self.browse()
        now = now or fields.Datetime.now()
        candidates = self._undecided(candidates, redecide)
        if not candidates:
            return self.browse()
        try:
            with self.env.cr.savepoint():
                return self._decide_once(candidates, now, redecide)
        except psycopg2.errors.UniqueViolation:
            # Another transaction decided one of these occurrences since we looked:
            # decide again, now seeing its decision, so ours becomes a duplicate.
            _logger.info("Concurrent decision detected; deciding again")
            return self._decide_once(candidates, now, redecide)

    def _decide_once(self, candidates, now, redecide=None):
        redecide = redecide or self.browse()
        opted_out = self._topic_optouts(candidates)
        if opted_out:
            candidates = [c for c in candidates if c not in opted_out]
            decisions = self._suppress_opted_out(opted_out, now, redecide)
            if not candidates:
                return decisions
            return decisions | self._decide_once(candidates, now, redecide)
        actions_only = [c for c in candidates if not c.channels]
        if actions_only:
            candidates = [c for c in candidates if c.channels]
            decisions = self._apply_actions_only(actions_only, now)
            if not candidates:
                return decisions
            return decisions | self._decide_once(candidates, now, redecide)
        return self._apply(self._engine_results(candidates, now, redecide), now, redecide)

    @api.model
    def _undecided(self, candidates, redecide=None):
        """``candidates`` without the occurrences decided before and without repeats.

        Events fire again (a contact saved twice, a link clicked ten times): an occurrence
        already decided is skipped here without a trace, so the log keeps one row per
        occurrence. Only a real race (another transaction decides it between this look-up
        and our insert) still leaves a ``duplicate`` row, which explains the lost offer.
        """
        redecide = redecide or self.browse()
        decided = self._decided_keys(candidates) - {
            (d.trigger_id.id, d.partner_id.id, d.occurrence_key) for d in redecide
        }
        fresh = []
        for candidate in candidates:
            if candidate.key not in decided:
                decided.add(candidate.key)
                fresh.append(candidate)
        return fresh

    @api.model
    def _engine_results(self, candidates, now, redecide=None):
        """The engine's decisions for ``candidates`` (nothing is written): facts, ledgers
        and each company's policy are read in batches."""
        redecide = redecide or self.browse()
        triggers = (
            self.env["marketing.trigger"]
            .sudo()
            .browse({c.trigger_id for c in candidates})
            .with_context(active_test=False)
        )
        # Explanations name the winner of an arbitration, which may be any trigger.
        labels = dict(
            self.env["marketing.trigger"]
            .sudo()
            .with_context(active_test=False)
            .search_fetch([], ["name"])
            .mapped(lambda t: (t.id, t.name))
        )
        partner_ids = {c.partner_id for c in candidates}
        facts = self._partner_facts(partner_ids)
        decided = self._decided_keys(candidates) - {
            (d.trigger_id.id, d.partner_id.id, d.occurrence_key) for d in redecide
        }
        results = []
        by_company = {}
        for candidate in candidates:
            company = triggers.browse(candidate.trigger_id).company_id
            by_company.setdefault(company, []).append(candidate)
        for company, company_candidates in by_company.items():
            policy = self.env["marketing.trigger.policy"]._for_company(company)
            horizon = max(
                [policy._horizon()] + [c.cooldown for c in company_candidates if c.cooldown]
            )
            ledger = self.env["marketing.trigger.touch"]._ledger(
                {c.partner_id for c in company_candidates}, now, horizon
            )
            results += decide(
                company_candidates,
                facts,
                now=now,
                ledger=ledger,
                policy=policy._engine_policy(),
                decided=decided,
                labels=labels,
            )
        return results

    def _apply(self, results, now, redecide):
        pending = {(d.trigger_id.id, d.partner_id.id, d.occurrence_key): d for d in redecide}
        decisions = self.browse()
        new_values = []
        for result in results:
            values = self._values(result, now)
            existing = pending.pop(result.candidate.key, None)
            if existing and result.reason.value != "duplicate":
                existing.sudo().write(values)
                decisions |= existing
            else:
                new_values.append(values)
        created = self.sudo().create(new_values)
        decisions |= created
        sends = decisions.filtered(lambda d: d.outcome == "send")
        for trigger, group in (
            sends.filtered("trigger_id.variant_ids").grouped("trigger_id").items()
        ):
            variants = trigger._variant_for(group.partner_id)
            for decision in group:
                variant = variants.get(decision.partner_id.id)
                if not variant:
                    continue
                decision.write(
                    {
                        "variant_id": variant.id,
                        "explanation": _(
                            "%(why)s Content: variant '%(variant)s'.",
                            why=decision.explanation,
                            variant=variant.name,
                        ),
                    }
                )
        if sends:
            self.env["marketing.trigger.delivery"].sudo()._create_for(sends)
        created._apply_record_actions()
        return decisions

    @api.model
    def _topic_optouts(self, candidates):
        """The marketing candidates whose topic the partner opted out of."""
        topical = [c for c in candidates if c.topic and c.message_class.value != "service"]
        if not topical:
            return []
        self.env["res.partner"].flush_model(["marketing_topic_optout_ids"])
        self.env.cr.execute(
            SQL(
                """SELECT res_partner_id, marketing_trigger_topic_id FROM marketing_topic_optout_rel
                WHERE res_partner_id = ANY(%s)""",
                list({c.partner_id for c in topical}),
            )
        )
        optouts = {(pid, str(tid)) for pid, tid in self.env.cr.fetchall()}
        return [c for c in topical if (c.partner_id, c.topic) in optouts]

    def _suppress_opted_out(self, candidates, now, redecide):
        """Suppress, with the reason, what the partner said they do not want."""
        decided = self._decided_keys(candidates) - {
            (d.trigger_id.id, d.partner_id.id, d.occurrence_key) for d in redecide
        }
        pending = {(d.trigger_id.id, d.partner_id.id, d.occurrence_key): d for d in redecide}
        decisions, values = self.browse(), []
        for candidate in candidates:
            if candidate.key in decided:
                continue
            vals = {
                "trigger_id": candidate.trigger_id,
                "partner_id": candidate.partner_id,
                "occurrence_key": candidate.occurrence_key,
                "outcome": "suppress",
                "reason_code": "topic_optout",
                "explanation": _("The partner opted out of this topic on their preference page."),
                "decided_at": now,
                "earliest": candidate.earliest or False,
                "latest": candidate.latest or False,
                "send_at": False,
            }
            existing = pending.get(candidate.key)
            if existing:
                existing.sudo().write(vals)
                decisions |= existing
            else:
                values.append(vals)
        return decisions | self.sudo().create(values)

    def _apply_actions_only(self, candidates, now):
        """Triggers without a message: no engine (nothing is sent, so no cap, window or
        consent applies); one decision per new occurrence, then the record actions."""
        decided = self._decided_keys(candidates)
        seen, values = set(), []
        for candidate in candidates:
            if candidate.key in decided or candidate.key in seen:
                continue
            seen.add(candidate.key)
            values.append(
                {
                    "trigger_id": candidate.trigger_id,
                    "partner_id": candidate.partner_id,
                    "occurrence_key": candidate.occurrence_key,
                    "outcome": "send",
                    "reason_code": "actions",
                    "explanation": _("No message: the trigger's actions were applied."),
                    "decided_at": now,
                    "earliest": candidate.earliest or False,
                    "latest": candidate.latest or False,
                }
            )
        decisions = self.sudo().create(values)
        decisions._apply_record_actions()
        return decisions

    def _apply_record_actions(self):
        """The triggers' tag, interest and stage actions, for every occurrence newly
        decided (sent, deferred or suppressed alike: the contact's situation changed)."""
        fresh = self.filtered(lambda d: d.outcome != "error" and d.reason_code != "duplicate")
        for trigger, decisions in fresh.grouped("trigger_id").items():
            if trigger._has_record_actions():
                trigger._apply_record_actions(decisions.partner_id)

    @api.model
    def _values(self, result, now):
        candidate = result.candidate
        params = dict(result.params)
        return {
            "trigger_id": candidate.trigger_id,
            "partner_id": candidate.partner_id,
            "occurrence_key": candidate.occurrence_key,
            "outcome": result.outcome.value,
            "reason_code": result.reason.value,
            "explanation": result.explanation,
            "channel": result.channel.value if result.channel else False,
            "decided_at": now,
            "send_at": result.send_at or False,
            "earliest": candidate.earliest or False,
            # A deferred message keeps the deadline of its first decision.
            "latest": candidate.latest
            or (params.get("deadline") and datetime.fromisoformat(params["deadline"]))
            or False,
            "winner_trigger_id": int(params["winner_trigger_id"])
            if "winner_trigger_id" in params
            else False,
        }

    # ------------------------------------------------------------ deferrals

    @api.model
    def _cron_redecide(self, batch_size=1000):
        """Decide the deferred occurrences whose time has come, one batch per run."""
        due = self.sudo()._marketing_claim_due(
            "outcome", "defer", "send_at", fields.Datetime.now(), batch_size
        )
        for trigger, decisions in due.grouped("trigger_id").items():
            if trigger.state != "active" or not trigger.active:
                decisions.write(
                    {
                        "outcome": "suppress",
                        "reason_code": "inactive",
                        "decided_at": fields.Datetime.now(),
                        "explanation": _(
                            "The trigger was paused or archived before the deferred "
                            "message was due."
                        ),
                    }
                )
                continue
            candidates = [
                trigger._candidate(d.partner_id, d.occurrence_key, d.earliest, d.latest)
                for d in decisions
            ]
            self._decide_and_apply(candidates, redecide=decisions)
        remaining = self.search_count(
            [("outcome", "=", "defer"), ("send_at", "<=", fields.Datetime.now())]
        )
        self.env["ir.cron"]._notify_progress(done=len(due), remaining=remaining)

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
        blacklisted = self._blacklisted_emails(partners.mapped("email_normalized"))
        return {partner.id: partner._marketing_facts(blacklisted) for partner in partners}

    @api.model
    def _blacklisted_emails(self, emails):
        """The blacklisted addresses among ``emails``. A join on the unnested array lets
        PostgreSQL use the unique index (an IN list of similar addresses — all at one
        domain — makes it pick the trigram index, about 6 ms per address)."""
        emails = sorted({e for e in emails if e})
        if not emails:
            return set()
        self.env["mail.blacklist"].flush_model(["email", "active"])
        self.env.cr.execute(
            SQL(
                """SELECT b.email FROM unnest(%s::varchar[]) AS e(email)
                JOIN mail_blacklist b ON b.email = e.email WHERE b.active""",
                emails,
            )
        )
        return {row[0] for row in self.env.cr.fetchall()}

    # -------------------------------------------------------------- actions

    def action_retry(self):
        """Evaluate failed occurrences again, once their trigger is active again."""
        self.check_access("write")
        failed = self.filtered(lambda d: d.outcome == "error")
        if not failed:
            raise UserError(_("Only failed decisions can be retried."))
        for trigger, decisions in failed.grouped("trigger_id").items():
            if trigger.state != "active":
                raise UserError(
                    _(
                        "Activate trigger '%(name)s' before retrying its failures.",
                        name=trigger.name,
                    )
                )
            self._decide_and_apply(
                [
                    trigger._candidate(d.partner_id, d.occurrence_key, d.earliest, d.latest)
                    for d in decisions
                ]
            )
        return True
