"""Test mode: run a journey for one contact in simulated time and see, step by step,
what the engine would decide and why. Nothing is written outside this wizard: no
participant, decision, delivery or ledger touch; the real contact receives nothing.

The tester says how the contact behaves (opens the emails, clicks, orders); the
simulation feeds that to the same scheduling rules (``engine.journeys.plan``) and asks
the decision engine about each due message at its simulated moment.
"""

import json
from datetime import datetime, timedelta

from markupsafe import Markup, escape
from odoo import _, fields, models
from odoo.exceptions import UserError

from ..engine.journeys import Fact, Outcome, Participant, Run, plan

MAX_STEPS_PER_CLICK = 50


class MarketingJourneyTest(models.TransientModel):
    _name = "marketing.journey.test"
    _description = "Journey test mode"

    journey_id = fields.Many2one("marketing.journey", required=True, ondelete="cascade")
    partner_id = fields.Many2one(
        "res.partner",
        string="Test as",
        required=True,
        help="The contact whose data (consents, address, time zone, segment) the test "
        "uses. Nothing is sent to them.",
    )
    opens = fields.Boolean("The contact opens the emails", default=True)
    clicks = fields.Boolean("The contact clicks in the emails")
    orders_after_days = fields.Integer(
        "The contact orders after (days)",
        default=0,
        help="0: the contact does not order during the test.",
    )
    started_at = fields.Datetime(readonly=True)
    simulated_now = fields.Datetime("Simulated time", readonly=True)
    history = fields.Text(readonly=True, default="[]")
    log_html = fields.Html("What would happen", readonly=True, sanitize=False)
    finished = fields.Boolean(readonly=True)

    # ------------------------------------------------------------ actions

    def action_start(self):
        self.ensure_one()
        now = fields.Datetime.now()
        self.write(
            {
                "started_at": now,
                "simulated_now": now,
                "history": "[]",
                "finished": False,
                "log_html": self._line(now, now, _("The contact enters the journey.")),
            }
        )
        return self._reopen()

    def action_next(self):
        """Advance to the next moment something happens, and run it."""
        self.ensure_one()
        self._ensure_started()
        self._simulate(until=None)
        return self._reopen()

    def action_next_30_days(self):
        self.ensure_one()
        self._ensure_started()
        self._simulate(until=self.simulated_now + timedelta(days=30))
        return self._reopen()

    def _ensure_started(self):
        if not self.started_at:
            self.action_start()
        if self.finished:
            raise UserError(_("The test is over: nothing more can happen. Start again."))

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    # ------------------------------------------------------------ simulation

    def _facts(self, runs):
        steps = self.journey_id.with_context(active_test=False).step_ids
        emails = {
            s.id
            for s in steps
            if s.action == "message" and "email" in (s.channel, s.fallback_channel)
        }
        facts = []
        for run in runs:
            if run.outcome != Outcome.SENT or run.step_id not in emails:
                continue
            if self.opens or self.clicks:
                facts.append(Fact("opened", run.step_id, run.at + timedelta(hours=1)))
            if self.clicks:
                facts.append(Fact("clicked", run.step_id, run.at + timedelta(hours=1, minutes=5)))
        if self.orders_after_days:
            facts.append(
                Fact(
                    "order_confirmed",
                    None,
                    self.started_at + timedelta(days=self.orders_after_days),
                )
            )
        return facts

    def _simulate(self, until):
        journey = self.journey_id
        steps = journey.with_context(active_test=False).step_ids
        by_id = {s.id: s for s in steps}
        engine_steps = steps._engine_steps(self.partner_id)
        participant = Participant(
            key=f"test:{journey.id}:{self.partner_id.id}",
            entered_at=self.started_at,
            tz=self.partner_id.tz or self.env.user.tz or "UTC",
            state="running",
        )
        history = json.loads(self.history or "[]")
        log = Markup(self.log_html or "")
        now = self.simulated_now
        for _i in range(MAX_STEPS_PER_CLICK):
            runs = self._runs_from(history)
            facts = self._facts(runs)
            order = next((f for f in facts if f.kind == "order_confirmed" and f.at <= now), None)
            if order and journey.goal == "order_confirmed":
                log += self._line(
                    self.started_at,
                    order.at,
                    _("Goal reached (order confirmed): the contact leaves the journey."),
                )
                self.finished = True
                break
            matches = self._matches(steps, engine_steps)
            result = plan(engine_steps, participant, runs, facts, now, matches=matches)
            if result.due:
                for item in result.due:
                    step = by_id[item.step_id]
                    outcome, text = self._decide(step, item.due_at)
                    history.append(
                        {"step": step.id, "at": item.due_at.isoformat(), "outcome": outcome.value}
                    )
                    log += self._line(
                        self.started_at,
                        item.due_at,
                        _("%(step)s: %(what)s", step=step.name, what=text),
                    )
                    if step.action == "exit":
                        self.finished = True
                if until is None or self.finished:
                    break
                continue
            if result.finished or not result.next_check or (until and result.next_check > until):
                if result.finished or not result.next_check:
                    log += self._line(
                        self.started_at,
                        now,
                        _("Nothing more can happen: the journey is over for this contact."),
                    )
                    self.finished = True
                now = until or now
                break
            now = result.next_check
        self.write({"history": json.dumps(history), "simulated_now": now, "log_html": log})

    @staticmethod
    def _runs_from(history):
        return [
            Run(
                step_id=r["step"], at=datetime.fromisoformat(r["at"]), outcome=Outcome(r["outcome"])
            )
            for r in history
        ]

    def _matches(self, steps, engine_steps):
        result = {}
        for step in steps.filtered(lambda s: s.condition in ("matches", "not_matches")):
            hit = bool(self.partner_id.filtered_domain(step._condition_filter()))
            result[step.id] = hit
        return result

    def _decide(self, step, at):
        """(engine Outcome, words) of the engine's decision on ``step``'s message at
        ``at`` — decided on the real contact's data, written nowhere."""
        if step.action != "message":
            words = {
                "update": _("the contact would be updated (tags, interests, stage)."),
                "journey": _(
                    "the contact would enter journey '%(name)s'.", name=step.target_journey_id.name
                ),
                "exit": _("the contact would leave the journey."),
            }[step.action]
            return Outcome.DONE, words
        candidate = step.trigger_id.sudo()._candidate(self.partner_id, f"test:{self.id}")
        result = self.env["marketing.trigger.decision"]._engine_results([candidate], at)[0]
        if result.outcome.value == "send":
            return Outcome.SENT, result.explanation
        if result.outcome.value == "defer":
            return Outcome.SENT, result.explanation
        return Outcome.NOT_SENT, result.explanation

    def _line(self, start, at, text):
        tz_name = self.env.user.tz or "UTC"
        local = fields.Datetime.context_timestamp(self.with_context(tz=tz_name), at)
        day = (at - start).days
        return Markup("<p><strong>%s</strong> (%s) — %s</p>") % (
            _("Day %(day)s", day=day),
            local.strftime("%Y-%m-%d %H:%M"),
            escape(text),
        )


class MarketingJourney(models.Model):
    _inherit = "marketing.journey"

    def action_test(self):
        self.ensure_one()
        if not self.step_ids:
            raise UserError(_("Add steps before testing the journey."))
        wizard = self.env["marketing.journey.test"].create(
            {"journey_id": self.id, "partner_id": self.env.user.partner_id.id}
        )
        return wizard._reopen()
