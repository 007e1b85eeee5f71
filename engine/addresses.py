"""Address checks: is this something a message can actually be delivered to?

The engine refuses to decide "send" on an address that cannot work, so that a typo is a
logged suppression (``invalid_email``) instead of a bounce later. The rule is the one
mail servers apply in practice, not the full RFC 5322 grammar: one ``local@domain``
address, optionally wrapped as ``Name <local@domain>``, with a dotted domain whose
labels are letters, digits and inner hyphens and whose top-level label is alphabetic.

>>> normalize_email("  Ada Lovelace <Ada@Example.COM> ")
'ada@example.com'
>>> normalize_email("ada@example") is None
True
>>> normalize_email("two@example.com, three@example.com") is None
True
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(
    r"""^(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)
        @(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})$""",
    re.VERBOSE,
)
_WRAPPED = re.compile(r"^[^<>]*<([^<>]+)>$")


def normalize_email(raw: str | None) -> str | None:
    """Return the lower-cased address in ``raw``, or ``None`` if it is not one address."""
    if not raw:
        return None
    text = raw.strip()
    wrapped = _WRAPPED.match(text)
    if wrapped:
        text = wrapped.group(1).strip()
    if len(text) > 254 or not _ADDRESS.match(text):
        return None
    local, _, _domain = text.partition("@")
    if len(local) > 64:
        return None
    return text.lower()
