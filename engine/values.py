"""The values the decision engine takes and gives back.

Everything here is a frozen dataclass or an enum: the host (the Odoo side, a benchmark,
a test) builds them from its own data and the engine never reaches back for more.

- :class:`Candidate`: one occurrence of one trigger offered for one partner.
- :class:`PartnerFacts`: what the host knows about that partner (addresses, consent,
  time zone, region, preferred channel).
- :class:`Touch`: one entry of the partner's contact ledger: something sent or done on
  any channel (email, SMS, newsletter, salesperson call, voice, fax, letter).
- :class:`Policy`: frequency caps, cooldowns, arbitration, send window, deferral limit.
- :class:`Decision`: the answer, with a :class:`Reason` a program can act on and an
  ``explanation`` a person can read.

Enum values are the strings stored in the database, so renaming one is a migration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import Enum


class Channel(str, Enum):
    """Ways of reaching a partner; each is counted in the ledger and capped."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"  # a salesperson's call or activity
    NEWSLETTER = "newsletter"  # a bulk newsletter (Listmonk)
    VOICE = "voice"  # an automated voice message
    FAX = "fax"
    LETTER = "letter"


class Consent(str, Enum):
    """What a partner consents to. Several channels share one consent: a newsletter is
    email, a voice message is a call. Letters need none (opt-out only)."""

    EMAIL = "email"
    SMS = "sms"
    PHONE = "phone"
    FAX = "fax"


CONSENT_OF = {
    Channel.EMAIL: Consent.EMAIL,
    Channel.NEWSLETTER: Consent.EMAIL,
    Channel.SMS: Consent.SMS,
    Channel.PHONE: Consent.PHONE,
    Channel.VOICE: Consent.PHONE,
    Channel.FAX: Consent.FAX,
    Channel.LETTER: None,
}


class MessageClass(str, Enum):
    """What happens to a message that may not go out now.

    ``SERVICE`` messages (delivery notice, order confirmation) are not marketing: they
    need no marketing consent and bypass caps, cooldowns, arbitration and send windows,
    but still need a usable address. ``DEFER`` messages wait for the next free slot
    within their deadline; ``DROP`` messages are given up.
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
    EXPIRED = "expired"
    OUTSIDE_WINDOW = "outside_window"
    NO_EMAIL = "no_email"
    INVALID_EMAIL = "invalid_email"
    NO_PHONE = "no_phone"
    INVALID_PHONE = "invalid_phone"
    NO_ADDRESS = "no_address"
    BLACKLISTED = "blacklisted"
    NO_CONSENT = "no_consent"
    NO_CHANNEL = "no_channel"
    COOLDOWN = "cooldown"
    LOST_ARBITRATION = "lost_arbitration"
    CAPPED = "capped"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One occurrence of a trigger for one partner, offered to the engine.

    ``occurrence_key`` names the occurrence (``registered``, ``birthday:2027``): the
    engine decides each (trigger, partner, occurrence) at most once. ``channels`` are the
    trigger's channels in its order of preference. ``earliest``/``latest`` bound the
    send time; ``cooldown`` keeps this trigger away from the partner for that long after
    it was executed; ``topic`` names what it is about (topic cooldowns are in the policy).
    """

    trigger_id: int
    partner_id: int
    occurrence_key: str
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    message_class: MessageClass = MessageClass.DROP
    priority: int = 0
    value: float = 0.0
    topic: str | None = None
    earliest: datetime | None = None
    latest: datetime | None = None
    cooldown: timedelta | None = None

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.trigger_id, self.partner_id, self.occurrence_key)


@dataclass(frozen=True, slots=True)
class PartnerFacts:
    """What the host knows about a partner when deciding.

    ``email`` is the raw address as typed (the engine validates it). ``phone`` is the
    mobile number in E.164 (``+4940…``) or ``None``; ``phone_raw`` what was typed, so
    that an unusable number is reported as invalid rather than missing. ``consents``
    are the standing marketing consents; ``blacklisted`` the channels the partner may
    never receive marketing on. ``timezone`` is an IANA name; ``country`` an ISO code
    and ``region`` a subdivision code (``HH`` for Hamburg) for public holidays.
    """

    partner_id: int
    email: str | None = None
    consents: frozenset[Consent] = field(default_factory=frozenset)
    blacklisted: frozenset[Channel] = field(default_factory=frozenset)
    phone: str | None = None
    phone_raw: str | None = None
    fax: str | None = None
    has_postal_address: bool = False
    timezone: str = "UTC"
    country: str | None = None
    region: str | None = None
    preferred_channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class Touch:
    """One entry of a partner's contact ledger.

    ``counts`` is False for touches that do not weigh on marketing pressure (service
    messages); they are still shown. ``trigger_id`` and ``topic`` feed cooldowns.
    """

    at: datetime
    channel: Channel
    trigger_id: int | None = None
    topic: str | None = None
    counts: bool = True


@dataclass(frozen=True, slots=True)
class CapRule:
    """At most ``limit`` touches in any ``window``, on ``channel`` (None: all channels)."""

    limit: int
    window: timedelta
    channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class SendWindow:
    """When marketing may reach a partner, in the partner's own time zone.

    ``weekdays`` uses Python's numbering (Monday is 0). ``end`` is exclusive. With
    ``skip_holidays`` the public holidays of the partner's country and region are closed.
    """

    weekdays: frozenset[int] = frozenset(range(7))
    start: time = time(0, 0)
    end: time | None = None  # None: until midnight
    skip_holidays: bool = False


ALWAYS_OPEN = SendWindow()


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules every candidate is held to (one per company in Odoo).

    ``arbitration_window``: two marketing messages to one partner closer than this
    compete; the better-ranked one wins. ``max_defer``: how far a ``DEFER`` message may
    be pushed when its candidate gives no ``latest``.
    """

    caps: tuple[CapRule, ...] = ()
    topic_cooldowns: tuple[tuple[str, timedelta], ...] = ()
    arbitration_window: timedelta = timedelta(0)
    max_defer: timedelta = timedelta(days=14)
    window: SendWindow = ALWAYS_OPEN


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one candidate.

    ``channel`` and ``send_at`` are set for SEND (``send_at`` may lie in the future when
    the send window is closed now); ``send_at`` is the time to decide again for DEFER.
    ``explanation`` is an English sentence for the decision log; ``params`` carry the
    same facts for hosts that translate.
    """

    candidate: Candidate
    outcome: Outcome
    reason: Reason
    explanation: str
    channel: Channel | None = None
    send_at: datetime | None = None
    params: tuple[tuple[str, str], ...] = ()
