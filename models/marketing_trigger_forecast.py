from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..engine import forecast


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
        triggers = self.trigger_ids.sudo().filtered("is_time_based")
        candidates = [c for t in triggers for c in t._time_candidates(start, end)]
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

    def action_run(self):
        self.ensure_one()
        self.env["marketing.trigger"].check_access("read")
        if not self.trigger_ids:
            raise UserError(_("Choose at least one time-based trigger to forecast."))
        days = self._simulate()
        reasons = dict(self.env["marketing.trigger.decision"]._fields["reason_code"].selection)
        channels = dict(self.env["marketing.trigger.delivery"]._fields["channel"].selection)
        lines = []
        for day in days:
            for kind, pairs, names in (
                ("sent", day.sent, channels),
                ("suppressed", day.suppressed, reasons),
                ("deferred", day.deferred, reasons),
            ):
                lines += [
                    {"day": day.day, "kind": kind, "label": names.get(key, key), "count": count}
                    for key, count in pairs
                ]
        self.line_ids.unlink()
        self.write(
            {
                "line_ids": [fields.Command.create(values) for values in lines],
                "total_sent": sum(v["count"] for v in lines if v["kind"] == "sent"),
                "total_suppressed": sum(v["count"] for v in lines if v["kind"] == "suppressed"),
                "total_deferred": sum(v["count"] for v in lines if v["kind"] == "deferred"),
            }
        )
        return {
            "type": "ir.actions.act_window",
            "name": _("Forecast: next %(days)s days", days=self.days),
            "res_model": "marketing.trigger.forecast.line",
            "view_mode": "graph,pivot,list",
            "domain": [("forecast_id", "=", self.id)],
            "context": {"search_default_filter_sent": 1},
        }


class MarketingTriggerForecastLine(models.TransientModel):
    _name = "marketing.trigger.forecast.line"
    _description = "Marketing Trigger Forecast Line"
    _order = "day, kind, label"

    forecast_id = fields.Many2one(
        "marketing.trigger.forecast", required=True, ondelete="cascade", index=True
    )
    day = fields.Date(required=True)
    kind = fields.Selection(
        [("sent", "Sent"), ("suppressed", "Suppressed"), ("deferred", "Deferred")],
        required=True,
    )
    label = fields.Char("Channel or reason", required=True)
    count = fields.Integer(required=True, aggregator="sum")
