from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..engine import forecast
from .common import CHANNEL_SELECTION


class MarketingTriggerForecast(models.TransientModel):
    """Dry run: replay the next days of time-based triggers through the engine, with the
    current contacts, ledgers and contact policy, and show the volumes per day and
    channel and what the policy would suppress or defer. Nothing is stored or sent."""

    _name = "marketing.trigger.forecast"
    _description = "Marketing Trigger Forecast"

    days = fields.Integer(default=30, required=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    trigger_ids = fields.Many2many(
        "marketing.trigger",
        string="Triggers",
        default=lambda self: self._default_triggers(),
        domain="[('is_time_based', '=', True), ('company_id', '=', company_id)]",
        help="Active time-based triggers by default; add a draft to see its effect "
        "before activating it.",
    )
    line_ids = fields.One2many("marketing.trigger.forecast.line", "forecast_id")
    total_sent = fields.Integer(readonly=True)
    total_suppressed = fields.Integer(readonly=True)
    total_deferred = fields.Integer(readonly=True)

    _sql_constraints = [
        ("days_check", "CHECK(days BETWEEN 1 AND 366)", "Forecast between 1 and 366 days."),
    ]

    @api.model
    def _default_triggers(self):
        return self.env["marketing.trigger"].search(
            [
                ("state", "=", "active"),
                ("is_time_based", "=", True),
                ("company_id", "=", self.env.company.id),
            ]
        )

    def _simulate(self):
        """The engine's forecast for these triggers, as a list of ForecastDay."""
        self.ensure_one()
        start = fields.Datetime.now()
        end = start + timedelta(days=self.days)
        candidates = self._forecast_candidates(start, end)
        Decision = self.env["marketing.trigger.decision"]
        partner_ids = {c.partner_id for c in candidates}
        policy = self.env["marketing.trigger.policy"]._for_company(self.company_id)
        horizon = policy._horizon() + timedelta(days=self.days)
        return forecast(
            candidates,
            Decision._partner_facts(partner_ids),
            start=start,
            days=self.days,
            ledger=self.env["marketing.trigger.touch"]._ledger(partner_ids, start, horizon),
            policy=policy._engine_policy(),
            decided=Decision._decided_keys(candidates) if candidates else set(),
            timezone=self.env.user.tz or "UTC",
        )

    def _forecast_candidates(self, start, end):
        """The candidates the period would offer to the engine (extended by journeys)."""
        triggers = self.trigger_ids.sudo().filtered("is_time_based")
        return [c for t in triggers for c in t._time_candidates(start, end)]

    def _forecast_extra_triggers(self):
        """Triggers forecast besides the chosen ones (e.g. journey steps)."""
        return self.env["marketing.trigger"]

    def action_run(self):
        """Simulate, store one line per trigger, day, outcome and channel or reason
        (a zero line for each trigger on a day it does nothing, so every day shows),
        and open them as a graph stacked by trigger."""
        self.ensure_one()
        self.env["marketing.trigger"].check_access("read")
        if not self.trigger_ids and not self._forecast_extra_triggers():
            raise UserError(_("Choose at least one time-based trigger to forecast."))
        days = self._simulate()
        triggers = self.trigger_ids.filtered("is_time_based") | self._forecast_extra_triggers()
        lines = []
        for day in days:
            busy = set()
            for item in day.counts:
                busy.add(item.trigger_id)
                lines.append(
                    {
                        "day": day.day,
                        "trigger_id": item.trigger_id,
                        "kind": item.outcome,
                        "channel": item.detail if item.outcome == "sent" else False,
                        "reason_code": item.detail if item.outcome != "sent" else False,
                        f"{item.outcome}_count": item.count,
                    }
                )
            lines += [
                {"day": day.day, "trigger_id": trigger.id}
                for trigger in triggers
                if trigger.id not in busy
            ]
        totals = {
            kind: sum(v.get(f"{kind}_count", 0) for v in lines)
            for kind in ("sent", "suppressed", "deferred")
        }
        self.line_ids.unlink()
        self.write(
            {
                "line_ids": [fields.Command.create(values) for values in lines],
                **{f"total_{kind}": total for kind, total in totals.items()},
            }
        )
        return {
            "type": "ir.actions.act_window",
            "name": _(
                "Forecast: next %(days)s days (%(sent)s to send, %(suppressed)s suppressed)",
                days=self.days,
                sent=totals["sent"],
                suppressed=totals["suppressed"],
            ),
            "res_model": "marketing.trigger.forecast.line",
            "view_mode": "graph,pivot,list",
            "views": [(False, "graph"), (False, "pivot"), (False, "list")],
            "domain": [("forecast_id", "=", self.id)],
            "context": {"create": False},
        }


class MarketingTriggerForecastLine(models.TransientModel):
    """One trigger's forecast for one day: messages it would send on one channel, or
    would have suppressed or deferred for one reason. Days when a trigger does nothing
    hold a line of zeros, so the graph and the table show every day of the period."""

    _name = "marketing.trigger.forecast.line"
    _description = "Marketing Trigger Forecast Line"
    _order = "day, trigger_id, kind, id"
    _rec_name = "trigger_id"

    forecast_id = fields.Many2one(
        "marketing.trigger.forecast", required=True, ondelete="cascade", index=True
    )
    day = fields.Date(required=True)
    trigger_id = fields.Many2one("marketing.trigger", required=True, ondelete="cascade")
    kind = fields.Selection(
        [("sent", "Sent"), ("suppressed", "Suppressed"), ("deferred", "Deferred")],
        string="Outcome",
        help="Empty on a day the trigger would do nothing.",
    )
    channel = fields.Selection(CHANNEL_SELECTION, help="The channel the messages go out on.")
    reason_code = fields.Selection(
        selection="_reason_selection",
        string="Reason",
        help="Why the contact policy would suppress or defer the messages.",
    )
    sent_count = fields.Integer("Sent", aggregator="sum", help="Messages that would go out.")
    suppressed_count = fields.Integer(
        "Suppressed", aggregator="sum", help="Messages the contact policy would not send."
    )
    deferred_count = fields.Integer(
        "Deferred",
        aggregator="sum",
        help="Messages moved to a later moment (counted again on the day they are sent).",
    )
    label = fields.Char(
        "Channel or reason",
        compute="_compute_label",
        help="The channel of sent messages, the reason of the others.",
    )

    @api.model
    def _reason_selection(self):
        return self.env["marketing.trigger.decision"]._fields["reason_code"].selection

    @api.depends("channel", "reason_code")
    def _compute_label(self):
        channels = dict(self._fields["channel"].selection)
        reasons = dict(self._reason_selection())
        for line in self:
            line.label = channels.get(line.channel) or reasons.get(line.reason_code) or ""
