"""Journeys: which steps of a multi-step programme are due for one participant, and when.

A journey is a tree of :class:`Step` values. Each step hangs under a parent step with a
:class:`Condition` on that parent (opened, not clicked within 7 days, order confirmed…),
waits, then runs its action. A :class:`Participant` is one partner's run through the
journey; its history is the :class:`Run` of every step it has reached (with the
:class:`Outcome`) and the :class:`Fact` values the host knows (engagement, activities,
orders). :func:`plan` answers: which steps are due now, which need the host to evaluate
a filter, when to look again, and whether anything can still run. The message of a due
step is then decided by :func:`~.rules.decide` like any trigger message.

All datetimes are naive UTC. The rules:

1. **Roots** (no parent) are due at ``entered_at + wait``.
2. **Always** under a parent: at ``parent run + wait``, once the parent's outcome is
   final (sent, not sent or done). **Not sent**: the same, but only when the parent's
   message was suppressed or dropped (the fallback branch).
3. **Positive conditions** (opened, clicked, replied, bounced, activity done/cancelled,
   order confirmed) are due at ``first matching fact + wait``: the first fact at or after
   the parent's run, and at or before the end of the window (the step's own ``window``,
   and the deadline of every active negative sibling of the same condition). A click
   counts as an open (images are often blocked). Of an activity, the first of done or
   cancelled decides.
4. **Negative conditions** (not opened/clicked/replied, activity overdue, order not
   confirmed) are due at ``parent run + window + wait`` if no matching fact came up to
   that deadline. So the two branches of one condition are exclusive; and once one
   branch has run, its siblings of the same condition never become due, whatever the
   history says later.
5. **Message conditions** need the parent's outcome ``SENT`` (activities: ``SENT`` or
   ``DONE``), **not sent** needs ``NOT_SENT``, and none can hang under a step that sends
   no message. A ``PENDING`` parent (deferred, or delivery not final) holds its children:
   windows count from the run's ``at`` once it is ``SENT``, which is when the message
   actually left. A ``FAILED`` parent ends its branch.
6. **Matches / does not match**: when the step's wait is over, the host says through
   ``matches[step_id]`` whether the contact matches the step's filter; until it does, the
   step is listed in :attr:`Plan.needs_match` instead of being due.
7. **A/B split**: of sibling ``SPLIT`` steps only the branch :func:`split_branch` picks
   for the participant ever runs (archived branches keep their share, so nobody moves).
8. **Waits** in ``days`` keep the local clock time in the participant's time zone
   (9:00 stays 9:00 across a DST change); ``hours`` are absolute. With an ``anchor`` (a
   date of the contact, order or delivery resolved by the host) the wait counts from the
   anchor instead and may be negative ("3 days before delivery"), but a step is never due
   before its parent ran and its condition was met.
9. A step that has run never runs again; archived steps and their subtrees never run;
   ``done``, ``exited``, ``holdout`` and ``paused`` participants get nothing (a resumed
   participant gets the same plan as if it had never been paused). The same inputs in any
   order give the same plan.

>>> from datetime import datetime, timedelta
>>> day = timedelta(days=1)
>>> steps = [Step(1, None), Step(2, 1, Condition.OPENED, wait=2 * day, wait_unit="days"),
...          Step(3, 1, Condition.NOT_OPENED, window=30 * day)]
>>> ada = Participant("journey:1:participant:1", datetime(2026, 3, 1, 8), "Europe/Berlin")
>>> plan(steps, ada, [], [], now=datetime(2026, 3, 1, 9)).due
(Due(step_id=1, due_at=datetime.datetime(2026, 3, 1, 8, 0), reason='Entered the journey.'),)
>>> sent = [Run(1, datetime(2026, 3, 1, 9), Outcome.SENT)]
>>> p = plan(steps, ada, sent, [], now=datetime(2026, 3, 2))
>>> p.due, p.next_check, p.finished
((), datetime.datetime(2026, 3, 31, 9, 0), False)

Opened on Friday 27 March at 11:00 in Berlin; two days later is Sunday 29 March, the day
summer time begins: still 11:00 local time, which is 09:00 UTC.

>>> opened = [Fact("opened", 1, datetime(2026, 3, 27, 10))]
>>> [(d.step_id, d.due_at) for d in plan(steps, ada, sent, opened, datetime(2026, 4, 1)).due]
[(2, datetime.datetime(2026, 3, 29, 9, 0))]
>>> plan(steps, ada, sent + [Run(2, datetime(2026, 3, 29, 9), "sent")], opened,
...      datetime(2026, 4, 1)).finished
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .journey_stats import Uplift, in_holdout, split_branch, uplift  # noqa: F401 - public API


class Condition(str, Enum):
    """What must have happened after the parent step for a child step to run."""

    ALWAYS = "always"
    OPENED = "opened"
    NOT_OPENED = "not_opened"
    CLICKED = "clicked"  # optionally one link (Step.link_id)
    NOT_CLICKED = "not_clicked"
    REPLIED = "replied"
    NOT_REPLIED = "not_replied"
    BOUNCED = "bounced"
    NOT_SENT = "not_sent"  # the parent's message was suppressed or dropped by the engine
    ACTIVITY_DONE = "activity_done"
    ACTIVITY_CANCELLED = "activity_cancelled"
    ACTIVITY_OVERDUE = "activity_overdue"  # still open at parent run + window
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_NOT_CONFIRMED = "order_not_confirmed"
    MATCHES = "matches"  # the host evaluates the filter: plan(..., matches={step_id: bool})
    NOT_MATCHES = "not_matches"
    SPLIT = "split"  # A/B branch: split_percent of the sibling SPLIT steps


class WaitUnit(str, Enum):
    HOURS = "hours"  # absolute
    DAYS = "days"  # same local clock time N days later, in the participant's time zone


class Outcome(str, Enum):
    """How a step's run ended, as far as the host knows."""

    SENT = "sent"
    NOT_SENT = "not_sent"  # suppressed or dropped by the decision engine
    DONE = "done"  # an action without a message (tags, list, exit…)
    PENDING = "pending"  # decided but delivery not final, or deferred by the engine
    FAILED = "failed"


class FactKind(str, Enum):
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    BOUNCED = "bounced"
    ACTIVITY_DONE = "activity_done"
    ACTIVITY_CANCELLED = "activity_cancelled"
    ORDER_CONFIRMED = "order_confirmed"


class ParticipantState(str, Enum):
    RUNNING = "running"
    DONE = "done"
    EXITED = "exited"
    HOLDOUT = "holdout"
    PAUSED = "paused"


@dataclass(frozen=True)
class Step:
    id: int
    parent_id: int | None
    condition: Condition = Condition.ALWAYS
    window: timedelta | None = None  # required by the negative conditions
    wait: timedelta = timedelta(0)
    wait_unit: WaitUnit = WaitUnit.HOURS
    anchor: datetime | None = None  # the wait counts from this moment (may be negative)
    link_id: int | None = None  # CLICKED / NOT_CLICKED: only this link
    split_percent: int = 0
    active: bool = True  # archived steps and their subtrees never run
    sends_message: bool = True  # False for actions without a message (tags, exit…)

    def __post_init__(self):
        object.__setattr__(self, "condition", Condition(self.condition))
        object.__setattr__(self, "wait_unit", WaitUnit(self.wait_unit))


@dataclass(frozen=True)
class Run:
    step_id: int
    at: datetime  # when the outcome was reached; for SENT, when the message left
    outcome: Outcome

    def __post_init__(self):
        object.__setattr__(self, "outcome", Outcome(self.outcome))


@dataclass(frozen=True)
class Fact:
    kind: str  # a FactKind value; other kinds are ignored
    step_id: int | None  # the step whose message/activity it concerns; None: the participant
    at: datetime
    link_id: int | None = None


@dataclass(frozen=True)
class Participant:
    key: str  # stable, e.g. "journey:3:participant:17": decides the A/B branch
    entered_at: datetime
    tz: str = "UTC"
    state: ParticipantState = ParticipantState.RUNNING


@dataclass(frozen=True)
class Due:
    step_id: int
    due_at: datetime
    reason: str


@dataclass(frozen=True)
class Plan:
    due: tuple[Due, ...]  # by due_at, then step id
    next_check: datetime | None  # earliest future moment the plan may change by itself
    finished: bool  # nothing can ever run again
    needs_match: tuple[int, ...] = ()  # MATCHES/NOT_MATCHES steps awaiting the host's answer


_NEGATIVE = {
    Condition.NOT_OPENED,
    Condition.NOT_CLICKED,
    Condition.NOT_REPLIED,
    Condition.ACTIVITY_OVERDUE,
    Condition.ORDER_NOT_CONFIRMED,
}
# condition -> (family, fact kinds that settle the family, fact kind the step wants)
_FAMILY = {
    Condition.OPENED: ("opened", {"opened", "clicked"}, None),
    Condition.NOT_OPENED: ("opened", {"opened", "clicked"}, None),
    Condition.CLICKED: ("clicked", {"clicked"}, None),
    Condition.NOT_CLICKED: ("clicked", {"clicked"}, None),
    Condition.REPLIED: ("replied", {"replied"}, None),
    Condition.NOT_REPLIED: ("replied", {"replied"}, None),
    Condition.BOUNCED: ("bounced", {"bounced"}, None),
    Condition.ACTIVITY_DONE: ("activity", {"activity_done", "activity_cancelled"}, "activity_done"),
    Condition.ACTIVITY_CANCELLED: (
        "activity",
        {"activity_done", "activity_cancelled"},
        "activity_cancelled",
    ),
    Condition.ACTIVITY_OVERDUE: ("activity", {"activity_done", "activity_cancelled"}, None),
    Condition.ORDER_CONFIRMED: ("order", {"order_confirmed"}, None),
    Condition.ORDER_NOT_CONFIRMED: ("order", {"order_confirmed"}, None),
    Condition.MATCHES: ("matches", set(), None),
    Condition.NOT_MATCHES: ("matches", set(), None),
}
_MESSAGE = {c for c, (fam, _k, _w) in _FAMILY.items() if fam in ("opened", "clicked", "replied")}
_MESSAGE |= {Condition.BOUNCED, Condition.NOT_SENT}
_ACTIVITY = {Condition.ACTIVITY_DONE, Condition.ACTIVITY_CANCELLED, Condition.ACTIVITY_OVERDUE}
_ROOT_OK = {Condition.ALWAYS, Condition.SPLIT, Condition.MATCHES, Condition.NOT_MATCHES}
_ROOT_OK |= {Condition.ORDER_CONFIRMED, Condition.ORDER_NOT_CONFIRMED}
_FINAL = {Outcome.SENT, Outcome.NOT_SENT, Outcome.DONE}
_LABEL = {
    Condition.OPENED: "opened",
    Condition.CLICKED: "clicked",
    Condition.REPLIED: "replied to",
    Condition.BOUNCED: "bounced",
    Condition.ACTIVITY_DONE: "had its activity done",
    Condition.ACTIVITY_CANCELLED: "had its activity cancelled",
    Condition.ORDER_CONFIRMED: "was followed by a confirmed order",
    Condition.NOT_OPENED: "was not opened",
    Condition.NOT_CLICKED: "was not clicked",
    Condition.NOT_REPLIED: "got no reply",
    Condition.ACTIVITY_OVERDUE: "left its activity open",
    Condition.ORDER_NOT_CONFIRMED: "was followed by no confirmed order",
}

# Status of one step while planning: ("ran",), ("dead",), ("due", at, reason),
# ("wait", check_or_None), ("match", at)
_RAN, _DEAD = ("ran",), ("dead",)
_WAIT = ("wait", None)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # an unknown zone must not stop the journey


def _kind(fact: Fact) -> str:
    return fact.kind.value if isinstance(fact.kind, Enum) else str(fact.kind)


def add_wait(at: datetime, wait: timedelta, unit: str, tz: str | None = "UTC") -> datetime:
    """``at + wait``; for ``days``, the same local clock time in ``tz`` (naive UTC in/out)."""
    if unit != WaitUnit.DAYS or not wait:
        return at + wait
    zone = _zone(tz)
    local = at.replace(tzinfo=UTC).astimezone(zone) + wait  # wall-clock arithmetic
    return local.astimezone(UTC).replace(tzinfo=None)


def plan(
    steps: Iterable[Step],
    participant: Participant,
    runs: Iterable[Run],
    facts: Iterable[Fact],
    now: datetime,
    matches: Mapping[int, bool] | None = None,
) -> Plan:
    """The steps due for ``participant`` at ``now``; see the module documentation."""
    planner = _Planner(steps, participant, runs, facts, now, matches or {})
    status = {sid: planner.status(sid) for sid in sorted(planner.steps)}
    finished = all(s[0] in ("ran", "dead") for s in status.values())
    if participant.state != ParticipantState.RUNNING:
        paused = participant.state == ParticipantState.PAUSED
        return Plan((), None, finished if paused else True)
    due = sorted(
        (Due(sid, s[1], s[2]) for sid, s in status.items() if s[0] == "due"),
        key=lambda d: (d.due_at, d.step_id),
    )
    checks = [s[1] for s in status.values() if s[0] == "wait" and s[1] and s[1] > now]
    needs = tuple(sorted(sid for sid, s in status.items() if s[0] == "match"))
    return Plan(tuple(due), min(checks, default=None), finished, needs)


class _Planner:
    def __init__(self, steps, participant, runs, facts, now, matches):
        # Duplicate ids are a definition error (validate); keep one, chosen by content.
        self.steps = {s.id: s for s in sorted(steps, key=lambda s: (s.id, repr(s)))}
        self.runs: dict[int, Run] = {}
        for run in sorted(runs, key=lambda r: (r.at, r.outcome.value), reverse=True):
            self.runs[run.step_id] = run  # the earliest run of a step counts
        self.facts = sorted(
            facts, key=lambda f: (f.at, str(f.kind), f.step_id or 0, f.link_id or 0)
        )
        self.children: dict[int | None, list[Step]] = {}
        for step in self.steps.values():
            self.children.setdefault(step.parent_id, []).append(step)
        self.participant, self.now, self.matches = participant, now, matches
        self.memo: dict[int, tuple] = {}
        self.visiting: set[int] = set()

    def status(self, sid: int) -> tuple:
        if sid in self.memo:
            return self.memo[sid]
        if sid in self.visiting:
            return _DEAD  # a cycle: never reachable from a root
        self.visiting.add(sid)
        result = self._evaluate(self.steps[sid])
        self.visiting.discard(sid)
        self.memo[sid] = result
        return result

    def alive(self, step: Step) -> bool:
        """Active, and every ancestor known, active and not in a cycle."""
        seen = set()
        while step is not None:
            if not step.active or step.id in seen:
                return False
            seen.add(step.id)
            if step.parent_id is None:
                return True
            step = self.steps.get(step.parent_id)
        return False

    def _evaluate(self, step: Step) -> tuple:
        if step.id in self.runs:
            return _RAN
        if not self.alive(step):
            return _DEAD
        if step.parent_id is None:
            base = Run(0, self.participant.entered_at, Outcome.DONE)
            return self._condition(step, None, base)
        parent_status = self.status(step.parent_id)
        if parent_status is _DEAD:
            return _DEAD
        if parent_status is not _RAN:
            return _WAIT
        return self._condition(step, self.steps[step.parent_id], self.runs[step.parent_id])

    def _at(self, step: Step, base: datetime) -> datetime:
        tz = self.participant.tz
        if step.anchor is None:
            return add_wait(base, step.wait, step.wait_unit, tz)
        return max(base, add_wait(step.anchor, step.wait, step.wait_unit, tz))

    def _timed(self, at: datetime, reason: str) -> tuple:
        return ("due", at, reason) if at <= self.now else ("wait", at)

    def _condition(self, step: Step, parent: Step | None, run: Run) -> tuple:
        cond = step.condition
        if parent is None and cond not in _ROOT_OK:
            return _DEAD
        if parent is not None and not parent.sends_message and cond in _MESSAGE | _ACTIVITY:
            return _DEAD
        siblings = [s for s in self.children[step.parent_id] if s.id != step.id]
        family = _FAMILY.get(cond, (None,))[0]
        for other in siblings:
            same = (
                other.condition == Condition.SPLIT
                if cond == Condition.SPLIT
                else (
                    _FAMILY.get(other.condition, (None,))[0] == family
                    and family is not None
                    and other.condition != cond
                    and other.link_id == step.link_id
                )
            )
            if same and other.id in self.runs:
                return _DEAD  # the other branch of this condition was taken
        wanted = {Outcome.NOT_SENT} if cond == Condition.NOT_SENT else _FINAL
        if cond in _MESSAGE and cond != Condition.NOT_SENT:
            wanted = {Outcome.SENT}
        elif cond in _ACTIVITY:
            wanted = {Outcome.SENT, Outcome.DONE}
        if run.outcome == Outcome.PENDING:
            return _WAIT
        if run.outcome not in wanted:
            return _DEAD
        after = f"step {parent.id}" if parent else "entering the journey"
        if cond in (Condition.ALWAYS, Condition.NOT_SENT, Condition.SPLIT):
            if cond == Condition.SPLIT:
                branches = [
                    (s.id, s.split_percent)
                    for s in [step, *siblings]
                    if s.condition == Condition.SPLIT
                ]
                if split_branch(self.participant.key, step.parent_id, branches) != step.id:
                    return _DEAD
            what = "Entered the journey." if parent is None else f"After step {parent.id}."
            if cond == Condition.NOT_SENT:
                what = f"The message of step {parent.id} was not sent."
            return self._timed(self._at(step, run.at), what)
        if family == "matches":
            at = self._at(step, run.at)
            if at > self.now:
                return ("wait", at)
            if step.id not in self.matches:
                return ("match", at)
            if bool(self.matches[step.id]) != (cond == Condition.MATCHES):
                return _DEAD
            verb = "matches" if cond == Condition.MATCHES else "does not match"
            return self._timed(at, f"The contact {verb} the filter, after {after}.")
        return self._engagement(step, parent, run, siblings)

    def _engagement(self, step: Step, parent: Step | None, run: Run, siblings) -> tuple:
        cond = step.condition
        family, kinds, wanted_kind = _FAMILY[cond]
        pid = parent.id if parent else None
        first = None
        for fact in self.facts:
            if _kind(fact) not in kinds or fact.at < run.at:
                continue
            # Orders concern the participant; a reply may be reported for it too.
            if fact.step_id != pid and not (
                family == "order" or (family == "replied" and fact.step_id is None)
            ):
                continue
            if family == "clicked" and step.link_id is not None and fact.link_id != step.link_id:
                continue
            first = fact
            break
        label = f"step {pid}" if pid else "the entry"
        if cond in _NEGATIVE:
            if step.window is None:
                return _DEAD  # invalid definition (validate says so)
            deadline = run.at + step.window
            if first is not None and first.at <= deadline:
                return _DEAD
            if deadline > self.now:
                return ("wait", self._at(step, deadline))
            when = f"{deadline:%Y-%m-%d %H:%M}"
            return self._timed(self._at(step, deadline), f"{label} {_LABEL[cond]} by {when}.")
        bounds = [run.at + step.window] if step.window is not None else []
        bounds += [
            run.at + s.window
            for s in siblings
            if s.condition in _NEGATIVE
            and s.window is not None
            and s.active
            and _FAMILY[s.condition][0] == family
            and s.link_id == step.link_id
        ]
        bound = min(bounds, default=None)
        if first is None or (bound is not None and first.at > bound):
            if bound is not None and (first is not None or self.now >= bound):
                return _DEAD
            return ("wait", bound)
        if wanted_kind is not None and _kind(first) != wanted_kind:
            return _DEAD
        what = f"{label.capitalize()} {_LABEL[cond]} at {first.at:%Y-%m-%d %H:%M}."
        return self._timed(self._at(step, first.at), what)


def validate(steps: Iterable[Step]) -> list[str]:
    """Problems of a journey's definition, in words a marketing user understands."""
    steps = list(steps)
    if not steps:
        return ["The journey has no step."]
    problems: list[str] = []
    by_id: dict[int, Step] = {}
    for step in steps:
        if step.id in by_id:
            problems.append(f"Step {step.id} is defined twice.")
        by_id[step.id] = step
    if not any(s.parent_id is None for s in steps):
        problems.append("The journey has no first step (a step without a previous step).")
    for step in sorted(by_id.values(), key=lambda s: s.id):
        name, cond = f"Step {step.id}", step.condition
        parent = by_id.get(step.parent_id) if step.parent_id is not None else None
        if step.parent_id is not None and parent is None:
            problems.append(f"{name} follows step {step.parent_id}, which does not exist.")
        seen, node = {step.id}, parent
        while node is not None:
            if node.id in seen:
                problems.append(f"{name} is part of a loop of steps.")
                break
            seen.add(node.id)
            node = by_id.get(node.parent_id) if node.parent_id is not None else None
        if step.wait < timedelta(0) and step.anchor is None:
            problems.append(f"{name} has a negative wait; only a wait from a date may be.")
        if cond in _NEGATIVE and (step.window is None or step.window <= timedelta(0)):
            problems.append(f"{name}: '{cond.value}' needs a time window (within how long).")
        if step.parent_id is None and cond not in _ROOT_OK:
            problems.append(f"{name}: '{cond.value}' needs a previous step.")
        if parent is not None and not parent.sends_message and cond in _MESSAGE | _ACTIVITY:
            problems.append(
                f"{name}: '{cond.value}' needs a message at step {parent.id}, which sends none."
            )
        if step.link_id is not None and cond not in (Condition.CLICKED, Condition.NOT_CLICKED):
            problems.append(f"{name}: a link only makes sense for a 'clicked' condition.")
    groups: dict[int | None, list[Step]] = {}
    for step in by_id.values():
        if step.condition == Condition.SPLIT:
            groups.setdefault(step.parent_id, []).append(step)
    for parent_id, group in sorted(groups.items(), key=lambda kv: kv[0] or 0):
        after = f"after step {parent_id}" if parent_id is not None else "at the start"
        if not 2 <= len(group) <= 4:
            problems.append(f"An A/B split {after} needs 2 to 4 branches, not {len(group)}.")
        if any(s.split_percent <= 0 for s in group):
            problems.append(f"Every branch of the A/B split {after} needs a share above 0%.")
        total = sum(s.split_percent for s in group)
        if total != 100:
            problems.append(f"The shares of the A/B split {after} sum to {total}%, not 100%.")
    return problems
