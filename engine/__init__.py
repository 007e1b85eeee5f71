"""marketing_trigger's decision core: who gets which message, when, and why not.

This package is plain Python. It never imports ``odoo``, never reads the clock, the
database or the network: the host passes candidates, partner facts and ``now`` in, and
gets :class:`Decision` values back. The same input always gives the same output, in any
order, so decisions can be replayed, forecast and tested without a database.

Usage::

    from datetime import datetime, timezone
    from marketing_trigger.engine import Candidate, Consent, PartnerFacts, decide

    candidate = Candidate(trigger_id=1, partner_id=42, occurrence_key="registered")
    facts = {42: PartnerFacts(42, email="ada@example.com",
                              consents=frozenset({Consent.EMAIL}))}
    [decision] = decide([candidate], facts, now=datetime.now(timezone.utc))
    decision.outcome, decision.reason, decision.explanation

Modules: :mod:`.values` (the inputs and outputs), :mod:`.rules` (the decision rules),
:mod:`.pressure` (caps, cooldowns, arbitration over a partner's ledger),
:mod:`.calendar` (send windows, time zones, public holidays), :mod:`.addresses`
(address checks) and :mod:`.forecasting` (replaying the coming days).
"""

from .addresses import normalize_email
from .calendar import Calendar
from .forecasting import ForecastDay, forecast
from .rules import channel_refusal, decide, rank
from .values import (
    CONSENT_OF,
    Candidate,
    CapRule,
    Channel,
    Consent,
    Decision,
    MessageClass,
    Outcome,
    PartnerFacts,
    Policy,
    Reason,
    SendWindow,
    Touch,
)

__all__ = [
    "CONSENT_OF",
    "Calendar",
    "Candidate",
    "CapRule",
    "Channel",
    "Consent",
    "ForecastDay",
    "Policy",
    "SendWindow",
    "Touch",
    "channel_refusal",
    "Decision",
    "MessageClass",
    "Outcome",
    "PartnerFacts",
    "Reason",
    "decide",
    "forecast",
    "normalize_email",
    "rank",
]
