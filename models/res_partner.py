from odoo import api, fields, models

from ..engine import Channel, PartnerFacts

CONSENT_FIELDS = {
    Channel.EMAIL: "marketing_consent_email",
    Channel.SMS: "marketing_consent_sms",
    Channel.PHONE: "marketing_consent_phone",
}
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
    )
    marketing_consent_sms = fields.Boolean(
        "SMS marketing",
        compute="_compute_marketing_consent",
        inverse="_inverse_marketing_consent",
        store=True,
        readonly=False,
    )
    marketing_consent_phone = fields.Boolean(
        "Phone marketing",
        compute="_compute_marketing_consent",
        inverse="_inverse_marketing_consent",
        store=True,
        readonly=False,
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

    @api.depends("marketing_consent_ids.is_granted", "marketing_consent_ids.date")
    def _compute_marketing_consent(self):
        for partner in self:
            latest = {}
            for consent in partner.sudo().marketing_consent_ids.sorted(lambda c: (c.date, c.id)):
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
                c.channel: c.is_granted
                for c in partner.sudo().marketing_consent_ids.sorted(lambda c: (c.date, c.id))
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
        return PartnerFacts(
            partner_id=self.id,
            email=self.email or None,
            consents=frozenset(ch for ch, name in CONSENT_FIELDS.items() if self[name]),
            blacklisted=frozenset(
                {Channel.EMAIL} if self.email_normalized in blacklisted_emails else ()
            ),
        )

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        self.env["marketing.trigger"]._fire("partner_registered", partners)
        return partners

    def action_view_marketing_decisions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "marketing_trigger.marketing_trigger_decision_action"
        )
        action["domain"] = [("partner_id", "=", self.id)]
        action["context"] = {}
        return action
