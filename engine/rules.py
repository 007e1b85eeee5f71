"""Deciding, for every candidate, whether it is sent now or suppressed, and why.

:func:`decide` is the single entry point. The host passes everything in: the candidates,
what it knows of each partner, which occurrences were decided before, and ``now``. It
returns one :class:`~.values.Decision` per candidate, in a canonical order that does not
depend on the order of the input, so a re-run or a second worker gets the same answer.

The checks, in the order they are applied:

1. **Exactly once.** An occurrence decided before (``decided``), or offered twice in the
   same call, is suppressed as ``duplicate``; only the best-ranked offer is considered.
2. **A usable channel.** The trigger's channels are tried in its order of preference. A
   channel is usable when the partner has an address for it, the address is valid, it is
   not blacklisted and (for anything but service messages) the partner consented to
   marketing on that channel. The first usable channel wins.
3. If no channel is usable, the candidate is suppressed with the reason found on the
   *first* (preferred) channel, because that is the one a person will ask about.

>>> from datetime import datetime
>>> c = Candidate(trigger_id=1, partner_id=7, occurrence_key="registered")
>>> f = PartnerFacts(partner_id=7, email="ada@example.com", consents=frozenset({Channel.EMAIL}))
>>> [d.outcome.value for d in decide([c], {7: f}, now=datetime(2026, 1, 1))]
['send']
>>> decide([c], {7: f}, now=datetime(2026, 1, 1), decided={c.key})[0].reason.value
'duplicate'
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from .addresses import normalize_email
from .values import (
    Candidate,
    Channel,
    Decision,
    MessageClass,
    Outcome,
    PartnerFacts,
    Reason,
)

_CHANNEL_LABELS = {Channel.EMAIL: "email", Channel.SMS: "SMS", Channel.PHONE: "phone"}


def rank(candidate: Candidate) -> tuple:
    """The canonical order: per partner, higher priority, then higher value, first.

    Every field takes part so that the order is total and the result never depends on
    the order in which the host happened to build its candidates.
    """
    return (
        candidate.partner_id,
        -candidate.priority,
        -candidate.value,
        candidate.trigger_id,
        candidate.occurrence_key,
        candidate.message_class.value,
        tuple(ch.value for ch in candidate.channels),
    )


def decide(
    candidates: Iterable[Candidate],
    facts: Mapping[int, PartnerFacts],
    *,
    now: datetime,
    decided: Collection[tuple[int, int, str]] = frozenset(),
) -> list[Decision]:
    """Decide every candidate; see the module documentation for the rules."""
    seen: set[tuple[int, int, str]] = set(decided)
    decisions = []
    for candidate in sorted(candidates, key=rank):
        if candidate.key in seen:
            decisions.append(_duplicate(candidate))
            continue
        seen.add(candidate.key)
        partner = facts.get(candidate.partner_id) or PartnerFacts(candidate.partner_id)
        decisions.append(_choose_channel(candidate, partner, now))
    return decisions


def _duplicate(candidate: Candidate) -> Decision:
    return Decision(
        candidate,
        Outcome.SUPPRESS,
        Reason.DUPLICATE,
        f"Occurrence '{candidate.occurrence_key}' of this trigger was already decided "
        "for this partner; it is never sent twice.",
        params=(("occurrence", candidate.occurrence_key),),
    )


def _choose_channel(candidate: Candidate, partner: PartnerFacts, now: datetime) -> Decision:
    if not candidate.channels:
        return Decision(
            candidate, Outcome.SUPPRESS, Reason.NO_CHANNEL, "The trigger has no channel."
        )
    refusals = []
    for channel in candidate.channels:
        refusal = channel_refusal(channel, candidate, partner)
        if refusal is None:
            label = _CHANNEL_LABELS[channel]
            return Decision(
                candidate,
                Outcome.SEND,
                Reason.SEND,
                f"Sent by {label}: the address is valid"
                + (
                    " (service message: no marketing consent needed)."
                    if candidate.message_class is MessageClass.SERVICE
                    else ", not blacklisted, and marketing consent is given."
                ),
                channel=channel,
                send_at=now,
                params=(("channel", channel.value),),
            )
        refusals.append(refusal)
    reason, explanation = refusals[0]
    return Decision(candidate, Outcome.SUPPRESS, reason, explanation)


def channel_refusal(
    channel: Channel, candidate: Candidate, partner: PartnerFacts
) -> tuple[Reason, str] | None:
    """Why ``channel`` cannot carry ``candidate`` to ``partner``, or None if it can."""
    label = _CHANNEL_LABELS[channel]
    if channel is Channel.EMAIL:
        if not (partner.email or "").strip():
            return Reason.NO_EMAIL, "The partner has no email address."
        if normalize_email(partner.email) is None:
            return (
                Reason.INVALID_EMAIL,
                f"The email address '{partner.email}' is not a valid address.",
            )
    else:
        return Reason.NO_CHANNEL, f"Sending by {label} is not available yet."
    if candidate.message_class is MessageClass.SERVICE:
        # Service messages are not marketing: an opt-out of marketing does not stop them.
        return None
    if channel in partner.blacklisted:
        return Reason.BLACKLISTED, f"The partner's {label} address is blacklisted."
    if channel not in partner.consents:
        return (
            Reason.NO_CONSENT,
            f"The partner has not consented to marketing by {label}.",
        )
    return None
