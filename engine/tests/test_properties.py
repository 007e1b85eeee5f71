"""Invariants that must hold for any input, checked on generated inputs."""

import random
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Candidate, Channel, MessageClass, Outcome, PartnerFacts, decide

NOW = datetime(2026, 11, 23, 9, 0)

channels = st.sampled_from(list(Channel))
candidates = st.builds(
    Candidate,
    trigger_id=st.integers(1, 4),
    partner_id=st.integers(1, 6),
    occurrence_key=st.sampled_from(["registered", "optin", "birthday:2027"]),
    channels=st.lists(channels, max_size=3, unique=True).map(tuple),
    message_class=st.sampled_from(list(MessageClass)),
    priority=st.integers(0, 3),
    value=st.sampled_from([0.0, 10.0, 99.5]),
)
partner_facts = st.builds(
    PartnerFacts,
    partner_id=st.just(0),
    email=st.sampled_from([None, "", "ada@example.com", "bad@", "B <b@example.org>"]),
    consents=st.frozensets(channels),
    blacklisted=st.frozensets(channels),
)
facts_maps = st.dictionaries(st.integers(1, 6), partner_facts).map(
    lambda m: {pid: PartnerFacts(pid, f.email, f.consents, f.blacklisted) for pid, f in m.items()}
)
decided_keys = st.frozensets(
    st.tuples(st.integers(1, 4), st.integers(1, 6), st.just("registered")), max_size=4
)


@settings(max_examples=300, deadline=None)
@given(st.lists(candidates, max_size=25), facts_maps, decided_keys, st.randoms())
def test_result_does_not_depend_on_candidate_order(cands, facts, decided, rnd):
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    assert decide(cands, facts, now=NOW, decided=decided) == decide(
        shuffled, facts, now=NOW, decided=decided
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(candidates, max_size=25), facts_maps, decided_keys)
def test_identical_input_gives_identical_output(cands, facts, decided):
    first = decide(cands, facts, now=NOW, decided=decided)
    assert first == decide(list(cands), dict(facts), now=NOW, decided=set(decided))
    assert len(first) == len(cands)


@settings(max_examples=300, deadline=None)
@given(st.lists(candidates, max_size=25), facts_maps, decided_keys)
def test_no_occurrence_is_sent_twice_and_none_decided_before_is_sent(cands, facts, decided):
    sent = [
        d.candidate.key
        for d in decide(cands, facts, now=NOW, decided=decided)
        if d.outcome is Outcome.SEND
    ]
    assert len(sent) == len(set(sent))
    assert not set(sent) & set(decided)


@settings(max_examples=300, deadline=None)
@given(st.lists(candidates, max_size=25), facts_maps)
def test_marketing_is_only_sent_with_consent_on_a_clean_channel(cands, facts):
    for d in decide(cands, facts, now=NOW):
        if d.outcome is Outcome.SEND and d.candidate.message_class is not MessageClass.SERVICE:
            partner = facts[d.candidate.partner_id]
            assert d.channel in partner.consents
            assert d.channel not in partner.blacklisted


def test_a_shuffle_sanity_check_can_fail():
    # Guard against a vacuous order test: distinct candidates really are re-ordered.
    cands = [Candidate(1, pid, "registered") for pid in range(10)]
    shuffled = cands[:]
    random.Random(3).shuffle(shuffled)
    assert shuffled != cands
    assert [d.candidate for d in decide(shuffled, {}, now=NOW)] == cands
