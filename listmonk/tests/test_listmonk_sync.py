"""Batched subscriber sync: upsert-safe, never overriding the subscriber's own choices,
and resumable after an outage (nothing lost, re-running completes it)."""

import pytest

from listmonk import (
    ListmonkOutcomeUnknown,
    ListmonkUnavailable,
    Page,
    SubscriberData,
    SyncAction,
)

KEY = "odoo_partner_id"


def contacts(n, lists=(), start=0):
    return [
        SubscriberData(f"c{i}@example.com", f"Contact {i}", {KEY: i}, tuple(lists))
        for i in range(start, start + n)
    ]


def test_new_contacts_are_created_with_lists_and_attributes(fake, client, customers):
    report = client.sync_subscribers(contacts(3, [customers.id]), match_attribute=KEY)
    assert report.complete
    assert [o.action for o in report.outcomes] == [SyncAction.CREATED] * 3
    subscriber = report.outcomes[0].subscriber
    assert (subscriber.email, subscriber.attribs, subscriber.list_ids) == (
        "c0@example.com",
        {KEY: 0},
        {customers.id},
    )


def test_a_batch_is_looked_up_in_one_request(fake, client):
    client.sync_subscribers(contacts(30), batch_size=10, match_attribute=KEY)
    lookups = fake.calls("GET", "/api/subscribers$")
    assert len(lookups) == 3
    assert "odoo_partner_id" in lookups[0].query["query"][0]


def test_running_it_again_changes_nothing(fake, client, customers):
    records = contacts(5, [customers.id])
    client.sync_subscribers(records, match_attribute=KEY)
    fake.requests.clear()
    report = client.sync_subscribers(records, match_attribute=KEY)
    assert [o.action for o in report.outcomes] == [SyncAction.UNCHANGED] * 5
    assert {r.method for r in fake.requests} == {"GET"}


def test_changes_are_patched_and_other_attributes_are_kept(fake, client, customers):
    created = client.create_subscriber("c0@example.com", attribs={KEY: 0, "listmonk_only": "keep"})
    record = SubscriberData("c0@example.com", "New Name", {KEY: 0, "plan": "pro"}, (customers.id,))
    [outcome] = client.sync_subscribers([record], match_attribute=KEY).outcomes
    assert outcome.action is SyncAction.UPDATED
    assert outcome.subscriber.id == created.id
    assert outcome.subscriber.name == "New Name"
    assert outcome.subscriber.attribs == {KEY: 0, "listmonk_only": "keep", "plan": "pro"}
    [patch] = fake.calls("PATCH")
    assert patch.json["attribs"] == {"plan": "pro"}, "only what changed"


def test_an_email_change_follows_the_partner(client):
    client.sync_subscribers(contacts(1), match_attribute=KEY)
    moved = SubscriberData("new@example.com", "Contact 0", {KEY: 0})
    [outcome] = client.sync_subscribers([moved], match_attribute=KEY).outcomes
    assert outcome.action is SyncAction.UPDATED
    assert outcome.subscriber.email == "new@example.com"
    assert client.find_subscriber_by_email("c0@example.com") is None


def test_an_email_of_another_partner_is_refused_not_merged(client):
    client.sync_subscribers(contacts(1), match_attribute=KEY)
    twin = SubscriberData("c0@example.com", "Twin", {KEY: 99})
    [outcome] = client.sync_subscribers([twin], match_attribute=KEY).outcomes
    assert outcome.action is SyncAction.FAILED
    assert "odoo_partner_id=0" in outcome.error
    assert client.find_subscriber_by_email("c0@example.com").name == "Contact 0"


def test_an_existing_subscriber_without_the_attribute_is_claimed(client):
    client.create_subscriber("c0@example.com", name="From a form")
    [outcome] = client.sync_subscribers(contacts(1), match_attribute=KEY).outcomes
    assert outcome.action is SyncAction.UPDATED
    assert outcome.subscriber.attribs == {KEY: 0}


def test_it_never_unblocklists_nor_resubscribes(fake, client, customers):
    client.sync_subscribers(contacts(2, [customers.id]), match_attribute=KEY, preconfirm=True)
    fake.unsubscribe("c0@example.com", customers.id)
    client.blocklist_subscribers([client.find_subscriber_by_email("c1@example.com").id])
    news = client.create_list("News")
    report = client.sync_subscribers(
        contacts(2, [customers.id, news.id]), match_attribute=KEY, preconfirm=True
    )
    unsubscribed, blocked = (o.subscriber for o in report.outcomes)
    assert unsubscribed.subscription(customers.id).status == "unsubscribed"
    assert unsubscribed.subscription(news.id).status == "confirmed"
    assert blocked.is_blocklisted
    assert blocked.unsubscribed_list_ids == {customers.id, news.id}
    assert all("status" not in r.json for r in fake.calls("PATCH"))


def test_two_records_with_one_email_make_one_subscriber(client):
    records = [SubscriberData("same@example.com", "A"), SubscriberData("Same@Example.com", "B")]
    report = client.sync_subscribers(records)
    assert [o.action for o in report.outcomes] == [SyncAction.CREATED, SyncAction.UPDATED]
    assert client.query_subscribers().total == 1


def test_a_subscriber_created_meanwhile_is_updated_not_duplicated(client, monkeypatch):
    client.create_subscriber("c0@example.com", name="Created meanwhile")
    # The batch lookup ran before that subscriber existed.
    real = client.query_subscribers
    answers = iter([Page((), 0, 1, 0)])
    monkeypatch.setattr(
        client, "query_subscribers", lambda *a, **kw: next(answers, None) or real(*a, **kw)
    )
    [outcome] = client.sync_subscribers(contacts(1), match_attribute=KEY).outcomes
    assert outcome.action is SyncAction.UPDATED
    assert outcome.subscriber.name == "Contact 0"


def test_an_invalid_email_fails_alone(client):
    records = [
        *contacts(1),
        SubscriberData("not an email"),
        SubscriberData(""),
        *contacts(1, start=1),
    ]
    report = client.sync_subscribers(records, match_attribute=KEY)
    assert [o.action for o in report.outcomes] == [
        SyncAction.CREATED,
        SyncAction.FAILED,
        SyncAction.FAILED,
        SyncAction.CREATED,
    ]
    assert report.outcomes[1].error == "Invalid email."
    assert report.complete


def test_an_outage_mid_sync_loses_nothing_and_a_rerun_completes_it(fake, client, customers):
    records = contacts(25, [customers.id])
    fake.outage(after=14)  # Listmonk goes away during the second batch
    report = client.sync_subscribers(records, batch_size=10, match_attribute=KEY)

    assert not report.complete
    assert isinstance(report.interrupted_by, ListmonkUnavailable)
    assert len(report.outcomes) == 25, "every record is reported"
    assert [o.record for o in report.outcomes] == records, "in input order"
    done = [o for o in report.outcomes if o.action is SyncAction.CREATED]
    assert len(done) == 12 and len(report.pending) == 13
    stored = {row["email"] for row in fake.state.subscribers.values()}
    assert {o.subscriber.email for o in done} == stored, "reported = really stored"

    fake.clear_faults()
    rerun = client.sync_subscribers(report.pending_records, batch_size=10, match_attribute=KEY)
    assert rerun.complete
    assert len(rerun.created) == 13
    assert client.query_subscribers().total == 25


def test_a_create_whose_answer_is_lost_is_pending_and_found_by_the_rerun(fake, client, hasty):
    fake.inject(path="/api/subscribers$", method="POST", delay=0.5, times=1)
    report = hasty.sync_subscribers(contacts(3), match_attribute=KEY)
    assert isinstance(report.interrupted_by, ListmonkOutcomeUnknown)
    assert [o.action for o in report.outcomes] == [SyncAction.PENDING] * 3
    rerun = client.sync_subscribers(report.pending_records, match_attribute=KEY)
    assert [o.action for o in rerun.outcomes] == [
        SyncAction.UNCHANGED,  # it had been created after all
        SyncAction.CREATED,
        SyncAction.CREATED,
    ]
    assert client.query_subscribers().total == 3


def test_iter_sync_reports_each_batch(client):
    reports = list(client.iter_sync(contacts(25), batch_size=10, match_attribute=KEY))
    assert [len(r.outcomes) for r in reports] == [10, 10, 5]
    assert all(r.complete for r in reports)


def test_an_interrupted_iteration_ends_with_everything_left_pending(fake, client):
    fake.outage(after=0, path="/api/subscribers")
    reports = list(client.iter_sync(contacts(25), batch_size=10))
    assert len(reports) == 1
    assert len(reports[0].pending) == 25


def test_a_bad_match_attribute_is_refused_up_front(client):
    with pytest.raises(ValueError):
        client.sync_subscribers(contacts(1), match_attribute="a'b")
