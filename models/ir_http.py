from odoo import models
from odoo.http import request


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _serve_fallback(cls):
        # A path no route matched goes to Odoo's attachment lookup, where a NUL
        # character (e.g. a forged /mt/confirm/1/%00) makes PostgreSQL raise: a 500 for a
        # mistyped address. There is no such attachment, so it is simply not found.
        if "\x00" in request.httprequest.path:
            return None
        return super()._serve_fallback()
