"""Deciding, for every candidate, whether it goes out now, later, or not at all, and why.

:func:`decide` is the single entry point. The host passes everything in: the candidates,
what it knows of each partner, each partner's contact ledger, the policy, the
occurrences decided before, and ``now``. It returns one :class:`~.values.Decision` per
candidate, in a canonical order that does not depend on the order of the input.

Candidates are decided partner by partner, best first: higher priority, then higher
business value (then trigger id and occurrence, so that ties are broken the same way
every time). For each candidate:

1. **Exactly once.** An occurrence decided before, or offered twice, is a ``duplicate``.
2. **Deadline.** A candidate whose ``latest`` has passed is ``expired``.
3. **Usable channels.** The partner's preferred channel first, then the trigger's order.
   A channel is usable with a valid address for it, no blacklist and (for marketing) a
   standing consent. No usable channel: suppressed with the preferred channel's reason.
4. **Service messages** go on the first usable channel, now or at their ``earliest``
   moment: no caps, cooldowns, arbitration or send window. They do not weigh on
   marketing pressure.
5. **Marketing messages** take the first open moment of the send window (partner's time
   zone, weekdays, hours, public holidays of country and region). There they must pass
   the trigger's and the topic's cooldowns, **arbitration** (no other trigger message
   within the arbitration window; the earlier-placed, better-ranked one wins and is
   named) and the **caps** on some usable channel (falling back to the next channel when
   the preferred one is capped). A blocked ``DEFER`` message is deferred to the next
   moment at which all of these pass, if that is before its deadline (``latest``, or
   ``max_defer`` after its earliest time); otherwise, and for ``DROP`` messages, it is
   suppressed with the reason that blocked it.

Every SEND is added to the partner's pressure at once, so later candidates of the same
run see it: caps can never be exceeded by one run, whatever the order of the input.

>>> from datetime import datetime
>>> c = Candidate(trigger_id=1, partner_id=7, occurrence_key="registered")
>>> f = PartnerFacts(partner_id=7, email="ada@example.com", consents=frozenset({Consent.EMAIL}))
>>> [d.outcome.value for d in decide([c], {7: f}, now=datetime(2026, 1, 1))]
['send']
>>> decide([c], {7: f}, now=datetime(2026, 1, 1), decided={c.key})[0].reason.value
'duplicate'
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from .addresses import normalize_email
from .calendar import Calendar
from .pressure import Pressure
from .values import (
    CONSENT_OF,
    Candidate,
    Channel,
    Consent,  # noqa: F401 - used by the examples above
    Decision,
    MessageClass,
    Outcome,
    PartnerFacts,
    Policy,
    Reason,
    Touch,
)

DEFAULT_POLICY = Policy()
# Enum members are looked up through a descriptor; the hot loop uses these instead.
_SEND, _DEFER, _SUPPRESS = Outcome.SEND, Outcome.DEFER, Outcome.SUPPRESS
_SERVICE, _DEFERRABLE = MessageClass.SERVICE, MessageClass.DEFER
_MAX_MOVES = 16
LABELS = {
    Channel.EMAIL: "email",
    Channel.SMS: "SMS",
    Channel.PHONE: "phone call",
    Channel.NEWSLETTER: "newsletter",
    Channel.VOICE: "voice message",
    Channel.FAX: "fax",
    Channel.LETTER: "letter",
}

_REASON_SEND = Reason.SEND
# A call is not "sent": it becomes a task for the salesperson.
_VERB = {c: f"Sent by {label}" for c, label in LABELS.items()}
_VERB[Channel.PHONE] = "Given to the salesperson as a call task"
_SENT_TEXT = {
    c: f"{verb}: consent given, within caps, cooldowns and send window."
    for c, verb in _VERB.items()
}
_SERVICE_TEXT = {
    c: f"{verb}: service message, no marketing consent needed." for c, verb in _VERB.items()
}
_PARAMS = {c: (("channel", c.value),) for c in LABELS}


def rank(candidate: Candidate) -> tuple:
    """The canonical order within a partner: best candidate first, ties broken fully."""
    return (
        -candidate.priority,
        -candidate.value,
        candidate.trigger_id,
        candidate.occurrence_key,
        candidate.message_class.value,
        candidate.channels,
        candidate.earliest or datetime.min,
        candidate.latest or datetime.max,
        candidate.topic or "",
        candidate.cooldown or timedelta(0),
    )


def _primary(candidate: Candidate) -> tuple:
    return (-candidate.priority, -candidate.value, candidate.trigger_id, candidate.occurrence_key)


def _sort_group(group: list[Candidate]) -> None:
    """Sort by :func:`rank`, cheaply: the full key is only built when a tie needs it."""
    group.sort(key=_primary)
    keys = [_primary(c) for c in group]
    if len(set(keys)) != len(keys):
        group.sort(key=rank)


def decide(
    candidates: Iterable[Candidate],
    facts: Mapping[int, PartnerFacts],
    *,
    now: datetime,
    ledger: Mapping[int, Sequence[Touch]] | None = None,
    policy: Policy = DEFAULT_POLICY,
    decided: Collection[tuple[int, int, str]] = frozenset(),
    calendar: Calendar | None = None,
    labels: Mapping[int, str] | None = None,
) -> list[Decision]:
    """Decide every candidate; see the module documentation for the rules.

    ``ledger`` maps partner ids to their recent touches; ``labels`` maps trigger ids to
    names used in explanations; ``calendar`` may be shared between runs for its caches.
    """
    by_partner: dict[int, list[Candidate]] = {}
    for candidate in candidates:
        group = by_partner.get(candidate.partner_id)
        if group is None:
            by_partner[candidate.partner_id] = [candidate]
        else:
            group.append(candidate)
    run = _Run(now, policy, decided, calendar or Calendar(), labels or {})
    ledger = ledger or {}
    decisions: list[Decision] = []
    for partner_id in sorted(by_partner):
        group = by_partner[partner_id]
        if len(group) > 1:
            _sort_group(group)
        partner = facts.get(partner_id) or PartnerFacts(partner_id)
        decisions.extend(run.decide_partner(group, partner, ledger.get(partner_id, ())))
    return decisions


def channel_refusal(
    channel: Channel, candidate: Candidate, partner: PartnerFacts
) -> tuple[Reason, str] | None:
    """Why ``channel`` cannot carry ``candidate`` to ``partner`` at all, or None."""
    label = LABELS[channel]
    if channel in (Channel.EMAIL, Channel.NEWSLETTER):
        if not (partner.email or "").strip():
            return Reason.NO_EMAIL, "The partner has no email address."
        if normalize_email(partner.email) is None:
            return (
                Reason.INVALID_EMAIL,
                f"The email address '{partner.email}' is not a valid address.",
            )
    elif channel in (Channel.SMS, Channel.PHONE, Channel.VOICE):
        if not partner.phone:
            if partner.phone_raw:
                return (
                    Reason.INVALID_PHONE,
                    f"The phone number '{partner.phone_raw}' is not a valid number.",
                )
            return Reason.NO_PHONE, "The partner has no phone number."
    elif channel is Channel.FAX:
        if not partner.fax:
            return Reason.NO_PHONE, "The partner has no fax number."
    elif channel is Channel.LETTER and not partner.has_postal_address:
        return Reason.NO_ADDRESS, "The partner has no complete postal address."
    if candidate.message_class is _SERVICE:
        # Service messages are not marketing: an opt-out of marketing does not stop them.
        return None
    if channel in partner.blacklisted:
        return Reason.BLACKLISTED, f"The partner's {label} address is blacklisted."
    consent = CONSENT_OF[channel]
    if consent is not None and consent not in partner.consents:
        return Reason.NO_CONSENT, f"The partner has not consented to marketing by {label}."
    return None


def _usable_channels(candidate, partner, service, refusals):
    """The channels that can carry ``candidate`` (preferred first), and the refusal of
    the first that cannot. ``refusals`` caches the partner's answer per channel."""
    channels = candidate.channels
    preferred = partner.preferred_channel
    if preferred is not None and preferred in channels and channels[0] is not preferred:
        channels = (preferred, *(c for c in channels if c is not preferred))
    usable, first_refusal = [], None
    for channel in channels:
        key = (channel, service)
        if key in refusals:
            refusal = refusals[key]
        else:
            refusal = refusals[key] = channel_refusal(channel, candidate, partner)
        if refusal is None:
            usable.append(channel)
        elif first_refusal is None:
            first_refusal = refusal
    return usable, first_refusal


class _Run:
    """The state of one call to :func:`decide`."""

    __slots__ = (
        "arbitration",
        "rules_for",
        "arbitration_text",
        "calendar",
        "caps",
        "decided",
        "labels",
        "now",
        "opens",
        "policy",
        "seen",
        "topic_cooldowns",
    )

    def __init__(self, now, policy, decided, calendar, labels):
        self.now = now
        self.policy = policy
        self.caps = policy.caps
        self.topic_cooldowns = dict(policy.topic_cooldowns)
        self.decided = decided
        self.seen: set[tuple[int, int, str]] = set()
        self.calendar = calendar
        self.labels = labels
        self.opens: dict[tuple, datetime | None] = {}
        self.arbitration = policy.arbitration_window
        self.arbitration_text = _duration(policy.arbitration_window)
        # The caps that apply to each channel: its own and the all-channel ones.
        self.rules_for = {
            channel: tuple(r for r in policy.caps if r.channel is None or r.channel is channel)
            for channel in Channel
        }

    def label(self, trigger_id):
        name = self.labels.get(trigger_id)
        return f"'{name}'" if name else f"trigger #{trigger_id}"

    def decide_partner(self, group, partner, touches):
        pressure = Pressure(touches)
        usable_of: dict[tuple, tuple] = {}
        refusals: dict[tuple, tuple | None] = {}
        seen, decided, now = self.seen, self.decided, self.now
        out = []
        for candidate in group:
            key = (candidate.trigger_id, candidate.partner_id, candidate.occurrence_key)
            if key in seen or key in decided:
                out.append(_duplicate(candidate))
                continue
            seen.add(key)
            if candidate.latest is not None and candidate.latest < now:
                out.append(
                    Decision(
                        candidate,
                        _SUPPRESS,
                        Reason.EXPIRED,
                        f"Its deadline {_fmt(candidate.latest)} UTC has passed.",
                    )
                )
                continue
            service = candidate.message_class is _SERVICE
            channels_key = (candidate.channels, service)
            found = usable_of.get(channels_key)
            if found is None:
                found = usable_of[channels_key] = _usable_channels(
                    candidate, partner, service, refusals
                )
            usable, refusal = found
            if not usable:
                reason, text = refusal or (Reason.NO_CHANNEL, "The trigger has no channel.")
                out.append(Decision(candidate, _SUPPRESS, reason, text))
                continue
            if service:
                # Not held to windows or caps, but never before its own time.
                at = candidate.earliest if candidate.earliest and candidate.earliest > now else now
                if candidate.latest is not None and at > candidate.latest:
                    decision = Decision(
                        candidate,
                        _SUPPRESS,
                        Reason.EXPIRED,
                        f"Its deadline {_fmt(candidate.latest)} UTC comes before its earliest "
                        f"moment {_fmt(at)} UTC.",
                    )
                else:
                    decision = self._send(candidate, usable[0], at, service=True)
            else:
                decision = self._place(candidate, usable, partner, pressure)
                if decision.outcome is _SEND:
                    pressure.record(
                        decision.send_at, decision.channel, candidate.trigger_id, candidate.topic
                    )
            out.append(decision)
        return out

    def _place(self, candidate, usable, partner, pressure):
        """Find the first moment and channel that every rule allows, or say why not."""
        start = self.now
        if candidate.earliest is not None and candidate.earliest > start:
            start = candidate.earliest
        deferrable = candidate.message_class is _DEFERRABLE
        deadline = candidate.latest
        if deadline is None and deferrable:
            deadline = start + self.policy.max_defer
        at = self._open(start, partner)
        if at is None or (deadline is not None and at > deadline):
            return Decision(
                candidate,
                _SUPPRESS,
                Reason.OUTSIDE_WINDOW,
                "The send window does not open before its deadline.",
            )
        first_block = None
        for _move in range(_MAX_MOVES):
            channel, block = self._check(candidate, usable, pressure, at)
            if channel is not None:
                if first_block is None:
                    return self._send(candidate, channel, at, window_moved=at != start)
                reason, text, params, _free = first_block
                return Decision(
                    candidate,
                    _DEFER,
                    reason,
                    f"Deferred to {_fmt(at)} UTC. {text}",
                    send_at=at,
                    # The deadline stays fixed when the message is decided again later.
                    params=(*params, ("deadline", deadline.isoformat())),
                )
            if first_block is None:
                first_block = block
                if not deferrable:
                    return Decision(candidate, _SUPPRESS, *block[:2], params=block[2])
            free_at = block[3]
            if free_at is None:
                break
            at = self._open(free_at, partner)
            if at is None or (deadline is not None and at > deadline):
                break
        reason, text, params, _free = first_block
        when = f"{_fmt(deadline)} UTC" if deadline else "its deadline"
        return Decision(
            candidate,
            _SUPPRESS,
            reason,
            f"{text} No free moment before {when}, so it was dropped.",
            params=params,
        )

    def _open(self, at, partner):
        key = (at, partner.timezone, partner.country, partner.region)
        try:
            return self.opens[key]
        except KeyError:
            result = self.opens[key] = self.calendar.next_open(
                at, self.policy.window, partner.timezone, partner.country, partner.region
            )
            return result

    def _check(self, candidate, usable, pressure, at):
        """(a channel free at ``at``, None) or (None, (reason, text, params, free_at))."""
        if not pressure:
            return usable[0], None
        topic_cooldown = self.topic_cooldowns.get(candidate.topic) if candidate.topic else None
        cooldown = (candidate.cooldown or topic_cooldown) and pressure.cooldown_block(
            at, candidate.trigger_id, candidate.cooldown, candidate.topic, topic_cooldown
        )
        if cooldown:
            kind, last, until = cooldown
            what = "this trigger" if kind == "trigger" else f"topic '{candidate.topic}'"
            return None, (
                Reason.COOLDOWN,
                f"Cooldown: {what} reached the partner on {_fmt(last)[:10]}; "
                f"not again before {_fmt(until)} UTC.",
                (("cooldown", kind), ("until", until.isoformat())),
                until,
            )
        rival = self.arbitration and pressure.rival(at, self.arbitration)
        if rival:
            rival_at, winner = rival
            until = rival_at + self.arbitration
            if winner == candidate.trigger_id:
                # Not a rival: an earlier message of this same trigger.
                text = (
                    f"This trigger's earlier message reaches the partner on {_fmt(rival_at)} "
                    f"UTC: only one trigger message per {self.arbitration_text}."
                )
            else:
                text = (
                    f"Lost to {self.label(winner)}, which reaches the partner on "
                    f"{_fmt(rival_at)} UTC: only one trigger message per "
                    f"{self.arbitration_text}."
                )
            return None, (
                Reason.LOST_ARBITRATION,
                text,
                (("winner_trigger_id", str(winner)), ("until", until.isoformat())),
                until,
            )
        first_cap, free_times = None, []
        for channel in usable:
            capped = pressure.cap_block(at, channel, self.rules_for[channel])
            if capped is None:
                return channel, None
            rule, free_at = capped
            if first_cap is None:
                scope = LABELS[rule.channel] if rule.channel else "all channels"
                first_cap = (
                    Reason.CAPPED,
                    f"Frequency cap: at most {rule.limit} touches by {scope} in "
                    f"{_duration(rule.window)}; the {LABELS[channel]} channel is full.",
                    (("cap", f"{rule.limit}/{_duration(rule.window)}/{scope}"),),
                )
            if free_at is not None:
                free_times.append(free_at)
        return None, (*first_cap, min(free_times) if free_times else None)

    def _send(self, candidate, channel, at, service=False, window_moved=False):
        if service:
            text = _SERVICE_TEXT[channel]
        elif window_moved:
            text = f"{_VERB[channel]} at {_fmt(at)} UTC, the next moment inside " "the send window."
        else:
            text = _SENT_TEXT[channel]
        return Decision(candidate, _SEND, _REASON_SEND, text, channel, at, _PARAMS[channel])


def _duplicate(candidate: Candidate) -> Decision:
    return Decision(
        candidate,
        _SUPPRESS,
        Reason.DUPLICATE,
        f"Occurrence '{candidate.occurrence_key}' of this trigger was already decided "
        "for this partner; it is never sent twice.",
        params=(("occurrence", candidate.occurrence_key),),
    )


def _fmt(at: datetime) -> str:
    return at.isoformat(" ", "minutes")


def _duration(delta: timedelta) -> str:
    if delta.days and not delta.seconds:
        return f"{delta.days} day" + ("s" if delta.days != 1 else "")
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hour" + ("s" if hours != 1 else "")
