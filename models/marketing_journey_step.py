"""A journey step: when it runs (condition on its parent, wait) and what it does.

A step delegates (``_inherits``) to a hidden trigger of kind *Journey step*: its channel,
template, texts, activity, variants, priority, topic, message class and actions are the
trigger's own fields, so the engine decides a step's message exactly as any trigger's
(caps, cooldowns, arbitration, send windows, consent) and its deliveries are tracked the
same way. The occurrence of a step for a participant is ``journey:<participant id>``: the
decision log's unique index therefore also guarantees a step runs once per participant.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..engine.journeys import Condition, Step, validate

CONDITIONS = [
    ("always", "Always"),
    ("opened", "Email opened"),
    ("not_opened", "Email not opened within"),
    ("clicked", "Link clicked"),
    ("not_clicked", "Link not clicked within"),
    ("replied", "Replied"),
    ("not_replied", "Not replied within"),
    ("bounced", "Email bounced"),
    ("not_sent", "Message not sent (suppressed)"),
    ("activity_done", "Salesperson's activity done"),
    ("activity_cancelled", "Salesperson's activity cancelled"),
    ("activity_overdue", "Salesperson's activity still open at its deadline"),
    ("order_confirmed", "Order confirmed within"),
    ("order_not_confirmed", "No order confirmed within"),
    ("matches", "Contact matches a filter"),
    ("not_matches", "Contact does not match a filter"),
    ("split", "A/B split"),
]
EMAIL_CONDITIONS = {"opened", "not_opened", "clicked", "not_clicked", "replied", "not_replied"}
EMAIL_CONDITIONS |= {"bounced"}
ACTIVITY_CONDITIONS = {"activity_done", "activity_cancelled", "activity_overdue"}
WINDOW_CONDITIONS = {
    "not_opened",
    "not_clicked",
    "not_replied",
    "order_not_confirmed",
}
UNITS = [("hours", "Hours"), ("days", "Days")]
ACTIONS = [
    ("message", "Send a message"),
    ("update", "Update the contact (tags, interests, stage)"),
    ("journey", "Enter another journey"),
    ("exit", "Exit the journey"),
]
ICONS = {
    "message": "fa-envelope",
    "update": "fa-tags",
    "journey": "fa-random",
    "exit": "fa-sign-out",
    "listmonk": "fa-list",
}


def _anchor_moment(partner, field):
    """The contact's date as a naive UTC moment: a date at 9:00 in the contact's time
    zone, a datetime as stored. None when the contact has no such date."""
    value = partner[field.name]
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        zone = ZoneInfo(partner.tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = datetime.combine(value, time(9, 0), tzinfo=zone)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _delta(value, unit):
    return timedelta(hours=value or 0) if unit == "hours" else timedelta(days=value or 0)


class MarketingJourneyStep(models.Model):
    _name = "marketing.journey.step"
    _description = "Marketing Journey Step"
    _inherits = {"marketing.trigger": "trigger_id"}
    _order = "journey_id, parent_path, id"
    _parent_store = True

    trigger_id = fields.Many2one(
        "marketing.trigger", required=True, ondelete="restrict", auto_join=True, index=True
    )
    journey_id = fields.Many2one("marketing.journey", required=True, ondelete="cascade", index=True)
    parent_id = fields.Many2one(
        "marketing.journey.step",
        string="After step",
        ondelete="restrict",
        index=True,
        domain="[('journey_id', '=', journey_id), ('id', '!=', id)]",
        help="Empty: the step follows the contact's entry into the journey.",
    )
    journey_state = fields.Selection(related="journey_id.state", string="Journey status")
    is_reached = fields.Boolean(
        compute="_compute_is_reached", help="Some contact has already run this step."
    )
    parent_path = fields.Char(index=True)
    child_ids = fields.One2many("marketing.journey.step", "parent_id", string="Next steps")
    action = fields.Selection(ACTIONS, default="message", required=True)
    condition = fields.Selection(
        CONDITIONS,
        default="always",
        required=True,
        help="What must have happened after the previous step for this one to run. "
        "Two steps after the same step with opposite conditions (opened / not opened) "
        "are exclusive: a contact takes one branch only.",
    )
    window_value = fields.Integer("Within", default=7)
    window_unit = fields.Selection(UNITS, default="days", required=True, string="Unit")
    link_id = fields.Many2one(
        "marketing.trigger.link",
        string="Only this link",
        ondelete="set null",
        help="Empty: any link of the previous step's email.",
    )
    condition_domain = fields.Char("Filter", default="[]")
    split_percent = fields.Integer("Share (%)", default=50)
    wait_value = fields.Integer("Wait", default=0)
    wait_unit = fields.Selection(UNITS, default="days", required=True, string="Wait unit")
    anchor_field_id = fields.Many2one(
        "ir.model.fields",
        string="Counted from the contact's date",
        ondelete="cascade",
        domain="[('model', '=', 'res.partner'), ('ttype', 'in', ('date', 'datetime')), "
        "('store', '=', True), ('name', 'not in', ('create_date', 'write_date', "
        "'message_last_post', 'signup_expiration', 'date_localization', "
        "'marketing_last_activity_at', 'marketing_callback_at'))]",
        help="Empty: the wait counts from the previous step. Set: the step is due the "
        "given time before or after this date of the contact (at 9:00 in the contact's "
        "time zone for a date), never before the previous step ran. A contact without "
        "the date skips the step.",
    )
    anchor_direction = fields.Selection(
        [("after", "after"), ("before", "before")], default="after", string="Before or after"
    )
    target_journey_id = fields.Many2one(
        "marketing.journey", string="Journey to enter", ondelete="restrict"
    )
    icon = fields.Char(compute="_compute_icon")
    # Live counters, shown on the step cards.
    processed_count = fields.Integer(compute="_compute_step_counters")
    step_sent_count = fields.Integer(compute="_compute_step_counters")
    step_suppressed_count = fields.Integer(compute="_compute_step_counters")
    step_opened_count = fields.Integer(compute="_compute_step_counters")
    step_clicked_count = fields.Integer(compute="_compute_step_counters")

    _sql_constraints = [
        ("wait_positive", "CHECK(wait_value >= 0)", "A wait cannot be negative."),
        ("window_positive", "CHECK(window_value >= 0)", "A delay cannot be negative."),
        (
            "split_range",
            "CHECK(split_percent >= 0 AND split_percent <= 100)",
            "A split share is a percentage between 0 and 100.",
        ),
    ]

    # ------------------------------------------------------------ create

    @api.model_create_multi
    def create(self, vals_list):
        journeys = self.env["marketing.journey"].browse(
            [v["journey_id"] for v in vals_list if v.get("journey_id")]
        )
        for vals in vals_list:
            journey = journeys.browse(vals.get("journey_id"))
            vals["kind"] = "journey_step"
            vals["journey_role"] = "step"
            vals.setdefault("name", _("Step"))
            if journey:
                vals.setdefault("company_id", journey.company_id.id)
                vals["state"] = "active" if journey.state == "running" else "paused"
            if vals.get("action", "message") != "message":
                vals["channel"] = "none"
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("action") and vals["action"] != "message":
            vals = dict(vals, channel="none")
        if "parent_id" in vals or "condition" in vals:
            self._check_not_reached(_("its place or condition"))
        return super().write(vals)

    def unlink(self):
        self._check_not_reached(_("it"), delete=True)
        triggers = self.trigger_id
        result = super().unlink()
        triggers.exists().sudo().unlink()
        return result

    def _compute_is_reached(self):
        reached = self._reached() if self.ids else self.browse()
        for step in self:
            step.is_reached = step in reached

    def _reached(self):
        """The steps among these that some participant has already run."""
        Run = self.env["marketing.journey.run"].sudo()
        return Run.search([("step_id", "in", self.ids)]).step_id

    def _check_not_reached(self, what, delete=False):
        reached = self._reached()
        if reached:
            raise UserError(
                _(
                    "Step '%(name)s' has already run for some contacts: %(what)s cannot be "
                    "changed any more. Archive it to stop it running, and add a new step.",
                    name=reached[0].name,
                    what=what,
                )
                if not delete
                else _(
                    "Step '%(name)s' has already run for some contacts and cannot be "
                    "deleted; archive it instead (it stops running).",
                    name=reached[0].name,
                )
            )

    # ------------------------------------------------------------ validation

    @api.constrains("journey_id", "parent_id")
    def _check_tree(self):
        for step in self:
            if step.parent_id and step.parent_id.journey_id != step.journey_id:
                raise ValidationError(_("A step follows a step of the same journey."))
        if self._has_cycle():
            raise ValidationError(_("A step cannot follow itself, even indirectly."))

    @api.constrains(
        "action", "channel", "target_journey_id", "condition", "parent_id", "listmonk_list_id"
    )
    def _check_step(self):
        for step in self:
            if step.action == "message" and step.channel == "none":
                raise ValidationError(
                    _(
                        "Step '%(name)s' sends a message: choose its channel.",
                        name=step.name,
                    )
                )
            if step.action == "update" and not step.trigger_id._has_record_actions():
                raise ValidationError(
                    _(
                        "Step '%(name)s' updates the contact: choose tags, interests or a "
                        "lifecycle stage.",
                        name=step.name,
                    )
                )
            if step.action == "listmonk" and not step.listmonk_list_id:
                raise ValidationError(
                    _("Step '%(name)s': choose the Listmonk list.", name=step.name)
                )
            if step.action == "journey" and (
                not step.target_journey_id or step.target_journey_id == step.journey_id
            ):
                raise ValidationError(
                    _(
                        "Step '%(name)s': choose another journey to enter.",
                        name=step.name,
                    )
                )
            problem = step._condition_problem()
            if problem:
                raise ValidationError(problem)

    def _condition_problem(self):
        parent, condition = self.parent_id, self.condition
        if condition in ("matches", "not_matches"):
            try:
                self._condition_filter()
            except Exception as exc:  # noqa: BLE001 - shown to the user
                return _(
                    "Step '%(name)s': the filter is not valid (%(error)s).",
                    name=self.name,
                    error=exc,
                )
        if condition in ("always", "matches", "not_matches", "split", "order_confirmed"):
            return None
        if condition == "order_not_confirmed":
            return None
        if not parent:
            return _(
                "Step '%(name)s' reacts to the previous step's message: choose the step it "
                "follows.",
                name=self.name,
            )
        channels = (
            {parent.channel, parent.fallback_channel} if parent.action == "message" else set()
        )
        if condition in EMAIL_CONDITIONS and "email" not in channels:
            return _(
                "Step '%(name)s': '%(condition)s' needs an email in the step it follows "
                "('%(parent)s' sends no email).",
                name=self.name,
                condition=dict(CONDITIONS)[condition],
                parent=parent.name,
            )
        if condition in ACTIVITY_CONDITIONS and "phone" not in channels:
            return _(
                "Step '%(name)s': '%(condition)s' needs a salesperson activity in the step it "
                "follows ('%(parent)s' creates none).",
                name=self.name,
                condition=dict(CONDITIONS)[condition],
                parent=parent.name,
            )
        if condition == "not_sent" and parent.action != "message":
            return _(
                "Step '%(name)s': 'message not sent' follows a step that sends a message.",
                name=self.name,
            )
        return None

    def _condition_filter(self):
        from odoo.tools.safe_eval import safe_eval

        domain = safe_eval(self.condition_domain or "[]")
        self.env["res.partner"].search_count(list(domain), limit=1)
        return list(domain)

    def _window(self):
        """The engine's window of this step's condition: the delay the user gave; for
        "activity still open", the deadline of the activity the parent created."""
        if self.condition == "activity_overdue":
            return timedelta(days=max(self.parent_id.activity_deadline_days, 0) + 1)
        if self.condition in WINDOW_CONDITIONS or (
            self.condition in ("opened", "clicked", "replied", "order_confirmed")
            and self.window_value
        ):
            return _delta(self.window_value, self.window_unit)
        return None

    def _engine_steps(self, partner=None):
        """The engine's steps; ``partner`` resolves anchored waits to its dates (without
        a partner, as for validation, an anchored step counts from its parent)."""
        steps = []
        for step in self:
            wait, anchor, active = _delta(step.wait_value, step.wait_unit), None, step.active
            if step.anchor_field_id and partner is not None:
                anchor = _anchor_moment(partner, step.anchor_field_id)
                active = active and anchor is not None
                if step.anchor_direction == "before":
                    wait = -wait
            steps.append(
                Step(
                    id=step.id,
                    parent_id=step.parent_id.id or None,
                    condition=Condition(step.condition),
                    window=step._window(),
                    wait=wait,
                    wait_unit=step.wait_unit,
                    anchor=anchor,
                    link_id=step.link_id.id or None,
                    split_percent=step.split_percent,
                    active=active,
                    sends_message=step.action == "message",
                )
            )
        return steps

    def _engine_validation(self):
        """The engine's word on the whole tree (split shares, windows, …)."""
        return validate(self._engine_steps())

    # ------------------------------------------------------------ display

    @api.depends("action")
    def _compute_icon(self):
        for step in self:
            step.icon = ICONS.get(step.action, "fa-circle")

    def _compute_step_counters(self):
        Run = self.env["marketing.journey.run"].sudo()
        processed = {
            step.id: count
            for step, count in Run._read_group(
                [("step_id", "in", self.ids), ("participant_id.is_test", "=", False)],
                ["step_id"],
                ["__count"],
            )
        }
        for step in self:
            sent = step.trigger_id.sent_count
            step.processed_count = processed.get(step.id, 0)
            step.step_sent_count = sent
            step.step_suppressed_count = step.trigger_id.suppressed_count
            step.step_opened_count = step.trigger_id.opened_count
            step.step_clicked_count = step.trigger_id.clicked_count

    @api.depends("name", "action", "condition", "wait_value", "wait_unit")
    def _compute_display_name(self):
        for step in self:
            step.display_name = step.name or dict(ACTIONS)[step.action]
