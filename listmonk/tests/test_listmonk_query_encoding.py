"""The client encodes query strings itself (httpx reparses long URLs slowly): whatever
the value, the server must read back exactly what was sent."""

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from listmonk import ListmonkClient

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@pytest.fixture(scope="module")
def client():
    with ListmonkClient("http://127.0.0.1:9/base/", "api", "t") as api:
        yield api


@given(st.dictionaries(st.sampled_from(["query", "search", "list_id"]), texts, min_size=1), texts)
def test_every_value_reads_back_as_sent(client, params, extra):
    url = client._url("api/subscribers", params | {"tag": [extra, "b"]})
    assert url.raw_path.startswith(b"/base/api/subscribers?")
    sent = {k: v for k, v in params.items() if v is not None}
    assert parse_qs(urlsplit(str(url)).query, keep_blank_values=True) == {
        **{k: [v] for k, v in sent.items()},
        "tag": [extra, "b"],
    }
    request = client._http.build_request("GET", url)
    assert request.url.raw_path == url.raw_path, "httpx leaves it as it is"


def test_a_lookup_keeps_its_quotes_and_commas_readable(client):
    url = client._url("api/subscribers", {"query": "subscribers.email IN ('a+b@x.org','c@x.org')"})
    assert url.query == b"query=subscribers.email%20IN%20('a%2Bb@x.org','c@x.org')"
