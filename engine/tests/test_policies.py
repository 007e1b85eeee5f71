"""Caps, cooldowns, arbitration, send windows, holidays and channel fallback."""

from datetime import datetime, time, timedelta

from engine import (
    Candidate,
    CapRule,
    Channel,
    Consent,
    MessageClass,
    Outcome,
    PartnerFacts,
    Policy,
    Reason,
    SendWindow,
    Touch,
    decide,
)

NOW = datetime(2026, 11, 23, 9, 0)  # a Monday, 10:00 in Berlin
DAY = timedelta(days=1)
ALL = frozenset(Consent)
ADA = PartnerFacts(
    7,
    email="ada@example.com",
    phone="+4940123456",
    consents=ALL,
    timezone="Europe/Berlin",
    country="DE",
    region="HH",
)
OFFICE = SendWindow(frozenset(range(6)), time(8), time(20), skip_holidays=True)


def cand(trigger_id=1, key="k", **kw):
    return Candidate(trigger_id=trigger_id, partner_id=7, occurrence_key=key, **kw)


NO_RULES = Policy()


def run(cands, touches=(), policy=NO_RULES, facts=ADA, now=NOW, labels=None):
    return decide(
        cands, {7: facts}, now=now, ledger={7: list(touches)}, policy=policy, labels=labels
    )


def test_three_touches_in_seven_days_across_all_channels():
    policy = Policy(caps=(CapRule(3, 7 * DAY),))
    touches = [Touch(NOW - 2 * DAY, Channel.PHONE), Touch(NOW - 5 * DAY, Channel.LETTER)]
    first, second = run([cand(1, priority=2), cand(2)], touches, policy)
    assert first.outcome is Outcome.SEND
    assert (second.outcome, second.reason) == (Outcome.SUPPRESS, Reason.CAPPED)
    assert "at most 3 touches by all channels in 7 days" in second.explanation


def test_capped_deferrable_message_moves_to_the_first_free_moment():
    policy = Policy(caps=(CapRule(1, 14 * DAY, Channel.SMS),))
    sms = cand(channels=(Channel.SMS,), message_class=MessageClass.DEFER)
    [d] = run([sms], [Touch(NOW - 10 * DAY, Channel.SMS)], policy)
    assert (d.outcome, d.reason) == (Outcome.DEFER, Reason.CAPPED)
    assert d.send_at == NOW + 4 * DAY
    assert "Deferred to 2026-11-27 09:00 UTC" in d.explanation


def test_deferral_beyond_the_maximum_delay_is_dropped():
    policy = Policy(caps=(CapRule(1, 30 * DAY, Channel.PHONE),), max_defer=7 * DAY)
    call = cand(channels=(Channel.PHONE,), message_class=MessageClass.DEFER)
    [d] = run([call], [Touch(NOW - DAY, Channel.PHONE)], policy)
    assert (d.outcome, d.reason) == (Outcome.SUPPRESS, Reason.CAPPED)
    assert "dropped" in d.explanation


def test_capped_preferred_channel_falls_back_to_the_next_allowed_one():
    policy = Policy(caps=(CapRule(1, 14 * DAY, Channel.SMS),))
    facts = PartnerFacts(**{**_as_dict(ADA), "preferred_channel": Channel.SMS})
    msg = cand(channels=(Channel.EMAIL, Channel.SMS))
    [d] = run([msg], [Touch(NOW - DAY, Channel.SMS)], policy, facts)
    assert (d.outcome, d.channel) == (Outcome.SEND, Channel.EMAIL)
    [d] = run([msg], [], policy, facts)
    assert d.channel is Channel.SMS  # preferred first when it is free


def test_missing_consent_on_preferred_channel_falls_back():
    facts = PartnerFacts(
        **{
            **_as_dict(ADA),
            "consents": frozenset({Consent.EMAIL}),
            "preferred_channel": Channel.SMS,
        }
    )
    [d] = run([cand(channels=(Channel.SMS, Channel.EMAIL))], facts=facts)
    assert d.channel is Channel.EMAIL
    [d] = run([cand(channels=(Channel.SMS,))], facts=facts)
    assert d.reason is Reason.NO_CONSENT


def test_trigger_cooldown_after_execution():
    msg = cand(1, "toner:2026-2", cooldown=60 * DAY)
    [d] = run([msg], [Touch(NOW - 20 * DAY, Channel.EMAIL, trigger_id=1)])
    assert (d.outcome, d.reason) == (Outcome.SUPPRESS, Reason.COOLDOWN)
    assert "not again before 2027-01-02" in d.explanation
    [d] = run([msg], [Touch(NOW - 61 * DAY, Channel.EMAIL, trigger_id=1)])
    assert d.outcome is Outcome.SEND


def test_topic_cooldown_spans_triggers():
    policy = Policy(topic_cooldowns=(("offers", 60 * DAY),))
    toner = cand(2, topic="offers")
    [d] = run([toner], [Touch(NOW - 3 * DAY, Channel.SMS, trigger_id=9, topic="offers")], policy)
    assert d.reason is Reason.COOLDOWN
    assert "topic 'offers'" in d.explanation
    [d] = run([cand(2, topic="seminars")], [Touch(NOW - 3 * DAY, Channel.SMS, 9, "offers")], policy)
    assert d.outcome is Outcome.SEND


def test_arbitration_highest_priority_wins_and_the_loser_names_it():
    policy = Policy(arbitration_window=DAY)
    birthday = cand(1, "birthday:2026", priority=5)
    contract = cand(2, "contract:42", priority=8, message_class=MessageClass.DEFER)
    winback = cand(3, "winback:2026-11", priority=1)
    labels = {1: "Birthday", 2: "Contract expiry", 3: "Win-back"}
    results = {
        d.candidate.trigger_id: d
        for d in run([birthday, winback, contract], policy=policy, labels=labels)
    }
    assert results[2].outcome is Outcome.SEND
    assert (results[1].outcome, results[1].reason) == (Outcome.SUPPRESS, Reason.LOST_ARBITRATION)
    assert "Lost to 'Contract expiry'" in results[1].explanation
    assert results[3].reason is Reason.LOST_ARBITRATION


def test_arbitration_business_value_breaks_priority_ties_and_losers_can_defer():
    policy = Policy(arbitration_window=DAY)
    low = cand(1, priority=5, value=10.0, message_class=MessageClass.DEFER)
    high = cand(2, priority=5, value=80.0)
    results = {d.candidate.trigger_id: d for d in run([low, high], policy=policy)}
    assert results[2].outcome is Outcome.SEND
    assert (results[1].outcome, results[1].send_at) == (Outcome.DEFER, NOW + DAY)
    assert dict(results[1].params)["winner_trigger_id"] == "2"


def test_outside_the_send_window_the_message_is_sent_at_the_next_opening():
    policy = Policy(window=OFFICE)
    saturday_night = datetime(2026, 11, 28, 21, 0)  # 22:00 in Berlin
    [d] = run([cand()], policy=policy, now=saturday_night)
    assert (d.outcome, d.reason) == (Outcome.SEND, Reason.SEND)
    assert d.send_at == datetime(2026, 11, 30, 7, 0)  # Monday 08:00 Berlin
    assert "next moment inside the send window" in d.explanation


def test_public_holidays_of_the_partners_federal_state_are_closed():
    policy = Policy(window=OFFICE)
    reformation_day = datetime(2027, 10, 29, 9, 0)  # Friday; 31 Oct 2027 is a Sunday
    christmas = datetime(2026, 12, 25, 9, 0)
    [d] = run([cand()], policy=policy, now=christmas)
    assert d.send_at == datetime(2026, 12, 28, 7, 0)  # 25 and 26 Dec closed, then Sunday
    [d] = run([cand()], policy=policy, now=reformation_day)
    assert d.send_at == reformation_day


def test_service_messages_bypass_caps_windows_and_consent_but_need_an_address():
    policy = Policy(caps=(CapRule(1, 30 * DAY),), window=OFFICE, arbitration_window=DAY)
    sunday = datetime(2026, 11, 29, 3, 0)
    facts = PartnerFacts(**{**_as_dict(ADA), "consents": frozenset()})
    notice = cand(message_class=MessageClass.SERVICE)
    [d] = run(
        [notice], [Touch(sunday - DAY, Channel.EMAIL, trigger_id=2)], policy, facts, now=sunday
    )
    assert (d.outcome, d.send_at) == (Outcome.SEND, sunday)
    no_address = PartnerFacts(7, consents=ALL)
    [d] = run([notice], facts=no_address)
    assert d.reason is Reason.NO_EMAIL


def test_service_touches_do_not_weigh_on_marketing_caps():
    policy = Policy(caps=(CapRule(1, 7 * DAY),))
    [d] = run([cand()], [Touch(NOW - DAY, Channel.EMAIL, counts=False)], policy)
    assert d.outcome is Outcome.SEND


def test_expired_candidates_and_earliest_in_the_future():
    [d] = run([cand(latest=NOW - DAY)])
    assert d.reason is Reason.EXPIRED
    [d] = run([cand(earliest=NOW + 2 * DAY)])
    assert (d.outcome, d.send_at) == (Outcome.SEND, NOW + 2 * DAY)


def test_a_service_message_due_after_its_deadline_is_expired_not_sent_late():
    notice = cand(message_class=MessageClass.SERVICE, earliest=NOW + DAY, latest=NOW)
    [d] = run([notice])
    assert (d.outcome, d.reason) == (Outcome.SUPPRESS, Reason.EXPIRED)


def test_a_window_that_never_opens_before_the_deadline_suppresses():
    closed = SendWindow(weekdays=frozenset())
    [d] = run([cand()], policy=Policy(window=closed))
    assert d.reason is Reason.OUTSIDE_WINDOW


def test_invalid_phone_is_reported_as_invalid_not_missing():
    facts = PartnerFacts(7, phone=None, phone_raw="12ab", consents=ALL)
    [d] = run([cand(channels=(Channel.SMS,))], facts=facts)
    assert d.reason is Reason.INVALID_PHONE
    assert "12ab" in d.explanation


def test_planned_sends_of_one_run_count_for_later_candidates():
    policy = Policy(caps=(CapRule(2, 7 * DAY, Channel.EMAIL),))
    results = run([cand(t, f"k{t}") for t in range(1, 5)], policy=policy)
    assert [d.outcome for d in results] == [Outcome.SEND] * 2 + [Outcome.SUPPRESS] * 2


def _as_dict(facts):
    return {name: getattr(facts, name) for name in facts.__slots__}


def test_forecast_carries_sends_into_the_caps_of_later_days_and_replays_deferrals():
    from engine import forecast

    policy = Policy(caps=(CapRule(1, 2 * DAY),))
    due = [
        cand(1, "a", earliest=NOW),
        cand(2, "b", earliest=NOW + DAY, message_class=MessageClass.DEFER),
        cand(3, "c", earliest=NOW + DAY),
    ]
    days = forecast(due, {7: ADA}, start=NOW, days=4, policy=policy)
    assert [dict(d.sent) for d in days] == [{"email": 1}, {}, {"email": 1}, {}]
    assert dict(days[1].deferred) == {"capped": 1}
    assert dict(days[1].suppressed) == {"capped": 1}
    assert sum(sum(dict(d.sent).values()) for d in days) == 2
