"""A journey's funnel: each step in tree order with what happened there.

The figures are the steps' live counters (processed, sent, not sent, opened, clicked)
and, per step, how many of the contacts who went through it converted — a confirmed
sale order within the journey's attribution window after entry, the same definition as
the journey's results. A/B branches are steps of their own, so each branch has its row.
"""

from markupsafe import Markup
from odoo import _, fields, models
from odoo.tools import SQL

from .marketing_journey_step import CONDITIONS, WINDOW_CONDITIONS

WINDOW_OPTIONAL = {"opened", "clicked", "replied", "order_confirmed"}
# As on the diagram's cards: a message step shows its channel.
CHANNEL_ICONS = {"email": "fa-envelope", "sms": "fa-mobile", "phone": "fa-phone"}
CHANNEL_ICONS["voice"] = "fa-volume-up"


class MarketingJourneyStep(models.Model):
    _inherit = "marketing.journey.step"

    step_converted_count = fields.Integer(
        compute="_compute_step_converted_count",
        help="Contacts who went through this step and converted: a confirmed order within "
        "the journey's attribution window after they entered.",
    )

    def _compute_step_converted_count(self):
        converted = {}
        if self.ids:
            self.env["marketing.journey.run"].flush_model(["participant_id", "step_id"])
            self.env["marketing.journey.participant"].flush_model()
            self.env["sale.order"].flush_model(["partner_id", "state", "date_order"])
            self.env.cr.execute(
                SQL(
                    """SELECT r.step_id, count(*)
                    FROM marketing_journey_run r
                    JOIN marketing_journey_participant p ON p.id = r.participant_id
                    JOIN marketing_journey j ON j.id = p.journey_id
                    WHERE r.step_id = ANY(%s) AND p.is_test IS NOT TRUE
                      AND EXISTS (
                        SELECT 1 FROM sale_order so
                        JOIN res_partner rp ON rp.id = so.partner_id
                        WHERE (so.partner_id = p.partner_id
                               OR rp.commercial_partner_id = p.partner_id)
                          AND so.state = 'sale' AND so.date_order >= p.entered_at
                          AND so.date_order < p.entered_at
                              + make_interval(days => j.attribution_days))
                    GROUP BY r.step_id""",
                    self.ids,
                )
            )
            converted = dict(self.env.cr.fetchall())
        for step in self:
            step.step_converted_count = converted.get(step.id, 0)

    def _tree_order(self):
        """[(step, depth)] depth first, children by creation, archived ones included."""
        by_parent = {}
        for step in self.sorted("id"):
            parent = step.parent_id if step.parent_id in self else self.browse()
            by_parent.setdefault(parent.id, []).append(step)
        ordered, stack = [], [(step, 0) for step in reversed(by_parent.get(False, []))]
        while stack:
            step, depth = stack.pop()
            ordered.append((step, depth))
            stack += [(child, depth + 1) for child in reversed(by_parent.get(step.id, []))]
        return ordered

    def _condition_words(self):
        self.ensure_one()
        if self.condition == "always":
            return _("On entry") if not self.parent_id else _("Always")
        if self.condition == "split":
            return _("A/B %(percent)s %%", percent=self.split_percent)
        label = dict(CONDITIONS)[self.condition]
        unit = dict(self._fields["window_unit"].selection).get(self.window_unit, "").lower()
        if self.condition in WINDOW_CONDITIONS:
            return _(
                "%(condition)s %(value)s %(unit)s",
                condition=label,
                value=self.window_value,
                unit=unit,
            )
        if self.condition in WINDOW_OPTIONAL and self.window_value:
            return _(
                "%(condition)s within %(value)s %(unit)s",
                condition=label,
                value=self.window_value,
                unit=unit,
            )
        return label


class MarketingJourney(models.Model):
    _inherit = "marketing.journey"

    # Archived steps stay in the form (muted on the diagram, in the list and the funnel):
    # a step that has run can only be archived, and its figures still count. A context
    # on the field in the view does not do it, Odoo 18 reads x2many values with the
    # record's own context; the runtime already reads steps with active_test=False.
    step_ids = fields.One2many(context={"active_test": False})
    funnel_html = fields.Html("Funnel", compute="_compute_funnel_html", sanitize=False)

    def _compute_funnel_html(self):
        for journey in self:
            steps = journey.step_ids
            journey.funnel_html = journey._funnel_table(steps._tree_order())

    def _funnel_table(self, ordered):
        if not ordered:
            return Markup("<p class='text-muted'>%s</p>") % _("No step yet.")
        top = max([step.processed_count for step, _depth in ordered] + [1])
        heads = [
            _("Step"),
            _("Processed"),
            _("Sent"),
            _("Not sent"),
            _("Opened"),
            _("Clicked"),
            _("Converted"),
            _("Conversion"),
        ]
        head = Markup("").join(
            Markup("<th class='%s'>%s</th>") % ("text-start" if i == 0 else "text-end", h)
            for i, h in enumerate(heads)
        )
        rows = Markup("").join(self._funnel_row(step, depth, top) for step, depth in ordered)
        return Markup(
            "<table class='table table-sm o_journey_funnel'><thead><tr>%s</tr></thead>"
            "<tbody>%s</tbody></table>"
        ) % (head, rows)

    def _funnel_row(self, step, depth, top):
        processed = step.processed_count
        rate = f"{100.0 * step.step_converted_count / processed:.1f} %" if processed else "–"
        bar = Markup(
            "<div class='progress mt-1' style='height: 4px; max-width: 12rem;'>"
            "<div class='progress-bar' role='progressbar' style='width: %s%%;'></div></div>"
        ) % round(100 * processed / top)
        archived = Markup(" <span class='badge text-bg-secondary'>%s</span>") % _("archived")
        name = Markup(
            "<td style='padding-left: %srem;'><i class='fa fa-fw %s'></i> <b>%s</b>%s"
            "<div class='small text-muted'>%s</div>%s</td>"
        ) % (
            0.25 + 1.5 * depth,
            (step.action == "message" and CHANNEL_ICONS.get(step.channel)) or step.icon,
            step.name,
            Markup("") if step.active else archived,
            step._condition_words(),
            bar,
        )
        figures = Markup("").join(
            Markup("<td class='text-end'>%s</td>") % value
            for value in (
                processed,
                step.step_sent_count,
                step.step_suppressed_count,
                step.step_opened_count,
                step.step_clicked_count,
                step.step_converted_count,
                rate,
            )
        )
        muted = "" if step.active else " class='text-muted'"
        return Markup("<tr%s>%s%s</tr>") % (Markup(muted), name, figures)
