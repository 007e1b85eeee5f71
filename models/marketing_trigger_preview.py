"""Who qualifies for a trigger right now, and what the contact policy would do with
them — a dry run through the engine (nothing is written or sent) — plus the trigger's
counters: fired, suppressed by reason, sent, opened, clicked."""

from datetime import timedelta

from markupsafe import Markup
from odoo import _, api, fields, models
from odoo.tools import format_datetime

from .common import CHANNEL_SELECTION
from .marketing_trigger_decision import REASONS, local_times

PREVIEW_LIMIT = 2000
PREVIEW_LINES = 200


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    eligible_count = fields.Integer(
        "Eligible now",
        compute="_compute_eligible_count",
        help="Contacts who qualify right now: for a time-based trigger, its occurrences "
        "of today and tomorrow not decided yet; for an event trigger, the contacts who "
        "would get the message if the event happened to them now (in its segment, and "
        "for once-per-contact events not decided already).",
    )
    fired_count = fields.Integer(compute="_compute_engagement_counters")
    opened_count = fields.Integer(compute="_compute_engagement_counters")
    clicked_count = fields.Integer(compute="_compute_engagement_counters")
    delivered_count = fields.Integer(
        "Sent",
        compute="_compute_engagement_counters",
        help="The same count as Sent: messages the mail server or provider accepted.",
    )
    suppressed_summary = fields.Html(
        "Suppressed by reason", compute="_compute_engagement_counters", sanitize=False
    )

    @api.model
    def _once_per_contact_kinds(self):
        """Record-event kinds with one occurrence per contact, ever: a contact decided
        before would not qualify again if the event happened now."""
        return ["partner_registered", "double_optin"]

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
        if trigger.kind in self._batched_kinds() + self._once_per_contact_kinds():
            # The decisions are those of contacts who may have left the segment since:
            # count the contacts of the segment that have one.
            decided = (
                self.env["res.partner"]
                .sudo()
                .search_count(
                    trigger._partner_domain()
                    + [
                        (
                            "marketing_decision_ids",
                            "any",
                            [("trigger_id", "=", trigger.id), ("outcome", "!=", "error")],
                        )
                    ]
                )
            )
            in_segment -= decided
        return max(in_segment, 0)

    def _eligible_candidates(self, limit=PREVIEW_LIMIT):
        """Candidates of this trigger if it were evaluated now. Time-based kinds: the
        occurrences not decided yet. Event kinds: each contact of the segment as if the
        event happened to them now, with the occurrence a once-per-contact event would
        have (so those decided before show as such)."""
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
            if trigger.kind in self._once_per_contact_kinds():
                occurrences = trigger._event_occurrences(partners)
            else:
                occurrences = [(p, "preview") for p in partners]
            candidates = [trigger._candidate(p, key) for p, key in occurrences]
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
            trigger.id: (opened, clicked)
            for trigger, opened, clicked in Delivery._read_group(
                [("trigger_id", "in", self.ids), ("state", "=", "sent")],
                ["trigger_id"],
                ["opened_at:count", "clicked_at:count"],
            )
        }
        for trigger in self:
            opened, clicked = stats.get(trigger.id, (0, 0))
            trigger.fired_count = fired.get(trigger, 0)
            # One count of sent messages for the list, the form and the kanban.
            trigger.delivered_count = trigger.sent_count
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
    already_decided = fields.Integer(
        readonly=True, help="Contacts who already received this message (or were decided)."
    )
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
        Decision = self.env["marketing.trigger.decision"]
        # An occurrence decided before is not offered again: say so, rather than let the
        # engine weigh the contact against the message it already got.
        decided = Decision._decided_keys(candidates) if candidates else set()
        earlier = [c for c in candidates if c.key in decided]
        candidates = [c for c in candidates if c.key not in decided]
        if candidates and not candidates[0].channels:
            results = []
        else:
            results = Decision._engine_results(candidates, fields.Datetime.now())
        outcomes = [r.outcome.value for r in results]
        lines = [
            {
                "partner_id": r.candidate.partner_id,
                "outcome": r.outcome.value,
                "reason_code": r.reason.value,
                "channel": r.channel.value if r.channel else False,
                "send_at": r.send_at or False,
                "explanation": r.explanation,
            }
            for r in results[:PREVIEW_LINES]
        ]
        lines += self._already_decided_lines(earlier[: max(PREVIEW_LINES - len(lines), 0)])
        self.write(
            {
                "eligible": len(candidates),
                "already_decided": len(earlier),
                "would_send": outcomes.count("send"),
                "would_defer": outcomes.count("defer"),
                "would_suppress": outcomes.count("suppress"),
                "truncated": truncated,
                "line_ids": [fields.Command.create(values) for values in lines],
            }
        )

    def _already_decided_lines(self, candidates):
        """Preview lines for occurrences decided before: what happened to them."""
        if not candidates:
            return []
        decisions = (
            self.env["marketing.trigger.decision"]
            .sudo()
            .search(
                [
                    ("trigger_id", "=", self.trigger_id.id),
                    ("partner_id", "in", [c.partner_id for c in candidates]),
                    ("outcome", "!=", "error"),
                    ("reason_code", "!=", "duplicate"),
                ]
            )
        )
        by_key = {(d.partner_id.id, d.occurrence_key): d for d in decisions}
        reasons = dict(self.env["marketing.trigger.decision"]._fields["reason_code"].selection)
        lines = []
        for candidate in candidates:
            decision = by_key.get((candidate.partner_id, candidate.occurrence_key))
            if not decision:
                continue
            delivery = decision.delivery_ids[:1]
            when = format_datetime(self.env, delivery.sent_at or decision.decided_at)
            if delivery.state == "sent":
                text = _(
                    "Already received: this message reached the contact on %(when)s.", when=when
                )
            elif decision.outcome == "send" and delivery.state in ("pending", "queued"):
                text = _(
                    "Already decided: the message is on its way (decided on %(when)s).", when=when
                )
            else:
                text = _(
                    "Already decided on %(when)s (%(reason)s): it is not offered again.",
                    when=when,
                    reason=reasons.get(decision.reason_code, decision.reason_code),
                )
            lines.append(
                {
                    "partner_id": candidate.partner_id,
                    "outcome": "suppress",
                    "reason_code": "duplicate",
                    "channel": decision.channel,
                    "send_at": False,
                    "explanation": text,
                }
            )
        return lines


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
    explanation = fields.Text("Explanation (UTC)", readonly=True)
    explanation_local = fields.Text("Explanation", compute="_compute_explanation_local")

    @api.depends("explanation")
    @api.depends_context("tz")
    def _compute_explanation_local(self):
        tz_name = self.env.context.get("tz") or self.env.user.tz or "UTC"
        for line in self:
            line.explanation_local = local_times(line.explanation, tz_name)
