"""Double opt-in (German UWG §7, GDPR art. 7): a subscription request is recorded with
its evidence (when, from which IP address and browser, the consent text shown) and a
confirmation email with a signed, expiring link goes to the address. Only the click on
that link — a POST from the confirmation page, so mail scanners that follow links do not
confirm — records the email consent proof with source *Double opt-in*, which fires the
*Double opt-in confirmed* triggers.

Requests are rate-limited per address (one email per 10 minutes, three per day) and per
IP address, without telling the caller whether a mail went out or the address is known.
Unconfirmed requests are deleted by a daily cron once their link expired."""

import ipaddress
import re
from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.tools import SQL

from ..engine.tracking import sign, verify

LINK_HOURS_PARAM = "marketing_trigger.doi_link_hours"
DEFAULT_LINK_HOURS = 72
# At most one confirmation email per address in MAIL_GAP, MAILS_PER_DAY in a day.
MAIL_GAP = timedelta(minutes=10)
MAILS_PER_DAY = 3
# At most this many requests per IP address and hour through the public form.
REQUESTS_PER_IP_HOUR = 20
PURGE_BATCH = 5000
LIMITS = {"email": 254, "name": 128, "lang": 16, "consent_text": 4000, "ip": 64, "user_agent": 512}
# Control characters (NUL included) are refused; the consent text may have line breaks.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ONE_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(value, key):
    """``value`` stripped, or None if it is not text, too long (``LIMITS[key]``), holds
    control characters or cannot be stored (lone surrogates). Missing is ""."""
    if value is None or value is False:
        return ""
    if not isinstance(value, str):
        return None
    value = value.strip()
    control = CONTROL if key == "consent_text" else ONE_LINE_CONTROL
    if len(value) > LIMITS[key] or control.search(value):
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def normalized_email(value):
    """The normalised address, or False when ``value`` is not one plausible address."""
    value = clean(value, "email")
    if not value or value.count("@") != 1:
        return False
    email = tools.email_normalize(value)
    if not email or "." not in email.rpartition("@")[2]:
        return False
    return email


def valid_ip(value):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


class MarketingTriggerSubscription(models.Model):
    """One request to subscribe, and its evidence. Pending until the link in the
    confirmation email is used; then it names the contact and the consent proof."""

    _name = "marketing.trigger.subscription"
    _description = "Double Opt-in Request"
    _order = "requested_at desc, id desc"
    _rec_name = "email"

    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    form_id = fields.Many2one(
        "marketing.trigger.subscription.form", index=True, ondelete="set null", readonly=True
    )
    topic_id = fields.Many2one("marketing.trigger.topic", ondelete="set null", readonly=True)
    email = fields.Char(required=True, readonly=True)
    email_normalized = fields.Char(required=True, index=True, readonly=True)
    name = fields.Char(readonly=True)
    lang = fields.Char(readonly=True)
    via = fields.Selection(
        [("form", "Form page"), ("api", "Shop (API)")], required=True, readonly=True
    )
    state = fields.Selection(
        [("pending", "Waiting for confirmation"), ("confirmed", "Confirmed")],
        required=True,
        default="pending",
        index=True,
        readonly=True,
    )
    requested_at = fields.Datetime(required=True, readonly=True)
    expires_at = fields.Datetime("Link valid until", required=True, index=True, readonly=True)
    ip = fields.Char("IP address", readonly=True, index="btree_not_null")
    user_agent = fields.Char("Browser", readonly=True)
    consent_text = fields.Text("Consent text shown", required=True, readonly=True)
    mail_sent_at = fields.Datetime("Confirmation email queued", readonly=True)
    confirmed_at = fields.Datetime(readonly=True)
    confirm_ip = fields.Char("Confirmed from IP address", readonly=True)
    confirm_user_agent = fields.Char("Confirmed with browser", readonly=True)
    partner_id = fields.Many2one("res.partner", index=True, ondelete="cascade", readonly=True)
    consent_id = fields.Many2one("marketing.trigger.consent", string="Consent proof", readonly=True)

    # ------------------------------------------------------------ request

    @api.model
    def _request(self, form, values, via):
        """Record a request for ``form`` from cleaned ``values`` (email, name, lang,
        consent_text, ip, user_agent) and queue its confirmation email, unless the
        address or the IP address is over its limit. Returns the request or an empty
        recordset; callers answer the same either way (nothing is revealed)."""
        form = form.sudo()
        email = normalized_email(values["email"])
        now = fields.Datetime.now()
        # Serialise requests for one address so that concurrent ones see each other.
        self.env.cr.execute(
            SQL(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                f"marketing_trigger.doi:{form.company_id.id}:{email}",
            )
        )
        if self._is_limited(
            form.company_id, email, values.get("ip") if via == "form" else None, now
        ):
            return self.browse()
        hours = int(
            self.env["ir.config_parameter"].sudo().get_param(LINK_HOURS_PARAM, DEFAULT_LINK_HOURS)
        )
        request = self.sudo().create(
            {
                "company_id": form.company_id.id,
                "form_id": form.id,
                "topic_id": form.topic_id.id,
                "email": values["email"],
                "email_normalized": email,
                "name": values.get("name") or False,
                "lang": self._installed_lang(values.get("lang")),
                "via": via,
                "requested_at": now,
                "expires_at": now + timedelta(hours=max(hours, 1)),
                "ip": values.get("ip") or False,
                "user_agent": values.get("user_agent") or False,
                "consent_text": values.get("consent_text") or form.consent_text,
            }
        )
        request._send_confirmation()
        return request

    @api.model
    def _is_limited(self, company, email, ip, now):
        Request = self.sudo()
        mailed = [
            ("company_id", "=", company.id),
            ("email_normalized", "=", email),
            ("mail_sent_at", "!=", False),
        ]
        if Request.search_count(mailed + [("mail_sent_at", ">", now - MAIL_GAP)], limit=1):
            return True
        if (
            Request.search_count(mailed + [("mail_sent_at", ">", now - timedelta(days=1))])
            >= MAILS_PER_DAY
        ):
            return True
        return bool(ip) and (
            Request.search_count([("ip", "=", ip), ("requested_at", ">", now - timedelta(hours=1))])
            >= REQUESTS_PER_IP_HOUR
        )

    def _token(self):
        self.ensure_one()
        secret = self.env["marketing.trigger.engagement"]._secret()
        return sign(secret, "doi", self.id, self.email_normalized, self.company_id.id)

    def _confirm_url(self):
        self.ensure_one()
        return f"{self.get_base_url()}/mt/confirm/{self.id}/{self._token()}"

    def _send_confirmation(self):
        """Queue the confirmation email (sent by Odoo's mail queue)."""
        template = self.env.ref("marketing_trigger.mail_template_double_opt_in").sudo()
        for request in self:
            hours = round((request.expires_at - request.requested_at).total_seconds() / 3600)
            template.with_context(confirm_url=request._confirm_url(), valid_hours=hours).send_mail(
                request.id, force_send=False
            )
        self.write({"mail_sent_at": fields.Datetime.now()})

    # -------------------------------------------------------- confirmation

    @api.model
    def _by_token(self, request_id, token):
        """(request, problem): the request ``token`` was made for, with why it cannot be
        confirmed ("confirmed" already, "expired"), or an empty recordset."""
        if not isinstance(request_id, int) or not 0 < request_id < 2**31:
            return self.browse(), None
        request = self.sudo().browse(request_id).exists()
        secret = self.env["marketing.trigger.engagement"]._secret()
        if not request or not verify(
            secret, token, "doi", request.id, request.email_normalized, request.company_id.id
        ):
            return self.browse(), None
        if request.state == "confirmed":
            return request, "confirmed"
        if fields.Datetime.now() > request.expires_at:
            return request, "expired"
        return request, None

    def _confirm(self, ip, user_agent):
        """Confirm this pending request: find or create the contact, record the email
        consent proof (source *Double opt-in*, with the evidence; it fires the *Double
        opt-in confirmed* triggers) and end an opt-out of the form's topic. Returns
        False when another click confirmed it first."""
        self.ensure_one()
        self.env.cr.execute(
            SQL(
                "SELECT state FROM marketing_trigger_subscription WHERE id = %s FOR UPDATE",
                self.id,
            )
        )
        if self.env.cr.fetchone()[0] != "pending":
            return False
        self.invalidate_recordset(["state"])
        now = fields.Datetime.now()
        request = self.sudo().with_company(self.company_id)
        partner = request._partner()
        proof = (
            self.env["marketing.trigger.consent"]
            .sudo()
            .with_company(self.company_id)
            .create(
                {
                    "partner_id": partner.id,
                    "channel": "email",
                    "is_granted": True,
                    "source": "double_opt_in",
                    "date": now,
                    "evidence": request._evidence(now, ip, user_agent),
                }
            )
        )
        if request.topic_id and request.topic_id in partner.marketing_topic_optout_ids:
            partner.marketing_topic_optout_ids = [fields.Command.unlink(request.topic_id.id)]
        request.write(
            {
                "state": "confirmed",
                "confirmed_at": now,
                "confirm_ip": ip or False,
                "confirm_user_agent": user_agent or False,
                "partner_id": partner.id,
                "consent_id": proof.id,
            }
        )
        return True

    def _partner(self):
        """The company's contact with this address (a contact of this company before a
        shared one), or a new contact of the company."""
        Partner = self.env["res.partner"].sudo().with_company(self.company_id)
        found = Partner.search(
            [
                ("email_normalized", "=", self.email_normalized),
                ("company_id", "in", [self.company_id.id, False]),
            ],
            order="id",
        )
        own = found.filtered(lambda p: p.company_id == self.company_id)
        if own or found:
            return (own or found)[0]
        return Partner.create(
            {
                "name": self.name or self.email_normalized,
                "email": self.email,
                "company_id": self.company_id.id,
                "lang": self._installed_lang(self.lang),
            }
        )

    @api.model
    def _installed_lang(self, code):
        """``code`` if it is an installed language (the email is written in it), else
        False: a shop may name any language."""
        installed = {lang for lang, _name in self.env["res.lang"].get_installed()}
        return code if code in installed else False

    def _evidence(self, confirmed_at, ip, user_agent):
        self.ensure_one()
        mailed = self.mail_sent_at.isoformat() if self.mail_sent_at else "-"
        lines = [
            f"Double opt-in of {self.email}"
            + (f" (form '{self.form_id.name}')" if self.form_id else "")
            + (f", topic '{self.topic_id.name}'" if self.topic_id else "")
            + ".",
            f"Requested {self.requested_at.isoformat()} UTC through the "
            f"{dict(self._fields['via'].selection)[self.via].lower()}, "
            f"IP address {self.ip or 'not given'}, browser {self.user_agent or 'not given'}.",
            f'Consent text shown: "{self.consent_text}"',
            f"Confirmation email queued {mailed} UTC.",
            f"Confirmed {confirmed_at.isoformat()} UTC from IP address {ip or 'unknown'}, "
            f"browser {user_agent or 'unknown'}.",
        ]
        return "\n".join(lines)

    # --------------------------------------------------------------- purge

    @api.model
    def _cron_purge(self):
        """Delete unconfirmed requests whose link expired: nothing personal is kept
        for a subscription that never happened."""
        now = fields.Datetime.now()
        domain = [("state", "=", "pending"), ("expires_at", "<", now)]
        expired = self.sudo().search(domain, limit=PURGE_BATCH)
        expired.unlink()
        remaining = self.sudo().search_count(domain)
        self.env["ir.cron"]._notify_progress(done=len(expired), remaining=remaining)
        return len(expired)
