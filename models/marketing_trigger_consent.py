from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..engine import Channel

SOURCES = [
    ("form", "Web form"),
    ("import", "Import"),
    ("double_opt_in", "Double opt-in"),
    ("salesperson", "Salesperson"),
    ("preference_page", "Preference page"),
    ("unsubscribe", "Unsubscribe link"),
    ("api", "API"),
    ("listmonk", "Listmonk"),
]


class MarketingTriggerConsent(models.Model):
    """Proof of a marketing consent given or withdrawn, per partner and channel.

    Rows are never changed: every change of mind is a new row, so the history proves
    what the partner agreed to, when and how (German UWG §7, GDPR art. 7). The partner's
    current consent per channel is the newest row for that channel.
    """

    _name = "marketing.trigger.consent"
    _description = "Marketing Consent Proof"
    _order = "date desc, id desc"
    _rec_name = "partner_id"

    partner_id = fields.Many2one("res.partner", required=True, index=True, ondelete="cascade")
    channel = fields.Selection(
        [
            (Channel.EMAIL.value, "Email"),
            (Channel.SMS.value, "SMS"),
            (Channel.PHONE.value, "Phone"),
        ],
        required=True,
    )
    is_granted = fields.Boolean(string="Granted")
    source = fields.Selection(SOURCES, required=True, default="salesperson")
    date = fields.Datetime(required=True, default=fields.Datetime.now, readonly=True)
    user_id = fields.Many2one(
        "res.users", string="Recorded by", default=lambda self: self.env.user, readonly=True
    )
    evidence = fields.Text(
        help="How the consent was obtained: form URL and IP address, "
        "double opt-in confirmation, call notes, import file."
    )

    def write(self, vals):
        raise UserError(_("A consent proof cannot be changed. Record a new consent instead."))

    @api.model
    def _default_source(self):
        ctx = self.env.context
        if ctx.get("marketing_consent_source"):
            return ctx["marketing_consent_source"]
        if ctx.get("import_file"):
            return "import"
        return "salesperson" if self.env.user._is_internal() else "form"
