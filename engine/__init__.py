"""marketing_trigger's decision core: who gets which message, when, and why not.

This package is plain Python. It never imports ``odoo``, never reads the clock, the
database or the network: the host passes candidates, partner facts and ``now`` in, and
gets :class:`Decision` values back. The same input always gives the same output, in any
order, so decisions can be replayed, forecast and tested without a database.

Usage::

    from datetime import datetime, timezone
    from marketing_trigger.engine import Candidate, Channel, PartnerFacts, decide

    candidate = Candidate(trigger_id=1, partner_id=42, occurrence_key="registered")
    facts = {42: PartnerFacts(42, email="ada@example.com",
                              consents=frozenset({Channel.EMAIL}))}
    [decision] = decide([candidate], facts, now=datetime.now(timezone.utc))
    decision.outcome, decision.reason, decision.explanation

Modules: :mod:`.values` (the inputs and outputs), :mod:`.rules` (the rules),
:mod:`.addresses` (address checks).
"""

from .addresses import normalize_email
from .rules import decide, rank
from .values import (
    Candidate,
    Channel,
    Decision,
    MessageClass,
    Outcome,
    PartnerFacts,
    Reason,
)

__all__ = [
    "Candidate",
    "Channel",
    "Decision",
    "MessageClass",
    "Outcome",
    "PartnerFacts",
    "Reason",
    "decide",
    "normalize_email",
    "rank",
]
