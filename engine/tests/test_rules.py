from datetime import datetime

import pytest

from engine import (
    Candidate,
    Channel,
    MessageClass,
    Outcome,
    PartnerFacts,
    Reason,
    decide,
)

NOW = datetime(2026, 11, 23, 9, 0)
EMAIL = frozenset({Channel.EMAIL})  # a set of channels (blacklist) and of consents


def welcome(partner_id=7, **kw):
    return Candidate(trigger_id=1, partner_id=partner_id, occurrence_key="registered", **kw)


def facts(partner_id=7, email="ada@example.com", consents=EMAIL, blacklisted=frozenset()):
    return {partner_id: PartnerFacts(partner_id, email, consents, blacklisted)}


def test_consenting_partner_with_valid_email_is_sent_now_by_email():
    [d] = decide([welcome()], facts(), now=NOW)
    assert (d.outcome, d.reason, d.channel, d.send_at) == (
        Outcome.SEND,
        Reason.SEND,
        Channel.EMAIL,
        NOW,
    )
    assert "consent" in d.explanation


@pytest.mark.parametrize(
    "partner, reason",
    [
        (dict(email=None), Reason.NO_EMAIL),
        (dict(email="  "), Reason.NO_EMAIL),
        (dict(email="ada@example"), Reason.INVALID_EMAIL),
        (dict(consents=frozenset()), Reason.NO_CONSENT),
        (dict(consents=frozenset({Channel.SMS})), Reason.NO_CONSENT),
        (dict(blacklisted=EMAIL), Reason.BLACKLISTED),
    ],
)
def test_unusable_partners_are_suppressed_with_the_reason(partner, reason):
    [d] = decide([welcome()], facts(**partner), now=NOW)
    assert (d.outcome, d.reason, d.channel) == (Outcome.SUPPRESS, reason, None)
    assert d.explanation


def test_invalid_address_is_named_in_the_explanation():
    [d] = decide([welcome()], facts(email="ada@example"), now=NOW)
    assert "ada@example" in d.explanation


def test_partner_without_facts_is_suppressed_not_an_error():
    [d] = decide([welcome(partner_id=99)], {}, now=NOW)
    assert d.reason is Reason.NO_EMAIL


def test_service_message_needs_no_marketing_consent_but_a_valid_address():
    service = welcome(message_class=MessageClass.SERVICE)
    [sent] = decide([service], facts(consents=frozenset(), blacklisted=EMAIL), now=NOW)
    assert sent.outcome is Outcome.SEND
    [refused] = decide([service], facts(email="nope"), now=NOW)
    assert refused.reason is Reason.INVALID_EMAIL


def test_an_occurrence_decided_before_is_a_duplicate():
    [d] = decide([welcome()], facts(), now=NOW, decided={(1, 7, "registered")})
    assert (d.outcome, d.reason) == (Outcome.SUPPRESS, Reason.DUPLICATE)
    assert "registered" in d.explanation


def test_the_same_occurrence_offered_twice_is_sent_once():
    decisions = decide([welcome(), welcome()], facts(), now=NOW)
    assert sorted(d.reason for d in decisions) == [Reason.DUPLICATE, Reason.SEND]


def test_other_occurrences_and_triggers_are_not_duplicates():
    other = Candidate(trigger_id=2, partner_id=7, occurrence_key="registered")
    later = Candidate(trigger_id=1, partner_id=7, occurrence_key="optin")
    decisions = decide([welcome(), other, later], facts(), now=NOW)
    assert [d.outcome for d in decisions] == [Outcome.SEND] * 3


def test_a_trigger_without_channel_is_suppressed():
    [d] = decide([welcome(channels=())], facts(), now=NOW)
    assert d.reason is Reason.NO_CHANNEL
