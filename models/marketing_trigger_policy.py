from datetime import time, timedelta

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engine import CapRule, Channel, Policy, SendWindow
from .common import CHANNEL_SELECTION

CHANNELS = CHANNEL_SELECTION
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _clock(hours: float) -> time:
    minutes = round(hours * 60)
    return time(min(minutes // 60, 23), minutes % 60) if minutes < 24 * 60 else time(23, 59)


class MarketingTriggerPolicy(models.Model):
    """The contact rules of one company: frequency caps, topic cooldowns, arbitration,
    the send window and how long a message may be deferred. Every trigger of the company
    is decided under them."""

    _name = "marketing.trigger.policy"
    _description = "Marketing Contact Policy"
    _inherit = ["mail.thread"]

    name = fields.Char(required=True, default=lambda self: _("Contact policy"))
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    cap_ids = fields.One2many(
        "marketing.trigger.policy.cap", "policy_id", string="Frequency caps", copy=True
    )
    cooldown_ids = fields.One2many(
        "marketing.trigger.policy.cooldown", "policy_id", string="Topic cooldowns", copy=True
    )
    arbitration_hours = fields.Float(
        default=24.0,
        tracking=True,
        help="Two trigger messages closer than this compete for the partner: the one with "
        "the higher priority (then business value) goes, the other is deferred or dropped.",
    )
    max_defer_days = fields.Integer(
        default=14,
        tracking=True,
        help="How far a deferrable message may be pushed back before it is dropped.",
    )
    window_start = fields.Float(default=8.0, tracking=True, help="Local time of the partner.")
    window_end = fields.Float(default=20.0, tracking=True)
    skip_holidays = fields.Boolean(
        default=True,
        tracking=True,
        help="Do not send on public holidays of the partner's country and state.",
    )
    monday = fields.Boolean(default=True)
    tuesday = fields.Boolean(default=True)
    wednesday = fields.Boolean(default=True)
    thursday = fields.Boolean(default=True)
    friday = fields.Boolean(default=True)
    saturday = fields.Boolean(default=True)
    sunday = fields.Boolean(default=False)

    _sql_constraints = [
        ("company_uniq", "UNIQUE(company_id)", "A company has one contact policy."),
        (
            "window_check",
            "CHECK(window_start >= 0 AND window_end <= 24 AND " "window_start < window_end)",
            "The send window must start before it ends, " "within 0:00 and 24:00.",
        ),
        ("defer_check", "CHECK(max_defer_days >= 0)", "The deferral limit cannot be negative."),
        (
            "arbitration_check",
            "CHECK(arbitration_hours >= 0)",
            "The arbitration window cannot be negative.",
        ),
    ]

    @api.constrains(*WEEKDAYS)
    def _check_weekdays(self):
        for policy in self:
            if not any(policy[day] for day in WEEKDAYS):
                raise ValidationError(_("The send window needs at least one weekday."))

    @api.model
    def _for_company(self, company):
        """The company's policy, created with sensible defaults on first use."""
        policy = self.sudo().search([("company_id", "=", company.id)], limit=1)
        if not policy:
            policy = self.sudo().create(
                {
                    "company_id": company.id,
                    "cap_ids": [
                        fields.Command.create({"channel": False, "limit": 3, "days": 7}),
                        fields.Command.create({"channel": "sms", "limit": 1, "days": 14}),
                        fields.Command.create({"channel": "phone", "limit": 1, "days": 30}),
                    ],
                }
            )
        return policy

    @api.model
    def _ensure_for_companies(self, company_ids):
        for company in self.env["res.company"].browse(company_ids):
            self._for_company(company)

    def _engine_policy(self) -> Policy:
        self.ensure_one()
        end = None if self.window_end >= 24 else _clock(self.window_end)
        return Policy(
            caps=tuple(cap._engine_rule() for cap in self.cap_ids),
            topic_cooldowns=tuple(
                (str(c.topic_id.id), timedelta(days=c.days)) for c in self.cooldown_ids
            ),
            arbitration_window=timedelta(hours=self.arbitration_hours),
            max_defer=timedelta(days=self.max_defer_days),
            window=SendWindow(
                weekdays=frozenset(i for i, day in enumerate(WEEKDAYS) if self[day]),
                start=_clock(self.window_start),
                end=end,
                skip_holidays=self.skip_holidays,
            ),
        )

    def _horizon(self) -> timedelta:
        """How far back (and ahead) the ledger must reach for these rules."""
        self.ensure_one()
        days = [cap.days for cap in self.cap_ids] + [c.days for c in self.cooldown_ids]
        return timedelta(days=max(days or [0]), hours=self.arbitration_hours)


class MarketingTriggerPolicyCap(models.Model):
    _name = "marketing.trigger.policy.cap"
    _description = "Marketing Frequency Cap"
    _order = "days, id"

    policy_id = fields.Many2one(
        "marketing.trigger.policy", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="policy_id.company_id", store=True, index=True)
    channel = fields.Selection(CHANNELS, help="Leave empty to count every channel.")
    limit = fields.Integer(required=True, default=3, string="At most")
    days = fields.Integer(required=True, default=7, string="In (days)")

    _sql_constraints = [
        ("limit_check", 'CHECK("limit" >= 1)', "A cap allows at least one touch."),
        ("days_check", "CHECK(days >= 1)", "A cap covers at least one day."),
    ]

    def _engine_rule(self) -> CapRule:
        return CapRule(
            self.limit, timedelta(days=self.days), Channel(self.channel) if self.channel else None
        )


class MarketingTriggerPolicyCooldown(models.Model):
    _name = "marketing.trigger.policy.cooldown"
    _description = "Marketing Topic Cooldown"

    policy_id = fields.Many2one(
        "marketing.trigger.policy", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="policy_id.company_id", store=True, index=True)
    topic_id = fields.Many2one("marketing.trigger.topic", required=True, ondelete="cascade")
    days = fields.Integer(required=True, default=30)

    _sql_constraints = [
        ("days_check", "CHECK(days >= 1)", "A cooldown lasts at least one day."),
        ("topic_uniq", "UNIQUE(policy_id, topic_id)", "This topic already has a cooldown."),
    ]
