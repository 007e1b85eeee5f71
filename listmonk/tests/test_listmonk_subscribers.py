"""Subscribers and lists: lookups, PUT vs PATCH, blocklist and unsubscribe read back."""

from datetime import datetime, timedelta, timezone

import pytest

from listmonk import ListmonkNotFound


def test_create_returns_the_full_subscriber_with_its_lists(client, customers):
    created = client.create_subscriber(
        "Jane.Roe@Example.com",
        name="Jane Roe",
        lists=[customers.id],
        attribs={"crm_id": "C-991", "plan": "pro"},
        preconfirm=True,
    )
    assert created.email == "jane.roe@example.com"  # Listmonk lowercases
    assert created.attribs == {"crm_id": "C-991", "plan": "pro"}
    [subscription] = created.subscriptions
    assert (subscription.list_id, subscription.list_name, subscription.status) == (
        customers.id,
        "Customers",
        "confirmed",
    )
    assert created.created_at and created.created_at.tzinfo is not None
    assert client.get_subscriber(created.id) == created


def test_without_preconfirm_subscriptions_are_unconfirmed(client, customers):
    created = client.create_subscriber("a@example.com", lists=[customers.id])
    assert created.subscription(customers.id).status == "unconfirmed"


def test_lookup_by_email_is_exact_and_case_insensitive(client):
    client.create_subscriber("o'hara+news@example.com")
    client.create_subscriber("ohara@example.com")
    found = client.find_subscriber_by_email("O'Hara+News@Example.com")
    assert found is not None and found.email == "o'hara+news@example.com"
    assert client.find_subscriber_by_email("hara@example.com") is None


def test_lookup_by_attribute_finds_the_odoo_partner(client):
    client.create_subscriber("a@example.com", attribs={"odoo_partner_id": 7})
    client.create_subscriber("b@example.com", attribs={"odoo_partner_id": 8})
    assert [s.email for s in client.find_subscribers_by_attribute("odoo_partner_id", 7)] == [
        "a@example.com"
    ]
    with pytest.raises(ValueError):
        client.find_subscribers_by_attribute("x'; DROP TABLE subscribers; --", 1)


def test_patch_merges_attributes_and_keeps_lists(client, customers):
    created = client.create_subscriber(
        "a@example.com", lists=[customers.id], attribs={"crm_id": "C-1", "plan": "pro"}
    )
    patched = client.patch_subscriber(created.id, attribs={"plan": "enterprise"})
    assert patched.attribs == {"crm_id": "C-1", "plan": "enterprise"}
    assert patched.list_ids == {customers.id}


def test_put_replaces_attributes_and_lists(client, customers):
    created = client.create_subscriber(
        "a@example.com", lists=[customers.id], attribs={"crm_id": "C-1", "plan": "pro"}
    )
    replaced = client.update_subscriber(
        created.id, email="a@example.com", lists=[], attribs={"plan": "free"}
    )
    assert replaced.attribs == {"plan": "free"}
    assert replaced.subscriptions == ()
    assert replaced.name == created.name  # an empty name keeps the old one


def test_unsubscribe_and_blocklist_are_read_back(fake, client, customers):
    news = client.create_list("News", optin="double")
    created = client.create_subscriber(
        "a@example.com", lists=[customers.id, news.id], preconfirm=True
    )
    fake.unsubscribe("a@example.com", news.id)  # the campaign's unsubscribe link
    again = client.get_subscriber(created.id)
    assert again.unsubscribed_list_ids == {news.id}
    assert not again.is_blocklisted

    client.blocklist_subscribers([created.id])
    blocked = client.get_subscriber(created.id)
    assert blocked.is_blocklisted
    assert blocked.unsubscribed_list_ids == {customers.id, news.id}


def test_patching_lists_never_resubscribes(fake, client, customers):
    news = client.create_list("News")
    created = client.create_subscriber("a@example.com", lists=[news.id], preconfirm=True)
    fake.unsubscribe("a@example.com", news.id)
    patched = client.patch_subscriber(created.id, lists=[news.id, customers.id], preconfirm=True)
    assert patched.subscription(news.id).status == "unsubscribed"
    assert patched.subscription(customers.id).status == "confirmed"


def test_adding_to_lists_without_status_leaves_existing_subscriptions(fake, client, customers):
    news = client.create_list("News")
    a = client.create_subscriber("a@example.com", lists=[news.id], preconfirm=True)
    b = client.create_subscriber("b@example.com")
    fake.unsubscribe("a@example.com", news.id)
    client.change_subscriptions([a.id, b.id], "add", [news.id])
    assert client.get_subscriber(a.id).subscription(news.id).status == "unsubscribed"
    assert client.get_subscriber(b.id).subscription(news.id).status == "unconfirmed"
    client.change_subscriptions([b.id], "unsubscribe", [news.id])
    assert client.get_subscriber(b.id).unsubscribed_list_ids == {news.id}
    client.change_subscriptions([b.id], "remove", [news.id])
    assert client.get_subscriber(b.id).subscriptions == ()


def test_changed_subscribers_include_unsubscribes_via_campaign_links(fake, client, customers):
    client.create_subscriber("a@example.com", lists=[customers.id])
    client.create_subscriber("b@example.com", lists=[customers.id])
    since = datetime.now(timezone.utc) + timedelta(microseconds=1)
    assert list(client.iter_changed_subscribers(since)) == []
    fake.unsubscribe("b@example.com", customers.id)
    assert [s.email for s in client.iter_changed_subscribers(since)] == ["b@example.com"]


def test_delete_subscribers(client):
    a = client.create_subscriber("a@example.com")
    client.delete_subscribers([a.id])
    with pytest.raises(ListmonkNotFound):
        client.get_subscriber(a.id)
    assert not client.subscriber_exists(a.id)


def test_lists_create_find_update_delete(client):
    created = client.create_list("Customers", optin="double", tags=["crm sync"])
    assert created.tags == ("crm-sync",)  # whitespace becomes '-'
    assert client.find_list("Customers") == created
    assert client.find_list("customers") is None  # exact name only
    assert client.ensure_list("Customers").id == created.id
    updated = client.update_list(created.id, name="Clients", tags=created.tags)
    assert (updated.name, updated.optin, updated.tags) == ("Clients", "double", ("crm-sync",))
    client.delete_list(created.id)
    assert client.find_list("Clients") is None
    assert client.ensure_list("Clients").id != created.id


def test_list_counts_include_every_subscription_status(fake, client, customers):
    client.create_subscriber("a@example.com", lists=[customers.id], preconfirm=True)
    client.create_subscriber("b@example.com", lists=[customers.id])
    fake.unsubscribe("b@example.com", customers.id)
    counted = client.get_list(customers.id)
    assert counted.subscriber_count == 2
    assert counted.subscriber_statuses == {"confirmed": 1, "unsubscribed": 1}
