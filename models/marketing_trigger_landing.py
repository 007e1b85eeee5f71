"""Personalised landing pages: a tracked link in an email opens a page of this addon
that shows content chosen for the contact — blocks for their city first (the seminar's
dates in Hamburg), then blocks for their interests (a related topic), then general
blocks — and links on. Content is configured as records, no code.

A city is matched whatever its spelling: accents, case, German transliteration
(``ue`` for ``ü``) and the usual English names of German-speaking cities (Munich,
Cologne, Vienna) all compare equal (see ``city_key``). Marketing users preview a page as
any contact at ``/mt/landing/<slug>?partner_id=<id>``, which records nothing."""

import re
import unicodedata

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .marketing_trigger_tracking import _valid_url

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
LANDING_PLACEHOLDER = re.compile(r"""href=(["'])(?:https?://[^"']*?)?/mt/landing/([a-z0-9-]+)\1""")
LANDING_PATH = re.compile(r"/mt/landing/([a-z0-9-]+)")
INTEREST_BLOCKS = 2
# Exonyms contacts and marketers type for the same city, as (local name, other names).
CITY_ALIASES = (
    ("München", "Munich", "Monaco di Baviera"),
    ("Köln", "Cologne"),
    ("Nürnberg", "Nuremberg"),
    ("Wien", "Vienna"),
    ("Hannover", "Hanover"),
    ("Braunschweig", "Brunswick"),
    ("Zürich", "Zurich"),
    ("Genève", "Geneva", "Genf"),
    ("Praha", "Prague", "Prag"),
    ("Warszawa", "Warsaw", "Warschau"),
    ("Milano", "Milan", "Mailand"),
    ("Roma", "Rome", "Rom"),
    ("Lisboa", "Lisbon", "Lissabon"),
    ("Bruxelles", "Brussels", "Brüssel"),
)


def _fold(name):
    """Case, accents, German transliteration and punctuation folded away."""
    text = unicodedata.normalize("NFKD", (name or "").casefold().replace("ß", "ss"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"([aou])e", r"\1", text)  # Muenchen is München
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


_ALIAS = {_fold(other): _fold(names[0]) for names in CITY_ALIASES for other in names}


def city_key(name):
    """What two spellings of one city have in common.

    >>> {city_key(c) for c in ("München", "Munich", "MUENCHEN", " muenchen ")}
    {'munchen'}
    >>> city_key("Köln") == city_key("Cologne") == city_key("KOELN")
    True
    >>> city_key("Hamburg") == city_key("Homburg")
    False
    """
    key = _fold(name)
    return _ALIAS.get(key, key)


class MarketingTriggerLanding(models.Model):
    _name = "marketing.trigger.landing"
    _description = "Marketing Landing Page"
    _inherit = ["mail.thread"]
    _order = "name"

    name = fields.Char(required=True, translate=True)
    slug = fields.Char(
        "Web address",
        required=True,
        help="The page's address: link to it from an email as /mt/landing/<web address> "
        "(e.g. /mt/landing/seminars-2027); each recipient gets their own signed link.",
    )
    intro = fields.Html(translate=True)
    next_url = fields.Char("Link on to", help="Where the page's button leads (http or https).")
    next_label = fields.Char("Button text", translate=True, default="Learn more")
    block_ids = fields.One2many("marketing.trigger.landing.block", "landing_id", copy=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)

    _sql_constraints = [("slug_uniq", "UNIQUE(slug)", "Another landing page has this address.")]

    @api.constrains("slug", "next_url")
    def _check_slug_and_url(self):
        for landing in self:
            if not SLUG.fullmatch(landing.slug or ""):
                raise ValidationError(
                    _(
                        "The address '%(slug)s' may only use lowercase letters, digits and "
                        "dashes (e.g. seminars-2027).",
                        slug=landing.slug,
                    )
                )
            if landing.next_url and not _valid_url(landing.next_url):
                raise ValidationError(
                    _(
                        "The button of '%(name)s' must link to an http(s) address.",
                        name=landing.name,
                    )
                )

    def _blocks_for(self, partner):
        """The blocks this partner sees, in order: their city, their interests, general."""
        self.ensure_one()
        city = city_key(partner.city)
        interests = partner.marketing_interest_ids
        blocks = self.block_ids
        local = blocks.filtered(lambda b: city and b.city and city_key(b.city) == city)
        related = blocks.filtered(lambda b: not b.city and b.interest_id in interests)
        general = blocks.filtered(lambda b: not b.city and not b.interest_id)
        return local + related[:INTEREST_BLOCKS] + general

    @api.model
    def _from_url(self, url, base_url):
        """The landing page an own ``<base_url>/mt/landing/<slug>`` URL names (as
        superuser), or an empty recordset."""
        own = (url or "").startswith(base_url) and LANDING_PATH.fullmatch(url[len(base_url) :])
        if not own:
            return self.browse()
        return self.sudo().search([("slug", "=", own.group(1))], limit=1)

    def _page_values(self, partner, delivery=None):
        """What the landing page shows ``partner``: for a recipient (``delivery``) with
        tracked links, else as a preview that links straight on and records nothing."""
        self.ensure_one()
        landing = self.with_context(lang=partner.lang or None)
        return {
            "landing": landing,
            "partner": partner,
            "blocks": landing._blocks_for(partner),
            "company": (delivery and delivery.company_id) or self.company_id or self.env.company,
            "next_url": delivery._landing_next_url(landing) if delivery else landing.next_url,
            "preferences_url": delivery and delivery._preferences_url(),
            "preview": not delivery,
        }

    @api.model
    def _preview_values(self, slug, partner_id=None):
        """The page ``slug`` as the contact ``partner_id`` (default: the user's own)
        would see it, for marketing users only; None when not allowed or not found."""
        if not (
            self.env.user.has_group("marketing_trigger.group_marketing_trigger_user")
            and SLUG.fullmatch(slug or "")
        ):
            return None
        landing = self.search([("slug", "=", slug)], limit=1)  # the user's record rules
        partner = self.env["res.partner"].browse(partner_id or self.env.user.partner_id.id)
        if not (landing and partner.exists() and partner.has_access("read")):
            return None
        return landing.sudo()._page_values(partner.sudo())


class MarketingTriggerLandingBlock(models.Model):
    _name = "marketing.trigger.landing.block"
    _description = "Marketing Landing Page Block"
    _order = "sequence, id"

    landing_id = fields.Many2one("marketing.trigger.landing", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="landing_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    title = fields.Char(required=True, translate=True)
    body = fields.Html(translate=True)
    city = fields.Char(help="Shown to contacts in this city only (e.g. the seminar dates there).")
    interest_id = fields.Many2one(
        "marketing.trigger.interest",
        string="Interest",
        help="Shown to contacts with this interest (a related topic).",
    )


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    def _landing_url(self, landing, base_url=None):
        base_url = base_url or self.get_base_url()
        return f"{base_url}/mt/l/{landing.slug}/{self.id}/{self._token('landing', landing.id)}"

    def _personal_landing_links(self, body, base_url):
        """Replace /mt/landing/<slug> links with this recipient's signed landing URL."""
        self.ensure_one()
        slugs = {m.group(2) for m in LANDING_PLACEHOLDER.finditer(body)}
        if not slugs:
            return body
        landings = {
            landing.slug: landing
            for landing in self.env["marketing.trigger.landing"]
            .sudo()
            .search([("slug", "in", list(slugs))])
        }

        def personal(match):
            landing = landings.get(match.group(2))
            if not landing:
                return match.group(0)
            quote = match.group(1)
            return f"href={quote}{self._landing_url(landing, base_url)}{quote}"

        return LANDING_PLACEHOLDER.sub(personal, body)

    @api.model
    def _landing_visit(self, slug, delivery_id, token, user_agent=None, method="GET"):
        """The page's values (see ``_page_values``) when the token is valid, after
        recording the visit as a click on the landing page (it fires the engagement
        triggers; not after a newsletter's retention period); else None."""
        if not SLUG.fullmatch(slug or ""):
            return None  # not an address a landing page can have (%00, "../")
        landing = (
            self.env["marketing.trigger.landing"].sudo().search([("slug", "=", slug)], limit=1)
        )
        delivery = landing and self._by_token("landing", delivery_id, token, landing.id)
        if not delivery:
            return None
        values = landing._page_values(delivery.partner_id.sudo(), delivery)
        newsletter = delivery.trigger_id.newsletter_id[:1]
        if newsletter and newsletter._past_retention():
            return values
        url = f"{delivery.get_base_url()}/mt/landing/{landing.slug}"
        link_id = (
            self.env["marketing.trigger.link"].sudo()._get_or_create([url], delivery.company_id)
        )[url]
        self.env["marketing.trigger.engagement"]._record(
            "click",
            delivery.id,
            delivery._token("click", link_id),
            link_id=link_id,
            user_agent=user_agent,
            method=method,
        )
        return values

    def _landing_next_url(self, landing):
        """The page's onward link, tracked for this recipient."""
        self.ensure_one()
        if not landing.next_url:
            return False
        link_id = (
            self.env["marketing.trigger.link"]
            .sudo()
            ._get_or_create([landing.next_url], self.company_id)[landing.next_url]
        )
        return f"/mt/c/{self.id}/{link_id}/{self._token('click', link_id)}"
