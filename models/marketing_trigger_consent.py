from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

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
# What a user may record in their own name (the contact form, an import, an integration
# through the API). Every other source is the system's own path (the double opt-in
# confirmation, the customer's preference page, the unsubscribe link, the Listmonk
# read-back): code that checked its own evidence records those as superuser.
USER_SOURCES = ("salesperson", "import", "api")
# Clocks of several Odoo servers differ a little; a proof further ahead is refused.
CLOCK_SKEW = timedelta(minutes=1)


class MarketingTriggerConsent(models.Model):
    """Proof of a marketing consent given or withdrawn, per partner and channel.

    A proof is legal evidence (German UWG §7, GDPR art. 7), so it is append-only for
    everyone: no write, no delete (only the contact's erasure removes its proofs, through
    the database's cascade). Every change of mind is a new row. Who recorded it and when
    are set by the server, never by the caller; the partner's current consent per channel
    follows the latest *recorded* proof, whatever date the caller gave it.
    """

    _name = "marketing.trigger.consent"
    _description = "Marketing Consent Proof"
    _order = "id desc"
    _rec_name = "partner_id"

    partner_id = fields.Many2one(
        "res.partner", required=True, index=True, ondelete="cascade", readonly=True
    )
    company_id = fields.Many2one(
        related="partner_id.company_id", store=True, index=True, string="Company"
    )
    channel = fields.Selection(
        [
            (Channel.EMAIL.value, "Email"),
            (Channel.SMS.value, "SMS"),
            (Channel.PHONE.value, "Phone"),
            (Channel.FAX.value, "Fax"),
        ],
        required=True,
        readonly=True,
    )
    is_granted = fields.Boolean(string="Granted", readonly=True)
    source = fields.Selection(SOURCES, required=True, default="salesperson", readonly=True)
    date = fields.Datetime(
        "Given on",
        required=True,
        # The transaction's time, like the recording time: a proof given "now" is not
        # dated after it was recorded.
        default=lambda self: self.env.cr.now(),
        readonly=True,
        help="When the contact gave or withdrew the consent (e.g. the date of the signed "
        "form of an import). It cannot lie in the future.",
    )
    recorded_at = fields.Datetime(
        "Recorded on",
        related="create_date",
        help="Set by the server when the proof was recorded; the latest recorded proof "
        "decides the consent.",
    )
    user_id = fields.Many2one("res.users", string="Recorded by", readonly=True)
    evidence = fields.Text(
        readonly=True,
        help="How the consent was obtained: form URL and IP address, "
        "double opt-in confirmation, call notes, import file.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        now = fields.Datetime.now()
        for vals in vals_list:
            # The server says who recorded the proof and when; the caller cannot.
            for key in ("user_id", "create_uid", "create_date", "write_uid", "write_date"):
                vals.pop(key, None)
            vals["user_id"] = self.env.uid
            vals.setdefault("source", self._default_source())
            given = fields.Datetime.to_datetime(vals.get("date")) if vals.get("date") else None
            if given and given > now + CLOCK_SKEW:
                raise ValidationError(
                    _(
                        "A consent proof cannot be dated in the future (%(date)s). Use the "
                        "date on which the contact gave or withdrew the consent.",
                        date=given,
                    )
                )
        if not self.env.su:
            self._check_user_may_record(vals_list)
        return super().create(vals_list)

    def _check_user_may_record(self, vals_list):
        """A user records proofs only through the documented paths: for a contact they
        may edit, as themselves (contact form), an import or the API with evidence."""
        for vals in vals_list:
            source = vals["source"]
            if source not in USER_SOURCES:
                label = dict(SOURCES).get(source, source)
                raise AccessError(
                    _(
                        "Consent proofs with the source '%(origin)s' are recorded by the "
                        "system itself (it checked the contact's own action), not by a user.",
                        origin=label,
                    )
                )
            if source == "api" and not (vals.get("evidence") or "").strip():
                raise ValidationError(
                    _(
                        "A consent proof recorded through the API needs its evidence: "
                        "where and how the contact agreed (form URL, IP address, time)."
                    )
                )
        partners = self.env["res.partner"].browse({vals["partner_id"] for vals in vals_list})
        partners.check_access("write")

    def write(self, vals):
        raise UserError(_("A consent proof cannot be changed. Record a new consent instead."))

    def unlink(self):
        self.check_access("unlink")  # no group may: users get the access error first
        raise UserError(
            _(
                "A consent proof is evidence and cannot be deleted. Record a new consent "
                "to withdraw it; erasing the contact removes its proofs."
            )
        )

    @api.model
    def _default_source(self):
        """The source of a proof recorded by a change on the contact. A source named in
        the context counts only when the system records it (superuser) or when a user may
        record it themselves: a user cannot pass off their edit as a double opt-in."""
        ctx = self.env.context
        source = ctx.get("marketing_consent_source")
        if source and (self.env.su or source in USER_SOURCES):
            return source
        if ctx.get("import_file"):
            return "import"
        return "salesperson" if self.env.user._is_internal() else "form"
