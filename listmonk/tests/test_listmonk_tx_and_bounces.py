"""Transactional sends and bounces (contract sections 3.6 and 3.7)."""

import pytest

from listmonk import (
    ListmonkNotFound,
    ListmonkProtocolError,
    ListmonkValidationError,
    TxResult,
)

SAMPLE_TX = 3  # the "Sample transactional template" every install has


def test_a_send_is_queued_for_every_recipient(fake, client):
    client.create_subscriber("ada@example.com")
    result = client.send_tx(
        SAMPLE_TX,
        emails=["Ada@Example.com"],
        data={"order_id": "A-17"},
        subject="Your order",
        headers=[{"X-Odoo-Delivery": "17"}],
    )
    assert result == TxResult() and result.all_queued
    [message] = fake.outbox
    assert (message["to"], message["subject"], message["data"]) == (
        "ada@example.com",
        "Your order",
        {"order_id": "A-17"},
    )
    assert message["headers"] == [{"X-Odoo-Delivery": "17"}]


def test_unknown_recipients_are_reported_and_the_others_still_sent(fake, client):
    known = client.create_subscriber("ada@example.com")
    result = client.send_tx(SAMPLE_TX, emails=["ada@example.com", "nobody@example.com"])
    assert result.missing_emails == ("nobody@example.com",)
    assert not result.all_queued
    assert [m["to"] for m in fake.outbox] == ["ada@example.com"]
    by_id = client.send_tx(SAMPLE_TX, subscriber_ids=[known.id, 42])
    assert by_id.missing_ids == (42,)


def test_external_mode_needs_no_subscriber(fake, client):
    assert client.send_tx(SAMPLE_TX, emails=["lead@ext.com"], mode="external").all_queued
    assert fake.outbox[0]["to"] == "lead@ext.com"


def test_a_campaign_template_is_not_found_for_tx(fake, client):
    client.create_subscriber("ada@example.com")
    with pytest.raises(ListmonkNotFound) as caught:
        client.send_tx(1, emails=["ada@example.com"])
    assert caught.value.message == "template 1 not found"
    assert fake.outbox == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"emails": ["Jane <jane@x.com>"]}, "Invalid email."),
        ({}, "Invalid fields: send subscriber_emails OR subscriber_ids"),
        (
            {"emails": ["a@x.com"], "subscriber_ids": [1]},
            "Invalid fields: send subscriber_emails OR subscriber_ids",
        ),
        (
            {"subscriber_ids": [1], "mode": "external"},
            "Invalid fields: subscriber_ids not allowed in fallback or external mode",
        ),
    ],
)
def test_invalid_sends_are_refused_and_nothing_is_sent(fake, client, kwargs, message):
    with pytest.raises(ListmonkValidationError) as caught:
        client.send_tx(SAMPLE_TX, **kwargs)
    assert caught.value.message == message
    assert fake.outbox == []


def test_a_hard_bounce_blocklists_and_is_listed(fake, client, customers):
    subscriber = client.create_subscriber("jane@example.com", lists=[customers.id])
    client.record_bounce("hard", "crm", email="jane@example.com", meta={"smtp": "550"})
    assert client.get_subscriber(subscriber.id).is_blocklisted
    [bounce] = client.iter_bounces()
    assert (bounce.type, bounce.source, bounce.email, bounce.subscriber_id) == (
        "hard",
        "crm",
        "jane@example.com",
        subscriber.id,
    )
    assert bounce.meta == {"smtp": "550"} and bounce.campaign_id is None
    assert client.get_bounce(bounce.id) == bounce
    assert client.subscriber_bounces(subscriber.id) == (bounce,)


def test_a_bounce_blocklists_without_touching_updated_at(fake, client, customers):
    """Listmonk's record-bounce sets the status only: a read-back filtering on
    ``updated_at`` does not see the blocklisting; the bounce listing does."""
    subscriber = client.create_subscriber("jane@example.com", lists=[customers.id])
    client.record_bounce("hard", "crm", email="jane@example.com")
    after = client.get_subscriber(subscriber.id)
    assert after.is_blocklisted
    assert after.updated_at == subscriber.updated_at
    assert after.subscriptions == subscriber.subscriptions, "subscriptions untouched too"
    last_change = max([subscriber.updated_at] + [s.updated_at for s in subscriber.subscriptions])
    assert list(client.iter_changed_subscribers(last_change)) == []
    [bounce] = client.iter_bounces()
    assert (bounce.subscriber_id, bounce.subscriber_status) == (subscriber.id, "blocklisted")


def test_a_soft_bounce_does_not_blocklist(client):
    subscriber = client.create_subscriber("jane@example.com")
    client.record_bounce("soft", "crm", email="jane@example.com")
    assert not client.get_subscriber(subscriber.id).is_blocklisted


def test_no_bounces_is_an_empty_listing(client):
    page = client.get_bounces()
    assert (page.results, page.total, page.page) == ((), 0, 0)
    assert list(client.iter_bounces()) == []


def test_bounce_webhooks_switched_off_say_so(fake, client):
    fake.state.bounce_webhooks = False
    with pytest.raises(ListmonkProtocolError) as caught:
        client.record_bounce("hard", "crm", email="jane@example.com")
    assert caught.value.message == "bounce webhooks are disabled in Listmonk's settings"
