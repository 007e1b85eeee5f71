"""Invariants that must hold for any input, checked on generated inputs (hypothesis)."""

import random
from datetime import datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import (
    CONSENT_OF,
    Candidate,
    CapRule,
    Channel,
    Consent,
    MessageClass,
    Outcome,
    PartnerFacts,
    Policy,
    SendWindow,
    Touch,
    decide,
)

NOW = datetime(2026, 11, 23, 9, 0)
PARTNERS = st.integers(1, 5)
TRIGGERS = st.integers(1, 4)
EXAMPLES = settings()  # max_examples and deadline come from the profile (conftest.py)

channels = st.sampled_from([Channel.EMAIL, Channel.SMS, Channel.PHONE, Channel.NEWSLETTER])
hours = st.integers(-72, 24 * 20).map(lambda h: NOW + timedelta(hours=h))
candidates = st.builds(
    Candidate,
    trigger_id=TRIGGERS,
    partner_id=PARTNERS,
    occurrence_key=st.sampled_from(["registered", "optin", "birthday:2027"]),
    channels=st.lists(channels, max_size=3, unique=True).map(tuple),
    message_class=st.sampled_from(list(MessageClass)),
    priority=st.integers(0, 3),
    value=st.sampled_from([0.0, 10.0, 99.5]),
    topic=st.sampled_from([None, "offers", "seminars"]),
    earliest=st.none() | hours,
    latest=st.none() | hours,
    cooldown=st.none() | st.integers(1, 30).map(lambda d: timedelta(days=d)),
)
facts_values = st.fixed_dictionaries(
    {
        "email": st.sampled_from([None, "", "ada@example.com", "bad@", "B <b@example.org>"]),
        "phone": st.sampled_from([None, "+4940123456"]),
        "consents": st.frozensets(st.sampled_from(list(Consent))),
        "blacklisted": st.frozensets(channels),
        "timezone": st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Nowhere/Bad"]),
        "region": st.sampled_from([None, "HH", "BY"]),
        "preferred_channel": st.none() | channels,
    }
)
facts_maps = st.dictionaries(PARTNERS, facts_values).map(
    lambda m: {pid: PartnerFacts(pid, country="DE", **v) for pid, v in m.items()}
)
touches = st.builds(
    Touch,
    at=hours.map(lambda t: t - timedelta(days=10)),
    channel=channels,
    trigger_id=st.none() | TRIGGERS,
    topic=st.sampled_from([None, "offers"]),
    counts=st.booleans(),
)
ledgers = st.dictionaries(PARTNERS, st.lists(touches, max_size=5))
policies = st.builds(
    Policy,
    caps=st.lists(
        st.builds(
            CapRule,
            limit=st.integers(1, 3),
            window=st.integers(1, 14).map(lambda d: timedelta(days=d)),
            channel=st.none() | channels,
        ),
        max_size=3,
    ).map(tuple),
    topic_cooldowns=st.just((("offers", timedelta(days=7)),)),
    arbitration_window=st.sampled_from([timedelta(0), timedelta(hours=12), timedelta(days=1)]),
    max_defer=st.sampled_from([timedelta(days=3), timedelta(days=14)]),
    window=st.sampled_from(
        [
            SendWindow(),
            SendWindow(frozenset(range(6)), time(8), time(20), skip_holidays=True),
        ]
    ),
)
decided_keys = st.frozensets(st.tuples(TRIGGERS, PARTNERS, st.just("registered")), max_size=4)


@EXAMPLES
@given(st.lists(candidates, max_size=20), facts_maps, ledgers, policies, decided_keys, st.randoms())
def test_result_does_not_depend_on_candidate_order(cands, facts, ledger, policy, decided, rnd):
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    kwargs = dict(now=NOW, ledger=ledger, policy=policy, decided=decided)
    assert decide(cands, facts, **kwargs) == decide(shuffled, facts, **kwargs)


@EXAMPLES
@given(st.lists(candidates, max_size=20), facts_maps, ledgers, policies, decided_keys)
def test_identical_input_gives_identical_output(cands, facts, ledger, policy, decided):
    first = decide(cands, facts, now=NOW, ledger=ledger, policy=policy, decided=decided)
    again = decide(
        list(cands), dict(facts), now=NOW, ledger=dict(ledger), policy=policy, decided=set(decided)
    )
    assert first == again
    assert len(first) == len(cands)
    assert all(d.explanation for d in first)


@EXAMPLES
@given(st.lists(candidates, max_size=20), facts_maps, ledgers, policies, decided_keys)
def test_no_occurrence_is_sent_twice_and_none_decided_before_is_sent(
    cands, facts, ledger, policy, decided
):
    results = decide(cands, facts, now=NOW, ledger=ledger, policy=policy, decided=decided)
    live = [d.candidate.key for d in results if d.outcome is not Outcome.SUPPRESS]
    assert len(live) == len(set(live))
    assert not set(live) & set(decided)


@EXAMPLES
@given(st.lists(candidates, max_size=25), facts_maps, ledgers, policies)
def test_caps_are_never_exceeded_in_any_window(cands, facts, ledger, policy):
    results = decide(cands, facts, now=NOW, ledger=ledger, policy=policy)
    for partner_id in {c.partner_id for c in cands}:
        old = [(t.at, t.channel) for t in ledger.get(partner_id, ()) if t.counts]
        new = [
            (d.send_at, d.channel)
            for d in results
            if d.candidate.partner_id == partner_id
            and d.outcome is Outcome.SEND
            and d.candidate.message_class is not MessageClass.SERVICE
        ]
        for rule in policy.caps:

            def matching(items, rule=rule):
                return [at for at, ch in items if rule.channel is None or ch is rule.channel]

            old_at, new_at = matching(old), matching(new)
            for start in old_at + new_at:
                end = start + rule.window
                added = [t for t in new_at if start <= t < end]
                if added:
                    inside = len([t for t in old_at if start <= t < end]) + len(added)
                    assert inside <= rule.limit, (rule, start, old_at, new_at)


@EXAMPLES
@given(st.lists(candidates, max_size=20), facts_maps, ledgers, policies)
def test_marketing_is_only_sent_with_consent_on_a_clean_channel(cands, facts, ledger, policy):
    for d in decide(cands, facts, now=NOW, ledger=ledger, policy=policy):
        if d.outcome is Outcome.SEND and d.candidate.message_class is not MessageClass.SERVICE:
            partner = facts[d.candidate.partner_id]
            assert CONSENT_OF[d.channel] in partner.consents
            assert d.channel not in partner.blacklisted
            assert d.send_at >= NOW


@EXAMPLES
@given(st.lists(candidates, max_size=20), facts_maps, ledgers, policies)
def test_a_service_message_is_never_capped_deferred_or_delayed(cands, facts, ledger, policy):
    for d in decide(cands, facts, now=NOW, ledger=ledger, policy=policy):
        if d.candidate.message_class is MessageClass.SERVICE:
            assert d.outcome is not Outcome.DEFER
            assert d.reason.value not in ("capped", "cooldown", "lost_arbitration")
            if d.outcome is Outcome.SEND:
                assert d.send_at == max(NOW, d.candidate.earliest or NOW)


@EXAMPLES
@given(st.lists(candidates, max_size=20), facts_maps, ledgers, policies)
def test_deferrals_stay_within_the_deadline_and_drops_are_never_deferred(
    cands, facts, ledger, policy
):
    for d in decide(cands, facts, now=NOW, ledger=ledger, policy=policy):
        c = d.candidate
        if d.outcome is Outcome.DEFER:
            assert c.message_class is MessageClass.DEFER
            assert d.send_at > NOW
            start = max(NOW, c.earliest or NOW)
            assert d.send_at <= (c.latest or start + policy.max_defer)
        if d.outcome is Outcome.SEND and c.latest is not None:
            assert d.send_at <= c.latest


def test_a_shuffle_sanity_check_can_fail():
    # Guard against a vacuous order test: distinct candidates really are re-ordered.
    cands = [Candidate(1, pid, "registered") for pid in range(10)]
    shuffled = cands[:]
    random.Random(3).shuffle(shuffled)
    assert shuffled != cands
    assert [d.candidate for d in decide(shuffled, {}, now=NOW)] == cands
