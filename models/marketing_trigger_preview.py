"""Who qualifies for a trigger right now, and what the contact policy would do with
them — a dry run through the engine (nothing is written or sent) — plus the trigger's
counters: fired, suppressed by reason, sent, opened, clicked."""

from datetime import timedelta

from markupsafe import Markup
from odoo import _, api, fields, models

from .common import CHANNEL_SELECTION
from .marketing_trigger_decision import REASONS

PREVIEW_LIMIT = 2000
PREVIEW_LINES = 200


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    eligible_count = fields.Integer(
        "Eligible now",
        compute="_compute_eligible_count",
        help="Contacts who qualify right now: for a time-based trigger, its occurrences "
        "of today and tomorrow not decided yet; for an event trigger, the contacts in its "
        "segment (who would qualify if the event happened now).",
    )
    fired_count = fields.Integer(compute="_compute_engagement_counters")
    opened_count = fields.Integer(compute="_compute_engagement_counters")
    clicked_count = fields.Integer(compute="_compute_engagement_counters")
    delivered_count = fields.Integer("Delivered", compute="_compute_engagement_counters")
    suppressed_summary = fields.Html(
        "Suppressed by reason", compute="_compute_engagement_counters", sanitize=False
    )

    @api.depends("kind", "partner_domain", "state")
    def _compute_eligible_count(self):
        for trigger in self:
            try:
                trigger.eligible_count = trigger._eligible_count()
            except Exception:  # noqa: BLE001 - a form must open even with a bad setup
                trigger.eligible_count = 0

    def _eligible_count(self):
        self.ensure_one()
        if not self.id:
            return 0
        trigger = self.sudo()
        if trigger.is_time_based and trigger.kind not in self._batched_kinds():
            return len(trigger._eligible_candidates(limit=None))
        in_segment = self.env["res.partner"].sudo().search_count(trigger._partner_domain())
        if trigger.kind in self._batched_kinds():
            in_segment -= (
                self.env["marketing.trigger.decision"]
                .sudo()
                .search_count(
                    [
                        ("trigger_id", "=", trigger.id),
                        ("outcome", "!=", "error"),
                        ("reason_code", "!=", "duplicate"),
                    ]
                )
            )
        return max(in_segment, 0)

    def _eligible_candidates(self, limit=PREVIEW_LIMIT):
        """Candidates of this trigger if it were evaluated now (not yet decided)."""
        self.ensure_one()
        if not self.id:
            return []
        trigger = self.sudo()
        if trigger.is_time_based:
            now = fields.Datetime.now()
            candidates = trigger._time_candidates(now - timedelta(days=1), now + timedelta(days=1))
        else:
            partners = (
                self.env["res.partner"]
                .sudo()
                .search(trigger._partner_domain(), limit=limit, order="id")
            )
            candidates = [trigger._candidate(p, "preview") for p in partners]
        return candidates[:limit] if limit else candidates

    def _compute_engagement_counters(self):
        Decision = self.env["marketing.trigger.decision"].sudo()
        Delivery = self.env["marketing.trigger.delivery"].sudo()
        reasons = dict(Decision._fields["reason_code"].selection)
        suppressed = {}
        for trigger, reason, count in Decision._read_group(
            [("trigger_id", "in", self.ids), ("outcome", "=", "suppress")],
            ["trigger_id", "reason_code"],
            ["__count"],
        ):
            suppressed.setdefault(trigger.id, []).append((count, reasons.get(reason, reason)))
        fired = dict(
            Decision._read_group(
                [
                    ("trigger_id", "in", self.ids),
                    ("outcome", "!=", "error"),
                    ("reason_code", "!=", "duplicate"),
                ],
                ["trigger_id"],
                ["__count"],
            )
        )
        stats = {
            trigger.id: (sent, opened, clicked)
            for trigger, sent, opened, clicked in Delivery._read_group(
                [("trigger_id", "in", self.ids), ("state", "=", "sent")],
                ["trigger_id"],
                ["__count", "opened_at:count", "clicked_at:count"],
            )
        }
        for trigger in self:
            sent, opened, clicked = stats.get(trigger.id, (0, 0, 0))
            trigger.fired_count = fired.get(trigger, 0)
            trigger.delivered_count = sent
            trigger.opened_count = opened
            trigger.clicked_count = clicked
            rows = sorted(suppressed.get(trigger.id, []), reverse=True)
            trigger.suppressed_summary = (
                Markup("<table class='table table-sm o_marketing_suppressed'>%s</table>")
                % Markup("").join(
                    Markup("<tr><td>%s</td><td class='text-end'>%s</td></tr>") % (label, count)
                    for count, label in rows
                )
                if rows
                else False
            )

    def action_preview_eligible(self):
        """Open the dry run: who qualifies now and what the policy would decide."""
        self.ensure_one()
        preview = self.env["marketing.trigger.preview"].create({"trigger_id": self.id})
        preview._run()
        return {
            "type": "ir.actions.act_window",
            "name": _("Eligible now: %(trigger)s", trigger=self.name),
            "res_model": "marketing.trigger.preview",
            "res_id": preview.id,
            "view_mode": "form",
            "target": "new",
        }


class MarketingTriggerPreview(models.TransientModel):
    _name = "marketing.trigger.preview"
    _description = "Marketing Trigger Preview"

    trigger_id = fields.Many2one("marketing.trigger", required=True, ondelete="cascade")
    eligible = fields.Integer(readonly=True)
    would_send = fields.Integer(readonly=True)
    would_defer = fields.Integer(readonly=True)
    would_suppress = fields.Integer(readonly=True)
    truncated = fields.Boolean(readonly=True)
    line_ids = fields.One2many("marketing.trigger.preview.line", "preview_id", readonly=True)

    def _run(self):
        self.ensure_one()
        self.trigger_id.check_access("read")
        trigger = self.trigger_id.sudo()
        candidates = trigger._eligible_candidates(limit=PREVIEW_LIMIT + 1)
        truncated = len(candidates) > PREVIEW_LIMIT
        candidates = candidates[:PREVIEW_LIMIT]
        if candidates and not candidates[0].channels:
            results = []
        else:
            results = self.env["marketing.trigger.decision"]._engine_results(
                candidates, fields.Datetime.now()
            )
        outcomes = [r.outcome.value for r in results]
        self.write(
            {
                "eligible": len(candidates),
                "would_send": outcomes.count("send"),
                "would_defer": outcomes.count("defer"),
                "would_suppress": outcomes.count("suppress"),
                "truncated": truncated,
                "line_ids": [
                    fields.Command.create(
                        {
                            "partner_id": r.candidate.partner_id,
                            "outcome": r.outcome.value,
                            "reason_code": r.reason.value,
                            "channel": r.channel.value if r.channel else False,
                            "send_at": r.send_at or False,
                            "explanation": r.explanation,
                        }
                    )
                    for r in results[:PREVIEW_LINES]
                ],
            }
        )


class MarketingTriggerPreviewLine(models.TransientModel):
    _name = "marketing.trigger.preview.line"
    _description = "Marketing Trigger Preview Line"

    preview_id = fields.Many2one("marketing.trigger.preview", required=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", readonly=True)
    outcome = fields.Selection(
        [("send", "Send"), ("defer", "Defer"), ("suppress", "Suppress")], readonly=True
    )
    reason_code = fields.Selection(
        REASONS,
        string="Reason",
        readonly=True,
    )
    channel = fields.Selection(CHANNEL_SELECTION, readonly=True)
    send_at = fields.Datetime(readonly=True)
    explanation = fields.Text(readonly=True)
