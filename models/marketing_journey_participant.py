"""Journey runtime: a participant is one contact's run through a journey (for one entry
occurrence); a run is one step done for a participant.

The cron claims the participants whose next check is due (``FOR UPDATE SKIP LOCKED``,
so several cron workers share the queue), reads their history in a few set-based
queries, asks the engine (``engine.journeys.plan``) which steps are due, and has each due
step's message decided by the decision engine like any trigger's. A participant is
checked again at the moment the engine names, or at once when something it waits for
happens (an open, a click, a bounce, an activity done, an order confirmed).
"""

import logging
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import SQL

from ..engine.journeys import Participant, plan

_logger = logging.getLogger(__name__)


def _error_text(exc):
    return f"{type(exc).__name__}: {exc}"


ADVANCE_BATCH = 500
EXIT_REASONS = [
    ("goal", "Goal reached"),
    ("unsubscribed", "Unsubscribed or consent withdrawn"),
    ("left_segment", "Left the segment"),
    ("manual", "Removed by hand"),
    ("archived", "Contact archived"),
    ("exit_step", "Exit step"),
    ("journey_stopped", "Journey stopped"),
]


class MarketingJourneyParticipant(models.Model):
    _name = "marketing.journey.participant"
    _description = "Marketing Journey Participant"
    _order = "entered_at desc, id desc"
    _rec_name = "partner_id"

    journey_id = fields.Many2one(
        "marketing.journey", required=True, index=True, ondelete="cascade", readonly=True
    )
    partner_id = fields.Many2one(
        "res.partner", required=True, index=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    occurrence_key = fields.Char("Entered on", required=True, readonly=True)
    entered_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    state = fields.Selection(
        [
            ("running", "Running"),
            ("done", "Done"),
            ("exited", "Exited"),
            ("holdout", "Holdout (receives nothing)"),
        ],
        default="running",
        required=True,
        index=True,
        readonly=True,
    )
    exit_reason = fields.Selection(EXIT_REASONS, readonly=True)
    ended_at = fields.Datetime(readonly=True)
    next_check_at = fields.Datetime(
        index=True, readonly=True, help="When the journey looks at this contact again."
    )
    is_test = fields.Boolean(readonly=True, help="A test-mode run: nothing real is sent.")
    last_error = fields.Text(readonly=True)
    run_ids = fields.One2many("marketing.journey.run", "participant_id", readonly=True)

    _sql_constraints = [
        (
            "occurrence_uniq",
            "UNIQUE(journey_id, partner_id, occurrence_key)",
            "A contact enters a journey once per occurrence.",
        ),
    ]

    def init(self):
        self.env.cr.execute(
            SQL(
                """CREATE INDEX IF NOT EXISTS marketing_journey_participant_due_idx
                ON marketing_journey_participant (next_check_at)
                WHERE state = 'running'"""
            )
        )

    # ------------------------------------------------------------ waking

    def _wake(self):
        """Look at these participants again at once (e.g. they just clicked)."""
        running = self.filtered(lambda p: p.state == "running")
        if not running:
            return
        running.sudo().write({"next_check_at": fields.Datetime.now()})
        self.env.ref("marketing_trigger.ir_cron_journey_advance").sudo()._trigger()

    @api.model
    def _wake_partners(self, partners):
        """Wake every running participant of ``partners`` (an order was confirmed, a
        contact changed): goals and order conditions are looked at now."""
        if not partners:
            return
        self.search([("partner_id", "in", partners.ids), ("state", "=", "running")]).sudo()._wake()

    # ------------------------------------------------------------ exit

    def _exit(self, reason, state="exited"):
        """End these participants: what they still had pending is cancelled."""
        running = self.filtered(lambda p: p.state in ("running", "holdout"))
        if not running:
            return
        now = fields.Datetime.now()
        holdout = running.filtered(lambda p: p.state == "holdout")
        for group, new_state in ((running - holdout, state), (holdout, "exited")):
            if group:
                group.sudo().write(
                    {
                        "state": new_state,
                        "exit_reason": reason if state == "exited" else False,
                        "ended_at": now,
                        "next_check_at": False,
                    }
                )
        decisions = running.run_ids.decision_id
        why = dict(EXIT_REASONS).get(reason, reason)
        decisions.filtered(lambda d: d.outcome == "defer").sudo().write(
            {
                "outcome": "suppress",
                "reason_code": "inactive",
                "send_at": False,
                "decided_at": now,
                "explanation": _(
                    "The contact left the journey (%(why)s) before the message was due.",
                    why=why,
                ),
            }
        )
        pending = decisions.delivery_ids.filtered(lambda d: d.state == "pending")
        if pending:
            pending._cancel(_("The contact left the journey (%(why)s).", why=why))

    def action_remove(self):
        self.check_access("write")
        self._exit("manual")
        return True

    # ------------------------------------------------------------ cron

    @api.model
    def _cron_advance(self, batch_size=ADVANCE_BATCH):
        """Advance the participants whose next check is due, one batch per run."""
        now = fields.Datetime.now()
        participants = self._claim(now, batch_size)
        if participants:
            participants._advance(now)
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT count(*) FROM marketing_journey_participant p
                JOIN marketing_journey j ON j.id = p.journey_id
                WHERE p.state = 'running' AND j.state = 'running'
                  AND p.next_check_at <= %s""",
                fields.Datetime.now(),
            )
        )
        remaining = self.env.cr.fetchone()[0]
        self.env["ir.cron"]._notify_progress(done=len(participants), remaining=remaining)

    @api.model
    def _claim(self, now, limit):
        self.flush_model(["state", "next_check_at"])
        self.env["marketing.journey"].flush_model(["state"])
        self.env.cr.execute(
            SQL(
                """SELECT p.id FROM marketing_journey_participant p
                JOIN marketing_journey j ON j.id = p.journey_id
                WHERE p.state = 'running' AND j.state = 'running' AND p.next_check_at <= %s
                ORDER BY p.next_check_at, p.id LIMIT %s
                FOR UPDATE OF p SKIP LOCKED""",
                now,
                limit,
            )
        )
        return self.sudo().browse(row[0] for row in self.env.cr.fetchall())

    def _advance(self, now, rounds=4):
        """Run what is due for these participants now; steps without a wait after a
        step that just ran are run in the same pass (up to ``rounds`` levels)."""
        todo = self
        for _round in range(rounds):
            todo = todo.filtered(lambda p: p.state == "running")
            if not todo:
                return
            ran = self.browse()
            for journey, group in todo.grouped("journey_id").items():
                ran |= group._advance_isolated(journey, now)
            todo = ran
        if todo:
            todo.filtered(lambda p: p.state == "running").write({"next_check_at": now})

    def _advance_isolated(self, journey, now):
        """Advance these participants of ``journey`` as one batch; if the batch fails,
        one by one, so that a participant whose step fails records its error and the
        others go on. A journey that fails for every participant is paused."""
        try:
            with self.env.cr.savepoint():
                return self._advance_journey(journey, now)
        except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
            raise  # a concurrent update: the cron's transaction is retried as a whole
        except Exception as exc:  # noqa: BLE001 - one journey never blocks another
            _logger.exception("Journey %s failed for a batch of participants", journey.id)
            if len(self) == 1:
                self._record_error(exc)
                failed, error = self, exc
            else:
                failed, error, ran = self.browse(), exc, self.browse()
                for participant in self:
                    try:
                        with self.env.cr.savepoint():
                            ran |= participant._advance_journey(journey, now)
                    except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                        raise
                    except Exception as one:  # noqa: BLE001 - recorded on the participant
                        participant._record_error(one)
                        failed |= participant
                        error = one
                if failed != self:
                    return ran
            if journey.state == "running":
                # The step fails for every participant: pause the journey, say why.
                journey.write({"state": "paused", "last_error": _error_text(error)})
                journey.entry_trigger_id.action_pause()
            return self.browse()

    def _record_error(self, exc):
        self.write(
            {
                "last_error": _error_text(exc),
                "next_check_at": fields.Datetime.now() + timedelta(hours=1),
            }
        )

    def _advance_journey(self, journey, now):
        """Plan and run the due steps of these participants of ``journey``; returns the
        participants that ran a step."""
        steps = journey.with_context(active_test=False).step_ids
        shared = steps._engine_steps()
        anchored = bool(steps.anchor_field_id)
        by_id = {s.id: s for s in steps}
        self._exit_on_goal_and_consent(journey, now)
        live = self.filtered(lambda p: p.state == "running")
        if not live:
            return self.browse()
        runs, pending_until = live._history()
        facts = live._facts(runs)
        plans = {}
        needs = {}
        steps_of = {
            participant: steps._engine_steps(participant.partner_id) if anchored else shared
            for participant in live
        }
        for participant in live:
            plans[participant] = plan(
                steps_of[participant],
                participant._engine_participant(),
                runs.get(participant.id, ()),
                facts.get(participant.id, ()),
                now,
            )
            for step_id in plans[participant].needs_match:
                needs.setdefault(step_id, self.browse())
                needs[step_id] |= participant
        if needs:
            matches = self._matches(needs, by_id)
            for participant in {p for group in needs.values() for p in group}:
                plans[participant] = plan(
                    steps_of[participant],
                    participant._engine_participant(),
                    runs.get(participant.id, ()),
                    facts.get(participant.id, ()),
                    now,
                    matches=matches.get(participant.id, {}),
                )
        due = {}
        for participant, result in plans.items():
            for item in result.due:
                due.setdefault(by_id[item.step_id], self.browse())
                due[by_id[item.step_id]] |= participant
        ran = self.browse()
        for step, participants in due.items():
            step._run_for(participants, now)
            ran |= participants
        for participant, result in plans.items():
            if participant in ran or participant.state != "running":
                continue
            if result.finished and participant.id not in pending_until:
                participant.write({"state": "done", "ended_at": now, "next_check_at": False})
                continue
            moments = [m for m in (result.next_check, pending_until.get(participant.id)) if m]
            participant.write({"next_check_at": min(moments) if moments else False})
        return ran

    def _engine_participant(self):
        self.ensure_one()
        return Participant(
            key=f"journey:{self.journey_id.id}:participant:{self.id}",
            entered_at=self.entered_at,
            tz=self.partner_id.tz or self.env.user.tz or "UTC",
            state=self.state,
        )

    @api.model
    def _matches(self, needs, by_id):
        """{participant id: {step id: whether the contact matches the step's filter}}."""
        result = {}
        for step_id, participants in needs.items():
            step = by_id[step_id]
            domain = step._condition_filter()
            matching = participants.partner_id.with_context(active_test=False).filtered_domain(
                domain
            )
            for participant in participants:
                hit = participant.partner_id in matching
                result.setdefault(participant.id, {})[step_id] = hit
        return result
