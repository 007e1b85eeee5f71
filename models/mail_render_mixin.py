"""Render one QWeb email body for many recipients with one compilation.

Odoo's ``_render_template_qweb`` parses and compiles a template's raw QWeb source again
for every record (the compiled code of a raw template is not cached), which dominates
the cost of sending one template to thousands of contacts. Under the context key
``marketing_trigger_batch_render`` (set by the dispatcher, which renders as superuser),
the body is compiled once per batch and language and evaluated per record with exactly
the variables Odoo would give it. Anything unusual falls back to Odoo's own path.
"""

from lxml import html
from markupsafe import Markup
from odoo import api, models
from odoo.tools import safe_eval


class IrQweb(models.AbstractModel):
    _inherit = "ir.qweb"

    @api.model
    def _marketing_render_batch(self, template, values, records, **options):
        """{record id: Markup}: ``template`` (an etree) compiled once, rendered with
        ``values`` and ``object`` = each record."""
        values = dict(values)
        qweb = self.with_context(**options)._prepare_environment(values)
        functions, def_name = qweb._compile(template)
        render = functions[def_name]
        results = {}
        for record in records:
            record_values = dict(values, object=record)
            safe_eval.check_values(record_values)
            results[record.id] = Markup("".join(render(qweb, record_values)))
        return results


class MailRenderMixin(models.AbstractModel):
    _inherit = "mail.render.mixin"

    @api.model
    def _render_template_qweb(self, template_src, model, res_ids, add_context=None, options=None):
        if (
            not self.env.context.get("marketing_trigger_batch_render")
            or len(res_ids) < 2
            or not template_src
            or not self.env.is_superuser()
            or not self._has_unsafe_expression_template_qweb(template_src, model)
        ):
            return super()._render_template_qweb(
                template_src, model, res_ids, add_context=add_context, options=options
            )
        variables = self._render_eval_context()
        if add_context:
            variables.update(**add_context)
        template = html.fragment_fromstring(template_src, create_parent="div")
        rendered = self.env["ir.qweb"]._marketing_render_batch(
            template, variables, self.env[model].browse(res_ids), **(options or {})
        )
        # Drop the <div> wrapped around the fragment, as Odoo does.
        return {res_id: body[5:-6] for res_id, body in rendered.items()}
