from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from ..engine import Channel, Touch
from .common import CHANNEL_SELECTION

CHANNELS = CHANNEL_SELECTION


class MarketingTriggerTouch(models.Model):
    """The contact ledger: every time a partner was, or is about to be, reached.

    Trigger deliveries add a touch when they are queued (dated when they will go out) and
    remove it if they are cancelled; a salesperson's completed call adds one; anyone can
    log a letter, fax or visit by hand. Caps, cooldowns and arbitration read this table,
    so contact pressure counts every channel, not just email.

    Touches made by the system (triggers, newsletters, completed activities) are
    evidence: no user changes or deletes them, since that would silently loosen the caps.
    Only touches logged by hand can be corrected, by their author or a manager.
    """

    _name = "marketing.trigger.touch"
    _description = "Marketing Contact Touch"
    _order = "date desc, id desc"
    _rec_name = "channel"

    partner_id = fields.Many2one("res.partner", required=True, index=True, ondelete="cascade")
    channel = fields.Selection(CHANNELS, required=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    source = fields.Selection(
        [
            ("trigger", "Trigger"),
            ("activity", "Salesperson activity"),
            ("newsletter", "Newsletter"),
            ("manual", "Logged by hand"),
        ],
        required=True,
        default="manual",
    )
    trigger_id = fields.Many2one("marketing.trigger", index=True, ondelete="set null")
    topic_id = fields.Many2one("marketing.trigger.topic", ondelete="set null")
    delivery_id = fields.Many2one("marketing.trigger.delivery", index=True, ondelete="cascade")
    is_counted = fields.Boolean(
        "Counts for caps",
        default=True,
        help="Service messages are shown but do not weigh on marketing pressure.",
    )
    note = fields.Char()
    user_id = fields.Many2one("res.users", default=lambda self: self.env.user)
    company_id = fields.Many2one(
        "res.company",
        compute="_compute_company_id",
        store=True,
        readonly=False,
        precompute=True,
        index=True,
        help="The company whose trigger or user made the contact; caps still count every "
        "touch of the person.",
    )

    is_correctable = fields.Boolean(
        compute="_compute_is_correctable",
        help="Logged by hand, and you logged it or manage marketing: you may correct it.",
    )

    @api.depends("source", "user_id")
    @api.depends_context("uid")
    def _compute_is_correctable(self):
        is_manager = self.env.user.has_group("marketing_trigger.group_marketing_trigger_manager")
        for touch in self:
            touch.is_correctable = touch.source == "manual" and (
                is_manager or touch.user_id == self.env.user
            )

    def _check_correctable(self):
        """Refuse to change or delete a touch the current user may not correct."""
        if self.env.su:
            return
        evidence = self.filtered(lambda touch: touch.source != "manual")
        if evidence:
            raise AccessError(
                _(
                    "Contacts made by triggers, newsletters and activities are evidence "
                    "for the frequency caps: they cannot be changed or deleted. "
                    "Only contacts logged by hand can be corrected."
                )
            )
        others = self.filtered(lambda touch: not touch.is_correctable)
        if others:
            raise AccessError(
                _(
                    "Only %(author)s, who logged this contact, or a marketing manager "
                    "can correct it.",
                    author=others[0].user_id.name or _("its author"),
                )
            )

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            for vals in vals_list:
                if vals.get("source", "manual") != "manual" or vals.get("delivery_id"):
                    raise AccessError(
                        _("Only contacts logged by hand can be added to the ledger by users.")
                    )
                # The author is whoever logs it, never someone else.
                vals["user_id"] = self.env.uid
        return super().create(vals_list)

    def write(self, vals):
        self._check_correctable()
        if not self.env.su and {"source", "delivery_id", "user_id"} & set(vals):
            raise AccessError(_("The origin and author of a logged contact cannot be changed."))
        return super().write(vals)

    def unlink(self):
        self._check_correctable()
        return super().unlink()

    def action_remove(self):
        """Delete a contact logged by mistake (the row's bin on the contact form)."""
        self.unlink()
        return True

    @api.depends("trigger_id", "delivery_id")
    def _compute_company_id(self):
        for touch in self:
            touch.company_id = (
                touch.trigger_id.company_id
                or touch.delivery_id.company_id
                or touch.company_id
                or touch.partner_id.company_id
                or self.env.company
            )

    @api.model
    def _ledger(self, partner_ids, now, horizon: timedelta):
        """{partner id: [Touch]} for the engine, within ``horizon`` of ``now``, in one query."""
        if not partner_ids:
            return {}
        self.flush_model()
        self.env.cr.execute(
            SQL(
                """SELECT partner_id, date, channel, trigger_id, topic_id, is_counted
                 FROM marketing_trigger_touch
                WHERE partner_id = ANY(%s) AND date > %s AND date < %s""",
                list(partner_ids),
                now - horizon,
                now + horizon + timedelta(days=60),
            )
        )
        ledger = {}
        for partner_id, date, channel, trigger_id, topic_id, counted in self.env.cr.fetchall():
            ledger.setdefault(partner_id, []).append(
                Touch(
                    date,
                    Channel(channel),
                    trigger_id,
                    str(topic_id) if topic_id else None,
                    bool(counted),
                )
            )
        return ledger
