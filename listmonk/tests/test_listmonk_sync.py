"""Batched subscriber sync: upsert-safe, never overriding the subscriber's own choices,
and resumable after an outage (nothing lost, re-running completes it)."""

import pytest

from listmonk import (
    ListmonkClient,
    ListmonkOutcomeUnknown,
    ListmonkUnavailable,
    Page,
    SubscriberData,
    SyncAction,
)
from listmonk import sync as sync_module
from listmonk.testing import FakeListmonk

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


# -- known Listmonk IDs -----------------------------------------------------------------


def known(client, records):
    """The records again, each with the ID its subscriber got."""
    ids = {s.email: s.id for s in client.iter_subscribers()}
    return [
        SubscriberData(r.email, r.name, r.attribs, r.lists, subscriber_id=ids[r.email])
        for r in records
    ]


def test_a_known_id_is_patched_without_a_lookup(fake, client, customers):
    client.sync_subscribers(contacts(3, [customers.id]), match_attribute=KEY)
    client.patch_subscriber(client.find_subscriber_by_email("c0@example.com").id, attribs={"x": 1})
    fake.requests.clear()
    changed = [
        SubscriberData(
            r.email, "Renamed", {KEY: r.attribs[KEY], "city": "Kiel"}, r.lists, r.subscriber_id
        )
        for r in known(client, contacts(3, [customers.id]))
    ]
    fake.requests.clear()
    report = client.sync_subscribers(changed, match_attribute=KEY)
    assert [o.action for o in report.outcomes] == [SyncAction.UPDATED] * 3
    assert [r.method for r in fake.requests] == ["PATCH"] * 3, "no lookup, nothing else"
    first = report.outcomes[0].subscriber
    assert (first.name, first.attribs) == ("Renamed", {KEY: 0, "x": 1, "city": "Kiel"})
    assert all("status" not in r.json and "lists" not in r.json for r in fake.requests)


def test_lists_of_known_ids_are_added_in_bulk_and_unsubscribes_stay(fake, client, customers):
    news, events = client.create_list("News"), client.create_list("Events")
    client.sync_subscribers(contacts(4, [customers.id]), match_attribute=KEY)
    fake.unsubscribe("c0@example.com", customers.id)
    records = known(client, contacts(4, [customers.id, news.id]))
    records[3] = SubscriberData(
        records[3].email, "", records[3].attribs, (events.id,), records[3].subscriber_id
    )
    fake.requests.clear()
    report = client.sync_subscribers(records, match_attribute=KEY)
    assert [o.action for o in report.outcomes] == [SyncAction.UPDATED] * 4
    bulk = fake.calls("PUT", "/api/subscribers/lists$")
    assert sorted((r.json["target_list_ids"], sorted(r.json["ids"])) for r in bulk) == sorted(
        [
            ([news.id], [r.subscriber_id for r in records[:3]]),
            ([events.id], [records[3].subscriber_id]),
        ]
    ), "one call per set of missing lists"
    assert all("status" not in r.json for r in bulk)
    c0 = report.outcomes[0].subscriber
    assert c0.subscription(customers.id).status == "unsubscribed"
    assert c0.subscription(news.id).status == "unconfirmed"
    assert report.outcomes[3].subscriber.list_ids == {customers.id, events.id}


def test_known_ids_keep_the_sync_semantics_of_preconfirm_and_blocklists(fake, client, customers):
    news = client.create_list("News")
    client.sync_subscribers(contacts(2, [customers.id]), match_attribute=KEY, preconfirm=True)
    client.blocklist_subscribers([client.find_subscriber_by_email("c1@example.com").id])
    report = client.sync_subscribers(
        known(client, contacts(2, [customers.id, news.id])), match_attribute=KEY, preconfirm=True
    )
    confirmed, blocked = (o.subscriber for o in report.outcomes)
    assert confirmed.subscription(news.id).status == "confirmed"
    assert blocked.is_blocklisted
    assert blocked.unsubscribed_list_ids == {customers.id, news.id}


def test_a_known_id_deleted_in_listmonk_is_looked_up_and_created_again(fake, client, customers):
    client.sync_subscribers(contacts(2, [customers.id]), match_attribute=KEY)
    records = known(client, contacts(2, [customers.id]))
    client.delete_subscribers([records[0].subscriber_id])
    report = client.sync_subscribers(records, match_attribute=KEY)
    assert [o.action for o in report.outcomes] == [SyncAction.CREATED, SyncAction.UPDATED]
    assert report.outcomes[0].subscriber.id != records[0].subscriber_id
    assert client.query_subscribers().total == 2


def test_a_known_id_whose_new_email_is_taken_fails_alone(fake, client):
    client.sync_subscribers(contacts(2), match_attribute=KEY)
    first, second = known(client, contacts(2))
    moved = SubscriberData("c1@example.com", "C", first.attribs, (), first.subscriber_id)
    report = client.sync_subscribers([moved, second], match_attribute=KEY)
    assert [o.action for o in report.outcomes] == [SyncAction.FAILED, SyncAction.UPDATED]
    assert report.outcomes[0].error.startswith("email taken")


def test_an_outage_before_the_bulk_lists_leaves_those_contacts_pending(fake, client, customers):
    news = client.create_list("News")
    client.sync_subscribers(contacts(2, [customers.id]), match_attribute=KEY)
    records = known(client, contacts(2, [customers.id, news.id]))
    fake.outage(path="/api/subscribers/lists$")
    report = client.sync_subscribers(records, match_attribute=KEY)
    assert [o.action for o in report.outcomes] == [SyncAction.PENDING] * 2
    fake.clear_faults()
    rerun = client.sync_subscribers(report.pending_records, match_attribute=KEY)
    assert rerun.complete
    assert all(o.subscriber.list_ids == {customers.id, news.id} for o in rerun.outcomes)


# -- creating by import -----------------------------------------------------------------


def test_enough_new_contacts_are_created_by_one_import_per_list_set(fake, client, customers):
    news = client.create_list("News")
    records = [*contacts(4, [customers.id]), *contacts(3, [customers.id, news.id], start=4)]
    records.insert(2, SubscriberData("c0@example.com", "Again", {KEY: 0}, (customers.id,)))
    report = client.sync_subscribers(records, match_attribute=KEY, import_from=3, preconfirm=True)
    assert report.complete
    actions = [o.action for o in report.outcomes]
    assert actions == [SyncAction.CREATED] * 2 + [SyncAction.UPDATED] + [SyncAction.CREATED] * 5
    assert len(fake.calls("POST", "/api/import/subscribers")) == 2
    assert fake.calls("POST", "/api/subscribers$") == [], "no single create"
    stored = {s.email: s for s in client.iter_subscribers()}
    for outcome in report.created:
        subscriber = outcome.subscriber
        assert subscriber.id == stored[outcome.record.email].id
        assert subscriber.attribs == {KEY: outcome.record.attribs[KEY]}
        assert subscriber.list_ids == set(outcome.record.lists)
        assert {s.status for s in subscriber.subscriptions} == {"confirmed"}
    assert stored["c0@example.com"].name == "Again"


def test_an_import_is_read_back_by_id_range_in_a_few_requests(fake, client, customers):
    """Not ~40 emails per lookup: a first sync of 100,000 contacts made 1,854 of them."""
    client.sync_subscribers(contacts(5, [customers.id]), match_attribute=KEY)  # there before
    records = contacts(2500, [customers.id], start=5)
    report = client.sync_subscribers(records, batch_size=2500, match_attribute=KEY, import_from=3)
    sent = list(fake.requests)
    assert [o.action for o in report.outcomes] == [SyncAction.CREATED] * 2500
    stored = {s.email: s.id for s in client.iter_subscribers(per_page=1000)}
    assert all(o.subscriber.id == stored[o.record.email] for o in report.outcomes)
    [upload] = fake.calls("POST", "/api/import/subscribers")
    after = [
        r.query["query"][0]
        for r in sent[sent.index(upload) :]
        if r.method == "GET" and r.path == "/api/subscribers"
    ]
    assert after == [
        "(subscribers.id > 5 AND subscribers.id <= 1005)",
        "(subscribers.id > 1005 AND subscribers.id <= 2005)",
        "(subscribers.id > 2005)",
    ]


def test_someone_elses_new_subscriber_in_the_range_is_not_taken_for_ours(
    fake, client, customers, monkeypatch
):
    original = client.import_subscribers

    def import_while_a_form_subscribes(*args, **kwargs):
        client.create_subscriber("walk-in@example.com", name="Walk-in")
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "import_subscribers", import_while_a_form_subscribes)
    report = client.sync_subscribers(
        contacts(4, [customers.id]), match_attribute=KEY, import_from=3
    )
    assert [o.record.email for o in report.created] == [f"c{i}@example.com" for i in range(4)]
    assert all(o.subscriber.email == o.record.email for o in report.outcomes)
    assert client.query_subscribers().total == 5


def test_below_the_threshold_contacts_are_posted(fake, client, customers):
    report = client.sync_subscribers(contacts(2, [customers.id]), import_from=3)
    assert len(report.created) == 2
    assert fake.calls("POST", "/api/import") == []


def test_what_the_import_did_not_create_is_created_one_by_one(fake, client, customers):
    records = [*contacts(3, [customers.id]), SubscriberData("not an email", lists=(customers.id,))]
    report = client.sync_subscribers(records, match_attribute=KEY, import_from=2)
    assert [o.action for o in report.outcomes] == [SyncAction.CREATED] * 3 + [SyncAction.FAILED]
    assert report.outcomes[3].error == "Invalid email."


def test_an_import_onto_a_deleted_list_falls_back_to_single_creates(fake, client, customers):
    report = client.sync_subscribers(contacts(3, [customers.id, 99]), import_from=2)
    assert len(report.created) == 3, "the import created nothing: Listmonk's FK error"
    assert len(fake.calls("POST", "/api/subscribers$")) == 3
    assert all(o.subscriber.list_ids == {customers.id} for o in report.created)


def test_without_the_import_permission_contacts_are_posted(fake, customers):
    fake.add_user(
        "crm",
        "t",
        {"subscribers:get_all", "subscribers:sql_query", "subscribers:manage", "lists:manage_all"},
    )
    from listmonk import ListmonkClient

    with ListmonkClient(fake.base_url, "crm", "t", retries=0) as crm:
        report = crm.sync_subscribers(contacts(6, [customers.id]), batch_size=3, import_from=2)
    assert len(report.created) == 6
    assert len(fake.calls("POST", "/api/import/subscribers")) == 1, "asked once"


def test_an_outage_during_the_import_is_resumable(fake, client, customers):
    records = contacts(12, [customers.id])
    fake.outage(path="^/api/import/subscribers$", method="GET")  # the status polls
    report = client.sync_subscribers(records, batch_size=6, match_attribute=KEY, import_from=3)
    assert isinstance(report.interrupted_by, ListmonkUnavailable)
    assert [o.action for o in report.outcomes] == [SyncAction.PENDING] * 12
    fake.clear_faults()
    fake.wait_for_import()
    rerun = client.sync_subscribers(
        report.pending_records, batch_size=6, match_attribute=KEY, import_from=3
    )
    assert rerun.complete
    assert [o.action for o in rerun.outcomes] == [SyncAction.UNCHANGED] * 6 + [
        SyncAction.CREATED
    ] * 6, "imported before the outage: found unchanged"
    assert client.query_subscribers().total == 12


def test_an_outage_while_reading_the_import_back(fake, client, customers, monkeypatch):
    monkeypatch.setattr(sync_module, "_READBACK_IDS", 100)  # three requests
    records = contacts(300, [customers.id])
    with FakeListmonk() as rehearsal:  # how many lookups come before the import?
        with ListmonkClient(rehearsal.base_url, rehearsal.username, rehearsal.token) as other:
            other.create_list("Customers")
            other.sync_subscribers(records, batch_size=300, match_attribute=KEY, import_from=3)
        first_import = rehearsal.requests.index(rehearsal.calls("POST", "/api/import")[0])
        lookups = len([r for r in rehearsal.requests[:first_import] if r.method == "GET"])
    fake.outage(after=lookups + 1, path="^/api/subscribers$", method="GET")  # one read back
    report = client.sync_subscribers(records, batch_size=300, match_attribute=KEY, import_from=3)
    assert isinstance(report.interrupted_by, ListmonkUnavailable)
    assert 0 < len(report.created) < 300
    assert len(report.created) + len(report.pending) == 300
    assert fake.calls("POST", "/api/subscribers$") == []
    fake.clear_faults()
    rerun = client.sync_subscribers(report.pending_records, match_attribute=KEY, import_from=3)
    assert [o.action for o in rerun.outcomes] == [SyncAction.UNCHANGED] * len(
        report.pending
    ), "imported before the outage: the rerun finds them"
    assert client.query_subscribers().total == 300


# -- threads ----------------------------------------------------------------------------


def _mixed(client, customers):
    news = client.create_list("News")
    client.sync_subscribers(contacts(6, [customers.id]), match_attribute=KEY)
    ids = known(client, contacts(3, [customers.id, news.id]))
    return [
        *ids,
        *contacts(3, [customers.id], start=3),  # existing, looked up, unchanged
        *contacts(4, [news.id], start=6),  # new
        SubscriberData("c6@example.com", "Twin", {KEY: 6}, (news.id,)),  # same email again
        SubscriberData("c0@example.com", "Other", {KEY: 99}),  # another partner's email
        SubscriberData("bad email", lists=(news.id,)),
    ]


def _summary(report):
    return [
        (o.record.email, o.action, o.subscriber and o.subscriber.list_ids, o.error)
        for o in report.outcomes
    ]


def test_workers_give_the_same_result_in_the_same_order(fake, client, customers):
    records = _mixed(client, customers)
    report = client.sync_subscribers(records, match_attribute=KEY, workers=4)
    with FakeListmonk() as other:
        with ListmonkClient(other.base_url, other.username, other.token) as single:
            single.create_list("Customers")
            expected = single.sync_subscribers(_mixed(single, customers), match_attribute=KEY)
    assert _summary(report) == _summary(expected)
    assert [o.record for o in report.outcomes] == records


def test_an_outage_with_workers_loses_nothing(fake, client, customers):
    records = contacts(40, [customers.id])
    fake.outage(after=15)
    report = client.sync_subscribers(records, batch_size=20, match_attribute=KEY, workers=4)
    assert isinstance(report.interrupted_by, ListmonkUnavailable)
    assert [o.record for o in report.outcomes] == records
    stored = {row["email"] for row in fake.state.subscribers.values()}
    assert {o.subscriber.email for o in report.created} <= stored
    fake.clear_faults()
    rerun = client.sync_subscribers(report.pending_records, match_attribute=KEY, workers=4)
    assert rerun.complete
    assert client.query_subscribers().total == 40


def test_bad_options_are_refused(client):
    with pytest.raises(ValueError):
        client.sync_subscribers(contacts(1), import_from=0)
    with pytest.raises(ValueError):
        client.sync_subscribers(contacts(1), workers=0)


def test_no_lookup_is_longer_than_the_limit(fake, client, customers):
    from listmonk.sync import _MAX_QUERY_CHARS

    odd = [
        SubscriberData(f"o'{'x' * (i % 40)}{i}@example.com", attribs={KEY: f"k'{i}"})
        for i in range(400)
    ]
    client.sync_subscribers(
        [*odd, *contacts(400, [customers.id])], batch_size=800, match_attribute=KEY, import_from=10
    )
    queries = [r.query["query"][0] for r in fake.calls("GET", "/api/subscribers$")]
    assert len(queries) > 10
    assert max(len(q) for q in queries) <= _MAX_QUERY_CHARS + 2  # the client's parentheses
    assert max(len(q) for q in queries) > _MAX_QUERY_CHARS - 100, "and the room is used"


def test_a_list_gone_from_listmonk_is_dropped_for_known_ids_too(fake, client, customers):
    client.sync_subscribers(contacts(2), match_attribute=KEY)
    records = known(client, contacts(2, [customers.id, 99]))
    report = client.sync_subscribers(records, match_attribute=KEY)
    assert [o.action for o in report.outcomes] == [SyncAction.UPDATED] * 2
    assert all(o.subscriber.list_ids == {customers.id} for o in report.outcomes)
    assert len(fake.calls("PUT", "/api/subscribers/lists$")) == 1, "tried in bulk first"
