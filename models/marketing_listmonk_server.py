"""The Listmonk server of a company: where it is, the API user and token (readable by
marketing managers only), and a "Test connection" that reports the server version and
any permission the API user lacks. The client itself (``listmonk/``) is plain Python
and is instantiated per configuration, never shared between companies."""

from urllib.parse import urlsplit

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..listmonk import ListmonkClient

MANAGERS = "marketing_trigger.group_marketing_trigger_manager"


class MarketingListmonkServer(models.Model):
    _name = "marketing.listmonk.server"
    _description = "Listmonk Server"
    _rec_name = "url"

    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    url = fields.Char("Listmonk URL", required=True, help="e.g. https://lists.example.com")
    api_user = fields.Char("API user", required=True)
    api_token = fields.Char("API token", required=True, groups=MANAGERS, copy=False)
    timeout = fields.Float("Timeout (seconds)", default=10.0)
    version = fields.Char(readonly=True)
    last_check_at = fields.Datetime("Last checked", readonly=True)
    last_check_ok = fields.Boolean("Connection works", readonly=True)
    last_check_message = fields.Text("Result of the last check", readonly=True)

    _sql_constraints = [
        ("company_uniq", "UNIQUE(company_id)", "A company has one Listmonk server."),
        ("timeout_check", "CHECK(timeout > 0 AND timeout <= 120)", "Timeout: 0 to 120 seconds."),
    ]

    @api.constrains("url")
    def _check_url(self):
        for server in self:
            parts = urlsplit((server.url or "").strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValidationError(
                    _(
                        "The Listmonk URL must start with http:// or https://, e.g. "
                        "https://lists.example.com."
                    )
                )

    def _client(self):
        """A client for this configuration (a new one each time: no shared state)."""
        self.ensure_one()
        server = self.sudo()
        return ListmonkClient(
            server.url.strip().rstrip("/"),
            server.api_user.strip(),
            server.api_token,
            timeout=server.timeout or 10.0,
        )

    def action_test_connection(self):
        """Reach Listmonk, authenticate, read its version and find missing permissions;
        the result is stored on the form and shown as a notification."""
        self.ensure_one()
        self.check_access("write")
        try:
            check = self._client().check_connection()
        except Exception as exc:  # noqa: BLE001 - report anything to the user
            raise UserError(_("Listmonk could not be checked: %(error)s", error=exc)) from exc
        lines = list(check.problems)
        if check.missing_permissions:
            lines.append(
                _(
                    "The API user lacks these permissions: %(perms)s.",
                    perms=", ".join(check.missing_permissions),
                )
            )
        if check.unverified_permissions:
            lines.append(
                _(
                    "Could not be tested without changing data (make sure the role has "
                    "them): %(perms)s.",
                    perms=", ".join(check.unverified_permissions),
                )
            )
        ok = check.ok and not check.missing_permissions
        if ok:
            lines.insert(0, _("Connected to Listmonk %(version)s.", version=check.version))
        self.write(
            {
                "version": check.version or False,
                "last_check_at": fields.Datetime.now(),
                "last_check_ok": ok,
                "last_check_message": "\n".join(lines),
            }
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Listmonk connection"),
                "message": "\n".join(lines),
                "type": "success" if ok else "warning",
                "sticky": not ok,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
