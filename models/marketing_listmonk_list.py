"""Listmonk lists mapped to Odoo segments, and the link between a partner and the
Listmonk subscriber it was synced to.

A list's members are the partners matching its domain who may receive marketing email
(email consent recorded, address not blacklisted): Listmonk sends the newsletters, Odoo
decides who is on the list."""

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval


class MarketingListmonkList(models.Model):
    _name = "marketing.listmonk.list"
    _description = "Listmonk List"
    _order = "sequence, id"

    name = fields.Char(
        required=True, help="The list's name in Listmonk; created there on the first sync."
    )
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    server_id = fields.Many2one("marketing.listmonk.server", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="server_id.company_id", store=True, index=True)
    domain = fields.Char(
        "Segment",
        default="[]",
        required=True,
        help="Which contacts are on the list. Only contacts with email consent and an "
        "address that is not blacklisted are added.",
    )
    topic_id = fields.Many2one(
        "marketing.trigger.topic",
        ondelete="set null",
        help="An unsubscribe from this list in Listmonk becomes an opt-out of this topic. "
        "Without a topic it withdraws the contact's email consent.",
    )
    listmonk_id = fields.Integer("Listmonk list ID", readonly=True, copy=False)
    member_count = fields.Integer("Contacts synced", compute="_compute_member_count")

    _sql_constraints = [
        ("name_uniq", "UNIQUE(server_id, name)", "A Listmonk list name is used once per server.")
    ]

    @api.constrains("domain")
    def _check_domain(self):
        for mlist in self:
            try:
                domain = safe_eval(mlist.domain or "[]")
                self.env["res.partner"].search_count(domain, limit=1)
            except Exception as exc:  # noqa: BLE001 - report any error at save
                raise ValidationError(
                    _(
                        "The segment of list '%(name)s' is not valid: %(error)s",
                        name=mlist.name,
                        error=exc,
                    )
                ) from exc

    def _domain(self):
        self.ensure_one()
        return safe_eval(self.domain or "[]")

    def _compute_member_count(self):
        Link = self.env["marketing.listmonk.subscriber"].sudo()
        for mlist in self:
            mlist.member_count = (
                Link.search_count(
                    [
                        ("server_id", "=", mlist.server_id.id),
                        ("state", "=", "synced"),
                        ("list_ids", "like", f",{mlist.listmonk_id},"),
                    ]
                )
                if mlist.listmonk_id
                else 0
            )


class MarketingListmonkSubscriber(models.Model):
    """A partner as last synced to a Listmonk server: its subscriber ID there, the lists
    it was put on, and a hash of what was sent (an unchanged partner costs no request)."""

    _name = "marketing.listmonk.subscriber"
    _description = "Listmonk Subscriber"
    _rec_name = "email"
    _order = "id desc"

    # (server, partner) is the unique index; no separate one on the server.
    server_id = fields.Many2one("marketing.listmonk.server", required=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", required=True, index=True, ondelete="cascade")
    listmonk_id = fields.Integer("Listmonk ID", index=True, readonly=True)
    email = fields.Char(readonly=True)
    list_ids = fields.Char(
        "Listmonk list IDs", readonly=True, help="Listmonk list IDs, as ',1,4,' (for searching)."
    )
    list_names = fields.Char("Lists", compute="_compute_list_names")
    payload_hash = fields.Char(readonly=True)
    state = fields.Selection(
        [("synced", "Synced"), ("failed", "Refused by Listmonk")],
        default="synced",
        required=True,
        readonly=True,
    )
    error = fields.Char(readonly=True)
    synced_at = fields.Datetime(readonly=True)

    _sql_constraints = [
        (
            "partner_uniq",
            "UNIQUE(server_id, partner_id)",
            "A partner is linked once to a Listmonk server.",
        )
    ]

    def _compute_list_names(self):
        lists = self.env["marketing.listmonk.list"].sudo().with_context(active_test=False)
        names = {
            (mlist.server_id.id, mlist.listmonk_id): mlist.name
            for mlist in lists.search([("server_id", "in", self.server_id.ids)])
        }
        for subscriber in self:
            subscriber.list_names = ", ".join(
                names.get((subscriber.server_id.id, list_id), f"#{list_id}")
                for list_id in sorted(subscriber._list_id_set())
            )

    def _list_id_set(self):
        self.ensure_one()
        return {int(v) for v in (self.list_ids or "").split(",") if v}
