"""Journeys: multi-step programmes (welcome series, after-sale, win-back) whose every
step is decided by the engine like any trigger message.

A journey *is* a trigger for its entry: it delegates (``_inherits``) to a hidden
``marketing.trigger`` whose kind, filter and parameters say who enters and when — the
whole trigger catalogue, not a copy of it. That entry trigger sends nothing (channel
*No message*); each of its decisions enrols the contact (see ``_enter``). The steps are
``marketing.journey.step`` (each delegating to its own hidden trigger, so caps,
cooldowns, arbitration, consent, variants, deliveries and tracking apply unchanged) and
the runtime lives in ``marketing.journey.participant``.
"""

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..engine.journeys import in_holdout, uplift

REENTRY = [
    ("once", "Once ever"),
    ("after_days", "Again after a number of days"),
    ("every", "On every new occurrence"),
]
GOALS = [
    ("none", "No goal"),
    ("order_confirmed", "Order confirmed"),
    ("lead_won", "Opportunity won"),
    ("filter", "Contact matches a filter"),
    ("trigger", "Another trigger fires (e.g. an inbound event)"),
]


class MarketingJourney(models.Model):
    _name = "marketing.journey"
    _description = "Marketing Journey"
    _inherit = ["mail.thread"]
    _inherits = {"marketing.trigger": "entry_trigger_id"}
    _order = "sequence, id"

    entry_trigger_id = fields.Many2one(
        "marketing.trigger",
        string="Entry",
        required=True,
        ondelete="restrict",
        auto_join=True,
        help="Who enters the journey and when: any trigger kind with its filter.",
    )
    state = fields.Selection(
        [
            ("draft", "Draft"),
            ("running", "Running"),
            ("paused", "Paused"),
            ("stopped", "Stopped"),
        ],
        default="draft",
        required=True,
        tracking=True,
        copy=False,
    )
    step_ids = fields.One2many("marketing.journey.step", "journey_id", string="Steps")
    participant_ids = fields.One2many("marketing.journey.participant", "journey_id")
    reentry = fields.Selection(
        REENTRY,
        string="Re-entry",
        default="once",
        required=True,
        help="Whether a contact who was in the journey may enter it again.",
    )
    reentry_days = fields.Integer("Again after (days)", default=90)
    goal = fields.Selection(
        GOALS,
        default="none",
        required=True,
        help="Reaching the goal ends the contact's journey at once and counts as a " "conversion.",
    )
    goal_domain = fields.Char("Goal filter", default="[]")
    goal_trigger_id = fields.Many2one(
        "marketing.trigger",
        string="Goal trigger",
        ondelete="restrict",
        domain="[('journey_role', '=', False), ('kind', '!=', 'newsletter')]",
        help="The goal is reached when this trigger fires for the contact after entry "
        "(e.g. the booking webhook of an inbound trigger).",
    )
    holdout_percent = fields.Integer(
        "Holdout (%)",
        default=0,
        help="This share of the contacts entering receives nothing; comparing their "
        "conversions with the others' measures what the journey adds (uplift).",
    )
    attribution_days = fields.Integer(
        "Attribution window (days)",
        default=30,
        help="A confirmed order counts as a conversion within this many days of entry.",
    )
    last_error = fields.Text(readonly=True, copy=False)
    participant_count = fields.Integer(compute="_compute_results")
    running_count = fields.Integer(compute="_compute_results")
    holdout_count = fields.Integer(compute="_compute_results")
    converted_count = fields.Integer(compute="_compute_results")
    conversion_rate = fields.Float(compute="_compute_results", digits=(16, 1))
    revenue = fields.Float(compute="_compute_results")
    results_html = fields.Html(compute="_compute_results", sanitize=False)

    _sql_constraints = [
        (
            "holdout_range",
            "CHECK(holdout_percent >= 0 AND holdout_percent <= 90)",
            "The holdout is a percentage between 0 and 90.",
        ),
        ("reentry_days_positive", "CHECK(reentry_days >= 0)", "Re-entry days cannot be negative."),
        (
            "attribution_positive",
            "CHECK(attribution_days > 0)",
            "The attribution window must be at least one day.",
        ),
    ]

    # ------------------------------------------------------------ create

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            vals.setdefault("kind", "partner_registered")
            vals["channel"] = "none"
            vals["journey_role"] = "entry"
        journeys = super(MarketingJourney, self.with_context(mail_create_nolog=True)).create(
            vals_list
        )
        journeys.entry_trigger_id.write({"state": "paused"})
        return journeys

    def write(self, vals):
        if "channel" in vals:
            vals = dict(vals, channel="none")
        return super().write(vals)

    def unlink(self):
        if self.participant_ids:
            raise UserError(
                _(
                    "Journey '%(name)s' has participants: stop or archive it instead of "
                    "deleting it (the results and the decision log refer to it).",
                    name=self[0].name,
                )
            )
        triggers = self.entry_trigger_id | self.step_ids.trigger_id
        result = super().unlink()
        triggers.exists().sudo().unlink()
        return result

    @api.constrains("kind")
    def _check_entry_kind(self):
        for journey in self.filtered(lambda j: j.kind in ("newsletter", "journey_step")):
            raise ValidationError(
                _(
                    "Journey '%(name)s': contacts enter on an event or a date; choose another "
                    "entry (a newsletter's clicks are the kinds 'Link clicked' and 'Email "
                    "opened').",
                    name=journey.name,
                )
            )

    @api.constrains("goal", "goal_domain", "goal_trigger_id")
    def _check_goal(self):
        for journey in self.filtered(lambda j: j.goal == "trigger" and not j.goal_trigger_id):
            raise ValidationError(
                _("Journey '%(name)s': choose the goal trigger.", name=journey.name)
            )
        for journey in self.filtered(lambda j: j.goal == "filter"):
            try:
                domain = journey._goal_domain()
                self.env["res.partner"].search_count(domain, limit=1)
            except Exception as exc:  # noqa: BLE001 - any parse error is the user's to fix
                raise ValidationError(
                    _(
                        "Journey '%(name)s': the goal filter is not a valid filter on "
                        "contacts (%(error)s).",
                        name=journey.name,
                        error=exc,
                    )
                ) from exc

    def _goal_domain(self):
        from odoo.tools.safe_eval import safe_eval

        domain = safe_eval(self.goal_domain or "[]")
        if not isinstance(domain, list | tuple):
            raise ValueError(_("a filter is a list of conditions"))
        return list(domain)

    # ------------------------------------------------------------ states

    def action_run(self):
        for journey in self:
            problems = journey._validation_problems()
            if problems:
                raise UserError(
                    _(
                        "Journey '%(name)s' cannot run yet:\n%(problems)s",
                        name=journey.name,
                        problems="\n".join(f"• {p}" for p in problems),
                    )
                )
        self.write({"state": "running", "last_error": False})
        self.entry_trigger_id.action_activate()
        self.step_ids.trigger_id.write({"state": "active"})
        self.env["marketing.journey.participant"].search(
            [("journey_id", "in", self.ids), ("state", "=", "running")]
        )._wake()
        return True

    def action_pause(self):
        """Hold everyone where they are: nobody enters, no step is decided."""
        self.write({"state": "paused"})
        self.entry_trigger_id.action_pause()
        return True

    def action_stop(self):
        """End the journey for everyone; pending messages of its steps are cancelled."""
        self.write({"state": "stopped"})
        self.entry_trigger_id.action_pause()
        participants = self.env["marketing.journey.participant"].search(
            [("journey_id", "in", self.ids), ("state", "=", "running")]
        )
        participants._exit("journey_stopped")
        return True

    def action_draft(self):
        self.filtered(lambda j: j.state == "stopped").write({"state": "draft"})

    def _validation_problems(self):
        self.ensure_one()
        problems = []
        steps = self.step_ids.filtered("active")
        if not steps:
            problems.append(_("add at least one step"))
        problems += steps._engine_validation()
        return problems

    # ------------------------------------------------------------ entry

    def _enter(self, partners_keys, now=None):
        """Enrol ``[(partner, occurrence key)]``, respecting the re-entry policy and the
        holdout. Returns the new participants."""
        self.ensure_one()
        if self.state != "running" or not partners_keys:
            return self.env["marketing.journey.participant"]
        now = now or fields.Datetime.now()
        Participant = self.env["marketing.journey.participant"].sudo()
        partner_ids = list({p.id for p, _k in partners_keys})
        Participant.flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT partner_id, occurrence_key, entered_at, state
                FROM marketing_journey_participant
                WHERE journey_id = %s AND partner_id = ANY(%s) AND is_test IS NOT TRUE""",
                self.id,
                partner_ids,
            )
        )
        history = {}
        for partner_id, key, entered_at, state in self.env.cr.fetchall():
            history.setdefault(partner_id, []).append((key, entered_at, state))
        values, seen = [], set()
        for partner, key in partners_keys:
            past = history.get(partner.id, [])
            if partner.id in seen or not self._may_enter(past, key, now):
                continue
            seen.add(partner.id)
            holdout = in_holdout(self.id, partner.id, self.holdout_percent)
            values.append(
                {
                    "journey_id": self.id,
                    "partner_id": partner.id,
                    "company_id": self.company_id.id,
                    "occurrence_key": key,
                    "entered_at": now,
                    "state": "holdout" if holdout else "running",
                    "next_check_at": False if holdout else now,
                }
            )
        participants = Participant.create(values)
        if participants.filtered(lambda p: p.state == "running"):
            participants._wake()
        return participants

    def _may_enter(self, past, key, now):
        if not past:
            return True
        if any(state in ("running", "holdout") for _k, _at, state in past):
            return False  # one run at a time
        if self.reentry == "once":
            return False
        if self.reentry == "every":
            return key not in {k for k, _at, _s in past}
        last = max(at for _k, at, _s in past)
        return (now - last).days >= self.reentry_days

    def action_add_contacts(self):
        """The contacts chosen in a contact list (context ``active_ids``) enter now."""
        self.ensure_one()
        self.check_access("write")
        if self.state != "running":
            raise UserError(_("Start journey '%(name)s' before adding contacts.", name=self.name))
        partners = self.env["res.partner"].browse(self.env.context.get("active_ids") or [])
        stamp = fields.Datetime.now().strftime("%Y%m%d%H%M%S")
        added = self._enter([(p, f"manual:{stamp}") for p in partners])
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _(
                    "%(added)s of %(chosen)s contacts entered the journey (the others are "
                    "already in it or may not enter again).",
                    added=len(added),
                    chosen=len(partners),
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    # ------------------------------------------------------------ results

    def _conversions(self):
        """{journey id: {'treatment'|'holdout': (participants, converted, revenue)}}:
        a conversion is a confirmed sale order of the contact within the attribution
        window after entry (one set-based query)."""
        if not self.ids:
            return {}
        self.env["marketing.journey.participant"].flush_model()
        self.env["sale.order"].flush_model(["partner_id", "state", "date_order", "amount_total"])
        self.env.cr.execute(
            SQL(
                """SELECT p.journey_id, p.state = 'holdout' AS holdout, count(*),
                          count(o.partner_id), COALESCE(sum(o.revenue), 0)
                FROM marketing_journey_participant p
                JOIN marketing_journey j ON j.id = p.journey_id
                LEFT JOIN LATERAL (
                    SELECT so.partner_id, sum(so.amount_total) AS revenue
                    FROM sale_order so JOIN res_partner rp ON rp.id = so.partner_id
                    WHERE (so.partner_id = p.partner_id
                           OR rp.commercial_partner_id = p.partner_id)
                      AND so.state = 'sale' AND so.date_order >= p.entered_at
                      AND so.date_order < p.entered_at + make_interval(days => j.attribution_days)
                    GROUP BY so.partner_id LIMIT 1
                ) o ON TRUE
                WHERE p.journey_id = ANY(%s) AND p.is_test IS NOT TRUE
                GROUP BY p.journey_id, p.state = 'holdout'""",
                self.ids,
            )
        )
        result = {}
        for journey_id, holdout, total, converted, revenue in self.env.cr.fetchall():
            group = result.setdefault(journey_id, {})
            key = "holdout" if holdout else "treatment"
            t, c, r = group.get(key, (0, 0, 0.0))
            group[key] = (t + total, c + converted, r + float(revenue))
        return result

    @api.depends("participant_ids.state")
    def _compute_results(self):
        conversions = self._conversions()
        counts = {
            (journey.id, state): count
            for journey, state, count in self.env["marketing.journey.participant"]._read_group(
                [("journey_id", "in", self.ids), ("is_test", "=", False)],
                ["journey_id", "state"],
                ["__count"],
            )
        }
        for journey in self:
            figures = conversions.get(journey.id, {})
            treat = figures.get("treatment", (0, 0, 0.0))
            hold = figures.get("holdout", (0, 0, 0.0))
            journey.participant_count = treat[0] + hold[0]
            journey.running_count = counts.get((journey.id, "running"), 0)
            journey.holdout_count = hold[0]
            journey.converted_count = treat[1]
            journey.conversion_rate = 100.0 * treat[1] / treat[0] if treat[0] else 0.0
            journey.revenue = treat[2]
            journey.results_html = journey._results_table(treat, hold)

    def _results_table(self, treat, hold):
        from markupsafe import Markup, escape

        def pct(value):
            return f"{100 * value:.1f} %"

        rows = [
            (_("Participants"), treat[0], hold[0]),
            (_("Converted"), treat[1], hold[1]),
            (
                _("Conversion rate"),
                pct(treat[1] / treat[0]) if treat[0] else "–",
                pct(hold[1] / hold[0]) if hold[0] else "–",
            ),
            (_("Revenue"), f"{treat[2]:,.2f}", f"{hold[2]:,.2f}"),
        ]
        body = Markup("").join(
            Markup("<tr><td>%s</td><td class='text-end'>%s</td><td class='text-end'>%s</td></tr>")
            % (label, a, b)
            for label, a, b in rows
        )
        if hold[0] and treat[0]:
            stats = uplift(treat[0], treat[1], hold[0], hold[1])
            verdict = escape(
                _(
                    "Uplift %(uplift)s (95%% confidence interval %(low)s to %(high)s).",
                    uplift=pct(stats.uplift),
                    low=pct(stats.ci_low),
                    high=pct(stats.ci_high),
                )
            )
        elif treat[0]:
            verdict = escape(_("No holdout: set one to measure what the journey adds."))
        else:
            verdict = escape(_("Nobody has entered yet."))
        head = Markup(
            "<table class='table table-sm o_journey_results'><thead><tr><th></th>"
            "<th class='text-end'>%s</th><th class='text-end'>%s</th></tr></thead>"
        ) % (_("Journey"), _("Holdout"))
        return head + Markup("<tbody>%s</tbody></table><p>%s</p>") % (body, verdict)

    def action_view_participants(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "marketing_trigger.marketing_journey_participant_action"
        )
        action["domain"] = [("journey_id", "=", self.id)]
        action["context"] = {"default_journey_id": self.id, "search_default_group_state": 1}
        return action
