"""Authentication, permissions and the "Test connection" check (contract section 1)."""

import socket

import pytest

from listmonk import CRM_PERMISSIONS, ListmonkAuthError, ListmonkClient
from listmonk.testing import FakeListmonk


def make_client(fake, username, token, **kw):
    return ListmonkClient(fake.base_url, username, token, timeout=5, retries=0, **kw)


def test_every_request_carries_the_token_header_and_no_cookie(fake, client):
    client.health()
    client.get_lists()
    for request in fake.requests:
        assert request.headers["Authorization"] == f"token {fake.username}:{fake.token}"
        assert "Cookie" not in request.headers


def test_a_session_cookie_set_by_a_proxy_is_never_sent_back(fake, client, monkeypatch):
    # Listmonk ignores Authorization when a session cookie comes along (then 403s).
    from listmonk.testing import fake as fake_module

    original = fake_module._Handler._send

    def send_with_cookie(self, status, payload, extra):
        return original(self, status, payload, extra | {"Set-Cookie": "session=abc; Path=/"})

    monkeypatch.setattr(fake_module._Handler, "_send", send_with_cookie)
    assert client.health() is True
    assert client.health() is True  # the second request would fail with the cookie
    assert all("Cookie" not in r.headers for r in fake.requests)


def test_wrong_token_is_an_auth_error_with_listmonks_message(fake):
    with make_client(fake, fake.username, "wrong") as bad:
        with pytest.raises(ListmonkAuthError) as caught:
            bad.get_lists()
    assert caught.value.status == 403
    assert caught.value.message == "invalid API credentials"
    assert caught.value.permission is None
    assert len(fake.requests) == 1, "a 403 is not retried"


def test_missing_permission_names_it(fake):
    fake.add_user("reader", "t0ken", {"lists:get_all"})
    with make_client(fake, "reader", "t0ken") as reader:
        assert reader.get_lists().total == 0
        with pytest.raises(ListmonkAuthError) as caught:
            reader.query_subscribers()
    assert caught.value.permission == "subscribers:get"


def test_sql_lookups_need_their_own_permission(fake):
    fake.add_user("crm", "t0ken", {"subscribers:get_all"})
    with make_client(fake, "crm", "t0ken") as crm:
        assert crm.query_subscribers().total == 0
        with pytest.raises(ListmonkAuthError) as caught:
            crm.find_subscriber_by_email("ada@example.com")
    assert caught.value.permission == "subscribers:sql_query"


@pytest.mark.parametrize("username, token", [("", "t"), ("a:b", "t"), ("api", "")])
def test_unusable_credentials_are_refused_before_any_request(username, token):
    with pytest.raises(ValueError):
        ListmonkClient("http://127.0.0.1:9", username, token)


def test_the_token_is_not_in_the_repr(fake, client):
    assert fake.token not in repr(client)


def test_check_connection_all_good(client):
    check = client.check_connection()
    assert check.ok, check.problems
    assert check.version == "v6.2.0"
    assert check.missing_permissions == ()
    assert check.unverified_permissions == ("lists:get_all",)


def test_check_connection_changes_nothing(fake, client):
    before = (dict(fake.state.lists), dict(fake.state.campaigns), dict(fake.state.templates))
    client.check_connection()
    assert (fake.state.lists, fake.state.campaigns, fake.state.templates) == before
    assert fake.outbox == [] and fake.state.subscribers == {}


def test_check_connection_lists_the_missing_permissions(fake):
    granted = {"subscribers:get_all", "lists:get_all", "lists:manage_all", "templates:get"}
    fake.add_user("crm", "t0ken", granted)
    with make_client(fake, "crm", "t0ken") as crm:
        check = crm.check_connection()
    assert not check.ok
    expected = {p for p in CRM_PERMISSIONS if p not in granted} - {"lists:get_all"}
    assert set(check.missing_permissions) == expected
    assert "tx:send" in check.problems[-1] and "subscribers:sql_query" in check.problems[-1]


def test_check_connection_reports_wrong_credentials(fake):
    with make_client(fake, fake.username, "nope") as bad:
        check = bad.check_connection()
    assert not check.ok
    assert check.problems == ("Listmonk refused the API user: invalid API credentials",)


def test_check_connection_reports_an_old_server():
    with FakeListmonk(version="v6.0.3") as old:
        with make_client(old, old.username, old.token) as api:
            check = api.check_connection()
    assert not check.ok
    assert "v6.1" in check.problems[0]


def test_check_connection_reports_an_unreachable_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with ListmonkClient(
        f"http://127.0.0.1:{port}", "api", "t", retries=1, sleep=lambda s: None
    ) as api:
        check = api.check_connection()
    assert not check.ok
    assert check.problems[0].startswith("Listmonk cannot be reached")


def test_check_connection_reports_a_url_that_is_not_listmonk(fake):
    with ListmonkClient(fake.base_url + "/admin", fake.username, fake.token) as api:
        check = api.check_connection()
    assert not check.ok
    assert "does not answer like Listmonk" in check.problems[0]
