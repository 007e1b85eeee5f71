"""A journey step done for a participant, and how a participant's history is read.

A run points to the step's decision (the message decided by the engine, or the actions
applied). ``UNIQUE(participant_id, step_id)`` makes a step run at most once per
participant in PostgreSQL itself; the decision log's unique index says the same for the
message (occurrence ``journey:<participant id>`` of the step's trigger).
"""

from datetime import timedelta

from odoo import fields, models
from odoo.tools import SQL

from ..engine.journeys import Fact, Outcome, Run
from ..engine.values import CONSENT_OF, Channel

CHANNELS = {c.value for c in Channel}

DELIVERED = ("queued", "sent", "bounced")


class MarketingJourneyRun(models.Model):
    _name = "marketing.journey.run"
    _description = "Marketing Journey Step Run"
    _order = "id"

    participant_id = fields.Many2one(
        "marketing.journey.participant", required=True, index=True, ondelete="cascade"
    )
    step_id = fields.Many2one(
        "marketing.journey.step", required=True, index=True, ondelete="cascade"
    )
    journey_id = fields.Many2one(related="participant_id.journey_id", store=True, index=True)
    partner_id = fields.Many2one(related="participant_id.partner_id", store=True)
    company_id = fields.Many2one(related="participant_id.company_id", store=True)
    decision_id = fields.Many2one(
        "marketing.trigger.decision", index="btree_not_null", ondelete="set null"
    )
    outcome = fields.Selection(related="decision_id.outcome", string="Outcome")
    reason_code = fields.Selection(related="decision_id.reason_code")
    explanation = fields.Text(related="decision_id.explanation_local")
    delivery_state = fields.Selection(related="decision_id.delivery_state")

    _sql_constraints = [
        (
            "step_once",
            "UNIQUE(participant_id, step_id)",
            "A journey step runs at most once per participant.",
        ),
    ]


class MarketingJourneyParticipant(models.Model):
    _inherit = "marketing.journey.participant"

    # ------------------------------------------------------------ history

    def _history(self):
        """({participant id: [engine Run]}, {participant id: when to look again for a
        message still on its way}), read in one query."""
        self.env["marketing.journey.run"].flush_model()
        self.env["marketing.trigger.decision"].flush_model()
        self.env["marketing.trigger.delivery"].flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT r.participant_id, r.step_id, r.create_date, d.outcome, d.reason_code,
                          d.send_at, d.decided_at, v.state, v.sent_at, v.scheduled_at
                FROM marketing_journey_run r
                LEFT JOIN marketing_trigger_decision d ON d.id = r.decision_id
                LEFT JOIN LATERAL (
                    SELECT state, sent_at, scheduled_at FROM marketing_trigger_delivery
                    WHERE decision_id = d.id ORDER BY id LIMIT 1
                ) v ON TRUE
                WHERE r.participant_id = ANY(%s)""",
                self.ids,
            )
        )
        runs, pending = {}, {}
        now = fields.Datetime.now()
        for (
            pid,
            step_id,
            created,
            outcome,
            reason,
            send_at,
            decided_at,
            dstate,
            sent_at,
            sched,
        ) in self.env.cr.fetchall():
            at, result = _run_outcome(
                min(created, now), outcome, reason, send_at, decided_at, dstate, sent_at, sched
            )
            if result == Outcome.PENDING:
                moment = max(send_at or sched or now, now + timedelta(minutes=5))
                pending[pid] = min(pending.get(pid, moment), moment)
            runs.setdefault(pid, []).append(Run(step_id=step_id, at=at, outcome=result))
        return runs, pending

    def _facts(self, runs):
        """{participant id: [engine Fact]}: human opens and clicks (with the link),
        bounces and the salesperson's activity outcome of the participants' step
        messages, their replies, and their confirmed orders since entry."""
        facts = {p.id: [] for p in self}
        if not self:
            return facts
        self.env.cr.execute(
            SQL(
                """SELECT r.participant_id, r.step_id, v.id, v.opened_at, v.clicked_at,
                          v.state, v.write_date, v.activity_outcome, v.activity_closed_at
                FROM marketing_journey_run r
                JOIN marketing_trigger_delivery v ON v.decision_id = r.decision_id
                WHERE r.participant_id = ANY(%s)""",
                self.ids,
            )
        )
        delivery_steps = {}
        for (
            pid,
            step_id,
            did,
            opened,
            clicked,
            state,
            written,
            act,
            act_at,
        ) in self.env.cr.fetchall():
            delivery_steps[did] = (pid, step_id)
            if opened:
                facts[pid].append(Fact("opened", step_id, opened))
            if clicked:
                facts[pid].append(Fact("clicked", step_id, clicked))
            if state == "bounced":
                facts[pid].append(Fact("bounced", step_id, written))
            if act in ("done", "cancelled") and act_at:
                facts[pid].append(Fact(f"activity_{act}", step_id, act_at))
        if delivery_steps:
            self.env["marketing.trigger.engagement"].flush_model()
            self.env.cr.execute(
                SQL(
                    """SELECT delivery_id, link_id, min(date) FROM marketing_trigger_engagement
                    WHERE delivery_id = ANY(%s) AND kind = 'click' AND is_machine IS NOT TRUE
                      AND link_id IS NOT NULL
                    GROUP BY delivery_id, link_id""",
                    list(delivery_steps),
                )
            )
            for did, link_id, at in self.env.cr.fetchall():
                pid, step_id = delivery_steps[did]
                facts[pid].append(Fact("clicked", step_id, at, link_id=link_id))
        self._reply_facts(facts)
        self._order_facts(facts)
        # What is known now happened by now: a time stamp from the database's clock
        # (write_date) ahead of Odoo's must not push a branch into the future.
        now = fields.Datetime.now()
        return {
            pid: [f if f.at <= now else Fact(f.kind, f.step_id, now, f.link_id) for f in items]
            for pid, items in facts.items()
        }

    def _reply_facts(self, facts):
        """An email from the contact after the participant's entry counts as a reply
        to the email step it followed (the last one sent before it)."""
        self.env["mail.message"].flush_model(["author_id", "message_type", "date"])
        self.env.cr.execute(
            SQL(
                """SELECT p.id, min(m.date) FROM marketing_journey_participant p
                JOIN mail_message m ON m.author_id = p.partner_id
                WHERE p.id = ANY(%s) AND m.message_type = 'email' AND m.date >= p.entered_at
                GROUP BY p.id""",
                self.ids,
            )
        )
        for pid, at in self.env.cr.fetchall():
            facts[pid].append(Fact("replied", None, at))

    def _order_facts(self, facts):
        self.env["sale.order"].flush_model(["partner_id", "state", "date_order"])
        self.env.cr.execute(
            SQL(
                """SELECT p.id, min(o.date_order) FROM marketing_journey_participant p
                JOIN res_partner rp ON rp.id = p.partner_id
                JOIN sale_order o ON o.state = 'sale' AND o.date_order >= p.entered_at
                     AND o.partner_id IN (
                        SELECT id FROM res_partner
                        WHERE id = p.partner_id OR commercial_partner_id = p.partner_id)
                WHERE p.id = ANY(%s)
                GROUP BY p.id""",
                self.ids,
            )
        )
        for pid, at in self.env.cr.fetchall():
            facts[pid].append(Fact("order_confirmed", None, at))

    # ------------------------------------------------------------ exits

    def _exit_on_goal_and_consent(self, journey, now):
        """End the participants that reached the journey's goal, were archived, or
        withdrew the consent every remaining message of the journey needs."""
        archived = self.filtered(lambda p: not p.partner_id.active)
        archived._exit("archived")
        live = self - archived
        if journey.goal != "none" and live:
            reached = live._goal_reached(journey)
            reached._exit("goal")
            live -= reached
        if live:
            live._exit_on_consent(journey)

    def _exit_on_consent(self, journey):
        """End the participants whose remaining messages all need a channel the contact
        withdrew consent for (or blacklisted). Service messages need no consent."""
        steps = journey.step_ids.filtered(lambda s: s.action == "message" and s.active)
        marketing = steps.filtered(lambda s: s.message_class != "service")
        if not steps or marketing != steps:
            return
        facts = self.env["marketing.trigger.decision"]._partner_facts(set(self.partner_id.ids))
        ran = {}
        for run in self.run_ids:
            ran.setdefault(run.participant_id.id, set()).add(run.step_id.id)
        withdrawn = self.browse()
        for participant in self:
            remaining = steps.filtered(lambda s, p=participant: s.id not in ran.get(p.id, ()))
            fact = facts.get(participant.partner_id.id)
            if remaining and fact and not any(_usable(s, fact) for s in remaining):
                withdrawn |= participant
        withdrawn._exit("unsubscribed")

    def _goal_reached(self, journey):
        if journey.goal == "filter":
            matching = self.partner_id.with_context(active_test=False).filtered_domain(
                journey._goal_domain()
            )
            return self.filtered(lambda p: p.partner_id in matching)
        if journey.goal == "order_confirmed":
            facts = {p.id: [] for p in self}
            self._order_facts(facts)
            return self.filtered(lambda p: facts[p.id])
        if journey.goal == "trigger":
            self.env["marketing.trigger.decision"].flush_model()
            self.env.cr.execute(
                SQL(
                    """SELECT DISTINCT p.id FROM marketing_journey_participant p
                    JOIN marketing_trigger_decision d ON d.partner_id = p.partner_id
                    WHERE p.id = ANY(%s) AND d.trigger_id = %s AND d.decided_at >= p.entered_at
                      AND d.outcome != 'error' AND d.reason_code != 'duplicate'""",
                    self.ids,
                    journey.goal_trigger_id.id,
                )
            )
            return self.browse(row[0] for row in self.env.cr.fetchall())
        if journey.goal == "lead_won":
            self.env.cr.execute(
                SQL(
                    """SELECT DISTINCT p.id FROM marketing_journey_participant p
                    JOIN crm_lead l ON l.partner_id = p.partner_id
                    JOIN crm_stage s ON s.id = l.stage_id
                    WHERE p.id = ANY(%s) AND s.is_won AND l.write_date >= p.entered_at""",
                    self.ids,
                )
            )
            return self.browse(row[0] for row in self.env.cr.fetchall())
        return self.browse()


class MarketingJourneyStep(models.Model):
    _inherit = "marketing.journey.step"

    def _run_for(self, participants, now):
        """Run this step for ``participants``: its message (or actions) decided by the
        engine as occurrence ``journey:<participant>`` of the step's trigger, then one
        run row each. What is specific to journeys (enter another, exit) follows."""
        self.ensure_one()
        Run = self.env["marketing.journey.run"].sudo()
        trigger = self.trigger_id.sudo()
        candidates = [trigger._candidate(p.partner_id, f"journey:{p.id}") for p in participants]
        decisions = (
            self.env["marketing.trigger.decision"].sudo()._decide_and_apply(candidates, now=now)
        )
        by_key = {d.occurrence_key: d for d in decisions}
        Run.create(
            [
                {
                    "participant_id": p.id,
                    "step_id": self.id,
                    "decision_id": by_key.get(f"journey:{p.id}", Run.decision_id).id,
                }
                for p in participants
            ]
        )
        if self.action == "journey":
            self.target_journey_id._enter(
                [(p.partner_id, f"journey:{self.journey_id.id}:{p.id}") for p in participants],
                now=now,
            )
        elif self.action == "exit":
            participants._exit("exit_step")


def _usable(step, facts):
    """Whether the contact's standing consents let ``step``'s message go out on one of
    its channels (the engine decides the rest: addresses, caps, windows)."""
    consents = {getattr(c, "value", c) for c in facts.consents}
    blacklisted = {getattr(c, "value", c) for c in facts.blacklisted}
    for channel in (step.channel, step.fallback_channel):
        if not channel or channel in blacklisted:
            continue
        consent = CONSENT_OF.get(Channel(channel)) if channel in CHANNELS else None
        if consent is None or consent.value in consents:
            return True
    return False


def _run_outcome(created, outcome, reason, send_at, decided_at, dstate, sent_at, scheduled):
    """(when, engine Outcome) of a step's run from its decision and delivery."""
    if outcome is None:  # no decision: a step without message whose decision is gone
        return created, Outcome.DONE
    if outcome == "error":
        return decided_at or created, Outcome.FAILED
    if outcome == "suppress":
        return decided_at or created, Outcome.NOT_SENT
    if outcome == "defer":
        return send_at or created, Outcome.PENDING
    if reason == "actions":
        return decided_at or created, Outcome.DONE
    if dstate in DELIVERED:
        return sent_at or send_at or created, Outcome.SENT
    if dstate in ("failed", "cancelled"):
        return sent_at or scheduled or created, Outcome.NOT_SENT
    return send_at or created, Outcome.PENDING
