"""Timeouts and retries: repeat only what is safe to repeat (contract sections 3.6, 8)."""

import socket

import pytest

from listmonk import (
    CampaignDraft,
    ListmonkClient,
    ListmonkOutcomeUnknown,
    ListmonkUnavailable,
)

SLOW = 0.5  # longer than the clients' 0.2 s timeout


def test_a_temporary_failure_of_a_get_is_retried_with_growing_backoff(fake, client, sleeps):
    fake.inject(path="/api/lists", status=503, times=2)
    assert client.get_lists().total == 0
    assert [r.status for r in fake.requests] == [503, 503, 200]
    assert len(sleeps) == 2
    assert 0.025 <= sleeps[0] <= 0.05 and 0.05 <= sleeps[1] <= 0.1


def test_a_get_that_times_out_is_retried(fake, hasty):
    fake.inject(path="/api/lists", delay=SLOW, times=1)
    assert hasty.get_lists().total == 0
    assert len(fake.calls("GET", "/api/lists")) == 2


def test_a_get_that_keeps_timing_out_is_unavailable(fake, hasty):
    fake.inject(path="/api/health", delay=SLOW)
    with pytest.raises(ListmonkUnavailable) as caught:
        hasty.health()
    assert caught.value.status is None and caught.value.attempts == 3
    assert "timed out" in caught.value.message


def test_a_dropped_connection_on_a_get_is_retried(fake, client):
    fake.inject(path="/api/health", drop=True, times=1)
    assert client.health() is True


def test_a_put_that_lost_its_answer_is_retried_and_the_state_settles_it(fake, client, customers):
    campaign = client.create_campaign(CampaignDraft("July", "Hi", (customers.id,)))
    fake.inject(path="/status$", status=503, apply=True, times=1)  # started, answer lost
    started = client.start_campaign(campaign.id)
    assert started.status == "running"
    assert [r.status for r in fake.calls("PUT", "/status$")] == [503, 400]


def test_a_tx_send_that_times_out_is_not_repeated(fake, client, hasty):
    template = client.create_template("Receipt", type="tx", subject="Order", body="<p>ok</p>")
    client.create_subscriber("ada@example.com")
    fake.inject(path="/api/tx", delay=SLOW)
    with pytest.raises(ListmonkOutcomeUnknown) as caught:
        hasty.send_tx(template.id, emails=["ada@example.com"])
    assert caught.value.attempts == 1
    assert len(fake.calls("POST", "/api/tx")) == 1
    assert [m["to"] for m in fake.outbox] == ["ada@example.com"], "it was sent: a retry doubles"


@pytest.mark.parametrize("fault", [{"drop": True}, {"status": 502}, {"status": 504}])
def test_a_tx_send_whose_answer_is_lost_is_an_unknown_outcome(fake, client, fault):
    client.create_subscriber("ada@example.com")
    fake.inject(path="/api/tx", apply=True, **fault)
    with pytest.raises(ListmonkOutcomeUnknown):
        client.send_tx(3, emails=["ada@example.com"])
    assert len(fake.calls("POST", "/api/tx")) == 1
    assert len(fake.outbox) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_a_tx_send_answered_with_5xx_is_an_unknown_outcome(fake, client, status):
    client.create_subscriber("ada@example.com")
    fake.inject(path="/api/tx", status=status)
    with pytest.raises(ListmonkOutcomeUnknown) as caught:
        client.send_tx(3, emails=["ada@example.com"])
    assert caught.value.status == status
    assert len(fake.calls("POST", "/api/tx")) == 1


def test_a_full_tx_queue_is_an_unknown_outcome_after_the_first_recipients(fake, client):
    for email in ("a@example.com", "b@example.com"):
        client.create_subscriber(email)
    fake.state.tx_queue_capacity = 1
    with pytest.raises(ListmonkOutcomeUnknown) as caught:
        client.send_tx(3, emails=["a@example.com", "b@example.com"])
    assert caught.value.status == 500
    assert [m["to"] for m in fake.outbox] == ["a@example.com"]


def test_a_campaign_creation_that_times_out_is_not_repeated(fake, client, hasty, customers):
    fake.inject(path="/api/campaigns$", method="POST", delay=SLOW)
    with pytest.raises(ListmonkOutcomeUnknown):
        hasty.create_campaign(CampaignDraft("July", "Hi", (customers.id,)))
    fake.clear_faults()
    assert [c.name for c in client.iter_campaigns()] == ["July"]


def test_a_campaign_creation_refused_with_503_is_not_repeated(fake, client, customers):
    fake.inject(path="/api/campaigns$", method="POST", status=503)
    with pytest.raises(ListmonkUnavailable):
        client.create_campaign(CampaignDraft("July", "Hi", (customers.id,)))
    assert len(fake.calls("POST", "/api/campaigns")) == 1


def test_a_refused_connection_is_retried_even_for_a_post(sleeps):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with ListmonkClient(
        f"http://127.0.0.1:{port}", "api", "t", timeout=0.2, retries=2, sleep=sleeps.append
    ) as api:
        with pytest.raises(ListmonkUnavailable) as caught:
            api.send_tx(3, emails=["ada@example.com"])
    assert caught.value.attempts == 3 and caught.value.status is None
    assert len(sleeps) == 2


def test_backoff_is_capped(fake, sleeps):
    fake.inject(path="/api/health", status=503)
    with ListmonkClient(
        fake.base_url,
        fake.username,
        fake.token,
        retries=6,
        backoff=1.0,
        max_backoff=4.0,
        sleep=sleeps.append,
    ) as api:
        with pytest.raises(ListmonkUnavailable):
            api.health()
    assert len(sleeps) == 6
    assert all(0.5 * min(2**n, 4.0) <= s <= min(2**n, 4.0) for n, s in enumerate(sleeps))


def test_clients_of_two_configurations_do_not_share_anything(fake):
    fake.add_user("other", "t2")
    with (
        ListmonkClient(fake.base_url, fake.username, fake.token) as one,
        ListmonkClient(fake.base_url, "other", "t2") as two,
    ):
        one.health()
        two.health()
    assert [r.headers["Authorization"] for r in fake.requests] == [
        f"token {fake.username}:{fake.token}",
        "token other:t2",
    ]
