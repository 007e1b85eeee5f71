"""Contact pressure: what a partner already received, and what that forbids now.

A :class:`Pressure` holds one partner's touches: the ledger the host passed in (every
channel, including calls, letters and newsletters) plus what this run has planned. It
answers three questions about a moment ``at``:

- **caps**: would one more touch on a channel at ``at`` put more than ``limit`` touches
  into any rolling window of the rule's length? (Every window that contains ``at`` is
  checked, before and after it, so a send planned for later is respected too.)
- **cooldowns**: was this trigger or this topic executed closer to ``at`` than its
  cooldown?
- **arbitration**: does another trigger message reach the partner within the
  arbitration window around ``at``? It is the winner; the newcomer loses to it.

Each answer that blocks also says when the block ends, so a deferrable message can be
moved to the next free moment. Touches with ``counts=False`` (service messages) weigh
on none of them. Times are kept in sorted lists and searched by bisection, because this
runs once or more for every candidate.

>>> from datetime import datetime, timedelta
>>> from .values import CapRule, Channel, Touch
>>> day = timedelta(days=1)
>>> p = Pressure([Touch(datetime(2026, 1, 1), Channel.EMAIL),
...               Touch(datetime(2026, 1, 3), Channel.SMS)])
>>> rule = CapRule(limit=2, window=7 * day)
>>> blocked = p.cap_block(datetime(2026, 1, 4), Channel.EMAIL, (rule,))
>>> blocked[0] is rule, blocked[1]  # 1 January leaves the 7-day window on the 8th
(True, datetime.datetime(2026, 1, 8, 0, 0))
>>> p.cap_block(datetime(2026, 1, 4), Channel.SMS, (CapRule(1, 7 * day, Channel.SMS),))[1]
datetime.datetime(2026, 1, 10, 0, 0)
>>> p.cap_block(datetime(2026, 1, 4), Channel.EMAIL, (CapRule(1, 7 * day, Channel.SMS),))
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from datetime import datetime, timedelta

from .values import CapRule, Channel, Touch

_MAX_PROBES = 32


class Pressure:
    __slots__ = ("_all", "_by_channel", "_by_topic", "_by_trigger", "_messages", "_senders")

    def __init__(self, touches=()) -> None:
        self._all: list[datetime] = []
        self._by_channel: dict[Channel, list[datetime]] = {}
        self._by_trigger: dict[int, list[datetime]] = {}
        self._by_topic: dict[str, list[datetime]] = {}
        self._messages: list[datetime] = []  # touches sent by a trigger, for arbitration
        self._senders: list[tuple[datetime, int]] = []
        for touch in touches:
            self.add(touch)

    def __bool__(self) -> bool:
        return bool(self._all)

    def add(self, touch: Touch) -> None:
        if touch.counts:
            self.record(touch.at, touch.channel, touch.trigger_id, touch.topic)

    def record(self, at: datetime, channel: Channel, trigger_id=None, topic=None) -> None:
        """Count a marketing touch (what :meth:`add` does with a counting Touch)."""
        insort(self._all, at)
        insort(self._by_channel.setdefault(channel, []), at)
        if trigger_id is not None:
            insort(self._by_trigger.setdefault(trigger_id, []), at)
            insort(self._messages, at)
            insort(self._senders, (at, trigger_id))
        if topic is not None:
            insort(self._by_topic.setdefault(topic, []), at)

    # ------------------------------------------------------------------- caps

    def _times(self, channel: Channel | None) -> list[datetime]:
        if channel is None:
            return self._all
        return self._by_channel.get(channel, [])

    @staticmethod
    def _exceeds(times: list[datetime], at: datetime, rule: CapRule) -> bool:
        """Would a touch at ``at`` make some window of ``rule.window`` hold > limit?"""
        window = rule.window
        lo = bisect_right(times, at - window)
        hi = bisect_left(times, at + window)
        if hi - lo < rule.limit:
            return False
        near = times[lo:hi]
        # The fullest window containing ``at`` starts at ``at`` or at a touch before it.
        for start in [t for t in near if t <= at] + [at]:
            end = start + window
            if at < end and bisect_left(near, end) - bisect_left(near, start) + 1 > rule.limit:
                return True
        return False

    def cap_block(
        self, at: datetime, channel: Channel, caps: tuple[CapRule, ...]
    ) -> tuple[CapRule, datetime | None] | None:
        """The first cap a touch on ``channel`` at ``at`` would break, and when it is free.

        The free moment is the first one after ``at`` at which *every* cap allows the
        touch; None if none was found within the probes.
        """
        if not self._all:
            return None
        for rule in caps:
            if rule.channel is not None and rule.channel is not channel:
                continue
            times = self._all if rule.channel is None else self._by_channel.get(rule.channel)
            if times and self._exceeds(times, at, rule):
                return rule, self._free_after(at, channel, caps)
        return None

    def _free_after(self, at: datetime, channel: Channel, caps: tuple[CapRule, ...]):
        rules = [r for r in caps if r.channel is None or r.channel is channel]
        probes = sorted(
            {t + r.window for r in rules for t in self._times(r.channel) if t + r.window > at}
        )
        for probe in probes[:_MAX_PROBES]:
            if not any(self._exceeds(self._times(r.channel), probe, r) for r in rules):
                return probe
        return None

    # -------------------------------------------------------------- cooldowns

    @staticmethod
    def _latest_within(times: list[datetime], at: datetime, span: timedelta):
        """The latest time in ``times`` strictly closer than ``span`` to ``at``, or None."""
        hi = bisect_left(times, at + span)
        if hi and times[hi - 1] > at - span:
            return times[hi - 1]
        return None

    def cooldown_block(
        self,
        at: datetime,
        trigger_id: int,
        trigger_cooldown: timedelta | None,
        topic: str | None,
        topic_cooldown: timedelta | None,
    ) -> tuple[str, datetime, datetime] | None:
        """("trigger" or "topic", the touch time in the way, when the cooldown ends)."""
        if trigger_cooldown:
            times = self._by_trigger.get(trigger_id)
            last = times and self._latest_within(times, at, trigger_cooldown)
            if last:
                return "trigger", last, last + trigger_cooldown
        if topic_cooldown and topic is not None:
            times = self._by_topic.get(topic)
            last = times and self._latest_within(times, at, topic_cooldown)
            if last:
                return "topic", last, last + topic_cooldown
        return None

    # ------------------------------------------------------------ arbitration

    def rival(self, at: datetime, window: timedelta) -> tuple[datetime, int] | None:
        """The trigger message within ``window`` of ``at`` (the latest), as (time, trigger).

        Only messages sent by triggers compete; a salesperson's call or a newsletter
        weighs on the caps instead."""
        if not window or not self._messages:
            return None
        last = self._latest_within(self._messages, at, window)
        if last is None:
            return None
        index = bisect_right(self._senders, (last, float("inf"))) - 1
        return self._senders[index]
