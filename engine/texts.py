"""Short texts (SMS, activity summaries, webhook bodies) rendered from templates that
marketing users write, e.g. ``Hi {{ partner.first_name }}, see you in {{ partner.city }}!``.

Templates are Jinja2, rendered in a sandbox over plain values the host passes in (never
database records), so a template can read what it is given and nothing else.
:func:`check_template` is meant for validation at save: it parses the template and
renders it once over sample values.

>>> render_text("Hi {{ partner.first_name }}!", {"partner": {"first_name": "Ada"}})
'Hi Ada!'
>>> check_template("Hi {{ partner.name ")
"unexpected end of template, expected 'end of print statement'."
>>> check_template("{{ partner.__class__ }}").split(".")[0]
'unknown variable partner'
>>> check_template("{{ payload.__class__ }}")
"access to attribute '__class__' of '_AnyValue' object is unsafe."
>>> check_template("Hi {{ partner.name }}") is None
True
"""

from __future__ import annotations

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment


class _AnyValue(str):
    """Stands, when a text is checked, for whatever a caller sends in an inbound event's
    payload: any key or attribute of it is again a value. (At send time the payload is
    the caller's JSON, and a key it lacks is an error that fails that one delivery.)"""

    def __getattr__(self, name: str) -> _AnyValue:
        if name.startswith("_"):
            raise AttributeError(name)
        return _AnyValue("…")

    def __getitem__(self, key: object) -> _AnyValue:  # type: ignore[override]
        return _AnyValue("…")


SAMPLE_VALUES = {
    "partner": {
        "name": "Ada Lovelace",
        "first_name": "Ada",
        "city": "Hamburg",
        "email": "ada@example.com",
        "salesperson": "Sam Sales",
        "lang": "en_US",
    },
    "company": {"name": "Example Company"},
    "trigger": {"name": "Example trigger"},
    "payload": _AnyValue("…"),
}


# What a text may name about the record behind an occurrence, by the record's model
# (kinds that come from an order, a delivery, an opportunity, a price watch or a
# purchase). The host passes the same keys, as plain strings, at send time.
RECORD_SAMPLES = {
    "sale.order": {
        "order": {
            "name": "S00042",
            "date": "2026-03-10",
            "amount": "490.00 €",
            "contents": "1 × Rhetoric seminar Hamburg",
            "first_item": "Rhetoric seminar Hamburg",
            "planned_date": "2026-04-02",
            "salesperson": "Sam Sales",
        }
    },
    "stock.picking": {
        "delivery": {
            "name": "WH/OUT/00007",
            "date": "2026-03-12",
            "time": "09:00",
            "contents": "2 × Toner cartridge black",
            "address": "Mönckebergstraße 7, 20095 Hamburg, Germany",
            "order": "S00042",
        }
    },
    "crm.lead": {"opportunity": {"name": "Leadership training for 12", "salesperson": "Sam Sales"}},
    "marketing.price.watch": {
        "watch": {"product": "Rhetoric seminar", "price": "390.00 €", "target": "400.00 €"}
    },
    "sale.order.line": {
        "purchase": {"product": "Toner cartridge black", "date": "2025-09-01", "order": "S00042"}
    },
}


def sample_values(model: str | None = None) -> dict:
    """The values a text is checked against at save: the contact's, plus the record's
    when the message is about an order, a delivery, an opportunity…

    >>> sorted(sample_values("stock.picking"))
    ['company', 'delivery', 'partner', 'payload', 'trigger']
    >>> sample_values() is SAMPLE_VALUES
    True
    """
    if not model or model not in RECORD_SAMPLES:
        return SAMPLE_VALUES
    return {**SAMPLE_VALUES, **RECORD_SAMPLES[model]}


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=False, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )


def render_text(template: str, values: dict) -> str:
    """Render ``template`` over ``values`` in the sandbox; raises on any error."""
    return _environment().from_string(template or "").render(values).strip()


def variables(values: dict | None = None) -> list[str]:
    """The variables a text may use, as users write them.

    >>> variables()[:3]
    ['partner.name', 'partner.first_name', 'partner.city']
    """
    names = []
    for top, value in (values or SAMPLE_VALUES).items():
        if isinstance(value, dict):
            names += [f"{top}.{key}" for key in value]
        else:
            names.append(f"{top}.…")
    return names


def unknown_variables(template: str, values: dict | None = None) -> list[str]:
    """The variables ``template`` names that are not offered (in order of appearance).

    >>> unknown_variables("Hi {{ partner.nmae }} from {{ company.name }} {{ foo }}")
    ['partner.nmae', 'foo']
    >>> unknown_variables("{{ payload.seminar.date }} {% for x in [1] %}{{ x }}{% endfor %}")
    []
    """
    values = values or SAMPLE_VALUES
    tree = _environment().parse(template or "")
    local = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    unknown = []
    for node in tree.find_all((nodes.Getattr, nodes.Name)):
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            top, attr = node.node.name, node.attr
            value = values.get(top)
            if isinstance(value, dict) and attr not in value:
                unknown.append(f"{top}.{attr}")
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name not in values and node.name not in local:
                unknown.append(node.name)
    return list(dict.fromkeys(unknown))


def check_template(template: str, values: dict | None = None) -> str | None:
    """None if ``template`` renders over the sample values, else the error to show."""
    try:
        unknown = unknown_variables(template, values)
    except TemplateError as exc:
        return str(exc)
    if unknown:
        return (
            f"unknown variable {', '.join(unknown)}. You can use: "
            f"{', '.join(variables(values))}."
        )
    try:
        render_text(template, values or SAMPLE_VALUES)
    except TemplateError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure is a template the user must fix
        return f"{type(exc).__name__}: {exc}"
    return None
