"""Pagination and its quirks (contract section 2.5)."""

from listmonk import CampaignDraft


def test_iterating_subscribers_walks_every_page_once(fake, client):
    for n in range(45):
        client.create_subscriber(f"s{n}@example.com")
    fake.requests.clear()
    emails = [s.email for s in client.iter_subscribers(per_page=10)]
    assert sorted(emails) == sorted(f"s{n}@example.com" for n in range(45))
    assert [r.query["page"] for r in fake.requests] == [["1"], ["2"], ["3"], ["4"], ["5"]]


def test_a_page_reports_its_position(client):
    for n in range(5):
        client.create_subscriber(f"s{n}@example.com")
    page = client.query_subscribers(page=2, per_page=2)
    assert (len(page.results), page.total, page.page, page.per_page) == (2, 5, 2, 2)
    beyond = client.query_subscribers(page=9, per_page=2)
    assert (beyond.results, beyond.total) == ((), 5)
    everything = client.query_subscribers(per_page="all")
    assert (len(everything.results), everything.per_page) == (5, 0)


def test_a_subscriber_on_two_filtered_lists_is_yielded_once(client, customers):
    news = client.create_list("News")
    client.create_subscriber("a@example.com", lists=[customers.id, news.id])
    client.create_subscriber("b@example.com", lists=[news.id])
    page = client.query_subscribers(list_ids=[customers.id, news.id], per_page="all")
    assert page.total == 3, "Listmonk counts a@ twice"
    emails = [s.email for s in client.iter_subscribers(list_ids=[customers.id, news.id])]
    assert sorted(emails) == ["a@example.com", "b@example.com"]


def test_a_query_with_or_stays_inside_the_list_filter(client, customers):
    news = client.create_list("News")
    client.create_subscriber("a@example.com", lists=[customers.id])
    client.create_subscriber("b@example.com", lists=[news.id])
    query = "subscribers.email = 'a@example.com' OR subscribers.email = 'b@example.com'"
    found = [s.email for s in client.iter_subscribers(query, list_ids=[customers.id])]
    assert found == ["a@example.com"]


def test_the_fake_reproduces_the_ungrouped_or_quirk(fake):
    import httpx

    headers = {"Authorization": f"token {fake.username}:{fake.token}"}
    lists = httpx.post(fake.base_url + "/api/lists", json={"name": "L"}, headers=headers)
    list_id = lists.json()["data"]["id"]
    for email, on in (("a@example.com", [list_id]), ("b@example.com", [])):
        httpx.post(
            fake.base_url + "/api/subscribers", json={"email": email, "lists": on}, headers=headers
        )
    raw = "subscribers.email = 'a@example.com' OR subscribers.email = 'b@example.com'"
    answer = httpx.get(
        fake.base_url + "/api/subscribers",
        params={"query": raw, "list_id": list_id},
        headers=headers,
    ).json()["data"]
    assert answer["total"] == 2, "b@ escapes the list filter without parentheses"


def test_empty_campaign_listing_with_zero_page_is_handled(fake, client):
    assert list(client.iter_campaigns(statuses=["finished"])) == []
    page = client.get_campaigns(statuses=["finished"])
    assert (page.total, page.page, page.per_page) == (0, 0, 0)
    assert len(fake.calls("GET", "/api/campaigns")) == 2


def test_iterating_campaigns_and_lists(client, customers):
    for n in range(3):
        client.create_campaign(CampaignDraft(f"C{n}", "Hi", (customers.id,)))
        client.create_list(f"L{n}")
    assert sorted(c.name for c in client.iter_campaigns()) == ["C0", "C1", "C2"]
    assert len(list(client.iter_lists())) == 4


def test_minimal_lists_without_any_list_is_a_bare_array(fake, client):
    assert client.find_list("Customers") is None
    assert fake.requests[-1].status == 200
