"""The values the decision engine takes and gives back.

Everything here is a frozen dataclass or an enum: the host (the Odoo side, a benchmark,
a test) builds them from its own data and the engine never reaches back for more. A
:class:`Candidate` is one occurrence of one trigger offered for one partner; the
:class:`PartnerFacts` are what the host knows about that partner; a :class:`Decision`
is the engine's answer, with a :class:`Reason` code a program can act on and an
``explanation`` a person can read.

Enum values are the strings stored in the database, so renaming one is a migration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class Channel(str, Enum):
    """Ways of reaching a partner. Consent is given or withdrawn per channel."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"


class MessageClass(str, Enum):
    """What happens to a message that may not go out now.

    ``SERVICE`` messages (delivery notice, order confirmation) are not marketing: they
    need no marketing consent, but still need a usable address. ``DEFER`` messages wait
    for a later slot; ``DROP`` messages are given up.
    """

    SERVICE = "service"
    DEFER = "defer"
    DROP = "drop"


class Outcome(str, Enum):
    SEND = "send"
    DEFER = "defer"
    SUPPRESS = "suppress"


class Reason(str, Enum):
    """Why a decision came out the way it did; one code per decision."""

    SEND = "send"
    DUPLICATE = "duplicate"
    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"
    BLACKLISTED = "blacklisted"
    NO_CONSENT = "no_consent"
    NO_CHANNEL = "no_channel"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One occurrence of a trigger for one partner, offered to the engine.

    ``occurrence_key`` names the occurrence (``registered``, ``birthday:2027``): the
    engine decides each (trigger, partner, occurrence) at most once. ``channels`` are the
    trigger's channels in its order of preference.
    """

    trigger_id: int
    partner_id: int
    occurrence_key: str
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    message_class: MessageClass = MessageClass.DROP
    priority: int = 0
    value: float = 0.0

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.trigger_id, self.partner_id, self.occurrence_key)


@dataclass(frozen=True, slots=True)
class PartnerFacts:
    """What the host knows about a partner when deciding.

    ``email`` is the raw address as typed (the engine validates it); ``consents`` the
    channels with a standing marketing consent; ``blacklisted`` the addresses the
    partner may never receive marketing on (Odoo's email blacklist).
    """

    partner_id: int
    email: str | None = None
    consents: frozenset[Channel] = field(default_factory=frozenset)
    blacklisted: frozenset[Channel] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one candidate.

    ``channel`` and ``send_at`` are set when the outcome is SEND. ``explanation`` is a
    complete English sentence meant for the decision log; hosts that translate use
    ``reason`` and ``params`` instead.
    """

    candidate: Candidate
    outcome: Outcome
    reason: Reason
    explanation: str
    channel: Channel | None = None
    send_at: datetime | None = None
    params: tuple[tuple[str, str], ...] = ()
