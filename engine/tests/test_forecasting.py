"""The forecast per trigger: every day present, sends and suppressions apart."""

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from engine import Candidate, CapRule, Consent, MessageClass, PartnerFacts, Policy, forecast
from engine.forecasting import ForecastCount

START = datetime(2026, 11, 23, 9, 0)  # a Monday, 10:00 in Berlin
DAY = timedelta(days=1)
FACTS = {
    pid: PartnerFacts(pid, email=f"p{pid}@example.com", consents=frozenset(Consent))
    for pid in range(1, 6)
}


def cand(trigger_id, partner_id, when, **kw):
    return Candidate(trigger_id, partner_id, f"t{trigger_id}:{partner_id}", earliest=when, **kw)


def test_each_trigger_is_counted_apart_on_the_day_it_would_send():
    due = [
        cand(1, 1, START),
        cand(1, 2, START + 2 * DAY),
        cand(2, 3, START + 2 * DAY),
    ]
    days = forecast(due, FACTS, start=START, days=4)
    assert [d.day for d in days] == [START.date() + i * DAY for i in range(4)]
    assert [d.counts for d in days] == [
        (ForecastCount(1, "sent", "email", 1),),
        (),
        (ForecastCount(1, "sent", "email", 1), ForecastCount(2, "sent", "email", 1)),
        (),
    ]
    assert dict(days[2].sent) == {"email": 2}


def test_a_suppressed_message_is_counted_for_its_own_trigger_not_the_winner():
    policy = Policy(caps=(CapRule(1, 7 * DAY),))
    due = [cand(1, 1, START, priority=5), cand(2, 1, START + DAY)]
    days = forecast(due, FACTS, start=START, days=2, policy=policy)
    assert days[0].counts == (ForecastCount(1, "sent", "email", 1),)
    assert days[1].counts == (ForecastCount(2, "suppressed", "capped", 1),)
    assert days[1].sent == ()


def test_a_deferral_is_counted_on_the_day_it_is_decided_and_sent_later():
    policy = Policy(caps=(CapRule(1, 2 * DAY),))
    due = [cand(1, 1, START), cand(2, 1, START + DAY, message_class=MessageClass.DEFER)]
    days = forecast(due, FACTS, start=START, days=4, policy=policy)
    assert ForecastCount(2, "deferred", "capped", 1) in days[1].counts
    assert ForecastCount(2, "sent", "email", 1) in days[2].counts


@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(0, 9)),
        max_size=25,
        unique_by=lambda item: item[:2],
    ),
    st.integers(1, 12),
)
def test_every_day_is_present_and_each_candidate_is_sent_or_suppressed_at_most_once(offers, length):
    due = [cand(t, p, START + offset * DAY) for t, p, offset in offers]
    policy = Policy(caps=(CapRule(2, 3 * DAY),))
    days = forecast(due, FACTS, start=START, days=length, policy=policy)
    assert [d.day for d in days] == [START.date() + i * DAY for i in range(length)]
    final = [c for d in days for c in d.counts if c.outcome != "deferred"]
    assert all(c.count > 0 for d in days for c in d.counts)
    in_period = sum(1 for _t, _p, offset in offers if offset < length)
    assert sum(c.count for c in final) <= in_period
    for trigger_id in {t for t, _p, _o in offers}:
        offered = sum(1 for t, _p, _o in offers if t == trigger_id)
        assert sum(c.count for c in final if c.trigger_id == trigger_id) <= offered
