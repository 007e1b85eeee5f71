"""Journey scheduling: the rules of engine.journeys on examples, and its invariants on
generated trees and histories (hypothesis), including a simulation of a participant
going through a journey run after run."""

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.journeys import (
    Condition,
    Fact,
    Outcome,
    Participant,
    Run,
    Step,
    add_wait,
    in_holdout,
    plan,
    split_branch,
    uplift,
    validate,
)

C = Condition
T0 = datetime(2026, 3, 1, 8, 0)
H, D = timedelta(hours=1), timedelta(days=1)
EXAMPLES = settings()  # max_examples and deadline come from the profile (conftest.py)
ADA = Participant("journey:1:participant:1", T0, "Europe/Berlin")
FAMILY = {
    C.OPENED: "opened",
    C.NOT_OPENED: "opened",
    C.CLICKED: "clicked",
    C.NOT_CLICKED: "clicked",
    C.REPLIED: "replied",
    C.NOT_REPLIED: "replied",
    C.ACTIVITY_DONE: "activity",
    C.ACTIVITY_CANCELLED: "activity",
    C.ACTIVITY_OVERDUE: "activity",
    C.ORDER_CONFIRMED: "order",
    C.ORDER_NOT_CONFIRMED: "order",
    C.MATCHES: "matches",
    C.NOT_MATCHES: "matches",
    C.SPLIT: "split",
}
MESSAGE = {C.OPENED, C.NOT_OPENED, C.CLICKED, C.NOT_CLICKED, C.REPLIED, C.NOT_REPLIED}
MESSAGE |= {C.BOUNCED}
NEGATIVE = {C.NOT_OPENED, C.NOT_CLICKED, C.NOT_REPLIED, C.ACTIVITY_OVERDUE}
NEGATIVE |= {C.ORDER_NOT_CONFIRMED}


def due_ids(result):
    return [d.step_id for d in result.due]


# ------------------------------------------------------------------ examples


def test_root_is_due_at_entry_plus_wait_and_anchor_may_count_backwards():
    steps = [Step(1, None, wait=2 * H), Step(2, None, wait=-3 * D, anchor=T0 + 10 * D)]
    assert due_ids(plan(steps, ADA, [], [], T0 + H)) == []
    result = plan(steps, ADA, [], [], T0 + 7 * D)
    # Three (local) days before the delivery date, not before entry.
    assert [(d.step_id, d.due_at) for d in result.due] == [(1, T0 + 2 * H), (2, T0 + 7 * D)]
    late = Step(3, None, wait=-3 * D, anchor=T0 + D)  # the date was already near at entry
    assert plan([late], ADA, [], [], T0).due[0].due_at == T0


def test_always_follows_the_parent_run_whatever_its_final_outcome():
    steps = [Step(1, None), Step(2, 1, wait=3 * D, wait_unit="days")]
    for outcome in ("sent", "not_sent", "done"):
        runs = [Run(1, T0, outcome)]
        assert plan(steps, ADA, runs, [], T0 + 3 * D - H).next_check == T0 + 3 * D
        assert due_ids(plan(steps, ADA, runs, [], T0 + 3 * D)) == [2]
    for outcome in ("pending", "failed"):
        result = plan(steps, ADA, [Run(1, T0, outcome)], [], T0 + 30 * D)
        assert due_ids(result) == []
        assert result.finished is (outcome == "failed")


def test_opened_and_not_opened_are_exclusive_around_the_deadline():
    steps = [Step(1, None), Step(2, 1, C.OPENED), Step(3, 1, C.NOT_OPENED, window=7 * D)]
    sent = [Run(1, T0, Outcome.SENT)]
    before = [Fact("opened", 1, T0 + 7 * D)]  # exactly at the deadline: still in time
    after = [Fact("opened", 1, T0 + 7 * D + H)]
    assert due_ids(plan(steps, ADA, sent, before, T0 + 9 * D)) == [2]
    assert due_ids(plan(steps, ADA, sent, after, T0 + 9 * D)) == [3]
    assert plan(steps, ADA, sent, [], T0 + D).next_check == T0 + 7 * D
    # The negative branch ran; an open reported late (dated before the deadline) changes
    # nothing.
    ran = [*sent, Run(3, T0 + 7 * D, Outcome.SENT)]
    result = plan(steps, ADA, ran, [Fact("opened", 1, T0 + 2 * D)], T0 + 9 * D)
    assert due_ids(result) == [] and result.finished


def test_a_click_counts_as_an_open_and_clicks_can_be_on_one_link():
    steps = [
        Step(1, None),
        Step(2, 1, C.OPENED, wait=H),
        Step(3, 1, C.CLICKED, link_id=7),
        Step(4, 1, C.NOT_CLICKED, window=2 * D, link_id=7),
    ]
    sent = [Run(1, T0, Outcome.SENT)]
    other_link = [Fact("clicked", 1, T0 + H, link_id=8)]
    assert due_ids(plan(steps, ADA, sent, other_link, T0 + 3 * D)) == [2, 4]
    right_link = [Fact("clicked", 1, T0 + H, link_id=7)]
    result = plan(steps, ADA, sent, right_link, T0 + 3 * D)
    assert [(d.step_id, d.due_at) for d in result.due] == [(3, T0 + H), (2, T0 + 2 * H)]


def test_message_conditions_need_a_sent_message_and_count_from_the_sending():
    steps = [
        Step(1, None),
        Step(2, 1, C.NOT_SENT),
        Step(3, 1, C.NOT_OPENED, window=D),
        Step(4, 1, C.BOUNCED),
    ]
    pending = plan(steps, ADA, [Run(1, T0, "pending")], [], T0 + 5 * D)
    assert due_ids(pending) == [] and not pending.finished and pending.next_check is None
    # Deferred by the engine, sent two days later: the window starts then.
    sent = [Run(1, T0 + 2 * D, Outcome.SENT)]
    assert due_ids(plan(steps, ADA, sent, [], T0 + 2 * D + 23 * H)) == []
    assert due_ids(plan(steps, ADA, sent, [], T0 + 3 * D)) == [3]
    bounced = [Fact("bounced", 1, T0 + 2 * D + H)]
    assert due_ids(plan(steps, ADA, sent, bounced, T0 + 3 * D)) == [4, 3]
    assert due_ids(plan(steps, ADA, [Run(1, T0, "not_sent")], [], T0 + 3 * D)) == [2]


def test_engagement_under_a_step_without_message_never_runs():
    steps = [Step(1, None, sends_message=False), Step(2, 1, C.OPENED), Step(3, 1)]
    runs = [Run(1, T0, Outcome.DONE)]
    assert due_ids(plan(steps, ADA, runs, [Fact("opened", 1, T0 + H)], T0 + D)) == [3]
    assert any("sends none" in p for p in validate(steps))


def test_activity_done_cancelled_or_overdue():
    steps = [
        Step(1, None),
        Step(2, 1, C.ACTIVITY_DONE),
        Step(3, 1, C.ACTIVITY_CANCELLED),
        Step(4, 1, C.ACTIVITY_OVERDUE, window=2 * D),
    ]
    runs = [Run(1, T0, Outcome.SENT)]
    done_then_cancelled = [
        Fact("activity_cancelled", 1, T0 + 5 * H),
        Fact("activity_done", 1, T0 + 4 * H),
    ]
    assert due_ids(plan(steps, ADA, runs, done_then_cancelled, T0 + 3 * D)) == [2]
    late = [Fact("activity_done", 1, T0 + 2 * D + H)]
    assert due_ids(plan(steps, ADA, runs, late, T0 + 3 * D)) == [4]


def test_order_confirmed_concerns_the_participant():
    steps = [
        Step(1, None),
        Step(2, 1, C.ORDER_CONFIRMED),
        Step(3, 1, C.ORDER_NOT_CONFIRMED, window=30 * D),
    ]
    runs = [Run(1, T0, Outcome.NOT_SENT)]
    assert due_ids(plan(steps, ADA, runs, [Fact("order_confirmed", None, T0 + D)], T0 + D)) == [2]
    earlier = [Fact("order_confirmed", None, T0 - D)]  # before the parent ran: not a reaction
    assert due_ids(plan(steps, ADA, runs, earlier, T0 + 31 * D)) == [3]


def test_matches_asks_the_host_once_the_wait_is_over():
    steps = [Step(1, None), Step(2, 1, C.MATCHES, wait=D), Step(3, 1, C.NOT_MATCHES, wait=D)]
    runs = [Run(1, T0, Outcome.SENT)]
    early = plan(steps, ADA, runs, [], T0 + H)
    assert early.needs_match == () and early.next_check == T0 + D
    asking = plan(steps, ADA, runs, [], T0 + 2 * D)
    assert asking.needs_match == (2, 3) and asking.due == ()
    told = plan(steps, ADA, runs, [], T0 + 2 * D, matches={2: False, 3: False})
    assert due_ids(told) == [3] and told.needs_match == ()


def test_days_keep_the_local_clock_across_dst_and_hours_do_not():
    # 28 March 2026, 09:00 in Berlin (08:00 UTC); summer time starts on the 29th.
    at = datetime(2026, 3, 28, 8)
    assert add_wait(at, 2 * D, "days", "Europe/Berlin") == datetime(2026, 3, 30, 7)
    assert add_wait(at, 48 * H, "hours", "Europe/Berlin") == datetime(2026, 3, 30, 8)
    assert add_wait(at, 2 * D, "days", "Nowhere/Bad") == datetime(2026, 3, 30, 8)
    # Back to winter time in New York on 1 November 2026.
    assert add_wait(datetime(2026, 10, 31, 13), D, "days", "America/New_York") == datetime(
        2026, 11, 1, 14
    )


@pytest.mark.parametrize("state", ["done", "exited", "holdout", "paused"])
def test_only_running_participants_get_steps(state):
    steps = [Step(1, None), Step(2, 1, wait=D)]
    who = Participant("k", T0, "UTC", state)
    result = plan(steps, who, [Run(1, T0, "sent")], [], T0 + 2 * D)
    assert result.due == () and result.next_check is None
    assert result.finished is (state != "paused")


def test_archived_steps_and_their_subtrees_never_run():
    steps = [Step(1, None), Step(2, 1, active=False), Step(3, 2), Step(4, 1)]
    result = plan(steps, ADA, [Run(1, T0, "sent"), Run(2, T0, "sent")], [], T0 + D)
    assert due_ids(result) == [4]


def test_split_proportions():
    branches = [(11, 50), (12, 30), (13, 20)]
    counts = {11: 0, 12: 0, 13: 0}
    for n in range(10_000):
        counts[split_branch(f"journey:1:participant:{n}", 5, branches)] += 1
    assert abs(counts[11] - 5000) <= 200
    assert abs(counts[12] - 3000) <= 200
    assert abs(counts[13] - 2000) <= 200
    # Order of the branches and the process do not matter.
    assert split_branch("x", 5, branches) == split_branch("x", 5, branches[::-1])


def test_holdout_is_deterministic_and_proportional():
    members = [p for p in range(10_000) if in_holdout(3, p, 10)]
    assert members == [p for p in range(10_000) if in_holdout(3, p, 10)]
    assert 800 <= len(members) <= 1200
    assert not any(in_holdout(3, p, 0) for p in range(100))
    assert all(in_holdout(3, p, 100) for p in range(100))
    assert set(members) != {p for p in range(10_000) if in_holdout(4, p, 10)}


def test_uplift_on_a_hand_computed_example():
    # p1 = 120/1000 = 0.12, p2 = 90/1000 = 0.09, uplift 0.03.
    # Unpooled SE = sqrt(.12*.88/1000 + .09*.91/1000) = sqrt(.0001875) = 0.013693;
    # 1.96 * 0.013693 = 0.026838, so the 95% CI is [0.00316, 0.05684].
    # Pooled p = 0.105, SE = sqrt(.105*.895*2/1000) = 0.013710, z = 2.188, p = 0.0287.
    u = uplift(1000, 120, 1000, 90)
    assert (u.rate_treat, u.rate_hold) == (0.12, 0.09)
    assert u.uplift == pytest.approx(0.03)
    assert u.ci_low == pytest.approx(0.00316, abs=1e-5)
    assert u.ci_high == pytest.approx(0.05684, abs=1e-5)
    assert u.z == pytest.approx(2.188, abs=1e-3)
    assert u.p_value == pytest.approx(0.0287, abs=1e-4)
    assert u.significant


@pytest.mark.parametrize(
    "args", [(0, 0, 0, 0), (10, 0, 10, 0), (10, 10, 10, 10), (0, 0, 50, 5), (50, 5, 0, 0)]
)
def test_uplift_never_divides_by_zero(args):
    u = uplift(*args)
    assert u.ci_low <= u.uplift <= u.ci_high and 0 <= u.p_value <= 1 and not u.significant


def test_uplift_refuses_impossible_counts():
    with pytest.raises(ValueError):
        uplift(10, 11, 10, 1)


@pytest.mark.parametrize(
    "steps, expected",
    [
        ([], "no step"),
        ([Step(1, 2), Step(2, 1)], "no first step"),
        ([Step(1, None), Step(2, 3), Step(3, 2)], "loop"),
        ([Step(1, None), Step(2, 9)], "does not exist"),
        ([Step(1, None), Step(1, None)], "twice"),
        ([Step(1, None, wait=-D)], "negative wait"),
        ([Step(1, None), Step(2, 1, C.NOT_OPENED)], "time window"),
        ([Step(1, None, C.OPENED)], "needs a previous step"),
        ([Step(1, None), Step(2, 1, C.OPENED, link_id=3)], "link"),
        ([Step(1, None), Step(2, 1, C.SPLIT, split_percent=100)], "2 to 4 branches"),
        ([Step(1, None), *(Step(i, 1, C.SPLIT, split_percent=20) for i in range(2, 7))], "2 to 4"),
        (
            [
                Step(1, None),
                Step(2, 1, C.SPLIT, split_percent=60),
                Step(3, 1, C.SPLIT, split_percent=30),
            ],
            "sum to 90%",
        ),
    ],
)
def test_validate_explains_bad_definitions(steps, expected):
    assert any(expected in problem for problem in validate(steps)), validate(steps)


def test_validate_accepts_a_good_journey():
    steps = [
        Step(1, None),
        Step(2, 1, C.OPENED),
        Step(3, 1, C.NOT_OPENED, window=7 * D),
        Step(4, 3, C.SPLIT, split_percent=70),
        Step(5, 3, C.SPLIT, split_percent=30),
        Step(6, None, wait=-3 * D, anchor=T0),
    ]
    assert validate(steps) == []


# ------------------------------------------------------------------ properties

CONDITIONS = st.just(C.ALWAYS) | st.sampled_from(list(Condition))
# Pairs of opposite branches, and splits, are where exclusivity matters: generate many.
PAIRS = [
    (C.OPENED, C.NOT_OPENED),
    (C.CLICKED, C.NOT_CLICKED),
    (C.REPLIED, C.NOT_REPLIED),
    (C.ACTIVITY_DONE, C.ACTIVITY_OVERDUE),
    (C.ACTIVITY_CANCELLED, C.ACTIVITY_DONE),
    (C.ORDER_CONFIRMED, C.ORDER_NOT_CONFIRMED),
    (C.MATCHES, C.NOT_MATCHES),
    (C.SPLIT, C.SPLIT),
]
OUTCOMES = st.just(Outcome.SENT) | st.sampled_from(list(Outcome))
KINDS = st.sampled_from(
    [
        "opened",
        "clicked",
        "replied",
        "bounced",
        "activity_done",
        "activity_cancelled",
        "order_confirmed",
        "unsubscribed",
    ]
)
moments = st.integers(-48, 24 * 40).map(lambda h: T0 + h * H)
windows = st.sampled_from([H, 5 * H, D, 3 * D, 7 * D])
durations = st.just(timedelta(0)) | windows


@st.composite
def trees(draw, max_steps=8):
    """Random journeys: mostly valid shapes, sometimes odd ones (no window, archived…)."""
    size = draw(st.integers(1, max_steps))
    steps = []
    for sid in range(1, size + 1):
        parent = draw(st.none() | st.sampled_from(range(1, sid))) if sid > 1 else None
        condition = draw(CONDITIONS)
        if steps and steps[-1].condition in FAMILY and draw(st.booleans()):
            # the other branch of the previous step's condition, on the same parent
            pair = draw(st.sampled_from([p for p in PAIRS if steps[-1].condition in p]))
            parent = steps[-1].parent_id
            condition = pair[pair[0] == steps[-1].condition]
        steps.append(
            Step(
                sid,
                parent,
                condition,
                # Negative conditions without a window are invalid: generated now and then.
                window=draw(windows | st.none())
                if condition not in NEGATIVE or draw(st.integers(0, 5))
                else None,
                wait=draw(durations),
                wait_unit=draw(st.sampled_from(["hours", "days"])),
                anchor=draw(st.none() | moments) if draw(st.integers(0, 5)) == 0 else None,
                link_id=draw(st.sampled_from([None, 1]))
                if condition in (C.CLICKED, C.NOT_CLICKED)
                else None,
                split_percent=draw(st.sampled_from([0, 20, 50, 80])),
                active=draw(st.integers(0, 7)) > 0,
                sends_message=draw(st.integers(0, 3)) > 0,
            )
        )
    return steps


@st.composite
def histories(draw, steps):
    ids = [s.id for s in steps]
    runs = draw(
        st.lists(
            st.builds(Run, st.sampled_from(ids), moments, OUTCOMES),
            max_size=len(ids),
        )
    )
    # Facts mostly concern a step that ran, after it ran: those can meet a condition.
    after_runs = [(r.step_id, r.at) for r in runs] or [(None, T0)]
    facts = draw(
        st.lists(
            st.builds(
                lambda kind, origin, hours, link, anywhere: Fact(
                    kind,
                    anywhere if anywhere is not None else origin[0],
                    origin[1] + hours * H,
                    link,
                ),
                KINDS,
                st.sampled_from(after_runs),
                st.integers(-5, 24 * 10),
                st.sampled_from([None, 1]),
                st.none() | st.none() | st.sampled_from(ids),
            ),
            max_size=8,
        )
    )
    matches = draw(st.dictionaries(st.sampled_from(ids), st.booleans()))
    return runs, facts, matches


participants = st.builds(
    Participant,
    key=st.sampled_from(["j:1:p:1", "j:1:p:2", "j:2:p:9"]),
    entered_at=st.just(T0),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Nowhere/Bad"]),
)


@st.composite
def cases(draw):
    steps = draw(trees())
    runs, facts, matches = draw(histories(steps))
    return steps, draw(participants), runs, facts, matches, draw(moments)


def parent_moment(steps, runs, step, participant):
    """When the step's parent ran (the entry for a root), by the earliest run."""
    if step.parent_id is None:
        return participant.entered_at
    return min(r.at for r in runs if r.step_id == step.parent_id)


def exclusive(a: Step, b: Step) -> bool:
    """Two different branches of one condition on one parent."""
    if a.id == b.id or a.parent_id != b.parent_id:
        return False
    fa, fb = FAMILY.get(a.condition), FAMILY.get(b.condition)
    if fa is None or fa != fb or a.link_id != b.link_id:
        return False
    return a.condition != b.condition or a.condition == C.SPLIT


@EXAMPLES
@given(cases(), st.randoms())
def test_same_inputs_in_any_order_give_the_same_plan(case, rnd):
    steps, who, runs, facts, matches, now = case
    shuffled = [list(x) for x in (steps, runs, facts)]
    for items in shuffled:
        rnd.shuffle(items)
    assert plan(steps, who, runs, facts, now, matches) == plan(
        *shuffled[:1], who, *shuffled[1:], now, dict(reversed(list(matches.items())))
    )


@EXAMPLES
@given(cases())
def test_a_due_step_has_not_run_its_parent_has_and_its_wait_is_over(case):
    steps, who, runs, facts, matches, now = case
    by_id = {s.id: s for s in steps}
    ran = {r.step_id for r in runs}
    result = plan(steps, who, runs, facts, now, matches)
    for due in result.due:
        step = by_id[due.step_id]
        assert step.id not in ran and step.active and due.due_at <= now and due.reason
        assert step.parent_id is None or step.parent_id in ran
        start = parent_moment(steps, runs, step, who)
        assert due.due_at >= start
        if step.anchor is None:
            assert due.due_at >= add_wait(start, step.wait, step.wait_unit, who.tz)
        node = step
        while node.parent_id is not None:  # no archived ancestor
            node = by_id[node.parent_id]
            assert node.active
        if step.parent_id is None:
            continue
        parent_runs = [r for r in runs if r.step_id == step.parent_id]
        outcome = min(parent_runs, key=lambda r: (r.at, r.outcome.value)).outcome
        if step.condition in MESSAGE:
            assert outcome is Outcome.SENT and by_id[step.parent_id].sends_message
        if step.condition == C.NOT_SENT:
            assert outcome is Outcome.NOT_SENT
        if step.condition == C.SPLIT:
            split = [(s.id, s.split_percent) for s in steps if s.parent_id == step.parent_id]
            branches = [b for b in split if by_id[b[0]].condition == C.SPLIT]
            assert split_branch(who.key, step.parent_id, branches) == step.id
        if step.condition in (C.MATCHES, C.NOT_MATCHES):
            assert matches[step.id] is (step.condition == C.MATCHES)


@EXAMPLES
@given(cases())
def test_exclusive_branches_are_never_both_due_or_due_after_the_other_ran(case):
    steps, who, runs, facts, matches, now = case
    by_id = {s.id: s for s in steps}
    ran = {r.step_id for r in runs}
    due = [by_id[d.step_id] for d in plan(steps, who, runs, facts, now, matches).due]
    for step in due:
        assert not any(exclusive(step, other) for other in due)
        assert not any(exclusive(step, by_id[other]) for other in ran if other in by_id)


@EXAMPLES
@given(cases())
def test_plan_shape(case):
    steps, who, runs, facts, matches, now = case
    result = plan(steps, who, runs, facts, now, matches)
    assert result.due == tuple(sorted(result.due, key=lambda d: (d.due_at, d.step_id)))
    assert result.next_check is None or result.next_check > now
    assert not set(result.needs_match) & set(due_ids(result))
    by_id = {s.id: s for s in steps}
    assert all(by_id[i].condition in (C.MATCHES, C.NOT_MATCHES) for i in result.needs_match)
    assert not any(i in matches for i in result.needs_match)
    if result.finished:
        assert result.due == () and result.needs_match == () and result.next_check is None


@EXAMPLES
@given(cases(), st.sampled_from(["done", "exited", "holdout", "paused"]))
def test_a_participant_that_is_not_running_gets_nothing(case, state):
    steps, who, runs, facts, matches, now = case
    result = plan(steps, Participant(who.key, T0, who.tz, state), runs, facts, now, matches)
    assert result.due == () and result.needs_match == () and result.next_check is None


@EXAMPLES
@given(cases(), st.integers(1, 24 * 60))
def test_nothing_becomes_due_before_next_check_without_new_history(case, hours):
    steps, who, runs, facts, matches, now = case
    result = plan(steps, who, runs, facts, now, matches)
    later = now + hours * H
    if result.next_check is not None:
        later = min(later, result.next_check - timedelta(seconds=1))
    if later > now:
        assert plan(steps, who, runs, facts, later, matches).due == result.due


@EXAMPLES
@given(trees(), participants, st.randoms(use_true_random=False), st.integers(4, 25))
def test_simulation_of_a_participant_through_the_journey(steps, who, rnd, rounds):
    """The host's loop: plan, run what is due (with some outcome), engagement arrives,
    time passes; sometimes paused and resumed, sometimes exited."""
    by_id = {s.id: s for s in steps}
    runs, facts, matches, now = [], [], {}, T0
    state = "running"
    for _ in range(rounds):
        who_now = Participant(who.key, who.entered_at, who.tz, state)
        result = plan(steps, who_now, runs, facts, now, matches)
        shuffled = [list(runs), list(facts), list(steps)]
        for items in shuffled:
            rnd.shuffle(items)
        assert result == plan(shuffled[2], who_now, shuffled[0], shuffled[1], now, matches)
        if state != "running":
            assert result.due == ()
        ran = {r.step_id for r in runs}
        for due in result.due:
            assert due.step_id not in ran
            outcome = rnd.choice(list(Outcome))
            runs.append(Run(due.step_id, now, outcome))
            ran.add(due.step_id)
        for step_id in result.needs_match:
            matches[step_id] = rnd.random() < 0.5
        # Deliveries become final; engagement arrives (sometimes reported late).
        runs = [
            Run(r.step_id, now, rnd.choice([Outcome.SENT, Outcome.NOT_SENT]))
            if r.outcome is Outcome.PENDING and rnd.random() < 0.5
            else r
            for r in runs
        ]
        for _fact in range(rnd.randint(0, 2)):
            step_id = rnd.choice([None, *ran, *ran]) if ran else None
            at = now - rnd.randint(0, 72) * H
            kind = rnd.choice(
                ["opened", "clicked", "replied", "bounced", "activity_done"]
                + ["activity_cancelled", "order_confirmed"]
            )
            facts.append(Fact(kind, step_id, at, rnd.choice([None, 1])))
        # Pause, resume, exit now and then.
        if state == "running" and rnd.random() < 0.1:
            state = rnd.choice(["paused", "exited"])
        elif state == "paused" and rnd.random() < 0.5:
            state = "running"
        step = result.next_check if result.next_check and rnd.random() < 0.5 else None
        now = max(now + timedelta(minutes=1), step or now + rnd.randint(1, 24 * 5) * H)

    assert len({r.step_id for r in runs}) == len(runs), "a step ran twice"
    first = {r.step_id: r for r in runs}
    for run in runs:
        step = by_id[run.step_id]
        if step.parent_id is not None:
            parent = first[step.parent_id]
            assert parent.at <= run.at
            if step.anchor is None:
                # the run happened at or after the parent's run plus the wait
                assert add_wait(parent.at, step.wait, step.wait_unit, who.tz) <= run.at
        for other in runs:
            assert not exclusive(step, by_id[other.step_id]), "both branches ran"
