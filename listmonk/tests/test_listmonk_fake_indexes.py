"""The fake's indexes change how much it reads, never what it answers: a query narrowed
by its bound gives what the full scan gives, and the indexes follow every write."""

import io
import zipfile

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listmonk import SubscriberData
from listmonk.testing import FakeListmonk
from listmonk.testing import _subscribers as subscribers_module
from listmonk.testing._base import FakeUser, Request
from listmonk.testing._sql import Row, compile_query
from listmonk.testing._subscribers import SubscriberRoutes

EMAILS = [f"{name}@example.com" for name in ("ada", "bob", "o'hara", "zoe", "eve", "max")]
VALUES = ["7", "007", "x", "true"]  # few, so that they collide (and 7 = '007' as a number)


def _store(people, subscriptions):
    store = SubscriberRoutes("", "v6.2.0")
    for list_id in (1, 2):
        store.lists[list_id] = {"id": list_id, "uuid": f"u{list_id}", "name": f"L{list_id}"}
        store.lists[list_id] |= {"type": "private", "optin": "single", "status": "active"}
        store.lists[list_id] |= {"tags": [], "description": "", "created_at": None}
        store.lists[list_id]["updated_at"] = None
    for subscriber_id, (email, crm, city) in enumerate(people, start=1):
        attribs = {} if crm is None else {"crm": crm}
        if city is not None:
            attribs["city"] = city
        store.subscribers[subscriber_id] = {
            "id": subscriber_id,
            "uuid": f"uuid-{subscriber_id}",
            "email": email,
            "name": email.split("@")[0],
            "attribs": attribs,
            "status": "enabled",
            "created_at": None,
            "updated_at": None,
        }
    for subscriber_id, list_id, status in subscriptions:
        if subscriber_id in store.subscribers:
            store.subscriptions[(subscriber_id, list_id)] = {"status": status}
            store.subscriptions[(subscriber_id, list_id)] |= {"created_at": None}
            store.subscriptions[(subscriber_id, list_id)]["updated_at"] = None
    return store


def _literal(value):
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


atoms = st.one_of(
    st.builds(
        lambda column, values: f"{column} IN ({', '.join(_literal(v) for v in values)})",
        st.sampled_from(["subscribers.email", "LOWER(subscribers.email)", "email"]),
        st.lists(st.sampled_from([*EMAILS, "ADA@example.com", "nobody@x.org"]), min_size=1),
    ),
    st.builds(
        lambda column, value: f"{column} = {_literal(value)}",
        st.sampled_from(["subscribers.email", "LOWER(subscribers.email)"]),
        st.sampled_from([*EMAILS, "Bob@Example.com"]),
    ),
    st.builds(
        lambda value, flip: f"{_literal(value)} = subscribers.email"
        if flip
        else f"subscribers.email = {_literal(value)}",
        st.sampled_from(EMAILS),
        st.booleans(),
    ),
    st.builds(
        lambda values: f"subscribers.id IN ({', '.join(_literal(v) for v in values)})",
        st.lists(st.one_of(st.integers(0, 8), st.sampled_from(["3", "03", "x", "-1"])), min_size=1),
    ),
    st.builds(
        lambda op, value, flip: f"{_literal(value)} {op} subscribers.id"
        if flip
        else f"subscribers.id {op} {_literal(value)}",
        st.sampled_from(["<", "<=", ">", ">="]),
        st.one_of(st.integers(0, 9), st.sampled_from(["3", "07"])),
        st.booleans(),
    ),
    st.builds(
        lambda value, flip: f"{_literal(value)} = id" if flip else f"id = {_literal(value)}",
        st.one_of(st.integers(0, 8), st.sampled_from(["2", "02", "+2"])),
        st.booleans(),
    ),
    st.builds(
        lambda key,
        values: f"subscribers.attribs->>'{key}' IN ({', '.join(map(_literal, values))})",
        st.sampled_from(["crm", "city"]),
        st.lists(st.sampled_from([*VALUES, 7, 1]), min_size=1, max_size=3),
    ),
    st.builds(
        lambda key, value, flip: f"{_literal(value)} = subscribers.attribs->>'{key}'"
        if flip
        else f"subscribers.attribs->>'{key}' = {_literal(value)}",
        st.sampled_from(["crm", "city"]),
        st.sampled_from([*VALUES, 7, 1]),
        st.booleans(),
    ),
    st.sampled_from(
        [
            "TRUE",
            "FALSE",
            "subscribers.name = 'zoe'",
            "subscribers.id > 3",
            "subscribers.attribs->>'crm' IS NULL",
            "subscribers.email NOT IN ('ada@example.com')",
            "subscriber_lists.status = 'unsubscribed'",
            "EXISTS (SELECT 1 FROM subscriber_lists sl WHERE sl.subscriber_id = subscribers.id "
            "AND sl.list_id = 2)",
        ]
    ),
)
conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} AND {b}", inner, inner),
        st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
        st.builds(lambda a: f"NOT {a}", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=5,
)
people = st.lists(
    st.tuples(
        st.sampled_from(EMAILS),
        st.one_of(st.none(), st.sampled_from([*VALUES, 7, True])),
        st.one_of(st.none(), st.sampled_from(VALUES)),
    ),
    max_size=6,
    unique_by=lambda person: person[0],
)
memberships = st.lists(
    st.tuples(
        st.integers(1, 6),
        st.integers(1, 2),
        st.sampled_from(["unconfirmed", "confirmed", "unsubscribed"]),
    ),
    max_size=8,
)


def _ask(store, query, **params):
    values = {"query": [query], "per_page": ["all"]} | {k: v for k, v in params.items() if v}
    return store.query_subscribers(
        Request("GET", "/api/subscribers", values, {}, FakeUser("a", "t"))
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    people,
    memberships,
    conditions,
    st.lists(st.sampled_from(["1", "2"]), max_size=2),
    st.sampled_from(["", "confirmed", "unsubscribed"]),
    st.sampled_from(["", "email", "name"]),
)
def test_narrowed_queries_answer_like_the_full_scan(
    everyone, subscriptions, condition, list_ids, status, order_by
):
    store = _store(everyone, subscriptions)
    params = {"list_id": list_ids, "subscription_status": [status], "order_by": [order_by]}
    narrowed = _ask(store, condition, **params)
    store.use_indexes = False
    scanned = _ask(store, condition, **params)
    assert narrowed == scanned
    store.check_indexes()


@settings(max_examples=300, deadline=None)
@given(people, memberships, atoms)
def test_each_kind_of_condition_narrows_exactly(everyone, subscriptions, condition):
    store = _store(everyone, subscriptions)
    narrowed = _ask(store, condition)
    store.use_indexes = False
    assert narrowed == _ask(store, condition)


@pytest.mark.parametrize(
    "condition",
    [
        "7 = subscribers.attribs->>'crm'",  # as numbers: '007' matches
        "subscribers.attribs->>'crm' = 7",  # as text: '007' does not
        "subscribers.attribs->>'crm' IN ('true', 7)",
        "subscribers.id IN ('03', 'x')",
        "'03' = subscribers.id",
        "LOWER(subscribers.email) = 'ADA@example.com'",
        "subscribers.email = 'ADA@example.com'",
        "subscribers.email IN ('ada@example.com') OR FALSE",
    ],
)
def test_coercions_narrow_exactly(condition):
    store = _store(
        [("ada@example.com", "007", None), ("bob@example.com", 7, "7"), ("zoe@x.org", True, None)],
        [],
    )
    narrowed = _ask(store, condition)
    store.use_indexes = False
    assert narrowed == _ask(store, condition)


@pytest.mark.parametrize(
    "condition, bounded",
    [
        ("subscribers.email = 'a@b.c'", True),
        ("subscribers.email IN ('a@b.c', 'd@e.f') OR subscribers.id = 3", True),
        ("subscribers.email = 'a@b.c' AND subscribers.name = 'x'", True),
        ("subscribers.email = 'a@b.c' OR subscribers.name = 'x'", False),
        ("NOT subscribers.email = 'a@b.c'", False),
        ("subscribers.attribs->>'k' IN ('1', '2')", True),
        ("7 = subscribers.attribs->>'k'", False),  # compared as numbers: '007' matches
    ],
)
def test_what_bounds_a_query(condition, bounded):
    assert (compile_query(condition)[1] is not None) == bounded


def test_listmonks_pasting_keeps_an_or_out_of_the_bound():
    """``__lists__ AND __search__ AND a OR b``: b escapes the list filter, and the bound."""
    _, bound = compile_query("__lists__ AND __search__ AND id = 1 OR subscribers.name = 'x'")
    assert bound is None


def test_a_lookup_reads_only_the_rows_it_names(fake, client, monkeypatch):
    client.import_subscribers(
        [SubscriberData(f"s{i}@example.com", attribs={"crm": i}) for i in range(3000)],
        [client.create_list("L").id],
    )
    built = []

    class CountingRow(Row):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self.subscriber["id"])

    monkeypatch.setattr(subscribers_module, "Row", CountingRow)
    found = client.query_subscribers(
        "subscribers.email IN ('s1@example.com', 's2@example.com') "
        "OR subscribers.attribs->>'crm' = '2999'",
        per_page="all",
    )
    assert sorted(s.email for s in found.results) == [
        "s1@example.com",
        "s2999@example.com",
        "s2@example.com",
    ]
    assert len(built) == 3, "three candidate rows, not 3,000"
    built.clear()
    assert client.query_subscribers("subscribers.name = 'S1'", per_page=1).total == 1
    assert len(built) == 3000, "nothing to narrow by: a full scan, as in Postgres"


def _form(params, csv_text, filename="people.csv"):
    return {"params": params}, {"file": (filename, csv_text.encode(), "text/csv")}


def test_the_indexes_follow_every_write(fake, client):
    http = httpx.Client(base_url=fake.base_url)
    auth = {"Authorization": f"token {fake.username}:{fake.token}"}
    lists = [client.create_list("A").id, client.create_list("B").id]
    ada = client.create_subscriber("ada@example.com", attribs={"crm": 1}, lists=lists)
    bob = client.create_subscriber("bob@example.com", attribs={"crm": 2}, lists=lists[:1])
    assert client.find_subscribers_by_attribute("crm", 1)[0].id == ada.id  # index built
    client.patch_subscriber(ada.id, email="lovelace@example.com", attribs={"crm": 3})
    client.update_subscriber(bob.id, email="robert@example.com", lists=lists, attribs={"crm": 1})
    client.change_subscriptions([ada.id, bob.id], "unsubscribe", lists[1:])
    client.blocklist_subscribers([bob.id])
    data, files = _form(
        '{"mode": "subscribe", "delim": ",", "lists": [1, 2], "overwrite": true}',
        'email,name,attributes\nrobert@example.com,Rob,"{""crm"": 9}"\nnew@example.com,N,{}\n',
    )
    assert http.post("/api/import/subscribers", data=data, files=files, headers=auth).is_success
    fake.wait_for_import()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("more.csv", "email\nzip@example.com\n")
    data, files = _form('{"mode": "blocklist", "delim": ","}', "")
    files = {"file": ("more.zip", buffer.getvalue(), "application/zip")}
    assert http.post("/api/import/subscribers", data=data, files=files, headers=auth).is_success
    fake.wait_for_import()
    fake.state.check_indexes()
    assert client.find_subscriber_by_email("ada@example.com") is None
    assert client.find_subscriber_by_email("lovelace@example.com").id == ada.id
    assert [s.email for s in client.find_subscribers_by_attribute("crm", 9)] == [
        "robert@example.com"
    ]
    assert client.find_subscribers_by_attribute("crm", 1) == ()
    client.delete_subscribers([ada.id])
    client.delete_list(lists[0])
    fake.state.check_indexes()
    assert client.get_subscriber(bob.id).list_ids == {lists[1]}
    assert client.find_subscriber_by_email("zip@example.com").is_blocklisted


def test_the_fake_runs_in_a_process_of_its_own():
    import json
    import subprocess
    import sys

    server = subprocess.Popen(
        [sys.executable, "-m", "listmonk.testing", "--port", "0", "--token", "t0k3n"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(server.stdout.readline())
        assert info["token"] == "t0k3n" and info["username"] == "api"
        answer = httpx.get(
            info["base_url"] + "/api/health", headers={"Authorization": "token api:t0k3n"}
        )
        assert answer.json() == {"data": True}
    finally:
        server.terminate()
        assert server.wait(10) == 0


def test_the_cli_serves_a_fake_in_this_process_too():
    with FakeListmonk(record_requests=False) as fake:
        httpx.get(fake.base_url + "/health")
        assert fake.requests == []


@pytest.mark.parametrize("name", ["_base", "_imports", "_sql"])
def test_the_fakes_docstring_examples(name):
    """Outside the product, the fake's examples are not run with the client's doctests."""
    import doctest
    import importlib

    module = importlib.import_module(f"listmonk.testing.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
