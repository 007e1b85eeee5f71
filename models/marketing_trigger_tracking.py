"""Per-recipient tracking of the emails this addon sends: every link is rewritten to a
signed click URL and an open pixel is added when the email goes out (as Odoo's mass
mailing does it, in ``mail.mail._prepare_outgoing_body``); every marketing email
carries RFC 8058 one-click unsubscribe headers. Opens and clicks are recorded with
the class of the user agent; machine traffic is kept but flagged and does not count
as engagement."""

import hashlib
import html
import re
import secrets
from datetime import timedelta
from html.entities import html5
from urllib.parse import urlsplit

from markupsafe import Markup
from odoo import SUPERUSER_ID, _, api, fields, models, tools
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..engine.tracking import classify, sign, verify

SECRET_PARAM = "marketing_trigger.tracking_secret"
RETENTION_PARAM = "marketing_trigger.engagement_retention_days"
DEFAULT_RETENTION_DAYS = 180
# In a template: <a href="/mt/preferences"> (made absolute by Odoo) becomes the
# recipient's own signed preference page.
PREFERENCES_PLACEHOLDER = "/mt/preferences"
# <a ... href="http(s)://..."> in an email body (quoted with " or '); the URL is the
# attribute's text, character references not yet decoded (see href_url).
HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'\s>]+)\2""", re.IGNORECASE)
CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")
# A record id in a URL or a JSON document: ASCII digits within PostgreSQL's integer.
MAX_RECORD_ID = 2**31 - 1
UA_CLASSES = [
    ("human", "Person"),
    ("head", "HEAD request (link checker)"),
    ("empty", "No user agent"),
    ("apple_mpp", "Apple Mail privacy prefetch"),
    ("proxy", "Mail image proxy"),
    ("scanner", "Security scanner or bot"),
    ("fast", "Clicked within seconds of sending"),
]


def _valid_url(url):
    parts = urlsplit(url or "")
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not any(ord(ch) < 32 or ord(ch) == 127 for ch in url)
    )


def _decode_charref(match):
    name = match.group(1)
    following = match.string[match.end() : match.end() + 1]
    # As browsers read attributes: a named reference without ";" followed by "=" is
    # text ("?a=1&copy=2" keeps its parameter "copy").
    if name.startswith("#") or (name in html5 and (name.endswith(";") or following != "=")):
        return html.unescape(match.group(0))
    return match.group(0)


def href_url(value):
    """The URL an href attribute stands for, as a browser follows it: character
    references decoded (``?x=1&amp;y=2`` is ``?x=1&y=2``), tabs and newlines dropped.

    >>> href_url("https://shop.example/offer?x=1&amp;y=2&#38;z=3&copy=4")
    'https://shop.example/offer?x=1&y=2&z=3&copy=4'
    """
    return re.sub(r"[\t\n\r]", "", CHARREF.sub(_decode_charref, value)).strip()


def record_id(value):
    """``value`` as a record id if it is one (an int, or ASCII digits, within
    PostgreSQL's integer range), else None: "²", "٣", 5000 digits, 2**70, 1.5, True
    and "-1" are not ids, and are refused before int() or PostgreSQL sees them."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 10):
            return None
        value = int(value)
    elif not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if 0 < value <= MAX_RECORD_ID else None


class MarketingTriggerLink(models.Model):
    """A destination URL found in an email: clicks redirect only to this stored URL."""

    _name = "marketing.trigger.link"
    _description = "Tracked Link"
    _rec_name = "url"

    url = fields.Char(required=True, readonly=True)
    url_hash = fields.Char(required=True, readonly=True, index=True)
    company_id = fields.Many2one(
        "res.company",
        readonly=True,
        index=True,
        help="The company whose emails carry the link: each company tracks its own links.",
    )
    archived_clicks = fields.Integer(
        readonly=True, help="Human clicks whose details were deleted after the retention period."
    )
    click_count = fields.Integer("Clicks", compute="_compute_click_count")

    _sql_constraints = [("url_hash_uniq", "UNIQUE(url_hash)", "This URL is already tracked.")]

    @api.constrains("url")
    def _check_url(self):
        for link in self:
            if not _valid_url(link.url):
                raise ValidationError(_("Only http and https links are tracked: %s", link.url))

    def _compute_click_count(self):
        counts = dict(
            self.env["marketing.trigger.engagement"]._read_group(
                [("link_id", "in", self.ids), ("kind", "=", "click"), ("is_machine", "=", False)],
                ["link_id"],
                ["__count"],
            )
        )
        for link in self:
            link.click_count = link.archived_clicks + counts.get(link, 0)

    @api.model
    def _get_or_create(self, urls, company=None):
        """{url: link id} for ``urls`` (valid http(s) only) of ``company`` (default: the
        environment's), safe under concurrency. The company is part of the hash, so each
        company has its own row per URL and sees only its own links."""
        urls = sorted({u for u in urls if _valid_url(u)})
        if not urls:
            return {}
        company_id = (company or self.env.company).id
        hashes = [hashlib.sha256(f"{company_id}:{u}".encode()).hexdigest() for u in urls]
        self.env.cr.execute(
            SQL(
                """INSERT INTO marketing_trigger_link
                    (url, url_hash, company_id, archived_clicks, create_uid, create_date,
                     write_uid, write_date)
                SELECT u, h, %s, 0, %s, now() at time zone 'utc', %s,
                       now() at time zone 'utc'
                FROM unnest(%s::varchar[], %s::varchar[]) AS t(u, h)
                ON CONFLICT (url_hash) DO NOTHING""",
                company_id,
                self.env.uid,
                self.env.uid,
                urls,
                hashes,
            )
        )
        self.env.cr.execute(
            SQL(
                "SELECT url, id FROM marketing_trigger_link WHERE url_hash = ANY(%s)",
                hashes,
            )
        )
        return dict(self.env.cr.fetchall())


class MarketingTriggerEngagement(models.Model):
    """One open or click: who, which email, which link, when, and what kind of client.
    Kept for the retention period, then counted into the delivery and deleted."""

    _name = "marketing.trigger.engagement"
    _description = "Email Engagement"
    _order = "date desc, id desc"
    _rec_name = "kind"

    delivery_id = fields.Many2one(
        "marketing.trigger.delivery", required=True, index=True, ondelete="cascade"
    )
    partner_id = fields.Many2one("res.partner", required=True, index=True, ondelete="cascade")
    # Copied from the delivery at creation (plain columns: no recompute on the hot path).
    trigger_id = fields.Many2one("marketing.trigger", index=True, readonly=True, ondelete="cascade")
    company_id = fields.Many2one("res.company", readonly=True)
    link_id = fields.Many2one("marketing.trigger.link", ondelete="set null", index=True)
    kind = fields.Selection([("open", "Open"), ("click", "Click")], required=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    user_agent_class = fields.Selection(UA_CLASSES, required=True, default="human")
    is_machine = fields.Boolean(
        index=True, help="A privacy proxy, scanner or prefetch, not a person: kept, not counted."
    )

    # ------------------------------------------------------------- secret

    @api.model
    def _secret(self):
        """The per-database tracking secret, created on first use."""
        params = self.env["ir.config_parameter"].sudo()
        secret = params.get_param(SECRET_PARAM)
        if not secret:
            secret = secrets.token_urlsafe(32)
            params.set_param(SECRET_PARAM, secret)
        return secret.encode()

    # -------------------------------------------------------------- record

    @api.model
    def _record(self, kind, delivery_id, token, link_id=None, user_agent=None, method="GET"):
        """Record an open or a click if ``token`` is valid for it; returns the link's
        URL for a valid click, True for a valid open, None otherwise. Called by the
        public routes: the check comes first, the superuser work after it."""
        # One query for what the check needs (a click is the hot path).
        self.env.cr.execute(
            SQL(
                """SELECT d.partner_id, d.sent_at, d.trigger_id, d.company_id, l.url
                FROM marketing_trigger_delivery d
                LEFT JOIN marketing_trigger_link l ON l.id = %s
                WHERE d.id = %s""",
                link_id or 0,
                delivery_id,
            )
        )
        row = self.env.cr.fetchone()
        if not row:
            return None
        partner_id, sent_at, trigger_id, company_id, url = row
        secret = self._secret()
        if kind == "click":
            if not url or not verify(secret, token, "click", delivery_id, link_id, partner_id):
                return None
        elif not verify(secret, token, "open", delivery_id, partner_id):
            return None
        delivery = self.env["marketing.trigger.delivery"].sudo().browse(delivery_id)
        now = fields.Datetime.now()
        since = (now - sent_at).total_seconds() if sent_at else None
        ua_class, machine = classify(user_agent, method, since)
        self.sudo().create(
            {
                "delivery_id": delivery_id,
                "partner_id": partner_id,
                "trigger_id": trigger_id,
                "company_id": company_id,
                "link_id": link_id if kind == "click" else False,
                "kind": kind,
                "date": now,
                "user_agent_class": ua_class,
                "is_machine": machine,
            }
        )
        if not machine:
            delivery._record_engagement("clicked" if kind == "click" else "opened", now)
        return url if kind == "click" else True

    # ----------------------------------------------------------- retention

    @api.model
    def _cron_retention(self):
        """Delete engagement rows older than the retention period (default 180 days);
        what they proved stays on the deliveries (first open, first click)."""
        days = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(RETENTION_PARAM, DEFAULT_RETENTION_DAYS)
        )
        cutoff = fields.Datetime.now() - timedelta(days=max(days, 1))
        self.flush_model()
        # Aggregate what is deleted into the links' counters first.
        self.env.cr.execute(
            SQL(
                """UPDATE marketing_trigger_link l
                SET archived_clicks = COALESCE(l.archived_clicks, 0) + a.n
                FROM (SELECT link_id, count(*) AS n FROM marketing_trigger_engagement
                      WHERE date < %s AND kind = 'click' AND NOT is_machine
                        AND link_id IS NOT NULL
                      GROUP BY link_id) a
                WHERE l.id = a.link_id""",
                cutoff,
            )
        )
        self.env.cr.execute(SQL("DELETE FROM marketing_trigger_engagement WHERE date < %s", cutoff))
        deleted = self.env.cr.rowcount
        self.invalidate_model()
        self.env["marketing.trigger.link"].invalidate_model(["archived_clicks"])
        return deleted


class MarketingTriggerDelivery(models.Model):
    _inherit = "marketing.trigger.delivery"

    mail_id = fields.Many2one(index="btree_not_null")
    engagement_ids = fields.One2many("marketing.trigger.engagement", "delivery_id")

    def _token(self, purpose, *ids):
        """The signed token binding ``purpose``, this delivery, ``ids`` and its partner."""
        self.ensure_one()
        secret = self.env["marketing.trigger.engagement"]._secret()
        return sign(secret, purpose, self.id, *ids, self.partner_id.id)

    def _signed_url(self, purpose, route, base_url=None):
        """``<base>/mt/<route>/<delivery>/<token>`` for a one-delivery customer page."""
        base_url = base_url or self.get_base_url()
        return f"{base_url}/mt/{route}/{self.id}/{self._token(purpose)}"

    @api.model
    def _by_token(self, purpose, delivery_id, token, *ids):
        """The delivery ``token`` was made for (with ``ids``), or an empty recordset.
        Every public route checks its token here before doing anything as superuser."""
        delivery = self.sudo().browse(delivery_id).exists()
        secret = self.env["marketing.trigger.engagement"]._secret()
        if delivery and verify(secret, token, purpose, delivery.id, *ids, delivery.partner_id.id):
            return delivery
        return self.browse()

    def _tracking_urls(self, base_url):
        """(open pixel URL, one-click unsubscribe URL) for this delivery."""
        self.ensure_one()
        return (
            f"{self._signed_url('open', 'o', base_url)}.gif",
            self._signed_url("unsubscribe", "u", base_url),
        )

    def _tracked_body(self, body, base_url):
        """``body`` with every http(s) link going through a signed click URL."""
        self.ensure_one()
        # Templates link to the preference page with a placeholder made personal here.
        for placeholder, personal in (
            (PREFERENCES_PLACEHOLDER, self._preferences_url(base_url)),
            (ADDRESS_PLACEHOLDER, self._address_url(base_url)),
        ):
            body = body.replace(f"{base_url}{placeholder}", personal).replace(
                f'href="{placeholder}"', f'href="{personal}"'
            )
        body = self._personal_landing_links(body, base_url)
        urls = [href_url(match.group(3)) for match in HREF.finditer(body)]
        own = f"{base_url}/mt/"
        links = (
            self.env["marketing.trigger.link"]
            .sudo()
            ._get_or_create([u for u in urls if not u.startswith(own)], self.company_id)
        )

        def rewrite(match):
            link_id = links.get(href_url(match.group(3)))
            if not link_id:
                return match.group(0)
            token = self._token("click", link_id)
            quote = match.group(2)
            return f"{match.group(1)}{quote}{base_url}/mt/c/{self.id}/{link_id}/{token}{quote}"

        return HREF.sub(rewrite, body)


class MarketingTriggerDeliveryUnsubscribe(models.Model):
    _inherit = "marketing.trigger.delivery"

    def _preferences_url(self, base_url=None):
        return self._signed_url("preferences", "p", base_url)

    def _preferences_values(self):
        """What the preference page shows: channels with their consent, and topics."""
        self.ensure_one()
        partner = self.partner_id.sudo()
        topics = self.env["marketing.trigger.topic"].sudo().search([])
        return {
            "partner": partner,
            "channels": [
                ("email", _("Email"), partner.marketing_consent_email),
                ("sms", _("SMS"), partner.marketing_consent_sms),
                ("phone", _("Phone calls"), partner.marketing_consent_phone),
            ],
            "topics": [
                (topic, topic not in partner.marketing_topic_optout_ids) for topic in topics
            ],
        }

    def _save_preferences(self, form, evidence):
        """Store the choices of the preference page: each consent change becomes a
        proof (source: preference page), effective for decisions at once."""
        self.ensure_one()
        partner = self.partner_id.sudo().with_context(
            marketing_consent_source="preference_page", marketing_consent_evidence=evidence
        )
        values = {
            f"marketing_consent_{channel}": form.get(f"channel_{channel}") == "on"
            for channel in ("email", "sms", "phone")
        }
        changed = {k: v for k, v in values.items() if partner[k] != v}
        topics = self.env["marketing.trigger.topic"].sudo().search([])
        wanted = topics.filtered(lambda t: form.get(f"topic_{t.id}") == "on")
        optouts = topics - wanted
        if changed:
            partner.write(changed)
        if optouts != partner.marketing_topic_optout_ids:
            partner.marketing_topic_optout_ids = [fields.Command.set(optouts.ids)]
        return partner

    def _unsubscribe(self, evidence):
        """Withdraw the partner's email marketing consent (a proof row, effective for
        every decision from now on). Idempotent."""
        self.ensure_one()
        partner = self.partner_id.sudo()
        if partner.marketing_consent_email:
            partner.with_context(
                marketing_consent_source="unsubscribe", marketing_consent_evidence=evidence
            ).marketing_consent_email = False
        return partner


class MailMail(models.Model):
    _inherit = "mail.mail"

    marketing_delivery_ids = fields.One2many("marketing.trigger.delivery", "mail_id")

    def _prepare_outgoing_body(self):
        body = super()._prepare_outgoing_body()
        delivery = self.marketing_delivery_ids[:1]
        if body and delivery:
            base_url = delivery.get_base_url()
            pixel, _unsubscribe = delivery._tracking_urls(base_url)
            body = delivery._tracked_body(str(body), base_url)
            body = tools.mail.append_content_to_html(
                body, f'<img src="{pixel}" alt="" width="1" height="1"/>', plaintext=False
            )
        return body

    def _prepare_outgoing_list(self, mail_server=False, recipients_follower_status=None):
        email_list = super()._prepare_outgoing_list(
            mail_server=mail_server, recipients_follower_status=recipients_follower_status
        )
        delivery = self.marketing_delivery_ids[:1]
        if delivery and delivery.trigger_id.message_class != "service":
            _pixel, unsubscribe = delivery._tracking_urls(delivery.get_base_url())
            for email_values in email_list:
                email_values["headers"].update(
                    {
                        "List-Unsubscribe": f"<{unsubscribe}>",
                        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                        "Precedence": "bulk",
                        "X-Auto-Response-Suppress": "OOF",
                    }
                )
        return email_list


ADDRESS_PLACEHOLDER = "/mt/address"
ADDRESS_VALID_DAYS_PARAM = "marketing_trigger.address_link_days"
DEFAULT_ADDRESS_VALID_DAYS = 14
ADDRESS_FIELDS = ("street", "street2", "zip", "city", "country_code")


class MarketingTriggerDeliveryAddress(models.Model):
    """Address confirmation: a notice links to a page where the customer confirms their
    delivery address or corrects it. The link is bound to one delivery, answers once and
    expires (14 days after sending by default)."""

    _inherit = "marketing.trigger.delivery"

    address_answered_at = fields.Datetime(readonly=True, copy=False)
    address_answer = fields.Selection(
        [("confirmed", "Confirmed"), ("corrected", "Corrected")], readonly=True, copy=False
    )

    def _address_url(self, base_url=None):
        return self._signed_url("address", "a", base_url)

    @api.model
    def _address_target(self, delivery_id, token):
        """(delivery, problem): the delivery the token was made for, and why it cannot
        be used any more ("expired", "answered"), or an empty recordset."""
        delivery = self._by_token("address", delivery_id, token)
        if not delivery:
            return delivery, None
        days = int(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param(ADDRESS_VALID_DAYS_PARAM, DEFAULT_ADDRESS_VALID_DAYS)
        )
        sent = delivery.sent_at or delivery.scheduled_at
        if sent and fields.Datetime.now() > sent + timedelta(days=days):
            return delivery, "expired"
        if delivery.address_answered_at:
            return delivery, "answered"
        return delivery, None

    def _delivery_address(self):
        """The partner's delivery contact, or the partner itself."""
        self.ensure_one()
        partner = self.partner_id.sudo()
        return partner.child_ids.filtered(lambda c: c.type == "delivery")[:1] or partner

    @api.model
    def _address_errors(self, form):
        """{field: message} for the submitted correction (empty when valid)."""
        errors = {}
        for name in ("street", "zip", "city"):
            if not (form.get(name) or "").strip():
                errors[name] = _("Please fill this in.")
        for name in ADDRESS_FIELDS:
            value = form.get(name) or ""
            if len(value) > 128:
                errors[name] = _("This is too long.")
            elif not value.isprintable():
                errors[name] = _("Please use letters, digits and punctuation only.")
        zip_code = (form.get("zip") or "").strip()
        if zip_code and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 \-]{1,11}", zip_code):
            errors["zip"] = _("This does not look like a postal code.")
        country = (
            self.env["res.country"]
            .sudo()
            .search([("code", "=", (form.get("country_code") or "").upper())], limit=1)
        )
        if not country:
            errors["country_code"] = _("Please choose a country.")
        return errors

    def _answer_address(self, form, evidence):
        """Confirm (``form`` without "correct") or correct the delivery address. A
        correction updates the delivery contact and asks the salesperson to check it.
        Returns the errors to show, or {}."""
        self.ensure_one()
        address = self._delivery_address()
        if not form.get("correct"):
            self.write(
                {"address_answered_at": fields.Datetime.now(), "address_answer": "confirmed"}
            )
            return {}
        errors = self._address_errors(form)
        if errors:
            return errors
        country = (
            self.env["res.country"]
            .sudo()
            .search([("code", "=", form["country_code"].upper())], limit=1)
        )
        before = address._display_address(without_company=True)
        values = {
            "street": form["street"].strip(),
            "street2": (form.get("street2") or "").strip() or False,
            "zip": form["zip"].strip(),
            "city": form["city"].strip(),
            "country_id": country.id,
        }
        address = self._correct_address(address, values)
        self.write({"address_answered_at": fields.Datetime.now(), "address_answer": "corrected"})
        record, user = self._address_activity_target()
        if user:
            # As OdooBot, not the public user of the customer's request: the "assigned
            # to you" email needs a sender.
            self.env["mail.activity"].with_user(SUPERUSER_ID).create(
                {
                    "res_model_id": self.env["ir.model"]._get_id(record._name),
                    "res_id": record.id,
                    "activity_type_id": self.env.ref("mail.mail_activity_data_todo").id,
                    "summary": _("Delivery address corrected by the customer"),
                    # What the customer typed is text, never markup: no links, no images.
                    "note": Markup("<br/>").join(
                        _(
                            "Before: %(before)s\nNow: %(after)s\n%(evidence)s",
                            before=before,
                            after=address._display_address(without_company=True),
                            evidence=evidence,
                        ).split("\n")
                    ),
                    "user_id": user.id,
                    "date_deadline": fields.Date.context_today(self),
                }
            )
        return {}

    def _correct_address(self, address, values):
        """Write the corrected address; the delivery contact that now holds it."""
        if address == self.partner_id:
            # No separate delivery contact yet: the correction becomes one.
            return (
                self.env["res.partner"]
                .sudo()
                .create(dict(values, parent_id=self.partner_id.id, type="delivery"))
            )
        address.write(values)
        return address

    def _address_activity_target(self):
        """(record, user): where the "address corrected" activity goes, and to whom."""
        return self.partner_id, self.partner_id.user_id or self.trigger_id.activity_user_id

    def _address_thanks(self, corrected):
        """What the customer reads once they answered."""
        return (
            _("Your delivery address is updated.")
            if corrected
            else _("Your delivery address is confirmed.")
        )
