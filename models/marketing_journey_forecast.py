"""The forecast shows journeys too: the next steps of the contacts now in running
journeys, replayed with the scheduling rules (``engine.journeys.plan``) as if every
message went out and nobody engaged — "not opened within 7 days" branches are counted,
"opened" ones are not — and decided by the engine next to the time-based triggers."""

from odoo import api, fields, models

from ..engine.journeys import Outcome, Run, plan

MAX_DEPTH = 12


class MarketingTriggerForecast(models.TransientModel):
    _inherit = "marketing.trigger.forecast"

    include_journeys = fields.Boolean(
        "Include journeys",
        default=True,
        help="Add the next steps of the contacts now in running journeys.",
    )

    def _journey_participants(self):
        if not self.include_journeys:
            return self.env["marketing.journey.participant"]
        return (
            self.env["marketing.journey.participant"]
            .sudo()
            .search(
                [
                    ("state", "=", "running"),
                    ("journey_id.state", "=", "running"),
                    ("company_id", "=", self.company_id.id),
                ]
            )
        )

    def _forecast_extra_triggers(self):
        extra = super()._forecast_extra_triggers()
        if not self.include_journeys:
            return extra
        journeys = self._journey_participants().journey_id
        return extra | journeys.step_ids.filtered(lambda s: s.action == "message").trigger_id

    def _forecast_candidates(self, start, end):
        candidates = super()._forecast_candidates(start, end)
        participants = self._journey_participants()
        for journey, group in participants.grouped("journey_id").items():
            candidates += group._forecast_candidates(journey, start, end)
        return candidates


class MarketingJourneyParticipant(models.Model):
    _inherit = "marketing.journey.participant"

    def _forecast_candidates(self, journey, start, end):
        """Candidates of the message steps these participants would reach by ``end``."""
        steps = journey.step_ids
        by_id = {s.id: s for s in steps}
        anchored = bool(steps.anchor_field_id)
        shared = steps._engine_steps()
        runs, _pending = self._history()
        facts = self._facts(runs)
        filters = steps.filtered(lambda s: s.condition in ("matches", "not_matches"))
        matching = {
            step.id: self.partner_id.with_context(active_test=False).filtered_domain(
                step._condition_filter()
            )
            for step in filters
        }
        candidates = []
        for participant in self:
            history = list(runs.get(participant.id, ()))
            matches = {sid: participant.partner_id in found for sid, found in matching.items()}
            for _depth in range(MAX_DEPTH):
                result = plan(
                    steps._engine_steps(participant.partner_id) if anchored else shared,
                    participant._engine_participant(),
                    history,
                    facts.get(participant.id, ()),
                    end,
                    matches=matches,
                )
                if not result.due:
                    break
                for due in result.due:
                    step = by_id[due.step_id]
                    at = max(due.due_at, start)
                    if step.action == "message":
                        candidates.append(
                            step.trigger_id.sudo()._candidate(
                                participant.partner_id, f"journey:{participant.id}", earliest=at
                            )
                        )
                    outcome = Outcome.SENT if step.action == "message" else Outcome.DONE
                    history.append(Run(step.id, at, outcome))
        return candidates


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    journey_step_ids = fields.One2many("marketing.journey.step", "trigger_id")

    @api.depends("journey_role")
    def _compute_display_name(self):
        super()._compute_display_name()
        for trigger in self.filtered(lambda t: t.journey_role == "step"):
            step = trigger.journey_step_ids[:1]
            if step:
                trigger.display_name = f"{step.journey_id.name} ▸ {trigger.name}"
