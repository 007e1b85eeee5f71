from datetime import timedelta

from markupsafe import Markup
from odoo import _, api, fields, models
from odoo.tools import SQL

from ..engine import Channel, Consent, PartnerFacts
from .common import LIFECYCLE_STAGES

CONSENT_FIELDS = {
    Consent.EMAIL: "marketing_consent_email",
    Consent.SMS: "marketing_consent_sms",
    Consent.PHONE: "marketing_consent_phone",
    Consent.FAX: "marketing_consent_fax",
}
PREFERRED_CHANNELS = [
    ("email", "Email"),
    ("sms", "SMS"),
    ("phone", "Phone call"),
    ("letter", "Letter"),
]
MARKETING_GROUPS = "marketing_trigger.group_marketing_trigger_user,sales_team.group_sale_salesman"


class ResPartner(models.Model):
    _inherit = "res.partner"

    marketing_consent_ids = fields.One2many(
        "marketing.trigger.consent",
        "partner_id",
        string="Consent history",
        groups="base.group_user",
    )
    marketing_consent_email = fields.Boolean(
        "Email marketing",
        compute="_compute_marketing_consent",
        inverse="_inverse_marketing_consent",
        store=True,
        readonly=False,
        help="The contact agreed to receive marketing by email. Each change is kept as proof.",
        groups="base.group_user",
    )
    marketing_consent_sms = fields.Boolean(
        "SMS marketing",
        compute="_compute_marketing_consent",
        inverse="_inverse_marketing_consent",
        store=True,
        readonly=False,
        groups="base.group_user",
    )
    marketing_consent_phone = fields.Boolean(
        "Phone marketing",
        compute="_compute_marketing_consent",
        inverse="_inverse_marketing_consent",
        store=True,
        readonly=False,
        groups="base.group_user",
    )
    marketing_consent_fax = fields.Boolean(
        "Fax marketing",
        compute="_compute_marketing_consent",
        inverse="_inverse_marketing_consent",
        store=True,
        readonly=False,
        groups="base.group_user",
    )
    marketing_fax = fields.Char(
        "Fax",
        help="Fax messages go through the trigger's gateway to this number.",
        groups="base.group_user",
    )
    marketing_birthdate = fields.Date(
        "Birthday",
        help="Used by birthday triggers, in the contact's time zone.",
        groups="base.group_user",
    )
    marketing_birthday_mmdd = fields.Integer(
        compute="_compute_marketing_birthday_mmdd",
        store=True,
        index=True,
        help="Month * 100 + day of the birthday, so birthdays are found by index.",
        groups="base.group_user",
    )
    marketing_lifecycle_stage = fields.Selection(
        LIFECYCLE_STAGES,
        string="Lifecycle stage",
        index=True,
        help="Drives trigger filters and content variants (a churn-risk customer's "
        "birthday message differs from a new customer's).",
        groups="base.group_user",
    )
    marketing_interest_ids = fields.Many2many(
        "marketing.trigger.interest",
        string="Interests",
        help="Topics the contact is interested in, for filters, variants and content.",
        groups="base.group_user",
    )
    marketing_callback_at = fields.Datetime(
        "Call back at",
        index=True,
        tracking=True,
        help="The customer asked to be called back then: a Callback trigger gives the "
        "salesperson an activity at that moment.",
        groups="base.group_user",
    )
    marketing_last_activity_at = fields.Datetime(
        "Last activity",
        index=True,
        copy=False,
        help="Last confirmed order or engagement (click, open); empty: the registration "
        "counts. Inactivity triggers start from it.",
        groups="base.group_user",
    )
    marketing_last_order_at = fields.Datetime(
        "Last order",
        copy=False,
        help="When the last order was confirmed (date triggers).",
        groups="base.group_user",
    )
    marketing_first_order_date = fields.Date(
        "First order",
        copy=False,
        help="Date of the first confirmed order (anniversaries).",
        groups="base.group_user",
    )
    marketing_topic_optout_ids = fields.Many2many(
        "marketing.trigger.topic",
        "marketing_topic_optout_rel",
        string="Opted out of topics",
        help="Marketing about these topics does not reach the contact (set on their "
        "preference page).",
        groups="base.group_user",
    )
    marketing_preferred_channel = fields.Selection(
        PREFERRED_CHANNELS,
        string="Preferred channel",
        help="Triggers that can use this channel use it first.",
        groups="base.group_user",
    )
    marketing_touch_ids = fields.One2many(
        "marketing.trigger.touch", "partner_id", string="Contact ledger", groups=MARKETING_GROUPS
    )
    marketing_pressure = fields.Html(
        "Contact pressure",
        compute="_compute_marketing_pressure",
        groups=MARKETING_GROUPS,
        sanitize=False,
    )
    marketing_decision_ids = fields.One2many(
        "marketing.trigger.decision",
        "partner_id",
        string="Marketing decisions",
        groups=MARKETING_GROUPS,
    )
    marketing_decision_count = fields.Integer(
        compute="_compute_marketing_decision_count", groups=MARKETING_GROUPS
    )

    @api.depends("marketing_birthdate")
    def _compute_marketing_birthday_mmdd(self):
        for partner in self:
            day = partner.marketing_birthdate
            partner.marketing_birthday_mmdd = day.month * 100 + day.day if day else 0

    @api.depends("marketing_consent_ids.is_granted")
    def _compute_marketing_consent(self):
        # The latest *recorded* proof decides (ids grow with recording), never the date a
        # caller gave it: a proof back- or forward-dated cannot override a later one.
        for partner in self:
            latest = {}
            for consent in partner.sudo().marketing_consent_ids.sorted("id"):
                latest[consent.channel] = consent.is_granted
            for channel, field_name in CONSENT_FIELDS.items():
                partner[field_name] = latest.get(channel.value, False)

    def _inverse_marketing_consent(self):
        """Record a proof for every channel whose consent was changed on the form."""
        Consent = self.env["marketing.trigger.consent"]
        source = Consent._default_source()
        evidence = self.env.context.get("marketing_consent_evidence")
        current = {
            partner.id: {
                c.channel: c.is_granted for c in partner.sudo().marketing_consent_ids.sorted("id")
            }
            for partner in self
        }
        proofs = [
            {
                "partner_id": partner.id,
                "channel": channel.value,
                "is_granted": partner[field_name],
                "source": source,
                "evidence": evidence,
            }
            for partner in self
            for channel, field_name in CONSENT_FIELDS.items()
            if partner[field_name] != current[partner.id].get(channel.value, False)
        ]
        if proofs:
            Consent.sudo().create(proofs)

    def _compute_marketing_decision_count(self):
        counts = dict(
            self.env["marketing.trigger.decision"]._read_group(
                [("partner_id", "in", self.ids)], ["partner_id"], ["__count"]
            )
        )
        for partner in self:
            partner.marketing_decision_count = counts.get(partner, 0)

    def _marketing_facts(self, blacklisted_emails):
        """The engine's view of this partner; ``blacklisted_emails`` is read in batch."""
        self.ensure_one()
        blacklisted = set()
        if self.email_normalized and self.email_normalized in blacklisted_emails:
            blacklisted |= {Channel.EMAIL, Channel.NEWSLETTER}
        if self.phone_blacklisted or self.mobile_blacklisted:
            blacklisted |= {Channel.SMS, Channel.PHONE, Channel.VOICE}
        raw_phone = self.mobile or self.phone
        return PartnerFacts(
            partner_id=self.id,
            email=self.email or None,
            consents=frozenset(c for c, name in CONSENT_FIELDS.items() if self[name]),
            blacklisted=frozenset(blacklisted),
            phone=self.phone_sanitized or None,
            phone_raw=raw_phone or None,
            has_postal_address=bool(self.street and self.city and self.country_id),
            fax=self.marketing_fax or None,
            timezone=self.tz or self.env.user.tz or "UTC",
            country=self.country_id.code or None,
            region=self.state_id.code or None,
            preferred_channel=Channel(self.marketing_preferred_channel)
            if self.marketing_preferred_channel
            else None,
        )

    def _compute_marketing_pressure(self):
        """Touches per cap in its current window, e.g. "All channels: 2 of 3 in 7 days"."""
        now = fields.Datetime.now()
        Touch = self.env["marketing.trigger.touch"].sudo()
        for partner in self:
            policy = self.env["marketing.trigger.policy"]._for_company(
                partner.company_id or self.env.company
            )
            rows = []
            for cap in policy.cap_ids:
                domain = [
                    ("partner_id", "=", partner.id),
                    ("is_counted", "=", True),
                    ("date", ">", now - timedelta(days=cap.days)),
                    ("date", "<=", now),
                ]
                if cap.channel:
                    domain.append(("channel", "=", cap.channel))
                used = Touch.search_count(domain)
                label = dict(cap._fields["channel"].selection).get(cap.channel) or _("All channels")
                css = "text-danger" if used >= cap.limit else ""
                rows.append(
                    Markup("<tr class='%s'><td>%s</td><td>%s / %s</td><td>%s</td></tr>")
                    % (css, label, used, cap.limit, _("in %(days)s days", days=cap.days))
                )
            partner.marketing_pressure = (
                Markup("<table class='table table-sm o_marketing_pressure'>%s</table>")
                % Markup("").join(rows)
                if rows
                else False
            )

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        if any(vals.get("marketing_callback_at") for vals in vals_list):
            self.env["marketing.trigger"]._callback_requested(partners)
        self.env["marketing.trigger"]._fire("partner_registered", partners)
        self.env["marketing.trigger"]._fire("segment_entered", partners)
        return partners

    def write(self, vals):
        result = super().write(vals)
        if vals.get("marketing_callback_at"):
            # The callback fires at its moment, not on the next hourly pass.
            self.env["marketing.trigger"]._callback_requested(self)
        # The partner may have moved into a segment; the event cron checks after commit.
        self.env["marketing.trigger"]._fire("segment_entered", self)
        return result

    def _marketing_record_activity(self, when=None, order=False):
        """Note an activity (an order, an engagement) for inactivity and anniversaries,
        in one UPDATE: it runs inside the business transaction."""
        if not self:
            return
        when = when or fields.Datetime.now()
        fnames = [
            "marketing_last_activity_at",
            "marketing_first_order_date",
            "marketing_last_order_at",
        ]
        self.flush_recordset(fnames)
        self.env.cr.execute(
            SQL(
                """UPDATE res_partner SET
                    marketing_last_activity_at = GREATEST(marketing_last_activity_at, %s),
                    marketing_first_order_date = CASE WHEN %s
                        THEN COALESCE(marketing_first_order_date, %s)
                        ELSE marketing_first_order_date END,
                    marketing_last_order_at = CASE WHEN %s
                        THEN GREATEST(marketing_last_order_at, %s)
                        ELSE marketing_last_order_at END
                WHERE id = ANY(%s)
                  -- an engagement within the hour changes nothing worth a row lock
                  AND (%s OR marketing_last_activity_at IS NULL
                       OR marketing_last_activity_at < %s)""",
                when,
                order,
                when.date(),
                order,
                when,
                self.ids,
                order,
                when - timedelta(hours=1),
            )
        )
        self.invalidate_recordset(fnames)

    def action_view_marketing_decisions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "marketing_trigger.marketing_trigger_decision_action"
        )
        action["domain"] = [("partner_id", "=", self.id)]
        action["context"] = {}
        return action
