"""Automatic lifecycle stages: onboarding → engaged → churn risk → win-back → lost.

Every night one set-based statement per company computes each contact's stage from its
confirmed orders and its engagement (human opens and clicks), with the thresholds of the
contact policy:

- **Onboarding**: no order yet, created less than *onboarding* days ago.
- **Engaged**: ordered or opened/clicked within *engaged* days, or a customer whose last
  order is still within their own rhythm.
- **Churn risk**: a customer whose last order is older than *factor* × their average gap
  between orders (customers with one order: *churn after* days), not yet lapsed.
- **Win-back**: last order *win-back* days ago or more; **Lost**: *lost* days or more.
- **New**: no order and no recent engagement, past onboarding (a prospect).

A stage set by hand on the contact overrides the automatic one until it is handed back
(*Set by hand* off). Every change is kept (``marketing.lifecycle.change``, append-only)
and fires the *Lifecycle stage changed* kind, whose triggers can filter on from/to.
"""

import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, split_every

from .common import LIFECYCLE_STAGES

_logger = logging.getLogger(__name__)

SOURCES = [
    ("automatic", "Automatic (nightly)"),
    ("manual", "By hand"),
    ("action", "Trigger action"),
]


class MarketingLifecycleChange(models.Model):
    """One move of a contact to another lifecycle stage. Evidence: never changed."""

    _name = "marketing.lifecycle.change"
    _description = "Lifecycle Stage Change"
    _order = "id desc"

    partner_id = fields.Many2one(
        "res.partner", required=True, index=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    from_stage = fields.Selection(LIFECYCLE_STAGES, string="From", readonly=True)
    to_stage = fields.Selection(LIFECYCLE_STAGES, string="To", readonly=True)
    source = fields.Selection(SOURCES, required=True, readonly=True)
    changed_at = fields.Datetime(
        required=True, readonly=True, default=lambda self: fields.Datetime.now()
    )

    def write(self, vals):
        raise UserError(_("Lifecycle changes are a history: they cannot be changed."))

    def unlink(self):
        if not self.env.context.get("marketing_lifecycle_cascade"):
            raise UserError(_("Lifecycle changes are a history: they cannot be deleted."))
        return super().unlink()

    def _marketing_partner(self):
        return self.partner_id


class MarketingTriggerPolicy(models.Model):
    _inherit = "marketing.trigger.policy"

    lifecycle_auto = fields.Boolean(
        "Automatic lifecycle stages",
        default=True,
        help="Compute every contact's lifecycle stage each night from orders and "
        "engagement. A stage set by hand on a contact is kept.",
    )
    lifecycle_onboarding_days = fields.Integer(
        "Onboarding lasts (days)",
        default=30,
        help="A contact without an order is onboarding for this long.",
    )
    lifecycle_engaged_days = fields.Integer(
        "Engaged within (days)",
        default=90,
        help="An order, an open or a click within this many days makes a contact engaged.",
    )
    lifecycle_churn_factor = fields.Float(
        "Churn risk after × the order rhythm",
        default=1.5,
        help="A customer is at churn risk when their last order is older than this many "
        "times their average gap between orders.",
    )
    lifecycle_churn_days = fields.Integer(
        "Churn risk after (days, one order)",
        default=180,
        help="For customers with a single order (no rhythm yet).",
    )
    lifecycle_winback_days = fields.Integer(
        "Win-back after (days)", default=365, help="Days since the last order: lapsed."
    )
    lifecycle_lost_days = fields.Integer(
        "Lost after (days)", default=730, help="Days since the last order: lost."
    )

    @api.constrains(
        "lifecycle_onboarding_days",
        "lifecycle_engaged_days",
        "lifecycle_churn_factor",
        "lifecycle_churn_days",
        "lifecycle_winback_days",
        "lifecycle_lost_days",
    )
    def _check_lifecycle_thresholds(self):
        for policy in self:
            days = [
                policy.lifecycle_onboarding_days,
                policy.lifecycle_engaged_days,
                policy.lifecycle_churn_days,
                policy.lifecycle_winback_days,
                policy.lifecycle_lost_days,
            ]
            if any(d <= 0 for d in days):
                raise ValidationError(_("Lifecycle thresholds are whole days above 0."))
            if policy.lifecycle_churn_factor <= 1:
                raise ValidationError(
                    _(
                        "The churn-risk factor must be above 1: at 1 every customer would be "
                        "at risk the day their usual next order is due."
                    )
                )
            if (
                not (
                    policy.lifecycle_engaged_days
                    < policy.lifecycle_winback_days
                    < policy.lifecycle_lost_days
                )
                or policy.lifecycle_churn_days >= policy.lifecycle_winback_days
            ):
                raise ValidationError(
                    _(
                        "Lifecycle thresholds must grow: engaged (%(engaged)s) and churn risk "
                        "(%(churn)s) before win-back (%(winback)s), win-back before lost "
                        "(%(lost)s).",
                        engaged=policy.lifecycle_engaged_days,
                        churn=policy.lifecycle_churn_days,
                        winback=policy.lifecycle_winback_days,
                        lost=policy.lifecycle_lost_days,
                    )
                )

    def _lifecycle_sql(self, now, partner_ids=None):
        """SELECT partner id, current stage, computed stage for this company's contacts
        whose stage is not set by hand."""
        self.ensure_one()
        day = SQL("interval '1 day'")
        return SQL(
            """
            WITH orders AS (
                SELECT so.partner_id, COUNT(*) AS n, MAX(so.date_order) AS last,
                       EXTRACT(EPOCH FROM MAX(so.date_order) - MIN(so.date_order))
                           / 86400.0 / NULLIF(COUNT(*) - 1, 0) AS rhythm
                FROM sale_order so
                WHERE so.state = 'sale' AND so.company_id = %(company)s
                  AND so.date_order <= %(now)s
                GROUP BY so.partner_id
            ), engaged AS (
                SELECT d.partner_id, MAX(GREATEST(d.opened_at, d.clicked_at)) AS last
                FROM marketing_trigger_delivery d
                WHERE d.company_id = %(company)s
                  AND (d.opened_at IS NOT NULL OR d.clicked_at IS NOT NULL)
                GROUP BY d.partner_id
            )
            SELECT p.id, p.marketing_lifecycle_stage, CASE
                WHEN o.last IS NULL THEN CASE
                    WHEN p.create_date >= %(now)s - %(onboarding)s * %(day)s THEN 'onboarding'
                    WHEN e.last >= %(now)s - %(engaged)s * %(day)s THEN 'engaged'
                    ELSE 'new' END
                WHEN o.last <= %(now)s - %(lost)s * %(day)s THEN 'lost'
                WHEN o.last <= %(now)s - %(winback)s * %(day)s THEN 'winback'
                WHEN o.last >= %(now)s - %(engaged)s * %(day)s THEN 'engaged'
                WHEN o.last < %(now)s - GREATEST(%(engaged)s,
                        COALESCE(%(factor)s * o.rhythm, %(churn)s)) * %(day)s THEN 'churn_risk'
                ELSE 'engaged' END AS stage
            FROM res_partner p
            LEFT JOIN orders o ON o.partner_id = p.id
            LEFT JOIN engaged e ON e.partner_id = p.id
            WHERE p.active
              AND NOT COALESCE(p.marketing_lifecycle_manual, FALSE)
              AND COALESCE(p.company_id, %(main)s) = %(company)s
              AND p.type = 'contact' %(only)s
            """,
            company=self.company_id.id,
            main=self.env.ref("base.main_company").id,
            now=now,
            day=day,
            onboarding=self.lifecycle_onboarding_days,
            engaged=self.lifecycle_engaged_days,
            factor=self.lifecycle_churn_factor,
            churn=self.lifecycle_churn_days,
            winback=self.lifecycle_winback_days,
            lost=self.lifecycle_lost_days,
            only=SQL("AND p.id = ANY(%s)", partner_ids) if partner_ids else SQL(),
        )


class ResPartner(models.Model):
    _inherit = "res.partner"

    marketing_lifecycle_manual = fields.Boolean(
        "Stage set by hand",
        groups="base.group_user",
        help="The nightly computation leaves this contact's stage alone. Untick to hand "
        "it back to the automatic stages.",
    )
    marketing_lifecycle_since = fields.Datetime(
        "In this stage since", readonly=True, groups="base.group_user"
    )
    marketing_lifecycle_change_ids = fields.One2many(
        "marketing.lifecycle.change",
        "partner_id",
        string="Lifecycle history",
        groups="base.group_user",
    )

    def write(self, vals):
        if "marketing_lifecycle_stage" not in vals or self.env.context.get(
            "marketing_lifecycle_silent"
        ):
            return super().write(vals)
        # Set on the form or by an import: by hand, kept by the nightly run. A trigger
        # action says so in the context and leaves the stage automatic.
        source = self.env.context.get("marketing_lifecycle_source") or "manual"
        before = {p.id: p.sudo().marketing_lifecycle_stage for p in self}
        if source == "manual" and "marketing_lifecycle_manual" not in vals:
            vals = dict(vals, marketing_lifecycle_manual=True)
        result = super().write(vals)
        self._marketing_lifecycle_changed(before, source)
        return result

    def _marketing_lifecycle_changed(self, before, source):
        """Record and announce the stage changes of these contacts (``before``: their
        stages before)."""
        now = fields.Datetime.now()
        changed = self.filtered(
            lambda p: (p.marketing_lifecycle_stage or False) != before.get(p.id)
        )
        if not changed:
            return
        changed.with_context(marketing_lifecycle_silent=True).write(
            {"marketing_lifecycle_since": now}
        )
        changes = (
            self.env["marketing.lifecycle.change"]
            .sudo()
            .create(
                [
                    {
                        "partner_id": p.id,
                        "company_id": (p.company_id or self.env.company).id,
                        "from_stage": before.get(p.id),
                        "to_stage": p.marketing_lifecycle_stage,
                        "source": source,
                        "changed_at": now,
                    }
                    for p in changed
                ]
            )
        )
        self.env["marketing.trigger"]._fire("lifecycle_stage_changed", changes)

    def action_marketing_lifecycle_automatic(self):
        """Hand the stage back to the nightly computation and compute it now."""
        self.write({"marketing_lifecycle_manual": False})
        for company, partners in self.grouped(lambda p: p.company_id or self.env.company).items():
            self.env["marketing.trigger.policy"]._for_company(company)._compute_lifecycle(
                fields.Datetime.now(), partners.ids
            )


class MarketingTriggerPolicyCompute(models.Model):
    _inherit = "marketing.trigger.policy"

    def _compute_lifecycle(self, now, partner_ids=None):
        """Move this company's contacts to their computed stage (one UPDATE), record
        each change and fire the kind. Returns the number of contacts moved."""
        self.ensure_one()
        Partner = self.env["res.partner"]
        Partner.flush_model()
        self.env["sale.order"].flush_model(["state", "date_order", "partner_id", "company_id"])
        self.env["marketing.trigger.delivery"].flush_model(
            ["opened_at", "clicked_at", "partner_id", "company_id"]
        )
        self.env.cr.execute(
            SQL(
                """UPDATE res_partner p SET marketing_lifecycle_stage = c.stage,
                       marketing_lifecycle_since = %s
                FROM (%s) AS c(id, old, stage)
                WHERE p.id = c.id AND c.stage IS DISTINCT FROM c.old
                RETURNING p.id, c.old, c.stage""",
                now,
                self._lifecycle_sql(now, partner_ids),
            )
        )
        rows = self.env.cr.fetchall()
        Partner.invalidate_model(["marketing_lifecycle_stage", "marketing_lifecycle_since"])
        Change = self.env["marketing.lifecycle.change"].sudo()
        for chunk in split_every(5000, rows, list):
            changes = Change.create(
                [
                    {
                        "partner_id": pid,
                        "company_id": self.company_id.id,
                        "from_stage": old,
                        "to_stage": new,
                        "source": "automatic",
                        "changed_at": now,
                    }
                    for pid, old, new in chunk
                ]
            )
            self.env["marketing.trigger"]._fire("lifecycle_stage_changed", changes)
        return len(rows)

    @api.model
    def _cron_compute_lifecycle(self):
        """Nightly: every company whose policy computes stages."""
        now = fields.Datetime.now()
        for policy in self.sudo().search([("lifecycle_auto", "=", True)]):
            try:
                with self.env.cr.savepoint():
                    moved = policy._compute_lifecycle(now)
                _logger.info(
                    "Lifecycle stages: %s contacts of %s moved", moved, policy.company_id.name
                )
            except Exception:  # noqa: BLE001 - one company must not stop the others
                _logger.exception(
                    "Lifecycle stages of %s could not be computed", policy.company_id.name
                )


class MarketingTrigger(models.Model):
    _inherit = "marketing.trigger"

    lifecycle_from_stage = fields.Selection(
        LIFECYCLE_STAGES, string="From stage", help="Empty: from any stage."
    )
    lifecycle_to_stage = fields.Selection(
        LIFECYCLE_STAGES, string="To stage", help="Empty: to any stage."
    )

    @api.model
    def _kinds(self):
        return super()._kinds() + [("lifecycle_stage_changed", _("Lifecycle stage changed"))]

    def _event_occurrences_lifecycle_stage_changed(self, changes):
        return [
            (change.partner_id, f"stage:{change.id}")
            for change in changes
            if (not self.lifecycle_from_stage or change.from_stage == self.lifecycle_from_stage)
            and (not self.lifecycle_to_stage or change.to_stage == self.lifecycle_to_stage)
        ]

    @api.constrains("kind", "lifecycle_from_stage", "lifecycle_to_stage")
    def _check_lifecycle_stages(self):
        for trigger in self:
            if (
                trigger.kind == "lifecycle_stage_changed"
                and trigger.lifecycle_from_stage
                and trigger.lifecycle_from_stage == trigger.lifecycle_to_stage
            ):
                raise ValidationError(
                    _(
                        "Trigger '%(name)s': a change goes from one stage to another; "
                        "choose two different stages.",
                        name=trigger.name,
                    )
                )
