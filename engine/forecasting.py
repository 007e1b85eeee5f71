"""Forecast: replay the coming days through the engine before anything is sent.

:func:`forecast` runs :func:`~.rules.decide` once per simulated day over the candidates
that become due that day, carrying the simulated sends into the partners' ledgers (so
the caps of day 3 see the sends of day 1) and re-offering deferred messages on the day
they were deferred to. It reports, per day, how many messages would go out on each
channel and how many the policy would suppress or defer, by reason, and the same per
trigger (:attr:`ForecastDay.counts`), with every day of the period present even when
nothing happens on it. Nothing is stored: it is the same pure function over the same
inputs, run forward.

>>> from datetime import datetime
>>> from .values import Candidate, CapRule, Consent, PartnerFacts, Policy
>>> facts = {1: PartnerFacts(1, "a@example.com", frozenset({Consent.EMAIL}))}
>>> due = [Candidate(1, 1, "birthday:2026", earliest=datetime(2026, 12, 1, 8)),
...        Candidate(2, 1, "contract:7", earliest=datetime(2026, 12, 2, 8))]
>>> policy = Policy(caps=(CapRule(1, timedelta(days=7)),))
>>> days = forecast(due, facts, start=datetime(2026, 12, 1), days=3, policy=policy)
>>> [(d.day.isoformat(), dict(d.sent), dict(d.suppressed)) for d in days]
[('2026-12-01', {'email': 1}, {}), ('2026-12-02', {}, {'capped': 1}), ('2026-12-03', {}, {})]
>>> days[1].counts
(ForecastCount(trigger_id=2, outcome='suppressed', detail='capped', count=1),)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from .calendar import Calendar
from .rules import DEFAULT_POLICY, decide
from .values import Candidate, Outcome, PartnerFacts, Policy, Touch

SENT, SUPPRESSED, DEFERRED = "sent", "suppressed", "deferred"


@dataclass(frozen=True, slots=True)
class ForecastCount:
    """How many messages of one trigger one day would bring with one outcome: ``detail``
    is the channel for ``sent``, the reason code for ``suppressed`` and ``deferred``."""

    trigger_id: int
    outcome: str
    detail: str
    count: int


@dataclass(frozen=True, slots=True)
class ForecastDay:
    """What one simulated day would bring, per trigger: sends by the day they go out,
    suppressions and deferrals by the day they are decided. :attr:`sent`,
    :attr:`suppressed` and :attr:`deferred` sum them over the triggers."""

    day: date
    counts: tuple[ForecastCount, ...] = ()

    def _total(self, outcome: str) -> tuple[tuple[str, int], ...]:
        totals: Counter = Counter()
        for item in self.counts:
            if item.outcome == outcome:
                totals[item.detail] += item.count
        return tuple(sorted(totals.items()))

    @property
    def sent(self) -> tuple[tuple[str, int], ...]:
        """(channel, messages) pairs."""
        return self._total(SENT)

    @property
    def suppressed(self) -> tuple[tuple[str, int], ...]:
        """(reason code, messages) pairs."""
        return self._total(SUPPRESSED)

    @property
    def deferred(self) -> tuple[tuple[str, int], ...]:
        """(reason code, messages) pairs."""
        return self._total(DEFERRED)


def _count(result, day, day_of, seen, touches, tally):
    """Add one decision to ``tally`` {(day, trigger, outcome, detail): n} and, when it is
    sent, to the partner's simulated ledger."""
    candidate = result.candidate
    if result.outcome is Outcome.SEND:
        seen.add(candidate.key)
        key = (day_of(result.send_at), candidate.trigger_id, SENT, result.channel.value)
        touches.setdefault(candidate.partner_id, []).append(
            Touch(
                result.send_at,
                result.channel,
                candidate.trigger_id,
                candidate.topic,
                counts=candidate.message_class.value != "service",
            )
        )
    elif result.outcome is Outcome.DEFER:
        key = (day, candidate.trigger_id, DEFERRED, result.reason.value)
    else:
        seen.add(candidate.key)
        key = (day, candidate.trigger_id, SUPPRESSED, result.reason.value)
    tally[key] += 1


def forecast(
    candidates: Iterable[Candidate],
    facts: Mapping[int, PartnerFacts],
    *,
    start: datetime,
    days: int = 30,
    ledger: Mapping[int, Sequence[Touch]] | None = None,
    policy: Policy = DEFAULT_POLICY,
    decided: Collection[tuple[int, int, str]] = frozenset(),
    calendar: Calendar | None = None,
    timezone: str = "UTC",
) -> list[ForecastDay]:
    """Simulate ``days`` days from ``start`` (naive UTC); see the module documentation.

    Days are calendar days in ``timezone`` (the business's). Each candidate is offered
    on the day of its ``earliest`` moment (or the first day).
    """
    calendar = calendar or Calendar()
    zone = calendar.zone(timezone)

    def day_of(moment: datetime) -> date:
        return moment.replace(tzinfo=UTC).astimezone(zone).date()

    def midnight(day: date) -> datetime:
        local = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        return local.astimezone(UTC).replace(tzinfo=None)

    first_day = day_of(start)
    by_day: dict[date, list[Candidate]] = {}
    for candidate in candidates:
        due = max(day_of(candidate.earliest or start), first_day)
        by_day.setdefault(due, []).append(candidate)
    touches = {pid: list(items) for pid, items in (ledger or {}).items()}
    seen = set(decided)
    tally: Counter = Counter()
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        now = start if offset == 0 else midnight(day)
        pending = by_day.pop(day, [])
        for _pass in range(4):  # deferrals to later the same day are decided again today
            if not pending:
                break
            keys = {c.key for c in pending}
            results = decide(
                pending,
                facts,
                now=now,
                ledger=touches,
                policy=policy,
                decided=seen - keys,
                calendar=calendar,
            )
            pending = []
            for result in results:
                _count(result, day, day_of, seen, touches, tally)
                if result.outcome is Outcome.DEFER:
                    again = replace(
                        result.candidate,
                        earliest=result.send_at,
                        latest=datetime.fromisoformat(dict(result.params)["deadline"]),
                    )
                    if day_of(result.send_at) == day:
                        pending.append(again)
                    else:
                        by_day.setdefault(day_of(result.send_at), []).append(again)
    per_day: dict[date, list[ForecastCount]] = {}
    for (day, trigger_id, outcome, detail), count in sorted(tally.items()):
        per_day.setdefault(day, []).append(ForecastCount(trigger_id, outcome, detail, count))
    return [
        ForecastDay(day, tuple(per_day.get(day, ())))
        for day in (first_day + timedelta(days=i) for i in range(days))
    ]
