"""Subscription forms: where a double opt-in starts. Each form is a public page
(``/mt/subscribe/<slug>``) and, with an API key, an endpoint for a shop
(``POST /mt/api/subscribe``); it belongs to one company, may name a topic, and holds the
consent text the person agrees to — the text is stored with every request as evidence."""

import hmac
import secrets

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .marketing_trigger_landing import SLUG

DEFAULT_CONSENT_TEXT = (
    "Yes, I would like to receive news and offers by email. I can withdraw this consent "
    "at any time through the link in every email."
)


class MarketingTriggerSubscriptionForm(models.Model):
    _name = "marketing.trigger.subscription.form"
    _description = "Marketing Subscription Form"
    _order = "name"

    name = fields.Char(required=True, translate=True, help="The title of the public page.")
    slug = fields.Char(
        "Address",
        required=True,
        help="The page is /mt/subscribe/<address>; a shop names the form by it in the API.",
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    topic_id = fields.Many2one(
        "marketing.trigger.topic",
        ondelete="restrict",
        help="What the person subscribes to. A confirmation removes an earlier opt-out "
        "of this topic.",
    )
    intro = fields.Text(translate=True, help="Shown above the form.")
    consent_text = fields.Text(
        required=True,
        translate=True,
        default=DEFAULT_CONSENT_TEXT,
        help="The sentence the person ticks. It is stored, as shown, with each request "
        "and in the consent proof.",
    )
    api_key = fields.Char(
        "API key",
        copy=False,
        groups="marketing_trigger.group_marketing_trigger_manager",
        help="A shop sends it as 'Authorization: Bearer <key>' to POST /mt/api/subscribe. "
        "Without a key the form takes no API requests.",
    )
    active = fields.Boolean(default=True)
    page_url = fields.Char("Public page", compute="_compute_page_url")
    request_ids = fields.One2many("marketing.trigger.subscription", "form_id")
    pending_count = fields.Integer(compute="_compute_counts")
    confirmed_count = fields.Integer(compute="_compute_counts")

    _sql_constraints = [
        ("slug_uniq", "UNIQUE(slug)", "Another subscription form has this address.")
    ]

    @api.constrains("slug")
    def _check_slug(self):
        for form in self:
            if not SLUG.fullmatch(form.slug or ""):
                raise ValidationError(
                    _(
                        "The address '%(slug)s' may only use lowercase letters, digits and "
                        "dashes (e.g. newsletter).",
                        slug=form.slug,
                    )
                )

    @api.depends("slug")
    def _compute_page_url(self):
        base_url = self.get_base_url()
        for form in self:
            form.page_url = f"{base_url}/mt/subscribe/{form.slug}" if form.slug else False

    def _compute_counts(self):
        counts = {
            (form.id, state): count
            for form, state, count in self.env["marketing.trigger.subscription"]._read_group(
                [("form_id", "in", self.ids)], ["form_id", "state"], ["__count"]
            )
        }
        for form in self:
            form.pending_count = counts.get((form.id, "pending"), 0)
            form.confirmed_count = counts.get((form.id, "confirmed"), 0)

    def action_generate_api_key(self):
        """A new API key (the old one stops working at once)."""
        for form in self:
            form.api_key = secrets.token_urlsafe(32)

    @api.model
    def _by_slug(self, slug):
        """The active form at ``slug`` (any company), or an empty recordset. The slug is
        checked before the database is asked: a malformed one never reaches SQL."""
        if not isinstance(slug, str) or not SLUG.fullmatch(slug):
            return self.browse()
        return self.sudo().search([("slug", "=", slug)], limit=1)

    @api.model
    def _by_api_key(self, slug, key):
        """The form ``slug`` if ``key`` is its API key (constant-time comparison); an
        unknown form and a wrong key give the same empty answer."""
        form = self._by_slug(slug)
        expected = form.api_key or ""
        key = key if isinstance(key, str) else ""
        if not (
            key
            and expected
            and hmac.compare_digest(key.encode("utf-8", "replace"), expected.encode())
        ):
            return self.browse()
        return form
